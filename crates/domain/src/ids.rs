//! Typed identifiers. A `TenantId` can never be passed where a `UserId` is expected.
//! New ids are time-ordered UUIDv7s minted by `persistence` (which owns randomness and storage).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
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
typed_id!(
    /// An API token for integrations.
    ApiTokenId
);
typed_id!(
    /// A prompt.
    PromptId
);
typed_id!(
    /// A configured AI service (provider, address, model, key).
    ConnectionId
);
typed_id!(
    /// One recorded call to an AI service: a run, one side of a comparison, or an enhancement.
    RunId
);
typed_id!(
    /// One change of a release label (created, moved, removed, rolled back).
    LabelMoveId
);
typed_id!(
    /// A request to move a protected release label, waiting for another person's decision.
    ApprovalId
);
typed_id!(
    /// A tenant's webhook endpoint.
    WebhookId
);
typed_id!(
    /// One event on its way to one webhook endpoint (also its `webhook-id`).
    DeliveryId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_id_is_rejected() {
        assert!("not-a-uuid".parse::<UserId>().is_err());
        let id = UserId::from_uuid(Uuid::from_u128(42));
        assert_eq!(id.to_string().parse::<UserId>().unwrap(), id);
        assert_eq!(format!("{id:?}"), format!("UserId({})", id.as_uuid()));
    }
}
