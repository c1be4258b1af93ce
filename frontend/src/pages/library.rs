//! The prompt library: a folder tree, search as you type, filters, sort and "Load more" paging.

use std::collections::BTreeSet;
use std::time::Duration;

use domain::prompt::Visibility;
use domain::wire::{Folder, NameCountList, PromptSummary};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{self, ApiFailure, ApiResult, PromptQuery};
use crate::auth::use_auth;
use crate::ui::{FailureAlert, Loading, Time, set_title};

/// How long typing must pause before the search runs.
const SEARCH_DELAY: Duration = Duration::from_millis(250);

#[component]
pub fn PromptLibrary() -> impl IntoView {
    set_title("Prompts");
    let auth = use_auth();

    // The filters live in the address too (`/prompts?q=…&tag=…`), so Back and reloads keep them.
    let navigate = use_navigate();
    let from_url = use_query_map().get_untracked();
    let initial = |key: &str| from_url.get(key).unwrap_or_default();
    let typed = RwSignal::new(initial("q"));
    let q = RwSignal::new(initial("q"));
    let category = RwSignal::new(initial("category"));
    let tag = RwSignal::new(initial("tag"));
    let mine = RwSignal::new(initial("owner") == "me");
    let enhancement = RwSignal::new(initial("enhancement"));
    let sort = RwSignal::new(initial("sort"));
    // `None`: every folder; `/`: the top level.
    let folder = RwSignal::new(from_url.get("folder").filter(|f| !f.is_empty()));
    let subfolders = RwSignal::new(initial("subfolders") != "false");
    let query = Memo::new(move |_| PromptQuery {
        q: q.get(),
        category: category.get(),
        tag: tag.get(),
        mine: mine.get(),
        enhancement: match enhancement.get().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        sort: sort.get(),
        folder: folder.get(),
        subfolders: subfolders.get(),
    });
    let filtered = move || query.with(|q| q != &PromptQuery::default());

    let items = RwSignal::new(Vec::<PromptSummary>::new());
    let next_cursor = RwSignal::new(None::<String>);
    let loading = RwSignal::new(true);
    let failure = RwSignal::new(None::<ApiFailure>);
    // Answers to superseded searches are dropped.
    let generation = StoredValue::new(0u32);

    let load = move |cursor: Option<String>| {
        let more = cursor.is_some();
        if !more {
            generation.update_value(|g| *g = g.wrapping_add(1));
        }
        let this = generation.get_value();
        let query = query.get_untracked();
        loading.set(true);
        failure.set(None);
        spawn_local(async move {
            let result = api::list_prompts(&query, cursor).await;
            // The page may be gone (or the search changed) by the time the answer arrives.
            if generation.try_get_value() != Some(this) {
                return;
            }
            match result {
                Ok(page) => {
                    if more {
                        items.update(|items| items.extend(page.items));
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
        let address = query.with(address_of);
        load(None);
        let here = window().location();
        let current = format!("{}{}", here.pathname().unwrap_or_default(), here.search().unwrap_or_default());
        if current != address {
            navigate(&address, NavigateOptions { replace: true, scroll: false, ..Default::default() });
        }
    });

    let timer = StoredValue::new(None::<TimeoutHandle>);
    let search_now = move |text: String| {
        if let Some(handle) = timer.try_update_value(Option::take).flatten() {
            handle.clear();
        }
        q.set(text);
    };
    let on_search_input = move |ev: leptos::ev::Event| {
        let text = event_target_value(&ev);
        typed.set(text.clone());
        if let Some(handle) = timer.try_update_value(Option::take).flatten() {
            handle.clear();
        }
        timer.set_value(set_timeout_with_handle(move || q.set(text), SEARCH_DELAY).ok());
    };
    let clear_filters = move |_| {
        typed.set(String::new());
        search_now(String::new());
        category.set(String::new());
        tag.set(String::new());
        mine.set(false);
        enhancement.set(String::new());
        sort.set(String::new());
        folder.set(None);
        subfolders.set(true);
    };

    let folders = LocalResource::new(api::folders);
    let categories = LocalResource::new(api::categories);
    let tags = LocalResource::new(api::tags);
    // Options arrive after the filter may already be set (from the address): mark the chosen one.
    let options = move |list: Option<ApiResult<NameCountList>>, chosen: RwSignal<String>| {
        list.and_then(Result::ok).map(|list| {
            list.items
                .into_iter()
                .map(|item| {
                    let label = format!("{} ({})", item.name, item.count);
                    let selected = chosen.get_untracked() == item.name;
                    view! { <option value=item.name selected=selected>{label}</option> }
                })
                .collect_view()
        })
    };

    view! {
        <div class="page-header">
            <h1>"Prompts"</h1>
            <Show when=move || auth.can_write()>
                <a class="button button-primary" href="/prompts/new">"New prompt"</a>
            </Show>
        </div>
        <div class="library-layout">
        <FolderTree folders selected=folder subfolders/>
        <div class="library-main">
        <form
            class="filters"
            role="search"
            aria-label="Search and filter prompts"
            on:submit=move |ev| {
                ev.prevent_default();
                search_now(typed.get_untracked());
            }
        >
            <div class="field field-search">
                <label for="prompt-search">"Search"</label>
                <input
                    id="prompt-search"
                    type="search"
                    placeholder="Name, title, content or tag"
                    autocomplete="off"
                    prop:value=move || typed.get()
                    on:input=on_search_input
                />
            </div>
            <div class="field">
                <label for="filter-category">"Category"</label>
                <select id="filter-category" prop:value=move || category.get() on:change=move |ev| category.set(event_target_value(&ev))>
                    <option value="">"All categories"</option>
                    {move || options(categories.get(), category)}
                </select>
            </div>
            <div class="field">
                <label for="filter-tag">"Tag"</label>
                <select id="filter-tag" prop:value=move || tag.get() on:change=move |ev| tag.set(event_target_value(&ev))>
                    <option value="">"All tags"</option>
                    {move || options(tags.get(), tag)}
                </select>
            </div>
            <div class="field">
                <label for="filter-enhancement">"Kind"</label>
                <select id="filter-enhancement" prop:value=move || enhancement.get() on:change=move |ev| enhancement.set(event_target_value(&ev))>
                    <option value="">"All prompts"</option>
                    <option value="false">"Ordinary prompts"</option>
                    <option value="true">"Enhancement prompts"</option>
                </select>
            </div>
            <div class="field">
                <label for="filter-sort">"Sort by"</label>
                <select id="filter-sort" prop:value=move || sort.get() on:change=move |ev| sort.set(event_target_value(&ev))>
                    <option value="">"Default"</option>
                    <option value="relevance">"Best match"</option>
                    <option value="updated">"Recently updated"</option>
                    <option value="created">"Newest"</option>
                    <option value="name">"Name (A–Z)"</option>
                </select>
            </div>
            <div class="field field-check">
                <input id="filter-mine" type="checkbox" prop:checked=move || mine.get() on:change=move |ev| mine.set(event_target_checked(&ev))/>
                <label for="filter-mine">"Mine only"</label>
            </div>
            <Show when=filtered>
                <button type="button" class="button-link" on:click=clear_filters>"Clear filters"</button>
            </Show>
        </form>

        <FailureAlert failure/>
        <p class="result-status visually-hidden" role="status">
            {move || {
                if loading.get() {
                    "Loading prompts…".to_owned()
                } else {
                    let n = items.with(Vec::len);
                    let more = if next_cursor.with(Option::is_some) { " (more available)" } else { "" };
                    format!("{n} prompt{}{more}", if n == 1 { "" } else { "s" })
                }
            }}
        </p>
        <Show
            when=move || !items.with(Vec::is_empty)
            fallback=move || {
                view! {
                    <Show when=move || !loading.get() && failure.with(Option::is_none)>
                        <EmptyState filtered=Signal::derive(filtered) on_clear=clear_filters/>
                    </Show>
                }
            }
        >
            <ul class="prompt-list" aria-busy=move || loading.get().to_string()>
                <For each=move || items.get() key=|p| (p.id, p.version) let:prompt>
                    <PromptItem prompt on_tag=move |t| tag.set(t)/>
                </For>
            </ul>
        </Show>
        <Show when=move || loading.get()>
            <Loading label="Loading prompts…"/>
        </Show>
        <Show when=move || next_cursor.with(Option::is_some) && !loading.get()>
            <div class="load-more">
                <button type="button" class="button-secondary" on:click=move |_| load(next_cursor.get_untracked())>
                    "Load more"
                </button>
            </div>
        </Show>
        </div>
        </div>
    }
}

/// The library's address for `query`.
fn address_of(query: &PromptQuery) -> String {
    let pairs = [
        ("q", query.q.as_str()),
        ("category", query.category.as_str()),
        ("tag", query.tag.as_str()),
        ("owner", if query.mine { "me" } else { "" }),
        (
            "enhancement",
            match query.enhancement {
                Some(true) => "true",
                Some(false) => "false",
                None => "",
            },
        ),
        ("sort", query.sort.as_str()),
        ("folder", query.folder.as_deref().unwrap_or_default()),
        ("subfolders", if query.folder.is_some() && !query.subfolders { "false" } else { "" }),
    ];
    let search: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", js_sys::encode_uri_component(v)))
        .collect();
    if search.is_empty() { "/prompts".to_owned() } else { format!("/prompts?{}", search.join("&")) }
}

#[component]
fn EmptyState(
    filtered: Signal<bool>,
    on_clear: impl Fn(leptos::ev::MouseEvent) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let auth = use_auth();
    move || {
        if filtered.get() {
            view! {
                <div class="empty">
                    <h2>"No prompts match"</h2>
                    <p>"Try other words or fewer filters."</p>
                    <button type="button" class="button-secondary" on:click=on_clear>"Clear filters"</button>
                </div>
            }
            .into_any()
        } else {
            view! {
                <div class="empty">
                    <h2>"No prompts yet"</h2>
                    <p>"Prompts you and your colleagues write appear here."</p>
                    <Show when=move || auth.can_write()>
                        <a class="button button-primary" href="/prompts/new">"New prompt"</a>
                    </Show>
                </div>
            }
            .into_any()
        }
    }
}

#[component]
fn PromptItem(
    prompt: PromptSummary,
    on_tag: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let href = format!("/prompts/{}", prompt.id);
    let owner = prompt.owner.map(|o| o.name).unwrap_or_else(|| "(deleted user)".to_owned());
    let private = prompt.visibility == Visibility::Private;
    view! {
        <li class="prompt-item">
            <a class="prompt-link" href=href>
                <span class="prompt-title">{prompt.title}</span>
                <span class="prompt-name">{prompt.name}</span>
            </a>
            <div class="prompt-meta">
                <span class="badge badge-category" title="Category">{prompt.category}</span>
                {private.then(|| view! { <span class="badge badge-private">"Private"</span> })}
                {prompt.is_enhancement_prompt.then(|| view! { <span class="badge badge-enhancement">"Enhancement"</span> })}
                <span class="meta-text">{owner} " · v" {prompt.version} " · " <Time at=prompt.updated_at/></span>
            </div>
            {(!prompt.tags.is_empty())
                .then(|| {
                    view! {
                        <ul class="tags" aria-label="Tags">
                            {prompt
                                .tags
                                .into_iter()
                                .map(|t| {
                                    let label = format!("Show prompts tagged {t}");
                                    let value = t.clone();
                                    view! {
                                        <li>
                                            <button type="button" class="tag" aria-label=label on:click=move |_| on_tag(value.clone())>
                                                {t}
                                            </button>
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    }
                })}
            <p class="prompt-preview">{prompt.preview}</p>
        </li>
    }
}

/// A folder and the folders in it.
#[derive(Clone)]
struct FolderNode {
    folder: Folder,
    /// The last part of the path.
    label: String,
    children: Vec<FolderNode>,
}

/// The folders under `parent` (`None`: the top), each with its own; `items` in path order.
fn folder_tree(items: &[Folder], parent: Option<&str>) -> Vec<FolderNode> {
    items
        .iter()
        .filter(|f| f.path.rsplit_once('/').map(|(p, _)| p.to_lowercase()).as_deref() == parent)
        .map(|f| FolderNode {
            label: f.path.rsplit_once('/').map_or(f.path.as_str(), |(_, last)| last).to_owned(),
            children: folder_tree(items, Some(&f.path.to_lowercase())),
            folder: f.clone(),
        })
        .collect()
}

/// What every row of the tree works with.
#[derive(Clone, Copy)]
struct TreeState {
    selected: RwSignal<Option<String>>,
    /// Folders whose subfolders are shown (lower case).
    expanded: RwSignal<BTreeSet<String>>,
}

impl TreeState {
    fn is_selected(&self, path: Option<&str>) -> bool {
        self.selected.with(|s| {
            s.as_deref().map(str::to_lowercase).as_deref() == path.map(str::to_lowercase).as_deref()
        })
    }
}

/// The folders (the parts of prompt names before their last `/`) as a tree of buttons that
/// filter the list; a folder's subfolders are shown and hidden with its toggle.
#[component]
fn FolderTree(
    folders: LocalResource<ApiResult<domain::wire::FolderList>>,
    selected: RwSignal<Option<String>>,
    subfolders: RwSignal<bool>,
) -> impl IntoView {
    // The chosen folder's ancestors start open, so it is in sight.
    let ancestors: BTreeSet<String> = selected.with_untracked(|s| {
        let path = s.as_deref().unwrap_or_default().to_lowercase();
        path.match_indices('/').map(|(i, _)| path[..i].to_owned()).chain([path.clone()]).collect()
    });
    let state = TreeState { selected, expanded: RwSignal::new(ancestors) };
    let items = move || folders.get().and_then(Result::ok).map(|list| list.items).unwrap_or_default();
    let special = move |path: Option<&'static str>, label: &'static str, id: &'static str| {
        view! {
            <li>
                <button type="button" id=id class="folder-button"
                    aria-current=move || state.is_selected(path).then_some("true")
                    on:click=move |_| selected.set(path.map(str::to_owned))>
                    {label}
                </button>
            </li>
        }
    };
    view! {
        <Show when=move || !items().is_empty() || selected.with(Option::is_some)>
            <nav class="folder-tree" aria-label="Folders">
                <h2 class="folder-tree-title">"Folders"</h2>
                <ul class="folder-list">
                    {special(None, "All prompts", "folder-all")}
                    {move || folder_rows(folder_tree(&items(), None), state)}
                    {special(Some("/"), "Not in a folder", "folder-top")}
                </ul>
                <div class="field field-check">
                    <input id="folder-subfolders" type="checkbox" prop:checked=move || subfolders.get()
                        on:change=move |ev| subfolders.set(event_target_checked(&ev))/>
                    <label for="folder-subfolders">"Include subfolders"</label>
                </div>
            </nav>
        </Show>
    }
}

fn folder_rows(nodes: Vec<FolderNode>, state: TreeState) -> AnyView {
    nodes
        .into_iter()
        .map(|node| {
            let path = node.folder.path.clone();
            let key = path.to_lowercase();
            let list_id = format!("folder-children-{key}");
            let open = {
                let key = key.clone();
                move || state.expanded.with(|e| e.contains(&key))
            };
            let toggle = {
                let key = key.clone();
                move |_| {
                    state.expanded.update(|e| {
                        if !e.remove(&key) {
                            e.insert(key.clone());
                        }
                    })
                }
            };
            let has_children = !node.children.is_empty();
            let children = node.children;
            let label = node.label;
            let toggle_label = format!("Subfolders of {path}");
            let current = {
                let path = path.clone();
                move || state.is_selected(Some(&path)).then_some("true")
            };
            let choose = {
                let path = path.clone();
                move |_| state.selected.set(Some(path.clone()))
            };
            view! {
                <li>
                    <div class="folder-row">
                        {has_children
                            .then(|| {
                                let open = open.clone();
                                view! {
                                    <button type="button" class="folder-toggle" aria-label=toggle_label
                                        aria-controls=list_id.clone() aria-expanded=move || open().to_string() on:click=toggle>
                                        <span aria-hidden="true">{let open = open.clone(); move || if open() { "▾" } else { "▸" }}</span>
                                    </button>
                                }
                            })}
                        // Keeps the names of folders without subfolders in line with the others.
                        {(!has_children).then(|| view! { <span class="folder-toggle-space" aria-hidden="true"></span> })}
                        <button type="button" class="folder-button" data-folder=path.clone() aria-current=current on:click=choose>
                            {label}
                            <span class="folder-count">
                                {node.folder.total}
                                <span class="visually-hidden">{if node.folder.total == 1 { " prompt" } else { " prompts" }}</span>
                            </span>
                        </button>
                    </div>
                    {move || {
                        (has_children && open())
                            .then(|| view! { <ul class="folder-list" id=list_id.clone()>{folder_rows(children.clone(), state)}</ul> })
                    }}
                </li>
            }
        })
        .collect_view()
        .into_any()
}
