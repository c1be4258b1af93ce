//! Single sign-on: the tenant admin's settings, the sign-in page's options, the hand-over of a
//! finished sign-in to the browser app, and the "test configuration" result.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ErrorCode;
use crate::sso::{RoleRule, SsoProtocol};
use crate::user::Role;

/// Where a tenant's SSO settings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SsoSource {
    /// The tenant's own settings.
    Tenant,
    /// The server-wide `SSO_*` variables (the tenant has none of its own).
    SystemDefault,
    /// Nothing: single sign-on is off.
    None,
}

/// What to register at the identity provider for this tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceProviderInfo {
    /// OpenID Connect: the redirect URI (Entra: "Web" platform redirect URI).
    pub redirect_uri: String,
    /// SAML: our entity id (ADFS: the relying party identifier; Entra: Identifier).
    pub saml_entity_id: String,
    /// SAML: the assertion consumer service (POST binding; Entra: Reply URL).
    pub saml_acs_url: String,
    /// SAML: our metadata, for IdPs that import it (same as the entity id).
    pub saml_metadata_url: String,
}

/// `GET /api/v1/sso`: the caller's tenant's single sign-on settings. The client secret is
/// never returned, only whether it is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SsoSettingsView {
    pub source: SsoSource,
    pub protocol: SsoProtocol,
    pub enabled: bool,
    /// OpenID Connect issuer (Entra: `https://login.microsoftonline.com/<directory id>/v2.0`).
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    /// `null` when no secret is set, else e.g. `set, ends in …1a2b`.
    pub client_secret: Option<String>,
    pub saml_metadata_url: Option<String>,
    pub saml_metadata_xml: Option<String>,
    pub allowed_domains: Vec<String>,
    pub default_role: Role,
    pub role_claim: Option<String>,
    pub role_rules: Vec<RoleRule>,
    pub create_users: bool,
    pub password_sign_in: bool,
    pub service_provider: ServiceProviderInfo,
    pub updated_at: Option<DateTime<Utc>>,
}

/// `PUT /api/v1/sso`: replaces the tenant's settings. A missing `client_secret` keeps the
/// stored one; `clear_client_secret` removes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SsoSettingsRequest {
    pub protocol: SsoProtocol,
    /// Whether users can sign in with the provider.
    pub enabled: bool,
    /// OpenID Connect: the issuer; discovery is read from `<issuer>/.well-known/openid-configuration`.
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    /// Sealed at rest; never returned.
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub clear_client_secret: bool,
    /// SAML: the IdP's metadata URL (ADFS: `https://<adfs>/FederationMetadata/2007-06/FederationMetadata.xml`),
    /// or the metadata XML itself.
    #[serde(default)]
    pub saml_metadata_url: Option<String>,
    #[serde(default)]
    pub saml_metadata_xml: Option<String>,
    /// Email domains allowed to sign in (`acme.com`); empty: any.
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    /// The role of users created at sign-in when no rule matches. Default `user`.
    #[serde(default)]
    pub default_role: Option<Role>,
    /// The claim or attribute holding groups or roles (`groups`, `roles`); mapping is re-applied
    /// at every sign-in when set.
    #[serde(default)]
    pub role_claim: Option<String>,
    #[serde(default)]
    pub role_rules: Vec<RoleRule>,
    /// Create unknown users at their first sign-in (within `max_users`).
    #[serde(default)]
    pub create_users: bool,
    /// Keep password sign-in open to everyone. When `false`, only admins who hold a password may
    /// still use one (break-glass).
    #[serde(default = "default_true")]
    pub password_sign_in: bool,
}

fn default_true() -> bool {
    true
}

/// `GET /api/v1/auth/sso?tenant=`: what the sign-in page offers. The same answer for an unknown
/// tenant as for one without single sign-on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SsoOptions {
    pub sso: bool,
    pub protocol: Option<SsoProtocol>,
    /// Where the browser goes to sign in with the provider (`login_hint` may be appended).
    pub sign_in_url: Option<String>,
    pub password_sign_in: bool,
}

/// `POST /api/v1/auth/sso/exchange`: the one-time code the callback handed to the browser app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SsoExchangeRequest {
    pub code: String,
}

/// `POST /api/v1/sso/test`: where to send the admin's browser to try the settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SsoTestStarted {
    pub authorize_url: String,
}

/// `GET /api/v1/sso/test/{code}`: what the provider returned for a test sign-in and what a real
/// sign-in would do with it. Nobody is created or signed in by a test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SsoTestResult {
    pub protocol: SsoProtocol,
    /// `None` when the provider's answer was refused (see `outcome`).
    pub subject: Option<String>,
    pub email: Option<String>,
    /// Every claim or attribute, as lists of strings.
    pub claims: BTreeMap<String, Vec<String>>,
    /// The role the mapping gives (`None`: no mapping; existing users keep their role).
    pub mapped_role: Option<Role>,
    /// Whether a user with this subject or email exists in the tenant.
    pub existing_user: bool,
    /// `None`: a real sign-in would succeed. Else the code it would fail with.
    pub outcome: Option<ErrorCode>,
    pub detail: Option<String>,
    pub tested_at: DateTime<Utc>,
}

/// `POST /api/v1/auth/logout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogoutResponse {
    /// For a single sign-on session: the provider's end-session URL, to sign out there too.
    pub end_session_url: Option<String>,
}
