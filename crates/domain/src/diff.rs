//! Line diffs between two texts (for example two versions of a prompt).
//!
//! Lines are compared without their endings (`\n`, `\r\n`, or none after the last line): a
//! difference a reader cannot see is not reported as a change. Two large texts with little in
//! common can take seconds to diff minimally, so callers on a server pass a deadline (read from
//! their clock): past it the diff is still correct, only less minimal.

use std::borrow::Cow;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use similar::{ChangeTag, TextDiff};

/// What happened to a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DiffOp {
    /// In both texts.
    Equal,
    /// Only in the new text.
    Insert,
    /// Only in the old text.
    Delete,
}

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiffLine {
    pub op: DiffOp,
    /// The line's number (from 1) in the old text; absent for inserted lines.
    pub old_line: Option<u32>,
    /// The line's number (from 1) in the new text; absent for deleted lines.
    pub new_line: Option<u32>,
    /// The line, without its line ending.
    pub text: String,
}

fn line_number(index: Option<usize>) -> Option<u32> {
    index.map(|i| u32::try_from(i).map_or(u32::MAX, |i| i.saturating_add(1)))
}

fn without_line_ending(line: &str) -> &str {
    line.strip_suffix('\n').map_or(line, |l| l.strip_suffix('\r').unwrap_or(l))
}

/// Every line of `old` and `new` in diff order: equal lines carry both line numbers, deleted
/// lines only the old one, inserted lines only the new one. Identical texts give only
/// [`DiffOp::Equal`] lines; two empty texts give none.
pub fn line_diff(old: &str, new: &str, deadline: Option<Instant>) -> Vec<DiffLine> {
    let (old, new) = (normalized(old), normalized(new));
    text_diff(&old, &new, deadline)
        .iter_all_changes()
        .map(|change| DiffLine {
            op: match change.tag() {
                ChangeTag::Equal => DiffOp::Equal,
                ChangeTag::Insert => DiffOp::Insert,
                ChangeTag::Delete => DiffOp::Delete,
            },
            old_line: line_number(change.old_index()),
            new_line: line_number(change.new_index()),
            text: without_line_ending(change.value()).to_owned(),
        })
        .collect()
}

/// A unified diff (`--- old_label`, `+++ new_label`, `@@` hunks with 3 lines of context). Empty
/// when the texts differ in nothing but line endings.
pub fn unified(old: &str, new: &str, old_label: &str, new_label: &str, deadline: Option<Instant>) -> String {
    let (old, new) = (normalized(old), normalized(new));
    text_diff(&old, &new, deadline).unified_diff().context_radius(3).header(old_label, new_label).to_string()
}

/// `\n` line endings throughout, and one after the last line.
fn normalized(text: &str) -> Cow<'_, str> {
    let mut text =
        if text.contains('\r') { Cow::Owned(text.replace("\r\n", "\n")) } else { Cow::Borrowed(text) };
    if !text.is_empty() && !text.ends_with('\n') {
        text.to_mut().push('\n');
    }
    text
}

fn text_diff<'a>(old: &'a str, new: &'a str, deadline: Option<Instant>) -> TextDiff<'a, 'a, 'a, str> {
    let mut config = TextDiff::configure();
    if let Some(deadline) = deadline {
        config.deadline(deadline);
    }
    config.diff_lines(old, new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(op: DiffOp, old_line: Option<u32>, new_line: Option<u32>, text: &str) -> DiffLine {
        DiffLine { op, old_line, new_line, text: text.to_owned() }
    }

    #[test]
    fn identical_texts_are_all_equal() {
        let text = "one\ntwo\r\nthree";
        assert_eq!(
            line_diff(text, text, None),
            [
                line(DiffOp::Equal, Some(1), Some(1), "one"),
                line(DiffOp::Equal, Some(2), Some(2), "two"),
                line(DiffOp::Equal, Some(3), Some(3), "three"),
            ]
        );
        assert!(line_diff("", "", None).is_empty());
        assert_eq!(unified(text, text, "a", "b", None), "");
    }

    #[test]
    fn insertions_and_deletions_carry_their_line_numbers() {
        let old = "a\nb\nc\nd\n";
        let new = "a\nc\nx\nd\ne\n";
        assert_eq!(
            line_diff(old, new, None),
            [
                line(DiffOp::Equal, Some(1), Some(1), "a"),
                line(DiffOp::Delete, Some(2), None, "b"),
                line(DiffOp::Equal, Some(3), Some(2), "c"),
                line(DiffOp::Insert, None, Some(3), "x"),
                line(DiffOp::Equal, Some(4), Some(4), "d"),
                line(DiffOp::Insert, None, Some(5), "e"),
            ]
        );
    }

    #[test]
    fn from_and_to_nothing() {
        assert_eq!(
            line_diff("", "x\ny", None),
            [line(DiffOp::Insert, None, Some(1), "x"), line(DiffOp::Insert, None, Some(2), "y")]
        );
        assert_eq!(line_diff("x\n", "", None), [line(DiffOp::Delete, Some(1), None, "x")]);
    }

    #[test]
    fn line_endings_are_not_changes() {
        let equal = [line(DiffOp::Equal, Some(1), Some(1), "a"), line(DiffOp::Equal, Some(2), Some(2), "b")];
        assert_eq!(line_diff("a\nb", "a\nb\n", None), equal);
        assert_eq!(line_diff("a\r\nb\r\n", "a\nb", None), equal);
        assert_eq!(unified("a\nb", "a\r\nb\n", "v1", "v2", None), "");
        // A last line without an ending, then more lines after it: only the new lines change.
        assert_eq!(
            line_diff("a\nb", "a\nb\nc\n", None),
            [
                line(DiffOp::Equal, Some(1), Some(1), "a"),
                line(DiffOp::Equal, Some(2), Some(2), "b"),
                line(DiffOp::Insert, None, Some(3), "c"),
            ]
        );
    }

    #[test]
    fn ops_serialise_lowercase() {
        let json = serde_json::to_value(line(DiffOp::Insert, None, Some(3), "x")).unwrap();
        assert_eq!(json, serde_json::json!({"op": "insert", "old_line": null, "new_line": 3, "text": "x"}));
        for (op, name) in [(DiffOp::Equal, "equal"), (DiffOp::Insert, "insert"), (DiffOp::Delete, "delete")] {
            assert_eq!(serde_json::to_string(&op).unwrap(), format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<DiffOp>(&format!("\"{name}\"")).unwrap(), op);
        }
    }

    #[test]
    fn unified_diff_has_headers_hunks_and_three_lines_of_context() {
        let old: String = (1..=10).map(|i| format!("line {i}\n")).collect();
        let new = old.replace("line 5\n", "line five\n");
        assert_eq!(
            unified(&old, &new, "v1", "v2", None),
            "--- v1\n+++ v2\n@@ -2,7 +2,7 @@\n line 2\n line 3\n line 4\n-line 5\n+line five\n line 6\n line 7\n line 8\n"
        );
        assert_eq!(unified("a", "b", "old", "new", None), "--- old\n+++ new\n@@ -1 +1 @@\n-a\n+b\n");
    }
}
