//! Prompt bundles in the service layer: the checks that need more than the domain (JSON
//! Schema validity), a version's bundle as stored, and rendering a version — its variables
//! bound to the contract, its templates filled in, its messages put together — within the
//! size cap. REST's render, run, compare and token count, and every later caller, go through
//! [`render`].

use std::collections::BTreeMap;

use domain::ai::ChatMessage;
use domain::bundle::{self, Bundle, ChatEntry, PromptKind, VariableType};
use domain::prompt::{Prompt, PromptFields};
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

/// `version` with `values`: bound to its contract (one field error per missing, mistyped
/// and — if `strict` — unexpected value), size-checked, then rendered (off the async executor
/// when large).
pub async fn render(
    version: &Version,
    values: &BTreeMap<String, Value>,
    strict: bool,
) -> Result<Rendered, ApiError> {
    let bound = bundle::bind(&version.bundle.contract, values, strict).map_err(mismatch)?;
    // An optional variable without a value renders as nothing.
    let texts: BTreeMap<String, String> = version
        .bundle
        .contract
        .iter()
        .filter(|spec| spec.kind != VariableType::Messages)
        .map(|spec| (spec.name.clone(), bound.get(&spec.name).map(bundle::value_text).unwrap_or_default()))
        .collect();
    let estimate = rendered_len(version, &texts, &bound);
    if estimate > MAX_RENDERED_BYTES {
        return Err(too_large());
    }
    if estimate <= RENDER_IN_PLACE_BYTES {
        return render_now(version, &texts, &bound);
    }
    let version = version.clone();
    actix_web::web::block(move || render_now(&version, &texts, &bound))
        .await
        .map_err(|e| ApiError::internal(&e))?
}

/// The size of the rendering, computed without building it, for basic templates (a logic
/// template is capped while it renders).
/// `version` with `values`, variables without a value shown as written (`{{name}}`; an
/// unfilled placeholder as no messages), for counting tokens before the values are known.
pub async fn render_as_written(
    version: &Version,
    values: &BTreeMap<String, Value>,
) -> Result<Rendered, ApiError> {
    let mut version = version.clone();
    for spec in version.bundle.contract.iter_mut().filter(|spec| !values.contains_key(&spec.name)) {
        if spec.kind == VariableType::Messages {
            spec.default = Some(Value::Array(Vec::new()));
        } else {
            spec.kind = VariableType::Json;
            spec.default = Some(Value::String(format!("{{{{{}}}}}", spec.name)));
        }
    }
    render(&version, values, false).await
}

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
    texts: &BTreeMap<String, String>,
    bound: &BTreeMap<String, Value>,
) -> Result<Rendered, ApiError> {
    let fill = |content: &str| -> Result<String, ApiError> {
        // Bound values cover every required variable, so a missing one here is a bug.
        template::render(content, texts, false).map_err(|e| ApiError::internal(&e))
    };
    match version.bundle.kind {
        PromptKind::Text => {
            let text = fill(&version.content)?;
            Ok(Rendered { messages: vec![ChatMessage::user(text.clone())], text })
        }
        PromptKind::Chat => {
            let mut messages = Vec::new();
            for entry in &version.bundle.messages {
                match entry {
                    ChatEntry::Message { role, content } => {
                        messages.push(ChatMessage { role: *role, content: fill(content)? });
                    }
                    ChatEntry::Placeholder { placeholder } => {
                        if let Some(value) = bound.get(placeholder) {
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
