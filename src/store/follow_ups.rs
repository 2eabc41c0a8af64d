//! Follow-up calls: the month's sample of every provider's verified visits,
//! drawn once the month is over ([`draw`]), and what the hotline desk heard
//! on each call. The desk sees every call; the civil-affairs bureau those of
//! the elders of its division; a provider none (it must not know which of
//! its visits are called).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, QueryBuilder};
use uuid::Uuid;

use crate::domain::supervision::Candidate;
use crate::domain::{Role, Scope};

/// The verified visits of `month` (by their start in the elder's timezone),
/// every provider's.
pub async fn candidates(conn: &mut PgConnection, month: NaiveDate) -> Result<Vec<Candidate>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid, Uuid)> = sqlx::query_as(
        "select v.id, v.institution_id, v.resident_id from visits v join residents r on r.id = v.resident_id
         where v.verified and v.check_in_at >= ($1::date - interval '1 day')
           and v.check_in_at < ($1::date + interval '1 month 1 day')
           and date_trunc('month', coalesce(v.start_corrected, v.check_in_at) at time zone r.timezone)::date = $1
         order by v.id",
    )
    .bind(month)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(visit, institution, resident)| Candidate { visit, institution, resident }).collect())
}

/// Records the month's draw and its sample, once: `false` when the month
/// was drawn already (by another process, or before).
pub async fn record_draw(
    tx: &mut PgConnection,
    month: NaiveDate,
    visits: usize,
    sample: &[(Candidate, [u8; 32])],
) -> Result<bool, sqlx::Error> {
    let drawn = sqlx::query(
        "insert into follow_up_draws (month, visits, sampled) values ($1, $2, $3) on conflict (month) do nothing",
    )
    .bind(month)
    .bind(i32::try_from(visits).unwrap_or(i32::MAX))
    .bind(i32::try_from(sample.len()).unwrap_or(i32::MAX))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if drawn == 0 {
        return Ok(false);
    }
    let ids: Vec<Uuid> = sample.iter().map(|_| Uuid::new_v4()).collect();
    let visits: Vec<Uuid> = sample.iter().map(|(c, _)| c.visit).collect();
    let institutions: Vec<Uuid> = sample.iter().map(|(c, _)| c.institution).collect();
    let residents: Vec<Uuid> = sample.iter().map(|(c, _)| c.resident).collect();
    let draws: Vec<Vec<u8>> = sample.iter().map(|(_, d)| d.to_vec()).collect();
    sqlx::query(
        "insert into follow_ups (id, month, visit_id, institution_id, resident_id, draw)
         select id, $2, visit, institution, resident, draw
         from unnest($1::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::bytea[])
              as s (id, visit, institution, resident, draw)",
    )
    .bind(&ids)
    .bind(month)
    .bind(&visits)
    .bind(&institutions)
    .bind(&residents)
    .bind(&draws)
    .execute(&mut *tx)
    .await?;
    Ok(true)
}

/// Whether `month` has been drawn.
pub async fn drawn(conn: &mut PgConnection, month: NaiveDate) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists (select 1 from follow_up_draws where month = $1)")
        .bind(month)
        .fetch_one(conn)
        .await
}

/// A call to make, or made: the visit, whom to call and what was heard.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct FollowUp {
    pub id: Uuid,
    /// The month sampled (`YYYY-MM-01`).
    pub month: NaiveDate,
    pub visit_id: Uuid,
    pub institution_id: Uuid,
    pub institution_name: String,
    pub resident_id: Uuid,
    pub resident_name: String,
    /// The elder's own phone, if the registry has it.
    #[schema(required = true)]
    pub resident_phone: Option<String>,
    pub service_code: String,
    pub service_name: String,
    /// When the carer checked in.
    #[schema(required = true)]
    pub visit_at: Option<DateTime<Utc>>,
    /// The draw that sampled the visit (hex): an auditor holding the key recomputes it.
    pub draw: String,
    /// Calls made so far (an unanswered call may be tried again).
    pub attempts: i32,
    /// null until a call is made; false: nobody answered.
    #[schema(required = true)]
    pub reached: Option<bool>,
    #[schema(required = true)]
    pub visit_happened: Option<bool>,
    #[schema(required = true)]
    pub satisfaction: Option<i32>,
    #[schema(required = true)]
    pub note: Option<String>,
    #[schema(required = true)]
    pub called_at: Option<DateTime<Utc>>,
}

const SELECT: &str = "select f.id, f.month, f.visit_id, f.institution_id, i.name as institution_name, f.resident_id,
        r.name as resident_name, r.phone as resident_phone, s.code as service_code, s.name as service_name,
        v.check_in_at as visit_at, encode(f.draw, 'hex') as draw, f.attempts, f.reached, f.visit_happened,
        f.satisfaction, f.note, f.called_at
    from follow_ups f join institutions i on i.id = f.institution_id join residents r on r.id = f.resident_id
    join visits v on v.id = f.visit_id join services s on s.id = v.service_id where true";

/// Appends ` and <the call is the scope's to see>`: the desk every call,
/// the bureau those of its division's elders, nobody else any.
fn push_visible(query: &mut QueryBuilder<sqlx::Postgres>, scope: &Scope) {
    match (scope.role, scope.institution) {
        (Role::Desk, None) => query.push(" and true"),
        (Role::CivilAffairs, None) => {
            query.push(" and starts_with(r.division, (select u.division from users u where u.id = ");
            query.push_bind(scope.user).push("))")
        }
        _ => query.push(" and false"),
    };
}

/// The month's calls the scope sees, those still to make first.
pub async fn list(pool: &PgPool, scope: &Scope, month: NaiveDate) -> Result<Vec<FollowUp>, sqlx::Error> {
    let mut query = QueryBuilder::new(SELECT);
    query.push(" and f.month = ").push_bind(month);
    push_visible(&mut query, scope);
    query.push(" order by f.reached is true, i.name, f.visit_id limit 5000");
    query.build_query_as().fetch_all(pool).await
}

/// One call, if the scope sees it; locked for recording with `lock`.
pub async fn fetch(
    conn: &mut PgConnection,
    scope: &Scope,
    id: Uuid,
    lock: bool,
) -> Result<Option<FollowUp>, sqlx::Error> {
    let mut query = QueryBuilder::new(SELECT);
    query.push(" and f.id = ").push_bind(id);
    push_visible(&mut query, scope);
    if lock {
        query.push(" for update of f");
    }
    query.build_query_as().fetch_optional(conn).await
}

/// What a call heard.
pub struct Heard<'a> {
    pub reached: bool,
    pub visit_happened: Option<bool>,
    pub satisfaction: Option<i32>,
    pub note: Option<&'a str>,
}

/// Records a call: another attempt, and what it heard.
pub async fn record(tx: &mut PgConnection, id: Uuid, by: Uuid, heard: &Heard<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update follow_ups set attempts = attempts + 1, reached = $2, visit_happened = $3, satisfaction = $4,
             note = $5, called_by = $6, called_at = now()
         where id = $1",
    )
    .bind(id)
    .bind(heard.reached)
    .bind(heard.visit_happened)
    .bind(heard.satisfaction)
    .bind(heard.note)
    .bind(by)
    .execute(tx)
    .await
    .map(drop)
}
