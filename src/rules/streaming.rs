//! Rules judged on each stored event, by the event's own time: falls, SOS
//! and hazards.
//!
//! None of these is suppressed by away mode: a fall or a fire needs help
//! whoever is home.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use super::Decision;
use crate::domain::settings::{RuleSettings, number_value};
use crate::domain::{AlertKind, DeviceKind, EventKind, Resolution, Severity};

/// The events [`on_event`] decides on: each stored one goes through the rule
/// inbox, so it is judged even if the process dies right after storing it.
pub const JUDGED_EVENTS: &[EventKind] = &[
    EventKind::FallDetected,
    EventKind::FallCancelled,
    EventKind::SosPressed,
    EventKind::SmokeDetected,
    EventKind::GasDetected,
    EventKind::WaterLeak,
];

/// Decisions for one stored event. Events that are not alarms give none.
///
/// A `fall_cancelled` gives a `Clear`; the caller applies it only when
/// [`fall_cancel_applies`] to the open fall alert's time, since the rule does
/// not know when (or whether) the fall was raised.
pub fn on_event(
    kind: &EventKind,
    ts: DateTime<Utc>,
    data: &Value,
    device_kind: DeviceKind,
    settings: &RuleSettings,
    late: bool,
) -> Vec<Decision> {
    let (alert, severity) = match kind {
        EventKind::FallDetected => (AlertKind::Fall, Severity::Critical),
        EventKind::SosPressed => (AlertKind::Sos, Severity::Critical),
        EventKind::SmokeDetected => (AlertKind::Smoke, Severity::Critical),
        EventKind::GasDetected => (AlertKind::Gas, Severity::Critical),
        EventKind::WaterLeak => (AlertKind::WaterLeak, Severity::High),
        EventKind::FallCancelled => {
            let details = event_details(kind, data, device_kind, late);
            return vec![Decision::Clear {
                kind: AlertKind::Fall,
                cause: String::new(),
                at: ts,
                resolution: Resolution::CancelledByResident,
                details: Value::Object(details),
            }];
        }
        EventKind::Motion
        | EventKind::DoorOpened
        | EventKind::DoorClosed
        | EventKind::BedExit
        | EventKind::BedEnter
        | EventKind::ApplianceOn
        | EventKind::ApplianceOff
        | EventKind::MealServed
        | EventKind::MealEaten
        | EventKind::MedicationTaken
        | EventKind::Other(_) => return Vec::new(),
    };
    let mut details = event_details(kind, data, device_kind, late);
    if alert == AlertKind::Fall {
        details.insert("confidence".into(), data.get("confidence").cloned().unwrap_or(Value::Null));
        details.insert("cancel_window_seconds".into(), number_value(settings.fall_cancel_seconds));
    }
    vec![Decision::Raise { kind: alert, cause: String::new(), severity, at: ts, details: Value::Object(details) }]
}

/// Whether a cancel at `cancel_at` undoes the fall raised at `fall_at`: only
/// from the fall on, and within the resident's cancel window (edges included).
pub fn fall_cancel_applies(fall_at: DateTime<Utc>, cancel_at: DateTime<Utc>, settings: &RuleSettings) -> bool {
    let elapsed = cancel_at - fall_at;
    elapsed >= Duration::zero() && elapsed <= settings.fall_cancel_window()
}

/// The device that sent a `fall_cancelled`.
#[derive(Debug, Clone, Copy)]
pub struct Canceller<'a> {
    pub device_id: &'a str,
    pub device_kind: DeviceKind,
    pub resident_id: Option<uuid::Uuid>,
}

/// Whether a cancel from `canceller` may speak for a fall raised by
/// `fall_device` about `fall_resident`: the device that raised it, or the
/// resident's own wearable (the button they press to say "I'm OK"). A door
/// sensor, another resident's device or a shared device cannot cancel
/// someone's fall, since each device's identity is its broker credential.
pub fn cancel_trusted(fall_device: Option<&str>, fall_resident: Option<uuid::Uuid>, canceller: &Canceller<'_>) -> bool {
    fall_device == Some(canceller.device_id)
        || (canceller.device_kind == DeviceKind::Wearable
            && canceller.resident_id.is_some()
            && canceller.resident_id == fall_resident)
}

/// The open fall alert, as a cancel is judged against it.
#[derive(Debug, Clone, Copy)]
pub struct OpenFall<'a> {
    pub device_id: Option<&'a str>,
    pub resident_id: Option<uuid::Uuid>,
    pub opened_at: DateTime<Utc>,
    /// The alert's details, where [`stamp_receipt`] put the fall's receipt.
    pub details: &'a Value,
}

/// Whether a cancel resolves the open fall: from a device trusted to speak
/// for it, within the cancel window measured between the two receipts by the
/// backend (a device cannot backdate a cancel).
pub fn cancel_resolves(
    fall: &OpenFall<'_>,
    canceller: &Canceller<'_>,
    cancel_received: DateTime<Utc>,
    settings: &RuleSettings,
) -> bool {
    if !cancel_trusted(fall.device_id, fall.resident_id, canceller) {
        return false;
    }
    let fall_received = fall
        .details
        .get("received_at")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<DateTime<Utc>>().ok())
        .unwrap_or(fall.opened_at);
    fall_cancel_applies(fall_received, cancel_received, settings)
}

/// Notes on a fall's raise when the backend received it: the cancel window
/// runs from the fall's receipt, on our clock.
pub fn stamp_receipt(decision: &mut Decision, received_at: DateTime<Utc>) {
    if let Decision::Raise { kind: AlertKind::Fall, details, .. } = decision
        && let Some(obj) = details.as_object_mut()
    {
        obj.insert("received_at".into(), Value::String(super::rfc3339(received_at)));
    }
}

fn event_details(kind: &EventKind, data: &Value, device_kind: DeviceKind, late: bool) -> Map<String, Value> {
    let mut details = Map::new();
    details.insert("event".into(), kind.as_str().into());
    details.insert("room".into(), data.get("room").cloned().unwrap_or(Value::Null));
    details.insert("device_kind".into(), device_kind.as_str().into());
    details.insert("data".into(), data.clone());
    details.insert("late".into(), late.into());
    details
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn t0() -> DateTime<Utc> {
        "2026-11-28T03:12:09Z".parse().unwrap()
    }

    fn settings() -> RuleSettings {
        RuleSettings::default()
    }

    #[test]
    fn fall_raises_critical_with_room_confidence_and_cancel_window() {
        let data = json!({"room": "bathroom", "confidence": 0.93});
        let decisions =
            on_event(&EventKind::from("fall_detected"), t0(), &data, DeviceKind::Wearable, &settings(), true);
        assert_eq!(
            decisions,
            [Decision::Raise {
                kind: AlertKind::Fall,
                cause: String::new(),
                severity: Severity::Critical,
                at: t0(),
                details: json!({"event": "fall_detected", "room": "bathroom", "confidence": 0.93,
                                "cancel_window_seconds": 60, "device_kind": "wearable", "data": data, "late": true}),
            }]
        );
    }

    #[test]
    fn fall_cancelled_clears_as_cancelled_by_resident() {
        let decisions =
            on_event(&EventKind::from("fall_cancelled"), t0(), &json!({}), DeviceKind::Wearable, &settings(), false);
        assert_eq!(decisions.len(), 1);
        let Decision::Clear { kind, cause, resolution, at, .. } = &decisions[0] else { panic!("expected a clear") };
        assert_eq!(
            (*kind, cause.as_str(), *resolution, *at),
            (AlertKind::Fall, "", Resolution::CancelledByResident, t0())
        );
    }

    #[test]
    fn only_the_falls_device_or_the_residents_wearable_may_cancel() {
        let mum = Some(uuid::Uuid::from_u128(1));
        let dad = Some(uuid::Uuid::from_u128(2));
        let cancel = |device_id, device_kind, resident_id| Canceller { device_id, device_kind, resident_id };
        // The radar that saw the fall.
        assert!(cancel_trusted(Some("radar-1"), mum, &cancel("radar-1", DeviceKind::FallSensor, mum)));
        // Her wristband, for a fall the bathroom radar raised.
        assert!(cancel_trusted(Some("radar-1"), mum, &cancel("band-1", DeviceKind::Wearable, mum)));
        // Another resident's wristband, her own door sensor, a shared device.
        assert!(!cancel_trusted(Some("radar-1"), mum, &cancel("band-2", DeviceKind::Wearable, dad)));
        assert!(!cancel_trusted(Some("radar-1"), mum, &cancel("door-1", DeviceKind::DoorSensor, mum)));
        assert!(!cancel_trusted(Some("radar-1"), mum, &cancel("band-9", DeviceKind::Wearable, None)));
        // A shared radar's fall: only that radar.
        assert!(cancel_trusted(Some("radar-c"), None, &cancel("radar-c", DeviceKind::FallSensor, None)));
        assert!(!cancel_trusted(Some("radar-c"), None, &cancel("radar-d", DeviceKind::FallSensor, None)));
    }

    #[test]
    fn every_judged_event_decides_something() {
        for kind in JUDGED_EVENTS {
            assert!(!on_event(kind, t0(), &json!({}), DeviceKind::Wearable, &settings(), false).is_empty(), "{kind}");
        }
    }

    #[test]
    fn fall_cancel_window_edges() {
        let s = settings();
        let fall = t0();
        assert!(fall_cancel_applies(fall, fall, &s));
        assert!(fall_cancel_applies(fall, fall + Duration::seconds(60), &s));
        assert!(!fall_cancel_applies(fall, fall + Duration::seconds(60) + Duration::milliseconds(1), &s));
        assert!(!fall_cancel_applies(fall, fall - Duration::milliseconds(1), &s));
        let mut short = settings();
        short.fall_cancel_seconds = 30.0;
        assert!(!fall_cancel_applies(fall, fall + Duration::seconds(31), &short));
    }

    #[test]
    fn sos_and_hazards_raise_even_when_away() {
        let mut away = settings();
        away.away = true;
        let cases = [
            ("sos_pressed", AlertKind::Sos, Severity::Critical),
            ("smoke_detected", AlertKind::Smoke, Severity::Critical),
            ("gas_detected", AlertKind::Gas, Severity::Critical),
            ("water_leak", AlertKind::WaterLeak, Severity::High),
            ("fall_detected", AlertKind::Fall, Severity::Critical),
        ];
        for (event, kind, severity) in cases {
            let decisions = on_event(
                &EventKind::from(event),
                t0(),
                &json!({"room": "kitchen"}),
                DeviceKind::HazardSensor,
                &away,
                false,
            );
            assert_eq!(decisions.len(), 1, "{event}");
            let Decision::Raise { kind: k, severity: s, cause, details, .. } = &decisions[0] else {
                panic!("expected a raise for {event}")
            };
            assert_eq!((*k, *s, cause.as_str()), (kind, severity, ""), "{event}");
            assert_eq!(details["room"], "kitchen");
        }
    }

    #[test]
    fn ordinary_and_unknown_events_decide_nothing() {
        for event in ["motion", "door_opened", "bed_exit", "meal_eaten", "teleported", ""] {
            assert!(
                on_event(
                    &EventKind::from(event),
                    t0(),
                    &json!({"room": "hall"}),
                    DeviceKind::MotionSensor,
                    &settings(),
                    false
                )
                .is_empty()
            );
        }
        // Data that is not an object is carried, not trusted.
        let decisions = on_event(
            &EventKind::from("sos_pressed"),
            t0(),
            &json!("pressed"),
            DeviceKind::SosButton,
            &settings(),
            false,
        );
        assert_eq!(decisions.len(), 1);
    }
}
