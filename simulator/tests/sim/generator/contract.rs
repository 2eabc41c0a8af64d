//! Every generated message is what the device contract says a device sends.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use eldercare_sim::payload::Metric;
use eldercare_sim::{DeviceSpec, Message, MessageKind, Qos, SimConfig, Source, announce, devices, generate};
use serde_json::Value;

use crate::generator::{config, json, ts, utc};

const EVENTS: [&str; 17] = [
    "fall_detected",
    "fall_cancelled",
    "sos_pressed",
    "motion",
    "door_opened",
    "door_closed",
    "bed_exit",
    "bed_enter",
    "appliance_on",
    "appliance_off",
    "meal_served",
    "meal_eaten",
    "medication_taken",
    "water_leak",
    "smoke_detected",
    "gas_detected",
    "unknown",
];
const KINDS: [&str; 10] = [
    "wearable",
    "fall_sensor",
    "sos_button",
    "motion_sensor",
    "door_sensor",
    "bed_sensor",
    "smart_plug",
    "pill_box",
    "hazard_sensor",
    "health_gateway",
];
const ROOMS: [&str; 5] = ["bedroom", "bathroom", "kitchen", "living_room", "hall"];

fn valid_device_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn busy_config() -> SimConfig {
    let mut c = config(8, 3);
    c.incident_rate = 3.0;
    c
}

fn check_reading(where_: &str, metric: &Value, value: &Value) {
    let name = metric.as_str().unwrap_or_else(|| panic!("{where_}: metric is not a string"));
    let metric = Metric::parse(name).unwrap_or_else(|| panic!("{where_}: unknown metric {name}"));
    let value = value.as_f64().unwrap_or_else(|| panic!("{where_}: {name} value is not a number"));
    let (lo, hi) = metric.plausible();
    assert!((lo..=hi).contains(&value), "{where_}: {name} = {value} outside {lo}..{hi}");
}

fn check_ts(m: &Message, v: &Value) {
    let t = ts(v).unwrap_or_else(|| panic!("{}: ts missing or malformed: {v}", m.topic));
    assert_eq!(t, m.at, "{}: ts differs from the simulated time", m.topic);
    if let Some(Value::String(s)) = v.get("ts") {
        assert!(s.ends_with('Z') || s[s.len() - 6..].starts_with(['+', '-']), "{}: ts without offset", m.topic);
    }
}

fn check_native(m: &Message, channel: &str) {
    let v = json(m);
    let seq = || v.get("seq").and_then(Value::as_u64).unwrap_or_else(|| panic!("{}: no unsigned seq", m.topic));
    match channel {
        "telemetry" => {
            check_ts(m, &v);
            seq();
            if let Some(readings) = v.get("readings") {
                let readings = readings.as_array().unwrap_or_else(|| panic!("{}: readings not an array", m.topic));
                assert!(!readings.is_empty());
                for r in readings {
                    check_reading(&m.topic, &r["metric"], &r["value"]);
                }
            } else {
                check_reading(&m.topic, &v["metric"], &v["value"]);
            }
            assert_eq!(m.kind, MessageKind::Telemetry);
        }
        "event" => {
            check_ts(m, &v);
            seq();
            let name = v["event"].as_str().unwrap_or_else(|| panic!("{}: no event name", m.topic));
            assert!(EVENTS.contains(&name), "{}: event {name} not in the catalog", m.topic);
            assert!(v.get("data").is_none_or(Value::is_object));
        }
        "status" => {
            assert!(m.retain, "{}: status should be retained", m.topic);
            let online = v["online"].as_bool().unwrap_or_else(|| panic!("{}: no online flag", m.topic));
            if m.kind == MessageKind::LastWill {
                assert_eq!(m.payload, br#"{"online":false}"#);
                return;
            }
            check_ts(m, &v);
            if online {
                if let Some(b) = v.get("battery") {
                    let b = b.as_u64().unwrap_or(1000);
                    assert!(b <= 100, "{}: battery {b}", m.topic);
                }
                assert!(v["firmware"].is_string() && v["rssi"].is_i64());
            }
        }
        "fhir" => {
            let resources = match v["resourceType"].as_str() {
                Some("Observation") => vec![v.clone()],
                Some("Bundle") => v["entry"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{}: bundle without entries", m.topic))
                    .iter()
                    .map(|e| e["resource"].clone())
                    .collect(),
                other => panic!("{}: resourceType {other:?}", m.topic),
            };
            for o in resources {
                check_observation(m, &o);
            }
        }
        other => panic!("{}: unknown channel {other}", m.topic),
    }
}

fn check_observation(m: &Message, o: &Value) {
    assert_eq!(o["resourceType"], "Observation", "{}", m.topic);
    let t = o["effectiveDateTime"].as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok());
    assert_eq!(t.map(|t| t.with_timezone(&Utc)), Some(m.at), "{}: effectiveDateTime", m.topic);
    let code = |c: &Value| {
        assert_eq!(c["coding"][0]["system"], "http://loinc.org");
        c["coding"][0]["code"].as_str().unwrap_or_default().to_owned()
    };
    let quantity = |q: &Value, loinc: &str| {
        let value = q["value"].as_f64().unwrap_or(f64::NAN);
        let unit = q["code"].as_str().unwrap_or_default();
        assert_eq!(q["system"], "http://unitsofmeasure.org");
        let (metric, value) = match loinc {
            "2339-0" => {
                assert_eq!(unit, "mg/dL");
                (Metric::BloodGlucose, value / 18.016)
            }
            code => {
                let metric = Metric::ALL
                    .into_iter()
                    .find(|mt| mt.loinc().first() == Some(&code))
                    .unwrap_or_else(|| panic!("{}: LOINC {code} not in the catalog", m.topic));
                assert_eq!(unit, metric.unit(), "{}: unit of {code}", m.topic);
                (metric, value)
            }
        };
        let (lo, hi) = metric.plausible();
        assert!((lo..=hi).contains(&value), "{}: {} = {value}", m.topic, metric.as_str());
    };
    let c = code(&o["code"]);
    if c == "85354-9" {
        let parts = o["component"].as_array().unwrap_or_else(|| panic!("{}: BP panel without components", m.topic));
        let codes: Vec<String> = parts.iter().map(|p| code(&p["code"])).collect();
        assert_eq!(codes, ["8480-6", "8462-4"]);
        for p in parts {
            quantity(&p["valueQuantity"], &code(&p["code"]));
        }
    } else {
        quantity(&o["valueQuantity"], &c);
    }
}

fn check_zigbee(m: &Message, spec: &DeviceSpec) {
    let v = json(m);
    let map = v.as_object().unwrap_or_else(|| panic!("{}: not an object", m.topic));
    for (k, val) in map {
        match k.as_str() {
            "occupancy" | "contact" | "water_leak" | "smoke" => assert!(val.is_boolean(), "{}: {k}", m.topic),
            "battery" | "linkquality" => assert!(val.as_u64().is_some_and(|b| b <= 255), "{}: {k}", m.topic),
            "power" => check_reading(&m.topic, &Value::from("power"), val),
            "temperature" => check_reading(&m.topic, &Value::from("room_temperature"), val),
            "humidity" => check_reading(&m.topic, &Value::from("humidity"), val),
            "state" => assert_eq!(val, "ON"),
            "last_seen" => {
                let t = val.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok());
                assert_eq!(t.map(|t| t.with_timezone(&Utc)), Some(m.at), "{}: last_seen", m.topic);
            }
            other => panic!("{}: unexpected field {other}", m.topic),
        }
    }
    let field = match spec.kind.as_str() {
        "motion_sensor" => "occupancy",
        "door_sensor" => "contact",
        "smart_plug" => "power",
        _ => {
            if map.contains_key("smoke") {
                "smoke"
            } else {
                "water_leak"
            }
        }
    };
    assert!(map.contains_key(field), "{}: no {field}", m.topic);
    if let Some(b) = map.get("battery") {
        assert!(b.as_u64().is_some_and(|b| b <= 100));
    }
}

#[test]
fn every_message_matches_the_contract() {
    let config = busy_config();
    let (from, to) = (utc(2026, 11, 27, 0), utc(2026, 11, 30, 0));
    let mut messages = generate(&config, from, to);
    messages.extend(announce(&config, from));
    let registered: HashMap<String, DeviceSpec> =
        devices(&config).into_iter().map(|d| (d.device_id.clone(), d)).collect();
    let by_name: HashMap<String, &DeviceSpec> = registered
        .values()
        .filter(|d| d.external_id.is_some())
        .map(|d| (d.topic_base()["zigbee2mqtt/".len()..].to_owned(), d))
        .collect();
    let mut kinds = std::collections::BTreeSet::new();
    for m in &messages {
        kinds.insert(m.kind.to_string());
        assert!(m.payload.len() < 64 * 1024, "{}: oversized", m.topic);
        let parts: Vec<&str> = m.topic.splitn(4, '/').collect();
        match parts.as_slice() {
            ["eldercare", "v1", id, channel] => {
                assert!(valid_device_id(id), "{}: device id", m.topic);
                let spec = &registered[*id];
                assert_eq!(spec.source, Source::Native, "{}", m.topic);
                assert_eq!(*id, m.device_id);
                check_native(m, channel);
            }
            ["zigbee2mqtt", ..] => {
                let rest = &m.topic["zigbee2mqtt/".len()..];
                if let Some(name) = rest.strip_suffix("/availability") {
                    assert!(by_name.contains_key(name), "{}: unregistered friendly name", m.topic);
                    assert!(m.retain);
                    let v = json(m);
                    assert!(v["state"] == "online" || v["state"] == "offline");
                } else {
                    let spec = by_name.get(rest).unwrap_or_else(|| panic!("{}: unregistered friendly name", m.topic));
                    assert_eq!(spec.device_id, m.device_id);
                    check_zigbee(m, spec);
                }
            }
            _ => panic!("bad topic {}", m.topic),
        }
    }
    for must in [
        "telemetry",
        "status",
        "fhir",
        "last_will",
        "event:fall_detected",
        "event:fall_cancelled",
        "event:sos_pressed",
        "event:bed_exit",
        "event:medication_taken",
        "event:meal_eaten",
        "z2m:occupancy",
        "z2m:door_open",
        "z2m:power_on",
        "z2m:availability",
        "z2m:report",
    ] {
        assert!(kinds.contains(must), "never generated: {must}");
    }
}

#[test]
fn devices_are_registrable() {
    let config = config(5, 1);
    let all = devices(&config);
    let mut ids = std::collections::HashSet::new();
    for d in &all {
        assert!(valid_device_id(&d.device_id), "{}", d.device_id);
        assert!(ids.insert(d.device_id.clone()), "duplicate {}", d.device_id);
        assert!(KINDS.contains(&d.kind.as_str()));
        assert!(d.room.is_none_or(|r| ROOMS.contains(&r.as_str())));
        assert_eq!(d.external_id.is_some(), d.source == Source::Zigbee2Mqtt);
        assert_eq!(d.gateway.is_some(), d.source == Source::Zigbee2Mqtt);
        assert!(d.external_id.as_ref().is_none_or(|n| !n.ends_with("/availability")));
        assert!(d.device_id.starts_with(&format!("{}-", d.resident)));
    }
    let placements: Vec<_> = all.iter().filter_map(|d| d.placement).collect();
    for p in ["entrance", "fridge", "kettle"] {
        assert!(placements.contains(&p), "no device placed on {p}");
    }
    // Residents alternate between a BP cuff and a FHIR gateway.
    let gateways = all.iter().filter(|d| d.device_id.ends_with("-gw")).count();
    let cuffs = all.iter().filter(|d| d.device_id.ends_with("-bp")).count();
    assert_eq!((gateways, cuffs), (2, 3));
}

#[test]
fn seq_increases_per_device_and_qos_is_sane() {
    let config = busy_config();
    let messages = generate(&config, utc(2026, 1, 10, 0), utc(2026, 1, 12, 0));
    let mut last: HashMap<&str, u64> = HashMap::new();
    for m in &messages {
        if let Some(seq) = json(m).get("seq").and_then(Value::as_u64)
            && let Some(prev) = last.insert(&m.device_id, seq)
        {
            assert!(seq > prev, "{}: seq {seq} after {prev}", m.device_id);
        }
        if m.qos == Qos::AtMostOnce {
            assert!(m.topic.starts_with("zigbee2mqtt/"), "{}: only periodic Zigbee reports are QoS 0", m.topic);
        }
    }
    assert!(messages.windows(2).all(|w| w[0].at <= w[1].at), "not in time order");
    assert!(messages.iter().all(|m| m.at >= utc(2026, 1, 10, 0) && m.at < utc(2026, 1, 10, 0) + Duration::days(2)));
}
