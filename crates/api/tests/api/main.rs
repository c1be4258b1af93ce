//! The server over real HTTP: each test starts its own server on a free port, against a fresh
//! SQLite file or a fresh PostgreSQL database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod access_rules;
mod admin;
mod ai;
mod approvals;
mod auth;
mod bad_input;
mod binary;
mod bundles;
mod foundation;
mod hardening;
mod isolation;
mod labels;
mod llama;
mod mcp;
mod prompts;
mod provider;
mod rate_limit;
mod receiver;
mod sso;
mod sso_peer_checks;
mod sso_peers;
mod webhooks;
