//! The prompt library of one tenant: prompts, their versions, search and the category and tag
//! counts. Visibility is applied in the queries: a private prompt of someone else never leaves
//! the database unless the viewer is an admin.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use domain::prompt::{
    MAX_PROMPT_NAME_LEN, NewPrompt, Prompt, PromptFields, PromptKey, PromptName, PromptSort, PromptVersion,
    Viewer, Visibility,
};
use domain::{PromptId, UserId};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Statement,
};

use super::TenantRepo;
use crate::entities::{prompt_versions, prompts, users};
use crate::query::contains_ci;
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
}

/// What an edit records besides the new state.
#[derive(Debug, Clone)]
pub struct PromptChange {
    pub author: UserId,
    pub commit_message: Option<String>,
    /// The version this change restores, if it is a restore.
    pub restored_from: Option<u32>,
}

/// The most search words used; the rest of a very long query is ignored.
const MAX_SEARCH_TERMS: usize = 16;

/// The words of a search, lowercased; only letters and digits, so they are safe inside either
/// database's query syntax (and they are bound as parameters besides).
pub fn search_terms(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().take(64).collect::<String>().to_lowercase())
        .take(MAX_SEARCH_TERMS)
        .collect()
}

/// The words of `text` as SQLite's full-text index stores them: each prefixed with the tenant's
/// key, so every posting list belongs to one tenant.
fn search_words(key: &str, text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("{key}{}", w.to_lowercase()))
        .collect::<Vec<_>>()
        .join(" ")
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

impl<C: ConnectionTrait> TenantRepo<'_, C> {
    /// Stores a new prompt with its first version. A name taken in the same namespace (the
    /// tenant's shared names, or the owner's private ones) is [`StoreError::Conflict`].
    pub async fn create_prompt(&self, new: NewPrompt, now: DateTime<Utc>) -> Result<Prompt, StoreError> {
        let id = convert::new_id(now);
        prompts::Entity::insert(self.prompt_row(id, &new, now)).exec_without_returning(self.conn).await?;
        self.index_for_search(&[(id, &new.fields)], false).await?;
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
            PromptKey::Id(id) => self.prompts().filter(prompts::Column::Id.eq(id.as_uuid())),
            PromptKey::Name(name) => self
                .prompts()
                .filter(prompts::Column::NameKey.eq(name.key()))
                .filter(prompts::Column::NameScope.is_in([String::new(), viewer.user.as_uuid().to_string()]))
                .order_by_desc(prompts::Column::NameScope),
        };
        let Some(row) = query.one(self.conn).await? else { return Ok(None) };
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
        self.prompts()
            .filter(prompts::Column::NameKey.eq(name.key()))
            .filter(prompts::Column::NameScope.eq(name_scope(visibility, Some(owner))))
            .one(self.conn)
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
        let next_version = current.version + 1;
        let result = prompts::Entity::update_many()
            .col_expr(prompts::Column::Name, fields.name.as_str().into())
            .col_expr(prompts::Column::NameKey, fields.name.key().into())
            .col_expr(prompts::Column::NameScope, name_scope(fields.visibility, current.owner).into())
            .col_expr(prompts::Column::Title, fields.title.as_str().into())
            .col_expr(prompts::Column::Content, fields.content.as_str().into())
            .col_expr(prompts::Column::Category, fields.category.as_str().into())
            .col_expr(prompts::Column::Tags, tags_json(&fields.tags).into())
            .col_expr(prompts::Column::IsEnhancementPrompt, fields.is_enhancement_prompt.into())
            .col_expr(prompts::Column::Visibility, fields.visibility.as_str().into())
            .col_expr(prompts::Column::Version, i64::from(next_version).into())
            .col_expr(prompts::Column::UpdatedBy, Some(change.author.as_uuid()).into())
            .col_expr(prompts::Column::UpdatedAt, now.into())
            .filter(prompts::Column::TenantId.eq(self.scope.tenant_id().as_uuid()))
            .filter(prompts::Column::Id.eq(current.id.as_uuid()))
            .filter(prompts::Column::Version.eq(i64::from(current.version)))
            .exec(self.conn)
            .await?;
        if result.rows_affected == 0 {
            return Ok(None);
        }
        self.index_for_search(&[(current.id.as_uuid(), &fields)], true).await?;
        let updated = Prompt {
            name: fields.name,
            title: fields.title,
            content: fields.content,
            category: fields.category,
            tags: fields.tags,
            is_enhancement_prompt: fields.is_enhancement_prompt,
            visibility: fields.visibility,
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
        let deleted = prompts::Entity::delete_many()
            .filter(prompts::Column::TenantId.eq(self.scope.tenant_id().as_uuid()))
            .filter(prompts::Column::Id.eq(id.as_uuid()))
            .exec(self.conn)
            .await?;
        Ok(deleted.rows_affected > 0)
    }

    /// A prompt's versions, newest first, older than `before`; at most `limit`, and whether
    /// there are more.
    pub async fn prompt_versions(
        &self,
        id: PromptId,
        before: Option<u32>,
        limit: u64,
    ) -> Result<(Vec<PromptVersion>, bool), StoreError> {
        let mut query = prompt_versions::Entity::find()
            .filter(prompt_versions::Column::TenantId.eq(self.scope.tenant_id().as_uuid()))
            .filter(prompt_versions::Column::PromptId.eq(id.as_uuid()));
        if let Some(before) = before {
            query = query.filter(prompt_versions::Column::Version.lt(i64::from(before)));
        }
        let rows =
            query.order_by_desc(prompt_versions::Column::Version).limit(limit + 1).all(self.conn).await?;
        let more = rows.len() as u64 > limit;
        let versions = rows
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(convert::prompt_version)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((versions, more))
    }

    pub async fn prompt_version(
        &self,
        id: PromptId,
        version: u32,
    ) -> Result<Option<PromptVersion>, StoreError> {
        prompt_versions::Entity::find()
            .filter(prompt_versions::Column::TenantId.eq(self.scope.tenant_id().as_uuid()))
            .filter(prompt_versions::Column::PromptId.eq(id.as_uuid()))
            .filter(prompt_versions::Column::Version.eq(i64::from(version)))
            .one(self.conn)
            .await?
            .map(convert::prompt_version)
            .transpose()
    }

    /// Up to `limit` prompts the viewer may see that match `filter`, skipping `offset`, and
    /// whether there are more. With search words the default order is by relevance.
    pub async fn search_prompts(
        &self,
        viewer: &Viewer,
        filter: &PromptFilter,
        sort: PromptSort,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<Prompt>, bool), StoreError> {
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
        let terms = filter.q.as_deref().map(search_terms).unwrap_or_default();
        let searching = !terms.is_empty();
        if searching {
            self.add_search(QueryTrait::query(&mut query), &terms);
        }
        let query = match sort {
            PromptSort::Relevance if searching => query,
            PromptSort::Relevance | PromptSort::Updated => query.order_by_desc(prompts::Column::UpdatedAt),
            PromptSort::Created => query,
            PromptSort::Name => query.order_by_asc(prompts::Column::NameKey),
        };
        // Ties (and `created`) fall back to creation order, newest first: ids are UUIDv7.
        let rows =
            query.order_by_desc(prompts::Column::Id).offset(offset).limit(limit + 1).all(self.conn).await?;
        let more = rows.len() as u64 > limit;
        let prompts = rows
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(convert::prompt)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((prompts, more))
    }

    /// Restricts a prompt query to full-text matches of every term (as a prefix), best first.
    fn add_search(&self, query: &mut sea_orm::sea_query::SelectStatement, terms: &[String]) {
        match self.conn.get_database_backend() {
            DbBackend::Postgres => {
                let key = self.search_key();
                let tsquery = terms.iter().map(|t| format!("'t{key}{t}':*")).collect::<Vec<_>>().join(" & ");
                query
                    .and_where(Expr::cust_with_values(
                        "prompts.search @@ to_tsquery('simple', $1)",
                        [tsquery.clone()],
                    ))
                    .order_by_expr(
                        Expr::cust_with_values(
                            "ts_rank(prompts.search, to_tsquery('simple', $1))",
                            [tsquery],
                        ),
                        Order::Desc,
                    );
            }
            _ => {
                let key = self.search_key();
                let phrases = terms.iter().map(|t| format!("\"{key}{t}\"*")).collect::<Vec<_>>().join(" ");
                // The full-text index drives the query (CROSS JOIN fixes SQLite's join order):
                // starting from the tenant's prompts would run the MATCH once per prompt.
                query
                    .from_clear()
                    .from(Alias::new("prompts_fts"))
                    .cross_join(Alias::new("prompt_search"))
                    .cross_join(prompts::Entity)
                    .and_where(Expr::cust("prompt_search.search_id = prompts_fts.rowid"))
                    .and_where(Expr::cust("prompts.id = prompt_search.prompt_id"))
                    .and_where(Expr::cust_with_values("prompts_fts MATCH ?", [phrases]))
                    .order_by_expr(Expr::cust("bm25(prompts_fts, 10.0, 5.0, 1.0, 3.0)"), Order::Asc);
            }
        }
    }

    /// What every indexed word of this tenant is prefixed with (PostgreSQL adds a `t`).
    fn search_key(&self) -> String {
        self.scope.tenant_id().as_uuid().simple().to_string()
    }

    /// SQLite: (re)writes the full-text rows of these prompts. PostgreSQL computes its search
    /// column itself.
    async fn index_for_search(
        &self,
        prompts: &[(uuid::Uuid, &PromptFields)],
        replace: bool,
    ) -> Result<(), StoreError> {
        let backend = self.conn.get_database_backend();
        if backend == DbBackend::Postgres || prompts.is_empty() {
            return Ok(());
        }
        let key = self.search_key();
        let words = |text: &str| search_words(&key, text);
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
            values.extend([
                sea_orm::Value::from(*id),
                words(fields.name.as_str()).into(),
                words(&fields.title).into(),
                words(&fields.content).into(),
                words(&fields.tags.join(" ")).into(),
            ]);
        }
        let sql =
            format!("INSERT INTO prompts_fts (rowid, name, title, content, tags) VALUES {}", rows.join(", "));
        self.conn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
        Ok(())
    }

    /// Each category in use among the prompts the viewer may see, with its count, A to Z.
    pub async fn prompt_categories(&self, viewer: &Viewer) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<(String, i64)> = self
            .visible_prompts(viewer)
            .select_only()
            .column(prompts::Column::Category)
            .column_as(prompts::Column::Id.count(), "n")
            .group_by(prompts::Column::Category)
            .order_by_asc(prompts::Column::Category)
            .into_tuple()
            .all(self.conn)
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
            .all(self.conn)
            .await?;
        Ok(rows.into_iter().map(|r| (r.tag, u64::try_from(r.n).unwrap_or(0))).collect())
    }

    /// `name-2`, `name-3`, … up to `name-1000`: the first free in the namespace, if any.
    pub async fn free_prompt_name(
        &self,
        name: &PromptName,
        visibility: Visibility,
        owner: UserId,
    ) -> Result<Option<PromptName>, StoreError> {
        for n in 2..=1000u32 {
            let suffix = format!("-{n}");
            let base: String = name.as_str().chars().take(MAX_PROMPT_NAME_LEN - suffix.len()).collect();
            let Ok(candidate) = PromptName::parse(&format!("{base}{suffix}")) else { continue };
            if self.prompt_in_namespace(&candidate, visibility, owner).await?.is_none() {
                return Ok(Some(candidate));
            }
        }
        Ok(None)
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
        let rows: Vec<(uuid::Uuid, String, String, String)> = users::Entity::find()
            .filter(users::Column::TenantId.eq(self.scope.tenant_id().as_uuid()))
            .filter(users::Column::Id.is_in(ids))
            .select_only()
            .columns([
                users::Column::Id,
                users::Column::FirstName,
                users::Column::LastName,
                users::Column::Email,
            ])
            .into_tuple()
            .all(self.conn)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, first, last, email)| {
                let full = format!("{first} {last}").trim().to_owned();
                (UserId::from_uuid(id), if full.is_empty() { email } else { full })
            })
            .collect())
    }

    async fn insert_version(&self, prompt: &Prompt, change: &PromptChange) -> Result<(), StoreError> {
        prompt_versions::Entity::insert(self.version_row(prompt, change))
            .exec_without_returning(self.conn)
            .await?;
        Ok(())
    }

    fn prompt_row(&self, id: uuid::Uuid, new: &NewPrompt, now: DateTime<Utc>) -> prompts::ActiveModel {
        let fields = &new.fields;
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
            version: Set(1),
            updated_by: Set(Some(new.owner.as_uuid())),
            created_at: Set(now),
            updated_at: Set(now),
        }
    }

    fn version_row(&self, prompt: &Prompt, change: &PromptChange) -> prompt_versions::ActiveModel {
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
            prompts::Entity::insert_many(rows).exec_without_returning(self.conn).await?;
            let indexed: Vec<_> = ids.iter().copied().zip(batch.iter().map(|new| &new.fields)).collect();
            self.index_for_search(&indexed, false).await?;
            prompt_versions::Entity::insert_many(versions).exec_without_returning(self.conn).await?;
        }
        Ok(())
    }

    fn prompts(&self) -> sea_orm::Select<prompts::Entity> {
        prompts::Entity::find().filter(prompts::Column::TenantId.eq(self.scope.tenant_id().as_uuid()))
    }

    /// The tenant's prompts minus other people's private ones (admins see everything).
    fn visible_prompts(&self, viewer: &Viewer) -> sea_orm::Select<prompts::Entity> {
        let query = self.prompts();
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
