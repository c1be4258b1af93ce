//! A tenant admin's release policy (`/admin/releases`): which label names are protected on
//! every prompt, whether moving one needs another administrator's approval, and how long a
//! request waits for a decision.

use domain::release::{LabelName, MAX_APPROVAL_HOURS, MAX_PROTECTED_LABELS};
use domain::wire::{FieldError, ReleasePolicyView};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiFailure};
use crate::auth::use_auth;
use crate::ui::{ErrorAlert, FieldMessage, Loading, invalid, set_title};

#[component]
pub fn ReleaseSettingsPage() -> impl IntoView {
    set_title("Release labels");
    let auth = use_auth();
    if !auth.is_admin() {
        return view! {
            <h1>"Release labels"</h1>
            <ErrorAlert failure=ApiFailure::local("Only administrators manage the release policy.")/>
        }
        .into_any();
    }
    let policy = LocalResource::new(api::release_policy);
    view! {
        <div class="page-header"><h1>"Release labels"</h1></div>
        <p class="lead">
            "Applications fetch a prompt by a label such as " <code>"production"</code>
            ". A protected label can be moved, removed or rolled back only by an administrator signed in, \
             or with an administrator's promote token, on every prompt."
        </p>
        <Transition fallback=|| view! { <Loading label="Loading the release policy…"/> }>
            {move || {
                policy
                    .get()
                    .map(|result| match result {
                        Err(failure) => view! { <ErrorAlert failure/> }.into_any(),
                        Ok(current) => view! { <PolicyForm current/> }.into_any(),
                    })
            }}
        </Transition>
    }
    .into_any()
}

/// Label names typed separated by commas, spaces or lines.
fn split_names(raw: &str) -> Vec<String> {
    raw.split([',', ' ', '\n', '\t', '\r', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The names as the server takes them, or what is wrong with them.
fn parse_names(raw: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for typed in split_names(raw) {
        let name = LabelName::parse_movable(&typed).map_err(|reason| format!("{typed}: {reason}"))?;
        let name = name.as_str().to_owned();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.len() > MAX_PROTECTED_LABELS {
        return Err(format!("at most {MAX_PROTECTED_LABELS} labels"));
    }
    Ok(names)
}

#[component]
fn PolicyForm(current: ReleasePolicyView) -> impl IntoView {
    let names = RwSignal::new(current.protected_labels.join(", "));
    let require = RwSignal::new(current.require_approval);
    let hours = RwSignal::new(current.approval_hours.to_string());
    let failure = RwSignal::new(None::<ApiFailure>);
    let saved = RwSignal::new(None::<String>);
    let saving = RwSignal::new(false);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut errors = Vec::new();
        let protected_labels = parse_names(&names.get_untracked()).unwrap_or_else(|message| {
            errors.push(FieldError::new("protected_labels", message));
            Vec::new()
        });
        let approval_hours = match hours.get_untracked().trim().parse::<u32>() {
            Ok(h) if (1..=MAX_APPROVAL_HOURS).contains(&h) => h,
            _ => {
                errors.push(FieldError::new(
                    "approval_hours",
                    format!("must be a whole number of hours from 1 to {MAX_APPROVAL_HOURS}"),
                ));
                0
            }
        };
        saved.set(None);
        if !errors.is_empty() {
            failure.set(Some(ApiFailure::invalid(errors)));
            return;
        }
        let request =
            ReleasePolicyView { protected_labels, require_approval: require.get_untracked(), approval_hours };
        saving.set(true);
        failure.set(None);
        spawn_local(async move {
            match api::update_release_policy(&request).await {
                Ok(stored) => {
                    names.try_set(stored.protected_labels.join(", "));
                    require.try_set(stored.require_approval);
                    hours.try_set(stored.approval_hours.to_string());
                    saved.try_set(Some("Release policy saved.".to_owned()));
                }
                Err(f) => {
                    failure.try_set(Some(f));
                }
            }
            saving.try_set(false);
        });
    };

    view! {
        <form class="panel" on:submit=submit aria-labelledby="release-policy-title">
            <h2 id="release-policy-title">"Protected labels"</h2>
            {move || failure.get().map(|failure| view! { <ErrorAlert failure/> })}
            {move || saved.get().map(|s| view! { <p class="alert alert-success" role="status" data-testid="release-policy-saved">{s}</p> })}
            <div class="field">
                <label for="release-protected-labels">"Protected label names"</label>
                <input id="release-protected-labels" autocomplete="off" spellcheck="false" placeholder="e.g. production, staging"
                    aria-describedby="release-protected-labels-hint release-protected-labels-error"
                    aria-invalid=invalid(failure, "protected_labels") bind:value=names/>
                <p class="hint" id="release-protected-labels-hint">
                    "Separated by commas or spaces; at most " {MAX_PROTECTED_LABELS} ". "
                    <code>"latest"</code> " follows the newest version and cannot be protected. Empty: no label is protected."
                </p>
                <FieldMessage failure field="protected_labels" id="release-protected-labels-error"/>
            </div>
            <div class="field field-check">
                <input id="release-require-approval" type="checkbox" aria-describedby="release-require-approval-hint release-require-approval-error"
                    bind:checked=require/>
                <label for="release-require-approval">"Require approval"</label>
            </div>
            <p class="hint" id="release-require-approval-hint">
                "Moving a protected label then makes a request that another administrator approves or denies on the Approvals page."
            </p>
            <FieldMessage failure field="require_approval" id="release-require-approval-error"/>
            <div class="form-grid">
                <div class="field">
                    <label for="release-approval-hours">"Approval expires after (hours)"</label>
                    <input id="release-approval-hours" type="number" min="1" max=MAX_APPROVAL_HOURS.to_string() required inputmode="numeric"
                        aria-describedby="release-approval-hours-hint release-approval-hours-error"
                        aria-invalid=invalid(failure, "approval_hours") bind:value=hours/>
                    <p class="hint" id="release-approval-hours-hint">{format!("1 to {MAX_APPROVAL_HOURS} (30 days). A request nobody decides by then expires.")}</p>
                    <FieldMessage failure field="approval_hours" id="release-approval-hours-error"/>
                </div>
            </div>
            <div class="form-actions">
                <button type="submit" id="release-policy-save" class="button-primary" disabled=move || saving.get()>"Save release policy"</button>
            </div>
        </form>
    }
}
