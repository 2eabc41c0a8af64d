//! The day of a summary, computed from facts loaded beforehand: plain logic,
//! no database.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use super::{Activity, Bed, Evidence, Meal, MealStatus, Medication, Night, RoomVisit};
use crate::domain::activity::ActivityEvent;
use crate::domain::settings::LocalTime;
use crate::domain::settings::is_vital;
use crate::domain::settings::{RuleSettings, Threshold, TimeWindow};
use crate::domain::{EventKind, Metric};
use crate::rules::behaviour::{local_instant, meal_evidence, meal_window, missed_meal_cause, window_on};
use crate::rules::presence as home;
use crate::rules::routine::Routine;

/// The instants a local day starts and ends.
pub(super) fn day_bounds(tz: Tz, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let next = date.succ_opt().unwrap_or(date);
    (local_instant(tz, date, NaiveTime::MIN), local_instant(tz, next, NaiveTime::MIN))
}

/// The night window that ends on `date` (it starts the evening before when
/// it crosses midnight).
pub(super) fn night_of(tz: Tz, night: &TimeWindow, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start_date = if night.crosses_midnight() { date.pred_opt().unwrap_or(date) } else { date };
    window_on(tz, night, start_date)
}

/// The time the summary needs events for: the day, the night before it and
/// every meal window of the day (one may cross midnight).
pub(super) fn span(tz: Tz, date: NaiveDate, settings: &RuleSettings) -> (DateTime<Utc>, DateTime<Utc>) {
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
pub(super) struct DayFacts<'a> {
    pub(super) tz: Tz,
    pub(super) date: NaiveDate,
    pub(super) now: DateTime<Utc>,
    pub(super) settings: &'a RuleSettings,
    /// Activity events over [`span`] up to now, oldest first.
    pub(super) events: &'a [ActivityEvent],
    /// Whether the resident was in bed before the first of `events`, from
    /// the bed sensor's last word; `None` when it said nothing.
    pub(super) in_bed_before: Option<bool>,
    /// Missed-meal alerts of the day by cause.
    pub(super) missed: &'a HashMap<String, Uuid>,
    /// In, out or unsure over `events`, as the rules see it.
    pub(super) presence: &'a [home::Period],
    /// Her learned routine, when the rules use one.
    pub(super) routine: Option<&'a Routine>,
}

impl DayFacts<'_> {
    fn between(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> impl Iterator<Item = &ActivityEvent> {
        self.events.iter().filter(move |e| e.ts >= start && e.ts < end && e.ts <= self.now)
    }
}

pub(super) fn meal_status(
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

pub(super) fn meals(facts: &DayFacts<'_>) -> Vec<Meal> {
    facts
        .settings
        .meal_windows
        .iter()
        .map(|m| {
            // The window and the evidence the rule judges by.
            let seen: Vec<&ActivityEvent> = facts.events.iter().filter(|e| e.ts <= facts.now).collect();
            let judged = meal_window(facts.settings, facts.routine, facts.tz, &seen, m, facts.date);
            let (start, end) = (judged.start, judged.end);
            let evidence = meal_evidence(seen.iter().copied(), start, end).or_else(|| judged.her_own_sign(&seen));
            let missed_alert_id = facts.missed.get(&missed_meal_cause(&m.meal, facts.date)).copied();
            let wall = |ts: DateTime<Utc>| LocalTime::from(ts.with_timezone(&facts.tz).time());
            Meal {
                meal: m.meal.clone(),
                start: wall(start),
                end: wall(end),
                window_start: start,
                window_end: end,
                status: match meal_status(evidence.is_some(), missed_alert_id.is_some(), start, end, facts.now) {
                    MealStatus::NotRecorded
                        if home::ate_out(facts.presence, facts.settings.presence.eating_out, start, end, facts.now) =>
                    {
                        MealStatus::EatenOut
                    }
                    status => status,
                },
                evidence: evidence.map(Evidence::from),
                missed_alert_id,
            }
        })
        .collect()
}

/// Time in bed within `[start, end)` from the bed sensor's edges (time,
/// got in), oldest first. `before` is the state before the first edge; when
/// unknown, the first edge tells it (getting out means she was in bed).
pub(super) fn time_in_bed(
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

pub(super) fn activity(facts: &DayFacts<'_>) -> Activity {
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

pub(super) fn in_range(value: f64, range: &Threshold) -> bool {
    range.min.is_none_or(|min| value >= min) && range.max.is_none_or(|max| value <= max)
}

/// Vital signs and weight: what a relative asks about.
pub(super) fn summary_metrics() -> Vec<Metric> {
    Metric::ALL.into_iter().filter(|m| is_vital(*m) || *m == Metric::BodyWeight).collect()
}

#[cfg(test)]
mod tests {
    use chrono_tz::Asia::Shanghai;

    use super::*;
    use crate::domain::settings::{LocalTime, MealWindow};

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
            presence: &[],
            routine: None,
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
    fn a_lunch_window_spent_out_is_eaten_out_unless_the_settings_say_otherwise() {
        let mut settings = settings();
        let events = vec![event("2026-11-28T00:00:00Z", "motion", Some("kitchen"))];
        let missed = HashMap::new();
        // Out 11:30-15:00 local; lunch is 11:00-13:30.
        let out = [home::Period {
            presence: home::Presence::Out,
            from: ts("2026-11-28T03:30:00Z"),
            until: Some(ts("2026-11-28T07:00:00Z")),
        }];
        let status = |settings: &RuleSettings| {
            let facts = DayFacts {
                tz: Shanghai,
                date: date("2026-11-28"),
                now: ts("2026-11-28T08:00:00Z"),
                settings,
                events: &events,
                in_bed_before: None,
                missed: &missed,
                presence: &out,
                routine: None,
            };
            meals(&facts).into_iter().find(|m| m.meal == "lunch").map(|m| m.status)
        };
        assert_eq!(status(&settings), Some(MealStatus::EatenOut));
        settings.presence.eating_out = false;
        assert_eq!(status(&settings), Some(MealStatus::NotRecorded));
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
            presence: &[],
            routine: None,
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
