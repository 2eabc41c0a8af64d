//! When a device counts as online: one definition for the rules, the API
//! and the counts the database makes of a whole fleet.

use chrono::{DateTime, Duration, Utc};

use crate::domain::DeviceKind;

/// Whether a device is online now: not when it last said it went offline
/// (a Last Will), nor when it has been silent past its kind's heartbeat
/// timeout. `None` for a device never heard from.
pub fn online(
    kind: DeviceKind,
    last_seen_at: Option<DateTime<Utc>>,
    reported: Option<bool>,
    now: DateTime<Utc>,
) -> Option<bool> {
    let last_seen = last_seen_at?;
    Some(reported != Some(false) && last_seen + heartbeat_timeout(kind) >= now)
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
