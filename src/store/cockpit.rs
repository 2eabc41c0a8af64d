//! The cockpit's counts, computed by the database over indexed tables:
//! what comes back is a handful of rows per institution and day, never the
//! alerts or visits themselves. The same SQL on plain PostgreSQL and on
//! TimescaleDB (no continuous aggregates: alerts and visits change in place).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgPool, QueryBuilder};
use uuid::Uuid;

use crate::domain::Scope;
use crate::domain::cockpit::{AlertTally, Bound, Counts, Period, Snapshot, VisitTally};

/// An alert a person had to answer, over `alerts a`: critical or high, and
/// not one that ended by itself (cleared automatically, or cancelled by the
/// resident inside the cancel window) before anyone answered it. An alert
/// still waiting counts: against both answering targets.
pub const ANSWERABLE: &str = "(a.severity in ('critical', 'high') and not (a.resolved_by is null \
     and a.acknowledged_at is null and coalesce(a.resolution in ('auto_cleared', 'cancelled_by_resident'), false)))";

/// When a person first answered an alert: their acknowledgement or their
/// resolution, whichever came first (only people acknowledge; the system
/// resolves with no `resolved_by`).
pub const ANSWERED_AT: &str = "least(a.acknowledged_at, case when a.resolved_by is not null then a.resolved_at end)";

/// An institution the cockpit covers.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Place {
    pub id: Uuid,
    pub name: String,
    pub timezone: String,
}

/// The institutions whose figures `scope` reads, by name: an admin's own, a
/// supervisor's region (read from their account, never from the request).
pub async fn places(pool: &PgPool, scope: &Scope) -> Result<Vec<Place>, sqlx::Error> {
    let mut query = QueryBuilder::new("select i.id, i.name, i.timezone from institutions i where true");
    scope.push_institutions_filter(&mut query);
    query.push(" order by i.name, i.id");
    query.build_query_as().fetch_all(pool).await
}

/// Binds the period: `$2..$5` are its ends as instants or as days, read in
/// each institution's own timezone by [`BOUNDS`].
fn bind_period<'q, Row>(
    query: sqlx::query::QueryAs<'q, sqlx::Postgres, Row, sqlx::postgres::PgArguments>,
    period: &Period,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, Row, sqlx::postgres::PgArguments> {
    let (from_at, from_day) = split(period.from);
    let (until_at, until_day) = split(period.until);
    query.bind(from_at).bind(from_day).bind(until_at).bind(until_day)
}

fn split(bound: Bound) -> (Option<DateTime<Utc>>, Option<NaiveDate>) {
    match bound {
        Bound::At(at) => (Some(at), None),
        Bound::Day(day) => (None, Some(day)),
    }
}

/// The institutions (`$1`) with the period's ends as instants of each one's
/// timezone.
const BOUNDS: &str = "with inst as (
    select i.id, i.timezone,
           coalesce($2::timestamptz, $3::date::timestamp at time zone i.timezone) as from_at,
           coalesce($4::timestamptz, $5::date::timestamp at time zone i.timezone) as until_at
    from institutions i where i.id = any($1)
)";

#[derive(sqlx::FromRow)]
struct AlertRow {
    institution_id: Uuid,
    day: Option<NaiveDate>,
    kind: String,
    total: i64,
    answerable: i64,
    within_60s: i64,
    within_180s: i64,
    answered: i64,
    answer_seconds: f64,
    resolved: i64,
    resolve_seconds: f64,
    escalated: i64,
    false_alarms: i64,
    unresolved: i64,
}

/// Each institution's counts over the period, by its local day when
/// `by_day` (otherwise all under one day, [`NaiveDate::MIN`]: reading each
/// alert's local day is a good part of the work), and how things stand now.
pub async fn counts(
    pool: &PgPool,
    places: &[Place],
    period: &Period,
    by_day: bool,
    now: DateTime<Utc>,
) -> Result<HashMap<Uuid, Counts>, sqlx::Error> {
    let ids: Vec<Uuid> = places.iter().map(|p| p.id).collect();
    let mut out: HashMap<Uuid, Counts> = ids.iter().map(|id| (*id, Counts::default())).collect();
    let sql = format!(
        "{BOUNDS}
         select a.institution_id, case when $6 then (a.opened_at at time zone inst.timezone)::date end as day, a.kind,
                count(*) as total,
                count(*) filter (where x.answerable) as answerable,
                count(*) filter (where x.answerable and x.answered_at <= a.opened_at + interval '60 seconds') as within_60s,
                count(*) filter (where x.answerable and x.answered_at <= a.opened_at + interval '180 seconds') as within_180s,
                count(*) filter (where x.answerable and x.answered_at is not null) as answered,
                coalesce(sum(extract(epoch from x.answered_at - a.opened_at)) filter (where x.answerable), 0)::float8
                    as answer_seconds,
                count(*) filter (where x.answerable and a.resolved_by is not null) as resolved,
                coalesce(sum(extract(epoch from a.resolved_at - a.opened_at))
                    filter (where x.answerable and a.resolved_by is not null), 0)::float8 as resolve_seconds,
                count(*) filter (where a.escalation_level > 0) as escalated,
                count(*) filter (where a.resolution = 'false_alarm') as false_alarms,
                count(*) filter (where a.status <> 'resolved') as unresolved
         from inst
         join alerts a on a.institution_id = inst.id and a.opened_at >= inst.from_at and a.opened_at < inst.until_at
         cross join lateral (select {ANSWERABLE} as answerable, {ANSWERED_AT} as answered_at) x
         group by 1, 2, 3"
    );
    // Independent counts, each on a connection of its own.
    let alerts = bind_period(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&ids), period).bind(by_day).fetch_all(pool);
    let (rows, visits, meals, snapshots): (Vec<AlertRow>, _, _, _) = tokio::try_join!(
        alerts,
        visits(pool, &ids, period, by_day),
        meals(pool, &ids, period, by_day),
        snapshots(pool, &ids, now)
    )?;
    for row in meals {
        let Some(counts) = out.get_mut(&row.institution_id) else { continue };
        let figures = crate::domain::cockpit::MealFigures {
            planned: row.planned,
            delivered: row.delivered,
            no_answer: row.no_answer,
            cancelled: row.cancelled,
        };
        counts.meals.entry(row.day.unwrap_or(NaiveDate::MIN)).or_default().add(&figures);
    }
    for row in visits {
        let Some(counts) = out.get_mut(&row.institution_id) else { continue };
        let tally = VisitTally {
            scheduled: row.scheduled,
            completed: row.completed,
            missed: row.missed,
            late: row.late,
            verified: row.verified,
            minutes_delivered: row.minutes,
            stars: row.stars,
            rated: row.rated,
        };
        counts.visits.entry(row.day.unwrap_or(NaiveDate::MIN)).or_default().add(&tally);
    }
    for row in rows {
        let Some(counts) = out.get_mut(&row.institution_id) else { continue };
        let mut tally = AlertTally {
            total: row.total,
            answerable: row.answerable,
            within_60s: row.within_60s,
            within_180s: row.within_180s,
            answered: row.answered,
            answer_seconds: row.answer_seconds,
            resolved: row.resolved,
            resolve_seconds: row.resolve_seconds,
            escalated: row.escalated,
            false_alarms: row.false_alarms,
            unresolved: row.unresolved,
            ..AlertTally::default()
        };
        tally.by_kind.insert(row.kind, row.total);
        counts.alerts.entry(row.day.unwrap_or(NaiveDate::MIN)).or_default().add(&tally);
    }
    for (id, snapshot) in snapshots {
        if let Some(counts) = out.get_mut(&id) {
            counts.snapshot = snapshot;
        }
    }
    Ok(out)
}

#[derive(sqlx::FromRow)]
struct VisitRow {
    institution_id: Uuid,
    day: Option<NaiveDate>,
    scheduled: i64,
    completed: i64,
    missed: i64,
    late: i64,
    verified: i64,
    minutes: i64,
    stars: i64,
    rated: i64,
}

/// The visits due in the period (by scheduled start), by local day when
/// `by_day`. Scheduled: not cancelled and not a request still waiting;
/// missed: still missed; late: checked in past the EVV's 15 minutes
/// (`late_start`); delivered: the completed visits' minutes, from the
/// corrected start and end where amended, rounded per visit as statements
/// round them.
async fn visits(pool: &PgPool, ids: &[Uuid], period: &Period, by_day: bool) -> Result<Vec<VisitRow>, sqlx::Error> {
    let sql = format!(
        "{BOUNDS}
         select v.institution_id, case when $6 then (v.scheduled_start at time zone inst.timezone)::date end as day,
                count(*) filter (where v.status not in ('cancelled', 'requested')) as scheduled,
                count(*) filter (where v.status = 'completed') as completed,
                count(*) filter (where v.status = 'missed') as missed,
                count(*) filter (where v.status <> 'cancelled' and 'late_start' = any(v.exceptions)) as late,
                count(*) filter (where v.status = 'completed' and v.verified) as verified,
                coalesce(sum(floor((greatest(extract(epoch from coalesce(v.end_corrected, v.check_out_at)
                    - coalesce(v.start_corrected, v.check_in_at)), 0) + 30) / 60))
                    filter (where v.status = 'completed'), 0)::int8 as minutes,
                coalesce(sum(v.rating_stars), 0)::int8 as stars,
                count(v.rating_stars) as rated
         from inst
         join visits v on v.institution_id = inst.id
              and v.scheduled_start >= inst.from_at and v.scheduled_start < inst.until_at
         group by 1, 2"
    );
    bind_period(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(ids.to_vec()), period).bind(by_day).fetch_all(pool).await
}

#[derive(sqlx::FromRow)]
struct MealRow {
    institution_id: Uuid,
    day: Option<NaiveDate>,
    planned: i64,
    delivered: i64,
    no_answer: i64,
    cancelled: i64,
}

/// The meal orders of the period's days, each read in its resident's
/// timezone (an order's date is its resident's), by day when `by_day`.
async fn meals(pool: &PgPool, ids: &[Uuid], period: &Period, by_day: bool) -> Result<Vec<MealRow>, sqlx::Error> {
    let sql = format!(
        "{BOUNDS}
         select o.institution_id, case when $6 then o.date end as day,
                count(*) filter (where o.status <> 'cancelled') as planned,
                count(*) filter (where o.status = 'delivered') as delivered,
                count(*) filter (where o.status = 'no_answer') as no_answer,
                count(*) filter (where o.status = 'cancelled') as cancelled
         from inst
         join meal_orders o on o.institution_id = inst.id
         join residents r on r.id = o.resident_id
              and o.date >= (inst.from_at at time zone r.timezone)::date
              and o.date <= ((inst.until_at - interval '1 microsecond') at time zone r.timezone)::date
         group by 1, 2"
    );
    bind_period(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(ids.to_vec()), period).bind(by_day).fetch_all(pool).await
}

#[derive(sqlx::FromRow)]
struct SnapshotRow {
    id: Uuid,
    open_alerts: i64,
    residents_with_open_alerts: i64,
    low_battery: i64,
    devices: i64,
    devices_online: i64,
    residents: i64,
    hours_per_month: f64,
}

/// How things stand now in each institution: open alerts, devices online
/// (by the one definition, [`super::devices::push_online`]), residents.
async fn snapshots(pool: &PgPool, ids: &[Uuid], now: DateTime<Utc>) -> Result<Vec<(Uuid, Snapshot)>, sqlx::Error> {
    let mut query = QueryBuilder::new(
        "select i.id,
                coalesce(al.open_alerts, 0) as open_alerts,
                coalesce(al.residents_with_open_alerts, 0) as residents_with_open_alerts,
                coalesce(al.low_battery, 0) as low_battery,
                coalesce(dv.devices, 0) as devices,
                coalesce(dv.devices_online, 0) as devices_online,
                coalesce(rs.residents, 0) as residents,
                coalesce(cp.hours_per_month, 0)::float8 as hours_per_month
         from institutions i
         left join (
             select a.institution_id, count(*) as open_alerts,
                    count(distinct a.resident_id) as residents_with_open_alerts,
                    count(distinct a.cause) filter (where a.kind = 'low_battery') as low_battery
             from alerts a where a.institution_id = any(",
    );
    query.push_bind(ids.to_vec());
    query.push(
        ") and a.status in ('open', 'acknowledged') group by 1
         ) al on al.institution_id = i.id
         left join (
             select d.institution_id, count(*) as devices, count(*) filter (where ",
    );
    super::devices::push_online(&mut query, now);
    query.push(
        ") as devices_online
             from devices d left join device_state s on s.device_id = d.device_id
             where not d.historical and d.institution_id = any(",
    );
    query.push_bind(ids.to_vec());
    query.push(
        ") group by 1
         ) dv on dv.institution_id = i.id
         left join (
             select r.institution_id, count(*) as residents from residents r where r.institution_id = any(",
    );
    query.push_bind(ids.to_vec());
    query.push(
        ") group by 1) rs on rs.institution_id = i.id
         left join (
             select p.institution_id, sum((item->>'hours_per_month')::float8) as hours_per_month
             from care_plans p cross join lateral jsonb_array_elements(p.items) item
             where p.institution_id = any(",
    );
    query.push_bind(ids.to_vec());
    query.push(") group by 1) cp on cp.institution_id = i.id where i.id = any(");
    query.push_bind(ids.to_vec());
    query.push(")");
    let rows: Vec<SnapshotRow> = query.build_query_as().fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let snapshot = Snapshot {
                open_alerts: r.open_alerts,
                devices: r.devices,
                devices_online: r.devices_online,
                low_battery: r.low_battery,
                residents: r.residents,
                residents_with_open_alerts: r.residents_with_open_alerts,
                hours_per_month: r.hours_per_month,
            };
            (r.id, snapshot)
        })
        .collect())
}

/// Per institution, of the alerts a person had to answer opened since
/// `since`: how many, and how many were answered within 60 s and 180 s.
/// For `/metrics`: one pass over a partial index of critical and high
/// alerts.
pub async fn answering(pool: &PgPool, since: DateTime<Utc>) -> Result<Vec<(Uuid, i64, i64, i64)>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select a.institution_id, count(*),
                count(*) filter (where {ANSWERED_AT} <= a.opened_at + interval '60 seconds'),
                count(*) filter (where {ANSWERED_AT} <= a.opened_at + interval '180 seconds')
         from alerts a
         where a.opened_at >= $1 and {ANSWERABLE}
         group by 1 order by 1"
    )))
    .bind(since)
    .fetch_all(pool)
    .await
}
