//! The one search tokenizer: what a prompt is indexed as and what a query looks for, the same
//! for SQLite and PostgreSQL (both store exactly these tokens; neither database tokenizes).
//!
//! # Normalisation
//! Text is lowercased, decomposed (NFKD: full-width `ＡＢＣ` and ligatures become `abc`,
//! `ﬁ` becomes `fi`), stripped of diacritics (the Combining Diacritical Marks blocks, Hebrew
//! points, Arabic harakat), given a few letter folds (`ß`→`ss`, `æ`→`ae`, `œ`→`oe`, `ø`→`o`,
//! `ł`→`l`, `đ`/`ð`→`d`, `ħ`→`h`, `ı`→`i`, `ŧ`→`t`, `ς`→`σ`) and recomposed (NFC, so Hangul
//! syllables and kana with voicing marks stay whole). So `café`, `CAFÉ` and `cafe` are one word,
//! `naïve` is `naive`, `Łódź` is `lodz`, `が` stays `が`.
//!
//! # Words and compounds
//! A word is a run of letters, digits and the marks that follow them (`gpt4`, `4o`, `2024` are
//! words). Words joined by exactly one of `-` `.` `@` `_` `+` `'` (or `‐` `’`), with no space, form
//! a *compound*: `ann.lee@example.com`, `state-of-the-art`, `gpt-4o`, `o'brien`, `3.14`. A
//! compound is indexed as each of its suffixes with the joiners removed — `ann.lee@example.com`
//! gives `annleeexamplecom`, `leeexamplecom`, `examplecom`, `com` — and a compound in a query is
//! looked up as its whole, joiners removed. Since every query term matches as a prefix, a compound
//! is found by any of its parts (`lee`, `example`), by any run of consecutive parts written with or
//! without joiners (`lee@example`, `example.com`, `examplecom`) and by its whole; `email` also finds
//! `e-mail`. Everything else (spaces, `/`, `:`, `*`, quotes, `&|!`…) only separates.
//!
//! # CJK
//! Han, Hiragana, Katakana and Hangul have no spaces between words, so a run of them is indexed
//! as its overlapping bigrams plus its last character (`東京都` gives `東京`, `京都`, `都`): every
//! character starts a token. A query run of one character is that character (matched as a
//! prefix, it finds the character anywhere); a longer run is its bigrams, all of which must
//! match (`京都` finds `東京都`; `東京都` needs both `東京` and `京都`, in any order).
//!
//! # Caps
//! A token or query term is at most [`MAX_TERM_CHARS`] characters (longer ones are cut, the same
//! way on both sides, so a long word still matches itself). A query uses at most
//! [`MAX_QUERY_TERMS`] terms. A document indexes at most [`MAX_DOCUMENT_DISTINCT_TOKENS`] distinct
//! tokens totalling [`MAX_DOCUMENT_TOKEN_BYTES`] bytes, in field order (name, title, tags, content),
//! so a huge content cannot overflow an index row; words past the cap are not searchable.

use std::collections::HashSet;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Longest token or query term, in characters.
pub const MAX_TERM_CHARS: usize = 64;
/// The most terms a query uses; the rest of a very long query is ignored.
pub const MAX_QUERY_TERMS: usize = 16;
/// The most distinct tokens one document indexes.
pub const MAX_DOCUMENT_DISTINCT_TOKENS: usize = 8_000;
/// The most bytes (UTF-8) of distinct tokens one document indexes.
pub const MAX_DOCUMENT_TOKEN_BYTES: usize = 256 * 1024;

/// The searchable fields of a prompt, in the order a document is built (and capped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchField {
    Name,
    Title,
    Tags,
    Content,
}

/// What a prompt is indexed as: the tokens of each field, in text order, repeats kept (they
/// count for ranking), within the document caps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchDocument {
    fields: Vec<(SearchField, Vec<String>)>,
}

impl SearchDocument {
    /// The document of a prompt's searchable fields.
    pub fn new(name: &str, title: &str, tags: &[String], content: &str) -> Self {
        let mut seen = HashSet::new();
        let mut bytes = 0;
        let mut keep = |token: &String| {
            if seen.contains(token) {
                return true;
            }
            if seen.len() == MAX_DOCUMENT_DISTINCT_TOKENS || bytes + token.len() > MAX_DOCUMENT_TOKEN_BYTES {
                return false;
            }
            bytes += token.len();
            seen.insert(token.clone());
            true
        };
        let tags = tags.join(" ");
        let mut fields = Vec::with_capacity(4);
        for (field, text) in [
            (SearchField::Name, name),
            (SearchField::Title, title),
            (SearchField::Tags, tags.as_str()),
            (SearchField::Content, content),
        ] {
            let tokens = index_tokens(text).into_iter().filter(|t| keep(t)).collect();
            fields.push((field, tokens));
        }
        Self { fields }
    }

    /// Each field with its tokens, in [`SearchField`] order.
    pub fn fields(&self) -> impl Iterator<Item = (SearchField, &[String])> {
        self.fields.iter().map(|(field, tokens)| (*field, tokens.as_slice()))
    }

    /// The tokens of one field.
    pub fn field(&self, field: SearchField) -> &[String] {
        self.fields.iter().find(|(f, _)| *f == field).map_or(&[], |(_, tokens)| tokens.as_slice())
    }
}

/// The tokens `text` is indexed as, in text order, repeats kept, no cap on their number.
pub fn index_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    for piece in pieces(&normalize(text)) {
        match piece {
            Piece::Compound(parts) => {
                for start in 0..parts.len() {
                    // Only as many parts as the cut keeps: a long compound stays linear.
                    let (mut token, mut chars) = (String::new(), 0);
                    for part in parts[start..].iter() {
                        token.push_str(part);
                        chars += part.chars().count();
                        if chars >= MAX_TERM_CHARS {
                            break;
                        }
                    }
                    tokens.push(cut(token));
                }
            }
            Piece::Cjk(run) => {
                for pair in run.windows(2) {
                    tokens.push(pair.iter().collect());
                }
                if let Some(last) = run.last() {
                    tokens.push(last.to_string());
                }
            }
        }
    }
    tokens
}

/// The terms of a search: each must match an indexed token as a prefix. Distinct, at most
/// [`MAX_QUERY_TERMS`]. Terms hold only letters, digits and marks (no spaces, quotes or other
/// punctuation), so they are inert in any query syntax.
pub fn query_terms(q: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    let mut add = |term: String| {
        if !terms.contains(&term) {
            terms.push(term);
        }
    };
    for piece in pieces(&normalize(q)) {
        match piece {
            Piece::Compound(parts) => add(cut(parts.concat())),
            Piece::Cjk(run) if run.len() == 1 => add(run[0].to_string()),
            Piece::Cjk(run) => run.windows(2).for_each(|pair| add(pair.iter().collect())),
        }
    }
    terms.truncate(MAX_QUERY_TERMS);
    terms
}

/// Lowercased, compatibility-decomposed, without diacritics, folded, recomposed.
pub fn normalize(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .nfkd()
        .filter(|&c| !is_diacritic(c))
        .flat_map(char::to_lowercase)
        .flat_map(fold)
        .nfc()
        .collect()
}

/// Marks that only decorate a letter, and so do not change the word for a search.
fn is_diacritic(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}' // Combining Diacritical Marks
        | '\u{1AB0}'..='\u{1AFF}' // … Extended
        | '\u{1DC0}'..='\u{1DFF}' // … Supplement
        | '\u{20D0}'..='\u{20FF}' // … for Symbols
        | '\u{FE20}'..='\u{FE2F}' // Combining Half Marks
        | '\u{0591}'..='\u{05BD}' | '\u{05BF}' | '\u{05C1}' | '\u{05C2}' | '\u{05C4}' | '\u{05C5}' | '\u{05C7}' // Hebrew points
        | '\u{064B}'..='\u{065F}' | '\u{0670}' // Arabic harakat
    )
}

/// Letters that do not decompose but are searched as their plain counterparts.
fn fold(c: char) -> Folded {
    let folded: &'static str = match c {
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        'ø' => "o",
        'ł' => "l",
        'đ' | 'ð' => "d",
        'ħ' => "h",
        'ı' => "i",
        'ŧ' => "t",
        'ς' => "σ",
        _ => return Folded::One(Some(c)),
    };
    Folded::Many(folded.chars())
}

enum Folded {
    One(Option<char>),
    Many(std::str::Chars<'static>),
}

impl Iterator for Folded {
    type Item = char;
    fn next(&mut self) -> Option<char> {
        match self {
            Folded::One(c) => c.take(),
            Folded::Many(chars) => chars.next(),
        }
    }
}

/// Han, Kana and Hangul letters (after normalisation), which are searched by bigrams.
fn is_cjk(c: char) -> bool {
    c.is_alphanumeric()
        && matches!(c,
            '\u{1100}'..='\u{11FF}' // Hangul Jamo
            | '\u{3005}'..='\u{3007}' // 々 〆 〇
            | '\u{3040}'..='\u{309F}' // Hiragana
            | '\u{30A0}'..='\u{30FF}' // Katakana (・ and ゠ are punctuation, not alphanumeric)
            | '\u{3130}'..='\u{318F}' // Hangul Compatibility Jamo
            | '\u{31F0}'..='\u{31FF}' // Katakana Phonetic Extensions
            | '\u{3400}'..='\u{4DBF}' // CJK Extension A
            | '\u{4E00}'..='\u{9FFF}' // CJK Unified Ideographs
            | '\u{A960}'..='\u{A97F}' // Hangul Jamo Extended-A
            | '\u{AC00}'..='\u{D7FF}' // Hangul Syllables, Jamo Extended-B
            | '\u{F900}'..='\u{FAFF}' // CJK Compatibility Ideographs
            | '\u{20000}'..='\u{323AF}' // CJK Extensions B–H, Compatibility Supplement
        )
}

fn is_joiner(c: char) -> bool {
    matches!(c, '-' | '\u{2010}' | '.' | '@' | '_' | '+' | '\'' | '\u{2019}')
}

/// A compound (one word or more, each cut to [`MAX_TERM_CHARS`]) or a run of CJK letters.
enum Piece {
    Compound(Vec<String>),
    Cjk(Vec<char>),
}

/// Splits normalised text into compounds and CJK runs.
fn pieces(text: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut joined = false; // a joiner follows `word`
    let mut run: Vec<char> = Vec::new();
    let end_compound = |out: &mut Vec<Piece>, parts: &mut Vec<String>, word: &mut String| {
        if !word.is_empty() {
            parts.push(cut(std::mem::take(word)));
        }
        if !parts.is_empty() {
            out.push(Piece::Compound(std::mem::take(parts)));
        }
    };
    for c in text.chars() {
        if is_cjk(c) {
            end_compound(&mut out, &mut parts, &mut word);
            joined = false;
            run.push(c);
            continue;
        }
        if !run.is_empty() {
            out.push(Piece::Cjk(std::mem::take(&mut run)));
        }
        if c.is_alphanumeric() || (is_combining_mark(c) && !word.is_empty() && !joined) {
            if joined {
                parts.push(cut(std::mem::take(&mut word)));
                joined = false;
            }
            word.push(c);
        } else if is_joiner(c) && !word.is_empty() && !joined {
            joined = true;
        } else {
            end_compound(&mut out, &mut parts, &mut word);
            joined = false;
        }
    }
    end_compound(&mut out, &mut parts, &mut word);
    if !run.is_empty() {
        out.push(Piece::Cjk(run));
    }
    out
}

/// At most [`MAX_TERM_CHARS`] characters.
fn cut(mut s: String) -> String {
    if let Some((at, _)) = s.char_indices().nth(MAX_TERM_CHARS) {
        s.truncate(at);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tokens(text: &str) -> Vec<String> {
        index_tokens(text)
    }

    /// Whether searching `q` finds `text` (every term a prefix of some token).
    fn finds(q: &str, text: &str) -> bool {
        let tokens = index_tokens(text);
        let terms = query_terms(q);
        !terms.is_empty() && terms.iter().all(|t| tokens.iter().any(|token| token.starts_with(t.as_str())))
    }

    #[test]
    fn accents_case_and_compatibility_forms_fold() {
        assert_eq!(tokens("Café CAFÉ cafe"), ["cafe", "cafe", "cafe"]);
        assert_eq!(tokens("naïve Łódź Straße Ærø"), ["naive", "lodz", "strasse", "aero"]);
        assert_eq!(tokens("ＧＰＴ４ ﬁle"), ["gpt4", "file"]);
        assert_eq!(tokens("İstanbul"), ["istanbul"]);
        assert_eq!(tokens("Ελληνικός"), ["ελληνικοσ"]);
        assert_eq!(query_terms("CAFÉ"), ["cafe"]);
        assert!(finds("café", "un cafe noir") && finds("cafe", "Un CAFÉ noir") && finds("naive", "naïve"));
    }

    #[test]
    fn emails_are_found_whole_by_parts_and_by_runs_of_parts() {
        assert_eq!(
            tokens("Mail Ann.Lee@Example.com!"),
            ["mail", "annleeexamplecom", "leeexamplecom", "examplecom", "com"]
        );
        assert_eq!(query_terms("ann.lee@example.com"), ["annleeexamplecom"]);
        let text = "write to ann.lee@example.com today";
        for q in ["ann.lee@example.com", "ann", "lee", "example", "example.com", "lee@example", "ann.lee@ex"]
        {
            assert!(finds(q, text), "{q}");
        }
        assert!(!finds("bob@example.com", text));
        assert!(!finds("example.org", text));
    }

    #[test]
    fn hyphenated_words_are_found_whole_and_by_parts() {
        assert_eq!(tokens("state-of-the-art"), ["stateoftheart", "oftheart", "theart", "art"]);
        assert_eq!(query_terms("state-of-the-art"), ["stateoftheart"]);
        for q in ["state-of-the-art", "stateoftheart", "state", "art", "the-art", "state art"] {
            assert!(finds(q, "a state-of-the-art model"), "{q}");
        }
        assert!(finds("email", "send an e-mail") && finds("e-mail", "send an e-mail"));
        assert!(!finds("art-state", "a state-of-the-art model"));
        // Doubled or leading joiners only separate.
        assert_eq!(tokens("a--b -c d-"), ["a", "b", "c", "d"]);
        assert_eq!(tokens("o'brien don’t"), ["obrien", "brien", "dont", "t"]);
    }

    #[test]
    fn digits_are_words() {
        assert_eq!(
            tokens("gpt4 4o 2024 gpt-4o 3.14 1,000"),
            ["gpt4", "4o", "2024", "gpt4o", "4o", "314", "14", "1", "000"]
        );
        assert!(finds("gpt4", "use gpt-4o") && finds("gpt-4", "use gpt4") && finds("4o", "gpt-4o"));
        assert!(finds("2024", "since 2024-05") && !finds("2025", "since 2024-05"));
        assert!(!finds("4", "gpt4"), "prefixes only: a word is not found by its tail");
    }

    #[test]
    fn cjk_runs_are_bigrams_and_a_two_character_word_is_found() {
        assert_eq!(tokens("東京都"), ["東京", "京都", "都"]);
        assert_eq!(query_terms("京都"), ["京都"]);
        assert_eq!(query_terms("東京都"), ["東京", "京都"]);
        assert!(
            finds("中文", "这是中文提示") && finds("提示", "这是中文提示") && finds("示", "这是中文提示")
        );
        assert!(!finds("英文", "这是中文提示"));
        // Kana: voicing marks stay; half-width becomes full-width.
        assert_eq!(normalize("ｶﾞｲﾄﾞ"), "ガイド");
        assert!(finds("ガイド", "ユーザーガイドです") && finds("ひらがな", "これはひらがなです"));
        assert!(!finds("かいと", "ユーザーガイドです") && !finds("カイト", "ユーザーガイドです"));
        // Hangul syllables survive decomposition; words are searchable inside.
        assert_eq!(tokens("한국어"), ["한국", "국어", "어"]);
        assert!(
            finds("한국", "한국어 프롬프트") && finds("국어", "한국어 프롬프트") && !finds("영어", "한국어")
        );
        // Mixed scripts split at the boundary.
        assert_eq!(tokens("gpt4中文abc"), ["gpt4", "中文", "文", "abc"]);
    }

    #[test]
    fn punctuation_and_query_syntax_only_separate() {
        assert!(query_terms("\"* ( ) : & | ! ^ ~ ' --").is_empty());
        assert_eq!(query_terms("a AND b OR NOT c NEAR(d)"), ["a", "and", "b", "or", "not", "c", "near", "d"]);
        assert_eq!(query_terms("tenant:x"), ["tenant", "x"]);
        assert_eq!(query_terms("50%_off"), ["50", "off"]);
        assert_eq!(query_terms("gpt gpt GPT"), ["gpt"], "distinct");
    }

    #[test]
    fn terms_and_documents_are_capped() {
        let long = "x".repeat(500);
        assert_eq!(tokens(&long), ["x".repeat(MAX_TERM_CHARS)]);
        assert_eq!(query_terms(&long), ["x".repeat(MAX_TERM_CHARS)]);
        assert!(finds(&long, &format!("{long}y")));
        let many: String = (0..100).map(|i| format!("w{i} ")).collect();
        assert_eq!(query_terms(&many).len(), MAX_QUERY_TERMS);
        // A huge content keeps its first distinct tokens, and repeats of them.
        let content: String = (0..20_000).map(|i| format!("w{i} w0 ")).collect();
        let doc = SearchDocument::new("name", "title", &["tag".to_owned()], &content);
        let distinct: HashSet<&String> = doc.fields().flat_map(|(_, t)| t).collect();
        assert_eq!(distinct.len(), MAX_DOCUMENT_DISTINCT_TOKENS);
        assert_eq!(doc.field(SearchField::Name), ["name"]);
        assert!(doc.field(SearchField::Content).iter().filter(|t| *t == "w0").count() == 20_001);
        let wide: String = (0..10_000).map(|i| format!("{i:0>60} ")).collect();
        let doc = SearchDocument::new("n", "", &[], &wide);
        let bytes: usize = doc.field(SearchField::Content).iter().map(String::len).sum();
        assert!(bytes <= MAX_DOCUMENT_TOKEN_BYTES && bytes > MAX_DOCUMENT_TOKEN_BYTES - 61);
    }

    #[test]
    fn documents_index_fields_in_order() {
        let doc = SearchDocument::new("support/welcome-email", "Welcome!", &["on-boarding".into()], "Hi");
        assert_eq!(doc.field(SearchField::Name), ["support", "welcomeemail", "email"]);
        assert_eq!(doc.field(SearchField::Title), ["welcome"]);
        assert_eq!(doc.field(SearchField::Tags), ["onboarding", "boarding"]);
        assert_eq!(doc.field(SearchField::Content), ["hi"]);
    }

    proptest! {
        #[test]
        fn tokens_and_terms_are_inert_and_text_finds_itself(text in "\\PC{0,80}") {
            let tokens = index_tokens(&text);
            let terms = query_terms(&text);
            for t in tokens.iter().chain(&terms) {
                prop_assert!(!t.is_empty() && t.chars().count() <= MAX_TERM_CHARS, "{t:?}");
                prop_assert!(t.chars().all(|c| c.is_alphanumeric() || is_combining_mark(c)), "{t:?}");
            }
            for term in &terms {
                prop_assert!(tokens.iter().any(|token| token.starts_with(term.as_str())), "{term:?} in {tokens:?}");
            }
        }
    }
}
