//! What the FHIR view reads that the other stores do not already answer,
//! always through the caller's [`Scope`]: the store's rows
//! ([`crate::store::fhir`]), matched to FHIR ids and made into readings.

use sqlx::PgPool;
use uuid::Uuid;

use super::ids::{self, Measured, ObservationId};
use super::map::Reading;
use crate::domain::{Metric, Scope};
use crate::store::fhir as store;

pub use crate::store::fhir::{
    DeviceRow, PatientRow, ReadingFilter, count_observations, devices, meal_plan_changed, measuring_devices, names,
    patient, service_names,
};

/// The device whose FHIR id is `fhir_id`, if `scope` reaches it. The id is a
/// hash: it is matched over the devices in reach (an institution's fleet is
/// thousands, hashed in a millisecond or so).
pub async fn device(pool: &PgPool, scope: &Scope, fhir_id: &str) -> Result<Option<DeviceRow>, sqlx::Error> {
    let rows = store::devices_in_reach(pool, scope).await?;
    Ok(rows.into_iter().find(|d| ids::device(&d.device_id) == fhir_id))
}

/// One page of the readings behind the Observations of `filter`, oldest
/// first, `offset` Observations in.
pub async fn observation_readings(
    pool: &PgPool,
    filter: &ReadingFilter,
    offset: i64,
    limit: i64,
) -> Result<Vec<Reading>, sqlx::Error> {
    let groups = store::observation_groups(pool, filter, offset, limit).await?;
    let mut out = Vec::new();
    for group in groups {
        let mut seen = Vec::new();
        for (metric, value) in group.metrics.iter().zip(group.vals) {
            // Two messages of one time (different seqs): the first one speaks.
            let Some(metric) = Metric::parse(metric).filter(|m| !seen.contains(m)) else { continue };
            seen.push(metric);
            out.push(Reading { ts: group.ts, device_id: group.device_id.clone(), metric, value });
        }
    }
    Ok(out)
}

/// The readings behind an Observation id, and whose they are, if `scope`
/// reaches that resident.
pub async fn observation(
    pool: &PgPool,
    scope: &Scope,
    id: &ObservationId,
) -> Result<Option<(Uuid, Vec<Reading>)>, sqlx::Error> {
    let rows = store::readings_at(pool, scope, id.ts, &id.measured.metrics()).await?;
    let rows: Vec<_> = rows.into_iter().filter(|r| id.is_of(&r.device_id)).collect();
    let Some(resident) = rows.first().map(|r| r.resident_id) else { return Ok(None) };
    let readings = rows
        .into_iter()
        .map(|r| Reading { ts: r.ts, device_id: r.device_id, metric: r.metric, value: r.value })
        .collect();
    Ok(Some((resident, readings)))
}

/// What the view shows of the metrics of `measured`, for a search by code.
pub fn metrics_of(measured: Option<Measured>) -> Vec<Metric> {
    match measured {
        Some(m) => m.metrics(),
        None => Metric::ALL.into_iter().filter(|m| super::map::measured_of(*m).is_some()).collect(),
    }
}
