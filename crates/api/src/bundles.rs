//! Prompt bundles in the service layer: the checks that need more than the domain (JSON
//! Schema validity), a version's bundle as stored, and rendering a version — its variables
//! bound to the contract, its templates filled in, its messages put together — within the
//! size cap. REST's render, run, compare and token count, and every later caller, go through
//! [`render`].

use std::collections::{BTreeMap, VecDeque};

use domain::ai::ChatMessage;
use domain::bundle::{self, Bundle, ChatEntry, Include, IncludePin, PromptKind, VariableSpec, VariableType};
use domain::prompt::{Prompt, PromptFields, PromptKey, Viewer};
use domain::template::logic::{self, Included, LogicRenderError, RenderOptions};
use domain::template::{self, TemplateFormat};
use domain::wire::{ErrorCode, FieldError};
use serde_json::Value;

use crate::access::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// The largest rendering (all messages together): a rendering past this is refused before it
/// is built (a short template with a large value repeated could otherwise take gigabytes).
pub const MAX_RENDERED_BYTES: usize = 1024 * 1024;
/// Renderings up to this size are built in place; larger ones on the blocking pool, so a
/// request near [`MAX_RENDERED_BYTES`] never holds up the other requests of its worker.
const RENDER_IN_PLACE_BYTES: usize = 64 * 1024;

/// The errors of a parsed request: the domain's, else the schemas in its settings that are
/// not valid JSON Schema.
pub fn checked(parsed: &Result<PromptFields, Vec<FieldError>>) -> Vec<FieldError> {
    match parsed {
        Err(errors) => errors.clone(),
        Ok(fields) => fields
            .bundle
            .settings
            .schemas()
            .into_iter()
            .filter_map(|(field, schema)| {
                jsonschema::meta::validate(schema)
                    .err()
                    .map(|e| FieldError::new(field, format!("is not a valid JSON Schema: {e}")))
            })
            .collect(),
    }
}

/// One version of a prompt, ready to render.
#[derive(Debug, Clone)]
pub struct Version {
    pub number: u32,
    pub content: String,
    pub bundle: Bundle,
}

/// `prompt` at `version` (the current one by default).
pub async fn version_of(
    state: &AppState,
    principal: &Principal,
    prompt: &Prompt,
    version: Option<u32>,
) -> Result<Version, ApiError> {
    match version {
        Some(number) if number != prompt.version => {
            let old = state
                .db
                .tenant(principal.scope())
                .prompt_version(prompt.id, number)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("The prompt has no version {number}.")))?;
            Ok(Version { number, content: old.content, bundle: old.bundle })
        }
        _ => Ok(Version {
            number: prompt.version,
            content: prompt.content.clone(),
            bundle: prompt.bundle.clone(),
        }),
    }
}

/// A rendered version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The text prompt filled in, or the chat prompt's messages as one text.
    pub text: String,
    /// What a run sends.
    pub messages: Vec<ChatMessage>,
}

/// Reads of included prompts one render may make, nested ones included: each is a query.
const MAX_RESOLVED_INCLUDES: usize = 50;

/// A version with the prompts its templates include, found.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// By reference as written, for the engine.
    pub includes: BTreeMap<String, Included>,
    /// The version's contract, then the contracts of what it includes for the variables it
    /// does not declare itself: what a render binds values to.
    pub contract: Vec<VariableSpec>,
    /// `lower(name)` of every prompt included, at any depth, that follows its current version.
    pub followed: Vec<String>,
}

/// An edit being previewed: the prompt named `key` (`lower(name)`) reads as `version` for
/// every include that follows its current version.
pub struct Proposed<'a> {
    pub key: String,
    pub version: &'a Version,
}

/// Finds what `version` includes, and what that includes, as the caller may see it: at the
/// pinned version, else the current one (or the `proposed` one).
pub async fn resolve(
    state: &AppState,
    principal: &Principal,
    version: &Version,
    proposed: Option<&Proposed<'_>>,
) -> Result<Resolved, ApiError> {
    let mut resolved = Resolved { contract: version.bundle.contract.clone(), ..Resolved::default() };
    if version.bundle.format == TemplateFormat::Basic {
        return Ok(resolved);
    }
    let mut queue: VecDeque<(Include, u32)> =
        reading(version)?.includes.into_iter().map(|i| (i, 1)).collect();
    let repo = state.db.tenant(principal.scope());
    let viewer = Viewer { user: principal.user.id, role: principal.user.role };
    let mut reads = 0;
    while let Some((include, depth)) = queue.pop_front() {
        if resolved.includes.contains_key(&include.raw) {
            continue;
        }
        let failed = |message: String| template_failed(vec![FieldError::new(include.field.clone(), message)]);
        if depth > logic::DEFAULT_MAX_INCLUDE_DEPTH {
            return Err(failed(format!(
                "includes nest deeper than {} levels (at {:?})",
                logic::DEFAULT_MAX_INCLUDE_DEPTH,
                include.raw
            )));
        }
        reads += 1;
        if reads > MAX_RESOLVED_INCLUDES {
            return Err(failed(format!("includes more than {MAX_RESOLVED_INCLUDES} prompts in all")));
        }
        let key = include.target.name.key();
        let target = match (proposed, &include.target.pin) {
            (Some(p), None) if p.key == key => p.version.clone(),
            (_, pin) => {
                let missing = || {
                    failed(format!(
                        "includes {:?}, which does not exist (or you may not see it)",
                        include.raw
                    ))
                };
                let prompt = repo
                    .prompt(&viewer, &PromptKey::Name(include.target.name.clone()))
                    .await?
                    .ok_or_else(missing)?;
                let number = match pin {
                    None => prompt.version,
                    Some(IncludePin::Version(number)) => *number,
                    // A split label's primary version: a render never draws.
                    Some(IncludePin::Label(label)) => {
                        repo.label(prompt.id, label).await?.map(|l| l.version).ok_or_else(|| {
                            failed(format!(
                                "includes {:?}, but {} has no label {label}",
                                include.raw, include.target.name
                            ))
                        })?
                    }
                };
                if number == prompt.version {
                    Version { number, content: prompt.content, bundle: prompt.bundle }
                } else {
                    let old = repo.prompt_version(prompt.id, number).await?.ok_or_else(missing)?;
                    Version { number, content: old.content, bundle: old.bundle }
                }
            }
        };
        if target.bundle.kind == PromptKind::Chat {
            return Err(failed(format!(
                "includes {:?}, a chat prompt: only text prompts can be included",
                include.raw
            )));
        }
        if include.target.pin.is_none() && !resolved.followed.contains(&key) {
            resolved.followed.push(key);
        }
        for spec in &target.bundle.contract {
            if !resolved.contract.iter().any(|s| s.name == spec.name) {
                resolved.contract.push(spec.clone());
            }
        }
        if target.bundle.format == TemplateFormat::Logic {
            for inner in reading(&target)?.includes {
                // Reported at the outer template's field: that is the one the caller edits.
                queue.push_back((Include { field: include.field.clone(), ..inner }, depth + 1));
            }
        }
        resolved
            .includes
            .insert(include.raw, Included { format: target.bundle.format, content: target.content });
    }
    Ok(resolved)
}

/// `fields` if what their templates include can be found and put together: every include
/// exists and is a text prompt, includes nest at most 5 deep, and none includes itself (a
/// cycle through the prompt being saved counts). Else the reasons, as field errors.
pub async fn check_includes(
    state: &AppState,
    principal: &Principal,
    fields: PromptFields,
) -> Result<PromptFields, ApiError> {
    if fields.bundle.format == TemplateFormat::Basic {
        return Ok(fields);
    }
    let version = Version { number: 0, content: fields.content.clone(), bundle: fields.bundle.clone() };
    let invalid = |error: ApiError| ApiError::validation(error.problem().errors.clone());
    let proposed = Proposed { key: fields.name.key(), version: &version };
    let resolved = resolve(state, principal, &version, Some(&proposed)).await.map_err(invalid)?;
    // Without values, the engine finds cycles and bad includes before it asks for values.
    let mut errors = Vec::new();
    for (field, text) in bundle::templates(version.bundle.kind, &version.content, &version.bundle.messages) {
        if let Ok(parsed) = logic::parse(text)
            && let Err(LogicRenderError::Template(e)) =
                parsed.render(&BTreeMap::new(), &resolved.includes, &RenderOptions::default())
        {
            errors.push(at(&field, &e));
        }
    }
    if errors.is_empty() { Ok(fields) } else { Err(ApiError::validation(errors)) }
}

fn reading(version: &Version) -> Result<bundle::TemplateReading, ApiError> {
    let b = &version.bundle;
    bundle::read_templates(b.format, b.kind, &version.content, &b.messages).map_err(template_failed)
}

/// `version` with `values`, its includes resolved: see [`render_resolved`].
pub async fn render(
    state: &AppState,
    principal: &Principal,
    version: &Version,
    values: &BTreeMap<String, Value>,
    strict: bool,
) -> Result<Rendered, ApiError> {
    let resolved = resolve(state, principal, version, None).await?;
    render_resolved(version, &resolved, values, strict).await
}

/// `version` with `values`: bound to the contract (one field error per missing, mistyped and
/// — if `strict` — unexpected value), size-checked, then rendered (off the async executor
/// when large).
pub async fn render_resolved(
    version: &Version,
    resolved: &Resolved,
    values: &BTreeMap<String, Value>,
    strict: bool,
) -> Result<Rendered, ApiError> {
    let bound = bundle::bind(&resolved.contract, values, strict).map_err(mismatch)?;
    let texts = texts(&resolved.contract, &bound);
    let estimate = rendered_len(version, &texts, &bound);
    if estimate > MAX_RENDERED_BYTES {
        return Err(too_large());
    }
    if estimate <= RENDER_IN_PLACE_BYTES {
        return render_now(version, resolved, &texts, bound);
    }
    let (version, resolved) = (version.clone(), resolved.clone());
    actix_web::web::block(move || render_now(&version, &resolved, &texts, bound))
        .await
        .map_err(|e| ApiError::internal(&e))?
}

/// `version` with `values`, variables without a value shown as written (`{{name}}`; an
/// unfilled placeholder as no messages), for counting tokens before the values are known.
pub async fn render_as_written(
    state: &AppState,
    principal: &Principal,
    version: &Version,
    values: &BTreeMap<String, Value>,
) -> Result<Rendered, ApiError> {
    let mut resolved = resolve(state, principal, version, None).await?;
    for spec in resolved.contract.iter_mut().filter(|spec| !values.contains_key(&spec.name)) {
        if spec.kind == VariableType::Messages {
            spec.default = Some(Value::Array(Vec::new()));
        } else {
            spec.kind = VariableType::Json;
            spec.default = Some(Value::String(format!("{{{{{}}}}}", spec.name)));
        }
    }
    render_resolved(version, &resolved, values, false).await
}

/// An optional variable without a value renders as nothing: as text, empty; to the logic
/// engine, `null` (false, and printed as nothing).
fn texts(contract: &[VariableSpec], bound: &BTreeMap<String, Value>) -> BTreeMap<String, String> {
    contract
        .iter()
        .filter(|spec| spec.kind != VariableType::Messages)
        .map(|spec| (spec.name.clone(), bound.get(&spec.name).map(bundle::value_text).unwrap_or_default()))
        .collect()
}

/// The size of the rendering, computed without building it, for basic templates (a logic
/// template is capped while it renders).
fn rendered_len(
    version: &Version,
    texts: &BTreeMap<String, String>,
    bound: &BTreeMap<String, Value>,
) -> usize {
    let template_len = |content: &str| match version.bundle.format {
        TemplateFormat::Basic => template::rendered_len(content, texts),
        TemplateFormat::Logic => content.len(),
    };
    match version.bundle.kind {
        PromptKind::Text => template_len(&version.content),
        PromptKind::Chat => version
            .bundle
            .messages
            .iter()
            .map(|entry| match entry {
                ChatEntry::Message { content, .. } => template_len(content),
                ChatEntry::Placeholder { placeholder } => {
                    bound.get(placeholder).map_or(0, |value| value.to_string().len())
                }
            })
            .fold(0usize, usize::saturating_add),
    }
}

fn render_now(
    version: &Version,
    resolved: &Resolved,
    texts: &BTreeMap<String, String>,
    bound: BTreeMap<String, Value>,
) -> Result<Rendered, ApiError> {
    let mut values = bound;
    for spec in &resolved.contract {
        values.entry(spec.name.clone()).or_insert(Value::Null);
    }
    let mut used = 0usize;
    let mut fill = |field: &str, content: &str| -> Result<String, ApiError> {
        let text = match version.bundle.format {
            // Bound values cover every required variable, so a missing one here is a bug.
            TemplateFormat::Basic => {
                template::render(content, texts, false).map_err(|e| ApiError::internal(&e))?
            }
            TemplateFormat::Logic => {
                let parsed = logic::parse(content).map_err(|e| template_failed(vec![at(field, &e)]))?;
                let options = RenderOptions {
                    max_output_bytes: MAX_RENDERED_BYTES.saturating_sub(used),
                    ..RenderOptions::default()
                };
                parsed.render(&values, &resolved.includes, &options).map_err(|e| match e {
                    LogicRenderError::Template(e) => template_failed(vec![at(field, &e)]),
                    LogicRenderError::TooLarge { .. } => too_large(),
                    LogicRenderError::Variables(e) => ApiError::internal(&e),
                })?
            }
        };
        used = used.saturating_add(text.len());
        Ok(text)
    };
    match version.bundle.kind {
        PromptKind::Text => {
            let text = fill("content", &version.content)?;
            Ok(Rendered { messages: vec![ChatMessage::user(text.clone())], text })
        }
        PromptKind::Chat => {
            let mut messages = Vec::new();
            for (i, entry) in version.bundle.messages.iter().enumerate() {
                match entry {
                    ChatEntry::Message { role, content } => {
                        let content = fill(&format!("messages[{i}].content"), content)?;
                        messages.push(ChatMessage { role: *role, content });
                    }
                    ChatEntry::Placeholder { placeholder } => {
                        if let Some(value) = values.get(placeholder).filter(|v| !v.is_null()) {
                            messages
                                .extend(bundle::messages_value(value).map_err(|e| ApiError::internal(&e))?);
                        }
                    }
                }
            }
            let text = messages
                .iter()
                .map(|m| format!("[{}]\n{}", m.role.as_str(), m.content))
                .collect::<Vec<_>>()
                .join("\n\n");
            if text.len() > MAX_RENDERED_BYTES {
                return Err(too_large());
            }
            Ok(Rendered { text, messages })
        }
    }
}

fn at(field: &str, error: &logic::TemplateError) -> FieldError {
    FieldError::new(field, error.to_string())
}

fn template_failed(errors: Vec<FieldError>) -> ApiError {
    let detail = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ");
    ApiError::new(ErrorCode::TemplateFailed, format!("The template could not be rendered ({detail})."))
        .with_errors(errors)
}

fn too_large() -> ApiError {
    ApiError::validation(vec![FieldError::new(
        "variables",
        format!("the filled-in prompt would exceed {} KB", MAX_RENDERED_BYTES / 1024),
    )])
}

/// Values that do not fit the contract, as one `variables_mismatch` problem.
fn mismatch(errors: Vec<FieldError>) -> ApiError {
    let names = |message: Option<&str>| -> Vec<&str> {
        errors
            .iter()
            .filter(|e| match message {
                Some(m) => e.message == m,
                None => e.message != "has no value" && e.message != "is not a variable of this prompt",
            })
            .filter_map(|e| e.field.strip_prefix("variables."))
            .collect()
    };
    let mut detail = Vec::new();
    let missing = names(Some("has no value"));
    if !missing.is_empty() {
        detail.push(format!("Missing values for: {}.", missing.join(", ")));
    }
    let unexpected = names(Some("is not a variable of this prompt"));
    if !unexpected.is_empty() {
        detail.push(format!("Not variables of this prompt: {}.", unexpected.join(", ")));
    }
    let invalid = names(None);
    if !invalid.is_empty() {
        detail.push(format!("Values that do not fit their variables: {}.", invalid.join(", ")));
    }
    ApiError::new(ErrorCode::VariablesMismatch, detail.join(" ")).with_errors(errors)
}
