//! SAML 2.0 Web Browser SSO, service-provider side: the protocol only (no HTTP, no storage, the
//! clock is a parameter).
//!
//! - [`IdpMetadata`]: what we trust of an identity provider, from its metadata XML or from values an
//!   admin pasted (entity id, SSO URL, signing certificate).
//! - [`ServiceProvider`]: our side — its metadata XML, SP-initiated `AuthnRequest`s over the
//!   HTTP-Redirect binding, and full verification of the HTTP-POST `SAMLResponse`.
//!
//! Verification (see [`ServiceProvider::verify_response`]) refuses DTDs, comments, CDATA, non-UTF-8
//! documents, encrypted assertions and responses holding more than one assertion; it lets xmlsec
//! (through samael) verify every signature against the IdP's certificates (RSA/ECDSA with SHA-2
//! only) and reads the assertion only from the part of the document the signatures cover, so an
//! unsigned, injected assertion is never the one read (XML signature wrapping). Then it checks the
//! status, issuers, destination, recipient, `InResponseTo`, validity window and audience.
//! Replay protection is the caller's: record [`SamlAssertion::assertion_id`] until
//! [`SamlAssertion::not_on_or_after`].
//!
//! xmlsec is initialised once per process by samael (behind a mutex) on the first verification;
//! each verification then uses its own document and signature context, so verifying on several
//! threads at once is fine (a unit test does it). xmlsec reports each verification failure on
//! stderr itself (`func=xmlSecOpenSSLEvpSignatureVerify:…`); that text holds no secret.

use std::collections::BTreeMap;
use std::io::Write;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use flate2::Compression;
use flate2::write::DeflateEncoder;
use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoError, CryptoProvider, ReduceMode,
};
use samael::metadata::{EntityDescriptor, IdpSsoDescriptor, KeyDescriptor};
use samael::schema::{Assertion, Response};
use sha2::{Digest, Sha256};
use url::Url;

const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const METADATA_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
const STATUS_PREFIX: &str = "urn:oasis:names:tc:SAML:2.0:status:";
const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
pub const NAME_ID_FORMAT_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
pub const NAME_ID_FORMAT_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

/// Larger `SAMLResponse` values are refused before any parsing (real ones are a few KiB).
const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// SAML bindings §3.4.3: RelayState MUST NOT exceed 80 bytes.
const MAX_RELAY_STATE_BYTES: usize = 80;

/// Signature and digest algorithms we accept (SHA-1 and anything else are refused).
const ALLOWED_ALGORITHMS: &[AllowedSignatureAlgorithm] = &[
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// Why a SAML message or metadata was refused. Descriptions are short, fixed texts (plus a SAML
/// status URI), never attacker-supplied content or secrets, so they can go into an audit log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SamlError {
    #[error("malformed SAML message: {0}")]
    Malformed(&'static str),
    /// The IdP answered with an error status: the top-level status code URI (only
    /// `urn:oasis:names:tc:SAML:2.0:status:*` values; anything else becomes `other`).
    #[error("the identity provider refused the sign-in: {0}")]
    StatusNotSuccess(String),
    #[error("the signature does not verify with the identity provider's certificates")]
    BadSignature,
    #[error("the response is not signed, or no signature covers the assertion")]
    Unsigned,
    #[error("the issuer is not the configured identity provider")]
    WrongIssuer,
    #[error("the assertion is not meant for this service provider (audience)")]
    WrongAudience,
    #[error("the response is addressed to another URL (Destination)")]
    WrongDestination,
    #[error("the assertion is meant for another URL (Recipient)")]
    WrongRecipient,
    #[error("the response does not answer our sign-in request (InResponseTo)")]
    InResponseToMismatch,
    #[error("the assertion has expired")]
    Expired,
    #[error("the assertion is not valid yet")]
    NotYetValid,
    #[error("the response holds no assertion")]
    NoAssertion,
    #[error("the response holds more than one assertion")]
    MultipleAssertions,
    #[error("encrypted assertions are not supported; configure the identity provider to sign, not encrypt")]
    EncryptedAssertionUnsupported,
    #[error("unusable identity provider metadata: {0}")]
    Metadata(&'static str),
    /// Our own configuration or arguments are unusable (e.g. an ACS URL that is not a URL).
    #[error("invalid SAML request parameters: {0}")]
    InvalidRequest(&'static str),
}

impl SamlError {
    /// A stable snake_case code for audit logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            SamlError::Malformed(_) => "saml_malformed",
            SamlError::StatusNotSuccess(_) => "saml_status_not_success",
            SamlError::BadSignature => "saml_bad_signature",
            SamlError::Unsigned => "saml_unsigned",
            SamlError::WrongIssuer => "saml_wrong_issuer",
            SamlError::WrongAudience => "saml_wrong_audience",
            SamlError::WrongDestination => "saml_wrong_destination",
            SamlError::WrongRecipient => "saml_wrong_recipient",
            SamlError::InResponseToMismatch => "saml_in_response_to_mismatch",
            SamlError::Expired => "saml_expired",
            SamlError::NotYetValid => "saml_not_yet_valid",
            SamlError::NoAssertion => "saml_no_assertion",
            SamlError::MultipleAssertions => "saml_multiple_assertions",
            SamlError::EncryptedAssertionUnsupported => "saml_encrypted_assertion_unsupported",
            SamlError::Metadata(_) => "saml_metadata",
            SamlError::InvalidRequest(_) => "saml_invalid_request",
        }
    }
}

/// What we trust of an identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    pub entity_id: String,
    /// The SingleSignOnService location for the HTTP-Redirect binding.
    pub sso_redirect_url: String,
    /// The SingleLogoutService location (HTTP-Redirect preferred, else HTTP-POST), if published.
    pub slo_url: Option<String>,
    /// X.509 signing certificates, DER. A signature from any of them is accepted (key rollover).
    pub signing_certs: Vec<Vec<u8>>,
}

impl IdpMetadata {
    /// Parses an IdP's metadata: an `EntityDescriptor` with an `IDPSSODescriptor`, or an
    /// `EntitiesDescriptor` holding exactly one such entity. Signing certificates are the
    /// `KeyDescriptor`s with `use="signing"`, or those without `use` if there are none.
    pub fn parse(xml: &str) -> Result<IdpMetadata, SamlError> {
        let xml = xml.strip_prefix('\u{feff}').unwrap_or(xml);
        check_markup(xml, Strictness::Metadata)?;
        let root = root_local_name(xml).ok_or(SamlError::Metadata("no root element"))?;
        let entity = match root {
            "EntityDescriptor" => EntityDescriptor::from_str(xml)
                .map_err(|_| SamlError::Metadata("the EntityDescriptor does not parse"))?,
            "EntitiesDescriptor" => {
                let all = samael::metadata::EntitiesDescriptor::from_str(xml)
                    .map_err(|_| SamlError::Metadata("the EntitiesDescriptor does not parse"))?;
                let mut idps = all
                    .descriptors
                    .iter()
                    .flat_map(|d| d.iter())
                    .filter(|e| e.idp_sso_descriptors.as_ref().is_some_and(|d| !d.is_empty()));
                let first = idps.next().cloned();
                if idps.next().is_some() {
                    return Err(SamlError::Metadata("the metadata describes several identity providers"));
                }
                first.ok_or(SamlError::Metadata("no IDPSSODescriptor"))?
            }
            _ => return Err(SamlError::Metadata("the root element is not an EntityDescriptor")),
        };
        let entity_id = entity
            .entity_id
            .filter(|id| !id.trim().is_empty())
            .ok_or(SamlError::Metadata("the entityID is missing"))?;
        let descriptor = entity
            .idp_sso_descriptors
            .unwrap_or_default()
            .into_iter()
            .find(|d| {
                d.protocol_support_enumeration
                    .as_deref()
                    .is_some_and(|p| p.split_whitespace().any(|p| p == PROTOCOL_NS))
            })
            .ok_or(SamlError::Metadata("no IDPSSODescriptor for the SAML 2.0 protocol"))?;
        let sso_redirect_url = descriptor
            .single_sign_on_services
            .iter()
            .find(|s| s.binding == BINDING_REDIRECT)
            .map(|s| s.location.clone())
            .ok_or(SamlError::Metadata("no SingleSignOnService with the HTTP-Redirect binding"))?;
        let slo_url = [BINDING_REDIRECT, BINDING_POST].iter().find_map(|binding| {
            descriptor
                .single_logout_services
                .iter()
                .find(|s| s.binding == *binding)
                .map(|s| s.location.clone())
        });
        let signing_certs = signing_certs(&descriptor)?;
        let idp = IdpMetadata { entity_id, sso_redirect_url, slo_url, signing_certs };
        idp.check()?;
        Ok(idp)
    }

    /// Built from values an admin pasted (e.g. from ADFS): the IdP's entity id, its SSO URL
    /// (HTTP-Redirect binding) and one or more PEM certificates (concatenated).
    pub fn from_parts(
        entity_id: &str,
        sso_redirect_url: &str,
        certs_pem: &str,
    ) -> Result<IdpMetadata, SamlError> {
        let signing_certs = parse_pem_certificates(certs_pem)?;
        let idp = IdpMetadata {
            entity_id: entity_id.trim().to_owned(),
            sso_redirect_url: sso_redirect_url.trim().to_owned(),
            slo_url: None,
            signing_certs,
        };
        idp.check()?;
        Ok(idp)
    }

    /// The signing certificates as PEM (to store or show them).
    pub fn signing_certs_pem(&self) -> String {
        self.signing_certs.iter().map(|der| der_to_pem(der)).collect()
    }

    /// SHA-256 fingerprints of the signing certificates, upper-case hex with colons (as admin
    /// consoles show them).
    pub fn signing_cert_fingerprints(&self) -> Vec<String> {
        self.signing_certs
            .iter()
            .map(|der| Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":"))
            .collect()
    }

    fn check(&self) -> Result<(), SamlError> {
        if self.entity_id.is_empty() {
            return Err(SamlError::Metadata("the entity id is empty"));
        }
        if !is_http_url(&self.sso_redirect_url) {
            return Err(SamlError::Metadata("the SSO URL is not an http(s) URL"));
        }
        if self.slo_url.as_deref().is_some_and(|u| !is_http_url(u)) {
            return Err(SamlError::Metadata("the logout URL is not an http(s) URL"));
        }
        if self.signing_certs.is_empty() {
            return Err(SamlError::Metadata("no signing certificate"));
        }
        if !self.signing_certs.iter().all(|der| looks_like_der_certificate(der)) {
            return Err(SamlError::Metadata("a signing certificate is not an X.509 certificate"));
        }
        Ok(())
    }
}

/// Our side of the federation (per tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceProvider {
    /// Our entity id (also the audience the IdP must name), e.g. `<origin>/auth/saml/{tenant}`.
    pub entity_id: String,
    /// Our Assertion Consumer Service (HTTP-POST binding), e.g. `<origin>/auth/saml/acs`.
    pub acs_url: String,
}

/// Where to send the browser for an SP-initiated sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthnRedirect {
    /// The AuthnRequest's ID: keep it (e.g. in the sign-in state) and pass it to
    /// [`ServiceProvider::verify_response`] as `expected_request_id`.
    pub request_id: String,
    /// The IdP's SSO URL with `SAMLRequest` (deflated, base64) and `RelayState`.
    pub url: String,
}

/// A verified assertion: everything read from it was covered by a valid IdP signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlAssertion {
    /// For replay protection: remember it until `not_on_or_after`.
    pub assertion_id: String,
    pub issuer: String,
    pub name_id: String,
    pub name_id_format: Option<String>,
    /// From the AuthnStatement (needed for single logout).
    pub session_index: Option<String>,
    /// The earliest of the Conditions' and the bearer SubjectConfirmationData's NotOnOrAfter.
    pub not_on_or_after: DateTime<Utc>,
    /// Attribute `Name` → values, in document order (several AttributeStatements are merged).
    pub attributes: BTreeMap<String, Vec<String>>,
}

impl SamlAssertion {
    /// The first value of an attribute.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).and_then(|v| v.first()).map(String::as_str)
    }
}

impl ServiceProvider {
    /// Our SP metadata, for the IdP's admin (served at the entity id URL).
    pub fn metadata_xml(&self) -> String {
        format!(
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                "\n",
                r#"<md:EntityDescriptor xmlns:md="{md}" entityID="{entity_id}">"#,
                "\n  ",
                r#"<md:SPSSODescriptor protocolSupportEnumeration="{protocol}" AuthnRequestsSigned="false" WantAssertionsSigned="true">"#,
                "\n    <md:NameIDFormat>{email}</md:NameIDFormat>",
                "\n    <md:NameIDFormat>{unspecified}</md:NameIDFormat>",
                "\n    ",
                r#"<md:AssertionConsumerService Binding="{post}" Location="{acs}" index="0" isDefault="true"/>"#,
                "\n  </md:SPSSODescriptor>\n</md:EntityDescriptor>\n"
            ),
            md = METADATA_NS,
            entity_id = xml_escape(&self.entity_id),
            protocol = PROTOCOL_NS,
            email = NAME_ID_FORMAT_EMAIL,
            unspecified = NAME_ID_FORMAT_UNSPECIFIED,
            post = BINDING_POST,
            acs = xml_escape(&self.acs_url),
        )
    }

    /// An SP-initiated sign-in over the HTTP-Redirect binding (unsigned request; our metadata says
    /// `AuthnRequestsSigned="false"`). `relay_state` comes back with the response (≤ 80 bytes).
    pub fn authn_request(
        &self,
        idp: &IdpMetadata,
        relay_state: &str,
        now: DateTime<Utc>,
    ) -> Result<AuthnRedirect, SamlError> {
        self.check()?;
        if relay_state.len() > MAX_RELAY_STATE_BYTES {
            return Err(SamlError::InvalidRequest("RelayState is longer than 80 bytes"));
        }
        let mut url = Url::parse(&idp.sso_redirect_url)
            .map_err(|_| SamlError::Metadata("the SSO URL is not an http(s) URL"))?;
        // An NCName: a letter or underscore first; 128 random bits.
        let request_id = format!("_{}", uuid::Uuid::new_v4().simple());
        let xml = format!(
            concat!(
                r#"<samlp:AuthnRequest xmlns:samlp="{protocol}" xmlns:saml="{assertion}" ID="{id}" Version="2.0" "#,
                r#"IssueInstant="{instant}" Destination="{destination}" AssertionConsumerServiceURL="{acs}" "#,
                r#"ProtocolBinding="{post}"><saml:Issuer>{issuer}</saml:Issuer>"#,
                r#"<samlp:NameIDPolicy Format="{unspecified}" AllowCreate="true"/></samlp:AuthnRequest>"#
            ),
            protocol = PROTOCOL_NS,
            assertion = ASSERTION_NS,
            id = request_id,
            instant = now.to_rfc3339_opts(SecondsFormat::Secs, true),
            destination = xml_escape(&idp.sso_redirect_url),
            acs = xml_escape(&self.acs_url),
            post = BINDING_POST,
            issuer = xml_escape(&self.entity_id),
            unspecified = NAME_ID_FORMAT_UNSPECIFIED,
        );
        let mut deflater = DeflateEncoder::new(Vec::new(), Compression::default());
        let deflated = deflater
            .write_all(xml.as_bytes())
            .and_then(|()| deflater.finish())
            .map_err(|_| SamlError::InvalidRequest("the request could not be compressed"))?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("SAMLRequest", &STANDARD.encode(deflated));
            if !relay_state.is_empty() {
                query.append_pair("RelayState", relay_state);
            }
        }
        Ok(AuthnRedirect { request_id, url: url.into() })
    }

    /// Verifies an HTTP-POST binding response (the base64 `SAMLResponse` form field) completely:
    /// signatures (at least the assertion must be covered), status, issuers, Destination,
    /// Recipient, InResponseTo, validity window (±`clock_skew`) and audience.
    pub fn verify_response(
        &self,
        idp: &IdpMetadata,
        saml_response_b64: &str,
        expected_request_id: &str,
        now: DateTime<Utc>,
        clock_skew: Duration,
    ) -> Result<SamlAssertion, SamlError> {
        self.check()?;
        if expected_request_id.is_empty() {
            return Err(SamlError::InvalidRequest("no expected request id"));
        }
        let xml = decode_response(saml_response_b64)?;
        verify_xml(self, idp, &xml, expected_request_id, now, clock_skew)
    }

    fn check(&self) -> Result<(), SamlError> {
        if self.entity_id.trim().is_empty() {
            return Err(SamlError::InvalidRequest("the SP entity id is empty"));
        }
        if !is_http_url(&self.acs_url) {
            return Err(SamlError::InvalidRequest("the ACS URL is not an http(s) URL"));
        }
        Ok(())
    }
}

fn decode_response(b64: &str) -> Result<String, SamlError> {
    // Form posts may wrap base64 in lines.
    let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.len() > MAX_RESPONSE_BYTES * 4 / 3 + 4 {
        return Err(SamlError::Malformed("the response is too large"));
    }
    let bytes = STANDARD.decode(compact).map_err(|_| SamlError::Malformed("SAMLResponse is not base64"))?;
    let xml = String::from_utf8(bytes).map_err(|_| SamlError::Malformed("the response is not UTF-8"))?;
    Ok(xml.strip_prefix('\u{feff}').map(str::to_owned).unwrap_or(xml))
}

fn verify_xml(
    sp: &ServiceProvider,
    idp: &IdpMetadata,
    xml: &str,
    expected_request_id: &str,
    now: DateTime<Utc>,
    skew: Duration,
) -> Result<SamlAssertion, SamlError> {
    let markup = check_markup(xml, Strictness::Response)?;
    if root_local_name(xml) != Some("Response") {
        return Err(SamlError::Malformed("the root element is not a Response"));
    }
    if markup.assertions + markup.encrypted_assertions > 1 {
        return Err(SamlError::MultipleAssertions);
    }
    // The unsigned view, only for what may be read before the signature check: an error status
    // (a refusal either way) and the shape of the document.
    let raw: Response = xml.parse().map_err(|_| SamlError::Malformed("the Response does not parse"))?;
    check_status(&raw)?;
    if markup.encrypted_assertions > 0 {
        return Err(SamlError::EncryptedAssertionUnsupported);
    }
    if markup.assertions == 0 {
        return Err(SamlError::NoAssertion);
    }
    let raw_assertion_id = match &raw.assertion {
        Some(a) => a.id.clone(),
        None => return Err(SamlError::Malformed("the assertion is not a child of the Response")),
    };
    if markup.signatures == 0 {
        return Err(SamlError::Unsigned);
    }

    // Every signature must verify with one of the IdP's certificates; what comes back holds only
    // the content the signatures cover.
    let certs: Vec<CertificateDer> = idp.signing_certs.iter().cloned().map(CertificateDer::from).collect();
    let signed_xml = Crypto::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        &certs,
        ReduceMode::ValidateAndMarkNoAncestors,
        Some(ALLOWED_ALGORITHMS),
    )
    // Any failure (bad signature, unknown algorithm, duplicate IDs, unresolvable reference) refuses.
    .map_err(|_: CryptoError| SamlError::BadSignature)?;
    let (signed_response, assertion) = match root_local_name(&signed_xml) {
        Some("Response") => {
            let response: Response =
                signed_xml.parse().map_err(|_| SamlError::Malformed("the signed Response does not parse"))?;
            let assertion = response.assertion.clone().ok_or(SamlError::Unsigned)?;
            (Some(response), assertion)
        }
        Some("Assertion") => {
            let assertion: Assertion = signed_xml
                .parse()
                .map_err(|_| SamlError::Malformed("the signed Assertion does not parse"))?;
            (None, assertion)
        }
        _ => return Err(SamlError::Unsigned),
    };
    if assertion.id != raw_assertion_id {
        return Err(SamlError::Unsigned);
    }

    // Response level: signed if the Response was signed, else as received (then the assertion's
    // own, signed SubjectConfirmationData still binds Recipient and InResponseTo).
    let response = signed_response.as_ref().unwrap_or(&raw);
    check_status(response)?;
    if response.version != "2.0" {
        return Err(SamlError::Malformed("not a SAML 2.0 Response"));
    }
    if let Some(issuer) = &response.issuer
        && issuer.value.as_deref().map(str::trim) != Some(idp.entity_id.as_str())
    {
        return Err(SamlError::WrongIssuer);
    }
    if let Some(destination) = &response.destination
        && destination != &sp.acs_url
    {
        return Err(SamlError::WrongDestination);
    }
    if response.in_response_to.as_deref() != Some(expected_request_id) {
        return Err(SamlError::InResponseToMismatch);
    }
    if response.issue_instant > now + skew {
        return Err(SamlError::NotYetValid);
    }

    check_assertion(sp, idp, &assertion, expected_request_id, now, skew)
}

fn check_status(response: &Response) -> Result<(), SamlError> {
    let Some(status) = &response.status else {
        return Err(SamlError::Malformed("the Response has no Status"));
    };
    let top = status.status_code.value.as_deref().unwrap_or_default();
    if top == STATUS_SUCCESS {
        return Ok(());
    }
    let describe = |code: &str| {
        if code.starts_with(STATUS_PREFIX)
            && code.len() <= 100
            && code.chars().all(|c| c.is_ascii_alphanumeric() || c == ':' || c == '.')
        {
            code.to_owned()
        } else {
            "other".to_owned()
        }
    };
    Err(SamlError::StatusNotSuccess(describe(top)))
}

fn check_assertion(
    sp: &ServiceProvider,
    idp: &IdpMetadata,
    assertion: &Assertion,
    expected_request_id: &str,
    now: DateTime<Utc>,
    skew: Duration,
) -> Result<SamlAssertion, SamlError> {
    if assertion.version != "2.0" {
        return Err(SamlError::Malformed("not a SAML 2.0 Assertion"));
    }
    let issuer = assertion.issuer.value.as_deref().map(str::trim).unwrap_or_default();
    if issuer != idp.entity_id {
        return Err(SamlError::WrongIssuer);
    }
    if assertion.issue_instant > now + skew {
        return Err(SamlError::NotYetValid);
    }
    let subject = assertion.subject.as_ref().ok_or(SamlError::Malformed("the assertion has no Subject"))?;

    // Bearer confirmation (Web SSO profile §4.1.4.2): one must fit entirely.
    let bearers: Vec<_> = subject
        .subject_confirmations
        .iter()
        .flatten()
        .filter(|c| c.method.as_deref() == Some(BEARER))
        .collect();
    if bearers.is_empty() {
        return Err(SamlError::Malformed("no bearer SubjectConfirmation"));
    }
    let mut first_error = None;
    let mut confirmed_until = None;
    for bearer in bearers {
        let outcome = (|| {
            let data = bearer
                .subject_confirmation_data
                .as_ref()
                .ok_or(SamlError::Malformed("no SubjectConfirmationData"))?;
            if data.recipient.as_deref() != Some(sp.acs_url.as_str()) {
                return Err(SamlError::WrongRecipient);
            }
            if data.in_response_to.as_deref() != Some(expected_request_id) {
                return Err(SamlError::InResponseToMismatch);
            }
            if data.not_before.is_some_and(|t| now + skew < t) {
                return Err(SamlError::NotYetValid);
            }
            let until = data
                .not_on_or_after
                .ok_or(SamlError::Malformed("SubjectConfirmationData has no NotOnOrAfter"))?;
            if now >= until + skew {
                return Err(SamlError::Expired);
            }
            Ok(until)
        })();
        match outcome {
            Ok(until) => {
                confirmed_until = Some(until);
                break;
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let Some(confirmed_until) = confirmed_until else {
        return Err(first_error.unwrap_or(SamlError::Malformed("no bearer SubjectConfirmation")));
    };

    // Conditions: validity window and audience (every AudienceRestriction must name us).
    let conditions = assertion.conditions.as_ref().ok_or(SamlError::WrongAudience)?;
    if conditions.not_before.is_some_and(|t| now + skew < t) {
        return Err(SamlError::NotYetValid);
    }
    if conditions.not_on_or_after.is_some_and(|t| now >= t + skew) {
        return Err(SamlError::Expired);
    }
    let restrictions = conditions.audience_restrictions.as_deref().unwrap_or_default();
    if restrictions.is_empty()
        || !restrictions.iter().all(|r| r.audience.iter().any(|a| a.trim() == sp.entity_id))
    {
        return Err(SamlError::WrongAudience);
    }
    let not_on_or_after = conditions.not_on_or_after.map_or(confirmed_until, |t| t.min(confirmed_until));

    let name_id = subject.name_id.as_ref().ok_or(SamlError::Malformed("the Subject has no NameID"))?;
    let name_id_value = name_id.value.trim();
    if name_id_value.is_empty() {
        return Err(SamlError::Malformed("the NameID is empty"));
    }
    let session_index = assertion.authn_statements.iter().flatten().find_map(|s| s.session_index.clone());
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for attribute in assertion.attribute_statements.iter().flatten().flat_map(|s| &s.attributes) {
        let Some(name) = attribute.name.as_deref().filter(|n| !n.is_empty()) else { continue };
        attributes
            .entry(name.to_owned())
            .or_default()
            .extend(attribute.values.iter().map(|v| v.value.clone().unwrap_or_default()));
    }
    Ok(SamlAssertion {
        assertion_id: assertion.id.clone(),
        issuer: issuer.to_owned(),
        name_id: name_id_value.to_owned(),
        name_id_format: name_id.format.clone(),
        session_index,
        not_on_or_after,
        attributes,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strictness {
    /// Responses: no comments, CDATA or processing instructions either (comment/CDATA splitting
    /// of a NameID is a known way to make the signed and the read value differ).
    Response,
    Metadata,
}

/// Element counts by local name, taken from the raw text so that they over-count (a name inside
/// an attribute value counts too) but never under-count what libxml2 will build (with DTDs and
/// entities refused and the encoding fixed to UTF-8, every element starts with `<` + its name).
#[derive(Debug, Default)]
struct Markup {
    assertions: usize,
    encrypted_assertions: usize,
    signatures: usize,
}

fn check_markup(xml: &str, strictness: Strictness) -> Result<Markup, SamlError> {
    let refuse = |why| match strictness {
        Strictness::Response => SamlError::Malformed(why),
        Strictness::Metadata => SamlError::Metadata(why),
    };
    let lower = xml.to_ascii_lowercase();
    if lower.contains("<!doctype") || lower.contains("<!entity") {
        return Err(refuse("DTDs are not allowed"));
    }
    if lower.contains('\0') {
        return Err(refuse("NUL characters are not allowed"));
    }
    // The XML declaration, if any, must not switch to another encoding.
    if let Some(rest) = xml.strip_prefix("<?xml") {
        let decl = rest.split("?>").next().unwrap_or_default().to_ascii_lowercase();
        if let Some((_, after)) = decl.split_once("encoding") {
            let value: String = after
                .trim_start()
                .trim_start_matches('=')
                .trim_start()
                .trim_start_matches(['"', '\''])
                .chars()
                .take_while(|c| *c != '"' && *c != '\'')
                .collect();
            if value != "utf-8" {
                return Err(refuse("only UTF-8 documents are accepted"));
            }
        }
    }
    if strictness == Strictness::Response {
        if xml.contains("<!--") {
            return Err(refuse("comments are not allowed"));
        }
        if xml.contains("<![") {
            return Err(refuse("CDATA sections are not allowed"));
        }
        let body = xml.strip_prefix("<?xml").map_or(xml, |rest| rest.split_once("?>").map_or("", |(_, b)| b));
        if body.contains("<?") {
            return Err(refuse("processing instructions are not allowed"));
        }
    }
    let mut markup = Markup::default();
    for (index, _) in xml.match_indices('<') {
        let name: String = xml[index + 1..]
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, '/' | '>' | '<' | '='))
            .collect();
        let local = name.rsplit(':').next().unwrap_or_default();
        match local {
            "Assertion" => markup.assertions += 1,
            "EncryptedAssertion" => markup.encrypted_assertions += 1,
            "Signature" => markup.signatures += 1,
            _ => {}
        }
    }
    Ok(markup)
}

/// The local name of the document's root element (after the declaration, comments and
/// processing instructions).
fn root_local_name(xml: &str) -> Option<&str> {
    let mut rest = xml.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("<?") {
            rest = after.split_once("?>")?.1.trim_start();
        } else if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.split_once("-->")?.1.trim_start();
        } else {
            break;
        }
    }
    let rest = rest.strip_prefix('<')?;
    let end = rest.find(|c: char| c.is_whitespace() || c == '/' || c == '>')?;
    rest[..end].rsplit(':').next()
}

fn signing_certs(descriptor: &IdpSsoDescriptor) -> Result<Vec<Vec<u8>>, SamlError> {
    let keys = &descriptor.key_descriptors;
    let signing: Vec<&KeyDescriptor> =
        keys.iter().filter(|k| k.key_use.as_deref() == Some("signing")).collect();
    let chosen = if signing.is_empty() {
        keys.iter().filter(|k| k.key_use.as_deref().is_none_or(str::is_empty)).collect()
    } else {
        signing
    };
    let mut certs = Vec::new();
    for key in chosen {
        for b64 in key.key_info.x509_data.iter().flat_map(|d| &d.certificates) {
            let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            let der = STANDARD
                .decode(compact)
                .map_err(|_| SamlError::Metadata("an X509Certificate is not base64"))?;
            if !certs.contains(&der) {
                certs.push(der);
            }
        }
    }
    Ok(certs)
}

fn parse_pem_certificates(pem: &str) -> Result<Vec<Vec<u8>>, SamlError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut certs = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let end = after.find(END).ok_or(SamlError::Metadata("a PEM certificate has no END line"))?;
        let compact: String = after[..end].chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der =
            STANDARD.decode(compact).map_err(|_| SamlError::Metadata("a PEM certificate is not base64"))?;
        certs.push(der);
        rest = &after[end + END.len()..];
    }
    if certs.is_empty() {
        // Admins often paste the bare base64 body (as shown in metadata).
        let compact: String = pem.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        if !compact.is_empty()
            && let Ok(der) = STANDARD.decode(compact)
        {
            certs.push(der);
        }
    }
    if certs.is_empty() {
        return Err(SamlError::Metadata("no certificate found in the PEM text"));
    }
    Ok(certs)
}

fn der_to_pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// A light structural check (DER SEQUENCE spanning the whole input, starting with another
/// SEQUENCE — the TBSCertificate); xmlsec parses the certificate for real when verifying.
fn looks_like_der_certificate(der: &[u8]) -> bool {
    fn header(bytes: &[u8]) -> Option<(u8, usize, usize)> {
        let tag = *bytes.first()?;
        let first = *bytes.get(1)? as usize;
        if first < 0x80 {
            return Some((tag, 2, first));
        }
        let count = first & 0x7f;
        if count == 0 || count > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..count {
            len = (len << 8) | *bytes.get(2 + i)? as usize;
        }
        Some((tag, 2 + count, len))
    }
    let Some((tag, head, len)) = header(der) else { return false };
    tag == 0x30 && head + len == der.len() && header(&der[head..]).is_some_and(|(t, _, _)| t == 0x30)
}

fn is_http_url(value: &str) -> bool {
    Url::parse(value).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

fn xml_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/sso/fixtures/saml");
    const IDP_ENTITY_ID: &str = "urn:acme:test-idp";
    const IDP_SSO_URL: &str = "http://127.0.0.1:17001/saml/sso";
    /// `openssl x509 -in idp-cert.pem -noout -fingerprint -sha256`
    const IDP_CERT_SHA256: &str =
        "FB:9D:84:C8:C7:C9:37:D6:A6:44:38:3D:14:7C:26:F8:F0:10:55:15:C8:70:EC:1F:E4:BD:C2:9F:9F:32:3B:C0";
    /// Conditions and SubjectConfirmationData NotOnOrAfter of the captured assertion.
    const NOT_ON_OR_AFTER: &str = "2026-12-02T18:08:32.123Z";
    /// The Response's IssueInstant (a little after the assertion's NotBefore, 17:08:32.123Z).
    const RESPONSE_ISSUE_INSTANT: &str = "2026-12-02T17:08:32.138Z";

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
    }

    fn request_env(key: &str) -> String {
        fixture("request.env")
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{key}=")).map(str::to_owned))
            .unwrap()
    }

    fn request_id() -> String {
        request_env("REQUEST_ID")
    }

    /// A few seconds after the request the fixtures answer was made.
    fn now() -> DateTime<Utc> {
        request_env("REQUEST_TIME").parse::<DateTime<Utc>>().unwrap() + Duration::seconds(5)
    }

    fn time(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn skew() -> Duration {
        Duration::seconds(60)
    }

    fn sp() -> ServiceProvider {
        ServiceProvider {
            entity_id: "http://localhost:7860/auth/saml/acme".into(),
            acs_url: "http://localhost:7860/auth/saml/acs".into(),
        }
    }

    fn idp() -> IdpMetadata {
        IdpMetadata::parse(&fixture("idp-metadata.xml")).unwrap()
    }

    fn signed_b64() -> String {
        fixture("response-signed.b64").trim().to_owned()
    }

    fn signed_xml() -> String {
        String::from_utf8(STANDARD.decode(signed_b64()).unwrap()).unwrap()
    }

    fn encode(xml: &str) -> String {
        STANDARD.encode(xml)
    }

    fn verify_with(
        sp: &ServiceProvider,
        idp: &IdpMetadata,
        b64: &str,
        now: DateTime<Utc>,
    ) -> Result<SamlAssertion, SamlError> {
        sp.verify_response(idp, b64, &request_id(), now, skew())
    }

    fn verify_xml_fixture(xml: &str) -> Result<SamlAssertion, SamlError> {
        verify_with(&sp(), &idp(), &encode(xml), now())
    }

    /// The `n`-th (0-based) `<Signature …>…</Signature>` element of the document.
    fn signature_span(xml: &str, n: usize) -> std::ops::Range<usize> {
        let mut from = 0;
        let mut found = None;
        for _ in 0..=n {
            let start = from + xml[from..].find("<Signature ").unwrap();
            let end = start + xml[start..].find("</Signature>").unwrap() + "</Signature>".len();
            found = Some(start..end);
            from = end;
        }
        found.unwrap()
    }

    fn without_signature(xml: &str, n: usize) -> String {
        let mut out = xml.to_owned();
        out.replace_range(signature_span(xml, n), "");
        out
    }

    fn assertion_span(xml: &str) -> std::ops::Range<usize> {
        let start = xml.find("<saml:Assertion ").unwrap();
        let end = xml.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
        start..end
    }

    #[test]
    fn a_real_signed_response_verifies() {
        let assertion = sp().verify_response(&idp(), &signed_b64(), &request_id(), now(), skew()).unwrap();
        assert_eq!(assertion.issuer, IDP_ENTITY_ID);
        assert_eq!(assertion.name_id, "ann@acme.test");
        assert_eq!(assertion.name_id_format.as_deref(), Some(NAME_ID_FORMAT_EMAIL));
        assert!(assertion.assertion_id.starts_with('_'), "{}", assertion.assertion_id);
        assert!(signed_xml().contains(&format!("ID=\"{}\"", assertion.assertion_id)));
        assert!(assertion.session_index.as_deref().is_some_and(|s| !s.is_empty()));
        assert_eq!(assertion.not_on_or_after, time(NOT_ON_OR_AFTER));
        assert_eq!(assertion.attribute("email"), Some("ann@acme.test"));
        assert_eq!(assertion.attribute("displayName"), Some("Ann Example"));
        assert_eq!(assertion.attributes["groups"], ["prompt-admins", "engineering"]);
        assert_eq!(assertion.attributes.len(), 3);
    }

    #[test]
    fn base64_wrapped_in_lines_is_accepted() {
        let b64 = signed_b64();
        let wrapped: Vec<String> =
            b64.as_bytes().chunks(76).map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
        assert!(verify_with(&sp(), &idp(), &wrapped.join("\r\n"), now()).is_ok());
    }

    #[test]
    fn tampering_with_an_attribute_value_breaks_the_signature() {
        let xml = signed_xml();
        assert!(xml.contains(">engineering<"));
        let tampered = xml.replace(">engineering<", ">superusers<");
        assert_eq!(verify_xml_fixture(&tampered), Err(SamlError::BadSignature));
        let tampered = xml.replace(">ann@acme.test</saml:NameID>", ">boss@acme.test</saml:NameID>");
        assert_eq!(verify_xml_fixture(&tampered), Err(SamlError::BadSignature));
    }

    #[test]
    fn a_response_signed_with_another_key_is_refused() {
        let other = fixture("response-other-key.b64");
        assert_eq!(verify_with(&sp(), &idp(), other.trim(), now()), Err(SamlError::BadSignature));
        // The same response is otherwise fine: trusted with the other certificate, it verifies.
        let other_idp =
            IdpMetadata::from_parts(IDP_ENTITY_ID, IDP_SSO_URL, &fixture("other-idp-cert.pem")).unwrap();
        assert_eq!(verify_with(&sp(), &other_idp, other.trim(), now()).unwrap().name_id, "ann@acme.test");
        // And our real response does not verify with the other certificate.
        assert_eq!(verify_with(&sp(), &other_idp, &signed_b64(), now()), Err(SamlError::BadSignature));
    }

    #[test]
    fn sha1_signatures_are_refused() {
        // The other-key response with only its assertion signed, re-signed with RSA-SHA1 by the
        // xmlsec1 CLI (see fixtures/saml/README.md).
        let b64 = fixture("response-other-key-sha1.b64");
        let xml = String::from_utf8(STANDARD.decode(b64.trim()).unwrap()).unwrap();
        let other_cert = parse_pem_certificates(&fixture("other-idp-cert.pem")).unwrap();
        // The signature itself is valid…
        let certs: Vec<CertificateDer> = other_cert.iter().cloned().map(CertificateDer::from).collect();
        assert!(Crypto::reduce_xml_to_signed(&xml, &certs, ReduceMode::ValidateAndMarkNoAncestors).is_ok());
        // …but SHA-1 is not accepted.
        let other_idp = IdpMetadata { signing_certs: other_cert, ..idp() };
        assert_eq!(verify_with(&sp(), &other_idp, b64.trim(), now()), Err(SamlError::BadSignature));
    }

    #[test]
    fn the_other_certificate_among_several_is_enough() {
        let pems = format!("{}{}", fixture("other-idp-cert.pem"), fixture("idp-cert.pem"));
        let idp = IdpMetadata::from_parts(IDP_ENTITY_ID, IDP_SSO_URL, &pems).unwrap();
        assert_eq!(idp.signing_certs.len(), 2);
        assert!(verify_with(&sp(), &idp, &signed_b64(), now()).is_ok());
    }

    #[test]
    fn another_request_id_is_an_in_response_to_mismatch() {
        let result = sp().verify_response(&idp(), &signed_b64(), "_someotherrequest", now(), skew());
        assert_eq!(result, Err(SamlError::InResponseToMismatch));
    }

    #[test]
    fn another_sp_entity_id_is_the_wrong_audience() {
        let sp = ServiceProvider { entity_id: "http://localhost:7860/auth/saml/other".into(), ..sp() };
        assert_eq!(verify_with(&sp, &idp(), &signed_b64(), now()), Err(SamlError::WrongAudience));
    }

    #[test]
    fn another_acs_url_is_the_wrong_destination_or_recipient() {
        let other_sp = ServiceProvider { acs_url: "http://localhost:7860/auth/saml/acs2".into(), ..sp() };
        assert_eq!(verify_with(&other_sp, &idp(), &signed_b64(), now()), Err(SamlError::WrongDestination));
        // Without the (then unsigned) Response signature and Destination, the signed assertion's
        // Recipient still names the ACS URL.
        let xml = without_signature(&signed_xml(), 0)
            .replace(r#" Destination="http://localhost:7860/auth/saml/acs""#, "");
        assert!(verify_with(&sp(), &idp(), &encode(&xml), now()).is_ok());
        assert_eq!(verify_with(&other_sp, &idp(), &encode(&xml), now()), Err(SamlError::WrongRecipient));
    }

    #[test]
    fn validity_window_with_skew() {
        let until = time(NOT_ON_OR_AFTER);
        let b64 = signed_b64();
        assert!(verify_with(&sp(), &idp(), &b64, until + skew() - Duration::seconds(1)).is_ok());
        assert_eq!(verify_with(&sp(), &idp(), &b64, until + skew()), Err(SamlError::Expired));
        assert_eq!(
            verify_with(&sp(), &idp(), &b64, until + skew() + Duration::hours(1)),
            Err(SamlError::Expired)
        );
        let issued = time(RESPONSE_ISSUE_INSTANT);
        assert!(verify_with(&sp(), &idp(), &b64, issued - skew()).is_ok());
        assert_eq!(
            verify_with(&sp(), &idp(), &b64, issued - skew() - Duration::milliseconds(1)),
            Err(SamlError::NotYetValid)
        );
    }

    #[test]
    fn a_response_without_signatures_is_unsigned() {
        let xml = without_signature(&without_signature(&signed_xml(), 1), 0);
        assert!(!xml.contains("Signature"));
        assert_eq!(verify_xml_fixture(&xml), Err(SamlError::Unsigned));
    }

    #[test]
    fn the_assertion_signature_alone_is_enough_but_cannot_be_removed() {
        // Only the assertion signed (the Response signature removed): accepted.
        assert!(verify_xml_fixture(&without_signature(&signed_xml(), 0)).is_ok());
        // The assertion's signature removed: the Response signature no longer verifies.
        assert_eq!(verify_xml_fixture(&without_signature(&signed_xml(), 1)), Err(SamlError::BadSignature));
    }

    /// An unsigned assertion for someone else, made from the signed one.
    fn evil_assertion(xml: &str) -> String {
        let signed = &xml[assertion_span(xml)];
        let unsigned = without_signature(signed, 0);
        let id_start = unsigned.find(" ID=\"").unwrap() + 5;
        let id_end = id_start + unsigned[id_start..].find('"').unwrap();
        let mut evil = unsigned.clone();
        evil.replace_range(id_start..id_end, "_evil");
        evil.replace(">ann@acme.test</saml:NameID>", ">boss@acme.test</saml:NameID>")
            .replace(">engineering<", ">superusers<")
    }

    #[test]
    fn signature_wrapping_with_a_second_assertion_is_refused() {
        let xml = signed_xml();
        let evil = evil_assertion(&xml);
        let span = assertion_span(&xml);

        // Injected before the signed assertion (the classic wrapping attack).
        let mut before = xml.clone();
        before.insert_str(span.start, &evil);
        assert_eq!(verify_xml_fixture(&before), Err(SamlError::MultipleAssertions));

        // Injected after it.
        let mut after = xml.clone();
        after.insert_str(span.end, &evil);
        assert_eq!(verify_xml_fixture(&after), Err(SamlError::MultipleAssertions));

        // The signed assertion hidden in an Extensions element, the evil one in its place, with
        // only the assertion's signature left (so the Response signature cannot object).
        let unsigned_response = without_signature(&xml, 0);
        let span = assertion_span(&unsigned_response);
        let signed = unsigned_response[span.clone()].to_owned();
        let mut moved = unsigned_response.clone();
        moved.replace_range(span, &evil);
        let status = moved.find("<samlp:Status>").unwrap();
        moved.insert_str(status, &format!("<samlp:Extensions>{signed}</samlp:Extensions>"));
        assert_eq!(verify_xml_fixture(&moved), Err(SamlError::MultipleAssertions));
    }

    #[test]
    fn a_lone_unsigned_assertion_is_refused_even_with_a_signed_neighbour_element() {
        // The signed assertion replaced by the unsigned evil one, the Response signature kept:
        // the Response signature no longer verifies.
        let xml = signed_xml();
        let mut swapped = xml.clone();
        swapped.replace_range(assertion_span(&xml), &evil_assertion(&xml));
        assert_eq!(verify_xml_fixture(&swapped), Err(SamlError::BadSignature));
        // …and without any signature it is unsigned.
        let stripped = without_signature(&swapped, 0);
        assert_eq!(verify_xml_fixture(&stripped), Err(SamlError::Unsigned));
    }

    #[test]
    fn comments_cdata_and_dtds_are_refused() {
        let xml = signed_xml();
        // The comment trick (the signed, canonical text differs from the text read).
        let comment = xml.replace(">ann@acme.test</saml:NameID>", ">ann@acme.test<!---->.evil</saml:NameID>");
        assert!(matches!(verify_xml_fixture(&comment), Err(SamlError::Malformed(_))));
        let cdata = xml.replace(">ann@acme.test</saml:NameID>", "><![CDATA[ann@acme.test]]></saml:NameID>");
        assert!(matches!(verify_xml_fixture(&cdata), Err(SamlError::Malformed(_))));
        let dtd = format!("<!DOCTYPE r [<!ENTITY e \"x\">]>{xml}");
        assert!(matches!(verify_xml_fixture(&dtd), Err(SamlError::Malformed(_))));
        let latin1 = format!(r#"<?xml version="1.0" encoding="ISO-8859-1"?>{xml}"#);
        assert!(matches!(verify_xml_fixture(&latin1), Err(SamlError::Malformed(_))));
        let utf8 = format!(r#"<?xml version="1.0" encoding="UTF-8"?>{xml}"#);
        assert!(verify_xml_fixture(&utf8).is_ok());
    }

    #[test]
    fn garbage_is_malformed() {
        for input in ["", "not base64!", &encode("hello"), &encode("<a/>"), &encode("<samlp:Response/>")] {
            let result = verify_with(&sp(), &idp(), input, now());
            assert!(matches!(result, Err(SamlError::Malformed(_))), "{input}: {result:?}");
        }
    }

    #[test]
    fn encrypted_assertions_are_refused_clearly() {
        let xml = signed_xml();
        let mut encrypted = xml.clone();
        encrypted.replace_range(
            assertion_span(&xml),
            r#"<saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"/></saml:EncryptedAssertion>"#,
        );
        let result = verify_xml_fixture(&encrypted);
        assert_eq!(result, Err(SamlError::EncryptedAssertionUnsupported));
        assert!(result.unwrap_err().to_string().contains("not supported"));
    }

    #[test]
    fn an_error_status_is_reported() {
        let xml = signed_xml().replace(
            r#"<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>"#,
            r#"<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"/>"#,
        );
        let mut without_assertion = xml.clone();
        without_assertion.replace_range(assertion_span(&xml), "");
        for xml in [xml, without_assertion] {
            assert_eq!(
                verify_xml_fixture(&xml),
                Err(SamlError::StatusNotSuccess("urn:oasis:names:tc:SAML:2.0:status:Responder".into()))
            );
        }
        let odd = signed_xml().replace("urn:oasis:names:tc:SAML:2.0:status:Success", "<script>");
        assert!(matches!(
            verify_xml_fixture(&odd),
            Err(SamlError::Malformed(_) | SamlError::StatusNotSuccess(_))
        ));
        let odd = signed_xml().replace("urn:oasis:names:tc:SAML:2.0:status:Success", "urn:evil:secret");
        assert_eq!(verify_xml_fixture(&odd), Err(SamlError::StatusNotSuccess("other".into())));
    }

    #[test]
    fn a_response_without_assertion_has_none() {
        let xml = without_signature(&signed_xml(), 0);
        let mut empty = xml.clone();
        empty.replace_range(assertion_span(&xml), "");
        assert_eq!(verify_xml_fixture(&empty), Err(SamlError::NoAssertion));
    }

    #[test]
    fn another_idp_entity_id_is_the_wrong_issuer() {
        let idp = IdpMetadata { entity_id: "urn:acme:another-idp".into(), ..idp() };
        assert_eq!(verify_with(&sp(), &idp, &signed_b64(), now()), Err(SamlError::WrongIssuer));
    }

    #[test]
    fn verifying_on_several_threads_at_once_works() {
        let b64 = signed_b64();
        let other = fixture("response-other-key.b64").trim().to_owned();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let (b64, other) = (&b64, &other);
                    scope.spawn(move || {
                        let (sp, idp) = (sp(), idp());
                        for _ in 0..10 {
                            if i % 2 == 0 {
                                assert!(verify_with(&sp, &idp, b64, now()).is_ok());
                            } else {
                                assert_eq!(
                                    verify_with(&sp, &idp, other, now()),
                                    Err(SamlError::BadSignature)
                                );
                            }
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.join().unwrap();
            }
        });
    }

    #[test]
    fn idp_metadata_parses_from_the_real_idp() {
        let idp = idp();
        assert_eq!(idp.entity_id, IDP_ENTITY_ID);
        assert_eq!(idp.sso_redirect_url, IDP_SSO_URL);
        assert_eq!(idp.slo_url, None);
        assert_eq!(idp.signing_certs.len(), 1);
        assert_eq!(idp.signing_cert_fingerprints(), [IDP_CERT_SHA256]);
        let from_pem = IdpMetadata::from_parts(IDP_ENTITY_ID, IDP_SSO_URL, &fixture("idp-cert.pem")).unwrap();
        assert_eq!(from_pem, idp);
        assert_eq!(idp.signing_certs_pem().trim(), fixture("idp-cert.pem").trim());
        // The bare base64 body, as admins copy it out of metadata, works too.
        let body: String = fixture("idp-cert.pem").lines().filter(|l| !l.starts_with("-----")).collect();
        assert_eq!(IdpMetadata::from_parts(IDP_ENTITY_ID, IDP_SSO_URL, &body).unwrap(), idp);
    }

    #[test]
    fn unusable_metadata_is_refused() {
        let metadata = fixture("idp-metadata.xml");
        let cases = [
            metadata.replace("HTTP-Redirect", "HTTP-Artifact"),
            metadata.replace(r#"entityID="urn:acme:test-idp""#, ""),
            metadata.replace("IDPSSODescriptor", "SPSSODescriptor"),
            metadata.replace("<X509Certificate>MII", "<X509Certificate>!!"),
            metadata.replace("<X509Certificate>MII", "<X509Certificate>AAAA"),
            format!("<!DOCTYPE x>{metadata}"),
            "<html/>".to_owned(),
            String::new(),
        ];
        for case in cases {
            assert!(matches!(IdpMetadata::parse(&case), Err(SamlError::Metadata(_))), "{case}");
        }
        assert!(IdpMetadata::from_parts(IDP_ENTITY_ID, "ftp://x/", &fixture("idp-cert.pem")).is_err());
        assert!(IdpMetadata::from_parts("", IDP_SSO_URL, &fixture("idp-cert.pem")).is_err());
        assert!(IdpMetadata::from_parts(IDP_ENTITY_ID, IDP_SSO_URL, "not a cert").is_err());
    }

    #[test]
    fn metadata_with_logout_and_an_entities_wrapper() {
        let metadata = fixture("idp-metadata.xml").replacen(
            "<NameIDFormat>",
            r#"<SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="http://127.0.0.1:17001/saml/slo"/><NameIDFormat>"#,
            1,
        );
        assert_eq!(
            IdpMetadata::parse(&metadata).unwrap().slo_url.as_deref(),
            Some("http://127.0.0.1:17001/saml/slo")
        );
        let wrapped = format!(
            r#"<?xml version="1.0" encoding="utf-8"?><EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">{metadata}</EntitiesDescriptor>"#
        );
        assert_eq!(IdpMetadata::parse(&wrapped).unwrap().entity_id, IDP_ENTITY_ID);
    }

    #[test]
    fn sp_metadata_is_xml_with_our_entity_id_and_acs() {
        let xml = sp().metadata_xml();
        let parsed = EntityDescriptor::from_str(&xml).unwrap();
        assert_eq!(parsed.entity_id.as_deref(), Some("http://localhost:7860/auth/saml/acme"));
        let descriptor = &parsed.sp_sso_descriptors.unwrap()[0];
        assert_eq!(descriptor.authn_requests_signed, Some(false));
        assert_eq!(descriptor.want_assertions_signed, Some(true));
        let acs = &descriptor.assertion_consumer_services[0];
        assert_eq!(acs.binding, BINDING_POST);
        assert_eq!(acs.location, "http://localhost:7860/auth/saml/acs");
        assert!(xml.contains(NAME_ID_FORMAT_EMAIL) && xml.contains(NAME_ID_FORMAT_UNSPECIFIED));
        // Well-formed for libxml2 too (xmlsec's parser): it is signable/parsable there.
        assert!(check_markup(&xml, Strictness::Metadata).is_ok());
        let odd = ServiceProvider { entity_id: "http://x/?a=1&b=<2>".into(), ..sp() };
        let parsed = EntityDescriptor::from_str(&odd.metadata_xml()).unwrap();
        assert_eq!(parsed.entity_id.as_deref(), Some("http://x/?a=1&b=<2>"));
    }

    fn decode_redirect(url: &str) -> (samael::schema::AuthnRequest, Option<String>, Url) {
        let url = Url::parse(url).unwrap();
        let pairs: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
        let deflated = STANDARD.decode(&pairs["SAMLRequest"]).unwrap();
        let mut xml = String::new();
        flate2::read::DeflateDecoder::new(deflated.as_slice()).read_to_string(&mut xml).unwrap();
        (xml.parse().unwrap(), pairs.get("RelayState").cloned(), url)
    }

    #[test]
    fn authn_request_redirect_carries_our_request() {
        let at = now();
        let redirect = sp().authn_request(&idp(), "state-123", at).unwrap();
        assert!(redirect.url.starts_with(&format!("{IDP_SSO_URL}?SAMLRequest=")));
        let (request, relay_state, _) = decode_redirect(&redirect.url);
        assert_eq!(request.id, redirect.request_id);
        assert!(redirect.request_id.starts_with('_') && redirect.request_id.len() == 33);
        assert_eq!(request.version, "2.0");
        assert_eq!(request.issue_instant, at);
        assert_eq!(request.issuer.unwrap().value.as_deref(), Some("http://localhost:7860/auth/saml/acme"));
        assert_eq!(
            request.assertion_consumer_service_url.as_deref(),
            Some("http://localhost:7860/auth/saml/acs")
        );
        assert_eq!(request.destination.as_deref(), Some(IDP_SSO_URL));
        assert_eq!(request.protocol_binding.as_deref(), Some(BINDING_POST));
        assert_eq!(relay_state.as_deref(), Some("state-123"));
        // Fresh ids.
        assert_ne!(sp().authn_request(&idp(), "s", at).unwrap().request_id, redirect.request_id);
    }

    #[test]
    fn authn_request_keeps_the_sso_url_query_and_limits_relay_state() {
        let idp =
            IdpMetadata { sso_redirect_url: "https://adfs.acme.test/adfs/ls/?client=1".into(), ..idp() };
        let redirect = sp().authn_request(&idp, "", now()).unwrap();
        let (_, relay_state, url) = decode_redirect(&redirect.url);
        assert_eq!(relay_state, None);
        assert!(url.query_pairs().any(|(k, v)| k == "client" && v == "1"));
        assert!(matches!(
            sp().authn_request(&idp, &"x".repeat(81), now()),
            Err(SamlError::InvalidRequest(_))
        ));
        let bad_sp = ServiceProvider { acs_url: "/relative".into(), ..sp() };
        assert!(matches!(bad_sp.authn_request(&idp, "", now()), Err(SamlError::InvalidRequest(_))));
    }

    #[test]
    fn error_codes_are_stable_and_distinct() {
        let errors = [
            SamlError::Malformed("x"),
            SamlError::StatusNotSuccess("x".into()),
            SamlError::BadSignature,
            SamlError::Unsigned,
            SamlError::WrongIssuer,
            SamlError::WrongAudience,
            SamlError::WrongDestination,
            SamlError::WrongRecipient,
            SamlError::InResponseToMismatch,
            SamlError::Expired,
            SamlError::NotYetValid,
            SamlError::NoAssertion,
            SamlError::MultipleAssertions,
            SamlError::EncryptedAssertionUnsupported,
            SamlError::Metadata("x"),
            SamlError::InvalidRequest("x"),
        ];
        let codes: std::collections::BTreeSet<_> = errors.iter().map(SamlError::code).collect();
        assert_eq!(codes.len(), errors.len());
        assert!(
            codes
                .iter()
                .all(|c| c.starts_with("saml_") && c.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        );
        assert_eq!(SamlError::BadSignature.code(), "saml_bad_signature");
        assert_eq!(SamlError::WrongAudience.code(), "saml_wrong_audience");
    }
}
