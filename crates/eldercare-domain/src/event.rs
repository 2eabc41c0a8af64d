//! What devices say happened: the contract's event catalog, and whatever
//! else a vendor's device calls an event, which is stored all the same.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An event's kind. The contract's events are variants, matched
/// exhaustively wherever events are judged; any other name is kept as
/// [`EventKind::Other`], so no vendor event is lost.
///
/// Built from a name with [`EventKind::from`], which never yields `Other`
/// for a name of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventKind {
    FallDetected,
    FallCancelled,
    SosPressed,
    Motion,
    DoorOpened,
    DoorClosed,
    BedExit,
    BedEnter,
    ApplianceOn,
    ApplianceOff,
    MealServed,
    MealEaten,
    MedicationTaken,
    WaterLeak,
    SmokeDetected,
    GasDetected,
    Other(Unknown),
}

/// The name of an event outside the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Unknown(String);

impl Unknown {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl EventKind {
    /// The contract's event catalog.
    pub const KNOWN: [EventKind; 16] = [
        EventKind::FallDetected,
        EventKind::FallCancelled,
        EventKind::SosPressed,
        EventKind::Motion,
        EventKind::DoorOpened,
        EventKind::DoorClosed,
        EventKind::BedExit,
        EventKind::BedEnter,
        EventKind::ApplianceOn,
        EventKind::ApplianceOff,
        EventKind::MealServed,
        EventKind::MealEaten,
        EventKind::MedicationTaken,
        EventKind::WaterLeak,
        EventKind::SmokeDetected,
        EventKind::GasDetected,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            EventKind::FallDetected => "fall_detected",
            EventKind::FallCancelled => "fall_cancelled",
            EventKind::SosPressed => "sos_pressed",
            EventKind::Motion => "motion",
            EventKind::DoorOpened => "door_opened",
            EventKind::DoorClosed => "door_closed",
            EventKind::BedExit => "bed_exit",
            EventKind::BedEnter => "bed_enter",
            EventKind::ApplianceOn => "appliance_on",
            EventKind::ApplianceOff => "appliance_off",
            EventKind::MealServed => "meal_served",
            EventKind::MealEaten => "meal_eaten",
            EventKind::MedicationTaken => "medication_taken",
            EventKind::WaterLeak => "water_leak",
            EventKind::SmokeDetected => "smoke_detected",
            EventKind::GasDetected => "gas_detected",
            EventKind::Other(name) => name.as_str(),
        }
    }

    fn known(name: &str) -> Option<EventKind> {
        EventKind::KNOWN.into_iter().find(|k| k.as_str() == name)
    }
}

impl From<String> for EventKind {
    fn from(name: String) -> Self {
        EventKind::known(&name).unwrap_or(EventKind::Other(Unknown(name)))
    }
}

impl From<&str> for EventKind {
    fn from(name: &str) -> Self {
        EventKind::known(name).unwrap_or_else(|| EventKind::Other(Unknown(name.to_owned())))
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(EventKind::from)
    }
}

/// Stored as the `text` it is named by.
#[cfg(feature = "sqlx")]
mod text {
    use sqlx::Postgres;
    use sqlx::encode::IsNull;
    use sqlx::error::BoxDynError;
    use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef};

    use super::EventKind;

    impl sqlx::Type<Postgres> for EventKind {
        fn type_info() -> PgTypeInfo {
            <&str as sqlx::Type<Postgres>>::type_info()
        }

        fn compatible(ty: &PgTypeInfo) -> bool {
            <&str as sqlx::Type<Postgres>>::compatible(ty)
        }
    }

    impl PgHasArrayType for EventKind {
        fn array_type_info() -> PgTypeInfo {
            <&str as PgHasArrayType>::array_type_info()
        }
    }

    impl sqlx::Encode<'_, Postgres> for EventKind {
        fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
            <&str as sqlx::Encode<Postgres>>::encode(self.as_str(), buf)
        }
    }

    impl<'r> sqlx::Decode<'r, Postgres> for EventKind {
        fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
            Ok(EventKind::from(<&str as sqlx::Decode<Postgres>>::decode(value)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_catalog() {
        assert_eq!(EventKind::KNOWN.len(), 16);
        assert_eq!(EventKind::from("fall_detected"), EventKind::FallDetected);
        assert_eq!(EventKind::from("gas_detected"), EventKind::GasDetected);
        assert!(matches!(EventKind::from("teleported"), EventKind::Other(_)));
    }

    #[test]
    fn names_round_trip_and_unknown_ones_are_kept() {
        for kind in EventKind::KNOWN {
            assert_eq!(EventKind::from(kind.as_str().to_owned()), kind);
            assert_eq!(serde_json::to_value(&kind).unwrap(), serde_json::Value::String(kind.as_str().into()));
        }
        let vendor = EventKind::from("vendor.button_long_press");
        assert_eq!(vendor.as_str(), "vendor.button_long_press");
        let back: EventKind = serde_json::from_str("\"vendor.button_long_press\"").unwrap();
        assert_eq!(back, vendor);
        assert_eq!(EventKind::from("Motion").as_str(), "Motion", "names are case-sensitive");
    }
}
