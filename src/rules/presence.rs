//! Whether the elder is at home: `in`, `out`, or `unsure`, re-derived from
//! the stored events on every run, as the other scheduled rules are.
//!
//! - The entrance door opened and closed, and no motion indoors for
//!   `out_after` → `out`, since the door closed.
//! - Any motion → `in`; the entrance door opening while out is the elder
//!   coming back (`in` from then: a fall on the way in is a quiet spell at
//!   home, judged as one).
//! - The dangerous look-alike is a collapse in the hall right after closing
//!   the door from inside (a parcel taken in, a neighbour seen off). So
//!   `out` is believed only when the hall's motion sensor (a motion sensor
//!   in the entrance door's room) saw her on the way to the door (within
//!   five minutes before it opened, since the door last moved and since she
//!   last came in), and the door stood open no longer than a walk through
//!   it (45 s, with no hall motion after that): walking out takes seconds,
//!   talking at the door takes minutes. Nobody may move elsewhere in the
//!   home after she was seen in the hall or while the door stands open: a
//!   visitor seen off while she sits in the living room is not her leaving.
//!   Without that sight the elder is `unsure`. In a home without a hall
//!   sensor nobody can be seen walking out: a door closed at a time she
//!   usually goes out (her learned routine) is believed, any other is
//!   `unsure`. Nothing is suppressed while `unsure`.
//! - Someone who saw her at home says so: a carer's check-in (EVV) is `in`,
//!   and the entrance door moving while the carer is there or as they leave
//!   (within [`carer_leaving`] of the check-out) is the carer's, not hers.
//!   A wearable (or a button) that reports where it was pressed or fell,
//!   a room of the home, places her in it: an alarm event with a room is
//!   `in` as motion is.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::routine::Routine;
use crate::domain::EventKind;
use crate::domain::activity::{ActivityEvent, Attended};

pub use crate::domain::activity::{Presence, PresencePeriod as Period};

/// How long before the door opened the hall sensor's sight of someone still
/// counts as them walking out: shoes and a coat take a few minutes, and a
/// motion sensor reports the first movement of a stay, not each one.
fn passing_before_door() -> Duration {
    Duration::minutes(5)
}

/// Walking out takes seconds with the door open; a door open longer (or
/// hall motion this long after it opened, while it still is) is someone
/// lingering at it: a parcel taken in, a neighbour seen off. A motion
/// sensor reports the first movement of a stay and then stays "occupied",
/// so the door's own time open is the surer sign.
fn walking_through() -> Duration {
    Duration::seconds(45)
}

/// How long after a carer checks out the entrance door is still theirs:
/// coat, shoes, a last word at the door.
pub fn carer_leaving() -> Duration {
    Duration::minutes(15)
}

/// A visit with no check-out (a phone that never sent it) is taken to have
/// ended this long after its check-in.
fn longest_visit() -> Duration {
    Duration::hours(4)
}

/// What presence is judged from, besides the events.
#[derive(Debug, Clone, Copy)]
pub struct Judged<'a> {
    /// Carers' visits, oldest first.
    pub visits: &'a [Attended],
    /// No motion indoors this long after the door closed means out.
    pub out_after: Duration,
    /// Whether a motion sensor watches the entrance door's room.
    pub hall_sensor: bool,
    /// How a home without one is read.
    pub no_hall: NoHall<'a>,
}

/// How a door closed with nobody seen walking out is read in a home
/// without a hall sensor (a door held open, or someone moving elsewhere, is
/// `unsure` whatever this says).
#[derive(Debug, Clone, Copy)]
pub enum NoHall<'a> {
    /// Never believed out.
    Unsure,
    /// Out: for learning her outings, never for judging.
    Out,
    /// Out when the door closed at a time she usually goes out.
    Usual(&'a Routine, Tz),
}

/// The entrance door's last opening, while its outcome is unknown.
#[derive(Debug, Clone)]
struct Leaving {
    opened: DateTime<Utc>,
    closed: Option<DateTime<Utc>>,
    /// The door's room: the hall.
    hall: Option<String>,
    /// The hall sensor saw someone on the way to the door.
    passed: bool,
    /// Someone stayed: at the open door, or moving elsewhere in the home.
    lingered: bool,
}

/// The presence periods the events show up to `now`, oldest first. Before
/// the first event the elder is taken to be in; the last period is open.
pub fn periods(events: &[&ActivityEvent], judged: Judged<'_>, now: DateTime<Utc>) -> Vec<Period> {
    let mut periods: Vec<Period> = Vec::new();
    // Events and the carers' comings and goings, in time order (a check-in
    // before an event at the same instant).
    let mut signs: Vec<(DateTime<Utc>, Sign<'_>)> = events.iter().map(|e| (e.ts, Sign::Event(e))).collect();
    for visit in judged.visits {
        signs.push((visit.from, Sign::CheckIn));
        let until = visit.until.unwrap_or(visit.from + longest_visit());
        signs.push((until, Sign::CheckOut));
    }
    signs.retain(|(ts, _)| *ts <= now);
    signs.sort_by_key(|(ts, sign)| (*ts, !matches!(sign, Sign::CheckIn)));
    let Some((first, _)) = signs.first() else { return periods };
    let mut current = Period { presence: Presence::In, from: *first, until: None };
    // Until when the entrance door is a carer's: while they are there, and
    // as they leave.
    let mut carer_until: Option<DateTime<Utc>> = None;
    let mut leaving: Option<Leaving> = None;
    // The last motion in each room, and when she last came back in.
    let mut last_motion_in: Vec<(&str, DateTime<Utc>)> = Vec::new();
    let mut came_in: Option<DateTime<Utc>> = None;
    let mut last_door: Option<DateTime<Utc>> = None;
    let mut change = |current: &mut Period, presence: Presence, at: DateTime<Utc>| {
        if current.presence != presence {
            let mut ended = *current;
            ended.until = Some(at);
            periods.push(ended);
            *current = Period { presence, from: at, until: None };
        }
    };
    for (ts, sign) in signs {
        // A door closed long enough without motion after it: decided when
        // the quiet ran out, before this sign is looked at.
        if let Some(closed) = leaving.as_ref().and_then(|l| l.closed)
            && ts >= closed + judged.out_after
        {
            let left = leaving.take().expect("leaving");
            change(&mut current, outcome(&left, judged), closed);
        }
        let event = match sign {
            Sign::Event(event) => event,
            // The carer found her at home.
            Sign::CheckIn => {
                leaving = None;
                carer_until = Some(DateTime::<Utc>::MAX_UTC);
                change(&mut current, Presence::In, ts);
                continue;
            }
            Sign::CheckOut => {
                carer_until = Some(ts + carer_leaving());
                continue;
            }
        };
        let entrance = event.door.as_deref() == Some("entrance");
        // The carer coming or going: she stays as she was.
        if entrance && current.presence != Presence::Out && carer_until.is_some_and(|until| event.ts <= until) {
            last_door = Some(event.ts);
            leaving = None;
            continue;
        }
        let door_before = last_door;
        if entrance && matches!(event.kind, EventKind::DoorOpened | EventKind::DoorClosed) {
            last_door = Some(event.ts);
        }
        match event.kind {
            EventKind::DoorOpened if entrance => {
                if current.presence == Presence::Out {
                    // Coming back.
                    change(&mut current, Presence::In, event.ts);
                    came_in = Some(event.ts);
                    leaving = None;
                } else {
                    // Seen in the hall on the way to the door, since the
                    // door last moved and since she last came in: a door
                    // opened again with nobody seen since it closed, or as
                    // she comes in, is her coming back (or going nowhere).
                    let seen = event
                        .room
                        .as_deref()
                        .and_then(|hall| last_motion_in.iter().find(|(room, _)| *room == hall).map(|(_, at)| *at));
                    // And nobody moving elsewhere after that: a visitor
                    // seen off while she sits in the living room is not
                    // her leaving.
                    let elsewhere = seen.is_some_and(|hall_seen| {
                        last_motion_in.iter().any(|(room, at)| Some(*room) != event.room.as_deref() && *at > hall_seen)
                    });
                    let passed = !elsewhere
                        && seen.is_some_and(|at| {
                            event.ts - at <= passing_before_door()
                                && door_before.is_none_or(|door| at > door)
                                && came_in.is_none_or(|came| at > came)
                        });
                    leaving = Some(Leaving {
                        opened: event.ts,
                        closed: None,
                        hall: event.room.clone(),
                        passed,
                        lingered: false,
                    });
                }
            }
            EventKind::DoorClosed if entrance => {
                if let Some(left) = leaving.as_mut()
                    && left.closed.is_none()
                {
                    left.closed = Some(event.ts);
                    left.lingered |= event.ts - left.opened > walking_through();
                }
            }
            EventKind::Motion => {
                if let Some(room) = event.room.as_deref() {
                    match last_motion_in.iter_mut().find(|(r, _)| *r == room) {
                        Some(seen) => seen.1 = event.ts,
                        None => last_motion_in.push((room, event.ts)),
                    }
                }
                if current.presence == Presence::Out {
                    came_in = Some(event.ts);
                }
                match leaving.as_mut() {
                    // The door still open: someone in its room is passing it.
                    Some(left) if left.closed.is_none() => {
                        let hall = left.hall.is_some() && event.room == left.hall;
                        left.passed |= hall;
                        left.lingered |= hall && event.ts - left.opened > walking_through();
                        if !hall {
                            // Someone moving elsewhere while the door is
                            // open: whoever left, someone stayed.
                            left.lingered = true;
                            change(&mut current, Presence::In, event.ts);
                        }
                    }
                    // Motion after the door closed: someone is inside.
                    _ => {
                        leaving = None;
                        change(&mut current, Presence::In, event.ts);
                    }
                }
            }
            // Cooking, the bed, a meal tray, pills: someone is home.
            EventKind::ApplianceOn
            | EventKind::BedExit
            | EventKind::BedEnter
            | EventKind::MealEaten
            | EventKind::MedicationTaken => {
                leaving = None;
                change(&mut current, Presence::In, event.ts);
            }
            // Her wearable or a button placing her in a room of the home.
            EventKind::FallDetected | EventKind::FallCancelled | EventKind::SosPressed if event.room.is_some() => {
                leaving = None;
                change(&mut current, Presence::In, event.ts);
            }
            _ => {}
        }
    }
    if let Some(closed) = leaving.as_ref().and_then(|l| l.closed)
        && now >= closed + judged.out_after
    {
        let left = leaving.take().expect("leaving");
        change(&mut current, outcome(&left, judged), closed);
    }
    periods.push(current);
    periods
}

/// What the presence periods are read from, in time order.
enum Sign<'e> {
    Event(&'e ActivityEvent),
    CheckIn,
    CheckOut,
}

/// What a door closed with no motion after it means.
fn outcome(left: &Leaving, judged: Judged<'_>) -> Presence {
    let believed = !left.lingered
        && if judged.hall_sensor {
            left.passed
        } else {
            match judged.no_hall {
                NoHall::Unsure => false,
                NoHall::Out => true,
                NoHall::Usual(routine, tz) => left
                    .closed
                    .is_some_and(|closed| routine.usable() && routine.usually_out_at(closed.with_timezone(&tz).time())),
            }
        };
    if believed { Presence::Out } else { Presence::Unsure }
}

/// Whether a motion sensor watches the entrance door's room, as the events
/// show it: one has seen someone there. A hall sensor that saw nobody in the
/// facts' day and a half is as good as none, and `out` is not believed.
pub fn hall_sensor(events: &[&ActivityEvent]) -> bool {
    let entrance: Vec<&str> =
        events.iter().filter(|e| e.door.as_deref() == Some("entrance")).filter_map(|e| e.room.as_deref()).collect();
    events.iter().any(|e| e.kind == EventKind::Motion && e.room.as_deref().is_some_and(|room| entrance.contains(&room)))
}

/// Whether a meal window was eaten out: the elder out for at least half of
/// `[start, end)`, when the settings count that as a meal. One answer for
/// the missed-meal rule and the family's summary.
pub fn ate_out(
    periods: &[Period],
    eating_out: bool,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    let out: Duration =
        periods.iter().filter(|p| p.presence == Presence::Out).map(|p| p.overlap(start, end, now)).sum();
    eating_out && out * 2 >= end - start
}

/// The presence periods of a resident's events with their settings and
/// routine: the rules' and the summary's one way of asking.
pub fn of(
    events: &[&ActivityEvent],
    visits: &[Attended],
    out_after: Duration,
    no_hall: NoHall<'_>,
    now: DateTime<Utc>,
) -> Vec<Period> {
    periods(events, Judged { visits, out_after, hall_sensor: hall_sensor(events), no_hall }, now)
}

/// What to record of the periods `judged` now, given the stored `open`
/// one: nothing when they agree, else the periods from the one covering the
/// open one's start on. Judged periods begin with the look-back's oldest
/// event, and that beginning moving on is no change; the oldest judged
/// period goes on as the stored one it continues.
pub fn to_record(open: Option<Period>, mut judged: Vec<Period>) -> Option<Vec<Period>> {
    let current = *judged.last()?;
    let unchanged = open.is_some_and(|open| {
        open.presence == current.presence
            && (open.from == current.from || (judged.len() == 1 && open.from < current.from))
    });
    if unchanged {
        return None;
    }
    let start = open.and_then(|open| judged.iter().position(|p| p.covers(open.from))).unwrap_or(0);
    let mut changed = judged.split_off(start);
    if let Some(open) = open
        && open.from < changed[0].from
        && open.presence == changed[0].presence
    {
        changed[0].from = open.from;
    }
    Some(changed)
}

/// The period holding at `ts`, if the events reach back that far.
pub fn at(periods: &[Period], ts: DateTime<Utc>) -> Option<&Period> {
    periods.iter().rev().find(|p| p.covers(ts))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ts(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn event(at: &str, kind: &str, room: &str, door: Option<&str>) -> ActivityEvent {
        ActivityEvent {
            ts: ts(at),
            kind: kind.into(),
            room: Some(room.into()),
            door: door.map(Into::into),
            appliance: None,
        }
    }

    fn motion(at: &str, room: &str) -> ActivityEvent {
        event(at, "motion", room, None)
    }

    fn opened(at: &str) -> ActivityEvent {
        event(at, "door_opened", "hall", Some("entrance"))
    }

    fn closed(at: &str) -> ActivityEvent {
        event(at, "door_closed", "hall", Some("entrance"))
    }

    const WITH_HALL: Judged =
        Judged { visits: &[], out_after: Duration::minutes(10), hall_sensor: true, no_hall: NoHall::Unsure };

    fn shape(events: &[ActivityEvent], judged: Judged, now: &str) -> Vec<(Presence, String, Option<String>)> {
        let refs: Vec<&ActivityEvent> = events.iter().collect();
        periods(&refs, judged, ts(now))
            .into_iter()
            .map(|p| (p.presence, p.from.format("%H:%M").to_string(), p.until.map(|u| u.format("%H:%M").to_string())))
            .collect()
    }

    #[test]
    fn walking_out_past_the_hall_sensor_is_out_from_the_door_until_she_comes_back() {
        let day = [
            motion("2026-12-07T09:00:00Z", "kitchen"),
            motion("2026-12-07T09:30:00Z", "hall"),
            opened("2026-12-07T09:31:00Z"),
            closed("2026-12-07T09:31:30Z"),
            opened("2026-12-07T13:05:00Z"),
            closed("2026-12-07T13:05:40Z"),
            motion("2026-12-07T13:06:00Z", "hall"),
        ];
        // Not yet decided within the ten minutes.
        assert_eq!(shape(&day[..4], WITH_HALL, "2026-12-07T09:40:00Z"), [(Presence::In, "09:00".into(), None)]);
        assert_eq!(
            shape(&day[..4], WITH_HALL, "2026-12-07T09:42:00Z"),
            [(Presence::In, "09:00".into(), Some("09:31".into())), (Presence::Out, "09:31".into(), None)]
        );
        assert_eq!(
            shape(&day, WITH_HALL, "2026-12-07T14:00:00Z"),
            [
                (Presence::In, "09:00".into(), Some("09:31".into())),
                (Presence::Out, "09:31".into(), Some("13:05".into())),
                (Presence::In, "13:05".into(), None),
            ]
        );
    }

    #[test]
    fn a_door_closed_with_nobody_passing_the_hall_is_unsure_not_out() {
        // She closed the door after a delivery, from inside, and collapsed
        // where the hall sensor had not seen her on the way to the door.
        let day =
            [motion("2026-12-07T09:00:00Z", "lounge"), opened("2026-12-07T10:00:00Z"), closed("2026-12-07T10:01:00Z")];
        assert_eq!(
            shape(&day, WITH_HALL, "2026-12-07T12:00:00Z"),
            [(Presence::In, "09:00".into(), Some("10:01".into())), (Presence::Unsure, "10:01".into(), None)]
        );
        // Without a hall sensor nobody can tell.
        let blind = Judged { hall_sensor: false, ..WITH_HALL };
        let day =
            [motion("2026-12-07T09:59:00Z", "hall"), opened("2026-12-07T10:00:00Z"), closed("2026-12-07T10:01:00Z")];
        assert_eq!(shape(&day, blind, "2026-12-07T12:00:00Z")[1].0, Presence::Unsure);
    }

    #[test]
    fn lingering_in_the_hall_at_the_open_door_is_unsure() {
        // A parcel taken in at the door: she stood in the hall two minutes,
        // closed the door, and nothing moved after.
        let day = [
            motion("2026-12-07T09:59:00Z", "hall"),
            opened("2026-12-07T10:00:00Z"),
            motion("2026-12-07T10:01:30Z", "hall"),
            closed("2026-12-07T10:02:00Z"),
        ];
        assert_eq!(shape(&day, WITH_HALL, "2026-12-07T12:00:00Z")[1], (Presence::Unsure, "10:02".into(), None));
        // Walking out: the sensor still sees her in the doorway a few seconds.
        let day = [
            motion("2026-12-07T09:59:00Z", "hall"),
            opened("2026-12-07T10:00:00Z"),
            motion("2026-12-07T10:00:10Z", "hall"),
            closed("2026-12-07T10:00:20Z"),
        ];
        assert_eq!(shape(&day, WITH_HALL, "2026-12-07T12:00:00Z")[1], (Presence::Out, "10:00".into(), None));
    }

    #[test]
    fn back_in_at_once_and_still_is_unsure_not_out() {
        // Out for two minutes (a letter posted), back in, and down in the
        // hall: the second door was not walked out through.
        let day = [
            motion("2026-12-07T15:12:00Z", "hall"),
            opened("2026-12-07T15:13:20Z"),
            closed("2026-12-07T15:13:40Z"),
            opened("2026-12-07T15:15:40Z"),
            closed("2026-12-07T15:16:00Z"),
        ];
        assert_eq!(shape(&day, WITH_HALL, "2026-12-07T18:00:00Z")[1], (Presence::Unsure, "15:16".into(), None));
    }

    #[test]
    fn a_door_held_open_with_the_sensor_still_occupied_is_unsure() {
        // The hall sensor reported her once and stayed occupied: no motion
        // while she stood at the open door three minutes.
        let day =
            [motion("2026-12-07T14:47:00Z", "hall"), opened("2026-12-07T14:50:39Z"), closed("2026-12-07T14:54:09Z")];
        assert_eq!(shape(&day, WITH_HALL, "2026-12-07T18:00:00Z")[1], (Presence::Unsure, "14:54".into(), None));
    }

    #[test]
    fn coming_in_with_the_hall_sensor_first_is_not_a_second_departure() {
        let day = [
            motion("2026-12-07T09:00:00Z", "hall"),
            opened("2026-12-07T09:01:00Z"),
            closed("2026-12-07T09:01:10Z"),
            // Back: the hall sensor fires in the same second as the door.
            motion("2026-12-07T13:38:05Z", "hall"),
            opened("2026-12-07T13:38:05Z"),
            closed("2026-12-07T13:38:12Z"),
        ];
        let found = shape(&day, WITH_HALL, "2026-12-07T17:00:00Z");
        assert_eq!(found[1], (Presence::Out, "09:01".into(), Some("13:38".into())));
        assert_eq!(found.last().unwrap().0, Presence::Unsure, "{found:?}");
    }

    #[test]
    fn the_hall_seen_on_the_way_out_counts_after_the_rooms_she_left() {
        let day = [
            motion("2026-12-07T13:05:00Z", "living_room"),
            motion("2026-12-07T13:08:11Z", "hall"),
            opened("2026-12-07T13:12:13Z"),
            closed("2026-12-07T13:12:25Z"),
        ];
        assert_eq!(shape(&day, WITH_HALL, "2026-12-07T16:00:00Z")[1], (Presence::Out, "13:12".into(), None));
    }

    #[test]
    fn a_visitor_seen_off_while_she_moves_elsewhere_is_not_her_leaving() {
        // The visitor crosses the hall; she waves from the sofa; the door
        // closes behind the visitor, and she dozes off.
        let waved_before = [
            motion("2026-12-07T16:00:00Z", "hall"),
            motion("2026-12-07T16:00:30Z", "living_room"),
            opened("2026-12-07T16:01:00Z"),
            closed("2026-12-07T16:01:10Z"),
        ];
        assert_eq!(shape(&waved_before, WITH_HALL, "2026-12-07T19:00:00Z")[1].0, Presence::Unsure);
        let waved_while_open = [
            motion("2026-12-07T16:00:00Z", "hall"),
            opened("2026-12-07T16:00:20Z"),
            motion("2026-12-07T16:00:25Z", "living_room"),
            closed("2026-12-07T16:00:35Z"),
        ];
        assert_eq!(shape(&waved_while_open, WITH_HALL, "2026-12-07T19:00:00Z")[1].0, Presence::Unsure);
    }

    #[test]
    fn motion_after_the_door_closed_is_someone_inside() {
        let day = [
            motion("2026-12-07T09:59:00Z", "hall"),
            opened("2026-12-07T10:00:00Z"),
            closed("2026-12-07T10:01:00Z"),
            motion("2026-12-07T10:05:00Z", "hall"),
        ];
        assert_eq!(shape(&day, WITH_HALL, "2026-12-07T12:00:00Z"), [(Presence::In, "09:59".into(), None)]);
    }

    #[test]
    fn the_door_left_open_is_not_out() {
        let day = [motion("2026-12-07T09:59:00Z", "hall"), opened("2026-12-07T10:00:00Z")];
        assert_eq!(shape(&day, WITH_HALL, "2026-12-07T12:00:00Z"), [(Presence::In, "09:59".into(), None)]);
    }

    fn arbitrary_day() -> impl Strategy<Value = Vec<ActivityEvent>> {
        let kinds = prop::sample::select(vec!["motion_hall", "motion_kitchen", "open", "close", "kettle"]);
        prop::collection::vec((0i64..24 * 60, kinds), 0..40).prop_map(|mut raw| {
            raw.sort_by_key(|(minute, _)| *minute);
            raw.into_iter()
                .map(|(minute, kind)| {
                    let at = (ts("2026-12-07T00:00:00Z") + Duration::minutes(minute)).to_rfc3339();
                    match kind {
                        "motion_hall" => motion(&at, "hall"),
                        "motion_kitchen" => motion(&at, "kitchen"),
                        "open" => opened(&at),
                        "close" => closed(&at),
                        _ => ActivityEvent {
                            appliance: Some("kettle".into()),
                            ..event(&at, "appliance_on", "kitchen", None)
                        },
                    }
                })
                .collect()
        })
    }

    fn visit(from: &str, until: Option<&str>) -> Attended {
        Attended { from: ts(from), until: until.map(ts) }
    }

    #[test]
    fn a_carer_checking_in_finds_her_home_and_the_door_as_the_carer_leaves_is_not_hers() {
        // She closed the door from inside with nobody seen in the hall:
        // unsure, until the carer checked in at 11:00 and found her home.
        let day = [
            motion("2026-12-07T09:00:00Z", "lounge"),
            opened("2026-12-07T10:00:00Z"),
            closed("2026-12-07T10:00:20Z"),
            // The carer comes in, helps, and walks out past the hall
            // sensor five minutes after checking out.
            opened("2026-12-07T10:59:00Z"),
            closed("2026-12-07T10:59:20Z"),
            motion("2026-12-07T11:50:00Z", "hall"),
            opened("2026-12-07T11:50:30Z"),
            closed("2026-12-07T11:50:50Z"),
        ];
        let visits = [visit("2026-12-07T11:00:00Z", Some("2026-12-07T11:45:00Z"))];
        let judged = Judged { visits: &visits, ..WITH_HALL };
        assert_eq!(
            shape(&day, judged, "2026-12-07T14:00:00Z"),
            [
                (Presence::In, "09:00".into(), Some("10:00".into())),
                (Presence::Unsure, "10:00".into(), Some("11:00".into())),
                (Presence::In, "11:00".into(), None),
            ]
        );
        // Without the visit, the walk past the hall at 11:50 is her going out.
        assert_eq!(shape(&day, WITH_HALL, "2026-12-07T14:00:00Z").last().unwrap().0, Presence::Out);
        // Past the carer's leaving, a walk out past the hall is hers again.
        let later = [
            &day[..],
            &[motion("2026-12-07T12:30:00Z", "hall"), opened("2026-12-07T12:30:30Z"), closed("2026-12-07T12:30:50Z")],
        ]
        .concat();
        assert_eq!(
            shape(&later, judged, "2026-12-07T14:00:00Z").last().unwrap(),
            &(Presence::Out, "12:30".into(), None)
        );
    }

    #[test]
    fn a_visit_never_checked_out_holds_the_door_for_four_hours_at_most() {
        let walk_out = |at: &str| {
            let base = ts(at);
            let at = |s: i64| (base + Duration::seconds(s)).to_rfc3339();
            [motion(&at(0), "hall"), opened(&at(30)), closed(&at(50))]
        };
        let visits = [visit("2026-12-07T09:00:00Z", None)];
        let judged = Judged { visits: &visits, ..WITH_HALL };
        let during =
            [vec![motion("2026-12-07T08:00:00Z", "lounge")], walk_out("2026-12-07T12:00:00Z").to_vec()].concat();
        assert_eq!(shape(&during, judged, "2026-12-07T12:30:00Z").last().unwrap().0, Presence::In);
        let after =
            [vec![motion("2026-12-07T08:00:00Z", "lounge")], walk_out("2026-12-07T13:30:00Z").to_vec()].concat();
        assert_eq!(shape(&after, judged, "2026-12-07T14:00:00Z").last().unwrap().0, Presence::Out);
    }

    #[test]
    fn her_wearable_placing_her_in_a_room_is_in_and_one_without_a_room_says_nothing() {
        let day = [
            motion("2026-12-07T09:00:00Z", "lounge"),
            opened("2026-12-07T10:00:00Z"),
            closed("2026-12-07T10:00:20Z"),
            event("2026-12-07T10:40:00Z", "fall_detected", "bathroom", None),
        ];
        assert_eq!(
            shape(&day, WITH_HALL, "2026-12-07T11:00:00Z").last().unwrap(),
            &(Presence::In, "10:40".into(), None)
        );
        // A fall her wearable felt outdoors has no room.
        let mut outdoors = day.clone();
        outdoors[3].room = None;
        assert_eq!(shape(&outdoors, WITH_HALL, "2026-12-07T11:00:00Z").last().unwrap().0, Presence::Unsure);
    }

    #[test]
    fn what_is_recorded_is_only_what_changed() {
        let p = |presence, from: &str, until: Option<&str>| Period { presence, from: ts(from), until: until.map(ts) };
        let open = p(Presence::In, "2026-12-06T09:00:00Z", None);
        // The look-back's oldest event moved on: no change.
        assert_eq!(to_record(Some(open), vec![p(Presence::In, "2026-12-06T10:00:00Z", None)]), None);
        assert_eq!(to_record(Some(open), vec![open]), None);
        // Out since the door at 10:30 (decided ten minutes later): the open
        // period ends there.
        let judged = vec![
            p(Presence::In, "2026-12-06T08:00:00Z", Some("2026-12-06T10:30:00Z")),
            p(Presence::Out, "2026-12-06T10:30:00Z", None),
        ];
        assert_eq!(
            to_record(Some(open), judged.clone()),
            Some(vec![
                p(Presence::In, "2026-12-06T08:00:00Z", Some("2026-12-06T10:30:00Z")),
                p(Presence::Out, "2026-12-06T10:30:00Z", None)
            ])
        );
        // The stored in period, older than the look-back, goes on.
        let long_in = p(Presence::In, "2026-12-05T06:00:00Z", None);
        assert_eq!(
            to_record(Some(long_in), judged.clone()).unwrap()[0],
            p(Presence::In, "2026-12-05T06:00:00Z", Some("2026-12-06T10:30:00Z"))
        );
        // Once recorded, the same judgement again is no change.
        assert_eq!(to_record(Some(judged[1]), judged.clone()), None);
        // Nothing stored yet: everything judged.
        assert_eq!(to_record(None, judged.clone()), Some(judged));
        assert_eq!(to_record(Some(open), vec![]), None);
    }

    proptest! {
        /// Periods tile time without gaps; the elder is never out without a
        /// hall sensor; never out while a motion shows her in; and an
        /// `out` always starts at an entrance door's closing.
        #[test]
        fn periods_tile_time_and_out_needs_what_the_hall_sensor_saw(day in arbitrary_day(), hall in any::<bool>()) {
            let judged = Judged { hall_sensor: hall, ..WITH_HALL };
            let now = ts("2026-12-08T00:00:00Z");
            let refs: Vec<&ActivityEvent> = day.iter().collect();
            let found = periods(&refs, judged, now);
            for pair in found.windows(2) {
                prop_assert_eq!(pair[0].until, Some(pair[1].from));
                prop_assert!(pair[0].presence != pair[1].presence);
            }
            prop_assert!(found.last().is_none_or(|p| p.until.is_none()));
            for period in found.iter().filter(|p| p.presence == Presence::Out) {
                prop_assert!(hall, "out without a hall sensor");
                prop_assert!(day.iter().any(|e| e.ts == period.from && e.kind == EventKind::DoorClosed));
                let inside = day.iter().any(|e| e.kind == EventKind::Motion && period.covers(e.ts) && e.ts != period.from);
                prop_assert!(!inside, "out while a motion shows her in: {period:?}");
            }
        }
    }
}
