//! A prompt's release labels, on its history page: where each label points (badges on the
//! versions), moving a label to a version ("promote"), rolling a label back, removing it, and
//! the history of every move. A label can split its traffic between versions by weight (an A/B
//! test), and the fetches each label served per version are counted. Protected labels (the tenant's release policy) are marked; moving
//! one may answer with a request for another administrator's approval, and the prompt's requests
//! waiting are listed.

use domain::PromptId;
use domain::release::{ApprovalStatus, LabelName, MAX_SPLIT_ARMS, SplitArm};
use domain::wire::{
    ApprovalList, ApprovalView, FieldError, LabelList, LabelMoveList, LabelMoveView, LabelReasonRequest,
    LabelStats, LabelView, MoveLabelRequest, ReleasePolicyView,
};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiFailure, ApiResult, LabelChange};
use crate::auth::use_auth;
use crate::pages::approvals::{PendingCount, change_words, pending_count};
use crate::ui::{ErrorAlert, FieldMessage, Loading, Time, invalid, non_empty};

/// Labels most teams use, offered while typing.
const COMMON_LABELS: [&str; 3] = ["production", "staging", "development"];

/// The periods the fetch counts can cover, in days (the server keeps up to 90).
const STATS_PERIODS: [u32; 2] = [7, 30];

/// Each arm's share of a split's traffic, in percent (its weight over the weights' sum).
pub fn split_shares(arms: &[SplitArm]) -> Vec<(u32, f64)> {
    let total: u64 = arms.iter().map(|a| u64::from(a.weight)).sum();
    arms.iter()
        .map(|a| (a.version, if total == 0 { 0.0 } else { f64::from(a.weight) * 100.0 / total as f64 }))
        .collect()
}

/// A split in words: "version 2 (70%), version 3 (30%)".
pub fn split_words(arms: &[SplitArm]) -> String {
    split_shares(arms)
        .into_iter()
        .map(|(version, share)| format!("version {version} ({})", percent(share)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A share in percent, whole unless it is small.
fn percent(share: f64) -> String {
    if share > 0.0 && share < 10.0 && share.fract() != 0.0 {
        format!("{share:.1}%")
    } else {
        format!("{share:.0}%")
    }
}

/// The labels pointing at `version`, for its badges.
pub fn labels_at(labels: &LabelList, version: u32) -> Vec<String> {
    labels.items.iter().filter(|l| l.version == version).map(|l| l.name.clone()).collect()
}

/// The tenant's protected label names; none while the policy is unknown (or unreadable: the
/// server still refuses what it protects).
pub fn protected_names(policy: LocalResource<ApiResult<ReleasePolicyView>>) -> Vec<String> {
    policy.get().and_then(Result::ok).map(|p| p.protected_labels).unwrap_or_default()
}

/// The label badges of one version; the `protected` ones carry a lock (and say so to screen
/// readers).
#[component]
pub fn LabelBadges(names: Vec<String>, #[prop(optional)] protected: Vec<String>) -> impl IntoView {
    names
        .into_iter()
        .map(|name| {
            let class = if name == domain::release::LATEST {
                "badge badge-label badge-latest"
            } else {
                "badge badge-label"
            };
            let key = name.clone();
            let locked = protected.contains(&name);
            view! {
                <span class=class data-label=key data-protected=locked.then_some("true")>
                    {locked.then(|| view! {
                        <svg class="icon-lock" aria-hidden="true" focusable="false" viewBox="0 0 16 16" width="11" height="11">
                            <path fill="currentColor" d="M4 7V5a4 4 0 0 1 8 0v2h1v8H3V7h1zm2 0h4V5a2 2 0 0 0-4 0v2z"/>
                        </svg>
                    })}
                    {name}
                    {locked.then(|| view! { <span class="visually-hidden">" (protected)"</span> })}
                </span>
            }
        })
        .collect_view()
}

fn moved_words(m: &LabelMoveView) -> String {
    if let Some(arms) = &m.split {
        return format!("split between {}", split_words(arms));
    }
    match (m.from_version, m.to_version) {
        (None, Some(to)) => format!("set to version {to}"),
        (Some(from), Some(to)) => format!("moved from version {from} to {to}"),
        (Some(from), None) => format!("removed (was version {from})"),
        (None, None) => "unchanged".to_owned(),
    }
}

/// What a label action came to: done (said in words), or asked for approval.
#[derive(Debug, Clone)]
pub enum Outcome {
    Done(String),
    Requested(Box<ApprovalView>),
}

impl Outcome {
    fn of<T>(change: LabelChange<T>, words: impl FnOnce(T) -> String) -> Self {
        match change {
            LabelChange::Done(done) => Outcome::Done(words(done)),
            LabelChange::Requested(approval) => Outcome::Requested(approval),
        }
    }
}

/// What a label action updates: its progress, its outcome, and the lists it changes.
#[derive(Clone, Copy)]
struct Action {
    busy: RwSignal<bool>,
    failure: RwSignal<Option<ApiFailure>>,
    done: RwSignal<Option<String>>,
    requested: RwSignal<Option<ApprovalView>>,
    labels: LocalResource<ApiResult<LabelList>>,
    history: LocalResource<ApiResult<LabelMoveList>>,
    pending: LocalResource<ApiResult<ApprovalList>>,
    /// The navigation's count of requests waiting.
    counter: Option<PendingCount>,
}

impl Action {
    fn finished(self, outcome: Outcome) {
        match outcome {
            Outcome::Done(message) => {
                self.done.set(Some(message));
                self.requested.set(None);
                self.labels.refetch();
                self.history.refetch();
            }
            Outcome::Requested(approval) => {
                self.done.set(None);
                self.requested.set(Some(*approval));
                if let Some(counter) = self.counter {
                    counter.changed();
                }
            }
        }
        self.pending.refetch();
    }

    /// Runs `work`, which answers what it did.
    fn run(self, work: impl std::future::Future<Output = Result<Outcome, ApiFailure>> + 'static) {
        self.busy.set(true);
        self.failure.set(None);
        self.done.set(None);
        self.requested.set(None);
        spawn_local(async move {
            match work.await {
                Ok(outcome) => self.finished(outcome),
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
    /// The tenant's release policy: which labels are protected.
    policy: LocalResource<ApiResult<ReleasePolicyView>>,
    /// The versions the prompt has (newest first), to promote one.
    versions: Signal<Vec<u32>>,
    /// Whether the person may move this prompt's labels.
    may_move: Signal<bool>,
) -> impl IntoView {
    let auth = use_auth();
    let history = LocalResource::new(move || api::label_history(id));
    let pending = LocalResource::new(move || api::approvals(Some(ApprovalStatus::Pending), Some(id), None));
    let failure = RwSignal::new(None::<ApiFailure>);
    let done = RwSignal::new(None::<String>);
    let requested = RwSignal::new(None::<ApprovalView>);
    let busy = RwSignal::new(false);
    let action =
        Action { busy, failure, done, requested, labels, history, pending, counter: pending_count() };
    let protected = Signal::derive(move || protected_names(policy));
    let require_approval =
        Signal::derive(move || policy.get().and_then(Result::ok).is_some_and(|p| p.require_approval));
    // A protected label moves only for administrators, unless moving it makes a request for
    // approval, which anyone who may move labels may ask (the server says so too).
    let may_move_label = move |name: &str| {
        may_move.get()
            && (auth.is_admin() || require_approval.get() || !protected.with(|p| p.iter().any(|n| n == name)))
    };
    let roll_back = move |name: String| {
        action.run(async move {
            let change = api::roll_back_label(id, &name, &LabelReasonRequest::default()).await?;
            Ok(Outcome::of(change, |moved| format!("Rolled back: {} {}.", moved.label, moved_words(&moved))))
        })
    };
    let remove = move |name: String| {
        action.run(async move {
            let change = api::remove_label(id, &name, &LabelReasonRequest::default()).await?;
            Ok(Outcome::of(change, |()| format!("Removed the label {name}.")))
        })
    };
    let on_moved = Callback::new(move |outcome: Outcome| action.finished(outcome));

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
            {move || requested.get().map(|approval| view! { <RequestedNotice approval/> })}
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
                                        {list
                                            .items
                                            .into_iter()
                                            .map(|label| {
                                                let name = label.name.clone();
                                                let may_move = Signal::derive(move || may_move_label(&name));
                                                view! { <LabelRow label protected may_move busy roll_back remove/> }
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                            }
                            .into_any(),
                        })
                }}
            </Transition>
            <LabelStatsPanel id/>
            <Transition fallback=|| ()>
                {move || pending.get().map(|answer| match answer {
                    Err(failure) => view! { <ErrorAlert failure/> }.into_any(),
                    Ok(list) if list.items.is_empty() => ().into_any(),
                    Ok(list) => view! { <PendingList items=list.items/> }.into_any(),
                })}
            </Transition>
            <Show when=move || may_move.get()>
                <PromoteForm id versions labels protected require_approval busy on_moved/>
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

/// Said when a move waits for approval, with the way to the requests.
#[component]
fn RequestedNotice(approval: ApprovalView) -> impl IntoView {
    let what = format!("{}: {}", approval.label, change_words(&approval));
    view! {
        <div class="alert alert-info" role="status" data-testid="approval-requested" data-approval=approval.id.to_string()>
            <p>
                <strong>"Approval requested: waiting for another administrator."</strong>
                " " {what} ". "
                <a href="/approvals">"See the requests waiting"</a>
            </p>
        </div>
    }
}

/// This prompt's requests waiting for a decision.
#[component]
fn PendingList(items: Vec<ApprovalView>) -> impl IntoView {
    view! {
        <h3 id="label-pending-title">"Waiting for approval"</h3>
        <ul class="label-pending" aria-labelledby="label-pending-title">
            {items
                .into_iter()
                .map(|a| {
                    let by = a.requested_by.as_ref().map(|p| format!(" · asked by {}", p.name));
                    view! {
                        <li data-approval=a.id.to_string() data-status=a.status.as_str()>
                            <strong>{a.label.clone()}</strong> " " {change_words(&a)} {by}
                            " · expires " <Time at=a.expires_at/>
                            {a.reason.clone().map(|r| view! { <span class="hint">{format!(" · “{r}”")}</span> })}
                        </li>
                    }
                })
                .collect_view()}
        </ul>
        <p class="hint"><a href="/approvals">"Approve or deny on the Approvals page"</a></p>
    }
}

#[component]
fn LabelRow(
    label: LabelView,
    protected: Signal<Vec<String>>,
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
    let version = match &label.split {
        Some(arms) => {
            let data =
                arms.iter().map(|a| format!("{}:{}", a.version, a.weight)).collect::<Vec<_>>().join(",");
            view! { <span class="split-summary" data-split=data>{format!("split: {}", split_words(arms))}</span> }
                .into_any()
        }
        None => label.version.into_any(),
    };
    let row_key = name.clone();
    view! {
        <tr data-label-row=row_key>
            <th scope="row">{move || view! { <LabelBadges names=vec![name.clone()] protected=protected.get()/> }}</th>
            <td>{version}</td>
            <td>{moved}</td>
            <td class="row-actions">{actions}</td>
        </tr>
    }
}

#[component]
fn MoveItem(m: LabelMoveView) -> impl IntoView {
    let what = moved_words(&m);
    let by = m.moved_by.as_ref().map(|p| format!(" by {}", p.name));
    let approved = m.approved_by.as_ref().map(|p| format!(", approved by {}", p.name));
    view! {
        <li data-move=m.label.clone()>
            <strong>{m.label.clone()}</strong> " " {what}
            {m.rollback_of.is_some().then_some(" (a rollback)")}
            " · " <Time at=m.moved_at/> {by} {approved}
            {m.reason.map(|r| view! { <span class="hint">{format!(" · “{r}”")}</span> })}
        </li>
    }
}

/// One version of a split being written, and its weight as typed.
#[derive(Debug, Clone, Copy)]
struct ArmDraft {
    key: usize,
    version: RwSignal<String>,
    weight: RwSignal<String>,
}

impl ArmDraft {
    fn new(key: usize, version: u32, weight: u32) -> Self {
        Self { key, version: RwSignal::new(version.to_string()), weight: RwSignal::new(weight.to_string()) }
    }

    /// The arm, if its version and weight are numbers.
    fn arm(&self) -> Option<SplitArm> {
        Some(SplitArm {
            version: self.version.get().parse().ok()?,
            weight: self.weight.get().trim().parse().ok()?,
        })
    }
}

/// Move a label (new or existing) to a version, or split it between versions.
#[component]
fn PromoteForm(
    id: PromptId,
    versions: Signal<Vec<u32>>,
    labels: LocalResource<ApiResult<LabelList>>,
    protected: Signal<Vec<String>>,
    require_approval: Signal<bool>,
    busy: RwSignal<bool>,
    on_moved: Callback<Outcome>,
) -> impl IntoView {
    let auth = use_auth();
    let label = RwSignal::new("production".to_owned());
    let version = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let failure = RwSignal::new(None::<ApiFailure>);
    let splitting = RwSignal::new(false);
    let arms = RwSignal::new(Vec::<ArmDraft>::new());
    let next_arm = StoredValue::new(0usize);
    let new_arm = move |version: u32, weight: u32| {
        let key = next_arm.get_value();
        next_arm.set_value(key + 1);
        ArmDraft::new(key, version, weight)
    };
    // Splitting starts as an even test of the two newest versions.
    let toggle_split = move |ev: leptos::ev::Event| {
        let on = event_target_checked(&ev);
        splitting.set(on);
        if on && arms.with_untracked(Vec::is_empty) {
            let newest: Vec<u32> = versions.with_untracked(|v| v.iter().take(2).copied().collect());
            arms.set(newest.into_iter().map(|v| new_arm(v, 50)).collect());
        }
    };
    let add_arm = move |_| {
        let taken: Vec<String> =
            arms.with_untracked(|a| a.iter().map(|d| d.version.get_untracked()).collect());
        let free = versions.with_untracked(|v| v.iter().copied().find(|n| !taken.contains(&n.to_string())));
        let version = free.or_else(|| versions.with_untracked(|v| v.first().copied())).unwrap_or(1);
        arms.update(|a| a.push(new_arm(version, 50)));
    };
    let total_weight = move || {
        arms.with(|a| a.iter().filter_map(ArmDraft::arm).map(|arm| u64::from(arm.weight)).sum::<u64>())
    };
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
        let (version, split) = if splitting.get_untracked() {
            let drafts = arms.get_untracked();
            let parsed: Option<Vec<SplitArm>> = drafts.iter().map(ArmDraft::arm).collect();
            let Some(split) = parsed else {
                let reason = "each version of the split needs a whole-number weight from 1 to 10,000";
                failure.set(Some(ApiFailure::invalid(vec![FieldError::new("split", reason)])));
                return;
            };
            (None, Some(split))
        } else {
            let Ok(number) = version.get_untracked().parse::<u32>() else { return };
            (Some(number), None)
        };
        let request = MoveLabelRequest { version, split, reason: non_empty(&reason.get_untracked()) };
        busy.set(true);
        failure.set(None);
        spawn_local(async move {
            match api::move_label(id, name.as_str(), &request).await {
                Ok(change) => {
                    reason.set(String::new());
                    on_moved.run(Outcome::of(change, |moved| match &moved.split {
                        Some(arms) => {
                            format!("{} now splits its traffic: {}.", moved.name, split_words(arms))
                        }
                        None => format!("{} now names version {}.", moved.name, moved.version),
                    }));
                }
                Err(f) => failure.set(Some(f)),
            }
            busy.set(false);
        });
    };
    // What moving the typed label takes, when it is protected.
    let protection = move || {
        let typed = label.get().trim().to_ascii_lowercase();
        protected.with(|p| p.contains(&typed)).then(|| {
            if require_approval.get() {
                let who = if auth.is_admin() { "another administrator" } else { "an administrator" };
                format!("{typed} is protected: moving it waits for {who}'s approval.")
            } else if auth.is_admin() {
                format!("{typed} is protected: only administrators can move it.")
            } else {
                format!("{typed} is protected: only an administrator can move it.")
            }
        })
    };
    view! {
        <form class="promote-form" on:submit=submit aria-labelledby="promote-title">
            <h3 id="promote-title">"Move a label"</h3>
            {move || failure.get().map(|failure| view! { <ErrorAlert failure/> })}
            <div class="form-grid">
                <div class="field">
                    <label for="promote-label">"Label"</label>
                    <input id="promote-label" list="label-options" required maxlength="64" autocomplete="off"
                        aria-describedby="promote-label-hint promote-label-error" aria-invalid=invalid(failure, "label") bind:value=label/>
                    <datalist id="label-options">
                        {move || suggestions().into_iter().map(|n| view! { <option value=n/> }).collect_view()}
                    </datalist>
                    <p class="hint" id="promote-label-hint" data-testid="promote-label-protected">{protection}</p>
                    <FieldMessage failure field="label" id="promote-label-error"/>
                </div>
                <Show when=move || !splitting.get()>
                    <div class="field">
                        <label for="promote-version">"Version"</label>
                        <select id="promote-version" aria-describedby="promote-version-error"
                            prop:value=move || version.get() on:change=move |ev| version.set(event_target_value(&ev))>
                            {move || versions.get().into_iter().map(|v| view! { <option value=v.to_string()>{format!("Version {v}")}</option> }).collect_view()}
                        </select>
                        <FieldMessage failure field="version" id="promote-version-error"/>
                    </div>
                </Show>
                <div class="field">
                    <label for="promote-reason">"Why (optional)"</label>
                    <input id="promote-reason" maxlength="500" placeholder="e.g. tested on staging"
                        aria-describedby="promote-reason-error" aria-invalid=invalid(failure, "reason") bind:value=reason/>
                    <FieldMessage failure field="reason" id="promote-reason-error"/>
                </div>
            </div>
            <div class="field field-check">
                <input type="checkbox" id="promote-split" prop:checked=move || splitting.get() on:change=toggle_split
                    disabled=move || versions.with(|v| v.len() < 2) aria-describedby="promote-split-hint"/>
                <label for="promote-split">"Split the traffic between versions (an A/B test)"</label>
                <p class="hint" id="promote-split-hint">
                    {move || if versions.with(|v| v.len() < 2) {
                        "A split needs two versions or more."
                    } else {
                        "Each caller's key (?key=user-42) gets the same version for as long as the split stands."
                    }}
                </p>
            </div>
            <Show when=move || splitting.get()>
                <fieldset class="split-arms" aria-describedby="promote-split-error">
                    <legend>"Versions and weights"</legend>
                    <For each=move || arms.get() key=|arm| arm.key let:arm>
                        <div class="split-arm" data-arm=arm.key>
                            <label class="visually-hidden" for=format!("split-version-{}", arm.key)>"Version"</label>
                            <select class="split-version" id=format!("split-version-{}", arm.key)
                                prop:value=move || arm.version.get() on:change=move |ev| arm.version.set(event_target_value(&ev))>
                                {move || versions.get().into_iter().map(|v| view! { <option value=v.to_string()>{format!("Version {v}")}</option> }).collect_view()}
                            </select>
                            <label class="visually-hidden" for=format!("split-weight-{}", arm.key)>"Weight"</label>
                            <input type="number" class="split-weight" id=format!("split-weight-{}", arm.key)
                                min="1" max="10000" step="1" required bind:value=arm.weight/>
                            <span class="split-share" aria-live="polite">{move || {
                                let total = total_weight();
                                match arm.arm() {
                                    Some(a) if total > 0 => percent(f64::from(a.weight) * 100.0 / total as f64),
                                    _ => "–".to_owned(),
                                }
                            }}</span>
                            <button type="button" class="button-secondary button-small" aria-label="Remove this version from the split"
                                disabled=move || arms.with(|a| a.len() <= 2)
                                on:click=move |_| arms.update(|a| a.retain(|d| d.key != arm.key))>
                                "Remove"
                            </button>
                        </div>
                    </For>
                    <button type="button" class="button-secondary button-small" id="split-add" on:click=add_arm
                        disabled=move || arms.with(|a| a.len() >= MAX_SPLIT_ARMS)>
                        "Add a version"
                    </button>
                    <FieldMessage failure field="split" id="promote-split-error"/>
                </fieldset>
            </Show>
            <div class="form-actions">
                <button type="submit" class="button-primary" id="promote-submit" disabled=move || busy.get()>"Move label"</button>
            </div>
        </form>
    }
}

/// How often each label served each version, over the last 7 or 30 days.
#[component]
fn LabelStatsPanel(id: PromptId) -> impl IntoView {
    let days = RwSignal::new(STATS_PERIODS[0]);
    let stats = LocalResource::new(move || api::label_stats(id, days.get()));
    view! {
        <div class="label-stats">
            <h3 id="label-stats-title">"Fetches by label"</h3>
            <div class="toolbar">
                <label for="label-stats-days">"Period"</label>
                <select id="label-stats-days" prop:value=move || days.get().to_string()
                    on:change=move |ev| {
                        if let Ok(n) = event_target_value(&ev).parse() {
                            days.set(n);
                        }
                    }>
                    {STATS_PERIODS.map(|n| view! { <option value=n.to_string()>{format!("Last {n} days")}</option> })}
                </select>
                <button type="button" class="button-secondary button-small" id="label-stats-refresh" on:click=move |_| stats.refetch()>
                    "Refresh"
                </button>
            </div>
            <Transition fallback=|| view! { <Loading label="Loading the fetch counts…"/> }>
                {move || stats.get().map(|answer| match answer {
                    Err(failure) => view! { <ErrorAlert failure/> }.into_any(),
                    Ok(stats) if stats.items.is_empty() => view! {
                        <p class="hint" id="label-stats-empty">"No fetch by a label in this period."</p>
                    }.into_any(),
                    Ok(stats) => view! { <StatsTable stats/> }.into_any(),
                })}
            </Transition>
        </div>
    }
}

/// Each label's fetches per version served and its share of the label's fetches.
#[component]
fn StatsTable(stats: LabelStats) -> impl IntoView {
    let label_totals =
        |label: &str| -> u64 { stats.items.iter().filter(|i| i.label == label).map(|i| i.fetches).sum() };
    let rows: Vec<_> = stats
        .items
        .iter()
        .map(|item| {
            let total = label_totals(&item.label);
            let share = if total == 0 { 0.0 } else { item.fetches as f64 * 100.0 / total as f64 };
            (item.label.clone(), item.version, item.fetches, percent(share))
        })
        .collect();
    view! {
        <table class="label-stats-table" aria-labelledby="label-stats-title">
            <caption class="hint">{format!("Since {} (UTC)", stats.from)}</caption>
            <thead>
                <tr>
                    <th scope="col">"Label"</th>
                    <th scope="col">"Version served"</th>
                    <th scope="col">"Fetches"</th>
                    <th scope="col">"Share of the label"</th>
                </tr>
            </thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|(label, version, fetches, share)| {
                        let key = label.clone();
                        view! {
                            <tr class="label-stats-row" data-label=key data-version=version.to_string() data-fetches=fetches.to_string()>
                                <th scope="row">{label}</th>
                                <td>{version}</td>
                                <td>{fetches}</td>
                                <td>{share}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(version: u32, weight: u32) -> SplitArm {
        SplitArm { version, weight }
    }

    #[test]
    fn a_split_says_each_share() {
        assert_eq!(split_words(&[arm(2, 70), arm(3, 30)]), "version 2 (70%), version 3 (30%)");
        assert_eq!(split_words(&[arm(1, 1), arm(2, 2)]), "version 1 (33%), version 2 (67%)");
        assert_eq!(split_words(&[arm(1, 1), arm(2, 19)]), "version 1 (5%), version 2 (95%)");
        assert_eq!(split_words(&[arm(1, 1), arm(2, 39)]), "version 1 (2.5%), version 2 (98%)");
    }
}
