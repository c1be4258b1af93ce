//! Credentials: password hashing, session tokens (JWT), API tokens, the signing key, the
//! sign-in throttle, and sealing secrets at rest. Storage of sessions and tokens is `persistence`'s; the rules are here.

pub mod api_token;
pub mod login_throttle;
pub mod password;
pub mod sealing;
pub mod secret_key;
pub mod session_token;
pub mod sso;
pub mod webhook_signature;
