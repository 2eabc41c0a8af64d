//! Turns one MQTT message into what to store and what to quarantine.
//!
//! Pure: the caller hands in the clock, the device registry and the last known
//! Zigbee2MQTT states, so every rule of the device contract is testable
//! without a broker or a database. This module routes a message by its
//! topic; each payload family has its own decoder ([`native`], [`fhir`],
//! [`zigbee`]), all reading fields through [`fields`].

mod fhir;
mod fields;
mod native;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod testing;
mod zigbee;

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use crate::domain::device::DeviceInfo;
use crate::domain::zigbee::ZigbeeState;
use crate::domain::{EventKind, Metric, Reason};
use fields::{Fault, echo, parse_json};

pub const MAX_PAYLOAD: usize = 64 * 1024;

const MAX_DEVICE_ID_LEN: usize = 64;

const NATIVE_PREFIX: &str = "eldercare/";
const ZIGBEE_PREFIX: &str = "zigbee2mqtt/";
const AVAILABILITY_SUFFIX: &str = "/availability";

pub trait Registry {
    fn native(&self, device_id: &str) -> Option<&DeviceInfo>;
    fn zigbee(&self, friendly_name: &str) -> Option<&DeviceInfo>;
    /// Whether the topic below `zigbee2mqtt/` is a gateway's own `bridge/...`
    /// chatter (with its own base topic), to be ignored like version 1's.
    fn zigbee_bridge(&self, _name: &str) -> bool {
        false
    }
}

pub trait ZigbeeStates {
    fn get(&self, device_id: &str) -> Option<&ZigbeeState>;
    fn set(&mut self, device_id: &str, state: ZigbeeState);
}

impl ZigbeeStates for HashMap<String, ZigbeeState> {
    fn get(&self, device_id: &str) -> Option<&ZigbeeState> {
        HashMap::get(self, device_id)
    }

    fn set(&mut self, device_id: &str, state: ZigbeeState) {
        self.insert(device_id.to_owned(), state);
    }
}

/// When a message is decoded, and how far back its timestamps may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// The time of receipt: the `ts` of data that carries none, and what the
    /// contract's bounds are measured from.
    pub at: DateTime<Utc>,
    /// How old a `ts` may be; `None` for history (an imported log), which is
    /// old by nature and waits for no wall clock.
    pub max_past: Option<TimeDelta>,
}

impl Received {
    /// A live message: more than 30 days in the past is out of bounds.
    pub fn live(at: DateTime<Utc>) -> Received {
        Received { at, max_past: Some(fields::MAX_PAST) }
    }

    /// History recorded elsewhere: any past, never the future.
    pub fn history(at: DateTime<Utc>) -> Received {
        Received { at, max_past: None }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct Rejection {
    pub reason: Reason,
    /// Human-readable; names the offending field and value for the operator.
    pub detail: String,
    /// The registered device, or the id / friendly name the topic claimed
    /// when the registry does not know it; `None` when the topic has no id.
    pub device_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub metric: Metric,
    pub ts: DateTime<Utc>,
    /// Always in the metric's canonical unit and within its plausible range.
    pub value: f64,
    pub seq: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    pub ts: DateTime<Utc>,
    pub data: Value,
    pub seq: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub ts: DateTime<Utc>,
    pub online: Option<bool>,
    /// Only a plausible battery level; an implausible one is rejected.
    pub battery: Option<f64>,
    pub rssi: Option<i64>,
    pub firmware: Option<String>,
}

/// The whole outcome for one MQTT message: what to store and what to quarantine.
/// A message may yield both (e.g. a telemetry batch with one unknown metric: the
/// good readings are kept and the message is quarantined with the reason for
/// the bad one).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decoded {
    /// The registered device, when known.
    pub device_id: Option<String>,
    /// True when the message carried no ts and `now` was used, so the caller
    /// knows a metric+ts key cannot identify a redelivery.
    pub ts_was_missing: bool,
    pub readings: Vec<Reading>,
    pub events: Vec<Event>,
    pub status: Option<Status>,
    pub rejections: Vec<Rejection>,
}

/// Decodes a live message received at `now`.
pub fn decode(
    topic: &str,
    payload: &[u8],
    now: DateTime<Utc>,
    registry: &impl Registry,
    zigbee: &mut impl ZigbeeStates,
) -> Decoded {
    decode_received(topic, payload, Received::live(now), registry, zigbee)
}

/// Decodes a message with the bounds `now` sets: the live path's, or
/// history's.
pub fn decode_received(
    topic: &str,
    payload: &[u8],
    now: Received,
    registry: &impl Registry,
    zigbee: &mut impl ZigbeeStates,
) -> Decoded {
    // MQTT forbids it, but a broker may pass it on, and the topic is stored
    // as text with any rejection.
    if topic.contains('\0') {
        return Decoded {
            rejections: vec![Rejection {
                reason: Reason::Unstorable,
                detail: format!("topic {} holds a NUL character, which the database cannot store", echo(topic)),
                device_id: None,
            }],
            ..Decoded::default()
        };
    }
    let route = match parse_topic(topic) {
        Ok(route) => route,
        Err(detail) => {
            return Decoded {
                rejections: vec![Rejection { reason: Reason::BadTopic, detail, device_id: None }],
                ..Decoded::default()
            };
        }
    };
    let (claimed_id, device) = match route {
        Route::Bridge => return Decoded::default(),
        Route::ZigbeeState(name) if registry.zigbee_bridge(name) => return Decoded::default(),
        Route::Native { device_id, .. } => (device_id, registry.native(device_id)),
        Route::ZigbeeState(name) | Route::ZigbeeAvailability(name) => (name, registry.zigbee(name)),
    };
    let Some(device) = device else {
        return Decoded {
            rejections: vec![Rejection {
                reason: Reason::UnknownDevice,
                detail: format!("no device is registered as {}", echo(claimed_id)),
                device_id: Some(claimed_id.to_owned()),
            }],
            ..Decoded::default()
        };
    };

    let mut out = Decoded { device_id: Some(device.device_id.clone()), ..Decoded::default() };
    let outcome = if payload.len() > MAX_PAYLOAD {
        Err(Fault::new(Reason::Oversized, format!("payload is {} bytes, the limit is {MAX_PAYLOAD}", payload.len())))
    } else if payload.is_empty() && route.is_retained() {
        // An empty retained publish is how MQTT clears a retained message
        // (a decommissioned device); it carries no data and is not an error.
        Ok(())
    } else {
        match route {
            Route::Native { kind, .. } => parse_json(payload).and_then(|root| match kind {
                NativeKind::Telemetry => native::telemetry(&root, now, &mut out),
                NativeKind::Event => native::event(&root, now, &mut out),
                NativeKind::Status => native::status(&root, now, &mut out),
                NativeKind::Fhir => fhir::resource(&root, now, &mut out),
            }),
            Route::ZigbeeState(_) => zigbee::state(payload, now, device, zigbee, &mut out),
            Route::ZigbeeAvailability(_) => zigbee::availability(payload, now, &mut out),
            Route::Bridge => Ok(()),
        }
    };
    if let Err(fault) = outcome {
        // A whole-message fault stores nothing, even what was decoded before
        // the fault was found.
        out.readings.clear();
        out.events.clear();
        out.status = None;
        out.ts_was_missing = false;
        out.rejections.push(fault.into_rejection());
    }
    for rejection in &mut out.rejections {
        rejection.device_id.get_or_insert_with(|| device.device_id.clone());
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NativeKind {
    Telemetry,
    Event,
    Status,
    Fhir,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    Native { device_id: &'a str, kind: NativeKind },
    ZigbeeState(&'a str),
    ZigbeeAvailability(&'a str),
    Bridge,
}

impl Route<'_> {
    fn is_retained(&self) -> bool {
        matches!(self, Route::Native { kind: NativeKind::Status, .. } | Route::ZigbeeAvailability(_))
    }
}

fn parse_topic(topic: &str) -> Result<Route<'_>, String> {
    if let Some(rest) = topic.strip_prefix(NATIVE_PREFIX) {
        let mut levels = rest.split('/');
        let (Some(version), Some(device_id), Some(suffix), None) =
            (levels.next(), levels.next(), levels.next(), levels.next())
        else {
            return Err(format!(
                "topic {} is not eldercare/v1/{{device_id}}/{{telemetry|event|status|fhir}}",
                echo(topic)
            ));
        };
        if version != "v1" {
            return Err(format!("unsupported contract version {}", echo(version)));
        }
        if !is_device_id(device_id) {
            return Err(format!("device id {} is not [A-Za-z0-9_.-]{{1,64}}", echo(device_id)));
        }
        let kind = match suffix {
            "telemetry" => NativeKind::Telemetry,
            "event" => NativeKind::Event,
            "status" => NativeKind::Status,
            "fhir" => NativeKind::Fhir,
            other => return Err(format!("unknown message type {}", echo(other))),
        };
        return Ok(Route::Native { device_id, kind });
    }
    if let Some(rest) = topic.strip_prefix(ZIGBEE_PREFIX) {
        if rest == "bridge" || rest.starts_with("bridge/") {
            return Ok(Route::Bridge);
        }
        let (name, availability) = match rest.strip_suffix(AVAILABILITY_SUFFIX) {
            Some(name) => (name, true),
            None => (rest, false),
        };
        if name.is_empty() {
            return Err(format!("topic {} has no friendly name", echo(topic)));
        }
        return Ok(if availability { Route::ZigbeeAvailability(name) } else { Route::ZigbeeState(name) });
    }
    Err(format!("topic {} is neither eldercare/v1/... nor zigbee2mqtt/...", echo(topic)))
}

fn is_device_id(id: &str) -> bool {
    (1..=MAX_DEVICE_ID_LEN).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use serde_json::json;

    use super::testing::*;
    use super::*;

    #[test]
    fn empty_retained_payload_is_ignored() {
        for topic in [STATUS, "zigbee2mqtt/front door/availability"] {
            let decoded = run(topic, "");
            assert_eq!(decoded.rejections, vec![]);
            assert!(decoded.status.is_none() && decoded.device_id.is_some());
        }
    }

    #[test]
    fn bad_topics() {
        let long_id = format!("eldercare/v1/{}/telemetry", "a".repeat(65));
        for topic in [
            "",
            "eldercare",
            "eldercare/v1",
            "eldercare/v1/watch-1",
            "eldercare/v1/watch-1/",
            "eldercare/v1//telemetry",
            "eldercare/v2/watch-1/telemetry",
            "eldercare/v1/watch-1/telemetry/extra",
            "eldercare/v1/watch 1/telemetry",
            "eldercare/v1/wätch/telemetry",
            "eldercare/v1/watch-1/metrics",
            long_id.as_str(),
            "zigbee2mqtt",
            "zigbee2mqtt/",
            "zigbee2mqtt//availability",
            "homeassistant/sensor/x",
            "/eldercare/v1/watch-1/telemetry",
        ] {
            let decoded = run(topic, r#"{"metric": "steps", "value": 1}"#);
            assert_eq!(reasons(&decoded), vec![Reason::BadTopic], "{topic:?}");
            assert_eq!(decoded.rejections[0].device_id, None);
            assert_eq!(decoded.device_id, None);
        }
        let max_id = "a".repeat(64);
        let decoded = run(&format!("eldercare/v1/{max_id}/telemetry"), "{}");
        assert_eq!(reasons(&decoded), vec![Reason::UnknownDevice]);
    }

    #[test]
    fn bridge_topics_are_ignored() {
        for topic in ["zigbee2mqtt/bridge", "zigbee2mqtt/bridge/state", "zigbee2mqtt/bridge/logging"] {
            assert_eq!(run(topic, r#"{"state":"online"}"#), Decoded::default());
        }
    }

    #[test]
    fn unknown_devices() {
        let decoded = run("eldercare/v1/ghost/telemetry", r#"{"metric": "steps", "value": 1}"#);
        assert_eq!(decoded.device_id, None);
        assert_rejected(&decoded, Reason::UnknownDevice);
        assert_eq!(decoded.rejections[0].device_id.as_deref(), Some("ghost"));

        let decoded = run("zigbee2mqtt/attic/motion/availability", "online");
        assert_rejected(&decoded, Reason::UnknownDevice);
        assert_eq!(decoded.rejections[0].device_id.as_deref(), Some("attic/motion"));
    }

    #[test]
    fn friendly_names_may_contain_slashes() {
        let decoded = run("zigbee2mqtt/hall/motion", r#"{"occupancy": true}"#);
        assert_eq!(decoded.device_id.as_deref(), Some("z-motion"));
        assert_eq!(kinds(&decoded), vec!["motion"]);
        let decoded = run("zigbee2mqtt/hall/motion/availability", "offline");
        assert_eq!(decoded.status.and_then(|s| s.online), Some(false));
    }

    #[test]
    fn oversized_payloads() {
        let big = vec![b' '; MAX_PAYLOAD + 1];
        for topic in [TELEMETRY, STATUS, FHIR, "zigbee2mqtt/front door", "zigbee2mqtt/front door/availability"] {
            let decoded = decode(topic, &big, now(), &devices(), &mut HashMap::new());
            assert_rejected(&decoded, Reason::Oversized);
            assert!(decoded.device_id.is_some());
        }
        let limit = vec![b' '; MAX_PAYLOAD];
        let decoded = decode(TELEMETRY, &limit, now(), &devices(), &mut HashMap::new());
        assert_rejected(&decoded, Reason::Malformed);
    }

    #[test]
    fn every_reason_is_reachable() {
        let inputs = [
            (TELEMETRY, "nope"),
            ("eldercare/v1/ghost/telemetry", "{}"),
            (TELEMETRY, r#"{"metric": "mood", "value": 1}"#),
            (TELEMETRY, r#"{"metric": "spo2", "value": 20}"#),
            (TELEMETRY, r#"{"ts": "2030-01-01T00:00:00Z", "metric": "spo2", "value": 90}"#),
            ("eldercare/v1/watch-1/selfie", "{}"),
            (EVENT, r#"{"event": "fall_detected", "data": {"note": "a\u0000b"}}"#),
        ];
        let mut seen: HashSet<Reason> =
            inputs.iter().flat_map(|(topic, payload)| reasons(&run(topic, payload))).collect();
        let big = vec![b'{'; MAX_PAYLOAD + 1];
        seen.extend(reasons(&decode(TELEMETRY, &big, now(), &devices(), &mut HashMap::new())));
        assert_eq!(seen, Reason::ALL.into_iter().collect());
        let names: HashSet<&str> = Reason::ALL.iter().map(Reason::as_str).collect();
        assert_eq!(names.len(), Reason::ALL.len());
        assert_eq!(Reason::TimestampOutOfBounds.to_string(), "timestamp_out_of_bounds");
    }

    #[test]
    fn what_the_database_cannot_store_is_unstorable() {
        let cases: &[(&str, &str, &str)] = &[
            (EVENT, r#"{"event": "fall_detected", "data": {"note": "a\u0000b"}}"#, "payload.data.note"),
            (EVENT, r#"{"event": "fall\u0000", "data": {}}"#, "payload.event"),
            (EVENT, r#"{"event": "x", "data": {"a": [1, {"b\u0000": 2}]}}"#, "the key payload.data.a[1][\"b\\0\"]"),
            (STATUS, r#"{"online": true, "firmware": "1.2\u0000"}"#, "payload.firmware"),
            (TELEMETRY, r#"{"metric": "heart_rate", "value": 70, "note": "\u0000"}"#, "payload.note"),
            (FHIR, r#"{"resourceType": "Observation", "id": "\u0000"}"#, "payload.id"),
            ("zigbee2mqtt/red button", r#"{"action": "single\u0000"}"#, "payload.action"),
            (EVENT, r#"{"event": "fall_detected", "data": {"note": "\ud800"}}"#, "surrogate"),
            (EVENT, r#"{"event": "fall_detected", "data": {"\udc00": 1}}"#, "surrogate"),
            (STATUS, r#"{"firmware": "\ud800\u0041"}"#, "surrogate"),
            ("zigbee2mqtt/front door", r#"{"contact": true, "x": "\udbff"}"#, "surrogate"),
            (EVENT, r#"{"event": "fall_detected", "data": {"g": 1e400}}"#, "beyond the range"),
            (TELEMETRY, r#"{"seq": 9223372036854775808, "metric": "steps", "value": 1}"#, "seq"),
            (TELEMETRY, r#"{"seq": 1e19, "metric": "steps", "value": 1}"#, "seq"),
        ];
        for (topic, payload, named) in cases {
            let decoded = run(topic, payload);
            assert_rejected(&decoded, Reason::Unstorable);
            let detail = &decoded.rejections[0].detail;
            assert!(detail.contains(named) && !detail.contains('\0'), "{payload}: {detail}");
            assert!(decoded.rejections[0].device_id.is_some());
        }
        // The largest storable seq, a pair of surrogates and an escaped
        // backslash before `u0000` are all fine.
        let fine = run(TELEMETRY, r#"{"seq": 9223372036854775807, "metric": "steps", "value": 1}"#);
        assert_eq!(fine.readings[0].seq, Some(i64::MAX));
        let fine = run(EVENT, r#"{"event": "note", "data": {"t": "\\u0000 \ud83d\ude00"}}"#);
        assert_eq!(fine.events[0].data, json!({"t": "\\u0000 😀"}));
    }

    #[test]
    fn history_lifts_the_past_bound_and_keeps_the_future_one() {
        let old = r#"{"ts": "2010-11-04T00:03:50Z", "event": "motion", "data": {"room": "bedroom"}}"#;
        assert_rejected(&run(EVENT, old), Reason::TimestampOutOfBounds);
        let history = |payload: &str| {
            decode_received(EVENT, payload.as_bytes(), Received::history(now()), &devices(), &mut HashMap::new())
        };
        let decoded = history(old);
        assert_eq!(decoded.rejections, vec![]);
        assert_eq!(decoded.events[0].ts, "2010-11-04T00:03:50Z".parse::<DateTime<Utc>>().unwrap());
        assert_rejected(&history(r#"{"ts": "2030-01-01T00:00:00Z", "event": "motion"}"#), Reason::TimestampOutOfBounds);
        assert_eq!(Received::live(now()).max_past, Some(TimeDelta::days(30)));
    }

    #[test]
    fn a_nul_in_the_topic_is_unstorable() {
        for topic in ["zigbee2mqtt/front\0door", "eldercare/v1/watch\0/event", "\0"] {
            let decoded = run(topic, r#"{"event": "x"}"#);
            assert_eq!(reasons(&decoded), vec![Reason::Unstorable], "{topic:?}");
            assert_eq!((decoded.device_id.as_ref(), decoded.rejections[0].device_id.as_ref()), (None, None));
            assert!(!decoded.rejections[0].detail.contains('\0'));
        }
    }
}
