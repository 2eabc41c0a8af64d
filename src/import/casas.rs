//! CASAS smart-home logs (the public research format of Washington State
//! University's CASAS project): one sensor change a line,
//! `YYYY-MM-DD HH:MM:SS[.ffffff] SENSOR VALUE [label...]`, in the home's
//! local time.
//!
//! Pure: a line is parsed, and with the sensor map and the resident's
//! timezone turned into the device payload the native decoder understands
//! (`eldercare/v1/{device_id}/event` or `/telemetry`), so an imported log goes
//! through the same decoding and storage as live data. The I/O (reading the
//! file, the devices, the store) is in [`super::run_casas`].
//!
//! Beyond the CASAS values (and the contract's list of them), a line may say
//! a sensor went `OFFLINE` or came back `ONLINE`: a change of the device's
//! status, stored in its status history (no event), so that the backtest
//! replays `device_offline` as the live system would have raised it.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use uuid::Uuid;

use crate::domain::{DeviceKind, Metric};

/// What a sensor reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    On,
    Off,
    Open,
    Close,
    /// The sensor went offline (an extension of the format: see the module).
    Offline,
    /// The sensor came back online.
    Online,
    Number(f64),
}

/// One readable line of a log.
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    /// In the home's local time.
    pub local: NaiveDateTime,
    pub sensor: &'a str,
    pub value: Value,
    /// The researchers' activity annotation, if any (`Sleeping begin`).
    pub label: Option<String>,
}

/// Why a line cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    #[error("too few fields: a line is `date time sensor value [label...]`")]
    TooFewFields,
    #[error("{0:?} is not a date and time YYYY-MM-DD HH:MM:SS[.ffffff]")]
    BadTime(String),
    #[error("{0:?} is not ON, OFF, OPEN, CLOSE, OFFLINE, ONLINE or a number")]
    BadValue(String),
}

/// Parses one line; blank lines are `Ok(None)`.
pub fn parse_line(line: &str) -> Result<Option<Line<'_>>, Unreadable> {
    let mut fields = line.split_whitespace();
    let Some(date) = fields.next() else { return Ok(None) };
    let (Some(time), Some(sensor), Some(value)) = (fields.next(), fields.next(), fields.next()) else {
        return Err(Unreadable::TooFewFields);
    };
    let stamp = format!("{date} {time}");
    let local = NaiveDateTime::parse_from_str(&stamp, "%Y-%m-%d %H:%M:%S%.f")
        .map_err(|_| Unreadable::BadTime(stamp.chars().take(40).collect()))?;
    let value = match value {
        "ON" => Value::On,
        "OFF" => Value::Off,
        "OPEN" => Value::Open,
        "CLOSE" => Value::Close,
        "OFFLINE" => Value::Offline,
        "ONLINE" => Value::Online,
        other => match other.parse::<f64>() {
            Ok(number) if number.is_finite() => Value::Number(number),
            _ => return Err(Unreadable::BadValue(other.chars().take(40).collect())),
        },
    };
    let label: Vec<&str> = fields.collect();
    let label = (!label.is_empty()).then(|| label.join(" "));
    Ok(Some(Line { local, sensor, value, label }))
}

/// What the map says of one sensor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sensor {
    pub kind: DeviceKind,
    pub room: Option<String>,
    /// The door (`entrance`, `fridge`) or appliance (`kettle`) it watches.
    pub placement: Option<String>,
    /// For a sensor reporting numbers: the metric they are.
    pub metric: Option<String>,
}

/// Sensor names as the map and the log give them, at most this long, so a
/// device id (`casas-{resident}-{sensor}`) stays within the contract's 64.
const MAX_SENSOR_NAME: usize = 25;

/// The map: each sensor of the log, by its name there.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorMap(pub BTreeMap<String, Sensor>);

#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("the map is not valid TOML of `SENSOR = {{kind = ..., room = ..., placement = ..., metric = ...}}`: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("sensor name {0:?} is not [A-Za-z0-9_.-]{{1,25}}")]
    Name(String),
    #[error("sensor {0}: metric {1:?} is not in the metric catalog")]
    Metric(String, String),
    #[error("sensor {0}: a {1} reports no ON/OFF or OPEN/CLOSE events; give it a metric or another kind")]
    Kind(String, DeviceKind),
}

impl SensorMap {
    pub fn parse(text: &str) -> Result<SensorMap, MapError> {
        let sensors: BTreeMap<String, Sensor> = toml::from_str(text)?;
        for (name, sensor) in &sensors {
            let valid = (1..=MAX_SENSOR_NAME).contains(&name.len())
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            if !valid {
                return Err(MapError::Name(name.clone()));
            }
            if let Some(metric) = &sensor.metric
                && Metric::parse(metric).is_none()
            {
                return Err(MapError::Metric(name.clone(), metric.clone()));
            }
            if sensor.metric.is_none() && event_kinds(sensor.kind).is_none() {
                return Err(MapError::Kind(name.clone(), sensor.kind));
            }
        }
        Ok(SensorMap(sensors))
    }

    pub fn get(&self, name: &str) -> Option<&Sensor> {
        self.0.get(name)
    }
}

/// The events a two-state sensor of `kind` reports: (when on or open, when
/// off or closed); `None` on a side means that state is no event (a motion
/// sensor going quiet).
fn event_kinds(kind: DeviceKind) -> Option<(&'static str, Option<&'static str>)> {
    match kind {
        DeviceKind::MotionSensor => Some(("motion", None)),
        DeviceKind::DoorSensor => Some(("door_opened", Some("door_closed"))),
        DeviceKind::BedSensor => Some(("bed_enter", Some("bed_exit"))),
        DeviceKind::SmartPlug => Some(("appliance_on", Some("appliance_off"))),
        DeviceKind::PillBox => Some(("medication_taken", None)),
        _ => None,
    }
}

/// The imported device standing for a sensor of a resident's log.
pub fn device_id(resident: Uuid, sensor: &str) -> String {
    format!("casas-{}-{sensor}", resident.simple())
}

/// What one line becomes for the decoder.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A native payload for `eldercare/v1/{device_id}/{suffix}`.
    Payload { suffix: &'static str, body: Json },
    /// A readable line that is no data (a motion sensor going quiet).
    Nothing,
    /// The sensor went offline (`online` false) or came back, at `at`.
    Status { online: bool, at: DateTime<Utc> },
    /// A line the map cannot place.
    Unmapped(Unmapped),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmapped {
    /// The sensor is not in the map.
    Sensor,
    /// The value does not fit what the map says the sensor is (a number
    /// from a motion sensor, ON from a thermometer).
    Value,
    /// A local time that never happened (skipped by a daylight-saving change).
    Time,
}

/// The payload one line becomes, its local time read in `tz` and moved by
/// `shift`.
pub fn payload(line: &Line<'_>, map: &SensorMap, tz: Tz, shift: TimeDelta) -> Outcome {
    let Some(sensor) = map.get(line.sensor) else { return Outcome::Unmapped(Unmapped::Sensor) };
    let Some(ts) = utc(line.local + shift, tz) else { return Outcome::Unmapped(Unmapped::Time) };
    match line.value {
        Value::Offline => return Outcome::Status { online: false, at: ts },
        Value::Online => return Outcome::Status { online: true, at: ts },
        _ => {}
    }
    let ts = ts.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    if let Some(metric) = &sensor.metric {
        return match line.value {
            Value::Number(value) => {
                Outcome::Payload { suffix: "telemetry", body: json!({"ts": ts, "metric": metric, "value": value}) }
            }
            _ => Outcome::Unmapped(Unmapped::Value),
        };
    }
    let Some((on, off)) = event_kinds(sensor.kind) else { return Outcome::Unmapped(Unmapped::Value) };
    let event = match line.value {
        Value::On | Value::Open => Some(on),
        Value::Off | Value::Close => off,
        Value::Number(_) | Value::Offline | Value::Online => return Outcome::Unmapped(Unmapped::Value),
    };
    let Some(event) = event else { return Outcome::Nothing };
    let mut data = serde_json::Map::new();
    if let Some(room) = &sensor.room {
        data.insert("room".into(), json!(room));
    }
    if let Some(placement) = &sensor.placement {
        let key = if sensor.kind == DeviceKind::SmartPlug { "appliance" } else { "door" };
        data.insert(key.into(), json!(placement));
    }
    if let Some(label) = &line.label {
        data.insert("label".into(), json!(label));
    }
    Outcome::Payload { suffix: "event", body: json!({"ts": ts, "event": event, "data": data}) }
}

/// A local time in `tz` as UTC; the earlier of two in the hour a clock goes
/// back, `None` in the hour it skips.
fn utc(local: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc))
}

/// How far to move a log whose last date is `last` so that it ends on
/// `end`: whole days, so each line keeps its time of day and weekday rhythm
/// is lost only by the shift's own length.
pub fn shift_to_end(last: NaiveDate, end: NaiveDate) -> TimeDelta {
    TimeDelta::days((end - last).num_days())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    const MAP: &str = r#"
        M004 = {kind = "motion_sensor", room = "bedroom"}
        D002 = {kind = "door_sensor", placement = "entrance"}
        T001 = {kind = "motion_sensor", room = "kitchen", metric = "room_temperature"}
        P001 = {kind = "smart_plug", placement = "kettle"}
    "#;

    #[test]
    fn good_lines() {
        let line = parse_line("2010-11-04 00:03:50 M004 ON").unwrap().unwrap();
        assert_eq!(line, Line { local: at("2010-11-04 00:03:50"), sensor: "M004", value: Value::On, label: None });
        let line = parse_line("2010-11-04\t05:40:51\tD002\tCLOSE").unwrap().unwrap();
        assert_eq!((line.sensor, line.value), ("D002", Value::Close));
        let line = parse_line("2010-11-04 05:40:52 T001 21.5").unwrap().unwrap();
        assert_eq!(line.value, Value::Number(21.5));
        for (text, value) in [
            ("OFF", Value::Off),
            ("OPEN", Value::Open),
            ("-3", Value::Number(-3.0)),
            ("OFFLINE", Value::Offline),
            ("ONLINE", Value::Online),
        ] {
            let text = format!("2010-11-04 05:40:52 X {text}");
            assert_eq!(parse_line(&text).unwrap().unwrap().value, value);
        }
        assert_eq!(parse_line("   \n"), Ok(None));
        assert_eq!(parse_line(""), Ok(None));
    }

    #[test]
    fn fractional_seconds() {
        let line = parse_line("2010-11-04 00:03:50.209589 M004 ON").unwrap().unwrap();
        assert_eq!(line.local, at("2010-11-04 00:03:50.209589"));
        assert_eq!(line.local.and_utc().timestamp_subsec_micros(), 209_589);
    }

    #[test]
    fn labels() {
        let line = parse_line("2010-11-04 00:03:50 M004 ON Sleeping begin").unwrap().unwrap();
        assert_eq!(line.label.as_deref(), Some("Sleeping begin"));
        let line = parse_line("2010-11-04 00:03:50 M004 OFF Sleeping").unwrap().unwrap();
        assert_eq!(line.label.as_deref(), Some("Sleeping"));
    }

    #[test]
    fn bad_lines() {
        assert_eq!(parse_line("2010-11-04 00:03:50 M004"), Err(Unreadable::TooFewFields));
        assert_eq!(parse_line("garbage"), Err(Unreadable::TooFewFields));
        assert!(matches!(parse_line("2010-13-04 00:03:50 M004 ON"), Err(Unreadable::BadTime(_))));
        assert!(matches!(parse_line("2010-11-04 25:03:50 M004 ON"), Err(Unreadable::BadTime(_))));
        assert!(matches!(parse_line("04/11/2010 00:03:50 M004 ON"), Err(Unreadable::BadTime(_))));
        assert_eq!(parse_line("2010-11-04 00:03:50 M004 ONN"), Err(Unreadable::BadValue("ONN".into())));
        assert_eq!(parse_line("2010-11-04 00:03:50 M004 NaN"), Err(Unreadable::BadValue("NaN".into())));
        assert_eq!(parse_line("2010-11-04 00:03:50 M004 inf"), Err(Unreadable::BadValue("inf".into())));
    }

    #[test]
    fn the_map() {
        let map = SensorMap::parse(MAP).unwrap();
        assert_eq!(map.get("D002").and_then(|s| s.placement.as_deref()), Some("entrance"));
        assert_eq!(map.get("T001").and_then(|s| s.metric.as_deref()), Some("room_temperature"));
        assert!(matches!(SensorMap::parse(r#"M1 = {kind = "robot"}"#), Err(MapError::Toml(_))));
        assert!(matches!(SensorMap::parse(r#"M1 = {kind = "motion_sensor", colour = 1}"#), Err(MapError::Toml(_))));
        assert!(matches!(SensorMap::parse(r#""M 1" = {kind = "motion_sensor"}"#), Err(MapError::Name(_))));
        assert!(matches!(
            SensorMap::parse(r#"T = {kind = "motion_sensor", metric = "mood"}"#),
            Err(MapError::Metric(..))
        ));
        assert!(matches!(SensorMap::parse(r#"W = {kind = "wearable"}"#), Err(MapError::Kind(..))));
        assert!(device_id(Uuid::nil(), &"S".repeat(MAX_SENSOR_NAME)).len() <= 64);
    }

    #[test]
    fn payloads_for_the_native_decoder() {
        let map = SensorMap::parse(MAP).unwrap();
        let tz: Tz = "Europe/Paris".parse().unwrap();
        fn line(text: &str) -> Line<'_> {
            parse_line(text).unwrap().unwrap()
        }
        let zero = TimeDelta::zero();
        assert_eq!(
            payload(&line("2010-11-04 08:00:00.5 M004 ON Sleeping end"), &map, tz, zero),
            Outcome::Payload {
                suffix: "event",
                body: json!({"ts": "2010-11-04T07:00:00.500000Z", "event": "motion",
                             "data": {"room": "bedroom", "label": "Sleeping end"}}),
            }
        );
        assert_eq!(payload(&line("2010-11-04 08:00:00 M004 OFF"), &map, tz, zero), Outcome::Nothing);
        assert_eq!(
            payload(&line("2010-07-04 08:00:00 D002 OPEN"), &map, tz, zero),
            Outcome::Payload {
                suffix: "event",
                body: json!({"ts": "2010-07-04T06:00:00.000000Z", "event": "door_opened", "data": {"door": "entrance"}}),
            }
        );
        let Outcome::Payload { body, .. } = payload(&line("2010-07-04 08:00:00 D002 CLOSE"), &map, tz, zero) else {
            panic!("a door closing is an event")
        };
        assert_eq!(body["event"], "door_closed");
        let Outcome::Payload { body, .. } = payload(&line("2010-07-04 08:00:00 P001 ON"), &map, tz, zero) else {
            panic!("a kettle switched on is an event")
        };
        assert_eq!((&body["event"], &body["data"]["appliance"]), (&json!("appliance_on"), &json!("kettle")));
        assert_eq!(
            payload(&line("2010-11-04 08:00:00 T001 21.5"), &map, tz, TimeDelta::days(2)),
            Outcome::Payload {
                suffix: "telemetry",
                body: json!({"ts": "2010-11-06T07:00:00.000000Z", "metric": "room_temperature", "value": 21.5}),
            }
        );
        assert_eq!(payload(&line("2010-11-04 08:00:00 T001 ON"), &map, tz, zero), Outcome::Unmapped(Unmapped::Value));
        assert_eq!(payload(&line("2010-11-04 08:00:00 M004 3"), &map, tz, zero), Outcome::Unmapped(Unmapped::Value));
        assert_eq!(payload(&line("2010-11-04 08:00:00 M999 ON"), &map, tz, zero), Outcome::Unmapped(Unmapped::Sensor));
        // 02:30 did not happen in Paris on 28 March 2010.
        assert_eq!(payload(&line("2010-03-28 02:30:00 M004 ON"), &map, tz, zero), Outcome::Unmapped(Unmapped::Time));
        // A sensor's status, whatever it reports, is no event.
        let at = "2010-11-04T07:00:00Z".parse().unwrap();
        assert_eq!(
            payload(&line("2010-11-04 08:00:00 M004 OFFLINE"), &map, tz, zero),
            Outcome::Status { online: false, at }
        );
        assert_eq!(
            payload(&line("2010-11-04 08:00:00 T001 ONLINE"), &map, tz, zero),
            Outcome::Status { online: true, at }
        );
        assert_eq!(
            payload(&line("2010-11-04 08:00:00 M999 OFFLINE"), &map, tz, zero),
            Outcome::Unmapped(Unmapped::Sensor)
        );
    }

    #[test]
    fn shifting_moves_whole_days() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(shift_to_end(d("2010-11-04"), d("2026-11-30")), TimeDelta::days(5870));
        assert_eq!(shift_to_end(d("2026-12-01"), d("2026-11-30")), TimeDelta::days(-1));
        assert_eq!(shift_to_end(d("2026-11-30"), d("2026-11-30")), TimeDelta::zero());
    }
}
