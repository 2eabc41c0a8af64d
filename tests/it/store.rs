use eldercare::store::{self, timescale};
use sqlx::PgPool;

use crate::support::fresh_database;

#[tokio::test]
async fn migrations_apply_on_an_empty_database_and_reapply_cleanly() {
    let url = fresh_database().await;
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

#[tokio::test]
async fn time_series_tables_take_the_timescaledb_path_when_available() {
    let url = fresh_database().await;
    let pool = PgPool::connect(&url).await.unwrap();
    let mode = store::migrate(&pool).await.unwrap();
    if !timescale::available(&pool).await.unwrap() {
        assert_eq!(mode, timescale::Mode::Plain);
        eprintln!("SKIPPED: timescaledb is not installed on this server; the plain path was used");
        return;
    }
    assert_eq!(mode, timescale::Mode::Timescale);
    let hypertables: Vec<String> =
        sqlx::query_scalar("select hypertable_name::text from timescaledb_information.hypertables order by 1")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(hypertables, vec!["events".to_owned(), "readings".to_owned()]);
    let cagg: bool = sqlx::query_scalar(
        "select exists (select 1 from timescaledb_information.continuous_aggregates where view_name = 'readings_hourly')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(cagg);
    // Idempotent on the TimescaleDB path too.
    assert_eq!(store::migrate(&pool).await.unwrap(), timescale::Mode::Timescale);
}
