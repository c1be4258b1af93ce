use sea_orm::entity::prelude::*;

/// One prompt another includes, in the includer's current version.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "prompt_includes")]
pub struct Model {
    pub tenant_id: Uuid,
    /// The including prompt.
    #[sea_orm(primary_key, auto_increment = false)]
    pub prompt_id: Uuid,
    /// `lower(name)` of the included prompt.
    #[sea_orm(primary_key, auto_increment = false)]
    pub target_key: String,
    /// The version it is pinned to; 0: its current version.
    #[sea_orm(primary_key, auto_increment = false)]
    pub pinned_version: i32,
    /// The label it is pinned to; `''`: none.
    #[sea_orm(primary_key, auto_increment = false)]
    pub pinned_label: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
