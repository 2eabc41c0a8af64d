//! The TimescaleDB path. Migrations create plain tables that work everywhere;
//! when the `timescaledb` extension can be loaded, this turns the time-series
//! tables into hypertables with compression, retention and an hourly
//! continuous aggregate. Statements that TimescaleDB forbids inside a
//! transaction (continuous aggregates) are why this is code and not a
//! migration file. Queries shared by both paths use plain SQL (`date_bin`,
//! not `time_bucket`); the one that differs, bucketed readings, keeps its two
//! shapes side by side in `store::data`.
//!
//! A server with the extension's files whose `shared_preload_libraries` does
//! not name it cannot load it: that server runs the plain path, and says so
//! at start with a warning naming the setting ([`Why::NotPreloaded`]).

use sqlx::PgPool;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plain,
    Timescale,
}

/// Why [`setup`] took the path it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The server has no `timescaledb` extension: plain tables.
    NotInstalled,
    /// The extension is installed but `shared_preload_libraries` does not
    /// name it, so it cannot be loaded: plain tables, and a warning.
    NotPreloaded,
    /// Preloaded, yet `create extension` failed (a version mismatch, say):
    /// plain tables, and a warning with the cause.
    CreateFailed,
    /// Loaded: hypertables and the continuous aggregate.
    Loaded,
}

/// The path the database took, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    pub mode: Mode,
    pub why: Why,
}

impl Setup {
    fn plain(why: Why) -> Self {
        Setup { mode: Mode::Plain, why }
    }
}

/// How long raw rows are kept on TimescaleDB before retention drops them.
const RETENTION: &str = "400 days";
/// Chunks older than this are compressed.
const COMPRESS_AFTER: &str = "7 days";
/// How far back the continuous aggregate is refreshed: the ingest accepts
/// readings up to 30 days late, and a late reading must reach its hour.
const REFRESH_START: &str = "31 days";
/// The last hour is left to real-time aggregation (read from raw rows at
/// query time), so it is not materialized while it still fills.
const REFRESH_END: &str = "1 hour";
const REFRESH_EVERY: &str = "5 minutes";

/// Whether the server has the extension's files.
pub async fn available(pool: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists (select 1 from pg_available_extensions where name = 'timescaledb')")
        .fetch_one(pool)
        .await
}

/// Whether `shared_preload_libraries` names timescaledb (the extension
/// cannot be loaded otherwise).
pub async fn preloaded(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let libraries: String =
        sqlx::query_scalar("select current_setting('shared_preload_libraries')").fetch_one(pool).await?;
    Ok(names_timescaledb(&libraries))
}

fn names_timescaledb(libraries: &str) -> bool {
    libraries.split(',').map(|l| l.trim().trim_matches('"')).any(|l| l == "timescaledb" || l.ends_with("/timescaledb"))
}

pub async fn setup(pool: &PgPool) -> Result<Setup, sqlx::Error> {
    if !available(pool).await? {
        return Ok(Setup::plain(Why::NotInstalled));
    }
    if !preloaded(pool).await? {
        tracing::warn!(
            "timescaledb is installed but shared_preload_libraries does not name it, so it cannot be loaded: \
             using plain tables (add timescaledb to shared_preload_libraries and restart PostgreSQL for the \
             TimescaleDB path)"
        );
        return Ok(Setup::plain(Why::NotPreloaded));
    }
    if let Err(err) = sqlx::query("create extension if not exists timescaledb").execute(pool).await {
        tracing::warn!(cause = %err, "timescaledb is preloaded but cannot be created; using plain tables");
        return Ok(Setup::plain(Why::CreateFailed));
    }
    // The plain path's change tracking: hypertables refuse (or, newer, only
    // half support) transition tables, and the continuous aggregate tracks
    // changes itself. Chunks have their own time index.
    sqlx::query("drop trigger if exists readings_mark_hours on readings").execute(pool).await?;
    sqlx::query("drop index if exists readings_ts_brin").execute(pool).await?;
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
    hourly_aggregate(pool).await?;
    Ok(Setup { mode: Mode::Timescale, why: Why::Loaded })
}

/// `readings_hourly` as a continuous aggregate with the plain rollup
/// table's columns (sum and count, so hours add up to days), refreshed as
/// far back as late data reaches, with real-time aggregation for what is
/// not materialized yet. Replaces the plain table the migrations made, and
/// the first aggregate this product shipped (it stored `avg`).
async fn hourly_aggregate(pool: &PgPool) -> Result<(), sqlx::Error> {
    // 'r' the migrations' table, 'v' a continuous aggregate's view, none.
    let kind: Option<String> =
        sqlx::query_scalar("select c.relkind::text from pg_class c where c.oid = to_regclass('readings_hourly')")
            .fetch_optional(pool)
            .await?;
    let has_sum: bool = sqlx::query_scalar(
        "select exists (select 1 from pg_attribute
                        where attrelid = to_regclass('readings_hourly') and attname = 'sum' and not attisdropped)",
    )
    .fetch_one(pool)
    .await?;
    match kind.as_deref() {
        Some("r") => {
            sqlx::query("drop table readings_hourly").execute(pool).await?;
        }
        Some(_) if !has_sum => {
            tracing::info!("replacing the hourly continuous aggregate (avg) with one of sums and counts");
            sqlx::query("drop materialized view if exists readings_hourly").execute(pool).await?;
        }
        Some(_) => return Ok(()),
        None => {}
    }
    sqlx::query(
        "create materialized view if not exists readings_hourly
         with (timescaledb.continuous, timescaledb.materialized_only = false) as
         select resident_id, metric, time_bucket(interval '1 hour', ts) as bucket,
                count(*) as count, sum(value) as sum, min(value) as min, max(value) as max
         from readings group by resident_id, metric, time_bucket(interval '1 hour', ts)
         with no data",
    )
    .execute(pool)
    .await?;
    // Everything already stored, once: the policy only looks back
    // REFRESH_START, and real-time aggregation only covers what lies past
    // the materialized part.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "call refresh_continuous_aggregate('readings_hourly', null, now() - interval '{REFRESH_END}')"
    )))
    .execute(pool)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "select add_continuous_aggregate_policy('readings_hourly', \
         start_offset => interval '{REFRESH_START}', end_offset => interval '{REFRESH_END}', \
         schedule_interval => interval '{REFRESH_EVERY}', if_not_exists => true)"
    )))
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::names_timescaledb;

    #[test]
    fn shared_preload_libraries_is_read_as_a_list() {
        assert!(names_timescaledb("timescaledb"));
        assert!(names_timescaledb("pg_stat_statements, timescaledb"));
        assert!(names_timescaledb("\"$libdir/timescaledb\""));
        assert!(!names_timescaledb(""));
        assert!(!names_timescaledb("pg_stat_statements"));
        assert!(!names_timescaledb("timescaledb_toolkit"));
    }
}
