//! One tenant's release policy and its requests to move protected labels. A request is
//! decided by one conditional write (pending and unexpired → decided), so two approvers can
//! never both decide it; at most one request per label waits at a time (a unique index).

use chrono::{DateTime, Utc};
use domain::release::{Approval, ApprovalStatus, LabelName, NewApproval, ReleasePolicy};
use std::collections::HashMap;

use domain::prompt::Viewer;
use domain::wire::PromptRef;
use domain::{ApprovalId, LabelMoveId, PromptId, UserId};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
};

use super::TenantRepo;
use super::releases::{split_json, stored_split, stored_version, version_of};
use crate::entities::{label_approvals, prompts, release_policies};
use crate::error::corrupt;
use crate::query::Page;
use crate::{StoreError, convert};

/// Decided requests kept per prompt: older ones go as new ones come (the audit log keeps
/// every decision), so asking and cancelling in a loop cannot grow the table without end.
pub const MAX_DECIDED_APPROVALS_KEPT: u64 = 1_000;

/// Which requests to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApprovalFilter {
    /// Only those in this status (at the time of the query: expiry is applied).
    pub status: Option<ApprovalStatus>,
    pub prompt: Option<PromptId>,
}

fn approval(m: label_approvals::Model) -> Result<Approval, StoreError> {
    let version = |v: Option<i32>| v.map(|v| version_of(v, "label_approvals.version")).transpose();
    Ok(Approval {
        id: ApprovalId::from_uuid(m.id),
        prompt_id: PromptId::from_uuid(m.prompt_id),
        label: LabelName::parse(&m.label).map_err(|_| corrupt("label_approvals.label", &m.label))?,
        from: version(m.from_version)?,
        to: version(m.to_version)?,
        split: stored_split(m.split, "label_approvals.split")?,
        rollback_of: m.rollback_of.map(LabelMoveId::from_uuid),
        reason: m.reason,
        requested_by: m.requested_by.map(UserId::from_uuid),
        requested_at: m.requested_at,
        expires_at: m.expires_at,
        stored_status: ApprovalStatus::parse(&m.status)
            .ok_or_else(|| corrupt("label_approvals.status", &m.status))?,
        decided_by: m.decided_by.map(UserId::from_uuid),
        decided_at: m.decided_at,
        comment: m.comment,
    })
}

fn pending() -> Condition {
    Condition::all().add(label_approvals::Column::Status.eq(ApprovalStatus::Pending.as_str()))
}

impl<C: ConnectionTrait> TenantRepo<C> {
    /// The tenant's release policy (the default when its admins never set one).
    pub async fn release_policy(&self) -> Result<ReleasePolicy, StoreError> {
        let Some(row) = self.scope.select::<release_policies::Entity>().one(&self.conn).await? else {
            return Ok(ReleasePolicy::default());
        };
        let corrupt_names = |e: String| corrupt("release_policies.protected_labels", e);
        let names: Vec<String> =
            serde_json::from_str(&row.protected_labels).map_err(|e| corrupt_names(e.to_string()))?;
        let names = names.iter().map(|n| LabelName::parse(n)).collect::<Result<Vec<_>, _>>();
        let hours = u32::try_from(row.approval_hours).unwrap_or(0);
        ReleasePolicy::new(names.map_err(corrupt_names)?, row.require_approval, hours)
            .map_err(|(_, e)| corrupt_names(e))
    }

    pub async fn set_release_policy(
        &self,
        policy: &ReleasePolicy,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let names: Vec<&str> = policy.protected().iter().map(LabelName::as_str).collect();
        let row = release_policies::ActiveModel {
            tenant_id: Set(self.scope.tenant_id().as_uuid()),
            protected_labels: Set(serde_json::Value::from(names).to_string()),
            require_approval: Set(policy.require_approval),
            approval_hours: Set(i32::try_from(policy.approval_hours).unwrap_or(i32::MAX)),
            updated_at: Set(now),
        };
        release_policies::Entity::insert(row)
            .on_conflict(
                OnConflict::column(release_policies::Column::TenantId)
                    .update_columns([
                        release_policies::Column::ProtectedLabels,
                        release_policies::Column::RequireApproval,
                        release_policies::Column::ApprovalHours,
                        release_policies::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// Records a request. A request of the same label left pending past its expiry is marked
    /// expired first; one that still waits makes this [`StoreError::Conflict`].
    pub async fn open_approval(&self, new: NewApproval, now: DateTime<Utc>) -> Result<Approval, StoreError> {
        // A write first: on SQLite a transaction that read first cannot take the write lock.
        self.scope
            .update::<label_approvals::Entity>()
            .col_expr(label_approvals::Column::Status, Expr::value(ApprovalStatus::Expired.as_str()))
            .col_expr(label_approvals::Column::OpenLabel, Expr::value(Option::<String>::None))
            .filter(label_approvals::Column::PromptId.eq(new.prompt_id.as_uuid()))
            .filter(label_approvals::Column::OpenLabel.eq(new.label.as_str()))
            .filter(label_approvals::Column::ExpiresAt.lte(now))
            .exec(&self.conn)
            .await?;
        let row = label_approvals::ActiveModel {
            id: Set(convert::new_id(now)),
            tenant_id: Set(self.scope.tenant_id().as_uuid()),
            prompt_id: Set(new.prompt_id.as_uuid()),
            label: Set(new.label.as_str().to_owned()),
            from_version: Set(new.from.map(stored_version)),
            to_version: Set(new.to.map(stored_version)),
            split: Set(new.split.as_ref().map(split_json)),
            rollback_of: Set(new.rollback_of.map(|id| id.as_uuid())),
            reason: Set(new.reason),
            requested_by: Set(Some(new.requested_by.as_uuid())),
            requested_at: Set(now),
            expires_at: Set(new.expires_at),
            status: Set(ApprovalStatus::Pending.as_str().to_owned()),
            open_label: Set(Some(new.label.as_str().to_owned())),
            decided_by: Set(None),
            decided_at: Set(None),
            comment: Set(None),
        };
        let stored = label_approvals::Entity::insert(row).exec_with_returning(&self.conn).await?;
        self.prune_decided_approvals(new.prompt_id).await?;
        approval(stored)
    }

    pub async fn approval(&self, id: ApprovalId) -> Result<Option<Approval>, StoreError> {
        self.scope
            .select::<label_approvals::Entity>()
            .filter(label_approvals::Column::Id.eq(id.as_uuid()))
            .one(&self.conn)
            .await?
            .map(approval)
            .transpose()
    }

    /// Requests on prompts the viewer may see, newest first, older than `before`, each with
    /// its prompt's id, name and title.
    pub async fn approvals(
        &self,
        viewer: &Viewer,
        filter: ApprovalFilter,
        before: Option<ApprovalId>,
        limit: u64,
        now: DateTime<Utc>,
    ) -> Result<Page<(Approval, PromptRef)>, StoreError> {
        let visible = self.visible_prompts(viewer).select_only().column(prompts::Column::Id).into_query();
        let mut query = self
            .scope
            .select::<label_approvals::Entity>()
            .filter(label_approvals::Column::PromptId.in_subquery(visible));
        if let Some(prompt) = filter.prompt {
            query = query.filter(label_approvals::Column::PromptId.eq(prompt.as_uuid()));
        }
        let status = label_approvals::Column::Status;
        query = match filter.status {
            None => query,
            Some(ApprovalStatus::Pending) => {
                query.filter(pending().add(label_approvals::Column::ExpiresAt.gt(now)))
            }
            Some(ApprovalStatus::Expired) => query.filter(
                Condition::any()
                    .add(status.eq(ApprovalStatus::Expired.as_str()))
                    .add(pending().add(label_approvals::Column::ExpiresAt.lte(now))),
            ),
            Some(other) => query.filter(status.eq(other.as_str())),
        };
        if let Some(before) = before {
            query = query.filter(label_approvals::Column::Id.lt(before.as_uuid()));
        }
        let rows = query.order_by_desc(label_approvals::Column::Id).limit(limit + 1).all(&self.conn).await?;
        let page = Page::from_rows(rows, limit, |m| m.id).try_map(approval)?;
        let ids: Vec<uuid::Uuid> = page.items.iter().map(|a| a.prompt_id.as_uuid()).collect();
        let refs: HashMap<uuid::Uuid, PromptRef> = self
            .scope
            .select::<prompts::Entity>()
            .filter(prompts::Column::Id.is_in(ids))
            .select_only()
            .columns([prompts::Column::Id, prompts::Column::Name, prompts::Column::Title])
            .into_tuple::<(uuid::Uuid, String, String)>()
            .all(&self.conn)
            .await?
            .into_iter()
            .map(|(id, name, title)| (id, PromptRef { id: PromptId::from_uuid(id), name, title }))
            .collect();
        page.try_map(|a| {
            let prompt = refs.get(&a.prompt_id.as_uuid()).cloned();
            prompt.map(|p| (a, p)).ok_or_else(|| corrupt("label_approvals.prompt_id", "no such prompt"))
        })
    }

    /// Decides a request that is pending and unexpired at `now`: `false` (nothing written)
    /// when it is not, because someone decided it first or it expired.
    pub async fn close_approval(
        &self,
        id: ApprovalId,
        status: ApprovalStatus,
        decided_by: UserId,
        comment: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let closed = self
            .scope
            .update::<label_approvals::Entity>()
            .col_expr(label_approvals::Column::Status, Expr::value(status.as_str()))
            .col_expr(label_approvals::Column::OpenLabel, Expr::value(Option::<String>::None))
            .col_expr(label_approvals::Column::DecidedBy, Expr::value(decided_by.as_uuid()))
            .col_expr(label_approvals::Column::DecidedAt, Expr::value(now))
            .col_expr(label_approvals::Column::Comment, Expr::value(comment))
            .filter(label_approvals::Column::Id.eq(id.as_uuid()))
            .filter(pending())
            .filter(label_approvals::Column::ExpiresAt.gt(now))
            .exec(&self.conn)
            .await?;
        Ok(closed.rows_affected == 1)
    }

    /// Drops a prompt's oldest decided requests beyond [`MAX_DECIDED_APPROVALS_KEPT`].
    async fn prune_decided_approvals(&self, prompt: PromptId) -> Result<(), StoreError> {
        let decided = || {
            self.scope
                .select::<label_approvals::Entity>()
                .filter(label_approvals::Column::PromptId.eq(prompt.as_uuid()))
                .filter(label_approvals::Column::OpenLabel.is_null())
        };
        if decided().count(&self.conn).await? <= MAX_DECIDED_APPROVALS_KEPT {
            return Ok(());
        }
        let oldest_kept: Option<uuid::Uuid> = decided()
            .select_only()
            .column(label_approvals::Column::Id)
            .order_by_desc(label_approvals::Column::Id)
            .offset(MAX_DECIDED_APPROVALS_KEPT - 1)
            .into_tuple()
            .one(&self.conn)
            .await?;
        if let Some(oldest_kept) = oldest_kept {
            self.scope
                .delete::<label_approvals::Entity>()
                .filter(label_approvals::Column::PromptId.eq(prompt.as_uuid()))
                .filter(label_approvals::Column::OpenLabel.is_null())
                .filter(label_approvals::Column::Id.lt(oldest_kept))
                .exec(&self.conn)
                .await?;
        }
        Ok(())
    }
}
