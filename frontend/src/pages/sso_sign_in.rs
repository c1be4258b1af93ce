//! Single sign-on for people signing in: the button on the sign-in page, the page the server
//! sends the browser back to with a one-time code (`/login/sso#code=…`), and the page that
//! explains a refused sign-in (`/login/sso-error?code=…`).
//!
//! The place the person was going (`/login?next=…`) cannot travel through the identity
//! provider, so the button remembers it in this tab's `sessionStorage` and the return page
//! takes it back.

use domain::wire::ErrorCode;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{self, ApiFailure};
use crate::auth::use_auth;
use crate::ui::{Loading, safe_next, set_title};

/// What the sign-in page says when password sign-in is closed to most people.
pub const PASSWORDS_FOR_ADMINS: &str =
    "Your organisation signs in with single sign-on; passwords are for administrators only.";

const NEXT_KEY: &str = "prompt-manager.sso-next";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

/// Remembers where to go after the identity provider sends the person back.
fn remember_next(next: &str) {
    if let Some(storage) = storage() {
        let _ = storage.set_item(NEXT_KEY, next);
    }
}

/// The remembered place, forgotten as it is read.
fn take_next() -> Option<String> {
    let storage = storage()?;
    let next = storage.get_item(NEXT_KEY).ok().flatten();
    let _ = storage.remove_item(NEXT_KEY);
    next
}

/// A refusal's title and what it means for the person, in plain words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Explanation {
    pub title: &'static str,
    pub text: &'static str,
}

/// The plain-language explanation of a single sign-on error code (`None` or an unexpected
/// code: a generic one).
pub fn explain(code: Option<ErrorCode>) -> Explanation {
    let (title, text) = match code {
        Some(ErrorCode::SsoInvalidState) => (
            "Sign-in expired",
            "This sign-in link has expired or was opened in another browser. Start again.",
        ),
        Some(ErrorCode::SsoProviderError) => (
            "The identity provider refused the sign-in",
            "Your organisation's identity provider refused the sign-in or could not be reached. \
             Start again; if it keeps happening, tell your administrator.",
        ),
        Some(ErrorCode::SsoBadSignature) => (
            "The sign-in could not be verified",
            "The identity provider's answer was not signed with the keys this application knows, so \
             it was refused. Your administrator should check the single sign-on settings.",
        ),
        Some(ErrorCode::SsoWrongAudience) => (
            "The sign-in was meant for another application",
            "The identity provider issued the sign-in for a different application. Your administrator \
             should check the client ID (OpenID Connect) or the entity ID (SAML).",
        ),
        Some(ErrorCode::SsoExpired) => (
            "The sign-in has expired",
            "The identity provider's answer was out of date when it arrived. Start again; if it keeps \
             happening, the clocks of this server and the identity provider may disagree — tell your \
             administrator.",
        ),
        Some(ErrorCode::SsoReplayed) => (
            "The sign-in was used already",
            "This sign-in has already been used once and cannot be used again. Start again.",
        ),
        Some(ErrorCode::SsoInvalidResponse) => (
            "The identity provider's answer was not accepted",
            "The answer from your organisation's identity provider was incomplete or did not match this \
             sign-in. Start again; if it keeps happening, tell your administrator.",
        ),
        Some(ErrorCode::SsoEmailNotAllowed) => (
            "Email domain not allowed",
            "Your email address is not from a domain your organisation accepts for single sign-on. Sign \
             in with your work account, or ask your administrator.",
        ),
        Some(ErrorCode::SsoUserNotProvisioned) => (
            "No account for you yet",
            "You have no account in this organisation yet: ask your administrator to add you.",
        ),
        Some(ErrorCode::AccountInactive) => (
            "Account deactivated",
            "Your account or your organisation has been deactivated. Ask your administrator.",
        ),
        Some(ErrorCode::UserLimitReached) => (
            "User limit reached",
            "Your organisation already has as many users as it may have, so no account could be \
             created for you. Ask your administrator.",
        ),
        Some(ErrorCode::SsoNotConfigured) => (
            "Single sign-on is not set up",
            "Single sign-on is not set up (or is turned off) for this organisation. Sign in with your \
             password, or ask your administrator.",
        ),
        Some(ErrorCode::PasswordSignInDisabled) => ("Password sign-in is disabled", PASSWORDS_FOR_ADMINS),
        Some(ErrorCode::RateLimited) => {
            ("Too many attempts", "There were too many sign-in attempts. Wait a minute, then start again.")
        }
        _ => (
            "Single sign-on failed",
            "The sign-in could not be completed. Start again; if it keeps happening, tell your \
             administrator.",
        ),
    };
    Explanation { title, text }
}

/// An error code as the server sends it (`sso_expired`), if it is one this app knows.
pub fn parse_code(raw: &str) -> Option<ErrorCode> {
    serde_json::from_value(serde_json::Value::String(raw.to_owned())).ok()
}

/// `sign_in_url` with the typed email passed on as `login_hint`.
fn with_login_hint(sign_in_url: &str, email: &str) -> String {
    let email = email.trim();
    if email.is_empty() {
        return sign_in_url.to_owned();
    }
    let separator = if sign_in_url.contains('?') { '&' } else { '?' };
    format!("{sign_in_url}{separator}login_hint={}", js_sys::encode_uri_component(email))
}

/// The sign-in page's "Sign in with single sign-on" button: a real link (the whole window
/// goes to the identity provider), passing the typed email as a hint.
#[component]
pub fn SsoSignInButton(
    /// `SsoOptions::sign_in_url`, as the server gave it.
    sign_in_url: String,
    email: RwSignal<String>,
    /// Where to go after signing in.
    next: Signal<String>,
) -> impl IntoView {
    let Some(base) = api::navigable(&sign_in_url) else {
        return ().into_any();
    };
    let href = move || with_login_hint(&base, &email.get());
    view! {
        <div class="sso-choice">
            // `rel="external"`: the router must let the browser leave the app.
            <a class="button button-primary sso-button" rel="external" data-testid="sso-sign-in"
                aria-describedby="sso-sign-in-hint" href=href
                on:click=move |_| remember_next(&next.get_untracked())>
                "Sign in with single sign-on"
            </a>
            <p class="hint" id="sso-sign-in-hint">"With your organisation's account. The email above, if any, is passed on."</p>
            <p class="divider" aria-hidden="true"><span>"or with a password"</span></p>
        </div>
    }
    .into_any()
}

/// The code in `#code=…` (the fragment, never sent to any server).
fn code_from_fragment(hash: &str) -> Option<String> {
    hash.trim_start_matches('#')
        .split('&')
        .find_map(|pair| pair.strip_prefix("code="))
        .filter(|code| !code.is_empty())
        .map(|code| js_sys::decode_uri_component(code).map(String::from).unwrap_or_else(|_| code.to_owned()))
}

/// `/login/sso#code=…`: the server hands over a finished single sign-on; the code becomes a
/// session and the person goes on to where they were going.
#[component]
pub fn SsoCallbackPage() -> impl IntoView {
    set_title("Signing in");
    let auth = use_auth();
    let navigate = use_navigate();
    let failure = RwSignal::new(None::<ApiFailure>);
    let code = code_from_fragment(&window().location().hash().unwrap_or_default());
    spawn_local(async move {
        // The code is single-use and must not stay in the address bar or the history.
        navigate("/login/sso", NavigateOptions { replace: true, ..Default::default() });
        let Some(code) = code else {
            failure.try_set(Some(ApiFailure {
                code: Some(ErrorCode::SsoInvalidState),
                ..ApiFailure::local(
                    "This address only finishes a sign-in that the identity provider started.",
                )
            }));
            return;
        };
        match auth.sign_in_with_sso(code).await {
            Ok(()) => {
                let next = safe_next(take_next());
                navigate(&next, NavigateOptions { replace: true, ..Default::default() });
            }
            Err(f) => {
                let _ = take_next();
                failure.try_set(Some(f));
            }
        }
    });
    view! {
        <main id="main" class="login-page">
            <div class="login-brand">"AI Prompt Manager"</div>
            <section class="card login-card" aria-labelledby="sso-title">
                {move || match failure.get() {
                    None => view! {
                        <h1 id="sso-title">"Signing in…"</h1>
                        <div data-testid="sso-callback-status"><Loading label="Finishing single sign-on…"/></div>
                    }
                        .into_any(),
                    Some(f) => {
                        let detail = (f.code.is_none() || f.code == Some(ErrorCode::SsoProviderError)
                            || f.code == Some(ErrorCode::SsoInvalidResponse))
                            .then(|| f.to_string());
                        let raw = f.code.map(ErrorCode::name);
                        view! { <Refusal explanation=explain(f.code) raw detail/> }.into_any()
                    }
                }}
            </section>
        </main>
    }
}

/// `/login/sso-error?code=…`: why the server refused a single sign-on, in plain words.
#[component]
pub fn SsoErrorPage() -> impl IntoView {
    set_title("Sign-in failed");
    let query = use_query_map();
    view! {
        <main id="main" class="login-page">
            <div class="login-brand">"AI Prompt Manager"</div>
            <section class="card login-card" aria-labelledby="sso-title">
                {move || {
                    let raw = query.with(|q| q.get("code")).filter(|c| !c.is_empty());
                    let explanation = explain(raw.as_deref().and_then(parse_code));
                    view! { <Refusal explanation raw detail=None/> }
                }}
            </section>
        </main>
    }
}

/// A refused sign-in: title, explanation, the code for support, and the way back.
#[component]
fn Refusal(explanation: Explanation, raw: Option<String>, detail: Option<String>) -> impl IntoView {
    view! {
        <h1 id="sso-title" data-testid="sso-error-title">{explanation.title}</h1>
        <div class="alert alert-error" role="alert">
            <p data-testid="sso-error-text">{explanation.text}</p>
            {detail.filter(|d| d != explanation.text).map(|d| view! { <p data-testid="sso-error-detail">{d}</p> })}
        </div>
        {raw.map(|code| view! { <p class="hint">"Error code: " <code data-testid="sso-error-code">{code}</code></p> })}
        <p><a href="/login" class="button button-primary sso-back" data-testid="sso-back-to-sign-in">"Back to sign-in"</a></p>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_as_the_server_sends_them() {
        assert_eq!(parse_code("sso_invalid_state"), Some(ErrorCode::SsoInvalidState));
        assert_eq!(parse_code("user_limit_reached"), Some(ErrorCode::UserLimitReached));
        assert_eq!(parse_code("no_such_code"), None);
        assert_eq!(explain(parse_code("no_such_code")).title, "Single sign-on failed");
        assert!(
            explain(Some(ErrorCode::SsoUserNotProvisioned))
                .text
                .contains("ask your administrator to add you")
        );
    }
}
