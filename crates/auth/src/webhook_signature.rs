//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): a delivery carries
//! `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature`, the base64
//! HMAC-SHA256 of `{id}.{timestamp}.{body}` under the endpoint's secret, as `v1,<signature>`;
//! during a secret rotation it carries one signature per secret, space-separated. Secrets are
//! `whsec_` and 32 random bytes in base64, as the spec's libraries expect.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use domain::Secret;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::Sha256;

/// How every secret begins.
pub const SECRET_PREFIX: &str = "whsec_";

/// A new endpoint secret.
pub fn generate_secret() -> Secret<String> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes)))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a webhook secret (whsec_ and base64)")]
pub struct InvalidSecret;

/// The `webhook-signature` header for a delivery signed with each of `secrets`.
pub fn signature_header(
    secrets: &[&Secret<String>],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, InvalidSecret> {
    let mut signatures = Vec::with_capacity(secrets.len());
    for secret in secrets {
        let key = secret.expose().strip_prefix(SECRET_PREFIX).ok_or(InvalidSecret)?;
        let key = STANDARD.decode(key).map_err(|_| InvalidSecret)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| InvalidSecret)?;
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        signatures.push(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())));
    }
    Ok(signatures.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_the_specification_example() {
        // The example of the Standard Webhooks specification (its reference libraries' tests).
        let secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned());
        let body = br#"{"test": 2432232314}"#;
        let header = signature_header(&[&secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(header, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn rotation_signs_with_every_secret_and_bad_secrets_are_refused() {
        let (new, old) = (generate_secret(), generate_secret());
        assert!(new.expose().starts_with(SECRET_PREFIX));
        let both = signature_header(&[&new, &old], "msg_1", 1, b"{}").unwrap();
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], signature_header(&[&new], "msg_1", 1, b"{}").unwrap());
        assert_ne!(parts[0], parts[1]);
        for bad in ["secret", "whsec_???"] {
            assert_eq!(signature_header(&[&Secret::new(bad.to_owned())], "m", 1, b""), Err(InvalidSecret));
        }
    }
}
