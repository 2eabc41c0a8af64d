//! What the behaviour rules read of a resident's day, as the store loads it.

use chrono::{DateTime, Duration, Utc};
use eldercare_domain::names;

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

/// A carer's visit in the home, as electronic visit verification recorded
/// it: checked in at `from` and out at `until` (`None` while it goes on).
/// Someone who checked in at her door saw her at home, and the entrance
/// door moving while they are there, or as they leave, is theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attended {
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

/// The visits of `visits` checked in within `(since, now]`, as they stood
/// at `now`: a check-out after it not made yet.
pub fn attended_as_of(visits: &[Attended], since: DateTime<Utc>, now: DateTime<Utc>) -> Vec<Attended> {
    visits
        .iter()
        .filter(|v| v.from > since && v.from <= now)
        .map(|v| Attended { from: v.from, until: v.until.filter(|until| *until <= now) })
        .collect()
}

names!(
    /// Where the elder is, as far as the home's sensors tell
    /// (`rules::presence` judges it).
    Presence {
        In = "in",
        Out = "out",
        Unsure = "unsure",
    }
);

/// One stretch of presence: `until` is `None` for the one going on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PresencePeriod {
    pub presence: Presence,
    pub from: DateTime<Utc>,
    #[schema(required = true)]
    pub until: Option<DateTime<Utc>>,
}

impl PresencePeriod {
    /// Whether the period holds at `ts`.
    pub fn covers(&self, ts: DateTime<Utc>) -> bool {
        self.from <= ts && self.until.is_none_or(|until| ts < until)
    }

    /// How long the period overlaps `[start, end)`.
    pub fn overlap(&self, start: DateTime<Utc>, end: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
        let until = self.until.unwrap_or(now).min(end);
        (until - self.from.max(start)).max(Duration::zero())
    }
}
