//! The names that PostgreSQL's row-level security (`m20261202_000011_row_level_security`) and
//! the application's connection pool must agree on.
//!
//! The pool runs `SET ROLE` to [`APP_ROLE`] on every connection; each transaction then says
//! whose rows it may touch, transaction-locally so that a pooled connection never carries a
//! scope into its next use:
//!
//! - tenant work: `SELECT set_config('app.tenant_id', '<tenant uuid>', true)` ([`TENANT_SETTING`]);
//! - cross-tenant system work: `SELECT set_config('app.system', 'on', true)` ([`SYSTEM_SETTING`]).
//!
//! A connection with neither sees and writes no tenant rows at all. Migrations run as the
//! tables' owner, which row-level security exempts. SQLite has no row-level security.

/// The role the application's connections act as: it may read and write every table except the
/// migration record, and only the rows the current transaction's setting allows. A cluster-wide
/// `NOLOGIN` role, shared by every database of the server that uses this schema.
pub const APP_ROLE: &str = "prompt_manager_app";

/// The setting that scopes a transaction to one tenant: its id as a hyphenated UUID.
pub const TENANT_SETTING: &str = "app.tenant_id";

/// The setting that opens every tenant's rows to a transaction when it reads `on`: only for the
/// explicitly named system-administration paths.
pub const SYSTEM_SETTING: &str = "app.system";

/// The policy on every tenant table (and `tenants`) that admits the scoped tenant's rows.
pub const TENANT_POLICY: &str = "tenant_isolation";

/// The policy on every tenant table (and `tenants`) that admits all rows to system work.
pub const SYSTEM_POLICY: &str = "system_access";

/// The statements that put a tenant table under row-level security: its two policies, keyed on
/// `column` (`tenant_id`, or `id` for `tenants`). Every migration that adds a tenant table runs
/// them on PostgreSQL.
pub fn protect_table(table: &str, column: &str) -> [String; 3] {
    let table = format!("\"{}\"", table.replace('"', "\"\""));
    [
        format!("ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"),
        // NULLIF: once a transaction-local setting ends, the connection reads it as ''.
        format!(
            "CREATE POLICY \"{TENANT_POLICY}\" ON {table} \
             USING (\"{column}\" = NULLIF(current_setting('{TENANT_SETTING}', true), '')::uuid)"
        ),
        format!(
            "CREATE POLICY \"{SYSTEM_POLICY}\" ON {table} \
             USING (current_setting('{SYSTEM_SETTING}', true) = 'on')"
        ),
    ]
}
