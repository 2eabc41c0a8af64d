//! Device health, judged from what devices say and from their silence:
//! whether a device is online, and whether its battery needs changing. One
//! definition of each, for the rules, the scheduler, the API and the family
//! summary alike.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Decision, rfc3339};
use crate::domain::device::{StatusChange, StatusReason};
use crate::domain::presence::{heartbeat_timeout, online};
use crate::domain::settings::{RuleSettings, number_value};
use crate::domain::{AlertKind, DeviceKind, Resolution, Severity};

/// How far above the low-battery threshold a low battery must come back to
/// count as changed or charged, so that a level wobbling on the line does
/// not flap.
pub const BATTERY_RECOVERY_POINTS: f64 = 5.0;

/// Where a battery level stands against a low-battery threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Battery {
    /// Below the threshold.
    Low,
    /// At or above it, by less than [`BATTERY_RECOVERY_POINTS`]: still low
    /// if it was.
    Recovering,
    /// Clearly above it.
    Fine,
}

pub fn battery(level: f64, threshold: f64) -> Battery {
    if level < threshold {
        Battery::Low
    } else if level >= threshold + BATTERY_RECOVERY_POINTS {
        Battery::Fine
    } else {
        Battery::Recovering
    }
}

impl Battery {
    /// Whether a battery that `was_low` counts as low now.
    pub fn is_low(self, was_low: bool) -> bool {
        match self {
            Battery::Low => true,
            Battery::Recovering => was_low,
            Battery::Fine => false,
        }
    }
}

/// Decisions for a device's `status` message (or Zigbee2MQTT availability):
/// an explicit offline raises at once, online clears; the battery raises
/// when [`Battery::Low`] and clears when [`Battery::Fine`].
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
    if let Some(level) = battery.filter(|b| b.is_finite()) {
        let threshold = settings.low_battery.percent;
        let details = json!({"device_id": device_id, "device_kind": device_kind, "battery": number_value(level),
                             "threshold_percent": number_value(threshold)});
        match self::battery(level, threshold) {
            Battery::Low => {
                // Below 5 % a battery sensor may die before anyone gets to it.
                let severity = if level < 5.0 { Severity::Medium } else { Severity::Low };
                decisions.push(Decision::Raise {
                    kind: AlertKind::LowBattery,
                    cause: device_id.to_owned(),
                    severity,
                    at,
                    details,
                });
            }
            Battery::Fine => decisions.push(Decision::Clear {
                kind: AlertKind::LowBattery,
                cause: device_id.to_owned(),
                at,
                resolution: Resolution::AutoCleared,
                details,
            }),
            Battery::Recovering => {}
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
            if online(device.kind, Some(last_seen), device.online, now) == Some(true) {
                Some(Decision::Clear {
                    kind: AlertKind::DeviceOffline,
                    cause: device.device_id.clone(),
                    at: last_seen,
                    resolution: Resolution::AutoCleared,
                    details,
                })
            } else if last_seen + timeout < now {
                Some(raise(last_seen + timeout, details))
            } else {
                details["reason"] = json!("reported_offline");
                Some(raise(device.online_at.unwrap_or(last_seen), details))
            }
        })
        .collect()
}

/// The change of a device's status a `device_offline` decision stands for:
/// offline when raised, back online when cleared, and why (from the rule's
/// own `reason`). `None` for any other decision.
pub fn status_change(decision: &Decision) -> Option<(bool, StatusReason)> {
    let (online, details) = match decision {
        Decision::Raise { kind: AlertKind::DeviceOffline, details, .. } => (false, details),
        Decision::Clear { kind: AlertKind::DeviceOffline, details, .. } => (true, details),
        _ => return None,
    };
    let reason = match details["reason"].as_str() {
        Some("silent") if online => StatusReason::HeardFrom,
        Some("silent") => StatusReason::HeartbeatTimeout,
        _ => StatusReason::Reported,
    };
    Some((online, reason))
}

/// The `device_offline` decision a stored change of status was, made again
/// by the rule that made it: a silence by [`silent_devices`], judged just
/// after the timeout ran out (the battery then is not kept: `null`); a
/// report, or a status line of an imported log, by [`on_status`]. The
/// inverse of [`status_change`].
pub fn replayed(change: &StatusChange, settings: &RuleSettings) -> Option<Decision> {
    let (id, kind, at) = (change.device_id.as_str(), change.device_kind, change.at);
    let silent = |last_seen, now| {
        let health = DeviceHealth {
            device_id: id.to_owned(),
            kind,
            last_seen_at: Some(last_seen),
            online: None,
            online_at: None,
            battery: None,
        };
        silent_devices(&[health], now).pop()
    };
    match (change.online, change.reason) {
        (false, StatusReason::HeartbeatTimeout) => {
            silent(at - heartbeat_timeout(kind), at + chrono::Duration::microseconds(1))
        }
        (true, StatusReason::HeardFrom) => silent(at, at),
        (online, _) => on_status(id, kind, Some(online), None, at, settings).pop(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::presence::{online_since, silent_since};
    use chrono::Duration;

    fn t0() -> DateTime<Utc> {
        "2026-11-28T03:12:09Z".parse().unwrap()
    }

    fn settings() -> RuleSettings {
        RuleSettings::default()
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

    #[test]
    fn a_stored_change_of_status_replays_as_the_decision_that_made_it() {
        let (now, s) = (t0(), settings());
        let health = |last_seen: DateTime<Utc>, online| DeviceHealth {
            device_id: "pir".into(),
            kind: DeviceKind::MotionSensor,
            last_seen_at: Some(last_seen),
            online,
            online_at: Some(last_seen),
            battery: None,
        };
        let decisions = [
            silent_devices(&[health(now - Duration::hours(30), None)], now),
            silent_devices(&[health(now, None)], now),
            on_status("pir", DeviceKind::MotionSensor, Some(false), None, now, &s),
            on_status("pir", DeviceKind::MotionSensor, Some(true), None, now, &s),
        ];
        let reasons =
            [StatusReason::HeartbeatTimeout, StatusReason::HeardFrom, StatusReason::Reported, StatusReason::Reported];
        for (decision, reason) in decisions.iter().map(|d| &d[0]).zip(reasons) {
            let (online, got) = status_change(decision).expect("a device_offline decision");
            assert_eq!((online, got), (!decision.is_raise(), reason));
            let change = StatusChange {
                device_id: "pir".into(),
                device_kind: DeviceKind::MotionSensor,
                at: decision.at(),
                online,
                reason,
            };
            assert_eq!(replayed(&change, &s).as_ref(), Some(decision));
        }
        let low = on_status("pir", DeviceKind::MotionSensor, None, Some(3.0), now, &s);
        assert_eq!(status_change(&low[0]), None, "a low battery is no change of status");
    }

    #[test]
    fn battery_levels_against_the_threshold() {
        assert_eq!(battery(14.9, 15.0), Battery::Low);
        assert_eq!(battery(15.0, 15.0), Battery::Recovering);
        assert_eq!(battery(19.9, 15.0), Battery::Recovering);
        assert_eq!(battery(20.0, 15.0), Battery::Fine);
        assert!(Battery::Recovering.is_low(true) && !Battery::Recovering.is_low(false));
        assert!(Battery::Low.is_low(false) && !Battery::Fine.is_low(true));
    }

    #[test]
    fn devices_silent_past_their_timeout_are_offline() {
        let now = t0();
        let ago = |d| Some(now - d);
        assert_eq!(online(DeviceKind::Wearable, ago(Duration::minutes(5)), Some(true), now), Some(true));
        assert_eq!(online(DeviceKind::Wearable, ago(Duration::minutes(15)), Some(true), now), Some(true));
        assert_eq!(online(DeviceKind::Wearable, ago(Duration::minutes(20)), Some(true), now), Some(false));
        assert_eq!(online(DeviceKind::MotionSensor, ago(Duration::hours(3)), None, now), Some(true));
        assert_eq!(online(DeviceKind::MotionSensor, ago(Duration::minutes(1)), Some(false), now), Some(false));
        assert_eq!(online(DeviceKind::BedSensor, None, None, now), None);
    }

    #[test]
    fn a_device_never_heard_from_is_offline_once_its_timeout_has_run_from_its_registration() {
        let now = t0();
        let registered = |d| now - d;
        let wearable = |d| online_since(DeviceKind::Wearable, None, registered(d), None, now);
        assert_eq!(wearable(Duration::minutes(5)), None, "not heard from yet");
        assert_eq!(wearable(Duration::minutes(20)), Some(false));
        let seen = Some(now - Duration::minutes(1));
        assert_eq!(online_since(DeviceKind::Wearable, seen, registered(Duration::days(9)), None, now), Some(true));
        // The alert raises the same device at the same time.
        let health = |d| DeviceHealth {
            device_id: "w".into(),
            kind: DeviceKind::Wearable,
            last_seen_at: Some(silent_since(None, registered(d))),
            online: None,
            online_at: None,
            battery: None,
        };
        for d in [Duration::minutes(5), Duration::minutes(20)] {
            let raised = silent_devices(&[health(d)], now).iter().any(Decision::is_raise);
            assert_eq!(raised, wearable(d) == Some(false), "registered {d} ago");
        }
    }
}
