//! Storage: sea-orm entities, migrations at start-up, and repositories that return domain types.
//!
//! Tenant-owned data is reachable only through [`TenantRepo`], which you get from
//! [`Database::tenant`] with a [`TenantScope`]; every query it runs is filtered by that scope's
//! tenant. Cross-tenant reads and writes live in [`SystemRepo`], whose name says it is for
//! system administration paths only. Entities never leave this crate.

mod analytics;
mod convert;
mod database;
mod entities;
mod error;
mod query;
mod scope;
mod system;
mod tenant;

pub use database::{Backend, DEFAULT_STATEMENT_TIMEOUT, Database, DatabaseSettings, Transaction};

/// Where a request came from, as recorded with sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    pub addr: Option<String>,
    pub user_agent: Option<String>,
}
pub use error::StoreError;
pub use query::{AuditFilter, Page, UserFilter};
pub use scope::TenantScope;
pub use system::SystemRepo;
pub use tenant::{
    DEFAULT_RUN_RETENTION_DAYS, DayTotal, ModelTotal, PromptChange, PromptFilter, RunTotals, RunViewer,
    TenantRepo, search_terms,
};

#[cfg(feature = "test-support")]
pub mod testing;
