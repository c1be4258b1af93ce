//! The HTTP server: configuration, routes, error mapping, OpenAPI document and the browser app.
//! `main.rs` is only the command line around [`startup::Application`].

pub mod access;
pub mod admin;
pub mod ai_services;
pub mod bundles;
pub mod cli;
pub mod client;
pub mod config;
pub mod error;
pub mod fetch_counts;
pub mod mcp;
pub mod openapi;
pub mod paging;
pub mod rate_limit;
pub mod read_cache;
pub mod releases;
pub mod routes;
pub mod runs;
pub mod security_headers;
pub mod seed;
pub mod spa;
pub mod spreadsheet;
pub mod sso;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod views;
pub mod webhooks;
