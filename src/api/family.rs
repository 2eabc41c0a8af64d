//! What the family app shows: the residents linked to me, and a resident's
//! day at a glance (meals, activity and the night, vitals against their
//! normal range, alerts with their outcome, device health).
//!
//! Everything goes through the caller's scope: families reach only their
//! linked residents, staff their institution's; the rest is a 404.

use std::collections::HashMap;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Path, Query, Result};
use crate::domain::{AlertKind, DeviceKind, EventKind, Metric, Resolution, Severity, Status};
// Falls and SOS are not "activity" here: they reach the family as alerts, and
// "last active: fall detected" would read wrong.
use crate::rules::behaviour::{ActivityEvent, ROUTINE_EVENTS, local_instant, meal_evidence, window_on};
use crate::rules::devices::{self as device_health, Battery};
use crate::rules::settings::{LocalTime, RuleSettings, Threshold, TimeWindow};
use crate::rules::vitals::is_vital;
use crate::store::messages::{self, Overview};
use crate::store::{activity, residents};

pub fn router() -> Router<ApiContext> {
    Router::new().route("/me/residents", get(my_residents)).route("/residents/{id}/summary", get(summary))
}

// ---------------------------------------------------------------------------
// The residents linked to me: the app's home screen.

#[derive(Debug, Serialize)]
struct MyResidents {
    residents: Vec<Overview>,
}

async fn my_residents(State(ctx): State<ApiContext>, auth: AuthUser) -> Result<Json<MyResidents>> {
    Ok(Json(MyResidents { residents: messages::overview(&ctx.pool, &auth.scope).await? }))
}

// ---------------------------------------------------------------------------
// The daily summary.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryQuery {
    /// A local date of the resident; today there by default.
    date: Option<NaiveDate>,
}

#[derive(Debug, Serialize)]
struct Summary {
    resident: ResidentBrief,
    date: NaiveDate,
    /// The local day, as instants.
    day_start: DateTime<Utc>,
    day_end: DateTime<Utc>,
    generated_at: DateTime<Utc>,
    /// Away (visiting family, in hospital): meals and activity are not judged.
    away: bool,
    meals: Vec<Meal>,
    activity: Activity,
    vitals: Vec<Vital>,
    alerts: DayAlerts,
    devices: Devices,
}

#[derive(Debug, Serialize)]
struct ResidentBrief {
    id: Uuid,
    name: String,
    timezone: String,
    room: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum MealStatus {
    /// Something in the window showed a meal (see `evidence`).
    Taken,
    /// The missed-meal rule raised an alert for this window.
    Missed,
    /// The window is open and nothing shows a meal yet.
    InProgress,
    Upcoming,
    /// The window is over, nothing showed a meal, and no alert was raised:
    /// away, or not judged yet (the scheduler runs every few seconds).
    NotRecorded,
}

#[derive(Debug, Serialize)]
struct Meal {
    meal: String,
    /// The window in the resident's local time, as configured.
    start: LocalTime,
    end: LocalTime,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
    status: MealStatus,
    /// The first sign of the meal, when taken.
    evidence: Option<Evidence>,
    missed_alert_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct Evidence {
    at: DateTime<Utc>,
    kind: EventKind,
    room: Option<String>,
}

impl From<&ActivityEvent> for Evidence {
    fn from(e: &ActivityEvent) -> Self {
        Evidence { at: e.ts, kind: e.kind.clone(), room: e.room.clone() }
    }
}

#[derive(Debug, Serialize, PartialEq)]
struct Activity {
    /// Any activity event of the day (movement, doors, bed, kitchen, meals, pills).
    first_activity_at: Option<DateTime<Utc>>,
    last_activity_at: Option<DateTime<Utc>>,
    motion_events: usize,
    /// Rooms with motion, in the order first visited.
    rooms: Vec<RoomVisit>,
    bed: Bed,
    night: Night,
    medication: Medication,
}

#[derive(Debug, Serialize, PartialEq)]
struct RoomVisit {
    room: String,
    motion_events: usize,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, PartialEq)]
struct Bed {
    /// As of the end of the day (or now, today); null without a bed sensor's word.
    in_bed: Option<bool>,
    last_exit_at: Option<DateTime<Utc>>,
    last_enter_at: Option<DateTime<Utc>>,
}

/// The night that ends on the morning of the day (the `night` window of the
/// rule settings), as an approximation of sleep: time in bed.
#[derive(Debug, Serialize, PartialEq)]
struct Night {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// False while the night is still going on.
    complete: bool,
    /// Minutes in bed within the night (so far); null when the bed sensor
    /// says nothing about it.
    in_bed_minutes: Option<i64>,
    /// Times she got out of bed during the night.
    bed_exits: usize,
}

#[derive(Debug, Serialize, PartialEq)]
struct Medication {
    doses_taken: usize,
    last_taken_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize)]
struct Vital {
    metric: &'static str,
    unit: &'static str,
    /// The latest reading up to the end of the day.
    value: f64,
    ts: DateTime<Utc>,
    /// The resident's effective thresholds; null where none is set.
    normal_range: Option<Threshold>,
    in_range: Option<bool>,
    /// The day's readings; null when there were none that day.
    day: Option<DayStats>,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct DayStats {
    #[serde(skip)]
    metric: String,
    min: f64,
    max: f64,
    count: i64,
}

#[derive(Debug, Serialize)]
struct DayAlerts {
    open: usize,
    acknowledged: usize,
    resolved: usize,
    /// Alerts active at some time during the day, unresolved first, then by severity.
    items: Vec<DayAlert>,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct DayAlert {
    id: Uuid,
    kind: AlertKind,
    severity: Severity,
    status: Status,
    resolution: Option<Resolution>,
    opened_at: DateTime<Utc>,
    /// When the condition itself happened (before `opened_at` for late data).
    condition_at: DateTime<Utc>,
    acknowledged_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    /// Who resolved it, or acknowledged it while it is open.
    handled_by: Option<String>,
    details: Value,
}

#[derive(Debug, Serialize)]
struct Devices {
    total: usize,
    online: usize,
    offline: usize,
    never_seen: usize,
    low_battery: usize,
    items: Vec<DeviceStatus>,
}

#[derive(Debug, sqlx::FromRow)]
struct DeviceRow {
    device_id: String,
    kind: DeviceKind,
    room: Option<String>,
    placement: Option<String>,
    online: Option<bool>,
    battery: Option<f64>,
    last_seen_at: Option<DateTime<Utc>>,
}

/// A device's health now, whatever day is summarised.
#[derive(Debug, Serialize)]
struct DeviceStatus {
    device_id: String,
    kind: DeviceKind,
    room: Option<String>,
    placement: Option<String>,
    /// False when it said so or has been silent past its kind's heartbeat
    /// timeout; null when it was never heard from.
    online: Option<bool>,
    battery: Option<f64>,
    last_seen_at: Option<DateTime<Utc>>,
    low_battery: bool,
}

/// Enough for a very busy home over the two days a summary reads.
const MAX_EVENTS: i64 = 20_000;
/// The latest vitals are looked for this far back from the end of the day.
const VITALS_LOOKBACK: Duration = Duration::days(30);
/// The bed sensor's last word before the summary's events is looked for this far back.
const BED_LOOKBACK: Duration = Duration::days(2);

async fn summary(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<SummaryQuery>,
) -> Result<Json<Summary>> {
    let id = auth.resident(&ctx, id).await?;
    let resident = residents::fetch(&ctx.pool, &auth.scope, id).await?.ok_or(Error::NotFound)?;
    let tz: Tz = resident
        .timezone
        .parse()
        .map_err(|_| anyhow::anyhow!("resident {id} has an invalid timezone {:?}", resident.timezone))?;
    let settings = ctx.rule_settings.resident(&ctx.pool, id).await?.ok_or(Error::NotFound)?;
    let now = Utc::now();
    let today = now.with_timezone(&tz).date_naive();
    let date = q.date.unwrap_or(today);
    if date > today || date.year() < 1970 {
        return Err(Error::validation("date", "date must be a day from 1970 up to today in the resident's timezone"));
    }
    let (day_start, day_end) = day_bounds(tz, date);
    let (span_start, span_end) = span(tz, date, &settings);

    let events =
        activity::of_resident(&ctx.pool, id, ROUTINE_EVENTS, span_start, span_end.min(now), MAX_EVENTS).await?;
    let bed_edges = [EventKind::BedExit, EventKind::BedEnter];
    let last_bed_edge =
        activity::last_of_resident(&ctx.pool, id, &bed_edges, span_start - BED_LOOKBACK, span_start).await?;
    let causes: Vec<String> = settings.meal_windows.iter().map(|m| missed_meal_cause(&m.meal, date)).collect();
    let missed: HashMap<String, Uuid> = sqlx::query_as(
        "select cause, id from alerts where resident_id = $1 and kind = 'missed_meal' and cause = any($2)
         order by opened_at",
    )
    .bind(id)
    .bind(&causes)
    .fetch_all(&ctx.pool)
    .await?
    .into_iter()
    .collect();
    let facts = DayFacts {
        tz,
        date,
        now,
        settings: &settings,
        events: &events,
        in_bed_before: last_bed_edge.map(|kind| kind == EventKind::BedEnter),
        missed: &missed,
    };

    Ok(Json(Summary {
        resident: ResidentBrief { id, name: resident.name, timezone: resident.timezone, room: resident.room },
        date,
        day_start,
        day_end,
        generated_at: now,
        away: settings.away,
        meals: meals(&facts),
        activity: activity(&facts),
        vitals: vitals(&ctx, id, &settings, day_start, day_end).await?,
        alerts: day_alerts(&ctx, id, day_start, day_end).await?,
        devices: devices(&ctx, id, &settings, now).await?,
    }))
}

/// The cause the missed-meal rule gives the alert of one window.
fn missed_meal_cause(meal: &str, date: NaiveDate) -> String {
    format!("{meal}:{date}")
}

/// The instants a local day starts and ends.
fn day_bounds(tz: Tz, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let next = date.succ_opt().unwrap_or(date);
    (local_instant(tz, date, NaiveTime::MIN), local_instant(tz, next, NaiveTime::MIN))
}

/// The night window that ends on `date` (it starts the evening before when
/// it crosses midnight).
fn night_of(tz: Tz, night: &TimeWindow, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start_date = if night.crosses_midnight() { date.pred_opt().unwrap_or(date) } else { date };
    window_on(tz, night, start_date)
}

/// The time the summary needs events for: the day, the night before it and
/// every meal window of the day (one may cross midnight).
fn span(tz: Tz, date: NaiveDate, settings: &RuleSettings) -> (DateTime<Utc>, DateTime<Utc>) {
    let (mut start, mut end) = day_bounds(tz, date);
    let windows = settings.meal_windows.iter().map(|m| window_on(tz, &m.window, date));
    for (s, e) in windows.chain([night_of(tz, &settings.night, date)]) {
        start = start.min(s);
        end = end.max(e);
    }
    (start, end)
}

/// What the behaviour part of a summary is computed from, loaded beforehand
/// so that the computing is plain logic.
struct DayFacts<'a> {
    tz: Tz,
    date: NaiveDate,
    now: DateTime<Utc>,
    settings: &'a RuleSettings,
    /// Activity events over [`span`] up to now, oldest first.
    events: &'a [ActivityEvent],
    /// Whether the resident was in bed before the first of `events`, from
    /// the bed sensor's last word; `None` when it said nothing.
    in_bed_before: Option<bool>,
    /// Missed-meal alerts of the day by cause.
    missed: &'a HashMap<String, Uuid>,
}

impl DayFacts<'_> {
    fn between(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> impl Iterator<Item = &ActivityEvent> {
        self.events.iter().filter(move |e| e.ts >= start && e.ts < end && e.ts <= self.now)
    }
}

fn meal_status(
    evidence: bool,
    missed: bool,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> MealStatus {
    // Evidence wins over an alert: data uploaded late can show a meal the
    // rule had already called missed.
    if evidence {
        MealStatus::Taken
    } else if missed {
        MealStatus::Missed
    } else if now < start {
        MealStatus::Upcoming
    } else if now < end {
        MealStatus::InProgress
    } else {
        MealStatus::NotRecorded
    }
}

fn meals(facts: &DayFacts<'_>) -> Vec<Meal> {
    facts
        .settings
        .meal_windows
        .iter()
        .map(|m| {
            let (start, end) = window_on(facts.tz, &m.window, facts.date);
            let evidence = meal_evidence(facts.events.iter().filter(|e| e.ts <= facts.now), start, end);
            let missed_alert_id = facts.missed.get(&missed_meal_cause(&m.meal, facts.date)).copied();
            Meal {
                meal: m.meal.clone(),
                start: m.window.start,
                end: m.window.end,
                window_start: start,
                window_end: end,
                status: meal_status(evidence.is_some(), missed_alert_id.is_some(), start, end, facts.now),
                evidence: evidence.map(Evidence::from),
                missed_alert_id,
            }
        })
        .collect()
}

/// Time in bed within `[start, end)` from the bed sensor's edges (time,
/// got in), oldest first. `before` is the state before the first edge; when
/// unknown, the first edge tells it (getting out means she was in bed).
fn time_in_bed(
    before: Option<bool>,
    edges: &[(DateTime<Utc>, bool)],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Option<Duration> {
    if end <= start {
        return None;
    }
    let mut in_bed = before.or_else(|| edges.first().map(|(_, got_in)| !got_in))?;
    let mut from = start;
    let mut total = Duration::zero();
    for &(ts, got_in) in edges.iter().take_while(|(ts, _)| *ts < end) {
        if ts > from {
            if in_bed {
                total += ts - from;
            }
            from = ts;
        }
        in_bed = got_in;
    }
    if in_bed {
        total += end - from;
    }
    Some(total)
}

fn activity(facts: &DayFacts<'_>) -> Activity {
    let (day_start, day_end) = day_bounds(facts.tz, facts.date);
    let day: Vec<&ActivityEvent> = facts.between(day_start, day_end).collect();

    let mut rooms: Vec<RoomVisit> = Vec::new();
    for e in day.iter().filter(|e| e.kind == EventKind::Motion) {
        let Some(room) = &e.room else { continue };
        match rooms.iter_mut().find(|r| &r.room == room) {
            Some(visit) => {
                visit.motion_events += 1;
                visit.last_at = e.ts;
            }
            None => rooms.push(RoomVisit { room: room.clone(), motion_events: 1, first_at: e.ts, last_at: e.ts }),
        }
    }

    let edges: Vec<(DateTime<Utc>, bool)> = facts
        .events
        .iter()
        .filter(|e| e.ts <= facts.now)
        .filter_map(|e| match e.kind {
            EventKind::BedEnter => Some((e.ts, true)),
            EventKind::BedExit => Some((e.ts, false)),
            _ => None,
        })
        .collect();
    let until_day_end = || edges.iter().filter(|(ts, _)| *ts < day_end);
    let bed = Bed {
        in_bed: until_day_end().next_back().map(|(_, got_in)| *got_in).or(facts.in_bed_before),
        last_exit_at: until_day_end().filter(|(_, got_in)| !got_in).map(|(ts, _)| *ts).next_back(),
        last_enter_at: until_day_end().filter(|(_, got_in)| *got_in).map(|(ts, _)| *ts).next_back(),
    };

    let (night_start, night_end) = night_of(facts.tz, &facts.settings.night, facts.date);
    let night = Night {
        start: night_start,
        end: night_end,
        complete: facts.now >= night_end,
        in_bed_minutes: time_in_bed(facts.in_bed_before, &edges, night_start, night_end.min(facts.now))
            .map(|d| d.num_minutes()),
        bed_exits: facts.between(night_start, night_end).filter(|e| e.kind == EventKind::BedExit).count(),
    };

    let doses: Vec<&&ActivityEvent> = day.iter().filter(|e| e.kind == EventKind::MedicationTaken).collect();
    Activity {
        first_activity_at: day.first().map(|e| e.ts),
        last_activity_at: day.last().map(|e| e.ts),
        motion_events: day.iter().filter(|e| e.kind == EventKind::Motion).count(),
        rooms,
        bed,
        night,
        medication: Medication { doses_taken: doses.len(), last_taken_at: doses.last().map(|e| e.ts) },
    }
}

fn in_range(value: f64, range: &Threshold) -> bool {
    range.min.is_none_or(|min| value >= min) && range.max.is_none_or(|max| value <= max)
}

/// Vital signs and weight: what a relative asks about.
fn summary_metrics() -> Vec<Metric> {
    Metric::ALL.into_iter().filter(|m| is_vital(*m) || *m == Metric::BodyWeight).collect()
}

async fn vitals(
    ctx: &ApiContext,
    id: Uuid,
    settings: &RuleSettings,
    day_start: DateTime<Utc>,
    day_end: DateTime<Utc>,
) -> Result<Vec<Vital>> {
    let metrics = summary_metrics();
    let names: Vec<&str> = metrics.iter().map(Metric::as_str).collect();
    // One index probe per metric rather than a scan of all readings.
    let latest: Vec<(String, f64, DateTime<Utc>)> = sqlx::query_as(
        "select m.metric, r.value, r.ts from unnest($2::text[]) as m (metric)
         cross join lateral (select value, ts from readings
                             where resident_id = $1 and metric = m.metric and ts < $3 and ts >= $4
                             order by ts desc limit 1) r",
    )
    .bind(id)
    .bind(&names)
    .bind(day_end)
    .bind(day_end - VITALS_LOOKBACK)
    .fetch_all(&ctx.pool)
    .await?;
    let mut day: HashMap<String, DayStats> = sqlx::query_as::<_, DayStats>(
        "select metric, min(value) as min, max(value) as max, count(*) as count from readings
         where resident_id = $1 and metric = any($2) and ts >= $3 and ts < $4
         group by metric",
    )
    .bind(id)
    .bind(&names)
    .bind(day_start)
    .bind(day_end)
    .fetch_all(&ctx.pool)
    .await?
    .into_iter()
    .map(|s| (s.metric.clone(), s))
    .collect();
    let mut out: Vec<Vital> = latest
        .into_iter()
        .filter_map(|(name, value, ts)| {
            let metric = Metric::parse(&name)?;
            let normal_range = settings.thresholds.get(metric).copied();
            Some(Vital {
                metric: metric.as_str(),
                unit: metric.unit(),
                value,
                ts,
                normal_range,
                in_range: normal_range.map(|r| in_range(value, &r)),
                day: day.remove(&name),
            })
        })
        .collect();
    out.sort_by_key(|v| metrics.iter().position(|m| m.as_str() == v.metric));
    Ok(out)
}

async fn day_alerts(ctx: &ApiContext, id: Uuid, day_start: DateTime<Utc>, day_end: DateTime<Utc>) -> Result<DayAlerts> {
    let items: Vec<DayAlert> = sqlx::query_as(
        "select a.id, a.kind, a.severity, a.status, a.resolution, a.opened_at, a.condition_at,
                a.acknowledged_at, a.resolved_at, coalesce(ru.name, au.name) as handled_by, a.details
         from alerts a
         left join users au on au.id = a.acknowledged_by
         left join users ru on ru.id = a.resolved_by
         where a.resident_id = $1 and a.opened_at < $3 and (a.resolved_at is null or a.resolved_at >= $2)
         order by (a.status = 'resolved'), array_position(array['critical','high','medium','low'], a.severity),
                  a.opened_at desc
         limit 200",
    )
    .bind(id)
    .bind(day_start)
    .bind(day_end)
    .fetch_all(&ctx.pool)
    .await?;
    let count = |status: Status| items.iter().filter(|a| a.status == status).count();
    Ok(DayAlerts {
        open: count(Status::Open),
        acknowledged: count(Status::Acknowledged),
        resolved: count(Status::Resolved),
        items,
    })
}

fn device_online(row: &DeviceRow, now: DateTime<Utc>) -> Option<bool> {
    device_health::online(row.kind, row.last_seen_at, row.online, now)
}

async fn devices(ctx: &ApiContext, id: Uuid, settings: &RuleSettings, now: DateTime<Utc>) -> Result<Devices> {
    let rows: Vec<DeviceRow> = sqlx::query_as(
        "select d.device_id, d.kind, d.room, d.placement, s.online, s.battery, s.last_seen_at
         from devices d left join device_state s on s.device_id = d.device_id
         where d.resident_id = $1 order by d.kind, d.device_id",
    )
    .bind(id)
    .fetch_all(&ctx.pool)
    .await?;
    let items: Vec<DeviceStatus> = rows
        .into_iter()
        .map(|row| DeviceStatus {
            online: device_online(&row, now),
            low_battery: row
                .battery
                .is_some_and(|b| device_health::battery(b, settings.low_battery.percent) == Battery::Low),
            device_id: row.device_id,
            kind: row.kind,
            room: row.room,
            placement: row.placement,
            battery: row.battery,
            last_seen_at: row.last_seen_at,
        })
        .collect();
    Ok(Devices {
        total: items.len(),
        online: items.iter().filter(|d| d.online == Some(true)).count(),
        offline: items.iter().filter(|d| d.online == Some(false)).count(),
        never_seen: items.iter().filter(|d| d.online.is_none()).count(),
        low_battery: items.iter().filter(|d| d.low_battery).count(),
        items,
    })
}

#[cfg(test)]
mod tests {
    use chrono_tz::Asia::Shanghai;

    use super::*;
    use crate::rules::settings::MealWindow;

    fn ts(s: &str) -> DateTime<Utc> {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn event(at: &str, kind: &str, room: Option<&str>) -> ActivityEvent {
        ActivityEvent { ts: ts(at), kind: kind.into(), room: room.map(Into::into), door: None, appliance: None }
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn settings() -> RuleSettings {
        let window = |meal: &str, start, end| MealWindow { meal: meal.into(), window: TimeWindow::new(start, end) };
        RuleSettings {
            meal_windows: vec![
                window("breakfast", LocalTime::hm(7, 0), LocalTime::hm(9, 0)),
                window("lunch", LocalTime::hm(11, 0), LocalTime::hm(13, 0)),
                window("dinner", LocalTime::hm(17, 0), LocalTime::hm(19, 0)),
            ],
            ..RuleSettings::default()
        }
    }

    // Shanghai is UTC+8 all year: 08:00 local is 00:00Z.

    #[test]
    fn kitchen_motion_counts_only_as_a_stay_and_dates_from_its_start() {
        let passing = [event("2026-11-28T00:00:00Z", "motion", Some("kitchen"))];
        let window = (ts("2026-11-27T23:00:00Z"), ts("2026-11-28T01:00:00Z"));
        assert_eq!(meal_evidence(&passing, window.0, window.1), None);
        let stay = [
            event("2026-11-28T00:00:00Z", "motion", Some("kitchen")),
            event("2026-11-28T00:01:00Z", "motion", Some("hall")),
            event("2026-11-28T00:03:00Z", "motion", Some("kitchen")),
        ];
        assert_eq!(meal_evidence(&stay, window.0, window.1).map(|e| e.ts), Some(ts("2026-11-28T00:00:00Z")));
    }

    #[test]
    fn meal_evidence_is_the_service_a_kitchen_appliance_or_the_fridge() {
        let window = (ts("2026-11-28T00:00:00Z"), ts("2026-11-28T01:00:00Z"));
        let fridge =
            ActivityEvent { door: Some("fridge".into()), ..event("2026-11-28T00:10:00Z", "door_opened", None) };
        let entrance =
            ActivityEvent { door: Some("entrance".into()), ..event("2026-11-28T00:05:00Z", "door_opened", None) };
        let kettle =
            ActivityEvent { appliance: Some("kettle".into()), ..event("2026-11-28T00:20:00Z", "appliance_on", None) };
        let tv = ActivityEvent { appliance: Some("tv".into()), ..event("2026-11-28T00:01:00Z", "appliance_on", None) };
        let served = event("2026-11-28T00:30:00Z", "meal_served", None);
        let early = event("2026-11-27T23:59:59Z", "meal_eaten", None);
        for (events, expected) in [
            (vec![&entrance, &tv, &fridge], Some("door_opened")),
            (vec![&tv, &kettle], Some("appliance_on")),
            (vec![&early, &served], Some("meal_served")),
            (vec![&early, &entrance, &tv], None),
        ] {
            let found = meal_evidence(events.iter().copied(), window.0, window.1).map(|e| e.kind.as_str());
            assert_eq!(found, expected, "{events:?}");
        }
    }

    #[test]
    fn meal_status_by_evidence_alert_and_clock() {
        let (start, end) = (ts("2026-11-28T03:00:00Z"), ts("2026-11-28T05:00:00Z"));
        let at = |s: &str| ts(s);
        assert_eq!(meal_status(false, false, start, end, at("2026-11-28T02:00:00Z")), MealStatus::Upcoming);
        assert_eq!(meal_status(false, false, start, end, at("2026-11-28T04:00:00Z")), MealStatus::InProgress);
        assert_eq!(meal_status(true, false, start, end, at("2026-11-28T04:00:00Z")), MealStatus::Taken);
        assert_eq!(meal_status(false, true, start, end, at("2026-11-28T06:00:00Z")), MealStatus::Missed);
        assert_eq!(meal_status(true, true, start, end, at("2026-11-28T06:00:00Z")), MealStatus::Taken);
        assert_eq!(meal_status(false, false, start, end, at("2026-11-28T06:00:00Z")), MealStatus::NotRecorded);
    }

    #[test]
    fn time_in_bed_follows_the_edges_and_infers_the_start() {
        let (start, end) = (ts("2026-11-27T14:00:00Z"), ts("2026-11-27T22:00:00Z"));
        let edges = [
            (ts("2026-11-27T13:00:00Z"), true),
            (ts("2026-11-27T18:00:00Z"), false),
            (ts("2026-11-27T18:30:00Z"), true),
            (ts("2026-11-27T23:00:00Z"), false),
        ];
        // In bed from before the night, up for half an hour at 02:00 local.
        assert_eq!(time_in_bed(None, &edges, start, end), Some(Duration::minutes(450)));
        // Only getting up is seen: she was in bed until then.
        let up = [(ts("2026-11-27T21:00:00Z"), false)];
        assert_eq!(time_in_bed(None, &up, start, end), Some(Duration::hours(7)));
        assert_eq!(time_in_bed(Some(false), &[], start, end), Some(Duration::zero()));
        assert_eq!(time_in_bed(None, &[], start, end), None, "no bed sensor, no answer");
        assert_eq!(time_in_bed(Some(true), &[], end, start), None);
    }

    #[test]
    fn a_morning_summarised() {
        let settings = settings();
        let events = vec![
            event("2026-11-27T13:00:00Z", "bed_enter", Some("bedroom")),
            event("2026-11-27T18:00:00Z", "bed_exit", Some("bedroom")),
            event("2026-11-27T18:10:00Z", "bed_enter", Some("bedroom")),
            event("2026-11-27T22:30:00Z", "bed_exit", Some("bedroom")),
            event("2026-11-27T22:31:00Z", "motion", Some("bedroom")),
            event("2026-11-27T23:10:00Z", "motion", Some("kitchen")),
            event("2026-11-27T23:20:00Z", "meal_eaten", Some("kitchen")),
            event("2026-11-27T23:40:00Z", "medication_taken", Some("kitchen")),
            event("2026-11-28T00:00:00Z", "motion", Some("living_room")),
            event("2026-11-28T02:00:00Z", "motion", Some("kitchen")),
        ];
        let missed = HashMap::from([("lunch:2026-11-28".to_owned(), Uuid::nil())]);
        let facts = DayFacts {
            tz: Shanghai,
            date: date("2026-11-28"),
            now: ts("2026-11-28T06:00:00Z"),
            settings: &settings,
            events: &events,
            in_bed_before: None,
            missed: &missed,
        };
        let meals = meals(&facts);
        let statuses: Vec<(&str, MealStatus)> = meals.iter().map(|m| (m.meal.as_str(), m.status)).collect();
        assert_eq!(
            statuses,
            vec![("breakfast", MealStatus::Taken), ("lunch", MealStatus::Missed), ("dinner", MealStatus::Upcoming)]
        );
        assert_eq!(meals[0].evidence.as_ref().map(|e| e.kind.as_str()), Some("meal_eaten"));
        assert_eq!(meals[0].window_start, ts("2026-11-27T23:00:00Z"));
        assert_eq!(meals[1].missed_alert_id, Some(Uuid::nil()));

        let a = activity(&facts);
        assert_eq!(a.first_activity_at, Some(ts("2026-11-27T18:00:00Z")), "the day starts at local midnight");
        assert_eq!(a.last_activity_at, Some(ts("2026-11-28T02:00:00Z")));
        assert_eq!(a.motion_events, 4);
        let rooms: Vec<(&str, usize)> = a.rooms.iter().map(|r| (r.room.as_str(), r.motion_events)).collect();
        assert_eq!(rooms, vec![("bedroom", 1), ("kitchen", 2), ("living_room", 1)]);
        assert_eq!(
            a.bed,
            Bed {
                in_bed: Some(false),
                last_exit_at: Some(ts("2026-11-27T22:30:00Z")),
                last_enter_at: Some(ts("2026-11-27T18:10:00Z"))
            }
        );
        // Night 22:00-06:00 local: in bed 22:00-02:00 and 02:10-06:00 (the
        // sensor's 06:30 exit is after the night).
        assert_eq!(a.night.start, ts("2026-11-27T14:00:00Z"));
        assert_eq!(a.night.in_bed_minutes, Some(470));
        assert_eq!(a.night.bed_exits, 1);
        assert!(a.night.complete);
        assert_eq!(a.medication, Medication { doses_taken: 1, last_taken_at: Some(ts("2026-11-27T23:40:00Z")) });
    }

    #[test]
    fn events_after_now_are_not_counted() {
        let settings = settings();
        let events = vec![event("2026-11-28T01:00:00Z", "meal_eaten", None)];
        let missed = HashMap::new();
        let facts = DayFacts {
            tz: Shanghai,
            date: date("2026-11-28"),
            now: ts("2026-11-28T00:30:00Z"),
            settings: &settings,
            events: &events,
            in_bed_before: Some(true),
            missed: &missed,
        };
        assert_eq!(meals(&facts)[0].status, MealStatus::InProgress);
        let a = activity(&facts);
        assert_eq!(a.last_activity_at, None);
        assert_eq!(a.bed.in_bed, Some(true));
        assert_eq!(a.night.in_bed_minutes, Some(480), "in bed since before the night, never got up");
    }

    #[test]
    fn vitals_in_range_include_their_bounds() {
        let range = Threshold::new(Some(40.0), Some(130.0));
        assert!(in_range(40.0, &range) && in_range(130.0, &range));
        assert!(!in_range(39.9, &range) && !in_range(130.5, &range));
        assert!(in_range(99.0, &Threshold::new(Some(90.0), None)));
    }

    #[test]
    fn devices_silent_past_their_timeout_are_offline() {
        let now = ts("2026-11-28T12:00:00Z");
        let row = |kind: DeviceKind, online: Option<bool>, ago: Option<Duration>| DeviceRow {
            device_id: "d".into(),
            kind,
            room: None,
            placement: None,
            online,
            battery: None,
            last_seen_at: ago.map(|a| now - a),
        };
        assert_eq!(device_online(&row(DeviceKind::Wearable, Some(true), Some(Duration::minutes(5))), now), Some(true));
        assert_eq!(
            device_online(&row(DeviceKind::Wearable, Some(true), Some(Duration::minutes(20))), now),
            Some(false)
        );
        assert_eq!(device_online(&row(DeviceKind::MotionSensor, None, Some(Duration::hours(3))), now), Some(true));
        assert_eq!(
            device_online(&row(DeviceKind::MotionSensor, Some(false), Some(Duration::minutes(1))), now),
            Some(false)
        );
        assert_eq!(device_online(&row(DeviceKind::BedSensor, None, None), now), None);
    }

    #[test]
    fn the_span_covers_the_night_before_and_a_meal_past_midnight() {
        let mut settings = settings();
        settings.meal_windows.push(MealWindow {
            meal: "supper".into(),
            window: TimeWindow::new(LocalTime::hm(23, 0), LocalTime::hm(0, 30)),
        });
        let (start, end) = span(Shanghai, date("2026-11-28"), &settings);
        assert_eq!(start, ts("2026-11-27T14:00:00Z"));
        assert_eq!(end, ts("2026-11-28T16:30:00Z"));
    }
}
