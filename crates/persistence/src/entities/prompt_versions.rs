use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "prompt_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub prompt_id: Uuid,
    pub version: i32,
    pub name: String,
    pub title: String,
    pub content: String,
    pub category: String,
    pub tags: String,
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
    pub author_id: Option<Uuid>,
    pub commit_message: Option<String>,
    pub restored_from: Option<i32>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
