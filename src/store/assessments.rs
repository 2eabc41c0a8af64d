//! Capability assessments: what the assessor recorded, the grade, how long
//! it stands; the monitored care-risk events offered as evidence; and the
//! reminders to re-assess before a grade lapses.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::assessment::Scale;
use crate::domain::scope::{Identity, Reached};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Assessment {
    pub id: Uuid,
    pub resident_id: Uuid,
    pub scale: Scale,
    #[schema(value_type = Object)]
    pub items: Json<serde_json::Value>,
    #[schema(value_type = Object)]
    pub factors: Json<serde_json::Value>,
    /// The care-risk events the assessor confirmed.
    #[schema(value_type = Vec<Object>)]
    pub risk_events: Json<serde_json::Value>,
    pub total: i32,
    pub grade: i32,
    pub grade_label: String,
    /// Per-domain subtotals (GB/T 42195-2022).
    #[schema(value_type = Object)]
    pub domains: Json<serde_json::Value>,
    /// Why the grade is above the total's own (the standard's rules).
    pub raised_by: Vec<String>,
    pub assessed_at: DateTime<Utc>,
    pub valid_until: NaiveDate,
    #[schema(required = true)]
    pub notes: Option<String>,
    #[schema(required = true)]
    pub assessor_id: Option<Uuid>,
    #[schema(required = true)]
    pub institution_id: Option<Uuid>,
    #[schema(required = true)]
    pub application_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, resident_id, scale, items, factors, risk_events, total, grade, grade_label, domains,
    raised_by, assessed_at, valid_until, notes, assessor_id, institution_id, application_id, created_at";

pub struct NewAssessment<'a> {
    pub resident: Uuid,
    pub scale: Scale,
    pub items: &'a serde_json::Value,
    pub factors: serde_json::Value,
    pub risk_events: serde_json::Value,
    pub scored: &'a crate::domain::assessment::Scored,
    pub assessed_at: DateTime<Utc>,
    pub valid_until: NaiveDate,
    pub notes: Option<&'a str>,
    pub assessor: Uuid,
    pub institution: Option<Uuid>,
    pub application: Option<Uuid>,
}

pub async fn insert(tx: &mut PgConnection, new: &NewAssessment<'_>) -> Result<Assessment, sqlx::Error> {
    let raised: Vec<&str> = new.scored.raised_by.clone();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into assessments (id, resident_id, scale, items, factors, risk_events, total, grade, grade_label,
             domains, raised_by, assessed_at, valid_until, notes, assessor_id, institution_id, application_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         returning {COLUMNS}"
    )))
    .bind(Uuid::new_v4())
    .bind(new.resident)
    .bind(new.scale)
    .bind(Json(new.items))
    .bind(Json(&new.factors))
    .bind(Json(&new.risk_events))
    .bind(new.scored.total)
    .bind(new.scored.grade)
    .bind(new.scored.grade_label)
    .bind(Json(&new.scored.domains))
    .bind(&raised)
    .bind(new.assessed_at)
    .bind(new.valid_until)
    .bind(new.notes)
    .bind(new.assessor)
    .bind(new.institution)
    .bind(new.application)
    .fetch_one(tx)
    .await
}

/// The elder's assessments, newest first.
pub async fn of_resident(pool: &PgPool, resident: &Reached<Identity>) -> Result<Vec<Assessment>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from assessments where resident_id = $1 order by assessed_at desc, created_at desc"
    )))
    .bind(resident.id())
    .fetch_all(pool)
    .await
}

/// The latest assessment valid on `date`: the elder's grade.
pub async fn latest_valid(
    conn: &mut PgConnection,
    resident: &Reached<Identity>,
    date: NaiveDate,
) -> Result<Option<Assessment>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from assessments where resident_id = $1 and valid_until >= $2 and assessed_at::date <= $2
         order by assessed_at desc, created_at desc limit 1"
    )))
    .bind(resident.id())
    .bind(date)
    .fetch_optional(conn)
    .await
}

/// The grade of each elder today (the latest valid assessment's).
pub async fn grades(pool: &PgPool, residents: &[Uuid]) -> Result<Vec<(Uuid, i32, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "select distinct on (resident_id) resident_id, grade, grade_label, scale from assessments
         where resident_id = any($1) and valid_until >= current_date
         order by resident_id, assessed_at desc, created_at desc",
    )
    .bind(residents)
    .fetch_all(pool)
    .await
}

/// A monitored event the GB/T standard counts as a care risk.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Evidence {
    /// The alert it comes from: name it in `risk_events` to confirm it.
    pub alert_id: Uuid,
    /// `fall` or `wandering`.
    pub kind: String,
    pub at: DateTime<Utc>,
    /// The alert's kind and how it ended.
    pub alert_kind: String,
    pub status: String,
    #[schema(required = true)]
    pub resolution: Option<String>,
}

/// The fall alerts and night wandering of the 30 days before `until`. A
/// fall alert the resident cancelled at the pendant, or staff closed as a
/// false alarm, is listed too, with how it ended: the assessor decides.
pub async fn evidence(
    conn: &mut PgConnection,
    resident: &Reached<Identity>,
    until: DateTime<Utc>,
) -> Result<Vec<Evidence>, sqlx::Error> {
    sqlx::query_as(
        "select a.id as alert_id, case a.kind when 'fall' then 'fall' else 'wandering' end as kind,
                a.condition_at as at, a.kind as alert_kind, a.status, a.resolution
         from alerts a where a.resident_id = $1 and a.kind in ('fall', 'night_wandering')
           and a.condition_at > $2 - interval '30 days' and a.condition_at <= $2
         order by a.condition_at",
    )
    .bind(resident.id())
    .bind(until)
    .fetch_all(conn)
    .await
}

/// An assessment lapsing soon whose elder has not been reminded.
#[derive(Debug, sqlx::FromRow)]
pub struct Due {
    pub id: Uuid,
    pub resident_id: Uuid,
    pub institution_id: Uuid,
    pub valid_until: NaiveDate,
}

/// The latest assessments lapsing within `ahead_days` whose elder has not
/// been reminded and has no newer one, locked: the family is told to
/// re-assess.
pub async fn due_reminders(tx: &mut PgConnection, ahead_days: i32, limit: i64) -> Result<Vec<Due>, sqlx::Error> {
    sqlx::query_as(
        "select a.id, a.resident_id, r.institution_id, a.valid_until from assessments a
         join residents r on r.id = a.resident_id
         where a.reminded_at is null and a.valid_until <= current_date + $1 and a.valid_until >= current_date
           and not exists (select 1 from assessments n where n.resident_id = a.resident_id
                           and n.assessed_at > a.assessed_at)
         order by a.valid_until limit $2 for update of a skip locked",
    )
    .bind(ahead_days)
    .bind(limit)
    .fetch_all(tx)
    .await
}

/// Marks the reminder sent and queues the family's notice.
pub async fn remind(tx: &mut PgConnection, due: &Due) -> Result<(), sqlx::Error> {
    sqlx::query("update assessments set reminded_at = now() where id = $1").bind(due.id).execute(&mut *tx).await?;
    let notice = serde_json::json!({"type": "reassessment_due", "resident_id": due.resident_id,
        "institution_id": due.institution_id, "assessment_id": due.id, "valid_until": due.valid_until});
    sqlx::query("insert into notification_jobs (notice, change) values ($1, 'assessment.reassessment_due')")
        .bind(notice)
        .execute(tx)
        .await
        .map(drop)
}

/// Sends the due re-assessment reminders, a batch at a time: how many.
pub async fn remind_due(pool: &PgPool, ahead_days: i32, limit: i64) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let due = due_reminders(&mut tx, ahead_days, limit).await?;
    for one in &due {
        remind(&mut tx, one).await?;
    }
    tx.commit().await?;
    Ok(due.len())
}
