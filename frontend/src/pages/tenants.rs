//! System administration of tenants (organisations): list, create, limit, (de)activate, delete.

use domain::TenantId;
use domain::wire::{CreateTenantRequest, TenantView, UpdateTenantRequest};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiFailure};
use crate::auth::use_auth;
use crate::ui::{ErrorAlert, FailureAlert, FieldMessage, Loading, Time, invalid, set_title};

#[component]
pub fn TenantsPage() -> impl IntoView {
    set_title("Tenants");
    let auth = use_auth();
    if !auth.is_system_admin() {
        return view! {
            <h1>"Tenants"</h1>
            <ErrorAlert failure=ApiFailure::local("Only system administrators manage tenants.")/>
        }
        .into_any();
    }
    let q = RwSignal::new(String::new());
    let list = LocalResource::new(move || {
        let q = q.get();
        async move { api::tenants(&q, None).await }
    });
    let failure = RwSignal::new(None::<ApiFailure>);
    let notice = RwSignal::new(None::<String>);
    let update = move |id: TenantId, request: UpdateTenantRequest, done: String| {
        failure.set(None);
        notice.set(None);
        spawn_local(async move {
            match api::update_tenant(id, &request).await {
                Ok(_) => notice.set(Some(done)),
                Err(f) => failure.set(Some(f)),
            }
            list.refetch();
        });
    };
    let delete = move |id: TenantId, confirm: String| {
        failure.set(None);
        notice.set(None);
        spawn_local(async move {
            match api::delete_tenant(id, &confirm).await {
                Ok(()) => notice.set(Some(format!("Tenant {confirm} deleted."))),
                Err(f) => failure.set(Some(f)),
            }
            list.refetch();
        });
    };

    view! {
        <div class="page-header"><h1>"Tenants"</h1></div>
        <CreateTenant on_created=move |t: TenantView| {
            notice.set(Some(format!("Tenant {} created. Add its first administrator under Users.", t.subdomain)));
            list.refetch();
        }/>
        <section class="panel" aria-labelledby="tenants-title">
            <h2 id="tenants-title">"Organisations"</h2>
            <div class="filters" role="search" aria-label="Search tenants">
                <div class="field field-search">
                    <label for="tenant-search">"Search"</label>
                    <input id="tenant-search" type="search" on:change=move |ev| q.set(event_target_value(&ev))/>
                </div>
            </div>
            <FailureAlert failure/>
            {move || notice.get().map(|s| view! { <p class="alert alert-success" role="status">{s}</p> })}
            <Transition fallback=|| view! { <Loading label="Loading tenants…"/> }>
                {move || {
                    list.get()
                        .map(|result| match result {
                            Err(failure) => view! { <ErrorAlert failure/> }.into_any(),
                            Ok(page) => view! {
                                <div class="table-wrap">
                                    <table class="tenants">
                                        <thead>
                                            <tr>
                                                <th scope="col">"Name"</th>
                                                <th scope="col">"Subdomain"</th>
                                                <th scope="col">"Max users"</th>
                                                <th scope="col">"Library"</th>
                                                <th scope="col">"Status"</th>
                                                <th scope="col">"Created"</th>
                                                <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {page.items.into_iter().map(|t| view! { <TenantRow t update delete/> }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            }
                                .into_any(),
                        })
                }}
            </Transition>
        </section>
    }
    .into_any()
}

#[component]
fn TenantRow(
    t: TenantView,
    update: impl Fn(TenantId, UpdateTenantRequest, String) + Copy + Send + Sync + 'static,
    delete: impl Fn(TenantId, String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let id = t.id;
    let active = t.is_active;
    let subdomain = StoredValue::new(t.subdomain.clone());
    let max_users = RwSignal::new(t.max_users.to_string());
    let max_id = format!("max-users-{id}");
    let confirming = RwSignal::new(false);
    let typed = RwSignal::new(String::new());
    let confirm_id = format!("confirm-delete-{id}");
    let usage = library_usage(&t);

    let save_max = move |_| {
        if let Ok(n) = max_users.get_untracked().trim().parse::<u32>() {
            let request = UpdateTenantRequest { max_users: Some(n), ..Default::default() };
            update(id, request, format!("{} now allows {n} active users.", subdomain.get_value()));
        }
    };
    let toggle = move |_| {
        let request = UpdateTenantRequest { is_active: Some(!active), ..Default::default() };
        let done = if active { "deactivated" } else { "reactivated" };
        update(id, request, format!("{} {done}.", subdomain.get_value()));
    };

    view! {
        <tr class:inactive=!active>
            <td>{t.name}</td>
            <td><code>{t.subdomain.clone()}</code></td>
            <td>
                <label class="visually-hidden" for=max_id.clone()>{format!("Max users of {}", t.subdomain)}</label>
                <input id=max_id class="input-narrow" type="number" min="1" max="1000000" bind:value=max_users/>
                <button type="button" class="button-secondary button-small" on:click=save_max>"Set"</button>
            </td>
            <td>{usage}</td>
            <td>{if active { "Active" } else { "Deactivated" }}</td>
            <td><Time at=t.created_at/></td>
            <td class="row-actions">
                <button type="button" class="button-secondary button-small" on:click=toggle>
                    {if active { "Deactivate" } else { "Reactivate" }}
                </button>
                <Show
                    when=move || confirming.get()
                    fallback=move || view! {
                        <button type="button" class="button-danger button-small" on:click=move |_| confirming.set(true)>"Delete"</button>
                    }
                >
                    <div class="confirm" role="group" aria-label="Confirm deletion">
                        <label for=confirm_id.clone()>"Type the subdomain to delete it and all its data"</label>
                        <input id=confirm_id.clone() bind:value=typed autocomplete="off"/>
                        <button type="button" class="button-danger button-small"
                            disabled=move || typed.get() != subdomain.get_value()
                            on:click=move |_| delete(id, typed.get_untracked())>
                            "Delete tenant"
                        </button>
                        <button type="button" class="button-secondary button-small" on:click=move |_| confirming.set(false)>"Cancel"</button>
                    </div>
                </Show>
            </td>
        </tr>
    }
}

#[component]
fn CreateTenant(on_created: impl Fn(TenantView) + Copy + Send + Sync + 'static) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let subdomain = RwSignal::new(String::new());
    let max_users = RwSignal::new("100".to_owned());
    let failure = RwSignal::new(None::<ApiFailure>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let request = CreateTenantRequest {
            name: name.get_untracked().trim().to_owned(),
            subdomain: subdomain.get_untracked().trim().to_owned(),
            max_users: max_users.get_untracked().trim().parse().ok(),
        };
        busy.set(true);
        failure.set(None);
        spawn_local(async move {
            match api::create_tenant(&request).await {
                Ok(t) => {
                    name.set(String::new());
                    subdomain.set(String::new());
                    on_created(t);
                }
                Err(f) => failure.set(Some(f)),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="panel" aria-labelledby="create-tenant-title">
            <h2 id="create-tenant-title">"New tenant"</h2>
            <form on:submit=submit>
                <FailureAlert failure/>
                <div class="form-grid">
                    <div class="field">
                        <label for="tenant-name">"Name"</label>
                        <input id="tenant-name" required aria-describedby="tenant-name-error"
                            aria-invalid=invalid(failure, "name") bind:value=name/>
                        <FieldMessage failure field="name" id="tenant-name-error"/>
                    </div>
                    <div class="field">
                        <label for="tenant-subdomain">"Subdomain"</label>
                        <input id="tenant-subdomain" required pattern="[a-z0-9]([a-z0-9-]*[a-z0-9])?" autocomplete="off"
                            aria-describedby="tenant-subdomain-hint tenant-subdomain-error"
                            aria-invalid=invalid(failure, "subdomain") bind:value=subdomain/>
                        <p class="hint" id="tenant-subdomain-hint">"Lowercase letters, digits and inner hyphens; people sign in with it."</p>
                        <FieldMessage failure field="subdomain" id="tenant-subdomain-error"/>
                    </div>
                    <div class="field">
                        <label for="tenant-max-users">"Max active users"</label>
                        <input id="tenant-max-users" type="number" min="1" max="1000000"
                            aria-describedby="tenant-max-users-error" aria-invalid=invalid(failure, "max_users") bind:value=max_users/>
                        <FieldMessage failure field="max_users" id="tenant-max-users-error"/>
                    </div>
                </div>
                <div class="form-actions">
                    <button type="submit" class="button-primary" disabled=move || busy.get()>"Create tenant"</button>
                </div>
            </form>
        </section>
    }
}

/// A tenant's prompt library against its quotas, e.g. `12 of 100000 prompts, 0.1 of 1024 MB`.
fn library_usage(t: &TenantView) -> String {
    let mb = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    format!(
        "{} of {} prompts, {:.1} of {:.0} MB",
        t.prompt_count,
        t.max_prompts,
        mb(t.stored_bytes),
        mb(t.max_stored_bytes)
    )
}
