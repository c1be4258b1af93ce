//! The real binary serving the real web app, seen from outside: over HTTP and in headless
//! Chromium. `cargo xtask test` builds both first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod admin;
mod ai;
mod api;
mod app;
mod approvals;
mod browser;
mod bundles;
mod durability;
mod prompts;
mod releases;
mod server;
mod sign_in;
mod sso;
mod web_app;
mod webhooks;
