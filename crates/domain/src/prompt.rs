//! Prompts, as far as ownership and usage figures need them. (The prompt library itself,
//! with validation, versions and search, extends this.)

use crate::UserId;

/// The category of a prompt that has none.
pub const DEFAULT_CATEGORY: &str = "Uncategorized";

/// What it takes to store a prompt.
#[derive(Debug, Clone)]
pub struct NewPrompt {
    pub owner: UserId,
    pub name: String,
    pub title: String,
    pub content: String,
    pub category: String,
    pub tags: Vec<String>,
    pub is_enhancement_prompt: bool,
}
