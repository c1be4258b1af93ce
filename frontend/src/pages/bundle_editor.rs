//! What a prompt holds besides its name and text, in the prompt form: its kind (one text, or
//! chat messages with placeholders), the template format, a chat prompt's messages, the model
//! settings it was tuned for and the contract of its variables; and [`BundleView`], the same
//! read-only (a prompt the person may not edit, an old version).
//!
//! [`BundleDraft`] holds what the form shows. [`BundleDraft::request`] turns it into the
//! request's fields, or into local errors (JSON that does not parse, numbers out of range)
//! named as the server names its own (`messages[2].content`, `settings.tools[0].parameters`,
//! `contract[1].default`), so both kinds show next to the same inputs.

use std::collections::BTreeSet;

use domain::ai::{ChatRole, ResponseFormat, ToolDefinition};
use domain::bundle::{self, ChatEntry, ModelSettings, PromptKind, VariableSpec, VariableType};
use domain::template::{self, TemplateFormat};
use domain::wire::{BundleRequest, FieldError};
use leptos::prelude::*;
use serde_json::Value;
use wasm_bindgen::JsCast;

use crate::api::ApiFailure;
use crate::ui::{FieldMessage, FieldMessageAt, Rows, invalid, invalid_at, sync_number};

const TYPES: [VariableType; 7] = [
    VariableType::String,
    VariableType::Number,
    VariableType::Integer,
    VariableType::Boolean,
    VariableType::Enum,
    VariableType::Json,
    VariableType::Messages,
];

fn type_name(kind: VariableType) -> &'static str {
    match kind {
        VariableType::String => "Text",
        VariableType::Number => "Number",
        VariableType::Integer => "Whole number",
        VariableType::Boolean => "Yes or no",
        VariableType::Enum => "One of a list",
        VariableType::Json => "JSON",
        VariableType::Messages => "Messages (a placeholder)",
    }
}

const DEFAULT_PARAMETERS: &str = "{\n  \"type\": \"object\",\n  \"properties\": {}\n}";

/// One entry of the message list, as the form holds it.
#[derive(Clone, Copy)]
struct MessageRow {
    key: u32,
    /// A placeholder (filled with messages by a variable) rather than a message.
    placeholder: bool,
    /// The role's name (`user`…); unused by a placeholder.
    role: RwSignal<String>,
    /// The message's template, or the placeholder's variable name.
    text: RwSignal<String>,
}

/// One tool of the settings, as the form holds it.
#[derive(Clone, Copy)]
struct ToolRow {
    key: u32,
    name: RwSignal<String>,
    description: RwSignal<String>,
    /// JSON Schema, as typed.
    parameters: RwSignal<String>,
}

/// A spec's fields as the inputs show them.
#[derive(Clone, PartialEq)]
struct SpecText {
    kind: VariableType,
    required: bool,
    default: String,
    description: String,
    example: String,
    /// An enum's values, one a line.
    values: String,
}

impl SpecText {
    fn of(spec: &VariableSpec) -> Self {
        let shown = |value: &Option<Value>| match value {
            None => String::new(),
            Some(Value::String(s)) if matches!(spec.kind, VariableType::String | VariableType::Enum) => {
                s.clone()
            }
            Some(other) => other.to_string(),
        };
        Self {
            kind: spec.kind,
            required: spec.required,
            default: shown(&spec.default),
            description: spec.description.clone().unwrap_or_default(),
            example: shown(&spec.example),
            values: spec.values.join("\n"),
        }
    }
}

/// One variable of the saved contract, as the form holds it.
#[derive(Clone, Copy)]
struct SpecRow {
    name: StoredValue<String>,
    /// What the saved version says: a row that still says so is not sent.
    saved: StoredValue<SpecText>,
    kind: RwSignal<VariableType>,
    required: RwSignal<bool>,
    default: RwSignal<String>,
    description: RwSignal<String>,
    example: RwSignal<String>,
    values: RwSignal<String>,
}

impl SpecRow {
    fn new(spec: &VariableSpec) -> Self {
        let text = SpecText::of(spec);
        Self {
            name: StoredValue::new(spec.name.clone()),
            kind: RwSignal::new(text.kind),
            required: RwSignal::new(text.required),
            default: RwSignal::new(text.default.clone()),
            description: RwSignal::new(text.description.clone()),
            example: RwSignal::new(text.example.clone()),
            values: RwSignal::new(text.values.clone()),
            saved: StoredValue::new(text),
        }
    }

    fn text(&self) -> SpecText {
        SpecText {
            kind: self.kind.get_untracked(),
            required: self.required.get_untracked(),
            default: self.default.get_untracked(),
            description: self.description.get_untracked(),
            example: self.example.get_untracked(),
            values: self.values.get_untracked(),
        }
    }

    fn changed(&self) -> bool {
        self.saved.with_value(|saved| *saved != self.text())
    }
}

/// The form's bundle fields.
#[derive(Clone, Copy)]
pub struct BundleDraft {
    pub kind: RwSignal<PromptKind>,
    pub format: RwSignal<TemplateFormat>,
    messages: RwSignal<Vec<MessageRow>>,
    model: RwSignal<String>,
    temperature: RwSignal<String>,
    top_p: RwSignal<String>,
    max_tokens: RwSignal<String>,
    /// One a line.
    stop: RwSignal<String>,
    /// `""` (the provider's default), `text`, `json_object` or `json_schema`.
    response: RwSignal<String>,
    schema_name: RwSignal<String>,
    schema: RwSignal<String>,
    strict: RwSignal<bool>,
    tools: RwSignal<Vec<ToolRow>>,
    contract: RwSignal<Vec<SpecRow>>,
    /// The names of the specs the last save sent, in order: the server's `contract[i]` errors
    /// are about them.
    sent: RwSignal<Vec<String>>,
    rows: Rows,
    /// Told to screen readers after a message moved or was removed.
    announcement: RwSignal<String>,
}

impl BundleDraft {
    /// The form's fields for `view` (a new prompt: the default bundle), owned by the current
    /// component.
    pub fn new(view: &domain::wire::PromptView) -> Self {
        let draft = Self {
            kind: RwSignal::new(PromptKind::Text),
            format: RwSignal::new(TemplateFormat::Basic),
            messages: RwSignal::new(Vec::new()),
            model: RwSignal::new(String::new()),
            temperature: RwSignal::new(String::new()),
            top_p: RwSignal::new(String::new()),
            max_tokens: RwSignal::new(String::new()),
            stop: RwSignal::new(String::new()),
            response: RwSignal::new(String::new()),
            schema_name: RwSignal::new(String::new()),
            schema: RwSignal::new(String::new()),
            strict: RwSignal::new(false),
            tools: RwSignal::new(Vec::new()),
            contract: RwSignal::new(Vec::new()),
            sent: RwSignal::new(Vec::new()),
            rows: Rows::new(),
            announcement: RwSignal::new(String::new()),
        };
        draft.apply(view);
        draft
    }

    fn message_row(&self, entry: &ChatEntry) -> MessageRow {
        let key = self.rows.key();
        let (placeholder, role, text) = match entry {
            ChatEntry::Message { role, content } => (false, role.as_str(), content.as_str()),
            ChatEntry::Placeholder { placeholder } => (true, "", placeholder.as_str()),
        };
        self.rows.owned(|| MessageRow {
            key,
            placeholder,
            role: RwSignal::new(role.to_owned()),
            text: RwSignal::new(text.to_owned()),
        })
    }

    fn tool_row(&self, tool: Option<&ToolDefinition>) -> ToolRow {
        let key = self.rows.key();
        let parameters = tool.map_or_else(|| DEFAULT_PARAMETERS.to_owned(), |t| pretty(&t.parameters));
        self.rows.owned(|| ToolRow {
            key,
            name: RwSignal::new(tool.map(|t| t.name.clone()).unwrap_or_default()),
            description: RwSignal::new(tool.and_then(|t| t.description.clone()).unwrap_or_default()),
            parameters: RwSignal::new(parameters),
        })
    }

    /// Shows the saved `view` (after loading or saving it).
    pub fn apply(&self, view: &domain::wire::PromptView) {
        self.kind.set(view.kind);
        self.format.set(view.template_format);
        let rows = view.messages.iter().map(|m| self.message_row(m)).collect();
        self.messages.set(rows);
        let s = &view.settings;
        let number = |n: Option<f32>| n.map(|n| n.to_string()).unwrap_or_default();
        self.model.set(s.model.clone().unwrap_or_default());
        self.temperature.set(number(s.temperature));
        self.top_p.set(number(s.top_p));
        self.max_tokens.set(s.max_tokens.map(|n| n.to_string()).unwrap_or_default());
        self.stop.set(s.stop.join("\n"));
        let (response, name, schema, strict) = match &s.response_format {
            None => ("", String::new(), String::new(), false),
            Some(ResponseFormat::Text) => ("text", String::new(), String::new(), false),
            Some(ResponseFormat::JsonObject) => ("json_object", String::new(), String::new(), false),
            Some(ResponseFormat::JsonSchema { name, schema, strict }) => {
                ("json_schema", name.clone(), pretty(schema), *strict)
            }
        };
        self.response.set(response.to_owned());
        self.schema_name.set(name);
        self.schema.set(schema);
        self.strict.set(strict);
        let tools = s.tools.iter().map(|t| self.tool_row(Some(t))).collect();
        self.tools.set(tools);
        let specs = view.contract.iter().map(|spec| self.rows.owned(|| SpecRow::new(spec))).collect();
        self.contract.set(specs);
        self.sent.set(Vec::new());
    }

    /// A chat prompt's entries as they stand (tracked).
    fn entries(&self) -> Vec<ChatEntry> {
        self.messages.with(|rows| {
            rows.iter()
                .map(|row| {
                    let text = row.text.get();
                    if row.placeholder {
                        ChatEntry::Placeholder { placeholder: text.trim().to_owned() }
                    } else {
                        let role = row.role.with(|r| ChatRole::parse(r)).unwrap_or(ChatRole::User);
                        ChatEntry::Message { role, content: text }
                    }
                })
                .collect()
        })
    }

    /// The text the preview renders: the content, or a chat prompt's messages as one text.
    pub fn source(&self, content: &str) -> String {
        match self.kind.get() {
            PromptKind::Text => content.to_owned(),
            PromptKind::Chat => bundle::transcript(&self.entries()),
        }
    }

    /// The variables the templates use now, when they can be read here (basic templates);
    /// `None` for logic templates, which only the server reads.
    pub fn used(&self, content: &str) -> Option<BTreeSet<String>> {
        if self.format.get() != TemplateFormat::Basic {
            return None;
        }
        let mut names = BTreeSet::new();
        match self.kind.get() {
            PromptKind::Text => names.extend(template::variables(content)),
            PromptKind::Chat => {
                for entry in self.entries() {
                    match entry {
                        ChatEntry::Message { content, .. } => names.extend(template::variables(&content)),
                        ChatEntry::Placeholder { placeholder } => {
                            names.insert(placeholder);
                        }
                    }
                }
            }
        }
        Some(names)
    }

    /// The include references of the templates as they stand (tracked).
    pub fn includes(&self, content: &str) -> Vec<String> {
        bundle::include_references(self.format.get(), self.kind.get(), content, &self.entries())
    }

    /// Writes `tag` into the templates: into a text prompt at byte `caret` (its end if `None`),
    /// at the end of a chat prompt's last message (a new user message if it has none). The
    /// templates become logic ones, which read includes; returns whether they were not.
    pub fn insert(&self, tag: &str, content: RwSignal<String>, caret: Option<usize>) -> bool {
        match self.kind.get_untracked() {
            PromptKind::Text => content.update(|text| {
                let at = caret.filter(|at| text.is_char_boundary(*at)).unwrap_or(text.len());
                text.insert_str(at, tag);
            }),
            PromptKind::Chat => {
                let last =
                    self.messages.with_untracked(|rows| rows.iter().rev().find(|r| !r.placeholder).copied());
                match last {
                    Some(row) => row.text.update(|text| {
                        if !text.is_empty() && !text.ends_with('\n') {
                            text.push('\n');
                        }
                        text.push_str(tag);
                    }),
                    None => {
                        let entry = ChatEntry::Message { role: ChatRole::User, content: tag.to_owned() };
                        let row = self.message_row(&entry);
                        self.messages.update(|rows| rows.push(row));
                    }
                }
            }
        }
        let was_basic = self.format.get_untracked() == TemplateFormat::Basic;
        self.format.set(TemplateFormat::Logic);
        was_basic
    }

    /// Switches text ↔ chat. A text becoming a chat starts as one user message holding it.
    pub fn switch_kind(&self, kind: PromptKind, content: &str) {
        if kind == PromptKind::Chat && self.messages.with_untracked(Vec::is_empty) {
            let row =
                self.message_row(&ChatEntry::Message { role: ChatRole::User, content: content.to_owned() });
            self.messages.set(vec![row]);
        }
        self.kind.set(kind);
    }

    /// The request's bundle fields, or every local problem under the server's field names.
    pub fn request(&self, content: &str) -> Result<BundleRequest, Vec<FieldError>> {
        let mut errors = Vec::new();
        let kind = self.kind.get_untracked();
        let messages = (kind == PromptKind::Chat).then(|| {
            let entries = self.entries();
            bundle::check_messages(&entries, &mut errors);
            entries
        });
        let settings = self.settings(&mut errors);
        settings.check(&mut errors);
        let used = self.used(content);
        let contract = self.contract_request(used.as_ref(), &mut errors);
        if errors.is_empty() {
            Ok(BundleRequest {
                kind: Some(kind),
                template_format: Some(self.format.get_untracked()),
                messages,
                settings: Some(settings),
                // The specs the person changed (the server keeps or infers the rest).
                contract,
            })
        } else {
            Err(errors)
        }
    }

    fn settings(&self, errors: &mut Vec<FieldError>) -> ModelSettings {
        let text = |s: RwSignal<String>| s.get_untracked().trim().to_owned();
        let mut number = |field: &str, raw: String| -> Option<f32> {
            if raw.is_empty() {
                return None;
            }
            raw.parse::<f32>().map_err(|_| errors.push(FieldError::new(field, "must be a number"))).ok()
        };
        let temperature = number("settings.temperature", text(self.temperature));
        let top_p = number("settings.top_p", text(self.top_p));
        let max_tokens = match text(self.max_tokens) {
            raw if raw.is_empty() => None,
            raw => raw
                .parse::<u32>()
                .map_err(|_| errors.push(FieldError::new("settings.max_tokens", "must be a whole number")))
                .ok(),
        };
        let stop: Vec<String> =
            self.stop.get_untracked().lines().filter(|l| !l.is_empty()).map(str::to_owned).collect();
        let response_format = match self.response.get_untracked().as_str() {
            "text" => Some(ResponseFormat::Text),
            "json_object" => Some(ResponseFormat::JsonObject),
            "json_schema" => Some(ResponseFormat::JsonSchema {
                name: text(self.schema_name),
                schema: json_field("settings.response_format.schema", &self.schema.get_untracked(), errors),
                strict: self.strict.get_untracked(),
            }),
            _ => None,
        };
        let tools = self.tools.with_untracked(|rows| {
            rows.iter()
                .enumerate()
                .map(|(i, row)| ToolDefinition {
                    name: text(row.name),
                    description: Some(row.description.get_untracked().trim().to_owned())
                        .filter(|d| !d.is_empty()),
                    parameters: json_field(
                        &format!("settings.tools[{i}].parameters"),
                        &row.parameters.get_untracked(),
                        errors,
                    ),
                })
                .collect()
        });
        ModelSettings {
            model: Some(text(self.model)).filter(|m| !m.is_empty()),
            temperature,
            top_p,
            max_tokens,
            stop,
            response_format,
            tools,
        }
    }

    /// The specs the person changed, for variables the templates still use.
    fn contract_request(
        &self,
        used: Option<&BTreeSet<String>>,
        errors: &mut Vec<FieldError>,
    ) -> Option<Vec<VariableSpec>> {
        let rows: Vec<SpecRow> = self.contract.with_untracked(|rows| {
            rows.iter()
                .filter(|row| row.changed() && row.name.with_value(|n| used.is_none_or(|u| u.contains(n))))
                .copied()
                .collect()
        });
        self.sent.set(rows.iter().map(|row| row.name.get_value()).collect());
        let specs: Vec<VariableSpec> = rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let t = row.text();
                let mut value = |part: &str, raw: &str| -> Option<Value> {
                    let raw = raw.trim();
                    if raw.is_empty() {
                        None
                    } else if matches!(t.kind, VariableType::String | VariableType::Enum) {
                        Some(Value::String(raw.to_owned()))
                    } else {
                        serde_json::from_str(raw)
                            .map_err(|_| {
                                errors.push(FieldError::new(
                                    format!("contract[{i}].{part}"),
                                    "must be JSON for this type (3, true, [\"a\"], {\"k\": 1})",
                                ))
                            })
                            .ok()
                    }
                };
                let default = value("default", &t.default);
                let example = value("example", &t.example);
                VariableSpec {
                    name: row.name.get_value(),
                    kind: t.kind,
                    required: t.required,
                    default,
                    description: Some(t.description.trim().to_owned()).filter(|d| !d.is_empty()),
                    example,
                    values: if t.kind == VariableType::Enum {
                        t.values.lines().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).collect()
                    } else {
                        Vec::new()
                    },
                }
            })
            .collect();
        (!specs.is_empty()).then_some(specs)
    }

    /// The field name of `part` of the spec for `name` in the last request (`contract[1].type`),
    /// empty when it was not sent.
    fn spec_field(&self, name: StoredValue<String>, part: &'static str) -> Signal<String> {
        let sent = self.sent;
        Signal::derive(move || {
            sent.with(|s| name.with_value(|n| s.iter().position(|x| x == n)))
                .map(|i| format!("contract[{i}].{part}"))
                .unwrap_or_default()
        })
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// A JSON textarea's value; a local error under `field` when it is not JSON (and a value that
/// raises no further error in its place).
fn json_field(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Value {
    match serde_json::from_str(raw.trim()) {
        Ok(value) => value,
        Err(e) => {
            errors.push(FieldError::new(field, format!("is not valid JSON ({e})")));
            serde_json::json!({"type": "object"})
        }
    }
}

/// Whether `details` (the target of a `toggle` event) is open now.
fn is_open(ev: &leptos::ev::Event) -> bool {
    ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()).is_some_and(|e| e.has_attribute("open"))
}

/// Moves the focus to the element with `id` once the page is drawn (a moved row's DOM node
/// loses the focus when it is put in its new place).
fn focus_later(id: String) {
    request_animation_frame(move || {
        let element = document().get_element_by_id(&id);
        if let Some(el) = element.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
            let _ = el.focus();
        }
    });
}

/// The kind and template format.
#[component]
pub fn BundleHead(
    draft: BundleDraft,
    failure: RwSignal<Option<ApiFailure>>,
    content: RwSignal<String>,
) -> impl IntoView {
    let kind = draft.kind;
    let radio = move |value: PromptKind, label: &'static str| {
        let id = format!("prompt-kind-{}", value.as_str());
        view! {
            <div class="field-check">
                <input type="radio" name="prompt-kind" id=id.clone() value=value.as_str()
                    prop:checked=move || kind.get() == value
                    on:change=move |_| draft.switch_kind(value, &content.get_untracked())/>
                <label for=id>{label}</label>
            </div>
        }
    };
    view! {
        <div class="form-grid bundle-head">
            <fieldset class="choice-group" aria-describedby="prompt-kind-error">
                <legend>"Kind"</legend>
                {radio(PromptKind::Text, "Text")}
                {radio(PromptKind::Chat, "Chat messages")}
                <FieldMessage failure field="kind" id="prompt-kind-error"/>
            </fieldset>
            <div class="field">
                <label for="prompt-format">"Template format"</label>
                <select id="prompt-format" aria-describedby="prompt-format-hint prompt-format-error"
                    aria-invalid=invalid(failure, "template_format")
                    prop:value=move || draft.format.get().as_str()
                    on:change=move |ev| {
                        if let Some(f) = TemplateFormat::parse(&event_target_value(&ev)) {
                            draft.format.set(f);
                        }
                    }>
                    <option value="basic">"Basic: {{variables}}"</option>
                    <option value="logic">"Logic: also conditions and loops"</option>
                </select>
                <p class="hint" id="prompt-format-hint">"Logic templates are read by the server; the preview here shows basic ones."</p>
                <FieldMessage failure field="template_format" id="prompt-format-error"/>
            </div>
        </div>
    }
}

/// A chat prompt's messages and placeholders: add, remove, reorder, a role and a content each.
#[component]
pub fn MessagesEditor(draft: BundleDraft, failure: RwSignal<Option<ApiFailure>>) -> impl IntoView {
    let rows = draft.messages;
    let position = move |key: u32| rows.with(|r| r.iter().position(|m| m.key == key).unwrap_or(0));
    let count = move || rows.with(Vec::len);
    let add = move |placeholder: bool| {
        let entry = if placeholder {
            let taken: BTreeSet<String> = rows.with_untracked(|r| {
                r.iter().filter(|m| m.placeholder).map(|m| m.text.get_untracked()).collect()
            });
            let name = std::iter::once("history".to_owned())
                .chain((2..).map(|n| format!("history_{n}")))
                .find(|n| !taken.contains(n))
                .unwrap_or_default();
            ChatEntry::Placeholder { placeholder: name }
        } else {
            // Turns alternate; a first message is usually the system's.
            let last = rows
                .with_untracked(|r| r.iter().rev().find(|m| !m.placeholder).map(|m| m.role.get_untracked()));
            let role = match last.as_deref() {
                None => ChatRole::System,
                Some("user") => ChatRole::Assistant,
                Some(_) => ChatRole::User,
            };
            ChatEntry::Message { role, content: String::new() }
        };
        let row = draft.message_row(&entry);
        let what = if placeholder { "placeholder" } else { "message" };
        rows.update(|r| r.push(row));
        draft.announcement.set(format!("{} {} added.", capitalised(what), count()));
        focus_later(format!("msg-{}-{}", row.key, if placeholder { "placeholder" } else { "content" }));
    };
    let shift = move |key: u32, up: bool| {
        let from = position(key);
        let to = if up { from.checked_sub(1) } else { Some(from + 1).filter(|to| *to < count()) };
        let Some(to) = to else { return };
        rows.update(|r| r.swap(from, to));
        draft.announcement.set(format!("Moved to position {} of {}.", to + 1, count()));
        // Keep the focus on the moved row: the same button, or the other one at an end.
        let stuck = (up && to == 0) || (!up && to + 1 == count());
        let direction = if up != stuck { "up" } else { "down" };
        focus_later(format!("msg-{key}-{direction}"));
    };
    let remove = move |key: u32| {
        let at = position(key);
        rows.update(|r| r.retain(|m| m.key != key));
        draft.announcement.set(format!("Entry {} removed.", at + 1));
        focus_later("messages-add".to_owned());
    };

    view! {
        <fieldset class="messages-editor" aria-describedby="messages-hint messages-error">
            <legend>"Messages"</legend>
            <p class="hint" id="messages-hint">
                "Sent in this order. Write {{name}} in a message for a variable; a placeholder is filled with a list of messages (a conversation so far) when the prompt runs."
            </p>
            <FieldMessageAt failure field="messages" id="messages-error" exact=true/>
            <ol class="message-list">
                <For each=move || rows.get() key=|row| row.key let:row>
                    <MessageItem row failure position=Signal::derive(move || position(row.key))
                        total=Signal::derive(count) shift remove/>
                </For>
            </ol>
            <div class="form-actions">
                <button type="button" id="messages-add" class="button-secondary" on:click=move |_| add(false)>"Add message"</button>
                <button type="button" id="messages-add-placeholder" class="button-secondary" on:click=move |_| add(true)>"Add placeholder"</button>
            </div>
            <p class="visually-hidden" role="status">{move || draft.announcement.get()}</p>
        </fieldset>
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[component]
fn MessageItem(
    row: MessageRow,
    failure: RwSignal<Option<ApiFailure>>,
    /// From 0.
    position: Signal<usize>,
    /// How many entries there are.
    total: Signal<usize>,
    shift: impl Fn(u32, bool) + Copy + Send + Sync + 'static,
    remove: impl Fn(u32) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let k = row.key;
    let what = if row.placeholder { "placeholder" } else { "message" };
    let n = move || position.get() + 1;
    let field =
        move |part: &'static str| Signal::derive(move || format!("messages[{}]{part}", position.get()));
    let entry_field = field("");
    let text_field = field(if row.placeholder { ".placeholder" } else { ".content" });
    let role_field = field(".role");
    let text_id = format!("msg-{k}-{}", if row.placeholder { "placeholder" } else { "content" });
    let text_error = format!("{text_id}-error");
    let body = if row.placeholder {
        view! {
            <div class="field">
                <label for=text_id.clone()>"Variable that fills it"</label>
                <input id=text_id.clone() maxlength="100" autocomplete="off" spellcheck="false"
                    aria-describedby=format!("{text_error} msg-{k}-placeholder-hint") aria-invalid=invalid_at(failure, text_field)
                    prop:value=move || row.text.get() on:input=move |ev| row.text.set(event_target_value(&ev))/>
                <p class="hint" id=format!("msg-{k}-placeholder-hint")>"A variable of type messages: letters, digits and _."</p>
                <FieldMessageAt failure field=text_field id=text_error/>
            </div>
        }
        .into_any()
    } else {
        let role_id = format!("msg-{k}-role");
        view! {
            <div class="field message-role">
                <label for=role_id.clone()>"Role"</label>
                <select id=role_id.clone() aria-describedby=format!("{role_id}-error") aria-invalid=invalid_at(failure, role_field)
                    prop:value=move || row.role.get() on:change=move |ev| row.role.set(event_target_value(&ev))>
                    {ChatRole::ALL
                        .iter()
                        .map(|r| {
                            let selected = row.role.get_untracked() == r.as_str();
                            view! { <option value=r.as_str() selected=selected>{r.as_str()}</option> }
                        })
                        .collect_view()}
                </select>
                <FieldMessageAt failure field=role_field id=format!("{role_id}-error")/>
            </div>
            <div class="field message-content">
                <label for=text_id.clone()>"Content"</label>
                <textarea id=text_id.clone() rows="4" spellcheck="true" aria-describedby=text_error.clone()
                    aria-invalid=invalid_at(failure, text_field)
                    prop:value=move || row.text.get() on:input=move |ev| row.text.set(event_target_value(&ev))></textarea>
                <FieldMessageAt failure field=text_field id=text_error/>
            </div>
        }
        .into_any()
    };
    view! {
        <li class="message-item" class:placeholder-item=row.placeholder data-testid="message-item">
            <fieldset class="message-fields">
                <legend>{move || format!("{} {}", capitalised(what), n())}</legend>
                {body}
                <FieldMessageAt failure field=entry_field id=format!("msg-{k}-error") exact=true/>
                <div class="row-actions">
                    <button type="button" id=format!("msg-{k}-up") class="button-secondary button-small"
                        aria-label=move || format!("Move up {what} {}", n())
                        disabled=move || position.get() == 0 on:click=move |_| shift(k, true)>
                        "Move up"
                    </button>
                    <button type="button" id=format!("msg-{k}-down") class="button-secondary button-small"
                        aria-label=move || format!("Move down {what} {}", n())
                        disabled=move || { position.get() + 1 >= total.get() } on:click=move |_| shift(k, false)>
                        "Move down"
                    </button>
                    <button type="button" id=format!("msg-{k}-remove") class="button-secondary button-small"
                        aria-label=move || format!("Remove {what} {}", n()) on:click=move |_| remove(k)>
                        "Remove"
                    </button>
                </div>
            </fieldset>
        </li>
    }
}

/// The model settings the prompt was tuned for.
#[component]
pub fn SettingsPanel(draft: BundleDraft, failure: RwSignal<Option<ApiFailure>>) -> impl IntoView {
    let open = RwSignal::new(false);
    // A problem in a closed panel would go unseen.
    Effect::new(move || {
        if failure.with(|f| f.as_ref().is_some_and(|f| f.has_field_under("settings"))) {
            open.set(true);
        }
    });
    let tools = draft.tools;
    let add_tool = move |_| {
        let row = draft.tool_row(None);
        tools.update(|t| t.push(row));
        focus_later(format!("tool-{}-name", row.key));
    };
    let remove_tool = move |key: u32| {
        tools.update(|t| t.retain(|r| r.key != key));
        focus_later("settings-tool-add".to_owned());
    };
    let tool_position = move |key: u32| tools.with(|t| t.iter().position(|r| r.key == key).unwrap_or(0));
    let summary = move || {
        let model = draft.model.get();
        let n = tools.with(Vec::len);
        let mut parts = Vec::new();
        if !model.trim().is_empty() {
            parts.push(model.trim().to_owned());
        }
        if n > 0 {
            parts.push(format!("{n} tool{}", if n == 1 { "" } else { "s" }));
        }
        if parts.is_empty() { String::new() } else { format!(" ({})", parts.join(", ")) }
    };
    let number_field = |id: &'static str,
                        label: &'static str,
                        field: &'static str,
                        value: RwSignal<String>,
                        attrs: (&'static str, &'static str, &'static str)| {
        let (min, max, step) = attrs;
        let error_id = format!("{id}-error");
        let node = NodeRef::<leptos::html::Input>::new();
        sync_number(node, value);
        view! {
            <div class="field">
                <label for=id>{label}</label>
                <input id=id type="number" node_ref=node min=min max=(!max.is_empty()).then_some(max) step=step inputmode="decimal"
                    aria-describedby=error_id.clone() aria-invalid=invalid(failure, field)
                    on:input=move |ev| value.set(event_target_value(&ev))/>
                <FieldMessage failure field id=error_id/>
            </div>
        }
    };
    view! {
        <details class="bundle-section" id="settings-section" prop:open=move || open.get()
            on:toggle=move |ev| open.set(is_open(&ev))>
            <summary>"Model settings" {summary}</summary>
            <p class="hint">"What this prompt was tuned for. Left empty, a run uses the connection's model and the provider's defaults."</p>
            <FieldMessageAt failure field="settings" id="settings-error" exact=true/>
            <div class="form-grid">
                <div class="field">
                    <label for="settings-model">"Model"</label>
                    <input id="settings-model" maxlength="200" autocomplete="off" spellcheck="false"
                        placeholder="The connection's model" aria-describedby="settings-model-error"
                        aria-invalid=invalid(failure, "settings.model") bind:value=draft.model/>
                    <FieldMessage failure field="settings.model" id="settings-model-error"/>
                </div>
                {number_field("settings-temperature", "Temperature", "settings.temperature", draft.temperature, ("0", "2", "any"))}
                {number_field("settings-top-p", "Top p", "settings.top_p", draft.top_p, ("0", "1", "any"))}
                {number_field("settings-max-tokens", "Max tokens", "settings.max_tokens", draft.max_tokens, ("1", "", "1"))}
            </div>
            <div class="field">
                <label for="settings-stop">"Stop sequences"</label>
                <textarea id="settings-stop" class="textarea-short" rows="2" spellcheck="false"
                    aria-describedby="settings-stop-hint settings-stop-error" aria-invalid=invalid(failure, "settings.stop")
                    prop:value=move || draft.stop.get() on:input=move |ev| draft.stop.set(event_target_value(&ev))></textarea>
                <p class="hint" id="settings-stop-hint">"One a line, up to 4: the answer ends where one appears."</p>
                <FieldMessage failure field="settings.stop" id="settings-stop-error"/>
            </div>
            <div class="field">
                <label for="settings-response-format">"Response format"</label>
                <select id="settings-response-format" aria-describedby="settings-response-format-error"
                    aria-invalid=invalid(failure, "settings.response_format")
                    prop:value=move || draft.response.get() on:change=move |ev| draft.response.set(event_target_value(&ev))>
                    <option value="">"The provider's default"</option>
                    <option value="text">"Text"</option>
                    <option value="json_object">"Any JSON object"</option>
                    <option value="json_schema">"JSON matching a schema"</option>
                </select>
                <FieldMessageAt failure field="settings.response_format" id="settings-response-format-error" exact=true/>
            </div>
            <Show when=move || draft.response.get() == "json_schema">
                <div class="form-grid">
                    <div class="field">
                        <label for="settings-schema-name">"Schema name"</label>
                        <input id="settings-schema-name" maxlength="64" autocomplete="off" spellcheck="false"
                            aria-describedby="settings-schema-name-error" aria-invalid=invalid(failure, "settings.response_format.name")
                            bind:value=draft.schema_name/>
                        <FieldMessage failure field="settings.response_format.name" id="settings-schema-name-error"/>
                    </div>
                    <div class="field field-check">
                        <input id="settings-schema-strict" type="checkbox" bind:checked=draft.strict/>
                        <label for="settings-schema-strict">"Strict (the provider keeps to the schema exactly)"</label>
                    </div>
                </div>
                <div class="field">
                    <label for="settings-schema">"JSON Schema of the answer"</label>
                    <textarea id="settings-schema" class="textarea-short json-input" rows="6" spellcheck="false"
                        aria-describedby="settings-schema-error" aria-invalid=invalid(failure, "settings.response_format.schema")
                        prop:value=move || draft.schema.get() on:input=move |ev| draft.schema.set(event_target_value(&ev))></textarea>
                    <FieldMessage failure field="settings.response_format.schema" id="settings-schema-error"/>
                </div>
            </Show>
            <h3 id="settings-tools-title">"Tools"</h3>
            <p class="hint">"Functions the model may ask to call, each described by a JSON Schema of its arguments."</p>
            <FieldMessageAt failure field="settings.tools" id="settings-tools-error" exact=true/>
            <ol class="tool-list" aria-labelledby="settings-tools-title">
                <For each=move || tools.get() key=|t| t.key let:tool>
                    {
                        let k = tool.key;
                        let i = Signal::derive(move || tool_position(k));
                        let f = move |part: &'static str| Signal::derive(move || format!("settings.tools[{}].{part}", i.get()));
                        let (name_f, desc_f, params_f) = (f("name"), f("description"), f("parameters"));
                        view! {
                            <li>
                                <fieldset class="tool-fields" data-testid="tool-item">
                                    <legend>{move || format!("Tool {}", i.get() + 1)}</legend>
                                    <div class="form-grid">
                                        <div class="field">
                                            <label for=format!("tool-{k}-name")>"Name"</label>
                                            <input id=format!("tool-{k}-name") maxlength="64" autocomplete="off" spellcheck="false"
                                                aria-describedby=format!("tool-{k}-name-error") aria-invalid=invalid_at(failure, name_f)
                                                bind:value=tool.name/>
                                            <FieldMessageAt failure field=name_f id=format!("tool-{k}-name-error")/>
                                        </div>
                                        <div class="field">
                                            <label for=format!("tool-{k}-description")>"Description"</label>
                                            <input id=format!("tool-{k}-description") maxlength="1024"
                                                aria-describedby=format!("tool-{k}-description-error") aria-invalid=invalid_at(failure, desc_f)
                                                bind:value=tool.description/>
                                            <FieldMessageAt failure field=desc_f id=format!("tool-{k}-description-error")/>
                                        </div>
                                    </div>
                                    <div class="field">
                                        <label for=format!("tool-{k}-parameters")>"Parameters (JSON Schema)"</label>
                                        <textarea id=format!("tool-{k}-parameters") class="textarea-short json-input" rows="5" spellcheck="false"
                                            aria-describedby=format!("tool-{k}-parameters-error") aria-invalid=invalid_at(failure, params_f)
                                            prop:value=move || tool.parameters.get()
                                            on:input=move |ev| tool.parameters.set(event_target_value(&ev))></textarea>
                                        <FieldMessageAt failure field=params_f id=format!("tool-{k}-parameters-error")/>
                                    </div>
                                    <button type="button" id=format!("tool-{k}-remove") class="button-secondary button-small"
                                        aria-label=move || format!("Remove tool {}", i.get() + 1) on:click=move |_| remove_tool(k)>
                                        "Remove tool"
                                    </button>
                                </fieldset>
                            </li>
                        }
                    }
                </For>
            </ol>
            <button type="button" id="settings-tool-add" class="button-secondary" on:click=add_tool>"Add tool"</button>
        </details>
    }
}

/// The saved contract: each variable's type, whether it is needed, its default, description,
/// example and (for an enum) allowed values.
#[component]
pub fn ContractEditor(
    draft: BundleDraft,
    failure: RwSignal<Option<ApiFailure>>,
    /// The variables the templates use now (`None`: not known here).
    #[prop(into)]
    used: Signal<Option<BTreeSet<String>>>,
) -> impl IntoView {
    let open = RwSignal::new(true);
    Effect::new(move || {
        if failure.with(|f| f.as_ref().is_some_and(|f| f.has_field_under("contract"))) {
            open.set(true);
        }
    });
    let rows = draft.contract;
    let known = move || rows.with(|r| r.iter().map(|row| row.name.get_value()).collect::<BTreeSet<_>>());
    let new_names = move || {
        let known = known();
        used.get()
            .map(|u| u.into_iter().filter(|n| !known.contains(n)).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    view! {
        <details class="bundle-section" id="contract-section" prop:open=move || open.get()
            on:toggle=move |ev| open.set(is_open(&ev))>
            <summary>"Variables and their types"</summary>
            <FieldMessageAt failure field="contract" id="contract-error" exact=true/>
            <Show when=move || rows.with(Vec::is_empty)>
                <p class="hint">"Variables are listed here once the prompt is saved with some."</p>
            </Show>
            <div class="contract-list">
                <For each=move || rows.get() key=|row| row.name.get_value() let:row>
                    <SpecEditor row draft failure used/>
                </For>
            </div>
            {move || {
                let names = new_names();
                (!names.is_empty())
                    .then(|| {
                        view! {
                            <p class="hint" id="contract-new">
                                "New variables, typed when you save: "
                                {names.into_iter().map(|n| view! { <code>{format!("{{{{{n}}}}}")}</code> " " }).collect_view()}
                            </p>
                        }
                    })
            }}
        </details>
    }
}

#[component]
fn SpecEditor(
    row: SpecRow,
    draft: BundleDraft,
    failure: RwSignal<Option<ApiFailure>>,
    used: Signal<Option<BTreeSet<String>>>,
) -> impl IntoView {
    let name = row.name.get_value();
    let id = move |part: &str| format!("spec-{}-{part}", row.name.get_value());
    let f = move |part: &'static str| draft.spec_field(row.name, part);
    let (type_f, default_f, desc_f, example_f, values_f, name_f) =
        (f("type"), f("default"), f("description"), f("example"), f("values"), f("name"));
    let unused = {
        let name = name.clone();
        move || used.with(|u| u.as_ref().is_some_and(|u| !u.contains(&name)))
    };
    let text_input = move |part: &'static str,
                           label: &'static str,
                           value: RwSignal<String>,
                           field: Signal<String>,
                           hint: Option<&'static str>| {
        let input_id = id(part);
        let error_id = format!("{input_id}-error");
        let hint_id = format!("{input_id}-hint");
        let described = if hint.is_some() { format!("{hint_id} {error_id}") } else { error_id.clone() };
        view! {
            <div class="field">
                <label for=input_id.clone()>{label}</label>
                <input id=input_id autocomplete="off" aria-describedby=described aria-invalid=invalid_at(failure, field)
                    bind:value=value/>
                {hint.map(|h| view! { <p class="hint" id=hint_id>{h}</p> })}
                <FieldMessageAt failure field id=error_id/>
            </div>
        }
    };
    let value_hint = move || {
        if matches!(row.kind.get(), VariableType::String | VariableType::Enum) {
            None
        } else {
            Some("JSON: 3, true, [\"a\"], {\"k\": 1}")
        }
    };
    let type_id = id("type");
    let required_id = id("required");
    let values_id = id("values");
    view! {
        <fieldset class="spec" data-testid="spec" data-name=name.clone()>
            <legend>
                <code>{format!("{{{{{name}}}}}")}</code>
                <Show when=unused.clone()>
                    <span class="hint">" — no longer used: dropped when you save"</span>
                </Show>
            </legend>
            <FieldMessageAt failure field=name_f id=id("name-error")/>
            <div class="form-grid">
                <div class="field">
                    <label for=type_id.clone()>"Type"</label>
                    <select id=type_id.clone() aria-describedby=format!("{type_id}-error") aria-invalid=invalid_at(failure, type_f)
                        prop:value=move || row.kind.get().as_str()
                        on:change=move |ev| {
                            let raw = event_target_value(&ev);
                            if let Some(kind) = TYPES.into_iter().find(|t| t.as_str() == raw) {
                                row.kind.set(kind);
                            }
                        }>
                        {TYPES
                            .into_iter()
                            .map(|t| view! { <option value=t.as_str() selected=row.kind.get_untracked() == t>{type_name(t)}</option> })
                            .collect_view()}
                    </select>
                    <FieldMessageAt failure field=type_f id=format!("{type_id}-error")/>
                </div>
                <div class="field field-check">
                    <input id=required_id.clone() type="checkbox" bind:checked=row.required/>
                    <label for=required_id>"Required"</label>
                </div>
                {move || text_input("default", "Default", row.default, default_f, value_hint())}
                {move || text_input("example", "Example", row.example, example_f, value_hint())}
            </div>
            {text_input("description", "Description", row.description, desc_f, Some("Shown as help by the value's input."))}
            <Show when=move || row.kind.get() == VariableType::Enum>
                <div class="field">
                    <label for=values_id.clone()>"Allowed values"</label>
                    <textarea id=values_id.clone() class="textarea-short" rows="3"
                        aria-describedby=format!("{values_id}-hint {values_id}-error") aria-invalid=invalid_at(failure, values_f)
                        prop:value=move || row.values.get() on:input=move |ev| row.values.set(event_target_value(&ev))></textarea>
                    <p class="hint" id=format!("{values_id}-hint")>"One a line."</p>
                    <FieldMessageAt failure field=values_f id=format!("{values_id}-error")/>
                </div>
            </Show>
        </fieldset>
    }
}

/// A version's bundle, read-only: kind and format, the messages (or the content), the model
/// settings and the contract.
#[component]
pub fn BundleView(
    kind: PromptKind,
    format: TemplateFormat,
    content: String,
    messages: Vec<ChatEntry>,
    settings: ModelSettings,
    contract: Vec<VariableSpec>,
    /// Ids in this view start with it.
    prefix: &'static str,
) -> impl IntoView {
    let kind_text = match kind {
        PromptKind::Text => "Text",
        PromptKind::Chat => "Chat messages",
    };
    let body = match kind {
        PromptKind::Text => view! {
            <h3>"Content"</h3>
            <pre class="prompt-content-view" id=format!("{prefix}content-view")>{content}</pre>
        }
        .into_any(),
        PromptKind::Chat => view! {
            <h3>"Messages"</h3>
            <ol class="message-view" id=format!("{prefix}messages-view")>
                {messages
                    .into_iter()
                    .map(|entry| match entry {
                        ChatEntry::Message { role, content } => view! {
                            <li data-role=role.as_str()>
                                <span class="badge badge-role">{role.as_str()}</span>
                                <pre class="prompt-content-view">{content}</pre>
                            </li>
                        }
                        .into_any(),
                        ChatEntry::Placeholder { placeholder } => {
                            let name = placeholder.clone();
                            view! {
                            <li data-placeholder=name>
                                <span class="badge badge-role">"placeholder"</span>
                                " " <code>{placeholder}</code> " — filled with messages"
                            </li>
                            }
                            .into_any()
                        }
                    })
                    .collect_view()}
            </ol>
        }
        .into_any(),
    };
    view! {
        <p class="meta-line bundle-meta">{format!("{kind_text} · {} template", format.as_str())}</p>
        {body}
        <SettingsView settings/>
        {(!contract.is_empty()).then(|| view! { <ContractView contract/> })}
    }
}

#[component]
fn SettingsView(settings: ModelSettings) -> impl IntoView {
    if settings.is_empty() {
        return view! { <p class="hint">"No model settings: a run uses the connection's."</p> }.into_any();
    }
    let mut facts: Vec<(&str, String)> = Vec::new();
    if let Some(m) = &settings.model {
        facts.push(("Model", m.clone()));
    }
    if let Some(t) = settings.temperature {
        facts.push(("Temperature", t.to_string()));
    }
    if let Some(p) = settings.top_p {
        facts.push(("Top p", p.to_string()));
    }
    if let Some(n) = settings.max_tokens {
        facts.push(("Max tokens", n.to_string()));
    }
    if !settings.stop.is_empty() {
        facts.push(("Stop", settings.stop.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")));
    }
    match &settings.response_format {
        Some(ResponseFormat::Text) => facts.push(("Response", "text".to_owned())),
        Some(ResponseFormat::JsonObject) => facts.push(("Response", "any JSON object".to_owned())),
        Some(ResponseFormat::JsonSchema { name, strict, .. }) => facts
            .push(("Response", format!("JSON matching {name}{}", if *strict { " (strict)" } else { "" }))),
        None => {}
    }
    if !settings.tools.is_empty() {
        facts.push(("Tools", settings.tools.iter().map(|t| t.name.clone()).collect::<Vec<_>>().join(", ")));
    }
    view! {
        <h3>"Model settings"</h3>
        <dl class="run-facts settings-view">
            {facts.into_iter().map(|(k, v)| view! { <div><dt>{k}</dt><dd>{v}</dd></div> }).collect_view()}
        </dl>
    }
    .into_any()
}

#[component]
fn ContractView(contract: Vec<VariableSpec>) -> impl IntoView {
    view! {
        <h3 id="contract-view-title">"Variables"</h3>
        <div class="table-wrap">
            <table class="contract-view" aria-labelledby="contract-view-title">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Type"</th>
                        <th scope="col">"Required"</th>
                        <th scope="col">"Default"</th>
                        <th scope="col">"Description"</th>
                    </tr>
                </thead>
                <tbody>
                    {contract
                        .into_iter()
                        .map(|spec| {
                            let kind = if spec.kind == VariableType::Enum {
                                format!("one of: {}", spec.values.join(", "))
                            } else {
                                type_name(spec.kind).to_lowercase()
                            };
                            view! {
                                <tr>
                                    <th scope="row"><code>{spec.name}</code></th>
                                    <td>{kind}</td>
                                    <td>{if spec.required { "yes" } else { "no" }}</td>
                                    <td>{spec.default.map(|d| bundle::value_text(&d)).unwrap_or_default()}</td>
                                    <td>{spec.description.unwrap_or_default()}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}
