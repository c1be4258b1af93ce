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
    pub author_id: Option<Uuid>,
    pub commit_message: Option<String>,
    pub restored_from: Option<i32>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
