//! What a prompt holds besides its text, versioned with it: its kind (a text, or chat messages
//! with message placeholders), the model settings it was tuned for, and the typed contract of
//! its variables. Validation, inference of the contract from the template, coercion of the
//! values a caller sends, and the contract as JSON Schema. No I/O.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ai::{
    ChatMessage, ChatRole, GenerationOptions, MAX_MODEL_NAME, ResponseFormat, ToolDefinition, check_options,
};
use crate::prompt::PromptName;
use crate::release::LabelName;
use crate::template::{self, TemplateFormat, logic};
use crate::wire::FieldError;

/// Most entries (messages and placeholders) in one chat prompt.
pub const MAX_MESSAGES: usize = 100;
/// Most messages one placeholder may be filled with.
pub const MAX_PLACEHOLDER_MESSAGES: usize = 500;
/// Most stop sequences (OpenAI's limit).
pub const MAX_STOP_SEQUENCES: usize = 4;
pub const MAX_STOP_LEN: usize = 200;
pub const MAX_TOOLS: usize = 64;
/// Longest tool or response schema name (OpenAI's limit).
pub const MAX_FUNCTION_NAME: usize = 64;
pub const MAX_TOOL_DESCRIPTION: usize = 1_024;
/// The settings as JSON, tools and schemas included.
pub const MAX_SETTINGS_BYTES: usize = 64 * 1024;
/// The contract as JSON.
pub const MAX_CONTRACT_BYTES: usize = 64 * 1024;
pub const MAX_VARIABLE_DESCRIPTION: usize = 500;
pub const MAX_ENUM_VALUES: usize = 100;
pub const MAX_ENUM_VALUE_LEN: usize = 200;

/// A prompt is one text, or a conversation to send as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PromptKind {
    /// `content` is the template; running it sends one user message.
    #[default]
    Text,
    /// `messages` are the templates; `content` is their transcript, for search and diffs.
    Chat,
}

impl PromptKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PromptKind::Text => "text",
            PromptKind::Chat => "chat",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [PromptKind::Text, PromptKind::Chat].into_iter().find(|k| k.as_str() == raw)
    }
}

/// One entry of a chat prompt: a message whose content is a template, or a placeholder the
/// caller fills with a list of messages (a conversation so far, say).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged, try_from = "RawChatEntry")]
pub enum ChatEntry {
    Message {
        role: ChatRole,
        content: String,
    },
    Placeholder {
        /// The variable (of type `messages`) that fills it.
        placeholder: String,
    },
}

/// A chat entry as sent, read field by field so a mistake gets a precise message rather than
/// "matched no variant".
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChatEntry {
    role: Option<String>,
    content: Option<String>,
    placeholder: Option<String>,
}

impl TryFrom<RawChatEntry> for ChatEntry {
    type Error = String;

    fn try_from(raw: RawChatEntry) -> Result<Self, String> {
        match raw {
            RawChatEntry { role: Some(role), content: Some(content), placeholder: None } => {
                let role = ChatRole::parse(&role).ok_or_else(|| {
                    format!("role {role:?} is not one of system, developer, user, assistant")
                })?;
                Ok(ChatEntry::Message { role, content })
            }
            RawChatEntry { role: None, content: None, placeholder: Some(placeholder) } => {
                Ok(ChatEntry::Placeholder { placeholder })
            }
            _ => Err("a chat entry is either {\"role\", \"content\"} or {\"placeholder\"}".to_owned()),
        }
    }
}

/// The model settings a version was tuned for. Every field is optional: what is left out
/// comes from the run request, then the connection, then the provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelSettings {
    /// The model to ask for; the connection's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Up to 4 sequences that end the answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolDefinition>,
}

impl ModelSettings {
    pub fn is_empty(&self) -> bool {
        *self == ModelSettings::default()
    }

    pub fn options(&self) -> GenerationOptions {
        GenerationOptions { temperature: self.temperature, max_tokens: self.max_tokens, top_p: self.top_p }
    }

    /// Checks everything but whether the schemas are valid JSON Schema (the server checks that),
    /// adding one error per bad field under `settings.`.
    pub fn check(&self, errors: &mut Vec<FieldError>) {
        if let Some(model) = &self.model
            && (model.trim().is_empty() || model.chars().count() > MAX_MODEL_NAME)
        {
            errors
                .push(FieldError::new("settings.model", format!("must be 1 to {MAX_MODEL_NAME} characters")));
        }
        check_options("settings.", &self.options(), errors);
        if self.stop.len() > MAX_STOP_SEQUENCES {
            errors.push(FieldError::new(
                "settings.stop",
                format!("may have at most {MAX_STOP_SEQUENCES} entries"),
            ));
        }
        for (i, stop) in self.stop.iter().enumerate() {
            if stop.is_empty() || stop.chars().count() > MAX_STOP_LEN {
                errors.push(FieldError::new(
                    format!("settings.stop[{i}]"),
                    format!("must be 1 to {MAX_STOP_LEN} characters"),
                ));
            }
        }
        if let Some(ResponseFormat::JsonSchema { name, schema, .. }) = &self.response_format {
            check_function_name("settings.response_format.name", name, errors);
            if !schema.is_object() {
                errors
                    .push(FieldError::new("settings.response_format.schema", "must be a JSON Schema object"));
            }
        }
        if self.tools.len() > MAX_TOOLS {
            errors.push(FieldError::new("settings.tools", format!("may have at most {MAX_TOOLS} tools")));
        }
        let mut names = BTreeSet::new();
        for (i, tool) in self.tools.iter().enumerate() {
            check_function_name(&format!("settings.tools[{i}].name"), &tool.name, errors);
            if !names.insert(tool.name.as_str()) {
                errors.push(FieldError::new(format!("settings.tools[{i}].name"), "is used by another tool"));
            }
            if tool.description.as_ref().is_some_and(|d| d.chars().count() > MAX_TOOL_DESCRIPTION) {
                errors.push(FieldError::new(
                    format!("settings.tools[{i}].description"),
                    format!("must be at most {MAX_TOOL_DESCRIPTION} characters"),
                ));
            }
            if tool.parameters.get("type").and_then(Value::as_str) != Some("object") {
                errors.push(FieldError::new(
                    format!("settings.tools[{i}].parameters"),
                    "must be a JSON Schema with \"type\": \"object\"",
                ));
            }
        }
        if serde_json::to_vec(self).map_or(0, |json| json.len()) > MAX_SETTINGS_BYTES {
            errors.push(FieldError::new(
                "settings",
                format!("must be at most {} KB as JSON", MAX_SETTINGS_BYTES / 1024),
            ));
        }
    }

    /// The schemas in these settings with the field each belongs to, for the server's JSON
    /// Schema check.
    pub fn schemas(&self) -> Vec<(String, &Value)> {
        let mut schemas = Vec::new();
        if let Some(ResponseFormat::JsonSchema { schema, .. }) = &self.response_format {
            schemas.push(("settings.response_format.schema".to_owned(), schema));
        }
        for (i, tool) in self.tools.iter().enumerate() {
            schemas.push((format!("settings.tools[{i}].parameters"), &tool.parameters));
        }
        schemas
    }
}

fn check_function_name(field: &str, name: &str, errors: &mut Vec<FieldError>) {
    let valid = !name.is_empty()
        && name.len() <= MAX_FUNCTION_NAME
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        errors.push(FieldError::new(
            field,
            format!("must be 1 to {MAX_FUNCTION_NAME} letters, digits, '_' or '-'"),
        ));
    }
}

/// Everything a version holds besides its name, title, category and tags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bundle {
    pub kind: PromptKind,
    pub format: TemplateFormat,
    /// A chat prompt's entries; empty for a text prompt.
    pub messages: Vec<ChatEntry>,
    pub settings: ModelSettings,
    /// One spec per variable of the templates, in their order.
    pub contract: Vec<VariableSpec>,
}

/// A bundle as a request states it; what is absent is kept from the version it edits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BundleInput {
    pub kind: Option<PromptKind>,
    pub format: Option<TemplateFormat>,
    pub messages: Option<Vec<ChatEntry>>,
    pub settings: Option<ModelSettings>,
    /// Specs to set; variables without one keep the previous version's or get an inferred one.
    pub contract: Option<Vec<VariableSpec>>,
}

impl Bundle {
    /// The bundle a request asks for on top of `previous` (the version it edits, or the
    /// default for a new prompt), and the content to store: a text prompt's `content`, or a
    /// chat prompt's [`transcript`]. Every invalid field is reported.
    pub fn build(
        input: &BundleInput,
        content: &str,
        previous: &Bundle,
    ) -> Result<(Bundle, String), Vec<FieldError>> {
        let mut errors = Vec::new();
        let kind = input.kind.unwrap_or(previous.kind);
        let format = input.format.unwrap_or(previous.format);
        let messages = match kind {
            PromptKind::Text => {
                if input.messages.as_ref().is_some_and(|m| !m.is_empty()) {
                    errors.push(FieldError::new("messages", "only a chat prompt has messages"));
                }
                Vec::new()
            }
            PromptKind::Chat => {
                let messages = input.messages.clone().unwrap_or_else(|| previous.messages.clone());
                check_messages(&messages, &mut errors);
                messages
            }
        };
        let settings = input.settings.clone().unwrap_or_else(|| previous.settings.clone());
        settings.check(&mut errors);
        let content = match kind {
            PromptKind::Text => content.to_owned(),
            PromptKind::Chat => transcript(&messages),
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let uses = variable_uses(format, kind, &content, &messages)?;
        let contract = contract(&uses, input.contract.as_deref(), &previous.contract)?;
        Ok((Bundle { kind, format, messages, settings, contract }, content))
    }

    /// The bundle of a row stored before bundles existed, or read without a stored contract: a
    /// basic text prompt whose variables are all required strings.
    pub fn basic_text(content: &str) -> Bundle {
        let contract = template::variables(content)
            .iter()
            .map(|name| VariableSpec::inferred(name, VariableType::String, true))
            .collect();
        Bundle { contract, ..Bundle::default() }
    }

    /// The names of the variables, in order.
    pub fn variable_names(&self) -> Vec<String> {
        self.contract.iter().map(|spec| spec.name.clone()).collect()
    }
}

/// The type of a variable's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VariableType {
    String,
    Number,
    Integer,
    Boolean,
    /// One of `values`.
    Enum,
    /// Any JSON: a list to loop over, an object to read fields of.
    Json,
    /// A list of chat messages, for a placeholder of a chat prompt.
    Messages,
}

impl VariableType {
    pub fn as_str(self) -> &'static str {
        match self {
            VariableType::String => "string",
            VariableType::Number => "number",
            VariableType::Integer => "integer",
            VariableType::Boolean => "boolean",
            VariableType::Enum => "enum",
            VariableType::Json => "json",
            VariableType::Messages => "messages",
        }
    }
}

fn yes() -> bool {
    true
}

/// What a variable takes: inferred from the template when a version is saved, editable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VariableSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: VariableType,
    /// A required variable without a default must be given a value.
    #[serde(default = "yes")]
    pub required: bool,
    /// Used when no value is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub default: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub example: Option<Value>,
    /// The allowed values of an `enum`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

impl VariableSpec {
    fn inferred(name: &str, kind: VariableType, required: bool) -> Self {
        Self {
            name: name.to_owned(),
            kind,
            required,
            default: None,
            description: None,
            example: None,
            values: vec![],
        }
    }
}

/// How a template uses a variable, which decides the type inferred for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum VariableUse {
    /// Inserted as text.
    Print,
    /// Looped over.
    Iterate,
    /// Tested for truth and nothing else (`{% if premium %}`).
    Flag,
    /// Used in another expression (`{% if tone == "formal" %}`).
    Expression,
    /// Fills a message placeholder.
    Messages,
}

/// A prompt a template includes: `{% include "snippets/tone" %}` follows its current version,
/// `{% include "snippets/tone@3" %}` is pinned to version 3 and
/// `{% include "snippets/tone@production" %}` to the version its `production` label points at
/// (`@` never occurs in names; labels start with a letter, so they never read as versions).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IncludeRef {
    pub name: PromptName,
    pub pin: Option<IncludePin>,
}

/// What an include is pinned to instead of the current version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IncludePin {
    Version(u32),
    /// The version the label points at (a split label's primary one: a render never draws).
    Label(LabelName),
}

impl IncludeRef {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (name, pin) = match raw.rsplit_once('@') {
            Some((name, pin)) => (name, Some(pin)),
            None => (raw, None),
        };
        let name = PromptName::parse(name).map_err(|e| format!("includes {raw:?}, whose name {e}"))?;
        let pin = match pin {
            None => None,
            Some(pin) if pin.starts_with(|c: char| c.is_ascii_digit()) => {
                let version = pin.parse::<u32>().ok().filter(|v| *v >= 1).ok_or_else(|| {
                    format!("includes {raw:?}: after `@` comes a version number or a label")
                })?;
                Some(IncludePin::Version(version))
            }
            Some(pin) => {
                let label =
                    LabelName::parse(pin).ok().filter(|label| label.as_str() == pin).ok_or_else(|| {
                        format!("includes {raw:?}: after `@` comes a version number or a label")
                    })?;
                // `latest` always names the current version: the same as no pin.
                (!label.is_latest()).then_some(IncludePin::Label(label))
            }
        };
        Ok(Self { name, pin })
    }
}

impl std::fmt::Display for IncludeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.pin {
            Some(IncludePin::Version(version)) => write!(f, "{}@{version}", self.name),
            Some(IncludePin::Label(label)) => write!(f, "{}@{label}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

/// Most distinct prompts one version may include (each costs a read at every render).
pub const MAX_INCLUDES: usize = 20;

/// An include as a template states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    /// The field of the first template that includes it.
    pub field: String,
    /// The reference as written, which the engine looks the included template up by.
    pub raw: String,
    pub target: IncludeRef,
}

/// What a bundle's templates say: their variables, with how each is used, in order of first
/// appearance; and the prompts they include, in order of first appearance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemplateReading {
    pub uses: Vec<(String, BTreeSet<VariableUse>)>,
    pub includes: Vec<Include>,
}

impl TemplateReading {
    fn add(&mut self, name: &str, usage: VariableUse) {
        match self.uses.iter_mut().find(|(n, _)| n == name) {
            Some((_, set)) => {
                set.insert(usage);
            }
            None => self.uses.push((name.to_owned(), BTreeSet::from([usage]))),
        }
    }
}

/// The templates of a bundle with the field each comes from (`content`, `messages[2].content`).
pub fn templates<'a>(
    kind: PromptKind,
    content: &'a str,
    messages: &'a [ChatEntry],
) -> Vec<(String, &'a str)> {
    match kind {
        PromptKind::Text => vec![("content".to_owned(), content)],
        PromptKind::Chat => messages
            .iter()
            .enumerate()
            .filter_map(|(i, entry)| match entry {
                ChatEntry::Message { content, .. } => {
                    Some((format!("messages[{i}].content"), content.as_str()))
                }
                ChatEntry::Placeholder { .. } => None,
            })
            .collect(),
    }
}

/// Reads a bundle's templates, or reports their errors (with line and column) under their
/// fields: syntax, include references that are not `name` or `name@version`, too many includes.
pub fn read_templates(
    format: TemplateFormat,
    kind: PromptKind,
    content: &str,
    messages: &[ChatEntry],
) -> Result<TemplateReading, Vec<FieldError>> {
    let mut reading = TemplateReading::default();
    let mut errors = Vec::new();
    let mut read = |reading: &mut TemplateReading, field: String, text: &str| match format {
        TemplateFormat::Basic => {
            template::variables(text).iter().for_each(|name| reading.add(name, VariableUse::Print));
        }
        TemplateFormat::Logic => match logic::parse(text) {
            Ok(parsed) => {
                for variable in parsed.variables() {
                    for usage in &variable.usages {
                        reading.add(&variable.name, logic_use(*usage));
                    }
                }
                for raw in parsed.includes() {
                    match IncludeRef::parse(&raw) {
                        Ok(target) if !reading.includes.iter().any(|i| i.raw == raw) => {
                            reading.includes.push(Include { field: field.clone(), raw, target });
                        }
                        Ok(_) => {}
                        Err(reason) => errors.push(FieldError::new(field.clone(), reason)),
                    }
                }
            }
            Err(e) => errors
                .push(FieldError::new(field, format!("line {}, column {}: {}", e.line, e.column, e.message))),
        },
    };
    match kind {
        PromptKind::Text => read(&mut reading, "content".to_owned(), content),
        PromptKind::Chat => {
            for (i, entry) in messages.iter().enumerate() {
                match entry {
                    ChatEntry::Message { content, .. } => {
                        read(&mut reading, format!("messages[{i}].content"), content)
                    }
                    ChatEntry::Placeholder { placeholder } => reading.add(placeholder, VariableUse::Messages),
                }
            }
        }
    }
    if reading.includes.len() > MAX_INCLUDES {
        let field = reading.includes[MAX_INCLUDES].field.clone();
        errors.push(FieldError::new(field, format!("a version may include at most {MAX_INCLUDES} prompts")));
    }
    if errors.is_empty() { Ok(reading) } else { Err(errors) }
}

/// The distinct include references of a bundle's templates in order, read without parsing
/// expressions ([`logic::include_references`]): what the web app links to while editing. None
/// in basic templates, where `{% include %}` is text.
pub fn include_references(
    format: TemplateFormat,
    kind: PromptKind,
    content: &str,
    messages: &[ChatEntry],
) -> Vec<String> {
    let mut references: Vec<String> = Vec::new();
    if format == TemplateFormat::Logic {
        for (_, text) in templates(kind, content, messages) {
            for reference in logic::include_references(text) {
                if !references.contains(&reference) {
                    references.push(reference);
                }
            }
        }
    }
    references
}

/// The variables of the templates with how each is used, in order of first appearance.
pub fn variable_uses(
    format: TemplateFormat,
    kind: PromptKind,
    content: &str,
    messages: &[ChatEntry],
) -> Result<Vec<(String, BTreeSet<VariableUse>)>, Vec<FieldError>> {
    read_templates(format, kind, content, messages).map(|reading| reading.uses)
}

fn logic_use(usage: logic::Usage) -> VariableUse {
    match usage {
        logic::Usage::Print => VariableUse::Print,
        logic::Usage::Iterate => VariableUse::Iterate,
        logic::Usage::Flag => VariableUse::Flag,
        logic::Usage::Expression => VariableUse::Expression,
    }
}

/// The type a use implies, and whether a value is needed.
fn implied(uses: &BTreeSet<VariableUse>) -> (VariableType, bool) {
    if uses.contains(&VariableUse::Messages) {
        (VariableType::Messages, true)
    } else if uses.contains(&VariableUse::Iterate) {
        (VariableType::Json, true)
    } else if uses.contains(&VariableUse::Print) {
        (VariableType::String, true)
    } else if uses.iter().all(|u| *u == VariableUse::Flag) {
        (VariableType::Boolean, false)
    } else {
        (VariableType::String, false)
    }
}

/// Types a use allows a variable to be declared with.
fn allowed(uses: &BTreeSet<VariableUse>, kind: VariableType) -> Result<(), &'static str> {
    let messages = uses.contains(&VariableUse::Messages);
    if messages && (kind != VariableType::Messages || uses.len() > 1) {
        return Err("fills a message placeholder, so it must be of type messages and used nowhere else");
    }
    if !messages && kind == VariableType::Messages {
        return Err("is not a message placeholder, so it cannot be of type messages");
    }
    if uses.contains(&VariableUse::Iterate) && kind != VariableType::Json {
        return Err("is looped over, so it must be of type json");
    }
    Ok(())
}

/// The contract of a version: one spec per variable, in the templates' order. A spec the
/// caller gives wins; else the previous version's spec for the same name, if it still fits
/// how the variable is used; else one inferred from the use. A given spec for a name the
/// templates do not use, or one that does not fit its use, is an error under `contract[i]`.
pub fn contract(
    uses: &[(String, BTreeSet<VariableUse>)],
    given: Option<&[VariableSpec]>,
    previous: &[VariableSpec],
) -> Result<Vec<VariableSpec>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let given = given.unwrap_or_default();
    let mut seen = BTreeSet::new();
    for (i, spec) in given.iter().enumerate() {
        let field = format!("contract[{i}]");
        if !seen.insert(spec.name.as_str()) {
            errors.push(FieldError::new(format!("{field}.name"), "is given twice"));
            continue;
        }
        match uses.iter().find(|(name, _)| *name == spec.name) {
            None => errors.push(FieldError::new(format!("{field}.name"), "is not a variable of this prompt")),
            Some((_, how)) => {
                if let Err(reason) = allowed(how, spec.kind) {
                    errors.push(FieldError::new(format!("{field}.type"), reason));
                }
                check_spec(&field, spec, &mut errors);
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let specs: Vec<VariableSpec> = uses
        .iter()
        .map(|(name, how)| {
            given
                .iter()
                .chain(previous.iter().filter(|old| allowed(how, old.kind).is_ok()))
                .find(|spec| spec.name == *name)
                .cloned()
                .unwrap_or_else(|| {
                    let (kind, required) = implied(how);
                    VariableSpec::inferred(name, kind, required)
                })
        })
        .collect();
    if serde_json::to_vec(&specs).map_or(0, |json| json.len()) > MAX_CONTRACT_BYTES {
        return Err(vec![FieldError::new(
            "contract",
            format!("must be at most {} KB as JSON", MAX_CONTRACT_BYTES / 1024),
        )]);
    }
    Ok(specs)
}

fn check_spec(field: &str, spec: &VariableSpec, errors: &mut Vec<FieldError>) {
    if spec.description.as_ref().is_some_and(|d| d.chars().count() > MAX_VARIABLE_DESCRIPTION) {
        errors.push(FieldError::new(
            format!("{field}.description"),
            format!("must be at most {MAX_VARIABLE_DESCRIPTION} characters"),
        ));
    }
    match spec.kind {
        VariableType::Enum => {
            if spec.values.is_empty() || spec.values.len() > MAX_ENUM_VALUES {
                errors.push(FieldError::new(
                    format!("{field}.values"),
                    format!("an enum needs 1 to {MAX_ENUM_VALUES} values"),
                ));
            }
            let distinct: BTreeSet<&String> = spec.values.iter().collect();
            if distinct.len() != spec.values.len()
                || spec.values.iter().any(|v| v.is_empty() || v.chars().count() > MAX_ENUM_VALUE_LEN)
            {
                errors.push(FieldError::new(
                    format!("{field}.values"),
                    format!("must be distinct, each 1 to {MAX_ENUM_VALUE_LEN} characters"),
                ));
            }
        }
        _ if !spec.values.is_empty() => {
            errors.push(FieldError::new(format!("{field}.values"), "only an enum has values"));
        }
        _ => {}
    }
    for (key, value) in [("default", &spec.default), ("example", &spec.example)] {
        if let Some(value) = value
            && let Err(reason) = coerce(spec, value)
        {
            errors.push(FieldError::new(format!("{field}.{key}"), reason));
        }
    }
}

/// `value` as `spec`'s type wants it: strings of numbers and booleans are read as such, and
/// numbers and booleans are accepted for a string, so forms and query strings work.
pub fn coerce(spec: &VariableSpec, value: &Value) -> Result<Value, String> {
    let text = value.as_str().map(str::trim);
    match spec.kind {
        VariableType::String => match value {
            Value::String(_) => Ok(value.clone()),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            _ => Err("must be a string".to_owned()),
        },
        VariableType::Number => match (value, text.map(str::parse::<f64>)) {
            (Value::Number(_), _) => Ok(value.clone()),
            (_, Some(Ok(n))) if n.is_finite() => Ok(json!(n)),
            _ => Err("must be a number".to_owned()),
        },
        VariableType::Integer => {
            let integer = match value {
                Value::Number(n) => n
                    .as_i64()
                    .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9e15).map(|f| f as i64)),
                Value::String(_) => text.and_then(|t| t.parse::<i64>().ok()),
                _ => None,
            };
            integer.map(Value::from).ok_or_else(|| "must be a whole number".to_owned())
        }
        VariableType::Boolean => match (value, text) {
            (Value::Bool(_), _) => Ok(value.clone()),
            (_, Some("true")) => Ok(Value::Bool(true)),
            (_, Some("false")) => Ok(Value::Bool(false)),
            _ => Err("must be true or false".to_owned()),
        },
        VariableType::Enum => match value.as_str() {
            Some(v) if spec.values.iter().any(|allowed| allowed == v) => Ok(value.clone()),
            _ => Err(format!("must be one of: {}", spec.values.join(", "))),
        },
        VariableType::Json => Ok(value.clone()),
        VariableType::Messages => messages_value(value).map(|_| value.clone()),
    }
}

/// The messages a placeholder is filled with.
pub fn messages_value(value: &Value) -> Result<Vec<ChatMessage>, String> {
    let wrong = || "must be a list of messages, each {\"role\": …, \"content\": \"…\"}".to_owned();
    let items = value.as_array().ok_or_else(wrong)?;
    if items.len() > MAX_PLACEHOLDER_MESSAGES {
        return Err(format!("may have at most {MAX_PLACEHOLDER_MESSAGES} messages"));
    }
    items
        .iter()
        .map(|item| {
            let role = item.get("role").and_then(Value::as_str).and_then(ChatRole::parse);
            let content = item.get("content").and_then(Value::as_str);
            match (role, content) {
                (Some(role), Some(content)) => Ok(ChatMessage { role, content: content.to_owned() }),
                _ => Err(wrong()),
            }
        })
        .collect()
}

/// The values to render with: each given value coerced to its variable's type, defaults
/// filled in. One error per problem under `variables.{name}`: no value for a required
/// variable, a value of the wrong type, and (when `strict`) a value for no variable.
pub fn bind(
    contract: &[VariableSpec],
    given: &BTreeMap<String, Value>,
    strict: bool,
) -> Result<BTreeMap<String, Value>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut bound = BTreeMap::new();
    for spec in contract {
        let field = format!("variables.{}", spec.name);
        match given.get(&spec.name).or(spec.default.as_ref()) {
            Some(value) => match coerce(spec, value) {
                Ok(value) => {
                    bound.insert(spec.name.clone(), value);
                }
                Err(reason) => errors.push(FieldError::new(field, reason)),
            },
            None if spec.required => errors.push(FieldError::new(field, "has no value")),
            None => {}
        }
    }
    if strict {
        for name in given.keys().filter(|name| !contract.iter().any(|spec| spec.name == **name)) {
            errors.push(FieldError::new(format!("variables.{name}"), "is not a variable of this prompt"));
        }
    }
    if errors.is_empty() { Ok(bound) } else { Err(errors) }
}

/// A value as the text a template inserts: strings verbatim, `null` as nothing, anything else
/// as compact JSON.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The contract as a JSON Schema (draft 2020-12) of the object of values render takes.
pub fn json_schema(contract: &[VariableSpec]) -> Value {
    let properties: serde_json::Map<String, Value> = contract
        .iter()
        .map(|spec| {
            let typed = match spec.kind {
                VariableType::String => json!({"type": "string"}),
                VariableType::Number => json!({"type": "number"}),
                VariableType::Integer => json!({"type": "integer"}),
                VariableType::Boolean => json!({"type": "boolean"}),
                VariableType::Enum => json!({"type": "string", "enum": spec.values}),
                VariableType::Json => json!({}),
                VariableType::Messages => json!({
                    "type": "array",
                    "maxItems": MAX_PLACEHOLDER_MESSAGES,
                    "items": {
                        "type": "object",
                        "required": ["role", "content"],
                        "properties": {
                            "role": {"enum": ChatRole::ALL.map(ChatRole::as_str)},
                            "content": {"type": "string"},
                        },
                    },
                }),
            };
            let mut schema = match typed {
                Value::Object(object) => object,
                _ => serde_json::Map::new(),
            };
            if let Some(description) = &spec.description {
                schema.insert("description".into(), json!(description));
            }
            if let Some(default) = &spec.default {
                schema.insert("default".into(), default.clone());
            }
            if let Some(example) = &spec.example {
                schema.insert("examples".into(), json!([example]));
            }
            (spec.name.clone(), Value::Object(schema))
        })
        .collect();
    let required: Vec<&str> =
        contract.iter().filter(|s| s.required && s.default.is_none()).map(|s| s.name.as_str()).collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// A chat prompt as one text: each message under its role, placeholders marked. Stored as the
/// prompt's `content`, so search, previews, sizes and diffs work for chat prompts as for text.
pub fn transcript(messages: &[ChatEntry]) -> String {
    messages
        .iter()
        .map(|entry| match entry {
            ChatEntry::Message { role, content } => format!("[{}]\n{content}", role.as_str()),
            ChatEntry::Placeholder { placeholder } => format!("[placeholder: {placeholder}]"),
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Checks a chat prompt's entries (count, placeholder names, one placeholder per name),
/// adding one error per problem under `messages[i]`.
pub fn check_messages(messages: &[ChatEntry], errors: &mut Vec<FieldError>) {
    if messages.is_empty() || messages.len() > MAX_MESSAGES {
        errors.push(FieldError::new("messages", format!("a chat prompt needs 1 to {MAX_MESSAGES} messages")));
    }
    let mut placeholders = BTreeSet::new();
    for (i, entry) in messages.iter().enumerate() {
        if let ChatEntry::Placeholder { placeholder } = entry {
            if !is_identifier(placeholder) {
                errors.push(FieldError::new(
                    format!("messages[{i}].placeholder"),
                    "must be a letter or '_', then letters, digits or '_' (at most 100)",
                ));
            }
            if !placeholders.insert(placeholder.as_str()) {
                errors.push(FieldError::new(
                    format!("messages[{i}].placeholder"),
                    "is used by another placeholder",
                ));
            }
        }
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= template::MAX_VARIABLE_NAME_LEN
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uses(pairs: &[(&str, &[VariableUse])]) -> Vec<(String, BTreeSet<VariableUse>)> {
        pairs.iter().map(|(n, u)| ((*n).to_owned(), u.iter().copied().collect())).collect()
    }

    fn spec(name: &str, kind: VariableType) -> VariableSpec {
        VariableSpec::inferred(name, kind, true)
    }

    #[test]
    fn include_references_span_a_chat_prompts_messages_in_logic_templates_only() {
        let messages = [
            ChatEntry::Message { role: ChatRole::System, content: "{% include \"tone\" %}".to_owned() },
            ChatEntry::Placeholder { placeholder: "history".to_owned() },
            ChatEntry::Message {
                role: ChatRole::User,
                content: "{% include 'faq@2' %}{% include \"tone\" %}".to_owned(),
            },
        ];
        let chat = |format| include_references(format, PromptKind::Chat, "", &messages);
        assert_eq!(chat(TemplateFormat::Logic), ["tone", "faq@2"]);
        assert!(chat(TemplateFormat::Basic).is_empty());
        let text =
            include_references(TemplateFormat::Logic, PromptKind::Text, "{% include \"a\" %}", &messages);
        assert_eq!(text, ["a"]);
    }

    #[test]
    fn contracts_are_inferred_from_how_variables_are_used() {
        use VariableUse::*;
        let used = uses(&[
            ("who", &[Print]),
            ("items", &[Iterate, Print]),
            ("vip", &[Flag]),
            ("tone", &[Expression, Flag]),
            ("history", &[Messages]),
        ]);
        let got = contract(&used, None, &[]).unwrap();
        let kinds: Vec<(&str, VariableType, bool)> =
            got.iter().map(|s| (s.name.as_str(), s.kind, s.required)).collect();
        assert_eq!(
            kinds,
            [
                ("who", VariableType::String, true),
                ("items", VariableType::Json, true),
                ("vip", VariableType::Boolean, false),
                ("tone", VariableType::String, false),
                ("history", VariableType::Messages, true),
            ]
        );
    }

    #[test]
    fn given_specs_win_then_previous_ones_that_still_fit() {
        use VariableUse::*;
        let used = uses(&[("a", &[Print]), ("b", &[Print]), ("c", &[Iterate])]);
        let given = [VariableSpec { description: Some("first".into()), ..spec("a", VariableType::Integer) }];
        let previous = [spec("b", VariableType::Number), spec("c", VariableType::String)];
        let got = contract(&used, Some(&given), &previous).unwrap();
        assert_eq!(got[0], given[0]);
        assert_eq!(got[1].kind, VariableType::Number);
        // `c` was a string, but is now looped over: inferred again.
        assert_eq!(got[2].kind, VariableType::Json);
    }

    #[test]
    fn bad_specs_are_field_errors() {
        use VariableUse::*;
        let used = uses(&[("a", &[Print]), ("h", &[Messages]), ("l", &[Iterate])]);
        let given = [
            spec("zz", VariableType::String),
            spec("h", VariableType::String),
            spec("l", VariableType::String),
            VariableSpec { values: vec![], ..spec("a", VariableType::Enum) },
            spec("a", VariableType::String),
        ];
        let errors = contract(&used, Some(&given), &[]).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "contract[0].name",
                "contract[1].type",
                "contract[2].type",
                "contract[3].values",
                "contract[4].name"
            ]
        );
        let bad_default = [VariableSpec { default: Some(json!("x")), ..spec("a", VariableType::Integer) }];
        let errors = contract(&used, Some(&bad_default), &[]).unwrap_err();
        assert_eq!(errors[0].field, "contract[0].default");
        assert_eq!(errors[0].message, "must be a whole number");
    }

    #[test]
    fn values_are_coerced_to_their_types() {
        let cases: &[(VariableType, Value, Result<Value, ()>)] = &[
            (VariableType::String, json!("x"), Ok(json!("x"))),
            (VariableType::String, json!(4), Ok(json!("4"))),
            (VariableType::String, json!([1]), Err(())),
            (VariableType::Number, json!(" 2.5 "), Ok(json!(2.5))),
            (VariableType::Number, json!("NaN"), Err(())),
            (VariableType::Number, json!(true), Err(())),
            (VariableType::Integer, json!("42"), Ok(json!(42))),
            (VariableType::Integer, json!(3.0), Ok(json!(3))),
            (VariableType::Integer, json!(3.5), Err(())),
            (VariableType::Boolean, json!("false"), Ok(json!(false))),
            (VariableType::Boolean, json!("yes"), Err(())),
            (VariableType::Json, json!({"a": [1]}), Ok(json!({"a": [1]}))),
            (
                VariableType::Messages,
                json!([{"role": "user", "content": "hi"}]),
                Ok(json!([{"role": "user", "content": "hi"}])),
            ),
            (VariableType::Messages, json!([{"role": "tool", "content": "hi"}]), Err(())),
            (VariableType::Messages, json!("hi"), Err(())),
        ];
        for (kind, value, expected) in cases {
            let got = coerce(&spec("v", *kind), value).map_err(|_| ());
            assert_eq!(&got, expected, "{kind:?} {value}");
        }
        let choice = VariableSpec {
            values: vec!["formal".into(), "casual".into()],
            ..spec("tone", VariableType::Enum)
        };
        assert_eq!(coerce(&choice, &json!("casual")), Ok(json!("casual")));
        assert_eq!(coerce(&choice, &json!("rude")), Err("must be one of: formal, casual".to_owned()));
    }

    #[test]
    fn binding_reports_one_error_per_problem_and_fills_defaults() {
        let contract = [
            spec("name", VariableType::String),
            VariableSpec { default: Some(json!(3)), ..spec("count", VariableType::Integer) },
            VariableSpec { required: false, ..spec("vip", VariableType::Boolean) },
            spec("age", VariableType::Integer),
        ];
        let given: BTreeMap<String, Value> =
            [("age".to_owned(), json!("old")), ("zz".to_owned(), json!(1))].into();
        let errors = bind(&contract, &given, true).unwrap_err();
        let got: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.message.as_str())).collect();
        assert_eq!(
            got,
            [
                ("variables.name", "has no value"),
                ("variables.age", "must be a whole number"),
                ("variables.zz", "is not a variable of this prompt"),
            ]
        );
        let given: BTreeMap<String, Value> =
            [("name".to_owned(), json!("Ann")), ("age".to_owned(), json!("7"))].into();
        let bound = bind(&contract, &given, false).unwrap();
        assert_eq!(
            bound,
            [("name".to_owned(), json!("Ann")), ("count".to_owned(), json!(3)), ("age".to_owned(), json!(7))]
                .into()
        );
    }

    #[test]
    fn the_json_schema_lists_types_and_required_names() {
        let contract = [
            VariableSpec {
                description: Some("Who".into()),
                example: Some(json!("Ann")),
                ..spec("name", VariableType::String)
            },
            VariableSpec {
                values: vec!["a".into()],
                default: Some(json!("a")),
                ..spec("pick", VariableType::Enum)
            },
            spec("history", VariableType::Messages),
        ];
        let schema = json_schema(&contract);
        assert_eq!(schema["required"], json!(["name", "history"]));
        assert_eq!(
            schema["properties"]["name"],
            json!({"type": "string", "description": "Who", "examples": ["Ann"]})
        );
        assert_eq!(schema["properties"]["pick"], json!({"type": "string", "enum": ["a"], "default": "a"}));
        assert_eq!(
            schema["properties"]["history"]["items"]["properties"]["role"]["enum"],
            json!(["system", "developer", "user", "assistant"])
        );
        assert_eq!(schema["additionalProperties"], json!(false));
    }

    #[test]
    fn chat_entries_read_and_write_as_messages_or_placeholders() {
        let entries: Vec<ChatEntry> = serde_json::from_value(json!([
            {"role": "system", "content": "Be {{tone}}."},
            {"placeholder": "history"},
            {"role": "user", "content": "{{question}}"},
        ]))
        .unwrap();
        assert_eq!(entries[1], ChatEntry::Placeholder { placeholder: "history".into() });
        assert_eq!(
            transcript(&entries),
            "[system]\nBe {{tone}}.\n\n[placeholder: history]\n\n[user]\n{{question}}"
        );
        let used = variable_uses(TemplateFormat::Basic, PromptKind::Chat, "", &entries).unwrap();
        let names: Vec<&str> = used.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["tone", "history", "question"]);
        let mut errors = Vec::new();
        let twice =
            [entries[1].clone(), entries[1].clone(), ChatEntry::Placeholder { placeholder: "a-b".into() }];
        check_messages(&twice, &mut errors);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["messages[1].placeholder", "messages[2].placeholder"]);
    }

    #[test]
    fn include_references_name_a_prompt_and_maybe_a_version() {
        let pinned = IncludeRef::parse("snippets/tone@3").unwrap();
        assert_eq!((pinned.name.as_str(), &pinned.pin), ("snippets/tone", &Some(IncludePin::Version(3))));
        assert_eq!(pinned.to_string(), "snippets/tone@3");
        let labelled = IncludeRef::parse("snippets/tone@production").unwrap();
        let production = LabelName::parse("production").unwrap();
        assert_eq!(labelled.pin, Some(IncludePin::Label(production)));
        assert_eq!(labelled.to_string(), "snippets/tone@production");
        assert_eq!(IncludeRef::parse("a").unwrap().pin, None);
        assert_eq!(IncludeRef::parse("a@latest").unwrap().pin, None, "latest is the current version");
        for bad in ["a@0", "a@3x", "a@", "bad name", "@3", "a@Prod", "a@pro duction", "a@-x"] {
            assert!(IncludeRef::parse(bad).is_err(), "{bad}");
        }
        let content = "{% include \"a\" %}{% include 'b@2' %}{% include \"a\" %}{{ x }}";
        let reading = read_templates(TemplateFormat::Logic, PromptKind::Text, content, &[]).unwrap();
        let raws: Vec<&str> = reading.includes.iter().map(|i| i.raw.as_str()).collect();
        assert_eq!(raws, ["a", "b@2"]);
        let many: String = (0..=MAX_INCLUDES).map(|i| format!("{{% include \"p{i}\" %}}")).collect();
        let errors = read_templates(TemplateFormat::Logic, PromptKind::Text, &many, &[]).unwrap_err();
        assert!(errors[0].message.contains("at most 20"));
        // Basic templates include nothing: the same text is literal.
        let basic = read_templates(TemplateFormat::Basic, PromptKind::Text, content, &[]).unwrap();
        assert!(basic.includes.is_empty());
    }

    #[test]
    fn settings_are_checked_field_by_field() {
        let settings = ModelSettings {
            model: Some(" ".into()),
            temperature: Some(2.5),
            top_p: Some(0.0),
            max_tokens: Some(10),
            stop: vec!["".into(), "a".into(), "b".into(), "c".into(), "d".into()],
            response_format: Some(ResponseFormat::JsonSchema {
                name: "bad name".into(),
                schema: json!(1),
                strict: true,
            }),
            tools: vec![
                ToolDefinition { name: "f".into(), description: None, parameters: json!({"type": "object"}) },
                ToolDefinition { name: "f".into(), description: None, parameters: json!({"type": "string"}) },
            ],
        };
        let mut errors = Vec::new();
        settings.check(&mut errors);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "settings.model",
                "settings.temperature",
                "settings.top_p",
                "settings.stop",
                "settings.stop[0]",
                "settings.response_format.name",
                "settings.response_format.schema",
                "settings.tools[1].name",
                "settings.tools[1].parameters",
            ]
        );
        let mut none = Vec::new();
        ModelSettings { temperature: Some(0.2), ..Default::default() }.check(&mut none);
        assert!(none.is_empty());
        assert_eq!(serde_json::to_value(ModelSettings::default()).unwrap(), json!({}));
    }
}
