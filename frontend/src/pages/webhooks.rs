//! Webhooks for tenant admins. `/admin/webhooks`: the tenant's endpoints and a form to register
//! one (its signing secret is shown once). `/admin/webhooks/:id`: one endpoint — send a test
//! event, enable or disable it, rotate its secret (the new one shown once), edit its URL,
//! description and events, delete it — and its delivery log: filtered by status, a page at a
//! time, each delivery with its tries and a button to send it again. The log looks again every
//! few seconds while a delivery is on its way.

use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::webhook::{DeliveryStatus, MAX_DESCRIPTION_LEN, MAX_URL_LEN, WebhookEvent};
use domain::wire::{
    CreateWebhookRequest, DeliveryDetail, DeliveryView, FieldError, UpdateWebhookRequest, WebhookView,
    WebhookWithSecret,
};
use domain::{DeliveryId, WebhookId};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::api::{self, ApiFailure};
use crate::auth::use_auth;
use crate::ui::{
    ErrorAlert, FailureAlert, FieldMessage, Loading, Time, copy_to_clipboard, invalid, non_empty, set_title,
};

/// Deliveries fetched at a time.
const DELIVERY_PAGE: u32 = 20;
/// How soon the log looks again while a delivery is on its way.
const POLL: Duration = Duration::from_millis(1500);

/// What an event is, in words.
fn event_words(event: WebhookEvent) -> &'static str {
    match event {
        WebhookEvent::PromptCreated => "Prompt created",
        WebhookEvent::PromptUpdated => "Prompt updated",
        WebhookEvent::PromptDeleted => "Prompt deleted",
        WebhookEvent::LabelMoved => "Release label moved",
        WebhookEvent::ApprovalRequested => "Approval requested",
        WebhookEvent::ApprovalApproved => "Approval approved",
        WebhookEvent::ApprovalDenied => "Approval denied",
        WebhookEvent::Test => "Test event",
    }
}

const STATUSES: [DeliveryStatus; 4] =
    [DeliveryStatus::Pending, DeliveryStatus::Delivering, DeliveryStatus::Delivered, DeliveryStatus::Failed];

fn status_words(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Pending => "Pending",
        DeliveryStatus::Delivering => "Sending",
        DeliveryStatus::Delivered => "Delivered",
        DeliveryStatus::Failed => "Failed",
    }
}

/// The browser's clock.
fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(js_sys::Date::now() as i64).unwrap_or_default()
}

/// Whether a delivery is being sent, or will be tried again within a minute.
fn on_its_way(delivery: &DeliveryView, now: DateTime<Utc>) -> bool {
    match delivery.status {
        DeliveryStatus::Delivering => true,
        DeliveryStatus::Pending => delivery.next_attempt_at <= now + chrono::Duration::minutes(1),
        DeliveryStatus::Delivered | DeliveryStatus::Failed => false,
    }
}

/// The last characters of an id (UUIDv7s share their leading, time-based characters).
fn short(id: impl ToString) -> String {
    let id = id.to_string();
    let tail: String = id.chars().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
    format!("…{tail}")
}

#[component]
fn EventBadges(events: Vec<WebhookEvent>) -> impl IntoView {
    view! {
        <ul class="tags webhook-events">
            {events
                .into_iter()
                .map(|e| view! { <li><code class="badge badge-event" title=event_words(e)>{e.as_str()}</code></li> })
                .collect_view()}
        </ul>
    }
}

#[component]
fn StateBadge(enabled: bool) -> impl IntoView {
    let (class, words) =
        if enabled { ("badge badge-enabled", "Enabled") } else { ("badge badge-disabled", "Disabled") };
    view! { <span class=class>{words}</span> }
}

#[component]
fn StatusBadge(status: DeliveryStatus) -> impl IntoView {
    view! {
        <span class=format!("badge badge-delivery badge-delivery-{}", status.as_str()) data-status=status.as_str()>
            {status_words(status)}
        </span>
    }
}

/// Checkboxes for the events an endpoint subscribes to; ids `{prefix}-event-prompt-created`….
#[component]
fn EventChoices(
    selected: RwSignal<Vec<WebhookEvent>>,
    prefix: &'static str,
    failure: RwSignal<Option<ApiFailure>>,
) -> impl IntoView {
    let error_id = format!("{prefix}-events-error");
    let described_by = error_id.clone();
    view! {
        <fieldset class="choice-group event-choices" aria-describedby=described_by>
            <legend>"Events"</legend>
            {WebhookEvent::SUBSCRIBABLE
                .iter()
                .copied()
                .map(|event| {
                    let id = format!("{prefix}-event-{}", event.as_str().replace('.', "-"));
                    let toggle = move |ev: leptos::ev::Event| {
                        let on = event_target_checked(&ev);
                        selected.update(|events| {
                            events.retain(|e| *e != event);
                            if on {
                                events.push(event);
                                events.sort();
                            }
                        });
                    };
                    view! {
                        <div class="field-check">
                            <input type="checkbox" id=id.clone() value=event.as_str()
                                prop:checked=move || selected.with(|s| s.contains(&event)) on:change=toggle/>
                            <label for=id>{event_words(event)} " " <code>{event.as_str()}</code></label>
                        </div>
                    }
                })
                .collect_view()}
            <FieldMessage failure field="events" id=error_id/>
        </fieldset>
    }
}

/// What the browser can tell before asking: at least one event.
fn check_events(events: &[WebhookEvent]) -> Result<(), ApiFailure> {
    if events.is_empty() {
        return Err(ApiFailure::invalid(vec![FieldError::new("events", "choose at least one event")]));
    }
    Ok(())
}

/// A signing secret just made, with a copy button and the warning that it is shown only once.
#[component]
fn SecretOnce(made: WebhookWithSecret, #[prop(into)] heading: String) -> impl IntoView {
    let secret = StoredValue::new(made.secret.clone());
    let copied = RwSignal::new(None::<String>);
    let copy = move |_| {
        spawn_local(async move {
            let outcome = match copy_to_clipboard(&secret.get_value()).await {
                Ok(()) => "Copied to the clipboard.".to_owned(),
                Err(f) => f.to_string(),
            };
            copied.try_set(Some(outcome));
        });
    };
    let previous = made.webhook.previous_secret_until;
    view! {
        <div class="secret-box" role="status" data-testid="webhook-secret-box">
            <p>
                <strong>{heading}</strong>
                " This is the endpoint's signing secret. Copy it now: it will not be shown again."
            </p>
            <div class="secret-row">
                <code id="webhook-secret" class="secret">{made.secret}</code>
                <button type="button" id="webhook-secret-copy" class="button-secondary" on:click=copy>"Copy"</button>
            </div>
            <p class="hint">
                "Verify each delivery's " <code>"webhook-signature"</code>
                " header with it, using any Standard Webhooks library."
                {previous.map(|until| view! {
                    " Until " <Time at=until/> " deliveries are signed with the previous secret too, so the receiver can switch over."
                })}
            </p>
            <p class="hint">{move || copied.get()}</p>
        </div>
    }
}

fn only_admins(title: &'static str) -> AnyView {
    view! {
        <h1>{title}</h1>
        <ErrorAlert failure=ApiFailure::local("Only administrators manage webhooks.")/>
    }
    .into_any()
}

// ---------------------------------------------------------------------------------------------
// `/admin/webhooks`: the endpoints and a new one
// ---------------------------------------------------------------------------------------------

#[component]
pub fn WebhooksPage() -> impl IntoView {
    set_title("Webhooks");
    if !use_auth().is_admin() {
        return only_admins("Webhooks");
    }
    let endpoints = LocalResource::new(api::webhooks);
    let created = RwSignal::new(None::<WebhookWithSecret>);

    view! {
        <div class="page-header"><h1>"Webhooks"</h1></div>
        <p class="lead">
            "A webhook sends an HTTP POST to your endpoint when something happens in your organisation's \
             library: a prompt is created, changed or deleted, a release label moves, an approval is asked \
             for or decided. Each delivery is signed per Standard Webhooks and retried with backoff until \
             the endpoint answers 2xx."
        </p>
        <section class="panel" aria-labelledby="new-webhook-title">
            <h2 id="new-webhook-title">"New endpoint"</h2>
            <CreateForm created on_created=move || endpoints.refetch()/>
            {move || created.get().map(|made| {
                let link = format!("/admin/webhooks/{}", made.webhook.id);
                view! {
                    <SecretOnce made heading="Endpoint registered."/>
                    <p><a id="webhook-created-link" href=link>"Open its delivery log and settings"</a></p>
                }
            })}
        </section>
        <section class="panel" aria-labelledby="webhooks-title">
            <h2 id="webhooks-title">"Endpoints"</h2>
            <Transition fallback=|| view! { <Loading label="Loading webhooks…"/> }>
                {move || {
                    endpoints
                        .get()
                        .map(|result| match result {
                            Err(failure) => view! { <ErrorAlert failure/> }.into_any(),
                            Ok(items) if items.is_empty() => {
                                view! { <p class="empty-inline">"No endpoints yet."</p> }.into_any()
                            }
                            Ok(items) => view! {
                                <div class="table-wrap">
                                    <table class="webhooks">
                                        <caption class="visually-hidden">"The organisation's webhook endpoints, oldest first"</caption>
                                        <thead>
                                            <tr>
                                                <th scope="col">"URL"</th>
                                                <th scope="col">"Description"</th>
                                                <th scope="col">"Events"</th>
                                                <th scope="col">"State"</th>
                                                <th scope="col">"Created"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {items.into_iter().map(|w| view! { <WebhookRow w/> }).collect_view()}
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
    .into_any()
}

#[component]
fn WebhookRow(w: WebhookView) -> impl IntoView {
    view! {
        <tr class="webhook-row" data-webhook=w.id.to_string() data-enabled=w.enabled.to_string()>
            <td class="webhook-url">
                <a class="webhook-link" href=format!("/admin/webhooks/{}", w.id)>{w.url}</a>
            </td>
            <td>{w.description}</td>
            <td><EventBadges events=w.events/></td>
            <td><StateBadge enabled=w.enabled/></td>
            <td class="nowrap"><Time at=w.created_at/></td>
        </tr>
    }
}

#[component]
fn CreateForm(
    created: RwSignal<Option<WebhookWithSecret>>,
    on_created: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let url = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let events = RwSignal::new(Vec::<WebhookEvent>::new());
    let failure = RwSignal::new(None::<ApiFailure>);
    let creating = RwSignal::new(false);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let chosen = events.get_untracked();
        created.set(None);
        if let Err(f) = check_events(&chosen) {
            failure.set(Some(f));
            return;
        }
        let request = CreateWebhookRequest {
            url: url.get_untracked().trim().to_owned(),
            description: non_empty(&description.get_untracked()),
            events: chosen,
            enabled: None,
        };
        creating.set(true);
        failure.set(None);
        spawn_local(async move {
            match api::create_webhook(&request).await {
                Ok(made) => {
                    created.try_set(Some(made));
                    url.try_set(String::new());
                    description.try_set(String::new());
                    events.try_set(Vec::new());
                    on_created();
                }
                Err(f) => {
                    failure.try_set(Some(f));
                }
            }
            creating.try_set(false);
        });
    };

    view! {
        <form on:submit=submit>
            <FailureAlert failure/>
            <div class="form-grid">
                <div class="field">
                    <label for="webhook-url">"Endpoint URL"</label>
                    <input id="webhook-url" type="url" inputmode="url" required autocomplete="off" spellcheck="false"
                        maxlength=MAX_URL_LEN.to_string() placeholder="https://example.com/hooks/prompts"
                        aria-describedby="webhook-url-hint webhook-url-error" aria-invalid=invalid(failure, "url") bind:value=url/>
                    <p class="hint" id="webhook-url-hint">"An https address the server can reach; no user name or password in it."</p>
                    <FieldMessage failure field="url" id="webhook-url-error"/>
                </div>
                <div class="field">
                    <label for="webhook-description">"Description (optional)"</label>
                    <input id="webhook-description" autocomplete="off" maxlength=MAX_DESCRIPTION_LEN.to_string()
                        placeholder="e.g. Deploy pipeline" aria-describedby="webhook-description-error"
                        aria-invalid=invalid(failure, "description") bind:value=description/>
                    <FieldMessage failure field="description" id="webhook-description-error"/>
                </div>
            </div>
            <EventChoices selected=events prefix="webhook" failure/>
            <div class="form-actions">
                <button type="submit" id="webhook-create" class="button-primary" disabled=move || creating.get()>
                    "Register endpoint"
                </button>
            </div>
        </form>
    }
}

// ---------------------------------------------------------------------------------------------
// `/admin/webhooks/:id`: one endpoint and its delivery log
// ---------------------------------------------------------------------------------------------

#[component]
pub fn WebhookPage() -> impl IntoView {
    set_title("Webhook");
    if !use_auth().is_admin() {
        return only_admins("Webhook");
    }
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id")).and_then(|s| s.parse::<WebhookId>().ok()));
    let endpoint = LocalResource::new(move || {
        let id = id.get();
        async move {
            match id {
                Some(id) => api::webhook(id).await,
                None => Err(ApiFailure::local("No such webhook.")),
            }
        }
    });
    view! {
        <p class="back-link"><a href="/admin/webhooks">"← All webhooks"</a></p>
        <Transition fallback=|| view! { <Loading label="Loading the webhook…"/> }>
            {move || {
                endpoint
                    .get()
                    .map(|result| match result {
                        Err(failure) => view! { <h1>"Webhook"</h1> <ErrorAlert failure/> }.into_any(),
                        Ok(initial) => view! { <Endpoint initial/> }.into_any(),
                    })
            }}
        </Transition>
    }
    .into_any()
}

#[component]
fn Endpoint(initial: WebhookView) -> impl IntoView {
    let id = initial.id;
    let current = RwSignal::new(initial);
    let failure = RwSignal::new(None::<ApiFailure>);
    let done = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let secret = RwSignal::new(None::<WebhookWithSecret>);
    let confirming = RwSignal::new(false);
    // Bumped when this page queued a delivery: the log looks again.
    let changed = RwSignal::new(0u32);
    let navigate = use_navigate();

    let start = move || {
        busy.set(true);
        failure.set(None);
        done.set(None);
    };
    let send_test = move |_| {
        start();
        spawn_local(async move {
            match api::test_webhook(id).await {
                Ok(_) => {
                    done.try_set(Some("Test event queued: it appears in the delivery log below.".to_owned()));
                    changed.try_update(|n| *n = n.wrapping_add(1));
                }
                Err(f) => {
                    failure.try_set(Some(f));
                }
            }
            busy.try_set(false);
        });
    };
    let toggle = move |_| {
        let enable = !current.with_untracked(|w| w.enabled);
        start();
        spawn_local(async move {
            let request = UpdateWebhookRequest { enabled: Some(enable), ..UpdateWebhookRequest::default() };
            match api::update_webhook(id, &request).await {
                Ok(w) => {
                    done.try_set(Some(if w.enabled {
                        "Endpoint enabled: new events are delivered to it.".to_owned()
                    } else {
                        "Endpoint disabled: it gets no new deliveries, and waiting ones fail at their next try."
                            .to_owned()
                    }));
                    current.try_set(w);
                }
                Err(f) => {
                    failure.try_set(Some(f));
                }
            }
            busy.try_set(false);
        });
    };
    let rotate = move |_| {
        start();
        secret.set(None);
        spawn_local(async move {
            match api::rotate_webhook_secret(id).await {
                Ok(made) => {
                    current.try_set(made.webhook.clone());
                    secret.try_set(Some(made));
                }
                Err(f) => {
                    failure.try_set(Some(f));
                }
            }
            busy.try_set(false);
        });
    };
    let delete = move |_| {
        start();
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::delete_webhook(id).await {
                Ok(()) => navigate("/admin/webhooks", Default::default()),
                Err(f) => {
                    failure.try_set(Some(f));
                    busy.try_set(false);
                }
            }
        });
    };

    let enabled = move || current.with(|w| w.enabled);
    view! {
        <div class="page-header"><h1>"Webhook endpoint"</h1></div>
        <p class="lead webhook-url"><code id="webhook-current-url">{move || current.with(|w| w.url.clone())}</code></p>
        <FailureAlert failure/>
        {move || done.get().map(|s| view! { <p class="alert alert-success" role="status" id="webhook-done">{s}</p> })}
        <dl class="facts">
            <div>
                <dt>"State"</dt>
                <dd id="webhook-state" data-enabled=move || enabled().to_string()>
                    {move || view! { <StateBadge enabled=enabled()/> }}
                </dd>
            </div>
            <div>
                <dt>"Events"</dt>
                <dd>{move || view! { <EventBadges events=current.with(|w| w.events.clone())/> }}</dd>
            </div>
            <div>
                <dt>"Description"</dt>
                <dd>{move || current.with(|w| w.description.clone()).unwrap_or_else(|| "—".to_owned())}</dd>
            </div>
            <div>
                <dt>"Created"</dt>
                <dd>{move || view! { <Time at=current.with(|w| w.created_at)/> }}</dd>
            </div>
            <div>
                <dt>"Signing secret"</dt>
                <dd>
                    {move || match current.with(|w| w.previous_secret_until) {
                        Some(until) => view! { "Rotated; the previous one also signs until " <Time at=until/> }.into_any(),
                        None => "One secret".into_any(),
                    }}
                </dd>
            </div>
        </dl>
        <div class="form-actions webhook-actions">
            <button type="button" id="webhook-test" class="button-primary" disabled=move || busy.get() on:click=send_test>
                "Send test event"
            </button>
            <button type="button" id="webhook-toggle" class="button-secondary" disabled=move || busy.get() on:click=toggle>
                {move || if enabled() { "Disable" } else { "Enable" }}
            </button>
            <button type="button" id="webhook-rotate" class="button-secondary" disabled=move || busy.get() on:click=rotate>
                "Rotate secret"
            </button>
            <span class="danger-zone confirm">
                <Show
                    when=move || confirming.get()
                    fallback=move || view! {
                        <button type="button" id="webhook-delete" class="button-danger" on:click=move |_| confirming.set(true)>
                            "Delete endpoint"
                        </button>
                    }
                >
                    <span>"Delete this endpoint and its delivery log?"</span>
                    <button type="button" id="webhook-delete-confirm" class="button-danger" disabled=move || busy.get()
                        on:click=delete.clone()>
                        "Yes, delete"
                    </button>
                    <button type="button" class="button-secondary" on:click=move |_| confirming.set(false)>"Cancel"</button>
                </Show>
            </span>
        </div>
        {move || secret.get().map(|made| view! { <SecretOnce made heading="Secret rotated."/> })}
        <section class="panel" aria-labelledby="deliveries-title">
            <h2 id="deliveries-title">"Deliveries"</h2>
            <DeliveryLog id changed/>
        </section>
        <section class="panel" aria-labelledby="webhook-edit-title">
            <h2 id="webhook-edit-title">"Edit endpoint"</h2>
            <EditForm current/>
        </section>
    }
}

#[component]
fn EditForm(current: RwSignal<WebhookView>) -> impl IntoView {
    let start = current.get_untracked();
    let url = RwSignal::new(start.url);
    let description = RwSignal::new(start.description.unwrap_or_default());
    let events = RwSignal::new(start.events);
    let failure = RwSignal::new(None::<ApiFailure>);
    let saved = RwSignal::new(None::<String>);
    let saving = RwSignal::new(false);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let chosen = events.get_untracked();
        saved.set(None);
        if let Err(f) = check_events(&chosen) {
            failure.set(Some(f));
            return;
        }
        let request = UpdateWebhookRequest {
            url: Some(url.get_untracked().trim().to_owned()),
            // Empty clears it.
            description: Some(description.get_untracked().trim().to_owned()),
            events: Some(chosen),
            enabled: None,
        };
        let id = current.with_untracked(|w| w.id);
        saving.set(true);
        failure.set(None);
        spawn_local(async move {
            match api::update_webhook(id, &request).await {
                Ok(w) => {
                    url.try_set(w.url.clone());
                    description.try_set(w.description.clone().unwrap_or_default());
                    events.try_set(w.events.clone());
                    current.try_set(w);
                    saved.try_set(Some("Endpoint saved.".to_owned()));
                }
                Err(f) => {
                    failure.try_set(Some(f));
                }
            }
            saving.try_set(false);
        });
    };

    view! {
        <form on:submit=submit>
            <FailureAlert failure/>
            {move || saved.get().map(|s| view! { <p class="alert alert-success" role="status" id="webhook-saved">{s}</p> })}
            <div class="form-grid">
                <div class="field">
                    <label for="webhook-edit-url">"Endpoint URL"</label>
                    <input id="webhook-edit-url" type="url" inputmode="url" required autocomplete="off" spellcheck="false"
                        maxlength=MAX_URL_LEN.to_string() aria-describedby="webhook-edit-url-error"
                        aria-invalid=invalid(failure, "url") bind:value=url/>
                    <FieldMessage failure field="url" id="webhook-edit-url-error"/>
                </div>
                <div class="field">
                    <label for="webhook-edit-description">"Description (optional)"</label>
                    <input id="webhook-edit-description" autocomplete="off" maxlength=MAX_DESCRIPTION_LEN.to_string()
                        aria-describedby="webhook-edit-description-error" aria-invalid=invalid(failure, "description")
                        bind:value=description/>
                    <FieldMessage failure field="description" id="webhook-edit-description-error"/>
                </div>
            </div>
            <EventChoices selected=events prefix="webhook-edit" failure/>
            <div class="form-actions">
                <button type="submit" id="webhook-save" class="button-primary" disabled=move || saving.get()>"Save endpoint"</button>
            </div>
        </form>
    }
}

/// Puts the newest page, as it stands now, in place of the top of what is shown, keeping the
/// older pages already loaded below it; returns whether those older pages were kept.
fn merge_newest(shown: &mut Vec<DeliveryView>, newest: Vec<DeliveryView>, more: bool) -> bool {
    // Without more pages the newest page is all there is (a delivery may have left the filter).
    let older: Vec<DeliveryView> = match newest.last() {
        Some(oldest) if more => shown.drain(..).filter(|d| d.id < oldest.id).collect(),
        _ => Vec::new(),
    };
    let kept = !older.is_empty();
    *shown = newest;
    shown.extend(older);
    kept
}

#[component]
fn DeliveryLog(id: WebhookId, changed: RwSignal<u32>) -> impl IntoView {
    let filter = RwSignal::new(None::<DeliveryStatus>);
    let items = RwSignal::new(Vec::<DeliveryView>::new());
    let next_cursor = RwSignal::new(None::<String>);
    let loading = RwSignal::new(true);
    let failure = RwSignal::new(None::<ApiFailure>);
    let generation = StoredValue::new(0u32);
    let selected = RwSignal::new(None::<DeliveryId>);
    // Bumped to look again (while a delivery is on its way, or on request).
    let tick = RwSignal::new(0u32);

    // The first page for the filter, or the next page (`cursor`).
    let load = move |cursor: Option<String>| {
        let more = cursor.is_some();
        if !more {
            generation.update_value(|g| *g = g.wrapping_add(1));
        }
        let Some(this) = generation.try_get_value() else { return };
        let status = filter.get_untracked();
        loading.set(true);
        failure.set(None);
        spawn_local(async move {
            let result = api::deliveries(id, status, DELIVERY_PAGE, cursor).await;
            if generation.try_get_value() != Some(this) {
                return;
            }
            match result {
                Ok(page) => {
                    if more {
                        // A look again meanwhile may have shown some of them already.
                        items.update(|shown| {
                            let fresh: Vec<DeliveryView> = page
                                .items
                                .into_iter()
                                .filter(|d| shown.iter().all(|s| s.id != d.id))
                                .collect();
                            shown.extend(fresh);
                        });
                    } else {
                        items.set(page.items);
                    }
                    next_cursor.set(page.next_cursor);
                }
                Err(f) => failure.set(Some(f)),
            }
            loading.set(false);
        });
    };
    // The newest page again, in place (what is further down stays).
    let refresh = move || {
        let Some(this) = generation.try_get_value() else { return };
        let status = filter.get_untracked();
        spawn_local(async move {
            let result = api::deliveries(id, status, DELIVERY_PAGE, None).await;
            if generation.try_get_value() != Some(this) {
                return;
            }
            match result {
                Ok(page) => {
                    let more = page.next_cursor.is_some();
                    let kept = items.try_update(|shown| merge_newest(shown, page.items, more));
                    if kept == Some(false) {
                        next_cursor.try_set(page.next_cursor);
                    }
                    failure.try_set(None);
                }
                Err(f) => {
                    failure.try_set(Some(f));
                }
            }
        });
    };
    Effect::new(move || {
        filter.track();
        load(None);
    });
    Effect::new(move |previous: Option<()>| {
        tick.track();
        changed.track();
        // The first page is the filter's first load.
        if previous.is_some() {
            refresh();
        }
    });
    // While a delivery is on its way, look again in a moment.
    let timer = StoredValue::new(None::<TimeoutHandle>);
    Effect::new(move || {
        let waiting = items.with(|shown| {
            let now = now();
            shown.iter().any(|d| on_its_way(d, now))
        });
        if let Some(handle) = timer.try_update_value(Option::take).flatten() {
            handle.clear();
        }
        if waiting {
            let again = move || {
                tick.try_update(|n| *n = n.wrapping_add(1));
            };
            timer.set_value(set_timeout_with_handle(again, POLL).ok());
        }
    });
    on_cleanup(move || {
        if let Some(handle) = timer.try_update_value(Option::take).flatten() {
            handle.clear();
        }
    });

    let on_filter = move |ev: leptos::ev::Event| filter.set(DeliveryStatus::parse(&event_target_value(&ev)));
    let filter_value = move || filter.get().map(|s| s.as_str()).unwrap_or_default();
    let empty_words = move || match filter.get() {
        Some(status) => format!("No {} deliveries in the last 30 days.", status_words(status).to_lowercase()),
        None => "No deliveries in the last 30 days. Send a test event to see one.".to_owned(),
    };

    view! {
        <div class="filters delivery-filters">
            <div class="field">
                <label for="delivery-status-filter">"Status"</label>
                <select id="delivery-status-filter" prop:value=filter_value on:change=on_filter>
                    <option value="">"All"</option>
                    {STATUSES.iter().map(|s| view! { <option value=s.as_str()>{status_words(*s)}</option> }).collect_view()}
                </select>
            </div>
            <div class="form-actions">
                <button type="button" id="deliveries-refresh" class="button-secondary"
                    on:click=move |_| tick.update(|n| *n = n.wrapping_add(1))>
                    "Refresh"
                </button>
            </div>
        </div>
        <FailureAlert failure/>
        <Show when=move || !items.with(Vec::is_empty) fallback=move || view! {
            <Show when=move || !loading.get()><p class="empty-inline" id="deliveries-empty">{empty_words}</p></Show>
        }>
            <div class="table-wrap">
                <table class="deliveries">
                    <caption class="visually-hidden">"Deliveries to this endpoint, newest first"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Event"</th>
                            <th scope="col">"Status"</th>
                            <th scope="col">"Tries"</th>
                            <th scope="col">"Created"</th>
                            <th scope="col">"Delivered / next try"</th>
                            <th scope="col">"Last answer"</th>
                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        // Keyed on what changes too, so a row that moved on is drawn anew.
                        <For each=move || items.get() key=|d| (d.id, d.status.as_str(), d.attempts) let:d>
                            <DeliveryRow d selected/>
                        </For>
                    </tbody>
                </table>
            </div>
        </Show>
        <Show when=move || loading.get()><Loading label="Loading deliveries…"/></Show>
        <Show when=move || next_cursor.with(Option::is_some) && !loading.get()>
            <div class="load-more">
                <button type="button" id="deliveries-more" class="button-secondary"
                    on:click=move |_| load(next_cursor.get_untracked())>
                    "Load more"
                </button>
            </div>
        </Show>
        {move || selected.get().map(|delivery| view! { <DeliveryPanel id delivery selected tick changed/> })}
    }
}

#[component]
fn DeliveryRow(d: DeliveryView, selected: RwSignal<Option<DeliveryId>>) -> impl IntoView {
    let id = d.id;
    let progress = match d.status {
        DeliveryStatus::Delivered => d.delivered_at.map(|at| view! { <Time at/> }.into_any()),
        DeliveryStatus::Pending => Some(view! { "next try " <Time at=d.next_attempt_at/> }.into_any()),
        DeliveryStatus::Delivering => Some("sending now".into_any()),
        DeliveryStatus::Failed => Some("gave up".into_any()),
    };
    let answer = d.last_status_code.map(|code| code.to_string());
    let label = format!("Details of delivery {} ({})", short(id), d.event.as_str());
    view! {
        <tr class="delivery-row" data-delivery=id.to_string() data-status=d.status.as_str() data-event=d.event.as_str()
            aria-current=move || (selected.get() == Some(id)).then_some("true")>
            <td>
                <code>{d.event.as_str()}</code>
                {d.redelivery_of.map(|of| view! { <br/> <span class="hint redelivery-of">"redelivery of " {short(of)}</span> })}
            </td>
            <td><StatusBadge status=d.status/></td>
            <td class="num delivery-attempts">{d.attempts}</td>
            <td class="nowrap"><Time at=d.created_at/></td>
            <td>{progress}</td>
            <td>
                <span class="delivery-answer">{answer}</span>
                {d.last_error.map(|e| view! { <span class="hint delivery-error">{e}</span> })}
            </td>
            <td>
                <button type="button" class="button-secondary button-small delivery-open" aria-label=label
                    on:click=move |_| selected.set(Some(id))>
                    "Details"
                </button>
            </td>
        </tr>
    }
}

/// One delivery: its tries, the body as sent, and a button to send it again.
#[component]
fn DeliveryPanel(
    id: WebhookId,
    delivery: DeliveryId,
    selected: RwSignal<Option<DeliveryId>>,
    tick: RwSignal<u32>,
    changed: RwSignal<u32>,
) -> impl IntoView {
    let detail = LocalResource::new(move || {
        tick.track();
        changed.track();
        api::delivery(id, delivery)
    });
    let failure = RwSignal::new(None::<ApiFailure>);
    let busy = RwSignal::new(false);
    let redeliver = move |_| {
        busy.set(true);
        failure.set(None);
        spawn_local(async move {
            match api::redeliver(id, delivery).await {
                Ok(again) => {
                    // Follow the new delivery; the log shows it at the top.
                    selected.try_set(Some(again.id));
                    changed.try_update(|n| *n = n.wrapping_add(1));
                }
                Err(f) => {
                    failure.try_set(Some(f));
                }
            }
            busy.try_set(false);
        });
    };
    view! {
        <section class="delivery-detail" id="delivery-detail" data-delivery=delivery.to_string()
            aria-labelledby="delivery-detail-title">
            <h3 id="delivery-detail-title">"Delivery " <code>{short(delivery)}</code></h3>
            <FailureAlert failure/>
            <Transition fallback=|| view! { <Loading label="Loading the delivery…"/> }>
                {move || detail.get().map(|result| match result {
                    Err(failure) => view! { <ErrorAlert failure/> }.into_any(),
                    Ok(detail) => view! { <DeliveryFacts detail/> }.into_any(),
                })}
            </Transition>
            <div class="form-actions">
                <button type="button" id="redeliver" class="button-primary" disabled=move || busy.get() on:click=redeliver>
                    "Redeliver"
                </button>
                <button type="button" id="delivery-close" class="button-secondary" on:click=move |_| selected.set(None)>
                    "Close"
                </button>
            </div>
            <p class="hint">"Redeliver sends the same event again, as a new delivery with its own webhook-id."</p>
        </section>
    }
}

#[component]
fn DeliveryFacts(detail: DeliveryDetail) -> impl IntoView {
    let d = detail.delivery;
    let payload = serde_json::to_string_pretty(&detail.payload).unwrap_or_default();
    view! {
        <dl class="facts" data-status=d.status.as_str()>
            <div><dt>"Event"</dt><dd><code>{d.event.as_str()}</code></dd></div>
            <div><dt>"Status"</dt><dd id="delivery-detail-status"><StatusBadge status=d.status/></dd></div>
            <div><dt>"webhook-id"</dt><dd><code class="mono" id="delivery-detail-id">{d.id.to_string()}</code></dd></div>
            <div><dt>"Created"</dt><dd><Time at=d.created_at/></dd></div>
            {match (d.status, d.delivered_at) {
                (DeliveryStatus::Delivered, Some(at)) => view! { <div><dt>"Delivered"</dt><dd><Time at/></dd></div> }.into_any(),
                (DeliveryStatus::Pending, _) => {
                    view! { <div><dt>"Next try"</dt><dd><Time at=d.next_attempt_at/></dd></div> }.into_any()
                }
                _ => ().into_any(),
            }}
            {d.redelivery_of.map(|of| view! { <div><dt>"Redelivery of"</dt><dd><code class="mono">{of.to_string()}</code></dd></div> })}
        </dl>
        <h4>"Tries"</h4>
        {if detail.attempts.is_empty() {
            view! { <p class="empty-inline">"Not tried yet."</p> }.into_any()
        } else {
            view! {
                <div class="table-wrap">
                    <table class="attempts">
                        <caption class="visually-hidden">"Every try of this delivery, first first"</caption>
                        <thead>
                            <tr>
                                <th scope="col">"Try"</th>
                                <th scope="col">"When"</th>
                                <th scope="col">"Response"</th>
                                <th scope="col">"Error"</th>
                                <th scope="col">"Took"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {detail
                                .attempts
                                .into_iter()
                                .map(|a| view! {
                                    <tr class="attempt-row" data-attempt=a.attempt.to_string()
                                        data-status-code=a.status_code.map(|c| c.to_string())>
                                        <td class="num">{a.attempt}</td>
                                        <td class="nowrap"><Time at=a.at/></td>
                                        <td class="attempt-status">{a.status_code.map_or_else(|| "no answer".to_owned(), |c| c.to_string())}</td>
                                        <td class="attempt-error">{a.error}</td>
                                        <td class="num">{format!("{} ms", a.duration_ms)}</td>
                                    </tr>
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                </div>
            }
                .into_any()
        }}
        <h4>"Body as sent"</h4>
        <pre class="delivery-payload" tabindex="0">{payload}</pre>
    }
}
