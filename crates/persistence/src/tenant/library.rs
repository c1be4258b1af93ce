//! The prompt library of one tenant: prompts, their versions, search and the category and tag
//! counts. Visibility is applied in the queries: a private prompt of someone else never leaves
//! the database unless the viewer is an admin.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use domain::bundle::{self, IncludePin};
use domain::prompt::{
    MAX_PROMPT_NAME_LEN, NewPrompt, Prompt, PromptFields, PromptKey, PromptName, PromptPosition, PromptSort,
    PromptVersion, Viewer, Visibility,
};
use domain::release::LabelName;
use domain::search::SearchDocument;
use domain::{PromptId, UserId};
use migrations::search_index;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Statement,
};

use super::TenantRepo;
use crate::convert::BundleColumns;
use crate::entities::{prompt_includes, prompt_versions, prompts, tenants, users};
use crate::error::corrupt;
use crate::query::{Page, contains_ci, like_literal};
use crate::{StoreError, convert};

/// Which prompts to list.
#[derive(Debug, Clone, Default)]
pub struct PromptFilter {
    /// Full-text search over name, title, content and tags; every word must match, as a prefix.
    pub q: Option<String>,
    pub category: Option<String>,
    pub tag: Option<String>,
    pub owner: Option<UserId>,
    pub enhancement: Option<bool>,
    pub folder: Option<FolderFilter>,
}

/// Most prompts listed as including one prompt.
pub const MAX_INCLUDERS: u64 = 1_000;

/// Prompts in one folder: those whose name is `{key}/{rest}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderFilter {
    /// The folder's path in lower case, without a trailing slash; empty for the top level.
    pub key: String,
    /// Also the prompts in its subfolders; else `rest` has no `/`.
    pub recursive: bool,
}

/// What an edit records besides the new state.
#[derive(Debug, Clone)]
pub struct PromptChange {
    pub author: UserId,
    pub commit_message: Option<String>,
    /// The version this change restores, if it is a restore.
    pub restored_from: Option<u32>,
}

/// The terms of a search, as [`domain::search::query_terms`] makes them: normalised, inert in
/// either database's query syntax (and bound as parameters besides).
pub fn search_terms(q: &str) -> Vec<String> {
    domain::search::query_terms(q)
}

/// The private namespace of a prompt's name: its owner's for private prompts, the tenant's
/// (empty) otherwise.
fn name_scope(visibility: Visibility, owner: Option<UserId>) -> String {
    match (visibility, owner) {
        (Visibility::Private, Some(owner)) => owner.as_uuid().to_string(),
        _ => String::new(),
    }
}

fn tags_json(tags: &[String]) -> String {
    serde_json::Value::from(tags.to_vec()).to_string()
}

impl<C: ConnectionTrait> TenantRepo<C> {
    /// Stores a new prompt with its first version. A name taken in the same namespace (the
    /// tenant's shared names, or the owner's private ones) is [`StoreError::Conflict`].
    pub async fn create_prompt(&self, new: NewPrompt, now: DateTime<Utc>) -> Result<Prompt, StoreError> {
        self.charge_quota(1, stored_bytes(&new.fields)).await?;
        let id = convert::new_id(now);
        prompts::Entity::insert(self.prompt_row(id, &new, now)).exec_without_returning(&self.conn).await?;
        self.index_for_search(&[(id, &new.fields)], false).await?;
        self.record_includes(id, &new.fields, false).await?;
        let fields = new.fields;
        let prompt = Prompt {
            id: PromptId::from_uuid(id),
            tenant_id: self.scope.tenant_id(),
            owner: Some(new.owner),
            name: fields.name,
            title: fields.title,
            content: fields.content,
            category: fields.category,
            tags: fields.tags,
            is_enhancement_prompt: fields.is_enhancement_prompt,
            visibility: fields.visibility,
            bundle: fields.bundle,
            version: 1,
            updated_by: Some(new.owner),
            created_at: now,
            updated_at: now,
        };
        let change =
            PromptChange { author: new.owner, commit_message: new.commit_message, restored_from: None };
        self.insert_version(&prompt, &change).await?;
        Ok(prompt)
    }

    /// A prompt by id or name, if the viewer may see it. A name resolves to the viewer's own
    /// private prompt first, then to the tenant's shared one; others' private prompts are
    /// reachable by id only, and only for admins.
    pub async fn prompt(&self, viewer: &Viewer, key: &PromptKey) -> Result<Option<Prompt>, StoreError> {
        let query = match key {
            PromptKey::Id(id) => {
                self.scope.select::<prompts::Entity>().filter(prompts::Column::Id.eq(id.as_uuid()))
            }
            PromptKey::Name(name) => self
                .scope
                .select::<prompts::Entity>()
                .filter(prompts::Column::NameKey.eq(name.key()))
                .filter(prompts::Column::NameScope.is_in([String::new(), viewer.user.as_uuid().to_string()]))
                .order_by_desc(prompts::Column::NameScope),
        };
        let Some(row) = query.one(&self.conn).await? else { return Ok(None) };
        let prompt = convert::prompt(row)?;
        Ok(viewer.may_see(&prompt).then_some(prompt))
    }

    /// The prompt holding `name` in the namespace a prompt with this visibility and owner
    /// would use (for imports, which decide per name what to do).
    pub async fn prompt_in_namespace(
        &self,
        name: &PromptName,
        visibility: Visibility,
        owner: UserId,
    ) -> Result<Option<Prompt>, StoreError> {
        self.scope
            .select::<prompts::Entity>()
            .filter(prompts::Column::NameKey.eq(name.key()))
            .filter(prompts::Column::NameScope.eq(name_scope(visibility, Some(owner))))
            .one(&self.conn)
            .await?
            .map(convert::prompt)
            .transpose()
    }

    /// Saves `fields` as the next version of `current`, unless someone else saved first:
    /// `None` when the stored version is no longer `current.version` (or the prompt is gone).
    pub async fn update_prompt(
        &self,
        current: &Prompt,
        fields: PromptFields,
        change: PromptChange,
        now: DateTime<Utc>,
    ) -> Result<Option<Prompt>, StoreError> {
        // First, so every prompt write takes the tenant's row before any prompt's.
        self.charge_quota(0, stored_bytes(&fields)).await?;
        let next_version = current.version + 1;
        let bundle = BundleColumns::of(&fields.bundle);
        let result = self
            .scope
            .update::<prompts::Entity>()
            .col_expr(prompts::Column::Name, fields.name.as_str().into())
            .col_expr(prompts::Column::NameKey, fields.name.key().into())
            .col_expr(prompts::Column::NameScope, name_scope(fields.visibility, current.owner).into())
            .col_expr(prompts::Column::Title, fields.title.as_str().into())
            .col_expr(prompts::Column::Content, fields.content.as_str().into())
            .col_expr(prompts::Column::Category, fields.category.as_str().into())
            .col_expr(prompts::Column::Tags, tags_json(&fields.tags).into())
            .col_expr(prompts::Column::IsEnhancementPrompt, fields.is_enhancement_prompt.into())
            .col_expr(prompts::Column::Visibility, fields.visibility.as_str().into())
            .col_expr(prompts::Column::Kind, bundle.kind.into())
            .col_expr(prompts::Column::TemplateFormat, bundle.template_format.into())
            .col_expr(prompts::Column::Messages, bundle.messages.into())
            .col_expr(prompts::Column::Settings, bundle.settings.into())
            .col_expr(prompts::Column::Contract, bundle.contract.into())
            .col_expr(prompts::Column::Version, i64::from(next_version).into())
            .col_expr(prompts::Column::UpdatedBy, Some(change.author.as_uuid()).into())
            .col_expr(prompts::Column::UpdatedAt, now.into())
            .filter(prompts::Column::Id.eq(current.id.as_uuid()))
            .filter(prompts::Column::Version.eq(i64::from(current.version)))
            .exec(&self.conn)
            .await?;
        if result.rows_affected == 0 {
            return Ok(None);
        }
        self.index_for_search(&[(current.id.as_uuid(), &fields)], true).await?;
        self.record_includes(current.id.as_uuid(), &fields, true).await?;
        let updated = Prompt {
            name: fields.name,
            title: fields.title,
            content: fields.content,
            category: fields.category,
            tags: fields.tags,
            is_enhancement_prompt: fields.is_enhancement_prompt,
            visibility: fields.visibility,
            bundle: fields.bundle,
            version: next_version,
            updated_by: Some(change.author),
            updated_at: now,
            ..current.clone()
        };
        self.insert_version(&updated, &change).await?;
        Ok(Some(updated))
    }

    /// Deletes a prompt and its versions. Returns whether it existed.
    pub async fn delete_prompt(&self, id: PromptId) -> Result<bool, StoreError> {
        let bytes: Option<Option<i64>> = self
            .scope
            .select::<prompt_versions::Entity>()
            .select_only()
            .column_as(stored_bytes_sum(self.conn.get_database_backend()), "bytes")
            .filter(prompt_versions::Column::PromptId.eq(id.as_uuid()))
            .into_tuple()
            .one(&self.conn)
            .await?;
        self.charge_quota(-1, -bytes.flatten().unwrap_or(0)).await?;
        let deleted = self
            .scope
            .delete::<prompts::Entity>()
            .filter(prompts::Column::Id.eq(id.as_uuid()))
            .exec(&self.conn)
            .await?;
        Ok(deleted.rows_affected > 0)
    }

    /// Adds to the tenant's prompt and byte totals, refusing with [`StoreError::QuotaExceeded`]
    /// a growth past its quota. One conditional update, so concurrent writes cannot overshoot.
    async fn charge_quota(&self, prompts: i64, bytes: i64) -> Result<(), StoreError> {
        let mut update = self.totals_update(prompts, bytes);
        if prompts > 0 {
            update = update.filter(
                Expr::col(tenants::Column::PromptCount)
                    .add(prompts)
                    .lte(Expr::col(tenants::Column::MaxPrompts)),
            );
        }
        if bytes > 0 {
            update = update.filter(
                Expr::col(tenants::Column::StoredBytes)
                    .add(bytes)
                    .lte(Expr::col(tenants::Column::MaxStoredBytes)),
            );
        }
        let result = update.exec(&self.conn).await?;
        if result.rows_affected == 0 && (prompts > 0 || bytes > 0) {
            return Err(StoreError::QuotaExceeded);
        }
        Ok(())
    }

    /// Adds to the tenant's prompt and byte totals (unconditionally; see [`Self::charge_quota`]).
    fn totals_update(&self, prompts: i64, bytes: i64) -> sea_orm::UpdateMany<tenants::Entity> {
        self.scope
            .update::<tenants::Entity>()
            .col_expr(tenants::Column::PromptCount, Expr::col(tenants::Column::PromptCount).add(prompts))
            .col_expr(tenants::Column::StoredBytes, Expr::col(tenants::Column::StoredBytes).add(bytes))
    }

    /// A prompt's versions, newest first, older than `before`; at most `limit`, and whether
    /// there are more.
    pub async fn prompt_versions(
        &self,
        id: PromptId,
        before: Option<u32>,
        limit: u64,
    ) -> Result<Page<PromptVersion, u32>, StoreError> {
        let mut query = self
            .scope
            .select::<prompt_versions::Entity>()
            .filter(prompt_versions::Column::PromptId.eq(id.as_uuid()));
        if let Some(before) = before {
            query = query.filter(prompt_versions::Column::Version.lt(i64::from(before)));
        }
        let rows =
            query.order_by_desc(prompt_versions::Column::Version).limit(limit + 1).all(&self.conn).await?;
        let versions = rows.into_iter().map(convert::prompt_version).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(versions, limit, |v| v.version))
    }

    pub async fn prompt_version(
        &self,
        id: PromptId,
        version: u32,
    ) -> Result<Option<PromptVersion>, StoreError> {
        self.scope
            .select::<prompt_versions::Entity>()
            .filter(prompt_versions::Column::PromptId.eq(id.as_uuid()))
            .filter(prompt_versions::Column::Version.eq(i64::from(version)))
            .one(&self.conn)
            .await?
            .map(convert::prompt_version)
            .transpose()
    }

    /// One page of the prompts the viewer may see that match `filter`, in `sort` order
    /// ([`PromptSort::effective`]: relevance needs search words), after `after`. Every order
    /// breaks ties newest first, so pages are a keyset walk: edits and inserts between two
    /// pages never make the next page skip or repeat a prompt that kept its place.
    pub async fn search_prompts(
        &self,
        viewer: &Viewer,
        filter: &PromptFilter,
        sort: PromptSort,
        after: Option<&PromptPosition>,
        limit: u64,
    ) -> Result<Page<Prompt, PromptPosition>, StoreError> {
        #[derive(FromQueryResult)]
        struct Scored {
            #[sea_orm(nested)]
            prompt: prompts::Model,
            score: Option<f64>,
        }
        let mut query = self.visible_prompts(viewer);
        if let Some(category) = &filter.category {
            query = query.filter(prompts::Column::Category.eq(category.as_str()));
        }
        if let Some(tag) = &filter.tag {
            // Tags are normalised (no quotes or backslashes), so their JSON form is exact.
            query = query.filter(contains_ci(prompts::Column::Tags, &format!("\"{tag}\"")));
        }
        if let Some(owner) = filter.owner {
            query = query.filter(prompts::Column::UserId.eq(owner.as_uuid()));
        }
        if let Some(enhancement) = filter.enhancement {
            query = query.filter(prompts::Column::IsEnhancementPrompt.eq(enhancement));
        }
        if let Some(folder) = &filter.folder {
            let key = &folder.key;
            query = match (key.is_empty(), folder.recursive) {
                (true, true) => query,
                (true, false) => query.filter(like_literal(prompts::Column::NameKey, "%/%", "").not()),
                (false, true) => query.filter(like_literal(prompts::Column::NameKey, "{}/%", key)),
                (false, false) => query
                    .filter(like_literal(prompts::Column::NameKey, "{}/%", key))
                    .filter(like_literal(prompts::Column::NameKey, "{}/%/%", key).not()),
            };
        }
        let terms = filter.q.as_deref().map(search_terms).unwrap_or_default();
        let score = (!terms.is_empty()).then(|| self.add_search(QueryTrait::query(&mut query), &terms));
        let sort = sort.effective(score.is_some());
        let query = match (sort, &score) {
            (PromptSort::Relevance, Some(score)) => {
                query.column_as(score.clone(), "score").order_by_desc(score.clone())
            }
            (PromptSort::Name, _) => query.order_by_asc(prompts::Column::NameKey),
            (PromptSort::Updated | PromptSort::Relevance, _) => {
                query.order_by_desc(prompts::Column::UpdatedAt)
            }
            (PromptSort::Created, _) => query,
        };
        let mut query = if sort == PromptSort::Relevance {
            query
        } else {
            query.column_as(Expr::val(Option::<f64>::None), "score")
        };
        // A position of another order than the one used is ignored (the API refuses it first).
        if let Some(after) = after.filter(|after| after.sort() == sort) {
            query = query.filter(after_position(after, score.as_ref()));
        }
        let rows = query
            .order_by_desc(prompts::Column::Id)
            .limit(limit + 1)
            .into_model::<Scored>()
            .all(&self.conn)
            .await?;
        let position = |row: &Scored| {
            let id = PromptId::from_uuid(row.prompt.id);
            match sort {
                PromptSort::Relevance => {
                    PromptPosition::Relevance { score: row.score.unwrap_or_default(), id }
                }
                PromptSort::Updated => PromptPosition::Updated { at: row.prompt.updated_at, id },
                PromptSort::Created => PromptPosition::Created { id },
                PromptSort::Name => PromptPosition::Name { key: row.prompt.name_key.clone(), id },
            }
        };
        Page::from_rows(rows, limit, position).try_map(|row| convert::prompt(row.prompt))
    }

    /// Restricts a prompt query to full-text matches of every term (as a prefix) and returns
    /// the relevance of a row, higher is better, for the caller to order (and page) by.
    /// The terms come from [`search_terms`]; both databases match them against the same tokens.
    fn add_search(&self, query: &mut sea_orm::sea_query::SelectStatement, terms: &[String]) -> SimpleExpr {
        let key = self.search_key();
        match self.conn.get_database_backend() {
            DbBackend::Postgres => {
                let tsquery = search_index::postgres_tsquery(&key, terms);
                query.and_where(Expr::cust_with_values(
                    "prompts.search @@ CAST($1 AS tsquery)",
                    [tsquery.clone()],
                ));
                // float8, so the score reads back (and compares in a cursor) exactly.
                Expr::cust_with_values(
                    "CAST(ts_rank(prompts.search, CAST($1 AS tsquery)) AS float8)",
                    [tsquery],
                )
            }
            _ => {
                let phrases = search_index::sqlite_match(&key, terms);
                // The full-text index drives the query (CROSS JOIN fixes SQLite's join order):
                // starting from the tenant's prompts would run the MATCH once per prompt.
                query
                    .from_clear()
                    .from(Alias::new("prompts_fts"))
                    .cross_join(Alias::new("prompt_search"))
                    .cross_join(prompts::Entity)
                    .and_where(Expr::cust("prompt_search.search_id = prompts_fts.rowid"))
                    .and_where(Expr::cust("prompts.id = prompt_search.prompt_id"))
                    .and_where(Expr::cust_with_values("prompts_fts MATCH ?", [phrases]));
                // bm25 is lower for better matches.
                Expr::cust("-bm25(prompts_fts, 10.0, 5.0, 1.0, 3.0)")
            }
        }
    }

    /// What every indexed token of this tenant is prefixed with.
    fn search_key(&self) -> String {
        search_index::tenant_key(&self.scope.tenant_id().as_uuid().simple().to_string())
    }

    /// (Re)writes the index entries of these prompts: SQLite's FTS5 rows, PostgreSQL's `search`
    /// column, both from [`SearchDocument`] in the format of [`search_index`].
    async fn index_for_search(
        &self,
        prompts: &[(uuid::Uuid, &PromptFields)],
        replace: bool,
    ) -> Result<(), StoreError> {
        if prompts.is_empty() {
            return Ok(());
        }
        let backend = self.conn.get_database_backend();
        let key = self.search_key();
        let document = |fields: &PromptFields| {
            SearchDocument::new(fields.name.as_str(), &fields.title, &fields.tags, &fields.content)
        };
        if backend == DbBackend::Postgres {
            let mut values = Vec::with_capacity(prompts.len() * 2 + 1);
            let mut tuples = Vec::with_capacity(prompts.len());
            values.push(sea_orm::Value::from(self.scope.tenant_id().as_uuid()));
            for (id, fields) in prompts {
                tuples.push(format!("(${}, ${})", values.len() + 1, values.len() + 2));
                values.push(sea_orm::Value::from(*id));
                values.push(search_index::postgres_tsvector(&key, &document(fields)).into());
            }
            let sql = format!(
                "UPDATE prompts SET search = CAST(v.search AS tsvector) FROM (VALUES {}) AS v(id, search) \
                 WHERE prompts.tenant_id = $1 AND prompts.id = v.id",
                tuples.join(", ")
            );
            self.conn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
            return Ok(());
        }
        let mut values = Vec::with_capacity(prompts.len() * 5);
        let mut rows = Vec::with_capacity(prompts.len());
        for (id, fields) in prompts {
            if replace {
                self.conn
                    .execute_raw(Statement::from_sql_and_values(
                        backend,
                        "DELETE FROM prompts_fts WHERE rowid = (SELECT search_id FROM prompt_search WHERE prompt_id = ?)",
                        [sea_orm::Value::from(*id)],
                    ))
                    .await?;
            }
            rows.push("((SELECT search_id FROM prompt_search WHERE prompt_id = ?), ?, ?, ?, ?)");
            values.push(sea_orm::Value::from(*id));
            values.extend(search_index::sqlite_columns(&key, &document(fields)).map(sea_orm::Value::from));
        }
        let sql =
            format!("INSERT INTO prompts_fts (rowid, name, title, content, tags) VALUES {}", rows.join(", "));
        self.conn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
        Ok(())
    }

    /// Each category in use among the prompts the viewer may see, with its count, A to Z.
    /// The names of the prompts the viewer may see that are in a folder (hold a `/`), in the
    /// byte order of their lower-case form (the same on both databases, whatever their
    /// collation): what the folder tree is made of.
    pub async fn foldered_prompt_names(&self, viewer: &Viewer) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<(String, String)> = self
            .visible_prompts(viewer)
            .select_only()
            .column(prompts::Column::NameKey)
            .column(prompts::Column::Name)
            .filter(like_literal(prompts::Column::NameKey, "%/%", ""))
            .into_tuple()
            .all(&self.conn)
            .await?;
        names.sort_unstable();
        Ok(names.into_iter().map(|(_, name)| name).collect())
    }

    pub async fn prompt_categories(&self, viewer: &Viewer) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<(String, i64)> = self
            .visible_prompts(viewer)
            .select_only()
            .column(prompts::Column::Category)
            .column_as(prompts::Column::Id.count(), "n")
            .group_by(prompts::Column::Category)
            .order_by_asc(prompts::Column::Category)
            .into_tuple()
            .all(&self.conn)
            .await?;
        Ok(rows.into_iter().map(|(category, n)| (category, u64::try_from(n).unwrap_or(0))).collect())
    }

    /// Each tag in use among the prompts the viewer may see, with its count, A to Z.
    pub async fn prompt_tags(&self, viewer: &Viewer) -> Result<Vec<(String, u64)>, StoreError> {
        #[derive(FromQueryResult)]
        struct TagCount {
            tag: String,
            n: i64,
        }
        let backend = self.conn.get_database_backend();
        let (tags_of, param) = match backend {
            DbBackend::Postgres => (
                "prompts p CROSS JOIN LATERAL jsonb_array_elements_text(p.tags::jsonb) AS t(value)",
                ["$1", "$2"],
            ),
            _ => ("prompts p, json_each(p.tags) AS t", ["?", "?"]),
        };
        let visible = if viewer.is_admin() {
            "TRUE".to_owned()
        } else {
            format!("(p.visibility = 'tenant' OR p.user_id = {})", param[1])
        };
        let sql = format!(
            "SELECT t.value AS tag, COUNT(*) AS n FROM {tags_of} \
             WHERE p.tenant_id = {} AND {visible} GROUP BY t.value ORDER BY t.value",
            param[0]
        );
        let mut values = vec![sea_orm::Value::from(self.scope.tenant_id().as_uuid())];
        if !viewer.is_admin() {
            values.push(viewer.user.as_uuid().into());
        }
        let rows = TagCount::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
            .all(&self.conn)
            .await?;
        Ok(rows.into_iter().map(|r| (r.tag, u64::try_from(r.n).unwrap_or(0))).collect())
    }

    /// `name-2`, `name-3`, … up to `name-1000`: the first free in the namespace, if any, found
    /// with one query for which of those names are taken.
    pub async fn free_prompt_name(
        &self,
        name: &PromptName,
        visibility: Visibility,
        owner: UserId,
    ) -> Result<Option<PromptName>, StoreError> {
        let candidates: Vec<PromptName> = (2..=1000u32)
            .filter_map(|n| {
                let suffix = format!("-{n}");
                let base: String = name.as_str().chars().take(MAX_PROMPT_NAME_LEN - suffix.len()).collect();
                PromptName::parse(&format!("{base}{suffix}")).ok()
            })
            .collect();
        let taken: HashSet<String> = self
            .scope
            .select::<prompts::Entity>()
            .select_only()
            .column(prompts::Column::NameKey)
            .filter(prompts::Column::NameScope.eq(name_scope(visibility, Some(owner))))
            .filter(prompts::Column::NameKey.is_in(candidates.iter().map(PromptName::key)))
            .into_tuple()
            .all(&self.conn)
            .await?
            .into_iter()
            .collect();
        Ok(candidates.into_iter().find(|c| !taken.contains(&c.key())))
    }

    /// Display names (full name, or email) of the tenant's users among `ids`.
    pub async fn display_names(
        &self,
        ids: impl IntoIterator<Item = Option<UserId>>,
    ) -> Result<HashMap<UserId, String>, StoreError> {
        let ids: HashSet<uuid::Uuid> = ids.into_iter().flatten().map(|id| id.as_uuid()).collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(uuid::Uuid, String, String, String)> = self
            .scope
            .select::<users::Entity>()
            .filter(users::Column::Id.is_in(ids))
            .select_only()
            .columns([
                users::Column::Id,
                users::Column::FirstName,
                users::Column::LastName,
                users::Column::Email,
            ])
            .into_tuple()
            .all(&self.conn)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, first, last, email)| {
                let full = format!("{first} {last}").trim().to_owned();
                (UserId::from_uuid(id), if full.is_empty() { email } else { full })
            })
            .collect())
    }

    /// Keeps `prompt_includes` in step with the prompts a prompt's current version includes.
    async fn record_includes(
        &self,
        id: uuid::Uuid,
        fields: &PromptFields,
        replace: bool,
    ) -> Result<(), StoreError> {
        if replace {
            self.scope
                .delete::<prompt_includes::Entity>()
                .filter(prompt_includes::Column::PromptId.eq(id))
                .exec(&self.conn)
                .await?;
        }
        let bundle = &fields.bundle;
        // Fields are validated before they are stored, so they read.
        let includes = bundle::read_templates(bundle.format, bundle.kind, &fields.content, &bundle.messages)
            .map(|reading| reading.includes)
            .unwrap_or_default();
        let mut rows: Vec<prompt_includes::ActiveModel> = Vec::new();
        let mut seen = HashSet::new();
        for include in includes {
            let (version, label) = match include.target.pin {
                None => (0, String::new()),
                Some(IncludePin::Version(v)) => (i32::try_from(v).unwrap_or(i32::MAX), String::new()),
                Some(IncludePin::Label(label)) => (0, label.as_str().to_owned()),
            };
            // Names differing only in case are one prompt: one row.
            let key = include.target.name.key();
            if !seen.insert((key.clone(), version, label.clone())) {
                continue;
            }
            rows.push(prompt_includes::ActiveModel {
                tenant_id: Set(self.scope.tenant_id().as_uuid()),
                prompt_id: Set(id),
                target_key: Set(key),
                pinned_version: Set(version),
                pinned_label: Set(label),
            });
        }
        if !rows.is_empty() {
            prompt_includes::Entity::insert_many(rows).exec_without_returning(&self.conn).await?;
        }
        Ok(())
    }

    /// The prompts the viewer may see whose current version includes the prompt named `name`,
    /// by name, each with the version or label it is pinned to (`None`: it follows the current
    /// version); at most [`MAX_INCLUDERS`].
    pub async fn prompts_including(
        &self,
        viewer: &Viewer,
        name: &PromptName,
    ) -> Result<Vec<(Prompt, Option<IncludePin>)>, StoreError> {
        let links = self
            .scope
            .select::<prompt_includes::Entity>()
            .filter(prompt_includes::Column::TargetKey.eq(name.key()))
            .order_by_asc(prompt_includes::Column::PromptId)
            .order_by_asc(prompt_includes::Column::PinnedVersion)
            .order_by_asc(prompt_includes::Column::PinnedLabel)
            .limit(MAX_INCLUDERS)
            .all(&self.conn)
            .await?;
        if links.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<uuid::Uuid> = links.iter().map(|l| l.prompt_id).collect();
        let prompts = self
            .visible_prompts(viewer)
            .filter(prompts::Column::Id.is_in(ids))
            .order_by_asc(prompts::Column::NameKey)
            .all(&self.conn)
            .await?;
        let mut found = Vec::new();
        for row in prompts {
            let prompt = convert::prompt(row)?;
            for link in links.iter().filter(|l| l.prompt_id == prompt.id.as_uuid()) {
                let pin = if link.pinned_label.is_empty() {
                    u32::try_from(link.pinned_version).ok().filter(|v| *v > 0).map(IncludePin::Version)
                } else {
                    let label = LabelName::parse(&link.pinned_label)
                        .map_err(|_| corrupt("prompt_includes.pinned_label", &link.pinned_label))?;
                    Some(IncludePin::Label(label))
                };
                found.push((prompt.clone(), pin));
            }
        }
        Ok(found)
    }

    async fn insert_version(&self, prompt: &Prompt, change: &PromptChange) -> Result<(), StoreError> {
        prompt_versions::Entity::insert(self.version_row(prompt, change))
            .exec_without_returning(&self.conn)
            .await?;
        Ok(())
    }

    fn prompt_row(&self, id: uuid::Uuid, new: &NewPrompt, now: DateTime<Utc>) -> prompts::ActiveModel {
        let fields = &new.fields;
        let bundle = BundleColumns::of(&fields.bundle);
        prompts::ActiveModel {
            id: Set(id),
            tenant_id: Set(self.scope.tenant_id().as_uuid()),
            user_id: Set(Some(new.owner.as_uuid())),
            name: Set(fields.name.as_str().to_owned()),
            name_key: Set(fields.name.key()),
            name_scope: Set(name_scope(fields.visibility, Some(new.owner))),
            title: Set(fields.title.clone()),
            content: Set(fields.content.clone()),
            category: Set(fields.category.clone()),
            tags: Set(tags_json(&fields.tags)),
            is_enhancement_prompt: Set(fields.is_enhancement_prompt),
            visibility: Set(fields.visibility.as_str().to_owned()),
            kind: Set(bundle.kind),
            template_format: Set(bundle.template_format),
            messages: Set(bundle.messages),
            settings: Set(bundle.settings),
            contract: Set(bundle.contract),
            version: Set(1),
            updated_by: Set(Some(new.owner.as_uuid())),
            created_at: Set(now),
            updated_at: Set(now),
        }
    }

    fn version_row(&self, prompt: &Prompt, change: &PromptChange) -> prompt_versions::ActiveModel {
        let bundle = BundleColumns::of(&prompt.bundle);
        prompt_versions::ActiveModel {
            id: Set(convert::new_id(prompt.updated_at)),
            tenant_id: Set(self.scope.tenant_id().as_uuid()),
            prompt_id: Set(prompt.id.as_uuid()),
            version: Set(i32::try_from(prompt.version).unwrap_or(i32::MAX)),
            name: Set(prompt.name.as_str().to_owned()),
            title: Set(prompt.title.clone()),
            content: Set(prompt.content.clone()),
            category: Set(prompt.category.clone()),
            tags: Set(tags_json(&prompt.tags)),
            kind: Set(bundle.kind),
            template_format: Set(bundle.template_format),
            messages: Set(bundle.messages),
            settings: Set(bundle.settings),
            contract: Set(bundle.contract),
            author_id: Set(Some(change.author.as_uuid())),
            commit_message: Set(change.commit_message.clone()),
            restored_from: Set(change.restored_from.map(|v| i32::try_from(v).unwrap_or(i32::MAX))),
            created_at: Set(prompt.updated_at),
        }
    }

    /// Stores many new prompts with multi-row inserts, for seeding benchmarks (the same rows
    /// [`Self::create_prompt`] writes, without its round trip per prompt).
    #[cfg(feature = "test-support")]
    pub async fn seed_prompts(&self, prompts: Vec<NewPrompt>, now: DateTime<Utc>) -> Result<(), StoreError> {
        // Well under SQLite's 32,766 bound parameters per statement.
        const BATCH: usize = 500;
        for batch in prompts.chunks(BATCH) {
            let mut rows = Vec::with_capacity(batch.len());
            let mut versions = Vec::with_capacity(batch.len());
            let mut ids = Vec::with_capacity(batch.len());
            for new in batch {
                let id = convert::new_id(now);
                ids.push(id);
                let row = self.prompt_row(id, new, now);
                let prompt = convert::prompt(sea_orm::TryIntoModel::try_into_model(row.clone())?)?;
                rows.push(row);
                let change = PromptChange { author: new.owner, commit_message: None, restored_from: None };
                versions.push(self.version_row(&prompt, &change));
            }
            prompts::Entity::insert_many(rows).exec_without_returning(&self.conn).await?;
            let indexed: Vec<_> = ids.iter().copied().zip(batch.iter().map(|new| &new.fields)).collect();
            self.index_for_search(&indexed, false).await?;
            prompt_versions::Entity::insert_many(versions).exec_without_returning(&self.conn).await?;
            // Seeds count towards the totals but are not refused by the quota.
            let bytes = batch.iter().map(|new| stored_bytes(&new.fields)).sum::<i64>();
            self.totals_update(batch.len() as i64, bytes).exec(&self.conn).await?;
        }
        Ok(())
    }

    /// The tenant's prompts minus other people's private ones (admins see everything).
    pub(super) fn visible_prompts(&self, viewer: &Viewer) -> sea_orm::Select<prompts::Entity> {
        let query = self.scope.select::<prompts::Entity>();
        if viewer.is_admin() {
            return query;
        }
        query.filter(
            prompts::Column::Visibility
                .eq(Visibility::Tenant.as_str())
                .or(prompts::Column::UserId.eq(viewer.user.as_uuid())),
        )
    }
}

/// What a version adds to the tenant's stored bytes: its title, content, and bundle columns.
fn stored_bytes(fields: &PromptFields) -> i64 {
    let bundle = BundleColumns::of(&fields.bundle).len();
    i64::try_from(fields.title.len() + fields.content.len() + bundle).unwrap_or(i64::MAX)
}

/// The same, summed in SQL over stored versions (octets on both databases; PostgreSQL sums
/// integers as `numeric`, hence the cast).
fn stored_bytes_sum(backend: DbBackend) -> SimpleExpr {
    match backend {
        DbBackend::Sqlite => Expr::cust(
            "SUM(length(CAST(title AS BLOB)) + length(CAST(content AS BLOB)) \
             + COALESCE(length(CAST(messages AS BLOB)), 0) + COALESCE(length(CAST(settings AS BLOB)), 0) \
             + COALESCE(length(CAST(contract AS BLOB)), 0))",
        ),
        _ => Expr::cust(
            "CAST(SUM(octet_length(title) + octet_length(content) + COALESCE(octet_length(messages), 0) \
             + COALESCE(octet_length(settings), 0) + COALESCE(octet_length(contract), 0)) AS bigint)",
        ),
    }
}

/// Rows after `position` in its order (each order breaks ties by id, newest first). `score` is
/// the relevance expression of the search, for a relevance position.
fn after_position(position: &PromptPosition, score: Option<&SimpleExpr>) -> SimpleExpr {
    let id = prompts::Column::Id;
    match position {
        PromptPosition::Relevance { score: s, id: a } => {
            // Relevance is only the order of a search, which always has a score.
            let score = score.cloned().unwrap_or_else(|| Expr::val(*s));
            score.clone().lt(*s).or(score.eq(*s).and(id.lt(a.as_uuid())))
        }
        PromptPosition::Updated { at, id: a } => {
            prompts::Column::UpdatedAt.lt(*at).or(prompts::Column::UpdatedAt.eq(*at).and(id.lt(a.as_uuid())))
        }
        PromptPosition::Created { id: a } => id.lt(a.as_uuid()),
        PromptPosition::Name { key, id: a } => prompts::Column::NameKey
            .gt(key.as_str())
            .or(prompts::Column::NameKey.eq(key.as_str()).and(id.lt(a.as_uuid()))),
    }
}
