//! The TimescaleDB path. Migrations create plain tables that work everywhere;
//! when the `timescaledb` extension can be loaded, this turns the time-series
//! tables into hypertables with compression, retention and an hourly
//! continuous aggregate. Statements that TimescaleDB forbids inside a
//! transaction (continuous aggregates) are why this is code and not a
//! migration file. Every query the application runs uses plain SQL
//! (`date_bin`, not `time_bucket`), so answers are the same on both paths.

use sqlx::PgPool;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plain,
    Timescale,
}

/// How long raw rows are kept on TimescaleDB before retention drops them.
const RETENTION: &str = "400 days";
/// Chunks older than this are compressed.
const COMPRESS_AFTER: &str = "7 days";

pub async fn available(pool: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists (select 1 from pg_available_extensions where name = 'timescaledb')")
        .fetch_one(pool)
        .await
}

pub async fn setup(pool: &PgPool) -> Result<Mode, sqlx::Error> {
    if !available(pool).await? {
        return Ok(Mode::Plain);
    }
    if let Err(err) = sqlx::query("create extension if not exists timescaledb").execute(pool).await {
        // Installed but not preloaded (shared_preload_libraries): run plain
        // rather than refuse to start.
        tracing::warn!(cause = %err, "timescaledb is installed but cannot be loaded; using plain tables");
        return Ok(Mode::Plain);
    }
    for (table, segment_by) in [("readings", "device_id, metric"), ("events", "device_id")] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "select create_hypertable('{table}', by_range('ts', interval '1 day'), \
             if_not_exists => true, migrate_data => true)"
        )))
        .execute(pool)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "alter table {table} set (timescaledb.compress, \
             timescaledb.compress_segmentby = '{segment_by}', timescaledb.compress_orderby = 'ts desc')"
        )))
        .execute(pool)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "select add_compression_policy('{table}', interval '{COMPRESS_AFTER}', if_not_exists => true)"
        )))
        .execute(pool)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "select add_retention_policy('{table}', interval '{RETENTION}', if_not_exists => true)"
        )))
        .execute(pool)
        .await?;
    }
    sqlx::query(
        "create materialized view if not exists readings_hourly \
         with (timescaledb.continuous) as \
         select time_bucket(interval '1 hour', ts) as bucket, resident_id, metric, \
                avg(value) as avg, min(value) as min, max(value) as max, count(*) as count \
         from readings group by 1, 2, 3 with no data",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "select add_continuous_aggregate_policy('readings_hourly', \
         start_offset => interval '3 days', end_offset => interval '1 hour', \
         schedule_interval => interval '30 minutes', if_not_exists => true)",
    )
    .execute(pool)
    .await?;
    Ok(Mode::Timescale)
}
