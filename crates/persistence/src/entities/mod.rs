//! sea-orm entities, one per table. Private to this crate: repositories convert them to domain
//! types at the boundary.

pub(crate) mod api_tokens;
pub(crate) mod audit_events;
pub(crate) mod prompt_versions;
pub(crate) mod prompts;
pub(crate) mod sessions;
pub(crate) mod tenants;
pub(crate) mod users;
