use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "prompts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Option<Uuid>,
    pub name: String,
    /// `lower(name)`: names are unique case-insensitively.
    pub name_key: String,
    /// Empty for shared prompts, the owner's id for private ones (a private namespace).
    pub name_scope: String,
    pub title: String,
    pub content: String,
    pub category: String,
    /// A JSON array of normalised tags.
    pub tags: String,
    pub is_enhancement_prompt: bool,
    /// `text` or `chat`.
    pub kind: String,
    /// `basic` or `logic`.
    pub template_format: String,
    /// JSON chat entries; NULL for text prompts.
    pub messages: Option<String>,
    /// JSON model settings; NULL when none.
    pub settings: Option<String>,
    /// JSON variable contract; NULL for rows saved before contracts (inferred when read).
    pub contract: Option<String>,
    pub visibility: String,
    pub version: i32,
    pub updated_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
