//! OpenID Connect relying party: discovery, the authorization request (code flow with PKCE S256,
//! state and nonce), the code exchange, and ID-token validation (signature from the provider's
//! JWKS, issuer, audience, expiry, nonce) — all by the `openidconnect` crate, over the product's
//! one outbound HTTP client. What the ID token says becomes a protocol-neutral
//! [`domain::sso::Identity`].

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::Secret;
use domain::sso::{Claims, EMAIL_CLAIMS, Identity, email_from_claims};
use domain::user::Email;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreResponseType, CoreRevocableToken,
    CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, Client, ClientId,
    ClientSecret, CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IdTokenFields, IssuerUrl, LogoutRequest, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl, RequestTokenError, Scope,
    SignatureVerificationError, StandardErrorResponse, StandardTokenResponse,
};
use outbound::{Outbound, OutboundError};
use serde::{Deserialize, Serialize};

/// How far the provider's clock may be ahead of ours when an ID token's expiry is checked.
const CLOCK_SKEW: chrono::Duration = chrono::Duration::seconds(60);
/// The ID-token signatures accepted: asymmetric ones only.
const SIGNATURE_ALGORITHMS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];
/// The longest wait for any one call to the provider (discovery, JWKS, token).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The most a provider's answer may hold: discovery documents and key sets are a few KB.
const MAX_ANSWER_BYTES: usize = 512 * 1024;

/// Every claim the ID token carries beyond the standard ones (`oid`, `upn`, `groups`, `roles`…).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OtherClaims {
    #[serde(flatten)]
    claims: serde_json::Map<String, serde_json::Value>,
}

impl AdditionalClaims for OtherClaims {}

type TokenResponse = StandardTokenResponse<
    IdTokenFields<
        OtherClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

type RpClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A provider's discovery document with its signing keys, as fetched at one moment.
pub type ProviderMetadata = ProviderMetadataWithLogout;

/// What went wrong, in words fit for an audit log (no tokens, no secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    #[error("the OpenID Connect settings are not valid: {0}")]
    Settings(String),
    #[error("the identity provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the identity provider refused: {0}")]
    Refused(String),
    #[error("the ID token's signature does not verify against the provider's keys")]
    BadSignature,
    #[error("the ID token is for another application")]
    WrongAudience,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token does not match this sign-in: {0}")]
    Invalid(String),
}

/// Fetches `issuer`'s discovery document and signing keys. Plain `http` issuers are refused
/// unless `allow_http` (local development and tests on loopback).
pub async fn discover(
    http: &Outbound,
    issuer: &str,
    allow_http: bool,
) -> Result<ProviderMetadata, OidcError> {
    let issuer = issuer_url(issuer, allow_http)?;
    let call = |request| send(http, request);
    ProviderMetadata::discover_async(issuer, &call).await.map_err(|e| match e {
        openidconnect::DiscoveryError::Request(e) => OidcError::Unreachable(e.to_string()),
        openidconnect::DiscoveryError::Response(status, _, _) => {
            OidcError::Unreachable(format!("the provider answered HTTP {status}"))
        }
        other => OidcError::Invalid(format!("the discovery document is not valid: {other}")),
    })
}

/// A validated issuer URL.
pub fn issuer_url(issuer: &str, allow_http: bool) -> Result<IssuerUrl, OidcError> {
    let url = IssuerUrl::new(issuer.trim_end_matches('/').to_owned())
        .map_err(|e| OidcError::Settings(format!("the issuer is not a URL: {e}")))?;
    match url.url().scheme() {
        "https" => Ok(url),
        "http" if allow_http => Ok(url),
        _ => Err(OidcError::Settings("the issuer must be an https URL".to_owned())),
    }
}

/// The relying party for one tenant: its provider's metadata and its registration there.
#[derive(Clone)]
pub struct RelyingParty {
    client: RpClient,
    metadata: Arc<ProviderMetadata>,
    client_id: String,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty")
            .field("issuer", &self.metadata.issuer().as_str())
            .finish_non_exhaustive()
    }
}

/// Where to send the browser, and what the callback needs to finish (store all three).
pub struct AuthorizationRequest {
    pub url: String,
    pub state: Secret<String>,
    pub nonce: String,
    pub pkce_verifier: Secret<String>,
}

/// An ID token as received from the token endpoint, not yet verified.
pub struct UnverifiedIdToken(String);

impl RelyingParty {
    pub fn new(
        metadata: Arc<ProviderMetadata>,
        client_id: &str,
        client_secret: Option<&Secret<String>>,
        redirect_uri: &str,
    ) -> Result<Self, OidcError> {
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| OidcError::Settings(format!("the redirect URI is not a URL: {e}")))?;
        let client = Client::from_provider_metadata(
            (*metadata).clone(),
            ClientId::new(client_id.to_owned()),
            client_secret.map(|s| ClientSecret::new(s.expose().clone())),
        )
        .set_redirect_uri(redirect);
        Ok(Self { client, metadata, client_id: client_id.to_owned() })
    }

    /// The authorization request: code flow, PKCE S256, fresh state and nonce, scopes
    /// `openid email profile`, and the user's email as `login_hint` when known.
    pub fn authorize(&self, login_hint: Option<&str>) -> AuthorizationRequest {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".to_owned()))
            .add_scope(Scope::new("profile".to_owned()))
            .set_pkce_challenge(challenge);
        if let Some(hint) = login_hint {
            request = request.add_extra_param("login_hint", hint.to_owned());
        }
        let (url, state, nonce) = request.url();
        AuthorizationRequest {
            url: url.to_string(),
            state: Secret::new(state.secret().clone()),
            nonce: nonce.secret().clone(),
            pkce_verifier: Secret::new(verifier.secret().clone()),
        }
    }

    /// Redeems the authorization code (with the PKCE verifier) for an ID token.
    pub async fn exchange(
        &self,
        http: &Outbound,
        code: &str,
        pkce_verifier: &Secret<String>,
    ) -> Result<UnverifiedIdToken, OidcError> {
        let call = |request| send(http, request);
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|_| OidcError::Settings("the provider publishes no token endpoint".to_owned()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.expose().clone()))
            .request_async(&call)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(answer) => {
                    let mut text = answer.error().as_ref().to_owned();
                    if let Some(description) = answer.error_description() {
                        text = format!("{text}: {}", truncate(description));
                    }
                    OidcError::Refused(text)
                }
                RequestTokenError::Request(e) => OidcError::Unreachable(e.to_string()),
                RequestTokenError::Parse(e, _) => {
                    OidcError::Invalid(format!("the token answer is not valid: {e}"))
                }
                RequestTokenError::Other(e) => OidcError::Invalid(truncate(&e)),
            })?;
        let token = response
            .extra_fields()
            .id_token()
            .ok_or_else(|| OidcError::Invalid("the token answer has no ID token".to_owned()))?;
        Ok(UnverifiedIdToken(token.to_string()))
    }

    /// Verifies the ID token's signature (against the keys this party's metadata holds), issuer,
    /// audience, expiry and nonce at `now`, and reads the identity from its claims. A token
    /// signed with a key this metadata lacks is [`OidcError::BadSignature`]: fetch the metadata
    /// again (the provider may have rotated its keys) and retry once.
    pub fn verify(
        &self,
        token: &UnverifiedIdToken,
        nonce: &str,
        now: DateTime<Utc>,
    ) -> Result<Identity, OidcError> {
        let id_token: openidconnect::IdToken<
            OtherClaims,
            CoreGenderClaim,
            CoreJweContentEncryptionAlgorithm,
            CoreJwsSigningAlgorithm,
        > = token.0.parse().map_err(|_| OidcError::Invalid("the ID token is not a JWT".to_owned()))?;
        // Signatures only (never a MAC keyed with our own client secret, which a provider
        // advertising HS256 would allow), and a little slack for the provider's clock.
        let verifier = self
            .client
            .id_token_verifier()
            .set_allowed_algs(SIGNATURE_ALGORITHMS)
            .set_time_fn(move || now - CLOCK_SKEW);
        let claims = id_token.claims(&verifier, &Nonce::new(nonce.to_owned())).map_err(|e| match e {
            ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey | SignatureVerificationError::CryptoError(_),
            ) => OidcError::BadSignature,
            ClaimsVerificationError::SignatureVerification(other) => {
                OidcError::Invalid(format!("the signature cannot be checked: {other}"))
            }
            ClaimsVerificationError::InvalidAudience(_) => OidcError::WrongAudience,
            ClaimsVerificationError::Expired(_) => OidcError::Expired,
            ClaimsVerificationError::InvalidNonce(_) => {
                OidcError::Invalid("the nonce does not match".to_owned())
            }
            ClaimsVerificationError::InvalidIssuer(_) => {
                OidcError::Invalid("the issuer does not match".to_owned())
            }
            other => OidcError::Invalid(truncate(&other.to_string())),
        })?;

        let mut all = Claims::new();
        for (name, value) in &claims.additional_claims().claims {
            all.insert(name.clone(), claim_values(value));
        }
        let mut put = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                all.insert(name.to_owned(), vec![value]);
            }
        };
        put("sub", Some(claims.subject().to_string()));
        put("iss", Some(claims.issuer().to_string()));
        put("email", claims.email().map(|e| e.to_string()));
        put("email_verified", claims.email_verified().map(|v| v.to_string()));
        put("name", claims.name().and_then(|n| n.get(None)).map(|n| n.to_string()));
        put("given_name", claims.given_name().and_then(|n| n.get(None)).map(|n| n.to_string()));
        put("family_name", claims.family_name().and_then(|n| n.get(None)).map(|n| n.to_string()));
        put("preferred_username", claims.preferred_username().map(|n| n.to_string()));

        // Entra's `oid` is the user's id across the directory's applications; `sub` is pairwise.
        let subject = first(&all, "oid").unwrap_or_else(|| claims.subject().to_string());
        let (email, email_verified) = email_of(&all, claims.email_verified());
        // Without given and family names (ADFS often sends only `name`), the whole name is the first.
        let first_name = first(&all, "given_name")
            .or_else(|| first(&all, "family_name").is_none().then(|| first(&all, "name")).flatten());
        let last_name = first(&all, "family_name");
        Ok(Identity { subject, email, email_verified, first_name, last_name, claims: all })
    }

    /// The provider's end-session URL, when it publishes one (RP-initiated logout), coming back
    /// to `post_logout_redirect`.
    pub fn end_session_url(&self, post_logout_redirect: &str) -> Option<String> {
        let endpoint = self.metadata.additional_metadata().end_session_endpoint.clone()?;
        let mut request = LogoutRequest::from(endpoint).set_client_id(ClientId::new(self.client_id.clone()));
        if let Ok(back) = PostLogoutRedirectUrl::new(post_logout_redirect.to_owned()) {
            request = request.set_post_logout_redirect_uri(back);
        }
        Some(request.http_get_url().to_string())
    }
}

/// The email and whether the provider vouches for it: `email` counts when `email_verified` is
/// true; otherwise the directory's `upn` (Entra, ADFS) or `preferred_username`, which the
/// directory assigns, stand in. An `email` without `email_verified` (Entra sends none) is used
/// only to create users, never to link an existing account.
fn email_of(claims: &Claims, email_verified: Option<bool>) -> (Option<Email>, bool) {
    if email_verified == Some(true)
        && let Some(email) = email_from_claims(claims, &["email"])
    {
        return (Some(email), true);
    }
    if let Some(email) = email_from_claims(claims, &["upn"]) {
        return (Some(email), true);
    }
    (email_from_claims(claims, &EMAIL_CLAIMS), false)
}

fn first(claims: &Claims, name: &str) -> Option<String> {
    claims.get(name).and_then(|v| v.first()).filter(|v| !v.is_empty()).cloned()
}

/// A claim's value as strings: arrays element by element, other scalars as their JSON text.
fn claim_values(value: &serde_json::Value) -> Vec<String> {
    match value {
        serde_json::Value::Array(items) => items.iter().flat_map(claim_values).collect(),
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Null => Vec::new(),
        other => vec![other.to_string()],
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(200).collect()
}

/// One request of the `openidconnect` crate over the outbound client: its policy, timeouts and
/// size cap apply, and a redirect comes back as a status (discovery never follows one).
async fn send(
    http: &Outbound,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, OutboundError> {
    let (parts, body) = request.into_parts();
    let mut outgoing = http.request(parts.method, &parts.uri.to_string())?;
    for (name, value) in &parts.headers {
        // The token request's client authentication is the only credential here.
        let value = value.to_str().unwrap_or_default();
        outgoing = if name == outbound::header::AUTHORIZATION {
            outgoing.secret_header(name.clone(), value)
        } else {
            outgoing.header(name.clone(), value)
        };
    }
    if !body.is_empty() {
        outgoing = outgoing.body(body);
    }
    let answer = outgoing.send(CALL_TIMEOUT).await?;
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer.read_capped(MAX_ANSWER_BYTES).await?;
    let mut response = openidconnect::HttpResponse::new(bytes.to_vec());
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

#[cfg(test)]
mod tests {
    //! ID-token verification with tokens signed here (fixtures in `fixtures/oidc/`): the cases a
    //! real provider never produces — another audience, issuer or nonce, another key, no
    //! signature — can only be made by signing them ourselves.

    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use chrono::TimeZone as _;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use openidconnect::core::CoreJsonWebKeySet;
    use serde_json::{Value, json};

    use super::*;

    const ISSUER: &str = "https://login.acme.test/tenant-1/v2.0";
    const CLIENT_ID: &str = "prompt-manager";
    const CLIENT_SECRET: &str = "the-client-secret-of-prompt-manager";
    const REDIRECT: &str = "http://localhost:7860/auth/callback";
    const NONCE: &str = "n-0S6_WzA2Mj";
    const KID: &str = "provider-key-1";
    const PROVIDER_KEY: &str = include_str!("fixtures/oidc/provider-key.pem");
    const OTHER_KEY: &str = include_str!("fixtures/oidc/other-key.pem");
    const JWKS: &str = include_str!("fixtures/oidc/jwks.json");

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).single().unwrap()
    }

    fn metadata() -> ProviderMetadata {
        metadata_with_algorithms(&["RS256"])
    }

    fn metadata_with_algorithms(algorithms: &[&str]) -> ProviderMetadata {
        let discovery = json!({
            "issuer": ISSUER,
            "authorization_endpoint": format!("{ISSUER}/authorize"),
            "token_endpoint": format!("{ISSUER}/token"),
            "jwks_uri": format!("{ISSUER}/keys"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algorithms,
        });
        let keys: CoreJsonWebKeySet = serde_json::from_str(JWKS).unwrap();
        serde_json::from_value::<ProviderMetadata>(discovery).unwrap().set_jwks(keys)
    }

    fn party(confidential: bool) -> RelyingParty {
        let secret = Secret::new(CLIENT_SECRET.to_owned());
        RelyingParty::new(Arc::new(metadata()), CLIENT_ID, confidential.then_some(&secret), REDIRECT).unwrap()
    }

    /// Claims as Entra ID sends them (with `email_verified`, which Entra itself omits).
    fn claims() -> Value {
        let now = now().timestamp();
        json!({
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "iat": now - 10,
            "exp": now + 300,
            "nonce": NONCE,
            "sub": "pairwise-sub-of-ann",
            "oid": "00000000-0000-0000-66f3-3332eca7ea81",
            "email": "Ann@Acme.test",
            "email_verified": true,
            "groups": ["prompt-admins", "engineering"],
            "upn": "ann.upn@acme.test",
            "given_name": "Ann",
            "family_name": "Example",
        })
    }

    /// The DER inside a PKCS#1 PEM (`jsonwebtoken` is built without its PEM feature).
    fn der(pem: &str) -> Vec<u8> {
        let body: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
        STANDARD.decode(body).unwrap()
    }

    fn sign_with(pem: &str, kid: Option<&str>, claims: &Value) -> UnverifiedIdToken {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(str::to_owned);
        let key = EncodingKey::from_rsa_der(&der(pem));
        UnverifiedIdToken(jsonwebtoken::encode(&header, claims, &key).unwrap())
    }

    fn sign(claims: &Value) -> UnverifiedIdToken {
        sign_with(PROVIDER_KEY, Some(KID), claims)
    }

    fn with(mut claims: Value, changes: Value) -> Value {
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        claims
    }

    /// Refused before any key is tried: not a JWT, or no signature this party accepts.
    fn refused_unchecked(result: &Result<Identity, OidcError>) -> bool {
        matches!(result, Err(OidcError::Invalid(why))
            if why == "the ID token is not a JWT" || why.starts_with("the signature cannot be checked"))
    }

    fn verify(claims: &Value) -> Result<Identity, OidcError> {
        party(true).verify(&sign(claims), NONCE, now())
    }

    #[test]
    fn a_valid_token_gives_the_identity() {
        let identity = verify(&claims()).unwrap();
        assert_eq!(identity.subject, "00000000-0000-0000-66f3-3332eca7ea81");
        assert_eq!(identity.email.as_ref().map(Email::as_str), Some("ann@acme.test"));
        assert!(identity.email_verified);
        assert_eq!(identity.first_name.as_deref(), Some("Ann"));
        assert_eq!(identity.last_name.as_deref(), Some("Example"));
        let claim = |name: &str| identity.claims.get(name).cloned().unwrap_or_default();
        assert_eq!(claim("groups"), ["prompt-admins", "engineering"]);
        assert_eq!(claim("sub"), ["pairwise-sub-of-ann"]);
        assert_eq!(claim("iss"), [ISSUER]);
        assert_eq!(claim("email_verified"), ["true"]);
        assert_eq!(claim("upn"), ["ann.upn@acme.test"]);
    }

    #[test]
    fn a_public_client_verifies_too() {
        let identity = party(false).verify(&sign(&claims()), NONCE, now()).unwrap();
        assert_eq!(identity.subject, "00000000-0000-0000-66f3-3332eca7ea81");
    }

    #[test]
    fn a_token_without_kid_verifies_against_the_only_key() {
        let token = sign_with(PROVIDER_KEY, None, &claims());
        assert!(party(true).verify(&token, NONCE, now()).is_ok());
    }

    #[test]
    fn without_oid_the_subject_is_sub() {
        let identity = verify(&with(claims(), json!({ "oid": null }))).unwrap();
        assert_eq!(identity.subject, "pairwise-sub-of-ann");
    }

    #[test]
    fn an_unverified_email_gives_way_to_the_upn() {
        let identity = verify(&with(claims(), json!({ "email_verified": null }))).unwrap();
        assert_eq!(identity.email.as_ref().map(Email::as_str), Some("ann.upn@acme.test"));
        assert!(identity.email_verified);

        let identity = verify(&with(claims(), json!({ "email_verified": false }))).unwrap();
        assert_eq!(identity.email.as_ref().map(Email::as_str), Some("ann.upn@acme.test"));
        assert!(identity.email_verified);
    }

    #[test]
    fn an_email_without_verification_or_upn_is_used_unverified() {
        let identity = verify(&with(claims(), json!({ "email_verified": null, "upn": null }))).unwrap();
        assert_eq!(identity.email.as_ref().map(Email::as_str), Some("ann@acme.test"));
        assert!(!identity.email_verified);
    }

    #[test]
    fn only_preferred_username_gives_an_unverified_email() {
        let claims = with(
            claims(),
            json!({
                "email": null,
                "email_verified": null,
                "upn": null,
                "preferred_username": "ann.pref@acme.test",
            }),
        );
        let identity = verify(&claims).unwrap();
        assert_eq!(identity.email.as_ref().map(Email::as_str), Some("ann.pref@acme.test"));
        assert!(!identity.email_verified);
        assert_eq!(
            identity.claims.get("preferred_username").cloned(),
            Some(vec!["ann.pref@acme.test".to_owned()])
        );
    }

    #[test]
    fn no_email_claim_gives_no_email() {
        let claims = with(claims(), json!({ "email": null, "email_verified": null, "upn": null }));
        let identity = verify(&claims).unwrap();
        assert_eq!(identity.email, None);
        assert!(!identity.email_verified);
    }

    #[test]
    fn only_name_is_the_first_name() {
        let claims =
            with(claims(), json!({ "given_name": null, "family_name": null, "name": "Ann Example" }));
        let identity = verify(&claims).unwrap();
        assert_eq!(identity.first_name.as_deref(), Some("Ann Example"));
        assert_eq!(identity.last_name, None);
    }

    #[test]
    fn a_token_for_another_client_is_refused() {
        let claims = with(claims(), json!({ "aud": "another-app" }));
        assert_eq!(verify(&claims), Err(OidcError::WrongAudience));
    }

    #[test]
    fn a_token_also_for_another_client_is_refused() {
        let claims = with(claims(), json!({ "aud": [CLIENT_ID, "another-app"] }));
        assert_eq!(verify(&claims), Err(OidcError::WrongAudience));
    }

    #[test]
    fn an_expired_token_is_refused() {
        let exp = now().timestamp() + 300;
        let token = sign(&claims());
        let party = party(true);
        let at = |seconds| Utc.timestamp_opt(seconds, 0).single().unwrap();
        // A minute of slack for the provider's clock, and not a second more.
        assert!(party.verify(&token, NONCE, at(exp + 59)).is_ok());
        assert_eq!(party.verify(&token, NONCE, at(exp + 60)), Err(OidcError::Expired));
        assert_eq!(party.verify(&token, NONCE, at(exp + 3600)), Err(OidcError::Expired));
    }

    #[test]
    fn a_wrong_or_missing_nonce_is_refused() {
        let token = sign(&claims());
        assert!(matches!(party(true).verify(&token, "another-nonce", now()), Err(OidcError::Invalid(_))));
        let without = with(claims(), json!({ "nonce": null }));
        assert!(matches!(verify(&without), Err(OidcError::Invalid(_))));
    }

    #[test]
    fn a_wrong_issuer_is_refused() {
        for issuer in ["https://login.evil.test/tenant-1/v2.0", "https://login.acme.test/tenant-2/v2.0"] {
            let claims = with(claims(), json!({ "iss": issuer }));
            assert_eq!(verify(&claims), Err(OidcError::Invalid("the issuer does not match".to_owned())));
        }
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        // The provider's key id, another key: the signature check itself fails.
        let token = sign_with(OTHER_KEY, Some(KID), &claims());
        assert_eq!(party(true).verify(&token, NONCE, now()), Err(OidcError::BadSignature));
        let token = sign_with(OTHER_KEY, None, &claims());
        assert_eq!(party(true).verify(&token, NONCE, now()), Err(OidcError::BadSignature));
    }

    #[test]
    fn a_key_id_the_provider_does_not_publish_is_refused() {
        // Also what a key rotation looks like: the caller refetches the metadata and retries.
        let token = sign_with(PROVIDER_KEY, Some("rotated-key-2"), &claims());
        assert_eq!(party(true).verify(&token, NONCE, now()), Err(OidcError::BadSignature));
    }

    #[test]
    fn a_token_from_another_provider_is_refused() {
        let claims = with(claims(), json!({ "iss": "https://login.evil.test/v2.0" }));
        let token = sign_with(OTHER_KEY, Some("evil-key"), &claims);
        // The issuer is checked before the signature: no refetch of the keys for a stranger's token.
        let result = party(true).verify(&token, NONCE, now());
        assert_eq!(result, Err(OidcError::Invalid("the issuer does not match".to_owned())));
    }

    #[test]
    fn an_unsigned_token_is_refused() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
        for token in [format!("{header}.{payload}."), format!("{header}.{payload}")] {
            for secret in [true, false] {
                let result = party(secret).verify(&UnverifiedIdToken(token.clone()), NONCE, now());
                assert!(refused_unchecked(&result), "{result:?}");
            }
        }
    }

    #[test]
    fn an_hmac_token_is_refused() {
        // Signed with the client secret, as a provider advertising HS256 would: this provider
        // advertises RS256 only, and a public client has no secret to check it with.
        let key = EncodingKey::from_secret(CLIENT_SECRET.as_bytes()).unwrap();
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(), &key).unwrap();
        for secret in [true, false] {
            let result = party(secret).verify(&UnverifiedIdToken(token.clone()), NONCE, now());
            assert!(refused_unchecked(&result), "{result:?}");
        }
        // Even from a provider that advertises HS256: our own secret must not mint identities.
        let secret = Secret::new(CLIENT_SECRET.to_owned());
        let metadata = Arc::new(metadata_with_algorithms(&["RS256", "HS256"]));
        let lax = RelyingParty::new(metadata, CLIENT_ID, Some(&secret), REDIRECT).unwrap();
        let result = lax.verify(&UnverifiedIdToken(token), NONCE, now());
        assert!(refused_unchecked(&result), "{result:?}");
    }

    #[test]
    fn a_tampered_token_is_refused() {
        let token = sign(&claims()).0;
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let forged = with(claims(), json!({ "oid": "someone-else" }));
        parts[1] = URL_SAFE_NO_PAD.encode(forged.to_string());
        let result = party(true).verify(&UnverifiedIdToken(parts.join(".")), NONCE, now());
        assert_eq!(result, Err(OidcError::BadSignature));
    }

    #[test]
    fn garbage_is_not_a_jwt() {
        for token in ["", "not-a-jwt", "a.b.c"] {
            let result = party(true).verify(&UnverifiedIdToken(token.to_owned()), NONCE, now());
            assert!(matches!(result, Err(OidcError::Invalid(_))), "{token}: {result:?}");
        }
    }

    #[test]
    fn issuer_urls() {
        assert_eq!(
            issuer_url("https://login.acme.test/t/v2.0/", false).unwrap().as_str(),
            "https://login.acme.test/t/v2.0"
        );
        assert!(issuer_url("https://login.acme.test", false).is_ok());
        assert!(matches!(issuer_url("http://127.0.0.1:17000", false), Err(OidcError::Settings(_))));
        assert!(issuer_url("http://127.0.0.1:17000", true).is_ok());
        for garbage in ["", "login.acme.test", "not a url", "ftp://login.acme.test", "file:///etc/passwd"] {
            for allow_http in [false, true] {
                assert!(matches!(issuer_url(garbage, allow_http), Err(OidcError::Settings(_))), "{garbage}");
            }
        }
    }
}
