//! Who may touch which rows: the proofs a repository demands before it runs a query.
//!
//! Nothing outside this crate can make a [`TenantScope`]. One comes with every credential this
//! crate resolves ([`Authenticated`]), with a sign-in account once its password was checked
//! ([`crate::SignInAccount`]), or from [`crate::SystemRepo::scope`] for holders of
//! [`SystemAccess`]. On PostgreSQL the scope is also what the database enforces: every
//! repository runs in a transaction that first names its tenant, and row-level security shows
//! that transaction no other tenant's rows.

use domain::TenantId;
use domain::tenant::Tenant;
use domain::user::{Role, User};
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{DeleteMany, EntityTrait, QueryFilter, Select, UpdateMany};

use crate::entities::{
    ai_connections, ai_policies, api_tokens, audit_events, config, label_approvals, label_fetch_counts,
    prompt_includes, prompt_label_moves, prompt_labels, prompt_runs, prompt_versions, prompts,
    release_policies, sessions, sso_assertions, sso_configs, sso_flows, tenants, users, webhook_attempts,
    webhook_deliveries, webhook_endpoints,
};

/// Proof that the caller acts inside one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantScope {
    tenant_id: TenantId,
}

impl TenantScope {
    pub(crate) fn new(tenant_id: TenantId) -> Self {
        Self { tenant_id }
    }

    pub fn tenant_id(&self) -> TenantId {
        self.tenant_id
    }

    /// The tenant's rows of a table: the one way tenant queries start.
    pub(crate) fn select<E: TenantOwned>(&self) -> Select<E> {
        E::find().filter(self.owns::<E>())
    }

    /// An update of the tenant's rows of a table.
    pub(crate) fn update<E: TenantOwned>(&self) -> UpdateMany<E> {
        E::update_many().filter(self.owns::<E>())
    }

    /// A delete of the tenant's rows of a table.
    pub(crate) fn delete<E: TenantOwned>(&self) -> DeleteMany<E> {
        E::delete_many().filter(self.owns::<E>())
    }

    fn owns<E: TenantOwned>(&self) -> SimpleExpr {
        Expr::col(E::tenant_column()).eq(self.tenant_id.as_uuid())
    }
}

/// A table whose rows each belong to one tenant.
pub(crate) trait TenantOwned: EntityTrait {
    fn tenant_column() -> Self::Column;
}

macro_rules! tenant_owned {
    ($($table:ident),+) => {$(
        impl TenantOwned for $table::Entity {
            fn tenant_column() -> Self::Column {
                $table::Column::TenantId
            }
        }
    )+};
}

tenant_owned!(
    users,
    prompts,
    prompt_versions,
    prompt_includes,
    prompt_labels,
    prompt_label_moves,
    release_policies,
    label_approvals,
    label_fetch_counts,
    prompt_runs,
    sessions,
    api_tokens,
    ai_connections,
    ai_policies,
    config,
    audit_events,
    sso_configs,
    sso_flows,
    sso_assertions,
    webhook_endpoints,
    webhook_deliveries,
    webhook_attempts
);

/// A tenant owns its own row.
impl TenantOwned for tenants::Entity {
    fn tenant_column() -> Self::Column {
        tenants::Column::Id
    }
}

/// Permission to work across tenants (list them, create and delete them, act inside any one).
///
/// A system administrator's [`Authenticated`] carries one. Everything else that needs one — the
/// CLI, start-up seeding, background sweeps — is the operator's own process and says so with
/// [`SystemAccess::operator`], which the workspace's clippy configuration forbids everywhere
/// but at the call sites that are allowed it by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemAccess(());

impl SystemAccess {
    /// For the operator's own processes, never for code that serves a request.
    pub fn operator() -> Self {
        Self(())
    }
}

/// A resolved credential: its user, their tenant, and what they may touch.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: User,
    pub tenant: Tenant,
    pub scope: TenantScope,
    /// Present for administrators of the system tenant.
    pub system_access: Option<SystemAccess>,
}

impl Authenticated {
    pub(crate) fn new(user: User, tenant: Tenant) -> Self {
        let system_access =
            (tenant.subdomain.is_system() && user.role == Role::Admin).then_some(SystemAccess(()));
        Self { scope: TenantScope::new(tenant.id), user, tenant, system_access }
    }
}
