//! Requests to move protected release labels (`/approvals`): the ones waiting, which an
//! administrator other than the person who asked approves or denies (with a comment) and the
//! person who asked may cancel, and below them the decided ones. The main navigation shows how
//! many wait ([`PendingCount`]).

use domain::release::ApprovalStatus;
use domain::wire::ApprovalView;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiFailure, ApiResult, Decision};
use crate::auth::use_auth;
use crate::pages::releases::LabelBadges;
use crate::ui::{ErrorAlert, FailureAlert, Loading, Time, non_empty, set_title};

/// How many requests wait, for the main navigation; fetched when someone signs in and again
/// whenever this app changed a request or made one ([`PendingCount::changed`]).
#[derive(Clone, Copy)]
pub struct PendingCount {
    changes: RwSignal<u32>,
    count: LocalResource<ApiResult<(usize, bool)>>,
}

impl PendingCount {
    /// Creates it for the signed-in part of the app and provides it as context.
    pub fn provide() -> Self {
        let changes = RwSignal::new(0u32);
        let count = LocalResource::new(move || {
            changes.track();
            async move {
                let list = api::approvals(Some(ApprovalStatus::Pending), None, None).await?;
                Ok((list.items.len(), list.next_cursor.is_some()))
            }
        });
        let this = Self { changes, count };
        provide_context(this);
        this
    }

    /// Tells the count (and whoever shows requests) that a request was made or decided.
    pub fn changed(self) {
        self.changes.update(|n| *n = n.wrapping_add(1));
    }

    /// The number to show: none while unknown or zero; `50+` when there are more than a page.
    pub fn text(self) -> Option<String> {
        match self.count.get() {
            Some(Ok((n, more))) if n > 0 => Some(if more { format!("{n}+") } else { n.to_string() }),
            _ => None,
        }
    }
}

/// The [`PendingCount`] of the running app, when there is one.
pub fn pending_count() -> Option<PendingCount> {
    use_context::<PendingCount>()
}

/// What a request asks for, in words: "1 → 2", "remove (was 1)", a rollback marked.
pub fn change_words(a: &ApprovalView) -> String {
    let from = a.from_version.map_or_else(|| "new".to_owned(), |v| format!("version {v}"));
    let change = match (a.to_version, &a.split) {
        (Some(_), Some(arms)) => {
            format!("{from} → split between {}", crate::pages::releases::split_words(arms))
        }
        (Some(to), None) => format!("{from} → version {to}"),
        (None, _) => format!("remove ({from})"),
    };
    if a.rollback_of.is_some() { format!("{change} (rollback)") } else { change }
}

fn status_words(status: ApprovalStatus) -> &'static str {
    match status {
        ApprovalStatus::Pending => "Waiting",
        ApprovalStatus::Approved => "Approved",
        ApprovalStatus::Denied => "Denied",
        ApprovalStatus::Cancelled => "Cancelled",
        ApprovalStatus::Expired => "Expired",
    }
}

fn person(p: Option<&domain::wire::PersonRef>) -> String {
    p.map_or_else(|| "(deleted user)".to_owned(), |p| p.name.clone())
}

#[component]
pub fn ApprovalsPage() -> impl IntoView {
    set_title("Approvals");
    let auth = use_auth();
    let counter = pending_count();
    let changes = RwSignal::new(0u32);
    let waiting = LocalResource::new(move || {
        changes.track();
        api::approvals(Some(ApprovalStatus::Pending), None, None)
    });

    // Decided requests, newest first, a page at a time.
    let decided = RwSignal::new(Vec::<ApprovalView>::new());
    let next_cursor = RwSignal::new(None::<String>);
    let loading = RwSignal::new(true);
    let decided_failure = RwSignal::new(None::<ApiFailure>);
    let generation = StoredValue::new(0u32);
    let load = move |cursor: Option<String>| {
        let more = cursor.is_some();
        if !more {
            generation.update_value(|g| *g = g.wrapping_add(1));
        }
        let Some(this) = generation.try_get_value() else { return };
        loading.set(true);
        spawn_local(async move {
            let result = api::approvals(None, None, cursor).await;
            if generation.try_get_value() != Some(this) {
                return;
            }
            match result {
                Ok(page) => {
                    let items = page.items.into_iter().filter(|a| a.status != ApprovalStatus::Pending);
                    if more {
                        decided.update(|d| d.extend(items));
                    } else {
                        decided.set(items.collect());
                    }
                    next_cursor.set(page.next_cursor);
                    decided_failure.set(None);
                }
                Err(f) => decided_failure.set(Some(f)),
            }
            loading.set(false);
        });
    };
    Effect::new(move || {
        changes.track();
        load(None);
    });

    let failure = RwSignal::new(None::<ApiFailure>);
    let done = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let decide = move |approval: ApprovalView, decision: Decision, comment: Option<String>| {
        busy.set(true);
        failure.set(None);
        done.set(None);
        spawn_local(async move {
            match api::decide(approval.id, decision, comment).await {
                Ok(decided) => {
                    let what = format!("{} on {}", decided.label, decided.prompt.title);
                    done.try_set(Some(match decision {
                        Decision::Approve => match decided.to_version {
                            Some(to) => format!("Approved: {what} now names version {to}."),
                            None => format!("Approved: {what} was removed."),
                        },
                        Decision::Deny => format!("Denied: {what} stays where it is."),
                        Decision::Cancel => format!("Cancelled your request for {what}."),
                    }));
                }
                Err(f) => {
                    failure.try_set(Some(f));
                }
            }
            busy.try_set(false);
            // Decided or not (someone else may have been quicker), the lists are out of date.
            changes.try_update(|n| *n = n.wrapping_add(1));
            if let Some(counter) = counter {
                counter.changed();
            }
        });
    };

    let may_decide = Signal::derive(move || auth.is_admin());
    let me = Signal::derive(move || auth.user_id());

    view! {
        <div class="page-header"><h1>"Approvals"</h1></div>
        <p class="lead">
            "Moving a protected release label, removing it or rolling it back waits here until an administrator \
             other than the person who asked approves it. A request nobody decides expires."
        </p>
        <FailureAlert failure/>
        {move || done.get().map(|s| view! { <p class="alert alert-success" role="status" data-testid="approval-done">{s}</p> })}
        <section class="panel" aria-labelledby="waiting-title">
            <h2 id="waiting-title">"Waiting"</h2>
            <Transition fallback=|| view! { <Loading label="Loading the waiting requests…"/> }>
                {move || {
                    waiting
                        .get()
                        .map(|answer| match answer {
                            Err(failure) => view! { <ErrorAlert failure/> }.into_any(),
                            Ok(list) if list.items.is_empty() => {
                                view! { <p class="empty-inline">"Nothing is waiting for a decision."</p> }.into_any()
                            }
                            Ok(list) => view! {
                                <div class="table-wrap">
                                    <table class="approvals approvals-waiting">
                                        <caption class="visually-hidden">"Requests waiting for a decision, newest first"</caption>
                                        <thead>
                                            <tr>
                                                <th scope="col">"Prompt"</th>
                                                <th scope="col">"Label"</th>
                                                <th scope="col">"Change"</th>
                                                <th scope="col">"Reason"</th>
                                                <th scope="col">"Requested by"</th>
                                                <th scope="col">"Expires"</th>
                                                <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {list
                                                .items
                                                .into_iter()
                                                .map(|approval| view! { <WaitingRow approval may_decide me busy decide/> })
                                                .collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            }
                                .into_any(),
                        })
                }}
            </Transition>
        </section>
        <section class="panel" aria-labelledby="decided-title">
            <h2 id="decided-title">"Decided"</h2>
            <FailureAlert failure=decided_failure/>
            <Show when=move || !decided.with(Vec::is_empty) fallback=move || view! {
                <Show when=move || !loading.get() fallback=|| view! { <Loading label="Loading the decided requests…"/> }>
                    <p class="empty-inline">"No request has been decided yet."</p>
                </Show>
            }>
                <div class="table-wrap">
                    <table class="approvals approvals-decided">
                        <caption class="visually-hidden">"Decided, cancelled and expired requests, newest first"</caption>
                        <thead>
                            <tr>
                                <th scope="col">"Prompt"</th>
                                <th scope="col">"Label"</th>
                                <th scope="col">"Change"</th>
                                <th scope="col">"Outcome"</th>
                                <th scope="col">"Requested by"</th>
                                <th scope="col">"Decided by"</th>
                                <th scope="col">"Comment"</th>
                            </tr>
                        </thead>
                        <tbody>
                            <For each=move || decided.get() key=|a| a.id let:approval>
                                <DecidedRow approval/>
                            </For>
                        </tbody>
                    </table>
                </div>
            </Show>
            <Show when=move || next_cursor.with(Option::is_some) && !loading.get()>
                <div class="form-actions">
                    <button type="button" class="button-secondary" on:click=move |_| load(next_cursor.get_untracked())>"Load more"</button>
                </div>
            </Show>
        </section>
    }
}

/// The prompt a request is about, linked to its history (where its labels are).
#[component]
fn PromptCell(prompt: domain::wire::PromptRef) -> impl IntoView {
    view! {
        <td>
            <a href=format!("/prompts/{}/history", prompt.id)>{prompt.title}</a>
            <br/>
            <code class="prompt-name">{prompt.name}</code>
        </td>
    }
}

#[component]
fn WaitingRow(
    approval: ApprovalView,
    may_decide: Signal<bool>,
    me: Signal<Option<domain::UserId>>,
    busy: RwSignal<bool>,
    decide: impl Fn(ApprovalView, Decision, Option<String>) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let id = approval.id;
    let comment = RwSignal::new(String::new());
    let requester = approval.requested_by.as_ref().map(|p| p.id);
    let own = move || requester.is_some() && me.get() == requester;
    let what = format!("{} on {}", approval.label, approval.prompt.title);
    let stored = StoredValue::new(approval.clone());
    let act = move |decision: Decision| {
        let words = if decision == Decision::Cancel { None } else { non_empty(&comment.get_untracked()) };
        decide(stored.get_value(), decision, words);
    };
    let comment_id = format!("approval-comment-{id}");
    let (approve_label, deny_label, cancel_label) = (
        format!("Approve moving {what}"),
        format!("Deny moving {what}"),
        format!("Cancel request for {what}"),
    );
    let comment_label = format!("Comment on the request for {what} (optional)");
    view! {
        <tr data-approval=id.to_string() data-status=approval.status.as_str()>
            <PromptCell prompt=approval.prompt.clone()/>
            <td><LabelBadges names=vec![approval.label.clone()]/></td>
            <td>{change_words(&approval)}</td>
            <td>{approval.reason.clone().unwrap_or_default()}</td>
            <td>{person(approval.requested_by.as_ref())} <br/> <span class="hint"><Time at=approval.requested_at/></span></td>
            <td><Time at=approval.expires_at/></td>
            <td class="row-actions approval-actions">
                <Show when=own>
                    <button type="button" class="button-secondary button-small" id=format!("cancel-{id}")
                        aria-label=cancel_label.clone() disabled=move || busy.get() on:click=move |_| act(Decision::Cancel)>
                        "Cancel request"
                    </button>
                </Show>
                <Show when=move || may_decide.get() && !own()>
                    <label class="visually-hidden" for=comment_id.clone()>{comment_label.clone()}</label>
                    <input id=comment_id.clone() class="approval-comment" maxlength="500" placeholder="Comment (optional)"
                        autocomplete="off" bind:value=comment/>
                    <button type="button" class="button-primary button-small" id=format!("approve-{id}")
                        aria-label=approve_label.clone() disabled=move || busy.get() on:click=move |_| act(Decision::Approve)>
                        "Approve"
                    </button>
                    <button type="button" class="button-danger button-small" id=format!("deny-{id}")
                        aria-label=deny_label.clone() disabled=move || busy.get() on:click=move |_| act(Decision::Deny)>
                        "Deny"
                    </button>
                </Show>
                <Show when=move || !may_decide.get() && !own()>
                    <span class="hint">"Waiting for an administrator"</span>
                </Show>
            </td>
        </tr>
    }
}

#[component]
fn DecidedRow(approval: ApprovalView) -> impl IntoView {
    let status = approval.status;
    let decided = match (&approval.decided_by, approval.decided_at) {
        (by, Some(at)) => view! {
            <span>{by.as_ref().map(|p| p.name.clone())} <br/> <span class="hint"><Time at/></span></span>
        }
        .into_any(),
        (Some(by), None) => by.name.clone().into_any(),
        (None, None) => ().into_any(),
    };
    view! {
        <tr data-approval=approval.id.to_string() data-status=status.as_str()>
            <PromptCell prompt=approval.prompt.clone()/>
            <td><LabelBadges names=vec![approval.label.clone()]/></td>
            <td>
                {change_words(&approval)}
                {approval.reason.clone().map(|r| view! { <br/> <span class="hint">{format!("“{r}”")}</span> })}
            </td>
            <td><span class=format!("badge badge-approval badge-approval-{}", status.as_str())>{status_words(status)}</span></td>
            <td>{person(approval.requested_by.as_ref())}</td>
            <td>{decided}</td>
            <td>{approval.comment.clone().unwrap_or_default()}</td>
        </tr>
    }
}
