//! Schema migrations, one module per migration (`DeriveMigrationName` names each after its
//! module). The same migrations run on SQLite and PostgreSQL; never edit a released one, add a
//! new one.

pub use sea_orm_migration::prelude::*;

mod m20261128_000001_core_schema;
mod m20261128_000002_api_tokens;
mod m20261128_000003_prompt_indexes;
mod m20261128_000004_prompt_library;
mod m20261201_000005_ai_services;
mod m20261202_000006_session_chains;
mod m20261202_000007_tenant_quotas;
mod m20261202_000008_search_tokens;
mod m20261202_000009_prompt_keyset_indexes;
mod m20261202_000010_tenant_keys;
mod m20261202_000011_row_level_security;
mod m20261202_000012_single_sign_on;
mod m20261203_000013_prompt_bundles;
mod m20261203_000014_prompt_includes;
mod m20261203_000015_prompt_labels;
mod m20261203_000016_protected_labels_and_splits;
mod m20261203_000017_webhooks;
mod m20261203_000018_include_labels;
pub mod row_security;
pub mod search_index;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_core_schema::Migration),
            Box::new(m20261128_000002_api_tokens::Migration),
            Box::new(m20261128_000003_prompt_indexes::Migration),
            Box::new(m20261128_000004_prompt_library::Migration),
            Box::new(m20261201_000005_ai_services::Migration),
            Box::new(m20261202_000006_session_chains::Migration),
            Box::new(m20261202_000007_tenant_quotas::Migration),
            Box::new(m20261202_000008_search_tokens::Migration),
            Box::new(m20261202_000009_prompt_keyset_indexes::Migration),
            Box::new(m20261202_000010_tenant_keys::Migration),
            Box::new(m20261202_000011_row_level_security::Migration),
            Box::new(m20261202_000012_single_sign_on::Migration),
            Box::new(m20261203_000013_prompt_bundles::Migration),
            Box::new(m20261203_000014_prompt_includes::Migration),
            Box::new(m20261203_000015_prompt_labels::Migration),
            Box::new(m20261203_000016_protected_labels_and_splits::Migration),
            Box::new(m20261203_000017_webhooks::Migration),
            Box::new(m20261203_000018_include_labels::Migration),
        ]
    }
}
