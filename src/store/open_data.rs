//! The counts open data publishes: the elders of each child division of a
//! division (a district's streets, a street's communities), by group. No
//! name, id or date leaves here; suppression is the caller's
//! (`domain::disclosure`).

use sqlx::PgPool;

/// A child division and one group's count there (groups with no elder are
/// absent: the caller fills them with zero).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Count {
    pub division: String,
    pub grp: String,
    pub count: i64,
}

/// Which level a division is at, if it exists.
pub async fn level(pool: &PgPool, division: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("select level from divisions where code = $1").bind(division).fetch_optional(pool).await
}

/// The child divisions of `division` (the districts without one), by code.
pub async fn children(pool: &PgPool, division: Option<&str>) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select code from divisions where ($1::text is null and level = 'district') or parent = $1 order by code",
    )
    .bind(division)
    .fetch_all(pool)
    .await
}

/// The code of the child division of `$1` (a district's for `$1` null)
/// that the division in `column` lies in: a child's code is its parent's and
/// three digits, a district's six. An equality, so the database joins the
/// children by hashing, not by testing every row against every child;
/// a division above the children's level matches none.
pub fn child_of(column: &str) -> String {
    format!("left({column}, coalesce(char_length($1::text) + 3, 6))")
}

/// Elders still living (no `deceased` status in force), over `residents r`.
const LIVING: &str = "not exists (select 1 from resident_status s where s.resident_id = r.id
    and s.status = 'deceased' and s.from_at <= now())";

/// The group each elder falls in, by measure.
fn group_of(measure: &str) -> Option<&'static str> {
    Some(match measure {
        "elders_by_age_band" => {
            "case when r.birth_date is null then 'unknown'
                  when age(current_date, r.birth_date) < interval '60 years' then 'under_60'
                  when age(current_date, r.birth_date) < interval '70 years' then '60-69'
                  when age(current_date, r.birth_date) < interval '80 years' then '70-79'
                  when age(current_date, r.birth_date) < interval '90 years' then '80-89'
                  else '90+' end"
        }
        "elders_by_grade" => {
            "coalesce((select a.grade::text from assessments a where a.resident_id = r.id
                and a.valid_until >= current_date order by a.assessed_at desc limit 1), 'none')"
        }
        "living_alone" => {
            "case when r.household is null then 'unknown' when r.household = 'alone' then 'alone' else 'not_alone' end"
        }
        "economic_status" => "coalesce(r.economic_status, 'unknown')",
        _ => return None,
    })
}

/// The counts of `measure` in each child division of `division`.
pub async fn counts(pool: &PgPool, division: Option<&str>, measure: &str) -> Result<Vec<Count>, sqlx::Error> {
    let children = "select code from divisions where ($1::text is null and level = 'district') or parent = $1";
    let child = child_of("r.division");
    let sql = match group_of(measure) {
        Some(group) => format!(
            "select c.code as division, {group} as grp, count(*) as count
             from ({children}) c join residents r on {child} = c.code
             where {LIVING} group by 1, 2"
        ),
        // Enrolled per service: an elder counts once per service she is
        // enrolled for now.
        None => format!(
            "select c.code as division, s.service as grp, count(distinct r.id) as count
             from ({children}) c join residents r on {child} = c.code
             join enrolments e on e.resident_id = r.id and e.starts_at <= now()
                 and (e.ends_at is null or e.ends_at > now())
             cross join lateral unnest(e.services) as s(service)
             where {LIVING} group by 1, 2"
        ),
    };
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(division).fetch_all(pool).await
}
