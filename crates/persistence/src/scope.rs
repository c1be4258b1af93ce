use domain::TenantId;
use domain::tenant::Tenant;

/// Proof that the caller acts inside one tenant. Built from a loaded [`Tenant`] (so the tenant
/// exists), typically by the API's authentication extractor from a verified session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantScope {
    tenant_id: TenantId,
}

impl TenantScope {
    pub fn of(tenant: &Tenant) -> Self {
        Self { tenant_id: tenant.id }
    }

    pub fn tenant_id(&self) -> TenantId {
        self.tenant_id
    }
}
