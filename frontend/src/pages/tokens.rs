//! API tokens for integrations: create (the secret is shown once), list, revoke.

use domain::session::TokenScope;
use domain::wire::{ApiTokenView, CreateApiTokenRequest, CreatedApiToken};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiFailure};
use crate::auth::use_auth;
use crate::ui::{
    ErrorAlert, FailureAlert, FieldMessage, Loading, Time, copy_to_clipboard, invalid, set_title,
};

#[component]
pub fn TokensPage() -> impl IntoView {
    set_title("API tokens");
    let auth = use_auth();
    let tokens = LocalResource::new(api::tokens);

    let name = RwSignal::new(String::new());
    let scope = RwSignal::new("read".to_owned());
    let expiry = RwSignal::new("90".to_owned());
    let failure = RwSignal::new(None::<ApiFailure>);
    let creating = RwSignal::new(false);
    let created = RwSignal::new(None::<CreatedApiToken>);
    let list_failure = RwSignal::new(None::<ApiFailure>);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let expiry_text = expiry.get_untracked().trim().to_owned();
        let expires_in_days = if expiry_text.is_empty() {
            None
        } else {
            match expiry_text.parse::<u32>() {
                Ok(days) if (1..=3650).contains(&days) => Some(days),
                _ => {
                    failure.set(Some(ApiFailure::invalid(vec![domain::wire::FieldError::new(
                        "expires_in_days",
                        "must be a whole number of days from 1 to 3650, or empty for no expiry",
                    )])));
                    return;
                }
            }
        };
        let request = CreateApiTokenRequest {
            name: name.get_untracked().trim().to_owned(),
            scope: scope.get_untracked().parse().unwrap_or(TokenScope::Read),
            expires_in_days,
        };
        creating.set(true);
        failure.set(None);
        created.set(None);
        spawn_local(async move {
            match api::create_token(&request).await {
                Ok(token) => {
                    created.set(Some(token));
                    name.set(String::new());
                    tokens.refetch();
                }
                Err(f) => failure.set(Some(f)),
            }
            creating.set(false);
        });
    };

    let revoke = move |id: domain::ApiTokenId| {
        list_failure.set(None);
        spawn_local(async move {
            match api::revoke_token(id).await {
                Ok(()) => {
                    if created.try_with_untracked(|c| c.as_ref().is_some_and(|c| c.details.id == id))
                        == Some(true)
                    {
                        created.set(None);
                    }
                    tokens.refetch();
                }
                Err(f) => list_failure.set(Some(f)),
            }
        });
    };

    view! {
        <div class="page-header">
            <h1>"API tokens"</h1>
        </div>
        <p class="lead">
            "Tokens let scripts and other tools use the API as you ("
            <code>"Authorization: Bearer pmt_…"</code>
            "), never beyond your role. A read token can only read."
            {move || auth.is_admin().then_some(
                " Only a promote token (administrators') may move protected release labels and decide on requests to.",
            )}
        </p>
        <section class="panel" aria-labelledby="new-token-title">
            <h2 id="new-token-title">"New token"</h2>
            <form class="inline-form" on:submit=submit>
                <FailureAlert failure/>
                <div class="form-grid">
                    <div class="field">
                        <label for="token-name">"Name"</label>
                        <input id="token-name" required maxlength="100" placeholder="e.g. CI pipeline"
                            aria-describedby="token-name-error" aria-invalid=invalid(failure, "name") bind:value=name/>
                        <FieldMessage failure field="name" id="token-name-error"/>
                    </div>
                    <div class="field">
                        <label for="token-scope">"Scope"</label>
                        <select id="token-scope" aria-describedby="token-scope-error"
                            prop:value=move || scope.get() on:change=move |ev| scope.set(event_target_value(&ev))>
                            <option value="read">"Read only"</option>
                            <option value="read_write">"Read and write"</option>
                            <Show when=move || auth.is_admin()>
                                <option value="promote">"Read, write and promote protected labels"</option>
                            </Show>
                        </select>
                        <FieldMessage failure field="scope" id="token-scope-error"/>
                    </div>
                    <div class="field">
                        <label for="token-expiry">"Expires after (days)"</label>
                        <input id="token-expiry" type="number" min="1" max="3650" inputmode="numeric"
                            aria-describedby="token-expiry-hint token-expiry-error"
                            aria-invalid=invalid(failure, "expires_in_days") bind:value=expiry/>
                        <p class="hint" id="token-expiry-hint">"Empty: never expires."</p>
                        <FieldMessage failure field="expires_in_days" id="token-expiry-error"/>
                    </div>
                </div>
                <div class="form-actions">
                    <button type="submit" class="button-primary" disabled=move || creating.get()>"Create token"</button>
                </div>
            </form>
            {move || created.get().map(|token| view! { <NewSecret token/> })}
        </section>

        <section class="panel" aria-labelledby="tokens-title">
            <h2 id="tokens-title">"Your tokens"</h2>
            <FailureAlert failure=list_failure/>
            <Transition fallback=|| view! { <Loading label="Loading tokens…"/> }>
                {move || {
                    tokens
                        .get()
                        .map(|result| match result {
                            Err(failure) => view! { <ErrorAlert failure/> }.into_any(),
                            Ok(items) if items.is_empty() => {
                                view! { <p class="empty-inline">"No tokens yet."</p> }.into_any()
                            }
                            Ok(items) => view! {
                                <div class="table-wrap">
                                    <table class="tokens">
                                        <thead>
                                            <tr>
                                                <th scope="col">"Name"</th>
                                                <th scope="col">"Token"</th>
                                                <th scope="col">"Scope"</th>
                                                <th scope="col">"Created"</th>
                                                <th scope="col">"Expires"</th>
                                                <th scope="col">"Last used"</th>
                                                <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {items.into_iter().map(|t| view! { <TokenRow t revoke/> }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            }
                                .into_any(),
                        })
                }}
            </Transition>
        </section>
    }
}

/// The just-created secret, with a copy button and the warning that it is shown only once.
#[component]
fn NewSecret(token: CreatedApiToken) -> impl IntoView {
    let secret = StoredValue::new(token.token.clone());
    let copied = RwSignal::new(None::<String>);
    let copy = move |_| {
        spawn_local(async move {
            copied.set(Some(match copy_to_clipboard(&secret.get_value()).await {
                Ok(()) => "Copied to the clipboard.".to_owned(),
                Err(f) => f.to_string(),
            }));
        });
    };
    view! {
        <div class="secret-box" role="status">
            <p>
                <strong>{format!("Token “{}” created.", token.details.name)}</strong>
                " Copy it now: it will not be shown again."
            </p>
            <div class="secret-row">
                <code id="token-secret" class="secret">{token.token}</code>
                <button type="button" id="token-copy" class="button-secondary" on:click=copy>"Copy"</button>
            </div>
            <p class="hint">{move || copied.get()}</p>
        </div>
    }
}

fn scope_words(scope: TokenScope) -> &'static str {
    match scope {
        TokenScope::Read => "Read only",
        TokenScope::ReadWrite => "Read and write",
        TokenScope::Promote => "Promote",
    }
}

#[component]
fn TokenRow(
    t: ApiTokenView,
    revoke: impl Fn(domain::ApiTokenId) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let id = t.id;
    let name = t.name.clone();
    view! {
        <tr>
            <td>{t.name}</td>
            <td><code>{format!("{}…", t.prefix)}</code></td>
            <td>{scope_words(t.scope)}</td>
            <td><Time at=t.created_at/></td>
            <td>{match t.expires_at { Some(at) => view! { <Time at/> }.into_any(), None => "Never".into_any() }}</td>
            <td>{match t.last_used_at { Some(at) => view! { <Time at/> }.into_any(), None => "Never".into_any() }}</td>
            <td class="row-actions">
                <Show
                    when=move || confirming.get()
                    fallback=move || {
                        let label = format!("Revoke token {name}");
                        view! {
                            <button type="button" class="button-danger button-small" aria-label=label on:click=move |_| confirming.set(true)>
                                "Revoke"
                            </button>
                        }
                    }
                >
                    <button type="button" class="button-danger button-small" on:click=move |_| revoke(id)>"Yes, revoke"</button>
                    <button type="button" class="button-secondary button-small" on:click=move |_| confirming.set(false)>"Cancel"</button>
                </Show>
            </td>
        </tr>
    }
}
