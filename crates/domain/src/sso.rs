//! Single sign-on: a tenant's identity-provider settings and the rules applied to what a
//! provider asserts, the same for OpenID Connect claims and SAML attributes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Secret;
use crate::ids::TenantId;
use crate::user::{Email, Role};

/// How a tenant's users sign in with their identity provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SsoProtocol {
    /// OpenID Connect (Microsoft Entra ID, ADFS, Okta, Keycloak…).
    Oidc,
    /// SAML 2.0 (ADFS relying party trusts, Entra enterprise apps, Shibboleth…).
    Saml,
}

impl SsoProtocol {
    pub const fn as_str(self) -> &'static str {
        match self {
            SsoProtocol::Oidc => "oidc",
            SsoProtocol::Saml => "saml",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "oidc" => Some(SsoProtocol::Oidc),
            "saml" => Some(SsoProtocol::Saml),
            _ => None,
        }
    }
}

/// One rule of a role mapping: users whose claim holds `value` get `role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoleRule {
    /// A group or role value as the provider sends it (an Entra group's object id, an app
    /// role's value, an ADFS group name). Compared exactly.
    pub value: String,
    pub role: Role,
}

/// Limits on what a tenant's SSO settings may hold.
pub const MAX_ALLOWED_DOMAINS: usize = 50;
pub const MAX_ROLE_RULES: usize = 100;
pub const MAX_RULE_VALUE_CHARS: usize = 256;
pub const MAX_CLAIM_NAME_CHARS: usize = 256;

/// What the server does with a verified identity: who may come in, who is created, with which
/// role. The same for both protocols.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoPolicy {
    /// Lowercase domains (`acme.com`); empty: any domain.
    pub allowed_domains: Vec<String>,
    /// The role of a user created at first sign-in when no rule matches.
    pub default_role: Role,
    /// The claim (OIDC) or attribute (SAML) that carries groups or roles, e.g. `groups`.
    pub role_claim: Option<String>,
    /// Applied at every sign-in when `role_claim` is set: the most privileged match wins, and
    /// no match means `default_role`.
    pub role_rules: Vec<RoleRule>,
    /// Whether a user unknown to the tenant is created at first sign-in (within `max_users`).
    pub create_users: bool,
    /// Whether password sign-in stays open to everyone. When it is not, admins who hold a
    /// password may still use it (the break-glass rule), so a broken provider never locks a
    /// tenant out of its own settings.
    pub password_sign_in: bool,
}

impl SsoPolicy {
    /// Whether an email's domain is one the tenant accepts.
    pub fn allows_email(&self, email: &Email) -> bool {
        if self.allowed_domains.is_empty() {
            return true;
        }
        let domain = email.as_str().rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        self.allowed_domains.iter().any(|allowed| allowed == domain)
    }

    /// The role the mapping gives an identity with these claims; `None` when no mapping is set
    /// (then an existing user keeps their role).
    pub fn mapped_role(&self, claims: &Claims) -> Option<Role> {
        let claim = self.role_claim.as_deref()?;
        let values = claims.get(claim).map(Vec::as_slice).unwrap_or_default();
        let matched = self
            .role_rules
            .iter()
            .filter(|rule| values.iter().any(|v| v == &rule.value))
            .map(|rule| rule.role)
            .min_by_key(|role| privilege_rank(*role));
        Some(matched.unwrap_or(self.default_role))
    }

    /// Whether a password sign-in by a user with this role is allowed.
    pub fn allows_password(&self, role: Role) -> bool {
        self.password_sign_in || role == Role::Admin
    }
}

/// 0 is the most privileged.
const fn privilege_rank(role: Role) -> u8 {
    match role {
        Role::Admin => 0,
        Role::User => 1,
        Role::Readonly => 2,
    }
}

/// A provider's claims or attributes, each as a list of strings (single values are lists of
/// one; numbers and booleans are their JSON text).
pub type Claims = BTreeMap<String, Vec<String>>;

/// A verified identity, whatever the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider's stable id of the user: `oid` (Entra) or `sub`, or the SAML NameID.
    pub subject: String,
    pub email: Option<Email>,
    /// Whether the provider vouches for the email (`email_verified`; Entra's `email`, `upn` and
    /// `preferred_username`, and SAML assertions, come from the directory and count as such).
    pub email_verified: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub claims: Claims,
}

/// The claims that carry an email, in the order they are tried.
pub const EMAIL_CLAIMS: [&str; 4] = ["email", "upn", "preferred_username", "unique_name"];

/// SAML attribute names commonly used for the email (ADFS and Entra send the first).
pub const SAML_EMAIL_ATTRIBUTES: [&str; 4] = [
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "email",
    "mail",
];

/// The first claim of `names` that parses as an email.
pub fn email_from_claims(claims: &Claims, names: &[&str]) -> Option<Email> {
    names.iter().filter_map(|name| claims.get(*name)?.first()).find_map(|value| Email::parse(value).ok())
}

/// A tenant's stored SSO settings. The client secret stays sealed until a token request.
#[derive(Debug, Clone, PartialEq)]
pub struct SsoConfig {
    pub tenant_id: TenantId,
    pub protocol: SsoProtocol,
    pub enabled: bool,
    /// OIDC: the issuer (Entra: `https://login.microsoftonline.com/<tenant id>/v2.0`).
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_sealed: Option<Secret<String>>,
    pub client_secret_hint: Option<String>,
    /// SAML: where the IdP's metadata is fetched from, or the metadata itself.
    pub saml_metadata_url: Option<String>,
    pub saml_metadata_xml: Option<String>,
    pub policy: SsoPolicy,
    pub updated_at: DateTime<Utc>,
}

/// Why a sign-in with the provider was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsoPurpose {
    /// A user signing in.
    SignIn,
    /// A tenant admin trying the settings: nobody is created or signed in.
    Test,
}

impl SsoPurpose {
    pub const fn as_str(self) -> &'static str {
        match self {
            SsoPurpose::SignIn => "sign_in",
            SsoPurpose::Test => "test",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "sign_in" => Some(SsoPurpose::SignIn),
            "test" => Some(SsoPurpose::Test),
            _ => None,
        }
    }
}

/// A sign-in with the provider, from the redirect to the provider until the browser app holds
/// a session. Only hashes of the state, the browser cookie and the hand-over code are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSsoFlow {
    pub state_hash: String,
    pub browser_hash: String,
    pub purpose: SsoPurpose,
    pub protocol: SsoProtocol,
    /// OIDC: the nonce the ID token must carry, and the PKCE verifier for the token request.
    pub nonce: Option<String>,
    pub pkce_verifier: Option<Secret<String>>,
    /// SAML: the AuthnRequest's id, which the response's `InResponseTo` must name.
    pub saml_request_id: Option<String>,
    /// The admin who started a test.
    pub started_by: Option<crate::ids::UserId>,
    pub expires_at: DateTime<Utc>,
}

/// A stored sign-in in progress, as the provider's answer finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoFlow {
    pub id: uuid::Uuid,
    pub tenant_id: TenantId,
    pub browser_hash: String,
    pub purpose: SsoPurpose,
    pub protocol: SsoProtocol,
    pub nonce: Option<String>,
    pub pkce_verifier: Option<Secret<String>>,
    pub saml_request_id: Option<String>,
    pub started_by: Option<crate::ids::UserId>,
    pub expires_at: DateTime<Utc>,
}

/// How long a sign-in may take at the provider, and how long its hand-over code lasts.
pub const FLOW_LIFETIME_MINUTES: i64 = 10;
pub const HANDOFF_LIFETIME_SECONDS: i64 = 120;
/// Sign-ins in progress one tenant may have at once: anyone may start one, so it is capped.
pub const MAX_PENDING_FLOWS_PER_TENANT: u64 = 10_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> SsoPolicy {
        SsoPolicy {
            allowed_domains: vec!["acme.com".into()],
            default_role: Role::Readonly,
            role_claim: Some("groups".into()),
            role_rules: vec![
                RoleRule { value: "writers".into(), role: Role::User },
                RoleRule { value: "it-admins".into(), role: Role::Admin },
            ],
            create_users: true,
            password_sign_in: false,
        }
    }

    fn claims(pairs: &[(&str, &[&str])]) -> Claims {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect())).collect()
    }

    #[test]
    fn the_most_privileged_matching_rule_wins_and_no_match_means_the_default() {
        let p = policy();
        assert_eq!(p.mapped_role(&claims(&[("groups", &["writers", "it-admins"])])), Some(Role::Admin));
        assert_eq!(p.mapped_role(&claims(&[("groups", &["writers"])])), Some(Role::User));
        assert_eq!(p.mapped_role(&claims(&[("groups", &["sales"])])), Some(Role::Readonly));
        assert_eq!(p.mapped_role(&claims(&[])), Some(Role::Readonly));
        assert_eq!(p.mapped_role(&claims(&[("roles", &["it-admins"])])), Some(Role::Readonly));
        let unmapped = SsoPolicy { role_claim: None, ..p };
        assert_eq!(unmapped.mapped_role(&claims(&[("groups", &["it-admins"])])), None);
    }

    #[test]
    fn domains_are_matched_whole_and_an_empty_list_allows_any() {
        let p = policy();
        let email = |s: &str| Email::parse(s).unwrap();
        assert!(p.allows_email(&email("ann@acme.com")));
        assert!(p.allows_email(&email("Ann@ACME.com")));
        assert!(!p.allows_email(&email("ann@evil-acme.com")));
        assert!(!p.allows_email(&email("ann@acme.com.evil.test")));
        let open = SsoPolicy { allowed_domains: vec![], ..p };
        assert!(open.allows_email(&email("bob@anywhere.test")));
    }

    #[test]
    fn closed_password_sign_in_still_admits_admins() {
        let p = policy();
        assert!(p.allows_password(Role::Admin));
        assert!(!p.allows_password(Role::User));
        assert!(!p.allows_password(Role::Readonly));
        assert!(SsoPolicy { password_sign_in: true, ..p }.allows_password(Role::Readonly));
    }

    #[test]
    fn the_email_comes_from_the_first_claim_that_holds_one() {
        let c = claims(&[
            ("email", &["not an email"]),
            ("upn", &["ann@acme.com"]),
            ("preferred_username", &["x@y.z"]),
        ]);
        assert_eq!(email_from_claims(&c, &EMAIL_CLAIMS).unwrap().as_str(), "ann@acme.com");
        assert!(email_from_claims(&claims(&[]), &EMAIL_CLAIMS).is_none());
    }
}
