//! Credentials: password hashing and the server's signing key. (Sessions, API tokens and SSO
//! join this crate with the authentication issue.)

pub mod password;
pub mod secret_key;
