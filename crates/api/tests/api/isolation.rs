//! Tenant isolation as a property: random sequences of prompt operations by users of several
//! tenants (sharing prompt names across tenants), after which no response may contain another
//! tenant's data, and no response to a plain user may contain a colleague's private prompt.
//!
//! proptest generates the sequences; the server is async, so each case runs on the test's
//! runtime and a failure prints the sequence that produced it.

use std::collections::HashSet;

use domain::user::Role;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::json;

use crate::support::{Backend, Spawn, TestApp, on_both_databases, spawn};

on_both_databases!(random_operations_never_show_another_tenants_data);

const TENANTS: usize = 3;
/// Per tenant: an admin, two users and a read-only user.
const ROLES: [Role; 4] = [Role::Admin, Role::User, Role::User, Role::Readonly];
const NAMES: usize = 4;
const CASES: u32 = 6;

#[derive(Debug, Clone)]
enum Op {
    Create {
        name: usize,
        private: bool,
    },
    Get {
        name: usize,
    },
    /// By id, any tenant's prompt created so far.
    GetById {
        slot: usize,
    },
    Update {
        name: usize,
    },
    Delete {
        name: usize,
    },
    Search {
        word: usize,
    },
    List,
    Versions {
        name: usize,
    },
    Render {
        name: usize,
    },
    Tags,
    Export,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..NAMES, any::<bool>()).prop_map(|(name, private)| Op::Create { name, private }),
        2 => (0..NAMES).prop_map(|name| Op::Get { name }),
        2 => (0..64usize).prop_map(|slot| Op::GetById { slot }),
        2 => (0..NAMES).prop_map(|name| Op::Update { name }),
        1 => (0..NAMES).prop_map(|name| Op::Delete { name }),
        2 => (0..3usize).prop_map(|word| Op::Search { word }),
        1 => Just(Op::List),
        1 => (0..NAMES).prop_map(|name| Op::Versions { name }),
        1 => (0..NAMES).prop_map(|name| Op::Render { name }),
        1 => Just(Op::Tags),
        1 => Just(Op::Export),
    ]
}

/// (tenant, user, operation) steps.
fn steps() -> impl Strategy<Value = Vec<(usize, usize, Op)>> {
    proptest::collection::vec((0..TENANTS, 0..ROLES.len(), op()), 10..40)
}

struct Actor {
    role: Role,
    token: String,
    /// Appears in every prompt this actor writes while it is private.
    private_marker: String,
}

async fn random_operations_never_show_another_tenants_data(backend: Backend) {
    let app = spawn(Spawn { backend, ..Spawn::default() }).await;
    let mut runner = TestRunner::new(Config { cases: CASES, ..Config::default() });
    let strategy = steps();
    for case in 0..CASES {
        let sequence = strategy.new_tree(&mut runner).unwrap().current();
        run_case(&app, case, &sequence).await;
    }
}

async fn run_case(app: &TestApp, case: u32, sequence: &[(usize, usize, Op)]) {
    let mut actors: Vec<Vec<Actor>> = Vec::new();
    let mut tenant_markers = Vec::new();
    for t in 0..TENANTS {
        let tenant = app.tenant(&format!("case{case}-t{t}")).await;
        let mut people = Vec::new();
        for (u, role) in ROLES.iter().enumerate() {
            let user = app.user(&tenant, &format!("u{u}@t{t}.test"), *role, "pw-isolation-1").await;
            let token = app.session_token(&tenant, &user).await;
            people.push(Actor { role: *role, token, private_marker: format!("private{case}x{t}x{u}") });
        }
        actors.push(people);
        tenant_markers.push(format!("tenantmark{case}x{t}"));
    }
    // Every prompt id ever created, with its tenant.
    let mut created: Vec<(usize, String)> = Vec::new();
    let mut seen_ids: Vec<HashSet<String>> = vec![HashSet::new(); TENANTS];

    for (step, (t, u, op)) in sequence.iter().enumerate() {
        let actor = &actors[*t][*u];
        let marker = &tenant_markers[*t];
        let name = |n: &usize| format!("shared/p{n}");
        let path = |n: &usize| format!("/api/v1/prompts/shared%2Fp{n}");
        let (method, url, body) = match op {
            Op::Create { name: n, private } => {
                let content = if *private {
                    format!("{marker} {} common words {{{{v}}}}", actor.private_marker)
                } else {
                    format!("{marker} common words {{{{v}}}}")
                };
                let visibility = if *private { "private" } else { "tenant" };
                let body = json!({ "name": name(n), "content": content, "tags": [marker], "category": marker, "visibility": visibility });
                (Method::POST, "/api/v1/prompts".to_owned(), Some(body))
            }
            Op::Get { name: n } => (Method::GET, path(n), None),
            Op::GetById { slot } => match created.get(slot % created.len().max(1)) {
                Some((_, id)) => (Method::GET, format!("/api/v1/prompts/{id}"), None),
                None => (Method::GET, "/api/v1/prompts".to_owned(), None),
            },
            // Overwrite with `If-Match: *`: changes go to whatever the caller can see.
            Op::Update { name: n } => {
                (Method::PATCH, path(n), Some(json!({ "content": format!("{marker} edited {{{{v}}}}") })))
            }
            Op::Delete { name: n } => (Method::DELETE, path(n), None),
            Op::Search { word } => {
                let q = ["common", "words", "edited"][*word];
                (Method::GET, format!("/api/v1/prompts?q={q}&limit=100"), None)
            }
            Op::List => (Method::GET, "/api/v1/prompts?limit=100".to_owned(), None),
            Op::Versions { name: n } => (Method::GET, format!("{}/versions", path(n)), None),
            Op::Render { name: n } => {
                (Method::POST, format!("{}/render", path(n)), Some(json!({ "variables": { "v": "x" } })))
            }
            Op::Tags => (Method::GET, "/api/v1/tags".to_owned(), None),
            Op::Export => (Method::GET, "/api/v1/exports/prompts".to_owned(), None),
        };
        let mut request =
            app.client.request(method.clone(), format!("{}{url}", app.address)).bearer_auth(&actor.token);
        if method == Method::PATCH {
            request = request.header("if-match", "*");
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let context = || {
            format!(
                "case {case} step {step} {op:?} by tenant {t} user {u} ({:?}) → {status}: {text}\nsequence: {sequence:?}",
                actor.role
            )
        };
        assert!(status < 500, "{}", context());

        for (other, other_marker) in tenant_markers.iter().enumerate() {
            if other != *t {
                assert!(!text.contains(other_marker.as_str()), "another tenant's text leaked: {}", context());
            }
        }
        for (other, ids) in seen_ids.iter().enumerate() {
            if other != *t {
                for id in ids {
                    assert!(!text.contains(id.as_str()), "another tenant's prompt id leaked: {}", context());
                }
            }
        }
        if actor.role != Role::Admin {
            for colleague in &actors[*t] {
                if colleague.private_marker != actor.private_marker {
                    assert!(
                        !text.contains(&colleague.private_marker),
                        "a colleague's private prompt leaked: {}",
                        context()
                    );
                }
            }
        }
        if let Op::GetById { slot } = op
            && let Some((owner_tenant, _)) = created.get(slot % created.len().max(1))
            && *owner_tenant != *t
        {
            assert_eq!(status, 404, "{}", context());
        }
        if matches!(op, Op::Create { .. }) && status == 201 {
            let body: serde_json::Value = serde_json::from_str(&text).unwrap();
            let id = body["id"].as_str().unwrap().to_owned();
            seen_ids[*t].insert(id.clone());
            created.push((*t, id));
        }
    }
}
