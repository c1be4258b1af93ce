//! The signed-in person's profile (names) and password.

use domain::wire::{ChangePasswordRequest, FieldError, UpdateProfileRequest};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiFailure};
use crate::auth::use_auth;
use crate::ui::{FailureAlert, FieldMessage, Time, invalid, set_title};

#[component]
pub fn ProfilePage() -> impl IntoView {
    set_title("Profile");
    let auth = use_auth();
    let me = auth.me();
    let first = RwSignal::new(me.as_ref().map(|m| m.user.first_name.clone()).unwrap_or_default());
    let last = RwSignal::new(me.as_ref().map(|m| m.user.last_name.clone()).unwrap_or_default());
    let failure = RwSignal::new(None::<ApiFailure>);
    let saved = RwSignal::new(None::<String>);
    let saving = RwSignal::new(false);

    let save_profile = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let request = UpdateProfileRequest {
            first_name: Some(first.get_untracked().trim().to_owned()),
            last_name: Some(last.get_untracked().trim().to_owned()),
        };
        saving.set(true);
        failure.set(None);
        saved.set(None);
        spawn_local(async move {
            match api::update_me(&request).await {
                Ok(me) => {
                    first.set(me.user.first_name.clone());
                    last.set(me.user.last_name.clone());
                    auth.set_me(me);
                    saved.set(Some("Profile saved.".to_owned()));
                }
                Err(f) => failure.set(Some(f)),
            }
            saving.set(false);
        });
    };

    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let pw_failure = RwSignal::new(None::<ApiFailure>);
    let pw_saved = RwSignal::new(None::<String>);
    let pw_saving = RwSignal::new(false);

    let change_password = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        pw_saved.set(None);
        if new.get_untracked() != confirm.get_untracked() {
            let mismatch = FieldError::new("confirm_password", "does not match the new password");
            pw_failure.set(Some(ApiFailure::invalid(vec![mismatch])));
            return;
        }
        let request = ChangePasswordRequest {
            current_password: current.get_untracked(),
            new_password: new.get_untracked(),
        };
        pw_saving.set(true);
        pw_failure.set(None);
        spawn_local(async move {
            match api::change_password(&request).await {
                Ok(()) => {
                    current.set(String::new());
                    new.set(String::new());
                    confirm.set(String::new());
                    pw_saved
                        .set(Some("Password changed. Your other sessions have been signed out.".to_owned()));
                }
                Err(f) => pw_failure.set(Some(f)),
            }
            pw_saving.set(false);
        });
    };

    view! {
        <div class="page-header"><h1>"Profile"</h1></div>
        {me.map(|me| view! {
            <dl class="facts">
                <div><dt>"Email"</dt><dd>{me.user.email}</dd></div>
                <div><dt>"Organisation"</dt><dd>{me.tenant.name} " (" {me.tenant.subdomain} ")"</dd></div>
                <div><dt>"Role"</dt><dd>{me.user.role.as_str()} {me.user.is_system_admin.then_some(" · system administrator")}</dd></div>
                <div><dt>"Member since"</dt><dd><Time at=me.user.created_at/></dd></div>
            </dl>
        })}
        <section class="panel" aria-labelledby="names-title">
            <h2 id="names-title">"Your name"</h2>
            <form on:submit=save_profile>
                <FailureAlert failure/>
                {move || saved.get().map(|s| view! { <p class="alert alert-success" role="status">{s}</p> })}
                <div class="form-grid">
                    <div class="field">
                        <label for="profile-first-name">"First name"</label>
                        <input id="profile-first-name" autocomplete="given-name" maxlength="100"
                            aria-describedby="profile-first-name-error" aria-invalid=invalid(failure, "first_name") bind:value=first/>
                        <FieldMessage failure field="first_name" id="profile-first-name-error"/>
                    </div>
                    <div class="field">
                        <label for="profile-last-name">"Last name"</label>
                        <input id="profile-last-name" autocomplete="family-name" maxlength="100"
                            aria-describedby="profile-last-name-error" aria-invalid=invalid(failure, "last_name") bind:value=last/>
                        <FieldMessage failure field="last_name" id="profile-last-name-error"/>
                    </div>
                </div>
                <div class="form-actions">
                    <button type="submit" class="button-primary" disabled=move || saving.get()>"Save profile"</button>
                </div>
            </form>
        </section>
        <section class="panel" aria-labelledby="password-title">
            <h2 id="password-title">"Password"</h2>
            <form on:submit=change_password>
                <FailureAlert failure=pw_failure/>
                {move || pw_saved.get().map(|s| view! { <p class="alert alert-success" role="status">{s}</p> })}
                <div class="form-grid">
                    <div class="field">
                        <label for="current-password">"Current password"</label>
                        <input id="current-password" type="password" autocomplete="current-password" required
                            aria-describedby="current-password-error" aria-invalid=invalid(pw_failure, "current_password") bind:value=current/>
                        <FieldMessage failure=pw_failure field="current_password" id="current-password-error"/>
                    </div>
                    <div class="field">
                        <label for="new-password">"New password"</label>
                        <input id="new-password" type="password" autocomplete="new-password" required minlength="8"
                            aria-describedby="new-password-hint new-password-error" aria-invalid=invalid(pw_failure, "new_password") bind:value=new/>
                        <p class="hint" id="new-password-hint">"At least 8 characters."</p>
                        <FieldMessage failure=pw_failure field="new_password" id="new-password-error"/>
                    </div>
                    <div class="field">
                        <label for="confirm-password">"Repeat the new password"</label>
                        <input id="confirm-password" type="password" autocomplete="new-password" required
                            aria-describedby="confirm-password-error" aria-invalid=invalid(pw_failure, "confirm_password") bind:value=confirm/>
                        <FieldMessage failure=pw_failure field="confirm_password" id="confirm-password-error"/>
                    </div>
                </div>
                <div class="form-actions">
                    <button type="submit" class="button-primary" disabled=move || pw_saving.get()>"Change password"</button>
                </div>
            </form>
        </section>
    }
}
