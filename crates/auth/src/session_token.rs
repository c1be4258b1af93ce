//! Session tokens: HS256 JWTs signed with `SECRET_KEY`. The `jti` names the server-side session
//! record, so a token is only as good as its session (logout and revocation end it at once).

use chrono::{DateTime, Utc};
use domain::user::Role;
use domain::{Secret, SessionId, TenantId, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// How far a token's `exp` may be behind our clock and still count (servers' clocks drift).
pub const CLOCK_SKEW_LEEWAY_SECS: u64 = 30;

/// The claims of a session token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    pub sub: UserId,
    pub tid: TenantId,
    pub role: Role,
    pub jti: SessionId,
    pub iat: i64,
    pub exp: i64,
}

impl SessionClaims {
    pub fn new(
        user: UserId,
        tenant: TenantId,
        role: Role,
        session: SessionId,
        issued: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> Self {
        Self { sub: user, tid: tenant, role, jti: session, iat: issued.timestamp(), exp: expires.timestamp() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionTokenError {
    #[error("the signing key is unusable")]
    Key,
    #[error("the token could not be signed")]
    Signing,
    /// Wrong signature, other algorithm, `alg: none`, malformed, expired: all the same to callers.
    #[error("the token is not valid")]
    Invalid,
}

/// Signs and verifies session tokens with one key. Only HS256 is accepted.
pub struct SessionTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl SessionTokens {
    pub fn new(secret_key: &Secret<String>) -> Result<Self, SessionTokenError> {
        let bytes = secret_key.expose().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = CLOCK_SKEW_LEEWAY_SECS;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "iat", "sub", "jti"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(bytes).map_err(|_| SessionTokenError::Key)?,
            decoding: DecodingKey::from_secret(bytes).map_err(|_| SessionTokenError::Key)?,
            validation,
        })
    }

    pub fn sign(&self, claims: &SessionClaims) -> Result<String, SessionTokenError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|_| SessionTokenError::Signing)
    }

    /// Checks signature, algorithm and expiry (with [`CLOCK_SKEW_LEEWAY_SECS`]) against the
    /// system clock. Whether the session is still live is the caller's next question.
    pub fn verify(&self, token: &str) -> Result<SessionClaims, SessionTokenError> {
        jsonwebtoken::decode::<SessionClaims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| SessionTokenError::Invalid)
    }
}

/// Whether a bearer credential looks like a JWT (three dot-separated parts) rather than an API token.
pub fn looks_like_jwt(credential: &str) -> bool {
    credential.split('.').count() == 3
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use jsonwebtoken::EncodingKey;

    use super::*;

    fn tokens() -> SessionTokens {
        SessionTokens::new(&Secret::new("k".repeat(40))).unwrap()
    }

    fn claims(expires_in: Duration) -> SessionClaims {
        let now = Utc::now();
        SessionClaims::new(
            UserId::from_uuid(uuid::Uuid::from_u128(1)),
            TenantId::from_uuid(uuid::Uuid::from_u128(2)),
            Role::User,
            SessionId::from_uuid(uuid::Uuid::from_u128(3)),
            now,
            now + expires_in,
        )
    }

    #[test]
    fn round_trips() {
        let c = claims(Duration::hours(1));
        let token = tokens().sign(&c).unwrap();
        assert!(looks_like_jwt(&token));
        assert_eq!(tokens().verify(&token).unwrap(), c);
    }

    #[test]
    fn refuses_other_keys_algorithms_and_expired_tokens() {
        let c = claims(Duration::hours(1));
        let other_key = SessionTokens::new(&Secret::new("x".repeat(40))).unwrap().sign(&c).unwrap();
        assert!(tokens().verify(&other_key).is_err());

        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &c,
            &EncodingKey::from_secret("k".repeat(40).as_bytes()).unwrap(),
        )
        .unwrap();
        assert!(tokens().verify(&hs512).is_err(), "only HS256 is accepted");

        let expired =
            tokens().sign(&claims(Duration::seconds(-(CLOCK_SKEW_LEEWAY_SECS as i64) - 5))).unwrap();
        assert!(tokens().verify(&expired).is_err());
        let within_leeway = tokens().sign(&claims(Duration::seconds(-5))).unwrap();
        assert!(tokens().verify(&within_leeway).is_ok(), "small clock skew is tolerated");
    }

    #[test]
    fn refuses_unsigned_tokens() {
        let valid = tokens().sign(&claims(Duration::hours(1))).unwrap();
        let payload = valid.split('.').nth(1).unwrap();
        // {"alg":"none","typ":"JWT"}
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert!(tokens().verify(&none).is_err());
        assert!(tokens().verify("not-a-token").is_err());
    }
}
