use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sso_flows")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub state_hash: String,
    pub browser_hash: String,
    pub purpose: String,
    pub protocol: String,
    pub nonce: Option<String>,
    pub pkce_verifier: Option<String>,
    pub saml_request_id: Option<String>,
    pub started_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub consumed_at: Option<DateTimeUtc>,
    pub handoff_hash: Option<String>,
    pub handoff_user_id: Option<Uuid>,
    pub handoff_used_at: Option<DateTimeUtc>,
    /// JSON `domain::wire::SsoTestResult`.
    pub test_result: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
