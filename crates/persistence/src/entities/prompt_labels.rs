use sea_orm::entity::prelude::*;

/// Where a release label of a prompt points now.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "prompt_labels")]
pub struct Model {
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub prompt_id: Uuid,
    /// Lower case.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub version: i32,
    /// JSON array of `{version, weight}`; NULL: one version.
    pub split: Option<String>,
    pub moved_by: Option<Uuid>,
    pub moved_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
