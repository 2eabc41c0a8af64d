//! Scripted incidents happen exactly as scripted, and random ones show the
//! way each kind should.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use eldercare_sim::message::{EventName, ZigbeeChange};
use eldercare_sim::scenario::Scenario;
use eldercare_sim::{IncidentKind, Message, MessageKind, generate_with_incidents};
use serde_json::Value;

use crate::generator::{config, heart_rate, json, reading, ts};

const DEMO: &str = include_str!("../../../scenarios/demo.toml");

fn start() -> DateTime<Utc> {
    // 10:00 in Shanghai is 02:00 in London: r3 wanders at night.
    DateTime::parse_from_rfc3339("2026-11-28T10:00:00+08:00").unwrap().with_timezone(&Utc)
}

fn of<'a>(messages: &'a [Message], device: &str, kind: MessageKind) -> Vec<&'a Message> {
    messages.iter().filter(|m| m.device_id == device && m.kind == kind).collect()
}

fn at(offset: &str) -> DateTime<Utc> {
    let d = eldercare_sim::clock::parse_duration(offset).unwrap();
    start() + d
}

fn during<'a>(messages: &'a [Message], device: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<&'a Message> {
    messages
        .iter()
        .filter(|m| m.device_id == device && m.kind == MessageKind::Telemetry && from <= m.at && m.at < to)
        .collect()
}

#[test]
fn the_demo_scenario_plays_exactly_what_it_scripts() {
    let scenario = Scenario::parse(DEMO).unwrap();
    assert_eq!(scenario.duration, Duration::hours(1));
    let config = scenario.config(start(), scenario.seed.unwrap()).unwrap();
    let g = generate_with_incidents(&config, start(), start() + Duration::hours(6));
    let m = &g.messages;

    // Exactly the scripted incidents, and nothing random.
    let mut got: Vec<(String, String)> = g.incidents.iter().map(|r| (r.resident.clone(), r.label())).collect();
    got.sort();
    let mut want: Vec<(String, String)> = [
        ("r1", "fall"),
        ("r2", "sos"),
        ("r3", "fall_cancelled"),
        ("r1", "tachycardia"),
        ("r2", "smoke"),
        ("r3", "water_leak"),
        ("r3", "device_offline"),
        ("r2", "low_battery"),
        ("r2", "fever"),
        ("r1", "low_spo2"),
        ("r3", "night_wandering"),
        ("r2", "missed_meal"),
        ("r1", "inactivity"),
    ]
    .iter()
    .map(|(r, k)| (r.to_string(), k.to_string()))
    .collect();
    want.sort();
    assert_eq!(got, want);
    assert!(g.incidents.iter().all(|r| !r.random));

    // Falls: one detection each at the scripted instant; r3 cancels 20 s later.
    let falls = |id| of(m, id, MessageKind::Event(EventName::FallDetected));
    let cancels = |id| of(m, id, MessageKind::Event(EventName::FallCancelled));
    assert_eq!(falls("r1-watch").iter().map(|x| x.at).collect::<Vec<_>>(), [at("30s")]);
    assert_eq!(ts(&json(falls("r1-watch")[0])), Some(at("30s")));
    assert!(cancels("r1-watch").is_empty());
    assert_eq!(falls("r3-watch").iter().map(|x| x.at).collect::<Vec<_>>(), [at("2m")]);
    assert_eq!(cancels("r3-watch").iter().map(|x| x.at).collect::<Vec<_>>(), [at("2m20s")]);
    assert!(falls("r2-watch").is_empty());

    let sos = of(m, "r2-sos", MessageKind::Event(EventName::SosPressed));
    assert_eq!(sos.iter().map(|x| x.at).collect::<Vec<_>>(), [at("1m")]);
    assert!(of(m, "r1-sos", MessageKind::Event(EventName::SosPressed)).is_empty());

    // Abnormal vitals only inside their windows.
    let hr = |from, to| during(m, "r1-watch", from, to).iter().filter_map(|x| heart_rate(&json(x))).collect::<Vec<_>>();
    assert!(hr(at("3m"), at("13m")).iter().all(|&h| h >= 130.0), "tachycardia not sustained");
    assert!(hr(start(), at("3m")).iter().all(|&h| h < 120.0));
    let spo2: Vec<f64> =
        during(m, "r1-watch", at("15m"), at("27m")).iter().filter_map(|x| reading(&json(x), "spo2")).collect();
    assert!(!spo2.is_empty() && spo2.iter().all(|&s| s <= 88.0));
    let temps = |from, to| {
        during(m, "r2-watch", from, to).iter().filter_map(|x| reading(&json(x), "body_temperature")).collect::<Vec<_>>()
    };
    assert!(temps(start(), at("12m")).iter().all(|&t| t < 37.5));
    assert!(temps(at("45m"), at("52m")).iter().all(|&t| t >= 38.3), "no fever");

    // Hazards: the alarm at the scripted time, cleared after its duration.
    let smoke = of(m, "r2-smoke", MessageKind::Zigbee(ZigbeeChange::Smoke));
    assert_eq!(smoke.iter().map(|x| x.at).collect::<Vec<_>>(), [at("5m")]);
    assert_eq!(json(smoke[0])["smoke"], true);
    assert_eq!(of(m, "r2-smoke", MessageKind::Zigbee(ZigbeeChange::HazardCleared))[0].at, at("11m"));
    let leak = of(m, "r3-leak", MessageKind::Zigbee(ZigbeeChange::WaterLeak));
    assert_eq!(leak.iter().map(|x| x.at).collect::<Vec<_>>(), [at("6m")]);

    // The watch goes offline with its Last Will, then says nothing until it returns.
    let will = of(m, "r3-watch", MessageKind::LastWill);
    assert_eq!(will.iter().map(|x| x.at).collect::<Vec<_>>(), [at("8m")]);
    assert_eq!(will[0].topic, "eldercare/v1/r3-watch/status");
    assert!(m.iter().all(|x| x.device_id != "r3-watch" || x.at <= at("8m") || x.at >= at("28m")));
    let back = m.iter().find(|x| x.device_id == "r3-watch" && x.at >= at("28m")).unwrap();
    assert_eq!((back.at, back.kind), (at("28m"), MessageKind::Status));
    assert_eq!(json(back)["online"], true);

    // Low battery: reported at once, and staying low.
    let beats: Vec<_> = of(m, "r2-sos", MessageKind::Status).into_iter().filter(|x| x.at >= at("10m")).collect();
    assert_eq!(beats[0].at, at("10m"));
    assert!(beats.iter().all(|x| json(x)["battery"].as_u64().is_some_and(|b| b < 15)));

    // Night wandering: out of the entrance door at the scripted time, no motion until back.
    let door = of(m, "r3-door-entrance", MessageKind::Zigbee(ZigbeeChange::DoorOpened));
    assert_eq!(door.iter().map(|x| x.at).collect::<Vec<_>>(), [at("20m"), at("50m")]);
    let motion_while_out = m.iter().filter(|x| {
        x.resident == "r3"
            && x.kind == MessageKind::Zigbee(ZigbeeChange::Occupied)
            && x.at > at("20m")
            && x.at < at("50m")
    });
    assert_eq!(motion_while_out.count(), 0);

    // Missed meal: r2's next window (lunch, 11:30-13:30 local) has no kitchen at all.
    let missed = g.incidents.iter().find(|r| r.kind == IncidentKind::MissedMeal).unwrap();
    assert_eq!(missed.at, at("1h30m"));
    let until = missed.until.unwrap();
    let kitchen = m.iter().filter(|x| {
        x.at >= missed.at
            && x.at < until
            && ["r2-motion-kitchen", "r2-door-fridge", "r2-plug-kettle"].contains(&x.device_id.as_str())
            && !matches!(x.kind, MessageKind::Zigbee(ZigbeeChange::Report | ZigbeeChange::Vacant))
    });
    assert_eq!(kitchen.count(), 0, "kitchen activity during a missed meal");
    assert!(
        of(m, "r2-pillbox", MessageKind::Event(EventName::MealEaten)).iter().all(|x| x.at < missed.at || x.at >= until)
    );

    // Inactivity: no motion and no bed event anywhere in r1's home for 4 h.
    let still = m.iter().filter(|x| {
        x.resident == "r1"
            && x.at >= at("35m")
            && x.at < at("4h35m")
            && matches!(
                x.kind,
                MessageKind::Zigbee(ZigbeeChange::Occupied | ZigbeeChange::DoorOpened) | MessageKind::Event(_)
            )
    });
    assert_eq!(still.count(), 0, "r1 moved while inactive");
}

#[test]
fn random_incidents_show_as_their_kind_should() {
    let mut c = config(12, 99);
    c.incident_rate = 4.0;
    let from = DateTime::parse_from_rfc3339("2026-09-01T00:00:00Z").unwrap().with_timezone(&Utc);
    let g = generate_with_incidents(&c, from, from + Duration::days(4));
    let m = &g.messages;
    let mut seen: BTreeMap<IncidentKind, usize> = BTreeMap::new();
    for r in &g.incidents {
        assert!(r.random);
        *seen.entry(r.kind).or_default() += 1;
        // A device that is offline shows nothing, whatever happens.
        let silenced = g.incidents.iter().any(|o| {
            o.kind == IncidentKind::DeviceOffline
                && o.resident == r.resident
                && o.at <= r.at
                && o.until.is_some_and(|u| r.at < u)
                && r.kind != IncidentKind::DeviceOffline
        });
        if silenced {
            continue;
        }
        let here = |x: &&Message| x.resident == r.resident && x.at == r.at;
        let shown = match r.kind {
            IncidentKind::Fall => m.iter().filter(here).any(|x| x.kind == MessageKind::Event(EventName::FallDetected)),
            IncidentKind::Sos => m.iter().filter(here).any(|x| x.kind == MessageKind::Event(EventName::SosPressed)),
            IncidentKind::NightWandering => m.iter().filter(here).any(|x| {
                x.kind == MessageKind::Zigbee(ZigbeeChange::DoorOpened) && x.device_id.ends_with("door-entrance")
            }),
            IncidentKind::DeviceOffline => m.iter().filter(here).any(|x| {
                x.kind == MessageKind::LastWill
                    || x.kind == MessageKind::Availability
                    || (x.kind == MessageKind::Status && json(x)["online"] == false)
            }),
            IncidentKind::LowBattery => {
                m.iter().filter(here).any(|x| json(x).get("battery").and_then(Value::as_u64).is_some_and(|b| b < 15))
            }
            IncidentKind::WaterLeak => {
                m.iter().filter(here).any(|x| x.kind == MessageKind::Zigbee(ZigbeeChange::WaterLeak))
            }
            IncidentKind::Smoke => m.iter().filter(here).any(|x| x.kind == MessageKind::Zigbee(ZigbeeChange::Smoke)),
            IncidentKind::Tachycardia => m
                .iter()
                .filter(|x| {
                    x.device_id == format!("{}-watch", r.resident) && x.at >= r.at && x.at < r.at + Duration::minutes(2)
                })
                .filter_map(|x| heart_rate(&json(x)))
                .all(|h| h >= 120.0),
            IncidentKind::LowSpo2 => m
                .iter()
                .filter(|x| {
                    x.device_id == format!("{}-watch", r.resident) && x.at >= r.at && x.at < r.at + Duration::minutes(2)
                })
                .filter_map(|x| reading(&json(x), "spo2"))
                .all(|s| s <= 89.0),
            IncidentKind::Fever => {
                let peak = r.at + Duration::minutes(45);
                m.iter()
                    .filter(|x| {
                        x.device_id == format!("{}-watch", r.resident)
                            && x.at >= peak
                            && x.at < peak + Duration::minutes(5)
                    })
                    .filter_map(|x| reading(&json(x), "body_temperature"))
                    .all(|t| t >= 38.0)
            }
            IncidentKind::MissedMeal | IncidentKind::Inactivity => {
                let until = r.until.unwrap();
                !m.iter().any(|x| {
                    x.resident == r.resident
                        && x.at >= r.at
                        && x.at < until
                        && x.kind == MessageKind::Zigbee(ZigbeeChange::Occupied)
                        && (r.kind == IncidentKind::Inactivity || x.device_id.ends_with("motion-kitchen"))
                })
            }
        };
        assert!(shown, "{} {} at {} ({}) does not show", r.resident, r.label(), r.at, r.detail);
    }
    for kind in IncidentKind::ALL {
        assert!(seen.contains_key(&kind), "no random {kind} in 48 resident-days");
    }
}
