//! `{{variable}}` placeholders in prompt content.
//!
//! The syntax, in full:
//!
//! - `{{name}}` is a variable, with optional spaces or tabs inside the braces (`{{ name }}`).
//!   A name is an ASCII letter or `_`, then ASCII letters, digits, `_`, `.` or `-`; at most
//!   [`MAX_VARIABLE_NAME_LEN`] characters.
//! - `{{{{` is an escape for a literal `{{`: `{{{{name}}` renders as `{{name}}`.
//! - Anything else is literal text, including a `{{` that does not begin a variable
//!   (`{{ not a variable }}`, `{{}}`, `{{a b}}` all stay as they are).
//!
//! Content is read left to right in a single pass. Where a `{{` does not begin a variable,
//! reading resumes at its second brace, so `{{{name}}` is a literal `{` before the variable
//! `name`. Values are inserted verbatim: a value containing `{{x}}` is not expanded again.
//! [`escape`] turns any text into content that renders back to exactly that text.

pub mod logic;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// How a prompt's content is read: `basic` is the syntax above and nothing else; `logic` adds
/// conditionals, loops and includes ([`logic`]) while reading every `basic` template the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TemplateFormat {
    /// Every prompt created before the logic format existed.
    #[default]
    Basic,
    Logic,
}

impl TemplateFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateFormat::Basic => "basic",
            TemplateFormat::Logic => "logic",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [TemplateFormat::Basic, TemplateFormat::Logic].into_iter().find(|f| f.as_str() == raw)
    }
}

/// Longest variable name (characters).
pub const MAX_VARIABLE_NAME_LEN: usize = 100;

const ESCAPE: &str = "{{{{";
const OPEN: &str = "{{";
const CLOSE: &str = "}}";

/// Why content could not be rendered with the given values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[error("{}", describe(.missing, .unexpected))]
pub struct RenderError {
    /// Variables in the content without a value, in order of first appearance in the content.
    pub missing: Vec<String>,
    /// Values given for names that are not variables of the content, sorted. Reported only
    /// when rendering strictly.
    pub unexpected: Vec<String>,
}

fn describe(missing: &[String], unexpected: &[String]) -> String {
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("no value for {}", missing.join(", ")));
    }
    if !unexpected.is_empty() {
        parts.push(format!("not a variable of this prompt: {}", unexpected.join(", ")));
    }
    parts.join("; ")
}

/// One piece of content, as the scanner reads it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    Text(&'a str),
    Variable(&'a str),
}

/// Reads `content` left to right, handing each piece to `emit` in order.
pub(crate) fn scan<'a>(content: &'a str, mut emit: impl FnMut(Piece<'a>)) {
    // Every index the text is cut at is at or just past an ASCII brace, or at either end,
    // so every slice below lies on character boundaries.
    let mut text_start = 0;
    let mut at = 0;
    while let Some(offset) = content.get(at..).and_then(|rest| rest.find(OPEN)) {
        at += offset;
        let rest = &content[at..];
        let (piece, len) = if rest.starts_with(ESCAPE) {
            (Piece::Text(OPEN), ESCAPE.len())
        } else if let Some((name, len)) = variable_at(rest) {
            (Piece::Variable(name), len)
        } else {
            // Not a variable: the first brace is text; look again from the second.
            at += 1;
            continue;
        };
        if text_start < at {
            emit(Piece::Text(&content[text_start..at]));
        }
        emit(piece);
        at += len;
        text_start = at;
    }
    if text_start < content.len() {
        emit(Piece::Text(&content[text_start..]));
    }
}

/// The variable `rest` begins with (`rest` begins with `{{`), and the length of its placeholder.
fn variable_at(rest: &str) -> Option<(&str, usize)> {
    let inner = rest.strip_prefix(OPEN)?;
    let blank = |c: char| c == ' ' || c == '\t';
    let name_start = inner.trim_start_matches(blank);
    if !name_start.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') {
        return None;
    }
    let name_len = name_start
        .find(|c: char| !(c.is_ascii_alphanumeric() || "_.-".contains(c)))
        .unwrap_or(name_start.len());
    if name_len > MAX_VARIABLE_NAME_LEN {
        return None;
    }
    let (name, after) = name_start.split_at(name_len);
    let after_blanks = after.trim_start_matches(blank);
    after_blanks.strip_prefix(CLOSE)?;
    let len = rest.len() - after_blanks.len() + CLOSE.len();
    Some((name, len))
}

/// The distinct variable names in `content`, in order of first appearance.
pub fn variables(content: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut names = Vec::new();
    scan(content, |piece| {
        if let Piece::Variable(name) = piece
            && seen.insert(name)
        {
            names.push(name.to_owned());
        }
    });
    names
}

/// `content` with each variable replaced by its value from `values`, verbatim.
///
/// Every variable needs a value (else [`RenderError::missing`]). With `strict`, every value
/// must also belong to a variable (else [`RenderError::unexpected`]); without, extra values
/// are ignored. A value may be empty.
pub fn render(content: &str, values: &BTreeMap<String, String>, strict: bool) -> Result<String, RenderError> {
    let mut output = String::with_capacity(content.len());
    let mut used = BTreeSet::new();
    let mut missing: Vec<String> = Vec::new();
    scan(content, |piece| match piece {
        Piece::Text(text) => output.push_str(text),
        Piece::Variable(name) => {
            used.insert(name);
            match values.get(name) {
                Some(value) => output.push_str(value),
                None if !missing.iter().any(|m| m == name) => missing.push(name.to_owned()),
                None => {}
            }
        }
    });
    let unexpected: Vec<String> = if strict {
        values.keys().filter(|key| !used.contains(key.as_str())).cloned().collect()
    } else {
        Vec::new()
    };
    if missing.is_empty() && unexpected.is_empty() {
        Ok(output)
    } else {
        Err(RenderError { missing, unexpected })
    }
}

/// The length in bytes `render` would produce, computed without producing it, so a caller can
/// refuse a request whose output would be huge (a value of 100 KB used 20,000 times) before
/// allocating it. Missing values count as empty.
pub fn rendered_len(content: &str, values: &BTreeMap<String, String>) -> usize {
    let mut len = 0usize;
    scan(content, |piece| match piece {
        Piece::Text(text) => len = len.saturating_add(text.len()),
        Piece::Variable(name) => len = len.saturating_add(values.get(name).map_or(0, String::len)),
    });
    len
}

/// Content that renders (with no values) to exactly `text` and has no variables: each `{{`
/// in `text` becomes the escape `{{{{`.
pub fn escape(text: &str) -> String {
    text.replace(OPEN, ESCAPE)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn rendered_len_is_the_length_of_the_rendering() {
        let vals = values(&[("a", "xyz"), ("b", "")]);
        for content in ["{{a}}{{a}} and {{ b }}", "plain", "{{{{a}} {{a}}", ""] {
            assert_eq!(rendered_len(content, &vals), render(content, &vals, false).unwrap().len());
        }
        let huge = "{{a}}".repeat(20_000);
        let big = values(&[("a", &"v".repeat(100_000))]);
        assert_eq!(rendered_len(&huge, &big), 2_000_000_000);
    }

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn finds_variables_in_order_of_first_appearance() {
        let content = "Hi {{name}}, {{ greeting }} from {{\tteam.lead-1 }}; bye {{name}} {{_x}}";
        assert_eq!(variables(content), ["name", "greeting", "team.lead-1", "_x"]);
    }

    #[test]
    fn other_braces_are_text() {
        for literal in [
            "{{}}",
            "{{ }}",
            "{{a b}}",
            "{{1abc}}",
            "{{-a}}",
            "{{a\n}}",
            "{{\na}}",
            "{{a}",
            "{a}}",
            "{ {a}}",
            "{{a} }",
            "{{ é }}",
            "{{aé}}",
            "{{",
            "}}",
            "{",
            "{{{",
            "no braces at all",
            "{\"json\": {\"x\": 1}}",
        ] {
            assert_eq!(variables(literal), Vec::<String>::new(), "{literal:?}");
            assert_eq!(render(literal, &BTreeMap::new(), true).as_deref(), Ok(literal), "{literal:?}");
        }
    }

    #[test]
    fn variable_names_are_at_most_100_characters() {
        let ok = format!("{{{{{}}}}}", "a".repeat(100));
        let too_long = format!("{{{{{}}}}}", "a".repeat(101));
        assert_eq!(variables(&ok), ["a".repeat(100)]);
        assert!(variables(&too_long).is_empty());
    }

    #[test]
    fn four_braces_escape_two() {
        assert!(variables("{{{{name}}").is_empty());
        assert_eq!(render("{{{{name}}", &BTreeMap::new(), true).unwrap(), "{{name}}");
        assert_eq!(render("{{{{ not a var", &BTreeMap::new(), true).unwrap(), "{{ not a var");
        // Six braces: an escape, then a variable.
        assert_eq!(render("{{{{{{a}}", &values(&[("a", "1")]), true).unwrap(), "{{1");
        // Three braces: a brace, then a variable.
        assert_eq!(render("{{{a}}}", &values(&[("a", "1")]), true).unwrap(), "{1}");
        assert_eq!(render("{{ {{a}} }}", &values(&[("a", "1")]), true).unwrap(), "{{ 1 }}");
    }

    #[test]
    fn renders_values_verbatim() {
        let content = "Dear {{ name }},\n{{body}}\n— {{name}} ✓";
        let vals = values(&[("name", "Zoë"), ("body", "{{name}} and {{{{x}}")]);
        assert_eq!(render(content, &vals, true).unwrap(), "Dear Zoë,\n{{name}} and {{{{x}}\n— Zoë ✓");
        assert_eq!(render("{{a}}{{b}}", &values(&[("a", ""), ("b", "")]), true).unwrap(), "");
    }

    #[test]
    fn missing_values_are_always_an_error() {
        let err = render("{{b}} {{a}} {{b}} {{c}}", &values(&[("c", "x"), ("z", "y")]), false).unwrap_err();
        assert_eq!(err, RenderError { missing: vec!["b".into(), "a".into()], unexpected: vec![] });
        assert_eq!(err.to_string(), "no value for b, a");
    }

    #[test]
    fn unexpected_values_are_an_error_only_when_strict() {
        let vals = values(&[("a", "1"), ("zz", "2"), ("b", "3")]);
        assert_eq!(render("{{a}}", &vals, false).unwrap(), "1");
        let err = render("{{a}} {{c}}", &vals, true).unwrap_err();
        assert_eq!(err.missing, ["c"]);
        assert_eq!(err.unexpected, ["b", "zz"]);
        assert_eq!(err.to_string(), "no value for c; not a variable of this prompt: b, zz");
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            serde_json::json!({"missing": ["c"], "unexpected": ["b", "zz"]})
        );
    }

    #[test]
    fn escape_examples() {
        assert_eq!(escape("{{x}} {"), "{{{{x}} {");
        assert_eq!(escape("{{{"), "{{{{{");
        assert_eq!(render(&escape("{{{"), &BTreeMap::new(), true).unwrap(), "{{{");
    }

    fn name() -> impl Strategy<Value = String> {
        "[A-Za-z_][A-Za-z0-9_.-]{0,20}"
    }

    /// Text made mostly of the characters that matter to the scanner, plus multibyte ones.
    fn bracey() -> impl Strategy<Value = String> {
        "([{} \tab_.1é€😀\n-]|\\{\\{|\\}\\}|\\{\\{ ?[a-z]{1,3} ?\\}\\}){0,40}"
    }

    proptest! {
        #[test]
        fn never_panics(content in any::<String>(), extra in bracey(), key in name(), value in any::<String>()) {
            for text in [&content, &extra] {
                let names = variables(text);
                let vals: BTreeMap<String, String> =
                    names.iter().cloned().chain([key.clone()]).map(|n| (n, value.clone())).collect();
                let _ = render(text, &vals, true);
                let _ = render(text, &vals, false);
                let _ = render(text, &BTreeMap::new(), true);
            }
        }

        #[test]
        fn text_without_double_braces_is_unchanged(text in any::<String>()) {
            let text = text.replace("{{", "{");
            prop_assume!(!text.contains("{{"));
            prop_assert!(variables(&text).is_empty());
            prop_assert_eq!(render(&text, &BTreeMap::new(), true), Ok(text.clone()));
        }

        #[test]
        fn supplying_every_variable_renders(content in bracey(), value in any::<String>()) {
            let vals: BTreeMap<String, String> =
                variables(&content).into_iter().map(|n| (n, value.clone())).collect();
            prop_assert!(render(&content, &vals, true).is_ok());
        }

        #[test]
        fn errors_list_exactly_the_missing_and_unexpected(content in bracey(), given in prop::collection::btree_set("[a-z]{1,3}", 0..4)) {
            let names = variables(&content);
            let vals: BTreeMap<String, String> = given.iter().map(|n| (n.clone(), String::new())).collect();
            let missing: Vec<String> = names.iter().filter(|n| !given.contains(*n)).cloned().collect();
            let unexpected: Vec<String> = given.iter().filter(|n| !names.contains(n)).cloned().collect();
            match render(&content, &vals, true) {
                Ok(_) => prop_assert!(missing.is_empty() && unexpected.is_empty()),
                Err(e) => prop_assert_eq!(e, RenderError { missing: missing.clone(), unexpected }),
            }
            prop_assert_eq!(render(&content, &vals, false).err().map(|e| e.missing).unwrap_or_default(), missing);
        }

        #[test]
        fn escaped_text_renders_back_to_itself(text in prop_oneof![any::<String>(), bracey()]) {
            let escaped = escape(&text);
            prop_assert!(variables(&escaped).is_empty());
            prop_assert_eq!(render(&escaped, &BTreeMap::new(), true), Ok(text));
        }

        #[test]
        fn values_are_inserted_verbatim_between_any_texts(
            before in prop_oneof![any::<String>(), bracey()],
            after in prop_oneof![any::<String>(), bracey()],
            var in name(),
            pad in "[ \t]{0,2}",
            value in prop_oneof![any::<String>(), bracey()],
        ) {
            let content = format!("{}{{{{{pad}{var}{pad}}}}}{}", escape(&before), escape(&after));
            prop_assert_eq!(variables(&content), vec![var.clone()]);
            let vals = BTreeMap::from([(var, value.clone())]);
            prop_assert_eq!(render(&content, &vals, true), Ok(format!("{before}{value}{after}")));
        }
    }
}
