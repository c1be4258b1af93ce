//! PBKDF2-HMAC-SHA256 password hashes in PHC string format.
//!
//! The cost travels inside each hash (`$pbkdf2-sha256$i=600000,l=32$salt$hash`), so raising
//! [`RECOMMENDED_ROUNDS`] later keeps old hashes verifiable and [`Verification::needs_rehash`]
//! says when to upgrade one at login. Hashing is CPU-bound (~0.3 s): callers on an async
//! executor must run it on a blocking thread.

use domain::Secret;
use pbkdf2::password_hash::phc::PasswordHash;
use pbkdf2::{Params, PasswordHasher as _, PasswordVerifier as _, Pbkdf2};

/// OWASP's current recommendation for PBKDF2-HMAC-SHA256.
pub const RECOMMENDED_ROUNDS: u32 = Params::RECOMMENDED_ROUNDS;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("the iteration count {0} is below the minimum of {min}", min = Params::MIN_ROUNDS)]
    TooFewRounds(u32),
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Valid { needs_rehash: bool },
    Invalid,
}

/// Hashes and verifies passwords at a fixed cost.
#[derive(Debug, Clone, Copy)]
pub struct PasswordHasher {
    hasher: Pbkdf2,
    rounds: u32,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self { hasher: Pbkdf2::SHA256, rounds: RECOMMENDED_ROUNDS }
    }
}

impl PasswordHasher {
    /// A hasher at a non-default cost. Only explicit test configuration should lower it.
    pub fn with_rounds(rounds: u32) -> Result<Self, PasswordError> {
        let params = Params::new(rounds).map_err(|_| PasswordError::TooFewRounds(rounds))?;
        Ok(Self { hasher: Pbkdf2::new(pbkdf2::Algorithm::Pbkdf2Sha256, params), rounds })
    }

    pub fn rounds(&self) -> u32 {
        self.rounds
    }

    /// Hashes with a fresh random salt; returns the PHC string.
    pub fn hash(&self, password: &str) -> Result<Secret<String>, PasswordError> {
        let hash = self
            .hasher
            .hash_password(password.as_bytes())
            .map_err(|e| PasswordError::Hashing(e.to_string()))?;
        Ok(Secret::new(hash.to_string()))
    }

    /// Checks `password` against a stored PHC string. A malformed stored hash verifies as
    /// invalid rather than erroring, so it cannot be told apart from a wrong password.
    pub fn verify(&self, password: &str, stored: &str) -> Verification {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return Verification::Invalid;
        };
        match self.hasher.verify_password(password.as_bytes(), &parsed) {
            Ok(()) => Verification::Valid {
                needs_rehash: Params::try_from(&parsed).map_or(true, |p| p.rounds() < self.rounds),
            },
            Err(_) => Verification::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_cost_is_owasp_and_in_phc_format() {
        let hasher = PasswordHasher::default();
        assert_eq!(hasher.rounds(), 600_000);
        let hash = hasher.hash("admin123").unwrap();
        assert!(hash.expose().starts_with("$pbkdf2-sha256$i=600000,"), "{}", hash.expose());
        assert_eq!(hasher.verify("admin123", hash.expose()), Verification::Valid { needs_rehash: false });
        assert_eq!(hasher.verify("admin124", hash.expose()), Verification::Invalid);
    }

    #[test]
    fn salts_differ_between_hashes() {
        let hasher = PasswordHasher::with_rounds(1_000).unwrap();
        assert_ne!(hasher.hash("same").unwrap().expose(), hasher.hash("same").unwrap().expose());
    }

    #[test]
    fn weaker_hashes_verify_and_ask_for_rehash() {
        let old = PasswordHasher::with_rounds(1_000).unwrap().hash("pw").unwrap();
        let current = PasswordHasher::with_rounds(2_000).unwrap();
        assert_eq!(current.verify("pw", old.expose()), Verification::Valid { needs_rehash: true });
    }

    #[test]
    fn malformed_hash_is_just_invalid() {
        let hasher = PasswordHasher::with_rounds(1_000).unwrap();
        assert_eq!(hasher.verify("pw", "not a hash"), Verification::Invalid);
        assert_eq!(hasher.verify("pw", ""), Verification::Invalid);
    }

    #[test]
    fn too_few_rounds_are_refused() {
        assert!(matches!(PasswordHasher::with_rounds(10), Err(PasswordError::TooFewRounds(10))));
    }
}
