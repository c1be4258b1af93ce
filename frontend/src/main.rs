//! The browser app. This file only mounts; the shell and routes live in `app`, screens in
//! `pages`, HTTP in `api`, the session in `auth`.

mod api;
mod app;
mod auth;
mod pages;
mod ui;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
