//! Walks every route of the OpenAPI document: each has exactly one access rule, and each rule
//! holds in real requests for every kind of caller.

use api::access::RULES;
use domain::access::{Caller, Denial, Via};
use domain::session::TokenScope;
use domain::user::Role;
use reqwest::Method;

use crate::support::{Backend, Spawn, TestApp, on_both_databases, spawn};

on_both_databases!(every_route_enforces_its_rule_for_every_kind_of_caller);

#[test]
fn every_documented_route_has_exactly_one_rule_and_every_rule_a_route() {
    let document = serde_json::to_value(api::openapi::document()).unwrap();
    let mut documented = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    for (method, path) in &documented {
        let rules = RULES.iter().filter(|(m, p, _)| m == method && p == path).count();
        assert_eq!(rules, 1, "{method} {path} must have exactly one rule in api::access::RULES");
    }
    for (method, path, _) in RULES {
        assert!(
            documented.iter().any(|(m, p)| m == method && p == path),
            "the rule for {method} {path} names no documented route"
        );
    }
}

/// The kinds of caller the rules must tell apart.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Anonymous,
    Readonly,
    User,
    Admin,
    OtherTenantAdmin,
    SystemAdmin,
    ReadToken,
    AdminReadToken,
}

impl Kind {
    const ALL: [Kind; 8] = [
        Kind::Anonymous,
        Kind::Readonly,
        Kind::User,
        Kind::Admin,
        Kind::OtherTenantAdmin,
        Kind::SystemAdmin,
        Kind::ReadToken,
        Kind::AdminReadToken,
    ];

    fn caller(self) -> Option<Caller> {
        let session = |role, is_system_admin| Some(Caller { role, is_system_admin, via: Via::Session });
        let token =
            |role| Some(Caller { role, is_system_admin: false, via: Via::ApiToken(TokenScope::Read) });
        match self {
            Kind::Anonymous => None,
            Kind::Readonly => session(Role::Readonly, false),
            Kind::User => session(Role::User, false),
            Kind::Admin | Kind::OtherTenantAdmin => session(Role::Admin, false),
            Kind::SystemAdmin => session(Role::Admin, true),
            Kind::ReadToken => token(Role::User),
            Kind::AdminReadToken => token(Role::Admin),
        }
    }
}

struct People {
    acme: domain::tenant::Tenant,
    globex: domain::tenant::Tenant,
    system: domain::tenant::Tenant,
    readonly: domain::user::User,
    user: domain::user::User,
    admin: domain::user::User,
    other_admin: domain::user::User,
    root: domain::user::User,
}

impl People {
    async fn new(app: &TestApp) -> Self {
        let acme = app.tenant("acme").await;
        let globex = app.tenant("globex").await;
        let system = app.tenant("localhost").await;
        Self {
            readonly: app.user(&acme, "readonly@acme.test", Role::Readonly, "pw-readonly").await,
            user: app.user(&acme, "user@acme.test", Role::User, "pw-user-123").await,
            admin: app.user(&acme, "admin@acme.test", Role::Admin, "pw-admin-12").await,
            other_admin: app.user(&globex, "admin@globex.test", Role::Admin, "pw-admin-34").await,
            root: app.user(&system, "root@localhost", Role::Admin, "pw-root-123").await,
            acme,
            globex,
            system,
        }
    }

    /// A fresh credential per request, since some routes (logout) end the one they get.
    async fn credential(&self, app: &TestApp, kind: Kind) -> Option<String> {
        Some(match kind {
            Kind::Anonymous => return None,
            Kind::Readonly => app.session_token(&self.acme, &self.readonly).await,
            Kind::User => app.session_token(&self.acme, &self.user).await,
            Kind::Admin => app.session_token(&self.acme, &self.admin).await,
            Kind::OtherTenantAdmin => app.session_token(&self.globex, &self.other_admin).await,
            Kind::SystemAdmin => app.session_token(&self.system, &self.root).await,
            Kind::ReadToken => app.api_token(&self.acme, &self.user, TokenScope::Read).await,
            Kind::AdminReadToken => app.api_token(&self.acme, &self.admin, TokenScope::Read).await,
        })
    }
}

async fn every_route_enforces_its_rule_for_every_kind_of_caller(backend: Backend) {
    let app = spawn(Spawn { backend, ..Spawn::default() }).await;
    let people = People::new(&app).await;
    let mut checked = 0;
    for (method, pattern, policy) in RULES {
        // Path parameters get an id that exists nowhere: a permitted caller then sees 404.
        let path = pattern
            .replace("{id}", &uuid::Uuid::new_v4().to_string())
            .replace("{prompt}", &uuid::Uuid::new_v4().to_string())
            .replace("{version}", "1");
        let method: Method = method.parse().unwrap();
        let body =
            matches!(method, Method::POST | Method::PUT | Method::PATCH).then(|| serde_json::json!({}));
        for kind in Kind::ALL {
            let credential = people.credential(&app, kind).await;
            let response = app.call(method.clone(), &path, credential.as_deref(), body.clone()).await;
            let status = response.status().as_u16();
            let context = format!("{method} {pattern} as {kind:?} ({policy:?}) answered {status}");
            match policy.check(kind.caller().as_ref()) {
                Ok(()) => assert!(![401, 403].contains(&status), "{context}: expected access"),
                Err(Denial::Unauthenticated) => assert_eq!(status, 401, "{context}"),
                Err(Denial::Forbidden) => assert_eq!(status, 403, "{context}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, RULES.len() * Kind::ALL.len());
}
