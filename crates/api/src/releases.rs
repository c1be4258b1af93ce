//! Releases in the service layer: which version of a prompt a caller gets when it asks by
//! release label or by version number. REST's `GET /api/v1/prompts/{prompt}?label=…` and every
//! later caller (MCP, the CLI) go through [`fetch`].

use domain::prompt::{Prompt, PromptName};
use domain::release::LabelName;
use domain::wire::FieldError;

use crate::access::Principal;
use crate::error::ApiError;
use crate::routes::prompts::load;
use crate::state::AppState;

/// Which version of a prompt to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// The newest version (also `label=latest`).
    Current,
    Label(LabelName),
    Version(u32),
}

impl Pick {
    /// From a request's `label` and `version` (at most one of them).
    pub fn parse(label: Option<&str>, version: Option<u32>, errors: &mut Vec<FieldError>) -> Self {
        match (label, version) {
            (None, None) => Pick::Current,
            (Some(_), Some(_)) => {
                errors.push(FieldError::new("version", "ask by label or by version, not both"));
                Pick::Current
            }
            (None, Some(0)) => {
                errors.push(FieldError::new("version", "versions start at 1"));
                Pick::Current
            }
            (None, Some(version)) => Pick::Version(version),
            (Some(raw), None) => match LabelName::parse(raw) {
                Ok(name) if name.is_latest() => Pick::Current,
                Ok(name) => Pick::Label(name),
                Err(reason) => {
                    errors.push(FieldError::new("label", reason));
                    Pick::Current
                }
            },
        }
    }

    /// A key naming this pick of the prompt `raw` (its path segment) in the read cache; prompt
    /// names never hold `?`.
    pub fn cache_key(&self, raw: &str) -> String {
        match self {
            Pick::Current => raw.to_owned(),
            Pick::Label(name) => format!("{raw}?label={name}"),
            Pick::Version(version) => format!("{raw}?version={version}"),
        }
    }
}

/// The prompt `raw` names, as of the version `pick` names: its fields, bundle and version
/// number are that version's (its ETag too), the rest (id, owner, visibility) the prompt's.
/// 404 for a prompt the caller may not see, a label it does not have, or a version it never had.
pub async fn fetch(
    state: &AppState,
    principal: &Principal,
    raw: &str,
    pick: &Pick,
) -> Result<Prompt, ApiError> {
    let prompt = load(state, principal, raw).await?;
    let version = match pick {
        Pick::Current => return Ok(prompt),
        Pick::Version(version) => *version,
        Pick::Label(name) => {
            let label = state.db.tenant(principal.scope()).label(prompt.id, name).await?;
            label.ok_or_else(|| no_label(name))?.version
        }
    };
    as_of(state, principal, prompt, version).await
}

pub fn no_label(name: &LabelName) -> ApiError {
    ApiError::not_found(format!("The prompt has no label \"{name}\"."))
}

/// `prompt` as it was at `version`.
async fn as_of(
    state: &AppState,
    principal: &Principal,
    prompt: Prompt,
    version: u32,
) -> Result<Prompt, ApiError> {
    if version == prompt.version {
        return Ok(prompt);
    }
    let old = state.db.tenant(principal.scope()).prompt_version(prompt.id, version).await?;
    let old = old.ok_or_else(|| ApiError::not_found(format!("The prompt has no version {version}.")))?;
    Ok(Prompt {
        // Stored names were valid when saved; a rule tightened since keeps today's name.
        name: PromptName::parse(&old.name).unwrap_or(prompt.name.clone()),
        title: old.title,
        content: old.content,
        category: old.category,
        tags: old.tags,
        bundle: old.bundle,
        version: old.version,
        updated_by: old.author,
        updated_at: old.created_at,
        ..prompt
    })
}
