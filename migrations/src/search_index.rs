//! The stored form of the full-text index, shared by the migration that rebuilds it
//! (`m20261202_000008_search_tokens`) and the repository that keeps it up to date, so a
//! reindexed row and a freshly written one cannot differ.
//!
//! Both databases store the tokens of [`domain::search`] verbatim, each prefixed with its
//! tenant's key (the tenant id as 32 hex digits), so a posting list — and a search's cost —
//! belongs to one tenant. Neither database tokenizes: SQLite's FTS5 table uses the `ascii`
//! tokenizer, which only splits these texts at their spaces (tokens hold no ASCII punctuation),
//! and PostgreSQL's `tsvector` and `tsquery` are written in their input syntax, never parsed by a
//! text search configuration. A change to the tokenizer or to this format needs a new migration
//! that reindexes.

use domain::search::{SearchDocument, SearchField};
use std::collections::HashMap;

/// PostgreSQL keeps positions up to this; later ones are stored as this.
const MAX_POSITION: usize = 16_383;
/// PostgreSQL keeps at most this many positions per lexeme (they only count for ranking).
const MAX_POSITIONS_PER_LEXEME: usize = 255;

/// The prefix of a tenant's tokens, from its id (hyphenated or not, any case).
pub fn tenant_key(tenant_id: &str) -> String {
    tenant_id.chars().filter(|c| *c != '-').flat_map(char::to_lowercase).collect()
}

/// SQLite: the texts of the FTS5 columns `name`, `title`, `content`, `tags`, in that order.
pub fn sqlite_columns(key: &str, doc: &SearchDocument) -> [String; 4] {
    let text =
        |field| doc.field(field).iter().map(|token| format!("{key}{token}")).collect::<Vec<_>>().join(" ");
    [text(SearchField::Name), text(SearchField::Title), text(SearchField::Content), text(SearchField::Tags)]
}

/// SQLite: the FTS5 query for these terms, each a prefix, all required.
pub fn sqlite_match(key: &str, terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| format!("\"{}\"*", format!("{key}{t}").replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// PostgreSQL: the document as `tsvector` input (`'lexeme':1A,7A …`). The name weighs A, title
/// and tags B, content D; positions run on through the fields with a gap between them.
pub fn postgres_tsvector(key: &str, doc: &SearchDocument) -> String {
    let mut lexemes: Vec<(String, Vec<String>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut position = 0;
    for (field, tokens) in doc.fields() {
        let weight = match field {
            SearchField::Name => 'A',
            SearchField::Title | SearchField::Tags => 'B',
            SearchField::Content => 'D',
        };
        position += 1;
        for token in tokens {
            position += 1;
            let at = *index.entry(token.as_str()).or_insert_with(|| {
                lexemes.push((format!("{key}{token}"), Vec::new()));
                lexemes.len() - 1
            });
            let positions = &mut lexemes[at].1;
            let entry = format!("{}{weight}", position.min(MAX_POSITION));
            if positions.len() < MAX_POSITIONS_PER_LEXEME && positions.last() != Some(&entry) {
                positions.push(entry);
            }
        }
    }
    lexemes
        .iter()
        .map(|(lexeme, positions)| format!("{}:{}", quote(lexeme), positions.join(",")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// PostgreSQL: the `tsquery` input for these terms, each a prefix, all required.
pub fn postgres_tsquery(key: &str, terms: &[String]) -> String {
    terms.iter().map(|t| format!("{}:*", quote(&format!("{key}{t}")))).collect::<Vec<_>>().join(" & ")
}

/// A lexeme in `tsvector`/`tsquery` input syntax.
fn quote(lexeme: &str) -> String {
    format!("'{}'", lexeme.replace('\\', "\\\\").replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_both_backends() {
        let doc = SearchDocument::new("a-b", "Title", &["x".into()], "b b");
        let key = tenant_key("0193ABCD-0000-7000-8000-000000000001");
        assert_eq!(key, "0193abcd000070008000000000000001");
        assert_eq!(sqlite_columns("k", &doc), ["kab kb", "ktitle", "kb kb", "kx"]);
        assert_eq!(postgres_tsvector("k", &doc), "'kab':2A 'kb':3A,9D,10D 'ktitle':5B 'kx':7B");
        let terms = ["ab".to_owned(), "c".to_owned()];
        assert_eq!(sqlite_match("k", &terms), "\"kab\"* \"kc\"*");
        assert_eq!(postgres_tsquery("k", &terms), "'kab':* & 'kc':*");
        assert_eq!(quote("o'b\\"), "'o''b\\\\'");
    }
}
