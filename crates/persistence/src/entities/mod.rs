//! sea-orm entities, one per table. Private to this crate: repositories convert them to domain
//! types at the boundary.

pub(crate) mod ai_connections;
pub(crate) mod ai_policies;
pub(crate) mod api_tokens;
pub(crate) mod audit_events;
pub(crate) mod config;
pub(crate) mod label_approvals;
pub(crate) mod label_fetch_counts;
pub(crate) mod prompt_includes;
pub(crate) mod prompt_label_moves;
pub(crate) mod prompt_labels;
pub(crate) mod prompt_runs;
pub(crate) mod prompt_versions;
pub(crate) mod prompts;
pub(crate) mod release_policies;
pub(crate) mod sessions;
pub(crate) mod sso_assertions;
pub(crate) mod sso_configs;
pub(crate) mod sso_flows;
pub(crate) mod tenants;
pub(crate) mod users;
pub(crate) mod webhook_attempts;
pub(crate) mod webhook_deliveries;
pub(crate) mod webhook_endpoints;
