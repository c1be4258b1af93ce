//! A tenant admin's single sign-on settings (`/admin/sso`): the identity provider (OpenID
//! Connect or SAML), who may sign in and with which role, what to register at the provider, and
//! a test sign-in whose result comes back as `/admin/sso?test=<code>`.

use domain::sso::{RoleRule, SsoProtocol};
use domain::user::Role;
use domain::wire::{ErrorCode, FieldError, SsoSettingsRequest, SsoSettingsView, SsoSource, SsoTestResult};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};
use wasm_bindgen::JsCast;

use crate::api::{self, ApiFailure};
use crate::auth::use_auth;
use crate::pages::sso_sign_in::explain;
use crate::ui::{ErrorAlert, FieldMessage, Loading, Time, copy_to_clipboard, invalid, set_title};

const ROLES: [(Role, &str); 3] =
    [(Role::Admin, "Administrator"), (Role::User, "User"), (Role::Readonly, "Read-only")];

/// The request fields shown next to their inputs; errors about any other field are listed in
/// the form's alert.
const INLINE_FIELDS: [&str; 13] = [
    "protocol",
    "enabled",
    "issuer",
    "client_id",
    "client_secret",
    "saml_metadata_url",
    "saml_metadata_xml",
    "allowed_domains",
    "default_role",
    "role_claim",
    "role_rules",
    "create_users",
    "password_sign_in",
];

const BREAK_GLASS: &str = "Password sign-in can be closed only while single sign-on is turned on and at least \
     one active administrator has a password: that account is the way in when the identity provider \
     fails. Turn single sign-on on, or give an administrator a password first.";

fn role_label(role: Role) -> &'static str {
    ROLES.iter().find(|(r, _)| *r == role).map_or("", |(_, label)| label)
}

#[component]
pub fn SsoSettingsPage() -> impl IntoView {
    set_title("Single sign-on");
    let auth = use_auth();
    if !auth.is_admin() {
        return view! {
            <h1>"Single sign-on"</h1>
            <ErrorAlert failure=ApiFailure::local("Only administrators manage single sign-on.")/>
        }
        .into_any();
    }
    // A test sign-in just came back: show what it found, and tidy the address (the code is
    // of no use a second time).
    let test_code = use_query_map().with_untracked(|q| q.get("test")).filter(|c| !c.is_empty());
    if test_code.is_some() {
        let navigate = use_navigate();
        spawn_local(async move {
            navigate("/admin/sso", NavigateOptions { replace: true, ..Default::default() });
        });
    }
    let settings = LocalResource::new(api::sso_settings);
    let notice = RwSignal::new(None::<String>);

    view! {
        <div class="page-header"><h1>"Single sign-on"</h1></div>
        <p class="lead">
            "People of your organisation sign in with its identity provider (Microsoft Entra ID, ADFS, \
             Okta, Keycloak…) over OpenID Connect or SAML 2.0."
        </p>
        {test_code.map(|code| view! { <TestResultPanel code/> })}
        {move || notice.get().map(|s| view! { <p class="alert alert-success" role="status" data-testid="sso-saved">{s}</p> })}
        <Transition fallback=|| view! { <Loading label="Loading the single sign-on settings…"/> }>
            {move || {
                settings
                    .get()
                    .map(|result| match result {
                        Err(failure) => view! { <ErrorAlert failure/> }.into_any(),
                        Ok(current) => view! { <SettingsForm current notice on_removed=move || settings.refetch()/> }.into_any(),
                    })
            }}
        </Transition>
    }
    .into_any()
}

/// One editable row of the role mapping.
#[derive(Clone, Copy)]
struct RuleRow {
    key: u32,
    value: RwSignal<String>,
    role: RwSignal<Role>,
}

impl RuleRow {
    fn new(key: u32, rule: Option<&RoleRule>) -> Self {
        Self {
            key,
            value: RwSignal::new(rule.map(|r| r.value.clone()).unwrap_or_default()),
            role: RwSignal::new(rule.map_or(Role::User, |r| r.role)),
        }
    }
}

/// Domains typed one per line or separated by commas.
fn split_domains(raw: &str) -> Vec<String> {
    raw.split([',', '\n', ';', ' ', '\t', '\r'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn text(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// Every editable value of the form.
#[derive(Clone, Copy)]
struct Fields {
    protocol: RwSignal<SsoProtocol>,
    enabled: RwSignal<bool>,
    issuer: RwSignal<String>,
    client_id: RwSignal<String>,
    secret: RwSignal<String>,
    clear_secret: RwSignal<bool>,
    metadata_url: RwSignal<String>,
    metadata_xml: RwSignal<String>,
    domains: RwSignal<String>,
    default_role: RwSignal<Role>,
    role_claim: RwSignal<String>,
    rules: RwSignal<Vec<RuleRow>>,
    next_key: StoredValue<u32>,
    create_users: RwSignal<bool>,
    password_sign_in: RwSignal<bool>,
}

impl Fields {
    fn new(view: &SsoSettingsView) -> Self {
        let fields = Self {
            protocol: RwSignal::new(view.protocol),
            enabled: RwSignal::new(view.enabled),
            issuer: RwSignal::new(String::new()),
            client_id: RwSignal::new(String::new()),
            secret: RwSignal::new(String::new()),
            clear_secret: RwSignal::new(false),
            metadata_url: RwSignal::new(String::new()),
            metadata_xml: RwSignal::new(String::new()),
            domains: RwSignal::new(String::new()),
            default_role: RwSignal::new(view.default_role),
            role_claim: RwSignal::new(String::new()),
            rules: RwSignal::new(Vec::new()),
            next_key: StoredValue::new(0),
            create_users: RwSignal::new(view.create_users),
            password_sign_in: RwSignal::new(view.password_sign_in),
        };
        fields.load(view);
        fields
    }

    /// Shows `view` (after loading or saving: the server's normalised values).
    fn load(self, view: &SsoSettingsView) {
        self.protocol.set(view.protocol);
        self.enabled.set(view.enabled);
        self.issuer.set(view.issuer.clone().unwrap_or_default());
        self.client_id.set(view.client_id.clone().unwrap_or_default());
        self.secret.set(String::new());
        self.clear_secret.set(false);
        self.metadata_url.set(view.saml_metadata_url.clone().unwrap_or_default());
        self.metadata_xml.set(view.saml_metadata_xml.clone().unwrap_or_default());
        self.domains.set(view.allowed_domains.join("\n"));
        self.default_role.set(view.default_role);
        self.role_claim.set(view.role_claim.clone().unwrap_or_default());
        let first = self.next_key.get_value();
        let count = u32::try_from(view.role_rules.len()).unwrap_or(u32::MAX);
        self.next_key.set_value(first.wrapping_add(count));
        self.rules.set(
            view.role_rules.iter().zip(first..).map(|(rule, key)| RuleRow::new(key, Some(rule))).collect(),
        );
        self.create_users.set(view.create_users);
        self.password_sign_in.set(view.password_sign_in);
    }

    fn add_rule(self) -> u32 {
        let key = self.next_key.get_value();
        self.next_key.set_value(key.wrapping_add(1));
        self.rules.update(|rows| rows.push(RuleRow::new(key, None)));
        key
    }

    /// The request, or the fields to correct first.
    fn request(self) -> Result<SsoSettingsRequest, Vec<FieldError>> {
        let mut errors = Vec::new();
        let role_rules = self
            .rules
            .get_untracked()
            .into_iter()
            .enumerate()
            .map(|(i, row)| {
                let value = row.value.get_untracked().trim().to_owned();
                if value.is_empty() {
                    errors.push(FieldError::new(format!("role_rules[{i}].value"), "is required"));
                }
                RoleRule { value, role: row.role.get_untracked() }
            })
            .collect();
        if !errors.is_empty() {
            return Err(errors);
        }
        let clear = self.clear_secret.get_untracked();
        Ok(SsoSettingsRequest {
            protocol: self.protocol.get_untracked(),
            enabled: self.enabled.get_untracked(),
            issuer: text(&self.issuer.get_untracked()),
            client_id: text(&self.client_id.get_untracked()),
            client_secret: if clear { None } else { text(&self.secret.get_untracked()) },
            clear_client_secret: clear,
            saml_metadata_url: text(&self.metadata_url.get_untracked()),
            saml_metadata_xml: text(&self.metadata_xml.get_untracked()),
            allowed_domains: split_domains(&self.domains.get_untracked()),
            default_role: Some(self.default_role.get_untracked()),
            role_claim: text(&self.role_claim.get_untracked()),
            role_rules,
            create_users: self.create_users.get_untracked(),
            password_sign_in: self.password_sign_in.get_untracked(),
        })
    }
}

fn focus(id: &str) {
    let element = document().get_element_by_id(id);
    if let Some(element) = element.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
        let _ = element.focus();
    }
}

#[component]
fn SettingsForm(
    current: SsoSettingsView,
    notice: RwSignal<Option<String>>,
    on_removed: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let fields = Fields::new(&current);
    let view_now = RwSignal::new(current);
    let failure = RwSignal::new(None::<ApiFailure>);
    let saving = RwSignal::new(false);
    // Changed since loaded or saved: the test uses the saved settings.
    let dirty = RwSignal::new(false);
    let testing = RwSignal::new(false);
    let test_failure = RwSignal::new(None::<ApiFailure>);
    let confirming_removal = RwSignal::new(false);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if saving.get_untracked() {
            return;
        }
        notice.set(None);
        let request = match fields.request() {
            Ok(request) => request,
            Err(errors) => {
                failure.set(Some(ApiFailure::invalid(errors)));
                request_animation_frame(|| focus("sso-save-error"));
                return;
            }
        };
        saving.set(true);
        failure.set(None);
        spawn_local(async move {
            match api::update_sso_settings(&request).await {
                Ok(saved) => {
                    fields.load(&saved);
                    view_now.try_set(saved);
                    dirty.try_set(false);
                    notice.try_set(Some("Single sign-on settings saved.".to_owned()));
                }
                Err(f) => {
                    let f = if f.is(ErrorCode::BreakGlassRequired) {
                        ApiFailure { message: BREAK_GLASS.to_owned(), ..f }
                    } else {
                        f
                    };
                    failure.try_set(Some(f));
                    // The alert is at the top of a long form: take the person there.
                    request_animation_frame(|| focus("sso-save-error"));
                }
            }
            saving.try_set(false);
        });
    };

    let start_test = move |_| {
        testing.set(true);
        test_failure.set(None);
        spawn_local(async move {
            let target = api::start_sso_test().await.and_then(|started| {
                api::navigable(&started.authorize_url)
                    .ok_or_else(|| ApiFailure::local("The server gave no usable address for the test."))
            });
            match target {
                // The whole window goes to the identity provider, which sends it back here.
                Ok(url) => {
                    if window().location().assign(&url).is_err() {
                        test_failure.try_set(Some(ApiFailure::local(
                            "The browser refused to open the identity provider.",
                        )));
                        testing.try_set(false);
                    }
                }
                Err(f) => {
                    test_failure.try_set(Some(f));
                    testing.try_set(false);
                }
            }
        });
    };

    let remove = move |_| {
        notice.set(None);
        failure.set(None);
        spawn_local(async move {
            match api::delete_sso_settings().await {
                Ok(()) => {
                    notice.try_set(Some(
                        "The organisation's own settings were removed: the server's default applies, or none."
                            .to_owned(),
                    ));
                    on_removed();
                }
                Err(f) => {
                    let f = if f.is(ErrorCode::BreakGlassRequired) {
                        ApiFailure { message: BREAK_GLASS.to_owned(), ..f }
                    } else {
                        f
                    };
                    failure.try_set(Some(f));
                    confirming_removal.try_set(false);
                }
            }
        });
    };

    let add_rule = move |_| {
        let key = fields.add_rule();
        dirty.set(true);
        request_animation_frame(move || focus(&format!("sso-role-rule-value-{key}")));
    };
    let remove_rule = move |key: u32| {
        fields.rules.update(|rows| rows.retain(|r| r.key != key));
        dirty.set(true);
        request_animation_frame(|| focus("sso-role-rule-add"));
    };

    let is_oidc = move || fields.protocol.get() == SsoProtocol::Oidc;
    let stored_secret = move || view_now.with(|v| v.client_secret.clone());
    let source = move || view_now.with(|v| (v.source, v.updated_at));
    let other_errors = move || {
        failure.with(|f| {
            f.as_ref()
                .map(|f| {
                    f.errors
                        .iter()
                        .filter(|e| {
                            !INLINE_FIELDS.iter().any(|field| {
                                e.field == *field
                                    || e.field.strip_prefix(field).is_some_and(|rest| rest.starts_with('['))
                            })
                        })
                        .cloned()
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    };

    view! {
        <form class="sso-form" aria-label="Single sign-on settings"
            on:submit=submit on:input=move |_| dirty.set(true) on:change=move |_| dirty.set(true)>
            {move || {
                failure
                    .get()
                    .map(|f| {
                        let others = other_errors();
                        view! {
                            <div class="alert alert-error" role="alert" id="sso-save-error" tabindex="-1" data-testid="sso-save-error">
                                <p>{f.to_string()}</p>
                                {(!others.is_empty()).then(|| view! {
                                    <ul>{others.into_iter().map(|e| view! { <li><code>{e.field}</code> ": " {e.message}</li> }).collect_view()}</ul>
                                })}
                            </div>
                        }
                    })
            }}

            <section class="panel" aria-labelledby="sso-provider-title">
                <h2 id="sso-provider-title">"Identity provider"</h2>
                <p class="meta-line sso-source" data-testid="sso-source">
                    {move || {
                        let (source, updated) = source();
                        match source {
                            SsoSource::Tenant => view! {
                                "These are your organisation's own settings"
                                {updated.map(|at| view! { ", last changed " <Time at/> })}
                                "."
                            }
                                .into_any(),
                            SsoSource::SystemDefault => "Your organisation uses the server's default settings. Saving stores settings of its own."
                                .into_any(),
                            SsoSource::None => "Single sign-on is not set up. Fill in your identity provider's details and save."
                                .into_any(),
                        }
                    }}
                </p>
                <fieldset class="choice-group" aria-describedby="sso-protocol-error">
                    <legend>"Protocol"</legend>
                    <div class="field-check">
                        <input id="sso-protocol-oidc" type="radio" name="sso-protocol" value="oidc" data-testid="sso-protocol-oidc"
                            prop:checked=is_oidc on:change=move |_| fields.protocol.set(SsoProtocol::Oidc)/>
                        <label for="sso-protocol-oidc">"OpenID Connect"</label>
                    </div>
                    <div class="field-check">
                        <input id="sso-protocol-saml" type="radio" name="sso-protocol" value="saml" data-testid="sso-protocol-saml"
                            prop:checked=move || !is_oidc() on:change=move |_| fields.protocol.set(SsoProtocol::Saml)/>
                        <label for="sso-protocol-saml">"SAML 2.0"</label>
                    </div>
                    <FieldMessage failure field="protocol" id="sso-protocol-error"/>
                </fieldset>
                <div class="field field-check">
                    <input id="sso-enabled" type="checkbox" data-testid="sso-enabled" aria-describedby="sso-enabled-error" bind:checked=fields.enabled/>
                    <label for="sso-enabled">"People may sign in with the identity provider"</label>
                </div>
                <FieldMessage failure field="enabled" id="sso-enabled-error"/>

                <Show when=is_oidc>
                    <div class="form-grid">
                        <div class="field">
                            <label for="sso-issuer">"Issuer"</label>
                            <input id="sso-issuer" type="url" inputmode="url" autocomplete="off" spellcheck="false" maxlength="2000"
                                data-testid="sso-issuer" placeholder="https://login.microsoftonline.com/<directory id>/v2.0"
                                aria-describedby="sso-issuer-hint sso-issuer-error" aria-invalid=invalid(failure, "issuer")
                                bind:value=fields.issuer/>
                            <p class="hint" id="sso-issuer-hint">"Its discovery document is read from the issuer’s /.well-known/openid-configuration."</p>
                            <FieldMessage failure field="issuer" id="sso-issuer-error"/>
                        </div>
                        <div class="field">
                            <label for="sso-client-id">"Client ID"</label>
                            <input id="sso-client-id" autocomplete="off" spellcheck="false" maxlength="500" data-testid="sso-client-id"
                                aria-describedby="sso-client-id-hint sso-client-id-error" aria-invalid=invalid(failure, "client_id")
                                bind:value=fields.client_id/>
                            <p class="hint" id="sso-client-id-hint">"Entra ID: the application (client) ID."</p>
                            <FieldMessage failure field="client_id" id="sso-client-id-error"/>
                        </div>
                        <div class="field">
                            <label for="sso-client-secret">"Client secret"</label>
                            <input id="sso-client-secret" type="password" autocomplete="new-password" spellcheck="false" maxlength="4000"
                                data-testid="sso-client-secret"
                                aria-describedby="sso-client-secret-hint sso-client-secret-error"
                                aria-invalid=invalid(failure, "client_secret")
                                disabled=move || fields.clear_secret.get() bind:value=fields.secret/>
                            <p class="hint" id="sso-client-secret-hint" data-testid="sso-client-secret-hint">
                                {move || match stored_secret() {
                                    Some(hint) => format!("Stored secret: {hint}. Leave empty to keep it; type a new one to replace it."),
                                    None => "No secret is stored. It is kept encrypted and never shown again.".to_owned(),
                                }}
                            </p>
                            <FieldMessage failure field="client_secret" id="sso-client-secret-error"/>
                        </div>
                        <Show when=move || stored_secret().is_some()>
                            <div class="field field-check">
                                <input id="sso-clear-client-secret" type="checkbox" data-testid="sso-clear-client-secret" bind:checked=fields.clear_secret/>
                                <label for="sso-clear-client-secret">"Remove the stored secret"</label>
                            </div>
                        </Show>
                    </div>
                </Show>

                <Show when=move || !is_oidc()>
                    <div class="field">
                        <label for="sso-saml-metadata-url">"Identity provider metadata URL"</label>
                        <input id="sso-saml-metadata-url" type="url" inputmode="url" autocomplete="off" spellcheck="false" maxlength="2000"
                            data-testid="sso-saml-metadata-url"
                            aria-describedby="sso-saml-metadata-url-hint sso-saml-metadata-url-error"
                            aria-invalid=invalid(failure, "saml_metadata_url") bind:value=fields.metadata_url/>
                        <p class="hint" id="sso-saml-metadata-url-hint">
                            "ADFS: https://<adfs host>/FederationMetadata/2007-06/FederationMetadata.xml. Entra ID: the App Federation Metadata Url."
                        </p>
                        <FieldMessage failure field="saml_metadata_url" id="sso-saml-metadata-url-error"/>
                    </div>
                    <div class="field">
                        <label for="sso-saml-metadata-xml">"…or the metadata XML"</label>
                        <textarea id="sso-saml-metadata-xml" spellcheck="false" rows="8" data-testid="sso-saml-metadata-xml"
                            aria-describedby="sso-saml-metadata-xml-hint sso-saml-metadata-xml-error"
                            aria-invalid=invalid(failure, "saml_metadata_xml")
                            prop:value=move || fields.metadata_xml.get()
                            on:input=move |ev| fields.metadata_xml.set(event_target_value(&ev))></textarea>
                        <p class="hint" id="sso-saml-metadata-xml-hint">"Paste it when this server cannot fetch the URL."</p>
                        <FieldMessage failure field="saml_metadata_xml" id="sso-saml-metadata-xml-error"/>
                    </div>
                </Show>
            </section>

            <ServiceProviderPanel view=view_now/>

            <section class="panel" aria-labelledby="sso-people-title">
                <h2 id="sso-people-title">"Who may sign in, with which role"</h2>
                <div class="form-grid">
                    <div class="field">
                        <label for="sso-allowed-domains">"Allowed email domains"</label>
                        <textarea id="sso-allowed-domains" class="textarea-short" spellcheck="false" rows="3" data-testid="sso-allowed-domains"
                            aria-describedby="sso-allowed-domains-hint sso-allowed-domains-error"
                            aria-invalid=invalid(failure, "allowed_domains")
                            prop:value=move || fields.domains.get()
                            on:input=move |ev| fields.domains.set(event_target_value(&ev))></textarea>
                        <p class="hint" id="sso-allowed-domains-hint">"One per line or separated by commas, e.g. acme.com. Empty: any domain."</p>
                        <FieldMessage failure field="allowed_domains" id="sso-allowed-domains-error"/>
                    </div>
                    <div class="field">
                        <label for="sso-default-role">"Role when no rule matches"</label>
                        <select id="sso-default-role" data-testid="sso-default-role"
                            aria-describedby="sso-default-role-hint sso-default-role-error" aria-invalid=invalid(failure, "default_role")
                            prop:value=move || fields.default_role.get().as_str()
                            on:change=choose_role(fields.default_role)>
                            {role_options(fields.default_role)}
                        </select>
                        <p class="hint" id="sso-default-role-hint">"For accounts created at sign-in, and for everyone when roles come from the provider."</p>
                        <FieldMessage failure field="default_role" id="sso-default-role-error"/>
                    </div>
                    <div class="field">
                        <label for="sso-role-claim">"Claim or attribute with groups or roles"</label>
                        <input id="sso-role-claim" autocomplete="off" spellcheck="false" maxlength="256" placeholder="groups" data-testid="sso-role-claim"
                            aria-describedby="sso-role-claim-hint sso-role-claim-error" aria-invalid=invalid(failure, "role_claim")
                            bind:value=fields.role_claim/>
                        <p class="hint" id="sso-role-claim-hint">"e.g. groups or roles. Empty: roles are not taken from the provider; people keep the role given here."</p>
                        <FieldMessage failure field="role_claim" id="sso-role-claim-error"/>
                    </div>
                </div>

                <h3 id="sso-role-rules-title">"Role rules"</h3>
                <p class="hint" id="sso-role-rules-hint">
                    "Someone whose claim holds the value gets the role; the most privileged match wins, no match gives the role above. \
                     Applied at every sign-in while a claim is set. Values are compared exactly (an Entra group's object ID, an app role, an ADFS group name)."
                </p>
                <Show when=move || !fields.rules.with(Vec::is_empty) fallback=|| view! { <p class="empty-inline">"No rules."</p> }>
                    <div class="table-wrap">
                        <table class="role-rules" aria-labelledby="sso-role-rules-title" aria-describedby="sso-role-rules-hint" data-testid="sso-role-rules">
                            <thead>
                                <tr>
                                    <th scope="col">"Value"</th>
                                    <th scope="col">"Role"</th>
                                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                </tr>
                            </thead>
                            <tbody>
                                <For each=move || fields.rules.get() key=|row| row.key let:row>
                                    <RuleRowView row on_remove=remove_rule/>
                                </For>
                            </tbody>
                        </table>
                    </div>
                </Show>
                <RuleErrors failure rules=fields.rules/>
                <div class="form-actions">
                    <button type="button" id="sso-role-rule-add" class="button-secondary" data-testid="sso-role-rule-add" on:click=add_rule>
                        "Add rule"
                    </button>
                </div>

                <div class="field field-check">
                    <input id="sso-create-users" type="checkbox" data-testid="sso-create-users" aria-describedby="sso-create-users-hint" bind:checked=fields.create_users/>
                    <label for="sso-create-users">"Create accounts at first sign-in"</label>
                </div>
                <p class="hint check-hint" id="sso-create-users-hint">
                    "Within the organisation's user limit. Off: only people already added as users may sign in."
                </p>
                <FieldMessage failure field="create_users" id="sso-create-users-error"/>
                <div class="field field-check">
                    <input id="sso-password-sign-in" type="checkbox" data-testid="sso-password-sign-in" aria-describedby="sso-password-sign-in-hint sso-password-sign-in-error" bind:checked=fields.password_sign_in/>
                    <label for="sso-password-sign-in">"Everyone may also sign in with a password"</label>
                </div>
                <p class="hint check-hint" id="sso-password-sign-in-hint">
                    "Off: only administrators who have a password can use one — the way in when the identity provider fails."
                </p>
                <FieldMessage failure field="password_sign_in" id="sso-password-sign-in-error"/>
            </section>

            <div class="form-actions sso-actions">
                <button type="submit" id="sso-save" class="button-primary" data-testid="sso-save" disabled=move || saving.get()>
                    "Save settings"
                </button>
                <button type="button" id="sso-test" class="button-secondary" data-testid="sso-test" aria-describedby="sso-test-hint"
                    disabled=move || testing.get() || dirty.get() on:click=start_test>
                    "Test configuration"
                </button>
                <Show when=move || saving.get()><span class="hint" role="status">"Saving…"</span></Show>
                <Show when=move || testing.get()><span class="hint" role="status">"Opening the identity provider…"</span></Show>
                {move || {
                    (view_now.with(|v| v.source == SsoSource::Tenant))
                        .then(|| {
                            view! {
                                <span class="danger-zone">
                                    <Show when=move || confirming_removal.get() fallback=move || view! {
                                        <button type="button" class="button-danger" data-testid="sso-delete" on:click=move |_| confirming_removal.set(true)>
                                            "Remove these settings"
                                        </button>
                                    }>
                                        <span class="confirm" role="group" aria-label="Confirm removal">
                                            <span>"Remove the organisation's own settings?"</span>
                                            <button type="button" class="button-danger" data-testid="sso-delete-confirm" on:click=remove>"Yes, remove"</button>
                                            <button type="button" class="button-secondary" data-testid="sso-delete-cancel" on:click=move |_| confirming_removal.set(false)>"Cancel"</button>
                                        </span>
                                    </Show>
                                </span>
                            }
                        })
                }}
            </div>
            <p class="hint" id="sso-test-hint">
                {move || if dirty.get() {
                    "Save your changes first: the test signs in with the saved settings."
                } else {
                    "Signs you in at the identity provider with the saved settings and shows what it sends. Nobody is created or signed in here."
                }}
            </p>
            {move || test_failure.get().map(|f| view! {
                <div class="alert alert-error" role="alert" data-testid="sso-test-error">
                    <p>{f.code.filter(|c| c.name().starts_with("sso_")).map_or_else(|| f.to_string(), |c| explain(Some(c)).text.to_owned())}</p>
                </div>
            })}
        </form>
    }
}

/// The options of a role `<select>` bound to `role`.
fn role_options(role: RwSignal<Role>) -> impl IntoView {
    ROLES
        .iter()
        .map(|(r, label)| view! { <option value=r.as_str() selected=move || role.get_untracked() == *r>{*label}</option> })
        .collect_view()
}

/// A role `<select>`'s change handler: sets `role` to the chosen one.
fn choose_role(role: RwSignal<Role>) -> impl Fn(leptos::ev::Event) + Copy + 'static {
    move |ev| {
        if let Ok(chosen) = event_target_value(&ev).parse::<Role>() {
            role.set(chosen);
        }
    }
}

#[component]
fn RuleRowView(row: RuleRow, on_remove: impl Fn(u32) + Copy + Send + Sync + 'static) -> impl IntoView {
    let k = row.key;
    view! {
        <tr data-testid="sso-role-rule">
            <td>
                <label class="visually-hidden" for=format!("sso-role-rule-value-{k}")>"Claim value"</label>
                <input id=format!("sso-role-rule-value-{k}") maxlength="256" autocomplete="off" spellcheck="false"
                    data-testid="sso-role-rule-value" bind:value=row.value/>
            </td>
            <td>
                <label class="visually-hidden" for=format!("sso-role-rule-role-{k}")>
                    {move || format!("Role for {}", row.value.get())}
                </label>
                <select id=format!("sso-role-rule-role-{k}") data-testid="sso-role-rule-role"
                    prop:value=move || row.role.get().as_str()
                    on:change=choose_role(row.role)>
                    {role_options(row.role)}
                </select>
            </td>
            <td>
                <button type="button" class="button-secondary button-small" data-testid="sso-role-rule-remove"
                    aria-label=move || format!("Remove the rule for {}", row.value.get()) on:click=move |_| on_remove(k)>
                    "Remove"
                </button>
            </td>
        </tr>
    }
}

/// Errors about role rules, with the rule's number (`role_rules[2].value` is rule 3).
#[component]
fn RuleErrors(failure: RwSignal<Option<ApiFailure>>, rules: RwSignal<Vec<RuleRow>>) -> impl IntoView {
    let messages = move || {
        failure.with(|f| {
            f.as_ref()
                .map(|f| {
                    f.errors
                        .iter()
                        .filter_map(|e| {
                            let rest = e.field.strip_prefix("role_rules")?;
                            if rest.is_empty() {
                                return Some(e.message.clone());
                            }
                            let index = rest.strip_prefix('[')?.split(']').next()?.parse::<usize>().ok()?;
                            let value =
                                rules.with_untracked(|rows| rows.get(index).map(|r| r.value.get_untracked()));
                            Some(match value.filter(|v| !v.trim().is_empty()) {
                                Some(v) => format!("Rule {} (“{v}”): {}", index + 1, e.message),
                                None => format!("Rule {}: {}", index + 1, e.message),
                            })
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    };
    move || {
        let messages = messages();
        (!messages.is_empty()).then(|| {
            view! {
                <ul class="field-error rule-errors" id="sso-role-rules-error" data-testid="sso-role-rules-error">
                    {messages.into_iter().map(|m| view! { <li>{m}</li> }).collect_view()}
                </ul>
            }
        })
    }
}

/// A value to register at the identity provider: its label, its element id, how to read it.
type SpValue = (&'static str, &'static str, fn(&SsoSettingsView) -> String);

/// The values to register at the identity provider, each with a copy button.
#[component]
fn ServiceProviderPanel(view: RwSignal<SsoSettingsView>) -> impl IntoView {
    let copied = RwSignal::new(None::<String>);
    let values: [SpValue; 4] = [
        ("Redirect URI (OpenID Connect)", "sso-sp-redirect-uri", |v| v.service_provider.redirect_uri.clone()),
        ("Entity ID / Identifier (SAML)", "sso-sp-entity-id", |v| v.service_provider.saml_entity_id.clone()),
        ("Reply / ACS URL (SAML)", "sso-sp-acs-url", |v| v.service_provider.saml_acs_url.clone()),
        ("SP metadata URL", "sso-sp-metadata-url", |v| v.service_provider.saml_metadata_url.clone()),
    ];
    view! {
        <section class="panel" aria-labelledby="sso-sp-title">
            <h2 id="sso-sp-title">"Register this application at the identity provider"</h2>
            <p class="hint">
                "OpenID Connect: add the redirect URI as a web redirect URI. SAML: use the entity ID and reply URL, \
                 or let the provider import the SP metadata URL."
            </p>
            <div class="sp-values">
                {values
                    .into_iter()
                    .map(|(label, id, read)| {
                        let value = move || view.with(read);
                        let copy = move |_| {
                            let text = view.with_untracked(read);
                            spawn_local(async move {
                                copied.try_set(Some(match copy_to_clipboard(&text).await {
                                    Ok(()) => format!("{label} copied to the clipboard."),
                                    Err(f) => f.to_string(),
                                }));
                            });
                        };
                        view! {
                            <div class="field">
                                <label for=id>{label}</label>
                                <div class="copy-row">
                                    <input id=id readonly class="mono" data-testid=id prop:value=value/>
                                    <button type="button" class="button-secondary button-small" aria-label=format!("Copy: {label}") on:click=copy>
                                        "Copy"
                                    </button>
                                </div>
                            </div>
                        }
                    })
                    .collect_view()}
            </div>
            <p class="hint" role="status">{move || copied.get()}</p>
        </section>
    }
}

/// What a test sign-in found (`GET /api/v1/sso/test/{code}`).
#[component]
fn TestResultPanel(code: String) -> impl IntoView {
    let code = StoredValue::new(code);
    let result = LocalResource::new(move || {
        let code = code.get_value();
        async move { api::sso_test_result(&code).await }
    });
    view! {
        <section class="panel sso-test-result" aria-labelledby="sso-test-title" data-testid="sso-test-result">
            <h2 id="sso-test-title">"Test sign-in"</h2>
            <Transition fallback=|| view! { <Loading label="Reading the test sign-in…"/> }>
                {move || {
                    result
                        .get()
                        .map(|outcome| match outcome {
                            Err(failure) => view! {
                                <div class="alert alert-error" role="alert" data-testid="sso-test-outcome">
                                    <p>{failure.to_string()}</p>
                                </div>
                            }
                                .into_any(),
                            Ok(test) => view! { <TestResultView test/> }.into_any(),
                        })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn TestResultView(test: SsoTestResult) -> impl IntoView {
    let protocol = match test.protocol {
        SsoProtocol::Oidc => "OpenID Connect",
        SsoProtocol::Saml => "SAML 2.0",
    };
    let outcome = match test.outcome {
        None => view! {
            <div class="alert alert-success" role="status" data-testid="sso-test-outcome" data-outcome="success">
                <p><strong>"The test sign-in worked."</strong> " A real sign-in with this account would succeed."</p>
            </div>
        }
        .into_any(),
        Some(code) => {
            let explanation = explain(Some(code));
            let detail = test.detail.clone().filter(|d| !d.is_empty());
            view! {
                <div class="alert alert-error" role="status" data-testid="sso-test-outcome" data-outcome=code.name()>
                    <p><strong>{format!("A real sign-in would fail: {}.", code.title())}</strong></p>
                    {detail.map(|d| view! { <p data-testid="sso-test-detail">{d}</p> })}
                    <p>"People would read: “" {explanation.text} "”"</p>
                    <p class="hint">"Error code: " <code>{code.name()}</code></p>
                </div>
            }
            .into_any()
        }
    };
    let role = match test.mapped_role {
        Some(role) => role_label(role).to_owned(),
        None => "No mapping: existing users keep their role; new ones get the default role.".to_owned(),
    };
    let none = || "—".to_owned();
    let claims = test.claims;
    view! {
        {outcome}
        <dl class="facts">
            <div><dt>"Protocol"</dt><dd>{protocol}</dd></div>
            <div><dt>"Subject"</dt><dd class="mono" data-testid="sso-test-subject">{test.subject.unwrap_or_else(none)}</dd></div>
            <div><dt>"Email"</dt><dd data-testid="sso-test-email">{test.email.unwrap_or_else(none)}</dd></div>
            <div><dt>"Role"</dt><dd data-testid="sso-test-role">{role}</dd></div>
            <div>
                <dt>"Account"</dt>
                <dd data-testid="sso-test-existing-user" data-existing=test.existing_user.to_string()>
                    {if test.existing_user { "Already in the organisation" } else { "Not in the organisation yet" }}
                </dd>
            </div>
            <div><dt>"Tested"</dt><dd><Time at=test.tested_at/></dd></div>
        </dl>
        <h3 id="sso-test-claims-title">"Claims and attributes sent"</h3>
        {if claims.is_empty() {
            view! { <p class="empty-inline" data-testid="sso-test-claims">"The provider sent none."</p> }.into_any()
        } else {
            view! {
                <div class="table-wrap">
                    <table class="claims" aria-labelledby="sso-test-claims-title" data-testid="sso-test-claims">
                        <thead>
                            <tr><th scope="col">"Name"</th><th scope="col">"Values"</th></tr>
                        </thead>
                        <tbody>
                            {claims
                                .into_iter()
                                .map(|(name, values)| {
                                    let shown = name.clone();
                                    view! {
                                    <tr data-testid="sso-test-claim" data-claim=name>
                                        <th scope="row"><code>{shown}</code></th>
                                        <td>
                                            <ul class="claim-values">
                                                {values.into_iter().map(|v| view! { <li><code>{v}</code></li> }).collect_view()}
                                            </ul>
                                        </td>
                                    </tr>
                                    }
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                </div>
            }
            .into_any()
        }}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_split_on_commas_and_lines() {
        assert_eq!(
            split_domains(" acme.com,\nexample.org\r\n\n, beta.test "),
            ["acme.com", "example.org", "beta.test"]
        );
        assert!(split_domains(" \n, ").is_empty());
    }
}
