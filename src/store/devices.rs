//! Registered devices, and what they last said about themselves.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::domain::device::{DeviceInfo, Registered};
use crate::domain::presence::{heartbeat_timeout, online_since};
use crate::domain::scope::{Monitoring, Placed, Reached};
use crate::domain::{DeviceKind, Scope, Source};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Device {
    pub device_id: String,
    pub resident_id: Option<Uuid>,
    pub kind: DeviceKind,
    pub room: Option<String>,
    pub placement: Option<String>,
    pub source: Source,
    pub external_id: Option<String>,
    /// The Zigbee2MQTT bridge it speaks through, if any.
    pub gateway_id: Option<String>,
    pub power_on_threshold_w: f64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    /// False when it said so or has been silent past its kind's heartbeat
    /// timeout (since its registration when it never spoke); null when it
    /// was never heard from and is still within that timeout.
    pub online: Option<bool>,
    pub battery: Option<f64>,
    pub rssi: Option<i32>,
    pub firmware: Option<String>,
}

#[derive(sqlx::FromRow)]
struct DeviceRow {
    device_id: String,
    resident_id: Option<Uuid>,
    kind: DeviceKind,
    room: Option<String>,
    placement: Option<String>,
    source: Source,
    external_id: Option<String>,
    gateway_id: Option<String>,
    power_on_threshold_w: f64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_seen_at: Option<DateTime<Utc>>,
    reported_online: Option<bool>,
    battery: Option<f64>,
    rssi: Option<i32>,
    firmware: Option<String>,
}

impl DeviceRow {
    fn judged(self, now: DateTime<Utc>) -> Device {
        Device {
            online: online_since(self.kind, self.last_seen_at, self.created_at, self.reported_online, now),
            device_id: self.device_id,
            resident_id: self.resident_id,
            kind: self.kind,
            room: self.room,
            placement: self.placement,
            source: self.source,
            external_id: self.external_id,
            gateway_id: self.gateway_id,
            power_on_threshold_w: self.power_on_threshold_w,
            created_at: self.created_at,
            updated_at: self.updated_at,
            last_seen_at: self.last_seen_at,
            battery: self.battery,
            rssi: self.rssi,
            firmware: self.firmware,
        }
    }
}

const SELECT: &str = "select d.device_id, d.resident_id, d.kind, d.room, d.placement, d.source, d.external_id,
        d.gateway_id, d.power_on_threshold_w, d.created_at, d.updated_at,
        s.last_seen_at, s.online as reported_online, s.battery, s.rssi, s.firmware
    from devices d left join device_state s on s.device_id = d.device_id";

/// The device, if `scope` reaches it, with its health at `now`.
pub async fn fetch(
    pool: &PgPool,
    scope: &Scope,
    device_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Device>, sqlx::Error> {
    let mut query = QueryBuilder::new(format!("{SELECT} where d.device_id = "));
    query.push_bind(device_id.to_owned());
    scope.push_filter(&mut query, Placed::DEVICES);
    let row: Option<DeviceRow> = query.build_query_as().fetch_optional(pool).await?;
    Ok(row.map(|row| row.judged(now)))
}

/// Appends whether the device `d` (with its state `s`, both possibly
/// never heard from) is online at `now`, as an SQL condition: the one
/// definition, [`online_since`], with each kind's heartbeat timeout from
/// [`heartbeat_timeout`], for counting a whole fleet where it is stored.
pub fn push_online(query: &mut QueryBuilder<Postgres>, now: DateTime<Utc>) {
    query.push("(s.last_seen_at is not null and s.online is distinct from false and s.last_seen_at + case d.kind");
    for kind in DeviceKind::ALL {
        let seconds = heartbeat_timeout(kind).num_seconds();
        query.push(format!(" when '{}' then interval '{seconds} seconds'", kind.as_str()));
    }
    query.push(" end >= ").push_bind(now).push(")");
}

/// Which devices a listing shows; `None` shows all.
#[derive(Debug, Default)]
pub struct Filter {
    pub resident_id: Option<Uuid>,
    pub kind: Option<DeviceKind>,
    /// Online at `now`, or not (offline or never heard from).
    pub online: Option<bool>,
}

/// Up to `limit` devices `scope` reaches that pass `filter` at `now`, by
/// id, after the device `after` (the previous page's last).
pub async fn list(
    pool: &PgPool,
    scope: &Scope,
    filter: &Filter,
    after: Option<String>,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Device>, sqlx::Error> {
    let mut devices = Vec::new();
    let mut after = after;
    // Being online is judged here, not in SQL: with that filter, read on
    // until the page is full or the devices run out.
    loop {
        let mut query = QueryBuilder::new(format!("{SELECT} where true"));
        scope.push_filter(&mut query, Placed::DEVICES);
        if let Some(resident) = filter.resident_id {
            query.push(" and d.resident_id = ").push_bind(resident);
        }
        if let Some(kind) = filter.kind {
            query.push(" and d.kind = ").push_bind(kind);
        }
        if let Some(after) = &after {
            query.push(" and d.device_id > ").push_bind(after.clone());
        }
        query.push(" order by d.device_id limit ").push_bind(limit);
        let rows: Vec<DeviceRow> = query.build_query_as().fetch_all(pool).await?;
        let exhausted = (rows.len() as i64) < limit;
        after = rows.last().map(|row| row.device_id.clone());
        devices.extend(
            rows.into_iter()
                .map(|row| row.judged(now))
                .filter(|d| filter.online.is_none_or(|wanted| (d.online == Some(true)) == wanted)),
        );
        if exhausted || devices.len() as i64 >= limit {
            devices.truncate(limit as usize);
            return Ok(devices);
        }
    }
}

/// Whether a device or a gateway already goes by this MQTT username.
pub async fn name_taken(tx: &mut PgConnection, id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (select 1 from devices where device_id = $1)
             or exists (select 1 from gateways where gateway_id = $1)",
    )
    .bind(id)
    .fetch_one(tx)
    .await
}

pub struct NewDevice<'a> {
    pub device_id: &'a str,
    pub resident_id: Option<Uuid>,
    pub kind: DeviceKind,
    pub room: Option<String>,
    pub placement: Option<String>,
    pub source: Source,
    pub external_id: Option<String>,
    pub gateway_id: Option<&'a str>,
    pub power_on_threshold_w: f64,
}

/// Registers a device of the scope's institution. Fails on `devices_pkey`
/// or `devices_external_key` when its id or friendly name is taken.
pub async fn insert(tx: &mut PgConnection, scope: &Scope, new: NewDevice<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into devices (device_id, institution_id, resident_id, kind, room, placement, source, external_id,
                              gateway_id, power_on_threshold_w)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(new.device_id)
    .bind(scope.institution)
    .bind(new.resident_id)
    .bind(new.kind)
    .bind(new.room)
    .bind(new.placement)
    .bind(new.source)
    .bind(new.external_id)
    .bind(new.gateway_id)
    .bind(new.power_on_threshold_w)
    .execute(&mut *tx)
    .await?;
    sqlx::query("insert into device_state (device_id) values ($1)").bind(new.device_id).execute(tx).await.map(drop)
}

/// Registers a resident's historical device (one an imported log speaks
/// for: no broker credential, never judged online or offline, no live
/// alert), or takes the map's word again for one registered by an earlier
/// import. False when the id belongs to a live device or to another
/// resident's: nothing is changed then.
pub async fn upsert_historical(tx: &mut PgConnection, scope: &Scope, new: NewDevice<'_>) -> Result<bool, sqlx::Error> {
    let stored: Option<String> = sqlx::query_scalar(
        "insert into devices as d (device_id, institution_id, resident_id, kind, room, placement, source,
                                   power_on_threshold_w, historical)
         values ($1, $2, $3, $4, $5, $6, 'native', $7, true)
         on conflict (device_id) do update
           set kind = excluded.kind, room = excluded.room, placement = excluded.placement, updated_at = now()
           where d.historical and d.institution_id = excluded.institution_id
             and d.resident_id is not distinct from excluded.resident_id
         returning device_id",
    )
    .bind(new.device_id)
    .bind(scope.institution)
    .bind(new.resident_id)
    .bind(new.kind)
    .bind(new.room)
    .bind(new.placement)
    .bind(new.power_on_threshold_w)
    .fetch_optional(&mut *tx)
    .await?;
    if stored.is_none() {
        return Ok(false);
    }
    sqlx::query("insert into device_state (device_id) values ($1) on conflict do nothing")
        .bind(new.device_id)
        .execute(tx)
        .await?;
    Ok(true)
}

/// A change to a device: `None` leaves a field alone; for the optional ones,
/// `Some(None)` clears it.
pub struct DeviceChange {
    pub resident_id: Option<Option<Uuid>>,
    pub kind: Option<DeviceKind>,
    pub room: Option<Option<String>>,
    pub placement: Option<Option<String>>,
    pub power_on_threshold_w: Option<f64>,
}

/// Changes a device the caller has already found in reach.
pub async fn update(tx: &mut PgConnection, device_id: &str, change: DeviceChange) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update devices set
            resident_id = case when $2 then $3 else resident_id end,
            kind = coalesce($4, kind),
            room = case when $5 then $6 else room end,
            placement = case when $7 then $8 else placement end,
            power_on_threshold_w = coalesce($9, power_on_threshold_w),
            updated_at = now()
         where device_id = $1",
    )
    .bind(device_id)
    .bind(change.resident_id.is_some())
    .bind(change.resident_id.flatten())
    .bind(change.kind)
    .bind(change.room.is_some())
    .bind(change.room.flatten())
    .bind(change.placement.is_some())
    .bind(change.placement.flatten())
    .bind(change.power_on_threshold_w)
    .execute(tx)
    .await
    .map(drop)
}

/// Unregisters a device the caller has already found in reach; its stored
/// data stays.
pub async fn delete(tx: &mut PgConnection, device_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("delete from devices where device_id = $1").bind(device_id).execute(tx).await.map(drop)
}

/// A registration as the ingest path indexes it: by its own id, or by the
/// topic its Zigbee2MQTT bridge publishes it under.
pub struct Registration {
    pub device: Registered,
    pub source: Source,
    pub external_id: Option<String>,
    /// The base topic of the gateway it speaks through, if any.
    pub base_topic: Option<String>,
}

#[derive(sqlx::FromRow)]
struct RegistrationRow {
    device_id: String,
    kind: DeviceKind,
    room: Option<String>,
    placement: Option<String>,
    power_on_threshold_w: f64,
    source: Source,
    external_id: Option<String>,
    institution_id: Uuid,
    resident_id: Option<Uuid>,
    base_topic: Option<String>,
}

/// Every registered device, of every institution: the ingest path knows
/// them all, since the broker already told who is speaking.
pub async fn registrations(pool: &PgPool) -> Result<Vec<Registration>, sqlx::Error> {
    let rows: Vec<RegistrationRow> = sqlx::query_as(
        "select d.device_id, d.kind, d.room, d.placement, d.power_on_threshold_w, d.source, d.external_id,
                d.institution_id, d.resident_id, g.base_topic
         from devices d left join gateways g on g.gateway_id = d.gateway_id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Registration {
            device: Registered {
                info: DeviceInfo {
                    device_id: row.device_id,
                    kind: row.kind,
                    room: row.room,
                    placement: row.placement,
                    power_on_threshold_w: row.power_on_threshold_w,
                },
                institution_id: row.institution_id,
                resident_id: row.resident_id,
            },
            source: row.source,
            external_id: row.external_id,
            base_topic: row.base_topic,
        })
        .collect())
}

/// Every gateway's base topic.
pub async fn gateway_topics(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("select base_topic from gateways").fetch_all(pool).await
}

/// What the scheduler needs to judge a device's health.
#[derive(Debug, sqlx::FromRow)]
pub struct HealthRow {
    pub device_id: String,
    pub kind: DeviceKind,
    pub room: Option<String>,
    pub institution_id: Uuid,
    pub resident_id: Option<Uuid>,
    pub last_seen_at: Option<DateTime<Utc>>,
    /// What it last reported, as stored (not judged).
    pub reported_online: Option<bool>,
    pub online_at: Option<DateTime<Utc>>,
    pub battery: Option<f64>,
    pub created_at: DateTime<Utc>,
}

/// Every live device, of every institution, with its state: a historical
/// (imported) device is never online, offline or low on battery.
pub async fn health(pool: &PgPool) -> Result<Vec<HealthRow>, sqlx::Error> {
    sqlx::query_as(
        "select d.device_id, d.kind, d.room, d.institution_id, d.resident_id, s.last_seen_at,
                s.online as reported_online, s.online_at, s.battery, d.created_at
         from devices d left join device_state s on s.device_id = d.device_id
         where not d.historical",
    )
    .fetch_all(pool)
    .await
}

/// When each institution's devices last sent anything; `None` for an
/// institution whose devices never did.
pub async fn last_data_by_institution(pool: &PgPool) -> Result<Vec<(Uuid, Option<DateTime<Utc>>)>, sqlx::Error> {
    sqlx::query_as(
        "select i.id, max(s.last_seen_at)
         from institutions i
         left join devices d on d.institution_id = i.id and not d.historical
         left join device_state s on s.device_id = d.device_id
         group by i.id",
    )
    .fetch_all(pool)
    .await
}

/// A resident's device, as their day's summary shows it.
#[derive(Debug, sqlx::FromRow)]
pub struct ResidentDevice {
    pub device_id: String,
    pub kind: DeviceKind,
    pub room: Option<String>,
    pub placement: Option<String>,
    /// What it last reported, as stored (not judged).
    pub reported_online: Option<bool>,
    pub battery: Option<f64>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// A low-battery alert about it is open: a battery back just above the
    /// threshold is still low then, as the engine judges it.
    pub low_battery_open: bool,
}

/// A resident's devices, by kind and id.
pub async fn of_resident(pool: &PgPool, resident_id: &Reached<Monitoring>) -> Result<Vec<ResidentDevice>, sqlx::Error> {
    let resident_id = resident_id.id();
    sqlx::query_as(
        "select d.device_id, d.kind, d.room, d.placement, s.online as reported_online, s.battery, s.last_seen_at,
                d.created_at,
                exists (select 1 from alerts a
                        where a.institution_id = d.institution_id and a.kind = 'low_battery'
                          and a.cause = d.device_id and a.status <> 'resolved') as low_battery_open
         from devices d left join device_state s on s.device_id = d.device_id
         where d.resident_id = $1 order by d.kind, d.device_id",
    )
    .bind(resident_id)
    .fetch_all(pool)
    .await
}
