//! What the behaviour rules read of a resident's day, as the store loads it.

use chrono::{DateTime, Utc};

use crate::domain::EventKind;

/// One stored event, with what the rules look at: where it happened, and
/// which door or appliance it was about.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityEvent {
    pub ts: DateTime<Utc>,
    pub kind: EventKind,
    pub room: Option<String>,
    /// `data.door`: `entrance`, `fridge`, ...
    pub door: Option<String>,
    /// `data.appliance`: `kettle`, `stove`, `microwave`.
    pub appliance: Option<String>,
}

/// Everyday signs of the resident up and about: the home's sensors, meals
/// and pills.
pub const ROUTINE_EVENTS: &[EventKind] = &[
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
];
