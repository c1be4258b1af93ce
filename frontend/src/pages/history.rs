//! A prompt's versions: show one (its content or messages, settings and variables), compare
//! any two as a line diff, restore an older one; its release labels (`releases`), as badges
//! on the versions and with their moves. The diff's rendering ([`DiffLines`]) also
//! shows an enhancement's changes.

use domain::PromptId;
use domain::diff::{DiffLine, DiffOp};
use domain::prompt::may_edit;
use domain::wire::{PromptDiff, PromptVersionSummary, PromptVersionView, RestorePromptRequest};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_params_map;
use wasm_bindgen::JsCast;

use crate::api::{self, ApiFailure, ApiResult};
use crate::auth::use_auth;
use crate::pages::bundle_editor::BundleView;
use crate::pages::releases::{self, LabelBadges, LabelsPanel};
use crate::ui::{ErrorAlert, FailureAlert, Loading, Time, set_title};

#[component]
pub fn HistoryPage() -> impl IntoView {
    set_title("History");
    let auth = use_auth();
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id")).and_then(|s| s.parse::<PromptId>().ok()));
    let not_a_prompt = || ApiFailure::local("This address does not name a prompt.");

    let prompt = LocalResource::new(move || {
        let id = id.get();
        async move {
            match id {
                Some(id) => api::prompt(id).await,
                None => Err(not_a_prompt()),
            }
        }
    });
    let versions = LocalResource::new(move || {
        let id = id.get();
        async move {
            match id {
                Some(id) => api::versions(id, None).await.map(|list| list.items),
                None => Err(not_a_prompt()),
            }
        }
    });

    let labels = LocalResource::new(move || {
        let id = id.get();
        async move {
            match id {
                Some(id) => api::labels(id).await,
                None => Err(not_a_prompt()),
            }
        }
    });
    let policy = LocalResource::new(api::release_policy);
    let protected = Signal::derive(move || releases::protected_names(policy));
    let labels_at = move |version: u32| {
        labels.get().and_then(Result::ok).map(|list| releases::labels_at(&list, version)).unwrap_or_default()
    };

    let from = RwSignal::new(None::<u32>);
    let to = RwSignal::new(None::<u32>);
    // Compare the two newest versions until the person picks others.
    Effect::new(move || {
        if let Some(Ok(items)) = versions.get() {
            let newest = items.first().map(|v| v.version);
            let previous = items.get(1).map(|v| v.version).or(newest);
            to.set(newest);
            from.set(previous);
        }
    });
    let diff = LocalResource::new(move || {
        let (id, from, to) = (id.get(), from.get(), to.get());
        async move {
            match (id, from, to) {
                (Some(id), Some(from), Some(to)) => Some(api::diff(id, from, to).await),
                _ => None,
            }
        }
    });

    let may_restore = move || {
        prompt.get().and_then(Result::ok).is_some_and(|p| {
            auth.user_id()
                .zip(auth.role())
                .is_some_and(|(me, role)| may_edit(p.owner.as_ref().map(|o| o.id), me, role))
        })
    };
    let current = move || versions.get().and_then(Result::ok).and_then(|v| v.first().map(|v| v.version));

    let failure = RwSignal::new(None::<ApiFailure>);
    let restored = RwSignal::new(None::<String>);
    let restoring = RwSignal::new(false);
    let restore = move |version: u32| {
        let (Some(id), Some(current)) = (id.get_untracked(), current()) else { return };
        restoring.set(true);
        failure.set(None);
        restored.set(None);
        spawn_local(async move {
            let request = RestorePromptRequest { version: Some(current), commit_message: None };
            match api::restore(id, version, &request).await {
                Ok(view) => {
                    restored.set(Some(format!("Version {version} restored as version {}.", view.version)));
                    prompt.refetch();
                    versions.refetch();
                    labels.refetch();
                }
                Err(f) => failure.set(Some(f)),
            }
            restoring.set(false);
        });
    };

    let shown = RwSignal::new(None::<ApiResult<PromptVersionView>>);
    let show = move |version: u32| {
        let Some(id) = id.get_untracked() else { return };
        spawn_local(async move {
            let result = api::version(id, version).await;
            shown.try_set(Some(result));
            // Once it is drawn: to the version, for keyboard users too.
            request_animation_frame(|| {
                let detail = document().get_element_by_id("version-detail");
                if let Some(el) = detail.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
                    el.scroll_into_view();
                    let _ = el.focus();
                }
            });
        });
    };

    let title = move || {
        prompt.get().and_then(Result::ok).map(|p| {
            set_title(&format!("History of {}", p.title));
            p.title
        })
    };

    view! {
        <div class="page-header">
            <h1>"History" {move || title().map(|t| format!(": {t}"))}</h1>
            <div class="actions">
                {move || id.get().map(|id| view! { <a class="button button-secondary" href=format!("/prompts/{id}")>"Back to the prompt"</a> })}
            </div>
        </div>
        <FailureAlert failure/>
        {move || restored.get().map(|s| view! { <p class="alert alert-success" role="status">{s}</p> })}
        <Transition fallback=|| view! { <Loading label="Loading versions…"/> }>
            {move || {
                versions
                    .get()
                    .map(|result| match result {
                        Err(failure) => view! { <ErrorAlert failure/> }.into_any(),
                        Ok(items) => {
                            let newest = items.first().map(|v| v.version);
                            view! {
                                <div class="table-wrap">
                                    <table class="versions">
                                        <caption class="visually-hidden">"Versions, newest first"</caption>
                                        <thead>
                                            <tr>
                                                <th scope="col">"Version"</th>
                                                <th scope="col" class="wide-only">"Title"</th>
                                                <th scope="col" class="wide-only">"Author"</th>
                                                <th scope="col">"Saved"</th>
                                                <th scope="col" class="wide-only">"Note"</th>
                                                <th scope="col">"From"</th>
                                                <th scope="col">"To"</th>
                                                <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {items
                                                .into_iter()
                                                .map(|v| {
                                                    let is_current = Some(v.version) == newest;
                                                    let n = v.version;
                                                    view! {
                                                        <VersionRow v is_current labels=Signal::derive(move || labels_at(n)) protected from to
                                                            may_restore=Signal::derive(may_restore) restoring restore show/>
                                                    }
                                                })
                                                .collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            }
                                .into_any()
                        }
                    })
            }}
        </Transition>
        {move || {
            id.get().map(|id| {
                let numbers = Signal::derive(move || {
                    versions.get().and_then(Result::ok).map(|v| v.iter().map(|v| v.version).collect()).unwrap_or_default()
                });
                view! { <LabelsPanel id labels policy versions=numbers may_move=Signal::derive(may_restore)/> }
            })
        }}
        {move || {
            shown
                .get()
                .map(|result| match result {
                    Ok(v) => view! { <VersionDetail v/> }.into_any(),
                    Err(failure) => view! { <ErrorAlert failure/> }.into_any(),
                })
        }}
        <Transition fallback=|| view! { <Loading label="Comparing…"/> }>
            {move || {
                diff.get()
                    .flatten()
                    .map(|result| match result {
                        Ok(diff) => view! { <DiffView diff/> }.into_any(),
                        Err(failure) => view! { <ErrorAlert failure/> }.into_any(),
                    })
            }}
        </Transition>
    }
}

#[component]
fn VersionRow(
    v: PromptVersionSummary,
    is_current: bool,
    /// The labels naming this version (`latest` included).
    labels: Signal<Vec<String>>,
    /// The tenant's protected label names, marked on the badges.
    protected: Signal<Vec<String>>,
    from: RwSignal<Option<u32>>,
    to: RwSignal<Option<u32>>,
    may_restore: Signal<bool>,
    restoring: RwSignal<bool>,
    restore: impl Fn(u32) + Copy + Send + Sync + 'static,
    show: impl Fn(u32) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let n = v.version;
    let (from_id, to_id) = (format!("diff-from-{n}"), format!("diff-to-{n}"));
    let note = match (v.commit_message, v.restored_from) {
        (Some(m), Some(r)) => format!("{m} (restored from version {r})"),
        (Some(m), None) => m,
        (None, Some(r)) => format!("Restored from version {r}"),
        (None, None) => String::new(),
    };
    view! {
        <tr class:current=is_current data-version=n>
            <td>{n} {is_current.then_some(" (current)")} {move || view! { <LabelBadges names=labels.get() protected=protected.get()/> }}</td>
            <td class="wide-only">{v.title}</td>
            <td class="wide-only">{v.author.map(|a| a.name).unwrap_or_else(|| "(deleted user)".to_owned())}</td>
            <td><Time at=v.created_at/></td>
            <td class="wide-only">{note}</td>
            <td>
                <label class="visually-hidden" for=from_id.clone()>{format!("Compare from version {n}")}</label>
                <input type="radio" name="diff-from" id=from_id prop:checked=move || from.get() == Some(n)
                    on:change=move |_| from.set(Some(n))/>
            </td>
            <td>
                <label class="visually-hidden" for=to_id.clone()>{format!("Compare to version {n}")}</label>
                <input type="radio" name="diff-to" id=to_id prop:checked=move || to.get() == Some(n)
                    on:change=move |_| to.set(Some(n))/>
            </td>
            <td class="row-actions">
                <button type="button" class="button-secondary button-small" aria-label=format!("Show version {n}")
                    on:click=move |_| show(n)>
                    "Show"
                </button>
                <Show when=move || may_restore.get() && !is_current>
                    <button type="button" class="button-secondary button-small" aria-label=format!("Restore version {n}")
                        disabled=move || restoring.get() on:click=move |_| restore(n)>
                        "Restore"
                    </button>
                </Show>
            </td>
        </tr>
    }
}

/// One version as it was saved.
#[component]
fn VersionDetail(v: PromptVersionView) -> impl IntoView {
    let author = v.author.map(|a| a.name).unwrap_or_else(|| "(deleted user)".to_owned());
    view! {
        <section class="diff version-detail" id="version-detail" aria-labelledby="version-detail-title" tabindex="-1">
            <h2 id="version-detail-title">{format!("Version {}: {}", v.version, v.title)}</h2>
            <p class="meta-line">
                <code class="prompt-name">{v.name}</code> " · " {author} " · " <Time at=v.created_at/>
                {v.commit_message.map(|m| format!(" · {m}"))}
            </p>
            <BundleView kind=v.kind format=v.template_format content=v.content messages=v.messages
                settings=v.settings contract=v.contract prefix="version-"/>
        </section>
    }
}

#[component]
fn DiffView(diff: PromptDiff) -> impl IntoView {
    let heading = format!("Changes from version {} to version {}", diff.from, diff.to);
    let unchanged = diff.changes.is_empty() && diff.lines.iter().all(|l| l.op == DiffOp::Equal);
    view! {
        <section class="diff" aria-labelledby="diff-title">
            <h2 id="diff-title">{heading}</h2>
            {unchanged.then(|| view! { <p class="hint">"These versions are the same."</p> })}
            {(!diff.changes.is_empty())
                .then(|| {
                    view! {
                        <table class="field-changes">
                            <caption class="visually-hidden">"Changed fields"</caption>
                            <thead>
                                <tr><th scope="col">"Field"</th><th scope="col">"Before"</th><th scope="col">"After"</th></tr>
                            </thead>
                            <tbody>
                                {diff
                                    .changes
                                    .into_iter()
                                    .map(|c| view! {
                                        <tr><th scope="row">{c.field}</th><td><del>{c.from}</del></td><td><ins>{c.to}</ins></td></tr>
                                    })
                                    .collect_view()}
                            </tbody>
                        </table>
                    }
                })}
            <DiffLines lines=diff.lines/>
        </section>
    }
}

/// A line diff: inserted and deleted lines marked (also for screen readers), with the line
/// numbers on both sides.
#[component]
pub fn DiffLines(lines: Vec<DiffLine>) -> impl IntoView {
    view! {
        <div class="diff-lines" role="group" aria-label="Content, line by line">
            {lines
                .into_iter()
                .map(|line| {
                    let old = line.old_line.map(|n| n.to_string()).unwrap_or_default();
                    let new = line.new_line.map(|n| n.to_string()).unwrap_or_default();
                    match line.op {
                        DiffOp::Insert => view! {
                            <ins class="diff-line diff-insert">
                                <span class="ln" aria-hidden="true">{old}</span>
                                <span class="ln" aria-hidden="true">{new}</span>
                                <span class="sign" aria-hidden="true">"+"</span>
                                <span class="visually-hidden">"Added: "</span>
                                <span class="text">{line.text}</span>
                            </ins>
                        }
                            .into_any(),
                        DiffOp::Delete => view! {
                            <del class="diff-line diff-delete">
                                <span class="ln" aria-hidden="true">{old}</span>
                                <span class="ln" aria-hidden="true">{new}</span>
                                <span class="sign" aria-hidden="true">"−"</span>
                                <span class="visually-hidden">"Removed: "</span>
                                <span class="text">{line.text}</span>
                            </del>
                        }
                            .into_any(),
                        DiffOp::Equal => view! {
                            <div class="diff-line diff-equal">
                                <span class="ln" aria-hidden="true">{old}</span>
                                <span class="ln" aria-hidden="true">{new}</span>
                                <span class="sign" aria-hidden="true">" "</span>
                                <span class="text">{line.text}</span>
                            </div>
                        }
                            .into_any(),
                    }
                })
                .collect_view()}
        </div>
    }
}
