//! Turns one MQTT message into what to store and what to quarantine.
//!
//! Pure: the caller hands in the clock, the device registry and the last known
//! Zigbee2MQTT states, so every rule of the device contract is testable
//! without a broker or a database.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value, json};

use crate::domain::device::DeviceInfo;
use crate::domain::{DeviceKind, EventKind, Metric, Reason};

pub const MAX_PAYLOAD: usize = 64 * 1024;

/// Used when a smart plug's registration does not say otherwise.
pub const DEFAULT_POWER_ON_THRESHOLD_W: f64 = 20.0;

const MAX_FUTURE: TimeDelta = TimeDelta::minutes(5);
const MAX_PAST: TimeDelta = TimeDelta::days(30);
const MAX_EVENT_NAME_CHARS: usize = 64;
/// Echoed input is cut so one hostile value cannot bloat the quarantine view.
const MAX_ECHO_CHARS: usize = 80;
const MAX_DEVICE_ID_LEN: usize = 64;

const NATIVE_PREFIX: &str = "eldercare/";
const ZIGBEE_PREFIX: &str = "zigbee2mqtt/";
const AVAILABILITY_SUFFIX: &str = "/availability";

const LOINC_SYSTEM: &str = "http://loinc.org";
/// 85354-9 is the contract's panel; 55284-4 is its older equivalent, still
/// sent by gateways that predate the FHIR vital-signs profile.
const BP_PANEL_LOINC: &[&str] = &["85354-9", "55284-4"];
/// The mass-concentration glucose code implies mg/dL when a quantity carries
/// no unit; every other code implies the metric's canonical unit.
const GLUCOSE_MASS_LOINC: &str = "2339-0";

pub trait Registry {
    fn native(&self, device_id: &str) -> Option<&DeviceInfo>;
    fn zigbee(&self, friendly_name: &str) -> Option<&DeviceInfo>;
    /// Whether the topic below `zigbee2mqtt/` is a gateway's own `bridge/...`
    /// chatter (with its own base topic), to be ignored like version 1's.
    fn zigbee_bridge(&self, _name: &str) -> bool {
        false
    }
}

/// Last known Zigbee2MQTT state of one device, to derive events on edges only.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ZigbeeState {
    pub occupancy: Option<bool>,
    pub contact: Option<bool>,
    pub water_leak: Option<bool>,
    pub smoke: Option<bool>,
    pub gas: Option<bool>,
    pub appliance_on: Option<bool>,
    pub action: Option<String>,
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

pub fn decode(
    topic: &str,
    payload: &[u8],
    now: DateTime<Utc>,
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
                NativeKind::Telemetry => telemetry(&root, now, &mut out),
                NativeKind::Event => event(&root, now, &mut out),
                NativeKind::Status => status(&root, now, &mut out),
                NativeKind::Fhir => fhir(&root, now, &mut out),
            }),
            Route::ZigbeeState(_) => zigbee_state(payload, now, device, zigbee, &mut out),
            Route::ZigbeeAvailability(_) => availability(payload, now, &mut out),
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

/// A problem found while decoding, before it is attributed to a device.
#[derive(Debug)]
struct Fault {
    reason: Reason,
    detail: String,
}

impl Fault {
    fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Fault { reason, detail: detail.into() }
    }

    fn malformed(detail: impl Into<String>) -> Self {
        Fault::new(Reason::Malformed, detail)
    }

    fn into_rejection(self) -> Rejection {
        Rejection { reason: self.reason, detail: self.detail, device_id: None }
    }
}

type Checked<T> = Result<T, Fault>;

fn parse_json(payload: &[u8]) -> Checked<Value> {
    let text = std::str::from_utf8(payload).map_err(|err| {
        Fault::malformed(format!("payload is not UTF-8 (invalid byte at offset {})", err.valid_up_to()))
    })?;
    if text.trim().is_empty() {
        return Err(Fault::malformed("payload is empty"));
    }
    let root: Value = serde_json::from_str(text).map_err(json_fault)?;
    // A NUL can only come from a `\u0000` escape (a raw control character is
    // not JSON), so almost every message skips the walk.
    if text.contains("\\u0000")
        && let Some(place) = nul_place(&root, "payload")
    {
        let place = if place.chars().count() > 2 * MAX_ECHO_CHARS {
            let tail: Vec<char> = place.chars().rev().take(2 * MAX_ECHO_CHARS).collect();
            format!("…{}", tail.into_iter().rev().collect::<String>())
        } else {
            place
        };
        return Err(Fault::new(
            Reason::Unstorable,
            format!("{place} holds a NUL character (\\u0000), which the database cannot store"),
        ));
    }
    Ok(root)
}

/// serde_json reports these as syntax errors, but RFC 8259 allows them: the
/// text is JSON, what it holds has no place in PostgreSQL (text and jsonb
/// take no unpaired surrogate) or in a double.
fn json_fault(err: serde_json::Error) -> Fault {
    let text = err.to_string();
    let what = if text.starts_with("lone leading surrogate") || text.starts_with("unexpected end of hex escape") {
        "a string holds an unpaired UTF-16 surrogate escape"
    } else if text.starts_with("number out of range") {
        "a number is beyond the range of a double"
    } else {
        return Fault::malformed(format!("invalid JSON: {text}"));
    };
    Fault::new(Reason::Unstorable, format!("{what}, which the database cannot store ({text})"))
}

/// Where the first string or key holding a NUL is, e.g. `payload.data.note`.
fn nul_place(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::String(text) => text.contains('\0').then(|| path.to_owned()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| nul_place(item, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let simple = key.len() <= MAX_ECHO_CHARS && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            let path = if simple { format!("{path}.{key}") } else { format!("{path}[{}]", echo(key)) };
            if key.contains('\0') { Some(format!("the key {path}")) } else { nul_place(item, &path) }
        }),
        _ => None,
    }
}

/// Quotes a string from the input, cut short.
fn echo(text: &str) -> String {
    if text.chars().count() <= MAX_ECHO_CHARS {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(MAX_ECHO_CHARS).collect();
        format!("{head:?}…")
    }
}

/// Shows a JSON value from the input, cut short.
fn echo_json(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= MAX_ECHO_CHARS {
        text
    } else {
        let head: String = text.chars().take(MAX_ECHO_CHARS).collect();
        format!("{head}…")
    }
}

fn object<'a>(value: &'a Value, what: &str) -> Checked<&'a Map<String, Value>> {
    value.as_object().ok_or_else(|| Fault::malformed(format!("{what} must be a JSON object, got {}", echo_json(value))))
}

/// Absent and `null` both mean "not given", as JSON encoders differ on which
/// they emit for an empty optional.
fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).filter(|value| !value.is_null())
}

/// An integer, also when a JSON encoder wrote it as an integral float (`5.0`).
fn integer(value: &Value) -> Option<i64> {
    let number = value.as_number()?;
    number.as_i64().or_else(|| {
        number.as_f64().filter(|f| f.fract() == 0.0 && *f >= i64::MIN as f64 && *f < i64::MAX as f64).map(|f| f as i64)
    })
}

fn finite_number(value: Option<&Value>, what: &str) -> Checked<f64> {
    match value {
        None | Some(Value::Null) => Err(Fault::malformed(format!("{what} is missing"))),
        Some(value) => value
            .as_f64()
            .filter(|f| f.is_finite())
            .ok_or_else(|| Fault::malformed(format!("{what} must be a finite number, got {}", echo_json(value)))),
    }
}

fn optional_bool(obj: &Map<String, Value>, name: &str) -> Checked<Option<bool>> {
    field(obj, name)
        .map(|value| {
            value
                .as_bool()
                .ok_or_else(|| Fault::malformed(format!("{name} must be a boolean, got {}", echo_json(value))))
        })
        .transpose()
}

fn optional_number(obj: &Map<String, Value>, name: &str) -> Checked<Option<f64>> {
    field(obj, name).map(|value| finite_number(Some(value), name)).transpose()
}

fn optional_str<'a>(obj: &'a Map<String, Value>, name: &str) -> Checked<Option<&'a str>> {
    field(obj, name)
        .map(|value| {
            value.as_str().ok_or_else(|| Fault::malformed(format!("{name} must be a string, got {}", echo_json(value))))
        })
        .transpose()
}

fn seq(obj: &Map<String, Value>) -> Checked<Option<i64>> {
    field(obj, "seq")
        .map(|value| match integer(value) {
            Some(seq) if seq >= 0 => Ok(seq),
            None if value.as_f64().is_some_and(|f| f >= 0.0 && f.fract() == 0.0) => Err(Fault::new(
                Reason::Unstorable,
                format!("seq {} is beyond the largest storable integer {}", echo_json(value), i64::MAX),
            )),
            _ => Err(Fault::malformed(format!("seq must be a non-negative integer, got {}", echo_json(value)))),
        })
        .transpose()
}

/// RFC 3339 with offset, or epoch milliseconds; then held to the contract's
/// window around `now` so a device with a broken clock cannot write history.
fn timestamp(value: &Value, what: &str, now: DateTime<Utc>) -> Checked<DateTime<Utc>> {
    let ts = match value {
        Value::String(text) => DateTime::parse_from_rfc3339(text)
            .map(|ts| ts.to_utc())
            .map_err(|err| Fault::malformed(format!("{what} {} is not RFC 3339: {err}", echo(text))))?,
        Value::Number(number) => match integer(value) {
            Some(millis) => DateTime::from_timestamp_millis(millis).ok_or_else(|| {
                Fault::new(
                    Reason::TimestampOutOfBounds,
                    format!("{what} {millis} ms is outside the representable range"),
                )
            })?,
            None if number.as_f64().is_some_and(|f| f.fract() == 0.0) => {
                return Err(Fault::new(
                    Reason::TimestampOutOfBounds,
                    format!("{what} {number} ms is outside the representable range"),
                ));
            }
            None => {
                return Err(Fault::malformed(format!(
                    "{what} {number} is not an integer number of epoch milliseconds"
                )));
            }
        },
        other => {
            return Err(Fault::malformed(format!(
                "{what} must be an RFC 3339 string or epoch milliseconds, got {}",
                echo_json(other)
            )));
        }
    };
    let ahead = ts - now;
    if ahead > MAX_FUTURE {
        return Err(Fault::new(
            Reason::TimestampOutOfBounds,
            format!("{what} {} is more than 5 minutes in the future", ts.to_rfc3339()),
        ));
    }
    if -ahead > MAX_PAST {
        return Err(Fault::new(
            Reason::TimestampOutOfBounds,
            format!("{what} {} is more than 30 days in the past", ts.to_rfc3339()),
        ));
    }
    Ok(ts)
}

fn optional_timestamp(obj: &Map<String, Value>, name: &str, now: DateTime<Utc>) -> Checked<Option<DateTime<Utc>>> {
    field(obj, name).map(|value| timestamp(value, name, now)).transpose()
}

fn plausible(metric: Metric, value: f64, what: &str) -> Checked<f64> {
    if metric.is_plausible(value) {
        Ok(value)
    } else {
        let (low, high) = metric.plausible();
        Err(Fault::new(
            Reason::ImplausibleValue,
            format!("{what}: {metric} {value} {} is outside the plausible range {low}..={high}", metric.unit()),
        ))
    }
}

fn telemetry(root: &Value, now: DateTime<Utc>, out: &mut Decoded) -> Checked<()> {
    let obj = object(root, "telemetry")?;
    let message_ts = optional_timestamp(obj, "ts", now)?;
    let seq = seq(obj)?;
    let flat = obj.contains_key("metric") || obj.contains_key("value");
    match (obj.get("readings"), flat) {
        (Some(_), true) => Err(Fault::malformed("telemetry has both a readings array and a flat metric/value")),
        (Some(Value::Array(items)), false) => {
            if items.is_empty() {
                return Err(Fault::malformed("readings is empty"));
            }
            for (index, item) in items.iter().enumerate() {
                let what = format!("readings[{index}]");
                match reading(item, &what, message_ts, seq, now) {
                    Ok((reading, used_now)) => {
                        out.ts_was_missing |= used_now;
                        out.readings.push(reading);
                    }
                    Err(fault) => out.rejections.push(fault.into_rejection()),
                }
            }
            Ok(())
        }
        (Some(other), false) => Err(Fault::malformed(format!("readings must be an array, got {}", echo_json(other)))),
        (None, true) => {
            let (reading, used_now) = reading(root, "reading", message_ts, seq, now)?;
            out.ts_was_missing = used_now;
            out.readings.push(reading);
            Ok(())
        }
        (None, false) => Err(Fault::malformed("telemetry needs a readings array or a flat metric and value")),
    }
}

/// One reading; its own `ts` wins over the message's. Returns whether `now`
/// had to stand in for a timestamp.
fn reading(
    item: &Value,
    what: &str,
    message_ts: Option<DateTime<Utc>>,
    seq: Option<i64>,
    now: DateTime<Utc>,
) -> Checked<(Reading, bool)> {
    let obj = object(item, what)?;
    let name = match obj.get("metric") {
        Some(Value::String(name)) => name,
        Some(other) => {
            return Err(Fault::malformed(format!("{what}.metric must be a string, got {}", echo_json(other))));
        }
        None => return Err(Fault::malformed(format!("{what}.metric is missing"))),
    };
    let metric = Metric::parse(name).ok_or_else(|| {
        Fault::new(Reason::UnknownMetric, format!("{what}.metric {} is not in the metric catalog", echo(name)))
    })?;
    let raw = finite_number(obj.get("value"), &format!("{what}.value"))?;
    let value = match field(obj, "unit") {
        None => raw,
        Some(Value::String(unit)) => metric.convert(raw, unit).ok_or_else(|| {
            Fault::malformed(format!(
                "{what}.unit {} is not a unit of {metric} (canonical: {})",
                echo(unit),
                metric.unit()
            ))
        })?,
        Some(other) => {
            return Err(Fault::malformed(format!("{what}.unit must be a string, got {}", echo_json(other))));
        }
    };
    let own_ts = field(obj, "ts").map(|value| timestamp(value, &format!("{what}.ts"), now)).transpose()?;
    let ts = own_ts.or(message_ts);
    let value = plausible(metric, value, what)?;
    let reading = Reading { metric, ts: ts.unwrap_or(now), value, seq };
    Ok((reading, ts.is_none()))
}

fn event(root: &Value, now: DateTime<Utc>, out: &mut Decoded) -> Checked<()> {
    let obj = object(root, "event message")?;
    let ts = optional_timestamp(obj, "ts", now)?;
    let seq = seq(obj)?;
    let kind = match obj.get("event") {
        Some(Value::String(kind)) if kind.is_empty() => {
            return Err(Fault::malformed("event is an empty string"));
        }
        Some(Value::String(kind)) if kind.chars().count() > MAX_EVENT_NAME_CHARS => {
            return Err(Fault::malformed(format!(
                "event {} is longer than {MAX_EVENT_NAME_CHARS} characters",
                echo(kind)
            )));
        }
        Some(Value::String(kind)) => EventKind::from(kind.as_str()),
        Some(other) => {
            return Err(Fault::malformed(format!("event must be a string, got {}", echo_json(other))));
        }
        None => return Err(Fault::malformed("event is missing")),
    };
    let data = match field(obj, "data") {
        None => Value::Object(Map::new()),
        Some(data @ Value::Object(_)) => data.clone(),
        Some(other) => {
            return Err(Fault::malformed(format!("data must be an object, got {}", echo_json(other))));
        }
    };
    out.ts_was_missing = ts.is_none();
    out.events.push(Event { kind, ts: ts.unwrap_or(now), data, seq });
    Ok(())
}

fn status(root: &Value, now: DateTime<Utc>, out: &mut Decoded) -> Checked<()> {
    let obj = object(root, "status")?;
    let given_ts = optional_timestamp(obj, "ts", now)?;
    let seq = seq(obj)?;
    let online = optional_bool(obj, "online")?;
    let battery = optional_number(obj, "battery")?;
    let rssi = field(obj, "rssi")
        .map(|value| {
            integer(value).ok_or_else(|| Fault::malformed(format!("rssi must be an integer, got {}", echo_json(value))))
        })
        .transpose()?;
    let firmware = optional_str(obj, "firmware")?.map(str::to_owned);

    let ts = given_ts.unwrap_or(now);
    // An implausible level must not reach the battery history, but the rest of
    // the heartbeat (online, rssi) is still true.
    let battery = battery.and_then(|level| match plausible(Metric::Battery, level, "battery") {
        Ok(level) => {
            out.readings.push(Reading { metric: Metric::Battery, ts, value: level, seq });
            Some(level)
        }
        Err(fault) => {
            out.rejections.push(fault.into_rejection());
            None
        }
    });
    out.ts_was_missing = given_ts.is_none();
    out.status = Some(Status { ts, online, battery, rssi, firmware });
    Ok(())
}

fn fhir(root: &Value, now: DateTime<Utc>, out: &mut Decoded) -> Checked<()> {
    let obj = object(root, "FHIR resource")?;
    match optional_str(obj, "resourceType")? {
        Some("Observation") => observation(obj, "Observation", now, out),
        Some("Bundle") => {
            let entries = match field(obj, "entry") {
                Some(Value::Array(entries)) if !entries.is_empty() => entries,
                Some(Value::Array(_)) | None => {
                    return Err(Fault::malformed("Bundle has no entry"));
                }
                Some(other) => {
                    return Err(Fault::malformed(format!("Bundle.entry must be an array, got {}", echo_json(other))));
                }
            };
            for (index, entry) in entries.iter().enumerate() {
                let what = format!("entry[{index}]");
                if let Err(fault) = bundle_entry(entry, &what, now, out) {
                    out.rejections.push(fault.into_rejection());
                }
            }
            Ok(())
        }
        Some(other) => Err(Fault::malformed(format!("resourceType {} is neither Observation nor Bundle", echo(other)))),
        None => Err(Fault::malformed("resourceType is missing")),
    }
}

fn bundle_entry(entry: &Value, what: &str, now: DateTime<Utc>, out: &mut Decoded) -> Checked<()> {
    let resource = match object(entry, what)?.get("resource") {
        Some(resource) => object(resource, &format!("{what}.resource"))?,
        None => return Err(Fault::malformed(format!("{what} has no resource"))),
    };
    match resource.get("resourceType").and_then(Value::as_str) {
        Some("Observation") => observation(resource, what, now, out),
        Some(other) => Err(Fault::malformed(format!("{what}: resourceType {} is not an Observation", echo(other)))),
        None => Err(Fault::malformed(format!("{what}: resourceType is missing"))),
    }
}

/// A faulty blood-pressure component is rejected on its own; any other fault
/// rejects the whole Observation.
fn observation(obj: &Map<String, Value>, what: &str, now: DateTime<Utc>, out: &mut Decoded) -> Checked<()> {
    // These statuses retract the measurement: it is not data, nor an error.
    if let Some("entered-in-error" | "cancelled") = optional_str(obj, "status")? {
        return Ok(());
    }
    let given_ts = ["effectiveDateTime", "effectiveInstant", "issued"]
        .into_iter()
        .find_map(|name| field(obj, name).map(|value| (name, value)))
        .map(|(name, value)| timestamp(value, &format!("{what}.{name}"), now))
        .transpose()?;
    let ts = given_ts.unwrap_or(now);
    let codes = loinc_codes(obj, what)?;
    if codes.iter().any(|code| BP_PANEL_LOINC.contains(code)) {
        let components = match field(obj, "component") {
            Some(Value::Array(components)) if !components.is_empty() => components,
            _ => {
                return Err(Fault::malformed(format!("{what}: blood-pressure panel without component entries")));
            }
        };
        for (index, component) in components.iter().enumerate() {
            let what = format!("{what}.component[{index}]");
            match object(component, &what).and_then(|component| quantity(component, &what, ts)) {
                Ok(Some(reading)) => out.readings.push(reading),
                Ok(None) => {}
                Err(fault) => out.rejections.push(fault.into_rejection()),
            }
        }
    } else if let Some(reading) = quantity(obj, what, ts)? {
        out.readings.push(reading);
    }
    out.ts_was_missing |= given_ts.is_none();
    Ok(())
}

/// LOINC codes of `code.coding`; a coding without a system is taken as LOINC
/// because simple gateways omit it.
fn loinc_codes<'a>(obj: &'a Map<String, Value>, what: &str) -> Checked<Vec<&'a str>> {
    let Some(codings) = obj.get("code").and_then(|code| code.get("coding")).and_then(Value::as_array) else {
        return Err(Fault::malformed(format!("{what}: code.coding is missing")));
    };
    let codes: Vec<&str> = codings
        .iter()
        .filter(|coding| coding.get("system").is_none_or(|system| system.is_null() || system == LOINC_SYSTEM))
        .filter_map(|coding| coding.get("code").and_then(Value::as_str))
        .collect();
    if codes.is_empty() {
        return Err(Fault::new(Reason::UnknownMetric, format!("{what}: no LOINC coding in code.coding")));
    }
    Ok(codes)
}

/// The reading of an Observation or of a panel component; `None` when the
/// value is declared absent (`dataAbsentReason`).
fn quantity(obj: &Map<String, Value>, what: &str, ts: DateTime<Utc>) -> Checked<Option<Reading>> {
    let codes = loinc_codes(obj, what)?;
    let Some((code, metric)) = codes.iter().find_map(|code| Metric::from_loinc(code).map(|metric| (*code, metric)))
    else {
        return Err(Fault::new(
            Reason::UnknownMetric,
            format!("{what}: LOINC {} is not in the metric catalog", codes.join(", ")),
        ));
    };
    let quantity = match field(obj, "valueQuantity") {
        Some(Value::Object(quantity)) => quantity,
        Some(other) => {
            return Err(Fault::malformed(format!("{what}.valueQuantity must be an object, got {}", echo_json(other))));
        }
        None if obj.contains_key("dataAbsentReason") => return Ok(None),
        None => {
            return Err(Fault::malformed(format!("{what}: valueQuantity is missing")));
        }
    };
    let raw = finite_number(quantity.get("value"), &format!("{what}.valueQuantity.value"))?;
    let unit = match optional_str(quantity, "code")? {
        Some(code) => Some(code),
        None => optional_str(quantity, "unit")?,
    };
    let unit = unit.unwrap_or(if code == GLUCOSE_MASS_LOINC { "mg/dL" } else { metric.unit() });
    let value = metric.convert(raw, unit).ok_or_else(|| {
        Fault::malformed(format!(
            "{what}: unit {} cannot be converted to {} for LOINC {code}",
            echo(unit),
            metric.unit()
        ))
    })?;
    let value = plausible(metric, value, what)?;
    Ok(Some(Reading { metric, ts, value, seq: None }))
}

/// Readings and edge-triggered events from a Zigbee2MQTT state. A field with a
/// wrong type is rejected on its own, so one odd field does not hide the rest.
fn zigbee_state(
    payload: &[u8],
    now: DateTime<Utc>,
    device: &DeviceInfo,
    states: &mut impl ZigbeeStates,
    out: &mut Decoded,
) -> Checked<()> {
    let root = parse_json(payload)?;
    let obj = object(&root, "Zigbee2MQTT state")?;
    let given_ts = optional_timestamp(obj, "last_seen", now)?;
    let ts = given_ts.unwrap_or(now);
    out.ts_was_missing = given_ts.is_none();

    let previous = states.get(&device.device_id).cloned().unwrap_or_default();
    let mut next = previous.clone();
    let mut derived = Derived { device, ts, out: &mut *out };

    if let Some(occupied) = derived.flag(obj, "occupancy") {
        if occupied && previous.occupancy != Some(true) {
            derived.event(EventKind::Motion, Map::new());
        }
        next.occupancy = Some(occupied);
    }
    if let Some(closed) = derived.flag(obj, "contact") {
        if previous.contact != Some(closed) {
            let kind = if closed { EventKind::DoorClosed } else { EventKind::DoorOpened };
            derived.event(kind, derived.placement("door"));
        }
        next.contact = Some(closed);
    }
    for (name, kind, last) in [
        ("water_leak", EventKind::WaterLeak, &mut next.water_leak),
        ("smoke", EventKind::SmokeDetected, &mut next.smoke),
        ("gas", EventKind::GasDetected, &mut next.gas),
    ] {
        if let Some(alarm) = derived.flag(obj, name) {
            if alarm && *last != Some(true) {
                derived.event(kind, Map::new());
            }
            *last = Some(alarm);
        }
    }
    match field(obj, "action") {
        None => {}
        Some(Value::String(action)) => {
            // Zigbee2MQTT publishes an action once and then clears it, so
            // every message that carries it is a new press.
            let sos = matches!(action.as_str(), "emergency" | "sos")
                || (action == "single" && device.kind == DeviceKind::SosButton);
            if sos {
                let mut data = Map::new();
                data.insert("action".into(), Value::String(action.clone()));
                derived.event(EventKind::SosPressed, data);
            }
            next.action = Some(action.clone());
        }
        Some(other) => derived.reject(Fault::malformed(format!("action must be a string, got {}", echo_json(other)))),
    }
    if let Some(watts) = derived.reading(obj, "power", Metric::Power) {
        let on = watts >= device.power_on_threshold_w;
        // First sight of an idle appliance is no event: nothing was switched.
        let switched = previous.appliance_on.map_or(on, |was_on| was_on != on);
        if switched {
            let kind = if on { EventKind::ApplianceOn } else { EventKind::ApplianceOff };
            let mut data = derived.placement("appliance");
            data.insert("power".into(), json!(watts));
            derived.event(kind, data);
        }
        next.appliance_on = Some(on);
    }
    derived.reading(obj, "temperature", Metric::RoomTemperature);
    derived.reading(obj, "humidity", Metric::Humidity);
    derived.reading(obj, "battery", Metric::Battery);

    states.set(&device.device_id, next);
    Ok(())
}

/// Collects what one Zigbee2MQTT state yields, attributed to its device.
struct Derived<'a> {
    device: &'a DeviceInfo,
    ts: DateTime<Utc>,
    out: &'a mut Decoded,
}

impl Derived<'_> {
    fn reject(&mut self, fault: Fault) {
        self.out.rejections.push(fault.into_rejection());
    }

    fn flag(&mut self, obj: &Map<String, Value>, name: &str) -> Option<bool> {
        optional_bool(obj, name).unwrap_or_else(|fault| {
            self.reject(fault);
            None
        })
    }

    fn reading(&mut self, obj: &Map<String, Value>, name: &str, metric: Metric) -> Option<f64> {
        let value = optional_number(obj, name)
            .and_then(|value| value.map(|value| plausible(metric, value, name)).transpose())
            .unwrap_or_else(|fault| {
                self.reject(fault);
                None
            })?;
        self.out.readings.push(Reading { metric, ts: self.ts, value, seq: None });
        Some(value)
    }

    fn placement(&self, key: &str) -> Map<String, Value> {
        let mut data = Map::new();
        if let Some(placement) = &self.device.placement {
            data.insert(key.into(), Value::String(placement.clone()));
        }
        data
    }

    /// Every derived event names the device's room, when registered, so rules
    /// can place it without a registry lookup.
    fn event(&mut self, kind: EventKind, mut data: Map<String, Value>) {
        if let Some(room) = &self.device.room {
            data.entry("room").or_insert_with(|| Value::String(room.clone()));
        }
        self.out.events.push(Event { kind, ts: self.ts, data: Value::Object(data), seq: None });
    }
}

fn availability(payload: &[u8], now: DateTime<Utc>, out: &mut Decoded) -> Checked<()> {
    let text = std::str::from_utf8(payload).map_err(|_| Fault::malformed("availability payload is not UTF-8"))?.trim();
    let online = match text {
        "online" => Some(true),
        "offline" => Some(false),
        _ => serde_json::from_str::<Value>(text).ok().and_then(|value| {
            match value.get("state").and_then(Value::as_str) {
                Some("online") => Some(true),
                Some("offline") => Some(false),
                _ => None,
            }
        }),
    };
    let Some(online) = online else {
        return Err(Fault::malformed(format!(
            "availability must be online/offline or {{\"state\":\"online\"|\"offline\"}}, got {}",
            echo(text)
        )));
    };
    out.ts_was_missing = true;
    out.status = Some(Status { ts: now, online: Some(online), battery: None, rssi: None, firmware: None });
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    /// One minute after the contract's example timestamps.
    fn now() -> DateTime<Utc> {
        at("2026-11-28T08:01:00Z")
    }

    struct Devices {
        native: HashMap<String, DeviceInfo>,
        zigbee: HashMap<String, DeviceInfo>,
    }

    impl Registry for Devices {
        fn native(&self, device_id: &str) -> Option<&DeviceInfo> {
            self.native.get(device_id)
        }

        fn zigbee(&self, friendly_name: &str) -> Option<&DeviceInfo> {
            self.zigbee.get(friendly_name)
        }
    }

    fn device(id: &str, kind: &str, room: Option<&str>, placement: Option<&str>) -> DeviceInfo {
        DeviceInfo {
            device_id: id.into(),
            kind: DeviceKind::parse(kind).unwrap(),
            room: room.map(Into::into),
            placement: placement.map(Into::into),
            power_on_threshold_w: DEFAULT_POWER_ON_THRESHOLD_W,
        }
    }

    fn devices() -> Devices {
        let native =
            [device("watch-1", "wearable", Some("bedroom"), None), device("gw-1", "health_gateway", None, None)];
        let zigbee = [
            ("hall/motion", device("z-motion", "motion_sensor", Some("hall"), None)),
            ("front door", device("z-door", "door_sensor", Some("hall"), Some("entrance"))),
            ("kettle plug", device("z-plug", "smart_plug", Some("kitchen"), Some("kettle"))),
            ("red button", device("z-sos", "sos_button", Some("bedroom"), None)),
            ("remote", device("z-remote", "motion_sensor", Some("lounge"), None)),
            ("hazard", device("z-hazard", "hazard_sensor", Some("kitchen"), None)),
        ];
        Devices {
            native: native.into_iter().map(|d| (d.device_id.clone(), d)).collect(),
            zigbee: zigbee.into_iter().map(|(n, d)| (n.to_owned(), d)).collect(),
        }
    }

    fn run_at(topic: &str, payload: &str, now: DateTime<Utc>) -> Decoded {
        decode(topic, payload.as_bytes(), now, &devices(), &mut HashMap::new())
    }

    fn run(topic: &str, payload: &str) -> Decoded {
        run_at(topic, payload, now())
    }

    fn reasons(decoded: &Decoded) -> Vec<Reason> {
        decoded.rejections.iter().map(|r| r.reason).collect()
    }

    fn metrics(decoded: &Decoded) -> Vec<(Metric, f64)> {
        decoded.readings.iter().map(|r| (r.metric, r.value)).collect()
    }

    fn kinds(decoded: &Decoded) -> Vec<&str> {
        decoded.events.iter().map(|e| e.kind.as_str()).collect()
    }

    fn assert_rejected(decoded: &Decoded, reason: Reason) {
        assert_eq!(reasons(decoded), vec![reason], "{decoded:#?}");
        assert!(decoded.readings.is_empty() && decoded.events.is_empty() && decoded.status.is_none());
    }

    const TELEMETRY: &str = "eldercare/v1/watch-1/telemetry";
    const EVENT: &str = "eldercare/v1/watch-1/event";
    const STATUS: &str = "eldercare/v1/watch-1/status";
    const FHIR: &str = "eldercare/v1/gw-1/fhir";

    #[test]
    fn contract_telemetry_batch() {
        let decoded = run(
            TELEMETRY,
            r#"{"ts": "2026-11-28T08:00:00Z", "seq": 1042,
 "readings": [{"metric": "heart_rate", "value": 72},
              {"metric": "spo2", "value": 97}]}"#,
        );
        let ts = at("2026-11-28T08:00:00Z");
        assert_eq!(
            decoded,
            Decoded {
                device_id: Some("watch-1".into()),
                ts_was_missing: false,
                readings: vec![
                    Reading { metric: Metric::HeartRate, ts, value: 72.0, seq: Some(1042) },
                    Reading { metric: Metric::Spo2, ts, value: 97.0, seq: Some(1042) },
                ],
                ..Decoded::default()
            }
        );
    }

    #[test]
    fn contract_telemetry_flat_with_epoch_millis() {
        // The contract's epoch example is 2025-11-28T08:00:00Z, a year before
        // its other examples, so it is judged against its own clock.
        let now = at("2025-11-28T08:00:30Z");
        let decoded = run_at(TELEMETRY, r#"{"ts": 1764316800000, "metric": "heart_rate", "value": 72}"#, now);
        assert_eq!(
            decoded.readings,
            vec![Reading { metric: Metric::HeartRate, ts: at("2025-11-28T08:00:00Z"), value: 72.0, seq: None }]
        );
        assert!(decoded.rejections.is_empty());
    }

    #[test]
    fn contract_event() {
        let decoded = run(
            EVENT,
            r#"{"ts": "2026-11-28T03:12:09Z", "seq": 77, "event": "fall_detected",
 "data": {"room": "bathroom", "confidence": 0.93}}"#,
        );
        assert_eq!(
            decoded.events,
            vec![Event {
                kind: "fall_detected".into(),
                ts: at("2026-11-28T03:12:09Z"),
                data: json!({"room": "bathroom", "confidence": 0.93}),
                seq: Some(77),
            }]
        );
        assert!(decoded.rejections.is_empty() && decoded.readings.is_empty());
    }

    #[test]
    fn contract_status() {
        let decoded = run(
            STATUS,
            r#"{"ts": "2026-11-28T08:00:00Z", "online": true, "battery": 84, "rssi": -61, "firmware": "1.2.0"}"#,
        );
        let ts = at("2026-11-28T08:00:00Z");
        assert_eq!(
            decoded.status,
            Some(Status {
                ts,
                online: Some(true),
                battery: Some(84.0),
                rssi: Some(-61),
                firmware: Some("1.2.0".into()),
            })
        );
        assert_eq!(decoded.readings, vec![Reading { metric: Metric::Battery, ts, value: 84.0, seq: None }]);
        assert!(decoded.rejections.is_empty());
    }

    #[test]
    fn contract_last_will() {
        let decoded = run(STATUS, r#"{"online":false}"#);
        assert_eq!(
            decoded.status,
            Some(Status { ts: now(), online: Some(false), battery: None, rssi: None, firmware: None })
        );
        assert!(decoded.ts_was_missing);
        assert!(decoded.rejections.is_empty() && decoded.readings.is_empty());
    }

    #[test]
    fn contract_fhir_observation() {
        let decoded = run(
            FHIR,
            r#"{"resourceType": "Observation", "status": "final",
 "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
 "effectiveDateTime": "2026-11-28T08:00:00Z",
 "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}}"#,
        );
        assert_eq!(
            decoded,
            Decoded {
                device_id: Some("gw-1".into()),
                readings: vec![Reading {
                    metric: Metric::HeartRate,
                    ts: at("2026-11-28T08:00:00Z"),
                    value: 72.0,
                    seq: None
                }],
                ..Decoded::default()
            }
        );
    }

    #[test]
    fn contract_availability_plain_and_json() {
        for (payload, online) in
            [("online", true), ("offline", false), (r#"{"state":"online"}"#, true), (r#"{"state":"offline"}"#, false)]
        {
            let decoded = run("zigbee2mqtt/front door/availability", payload);
            assert_eq!(decoded.device_id.as_deref(), Some("z-door"));
            assert_eq!(decoded.status.map(|s| (s.ts, s.online)), Some((now(), Some(online))));
            assert!(decoded.rejections.is_empty());
        }
        for payload in ["ONLINE", "1", r#"{"state":"away"}"#, "[]"] {
            assert_rejected(&run("zigbee2mqtt/front door/availability", payload), Reason::Malformed);
        }
    }

    #[test]
    fn timestamp_with_offset_and_fraction() {
        let decoded = run(TELEMETRY, r#"{"ts": "2026-11-28T16:00:00.250+08:00", "metric": "steps", "value": 1200}"#);
        assert_eq!(decoded.readings[0].ts, at("2026-11-28T08:00:00.250Z"));
        let decoded = run(TELEMETRY, r#"{"ts": 1795852800000.0, "metric": "steps", "value": 1200}"#);
        assert_eq!(decoded.readings[0].ts, at("2026-11-28T08:00:00Z"));
    }

    #[test]
    fn missing_ts_means_now() {
        let decoded = run(TELEMETRY, r#"{"metric": "heart_rate", "value": 60}"#);
        assert_eq!(decoded.readings[0].ts, now());
        assert!(decoded.ts_was_missing);
        let decoded = run(EVENT, r#"{"event": "bed_exit"}"#);
        assert_eq!(decoded.events[0].ts, now());
        assert_eq!(decoded.events[0].data, json!({}));
        assert!(decoded.ts_was_missing);
    }

    #[test]
    fn timestamp_window_is_inclusive() {
        let edge_future = (now() + MAX_FUTURE).timestamp_millis();
        let edge_past = (now() - MAX_PAST).timestamp_millis();
        for (millis, ok) in [(edge_future, true), (edge_future + 1, false), (edge_past, true), (edge_past - 1, false)] {
            let decoded = run(TELEMETRY, &format!(r#"{{"ts": {millis}, "metric": "steps", "value": 5}}"#));
            if ok {
                assert_eq!(decoded.readings.len(), 1);
            } else {
                assert_rejected(&decoded, Reason::TimestampOutOfBounds);
            }
        }
    }

    #[test]
    fn out_of_bounds_ts_rejects_the_whole_message() {
        for ts in ["\"2026-11-28T08:10:00Z\"", "\"2026-10-01T00:00:00Z\"", "99999999999999999", "1e300", "0"] {
            let payload = format!(r#"{{"ts": {ts}, "readings": [{{"metric": "heart_rate", "value": 72}}]}}"#);
            assert_rejected(&run(TELEMETRY, &payload), Reason::TimestampOutOfBounds);
        }
    }

    #[test]
    fn reading_ts_overrides_message_ts() {
        let decoded = run(
            TELEMETRY,
            r#"{"readings": [
                {"metric": "heart_rate", "value": 70, "ts": "2026-11-28T07:59:00Z"},
                {"metric": "heart_rate", "value": 71, "ts": "2020-01-01T00:00:00Z"},
                {"metric": "heart_rate", "value": 72, "ts": "yesterday"},
                {"metric": "heart_rate", "value": 73}]}"#,
        );
        let stamps: Vec<_> = decoded.readings.iter().map(|r| (r.value, r.ts)).collect();
        assert_eq!(stamps, vec![(70.0, at("2026-11-28T07:59:00Z")), (73.0, now())]);
        assert_eq!(reasons(&decoded), vec![Reason::TimestampOutOfBounds, Reason::Malformed]);
        assert!(decoded.ts_was_missing);
    }

    #[test]
    fn mixed_good_and_bad_readings_keep_the_good_ones() {
        let decoded = run(
            TELEMETRY,
            r#"{"ts": "2026-11-28T08:00:00Z", "seq": 5, "readings": [
                {"metric": "heart_rate", "value": 72},
                {"metric": "mood", "value": 3},
                {"metric": "spo2", "value": 130},
                {"metric": "spo2", "value": "97"},
                {"metric": "body_temperature", "value": 36.6},
                {"value": 1},
                7]}"#,
        );
        assert_eq!(metrics(&decoded), vec![(Metric::HeartRate, 72.0), (Metric::BodyTemperature, 36.6)]);
        assert_eq!(
            reasons(&decoded),
            vec![
                Reason::UnknownMetric,
                Reason::ImplausibleValue,
                Reason::Malformed,
                Reason::Malformed,
                Reason::Malformed
            ]
        );
        assert!(decoded.rejections.iter().all(|r| r.device_id.as_deref() == Some("watch-1")));
        assert!(decoded.rejections[0].detail.contains("readings[1]") && decoded.rejections[0].detail.contains("mood"));
        assert!(decoded.rejections[1].detail.contains("130"));
    }

    #[test]
    fn plausible_bounds_are_inclusive_and_flat_implausible_rejects() {
        let decoded =
            run(TELEMETRY, r#"{"readings": [{"metric": "spo2", "value": 100}, {"metric": "spo2", "value": 50}]}"#);
        assert_eq!(metrics(&decoded), vec![(Metric::Spo2, 100.0), (Metric::Spo2, 50.0)]);
        assert_rejected(&run(TELEMETRY, r#"{"metric": "heart_rate", "value": 301}"#), Reason::ImplausibleValue);
    }

    #[test]
    fn glucose_in_mg_per_dl_is_converted() {
        let decoded = run(
            TELEMETRY,
            r#"{"readings": [{"metric": "blood_glucose", "value": 108.096, "unit": "mg/dL"},
                             {"metric": "blood_glucose", "value": 6.2, "unit": "mmol/L"},
                             {"metric": "blood_glucose", "value": 6.2, "unit": "g/L"}]}"#,
        );
        assert_eq!(decoded.readings.len(), 2);
        assert!((decoded.readings[0].value - 6.0).abs() < 1e-9);
        assert_eq!(decoded.readings[1].value, 6.2);
        assert_eq!(reasons(&decoded), vec![Reason::Malformed]);
        assert!(decoded.rejections[0].detail.contains("g/L"));
    }

    #[test]
    fn malformed_inputs() {
        let cases: &[(&str, &[u8])] = &[
            (TELEMETRY, b"\xff\xfe{}"),
            (TELEMETRY, b""),
            (TELEMETRY, b"{\"metric\":"),
            (TELEMETRY, b"[1, 2]"),
            (TELEMETRY, b"{\"ts\": \"2026-11-28\"}"),
            (TELEMETRY, br#"{"ts": "28/11/2026", "metric": "steps", "value": 1}"#),
            (TELEMETRY, br#"{"ts": 1795852800000.5, "metric": "steps", "value": 1}"#),
            (TELEMETRY, br#"{"ts": true, "metric": "steps", "value": 1}"#),
            (TELEMETRY, br#"{"seq": -1, "metric": "steps", "value": 1}"#),
            (TELEMETRY, br#"{"seq": 1.5, "metric": "steps", "value": 1}"#),
            (TELEMETRY, br#"{"seq": "7", "metric": "steps", "value": 1}"#),
            (TELEMETRY, br#"{"readings": []}"#),
            (TELEMETRY, br#"{"readings": {"metric": "steps", "value": 1}}"#),
            (TELEMETRY, br#"{"readings": [], "metric": "steps", "value": 1}"#),
            (TELEMETRY, br#"{"metric": "steps"}"#),
            (TELEMETRY, br#"{"metric": 7, "value": 1}"#),
            (TELEMETRY, br#"{"metric": "steps", "value": 1, "unit": 1}"#),
            (TELEMETRY, br#"{"metric": "heart_rate", "value": 72, "unit": "%"}"#),
            (TELEMETRY, br#"{}"#),
            (EVENT, br#"{"event": ""}"#),
            (EVENT, br#"{"event": 3}"#),
            (EVENT, br#"{"data": {}}"#),
            (EVENT, br#"{"event": "motion", "data": [1]}"#),
            (STATUS, br#"{"online": "yes"}"#),
            (STATUS, br#"{"rssi": -61.5}"#),
            (STATUS, br#"{"firmware": 12}"#),
            (STATUS, br#"{"battery": "full"}"#),
            (FHIR, br#"{"resourceType": "Patient"}"#),
            (FHIR, br#"{"resourceType": "Bundle", "entry": []}"#),
            (FHIR, br#"{"code": {}}"#),
            ("zigbee2mqtt/front door", b"true"),
            ("zigbee2mqtt/front door", b"not json"),
        ];
        for (topic, payload) in cases {
            let decoded = decode(topic, payload, now(), &devices(), &mut HashMap::new());
            assert_rejected(&decoded, Reason::Malformed);
            assert!(decoded.device_id.is_some());
        }
        let long = format!(r#"{{"event": "{}"}}"#, "x".repeat(65));
        assert_rejected(&run(EVENT, &long), Reason::Malformed);
        let longest = format!(r#"{{"event": "{}"}}"#, "x".repeat(64));
        assert_eq!(run(EVENT, &longest).events.len(), 1);
    }

    #[test]
    fn malformed_detail_names_the_problem() {
        let decoded = run(TELEMETRY, r#"{"seq": -3, "metric": "steps", "value": 1}"#);
        assert!(decoded.rejections[0].detail.contains("seq") && decoded.rejections[0].detail.contains("-3"));
        let decoded = decode(TELEMETRY, b"\x00\xff", now(), &devices(), &mut HashMap::new());
        assert!(decoded.rejections[0].detail.contains("UTF-8"));
        let long = format!(r#"{{"metric": "{}", "value": 1}}"#, "m".repeat(10_000));
        let decoded = run(TELEMETRY, &long);
        assert!(decoded.rejections[0].detail.len() < 300);
    }

    #[test]
    fn unknown_event_names_are_kept() {
        let decoded = run(EVENT, r#"{"event": "teleported", "data": {"to": "mars"}}"#);
        assert_eq!(kinds(&decoded), vec!["teleported"]);
        assert!(decoded.rejections.is_empty());
    }

    #[test]
    fn implausible_battery_keeps_the_rest_of_the_status() {
        let decoded = run(STATUS, r#"{"online": true, "battery": 140, "rssi": -70}"#);
        let status = decoded.status.clone().unwrap();
        assert_eq!((status.online, status.battery, status.rssi), (Some(true), None, Some(-70)));
        assert!(decoded.readings.is_empty());
        assert_eq!(reasons(&decoded), vec![Reason::ImplausibleValue]);
    }

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
    fn a_nul_in_the_topic_is_unstorable() {
        for topic in ["zigbee2mqtt/front\0door", "eldercare/v1/watch\0/event", "\0"] {
            let decoded = run(topic, r#"{"event": "x"}"#);
            assert_eq!(reasons(&decoded), vec![Reason::Unstorable], "{topic:?}");
            assert_eq!((decoded.device_id.as_ref(), decoded.rejections[0].device_id.as_ref()), (None, None));
            assert!(!decoded.rejections[0].detail.contains('\0'));
        }
    }

    #[test]
    fn fhir_blood_pressure_panel() {
        let decoded = run(
            FHIR,
            r#"{"resourceType": "Observation", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
                "effectiveDateTime": "2026-11-28T07:30:00Z",
                "component": [
                  {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                   "valueQuantity": {"value": 128, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
                  {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                   "valueQuantity": {"value": 82, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}]}"#,
        );
        let ts = at("2026-11-28T07:30:00Z");
        assert_eq!(
            decoded.readings,
            vec![
                Reading { metric: Metric::BpSystolic, ts, value: 128.0, seq: None },
                Reading { metric: Metric::BpDiastolic, ts, value: 82.0, seq: None },
            ]
        );
        assert!(decoded.rejections.is_empty());
    }

    #[test]
    fn fhir_panel_component_faults_stand_alone() {
        let decoded = run(
            FHIR,
            r#"{"resourceType": "Observation",
                "code": {"coding": [{"code": "85354-9"}]},
                "component": [
                  {"code": {"coding": [{"code": "8480-6"}]}, "valueQuantity": {"value": 400, "code": "mm[Hg]"}},
                  {"code": {"coding": [{"code": "8462-4"}]}, "valueQuantity": {"value": 80, "code": "mm[Hg]"}}]}"#,
        );
        assert_eq!(metrics(&decoded), vec![(Metric::BpDiastolic, 80.0)]);
        assert_eq!(reasons(&decoded), vec![Reason::ImplausibleValue]);
        assert!(decoded.ts_was_missing);
        let decoded = run(FHIR, r#"{"resourceType": "Observation", "code": {"coding": [{"code": "85354-9"}]}}"#);
        assert_rejected(&decoded, Reason::Malformed);
    }

    fn observation(code: &str, value: f64, unit: &str) -> String {
        format!(
            r#"{{"resourceType": "Observation", "status": "final",
                 "code": {{"coding": [{{"system": "http://loinc.org", "code": "{code}"}}]}},
                 "effectiveDateTime": "2026-11-28T08:00:00Z",
                 "valueQuantity": {{"value": {value}, "system": "http://unitsofmeasure.org", "code": "{unit}"}}}}"#
        )
    }

    #[test]
    fn fhir_units_and_codes() {
        let close = |payload: String, metric: Metric, expected: f64| {
            let decoded = run(FHIR, &payload);
            assert_eq!(decoded.readings.len(), 1, "{decoded:#?}");
            assert_eq!(decoded.readings[0].metric, metric);
            assert!((decoded.readings[0].value - expected).abs() < 1e-9, "{decoded:#?}");
        };
        close(observation("2339-0", 126.112, "mg/dL"), Metric::BloodGlucose, 7.0);
        close(observation("15074-8", 7.0, "mmol/L"), Metric::BloodGlucose, 7.0);
        close(observation("59408-5", 96.0, "%"), Metric::Spo2, 96.0);
        close(observation("2708-6", 95.0, "%"), Metric::Spo2, 95.0);
        close(observation("8310-5", 100.4, "[degF]"), Metric::BodyTemperature, 38.0);
        close(observation("29463-7", 154.0, "[lb_av]"), Metric::BodyWeight, 69.853_224_98);
        close(observation("9279-1", 16.0, "/min"), Metric::RespiratoryRate, 16.0);
        close(observation("55423-8", 4200.0, "{steps}"), Metric::Steps, 4200.0);

        assert_rejected(&run(FHIR, &observation("8867-4", 72.0, "kg")), Reason::Malformed);
        assert_rejected(&run(FHIR, &observation("1234-5", 72.0, "/min")), Reason::UnknownMetric);
        assert_rejected(&run(FHIR, &observation("8867-4", 900.0, "/min")), Reason::ImplausibleValue);

        let snomed_only = r#"{"resourceType": "Observation",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "364075005"}]},
            "valueQuantity": {"value": 72, "code": "/min"}}"#;
        assert_rejected(&run(FHIR, snomed_only), Reason::UnknownMetric);

        let unitless_mass_glucose = r#"{"resourceType": "Observation",
            "code": {"coding": [{"code": "2339-0"}]}, "valueQuantity": {"value": 90.08}}"#;
        let decoded = run(FHIR, unitless_mass_glucose);
        assert!((decoded.readings[0].value - 5.0).abs() < 1e-9);
    }

    #[test]
    fn fhir_timestamps_fall_back_in_order() {
        let with = |fields: &str| {
            run(
                FHIR,
                &format!(
                    r#"{{"resourceType": "Observation", "code": {{"coding": [{{"code": "8867-4"}}]}},
                         "valueQuantity": {{"value": 60, "code": "/min"}} {fields}}}"#
                ),
            )
        };
        let decoded = with(r#", "effectiveInstant": "2026-11-28T07:00:00Z", "issued": "2026-11-28T07:05:00Z""#);
        assert_eq!(decoded.readings[0].ts, at("2026-11-28T07:00:00Z"));
        assert!(!decoded.ts_was_missing);
        let decoded = with(r#", "issued": "2026-11-28T07:05:00+00:00""#);
        assert_eq!(decoded.readings[0].ts, at("2026-11-28T07:05:00Z"));
        let decoded = with("");
        assert_eq!(decoded.readings[0].ts, now());
        assert!(decoded.ts_was_missing);
        assert_rejected(&with(r#", "effectiveDateTime": "2026-11-28""#), Reason::Malformed);
        assert_rejected(&with(r#", "effectiveDateTime": "2025-01-01T00:00:00Z""#), Reason::TimestampOutOfBounds);
    }

    #[test]
    fn fhir_retracted_observations_yield_nothing() {
        for status in ["entered-in-error", "cancelled"] {
            let payload = observation("8867-4", 72.0, "/min").replace("final", status);
            let decoded = run(FHIR, &payload);
            assert!(decoded.readings.is_empty() && decoded.rejections.is_empty());
        }
        let absent = r#"{"resourceType": "Observation", "code": {"coding": [{"code": "8867-4"}]},
            "dataAbsentReason": {"text": "sensor off"}}"#;
        let decoded = run(FHIR, absent);
        assert!(decoded.readings.is_empty() && decoded.rejections.is_empty());
    }

    #[test]
    fn fhir_bundle_keeps_good_entries() {
        let payload = format!(
            r#"{{"resourceType": "Bundle", "type": "collection", "entry": [
                {{"resource": {hr}}},
                {{"resource": {{"resourceType": "Patient", "id": "p1"}}}},
                {{"resource": {spo2}}},
                {{"fullUrl": "urn:uuid:x"}},
                {{"resource": {unknown}}}]}}"#,
            hr = observation("8867-4", 64.0, "/min"),
            spo2 = observation("59408-5", 98.0, "%"),
            unknown = observation("0000-0", 1.0, "1"),
        );
        let decoded = run(FHIR, &payload);
        assert_eq!(metrics(&decoded), vec![(Metric::HeartRate, 64.0), (Metric::Spo2, 98.0)]);
        assert_eq!(reasons(&decoded), vec![Reason::Malformed, Reason::Malformed, Reason::UnknownMetric]);
        assert!(decoded.rejections[0].detail.contains("entry[1]") && decoded.rejections[0].detail.contains("Patient"));
    }

    /// Feeds successive Zigbee2MQTT states of one device through shared state.
    fn z2m_sequence(name: &str, payloads: &[&str]) -> Vec<Decoded> {
        let registry = devices();
        let mut states = HashMap::new();
        payloads
            .iter()
            .map(|payload| decode(&format!("zigbee2mqtt/{name}"), payload.as_bytes(), now(), &registry, &mut states))
            .collect()
    }

    #[test]
    fn z2m_occupancy_emits_on_rising_edge_only() {
        let out = z2m_sequence(
            "hall/motion",
            &[
                r#"{"occupancy": true, "battery": 90, "linkquality": 120}"#,
                r#"{"occupancy": true, "battery": 90, "linkquality": 118}"#,
                r#"{"occupancy": false, "battery": 90}"#,
                r#"{"occupancy": false}"#,
                r#"{"occupancy": true}"#,
            ],
        );
        let emitted: Vec<Vec<&str>> = out.iter().map(kinds).collect();
        assert_eq!(emitted, vec![vec!["motion"], vec![], vec![], vec![], vec!["motion"]]);
        assert_eq!(out[0].events[0].data, json!({"room": "hall"}));
        assert_eq!(metrics(&out[0]), vec![(Metric::Battery, 90.0)]);
        assert!(out.iter().all(|d| d.rejections.is_empty()));
    }

    #[test]
    fn z2m_contact_emits_on_change_including_first_sight() {
        let out = z2m_sequence(
            "front door",
            &[
                r#"{"contact": true}"#,
                r#"{"contact": true}"#,
                r#"{"contact": false}"#,
                r#"{"contact": false, "battery": 80}"#,
                r#"{"contact": true}"#,
            ],
        );
        let emitted: Vec<Vec<&str>> = out.iter().map(kinds).collect();
        assert_eq!(emitted, vec![vec!["door_closed"], vec![], vec!["door_opened"], vec![], vec!["door_closed"]]);
        assert_eq!(out[2].events[0].data, json!({"door": "entrance", "room": "hall"}));
    }

    #[test]
    fn z2m_power_threshold_edges() {
        let out = z2m_sequence(
            "kettle plug",
            &[
                r#"{"power": 1.5}"#,
                r#"{"power": 20}"#,
                r#"{"power": 2100}"#,
                r#"{"power": 19.9}"#,
                r#"{"power": 0}"#,
                r#"{"power": 50000}"#,
            ],
        );
        let emitted: Vec<Vec<&str>> = out.iter().map(kinds).collect();
        assert_eq!(emitted, vec![vec![], vec!["appliance_on"], vec![], vec!["appliance_off"], vec![], vec![]]);
        assert_eq!(out[1].events[0].data, json!({"appliance": "kettle", "room": "kitchen", "power": 20.0}));
        assert_eq!(metrics(&out[2]), vec![(Metric::Power, 2100.0)]);
        assert_eq!(reasons(&out[5]), vec![Reason::ImplausibleValue]);

        let first_on = z2m_sequence("kettle plug", &[r#"{"power": 1800}"#]);
        assert_eq!(kinds(&first_on[0]), vec!["appliance_on"]);
    }

    #[test]
    fn z2m_sos_actions_are_momentary() {
        let out = z2m_sequence(
            "red button",
            &[
                r#"{"action": "single"}"#,
                r#"{"action": ""}"#,
                r#"{"action": "single"}"#,
                r#"{"action": "double"}"#,
                r#"{"battery": 100}"#,
            ],
        );
        let emitted: Vec<Vec<&str>> = out.iter().map(kinds).collect();
        assert_eq!(emitted, vec![vec!["sos_pressed"], vec![], vec!["sos_pressed"], vec![], vec![]]);
        assert_eq!(out[0].events[0].data, json!({"action": "single", "room": "bedroom"}));

        let out =
            z2m_sequence("remote", &[r#"{"action": "single"}"#, r#"{"action": "emergency"}"#, r#"{"action": "sos"}"#]);
        let emitted: Vec<Vec<&str>> = out.iter().map(kinds).collect();
        assert_eq!(emitted, vec![vec![], vec!["sos_pressed"], vec!["sos_pressed"]]);
    }

    #[test]
    fn z2m_hazards_emit_on_rising_edge() {
        let out = z2m_sequence(
            "hazard",
            &[
                r#"{"water_leak": false, "smoke": false, "gas": false}"#,
                r#"{"water_leak": true, "smoke": false, "gas": false}"#,
                r#"{"water_leak": true, "smoke": true, "gas": true}"#,
                r#"{"water_leak": true, "smoke": true, "gas": true}"#,
                r#"{"water_leak": false, "smoke": false, "gas": false}"#,
                r#"{"water_leak": true}"#,
            ],
        );
        let emitted: Vec<Vec<&str>> = out.iter().map(kinds).collect();
        assert_eq!(
            emitted,
            vec![
                vec![],
                vec!["water_leak"],
                vec!["smoke_detected", "gas_detected"],
                vec![],
                vec![],
                vec!["water_leak"]
            ]
        );
    }

    #[test]
    fn z2m_readings_timestamps_and_odd_fields() {
        let out = z2m_sequence(
            "hall/motion",
            &[
                r#"{"temperature": 21.5, "humidity": 48, "battery": 97, "linkquality": 80, "voltage": 3000,
                    "last_seen": "2026-11-28T07:59:30.000Z"}"#,
                r#"{"temperature": 21.5, "last_seen": 1795852740000}"#,
                r#"{"occupancy": "yes", "temperature": 22}"#,
                r#"{"temperature": 21, "last_seen": "2026-12-28T00:00:00Z"}"#,
            ],
        );
        assert_eq!(
            metrics(&out[0]),
            vec![(Metric::RoomTemperature, 21.5), (Metric::Humidity, 48.0), (Metric::Battery, 97.0)]
        );
        assert!(out[0].readings.iter().all(|r| r.ts == at("2026-11-28T07:59:30Z")));
        assert!(!out[0].ts_was_missing);
        assert_eq!(out[1].readings[0].ts, at("2026-11-28T07:59:00Z"));
        assert_eq!(metrics(&out[2]), vec![(Metric::RoomTemperature, 22.0)]);
        assert_eq!(reasons(&out[2]), vec![Reason::Malformed]);
        assert!(out[2].ts_was_missing && out[2].events.is_empty());
        assert_rejected(&out[3], Reason::TimestampOutOfBounds);
    }

    #[test]
    fn z2m_state_is_kept_per_device() {
        let registry = devices();
        let mut states: HashMap<String, ZigbeeState> = HashMap::new();
        decode("zigbee2mqtt/front door", br#"{"contact": false}"#, now(), &registry, &mut states);
        decode("zigbee2mqtt/kettle plug", br#"{"power": 30}"#, now(), &registry, &mut states);
        assert_eq!(states["z-door"], ZigbeeState { contact: Some(false), ..ZigbeeState::default() });
        assert_eq!(states["z-plug"].appliance_on, Some(true));
        let rejected = decode("zigbee2mqtt/front door", b"[]", now(), &registry, &mut states);
        assert_rejected(&rejected, Reason::Malformed);
        assert_eq!(states["z-door"].contact, Some(false));
    }

    mod properties {
        use proptest::prelude::*;
        use proptest::sample::select;

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
                    prop::collection::vec((key(), inner), 0..8)
                        .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
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
            (
                prop::collection::vec(reading, 1..8),
                prop::option::of(written_ts()),
                prop::option::of(0..i64::MAX),
                any::<bool>(),
            )
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
    }
}
