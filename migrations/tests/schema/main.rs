//! The schema's guarantees, on a fresh SQLite file and a fresh PostgreSQL database per test:
//! tenant keys (no row references another tenant's row, whatever the application does) and
//! PostgreSQL row-level security for the application's role.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod support;
mod include_labels;
mod row_security;
mod tenant_keys;
