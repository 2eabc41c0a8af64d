//! Scheduled rules about what did (or did not) happen: missed meals,
//! inactivity, no morning activity, night wandering, bed exit with no return.
//!
//! [`evaluate`] is re-run every few seconds by the scheduler's leader over
//! facts loaded from the database, so it keeps no state: the same facts and
//! clock give the same decisions, with the same causes after a restart, and
//! windows that ended while no scheduler ran are still judged for a day.
//! Every `at` comes from the facts (a window's end, the instant a timeout ran
//! out, the event that ended an episode), never from `now`.
//!
//! Windows are in the resident's local time. A local time skipped by a DST
//! change maps to the first instant after the gap; a repeated one to the
//! earlier of its two instants.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::json;

use super::presence::{self as home, NoHall, Period, Presence};
use super::routine::Routine;
use super::{Decision, rfc3339};
use crate::domain::activity::{ActivityEvent, Attended, ROUTINE_EVENTS};
use crate::domain::presence;
use crate::domain::settings::{RuleSettings, TimeWindow, number_value};
use crate::domain::{AlertKind, DeviceKind, EventKind, Resolution, Severity};

/// What the scheduler knows of one resident.
#[derive(Debug, Clone)]
pub struct ResidentFacts {
    pub tz: Tz,
    pub settings: RuleSettings,
    /// Activity-relevant events of the last ~36 h, oldest first. Include the
    /// latest activity event even when it is older, or a resident quiet for
    /// longer than that has their inactivity counted from `since`.
    pub events: Vec<ActivityEvent>,
    /// Whether the resident's activity sensors (motion/door/bed) are online now; no inactivity alerts when none is.
    pub activity_sensors_online: bool,
    /// When the resident was created; no alert for windows before that.
    /// Pass the later of that and the moment away mode was last switched
    /// off, so a resident back from a weekend away is not alerted for the
    /// meals they ate elsewhere.
    pub since: DateTime<Utc>,
    /// Her routine, learned from the days before today (`rules::routine`);
    /// used once it holds a week and `routine.learn` is on.
    pub routine: Option<Routine>,
    /// Carers' visits of the same ~36 h (EVV check-ins and check-outs),
    /// oldest first: a carer at her door saw her at home.
    pub visits: Vec<Attended>,
}

/// An SOS or a fall counts as activity too: someone is with them or knows.
pub const ALARM_EVENTS: &[EventKind] = &[EventKind::SosPressed, EventKind::FallDetected, EventKind::FallCancelled];

/// Whether an event shows the resident active: the behaviour rules' one
/// definition of activity.
pub fn is_activity(kind: &EventKind) -> bool {
    ROUTINE_EVENTS.contains(kind) || ALARM_EVENTS.contains(kind)
}

/// Every kind of event [`is_activity`] counts, for loading them.
pub fn activity_kinds() -> Vec<EventKind> {
    ROUTINE_EVENTS.iter().chain(ALARM_EVENTS).cloned().collect()
}

/// The devices that see a resident move about.
pub const ACTIVITY_SENSOR_KINDS: &[DeviceKind] =
    &[DeviceKind::MotionSensor, DeviceKind::DoorSensor, DeviceKind::BedSensor];

/// Whether a device could see the resident move at `now`: an activity
/// sensor that is online. Inactivity is only judged while one could: a
/// silent sensor is a device problem, not a person problem.
pub fn sees_activity(
    kind: DeviceKind,
    last_seen_at: Option<DateTime<Utc>>,
    reported_online: Option<bool>,
    now: DateTime<Utc>,
) -> bool {
    ACTIVITY_SENSOR_KINDS.contains(&kind) && presence::online(kind, last_seen_at, reported_online, now) == Some(true)
}

const KITCHEN_APPLIANCES: &[&str] = &["kettle", "stove", "microwave"];

/// How long after a window ended it is still judged: covers a scheduler that
/// was down for up to a day without alerting on stale history forever.
fn lookback() -> Duration {
    Duration::hours(24)
}

/// Kitchen motion this far apart is someone spending time there, not a walk-through.
fn kitchen_stay() -> Duration {
    Duration::minutes(3)
}

/// Bounds the search for when inactivity ran out, whatever `since` says.
const MAX_DAYS_SCANNED: usize = 10_000;

impl ActivityEvent {
    fn is_activity(&self) -> bool {
        is_activity(&self.kind)
    }

    fn is(&self, kind: EventKind) -> bool {
        self.kind == kind
    }

    fn is_entrance(&self) -> bool {
        self.door.as_deref() == Some("entrance")
    }
}

struct Context<'a> {
    facts: &'a ResidentFacts,
    now: DateTime<Utc>,
    /// The facts' events up to `now`, in time order.
    events: Vec<&'a ActivityEvent>,
    /// Whether the elder was in, out or unsure, over the facts' events.
    presence: Vec<Period>,
    /// Her learned routine, when the rules use one.
    routine: Option<&'a Routine>,
    /// Whether a motion sensor watches the entrance door's room.
    hall_sensor: bool,
}

impl Context<'_> {
    fn tz(&self) -> Tz {
        self.facts.tz
    }

    fn settings(&self) -> &RuleSettings {
        &self.facts.settings
    }

    /// Whether an episode that became due at `due` is judged now: not before
    /// it is due, not once it is older than the look-back.
    fn judged(&self, due: DateTime<Utc>) -> bool {
        due <= self.now && due > self.now - lookback()
    }

    fn local(&self, ts: DateTime<Utc>) -> String {
        ts.with_timezone(&self.tz()).to_rfc3339_opts(SecondsFormat::AutoSi, false)
    }

    fn local_date(&self, ts: DateTime<Utc>) -> NaiveDate {
        ts.with_timezone(&self.tz()).date_naive()
    }

    /// Whether the elder is out at `ts`, as far as the sensors can tell
    /// (`unsure` is not out: nothing is suppressed then).
    fn out_at(&self, ts: DateTime<Utc>) -> bool {
        home::at(&self.presence, ts).is_some_and(|p| p.presence == Presence::Out)
    }

    /// Whether a meal window was eaten out (see [`home::ate_out`]).
    fn ate_out(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        home::ate_out(&self.presence, self.settings().presence.eating_out, start, end, self.now)
    }

    /// Whether `ts` falls inside `window` on any local day.
    fn in_window(&self, window: &TimeWindow, ts: DateTime<Utc>) -> bool {
        let date = self.local_date(ts);
        [date.pred_opt(), Some(date)].into_iter().flatten().any(|day| {
            let (start, end) = window_on(self.tz(), window, day);
            start <= ts && ts < end
        })
    }
}

/// All behaviour decisions for one resident at `now`. While the resident is
/// away, no `Raise` comes out; `Clear`s still do, since an episode that ends
/// is over whoever is home.
pub fn evaluate(facts: &ResidentFacts, now: DateTime<Utc>) -> Vec<Decision> {
    judge(facts, now).0
}

/// [`evaluate`], with the presence periods the decisions were judged on
/// (what the scheduler records).
pub fn judge(facts: &ResidentFacts, now: DateTime<Utc>) -> (Vec<Decision>, Vec<Period>) {
    let mut events: Vec<&ActivityEvent> = facts.events.iter().filter(|e| e.ts <= now).collect();
    events.sort_by_key(|e| e.ts);
    let routine = learned(facts);
    let hall_sensor = home::hall_sensor(&events);
    let judged = home::Judged {
        visits: &facts.visits,
        out_after: facts.settings.presence.out_after(),
        hall_sensor,
        no_hall: no_hall(facts),
    };
    let presence = home::periods(&events, judged, now);
    let ctx = Context { facts, now, events, presence, routine, hall_sensor };
    let mut decisions = Vec::new();
    missed_meals(&ctx, &mut decisions);
    not_returned(&ctx, &mut decisions);
    presence_check(&ctx, &mut decisions);
    inactivity(&ctx, &mut decisions);
    no_morning_activity(&ctx, &mut decisions);
    night_wandering(&ctx, &mut decisions);
    bed_exit_no_return(&ctx, &mut decisions);
    if facts.settings.away {
        decisions.retain(|d| !d.is_raise());
    }
    (decisions, ctx.presence)
}

/// The routine the rules use for these facts: learned from a week at least,
/// with `routine.learn` on.
fn learned(facts: &ResidentFacts) -> Option<&Routine> {
    facts.routine.as_ref().filter(|r| facts.settings.routine.learn && r.usable())
}

/// How a home without a hall sensor is read with these facts: out at the
/// times she usually goes out, once a routine is learned.
pub fn no_hall(facts: &ResidentFacts) -> NoHall<'_> {
    learned(facts).map_or(NoHall::Unsure, |routine| NoHall::Usual(routine, facts.tz))
}

/// How long a quiet spell from `from` may last before inactivity is raised:
/// `inactivity.hours`, or, with a learned routine, her own usual longest
/// quiet spell beginning around that hour of the day plus
/// `routine.inactivity_margin_minutes`, never below
/// `routine.inactivity_floor_hours` and never above `inactivity.hours`. An
/// hour with nothing learned keeps the setting, and so does a spell that
/// began `unseen`: with her in bed (a lie-in or a nap in bed is not the
/// quiet of someone up and about, and "no morning activity" watches the
/// morning) or unsure whether she is home at all.
pub fn inactivity_limit(
    settings: &RuleSettings,
    routine: Option<&Routine>,
    tz: Tz,
    from: DateTime<Utc>,
    unseen: bool,
) -> Duration {
    let max = settings.inactivity.duration();
    let Some(routine) = routine.filter(|_| !unseen) else { return max };
    let floor = settings.routine.inactivity_floor().min(max);
    match routine.usual_quiet_from(chrono::Timelike::hour(&from.with_timezone(&tz))) {
        Some(usual) => (usual + settings.routine.inactivity_margin()).clamp(floor, max),
        None => max,
    }
}

/// The instant a local wall-clock time happens in `tz`: the first instant
/// after the gap for a time skipped by DST, the earlier instant for a time
/// that happens twice.
pub fn local_instant(tz: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let local = date.and_time(time);
    match tz.from_local_datetime(&local).earliest() {
        Some(instant) => instant.with_timezone(&Utc),
        None => end_of_gap(tz, local),
    }
}

/// The first instant whose local time is past `local`, which sits in a gap:
/// that is the instant the clocks jumped. UTC offsets lie within ±15 h, so it
/// is bracketed by `local` read as UTC ± 15 h; bisect on whole seconds.
fn end_of_gap(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let base = local.and_utc().timestamp();
    let past =
        |secs: i64| DateTime::from_timestamp(secs, 0).is_some_and(|u| u.with_timezone(&tz).naive_local() > local);
    let (mut lo, mut hi) = (base - 15 * 3600, base + 15 * 3600);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if past(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0).unwrap_or_else(|| local.and_utc())
}

/// The instants a daily window starts and ends when it starts on local `date`.
pub fn window_on(tz: Tz, window: &TimeWindow, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = local_instant(tz, date, window.start.time());
    let end_date = if window.crosses_midnight() { date.succ_opt().unwrap_or(date) } else { date };
    (start, local_instant(tz, end_date, window.end.time()))
}

/// Local dates from `days_back` days before `date` up to `date`.
fn dates_back(date: NaiveDate, days_back: usize) -> Vec<NaiveDate> {
    let mut dates: Vec<_> = std::iter::successors(Some(date), |d| d.pred_opt()).take(days_back + 1).collect();
    dates.reverse();
    dates
}

fn missed_meals(ctx: &Context<'_>, out: &mut Vec<Decision>) {
    // A window that ended within the look-back started at most two local dates ago.
    for date in dates_back(ctx.local_date(ctx.now), 2) {
        for meal in &ctx.settings().meal_windows {
            let judged = meal_window(ctx.settings(), ctx.routine, ctx.tz(), &ctx.events, meal, date);
            let (start, end) = (judged.start, judged.end);
            if !ctx.judged(end)
                || start < ctx.facts.since
                || had_meal(&ctx.events, start, end)
                || judged.her_own_sign(&ctx.events).is_some()
                || ctx.ate_out(start, end)
            {
                continue;
            }
            out.push(Decision::Raise {
                kind: AlertKind::MissedMeal,
                cause: missed_meal_cause(&meal.meal, date),
                severity: Severity::Medium,
                at: end,
                details: json!({
                    "meal": meal.meal,
                    "window_start": rfc3339(start),
                    "window_end": rfc3339(end),
                    "local_start": ctx.local(start),
                    "local_end": ctx.local(end),
                    "timezone": ctx.tz().name(),
                }),
            });
        }
    }
}

/// One meal window as judged on a local date.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JudgedMeal {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Around her usual time for the meal (learned): a visit to the kitchen
    /// there is her meal, however short (cold food takes a minute).
    pub usual: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl JudgedMeal {
    /// Her own sign of the meal: kitchen motion around her usual time.
    pub fn her_own_sign<'a>(&self, events: &[&'a ActivityEvent]) -> Option<&'a ActivityEvent> {
        let (from, until) = self.usual?;
        events
            .iter()
            .copied()
            .find(|e| e.ts >= from && e.ts <= until && e.is(EventKind::Motion) && e.room.as_deref() == Some("kitchen"))
    }
}

/// How far around her usual meal time a kitchen visit is her meal.
fn usual_meal_slack() -> Duration {
    Duration::hours(1)
}

/// A late rising moves breakfast by as much, up to this.
fn most_breakfast_delay() -> Duration {
    Duration::hours(3)
}

/// The meal window judged on local `date`: the settings' window, or, with a
/// learned routine and windows nobody set by hand, the same width centred
/// on her usual time for the meal; breakfast's end moves by as much as she
/// rose later than usually that day.
pub fn meal_window(
    settings: &RuleSettings,
    routine: Option<&Routine>,
    tz: Tz,
    events: &[&ActivityEvent],
    meal: &crate::domain::settings::MealWindow,
    date: NaiveDate,
) -> JudgedMeal {
    let (mut start, mut end) = window_on(tz, &meal.window, date);
    let Some(routine) = routine else { return JudgedMeal { start, end, usual: None } };
    let usual_time = routine.usual_meal(&meal.meal);
    if let Some(usual) = usual_time.filter(|_| !settings.meal_windows_set) {
        let centre = local_instant(tz, date, usual);
        let half = (end - start) / 2;
        if local_date_of(tz, centre - half) == date && local_date_of(tz, centre + half) == date {
            (start, end) = (centre - half, centre + half);
        }
    }
    let delay = if meal.meal == "breakfast" { late_rising(routine, tz, events, date) } else { Duration::zero() };
    end += delay;
    let usual = usual_time.map(|usual| {
        let at = local_instant(tz, date, usual) + delay;
        ((at - usual_meal_slack()).max(start), (at + usual_meal_slack()).min(end))
    });
    JudgedMeal { start, end, usual }
}

fn local_date_of(tz: Tz, ts: DateTime<Utc>) -> NaiveDate {
    ts.with_timezone(&tz).date_naive()
}

/// How much later than her usual rising she rose on local `date` (her first
/// activity from 04:00, as the routine counts it), up to three hours.
fn late_rising(routine: &Routine, tz: Tz, events: &[&ActivityEvent], date: NaiveDate) -> Duration {
    let Some(usual) = routine.rising else { return Duration::zero() };
    let Some(rose) = rose_at(events, tz, date) else { return Duration::zero() };
    (rose - local_instant(tz, date, usual.time())).clamp(Duration::zero(), most_breakfast_delay())
}

/// When she got up for the day on local `date`: the first time from 04:00
/// she left her bed and did not go back to it within the hour (a trip to
/// the bathroom is not rising); without a bed sensor, her first activity
/// from 04:00. `events` oldest first.
pub fn rose_at(events: &[&ActivityEvent], tz: Tz, date: NaiveDate) -> Option<DateTime<Utc>> {
    let from = local_instant(tz, date, NaiveTime::from_hms_opt(4, 0, 0).expect("04:00"));
    let day: Vec<&ActivityEvent> =
        events.iter().copied().filter(|e| e.ts >= from && local_date_of(tz, e.ts) == date).collect();
    let bed = |e: &&ActivityEvent| e.is(EventKind::BedExit) || e.is(EventKind::BedEnter);
    if !events.iter().any(bed) {
        return day.iter().find(|e| e.is_activity()).map(|e| e.ts);
    }
    day.iter()
        .enumerate()
        .filter(|(_, e)| e.is(EventKind::BedExit))
        .find(|(i, exit)| {
            !day[i + 1..].iter().any(|e| e.is(EventKind::BedEnter) && e.ts - exit.ts <= Duration::hours(1))
        })
        .map(|(_, e)| e.ts)
}

/// The cause of the missed-meal alert of one meal window on a local date.
pub fn missed_meal_cause(meal: &str, date: NaiveDate) -> String {
    format!("{meal}:{date}")
}

/// Evidence of a meal inside `[start, end]`: the meal service or a smart tray,
/// a kitchen appliance, the fridge door, or time spent in the kitchen.
fn had_meal(events: &[&ActivityEvent], start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
    meal_evidence(events.iter().copied(), start, end).is_some()
}

/// The first sign of a meal in `[start, end]`: the meal service, a kitchen
/// appliance, the fridge door, or a stay in the kitchen (for a stay, its first
/// motion). Shared with the family summary, so it never calls a meal taken
/// that this rule would report missed.
pub fn meal_evidence<'a>(
    events: impl IntoIterator<Item = &'a ActivityEvent>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Option<&'a ActivityEvent> {
    let mut kitchen_first: Option<&ActivityEvent> = None;
    for event in events.into_iter().filter(|e| e.ts >= start && e.ts <= end) {
        let in_kitchen = event.room.as_deref() == Some("kitchen");
        let evidence = match event.kind {
            EventKind::MealServed | EventKind::MealEaten => Some(event),
            EventKind::ApplianceOn
                if in_kitchen || event.appliance.as_deref().is_some_and(|a| KITCHEN_APPLIANCES.contains(&a)) =>
            {
                Some(event)
            }
            EventKind::DoorOpened if event.door.as_deref() == Some("fridge") => Some(event),
            EventKind::Motion if in_kitchen => {
                let first = *kitchen_first.get_or_insert(event);
                (event.ts - first.ts >= kitchen_stay()).then_some(first)
            }
            _ => None,
        };
        if evidence.is_some() {
            return evidence;
        }
    }
    None
}

/// The instant `needed` of waking time has passed since `from`, if that is
/// no later than `limit`. Time outside waking hours does not count: a
/// resident quiet from 21:00 with waking hours ending at 22:00 has used one
/// hour, and the clock resumes when waking hours start again.
fn waking_deadline(
    tz: Tz,
    waking: &TimeWindow,
    from: DateTime<Utc>,
    needed: Duration,
    limit: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let first_day = from.with_timezone(&tz).date_naive().pred_opt()?;
    let mut remaining = needed;
    for day in first_day.iter_days().take(MAX_DAYS_SCANNED) {
        let (start, end) = window_on(tz, waking, day);
        if start > limit {
            return None;
        }
        let start = start.max(from);
        if end <= start {
            continue;
        }
        if end - start >= remaining {
            let due = start + remaining;
            return (due <= limit).then_some(due);
        }
        remaining -= end - start;
    }
    None
}

/// Raises for the current quiet spell; clears each earlier spell (between two
/// activity events in the facts) that was long enough to have raised, at the
/// activity that ended it. The caller may also resolve any open inactivity
/// alert whose cause is neither the current one nor cleared here: its
/// episode ended before the facts begin.
fn inactivity(ctx: &Context<'_>, out: &mut Vec<Decision>) {
    let settings = ctx.settings();
    let waking = &settings.waking_hours;
    let activity: Vec<&ActivityEvent> = ctx.events.iter().copied().filter(|e| e.is_activity()).collect();
    let quiet_from = |last: Option<DateTime<Utc>>| last.map_or(ctx.facts.since, |ts| ts.max(ctx.facts.since));
    // Whether she was in bed at `ts`: the bed sensor's last word before it.
    let in_bed = |ts: DateTime<Utc>| {
        activity
            .iter()
            .rev()
            .filter(|e| e.ts <= ts)
            .find(|e| e.is(EventKind::BedEnter) || e.is(EventKind::BedExit))
            .is_some_and(|e| e.is(EventKind::BedEnter))
    };
    // Her own limit is for her seen at home and up: in bed, or unsure
    // whether she is home (a door closed, nobody seen since), the setting's.
    let seen_home = |ts: DateTime<Utc>| home::at(&ctx.presence, ts).is_some_and(|p| p.presence == Presence::In);
    let limit = |from| inactivity_limit(settings, ctx.routine, ctx.tz(), from, in_bed(from) || !seen_home(from));

    for pair in activity.windows(2) {
        let (before, after) = (pair[0], pair[1]);
        let from = quiet_from(Some(before.ts));
        if after.ts - from < settings.routine.inactivity_floor().min(settings.inactivity.duration()) {
            continue;
        }
        let needed = limit(from);
        // Waking time never exceeds wall time: most gaps are ruled out without timezone work.
        if after.ts - from >= needed && waking_deadline(ctx.tz(), waking, from, needed, after.ts).is_some() {
            out.push(Decision::Clear {
                kind: AlertKind::Inactivity,
                cause: format!("inactivity:{}", rfc3339(from)),
                at: after.ts,
                resolution: Resolution::AutoCleared,
                details: json!({"last_activity": rfc3339(from), "activity_at": rfc3339(after.ts),
                                "activity": after.kind, "room": after.room}),
            });
        }
    }

    // Out of the house is not a quiet spell at home (`unsure` is).
    if !ctx.facts.activity_sensors_online || ctx.out_at(ctx.now) {
        return;
    }
    let last = activity.last();
    let from = quiet_from(last.map(|e| e.ts));
    let needed = limit(from);
    if let Some(due) = waking_deadline(ctx.tz(), waking, from, needed, ctx.now) {
        out.push(Decision::Raise {
            kind: AlertKind::Inactivity,
            cause: format!("inactivity:{}", rfc3339(from)),
            severity: Severity::High,
            at: due,
            details: json!({
                "last_activity": rfc3339(from),
                "last_activity_kind": last.map(|e| &e.kind),
                "last_activity_room": last.and_then(|e| e.room.as_deref()),
                "hours": number_value(needed.num_seconds() as f64 / 3600.0),
                "learned": needed < settings.inactivity.duration(),
                "waking_hours": waking,
                "timezone": ctx.tz().name(),
            }),
        });
    }
}

/// Out of the house and not back by the evening's bound (`presence.return_by`
/// local time, on the day she went out; at once if she went out after it),
/// or by her own latest usual return plus `routine.return_margin_hours` if
/// she went out before that return and it comes first. Raised at the bound,
/// cleared when she comes back in. A night-time exit is night wandering's
/// business, and a status away (a weekend at her daughter's) suppresses it
/// like every behaviour rule.
fn not_returned(ctx: &Context<'_>, out: &mut Vec<Decision>) {
    let settings = &ctx.settings().presence;
    for period in ctx.presence.iter().filter(|p| p.presence == Presence::Out) {
        let date = ctx.local_date(period.from);
        let mut bound = local_instant(ctx.tz(), date, settings.return_by.time());
        // Her own latest usual return plus the margin, when she went out before it.
        if let Some(latest) = ctx.routine.and_then(|r| r.outings.latest_return) {
            let learned = local_instant(ctx.tz(), date, latest.time());
            if period.from < learned {
                bound = bound.min(learned + ctx.settings().routine.return_margin());
            }
        }
        let details = json!({"out_since": rfc3339(period.from), "local_out_since": ctx.local(period.from),
                             "return_by": rfc3339(bound), "local_return_by": ctx.local(bound),
                             "timezone": ctx.tz().name()});
        period_alert(ctx, out, period, AlertKind::NotReturned, Severity::High, bound.max(period.from), details);
    }
}

/// The alert of a presence period still going on at `due`: raised then,
/// cleared when the period ends, its cause the kind and the period's start.
/// Nothing for a period begun before the facts count, judged past the
/// look-back, or begun at night (night wandering's business).
fn period_alert(
    ctx: &Context<'_>,
    out: &mut Vec<Decision>,
    period: &Period,
    kind: AlertKind,
    severity: Severity,
    due: DateTime<Utc>,
    details: serde_json::Value,
) {
    if period.until.is_some_and(|back| back <= due)
        || !ctx.judged(due)
        || period.from < ctx.facts.since
        || ctx.in_window(&ctx.settings().night, period.from)
    {
        return;
    }
    let cause = format!("{}:{}", kind.as_str(), rfc3339(period.from));
    out.push(Decision::Raise { kind, cause: cause.clone(), severity, at: due, details });
    if let Some(back) = period.until {
        out.push(Decision::Clear {
            kind,
            cause,
            at: back,
            resolution: Resolution::AutoCleared,
            details: json!({"back_at": rfc3339(back)}),
        });
    }
}

/// By `by` local time there must have been some activity since waking hours
/// started that day. Raised at the deadline, cleared by the first activity after it.
fn no_morning_activity(ctx: &Context<'_>, out: &mut Vec<Decision>) {
    let settings = ctx.settings();
    let wake = settings.waking_hours.start;
    let by = settings.no_morning_activity.by;
    for date in dates_back(ctx.local_date(ctx.now), 1) {
        let start = local_instant(ctx.tz(), date, wake.time());
        let by_date = if by > wake { Some(date) } else { date.succ_opt() };
        let Some(by_date) = by_date else { continue };
        let deadline = local_instant(ctx.tz(), by_date, by.time());
        if !ctx.judged(deadline) || start < ctx.facts.since {
            continue;
        }
        let first = ctx.events.iter().find(|e| e.is_activity() && e.ts >= start);
        if first.is_some_and(|e| e.ts <= deadline) {
            continue;
        }
        let cause = format!("no_morning_activity:{date}");
        // Gone out before the deadline is up and about.
        if ctx.facts.activity_sensors_online && !ctx.out_at(deadline) {
            out.push(Decision::Raise {
                kind: AlertKind::NoMorningActivity,
                cause: cause.clone(),
                severity: Severity::High,
                at: deadline,
                details: json!({"date": date.to_string(), "waking_start": rfc3339(start), "deadline": rfc3339(deadline),
                                "local_deadline": ctx.local(deadline), "timezone": ctx.tz().name()}),
            });
        }
        if let Some(first) = first {
            out.push(Decision::Clear {
                kind: AlertKind::NoMorningActivity,
                cause,
                at: first.ts,
                resolution: Resolution::AutoCleared,
                details: json!({"activity_at": rfc3339(first.ts), "activity": first.kind, "room": first.room}),
            });
        }
    }
}

/// The entrance door opened at night and nobody moved indoors within
/// `return_minutes`. Motion in the entrance's own room before the door
/// closes is the resident walking out, not coming back; after the door
/// closed, any motion is someone inside.
fn night_wandering(ctx: &Context<'_>, out: &mut Vec<Decision>) {
    let settings = ctx.settings();
    let within = settings.night_wandering.return_within();
    for (i, door) in ctx.events.iter().enumerate() {
        if !door.is(EventKind::DoorOpened) || !door.is_entrance() {
            continue;
        }
        let due = door.ts + within;
        if !ctx.judged(due) || door.ts < ctx.facts.since || !ctx.in_window(&settings.night, door.ts) {
            continue;
        }
        let after = &ctx.events[i + 1..];
        let in_time = || after.iter().filter(|e| e.ts > door.ts && e.ts <= due);
        let closed_at = in_time().find(|e| e.is(EventKind::DoorClosed) && e.is_entrance()).map(|e| e.ts);
        let returned = in_time().any(|e| {
            e.is(EventKind::Motion)
                && (closed_at.is_some_and(|closed| e.ts >= closed) || door.room.is_none() || e.room != door.room)
        });
        if returned {
            continue;
        }
        let cause = format!("night_wandering:{}", rfc3339(door.ts));
        out.push(Decision::Raise {
            kind: AlertKind::NightWandering,
            cause: cause.clone(),
            severity: Severity::Critical,
            at: due,
            details: json!({"door_opened_at": rfc3339(door.ts), "local_time": ctx.local(door.ts),
                            "room": door.room, "return_minutes": number_value(settings.night_wandering.return_minutes),
                            "closed_at": closed_at.map(rfc3339)}),
        });
        if let Some(back) = after.iter().find(|e| e.is(EventKind::Motion) && e.ts > due) {
            out.push(Decision::Clear {
                kind: AlertKind::NightWandering,
                cause,
                at: back.ts,
                resolution: Resolution::AutoCleared,
                details: json!({"motion_at": rfc3339(back.ts), "room": back.room}),
            });
        }
    }
}

/// How long before her usual rising getting up is her morning, not the
/// night: a day begun up to two hours early, on a day that would itself
/// have begun half an hour early.
fn early_rising() -> Duration {
    Duration::minutes(150)
}

/// The last stretch before a bed exit's deadline in which she must still be
/// moving for it to be her day starting.
fn still_moving() -> Duration {
    Duration::minutes(15)
}

/// Out of bed near her own usual rising (from two and a half hours before
/// it, never before 04:00) and still moving about in the last quarter hour before the
/// deadline: her day has started early, as it sometimes does. Someone on
/// the floor is not moving; at 02:00 the rule holds whatever she does.
fn up_for_the_day(ctx: &Context<'_>, exit: DateTime<Utc>, after: &[&ActivityEvent], due: DateTime<Utc>) -> bool {
    let Some(rising) = ctx.routine.and_then(|r| r.rising) else { return false };
    let date = ctx.local_date(exit);
    let morning = (local_instant(ctx.tz(), date, rising.time()) - early_rising()).max(local_instant(
        ctx.tz(),
        date,
        NaiveTime::from_hms_opt(4, 0, 0).expect("04:00"),
    ));
    exit >= morning && after.iter().any(|e| e.is_activity() && e.ts > due - still_moving() && e.ts <= due)
}

/// In a home without a hall sensor, the entrance door closed with nothing
/// since, and she is not believed out (not a time she usually goes out, or
/// no routine learned yet): after `routine.check_after_minutes` the family
/// is asked whether she went out (`presence_check`, low). Cleared by her
/// next sign of life or the door. If nobody answers and nothing moves, the
/// inactivity rule raises in its time: `unsure` suppresses nothing.
fn presence_check(ctx: &Context<'_>, out: &mut Vec<Decision>) {
    if ctx.hall_sensor {
        return;
    }
    let after = ctx.settings().routine.check_after();
    for period in ctx.presence.iter().filter(|p| p.presence == Presence::Unsure) {
        let details = json!({"door_closed_at": rfc3339(period.from), "local_door_closed": ctx.local(period.from),
                             "check_after_minutes": number_value(ctx.settings().routine.check_after_minutes),
                             "timezone": ctx.tz().name()});
        period_alert(ctx, out, period, AlertKind::PresenceCheck, Severity::Low, period.from + after, details);
    }
}

/// Out of bed at night and not back within `minutes`.
fn bed_exit_no_return(ctx: &Context<'_>, out: &mut Vec<Decision>) {
    let settings = ctx.settings();
    let within = settings.bed_exit_no_return.return_within();
    for (i, exit) in ctx.events.iter().enumerate() {
        if !exit.is(EventKind::BedExit) {
            continue;
        }
        let due = exit.ts + within;
        if !ctx.judged(due) || exit.ts < ctx.facts.since || !ctx.in_window(&settings.night, exit.ts) {
            continue;
        }
        let after = &ctx.events[i + 1..];
        if after.iter().any(|e| e.is(EventKind::BedEnter) && e.ts > exit.ts && e.ts <= due) {
            continue;
        }
        if up_for_the_day(ctx, exit.ts, after, due) {
            continue;
        }
        let cause = format!("bed_exit:{}", rfc3339(exit.ts));
        out.push(Decision::Raise {
            kind: AlertKind::BedExitNoReturn,
            cause: cause.clone(),
            severity: Severity::High,
            at: due,
            details: json!({"bed_exit_at": rfc3339(exit.ts), "local_time": ctx.local(exit.ts),
                            "minutes": number_value(settings.bed_exit_no_return.minutes)}),
        });
        if let Some(back) = after.iter().find(|e| e.is(EventKind::BedEnter) && e.ts > due) {
            out.push(Decision::Clear {
                kind: AlertKind::BedExitNoReturn,
                cause,
                at: back.ts,
                resolution: Resolution::AutoCleared,
                details: json!({"bed_enter_at": rfc3339(back.ts)}),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono_tz::America::New_York;
    use chrono_tz::Asia::Shanghai;
    use proptest::prelude::*;

    use super::*;
    use crate::domain::settings::{LocalTime, MealWindow};

    /// Evaluation output as `(kind, cause, raise?, at)`, the shape tests compare.
    fn summary(decisions: &[Decision]) -> Vec<(AlertKind, String, bool, DateTime<Utc>)> {
        decisions.iter().map(|d| (d.kind(), d.cause().to_owned(), d.is_raise(), d.at())).collect()
    }

    fn ts(s: &str) -> DateTime<Utc> {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn event(at: &str, kind: &str) -> ActivityEvent {
        ActivityEvent { ts: ts(at), kind: kind.into(), room: None, door: None, appliance: None }
    }

    fn motion(at: &str, room: &str) -> ActivityEvent {
        ActivityEvent { room: Some(room.into()), ..event(at, "motion") }
    }

    fn door(at: &str, kind: &str, which: &str, room: &str) -> ActivityEvent {
        ActivityEvent { door: Some(which.into()), room: Some(room.into()), ..event(at, kind) }
    }

    fn facts(tz: Tz, events: Vec<ActivityEvent>) -> ResidentFacts {
        ResidentFacts {
            tz,
            settings: RuleSettings::default(),
            events,
            activity_sensors_online: true,
            since: ts("2026-01-01T00:00:00Z"),
            routine: None,
            visits: Vec::new(),
        }
    }

    /// Only the decisions of one kind.
    fn of(kind: AlertKind, facts: &ResidentFacts, now: &str) -> Vec<(AlertKind, String, bool, DateTime<Utc>)> {
        summary(&evaluate(facts, ts(now))).into_iter().filter(|d| d.0 == kind).collect()
    }

    fn raise(kind: AlertKind, cause: &str, at: &str) -> (AlertKind, String, bool, DateTime<Utc>) {
        (kind, cause.into(), true, ts(at))
    }

    fn clear(kind: AlertKind, cause: &str, at: &str) -> (AlertKind, String, bool, DateTime<Utc>) {
        (kind, cause.into(), false, ts(at))
    }

    fn only_meal(meal: &str, start: LocalTime, end: LocalTime) -> Vec<MealWindow> {
        vec![MealWindow { meal: meal.into(), window: TimeWindow::new(start, end) }]
    }

    #[test]
    fn kitchen_motion_counts_only_as_a_stay_and_dates_from_its_start() {
        let passing = [motion("2026-11-28T00:00:00Z", "kitchen")];
        let window = (ts("2026-11-27T23:00:00Z"), ts("2026-11-28T01:00:00Z"));
        assert_eq!(super::meal_evidence(&passing, window.0, window.1), None);
        let stay = [
            motion("2026-11-28T00:00:00Z", "kitchen"),
            motion("2026-11-28T00:01:00Z", "hall"),
            motion("2026-11-28T00:03:00Z", "kitchen"),
        ];
        assert_eq!(super::meal_evidence(&stay, window.0, window.1).map(|e| e.ts), Some(ts("2026-11-28T00:00:00Z")));
    }

    #[test]
    fn meal_evidence_is_the_service_a_kitchen_appliance_or_the_fridge() {
        let window = (ts("2026-11-28T00:00:00Z"), ts("2026-11-28T01:00:00Z"));
        let fridge = ActivityEvent { door: Some("fridge".into()), ..event("2026-11-28T00:10:00Z", "door_opened") };
        let entrance = ActivityEvent { door: Some("entrance".into()), ..event("2026-11-28T00:05:00Z", "door_opened") };
        let kettle =
            ActivityEvent { appliance: Some("kettle".into()), ..event("2026-11-28T00:20:00Z", "appliance_on") };
        let tv = ActivityEvent { appliance: Some("tv".into()), ..event("2026-11-28T00:01:00Z", "appliance_on") };
        let served = event("2026-11-28T00:30:00Z", "meal_served");
        let early = event("2026-11-27T23:59:59Z", "meal_eaten");
        for (events, expected) in [
            (vec![&entrance, &tv, &fridge], Some("door_opened")),
            (vec![&tv, &kettle], Some("appliance_on")),
            (vec![&early, &served], Some("meal_served")),
            (vec![&early, &entrance, &tv], None),
        ] {
            let found = super::meal_evidence(events.iter().copied(), window.0, window.1).map(|e| e.kind.as_str());
            assert_eq!(found, expected, "{events:?}");
        }
    }

    #[test]
    fn local_instants_across_dst() {
        let date = |s: &str| s.parse::<NaiveDate>().unwrap();
        let time = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert_eq!(local_instant(Shanghai, date("2026-11-28"), time(11, 0)), ts("2026-11-28T03:00:00Z"));
        // 02:30 does not exist on 2026-03-08 in New York: the clocks jump to 03:00 EDT.
        assert_eq!(local_instant(New_York, date("2026-03-08"), time(2, 30)), ts("2026-03-08T07:00:00Z"));
        assert_eq!(local_instant(New_York, date("2026-03-08"), time(2, 0)), ts("2026-03-08T07:00:00Z"));
        assert_eq!(local_instant(New_York, date("2026-03-08"), time(3, 0)), ts("2026-03-08T07:00:00Z"));
        // 01:30 happens twice on 2026-11-01: the earlier (EDT) one.
        assert_eq!(local_instant(New_York, date("2026-11-01"), time(1, 30)), ts("2026-11-01T05:30:00Z"));
        // A night window is 7 h long on the spring-forward night and 9 h on the fall-back one.
        let night = TimeWindow::new(LocalTime::hm(22, 0), LocalTime::hm(6, 0));
        let (start, end) = window_on(New_York, &night, date("2026-03-07"));
        assert_eq!((start, end - start), (ts("2026-03-08T03:00:00Z"), Duration::hours(7)));
        let (start, end) = window_on(New_York, &night, date("2026-10-31"));
        assert_eq!((start, end - start), (ts("2026-11-01T02:00:00Z"), Duration::hours(9)));
    }

    #[test]
    fn missed_lunch_is_raised_when_the_window_ends_and_not_before() {
        let mut facts = facts(Shanghai, vec![motion("2026-11-28T08:00:00+08:00", "kitchen")]);
        facts.since = ts("2026-11-28T00:00:00+08:00");
        let early = of(AlertKind::MissedMeal, &facts, "2026-11-28T13:29:59+08:00");
        assert_eq!(early, [raise(AlertKind::MissedMeal, "breakfast:2026-11-28", "2026-11-28T09:30:00+08:00")]);
        let decisions = evaluate(&facts, ts("2026-11-28T13:30:00+08:00"));
        let lunch: Vec<_> = decisions.iter().filter(|d| d.kind() == AlertKind::MissedMeal).collect();
        assert_eq!(lunch.len(), 2, "breakfast had only a walk-through too: {lunch:?}");
        let Decision::Raise { cause, severity, at, details, .. } = lunch[1] else { panic!("expected a raise") };
        assert_eq!(
            (cause.as_str(), *severity, *at),
            ("lunch:2026-11-28", Severity::Medium, ts("2026-11-28T05:30:00Z"))
        );
        assert_eq!(
            *details,
            json!({"meal": "lunch", "window_start": "2026-11-28T03:00:00Z", "window_end": "2026-11-28T05:30:00Z",
                   "local_start": "2026-11-28T11:00:00+08:00", "local_end": "2026-11-28T13:30:00+08:00",
                   "timezone": "Asia/Shanghai"})
        );
    }

    #[test]
    fn meal_evidence() {
        let now = "2026-11-28T14:00:00+08:00";
        let lunch = |events: Vec<ActivityEvent>| {
            let mut facts = facts(Shanghai, events);
            facts.settings.meal_windows = only_meal("lunch", LocalTime::hm(11, 0), LocalTime::hm(13, 30));
            of(AlertKind::MissedMeal, &facts, now)
        };
        let missed = vec![raise(AlertKind::MissedMeal, "lunch:2026-11-28", "2026-11-28T13:30:00+08:00")];
        let at = "2026-11-28T12:00:00+08:00";
        let appliance = |which: &str, room: Option<&str>| ActivityEvent {
            appliance: Some(which.into()),
            room: room.map(Into::into),
            ..event(at, "appliance_on")
        };
        assert!(lunch(vec![event(at, "meal_eaten")]).is_empty());
        assert!(lunch(vec![event(at, "meal_served")]).is_empty());
        assert!(lunch(vec![appliance("kettle", None)]).is_empty());
        assert!(lunch(vec![appliance("toaster", Some("kitchen"))]).is_empty());
        assert_eq!(lunch(vec![appliance("heater", Some("bedroom"))]), missed);
        assert!(lunch(vec![door(at, "door_opened", "fridge", "kitchen")]).is_empty());
        assert_eq!(lunch(vec![door(at, "door_opened", "entrance", "hall")]), missed);
        // Time in the kitchen is evidence; a walk-through is not.
        let stay = |gap: &str| vec![motion(at, "kitchen"), motion(gap, "kitchen")];
        assert!(lunch(stay("2026-11-28T12:03:00+08:00")).is_empty());
        assert_eq!(lunch(stay("2026-11-28T12:02:59+08:00")), missed);
        assert_eq!(lunch(vec![motion(at, "living_room"), motion("2026-11-28T12:30:00+08:00", "living_room")]), missed);
        // Evidence outside the window does not count; at its edges it does.
        assert_eq!(lunch(vec![event("2026-11-28T10:59:59+08:00", "meal_eaten")]), missed);
        assert!(lunch(vec![event("2026-11-28T13:30:00+08:00", "meal_eaten")]).is_empty());
        assert!(lunch(vec![event("2026-11-28T11:00:00+08:00", "meal_eaten")]).is_empty());
    }

    #[test]
    fn meal_window_across_midnight() {
        let mut facts = facts(New_York, vec![]);
        facts.since = ts("2026-11-28T12:00:00-05:00");
        facts.settings.meal_windows = only_meal("snack", LocalTime::hm(23, 0), LocalTime::hm(0, 30));
        assert!(of(AlertKind::MissedMeal, &facts, "2026-11-29T00:29:00-05:00").is_empty());
        let expected = vec![raise(AlertKind::MissedMeal, "snack:2026-11-28", "2026-11-29T00:30:00-05:00")];
        assert_eq!(of(AlertKind::MissedMeal, &facts, "2026-11-29T00:31:00-05:00"), expected);
        facts.events.push(event("2026-11-29T00:10:00-05:00", "meal_eaten"));
        assert!(of(AlertKind::MissedMeal, &facts, "2026-11-29T00:31:00-05:00").is_empty());
    }

    #[test]
    fn meal_windows_are_judged_after_downtime_for_a_day_and_only_after_since() {
        let mut facts = facts(Shanghai, vec![]);
        facts.settings.meal_windows = only_meal("lunch", LocalTime::hm(11, 0), LocalTime::hm(13, 30));
        // The scheduler comes back 23 h after lunch ended: still raised, same cause.
        let expected = vec![raise(AlertKind::MissedMeal, "lunch:2026-11-28", "2026-11-28T13:30:00+08:00")];
        assert_eq!(of(AlertKind::MissedMeal, &facts, "2026-11-29T12:30:00+08:00"), expected);
        // 24 h after it ended it is history, as the next day's lunch is judged in its turn.
        let next = vec![raise(AlertKind::MissedMeal, "lunch:2026-11-29", "2026-11-29T13:30:00+08:00")];
        assert_eq!(of(AlertKind::MissedMeal, &facts, "2026-11-29T13:30:00+08:00"), next);
        // A resident created (or back from away) mid-window is not judged on it.
        facts.since = ts("2026-11-28T12:00:00+08:00");
        assert!(of(AlertKind::MissedMeal, &facts, "2026-11-28T14:00:00+08:00").is_empty());
    }

    #[test]
    fn meal_windows_on_dst_days() {
        // Spring forward: a 02:00–03:30 window starts at 03:00 EDT, so 01:59 EST is before it.
        let mut facts = facts(New_York, vec![event("2026-03-08T06:59:00Z", "meal_eaten")]);
        facts.since = ts("2026-03-08T00:00:00Z");
        facts.settings.meal_windows = only_meal("night", LocalTime::hm(2, 0), LocalTime::hm(3, 30));
        let expected = vec![raise(AlertKind::MissedMeal, "night:2026-03-08", "2026-03-08T07:30:00Z")];
        assert_eq!(of(AlertKind::MissedMeal, &facts, "2026-03-08T08:00:00Z"), expected);
        facts.events = vec![event("2026-03-08T07:10:00Z", "meal_eaten")];
        assert!(of(AlertKind::MissedMeal, &facts, "2026-03-08T08:00:00Z").is_empty());

        // Fall back: 01:00–02:00 runs from 01:00 EDT to 02:00 EST, two hours, so
        // the second 01:30 (EST) is inside it.
        let mut facts = facts_with_window(New_York, "late", LocalTime::hm(1, 0), LocalTime::hm(2, 0));
        assert!(of(AlertKind::MissedMeal, &facts, "2026-11-01T06:59:00Z").is_empty());
        let expected = vec![raise(AlertKind::MissedMeal, "late:2026-11-01", "2026-11-01T07:00:00Z")];
        assert_eq!(of(AlertKind::MissedMeal, &facts, "2026-11-01T07:00:00Z"), expected);
        facts.events = vec![event("2026-11-01T06:30:00Z", "meal_eaten")];
        assert!(of(AlertKind::MissedMeal, &facts, "2026-11-01T07:00:00Z").is_empty());
    }

    fn facts_with_window(tz: Tz, meal: &str, start: LocalTime, end: LocalTime) -> ResidentFacts {
        let mut facts = facts(tz, vec![]);
        facts.since = ts("2026-11-01T00:00:00Z");
        facts.settings.meal_windows = only_meal(meal, start, end);
        facts
    }

    #[test]
    fn inactivity_during_waking_hours() {
        let mut facts = facts(Shanghai, vec![motion("2026-11-28T10:00:00+08:00", "living_room")]);
        assert!(of(AlertKind::Inactivity, &facts, "2026-11-28T12:59:59+08:00").is_empty());
        let expected =
            vec![raise(AlertKind::Inactivity, "inactivity:2026-11-28T02:00:00Z", "2026-11-28T13:00:00+08:00")];
        assert_eq!(of(AlertKind::Inactivity, &facts, "2026-11-28T13:00:00+08:00"), expected);
        // Level-triggered: the same decision on every run, at the same instant.
        assert_eq!(of(AlertKind::Inactivity, &facts, "2026-11-28T16:00:00+08:00"), expected);
        // A silent sensor is a device problem, not a person problem.
        facts.activity_sensors_online = false;
        assert!(of(AlertKind::Inactivity, &facts, "2026-11-28T16:00:00+08:00").is_empty());
    }

    #[test]
    fn inactivity_clock_pauses_outside_waking_hours_and_activity_clears_it() {
        let mut facts = facts(Shanghai, vec![motion("2026-11-28T21:00:00+08:00", "bedroom")]);
        // One hour used before 22:00; two more from 07:00.
        assert!(of(AlertKind::Inactivity, &facts, "2026-11-29T08:59:00+08:00").is_empty());
        let cause = "inactivity:2026-11-28T13:00:00Z";
        let raised = vec![raise(AlertKind::Inactivity, cause, "2026-11-29T09:00:00+08:00")];
        assert_eq!(of(AlertKind::Inactivity, &facts, "2026-11-29T09:00:00+08:00"), raised);

        facts.events.push(motion("2026-11-29T09:30:00+08:00", "kitchen"));
        let cleared = vec![clear(AlertKind::Inactivity, cause, "2026-11-29T09:30:00+08:00")];
        assert_eq!(of(AlertKind::Inactivity, &facts, "2026-11-29T09:31:00+08:00"), cleared);
        // A short gap clears nothing.
        facts.events.push(motion("2026-11-29T10:00:00+08:00", "kitchen"));
        assert_eq!(of(AlertKind::Inactivity, &facts, "2026-11-29T10:01:00+08:00"), cleared);
    }

    #[test]
    fn inactivity_with_waking_hours_across_midnight_and_no_events() {
        let mut facts = facts(New_York, vec![]);
        facts.since = ts("2026-11-28T20:00:00-05:00");
        facts.settings.waking_hours = TimeWindow::new(LocalTime::hm(10, 0), LocalTime::hm(2, 0));
        // From `since`, 20:00 → 23:00 local; the resident was never seen.
        let expected =
            vec![raise(AlertKind::Inactivity, "inactivity:2026-11-29T01:00:00Z", "2026-11-28T23:00:00-05:00")];
        assert_eq!(of(AlertKind::Inactivity, &facts, "2026-11-28T23:30:00-05:00"), expected);
        // Quiet from 01:00: one hour to 02:00, then the clock waits until 10:00.
        facts.events = vec![motion("2026-11-29T01:00:00-05:00", "hall")];
        assert!(of(AlertKind::Inactivity, &facts, "2026-11-29T11:59:00-05:00").is_empty());
        assert_eq!(of(AlertKind::Inactivity, &facts, "2026-11-29T12:00:00-05:00").len(), 1);
    }

    #[test]
    fn no_morning_activity_by_the_set_time() {
        let mut facts = facts(Shanghai, vec![motion("2026-11-28T06:30:00+08:00", "bedroom")]);
        facts.since = ts("2026-11-28T00:00:00+08:00");
        assert!(of(AlertKind::NoMorningActivity, &facts, "2026-11-28T09:59:59+08:00").is_empty());
        let cause = "no_morning_activity:2026-11-28";
        let raised = vec![raise(AlertKind::NoMorningActivity, cause, "2026-11-28T10:00:00+08:00")];
        assert_eq!(of(AlertKind::NoMorningActivity, &facts, "2026-11-28T10:00:00+08:00"), raised);

        facts.events.push(motion("2026-11-28T10:20:00+08:00", "kitchen"));
        let mut both = raised.clone();
        both.push(clear(AlertKind::NoMorningActivity, cause, "2026-11-28T10:20:00+08:00"));
        assert_eq!(of(AlertKind::NoMorningActivity, &facts, "2026-11-28T10:30:00+08:00"), both);

        facts.events = vec![motion("2026-11-28T09:59:00+08:00", "bathroom")];
        assert!(of(AlertKind::NoMorningActivity, &facts, "2026-11-28T10:30:00+08:00").is_empty());

        facts.events.clear();
        facts.activity_sensors_online = false;
        assert!(of(AlertKind::NoMorningActivity, &facts, "2026-11-28T10:30:00+08:00").is_empty());
    }

    #[test]
    fn night_wandering_raises_when_nobody_comes_back_in() {
        let opened = door("2026-11-28T02:00:00+08:00", "door_opened", "entrance", "hall");
        let mut facts = facts(Shanghai, vec![opened.clone()]);
        let cause = "night_wandering:2026-11-27T18:00:00Z";
        assert!(of(AlertKind::NightWandering, &facts, "2026-11-28T02:09:59+08:00").is_empty());
        let raised = vec![raise(AlertKind::NightWandering, cause, "2026-11-28T02:10:00+08:00")];
        assert_eq!(of(AlertKind::NightWandering, &facts, "2026-11-28T02:10:00+08:00"), raised);
        let decisions = evaluate(&facts, ts("2026-11-28T02:10:00+08:00"));
        let Some(Decision::Raise { severity, .. }) = decisions.iter().find(|d| d.kind() == AlertKind::NightWandering)
        else {
            panic!("expected a raise")
        };
        assert_eq!(*severity, Severity::Critical);

        // Walking out through the hall is not coming back.
        facts.events.push(motion("2026-11-28T02:00:10+08:00", "hall"));
        assert_eq!(of(AlertKind::NightWandering, &facts, "2026-11-28T02:10:00+08:00"), raised);
        // Motion after the window clears it.
        facts.events.push(motion("2026-11-28T02:30:00+08:00", "hall"));
        let mut both = raised.clone();
        both.push(clear(AlertKind::NightWandering, cause, "2026-11-28T02:30:00+08:00"));
        assert_eq!(of(AlertKind::NightWandering, &facts, "2026-11-28T02:31:00+08:00"), both);

        let returned = |events: Vec<ActivityEvent>| {
            let mut all = vec![opened.clone()];
            all.extend(events);
            of(AlertKind::NightWandering, &self::facts(Shanghai, all), "2026-11-28T02:20:00+08:00")
        };
        assert!(returned(vec![motion("2026-11-28T02:05:00+08:00", "bedroom")]).is_empty());
        assert!(returned(vec![motion("2026-11-28T02:10:00+08:00", "bedroom")]).is_empty());
        assert!(
            returned(vec![
                door("2026-11-28T02:01:00+08:00", "door_closed", "entrance", "hall"),
                motion("2026-11-28T02:02:00+08:00", "hall")
            ])
            .is_empty()
        );
        // The door closed behind someone who left: no motion inside afterwards.
        assert_eq!(
            returned(vec![
                motion("2026-11-28T02:00:30+08:00", "hall"),
                door("2026-11-28T02:01:00+08:00", "door_closed", "entrance", "hall")
            ])
            .len(),
            1
        );
    }

    #[test]
    fn doors_that_do_not_count_for_wandering() {
        let day = facts(Shanghai, vec![door("2026-11-28T15:00:00+08:00", "door_opened", "entrance", "hall")]);
        assert!(of(AlertKind::NightWandering, &day, "2026-11-28T15:30:00+08:00").is_empty());
        let fridge = facts(Shanghai, vec![door("2026-11-28T02:00:00+08:00", "door_opened", "fridge", "kitchen")]);
        assert!(of(AlertKind::NightWandering, &fridge, "2026-11-28T02:30:00+08:00").is_empty());
        // 21:59 is before the night; 22:00 is in it.
        let evening = facts(Shanghai, vec![door("2026-11-28T21:59:00+08:00", "door_opened", "entrance", "hall")]);
        assert!(of(AlertKind::NightWandering, &evening, "2026-11-28T22:30:00+08:00").is_empty());
        let night = facts(Shanghai, vec![door("2026-11-28T22:00:00+08:00", "door_opened", "entrance", "hall")]);
        assert_eq!(of(AlertKind::NightWandering, &night, "2026-11-28T22:30:00+08:00").len(), 1);
    }

    #[test]
    fn night_wandering_on_dst_nights() {
        // 05:30 EDT on the spring-forward morning is still night (ends 06:00 EDT = 10:00Z).
        let spring = facts(New_York, vec![door("2026-03-08T09:30:00Z", "door_opened", "entrance", "hall")]);
        let expected =
            vec![raise(AlertKind::NightWandering, "night_wandering:2026-03-08T09:30:00Z", "2026-03-08T09:40:00Z")];
        assert_eq!(of(AlertKind::NightWandering, &spring, "2026-03-08T09:45:00Z"), expected);
        // 10:05Z is 06:05 EDT: morning.
        let morning = facts(New_York, vec![door("2026-03-08T10:05:00Z", "door_opened", "entrance", "hall")]);
        assert!(of(AlertKind::NightWandering, &morning, "2026-03-08T10:30:00Z").is_empty());
        // 10:30Z on the fall-back morning is 05:30 EST: night (a fixed EDT offset would say 06:30).
        let autumn = facts(New_York, vec![door("2026-11-01T10:30:00Z", "door_opened", "entrance", "hall")]);
        assert_eq!(of(AlertKind::NightWandering, &autumn, "2026-11-01T10:45:00Z").len(), 1);
    }

    #[test]
    fn bed_exit_without_return() {
        let exit = event("2026-11-28T01:00:00+08:00", "bed_exit");
        let mut facts = facts(Shanghai, vec![exit.clone()]);
        let cause = "bed_exit:2026-11-27T17:00:00Z";
        assert!(of(AlertKind::BedExitNoReturn, &facts, "2026-11-28T01:29:59+08:00").is_empty());
        let raised = vec![raise(AlertKind::BedExitNoReturn, cause, "2026-11-28T01:30:00+08:00")];
        assert_eq!(of(AlertKind::BedExitNoReturn, &facts, "2026-11-28T01:30:00+08:00"), raised);
        facts.events.push(event("2026-11-28T01:45:00+08:00", "bed_enter"));
        let mut both = raised.clone();
        both.push(clear(AlertKind::BedExitNoReturn, cause, "2026-11-28T01:45:00+08:00"));
        assert_eq!(of(AlertKind::BedExitNoReturn, &facts, "2026-11-28T02:00:00+08:00"), both);

        let back = self::facts(Shanghai, vec![exit, event("2026-11-28T01:30:00+08:00", "bed_enter")]);
        assert!(of(AlertKind::BedExitNoReturn, &back, "2026-11-28T02:00:00+08:00").is_empty());
        let afternoon = self::facts(Shanghai, vec![event("2026-11-28T14:00:00+08:00", "bed_exit")]);
        assert!(of(AlertKind::BedExitNoReturn, &afternoon, "2026-11-28T15:00:00+08:00").is_empty());
    }

    /// A routine learned from four weeks: up at 07:00, breakfast at 08:00,
    /// lunch at 12:30, dinner at 18:00, out between 09:30 and 11:00 on most
    /// days and back by 16:00 at the latest, quiet at home for an hour in
    /// the morning and two in the afternoon.
    fn her_routine() -> Routine {
        use crate::rules::routine::{Outings, QuietSpell, UsualMeal};
        let meal = |meal: &str, h, m| UsualMeal { meal: meal.into(), usual: Some(LocalTime::hm(h, m)), days: 28 };
        let spell = |part: &str, minutes| QuietSpell { part: part.into(), usual_max_minutes: Some(minutes) };
        Routine {
            days: 28,
            learned: true,
            rising: Some(LocalTime::hm(7, 0)),
            bedtime: Some(LocalTime::hm(21, 30)),
            meals: vec![meal("breakfast", 8, 0), meal("lunch", 12, 30), meal("dinner", 18, 0)],
            outings: Outings {
                days_out: 20,
                usual_leave: Some(LocalTime::hm(10, 0)),
                leave_earliest: Some(LocalTime::hm(9, 30)),
                leave_latest: Some(LocalTime::hm(11, 0)),
                latest_return: Some(LocalTime::hm(16, 0)),
            },
            quiet_spells: vec![
                spell("night", 600),
                spell("morning", 60),
                spell("afternoon", 120),
                spell("evening", 90),
            ],
            // Busy mornings (an hour at most), two hours after lunch.
            quiet_from_hour: (0..24).map(|h| Some(if (13..17).contains(&h) { 120 } else { 60 })).collect(),
        }
    }

    fn learned(events: Vec<ActivityEvent>) -> ResidentFacts {
        ResidentFacts { routine: Some(her_routine()), ..facts(Shanghai, events) }
    }

    #[test]
    fn inactivity_comes_at_her_own_usual_quiet_and_never_later_than_the_setting() {
        // Up at 07:00, then nothing from 08:00: her mornings are never
        // quiet for more than an hour, so an hour and a half of margin
        // would do; the floor is two hours.
        let events =
            vec![event("2026-11-28T07:00:00+08:00", "bed_exit"), motion("2026-11-28T08:00:00+08:00", "kitchen")];
        let cause = "inactivity:2026-11-28T00:00:00Z";
        let raised = of(AlertKind::Inactivity, &learned(events.clone()), "2026-11-28T12:00:00+08:00");
        assert_eq!(raised, [raise(AlertKind::Inactivity, cause, "2026-11-28T10:00:00+08:00")]);
        // Without the routine, the configured three hours.
        let fixed = of(AlertKind::Inactivity, &facts(Shanghai, events.clone()), "2026-11-28T12:00:00+08:00");
        assert_eq!(fixed, [raise(AlertKind::Inactivity, cause, "2026-11-28T11:00:00+08:00")]);
        // Switched off, the same.
        let mut off = learned(events);
        off.settings.routine.learn = false;
        assert_eq!(of(AlertKind::Inactivity, &off, "2026-11-28T12:00:00+08:00"), fixed);
        // In bed since 13:00 (a nap): the configured limit, not her afternoon's.
        let nap = learned(vec![event("2026-11-28T13:00:00+08:00", "bed_enter")]);
        let from = "inactivity:2026-11-28T05:00:00Z";
        assert_eq!(
            of(AlertKind::Inactivity, &nap, "2026-11-28T17:00:00+08:00"),
            [raise(AlertKind::Inactivity, from, "2026-11-28T16:00:00+08:00")]
        );
    }

    #[test]
    fn meals_follow_her_own_times_her_late_mornings_and_her_quick_visits_to_the_kitchen() {
        // Judged from the day's start: the day before holds no meals.
        let learned = |events| ResidentFacts { since: ts("2026-11-28T00:00:00+08:00"), ..learned(events) };
        let mut facts = learned(vec![
            event("2026-11-28T07:00:00+08:00", "bed_exit"),
            // Breakfast at 08:00: a minute in the kitchen (cold food).
            motion("2026-11-28T08:00:00+08:00", "kitchen"),
            motion("2026-11-28T08:30:00+08:00", "living_room"),
        ]);
        let judged = of(AlertKind::MissedMeal, &facts, "2026-11-28T14:00:00+08:00");
        // Breakfast was her own sign; lunch (no sign) is judged on a window
        // centred on her 12:30: 11:15-13:45.
        assert_eq!(judged, [raise(AlertKind::MissedMeal, "lunch:2026-11-28", "2026-11-28T13:45:00+08:00")]);
        // Windows staff set by hand stay as they are.
        facts.settings.meal_windows_set = true;
        let judged = of(AlertKind::MissedMeal, &facts, "2026-11-28T14:00:00+08:00");
        assert_eq!(judged, [raise(AlertKind::MissedMeal, "lunch:2026-11-28", "2026-11-28T13:30:00+08:00")]);
        // The quick visit counts only within an hour of her usual time: at 06:50, no.
        let early = learned(vec![
            event("2026-11-28T06:40:00+08:00", "bed_exit"),
            motion("2026-11-28T06:50:00+08:00", "kitchen"),
            motion("2026-11-28T06:55:00+08:00", "living_room"),
        ]);
        let breakfast = of(AlertKind::MissedMeal, &early, "2026-11-28T10:00:00+08:00");
        assert_eq!(breakfast, [raise(AlertKind::MissedMeal, "breakfast:2026-11-28", "2026-11-28T09:15:00+08:00")]);
        // Up two hours late: breakfast is waited for two hours longer.
        let late = learned(vec![event("2026-11-28T09:00:00+08:00", "bed_exit")]);
        assert!(of(AlertKind::MissedMeal, &late, "2026-11-28T11:00:00+08:00").is_empty());
        let breakfast = of(AlertKind::MissedMeal, &late, "2026-11-28T11:30:00+08:00");
        assert_eq!(breakfast, [raise(AlertKind::MissedMeal, "breakfast:2026-11-28", "2026-11-28T11:15:00+08:00")]);
    }

    #[test]
    fn rising_is_leaving_bed_for_the_day_not_a_trip_to_the_bathroom() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        let day = [
            event("2026-11-28T03:00:00+08:00", "bed_exit"),
            event("2026-11-28T03:10:00+08:00", "bed_enter"),
            event("2026-11-28T05:00:00+08:00", "bed_exit"),
            motion("2026-11-28T05:01:00+08:00", "bathroom"),
            event("2026-11-28T05:12:00+08:00", "bed_enter"),
            event("2026-11-28T07:20:00+08:00", "bed_exit"),
            motion("2026-11-28T07:21:00+08:00", "kitchen"),
        ];
        let refs: Vec<&ActivityEvent> = day.iter().collect();
        assert_eq!(rose_at(&refs, Shanghai, date), Some(ts("2026-11-28T07:20:00+08:00")));
        // Without a bed sensor: her first sign of life from 04:00.
        let no_bed: Vec<&ActivityEvent> = refs.iter().copied().filter(|e| e.room.is_some()).collect();
        assert_eq!(rose_at(&no_bed, Shanghai, date), Some(ts("2026-11-28T05:01:00+08:00")));
    }

    #[test]
    fn an_early_rising_near_her_own_is_her_day_but_the_night_still_counts() {
        // Up at 05:30 (usually 07:00), moving about: her day started.
        let mut up = vec![event("2026-11-28T05:30:00+08:00", "bed_exit")];
        up.extend((0..6).map(|i| motion(&format!("2026-11-28T05:{:02}:00+08:00", 31 + i * 5), "living_room")));
        assert!(of(AlertKind::BedExitNoReturn, &learned(up.clone()), "2026-11-28T06:30:00+08:00").is_empty());
        // Without a routine, the rule as it was.
        assert_eq!(of(AlertKind::BedExitNoReturn, &facts(Shanghai, up.clone()), "2026-11-28T06:30:00+08:00").len(), 1);
        // Up at 05:30 and then still: not her day, the alert stands.
        let still = learned(vec![
            event("2026-11-28T05:30:00+08:00", "bed_exit"),
            motion("2026-11-28T05:31:00+08:00", "bathroom"),
        ]);
        assert_eq!(of(AlertKind::BedExitNoReturn, &still, "2026-11-28T06:30:00+08:00").len(), 1);
        // Up at 02:00 and moving: the night, whatever she does.
        let mut night = vec![event("2026-11-28T02:00:00+08:00", "bed_exit")];
        night.extend((0..6).map(|i| motion(&format!("2026-11-28T02:{:02}:00+08:00", 1 + i * 5), "living_room")));
        assert_eq!(of(AlertKind::BedExitNoReturn, &learned(night), "2026-11-28T03:00:00+08:00").len(), 1);
    }

    #[test]
    fn without_a_hall_sensor_her_usual_outing_is_believed_and_another_door_is_asked_about() {
        let door_at = |hm: &str| {
            vec![
                motion(&format!("2026-11-28T{hm}:00+08:00"), "living_room"),
                door(&format!("2026-11-28T{hm}:30+08:00"), "door_opened", "entrance", "hall"),
                door(&format!("2026-11-28T{hm}:45+08:00"), "door_closed", "entrance", "hall"),
            ]
        };
        // 10:00 is her time to go out: out, no inactivity, no check.
        let usual = learned(door_at("10:00"));
        let all = summary(&evaluate(&usual, ts("2026-11-28T15:00:00+08:00")));
        assert!(all.iter().all(|d| d.0 != AlertKind::Inactivity && d.0 != AlertKind::PresenceCheck), "{all:?}");
        // Still out past her latest usual return and the margin: 18:00.
        let cause = "not_returned:2026-11-28T02:00:45Z";
        assert_eq!(
            of(AlertKind::NotReturned, &usual, "2026-11-28T19:00:00+08:00"),
            [raise(AlertKind::NotReturned, cause, "2026-11-28T18:00:00+08:00")]
        );
        // 14:00 is not: the family is asked at 14:30, and inactivity still
        // comes in its time (unsure suppresses nothing).
        let unusual = learned(door_at("14:00"));
        let cause = "presence_check:2026-11-28T06:00:45Z";
        assert_eq!(
            of(AlertKind::PresenceCheck, &unusual, "2026-11-28T15:00:00+08:00"),
            [raise(AlertKind::PresenceCheck, cause, "2026-11-28T14:30:45+08:00")]
        );
        assert_eq!(of(AlertKind::Inactivity, &unusual, "2026-11-28T18:00:00+08:00").len(), 1);
        // Back in: the check clears.
        let mut back = unusual.clone();
        back.events.push(motion("2026-11-28T15:10:00+08:00", "kitchen"));
        assert_eq!(
            of(AlertKind::PresenceCheck, &back, "2026-11-28T16:00:00+08:00"),
            [
                raise(AlertKind::PresenceCheck, cause, "2026-11-28T14:30:45+08:00"),
                clear(AlertKind::PresenceCheck, cause, "2026-11-28T15:10:00+08:00")
            ]
        );
        // With a hall sensor, no check is ever asked: it sees her leave or not.
        let mut hall = unusual;
        hall.events.push(motion("2026-11-28T08:00:00+08:00", "hall"));
        assert!(of(AlertKind::PresenceCheck, &hall, "2026-11-28T15:00:00+08:00").is_empty());
    }

    #[test]
    fn bed_exit_on_dst_nights() {
        // The fall-back night lasts until 06:00 EST (11:00Z): 10:45Z is 05:45 EST.
        let autumn = facts(New_York, vec![event("2026-11-01T10:45:00Z", "bed_exit")]);
        let expected = vec![raise(AlertKind::BedExitNoReturn, "bed_exit:2026-11-01T10:45:00Z", "2026-11-01T11:15:00Z")];
        assert_eq!(of(AlertKind::BedExitNoReturn, &autumn, "2026-11-01T11:20:00Z"), expected);
        let morning = facts(New_York, vec![event("2026-11-01T11:05:00Z", "bed_exit")]);
        assert!(of(AlertKind::BedExitNoReturn, &morning, "2026-11-01T12:00:00Z").is_empty());
        // The spring-forward night ends at 06:00 EDT (10:00Z).
        let spring = facts(New_York, vec![event("2026-03-08T09:45:00Z", "bed_exit")]);
        assert_eq!(of(AlertKind::BedExitNoReturn, &spring, "2026-03-08T10:30:00Z").len(), 1);
        let spring_morning = facts(New_York, vec![event("2026-03-08T10:00:00Z", "bed_exit")]);
        assert!(of(AlertKind::BedExitNoReturn, &spring_morning, "2026-03-08T11:00:00Z").is_empty());
    }

    /// An evening out till past the bound, a night out of bed and out of the
    /// door, with no meals and no morning.
    fn eventful_facts() -> ResidentFacts {
        facts(
            Shanghai,
            vec![
                motion("2026-11-27T17:59:00+08:00", "hall"),
                door("2026-11-27T18:00:00+08:00", "door_opened", "entrance", "hall"),
                door("2026-11-27T18:00:30+08:00", "door_closed", "entrance", "hall"),
                event("2026-11-28T01:00:00+08:00", "bed_exit"),
                door("2026-11-28T01:05:00+08:00", "door_opened", "entrance", "hall"),
                motion("2026-11-28T03:00:00+08:00", "hall"),
            ],
        )
    }

    /// The same evening in a home without a hall sensor: she cannot be seen
    /// going out, and the family is asked.
    fn eventful_facts_without_a_hall_sensor() -> ResidentFacts {
        let mut facts = eventful_facts();
        facts.events.retain(|e| !(e.is(EventKind::Motion) && e.room.as_deref() == Some("hall")));
        facts.events.push(motion("2026-11-28T03:00:00+08:00", "living_room"));
        facts
    }

    #[test]
    fn away_mode_suppresses_every_behaviour_raise_but_keeps_clears() {
        let now = ts("2026-11-28T14:00:00+08:00");
        let mut kinds = Vec::new();
        for mut facts in [eventful_facts(), eventful_facts_without_a_hall_sensor()] {
            let home = evaluate(&facts, now);
            kinds.extend(home.iter().filter(|d| d.is_raise()).map(Decision::kind));
            facts.settings.away = true;
            let away = evaluate(&facts, now);
            assert!(away.iter().all(|d| !d.is_raise()), "{away:?}");
            assert_eq!(away, home.into_iter().filter(|d| !d.is_raise()).collect::<Vec<_>>());
            assert!(!away.is_empty());
        }
        for kind in AlertKind::ALL.into_iter().filter(AlertKind::is_behaviour) {
            assert!(kinds.contains(&kind), "{kind} not raised at home: {kinds:?}");
        }
    }

    #[test]
    fn evaluation_is_idempotent_and_independent_of_event_order() {
        let now = ts("2026-11-28T14:00:00+08:00");
        let facts = eventful_facts();
        let first = evaluate(&facts, now);
        assert_eq!(evaluate(&facts, now), first);
        let mut shuffled = facts.clone();
        shuffled.events.reverse();
        assert_eq!(evaluate(&shuffled, now), first);
        // Events stamped after `now` (a device clock ahead) are not seen yet.
        let mut ahead = facts.clone();
        ahead.events.push(event("2026-11-28T14:03:00+08:00", "meal_eaten"));
        assert_eq!(evaluate(&ahead, now), first);
    }

    /// A day out: past the hall sensor at 10:30, back at 16:00.
    fn day_out(back: bool) -> Vec<ActivityEvent> {
        let mut day = vec![
            motion("2026-12-07T07:30:00+08:00", "bedroom"),
            door("2026-12-07T07:45:00+08:00", "appliance_on", "none", "kitchen"),
            motion("2026-12-07T07:50:00+08:00", "kitchen"),
            motion("2026-12-07T07:55:00+08:00", "kitchen"),
            motion("2026-12-07T10:29:00+08:00", "hall"),
            door("2026-12-07T10:30:00+08:00", "door_opened", "entrance", "hall"),
            door("2026-12-07T10:30:40+08:00", "door_closed", "entrance", "hall"),
        ];
        if back {
            day.push(door("2026-12-07T16:00:00+08:00", "door_opened", "entrance", "hall"));
            day.push(door("2026-12-07T16:00:30+08:00", "door_closed", "entrance", "hall"));
            day.push(motion("2026-12-07T16:01:00+08:00", "hall"));
        }
        day
    }

    #[test]
    fn a_day_out_raises_neither_inactivity_nor_a_missed_lunch() {
        let mut out = facts(Shanghai, day_out(true));
        out.since = ts("2026-12-07T00:00:00+08:00");
        for now in ["2026-12-07T14:00:00+08:00", "2026-12-07T15:59:00+08:00", "2026-12-07T16:30:00+08:00"] {
            let raised: Vec<_> = evaluate(&out, ts(now)).into_iter().filter(Decision::is_raise).collect();
            assert!(raised.is_empty(), "{now}: {raised:?}");
        }
        // Eating out not counted: her lunch is missed.
        out.settings.presence.eating_out = false;
        let lunch = of(AlertKind::MissedMeal, &out, "2026-12-07T16:30:00+08:00");
        assert_eq!(lunch, [raise(AlertKind::MissedMeal, "lunch:2026-12-07", "2026-12-07T13:30:00+08:00")]);
    }

    #[test]
    fn a_collapse_in_the_hall_after_closing_the_door_from_inside_is_inactivity_on_time() {
        // The door opened for a delivery; she was never seen passing the hall
        // on the way out, closed it, and lay where the sensor does not see.
        let mut day = day_out(false);
        day.remove(4);
        let mut facts = facts(Shanghai, day);
        facts.since = ts("2026-12-07T00:00:00+08:00");
        let inactivity = of(AlertKind::Inactivity, &facts, "2026-12-07T14:00:00+08:00");
        let expected = [raise(AlertKind::Inactivity, "inactivity:2026-12-07T02:30:40Z", "2026-12-07T13:30:40+08:00")];
        assert_eq!(inactivity, expected);
    }

    #[test]
    fn not_back_by_the_evening_bound_raises_and_coming_in_clears() {
        let mut facts = facts(Shanghai, day_out(false));
        facts.since = ts("2026-12-07T00:00:00+08:00");
        assert!(of(AlertKind::NotReturned, &facts, "2026-12-07T21:59:00+08:00").is_empty());
        let cause = "not_returned:2026-12-07T02:30:40Z";
        assert_eq!(
            of(AlertKind::NotReturned, &facts, "2026-12-07T22:05:00+08:00"),
            [raise(AlertKind::NotReturned, cause, "2026-12-07T22:00:00+08:00")]
        );
        facts.events.push(door("2026-12-07T22:40:00+08:00", "door_opened", "entrance", "hall"));
        assert_eq!(
            of(AlertKind::NotReturned, &facts, "2026-12-07T22:45:00+08:00"),
            [
                raise(AlertKind::NotReturned, cause, "2026-12-07T22:00:00+08:00"),
                clear(AlertKind::NotReturned, cause, "2026-12-07T22:40:00+08:00")
            ]
        );
        // Out all evening, but no alert for the hours she was out: no
        // inactivity, no missed dinner.
        let raised: Vec<_> = evaluate(&facts, ts("2026-12-07T22:45:00+08:00"))
            .into_iter()
            .filter(|d| d.is_raise() && d.kind() != AlertKind::NotReturned)
            .collect();
        assert!(raised.is_empty(), "{raised:?}");
    }

    /// Any routine a history could teach: quiet spells, meal times, rising,
    /// outings, learned or not.
    fn any_routine() -> impl Strategy<Value = Routine> {
        let time = || (0u32..24, 0u32..60).prop_map(|(h, m)| LocalTime::hm(h, m));
        let spells = prop::collection::vec(prop::option::of(0i64..20 * 60), 4);
        (
            7usize..29,
            any::<bool>(),
            prop::option::of(time()),
            spells,
            prop::collection::vec(prop::option::of(time()), 3),
            (0usize..29, prop::option::of(time()), prop::option::of(time()), prop::option::of(time())),
            prop::collection::vec(prop::option::of(0i64..20 * 60), 0..25),
        )
            .prop_map(|(days, learned, rising, spells, meals, (days_out, earliest, latest, back), by_hour)| {
                use crate::rules::routine::{Outings, QuietSpell, UsualMeal};
                let parts = ["night", "morning", "afternoon", "evening"];
                Routine {
                    days,
                    learned,
                    rising,
                    bedtime: None,
                    meals: ["breakfast", "lunch", "dinner"]
                        .iter()
                        .zip(meals)
                        .map(|(meal, usual)| UsualMeal { meal: (*meal).into(), usual, days })
                        .collect(),
                    outings: Outings {
                        days_out,
                        usual_leave: earliest,
                        leave_earliest: earliest,
                        leave_latest: latest,
                        latest_return: back,
                    },
                    quiet_spells: parts
                        .iter()
                        .zip(spells)
                        .map(|(part, usual_max_minutes)| QuietSpell { part: (*part).into(), usual_max_minutes })
                        .collect(),
                    quiet_from_hour: by_hour,
                }
            })
    }

    proptest! {
        #[test]
        fn a_learned_inactivity_limit_lies_between_the_floor_and_the_setting(
            routine in any_routine(),
            hours in 0.25f64..12.0,
            floor in 0.25f64..12.0,
            margin in 0.0f64..120.0,
            from_minutes in 0i64..7 * 24 * 60,
            new_york: bool,
        ) {
            let mut settings = RuleSettings::default();
            settings.inactivity.hours = hours;
            settings.routine.inactivity_floor_hours = floor;
            settings.routine.inactivity_margin_minutes = margin;
            let tz = if new_york { New_York } else { Shanghai };
            let from = ts("2026-10-31T00:00:00Z") + Duration::minutes(from_minutes);
            let limit = inactivity_limit(&settings, Some(&routine), tz, from, false);
            let max = settings.inactivity.duration();
            // Never later than the configured safety maximum...
            prop_assert!(limit <= max, "{limit} > {max}");
            // ...and never sooner than the floor (or the maximum, if that is lower).
            prop_assert!(limit >= settings.routine.inactivity_floor().min(max), "{limit} under the floor");
            prop_assert_eq!(inactivity_limit(&settings, None, tz, from, false), max);
            prop_assert_eq!(inactivity_limit(&settings, Some(&routine), tz, from, true), max);
        }

        #[test]
        fn any_history_evaluates_without_panicking_idempotently(
            events in prop::collection::vec((0i64..48 * 60, 0usize..9, 0usize..4), 0..40),
            now_minutes in 0i64..60 * 60,
            away: bool,
            online: bool,
            new_york: bool,
            routine in prop::option::of(any_routine()),
        ) {
            let start = ts("2026-10-31T00:00:00Z");
            let kinds = ["motion", "door_opened", "door_closed", "bed_exit", "bed_enter", "appliance_on",
                         "meal_eaten", "sos_pressed", "water_leak"];
            let rooms = ["kitchen", "hall", "bedroom", "living_room"];
            let doors = ["entrance", "fridge", "entrance", "bathroom"];
            let events = events
                .into_iter()
                .map(|(minute, kind, place)| ActivityEvent {
                    ts: start + Duration::minutes(minute),
                    kind: kinds[kind].into(),
                    room: Some(rooms[place].into()),
                    door: Some(doors[place].into()),
                    appliance: Some("kettle".into()),
                })
                .collect();
            let mut facts = facts(if new_york { New_York } else { Shanghai }, events);
            facts.settings.away = away;
            facts.activity_sensors_online = online;
            facts.since = start;
            facts.routine = routine;
            let now = start + Duration::minutes(now_minutes);
            let decisions = evaluate(&facts, now);
            prop_assert_eq!(&evaluate(&facts, now), &decisions);
            // `unsure` suppresses nothing: the decisions are those of an
            // elder the rules never believe out, unless she was out.
            let mut never_out = facts.clone();
            never_out.settings.presence.out_after_minutes = 1e9;
            let refs: Vec<&ActivityEvent> = facts.events.iter().collect();
            let judged = home::Judged {
                visits: &facts.visits,
                out_after: facts.settings.presence.out_after(),
                hall_sensor: home::hall_sensor(&refs),
                no_hall: no_hall(&facts),
            };
            let was_out = home::periods(&refs, judged, now).iter().any(|p| p.presence == Presence::Out);
            // The family's presence check is what `unsure` adds, not a rule it suppresses.
            let judged_rules = |decisions: Vec<Decision>| -> Vec<Decision> {
                decisions.into_iter().filter(|d| d.kind() != AlertKind::PresenceCheck).collect()
            };
            // Her own (learned) inactivity limit is for her seen at home: a
            // spell begun unsure keeps the configured one, so there `unsure`
            // changes which limit applies, never whether the rule runs.
            let periods = home::periods(&refs, judged, now);
            for decision in &decisions {
                if let Decision::Raise { kind: AlertKind::Inactivity, details, .. } = decision
                    && details["learned"] == true
                {
                    let from: DateTime<Utc> = details["last_activity"].as_str().and_then(|t| t.parse().ok()).expect("from");
                    prop_assert_eq!(home::at(&periods, from).map(|p| p.presence), Some(Presence::In));
                }
            }
            let learns = super::learned(&facts).is_some();
            let compared = |decisions: Vec<Decision>| -> Vec<Decision> {
                judged_rules(decisions).into_iter().filter(|d| !learns || d.kind() != AlertKind::Inactivity).collect()
            };
            if !was_out {
                prop_assert_eq!(compared(evaluate(&never_out, now)), compared(decisions.clone()));
            } else {
                // Out takes away only what being out explains.
                let explained = [AlertKind::Inactivity, AlertKind::NoMorningActivity, AlertKind::MissedMeal,
                                 AlertKind::NotReturned, AlertKind::PresenceCheck];
                let other = |d: &Vec<Decision>| -> Vec<Decision> {
                    d.iter().filter(|d| !explained.contains(&d.kind())).cloned().collect()
                };
                prop_assert_eq!(other(&evaluate(&never_out, now)), other(&decisions));
            }
            for decision in &decisions {
                prop_assert!(decision.kind().is_behaviour());
                prop_assert!(decision.at() <= now);
                prop_assert!(!(away && decision.is_raise()));
                if decision.is_raise() {
                    prop_assert!(decision.at() > now - lookback() || decision.kind() == AlertKind::Inactivity);
                }
            }
        }
    }
}
