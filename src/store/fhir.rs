//! What the FHIR view reads that the other stores do not already answer,
//! always through the caller's [`Scope`]. Which ids and resources these
//! rows become is `fhir`'s.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, QueryBuilder};
use uuid::Uuid;

use crate::domain::scope::{Area, Care, Meals, Monitoring, Placed, Reached};
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

/// The resident, if `scope` reaches their health data (the monitoring
/// area: the FHIR view is clinical).
pub async fn patient(pool: &PgPool, scope: &Scope, id: Uuid) -> Result<Option<PatientRow>, sqlx::Error> {
    let mut query = QueryBuilder::new(
        "select r.id, r.name, r.address, r.institution_id, i.name as institution_name
         from residents r join institutions i on i.id = r.institution_id where r.id = ",
    );
    query.push_bind(id);
    scope.push_filter(&mut query, Placed::RESIDENTS.in_area(Area::Monitoring));
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
pub async fn devices(
    pool: &PgPool,
    resident: &Reached<Monitoring>,
    also: &[String],
) -> Result<Vec<DeviceRow>, sqlx::Error> {
    let resident = resident.id();
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
    let mut query = QueryBuilder::new("select distinct device_id from readings where ");
    push_readings(&mut query, filter);
    query.build_query_scalar().fetch_all(pool).await
}

/// Every device `scope` reaches (a device's FHIR id is a hash, matched over
/// these by the caller).
pub async fn devices_in_reach(pool: &PgPool, scope: &Scope) -> Result<Vec<DeviceRow>, sqlx::Error> {
    let mut query = QueryBuilder::new("select d.device_id, d.kind, d.resident_id, d.room from devices d where true");
    scope.push_filter(&mut query, Placed::DEVICES);
    query.build_query_as().fetch_all(pool).await
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
    query.push(select);
    query.push(
        " from (select ts, device_id, metric, value,
                  case when metric in ('bp_systolic', 'bp_diastolic') then 'bp' else metric end as grp
                from readings where ",
    );
    push_readings(query, filter);
    query.push(") x group by ts, device_id, grp");
}

/// The readings a filter covers, as the conditions of a `where` over `readings`.
fn push_readings(query: &mut QueryBuilder<sqlx::Postgres>, filter: &ReadingFilter) {
    let metrics: Vec<&str> = filter.metrics.iter().map(Metric::as_str).collect();
    query.push("resident_id = ").push_bind(filter.resident);
    query.push(" and metric = any(").push_bind(metrics).push(")");
    if let Some(from) = filter.from {
        query.push(" and ts >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        query.push(" and ts <= ").push_bind(to);
    }
}

pub async fn count_observations(pool: &PgPool, filter: &ReadingFilter) -> Result<i64, sqlx::Error> {
    let mut query = QueryBuilder::new("select count(*) from (");
    push_grouped(&mut query, filter, "select 1");
    query.push(") y");
    query.build_query_scalar().fetch_one(pool).await
}

/// The readings of one Observation: one device's, of one time, of one
/// metric or of a panel's, by metric.
#[derive(Debug, sqlx::FromRow)]
pub struct ReadingGroup {
    pub ts: DateTime<Utc>,
    pub device_id: String,
    pub metrics: Vec<String>,
    pub vals: Vec<f64>,
}

/// One page of the readings behind the Observations of `filter`, oldest
/// first, `offset` Observations in.
pub async fn observation_groups(
    pool: &PgPool,
    filter: &ReadingFilter,
    offset: i64,
    limit: i64,
) -> Result<Vec<ReadingGroup>, sqlx::Error> {
    let mut query = QueryBuilder::new("");
    push_grouped(
        &mut query,
        filter,
        "select ts, device_id, array_agg(metric order by metric) as metrics, array_agg(value order by metric) as vals",
    );
    query.push(" order by ts, device_id, grp offset ").push_bind(offset).push(" limit ").push_bind(limit);
    query.build_query_as().fetch_all(pool).await
}

/// A reading with whose it is.
#[derive(Debug, sqlx::FromRow)]
pub struct ResidentReading {
    pub resident_id: Uuid,
    pub ts: DateTime<Utc>,
    pub device_id: String,
    pub metric: Metric,
    pub value: f64,
}

/// The readings taken at `ts` of `metrics`, of the residents `scope`
/// reaches, by metric, the first of a time first.
pub async fn readings_at(
    pool: &PgPool,
    scope: &Scope,
    ts: DateTime<Utc>,
    metrics: &[Metric],
) -> Result<Vec<ResidentReading>, sqlx::Error> {
    let metrics: Vec<&str> = metrics.iter().map(Metric::as_str).collect();
    let mut query = QueryBuilder::new(
        "select x.resident_id, x.ts, x.device_id, x.metric, x.value from readings x
         join residents r on r.id = x.resident_id where x.ts = ",
    );
    query.push_bind(ts);
    query.push(" and x.metric = any(").push_bind(metrics).push(")");
    scope.push_filter(&mut query, Placed::RESIDENTS.in_area(Area::Monitoring));
    query.push(" order by x.metric, x.seq nulls first");
    query.build_query_as().fetch_all(pool).await
}

/// People's names by id (assignees, caregivers).
pub async fn names(pool: &PgPool, ids: &[Uuid]) -> Result<HashMap<Uuid, String>, sqlx::Error> {
    let rows: Vec<(Uuid, String)> =
        sqlx::query_as("select id, name from users where id = any($1)").bind(ids).fetch_all(pool).await?;
    Ok(rows.into_iter().collect())
}

/// The service names by code of the catalogue of a reached resident's
/// institution (the one they are registered at).
pub async fn service_names(pool: &PgPool, resident: &Reached<Care>) -> Result<HashMap<String, String>, sqlx::Error> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "select code, name from services where institution_id = (select institution_id from residents where id = $1)",
    )
    .bind(resident.id())
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}

/// When a resident's meal plan was last changed, if they have one.
pub async fn meal_plan_changed(pool: &PgPool, resident: &Reached<Meals>) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let resident = resident.id();
    sqlx::query_scalar("select updated_at from meal_plans where resident_id = $1")
        .bind(resident)
        .fetch_optional(pool)
        .await
}
