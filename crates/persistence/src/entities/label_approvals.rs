use sea_orm::entity::prelude::*;

/// A request to move a protected release label, and its decision.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "label_approvals")]
pub struct Model {
    /// Time-ordered (v7): the inbox's order.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub prompt_id: Uuid,
    pub label: String,
    pub from_version: Option<i32>,
    pub to_version: Option<i32>,
    /// The split asked for (JSON), if any.
    pub split: Option<String>,
    pub rollback_of: Option<Uuid>,
    pub reason: Option<String>,
    pub requested_by: Option<Uuid>,
    pub requested_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub status: String,
    /// The label while pending, NULL after (unique per prompt: one pending request per label).
    pub open_label: Option<String>,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTimeUtc>,
    pub comment: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
