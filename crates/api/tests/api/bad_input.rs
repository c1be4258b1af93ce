//! Hostile input of every kind gets a 4xx `application/problem+json` with a stable code: never
//! a 5xx, a panic or an unbounded answer. Bodies over the limit (with and without a length),
//! JSON nested 100,000 deep, invalid UTF-8, NUL characters, the wrong media type, garbage in
//! paths and queries, absurd limits and cursors on every list, hostile searches and the render
//! bomb. (Only bytes the HTTP parser cannot read get its bare 400 or 431.)

use std::io::{Read as _, Write as _};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::user::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Backend, Spawn, TestApp, expect_problem, on_both_databases, spawn};

on_both_databases!(
    garbage_in_paths_and_queries_is_a_client_problem,
    absurd_limits_and_cursors_are_refused_on_every_list,
    hostile_search_strings_are_searched_or_refused_never_failed,
    the_render_bomb_is_refused_before_it_is_built,
    nul_bytes_in_json_strings_are_stored_or_refused_never_failed,
);

struct Setup {
    app: TestApp,
    /// A system administrator (lists tenants, and any tenant's users and audit events).
    root: String,
    /// A tenant administrator of `acme`.
    admin: String,
    /// The id of a prompt of `acme` that has two versions.
    prompt: String,
}

async fn setup(backend: Backend) -> Setup {
    let app = spawn(Spawn { backend, ..Spawn::default() }).await;
    let system = app.tenant("localhost").await;
    let root_user = app.user(&system, "root@localhost", Role::Admin, "pw-root-123").await;
    let acme = app.tenant("acme").await;
    let admin_user = app.user(&acme, "admin@acme.test", Role::Admin, "pw-admin-12").await;
    app.user(&acme, "ann@acme.test", Role::User, "pw-ann-1234").await;
    let root = app.session_token(&system, &root_user).await;
    let admin = app.session_token(&acme, &admin_user).await;
    let created = app
        .call(
            Method::POST,
            "/api/v1/prompts",
            Some(&admin),
            Some(json!({"name": "mail", "content": "Hello {{name}}"})),
        )
        .await;
    assert_eq!(created.status(), 201);
    let prompt = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let edit = json!({"content": "Hi {{name}}", "version": 1});
    let edited =
        app.call(Method::PATCH, &format!("/api/v1/prompts/{prompt}"), Some(&admin), Some(edit)).await;
    assert_eq!(edited.status(), 200);
    Setup { app, root, admin, prompt }
}

/// Asserts a 4xx problem document with a snake_case code and returns the code.
async fn client_problem(response: reqwest::Response, what: &str) -> String {
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    let body = response.text().await.unwrap();
    assert!((400..500).contains(&status), "{what}: {status} {body}");
    assert_eq!(content_type.as_deref(), Some("application/problem+json"), "{what}: {status} {body}");
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["status"], status, "{what}");
    let code = problem["code"].as_str().unwrap().to_owned();
    assert!(!code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{what}: {code}");
    code
}

async fn get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.get_as(path, token).await
}

/// A body sent as it is, with this content type.
async fn post_bytes(
    app: &TestApp,
    path: &str,
    token: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut request = app.client.post(format!("{}{path}", app.address)).bearer_auth(token);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.body(body).send().await.unwrap()
}

/// A response read off a raw connection.
struct Raw {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// Writes `head` and then `body` (ignoring a server that stops reading early) on a fresh
/// connection, and reads the response until the server closes it.
async fn raw(app: &TestApp, head: Vec<u8>, body: Vec<u8>) -> Raw {
    let addr = app.address.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
        stream.write_all(&head).unwrap();
        for piece in body.chunks(64 * 1024) {
            if stream.write_all(piece).is_err() {
                break;
            }
        }
        let mut answer = Vec::new();
        let mut buf = [0_u8; 64 * 1024];
        // A server that answers before reading the whole body may reset the connection
        // after its answer: keep what arrived.
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
        }
        let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
        let head = String::from_utf8_lossy(&answer[..split]).into_owned();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let content_type = head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map(|(_, value)| value.trim().to_owned());
        Raw { status, content_type, body: answer[split + 4..].to_vec() }
    })
    .await
    .unwrap()
}

fn raw_code(response: &Raw, what: &str) -> String {
    let body = String::from_utf8_lossy(&response.body);
    assert!((400..500).contains(&response.status), "{what}: {} {body}", response.status);
    assert_eq!(response.content_type.as_deref(), Some("application/problem+json"), "{what}: {body}");
    let problem: Value = serde_json::from_slice(&response.body).unwrap();
    problem["code"].as_str().unwrap().to_owned()
}

/// Oversized bodies are 413 `payload_too_large`: announced by Content-Length, or chunked with no
/// length at all (read only up to the limit), on ordinary endpoints and on the import.
#[tokio::test]
async fn oversized_bodies_are_413() {
    let Setup { app, admin, .. } = setup(Backend::Sqlite).await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let big = serde_json::to_vec(&json!({"name": "big", "content": "x".repeat(2 * 1024 * 1024)})).unwrap();

    let response = post_bytes(&app, "/api/v1/prompts", &admin, Some("application/json"), big.clone()).await;
    assert_eq!(client_problem(response, "known length").await, "payload_too_large");

    let head = |path: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {admin}\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        .into_bytes()
    };
    let chunked = |payload: &[u8]| {
        let mut body = Vec::new();
        for piece in payload.chunks(8 * 1024) {
            body.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            body.extend_from_slice(piece);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"0\r\n\r\n");
        body
    };
    let response = raw(&app, head("/api/v1/prompts"), chunked(&big)).await;
    assert_eq!(raw_code(&response, "chunked"), "payload_too_large");

    // The import takes 64 MiB, not more.
    let mut file = br#"{"format":"x","prompts":[],"pad":""#.to_vec();
    file.resize(65 * 1024 * 1024, b'x');
    file.extend_from_slice(br#""}"#);
    let response = raw(&app, head("/api/v1/imports/prompts"), chunked(&file)).await;
    assert_eq!(raw_code(&response, "chunked import"), "payload_too_large");

    // The server is still there.
    assert_eq!(get(&app, "/api/v1/prompts", &admin).await.status(), 200);
}

/// Bodies that are not JSON of the expected shape are 400 `invalid_json`; bodies of another
/// media type are 415 `unsupported_media_type`.
#[tokio::test]
async fn malformed_bodies_are_400_and_other_media_types_415() {
    let Setup { app, admin, prompt, .. } = setup(Backend::Sqlite).await;
    let deep_arrays = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_objects = format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000));
    let deep_in_a_field =
        format!(r#"{{"name":"deep","content":"x","tags":{}{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
    let deep_variables =
        format!(r#"{{"variables":{{"name":{}"x"{}}}}}"#, r#"{"a":"#.repeat(100_000), "}".repeat(100_000));
    let render = format!("/api/v1/prompts/{prompt}/render");
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("arrays 100,000 deep", "/api/v1/prompts", deep_arrays.clone().into_bytes()),
        ("objects 100,000 deep", "/api/v1/prompts", deep_objects.clone().into_bytes()),
        ("nested inside a field", "/api/v1/prompts", deep_in_a_field.into_bytes()),
        ("nested inside variables", &render, deep_variables.into_bytes()),
        ("import nested", "/api/v1/imports/prompts", deep_objects.into_bytes()),
        (
            "invalid UTF-8 in a string",
            "/api/v1/prompts",
            b"{\"name\":\"a\xff\xfe\",\"content\":\"x\"}".to_vec(),
        ),
        ("invalid UTF-8 outside strings", "/api/v1/prompts", b"\xff\xfe{}".to_vec()),
        ("a lone surrogate", "/api/v1/prompts", br#"{"name":"a","content":"\ud800"}"#.to_vec()),
        ("truncated", "/api/v1/prompts", br#"{"name":"a","content":"#.to_vec()),
        ("empty", "/api/v1/prompts", Vec::new()),
        ("not an object", "/api/v1/prompts", b"\"prompt\"".to_vec()),
        ("NUL bytes", "/api/v1/prompts", b"{\"name\":\"a\0\"}\0\0".to_vec()),
        ("a sign-in", "/api/v1/auth/login", deep_arrays.into_bytes()),
    ];
    for (what, path, body) in cases {
        let response = post_bytes(&app, path, &admin, Some("application/json"), body).await;
        assert_eq!(client_problem(response, what).await, "invalid_json", "{what}");
    }

    let valid = serde_json::to_vec(&json!({"name": "typed", "content": "x"})).unwrap();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/xml"),
        Some("garbage;;;=="),
        None,
    ] {
        let response = post_bytes(&app, "/api/v1/prompts", &admin, content_type, valid.clone()).await;
        let what = format!("content type {content_type:?}");
        assert_eq!(client_problem(response, &what).await, "unsupported_media_type", "{what}");
    }
    // Nothing of all that was stored.
    let list: Value = get(&app, "/api/v1/prompts", &admin).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

/// Invalid UTF-8 and broken percent-encoding in paths and query strings, malformed ids and
/// duplicate query keys: 4xx problems everywhere.
async fn garbage_in_paths_and_queries_is_a_client_problem(backend: Backend) {
    let Setup { app, admin, root, .. } = setup(backend).await;
    let not_found = [
        "/api/v1/prompts/%FF%FE",
        "/api/v1/prompts/%C3%28",
        "/api/v1/prompts/%00",
        "/api/v1/prompts/a%00b",
        "/api/v1/prompts/%",
        "/api/v1/prompts/%zz",
        "/api/v1/prompts/%ED%A0%80",
        "/api/v1/prompts/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/prompts/%FF/versions",
        "/api/v1/prompts/%FF/runs",
        "/api/v1/prompts/%00/render",
        "/api/v1/%FF%FE",
        "/api/v1/prompts/mail/versions/1/%FF",
    ];
    for path in not_found {
        let code = client_problem(get(&app, path, &admin).await, path).await;
        assert!(["not_found", "validation_failed"].contains(&code.as_str()), "{path}: {code}");
    }
    let malformed = [
        "/api/v1/users/%FF%FE",
        "/api/v1/users/not-a-uuid",
        "/api/v1/users/%00",
        "/api/v1/tenants/%FF",
        "/api/v1/runs/00000000-0000-0000-0000-00000000000%FF",
        "/api/v1/ai/connections/%C3%28",
        "/api/v1/prompts/mail/versions/%FF",
        "/api/v1/prompts/mail/versions/-1",
        "/api/v1/prompts/mail/versions/99999999999999999999999",
    ];
    for path in malformed {
        let token = if path.contains("tenants") { &root } else { &admin };
        let code = client_problem(get(&app, path, token).await, path).await;
        assert_eq!(code, "validation_failed", "{path}");
    }
    let queries = [
        "/api/v1/prompts?limit=%FF",
        "/api/v1/prompts?limit=1&limit=2",
        "/api/v1/prompts?q=a&q=b",
        "/api/v1/prompts?enhancement=%FF",
        "/api/v1/prompts?sort=%00",
        "/api/v1/prompts?owner=%FF%FE",
        "/api/v1/prompts?tag=%C3%28",
        "/api/v1/users?role=%FF",
        "/api/v1/users?active=yes",
        "/api/v1/users?tenant_id=%FF",
        "/api/v1/audit-events?from=%FF",
        "/api/v1/audit-events?actor=%00",
        "/api/v1/audit-events?action=%FF%FE",
        "/api/v1/audit-events/export?to=yesterday",
        "/api/v1/exports/prompts?enhancement=2",
        "/api/v1/prompts/mail/diff?from=%FF&to=1",
    ];
    for path in queries {
        let code = client_problem(get(&app, path, &admin).await, path).await;
        assert_eq!(code, "validation_failed", "{path}");
    }
    // Garbage that decodes to some string is just a string: searched, matched by nothing.
    for path in [
        "/api/v1/prompts?q=%FF%FE",
        "/api/v1/prompts?q=%",
        "/api/v1/prompts?q=%zz%",
        "/api/v1/prompts?category=%FF%C3%28",
        "/api/v1/prompts?%FF=%FE",
        "/api/v1/prompts?&&&==&",
        "/api/v1/users?q=%ED%A0%80",
    ] {
        let response = get(&app, path, &admin).await;
        assert_eq!(response.status(), 200, "{path}");
        let list: Value = response.json().await.unwrap();
        assert!(list["items"].is_array(), "{path}");
    }
}

/// Absurd `limit`s and `cursor`s on every list: 422 `validation_failed` naming the field.
async fn absurd_limits_and_cursors_are_refused_on_every_list(backend: Backend) {
    let Setup { app, admin, root, prompt, .. } = setup(backend).await;
    let lists = [
        ("/api/v1/prompts", &admin),
        ("/api/v1/users", &admin),
        ("/api/v1/tenants", &root),
        ("/api/v1/audit-events", &admin),
        (&*format!("/api/v1/prompts/{prompt}/versions"), &admin),
        (&*format!("/api/v1/prompts/{prompt}/runs"), &admin),
    ]
    .map(|(path, token)| (path.to_owned(), token.clone()));
    let u64_plus_one = "18446744073709551616";
    for (list, token) in &lists {
        for limit in ["0", "-1", "1e99", u64_plus_one, "abc", "", "1.5", "%00", "0x10", "99999"] {
            let path = format!("{list}?limit={limit}");
            let body = expect_problem(get(&app, &path, token).await, 422, "validation_failed").await;
            // A limit that is not a number at all fails while the query is read ("query").
            let field = body["errors"][0]["field"].as_str().unwrap().to_owned();
            assert!(["limit", "query"].contains(&field.as_str()), "{path}: {body}");
        }
    }

    // Real cursors of each list, to hand to the others (runs has none: nothing ran).
    let second = json!({"name": "zz", "content": "x"});
    assert_eq!(app.call(Method::POST, "/api/v1/prompts", Some(&admin), Some(second)).await.status(), 201);
    let mut cursors = Vec::new();
    for (list, token) in &lists {
        let page: Value = get(&app, &format!("{list}?limit=1"), token).await.json().await.unwrap();
        if let Some(cursor) = page["next_cursor"].as_str() {
            cursors.push((list.clone(), cursor.to_owned()));
        }
    }
    assert_eq!(cursors.len(), 5, "every list but runs has a second page: {cursors:?}");

    let garbage_json = [
        json!({"l": "users", "k": "not-a-uuid"}),
        json!({"l": "users"}),
        json!({"l": "prompts", "k": {"deep": [[[[[[[[[[1]]]]]]]]]]}}),
        json!([1, 2, 3]),
        json!("cursor"),
        json!({"l": "audit_events", "k": u64::MAX}),
        json!({"l": "runs", "k": null}),
    ];
    let deep = URL_SAFE_NO_PAD.encode(format!(r#"{{"l":"users","k":{}"#, "[".repeat(1_000)));
    let binary: String = (0_u8..=255).map(|b| format!("%{b:02X}")).collect();
    let mut hostile = vec![
        "A".repeat(2_049),
        "A".repeat(20_000),
        binary,
        "%00%00%00".to_owned(),
        URL_SAFE_NO_PAD.encode((0_u8..=255).collect::<Vec<_>>()),
        URL_SAFE_NO_PAD.encode("not json at all"),
        deep,
        "====".to_owned(),
        "eyJsIjoidXNlcnMiLCJrIjoi".to_owned(),
    ];
    hostile.extend(garbage_json.iter().map(|v| URL_SAFE_NO_PAD.encode(v.to_string())));
    for (list, token) in &lists {
        let mut these = hostile.clone();
        // Every other list's cursor.
        these.extend(cursors.iter().filter(|(from, _)| from != list).map(|(_, c)| c.clone()));
        for cursor in these {
            let path = format!("{list}?cursor={cursor}");
            let body = expect_problem(get(&app, &path, token).await, 422, "validation_failed").await;
            assert_eq!(body["errors"][0]["field"], "cursor", "{path}");
        }
    }
    // A prompts cursor of one sort order is refused by another.
    let by_name: Value = get(&app, "/api/v1/prompts?limit=1&sort=name", &admin).await.json().await.unwrap();
    let cursor = by_name["next_cursor"].as_str().unwrap();
    let path = format!("/api/v1/prompts?sort=created&cursor={cursor}");
    let body = expect_problem(get(&app, &path, &admin).await, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "cursor");
    // A cursor carries no authority: another tenant's admin who presents acme's cursors sees
    // nothing of acme.
    let other = app.tenant("other").await;
    let stranger = app.user(&other, "s@other.test", Role::Admin, "pw-other-12").await;
    let stranger = app.session_token(&other, &stranger).await;
    for (list, cursor) in &cursors {
        if list.contains("/tenants") {
            continue;
        }
        let response = get(&app, &format!("{list}?cursor={cursor}"), &stranger).await;
        let status = response.status().as_u16();
        if status == 200 {
            let page: Value = response.json().await.unwrap();
            let text = page.to_string();
            assert!(!text.contains("acme.test") && !text.contains(&prompt), "{list}: {text}");
        } else {
            client_problem(response, list).await;
        }
    }
}

/// Search strings of any length and shape are searched (or refused with a 422), never a 5xx:
/// 10,000 characters, 2,000 words, quotes, stars, NUL bytes and SQL, in every filter.
async fn hostile_search_strings_are_searched_or_refused_never_failed(backend: Backend) {
    let Setup { app, admin, root, .. } = setup(backend).await;
    let long = "a".repeat(10_000);
    let words = (0..2_000).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ");
    let hostile = [
        long.as_str(),
        words.as_str(),
        "\"",
        "\"\"\"",
        "*",
        "a*",
        "* OR *",
        "NEAR(a b)",
        "a AND NOT b",
        "\0",
        "mail\0",
        "%",
        "_",
        "\\",
        "'; DROP TABLE prompts; --",
        "' OR '1'='1",
        "a:b",
        "^mail",
        "{mail}",
        "( ) ( (",
        "\u{202e}\u{200b}\u{feff}",
        "𝔪𝔞𝔦𝔩 🙂",
    ];
    let searches = [
        ("/api/v1/prompts", "q", &admin),
        ("/api/v1/prompts", "category", &admin),
        ("/api/v1/prompts", "tag", &admin),
        ("/api/v1/exports/prompts", "q", &admin),
        ("/api/v1/users", "q", &admin),
        ("/api/v1/tenants", "q", &root),
        ("/api/v1/audit-events", "target_type", &admin),
        ("/api/v1/audit-events", "target_id", &admin),
        ("/api/v1/audit-events/export", "target_id", &admin),
    ];
    let mut refused = 0;
    for (list, key, token) in searches {
        for value in hostile {
            let url =
                reqwest::Url::parse_with_params(&format!("{}{list}", app.address), [(key, value)]).unwrap();
            let response = app.client.get(url).bearer_auth(token).send().await.unwrap();
            let shown: String = value.chars().take(40).collect();
            let what = format!("{list}?{key}={shown:?}");
            if response.status() == 200 {
                // A whole answer, not an error midway through a stream.
                response.bytes().await.unwrap();
            } else {
                assert_eq!(client_problem(response, &what).await, "validation_failed", "{what}");
                refused += 1;
            }
        }
    }
    // Most of them are simply searches that match nothing.
    assert!(refused < searches.len() * hostile.len() / 2, "{refused} refused");
    // A quote or a star matches nothing special; a word of the prompt still finds it.
    let found: Value = get(&app, "/api/v1/prompts?q=%22mail%22%20*", &admin).await.json().await.unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 1, "{found}");
    // The tables are all still there.
    let list: Value = get(&app, "/api/v1/prompts", &admin).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

/// 19,000 `{{a}}` with a 100 KB value would render 1.9 GB: refused with a 422 before it is
/// built, for a render and a token count; the server then answers as before.
async fn the_render_bomb_is_refused_before_it_is_built(backend: Backend) {
    let Setup { app, admin, .. } = setup(backend).await;
    let bomb = json!({"name": "bomb", "content": "{{a}}".repeat(19_000)});
    let created = app.call(Method::POST, "/api/v1/prompts", Some(&admin), Some(bomb)).await;
    assert_eq!(created.status(), 201);
    let values = json!({"variables": {"a": "v".repeat(100_000)}, "model": "gpt-4o"});
    for path in ["/api/v1/prompts/bomb/render", "/api/v1/prompts/bomb/tokens"] {
        let response = app.call(Method::POST, path, Some(&admin), Some(values.clone())).await;
        let body = expect_problem(response, 422, "validation_failed").await;
        assert!(body.to_string().len() < 10_000, "{path}: the refusal is short");
    }
    // Many at once change nothing.
    let attacks = (0..8)
        .map(|_| app.call(Method::POST, "/api/v1/prompts/bomb/render", Some(&admin), Some(values.clone())));
    for response in futures_util::future::join_all(attacks).await {
        expect_problem(response, 422, "validation_failed").await;
    }
    let small = json!({"variables": {"a": "v"}});
    let rendered = app.call(Method::POST, "/api/v1/prompts/bomb/render", Some(&admin), Some(small)).await;
    assert_eq!(rendered.status(), 200);
    let rendered: Value = rendered.json().await.unwrap();
    assert_eq!(rendered["text"].as_str().unwrap().len(), 19_000);
}

/// `\u0000` inside JSON strings, in every kind of write: stored (as on SQLite) or refused with
/// a 4xx, never a 5xx (PostgreSQL refuses NUL in text and JSON columns).
async fn nul_bytes_in_json_strings_are_stored_or_refused_never_failed(backend: Backend) {
    let Setup { app, admin, root, prompt, .. } = setup(backend).await;
    let nul = "a\u{0}b";
    let writes = [
        (Method::POST, "/api/v1/prompts".to_owned(), json!({"name": "n1", "content": nul})),
        (Method::POST, "/api/v1/prompts".to_owned(), json!({"name": "n2", "content": "x", "title": nul})),
        (Method::POST, "/api/v1/prompts".to_owned(), json!({"name": nul, "content": "x"})),
        (Method::POST, "/api/v1/prompts".to_owned(), json!({"name": "n3", "content": "x", "tags": [nul]})),
        (Method::POST, "/api/v1/prompts".to_owned(), json!({"name": "n4", "content": "x", "category": nul})),
        (
            Method::POST,
            "/api/v1/prompts".to_owned(),
            json!({"name": "n5", "content": "x", "commit_message": nul}),
        ),
        (Method::PATCH, format!("/api/v1/prompts/{prompt}"), json!({"content": nul, "version": 2})),
        (Method::POST, format!("/api/v1/prompts/{prompt}/render"), json!({"variables": {"name": nul}})),
        (
            Method::POST,
            "/api/v1/imports/prompts".to_owned(),
            json!({"format": "prompt-manager/prompts@1", "prompts": [{"name": "n6", "content": nul}]}),
        ),
        (Method::PATCH, "/api/v1/auth/me".to_owned(), json!({"first_name": nul})),
        (
            Method::POST,
            "/api/v1/users".to_owned(),
            json!({"email": "nul@acme.test", "first_name": nul, "last_name": "x", "role": "user", "password": "pw-nul-123456"}),
        ),
        (Method::POST, "/api/v1/users".to_owned(), json!({"email": "a\u{0}@acme.test", "role": "user"})),
        (Method::POST, "/api/v1/tokens".to_owned(), json!({"name": nul, "scope": "read"})),
        (
            Method::POST,
            "/api/v1/ai/connections".to_owned(),
            json!({"name": nul, "provider": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"}),
        ),
    ];
    for (method, path, body) in writes {
        let what = format!("{method} {path} {body}");
        let response = app.call(method, &path, Some(&admin), Some(body)).await;
        if !response.status().is_success() {
            client_problem(response, &what).await;
        }
    }
    let tenant = json!({"name": nul, "subdomain": "nul"});
    let response = app.call(Method::POST, "/api/v1/tenants", Some(&root), Some(tenant)).await;
    if !response.status().is_success() {
        client_problem(response, "tenant name").await;
    }
    // Sign-ins are audited with what was typed, even when nobody is signed in.
    for body in [
        json!({"tenant": "acme", "email": "a\u{0}@acme.test", "password": "x"}),
        json!({"tenant": nul, "email": "admin@acme.test", "password": "x"}),
        json!({"tenant": "acme", "email": "admin@acme.test", "password": nul}),
    ] {
        let response = app.call(Method::POST, "/api/v1/auth/login", None, Some(body.clone())).await;
        client_problem(response, &body.to_string()).await;
    }
}

/// Bytes no URL may hold (raw non-ASCII, control characters) and request lines past the
/// HTTP parser's buffer are refused by the HTTP layer itself, before any route runs: a bare
/// 400 or 431 (no problem document: the request never became a request), and the server goes
/// on serving.
#[tokio::test]
async fn requests_that_are_not_http_are_refused_by_the_parser() {
    let Setup { app, admin, .. } = setup(Backend::Sqlite).await;
    let host = app.address.trim_start_matches("http://").to_owned();
    for target in [
        b"/api/v1/prompts/\xff\xfe".to_vec(),
        b"/api/v1/prompts?q=\xff\xfe".to_vec(),
        b"/api/v1/prompts?cursor=\x01\x02".to_vec(),
        b"/api/v1/prompts?q=a\x00b".to_vec(),
        format!("/api/v1/prompts?cursor={}", "A".repeat(100_000)).into_bytes(),
        format!("/api/v1/prompts?cursor={}", "A".repeat(1_000_000)).into_bytes(),
    ] {
        let mut head = b"GET ".to_vec();
        head.extend_from_slice(&target);
        head.extend_from_slice(
            format!(
                " HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {admin}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        let response = raw(&app, head, Vec::new()).await;
        let shown: String = String::from_utf8_lossy(&target).chars().take(40).collect();
        assert!([400, 431].contains(&response.status), "{shown}: {}", response.status);
    }
    assert_eq!(get(&app, "/api/v1/prompts", &admin).await.status(), 200);
}
