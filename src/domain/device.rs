//! What a device is: its kind, how it speaks to us, and whose it is.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum DeviceKind {
    Wearable,
    FallSensor,
    SosButton,
    MotionSensor,
    DoorSensor,
    BedSensor,
    SmartPlug,
    PillBox,
    HazardSensor,
    HealthGateway,
}

impl DeviceKind {
    pub const ALL: [DeviceKind; 10] = [
        DeviceKind::Wearable,
        DeviceKind::FallSensor,
        DeviceKind::SosButton,
        DeviceKind::MotionSensor,
        DeviceKind::DoorSensor,
        DeviceKind::BedSensor,
        DeviceKind::SmartPlug,
        DeviceKind::PillBox,
        DeviceKind::HazardSensor,
        DeviceKind::HealthGateway,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            DeviceKind::Wearable => "wearable",
            DeviceKind::FallSensor => "fall_sensor",
            DeviceKind::SosButton => "sos_button",
            DeviceKind::MotionSensor => "motion_sensor",
            DeviceKind::DoorSensor => "door_sensor",
            DeviceKind::BedSensor => "bed_sensor",
            DeviceKind::SmartPlug => "smart_plug",
            DeviceKind::PillBox => "pill_box",
            DeviceKind::HazardSensor => "hazard_sensor",
            DeviceKind::HealthGateway => "health_gateway",
        }
    }

    pub fn parse(name: &str) -> Option<DeviceKind> {
        DeviceKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a device's messages reach us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Source {
    /// The contract's own topics, `eldercare/v1/{device_id}/...`.
    Native,
    /// A Zigbee device, through a Zigbee2MQTT bridge.
    #[serde(rename = "zigbee2mqtt")]
    #[sqlx(rename = "zigbee2mqtt")]
    Zigbee2Mqtt,
}

impl Source {
    pub fn as_str(&self) -> &'static str {
        match self {
            Source::Native => "native",
            Source::Zigbee2Mqtt => "zigbee2mqtt",
        }
    }

    pub fn parse(name: &str) -> Option<Source> {
        [Source::Native, Source::Zigbee2Mqtt].into_iter().find(|s| s.as_str() == name)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for kind in DeviceKind::ALL {
            assert_eq!(DeviceKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::Value::String(kind.as_str().into()));
        }
        for source in [Source::Native, Source::Zigbee2Mqtt] {
            assert_eq!(Source::parse(source.as_str()), Some(source));
            assert_eq!(serde_json::to_value(source).unwrap(), serde_json::Value::String(source.as_str().into()));
        }
        assert_eq!(DeviceKind::parse("toaster"), None);
    }
}
