//! One tenant's release labels: where each label of a prompt points, and the history of its
//! moves. A move is one conditional write of the label plus one history row, so in a
//! transaction two concurrent moves of a label can never both record the same `from`.

use chrono::NaiveDate;
use chrono::{DateTime, Utc};
use domain::release::{Label, LabelMove, LabelName, NewLabelMove, Split, SplitArm};
use domain::{LabelMoveId, PromptId, UserId};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};

use super::TenantRepo;
use crate::entities::{label_fetch_counts, prompt_label_moves, prompt_labels};
use crate::error::corrupt;
use crate::query::Page;
use crate::{StoreError, convert};

/// Moves kept per prompt: older ones are dropped as new ones come (the audit log keeps every
/// move), so a caller moving labels in a loop cannot grow the table without end.
pub const MAX_LABEL_MOVES_KEPT: u64 = 1_000;

/// Fetch counts added per statement: 6 values each stays far below SQLite's and PostgreSQL's
/// limits on bound parameters.
pub const LABEL_FETCHES_PER_STATEMENT: usize = 1_000;

/// `(prompt, label, version served, UTC day, fetches)`.
pub type LabelFetchCount = (PromptId, LabelName, u32, NaiveDate, u64);

pub(super) fn version_of(raw: i32, column: &'static str) -> Result<u32, StoreError> {
    u32::try_from(raw).map_err(|_| corrupt(column, raw.to_string()))
}

/// A split as stored: its arms as JSON.
pub(super) fn split_json(split: &Split) -> String {
    serde_json::to_string(split.arms()).unwrap_or_default()
}

pub(super) fn stored_split(raw: Option<String>, column: &'static str) -> Result<Option<Split>, StoreError> {
    let Some(raw) = raw else { return Ok(None) };
    let arms: Vec<SplitArm> = serde_json::from_str(&raw).map_err(|e| corrupt(column, e))?;
    // The versions were checked against the prompt when the split was set.
    Split::new(arms, u32::MAX).map(Some).map_err(|e| corrupt(column, e))
}

fn label(m: prompt_labels::Model) -> Result<Label, StoreError> {
    Ok(Label {
        prompt_id: PromptId::from_uuid(m.prompt_id),
        name: LabelName::parse(&m.name).map_err(|_| corrupt("prompt_labels.name", &m.name))?,
        version: version_of(m.version, "prompt_labels.version")?,
        split: stored_split(m.split, "prompt_labels.split")?,
        moved_by: m.moved_by.map(UserId::from_uuid),
        moved_at: m.moved_at,
    })
}

fn label_move(m: prompt_label_moves::Model) -> Result<LabelMove, StoreError> {
    let version = |v: Option<i32>| v.map(|v| version_of(v, "prompt_label_moves.version")).transpose();
    Ok(LabelMove {
        id: LabelMoveId::from_uuid(m.id),
        prompt_id: PromptId::from_uuid(m.prompt_id),
        label: LabelName::parse(&m.label).map_err(|_| corrupt("prompt_label_moves.label", &m.label))?,
        from: version(m.from_version)?,
        to: version(m.to_version)?,
        split: stored_split(m.split, "prompt_label_moves.split")?,
        reason: m.reason,
        rollback_of: m.rollback_of.map(LabelMoveId::from_uuid),
        moved_by: m.moved_by.map(UserId::from_uuid),
        approved_by: m.approved_by.map(UserId::from_uuid),
        moved_at: m.moved_at,
    })
}

pub(super) fn stored_version(version: u32) -> i32 {
    i32::try_from(version).unwrap_or(i32::MAX)
}

impl<C: ConnectionTrait> TenantRepo<C> {
    /// A prompt's labels, A to Z.
    pub async fn labels(&self, prompt: PromptId) -> Result<Vec<Label>, StoreError> {
        self.scope
            .select::<prompt_labels::Entity>()
            .filter(prompt_labels::Column::PromptId.eq(prompt.as_uuid()))
            .order_by_asc(prompt_labels::Column::Name)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(label)
            .collect()
    }

    pub async fn label(&self, prompt: PromptId, name: &LabelName) -> Result<Option<Label>, StoreError> {
        self.scope
            .select::<prompt_labels::Entity>()
            .filter(prompt_labels::Column::PromptId.eq(prompt.as_uuid()))
            .filter(prompt_labels::Column::Name.eq(name.as_str()))
            .one(&self.conn)
            .await?
            .map(label)
            .transpose()
    }

    /// Moves, creates or removes a label that now points at `from` (`None`: does not exist),
    /// and records the move. `Ok(None)` when the label is no longer at `from` (someone moved
    /// it since it was read); nothing is written then.
    pub async fn move_label(
        &self,
        prompt: PromptId,
        from: Option<u32>,
        change: NewLabelMove,
        now: DateTime<Utc>,
    ) -> Result<Option<LabelMove>, StoreError> {
        let name = change.label.as_str();
        let moved_by = Some(change.moved_by.as_uuid());
        let split = change.split.as_ref().map(split_json);
        let written = match (from, change.to) {
            (None, Some(to)) => {
                let row = prompt_labels::ActiveModel {
                    tenant_id: Set(self.scope.tenant_id().as_uuid()),
                    prompt_id: Set(prompt.as_uuid()),
                    name: Set(name.to_owned()),
                    version: Set(stored_version(to)),
                    split: Set(split.clone()),
                    moved_by: Set(moved_by),
                    moved_at: Set(now),
                };
                match prompt_labels::Entity::insert(row).exec_without_returning(&self.conn).await {
                    Ok(_) => 1,
                    // Created meanwhile by someone else.
                    Err(e) => match StoreError::from(e) {
                        StoreError::Conflict => 0,
                        other => return Err(other),
                    },
                }
            }
            (Some(from), Some(to)) => {
                self.scope
                    .update::<prompt_labels::Entity>()
                    .col_expr(prompt_labels::Column::Version, stored_version(to).into())
                    .col_expr(prompt_labels::Column::Split, split.clone().into())
                    .col_expr(prompt_labels::Column::MovedBy, moved_by.into())
                    .col_expr(prompt_labels::Column::MovedAt, now.into())
                    .filter(prompt_labels::Column::PromptId.eq(prompt.as_uuid()))
                    .filter(prompt_labels::Column::Name.eq(name))
                    .filter(prompt_labels::Column::Version.eq(stored_version(from)))
                    .exec(&self.conn)
                    .await?
                    .rows_affected
            }
            (Some(from), None) => {
                self.scope
                    .delete::<prompt_labels::Entity>()
                    .filter(prompt_labels::Column::PromptId.eq(prompt.as_uuid()))
                    .filter(prompt_labels::Column::Name.eq(name))
                    .filter(prompt_labels::Column::Version.eq(stored_version(from)))
                    .exec(&self.conn)
                    .await?
                    .rows_affected
            }
            (None, None) => return Ok(None),
        };
        if written == 0 {
            return Ok(None);
        }
        let row = prompt_label_moves::ActiveModel {
            id: Set(convert::new_id(now)),
            tenant_id: Set(self.scope.tenant_id().as_uuid()),
            prompt_id: Set(prompt.as_uuid()),
            label: Set(name.to_owned()),
            from_version: Set(from.map(stored_version)),
            to_version: Set(change.to.map(stored_version)),
            split: Set(split),
            reason: Set(change.reason),
            rollback_of: Set(change.rollback_of.map(|id| id.as_uuid())),
            moved_by: Set(moved_by),
            approved_by: Set(change.approved_by.map(|id| id.as_uuid())),
            moved_at: Set(now),
        };
        let stored = prompt_label_moves::Entity::insert(row).exec_with_returning(&self.conn).await?;
        self.prune_label_moves(prompt).await?;
        label_move(stored).map(Some)
    }

    /// Drops a prompt's oldest moves beyond [`MAX_LABEL_MOVES_KEPT`].
    async fn prune_label_moves(&self, prompt: PromptId) -> Result<(), StoreError> {
        let of_prompt = || {
            self.scope
                .select::<prompt_label_moves::Entity>()
                .filter(prompt_label_moves::Column::PromptId.eq(prompt.as_uuid()))
        };
        if of_prompt().count(&self.conn).await? <= MAX_LABEL_MOVES_KEPT {
            return Ok(());
        }
        let oldest_kept: Option<uuid::Uuid> = of_prompt()
            .select_only()
            .column(prompt_label_moves::Column::Id)
            .order_by_desc(prompt_label_moves::Column::Id)
            .offset(MAX_LABEL_MOVES_KEPT - 1)
            .into_tuple()
            .one(&self.conn)
            .await?;
        if let Some(oldest_kept) = oldest_kept {
            self.scope
                .delete::<prompt_label_moves::Entity>()
                .filter(prompt_label_moves::Column::PromptId.eq(prompt.as_uuid()))
                .filter(prompt_label_moves::Column::Id.lt(oldest_kept))
                .exec(&self.conn)
                .await?;
        }
        Ok(())
    }

    /// A prompt's label moves (of one label, or all), newest first, older than `before`.
    pub async fn label_moves(
        &self,
        prompt: PromptId,
        label: Option<&LabelName>,
        before: Option<LabelMoveId>,
        limit: u64,
    ) -> Result<Page<LabelMove>, StoreError> {
        let mut query = self
            .scope
            .select::<prompt_label_moves::Entity>()
            .filter(prompt_label_moves::Column::PromptId.eq(prompt.as_uuid()));
        if let Some(label) = label {
            query = query.filter(prompt_label_moves::Column::Label.eq(label.as_str()));
        }
        if let Some(before) = before {
            query = query.filter(prompt_label_moves::Column::Id.lt(before.as_uuid()));
        }
        let rows =
            query.order_by_desc(prompt_label_moves::Column::Id).limit(limit + 1).all(&self.conn).await?;
        Page::from_rows(rows, limit, |m| m.id).try_map(label_move)
    }

    /// Adds fetch counts: each `(prompt, label, version, day, fetches)` adds `fetches` fetches
    /// of `prompt` by `label` that served `version` on `day` (UTC). One statement per
    /// [`LABEL_FETCHES_PER_STATEMENT`] counts; a count of a prompt deleted meanwhile is dropped.
    pub async fn add_label_fetches(&self, counts: &[LabelFetchCount]) -> Result<(), StoreError> {
        for chunk in counts.chunks(LABEL_FETCHES_PER_STATEMENT) {
            match self.insert_label_fetches(chunk).await {
                Err(e) if matches!(e.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_))) => {
                    // Some prompt is gone: add the chunk's counts one by one, skipping its.
                    for count in chunk {
                        match self.insert_label_fetches(std::slice::from_ref(count)).await {
                            Err(e)
                                if matches!(e.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_))) => {}
                            other => other?,
                        }
                    }
                }
                other => other?,
            }
        }
        Ok(())
    }

    async fn insert_label_fetches(&self, counts: &[LabelFetchCount]) -> Result<(), sea_orm::DbErr> {
        let rows =
            counts.iter().map(|(prompt, label, version, day, fetches)| label_fetch_counts::ActiveModel {
                tenant_id: Set(self.scope.tenant_id().as_uuid()),
                prompt_id: Set(prompt.as_uuid()),
                label: Set(label.as_str().to_owned()),
                version: Set(stored_version(*version)),
                day: Set(day.format("%Y-%m-%d").to_string()),
                fetches: Set(i64::try_from(*fetches).unwrap_or(i64::MAX)),
            });
        label_fetch_counts::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    label_fetch_counts::Column::PromptId,
                    label_fetch_counts::Column::Label,
                    label_fetch_counts::Column::Version,
                    label_fetch_counts::Column::Day,
                ])
                .value(
                    label_fetch_counts::Column::Fetches,
                    Expr::col((label_fetch_counts::Entity, label_fetch_counts::Column::Fetches))
                        .add(Expr::cust("excluded.fetches")),
                )
                .to_owned(),
            )
            .exec_without_returning(&self.conn)
            .await
            .map(|_| ())
    }

    /// A prompt's fetches by label since `from` (a UTC day): `(label, version, day, fetches)`,
    /// by label, version and day.
    pub async fn label_fetches(
        &self,
        prompt: PromptId,
        from: NaiveDate,
    ) -> Result<Vec<(LabelName, u32, NaiveDate, u64)>, StoreError> {
        let rows = self
            .scope
            .select::<label_fetch_counts::Entity>()
            .filter(label_fetch_counts::Column::PromptId.eq(prompt.as_uuid()))
            .filter(label_fetch_counts::Column::Day.gte(from.format("%Y-%m-%d").to_string()))
            .order_by_asc(label_fetch_counts::Column::Label)
            .order_by_asc(label_fetch_counts::Column::Version)
            .order_by_asc(label_fetch_counts::Column::Day)
            .all(&self.conn)
            .await?;
        rows.into_iter()
            .map(|m| {
                let label =
                    LabelName::parse(&m.label).map_err(|_| corrupt("label_fetch_counts.label", &m.label))?;
                let day = NaiveDate::parse_from_str(&m.day, "%Y-%m-%d")
                    .map_err(|_| corrupt("label_fetch_counts.day", &m.day))?;
                let version = version_of(m.version, "label_fetch_counts.version")?;
                Ok((label, version, day, u64::try_from(m.fetches).unwrap_or(0)))
            })
            .collect()
    }
}
