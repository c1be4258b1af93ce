//! Builds the server: opens and migrates the database, seeds local development, binds the
//! listener (port 0 picks a free one, which tests use) and wires the routes.

use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::{Server, Service};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{Condition, from_fn};
use actix_web::{App, HttpMessage, HttpServer, web};
use domain::Secret;
use persistence::{Database, StoreError};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing_actix_web::{RequestId, TracingLogger};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use ::ai::AiClient;
use auth::sealing::Sealer;
use outbound::{Outbound, OutboundConfig, OutboundPolicy};

use crate::ai_services::AiRuntime;
use crate::config::{Settings, TlsFiles};
use crate::fetch_counts::FetchCounts;
use crate::read_cache::ReadCache;
use crate::state::{AppState, Passwords};
use crate::webhooks::WebhookRuntime;
use crate::{access, error, mcp, openapi, rate_limit, routes, seed, spa};
use auth::login_throttle::LoginThrottle;
use auth::password::PasswordHasher;
use auth::session_token::SessionTokens;

/// The largest JSON body any endpoint accepts.
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("database: {0}")]
    Database(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: io::Error },
    #[error("secret key file {path}: {source}")]
    SecretKeyFile { path: PathBuf, source: io::Error },
    #[error("credentials setup: {0}")]
    Credentials(String),
    #[error("local development seed: {0}")]
    Seed(String),
    #[error("outbound HTTP client: {0}")]
    Outbound(String),
    #[error("TLS: {0}")]
    Tls(String),
}

/// The native TLS listener's configuration from its PEM files (TLS 1.2 and 1.3, no client
/// certificates; actix adds HTTP/2 and HTTP/1.1 to its ALPN list).
fn tls_config(files: &TlsFiles) -> Result<rustls::ServerConfig, StartupError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let unreadable = |path: &Path, reason: String| StartupError::Tls(format!("{}: {reason}", path.display()));
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| unreadable(&files.cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(unreadable(&files.cert, "holds no PEM certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| unreadable(&files.key, e.to_string()))?;
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| StartupError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| StartupError::Tls(format!("the certificate and the key do not go together: {e}")))
}

/// A bound, ready-to-run server.
pub struct Application {
    port: u16,
    server: Server,
    db: Database,
    fetch_counts: Arc<FetchCounts>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let secret_key = resolve_secret_key(&settings)?;
        // Unreadable or mismatched TLS files stop the start before anything else happens.
        let tls = settings.tls.as_ref().map(tls_config).transpose()?;
        let db = Database::connect(&settings.database).await?;
        db.migrate().await?;
        if settings.local_dev_mode {
            seed::seed_local_dev(&db).await?;
        }

        let addr = format!("{}:{}", settings.host, settings.port);
        let bind_error = |source| StartupError::Bind { addr: addr.clone(), source };
        let listener = TcpListener::bind((settings.host, settings.port)).map_err(bind_error)?;
        let port = listener.local_addr().map_err(bind_error)?.port();

        let session_tokens =
            SessionTokens::new(&secret_key).map_err(|e| StartupError::Credentials(e.to_string()))?;
        let hasher = PasswordHasher::default();
        let dummy_hash = web::block(move || hasher.hash("not a real password"))
            .await
            .map_err(|e| StartupError::Credentials(e.to_string()))?
            .map_err(|e| StartupError::Credentials(e.to_string()))?;
        // Half the cores hash passwords at most; the rest keep serving during sign-in bursts.
        let hashing_permits = std::thread::available_parallelism().map_or(1, |n| n.get() / 2);
        let fetch_counts = Arc::new(FetchCounts::default());
        let webhooks = Arc::new(
            WebhookRuntime::new(&settings.webhooks, Sealer::new(&secret_key))
                .map_err(StartupError::Outbound)?,
        );
        let state = web::Data::new(AppState {
            db: db.clone(),
            session_tokens,
            session_lifetimes: domain::session::SessionLifetimes {
                lifetime: settings.session_lifetime,
                absolute: settings.session_absolute_lifetime,
            },
            passwords: Passwords::new(hasher, hashing_permits),
            dummy_password_hash: dummy_hash,
            login_throttle: LoginThrottle::new(settings.login_limits),
            trusted_proxies: settings.trusted_proxies.clone(),
            read_cache: ReadCache::new(settings.read_cache_ttl),
            ai: ai_runtime(&settings, &secret_key)?,
            sso: crate::sso::SsoRuntime::new(settings.sso.clone(), Sealer::new(&secret_key), port)
                .map_err(StartupError::Outbound)?,
            rate_limits: crate::rate_limit::RateLimits::new(settings.rate_limits),
            fetch_counts: fetch_counts.clone(),
            webhooks: webhooks.clone(),
        });
        if settings.webhooks.deliver {
            crate::webhooks::spawn_worker(db.clone(), webhooks);
        }
        spawn_housekeeping(state.clone());
        spawn_fetch_count_flushes(state.clone());
        let web_app = spa::WebApp::new(settings.web_dist_dir.clone());
        if !web_app.is_built() {
            tracing::warn!(source = ?web_app, "the web app is not built; `/` answers 503 until it is");
        }
        let cors_origins = settings.cors_allowed_origins.clone();
        let server = HttpServer::new(move || {
            let (app, api) = App::new()
                .app_data(state.clone())
                .app_data(web::JsonConfig::default().limit(JSON_BODY_LIMIT).error_handler(error::json_error))
                .app_data(web::QueryConfig::default().error_handler(error::query_error))
                .app_data(web::PathConfig::default().error_handler(error::path_error))
                // Inside authentication: charges each request to its credential.
                .wrap(from_fn(rate_limit::by_credential))
                .wrap(from_fn(access::enforce))
                // Before authentication: charges anonymous requests to their address.
                .wrap(from_fn(rate_limit::by_address))
                .wrap(security_headers(&state))
                .wrap_fn(|req, srv| {
                    let request_id = req.extensions().get::<RequestId>().copied();
                    let response = srv.call(req);
                    async move {
                        let mut response = response.await?;
                        if let Some(id) =
                            request_id.and_then(|id| HeaderValue::from_str(&id.to_string()).ok())
                        {
                            response.headers_mut().insert(HeaderName::from_static("x-request-id"), id);
                        }
                        Ok(response)
                    }
                })
                .wrap(TracingLogger::default())
                // Outermost, so preflight requests are answered before authentication.
                .wrap(Condition::new(!cors_origins.is_empty(), cors(&cors_origins)))
                .into_utoipa_app()
                .openapi(openapi::ApiDoc::openapi())
                .configure(routes::configure)
                .split_for_parts();
            let api = openapi::complete(api);
            let app = app.service(SwaggerUi::new("/api/docs/{_:.*}").url("/api/openapi.json", api)).service(
                web::resource("/api/docs")
                    .route(web::get().to(docs_without_slash))
                    .route(web::head().to(docs_without_slash)),
            );
            spa::register(app.service(mcp::scope()), &web_app)
        })
        // Shutdown is driven by `run_until` with our own signal handlers (see ShutdownSignal).
        .disable_signals();
        let server = match tls {
            Some(tls) => server.listen_rustls_0_23(listener, tls),
            None => server.listen(listener),
        }
        .map_err(bind_error)?
        .run();

        tracing::info!(
            %addr,
            port,
            database = db.backend().as_str(),
            tls = settings.tls.is_some(),
            local_dev_mode = settings.local_dev_mode,
            "AI Prompt Manager is listening"
        );
        Ok(Self { port, server, db, fetch_counts })
    }

    /// The port actually bound (differs from the setting when that was 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the process ends (tests run servers this way).
    pub async fn run_until_stopped(self) -> io::Result<()> {
        self.server.await
    }

    /// Serves until `shutdown` fires, then stops accepting, lets in-flight requests finish
    /// (up to actix's 30 s shutdown timeout) and closes the database pool.
    pub async fn run_until(self, shutdown: ShutdownSignal) -> io::Result<()> {
        let handle = self.server.handle();
        // The server future processes the stop command, so it must keep running on its own task.
        let mut server = tokio::spawn(self.server);
        let result = tokio::select! {
            result = &mut server => result,
            () = shutdown.recv() => {
                tracing::info!("shutting down");
                handle.stop(true).await;
                server.await
            }
        };
        result.map_err(io::Error::other)??;
        if let Err(err) = self.fetch_counts.flush(&self.db).await {
            tracing::warn!(error = %err, "writing the last label fetch counts failed");
        }
        if let Err(err) = self.db.close().await {
            tracing::warn!(error = %err, "closing the database pool failed");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Fires on SIGTERM or SIGINT (Ctrl-C). The handlers are installed when this is created, so
/// a signal that arrives while the server is still starting is not lost.
pub struct ShutdownSignal {
    terminate: Signal,
    interrupt: Signal,
}

impl ShutdownSignal {
    pub fn install() -> io::Result<Self> {
        Ok(Self { terminate: signal(SignalKind::terminate())?, interrupt: signal(SignalKind::interrupt())? })
    }

    async fn recv(mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}

use utoipa::OpenApi as _;

/// How often expired run outputs are cleared (reads hide them at once anyway).
const HOUSEKEEPING_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The one outbound client for AI calls, with the operator's address rules, and the key sealer.
fn ai_runtime(settings: &Settings, secret_key: &Secret<String>) -> Result<AiRuntime, StartupError> {
    let outbound = Outbound::new(OutboundConfig {
        policy: OutboundPolicy { allow_private_networks: settings.ai.allow_private_networks },
        connect_timeout: std::time::Duration::from_secs(10),
        // No connection may stay silent longer than the longest timeout a connection may set.
        read_timeout: std::time::Duration::from_secs(u64::from(domain::ai::MAX_TIMEOUT_SECONDS)),
        // A whole answer arrives as JSON around the text, escaped: room for that; the answer
        // text itself is capped at `max_answer_bytes` by the AI client.
        max_response_bytes: settings.ai.max_answer_bytes.saturating_mul(4).saturating_add(64 * 1024),
        user_agent: format!("ai-prompt-manager/{}", env!("CARGO_PKG_VERSION")),
    })
    .map_err(|e| StartupError::Outbound(e.to_string()))?;
    let client = AiClient::new(outbound, settings.ai.max_answer_bytes);
    Ok(AiRuntime::new(client, Sealer::new(secret_key), &settings.ai))
}

/// `/api/docs` is where people type it; the Swagger UI lives under `/api/docs/`.
async fn docs_without_slash() -> web::Redirect {
    web::Redirect::to("/api/docs/").permanent()
}

/// Every hour (and at start): clears run outputs past their tenant's retention, and forgets the
/// run allowances of users who have not called an AI service lately and the request allowances
/// of idle credentials and addresses (so the limiters' memory follows active callers, not every
/// caller ever seen).
fn spawn_housekeeping(state: web::Data<AppState>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(HOUSEKEEPING_EVERY);
        loop {
            every.tick().await;
            state.ai.forget_idle_users();
            state.rate_limits.forget_idle();
            match expire_run_outputs(&state.db).await {
                Ok(0) => {}
                Ok(cleared) => tracing::info!(cleared, "cleared run outputs past their retention"),
                Err(e) => tracing::warn!(error = %e, "run retention sweep failed"),
            }
        }
    });
}

/// How often fetches by label counted in memory are added to the database.
const FETCH_COUNTS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

fn spawn_fetch_count_flushes(state: web::Data<AppState>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(FETCH_COUNTS_EVERY);
        loop {
            every.tick().await;
            if let Err(e) = state.fetch_counts.flush(&state.db).await {
                tracing::warn!(error = %e, "writing label fetch counts failed; kept for the next try");
            }
        }
    });
}

/// The retention sweep is the operator's own background work, across every tenant.
#[allow(clippy::disallowed_methods)]
async fn expire_run_outputs(db: &persistence::Database) -> Result<u64, persistence::StoreError> {
    let system = db.system(persistence::SystemAccess::operator());
    let cleared = system.expire_run_outputs(chrono::Utc::now()).await?;
    Ok(cleared)
}

/// CSP, HSTS (over TLS, directly or per a trusted proxy) and the rest; see `security_headers`.
fn security_headers(state: &AppState) -> crate::security_headers::SecurityHeaders {
    crate::security_headers::security_headers(state.trusted_proxies.clone())
}

/// `SECRET_KEY` when set; in local development without one, the key generated on first start
/// and kept beside the SQLite file, so restarts keep sessions valid.
fn resolve_secret_key(settings: &Settings) -> Result<Secret<String>, StartupError> {
    if let Some(key) = &settings.secret_key {
        if settings.local_dev_mode && auth::secret_key::check_strength(key.expose()).is_err() {
            tracing::warn!("SECRET_KEY is weak; acceptable only because LOCAL_DEV_MODE is on");
        }
        return Ok(key.clone());
    }
    let path = settings.dev_secret_key_path();
    let (key, created) = auth::secret_key::load_or_create(&path)
        .map_err(|source| StartupError::SecretKeyFile { path: path.clone(), source })?;
    if created {
        tracing::info!(path = %path.display(), "generated a local development secret key");
    }
    Ok(key)
}

/// Cross-origin access for a web app served elsewhere: the configured origins only, with the
/// headers the API reads and the ones a client needs to see.
fn cors(origins: &[String]) -> Cors {
    use actix_web::http::{Method, header};
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
        ])
        .expose_headers([header::ETAG, header::LOCATION, header::RETRY_AFTER, header::CONTENT_DISPOSITION])
        .max_age(3600)
}
