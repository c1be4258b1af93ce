use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sso_configs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub protocol: String,
    pub enabled: bool,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_sealed: Option<String>,
    pub client_secret_hint: Option<String>,
    pub saml_metadata_url: Option<String>,
    pub saml_metadata_xml: Option<String>,
    /// JSON array of lowercase domains.
    pub allowed_domains: String,
    pub default_role: String,
    pub role_claim: Option<String>,
    /// JSON array of `domain::sso::RoleRule`.
    pub role_rules: String,
    pub create_users: bool,
    pub password_sign_in: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
