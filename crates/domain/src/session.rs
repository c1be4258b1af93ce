//! Sessions (what a sign-in creates) and API tokens (what integrations use).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
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
    /// When the chain of refreshes this session belongs to began: the sign-in. A refresh
    /// carries it over to the new session.
    pub chain_started_at: DateTime<Utc>,
    /// Set when the user signed in through the tenant's identity provider; refreshes keep it.
    pub sso_protocol: Option<crate::sso::SsoProtocol>,
}

/// What the sessions of one chain of refreshes share: when and how its sign-in happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionChain {
    pub started_at: DateTime<Utc>,
    pub sso_protocol: Option<crate::sso::SsoProtocol>,
}

impl Session {
    /// The chain this session belongs to, for the session that replaces it.
    pub fn chain(&self) -> SessionChain {
        SessionChain { started_at: self.chain_started_at, sso_protocol: self.sso_protocol }
    }

    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }

    /// When a session replacing this one at `now` expires, or `None` when the chain has
    /// reached its absolute lifetime: it is past the deadline, or this session already ends
    /// there (within a second), so a refresh would gain nothing and the user signs in again.
    pub fn refreshed_expiry(&self, now: DateTime<Utc>, lifetimes: SessionLifetimes) -> Option<DateTime<Utc>> {
        let deadline = self.chain_started_at + lifetimes.absolute;
        if now >= deadline || deadline - self.expires_at < TimeDelta::seconds(1) {
            return None;
        }
        Some(lifetimes.expiry(self.chain_started_at, now))
    }
}

/// How long sessions last: each one `lifetime` from its creation, and a chain of refreshed
/// sessions no longer than `absolute` from the sign-in that began it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLifetimes {
    pub lifetime: TimeDelta,
    pub absolute: TimeDelta,
}

impl SessionLifetimes {
    /// When a session opened at `now`, in a chain that began at `chain_started_at`, expires:
    /// `lifetime` later, but never past the chain's absolute deadline.
    pub fn expiry(self, chain_started_at: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
        (now + self.lifetime).min(chain_started_at + self.absolute)
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
    /// Reads and writes, and — for an admin's token — moves protected release labels and
    /// approves such moves. No other token may; only admins mint these.
    Promote,
}

impl TokenScope {
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::ReadWrite => "read_write",
            TokenScope::Promote => "promote",
        }
    }
}

impl fmt::Display for TokenScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown token scope {0:?} (expected read, read_write or promote)")]
pub struct UnknownScope(pub String);

impl FromStr for TokenScope {
    type Err = UnknownScope;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(TokenScope::Read),
            "read_write" => Ok(TokenScope::ReadWrite),
            "promote" => Ok(TokenScope::Promote),
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
            chain_started_at: now,
            sso_protocol: None,
        };
        assert!(session.is_live(now));
        assert!(!session.is_live(now + Duration::hours(1)));
        assert!(!Session { revoked_at: Some(now), ..session }.is_live(now));
    }

    #[test]
    fn refreshing_stops_at_the_chains_absolute_lifetime() {
        let start = Utc::now();
        let lifetimes = SessionLifetimes { lifetime: Duration::hours(24), absolute: Duration::days(7) };
        let first = Session {
            id: SessionId::from_uuid(uuid::Uuid::nil()),
            tenant_id: TenantId::from_uuid(uuid::Uuid::nil()),
            user_id: UserId::from_uuid(uuid::Uuid::nil()),
            created_at: start,
            expires_at: lifetimes.expiry(start, start),
            revoked_at: None,
            chain_started_at: start,
            sso_protocol: None,
        };
        assert_eq!(first.expires_at, start + Duration::hours(24));
        // Early in the chain a refresh gives a full lifetime from now.
        let day_two = start + Duration::hours(23);
        assert_eq!(first.refreshed_expiry(day_two, lifetimes), Some(day_two + Duration::hours(24)));
        // Late in the chain it is cut at the deadline, whatever the lifetime.
        let late = Session { expires_at: start + Duration::days(7) - Duration::hours(2), ..first.clone() };
        let near_end = start + Duration::days(7) - Duration::hours(3);
        assert_eq!(late.refreshed_expiry(near_end, lifetimes), Some(start + Duration::days(7)));
        // A session that already ends at the deadline cannot be refreshed, nor can any past it.
        let last = Session { expires_at: start + Duration::days(7), ..first.clone() };
        assert_eq!(last.refreshed_expiry(near_end, lifetimes), None);
        assert_eq!(first.refreshed_expiry(start + Duration::days(7), lifetimes), None);
        // A refresh right after sign-in still works (it gains only milliseconds, but is not capped).
        assert!(first.refreshed_expiry(start + Duration::milliseconds(5), lifetimes).is_some());
        // An absolute lifetime shorter than a session's: even the first session ends at it.
        let short = SessionLifetimes { lifetime: Duration::hours(24), absolute: Duration::hours(1) };
        assert_eq!(short.expiry(start, start), start + Duration::hours(1));
    }
}
