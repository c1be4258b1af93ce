//! The audit log: filters, paging and a CSV export of the filtered events.

use std::collections::HashMap;

use domain::UserId;
use domain::audit::AuditAction;
use domain::wire::AuditEventView;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiFailure, AuditFilter};
use crate::auth::use_auth;
use crate::ui::{ErrorAlert, FailureAlert, Loading, Time, download, set_title, today};

#[component]
pub fn AuditPage() -> impl IntoView {
    set_title("Audit log");
    let auth = use_auth();
    if !auth.is_admin() {
        return view! {
            <h1>"Audit log"</h1>
            <ErrorAlert failure=ApiFailure::local("Only administrators read the audit log.")/>
        }
        .into_any();
    }

    let action = RwSignal::new(String::new());
    let actor = RwSignal::new(String::new());
    let target_type = RwSignal::new(String::new());
    let target_id = RwSignal::new(String::new());
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let filter = RwSignal::new(AuditFilter::default());

    let items = RwSignal::new(Vec::<AuditEventView>::new());
    let next_cursor = RwSignal::new(None::<String>);
    let loading = RwSignal::new(true);
    let failure = RwSignal::new(None::<ApiFailure>);
    let generation = StoredValue::new(0u32);

    let load = move |cursor: Option<String>| {
        let more = cursor.is_some();
        if !more {
            generation.update_value(|g| *g = g.wrapping_add(1));
        }
        let this = generation.get_value();
        let filter = filter.get_untracked();
        loading.set(true);
        failure.set(None);
        spawn_local(async move {
            let result = api::audit_events(&filter, cursor).await;
            // The page may be gone (or the search changed) by the time the answer arrives.
            if generation.try_get_value() != Some(this) {
                return;
            }
            match result {
                Ok(page) => {
                    if more {
                        items.update(|i| i.extend(page.items));
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
    Effect::new(move || {
        filter.track();
        load(None);
    });

    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        // Dates are whole days in UTC: from the start of `from` to the end of `to`.
        let day = |d: String, time: &str| if d.is_empty() { String::new() } else { format!("{d}T{time}Z") };
        filter.set(AuditFilter {
            actor: actor.get_untracked(),
            action: action.get_untracked(),
            target_type: target_type.get_untracked(),
            target_id: target_id.get_untracked(),
            from: day(from.get_untracked(), "00:00:00"),
            to: day(to.get_untracked(), "23:59:59"),
        });
    };
    let reset = move |_| {
        for s in [action, actor, target_type, target_id, from, to] {
            s.set(String::new());
        }
        filter.set(AuditFilter::default());
    };
    // Names for the actors: the tenant's first users (others show a short id).
    let directory = LocalResource::new(|| async {
        api::users("", None, None).await.map(|list| list.items).unwrap_or_default()
    });
    let people: Signal<HashMap<UserId, String>> = Memo::new(move |_| {
        directory.get().unwrap_or_default().into_iter().map(|u| (u.id, u.email)).collect::<HashMap<_, _>>()
    })
    .into();
    let exporting = RwSignal::new(false);
    let export = move |_| {
        exporting.set(true);
        failure.set(None);
        spawn_local(async move {
            let result = match api::audit_csv(&filter.get_untracked()).await {
                Ok(csv) => download(&format!("audit-{}.csv", today()), "text/csv", &csv),
                Err(f) => Err(f),
            };
            if let Err(f) = result {
                failure.set(Some(f));
            }
            exporting.set(false);
        });
    };

    view! {
        <div class="page-header">
            <h1>"Audit log"</h1>
            <button type="button" id="audit-export" class="button-secondary" disabled=move || exporting.get() on:click=export>
                "Export CSV"
            </button>
        </div>
        <form class="filters" role="search" aria-label="Filter the audit log" on:submit=apply>
            <div class="field">
                <label for="audit-action">"Action"</label>
                <select id="audit-action" prop:value=move || action.get() on:change=move |ev| action.set(event_target_value(&ev))>
                    <option value="">"All actions"</option>
                    {AuditAction::ALL.iter().map(|a| view! { <option value=a.as_str()>{a.as_str()}</option> }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="audit-actor">"Actor (user id)"</label>
                <input id="audit-actor" autocomplete="off" spellcheck="false" bind:value=actor/>
            </div>
            <div class="field">
                <label for="audit-target-type">"Target type"</label>
                <input id="audit-target-type" autocomplete="off" placeholder="prompt, user, tenant…" bind:value=target_type/>
            </div>
            <div class="field">
                <label for="audit-target-id">"Target id"</label>
                <input id="audit-target-id" autocomplete="off" spellcheck="false" bind:value=target_id/>
            </div>
            <div class="field">
                <label for="audit-from">"From (UTC day)"</label>
                <input id="audit-from" type="date" bind:value=from/>
            </div>
            <div class="field">
                <label for="audit-to">"To (UTC day)"</label>
                <input id="audit-to" type="date" bind:value=to/>
            </div>
            <div class="form-actions">
                <button type="submit" class="button-primary">"Apply filters"</button>
                <button type="button" class="button-link" on:click=reset>"Reset"</button>
            </div>
        </form>
        <FailureAlert failure/>
        <Show when=move || !items.with(Vec::is_empty) fallback=move || view! {
            <Show when=move || !loading.get()><p class="empty-inline">"No events match."</p></Show>
        }>
            <div class="table-wrap">
                <table class="audit">
                    <thead>
                        <tr>
                            <th scope="col">"When"</th>
                            <th scope="col">"Action"</th>
                            <th scope="col">"Actor"</th>
                            <th scope="col">"Target"</th>
                            <th scope="col">"Details"</th>
                            <th scope="col">"Address"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For each=move || items.get() key=|e| e.id let:e>
                            <EventRow e people=people on_actor=move |id: String| {
                                actor.set(id.clone());
                                filter.update(|f| f.actor = id);
                            }/>
                        </For>
                    </tbody>
                </table>
            </div>
        </Show>
        <Show when=move || loading.get()><Loading label="Loading events…"/></Show>
        <Show when=move || next_cursor.with(Option::is_some) && !loading.get()>
            <div class="load-more">
                <button type="button" class="button-secondary" on:click=move |_| load(next_cursor.get_untracked())>"Load more"</button>
            </div>
        </Show>
    }
    .into_any()
}

/// The last characters of an id (UUIDv7s share their leading, time-based characters), enough
/// to tell ids apart in a table.
fn short(id: &str) -> String {
    let tail: String = id.chars().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
    format!("…{tail}")
}

/// An event's details as `key: value` lines.
fn describe(details: &serde_json::Value) -> String {
    match details {
        serde_json::Value::Null => String::new(),
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

#[component]
fn EventRow(
    e: AuditEventView,
    people: Signal<HashMap<UserId, String>>,
    on_actor: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let actor_id = e.actor_user_id;
    let actor = e.actor_user_id.map(|a| a.to_string());
    let target = e.target_id.clone();
    view! {
        <tr>
            <td class="nowrap"><Time at=e.created_at/></td>
            <td><code>{e.action}</code></td>
            <td>
                {match actor {
                    Some(id) => {
                        let fallback = short(&id);
                        let text = move || {
                            people.with(|p| actor_id.and_then(|a| p.get(&a).cloned())).unwrap_or_else(|| fallback.clone())
                        };
                        view! {
                            <button type="button" class="button-link" title=format!("Show only events by {id}")
                                on:click=move |_| on_actor(id.clone())>
                                {text}
                                <span class="visually-hidden">" (show only their events)"</span>
                            </button>
                        }
                            .into_any()
                    }
                    None => view! { <span class="meta-text">"system"</span> }.into_any(),
                }}
            </td>
            <td>{e.target_type} " " <span class="mono" title=target.clone()>{target.as_deref().map(short)}</span></td>
            <td class="details">{describe(&e.details)}</td>
            <td class="mono">{e.client_addr}</td>
        </tr>
    }
}
