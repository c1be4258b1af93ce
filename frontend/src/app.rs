//! The app shell: routes, the signed-in layout (top bar, main navigation, user menu) and the
//! guard that sends signed-out visitors to the sign-in page with their place remembered.

use leptos::prelude::*;
use leptos_router::components::{A, Outlet, ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::hooks::use_navigate;
use leptos_router::{NavigateOptions, path};

use crate::auth::{Auth, use_auth};
use crate::pages;
use crate::pages::approvals::{PendingCount, pending_count};
use crate::ui::{ErrorAlert, Loading};

#[component]
pub fn App() -> impl IntoView {
    Auth::provide();
    view! {
        <Router>
            <a class="skip-link" href="#main">"Skip to content"</a>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view=pages::login::LoginPage/>
                <Route path=path!("/login/sso") view=pages::sso_sign_in::SsoCallbackPage/>
                <Route path=path!("/login/sso-error") view=pages::sso_sign_in::SsoErrorPage/>
                <ParentRoute path=path!("") view=Shell>
                    <Route path=path!("") view=|| view! { <Redirect path="/prompts"/> }/>
                    <Route path=path!("prompts") view=pages::library::PromptLibrary/>
                    <Route path=path!("prompts/new") view=pages::editor::NewPromptPage/>
                    <Route path=path!("prompts/:id") view=pages::editor::PromptPage/>
                    <Route path=path!("prompts/:id/history") view=pages::history::HistoryPage/>
                    <Route path=path!("import-export") view=pages::transfer::ImportExportPage/>
                    <Route path=path!("profile") view=pages::profile::ProfilePage/>
                    <Route path=path!("tokens") view=pages::tokens::TokensPage/>
                    <Route path=path!("settings/ai") view=pages::ai_settings::AiSettingsPage/>
                    <Route path=path!("admin/users") view=pages::users::UsersPage/>
                    <Route path=path!("admin/tenants") view=pages::tenants::TenantsPage/>
                    <Route path=path!("admin/audit") view=pages::audit::AuditPage/>
                    <Route path=path!("admin/analytics") view=pages::analytics::AnalyticsPage/>
                    <Route path=path!("admin/sso") view=pages::sso_settings::SsoSettingsPage/>
                    <Route path=path!("admin/releases") view=pages::release_settings::ReleaseSettingsPage/>
                    <Route path=path!("admin/webhooks") view=pages::webhooks::WebhooksPage/>
                    <Route path=path!("admin/webhooks/:id") view=pages::webhooks::WebhookPage/>
                    <Route path=path!("approvals") view=pages::approvals::ApprovalsPage/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// Every page but sign-in: only for signed-in people.
#[component]
fn Shell() -> impl IntoView {
    let auth = use_auth();
    let navigate = use_navigate();
    // Signed out (or the session ended): to the sign-in page, remembering the place.
    Effect::new(move || {
        if auth.ready() && !auth.signed_in() {
            let location = window().location();
            let here = format!(
                "{}{}",
                location.pathname().unwrap_or_default(),
                location.search().unwrap_or_default()
            );
            let target = if auth.signed_out_by_user() || here == "/" {
                "/login".to_owned()
            } else {
                format!("/login?next={}", js_sys::encode_uri_component(&here))
            };
            navigate(&target, NavigateOptions { replace: true, ..Default::default() });
        }
    });
    move || {
        if !auth.ready() {
            return view! { <main id="main" class="page"><Loading label="Starting…"/></main> }.into_any();
        }
        if !auth.signed_in() {
            return view! { <main id="main" class="page"><Loading label="Redirecting to sign in…"/></main> }
                .into_any();
        }
        // Counted anew for each person signed in.
        PendingCount::provide();
        view! {
            <TopBar/>
            <main id="main" class="page" tabindex="-1">
                <ErrorBoundary fallback=|errors| {
                    view! {
                        <div class="alert alert-error" role="alert">
                            <p>"Something went wrong on this page."</p>
                            <ul>
                                {move || {
                                    errors
                                        .get()
                                        .into_iter()
                                        .map(|(_, e)| view! { <li>{e.to_string()}</li> })
                                        .collect_view()
                                }}
                            </ul>
                        </div>
                    }
                }>
                    <Outlet/>
                </ErrorBoundary>
            </main>
        }
        .into_any()
    }
}

#[component]
fn TopBar() -> impl IntoView {
    let auth = use_auth();
    let name = move || {
        auth.me()
            .map(|me| {
                let full = format!("{} {}", me.user.first_name, me.user.last_name).trim().to_owned();
                if full.is_empty() { me.user.email } else { full }
            })
            .unwrap_or_default()
    };
    let tenant = move || auth.me().map(|me| me.tenant.name).unwrap_or_default();
    let role = move || auth.role().map(|r| r.as_str()).unwrap_or_default();
    let counter = pending_count();
    let pending = move || {
        counter.and_then(PendingCount::text).map(|n| {
            view! {
                " " <span class="badge badge-count" data-testid="nav-pending">{n}</span>
                <span class="visually-hidden">" waiting"</span>
            }
        })
    };
    view! {
        <header class="topbar">
            <a class="brand" href="/prompts">"AI Prompt Manager"</a>
            <nav aria-label="Main" class="main-nav">
                <A href="/prompts" exact=false>"Prompts"</A>
                <A href="/import-export">"Import/Export"</A>
                <A href="/settings/ai">"AI settings"</A>
                <A href="/approvals" attr:data-testid="nav-approvals">"Approvals" {pending}</A>
                <Show when=move || auth.is_admin()>
                    <A href="/admin/users">"Users"</A>
                    <A href="/admin/audit">"Audit log"</A>
                    <A href="/admin/analytics">"Analytics"</A>
                    <A href="/admin/sso" attr:data-testid="nav-sso">"Single sign-on"</A>
                    <A href="/admin/releases" attr:data-testid="nav-releases">"Release labels"</A>
                    <A href="/admin/webhooks" attr:data-testid="nav-webhooks">"Webhooks"</A>
                </Show>
                <Show when=move || auth.is_system_admin()>
                    <A href="/admin/tenants">"Tenants"</A>
                </Show>
            </nav>
            <div class="user-menu" role="group" aria-label="User menu">
                <A href="/profile" attr:class="who" attr:title="Your profile">
                    <span class="who-name">{name}</span>
                    <span class="who-meta">{tenant} " · " {role}</span>
                </A>
                <A href="/tokens">"API tokens"</A>
                <button type="button" class="button-secondary" on:click=move |_| auth.sign_out()>
                    "Sign out"
                </button>
            </div>
        </header>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    crate::ui::set_title("Not found");
    view! {
        <main id="main" class="page narrow">
            <h1>"Page not found"</h1>
            <ErrorAlert failure=crate::api::ApiFailure::local("There is no page at this address.")/>
            <p><a href="/prompts">"Go to the prompt library"</a></p>
        </main>
    }
}
