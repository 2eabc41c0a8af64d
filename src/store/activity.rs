//! Activity: stored events as the behaviour rules and the family summary
//! read them, placed in a room and at a door or appliance.

use crate::domain::scope::{Monitoring, Reached};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::activity::{ActivityEvent, Attended};
use crate::domain::{DeviceKind, EventKind, Metric};
use std::collections::HashMap;

/// What the rules see of an event, over `events e left join devices d`: an
/// event's room is its own (`data.room`) or else its device's. A macro so
/// that queries can `concat!` it.
macro_rules! activity_columns {
    () => {
        "e.ts, e.kind, coalesce(e.data->>'room', d.room) as room, e.data->>'door' as door,
         e.data->>'appliance' as appliance"
    };
}
const SELECT: &str = concat!(
    "select e.resident_id, ",
    activity_columns!(),
    " from events e left join devices d on d.device_id = e.device_id"
);

#[derive(sqlx::FromRow)]
struct Row {
    resident_id: Uuid,
    ts: DateTime<Utc>,
    kind: EventKind,
    room: Option<String>,
    door: Option<String>,
    appliance: Option<String>,
}

impl Row {
    fn event(self) -> ActivityEvent {
        ActivityEvent { ts: self.ts, kind: self.kind, room: self.room, door: self.door, appliance: self.appliance }
    }
}

/// A point in the commit order of events: every event written by a
/// transaction below it has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Horizon(i64);

/// Every resident's live events of `kinds` newer than `since` that
/// committed after `after` (all of them when `None`), and the horizon to
/// read from next; an imported log's events raise no live alert. Reading by commit order, not by time, so that an event written
/// late (a device that buffered its data) is read all the same.
pub async fn committed_since(
    pool: &PgPool,
    kinds: &[EventKind],
    since: DateTime<Utc>,
    after: Option<Horizon>,
) -> Result<(Vec<(Uuid, ActivityEvent)>, Horizon), sqlx::Error> {
    // One snapshot for the horizon and the rows: every transaction below
    // the snapshot's horizon has ended, so rows between the last horizon
    // and this one are all visible now, however late they committed.
    let mut tx = pool.begin().await?;
    sqlx::query("set transaction isolation level repeatable read").execute(&mut *tx).await?;
    let horizon: i64 =
        sqlx::query_scalar("select pg_snapshot_xmin(pg_current_snapshot())::text::int8").fetch_one(&mut *tx).await?;
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT}
         where e.ts > $1 and e.resident_id is not null and e.kind = any($2)
           and d.historical is not true
           and ($3::int8 is null or (e.txid >= $3::int8::text::xid8 and e.txid < $4::int8::text::xid8))"
    )))
    .bind(since)
    .bind(kinds)
    .bind(after.map(|h| h.0))
    .bind(horizon)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((rows.into_iter().map(|r| (r.resident_id, r.event())).collect(), Horizon(horizon)))
}

/// A resident's events of `kinds` in `[from, to]`, oldest first, at most
/// `limit` of them.
pub async fn of_resident(
    pool: &PgPool,
    resident_id: &Reached<Monitoring>,
    kinds: &[EventKind],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<ActivityEvent>, sqlx::Error> {
    let resident_id = resident_id.id();
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT}
         where e.resident_id = $1 and e.ts >= $2 and e.ts <= $3 and e.kind = any($4)
         order by e.ts limit $5"
    )))
    .bind(resident_id)
    .bind(from)
    .bind(to)
    .bind(kinds)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Row::event).collect())
}

/// The last of a resident's events of `kinds` in `[from, to)`.
pub async fn last_of_resident(
    pool: &PgPool,
    resident_id: &Reached<Monitoring>,
    kinds: &[EventKind],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Option<EventKind>, sqlx::Error> {
    let resident_id = resident_id.id();
    sqlx::query_scalar(
        "select kind from events where resident_id = $1 and kind = any($2) and ts < $3 and ts >= $4
         order by ts desc limit 1",
    )
    .bind(resident_id)
    .bind(kinds)
    .bind(to)
    .bind(from)
    .fetch_optional(pool)
    .await
}

/// A stored event as a replay of history needs it: what the behaviour rules
/// see of it, and what the streaming rules judge.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HistoryEvent {
    pub ts: DateTime<Utc>,
    pub kind: EventKind,
    pub room: Option<String>,
    pub door: Option<String>,
    pub appliance: Option<String>,
    pub device_id: String,
    /// `None` once the device was removed.
    pub device_kind: Option<DeviceKind>,
    pub data: Value,
    pub received_at: DateTime<Utc>,
}

impl HistoryEvent {
    pub fn activity(&self) -> ActivityEvent {
        ActivityEvent {
            ts: self.ts,
            kind: self.kind.clone(),
            room: self.room.clone(),
            door: self.door.clone(),
            appliance: self.appliance.clone(),
        }
    }
}

/// A resident's events in `[from, to)`, oldest first, in one query.
pub async fn history(
    pool: &PgPool,
    resident_id: &Reached<Monitoring>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<HistoryEvent>, sqlx::Error> {
    let resident_id = resident_id.id();
    sqlx::query_as(concat!(
        "select ",
        activity_columns!(),
        ", e.device_id, d.kind as device_kind, e.data, e.received_at
         from events e left join devices d on d.device_id = e.device_id
         where e.resident_id = $1 and e.ts >= $2 and e.ts < $3
         order by e.ts"
    ))
    .bind(resident_id)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// A stored reading as a replay of history needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HistoryReading {
    pub ts: DateTime<Utc>,
    pub device_id: String,
    pub metric: Metric,
    pub value: f64,
    pub received_at: DateTime<Utc>,
}

/// A resident's readings of `metrics` in `[from, to)`, oldest first, in one
/// query (sorted here: months of a wearable's readings would spill
/// PostgreSQL's sort to disk).
pub async fn readings_history(
    pool: &PgPool,
    resident_id: &Reached<Monitoring>,
    metrics: &[Metric],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<HistoryReading>, sqlx::Error> {
    let resident_id = resident_id.id();
    sqlx::query_as(
        "select ts, device_id, metric, value, received_at from readings
         where resident_id = $1 and metric = any($2) and ts >= $3 and ts < $4",
    )
    .bind(resident_id)
    .bind(metrics)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
    .map(|mut readings: Vec<HistoryReading>| {
        readings.sort_by_key(|r| r.ts);
        readings
    })
}

/// What of a visit tells the rules she was home: checked in and out at her
/// door. A check-in away from home (`far_from_home`) tells nothing.
macro_rules! attended_where {
    () => {
        "check_in_at is not null and status in ('checked_in', 'completed')
         and not ('far_from_home' = any(exceptions))"
    };
}

/// Every resident's carers' visits checked in after `since`, oldest first.
pub async fn attended_since(pool: &PgPool, since: DateTime<Utc>) -> Result<HashMap<Uuid, Vec<Attended>>, sqlx::Error> {
    let rows: Vec<(Uuid, DateTime<Utc>, Option<DateTime<Utc>>)> = sqlx::query_as(concat!(
        "select resident_id, check_in_at, check_out_at from visits where check_in_at > $1 and ",
        attended_where!(),
        " order by check_in_at"
    ))
    .bind(since)
    .fetch_all(pool)
    .await?;
    let mut attended: HashMap<Uuid, Vec<Attended>> = HashMap::new();
    for (resident, from, until) in rows {
        attended.entry(resident).or_default().push(Attended { from, until });
    }
    Ok(attended)
}

/// A resident's carers' visits checked in within `[from, to)`, oldest first.
pub async fn attended(
    pool: &PgPool,
    resident_id: &Reached<Monitoring>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Attended>, sqlx::Error> {
    let rows: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = sqlx::query_as(concat!(
        "select check_in_at, check_out_at from visits
         where resident_id = $1 and check_in_at >= $2 and check_in_at < $3 and ",
        attended_where!(),
        " order by check_in_at"
    ))
    .bind(resident_id.id())
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(from, until)| Attended { from, until }).collect())
}
