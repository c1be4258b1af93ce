//! Where the browser app may send someone after signing in (`/login?next=…`): only to a path
//! of its own origin, whatever the link says.
//!
//! The check does not pattern-match hostile spellings; it resolves `next` with the same WHATWG
//! URL rules browsers use (the `url` crate) against a stand-in origin, keeps it only when the
//! origin did not change, and hands back the resolved path — so what the app navigates to is
//! exactly what was checked. Backslashes and control characters are refused outright: browsers
//! read `\` as `/` and drop tabs and newlines, so they only ever serve to disguise a host.

use url::{Position, Url};

/// A stand-in origin for resolving; never shown or fetched.
const ORIGIN: &str = "https://app.invalid/";

/// `next` as a path of this app (`/prompts/x?tab=history`), or `None` when it is missing,
/// relative, or could lead anywhere else: another host (`//evil.example`, `/\evil.example`),
/// a scheme (`javascript:`, `https:`), credentials, or the sign-in page itself.
pub fn same_origin_path(next: Option<&str>) -> Option<String> {
    let next = next?;
    if !next.starts_with('/') || next.contains('\\') || next.chars().any(char::is_control) {
        return None;
    }
    let base = Url::parse(ORIGIN).ok()?;
    let resolved = base.join(next).ok()?;
    let same_origin =
        resolved.origin() == base.origin() && resolved.username().is_empty() && resolved.password().is_none();
    let path = &resolved[Position::BeforePath..];
    // A path that starts with `//` reads as another host wherever it is used as a URL.
    let stays = same_origin && !path.starts_with("//") && !resolved.path().starts_with("/login");
    stays.then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_the_app_are_kept() {
        for (next, expected) in [
            ("/prompts", "/prompts"),
            ("/prompts/team%2Fdrafts?tab=history#v2", "/prompts/team%2Fdrafts?tab=history#v2"),
            ("/settings/ai", "/settings/ai"),
            ("/prompts/../settings", "/settings"),
            ("/%5Cevil.example/x", "/%5Cevil.example/x"),
            ("/@evil.example", "/@evil.example"),
            ("/prompts?next=https://evil.example", "/prompts?next=https://evil.example"),
            ("/prompts/caf\u{e9}", "/prompts/caf%C3%A9"),
        ] {
            assert_eq!(same_origin_path(Some(next)).as_deref(), Some(expected), "{next:?}");
        }
    }

    #[test]
    fn hostile_or_foreign_targets_are_refused() {
        let hostile = [
            "",
            "prompts",
            "//evil.example",
            "///evil.example",
            "////evil.example/x",
            "/\\evil.example/x",
            "/\\/evil.example",
            "\\\\evil.example",
            "/.//evil.example",
            "/..//evil.example",
            "/prompts/../..//evil.example",
            "/./\\evil.example",
            "https://evil.example",
            "http://evil.example/x",
            "HTTPS://evil.example",
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "/\t/evil.example",
            "/\n/evil.example",
            "\t//evil.example",
            " //evil.example",
            "/\r\nLocation: https://evil.example",
            "/\u{0}/evil.example",
            "/\u{7f}/evil.example",
            "/\u{85}/evil.example",
            "/login",
            "/login?next=/prompts",
            "/login/../login",
        ];
        for next in hostile {
            assert_eq!(same_origin_path(Some(next)), None, "{next:?}");
        }
        assert_eq!(same_origin_path(None), None);
    }
}
