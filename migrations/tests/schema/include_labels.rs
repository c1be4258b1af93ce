//! `m20261203_000018_include_labels`: a prompt may include another by version and by several
//! labels at once; existing includes survive the migration, and rolling it back drops only
//! the label pins.

use migrations::{Migrator, MigratorTrait};
use sea_orm::{DbErr, Value};

use crate::support::*;

on_both_databases!(includes_pinned_by_label_migrate_both_ways);

async fn include(db: &TestDb, tenant: &Tenant, version: i32, label: Option<&str>) -> Result<(), DbErr> {
    let mut values: Vec<(&str, Value)> = vec![
        ("tenant_id", tenant.id.into()),
        ("prompt_id", tenant.prompt.into()),
        ("target_key", "snippets/tone".into()),
        ("pinned_version", version.into()),
    ];
    if let Some(label) = label {
        values.push(("pinned_label", label.into()));
    }
    insert(&db.conn, "prompt_includes", &values, &[]).await
}

async fn includes_pinned_by_label_migrate_both_ways(kind: Kind) {
    let before = u32::try_from(Migrator::migrations().len() - 1).unwrap();
    let db = TestDb::new(kind, Some(before)).await;
    let tenant = seed_tenant(&db.conn, "a").await;
    include(&db, &tenant, 2, None).await.expect("a version pin before the migration");

    db.migrate(None).await.expect("migrate");
    let unlabelled = "SELECT COUNT(*) FROM prompt_includes WHERE pinned_version = 2 AND pinned_label = ''";
    assert_eq!(db.number(unlabelled, vec![]).await, 1, "the old include kept, without a label");
    include(&db, &tenant, 0, Some("production")).await.expect("by one label");
    include(&db, &tenant, 0, Some("staging")).await.expect("and by another");
    include(&db, &tenant, 0, None).await.expect("and following the current version");
    include(&db, &tenant, 0, Some("staging")).await.expect_err("the same pin is one row");
    assert_eq!(db.count("prompt_includes").await, 4);
    let stranger = Tenant { prompt: uuid::Uuid::now_v7(), ..tenant };
    let err = include(&db, &stranger, 0, None).await.expect_err("the includer must exist");
    assert!(is_foreign_key_violation(&err), "{err}");

    db.roll_back(1).await.expect("roll back");
    assert_eq!(db.count("prompt_includes").await, 2, "only the label pins are dropped");
    let pinned = "SELECT COUNT(*) FROM prompt_includes WHERE pinned_version = 2";
    assert_eq!(db.number(pinned, vec![]).await, 1);
    db.migrate(None).await.expect("migrate again");
    assert_eq!(db.number(unlabelled, vec![]).await, 1);
    assert_eq!(db.count("prompt_includes").await, 2);
}
