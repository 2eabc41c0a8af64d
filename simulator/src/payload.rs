//! The contract's payload families, rendered to bytes: native telemetry,
//! events and status, FHIR Observations and Bundles, Zigbee2MQTT states.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

/// The contract's metric catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    HeartRate,
    RespiratoryRate,
    Spo2,
    BodyTemperature,
    BpSystolic,
    BpDiastolic,
    BloodGlucose,
    BodyWeight,
    Steps,
    RoomTemperature,
    Humidity,
    Power,
    Battery,
}

impl Metric {
    pub const ALL: [Metric; 13] = [
        Metric::HeartRate,
        Metric::RespiratoryRate,
        Metric::Spo2,
        Metric::BodyTemperature,
        Metric::BpSystolic,
        Metric::BpDiastolic,
        Metric::BloodGlucose,
        Metric::BodyWeight,
        Metric::Steps,
        Metric::RoomTemperature,
        Metric::Humidity,
        Metric::Power,
        Metric::Battery,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::HeartRate => "heart_rate",
            Metric::RespiratoryRate => "respiratory_rate",
            Metric::Spo2 => "spo2",
            Metric::BodyTemperature => "body_temperature",
            Metric::BpSystolic => "bp_systolic",
            Metric::BpDiastolic => "bp_diastolic",
            Metric::BloodGlucose => "blood_glucose",
            Metric::BodyWeight => "body_weight",
            Metric::Steps => "steps",
            Metric::RoomTemperature => "room_temperature",
            Metric::Humidity => "humidity",
            Metric::Power => "power",
            Metric::Battery => "battery",
        }
    }

    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    /// UCUM unit, as FHIR carries it.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::HeartRate | Metric::RespiratoryRate => "/min",
            Metric::Spo2 | Metric::Humidity | Metric::Battery => "%",
            Metric::BodyTemperature | Metric::RoomTemperature => "Cel",
            Metric::BpSystolic | Metric::BpDiastolic => "mm[Hg]",
            Metric::BloodGlucose => "mmol/L",
            Metric::BodyWeight => "kg",
            Metric::Steps => "count",
            Metric::Power => "W",
        }
    }

    pub fn loinc(self) -> Option<&'static str> {
        match self {
            Metric::HeartRate => Some("8867-4"),
            Metric::RespiratoryRate => Some("9279-1"),
            Metric::Spo2 => Some("59408-5"),
            Metric::BodyTemperature => Some("8310-5"),
            Metric::BpSystolic => Some("8480-6"),
            Metric::BpDiastolic => Some("8462-4"),
            Metric::BloodGlucose => Some("15074-8"),
            Metric::BodyWeight => Some("29463-7"),
            Metric::Steps => Some("55423-8"),
            _ => None,
        }
    }

    /// The contract's plausible range; readings outside it are rejected.
    pub fn plausible(self) -> (f64, f64) {
        match self {
            Metric::HeartRate => (20.0, 300.0),
            Metric::RespiratoryRate => (2.0, 80.0),
            Metric::Spo2 => (50.0, 100.0),
            Metric::BodyTemperature => (30.0, 45.0),
            Metric::BpSystolic => (50.0, 300.0),
            Metric::BpDiastolic => (20.0, 200.0),
            Metric::BloodGlucose => (1.0, 40.0),
            Metric::BodyWeight => (20.0, 300.0),
            Metric::Steps => (0.0, 100_000.0),
            Metric::RoomTemperature => (-30.0, 60.0),
            Metric::Humidity | Metric::Battery => (0.0, 100.0),
            Metric::Power => (0.0, 10_000.0),
        }
    }

    /// Decimals a real device would send.
    fn decimals(self) -> u32 {
        match self {
            Metric::BodyTemperature
            | Metric::BloodGlucose
            | Metric::BodyWeight
            | Metric::RoomTemperature
            | Metric::Humidity
            | Metric::Power => 1,
            _ => 0,
        }
    }

    /// `value` rounded as the device would send it, as JSON.
    pub fn json(self, value: f64) -> Value {
        number(value, self.decimals())
    }
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
        readings.iter().map(|r| json!({"metric": r.metric.name(), "value": r.metric.json(r.value)})).collect();
    bytes(&json!({"ts": ts, "seq": seq, "readings": readings}))
}

/// `telemetry` with one flat reading.
pub fn flat_reading(ts: Value, seq: u64, reading: Reading) -> Vec<u8> {
    bytes(&json!({
        "ts": ts, "seq": seq,
        "metric": reading.metric.name(),
        "value": reading.metric.json(reading.value),
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
    let code = reading.metric.loinc().unwrap_or_default();
    json!({
        "resourceType": "Observation", "id": id, "status": "final",
        "category": [vital_signs()],
        "code": coding(code),
        "effectiveDateTime": effective,
        "valueQuantity": quantity(reading.metric.json(reading.value), reading.metric.unit()),
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
            {"code": coding("8480-6"), "valueQuantity": quantity(Metric::BpSystolic.json(systolic), "mm[Hg]")},
            {"code": coding("8462-4"), "valueQuantity": quantity(Metric::BpDiastolic.json(diastolic), "mm[Hg]")},
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
