//! One module per screen.

pub mod ai_settings;
pub mod ai_tools;
pub mod analytics;
pub mod audit;
pub mod editor;
pub mod history;
pub mod library;
pub mod login;
pub mod profile;
pub mod sso_settings;
pub mod sso_sign_in;
pub mod tenants;
pub mod tokens;
pub mod transfer;
pub mod users;
