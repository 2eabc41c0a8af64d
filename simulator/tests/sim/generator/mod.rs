//! The generator's output against the device contract and the shape of a
//! day. Pure: no broker, no backend.

mod confounders;
mod contract;
mod determinism;
mod harder;
mod routine;
mod scenario;

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use eldercare_sim::{DeviceSpec, Message, ResidentProfile, SimConfig, devices};
use serde_json::Value;

/// Residents spread over timezones on both sides of UTC, one with DST.
pub const ZONES: [&str; 3] = ["Asia/Shanghai", "Europe/Berlin", "America/New_York"];

pub fn config(residents: usize, seed: u64) -> SimConfig {
    SimConfig {
        seed,
        residents: (0..residents)
            .map(|i| ResidentProfile::generated(i, seed, ZONES[i % ZONES.len()].parse().unwrap()))
            .collect(),
        incident_rate: 0.0,
        incidents: Vec::new(),
        confounders: Default::default(),
    }
}

pub fn utc(y: i32, mo: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, 0, 0).unwrap()
}

pub fn json(m: &Message) -> Value {
    serde_json::from_slice(&m.payload).unwrap_or_else(|e| panic!("{}: not JSON: {e}", m.topic))
}

/// `ts` as the contract allows it: RFC 3339 with an offset, or epoch milliseconds.
pub fn ts(v: &Value) -> Option<DateTime<Utc>> {
    match v.get("ts")? {
        Value::Number(n) => DateTime::from_timestamp_millis(n.as_i64()?),
        Value::String(s) => DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc)),
        _ => None,
    }
}

pub fn by_id(config: &SimConfig) -> HashMap<String, DeviceSpec> {
    devices(config).into_iter().map(|d| (d.device_id.clone(), d)).collect()
}

/// Local dates whose whole day lies inside `from..to` for `tz`.
pub fn full_days(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<NaiveDate> {
    let first = from.with_timezone(&tz).date_naive();
    first
        .iter_days()
        .take(40)
        .filter(|d| {
            let (a, b) = eldercare_sim::clock::day_bounds(tz, *d);
            a >= from && b <= to
        })
        .collect()
}

pub fn heart_rate(v: &Value) -> Option<f64> {
    reading(v, "heart_rate")
}

pub fn reading(v: &Value, metric: &str) -> Option<f64> {
    v.get("readings")?
        .as_array()?
        .iter()
        .find(|r| r.get("metric").and_then(Value::as_str) == Some(metric))?
        .get("value")?
        .as_f64()
}
