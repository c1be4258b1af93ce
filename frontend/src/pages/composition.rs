//! Prompts made of prompts, in the prompt page: the includes of the templates being edited,
//! each a link to the prompt it names, and a picker that writes an include tag
//! ([`IncludesPanel`]); the prompts whose current version includes this one ([`UsedByPanel`]);
//! and what an edit would do to each of them, rendered by the server before anything is saved
//! ([`ImpactPanel`]).

use domain::PromptId;
use domain::bundle::{IncludePin, IncludeRef, PromptKind};
use domain::wire::{ImpactItem, ImpactOutcome, ImpactReport, PromptSummary, UpdatePromptRequest, UsedBy};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiFailure, PromptQuery};
use crate::pages::bundle_editor::BundleDraft;
use crate::ui::{ErrorAlert, Loading};

/// Search results the picker shows at most.
const PICKER_RESULTS: usize = 8;

/// The web app's address of the prompt named `name` (its page looks the name up).
pub fn prompt_href(name: &str) -> String {
    format!("/prompts/{}", js_sys::encode_uri_component(name))
}

/// How an include is pinned (to a version, else a label), in words.
fn pin_words(version: Option<u32>, label: Option<&str>) -> String {
    match (version, label) {
        (Some(version), _) => format!("pinned to version {version}"),
        (None, Some(label)) => format!("follows its {label} label"),
        (None, None) => "follows its latest version".to_owned(),
    }
}

/// How a template is pinned to the prompt it includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PinMode {
    Latest,
    Version,
    Label,
}

/// The includes of the templates as they stand, and the picker that adds one.
#[component]
pub fn IncludesPanel(
    draft: BundleDraft,
    content: RwSignal<String>,
    /// The text prompt's content input: an include goes where its cursor is.
    textarea: NodeRef<leptos::html::Textarea>,
    /// The prompt being edited (`None`: a new one), which cannot include itself.
    own_name: Option<String>,
) -> impl IntoView {
    let references = Memo::new(move |_| content.with(|c| draft.includes(c)));
    let inserted = RwSignal::new(None::<String>);
    let insert = Callback::new(move |tag: String| {
        let caret = textarea.get_untracked().and_then(|area| {
            let units = area.selection_start().ok().flatten()?;
            Some(content.with_untracked(|text| byte_offset(text, units as usize)))
        });
        let became_logic = draft.insert(&tag, content, caret);
        let note = if became_logic { " The template format is now Logic, which reads includes." } else { "" };
        inserted.set(Some(format!("Inserted {tag}.{note}")));
    });

    view! {
        <section class="panel includes-panel" aria-labelledby="includes-title">
            <h2 id="includes-title">"Includes"</h2>
            <Show
                when=move || !references.with(Vec::is_empty)
                fallback=|| {
                    view! {
                        <p class="hint">
                            "No includes. A logic template can include another prompt with {% include \"name\" %}."
                        </p>
                    }
                }
            >
                <ul class="include-list" aria-label="Included prompts">
                    <For each=move || references.get() key=|r| r.clone() let:reference>
                        <IncludeLink reference/>
                    </For>
                </ul>
            </Show>
            <IncludePicker insert own_name/>
            <p class="hint" role="status">{move || inserted.get()}</p>
        </section>
    }
}

/// The includes of a saved version (read-only), each a link to the prompt it names.
#[component]
pub fn SavedIncludes(references: Vec<String>) -> impl IntoView {
    (!references.is_empty()).then(|| {
        view! {
            <section class="panel includes-panel" aria-labelledby="includes-title">
                <h2 id="includes-title">"Includes"</h2>
                <ul class="include-list" aria-label="Included prompts">
                    {references.into_iter().map(|reference| view! { <IncludeLink reference/> }).collect_view()}
                </ul>
            </section>
        }
    })
}

/// One include reference: a link to the prompt it names, and how it is pinned.
#[component]
fn IncludeLink(reference: String) -> impl IntoView {
    match IncludeRef::parse(&reference) {
        Ok(target) => {
            let name = target.name.as_str().to_owned();
            let href = prompt_href(&name);
            view! {
                <li>
                    <a href=href class="prompt-link"><code>{name}</code></a>
                    " — " {match &target.pin {
                        None => pin_words(None, None),
                        Some(IncludePin::Version(version)) => pin_words(Some(*version), None),
                        Some(IncludePin::Label(label)) => pin_words(None, Some(label.as_str())),
                    }}
                </li>
            }
            .into_any()
        }
        // The server names the problem at save; here it is shown as written.
        Err(reason) => view! { <li><code>{reference}</code> " — " {reason}</li> }.into_any(),
    }
}

/// The byte offset of the UTF-16 position `units` in `text` (a text input's cursor).
fn byte_offset(text: &str, units: usize) -> usize {
    let mut seen = 0;
    for (offset, c) in text.char_indices() {
        if seen >= units {
            return offset;
        }
        seen += c.len_utf16();
    }
    text.len()
}

/// Find a prompt, choose to follow its latest version, pin one or follow one of its labels,
/// and insert the tag.
#[component]
fn IncludePicker(insert: Callback<String>, own_name: Option<String>) -> impl IntoView {
    let query = RwSignal::new(String::new());
    let chosen = RwSignal::new(None::<PromptSummary>);
    let mode = RwSignal::new(PinMode::Latest);
    let version = RwSignal::new(String::new());
    let label = RwSignal::new(String::new());
    let own = own_name.map(|n| n.to_lowercase());
    let results = LocalResource::new(move || {
        let q = query.get();
        async move {
            let search = PromptQuery { q, sort: "name".to_owned(), ..PromptQuery::default() };
            api::list_prompts(&search, None).await
        }
    });
    let choose = move |prompt: PromptSummary| {
        version.set(prompt.version.to_string());
        label.set(String::new());
        mode.set(PinMode::Latest);
        chosen.set(Some(prompt));
    };
    let tag = Memo::new(move |_| {
        let prompt = chosen.get()?;
        let reference = match mode.get() {
            PinMode::Latest => prompt.name.clone(),
            PinMode::Version => {
                let v =
                    version.get().trim().parse::<u32>().ok().filter(|v| (1..=prompt.version).contains(v))?;
                format!("{}@{v}", prompt.name)
            }
            PinMode::Label => {
                let label = label.get();
                if label.is_empty() {
                    return None;
                }
                format!("{}@{label}", prompt.name)
            }
        };
        Some(format!("{{% include \"{reference}\" %}}"))
    });

    view! {
        <details class="include-picker">
            <summary>"Include another prompt"</summary>
            <div class="field">
                <label for="include-search">"Find a prompt"</label>
                <input id="include-search" type="search" autocomplete="off" placeholder="Name, title or text"
                    aria-controls="include-results" prop:value=move || query.get()
                    on:input=move |ev| query.set(event_target_value(&ev))/>
            </div>
            <Transition fallback=|| view! { <Loading label="Searching…"/> }>
                {move || {
                    results
                        .get()
                        .map(|answer| match answer {
                            Err(failure) => view! { <ErrorAlert failure/> }.into_any(),
                            Ok(list) => {
                                // Chat prompts cannot be included; nor can the prompt itself.
                                let items: Vec<PromptSummary> = list
                                    .items
                                    .into_iter()
                                    .filter(|p| p.kind == PromptKind::Text)
                                    .filter(|p| own.as_deref() != Some(p.name.to_lowercase().as_str()))
                                    .take(PICKER_RESULTS)
                                    .collect();
                                if items.is_empty() {
                                    return view! { <p class="hint" id="include-results">"No prompt to include matches."</p> }.into_any();
                                }
                                view! {
                                    <ul class="include-results" id="include-results" aria-label="Prompts to include">
                                        {items
                                            .into_iter()
                                            .map(|prompt| {
                                                let name = prompt.name.clone();
                                                let is_chosen = {
                                                    let name = name.clone();
                                                    move || chosen.with(|c| c.as_ref().is_some_and(|c| c.name == name))
                                                };
                                                let label = format!("{} (version {})", prompt.title, prompt.version);
                                                view! {
                                                    <li>
                                                        <button type="button" class="button-secondary include-choice"
                                                            data-include=name.clone() aria-pressed=move || is_chosen().to_string()
                                                            on:click=move |_| choose(prompt.clone())>
                                                            <code>{name.clone()}</code> " " {label}
                                                        </button>
                                                    </li>
                                                }
                                            })
                                            .collect_view()}
                                    </ul>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
            {move || chosen.get().map(|prompt| view! { <PinChoice prompt mode version label/> })}
            <div class="form-actions">
                <button type="button" class="button-secondary" id="include-insert"
                    disabled=move || tag.with(Option::is_none)
                    on:click=move |_| {
                        if let Some(tag) = tag.get_untracked() {
                            insert.run(tag);
                        }
                    }>
                    "Insert include"
                </button>
                <code class="hint" aria-live="polite">{move || tag.get()}</code>
            </div>
        </details>
    }
}

/// Follow the chosen prompt's latest version, pin one of its versions, or follow one of its
/// release labels (the version the label points at, wherever it is moved).
#[component]
fn PinChoice(
    prompt: PromptSummary,
    mode: RwSignal<PinMode>,
    version: RwSignal<String>,
    label: RwSignal<String>,
) -> impl IntoView {
    let latest = prompt.version;
    let id = prompt.id;
    let labels = LocalResource::new(move || api::labels(id));
    let radio = move |value: PinMode, id: &'static str, text: &'static str| {
        view! {
            <div class="field-check">
                <input type="radio" name="include-pin" id=id prop:checked=move || mode.get() == value
                    on:change=move |_| mode.set(value)/>
                <label for=id>{text}</label>
            </div>
        }
    };
    view! {
        <fieldset class="choice-group include-pin">
            <legend>{format!("Which version of {}", prompt.name)}</legend>
            {radio(PinMode::Latest, "include-follow", "Follow its latest version (edits to it change this prompt)")}
            {radio(PinMode::Version, "include-pinned", "Pin a version")}
            <div class="field">
                <label for="include-version">{format!("Version (1 to {latest})")}</label>
                <input id="include-version" type="number" min="1" max=latest.to_string() step="1"
                    disabled=move || mode.get() != PinMode::Version
                    prop:value=move || version.get() on:input=move |ev| version.set(event_target_value(&ev))/>
            </div>
            {radio(PinMode::Label, "include-by-label", "Follow a release label (moves of the label change this prompt)")}
            <div class="field">
                <label for="include-label">"Label"</label>
                <select id="include-label" disabled=move || mode.get() != PinMode::Label
                    on:change=move |ev| label.set(event_target_value(&ev))>
                    <option value="" selected=move || label.with(String::is_empty)>"Choose a label"</option>
                    {move || {
                        labels
                            .get()
                            .and_then(Result::ok)
                            .map(|list| {
                                list.items
                                    .into_iter()
                                    .filter(|l| !l.automatic)
                                    .map(|l| {
                                        let text = format!("{} (version {})", l.name, l.version);
                                        view! { <option value=l.name.clone()>{text}</option> }
                                    })
                                    .collect_view()
                            })
                    }}
                </select>
            </div>
        </fieldset>
    }
}

/// The prompts whose current version includes this one.
#[component]
pub fn UsedByPanel(id: PromptId) -> impl IntoView {
    let used_by = LocalResource::new(move || api::used_by(id));
    view! {
        <section class="panel used-by-panel" aria-labelledby="used-by-title">
            <h2 id="used-by-title">"Used by"</h2>
            <Transition fallback=|| view! { <Loading label="Looking for prompts that include this one…"/> }>
                {move || {
                    used_by
                        .get()
                        .map(|answer| match answer {
                            Err(failure) => view! { <ErrorAlert failure/> }.into_any(),
                            Ok(list) if list.items.is_empty() => {
                                view! { <p class="hint">"No prompt you can see includes this one."</p> }.into_any()
                            }
                            Ok(list) => {
                                view! {
                                    <ul class="used-by-list" aria-label="Prompts that include this one">
                                        {list.items.into_iter().map(|item| view! { <UsedByItem item/> }).collect_view()}
                                    </ul>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn UsedByItem(item: UsedBy) -> impl IntoView {
    let UsedBy { prompt, pinned_version, pinned_label } = item;
    view! {
        <li>
            <a href=format!("/prompts/{}", prompt.id) class="prompt-link">{prompt.title}</a>
            " " <code>{prompt.name}</code> " — " {pin_words(pinned_version, pinned_label.as_deref())}
        </li>
    }
}

/// Previews what saving the form would do to the prompts that include this one.
#[component]
pub fn ImpactPanel(
    id: PromptId,
    /// The form as the update it would save, or `None` when it has local problems (marked).
    request: Callback<(), Option<UpdatePromptRequest>>,
) -> impl IntoView {
    let report = RwSignal::new(None::<ImpactReport>);
    let failure = RwSignal::new(None::<ApiFailure>);
    let checking = RwSignal::new(false);
    let check = move |_| {
        let Some(update) = request.run(()) else {
            report.set(None);
            return;
        };
        checking.set(true);
        failure.set(None);
        spawn_local(async move {
            match api::preview_impact(id, &update).await {
                Ok(answer) => report.set(Some(answer)),
                Err(f) => {
                    report.set(None);
                    failure.set(Some(f));
                }
            }
            checking.set(false);
        });
    };
    view! {
        <section class="panel impact-panel" aria-labelledby="impact-title">
            <h2 id="impact-title">"Impact of your edit"</h2>
            <p class="hint" id="impact-hint">
                "Renders every prompt that includes this one, as it is and with your unsaved edit, to show what would change or break. Nothing is saved."
            </p>
            <div class="form-actions">
                <button type="button" class="button-secondary" id="impact-preview" aria-describedby="impact-hint"
                    disabled=move || checking.get() on:click=check>
                    "Preview impact"
                </button>
                <Show when=move || checking.get()>
                    <span class="hint" role="status">"Rendering the prompts that include this one…"</span>
                </Show>
            </div>
            {move || failure.get().map(|failure| view! { <ErrorAlert failure/> })}
            {move || report.get().map(|report| view! { <ImpactTable report/> })}
        </section>
    }
}

fn outcome_words(outcome: ImpactOutcome) -> &'static str {
    match outcome {
        ImpactOutcome::Unchanged => "Unchanged",
        ImpactOutcome::Changed => "Changes",
        ImpactOutcome::Breaks => "Breaks",
        ImpactOutcome::Pinned => "Pinned: not affected",
    }
}

fn outcome_class(outcome: ImpactOutcome) -> &'static str {
    match outcome {
        ImpactOutcome::Unchanged | ImpactOutcome::Pinned => "badge impact-same",
        ImpactOutcome::Changed => "badge impact-changed",
        ImpactOutcome::Breaks => "badge impact-breaks",
    }
}

#[component]
fn ImpactTable(report: ImpactReport) -> impl IntoView {
    if report.items.is_empty() {
        return view! { <p class="hint" role="status">"No prompt you can see includes this one: the edit changes nothing else."</p> }
            .into_any();
    }
    let breaks = report.items.iter().filter(|i| i.outcome == ImpactOutcome::Breaks).count();
    let changes = report.items.iter().filter(|i| i.outcome == ImpactOutcome::Changed).count();
    let summary = format!(
        "{} prompt{} include this one: {breaks} would break, {changes} would change.",
        report.items.len(),
        if report.items.len() == 1 { "" } else { "s" },
    );
    let summary_class = if breaks > 0 { "alert alert-warning" } else { "alert alert-success" };
    view! {
        <p role="status" class=summary_class>{summary}</p>
        <table class="impact-table">
            <caption class="visually-hidden">"Prompts that include this one, and what the edit does to each"</caption>
            <thead>
                <tr><th scope="col">"Prompt"</th><th scope="col">"Outcome"</th><th scope="col">"Details"</th></tr>
            </thead>
            <tbody>
                {report.items.into_iter().map(|item| view! { <ImpactRow item/> }).collect_view()}
            </tbody>
        </table>
        {report.truncated.then(|| view! { <p class="hint">"More prompts include this one than one preview renders; only the nearest are shown."</p> })}
    }
    .into_any()
}

#[component]
fn ImpactRow(item: ImpactItem) -> impl IntoView {
    let ImpactItem { prompt, pinned_version, pinned_label, via, outcome, before, after, problem } = item;
    let through = via.map(|v| format!(" (through {v})"));
    let details = match outcome {
        ImpactOutcome::Pinned => {
            view! { <span>{pin_words(pinned_version, pinned_label.as_deref())}</span> }.into_any()
        }
        ImpactOutcome::Breaks => {
            let reason = problem.map(|p| {
                let fields: Vec<String> =
                    p.errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
                if fields.is_empty() { p.detail.unwrap_or(p.title) } else { fields.join("; ") }
            });
            view! { <span class="impact-problem">{reason}</span> }.into_any()
        }
        ImpactOutcome::Changed => view! {
            <details>
                <summary>"Before and after"</summary>
                <h3 class="impact-label">"Now"</h3>
                <pre class="render-output">{before}</pre>
                <h3 class="impact-label">"After your edit"</h3>
                <pre class="render-output">{after}</pre>
            </details>
        }
        .into_any(),
        ImpactOutcome::Unchanged => view! { <span>"Renders the same."</span> }.into_any(),
    };
    let href = format!("/prompts/{}", prompt.id);
    let key = prompt.name.clone();
    view! {
        <tr data-impact=key>
            <td>
                <a href=href class="prompt-link">{prompt.title}</a>
                " " <code>{prompt.name}</code> {through}
            </td>
            <td><span class=outcome_class(outcome)>{outcome_words(outcome)}</span></td>
            <td>{details}</td>
        </tr>
    }
}
