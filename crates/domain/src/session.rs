//! Sessions (what a sign-in creates) and API tokens (what integrations use).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ApiTokenId, SessionId, TenantId, UserId};

/// A server-side session record; its id is the `jti` of the session token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Session {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// What an API token may do, on top of (never beyond) its user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// Only reads.
    Read,
    /// Reads and writes, as far as the user's role allows.
    ReadWrite,
}

impl TokenScope {
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::ReadWrite => "read_write",
        }
    }
}

impl fmt::Display for TokenScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown token scope {0:?} (expected read or read_write)")]
pub struct UnknownScope(pub String);

impl FromStr for TokenScope {
    type Err = UnknownScope;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(TokenScope::Read),
            "read_write" => Ok(TokenScope::ReadWrite),
            other => Err(UnknownScope(other.to_owned())),
        }
    }
}

/// A stored API token (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub name: String,
    /// The first characters of the token, shown in lists so people can tell tokens apart.
    pub prefix: String,
    pub scope: TokenScope,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiToken {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expiry| now < expiry)
    }
}

/// What it takes to store a new API token; `token_hash` is the SHA-256 of the secret.
#[derive(Debug, Clone)]
pub struct NewApiToken {
    pub user_id: UserId,
    pub name: String,
    pub prefix: String,
    pub token_hash: String,
    pub scope: TokenScope,
    pub expires_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn scopes_round_trip() {
        for scope in [TokenScope::Read, TokenScope::ReadWrite] {
            assert_eq!(scope.as_str().parse::<TokenScope>().unwrap(), scope);
        }
        assert!("admin".parse::<TokenScope>().is_err());
    }

    #[test]
    fn liveness_respects_expiry_and_revocation() {
        let now = Utc::now();
        let session = Session {
            id: SessionId::from_uuid(uuid::Uuid::nil()),
            tenant_id: TenantId::from_uuid(uuid::Uuid::nil()),
            user_id: UserId::from_uuid(uuid::Uuid::nil()),
            created_at: now,
            expires_at: now + Duration::hours(1),
            revoked_at: None,
        };
        assert!(session.is_live(now));
        assert!(!session.is_live(now + Duration::hours(1)));
        assert!(!Session { revoked_at: Some(now), ..session }.is_live(now));
    }
}
