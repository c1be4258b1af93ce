//! Releases: labels that say which version of a prompt an application gets (`production`,
//! `staging`, any name a tenant uses), and the record of every label move.

use chrono::{DateTime, Utc};

use crate::{ApprovalId, LabelMoveId, PromptId, UserId};

/// The label every prompt has, naming its newest version; it is never stored or moved.
pub const LATEST: &str = "latest";
/// Characters of a label's name at most.
pub const MAX_LABEL_NAME: usize = 64;
/// Labels one prompt may carry (besides `latest`).
pub const MAX_LABELS_PER_PROMPT: usize = 50;
/// Characters of the reason given for a move (or of an approver's comment) at most.
pub const MAX_MOVE_REASON: usize = 500;
/// Label names a tenant may protect.
pub const MAX_PROTECTED_LABELS: usize = 50;
/// How long a request to move a protected label waits for a decision, unless a tenant says.
pub const DEFAULT_APPROVAL_HOURS: u32 = 72;
/// The longest wait a tenant may set: 30 days.
pub const MAX_APPROVAL_HOURS: u32 = 720;
/// Versions one label may split its traffic between, at most.
pub const MAX_SPLIT_ARMS: usize = 10;
/// The largest weight of one version in a split.
pub const MAX_SPLIT_WEIGHT: u32 = 10_000;

/// One version of a split and its share of the traffic (its weight over the weights' sum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SplitArm {
    pub version: u32,
    /// 1 to 10,000.
    pub weight: u32,
}

/// A label's traffic split between two or more versions by weight (an A/B test). Which
/// version a caller gets is decided by a stable hash of the prompt, the label and the caller's
/// key, so the same key gets the same version for as long as the split stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split(Vec<SplitArm>);

impl Split {
    /// 2 to [`MAX_SPLIT_ARMS`] versions, each once, of weights 1 to [`MAX_SPLIT_WEIGHT`], all
    /// versions the prompt has (`1..=newest`).
    pub fn new(arms: Vec<SplitArm>, newest: u32) -> Result<Self, String> {
        if !(2..=MAX_SPLIT_ARMS).contains(&arms.len()) {
            return Err(format!("a split names 2 to {MAX_SPLIT_ARMS} versions"));
        }
        for (i, arm) in arms.iter().enumerate() {
            if !(1..=newest).contains(&arm.version) {
                return Err(format!("the prompt has versions 1 to {newest}"));
            }
            if !(1..=MAX_SPLIT_WEIGHT).contains(&arm.weight) {
                return Err(format!("weights are 1 to {MAX_SPLIT_WEIGHT}"));
            }
            if arms[..i].iter().any(|a| a.version == arm.version) {
                return Err(format!("version {} is named twice", arm.version));
            }
        }
        Ok(Self(arms))
    }

    pub fn arms(&self) -> &[SplitArm] {
        &self.0
    }

    /// The version with the largest share (the first of equals): what the label names when
    /// one version is asked for, as in lists.
    pub fn primary(&self) -> u32 {
        let mut best = self.0[0];
        for arm in &self.0[1..] {
            if arm.weight > best.weight {
                best = *arm;
            }
        }
        best.version
    }

    /// The index of the arm a caller with `bucket` gets (see [`bucket`]).
    pub fn pick(&self, bucket: u64) -> usize {
        let total: u64 = self.0.iter().map(|a| u64::from(a.weight)).sum();
        let mut point = bucket % total;
        for (i, arm) in self.0.iter().enumerate() {
            if point < u64::from(arm.weight) {
                return i;
            }
            point -= u64::from(arm.weight);
        }
        self.0.len() - 1
    }
}

/// A caller's place in `prompt`'s `label` split: FNV-1a (64 bit) of the prompt, the label and
/// the key — stable across processes, instances and releases, unlike std's hasher.
pub fn bucket(prompt: PromptId, label: &LabelName, key: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    let prompt = prompt.as_uuid();
    let parts: [&[u8]; 5] = [prompt.as_bytes(), b"\0", label.as_str().as_bytes(), b"\0", key];
    parts
        .iter()
        .flat_map(|p| p.iter())
        .fold(OFFSET, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(PRIME))
}

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
    /// The version it names; for a split, the one with the largest share.
    pub version: u32,
    /// The versions it splits its traffic between, if it does.
    pub split: Option<Split>,
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
    /// The split the move set (its `to` is the split's primary version).
    pub split: Option<Split>,
    pub reason: Option<String>,
    /// The move this one undid, when it was a rollback.
    pub rollback_of: Option<LabelMoveId>,
    pub moved_by: Option<UserId>,
    /// For a protected label moved on approval: who approved (`moved_by` asked).
    pub approved_by: Option<UserId>,
    pub moved_at: DateTime<Utc>,
}

/// A move to make: `to` is the version, `None` removes the label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLabelMove {
    pub label: LabelName,
    pub to: Option<u32>,
    /// With `to` its primary version: the split to set.
    pub split: Option<Split>,
    pub reason: Option<String>,
    pub rollback_of: Option<LabelMoveId>,
    pub moved_by: UserId,
    pub approved_by: Option<UserId>,
}

/// A tenant's release policy: which label names are protected, and whether moving one needs
/// another person's approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasePolicy {
    /// Sorted, without duplicates; never `latest`.
    protected: Vec<LabelName>,
    pub require_approval: bool,
    pub approval_hours: u32,
}

impl Default for ReleasePolicy {
    fn default() -> Self {
        Self { protected: Vec::new(), require_approval: false, approval_hours: DEFAULT_APPROVAL_HOURS }
    }
}

impl ReleasePolicy {
    /// A policy from its parts; `Err` names the part that is out of bounds.
    pub fn new(
        mut protected: Vec<LabelName>,
        require_approval: bool,
        approval_hours: u32,
    ) -> Result<Self, (&'static str, String)> {
        if protected.iter().any(LabelName::is_latest) {
            return Err((
                "protected_labels",
                format!("`{LATEST}` follows the newest version; it cannot be protected"),
            ));
        }
        protected.sort();
        protected.dedup();
        if protected.len() > MAX_PROTECTED_LABELS {
            return Err(("protected_labels", format!("at most {MAX_PROTECTED_LABELS} labels")));
        }
        if !(1..=MAX_APPROVAL_HOURS).contains(&approval_hours) {
            return Err(("approval_hours", format!("must be 1 to {MAX_APPROVAL_HOURS}")));
        }
        Ok(Self { protected, require_approval, approval_hours })
    }

    pub fn protected(&self) -> &[LabelName] {
        &self.protected
    }

    pub fn protects(&self, label: &LabelName) -> bool {
        self.protected.binary_search(label).is_ok()
    }
}

/// Where a request to move a protected label stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waiting for a decision.
    Pending,
    /// Approved: the label moved.
    Approved,
    Denied,
    /// Withdrawn by the person who asked.
    Cancelled,
    /// Nobody decided in time.
    Expired,
}

impl ApprovalStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Cancelled => "cancelled",
            ApprovalStatus::Expired => "expired",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Denied, Self::Cancelled, Self::Expired]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// A request to move a protected label (or remove it, or roll it back), as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApproval {
    pub prompt_id: PromptId,
    pub label: LabelName,
    /// Where the label pointed when asked; the move is made only from there.
    pub from: Option<u32>,
    /// Where it is to point; `None` removes it.
    pub to: Option<u32>,
    /// The split to set (`to` is its primary version).
    pub split: Option<Split>,
    /// For a rollback: the move it undoes.
    pub rollback_of: Option<LabelMoveId>,
    pub reason: Option<String>,
    pub requested_by: UserId,
    pub expires_at: DateTime<Utc>,
}

/// A stored request and, once decided, its decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub id: ApprovalId,
    pub prompt_id: PromptId,
    pub label: LabelName,
    pub from: Option<u32>,
    pub to: Option<u32>,
    pub split: Option<Split>,
    pub rollback_of: Option<LabelMoveId>,
    pub reason: Option<String>,
    pub requested_by: Option<UserId>,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// As stored: a pending request past its expiry is still stored as pending.
    pub stored_status: ApprovalStatus,
    pub decided_by: Option<UserId>,
    pub decided_at: Option<DateTime<Utc>>,
    pub comment: Option<String>,
}

impl Approval {
    /// Its status at `now`: pending past its expiry is expired.
    pub fn status(&self, now: DateTime<Utc>) -> ApprovalStatus {
        match self.stored_status {
            ApprovalStatus::Pending if now >= self.expires_at => ApprovalStatus::Expired,
            status => status,
        }
    }
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

    /// `bucket` of prompt 7, `production`, `user-42` (checked against a reference FNV-1a):
    /// callers keep their version across releases only while this holds.
    const PINNED: u64 = 14_403_505_841_281_217_711;

    #[test]
    fn splits_are_checked_and_share_callers_by_weight() {
        let arm = |version, weight| SplitArm { version, weight };
        for bad in [
            vec![arm(1, 1)],
            vec![arm(1, 1), arm(1, 2)],
            vec![arm(1, 0), arm(2, 1)],
            vec![arm(1, 1), arm(4, 1)],
        ] {
            assert!(Split::new(bad.clone(), 3).is_err(), "{bad:?}");
        }
        assert!(Split::new((1..=11).map(|v| arm(v, 1)).collect(), 11).is_err());
        let split = Split::new(vec![arm(2, 90), arm(3, 10)], 3).unwrap();
        assert_eq!(split.primary(), 2);
        assert_eq!(Split::new(vec![arm(1, 5), arm(3, 5)], 3).unwrap().primary(), 1);
        // Keys spread by weight, and each key keeps its version.
        let prompt = PromptId::from_uuid(uuid::Uuid::from_u128(7));
        let label = LabelName::parse("production").unwrap();
        let picks: Vec<usize> =
            (0..10_000).map(|i| split.pick(bucket(prompt, &label, format!("user-{i}").as_bytes()))).collect();
        let to_three = picks.iter().filter(|&&i| i == 1).count();
        assert!((800..=1200).contains(&to_three), "{to_three} of 10,000 got the 10% version");
        assert_eq!(split.pick(bucket(prompt, &label, b"user-42")), picks[42]);
        // A known value: the hash is part of the contract (stickiness across releases).
        assert_eq!(bucket(prompt, &label, b"user-42"), PINNED);
        assert_ne!(
            bucket(prompt, &label, b"user-42"),
            bucket(prompt, &LabelName::parse("staging").unwrap(), b"user-42")
        );
    }

    #[test]
    fn release_policies_are_sorted_and_bounded() {
        let names = |raw: &[&str]| raw.iter().map(|n| LabelName::parse(n).unwrap()).collect::<Vec<_>>();
        let policy = ReleasePolicy::new(names(&["staging", "production", "staging"]), true, 24).unwrap();
        assert_eq!(policy.protected(), names(&["production", "staging"]).as_slice());
        assert!(policy.protects(&LabelName::parse("Production").unwrap()));
        assert!(!policy.protects(&LabelName::parse("canary").unwrap()));
        assert_eq!(ReleasePolicy::new(names(&["latest"]), false, 24).unwrap_err().0, "protected_labels");
        assert_eq!(ReleasePolicy::new(Vec::new(), false, 0).unwrap_err().0, "approval_hours");
        assert_eq!(
            ReleasePolicy::new(Vec::new(), false, MAX_APPROVAL_HOURS + 1).unwrap_err().0,
            "approval_hours"
        );
        let many = (0..=MAX_PROTECTED_LABELS).map(|i| LabelName::parse(&format!("l{i}")).unwrap()).collect();
        assert_eq!(ReleasePolicy::new(many, false, 24).unwrap_err().0, "protected_labels");
    }

    #[test]
    fn a_pending_request_expires_at_its_deadline() {
        let at = |h: i64| DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::hours(h);
        let approval = Approval {
            id: ApprovalId::from_uuid(uuid::Uuid::nil()),
            prompt_id: PromptId::from_uuid(uuid::Uuid::nil()),
            label: LabelName::parse("production").unwrap(),
            from: Some(1),
            to: Some(2),
            split: None,
            rollback_of: None,
            reason: None,
            requested_by: None,
            requested_at: at(0),
            expires_at: at(2),
            stored_status: ApprovalStatus::Pending,
            decided_by: None,
            decided_at: None,
            comment: None,
        };
        assert_eq!(approval.status(at(1)), ApprovalStatus::Pending);
        assert_eq!(approval.status(at(2)), ApprovalStatus::Expired);
        let denied = Approval { stored_status: ApprovalStatus::Denied, ..approval };
        assert_eq!(denied.status(at(3)), ApprovalStatus::Denied);
        for status in [ApprovalStatus::Pending, ApprovalStatus::Approved, ApprovalStatus::Expired] {
            assert_eq!(ApprovalStatus::parse(status.as_str()), Some(status));
        }
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
