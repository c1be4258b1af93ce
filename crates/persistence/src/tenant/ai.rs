//! One tenant's AI services: connections, the tenant's AI policy, each user's choice of
//! connections, and the record of runs with their analytics. A personal connection is seen only
//! by its owner; run records only by the user who ran them and the tenant's admins.

use chrono::{DateTime, NaiveDate, Utc};
use domain::ai::{
    Connection, ConnectionSettings, GenerationOptions, KeyChange, ModelPrice, NewRun, Provider, Run, Usage,
};
use domain::wire::{AiPolicy, RunKind, RunOutcome};
use domain::{ConnectionId, PromptId, RunId, Secret, TenantId, UserId};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::TenantRepo;
use crate::entities::{ai_connections, ai_policies, config, prompt_runs};
use crate::error::corrupt;
use crate::query::{Page, utc_day};
use crate::{StoreError, convert};

/// The policy of a tenant whose admins never set one.
pub const DEFAULT_RUN_RETENTION_DAYS: u32 = 30;

/// Which runs a reader may see.
#[derive(Debug, Clone, Copy)]
pub enum RunViewer {
    /// A tenant admin: every run.
    Admin,
    /// Only this user's own runs.
    User(UserId),
}

/// Per-day and per-model run figures.
#[derive(Debug, Clone, PartialEq)]
pub struct RunTotals {
    pub days: Vec<DayTotal>,
    pub models: Vec<ModelTotal>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayTotal {
    pub day: NaiveDate,
    pub runs: u64,
    /// Runs that did not end `ok`.
    pub failed: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelTotal {
    pub provider: Provider,
    pub model: String,
    pub runs: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// Rows of the two analytics queries: (day, runs, failed, input, output) and
/// (provider, model, runs, input, output).
type DayRow = (String, i64, Option<i64>, Option<i64>, Option<i64>);
type ModelRow = (String, String, i64, Option<i64>, Option<i64>);

fn scope_of(owner: Option<UserId>) -> String {
    owner.map(|o| o.as_uuid().to_string()).unwrap_or_default()
}

fn connection(m: ai_connections::Model) -> Result<Connection, StoreError> {
    Ok(Connection {
        id: ConnectionId::from_uuid(m.id),
        tenant_id: TenantId::from_uuid(m.tenant_id),
        owner: m.owner_id.map(UserId::from_uuid),
        settings: ConnectionSettings {
            name: m.name,
            provider: Provider::parse(&m.provider).ok_or_else(|| corrupt("ai_connections.provider", &m.provider))?,
            base_url: m.base_url,
            model: m.model,
            #[allow(clippy::cast_possible_truncation)] // stored from an f32
            options: GenerationOptions {
                temperature: m.temperature.map(|t| t as f32),
                max_tokens: m.max_tokens.map(|t| u32::try_from(t).unwrap_or(0)),
                // Connections keep temperature and max tokens; top-p comes from prompts.
                top_p: None,
            },
            timeout_seconds: u32::try_from(m.timeout_seconds)
                .map_err(|e| corrupt("ai_connections.timeout_seconds", e))?,
        },
        api_key_sealed: m.api_key_sealed.map(Secret::new),
        api_key_hint: m.api_key_hint,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn int(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn count(value: Option<i32>) -> u32 {
    value.and_then(|v| u32::try_from(v).ok()).unwrap_or(0)
}

fn run(m: prompt_runs::Model, now: DateTime<Utc>) -> Result<Run, StoreError> {
    let usage = match (m.input_tokens, m.output_tokens) {
        (None, None) => None,
        (input, output) => Some(Usage { input_tokens: count(input), output_tokens: count(output) }),
    };
    // Expired output is never shown, whether or not the sweep has cleared it yet.
    let output = match m.output_expires_at {
        Some(expiry) if expiry > now => m.output,
        _ => None,
    };
    Ok(Run {
        id: RunId::from_uuid(m.id),
        created_at: m.created_at,
        run: NewRun {
            user_id: UserId::from_uuid(m.user_id.unwrap_or_default()),
            prompt_id: m.prompt_id.map(PromptId::from_uuid),
            prompt_version: m.prompt_version.and_then(|v| u32::try_from(v).ok()),
            kind: RunKind::parse(&m.kind).ok_or_else(|| corrupt("prompt_runs.kind", &m.kind))?,
            compare_group: m.compare_group,
            enhancement_prompt: m.enhancement_prompt,
            connection_id: m.connection_id.map(ConnectionId::from_uuid),
            connection_name: m.connection_name,
            provider: Provider::parse(&m.provider)
                .ok_or_else(|| corrupt("prompt_runs.provider", &m.provider))?,
            model: m.model,
            outcome: RunOutcome::parse(&m.outcome)
                .ok_or_else(|| corrupt("prompt_runs.outcome", &m.outcome))?,
            error_code: m.error_code,
            finish_reason: m.finish_reason,
            usage,
            latency_ms: u64::try_from(m.latency_ms).unwrap_or(0),
            estimated_cost: m.estimated_cost,
            output,
            output_expires_at: m.output_expires_at,
        },
    })
}

impl<C: ConnectionTrait> TenantRepo<C> {
    fn tenant_uuid(&self) -> uuid::Uuid {
        self.scope.tenant_id().as_uuid()
    }

    /// Connections `viewer` may use: the tenant's and their own. Tenant connections first.
    pub async fn list_connections(&self, viewer: UserId) -> Result<Vec<Connection>, StoreError> {
        self.scope
            .select::<ai_connections::Entity>()
            .filter(
                Condition::any()
                    .add(ai_connections::Column::OwnerId.is_null())
                    .add(ai_connections::Column::OwnerId.eq(viewer.as_uuid())),
            )
            .order_by_asc(ai_connections::Column::NameScope)
            .order_by_asc(ai_connections::Column::NameKey)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(connection)
            .collect()
    }

    /// A connection `viewer` may use; another user's personal one is `None`, like a missing one.
    pub async fn connection(
        &self,
        id: ConnectionId,
        viewer: UserId,
    ) -> Result<Option<Connection>, StoreError> {
        let row = self
            .scope
            .select::<ai_connections::Entity>()
            .filter(ai_connections::Column::Id.eq(id.as_uuid()))
            .one(&self.conn)
            .await?;
        row.filter(|r| r.owner_id.is_none_or(|owner| owner == viewer.as_uuid())).map(connection).transpose()
    }

    /// How many connections `owner` has (`None`: the tenant's).
    pub async fn count_connections(&self, owner: Option<UserId>) -> Result<u64, StoreError> {
        Ok(self
            .scope
            .select::<ai_connections::Entity>()
            .filter(ai_connections::Column::NameScope.eq(scope_of(owner)))
            .count(&self.conn)
            .await?)
    }

    /// Stores a new connection. A name already used in the same scope is a `Conflict`.
    pub async fn create_connection(
        &self,
        owner: Option<UserId>,
        settings: ConnectionSettings,
        key: KeyChange,
        now: DateTime<Utc>,
    ) -> Result<Connection, StoreError> {
        let (sealed, hint) = match key {
            KeyChange::Set { sealed, hint } => (Some(sealed.expose().clone()), Some(hint)),
            KeyChange::Keep | KeyChange::Clear => (None, None),
        };
        let row = ai_connections::ActiveModel {
            id: Set(convert::new_id(now)),
            tenant_id: Set(self.tenant_uuid()),
            owner_id: Set(owner.map(|o| o.as_uuid())),
            name_scope: Set(scope_of(owner)),
            name_key: Set(settings.name.to_lowercase()),
            name: Set(settings.name),
            provider: Set(settings.provider.as_str().to_owned()),
            base_url: Set(settings.base_url),
            model: Set(settings.model),
            api_key_sealed: Set(sealed),
            api_key_hint: Set(hint),
            temperature: Set(settings.options.temperature.map(f64::from)),
            max_tokens: Set(settings.options.max_tokens.map(int)),
            timeout_seconds: Set(int(settings.timeout_seconds)),
            created_at: Set(now),
            updated_at: Set(now),
        };
        connection(row.insert(&self.conn).await?)
    }

    /// Replaces a connection's settings (and key, as `key` says). `None` when it is gone.
    pub async fn update_connection(
        &self,
        id: ConnectionId,
        settings: ConnectionSettings,
        key: KeyChange,
        now: DateTime<Utc>,
    ) -> Result<Option<Connection>, StoreError> {
        let mut row = ai_connections::ActiveModel {
            id: Set(id.as_uuid()),
            name_key: Set(settings.name.to_lowercase()),
            name: Set(settings.name),
            provider: Set(settings.provider.as_str().to_owned()),
            base_url: Set(settings.base_url),
            model: Set(settings.model),
            temperature: Set(settings.options.temperature.map(f64::from)),
            max_tokens: Set(settings.options.max_tokens.map(int)),
            timeout_seconds: Set(int(settings.timeout_seconds)),
            updated_at: Set(now),
            ..Default::default()
        };
        match key {
            KeyChange::Keep => {}
            KeyChange::Clear => {
                row.api_key_sealed = Set(None);
                row.api_key_hint = Set(None);
            }
            KeyChange::Set { sealed, hint } => {
                row.api_key_sealed = Set(Some(sealed.expose().clone()));
                row.api_key_hint = Set(Some(hint));
            }
        }
        row.tenant_id = NotSet;
        let updated = self
            .scope
            .update::<ai_connections::Entity>()
            .set(row)
            .filter(ai_connections::Column::Id.eq(id.as_uuid()))
            .exec(&self.conn)
            .await?;
        if updated.rows_affected == 0 {
            return Ok(None);
        }
        let row = self
            .scope
            .select::<ai_connections::Entity>()
            .filter(ai_connections::Column::Id.eq(id.as_uuid()))
            .one(&self.conn)
            .await?;
        row.map(connection).transpose()
    }

    /// Deletes a connection; the tenant's defaults and users' choices that named it fall back.
    pub async fn delete_connection(&self, id: ConnectionId) -> Result<bool, StoreError> {
        let deleted = self
            .scope
            .delete::<ai_connections::Entity>()
            .filter(ai_connections::Column::Id.eq(id.as_uuid()))
            .exec(&self.conn)
            .await?;
        Ok(deleted.rows_affected > 0)
    }

    /// The tenant's AI policy (the defaults when its admins never set one).
    pub async fn ai_policy(&self) -> Result<AiPolicy, StoreError> {
        let Some(row) = self.scope.select::<ai_policies::Entity>().one(&self.conn).await? else {
            return Ok(AiPolicy {
                allow_user_connections: true,
                default_execution_connection: None,
                default_enhancement_connection: None,
                run_retention_days: DEFAULT_RUN_RETENTION_DAYS,
                prices: Vec::new(),
            });
        };
        let prices: Vec<ModelPrice> =
            serde_json::from_str(&row.prices).map_err(|e| corrupt("ai_policies.prices", e))?;
        Ok(AiPolicy {
            allow_user_connections: row.allow_user_connections,
            default_execution_connection: row.execution_connection_id.map(ConnectionId::from_uuid),
            default_enhancement_connection: row.enhancement_connection_id.map(ConnectionId::from_uuid),
            run_retention_days: u32::try_from(row.run_retention_days).unwrap_or(0),
            prices,
        })
    }

    pub async fn set_ai_policy(&self, policy: &AiPolicy, now: DateTime<Utc>) -> Result<(), StoreError> {
        let prices = serde_json::to_string(&policy.prices).map_err(|e| corrupt("ai_policies.prices", e))?;
        let row = ai_policies::ActiveModel {
            tenant_id: Set(self.tenant_uuid()),
            allow_user_connections: Set(policy.allow_user_connections),
            execution_connection_id: Set(policy.default_execution_connection.map(|c| c.as_uuid())),
            enhancement_connection_id: Set(policy.default_enhancement_connection.map(|c| c.as_uuid())),
            run_retention_days: Set(int(policy.run_retention_days)),
            prices: Set(prices),
            updated_at: Set(now),
        };
        ai_policies::Entity::insert(row)
            .on_conflict(
                sea_orm::sea_query::OnConflict::column(ai_policies::Column::TenantId)
                    .update_columns([
                        ai_policies::Column::AllowUserConnections,
                        ai_policies::Column::ExecutionConnectionId,
                        ai_policies::Column::EnhancementConnectionId,
                        ai_policies::Column::RunRetentionDays,
                        ai_policies::Column::Prices,
                        ai_policies::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// One of `user`'s own settings (the seed's `config` table).
    pub async fn user_setting(&self, user: UserId, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .scope
            .select::<config::Entity>()
            .filter(config::Column::UserId.eq(user.as_uuid()))
            .filter(config::Column::Key.eq(key))
            .one(&self.conn)
            .await?
            .map(|row| row.value))
    }

    /// Sets (or, with `None`, removes) one of `user`'s own settings.
    pub async fn set_user_setting(
        &self,
        user: UserId,
        key: &str,
        value: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let existing = self
            .scope
            .select::<config::Entity>()
            .filter(config::Column::UserId.eq(user.as_uuid()))
            .filter(config::Column::Key.eq(key))
            .one(&self.conn)
            .await?;
        match (existing, value) {
            (Some(row), None) => {
                self.scope
                    .delete::<config::Entity>()
                    .filter(config::Column::Id.eq(row.id))
                    .exec(&self.conn)
                    .await?;
            }
            (Some(row), Some(value)) => {
                let mut row: config::ActiveModel = row.into();
                row.value = Set(value.to_owned());
                row.updated_at = Set(now);
                row.update(&self.conn).await?;
            }
            (None, Some(value)) => {
                config::ActiveModel {
                    id: Set(convert::new_id(now)),
                    tenant_id: Set(self.tenant_uuid()),
                    user_id: Set(Some(user.as_uuid())),
                    key: Set(key.to_owned()),
                    value: Set(value.to_owned()),
                    created_at: Set(now),
                    updated_at: Set(now),
                }
                .insert(&self.conn)
                .await?;
            }
            (None, None) => {}
        }
        Ok(())
    }

    /// Records a run.
    pub async fn record_run(&self, new: NewRun, now: DateTime<Utc>) -> Result<Run, StoreError> {
        let row = prompt_runs::ActiveModel {
            id: Set(convert::new_id(now)),
            tenant_id: Set(self.tenant_uuid()),
            user_id: Set(Some(new.user_id.as_uuid())),
            prompt_id: Set(new.prompt_id.map(|p| p.as_uuid())),
            prompt_version: Set(new.prompt_version.map(int)),
            kind: Set(new.kind.as_str().to_owned()),
            compare_group: Set(new.compare_group),
            enhancement_prompt: Set(new.enhancement_prompt.clone()),
            connection_id: Set(new.connection_id.map(|c| c.as_uuid())),
            connection_name: Set(new.connection_name.clone()),
            provider: Set(new.provider.as_str().to_owned()),
            model: Set(new.model.chars().take(200).collect()),
            outcome: Set(new.outcome.as_str().to_owned()),
            error_code: Set(new.error_code.clone()),
            finish_reason: Set(new.finish_reason.as_ref().map(|f| f.chars().take(64).collect())),
            input_tokens: Set(new.usage.map(|u| int(u.input_tokens))),
            output_tokens: Set(new.usage.map(|u| int(u.output_tokens))),
            latency_ms: Set(i64::try_from(new.latency_ms).unwrap_or(i64::MAX)),
            estimated_cost: Set(new.estimated_cost),
            output: Set(new.output.clone()),
            output_expires_at: Set(new.output_expires_at),
            created_at: Set(now),
        };
        run(row.insert(&self.conn).await?, now)
    }

    fn runs_for(&self, viewer: RunViewer) -> sea_orm::Select<prompt_runs::Entity> {
        let query = self.scope.select::<prompt_runs::Entity>();
        match viewer {
            RunViewer::Admin => query,
            RunViewer::User(user) => query.filter(prompt_runs::Column::UserId.eq(user.as_uuid())),
        }
    }

    /// A prompt's runs that `viewer` may see, newest first, before the run `before`.
    pub async fn prompt_runs(
        &self,
        prompt: PromptId,
        viewer: RunViewer,
        before: Option<RunId>,
        limit: u64,
        now: DateTime<Utc>,
    ) -> Result<Page<Run, RunId>, StoreError> {
        let mut query = self.runs_for(viewer).filter(prompt_runs::Column::PromptId.eq(prompt.as_uuid()));
        if let Some(before) = before {
            query = query.filter(prompt_runs::Column::Id.lt(before.as_uuid()));
        }
        let rows = query.order_by_desc(prompt_runs::Column::Id).limit(limit + 1).all(&self.conn).await?;
        Page::from_rows(rows, limit, |r| RunId::from_uuid(r.id)).try_map(|r| run(r, now))
    }

    pub async fn run(
        &self,
        id: RunId,
        viewer: RunViewer,
        now: DateTime<Utc>,
    ) -> Result<Option<Run>, StoreError> {
        self.runs_for(viewer)
            .filter(prompt_runs::Column::Id.eq(id.as_uuid()))
            .one(&self.conn)
            .await?
            .map(|r| run(r, now))
            .transpose()
    }

    /// Runs and tokens per day and per model, `from` inclusive to `to` exclusive, counted by
    /// the database.
    pub async fn run_totals(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<RunTotals, StoreError> {
        let in_range = || {
            self.scope
                .select::<prompt_runs::Entity>()
                .select_only()
                .filter(prompt_runs::Column::CreatedAt.gte(from))
                .filter(prompt_runs::Column::CreatedAt.lt(to))
        };
        let sum = |column: prompt_runs::Column| Expr::col(column).sum().cast_as("BIGINT");
        let failed = Expr::case(prompt_runs::Column::Outcome.ne(RunOutcome::Ok.as_str()), 1).finally(0).sum();
        let day = utc_day(self.conn.get_database_backend(), "prompt_runs.created_at");
        let days: Vec<DayRow> = in_range()
            .column_as(day.clone(), "day")
            .column_as(prompt_runs::Column::Id.count(), "runs")
            .column_as(failed.cast_as("BIGINT"), "failed")
            .column_as(sum(prompt_runs::Column::InputTokens), "input_tokens")
            .column_as(sum(prompt_runs::Column::OutputTokens), "output_tokens")
            .group_by(day.clone())
            .order_by_asc(day)
            .into_tuple()
            .all(&self.conn)
            .await?;
        let models: Vec<ModelRow> = in_range()
            .column(prompt_runs::Column::Provider)
            .column(prompt_runs::Column::Model)
            .column_as(prompt_runs::Column::Id.count(), "runs")
            .column_as(sum(prompt_runs::Column::InputTokens), "input_tokens")
            .column_as(sum(prompt_runs::Column::OutputTokens), "output_tokens")
            .group_by(prompt_runs::Column::Provider)
            .group_by(prompt_runs::Column::Model)
            .order_by_asc(prompt_runs::Column::Provider)
            .order_by_asc(prompt_runs::Column::Model)
            .limit(MAX_MODEL_ROWS)
            .into_tuple()
            .all(&self.conn)
            .await?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        let days = days
            .into_iter()
            .map(|(day, runs, failed, i, o)| {
                let day = NaiveDate::parse_from_str(&day, "%Y-%m-%d")
                    .map_err(|e| corrupt("prompt_runs.created_at", e))?;
                Ok(DayTotal {
                    day,
                    runs: n(runs),
                    failed: n(failed.unwrap_or(0)),
                    input_tokens: n(i.unwrap_or(0)),
                    output_tokens: n(o.unwrap_or(0)),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let models = models
            .into_iter()
            .filter_map(|(provider, model, runs, i, o)| {
                Provider::parse(&provider).map(|provider| ModelTotal {
                    provider,
                    model,
                    runs: n(runs),
                    input_tokens: n(i.unwrap_or(0)),
                    output_tokens: n(o.unwrap_or(0)),
                })
            })
            .collect();
        Ok(RunTotals { days, models })
    }
}

/// The most models listed in run analytics.
const MAX_MODEL_ROWS: u64 = 500;

/// Clears the output of every run whose retention has passed, in all tenants (the periodic
/// sweep; reads already hide expired output). Returns how many were cleared.
pub(crate) async fn expire_run_outputs(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let cleared = prompt_runs::Entity::update_many()
        .col_expr(prompt_runs::Column::Output, Expr::value(Option::<String>::None))
        .col_expr(prompt_runs::Column::OutputExpiresAt, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(prompt_runs::Column::OutputExpiresAt.lte(now))
        .filter(Expr::col(prompt_runs::Column::Output).is_not_null())
        .exec(conn)
        .await?;
    Ok(cleared.rows_affected)
}
