use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "ai_connections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// `None`: a tenant connection.
    pub owner_id: Option<Uuid>,
    /// Empty for tenant connections, the owner's id for personal ones.
    pub name_scope: String,
    pub name: String,
    pub name_key: String,
    pub provider: String,
    pub base_url: String,
    pub model: String,
    pub api_key_sealed: Option<String>,
    pub api_key_hint: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<i32>,
    pub timeout_seconds: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
