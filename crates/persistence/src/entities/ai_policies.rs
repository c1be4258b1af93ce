use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "ai_policies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub allow_user_connections: bool,
    pub execution_connection_id: Option<Uuid>,
    pub enhancement_connection_id: Option<Uuid>,
    pub run_retention_days: i32,
    /// JSON array of `domain::ai::ModelPrice`.
    pub prices: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
