//! Residents' presence periods (in, out, unsure) as the scheduler's leader
//! judged them: the record staff and families read, kept like resident
//! status.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::activity::{Presence, PresencePeriod};
use crate::domain::scope::{Monitoring, Reached};

/// Every resident's open period.
pub async fn open(pool: &PgPool) -> Result<HashMap<Uuid, PresencePeriod>, sqlx::Error> {
    let rows: Vec<(Uuid, Presence, DateTime<Utc>)> =
        sqlx::query_as("select resident_id, presence, started_at from presence_periods where ended_at is null")
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(id, presence, from)| (id, PresencePeriod { presence, from, until: None })).collect())
}

/// Records `periods` (oldest first, the last one open) as the resident's
/// from the first one's start: what was stored from then on is replaced,
/// and the period running into it ends there.
pub async fn record(
    pool: &PgPool,
    resident: &Reached<Monitoring>,
    periods: &[PresencePeriod],
) -> Result<(), sqlx::Error> {
    let Some(first) = periods.first() else { return Ok(()) };
    let mut tx = pool.begin().await?;
    sqlx::query("delete from presence_periods where resident_id = $1 and started_at >= $2")
        .bind(resident.id())
        .bind(first.from)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "update presence_periods set ended_at = $2
         where resident_id = $1 and started_at < $2 and (ended_at is null or ended_at > $2)",
    )
    .bind(resident.id())
    .bind(first.from)
    .execute(&mut *tx)
    .await?;
    let presence: Vec<Presence> = periods.iter().map(|p| p.presence).collect();
    let from: Vec<DateTime<Utc>> = periods.iter().map(|p| p.from).collect();
    let until: Vec<Option<DateTime<Utc>>> = periods.iter().map(|p| p.until).collect();
    sqlx::query(
        "insert into presence_periods (resident_id, presence, started_at, ended_at)
         select $1, * from unnest($2::text[], $3::timestamptz[], $4::timestamptz[])",
    )
    .bind(resident.id())
    .bind(presence.iter().map(Presence::as_str).collect::<Vec<_>>())
    .bind(from)
    .bind(until)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// A resident's periods overlapping `[from, to)`, oldest first.
pub async fn between(
    pool: &PgPool,
    resident: &Reached<Monitoring>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<PresencePeriod>, sqlx::Error> {
    sqlx::query_as(
        "select presence, started_at as \"from\", ended_at as \"until\" from presence_periods
         where resident_id = $1 and started_at < $3 and (ended_at is null or ended_at > $2)
         order by started_at",
    )
    .bind(resident.id())
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}
