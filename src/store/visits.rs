//! Visits: one service delivered to one resident, with its EVV record. A
//! visit is read whole, changed in Rust through the domain's rules, and
//! saved whole, inside the caller's transaction.

use crate::domain::scope::{AreaOf, Identity, Reached};
use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, QueryBuilder};
use uuid::Uuid;

use super::care::Task;
use super::residents::Home;
use crate::domain::Scope;
use crate::domain::care::{
    self, Bound, CancelReason, DoorRecord, EvvFacts, Exception, Funding, Location, Origin, PlanItem, Unit, VisitStatus,
};
use crate::domain::responder::Responder;

/// One task of the service, ticked (or not) at check-out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskDone {
    pub code: String,
    pub done: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub note: Option<String>,
}

/// An exception a coordinator accepted, and why.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Resolved {
    pub code: Exception,
    pub reason: String,
    pub by: Uuid,
    pub at: DateTime<Utc>,
}

/// A correction of the record: the original stays beside it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Amendment {
    #[schema(value_type = crate::domain::care::AmendField)]
    pub field: String,
    pub original: Option<DateTime<Utc>>,
    pub value: DateTime<Utc>,
    pub reason: String,
    pub by: Uuid,
    pub at: DateTime<Utc>,
}

/// A visit as stored, with what it needs of its resident and service.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Visit {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub resident_id: Uuid,
    pub resident_name: String,
    pub timezone: String,
    pub address: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub resident_notes: Option<String>,
    pub service_id: Uuid,
    pub service_code: String,
    pub service_name: String,
    pub duration_minutes: i32,
    pub evv_required: bool,
    pub unit: Unit,
    pub unit_price: f64,
    pub service_tasks: Json<Vec<Task>>,
    pub funding: Funding,
    pub origin: Origin,
    pub status: VisitStatus,
    pub scheduled_start: Option<DateTime<Utc>>,
    pub preferred_start: Option<DateTime<Utc>>,
    pub caregiver_id: Option<Uuid>,
    pub caregiver_name: Option<String>,
    pub alert_id: Option<Uuid>,
    pub note: Option<String>,
    pub cancel_reason: Option<CancelReason>,
    pub check_in: Option<Json<DoorRecord>>,
    pub check_out: Option<Json<DoorRecord>>,
    pub tasks: Json<Vec<TaskDone>>,
    pub visit_note: Option<String>,
    pub exceptions: Vec<String>,
    pub resolved: Json<Vec<Resolved>>,
    pub amendments: Json<Vec<Amendment>>,
    pub start_corrected: Option<DateTime<Utc>>,
    pub end_corrected: Option<DateTime<Utc>>,
    pub late_alerted: bool,
    pub rating_stars: Option<i32>,
    pub rating_comment: Option<String>,
    pub rated_by: Option<Uuid>,
    pub rated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The listing's order and cursor: the scheduled start, or for a request
    /// not yet scheduled, when it was made.
    pub sort_at: DateTime<Utc>,
}

const SELECT: &str = "select v.id, v.institution_id, v.resident_id, r.name as resident_name, r.timezone, r.address,
        r.lat, r.lon, r.notes as resident_notes, v.service_id, s.code as service_code, s.name as service_name,
        s.duration_minutes, s.evv_required, s.unit, s.unit_price, s.tasks as service_tasks, v.funding, v.origin,
        v.status, v.scheduled_start, v.preferred_start, v.caregiver_id, u.name as caregiver_name, v.alert_id, v.note,
        v.cancel_reason, v.check_in, v.check_out, v.tasks, v.visit_note, v.exceptions, v.resolved, v.amendments,
        v.start_corrected, v.end_corrected, v.late_alerted_at is not null as late_alerted, v.rating_stars,
        v.rating_comment, v.rated_by, v.rated_at, v.created_at, v.updated_at,
        coalesce(v.scheduled_start, v.created_at) as sort_at
    from visits v join residents r on r.id = v.resident_id join services s on s.id = v.service_id
    left join users u on u.id = v.caregiver_id";

/// The electronic visit verification record, as the contract shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Evv {
    pub service_code: String,
    pub resident_id: Uuid,
    pub caregiver_id: Option<Uuid>,
    /// The local date of the visit, in the resident's timezone.
    pub date: Option<NaiveDate>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub check_in: Option<DoorRecord>,
    pub check_out: Option<DoorRecord>,
    pub minutes: Option<i64>,
    pub verified: bool,
    pub exceptions: Vec<Exception>,
    pub resolved: Vec<Resolved>,
}

impl Visit {
    pub fn home(&self) -> Option<Location> {
        Some(Location { lat: self.lat?, lon: self.lon? })
    }

    pub fn exceptions(&self) -> Vec<Exception> {
        self.exceptions.iter().filter_map(|e| Exception::parse(e)).collect()
    }

    /// Judges the record's exceptions again from what it holds.
    pub fn judge(&mut self, far_from_home_m: f64) {
        let facts = EvvFacts {
            scheduled_start: self.scheduled_start,
            duration_minutes: self.duration_minutes,
            check_in: self.check_in.as_ref().map(|j| &j.0),
            check_out: self.check_out.as_ref().map(|j| &j.0),
            amended: !self.amendments.0.is_empty(),
            far_from_home_m,
        };
        let disputed = self.exceptions().contains(&Exception::Disputed);
        self.exceptions = care::exceptions(&facts).iter().map(|e| e.as_str().to_owned()).collect();
        // A dispute is no fact of the record: it stays until resolved.
        if disputed {
            self.exceptions.push(Exception::Disputed.as_str().to_owned());
        }
    }

    /// Opens a dispute on the visit (a follow-up call heard it did not
    /// happen): unverified, so out of claims, until the bureau resolves it.
    /// False when it has been disputed already (a visit is called once).
    pub fn dispute(&mut self) -> bool {
        if self.exceptions().contains(&Exception::Disputed) {
            return false;
        }
        self.exceptions.push(Exception::Disputed.as_str().to_owned());
        true
    }

    /// Completed, and every exception (if any) resolved.
    pub fn verified(&self) -> bool {
        self.status == VisitStatus::Completed
            && self.exceptions().iter().all(|e| self.resolved.0.iter().any(|r| r.code == *e))
    }

    /// The start and end statements use: corrected when amended.
    pub fn start(&self) -> Option<DateTime<Utc>> {
        self.start_corrected.or(self.check_in.as_ref().map(|c| c.at()))
    }

    pub fn end(&self) -> Option<DateTime<Utc>> {
        self.end_corrected.or(self.check_out.as_ref().map(|c| c.at()))
    }

    pub fn minutes(&self) -> Option<i64> {
        Some(care::minutes_between(self.start()?, self.end()?))
    }

    /// What pricing needs of a verified visit: its date (local, of its
    /// start), minutes and catalogue amount.
    pub fn billable(&self) -> Option<super::billing::BillableVisit> {
        let start = self.start()?;
        let minutes = self.minutes()?;
        let unit_price = crate::domain::billing::Fen::from_yuan_f64(self.unit_price);
        Some(super::billing::BillableVisit {
            id: self.id,
            institution: self.institution_id,
            resident: self.resident_id,
            date: care::local_date(&self.timezone, start),
            service_code: self.service_code.clone(),
            funding: self.funding,
            amount: crate::domain::billing::visit_amount(self.unit, unit_price, minutes),
            minutes,
        })
    }

    pub fn evv(&self) -> Evv {
        let check_in = self.check_in.as_ref().map(|c| c.0.clone());
        let check_out = self.check_out.as_ref().map(|c| c.0.clone());
        let start = check_in.as_ref().map(DoorRecord::at);
        let end = check_out.as_ref().map(DoorRecord::at);
        let date = start.or(self.scheduled_start).map(|at| care::local_date(&self.timezone, at));
        Evv {
            service_code: self.service_code.clone(),
            resident_id: self.resident_id,
            caregiver_id: self.caregiver_id,
            date,
            start,
            end,
            check_in,
            check_out,
            minutes: start.zip(end).map(|(s, e)| care::minutes_between(s, e)),
            verified: self.verified(),
            exceptions: self.exceptions(),
            resolved: self.resolved.0.clone(),
        }
    }
}

/// The visit, if `scope` reaches it; `for update` locks it for a change.
pub async fn fetch(
    conn: &mut PgConnection,
    scope: &Scope,
    id: Uuid,
    for_update: bool,
) -> Result<Option<Visit>, sqlx::Error> {
    let mut query = QueryBuilder::new(format!("{SELECT} where v.id = "));
    query.push_bind(id);
    scope.push_visits_filter(&mut query);
    if for_update {
        query.push(" for update of v");
    }
    query.build_query_as().fetch_optional(conn).await
}

/// A visit by id, whoever may see it: for the system's own work.
pub async fn fetch_any(conn: &mut PgConnection, id: Uuid) -> Result<Option<Visit>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where v.id = $1 for update of v")))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Whose visit `id` is: for the reach check that comes before reading it
/// with [`fetch_reached`].
pub async fn resident_of(conn: &mut PgConnection, id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select resident_id from visits where id = $1").bind(id).fetch_optional(conn).await
}

/// A visit of a resident the caller reaches, locked for change.
pub async fn fetch_reached(
    conn: &mut PgConnection,
    resident: &Reached<Identity>,
    id: Uuid,
) -> Result<Option<Visit>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where v.id = $1 and v.resident_id = $2 for update of v")))
        .bind(id)
        .bind(resident.id())
        .fetch_optional(conn)
        .await
}

/// The responder sheets of the visits' residents.
pub async fn sheets(pool: &PgPool, visits: &[Visit]) -> Result<HashMap<Uuid, Responder>, sqlx::Error> {
    let mut residents: Vec<Uuid> = visits.iter().map(|v| v.resident_id).collect();
    residents.sort_unstable();
    residents.dedup();
    super::responder::responders(pool, &residents).await
}

/// Records which family member rated the visit.
pub async fn set_rated_by(tx: &mut PgConnection, id: Uuid, user: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("update visits set rated_by = $2 where id = $1").bind(id).bind(user).execute(tx).await.map(drop)
}

pub struct NewVisit {
    pub institution_id: Uuid,
    pub resident_id: Uuid,
    pub service_id: Uuid,
    pub funding: Funding,
    pub origin: Origin,
    pub status: VisitStatus,
    pub scheduled_start: Option<DateTime<Utc>>,
    pub preferred_start: Option<DateTime<Utc>>,
    pub caregiver_id: Option<Uuid>,
    pub alert_id: Option<Uuid>,
    pub note: Option<String>,
    pub requested_by: Option<Uuid>,
    /// The hospital stay a post-discharge check is planned for.
    pub clinical_record_id: Option<Uuid>,
}

pub async fn insert(tx: &mut PgConnection, new: NewVisit) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    sqlx::query(
        "insert into visits (id, institution_id, resident_id, service_id, funding, origin, status, scheduled_start,
                             preferred_start, caregiver_id, alert_id, note, requested_by, clinical_record_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(id)
    .bind(new.institution_id)
    .bind(new.resident_id)
    .bind(new.service_id)
    .bind(new.funding)
    .bind(new.origin)
    .bind(new.status)
    .bind(new.scheduled_start)
    .bind(new.preferred_start)
    .bind(new.caregiver_id)
    .bind(new.alert_id)
    .bind(new.note)
    .bind(new.requested_by)
    .bind(new.clinical_record_id)
    .execute(tx)
    .await?;
    Ok(id)
}

/// Writes back everything a person or the system may change of a visit.
pub async fn save(tx: &mut PgConnection, v: &Visit) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update visits set status = $2, scheduled_start = $3, caregiver_id = $4, cancel_reason = $5,
             check_in = $6, check_in_at = $7, check_out = $8, check_out_at = $9, tasks = $10, visit_note = $11,
             exceptions = $12, resolved = $13, amendments = $14, start_corrected = $15, end_corrected = $16,
             rating_stars = $17, rating_comment = $18, rated_at = $19, verified = $20, rated_by = $21,
             updated_at = now()
         where id = $1",
    )
    .bind(v.id)
    .bind(v.status)
    .bind(v.scheduled_start)
    .bind(v.caregiver_id)
    .bind(v.cancel_reason)
    .bind(&v.check_in)
    .bind(v.check_in.as_ref().map(|c| c.at()))
    .bind(&v.check_out)
    .bind(v.check_out.as_ref().map(|c| c.at()))
    .bind(&v.tasks)
    .bind(&v.visit_note)
    .bind(&v.exceptions)
    .bind(&v.resolved)
    .bind(&v.amendments)
    .bind(v.start_corrected)
    .bind(v.end_corrected)
    .bind(v.rating_stars)
    .bind(&v.rating_comment)
    .bind(v.rated_at)
    .bind(v.verified())
    .bind(v.rated_by)
    .execute(&mut *tx)
    .await?;
    // Billable from the moment it is verified: priced now, once.
    if let Some(billable) = v.billable().filter(|_| v.verified()) {
        super::billing::price_visit(tx, &billable).await?;
    }
    Ok(())
}

/// Which visits a listing shows; `None` shows all.
#[derive(Debug, Default)]
pub struct Filter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub status: Option<VisitStatus>,
    pub resident_id: Option<Uuid>,
    pub caregiver_id: Option<Uuid>,
    /// Local dates of the resident, both included.
    pub from_date: Option<NaiveDate>,
    pub to_date: Option<NaiveDate>,
}

impl Filter {
    /// Shows the visits from this instant, or from this local date on.
    pub fn from(&mut self, bound: Bound) {
        match bound {
            Bound::At(at) => self.from = Some(at),
            Bound::Date(date) => self.from_date = Some(date),
        }
    }

    /// Shows the visits before this instant, or up to this local date.
    pub fn to(&mut self, bound: Bound) {
        match bound {
            Bound::At(at) => self.to = Some(at),
            Bound::Date(date) => self.to_date = Some(date),
        }
    }
}

/// Where the next page of [`list`] starts: after this visit.
pub fn cursor_of(v: &Visit) -> String {
    format!("{}_{}", v.sort_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true), v.id)
}

/// A cursor [`cursor_of`] gave, read back; `None` when it is none of them.
pub fn parse_cursor(cursor: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let (at, id) = cursor.split_once('_')?;
    Some((at.parse().ok()?, id.parse().ok()?))
}

/// A page of the visits `scope` reaches, by time then id, after `cursor`
/// (the last row of the page before); `limit + 1` rows, so the caller
/// knows whether another page follows.
pub async fn list(
    pool: &PgPool,
    scope: &Scope,
    filter: &Filter,
    cursor: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Visit>, sqlx::Error> {
    let mut query = QueryBuilder::new(format!("select * from ({SELECT} where true"));
    scope.push_visits_filter(&mut query);
    if let Some(status) = filter.status {
        query.push(" and v.status = ").push_bind(status);
    }
    if let Some(resident) = filter.resident_id {
        query.push(" and v.resident_id = ").push_bind(resident);
    }
    if let Some(caregiver) = filter.caregiver_id {
        query.push(" and v.caregiver_id = ").push_bind(caregiver);
    }
    query.push(") x where true");
    if let Some(from) = filter.from {
        query.push(" and x.sort_at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        query.push(" and x.sort_at < ").push_bind(to);
    }
    if let Some(date) = filter.from_date {
        query.push(" and (x.sort_at at time zone x.timezone)::date >= ").push_bind(date);
    }
    if let Some(date) = filter.to_date {
        query.push(" and (x.sort_at at time zone x.timezone)::date <= ").push_bind(date);
    }
    if let Some((at, id)) = cursor {
        query.push(" and (x.sort_at, x.id) > (").push_bind(at).push(", ").push_bind(id).push(")");
    }
    query.push(" order by x.sort_at, x.id limit ").push_bind(limit + 1);
    query.build_query_as().fetch_all(pool).await
}

/// Brings a resident's future plan visits in step with the plan: slots
/// still ahead of `now` in the coming 14 local days are generated once;
/// pending plan visits that no longer match are cancelled `plan_changed`.
/// Past visits are never touched. Answers (generated, cancelled). Proof of
/// any area: a status change or a move follows the plan too.
pub async fn sync_plan<A: AreaOf>(
    tx: &mut PgConnection,
    home: &Home,
    resident_id: &Reached<A>,
    tz: &chrono_tz::Tz,
    items: &[(PlanItem, chrono::NaiveTime, Uuid)],
    present: impl Fn(DateTime<Utc>) -> bool,
    now: DateTime<Utc>,
) -> Result<(u64, u64), sqlx::Error> {
    let resident_id = resident_id.id();
    let for_slots: Vec<(PlanItem, chrono::NaiveTime)> = items.iter().map(|(i, t, _)| (i.clone(), *t)).collect();
    let wanted: Vec<(Uuid, Funding, DateTime<Utc>)> = care::plan_slots(&for_slots, tz, now)
        .into_iter()
        .filter(|(_, at)| present(*at))
        .map(|(i, at)| (items[i].2, items[i].0.funding, at))
        .collect();
    let existing: Vec<(Uuid, Uuid, Funding, DateTime<Utc>)> = sqlx::query_as(
        "select id, service_id, funding, scheduled_start from visits
         where resident_id = $1 and origin = 'plan' and status in ('scheduled', 'assigned') and scheduled_start > $2
         for update",
    )
    .bind(resident_id)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let stale: Vec<Uuid> = existing
        .iter()
        .filter(|(_, service, funding, at)| !wanted.contains(&(*service, *funding, *at)))
        .map(|(id, ..)| *id)
        .collect();
    let cancelled = sqlx::query(
        "update visits set status = 'cancelled', cancel_reason = 'plan_changed', updated_at = now() where id = any($1)",
    )
    .bind(&stale)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let (services, rest): (Vec<Uuid>, Vec<(Funding, DateTime<Utc>)>) =
        wanted.iter().map(|(s, f, at)| (*s, (*f, *at))).unzip();
    let (fundings, starts): (Vec<&str>, Vec<DateTime<Utc>>) = rest.iter().map(|(f, at)| (f.as_str(), *at)).unzip();
    let generated = sqlx::query(
        "insert into visits (id, institution_id, resident_id, service_id, funding, origin, status, scheduled_start)
         select gen_random_uuid(), $1, $2, s.service_id, s.funding, 'plan', 'scheduled', s.at
         from unnest($3::uuid[], $4::text[], $5::timestamptz[]) as s (service_id, funding, at)
         on conflict (resident_id, service_id, scheduled_start) where origin = 'plan' and status <> 'cancelled'
         do nothing",
    )
    .bind(home.institution())
    .bind(resident_id)
    .bind(&services)
    .bind(&fundings)
    .bind(&starts)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok((generated, cancelled))
}

/// A visit the lateness sweep looks at.
#[derive(Debug, sqlx::FromRow)]
pub struct Due {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub resident_id: Uuid,
    pub status: VisitStatus,
    pub origin: Origin,
    pub scheduled_start: DateTime<Utc>,
    pub late_alerted: bool,
    pub service_code: String,
}

/// Visits due by now that nobody has checked in to.
pub async fn due(pool: &PgPool, now: DateTime<Utc>) -> Result<Vec<Due>, sqlx::Error> {
    sqlx::query_as(
        "select v.id, v.institution_id, v.resident_id, v.status, v.origin, v.scheduled_start,
                v.late_alerted_at is not null as late_alerted, s.code as service_code
         from visits v join services s on s.id = v.service_id
         where v.status in ('scheduled', 'assigned') and v.scheduled_start <= $1
         order by v.scheduled_start",
    )
    .bind(now)
    .fetch_all(pool)
    .await
}

/// Records that a visit's lateness alert was raised.
pub async fn mark_late(tx: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("update visits set late_alerted_at = now() where id = $1 and late_alerted_at is null")
        .bind(id)
        .execute(tx)
        .await
        .map(drop)
}

/// Marks a visit missed, if nobody checked in meanwhile; false when
/// someone did.
pub async fn mark_missed(tx: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let changed = sqlx::query(
        "update visits set status = 'missed', missed_alerted_at = now(), updated_at = now()
         where id = $1 and status in ('scheduled', 'assigned')",
    )
    .bind(id)
    .execute(tx)
    .await?
    .rows_affected();
    Ok(changed > 0)
}

/// A completed visit as a statement weighs it.
#[derive(Debug, sqlx::FromRow)]
pub struct Billable {
    pub id: Uuid,
    pub resident_id: Uuid,
    /// Corrected when amended.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub verified: bool,
    pub service_id: Uuid,
}

/// The completed visits of one institution and funder whose (corrected)
/// start falls in the month that begins on `first`, in each resident's own
/// timezone.
pub async fn billable(
    pool: &PgPool,
    scope: &Scope,
    funding: Funding,
    first: NaiveDate,
    next: NaiveDate,
) -> Result<Vec<Billable>, sqlx::Error> {
    let institution = scope.institution;
    // Every zone's month lies within a day of the UTC one: the index narrows
    // to that, the resident's zone cuts exactly.
    let day = chrono::Duration::days(1);
    let utc = |date: NaiveDate| date.and_time(chrono::NaiveTime::MIN).and_utc();
    sqlx::query_as(
        "select v.id, v.resident_id, b.start, b.end, v.verified, v.service_id
         from visits v join residents r on r.id = v.resident_id
         cross join lateral (select coalesce(v.start_corrected, v.check_in_at) as start,
                                    coalesce(v.end_corrected, v.check_out_at) as end) b
         where v.institution_id = $1 and v.funding = $2 and v.status = 'completed'
           and v.check_in_at >= $5 and v.check_in_at < $6
           and b.start is not null and b.end is not null
           and (b.start at time zone r.timezone)::date >= $3 and (b.start at time zone r.timezone)::date < $4",
    )
    .bind(institution)
    .bind(funding)
    .bind(first)
    .bind(next)
    .bind(utc(first) - day * 2)
    .bind(utc(next) + day * 2)
    .fetch_all(pool)
    .await
}
