//! Real identity providers for the SSO tests, each on a free loopback port and killed on drop:
//! `OidcProvider` runs npm `oidc-provider` (`e2e/sso/oidc-provider.mjs`), `SamlIdp` runs npm
//! `saml-idp` (`e2e/sso/saml-idp.cjs`). `cargo xtask test` (or `cargo xtask peers`) installs both
//! once into `~/.cache/prompt-manager/sso/` and links `e2e/sso/node_modules` to it.
//!
//! Their "browsers" are a reqwest client from [`browser`]: it keeps cookies and follows no
//! redirect, so the harness sees every hop and stops at the one that leaves the provider.
//! The tests at the end prove the harness against the peers alone, without our app.

use std::fmt;
use std::fs::{self, File};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Url;
use reqwest::header::LOCATION;
use serde_json::{Map, Value, json};
use tempfile::TempDir;

/// Each peer is ready in about half a second; the margin is for a machine busy compiling.
const READY_WITHIN: Duration = Duration::from_secs(20);
/// Redirects followed before giving up (a sign-in takes three).
const MAX_HOPS: usize = 10;

/// A client for these flows: keeps cookies, follows no redirects (the harness does).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The value of query parameter `name` in `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let url = Url::parse(url).unwrap_or_else(|e| panic!("not a URL ({e}): {url}"));
    url.query_pairs().find(|(key, _)| key == name).map(|(_, value)| value.into_owned())
}

// ---------------------------------------------------------------------------------------------
// OpenID Connect

/// A user the provider signs in when an authorization request has `login_hint` = `login`.
/// Every claim that is `Some` goes into the ID token; `None` claims are absent.
#[derive(Clone, Debug, Default)]
pub struct TestUser {
    pub login: String,
    pub sub: String,
    pub oid: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    pub preferred_username: Option<String>,
    pub upn: Option<String>,
    pub groups: Option<Vec<String>>,
    pub roles: Option<Vec<String>>,
    /// Anything else, verbatim (e.g. a `groups` that is a string, not an array).
    pub extra_claims: Map<String, Value>,
}

impl TestUser {
    /// A user with only `sub`; set the claims you need on the result.
    pub fn new(login: &str, sub: &str) -> TestUser {
        TestUser { login: login.to_owned(), sub: sub.to_owned(), ..TestUser::default() }
    }

    fn claims(&self) -> Value {
        let mut claims = self.extra_claims.clone();
        claims.insert("sub".into(), json!(self.sub));
        let optional = [
            ("oid", self.oid.as_ref().map(|v| json!(v))),
            ("email", self.email.as_ref().map(|v| json!(v))),
            ("email_verified", self.email_verified.map(|v| json!(v))),
            ("name", self.name.as_ref().map(|v| json!(v))),
            ("preferred_username", self.preferred_username.as_ref().map(|v| json!(v))),
            ("upn", self.upn.as_ref().map(|v| json!(v))),
            ("groups", self.groups.as_ref().map(|v| json!(v))),
            ("roles", self.roles.as_ref().map(|v| json!(v))),
        ];
        for (claim, value) in optional {
            if let Some(value) = value {
                claims.insert(claim.into(), value);
            }
        }
        Value::Object(claims)
    }
}

/// A client registered at the provider (code flow only; PKCE S256 is always required).
#[derive(Clone, Debug)]
pub struct OidcClient {
    pub client_id: String,
    /// `None`: a public client (`token_endpoint_auth_method` `none`).
    pub client_secret: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// `client_secret_basic` (the default) or `client_secret_post`; ignored for public clients.
    pub token_endpoint_auth_method: Option<String>,
}

impl OidcClient {
    pub fn confidential(client_id: &str, client_secret: &str, redirect_uri: &str) -> OidcClient {
        OidcClient {
            client_id: client_id.to_owned(),
            client_secret: Some(client_secret.to_owned()),
            redirect_uris: vec![redirect_uri.to_owned()],
            post_logout_redirect_uris: Vec::new(),
            token_endpoint_auth_method: None,
        }
    }

    pub fn public(client_id: &str, redirect_uri: &str) -> OidcClient {
        OidcClient { client_secret: None, ..OidcClient::confidential(client_id, "", redirect_uri) }
    }
}

#[derive(Clone, Debug, Default)]
pub struct OidcOptions {
    pub clients: Vec<OidcClient>,
    pub users: Vec<TestUser>,
    /// `/jwks` publishes a key that does not sign, under the signing key's `kid`.
    pub publish_other_key: bool,
    /// The ID token's lifetime; oidc-provider takes whole seconds, at least 1 (default 3600).
    pub id_token_ttl_seconds: Option<u32>,
    /// The provider's clock runs this far ahead (negative: behind), so its tokens can be
    /// expired (or not yet valid) by any leeway the moment they are issued.
    pub clock_offset_seconds: i64,
}

/// A refusal the provider shows on its own page instead of redirecting back to the client
/// (unknown client or redirect URI, no test user for the `login_hint`, ...).
#[derive(Debug)]
pub struct ProviderRefusal {
    pub status: u16,
    /// E.g. `invalid_redirect_uri`, `invalid_client`, `unknown_user`.
    pub error: String,
    pub description: String,
    /// The provider URL that answered.
    pub url: String,
}

impl fmt::Display for ProviderRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}) at {}: {}", self.error, self.status, self.url, self.description)
    }
}

pub struct OidcProvider {
    port: u16,
    options: OidcOptions,
    child: Child,
    /// The config file, the signing keys (`jwks.json`) and the log.
    dir: TempDir,
}

impl OidcProvider {
    pub async fn start(options: OidcOptions) -> OidcProvider {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = spawn_oidc(dir.path(), port, &options);
        // Built before waiting, so that a panic while waiting still stops the child.
        let mut provider = OidcProvider { port, options, child, dir };
        provider.wait_until_ready().await;
        provider
    }

    /// `http://127.0.0.1:PORT`, also the base of every endpoint.
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer())
    }

    pub fn authorization_endpoint(&self) -> String {
        format!("{}/auth", self.issuer())
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.issuer())
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.issuer())
    }

    pub fn end_session_endpoint(&self) -> String {
        format!("{}/session/end", self.issuer())
    }

    /// The `kid` of the key the provider signs with now.
    pub fn signing_key_id(&self) -> String {
        let jwks: Value = serde_json::from_str(&fs::read_to_string(self.jwks_file()).unwrap()).unwrap();
        jwks["keys"][0]["kid"].as_str().unwrap().to_owned()
    }

    /// Stops the provider and starts it again on the same port (same issuer) with a new signing
    /// key. Its state (sessions, codes) is in memory and is lost.
    pub async fn restart_with_new_key(&mut self) {
        self.stop();
        fs::remove_file(self.jwks_file()).unwrap();
        self.respawn().await;
    }

    /// Stops the provider and starts it again on the same port with `options` and the same key.
    pub async fn restart_with(&mut self, options: OidcOptions) {
        self.stop();
        self.options = options;
        self.respawn().await;
    }

    /// Follows the provider's redirects from `authorize_url` (the provider's authorization
    /// endpoint with the client's query) until one leaves the provider, and returns that URL:
    /// the client's redirect URI with `code`, `state` and `iss` — or with `error` when the
    /// provider refuses in a way it may tell the client (e.g. no PKCE). Panics with the
    /// provider's message and log if it refuses on its own page instead.
    pub async fn sign_in(&self, client: &reqwest::Client, authorize_url: &str) -> String {
        self.try_sign_in(client, authorize_url).await.unwrap_or_else(|refusal| {
            panic!("the OpenID provider refused the sign-in: {refusal}\nits log:\n{}", self.log_tail())
        })
    }

    /// [`Self::sign_in`], with the provider's own error page as an `Err`.
    pub async fn try_sign_in(
        &self,
        client: &reqwest::Client,
        authorize_url: &str,
    ) -> Result<String, ProviderRefusal> {
        let mut url = self.provider_url(authorize_url);
        let mut form: Option<Vec<(String, String)>> = None;
        for _ in 0..MAX_HOPS {
            let (status, next, body) = match form.take() {
                Some(fields) => post(client, &url, &fields).await,
                None => get(client, &url).await,
            };
            match next {
                Some(next) if same_origin(&next, &url) => url = next,
                Some(next) => return Ok(next.to_string()),
                None => {
                    // A page that posts itself at once, as when the browser's session belongs to
                    // another user: the provider ends that session first.
                    if let Some(auto) = auto_submitted_form(&body) {
                        let action = url.join(&auto.action).unwrap();
                        assert!(same_origin(&action, &url), "a form posting to {action} (form_post?)");
                        (url, form) = (action, Some(auto.fields));
                        continue;
                    }
                    return Err(ProviderRefusal {
                        status,
                        error: element_text(&body, "error"),
                        description: element_text(&body, "error_description"),
                        url: url.to_string(),
                    });
                }
            }
        }
        panic!("more than {MAX_HOPS} redirects from {authorize_url}:\n{}", self.log_tail())
    }

    /// RP-initiated logout: opens `end_session_url` (the end-session endpoint with
    /// `id_token_hint`, `post_logout_redirect_uri`, `state`), confirms the provider's "sign out?"
    /// form, and returns where it then sends the browser: `Some(url)` outside the provider (the
    /// post-logout redirect URI), `None` when it ends on the provider's own "signed out" page.
    pub async fn sign_out(&self, client: &reqwest::Client, end_session_url: &str) -> Option<String> {
        let url = self.provider_url(end_session_url);
        let (status, next, page) = get(client, &url).await;
        assert!(next.is_none() && status == 200, "{url} answered {status}: {}", page_text(&page));
        let form = forms(&page).into_iter().find(|form| form.id == "op.logoutForm").unwrap_or_else(|| {
            panic!("no sign-out form at {url}: {}\nlog:\n{}", page_text(&page), self.log_tail())
        });
        let mut fields = form.fields.clone();
        fields.push(("logout".into(), "yes".into()));
        let action = url.join(&form.action).unwrap();
        let (_, mut next, _) = post(client, &action, &fields).await;
        while let Some(url) = next {
            if !same_origin(&url, &action) {
                return Some(url.to_string());
            }
            let (_, after, _) = get(client, &url).await;
            next = after;
        }
        None
    }

    fn provider_url(&self, url: &str) -> Url {
        assert!(url.starts_with(&self.issuer()), "{url} is not at the provider {}", self.issuer());
        Url::parse(url).unwrap()
    }

    fn jwks_file(&self) -> PathBuf {
        self.dir.path().join("jwks.json")
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn respawn(&mut self) {
        self.child = spawn_oidc(self.dir.path(), self.port, &self.options);
        self.wait_until_ready().await;
    }

    async fn wait_until_ready(&mut self) {
        let url = self.discovery_url();
        wait_until_ready(&mut self.child, "oidc-provider", &url, &self.dir.path().join("log")).await;
    }

    pub fn log_tail(&self) -> String {
        log_tail(&self.dir.path().join("log"))
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes the config file for `options` and starts the provider; its output is appended to
/// `dir/log`, so a restart keeps the earlier runs' lines.
fn spawn_oidc(dir: &Path, port: u16, options: &OidcOptions) -> Child {
    let script = installed_script("oidc-provider.mjs", "oidc-provider");
    let clients: Vec<Value> = options
        .clients
        .iter()
        .map(|client| {
            json!({
                "client_id": client.client_id,
                "client_secret": client.client_secret,
                "redirect_uris": client.redirect_uris,
                "post_logout_redirect_uris": client.post_logout_redirect_uris,
                "token_endpoint_auth_method": client.token_endpoint_auth_method,
            })
        })
        .collect();
    let users: Vec<Value> =
        options.users.iter().map(|user| json!({"login": user.login, "claims": user.claims()})).collect();
    let config = json!({
        "port": port,
        "issuer": format!("http://127.0.0.1:{port}"),
        "jwks_file": dir.join("jwks.json"),
        "publish_other_key": options.publish_other_key,
        "id_token_ttl_seconds": options.id_token_ttl_seconds.unwrap_or(3600),
        "clock_offset_seconds": options.clock_offset_seconds,
        "clients": clients,
        "users": users,
    });
    let config_path = dir.join("config.json");
    fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let mut command = node(&script, &dir.join("log"));
    command.env("OIDC_PROVIDER_CONFIG", &config_path);
    command.spawn().unwrap_or_else(|e| panic!("cannot start node {}: {e}", script.display()))
}

// ---------------------------------------------------------------------------------------------
// SAML 2.0

/// The one user the IdP signs in. `groups` becomes a multi-valued `groups` attribute (absent when
/// empty; saml-idp splits the values on commas, so none may contain one); `email` and `name` are
/// single-valued attributes, absent when `None`. The NameID format is emailAddress.
#[derive(Clone, Debug, Default)]
pub struct SamlUser {
    pub name_id: String,
    pub email: Option<String>,
    pub groups: Vec<String>,
    pub name: Option<String>,
}

#[derive(Clone, Debug)]
pub struct SamlOptions {
    /// Where the IdP posts the response: always this one (`--disableRequestAcsUrl`), whatever the
    /// AuthnRequest's `AssertionConsumerServiceURL` says, as a registered SP's IdP does.
    pub acs_url: String,
    /// The SP's entity id, the assertion's `Audience`.
    pub audience: String,
    /// The IdP's entity id (`Issuer`).
    pub issuer: String,
    pub user: SamlUser,
    /// The assertion's lifetime (`NotOnOrAfter` = issue instant + this); saml-idp's own is 3600.
    /// Negative: already expired when issued. Zero is not allowed.
    pub lifetime_seconds: Option<i64>,
    /// Sign with a key other than the one whose certificate the metadata and
    /// [`SamlIdp::certificate_pem`] give the app; the signature embeds the signing certificate,
    /// so an SP that trusts the certificate in the response instead of its own accepts it.
    pub sign_with_other_key: bool,
}

impl SamlOptions {
    pub fn new(acs_url: &str, audience: &str, user: SamlUser) -> SamlOptions {
        SamlOptions {
            acs_url: acs_url.to_owned(),
            audience: audience.to_owned(),
            issuer: "urn:prompt-manager:test-idp".to_owned(),
            user,
            lifetime_seconds: None,
            sign_with_other_key: false,
        }
    }
}

pub struct SamlIdp {
    port: u16,
    options: SamlOptions,
    child: Child,
    /// The metadata certificate (PEM), what the app is given.
    certificate_pem: String,
    metadata_xml: String,
    /// Keys, certificates, the attribute config file and the log.
    dir: TempDir,
}

/// The IdP's auto-submitting form: what a browser posts to the SP's ACS.
#[derive(Clone, Debug)]
pub struct SamlPost {
    pub acs_url: String,
    /// Base64, as posted.
    pub saml_response: String,
    pub relay_state: Option<String>,
}

impl SamlPost {
    /// The decoded `<samlp:Response>`.
    pub fn xml(&self) -> String {
        String::from_utf8(STANDARD.decode(&self.saml_response).unwrap()).unwrap()
    }
}

impl SamlIdp {
    pub async fn start(options: SamlOptions) -> SamlIdp {
        let script = installed_script("saml-idp.cjs", "saml-idp");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let (key, cert) = key_pair(dir.path(), "idp");
        let signing =
            if options.sign_with_other_key { key_pair(dir.path(), "other") } else { (key, cert.clone()) };
        let config_path = dir.path().join("idp-config.json");
        fs::write(&config_path, serde_json::to_vec_pretty(&saml_attribute_config(&options.user)).unwrap())
            .unwrap();
        let log = dir.path().join("log");
        let mut command = node(&script, &log);
        command.args(["--host", "127.0.0.1", "--port", &port.to_string()]);
        command.args(["--acsUrl", &options.acs_url, "--audience", &options.audience]);
        command.args(["--issuer", &options.issuer, "--disableRequestAcsUrl"]);
        command.arg("--key").arg(&signing.0).arg("--cert").arg(&signing.1);
        command.arg("--configFile").arg(&config_path);
        if let Some(seconds) = options.lifetime_seconds {
            assert_ne!(seconds, 0, "a SAML assertion lifetime of 0 means saml-idp's 3600 s");
            command.env("SAML_IDP_LIFETIME_SECONDS", seconds.to_string());
        }
        if options.sign_with_other_key {
            command.env("SAML_IDP_METADATA_CERT", &cert);
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot start node {}: {e}", script.display()));
        let certificate_pem = fs::read_to_string(&cert).unwrap();
        let mut idp = SamlIdp { port, options, child, certificate_pem, metadata_xml: String::new(), dir };
        let metadata_url = idp.metadata_url();
        wait_until_ready(&mut idp.child, "saml-idp", &metadata_url, &log).await;
        idp.metadata_xml = reqwest::get(&metadata_url).await.unwrap().text().await.unwrap();
        idp
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn metadata_url(&self) -> String {
        format!("{}/metadata", self.base_url())
    }

    /// The IdP's `<EntityDescriptor>`: entity id, SSO URLs (redirect and POST bindings) and the
    /// signing certificate.
    pub fn metadata_xml(&self) -> &str {
        &self.metadata_xml
    }

    /// The signing certificate the app is given (PEM, with its BEGIN/END lines).
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// The SSO endpoint for both the redirect and the POST binding.
    pub fn sso_url(&self) -> String {
        format!("{}/saml/sso", self.base_url())
    }

    pub fn issuer(&self) -> &str {
        &self.options.issuer
    }

    /// Opens `authn_request_url` (the IdP's SSO URL with `SAMLRequest` and `RelayState`, or an SP
    /// URL that redirects there), submits the IdP's sign-in form as a browser would, and returns
    /// the auto-posting form it answers with. Panics with the IdP's message and log on failure.
    pub async fn sign_in(&self, client: &reqwest::Client, authn_request_url: &str) -> SamlPost {
        self.try_sign_in(client, authn_request_url).await.unwrap_or_else(|error| {
            panic!("the SAML IdP refused the sign-in: {error}\nits log:\n{}", self.log_tail())
        })
    }

    /// [`Self::sign_in`], with what the IdP said instead (e.g. an AuthnRequest it cannot parse).
    pub async fn try_sign_in(
        &self,
        client: &reqwest::Client,
        authn_request_url: &str,
    ) -> Result<SamlPost, String> {
        let idp = Url::parse(&self.base_url()).unwrap();
        let mut url = Url::parse(authn_request_url).unwrap();
        let mut page = None;
        for _ in 0..MAX_HOPS {
            let (status, next, body) = get(client, &url).await;
            match next {
                Some(next) => url = next,
                None if !same_origin(&url, &idp) => {
                    return Err(format!("{url} answered {status} outside the IdP: {}", page_text(&body)));
                }
                None if status != 200 => {
                    return Err(format!("{url} answered {status}: {}", page_text(&body)));
                }
                None => {
                    page = Some(body);
                    break;
                }
            }
        }
        let page = page.ok_or_else(|| format!("more than {MAX_HOPS} redirects from {authn_request_url}"))?;
        // The form saml-idp shows (user, attributes, the parsed AuthnRequest in `_authnRequest`).
        let form = forms(&page)
            .into_iter()
            .find(|form| form.action == "/signin")
            .ok_or_else(|| format!("no sign-in form at {url}: {}", page_text(&page)))?;
        let action = url.join(&form.action).unwrap();
        let response = client.post(action.clone()).form(&form.fields).send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        let post =
            forms(&body).into_iter().find(|form| form.field("SAMLResponse").is_some()).ok_or_else(|| {
                format!("{action} answered {status} without a SAMLResponse form: {}", page_text(&body))
            })?;
        Ok(SamlPost {
            acs_url: post.action.clone(),
            saml_response: post.field("SAMLResponse").unwrap_or_default().to_owned(),
            relay_state: post.field("RelayState").filter(|value| !value.is_empty()).map(str::to_owned),
        })
    }

    pub fn log_tail(&self) -> String {
        log_tail(&self.dir.path().join("log"))
    }
}

impl Drop for SamlIdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// saml-idp's attribute config (`{user, metadata}`; a JSON file is `require`d like a JS one).
fn saml_attribute_config(user: &SamlUser) -> Value {
    assert!(
        user.groups.iter().all(|group| !group.contains(',')),
        "saml-idp splits multi-valued attributes on commas: {:?}",
        user.groups
    );
    let mut profile = Map::new();
    profile.insert("userName".into(), json!(user.name_id));
    profile.insert("nameIdFormat".into(), json!("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"));
    let mut metadata = Vec::new();
    let attributes = [
        ("email", user.email.clone(), false),
        ("groups", (!user.groups.is_empty()).then(|| user.groups.join(",")), true),
        ("name", user.name.clone(), false),
    ];
    for (id, value, multi_value) in attributes {
        if let Some(value) = value {
            profile.insert(id.into(), json!(value));
            metadata.push(json!({
                "id": id, "optional": true, "displayName": id, "description": "", "multiValue": multi_value,
            }));
        }
    }
    json!({"user": profile, "metadata": metadata})
}

/// A fresh RSA key and a self-signed certificate for it (openssl CLI): (key path, cert path).
fn key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}-private-key.pem"));
    let cert = dir.join(format!("{name}-public-cert.pem"));
    let output = Command::new("openssl")
        .args(["req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-days", "30"])
        .args(["-subj", &format!("/CN=Test IdP {name}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap_or_else(|e| panic!("the SAML IdP's keys need the openssl command: {e}"));
    assert!(output.status.success(), "openssl failed: {}", String::from_utf8_lossy(&output.stderr));
    (key, cert)
}

// ---------------------------------------------------------------------------------------------
// Shared

/// `e2e/sso/<script>`, after checking that `cargo xtask` installed `package` there.
fn installed_script(script: &str, package: &str) -> PathBuf {
    // Included by the api tests (crates/api) and the e2e tests (e2e/): the workspace's e2e/sso.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = manifest.ancestors().map(|d| d.join("e2e/sso")).find(|d| d.is_dir());
    let dir = dir.unwrap_or_else(|| manifest.join("../../e2e/sso"));
    assert!(
        dir.join("node_modules").join(package).join("package.json").is_file(),
        "npm {package} is not installed in {}: run `cargo xtask peers` (or `cargo xtask test`), \
         which installs it once into ~/.cache/prompt-manager/sso/ and links e2e/sso/node_modules",
        dir.display()
    );
    dir.join(script)
}

/// `node script` in its folder, output appended to `log`.
fn node(script: &Path, log: &Path) -> Command {
    let mut log = File::options().create(true).append(true).open(log).unwrap();
    writeln!(log, "---- starting {}", script.display()).unwrap();
    let mut command = Command::new("node");
    command.arg(script).current_dir(script.parent().unwrap());
    command.stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log);
    command
}

/// Polls `url` until it answers 200; panics with the log if the peer exits or takes too long.
async fn wait_until_ready(child: &mut Child, name: &str, url: &str, log: &Path) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{name} exited ({status}) before it was ready:\n{}", log_tail(log));
        }
        let response = client.get(url).timeout(Duration::from_secs(2)).send().await;
        if response.is_ok_and(|response| response.status() == 200) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} was not ready within {READY_WITHIN:?}:\n{}",
            log_tail(log)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// GET `url` with the browser client: the status, where it redirects (if it does) and the body.
async fn get(client: &reqwest::Client, url: &Url) -> (u16, Option<Url>, String) {
    let response = client.get(url.clone()).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(
        response.url(),
        url,
        "the client followed a redirect itself: build it with sso_peers::browser() (cookies, no redirects)"
    );
    let status = response.status().as_u16();
    let next = redirect_target(url, &response);
    (status, next, response.text().await.unwrap_or_default())
}

/// POST `fields` to `url` as a form: as [`get`].
async fn post(
    client: &reqwest::Client,
    url: &Url,
    fields: &[(String, String)],
) -> (u16, Option<Url>, String) {
    let response =
        client.post(url.clone()).form(&fields).send().await.unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status().as_u16();
    let next = redirect_target(url, &response);
    (status, next, response.text().await.unwrap_or_default())
}

/// The form of a page that submits it from a script as soon as it loads.
fn auto_submitted_form(html: &str) -> Option<HtmlForm> {
    let submits = html.contains("document.forms[0].submit()");
    submits.then(|| forms(html).into_iter().next()).flatten()
}

fn redirect_target(from: &Url, response: &reqwest::Response) -> Option<Url> {
    if !response.status().is_redirection() {
        return None;
    }
    let location = response.headers().get(LOCATION)?.to_str().unwrap();
    Some(from.join(location).unwrap_or_else(|e| panic!("bad Location {location} from {from}: {e}")))
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.origin() == b.origin()
}

/// A port nobody listens on right now; the peer binds it a moment later.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The end of a peer's log, where the reason it failed is.
fn log_tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

// ---------------------------------------------------------------------------------------------
// Just enough HTML for the peers' pages

/// A form as a browser without JavaScript submits it.
#[derive(Clone, Debug, Default)]
struct HtmlForm {
    id: String,
    action: String,
    fields: Vec<(String, String)>,
}

impl HtmlForm {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

struct Tag {
    name: String,
    closing: bool,
    attributes: Vec<(String, String)>,
}

impl Tag {
    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// The forms in `html` with their successful controls: named inputs (checkboxes and radio
/// buttons only when checked; no buttons), selects (the selected or else the first option) and
/// textareas; values unescaped.
fn forms(html: &str) -> Vec<HtmlForm> {
    let mut forms = Vec::new();
    let mut current: Option<HtmlForm> = None;
    let mut select: Option<(String, Option<String>, Option<String>)> = None;
    let mut position = 0;
    while let Some((_, tag, end)) = next_tag(html, position) {
        position = end;
        let text_after = || unescape(html[end..].split('<').next().unwrap_or_default().trim());
        match (tag.name.as_str(), tag.closing) {
            ("form", false) => {
                current = Some(HtmlForm {
                    id: tag.attribute("id").unwrap_or_default().to_owned(),
                    action: tag.attribute("action").unwrap_or_default().to_owned(),
                    fields: Vec::new(),
                });
            }
            ("form", true) => forms.extend(current.take()),
            ("input", false) => {
                let (Some(form), Some(name)) = (current.as_mut(), tag.attribute("name")) else { continue };
                let kind = tag.attribute("type").unwrap_or("text").to_ascii_lowercase();
                let checkable = kind == "checkbox" || kind == "radio";
                if ["submit", "button", "image", "reset", "file"].contains(&kind.as_str())
                    || (checkable && tag.attribute("checked").is_none())
                {
                    continue;
                }
                let value = tag.attribute("value").unwrap_or(if checkable { "on" } else { "" });
                form.fields.push((name.to_owned(), value.to_owned()));
            }
            ("textarea", false) => {
                if let (Some(form), Some(name)) = (current.as_mut(), tag.attribute("name")) {
                    form.fields.push((name.to_owned(), text_after()));
                }
            }
            ("select", false) => select = tag.attribute("name").map(|name| (name.to_owned(), None, None)),
            ("option", false) => {
                if let Some((_, first, selected)) = select.as_mut() {
                    let value = tag.attribute("value").map_or_else(text_after, str::to_owned);
                    if tag.attribute("selected").is_some() {
                        *selected = Some(value.clone());
                    }
                    first.get_or_insert(value);
                }
            }
            ("select", true) => {
                if let (Some(form), Some((name, first, selected))) = (current.as_mut(), select.take())
                    && let Some(value) = selected.or(first)
                {
                    form.fields.push((name, value));
                }
            }
            _ => {}
        }
    }
    forms
}

/// The next markup at or after `from`: (where its `<` is, the tag, the index after its `>`).
/// Comments, doctypes and a `<` that starts no tag come back as a tag without a name; the
/// bodies of scripts and styles are skipped. Attribute values are unescaped.
fn next_tag(html: &str, from: usize) -> Option<(usize, Tag, usize)> {
    let bytes = html.as_bytes();
    let at = from + html.get(from..)?.find('<')?;
    let rest = &html[at..];
    let other = || Tag { name: String::new(), closing: false, attributes: Vec::new() };
    if rest.starts_with("<!--") {
        return Some((at, other(), rest.find("-->").map_or(html.len(), |end| at + end + 3)));
    }
    if rest.starts_with("<!") || rest.starts_with("<?") {
        return Some((at, other(), rest.find('>').map_or(html.len(), |end| at + end + 1)));
    }
    let mut i = at + 1;
    let closing = bytes.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    let start = i;
    while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
        i += 1;
    }
    if i == start {
        return Some((at, other(), at + 1));
    }
    let name = html[start..i].to_ascii_lowercase();
    let mut attributes = Vec::new();
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        match bytes.get(i) {
            None => return None,
            Some(b'>') => {
                i += 1;
                break;
            }
            Some(_) => {}
        }
        let key_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !b"=>/".contains(&bytes[i]) {
            i += 1;
        }
        let key = html[key_start..i].to_ascii_lowercase();
        let mut value = String::new();
        if bytes.get(i) == Some(&b'=') {
            i += 1;
            match bytes.get(i) {
                Some(&quote) if quote == b'"' || quote == b'\'' => {
                    let end = i + 1 + html[i + 1..].find(char::from(quote))?;
                    value = unescape(&html[i + 1..end]);
                    i = end + 1;
                }
                _ => {
                    let value_start = i;
                    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                        i += 1;
                    }
                    value = unescape(&html[value_start..i]);
                }
            }
        }
        attributes.push((key, value));
    }
    if !closing && (name == "script" || name == "style") {
        i += html[i..].find("</").unwrap_or(html.len() - i);
    }
    Some((at, Tag { name, closing, attributes }, i))
}

/// Character references: the five named ones and numeric ones (`&#61;`, `&#x3D;`).
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.find(';').filter(|&end| end <= 10).and_then(|end| {
            let entity = &rest[1..end];
            let character = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .map(|hex| u32::from_str_radix(hex, 16))
                    .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                    .and_then(Result::ok)
                    .and_then(char::from_u32),
            };
            character.map(|character| (character, end))
        });
        match decoded {
            Some((character, end)) => {
                out.push(character);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text of the element whose `id` is `id` (the providers' error pages), else the page's text.
fn element_text(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    match html.find(&marker) {
        Some(at) => unescape(html[at + marker.len()..].split('<').next().unwrap_or_default()),
        None => page_text(html),
    }
}

/// A page's text without tags, scripts and styles, whitespace collapsed, at most 2000 characters.
fn page_text(html: &str) -> String {
    let mut text = String::new();
    let mut position = 0;
    while let Some((at, _, end)) = next_tag(html, position) {
        text.push_str(&unescape(&html[position..at]));
        text.push(' ');
        position = end;
    }
    text.push_str(&unescape(html.get(position..).unwrap_or_default()));
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    text.chars().take(2000).collect()
}
