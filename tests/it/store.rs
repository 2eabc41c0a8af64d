use eldercare::store::{self, timescale};
use sqlx::PgPool;

use crate::support::empty_database;

#[tokio::test]
async fn migrations_apply_on_an_empty_database_and_reapply_cleanly() {
    let url = empty_database().await;
    let pool = PgPool::connect(&url).await.unwrap();
    store::migrate(&pool).await.unwrap();
    let applied: i64 =
        sqlx::query_scalar("select count(*) from _sqlx_migrations where success").fetch_one(&pool).await.unwrap();
    assert_eq!(applied as usize, store::MIGRATOR.iter().count());
    // Second run: nothing to do, no error.
    store::migrate(&pool).await.unwrap();
    let again: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations").fetch_one(&pool).await.unwrap();
    assert_eq!(again, applied);
    for table in [
        "institutions",
        "users",
        "sessions",
        "residents",
        "devices",
        "device_state",
        "readings",
        "events",
        "quarantine",
    ] {
        let exists: bool =
            sqlx::query_scalar("select to_regclass($1) is not null").bind(table).fetch_one(&pool).await.unwrap();
        assert!(exists, "table {table}");
    }
}

/// The TimescaleDB path is taken exactly where the extension can be loaded:
/// installed and named in `shared_preload_libraries`. Installed but not
/// preloaded, the server runs plain tables and `setup` says why (the
/// start-up warning's condition); not installed, plain tables.
#[tokio::test]
async fn time_series_tables_take_the_timescaledb_path_when_available() {
    let url = empty_database().await;
    let pool = PgPool::connect(&url).await.unwrap();
    let setup = store::migrate(&pool).await.unwrap();
    // Judged here from the server's catalog and settings, not by setup's code.
    let installed: bool =
        sqlx::query_scalar("select exists (select 1 from pg_available_extensions where name = 'timescaledb')")
            .fetch_one(&pool)
            .await
            .unwrap();
    let preload: String =
        sqlx::query_scalar("select current_setting('shared_preload_libraries')").fetch_one(&pool).await.unwrap();
    let preloaded = preload.split(',').any(|l| l.trim().trim_matches('"').ends_with("timescaledb"));
    let hourly_kind: String =
        sqlx::query_scalar("select relkind::text from pg_class where oid = to_regclass('readings_hourly')")
            .fetch_one(&pool)
            .await
            .unwrap();
    if !installed {
        assert_eq!(setup, timescale::Setup { mode: timescale::Mode::Plain, why: timescale::Why::NotInstalled });
        assert_eq!(hourly_kind, "r", "the plain rollup table");
        eprintln!("SKIPPED: timescaledb is not installed on this server; the plain path was used");
        return;
    }
    if !preloaded {
        assert_eq!(setup, timescale::Setup { mode: timescale::Mode::Plain, why: timescale::Why::NotPreloaded });
        assert_eq!(hourly_kind, "r", "the plain rollup table");
        eprintln!("SKIPPED: timescaledb is installed but not preloaded; the plain path was used, with a warning");
        return;
    }
    assert_eq!(setup, timescale::Setup { mode: timescale::Mode::Timescale, why: timescale::Why::Loaded });
    let hypertables: Vec<String> =
        sqlx::query_scalar("select hypertable_name::text from timescaledb_information.hypertables order by 1")
            .fetch_all(&pool)
            .await
            .unwrap();
    // The continuous aggregate's own materialization hypertable lives in
    // TimescaleDB's internal schema.
    assert!(hypertables.contains(&"events".to_owned()) && hypertables.contains(&"readings".to_owned()));
    let (realtime, columns): (bool, Vec<String>) = sqlx::query_as(
        "select not a.materialized_only,
                array(select attname::text from pg_attribute
                      where attrelid = 'readings_hourly'::regclass and attnum > 0 and not attisdropped order by attnum)
         from timescaledb_information.continuous_aggregates a where a.view_name = 'readings_hourly'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(realtime, "real-time aggregation");
    assert_eq!(columns, ["resident_id", "metric", "bucket", "count", "sum", "min", "max"]);
    let start_offset: String = sqlx::query_scalar(
        "select config->>'start_offset' from timescaledb_information.jobs
         where proc_name = 'policy_refresh_continuous_aggregate'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(start_offset, "31 days", "the refresh reaches as far back as late data");
    let trigger: bool =
        sqlx::query_scalar("select exists (select 1 from pg_trigger where tgname = 'readings_mark_hours')")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!trigger, "the plain path's trigger is gone from the hypertable");
    // Idempotent on the TimescaleDB path too.
    assert_eq!(store::migrate(&pool).await.unwrap().mode, timescale::Mode::Timescale);
}
