//! Prompts made of prompts: which prompts include a prompt ("used by"), and what an edit of a
//! shared snippet would do to each of them before it is saved.

use std::collections::{BTreeMap, VecDeque};

use actix_web::{get, post, web};
use domain::bundle::{IncludePin, VariableSpec, VariableType};
use domain::prompt::Prompt;
use domain::wire::{
    ImpactItem, ImpactOutcome, ImpactReport, Problem, UpdatePromptRequest, UsedBy, UsedByList,
};
use serde_json::{Value, json};

use super::prompts::{edited, load, prompt_ref, viewer};
use crate::access::Principal;
use crate::bundles::{self, Proposed, Version};
use crate::error::ApiError;
use crate::state::AppState;

/// Dependents one impact preview renders: each costs two resolutions of its includes (up to
/// 50 reads each) and two renders.
const MAX_IMPACT_PROMPTS: usize = 25;
/// Characters of each rendering an impact preview shows.
const IMPACT_PREVIEW_CHARS: usize = 2_000;

/// The prompts whose current version includes this one (by its name), that you may see.
#[utoipa::path(
    tag = "prompts",
    security(("bearer" = [])),
    params(("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)")),
    responses(
        (status = 200, description = "Prompts that include it, A to Z", body = UsedByList),
        (status = 404, description = "No such prompt visible to you", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/prompts/{prompt}/used-by")]
pub async fn used_by(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<web::Json<UsedByList>, ApiError> {
    let prompt = load(&state, &principal, &path).await?;
    let including =
        state.db.tenant(principal.scope()).prompts_including(&viewer(&principal), &prompt.name).await?;
    Ok(web::Json(UsedByList {
        items: including
            .iter()
            .map(|(dependent, pin)| {
                let (pinned_version, pinned_label) = pin_fields(pin.as_ref());
                UsedBy { prompt: prompt_ref(dependent), pinned_version, pinned_label }
            })
            .collect(),
    }))
}

/// Previews an edit (the body of `PATCH /api/v1/prompts/{prompt}`) without saving it: every
/// prompt that includes this one — directly or through others, as far as you may see them —
/// rendered strictly before and after, with sample values from its contract (defaults, else
/// examples, else a value of each variable's type). Prompts pinned to a version or a label are
/// listed as unaffected.
#[utoipa::path(
    tag = "prompts",
    security(("bearer" = [])),
    params(("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)")),
    request_body = UpdatePromptRequest,
    responses(
        (status = 200, description = "What the edit would do to each dependent", body = ImpactReport),
        (status = 404, description = "No such prompt visible to you", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The edit itself is invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/prompts/{prompt}/impact")]
pub async fn preview_impact(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    body: web::Json<UpdatePromptRequest>,
) -> Result<web::Json<ImpactReport>, ApiError> {
    let snippet = load(&state, &principal, &path).await?;
    let fields = edited(&snippet, body.into_inner()).map_err(ApiError::validation)?;
    let after = Version { number: snippet.version + 1, content: fields.content, bundle: fields.bundle };
    let proposed = Proposed { key: snippet.name.key(), version: &after };
    let repo = state.db.tenant(principal.scope());
    let viewer = viewer(&principal);

    // Dependents, nearest first; each through the prompt that brought it in.
    let mut items = Vec::new();
    let mut seen = vec![snippet.id];
    let mut queue: VecDeque<(Prompt, Option<String>)> = VecDeque::from([(snippet, None)]);
    let mut truncated = false;
    while let Some((included, via)) = queue.pop_front() {
        for (dependent, pin) in repo.prompts_including(&viewer, &included.name).await? {
            if seen.contains(&dependent.id) {
                continue;
            }
            if items.len() == MAX_IMPACT_PROMPTS {
                truncated = true;
                break;
            }
            seen.push(dependent.id);
            let prompt = prompt_ref(&dependent);
            // A pinned include reads the same version after the edit, and so does one by label:
            // the label stays where it is.
            if pin.is_some() {
                let (pinned_version, pinned_label) = pin_fields(pin.as_ref());
                let item = ImpactItem {
                    prompt,
                    pinned_version,
                    pinned_label,
                    via: via.clone(),
                    outcome: ImpactOutcome::Pinned,
                    before: None,
                    after: None,
                    problem: None,
                };
                items.push(item);
                continue;
            }
            let current = Version {
                number: dependent.version,
                content: dependent.content.clone(),
                bundle: dependent.bundle.clone(),
            };
            let before = bundles::resolve(&state, &principal, &current, None).await;
            let values = before.as_ref().map(|r| sample_values(&r.contract)).unwrap_or_default();
            let before = match before {
                Ok(resolved) => bundles::render_resolved(&current, &resolved, &values, true).await,
                Err(e) => Err(e),
            };
            let after = match bundles::resolve(&state, &principal, &current, Some(&proposed)).await {
                Ok(resolved) => bundles::render_resolved(&current, &resolved, &values, true).await,
                Err(e) => Err(e),
            };
            let shown = |text: &str| text.chars().take(IMPACT_PREVIEW_CHARS).collect::<String>();
            let (outcome, problem) = match (&before, &after) {
                (_, Err(e)) => (ImpactOutcome::Breaks, Some(e.problem().clone())),
                (Ok(b), Ok(a)) if b.text == a.text => (ImpactOutcome::Unchanged, None),
                _ => (ImpactOutcome::Changed, None),
            };
            items.push(ImpactItem {
                prompt,
                pinned_version: None,
                pinned_label: None,
                via: via.clone(),
                outcome,
                before: before.ok().map(|r| shown(&r.text)),
                after: after.ok().map(|r| shown(&r.text)),
                problem,
            });
            let next_via = via.clone().or_else(|| Some(dependent.name.as_str().to_owned()));
            queue.push_back((dependent, next_via));
        }
    }
    Ok(web::Json(ImpactReport { items, truncated }))
}

/// A value for every variable of `contract`: its default, else its example, else one of its type.
fn sample_values(contract: &[VariableSpec]) -> BTreeMap<String, Value> {
    contract
        .iter()
        .map(|spec| {
            let value =
                spec.default.clone().or_else(|| spec.example.clone()).unwrap_or_else(|| match spec.kind {
                    VariableType::String => json!(format!("<{}>", spec.name)),
                    VariableType::Number | VariableType::Integer => json!(1),
                    VariableType::Boolean => json!(true),
                    VariableType::Enum => json!(spec.values.first().cloned().unwrap_or_default()),
                    VariableType::Json | VariableType::Messages => json!([]),
                });
            (spec.name.clone(), value)
        })
        .collect()
}

/// An include's pin as the wire has it: `(pinned_version, pinned_label)`.
fn pin_fields(pin: Option<&IncludePin>) -> (Option<u32>, Option<String>) {
    match pin {
        None => (None, None),
        Some(IncludePin::Version(version)) => (Some(*version), None),
        Some(IncludePin::Label(label)) => (None, Some(label.as_str().to_owned())),
    }
}
