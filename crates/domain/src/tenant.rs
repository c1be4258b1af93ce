//! Organisations.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::TenantId;

/// The subdomain of the system tenant whose admins administer every tenant.
pub const SYSTEM_TENANT_SUBDOMAIN: &str = "localhost";

/// How many users a tenant may have when nobody says otherwise.
pub const DEFAULT_MAX_USERS: u32 = 100;

/// A tenant's subdomain: 1–63 lowercase ASCII letters, digits and inner hyphens (a DNS label).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Subdomain(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubdomainError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most 63 characters")]
    TooLong,
    #[error("may contain only lowercase letters, digits and hyphens")]
    InvalidCharacter,
    #[error("must not start or end with a hyphen")]
    EdgeHyphen,
}

impl Subdomain {
    pub fn parse(raw: &str) -> Result<Self, SubdomainError> {
        if raw.is_empty() {
            return Err(SubdomainError::Empty);
        }
        if raw.len() > 63 {
            return Err(SubdomainError::TooLong);
        }
        if !raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(SubdomainError::InvalidCharacter);
        }
        if raw.starts_with('-') || raw.ends_with('-') {
            return Err(SubdomainError::EdgeHyphen);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_system(&self) -> bool {
        self.0 == SYSTEM_TENANT_SUBDOMAIN
    }
}

impl<'de> Deserialize<'de> for Subdomain {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A tenant's display name: trimmed, 1–200 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TenantName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantNameError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most 200 characters")]
    TooLong,
}

impl TenantName {
    pub fn parse(raw: &str) -> Result<Self, TenantNameError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(TenantNameError::Empty);
        }
        if trimmed.chars().count() > 200 {
            return Err(TenantNameError::TooLong);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub name: TenantName,
    pub subdomain: Subdomain,
    pub max_users: u32,
    pub quota: TenantQuota,
    pub usage: TenantUsage,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How much a tenant's prompt library may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantQuota {
    pub max_prompts: u64,
    /// Bytes of every version's title and content (the whole history counts).
    pub max_stored_bytes: u64,
}

/// 100,000 prompts and 1 GiB of prompt history unless an operator says otherwise.
pub const DEFAULT_QUOTA: TenantQuota = TenantQuota { max_prompts: 100_000, max_stored_bytes: 1 << 30 };
/// The largest quota an operator may set.
pub const MAX_QUOTA: TenantQuota = TenantQuota { max_prompts: 100_000_000, max_stored_bytes: 1 << 40 };

/// How much a tenant's prompt library holds now, counted as [`TenantQuota`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TenantUsage {
    pub prompts: u64,
    pub stored_bytes: u64,
}

/// What it takes to create a tenant.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub name: TenantName,
    pub subdomain: Subdomain,
    pub max_users: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_labels() {
        for ok in ["localhost", "acme", "acme-2", "a", &"x".repeat(63)] {
            assert_eq!(Subdomain::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_everything_else() {
        assert_eq!(Subdomain::parse(""), Err(SubdomainError::Empty));
        assert_eq!(Subdomain::parse(&"x".repeat(64)), Err(SubdomainError::TooLong));
        assert_eq!(Subdomain::parse("Acme"), Err(SubdomainError::InvalidCharacter));
        assert_eq!(Subdomain::parse("ac me"), Err(SubdomainError::InvalidCharacter));
        assert_eq!(Subdomain::parse("acme."), Err(SubdomainError::InvalidCharacter));
        assert_eq!(Subdomain::parse("-acme"), Err(SubdomainError::EdgeHyphen));
        assert_eq!(Subdomain::parse("acme-"), Err(SubdomainError::EdgeHyphen));
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<Subdomain>("\"UPPER\"").is_err());
        assert!(serde_json::from_str::<Subdomain>("\"lower\"").is_ok());
    }

    #[test]
    fn tenant_names_are_trimmed_and_bounded() {
        assert_eq!(TenantName::parse("  Acme  ").unwrap().as_str(), "Acme");
        assert_eq!(TenantName::parse("   "), Err(TenantNameError::Empty));
        assert_eq!(TenantName::parse(&"é".repeat(201)), Err(TenantNameError::TooLong));
    }
}
