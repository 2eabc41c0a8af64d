//! A person's routine, learned from their own history: when they usually
//! rise and go to bed, eat, go out and come back, and how long they usually
//! stay quiet at home in each part of the day. Plain statistics (medians and
//! a high quantile) over the local days before `today`, never `today`
//! itself, so a figure never learns from the day it is judged against.
//!
//! This is the report staff read (`GET /residents/{id}/routine`); the
//! behaviour rules do not use it yet.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::behaviour::{is_activity, meal_evidence, window_on};
use super::presence::{self, Presence};
use crate::domain::EventKind;
use crate::domain::activity::ActivityEvent;
use crate::domain::settings::RuleSettings;

/// How far back the routine is learned from.
pub const HISTORY_DAYS: i64 = 28;
/// Below this many days of history nothing is learned: today's fixed rules apply.
pub const MIN_DAYS: usize = 7;

/// The parts of a day quiet spells are told by, in local hours.
const PARTS: [(&str, u32, u32); 4] = [("night", 0, 6), ("morning", 6, 12), ("afternoon", 12, 18), ("evening", 18, 24)];

/// What was learned.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Routine {
    /// Days with any activity among the last 28 before today.
    pub days: usize,
    /// Whether there were enough of them (at least 7) to learn from.
    pub learned: bool,
    /// Usual first activity of the day (from 04:00), local `HH:MM`.
    #[schema(value_type = Option<String>)]
    pub rising: Option<String>,
    /// Usual last activity of the evening (from 18:00), local `HH:MM`.
    #[schema(value_type = Option<String>)]
    pub bedtime: Option<String>,
    pub meals: Vec<UsualMeal>,
    pub outings: Outings,
    /// The usual longest quiet spell at home in each part of the day (the
    /// 90th percentile of each day's longest; time out of the house is not
    /// quiet at home).
    pub quiet_spells: Vec<QuietSpell>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = RoutineMeal)]
pub struct UsualMeal {
    pub meal: String,
    /// Usual time of the first sign of it, local `HH:MM`; `null` with no such sign on most days.
    #[schema(value_type = Option<String>)]
    pub usual: Option<String>,
    /// On how many of the days it showed.
    pub days: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = RoutineOutings)]
pub struct Outings {
    /// Days she went out (past the hall sensor, see presence).
    pub days_out: usize,
    /// Usual time of going out, local `HH:MM`.
    #[schema(value_type = Option<String>)]
    pub usual_leave: Option<String>,
    /// The latest she usually comes back (90th percentile), local `HH:MM`.
    #[schema(value_type = Option<String>)]
    pub latest_return: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = RoutineQuietSpell)]
pub struct QuietSpell {
    /// `night` (00–06), `morning` (06–12), `afternoon` (12–18), `evening` (18–24).
    pub part: &'static str,
    pub usual_max_minutes: Option<i64>,
}

/// The `q` quantile (0–1, nearest rank) of `values`.
fn quantile<T: Ord + Copy>(values: &mut [T], q: f64) -> Option<T> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1])
}

fn hhmm(seconds: u32) -> String {
    format!("{:02}:{:02}", seconds / 3600, seconds % 3600 / 60)
}

fn usual(mut seconds: Vec<u32>, q: f64) -> Option<String> {
    quantile(&mut seconds, q).map(hhmm)
}

/// Learns the routine from `events` (oldest first, the 28 local days before
/// `today` and a little before), in the resident's time zone and windows.
pub fn learn(events: &[ActivityEvent], tz: Tz, settings: &RuleSettings, today: NaiveDate) -> Routine {
    let first_day = today - Duration::days(HISTORY_DAYS);
    let local = |ts: DateTime<Utc>| ts.with_timezone(&tz).naive_local();
    let in_history = |e: &&ActivityEvent| {
        let date = local(e.ts).date();
        date >= first_day && date < today
    };
    let events: Vec<&ActivityEvent> = events.iter().filter(in_history).collect();
    let mut days: Vec<NaiveDate> = events.iter().filter(|e| is_activity(&e.kind)).map(|e| local(e.ts).date()).collect();
    days.dedup();
    let mut by_day: BTreeMap<NaiveDate, Vec<&ActivityEvent>> = BTreeMap::new();
    for e in &events {
        by_day.entry(local(e.ts).date()).or_default().push(e);
    }
    let of_day = |date: NaiveDate| by_day.get(&date).cloned().unwrap_or_default();
    let secs = |ts: DateTime<Utc>| local(ts).time().num_seconds_from_midnight();
    let mut rising = Vec::new();
    let mut bedtime = Vec::new();
    for &date in &days {
        let day = of_day(date);
        let active: Vec<&&ActivityEvent> = day.iter().filter(|e| is_activity(&e.kind)).collect();
        let morning = NaiveTime::from_hms_opt(4, 0, 0).expect("04:00");
        if let Some(first) = active.iter().find(|e| local(e.ts).time() >= morning) {
            rising.push(secs(first.ts));
        }
        let evening = NaiveTime::from_hms_opt(18, 0, 0).expect("18:00");
        let in_bed = day.iter().rfind(|e| e.kind == EventKind::BedEnter && local(e.ts).time() >= evening).copied();
        let last_active = active.iter().rfind(|e| local(e.ts).time() >= evening).map(|e| **e);
        if let Some(last) = in_bed.or(last_active) {
            bedtime.push(secs(last.ts));
        }
    }
    let meals = settings
        .meal_windows
        .iter()
        .map(|m| {
            let times: Vec<u32> = days
                .iter()
                .filter_map(|&date| {
                    let (start, end) = window_on(tz, &m.window, date);
                    meal_evidence(events.iter().copied(), start, end).map(|e| secs(e.ts))
                })
                .collect();
            let shown = times.len();
            UsualMeal {
                meal: m.meal.clone(),
                usual: (shown * 2 > days.len()).then(|| usual(times, 0.5)).flatten(),
                days: shown,
            }
        })
        .collect();
    let now = events.last().map_or(DateTime::<Utc>::MIN_UTC, |e| e.ts);
    let periods = presence::of(&events, settings.presence.out_after(), now);
    let outs: Vec<&presence::Period> = periods.iter().filter(|p| p.presence == Presence::Out).collect();
    let mut out_days: Vec<NaiveDate> = outs.iter().map(|p| local(p.from).date()).collect();
    out_days.dedup();
    let leaves: Vec<u32> = out_days
        .iter()
        .filter_map(|date| outs.iter().find(|p| local(p.from).date() == *date).map(|p| secs(p.from)))
        .collect();
    let returns: Vec<u32> =
        outs.iter().filter_map(|p| p.until.filter(|u| local(*u).date() == local(p.from).date()).map(secs)).collect();
    let outings =
        Outings { days_out: out_days.len(), usual_leave: usual(leaves, 0.5), latest_return: usual(returns, 0.9) };
    let longest = longest_quiet(&events, &periods, tz);
    let quiet_spells = PARTS
        .iter()
        .enumerate()
        .map(|(i, &(part, _, _))| {
            let mut spells: Vec<i64> = longest.iter().filter(|((_, p), _)| *p == i).map(|(_, m)| *m).collect();
            QuietSpell { part, usual_max_minutes: quantile(&mut spells, 0.9) }
        })
        .collect();
    Routine {
        days: days.len(),
        learned: days.len() >= MIN_DAYS,
        rising: usual(rising, 0.5),
        bedtime: usual(bedtime, 0.5),
        meals,
        outings,
        quiet_spells,
    }
}

/// Each day's longest gap between two activity events, in minutes, by the
/// local date and the part of the day ([`PARTS`]) it began in, leaving out
/// the night in bed (a gap that begins with getting into bed) and gaps that
/// began while she was out.
fn longest_quiet(events: &[&ActivityEvent], periods: &[presence::Period], tz: Tz) -> BTreeMap<(NaiveDate, usize), i64> {
    let active: Vec<&&ActivityEvent> = events.iter().filter(|e| is_activity(&e.kind)).collect();
    let mut longest: BTreeMap<(NaiveDate, usize), i64> = BTreeMap::new();
    for pair in active.windows(2) {
        if pair[0].kind == EventKind::BedEnter
            || presence::at(periods, pair[0].ts).is_some_and(|p| p.presence == Presence::Out)
        {
            continue;
        }
        let start = pair[0].ts.with_timezone(&tz).naive_local();
        let Some(part) = PARTS.iter().position(|&(_, from, to)| (from..to).contains(&start.hour())) else { continue };
        let minutes = (pair[1].ts - pair[0].ts).num_minutes();
        let slot = longest.entry((start.date(), part)).or_insert(minutes);
        *slot = (*slot).max(minutes);
    }
    longest
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use chrono_tz::Asia::Shanghai;

    use super::*;

    fn at(date: NaiveDate, hm: &str) -> DateTime<Utc> {
        let time = NaiveTime::parse_from_str(hm, "%H:%M").unwrap();
        Shanghai.from_local_datetime(&date.and_time(time)).unwrap().with_timezone(&Utc)
    }

    fn event(ts: DateTime<Utc>, kind: &str, room: &str, door: Option<&str>) -> ActivityEvent {
        ActivityEvent { ts, kind: kind.into(), room: Some(room.into()), door: door.map(Into::into), appliance: None }
    }

    /// Days of the same life: up at 06:30, breakfast at 07:30 (a kitchen
    /// stay), out 10:30–16:00 past the hall sensor, quiet in the evening for
    /// 90 minutes, to bed at 21:45.
    fn weeks(today: NaiveDate, days: i64) -> Vec<ActivityEvent> {
        let mut out = Vec::new();
        for back in (1..=days).rev() {
            let d = today - Duration::days(back);
            out.push(event(at(d, "06:30"), "bed_exit", "bedroom", None));
            out.push(event(at(d, "07:30"), "motion", "kitchen", None));
            out.push(event(at(d, "07:34"), "motion", "kitchen", None));
            out.push(event(at(d, "10:29"), "motion", "hall", None));
            out.push(event(at(d, "10:30"), "door_opened", "hall", Some("entrance")));
            out.push(event(at(d, "10:30") + Duration::seconds(15), "door_closed", "hall", Some("entrance")));
            out.push(event(at(d, "16:00"), "door_opened", "hall", Some("entrance")));
            out.push(event(at(d, "16:01"), "motion", "hall", None));
            out.push(event(at(d, "18:00"), "motion", "living_room", None));
            out.push(event(at(d, "19:30"), "motion", "living_room", None));
            out.push(event(at(d, "21:45"), "bed_enter", "bedroom", None));
        }
        out
    }

    #[test]
    fn the_routine_is_her_own_days_and_out_is_not_quiet_at_home() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let routine = learn(&weeks(today, 28), Shanghai, &RuleSettings::default(), today);
        assert_eq!((routine.days, routine.learned), (28, true));
        assert_eq!(routine.rising.as_deref(), Some("06:30"));
        assert_eq!(routine.bedtime.as_deref(), Some("21:45"));
        let breakfast = routine.meals.iter().find(|m| m.meal == "breakfast").unwrap();
        assert_eq!((breakfast.usual.as_deref(), breakfast.days), (Some("07:30"), 28));
        let lunch = routine.meals.iter().find(|m| m.meal == "lunch").unwrap();
        assert_eq!(lunch.usual, None, "never a sign of lunch: eaten out");
        assert_eq!(routine.outings.days_out, 28);
        assert_eq!(routine.outings.usual_leave.as_deref(), Some("10:30"));
        assert_eq!(routine.outings.latest_return.as_deref(), Some("16:00"));
        let spell = |part: &str| routine.quiet_spells.iter().find(|q| q.part == part).unwrap().usual_max_minutes;
        // The morning's longest at home is 07:34 → 10:29; the afternoon out is none.
        assert_eq!(spell("morning"), Some(175));
        assert_eq!(spell("afternoon"), Some(119), "16:01 → 18:00, not the hours out");
        assert_eq!(spell("evening"), Some(135));
    }

    #[test]
    fn a_week_is_needed_and_today_is_never_learned_from() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let mut few = weeks(today, 5);
        // Today's own odd day is not in it.
        few.push(event(at(today, "03:00"), "motion", "kitchen", None));
        let routine = learn(&few, Shanghai, &RuleSettings::default(), today);
        assert_eq!((routine.days, routine.learned), (5, false));
        assert_eq!(routine.rising.as_deref(), Some("06:30"));
    }

    #[test]
    fn the_quantile_is_the_nearest_rank() {
        assert_eq!(quantile(&mut [5, 1, 3, 2, 4], 0.5), Some(3));
        assert_eq!(quantile(&mut [5, 1, 3, 2, 4], 0.9), Some(5));
        assert_eq!(quantile::<i64>(&mut [], 0.9), None);
    }
}
