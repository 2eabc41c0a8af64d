//! The clinical records medical partners send in (a condition, an allergy,
//! a medication, a hospital stay), as the FHIR resources they came in,
//! with their source; and what follows a hospital stay's end: the check at
//! home planned once, the vital-sign review flag on the elder.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool, QueryBuilder};
use uuid::Uuid;

use crate::domain::Scope;
use crate::domain::clinical::{ClinicalKind, SheetItem, SheetRecords};
use crate::domain::scope::{Area, Identity, Monitoring, Placed, Reached};

/// A record as stored, with the name of the institution that sent it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Record {
    pub id: Uuid,
    pub resident_id: Uuid,
    pub kind: ClinicalKind,
    pub code_system: Option<String>,
    pub code: Option<String>,
    pub display: String,
    /// The resource as it was sent.
    pub resource: Value,
    pub source_institution_id: Uuid,
    pub source_name: String,
    pub received_at: DateTime<Utc>,
}

const SELECT: &str = "select c.id, c.resident_id, c.kind, c.code_system, c.code, c.display, c.resource,
        c.source_institution_id, i.name as source_name, c.received_at
    from clinical_records c join institutions i on i.id = c.source_institution_id";

/// A record to store, as checked.
pub struct NewRecord<'a> {
    pub id: Uuid,
    pub kind: ClinicalKind,
    /// The coding the responder sheet shows: the first one given.
    pub coding: Option<(&'a str, &'a str)>,
    pub display: &'a str,
    pub resource: &'a Value,
}

/// Where a record came from: the partner, its clinician, the consent that
/// let it in, and the Bundle it came in.
#[derive(Debug, Clone, Copy)]
pub struct Provenance {
    pub partner: Uuid,
    pub user: Uuid,
    pub consent: Uuid,
    pub bundle: Uuid,
}

/// Stores a record of the elder; answers when it was received.
pub async fn insert(
    tx: &mut PgConnection,
    resident: &Reached<Identity>,
    record: &NewRecord<'_>,
    from: Provenance,
) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar(
        "insert into clinical_records (id, resident_id, kind, code_system, code, display, resource,
                                       source_institution_id, source_user_id, consent_id, bundle_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) returning received_at",
    )
    .bind(record.id)
    .bind(resident.id())
    .bind(record.kind)
    .bind(record.coding.map(|c| c.0))
    .bind(record.coding.map(|c| c.1))
    .bind(record.display)
    .bind(record.resource)
    .bind(from.partner)
    .bind(from.user)
    .bind(from.consent)
    .bind(from.bundle)
    .fetch_one(tx)
    .await
}

/// A record of `kind` by its id, if `scope` reaches its elder in the FHIR
/// view (the monitoring area: the view is clinical).
pub async fn fetch(pool: &PgPool, scope: &Scope, kind: ClinicalKind, id: Uuid) -> Result<Option<Record>, sqlx::Error> {
    let mut query = QueryBuilder::new(SELECT);
    query.push(" join residents r on r.id = c.resident_id where c.id = ").push_bind(id);
    query.push(" and c.kind = ").push_bind(kind);
    scope.push_filter(&mut query, Placed::RESIDENTS.in_area(Area::Monitoring));
    query.build_query_as().fetch_optional(pool).await
}

/// Which of an elder's records a search finds: those of one kind; of a
/// hospital stay, of the classes named (`IMP`, ...) when some are.
pub struct Search<'a> {
    pub kind: ClinicalKind,
    pub classes: &'a [String],
}

fn push_search(query: &mut QueryBuilder<sqlx::Postgres>, resident: &Reached<Monitoring>, search: &Search<'_>) {
    query.push(" where c.resident_id = ").push_bind(resident.id());
    query.push(" and c.kind = ").push_bind(search.kind);
    if !search.classes.is_empty() {
        query.push(" and c.resource -> 'class' ->> 'code' = any(").push_bind(search.classes.to_vec()).push(")");
    }
}

pub async fn count(pool: &PgPool, resident: &Reached<Monitoring>, search: &Search<'_>) -> Result<i64, sqlx::Error> {
    let mut query = QueryBuilder::new("select count(*) from clinical_records c");
    push_search(&mut query, resident, search);
    query.build_query_scalar().fetch_one(pool).await
}

/// One page of what a search finds, oldest first, `offset` records in.
pub async fn page(
    pool: &PgPool,
    resident: &Reached<Monitoring>,
    search: &Search<'_>,
    offset: i64,
    limit: i64,
) -> Result<Vec<Record>, sqlx::Error> {
    let mut query = QueryBuilder::new(SELECT);
    push_search(&mut query, resident, search);
    query.push(" order by c.received_at, c.id offset ").push_bind(offset).push(" limit ").push_bind(limit);
    query.build_query_as().fetch_all(pool).await
}

/// What partners sent for these elders' responder sheets, by elder: the
/// conditions, allergies and medication in force, newest first (none for
/// an elder they sent nothing for). Callers reached the elders.
pub async fn on_sheets(
    executor: impl sqlx::PgExecutor<'_>,
    residents: &[Uuid],
) -> Result<HashMap<Uuid, SheetRecords>, sqlx::Error> {
    let rows: Vec<Record> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where c.resident_id = any($1) and c.kind <> 'Encounter' order by c.received_at desc, c.id"
    )))
    .bind(residents)
    .fetch_all(executor)
    .await?;
    let mut out: HashMap<Uuid, SheetRecords> = HashMap::new();
    for row in rows {
        let item = SheetItem {
            record_id: row.id,
            text: row.display,
            system: row.code_system,
            code: row.code,
            detail: crate::domain::clinical::sheet_detail(row.kind, &row.resource),
            source: row.source_name,
            source_institution_id: row.source_institution_id,
            received_at: row.received_at,
        };
        out.entry(row.resident_id).or_default().add(row.kind, &row.resource, item);
    }
    Ok(out)
}

/// Where the check after a discharge is made, and as which service: the
/// institution enrolled for her home care now (the latest enrolled, if
/// several), else her own; its `POST-DISCHARGE-CHECK` service if it has
/// one, else its welfare check (every institution has one).
pub async fn check_service(
    tx: &mut PgConnection,
    resident: &Reached<Identity>,
) -> Result<Option<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "with provider as (
             select coalesce(
                 (select e.institution_id from enrolments e
                  where e.resident_id = $1 and 'home_care' = any(e.services)
                    and e.starts_at <= now() and (e.ends_at is null or e.ends_at > now())
                  order by e.starts_at desc, e.id limit 1),
                 (select r.institution_id from residents r where r.id = $1)) as id)
         select p.id, s.id from provider p
         join services s on s.institution_id = p.id and s.code in ('POST-DISCHARGE-CHECK', 'WELFARE-CHECK')
         order by s.code = 'POST-DISCHARGE-CHECK' desc limit 1",
    )
    .bind(resident.id())
    .fetch_optional(tx)
    .await
}

/// A hospital stay whose end has passed, to be followed up.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Discharge {
    /// The status period the stay set.
    pub period_id: i64,
    pub resident_id: Uuid,
    /// The Encounter it came in as.
    pub record_id: Uuid,
    pub discharged_at: DateTime<Utc>,
    /// The institution that sent it.
    pub source_name: String,
}

const DISCHARGE: &str = "select s.id as period_id, s.resident_id, s.clinical_record_id as record_id,
        s.until_at as discharged_at, i.name as source_name
    from resident_status s join clinical_records c on c.id = s.clinical_record_id
    join institutions i on i.id = c.source_institution_id";

/// The stays that ended by `now` and nobody followed up yet, the earliest
/// ended first, at most `limit`.
pub async fn discharges_due(pool: &PgPool, now: DateTime<Utc>, limit: i64) -> Result<Vec<Discharge>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{DISCHARGE} where s.clinical_record_id is not null and s.discharge_handled_at is null and s.until_at <= $1
         order by s.until_at, s.id limit $2"
    )))
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The stay of the elder that a status period set, if it ended by `now`
/// and is still to be followed up; the period locked until the transaction
/// ends, so two processes never follow one stay up.
pub async fn discharge_to_follow(
    tx: &mut PgConnection,
    resident: &Reached<Identity>,
    period_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<Discharge>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{DISCHARGE} where s.id = $1 and s.resident_id = $2 and s.discharge_handled_at is null and s.until_at <= $3
         for update of s"
    )))
    .bind(period_id)
    .bind(resident.id())
    .bind(now)
    .fetch_optional(tx)
    .await
}

/// Whether the same stay (the elder's, from the same institution, from the
/// same start) came in before and was followed up: a Bundle sent twice, or
/// sent again at discharge, is one stay.
pub async fn followed_up_before(tx: &mut PgConnection, period_id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (
             select 1 from resident_status s join clinical_records c on c.id = s.clinical_record_id
             join resident_status o on o.resident_id = s.resident_id and o.from_at = s.from_at and o.id <> s.id
                                   and o.discharge_handled_at is not null
             join clinical_records oc on oc.id = o.clinical_record_id
                                     and oc.source_institution_id = c.source_institution_id
             where s.id = $1)",
    )
    .bind(period_id)
    .fetch_one(tx)
    .await
}

/// Marks a stay's end as acted on.
pub async fn discharge_handled(tx: &mut PgConnection, period_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("update resident_status set discharge_handled_at = now() where id = $1")
        .bind(period_id)
        .execute(tx)
        .await
        .map(drop)
}

/// Flags her vital-sign thresholds for review until `until` (a later date
/// already set stays).
pub async fn review_vitals_until(
    tx: &mut PgConnection,
    resident: &Reached<Identity>,
    until: NaiveDate,
) -> Result<(), sqlx::Error> {
    sqlx::query("update residents set vitals_review_until = greatest(vitals_review_until, $2) where id = $1")
        .bind(resident.id())
        .bind(until)
        .execute(tx)
        .await
        .map(drop)
}

/// Until when her vital-sign thresholds are to be reviewed after a
/// discharge, if they ever were.
pub async fn vitals_review_until(
    conn: &mut PgConnection,
    resident: &Reached<Identity>,
) -> Result<Option<NaiveDate>, sqlx::Error> {
    sqlx::query_scalar("select vitals_review_until from residents where id = $1")
        .bind(resident.id())
        .fetch_optional(conn)
        .await
        .map(Option::flatten)
}
