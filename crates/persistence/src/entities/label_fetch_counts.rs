use sea_orm::entity::prelude::*;

/// How often one version was served by one label on one UTC day.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "label_fetch_counts")]
pub struct Model {
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub prompt_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub label: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i32,
    /// `YYYY-MM-DD`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: String,
    pub fetches: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
