//! The browser app. This file only mounts; screens live in `app`, HTTP in `api`.

mod api;
mod app;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
