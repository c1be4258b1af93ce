//! The identity-provider harness (`sso_peers`) against the real peers alone, without our app:
//! the flows the SSO tests rely on work, and the providers refuse what they must.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use flate2::Compression;
use flate2::write::DeflateEncoder;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::Url;
use serde_json::{Value, json};

use crate::sso_peers::*;

const CALLBACK: &str = "http://localhost:7860/auth/callback";
const VERIFIER: &str = "a-pkce-code-verifier-of-at-least-43-characters-0123456789";

fn ann() -> TestUser {
    TestUser {
        email: Some("ann@acme.test".into()),
        email_verified: Some(true),
        name: Some("Ann Example".into()),
        oid: Some("00000000-0000-0000-0000-00000000a001".into()),
        groups: Some(vec!["pm-admins".into(), "staff".into()]),
        ..TestUser::new("ann@acme.test", "ann-subject")
    }
}

/// BASE64URL(SHA-256(verifier)) by the openssl command (the test binary has no SHA-256).
fn s256(verifier: &str) -> String {
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-binary"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(verifier.as_bytes()).unwrap();
    URL_SAFE_NO_PAD.encode(child.wait_with_output().unwrap().stdout)
}

fn authorize_url(provider: &OidcProvider, client_id: &str, login_hint: &str, pkce: bool) -> String {
    let mut url = Url::parse(&provider.authorization_endpoint()).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", "openid email profile")
        .append_pair("state", "the-state")
        .append_pair("nonce", "the-nonce")
        .append_pair("login_hint", login_hint);
    if pkce {
        url.query_pairs_mut()
            .append_pair("code_challenge", &s256(VERIFIER))
            .append_pair("code_challenge_method", "S256");
    }
    url.into()
}

/// POST /token; the response's JSON and status.
async fn redeem(provider: &OidcProvider, client: &OidcClient, code: &str, verifier: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier),
        ("client_id", &client.client_id),
    ];
    let mut request = reqwest::Client::new().post(provider.token_endpoint()).form(&form);
    if let Some(secret) = &client.client_secret {
        request = request.basic_auth(&client.client_id, Some(secret));
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// A full sign-in as `login` in a new browser: the ID token.
async fn id_token(provider: &OidcProvider, client: &OidcClient, login: &str) -> String {
    id_token_in(&browser(), provider, client, login).await
}

async fn id_token_in(
    browser: &reqwest::Client,
    provider: &OidcProvider,
    client: &OidcClient,
    login: &str,
) -> String {
    let url = authorize_url(provider, &client.client_id, login, true);
    let callback = provider.sign_in(browser, &url).await;
    let code = query_param(&callback, "code").unwrap_or_else(|| panic!("no code in {callback}"));
    let (status, tokens) = redeem(provider, client, &code, VERIFIER).await;
    assert_eq!(status, 200, "{tokens}");
    tokens["id_token"].as_str().unwrap().to_owned()
}

/// The ID token's claims, verified against the provider's `/jwks` as it is now.
async fn verify(
    provider: &OidcProvider,
    token: &str,
    audience: &str,
) -> Result<Value, jsonwebtoken::errors::Error> {
    let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let jwks: Value = reqwest::get(provider.jwks_uri()).await.unwrap().json().await.unwrap();
    let jwk = jwks["keys"].as_array().unwrap().iter().find(|key| key["kid"] == kid.as_str());
    let jwk = jwk.unwrap_or_else(|| panic!("no key {kid} in {jwks}"));
    let key =
        DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[provider.issuer()]);
    jsonwebtoken::decode::<Value>(token, &key, &validation).map(|data| data.claims)
}

#[tokio::test]
async fn oidc_code_flow_with_pkce_gives_the_configured_claims() {
    let mut client = OidcClient::confidential("prompt-manager", "client-secret", CALLBACK);
    client.post_logout_redirect_uris = vec!["http://localhost:7860/".into()];
    let bob = TestUser { upn: Some("bob@acme.test".into()), ..TestUser::new("bob", "bob-subject") };
    let started = Instant::now();
    let provider = OidcProvider::start(OidcOptions {
        clients: vec![client.clone()],
        users: vec![ann(), bob],
        ..Default::default()
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(2), "ready after {:?}", started.elapsed());

    let discovery: Value = reqwest::get(provider.discovery_url()).await.unwrap().json().await.unwrap();
    assert_eq!(discovery["issuer"], provider.issuer());
    assert_eq!(discovery["authorization_endpoint"], provider.authorization_endpoint());
    assert_eq!(discovery["token_endpoint"], provider.token_endpoint());
    assert_eq!(discovery["jwks_uri"], provider.jwks_uri());
    assert_eq!(discovery["end_session_endpoint"], provider.end_session_endpoint());
    assert_eq!(discovery["code_challenge_methods_supported"], json!(["S256"]));

    let browser = browser();
    let callback =
        provider.sign_in(&browser, &authorize_url(&provider, "prompt-manager", "ann@acme.test", true)).await;
    assert!(callback.starts_with(CALLBACK), "{callback}");
    assert_eq!(query_param(&callback, "state").as_deref(), Some("the-state"));
    assert_eq!(query_param(&callback, "iss"), Some(provider.issuer()));
    let code = query_param(&callback, "code").unwrap();

    let (status, refused) =
        redeem(&provider, &client, &code, "a-wrong-verifier-of-at-least-43-characters-000000").await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("invalid_grant")), "{refused}");
    // A refused redemption spends the code, so sign in again.
    let token = id_token(&provider, &client, "ann@acme.test").await;
    let claims = verify(&provider, &token, "prompt-manager").await.unwrap();
    assert_eq!(claims["sub"], "ann-subject");
    assert_eq!(claims["groups"], json!(["pm-admins", "staff"]));
    assert_eq!(claims["email"], "ann@acme.test");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["name"], "Ann Example");
    assert_eq!(claims["oid"], "00000000-0000-0000-0000-00000000a001");
    assert_eq!(claims["nonce"], "the-nonce");
    for absent in ["roles", "upn", "preferred_username"] {
        assert!(claims.get(absent).is_none(), "{absent} in {claims}");
    }
    let bob = verify(&provider, &id_token(&provider, &client, "bob").await, "prompt-manager").await.unwrap();
    assert_eq!((bob["upn"].as_str(), bob.get("email")), (Some("bob@acme.test"), None), "{bob}");

    // Refusals: without PKCE back to the client with an error; an unknown user or an
    // unregistered redirect URI on the provider's own page.
    let no_pkce =
        provider.sign_in(&browser, &authorize_url(&provider, "prompt-manager", "ann@acme.test", false)).await;
    assert_eq!(query_param(&no_pkce, "error").as_deref(), Some("invalid_request"), "{no_pkce}");
    let unknown = provider
        .try_sign_in(&browser, &authorize_url(&provider, "prompt-manager", "eve@acme.test", true))
        .await
        .unwrap_err();
    assert_eq!((unknown.status, unknown.error.as_str()), (400, "unknown_user"), "{unknown}");
    assert!(unknown.description.contains("eve@acme.test"), "{unknown}");
    // The browser signed in as Ann becomes Bob when a request names him.
    let token = id_token_in(&browser, &provider, &client, "bob").await;
    let claims = verify(&provider, &token, "prompt-manager").await.unwrap();
    assert_eq!(claims["sub"], "bob-subject");
    let elsewhere = authorize_url(&provider, "prompt-manager", "ann@acme.test", true)
        .replace("localhost%3A7860", "evil.test");
    let refused = provider.try_sign_in(&browser, &elsewhere).await.unwrap_err();
    assert_eq!(refused.error, "invalid_redirect_uri", "{refused}");

    // RP-initiated logout back to the registered post-logout URI.
    let mut logout = Url::parse(&provider.end_session_endpoint()).unwrap();
    logout
        .query_pairs_mut()
        .append_pair("id_token_hint", &token)
        .append_pair("post_logout_redirect_uri", "http://localhost:7860/")
        .append_pair("state", "bye");
    let after = provider.sign_out(&browser, logout.as_str()).await;
    assert_eq!(after.as_deref(), Some("http://localhost:7860/?state=bye"));
}

#[tokio::test]
async fn oidc_key_rotation_other_published_key_and_expired_tokens() {
    let client = OidcClient::public("public-app", CALLBACK);
    let options = OidcOptions { clients: vec![client.clone()], users: vec![ann()], ..Default::default() };
    let mut provider = OidcProvider::start(options.clone()).await;
    let issuer = provider.issuer();
    let first_key = provider.signing_key_id();
    let token = id_token(&provider, &client, "ann@acme.test").await;
    assert_eq!(jsonwebtoken::decode_header(&token).unwrap().kid.as_deref(), Some(first_key.as_str()));
    verify(&provider, &token, "public-app").await.unwrap();

    let started = Instant::now();
    provider.restart_with_new_key().await;
    assert!(started.elapsed() < Duration::from_secs(2), "restarted after {:?}", started.elapsed());
    assert_eq!(provider.issuer(), issuer);
    let second_key = provider.signing_key_id();
    assert_ne!(second_key, first_key);
    let token = id_token(&provider, &client, "ann@acme.test").await;
    assert_eq!(jsonwebtoken::decode_header(&token).unwrap().kid.as_deref(), Some(second_key.as_str()));
    verify(&provider, &token, "public-app").await.unwrap();

    provider.restart_with(OidcOptions { publish_other_key: true, ..options.clone() }).await;
    assert_eq!(provider.signing_key_id(), second_key, "restart_with keeps the key");
    let token = id_token(&provider, &client, "ann@acme.test").await;
    let error = verify(&provider, &token, "public-app").await.unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::InvalidSignature), "{error:?}");

    provider
        .restart_with(OidcOptions { id_token_ttl_seconds: Some(1), clock_offset_seconds: -3600, ..options })
        .await;
    let token = id_token(&provider, &client, "ann@acme.test").await;
    let error = verify(&provider, &token, "public-app").await.unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::ExpiredSignature), "{error:?}");
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert_eq!(exp - iat, 1, "{claims}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(exp < now as i64 - 3000, "{claims}");
}

/// An SP-initiated AuthnRequest, redirect binding (raw DEFLATE, base64, URL-encoded).
fn authn_request_url(
    idp: &SamlIdp,
    id: &str,
    sp_entity_id: &str,
    acs_url: &str,
    relay_state: &str,
) -> String {
    let xml = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"
xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0"
IssueInstant="2026-01-01T00:00:00Z" Destination="{}" AssertionConsumerServiceURL="{acs_url}"
ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">
  <saml:Issuer>{sp_entity_id}</saml:Issuer>
</samlp:AuthnRequest>"#,
        idp.sso_url()
    );
    let mut deflater = DeflateEncoder::new(Vec::new(), Compression::default());
    deflater.write_all(xml.as_bytes()).unwrap();
    let mut url = Url::parse(&idp.sso_url()).unwrap();
    url.query_pairs_mut()
        .append_pair("SAMLRequest", &STANDARD.encode(deflater.finish().unwrap()))
        .append_pair("RelayState", relay_state);
    url.into()
}

/// The base64 body of the first `<tag>` element in `xml` (certificates).
fn element_body(xml: &str, tag: &str) -> String {
    let start =
        xml.find(&format!("<{tag}>")).unwrap_or_else(|| panic!("no <{tag}> in {xml}")) + tag.len() + 2;
    let end = start + xml[start..].find('<').unwrap();
    xml[start..end].split_whitespace().collect()
}

fn pem_body(pem: &str) -> String {
    pem.lines().filter(|line| !line.starts_with("-----")).collect()
}

#[tokio::test]
async fn saml_response_for_a_hand_built_authn_request() {
    let acs = "http://localhost:7860/auth/saml/acs";
    let audience = "http://localhost:7860/auth/saml/acme";
    let user = SamlUser {
        name_id: "ann@acme.test".into(),
        email: Some("ann@acme.test".into()),
        groups: vec!["pm-admins".into(), "staff".into()],
        name: Some("Ann Example".into()),
    };
    let started = Instant::now();
    let idp = SamlIdp::start(SamlOptions::new(acs, audience, user.clone())).await;
    assert!(started.elapsed() < Duration::from_secs(2), "ready after {:?}", started.elapsed());
    let metadata = idp.metadata_xml();
    assert!(metadata.contains(&format!("entityID=\"{}\"", idp.issuer())), "{metadata}");
    assert!(metadata.contains(&format!("Location=\"{}\"", idp.sso_url())), "{metadata}");
    assert_eq!(element_body(metadata, "X509Certificate"), pem_body(idp.certificate_pem()));

    // The request's ACS URL is ignored: the IdP posts to the one it was started with.
    let url = authn_request_url(&idp, "_request-1", audience, "http://evil.test/acs", "relay-1");
    let post = idp.sign_in(&browser(), &url).await;
    assert_eq!(post.acs_url, acs);
    assert_eq!(post.relay_state.as_deref(), Some("relay-1"));
    let xml = post.xml();
    for expected in [
        "InResponseTo=\"_request-1\"",
        &format!("Destination=\"{acs}\""),
        &format!("<saml:Audience>{audience}</saml:Audience>"),
        &format!("<saml:Issuer>{}</saml:Issuer>", idp.issuer()),
        "Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress\">ann@acme.test</saml:NameID>",
        "<saml:Attribute Name=\"email\"",
        ">ann@acme.test</saml:AttributeValue>",
        ">pm-admins</saml:AttributeValue>",
        ">staff</saml:AttributeValue>",
        ">Ann Example</saml:AttributeValue>",
    ] {
        assert!(xml.contains(expected), "{expected} not in {xml}");
    }
    assert_eq!(xml.matches("<Signature ").count(), 2, "Response and Assertion are signed: {xml}");
    assert_eq!(element_body(&xml, "X509Certificate"), pem_body(idp.certificate_pem()));

    // A broken request: the IdP's error page.
    let broken = format!("{}?SAMLRequest=bm90LWRlZmxhdGVk", idp.sso_url());
    let error = idp.try_sign_in(&browser(), &broken).await.unwrap_err();
    assert!(error.contains("AuthnRequest"), "{error}");

    // Signed with a key the metadata does not name, and expired when issued.
    let options = SamlOptions {
        sign_with_other_key: true,
        lifetime_seconds: Some(-300),
        ..SamlOptions::new(acs, audience, user)
    };
    let idp = SamlIdp::start(options).await;
    let metadata_cert = element_body(idp.metadata_xml(), "X509Certificate");
    assert_eq!(metadata_cert, pem_body(idp.certificate_pem()));
    let xml = idp.sign_in(&browser(), &authn_request_url(&idp, "_request-2", audience, acs, "")).await.xml();
    assert_ne!(element_body(&xml, "X509Certificate"), metadata_cert, "signed with the other key");
    let attribute = |name: &str| {
        let start = xml.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        xml[start..start + 24].to_owned()
    };
    let (issued, expires) = (attribute("IssueInstant"), attribute("NotOnOrAfter"));
    assert!(expires < issued, "NotOnOrAfter {expires} is not before IssueInstant {issued}");
}
