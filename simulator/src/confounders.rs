//! Ordinary life that fools monitoring rules, and trouble that no device
//! reports, written into a resident's days: a visitor's afternoon or
//! evening, a holiday away, a kettle nobody uses any more, a long lie on the
//! floor with no alarm, a motion sensor that dies.
//!
//! All of it is off unless asked for ([`Confounders`] rates of 0), so every
//! other use of the generator is unchanged. Spans of several days are drawn
//! per fortnight of the calendar (from their own random stream keyed by the
//! fortnight), so a day knows whether it is inside one whatever range is
//! generated around it. A span is labelled on every day it touches (the
//! generator keeps one), so a range that starts inside it still names it.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::RngExt;
use rand::rngs::StdRng;

use crate::clock;
use crate::model::{DeviceRole, Meal, ResidentProfile, Room};
use crate::plan::{Action, Activity, DayPlan, Label, Place, Segment};
use crate::seeds::{self, Stream};

const MIN: i64 = 60;
const HOUR: i64 = 3600;
/// Multi-day spans are drawn per block of this many days.
const BLOCK_DAYS: i64 = 14;

/// How often each thing happens; all 0 by default.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Confounders {
    /// Chance that a day has a visitor for the afternoon or the evening.
    pub visitors: f64,
    /// Chance that a fortnight holds a holiday away (two to seven nights).
    pub holidays: f64,
    /// Share of holidays nobody records as "away".
    pub unrecorded_holidays: f64,
    /// Chance that a fortnight holds a stopped kettle (three to ten days
    /// without it, meals going on).
    pub stopped_kettles: f64,
    /// Chance that a fortnight holds a motion sensor dying (silent for two
    /// to seven days).
    pub sensor_deaths: f64,
    /// Chance that a day holds a long lie: on the floor for two and a half
    /// to five hours, and no alarm (the watch off the wrist).
    pub long_lies: f64,
}

impl Confounders {
    pub fn any(&self) -> bool {
        *self != Confounders::default()
    }
}

/// A labelled span of a resident's days (see `plan::Label`), for scoring.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelRecord {
    pub resident: String,
    /// `long_nap`, `long_outing`, `visitor`, `holiday`, `stopped_kettle`;
    /// incidents: `long_lie`, `sensor_dead`.
    pub kind: &'static str,
    pub at: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub detail: String,
    /// An incident the rules should catch, rather than ordinary life.
    pub incident: bool,
    /// A holiday: whether the family recorded it as "away".
    pub recorded: Option<bool>,
}

/// A span of whole or part days: from an instant to an instant.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Span {
    from: DateTime<Utc>,
    until: DateTime<Utc>,
}

impl Span {
    fn touches(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        self.from < end && self.until > start
    }
}

/// The multi-day spans drawn for one fortnight of one resident.
#[derive(Debug, Clone, Default)]
struct Fortnight {
    holiday: Option<(Span, bool)>,
    kettle: Option<Span>,
    dead: Option<(Span, DeviceRole)>,
}

fn block_of(date: NaiveDate) -> i64 {
    i64::from(chrono::Datelike::num_days_from_ce(&date)).div_euclid(BLOCK_DAYS)
}

fn block_start(block: i64) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt((block * BLOCK_DAYS) as i32).unwrap_or(NaiveDate::MIN)
}

/// True with probability `p`, always drawing once (`random_bool` draws
/// nothing for 0 or 1, which would shift every later draw of the stream and
/// make one rate reshuffle another's spans).
fn chance(rng: &mut StdRng, p: f64) -> bool {
    rng.random::<f64>() < p
}

fn range(rng: &mut StdRng, lo: i64, hi: i64) -> i64 {
    if hi <= lo { lo } else { rng.random_range(lo..=hi) }
}

/// The motion sensors that may die, the kitchen's most often: the one that
/// meal rules lean on.
const DYING: [(Room, u32); 4] = [(Room::Kitchen, 4), (Room::LivingRoom, 2), (Room::Bedroom, 1), (Room::Hall, 1)];

fn fortnight(seed: u64, profile: &ResidentProfile, c: &Confounders, block: i64) -> Fortnight {
    let mut rng = seeds::rng(seed, &profile.key, block, Stream::Fortnight);
    let tz = profile.timezone;
    let first = block_start(block);
    let day = |offset: i64| first + Duration::days(offset);
    let mut out = Fortnight::default();
    // Every draw is made whatever the rates, so one rate does not reshuffle
    // another's spans.
    let (has_holiday, recorded) = (chance(&mut rng, c.holidays), !chance(&mut rng, c.unrecorded_holidays));
    let nights = range(&mut rng, 2, 7);
    let leave_day = range(&mut rng, 0, BLOCK_DAYS - 1 - nights);
    let (leave, back) =
        (range(&mut rng, 9 * HOUR + 30 * MIN, 11 * HOUR + 30 * MIN), range(&mut rng, 14 * HOUR, 17 * HOUR));
    if has_holiday {
        let from = clock::local_instant(tz, day(leave_day), leave);
        let until = clock::local_instant(tz, day(leave_day + nights), back);
        out.holiday = Some((Span { from, until }, recorded));
    }
    let has_kettle = chance(&mut rng, c.stopped_kettles);
    let (kettle_day, kettle_days) = (range(&mut rng, 0, BLOCK_DAYS - 1), range(&mut rng, 3, 10));
    if has_kettle {
        let from = clock::day_bounds(tz, day(kettle_day)).0;
        let until = clock::day_bounds(tz, day(kettle_day + kettle_days - 1)).1;
        out.kettle = Some(Span { from, until });
    }
    let has_dead = chance(&mut rng, c.sensor_deaths);
    let (dead_day, dead_days, dead_at) =
        (range(&mut rng, 0, BLOCK_DAYS - 1), range(&mut rng, 2, 7), range(&mut rng, 0, 24 * HOUR - 1));
    let total: u32 = DYING.iter().map(|d| d.1).sum();
    let mut pick = rng.random_range(0..total);
    let room = DYING
        .iter()
        .find(|(_, w)| {
            if pick < *w {
                true
            } else {
                pick -= w;
                false
            }
        })
        .map_or(Room::Kitchen, |d| d.0);
    if has_dead {
        let from = clock::local_instant(tz, day(dead_day), dead_at);
        out.dead = Some((Span { from, until: from + Duration::days(dead_days) }, DeviceRole::Motion(room)));
    }
    out
}

/// The fortnights whose spans may touch `date` (this one and the one before).
fn fortnights_around(seed: u64, profile: &ResidentProfile, c: &Confounders, date: NaiveDate) -> [Fortnight; 2] {
    let block = block_of(date);
    [fortnight(seed, profile, c, block - 1), fortnight(seed, profile, c, block)]
}

/// When a dead sensor is silent: its role and the span, if one touches the day.
pub(crate) fn dead_sensor(
    seed: u64,
    profile: &ResidentProfile,
    c: &Confounders,
    date: NaiveDate,
) -> Option<(DeviceRole, DateTime<Utc>, DateTime<Utc>)> {
    let (start, end) = clock::day_bounds(profile.timezone, date);
    fortnights_around(seed, profile, c, date)
        .into_iter()
        .filter_map(|f| f.dead)
        .find(|(span, _)| span.touches(start, end))
        .map(|(span, role)| (role, span.from, span.until))
}

/// Writes the day's confounders into its plan, after the routine and the
/// incidents: a holiday empties the house (and drops the incidents it
/// covers), otherwise a visitor, a long lie, a stopped kettle. A visitor or
/// a long lie never overlaps `incidents` (the spans of the day's incidents):
/// it would rewrite what the incident's label says happened. Returns the
/// span the resident was away, if any, so the caller can drop incident
/// records inside it.
pub(crate) fn apply(
    seed: u64,
    plan: &mut DayPlan,
    profile: &ResidentProfile,
    c: &Confounders,
    date: NaiveDate,
    incidents: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    if !c.any() {
        return None;
    }
    let (start, end) = (plan.start, plan.end);
    let label = |kind, span: Span, detail: String, incident, recorded| Label {
        kind,
        from: span.from,
        until: span.until,
        detail,
        incident,
        recorded,
    };
    let fortnights = fortnights_around(seed, profile, c, date);
    for f in &fortnights {
        if let Some((span, role)) = f.dead
            && span.touches(start, end)
        {
            let detail = format!("{} silent {} days", role.suffix(), (span.until - span.from).num_days());
            plan.labels.push(label("sensor_dead", span, detail, true, None));
        }
        if let Some(span) = f.kettle.filter(|s| s.touches(start, end)) {
            let detail = format!("kettle unused {} days", (span.until - span.from).num_days());
            plan.labels.push(label("stopped_kettle", span, detail, false, None));
        }
    }
    let mut rng =
        seeds::rng(seed, &profile.key, i64::from(chrono::Datelike::num_days_from_ce(&date)), Stream::Confounders);
    if let Some((span, recorded)) = fortnights.iter().find_map(|f| f.holiday.filter(|(s, _)| s.touches(start, end))) {
        holiday(plan, span);
        // The day's nap or afternoon out did not happen at home.
        plan.labels.retain(|l| l.incident || l.kind == "stopped_kettle" || l.from < span.from || l.from >= span.until);
        let tz = profile.timezone;
        let nights = (clock::local_date(tz, span.until) - clock::local_date(tz, span.from)).num_days();
        let how = if recorded { "recorded as away" } else { "nobody recorded it" };
        plan.labels.push(label("holiday", span, format!("away {nights} nights, {how}"), false, Some(recorded)));
        return Some((span.from.max(start), span.until.min(end)));
    }
    let (visit, lie) = (chance(&mut rng, c.visitors), chance(&mut rng, c.long_lies));
    let clear = |span: &Span| !incidents.iter().any(|&(a, b)| span.from < b && span.until > a);
    let mut placed = None;
    if visit && let Some((span, detail)) = visitor(plan, profile, date, &mut rng, clear) {
        placed = Some(label("visitor", span, detail, false, None));
    }
    // Nobody lies on the floor for hours with a visitor in the house.
    if lie
        && !visit
        && let Some((span, detail)) = long_lie(plan, profile, date, &mut rng, clear)
    {
        placed = Some(label("long_lie", span, detail, true, None));
    }
    if let Some(placed) = placed {
        // The nap or the afternoon out it replaced did not happen.
        plan.labels.retain(|l| l.incident || l.until <= placed.from || l.from >= placed.until);
        plan.labels.push(placed);
    }
    // Broken, or tea made elsewhere: a visitor's cup included.
    if fortnights.iter().any(|f| f.kettle.is_some_and(|s| s.touches(start, end))) {
        plan.actions.retain(|a| !matches!(a.action, Action::Kettle { .. }));
    }
    None
}

/// The house empty from the departure through the front door until the
/// return through it.
fn holiday(plan: &mut DayPlan, span: Span) {
    let (from, until) = (span.from.max(plan.start), span.until.min(plan.end));
    let s = Duration::seconds;
    let mut timeline = Vec::new();
    if span.from >= plan.start {
        timeline.push(Segment {
            start: from - s(150),
            end: from,
            place: Place::Room(Room::Hall),
            activity: Activity::Active,
        });
    }
    timeline.push(Segment { start: from, end: until, place: Place::Away, activity: Activity::Walk });
    if span.until <= plan.end {
        timeline.push(Segment {
            start: until,
            end: until + s(120),
            place: Place::Room(Room::Hall),
            activity: Activity::Active,
        });
    }
    plan.overlay(timeline);
    plan.actions.retain(|a| a.at < from || a.at >= until);
}

/// A visitor: the door, company and tea in the living room and kitchen,
/// the door again when they leave, in the afternoon or, one visit in three,
/// the evening (leaving as late as eleven).
fn visitor(
    plan: &mut DayPlan,
    profile: &ResidentProfile,
    date: NaiveDate,
    rng: &mut StdRng,
    clear: impl Fn(&Span) -> bool,
) -> Option<(Span, String)> {
    let tz = profile.timezone;
    let lunch_end = profile.meal_window(Meal::Lunch).map_or(14 * HOUR, |w| secs(w.end));
    let dinner_start = profile.meal_window(Meal::Dinner).map_or(17 * HOUR, |w| secs(w.start));
    let dinner_end = profile.meal_window(Meal::Dinner).map_or(19 * HOUR, |w| secs(w.end));
    let evening = rng.random_bool(0.35);
    let (arrive, leave) = if evening {
        let arrive = range(rng, dinner_end.max(18 * HOUR + 30 * MIN), 20 * HOUR);
        (arrive, range(rng, 21 * HOUR + 30 * MIN, 23 * HOUR))
    } else {
        // Gone before dinner: the routine's dinner stays as it was.
        let arrive = range(rng, lunch_end + 15 * MIN, lunch_end + 75 * MIN);
        (arrive, (arrive + range(rng, 90 * MIN, 180 * MIN)).min(dinner_start - 10 * MIN).max(arrive + 45 * MIN))
    };
    let at = |secs: i64| clock::local_instant(tz, date, secs);
    let span = Span { from: at(arrive - 90), until: at(leave + 10 * MIN) };
    if !clear(&span) {
        return None;
    }
    let seg = |start, end, room, activity| Segment { start, end, place: Place::Room(room), activity };
    let mut timeline = vec![seg(at(arrive - 90), at(arrive + 120), Room::Hall, Activity::Active)];
    let mut t = arrive + 120;
    let mut kettle_done = false;
    while t < leave - 3 * MIN {
        let (room, lo, hi) = if timeline.len() % 3 == 2 {
            (Room::Kitchen, 6 * MIN, 15 * MIN)
        } else {
            (Room::LivingRoom, 15 * MIN, 35 * MIN)
        };
        let next = (t + range(rng, lo, hi)).min(leave - 3 * MIN);
        timeline.push(seg(at(t), at(next), room, Activity::Active));
        if room == Room::Kitchen && !kettle_done {
            plan.incident_action(at(t + range(rng, 30, 120)), Action::Kettle { on_secs: range(rng, 150, 230) });
            plan.incident_action(at(t + range(rng, 60, 200)), Action::FridgeOpen { open_secs: range(rng, 10, 30) });
            kettle_done = true;
        }
        t = next;
    }
    timeline.push(seg(at(leave - 3 * MIN), at(leave + 90), Room::Hall, Activity::Active));
    let after = if evening { Room::Bedroom } else { Room::LivingRoom };
    timeline.push(seg(at(leave + 90), at(leave + 90 + range(rng, 3 * MIN, 8 * MIN)), after, Activity::Active));
    plan.overlay(timeline);
    plan.incident_action(at(arrive), Action::EntranceDoor { open_secs: range(rng, 15, 40) });
    plan.incident_action(at(leave), Action::EntranceDoor { open_secs: range(rng, 15, 40) });
    let when = if evening { "evening" } else { "afternoon" };
    let hm = |s: i64| format!("{:02}:{:02}", s / HOUR, s % HOUR / MIN);
    Some((Span { from: at(arrive), until: at(leave) }, format!("{when} visitor {}-{}", hm(arrive), hm(leave))))
}

/// On the floor for hours in the day, where the routine had the resident,
/// and no alarm from the watch: only the silence shows.
fn long_lie(
    plan: &mut DayPlan,
    profile: &ResidentProfile,
    date: NaiveDate,
    rng: &mut StdRng,
    clear: impl Fn(&Span) -> bool,
) -> Option<(Span, String)> {
    let wake = secs(profile.habits.wake);
    let bed = secs(profile.habits.bedtime);
    let at = clock::local_instant(
        profile.timezone,
        date,
        range(rng, wake + 2 * HOUR, (bed - 5 * HOUR).max(wake + 2 * HOUR)),
    );
    let minutes = range(rng, 150, 300);
    let until = at + Duration::minutes(minutes);
    // An hour either side: the quiet before and after is the lie's too.
    if !clear(&Span { from: at - Duration::hours(1), until: until + Duration::hours(1) }) {
        return None;
    }
    let room = match plan.segment_at(at).map(|s| s.place) {
        Some(Place::Room(r)) => r,
        _ => Room::LivingRoom,
    };
    plan.overlay(vec![Segment { start: at, end: until, place: Place::Room(room), activity: Activity::Fallen }]);
    plan.actions.retain(|a| a.at < at || a.at >= until);
    Some((Span { from: at, until }, format!("on the {} floor {minutes} min, no alarm", room.as_str())))
}

fn secs(t: chrono::NaiveTime) -> i64 {
    i64::from(chrono::Timelike::num_seconds_from_midnight(&t))
}
