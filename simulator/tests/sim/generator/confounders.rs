//! The confounders (visitors, holidays away, a stopped kettle) and the
//! silent incidents (a long lie, a sensor dying) show in the messages as
//! their labels say, and are the same whatever range is generated.

use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};
use eldercare_sim::confounders::{Confounders, LabelRecord};
use eldercare_sim::message::ZigbeeChange;
use eldercare_sim::{Generated, Message, MessageKind, SimConfig, generate_with_incidents};

use crate::generator::{config, utc};

fn busy() -> SimConfig {
    let mut c = config(6, 21);
    c.confounders = Confounders {
        visitors: 0.3,
        holidays: 0.8,
        unrecorded_holidays: 0.3,
        stopped_kettles: 0.6,
        sensor_deaths: 0.6,
        long_lies: 0.05,
        ..Default::default()
    };
    c
}

fn four_weeks(c: &SimConfig) -> Generated {
    generate_with_incidents(c, utc(2026, 11, 2, 0), utc(2026, 11, 30, 0))
}

/// Four weeks of six busy residents, generated once for the tests that read them.
fn busy_weeks() -> &'static Generated {
    static WEEKS: OnceLock<Generated> = OnceLock::new();
    WEEKS.get_or_init(|| four_weeks(&busy()))
}

/// Whether a label of `kind` of the same resident overlaps `l`.
fn overlaps(g: &Generated, l: &LabelRecord, kind: &str) -> bool {
    g.labels.iter().any(|o| o.resident == l.resident && o.kind == kind && o.at < l.until && o.until > l.at)
}

fn labels<'a>(g: &'a Generated, kind: &str) -> Vec<&'a LabelRecord> {
    let found: Vec<&LabelRecord> = g.labels.iter().filter(|l| l.kind == kind).collect();
    assert!(!found.is_empty(), "no {kind} in four weeks of six residents");
    found
}

fn is_motion(m: &Message) -> bool {
    m.device_id.contains("-motion-") && m.kind == MessageKind::Zigbee(ZigbeeChange::Occupied)
}

fn entrance_opened(m: &Message, resident: &str) -> bool {
    m.resident == resident
        && m.device_id.ends_with("-door-entrance")
        && m.kind == MessageKind::Zigbee(ZigbeeChange::DoorOpened)
}

fn within(m: &Message, from: DateTime<Utc>, until: DateTime<Utc>) -> bool {
    m.at >= from && m.at < until
}

#[test]
fn a_holiday_empties_the_house_between_the_front_door_at_departure_and_at_return() {
    let g = busy_weeks();
    let holidays = labels(g, "holiday");
    assert!(holidays.iter().any(|h| h.recorded == Some(false)), "some holidays are not recorded");
    assert!(holidays.iter().any(|h| h.recorded == Some(true)));
    for h in holidays.iter().filter(|h| h.at >= utc(2026, 11, 2, 0) && h.until < utc(2026, 11, 30, 0)) {
        let mine = |m: &&Message| m.resident == h.resident;
        let inside: Vec<&Message> = g
            .messages
            .iter()
            .filter(mine)
            .filter(|m| within(m, h.at + Duration::minutes(2), h.until))
            .filter(|m| {
                is_motion(m)
                    || m.device_id.ends_with("-door-entrance") && m.kind != MessageKind::Zigbee(ZigbeeChange::Report)
            })
            .collect();
        assert!(inside.is_empty(), "{h:?}: someone at home: {:?}", inside.first());
        assert!(
            g.messages.iter().any(|m| entrance_opened(m, &h.resident) && m.at == h.at),
            "{h:?}: no door at departure"
        );
        assert!(
            g.messages.iter().any(|m| entrance_opened(m, &h.resident) && m.at == h.until),
            "{h:?}: no door at return"
        );
        // No incident at home while away.
        assert!(!g.incidents.iter().any(|i| i.resident == h.resident && i.at > h.at && i.at < h.until), "{h:?}");
    }
}

#[test]
fn a_visit_ends_with_the_front_door_and_the_resident_still_at_home() {
    let g = busy_weeks();
    let visits = labels(g, "visitor");
    assert!(visits.iter().any(|v| v.detail.starts_with("evening")), "some visitors stay for the evening");
    for v in visits {
        // A visit does not rewrite what an incident's label says happened.
        let overlapping =
            g.incidents.iter().find(|i| i.resident == v.resident && i.at < v.until && i.until.unwrap_or(i.at) > v.at);
        assert!(overlapping.is_none(), "{v:?} over {overlapping:?}");
        assert!(
            g.messages.iter().any(|m| entrance_opened(m, &v.resident) && m.at == v.at),
            "{v:?}: no door on arrival"
        );
        assert!(
            g.messages.iter().any(|m| entrance_opened(m, &v.resident) && m.at == v.until),
            "{v:?}: no door on leaving"
        );
        let rooms: std::collections::HashSet<&str> = g
            .messages
            .iter()
            .filter(|m| m.resident == v.resident && is_motion(m) && within(m, v.at, v.until))
            .map(|m| m.device_id.as_str())
            .collect();
        if !overlaps(g, v, "sensor_dead") {
            assert!(rooms.len() >= 3, "{v:?}: company in the hall, the living room and the kitchen: {rooms:?}");
        }
        let after = g
            .messages
            .iter()
            .any(|m| m.resident == v.resident && is_motion(m) && within(m, v.until, v.until + Duration::minutes(10)));
        assert!(after, "{v:?}: the resident moves about after seeing the visitor out");
    }
}

#[test]
fn a_stopped_kettle_is_silent_while_meals_go_on_in_the_kitchen() {
    let g = busy_weeks();
    // Away, or the kitchen's sensor dead, the kitchen is quiet for other reasons.
    let quiet_for_other_reasons = |k: &LabelRecord| overlaps(g, k, "holiday") || overlaps(g, k, "sensor_dead");
    let stopped = labels(g, "stopped_kettle");
    assert!(stopped.iter().any(|k| !quiet_for_other_reasons(k)));
    for k in stopped.into_iter().filter(|k| !quiet_for_other_reasons(k)) {
        let mine: Vec<&Message> =
            g.messages.iter().filter(|m| m.resident == k.resident && within(m, k.at, k.until)).collect();
        let kettle_on = mine
            .iter()
            .filter(|m| m.device_id.ends_with("-kettle") && m.kind == MessageKind::Zigbee(ZigbeeChange::PowerOn));
        assert_eq!(kettle_on.count(), 0, "{k:?}");
        let fridge = mine.iter().filter(|m| {
            m.device_id.ends_with("-door-fridge") && m.kind == MessageKind::Zigbee(ZigbeeChange::DoorOpened)
        });
        let kitchen = mine.iter().filter(|m| m.device_id.ends_with("-motion-kitchen") && is_motion(m));
        let days = (k.until - k.at).num_days();
        assert!(fridge.count() as i64 >= days, "{k:?}: the fridge still opens for meals");
        assert!(kitchen.count() as i64 >= 2 * days, "{k:?}: the kitchen still sees meals");
    }
}

#[test]
fn a_dead_sensor_says_nothing_and_a_long_lie_is_silence_without_an_alarm() {
    let g = busy_weeks();
    for d in labels(g, "sensor_dead") {
        assert!(d.incident);
        let suffix = d.detail.split(' ').next().expect("the sensor");
        let device = format!("{}-{suffix}", d.resident);
        let said = g.messages.iter().filter(|m| m.device_id == device && within(m, d.at, d.until)).count();
        assert_eq!(said, 0, "{d:?}");
        assert!(g.messages.iter().any(|m| m.device_id == device && m.at >= d.until), "{d:?}: it comes back later");
    }
    for l in labels(g, "long_lie") {
        assert!(l.incident);
        let during =
            g.messages.iter().filter(|m| m.resident == l.resident && within(m, l.at + Duration::minutes(2), l.until));
        let mut during = during.filter(|m| is_motion(m) || m.topic.ends_with("/event"));
        assert!(during.next().is_none(), "{l:?}: nothing moves and no alarm");
    }
}

#[test]
fn confounders_are_the_same_whatever_range_is_generated() {
    let c = busy();
    let whole = busy_weeks();
    let mut halves = generate_with_incidents(&c, utc(2026, 11, 2, 0), utc(2026, 11, 16, 0));
    let second = generate_with_incidents(&c, utc(2026, 11, 16, 0), utc(2026, 11, 30, 0));
    halves.labels.extend(second.labels);
    // A span across the two halves is labelled in both.
    let key = |l: &LabelRecord| (l.at, l.resident.clone(), l.kind);
    halves.labels.sort_by_key(key);
    halves.labels.dedup();
    halves.messages.extend(second.messages);
    let mut whole_labels = whole.labels.clone();
    whole_labels.sort_by_key(key);
    assert_eq!(halves.labels, whole_labels);
    assert_eq!(halves.messages.len(), whole.messages.len());
    // One rate does not move another's spans, even at 0 or 1.
    let mut none_recorded = busy();
    none_recorded.confounders.unrecorded_holidays = 1.0;
    let all_unrecorded = four_weeks(&none_recorded);
    assert!(all_unrecorded.labels.iter().all(|l| l.recorded != Some(true)));
    let holidays =
        |g: &Generated| g.labels.iter().filter(|l| l.kind == "holiday").map(|l| (l.at, l.until)).collect::<Vec<_>>();
    assert_eq!(holidays(&all_unrecorded), holidays(whole));
    assert_eq!(all_unrecorded.labels.len(), whole.labels.len());
    // Off by default: a plain config has no confounder but the routine's.
    let plain = four_weeks(&config(6, 21));
    assert!(plain.labels.iter().all(|l| l.kind == "long_nap" || l.kind == "long_outing"));
}
