//! AI settings: the connections to AI services the person may use (the organisation's and
//! their own), creating, editing, testing and deleting them, which connection runs and which
//! enhances prompts, and, for tenant admins, the organisation's connections and AI policy.

use domain::ConnectionId;
use domain::ai::{
    DEFAULT_TIMEOUT_SECONDS, MAX_TEMPERATURE, MAX_TIMEOUT_SECONDS, MAX_TOKENS_LIMIT, MIN_TIMEOUT_SECONDS,
    ModelPrice, Provider,
};
use domain::wire::{
    AiPolicy, AiSettingsView, ConnectionRef, ConnectionRequest, ConnectionScope, ConnectionTestResult,
    ConnectionView, FieldError, ProviderInfo, UpdateAiSettingsRequest,
};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use crate::api::{self, ApiFailure, ApiResult};
use crate::auth::use_auth;
use crate::ui::{ErrorAlert, FailureAlert, FieldMessage, Loading, ProblemAlert, invalid, set_title};

type Providers = LocalResource<ApiResult<Vec<ProviderInfo>>>;

#[component]
pub fn AiSettingsPage() -> impl IntoView {
    set_title("AI settings");
    let auth = use_auth();
    let providers: Providers = LocalResource::new(api::providers);
    let connections = LocalResource::new(api::connections);
    let settings = LocalResource::new(api::ai_settings);
    // The connection being edited (`None`: the form adds one).
    let editing = RwSignal::new(None::<ConnectionView>);
    let notice = RwSignal::new(None::<String>);
    let failure = RwSignal::new(None::<ApiFailure>);
    // Outlives the settings form, which is drawn again with the saved choice.
    let choice_saved = RwSignal::new(None::<String>);

    let edit = move |id: ConnectionId| {
        failure.set(None);
        notice.set(None);
        spawn_local(async move {
            match api::connection(id).await {
                Ok(connection) => editing.set(Some(connection)),
                Err(f) => failure.set(Some(f)),
            }
        });
    };
    let delete = move |connection: ConnectionView| {
        failure.set(None);
        notice.set(None);
        spawn_local(async move {
            match api::delete_connection(connection.id).await {
                Ok(()) => {
                    if editing.with_untracked(|e| e.as_ref().is_some_and(|e| e.id == connection.id)) {
                        editing.set(None);
                    }
                    notice.set(Some(format!("Connection “{}” deleted.", connection.name)));
                    connections.refetch();
                    settings.refetch();
                }
                Err(f) => failure.set(Some(f)),
            }
        });
    };
    let actions = RowActions { edit, delete };
    let saved = Callback::new(move |connection: ConnectionView| {
        let verb = if editing.with_untracked(Option::is_some) { "saved" } else { "added" };
        notice.set(Some(format!("Connection “{}” {verb}.", connection.name)));
        editing.set(None);
        connections.refetch();
        settings.refetch();
    });
    let cancel = Callback::new(move |()| editing.set(None));
    let connections_list = Signal::derive(move || connections.get().and_then(Result::ok).unwrap_or_default());
    // Changes only when the policy does, so the form keeps what was typed meanwhile.
    let personal_allowed =
        Memo::new(move |_| settings.get().and_then(Result::ok).map(|s| s.user_connections_allowed));

    view! {
        <div class="page-header"><h1>"AI settings"</h1></div>
        <p class="lead">
            "Connections to the AI services that run and enhance your prompts (OpenAI, Azure OpenAI, Anthropic, or a local LM Studio, Ollama or llama.cpp). "
            "Keys are stored encrypted and never shown again: only how they end."
        </p>

        <section class="panel" aria-labelledby="ai-choice-title">
            <h2 id="ai-choice-title">"Which connection is used"</h2>
            <Transition fallback=|| view! { <Loading label="Loading your AI settings…"/> }>
                {move || {
                    settings
                        .get()
                        .map(|result| match result {
                            Err(failure) => view! { <ErrorAlert failure/> }.into_any(),
                            Ok(current) => view! {
                                <SettingsForm current connections=connections_list saved=choice_saved on_saved=move || settings.refetch()/>
                            }
                                .into_any(),
                        })
                }}
            </Transition>
        </section>

        <section class="panel" aria-labelledby="connections-title">
            <h2 id="connections-title">"Connections"</h2>
            <FailureAlert failure/>
            {move || notice.get().map(|s| view! { <p class="alert alert-success" role="status">{s}</p> })}
            <Transition fallback=|| view! { <Loading label="Loading connections…"/> }>
                {move || {
                    connections
                        .get()
                        .map(|result| match result {
                            Err(failure) => view! { <ErrorAlert failure/> }.into_any(),
                            Ok(items) if items.is_empty() => {
                                view! { <p class="empty-inline">"No connections yet."</p> }.into_any()
                            }
                            Ok(items) => {
                                let effective = settings.get().and_then(Result::ok);
                                let runs_with = effective.as_ref().and_then(|s| s.effective_execution.as_ref().map(|c| c.id));
                                let enhances_with = effective.as_ref().and_then(|s| s.effective_enhancement.as_ref().map(|c| c.id));
                                let allowed = effective.as_ref().is_some_and(|s| s.user_connections_allowed);
                                view! {
                                    <ul class="connection-list">
                                        {items
                                            .into_iter()
                                            .map(|connection| {
                                                let uses = (Some(connection.id) == runs_with, Some(connection.id) == enhances_with);
                                                view! { <ConnectionItem connection uses personal_allowed=allowed actions/> }
                                            })
                                            .collect_view()}
                                    </ul>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
        </section>

        <Show
            when=move || auth.can_write()
            fallback=|| view! {
                <p class="notice" role="note" id="ai-settings-readonly">
                    "Your role can use these connections but not change them or add your own."
                </p>
            }
        >
        <section class="panel" aria-labelledby="connection-form-title">
            <h2 id="connection-form-title">
                {move || editing.with(|e| match e {
                    Some(c) => format!("Edit connection “{}”", c.name),
                    None => "Add a connection".to_owned(),
                })}
            </h2>
            {move || {
                let personal = personal_allowed.get()?;
                let tenant = auth.is_admin();
                let current = editing.get();
                Some(view! {
                    {(!personal)
                        .then(|| {
                            view! {
                                <p class="notice" role="note" id="personal-connections-disabled">
                                    "Your organisation's administrators allow only the organisation's own connections, so you cannot add personal ones."
                                </p>
                            }
                        })}
                    {(personal || tenant || current.is_some())
                        .then(|| {
                            view! { <ConnectionForm initial=current providers personal tenant on_saved=saved on_cancel=cancel/> }
                        })}
                })
            }}
        </section>
        </Show>

        <Show when=move || auth.is_admin()>
            <PolicySection connections=connections_list on_saved=move || settings.refetch()/>
        </Show>
    }
}

/// What a connection's buttons do, shared by every item.
#[derive(Clone, Copy)]
struct RowActions<E, D>
where
    E: Fn(ConnectionId) + Copy + Send + Sync + 'static,
    D: Fn(ConnectionView) + Copy + Send + Sync + 'static,
{
    edit: E,
    delete: D,
}

fn connection_label(c: &ConnectionView) -> String {
    let scope = match c.scope {
        ConnectionScope::Tenant => "organisation",
        ConnectionScope::Personal => "personal",
    };
    format!("{} ({}, {scope})", c.name, c.model)
}

fn effective_label(c: Option<&ConnectionRef>) -> String {
    c.map_or_else(|| "none configured".to_owned(), |c| format!("{} ({})", c.name, c.model))
}

/// A select of connections with an empty first choice (`""`).
fn connection_options(items: Vec<ConnectionView>, selected: String, empty: String) -> impl IntoView {
    let none_selected = selected.is_empty();
    view! {
        <option value="" selected=none_selected>{empty}</option>
        {items
            .into_iter()
            .map(|c| {
                let value = c.id.to_string();
                let is = value == selected;
                view! { <option value=value selected=is>{connection_label(&c)}</option> }
            })
            .collect_view()}
    }
}

#[component]
fn SettingsForm(
    current: AiSettingsView,
    connections: Signal<Vec<ConnectionView>>,
    saved: RwSignal<Option<String>>,
    on_saved: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let id_text = |id: Option<ConnectionId>| id.map(|id| id.to_string()).unwrap_or_default();
    let execution = RwSignal::new(id_text(current.execution_connection));
    let enhancement = RwSignal::new(id_text(current.enhancement_connection));
    let failure = RwSignal::new(None::<ApiFailure>);
    let saving = RwSignal::new(false);
    // Read-only people use what the organisation chose.
    let writable = use_auth().can_write();
    let default_note = |own: Option<ConnectionId>, effective: Option<&ConnectionRef>| {
        if own.is_none() {
            format!("Organisation default (now: {})", effective_label(effective))
        } else {
            "Organisation default".to_owned()
        }
    };
    let execution_default = default_note(current.execution_connection, current.effective_execution.as_ref());
    let enhancement_default =
        default_note(current.enhancement_connection, current.effective_enhancement.as_ref());

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let request = UpdateAiSettingsRequest {
            execution_connection: execution.get_untracked().parse().ok(),
            enhancement_connection: enhancement.get_untracked().parse().ok(),
        };
        saving.set(true);
        failure.set(None);
        saved.set(None);
        spawn_local(async move {
            match api::update_ai_settings(&request).await {
                Ok(view) => {
                    saved.try_set(Some(format!(
                        "Saved. Prompts run with {}; enhancements use {}.",
                        effective_label(view.effective_execution.as_ref()),
                        effective_label(view.effective_enhancement.as_ref())
                    )));
                    on_saved();
                }
                Err(f) => {
                    failure.try_set(Some(f));
                }
            }
            saving.try_set(false);
        });
    };

    view! {
        <form on:submit=submit aria-label="Which connection is used">
            <FailureAlert failure/>
            {move || saved.get().map(|s| view! { <p class="alert alert-success" role="status">{s}</p> })}
            <p class="meta-line" id="ai-effective">
                "Prompts run with " <strong>{effective_label(current.effective_execution.as_ref())}</strong>
                "; enhancements use " <strong>{effective_label(current.effective_enhancement.as_ref())}</strong> "."
            </p>
            <div class="form-grid">
                <div class="field">
                    <label for="ai-execution-connection">"Run prompts with"</label>
                    <select id="ai-execution-connection" aria-describedby="ai-execution-connection-error"
                        aria-invalid=invalid(failure, "execution_connection")
                        disabled=!writable prop:value=move || execution.get() on:change=move |ev| execution.set(event_target_value(&ev))>
                        {move || connection_options(connections.get(), execution.get_untracked(), execution_default.clone())}
                    </select>
                    <FieldMessage failure field="execution_connection" id="ai-execution-connection-error"/>
                </div>
                <div class="field">
                    <label for="ai-enhancement-connection">"Enhance prompts with"</label>
                    <select id="ai-enhancement-connection" aria-describedby="ai-enhancement-connection-error"
                        aria-invalid=invalid(failure, "enhancement_connection")
                        disabled=!writable prop:value=move || enhancement.get() on:change=move |ev| enhancement.set(event_target_value(&ev))>
                        {move || connection_options(connections.get(), enhancement.get_untracked(), enhancement_default.clone())}
                    </select>
                    <FieldMessage failure field="enhancement_connection" id="ai-enhancement-connection-error"/>
                </div>
            </div>
            <div class="form-actions">
                <button type="submit" id="ai-settings-save" class="button-primary"
                    disabled=move || saving.get() || !writable>"Save choice"</button>
            </div>
        </form>
    }
}

#[component]
fn ConnectionItem<E, D>(
    connection: ConnectionView,
    /// Whether it runs prompts and whether it enhances them, for this person now.
    uses: (bool, bool),
    personal_allowed: bool,
    actions: RowActions<E, D>,
) -> impl IntoView
where
    E: Fn(ConnectionId) + Copy + Send + Sync + 'static,
    D: Fn(ConnectionView) + Copy + Send + Sync + 'static,
{
    let auth = use_auth();
    let id = connection.id;
    let tenant = connection.scope == ConnectionScope::Tenant;
    let may_edit = if tenant { auth.is_admin() } else { personal_allowed && auth.can_write() };
    let may_delete = if tenant { auth.is_admin() } else { auth.can_write() };
    let name = connection.name.clone();
    let stored = StoredValue::new(connection.clone());
    let confirming = RwSignal::new(false);
    let testing = RwSignal::new(false);
    let tested = RwSignal::new(None::<Result<ConnectionTestResult, ApiFailure>>);
    let test = move |_| {
        testing.set(true);
        tested.set(None);
        spawn_local(async move {
            let result = api::test_connection(id).await;
            // The list may have been reloaded meanwhile.
            tested.try_set(Some(result));
            testing.try_set(false);
        });
    };
    let heading_id = format!("connection-{id}-name");
    let options = [
        connection.temperature.map(|t| format!("temperature {t}")),
        connection.max_tokens.map(|m| format!("at most {m} tokens")),
        Some(format!("timeout {} s", connection.timeout_seconds)),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" · ");

    view! {
        <li class="connection-item" id=format!("connection-{id}") data-testid="connection-item">
            <div class="connection-head">
                <h3 id=heading_id>{connection.name.clone()}</h3>
                {if tenant {
                    view! { <span class="badge badge-tenant">"Organisation"</span> }.into_any()
                } else {
                    view! { <span class="badge">"Personal"</span> }.into_any()
                }}
                {uses.0.then(|| view! { <span class="badge badge-category">"Runs your prompts"</span> })}
                {uses.1.then(|| view! { <span class="badge badge-enhancement">"Enhances your prompts"</span> })}
            </div>
            <dl class="connection-facts">
                <div><dt>"Service"</dt><dd>{connection.provider.label()}</dd></div>
                <div><dt>"Model"</dt><dd><code>{connection.model.clone()}</code></dd></div>
                <div><dt>"Address"</dt><dd><code class="mono">{connection.base_url.clone()}</code></dd></div>
                <div><dt>"Key"</dt><dd data-testid="connection-key">{connection.api_key.clone().unwrap_or_else(|| "none".to_owned())}</dd></div>
                <div><dt>"Options"</dt><dd>{options}</dd></div>
            </dl>
            <div class="row-actions">
                <button type="button" class="button-secondary button-small" data-testid="connection-test"
                    aria-label=format!("Test connection {name}") disabled=move || testing.get() on:click=test>
                    "Test"
                </button>
                {may_edit
                    .then(|| {
                        view! {
                            <button type="button" class="button-secondary button-small" data-testid="connection-edit"
                                aria-label=format!("Edit connection {}", stored.with_value(|c| c.name.clone()))
                                on:click=move |_| (actions.edit)(id)>
                                "Edit"
                            </button>
                        }
                    })}
                {may_delete
                    .then(|| {
                        view! {
                            <Show
                                when=move || confirming.get()
                                fallback=move || view! {
                                    <button type="button" class="button-danger button-small" data-testid="connection-delete"
                                        aria-label=format!("Delete connection {}", stored.with_value(|c| c.name.clone()))
                                        on:click=move |_| confirming.set(true)>
                                        "Delete"
                                    </button>
                                }
                            >
                                <span>"Delete this connection?"</span>
                                <button type="button" class="button-danger button-small" data-testid="connection-delete-confirm"
                                    on:click=move |_| (actions.delete)(stored.get_value())>
                                    "Yes, delete"
                                </button>
                                <button type="button" class="button-secondary button-small" on:click=move |_| confirming.set(false)>"Cancel"</button>
                            </Show>
                        }
                    })}
            </div>
            <div class="test-result" data-testid="connection-test-result" aria-live="polite">
                <Show when=move || testing.get()><Loading label="Testing…"/></Show>
                {move || tested.get().map(|result| view! { <TestOutcome result/> })}
            </div>
        </li>
    }
}

/// What a connection test found: the models, or what failed.
#[component]
fn TestOutcome(result: Result<ConnectionTestResult, ApiFailure>) -> impl IntoView {
    const SHOWN: usize = 30;
    match result {
        Err(failure) => view! { <ProblemAlert failure/> }.into_any(),
        Ok(test) if test.ok => {
            let count = test.models.len();
            let more = count.saturating_sub(SHOWN);
            view! {
                <div class="alert alert-success">
                    <p>
                        <strong>"The connection works"</strong>
                        {format!(" ({} ms). ", test.latency_ms)}
                        {if count == 0 {
                            "The service lists no models.".to_owned()
                        } else {
                            format!("Models found: {count}.")
                        }}
                    </p>
                    {(count > 0)
                        .then(|| {
                            view! {
                                <ul class="model-list" aria-label="Models found">
                                    {test.models.into_iter().take(SHOWN).map(|m| view! { <li><code>{m}</code></li> }).collect_view()}
                                </ul>
                            }
                        })}
                    {(more > 0).then(|| view! { <p class="hint">{format!("and {more} more")}</p> })}
                </div>
            }
                .into_any()
        }
        Ok(test) => {
            let failure = test
                .error
                .map(ApiFailure::from_problem)
                .unwrap_or_else(|| ApiFailure::local("The test failed without saying why."));
            view! {
                <ProblemAlert failure/>
                <p class="hint">{format!("After {} ms.", test.latency_ms)}</p>
            }
            .into_any()
        }
    }
}

fn provider_default(providers: &Providers, provider: Provider) -> String {
    providers
        .get_untracked()
        .and_then(Result::ok)
        .and_then(|list| list.into_iter().find(|p| p.provider == provider).map(|p| p.default_base_url))
        .unwrap_or_else(|| provider.default_base_url().to_owned())
}

/// Parses an optional number field: empty is `None`; out of `range` is a field error.
fn optional_number<T: std::str::FromStr + PartialOrd>(
    raw: &str,
    field: &'static str,
    range: std::ops::RangeInclusive<T>,
    message: String,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    match raw.parse::<T>() {
        Ok(value) if range.contains(&value) => Some(value),
        _ => {
            errors.push(FieldError::new(field, message));
            None
        }
    }
}

/// Adds a connection or edits `initial`. The key field is never filled in: left empty, an edit
/// keeps the stored key.
#[component]
fn ConnectionForm(
    initial: Option<ConnectionView>,
    providers: Providers,
    /// Whether personal connections may be added.
    personal: bool,
    /// Whether organisation connections may be added (tenant admins).
    tenant: bool,
    on_saved: Callback<ConnectionView>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    let editing = initial.as_ref().map(|c| c.id);
    let stored_key = initial.as_ref().and_then(|c| c.api_key.clone());
    let first_provider = initial.as_ref().map_or(Provider::Lmstudio, |c| c.provider);
    let name = RwSignal::new(initial.as_ref().map(|c| c.name.clone()).unwrap_or_default());
    let scope = RwSignal::new(initial.as_ref().map(|c| c.scope).unwrap_or(if personal {
        ConnectionScope::Personal
    } else {
        ConnectionScope::Tenant
    }));
    let provider = RwSignal::new(first_provider);
    let base_url = RwSignal::new(
        initial.as_ref().map_or_else(|| first_provider.default_base_url().to_owned(), |c| c.base_url.clone()),
    );
    let model = RwSignal::new(initial.as_ref().map(|c| c.model.clone()).unwrap_or_default());
    let api_key = RwSignal::new(String::new());
    let clear_key = RwSignal::new(false);
    let temperature = RwSignal::new(
        initial.as_ref().and_then(|c| c.temperature).map(|t| t.to_string()).unwrap_or_default(),
    );
    let max_tokens =
        RwSignal::new(initial.as_ref().and_then(|c| c.max_tokens).map(|m| m.to_string()).unwrap_or_default());
    let timeout =
        RwSignal::new(initial.as_ref().map_or(DEFAULT_TIMEOUT_SECONDS, |c| c.timeout_seconds).to_string());
    let failure = RwSignal::new(None::<ApiFailure>);
    let saving = RwSignal::new(false);
    let name_ref = NodeRef::<leptos::html::Input>::new();
    // Editing starts in the form: keyboard users land where they chose to go.
    if editing.is_some() {
        Effect::new(move || {
            if let Some(input) = name_ref.get() {
                let _ = input.focus();
            }
        });
    }

    let choose_provider = move |ev: leptos::ev::Event| {
        let Some(next) = Provider::parse(&event_target_value(&ev)) else { return };
        let before = provider.get_untracked();
        // The address follows the service unless the person typed their own.
        let typed = base_url.get_untracked();
        if typed.trim().is_empty() || typed.trim_end_matches('/') == provider_default(&providers, before) {
            base_url.set(provider_default(&providers, next));
        }
        provider.set(next);
    };
    let needs_key = move || {
        let p = provider.get();
        providers
            .get()
            .and_then(Result::ok)
            .and_then(|list| list.into_iter().find(|i| i.provider == p).map(|i| i.requires_api_key))
            .unwrap_or_else(|| p.requires_api_key())
    };

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if saving.get_untracked() {
            return;
        }
        let mut errors = Vec::new();
        let temperature = optional_number(
            &temperature.get_untracked(),
            "temperature",
            0.0..=MAX_TEMPERATURE,
            format!("must be a number from 0 to {MAX_TEMPERATURE}, or empty"),
            &mut errors,
        );
        let max_tokens = optional_number(
            &max_tokens.get_untracked(),
            "max_tokens",
            1..=MAX_TOKENS_LIMIT,
            format!("must be a whole number from 1 to {MAX_TOKENS_LIMIT}, or empty"),
            &mut errors,
        );
        let timeout_seconds = optional_number(
            &timeout.get_untracked(),
            "timeout_seconds",
            MIN_TIMEOUT_SECONDS..=MAX_TIMEOUT_SECONDS,
            format!("must be a whole number of seconds from {MIN_TIMEOUT_SECONDS} to {MAX_TIMEOUT_SECONDS}"),
            &mut errors,
        );
        if !errors.is_empty() {
            failure.set(Some(ApiFailure::invalid(errors)));
            return;
        }
        let key = api_key.get_untracked();
        let clear = clear_key.get_untracked();
        let base = base_url.get_untracked().trim().to_owned();
        let request = ConnectionRequest {
            name: name.get_untracked().trim().to_owned(),
            scope: scope.get_untracked(),
            provider: provider.get_untracked(),
            base_url: (!base.is_empty()).then_some(base),
            model: model.get_untracked().trim().to_owned(),
            api_key: (!clear && !key.trim().is_empty()).then(|| key.trim().to_owned()),
            clear_api_key: clear,
            temperature,
            max_tokens,
            timeout_seconds,
        };
        saving.set(true);
        failure.set(None);
        spawn_local(async move {
            let result = match editing {
                Some(id) => api::update_connection(id, &request).await,
                None => api::create_connection(&request).await,
            };
            match result {
                Ok(connection) => {
                    api_key.try_set(String::new());
                    on_saved.run(connection);
                }
                Err(f) => {
                    failure.try_set(Some(f));
                }
            }
            saving.try_set(false);
        });
    };

    let key_hint = match (&stored_key, editing) {
        (Some(hint), Some(_)) => {
            format!("Stored key: {hint}. Leave empty to keep it; type a new one to replace it.")
        }
        (None, Some(_)) => "No key is stored. Local servers usually need none.".to_owned(),
        _ => "Stored encrypted; never shown again.".to_owned(),
    };
    let has_stored_key = stored_key.is_some();
    let scope_choice = editing.is_none() && personal && tenant;
    let form_label = if editing.is_some() { "Edit connection" } else { "Add a connection" };

    view! {
        <form class="connection-form" on:submit=submit aria-label=form_label>
            <FailureAlert failure/>
            <div class="form-grid">
                <div class="field">
                    <label for="conn-name">"Name"</label>
                    <input id="conn-name" node_ref=name_ref required maxlength="100" autocomplete="off"
                        placeholder="e.g. Local LM Studio" aria-describedby="conn-name-error"
                        aria-invalid=invalid(failure, "name") bind:value=name/>
                    <FieldMessage failure field="name" id="conn-name-error"/>
                </div>
                {if scope_choice {
                    view! {
                        <div class="field">
                            <label for="conn-scope">"Who may use it"</label>
                            <select id="conn-scope" aria-describedby="conn-scope-error"
                                prop:value=move || match scope.get() { ConnectionScope::Tenant => "tenant", ConnectionScope::Personal => "personal" }
                                on:change=move |ev| scope.set(if event_target_value(&ev) == "tenant" { ConnectionScope::Tenant } else { ConnectionScope::Personal })>
                                <option value="personal">"Only me (personal)"</option>
                                <option value="tenant">"Everyone in the organisation"</option>
                            </select>
                            <FieldMessage failure field="scope" id="conn-scope-error"/>
                        </div>
                    }
                        .into_any()
                } else {
                    let text = match scope.get_untracked() {
                        ConnectionScope::Tenant => "Everyone in the organisation",
                        ConnectionScope::Personal => "Only me (personal)",
                    };
                    view! {
                        <div class="field">
                            <span class="label-text">"Who may use it"</span>
                            <p class="static-value" id="conn-scope-value">{text}</p>
                        </div>
                    }
                        .into_any()
                }}
                <div class="field">
                    <label for="conn-provider">"Service"</label>
                    <select id="conn-provider" aria-describedby="conn-provider-error"
                        aria-invalid=invalid(failure, "provider")
                        prop:value=move || provider.get().as_str() on:change=choose_provider>
                        {move || {
                            let chosen = provider.get_untracked();
                            let list: Vec<(Provider, String)> = providers
                                .get()
                                .and_then(Result::ok)
                                .map(|l| l.into_iter().map(|p| (p.provider, p.label)).collect())
                                .unwrap_or_else(|| Provider::ALL.iter().map(|p| (*p, p.label().to_owned())).collect());
                            list.into_iter()
                                .map(|(p, label)| view! { <option value=p.as_str() selected=p == chosen>{label}</option> })
                                .collect_view()
                        }}
                    </select>
                    <FieldMessage failure field="provider" id="conn-provider-error"/>
                </div>
                <div class="field">
                    <label for="conn-base-url">"Address (base URL)"</label>
                    <input id="conn-base-url" type="url" inputmode="url" maxlength="2000" autocomplete="off" spellcheck="false"
                        aria-describedby="conn-base-url-hint conn-base-url-error"
                        aria-invalid=invalid(failure, "base_url") bind:value=base_url/>
                    <p class="hint" id="conn-base-url-hint">"Filled in with the service's usual address."</p>
                    <FieldMessage failure field="base_url" id="conn-base-url-error"/>
                </div>
                <div class="field">
                    <label for="conn-model">"Model"</label>
                    <input id="conn-model" required maxlength="200" autocomplete="off" spellcheck="false"
                        placeholder="e.g. gpt-4o-mini" aria-describedby="conn-model-hint conn-model-error"
                        aria-invalid=invalid(failure, "model") bind:value=model/>
                    <p class="hint" id="conn-model-hint">"For Azure OpenAI: the deployment name. “Test” lists the models."</p>
                    <FieldMessage failure field="model" id="conn-model-error"/>
                </div>
                <div class="field">
                    <label for="conn-api-key">"API key"</label>
                    <input id="conn-api-key" type="password" maxlength="4000" autocomplete="new-password" spellcheck="false"
                        aria-describedby="conn-api-key-hint conn-api-key-error"
                        aria-invalid=invalid(failure, "api_key")
                        disabled=move || clear_key.get() bind:value=api_key/>
                    <p class="hint" id="conn-api-key-hint">
                        {key_hint}
                        {move || needs_key().then_some(" This service needs a key.")}
                    </p>
                    <FieldMessage failure field="api_key" id="conn-api-key-error"/>
                </div>
                {has_stored_key
                    .then(|| {
                        view! {
                            <div class="field field-check">
                                <input id="conn-clear-key" type="checkbox" bind:checked=clear_key/>
                                <label for="conn-clear-key">"Remove the stored key"</label>
                            </div>
                        }
                    })}
                // Decimals are typed into text fields: a number field reads "0." as empty, and
                // the binding would wipe it halfway through typing "0.5".
                <div class="field">
                    <label for="conn-temperature">"Temperature"</label>
                    <input id="conn-temperature" inputmode="decimal" autocomplete="off"
                        aria-describedby="conn-temperature-hint conn-temperature-error"
                        aria-invalid=invalid(failure, "temperature") bind:value=temperature/>
                    <p class="hint" id="conn-temperature-hint">"Empty: the service's default."</p>
                    <FieldMessage failure field="temperature" id="conn-temperature-error"/>
                </div>
                <div class="field">
                    <label for="conn-max-tokens">"Max tokens per answer"</label>
                    <input id="conn-max-tokens" type="number" min="1" max=MAX_TOKENS_LIMIT.to_string() inputmode="numeric"
                        aria-describedby="conn-max-tokens-hint conn-max-tokens-error"
                        aria-invalid=invalid(failure, "max_tokens") bind:value=max_tokens/>
                    <p class="hint" id="conn-max-tokens-hint">"Empty: the service's default."</p>
                    <FieldMessage failure field="max_tokens" id="conn-max-tokens-error"/>
                </div>
                <div class="field">
                    <label for="conn-timeout">"Timeout (seconds)"</label>
                    <input id="conn-timeout" type="number" min=MIN_TIMEOUT_SECONDS.to_string() max=MAX_TIMEOUT_SECONDS.to_string() inputmode="numeric"
                        aria-describedby="conn-timeout-error" aria-invalid=invalid(failure, "timeout_seconds") bind:value=timeout/>
                    <FieldMessage failure field="timeout_seconds" id="conn-timeout-error"/>
                </div>
            </div>
            <div class="form-actions">
                <button type="submit" id="conn-save" class="button-primary" disabled=move || saving.get()>
                    {if editing.is_some() { "Save connection" } else { "Add connection" }}
                </button>
                {editing.map(|_| view! {
                    <button type="button" id="conn-cancel" class="button-secondary" on:click=move |_| on_cancel.run(())>"Cancel"</button>
                })}
                <Show when=move || saving.get()><span class="hint" role="status">"Saving…"</span></Show>
            </div>
        </form>
    }
}

/// One editable row of the price table.
#[derive(Clone, Copy)]
struct PriceRow {
    key: u32,
    model: RwSignal<String>,
    input: RwSignal<String>,
    output: RwSignal<String>,
}

impl PriceRow {
    fn new(key: u32, price: Option<&ModelPrice>) -> Self {
        Self {
            key,
            model: RwSignal::new(price.map(|p| p.model.clone()).unwrap_or_default()),
            input: RwSignal::new(price.map(|p| p.input_per_million.to_string()).unwrap_or_default()),
            output: RwSignal::new(price.map(|p| p.output_per_million.to_string()).unwrap_or_default()),
        }
    }
}

/// The organisation's AI policy (tenant admins).
#[component]
fn PolicySection(
    connections: Signal<Vec<ConnectionView>>,
    on_saved: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let policy = LocalResource::new(api::ai_policy);
    view! {
        <section class="panel" aria-labelledby="policy-title">
            <h2 id="policy-title">"Organisation AI policy"</h2>
            <Transition fallback=|| view! { <Loading label="Loading the policy…"/> }>
                {move || {
                    policy
                        .get()
                        .map(|result| match result {
                            Err(failure) => view! { <ErrorAlert failure/> }.into_any(),
                            Ok(current) => view! { <PolicyForm current connections on_saved/> }.into_any(),
                        })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn PolicyForm(
    current: AiPolicy,
    connections: Signal<Vec<ConnectionView>>,
    on_saved: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let id_text = |id: Option<ConnectionId>| id.map(|id| id.to_string()).unwrap_or_default();
    let allow = RwSignal::new(current.allow_user_connections);
    let execution = RwSignal::new(id_text(current.default_execution_connection));
    let enhancement = RwSignal::new(id_text(current.default_enhancement_connection));
    let retention = RwSignal::new(current.run_retention_days.to_string());
    let next_key = StoredValue::new(u32::try_from(current.prices.len()).unwrap_or(u32::MAX));
    let rows = RwSignal::new(
        current
            .prices
            .iter()
            .zip(0u32..)
            .map(|(price, key)| PriceRow::new(key, Some(price)))
            .collect::<Vec<_>>(),
    );
    let failure = RwSignal::new(None::<ApiFailure>);
    let saved = RwSignal::new(None::<String>);
    let saving = RwSignal::new(false);
    let tenant_connections = Signal::derive(move || {
        connections.get().into_iter().filter(|c| c.scope == ConnectionScope::Tenant).collect::<Vec<_>>()
    });

    let add_row = move |_| {
        let key = next_key.get_value();
        next_key.set_value(key.wrapping_add(1));
        rows.update(|rows| rows.push(PriceRow::new(key, None)));
        // Straight to the new row's first field.
        request_animation_frame(move || {
            let input = document().get_element_by_id(&format!("price-model-{key}"));
            if let Some(input) = input.and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                let _ = input.focus();
            }
        });
    };

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut errors = Vec::new();
        let run_retention_days = match retention.get_untracked().trim().parse::<u32>() {
            Ok(days) if days <= 3650 => days,
            _ => {
                errors.push(FieldError::new(
                    "run_retention_days",
                    "must be a whole number of days from 0 to 3650",
                ));
                0
            }
        };
        let mut prices = Vec::new();
        for (i, row) in rows.get_untracked().into_iter().enumerate() {
            let number =
                |raw: String, field: &str, errors: &mut Vec<FieldError>| match raw.trim().parse::<f64>() {
                    Ok(v) if v.is_finite() && v >= 0.0 => v,
                    _ => {
                        errors.push(FieldError::new(
                            format!("prices[{i}].{field}"),
                            "must be a number of 0 or more",
                        ));
                        0.0
                    }
                };
            let model = row.model.get_untracked().trim().to_owned();
            if model.is_empty() {
                errors.push(FieldError::new(format!("prices[{i}].model"), "is required"));
            }
            prices.push(ModelPrice {
                model,
                input_per_million: number(row.input.get_untracked(), "input_per_million", &mut errors),
                output_per_million: number(row.output.get_untracked(), "output_per_million", &mut errors),
            });
        }
        if !errors.is_empty() {
            failure.set(Some(ApiFailure::invalid(errors)));
            saved.set(None);
            return;
        }
        let request = AiPolicy {
            allow_user_connections: allow.get_untracked(),
            default_execution_connection: execution.get_untracked().parse().ok(),
            default_enhancement_connection: enhancement.get_untracked().parse().ok(),
            run_retention_days,
            prices,
        };
        saving.set(true);
        failure.set(None);
        saved.set(None);
        spawn_local(async move {
            match api::update_ai_policy(&request).await {
                Ok(_) => {
                    saved.set(Some("Policy saved.".to_owned()));
                    on_saved();
                }
                Err(f) => failure.set(Some(f)),
            }
            saving.set(false);
        });
    };

    view! {
        <form on:submit=submit aria-label="Organisation AI policy">
            {move || failure.get().map(|failure| view! { <ProblemAlert failure/> })}
            {move || saved.get().map(|s| view! { <p class="alert alert-success" role="status">{s}</p> })}
            <div class="form-grid">
                <div class="field field-check">
                    <input id="policy-allow-user-connections" type="checkbox" bind:checked=allow/>
                    <label for="policy-allow-user-connections">"People may add personal connections"</label>
                </div>
                <div class="field">
                    <label for="policy-default-execution">"Default for running prompts"</label>
                    <select id="policy-default-execution" aria-describedby="policy-default-execution-error"
                        aria-invalid=invalid(failure, "default_execution_connection")
                        prop:value=move || execution.get() on:change=move |ev| execution.set(event_target_value(&ev))>
                        {move || connection_options(tenant_connections.get(), execution.get_untracked(), "None".to_owned())}
                    </select>
                    <FieldMessage failure field="default_execution_connection" id="policy-default-execution-error"/>
                </div>
                <div class="field">
                    <label for="policy-default-enhancement">"Default for enhancing prompts"</label>
                    <select id="policy-default-enhancement" aria-describedby="policy-default-enhancement-error"
                        aria-invalid=invalid(failure, "default_enhancement_connection")
                        prop:value=move || enhancement.get() on:change=move |ev| enhancement.set(event_target_value(&ev))>
                        {move || connection_options(tenant_connections.get(), enhancement.get_untracked(), "None".to_owned())}
                    </select>
                    <FieldMessage failure field="default_enhancement_connection" id="policy-default-enhancement-error"/>
                </div>
                <div class="field">
                    <label for="policy-retention-days">"Keep run outputs for (days)"</label>
                    <input id="policy-retention-days" type="number" min="0" max="3650" required inputmode="numeric"
                        aria-describedby="policy-retention-days-hint policy-retention-days-error"
                        aria-invalid=invalid(failure, "run_retention_days") bind:value=retention/>
                    <p class="hint" id="policy-retention-days-hint">"0: outputs are never stored. Who ran what, tokens and times are kept."</p>
                    <FieldMessage failure field="run_retention_days" id="policy-retention-days-error"/>
                </div>
            </div>
            <h3 id="prices-title">"Prices per million tokens"</h3>
            <p class="hint" id="prices-hint">"For cost estimates. A model name, or a prefix ending in * (gpt-4o*); the longest match wins."</p>
            <Show when=move || !rows.with(Vec::is_empty) fallback=|| view! { <p class="empty-inline">"No prices: costs are not estimated."</p> }>
                <div class="table-wrap">
                    <table class="prices" aria-labelledby="prices-title" aria-describedby="prices-hint">
                        <thead>
                            <tr>
                                <th scope="col">"Model"</th>
                                <th scope="col">"Input"</th>
                                <th scope="col">"Output"</th>
                                <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                            </tr>
                        </thead>
                        <tbody>
                            <For each=move || rows.get() key=|row| row.key let:row>
                                <PriceRowView row on_remove=move |key| rows.update(|rows| rows.retain(|r| r.key != key))/>
                            </For>
                        </tbody>
                    </table>
                </div>
            </Show>
            <div class="form-actions">
                <button type="button" id="policy-add-price" class="button-secondary" on:click=add_row>"Add price"</button>
                <button type="submit" id="policy-save" class="button-primary" disabled=move || saving.get()>"Save policy"</button>
            </div>
        </form>
    }
}

#[component]
fn PriceRowView(row: PriceRow, on_remove: impl Fn(u32) + Copy + Send + Sync + 'static) -> impl IntoView {
    let k = row.key;
    view! {
        <tr>
            <td>
                <label class="visually-hidden" for=format!("price-model-{k}")>"Model"</label>
                <input id=format!("price-model-{k}") required maxlength="200" autocomplete="off" spellcheck="false" bind:value=row.model/>
            </td>
            <td>
                <label class="visually-hidden" for=format!("price-input-{k}")>"Input price per million tokens"</label>
                <input id=format!("price-input-{k}") required inputmode="decimal" autocomplete="off" bind:value=row.input/>
            </td>
            <td>
                <label class="visually-hidden" for=format!("price-output-{k}")>"Output price per million tokens"</label>
                <input id=format!("price-output-{k}") required inputmode="decimal" autocomplete="off" bind:value=row.output/>
            </td>
            <td>
                <button type="button" class="button-secondary button-small" id=format!("price-remove-{k}")
                    aria-label=move || format!("Remove the price of {}", row.model.get()) on:click=move |_| on_remove(k)>
                    "Remove"
                </button>
            </td>
        </tr>
    }
}
