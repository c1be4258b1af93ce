use domain::Secret;
use persistence::Database;

/// Shared by every request handler.
pub struct AppState {
    pub db: Database,
    /// Signs session tokens (used from the authentication issue on).
    pub secret_key: Secret<String>,
}
