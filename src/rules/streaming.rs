//! Rules judged on each stored event or device status, by the event's own
//! time: falls, SOS, hazards and device health.
//!
//! None of these is suppressed by away mode: a fall or a fire needs help
//! whoever is home.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use super::settings::{RuleSettings, number_value};
use super::{Decision, rfc3339};
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

fn event_details(kind: &EventKind, data: &Value, device_kind: DeviceKind, late: bool) -> Map<String, Value> {
    let mut details = Map::new();
    details.insert("event".into(), kind.as_str().into());
    details.insert("room".into(), data.get("room").cloned().unwrap_or(Value::Null));
    details.insert("device_kind".into(), device_kind.as_str().into());
    details.insert("data".into(), data.clone());
    details.insert("late".into(), late.into());
    details
}

/// Decisions for a device's `status` message (or Zigbee2MQTT availability):
/// an explicit offline raises at once, online clears; the battery raises
/// below the resident's threshold and clears 5 points above it, so a level
/// wobbling on the line does not flap.
pub fn on_status(
    device_id: &str,
    device_kind: DeviceKind,
    online: Option<bool>,
    battery: Option<f64>,
    at: DateTime<Utc>,
    settings: &RuleSettings,
) -> Vec<Decision> {
    let mut decisions = Vec::new();
    match online {
        Some(false) => decisions.push(Decision::Raise {
            kind: AlertKind::DeviceOffline,
            cause: device_id.to_owned(),
            severity: offline_severity(device_kind),
            at,
            details: json!({"device_id": device_id, "device_kind": device_kind, "reason": "reported_offline"}),
        }),
        Some(true) => decisions.push(Decision::Clear {
            kind: AlertKind::DeviceOffline,
            cause: device_id.to_owned(),
            at,
            resolution: Resolution::AutoCleared,
            details: json!({"device_id": device_id, "device_kind": device_kind, "reason": "reported_online"}),
        }),
        None => {}
    }
    if let Some(battery) = battery.filter(|b| b.is_finite()) {
        let threshold = settings.low_battery.percent;
        let details = json!({"device_id": device_id, "device_kind": device_kind, "battery": number_value(battery),
                             "threshold_percent": number_value(threshold)});
        if battery < threshold {
            // Below 5 % a battery sensor may die before anyone gets to it.
            let severity = if battery < 5.0 { Severity::Medium } else { Severity::Low };
            decisions.push(Decision::Raise {
                kind: AlertKind::LowBattery,
                cause: device_id.to_owned(),
                severity,
                at,
                details,
            });
        } else if battery >= threshold + 5.0 {
            decisions.push(Decision::Clear {
                kind: AlertKind::LowBattery,
                cause: device_id.to_owned(),
                at,
                resolution: Resolution::AutoCleared,
                details,
            });
        }
    }
    decisions
}

/// An offline device that is the resident's only way to call for help, or
/// to be found after a fall, is more urgent than a missing room sensor.
fn offline_severity(device_kind: DeviceKind) -> Severity {
    match device_kind {
        DeviceKind::SosButton | DeviceKind::FallSensor | DeviceKind::Wearable => Severity::High,
        DeviceKind::MotionSensor
        | DeviceKind::DoorSensor
        | DeviceKind::BedSensor
        | DeviceKind::SmartPlug
        | DeviceKind::PillBox
        | DeviceKind::HazardSensor
        | DeviceKind::HealthGateway => Severity::Medium,
    }
}

/// How long a device of this kind may stay silent before it counts as
/// offline. Worn and gateway devices report every few minutes; SOS buttons
/// and fall sensors check in hourly; battery Zigbee sensors report only on a
/// change of state plus a daily check-in, so a quiet day is normal for them.
pub fn heartbeat_timeout(device_kind: DeviceKind) -> Duration {
    match device_kind {
        DeviceKind::Wearable => Duration::minutes(15),
        DeviceKind::HealthGateway => Duration::minutes(30),
        DeviceKind::SosButton | DeviceKind::FallSensor => Duration::hours(2),
        DeviceKind::MotionSensor
        | DeviceKind::DoorSensor
        | DeviceKind::BedSensor
        | DeviceKind::HazardSensor
        | DeviceKind::PillBox
        | DeviceKind::SmartPlug => Duration::hours(26),
    }
}

/// What the silence check needs to know of one device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceHealth {
    pub device_id: String,
    /// The registered device kind, which sets the heartbeat timeout.
    pub kind: DeviceKind,
    /// The last message of any kind; `None` for a device never heard from,
    /// which is skipped (pass the registration time to judge it from there).
    pub last_seen_at: Option<DateTime<Utc>>,
    /// The online flag last reported (status or availability), `None` if it
    /// never reported one.
    pub online: Option<bool>,
    /// When the message that set `online` happened.
    pub online_at: Option<DateTime<Utc>>,
    /// The last battery level, so a carer sees at once when silence is a flat battery.
    pub battery: Option<f64>,
}

/// Raises `device_offline` for devices silent past their kind's heartbeat
/// timeout, or that last said they were offline (a Last Will), and clears it
/// for devices heard from within the timeout that did not say so: those stay
/// offline until they say otherwise, however recently they spoke.
///
/// `at` is derived from stored facts (the moment the timeout ran out, or the
/// moment the device said it went offline), so repeated runs agree and one
/// occurrence is one decision.
pub fn silent_devices(devices: &[DeviceHealth], now: DateTime<Utc>) -> Vec<Decision> {
    devices
        .iter()
        .filter_map(|device| {
            let last_seen = device.last_seen_at?;
            let timeout = heartbeat_timeout(device.kind);
            let mut details = json!({
                "device_id": device.device_id,
                "device_kind": device.kind,
                "last_seen_at": rfc3339(last_seen),
                "timeout_minutes": timeout.num_minutes(),
                "battery": device.battery.map(number_value),
                "reason": "silent",
            });
            let raise = |at, details| Decision::Raise {
                kind: AlertKind::DeviceOffline,
                cause: device.device_id.clone(),
                severity: offline_severity(device.kind),
                at,
                details,
            };
            if last_seen + timeout < now {
                Some(raise(last_seen + timeout, details))
            } else if device.online == Some(false) {
                details["reason"] = json!("reported_offline");
                Some(raise(device.online_at.unwrap_or(last_seen), details))
            } else {
                Some(Decision::Clear {
                    kind: AlertKind::DeviceOffline,
                    cause: device.device_id.clone(),
                    at: last_seen,
                    resolution: Resolution::AutoCleared,
                    details,
                })
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn status_offline_and_online() {
        let s = settings();
        let raised = on_status("sos-1", DeviceKind::SosButton, Some(false), None, t0(), &s);
        assert_eq!(raised.len(), 1);
        let Decision::Raise { kind, cause, severity, .. } = &raised[0] else { panic!("expected a raise") };
        assert_eq!((*kind, cause.as_str(), *severity), (AlertKind::DeviceOffline, "sos-1", Severity::High));
        let Decision::Raise { severity, .. } =
            &on_status("pir-1", DeviceKind::MotionSensor, Some(false), None, t0(), &s)[0]
        else {
            panic!("expected a raise")
        };
        assert_eq!(*severity, Severity::Medium);
        let cleared = on_status("sos-1", DeviceKind::SosButton, Some(true), None, t0(), &s);
        assert!(matches!(
            &cleared[..],
            [Decision::Clear { kind: AlertKind::DeviceOffline, resolution: Resolution::AutoCleared, .. }]
        ));
        assert!(on_status("sos-1", DeviceKind::SosButton, None, None, t0(), &s).is_empty());
    }

    #[test]
    fn battery_thresholds_with_hysteresis() {
        let s = settings();
        let battery = |percent: f64| on_status("door-1", DeviceKind::DoorSensor, None, Some(percent), t0(), &s);
        let severity = |decisions: Vec<Decision>| match &decisions[..] {
            [Decision::Raise { kind: AlertKind::LowBattery, severity, cause, .. }] if cause == "door-1" => *severity,
            other => panic!("expected one low-battery raise, got {other:?}"),
        };
        assert_eq!(severity(battery(14.9)), Severity::Low);
        assert_eq!(severity(battery(4.0)), Severity::Medium);
        assert!(battery(15.0).is_empty());
        assert!(battery(19.9).is_empty());
        assert!(matches!(&battery(20.0)[..], [Decision::Clear { kind: AlertKind::LowBattery, .. }]));
        assert!(battery(f64::NAN).is_empty());
        // Offline and low battery in one message give both.
        assert_eq!(on_status("door-1", DeviceKind::DoorSensor, Some(false), Some(3.0), t0(), &s).len(), 2);
    }

    #[test]
    fn heartbeat_timeouts_per_kind() {
        assert_eq!(heartbeat_timeout(DeviceKind::Wearable), Duration::minutes(15));
        assert_eq!(heartbeat_timeout(DeviceKind::HealthGateway), Duration::minutes(30));
        assert_eq!(heartbeat_timeout(DeviceKind::SosButton), Duration::hours(2));
        assert_eq!(heartbeat_timeout(DeviceKind::FallSensor), Duration::hours(2));
        for kind in [
            DeviceKind::MotionSensor,
            DeviceKind::DoorSensor,
            DeviceKind::BedSensor,
            DeviceKind::HazardSensor,
            DeviceKind::PillBox,
            DeviceKind::SmartPlug,
        ] {
            assert_eq!(heartbeat_timeout(kind), Duration::hours(26), "{kind}");
        }
    }

    #[test]
    fn silent_devices_raise_after_their_timeout_and_clear_when_heard() {
        let now = t0();
        let device = |id: &str, kind: DeviceKind, ago: Duration, online: Option<bool>| DeviceHealth {
            device_id: id.into(),
            kind,
            last_seen_at: Some(now - ago),
            online,
            online_at: Some(now - ago),
            battery: Some(3.0),
        };
        let devices = [
            device("watch", DeviceKind::Wearable, Duration::minutes(16), Some(true)),
            device("watch-edge", DeviceKind::Wearable, Duration::minutes(15), Some(true)),
            device("pir", DeviceKind::MotionSensor, Duration::hours(25), None),
            device("pir-dead", DeviceKind::MotionSensor, Duration::hours(27), Some(true)),
            device("button", DeviceKind::SosButton, Duration::minutes(5), Some(false)),
            DeviceHealth { last_seen_at: None, ..device("new", DeviceKind::BedSensor, Duration::zero(), None) },
        ];
        let decisions = silent_devices(&devices, now);
        let summary: Vec<_> = decisions.iter().map(|d| (d.cause().to_owned(), d.is_raise(), d.at())).collect();
        assert_eq!(
            summary,
            [
                ("watch".to_owned(), true, now - Duration::minutes(1)),
                ("watch-edge".to_owned(), false, now - Duration::minutes(15)),
                ("pir".to_owned(), false, now - Duration::hours(25)),
                ("pir-dead".to_owned(), true, now - Duration::hours(1)),
                ("button".to_owned(), true, now - Duration::minutes(5)),
            ]
        );
        let Decision::Raise { severity, details, .. } = &decisions[0] else { panic!("expected a raise") };
        assert_eq!(*severity, Severity::High);
        assert_eq!(
            *details,
            json!({"device_id": "watch", "device_kind": "wearable", "last_seen_at": "2026-11-28T02:56:09Z",
                   "timeout_minutes": 15, "battery": 3, "reason": "silent"})
        );
        assert_eq!(silent_devices(&devices, now), decisions);
    }
}
