//! The Model Context Protocol server at `/mcp` (Streamable HTTP, stateless, JSON answers).
//!
//! The caller's prompts are MCP prompts: `prompts/list` gives each with the arguments of its
//! variable contract, `prompts/get` renders one (`name@label` for a release label's version).
//! Tools search, fetch, create and update prompts. [`crate::access::enforce`] authenticates
//! every request first (a session or an API token, see `PROTOCOL_RULES`), and every call goes
//! through the same service functions as REST, so private prompts and other tenants stay
//! invisible exactly as there; writes need a read-write credential.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::{HttpRequest, web};
use chrono::Utc;
use domain::ai::ChatRole;
use domain::bundle::{VariableSpec, VariableType};
use domain::prompt::PromptSort;
use domain::wire::{CreatePromptRequest, ErrorCode, FieldError, UpdatePromptRequest};
use persistence::PromptFilter;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Extensions,
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, Implementation, InitializeResult, JsonObject,
    ListPromptsResult, ListToolsResult, PaginatedRequestParams, Prompt as McpPrompt, PromptArgument,
    PromptMessage, Role, ServerCapabilities, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use rmcp_actix_web::transport::{StreamableHttpService, on_request_extensions};
use serde_json::{Value, json};

use crate::access::Principal;
use crate::admin::Acting;
use crate::error::ApiError;
use crate::paging::next_cursor;
use crate::releases::{self, Pick};
use crate::routes::{self, prompts, prompts::viewer};
use crate::state::AppState;
use crate::{bundles, startup};

/// Prompts per `prompts/list` page, and the most a `search_prompts` call returns.
const PAGE: u64 = 100;
const MAX_SEARCH_RESULTS: u64 = 50;
const LIST: &str = "mcp-prompts";

/// The `/mcp` scope to mount on the app.
pub fn scope() -> actix_web::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    StreamableHttpService::builder()
        .service_factory(Arc::new(|| Ok(PromptServer)))
        .session_manager(Arc::new(LocalSessionManager::default()))
        // One request, one answer: no session state to lose between instances.
        .stateful_mode(false)
        .json_response(true)
        .max_request_body_bytes(startup::JSON_BODY_LIMIT)
        // Every request carries a bearer credential, which a DNS-rebinding page cannot send.
        .allowed_hosts(Vec::new())
        .on_request_fn(carry_caller)
        .build()
        .scope_with_path("/mcp")
}

/// Hands the authenticated caller, who they act as for the audit log, and the app state to the
/// MCP handler.
fn carry_caller(req: &HttpRequest, extensions: &mut Extensions) {
    let Some(state) = req.app_data::<web::Data<AppState>>() else { return };
    if let Some(principal) = actix_web::HttpMessage::extensions(req).get::<Principal>().cloned() {
        let acting = routes::acting(state, req, &principal);
        extensions.insert(Caller { acting, principal, state: state.clone() });
    }
}

#[derive(Clone)]
struct Caller {
    state: web::Data<AppState>,
    principal: Principal,
    acting: Acting,
}

fn caller(context: &RequestContext<RoleServer>) -> Result<Caller, McpError> {
    on_request_extensions(&context.extensions)
        .and_then(|extensions| extensions.get::<Caller>())
        .cloned()
        .ok_or_else(|| McpError::internal_error("the request carries no authenticated caller", None))
}

#[derive(Clone, Copy)]
struct PromptServer;

impl ServerHandler for PromptServer {
    fn get_info(&self) -> InitializeResult {
        let capabilities = ServerCapabilities::builder().enable_prompts().enable_tools().build();
        let mut info = InitializeResult::new(capabilities).with_instructions(
            "The prompts of your AI Prompt Manager library. Get a prompt as `name` (its newest \
             version) or `name@label` (the version a release label such as production names).",
        );
        info.server_info = Implementation::new("ai-prompt-manager", env!("CARGO_PKG_VERSION"));
        info
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let caller = caller(&context)?;
        let cursor = request.and_then(|r| r.cursor);
        let query = crate::paging::PageQuery { limit: Some(PAGE), cursor };
        let list = async {
            let page = ApiError::check(|errors| {
                query.parse(LIST, crate::paging::PageSize { default: PAGE, max: PAGE }, errors)
            })?;
            let repo = caller.state.db.tenant(caller.principal.scope());
            let viewer = viewer(&caller.principal);
            let filter = PromptFilter::default();
            Ok(repo
                .search_prompts(&viewer, &filter, PromptSort::Name, page.after.as_ref(), page.limit)
                .await?)
        };
        let found = list.await.map_err(protocol_error)?;
        let mut result = ListPromptsResult::with_all_items(found.items.iter().map(mcp_prompt).collect());
        result.next_cursor = next_cursor(LIST, found.next_cursor);
        Ok(result)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let caller = caller(&context)?;
        let (name, label) = match request.name.split_once('@') {
            Some((name, label)) => (name, Some(label)),
            None => (request.name.as_str(), None),
        };
        // Strings as a rule; some clients send JSON values.
        let values: BTreeMap<String, Value> = request.arguments.unwrap_or_default().into_iter().collect();
        let rendered = async {
            let pick = ApiError::check(|errors| Pick::parse(label, None, errors))?;
            let prompt = served(&caller, name, &pick, None).await?;
            let version = bundles::version_of(&caller.state, &caller.principal, &prompt, None).await?;
            let values = typed(&prompt.bundle.contract, values);
            let rendered =
                bundles::render(&caller.state, &caller.principal, &version, &values, false).await?;
            Ok::<_, ApiError>((prompt, rendered))
        };
        let (prompt, rendered) = rendered.await.map_err(protocol_error)?;
        // MCP knows users and assistants only: system messages go to the model as the user's.
        let messages = rendered
            .messages
            .iter()
            .map(|m| {
                let role = if m.role == ChatRole::Assistant { Role::Assistant } else { Role::User };
                PromptMessage::new_text(role, m.content.clone())
            })
            .collect();
        let description = format!("{} (version {})", prompt.title, prompt.version);
        Ok(GetPromptResponse::Complete(GetPromptResult::new(messages).with_description(description)))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let caller = caller(&context)?;
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let outcome = match request.name.as_ref() {
            "search_prompts" => search(&caller, arguments).await,
            "get_prompt" => fetch(&caller, arguments).await,
            "create_prompt" => create(&caller, arguments).await,
            "update_prompt" => update(&caller, arguments).await,
            other => return Err(McpError::invalid_params(format!("no tool {other:?}"), None)),
        };
        Ok(CallToolResponse::Complete(match outcome {
            Ok(answer) => {
                let text = serde_json::to_string(&answer)
                    .map_err(|e| McpError::internal_error(e.to_string(), None))?;
                let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
                result.structured_content = Some(answer);
                result
            }
            Err(err) => tool_error(&err),
        }))
    }
}

/// An MCP prompt: named as over REST, its arguments its variable contract's (messages
/// placeholders aside: MCP arguments are text).
fn mcp_prompt(prompt: &domain::prompt::Prompt) -> McpPrompt {
    let arguments = prompt
        .bundle
        .contract
        .iter()
        .filter(|spec| spec.kind != VariableType::Messages)
        .map(|spec| {
            let mut argument = PromptArgument::new(spec.name.clone());
            argument.description = spec.description.clone();
            argument.required = Some(spec.required && spec.default.is_none());
            argument
        })
        .collect();
    let description = if prompt.category.is_empty() { None } else { Some(prompt.category.clone()) };
    McpPrompt::new(prompt.name.as_str(), description, Some(arguments)).with_title(prompt.title.clone())
}

/// Text arguments read as the contract's types: `"3"` for a number, `"true"` for a boolean,
/// JSON text for JSON. What does not read stays text, and the contract check names it.
fn typed(contract: &[VariableSpec], mut values: BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    for spec in contract {
        let Some(Value::String(text)) = values.get(&spec.name) else { continue };
        let reads_as_json = matches!(
            spec.kind,
            VariableType::Number | VariableType::Integer | VariableType::Boolean | VariableType::Json
        );
        if reads_as_json && let Ok(value) = serde_json::from_str::<Value>(text) {
            values.insert(spec.name.clone(), value);
        }
    }
    values
}

/// The version of prompt `name` that `pick` chooses (a split label: by `key`), its fetch
/// counted as over REST.
async fn served(
    caller: &Caller,
    name: &str,
    pick: &Pick,
    key: Option<&str>,
) -> Result<domain::prompt::Prompt, ApiError> {
    let release = releases::fetch(&caller.state, &caller.principal, name, pick).await?;
    let mut versions = release.versions.into_iter();
    let Pick::Label(label) = pick else {
        return versions.next().ok_or_else(|| ApiError::internal(&"a release without a version"));
    };
    let Some(first) = versions.next() else { return Err(ApiError::internal(&"a release without a version")) };
    let index = releases::serve(release.split.as_ref(), first.id, label, key);
    let prompt = if index == 0 { first } else { versions.nth(index - 1).unwrap_or(first) };
    let today = Utc::now().date_naive();
    caller.state.fetch_counts.count(caller.principal.scope(), prompt.id, label, prompt.version, today);
    Ok(prompt)
}

fn tools() -> Vec<Tool> {
    let schema = |value: Value| -> JsonObject {
        match value {
            Value::Object(map) => map,
            _ => JsonObject::new(),
        }
    };
    vec![
        Tool::new(
            "search_prompts",
            "Search the prompt library: every word must match name, title, content or tags (as a prefix).",
            schema(json!({
                "type": "object",
                "properties": {
                    "query": { "type": "string", "description": "Words to search for" },
                    "category": { "type": "string" },
                    "tag": { "type": "string" },
                    "limit": { "type": "integer", "minimum": 1, "maximum": MAX_SEARCH_RESULTS }
                }
            })),
        ),
        Tool::new(
            "get_prompt",
            "Fetch a prompt by name: its newest version, or the one a label or version number names.",
            schema(json!({
                "type": "object",
                "properties": {
                    "name": { "type": "string" },
                    "label": { "type": "string", "description": "A release label such as production" },
                    "version": { "type": "integer", "minimum": 1 },
                    "key": { "type": "string", "description": "For a label split between versions: the caller's key" }
                },
                "required": ["name"]
            })),
        ),
        Tool::new(
            "create_prompt",
            "Create a prompt (needs a read-write token). Takes the fields of POST /api/v1/prompts.",
            schema(json!({
                "type": "object",
                "properties": {
                    "name": { "type": "string", "description": "Unique; folders with slashes (support/welcome)" },
                    "content": { "type": "string" },
                    "title": { "type": "string" },
                    "category": { "type": "string" },
                    "tags": { "type": "array", "items": { "type": "string" } },
                    "visibility": { "type": "string", "enum": ["private", "tenant"] },
                    "commit_message": { "type": "string" }
                },
                "required": ["name", "content"]
            })),
        ),
        Tool::new(
            "update_prompt",
            "Save a new version of a prompt (needs a read-write token). `version` is the version the \
             edit is based on; a newer one saved meanwhile refuses it.",
            schema(json!({
                "type": "object",
                "properties": {
                    "name": { "type": "string", "description": "The prompt to change" },
                    "version": { "type": "integer", "minimum": 1 },
                    "new_name": { "type": "string" },
                    "content": { "type": "string" },
                    "title": { "type": "string" },
                    "category": { "type": "string" },
                    "tags": { "type": "array", "items": { "type": "string" } },
                    "commit_message": { "type": "string" }
                },
                "required": ["name", "version"]
            })),
        ),
    ]
}

fn invalid(field: &str, reason: impl Into<String>) -> ApiError {
    ApiError::validation(vec![FieldError::new(field, reason)])
}

fn parsed<T: serde::de::DeserializeOwned>(arguments: Value) -> Result<T, ApiError> {
    serde_json::from_value(arguments).map_err(|e| invalid("arguments", e.to_string()))
}

fn text_argument<'a>(arguments: &'a Value, name: &str) -> Option<&'a str> {
    arguments.get(name).and_then(Value::as_str)
}

async fn search(caller: &Caller, arguments: Value) -> Result<Value, ApiError> {
    let limit = match arguments.get("limit") {
        None => 20,
        Some(limit) => limit
            .as_u64()
            .filter(|n| (1..=MAX_SEARCH_RESULTS).contains(n))
            .ok_or_else(|| invalid("limit", format!("must be 1 to {MAX_SEARCH_RESULTS}")))?,
    };
    let filter = PromptFilter {
        q: text_argument(&arguments, "query").map(str::to_owned),
        category: text_argument(&arguments, "category").map(str::to_owned),
        tag: text_argument(&arguments, "tag").map(str::to_lowercase),
        ..PromptFilter::default()
    };
    let sort = PromptSort::Relevance.effective(filter.q.is_some());
    let repo = caller.state.db.tenant(caller.principal.scope());
    let found = repo.search_prompts(&viewer(&caller.principal), &filter, sort, None, limit).await?;
    let names =
        prompts::people(&caller.state, &caller.principal, found.items.iter().map(|p| p.owner)).await?;
    let items: Vec<_> = found.items.iter().map(|p| prompts::summary(p, &names)).collect();
    Ok(json!({ "items": items }))
}

async fn fetch(caller: &Caller, arguments: Value) -> Result<Value, ApiError> {
    let name = text_argument(&arguments, "name").ok_or_else(|| invalid("name", "is required"))?;
    let version = match arguments.get("version") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| invalid("version", "must be a version number"))?,
        ),
    };
    let pick = ApiError::check(|errors| Pick::parse(text_argument(&arguments, "label"), version, errors))?;
    let prompt = served(caller, name, &pick, text_argument(&arguments, "key")).await?;
    view(caller, &prompt).await
}

/// A prompt as REST's `PromptView` answers it.
async fn view(caller: &Caller, prompt: &domain::prompt::Prompt) -> Result<Value, ApiError> {
    let names = prompts::people(&caller.state, &caller.principal, [prompt.owner, prompt.updated_by]).await?;
    serde_json::to_value(prompts::view(prompt, &names)).map_err(|e| ApiError::internal(&e))
}

/// Writes need what REST's writes need: a session or a read-write token.
fn check_may_write(caller: &Caller) -> Result<(), ApiError> {
    if caller.principal.may_write() {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            "A read token cannot change prompts; use a read-write token.",
        ))
    }
}

async fn create(caller: &Caller, arguments: Value) -> Result<Value, ApiError> {
    check_may_write(caller)?;
    let body: CreatePromptRequest = parsed(arguments)?;
    let prompt = prompts::create(&caller.state, &caller.acting, &caller.principal, body).await?;
    caller.state.read_cache.invalidate(Some(caller.principal.tenant.id));
    view(caller, &prompt).await
}

async fn update(caller: &Caller, mut arguments: Value) -> Result<Value, ApiError> {
    check_may_write(caller)?;
    let name = text_argument(&arguments, "name").ok_or_else(|| invalid("name", "is required"))?.to_owned();
    let Some(object) = arguments.as_object_mut() else {
        return Err(invalid("arguments", "must be an object"));
    };
    // `name` names the prompt to change; `new_name` renames it.
    object.remove("name");
    if let Some(new_name) = object.remove("new_name") {
        object.insert("name".into(), new_name);
    }
    if object.get("version").is_none() {
        return Err(invalid("version", "is required: the version your edit is based on"));
    }
    let body: UpdatePromptRequest = parsed(arguments)?;
    let prompt = prompts::update(&caller.state, &caller.acting, &caller.principal, &name, None, body).await?;
    caller.state.read_cache.invalidate(Some(caller.principal.tenant.id));
    view(caller, &prompt).await
}

/// A refused tool call as the caller sees it: the problem's text, and the problem itself
/// (its stable `code`, field errors, current version) as structured content.
fn tool_error(err: &ApiError) -> CallToolResult {
    let problem = err.problem();
    let text = problem.detail.clone().unwrap_or_else(|| problem.title.clone());
    let mut result = CallToolResult::error(vec![ContentBlock::text(text)]);
    result.structured_content = serde_json::to_value(problem).ok();
    result
}

/// A refused prompt request: an unknown prompt or bad arguments are the caller's (invalid
/// params, as MCP asks); anything else an internal error.
fn protocol_error(err: ApiError) -> McpError {
    let problem = err.problem();
    let text = problem.detail.clone().unwrap_or_else(|| problem.title.clone());
    let data = serde_json::to_value(problem).ok();
    if problem.status < 500 {
        McpError::invalid_params(text, data)
    } else {
        McpError::internal_error(text, data)
    }
}
