//! The AI tools under a prompt: run it (the answer streams in, and can be stopped) or preview
//! what a run sends, compare 2 to 4 connections, models or versions side by side, see its past
//! runs, and have an AI suggest an improvement that can be accepted as a new version.

use domain::ai::{ChatMessage, Usage};
use domain::diff::DiffOp;
use domain::wire::{
    AcceptEnhancementRequest, AiSettingsView, CompareItem, CompareRequest, CompareResult, CompareTarget,
    ConnectionView, EnhanceRequest, EnhanceResult, ErrorCode, PromptView, RenderRequest, RenderResponse,
    RunOutcome, RunRecordView, RunRequest, RunResult, TokenCount, TokenCountRequest,
};
use domain::{ConnectionId, RunId};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use web_sys::AbortController;

use crate::api::{self, ApiFailure, ApiResult, PromptQuery};
use crate::pages::history::DiffLines;
use crate::pages::run_form::{RunValues, RunVariables};
use crate::ui::{ErrorAlert, Loading, ProblemAlert, Time, copy_to_clipboard, non_empty};

/// What the prompt page shares with its AI tools.
#[derive(Clone, Copy)]
pub struct PromptLink {
    /// The newest saved version known here; an accepted enhancement replaces it.
    pub latest: RwSignal<PromptView>,
    /// The editor's text, when the prompt is being edited (`None`: read-only).
    pub draft: Option<RwSignal<String>>,
    /// Text kept aside for the person to merge, shown above the editor.
    pub stash: RwSignal<Option<String>>,
    /// Loads the prompt again (after a conflict).
    pub reload: Callback<()>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tool {
    Run,
    Compare,
    Enhance,
    History,
}

const TOOLS: [(Tool, &str, &str); 4] = [
    (Tool::Run, "ai-tab-run", "Run"),
    (Tool::Compare, "ai-tab-compare", "Compare"),
    (Tool::Enhance, "ai-tab-enhance", "Enhance"),
    (Tool::History, "ai-tab-history", "Run history"),
];

/// The connections and settings every tool offers a choice from.
#[derive(Clone, Copy)]
struct Choices {
    connections: Signal<Vec<ConnectionView>>,
    settings: Signal<Option<AiSettingsView>>,
}

#[component]
pub fn AiTools(link: PromptLink) -> impl IntoView {
    let tool = RwSignal::new(Tool::Run);
    let connections = LocalResource::new(api::connections);
    let settings = LocalResource::new(api::ai_settings);
    let choices = Choices {
        connections: Signal::derive(move || connections.get().and_then(Result::ok).unwrap_or_default()),
        settings: Signal::derive(move || settings.get().and_then(Result::ok)),
    };
    let values = link.latest.with_untracked(|p| RunValues::new(&p.contract));
    // A newer version (an accepted enhancement, a save) may bring new variables.
    Effect::new(move || link.latest.with(|p| values.sync(&p.contract)));
    let contract = Signal::derive(move || link.latest.with(|p| p.contract.clone()));
    let unconfigured = move || {
        choices.settings.with(|s| s.as_ref().is_some_and(|s| s.effective_execution.is_none()))
            && choices.connections.with(Vec::is_empty)
    };
    let shows = move |t: Tool| move || tool.get() != t;

    view! {
        <section class="panel ai-tools" aria-labelledby="ai-tools-title">
            <div class="ai-tools-head">
                <h2 id="ai-tools-title">"AI"</h2>
                <div class="segmented" role="group" aria-label="AI tools">
                    {TOOLS
                        .iter()
                        .map(|(t, id, label)| {
                            let t = *t;
                            view! {
                                <button type="button" id=*id aria-pressed=move || (tool.get() == t).to_string()
                                    aria-controls=format!("{id}-panel") on:click=move |_| tool.set(t)>
                                    {*label}
                                </button>
                            }
                        })
                        .collect_view()}
                </div>
            </div>
            <Show when=unconfigured>
                <p class="notice" role="note" id="ai-unconfigured">
                    "No AI connection is configured yet. " <a href="/settings/ai">"Set one up in the AI settings"</a> "."
                </p>
            </Show>
            {move || {
                settings.get().and_then(Result::err).map(|failure| view! { <ErrorAlert failure/> })
            }}
            <Show when=move || matches!(tool.get(), Tool::Run | Tool::Compare)>
                <RunVariables contract values/>
            </Show>
            <div id="ai-tab-run-panel" hidden=shows(Tool::Run)>
                <RunPanel link choices values/>
            </div>
            <div id="ai-tab-compare-panel" hidden=shows(Tool::Compare)>
                <ComparePanel link choices values/>
            </div>
            <div id="ai-tab-enhance-panel" hidden=shows(Tool::Enhance)>
                <EnhancePanel link choices/>
            </div>
            <div id="ai-tab-history-panel" hidden=shows(Tool::History)>
                // Loaded afresh each time it is opened.
                <Show when=move || tool.get() == Tool::History>
                    <RunHistory link/>
                </Show>
            </div>
        </section>
    }
}

/// The typed values for the saved prompt's variables; a local problem is shown by its input
/// and set as the form's failure.
fn filled(
    link: PromptLink,
    values: RunValues,
    failure: RwSignal<Option<ApiFailure>>,
) -> Option<std::collections::BTreeMap<String, serde_json::Value>> {
    let collected = link.latest.with_untracked(|p| values.collect(&p.contract));
    collected.map_err(|f| failure.set(Some(f))).ok()
}

/// A select of the connections the person may use; `""` is their default.
#[component]
fn ConnectionSelect(
    #[prop(into)] id: String,
    label: &'static str,
    value: RwSignal<String>,
    choices: Choices,
    /// Which default the empty choice stands for.
    enhancement: bool,
) -> impl IntoView {
    let default_label = move || {
        choices.settings.with(|s| {
            let current = s.as_ref().and_then(|s| {
                if enhancement {
                    s.effective_enhancement.as_ref().or(s.effective_execution.as_ref())
                } else {
                    s.effective_execution.as_ref()
                }
            });
            match current {
                Some(c) => format!("Default: {} ({})", c.name, c.model),
                None => "Default (none configured)".to_owned(),
            }
        })
    };
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <select id=id prop:value=move || value.get() on:change=move |ev| value.set(event_target_value(&ev))>
                {move || {
                    let selected = value.get_untracked();
                    view! {
                        <option value="" selected=selected.is_empty()>{default_label()}</option>
                        {choices
                            .connections
                            .get()
                            .into_iter()
                            .map(|c| {
                                let v = c.id.to_string();
                                let is = v == selected;
                                view! { <option value=v selected=is>{format!("{} ({})", c.name, c.model)}</option> }
                            })
                            .collect_view()}
                    }
                }}
            </select>
        </div>
    }
}

fn tokens_text(usage: Option<Usage>) -> String {
    usage.map_or_else(
        || "not reported".to_owned(),
        |u| format!("{} in / {} out", u.input_tokens, u.output_tokens),
    )
}

fn cost_text(cost: Option<f64>) -> String {
    match cost {
        None => "no price known".to_owned(),
        Some(c) if c < 0.01 => format!("≈ {c:.6}"),
        Some(c) => format!("≈ {c:.4}"),
    }
}

/// What a run cost and how it went.
#[component]
fn RunFacts(
    model: String,
    usage: Option<Usage>,
    latency_ms: u64,
    estimated_cost: Option<f64>,
    finish_reason: Option<String>,
    #[prop(optional)] id: &'static str,
) -> impl IntoView {
    view! {
        <dl class="run-facts" id=(!id.is_empty()).then_some(id)>
            <div><dt>"Model"</dt><dd data-testid="fact-model">{model}</dd></div>
            <div><dt>"Tokens"</dt><dd data-testid="fact-tokens">{tokens_text(usage)}</dd></div>
            <div><dt>"Latency"</dt><dd data-testid="fact-latency">{format!("{latency_ms} ms")}</dd></div>
            <div><dt>"Estimated cost"</dt><dd data-testid="fact-cost">{cost_text(estimated_cost)}</dd></div>
            {finish_reason.map(|f| view! { <div><dt>"Finished"</dt><dd data-testid="fact-finish">{f}</dd></div> })}
        </dl>
    }
}

/// A copy button for `text`, with its outcome announced.
#[component]
fn CopyButton(
    #[prop(into)] id: String,
    #[prop(into)] text: Signal<String>,
    #[prop(into)] label: String,
) -> impl IntoView {
    let copied = RwSignal::new(None::<String>);
    let copy = move |_| {
        let text = text.get_untracked();
        spawn_local(async move {
            let outcome = match copy_to_clipboard(&text).await {
                Ok(()) => "Copied.".to_owned(),
                Err(f) => f.to_string(),
            };
            copied.try_set(Some(outcome));
        });
    };
    view! {
        <button type="button" id=id class="button-secondary button-small" aria-label=label
            disabled=move || text.with(String::is_empty) on:click=copy>
            "Copy"
        </button>
        <span class="hint" role="status">{move || copied.get()}</span>
    }
}

#[component]
fn RunPanel(link: PromptLink, choices: Choices, values: RunValues) -> impl IntoView {
    let connection = RwSignal::new(String::new());
    let model = RwSignal::new(String::new());
    let output = RwSignal::new(String::new());
    let result = RwSignal::new(None::<RunResult>);
    let failure = RwSignal::new(None::<ApiFailure>);
    let status = RwSignal::new(None::<String>);
    let running = RwSignal::new(false);
    let counted = RwSignal::new(None::<ApiResult<TokenCount>>);
    let preview = RwSignal::new(None::<ApiResult<RenderResponse>>);
    let abort = StoredValue::new_local(None::<AbortController>);
    // Leaving the page stops the answer.
    on_cleanup(move || {
        abort.try_with_value(|c| {
            if let Some(c) = c {
                c.abort();
            }
        });
    });

    let run = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if running.get_untracked() {
            return;
        }
        let Some(variables) = filled(link, values, failure) else { return };
        let Ok(controller) = AbortController::new() else {
            failure.set(Some(ApiFailure::local("This browser cannot stop a request; please update it.")));
            return;
        };
        let signal = controller.signal();
        abort.set_value(Some(controller));
        let request = RunRequest {
            variables,
            connection: connection.get_untracked().parse::<ConnectionId>().ok(),
            model: non_empty(&model.get_untracked()),
            ..Default::default()
        };
        let id = link.latest.with_untracked(|p| p.id);
        output.set(String::new());
        result.set(None);
        failure.set(None);
        status.set(Some("Running…".to_owned()));
        running.set(true);
        spawn_local(async move {
            let outcome = api::run_prompt_streaming(id, &request, &signal, |text| {
                output.try_update(|o| o.push_str(text));
            })
            .await;
            match outcome {
                Ok(done) => {
                    output.try_set(done.output.clone());
                    status.try_set(Some("Done.".to_owned()));
                    result.try_set(Some(done));
                }
                Err(_) if signal.aborted() => {
                    status.try_set(Some("Stopped. The answer so far is kept below.".to_owned()));
                }
                Err(f) => {
                    status.try_set(None);
                    values.report(&f);
                    failure.try_set(Some(f));
                }
            }
            running.try_set(false);
            abort.try_update_value(|c| *c = None);
        });
    };
    let stop = move |_| {
        abort.with_value(|c| {
            if let Some(c) = c {
                c.abort();
            }
        });
    };
    let count = move |_| {
        failure.set(None);
        let Some(variables) = filled(link, values, failure) else { return };
        let request = TokenCountRequest {
            variables,
            connection: connection.get_untracked().parse::<ConnectionId>().ok(),
            model: non_empty(&model.get_untracked()),
            ..Default::default()
        };
        let id = link.latest.with_untracked(|p| p.id);
        counted.set(None);
        spawn_local(async move {
            let outcome = api::count_tokens(id, &request).await;
            counted.try_set(Some(outcome));
        });
    };
    let show_preview = move |_| {
        failure.set(None);
        let Some(variables) = filled(link, values, failure) else { return };
        let request = RenderRequest { variables, ..Default::default() };
        let id = link.latest.with_untracked(|p| p.id);
        preview.set(None);
        spawn_local(async move {
            let outcome = api::render(id, &request).await;
            if let Err(f) = &outcome {
                values.report(f);
            }
            preview.try_set(Some(outcome));
        });
    };

    view! {
        <form class="run-form" on:submit=run aria-label="Run the prompt">
            <div class="form-grid">
                <ConnectionSelect id="run-connection" label="Connection" value=connection choices enhancement=false/>
                <div class="field">
                    <label for="run-model">"Model (optional)"</label>
                    <input id="run-model" maxlength="200" autocomplete="off" spellcheck="false"
                        placeholder="The connection's model" bind:value=model/>
                </div>
            </div>
            <div class="form-actions">
                <button type="submit" id="run-button" class="button-primary" disabled=move || running.get()>"Run"</button>
                <Show when=move || running.get()>
                    <button type="button" id="run-stop" class="button-danger" on:click=stop>"Stop"</button>
                </Show>
                <button type="button" id="run-count-tokens" class="button-secondary" on:click=count>"Count tokens"</button>
                <button type="button" id="run-preview-button" class="button-secondary" on:click=show_preview>"Preview"</button>
                <span class="hint" role="status" id="run-status">{move || status.get()}</span>
            </div>
        </form>
        {move || {
            counted
                .get()
                .map(|outcome| match outcome {
                    Ok(c) => {
                        let cost = c
                            .estimated_input_cost
                            .map(|cost| format!("; sending them costs {}", cost_text(Some(cost))))
                            .unwrap_or_default();
                        view! {
                            <p class="hint" id="run-token-count">
                                {format!("{} tokens for {} ({}){cost}.", c.tokens, c.model, c.method)}
                            </p>
                        }
                            .into_any()
                    }
                    Err(failure) => view! { <ProblemAlert failure testid="run-token-count-error"/> }.into_any(),
                })
        }}
        {move || {
            preview
                .get()
                .map(|outcome| match outcome {
                    Ok(r) => view! { <RunPreview messages=r.messages version=r.version/> }.into_any(),
                    Err(failure) => view! { <ProblemAlert failure testid="run-preview-error"/> }.into_any(),
                })
        }}
        {move || failure.get().map(|failure| view! { <ProblemAlert failure testid="run-error"/> })}
        <section class="run-answer" aria-labelledby="run-answer-title">
            <div class="answer-head">
                <h3 id="run-answer-title">"Answer"</h3>
                <CopyButton id="run-copy" text=output label="Copy the answer"/>
            </div>
            <pre class="run-output" id="run-output" data-testid="run-output" aria-busy=move || running.get().to_string()>
                {move || output.get()}
            </pre>
            {move || {
                result
                    .get()
                    .map(|r| {
                        view! {
                            <RunFacts id="run-facts" model=format!("{} · {}", r.connection.name, r.model) usage=r.usage
                                latency_ms=r.latency_ms estimated_cost=r.estimated_cost
                                finish_reason=r.finish_reason/>
                        }
                    })
            }}
        </section>
    }
}

/// What a run of this version with these values sends, message by message.
#[component]
fn RunPreview(messages: Vec<ChatMessage>, version: u32) -> impl IntoView {
    view! {
        <section class="run-preview" id="run-preview" aria-labelledby="run-preview-title">
            <h3 id="run-preview-title">{format!("What a run of version {version} sends")}</h3>
            <ol class="preview-messages">
                {messages
                    .into_iter()
                    .map(|m| {
                        view! {
                            <li data-testid="preview-message" data-role=m.role.as_str()>
                                <span class="badge badge-role">{m.role.as_str()}</span>
                                <pre class="run-output">{m.content}</pre>
                            </li>
                        }
                    })
                    .collect_view()}
            </ol>
        </section>
    }
}

/// One side of a comparison, as the form holds it.
#[derive(Clone, Copy)]
struct TargetRow {
    key: u32,
    connection: RwSignal<String>,
    model: RwSignal<String>,
    version: RwSignal<String>,
}

impl TargetRow {
    fn new(key: u32) -> Self {
        Self {
            key,
            connection: RwSignal::new(String::new()),
            model: RwSignal::new(String::new()),
            version: RwSignal::new(String::new()),
        }
    }
}

const MIN_TARGETS: usize = 2;
const MAX_TARGETS: usize = 4;

#[component]
fn ComparePanel(link: PromptLink, choices: Choices, values: RunValues) -> impl IntoView {
    let targets = RwSignal::new(vec![TargetRow::new(1), TargetRow::new(2)]);
    let next_key = StoredValue::new(3u32);
    let running = RwSignal::new(false);
    let failure = RwSignal::new(None::<ApiFailure>);
    let result = RwSignal::new(None::<CompareResult>);

    // A new row's signals belong to the panel, not to the button that was clicked (which is
    // removed, and its signals with it, once the fourth target is added).
    let owner = StoredValue::new(Owner::current());
    let add = move |_| {
        if targets.with_untracked(Vec::len) >= MAX_TARGETS {
            return;
        }
        let key = next_key.get_value();
        next_key.set_value(key + 1);
        let row = owner.with_value(|owner| match owner {
            Some(owner) => owner.with(|| TargetRow::new(key)),
            None => TargetRow::new(key),
        });
        targets.update(|t| t.push(row));
    };
    let remove = move |key: u32| {
        targets.update(|t| {
            if t.len() > MIN_TARGETS {
                t.retain(|r| r.key != key);
            }
        });
    };
    let run = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if running.get_untracked() {
            return;
        }
        failure.set(None);
        let Some(variables) = filled(link, values, failure) else { return };
        let request = CompareRequest {
            variables,
            targets: targets
                .get_untracked()
                .into_iter()
                .map(|row| CompareTarget {
                    connection: row.connection.get_untracked().parse::<ConnectionId>().ok(),
                    model: non_empty(&row.model.get_untracked()),
                    version: row.version.get_untracked().trim().parse::<u32>().ok(),
                })
                .collect(),
            ..Default::default()
        };
        let id = link.latest.with_untracked(|p| p.id);
        running.set(true);
        failure.set(None);
        result.set(None);
        spawn_local(async move {
            match api::compare(id, &request).await {
                Ok(r) => {
                    result.try_set(Some(r));
                }
                Err(f) => {
                    values.report(&f);
                    failure.try_set(Some(f));
                }
            }
            running.try_set(false);
        });
    };
    let latest_version = move || link.latest.with(|p| p.version);
    let position = move |key: u32| targets.with(|t| t.iter().position(|r| r.key == key).map_or(0, |i| i + 1));
    let connection_name = move |target: &CompareTarget| {
        target.connection.and_then(|id| {
            choices
                .connections
                .with_untracked(|list| list.iter().find(|c| c.id == id).map(|c| c.name.clone()))
        })
    };

    view! {
        <form class="compare-form" on:submit=run aria-label="Compare answers">
            <p class="hint">"The same values, sent to 2 to 4 targets at once: another connection, another model, or an older version."</p>
            <div class="compare-targets">
                <For each=move || targets.get() key=|row| row.key let:row>
                    {
                        let k = row.key;
                        view! {
                            <fieldset class="compare-target" data-testid="compare-target">
                                <legend>{move || format!("Target {}", position(k))}</legend>
                                <ConnectionSelect id=format!("compare-connection-{k}") label="Connection" value=row.connection choices enhancement=false/>
                                <div class="field">
                                    <label for=format!("compare-model-{k}")>"Model (optional)"</label>
                                    <input id=format!("compare-model-{k}") maxlength="200" autocomplete="off" spellcheck="false"
                                        placeholder="The connection's model" bind:value=row.model/>
                                </div>
                                <div class="field">
                                    <label for=format!("compare-version-{k}")>"Version (optional)"</label>
                                    <input id=format!("compare-version-{k}") type="number" min="1" max=move || latest_version().to_string()
                                        inputmode="numeric" placeholder=move || format!("current ({})", latest_version()) bind:value=row.version/>
                                </div>
                                <Show when=move || targets.with(|t| t.len() > MIN_TARGETS)>
                                    <button type="button" class="button-secondary button-small" id=format!("compare-remove-{k}")
                                        aria-label=move || format!("Remove target {}", position(k)) on:click=move |_| remove(k)>
                                        "Remove"
                                    </button>
                                </Show>
                            </fieldset>
                        }
                    }
                </For>
            </div>
            <div class="form-actions">
                <Show when=move || targets.with(|t| t.len() < MAX_TARGETS)>
                    <button type="button" id="compare-add" class="button-secondary" on:click=add>"Add target"</button>
                </Show>
                <button type="submit" id="compare-button" class="button-primary" disabled=move || running.get()>"Compare"</button>
                <Show when=move || running.get()>
                    <Loading label="Waiting for every answer…"/>
                </Show>
            </div>
        </form>
        {move || failure.get().map(|failure| view! { <ProblemAlert failure testid="compare-error"/> })}
        {move || {
            result
                .get()
                .map(|r| {
                    view! {
                        <div class="compare-results" id="compare-results" role="group" aria-label="Answers side by side">
                            {r.items
                                .into_iter()
                                .enumerate()
                                .map(|(i, item)| {
                                    let name = connection_name(&item.target);
                                    view! { <CompareAnswer n=i + 1 item name/> }
                                })
                                .collect_view()}
                        </div>
                    }
                })
        }}
    }
}

#[component]
fn CompareAnswer(n: usize, item: CompareItem, name: Option<String>) -> impl IntoView {
    let heading_id = format!("compare-result-{n}-title");
    let labelled_by = heading_id.clone();
    let target = &item.target;
    let heading = match &item.result {
        Some(r) => format!("{n}. {} · {}", r.connection.name, r.model),
        None => format!(
            "{n}. {}{}",
            name.unwrap_or_else(|| "Default connection".to_owned()),
            target.model.as_ref().map(|m| format!(" · {m}")).unwrap_or_default()
        ),
    };
    let version = item.result.as_ref().and_then(|r| r.version).or(target.version);
    let output = item.result.as_ref().map(|r| r.output.clone()).unwrap_or_default();
    view! {
        <article class="compare-answer" id=format!("compare-result-{n}") data-testid="compare-result" aria-labelledby=labelled_by>
            <h3 id=heading_id>{heading}</h3>
            {version.map(|v| view! { <p class="hint">{format!("Version {v}")}</p> })}
            {item.error.map(|problem| view! { <ProblemAlert failure=ApiFailure::from_problem(problem)/> })}
            {item.result.map(|r| {
                view! {
                    <pre class="run-output">{r.output}</pre>
                    <RunFacts model=r.model usage=r.usage latency_ms=r.latency_ms
                        estimated_cost=r.estimated_cost finish_reason=r.finish_reason/>
                    <CopyButton id=format!("compare-copy-{n}") text=output label=format!("Copy answer {n}")/>
                }
            })}
        </article>
    }
}

#[component]
fn RunHistory(link: PromptLink) -> impl IntoView {
    let id = link.latest.with_untracked(|p| p.id);
    let items = RwSignal::new(Vec::<RunRecordView>::new());
    let next_cursor = RwSignal::new(None::<String>);
    let loading = RwSignal::new(true);
    let failure = RwSignal::new(None::<ApiFailure>);
    let shown = RwSignal::new(None::<ApiResult<RunRecordView>>);

    let load = move |cursor: Option<String>| {
        let more = cursor.is_some();
        loading.set(true);
        failure.set(None);
        spawn_local(async move {
            let result = api::runs(id, cursor).await;
            match result {
                Ok(page) => {
                    if more {
                        items.try_update(|i| i.extend(page.items));
                    } else {
                        items.try_set(page.items);
                    }
                    next_cursor.try_set(page.next_cursor);
                }
                Err(f) => {
                    failure.try_set(Some(f));
                }
            }
            loading.try_set(false);
        });
    };
    load(None);
    let show = move |run: RunId| {
        shown.set(None);
        spawn_local(async move {
            let result = api::run(run).await;
            shown.try_set(Some(result));
            // Once it is drawn: to the run's details, for keyboard users too.
            request_animation_frame(|| {
                let detail = document().get_element_by_id("run-detail");
                if let Some(el) = detail.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
                    el.scroll_into_view();
                    let _ = el.focus();
                }
            });
        });
    };

    view! {
        <h3 id="runs-title">"Runs of this prompt"</h3>
        {move || failure.get().map(|failure| view! { <ErrorAlert failure/> })}
        <Show when=move || !items.with(Vec::is_empty) fallback=move || view! {
            <Show when=move || !loading.get()><p class="empty-inline">"This prompt has not been run yet."</p></Show>
        }>
            <div class="table-wrap">
                <table class="runs" id="runs-table" aria-labelledby="runs-title">
                    <thead>
                        <tr>
                            <th scope="col">"When"</th>
                            <th scope="col">"Who"</th>
                            <th scope="col">"Kind"</th>
                            <th scope="col">"Model"</th>
                            <th scope="col">"Outcome"</th>
                            <th scope="col" class="num">"Tokens"</th>
                            <th scope="col" class="num">"Latency"</th>
                            <th scope="col" class="wide-only">"Output"</th>
                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        <For each=move || items.get() key=|r| r.id let:run>
                            <RunRow run show/>
                        </For>
                    </tbody>
                </table>
            </div>
        </Show>
        <Show when=move || loading.get()><Loading label="Loading runs…"/></Show>
        <Show when=move || next_cursor.with(Option::is_some) && !loading.get()>
            <div class="load-more">
                <button type="button" id="runs-load-more" class="button-secondary" on:click=move |_| load(next_cursor.get_untracked())>"Load more"</button>
            </div>
        </Show>
        {move || {
            shown
                .get()
                .map(|outcome| match outcome {
                    Err(failure) => view! { <ErrorAlert failure/> }.into_any(),
                    Ok(run) => view! { <RunDetail run/> }.into_any(),
                })
        }}
    }
}

fn outcome_text(run: &RunRecordView) -> String {
    match run.outcome {
        RunOutcome::Ok => "OK".to_owned(),
        RunOutcome::Cancelled => "Stopped".to_owned(),
        RunOutcome::Error => format!("Failed ({})", run.error_code.as_deref().unwrap_or("error")),
    }
}

fn preview(text: &str) -> String {
    const CHARS: usize = 120;
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(CHARS).collect();
    if chars.next().is_some() { format!("{head}…") } else { head }
}

#[component]
fn RunRow(run: RunRecordView, show: impl Fn(RunId) + Copy + Send + Sync + 'static) -> impl IntoView {
    let id = run.id;
    let outcome = outcome_text(&run);
    let failed = run.outcome != RunOutcome::Ok;
    view! {
        <tr data-testid="run-row">
            <td class="nowrap"><Time at=run.created_at/></td>
            <td>{run.user.map(|u| u.name).unwrap_or_else(|| "(deleted user)".to_owned())}</td>
            <td>{run.kind.as_str()}</td>
            <td>{run.connection_name} " · " <code>{run.model}</code></td>
            <td class:run-failed=failed>{outcome}</td>
            <td class="num nowrap">{run.usage.map(|u| format!("{} / {}", u.input_tokens, u.output_tokens)).unwrap_or_default()}</td>
            <td class="num nowrap">{format!("{} ms", run.latency_ms)}</td>
            <td class="wide-only run-preview">{run.output.as_deref().map(preview).unwrap_or_else(|| "(not kept)".to_owned())}</td>
            <td>
                <button type="button" class="button-secondary button-small" data-testid="run-view"
                    aria-label="Show this run" on:click=move |_| show(id)>
                    "Show"
                </button>
            </td>
        </tr>
    }
}

#[component]
fn RunDetail(run: RunRecordView) -> impl IntoView {
    let outcome = outcome_text(&run);
    view! {
        <section class="run-detail" id="run-detail" aria-labelledby="run-detail-title" tabindex="-1">
            <h3 id="run-detail-title">"Run of " <Time at=run.created_at/></h3>
            <p class="meta-line">
                {run.user.map(|u| u.name).unwrap_or_else(|| "(deleted user)".to_owned())}
                {run.version.map(|v| format!(" · version {v}"))}
                " · " {run.kind.as_str()} " · " {outcome}
            </p>
            <RunFacts model=format!("{} · {}", run.connection_name, run.model) usage=run.usage latency_ms=run.latency_ms
                estimated_cost=run.estimated_cost finish_reason=run.finish_reason/>
            {match run.output {
                Some(text) => view! { <pre class="run-output" id="run-detail-output">{text}</pre> }.into_any(),
                None => view! { <p class="hint">"The output is no longer kept (the organisation's retention)."</p> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn EnhancePanel(link: PromptLink, choices: Choices) -> impl IntoView {
    let enhancement_prompts = LocalResource::new(|| async {
        let query = PromptQuery { enhancement: Some(true), sort: "name".to_owned(), ..Default::default() };
        api::list_prompts(&query, None).await.map(|page| page.items)
    });
    let chosen_prompt = RwSignal::new(String::new());
    let connection = RwSignal::new(String::new());
    let model = RwSignal::new(String::new());
    let unsaved = RwSignal::new(false);
    let running = RwSignal::new(false);
    let failure = RwSignal::new(None::<ApiFailure>);
    let result = RwSignal::new(None::<EnhanceResult>);
    let notice = RwSignal::new(None::<String>);
    let accepting = RwSignal::new(false);
    let editable = link.draft.is_some();
    let dirty = move || link.draft.is_some_and(|draft| draft.with(|d| link.latest.with(|p| *d != p.content)));

    let enhance = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if running.get_untracked() {
            return;
        }
        let from_draft = unsaved.get_untracked() && dirty();
        let request = EnhanceRequest {
            enhancement_prompt: non_empty(&chosen_prompt.get_untracked()),
            connection: connection.get_untracked().parse::<ConnectionId>().ok(),
            model: non_empty(&model.get_untracked()),
            text: if from_draft { link.draft.map(|d| d.get_untracked()) } else { None },
        };
        let id = link.latest.with_untracked(|p| p.id);
        running.set(true);
        failure.set(None);
        notice.set(None);
        result.set(None);
        spawn_local(async move {
            let outcome =
                if from_draft { api::enhance_text(&request).await } else { api::enhance(id, &request).await };
            match outcome {
                Ok(r) => {
                    result.try_set(Some(r));
                }
                Err(f) => {
                    failure.try_set(Some(f));
                }
            }
            running.try_set(false);
        });
    };
    let accept = move |_| {
        let Some(r) = result.get_untracked() else { return };
        let id = link.latest.with_untracked(|p| p.id);
        let request = AcceptEnhancementRequest { run_id: r.run_id, version: r.version, commit_message: None };
        accepting.set(true);
        failure.set(None);
        spawn_local(async move {
            match api::accept_enhancement(id, &request).await {
                Ok(view) => {
                    notice.try_set(Some(format!("The suggestion is saved as version {}.", view.version)));
                    result.try_set(None);
                    link.latest.try_set(view);
                }
                Err(f) => {
                    failure.try_set(Some(f));
                }
            }
            accepting.try_set(false);
        });
    };
    let use_in_editor = move |_| {
        let (Some(draft), Some(r)) = (link.draft, result.get_untracked()) else { return };
        draft.set(r.suggestion);
        result.set(None);
        notice.set(Some("The suggestion is in the editor; save it to keep it.".to_owned()));
    };
    let discard = move |_| {
        result.set(None);
        notice.set(Some("Suggestion discarded.".to_owned()));
    };
    let conflict = move || failure.with(|f| f.as_ref().is_some_and(|f| f.is(ErrorCode::PreconditionFailed)));
    let reload_latest = move |_| {
        // The suggestion is kept aside so it can be merged into the newer version.
        link.stash.set(result.get_untracked().map(|r| r.suggestion));
        failure.set(None);
        link.reload.run(());
    };

    view! {
        <form class="enhance-form" on:submit=enhance aria-label="Enhance the prompt">
            <p class="hint">"An AI suggests a better version of this prompt. Nothing is saved until you accept it."</p>
            <div class="form-grid">
                <div class="field">
                    <label for="enhance-prompt">"Enhancement prompt"</label>
                    <select id="enhance-prompt" prop:value=move || chosen_prompt.get()
                        on:change=move |ev| chosen_prompt.set(event_target_value(&ev))>
                        <option value="">"Built-in"</option>
                        {move || {
                            enhancement_prompts
                                .get()
                                .and_then(Result::ok)
                                .map(|items| {
                                    let selected = chosen_prompt.get_untracked();
                                    items
                                        .into_iter()
                                        .map(|p| {
                                            let value = p.id.to_string();
                                            let is = value == selected;
                                            view! { <option value=value selected=is>{format!("{} ({})", p.title, p.name)}</option> }
                                        })
                                        .collect_view()
                                })
                        }}
                    </select>
                </div>
                <ConnectionSelect id="enhance-connection" label="Connection" value=connection choices enhancement=true/>
                <div class="field">
                    <label for="enhance-model">"Model (optional)"</label>
                    <input id="enhance-model" maxlength="200" autocomplete="off" spellcheck="false"
                        placeholder="The connection's model" bind:value=model/>
                </div>
                <Show when=dirty>
                    <div class="field field-check">
                        <input id="enhance-unsaved" type="checkbox" bind:checked=unsaved/>
                        <label for="enhance-unsaved">"Enhance the unsaved text in the editor"</label>
                    </div>
                </Show>
            </div>
            <div class="form-actions">
                <button type="submit" id="enhance-button" class="button-primary" disabled=move || running.get()>"Enhance"</button>
                <Show when=move || running.get()><Loading label="Waiting for the suggestion…"/></Show>
            </div>
        </form>
        {move || notice.get().map(|s| view! { <p class="alert alert-success" role="status" id="enhance-notice">{s}</p> })}
        {move || {
            if conflict() {
                let version = failure
                    .with(|f| f.as_ref().and_then(|f| f.current_version))
                    .map_or("a newer version".to_owned(), |v| format!("version {v}"));
                view! {
                    <div class="alert alert-warning" role="alert" id="enhance-conflict">
                        <p>
                            <strong>{format!("Someone else saved {version} after this suggestion was made.")}</strong>
                            " The suggestion is not saved. Reload the latest version (the suggestion is kept aside so you can merge it), or enhance it again."
                        </p>
                        <button type="button" class="button-secondary" on:click=reload_latest>"Reload latest version"</button>
                    </div>
                }
                    .into_any()
            } else {
                failure.get().map(|failure| view! { <ProblemAlert failure testid="enhance-error"/> }).into_any()
            }
        }}
        {move || {
            result
                .get()
                .map(|r| {
                    let for_prompt = r.prompt_id.is_some();
                    let original_label = match r.version {
                        Some(v) if for_prompt => format!("Original (version {v})"),
                        _ => "Original (unsaved text)".to_owned(),
                    };
                    let suggestion = r.suggestion.clone();
                    let unchanged = r.lines.iter().all(|l| l.op == DiffOp::Equal);
                    view! {
                        <section class="enhance-result" aria-labelledby="enhance-result-title">
                            <h3 id="enhance-result-title">"Suggestion"</h3>
                            <div class="side-by-side">
                                <div>
                                    <h4 id="enhance-original-title">{original_label}</h4>
                                    <pre class="run-output" id="enhance-original" aria-labelledby="enhance-original-title">{r.original}</pre>
                                </div>
                                <div>
                                    <h4 id="enhance-suggestion-title">"Suggested"</h4>
                                    <pre class="run-output" id="enhance-suggestion" aria-labelledby="enhance-suggestion-title">{r.suggestion}</pre>
                                </div>
                            </div>
                            <h4>"Changes, line by line"</h4>
                            {unchanged.then(|| view! { <p class="hint">"The suggestion is the same as the original."</p> })}
                            <DiffLines lines=r.lines/>
                            <RunFacts model=format!("{} · {}", r.connection.name, r.model) usage=r.usage latency_ms=r.latency_ms
                                estimated_cost=None finish_reason=None/>
                            <div class="form-actions">
                                {(editable && for_prompt)
                                    .then(|| {
                                        view! {
                                            <button type="button" id="enhance-accept" class="button-primary"
                                                disabled=move || accepting.get() on:click=accept>
                                                "Accept as new version"
                                            </button>
                                        }
                                    })}
                                {(editable && !for_prompt)
                                    .then(|| {
                                        view! {
                                            <button type="button" id="enhance-use" class="button-primary" on:click=use_in_editor>
                                                "Put it in the editor"
                                            </button>
                                        }
                                    })}
                                <CopyButton id="enhance-copy" text=suggestion label="Copy the suggestion"/>
                                <button type="button" id="enhance-discard" class="button-secondary" on:click=discard>"Discard"</button>
                            </div>
                        </section>
                    }
                })
        }}
    }
}
