//! Devices' status history: each change between online and offline, as
//! the live rules judged it or an imported log said it.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::domain::device::{StatusChange, StatusReason};
use crate::domain::scope::{Monitoring, Reached};

/// Records that `device_id` (the resident's, when it has one) went offline
/// (or came back) at `at`, unless
/// that is already its state: the rules judge the same state again and
/// again (a scheduler tick, each status message), and only a change is a
/// row. A device with no history counts as online, so coming back online
/// writes nothing for it. Answers whether a row was written.
pub async fn record_change(
    tx: &mut PgConnection,
    device_id: &str,
    resident: Option<&Reached<Monitoring>>,
    at: DateTime<Utc>,
    online: bool,
    reason: StatusReason,
) -> Result<bool, sqlx::Error> {
    // The device's row is locked so that two writers (the engine's lane and
    // the scheduler) judge the change one after the other.
    let written = sqlx::query(
        "with device as (select device_id from devices where device_id = $1 for no key update)
         insert into device_status_history (device_id, resident_id, at, online, reason)
         select device_id, $2, $3, $4, $5 from device
         where coalesce((select online from device_status_history where device_id = $1
                         order by id desc limit 1), true) <> $4
         on conflict (device_id, at, online) do nothing",
    )
    .bind(device_id)
    .bind(resident.map(Reached::id))
    .bind(at)
    .bind(online)
    .bind(reason)
    .execute(tx)
    .await?;
    Ok(written.rows_affected() > 0)
}

/// Stores status lines of an imported log for a resident's historical
/// devices, as they are: a log may say OFFLINE twice. A line stored by an
/// earlier import is not stored again. Answers how many were new.
pub async fn import(
    tx: &mut PgConnection,
    resident: &Reached<Monitoring>,
    changes: &[(String, DateTime<Utc>, bool)],
) -> Result<u64, sqlx::Error> {
    let devices: Vec<&str> = changes.iter().map(|(d, _, _)| d.as_str()).collect();
    let at: Vec<DateTime<Utc>> = changes.iter().map(|(_, at, _)| *at).collect();
    let online: Vec<bool> = changes.iter().map(|(_, _, online)| *online).collect();
    let written = sqlx::query(
        "insert into device_status_history (device_id, resident_id, at, online, reason)
         select c.device_id, $1, c.at, c.online, 'imported'
         from unnest($2::text[], $3::timestamptz[], $4::boolean[]) as c (device_id, at, online)
         on conflict (device_id, at, online) do nothing",
    )
    .bind(resident.id())
    .bind(&devices)
    .bind(&at)
    .bind(&online)
    .execute(tx)
    .await?;
    Ok(written.rows_affected())
}

/// The status history of the resident's devices that a replay of
/// `[from, to)` needs: each device's last change before `from` (the state
/// in force when it opens), then every change within, oldest first.
pub async fn history(
    pool: &PgPool,
    resident: &Reached<Monitoring>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<StatusChange>, sqlx::Error> {
    sqlx::query_as(
        "select device_id, device_kind, at, online, reason from (
           (select distinct on (h.device_id) h.id, h.device_id, d.kind as device_kind, h.at, h.online, h.reason
            from device_status_history h join devices d on d.device_id = h.device_id
            where h.resident_id = $1 and h.at < $2
            order by h.device_id, h.at desc, h.id desc)
           union all
           (select h.id, h.device_id, d.kind, h.at, h.online, h.reason
            from device_status_history h join devices d on d.device_id = h.device_id
            where h.resident_id = $1 and h.at >= $2 and h.at < $3)
         ) s order by at, id",
    )
    .bind(resident.id())
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}
