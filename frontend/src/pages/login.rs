//! Sign-in: organisation, email and password, or single sign-on when the organisation has it;
//! afterwards back to where the person was going.

use std::time::Duration;

use domain::wire::{ErrorCode, LoginRequest};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{self, ApiFailure};
use crate::auth::use_auth;
use crate::pages::sso_sign_in::{PASSWORDS_FOR_ADMINS, SsoSignInButton};
use crate::ui::{FailureAlert, FieldMessage, invalid, safe_next, set_title};

#[component]
pub fn LoginPage() -> impl IntoView {
    set_title("Sign in");
    let auth = use_auth();
    let query = use_query_map();
    let navigate = use_navigate();
    let next = move || safe_next(query.with(|q| q.get("next")));

    // Signed in (now or already): on to the page they wanted.
    Effect::new(move || {
        if auth.signed_in() {
            navigate(&next(), NavigateOptions { replace: true, ..Default::default() });
        }
    });

    let tenant = RwSignal::new("localhost".to_owned());
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let failure = RwSignal::new(None::<ApiFailure>);
    let pending = RwSignal::new(false);

    // What the organisation offers (single sign-on, passwords), looked up a moment after the
    // organisation is typed. Empty: the server takes it from the address, as for passwords.
    let sso_tenant = RwSignal::new(tenant.get_untracked());
    let timer = StoredValue::new(None::<TimeoutHandle>);
    Effect::new(move |previous: Option<()>| {
        let typed = tenant.get().trim().to_owned();
        if previous.is_none() {
            return;
        }
        if let Some(handle) = timer.try_update_value(Option::take).flatten() {
            handle.clear();
        }
        let settle = move || {
            let _ = sso_tenant.try_set(typed);
        };
        timer.set_value(set_timeout_with_handle(settle, Duration::from_millis(300)).ok());
    });
    let sso = LocalResource::new(move || {
        let tenant = sso_tenant.get().trim().to_owned();
        // No options (the server is unreachable or old): the password form alone.
        async move { api::sso_options((!tenant.is_empty()).then_some(tenant)).await.ok() }
    });
    let options = move || sso.get().flatten();
    let next_signal = Signal::derive(next);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        let tenant = tenant.get_untracked().trim().to_owned();
        let request = LoginRequest {
            email: email.get_untracked().trim().to_owned(),
            password: password.get_untracked(),
            tenant: (!tenant.is_empty()).then_some(tenant),
        };
        pending.set(true);
        failure.set(None);
        spawn_local(async move {
            if let Err(f) = auth.sign_in(request).await {
                let f = if f.is(ErrorCode::PasswordSignInDisabled) {
                    ApiFailure { message: PASSWORDS_FOR_ADMINS.to_owned(), ..f }
                } else {
                    f
                };
                failure.set(Some(f));
                password.set(String::new());
            }
            pending.set(false);
        });
    };

    view! {
        <main id="main" class="login-page">
            <div class="login-brand">"AI Prompt Manager"</div>
            <form class="card login-card" aria-labelledby="login-title" on:submit=submit>
                <h1 id="login-title">"Sign in"</h1>
                {move || auth.notice.get().map(|n| view! { <p class="notice" role="status">{n}</p> })}
                <FailureAlert failure/>
                <div class="field">
                    <label for="tenant">"Organisation"</label>
                    <input
                        id="tenant"
                        name="tenant"
                        autocomplete="organization"
                        aria-describedby="tenant-error"
                        aria-invalid=invalid(failure, "tenant")
                        bind:value=tenant
                    />
                    <FieldMessage failure field="tenant" id="tenant-error"/>
                </div>
                <div class="field">
                    <label for="email">"Email"</label>
                    <input
                        id="email"
                        name="email"
                        type="email"
                        autocomplete="username"
                        required
                        aria-describedby="email-error"
                        aria-invalid=invalid(failure, "email")
                        bind:value=email
                    />
                    <FieldMessage failure field="email" id="email-error"/>
                </div>
                {move || {
                    options()
                        .filter(|o| o.sso)
                        .and_then(|o| o.sign_in_url)
                        .map(|sign_in_url| view! { <SsoSignInButton sign_in_url email next=next_signal/> })
                }}
                {move || {
                    options()
                        .filter(|o| !o.password_sign_in)
                        .map(|_| view! { <p class="notice" role="note" data-testid="sso-password-note">{PASSWORDS_FOR_ADMINS}</p> })
                }}
                <div class="field">
                    <label for="password">"Password"</label>
                    <input
                        id="password"
                        name="password"
                        type="password"
                        autocomplete="current-password"
                        required
                        aria-describedby="password-error"
                        aria-invalid=invalid(failure, "password")
                        bind:value=password
                    />
                    <FieldMessage failure field="password" id="password-error"/>
                </div>
                <button type="submit" class="button-primary" disabled=move || pending.get()>
                    "Sign in"
                </button>
                <Show when=move || pending.get()>
                    <p class="hint" role="status">"Signing in…"</p>
                </Show>
            </form>
            <ServerStatus/>
        </main>
    }
}

/// The server's version, or why it cannot be reached.
#[component]
fn ServerStatus() -> impl IntoView {
    let health = LocalResource::new(api::health);
    view! {
        <p class="server-status" role="status">
            {move || {
                health
                    .get()
                    .map(|result| match result {
                        Ok(h) => format!("Server {} is up.", h.version),
                        Err(failure) => failure.to_string(),
                    })
            }}
        </p>
    }
}
