//! FHIR R4 from health gateways: an Observation, or a Bundle of them, coded
//! in LOINC.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::fields::*;
use super::{Decoded, Reading, Received};
use crate::domain::{Metric, Reason};

const LOINC_SYSTEM: &str = "http://loinc.org";
/// 85354-9 is the contract's panel; 55284-4 is its older equivalent, still
/// sent by gateways that predate the FHIR vital-signs profile.
const BP_PANEL_LOINC: &[&str] = &["85354-9", "55284-4"];
/// The mass-concentration glucose code implies mg/dL when a quantity carries
/// no unit; every other code implies the metric's canonical unit.
const GLUCOSE_MASS_LOINC: &str = "2339-0";

pub(super) fn resource(root: &Value, now: Received, out: &mut Decoded) -> Checked<()> {
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

pub(super) fn bundle_entry(entry: &Value, what: &str, now: Received, out: &mut Decoded) -> Checked<()> {
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
pub(super) fn observation(obj: &Map<String, Value>, what: &str, now: Received, out: &mut Decoded) -> Checked<()> {
    // These statuses retract the measurement: it is not data, nor an error.
    if let Some("entered-in-error" | "cancelled") = optional_str(obj, "status")? {
        return Ok(());
    }
    let given_ts = ["effectiveDateTime", "effectiveInstant", "issued"]
        .into_iter()
        .find_map(|name| field(obj, name).map(|value| (name, value)))
        .map(|(name, value)| timestamp(value, &format!("{what}.{name}"), now))
        .transpose()?;
    let ts = given_ts.unwrap_or(now.at);
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
pub(super) fn loinc_codes<'a>(obj: &'a Map<String, Value>, what: &str) -> Checked<Vec<&'a str>> {
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
pub(super) fn quantity(obj: &Map<String, Value>, what: &str, ts: DateTime<Utc>) -> Checked<Option<Reading>> {
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

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::*;

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
}
