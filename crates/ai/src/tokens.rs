//! Counting a text's tokens: exactly for OpenAI models, whose tokenizers are published, and by
//! the documented estimate for everything else.

use tiktoken_rs::CoreBPE;
use tiktoken_rs::tokenizer::{Tokenizer, get_tokenizer};

/// A token count and how it was obtained, so callers can say whether it is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCount {
    pub tokens: u32,
    /// `tiktoken:o200k_base`, `tiktoken:cl100k_base` or `estimate:chars/4`.
    pub method: &'static str,
}

/// Counts `text` as `model` would see it (the text alone, without a chat message's framing).
pub fn count_tokens(model: &str, text: &str) -> TokenCount {
    match tokenizer(model) {
        Some((bpe, method)) => {
            TokenCount { tokens: u32::try_from(bpe.count_ordinary(text)).unwrap_or(u32::MAX), method }
        }
        None => TokenCount { tokens: domain::ai::estimate_tokens(text), method: "estimate:chars/4" },
    }
}

/// Name prefixes of OpenAI's own models. Only these get tiktoken: a local model called
/// `llama3` would be miscounted by an OpenAI tokenizer.
const OPENAI_PREFIXES: [&str; 6] = ["gpt-", "chatgpt-", "o1", "o3", "o4", "text-embedding-"];

/// The tokenizer of an OpenAI model, by tiktoken's own model table. The BPE tables are built
/// on first use and kept for the life of the process (tiktoken-rs's singletons), because
/// building one takes a noticeable fraction of a second.
fn tokenizer(model: &str) -> Option<(&'static CoreBPE, &'static str)> {
    let model = model.trim().to_ascii_lowercase();
    if !OPENAI_PREFIXES.iter().any(|prefix| model.starts_with(prefix)) {
        return None;
    }
    match get_tokenizer(&model)? {
        Tokenizer::O200kBase => Some((tiktoken_rs::o200k_base_singleton(), "tiktoken:o200k_base")),
        Tokenizer::Cl100kBase => Some((tiktoken_rs::cl100k_base_singleton(), "tiktoken:cl100k_base")),
        // Older encodings belong to retired models; the estimate is good enough there.
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_models_are_counted_with_their_tokenizer() {
        // "Hello" and " world": two tokens, where the estimate says three.
        let gpt4o = count_tokens("gpt-4o", "Hello world");
        assert_eq!(gpt4o, TokenCount { tokens: 2, method: "tiktoken:o200k_base" });
        assert_eq!(count_tokens("gpt-4o-mini-2024-07-18", "Hello, world!").method, "tiktoken:o200k_base");
        assert_eq!(count_tokens("o3-mini", "x").method, "tiktoken:o200k_base");
        assert_eq!(
            count_tokens("GPT-4", "Hello world"),
            TokenCount { tokens: 2, method: "tiktoken:cl100k_base" }
        );
        assert_eq!(count_tokens("text-embedding-3-small", "hi").method, "tiktoken:cl100k_base");
    }

    #[test]
    fn other_models_are_estimated() {
        let local = count_tokens("llama3.1:8b", "Hello world");
        assert_eq!(local, TokenCount { tokens: 3, method: "estimate:chars/4" });
        assert_eq!(count_tokens("claude-sonnet-4", "abcdefgh").tokens, 2);
        // An OpenAI-looking prefix alone is not enough: tiktoken must know the model.
        assert_eq!(count_tokens("o1337-local", "abcd").method, "estimate:chars/4");
    }

    #[test]
    fn special_token_text_is_counted_as_ordinary_text() {
        assert!(count_tokens("gpt-4o", "<|endoftext|>").tokens > 1);
    }
}
