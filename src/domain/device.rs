//! What a device is: its kind and how it speaks to us (the contract's
//! names, shared with the simulator), and whose it is.

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use eldercare_domain::{DeviceKind, Source};

/// A smart plug's appliance counts as switched on from this draw, unless
/// its registration says otherwise.
pub const DEFAULT_POWER_ON_THRESHOLD_W: f64 = 20.0;

/// What the decoder needs to know about a registered device.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    /// The registered id (the topic id for native devices), which every
    /// output is attributed to.
    pub device_id: String,
    /// A Zigbee button only means SOS on `single` when registered as a
    /// `sos_button`.
    pub kind: DeviceKind,
    /// Becomes `data.room` of events derived from Zigbee sensors.
    pub room: Option<String>,
    /// Becomes `data.door` / `data.appliance` of derived events.
    pub placement: Option<String>,
    /// A smart plug at or above this draw means its appliance is on.
    pub power_on_threshold_w: f64,
}

/// A registered device: what the decoder reads, and whom its data belongs to.
#[derive(Debug)]
pub struct Registered {
    pub info: DeviceInfo,
    pub institution_id: Uuid,
    pub resident_id: Option<Uuid>,
}

eldercare_domain::names!(
    /// Why a device went offline or came back, as its status history keeps it.
    StatusReason {
        /// Silent past its kind's heartbeat timeout.
        HeartbeatTimeout = "heartbeat_timeout",
        /// Its own status report (or Last Will, or Zigbee2MQTT availability).
        Reported = "reported",
        /// Back online because a message came from it.
        HeardFrom = "heard_from",
        /// A status line of an imported log.
        Imported = "imported",
    }
);

/// One change of a device between online and offline: a row of its status
/// history, as the rule backtest replays it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StatusChange {
    pub device_id: String,
    pub device_kind: DeviceKind,
    /// When the change happened (not when it was recorded).
    pub at: DateTime<Utc>,
    pub online: bool,
    pub reason: StatusReason,
}
