//! Single sign-on, the service layer: which provider a tenant signs in with (its own settings,
//! else the server-wide `SSO_*` provider), starting a sign-in, verifying the provider's answer
//! (OpenID Connect or SAML, by `auth::sso`), and what a verified identity becomes — a linked,
//! found or created user with their mapped role, or a test's findings. The HTTP flow is in
//! `routes::sso`.

use std::sync::Arc;
use std::time::Duration;

use auth::sealing::Sealer;
use auth::sso::oidc::{self, OidcError, ProviderMetadata, RelyingParty};
use auth::sso::saml::{IdpMetadata, SamlError, ServiceProvider};
use chrono::{DateTime, Utc};
use domain::Secret;
use domain::sso::{
    FLOW_LIFETIME_MINUTES, Identity, NewSsoFlow, SAML_EMAIL_ATTRIBUTES, SsoConfig, SsoFlow, SsoPolicy,
    SsoProtocol, SsoPurpose, email_from_claims,
};
use domain::tenant::Tenant;
use domain::user::{Email, Role, User};
use domain::wire::{ErrorCode, ServiceProviderInfo, SsoSource};
use outbound::{Outbound, OutboundConfig, OutboundPolicy};

use domain::audit::{Actor, AuditAction, NewAuditEvent};
use domain::user::{NewUser, normalize_name};
use domain::wire::SsoTestResult;
use persistence::TenantScope;
use serde_json::json;

use crate::config::SsoSettings;
use crate::error::ApiError;
use crate::state::AppState;

/// How long a provider's discovery document, keys and SAML metadata are reused.
const METADATA_TTL: Duration = Duration::from_secs(15 * 60);
/// Client addresses remembered for auditing answers that name no sign-in.
const UNATTRIBUTED_AUDIT_ADDRESSES: u64 = 10_000;
/// How long a failed metadata fetch is answered from memory.
const FAILURE_TTL: Duration = Duration::from_secs(30);
/// Providers whose metadata is kept at once (each tenant may have its own).
const METADATA_CACHE_ENTRIES: u64 = 1_000;
/// The largest SAML metadata document fetched or accepted (ADFS federation metadata is ~50 KB).
pub const MAX_SAML_METADATA_BYTES: usize = 1024 * 1024;
/// Clock difference tolerated between us and a SAML IdP.
const SAML_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(2);

/// A sign-in that cannot go on: the code the browser app explains, and what happened (audited;
/// never a token or secret).
#[derive(Debug, Clone)]
pub struct SsoFailure {
    pub code: ErrorCode,
    pub detail: String,
}

impl SsoFailure {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into() }
    }
}

impl From<SsoFailure> for crate::error::ApiError {
    fn from(f: SsoFailure) -> Self {
        crate::error::ApiError::new(f.code, f.detail)
    }
}

impl From<OidcError> for SsoFailure {
    fn from(e: OidcError) -> Self {
        let code = match &e {
            OidcError::Settings(_) => ErrorCode::SsoNotConfigured,
            OidcError::Unreachable(_) | OidcError::Refused(_) => ErrorCode::SsoProviderError,
            OidcError::BadSignature => ErrorCode::SsoBadSignature,
            OidcError::WrongAudience => ErrorCode::SsoWrongAudience,
            OidcError::Expired => ErrorCode::SsoExpired,
            OidcError::Invalid(_) => ErrorCode::SsoInvalidResponse,
        };
        SsoFailure::new(code, e.to_string())
    }
}

impl From<SamlError> for SsoFailure {
    fn from(e: SamlError) -> Self {
        let code = match &e {
            SamlError::BadSignature | SamlError::Unsigned => ErrorCode::SsoBadSignature,
            SamlError::WrongAudience => ErrorCode::SsoWrongAudience,
            SamlError::Expired | SamlError::NotYetValid => ErrorCode::SsoExpired,
            SamlError::StatusNotSuccess(_) => ErrorCode::SsoProviderError,
            SamlError::Metadata(_) | SamlError::InvalidRequest(_) => ErrorCode::SsoNotConfigured,
            _ => ErrorCode::SsoInvalidResponse,
        };
        SsoFailure::new(code, format!("{} ({})", e, e.code()))
    }
}

/// A tenant's identity provider as a sign-in uses it, secret opened.
#[derive(Clone)]
pub struct Provider {
    pub source: SsoSource,
    pub protocol: SsoProtocol,
    pub enabled: bool,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    client_secret: Option<Secret<String>>,
    pub saml_metadata_url: Option<String>,
    pub saml_metadata_xml: Option<String>,
    pub policy: SsoPolicy,
}

/// What the server keeps for single sign-on: the outbound client for providers (with its own
/// address rules), the sealer for client secrets, the server-wide settings, and metadata.
pub struct SsoRuntime {
    http: Outbound,
    sealer: Sealer,
    settings: SsoSettings,
    /// `SSO_REDIRECT_URI`, or its default.
    redirect_uri: String,
    /// `scheme://host[:port]` of `SSO_REDIRECT_URI`: where the flow's pages and cookie live.
    origin: String,
    oidc_metadata: moka::sync::Cache<String, Arc<ProviderMetadata>>,
    saml_metadata: moka::sync::Cache<String, Arc<IdpMetadata>>,
    /// Metadata URLs whose last fetch failed, with the failure, for [`FAILURE_TTL`].
    failed_fetches: moka::sync::Cache<String, SsoFailure>,
    /// Client addresses whose answer naming no sign-in was audited within the last minute.
    unattributed_failures: moka::sync::Cache<String, ()>,
}

impl SsoRuntime {
    /// `port`: the port the server listens on, for the default redirect URI.
    pub fn new(settings: SsoSettings, sealer: Sealer, port: u16) -> Result<Self, String> {
        let http = Outbound::new(OutboundConfig {
            policy: OutboundPolicy { allow_private_networks: settings.allow_private_networks },
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            max_response_bytes: MAX_SAML_METADATA_BYTES,
            user_agent: format!("ai-prompt-manager/{}", env!("CARGO_PKG_VERSION")),
        })
        .map_err(|e| e.to_string())?;
        let redirect_uri =
            settings.redirect_uri.clone().unwrap_or_else(|| format!("http://localhost:{port}/auth/callback"));
        let origin = origin_of(&redirect_uri).ok_or("SSO_REDIRECT_URI has no origin")?;
        Ok(Self {
            http,
            sealer,
            settings,
            redirect_uri,
            origin,
            oidc_metadata: metadata_cache(),
            saml_metadata: metadata_cache(),
            unattributed_failures: moka::sync::Cache::builder()
                .max_capacity(UNATTRIBUTED_AUDIT_ADDRESSES)
                .time_to_live(Duration::from_secs(60))
                .build(),
            failed_fetches: moka::sync::Cache::builder()
                .max_capacity(METADATA_CACHE_ENTRIES)
                .time_to_live(FAILURE_TTL)
                .build(),
        })
    }

    /// Whether an answer naming no sign-in from `client_addr` is the first this minute (and
    /// so is audited).
    pub fn first_unattributed_failure(&self, client_addr: &str) -> bool {
        let first = !self.unattributed_failures.contains_key(client_addr);
        if first {
            self.unattributed_failures.insert(client_addr.to_owned(), ());
        }
        first
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether the flow's cookie can be `Secure; SameSite=None`, which the SAML POST from the
    /// IdP's site needs: over https, and on loopback (`localhost`, `127.0.0.1`, `[::1]`), which
    /// browsers treat as a secure context even over plain http.
    pub fn secure(&self) -> bool {
        let loopback = ["http://localhost", "http://127.0.0.1", "http://[::1]"]
            .iter()
            .any(|base| self.origin == *base || self.origin.starts_with(&format!("{base}:")));
        self.origin.starts_with("https://") || loopback
    }

    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    pub fn allow_private_networks(&self) -> bool {
        self.settings.allow_private_networks
    }

    /// What a tenant's admin registers at the identity provider.
    pub fn service_provider_info(&self, tenant: &Tenant) -> ServiceProviderInfo {
        let entity_id = self.saml_entity_id(tenant);
        ServiceProviderInfo {
            redirect_uri: self.redirect_uri.clone(),
            saml_metadata_url: entity_id.clone(),
            saml_entity_id: entity_id,
            saml_acs_url: self.saml_acs_url(),
        }
    }

    fn saml_entity_id(&self, tenant: &Tenant) -> String {
        format!("{}/auth/saml/{}", self.origin, tenant.subdomain.as_str())
    }

    fn saml_acs_url(&self) -> String {
        format!("{}/auth/saml/acs", self.origin)
    }

    pub fn saml_service_provider(&self, tenant: &Tenant) -> ServiceProvider {
        ServiceProvider { entity_id: self.saml_entity_id(tenant), acs_url: self.saml_acs_url() }
    }

    /// The sealing context of a tenant's client secret.
    pub fn secret_context(tenant: &Tenant) -> String {
        format!("sso_config:{}", tenant.id)
    }

    /// The provider a tenant signs in with: its own settings, else the server-wide one (when
    /// `SSO_ENABLED`), else none.
    pub fn provider(
        &self,
        tenant: &Tenant,
        stored: Option<SsoConfig>,
    ) -> Result<Option<Provider>, SsoFailure> {
        if let Some(config) = stored {
            let client_secret = match &config.client_secret_sealed {
                Some(sealed) => Some(self.sealer.open(sealed.expose(), &Self::secret_context(tenant)).map_err(|_| {
                    SsoFailure::new(
                        ErrorCode::SsoNotConfigured,
                        "the stored client secret cannot be opened (was SECRET_KEY changed?); set it again",
                    )
                })?),
                None => None,
            };
            return Ok(Some(Provider {
                source: SsoSource::Tenant,
                protocol: config.protocol,
                enabled: config.enabled,
                issuer: config.issuer,
                client_id: config.client_id,
                client_secret,
                saml_metadata_url: config.saml_metadata_url,
                saml_metadata_xml: config.saml_metadata_xml,
                policy: config.policy,
            }));
        }
        if !self.settings.enabled {
            return Ok(None);
        }
        Ok(Some(Provider {
            source: SsoSource::SystemDefault,
            protocol: SsoProtocol::Oidc,
            enabled: true,
            issuer: self.settings.authority.as_deref().map(entra_issuer),
            client_id: self.settings.client_id.clone(),
            client_secret: self.settings.client_secret.clone(),
            saml_metadata_url: None,
            saml_metadata_xml: None,
            policy: SsoPolicy {
                allowed_domains: self.settings.allowed_domains.clone(),
                default_role: self.settings.default_role,
                role_claim: None,
                role_rules: Vec::new(),
                create_users: self.settings.create_users,
                password_sign_in: true,
            },
        }))
    }

    /// The relying party for a provider; `fresh` fetches its metadata and keys again (after a
    /// token signed with a key we did not know: the provider may have rotated its keys).
    pub async fn relying_party(&self, provider: &Provider, fresh: bool) -> Result<RelyingParty, SsoFailure> {
        let (Some(issuer), Some(client_id)) = (provider.issuer.as_deref(), provider.client_id.as_deref())
        else {
            return Err(SsoFailure::new(
                ErrorCode::SsoNotConfigured,
                "the issuer and client id are required",
            ));
        };
        let metadata = match self.oidc_metadata.get(issuer) {
            Some(metadata) if !fresh => metadata,
            _ => {
                let discovered = self
                    .remembering_failure(issuer, async {
                        Ok(oidc::discover(&self.http, issuer, self.allow_private_networks()).await?)
                    })
                    .await?;
                let metadata = Arc::new(discovered);
                self.oidc_metadata.insert(issuer.to_owned(), metadata.clone());
                metadata
            }
        };
        Ok(RelyingParty::new(metadata, client_id, provider.client_secret.as_ref(), &self.redirect_uri)?)
    }

    /// The SAML IdP a provider names: its pasted metadata, or the metadata at its URL.
    pub async fn saml_idp(&self, provider: &Provider) -> Result<Arc<IdpMetadata>, SsoFailure> {
        if let Some(xml) = provider.saml_metadata_xml.as_deref() {
            return Ok(Arc::new(IdpMetadata::parse(xml)?));
        }
        let Some(url) = provider.saml_metadata_url.as_deref() else {
            return Err(SsoFailure::new(
                ErrorCode::SsoNotConfigured,
                "the IdP's metadata URL or XML is required",
            ));
        };
        if let Some(idp) = self.saml_metadata.get(url) {
            return Ok(idp);
        }
        let parsed = self
            .remembering_failure(url, async { Ok(IdpMetadata::parse(&self.fetch_metadata(url).await?)?) })
            .await?;
        let idp = Arc::new(parsed);
        self.saml_metadata.insert(url.to_owned(), idp.clone());
        Ok(idp)
    }

    /// Runs a fetch of `url`'s metadata, unless it failed within [`FAILURE_TTL`]: then that
    /// failure again. Anyone may start a sign-in, so a provider that is down must not turn each
    /// attempt into another outbound call.
    async fn remembering_failure<T>(
        &self,
        url: &str,
        fetch: impl std::future::Future<Output = Result<T, SsoFailure>>,
    ) -> Result<T, SsoFailure> {
        if let Some(failure) = self.failed_fetches.get(url) {
            return Err(failure);
        }
        let result = fetch.await;
        if let Err(failure) = &result {
            self.failed_fetches.insert(url.to_owned(), failure.clone());
        }
        result
    }

    async fn fetch_metadata(&self, url: &str) -> Result<String, SsoFailure> {
        let unreachable = |e: outbound::OutboundError| {
            SsoFailure::new(
                ErrorCode::SsoProviderError,
                format!("the IdP's metadata could not be fetched: {e}"),
            )
        };
        if url.starts_with("http://") && !self.allow_private_networks() {
            return Err(SsoFailure::new(ErrorCode::SsoNotConfigured, "the metadata URL must use https"));
        }
        let answer = self
            .http
            .get(url)
            .map_err(unreachable)?
            .send(Duration::from_secs(10))
            .await
            .map_err(unreachable)?;
        if !answer.status().is_success() {
            return Err(SsoFailure::new(
                ErrorCode::SsoProviderError,
                format!("the IdP's metadata URL answered HTTP {}", answer.status().as_u16()),
            ));
        }
        let body = answer.read_capped(MAX_SAML_METADATA_BYTES).await.map_err(unreachable)?;
        String::from_utf8(body.to_vec())
            .map_err(|_| SsoFailure::new(ErrorCode::SsoNotConfigured, "the IdP's metadata is not UTF-8 text"))
    }

    /// A new sign-in: the flow to store and the URL to send the browser to. `browser` is the
    /// cookie value that ties the sign-in to this browser.
    pub async fn begin(
        &self,
        tenant: &Tenant,
        provider: &Provider,
        start: Start<'_>,
        browser: &Secret<String>,
        now: DateTime<Utc>,
    ) -> Result<(NewSsoFlow, String), SsoFailure> {
        let Start { purpose, login_hint, started_by } = start;
        let expires_at = now + chrono::Duration::minutes(FLOW_LIFETIME_MINUTES);
        let base = |state: &Secret<String>| NewSsoFlow {
            state_hash: auth::sso::stored_form(state.expose()),
            browser_hash: auth::sso::stored_form(browser.expose()),
            purpose,
            protocol: provider.protocol,
            nonce: None,
            pkce_verifier: None,
            saml_request_id: None,
            started_by,
            expires_at,
        };
        match provider.protocol {
            SsoProtocol::Oidc => {
                let party = self.relying_party(provider, false).await?;
                let request = party.authorize(login_hint);
                let flow = NewSsoFlow {
                    nonce: Some(request.nonce),
                    pkce_verifier: Some(request.pkce_verifier),
                    ..base(&request.state)
                };
                Ok((flow, request.url))
            }
            SsoProtocol::Saml => {
                let idp = self.saml_idp(provider).await?;
                let relay_state = auth::sso::random_secret();
                let redirect =
                    self.saml_service_provider(tenant).authn_request(&idp, relay_state.expose(), now)?;
                let flow = NewSsoFlow { saml_request_id: Some(redirect.request_id), ..base(&relay_state) };
                Ok((flow, redirect.url))
            }
        }
    }

    /// Redeems an OpenID Connect callback's code and verifies its ID token, fetching the
    /// provider's keys again once when the token is signed with a key we did not know.
    pub async fn verify_oidc(
        &self,
        provider: &Provider,
        flow: &SsoFlow,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Identity, SsoFailure> {
        let (Some(nonce), Some(verifier)) = (flow.nonce.as_deref(), flow.pkce_verifier.as_ref()) else {
            return Err(SsoFailure::new(
                ErrorCode::SsoInvalidState,
                "the sign-in was not an OpenID Connect one",
            ));
        };
        let party = self.relying_party(provider, false).await?;
        let token = party.exchange(&self.http, code, verifier).await?;
        match party.verify(&token, nonce, now) {
            Err(OidcError::BadSignature) => {
                let party = self.relying_party(provider, true).await?;
                Ok(party.verify(&token, nonce, now)?)
            }
            other => Ok(other?),
        }
    }

    /// Verifies a SAML response for the flow and reads the identity from its assertion; also
    /// returns the assertion's id and expiry, which the caller records against replay.
    pub async fn verify_saml(
        &self,
        tenant: &Tenant,
        provider: &Provider,
        flow: &SsoFlow,
        saml_response: &str,
        now: DateTime<Utc>,
    ) -> Result<(Identity, String, DateTime<Utc>), SsoFailure> {
        let Some(request_id) = flow.saml_request_id.as_deref() else {
            return Err(SsoFailure::new(ErrorCode::SsoInvalidState, "the sign-in was not a SAML one"));
        };
        let idp = self.saml_idp(provider).await?;
        let assertion = self.saml_service_provider(tenant).verify_response(
            &idp,
            saml_response,
            request_id,
            now,
            SAML_CLOCK_SKEW,
        )?;
        let mut claims: domain::sso::Claims = assertion.attributes.clone().into_iter().collect();
        claims.insert("NameID".to_owned(), vec![assertion.name_id.clone()]);
        let email = Email::parse(&assertion.name_id)
            .ok()
            .or_else(|| email_from_claims(&claims, &SAML_EMAIL_ATTRIBUTES));
        let first = |names: &[&str]| names.iter().find_map(|n| claims.get(*n)?.first().cloned());
        let identity = Identity {
            subject: assertion.name_id.clone(),
            email,
            // The assertion is the IdP's directory speaking, signed.
            email_verified: true,
            first_name: first(&[
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
                "firstName",
                "givenName",
            ]),
            last_name: first(&[
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
                "lastName",
                "sn",
            ]),
            claims,
        };
        Ok((identity, assertion.assertion_id, assertion.not_on_or_after))
    }

    /// The provider's sign-out page for a session it signed in, when it publishes one.
    pub async fn end_session_url(&self, provider: &Provider) -> Option<String> {
        if provider.protocol != SsoProtocol::Oidc {
            return None;
        }
        let party = self.relying_party(provider, false).await.ok()?;
        party.end_session_url(&format!("{}/login", self.origin))
    }
}

/// Why a sign-in is started, and by whom.
pub struct Start<'a> {
    pub purpose: SsoPurpose,
    /// The user's email, passed to the provider so it can skip asking for it.
    pub login_hint: Option<&'a str>,
    /// The admin trying the settings.
    pub started_by: Option<domain::UserId>,
}

impl<'a> Start<'a> {
    pub fn sign_in(login_hint: Option<&'a str>) -> Self {
        Self { purpose: SsoPurpose::SignIn, login_hint, started_by: None }
    }

    /// A test of the settings by `admin`: the provider is asked for the admin's own account.
    pub fn test(admin: &'a User) -> Self {
        Self { purpose: SsoPurpose::Test, login_hint: Some(admin.email.as_str()), started_by: Some(admin.id) }
    }
}

/// What a verified identity becomes in a tenant, decided before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// An existing user: by subject, or by verified email (`link`: record the subject now).
    Existing { user: User, link: bool },
    /// A new user with this email and role.
    Create { email: Email, role: Role },
}

/// The sign-in rules, applied to what the provider vouched for and what the tenant holds.
pub fn admit(
    policy: &SsoPolicy,
    identity: &Identity,
    by_subject: Option<User>,
    by_email: Option<User>,
) -> Result<Admission, SsoFailure> {
    if let Some(email) = &identity.email
        && !policy.allows_email(email)
    {
        return Err(SsoFailure::new(
            ErrorCode::SsoEmailNotAllowed,
            format!("{} is not in a domain the organisation accepts", email.as_str()),
        ));
    }
    if let Some(user) = by_subject {
        return Ok(Admission::Existing { user, link: false });
    }
    let Some(email) = identity.email.clone() else {
        return Err(SsoFailure::new(
            ErrorCode::SsoInvalidResponse,
            "the provider sent no email for a new user",
        ));
    };
    if let Some(user) = by_email {
        if user.sso_subject.is_some() {
            return Err(SsoFailure::new(
                ErrorCode::SsoInvalidResponse,
                "this account is linked to another identity at the provider",
            ));
        }
        if !identity.email_verified {
            return Err(SsoFailure::new(
                ErrorCode::SsoInvalidResponse,
                "the provider does not vouch for this email, so it cannot be linked to the existing account",
            ));
        }
        return Ok(Admission::Existing { user, link: true });
    }
    if !policy.create_users {
        return Err(SsoFailure::new(
            ErrorCode::SsoUserNotProvisioned,
            format!("{} has no account in this organisation", email.as_str()),
        ));
    }
    let role = policy.mapped_role(&identity.claims).unwrap_or(policy.default_role);
    Ok(Admission::Create { email, role })
}

/// `https://login.microsoftonline.com/<directory>` is Entra's authority; its v2.0 issuer (the
/// one whose discovery document names itself) adds `/v2.0`.
fn entra_issuer(authority: &str) -> String {
    let authority = authority.trim_end_matches('/');
    if authority.starts_with("https://login.microsoftonline.com/") && !authority.ends_with("/v2.0") {
        format!("{authority}/v2.0")
    } else {
        authority.to_owned()
    }
}

fn metadata_cache<T: Send + Sync + 'static>() -> moka::sync::Cache<String, Arc<T>> {
    moka::sync::Cache::builder().max_capacity(METADATA_CACHE_ENTRIES).time_to_live(METADATA_TTL).build()
}

fn origin_of(url: &str) -> Option<String> {
    let parsed = outbound::Url::parse(url).ok()?;
    let origin = parsed.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// Where a verified provider answer sends the browser: the one-time code it carries to the
/// browser app (exchanged for a session, or for a test's findings).
pub struct Landing {
    pub purpose: SsoPurpose,
    pub handoff: Secret<String>,
}

/// Signs a verified identity in (finding, linking or creating the user, re-applying the role
/// mapping), or for a test records what a sign-in would do. Every write of a sign-in happens in
/// one transaction under the tenant's membership lock, so `max_users` and the last-admin rule
/// hold against concurrent sign-ins.
pub async fn complete(
    state: &AppState,
    client_addr: &str,
    flow: &SsoFlow,
    scope: TenantScope,
    provider: &Provider,
    identity: Identity,
    now: DateTime<Utc>,
) -> Result<Landing, ApiError> {
    let handoff = auth::sso::random_secret();
    let handoff_hash = auth::sso::stored_form(handoff.expose());
    let event = |actor: Actor, action, target: Option<String>, details| NewAuditEvent {
        actor,
        action,
        target_type: "user",
        target_id: target,
        details,
        client_addr: Some(client_addr.to_owned()),
        at: now,
    };
    if flow.purpose == SsoPurpose::Test {
        let repo = state.db.tenant(scope);
        let (by_subject, by_email) = repo.sso_candidates(&identity.subject, identity.email.as_ref()).await?;
        let existing_user = by_subject.is_some() || by_email.is_some();
        let tenant = repo.tenant().await?.ok_or_else(|| ApiError::not_found("No such tenant."))?;
        let verdict = match admit(&provider.policy, &identity, by_subject, by_email) {
            Ok(Admission::Existing { user, .. }) if !user.is_active => {
                Err(SsoFailure::new(ErrorCode::AccountInactive, "the user is deactivated"))
            }
            Ok(Admission::Create { .. })
                if repo.count_active_users().await? >= u64::from(tenant.max_users) =>
            {
                Err(SsoFailure::new(
                    ErrorCode::UserLimitReached,
                    "the tenant has its maximum of active users",
                ))
            }
            Ok(_) => Ok(()),
            Err(failure) => Err(failure),
        };
        let result = SsoTestResult {
            protocol: flow.protocol,
            subject: Some(identity.subject.clone()),
            email: identity.email.as_ref().map(|e| e.as_str().to_owned()),
            mapped_role: provider.policy.mapped_role(&identity.claims),
            claims: identity.claims.clone(),
            existing_user,
            outcome: verdict.as_ref().err().map(|f| f.code),
            detail: verdict.err().map(|f| f.detail),
            tested_at: now,
        };
        let json = serde_json::to_string(&result).map_err(|e| ApiError::internal(&e))?;
        repo.finish_sso_flow(flow.id, &handoff_hash, None, Some(json), now).await?;
        let actor = flow.started_by.map_or(Actor::System, Actor::User);
        let details = json!({ "protocol": flow.protocol, "outcome": result.outcome });
        repo.record_audit(NewAuditEvent {
            target_type: "sso",
            ..event(actor, AuditAction::SsoTested, None, details)
        })
        .await?;
        return Ok(Landing { purpose: SsoPurpose::Test, handoff });
    }

    let tx = state.db.begin().await?;
    let repo = tx.tenant(scope).await?;
    repo.lock_membership().await?;
    let tenant = repo.tenant().await?.ok_or_else(|| ApiError::not_found("No such tenant."))?;
    if !tenant.is_active {
        return Err(SsoFailure::new(ErrorCode::AccountInactive, "the organisation is deactivated").into());
    }
    let (by_subject, by_email) = repo.sso_candidates(&identity.subject, identity.email.as_ref()).await?;
    let method = flow.protocol.as_str();
    let mut user = match admit(&provider.policy, &identity, by_subject, by_email)? {
        Admission::Existing { user, .. } if !user.is_active => {
            return Err(SsoFailure::new(ErrorCode::AccountInactive, "the user is deactivated").into());
        }
        Admission::Existing { user, link } => {
            if link {
                repo.link_sso_subject(user.id, &identity.subject, now).await?;
            }
            user
        }
        Admission::Create { email, role } => {
            if repo.count_active_users().await? >= u64::from(tenant.max_users) {
                return Err(SsoFailure::new(
                    ErrorCode::UserLimitReached,
                    format!("the organisation already has its maximum of {} active users", tenant.max_users),
                )
                .into());
            }
            let name = |raw: &Option<String>| {
                raw.as_deref().and_then(|n| normalize_name(n).ok()).unwrap_or_default()
            };
            let new = NewUser {
                email,
                first_name: name(&identity.first_name),
                last_name: name(&identity.last_name),
                role,
                password_hash: None,
            };
            let user = repo.create_user(new, now).await?;
            repo.link_sso_subject(user.id, &identity.subject, now).await?;
            let details =
                json!({ "email": user.email.as_str(), "role": user.role, "sso_only": true, "via": method });
            repo.record_audit(event(
                Actor::User(user.id),
                AuditAction::UserCreated,
                Some(user.id.to_string()),
                details,
            ))
            .await?;
            user
        }
    };
    if let Some(mapped) = provider.policy.mapped_role(&identity.claims)
        && mapped != user.role
    {
        // The mapping never removes the tenant's last active admin: a wrong group claim must
        // not lock the organisation out of its own settings.
        // Nor the last admin who may still use a password while single sign-on is required.
        let keeps_last_admin = user.role == Role::Admin
            && (repo.count_active_admins().await? <= 1 || repo.is_last_break_glass_admin(&user).await?);
        let details = json!({ "from": user.role, "to": mapped, "applied": !keeps_last_admin });
        if !keeps_last_admin {
            repo.set_role(user.id, mapped, now).await?;
            repo.revoke_user_sessions(user.id, None, now).await?;
            user = User { role: mapped, ..user };
        }
        repo.record_audit(event(
            Actor::User(user.id),
            AuditAction::SsoRoleApplied,
            Some(user.id.to_string()),
            details,
        ))
        .await?;
    }
    repo.record_login(user.id, now).await?;
    let details = json!({ "method": method, "subject": identity.subject });
    repo.record_audit(event(
        Actor::User(user.id),
        AuditAction::LoginSucceeded,
        Some(user.id.to_string()),
        details,
    ))
    .await?;
    repo.finish_sso_flow(flow.id, &handoff_hash, Some(user.id), None, now).await?;
    tx.commit().await?;
    Ok(Landing { purpose: SsoPurpose::SignIn, handoff })
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::sso::RoleRule;
    use domain::{TenantId, UserId};

    fn user(email: &str, subject: Option<&str>) -> User {
        let now = Utc::now();
        User {
            id: UserId::from_uuid(uuid::Uuid::nil()),
            tenant_id: TenantId::from_uuid(uuid::Uuid::nil()),
            email: Email::parse(email).unwrap(),
            first_name: String::new(),
            last_name: String::new(),
            role: Role::User,
            is_active: true,
            has_password: false,
            sso_subject: subject.map(str::to_owned),
            last_login_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn identity(email: Option<&str>, verified: bool, groups: &[&str]) -> Identity {
        let mut claims = domain::sso::Claims::new();
        claims.insert("groups".into(), groups.iter().map(|g| (*g).to_owned()).collect());
        Identity {
            subject: "sub-1".into(),
            email: email.map(|e| Email::parse(e).unwrap()),
            email_verified: verified,
            first_name: None,
            last_name: None,
            claims,
        }
    }

    fn policy(create_users: bool) -> SsoPolicy {
        SsoPolicy {
            allowed_domains: vec!["acme.test".into()],
            default_role: Role::Readonly,
            role_claim: Some("groups".into()),
            role_rules: vec![RoleRule { value: "admins".into(), role: Role::Admin }],
            create_users,
            password_sign_in: true,
        }
    }

    #[test]
    fn a_known_subject_signs_in_and_an_unknown_one_is_created_with_its_mapped_role() {
        let id = identity(Some("ann@acme.test"), true, &["admins"]);
        let known = user("ann@acme.test", Some("sub-1"));
        assert_eq!(
            admit(&policy(false), &id, Some(known.clone()), None).unwrap(),
            Admission::Existing { user: known, link: false }
        );
        assert_eq!(
            admit(&policy(true), &id, None, None).unwrap(),
            Admission::Create { email: Email::parse("ann@acme.test").unwrap(), role: Role::Admin }
        );
        let plain = identity(Some("bob@acme.test"), true, &[]);
        assert!(matches!(
            admit(&policy(true), &plain, None, None).unwrap(),
            Admission::Create { role: Role::Readonly, .. }
        ));
    }

    #[test]
    fn an_email_links_once_and_only_when_the_provider_vouches_for_it() {
        let existing = user("ann@acme.test", None);
        let verified = identity(Some("ann@acme.test"), true, &[]);
        assert_eq!(
            admit(&policy(false), &verified, None, Some(existing.clone())).unwrap(),
            Admission::Existing { user: existing.clone(), link: true }
        );
        let unverified = identity(Some("ann@acme.test"), false, &[]);
        let refused = admit(&policy(false), &unverified, None, Some(existing)).unwrap_err();
        assert_eq!(refused.code, ErrorCode::SsoInvalidResponse);
        let linked_elsewhere = user("ann@acme.test", Some("other-subject"));
        let refused = admit(&policy(false), &verified, None, Some(linked_elsewhere)).unwrap_err();
        assert_eq!(refused.code, ErrorCode::SsoInvalidResponse);
    }

    #[test]
    fn foreign_domains_unknown_users_and_missing_emails_are_refused() {
        let foreign = identity(Some("eve@evil.test"), true, &[]);
        assert_eq!(
            admit(&policy(true), &foreign, None, None).unwrap_err().code,
            ErrorCode::SsoEmailNotAllowed
        );
        let unknown = identity(Some("new@acme.test"), true, &[]);
        assert_eq!(
            admit(&policy(false), &unknown, None, None).unwrap_err().code,
            ErrorCode::SsoUserNotProvisioned
        );
        let no_email = identity(None, false, &[]);
        assert_eq!(
            admit(&policy(true), &no_email, None, None).unwrap_err().code,
            ErrorCode::SsoInvalidResponse
        );
    }

    #[test]
    fn entra_authorities_gain_their_v2_issuer_path() {
        assert_eq!(
            entra_issuer("https://login.microsoftonline.com/contoso-id/"),
            "https://login.microsoftonline.com/contoso-id/v2.0"
        );
        assert_eq!(
            entra_issuer("https://login.microsoftonline.com/x/v2.0"),
            "https://login.microsoftonline.com/x/v2.0"
        );
        assert_eq!(entra_issuer("https://adfs.example.com/adfs"), "https://adfs.example.com/adfs");
    }
}
