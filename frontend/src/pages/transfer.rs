//! Export every visible prompt as a file; import a file (checked first with a dry run).

use domain::wire::{ConflictPolicy, ImportOutcome, ImportReport, PromptExport};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use crate::api::{self, ApiFailure};
use crate::auth::use_auth;
use crate::ui::{FailureAlert, download, set_title, today};

#[component]
pub fn ImportExportPage() -> impl IntoView {
    set_title("Import and export");
    let auth = use_auth();
    view! {
        <div class="page-header"><h1>"Import and export"</h1></div>
        <Export/>
        <Show
            when=move || auth.can_write()
            fallback=|| view! {
                <section class="panel"><h2>"Import"</h2><p class="notice">"Your role can read prompts but not import them."</p></section>
            }
        >
            <Import/>
        </Show>
    }
}

#[component]
fn Export() -> impl IntoView {
    let failure = RwSignal::new(None::<ApiFailure>);
    let done = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let export = move |_| {
        busy.set(true);
        failure.set(None);
        done.set(None);
        spawn_local(async move {
            let result = async {
                let file = api::export_prompts().await?;
                let text = serde_json::to_string_pretty(&file)
                    .map_err(|e| ApiFailure::local(format!("Cannot write the file ({e}).")))?;
                download(&format!("prompts-{}.json", today()), "application/json", &text)?;
                Ok::<_, ApiFailure>(file.prompts.len())
            }
            .await;
            match result {
                Ok(n) => done.set(Some(format!("Exported {n} prompt{}.", if n == 1 { "" } else { "s" }))),
                Err(f) => failure.set(Some(f)),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="panel" aria-labelledby="export-title">
            <h2 id="export-title">"Export"</h2>
            <p>"Downloads every prompt you can see as a JSON file (format " <code>"prompt-manager/prompts@1"</code> "), ready to import elsewhere."</p>
            <FailureAlert failure/>
            {move || done.get().map(|s| view! { <p class="alert alert-success" role="status">{s}</p> })}
            <button type="button" id="export-button" class="button-primary" disabled=move || busy.get() on:click=export>
                "Export prompts"
            </button>
        </section>
    }
}

#[component]
fn Import() -> impl IntoView {
    let file = RwSignal::new(None::<PromptExport>);
    let file_name = RwSignal::new(String::new());
    let policy = RwSignal::new("skip".to_owned());
    let report = RwSignal::new(None::<ImportReport>);
    let failure = RwSignal::new(None::<ApiFailure>);
    let busy = RwSignal::new(false);

    let choose = move |ev: leptos::ev::Event| {
        report.set(None);
        failure.set(None);
        file.set(None);
        let Some(chosen) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
            .and_then(|input| input.files())
            .and_then(|files| files.get(0))
        else {
            return;
        };
        file_name.set(chosen.name());
        spawn_local(async move {
            let text = wasm_bindgen_futures::JsFuture::from(chosen.text()).await;
            match text.ok().and_then(|t| t.as_string()) {
                None => failure.set(Some(ApiFailure::local("The file could not be read."))),
                Some(text) => match serde_json::from_str::<PromptExport>(&text) {
                    Ok(parsed) => file.set(Some(parsed)),
                    Err(e) => failure.set(Some(ApiFailure::local(format!(
                        "This is not a prompt export file ({e}). Export one from this page to see the format."
                    )))),
                },
            }
        });
    };
    let parsed_policy = move || match policy.get_untracked().as_str() {
        "overwrite" => ConflictPolicy::Overwrite,
        "rename" => ConflictPolicy::Rename,
        _ => ConflictPolicy::Skip,
    };
    let run = move |dry_run: bool| {
        let Some(contents) = file.get_untracked() else { return };
        let policy = parsed_policy();
        busy.set(true);
        failure.set(None);
        spawn_local(async move {
            match api::import_prompts(&contents, policy, dry_run).await {
                Ok(r) => report.set(Some(r)),
                Err(f) => {
                    report.set(None);
                    failure.set(Some(f));
                }
            }
            busy.set(false);
        });
    };
    let checked = move || report.with(|r| r.as_ref().is_some_and(|r| r.dry_run));

    view! {
        <section class="panel" aria-labelledby="import-title">
            <h2 id="import-title">"Import"</h2>
            <p>"Choose an export file, check what it would do, then import. Nothing is written until you press Import."</p>
            <FailureAlert failure/>
            <div class="form-grid">
                <div class="field">
                    <label for="import-file">"Export file (JSON)"</label>
                    <input id="import-file" type="file" accept=".json,application/json" on:change=choose/>
                    <p class="hint" role="status">
                        {move || file.with(|f| f.as_ref().map(|f| format!("{}: {} prompts.", file_name.get(), f.prompts.len())))}
                    </p>
                </div>
                <div class="field">
                    <label for="import-policy">"When a name is already taken"</label>
                    <select id="import-policy" prop:value=move || policy.get()
                        on:change=move |ev| {
                            policy.set(event_target_value(&ev));
                            report.set(None);
                        }>
                        <option value="skip">"Skip it"</option>
                        <option value="overwrite">"Overwrite (new version)"</option>
                        <option value="rename">"Import under a new name"</option>
                    </select>
                </div>
            </div>
            <div class="form-actions">
                <button type="button" id="import-check" class="button-secondary"
                    disabled=move || busy.get() || file.with(Option::is_none) on:click=move |_| run(true)>
                    "Check import"
                </button>
                <button type="button" id="import-run" class="button-primary"
                    disabled=move || busy.get() || !checked() on:click=move |_| run(false)>
                    "Import"
                </button>
            </div>
            {move || report.get().map(|r| view! { <Report report=r/> })}
        </section>
    }
}

#[component]
fn Report(report: ImportReport) -> impl IntoView {
    let heading = if report.dry_run { "What the import would do" } else { "Import done" };
    let summary = format!(
        "{} created, {} updated, {} unchanged, {} skipped, {} renamed.",
        report.created, report.updated, report.unchanged, report.skipped, report.renamed
    );
    let outcome = |o: ImportOutcome| match o {
        ImportOutcome::Created => "Created",
        ImportOutcome::Updated => "Updated (new version)",
        ImportOutcome::Unchanged => "Unchanged",
        ImportOutcome::Skipped => "Skipped",
        ImportOutcome::Renamed => "Renamed",
    };
    view! {
        <div class="import-report" role="status" id="import-report">
            <h3>{heading}</h3>
            <p>{summary}</p>
            <div class="table-wrap">
                <table>
                    <thead><tr><th scope="col">"#"</th><th scope="col">"Name in file"</th><th scope="col">"Outcome"</th><th scope="col">"Stored as"</th></tr></thead>
                    <tbody>
                        {report
                            .items
                            .into_iter()
                            .map(|item| view! {
                                <tr>
                                    <td>{item.index + 1}</td>
                                    <td>{item.name}</td>
                                    <td>{outcome(item.outcome)}</td>
                                    <td>{item.stored_as.unwrap_or_default()}</td>
                                </tr>
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </div>
        </div>
    }
}
