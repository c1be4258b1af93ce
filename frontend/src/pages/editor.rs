//! A prompt: read it, edit it (with a clear message when someone else saved first) — a text or
//! chat messages, its model settings and the types of its variables (`bundle_editor`) — see its
//! `{{variables}}` and a live render preview, delete it, and use the AI tools under it (run,
//! compare, run history, enhance). `/prompts/new` is the same form.

use std::collections::BTreeMap;

use domain::PromptId;
use domain::bundle::{self, PromptKind};
use domain::prompt::{
    PromptKey, PromptName, Visibility, check_content, may_edit, normalize_category, normalize_tags,
    normalize_title,
};
use domain::template;
use domain::wire::{CreatePromptRequest, ErrorCode, FieldError, PromptView, UpdatePromptRequest};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::api::{self, ApiFailure};
use crate::auth::use_auth;
use crate::pages::ai_tools::{AiTools, PromptLink};
use crate::pages::bundle_editor::{
    BundleDraft, BundleHead, BundleView, ContractEditor, MessagesEditor, SettingsPanel,
};
use crate::pages::composition::{ImpactPanel, IncludesPanel, SavedIncludes, UsedByPanel};
use crate::ui::{
    ErrorAlert, FieldMessage, Loading, Time, copy_to_clipboard, invalid, non_empty, set_title, split_list,
};

/// `/prompts/new`.
#[component]
pub fn NewPromptPage() -> impl IntoView {
    set_title("New prompt");
    let auth = use_auth();
    view! {
        <div class="page-header">
            <h1>"New prompt"</h1>
            <a href="/prompts" class="button-link">"Back to prompts"</a>
        </div>
        <Show
            when=move || auth.can_write()
            fallback=|| {
                view! {
                    <ErrorAlert failure=ApiFailure::local("Your role can read prompts but not write them.")/>
                }
            }
        >
            <PromptForm initial=None stash=RwSignal::new(None) on_reload=Callback::new(|_| ())/>
        </Show>
    }
}

/// `/prompts/:id`.
#[component]
pub fn PromptPage() -> impl IntoView {
    let params = use_params_map();
    // `/prompts/<id>`, or `/prompts/<name>` (an include's link).
    let key = Memo::new(move |_| params.with(|p| p.get("id")).and_then(|s| PromptKey::parse(&s).ok()));
    let prompt = LocalResource::new(move || {
        let key = key.get();
        async move {
            match key {
                Some(PromptKey::Id(id)) => api::prompt(id).await,
                Some(PromptKey::Name(name)) => api::prompt_named(name.as_str()).await,
                None => Err(ApiFailure::local("This address does not name a prompt.")),
            }
        }
    });
    // What the person had typed when they chose to reload after a conflict.
    let stash = RwSignal::new(None::<String>);
    let reload = Callback::new(move |_| prompt.refetch());

    view! {
        <Transition fallback=|| view! { <Loading label="Loading the prompt…"/> }>
            {move || {
                prompt
                    .get()
                    .map(|result| match result {
                        Ok(p) => view! { <PromptDetail prompt=p stash reload/> }.into_any(),
                        Err(failure) => {
                            set_title("Prompt not found");
                            view! {
                                <h1>"Prompt"</h1>
                                <ErrorAlert failure/>
                                <p><a href="/prompts">"Back to prompts"</a></p>
                            }
                                .into_any()
                        }
                    })
            }}
        </Transition>
    }
}

#[component]
fn PromptDetail(prompt: PromptView, stash: RwSignal<Option<String>>, reload: Callback<()>) -> impl IntoView {
    set_title(&prompt.title);
    let auth = use_auth();
    let editable = auth
        .user_id()
        .zip(auth.role())
        .is_some_and(|(me, role)| may_edit(prompt.owner.as_ref().map(|o| o.id), me, role));
    let latest = RwSignal::new(prompt.clone());
    let draft = editable.then(|| RwSignal::new(prompt.content.clone()));
    let link = PromptLink { latest, draft, stash, reload };
    let main = if editable {
        view! { <PromptForm initial=Some(prompt) stash on_reload=reload link/> }.into_any()
    } else {
        view! { <PromptReadOnly prompt/> }.into_any()
    };
    view! {
        {main}
        <UsedByPanel id=latest.get_untracked().id/>
        <AiTools link/>
    }
}

fn history_href(id: PromptId) -> String {
    format!("/prompts/{id}/history")
}

#[component]
fn PromptMeta(prompt: PromptView) -> impl IntoView {
    let owner = prompt.owner.map(|o| o.name).unwrap_or_else(|| "(deleted user)".to_owned());
    let editor = prompt.updated_by.map(|o| o.name);
    view! {
        <p class="meta-line">
            <code class="prompt-name">{prompt.name}</code>
            " · version " {prompt.version}
            " · owner " {owner}
            " · updated " <Time at=prompt.updated_at/>
            {editor.map(|e| format!(" by {e}"))}
        </p>
    }
}

#[component]
fn PromptReadOnly(prompt: PromptView) -> impl IntoView {
    let content = Signal::stored(prompt.content.clone());
    let tags = prompt.tags.clone();
    view! {
        <article class="prompt-view">
            <div class="page-header">
                <h1>{prompt.title.clone()}</h1>
                <div class="actions">
                    <a class="button button-secondary" href=history_href(prompt.id)>"History"</a>
                    <a class="button-link" href="/prompts">"Back to prompts"</a>
                </div>
            </div>
            <PromptMeta prompt=prompt.clone()/>
            <p class="notice" role="note">"You can read this prompt but not change it."</p>
            <div class="prompt-meta">
                <span class="badge badge-category">{prompt.category.clone()}</span>
                {(prompt.visibility == Visibility::Private).then(|| view! { <span class="badge badge-private">"Private"</span> })}
                {prompt.is_enhancement_prompt.then(|| view! { <span class="badge badge-enhancement">"Enhancement"</span> })}
            </div>
            {(!tags.is_empty())
                .then(|| {
                    view! {
                        <ul class="tags" aria-label="Tags">
                            {tags.into_iter().map(|t| view! { <li><span class="tag">{t}</span></li> }).collect_view()}
                        </ul>
                    }
                })}
            <BundleView kind=prompt.kind format=prompt.template_format content=prompt.content.clone()
                messages=prompt.messages.clone() settings=prompt.settings.clone() contract=prompt.contract.clone()
                prefix="prompt-"/>
            <SavedIncludes references=bundle::include_references(prompt.template_format, prompt.kind, &prompt.content, &prompt.messages)/>
            <VariablesPanel content/>
        </article>
    }
}

/// The create/edit form. `initial` is the prompt being edited (`None`: a new one).
#[component]
fn PromptForm(
    initial: Option<PromptView>,
    stash: RwSignal<Option<String>>,
    on_reload: Callback<()>,
    /// Shared with the AI tools: the editor's text and the newest saved version.
    #[prop(optional)]
    link: Option<PromptLink>,
) -> impl IntoView {
    let navigate = use_navigate();
    let existing = initial.as_ref().map(|p| (p.id, p.clone()));
    let id = existing.as_ref().map(|(id, _)| *id);
    let p = initial.unwrap_or_else(|| PromptView {
        id: PromptId::from_uuid(uuid::Uuid::nil()),
        name: String::new(),
        title: String::new(),
        content: String::new(),
        kind: Default::default(),
        template_format: Default::default(),
        messages: Vec::new(),
        settings: Default::default(),
        contract: Vec::new(),
        category: String::new(),
        tags: Vec::new(),
        is_enhancement_prompt: false,
        visibility: Visibility::Tenant,
        version: 0,
        variables: Vec::new(),
        owner: None,
        updated_by: None,
        created_at: chrono::DateTime::default(),
        updated_at: chrono::DateTime::default(),
    });

    let name = RwSignal::new(p.name.clone());
    let title = RwSignal::new(p.title.clone());
    let category = RwSignal::new(p.category.clone());
    let tags = RwSignal::new(p.tags.join(", "));
    let content = link.and_then(|l| l.draft).unwrap_or_else(|| RwSignal::new(p.content.clone()));
    let visibility = RwSignal::new(p.visibility.as_str().to_owned());
    let enhancement = RwSignal::new(p.is_enhancement_prompt);
    let commit_message = RwSignal::new(String::new());
    let base_version = RwSignal::new(p.version);
    let bundle = BundleDraft::new(&p);
    let meta = RwSignal::new(existing.map(|(_, p)| p));

    let failure = RwSignal::new(None::<ApiFailure>);
    let saved = RwSignal::new(None::<String>);
    let saving = RwSignal::new(false);
    let confirming_delete = RwSignal::new(false);
    let deleting = RwSignal::new(false);

    let apply = move |view: &PromptView| {
        name.set(view.name.clone());
        title.set(view.title.clone());
        category.set(view.category.clone());
        tags.set(view.tags.join(", "));
        content.set(view.content.clone());
        visibility.set(view.visibility.as_str().to_owned());
        enhancement.set(view.is_enhancement_prompt);
        commit_message.set(String::new());
        base_version.set(view.version);
        bundle.apply(view);
        meta.set(Some(view.clone()));
    };
    if let Some(link) = link {
        // A version saved from elsewhere on the page (an accepted enhancement) replaces the
        // form's; unsaved text is kept aside to merge, as after a conflict.
        Effect::new(move || {
            let next = link.latest.get();
            if next.version <= base_version.get_untracked() {
                return;
            }
            let typed = content.get_untracked();
            if meta.with_untracked(|m| m.as_ref().is_some_and(|m| m.content != typed)) {
                stash.set(Some(typed));
            }
            apply(&next);
        });
    }

    // The form's fields, checked here as far as they can be (the server checks the rest: logic
    // templates, JSON Schemas); `None` after marking what to correct.
    let gather = move || -> Option<FormFields> {
        let tag_list = split_list(&tags.get_untracked());
        let (name_v, title_v, category_v, content_v) =
            (name.get_untracked(), title.get_untracked(), category.get_untracked(), content.get_untracked());
        let mut errors = check_fields(&name_v, &title_v, &category_v, &tag_list);
        let kind = bundle.kind.get_untracked();
        if kind == PromptKind::Text
            && let Err(reason) = check_content(&content_v)
        {
            errors.push(FieldError::new("content", reason));
        }
        let fields = bundle.request(&content_v).map_err(|bundle_errors| errors.extend(bundle_errors)).ok();
        let Some(fields) = fields.filter(|_| errors.is_empty()) else {
            failure.set(Some(ApiFailure::invalid(errors)));
            saved.set(None);
            return None;
        };
        Some(FormFields {
            name: name_v.trim().to_owned(),
            title: title_v.trim().to_owned(),
            // A chat prompt's content is made from its messages by the server.
            content: (kind == PromptKind::Text).then_some(content_v),
            category: category_v,
            tags: tag_list,
            is_enhancement_prompt: enhancement.get_untracked(),
            visibility: visibility.get_untracked().parse().unwrap_or_default(),
            commit_message: non_empty(&commit_message.get_untracked()),
            bundle: fields,
        })
    };
    let impact_request = Callback::new(move |()| gather().map(|f| f.update(base_version.get_untracked())));

    let navigate_after = navigate.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if saving.get_untracked() {
            return;
        }
        let Some(form) = gather() else { return };
        saving.set(true);
        failure.set(None);
        saved.set(None);
        let navigate = navigate_after.clone();
        spawn_local(async move {
            match id {
                None => match api::create_prompt(&form.create()).await {
                    Ok(created) => navigate(&format!("/prompts/{}", created.id), Default::default()),
                    Err(f) => failure.set(Some(f)),
                },
                Some(id) => {
                    let before = base_version.get_untracked();
                    let request = form.update(before);
                    match api::update_prompt(id, &request).await {
                        Ok(view) => {
                            saved.set(Some(if view.version == before {
                                "Nothing changed: there was nothing to save.".to_owned()
                            } else {
                                format!("Saved as version {}.", view.version)
                            }));
                            set_title(&view.title);
                            apply(&view);
                            if let Some(link) = link {
                                link.latest.set(view);
                            }
                        }
                        Err(f) => failure.set(Some(f)),
                    }
                }
            }
            saving.set(false);
        });
    };

    let navigate_delete = navigate.clone();
    let delete = move |_| {
        let Some(id) = id else { return };
        deleting.set(true);
        let navigate = navigate_delete.clone();
        spawn_local(async move {
            match api::delete_prompt(id).await {
                Ok(()) => navigate("/prompts", Default::default()),
                Err(f) => {
                    failure.set(Some(f));
                    confirming_delete.set(false);
                }
            }
            deleting.set(false);
        });
    };

    let reload_latest = move |_| {
        stash.set(Some(content.get_untracked()));
        failure.set(None);
        on_reload.run(());
    };

    let conflict = move || failure.with(|f| f.as_ref().is_some_and(|f| f.is(ErrorCode::PreconditionFailed)));
    let categories = LocalResource::new(api::categories);
    let heading = move || {
        if id.is_none() {
            None
        } else {
            Some(meta.with(|m| m.as_ref().map(|m| m.title.clone()).unwrap_or_default()))
        }
    };

    let form_ref = NodeRef::<leptos::html::Form>::new();
    let content_area = NodeRef::<leptos::html::Textarea>::new();
    let own_name = id.map(|_| p.name.clone());
    let form_label = if id.is_some() { "Edit prompt" } else { "New prompt" };
    view! {
        {move || {
            heading()
                .map(|h| {
                    view! {
                        <div class="page-header">
                            <h1>{h}</h1>
                            <div class="actions">
                                {id.map(|id| view! { <a class="button button-secondary" href=history_href(id)>"History"</a> })}
                                <a class="button-link" href="/prompts">"Back to prompts"</a>
                            </div>
                        </div>
                    }
                })
        }}
        {move || meta.get().map(|m| view! { <PromptMeta prompt=m/> })}
        {move || {
            stash
                .get()
                .map(|text| {
                    view! {
                        <details class="stash" open>
                            <summary>"Your unsaved text (from before you reloaded)"</summary>
                            <pre>{text}</pre>
                            <button type="button" class="button-link" on:click=move |_| stash.set(None)>"Dismiss"</button>
                        </details>
                    }
                })
        }}
        <div class="editor-layout">
        <form class="prompt-form" node_ref=form_ref on:submit=submit aria-label=form_label
            on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                // Ctrl+S / Cmd+S saves, as in every editor.
                if (ev.ctrl_key() || ev.meta_key()) && ev.key().eq_ignore_ascii_case("s") {
                    ev.prevent_default();
                    if let Some(form) = form_ref.get_untracked() {
                        let _ = form.request_submit();
                    }
                }
            }>
            {move || {
                if conflict() {
                    let version = failure
                        .with(|f| f.as_ref().and_then(|f| f.current_version))
                        .map_or("a newer version".to_owned(), |v| format!("version {v}"));
                    view! {
                        <div class="alert alert-warning" role="alert">
                            <p>
                                <strong>{format!("Someone else saved {version} while you were editing.")}</strong>
                                " Your changes are not saved. Reload the latest version (your text is kept aside so you can merge it), then save again."
                            </p>
                            <button type="button" class="button-secondary" on:click=reload_latest>"Reload latest version"</button>
                        </div>
                    }
                        .into_any()
                } else {
                    failure.get().map(|failure| view! { <ErrorAlert failure/> }).into_any()
                }
            }}
            {move || saved.get().map(|s| view! { <p class="alert alert-success" role="status">{s}</p> })}
            <div class="form-grid">
                <div class="field">
                    <label for="prompt-name">"Name"</label>
                    <input id="prompt-name" required maxlength="200" autocomplete="off" spellcheck="false"
                        aria-describedby="prompt-name-hint prompt-name-error"
                        aria-invalid=invalid(failure, "name")
                        bind:value=name/>
                    <p class="hint" id="prompt-name-hint">"Unique; letters, digits, - _ . and / for folders."</p>
                    <FieldMessage failure field="name" id="prompt-name-error"/>
                </div>
                <div class="field">
                    <label for="prompt-title">"Title"</label>
                    <input id="prompt-title" maxlength="200" aria-describedby="prompt-title-error"
                        aria-invalid=invalid(failure, "title") bind:value=title/>
                    <FieldMessage failure field="title" id="prompt-title-error"/>
                </div>
                <div class="field">
                    <label for="prompt-category">"Category"</label>
                    <input id="prompt-category" list="category-options" maxlength="100" placeholder="Uncategorized"
                        aria-describedby="prompt-category-error" aria-invalid=invalid(failure, "category")
                        bind:value=category/>
                    <datalist id="category-options">
                        {move || {
                            categories
                                .get()
                                .and_then(Result::ok)
                                .map(|list| list.items.into_iter().map(|c| view! { <option value=c.name/> }).collect_view())
                        }}
                    </datalist>
                    <FieldMessage failure field="category" id="prompt-category-error"/>
                </div>
                <div class="field">
                    <label for="prompt-tags">"Tags"</label>
                    <input id="prompt-tags" placeholder="e.g. email, marketing" aria-describedby="prompt-tags-hint prompt-tags-error"
                        aria-invalid=invalid(failure, "tags") bind:value=tags/>
                    <p class="hint" id="prompt-tags-hint">"Separate tags with commas."</p>
                    <FieldMessage failure field="tags" id="prompt-tags-error"/>
                </div>
                <div class="field">
                    <label for="prompt-visibility">"Visibility"</label>
                    <select id="prompt-visibility" aria-describedby="prompt-visibility-error"
                        prop:value=move || visibility.get() on:change=move |ev| visibility.set(event_target_value(&ev))>
                        <option value="tenant">"Organisation"</option>
                        <option value="private">"Private (me and admins)"</option>
                    </select>
                    <FieldMessage failure field="visibility" id="prompt-visibility-error"/>
                </div>
                <div class="field field-check">
                    <input id="prompt-enhancement" type="checkbox" bind:checked=enhancement/>
                    <label for="prompt-enhancement">"Enhancement prompt"</label>
                </div>
            </div>
            <BundleHead draft=bundle failure content/>
            <Show
                when=move || bundle.kind.get() == PromptKind::Text
                fallback=move || view! { <MessagesEditor draft=bundle failure/> }
            >
                <div class="field">
                    <label for="prompt-content">"Content"</label>
                    <textarea id="prompt-content" required rows="14" spellcheck="true" node_ref=content_area
                        aria-describedby="prompt-content-hint prompt-content-error"
                        aria-invalid=invalid(failure, "content")
                        prop:value=move || content.get()
                        on:input=move |ev| content.set(event_target_value(&ev))></textarea>
                    <p class="hint" id="prompt-content-hint">
                        "Write {{name}} for a variable filled in when the prompt is used. Ctrl+S saves."
                    </p>
                    <FieldMessage failure field="content" id="prompt-content-error"/>
                </div>
            </Show>
            <IncludesPanel draft=bundle content textarea=content_area own_name=own_name/>
            <SettingsPanel draft=bundle failure/>
            <ContractEditor draft=bundle failure used=Signal::derive(move || content.with(|c| bundle.used(c)))/>
            <div class="field">
                <label for="prompt-commit-message">"Change note (optional)"</label>
                <input id="prompt-commit-message" maxlength="500" placeholder="What changed and why"
                    aria-describedby="prompt-commit-message-error" aria-invalid=invalid(failure, "commit_message")
                    bind:value=commit_message/>
                <FieldMessage failure field="commit_message" id="prompt-commit-message-error"/>
            </div>
            {id.map(|id| view! { <ImpactPanel id request=impact_request/> })}
            <div class="form-actions">
                <button type="submit" class="button-primary" disabled=move || saving.get()>"Save"</button>
                <Show when=move || saving.get()>
                    <span class="hint" role="status">"Saving…"</span>
                </Show>
                {id.map(|_| {
                    view! {
                        <div class="danger-zone">
                            <Show
                                when=move || confirming_delete.get()
                                fallback=move || view! {
                                    <button type="button" class="button-danger" on:click=move |_| confirming_delete.set(true)>"Delete"</button>
                                }
                            >
                                <div class="confirm" role="group" aria-label="Confirm deletion">
                                    <span>"Delete this prompt and all its versions?"</span>
                                    <button type="button" class="button-danger" disabled=move || deleting.get() on:click=delete.clone()>"Delete permanently"</button>
                                    <button type="button" class="button-secondary" on:click=move |_| confirming_delete.set(false)>"Cancel"</button>
                                </div>
                            </Show>
                        </div>
                    }
                })}
            </div>
        </form>
        <VariablesPanel content=Signal::derive(move || content.with(|c| bundle.source(c)))/>
        </div>
    }
}

/// What the form holds, checked locally: a create or an update request.
struct FormFields {
    name: String,
    title: String,
    /// `None` for a chat prompt.
    content: Option<String>,
    category: String,
    tags: Vec<String>,
    is_enhancement_prompt: bool,
    visibility: Visibility,
    commit_message: Option<String>,
    bundle: domain::wire::BundleRequest,
}

impl FormFields {
    fn create(self) -> CreatePromptRequest {
        CreatePromptRequest {
            name: self.name,
            title: non_empty(&self.title),
            content: self.content.unwrap_or_default(),
            category: non_empty(&self.category),
            tags: self.tags,
            is_enhancement_prompt: self.is_enhancement_prompt,
            visibility: self.visibility,
            commit_message: self.commit_message,
            bundle: self.bundle,
        }
    }

    /// The edit of the version `based_on`.
    fn update(self, based_on: u32) -> UpdatePromptRequest {
        UpdatePromptRequest {
            name: Some(self.name),
            title: Some(self.title),
            content: self.content,
            category: Some(self.category),
            tags: Some(self.tags),
            is_enhancement_prompt: Some(self.is_enhancement_prompt),
            visibility: Some(self.visibility),
            version: Some(based_on),
            commit_message: self.commit_message,
            bundle: self.bundle,
        }
    }
}

/// The text fields' own problems, as the server would name them.
fn check_fields(name: &str, title: &str, category: &str, tags: &[String]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Err(e) = PromptName::parse(name) {
        errors.push(FieldError::new("name", e.to_string()));
    }
    if let Err(reason) = normalize_title(title) {
        errors.push(FieldError::new("title", reason));
    }
    if let Err(reason) = normalize_category(Some(category)) {
        errors.push(FieldError::new("category", reason));
    }
    if let Err((index, reason)) = normalize_tags(tags) {
        errors.push(FieldError::new(format!("tags[{index}]"), reason));
    }
    errors
}

/// The `{{variables}}` found in the content (live), a value input for each and the rendered text.
#[component]
fn VariablesPanel(content: Signal<String>) -> impl IntoView {
    let variables = Memo::new(move |_| content.with(|c| template::variables(c)));
    let values = RwSignal::new(BTreeMap::<String, String>::new());
    let rendered = Memo::new(move |_| {
        let filled: BTreeMap<String, String> = variables.with(|vars| {
            values.with(|vals| {
                vars.iter()
                    .map(|v| {
                        let value = vals
                            .get(v)
                            .filter(|s| !s.is_empty())
                            .cloned()
                            .unwrap_or_else(|| format!("{{{{{v}}}}}"));
                        (v.clone(), value)
                    })
                    .collect()
            })
        });
        content.with(|c| template::render(c, &filled, false)).unwrap_or_else(|e| e.to_string())
    });
    let copied = RwSignal::new(None::<String>);
    let copy = move |_| {
        let text = rendered.get_untracked();
        spawn_local(async move {
            copied.set(Some(match copy_to_clipboard(&text).await {
                Ok(()) => "Copied.".to_owned(),
                Err(f) => f.to_string(),
            }));
        });
    };

    view! {
        <section class="panel variables-panel" aria-labelledby="variables-title">
            <h2 id="variables-title">"Variables"</h2>
            <Show
                when=move || !variables.with(Vec::is_empty)
                fallback=|| view! { <p class="hint">"No variables. Write {{name}} in the content to add one."</p> }
            >
                <ul class="variables" aria-label="Detected variables">
                    <For each=move || variables.get() key=|v| v.clone() let:v>
                        <li><code>{format!("{{{{{v}}}}}")}</code></li>
                    </For>
                </ul>
                <h3>"Preview"</h3>
                <div class="form-grid">
                    <For each=move || variables.get() key=|v| v.clone() let:v>
                        {
                            let input_id = format!("var-{v}");
                            let key = v.clone();
                            let current = v.clone();
                            view! {
                                <div class="field">
                                    <label for=input_id.clone()>{v}</label>
                                    <input id=input_id
                                        prop:value=move || values.with(|vals| vals.get(&current).cloned().unwrap_or_default())
                                        on:input=move |ev| {
                                            let value = event_target_value(&ev);
                                            values.update(|vals| { vals.insert(key.clone(), value); });
                                        }/>
                                </div>
                            }
                        }
                    </For>
                </div>
            </Show>
            <h3 id="render-output-title">"Rendered text"</h3>
            <pre class="render-output" id="render-output" aria-labelledby="render-output-title">{move || rendered.get()}</pre>
            <div class="form-actions">
                <button type="button" class="button-secondary" on:click=copy>"Copy rendered text"</button>
                <span class="hint" role="status">{move || copied.get()}</span>
            </div>
        </section>
    }
}
