//! What kind of device a registration names, and how its messages reach us.

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
