//! The hotline desk's reads and its call log: who a phone number is, what
//! is open for an elder, the calls taken and made, and the elders living
//! alone whom nobody has been in touch with.
//!
//! Every read goes through the caller's scope: the desk reaches every
//! elder's identity and her open alerts, a grid worker those of the grid.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, QueryBuilder};
use uuid::Uuid;

use crate::domain::Scope;
use crate::domain::scope::{Identity, Placed, Reached};

/// Whom a phone number is: an elder's own phone, or a family member's
/// (with the elder linked to them).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Found {
    pub resident_id: Uuid,
    /// The family member whose phone it is; `None` for the elder's own.
    pub family_user_id: Option<Uuid>,
    pub family_name: Option<String>,
}

/// The elders whose phone is `phone`, then those linked to a family member
/// whose phone it is, in the caller's reach (at most 50). The registry
/// keeps an elder's number as it was given: every form of it is looked for
/// (`domain::registry::phone_variants`).
pub async fn lookup(pool: &PgPool, scope: &Scope, phone: &str) -> Result<Vec<Found>, sqlx::Error> {
    let variants = crate::domain::registry::phone_variants(phone);
    let mut query = QueryBuilder::new(
        "select * from (select r.id as resident_id, null::uuid as family_user_id, null::text as family_name, \
         r.name, 0 as rank from residents r where r.phone = any(",
    );
    query.push_bind(variants).push(")");
    scope.push_filter(&mut query, Placed::RESIDENTS);
    query.push(
        " union all select r.id, u.id, u.name, r.name, 1 from users u join family_links fl on fl.user_id = u.id \
         join residents r on r.id = fl.resident_id where u.role = 'family' and u.disabled_at is null and u.phone = ",
    );
    query.push_bind(phone);
    scope.push_filter(&mut query, Placed::RESIDENTS);
    query.push(") found order by rank, name, resident_id limit 50");
    query.build_query_as().fetch_all(pool).await
}

/// One of an elder's open alerts, as the desk reads it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = DeskAlert)]
pub struct OpenAlert {
    pub id: Uuid,
    pub kind: String,
    pub severity: String,
    pub status: String,
    pub opened_at: DateTime<Utc>,
}

/// The elder's alerts the caller reaches that are not resolved, newest first.
pub async fn open_alerts(
    pool: &PgPool,
    scope: &Scope,
    resident: &Reached<Identity>,
) -> Result<Vec<OpenAlert>, sqlx::Error> {
    let mut query = QueryBuilder::new(
        "select a.id, a.kind, a.severity, a.status, a.opened_at from alerts a where a.resident_id = ",
    );
    query.push_bind(resident.id()).push(" and a.status <> 'resolved'");
    scope.push_filter(&mut query, Placed::ALERTS);
    query.push(" order by a.opened_at desc limit 20");
    query.build_query_as().fetch_all(pool).await
}

/// The elder's open period of presence (in, out, unsure) and since when.
pub async fn presence(
    pool: &PgPool,
    resident: &Reached<Identity>,
) -> Result<Option<(String, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as("select presence, started_at from presence_periods where resident_id = $1 and ended_at is null")
        .bind(resident.id())
        .fetch_optional(pool)
        .await
}

/// A call taken or made by the desk, as logged.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Call {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub phone: String,
    /// in or out.
    pub direction: String,
    #[schema(required = true)]
    pub resident_id: Option<Uuid>,
    /// service_request, alert, information, complaint, wellbeing or no_answer.
    pub disposition: String,
    #[schema(required = true)]
    pub note: Option<String>,
    /// The role of who took it (desk, grid_worker).
    pub by: String,
    #[schema(required = true)]
    pub by_name: Option<String>,
    /// The alert the call raised.
    #[schema(required = true)]
    pub alert_id: Option<Uuid>,
    /// The welfare check two unanswered calls set off.
    #[schema(required = true)]
    pub service_request_id: Option<Uuid>,
}

const CALL_COLUMNS: &str = "c.id, c.at, c.phone, c.direction, c.resident_id, c.disposition, c.note, \
    c.by_role as by, u.name as by_name, c.alert_id, c.service_request_id";

/// The elder's last calls, newest first.
pub async fn calls_of(pool: &PgPool, resident: &Reached<Identity>, limit: i64) -> Result<Vec<Call>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {CALL_COLUMNS} from calls c left join users u on u.id = c.by_user \
         where c.resident_id = $1 order by c.at desc, c.id desc limit $2"
    )))
    .bind(resident.id())
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The last calls from or to a number that named no elder (a caller the
/// desk could not place), newest first.
pub async fn calls_from(pool: &PgPool, phone: &str, limit: i64) -> Result<Vec<Call>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {CALL_COLUMNS} from calls c left join users u on u.id = c.by_user \
         where c.phone = $1 and c.resident_id is null order by c.at desc, c.id desc limit $2"
    )))
    .bind(phone)
    .bind(limit)
    .fetch_all(pool)
    .await
}

pub struct NewCall<'a> {
    pub phone: &'a str,
    pub direction: &'a str,
    pub disposition: &'a str,
    pub note: Option<&'a str>,
}

/// Logs a call, about an elder in reach or about no one.
pub async fn insert(
    tx: &mut PgConnection,
    scope: &Scope,
    resident: Option<&Reached<Identity>>,
    call: &NewCall<'_>,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    sqlx::query(
        "insert into calls (id, by_user, by_role, phone, direction, resident_id, disposition, note)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(scope.user)
    .bind(scope.role.as_str())
    .bind(call.phone)
    .bind(call.direction)
    .bind(resident.map(Reached::id))
    .bind(call.disposition)
    .bind(call.note)
    .execute(tx)
    .await?;
    Ok(id)
}

/// Links the alert a call raised, or the welfare check it set off.
pub async fn link(
    tx: &mut PgConnection,
    call: Uuid,
    alert: Option<Uuid>,
    request: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update calls set alert_id = coalesce($2, alert_id), service_request_id = coalesce($3, service_request_id)
         where id = $1",
    )
    .bind(call)
    .bind(alert)
    .bind(request)
    .execute(tx)
    .await?;
    Ok(())
}

/// When someone was last in touch with the elder, over `residents r`: a
/// call she answered, a visit begun, her own activity on a sensor, or a
/// family member's message. A macro so queries can `concat!` it.
macro_rules! last_contact {
    () => {
        "greatest(
            (select max(c.at) from calls c where c.resident_id = r.id and c.disposition <> 'no_answer'),
            (select max(v.check_in_at) from visits v where v.resident_id = r.id
                and v.status in ('checked_in', 'completed')),
            (select e.ts from events e where e.resident_id = r.id order by e.ts desc limit 1),
            (select max(m.created_at) from messages m join users mu on mu.id = m.author_id
                where m.resident_id = r.id and mu.role = 'family'))"
    };
}

/// The calls in a row nobody answered since she was last in touch with
/// anyone and since the last welfare check they set off, the one just
/// logged included (under the resident's lock: two desks logging at once
/// count each other's).
pub async fn unanswered_in_a_row(tx: &mut PgConnection, resident: &Reached<Identity>) -> Result<i64, sqlx::Error> {
    sqlx::query("select 1 from residents where id = $1 for update").bind(resident.id()).execute(&mut *tx).await?;
    sqlx::query_scalar(concat!(
        "select count(*) from calls c, residents r where r.id = $1 and c.resident_id = r.id
            and c.disposition = 'no_answer'
            and c.at > coalesce(",
        last_contact!(),
        ", '-infinity')
            and c.at > coalesce((select max(w.at) from calls w where w.resident_id = r.id
                and w.service_request_id is not null), '-infinity')"
    ))
    .bind(resident.id())
    .fetch_one(tx)
    .await
}

/// An elder on the check-call list.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CheckCall {
    pub resident_id: Uuid,
    pub name: String,
    #[schema(required = true)]
    pub phone: Option<String>,
    #[schema(required = true)]
    pub division: Option<String>,
    #[schema(required = true)]
    pub age: Option<i32>,
    /// When anyone was last in touch with her; null if never.
    #[schema(required = true)]
    pub last_contact_at: Option<DateTime<Utc>>,
    /// Calls since then nobody answered.
    pub unanswered: i64,
    #[schema(required = true)]
    pub last_attempt_at: Option<DateTime<Utc>>,
}

/// Elders in reach living alone, at home (not away, in hospital, or gone),
/// whom nobody has been in touch with for `days`: those never in touch
/// first, then the longest silence first.
pub async fn check_calls(pool: &PgPool, scope: &Scope, days: u32, limit: i64) -> Result<Vec<CheckCall>, sqlx::Error> {
    let mut query = QueryBuilder::new(concat!(
        "select resident_id, name, phone, division, age, last_contact_at,
            (select count(*) from calls n where n.resident_id = due.resident_id and n.disposition = 'no_answer'
                and n.at > coalesce(due.last_contact_at, '-infinity')) as unanswered,
            (select max(n.at) from calls n where n.resident_id = due.resident_id
                and n.at > coalesce(due.last_contact_at, '-infinity')) as last_attempt_at
         from (select r.id as resident_id, r.name, r.phone, r.division,
                 extract(year from age(current_date, r.birth_date))::int as age, ",
        last_contact!(),
        " as last_contact_at from residents r where r.household = 'alone'
              and not exists (select 1 from resident_status s where s.resident_id = r.id and s.status <> 'active'
                  and s.from_at <= now() and (s.until_at is null or s.until_at > now()))"
    ));
    scope.push_filter(&mut query, Placed::RESIDENTS);
    query.push(") due where last_contact_at is null or last_contact_at < now() - make_interval(days => ");
    query.push_bind(i32::try_from(days).unwrap_or(i32::MAX));
    query.push(") order by last_contact_at nulls first, name, resident_id limit ").push_bind(limit);
    query.build_query_as().fetch_all(pool).await
}

/// The institution an alert about the elder raised by a call belongs to:
/// the one enrolled now to answer her alarms (monitoring first, then home
/// care), else the one that registered her.
pub async fn alarm_institution(conn: &mut PgConnection, resident: &Reached<Identity>) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "select coalesce(
            (select e.institution_id from enrolments e where e.resident_id = r.id
                and e.services && array['monitoring', 'home_care', 'day_care', 'residential']::text[]
                and e.starts_at <= now() and (e.ends_at is null or e.ends_at > now())
              order by 'monitoring' = any(e.services) desc, e.starts_at limit 1),
            r.institution_id)
         from residents r where r.id = $1",
    )
    .bind(resident.id())
    .fetch_one(conn)
    .await
}

/// An institution serving the elder now, as the desk names it (to file a
/// complaint against).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = DeskProvider)]
pub struct Serving {
    pub institution_id: Uuid,
    pub institution_name: String,
    /// The services it is enrolled for.
    pub services: Vec<String>,
}

/// The institutions enrolled with the elder now, by name.
pub async fn serving(pool: &PgPool, resident: &Reached<Identity>) -> Result<Vec<Serving>, sqlx::Error> {
    sqlx::query_as(
        "select i.id as institution_id, i.name as institution_name, e.services from enrolments e
         join institutions i on i.id = e.institution_id
         where e.resident_id = $1 and e.starts_at <= now() and (e.ends_at is null or e.ends_at > now())
         order by i.name, i.id",
    )
    .bind(resident.id())
    .fetch_all(pool)
    .await
}
