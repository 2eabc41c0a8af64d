//! Residents' learned routines (`rules::routine::Routine`, stored as JSON):
//! written by the scheduler's leader once a local day, read with the
//! behaviour rules' facts. The store knows them only as documents.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

use crate::domain::scope::{Monitoring, Reached};

/// Every stored routine, with the local day each was learned for. A routine
/// that no longer reads (an older shape) is left out: it is learned again.
pub async fn all<R: DeserializeOwned>(pool: &PgPool) -> Result<HashMap<Uuid, (NaiveDate, R)>, sqlx::Error> {
    let rows: Vec<(Uuid, NaiveDate, serde_json::Value)> =
        sqlx::query_as("select resident_id, learned_for, routine from resident_routines").fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, date, value)| serde_json::from_value(value).ok().map(|routine| (id, (date, routine))))
        .collect())
}

/// Stores what was learned for `resident` on local day `learned_for`.
pub async fn save<R: Serialize>(
    pool: &PgPool,
    resident: &Reached<Monitoring>,
    learned_for: NaiveDate,
    routine: &R,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into resident_routines (resident_id, learned_for, routine) values ($1, $2, $3)
         on conflict (resident_id) do update
           set learned_for = excluded.learned_for, routine = excluded.routine, learned_at = now()",
    )
    .bind(resident.id())
    .bind(learned_for)
    .bind(Json(routine))
    .execute(pool)
    .await?;
    Ok(())
}

/// The stored routine of one resident, with the day it was learned for.
pub async fn of<R: DeserializeOwned>(
    pool: &PgPool,
    resident: &Reached<Monitoring>,
) -> Result<Option<(NaiveDate, R)>, sqlx::Error> {
    let row: Option<(NaiveDate, serde_json::Value)> =
        sqlx::query_as("select learned_for, routine from resident_routines where resident_id = $1")
            .bind(resident.id())
            .fetch_optional(pool)
            .await?;
    Ok(row.and_then(|(date, value)| serde_json::from_value(value).ok().map(|routine| (date, routine))))
}
