//! Respite: short-stay beds as a count per care home and date, and the
//! stays booked on them against a respite entitlement's days a year.

use chrono::{NaiveDate, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::Scope;
use crate::domain::scope::{Identity, Reached};

/// Sets the care home's short-stay beds for each date from `from` to
/// `until` (both included); `false` when the scope is not a care home's.
pub async fn set_beds(
    tx: &mut PgConnection,
    scope: &Scope,
    from: NaiveDate,
    until: NaiveDate,
    beds: i32,
) -> Result<bool, sqlx::Error> {
    let Some(home) = scope.institution.filter(|_| scope.may_care()) else { return Ok(false) };
    let done = sqlx::query(
        "insert into short_stay_beds (institution_id, date, beds)
         select i.id, d::date, $4 from institutions i, generate_series($2::date, $3::date, interval '1 day') d
         where i.id = $1 and i.kind = 'care_home'
         on conflict (institution_id, date) do update set beds = excluded.beds",
    )
    .bind(home)
    .bind(from)
    .bind(until)
    .bind(beds)
    .execute(tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// One date of a care home's short-stay beds.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct BedDay {
    pub date: NaiveDate,
    pub beds: i32,
    pub booked: i64,
    pub free: i64,
}

/// The care home's beds, booked and free, for each date from `from` to
/// `until`: public, like a directory (no elder is named). `None` when it
/// is no care home.
pub async fn availability(
    conn: &mut PgConnection,
    institution: Uuid,
    from: NaiveDate,
    until: NaiveDate,
) -> Result<Option<Vec<BedDay>>, sqlx::Error> {
    let care_home = institution;
    let kind: Option<String> = sqlx::query_scalar("select kind from institutions where id = $1")
        .bind(care_home)
        .fetch_optional(&mut *conn)
        .await?;
    if kind.as_deref() != Some("care_home") {
        return Ok(None);
    }
    let days = sqlx::query_as(
        "select d::date as date, coalesce(b.beds, 0) as beds, count(s.id) as booked,
                greatest(coalesce(b.beds, 0) - count(s.id), 0) as free
         from generate_series($2::date, $3::date, interval '1 day') d
         left join short_stay_beds b on b.institution_id = $1 and b.date = d::date
         left join respite_stays s on s.institution_id = $1 and s.status = 'booked'
              and s.starts_on <= d::date and s.ends_on >= d::date
         group by d, b.beds order by d",
    )
    .bind(care_home)
    .bind(from)
    .bind(until)
    .fetch_all(conn)
    .await?;
    Ok(Some(days))
}

/// The first date from `from` to `until` without a free bed at the care
/// home, its bed rows locked so that two bookings take turns.
pub async fn first_full_day(
    tx: &mut PgConnection,
    institution: Uuid,
    from: NaiveDate,
    until: NaiveDate,
) -> Result<Option<NaiveDate>, sqlx::Error> {
    let care_home = institution;
    sqlx::query("select 1 from short_stay_beds where institution_id = $1 and date between $2 and $3 for update")
        .bind(care_home)
        .bind(from)
        .bind(until)
        .execute(&mut *tx)
        .await?;
    let days = availability(tx, care_home, from, until).await?.unwrap_or_default();
    Ok(days.iter().find(|d| d.free < 1).map(|d| d.date))
}

/// The respite days the elder's stays take in `year`.
pub async fn days_used(conn: &mut PgConnection, resident: &Reached<Identity>, year: i32) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select coalesce(sum(least(s.ends_on, make_date($2, 12, 31)) - greatest(s.starts_on, make_date($2, 1, 1)) + 1), 0)::bigint
         from respite_stays s where s.resident_id = $1 and s.status = 'booked'
           and s.starts_on <= make_date($2, 12, 31) and s.ends_on >= make_date($2, 1, 1)",
    )
    .bind(resident.id())
    .bind(year)
    .fetch_one(conn)
    .await
}

/// A respite entitlement in force over the whole stay: its id and days a year.
pub async fn entitlement_for(
    conn: &mut PgConnection,
    resident: &Reached<Identity>,
    from: NaiveDate,
    until: NaiveDate,
) -> Result<Option<(Uuid, i32)>, sqlx::Error> {
    sqlx::query_as(
        "select id, respite_days_per_year from entitlements
         where resident_id = $1 and respite_days_per_year > 0 and starts_on <= $2 and ends_on >= $3
         order by respite_days_per_year desc, starts_on limit 1",
    )
    .bind(resident.id())
    .bind(from)
    .bind(until)
    .fetch_optional(conn)
    .await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = RespiteStay)]
pub struct Stay {
    pub id: Uuid,
    pub resident_id: Uuid,
    pub institution_id: Uuid,
    pub institution_name: String,
    pub entitlement_id: Uuid,
    /// Both dates included.
    #[sqlx(rename = "starts_on")]
    pub from: NaiveDate,
    #[sqlx(rename = "ends_on")]
    pub until: NaiveDate,
    pub days: i32,
    pub status: String,
    pub created_at: chrono::DateTime<Utc>,
}

const STAY_COLUMNS: &str = "s.id, s.resident_id, s.institution_id, i.name as institution_name, s.entitlement_id,
    s.starts_on, s.ends_on, (s.ends_on - s.starts_on + 1) as days, s.status, s.created_at";

pub struct NewStay {
    pub care_home: Uuid,
    pub entitlement: Uuid,
    pub from: NaiveDate,
    pub until: NaiveDate,
    pub by: Uuid,
}

pub async fn book(tx: &mut PgConnection, resident: &Reached<Identity>, new: &NewStay) -> Result<Stay, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "with s as (insert into respite_stays (id, resident_id, institution_id, entitlement_id, starts_on, ends_on, created_by)
                    values ($1, $2, $3, $4, $5, $6, $7) returning *)
         select {STAY_COLUMNS} from s join institutions i on i.id = s.institution_id"
    )))
    .bind(Uuid::new_v4())
    .bind(resident.id())
    .bind(new.care_home)
    .bind(new.entitlement)
    .bind(new.from)
    .bind(new.until)
    .bind(new.by)
    .fetch_one(tx)
    .await
}

pub async fn stays(pool: &PgPool, resident: &Reached<Identity>) -> Result<Vec<Stay>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {STAY_COLUMNS} from respite_stays s join institutions i on i.id = s.institution_id
         where s.resident_id = $1 order by s.starts_on desc"
    )))
    .bind(resident.id())
    .fetch_all(pool)
    .await
}
