//! Properties of the decoder over arbitrary input: it never panics, never
//! lets through what the database cannot store, and decodes every valid
//! message to exactly what it says.

use chrono::TimeDelta;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, json};

use super::fields::{MAX_FUTURE, MAX_PAST};
use super::testing::*;
use super::*;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1.0e6..1.0e6f64).prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z_ ]{0,12}".prop_map(Value::String),
        "[a-z\\x00]{0,3}".prop_map(Value::String),
        select(WORDS).prop_map(|word| Value::String(word.to_owned())),
    ];
    leaf.prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8).prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(KEYS).prop_map(str::to_owned),
        1 => "[a-z]{1,8}",
        1 => "[a-z\\x00]{1,3}",
    ]
}

const KEYS: &[&str] = &[
    "ts",
    "seq",
    "readings",
    "metric",
    "value",
    "unit",
    "event",
    "data",
    "online",
    "battery",
    "rssi",
    "firmware",
    "resourceType",
    "entry",
    "resource",
    "status",
    "code",
    "coding",
    "system",
    "valueQuantity",
    "component",
    "effectiveDateTime",
    "effectiveInstant",
    "issued",
    "dataAbsentReason",
    "occupancy",
    "contact",
    "water_leak",
    "smoke",
    "gas",
    "action",
    "power",
    "temperature",
    "humidity",
    "last_seen",
    "state",
    "linkquality",
];

const WORDS: &[&str] = &[
    "heart_rate",
    "spo2",
    "blood_glucose",
    "body_temperature",
    "steps",
    "power",
    "mood",
    "online",
    "offline",
    "Observation",
    "Bundle",
    "Patient",
    "http://loinc.org",
    "8867-4",
    "85354-9",
    "8480-6",
    "8462-4",
    "2339-0",
    "59408-5",
    "mg/dL",
    "mmol/L",
    "[degF]",
    "/min",
    "%",
    "kg",
    "entered-in-error",
    "final",
    "emergency",
    "sos",
    "single",
    "fall_detected",
    "2026-11-28T08:00:00Z",
    "2026-11-28T16:00:00.5+08:00",
    "2026-11-28",
    "1795852800000",
];

fn any_topic() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "(eldercare|zigbee2mqtt)(/[a-zA-Z0-9 _.+#-]{0,6}){0,5}",
        select(TOPICS).prop_map(str::to_owned),
    ]
}

const TOPICS: &[&str] = &[
    "eldercare/v1/watch-1/telemetry",
    "eldercare/v1/watch-1/event",
    "eldercare/v1/watch-1/status",
    "eldercare/v1/gw-1/fhir",
    "zigbee2mqtt/hall/motion",
    "zigbee2mqtt/front door",
    "zigbee2mqtt/kettle plug",
    "zigbee2mqtt/red button",
    "zigbee2mqtt/hazard",
    "zigbee2mqtt/front door/availability",
    "zigbee2mqtt/bridge/devices",
];

/// What must hold for any input: stored data is plausible and in the time
/// window, and every rejection is attributable.
fn assert_invariants(decoded: &Decoded) {
    let now = now();
    for reading in &decoded.readings {
        assert!(reading.metric.is_plausible(reading.value), "{reading:?}");
        assert!(reading.ts <= now + MAX_FUTURE && reading.ts >= now - MAX_PAST);
    }
    for event in &decoded.events {
        assert!(!event.kind.as_str().is_empty() && event.data.is_object());
    }
    for rejection in &decoded.rejections {
        assert!(!rejection.detail.is_empty());
        if rejection.reason == Reason::BadTopic {
            assert!(rejection.device_id.is_none());
        } else if rejection.device_id.is_none() {
            // Only a topic the database cannot store names no device.
            assert!(rejection.reason == Reason::Unstorable && decoded.device_id.is_none(), "{rejection:?}");
        }
    }
    if decoded.device_id.is_none() {
        assert!(decoded.readings.is_empty() && decoded.events.is_empty() && decoded.status.is_none());
    }
    assert_storable(decoded);
}

fn storable_text(text: &str) -> bool {
    !text.contains('\0')
}

/// serde_json's numbers are always finite doubles or 64-bit integers,
/// which jsonb holds; its strings are UTF-8, so only NUL is left.
fn storable_json(value: &Value) -> bool {
    match value {
        Value::String(text) => storable_text(text),
        Value::Array(items) => items.iter().all(storable_json),
        Value::Object(map) => map.iter().all(|(key, item)| storable_text(key) && storable_json(item)),
        Value::Null | Value::Bool(_) | Value::Number(_) => true,
    }
}

/// Nothing the decoder yields is refused by PostgreSQL's text, jsonb,
/// float8 and int8 columns.
fn assert_storable(decoded: &Decoded) {
    assert!(decoded.device_id.as_deref().is_none_or(storable_text));
    for reading in &decoded.readings {
        assert!(reading.value.is_finite() && reading.seq.is_none_or(|seq| seq >= 0), "{reading:?}");
    }
    for event in &decoded.events {
        assert!(storable_text(event.kind.as_str()) && storable_json(&event.data), "{event:?}");
        assert!(event.seq.is_none_or(|seq| seq >= 0));
    }
    if let Some(status) = &decoded.status {
        assert!(status.firmware.as_deref().is_none_or(storable_text), "{status:?}");
        assert!(status.battery.is_none_or(f64::is_finite));
    }
    for rejection in &decoded.rejections {
        assert!(storable_text(&rejection.detail) && rejection.device_id.as_deref().is_none_or(storable_text));
    }
}

/// A string field's text as it sits in the JSON, escapes and all: plain
/// letters, NULs, surrogates (lone, or paired by chance or on purpose)
/// and an escaped backslash before `u0000` (text, not a NUL). Returns
/// whether the string it stands for holds what the database refuses.
fn poison() -> impl Strategy<Value = (String, bool)> {
    let part = prop_oneof![
        "[a-z ]{0,4}",
        select(vec!["\\u0000", "\\ud800", "\\udbff", "\\udc00", "\\udfff", "\\u0041"]).prop_map(str::to_owned),
        Just("\\ud83d\\ude00".to_owned()),
        Just("\\\\u0000".to_owned()),
    ];
    prop::collection::vec(part, 1..5).prop_map(|parts| {
        let text: String = parts.concat();
        let bad = refused(&text);
        (text, bad)
    })
}

/// Reads the escapes of [`poison`] as UTF-16, independently of
/// serde_json: refused when a unit is NUL or a surrogate is unpaired.
fn refused(text: &str) -> bool {
    let mut units = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(hex) = rest.strip_prefix("\\u") {
            units.push(u16::from_str_radix(&hex[..4], 16).unwrap());
            rest = &hex[4..];
        } else if let Some(after) = rest.strip_prefix("\\\\") {
            units.push(u16::from(b'\\'));
            rest = after;
        } else {
            units.push(c as u16);
            rest = &rest[c.len_utf8()..];
        }
    }
    units.contains(&0) || char::decode_utf16(units).any(|c| c.is_err())
}

/// Every string field (and some keys) of every JSON payload family; `@`
/// is where the poison goes.
const FIELDS: &[(&str, &str)] = &[
    ("eldercare/v1/watch-1/event", r#"{"ts": "2026-11-28T08:00:00Z", "event": "@", "data": {}}"#),
    ("eldercare/v1/watch-1/event", r#"{"event": "fall_detected", "data": {"room": "@"}}"#),
    ("eldercare/v1/watch-1/event", r#"{"event": "fall_detected", "data": {"@": 1}}"#),
    ("eldercare/v1/watch-1/event", r#"{"event": "x", "data": {"a": [{"b": ["@"]}]}}"#),
    ("eldercare/v1/watch-1/event", r#"{"ts": "@", "event": "x"}"#),
    ("eldercare/v1/watch-1/event", r#"{"event": "x", "@": {}}"#),
    ("eldercare/v1/watch-1/status", r#"{"online": true, "firmware": "@"}"#),
    ("eldercare/v1/watch-1/status", r#"{"online": true, "battery": 80, "@": "1"}"#),
    ("eldercare/v1/watch-1/telemetry", r#"{"metric": "@", "value": 70}"#),
    ("eldercare/v1/watch-1/telemetry", r#"{"metric": "heart_rate", "value": 70, "unit": "@"}"#),
    ("eldercare/v1/watch-1/telemetry", r#"{"readings": [{"metric": "spo2", "value": 97, "@": "@"}]}"#),
    ("eldercare/v1/watch-1/telemetry", r#"{"ts": "@", "metric": "steps", "value": 1}"#),
    ("eldercare/v1/gw-1/fhir", r#"{"resourceType": "@"}"#),
    (
        "eldercare/v1/gw-1/fhir",
        r#"{"resourceType": "Observation", "status": "@", "code": {"coding": [{"code": "8867-4"}]},
            "valueQuantity": {"value": 72, "unit": "/min"}}"#,
    ),
    (
        "eldercare/v1/gw-1/fhir",
        r#"{"resourceType": "Observation", "code": {"coding": [{"system": "@", "code": "8867-4"}]},
            "valueQuantity": {"value": 72, "code": "@"}}"#,
    ),
    (
        "eldercare/v1/gw-1/fhir",
        r#"{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Observation",
            "code": {"coding": [{"code": "@"}]}, "valueQuantity": {"value": 72}}}]}"#,
    ),
    ("zigbee2mqtt/red button", r#"{"action": "@"}"#),
    ("zigbee2mqtt/hall/motion", r#"{"occupancy": true, "@": 1}"#),
    ("zigbee2mqtt/hall/motion", r#"{"occupancy": true, "last_seen": "@"}"#),
    ("zigbee2mqtt/kettle plug", r#"{"power": 30, "state": "@"}"#),
];

fn run_bytes(topic: &str, payload: &[u8], states: &mut HashMap<String, ZigbeeState>) -> Decoded {
    decode(topic, payload, now(), &devices(), states)
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        topic in select(TOPICS),
        payload in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        assert_invariants(&run_bytes(topic, &payload, &mut HashMap::new()));
    }

    #[test]
    fn arbitrary_topics_never_panic(topic in any_topic(), payload in json_value()) {
        let decoded = run_bytes(&topic, payload.to_string().as_bytes(), &mut HashMap::new());
        assert_invariants(&decoded);
    }

    #[test]
    fn arbitrary_json_never_panics(topic in select(TOPICS), payloads in prop::collection::vec(json_value(), 1..4)) {
        let mut states = HashMap::new();
        for payload in payloads {
            assert_invariants(&run_bytes(topic, payload.to_string().as_bytes(), &mut states));
        }
    }

    #[test]
    fn z2m_repeats_do_not_re_emit(
        topic in select(&TOPICS[4..9]),
        payload in json_value(),
    ) {
        let mut states = HashMap::new();
        let bytes = payload.to_string();
        run_bytes(topic, bytes.as_bytes(), &mut states);
        let again = run_bytes(topic, bytes.as_bytes(), &mut states);
        assert!(again.events.iter().all(|event| event.kind == EventKind::SosPressed), "{again:?}");
    }

    #[test]
    fn unstorable_strings_are_refused_whole_in_every_family(
        field in select(FIELDS),
        poison in poison(),
    ) {
        let ((topic, template), (text, bad)) = (field, poison);
        let payload = template.replace('@', &text);
        let mut states = HashMap::new();
        let decoded = run_bytes(topic, payload.as_bytes(), &mut states);
        assert_invariants(&decoded);
        if bad {
            prop_assert_eq!(reasons(&decoded), vec![Reason::Unstorable], "{}", payload);
            prop_assert!(decoded.readings.is_empty() && decoded.events.is_empty() && decoded.status.is_none());
            prop_assert!(states.is_empty(), "nothing of it is remembered either");
        } else {
            prop_assert!(!reasons(&decoded).contains(&Reason::Unstorable), "{}", payload);
        }
        for state in states.values() {
            prop_assert!(state.action.as_deref().is_none_or(storable_text));
        }
    }

    #[test]
    fn a_nul_anywhere_in_the_topic_is_unstorable(
        topic in "(eldercare/v1/|zigbee2mqtt/)?[a-z/ ]{0,6}\0[a-z/\0]{0,6}",
        payload in json_value(),
    ) {
        let decoded = run_bytes(&topic, payload.to_string().as_bytes(), &mut HashMap::new());
        assert_invariants(&decoded);
        prop_assert_eq!(reasons(&decoded), vec![Reason::Unstorable]);
    }

    #[test]
    fn valid_telemetry_decodes_to_exactly_its_readings(message in telemetry_message()) {
        let (payload, expected) = message;
        let decoded = run_bytes(
            "eldercare/v1/watch-1/telemetry",
            payload.to_string().as_bytes(),
            &mut HashMap::new(),
        );
        prop_assert_eq!(decoded.rejections, vec![]);
        prop_assert_eq!(decoded.readings, expected);
    }
}

/// Any instant in the contract's window, at millisecond precision.
fn in_window() -> impl Strategy<Value = DateTime<Utc>> {
    (-MAX_PAST.num_milliseconds()..=MAX_FUTURE.num_milliseconds())
        .prop_map(|offset| now() + TimeDelta::milliseconds(offset))
}

/// A timestamp written either way the contract allows, with any UTC offset.
fn written(ts: DateTime<Utc>, as_millis: bool, offset_minutes: i32) -> Value {
    if as_millis {
        json!(ts.timestamp_millis())
    } else {
        let zone = chrono::FixedOffset::east_opt(offset_minutes * 60).unwrap();
        json!(ts.with_timezone(&zone).to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    }
}

fn written_ts() -> impl Strategy<Value = (DateTime<Utc>, Value)> {
    (in_window(), any::<bool>(), -14 * 60..=14 * 60)
        .prop_map(|(ts, as_millis, offset)| (ts, written(ts, as_millis, offset)))
}

/// A plausible value that JSON carries exactly (a multiple of 1/8).
fn plausible_reading() -> impl Strategy<Value = (Metric, f64)> {
    (select(Metric::ALL.to_vec()), any::<u32>()).prop_map(|(metric, pick)| {
        let (low, high) = metric.plausible();
        let eighths = ((high - low) * 8.0) as u32 + 1;
        (metric, low + f64::from(pick % eighths) / 8.0)
    })
}

fn telemetry_message() -> impl Strategy<Value = (Value, Vec<Reading>)> {
    let reading = (plausible_reading(), prop::option::of(written_ts()));
    (prop::collection::vec(reading, 1..8), prop::option::of(written_ts()), prop::option::of(0..i64::MAX), any::<bool>())
        .prop_map(|(readings, message_ts, seq, flat)| {
            let now = now();
            let mut payload = Map::new();
            if let Some((_, written)) = &message_ts {
                payload.insert("ts".into(), written.clone());
            }
            if let Some(seq) = seq {
                payload.insert("seq".into(), json!(seq));
            }
            if flat && readings.len() == 1 {
                let (metric, value) = readings[0].0;
                payload.insert("metric".into(), json!(metric.as_str()));
                payload.insert("value".into(), json!(value));
                let ts = message_ts.map_or(now, |(ts, _)| ts);
                return (Value::Object(payload), vec![Reading { metric, ts, value, seq }]);
            }
            let mut items = Vec::new();
            let mut expected = Vec::new();
            for ((metric, value), own_ts) in readings {
                let mut item = json!({"metric": metric.as_str(), "value": value});
                if let Some((_, written)) = &own_ts {
                    item["ts"] = written.clone();
                }
                let ts = own_ts.or(message_ts.clone()).map_or(now, |(ts, _)| ts);
                items.push(item);
                expected.push(Reading { metric, ts, value, seq });
            }
            payload.insert("readings".into(), Value::Array(items));
            (Value::Object(payload), expected)
        })
}
