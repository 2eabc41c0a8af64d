//! When a device counts as online: one definition for the rules, the API
//! and the counts the database makes of a whole fleet.

use chrono::{DateTime, Utc};

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

/// Whether a registered device is online now, as its carers are told: by
/// [`online`], and a device never heard from is offline once its kind's
/// heartbeat timeout has run from its registration, as `rules::devices::silent_devices`
/// judges it when it raises `device_offline` (a device that never spoke is
/// as much a problem as one that fell silent). `None` only before that: not
/// heard from yet.
pub fn online_since(
    kind: DeviceKind,
    last_seen_at: Option<DateTime<Utc>>,
    registered_at: DateTime<Utc>,
    reported: Option<bool>,
    now: DateTime<Utc>,
) -> Option<bool> {
    match last_seen_at {
        Some(_) => online(kind, last_seen_at, reported, now),
        None => (silent_since(None, registered_at) + heartbeat_timeout(kind) < now).then_some(false),
    }
}

/// Since when a device has been silent: its last message, or its
/// registration when it never sent one.
pub fn silent_since(last_seen_at: Option<DateTime<Utc>>, registered_at: DateTime<Utc>) -> DateTime<Utc> {
    last_seen_at.unwrap_or(registered_at)
}

/// How long a device of this kind may stay silent before it counts as
/// offline (shared with the simulator, which writes a dead sensor's OFFLINE
/// when the live system would have seen it).
pub use eldercare_domain::heartbeat_timeout;
