//! The rule backtest: a resident's stored events and readings replayed
//! through the rule code the live engine and scheduler run, with settings
//! given or current, to show what would have been raised and cleared.
//!
//! One implementation: the streaming rules ([`streaming::on_event`], the
//! fall-cancel check), the vital-sign monitors ([`VitalMonitor`]) and the
//! behaviour rules ([`behaviour::evaluate`]) are the live ones, fed the same
//! facts (events read with the scheduler's definition of activity, rooms and
//! doors; sensors online by [`behaviour::sees_activity`]), and their
//! decisions change an in-memory [`AlertBook`] as the alert store changes
//! its table. A virtual clock advances through the data and judges the
//! behaviour rules on the scheduler's tick grid, so an alert opens at the
//! tick the live scheduler would have seen it.
//!
//! The resident's status periods are followed as the scheduler follows
//! them ([`status::present_at`]): while they are away or in hospital no
//! behaviour rule is judged, what was open when they left is cleared, and
//! on their return the rules judge only what came after it. Device alarms
//! and vital signs count whatever the status, as live.
//!
//! Devices going offline and coming back are replayed from their status
//! history, as the live rule raised and cleared `device_offline` on them
//! ([`devices::replayed`]); low batteries are not (their levels are not
//! kept). Nothing is written and nothing is raised.
//!
//! [`devices::replayed`]: crate::rules::devices::replayed

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use crate::alerts::engine::is_late;
use crate::alerts::lifecycle::AlertBook;
use crate::domain::activity::{ActivityEvent, Attended, attended_as_of};
use crate::domain::presence;
use crate::domain::scope::{Monitoring, Reached};
use crate::domain::settings::{RuleSettings, SettingsError, number_value};
use crate::domain::status::{self, Period};
use crate::domain::{AlertKind, DeviceKind, Metric, Resolution, Severity};
use crate::rules::behaviour::{self, ResidentFacts};
use crate::rules::routine;
use crate::rules::vitals::VitalMonitor;
use crate::rules::{Decision, streaming};
use crate::scheduler::LOOKBACK;
use crate::store::activity::{self, HistoryEvent, HistoryReading};
use crate::store::residents;
use crate::store::settings::SettingsCache;

/// The longest window one backtest replays.
pub const MAX_DAYS: i64 = 366;

/// Alerts no rule clears (an SOS, a fall nobody cancelled, a hazard) are
/// resolved by a person. The replay takes it that one was within this long,
/// so the same alarm later is a new alert, not a repeat of one left open for
/// weeks; within it, it is a repeat, as it would be live.
const HANDLED_WITHIN: Duration = Duration::hours(1);

fn resolved_by_people(kind: AlertKind) -> bool {
    matches!(kind, AlertKind::Fall | AlertKind::Sos | AlertKind::Smoke | AlertKind::Gas | AlertKind::WaterLeak)
}

/// What to replay: a window, and settings merged over the resident's.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = BacktestRequest)]
pub struct Request {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Any subset of the rule settings (a merge patch).
    #[serde(default)]
    #[schema(value_type = crate::domain::settings_schema::RuleSettingsPatch)]
    pub settings: Option<Value>,
    /// Replaces the meal windows.
    #[serde(default)]
    #[schema(value_type = crate::domain::settings_schema::MealWindows)]
    pub meal_windows: Option<Value>,
    /// Thresholds by metric, over the resident's.
    #[serde(default)]
    #[schema(value_type = crate::domain::settings_schema::Thresholds)]
    pub thresholds: Option<Value>,
}

impl Request {
    /// Refuses a window that is empty, backwards or longer than [`MAX_DAYS`].
    pub fn check_window(&self) -> Result<(), SettingsError> {
        if self.to <= self.from {
            return Err(SettingsError { field: "to".into(), message: "must be after from".into() });
        }
        if self.to - self.from > Duration::days(MAX_DAYS) {
            return Err(SettingsError {
                field: "to".into(),
                message: format!("the window may not be longer than {MAX_DAYS} days"),
            });
        }
        Ok(())
    }

    /// The settings replayed: the resident's effective settings, at home
    /// (away mode is today's, not the history's), with each part given
    /// merged over them, validated as the settings endpoints validate them.
    pub fn settings_over(&self, effective: &RuleSettings) -> Result<RuleSettings, SettingsError> {
        let mut settings = RuleSettings { away: false, ..effective.clone() };
        if let Some(patch) = &self.settings {
            settings = settings.apply_patch(patch)?;
        }
        if let Some(windows) = &self.meal_windows {
            if !windows.is_array() {
                return Err(SettingsError {
                    field: "meal_windows".into(),
                    message: "must be an array of {meal, start, end}".into(),
                });
            }
            settings = settings.apply_patch(&json!({"meal_windows": windows}))?;
        }
        if let Some(thresholds) = &self.thresholds {
            if !thresholds.is_object() {
                return Err(SettingsError {
                    field: "thresholds".into(),
                    message: "must be an object of metric: {min, max}".into(),
                });
            }
            settings = settings.apply_patch(&json!({"thresholds": thresholds}))?;
        }
        Ok(settings)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    #[error(transparent)]
    Invalid(#[from] SettingsError),
    #[error("no such resident")]
    NotFound,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("the replay failed: {0}")]
    Replay(String),
    /// Its caller went away (or the process is stopping) before it ended.
    #[error("the backtest was stopped")]
    Stopped,
}

/// A backtest's place among those one process runs at once. Taken before
/// the history is read and given back only when the replay has returned:
/// a caller that stops waiting does not free it while the replay still
/// holds the history in memory and a blocking thread. While the replay
/// runs it is counted in [`Metrics::backtests_replaying`].
///
/// [`Metrics::backtests_replaying`]: crate::metrics::Metrics::backtests_replaying
pub struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

impl Slot {
    /// One of the process's `backtest.max_concurrent` places.
    pub fn of(permit: OwnedSemaphorePermit, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Slot {
        Slot { _permit: Some(permit), metrics: Some(metrics) }
    }

    /// No limit and no gauge: the command line runs one backtest and exits.
    pub fn alone() -> Slot {
        Slot { _permit: None, metrics: None }
    }

    /// Counts the replay as running until the answer is dropped.
    fn replaying(&self) -> Replaying {
        if let Some(metrics) = &self.metrics {
            metrics.backtests_replaying.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Replaying(self.metrics.clone())
    }
}

struct Replaying(Option<std::sync::Arc<crate::metrics::Metrics>>);

impl Drop for Replaying {
    fn drop(&mut self) {
        if let Some(metrics) = &self.0 {
            metrics.backtests_replaying.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Backtests one resident: their timezone and effective settings, the
/// request's parts over them, their history read and replayed (off the
/// async runtime: a long window is CPU work).
///
/// Work ends with its request: dropping this future stops the reads, and
/// cancelling `stop` (the HTTP handler cancels it when it is dropped)
/// stops the replay at its next step; `slot` is held until then.
pub async fn run(
    pool: &PgPool,
    cache: &SettingsCache,
    resident: &Reached<Monitoring>,
    request: &Request,
    tick: Duration,
    stop: CancellationToken,
    slot: Slot,
) -> Result<Report, BacktestError> {
    request.check_window()?;
    let resident_id = resident.id();
    let mut conn = pool.acquire().await?;
    let (_, timezone) = residents::placed(&mut conn, resident_id).await?.ok_or(BacktestError::NotFound)?;
    drop(conn);
    let effective = cache.resident(pool, resident_id).await?.ok_or(BacktestError::NotFound)?;
    let settings = request.settings_over(&effective)?;
    let tz: Tz = timezone.parse().map_err(|_| BacktestError::Replay(format!("unknown timezone {timezone}")))?;
    let history = load(pool, resident, &settings, request.from, request.to).await?;
    let replay = Replay { resident_id, tz, settings, from: request.from, to: request.to, tick };
    tokio::task::spawn_blocking(move || {
        // Dropped last, after the replay has returned: the slot with it.
        let _replaying = slot.replaying();
        self::replay(&replay, &history, &|| stop.is_cancelled())
    })
    .await
    .map_err(|e| BacktestError::Replay(e.to_string()))?
    .ok_or(BacktestError::Stopped)
}

/// A resident's stored history, oldest first: the window and the scheduler's
/// look-back before it, so the replay starts as warm as the live rules are.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub events: Vec<HistoryEvent>,
    pub readings: Vec<HistoryReading>,
    /// The resident's status periods, by start (all of them: the one in
    /// force when the window opens may have started long before).
    pub periods: Vec<Period>,
    /// Her devices' changes between online and offline: each one's last
    /// before the window (its state when the window opens), then those within.
    pub statuses: Vec<crate::domain::device::StatusChange>,
    /// Her carers' visits (EVV), by check-in, from as far back as the events.
    pub visits: Vec<Attended>,
}

/// Reads what the replay of `[from, to)` needs, in four concurrent queries:
/// events (from the 28 days before the window, which her first day's routine
/// is learned from), the readings of the metrics `settings` has thresholds
/// for, the resident's status periods, and her devices' status history.
pub async fn load(
    pool: &PgPool,
    resident: &Reached<Monitoring>,
    settings: &RuleSettings,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<History, sqlx::Error> {
    // Readings matter from the look-back on; events further back, for the
    // routine.
    let start = from - LOOKBACK;
    let metrics: Vec<Metric> = settings.thresholds.iter().map(|(m, _)| m).collect();
    let periods = async {
        let mut conn = pool.acquire().await?;
        crate::store::status::periods(&mut conn, &resident.identity()).await
    };
    let events_from = from - LOOKBACK.max(routine_history());
    let (events, readings, periods, statuses, visits) = tokio::try_join!(
        activity::history(pool, resident, events_from, to),
        activity::readings_history(pool, resident, &metrics, start, to),
        periods,
        crate::store::device_status::history(pool, resident, from, to),
        activity::attended(pool, resident, events_from, to),
    )?;
    Ok(History { events, readings, periods, statuses, visits })
}

/// How far back of a day its routine is learned from (see `rules::routine`),
/// with a day's slack for time zones.
fn routine_history() -> Duration {
    Duration::days(routine::HISTORY_DAYS + 1)
}

/// How to replay: whose history, with which settings, over which window,
/// on which tick.
#[derive(Debug, Clone)]
pub struct Replay {
    pub resident_id: Uuid,
    pub tz: Tz,
    pub settings: RuleSettings,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The scheduler's tick interval.
    pub tick: Duration,
}

/// One alert the replay raised.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReplayedAlert {
    pub kind: AlertKind,
    /// The dedup key within the kind (an episode, a metric...), as live.
    pub cause: String,
    pub severity: Severity,
    pub opened_at: DateTime<Utc>,
    /// When a rule cleared it; `null` if none did within the window.
    #[schema(required = true)]
    pub cleared_at: Option<DateTime<Utc>>,
    pub details: Value,
}

/// What the replay raised over the window.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = BacktestReport)]
pub struct Report {
    pub alerts: Vec<ReplayedAlert>,
    pub by_kind: BTreeMap<String, u64>,
    /// The window's length in days.
    #[schema(value_type = f64)]
    pub days: Value,
    /// `by_kind` per 7 days of the window.
    pub per_week: BTreeMap<String, f64>,
}

/// The grid the scheduler ticks on, from the window's start: tick `k` is
/// `from + k * tick`.
struct Grid {
    from: DateTime<Utc>,
    tick_ms: i64,
}

impl Grid {
    fn at(&self, k: i64) -> DateTime<Utc> {
        self.from + Duration::milliseconds(k * self.tick_ms)
    }

    /// The first tick at or after `t`.
    fn ceil(&self, t: DateTime<Utc>) -> i64 {
        let ms = (t - self.from).num_milliseconds();
        ms.div_euclid(self.tick_ms) + i64::from(ms.rem_euclid(self.tick_ms) != 0)
    }

    /// The last tick at or before `t`.
    fn floor(&self, t: DateTime<Utc>) -> i64 {
        (t - self.from).num_milliseconds().div_euclid(self.tick_ms)
    }
}

/// The replay's running state.
struct State<'a> {
    replay: &'a Replay,
    /// The resident's status periods.
    periods: &'a [Period],
    /// Her carers' visits.
    visits: &'a [Attended],
    /// Where history starts to count for the behaviour rules when no
    /// return from an absence says later.
    since: DateTime<Utc>,
    grid: Grid,
    book: AlertBook,
    vitals: VitalMonitor,
    facts: ResidentFacts,
    /// Activity sensors and when each was last heard from.
    sensors: HashMap<&'a str, (DeviceKind, DateTime<Utc>)>,
    /// Every activity event of the history, oldest first: what each day's
    /// routine is learned from.
    activity: Vec<ActivityEvent>,
    /// The local day the facts' routine was learned for.
    routine_for: Option<NaiveDate>,
}

impl<'a> State<'a> {
    /// An event, as the ingest lane hands it to the engine and the
    /// scheduler reads it.
    fn event(&mut self, event: &'a HistoryEvent) {
        let settings = &self.replay.settings;
        if behaviour::is_activity(&event.kind) {
            self.facts.events.push(event.activity());
        }
        let Some(device_kind) = event.device_kind else { return };
        if behaviour::ACTIVITY_SENSOR_KINDS.contains(&device_kind) {
            self.sensors.insert(&event.device_id, (device_kind, event.ts));
        }
        let late = is_late(event.ts, event.received_at);
        for mut decision in streaming::on_event(&event.kind, event.ts, &event.data, device_kind, settings, late) {
            match &decision {
                Decision::Clear { kind: AlertKind::Fall, .. } => {
                    let Some(fall) = self.book.open(AlertKind::Fall, "") else { continue };
                    let open = streaming::OpenFall {
                        device_id: fall.device_id.as_deref(),
                        resident_id: Some(self.replay.resident_id),
                        opened_at: fall.opened_at,
                        details: &fall.details,
                    };
                    let canceller = streaming::Canceller {
                        device_id: &event.device_id,
                        device_kind,
                        resident_id: Some(self.replay.resident_id),
                    };
                    if !streaming::cancel_resolves(&open, &canceller, event.received_at, settings) {
                        continue;
                    }
                }
                Decision::Raise { kind, cause, .. }
                    if resolved_by_people(*kind)
                        && self.book.open(*kind, cause).is_some_and(|a| event.ts - a.opened_at > HANDLED_WITHIN) =>
                {
                    self.book.resolve_by_person(*kind, cause);
                }
                _ => {}
            }
            streaming::stamp_receipt(&mut decision, event.received_at);
            self.book.apply(&decision, Some(&event.device_id), event.ts);
        }
    }

    /// A reading, through the resident's vital-sign monitors.
    fn reading(&mut self, reading: &HistoryReading) {
        let settings = &self.replay.settings;
        let Some(threshold) = settings.thresholds.get(reading.metric) else { return };
        let late = is_late(reading.ts, reading.received_at);
        if let Some(decision) =
            self.vitals.observe(reading.metric, reading.ts, reading.value, threshold, &settings.vitals, late)
        {
            self.book.apply(&decision, Some(&reading.device_id), reading.ts);
        }
    }

    /// As the scheduler's leader: once a local day, her routine learned from
    /// the days before it (and nothing after).
    fn learn_routine(&mut self, now: DateTime<Utc>) {
        let today = now.with_timezone(&self.replay.tz).date_naive();
        if self.routine_for == Some(today) {
            return;
        }
        let seen = &self.activity[..self.activity.partition_point(|e| e.ts <= now)];
        let visits = attended_as_of(self.visits, DateTime::<Utc>::MIN_UTC, now);
        self.facts.routine = Some(routine::learn(seen, &visits, self.replay.tz, &self.replay.settings, today));
        self.routine_for = Some(today);
    }

    /// The behaviour rules at tick `k`, `previous` the tick judged before.
    fn behaviour(&mut self, k: i64, previous: Option<i64>) {
        let now = self.grid.at(k);
        let keep_from = self.facts.events.partition_point(|e| e.ts < now - LOOKBACK);
        self.facts.events.drain(..keep_from);
        // As the scheduler: someone not at home does nothing the rules could
        // judge, and what was open about them when they left is resolved.
        if !status::present_at(self.periods, now) {
            let open: Vec<(AlertKind, String)> = self
                .book
                .alerts()
                .iter()
                .filter(|a| a.is_open() && status::ABSENCE_CLEARS.contains(&a.kind))
                .map(|a| (a.kind, a.cause.clone()))
                .collect();
            let details = json!({"resident_status": status::status_at(self.periods, now)});
            for (kind, cause) in open {
                let clear = Decision::Clear {
                    kind,
                    cause,
                    at: now,
                    resolution: Resolution::AutoCleared,
                    details: details.clone(),
                };
                self.book.apply(&clear, None, now);
            }
            return;
        }
        self.facts.since = status::back_since(self.periods, now).map_or(self.since, |back| back.max(self.since));
        self.facts.activity_sensors_online =
            self.sensors.values().any(|(kind, seen)| behaviour::sees_activity(*kind, Some(*seen), None, now));
        self.learn_routine(now);
        self.facts.visits = attended_as_of(self.visits, now - LOOKBACK, now);
        for decision in behaviour::evaluate(&self.facts, now) {
            // The tick that first saw it: the first at or after its instant,
            // unless that tick was judged and did not (history the rules
            // saw late); before the window, its instant.
            let at = decision.at();
            let seen = if at < self.replay.from {
                at
            } else {
                let first = self.grid.ceil(at);
                if previous.is_some_and(|p| first <= p) { now } else { self.grid.at(first) }
            };
            self.book.apply(&decision, None, seen);
        }
    }
}

/// Replays `history` (oldest first, as [`load`] reads it) over the window;
/// `None` when `stopped` said so at one of its steps (a step is at most an
/// hour of history, so a stop is seen within milliseconds).
pub fn replay(replay: &Replay, history: &History, stopped: &dyn Fn() -> bool) -> Option<Report> {
    replay_judging(replay, history, Judging::WhenTheyCanChange, stopped)
}

/// When the replay judges the behaviour rules.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Judging {
    /// Only at the ticks where their answer can change (see below).
    WhenTheyCanChange,
    /// At every tick, as the scheduler does: what the first must match.
    #[cfg(test)]
    EveryTick,
}

fn replay_judging(replay: &Replay, history: &History, judging: Judging, stopped: &dyn Fn() -> bool) -> Option<Report> {
    let grid = Grid { from: replay.from, tick_ms: replay.tick.num_milliseconds().max(1) };
    // History from the look-back on counts, whenever the resident was
    // created: imported logs predate them.
    let since = replay.from - LOOKBACK;
    let mut state = State {
        replay,
        periods: &history.periods,
        visits: &history.visits,
        since,
        book: AlertBook::new(),
        vitals: VitalMonitor::new(),
        facts: ResidentFacts {
            tz: replay.tz,
            settings: replay.settings.clone(),
            events: Vec::new(),
            activity_sensors_online: false,
            since,
            routine: None,
            visits: Vec::new(),
        },
        sensors: HashMap::new(),
        activity: history.events.iter().filter(|e| behaviour::is_activity(&e.kind)).map(|e| e.activity()).collect(),
        routine_for: None,
        grid,
    };
    let (events, readings) = (&history.events, &history.readings);
    // The behaviour rules change their mind only when activity arrives, as
    // time passes deadlines, when a sensor falls silent, or when the
    // resident leaves or comes back. Judging at the last tick before each
    // piece of activity or change of status and at the tick that sees it, at
    // least hourly, and at the last tick before each sensor falls silent
    // finds every decision the scheduler would have found tick by tick, at
    // the tick it would have (a test holds the two to it).
    let mut relevant: Vec<DateTime<Utc>> = events
        .iter()
        .filter(|e| {
            behaviour::is_activity(&e.kind)
                || e.device_kind.is_some_and(|k| behaviour::ACTIVITY_SENSOR_KINDS.contains(&k))
        })
        .map(|e| e.ts)
        .collect();
    relevant.extend(history.periods.iter().flat_map(|p| std::iter::once(p.from).chain(p.until)));
    // A carer's check-in and check-out, and the end of the door being theirs.
    relevant.extend(history.visits.iter().flat_map(|v| {
        [Some(v.from), v.until, v.until.map(|until| until + crate::rules::presence::carer_leaving())]
            .into_iter()
            .flatten()
            .chain([v.from + LOOKBACK + Duration::milliseconds(1)])
    }));
    // The elder is out once the entrance door has been closed long enough.
    let out_after = replay.settings.presence.out_after();
    relevant.extend(
        events
            .iter()
            .filter(|e| e.kind == crate::domain::EventKind::DoorClosed && e.door.as_deref() == Some("entrance"))
            .map(|e| e.ts + out_after),
    );
    // Whether the home has a hall sensor is read from the facts' day and a
    // half: it can change when the entrance door or a motion in its room
    // leaves them.
    let entrance_rooms: Vec<&str> =
        events.iter().filter(|e| e.door.as_deref() == Some("entrance")).filter_map(|e| e.room.as_deref()).collect();
    relevant.extend(
        events
            .iter()
            .filter(|e| {
                e.door.as_deref() == Some("entrance")
                    || (e.kind == crate::domain::EventKind::Motion
                        && e.room.as_deref().is_some_and(|room| entrance_rooms.contains(&room)))
            })
            .map(|e| e.ts + LOOKBACK + Duration::milliseconds(1)),
    );
    relevant.sort_unstable();
    let per_hour = (Duration::hours(1).num_milliseconds() + state.grid.tick_ms - 1) / state.grid.tick_ms;
    let last = state.grid.ceil(replay.to) - 1;
    let (mut e, mut r, mut next_relevant) = (0, 0, 0);
    let mut previous: Option<i64> = None;
    loop {
        if stopped() {
            return None;
        }
        let min = previous.map_or(0, |p| p + 1);
        let mut k = ((min + per_hour - 1) / per_hour * per_hour).min(last);
        if judging != Judging::WhenTheyCanChange {
            k = min;
        }
        while next_relevant < relevant.len() && state.grid.ceil(relevant[next_relevant]) < min {
            next_relevant += 1;
        }
        if let Some(ts) = relevant.get(next_relevant) {
            // The last tick before it, unless judged already; then the tick that sees it.
            let first = state.grid.ceil(*ts);
            k = k.min(if first > min { first - 1 } else { first });
        }
        for (kind, seen) in state.sensors.values() {
            let silent = state.grid.floor(*seen + presence::heartbeat_timeout(*kind));
            if silent >= min {
                k = k.min(silent);
            }
        }
        let now = state.grid.at(k);
        feed(&mut state, events, readings, &mut e, &mut r, |ts| ts <= now);
        state.behaviour(k, previous);
        previous = Some(k);
        if k >= last {
            break;
        }
    }
    // What came after the last tick still meets the streaming rules.
    feed(&mut state, events, readings, &mut e, &mut r, |_| true);
    device_status(&mut state, &history.statuses);
    Some(report(replay, state.book))
}

/// The devices' changes of status, through the rule that made each one
/// live: a silence, and a return heard from, at the scheduler tick that saw
/// it; a device's own report, or a status line of an imported log, at its
/// instant. Apart from the rest: no other rule reads device status.
fn device_status(state: &mut State<'_>, changes: &[crate::domain::device::StatusChange]) {
    use crate::domain::device::StatusReason;
    for change in changes {
        let Some(decision) = crate::rules::devices::replayed(change, &state.replay.settings) else { continue };
        let by_the_scheduler = matches!(change.reason, StatusReason::HeartbeatTimeout | StatusReason::HeardFrom);
        let seen = if by_the_scheduler && change.at >= state.replay.from {
            state.grid.at(state.grid.ceil(change.at))
        } else {
            change.at
        };
        state.book.apply(&decision, Some(&change.device_id), seen);
    }
}

/// Feeds events and readings in time order while `before` holds.
fn feed<'a>(
    state: &mut State<'a>,
    events: &'a [HistoryEvent],
    readings: &[HistoryReading],
    e: &mut usize,
    r: &mut usize,
    before: impl Fn(DateTime<Utc>) -> bool,
) {
    loop {
        let event = events.get(*e).filter(|x| before(x.ts));
        let reading = readings.get(*r).filter(|x| before(x.ts));
        match (event, reading) {
            (Some(event), Some(reading)) if event.ts <= reading.ts => {
                state.event(event);
                *e += 1;
            }
            (_, Some(reading)) => {
                state.reading(reading);
                *r += 1;
            }
            (Some(event), None) => {
                state.event(event);
                *e += 1;
            }
            (None, None) => return,
        }
    }
}

fn report(replay: &Replay, book: AlertBook) -> Report {
    let alerts: Vec<ReplayedAlert> = book
        .into_alerts()
        .into_iter()
        .filter(|a| a.opened_at >= replay.from && a.opened_at < replay.to)
        .map(|a| ReplayedAlert {
            kind: a.kind,
            cause: a.cause,
            severity: a.severity,
            opened_at: a.opened_at,
            cleared_at: a.cleared_at,
            details: a.details,
        })
        .collect();
    let mut alerts = alerts;
    alerts.sort_by_key(|a| a.opened_at);
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    for alert in &alerts {
        *by_kind.entry(alert.kind.as_str().to_owned()).or_default() += 1;
    }
    let days = (replay.to - replay.from).num_milliseconds() as f64 / 86_400_000.0;
    let per_week = by_kind.iter().map(|(kind, n)| (kind.clone(), *n as f64 / (days / 7.0))).collect();
    Report { alerts, by_kind, days: number_value(days), per_week }
}

/// The report as a table, for the command line: the alerts (kind, severity,
/// opened, cleared), then the count and the rate per week of each kind.
pub fn table(report: &Report) -> String {
    use std::fmt::Write;
    let time = |t: Option<DateTime<Utc>>| t.map_or_else(|| "-".to_owned(), crate::rules::rfc3339);
    let mut out = String::new();
    let _ = writeln!(out, "{:<20} {:<9} {:<21} {:<21}", "kind", "severity", "opened_at", "cleared_at");
    for a in &report.alerts {
        let _ = writeln!(
            out,
            "{:<20} {:<9} {:<21} {:<21}",
            a.kind.as_str(),
            a.severity.as_str(),
            time(Some(a.opened_at)),
            time(a.cleared_at)
        );
    }
    let _ = writeln!(out, "\n{:<20} {:>6} {:>10}", "by_kind", "count", "per_week");
    for (kind, n) in &report.by_kind {
        let rate = report.per_week.get(kind).copied().unwrap_or(0.0);
        let _ = writeln!(out, "{kind:<20} {n:>6} {rate:>10.2}");
    }
    let _ = writeln!(out, "\n{} alerts over {} days", report.alerts.len(), report.days);
    out
}

#[cfg(test)]
mod tests {
    use chrono_tz::Asia::Shanghai;
    use serde_json::json;

    use super::*;
    use crate::domain::EventKind;

    fn ts(s: &str) -> DateTime<Utc> {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn event(at: &str, device: &str, device_kind: DeviceKind, kind: &str, room: &str) -> HistoryEvent {
        HistoryEvent {
            ts: ts(at),
            kind: EventKind::from(kind),
            room: Some(room.into()),
            door: None,
            appliance: None,
            device_id: device.into(),
            device_kind: Some(device_kind),
            data: json!({}),
            received_at: ts(at),
        }
    }

    fn motion(at: &str, room: &str) -> HistoryEvent {
        event(at, "m-1", DeviceKind::MotionSensor, "motion", room)
    }

    fn start_of_window() -> DateTime<Utc> {
        ts("2026-11-27T12:00:00+08:00")
    }

    fn heart(at: &str, value: f64) -> HistoryReading {
        HistoryReading { ts: ts(at), device_id: "w-1".into(), metric: Metric::HeartRate, value, received_at: ts(at) }
    }

    fn replayed(replay: &Replay, history: &History) -> Report {
        super::replay(replay, history, &|| false).expect("never stopped")
    }

    fn day(settings: RuleSettings) -> Replay {
        Replay {
            resident_id: Uuid::nil(),
            tz: Shanghai,
            settings: RuleSettings { meal_windows: vec![], ..settings },
            from: ts("2026-11-28T00:00:00+08:00"),
            to: ts("2026-11-29T00:00:00+08:00"),
            tick: Duration::minutes(5),
        }
    }

    #[test]
    fn behaviour_alerts_open_and_clear_at_the_scheduler_tick_that_sees_them() {
        let history = History {
            events: vec![
                motion("2026-11-28T06:50:00+08:00", "bedroom"),
                motion("2026-11-28T08:01:00+08:00", "kitchen"),
                motion("2026-11-28T11:58:00+08:00", "hall"),
                motion("2026-11-28T21:00:00+08:00", "bedroom"),
            ],
            readings: vec![],
            periods: vec![],
            statuses: vec![],
            visits: vec![],
        };
        let mut settings = RuleSettings::default();
        settings.inactivity.hours = 3.0;
        let report = replayed(&day(settings), &history);
        let got: Vec<_> = report.alerts.iter().map(|a| (a.kind, a.cause.as_str(), a.opened_at, a.cleared_at)).collect();
        assert_eq!(
            got,
            vec![
                // Due at 11:01; judged at the 11:05 tick; cleared by 11:58's motion at the 12:00 tick.
                (
                    AlertKind::Inactivity,
                    "inactivity:2026-11-28T00:01:00Z",
                    ts("2026-11-28T11:05:00+08:00"),
                    Some(ts("2026-11-28T12:00:00+08:00"))
                ),
                (
                    AlertKind::Inactivity,
                    "inactivity:2026-11-28T03:58:00Z",
                    ts("2026-11-28T15:00:00+08:00"),
                    Some(ts("2026-11-28T21:00:00+08:00"))
                ),
            ]
        );
        assert_eq!(report.by_kind.get("inactivity"), Some(&2));
        assert_eq!(report.days, json!(1));
        assert_eq!(report.per_week.get("inactivity"), Some(&14.0));
        // Same history, same answer; and the table names them.
        assert_eq!(replayed(&day(RuleSettings::default()), &history), report);
        assert!(table(&report).contains("inactivity"));
    }

    #[test]
    fn vitals_and_alarms_open_at_their_own_time() {
        let mut history = History::default();
        for (minute, value) in [(0, 70.0), (1, 150.0), (3, 150.0), (7, 150.0), (8, 70.0), (14, 70.0), (19, 70.0)] {
            history.readings.push(heart(&format!("2026-11-28T14:{minute:02}:00+08:00"), value));
        }
        history.events = vec![
            motion("2026-11-28T06:50:00+08:00", "bedroom"),
            event("2026-11-28T10:00:00+08:00", "w-1", DeviceKind::Wearable, "sos_pressed", "bedroom"),
            event("2026-11-28T10:20:00+08:00", "w-1", DeviceKind::Wearable, "sos_pressed", "bedroom"),
            event("2026-11-28T12:00:00+08:00", "w-1", DeviceKind::Wearable, "sos_pressed", "bedroom"),
        ];
        let mut settings = RuleSettings::default();
        settings.inactivity.hours = 24.0;
        let report = replayed(&day(settings), &history);
        let got: Vec<_> = report.alerts.iter().map(|a| (a.kind, a.opened_at, a.cleared_at)).collect();
        assert_eq!(
            got,
            vec![
                // A press 20 minutes later is the same alarm; two hours later, a new one.
                (AlertKind::Sos, ts("2026-11-28T10:00:00+08:00"), None),
                (AlertKind::Sos, ts("2026-11-28T12:00:00+08:00"), None),
                // Out from 14:01 for 5 minutes by 14:07; clear after 10 minutes in range.
                (AlertKind::VitalAbnormal, ts("2026-11-28T14:07:00+08:00"), Some(ts("2026-11-28T14:19:00+08:00"))),
            ]
        );
    }

    #[test]
    fn nothing_is_judged_while_the_resident_is_away_but_alarms_count() {
        let away = |from: &str, until: &str| crate::domain::status::Period {
            status: status::ResidentStatus::Away,
            from: ts(from),
            until: Some(ts(until)),
            note: None,
            recorded_at: ts(from),
            encounter_id: None,
        };
        let mut history = History {
            events: vec![
                motion("2026-11-27T21:00:00+08:00", "bedroom"),
                motion("2026-11-28T06:50:00+08:00", "bedroom"),
                event("2026-11-28T12:00:00+08:00", "w-1", DeviceKind::Wearable, "sos_pressed", "bedroom"),
            ],
            readings: vec![],
            periods: vec![],
            statuses: vec![],
            visits: vec![],
        };
        let mut settings = RuleSettings::default();
        settings.inactivity.hours = 3.0;
        let kinds =
            |report: &Report| -> Vec<_> { report.alerts.iter().map(|a| (a.kind, a.opened_at, a.cleared_at)).collect() };

        let at_home = replayed(&day(settings.clone()), &history);
        // Away from nine until eight in the evening; then leaving at 10:02.
        let whole = History {
            periods: vec![away("2026-11-28T09:00:00+08:00", "2026-11-28T20:00:00+08:00")],
            ..history.clone()
        };
        let away_all_day = replayed(&day(settings.clone()), &whole);
        history.periods = vec![away("2026-11-28T10:02:00+08:00", "2026-11-28T20:00:00+08:00")];
        let left_later = replayed(&day(settings), &history);
        let (ten, noon, five_past_ten) =
            (ts("2026-11-28T10:00:00+08:00"), ts("2026-11-28T12:00:00+08:00"), ts("2026-11-28T10:05:00+08:00"));
        assert_eq!(
            kinds(&at_home),
            vec![
                (AlertKind::Inactivity, ten, Some(noon)),
                (AlertKind::NoMorningActivity, ten, Some(noon)),
                (AlertKind::Sos, noon, None),
                (AlertKind::Inactivity, ts("2026-11-28T15:00:00+08:00"), None),
            ]
        );
        assert_eq!(kinds(&away_all_day), vec![(AlertKind::Sos, noon, None)], "the SOS counts while away");
        // What was open when they left is resolved at the tick that sees them gone.
        assert_eq!(
            kinds(&left_later),
            vec![
                (AlertKind::Inactivity, ten, Some(five_past_ten)),
                (AlertKind::NoMorningActivity, ten, Some(five_past_ten)),
                (AlertKind::Sos, noon, None),
            ]
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Judging only where the answer can change finds what judging at
        /// every tick finds, at the same ticks.
        #[test]
        fn judging_when_rules_can_change_is_judging_every_tick(
            events in proptest::collection::vec((0i64..(60 * 60), 0usize..8, 0usize..4), 0..60),
            hours in 1u32..6,
            tick_minutes in 1i64..16,
            away in proptest::option::of((0i64..(36 * 60), 1i64..(12 * 60), proptest::bool::ANY)),
            visits in proptest::collection::vec((0i64..(60 * 60), proptest::option::of(1i64..(6 * 60))), 0..4),
        ) {
            let start = ts("2026-11-27T00:00:00+08:00");
            let kinds = ["motion", "motion", "door_opened", "door_closed", "bed_exit", "bed_enter", "motion", "sos_pressed"];
            let rooms = ["kitchen", "hall", "bedroom", "living_room"];
            let history = History {
                events: {
                    let mut events: Vec<HistoryEvent> = events
                        .into_iter()
                        .map(|(minute, kind, room)| {
                            let mut e = motion("2026-11-27T00:00:00+08:00", rooms[room]);
                            e.ts = start + Duration::minutes(minute);
                            e.received_at = e.ts;
                            e.kind = EventKind::from(kinds[kind]);
                            if kinds[kind].starts_with("door") {
                                e.door = Some("entrance".into());
                                e.device_kind = Some(DeviceKind::DoorSensor);
                            }
                            e
                        })
                        .collect();
                    events.sort_by_key(|e| e.ts);
                    events
                },
                readings: vec![],
                // Away for a while (with an end, or until marked active).
                periods: away.map_or_else(Vec::new, |(start, minutes, ends)| {
                    let period = |status, from: DateTime<Utc>, until| crate::domain::status::Period {
                        status,
                        from,
                        until,
                        note: None,
                        recorded_at: from,
                        encounter_id: None,
                    };
                    let from = start_of_window() + Duration::minutes(start);
                    let back = from + Duration::minutes(minutes);
                    if ends {
                        vec![period(status::ResidentStatus::Away, from, Some(back))]
                    } else {
                        vec![
                            period(status::ResidentStatus::InHospital, from, None),
                            period(status::ResidentStatus::Active, back, None),
                        ]
                    }
                }),
                statuses: vec![],
                // Carers' visits, some never checked out.
                visits: {
                    let mut visits: Vec<Attended> = visits
                        .into_iter()
                        .map(|(minute, length)| {
                            let from = start + Duration::minutes(minute);
                            Attended { from, until: length.map(|m| from + Duration::minutes(m)) }
                        })
                        .collect();
                    visits.sort_by_key(|v| v.from);
                    visits
                },
            };
            let mut settings = RuleSettings::default();
            settings.inactivity.hours = f64::from(hours);
            let replay = Replay {
                tick: Duration::minutes(tick_minutes),
                from: ts("2026-11-28T00:00:00+08:00"),
                to: ts("2026-11-29T12:00:00+08:00"),
                ..day(settings)
            };
            let sparse = replay_judging(&replay, &history, Judging::WhenTheyCanChange, &|| false);
            let dense = replay_judging(&replay, &history, Judging::EveryTick, &|| false);
            proptest::prop_assert_eq!(sparse, dense);
        }
    }

    #[test]
    fn a_status_history_opens_and_clears_device_offline_when_the_live_system_did() {
        use crate::domain::device::{StatusChange, StatusReason};
        let change = |device: &str, at: &str, online: bool, reason: StatusReason| StatusChange {
            device_id: device.into(),
            device_kind: DeviceKind::MotionSensor,
            at: ts(at),
            online,
            reason,
        };
        let history = History {
            statuses: vec![
                // Offline since before the window, back within it: opened
                // before the window, so not reported.
                change("m-old", "2026-11-27T20:00:00+08:00", false, StatusReason::Reported),
                change("m-old", "2026-11-28T07:00:00+08:00", true, StatusReason::Reported),
                // Silent past its 26 hours: the scheduler's next tick saw it.
                change("m-1", "2026-11-28T10:03:00+08:00", false, StatusReason::HeartbeatTimeout),
                change("m-1", "2026-11-28T18:00:30+08:00", true, StatusReason::HeardFrom),
                // An imported log's OFFLINE, never back within the window.
                change("m-2", "2026-11-28T13:30:00+08:00", false, StatusReason::Imported),
            ],
            ..History::default()
        };
        let report = replayed(&day(RuleSettings::default()), &history);
        let got: Vec<_> =
            report.alerts.iter().map(|a| (a.kind, a.cause.as_str(), a.severity, a.opened_at, a.cleared_at)).collect();
        assert_eq!(
            got,
            vec![
                (
                    AlertKind::DeviceOffline,
                    "m-1",
                    Severity::Medium,
                    ts("2026-11-28T10:05:00+08:00"),
                    Some(ts("2026-11-28T18:05:00+08:00"))
                ),
                (AlertKind::DeviceOffline, "m-2", Severity::Medium, ts("2026-11-28T13:30:00+08:00"), None),
            ]
        );
        // The details the live rule gives: silent since 26 hours before.
        assert_eq!(
            report.alerts[0].details,
            json!({"device_id": "m-1", "device_kind": "motion_sensor", "last_seen_at": "2026-11-27T00:03:00Z",
                   "timeout_minutes": 1560, "battery": null, "reason": "silent"})
        );
        assert_eq!(report.alerts[1].details["reason"], "reported_offline");
        assert_eq!(report.by_kind.get("device_offline"), Some(&2));
    }

    #[test]
    fn a_replay_stops_at_the_step_after_it_is_told_to() {
        // A week of motion every ten minutes: hundreds of steps.
        let start = ts("2026-11-27T00:00:00+08:00");
        let events = (0..7 * 24 * 6).map(|i| {
            let mut e = motion("2026-11-27T00:00:00+08:00", "kitchen");
            e.ts = start + Duration::minutes(10 * i);
            e.received_at = e.ts;
            e
        });
        let history =
            History { events: events.collect(), readings: vec![], periods: vec![], statuses: vec![], visits: vec![] };
        let week = Replay { to: ts("2026-12-04T00:00:00+08:00"), ..day(RuleSettings::default()) };
        let steps = std::cell::Cell::new(0u32);
        let counted = || {
            steps.set(steps.get() + 1);
            false
        };
        assert!(replay(&week, &history, &counted).is_some());
        let all = steps.get();
        assert!(all > 100, "only {all} steps");

        steps.set(0);
        let stop_at_third = || {
            steps.set(steps.get() + 1);
            steps.get() >= 3
        };
        assert_eq!(replay(&week, &history, &stop_at_third), None, "a stopped replay answers nothing");
        assert_eq!(steps.get(), 3, "asked once a step, and no step after the stop");
        assert_eq!(replay(&week, &history, &|| true), None, "stopped before it started");
    }

    #[test]
    fn requests_are_checked_like_the_settings_endpoints() {
        let request = |body: Value| serde_json::from_value::<Request>(body).expect("a request");
        let window = json!({"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"});
        assert!(request(window.clone()).check_window().is_ok());
        let backwards = request(json!({"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}));
        assert_eq!(backwards.check_window().map_err(|e| e.field), Err("to".into()));
        let long = request(json!({"from": "2025-01-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}));
        assert!(long.check_window().is_err());

        let effective = RuleSettings { away: true, ..RuleSettings::default() };
        let mut body = window;
        body["settings"] = json!({"inactivity": {"hours": 2}});
        body["meal_windows"] = json!([{"meal": "lunch", "start": "11:00", "end": "12:00"}]);
        body["thresholds"] = json!({"spo2": {"min": 88}});
        let settings = request(body.clone()).settings_over(&effective).expect("valid");
        assert!(!settings.away, "history is replayed at home");
        assert_eq!(settings.inactivity.hours, 2.0);
        assert_eq!(settings.meal_windows.len(), 1);
        assert_eq!(settings.thresholds.get(Metric::Spo2).and_then(|t| t.min), Some(88.0));
        assert!(settings.thresholds.get(Metric::HeartRate).is_some(), "other thresholds stay");
        body["settings"] = json!({"inactivity": {"hours": 0}});
        let err = request(body).settings_over(&effective).map_err(|e| e.field);
        assert_eq!(err, Err("inactivity.hours".into()));
    }
}
