//! Applications for public support, their timeline, the payers' schemes,
//! and the entitlements an approval gives.
//!
//! Who sees an application: whoever reaches the elder's identity (the
//! family linked, the institutions enrolled, the bureau of the division,
//! the assessment body while it is assigned), and the insurer of the fund
//! whose division holds the elder, for long-term care insurance only.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, QueryBuilder};
use uuid::Uuid;

use crate::domain::billing::{ApplicationKind, ApplicationStatus, Fen, GradeTerms, Payer, Ratio, StepKind};
use crate::domain::registry::Service;
use crate::domain::scope::{Identity, Reached};
use crate::domain::{Role, Scope};

/// A payer's scheme: what each grade is entitled to.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Scheme {
    pub code: String,
    pub name: String,
    pub payer: Payer,
    pub application_kind: ApplicationKind,
    /// Grade ("1".."4") to its terms; a grade absent is not entitled.
    #[schema(value_type = BTreeMap<String, GradeTerms>)]
    pub grades: Json<BTreeMap<String, GradeTerms>>,
    pub updated_at: DateTime<Utc>,
}

const SCHEME_COLUMNS: &str = "code, name, payer, application_kind, grades, updated_at";

pub async fn put_scheme(tx: &mut PgConnection, scheme: &Scheme, by: Uuid) -> Result<Scheme, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into schemes (code, name, payer, application_kind, grades, updated_by) values ($1, $2, $3, $4, $5, $6)
         on conflict (code) do update set name = excluded.name, payer = excluded.payer,
             application_kind = excluded.application_kind, grades = excluded.grades,
             updated_by = excluded.updated_by, updated_at = now()
         returning {SCHEME_COLUMNS}"
    )))
    .bind(&scheme.code)
    .bind(&scheme.name)
    .bind(scheme.payer)
    .bind(scheme.application_kind)
    .bind(&scheme.grades)
    .bind(by)
    .fetch_one(tx)
    .await
}

pub async fn scheme(conn: &mut PgConnection, code: &str) -> Result<Option<Scheme>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("select {SCHEME_COLUMNS} from schemes where code = $1")))
        .bind(code)
        .fetch_optional(conn)
        .await
}

pub async fn schemes(pool: &PgPool) -> Result<Vec<Scheme>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("select {SCHEME_COLUMNS} from schemes order by code")))
        .fetch_all(pool)
        .await
}

/// The schemes applying to applications of `kind`.
pub async fn schemes_for(conn: &mut PgConnection, kind: ApplicationKind) -> Result<Vec<Scheme>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {SCHEME_COLUMNS} from schemes where application_kind = $1 order by code"
    )))
    .bind(kind)
    .fetch_all(conn)
    .await
}

/// One step of an application, with who took it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = ApplicationStep)]
pub struct Step {
    pub step: StepKind,
    pub at: DateTime<Utc>,
    /// The role of who took it (`system` for none).
    pub by_role: String,
    #[schema(required = true)]
    pub by_name: Option<String>,
    #[schema(required = true)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Application {
    pub id: Uuid,
    pub resident_id: Uuid,
    pub resident_name: String,
    pub kind: ApplicationKind,
    pub status: ApplicationStatus,
    #[schema(required = true)]
    pub note: Option<String>,
    #[schema(required = true)]
    pub assessor_institution_id: Option<Uuid>,
    #[schema(required = true)]
    pub scheme: Option<String>,
    /// The decision's reason.
    #[schema(required = true)]
    pub reason: Option<String>,
    #[schema(required = true)]
    pub entitlement_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub timeline: Vec<Step>,
}

const COLUMNS: &str = "ap.id, ap.resident_id, r.name as resident_name, ap.kind, ap.status, ap.note,
    ap.assessor_institution_id, ap.scheme, ap.reason, ap.entitlement_id, ap.created_at, ap.updated_at";

pub async fn create(
    tx: &mut PgConnection,
    resident: &Reached<Identity>,
    kind: ApplicationKind,
    note: Option<&str>,
    by: &Scope,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    sqlx::query(
        "insert into applications (id, resident_id, kind, status, note, applied_by) values ($1, $2, $3, 'submitted', $4, $5)",
    )
    .bind(id)
    .bind(resident.id())
    .bind(kind)
    .bind(note)
    .bind(by.user)
    .execute(&mut *tx)
    .await?;
    step(tx, id, StepKind::Submitted, Some(by), note, serde_json::json!({})).await?;
    Ok(id)
}

/// Appends a step to the timeline and queues the family's notice of it.
pub async fn step(
    tx: &mut PgConnection,
    application: Uuid,
    step: StepKind,
    by: Option<&Scope>,
    note: Option<&str>,
    details: serde_json::Value,
) -> Result<(), sqlx::Error> {
    let role = by.map_or("system", |s| s.role.as_str());
    sqlx::query(
        "insert into application_steps (application_id, step, by_user, by_role, note, details)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(application)
    .bind(step)
    .bind(by.map(|s| s.user))
    .bind(role)
    .bind(note)
    .bind(&details)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into notification_jobs (notice, change)
         select jsonb_build_object('type', 'application', 'application_id', ap.id, 'resident_id', ap.resident_id,
                    'institution_id', r.institution_id, 'kind', ap.kind, 'step', $2::text, 'note', $3::text),
                'application.' || $2::text
         from applications ap join residents r on r.id = ap.resident_id where ap.id = $1",
    )
    .bind(application)
    .bind(step)
    .bind(note)
    .execute(tx)
    .await
    .map(drop)
}

/// Appends ` and <the application is the scope's to see>` over `applications ap`
/// joined to `residents r`: an insurer's fund division's LTC applications,
/// an assessment body's assigned ones, the bureau's division's; anyone
/// else's through the elder's identity (asked per resident, not here).
fn push_visible(query: &mut QueryBuilder<sqlx::Postgres>, scope: &Scope) {
    match scope.role {
        Role::Insurer => {
            query.push(" and ap.kind = 'ltc_insurance' and starts_with(r.division, (select f.division from institutions f where f.id = ");
            query.push_bind(scope.institution).push("))");
        }
        Role::Assessor => {
            query.push(" and ap.assessor_institution_id = ").push_bind(scope.institution);
        }
        Role::CivilAffairs => {
            query.push(" and starts_with(r.division, (select u.division from users u where u.id = ");
            query.push_bind(scope.user).push("))");
        }
        _ => {
            query.push(" and false");
        }
    }
}

/// The queue of the deciding and assessing sides: their applications, of a
/// status if given, oldest first.
pub async fn queue(
    pool: &PgPool,
    scope: &Scope,
    status: Option<ApplicationStatus>,
    limit: i64,
) -> Result<Vec<Application>, sqlx::Error> {
    let mut query = QueryBuilder::new(format!(
        "select {COLUMNS} from applications ap join residents r on r.id = ap.resident_id where true"
    ));
    push_visible(&mut query, scope);
    if let Some(status) = status {
        query.push(" and ap.status = ").push_bind(status);
    }
    query.push(" order by ap.created_at, ap.id limit ").push_bind(limit);
    let mut found: Vec<Application> = query.build_query_as().fetch_all(pool).await?;
    fill_timelines(pool, &mut found).await?;
    Ok(found)
}

/// One elder's applications, newest first, for whoever reaches the elder.
pub async fn of_resident(pool: &PgPool, resident: &Reached<Identity>) -> Result<Vec<Application>, sqlx::Error> {
    let mut found: Vec<Application> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from applications ap join residents r on r.id = ap.resident_id
         where ap.resident_id = $1 order by ap.created_at desc, ap.id"
    )))
    .bind(resident.id())
    .fetch_all(pool)
    .await?;
    fill_timelines(pool, &mut found).await?;
    Ok(found)
}

/// An application by id, locked, with the resident it is about: the
/// caller then asks whether the scope reaches it (`visible_to`).
pub async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<Application>, sqlx::Error> {
    let found: Option<Application> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from applications ap join residents r on r.id = ap.resident_id where ap.id = $1 for update of ap"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(mut found) = found else { return Ok(None) };
    found.timeline = timeline(tx, id).await?;
    Ok(Some(found))
}

/// Whether the deciding and assessing sides see this application.
pub async fn visible_to(conn: &mut PgConnection, scope: &Scope, id: Uuid) -> Result<bool, sqlx::Error> {
    let mut query =
        QueryBuilder::new("select ap.id from applications ap join residents r on r.id = ap.resident_id where ap.id = ");
    query.push_bind(id);
    push_visible(&mut query, scope);
    Ok(query.build_query_scalar::<Uuid>().fetch_optional(conn).await?.is_some())
}

async fn timeline(conn: &mut PgConnection, id: Uuid) -> Result<Vec<Step>, sqlx::Error> {
    sqlx::query_as(
        "select s.step, s.at, s.by_role, u.name as by_name, s.note from application_steps s
         left join users u on u.id = s.by_user where s.application_id = $1 order by s.id",
    )
    .bind(id)
    .fetch_all(conn)
    .await
}

async fn fill_timelines(pool: &PgPool, applications: &mut [Application]) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = applications.iter().map(|a| a.id).collect();
    let rows: Vec<(Uuid, Step)> =
        sqlx::query_as::<_, (Uuid, StepKind, DateTime<Utc>, String, Option<String>, Option<String>)>(
            "select s.application_id, s.step, s.at, s.by_role, u.name, s.note from application_steps s
         left join users u on u.id = s.by_user where s.application_id = any($1) order by s.id",
        )
        .bind(&ids)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|(id, step, at, by_role, by_name, note)| (id, Step { step, at, by_role, by_name, note }))
        .collect();
    for (id, step) in rows {
        if let Some(app) = applications.iter_mut().find(|a| a.id == id) {
            app.timeline.push(step);
        }
    }
    Ok(())
}

pub async fn assign(tx: &mut PgConnection, id: Uuid, body: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update applications set status = 'assessing', assessor_institution_id = $2, updated_at = now() where id = $1",
    )
    .bind(id)
    .bind(body)
    .execute(tx)
    .await
    .map(drop)
}

pub async fn decide(
    tx: &mut PgConnection,
    id: Uuid,
    status: ApplicationStatus,
    reason: &str,
    scheme: Option<&str>,
    entitlement: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update applications set status = $2, reason = $3, scheme = $4, entitlement_id = $5, updated_at = now()
         where id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(reason)
    .bind(scheme)
    .bind(entitlement)
    .execute(tx)
    .await
    .map(drop)
}

/// Whether `institution` is an assessment body.
pub async fn is_assessment_body(conn: &mut PgConnection, institution: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists (select 1 from institutions where id = $1 and kind = 'assessment')")
        .bind(institution)
        .fetch_one(conn)
        .await
}

/// An entitlement, as the contract shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Entitlement {
    pub id: Uuid,
    pub resident_id: Uuid,
    pub payer: Payer,
    pub scheme: String,
    pub grade: i32,
    pub services: Vec<Service>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_minutes: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_amount: Option<Fen>,
    pub copay_ratio: Ratio,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_meal_subsidy: Option<Fen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub respite_days_per_year: Option<i32>,
    /// Both dates included.
    pub from: NaiveDate,
    pub until: NaiveDate,
    #[schema(required = true)]
    pub ended_reason: Option<String>,
    #[schema(required = true)]
    pub application_id: Option<Uuid>,
    /// What this month has used of the quota so far (within it).
    pub used_this_month: UsedThisMonth,
}

impl Entitlement {
    pub fn terms(&self) -> crate::domain::billing::Terms {
        use crate::domain::billing::Quota;
        let quota = match (self.monthly_minutes, self.monthly_amount) {
            (Some(minutes), _) => Quota::Minutes(minutes),
            (None, Some(amount)) => Quota::Amount(amount),
            (None, None) => Quota::Unlimited,
        };
        crate::domain::billing::Terms { payer: self.payer, copay: self.copay_ratio, quota }
    }
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct UsedThisMonth {
    pub minutes: i64,
    pub amount: Fen,
}

#[derive(sqlx::FromRow)]
struct EntitlementRow {
    id: Uuid,
    resident_id: Uuid,
    payer: Payer,
    scheme: String,
    grade: i32,
    services: Vec<String>,
    monthly_minutes: Option<i32>,
    monthly_amount_fen: Option<i64>,
    copay_bp: i32,
    per_meal_subsidy_fen: Option<i64>,
    respite_days_per_year: Option<i32>,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
    ended_reason: Option<String>,
    application_id: Option<Uuid>,
    used_minutes: i64,
    used_fen: i64,
}

impl From<EntitlementRow> for Entitlement {
    fn from(r: EntitlementRow) -> Self {
        Entitlement {
            id: r.id,
            resident_id: r.resident_id,
            payer: r.payer,
            scheme: r.scheme,
            grade: r.grade,
            services: r.services.iter().filter_map(|s| Service::parse(s)).collect(),
            monthly_minutes: r.monthly_minutes.map(i64::from),
            monthly_amount: r.monthly_amount_fen.map(Fen),
            copay_ratio: Ratio(i64::from(r.copay_bp)),
            per_meal_subsidy: r.per_meal_subsidy_fen.map(Fen),
            respite_days_per_year: r.respite_days_per_year,
            from: r.starts_on,
            until: r.ends_on,
            ended_reason: r.ended_reason,
            application_id: r.application_id,
            used_this_month: UsedThisMonth { minutes: r.used_minutes, amount: Fen(r.used_fen) },
        }
    }
}

/// The columns of `entitlements e`, with what the month of `$month` (a
/// first day) has used of each within its quota.
const ENTITLEMENT_COLUMNS: &str = "e.id, e.resident_id, e.payer, e.scheme, e.grade, e.services, e.monthly_minutes,
    e.monthly_amount_fen, e.copay_bp, e.per_meal_subsidy_fen, e.respite_days_per_year, e.starts_on, e.ends_on,
    e.ended_reason, e.application_id,
    coalesce((select sum(b.minutes) from bill_lines b where b.entitlement_id = e.id and b.month = $2
              and not b.over_quota), 0)::bigint as used_minutes,
    coalesce((select sum(b.amount_fen) from bill_lines b where b.entitlement_id = e.id and b.month = $2
              and not b.over_quota), 0)::bigint as used_fen";

/// An elder's entitlements, newest first, with this month's use.
pub async fn entitlements(
    conn: &mut PgConnection,
    resident: &Reached<Identity>,
    month: NaiveDate,
) -> Result<Vec<Entitlement>, sqlx::Error> {
    let rows: Vec<EntitlementRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {ENTITLEMENT_COLUMNS} from entitlements e where e.resident_id = $1
         order by e.starts_on desc, e.created_at desc"
    )))
    .bind(resident.id())
    .bind(month)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Entitlement::from).collect())
}

/// The elder's entitlements in force on `date`, locked (pricing takes
/// their quota), with the use of the month of `month`.
pub async fn in_force_locked(
    conn: &mut PgConnection,
    resident: &Reached<Identity>,
    date: NaiveDate,
    month: NaiveDate,
) -> Result<Vec<Entitlement>, sqlx::Error> {
    sqlx::query("select 1 from entitlements where resident_id = $1 and starts_on <= $2 and ends_on >= $2 for update")
        .bind(resident.id())
        .bind(date)
        .execute(&mut *conn)
        .await?;
    let rows: Vec<EntitlementRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {ENTITLEMENT_COLUMNS} from entitlements e where e.resident_id = $1 and e.starts_on <= $3
         and e.ends_on >= $3 order by e.payer, e.starts_on, e.id"
    )))
    .bind(resident.id())
    .bind(month)
    .bind(date)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Entitlement::from).collect())
}

pub struct NewEntitlement<'a> {
    pub resident: Uuid,
    pub application: Option<Uuid>,
    pub assessment: Uuid,
    pub scheme: &'a Scheme,
    pub grade: i32,
    pub terms: &'a GradeTerms,
    pub from: NaiveDate,
    pub until: NaiveDate,
    pub by: Option<Uuid>,
}

pub async fn insert_entitlement(tx: &mut PgConnection, new: &NewEntitlement<'_>) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    let services: Vec<&str> = new.terms.services.iter().map(|s| s.as_str()).collect();
    sqlx::query(
        "insert into entitlements (id, resident_id, application_id, assessment_id, scheme, payer, grade, services,
             monthly_minutes, monthly_amount_fen, copay_bp, per_meal_subsidy_fen, respite_days_per_year,
             starts_on, ends_on, decided_by)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(id)
    .bind(new.resident)
    .bind(new.application)
    .bind(new.assessment)
    .bind(&new.scheme.code)
    .bind(new.scheme.payer)
    .bind(new.grade)
    .bind(&services)
    .bind(new.terms.monthly_minutes.map(|m| m.min(i64::from(i32::MAX)) as i32))
    .bind(new.terms.monthly_amount.map(|a| a.0))
    .bind(new.terms.copay_ratio.0 as i32)
    .bind(new.terms.per_meal_subsidy.map(|a| a.0))
    .bind(new.terms.respite_days_per_year)
    .bind(new.from)
    .bind(new.until)
    .bind(new.by)
    .execute(tx)
    .await?;
    Ok(id)
}

/// The entitlements of the elder still running on `date`, locked: a
/// re-assessment ends them the day before and re-grades them.
pub async fn running_on(
    tx: &mut PgConnection,
    resident: &Reached<Identity>,
    date: NaiveDate,
) -> Result<Vec<(Uuid, String, Option<Uuid>, NaiveDate)>, sqlx::Error> {
    sqlx::query_as(
        "select id, scheme, application_id, ends_on from entitlements
         where resident_id = $1 and ends_on >= $2 and ended_reason is null order by starts_on for update",
    )
    .bind(resident.id())
    .bind(date)
    .fetch_all(tx)
    .await
}

/// Ends an entitlement on `last_day` (included) for `reason`.
pub async fn end_entitlement(
    tx: &mut PgConnection,
    id: Uuid,
    last_day: NaiveDate,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update entitlements set ends_on = greatest(least(ends_on, $2), starts_on - 1), ended_reason = $3 where id = $1",
    )
    .bind(id)
    .bind(last_day)
    .bind(reason)
    .execute(tx)
    .await
    .map(drop)
}
