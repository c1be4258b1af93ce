//! The values a run, comparison, token count or preview fills the prompt's variables with: one
//! input per variable of the saved version's contract, of the kind its type takes (a number
//! field, a checkbox, a select of the allowed values, JSON, a small list of messages), its
//! default filled in and its description as help. [`RunValues::collect`] makes the typed JSON
//! values the server expects, or local errors under `variables.{name}` — the same names the
//! server's refusals use, so both show next to the input.

use std::collections::BTreeMap;

use domain::ai::ChatRole;
use domain::bundle::{VariableSpec, VariableType};
use domain::wire::{ErrorCode, FieldError};
use leptos::prelude::*;
use serde_json::{Value, json};

use crate::api::ApiFailure;
use crate::ui::{FieldMessageAt, Rows, invalid_at, sync_number};

/// One message of a `messages` value, as the form holds it.
#[derive(Clone, Copy)]
struct TurnRow {
    key: u32,
    role: RwSignal<String>,
    content: RwSignal<String>,
}

/// What the form holds for one variable; which part is used depends on its type.
#[derive(Clone, Copy)]
struct ValueField {
    text: RwSignal<String>,
    checked: RwSignal<bool>,
    turns: RwSignal<Vec<TurnRow>>,
}

/// The values typed so far, kept while the person switches between the AI tools.
#[derive(Clone, Copy)]
pub struct RunValues {
    fields: RwSignal<BTreeMap<String, ValueField>>,
    /// The last problem with the values (local, or the server's `variables.{name}` errors).
    failure: RwSignal<Option<ApiFailure>>,
    rows: Rows,
}

impl RunValues {
    /// Inputs for `contract`, defaults filled in; owned by the current component.
    pub fn new(contract: &[VariableSpec]) -> Self {
        let values =
            Self { fields: RwSignal::new(BTreeMap::new()), failure: RwSignal::new(None), rows: Rows::new() };
        values.sync(contract);
        values
    }

    fn turn(&self, role: &str, content: &str) -> TurnRow {
        let key = self.rows.key();
        self.rows.owned(|| TurnRow {
            key,
            role: RwSignal::new(role.to_owned()),
            content: RwSignal::new(content.to_owned()),
        })
    }

    /// Adds inputs for variables a newer version brought; values already typed stay.
    pub fn sync(&self, contract: &[VariableSpec]) {
        let missing: Vec<&VariableSpec> = self.fields.with_untracked(|fields| {
            contract.iter().filter(|spec| !fields.contains_key(&spec.name)).collect()
        });
        if missing.is_empty() {
            return;
        }
        let made: Vec<(String, ValueField)> =
            missing.into_iter().map(|spec| (spec.name.clone(), self.prefilled(spec))).collect();
        self.fields.update(|fields| fields.extend(made));
    }

    /// A new input holding the variable's default.
    fn prefilled(&self, spec: &VariableSpec) -> ValueField {
        let default = spec.default.as_ref();
        let text = match (spec.kind, default) {
            (_, None) | (VariableType::Messages | VariableType::Boolean, _) => String::new(),
            (VariableType::Json, Some(value)) => serde_json::to_string_pretty(value).unwrap_or_default(),
            (_, Some(Value::String(s))) => s.clone(),
            (_, Some(value)) => value.to_string(),
        };
        let checked = default.and_then(Value::as_bool).unwrap_or(false);
        let turns: Vec<TurnRow> = match (spec.kind, default.and_then(Value::as_array)) {
            (VariableType::Messages, Some(items)) => items
                .iter()
                .map(|m| {
                    let role = m["role"].as_str().unwrap_or("user");
                    self.turn(role, m["content"].as_str().unwrap_or_default())
                })
                .collect(),
            _ => Vec::new(),
        };
        self.rows.owned(|| ValueField {
            text: RwSignal::new(text),
            checked: RwSignal::new(checked),
            turns: RwSignal::new(turns),
        })
    }

    /// The values to send, typed as `contract` says; an empty input is left out (the server
    /// then uses the default, or says the variable has no value). Local problems are shown by
    /// their inputs and returned as a failure to show with the form.
    pub fn collect(&self, contract: &[VariableSpec]) -> Result<BTreeMap<String, Value>, ApiFailure> {
        let mut values = BTreeMap::new();
        let mut errors = Vec::new();
        self.fields.with_untracked(|fields| {
            for spec in contract {
                let Some(field) = fields.get(&spec.name) else { continue };
                match typed(spec, field) {
                    Ok(Some(value)) => {
                        values.insert(spec.name.clone(), value);
                    }
                    Ok(None) => {}
                    Err(reason) => errors.push(FieldError::new(format!("variables.{}", spec.name), reason)),
                }
            }
        });
        if errors.is_empty() {
            self.failure.set(None);
            return Ok(values);
        }
        let failure = ApiFailure {
            status: 422,
            code: Some(ErrorCode::ValidationFailed),
            errors,
            ..ApiFailure::local("Please correct the marked values.")
        };
        self.failure.set(Some(failure.clone()));
        Err(failure)
    }

    /// Shows the server's problems with the values (if any) by their inputs.
    pub fn report(&self, failure: &ApiFailure) {
        let about_values = failure.errors.iter().any(|e| e.field.starts_with("variables."));
        self.failure.set(about_values.then(|| failure.clone()));
    }
}

/// One variable's value as JSON; `None` when its input is empty.
fn typed(spec: &VariableSpec, field: &ValueField) -> Result<Option<Value>, String> {
    let text = field.text.get_untracked();
    let trimmed = text.trim();
    match spec.kind {
        VariableType::Boolean => Ok(Some(Value::Bool(field.checked.get_untracked()))),
        VariableType::Messages => {
            let turns = field.turns.get_untracked();
            let messages: Vec<Value> = turns
                .iter()
                .map(|t| json!({"role": t.role.get_untracked(), "content": t.content.get_untracked()}))
                .collect();
            Ok(Some(Value::Array(messages)))
        }
        _ if trimmed.is_empty() => Ok(None),
        VariableType::String => Ok(Some(Value::String(text))),
        VariableType::Enum => Ok(Some(Value::String(trimmed.to_owned()))),
        VariableType::Integer => trimmed
            .parse::<i64>()
            .map(|n| Some(Value::from(n)))
            .map_err(|_| "must be a whole number".to_owned()),
        VariableType::Number => trimmed
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(|n| Some(Value::Number(n)))
            .ok_or_else(|| "must be a number".to_owned()),
        VariableType::Json => {
            serde_json::from_str(trimmed).map(Some).map_err(|e| format!("is not valid JSON ({e})"))
        }
    }
}

/// How a type is named next to a variable's input.
fn type_label(kind: VariableType) -> &'static str {
    match kind {
        VariableType::String => "text",
        VariableType::Number => "number",
        VariableType::Integer => "whole number",
        VariableType::Boolean => "yes or no",
        VariableType::Enum => "one of a list",
        VariableType::Json => "JSON",
        VariableType::Messages => "messages",
    }
}

/// One input per variable of the saved version, as its type wants it.
#[component]
pub fn RunVariables(#[prop(into)] contract: Signal<Vec<VariableSpec>>, values: RunValues) -> impl IntoView {
    view! {
        <Show when=move || !contract.with(Vec::is_empty)
            fallback=|| view! { <p class="hint">"This prompt has no variables."</p> }>
            <fieldset class="run-variables">
                <legend>"Values for the variables"</legend>
                <div class="form-grid">
                    <For each=move || contract.get() key=|spec| (spec.name.clone(), spec.kind, spec.values.clone()) let:spec>
                        {
                            // Reactive: a newer version's variables get their inputs just after it arrives.
                            let name = spec.name.clone();
                            move || {
                                let spec = spec.clone();
                                values
                                    .fields
                                    .with(|f| f.get(&name).copied())
                                    .map(|field| view! { <VariableInput spec field values/> })
                            }
                        }
                    </For>
                </div>
            </fieldset>
        </Show>
    }
}

#[component]
fn VariableInput(spec: VariableSpec, field: ValueField, values: RunValues) -> impl IntoView {
    let name = spec.name.clone();
    let id = format!("run-var-{name}");
    let help_id = format!("{id}-help");
    let error_id = format!("{id}-error");
    let error_field = Signal::stored(format!("variables.{name}"));
    let failure = values.failure;
    let bad = invalid_at(failure, error_field);
    // Needed: required and nothing to fall back on.
    let needed = spec.required && spec.default.is_none();
    let described = match spec.description {
        Some(_) => format!("{help_id} {error_id}"),
        None => error_id.clone(),
    };
    let help = spec.description.clone().map(|d| view! { <p class="hint" id=help_id.clone()>{d}</p> });
    let placeholder = spec.example.as_ref().map(|e| match e {
        Value::String(s) => format!("e.g. {s}"),
        other => format!("e.g. {other}"),
    });
    let label_text = view! {
        {name.clone()}
        <span class="var-type">{format!(" · {}", type_label(spec.kind))}</span>
        {needed.then(|| view! { <span class="required-mark">" (required)"</span> })}
    };
    let text = field.text;
    let input = match spec.kind {
        VariableType::Boolean => {
            return view! {
                <div class="field field-check run-var" data-kind="boolean">
                    <input id=id.clone() type="checkbox" aria-describedby=described
                        prop:checked=move || field.checked.get()
                        on:change=move |ev| field.checked.set(event_target_checked(&ev))/>
                    <label for=id>{label_text}</label>
                    {help}
                    <FieldMessageAt failure field=error_field id=error_id/>
                </div>
            }
            .into_any();
        }
        VariableType::Messages => {
            return view! {
                <TurnsInput id name=name.clone() field values described needed/>
                {help}
                <FieldMessageAt failure field=error_field id=error_id/>
            }
            .into_any();
        }
        VariableType::Number | VariableType::Integer => {
            let integer = spec.kind == VariableType::Integer;
            let node = NodeRef::<leptos::html::Input>::new();
            sync_number(node, text);
            view! {
                <input id=id.clone() type="number" node_ref=node step=if integer { "1" } else { "any" }
                    inputmode=if integer { "numeric" } else { "decimal" }
                    aria-describedby=described aria-required=needed.then_some("true") aria-invalid=bad
                    placeholder=placeholder on:input=move |ev| text.set(event_target_value(&ev))/>
            }
            .into_any()
        }
        VariableType::Enum => {
            let choices = spec.values.clone();
            view! {
                <select id=id.clone() aria-describedby=described aria-required=needed.then_some("true") aria-invalid=bad
                    prop:value=move || text.get() on:change=move |ev| text.set(event_target_value(&ev))>
                    <option value="" selected=text.get_untracked().is_empty()>
                        {if needed { "Choose…" } else { "(no value)" }}
                    </option>
                    {choices
                        .into_iter()
                        .map(|v| {
                            let selected = text.get_untracked() == v;
                            let value = v.clone();
                            view! { <option value=value selected=selected>{v}</option> }
                        })
                        .collect_view()}
                </select>
            }
            .into_any()
        }
        VariableType::Json => view! {
            <textarea id=id.clone() rows="3" class="variable-value variable-json" spellcheck="false"
                aria-describedby=described aria-required=needed.then_some("true") aria-invalid=bad
                placeholder=placeholder
                prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))></textarea>
        }
        .into_any(),
        // Text, often several lines (notes, a diff): a one-line box that grows.
        VariableType::String => view! {
            <textarea id=id.clone() rows="1" class="variable-value"
                aria-describedby=described aria-required=needed.then_some("true") aria-invalid=bad
                placeholder=placeholder
                prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))></textarea>
        }
        .into_any(),
    };
    view! {
        <div class="field run-var" data-kind=spec.kind.as_str()>
            <label for=id>{label_text}</label>
            {input}
            {help}
            <FieldMessageAt failure field=error_field id=error_id/>
        </div>
    }
    .into_any()
}

/// A `messages` value: rows of role and content, added and removed.
#[component]
fn TurnsInput(
    id: String,
    name: String,
    field: ValueField,
    values: RunValues,
    described: String,
    needed: bool,
) -> impl IntoView {
    let turns = field.turns;
    let add_id = format!("{id}-add");
    let add = move |_| {
        let role = turns.with_untracked(|t| match t.last().map(|r| r.role.get_untracked()) {
            Some(r) if r == "user" => "assistant",
            _ => "user",
        });
        let row = values.turn(role, "");
        turns.update(|t| t.push(row));
    };
    let remove = move |key: u32| turns.update(|t| t.retain(|r| r.key != key));
    let position = move |key: u32| turns.with(|t| t.iter().position(|r| r.key == key).map_or(0, |i| i + 1));
    let base = id.clone();
    view! {
        <fieldset class="field run-var turns" data-kind="messages" id=id aria-describedby=described>
            <legend>
                {name} <span class="var-type">" · messages"</span>
                {needed.then(|| view! { <span class="required-mark">" (required)"</span> })}
            </legend>
            <Show when=move || turns.with(Vec::is_empty)>
                <p class="hint">"No messages: the placeholder stays empty."</p>
            </Show>
            <ol class="turns-list">
                <For each=move || turns.get() key=|t| t.key let:turn>
                    {
                        let k = turn.key;
                        let role_id = format!("{base}-role-{k}");
                        let content_id = format!("{base}-content-{k}");
                        view! {
                            <li class="turn">
                                <div class="field">
                                    <label for=role_id.clone()>{move || format!("Role of message {}", position(k))}</label>
                                    <select id=role_id prop:value=move || turn.role.get()
                                        on:change=move |ev| turn.role.set(event_target_value(&ev))>
                                        {ChatRole::ALL
                                            .iter()
                                            .map(|r| {
                                                let selected = turn.role.get_untracked() == r.as_str();
                                                view! { <option value=r.as_str() selected=selected>{r.as_str()}</option> }
                                            })
                                            .collect_view()}
                                    </select>
                                </div>
                                <div class="field turn-content">
                                    <label for=content_id.clone()>{move || format!("Content of message {}", position(k))}</label>
                                    <textarea id=content_id rows="1" class="variable-value"
                                        prop:value=move || turn.content.get()
                                        on:input=move |ev| turn.content.set(event_target_value(&ev))></textarea>
                                </div>
                                <button type="button" class="button-secondary button-small"
                                    aria-label=move || format!("Remove message {}", position(k))
                                    on:click=move |_| remove(k)>
                                    "Remove"
                                </button>
                            </li>
                        }
                    }
                </For>
            </ol>
            <button type="button" id=add_id class="button-secondary button-small" on:click=add>"Add message"</button>
        </fieldset>
    }
}
