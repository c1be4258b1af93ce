//! Local development seeding: a fresh database gets the `localhost` tenant and its admin, as
//! the original product promised, so `cargo xtask run` is usable at once.

use actix_web::web;
use chrono::Utc;
use domain::audit::{Actor, AuditAction, NewAuditEvent};
use domain::tenant::{DEFAULT_MAX_USERS, NewTenant, SYSTEM_TENANT_SUBDOMAIN, Subdomain, TenantName};
use domain::user::{Email, NewUser, Role};
use persistence::{Database, SystemAccess};

use crate::startup::StartupError;

pub const DEV_ADMIN_EMAIL: &str = "admin@localhost";
pub const DEV_ADMIN_PASSWORD: &str = "admin123";

/// Seeds only a database without any tenant; returns whether it did.
pub async fn seed_local_dev(db: &Database) -> Result<bool, StartupError> {
    let access = operator();
    if db.system(access).count_tenants().await? > 0 {
        return Ok(false);
    }
    let invalid = |what: &str| StartupError::Seed(format!("built-in {what} is invalid"));
    let subdomain = Subdomain::parse(SYSTEM_TENANT_SUBDOMAIN).map_err(|_| invalid("subdomain"))?;
    let name = TenantName::parse("Local Development").map_err(|_| invalid("tenant name"))?;
    let email = Email::parse(DEV_ADMIN_EMAIL).map_err(|_| invalid("email"))?;

    // PBKDF2 takes a noticeable fraction of a second: keep it off the async executor.
    let password_hash = web::block(|| auth::password::PasswordHasher::default().hash(DEV_ADMIN_PASSWORD))
        .await
        .map_err(|e| StartupError::Seed(e.to_string()))?
        .map_err(|e| StartupError::Seed(e.to_string()))?;

    let now = Utc::now();
    let tx = db.begin().await?;
    let system = tx.system(access).await?;
    let tenant =
        system.create_tenant(NewTenant { name, subdomain, max_users: DEFAULT_MAX_USERS }, now).await?;
    let scoped = tx.tenant(system.scope(&tenant)).await?;
    let admin = scoped
        .create_user(
            NewUser {
                email,
                first_name: "Local".to_owned(),
                last_name: "Admin".to_owned(),
                role: Role::Admin,
                password_hash: Some(password_hash),
            },
            now,
        )
        .await?;
    for (action, target_type, target_id) in [
        (AuditAction::TenantCreated, "tenant", tenant.id.to_string()),
        (AuditAction::UserCreated, "user", admin.id.to_string()),
    ] {
        scoped
            .record_audit(NewAuditEvent {
                actor: Actor::System,
                action,
                target_type,
                target_id: Some(target_id),
                details: serde_json::json!({ "reason": "local development seed" }),
                client_addr: None,
                at: now,
            })
            .await?;
    }
    tx.commit().await?;
    tracing::info!(
        tenant = SYSTEM_TENANT_SUBDOMAIN,
        email = DEV_ADMIN_EMAIL,
        "seeded the local development tenant and admin; sign in with the default password from the README"
    );
    Ok(true)
}

/// Seeding is the operator's own start-up step.
#[allow(clippy::disallowed_methods)]
fn operator() -> SystemAccess {
    SystemAccess::operator()
}
