//! A seeded day has the expected shape.

use chrono::{Duration, NaiveTime, Timelike};
use eldercare_sim::clock::{day_bounds, local_instant};
use eldercare_sim::message::{EventName, ZigbeeChange};
use eldercare_sim::model::Meal;
use eldercare_sim::{DeviceRole, MessageKind, Room, generate};

use crate::generator::{by_id, config, full_days, heart_rate, json, reading, utc};

fn secs(t: NaiveTime) -> i64 {
    i64::from(t.num_seconds_from_midnight())
}

#[test]
fn meals_happen_inside_their_windows() {
    let config = config(6, 11);
    let (from, to) = (utc(2026, 11, 1, 0), utc(2026, 11, 5, 0));
    let messages = generate(&config, from, to);
    let ids = by_id(&config);
    let mut checked = 0;
    for r in &config.residents {
        let tz = r.timezone;
        let kitchen = format!("{}-motion-kitchen", r.key);
        let mine: Vec<_> = messages.iter().filter(|m| m.resident == r.key).collect();
        for date in full_days(tz, from, to) {
            let windows: Vec<_> = r
                .meal_windows
                .iter()
                .map(|w| (w.meal, local_instant(tz, date, secs(w.start)), local_instant(tz, date, secs(w.end))))
                .collect();
            let (day_start, day_end) = day_bounds(tz, date);
            let in_window =
                |t, meal: Option<Meal>| windows.iter().any(|&(m, a, b)| meal.is_none_or(|x| x == m) && a <= t && t < b);
            for &(meal, a, b) in &windows {
                let entered = mine.iter().any(|m| {
                    m.device_id == kitchen
                        && m.kind == MessageKind::Zigbee(ZigbeeChange::Occupied)
                        && a <= m.at
                        && m.at < b
                });
                assert!(entered, "{} {date}: no kitchen activity during {}", r.key, meal.as_str());
                checked += 1;
            }
            for m in mine.iter().filter(|m| day_start <= m.at && m.at < day_end) {
                match m.kind {
                    MessageKind::Event(EventName::MealServed | EventName::MealEaten) => {
                        assert!(in_window(m.at, Some(Meal::Lunch)), "{}: meal service outside lunch", m.at)
                    }
                    MessageKind::Event(EventName::MedicationTaken) => {
                        assert!(in_window(m.at, None), "{}: medication away from a meal", m.at)
                    }
                    _ => {}
                }
            }
            // Outside the windows the kitchen sees at most an afternoon tea.
            let stray = mine
                .iter()
                .filter(|m| {
                    m.device_id == kitchen
                        && m.kind == MessageKind::Zigbee(ZigbeeChange::Occupied)
                        && day_start <= m.at
                        && m.at < day_end
                        && !in_window(m.at, None)
                })
                .count();
            assert!(stray <= 3, "{} {date}: {stray} kitchen visits outside meal windows", r.key);
        }
    }
    assert!(checked >= 6 * 2 * 3, "too few days checked: {checked}");
    assert_eq!(ids.len(), 6 * 14, "14 devices per household");
}

#[test]
fn residents_sleep_at_night_apart_from_bathroom_trips() {
    let config = config(9, 5);
    let (from, to) = (utc(2026, 3, 1, 0), utc(2026, 3, 8, 0));
    let messages = generate(&config, from, to);
    let ids = by_id(&config);
    let mut trips = 0;
    for r in &config.residents {
        for date in full_days(r.timezone, from, to) {
            let night_start = local_instant(r.timezone, date, 0);
            let night_end = local_instant(r.timezone, date, 5 * 3600);
            let night: Vec<_> = messages
                .iter()
                .filter(|m| m.resident == r.key && night_start <= m.at && m.at < night_end)
                .filter(|m| {
                    !matches!(
                        m.kind,
                        MessageKind::Telemetry
                            | MessageKind::Status
                            | MessageKind::Zigbee(ZigbeeChange::Report | ZigbeeChange::Vacant)
                    )
                })
                .collect();
            for m in &night {
                let spec = &ids[&m.device_id];
                let ok = match m.kind {
                    MessageKind::Event(EventName::BedExit | EventName::BedEnter) => true,
                    MessageKind::Zigbee(ZigbeeChange::Occupied) => {
                        matches!(spec.role, DeviceRole::Motion(Room::Bedroom | Room::Hall | Room::Bathroom))
                    }
                    _ => false,
                };
                assert!(ok, "{} at night: {} on {}", m.at, m.kind, m.device_id);
            }
            let exits = night.iter().filter(|m| m.kind == MessageKind::Event(EventName::BedExit)).count();
            let enters = night.iter().filter(|m| m.kind == MessageKind::Event(EventName::BedEnter)).count();
            assert!(exits <= 3 && exits.abs_diff(enters) <= 1, "{} {date}: {exits} exits, {enters} returns", r.key);
            assert!(night.len() <= 40, "{} {date}: {} events at night", r.key, night.len());
            trips += exits;
        }
    }
    assert!(trips > 0, "nobody ever got up at night");
}

#[test]
fn wearable_reports_every_minute() {
    let config = config(3, 2);
    let (from, to) = (utc(2026, 10, 24, 0), utc(2026, 10, 27, 0));
    let messages = generate(&config, from, to);
    for r in &config.residents {
        let watch = format!("{}-watch", r.key);
        let times: Vec<_> = messages
            .iter()
            .filter(|m| m.device_id == watch && m.kind == MessageKind::Telemetry)
            .map(|m| m.at)
            .collect();
        assert_eq!(times.len(), 3 * 1440, "{watch}");
        assert!(times.windows(2).all(|w| w[1] - w[0] == Duration::seconds(60)), "{watch}: irregular cadence");
    }
}

#[test]
fn native_devices_heartbeat_with_slowly_draining_batteries() {
    let config = config(4, 9);
    let (from, to) = (utc(2026, 5, 1, 0), utc(2026, 5, 4, 0));
    let messages = generate(&config, from, to);
    for spec in eldercare_sim::devices(&config).iter().filter(|d| d.external_id.is_none()) {
        let beats: Vec<_> =
            messages.iter().filter(|m| m.device_id == spec.device_id && m.kind == MessageKind::Status).collect();
        assert!(beats.iter().all(|m| m.retain && m.topic.ends_with("/status")));
        assert!(beats.windows(2).all(|w| w[1].at - w[0].at <= Duration::minutes(5)), "{}", spec.device_id);
        assert!(beats.len() >= 3 * 287, "{}: {} heartbeats", spec.device_id, beats.len());
        let levels: Vec<i64> = beats.iter().filter_map(|m| json(m).get("battery").and_then(|b| b.as_i64())).collect();
        if !spec.role.has_battery() {
            assert!(levels.is_empty(), "{} is mains-powered", spec.device_id);
            continue;
        }
        assert_eq!(levels.len(), beats.len());
        let recharges = levels.windows(2).filter(|w| w[1] > w[0]).count();
        assert!(recharges <= 1, "{}: battery went up {recharges} times", spec.device_id);
        assert!(levels.windows(2).all(|w| w[1] >= w[0] - 1), "{}: battery fell fast", spec.device_id);
        assert!(levels.iter().all(|&b| (20..=100).contains(&b)), "{}: battery out of its cycle", spec.device_id);
    }
}

#[test]
fn vitals_follow_sleep_and_activity() {
    let config = config(6, 21);
    let (from, to) = (utc(2026, 6, 1, 0), utc(2026, 6, 3, 0));
    let messages = generate(&config, from, to);
    for r in &config.residents {
        let watch = format!("{}-watch", r.key);
        let (mut night, mut day) = (Vec::new(), Vec::new());
        let (mut night_steps, mut day_steps) = (0.0, 0.0);
        for m in messages.iter().filter(|m| m.device_id == watch && m.kind == MessageKind::Telemetry) {
            let v = json(m);
            let hour = m.at.with_timezone(&r.timezone).hour();
            let (Some(hr), Some(steps)) = (heart_rate(&v), reading(&v, "steps")) else {
                panic!("{watch}: telemetry without heart rate or steps");
            };
            if (1..4).contains(&hour) {
                night.push(hr);
                night_steps += steps;
            } else if (9..20).contains(&hour) {
                day.push(hr);
                day_steps += steps;
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        assert!(mean(&night) + 4.0 < mean(&day), "{watch}: night {} vs day {}", mean(&night), mean(&day));
        assert!(night_steps * 5.0 < day_steps, "{watch}: {night_steps} steps at night, {day_steps} by day");
    }
}
