//! The REST API over plain HTTP, for what the browser tests set up or check behind the web app's
//! back: seeding a realistic library, creating users, changing a prompt while someone edits it,
//! and proving that the server refuses what the UI hides.

use std::time::Duration;

use serde_json::{Value, json};

/// The seeded system administrator of a server in local development mode.
pub const ADMIN_EMAIL: &str = "admin@localhost";
pub const ADMIN_PASSWORD: &str = "admin123";
pub const TENANT: &str = "localhost";

/// A signed-in API client: `base` is the server (`http://127.0.0.1:PORT`).
pub struct Api {
    http: reqwest::Client,
    base: String,
    pub token: String,
}

impl Api {
    /// Signs in as `email` over `POST /api/v1/auth/login`.
    pub async fn login(base: &str, email: &str, password: &str) -> Self {
        let http = client();
        let body = json!({ "tenant": TENANT, "email": email, "password": password });
        let response = http.post(format!("{base}/api/v1/auth/login")).json(&body).send().await.unwrap();
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or_default();
        assert_eq!(status, 200, "signing in as {email}: {answer}");
        let token = answer["token"].as_str().expect("a session token").to_owned();
        Self { http, base: base.to_owned(), token }
    }

    pub async fn admin(base: &str) -> Self {
        Self::login(base, ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Another client for the same server using `token` (a session token or an API token).
    pub fn with_token(&self, token: &str) -> Self {
        Self { http: self.http.clone(), base: self.base.clone(), token: token.to_owned() }
    }

    /// Sends `method path` with the bearer token (and `body` as JSON); returns the status and
    /// the JSON answer (`Null` when there is none).
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request =
            self.http.request(method.clone(), format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }

    /// Creates a prompt (`body` as `POST /api/v1/prompts` takes it) and returns it.
    pub async fn create_prompt(&self, body: Value) -> Value {
        let (status, prompt) = self.post("/api/v1/prompts", body).await;
        assert_eq!(status, 201, "creating a prompt: {prompt}");
        prompt
    }

    /// Creates a user in the caller's tenant with a password; returns the user.
    pub async fn create_user(
        &self,
        email: &str,
        first: &str,
        last: &str,
        role: &str,
        password: &str,
    ) -> Value {
        let body = json!({
            "email": email, "first_name": first, "last_name": last, "role": role, "password": password,
        });
        let (status, user) = self.post("/api/v1/users", body).await;
        assert_eq!(status, 201, "creating {email}: {user}");
        user
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

/// A library worth looking at: prompts in several categories, with tags, `{{variables}}`, an
/// enhancement prompt and a private one, from two people. Returns the prompts, in order.
pub async fn seed_library(admin: &Api) -> Vec<Value> {
    let mut prompts = Vec::new();
    for prompt in [
        json!({
            "name": "support/welcome",
            "title": "Welcome a new customer",
            "category": "Customer support",
            "tags": ["onboarding", "email"],
            "content": "Hello {{customer}},\n\nWelcome to {{product}}! Your account is ready. \
                        Reply to this email if anything is unclear.\n\nBest regards,\n{{agent}}",
        }),
        json!({
            "name": "support/refund-reply",
            "title": "Reply to a refund request",
            "category": "Customer support",
            "tags": ["refunds", "email"],
            "content": "Write a friendly reply to {{customer}} about order {{order_id}}. \
                        Explain that the refund of {{amount}} is on its way and takes 3–5 working days.",
        }),
        json!({
            "name": "marketing/product-launch",
            "title": "Product launch announcement",
            "category": "Marketing",
            "tags": ["launch", "social"],
            "content": "Draft a short announcement of {{product}} for {{channel}}. Lead with the \
                        customer benefit, keep it under 80 words and end with a call to action.",
        }),
        json!({
            "name": "writing/clarity",
            "title": "Make a prompt clearer",
            "category": "Writing",
            "tags": ["editing"],
            "is_enhancement_prompt": true,
            "content": "Rewrite the prompt below so it is specific, names the audience and the \
                        expected format, and removes ambiguity.\n\n{{prompt}}",
        }),
    ] {
        prompts.push(admin.create_prompt(prompt).await);
    }

    // A colleague with prompts of her own, one of them private.
    admin.create_user("lin.chen@example.com", "Lin", "Chen", "user", "lin-secret-42").await;
    let lin = Api::login(&admin.base, "lin.chen@example.com", "lin-secret-42").await;
    for prompt in [
        json!({
            "name": "engineering/code-review",
            "title": "Review a pull request",
            "category": "Engineering",
            "tags": ["code-review", "quality"],
            "content": "You are a senior {{language}} engineer. Review the diff below for bugs, \
                        security problems and unclear names. List findings by severity.\n\n{{diff}}",
        }),
        json!({
            "name": "engineering/incident-summary",
            "title": "Summarise an incident",
            "category": "Engineering",
            "tags": ["incident", "postmortem"],
            "content": "Summarise the incident timeline below for {{audience}}: impact, root cause, \
                        fix and follow-ups, in at most five bullet points.\n\n{{timeline}}",
        }),
        json!({
            "name": "sales-notes",
            "title": "Sales follow-up (draft)",
            "category": "Sales",
            "tags": ["email"],
            "visibility": "private",
            "content": "Follow up with {{contact}} after the demo of {{product}} on {{date}}.",
        }),
    ] {
        prompts.push(lin.create_prompt(prompt).await);
    }
    prompts
}
