//! Single sign-on protocols: OpenID Connect ([`oidc`]) and SAML 2.0 ([`saml`]). Pure protocol
//! (HTTP calls go through `outbound`); the sign-in flow, settings and sessions are the API's.

pub mod oidc;
pub mod saml;

use domain::Secret;
use rand::RngCore;

/// A fresh single-use secret for the steps of a sign-in (the browser cookie, the hand-over
/// code): 256 random bits as 64 hex characters.
pub fn random_secret() -> Secret<String> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(hex::encode(bytes))
}

/// The stored form of a sign-in's state, cookie or hand-over code: only its SHA-256 is kept,
/// as for API tokens (the values are random, so a fast hash suffices).
pub fn stored_form(value: &str) -> String {
    crate::api_token::hash(value)
}
