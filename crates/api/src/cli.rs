//! Operator commands on the `prompt-manager` binary: tenants and users without the web app.
//! They run the same administration operations as the API (`crate::admin`), audited as the
//! system. Passwords are read from `PROMPT_MANAGER_PASSWORD` or the first line of standard
//! input, never from arguments (which other users of the machine can see).

use std::io::BufRead;

use chrono::Utc;
use clap::Subcommand;
use domain::audit::Actor;
use domain::tenant::Subdomain;
use domain::user::{Email, Role, User};
use domain::wire::{CreateTenantRequest, CreateUserRequest, UpdateUserRequest};
use persistence::{Database, SystemAccess, UserFilter};

use crate::admin::{self, Acting, TenantTarget};
use crate::error::ApiError;
use crate::state::Passwords;

const PASSWORD_VARIABLE: &str = "PROMPT_MANAGER_PASSWORD";

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        subdomain: String,
        #[arg(long)]
        max_users: Option<u32>,
    },
    /// List tenants (tab-separated: subdomain, name, active, max users, id).
    List {
        /// Only tenants whose name or subdomain contains this.
        #[arg(long)]
        query: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password comes from PROMPT_MANAGER_PASSWORD or standard input.
    Create {
        /// The tenant's subdomain.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long, default_value = "")]
        first_name: String,
        #[arg(long, default_value = "")]
        last_name: String,
        /// Create without a password (signs in by SSO only).
        #[arg(long)]
        sso_only: bool,
    },
    /// List a tenant's users (tab-separated: email, role, active, name, id).
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Set a new password (from PROMPT_MANAGER_PASSWORD or standard input); ends their sessions.
    ResetPassword {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
    },
    /// Change a user's role; ends their sessions.
    SetRole {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
}

fn parse_role(raw: &str) -> Result<Role, String> {
    raw.parse().map_err(|e: domain::user::UnknownRole| e.to_string())
}

/// Why a command failed, and the exit code that says so.
#[derive(Debug)]
pub enum CliError {
    /// The request was refused (validation, conflict, not found, limits): exit code 2.
    Refused(String),
    /// Something failed to run (database unreachable…): exit code 1.
    Failed(String),
}

impl From<ApiError> for CliError {
    fn from(err: ApiError) -> Self {
        let message = err.describe();
        if err.is_client_error() { CliError::Refused(message) } else { CliError::Failed(message) }
    }
}

impl From<persistence::StoreError> for CliError {
    fn from(err: persistence::StoreError) -> Self {
        CliError::Failed(err.to_string())
    }
}

fn system() -> Acting {
    Acting { actor: Actor::System, client_addr: None, at: Utc::now() }
}

/// The command line is the operator's own tool: it may act in any tenant.
#[allow(clippy::disallowed_methods)]
fn operator() -> SystemAccess {
    SystemAccess::operator()
}

pub async fn tenant(db: &Database, command: TenantCommand) -> Result<(), CliError> {
    match command {
        TenantCommand::Create { name, subdomain, max_users } => {
            let tenant = admin::create_tenant(
                db,
                operator(),
                CreateTenantRequest { name, subdomain, max_users },
                &system(),
            )
            .await?;
            println!("created tenant {} ({})", tenant.subdomain.as_str(), tenant.id);
        }
        TenantCommand::List { query } => {
            let mut after = None;
            loop {
                let page = db.system(operator()).list_tenants(query.as_deref(), after, 500).await?;
                for t in &page.items {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        t.subdomain.as_str(),
                        t.name.as_str(),
                        t.is_active,
                        t.max_users,
                        t.id
                    );
                }
                match page.next_cursor {
                    Some(cursor) => after = Some(domain::TenantId::from_uuid(cursor)),
                    None => break,
                }
            }
        }
    }
    Ok(())
}

pub async fn user(db: &Database, passwords: &Passwords, command: UserCommand) -> Result<(), CliError> {
    match command {
        UserCommand::Create { tenant, email, role, first_name, last_name, sso_only } => {
            let tenant = find_tenant(db, &tenant).await?;
            let password = if sso_only { None } else { Some(read_password()?) };
            let request = CreateUserRequest { email, first_name, last_name, role, password, tenant_id: None };
            let user = admin::create_user(db, passwords, &tenant, request, &system()).await?;
            println!("created {} user {} ({})", user.role, user.email.as_str(), user.id);
        }
        UserCommand::List { tenant } => {
            let tenant = find_tenant(db, &tenant).await?;
            let mut after = None;
            loop {
                let page =
                    db.tenant(tenant.scope).list_users_page(&UserFilter::default(), after, 500).await?;
                for u in &page.items {
                    let name = format!("{} {}", u.first_name, u.last_name);
                    println!("{}\t{}\t{}\t{}\t{}", u.email.as_str(), u.role, u.is_active, name.trim(), u.id);
                }
                match page.next_cursor {
                    Some(cursor) => after = Some(domain::UserId::from_uuid(cursor)),
                    None => break,
                }
            }
        }
        UserCommand::ResetPassword { tenant, email } => {
            let (tenant, user) = find_user(db, &tenant, &email).await?;
            admin::reset_password(db, passwords, &tenant, &user, read_password()?, &system()).await?;
            println!("password of {} reset; their sessions ended", user.email.as_str());
        }
        UserCommand::SetRole { tenant, email, role } => {
            let (tenant, user) = find_user(db, &tenant, &email).await?;
            let request = UpdateUserRequest { role: Some(role), ..UpdateUserRequest::default() };
            let updated = admin::update_user(db, &tenant, &user, request, &system()).await?;
            println!("{} is now {}", updated.email.as_str(), updated.role);
        }
    }
    Ok(())
}

async fn find_tenant(db: &Database, subdomain: &str) -> Result<TenantTarget, CliError> {
    let parsed =
        Subdomain::parse(subdomain).map_err(|e| CliError::Refused(format!("--tenant {subdomain:?}: {e}")))?;
    let system = db.system(operator());
    let tenant = system
        .tenant_by_subdomain(&parsed)
        .await?
        .ok_or_else(|| CliError::Refused(format!("no tenant {subdomain:?}")))?;
    Ok(TenantTarget { scope: system.scope(&tenant), tenant })
}

async fn find_user(db: &Database, subdomain: &str, email: &str) -> Result<(TenantTarget, User), CliError> {
    let tenant = find_tenant(db, subdomain).await?;
    let parsed = Email::parse(email).map_err(|e| CliError::Refused(format!("--email {email:?}: {e}")))?;
    let user = db
        .tenant(tenant.scope)
        .user_by_email(&parsed)
        .await?
        .ok_or_else(|| CliError::Refused(format!("no user {email:?} in tenant {subdomain:?}")))?;
    Ok((tenant, user))
}

fn read_password() -> Result<String, CliError> {
    if let Ok(password) = std::env::var(PASSWORD_VARIABLE) {
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Failed(format!("cannot read the password from standard input: {e}")))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err(CliError::Refused(format!(
            "no password: set {PASSWORD_VARIABLE} or pipe it on standard input"
        )));
    }
    Ok(password)
}
