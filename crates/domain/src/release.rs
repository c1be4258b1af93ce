//! Releases: labels that say which version of a prompt an application gets (`production`,
//! `staging`, any name a tenant uses), and the record of every label move.

use chrono::{DateTime, Utc};

use crate::{LabelMoveId, PromptId, UserId};

/// The label every prompt has, naming its newest version; it is never stored or moved.
pub const LATEST: &str = "latest";
/// Characters of a label's name at most.
pub const MAX_LABEL_NAME: usize = 64;
/// Labels one prompt may carry (besides `latest`).
pub const MAX_LABELS_PER_PROMPT: usize = 50;
/// Characters of the reason given for a move at most.
pub const MAX_MOVE_REASON: usize = 500;

/// A label's name: ASCII letters (kept lower case), digits, `-`, `_` and `.`, starting with a
/// letter; at most [`MAX_LABEL_NAME`]. Names differing only in case are one label.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelName(String);

impl LabelName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim().to_ascii_lowercase();
        let mut chars = name.chars();
        if !chars.next().is_some_and(|c| c.is_ascii_lowercase()) {
            return Err("must start with a letter".to_owned());
        }
        if name.len() > MAX_LABEL_NAME {
            return Err(format!("must be at most {MAX_LABEL_NAME} characters"));
        }
        if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')) {
            return Err("may hold only letters, digits, - _ and .".to_owned());
        }
        Ok(Self(name))
    }

    /// A name a person may set: any but [`LATEST`], which follows the newest version by itself.
    pub fn parse_movable(raw: &str) -> Result<Self, String> {
        let name = Self::parse(raw)?;
        if name.is_latest() {
            return Err(format!("`{LATEST}` always names the newest version; it cannot be moved"));
        }
        Ok(name)
    }

    pub fn is_latest(&self) -> bool {
        self.0 == LATEST
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for LabelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored label: where it points now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub prompt_id: PromptId,
    pub name: LabelName,
    pub version: u32,
    pub moved_by: Option<UserId>,
    pub moved_at: DateTime<Utc>,
}

/// One change of a label: created (`from` is `None`), moved, or removed (`to` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMove {
    pub id: LabelMoveId,
    pub prompt_id: PromptId,
    pub label: LabelName,
    pub from: Option<u32>,
    pub to: Option<u32>,
    pub reason: Option<String>,
    /// The move this one undid, when it was a rollback.
    pub rollback_of: Option<LabelMoveId>,
    pub moved_by: Option<UserId>,
    pub moved_at: DateTime<Utc>,
}

/// A move to make: `to` is the version, `None` removes the label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLabelMove {
    pub label: LabelName,
    pub to: Option<u32>,
    pub reason: Option<String>,
    pub rollback_of: Option<LabelMoveId>,
    pub moved_by: UserId,
}

/// A reason as given: trimmed, empty as none, at most [`MAX_MOVE_REASON`] characters.
pub fn normalize_reason(raw: Option<&str>) -> Result<Option<String>, String> {
    let Some(reason) = raw.map(str::trim).filter(|r| !r.is_empty()) else { return Ok(None) };
    if reason.chars().count() > MAX_MOVE_REASON {
        return Err(format!("must be at most {MAX_MOVE_REASON} characters"));
    }
    Ok(Some(reason.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_are_lower_case_words() {
        assert_eq!(LabelName::parse(" Production ").unwrap().as_str(), "production");
        assert_eq!(LabelName::parse("canary-2.eu_west").unwrap().as_str(), "canary-2.eu_west");
        for bad in ["", "2nd", "-x", "prod uction", "prod/1", "é", &"a".repeat(MAX_LABEL_NAME + 1)] {
            assert!(LabelName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(LabelName::parse("LATEST").unwrap().is_latest());
        assert!(LabelName::parse_movable("Latest").is_err());
        assert!(LabelName::parse_movable("staging").is_ok());
    }

    #[test]
    fn reasons_are_trimmed_and_capped() {
        assert_eq!(normalize_reason(Some("  ")), Ok(None));
        assert_eq!(normalize_reason(Some(" fix ")), Ok(Some("fix".to_owned())));
        assert!(normalize_reason(Some(&"x".repeat(MAX_MOVE_REASON + 1))).is_err());
        assert_eq!(
            normalize_reason(Some(&"é".repeat(MAX_MOVE_REASON))).unwrap().unwrap().chars().count(),
            MAX_MOVE_REASON
        );
    }
}
