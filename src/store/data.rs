//! What the devices measured and reported, per resident: readings and
//! events.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{EventKind, Metric};

#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Point {
    pub ts: DateTime<Utc>,
    pub value: f64,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct BucketPoint {
    pub ts: DateTime<Utc>,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    pub count: i64,
}

/// A resident's readings of one metric in `[from, to]`, oldest first.
pub async fn readings(
    pool: &PgPool,
    resident_id: Uuid,
    metric: Metric,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Point>, sqlx::Error> {
    sqlx::query_as(
        "select ts, value from readings
         where resident_id = $1 and metric = $2 and ts >= $3 and ts <= $4
         order by ts limit $5",
    )
    .bind(resident_id)
    .bind(metric.as_str())
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The same readings summed up per `interval` (a PostgreSQL interval),
/// with `date_bin`: the same answers with or without TimescaleDB.
pub async fn buckets(
    pool: &PgPool,
    resident_id: Uuid,
    metric: Metric,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    interval: &str,
    limit: i64,
) -> Result<Vec<BucketPoint>, sqlx::Error> {
    sqlx::query_as(
        "select date_bin($5::interval, ts, timestamptz '2000-01-01 00:00:00+00') as ts,
                avg(value) as avg, min(value) as min, max(value) as max, count(*) as count
         from readings
         where resident_id = $1 and metric = $2 and ts >= $3 and ts <= $4
         group by 1 order by 1 limit $6",
    )
    .bind(resident_id)
    .bind(metric.as_str())
    .bind(from)
    .bind(to)
    .bind(interval)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The latest reading of each of `metrics` in `[since, before)`; metrics
/// without one are left out.
pub async fn latest(
    pool: &PgPool,
    resident_id: Uuid,
    metrics: &[Metric],
    since: DateTime<Utc>,
    before: DateTime<Utc>,
) -> Result<Vec<(Metric, f64, DateTime<Utc>)>, sqlx::Error> {
    // One index probe per metric rather than a scan of all readings.
    sqlx::query_as(
        "select m.metric, r.value, r.ts from unnest($2::text[]) as m (metric)
         cross join lateral (select value, ts from readings
                             where resident_id = $1 and metric = m.metric and ts < $3 and ts >= $4
                             order by ts desc limit 1) r",
    )
    .bind(resident_id)
    .bind(metrics)
    .bind(before)
    .bind(since)
    .fetch_all(pool)
    .await
}

/// The spread of one metric's readings over a time span.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Stats {
    #[serde(skip)]
    pub metric: Metric,
    pub min: f64,
    pub max: f64,
    pub count: i64,
}

/// The spread of each of `metrics` in `[from, to)`; metrics without readings
/// are left out.
pub async fn stats(
    pool: &PgPool,
    resident_id: Uuid,
    metrics: &[Metric],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Stats>, sqlx::Error> {
    sqlx::query_as(
        "select metric, min(value) as min, max(value) as max, count(*) as count from readings
         where resident_id = $1 and metric = any($2) and ts >= $3 and ts < $4
         group by metric",
    )
    .bind(resident_id)
    .bind(metrics)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct StoredEvent {
    pub ts: DateTime<Utc>,
    pub kind: EventKind,
    pub device_id: String,
    pub data: Value,
}

/// A resident's events in `[from, to]`, of `kinds` when given, oldest first.
pub async fn events(
    pool: &PgPool,
    resident_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    kinds: Option<&[EventKind]>,
    limit: i64,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    sqlx::query_as(
        "select ts, kind, device_id, data from events
         where resident_id = $1 and ts >= $2 and ts <= $3 and ($4::text[] is null or kind = any($4))
         order by ts limit $5",
    )
    .bind(resident_id)
    .bind(from)
    .bind(to)
    .bind(kinds)
    .bind(limit)
    .fetch_all(pool)
    .await
}
