//! A person's routine, learned from their own history: when they usually
//! rise and go to bed, eat, go out and come back, and how long they usually
//! stay quiet at home in each part of the day. Plain statistics (medians and
//! a high quantile) over the local days before `today`, never `today`
//! itself, so a figure never learns from the day it is judged against.
//!
//! Staff read it (`GET /residents/{id}/routine`); the behaviour rules use
//! it once at least a week is learned (see `Routine::quiet_limit` and its
//! neighbours), and only ever to be more alert than the settings, except
//! for believing her out at the times she usually goes out in a home
//! without a hall sensor. The scheduler's leader learns it once a day per
//! resident and stores it; the backtest learns it afresh for each day it
//! replays, from the days before.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::behaviour::{is_activity, meal_evidence, rose_at, window_on};
use super::presence::{self, Presence};
use crate::domain::EventKind;
use crate::domain::activity::{ActivityEvent, Attended};
use crate::domain::settings::{LocalTime, RuleSettings};

/// How far back the routine is learned from.
pub const HISTORY_DAYS: i64 = 28;
/// The most events one routine is learned from (28 days of a busy home are
/// a few thousand).
pub const MAX_EVENTS: i64 = 100_000;
/// Below this many days of history nothing is learned: today's fixed rules apply.
pub const MIN_DAYS: usize = 7;

/// The parts of a day quiet spells are told by, in local hours.
const PARTS: [(&str, u32, u32); 4] = [("night", 0, 6), ("morning", 6, 12), ("afternoon", 12, 18), ("evening", 18, 24)];

/// How far around her usual leaving times (earliest to latest) a door is
/// still taken for her usual going out.
fn leaving_slack() -> Duration {
    Duration::minutes(30)
}

/// What was learned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Routine {
    /// Days with any activity among the last 28 before today.
    pub days: usize,
    /// Whether there were enough of them (at least 7) to learn from.
    pub learned: bool,
    /// Usual rising (from 04:00, out of bed and not back within the hour;
    /// without a bed sensor, the first activity), local `HH:MM`.
    #[schema(value_type = Option<String>)]
    pub rising: Option<LocalTime>,
    /// Usual last activity of the evening (from 18:00), local `HH:MM`.
    #[schema(value_type = Option<String>)]
    pub bedtime: Option<LocalTime>,
    pub meals: Vec<UsualMeal>,
    pub outings: Outings,
    /// The usual longest quiet spell at home in each part of the day (the
    /// 90th percentile of each day's longest; a spell counts in every part
    /// it spans; time out of the house is not quiet at home).
    pub quiet_spells: Vec<QuietSpell>,
    /// For each local hour (0–23), her usual longest quiet spell at home
    /// that began within an hour of it, in minutes: the 90th percentile over
    /// the days she had one there (at least 7, else `null`). What the
    /// inactivity rule learns from: an hour she is usually busy has short
    /// spells, an hour she usually naps in a chair long ones.
    #[serde(default)]
    pub quiet_from_hour: Vec<Option<i64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = RoutineMeal)]
pub struct UsualMeal {
    pub meal: String,
    /// Usual time of the first sign of it, local `HH:MM`; `null` with no such sign on most days.
    #[schema(value_type = Option<String>)]
    pub usual: Option<LocalTime>,
    /// On how many of the days it showed.
    pub days: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = RoutineOutings)]
pub struct Outings {
    /// Days she went out (past the hall sensor, see presence).
    pub days_out: usize,
    /// Usual time of going out, local `HH:MM`.
    #[schema(value_type = Option<String>)]
    pub usual_leave: Option<LocalTime>,
    /// The span she usually goes out in: the 10th and 90th percentiles of
    /// every time she left, local `HH:MM`.
    #[schema(value_type = Option<String>)]
    pub leave_earliest: Option<LocalTime>,
    #[schema(value_type = Option<String>)]
    pub leave_latest: Option<LocalTime>,
    /// The latest she usually comes back (95th percentile), local `HH:MM`.
    #[schema(value_type = Option<String>)]
    pub latest_return: Option<LocalTime>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = RoutineQuietSpell)]
pub struct QuietSpell {
    /// `night` (00–06), `morning` (06–12), `afternoon` (12–18), `evening` (18–24).
    pub part: String,
    pub usual_max_minutes: Option<i64>,
}

impl Routine {
    /// Whether there is enough history for the rules to use.
    pub fn usable(&self) -> bool {
        self.learned
    }

    /// Her usual longest quiet spell beginning around local `hour`.
    pub fn usual_quiet_from(&self, hour: u32) -> Option<Duration> {
        self.quiet_from_hour.get(hour as usize).copied().flatten().map(Duration::minutes)
    }

    /// Her usual time for `meal`.
    pub fn usual_meal(&self, meal: &str) -> Option<NaiveTime> {
        self.meals.iter().find(|m| m.meal == meal).and_then(|m| m.usual).map(|t| t.time())
    }

    /// Whether she goes out regularly (on a quarter of the days at least)
    /// and usually around local `time`.
    pub fn usually_out_at(&self, time: NaiveTime) -> bool {
        let o = &self.outings;
        let (Some(earliest), Some(latest)) = (o.leave_earliest, o.leave_latest) else { return false };
        let from = earliest.time() - leaving_slack();
        let until = latest.time() + leaving_slack();
        // Slack that wraps past midnight is no span at all.
        o.days_out * 4 >= self.days && from < earliest.time() && until > latest.time() && from <= time && time <= until
    }
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

fn hhmm(seconds: u32) -> LocalTime {
    LocalTime::hm(seconds / 3600 % 24, seconds % 3600 / 60)
}

fn usual(mut seconds: Vec<u32>, q: f64) -> Option<LocalTime> {
    quantile(&mut seconds, q).map(hhmm)
}

/// Learns the routine from `events` (oldest first, the 28 local days before
/// `today` and a little before) and her carers' `visits` of the same days, in
/// the resident's time zone and windows.
pub fn learn(
    events: &[ActivityEvent],
    visits: &[Attended],
    tz: Tz,
    settings: &RuleSettings,
    today: NaiveDate,
) -> Routine {
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
        if let Some(rose) = rose_at(&day, tz, date) {
            rising.push(secs(rose));
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
    // Any door closed with nobody lingering and nothing after it counts as
    // her going out here, hall sensor or not: this is what teaches the
    // times she goes out in a home that cannot see her leave.
    let periods = presence::of(&events, visits, settings.presence.out_after(), presence::NoHall::Out, now);
    let outs: Vec<&presence::Period> = periods.iter().filter(|p| p.presence == Presence::Out).collect();
    let mut out_days: Vec<NaiveDate> = outs.iter().map(|p| local(p.from).date()).collect();
    out_days.dedup();
    let leaves: Vec<u32> = out_days
        .iter()
        .filter_map(|date| outs.iter().find(|p| local(p.from).date() == *date).map(|p| secs(p.from)))
        .collect();
    let every_leave: Vec<u32> = outs.iter().map(|p| secs(p.from)).collect();
    let returns: Vec<u32> =
        outs.iter().filter_map(|p| p.until.filter(|u| local(*u).date() == local(p.from).date()).map(secs)).collect();
    let outings = Outings {
        days_out: out_days.len(),
        usual_leave: usual(leaves, 0.5),
        leave_earliest: usual(every_leave.clone(), 0.1),
        leave_latest: usual(every_leave, 0.9),
        latest_return: usual(returns, 0.95),
    };
    let (longest, by_hour) = longest_quiet(&events, &periods, tz);
    let quiet_from_hour = (0..24u32)
        .map(|hour| {
            // Each day's longest spell that began within an hour of `hour`.
            let mut per_day: BTreeMap<NaiveDate, i64> = BTreeMap::new();
            for ((date, began), minutes) in &by_hour {
                if began.abs_diff(hour) <= 1 || began.abs_diff(hour) == 23 {
                    let slot = per_day.entry(*date).or_insert(*minutes);
                    *slot = (*slot).max(*minutes);
                }
            }
            let mut spells: Vec<i64> = per_day.into_values().collect();
            if spells.len() < MIN_DAYS { None } else { quantile(&mut spells, 0.9) }
        })
        .collect();
    let quiet_spells = PARTS
        .iter()
        .enumerate()
        .map(|(i, &(part, _, _))| {
            let mut spells: Vec<i64> = longest.iter().filter(|((_, p), _)| *p == i).map(|(_, m)| *m).collect();
            QuietSpell { part: part.to_owned(), usual_max_minutes: quantile(&mut spells, 0.9) }
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
        quiet_from_hour,
    }
}

/// Each day's longest gap between two activity events, in minutes, by the
/// local date and the part of the day ([`PARTS`]) it began in, leaving out
/// the night in bed (a gap that begins with getting into bed) and gaps that
/// began while she was out; and each day's longest by the local hour it began in.
type ByPart = BTreeMap<(NaiveDate, usize), i64>;
type ByHour = BTreeMap<(NaiveDate, u32), i64>;

fn longest_quiet(events: &[&ActivityEvent], periods: &[presence::Period], tz: Tz) -> (ByPart, ByHour) {
    let active: Vec<&&ActivityEvent> = events.iter().filter(|e| is_activity(&e.kind)).collect();
    let mut longest: ByPart = BTreeMap::new();
    let mut by_hour: ByHour = BTreeMap::new();
    for pair in active.windows(2) {
        if pair[0].kind == EventKind::BedEnter
            || presence::at(periods, pair[0].ts).is_some_and(|p| p.presence == Presence::Out)
        {
            continue;
        }
        let minutes = (pair[1].ts - pair[0].ts).num_minutes();
        // A day or more without a sign is an absence, not a spell at home.
        if minutes >= 24 * 60 {
            continue;
        }
        // The spell counts in every part of the day it spans.
        let (start, end) = (pair[0].ts.with_timezone(&tz).naive_local(), pair[1].ts.with_timezone(&tz).naive_local());
        let slot = by_hour.entry((start.date(), start.hour())).or_insert(minutes);
        *slot = (*slot).max(minutes);
        let mut date = start.date();
        while date <= end.date() {
            for (part, &(_, from, to)) in PARTS.iter().enumerate() {
                let part_from = date.and_hms_opt(from, 0, 0).expect("part start");
                let part_to = if to == 24 {
                    date.succ_opt().unwrap_or(date).and_hms_opt(0, 0, 0).expect("midnight")
                } else {
                    date.and_hms_opt(to, 0, 0).expect("part end")
                };
                if part_from < end && start < part_to {
                    let slot = longest.entry((date, part)).or_insert(minutes);
                    *slot = (*slot).max(minutes);
                }
            }
            let Some(next) = date.succ_opt() else { break };
            date = next;
        }
    }
    (longest, by_hour)
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
        let routine = learn(&weeks(today, 28), &[], Shanghai, &RuleSettings::default(), today);
        assert_eq!((routine.days, routine.learned), (28, true));
        assert_eq!(routine.rising.map(|t| t.to_string()).as_deref(), Some("06:30"));
        assert_eq!(routine.bedtime.map(|t| t.to_string()).as_deref(), Some("21:45"));
        let breakfast = routine.meals.iter().find(|m| m.meal == "breakfast").unwrap();
        assert_eq!((breakfast.usual.map(|t| t.to_string()).as_deref(), breakfast.days), (Some("07:30"), 28));
        let lunch = routine.meals.iter().find(|m| m.meal == "lunch").unwrap();
        assert_eq!(lunch.usual, None, "never a sign of lunch: eaten out");
        assert_eq!(routine.outings.days_out, 28);
        assert_eq!(routine.outings.usual_leave.map(|t| t.to_string()).as_deref(), Some("10:30"));
        assert_eq!(routine.outings.latest_return.map(|t| t.to_string()).as_deref(), Some("16:00"));
        let spell = |part: &str| routine.quiet_spells.iter().find(|q| q.part == part).unwrap().usual_max_minutes;
        // The morning's longest at home is 07:34 → 10:29; the afternoon out is none.
        assert_eq!(spell("morning"), Some(175));
        assert_eq!(spell("afternoon"), Some(119), "16:01 → 18:00, not the hours out");
        assert_eq!(spell("evening"), Some(135));
        // By the hour a spell begins: from 07:34 the morning's long one, from
        // 16:01 two hours; around noon she is out, nothing is learned.
        assert_eq!(routine.quiet_from_hour[7], Some(175));
        assert_eq!(routine.quiet_from_hour[16], Some(119));
        assert_eq!(routine.quiet_from_hour[12], None);
        assert_eq!(routine.usual_quiet_from(20), Some(Duration::minutes(135)));
    }

    #[test]
    fn a_week_is_needed_and_today_is_never_learned_from() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let mut few = weeks(today, 5);
        // Today's own odd day is not in it.
        few.push(event(at(today, "03:00"), "motion", "kitchen", None));
        let routine = learn(&few, &[], Shanghai, &RuleSettings::default(), today);
        assert_eq!((routine.days, routine.learned), (5, false));
        assert_eq!(routine.rising.map(|t| t.to_string()).as_deref(), Some("06:30"));
    }

    #[test]
    fn the_quantile_is_the_nearest_rank() {
        assert_eq!(quantile(&mut [5, 1, 3, 2, 4], 0.5), Some(3));
        assert_eq!(quantile(&mut [5, 1, 3, 2, 4], 0.9), Some(5));
        assert_eq!(quantile::<i64>(&mut [], 0.9), None);
    }
}
