//! One module per screen, and the parts of the prompt page (`bundle_editor`, `run_form`).

pub mod ai_settings;
pub mod ai_tools;
pub mod analytics;
pub mod approvals;
pub mod audit;
pub mod bundle_editor;
pub mod composition;
pub mod editor;
pub mod history;
pub mod library;
pub mod login;
pub mod profile;
pub mod release_settings;
pub mod releases;
pub mod run_form;
pub mod sso_settings;
pub mod sso_sign_in;
pub mod tenants;
pub mod tokens;
pub mod transfer;
pub mod users;
pub mod webhooks;
