//! The product's rules and vocabulary, free of I/O.
//!
//! Everything here compiles for `wasm32` too: the browser app uses the same wire types
//! ([`wire`]) as the server, so a request the UI builds is the request the API parses.
//! Time is always a parameter; nothing here reads a clock.

pub mod access;
pub mod ai;
pub mod audit;
pub mod bundle;
pub mod diff;
pub mod ids;
pub mod prompt;
pub mod redirect;
pub mod release;
pub mod search;
pub mod secret;
pub mod session;
pub mod sso;
pub mod template;
pub mod tenant;
pub mod user;
pub mod webhook;
pub mod wire;

pub use ids::{
    ApiTokenId, ApprovalId, AuditEventId, ConnectionId, DeliveryId, LabelMoveId, PromptId, RunId, SessionId,
    TenantId, UserId, WebhookId,
};
pub use secret::Secret;
