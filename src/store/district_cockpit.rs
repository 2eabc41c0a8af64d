//! The district cockpit's counts per child division that open data does
//! not publish: service requests and what came of them, the kitchens and
//! caregivers placed there, claims accepted, complaints. The elders' own
//! counts are open data's (`store::open_data::counts`), one query for both.
//! Each query groups in the database and answers a few rows per child
//! division, never a person.
//!
//! A child division holds what its code prefixes: an elder by her
//! registered division, an institution by its own, a complaint by its
//! elder's (or, naming none, its institution's).

use sqlx::PgPool;

use super::analytic;
use super::open_data::{UNDER, child_of};
use crate::domain::division::Code;

/// The direct children of the division bound to `$1`.
const CHILDREN: &str = "select code from divisions where parent = $1";

/// Runs a grouping query in its own [`analytic`] transaction, planned for
/// the division it is given (never a generic plan: one district's elders
/// are a fraction of the table, another's all of it).
macro_rules! grouped {
    ($pool:expr, $sql:expr, $($bind:expr),+) => {{
        let mut tx = analytic($pool).await?;
        let rows = sqlx::query_as(sqlx::AssertSqlSafe($sql))$(.bind($bind))+.persistent(false).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(rows)
    }};
}

/// A child division's requests of one service code (`service_code` null:
/// all its codes together, with the median).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RequestRow {
    pub division: String,
    pub service_code: Option<String>,
    pub made: i64,
    pub fulfilled: i64,
    pub unmet: i64,
    /// Over the fulfilled: request to the end of the visit, in hours.
    pub median_hours: Option<f64>,
}

/// Requests made in the last `window_days` days by the elders of each child
/// division of `division`: made, fulfilled (its visit completed), unmet (no
/// provider took it), per service code and in all.
pub async fn requests(pool: &PgPool, division: &Code, window_days: i32) -> Result<Vec<RequestRow>, sqlx::Error> {
    let child = child_of("r.division");
    grouped!(
        pool,
        format!(
            "select g.* from (
                 select {child} as division, q.service_code,
                        count(*) as made,
                        count(*) filter (where v.status = 'completed') as fulfilled,
                        count(*) filter (where q.status = 'unmatched') as unmet,
                        percentile_cont(0.5) within group (order by
                            extract(epoch from coalesce(v.end_corrected, v.check_out_at) - q.created_at) / 3600.0)
                            filter (where v.status = 'completed') as median_hours
                 from residents r
                 join service_requests q on q.resident_id = r.id
                     and q.created_at >= now() - make_interval(days => $2)
                 left join visits v on v.id = q.visit_id
                 where {UNDER}
                 group by grouping sets ((1, q.service_code), (1))) g
             join ({CHILDREN}) c on c.code = g.division"
        ),
        division.as_str(),
        window_days
    )
}

/// The kitchens and caregivers of the institutions placed in a child
/// division.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProvisionRow {
    pub division: String,
    pub kitchens: i64,
    pub caregivers: i64,
}

pub async fn provision(pool: &PgPool, division: &Code) -> Result<Vec<ProvisionRow>, sqlx::Error> {
    let child = child_of("i.division");
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select c.code as division,
                coalesce(sum((select count(*) from kitchens k where k.institution_id = i.id)), 0)::bigint as kitchens,
                coalesce(sum((select count(*) from users u where u.institution_id = i.id and u.role = 'caregiver'
                    and u.disabled_at is null)), 0)::bigint as caregivers
         from ({CHILDREN}) c join institutions i on {child} = c.code
         group by c.code"
    )))
    .bind(division.as_str())
    .fetch_all(pool)
    .await
}

/// Claim lines accepted for the elders of a child division, per payer and
/// month.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimRow {
    pub division: String,
    pub payer: String,
    /// YYYY-MM.
    pub month: String,
    pub lines: i64,
    /// The payer's share, in fen.
    pub payer_fen: i64,
}

/// The last `months` months of accepted lines, this month included.
pub async fn claims_accepted(pool: &PgPool, division: &Code, months: i32) -> Result<Vec<ClaimRow>, sqlx::Error> {
    let child = child_of("r.division");
    grouped!(
        pool,
        format!(
            "select g.* from (
                 select {child} as division, cl.payer, to_char(cl.month, 'YYYY-MM') as month,
                        count(*) as lines, coalesce(sum(b.payer_fen), 0)::bigint as payer_fen
                 from residents r
                 join bill_lines b on b.resident_id = r.id and b.payer_fen > 0
                 join claim_lines l on l.bill_line_id = b.id and l.status = 'accepted'
                 join claims cl on cl.id = l.claim_id
                 where {UNDER} and cl.month >= (date_trunc('month', now()) - make_interval(months => $2 - 1))::date
                 group by 1, 2, 3) g
             join ({CHILDREN}) c on c.code = g.division
             order by 1, 3 desc, 2"
        ),
        division.as_str(),
        months
    )
}

/// A child division's complaints: waiting, overdue, upheld in the window.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ComplaintRow {
    pub division: String,
    pub open: i64,
    pub overdue: i64,
    pub upheld: i64,
}

pub async fn complaints(pool: &PgPool, division: &Code, window_days: i32) -> Result<Vec<ComplaintRow>, sqlx::Error> {
    // Overdue as the complaints' own reads say it: open past the deadline,
    // whether or not the job has marked it yet.
    let child = child_of("coalesce(r.division, i.division)");
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select c.code as division,
                count(*) filter (where k.status = 'open' and k.respond_by > now()) as open,
                count(*) filter (where k.status = 'overdue' or (k.status = 'open' and k.respond_by <= now())) as overdue,
                count(*) filter (where k.outcome = 'upheld'
                    and k.closed_at >= now() - make_interval(days => $2)) as upheld
         from complaints k
         join institutions i on i.id = k.institution_id
         left join residents r on r.id = k.resident_id
         join ({CHILDREN}) c on {child} = c.code
         group by c.code"
    )))
    .bind(division.as_str())
    .bind(window_days)
    .fetch_all(pool)
    .await
}
