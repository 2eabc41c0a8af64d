//! The contract's own payloads: telemetry, events and status.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::fields::*;
use super::{Decoded, Event, Reading, Received, Status};
use crate::domain::{EventKind, Metric, Reason};

const MAX_EVENT_NAME_CHARS: usize = 64;

pub(super) fn telemetry(root: &Value, now: Received, out: &mut Decoded) -> Checked<()> {
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
pub(super) fn reading(
    item: &Value,
    what: &str,
    message_ts: Option<DateTime<Utc>>,
    seq: Option<i64>,
    now: Received,
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
    let reading = Reading { metric, ts: ts.unwrap_or(now.at), value, seq };
    Ok((reading, ts.is_none()))
}

pub(super) fn event(root: &Value, now: Received, out: &mut Decoded) -> Checked<()> {
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
    out.events.push(Event { kind, ts: ts.unwrap_or(now.at), data, seq });
    Ok(())
}

pub(super) fn status(root: &Value, now: Received, out: &mut Decoded) -> Checked<()> {
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

    let ts = given_ts.unwrap_or(now.at);
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fields::{MAX_FUTURE, MAX_PAST};
    use super::super::testing::*;
    use super::super::*;

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
}
