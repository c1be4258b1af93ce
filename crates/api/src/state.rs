use crate::ai_services::AiRuntime;
use crate::read_cache::ReadCache;
use auth::login_throttle::LoginThrottle;
use auth::password::PasswordHasher;
use auth::session_token::SessionTokens;
use domain::Secret;
use persistence::Database;
use tokio::sync::Semaphore;

/// Shared by every request handler.
pub struct AppState {
    pub db: Database,
    pub session_tokens: SessionTokens,
    /// How long sessions last, and how long a chain of refreshes may go on.
    pub session_lifetimes: domain::session::SessionLifetimes,
    pub passwords: Passwords,
    /// Verified against when the account does not exist, so that case costs the same time.
    pub dummy_password_hash: Secret<String>,
    pub login_throttle: LoginThrottle,
    pub trusted_proxies: crate::client::TrustedProxies,
    pub read_cache: ReadCache,
    pub ai: AiRuntime,
    pub sso: crate::sso::SsoRuntime,
    /// The general request rate limit (per credential, per anonymous address).
    pub rate_limits: crate::rate_limit::RateLimits,
    /// Fetches by label per version served, on their way to the database.
    pub fetch_counts: std::sync::Arc<crate::fetch_counts::FetchCounts>,
    pub webhooks: std::sync::Arc<crate::webhooks::WebhookRuntime>,
}

/// Password hashing with bounded parallelism: PBKDF2 is CPU-bound, so at most `permits`
/// hashes run at once, leaving cores free for every other request during a burst of sign-ins.
pub struct Passwords {
    pub hasher: PasswordHasher,
    permits: Semaphore,
}

impl Passwords {
    pub fn new(hasher: PasswordHasher, permits: usize) -> Self {
        Self { hasher, permits: Semaphore::new(permits.max(1)) }
    }

    /// Runs `work` on a blocking thread once a hashing permit is free.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(PasswordHasher) -> T + Send + 'static,
    ) -> Result<T, crate::error::ApiError> {
        let _permit = self.permits.acquire().await.map_err(|e| crate::error::ApiError::internal(&e))?;
        let hasher = self.hasher;
        Ok(actix_web::web::block(move || work(hasher)).await?)
    }
}
