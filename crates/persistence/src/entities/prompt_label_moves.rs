use sea_orm::entity::prelude::*;

/// One change of a release label.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "prompt_label_moves")]
pub struct Model {
    /// Time-ordered (v7): the history's order.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub prompt_id: Uuid,
    pub label: String,
    /// NULL: the label was created.
    pub from_version: Option<i32>,
    /// NULL: the label was removed.
    pub to_version: Option<i32>,
    /// The split the move set (JSON), if any.
    pub split: Option<String>,
    pub reason: Option<String>,
    pub rollback_of: Option<Uuid>,
    pub moved_by: Option<Uuid>,
    /// Who approved the move, for a protected label.
    pub approved_by: Option<Uuid>,
    pub moved_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
