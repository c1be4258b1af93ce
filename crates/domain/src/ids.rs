//! Typed identifiers. A `TenantId` can never be passed where a `UserId` is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new time-ordered (v7) identifier; `now` is the creation time.
            pub fn generate(now: chrono::DateTime<chrono::Utc>) -> Self {
                let secs = u64::try_from(now.timestamp()).unwrap_or(0);
                let ts = uuid::Timestamp::from_unix(uuid::NoContext, secs, now.timestamp_subsec_nanos());
                Self(Uuid::new_v7(ts))
            }

            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

typed_id!(
    /// An organisation.
    TenantId
);
typed_id!(
    /// A person (or SSO identity) inside one tenant.
    UserId
);
typed_id!(
    /// A server-side session record; also the `jti` of the session token.
    SessionId
);
typed_id!(
    /// One row of the audit log.
    AuditEventId
);

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn ids_are_time_ordered() {
        let earlier = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let later = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 1).unwrap();
        let a = TenantId::generate(earlier);
        let b = TenantId::generate(later);
        assert!(a < b);
        assert_eq!(a.as_uuid().get_version_num(), 7);
    }

    #[test]
    fn malformed_id_is_rejected() {
        assert!("not-a-uuid".parse::<UserId>().is_err());
        let id = UserId::generate(Utc::now());
        assert_eq!(id.to_string().parse::<UserId>().unwrap(), id);
    }
}
