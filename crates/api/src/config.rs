//! Settings from the environment (and an optional `.env`, loaded by `main`).
//!
//! Parsing takes the variables as a map, so it is tested without touching the process
//! environment. Every refusal names the variable, and no error ever repeats a secret's value.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use auth::secret_key;
use domain::Secret;
use persistence::DatabaseSettings;

pub const DEFAULT_PORT: u16 = 7860;
const DEFAULT_POOL_SIZE: u32 = 10;

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseSettings,
    /// `DB_PATH`: the SQLite file; in local development the generated key lives beside it.
    pub db_path: PathBuf,
    /// `SECRET_KEY`; `None` only in local development, where a key file is used instead.
    pub secret_key: Option<Secret<String>>,
    pub local_dev_mode: bool,
    pub sso: SsoSettings,
    pub host: IpAddr,
    pub port: u16,
    pub log_format: LogFormat,
    /// `WEB_DIST_DIR`: a folder to serve the browser app from at `/` instead of the copy built
    /// into the binary.
    pub web_dist_dir: Option<PathBuf>,
    /// `TLS_CERT_FILE` and `TLS_KEY_FILE`: serve HTTPS directly (PEM files) instead of plain
    /// HTTP behind a proxy that ends TLS.
    pub tls: Option<TlsFiles>,
    /// `SESSION_LIFETIME_MINUTES`: how long a session token lasts.
    pub session_lifetime: chrono::Duration,
    /// `SESSION_ABSOLUTE_LIFETIME`: how long a chain of refreshed sessions may last from its
    /// sign-in (`7d`, `12h`, `30m`, `90s`); no session of the chain outlives it.
    pub session_absolute_lifetime: chrono::Duration,
    /// `LOGIN_MAX_FAILURES` and `LOGIN_WINDOW_SECONDS`: sign-in throttling.
    pub login_limits: auth::login_throttle::ThrottleLimits,
    /// `TRUSTED_PROXIES`: the proxies (IP addresses, CIDR ranges) whose `X-Forwarded-For` and
    /// `X-Forwarded-Proto` count; empty: none, the connection's peer is the client.
    pub trusted_proxies: crate::client::TrustedProxies,
    /// `READ_CACHE_SECONDS`: how long credentials and fetched prompts may be served from memory
    /// (changes made through this process are seen at once; `0` turns the cache off).
    pub read_cache_ttl: std::time::Duration,
    /// `CORS_ALLOWED_ORIGINS`: the origins (`https://app.example.com`) a web app served from
    /// elsewhere may call the API from; empty: same origin only.
    pub cors_allowed_origins: Vec<String>,
    pub ai: AiSettings,
    /// `RATE_LIMIT_PER_MINUTE` (per session or API token) and `RATE_LIMIT_ANONYMOUS_PER_MINUTE`
    /// (per client address, without a credential): API requests per minute; `0`: unlimited.
    pub rate_limits: crate::rate_limit::RateLimitSettings,
    pub webhooks: WebhookSettings,
}

/// Outbound webhook deliveries.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `WEBHOOK_ALLOW_PRIVATE_NETWORKS`: whether endpoints may be on loopback or private
    /// addresses and use plain `http` (default: only in local development).
    pub allow_private_networks: bool,
    /// `WEBHOOK_RETRY_BASE_SECONDS` (default 5): the wait after a first failed try; each later
    /// wait is six times the one before, at most 6 hours.
    pub retry_base: std::time::Duration,
    /// `WEBHOOK_DELIVERY` (default true): whether this server sends deliveries. Every server
    /// queues them; turning it off leaves the sending to the others.
    pub deliver: bool,
}

/// Limits and address rules for calls to AI services.
#[derive(Debug, Clone)]
pub struct AiSettings {
    /// `AI_ALLOW_PRIVATE_NETWORKS`: whether connections may point at loopback and private
    /// addresses (where LM Studio, Ollama and llama.cpp usually run). Default: only in local
    /// development. Cloud metadata and link-local addresses are refused always.
    pub allow_private_networks: bool,
    /// `AI_RUNS_PER_MINUTE`: calls to AI services one user may start per minute.
    pub runs_per_minute: u32,
    /// `AI_MAX_ANSWER_BYTES`: the largest answer read from an AI service.
    pub max_answer_bytes: usize,
    /// `AI_MAX_CONCURRENT_CALLS`: calls to AI services in flight across the server.
    pub max_concurrent_calls: usize,
}

/// Single sign-on: the server-wide OpenID Connect provider (`SSO_*`, used by tenants without
/// settings of their own) and the rules for every tenant's provider.
#[derive(Debug, Clone)]
pub struct SsoSettings {
    /// `SSO_ENABLED`: whether the server-wide provider below signs in users of tenants that
    /// have no SSO settings of their own.
    pub enabled: bool,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret<String>>,
    /// `SSO_AUTHORITY`: the provider's issuer (for Entra ID,
    /// `https://login.microsoftonline.com/<directory id>`; `/v2.0` is added).
    pub authority: Option<String>,
    /// `SSO_REDIRECT_URI`: our OpenID Connect callback, whose origin is also where SAML
    /// responses are posted and where users land. Default `http://localhost:<port>/auth/callback`
    /// with the port the server listens on.
    pub redirect_uri: Option<String>,
    /// `SSO_ALLOWED_DOMAINS`, `SSO_DEFAULT_ROLE`, `SSO_CREATE_USERS`: the server-wide provider's
    /// policy (any domain, `user`, no creation at sign-in by default).
    pub allowed_domains: Vec<String>,
    pub default_role: domain::user::Role,
    pub create_users: bool,
    /// `SSO_ALLOW_PRIVATE_NETWORKS`: whether identity providers may be on loopback or private
    /// addresses and use plain `http` (default: only in local development).
    pub allow_private_networks: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// `scheme://host[:port]` origins, comma-separated; no paths, no wildcards.
fn cors_origins(raw: &str) -> Result<Vec<String>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            let well_formed = origin.split_once("://").is_some_and(|(scheme, rest)| {
                matches!(scheme, "http" | "https")
                    && !rest.is_empty()
                    && !rest.contains('/')
                    && !rest.contains('*')
            });
            if well_formed {
                Ok(origin.to_owned())
            } else {
                Err(refuse(
                    "CORS_ALLOWED_ORIGINS",
                    format!("{origin:?} is not an origin like https://app.example.com"),
                ))
            }
        })
        .collect()
}

/// The PEM files of a native TLS listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A refused setting: which variable, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}: {}", self.variable, self.reason)
    }
}

impl std::error::Error for ConfigError {}

fn refuse(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError { variable, reason: reason.into() }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars())
    }

    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let vars = Vars(vars.into_iter().collect());
        let local_dev_mode = vars.flag("LOCAL_DEV_MODE", false)?;
        let db_path = PathBuf::from(vars.get("DB_PATH").unwrap_or("prompts.db"));
        let pool_size = vars.number("DB_POOL_SIZE", DEFAULT_POOL_SIZE, 1..=1000)?;
        // PostgreSQL only; 0 turns it off.
        let statement_timeout = std::time::Duration::from_secs(vars.number(
            "DATABASE_STATEMENT_TIMEOUT",
            persistence::DEFAULT_STATEMENT_TIMEOUT.as_secs(),
            0..=3_600,
        )?);

        let database = match vars.get("DB_TYPE").unwrap_or("sqlite").to_ascii_lowercase().as_str() {
            "sqlite" => DatabaseSettings::Sqlite { path: db_path.clone(), pool_size },
            "postgres" | "postgresql" => {
                let dsn = vars.get("POSTGRES_DSN").ok_or_else(|| {
                    refuse(
                        "POSTGRES_DSN",
                        "is required when DB_TYPE=postgres (postgresql://user:pass@host:5432/db)",
                    )
                })?;
                if !(dsn.starts_with("postgres://") || dsn.starts_with("postgresql://")) {
                    return Err(refuse("POSTGRES_DSN", "must start with postgres:// or postgresql://"));
                }
                DatabaseSettings::Postgres { dsn: Secret::new(dsn.to_owned()), pool_size, statement_timeout }
            }
            other => {
                return Err(refuse(
                    "DB_TYPE",
                    format!("{other:?} is not supported (expected sqlite or postgres)"),
                ));
            }
        };

        let secret_key = match vars.get("SECRET_KEY") {
            Some(key) => {
                if let Err(weak) = secret_key::check_strength(key)
                    && !local_dev_mode
                {
                    return Err(refuse(
                        "SECRET_KEY",
                        format!("{weak}; set a random value of at least 32 characters"),
                    ));
                }
                Some(Secret::new(key.to_owned()))
            }
            None if local_dev_mode => None,
            None => {
                return Err(refuse(
                    "SECRET_KEY",
                    "is required outside LOCAL_DEV_MODE; set a random value of at least 32 characters",
                ));
            }
        };

        let sso = SsoSettings {
            enabled: vars.flag("SSO_ENABLED", false)?,
            client_id: vars.get("SSO_CLIENT_ID").map(str::to_owned),
            client_secret: vars.get("SSO_CLIENT_SECRET").map(|s| Secret::new(s.to_owned())),
            authority: vars.get("SSO_AUTHORITY").map(str::to_owned),
            redirect_uri: vars.get("SSO_REDIRECT_URI").map(str::to_owned),
            allowed_domains: vars
                .get("SSO_ALLOWED_DOMAINS")
                .unwrap_or_default()
                .split(',')
                .map(|d| d.trim().to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect(),
            default_role: match vars.get("SSO_DEFAULT_ROLE") {
                None => domain::user::Role::User,
                Some(raw) => raw.parse().map_err(|_| {
                    refuse("SSO_DEFAULT_ROLE", format!("{raw:?} is not admin, user or readonly"))
                })?,
            },
            create_users: vars.flag("SSO_CREATE_USERS", false)?,
            allow_private_networks: vars.flag("SSO_ALLOW_PRIVATE_NETWORKS", local_dev_mode)?,
        };
        if sso.enabled {
            if sso.client_id.is_none() {
                return Err(refuse("SSO_CLIENT_ID", "is required when SSO_ENABLED=true"));
            }
            let authority = sso
                .authority
                .as_deref()
                .ok_or_else(|| refuse("SSO_AUTHORITY", "is required when SSO_ENABLED=true"))?;
            if !is_http_url(authority) {
                return Err(refuse("SSO_AUTHORITY", "must be an http(s) URL"));
            }
        }
        if let Some(uri) = sso.redirect_uri.as_deref()
            && (!is_http_url(uri) || !uri.ends_with("/auth/callback"))
        {
            return Err(refuse("SSO_REDIRECT_URI", "must be an http(s) URL ending in /auth/callback"));
        }

        // Local development seeds a system administrator with a published password: it must
        // never be reachable from another machine.
        let host = match vars.get("SERVER_HOST") {
            None if local_dev_mode => IpAddr::from([127, 0, 0, 1]),
            None => IpAddr::from([0, 0, 0, 0]),
            Some(raw) => {
                let host: IpAddr = raw.parse().map_err(|_| {
                    refuse("SERVER_HOST", format!("{raw:?} is not an IP address (e.g. 0.0.0.0 or 127.0.0.1)"))
                })?;
                if local_dev_mode && !host.is_loopback() {
                    return Err(refuse(
                        "SERVER_HOST",
                        format!(
                            "{raw} is not a loopback address: LOCAL_DEV_MODE seeds admin@localhost with a \
                             published password, so it listens on 127.0.0.1 or ::1 only; turn LOCAL_DEV_MODE \
                             off to listen on {raw}"
                        ),
                    ));
                }
                host
            }
        };
        let port = vars.number("SERVER_PORT", DEFAULT_PORT, 0..=u16::MAX)?;

        let log_format = match vars.get("LOG_FORMAT").unwrap_or("text").to_ascii_lowercase().as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(refuse(
                    "LOG_FORMAT",
                    format!("{other:?} is not supported (expected text or json)"),
                ));
            }
        };

        let session_minutes = vars.number("SESSION_LIFETIME_MINUTES", 24 * 60, 5..=30 * 24 * 60)?;
        let login_limits = auth::login_throttle::ThrottleLimits {
            max_failures: vars.number("LOGIN_MAX_FAILURES", 5, 1..=1000)?,
            window: std::time::Duration::from_secs(vars.number("LOGIN_WINDOW_SECONDS", 900, 1..=86_400)?),
        };

        let ai = AiSettings {
            allow_private_networks: vars.flag("AI_ALLOW_PRIVATE_NETWORKS", local_dev_mode)?,
            runs_per_minute: vars.number("AI_RUNS_PER_MINUTE", 20, 1..=10_000)?,
            max_answer_bytes: vars.number("AI_MAX_ANSWER_BYTES", 1024 * 1024, 1024..=64 * 1024 * 1024)?,
            max_concurrent_calls: vars.number("AI_MAX_CONCURRENT_CALLS", 64, 1..=10_000)?,
        };

        let rate_limits = crate::rate_limit::RateLimitSettings {
            per_credential: vars.number("RATE_LIMIT_PER_MINUTE", 1_200, 0..=1_000_000)?,
            per_address: vars.number("RATE_LIMIT_ANONYMOUS_PER_MINUTE", 300, 0..=1_000_000)?,
        };

        let webhooks = WebhookSettings {
            allow_private_networks: vars.flag("WEBHOOK_ALLOW_PRIVATE_NETWORKS", local_dev_mode)?,
            retry_base: std::time::Duration::from_secs(vars.number(
                "WEBHOOK_RETRY_BASE_SECONDS",
                5,
                1..=3600,
            )?),
            deliver: vars.flag("WEBHOOK_DELIVERY", true)?,
        };

        let tls = match (vars.get("TLS_CERT_FILE"), vars.get("TLS_KEY_FILE")) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(TlsFiles { cert: cert.into(), key: key.into() }),
            (Some(_), None) => return Err(refuse("TLS_KEY_FILE", "is required when TLS_CERT_FILE is set")),
            (None, Some(_)) => return Err(refuse("TLS_CERT_FILE", "is required when TLS_KEY_FILE is set")),
        };

        Ok(Self {
            ai,
            rate_limits,
            tls,
            webhooks,
            session_lifetime: chrono::Duration::minutes(i64::from(session_minutes)),
            session_absolute_lifetime: vars.duration(
                "SESSION_ABSOLUTE_LIFETIME",
                chrono::Duration::days(7),
                chrono::Duration::seconds(1)..=chrono::Duration::days(365),
            )?,
            login_limits,
            trusted_proxies: crate::client::TrustedProxies::parse(
                vars.get("TRUSTED_PROXIES").unwrap_or_default(),
            )
            .map_err(|reason| refuse("TRUSTED_PROXIES", reason))?,
            read_cache_ttl: std::time::Duration::from_secs(vars.number("READ_CACHE_SECONDS", 2, 0..=300)?),
            cors_allowed_origins: cors_origins(vars.get("CORS_ALLOWED_ORIGINS").unwrap_or_default())?,
            database,
            db_path,
            secret_key,
            local_dev_mode,
            sso,
            host,
            port,
            log_format,
            web_dist_dir: vars.get("WEB_DIST_DIR").map(PathBuf::from),
        })
    }

    /// Where local development keeps its generated signing key: beside the SQLite file.
    pub fn dev_secret_key_path(&self) -> PathBuf {
        let mut name = self.db_path.clone().into_os_string();
        name.push(".secret");
        PathBuf::from(name)
    }
}

fn is_http_url(value: &str) -> bool {
    ["http://", "https://"]
        .iter()
        .any(|scheme| value.strip_prefix(scheme).is_some_and(|rest| !rest.is_empty()))
}

/// The variables, with empty values treated as unset (as in `KEY=` lines of a `.env`).
struct Vars(HashMap<String, String>);

impl Vars {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some("false" | "0" | "no" | "off") => Ok(false),
            Some(other) => Err(refuse(name, format!("{other:?} is not a boolean (expected true or false)"))),
        }
    }

    /// A duration with its unit: `90s`, `30m`, `12h`, `7d`.
    fn duration(
        &self,
        name: &'static str,
        default: chrono::Duration,
        range: std::ops::RangeInclusive<chrono::Duration>,
    ) -> Result<chrono::Duration, ConfigError> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        let split = raw.len() - raw.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (digits, unit) = raw.split_at(split);
        let seconds_per_unit = match unit.trim() {
            "s" => Some(1),
            "m" => Some(60),
            "h" => Some(3600),
            "d" => Some(86_400),
            _ => None,
        };
        let duration = seconds_per_unit
            .zip(digits.parse::<i64>().ok())
            .and_then(|(per_unit, n)| n.checked_mul(per_unit))
            .and_then(chrono::Duration::try_seconds)
            .filter(|d| range.contains(d));
        duration.ok_or_else(|| {
            refuse(
                name,
                format!(
                    "{raw:?} is not a duration from {}s to {}d (a number and a unit: s, m, h or d, as in 7d)",
                    range.start().num_seconds(),
                    range.end().num_days()
                ),
            )
        })
    }

    fn number<N>(
        &self,
        name: &'static str,
        default: N,
        range: std::ops::RangeInclusive<N>,
    ) -> Result<N, ConfigError>
    where
        N: std::str::FromStr + PartialOrd + fmt::Display + Copy,
    {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        match raw.parse::<N>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(refuse(
                name,
                format!("{raw:?} is not a number from {} to {}", range.start(), range.end()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRONG_KEY: &str = "0123456789abcdef0123456789abcdef";

    fn parse(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn refused_variable(pairs: &[(&str, &str)]) -> &'static str {
        parse(pairs).unwrap_err().variable
    }

    #[test]
    fn defaults_follow_the_seed() {
        let s = parse(&[("SECRET_KEY", STRONG_KEY)]).unwrap();
        assert!(
            matches!(&s.database, DatabaseSettings::Sqlite { path, pool_size: 10 } if path == &PathBuf::from("prompts.db"))
        );
        assert!(!s.local_dev_mode);
        assert!(!s.sso.enabled);
        assert_eq!(s.host.to_string(), "0.0.0.0");
        assert_eq!(s.port, 7860);
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(s.session_lifetime, chrono::Duration::hours(24));
        assert_eq!(s.login_limits, auth::login_throttle::ThrottleLimits::default());
        assert!(s.trusted_proxies.is_empty());
        assert_eq!(s.session_absolute_lifetime, chrono::Duration::days(7));
        assert_eq!(s.dev_secret_key_path(), PathBuf::from("prompts.db.secret"));
    }

    #[test]
    fn postgres_needs_a_dsn() {
        assert_eq!(refused_variable(&[("SECRET_KEY", STRONG_KEY), ("DB_TYPE", "postgres")]), "POSTGRES_DSN");
        assert_eq!(
            refused_variable(&[
                ("SECRET_KEY", STRONG_KEY),
                ("DB_TYPE", "postgres"),
                ("POSTGRES_DSN", "mysql://x")
            ]),
            "POSTGRES_DSN"
        );
        let s = parse(&[
            ("SECRET_KEY", STRONG_KEY),
            ("DB_TYPE", "postgres"),
            ("POSTGRES_DSN", "postgresql://u:pw@db:5432/pm"),
            ("DB_POOL_SIZE", "25"),
        ])
        .unwrap();
        assert!(matches!(s.database, DatabaseSettings::Postgres { pool_size: 25, .. }));
        let timeout = |raw| {
            let vars =
                [("SECRET_KEY", STRONG_KEY), ("DB_TYPE", "postgres"), ("POSTGRES_DSN", "postgres://db/pm")];
            match parse(&[&vars[..], &[("DATABASE_STATEMENT_TIMEOUT", raw)]].concat()) {
                Ok(Settings { database: DatabaseSettings::Postgres { statement_timeout, .. }, .. }) => {
                    Ok(statement_timeout.as_secs())
                }
                Ok(_) => unreachable!("DB_TYPE is postgres"),
                Err(e) => Err(e.variable),
            }
        };
        assert_eq!(timeout(""), Ok(30));
        assert_eq!(timeout("5"), Ok(5));
        assert_eq!(timeout("0"), Ok(0));
        assert_eq!(timeout("soon"), Err("DATABASE_STATEMENT_TIMEOUT"));
    }

    #[test]
    fn invalid_values_name_their_variable() {
        let base = ("SECRET_KEY", STRONG_KEY);
        assert_eq!(refused_variable(&[base, ("DB_TYPE", "mysql")]), "DB_TYPE");
        assert_eq!(refused_variable(&[base, ("SERVER_PORT", "70000")]), "SERVER_PORT");
        assert_eq!(refused_variable(&[base, ("SERVER_PORT", "http")]), "SERVER_PORT");
        assert_eq!(refused_variable(&[base, ("SERVER_HOST", "localhost:80")]), "SERVER_HOST");
        assert_eq!(refused_variable(&[base, ("LOCAL_DEV_MODE", "maybe")]), "LOCAL_DEV_MODE");
        for origin in ["*", "app.example.com", "https://app.example.com/path", "ftp://x"] {
            assert_eq!(refused_variable(&[base, ("CORS_ALLOWED_ORIGINS", origin)]), "CORS_ALLOWED_ORIGINS");
        }
        let origins =
            parse(&[base, ("CORS_ALLOWED_ORIGINS", " https://a.example, http://localhost:8080 ,")]).unwrap();
        assert_eq!(origins.cors_allowed_origins, ["https://a.example", "http://localhost:8080"]);
        assert_eq!(refused_variable(&[base, ("DB_POOL_SIZE", "0")]), "DB_POOL_SIZE");
        assert_eq!(refused_variable(&[base, ("LOG_FORMAT", "xml")]), "LOG_FORMAT");
        assert_eq!(refused_variable(&[base, ("SESSION_LIFETIME_MINUTES", "1")]), "SESSION_LIFETIME_MINUTES");
        assert_eq!(refused_variable(&[base, ("LOGIN_MAX_FAILURES", "0")]), "LOGIN_MAX_FAILURES");
        for lifetime in
            ["7", "d", "7 days", "-1d", "0s", "366d", "1.5h", "9999999999999d", "99999999999999999d"]
        {
            assert_eq!(
                refused_variable(&[base, ("SESSION_ABSOLUTE_LIFETIME", lifetime)]),
                "SESSION_ABSOLUTE_LIFETIME",
                "{lifetime}"
            );
        }
        for (raw, expected) in [("90s", 90), ("30m", 1800), ("12h", 43_200), ("7d", 604_800), ("2 h", 7200)] {
            let s = parse(&[base, ("SESSION_ABSOLUTE_LIFETIME", raw)]).unwrap();
            assert_eq!(s.session_absolute_lifetime, chrono::Duration::seconds(expected), "{raw}");
        }
        assert_eq!(refused_variable(&[base, ("TRUSTED_PROXIES", "10.0.0.0/8, proxy")]), "TRUSTED_PROXIES");
        let proxies = parse(&[base, ("TRUSTED_PROXIES", "10.0.0.0/8, ::1")]).unwrap().trusted_proxies;
        assert!(proxies.contains("10.3.4.5".parse().unwrap()) && proxies.contains("::1".parse().unwrap()));
        assert_eq!(refused_variable(&[base, ("SSO_ENABLED", "true")]), "SSO_CLIENT_ID");
        assert_eq!(
            refused_variable(&[base, ("SSO_ENABLED", "true"), ("SSO_CLIENT_ID", "app")]),
            "SSO_AUTHORITY"
        );
        assert_eq!(refused_variable(&[base, ("SSO_REDIRECT_URI", "callback")]), "SSO_REDIRECT_URI");
    }

    #[test]
    fn secret_key_is_required_and_strong_outside_local_dev() {
        assert_eq!(refused_variable(&[]), "SECRET_KEY");
        assert_eq!(refused_variable(&[("SECRET_KEY", "your-secure-secret-key")]), "SECRET_KEY");
        assert_eq!(refused_variable(&[("SECRET_KEY", "short")]), "SECRET_KEY");
        assert_eq!(refused_variable(&[("SECRET_KEY", "")]), "SECRET_KEY");
        // Local development generates a key file when none is given.
        let dev = parse(&[("LOCAL_DEV_MODE", "true")]).unwrap();
        assert!(dev.local_dev_mode);
        assert!(dev.secret_key.is_none());
    }

    #[test]
    fn local_development_listens_on_loopback_only() {
        let dev = |host: Option<&str>| {
            let mut vars = vec![("LOCAL_DEV_MODE", "true")];
            vars.extend(host.map(|h| ("SERVER_HOST", h)));
            parse(&vars)
        };
        assert_eq!(dev(None).unwrap().host.to_string(), "127.0.0.1");
        assert_eq!(dev(Some("::1")).unwrap().host.to_string(), "::1");
        assert_eq!(dev(Some("127.0.0.1")).unwrap().host.to_string(), "127.0.0.1");
        for exposed in ["0.0.0.0", "::", "192.168.1.20"] {
            let err = dev(Some(exposed)).unwrap_err();
            assert_eq!(err.variable, "SERVER_HOST", "{exposed}");
            assert!(err.to_string().contains("LOCAL_DEV_MODE"), "{err}");
        }
        // Outside local development any address may be bound.
        let served = parse(&[("SECRET_KEY", STRONG_KEY), ("SERVER_HOST", "0.0.0.0")]).unwrap();
        assert_eq!(served.host.to_string(), "0.0.0.0");
    }

    #[test]
    fn native_tls_needs_both_files() {
        let with = |pairs: &[(&str, &str)]| parse(&[&[("SECRET_KEY", STRONG_KEY)], pairs].concat());
        assert_eq!(with(&[]).unwrap().tls, None);
        let both =
            with(&[("TLS_CERT_FILE", "/etc/pm/cert.pem"), ("TLS_KEY_FILE", "/etc/pm/key.pem")]).unwrap();
        assert_eq!(
            both.tls,
            Some(TlsFiles { cert: "/etc/pm/cert.pem".into(), key: "/etc/pm/key.pem".into() })
        );
        assert_eq!(with(&[("TLS_CERT_FILE", "/etc/pm/cert.pem")]).unwrap_err().variable, "TLS_KEY_FILE");
        assert_eq!(with(&[("TLS_KEY_FILE", "/etc/pm/key.pem")]).unwrap_err().variable, "TLS_CERT_FILE");
    }

    #[test]
    fn errors_and_debug_output_never_show_secrets() {
        let err = parse(&[("SECRET_KEY", "hunter2-is-short")]).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");

        let s = parse(&[
            ("SECRET_KEY", STRONG_KEY),
            ("DB_TYPE", "postgres"),
            ("POSTGRES_DSN", "postgresql://u:topsecretpw@db/pm"),
            ("SSO_CLIENT_SECRET", "sso-client-secret-value"),
        ])
        .unwrap();
        let debug = format!("{s:?}");
        for secret in [STRONG_KEY, "topsecretpw", "sso-client-secret-value"] {
            assert!(!debug.contains(secret), "{secret} leaked in {debug}");
        }
        assert!(debug.contains("***"));
    }

    #[test]
    fn rate_limits_default_to_generous_allowances_and_zero_turns_them_off() {
        let base = ("SECRET_KEY", STRONG_KEY);
        let limits = parse(&[base]).unwrap().rate_limits;
        assert_eq!((limits.per_credential, limits.per_address), (1_200, 300));
        let off =
            parse(&[base, ("RATE_LIMIT_PER_MINUTE", "0"), ("RATE_LIMIT_ANONYMOUS_PER_MINUTE", "0")]).unwrap();
        assert_eq!((off.rate_limits.per_credential, off.rate_limits.per_address), (0, 0));
        assert_eq!(refused_variable(&[base, ("RATE_LIMIT_PER_MINUTE", "lots")]), "RATE_LIMIT_PER_MINUTE");
        assert_eq!(
            refused_variable(&[base, ("RATE_LIMIT_ANONYMOUS_PER_MINUTE", "-1")]),
            "RATE_LIMIT_ANONYMOUS_PER_MINUTE"
        );
    }

    #[test]
    fn booleans_accept_common_spellings() {
        for (raw, expected) in [("TRUE", true), ("1", true), ("yes", true), ("off", false), ("0", false)] {
            assert_eq!(
                parse(&[("LOCAL_DEV_MODE", raw), ("SECRET_KEY", STRONG_KEY)]).unwrap().local_dev_mode,
                expected
            );
        }
    }
}
