//! A normal day of one resident: wake, wash, meals in their windows, medication,
//! naps, an outing or afternoon tea, the evening, bed, and night bathroom trips.
//! Written in the resident's local time, varied by the day's random stream.

use chrono::{NaiveDate, NaiveTime, Timelike};
use rand::RngExt;
use rand::rngs::StdRng;

use crate::clock;
use crate::model::{HealthMonitor, Meal, MealWindow, ResidentProfile, Room};
use crate::plan::{Action, Activity, DayPlan, Label, Place, Segment};

const MIN: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;
/// Irregular outings are back by this local time, for dinner.
const OUTINGS_END: i64 = 18 * HOUR + 45 * MIN;

fn secs(t: NaiveTime) -> i64 {
    i64::from(t.num_seconds_from_midnight())
}

/// Builds the day in local seconds since midnight, then converts it to instants.
struct Builder<'a> {
    rng: &'a mut StdRng,
    profile: &'a ResidentProfile,
    segments: Vec<(i64, Place, Activity)>,
    actions: Vec<(i64, Action)>,
    cursor: i64,
    place: Place,
    /// Confounders of the day, in local seconds: kind, from, to, detail.
    labels: Vec<(&'static str, i64, i64, String)>,
    /// A day of cold food: brief kitchen visits, no cooking.
    cold: bool,
}

impl<'a> Builder<'a> {
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo { lo } else { self.rng.random_range(lo..=hi) }
    }

    /// Spends `dur` seconds at `place` doing `activity` from the cursor on.
    fn stay(&mut self, place: Place, activity: Activity, dur: i64) {
        if dur <= 0 {
            return;
        }
        self.segments.push((self.cursor, place, activity));
        self.cursor += dur;
        self.place = place;
    }

    /// Stays at `place` until local second `until` (no-op if already past it).
    fn stay_until(&mut self, place: Place, activity: Activity, until: i64) {
        let dur = until - self.cursor;
        self.stay(place, activity, dur);
    }

    fn act(&mut self, at: i64, action: Action) {
        self.actions.push((at, action));
    }

    /// Walks to `room`, through the hall unless starting or ending there.
    fn walk_to(&mut self, room: Room) {
        if self.place == Place::Room(room) {
            return;
        }
        let here = match self.place {
            Place::Room(r) => r,
            Place::Bed => Room::Bedroom,
            Place::Away => Room::Hall,
        };
        if self.place == Place::Bed {
            let d = self.range(15, 40);
            self.stay(Place::Room(Room::Bedroom), Activity::Active, d);
            if room == Room::Bedroom {
                return;
            }
        }
        if room != Room::Hall && here != Room::Hall {
            let d = self.range(10, 25);
            self.stay(Place::Room(Room::Hall), Activity::Transit, d);
        }
        let d = self.range(5, 15);
        self.stay(Place::Room(room), Activity::Transit, d);
    }

    fn bathroom_visit(&mut self, lo: i64, hi: i64) {
        self.walk_to(Room::Bathroom);
        let d = self.range(lo, hi);
        self.stay(Place::Room(Room::Bathroom), Activity::Active, d);
    }

    fn night_trip(&mut self, at: i64) {
        self.stay_until(Place::Bed, Activity::Sleep, at);
        self.bathroom_visit(2 * MIN, 6 * MIN);
        self.walk_to(Room::Bedroom);
        let d = self.range(15, 40);
        self.stay(Place::Room(Room::Bedroom), Activity::Active, d);
    }

    /// Living-room time until `until`, with a bathroom visit every couple of hours.
    fn living_until(&mut self, until: i64) {
        while until - self.cursor > 20 * MIN {
            self.walk_to(Room::LivingRoom);
            let block = self.range(60 * MIN, 150 * MIN).min(until - self.cursor - 10 * MIN);
            self.stay(Place::Room(Room::LivingRoom), Activity::Seated, block);
            if until - self.cursor > 25 * MIN {
                self.bathroom_visit(2 * MIN, 5 * MIN);
            }
        }
        self.walk_to(Room::LivingRoom);
        self.stay_until(Place::Room(Room::LivingRoom), Activity::Seated, until);
    }

    /// A meal fully inside its window: preparation, eating, tidying up.
    fn meal(&mut self, window: MealWindow, target: i64) {
        let (w_start, w_end) = (secs(window.start) + 2 * MIN, secs(window.end) - 2 * MIN);
        let service = window.meal == Meal::Lunch && self.profile.habits.meal_service;
        let prep = if service { self.range(2 * MIN, 4 * MIN) } else { self.range(5 * MIN, 12 * MIN) };
        let eat = self.range(10 * MIN, 22 * MIN);
        let tidy = self.range(2 * MIN, 4 * MIN);
        // Walking to the kitchen takes under a minute; arrive inside the window.
        let start = target.max(self.cursor + MIN).max(w_start + MIN);
        if w_end - start < 12 * MIN {
            return;
        }
        if self.cold && !service {
            self.cold_meal(window, start);
            return;
        }
        self.living_until(start - MIN);
        self.walk_to(Room::Kitchen);
        self.stay_until(Place::Room(Room::Kitchen), Activity::Active, start.max(self.cursor));
        let kitchen_from = self.cursor;
        let room_left = w_end - kitchen_from;
        let prep = prep.min(room_left / 4);
        let eat = eat.min(room_left - prep - tidy);
        if service {
            self.act(kitchen_from + 20, Action::MealServed(window.meal));
        }
        let fridge_at = kitchen_from + self.range(20, 90);
        let open_secs = self.range(15, 60);
        self.act(fridge_at, Action::FridgeOpen { open_secs });
        let kettle = match window.meal {
            Meal::Breakfast => self.rng.random_bool(0.85),
            Meal::Lunch => !service && self.rng.random_bool(0.2),
            Meal::Dinner => self.rng.random_bool(0.4),
        };
        if kettle {
            let at = kitchen_from + self.range(60, 150);
            let on_secs = self.range(150, 240);
            self.act(at, Action::Kettle { on_secs });
        }
        self.stay(Place::Room(Room::Kitchen), Activity::Active, prep);
        self.stay(Place::Room(Room::Kitchen), Activity::Seated, eat);
        let done = self.cursor;
        if service {
            self.act(done - 30, Action::MealEaten(window.meal));
        }
        self.medication_after(window.meal, done);
        if self.rng.random_bool(0.4) {
            let at = done + self.range(30, 90);
            let open_secs = self.range(10, 30);
            self.act(at, Action::FridgeOpen { open_secs });
        }
        self.stay(Place::Room(Room::Kitchen), Activity::Active, tidy);
    }

    /// The meal's pills, taken at `done` (one dose in fifty is forgotten).
    fn medication_after(&mut self, meal: Meal, done: i64) {
        let slot = match meal {
            Meal::Breakfast => Some("morning"),
            Meal::Lunch if self.profile.habits.midday_medication => Some("noon"),
            Meal::Lunch => None,
            Meal::Dinner => Some("evening"),
        };
        if let Some(slot) = slot
            && !self.rng.random_bool(0.02)
        {
            self.act(done + 20, Action::Medication { slot });
        }
    }

    /// Cold food instead of cooking: a minute or two in the kitchen (the
    /// fridge, most times), eaten in the living room.
    fn cold_meal(&mut self, window: MealWindow, start: i64) {
        self.living_until(start - MIN);
        self.walk_to(Room::Kitchen);
        let kitchen_from = self.cursor;
        if self.rng.random_bool(0.6) {
            let at = kitchen_from + self.range(10, 40);
            let open_secs = self.range(10, 30);
            self.act(at, Action::FridgeOpen { open_secs });
        }
        let grab = self.range(40, 150);
        self.stay(Place::Room(Room::Kitchen), Activity::Active, grab);
        let done = self.cursor;
        self.medication_after(window.meal, done);
        self.walk_to(Room::LivingRoom);
        let eat = self.range(10 * MIN, 20 * MIN);
        self.stay(Place::Room(Room::LivingRoom), Activity::Seated, eat);
    }

    /// Out through the front door at `leave` (or now, if later) for `dur`:
    /// shoes and coat in the hall, the door, nothing indoors, then the door
    /// and the hall again. Back by `latest` at the latest; an outing that
    /// would be shorter than 40 minutes does not happen.
    fn go_out(&mut self, leave: i64, dur: i64, latest: i64, what: &str) {
        let shoes = self.range(60, 180);
        self.living_until(leave - shoes - MIN);
        let leave = self.cursor + MIN + shoes;
        let back = (leave + dur).min(latest);
        if back - leave < 40 * MIN {
            return;
        }
        self.walk_to(Room::Hall);
        self.stay_until(Place::Room(Room::Hall), Activity::Active, leave);
        let at = self.cursor;
        self.stay_until(Place::Away, Activity::Walk, back);
        let hm = |s: i64| format!("{:02}:{:02}", s / HOUR, s % HOUR / MIN);
        let detail = format!("out {}-{} ({} min){what}", hm(at), hm(back), (back - at) / MIN);
        self.labels.push(("outing", at, back, detail));
        let d = self.range(60, 120);
        self.stay(Place::Room(Room::Hall), Activity::Active, d);
    }

    fn meal_in(&mut self, meal: Meal, earliest: i64, latest_offset: i64) {
        let Some(window) = self.profile.meal_window(meal) else {
            return;
        };
        let from = secs(window.start).max(earliest);
        let target = from + self.range(0, latest_offset);
        self.meal(window, target);
    }

    fn blood_pressure(&mut self, at: i64, morning: bool) {
        self.living_until(at);
        let d = self.range(4 * MIN, 7 * MIN);
        let measure = self.cursor + self.range(60, 150);
        self.act(measure, Action::BloodPressure);
        if morning && self.profile.health == HealthMonitor::Fhir {
            let weigh_in = measure + self.range(60, 120);
            self.act(weigh_in, Action::MorningVitals);
        }
        self.stay(Place::Room(Room::LivingRoom), Activity::Seated, d);
    }
}

/// Night-trip times within `lo..hi`, at least 45 minutes apart.
fn trip_times(rng: &mut StdRng, expected: f64, lo: i64, hi: i64) -> Vec<i64> {
    if hi - lo < 30 * MIN || expected <= 0.0 {
        return Vec::new();
    }
    let mut n = expected.floor() as usize;
    if rng.random_bool(expected.fract().clamp(0.0, 1.0)) {
        n += 1;
    }
    let mut times: Vec<i64> = (0..n).map(|_| rng.random_range(lo..hi)).collect();
    times.sort_unstable();
    let mut kept: Vec<i64> = Vec::new();
    for t in times {
        if kept.last().is_none_or(|&k| t - k >= 45 * MIN) {
            kept.push(t);
        }
    }
    kept
}

/// The resident's normal day (no incidents) on local `date`.
pub(crate) fn plan_day(profile: &ResidentProfile, date: NaiveDate, rng: &mut StdRng) -> DayPlan {
    let habits = &profile.habits;
    let mut wake = (secs(habits.wake) + rng.random_range(-20 * MIN..=20 * MIN)).clamp(4 * HOUR, 11 * HOUR);
    let mut bedtime =
        (secs(habits.bedtime) + rng.random_range(-30 * MIN..=30 * MIN)).clamp(wake + 10 * HOUR, DAY - 40 * MIN);
    let mut labels = Vec::new();
    let hm = |s: i64| format!("{:02}:{:02}", s / HOUR, s % HOUR / MIN);
    // Up or to bed one to two hours off her usual times, either way.
    if habits.shifted_sleep > 0.0 && rng.random_bool(habits.shifted_sleep.min(1.0)) {
        let mut shift = || {
            let by = rng.random_range(HOUR..=2 * HOUR);
            if rng.random_bool(0.5) { by } else { -by }
        };
        let (dw, db) = (shift(), shift());
        let w = (wake + dw).clamp(4 * HOUR, 11 * HOUR);
        let bed = (bedtime + db).clamp(w + 10 * HOUR, DAY - 40 * MIN);
        let detail = format!("up {} (usually {}), bed {} (usually {})", hm(w), hm(wake), hm(bed), hm(bedtime));
        labels.push(("shifted_sleep", wake.min(w), wake.max(w) + 30 * MIN, detail.clone()));
        if bed != bedtime {
            labels.push(("shifted_sleep", bed.min(bedtime), (bed.max(bedtime) + 30 * MIN).min(DAY - MIN), detail));
        }
        (wake, bedtime) = (w, bed);
    }
    let cold = habits.skipped_cooking > 0.0 && rng.random_bool(habits.skipped_cooking.min(1.0));
    if cold {
        labels.push(("skipped_cooking", wake, bedtime, "cold food, brief kitchen visits, no cooking".to_owned()));
    }
    // Irregular outings: most days, one or two, of one to six hours.
    let mut outings: Vec<(i64, i64)> = Vec::new();
    if habits.outing_days > 0.0 && rng.random_bool(habits.outing_days.min(1.0)) {
        let leave = rng.random_range(8 * HOUR + 30 * MIN..=16 * HOUR);
        let dur = rng.random_range(HOUR..=6 * HOUR);
        outings.push((leave, dur));
        let back = leave + dur;
        if rng.random_bool(0.3) && back + 2 * HOUR <= OUTINGS_END {
            let leave = back + rng.random_range(45 * MIN..=2 * HOUR);
            outings.push((leave, rng.random_range(HOUR..=150 * MIN)));
        }
    }
    let mut b =
        Builder { rng, profile, segments: Vec::new(), actions: Vec::new(), cursor: 0, place: Place::Bed, labels, cold };

    // Night, before waking.
    let early = trip_times(b.rng, habits.night_trips * 0.85, HOUR, wake - 45 * MIN);
    for t in early {
        b.night_trip(t);
    }
    let lie_in = b.range(5 * MIN, 15 * MIN);
    b.stay_until(Place::Bed, Activity::Sleep, wake - lie_in);
    b.stay_until(Place::Bed, Activity::Rest, wake);

    // Morning.
    let dress = b.range(3 * MIN, 8 * MIN);
    b.stay(Place::Room(Room::Bedroom), Activity::Active, dress);
    b.bathroom_visit(10 * MIN, 20 * MIN);
    let bp_at = b.cursor + b.range(2 * MIN, 10 * MIN);
    b.blood_pressure(bp_at, true);
    let earliest = b.cursor;
    b.meal_in(Meal::Breakfast, earliest, 30 * MIN);

    // Midday: outings that leave before lunch could be made (lunch out if
    // one spans half its window), lunch, a nap unless an outing is near.
    let lunch = profile.meal_window(Meal::Lunch).map(|w| (secs(w.start), secs(w.end)));
    let mut lunch_out = false;
    let mut pending = outings.into_iter().peekable();
    while let Some(&(leave, dur)) = pending.peek() {
        if lunch.is_some_and(|(ls, _)| leave >= ls + 45 * MIN) {
            break;
        }
        pending.next();
        let spans = lunch.is_some_and(|(ls, le)| {
            let (from, to) = (leave.max(b.cursor), leave.max(b.cursor) + dur);
            (to.min(le) - from.max(ls)) * 2 >= le - ls
        });
        lunch_out |= spans;
        b.go_out(leave, dur, OUTINGS_END, if spans { ", lunch out" } else { "" });
    }
    if !lunch_out {
        b.meal_in(Meal::Lunch, 0, 45 * MIN);
    }
    let next_out = pending.peek().map(|&(leave, _)| leave);
    if next_out.is_none_or(|leave| leave - b.cursor > 150 * MIN)
        && b.rng.random_bool(habits.nap_probability.clamp(0.0, 1.0))
    {
        let rest = b.range(10 * MIN, 30 * MIN);
        b.living_until(b.cursor + rest);
        let long = habits.long_nap_probability > 0.0 && b.rng.random_bool(habits.long_nap_probability.min(1.0));
        let nap = if long { b.range(2 * HOUR, 3 * HOUR) } else { b.range(30 * MIN, 90 * MIN) };
        if long {
            let place = if habits.naps_in_bed { "in bed" } else { "on the sofa" };
            let at = b.cursor;
            b.labels.push(("long_nap", at, at + nap, format!("{} min {place}", nap / MIN)));
        }
        if habits.naps_in_bed {
            b.walk_to(Room::Bedroom);
            b.stay(Place::Bed, Activity::Rest, nap);
            let d = b.range(30, 90);
            b.stay(Place::Room(Room::Bedroom), Activity::Active, d);
        } else {
            b.walk_to(Room::LivingRoom);
            b.stay(Place::Room(Room::LivingRoom), Activity::Rest, nap);
        }
    }

    // Afternoon: a walk outside, or tea between meals.
    let lunch_end = profile.meal_window(Meal::Lunch).map_or(14 * HOUR, |w| secs(w.end));
    let dinner_start = profile.meal_window(Meal::Dinner).map_or(17 * HOUR, |w| secs(w.start));
    for (leave, dur) in pending {
        b.go_out(leave, dur, OUTINGS_END, "");
    }
    let afternoon = b.cursor.max(lunch_end + 15 * MIN);
    // The irregular outings, when on, replace the afternoon walk.
    let walk = habits.outing_days <= 0.0 && b.rng.random_bool(habits.outing_probability.clamp(0.0, 1.0));
    if walk && dinner_start - afternoon > 2 * HOUR {
        let leave = afternoon + b.range(0, 40 * MIN);
        b.living_until(leave);
        b.walk_to(Room::Hall);
        let shoes = b.range(60, 150);
        b.stay(Place::Room(Room::Hall), Activity::Active, shoes);
        let long = habits.long_outing_probability > 0.0 && b.rng.random_bool(habits.long_outing_probability.min(1.0));
        let out = if long { b.range(2 * HOUR, 4 * HOUR) } else { b.range(30 * MIN, 80 * MIN) };
        if long {
            let at = b.cursor;
            b.labels.push(("long_outing", at, at + out, format!("out {} min, not recorded as away", out / MIN)));
        }
        b.stay(Place::Away, Activity::Walk, out);
        let back = b.range(60, 120);
        b.stay(Place::Room(Room::Hall), Activity::Active, back);
    } else if dinner_start - afternoon > 45 * MIN {
        let at = afternoon + b.range(0, dinner_start - afternoon - 40 * MIN);
        b.living_until(at);
        b.walk_to(Room::Kitchen);
        let kettle_at = b.cursor + b.range(20, 60);
        let on_secs = b.range(150, 220);
        b.act(kettle_at, Action::Kettle { on_secs });
        if b.rng.random_bool(0.5) {
            let at = b.cursor + b.range(30, 90);
            let open_secs = b.range(10, 25);
            b.act(at, Action::FridgeOpen { open_secs });
        }
        let d = b.range(5 * MIN, 8 * MIN);
        b.stay(Place::Room(Room::Kitchen), Activity::Active, d);
    }

    // Evening.
    b.meal_in(Meal::Dinner, 0, 40 * MIN);
    let evening_bp = (b.cursor + b.range(20 * MIN, 60 * MIN)).min(bedtime - 40 * MIN);
    b.blood_pressure(evening_bp, false);
    b.living_until(bedtime - 20 * MIN);
    b.bathroom_visit(5 * MIN, 10 * MIN);
    b.walk_to(Room::Bedroom);
    let undress = b.range(3 * MIN, 6 * MIN);
    b.stay(Place::Room(Room::Bedroom), Activity::Active, undress);
    let late = trip_times(b.rng, habits.night_trips * 0.15, b.cursor + HOUR, DAY - 20 * MIN);
    for t in late {
        b.night_trip(t);
    }
    b.stay(Place::Bed, Activity::Sleep, 1);

    let Builder { segments, actions, labels, .. } = b;
    let mut plan = to_plan(profile, date, segments, actions);
    let tz = profile.timezone;
    plan.labels = labels
        .into_iter()
        .map(|(kind, from, to, detail)| Label {
            kind,
            from: clock::local_instant(tz, date, from),
            until: clock::local_instant(tz, date, to),
            detail,
            incident: false,
            recorded: None,
        })
        .collect();
    plan
}

/// Converts local seconds to instants, keeping the timeline contiguous across DST changes.
fn to_plan(
    profile: &ResidentProfile,
    date: NaiveDate,
    segments: Vec<(i64, Place, Activity)>,
    actions: Vec<(i64, Action)>,
) -> DayPlan {
    let tz = profile.timezone;
    let (start, end) = clock::day_bounds(tz, date);
    let mut out: Vec<Segment> = Vec::with_capacity(segments.len());
    for (i, &(from, place, activity)) in segments.iter().enumerate() {
        let to = segments.get(i + 1).map_or(end, |n| clock::local_instant(tz, date, n.0).min(end));
        let from = if i == 0 { start } else { clock::local_instant(tz, date, from).max(start) };
        let from = out.last().map_or(from, |p| from.max(p.end));
        if from < to {
            out.push(Segment { start: from, end: to, place, activity });
        }
    }
    if let Some(last) = out.last_mut() {
        last.end = end;
    }
    let mut plan = DayPlan::new(start, end, out);
    for (at, action) in actions {
        let at = clock::local_instant(tz, date, at);
        if at >= start && at < end {
            plan.routine_action(at, action);
        }
    }
    plan
}
