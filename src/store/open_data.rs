//! The counts open data publishes: the elders of each child division of a
//! division (a district's streets, a street's communities), by group. No
//! name, id or date leaves here; suppression is the caller's
//! (`domain::disclosure`).

use sqlx::{PgConnection, PgPool};

use super::analytic;

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
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("{CHILDREN} order by code"))).bind(division).fetch_all(pool).await
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

/// The elders of `$1`'s children (all elders for `$1` null), over
/// `residents r`. A prefix, so the database reads only that division's
/// elders (by `residents_division_idx`) and knows how many it will find.
pub(super) const UNDER: &str = "($1::text is null or r.division like $1 || '%')";

/// The elders of a child division who share one group in every measure
/// (`elders_by_age_band`, `elders_by_grade`, `living_alone`,
/// `economic_status`), and how many they are: a measure's count is the sum
/// over the others ([`Groups::of`]). One pass over the elders for all four.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Groups {
    pub division: String,
    pub age_band: String,
    pub grade: String,
    pub living_alone: String,
    pub economic_status: String,
    pub count: i64,
}

impl Groups {
    /// This cell's group in `measure`, if it is one of the four.
    pub fn of(&self, measure: &str) -> Option<&str> {
        Some(match measure {
            "elders_by_age_band" => &self.age_band,
            "elders_by_grade" => &self.grade,
            "living_alone" => &self.living_alone,
            "economic_status" => &self.economic_status,
            _ => return None,
        })
    }
}

/// The elders of each child division of `division`, grouped by all four of
/// their measures at once. Her grade is that of her latest assessment still
/// valid.
pub async fn groups(conn: &mut PgConnection, division: Option<&str>) -> Result<Vec<Groups>, sqlx::Error> {
    let child = child_of("r.division");
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select e.* from (
             select {child} as division,
                    case when r.birth_date is null then 'unknown'
                           when r.birth_date > current_date - interval '60 years' then 'under_60'
                           when r.birth_date > current_date - interval '70 years' then '60-69'
                           when r.birth_date > current_date - interval '80 years' then '70-79'
                           when r.birth_date > current_date - interval '90 years' then '80-89'
                           else '90+' end as age_band,
                      coalesce(g.grade::text, 'none') as grade,
                      case when r.household is null then 'unknown' when r.household = 'alone' then 'alone'
                           else 'not_alone' end as living_alone,
                      coalesce(r.economic_status, 'unknown') as economic_status,
                      count(*) as count
               from residents r
               left join (select distinct on (a.resident_id) a.resident_id, a.grade from assessments a
                          where a.valid_until >= current_date
                          order by a.resident_id, a.assessed_at desc) g on g.resident_id = r.id
               where {UNDER} and {LIVING}
               group by 1, 2, 3, 4, 5) e
         join ({CHILDREN}) c on c.code = e.division"
    )))
    .bind(division)
    .persistent(false)
    .fetch_all(&mut *conn)
    .await
}

/// The elders of each child division of `division` enrolled for each
/// service now: an elder counts once per service, however many providers
/// she is enrolled with for it.
pub async fn enrolled(conn: &mut PgConnection, division: Option<&str>) -> Result<Vec<Count>, sqlx::Error> {
    let child = child_of("r.division");
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select e.division, e.grp, count(*) as count from (
             select {child} as division, s.service as grp
             from residents r
             join enrolments n on n.resident_id = r.id and n.starts_at <= now()
                 and (n.ends_at is null or n.ends_at > now())
             cross join lateral unnest(n.services) as s(service)
             where {UNDER} and {LIVING}
             group by r.id, 1, 2) e
         join ({CHILDREN}) c on c.code = e.division
         group by 1, 2"
    )))
    .bind(division)
    .persistent(false)
    .fetch_all(&mut *conn)
    .await
}

/// The child divisions of the division bound to `$1` (the districts for
/// null).
const CHILDREN: &str = "select code from divisions where ($1::text is null and level = 'district') or parent = $1";

/// The counts of `measure` in each child division of `division`.
pub async fn counts(pool: &PgPool, division: Option<&str>, measure: &str) -> Result<Vec<Count>, sqlx::Error> {
    let mut tx = analytic(pool).await?;
    if measure == "enrolled_by_service" {
        let counts = enrolled(&mut tx, division).await?;
        tx.commit().await?;
        return Ok(counts);
    }
    let groups = groups(&mut tx, division).await?;
    tx.commit().await?;
    let mut counts: std::collections::BTreeMap<(String, String), i64> = std::collections::BTreeMap::new();
    for g in &groups {
        if let Some(grp) = g.of(measure) {
            *counts.entry((g.division.clone(), grp.to_owned())).or_default() += g.count;
        }
    }
    Ok(counts.into_iter().map(|((division, grp), count)| Count { division, grp, count }).collect())
}
