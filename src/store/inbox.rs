//! What the alert engine keeps between processes: the inboxes of stored
//! data not judged yet (`rule_inbox` for alarm events, `vital_inbox` for a
//! batch's vital readings), which a crashed process leaves to its
//! neighbours' sweeps, and the vital monitors' state (`vital_state`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{DeviceKind, EventKind};

/// A rule inbox row, with its device when it is still registered.
#[derive(sqlx::FromRow)]
pub struct InboxEvent {
    pub id: i64,
    pub device_id: String,
    pub kind: EventKind,
    pub ts: DateTime<Utc>,
    pub data: Value,
    pub received_at: DateTime<Utc>,
    pub device_kind: Option<DeviceKind>,
    pub room: Option<String>,
    pub placement: Option<String>,
    pub power_on_threshold_w: Option<f64>,
    pub institution_id: Option<Uuid>,
    pub resident_id: Option<Uuid>,
}

/// One vital reading of a `vital_inbox` row, with its device (still
/// registered: a removed device's readings have no one to alert about).
#[derive(sqlx::FromRow)]
pub struct InboxReading {
    pub device_id: String,
    pub metric: String,
    pub ts: DateTime<Utc>,
    pub value: f64,
    pub received_at: DateTime<Utc>,
    pub device_kind: DeviceKind,
    pub room: Option<String>,
    pub placement: Option<String>,
    pub power_on_threshold_w: f64,
    pub institution_id: Uuid,
    pub resident_id: Option<Uuid>,
}

/// Up to 500 rule inbox rows enqueued at least `min_age` ago, after the
/// row `after`, in order: what no process has judged.
pub async fn unjudged_events(pool: &PgPool, min_age: Duration, after: i64) -> Result<Vec<InboxEvent>, sqlx::Error> {
    sqlx::query_as(
        "select i.id, i.device_id, i.kind, i.ts, i.data, i.received_at, d.kind as device_kind, d.room,
                d.placement, d.power_on_threshold_w, d.institution_id, d.resident_id
         from rule_inbox i left join devices d on d.device_id = i.device_id
         where i.enqueued_at <= now() - make_interval(secs => $1) and i.id > $2
         order by i.id limit 500",
    )
    .bind(min_age.as_secs_f64())
    .bind(after)
    .fetch_all(pool)
    .await
}

/// Takes an event out of the rule inbox, in the caller's transaction,
/// unless a sweeping neighbour holds its row (or took it already): answers
/// whether this transaction has it.
pub async fn claim_event(tx: &mut PgConnection, id: i64) -> Result<bool, sqlx::Error> {
    let claimed: Option<i64> = sqlx::query_scalar(
        "delete from rule_inbox where id = (select id from rule_inbox where id = $1 for update skip locked)
         returning id",
    )
    .bind(id)
    .fetch_optional(tx)
    .await?;
    Ok(claimed.is_some())
}

/// Drops a rule inbox row whose device was removed: there is no one left
/// to alert.
pub async fn drop_event(pool: &PgPool, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("delete from rule_inbox where id = $1").bind(id).execute(pool).await.map(drop)
}

/// Deletes the judged `vital_inbox` rows, but not those a sweeping
/// neighbour holds: it deletes them itself.
pub async fn clear_vitals(pool: &PgPool, ids: &[i64]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "delete from vital_inbox where id in (select id from vital_inbox where id = any($1) for update skip locked)",
    )
    .bind(ids)
    .execute(pool)
    .await
    .map(drop)
}

/// Up to 20 `vital_inbox` rows enqueued at least `min_age` ago, locked to
/// the end of the caller's transaction (a neighbour's sweep skips them).
pub async fn claim_vitals(tx: &mut PgConnection, min_age: Duration) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "select id from vital_inbox where enqueued_at <= now() - make_interval(secs => $1)
         order by id limit 20 for update skip locked",
    )
    .bind(min_age.as_secs_f64())
    .fetch_all(tx)
    .await
}

/// The readings of these `vital_inbox` rows whose device is still
/// registered, oldest first.
pub async fn vital_readings(tx: &mut PgConnection, ids: &[i64]) -> Result<Vec<InboxReading>, sqlx::Error> {
    sqlx::query_as(
        "select r.device_id, r.metric, r.ts, r.value, r.received_at, d.kind as device_kind, d.room,
                d.placement, d.power_on_threshold_w, d.institution_id, d.resident_id
         from vital_inbox i
              cross join lateral unnest(i.device_ids, i.metrics, i.ts, i.vals, i.received_at)
                  as r (device_id, metric, ts, value, received_at)
              join devices d on d.device_id = r.device_id
         where i.id = any($1)
         order by r.ts",
    )
    .bind(ids)
    .fetch_all(tx)
    .await
}

/// Deletes `vital_inbox` rows the caller's transaction holds.
pub async fn delete_vitals(tx: &mut PgConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
    sqlx::query("delete from vital_inbox where id = any($1)").bind(ids).execute(tx).await.map(drop)
}

/// The stored vital monitors' state of these (resident, metric) pairs, as
/// committed now, without a lock; a pair with no row is left out.
pub async fn vital_states(
    pool: &PgPool,
    residents: &[Uuid],
    metrics: &[&str],
) -> Result<Vec<(Uuid, String, Option<Value>)>, sqlx::Error> {
    sqlx::query_as(
        "select resident_id, metric, state from vital_state
         where (resident_id, metric) in (select * from unnest($1::uuid[], $2::text[]))",
    )
    .bind(residents)
    .bind(metrics)
    .fetch_all(pool)
    .await
}

/// The vital monitors' state of these (resident, metric) pairs, sorted and
/// without duplicates, locked to the end of the caller's transaction. A
/// missing row is created first (with no state); rows are created and locked
/// in key order, the same in every process.
pub async fn lock_vital_states(
    tx: &mut PgConnection,
    residents: &[Uuid],
    metrics: &[&str],
) -> Result<Vec<(Uuid, String, Option<Value>)>, sqlx::Error> {
    sqlx::query(
        "insert into vital_state (resident_id, metric)
         select r, m from unnest($1::uuid[], $2::text[]) as k(r, m) order by r, m
         on conflict do nothing",
    )
    .bind(residents)
    .bind(metrics)
    .execute(&mut *tx)
    .await?;
    sqlx::query_as(
        "select resident_id, metric, state from vital_state
         where (resident_id, metric) in (select * from unnest($1::uuid[], $2::text[]))
         order by resident_id, metric for update",
    )
    .bind(residents)
    .bind(metrics)
    .fetch_all(tx)
    .await
}

/// Stores the vital monitors' state, one per (resident, metric) at the
/// same index.
pub async fn save_vital_states(
    tx: &mut PgConnection,
    residents: &[Uuid],
    metrics: &[&str],
    states: &[Value],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update vital_state v set state = u.s, updated_at = now()
         from unnest($1::uuid[], $2::text[], $3::jsonb[]) as u(r, m, s)
         where v.resident_id = u.r and v.metric = u.m",
    )
    .bind(residents)
    .bind(metrics)
    .bind(states)
    .execute(tx)
    .await
    .map(drop)
}
