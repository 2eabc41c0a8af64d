//! What the generator produces: one MQTT publish, with when and why.

use std::fmt;

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qos {
    AtMostOnce,
    AtLeastOnce,
}

impl Qos {
    pub fn level(self) -> u8 {
        match self {
            Qos::AtMostOnce => 0,
            Qos::AtLeastOnce => 1,
        }
    }
}

/// The contract's event catalog (the part the simulator emits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventName {
    FallDetected,
    FallCancelled,
    SosPressed,
    BedExit,
    BedEnter,
    MealServed,
    MealEaten,
    MedicationTaken,
}

impl EventName {
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::FallDetected => "fall_detected",
            EventName::FallCancelled => "fall_cancelled",
            EventName::SosPressed => "sos_pressed",
            EventName::BedExit => "bed_exit",
            EventName::BedEnter => "bed_enter",
            EventName::MealServed => "meal_served",
            EventName::MealEaten => "meal_eaten",
            EventName::MedicationTaken => "medication_taken",
        }
    }
}

/// What changed in a Zigbee2MQTT state message (for reporting and tests;
/// the payload itself always carries the device's whole state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ZigbeeChange {
    Occupied,
    Vacant,
    DoorOpened,
    DoorClosed,
    PowerOn,
    PowerOff,
    WaterLeak,
    Smoke,
    HazardCleared,
    /// Periodic check-in repeating the unchanged state.
    Report,
}

impl ZigbeeChange {
    pub fn as_str(self) -> &'static str {
        match self {
            ZigbeeChange::Occupied => "occupancy",
            ZigbeeChange::Vacant => "vacancy",
            ZigbeeChange::DoorOpened => "door_open",
            ZigbeeChange::DoorClosed => "door_close",
            ZigbeeChange::PowerOn => "power_on",
            ZigbeeChange::PowerOff => "power_off",
            ZigbeeChange::WaterLeak => "water_leak",
            ZigbeeChange::Smoke => "smoke",
            ZigbeeChange::HazardCleared => "hazard_clear",
            ZigbeeChange::Report => "report",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageKind {
    Telemetry,
    Event(EventName),
    /// A heartbeat (or an explicit offline/online notice) on `status`.
    Status,
    /// The payload of a native device's Last Will, `{"online":false}`.
    LastWill,
    Fhir,
    Zigbee(ZigbeeChange),
    /// `zigbee2mqtt/{name}/availability`.
    Availability,
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageKind::Telemetry => f.write_str("telemetry"),
            MessageKind::Event(e) => write!(f, "event:{}", e.as_str()),
            MessageKind::Status => f.write_str("status"),
            MessageKind::LastWill => f.write_str("last_will"),
            MessageKind::Fhir => f.write_str("fhir"),
            MessageKind::Zigbee(z) => write!(f, "z2m:{}", z.as_str()),
            MessageKind::Availability => f.write_str("z2m:availability"),
        }
    }
}

/// One publish, exactly as a device or gateway would send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Simulated time of the publish (the payload's `ts` where it has one).
    pub at: DateTime<Utc>,
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: Qos,
    pub retain: bool,
    /// Key of the resident whose household sent it; selects the MQTT connection.
    pub resident: String,
    pub device_id: String,
    pub kind: MessageKind,
}
