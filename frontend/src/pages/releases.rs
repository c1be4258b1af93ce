//! A prompt's release labels, on its history page: where each label points (badges on the
//! versions), moving a label to a version ("promote"), rolling a label back, removing it, and
//! the history of every move.

use domain::PromptId;
use domain::release::LabelName;
use domain::wire::{
    FieldError, LabelList, LabelMoveList, LabelMoveView, LabelReasonRequest, LabelView, MoveLabelRequest,
};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiFailure, ApiResult};
use crate::ui::{ErrorAlert, FieldMessage, Loading, Time, invalid, non_empty};

/// Labels most teams use, offered while typing.
const COMMON_LABELS: [&str; 3] = ["production", "staging", "development"];

/// The labels pointing at `version`, for its badges.
pub fn labels_at(labels: &LabelList, version: u32) -> Vec<String> {
    labels.items.iter().filter(|l| l.version == version).map(|l| l.name.clone()).collect()
}

/// The label badges of one version.
#[component]
pub fn LabelBadges(names: Vec<String>) -> impl IntoView {
    names
        .into_iter()
        .map(|name| {
            let class = if name == domain::release::LATEST {
                "badge badge-label badge-latest"
            } else {
                "badge badge-label"
            };
            let key = name.clone();
            view! { <span class=class data-label=key>{name}</span> }
        })
        .collect_view()
}

fn moved_words(m: &LabelMoveView) -> String {
    match (m.from_version, m.to_version) {
        (None, Some(to)) => format!("set to version {to}"),
        (Some(from), Some(to)) => format!("moved from version {from} to {to}"),
        (Some(from), None) => format!("removed (was version {from})"),
        (None, None) => "unchanged".to_owned(),
    }
}

/// What a label action updates: its progress, its outcome, and the lists it changes.
#[derive(Clone, Copy)]
struct Action {
    busy: RwSignal<bool>,
    failure: RwSignal<Option<ApiFailure>>,
    done: RwSignal<Option<String>>,
    labels: LocalResource<ApiResult<LabelList>>,
    history: LocalResource<ApiResult<LabelMoveList>>,
}

impl Action {
    fn succeeded(self, message: String) {
        self.done.set(Some(message));
        self.labels.refetch();
        self.history.refetch();
    }

    /// Runs `work`, which answers what it did in words.
    fn run(self, work: impl std::future::Future<Output = Result<String, ApiFailure>> + 'static) {
        self.busy.set(true);
        self.failure.set(None);
        self.done.set(None);
        spawn_local(async move {
            match work.await {
                Ok(message) => self.succeeded(message),
                Err(f) => self.failure.set(Some(f)),
            }
            self.busy.set(false);
        });
    }
}

/// The labels with their actions, the promote form and the history of moves.
#[component]
pub fn LabelsPanel(
    id: PromptId,
    labels: LocalResource<ApiResult<LabelList>>,
    /// The versions the prompt has (newest first), to promote one.
    versions: Signal<Vec<u32>>,
    /// Whether the person may move this prompt's labels.
    may_move: Signal<bool>,
) -> impl IntoView {
    let history = LocalResource::new(move || api::label_history(id));
    let failure = RwSignal::new(None::<ApiFailure>);
    let done = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let action = Action { busy, failure, done, labels, history };
    let roll_back = move |name: String| {
        action.run(async move {
            let moved = api::roll_back_label(id, &name, &LabelReasonRequest::default()).await?;
            Ok(format!("Rolled back: {} {}.", moved.label, moved_words(&moved)))
        })
    };
    let remove = move |name: String| {
        action.run(async move {
            api::remove_label(id, &name, &LabelReasonRequest::default()).await?;
            Ok(format!("Removed the label {name}."))
        })
    };
    let on_moved = Callback::new(move |message: String| action.succeeded(message));

    view! {
        <section class="panel labels-panel" aria-labelledby="labels-title">
            <h2 id="labels-title">"Labels"</h2>
            <p class="hint">
                "Applications fetch a label's version with "
                <code>"GET /api/v1/prompts/{name}?label=production"</code>
                ". " <code>"latest"</code> " always names the newest version."
            </p>
            {move || failure.get().map(|failure| view! { <ErrorAlert failure/> })}
            {move || done.get().map(|s| view! { <p class="alert alert-success" role="status">{s}</p> })}
            <Transition fallback=|| view! { <Loading label="Loading labels…"/> }>
                {move || {
                    labels
                        .get()
                        .map(|answer| match answer {
                            Err(failure) => view! { <ErrorAlert failure/> }.into_any(),
                            Ok(list) => view! {
                                <table class="labels">
                                    <caption class="visually-hidden">"Labels and the versions they name"</caption>
                                    <thead>
                                        <tr>
                                            <th scope="col">"Label"</th>
                                            <th scope="col">"Version"</th>
                                            <th scope="col">"Moved"</th>
                                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {list.items.into_iter().map(|label| view! { <LabelRow label may_move busy roll_back remove/> }).collect_view()}
                                    </tbody>
                                </table>
                            }
                            .into_any(),
                        })
                }}
            </Transition>
            <Show when=move || may_move.get()>
                <PromoteForm id versions labels busy on_moved/>
            </Show>
            <h3 id="label-history-title">"Label history"</h3>
            <Transition fallback=|| view! { <Loading label="Loading the label history…"/> }>
                {move || {
                    history
                        .get()
                        .map(|answer| match answer {
                            Err(failure) => view! { <ErrorAlert failure/> }.into_any(),
                            Ok(list) if list.items.is_empty() => view! { <p class="hint">"No label has been moved yet."</p> }.into_any(),
                            Ok(list) => view! {
                                <ol class="label-history" aria-labelledby="label-history-title">
                                    {list.items.into_iter().map(|m| view! { <MoveItem m/> }).collect_view()}
                                </ol>
                            }
                            .into_any(),
                        })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn LabelRow(
    label: LabelView,
    may_move: Signal<bool>,
    busy: RwSignal<bool>,
    roll_back: impl Fn(String) + Copy + Send + Sync + 'static,
    remove: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let name = label.name.clone();
    let moved = match (&label.moved_by, label.moved_at) {
        _ if label.automatic => view! { <span class="hint">"follows the newest version"</span> }.into_any(),
        (by, Some(at)) => view! {
            <span><Time at/> {by.as_ref().map(|p| format!(" by {}", p.name))}</span>
        }
        .into_any(),
        (_, None) => ().into_any(),
    };
    let actions = (!label.automatic).then(|| {
        let (back, gone) = (name.clone(), name.clone());
        view! {
            <Show when=move || may_move.get()>
                <button type="button" class="button-secondary button-small" aria-label=format!("Roll back {back}")
                    id=format!("label-{back}-rollback") disabled=move || busy.get() on:click={
                        let back = back.clone();
                        move |_| roll_back(back.clone())
                    }>
                    "Roll back"
                </button>
                <button type="button" class="button-secondary button-small" aria-label=format!("Remove {gone}")
                    id=format!("label-{gone}-remove") disabled=move || busy.get() on:click={
                        let gone = gone.clone();
                        move |_| remove(gone.clone())
                    }>
                    "Remove"
                </button>
            </Show>
        }
    });
    let row_key = name.clone();
    view! {
        <tr data-label-row=row_key>
            <th scope="row"><LabelBadges names=vec![name]/></th>
            <td>{label.version}</td>
            <td>{moved}</td>
            <td class="row-actions">{actions}</td>
        </tr>
    }
}

#[component]
fn MoveItem(m: LabelMoveView) -> impl IntoView {
    let what = moved_words(&m);
    let by = m.moved_by.as_ref().map(|p| format!(" by {}", p.name));
    view! {
        <li data-move=m.label.clone()>
            <strong>{m.label.clone()}</strong> " " {what}
            {m.rollback_of.is_some().then_some(" (a rollback)")}
            " · " <Time at=m.moved_at/> {by}
            {m.reason.map(|r| view! { <span class="hint">{format!(" · “{r}”")}</span> })}
        </li>
    }
}

/// Move a label (new or existing) to a version.
#[component]
fn PromoteForm(
    id: PromptId,
    versions: Signal<Vec<u32>>,
    labels: LocalResource<ApiResult<LabelList>>,
    busy: RwSignal<bool>,
    on_moved: Callback<String>,
) -> impl IntoView {
    let label = RwSignal::new("production".to_owned());
    let version = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let failure = RwSignal::new(None::<ApiFailure>);
    Effect::new(move || {
        if version.with_untracked(String::is_empty)
            && let Some(newest) = versions.with(|v| v.first().copied())
        {
            version.set(newest.to_string());
        }
    });
    let suggestions = move || {
        let mut names: Vec<String> = COMMON_LABELS.iter().map(|s| (*s).to_owned()).collect();
        if let Some(Ok(list)) = labels.get() {
            names.extend(list.items.into_iter().filter(|l| !l.automatic).map(|l| l.name));
        }
        names.sort();
        names.dedup();
        names
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let name = match LabelName::parse_movable(&label.get_untracked()) {
            Ok(name) => name,
            Err(reason) => {
                failure.set(Some(ApiFailure::invalid(vec![FieldError::new("label", reason)])));
                return;
            }
        };
        let Ok(number) = version.get_untracked().parse::<u32>() else { return };
        let request = MoveLabelRequest { version: number, reason: non_empty(&reason.get_untracked()) };
        busy.set(true);
        failure.set(None);
        spawn_local(async move {
            match api::move_label(id, name.as_str(), &request).await {
                Ok(moved) => {
                    reason.set(String::new());
                    on_moved.run(format!("{} now names version {}.", moved.name, moved.version));
                }
                Err(f) => failure.set(Some(f)),
            }
            busy.set(false);
        });
    };
    view! {
        <form class="promote-form" on:submit=submit aria-labelledby="promote-title">
            <h3 id="promote-title">"Move a label"</h3>
            {move || failure.get().map(|failure| view! { <ErrorAlert failure/> })}
            <div class="form-grid">
                <div class="field">
                    <label for="promote-label">"Label"</label>
                    <input id="promote-label" list="label-options" required maxlength="64" autocomplete="off"
                        aria-describedby="promote-label-error" aria-invalid=invalid(failure, "label") bind:value=label/>
                    <datalist id="label-options">
                        {move || suggestions().into_iter().map(|n| view! { <option value=n/> }).collect_view()}
                    </datalist>
                    <FieldMessage failure field="label" id="promote-label-error"/>
                </div>
                <div class="field">
                    <label for="promote-version">"Version"</label>
                    <select id="promote-version" aria-describedby="promote-version-error"
                        prop:value=move || version.get() on:change=move |ev| version.set(event_target_value(&ev))>
                        {move || versions.get().into_iter().map(|v| view! { <option value=v.to_string()>{format!("Version {v}")}</option> }).collect_view()}
                    </select>
                    <FieldMessage failure field="version" id="promote-version-error"/>
                </div>
                <div class="field">
                    <label for="promote-reason">"Why (optional)"</label>
                    <input id="promote-reason" maxlength="500" placeholder="e.g. tested on staging"
                        aria-describedby="promote-reason-error" aria-invalid=invalid(failure, "reason") bind:value=reason/>
                    <FieldMessage failure field="reason" id="promote-reason-error"/>
                </div>
            </div>
            <div class="form-actions">
                <button type="submit" class="button-primary" id="promote-submit" disabled=move || busy.get()>"Move label"</button>
            </div>
        </form>
    }
}
