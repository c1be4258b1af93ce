//! People inside a tenant.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{TenantId, UserId};

/// An email address, normalised: trimmed and lowercased, so uniqueness per tenant is
/// case-insensitive by construction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most 254 characters")]
    TooLong,
    #[error("is not an email address")]
    Malformed,
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let normalised = raw.trim().to_lowercase();
        if normalised.is_empty() {
            return Err(EmailError::Empty);
        }
        if normalised.len() > 254 {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = normalised.split_once('@').ok_or(EmailError::Malformed)?;
        let well_formed = !local.is_empty()
            && !domain.is_empty()
            && !domain.contains('@')
            && !normalised.chars().any(char::is_whitespace);
        if !well_formed {
            return Err(EmailError::Malformed);
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Longest first or last name.
pub const MAX_NAME_LEN: usize = 100;
/// Password length bounds (characters).
pub const MIN_PASSWORD_LEN: usize = 8;
pub const MAX_PASSWORD_LEN: usize = 1024;

/// A first or last name: trimmed, at most [`MAX_NAME_LEN`] characters (may be empty).
pub fn normalize_name(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.chars().count() > MAX_NAME_LEN {
        return Err(format!("must be at most {MAX_NAME_LEN} characters"));
    }
    Ok(trimmed.to_owned())
}

/// Whether a new password is acceptable for the account `email`; the reason when not.
pub fn check_new_password(password: &str, email: &Email) -> Result<(), String> {
    let length = password.chars().count();
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&length) {
        return Err(format!("must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters"));
    }
    if password.trim().eq_ignore_ascii_case(email.as_str()) {
        return Err("must not be the email address".to_owned());
    }
    Ok(())
}

/// What a user may do inside their tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages the tenant's users and settings, and writes prompts.
    Admin,
    /// Reads and writes the tenant's prompts and their own settings.
    User,
    /// Reads only.
    Readonly,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
            Role::Readonly => "readonly",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?} (expected admin, user or readonly)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "user" => Ok(Role::User),
            "readonly" => Ok(Role::Readonly),
            other => Err(UnknownRole(other.to_owned())),
        }
    }
}

/// A stored user. The password hash is deliberately absent: it never leaves `persistence`
/// except through the credential lookup that needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub tenant_id: TenantId,
    pub email: Email,
    pub first_name: String,
    pub last_name: String,
    pub role: Role,
    pub is_active: bool,
    pub has_password: bool,
    pub sso_subject: Option<String>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What it takes to create a user. `password_hash` is a PHC string, or `None` for SSO-only users.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub first_name: String,
    pub last_name: String,
    pub role: Role,
    pub password_hash: Option<crate::Secret<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(Email::parse("  Admin@LocalHost ").unwrap().as_str(), "admin@localhost");
    }

    #[test]
    fn malformed_emails_are_rejected() {
        assert_eq!(Email::parse(""), Err(EmailError::Empty));
        for bad in ["plain", "@host", "user@", "a@b@c", "a b@c"] {
            assert_eq!(Email::parse(bad), Err(EmailError::Malformed), "{bad}");
        }
        let long = format!("{}@x.io", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn password_policy() {
        let email = Email::parse("a@b.test").unwrap();
        assert!(check_new_password("long enough", &email).is_ok());
        assert!(check_new_password("short", &email).is_err());
        assert!(check_new_password("A@B.test", &email).is_err());
        assert!(check_new_password(&"x".repeat(1025), &email).is_err());
        assert_eq!(normalize_name("  Ada "), Ok("Ada".to_owned()));
        assert!(normalize_name(&"x".repeat(101)).is_err());
    }

    #[test]
    fn roles_round_trip() {
        for role in [Role::Admin, Role::User, Role::Readonly] {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
            assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{role}\""));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
