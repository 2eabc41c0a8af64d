//! The raw figures of each provider's month that its score is computed
//! from (`domain::supervision::score`), counted by the database over the
//! month in the provider's own timezone. Alerts are counted as the cockpit
//! counts them ([`super::cockpit::ANSWERABLE`]).

use chrono::NaiveDate;
use sqlx::{PgPool, QueryBuilder};
use uuid::Uuid;

use super::cockpit::{ANSWERABLE, ANSWERED_AT};
use crate::domain::Scope;
use crate::domain::supervision::RawFigures;

/// A provider and its month's figures.
#[derive(Debug, Clone)]
pub struct Provider {
    pub id: Uuid,
    pub name: String,
    pub division: Option<String>,
    pub raw: RawFigures,
}

/// A provider, its division, its fifteen counts in [`RawFigures`]' order, and
/// whether it was inspected.
type Row = (Uuid, String, Option<String>, Vec<i64>, bool);

/// The care providers the scope oversees (within `division` when given),
/// with their figures of `month` (its first day).
pub async fn month(
    pool: &PgPool,
    scope: &Scope,
    division: Option<&str>,
    month: NaiveDate,
) -> Result<Vec<Provider>, sqlx::Error> {
    let mut query = QueryBuilder::new("with m as (select ");
    query.push_bind(month).push(
        "::date as month),
         p as (select i.id, i.name, i.division, m.month, (m.month::timestamp at time zone i.timezone) as t0,
                      ((m.month + interval '1 month')::timestamp at time zone i.timezone) as t1
               from institutions i cross join m where i.kind in ('care_home', 'home_care', 'community_center')",
    );
    scope.push_institutions_filter(&mut query);
    if let Some(division) = division {
        query.push(" and starts_with(i.division, ").push_bind(division.to_owned()).push(")");
    }
    query.push(format!(
        ")
        select p.id, p.name, p.division, array[
            coalesce(al.alerts, 0), coalesce(al.within_60s, 0),
            coalesce(vi.due, 0), coalesce(vi.on_time, 0), coalesce(vi.completed, 0), coalesce(vi.with_exceptions, 0),
            (select count(distinct e.resident_id) from enrolments e where e.institution_id = p.id
               and e.starts_at < p.t1 and (e.ends_at is null or e.ends_at > p.t0)),
            (select count(*) from complaints c where c.institution_id = p.id and c.outcome = 'upheld'
               and c.closed_at >= p.t0 and c.closed_at < p.t1),
            coalesce(fu.satisfaction_answers, 0), coalesce(fu.satisfaction_sum, 0),
            coalesce(fu.happened_answers, 0), coalesce(fu.happened_yes, 0),
            coalesce(fi.minor, 0), coalesce(fi.major, 0), coalesce(fi.critical, 0)]::bigint[],
            exists (select 1 from inspections n where n.institution_id = p.id and n.recorded_at >= p.t0
                    and n.recorded_at < p.t1)
        from p
        left join lateral (
            select count(*) as alerts, count(*) filter (where {ANSWERED_AT} <= a.opened_at + interval '60 seconds') as within_60s
            from alerts a where a.institution_id = p.id and a.opened_at >= p.t0 and a.opened_at < p.t1 and {ANSWERABLE}
        ) al on true
        left join lateral (
            select count(*) filter (where v.status <> 'cancelled' and v.scheduled_start <= now() - interval '15 minutes') as due,
                   count(*) filter (where v.status <> 'cancelled' and v.check_in_at <= v.scheduled_start + interval '15 minutes') as on_time,
                   count(*) filter (where v.status = 'completed') as completed,
                   count(*) filter (where v.status = 'completed' and cardinality(v.exceptions) > 0) as with_exceptions
            from visits v where v.institution_id = p.id and v.scheduled_start >= p.t0 and v.scheduled_start < p.t1
        ) vi on true
        left join lateral (
            select count(f.satisfaction) as satisfaction_answers, coalesce(sum(f.satisfaction), 0) as satisfaction_sum,
                   count(f.visit_happened) as happened_answers, count(*) filter (where f.visit_happened) as happened_yes
            from follow_ups f where f.institution_id = p.id and f.month = p.month and f.reached
        ) fu on true
        left join lateral (
            select count(*) filter (where f.severity = 'minor') as minor,
                   count(*) filter (where f.severity = 'major') as major,
                   count(*) filter (where f.severity = 'critical') as critical
            from inspection_findings f join inspections n on n.id = f.inspection_id
            where f.institution_id = p.id and n.recorded_at >= p.t0 and n.recorded_at < p.t1
        ) fi on true
        order by p.name, p.id"
    ));
    let rows: Vec<Row> = query.build_query_as().fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, division, n, inspected)| {
            let at = |i: usize| n.get(i).copied().unwrap_or(0);
            Provider {
                id,
                name,
                division,
                raw: RawFigures {
                    alerts: at(0),
                    alerts_within_60s: at(1),
                    visits_due: at(2),
                    visits_on_time: at(3),
                    visits_completed: at(4),
                    visits_with_exceptions: at(5),
                    elders: at(6),
                    complaints_upheld: at(7),
                    satisfaction_answers: at(8),
                    satisfaction_sum: at(9),
                    happened_answers: at(10),
                    happened_yes: at(11),
                    findings_minor: at(12),
                    findings_major: at(13),
                    findings_critical: at(14),
                    inspected,
                },
            }
        })
        .collect())
}
