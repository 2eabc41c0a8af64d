//! What the FHIR view reads that the other stores do not already answer,
//! always through the caller's [`Scope`].

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, QueryBuilder};
use uuid::Uuid;

use super::ids::{self, Measured, ObservationId};
use super::map::Reading;
use crate::domain::scope::Placed;
use crate::domain::{Metric, Scope};

/// A resident as the Patient resource shows them.
#[derive(Debug, sqlx::FromRow)]
pub struct PatientRow {
    pub id: Uuid,
    pub name: String,
    pub address: Option<String>,
    pub institution_id: Uuid,
    pub institution_name: String,
}

/// The resident, if `scope` reaches them.
pub async fn patient(pool: &PgPool, scope: &Scope, id: Uuid) -> Result<Option<PatientRow>, sqlx::Error> {
    let mut query = QueryBuilder::new(
        "select r.id, r.name, r.address, r.institution_id, i.name as institution_name
         from residents r join institutions i on i.id = r.institution_id where r.id = ",
    );
    query.push_bind(id);
    scope.push_filter(&mut query, Placed::RESIDENTS);
    query.build_query_as().fetch_optional(pool).await
}

#[derive(Debug, sqlx::FromRow)]
pub struct DeviceRow {
    pub device_id: String,
    pub kind: String,
    pub resident_id: Option<Uuid>,
    pub room: Option<String>,
}

/// The devices of a resident, and any other device named in `also` (those
/// that measured them before they were moved), by `device_id`.
pub async fn devices(pool: &PgPool, resident: Uuid, also: &[String]) -> Result<Vec<DeviceRow>, sqlx::Error> {
    sqlx::query_as(
        "select device_id, kind, resident_id, room from devices
         where resident_id = $1 or device_id = any($2) order by device_id",
    )
    .bind(resident)
    .bind(also)
    .fetch_all(pool)
    .await
}

/// The devices that measured what `filter` covers, by `device_id`: readings
/// keep whose they were when taken, so a device since given to someone else
/// is still among them.
pub async fn measuring_devices(pool: &PgPool, filter: &ReadingFilter) -> Result<Vec<String>, sqlx::Error> {
    let metrics: Vec<&str> = filter.metrics.iter().map(Metric::as_str).collect();
    let mut query = QueryBuilder::new("select distinct device_id from readings where resident_id = ");
    query.push_bind(filter.resident);
    query.push(" and metric = any(").push_bind(metrics).push(")");
    if let Some(from) = filter.from {
        query.push(" and ts >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        query.push(" and ts <= ").push_bind(to);
    }
    query.build_query_scalar().fetch_all(pool).await
}

/// The device whose FHIR id is `fhir_id`, if `scope` reaches it. The id is a
/// hash: it is matched over the devices in reach (an institution's fleet is
/// thousands, hashed in a millisecond or so).
pub async fn device(pool: &PgPool, scope: &Scope, fhir_id: &str) -> Result<Option<DeviceRow>, sqlx::Error> {
    let mut query = QueryBuilder::new("select d.device_id, d.kind, d.resident_id, d.room from devices d where true");
    scope.push_filter(&mut query, Placed::DEVICES);
    let rows: Vec<DeviceRow> = query.build_query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().find(|d| ids::device(&d.device_id) == fhir_id))
}

/// Which readings an Observation search covers.
#[derive(Debug, Clone)]
pub struct ReadingFilter {
    pub resident: Uuid,
    pub metrics: Vec<Metric>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Observations are counted and paged as FHIR sees them: a blood-pressure
/// panel (a device's systolic and diastolic readings of one time) is one.
fn push_grouped(query: &mut QueryBuilder<sqlx::Postgres>, filter: &ReadingFilter, select: &str) {
    let metrics: Vec<&str> = filter.metrics.iter().map(Metric::as_str).collect();
    query.push(select);
    query.push(
        " from (select ts, device_id, metric, value,
                  case when metric in ('bp_systolic', 'bp_diastolic') then 'bp' else metric end as grp
                from readings where resident_id = ",
    );
    query.push_bind(filter.resident);
    query.push(" and metric = any(").push_bind(metrics).push(")");
    if let Some(from) = filter.from {
        query.push(" and ts >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        query.push(" and ts <= ").push_bind(to);
    }
    query.push(") x group by ts, device_id, grp");
}

pub async fn count_observations(pool: &PgPool, filter: &ReadingFilter) -> Result<i64, sqlx::Error> {
    let mut query = QueryBuilder::new("select count(*) from (");
    push_grouped(&mut query, filter, "select 1");
    query.push(") y");
    query.build_query_scalar().fetch_one(pool).await
}

/// One page of the readings behind the Observations of `filter`, oldest
/// first, `offset` Observations in.
pub async fn observation_readings(
    pool: &PgPool,
    filter: &ReadingFilter,
    offset: i64,
    limit: i64,
) -> Result<Vec<Reading>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Group {
        ts: DateTime<Utc>,
        device_id: String,
        metrics: Vec<String>,
        vals: Vec<f64>,
    }
    let mut query = QueryBuilder::new("");
    push_grouped(
        &mut query,
        filter,
        "select ts, device_id, array_agg(metric order by metric) as metrics, array_agg(value order by metric) as vals",
    );
    query.push(" order by ts, device_id, grp offset ").push_bind(offset).push(" limit ").push_bind(limit);
    let groups: Vec<Group> = query.build_query_as().fetch_all(pool).await?;
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
    #[derive(sqlx::FromRow)]
    struct Row {
        resident_id: Uuid,
        ts: DateTime<Utc>,
        device_id: String,
        metric: Metric,
        value: f64,
    }
    let metrics: Vec<&str> = id.measured.metrics().iter().map(Metric::as_str).collect();
    let mut query = QueryBuilder::new(
        "select x.resident_id, x.ts, x.device_id, x.metric, x.value from readings x
         join residents r on r.id = x.resident_id where x.ts = ",
    );
    query.push_bind(id.ts);
    query.push(" and x.metric = any(").push_bind(metrics).push(")");
    scope.push_filter(&mut query, Placed::RESIDENTS);
    query.push(" order by x.metric, x.seq nulls first");
    let rows: Vec<Row> = query.build_query_as().fetch_all(pool).await?;
    let rows: Vec<Row> = rows.into_iter().filter(|r| id.is_of(&r.device_id)).collect();
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

/// People's names by id (assignees, caregivers).
pub async fn names(pool: &PgPool, ids: &[Uuid]) -> Result<HashMap<Uuid, String>, sqlx::Error> {
    let rows: Vec<(Uuid, String)> =
        sqlx::query_as("select id, name from users where id = any($1)").bind(ids).fetch_all(pool).await?;
    Ok(rows.into_iter().collect())
}

/// An institution's service names by code.
pub async fn service_names(pool: &PgPool, institution: Uuid) -> Result<HashMap<String, String>, sqlx::Error> {
    let rows: Vec<(String, String)> = sqlx::query_as("select code, name from services where institution_id = $1")
        .bind(institution)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().collect())
}

/// When a resident's meal plan was last changed, if they have one.
pub async fn meal_plan_changed(pool: &PgPool, resident: Uuid) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar("select updated_at from meal_plans where resident_id = $1")
        .bind(resident)
        .fetch_optional(pool)
        .await
}
