//! What kind of device a registration names, and how its messages reach us.

use chrono::TimeDelta;

crate::names!(
    /// A device kind of the contract's registration.
    DeviceKind {
        Wearable = "wearable",
        FallSensor = "fall_sensor",
        SosButton = "sos_button",
        MotionSensor = "motion_sensor",
        DoorSensor = "door_sensor",
        BedSensor = "bed_sensor",
        SmartPlug = "smart_plug",
        PillBox = "pill_box",
        HazardSensor = "hazard_sensor",
        HealthGateway = "health_gateway",
    }
);

crate::names!(
    /// How a device's messages reach us.
    Source {
        /// The contract's own topics, `eldercare/v1/{device_id}/...`.
        Native = "native",
        /// A Zigbee device, through a Zigbee2MQTT bridge.
        Zigbee2Mqtt = "zigbee2mqtt",
    }
);

/// How long a device of this kind may stay silent before it counts as
/// offline. Worn and gateway devices report every few minutes; SOS buttons
/// and fall sensors check in hourly; battery Zigbee sensors report only on a
/// change of state plus a daily check-in, so a quiet day is normal for them.
pub fn heartbeat_timeout(device_kind: DeviceKind) -> TimeDelta {
    match device_kind {
        DeviceKind::Wearable => TimeDelta::minutes(15),
        DeviceKind::HealthGateway => TimeDelta::minutes(30),
        DeviceKind::SosButton | DeviceKind::FallSensor => TimeDelta::hours(2),
        DeviceKind::MotionSensor
        | DeviceKind::DoorSensor
        | DeviceKind::BedSensor
        | DeviceKind::HazardSensor
        | DeviceKind::PillBox
        | DeviceKind::SmartPlug => TimeDelta::hours(26),
    }
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
