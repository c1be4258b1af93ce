//! Storage: sea-orm entities, migrations at start-up, and repositories that return domain types.
//!
//! Tenant-owned data is reachable only through [`TenantRepo`], which you get from
//! [`Database::tenant`] with a [`TenantScope`]; every query it runs starts from that scope's
//! builders, and on PostgreSQL row-level security enforces the same tenant. Only this crate
//! makes scopes (see [`scope`](TenantScope)): from a resolved credential, a verified sign-in,
//! or [`SystemAccess`]. Cross-tenant work lives in [`SystemRepo`], which demands
//! [`SystemAccess`]; the steps before authentication in [`AuthenticationRepo`]. Entities never
//! leave this crate.

mod analytics;
mod authentication;
mod convert;
mod database;
mod entities;
mod error;
mod query;
mod scope;
mod scoped_pool;
mod sso;
mod system;
mod tenant;

pub use database::{
    Backend, DEFAULT_STATEMENT_TIMEOUT, Database, DatabaseSettings, Transaction, TransactionRepo,
};

/// Where a request came from, as recorded with sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    pub addr: Option<String>,
    pub user_agent: Option<String>,
}
pub use authentication::{AuthenticationRepo, FlowLookup, PendingSso, SignInAccount};
pub use error::StoreError;
pub use query::{AuditFilter, Page, UserFilter};
pub use scope::{Authenticated, SystemAccess, TenantScope};
pub use scoped_pool::ScopedPool;
pub use sso::FlowRefused;
pub use system::SystemRepo;
pub use tenant::{
    ApprovalFilter, ClaimedDelivery, DEFAULT_RUN_RETENTION_DAYS, DayTotal, FolderFilter,
    MAX_DECIDED_APPROVALS_KEPT, MAX_LABEL_MOVES_KEPT, ModelTotal, NewWebhook, PromptChange, PromptFilter,
    RunTotals, RunViewer, TenantRepo, WebhookChange, search_terms,
};

#[cfg(feature = "test-support")]
pub mod testing;
