//! The app shell and the sign-in screen. Sign-in itself arrives with the authentication API;
//! until then the form is shown but not submitted.

use leptos::prelude::*;

use crate::api;

#[component]
pub fn App() -> impl IntoView {
    view! {
        <header class="topbar">
            <span class="brand">"AI Prompt Manager"</span>
        </header>
        <main class="centered">
            <LoginForm/>
            <ServerStatus/>
        </main>
    }
}

#[component]
fn LoginForm() -> impl IntoView {
    view! {
        <form class="card" aria-labelledby="login-title" on:submit=|ev| ev.prevent_default()>
            <h1 id="login-title">"Sign in"</h1>
            <label for="tenant">"Organisation"</label>
            <input id="tenant" name="tenant" value="localhost" autocomplete="organization"/>
            <label for="email">"Email"</label>
            <input id="email" name="email" type="email" autocomplete="username" required/>
            <label for="password">"Password"</label>
            <input id="password" name="password" type="password" autocomplete="current-password" required/>
            <button type="submit" disabled>"Sign in"</button>
            <p class="hint">"Sign-in opens with the authentication release."</p>
        </form>
    }
}

#[component]
fn ServerStatus() -> impl IntoView {
    let health = LocalResource::new(api::health);
    view! {
        <p class="status" role="status">
            <Suspense fallback=|| "Checking the server…">
                {move || {
                    health
                        .get()
                        .map(|result| match result {
                            Ok(h) => format!("Server {} is up.", h.version),
                            Err(failure) => failure.message,
                        })
                }}
            </Suspense>
        </p>
    }
}
