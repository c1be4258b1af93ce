use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "prompt_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Option<Uuid>,
    pub prompt_id: Option<Uuid>,
    pub prompt_version: Option<i32>,
    pub kind: String,
    pub compare_group: Option<Uuid>,
    pub enhancement_prompt: Option<String>,
    pub connection_id: Option<Uuid>,
    pub connection_name: String,
    pub provider: String,
    pub model: String,
    pub outcome: String,
    pub error_code: Option<String>,
    pub finish_reason: Option<String>,
    pub input_tokens: Option<i32>,
    pub output_tokens: Option<i32>,
    pub latency_ms: i64,
    pub estimated_cost: Option<f64>,
    pub output: Option<String>,
    pub output_expires_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
