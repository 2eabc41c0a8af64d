//! The periods of residents' status. Callers have found the resident in
//! their scope before they come here.

use crate::domain::scope::{Identity, Reached};
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::status::{Period, ResidentStatus};

const COLUMNS: &str =
    "status, from_at as \"from\", until_at as until, note, recorded_at, clinical_record_id as encounter_id";

/// Locks the resident's row until the transaction ends: one status change
/// at a time per resident.
pub async fn lock_resident(tx: &mut PgConnection, resident: &Reached<Identity>) -> Result<(), sqlx::Error> {
    let resident = resident.id();
    sqlx::query("select 1 from residents where id = $1 for update").bind(resident).execute(tx).await?;
    Ok(())
}

/// The resident's periods, by start then by when recorded.
pub async fn periods(conn: &mut PgConnection, resident: &Reached<Identity>) -> Result<Vec<Period>, sqlx::Error> {
    let resident = resident.id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from resident_status where resident_id = $1 order by from_at, id"
    )))
    .bind(resident)
    .fetch_all(conn)
    .await
}

/// The periods of these residents (none for a resident always active).
pub async fn periods_of(pool: &PgPool, residents: &[Uuid]) -> Result<HashMap<Uuid, Vec<Period>>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        resident_id: Uuid,
        #[sqlx(flatten)]
        period: Period,
    }
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select resident_id, {COLUMNS} from resident_status where resident_id = any($1) order by from_at, id"
    )))
    .bind(residents)
    .fetch_all(pool)
    .await?;
    let mut out: HashMap<Uuid, Vec<Period>> = HashMap::new();
    for row in rows {
        out.entry(row.resident_id).or_default().push(row.period);
    }
    Ok(out)
}

pub async fn insert(
    tx: &mut PgConnection,
    resident: &Reached<Identity>,
    status: ResidentStatus,
    from: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    note: Option<&str>,
    by: Uuid,
) -> Result<(), sqlx::Error> {
    let resident = resident.id();
    sqlx::query(
        "insert into resident_status (resident_id, status, from_at, until_at, note, recorded_by)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(resident)
    .bind(status)
    .bind(from)
    .bind(until)
    .bind(note)
    .bind(by)
    .execute(tx)
    .await?;
    Ok(())
}

/// A hospital stay a medical partner sent (its FHIR Encounter), as a
/// status period.
pub struct Stay<'a> {
    pub encounter: Uuid,
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    pub note: &'a str,
    /// The partner's clinician who sent it.
    pub by: Uuid,
}

/// Records the `in_hospital` period a stay sets; answers its id.
pub async fn insert_stay(
    tx: &mut PgConnection,
    resident: &Reached<Identity>,
    stay: &Stay<'_>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "insert into resident_status (resident_id, status, from_at, until_at, note, recorded_by, clinical_record_id)
         values ($1, 'in_hospital', $2, $3, $4, $5, $6) returning id",
    )
    .bind(resident.id())
    .bind(stay.from)
    .bind(stay.until)
    .bind(stay.note)
    .bind(stay.by)
    .bind(stay.encounter)
    .fetch_one(tx)
    .await
}

/// Cancels the resident's visits due from `from` until `until` (open: all
/// of them) that nobody has been to (scheduled, assigned, or already
/// marked missed: nobody was there to visit), with `reason`; answers how
/// many.
pub async fn cancel_visits(
    tx: &mut PgConnection,
    resident: &Reached<Identity>,
    from: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    reason: crate::domain::care::CancelReason,
) -> Result<u64, sqlx::Error> {
    let resident = resident.id();
    Ok(sqlx::query(
        "update visits set status = 'cancelled', cancel_reason = $4, updated_at = now()
         where resident_id = $1 and status in ('scheduled', 'assigned', 'missed') and scheduled_start >= $2
           and ($3::timestamptz is null or scheduled_start < $3)",
    )
    .bind(resident)
    .bind(from)
    .bind(until)
    .bind(reason)
    .execute(tx)
    .await?
    .rows_affected())
}

/// The broker accounts of the resident's devices.
pub async fn device_accounts(tx: &mut PgConnection, resident: &Reached<Identity>) -> Result<Vec<String>, sqlx::Error> {
    let resident = resident.id();
    sqlx::query_scalar(
        "select a.username from mqtt_accounts a join devices d on d.device_id = a.device_id
         where d.resident_id = $1 and a.kind = 'device' order by a.username",
    )
    .bind(resident)
    .fetch_all(tx)
    .await
}
