//! A resident's day at a glance, for their family: meals, activity and the
//! night, vitals against their normal range, alerts with their outcome, and
//! device health. Loaded from the stores, then computed by [`day`] as plain
//! logic, with the rules' own definitions of a meal and of device health,
//! so the summary never contradicts an alert.

mod day;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::activity::{ActivityEvent, ROUTINE_EVENTS};
use crate::domain::presence;
use crate::domain::scope::{Monitoring, Reached};
use crate::domain::settings::{LocalTime, RuleSettings, Threshold};
use crate::domain::{AlertKind, DeviceKind, EventKind, Scope, Status};
use crate::rules::behaviour::missed_meal_cause;
use crate::rules::devices;
use crate::rules::presence as home;
use crate::rules::routine::Routine;
use crate::store::alerts::{self, DayAlert};
use crate::store::data::{self, Stats};
use crate::store::settings::SettingsCache;
use crate::store::{activity, devices as stored_devices, meals, residents, routines};
use day::DayFacts;

/// Enough for a very busy home over the two days a summary reads.
const MAX_EVENTS: i64 = 20_000;
/// The latest vitals are looked for this far back from the end of the day.
const VITALS_LOOKBACK: Duration = Duration::days(30);
/// The bed sensor's last word before the summary's events is looked for this far back.
const BED_LOOKBACK: Duration = Duration::days(2);
/// A day's alerts shown at most.
const MAX_ALERTS: i64 = 200;

#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    /// No such resident in the scope's reach.
    #[error("not found")]
    NotFound,
    #[error("date must be a day from 1970 up to today in the resident's timezone")]
    DateOutOfRange,
    #[error("resident {0} has an invalid timezone {1:?}")]
    InvalidTimezone(Uuid, String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The summary of a resident's local `date` (today there when `None`), as
/// of `now`.
pub async fn build(
    pool: &PgPool,
    rule_settings: &SettingsCache,
    scope: &Scope,
    reached: &Reached<Monitoring>,
    date: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<Summary, SummaryError> {
    let resident = residents::fetch(pool, scope, reached.id()).await?.ok_or(SummaryError::NotFound)?;
    let id = resident.id;
    let tz: Tz = resident.timezone.parse().map_err(|_| SummaryError::InvalidTimezone(id, resident.timezone.clone()))?;
    let settings = rule_settings.resident(pool, id).await?.ok_or(SummaryError::NotFound)?;
    let today = now.with_timezone(&tz).date_naive();
    let date = date.unwrap_or(today);
    if date > today || date.year() < 1970 {
        return Err(SummaryError::DateOutOfRange);
    }
    let (day_start, day_end) = day::day_bounds(tz, date);
    let (span_start, span_end) = day::span(tz, date, &settings);
    // Falls and SOS are not activity here: they reach the family as alerts,
    // and "last active: fall detected" would read wrong.
    let events =
        activity::of_resident(pool, reached, ROUTINE_EVENTS, span_start, span_end.min(now), MAX_EVENTS).await?;
    let bed_edges = [EventKind::BedExit, EventKind::BedEnter];
    let last_bed_edge =
        activity::last_of_resident(pool, reached, &bed_edges, span_start - BED_LOOKBACK, span_start).await?;
    let causes: Vec<String> = settings.meal_windows.iter().map(|m| missed_meal_cause(&m.meal, date)).collect();
    let missed = alerts::by_cause(pool, reached, AlertKind::MissedMeal, &causes).await?;
    let refs: Vec<&ActivityEvent> = events.iter().collect();
    // The routine the scheduler's leader learned and the rules use.
    let stored = routines::of::<Routine>(pool, reached).await?.map(|(_, routine)| routine);
    let routine = stored.as_ref().filter(|r| settings.routine.learn && r.usable());
    let no_hall = routine.map_or(home::NoHall::Unsure, |r| home::NoHall::Usual(r, tz));
    let visits = activity::attended(pool, reached, span_start, span_end.min(now)).await?;
    let periods = home::of(&refs, &visits, settings.presence.out_after(), no_hall, now);
    let facts = DayFacts {
        tz,
        date,
        now,
        settings: &settings,
        events: &events,
        in_bed_before: last_bed_edge.map(|kind| kind == EventKind::BedEnter),
        missed: &missed,
        presence: &periods,
        routine,
    };
    Ok(Summary {
        resident: ResidentBrief { id, name: resident.name, timezone: resident.timezone, room: resident.room },
        date,
        day_start,
        day_end,
        generated_at: now,
        away: settings.away,
        presence: (date == today).then(|| periods.last().map(PresenceNow::from)).flatten(),
        meals: day::meals(&facts),
        activity: day::activity(&facts),
        vitals: vitals(pool, reached, &settings, day_start, day_end).await?,
        alerts: day_alerts(pool, reached, day_start, day_end).await?,
        devices: device_health(pool, reached, &settings, now).await?,
        meal_service: meal_service(pool, reached, date).await?,
    })
}

async fn meal_service(
    pool: &PgPool,
    reached: &Reached<Monitoring>,
    date: NaiveDate,
) -> Result<MealService, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let plan = meals::plan(&mut conn, reached).await?;
    let orders = meals::orders_of_resident_on(pool, reached, date)
        .await?
        .into_iter()
        .map(|o| MealOrderBrief {
            meal: o.meal,
            delivery: o.delivery,
            status: o.status,
            outcome: o.outcome,
            outcome_at: o.outcome_at,
        })
        .collect();
    Ok(MealService { plan, orders })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = DailySummary)]
pub struct Summary {
    resident: ResidentBrief,
    date: NaiveDate,
    /// The local day, as instants.
    day_start: DateTime<Utc>,
    day_end: DateTime<Utc>,
    generated_at: DateTime<Utc>,
    /// Away (visiting family, in hospital): meals and activity are not judged.
    away: bool,
    /// Today only: in, out (since the door closed behind her) or unsure,
    /// from the entrance door and the motion indoors. `null` for another
    /// day, or with no activity yet.
    presence: Option<PresenceNow>,
    meals: Vec<Meal>,
    activity: Activity,
    vitals: Vec<Vital>,
    alerts: DayAlerts,
    devices: Devices,
    /// The meal service's part: the plan, and the day's orders with what
    /// the courier found (a meal handed over also shows in `meals`).
    meal_service: MealService,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SummaryPresence)]
struct PresenceNow {
    state: home::Presence,
    /// Since when, as far as the day's events reach back.
    since: DateTime<Utc>,
}

impl From<&home::Period> for PresenceNow {
    fn from(period: &home::Period) -> Self {
        PresenceNow { state: period.presence, since: period.from }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SummaryMealService)]
struct MealService {
    plan: Option<crate::domain::meal::MealPlan>,
    orders: Vec<MealOrderBrief>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SummaryMealOrder)]
struct MealOrderBrief {
    meal: crate::domain::meal::Meal,
    delivery: crate::domain::meal::Delivery,
    status: crate::domain::meal::OrderStatus,
    outcome: Option<crate::domain::meal::Outcome>,
    outcome_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SummaryResidentBrief)]
struct ResidentBrief {
    id: Uuid,
    name: String,
    timezone: String,
    room: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = SummaryMealStatus)]
pub enum MealStatus {
    /// Something in the window showed a meal (see `evidence`).
    Taken,
    /// The missed-meal rule raised an alert for this window.
    Missed,
    /// The window is open and nothing shows a meal yet.
    InProgress,
    Upcoming,
    /// Out for at least half of the window: eaten out (when the settings
    /// count it so), and no alert.
    EatenOut,
    /// The window is over, nothing showed a meal, and no alert was raised:
    /// away, or not judged yet (the scheduler runs every few seconds).
    NotRecorded,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SummaryMeal)]
struct Meal {
    meal: String,
    /// The window in the resident's local time, as configured.
    #[schema(value_type = String, pattern = "^[0-2][0-9]:[0-5][0-9](:[0-5][0-9])?$")]
    start: LocalTime,
    #[schema(value_type = String, pattern = "^[0-2][0-9]:[0-5][0-9](:[0-5][0-9])?$")]
    end: LocalTime,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
    status: MealStatus,
    /// The first sign of the meal, when taken.
    evidence: Option<Evidence>,
    missed_alert_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = SummaryEvidence)]
struct Evidence {
    at: DateTime<Utc>,
    /// The event's kind (a catalog name, or the device's own).
    #[schema(value_type = String)]
    kind: EventKind,
    room: Option<String>,
}

impl From<&ActivityEvent> for Evidence {
    fn from(e: &ActivityEvent) -> Self {
        Evidence { at: e.ts, kind: e.kind.clone(), room: e.room.clone() }
    }
}

#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = SummaryActivity)]
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

#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = SummaryRoomVisit)]
struct RoomVisit {
    room: String,
    motion_events: usize,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = SummaryBed)]
struct Bed {
    /// As of the end of the day (or now, today); null without a bed sensor's word.
    in_bed: Option<bool>,
    last_exit_at: Option<DateTime<Utc>>,
    last_enter_at: Option<DateTime<Utc>>,
}

/// The night that ends on the morning of the day (the `night` window of the
/// rule settings), as an approximation of sleep: time in bed.
#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = SummaryNight)]
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

#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = SummaryMedication)]
struct Medication {
    doses_taken: usize,
    last_taken_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SummaryVital)]
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
    day: Option<Stats>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SummaryAlerts)]
struct DayAlerts {
    open: usize,
    acknowledged: usize,
    resolved: usize,
    /// Alerts active at some time during the day, unresolved first, then by severity.
    items: Vec<DayAlert>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SummaryDevices)]
struct Devices {
    total: usize,
    online: usize,
    offline: usize,
    never_seen: usize,
    low_battery: usize,
    items: Vec<DeviceStatus>,
}

/// A device's health now, whatever day is summarised.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SummaryDeviceStatus)]
struct DeviceStatus {
    device_id: String,
    kind: DeviceKind,
    room: Option<String>,
    placement: Option<String>,
    /// False when it said so or has been silent past its kind's heartbeat
    /// timeout (since its registration when it never spoke); null when it
    /// was never heard from and is still within that timeout.
    online: Option<bool>,
    battery: Option<f64>,
    last_seen_at: Option<DateTime<Utc>>,
    low_battery: bool,
}

async fn vitals(
    pool: &PgPool,
    reached: &Reached<Monitoring>,
    settings: &RuleSettings,
    day_start: DateTime<Utc>,
    day_end: DateTime<Utc>,
) -> Result<Vec<Vital>, sqlx::Error> {
    let metrics = day::summary_metrics();
    let latest = data::latest(pool, reached, &metrics, day_end - VITALS_LOOKBACK, day_end).await?;
    let mut stats = data::stats(pool, reached, &metrics, day_start, day_end).await?;
    let mut out: Vec<Vital> = latest
        .into_iter()
        .map(|(metric, value, ts)| {
            let normal_range = settings.thresholds.get(metric).copied();
            let day = stats.iter().position(|s| s.metric == metric).map(|i| stats.swap_remove(i));
            Vital {
                metric: metric.as_str(),
                unit: metric.unit(),
                value,
                ts,
                normal_range,
                in_range: normal_range.map(|r| day::in_range(value, &r)),
                day,
            }
        })
        .collect();
    out.sort_by_key(|v| metrics.iter().position(|m| m.as_str() == v.metric));
    Ok(out)
}

async fn day_alerts(
    pool: &PgPool,
    reached: &Reached<Monitoring>,
    day_start: DateTime<Utc>,
    day_end: DateTime<Utc>,
) -> Result<DayAlerts, sqlx::Error> {
    let items = alerts::of_resident_during(pool, reached, day_start, day_end, MAX_ALERTS).await?;
    let count = |status: Status| items.iter().filter(|a| a.status == status).count();
    Ok(DayAlerts {
        open: count(Status::Open),
        acknowledged: count(Status::Acknowledged),
        resolved: count(Status::Resolved),
        items,
    })
}

async fn device_health(
    pool: &PgPool,
    reached: &Reached<Monitoring>,
    settings: &RuleSettings,
    now: DateTime<Utc>,
) -> Result<Devices, sqlx::Error> {
    let items: Vec<DeviceStatus> = stored_devices::of_resident(pool, reached)
        .await?
        .into_iter()
        .map(|d| DeviceStatus {
            online: presence::online_since(d.kind, d.last_seen_at, d.created_at, d.reported_online, now),
            low_battery: d
                .battery
                .is_some_and(|b| devices::battery(b, settings.low_battery.percent).is_low(d.low_battery_open)),
            device_id: d.device_id,
            kind: d.kind,
            room: d.room,
            placement: d.placement,
            battery: d.battery,
            last_seen_at: d.last_seen_at,
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
