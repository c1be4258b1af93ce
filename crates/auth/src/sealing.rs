//! Secrets at rest (AI service keys now; SSO client secrets and webhook secrets later): sealed
//! with XChaCha20-Poly1305 under a key derived from `SECRET_KEY` by HKDF-SHA256, so the database
//! alone never reveals them. Each sealed value is bound to where it belongs (the associated
//! data, e.g. tenant and row id), so a ciphertext copied into another row does not open.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use domain::Secret;
use hkdf::Hkdf;
use sha2::Sha256;

/// The format tag of sealed values; a new scheme gets a new tag and old values stay readable.
const FORMAT: &str = "v1:";
/// HKDF `info`: the derived key serves this purpose only (never the JWT signing key itself).
const KEY_PURPOSE: &[u8] = b"prompt-manager/secrets-at-rest/v1";
const NONCE_LEN: usize = 24;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Not a sealed value, sealed under another `SECRET_KEY`, tampered with, or moved from
    /// another row.
    #[error("the sealed value cannot be opened with this server's key")]
    CannotOpen,
    #[error("sealing failed")]
    SealFailed,
}

/// Seals and opens secrets. Cheap to clone.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(***)")
    }
}

impl Sealer {
    pub fn new(secret_key: &Secret<String>) -> Self {
        let hkdf = Hkdf::<Sha256>::new(None, secret_key.expose().as_bytes());
        let mut key = Key::default();
        // 32 bytes is far below HKDF-SHA256's 8,160-byte limit, so this cannot fail.
        let _ = hkdf.expand(KEY_PURPOSE, &mut key);
        Self { cipher: XChaCha20Poly1305::new(&key) }
    }

    /// `plaintext` sealed for the place named by `context` (e.g. `ai_connection:<tenant>:<id>`).
    pub fn seal(&self, plaintext: &Secret<String>, context: &str) -> Result<String, SealError> {
        let nonce = XNonce::generate();
        let ciphertext = self
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext.expose().as_bytes(), aad: context.as_bytes() })
            .map_err(|_| SealError::SealFailed)?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&ciphertext);
        Ok(format!("{FORMAT}{}", STANDARD_NO_PAD.encode(bytes)))
    }

    /// The plaintext of a value sealed for `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Secret<String>, SealError> {
        let encoded = sealed.strip_prefix(FORMAT).ok_or(SealError::CannotOpen)?;
        let bytes = STANDARD_NO_PAD.decode(encoded).map_err(|_| SealError::CannotOpen)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::CannotOpen);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| SealError::CannotOpen)?;
        let plaintext = self
            .cipher
            .decrypt(&nonce, Payload { msg: ciphertext, aad: context.as_bytes() })
            .map_err(|_| SealError::CannotOpen)?;
        String::from_utf8(plaintext).map(Secret::new).map_err(|_| SealError::CannotOpen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(key: &str) -> Sealer {
        Sealer::new(&Secret::new(key.to_owned()))
    }

    #[test]
    fn seals_and_opens_in_its_context_only() {
        let s = sealer("a-server-key-of-sufficient-length-0123456789");
        let key = Secret::new("sk-live-abcdef123456".to_owned());
        let sealed = s.seal(&key, "ai_connection:t1:c1").unwrap();
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("abcdef"));
        assert_eq!(s.open(&sealed, "ai_connection:t1:c1").unwrap().expose(), key.expose());
        // Another row, another server key, a flipped byte, or garbage: nothing opens.
        assert_eq!(s.open(&sealed, "ai_connection:t2:c1"), Err(SealError::CannotOpen));
        let other = sealer("another-server-key-of-sufficient-length-987654");
        assert_eq!(other.open(&sealed, "ai_connection:t1:c1"), Err(SealError::CannotOpen));
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(s.open(&tampered, "ai_connection:t1:c1"), Err(SealError::CannotOpen));
        assert_eq!(s.open("v1:", "x"), Err(SealError::CannotOpen));
        assert_eq!(s.open("plain", "x"), Err(SealError::CannotOpen));
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let s = sealer("a-server-key-of-sufficient-length-0123456789");
        let key = Secret::new("same".to_owned());
        assert_ne!(s.seal(&key, "c").unwrap(), s.seal(&key, "c").unwrap());
    }

    #[test]
    fn debug_never_shows_the_key() {
        assert_eq!(format!("{:?}", sealer("k")), "Sealer(***)");
    }
}
