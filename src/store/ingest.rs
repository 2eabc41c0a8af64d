//! What ingest writes: one statement per table and batch, each binding its
//! rows column-wise as arrays, idempotent on the device contract's dedup
//! keys. The caller holds the transaction, so a batch commits whole or not
//! at all.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::zigbee::ZigbeeState;
use crate::domain::{EventKind, Reason};

/// Rows for `readings`, column by column.
pub struct Readings<'a> {
    pub ts: &'a [DateTime<Utc>],
    pub device: &'a [String],
    pub resident: &'a [Option<Uuid>],
    pub metric: &'a [&'static str],
    pub value: &'a [f64],
    pub seq: &'a [Option<i64>],
}

/// Rows for `events`, column by column.
pub struct Events<'a> {
    pub ts: &'a [DateTime<Utc>],
    pub device: &'a [String],
    pub resident: &'a [Option<Uuid>],
    pub kind: &'a [EventKind],
    pub data: &'a [Value],
    pub seq: &'a [Option<i64>],
    pub received: &'a [DateTime<Utc>],
}

/// Rows for `quarantine`, column by column; the text columns are storable.
pub struct Quarantined<'a> {
    pub received: &'a [DateTime<Utc>],
    pub topic: &'a [String],
    pub reason: &'a [Reason],
    pub detail: &'a [String],
    pub device: &'a [Option<String>],
    pub institution: &'a [Option<Uuid>],
    pub payload: &'a [Vec<u8>],
}

/// Rejects beyond their sender's quarantine budget, one row each.
pub struct Overflow<'a> {
    pub hour: &'a [DateTime<Utc>],
    pub device: &'a [Option<String>],
    pub prefix: &'a [&'static str],
    pub reason: &'a [Reason],
    pub institution: &'a [Option<Uuid>],
}

/// A batch's vital readings, one row of arrays in `vital_inbox`.
pub struct Vitals<'a> {
    pub device: &'a [&'a str],
    pub metric: &'a [&'static str],
    pub ts: &'a [DateTime<Utc>],
    pub value: &'a [f64],
    pub received: &'a [DateTime<Utc>],
}

/// What each device said about itself in a batch, sorted by device id.
#[derive(Default)]
pub struct DeviceStates<'a> {
    pub device: Vec<&'a str>,
    pub last_seen: Vec<Option<DateTime<Utc>>>,
    pub online: Vec<Option<bool>>,
    pub online_at: Vec<Option<DateTime<Utc>>>,
    pub battery: Vec<Option<f64>>,
    pub rssi: Vec<Option<i32>>,
    pub firmware: Vec<Option<&'a str>>,
    pub zigbee_state: Vec<Option<Json<&'a ZigbeeState>>>,
}

/// An event the batch stored (not a redelivery), with its rule inbox row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InsertedEvent {
    pub device_id: String,
    pub kind: EventKind,
    pub ts: DateTime<Utc>,
    pub seq: Option<i64>,
    pub inbox: Option<i64>,
}

/// Gives each (device, seq) the stamp of its first delivery: `stamps` are
/// this delivery's, and what comes back is the first one remembered.
pub async fn first_stamps(
    tx: &mut PgConnection,
    devices: &[String],
    seqs: &[i64],
    stamps: &[DateTime<Utc>],
    memory_hours: u64,
) -> Result<Vec<(String, i64, DateTime<Utc>)>, sqlx::Error> {
    // A remembered stamp older than the memory window belongs to an
    // earlier life of the device's counter: take the new one.
    sqlx::query_as(
        "insert into ingest_seq (device_id, seq, ts)
         select * from unnest($1::text[], $2::int8[], $3::timestamptz[])
         on conflict (device_id, seq) do update
           set ts = case when ingest_seq.received_at < now() - make_interval(hours => $4)
                         then excluded.ts else ingest_seq.ts end,
               received_at = case when ingest_seq.received_at < now() - make_interval(hours => $4)
                         then now() else ingest_seq.received_at end
         returning device_id, seq, ts",
    )
    .bind(devices)
    .bind(seqs)
    .bind(stamps)
    .bind(memory_hours as i32)
    .fetch_all(&mut *tx)
    .await
}

/// Inserts the readings not stored yet; returns how many were new.
pub async fn insert_readings(tx: &mut PgConnection, r: Readings<'_>) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "insert into readings (ts, device_id, resident_id, metric, value, seq)
         select * from unnest($1::timestamptz[], $2::text[], $3::uuid[], $4::text[], $5::float8[], $6::int8[])
         on conflict do nothing",
    )
    .bind(r.ts)
    .bind(r.device)
    .bind(r.resident)
    .bind(r.metric)
    .bind(r.value)
    .bind(r.seq)
    .execute(&mut *tx)
    .await?
    .rows_affected())
}

/// Keeps a batch's vital readings until the engine has judged them: written
/// with the readings, so a process that dies before judging them leaves them
/// to another's sweep. Returns the inbox row.
pub async fn insert_vitals(tx: &mut PgConnection, v: Vitals<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "insert into vital_inbox (device_ids, metrics, ts, vals, received_at)
         values ($1, $2, $3, $4, $5) returning id",
    )
    .bind(v.device)
    .bind(v.metric)
    .bind(v.ts)
    .bind(v.value)
    .bind(v.received)
    .fetch_one(&mut *tx)
    .await
}

/// Inserts the events not stored yet and returns them, each new event of a
/// `judged` kind with its rule inbox row: written in this transaction, so a
/// stored alarm is judged even if the process dies before the engine sees
/// it.
pub async fn insert_events(
    tx: &mut PgConnection,
    e: Events<'_>,
    judged: &[EventKind],
) -> Result<Vec<InsertedEvent>, sqlx::Error> {
    sqlx::query_as(
        "with new as (
             insert into events (ts, device_id, resident_id, kind, data, seq, received_at)
             select * from unnest($1::timestamptz[], $2::text[], $3::uuid[], $4::text[], $5::jsonb[],
                                  $6::int8[], $7::timestamptz[])
             on conflict do nothing
             returning device_id, kind, ts, seq, data, received_at
         ), inbox as (
             insert into rule_inbox (device_id, kind, ts, seq, data, received_at)
             select device_id, kind, ts, seq, data, received_at from new where kind = any($8)
             returning id, device_id, kind, ts, seq
         )
         select n.device_id, n.kind, n.ts, n.seq, i.id as inbox
         from new n left join inbox i on i.device_id = n.device_id and i.kind = n.kind and i.ts = n.ts
              and i.seq is not distinct from n.seq",
    )
    .bind(e.ts)
    .bind(e.device)
    .bind(e.resident)
    .bind(e.kind)
    .bind(e.data)
    .bind(e.seq)
    .bind(e.received)
    .bind(judged)
    .fetch_all(&mut *tx)
    .await
}

pub async fn insert_quarantined(tx: &mut PgConnection, q: Quarantined<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into quarantine (received_at, topic, reason, detail, device_id, institution_id, payload)
         select * from unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::uuid[], $7::bytea[])",
    )
    .bind(q.received)
    .bind(q.topic)
    .bind(q.reason)
    .bind(q.detail)
    .bind(q.device)
    .bind(q.institution)
    .bind(q.payload)
    .execute(&mut *tx)
    .await
    .map(drop)
}

/// Counts rejects beyond their sender's budget into `quarantine_overflow`.
pub async fn count_overflow(tx: &mut PgConnection, o: Overflow<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into quarantine_overflow as o (hour, device_id, topic_prefix, reason, institution_id, count)
         select hour, device_id, topic_prefix, reason, (array_agg(institution_id))[1], count(*)
         from unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::uuid[])
              as u (hour, device_id, topic_prefix, reason, institution_id)
         group by hour, device_id, topic_prefix, reason
         on conflict (hour, device_id, topic_prefix, reason) do update set count = o.count + excluded.count",
    )
    .bind(o.hour)
    .bind(o.device)
    .bind(o.prefix)
    .bind(o.reason)
    .bind(o.institution)
    .execute(&mut *tx)
    .await
    .map(drop)
}

/// Folds what the devices said into their state rows. The rows come sorted
/// by device id, so that two lanes updating the same devices lock rows in
/// the same order and never deadlock.
pub async fn update_device_states(tx: &mut PgConnection, s: DeviceStates<'_>) -> Result<(), sqlx::Error> {
    // Devices unregistered since decoding are skipped by the join rather
    // than failing the batch on the foreign key.
    sqlx::query(
        "insert into device_state as s (device_id, last_seen_at, online, online_at, battery, rssi, firmware, zigbee_state, updated_at)
         select u.device_id, u.last_seen_at, u.online, u.online_at, u.battery, u.rssi, u.firmware, u.zigbee_state, now()
         from unnest($1::text[], $2::timestamptz[], $3::bool[], $4::timestamptz[], $5::float8[], $6::int4[],
                     $7::text[], $8::jsonb[])
              as u (device_id, last_seen_at, online, online_at, battery, rssi, firmware, zigbee_state)
         join devices d on d.device_id = u.device_id
         order by u.device_id
         on conflict (device_id) do update set
           last_seen_at = greatest(s.last_seen_at, excluded.last_seen_at),
           online = case when s.online_at is null or excluded.online_at >= s.online_at
                         then coalesce(excluded.online, s.online) else s.online end,
           online_at = greatest(s.online_at, excluded.online_at),
           battery = coalesce(excluded.battery, s.battery),
           rssi = coalesce(excluded.rssi, s.rssi),
           firmware = coalesce(excluded.firmware, s.firmware),
           zigbee_state = coalesce(excluded.zigbee_state, s.zigbee_state),
           updated_at = now()",
    )
    .bind(s.device)
    .bind(s.last_seen)
    .bind(s.online)
    .bind(s.online_at)
    .bind(s.battery)
    .bind(s.rssi)
    .bind(s.firmware)
    .bind(s.zigbee_state)
    .execute(&mut *tx)
    .await
    .map(drop)
}

/// The last Zigbee2MQTT states as committed, so edge derivation survives a
/// restart.
pub async fn zigbee_states(pool: &PgPool) -> Result<HashMap<String, ZigbeeState>, sqlx::Error> {
    let rows: Vec<(String, Json<ZigbeeState>)> =
        sqlx::query_as("select device_id, zigbee_state from device_state where zigbee_state is not null")
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(id, state)| (id, state.0)).collect())
}

/// Wakes every process listening on `channel`. Called after the commit.
pub async fn announce(pool: &PgPool, channel: &str) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_notify($1, '')").bind(channel).execute(pool).await.map(drop)
}
