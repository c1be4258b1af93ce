//! Tenant administration of users: list and search, create, change role, deactivate and
//! reactivate, reset a password. System administrators pick the organisation.

use std::time::Duration;

use domain::user::Role;
use domain::wire::{CreateUserRequest, ResetPasswordRequest, UpdateUserRequest, UserView};
use domain::{TenantId, UserId};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiFailure};
use crate::auth::use_auth;
use crate::ui::{ErrorAlert, FailureAlert, FieldMessage, Loading, Time, invalid, set_title};

const ROLES: [(Role, &str); 3] =
    [(Role::Admin, "Administrator"), (Role::User, "User"), (Role::Readonly, "Read-only")];

#[component]
pub fn UsersPage() -> impl IntoView {
    set_title("Users");
    let auth = use_auth();
    if !auth.is_admin() {
        return view! {
            <h1>"Users"</h1>
            <ErrorAlert failure=ApiFailure::local("Only administrators manage users.")/>
        }
        .into_any();
    }
    let own_tenant = auth.me().map(|m| m.tenant.id);
    let tenant = RwSignal::new(own_tenant);

    let typed = RwSignal::new(String::new());
    let q = RwSignal::new(String::new());
    let items = RwSignal::new(Vec::<UserView>::new());
    let next_cursor = RwSignal::new(None::<String>);
    let loading = RwSignal::new(true);
    let failure = RwSignal::new(None::<ApiFailure>);
    let notice = RwSignal::new(None::<String>);
    let generation = StoredValue::new(0u32);

    let load = move |cursor: Option<String>| {
        let more = cursor.is_some();
        if !more {
            generation.update_value(|g| *g = g.wrapping_add(1));
        }
        // Also called after an answer arrives, when the page may be gone.
        let (Some(query), Some(tenant), Some(this)) =
            (q.try_get_untracked(), tenant.try_get_untracked(), generation.try_get_value())
        else {
            return;
        };
        let tenant = tenant.filter(|t| Some(*t) != own_tenant);
        loading.set(true);
        spawn_local(async move {
            let result = api::users(&query, tenant, cursor).await;
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
        q.track();
        tenant.track();
        load(None);
    });
    let timer = StoredValue::new(None::<TimeoutHandle>);
    let on_search = move |ev: leptos::ev::Event| {
        let text = event_target_value(&ev);
        typed.set(text.clone());
        if let Some(handle) = timer.try_update_value(Option::take).flatten() {
            handle.clear();
        }
        timer.set_value(set_timeout_with_handle(move || q.set(text), Duration::from_millis(250)).ok());
    };

    let revision = RwSignal::new(0u32);
    // Replaces one user in the list after a change.
    let replace = move |user: UserView| {
        items.update(|items| {
            if let Some(slot) = items.iter_mut().find(|u| u.id == user.id) {
                *slot = user;
            }
        });
    };
    let update = move |id: UserId, request: UpdateUserRequest, done: String| {
        failure.set(None);
        notice.set(None);
        spawn_local(async move {
            match api::update_user(id, &request).await {
                Ok(user) => {
                    replace(user);
                    notice.set(Some(done));
                }
                Err(f) => {
                    failure.set(Some(f));
                    // Rebuild the rows: a refused role change must not stay selected.
                    revision.update(|r| *r = r.wrapping_add(1));
                    load(None);
                }
            }
        });
    };
    let actions = RowActions { update, failure, notice };

    let system_admin = auth.is_system_admin();
    let tenants = LocalResource::new(move || async move {
        if system_admin { api::tenants("", None).await.map(|l| l.items).ok() } else { None }
    });

    view! {
        <div class="page-header"><h1>"Users"</h1></div>
        <CreateUser tenant on_created=move |user: UserView| items.update(|i| i.push(user))/>
        <section class="panel" aria-labelledby="users-title">
            <h2 id="users-title">"People"</h2>
            <div class="filters" role="search" aria-label="Search users">
                <div class="field field-search">
                    <label for="user-search">"Search by name or email"</label>
                    <input id="user-search" type="search" autocomplete="off" prop:value=move || typed.get() on:input=on_search/>
                </div>
                {move || {
                    tenants
                        .get()
                        .flatten()
                        .map(|list| {
                            view! {
                                <div class="field">
                                    <label for="user-tenant">"Organisation"</label>
                                    <select id="user-tenant"
                                        prop:value=move || tenant.get().map(|t| t.to_string()).unwrap_or_default()
                                        on:change=move |ev| tenant.set(event_target_value(&ev).parse::<TenantId>().ok())>
                                        {list
                                            .into_iter()
                                            .map(|t| view! { <option value=t.id.to_string()>{format!("{} ({})", t.name, t.subdomain)}</option> })
                                            .collect_view()}
                                    </select>
                                </div>
                            }
                        })
                }}
            </div>
            <FailureAlert failure/>
            {move || notice.get().map(|s| view! { <p class="alert alert-success" role="status">{s}</p> })}
            <Show when=move || !items.with(Vec::is_empty) fallback=move || view! {
                <Show when=move || !loading.get()><p class="empty-inline">"No users match."</p></Show>
            }>
                <div class="table-wrap">
                    <table class="users">
                        <thead>
                            <tr>
                                <th scope="col">"Email"</th>
                                <th scope="col">"Name"</th>
                                <th scope="col">"Role"</th>
                                <th scope="col">"Status"</th>
                                <th scope="col">"Last sign-in"</th>
                                <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                            </tr>
                        </thead>
                        <tbody>
                            <For each=move || items.get() key=move |u| (u.id, u.role, u.is_active, revision.get_untracked()) let:user>
                                <UserRow user actions/>
                            </For>
                        </tbody>
                    </table>
                </div>
            </Show>
            <Show when=move || loading.get()><Loading label="Loading users…"/></Show>
            <Show when=move || next_cursor.with(Option::is_some) && !loading.get()>
                <div class="load-more">
                    <button type="button" class="button-secondary" on:click=move |_| load(next_cursor.get_untracked())>"Load more"</button>
                </div>
            </Show>
        </section>
    }
    .into_any()
}

#[derive(Clone, Copy)]
struct RowActions<F: Fn(UserId, UpdateUserRequest, String) + Copy + Send + Sync + 'static> {
    update: F,
    failure: RwSignal<Option<ApiFailure>>,
    notice: RwSignal<Option<String>>,
}

#[component]
fn UserRow<F>(user: UserView, actions: RowActions<F>) -> impl IntoView
where
    F: Fn(UserId, UpdateUserRequest, String) + Copy + Send + Sync + 'static,
{
    let id = user.id;
    let email = StoredValue::new(user.email.clone());
    let role_id = format!("role-{id}");
    let reset_open = RwSignal::new(false);
    let new_password = RwSignal::new(String::new());
    let reset_failure = RwSignal::new(None::<ApiFailure>);
    let active = user.is_active;
    let name = format!("{} {}", user.first_name, user.last_name).trim().to_owned();

    let change_role = move |ev: leptos::ev::Event| {
        let Ok(role) = event_target_value(&ev).parse::<Role>() else { return };
        let request = UpdateUserRequest { role: Some(role), ..Default::default() };
        (actions.update)(
            id,
            request,
            format!("{} is now {}; their sessions were ended.", email.get_value(), role),
        );
    };
    let toggle_active = move |_| {
        let request = UpdateUserRequest { is_active: Some(!active), ..Default::default() };
        let done = if active { "deactivated; their sessions were ended" } else { "reactivated" };
        (actions.update)(id, request, format!("{} {done}.", email.get_value()));
    };
    let reset = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let request = ResetPasswordRequest { new_password: new_password.get_untracked() };
        reset_failure.set(None);
        spawn_local(async move {
            match api::reset_password(id, &request).await {
                Ok(()) => {
                    reset_open.set(false);
                    new_password.set(String::new());
                    actions.failure.set(None);
                    actions.notice.set(Some(format!(
                        "Password of {} reset; their sessions were ended.",
                        email.try_get_value().unwrap_or_default()
                    )));
                }
                Err(f) => reset_failure.set(Some(f)),
            }
        });
    };
    let field_id = format!("reset-password-{id}");
    let error_id = format!("reset-password-error-{id}");

    view! {
        <tr class:inactive=!active>
            <td>{user.email.clone()} {user.is_system_admin.then(|| view! { <span class="badge">"system admin"</span> })}</td>
            <td>{name}</td>
            <td>
                <label class="visually-hidden" for=role_id.clone()>{format!("Role of {}", user.email)}</label>
                <select id=role_id prop:value=user.role.as_str() on:change=change_role>
                    {ROLES.iter().map(|(r, label)| view! { <option value=r.as_str() selected={*r == user.role}>{*label}</option> }).collect_view()}
                </select>
            </td>
            <td>{if active { "Active" } else { "Deactivated" }}</td>
            <td>{match user.last_login_at { Some(at) => view! { <Time at/> }.into_any(), None => "Never".into_any() }}</td>
            <td class="row-actions">
                <button type="button" class="button-secondary button-small" on:click=toggle_active>
                    {if active { "Deactivate" } else { "Reactivate" }}
                </button>
                <button type="button" class="button-secondary button-small" aria-expanded=move || reset_open.get().to_string()
                    on:click=move |_| reset_open.update(|o| *o = !*o)>
                    "Reset password"
                </button>
                <Show when=move || reset_open.get()>
                    <form class="reset-form" on:submit=reset>
                        <label for=field_id.clone()>"New password"</label>
                        <input id=field_id.clone() type="password" autocomplete="new-password" required minlength="8"
                            aria-describedby=error_id.clone() aria-invalid=invalid(reset_failure, "new_password") bind:value=new_password/>
                        <FieldMessage failure=reset_failure field="new_password" id=error_id.clone()/>
                        {move || reset_failure.with(|f| f.as_ref().filter(|f| f.errors.is_empty()).map(|f| view! { <p class="field-error" role="alert">{f.to_string()}</p> }))}
                        <button type="submit" class="button-primary button-small">"Set password"</button>
                    </form>
                </Show>
            </td>
        </tr>
    }
}

#[component]
fn CreateUser(
    tenant: RwSignal<Option<TenantId>>,
    on_created: impl Fn(UserView) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let auth = use_auth();
    let email = RwSignal::new(String::new());
    let first = RwSignal::new(String::new());
    let last = RwSignal::new(String::new());
    let role = RwSignal::new("user".to_owned());
    let password = RwSignal::new(String::new());
    let failure = RwSignal::new(None::<ApiFailure>);
    let creating = RwSignal::new(false);
    let created = RwSignal::new(None::<String>);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let own = auth.me().map(|m| m.tenant.id);
        let pw = password.get_untracked();
        let request = CreateUserRequest {
            email: email.get_untracked().trim().to_owned(),
            first_name: first.get_untracked().trim().to_owned(),
            last_name: last.get_untracked().trim().to_owned(),
            role: role.get_untracked().parse().unwrap_or(Role::User),
            password: (!pw.is_empty()).then_some(pw),
            tenant_id: tenant.get_untracked().filter(|t| Some(*t) != own),
        };
        creating.set(true);
        failure.set(None);
        created.set(None);
        spawn_local(async move {
            match api::create_user(&request).await {
                Ok(user) => {
                    created.set(Some(format!("User {} created.", user.email)));
                    email.set(String::new());
                    first.set(String::new());
                    last.set(String::new());
                    password.set(String::new());
                    on_created(user);
                }
                Err(f) => failure.set(Some(f)),
            }
            creating.set(false);
        });
    };

    view! {
        <section class="panel" aria-labelledby="create-user-title">
            <h2 id="create-user-title">"Add a user"</h2>
            <form on:submit=submit>
                <FailureAlert failure/>
                {move || created.get().map(|s| view! { <p class="alert alert-success" role="status">{s}</p> })}
                <div class="form-grid">
                    <div class="field">
                        <label for="user-email">"Email"</label>
                        <input id="user-email" type="email" required autocomplete="off"
                            aria-describedby="user-email-error" aria-invalid=invalid(failure, "email") bind:value=email/>
                        <FieldMessage failure field="email" id="user-email-error"/>
                    </div>
                    <div class="field">
                        <label for="user-first-name">"First name"</label>
                        <input id="user-first-name" autocomplete="off" aria-describedby="user-first-name-error"
                            aria-invalid=invalid(failure, "first_name") bind:value=first/>
                        <FieldMessage failure field="first_name" id="user-first-name-error"/>
                    </div>
                    <div class="field">
                        <label for="user-last-name">"Last name"</label>
                        <input id="user-last-name" autocomplete="off" aria-describedby="user-last-name-error"
                            aria-invalid=invalid(failure, "last_name") bind:value=last/>
                        <FieldMessage failure field="last_name" id="user-last-name-error"/>
                    </div>
                    <div class="field">
                        <label for="user-role">"Role"</label>
                        <select id="user-role" aria-describedby="user-role-error"
                            prop:value=move || role.get() on:change=move |ev| role.set(event_target_value(&ev))>
                            {ROLES.iter().map(|(r, label)| view! { <option value=r.as_str()>{*label}</option> }).collect_view()}
                        </select>
                        <FieldMessage failure field="role" id="user-role-error"/>
                    </div>
                    <div class="field">
                        <label for="user-password">"Initial password"</label>
                        <input id="user-password" type="password" autocomplete="new-password" minlength="8"
                            aria-describedby="user-password-hint user-password-error"
                            aria-invalid=invalid(failure, "password") bind:value=password/>
                        <p class="hint" id="user-password-hint">"At least 8 characters. Empty: the user signs in with SSO only."</p>
                        <FieldMessage failure field="password" id="user-password-error"/>
                    </div>
                </div>
                <div class="form-actions">
                    <button type="submit" class="button-primary" disabled=move || creating.get()>"Create user"</button>
                </div>
            </form>
        </section>
    }
}
