//! Throw-away databases migrated as the application migrates them, and rows to fill them.
//!
//! SQLite migrates on one connection opened with foreign keys off (the tenant-key migration
//! rebuilds tables), checks every key afterwards, and is then reopened with foreign keys on.
//! PostgreSQL comes from `TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! each test gets its own database, dropped again even when the test panics. A test that needs
//! PostgreSQL fails when it is unreachable.

use std::path::{Path, PathBuf};

use migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult,
    Statement, TransactionTrait, Value,
};
use uuid::Uuid;

pub const DEFAULT_TEST_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The migration before the tenant keys: `Migrator::up(db, Some(BEFORE_TENANT_KEYS))`.
pub const BEFORE_TENANT_KEYS: u32 = 9;

/// The migrations the tenant-key tests are about: the tenant keys and row-level security (later
/// migrations add tables and constraints of their own).
pub const TENANT_KEYS_STEPS: u32 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// Runs the listed `async fn(Kind)` tests once on each database, as `sqlite::<name>` and
/// `postgres::<name>`.
macro_rules! on_both_databases {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(crate::support::Kind::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(crate::support::Kind::Postgres).await;
                }
            )+
        }
    };
}

/// A database that exists for one test. `conn` is the owner's (the migrations') connection;
/// on SQLite it has foreign keys on, as the application's have.
pub struct TestDb {
    pub conn: DatabaseConnection,
    place: Place,
}

enum Place {
    Sqlite { path: PathBuf, _dir: tempfile::TempDir },
    Postgres { url: String, _guard: DropDatabase },
}

impl TestDb {
    /// A new, empty database, migrated by `steps` migrations (`None`: all of them).
    pub async fn new(kind: Kind, steps: Option<u32>) -> Self {
        let db = match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("create a temporary directory");
                let path = dir.path().join("schema.db");
                let conn = open_sqlite(&path, true).await;
                Self { conn, place: Place::Sqlite { path, _dir: dir } }
            }
            Kind::Postgres => {
                let admin_url = postgres_admin_url();
                let name = format!("pm_schema_{}", Uuid::new_v4().simple());
                let admin = sea_orm::Database::connect(&admin_url).await.unwrap_or_else(|err| {
                    panic!(
                        "PostgreSQL at {} is unreachable ({err}). Start it, or point TEST_POSTGRES_URL at one.",
                        redact(&admin_url)
                    )
                });
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create the PostgreSQL test database");
                admin.close().await.ok();
                let guard = DropDatabase { admin_url: admin_url.clone(), name: name.clone() };
                let url = replace_database(&admin_url, &name);
                let conn = open_postgres(&url, 2).await;
                Self { conn, place: Place::Postgres { url, _guard: guard } }
            }
        };
        db.migrate(steps).await.expect("migrate the test database");
        db
    }

    pub fn kind(&self) -> Kind {
        match self.place {
            Place::Sqlite { .. } => Kind::Sqlite,
            Place::Postgres { .. } => Kind::Postgres,
        }
    }

    /// Applies `steps` more migrations (`None`: all), as the application does: on SQLite on a
    /// connection of its own with foreign keys off, followed by `PRAGMA foreign_key_check`.
    pub async fn migrate(&self, steps: Option<u32>) -> Result<(), DbErr> {
        match &self.place {
            Place::Postgres { .. } => Migrator::up(&self.conn, steps).await,
            Place::Sqlite { path, .. } => {
                let conn = open_sqlite(path, false).await;
                let migrated = Migrator::up(&conn, steps).await;
                let violations = foreign_key_violations(&conn).await;
                conn.close().await.ok();
                migrated?;
                assert_eq!(violations, Vec::<String>::new(), "PRAGMA foreign_key_check after migrating");
                Ok(())
            }
        }
    }

    /// Rolls back `steps` migrations, on SQLite as [`TestDb::migrate`] applies them.
    pub async fn roll_back(&self, steps: u32) -> Result<(), DbErr> {
        match &self.place {
            Place::Postgres { .. } => Migrator::down(&self.conn, Some(steps)).await,
            Place::Sqlite { path, .. } => {
                let conn = open_sqlite(path, false).await;
                let rolled_back = Migrator::down(&conn, Some(steps)).await;
                let violations = foreign_key_violations(&conn).await;
                conn.close().await.ok();
                rolled_back?;
                assert_eq!(violations, Vec::<String>::new(), "PRAGMA foreign_key_check after rolling back");
                Ok(())
            }
        }
    }

    /// SQLite: another connection to the file, with foreign keys as asked.
    pub async fn sqlite_connection(&self, foreign_keys: bool) -> DatabaseConnection {
        match &self.place {
            Place::Sqlite { path, .. } => open_sqlite(path, foreign_keys).await,
            Place::Postgres { .. } => panic!("not a SQLite database"),
        }
    }

    /// PostgreSQL: a connection of its own that acts as `role` (`SET ROLE`), as the
    /// application's pool will. One connection, so every statement runs on it.
    pub async fn postgres_connection_as(&self, role: &str) -> DatabaseConnection {
        let Place::Postgres { url, .. } = &self.place else { panic!("not a PostgreSQL database") };
        let conn = open_postgres(url, 1).await;
        conn.execute_unprepared(&format!("SET ROLE \"{role}\"")).await.expect("SET ROLE");
        conn
    }

    /// Runs one statement written with `?` placeholders (numbered for PostgreSQL).
    pub async fn exec(&self, sql: &str, values: Vec<Value>) -> Result<ExecResult, DbErr> {
        exec(&self.conn, sql, values).await
    }

    pub async fn query(&self, sql: &str, values: Vec<Value>) -> Vec<QueryResult> {
        query(&self.conn, sql, values).await.unwrap_or_else(|err| panic!("{sql}: {err}"))
    }

    /// The first column of the only row, as a number.
    pub async fn number(&self, sql: &str, values: Vec<Value>) -> i64 {
        number(&self.conn, sql, values).await.unwrap_or_else(|err| panic!("{sql}: {err}"))
    }

    pub async fn count(&self, table: &str) -> i64 {
        self.number(&format!("SELECT COUNT(*) FROM \"{table}\""), vec![]).await
    }

    /// How many rows of `table` have `column` equal to `id`.
    pub async fn count_where(&self, table: &str, column: &str, id: Uuid) -> i64 {
        self.number(&format!("SELECT COUNT(*) FROM \"{table}\" WHERE \"{column}\" = ?"), vec![id.into()])
            .await
    }

    /// The column of the row with this `id` (or `tenant_id` for `ai_policies`), as a UUID.
    pub async fn reference(&self, table: &str, column: &str, id: Uuid) -> Option<Uuid> {
        let key = if table == "ai_policies" { "tenant_id" } else { "id" };
        let rows = self
            .query(&format!("SELECT \"{column}\" FROM \"{table}\" WHERE \"{key}\" = ?"), vec![id.into()])
            .await;
        assert_eq!(rows.len(), 1, "one {table} row {id}");
        rows[0].try_get_by_index::<Option<Uuid>>(0).expect("a UUID column")
    }
}

/// Runs one statement written with `?` placeholders (numbered for PostgreSQL).
pub async fn exec<C: ConnectionTrait>(db: &C, sql: &str, values: Vec<Value>) -> Result<ExecResult, DbErr> {
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_sql_and_values(backend, placeholders(backend, sql), values)).await
}

pub async fn query<C: ConnectionTrait>(
    db: &C,
    sql: &str,
    values: Vec<Value>,
) -> Result<Vec<QueryResult>, DbErr> {
    let backend = db.get_database_backend();
    db.query_all_raw(Statement::from_sql_and_values(backend, placeholders(backend, sql), values)).await
}

/// The first column of the only row, as a number.
pub async fn number<C: ConnectionTrait>(db: &C, sql: &str, values: Vec<Value>) -> Result<i64, DbErr> {
    let rows = query(db, sql, values).await?;
    assert_eq!(rows.len(), 1, "one row from {sql}");
    rows[0].try_get_by_index::<i64>(0)
}

/// Inserts one row; `now` names the timestamp columns, set to the current time.
pub async fn insert<C: ConnectionTrait>(
    db: &C,
    table: &str,
    values: &[(&str, Value)],
    now: &[&str],
) -> Result<(), DbErr> {
    let columns: Vec<String> =
        values.iter().map(|(c, _)| *c).chain(now.iter().copied()).map(|c| format!("\"{c}\"")).collect();
    let marks: Vec<&str> =
        values.iter().map(|_| "?").chain(now.iter().map(|_| "CURRENT_TIMESTAMP")).collect();
    let sql = format!("INSERT INTO \"{table}\" ({}) VALUES ({})", columns.join(", "), marks.join(", "));
    exec(db, &sql, values.iter().map(|(_, v)| v.clone()).collect()).await.map(|_| ())
}

/// `?` → `$1, $2, …` for PostgreSQL.
fn placeholders(backend: DbBackend, sql: &str) -> String {
    if backend != DbBackend::Postgres {
        return sql.to_owned();
    }
    let mut numbered = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            numbered.push_str(&format!("${n}"));
        } else {
            numbered.push(c);
        }
    }
    numbered
}

/// Whether the error is a violated foreign key (`SQLITE_CONSTRAINT_FOREIGNKEY`, SQLSTATE 23503).
pub fn is_foreign_key_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)))
}

pub async fn open_sqlite(path: &Path, foreign_keys: bool) -> DatabaseConnection {
    let mut options = ConnectOptions::new(format!("sqlite://{}", path.display()));
    let file = path.to_owned();
    options.max_connections(1).sqlx_logging(false).map_sqlx_sqlite_opts(move |opts| {
        opts.filename(&file).create_if_missing(true).foreign_keys(foreign_keys)
    });
    sea_orm::Database::connect(options).await.expect("open the SQLite test database")
}

async fn open_postgres(url: &str, connections: u32) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url.to_owned());
    options.max_connections(connections).sqlx_logging(false);
    sea_orm::Database::connect(options).await.expect("open the PostgreSQL test database")
}

/// SQLite: every row whose key names a missing row, as `table rowid → parent`.
pub async fn foreign_key_violations(conn: &DatabaseConnection) -> Vec<String> {
    let rows = query(conn, "PRAGMA foreign_key_check", vec![]).await.expect("PRAGMA foreign_key_check");
    rows.iter()
        .map(|row| {
            let table = row.try_get_by_index::<String>(0).unwrap_or_default();
            let rowid = row.try_get_by_index::<Option<i64>>(1).ok().flatten().unwrap_or_default();
            let parent = row.try_get_by_index::<String>(2).unwrap_or_default();
            format!("{table} rowid {rowid} → {parent}")
        })
        .collect()
}

/// One tenant's rows: a row in every tenant table, each referencing the tenant's own rows.
#[derive(Clone, Copy, Debug)]
pub struct Tenant {
    pub id: Uuid,
    pub user: Uuid,
    pub prompt: Uuid,
    pub version: Uuid,
    pub connection: Uuid,
    pub run: Uuid,
    pub session: Uuid,
    pub token: Uuid,
    pub config: Uuid,
    pub audit: Uuid,
}

/// Rows of the tables every migration from 000005 on has (`ai_policies` and `prompt_runs`
/// included), named after `label`.
pub async fn seed_tenant<C: ConnectionTrait>(db: &C, label: &str) -> Tenant {
    let t = Tenant {
        id: Uuid::now_v7(),
        user: Uuid::now_v7(),
        prompt: Uuid::now_v7(),
        version: Uuid::now_v7(),
        connection: Uuid::now_v7(),
        run: Uuid::now_v7(),
        session: Uuid::now_v7(),
        token: Uuid::now_v7(),
        config: Uuid::now_v7(),
        audit: Uuid::now_v7(),
    };
    insert_tenant(db, t.id, label).await.expect("insert a tenant");
    insert_user(db, t.id, t.user, &format!("{label}@example.test")).await.expect("insert a user");
    insert_prompt(db, t.id, t.prompt, Some(t.user), &format!("{label}-prompt"))
        .await
        .expect("insert a prompt");
    insert_version(db, t.id, t.version, t.prompt, 1, Some(t.user)).await.expect("insert a version");
    insert_connection(db, t.id, t.connection, Some(t.user)).await.expect("insert a connection");
    insert_policy(db, t.id, Some(t.connection), Some(t.connection)).await.expect("insert a policy");
    insert_run(db, t.id, t.run, Some(t.user), Some(t.prompt), Some(t.connection))
        .await
        .expect("insert a run");
    insert_session(db, t.id, t.session, t.user).await.expect("insert a session");
    insert_token(db, t.id, t.token, t.user).await.expect("insert an API token");
    insert_config(db, t.id, t.config, Some(t.user)).await.expect("insert a setting");
    insert(
        db,
        "audit_events",
        &[
            ("id", t.audit.into()),
            ("tenant_id", t.id.into()),
            ("action", "test".into()),
            ("target_type", "tenant".into()),
            ("details", "{}".into()),
        ],
        &["created_at"],
    )
    .await
    .expect("insert an audit event");
    t
}

/// A system-wide audit event (no tenant).
pub async fn insert_system_event<C: ConnectionTrait>(db: &C) -> Uuid {
    let id = Uuid::now_v7();
    insert(
        db,
        "audit_events",
        &[
            ("id", id.into()),
            ("action", "system".into()),
            ("target_type", "system".into()),
            ("details", "{}".into()),
        ],
        &["created_at"],
    )
    .await
    .expect("insert a system audit event");
    id
}

pub async fn insert_tenant<C: ConnectionTrait>(db: &C, id: Uuid, label: &str) -> Result<(), DbErr> {
    insert(
        db,
        "tenants",
        &[
            ("id", id.into()),
            ("name", label.into()),
            ("subdomain", format!("{label}-{}", id.simple()).into()),
            ("max_users", 10.into()),
            ("is_active", true.into()),
        ],
        &["created_at", "updated_at"],
    )
    .await
}

pub async fn insert_user<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    id: Uuid,
    email: &str,
) -> Result<(), DbErr> {
    insert(
        db,
        "users",
        &[
            ("id", id.into()),
            ("tenant_id", tenant.into()),
            ("email", email.into()),
            ("first_name", "Test".into()),
            ("last_name", "User".into()),
            ("role", "user".into()),
            ("is_active", true.into()),
        ],
        &["created_at", "updated_at"],
    )
    .await
}

/// A prompt named `name` whose title and content are "<name> title" and "<name> content".
pub async fn insert_prompt<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    id: Uuid,
    user: Option<Uuid>,
    name: &str,
) -> Result<(), DbErr> {
    insert(
        db,
        "prompts",
        &[
            ("id", id.into()),
            ("tenant_id", tenant.into()),
            ("user_id", user.into()),
            ("name", name.into()),
            ("name_key", name.to_lowercase().into()),
            ("name_scope", "".into()),
            ("title", format!("{name} title").into()),
            ("content", format!("{name} content").into()),
            ("category", "General".into()),
            ("tags", "[]".into()),
            ("is_enhancement_prompt", false.into()),
            ("visibility", "tenant".into()),
            ("version", 1.into()),
            ("updated_by", user.into()),
        ],
        &["created_at", "updated_at"],
    )
    .await
}

pub async fn insert_version<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    id: Uuid,
    prompt: Uuid,
    version: i32,
    author: Option<Uuid>,
) -> Result<(), DbErr> {
    insert(
        db,
        "prompt_versions",
        &[
            ("id", id.into()),
            ("tenant_id", tenant.into()),
            ("prompt_id", prompt.into()),
            ("version", version.into()),
            ("name", "v".into()),
            ("title", "v".into()),
            ("content", "v".into()),
            ("category", "General".into()),
            ("tags", "[]".into()),
            ("author_id", author.into()),
        ],
        &["created_at"],
    )
    .await
}

pub async fn insert_connection<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    id: Uuid,
    owner: Option<Uuid>,
) -> Result<(), DbErr> {
    let scope = owner.map(|o| o.to_string()).unwrap_or_default();
    let name = format!("conn-{}", id.simple());
    insert(
        db,
        "ai_connections",
        &[
            ("id", id.into()),
            ("tenant_id", tenant.into()),
            ("owner_id", owner.into()),
            ("name_scope", scope.into()),
            ("name", name.clone().into()),
            ("name_key", name.into()),
            ("provider", "openai".into()),
            ("base_url", "http://127.0.0.1:9/v1".into()),
            ("model", "m".into()),
            ("timeout_seconds", 30.into()),
        ],
        &["created_at", "updated_at"],
    )
    .await
}

pub async fn insert_policy<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    execution: Option<Uuid>,
    enhancement: Option<Uuid>,
) -> Result<(), DbErr> {
    insert(
        db,
        "ai_policies",
        &[
            ("tenant_id", tenant.into()),
            ("allow_user_connections", true.into()),
            ("execution_connection_id", execution.into()),
            ("enhancement_connection_id", enhancement.into()),
            ("run_retention_days", 30.into()),
            ("prices", "[]".into()),
        ],
        &["updated_at"],
    )
    .await
}

pub async fn insert_run<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    id: Uuid,
    user: Option<Uuid>,
    prompt: Option<Uuid>,
    connection: Option<Uuid>,
) -> Result<(), DbErr> {
    insert(
        db,
        "prompt_runs",
        &[
            ("id", id.into()),
            ("tenant_id", tenant.into()),
            ("user_id", user.into()),
            ("prompt_id", prompt.into()),
            ("kind", "run".into()),
            ("connection_id", connection.into()),
            ("connection_name", "c".into()),
            ("provider", "openai".into()),
            ("model", "m".into()),
            ("outcome", "ok".into()),
            ("latency_ms", 1_i64.into()),
        ],
        &["created_at"],
    )
    .await
}

pub async fn insert_session<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    id: Uuid,
    user: Uuid,
) -> Result<(), DbErr> {
    insert(
        db,
        "sessions",
        &[("id", id.into()), ("tenant_id", tenant.into()), ("user_id", user.into())],
        &["created_at", "expires_at"],
    )
    .await
}

pub async fn insert_token<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    id: Uuid,
    user: Uuid,
) -> Result<(), DbErr> {
    insert(
        db,
        "api_tokens",
        &[
            ("id", id.into()),
            ("tenant_id", tenant.into()),
            ("user_id", user.into()),
            ("name", "t".into()),
            ("prefix", "pm_".into()),
            ("token_hash", id.simple().to_string().into()),
            ("scope", "read".into()),
        ],
        &["created_at"],
    )
    .await
}

pub async fn insert_config<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    id: Uuid,
    user: Option<Uuid>,
) -> Result<(), DbErr> {
    insert(
        db,
        "config",
        &[
            ("id", id.into()),
            ("tenant_id", tenant.into()),
            ("user_id", user.into()),
            ("key", format!("k-{}", id.simple()).into()),
            ("value", "v".into()),
        ],
        &["created_at", "updated_at"],
    )
    .await
}

/// Runs `f`'s statements in one transaction on `conn` with `setting = value` set
/// transaction-locally (`None`: nothing set), then commits.
pub async fn in_transaction_with<T>(
    conn: &DatabaseConnection,
    setting: Option<(&str, &str)>,
    f: impl AsyncFnOnce(&sea_orm::DatabaseTransaction) -> T,
) -> T {
    let txn = conn.begin().await.expect("begin");
    if let Some((name, value)) = setting {
        query(&txn, "SELECT set_config(?, ?, true)", vec![name.into(), value.into()])
            .await
            .expect("set_config");
    }
    let out = f(&txn).await;
    txn.commit().await.ok();
    out
}

fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_TEST_POSTGRES_URL.to_owned())
}

/// The same URL pointing at another database on that server.
fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let server = match base.rfind('/') {
        Some(slash) if slash > base.find("://").map_or(0, |i| i + 2) => &base[..slash],
        _ => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***{}", &url[..scheme], &url[at..]),
        _ => url.to_owned(),
    }
}

/// Drops a test's PostgreSQL database when the test ends, passed or panicked.
struct DropDatabase {
    admin_url: String,
    name: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        // Drop runs outside async: a private runtime on its own thread. FORCE ends the test's
        // own connections.
        let admin_url = self.admin_url.clone();
        let drop_sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let admin = sea_orm::Database::connect(&admin_url).await.ok()?;
                admin.execute_unprepared(&drop_sql).await.ok()?;
                admin.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

/// Rows of the single sign-on tables (migration 000012): settings, a sign-in in progress and a
/// used SAML assertion of `tenant`.
pub async fn seed_sso<C: ConnectionTrait>(db: &C, tenant: &Tenant) {
    let text = |s: &str| -> Value { s.into() };
    insert(
        db,
        "sso_configs",
        &[
            ("tenant_id", tenant.id.into()),
            ("protocol", text("oidc")),
            ("enabled", true.into()),
            ("allowed_domains", text("[]")),
            ("default_role", text("user")),
            ("role_rules", text("[]")),
            ("create_users", false.into()),
            ("password_sign_in", true.into()),
        ],
        &["created_at", "updated_at"],
    )
    .await
    .expect("insert SSO settings");
    let flow = Uuid::now_v7();
    insert(
        db,
        "sso_flows",
        &[
            ("id", flow.into()),
            ("tenant_id", tenant.id.into()),
            ("state_hash", flow.to_string().into()),
            ("browser_hash", text("b")),
            ("purpose", text("sign_in")),
            ("protocol", text("oidc")),
            ("handoff_user_id", tenant.user.into()),
        ],
        &["created_at", "expires_at"],
    )
    .await
    .expect("insert a sign-in in progress");
    insert(
        db,
        "sso_assertions",
        &[("tenant_id", tenant.id.into()), ("assertion_id", flow.to_string().into())],
        &["expires_at"],
    )
    .await
    .expect("insert a used assertion");
}

/// Rows of the tables migrations from 000014 on add to the prompt library: a prompt's include
/// of another (`tenant`'s own prompt, by name), and a release label with its move (000015).
pub async fn seed_library_links<C: ConnectionTrait>(db: &C, tenant: &Tenant) {
    insert(
        db,
        "prompt_includes",
        &[
            ("tenant_id", tenant.id.into()),
            ("prompt_id", tenant.prompt.into()),
            ("target_key", "snippets/tone".into()),
            ("pinned_version", 0i32.into()),
            ("pinned_label", "production".into()),
        ],
        &[],
    )
    .await
    .expect("insert an include");
    insert(
        db,
        "prompt_labels",
        &[
            ("tenant_id", tenant.id.into()),
            ("prompt_id", tenant.prompt.into()),
            ("name", "production".into()),
            ("version", 1i32.into()),
        ],
        &["moved_at"],
    )
    .await
    .expect("insert a label");
    insert(
        db,
        "prompt_label_moves",
        &[
            ("id", Uuid::now_v7().into()),
            ("tenant_id", tenant.id.into()),
            ("prompt_id", tenant.prompt.into()),
            ("label", "production".into()),
            ("to_version", 1i32.into()),
        ],
        &["moved_at"],
    )
    .await
    .expect("insert a label move");
    insert(
        db,
        "release_policies",
        &[
            ("tenant_id", tenant.id.into()),
            ("protected_labels", r#"["production"]"#.into()),
            ("require_approval", true.into()),
            ("approval_hours", 24i32.into()),
        ],
        &["updated_at"],
    )
    .await
    .expect("insert a release policy");
    insert(
        db,
        "label_approvals",
        &[
            ("id", Uuid::now_v7().into()),
            ("tenant_id", tenant.id.into()),
            ("prompt_id", tenant.prompt.into()),
            ("label", "production".into()),
            ("to_version", 1i32.into()),
            ("status", "pending".into()),
            ("open_label", "production".into()),
        ],
        &["requested_at", "expires_at"],
    )
    .await
    .expect("insert an approval request");
    insert(
        db,
        "label_fetch_counts",
        &[
            ("tenant_id", tenant.id.into()),
            ("prompt_id", tenant.prompt.into()),
            ("label", "production".into()),
            ("version", 1i32.into()),
            ("day", "2026-12-03".into()),
            ("fetches", 3i64.into()),
        ],
        &[],
    )
    .await
    .expect("insert a fetch count");
    let endpoint = Uuid::now_v7();
    insert(
        db,
        "webhook_endpoints",
        &[
            ("id", endpoint.into()),
            ("tenant_id", tenant.id.into()),
            ("url", "https://hooks.example.test/in".into()),
            ("events", r#"["prompt.updated"]"#.into()),
            ("enabled", true.into()),
            ("secret", "sealed".into()),
        ],
        &["created_at", "updated_at"],
    )
    .await
    .expect("insert a webhook endpoint");
    let delivery = Uuid::now_v7();
    insert(
        db,
        "webhook_deliveries",
        &[
            ("id", delivery.into()),
            ("tenant_id", tenant.id.into()),
            ("endpoint_id", endpoint.into()),
            ("event", "prompt.updated".into()),
            ("payload", "{}".into()),
            ("status", "pending".into()),
            ("attempts", 1i32.into()),
        ],
        &["next_attempt_at", "created_at"],
    )
    .await
    .expect("insert a webhook delivery");
    insert(
        db,
        "webhook_attempts",
        &[
            ("tenant_id", tenant.id.into()),
            ("delivery_id", delivery.into()),
            ("attempt", 1i32.into()),
            ("status_code", 500i32.into()),
            ("duration_ms", 12i32.into()),
        ],
        &["at"],
    )
    .await
    .expect("insert a webhook attempt");
}
