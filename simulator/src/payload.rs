//! The contract's payload families, rendered to bytes: native telemetry,
//! events and status, FHIR Observations and Bundles, Zigbee2MQTT states.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

pub use eldercare_domain::Metric;

/// Decimals a real device would send.
fn decimals(metric: Metric) -> u32 {
    match metric {
        Metric::BodyTemperature
        | Metric::BloodGlucose
        | Metric::BodyWeight
        | Metric::RoomTemperature
        | Metric::Humidity
        | Metric::Power => 1,
        _ => 0,
    }
}

/// `value` of `metric` rounded as the device would send it, as JSON.
pub fn value_json(metric: Metric, value: f64) -> Value {
    number(value, decimals(metric))
}

/// A JSON number with `decimals` places; integers stay integers (`72`, not `72.0`).
pub fn number(value: f64, decimals: u32) -> Value {
    if decimals == 0 {
        return json!(value.round() as i64);
    }
    let scale = 10f64.powi(decimals as i32);
    json!((value * scale).round() / scale)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub metric: Metric,
    pub value: f64,
}

/// The three ways the contract lets a device write `ts`; devices differ.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TsFormat {
    /// RFC 3339 with the resident's local offset and milliseconds.
    Local(Tz),
    /// RFC 3339 in UTC (`Z`) with milliseconds.
    Utc,
    /// Integer epoch milliseconds.
    EpochMillis,
}

impl TsFormat {
    pub fn render(self, at: DateTime<Utc>) -> Value {
        match self {
            TsFormat::Local(tz) => json!(at.with_timezone(&tz).to_rfc3339_opts(SecondsFormat::Millis, false)),
            TsFormat::Utc => json!(at.to_rfc3339_opts(SecondsFormat::Millis, true)),
            TsFormat::EpochMillis => json!(at.timestamp_millis()),
        }
    }
}

pub fn native_topic(device_id: &str, channel: &str) -> String {
    format!("eldercare/v1/{device_id}/{channel}")
}

fn bytes(value: &Value) -> Vec<u8> {
    // Serialising a Value built here cannot fail: every key is a string.
    serde_json::to_vec(value).unwrap_or_default()
}

/// `telemetry` with a `readings` array.
pub fn telemetry(ts: Value, seq: u64, readings: &[Reading]) -> Vec<u8> {
    let readings: Vec<Value> =
        readings.iter().map(|r| json!({"metric": r.metric.as_str(), "value": value_json(r.metric, r.value)})).collect();
    bytes(&json!({"ts": ts, "seq": seq, "readings": readings}))
}

/// `telemetry` with one flat reading.
pub fn flat_reading(ts: Value, seq: u64, reading: Reading) -> Vec<u8> {
    bytes(&json!({
        "ts": ts, "seq": seq,
        "metric": reading.metric.as_str(),
        "value": value_json(reading.metric, reading.value),
    }))
}

pub fn event(ts: Value, seq: u64, name: &str, data: Value) -> Vec<u8> {
    bytes(&json!({"ts": ts, "seq": seq, "event": name, "data": data}))
}

pub fn status(ts: Value, battery: Option<u8>, rssi: i32, firmware: &str) -> Vec<u8> {
    let mut body = json!({"ts": ts, "online": true, "rssi": rssi, "firmware": firmware});
    if let (Some(b), Some(map)) = (battery, body.as_object_mut()) {
        map.insert("battery".into(), json!(b));
    }
    bytes(&body)
}

/// An explicit offline notice sent by a hub on a device's behalf.
pub fn offline_status(ts: Value) -> Vec<u8> {
    bytes(&json!({"ts": ts, "online": false}))
}

/// The Last Will set on connect: fixed bytes, no `ts` (the broker sends it later).
pub fn last_will() -> Vec<u8> {
    br#"{"online":false}"#.to_vec()
}

fn coding(code: &str) -> Value {
    json!({"coding": [{"system": "http://loinc.org", "code": code}]})
}

fn quantity(value: Value, unit: &str) -> Value {
    json!({"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit})
}

/// A FHIR Observation with a single `valueQuantity`, in the metric's canonical unit.
pub fn fhir_observation(id: &str, effective: &str, reading: Reading) -> Value {
    let code = reading.metric.loinc().first().copied().unwrap_or_default();
    json!({
        "resourceType": "Observation", "id": id, "status": "final",
        "category": [vital_signs()],
        "code": coding(code),
        "effectiveDateTime": effective,
        "valueQuantity": quantity(value_json(reading.metric, reading.value), reading.metric.unit()),
    })
}

/// Blood glucose as many meters report it: LOINC 2339-0 in mg/dL.
pub fn fhir_glucose_mg_dl(id: &str, effective: &str, mmol_per_l: f64) -> Value {
    json!({
        "resourceType": "Observation", "id": id, "status": "final",
        "code": coding("2339-0"),
        "effectiveDateTime": effective,
        "valueQuantity": quantity(number(mmol_per_l * 18.016, 0), "mg/dL"),
    })
}

/// The blood-pressure panel `85354-9` with its systolic and diastolic components.
pub fn fhir_bp_panel(id: &str, effective: &str, systolic: f64, diastolic: f64) -> Value {
    json!({
        "resourceType": "Observation", "id": id, "status": "final",
        "category": [vital_signs()],
        "code": coding("85354-9"),
        "effectiveDateTime": effective,
        "component": [
            {"code": coding("8480-6"), "valueQuantity": quantity(value_json(Metric::BpSystolic, systolic), "mm[Hg]")},
            {"code": coding("8462-4"), "valueQuantity": quantity(value_json(Metric::BpDiastolic, diastolic), "mm[Hg]")},
        ],
    })
}

fn vital_signs() -> Value {
    json!({"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
        "code": "vital-signs"}]})
}

pub fn fhir_bundle(id: &str, observations: Vec<Value>) -> Value {
    let entry: Vec<Value> = observations.into_iter().map(|o| json!({"resource": o})).collect();
    json!({"resourceType": "Bundle", "id": id, "type": "collection", "entry": entry})
}

pub fn fhir(resource: &Value) -> Vec<u8> {
    bytes(resource)
}

/// A Zigbee2MQTT state payload. `last_seen` is what Zigbee2MQTT adds with
/// `advanced.last_seen: ISO_8601_local`; it carries the simulated time of a
/// message whose arrival is later than its occurrence in accelerated runs.
pub fn zigbee_state(mut fields: Map<String, Value>, last_seen: DateTime<Utc>, tz: Tz) -> Vec<u8> {
    fields
        .insert("last_seen".into(), json!(last_seen.with_timezone(&tz).to_rfc3339_opts(SecondsFormat::AutoSi, false)));
    bytes(&Value::Object(fields))
}

pub fn availability(online: bool) -> Vec<u8> {
    bytes(&json!({"state": if online { "online" } else { "offline" }}))
}
