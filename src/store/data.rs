//! What the devices measured and reported, per resident: readings and
//! events.

use crate::domain::scope::{Monitoring, Reached};
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::domain::{EventKind, Metric};
use crate::store::timescale::Mode;

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
    resident: &Reached<Monitoring>,
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
    .bind(resident.id())
    .bind(metric.as_str())
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The contract's bucket widths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Minute,
    FiveMinutes,
    QuarterHour,
    Hour,
    Day,
}

impl Bucket {
    pub fn parse(s: &str) -> Option<Bucket> {
        Some(match s {
            "1m" => Bucket::Minute,
            "5m" => Bucket::FiveMinutes,
            "15m" => Bucket::QuarterHour,
            "1h" => Bucket::Hour,
            "1d" => Bucket::Day,
            _ => return None,
        })
    }

    /// As a PostgreSQL interval.
    fn interval(self) -> &'static str {
        match self {
            Bucket::Minute => "1 minute",
            Bucket::FiveMinutes => "5 minutes",
            Bucket::QuarterHour => "15 minutes",
            Bucket::Hour => "1 hour",
            Bucket::Day => "1 day",
        }
    }

    /// Made of whole hours, so it can be summed up from the hourly rollup.
    fn whole_hours(self) -> bool {
        matches!(self, Bucket::Hour | Bucket::Day)
    }
}

/// Where bucketed readings of an hour or more come from, chosen once at
/// start from the path `store::timescale::setup` took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadPath {
    /// Raw readings only: `reads.rollups = false`, a diagnostic.
    Raw,
    /// Plain PostgreSQL: the `readings_hourly` table up to
    /// `rollup_state.rolled_until` (store::rollups), raw readings after it.
    Rollup,
    /// TimescaleDB: the `readings_hourly` continuous aggregate, whose
    /// real-time aggregation adds what is not materialized yet.
    ContinuousAggregate,
}

impl ReadPath {
    pub fn choose(mode: Mode, rollups: bool) -> ReadPath {
        match (mode, rollups) {
            (_, false) => ReadPath::Raw,
            (Mode::Plain, true) => ReadPath::Rollup,
            (Mode::Timescale, true) => ReadPath::ContinuousAggregate,
        }
    }
}

/// Every bucket from raw readings: `date_bin`, the same with or without
/// TimescaleDB. Buckets finer than an hour always come from here.
const BUCKETS_RAW: &str = "
    select date_bin($5::interval, ts, timestamptz '2000-01-01 00:00:00+00') as ts,
           avg(value) as avg, min(value) as min, max(value) as max, count(*) as count
    from readings
    where resident_id = $1 and metric = $2 and ts >= $3 and ts <= $4
    group by 1 order by 1 limit $6";

/// Hours and days, plain PostgreSQL. The whole hours `[$6, $7)` of the
/// window that the rollup has reached come from `readings_hourly`, except
/// those marked in `rollup_dirty` (readings arrived since their last run);
/// those, the partial hours at the window's edges and the hours not rolled up
/// yet (the current one, and any after a pause of the scheduler) come from
/// raw readings, each part by an index range. One statement, so one
/// snapshot: a reading and its hour's mark commit together, and a run
/// replaces an hour and consumes its mark together, so the answer is always
/// that of the raw readings. Hours add up to days because they hold sums and
/// counts, and both are UTC-aligned (`date_bin` from 2000-01-01 00:00 UTC),
/// as the raw query's buckets are.
const BUCKETS_ROLLUP: &str = "
    with rolled as materialized (
        select least($7, coalesce(
            (select rolled_until from rollup_state where name = 'readings_hourly'), $6)) as until
    ), marked as materialized (
        select distinct hour from rollup_dirty, rolled where hour >= $6 and hour < rolled.until
    ), parts as (
        select h.bucket as ts, h.count, h.sum, h.min, h.max
        from readings_hourly h
        where h.resident_id = $1 and h.metric = $2 and h.bucket >= $6
          and h.bucket < (select until from rolled)
          and h.bucket not in (select hour from marked)
      union all
        select date_bin($5::interval, r.ts, timestamptz '2000-01-01 00:00:00+00'),
               count(*), sum(r.value), min(r.value), max(r.value)
        from marked m
        join readings r on r.resident_id = $1 and r.metric = $2
                       and r.ts >= m.hour and r.ts < m.hour + interval '1 hour'
        group by 1
      union all
        select date_bin($5::interval, ts, timestamptz '2000-01-01 00:00:00+00'),
               count(*), sum(value), min(value), max(value)
        from readings
        where resident_id = $1 and metric = $2 and ts >= $3 and ts <= $4 and ts < $6
        group by 1
      union all
        select date_bin($5::interval, ts, timestamptz '2000-01-01 00:00:00+00'),
               count(*), sum(value), min(value), max(value)
        from readings
        where resident_id = $1 and metric = $2 and ts >= $3 and ts <= $4
          and ts >= greatest($6, (select until from rolled))
        group by 1
    )
    select date_bin($5::interval, ts, timestamptz '2000-01-01 00:00:00+00') as ts,
           (sum(sum) / sum(count)::float8) as avg, min(min) as min, max(max) as max, sum(count)::int8 as count
    from parts group by 1 order by 1 limit $8";

/// Hours and days, TimescaleDB: the same shape as [`BUCKETS_ROLLUP`], with
/// the whole hours from the continuous aggregate (materialized, and past its
/// watermark aggregated from raw rows at query time), and only the window's
/// partial edge hours from raw readings. Unlike the plain path, a late
/// reading into a materialized hour shows once the refresh policy has run
/// (every 5 minutes): TimescaleDB keeps its invalidations to itself.
const BUCKETS_AGGREGATE: &str = "
    with parts as (
        select h.bucket as ts, h.count, h.sum, h.min, h.max
        from readings_hourly h
        where h.resident_id = $1 and h.metric = $2 and h.bucket >= $6 and h.bucket < $7
      union all
        select date_bin($5::interval, ts, timestamptz '2000-01-01 00:00:00+00'),
               count(*), sum(value), min(value), max(value)
        from readings
        where resident_id = $1 and metric = $2 and ts >= $3 and ts <= $4 and ts < $6
        group by 1
      union all
        select date_bin($5::interval, ts, timestamptz '2000-01-01 00:00:00+00'),
               count(*), sum(value), min(value), max(value)
        from readings
        where resident_id = $1 and metric = $2 and ts >= $3 and ts <= $4 and ts >= greatest($6, $7)
        group by 1
    )
    select date_bin($5::interval, ts, timestamptz '2000-01-01 00:00:00+00') as ts,
           (sum(sum) / sum(count)::float8) as avg, min(min) as min, max(max) as max, sum(count)::int8 as count
    from parts group by 1 order by 1 limit $8";

/// The whole hours inside `[from, to]`: from the first hour starting at or
/// after `from` to the end of the last one ending at or before `to` (empty
/// when none fits).
pub fn whole_hours(from: DateTime<Utc>, to: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let hour = Duration::hours(1);
    let floor = |t: DateTime<Utc>| t.duration_trunc(hour).unwrap_or(t);
    let start = if floor(from) == from { from } else { floor(from) + hour };
    let end = floor(to).max(start);
    (start, end)
}

/// The same readings summed up per `bucket`: the same answers on every
/// path (avg up to floating-point rounding).
#[allow(clippy::too_many_arguments)]
pub async fn buckets(
    pool: &PgPool,
    path: ReadPath,
    resident: &Reached<Monitoring>,
    metric: Metric,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket: Bucket,
    limit: i64,
) -> Result<Vec<BucketPoint>, sqlx::Error> {
    let sql = match path {
        ReadPath::Rollup if bucket.whole_hours() => BUCKETS_ROLLUP,
        ReadPath::ContinuousAggregate if bucket.whole_hours() => BUCKETS_AGGREGATE,
        _ => {
            return sqlx::query_as(BUCKETS_RAW)
                .bind(resident.id())
                .bind(metric.as_str())
                .bind(from)
                .bind(to)
                .bind(bucket.interval())
                .bind(limit)
                .fetch_all(pool)
                .await;
        }
    };
    let query =
        sqlx::query_as(sql).bind(resident.id()).bind(metric.as_str()).bind(from).bind(to).bind(bucket.interval());
    let (start, end) = whole_hours(from, to);
    query.bind(start).bind(end).bind(limit).fetch_all(pool).await
}

/// The latest reading of each of `metrics` in `[since, before)`; metrics
/// without one are left out.
pub async fn latest(
    pool: &PgPool,
    resident_id: &Reached<Monitoring>,
    metrics: &[Metric],
    since: DateTime<Utc>,
    before: DateTime<Utc>,
) -> Result<Vec<(Metric, f64, DateTime<Utc>)>, sqlx::Error> {
    let resident_id = resident_id.id();
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
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = DayStats)]
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
    resident_id: &Reached<Monitoring>,
    metrics: &[Metric],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Stats>, sqlx::Error> {
    let resident_id = resident_id.id();
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

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StoredEvent {
    pub ts: DateTime<Utc>,
    #[schema(value_type = String)]
    pub kind: EventKind,
    pub device_id: String,
    #[schema(value_type = Object)]
    pub data: Value,
}

/// A resident's events in `[from, to]`, of `kinds` when given, oldest first.
pub async fn events(
    pool: &PgPool,
    resident: &Reached<Monitoring>,
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
    .bind(resident.id())
    .bind(from)
    .bind(to)
    .bind(kinds)
    .bind(limit)
    .fetch_all(pool)
    .await
}
