//! API tokens: `pmt_` followed by 64 hex characters (256 random bits). Only the SHA-256 hash is
//! stored; a fast hash suffices because the secret is random, not chosen by a person.

use domain::Secret;
use rand::RngCore;
use sha2::{Digest, Sha256};

const MARKER: &str = "pmt_";
/// Characters of the token kept in clear for lists (the marker and 8 hex digits).
const PREFIX_LEN: usize = MARKER.len() + 8;

/// A freshly generated token: the secret (shown once) and what is stored.
pub struct GeneratedToken {
    pub secret: Secret<String>,
    pub prefix: String,
    pub hash: String,
}

pub fn generate() -> GeneratedToken {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{MARKER}{}", hex::encode(bytes));
    GeneratedToken {
        prefix: secret[..PREFIX_LEN].to_owned(),
        hash: hash(&secret),
        secret: Secret::new(secret),
    }
}

/// The stored form of a token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether a bearer credential is an API token (rather than a session token).
pub fn is_api_token(credential: &str) -> bool {
    credential.starts_with(MARKER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let a = generate();
        let b = generate();
        assert_ne!(a.secret, b.secret);
        assert!(is_api_token(a.secret.expose()));
        assert_eq!(a.secret.expose().len(), 4 + 64);
        assert!(a.secret.expose().starts_with(&a.prefix));
        assert_eq!(a.prefix.len(), 12);
        assert_eq!(hash(a.secret.expose()), a.hash);
        assert_eq!(a.hash.len(), 64);
        assert!(!a.hash.contains(&a.secret.expose()[4..]));
    }
}
