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
    /// Share of visits that are evening visits staying late (leaving 22:45
    /// to 23:30).
    pub late_visitors: f64,
    /// Chance that a fortnight holds the living room unused for two to six
    /// days: she sits in the bedroom, the living room's sensor is silent.
    pub unused_rooms: f64,
    /// Look-alike incidents, labelled as incidents. Chance that a day holds
    /// a collapse in the hall right after closing the front door from inside
    /// (a parcel taken in, a neighbour seen off), found hours later.
    pub hall_collapses: f64,
    /// Chance, on a day she comes back from an outing, that she falls in
    /// the hall on the way in, found hours later.
    pub falls_on_return: f64,
    /// Chance that a day holds an evening out she is not back from by
    /// 22:00 (back between 23:00 and midnight).
    pub not_returned: f64,
}

/// Labels a look-alike or a visitor does not replace: they last the day or
/// longer, whatever happens in it.
const LASTING: [&str; 4] = ["stopped_kettle", "skipped_cooking", "shifted_sleep", "room_unused"];

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
    /// The living room unused.
    unused: Option<Span>,
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
    // A home without a hall sensor has none to die.
    if has_dead && (profile.hall_sensor || room != Room::Hall) {
        let from = clock::local_instant(tz, day(dead_day), dead_at);
        out.dead = Some((Span { from, until: from + Duration::days(dead_days) }, DeviceRole::Motion(room)));
    }
    // Drawn after the others: a new rate reshuffles none of the older spans.
    let has_unused = chance(&mut rng, c.unused_rooms);
    let (unused_day, unused_days) = (range(&mut rng, 0, BLOCK_DAYS - 1), range(&mut rng, 2, 6));
    if has_unused {
        let from = clock::day_bounds(tz, day(unused_day)).0;
        let until = clock::day_bounds(tz, day(unused_day + unused_days - 1)).1;
        out.unused = Some(Span { from, until });
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

/// The sensor that died at `died`, and when it speaks again, if one did.
pub(crate) fn died_at(
    seed: u64,
    profile: &ResidentProfile,
    c: &Confounders,
    died: DateTime<Utc>,
) -> Option<(DeviceRole, DateTime<Utc>)> {
    fortnights_around(seed, profile, c, clock::local_date(profile.timezone, died))
        .into_iter()
        .filter_map(|f| f.dead)
        .find(|(span, _)| span.from == died)
        .map(|(span, role)| (role, span.until))
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
        plan.labels.retain(|l| l.incident || LASTING.contains(&l.kind) || l.from < span.from || l.from >= span.until);
        let tz = profile.timezone;
        let nights = (clock::local_date(tz, span.until) - clock::local_date(tz, span.from)).num_days();
        let how = if recorded { "recorded as away" } else { "nobody recorded it" };
        plan.labels.push(label("holiday", span, format!("away {nights} nights, {how}"), false, Some(recorded)));
        return Some((span.from.max(start), span.until.min(end)));
    }
    // The living room unused: she sits in the bedroom instead.
    if let Some(span) = fortnights.iter().find_map(|f| f.unused.filter(|s| s.touches(start, end))) {
        plan.relocate(span.from, span.until, Room::LivingRoom, Place::Room(Room::Bedroom), None);
        let detail =
            format!("living_room unused {} days, she sits in the bedroom", (span.until - span.from).num_days());
        plan.labels.push(label("room_unused", span, detail, false, None));
    }
    let (visit, lie) = (chance(&mut rng, c.visitors), chance(&mut rng, c.long_lies));
    // The look-alikes draw from their own stream: new rates reshuffle none
    // of the older confounders.
    let mut look =
        seeds::rng(seed, &profile.key, i64::from(chrono::Datelike::num_days_from_ce(&date)), Stream::LookAlikes);
    let (collapse, fall, gone) =
        (chance(&mut look, c.hall_collapses), chance(&mut look, c.falls_on_return), chance(&mut look, c.not_returned));
    let clear = |span: &Span| !incidents.iter().any(|&(a, b)| span.from < b && span.until > a);
    let mut placed: Option<Placed> = None;
    if visit && let Some((span, detail)) = visitor(plan, profile, date, &mut rng, c.late_visitors, clear) {
        placed = Some((span, vec![label("visitor", span, detail, false, None)]));
    }
    // Nobody lies on the floor for hours with a visitor in the house.
    if lie
        && !visit
        && let Some((span, detail)) = long_lie(plan, profile, date, &mut rng, clear)
    {
        placed = Some((span, vec![label("long_lie", span, detail, true, None)]));
    }
    // At most one look-alike a day, and none with a visitor or a long lie.
    if placed.is_none() && gone {
        placed = not_returned(plan, profile, date, &mut look, clear);
    }
    if placed.is_none() && fall {
        placed = fall_on_return(plan, &mut look, clear);
    }
    if placed.is_none() && collapse {
        placed = hall_collapse(plan, profile, date, &mut look, clear);
    }
    if let Some((cover, labels)) = placed {
        // The nap or the outing it replaced did not happen.
        plan.labels
            .retain(|l| l.incident || LASTING.contains(&l.kind) || l.until <= cover.from || l.from >= cover.until);
        plan.labels.extend(labels);
    }
    // Broken, or tea made elsewhere: a visitor's cup included.
    if fortnights.iter().any(|f| f.kettle.is_some_and(|s| s.touches(start, end))) {
        plan.actions.retain(|a| !matches!(a.action, Action::Kettle { .. }));
    }
    None
}

/// What a visitor or a look-alike covers of the day, and its labels.
type Placed = (Span, Vec<Label>);

fn hm(s: i64) -> String {
    format!("{:02}:{:02}", s / HOUR, s % HOUR / MIN)
}

fn seg(start: DateTime<Utc>, end: DateTime<Utc>, room: Room, activity: Activity) -> Segment {
    Segment { start, end, place: Place::Room(room), activity }
}

fn incident_label(kind: &'static str, from: DateTime<Utc>, until: DateTime<Utc>, detail: String) -> Label {
    Label { kind, from, until, detail, incident: true, recorded: None }
}

/// Answering the door (a parcel, a neighbour): in the hall while it stands
/// open one to four minutes, then, the door closed from inside, collapsed
/// there; nothing moves until she is found three and a half to five hours
/// later. To the door sensor it is walking out.
fn hall_collapse(
    plan: &mut DayPlan,
    profile: &ResidentProfile,
    date: NaiveDate,
    rng: &mut StdRng,
    clear: impl Fn(&Span) -> bool,
) -> Option<Placed> {
    let tz = profile.timezone;
    let at = |secs: i64| clock::local_instant(tz, date, secs);
    let wake = secs(profile.habits.wake);
    let open = range(rng, (wake + 2 * HOUR).max(9 * HOUR + 30 * MIN), 17 * HOUR + 30 * MIN);
    let stay = range(rng, 60, 240);
    let lie = range(rng, 210, 300) * MIN;
    let close = open + stay;
    let found = close + 5 + lie;
    // At home and up when the bell rings.
    if !matches!(plan.segment_at(at(open - 60)).map(|s| s.place), Some(Place::Room(_))) {
        return None;
    }
    let cover = Span { from: at(open - 45), until: at(found + 10 * MIN) };
    if !clear(&cover) {
        return None;
    }
    plan.overlay(vec![
        seg(at(open - 45), at(close + 5), Room::Hall, Activity::Active),
        seg(at(close + 5), at(found), Room::Hall, Activity::Fallen),
        seg(at(found), at(found + 10 * MIN), Room::Hall, Activity::Active),
    ]);
    plan.actions.retain(|a| a.at < cover.from || a.at >= at(found));
    plan.incident_action(at(open), Action::EntranceDoor { open_secs: stay });
    let detail = format!(
        "door answered {} for {stay}s, closed from inside, collapsed in the hall, found {} ({} min)",
        hm(open),
        hm(found),
        lie / MIN
    );
    Some((cover, vec![incident_label("hall_collapse", at(close), at(found), detail)]))
}

/// Back from the day's last outing (in the daytime): the door, a few steps in the hall, and
/// a fall there; nothing moves until she is found three and a half to five
/// hours later.
fn fall_on_return(plan: &mut DayPlan, rng: &mut StdRng, clear: impl Fn(&Span) -> bool) -> Option<Placed> {
    // Back from a daytime outing, not from a night out of the door.
    let day_end = plan.start + Duration::hours(20);
    let back = plan
        .segments
        .windows(2)
        .rev()
        .find(|w| w[0].place == Place::Away && w[1].place == Place::Room(Room::Hall) && w[1].start < day_end)
        .map(|w| w[1].start)
        .filter(|&back| back >= plan.start + Duration::hours(8))?;
    let s = Duration::seconds;
    let fall = back + s(range(rng, 20, 60));
    let lie = range(rng, 210, 300);
    let found = fall + Duration::minutes(lie);
    let cover = Span { from: back, until: found + Duration::minutes(10) };
    if !clear(&cover) {
        return None;
    }
    plan.overlay(vec![
        seg(back, fall, Room::Hall, Activity::Active),
        seg(fall, found, Room::Hall, Activity::Fallen),
        seg(found, found + Duration::minutes(10), Room::Hall, Activity::Active),
    ]);
    plan.actions.retain(|a| a.at < back || a.at >= found);
    let detail = format!("fell in the hall coming back in, found after {lie} min");
    Some((cover, vec![incident_label("fall_on_return", fall, found, detail)]))
}

/// Out in the afternoon or the evening and not back by 22:00: back between
/// 23:00 and midnight (brought home). The outing until 22:00 is ordinary
/// life; from 22:00 it is the incident.
fn not_returned(
    plan: &mut DayPlan,
    profile: &ResidentProfile,
    date: NaiveDate,
    rng: &mut StdRng,
    clear: impl Fn(&Span) -> bool,
) -> Option<Placed> {
    let tz = profile.timezone;
    let at = |secs: i64| clock::local_instant(tz, date, secs);
    let mut leave = range(rng, 15 * HOUR, 19 * HOUR + 30 * MIN);
    let back = range(rng, 23 * HOUR, 23 * HOUR + 50 * MIN);
    let shoes = range(rng, 60, 180);
    // Out already then: she goes again after coming back.
    if let Some(s) = plan.segment_at(at(leave)).filter(|s| s.place == Place::Away) {
        leave = (s.end - at(0)).num_seconds() + 20 * MIN;
    }
    if leave > 20 * HOUR || !matches!(plan.segment_at(at(leave - shoes)).map(|s| s.place), Some(Place::Room(_))) {
        return None;
    }
    let cover = Span { from: at(leave - shoes), until: at(back + 8 * MIN) };
    if !clear(&cover) {
        return None;
    }
    plan.overlay(vec![
        seg(at(leave - shoes), at(leave), Room::Hall, Activity::Active),
        Segment { start: at(leave), end: at(back), place: Place::Away, activity: Activity::Walk },
        seg(at(back), at(back + 90), Room::Hall, Activity::Active),
        seg(at(back + 90), at(back + 8 * MIN), Room::Bedroom, Activity::Active),
    ]);
    plan.actions.retain(|a| a.at < cover.from || a.at >= at(back));
    let outing = Label {
        kind: "outing",
        from: at(leave),
        until: at(22 * HOUR),
        detail: format!("out {} for the evening, not back by 22:00", hm(leave)),
        incident: false,
        recorded: None,
    };
    let detail = format!("out since {}, not back by 22:00, back {}", hm(leave), hm(back));
    Some((cover, vec![outing, incident_label("not_returned", at(22 * HOUR), at(back), detail)]))
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
    late_share: f64,
    clear: impl Fn(&Span) -> bool,
) -> Option<(Span, String)> {
    let tz = profile.timezone;
    let lunch_end = profile.meal_window(Meal::Lunch).map_or(14 * HOUR, |w| secs(w.end));
    let dinner_start = profile.meal_window(Meal::Dinner).map_or(17 * HOUR, |w| secs(w.start));
    let dinner_end = profile.meal_window(Meal::Dinner).map_or(19 * HOUR, |w| secs(w.end));
    let evening = rng.random_bool(0.35);
    // Drawn only when asked for: the older visits stay as they were.
    let late = late_share > 0.0 && rng.random_bool(late_share.min(1.0));
    let evening = evening || late;
    let (arrive, leave) = if evening {
        let arrive = range(rng, dinner_end.max(18 * HOUR + 30 * MIN), 20 * HOUR);
        let leave = range(rng, 21 * HOUR + 30 * MIN, 23 * HOUR);
        (arrive, if late { range(rng, 22 * HOUR + 45 * MIN, 23 * HOUR + 30 * MIN) } else { leave })
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
    let when = if late {
        "late evening"
    } else if evening {
        "evening"
    } else {
        "afternoon"
    };
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
