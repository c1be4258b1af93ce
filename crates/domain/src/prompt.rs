//! Prompts: their names, the normalisation of their fields, who may see and edit them.
//!
//! Validation helpers return human-readable reasons (for a `ValidationFailed` problem's
//! per-field errors); the API decides which field a reason belongs to.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use chrono::{DateTime, Utc};

use crate::bundle::{Bundle, BundleInput, PromptKind};
use crate::user::Role;
use crate::wire::FieldError;
use crate::{PromptId, TenantId, UserId};

/// The category of a prompt that has none.
pub const DEFAULT_CATEGORY: &str = "Uncategorized";

/// Longest prompt name (characters; names are ASCII, so also bytes).
pub const MAX_PROMPT_NAME_LEN: usize = 200;
/// Longest title (characters).
pub const MAX_TITLE_LEN: usize = 200;
/// Longest category (characters).
pub const MAX_CATEGORY_LEN: usize = 100;
/// Longest tag (characters).
pub const MAX_TAG_LEN: usize = 50;
/// Most tags on one prompt (after normalisation and de-duplication).
pub const MAX_TAGS: usize = 50;
/// Largest prompt content (bytes of UTF-8).
pub const MAX_CONTENT_BYTES: usize = 100 * 1024;

/// What it takes to store a prompt.
#[derive(Debug, Clone)]
pub struct NewPrompt {
    pub owner: UserId,
    pub fields: PromptFields,
    /// Recorded with the first version.
    pub commit_message: Option<String>,
}

/// A prompt's name: its human-friendly identifier inside a tenant, usable in URLs
/// (`/prompts/{name_or_id}`). Slashes make folders (`marketing/emails/welcome`).
///
/// Case is preserved for display, but uniqueness is case-insensitive: compare [`PromptName::key`]s.
/// A name never parses as a UUID, so a path segment is unambiguously either an id or a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct PromptName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromptNameError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_PROMPT_NAME_LEN} characters")]
    TooLong,
    #[error("may contain only letters A-Z, digits, '-', '_', '.' and '/' (found {0:?})")]
    InvalidCharacter(char),
    #[error("must not start or end with '/'")]
    EdgeSlash,
    #[error("must not contain '//'")]
    EmptySegment,
    #[error("must not contain a folder named '.' or '..'")]
    DotSegment,
    #[error("must not be a UUID (names and ids share the same place in URLs)")]
    LooksLikeId,
}

impl PromptName {
    pub fn parse(raw: &str) -> Result<Self, PromptNameError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(PromptNameError::Empty);
        }
        if name.chars().count() > MAX_PROMPT_NAME_LEN {
            return Err(PromptNameError::TooLong);
        }
        if let Some(bad) = name.chars().find(|&c| !(c.is_ascii_alphanumeric() || "-_./".contains(c))) {
            return Err(PromptNameError::InvalidCharacter(bad));
        }
        if name.starts_with('/') || name.ends_with('/') {
            return Err(PromptNameError::EdgeSlash);
        }
        if name.contains("//") {
            return Err(PromptNameError::EmptySegment);
        }
        if name.split('/').any(|segment| segment == "." || segment == "..") {
            return Err(PromptNameError::DotSegment);
        }
        if uuid::Uuid::try_parse(name).is_ok() {
            return Err(PromptNameError::LooksLikeId);
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as given (trimmed, case preserved).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lowercase form that uniqueness is checked on.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for PromptName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for PromptName {
    type Err = PromptNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<'de> Deserialize<'de> for PromptName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A title: trimmed, at most [`MAX_TITLE_LEN`] characters. May be empty; the caller then
/// uses the prompt's name.
pub fn normalize_title(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.chars().count() > MAX_TITLE_LEN {
        return Err(format!("must be at most {MAX_TITLE_LEN} characters"));
    }
    Ok(trimmed.to_owned())
}

/// A category: trimmed, each run of whitespace inside it made one space; none or empty means
/// [`DEFAULT_CATEGORY`]. At most [`MAX_CATEGORY_LEN`] characters, no control characters.
pub fn normalize_category(raw: Option<&str>) -> Result<String, String> {
    let collapsed = raw.unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.is_empty() {
        return Ok(DEFAULT_CATEGORY.to_owned());
    }
    if collapsed.chars().count() > MAX_CATEGORY_LEN {
        return Err(format!("must be at most {MAX_CATEGORY_LEN} characters"));
    }
    if collapsed.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(collapsed)
}

/// Tags: each trimmed, lowercased, with each run of whitespace inside it made one `-`; empty
/// tags are dropped and repeats removed (the first occurrence keeps its place). Each tag is at
/// most [`MAX_TAG_LEN`] characters of letters (any script), digits, `-`, `_`, `.` and `:`; at
/// most [`MAX_TAGS`] tags remain.
///
/// The error names the index (in `raw`) of the first offending tag, and why.
pub fn normalize_tags(raw: &[String]) -> Result<Vec<String>, (usize, String)> {
    let mut tags: Vec<String> = Vec::new();
    for (index, tag) in raw.iter().enumerate() {
        let tag = tag.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>().join("-");
        if tag.is_empty() {
            continue;
        }
        if tag.chars().count() > MAX_TAG_LEN {
            return Err((index, format!("must be at most {MAX_TAG_LEN} characters")));
        }
        if let Some(bad) = tag.chars().find(|&c| !(c.is_alphanumeric() || "-_.:".contains(c))) {
            return Err((
                index,
                format!("may contain only letters, digits, '-', '_', '.' and ':' (found {bad:?})"),
            ));
        }
        if tags.contains(&tag) {
            continue;
        }
        if tags.len() == MAX_TAGS {
            return Err((index, format!("a prompt may have at most {MAX_TAGS} tags")));
        }
        tags.push(tag);
    }
    Ok(tags)
}

/// Whether `raw` is acceptable prompt content: something besides whitespace, at most
/// [`MAX_CONTENT_BYTES`] bytes. Content is stored exactly as given (not trimmed).
pub fn check_content(raw: &str) -> Result<(), String> {
    if raw.len() > MAX_CONTENT_BYTES {
        return Err(format!("must be at most {} KB", MAX_CONTENT_BYTES / 1024));
    }
    if raw.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    Ok(())
}

/// Who besides its owner can see a prompt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Everyone in the tenant.
    #[default]
    Tenant,
    /// Only the owner (and the tenant's administrators).
    Private,
}

impl Visibility {
    pub const fn as_str(self) -> &'static str {
        match self {
            Visibility::Tenant => "tenant",
            Visibility::Private => "private",
        }
    }
}

impl fmt::Display for Visibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown visibility {0:?} (expected tenant or private)")]
pub struct UnknownVisibility(pub String);

impl FromStr for Visibility {
    type Err = UnknownVisibility;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tenant" => Ok(Visibility::Tenant),
            "private" => Ok(Visibility::Private),
            other => Err(UnknownVisibility(other.to_owned())),
        }
    }
}

/// Whether `viewer` may see a prompt of the same tenant owned by `owner` (`None`: its owner
/// was deleted). Tenant-wide prompts are seen by everyone; private ones by their owner and the
/// tenant's administrators.
pub fn may_see(visibility: Visibility, owner: Option<UserId>, viewer: UserId, viewer_is_admin: bool) -> bool {
    match visibility {
        Visibility::Tenant => true,
        Visibility::Private => viewer_is_admin || owner == Some(viewer),
    }
}

/// Whether `editor` (with `editor_role`) may change or delete a prompt of the same tenant owned
/// by `owner`. Read-only users never may; administrators always may; users only their own
/// prompts, so prompts without an owner are left to administrators.
pub fn may_edit(owner: Option<UserId>, editor: UserId, editor_role: Role) -> bool {
    match editor_role {
        Role::Readonly => false,
        Role::Admin => true,
        Role::User => owner == Some(editor),
    }
}

/// The folders the prompt `names` make (in path order, folders differing only in case as
/// one, spelled as first seen), each with its prompt counts. Every ancestor of a folder is a
/// folder too.
pub fn folders<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<crate::wire::Folder> {
    let mut found: std::collections::BTreeMap<String, crate::wire::Folder> =
        std::collections::BTreeMap::new();
    for name in names {
        let Some((parent, _)) = name.rsplit_once('/') else { continue };
        let mut end = 0;
        for (depth, segment) in parent.split('/').enumerate() {
            end += segment.len() + usize::from(depth > 0);
            let path = &parent[..end];
            let folder = found.entry(path.to_lowercase()).or_insert_with(|| crate::wire::Folder {
                path: path.to_owned(),
                prompts: 0,
                total: 0,
            });
            folder.total += 1;
            if end == parent.len() {
                folder.prompts += 1;
            }
        }
    }
    found.into_values().collect()
}

/// A stored prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub id: PromptId,
    pub tenant_id: TenantId,
    /// `None` once the owner's account is deleted without a transfer.
    pub owner: Option<UserId>,
    pub name: PromptName,
    pub title: String,
    pub content: String,
    pub category: String,
    pub tags: Vec<String>,
    pub is_enhancement_prompt: bool,
    pub visibility: Visibility,
    /// Kind, messages, settings and variable contract of the current version.
    pub bundle: Bundle,
    /// Starts at 1; every change adds one (and stores a [`PromptVersion`]).
    pub version: u32,
    pub updated_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The editable state of a prompt, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptFields {
    pub name: PromptName,
    pub title: String,
    /// A text prompt's template, or a chat prompt's transcript.
    pub content: String,
    pub category: String,
    pub tags: Vec<String>,
    pub is_enhancement_prompt: bool,
    pub visibility: Visibility,
    pub bundle: Bundle,
}

impl Prompt {
    pub fn fields(&self) -> PromptFields {
        PromptFields {
            name: self.name.clone(),
            title: self.title.clone(),
            content: self.content.clone(),
            category: self.category.clone(),
            tags: self.tags.clone(),
            is_enhancement_prompt: self.is_enhancement_prompt,
            visibility: self.visibility,
            bundle: self.bundle.clone(),
        }
    }
}

impl PromptFields {
    /// These fields with a text prompt's content replaced, its contract inferred again (specs
    /// of variables it keeps stay as they were).
    pub fn with_content(&self, content: String) -> Result<PromptFields, Vec<FieldError>> {
        let (bundle, content) = Bundle::build(&BundleInput::default(), &content, &self.bundle)?;
        check_content(&content).map_err(|reason| vec![FieldError::new("content", reason)])?;
        Ok(PromptFields { content, bundle, ..self.clone() })
    }
}

/// One immutable snapshot of a prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptVersion {
    pub prompt_id: PromptId,
    pub version: u32,
    pub name: String,
    pub title: String,
    pub content: String,
    pub category: String,
    pub tags: Vec<String>,
    pub bundle: Bundle,
    pub author: Option<UserId>,
    pub commit_message: Option<String>,
    /// Set when this version restored an older one.
    pub restored_from: Option<u32>,
    pub created_at: DateTime<Utc>,
}

/// Who is looking: decides which private prompts are visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    pub user: UserId,
    pub role: Role,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn may_see(&self, prompt: &Prompt) -> bool {
        may_see(prompt.visibility, prompt.owner, self.user, self.is_admin())
    }

    pub fn may_edit(&self, prompt: &Prompt) -> bool {
        may_edit(prompt.owner, self.user, self.role)
    }
}

/// How a prompt is named in a request: by id or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptKey {
    Id(PromptId),
    Name(PromptName),
}

impl PromptKey {
    /// Ids and names share one URL slot; names can never parse as UUIDs.
    pub fn parse(raw: &str) -> Result<Self, PromptNameError> {
        match uuid::Uuid::parse_str(raw) {
            Ok(id) => Ok(Self::Id(PromptId::from_uuid(id))),
            Err(_) => PromptName::parse(raw).map(Self::Name),
        }
    }
}

/// Orders of the prompt list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PromptSort {
    /// Best match first (searches only; otherwise as `updated`).
    Relevance,
    /// Most recently changed first.
    #[default]
    Updated,
    /// Newest first.
    Created,
    /// By name, A to Z.
    Name,
}

impl PromptSort {
    /// The order actually used: relevance needs search words, and is `updated` without them.
    pub fn effective(self, searching: bool) -> Self {
        match self {
            Self::Relevance if !searching => Self::Updated,
            other => other,
        }
    }
}

/// Where a page of prompts ended: the last prompt's sort key in its order, and its id, which
/// breaks ties (every order falls back to newest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptPosition {
    Relevance { score: f64, id: PromptId },
    Updated { at: DateTime<Utc>, id: PromptId },
    Created { id: PromptId },
    Name { key: String, id: PromptId },
}

impl PromptPosition {
    /// The order this position belongs to.
    pub fn sort(&self) -> PromptSort {
        match self {
            Self::Relevance { .. } => PromptSort::Relevance,
            Self::Updated { .. } => PromptSort::Updated,
            Self::Created { .. } => PromptSort::Created,
            Self::Name { .. } => PromptSort::Name,
        }
    }
}

/// A prompt's editable fields as a request states them, before validation.
#[derive(Debug, Clone, Copy)]
pub struct PromptInput<'a> {
    pub name: &'a str,
    /// Defaults to the name when absent or blank.
    pub title: Option<&'a str>,
    pub content: &'a str,
    /// Defaults to [`DEFAULT_CATEGORY`].
    pub category: Option<&'a str>,
    pub tags: &'a [String],
    pub is_enhancement_prompt: bool,
    pub visibility: Visibility,
    /// Kind, messages, settings and contract as the request states them.
    pub bundle: &'a BundleInput,
    /// The bundle of the version being edited (the default one for a new prompt): what the
    /// request leaves out is kept from it.
    pub previous: &'a Bundle,
}

impl PromptFields {
    /// Validates and normalises a request's fields; every invalid field is reported.
    pub fn parse(input: PromptInput<'_>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = PromptName::parse(input.name)
            .map_err(|e| errors.push(FieldError::new("name", e.to_string())))
            .ok();
        let title = normalize_title(input.title.unwrap_or_default())
            .map_err(|reason| errors.push(FieldError::new("title", reason)))
            .ok();
        let bundle = Bundle::build(input.bundle, input.content, input.previous)
            .map_err(|bundle_errors| errors.extend(bundle_errors))
            .ok();
        let content = bundle.as_ref().map_or(input.content, |(_, content)| content.as_str());
        if let Err(reason) = check_content(content) {
            let field = if bundle.as_ref().is_some_and(|(b, _)| b.kind == PromptKind::Chat) {
                "messages"
            } else {
                "content"
            };
            errors.push(FieldError::new(field, reason));
        }
        let category = normalize_category(input.category)
            .map_err(|reason| errors.push(FieldError::new("category", reason)))
            .ok();
        let tags = normalize_tags(input.tags)
            .map_err(|(index, reason)| errors.push(FieldError::new(format!("tags[{index}]"), reason)))
            .ok();
        match (name, title, category, tags, bundle) {
            (Some(name), Some(title), Some(category), Some(tags), Some((bundle, content)))
                if errors.is_empty() =>
            {
                Ok(Self {
                    title: if title.is_empty() { name.as_str().to_owned() } else { title },
                    name,
                    content,
                    category,
                    tags,
                    is_enhancement_prompt: input.is_enhancement_prompt,
                    visibility: input.visibility,
                    bundle,
                })
            }
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn user(n: u128) -> UserId {
        UserId::from_uuid(Uuid::from_u128(n))
    }

    #[test]
    fn folders_count_their_prompts_and_include_every_ancestor() {
        let names = ["a/b/c/one", "A/two", "a/b/three", "top", "x/y/four"];
        let got: Vec<(String, u64, u64)> =
            folders(names).into_iter().map(|f| (f.path, f.prompts, f.total)).collect();
        let want = [("a/b/c", 1, 1), ("a/b", 1, 2), ("a", 1, 3), ("x", 0, 1), ("x/y", 1, 1)];
        let mut want: Vec<(String, u64, u64)> =
            want.iter().map(|(p, n, t)| ((*p).to_owned(), *n, *t)).collect();
        want.sort_by_key(|(p, _, _)| p.to_lowercase());
        assert_eq!(got, want);
    }

    #[test]
    fn names_are_trimmed_and_keep_their_case() {
        let name = PromptName::parse("  Marketing/Emails/Welcome_v2.1-final ").unwrap();
        assert_eq!(name.as_str(), "Marketing/Emails/Welcome_v2.1-final");
        assert_eq!(name.key(), "marketing/emails/welcome_v2.1-final");
        assert_eq!(name.to_string(), name.as_str());
        assert_eq!(PromptName::parse(&"a".repeat(200)).unwrap().as_str().len(), 200);
        for good in ["a", ".hidden", "v1..2", "a/b.c/d", "_", "-x-", "..a/b"] {
            assert!(PromptName::parse(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn bad_names_are_rejected_with_a_reason() {
        use PromptNameError::*;
        let cases: &[(&str, PromptNameError)] = &[
            ("", Empty),
            ("   ", Empty),
            ("a b", InvalidCharacter(' ')),
            ("café", InvalidCharacter('é')),
            ("a\\b", InvalidCharacter('\\')),
            ("a?b", InvalidCharacter('?')),
            ("/a", EdgeSlash),
            ("a/", EdgeSlash),
            ("/", EdgeSlash),
            ("a//b", EmptySegment),
            (".", DotSegment),
            ("..", DotSegment),
            ("a/./b", DotSegment),
            ("a/..", DotSegment),
            ("../a", DotSegment),
            ("0190a6c4-7a4e-7b3c-8d2e-0123456789ab", LooksLikeId),
            ("0190A6C47A4E7B3C8D2E0123456789AB", LooksLikeId),
        ];
        for (raw, expected) in cases {
            assert_eq!(PromptName::parse(raw).as_ref(), Err(expected), "{raw:?}");
        }
        assert_eq!(PromptName::parse(&"a".repeat(201)), Err(TooLong));
        assert_eq!(Empty.to_string(), "must not be empty");
        // Almost a UUID is a fine name.
        assert!(PromptName::parse("0190a6c4-7a4e-7b3c-8d2e-0123456789a").is_ok());
    }

    #[test]
    fn names_serialise_as_strings_and_deserialise_through_parse() {
        let name: PromptName = serde_json::from_str("\" Team/Intro \"").unwrap();
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"Team/Intro\"");
        assert!(serde_json::from_str::<PromptName>("\"a//b\"").is_err());
        assert_eq!("x/y".parse::<PromptName>().unwrap().as_str(), "x/y");
    }

    #[test]
    fn titles() {
        assert_eq!(normalize_title("  Hello  "), Ok("Hello".to_owned()));
        assert_eq!(normalize_title("   "), Ok(String::new()));
        assert_eq!(normalize_title(&"é".repeat(200)).map(|t| t.chars().count()), Ok(200));
        assert_eq!(normalize_title(&"x".repeat(201)), Err("must be at most 200 characters".to_owned()));
    }

    #[test]
    fn categories() {
        assert_eq!(normalize_category(None), Ok(DEFAULT_CATEGORY.to_owned()));
        assert_eq!(normalize_category(Some(" \t ")), Ok(DEFAULT_CATEGORY.to_owned()));
        assert_eq!(normalize_category(Some("  Customer \t\n Support ")), Ok("Customer Support".to_owned()));
        assert!(normalize_category(Some(&"x".repeat(100))).is_ok());
        assert!(normalize_category(Some(&"x".repeat(101))).is_err());
        assert_eq!(
            normalize_category(Some("a\u{0}b")),
            Err("must not contain control characters".to_owned())
        );
    }

    #[test]
    fn tags_are_normalised_and_deduplicated() {
        let raw: Vec<String> = [
            "  Customer  Support ",
            "",
            "SEO",
            "seo",
            "lang:de",
            "Größe",
            "v1.2_beta",
            "   ",
            "customer-support",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            normalize_tags(&raw).unwrap(),
            ["customer-support", "seo", "lang:de", "größe", "v1.2_beta"].map(String::from)
        );
        assert_eq!(normalize_tags(&[]), Ok(vec![]));
    }

    #[test]
    fn bad_tags_name_their_index() {
        let raw: Vec<String> = ["ok", "", "not/ok"].map(String::from).to_vec();
        let (index, message) = normalize_tags(&raw).unwrap_err();
        assert_eq!(index, 2);
        assert!(message.contains("'/'"), "{message}");
        let long = vec!["x".repeat(51)];
        assert_eq!(normalize_tags(&long).unwrap_err().0, 0);
        assert!(normalize_tags(&["x".repeat(50)]).is_ok());
    }

    #[test]
    fn at_most_fifty_distinct_tags() {
        let mut raw: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
        raw.push("T0".to_owned()); // a repeat does not count
        assert_eq!(normalize_tags(&raw).map(|t| t.len()), Ok(50));
        raw.push("t50".to_owned());
        assert_eq!(normalize_tags(&raw).unwrap_err().0, 51);
    }

    #[test]
    fn content() {
        assert!(check_content("Hello {{name}}").is_ok());
        assert_eq!(check_content(" \n\t "), Err("must not be empty".to_owned()));
        assert!(check_content(&"x".repeat(MAX_CONTENT_BYTES)).is_ok());
        assert_eq!(
            check_content(&"x".repeat(MAX_CONTENT_BYTES + 1)),
            Err("must be at most 100 KB".to_owned())
        );
        // Bytes, not characters.
        assert!(check_content(&"é".repeat(MAX_CONTENT_BYTES / 2 + 1)).is_err());
    }

    #[test]
    fn visibility_round_trips() {
        assert_eq!(Visibility::default(), Visibility::Tenant);
        for v in [Visibility::Tenant, Visibility::Private] {
            assert_eq!(v.as_str().parse::<Visibility>().unwrap(), v);
            assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{v}\""));
            assert_eq!(serde_json::from_str::<Visibility>(&format!("\"{v}\"")).unwrap(), v);
        }
        assert!("public".parse::<Visibility>().is_err());
        assert!(serde_json::from_str::<Visibility>("\"Tenant\"").is_err());
    }

    #[test]
    fn who_may_see() {
        let (owner, other) = (user(1), user(2));
        assert!(may_see(Visibility::Tenant, Some(owner), other, false));
        assert!(may_see(Visibility::Tenant, None, other, false));
        assert!(may_see(Visibility::Private, Some(owner), owner, false));
        assert!(!may_see(Visibility::Private, Some(owner), other, false));
        assert!(may_see(Visibility::Private, Some(owner), other, true));
        assert!(!may_see(Visibility::Private, None, other, false));
        assert!(may_see(Visibility::Private, None, other, true));
    }

    #[test]
    fn who_may_edit() {
        let (owner, other) = (user(1), user(2));
        assert!(may_edit(Some(owner), owner, Role::User));
        assert!(!may_edit(Some(owner), other, Role::User));
        assert!(!may_edit(None, other, Role::User));
        assert!(may_edit(Some(owner), other, Role::Admin));
        assert!(may_edit(None, other, Role::Admin));
        assert!(!may_edit(Some(owner), owner, Role::Readonly));
        assert!(!may_edit(None, owner, Role::Readonly));
    }
}
