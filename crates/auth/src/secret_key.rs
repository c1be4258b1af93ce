//! The server's signing key (`SECRET_KEY`): strength rules, and the generated key that local
//! development keeps in a file so restarts do not log everybody out.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use domain::Secret;
use rand::RngCore;

/// Keys shorter than this are refused outside local development.
pub const MIN_SECRET_KEY_LEN: usize = 32;

/// Values from documentation and examples, which are public and therefore not secret.
const KNOWN_WEAK_KEYS: &[&str] = &[
    "your-secure-secret-key",
    "your-production-secret-key",
    "your-secret-key",
    "change-me",
    "changeme",
    "secret",
    "secret-key",
    "password",
    "dev",
    "development",
    "test",
];

/// Why a configured key is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeakKey {
    #[error("is a published example value")]
    KnownExample,
    #[error("is shorter than {MIN_SECRET_KEY_LEN} characters")]
    TooShort,
}

/// Checks a configured key: at least [`MIN_SECRET_KEY_LEN`] characters and not a known example.
pub fn check_strength(key: &str) -> Result<(), WeakKey> {
    let lowered = key.trim().to_ascii_lowercase();
    if KNOWN_WEAK_KEYS.contains(&lowered.as_str()) {
        return Err(WeakKey::KnownExample);
    }
    if key.chars().count() < MIN_SECRET_KEY_LEN {
        return Err(WeakKey::TooShort);
    }
    Ok(())
}

/// A new random key: 32 bytes from the OS, hex-encoded.
pub fn generate() -> Secret<String> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(hex::encode(bytes))
}

/// Reads the key stored at `path`, or generates one and stores it there (mode 0600 on Unix).
/// Returns the key and whether it was just created.
pub fn load_or_create(path: &Path) -> io::Result<(Secret<String>, bool)> {
    match fs::read_to_string(path) {
        Ok(stored) if check_strength(stored.trim()).is_ok() => {
            return Ok((Secret::new(stored.trim().to_owned()), false));
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} does not hold a usable key; delete it to generate a new one", path.display()),
            ));
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let key = generate();
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(key.expose().as_bytes())?;
    file.write_all(b"\n")?;
    Ok((key, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_and_short_keys_are_weak() {
        assert_eq!(check_strength("your-secure-secret-key"), Err(WeakKey::KnownExample));
        assert_eq!(check_strength("CHANGEME"), Err(WeakKey::KnownExample));
        assert_eq!(check_strength("short"), Err(WeakKey::TooShort));
        assert!(check_strength(generate().expose()).is_ok());
    }

    #[test]
    fn generated_key_is_persisted_and_reused() {
        let dir = std::env::temp_dir().join(format!("pm-key-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("prompts.db.secret");
        let _ = fs::remove_file(&path);

        let (first, created) = load_or_create(&path).unwrap();
        assert!(created);
        let (second, created_again) = load_or_create(&path).unwrap();
        assert!(!created_again);
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }

        fs::write(&path, "weak").unwrap();
        assert!(load_or_create(&path).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
