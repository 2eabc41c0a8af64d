//! Alert rules as pure functions: facts and a clock in, [`Decision`]s out.
//!
//! Nothing here touches a socket, a database or the system clock, so every
//! rule is tested with a manual clock and the alert store alone decides what a
//! decision does to the alerts table.
//!
//! - [`streaming`]: rules that see each stored event (fall, SOS, hazards),
//!   judged by the event's own time.
//! - [`devices`]: device health, from status messages and from silence.
//! - [`vitals`]: abnormal vital signs, a small state machine per metric with
//!   duration and hysteresis.
//! - [`behaviour`]: scheduled rules about what did *not* happen (meals,
//!   inactivity, night wandering, bed exit), re-derived from stored events on
//!   every run.
//! - [`presence`]: whether the elder is in, out, or unsure, from the
//!   entrance door and the motion indoors.
//! - [`settings`]: the per-resident rule settings and their layering.
//!
//! # How the alert store should read decisions
//!
//! The scheduled rules are level-triggered: as long as an episode is within
//! the look-back, every evaluation returns the same `Raise` again, and an
//! ended episode returns its `Clear` again. Their `at` is derived from the
//! facts (the end of a meal window, the instant a timeout ran out), never from
//! the evaluation's clock, so `(kind, cause, at)` identifies one decision:
//! a `Raise` whose `(kind, cause, at)` matches an alert that already exists,
//! open or resolved, changes nothing (no repeat counted, no reopening after a
//! carer resolved it), and a `Clear` with no open alert for its
//! `(kind, cause)` is a no-op.

pub mod behaviour;
pub mod devices;
pub mod presence;
pub mod routine;
pub mod streaming;
pub mod vitals;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::domain::{AlertKind, Resolution, Severity};

/// What a rule concluded. The alert store turns these into alert changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The condition holds: open an alert, or if one with the same (subject, kind, cause) is open, count a repeat.
    Raise { kind: AlertKind, cause: String, severity: Severity, at: DateTime<Utc>, details: serde_json::Value },
    /// The condition has ended by itself: resolve the open alert with this (kind, cause), if any, with
    /// `resolution` (auto-cleared, or cancelled by the resident).
    Clear { kind: AlertKind, cause: String, at: DateTime<Utc>, resolution: Resolution, details: serde_json::Value },
}

impl Decision {
    pub fn kind(&self) -> AlertKind {
        match self {
            Decision::Raise { kind, .. } | Decision::Clear { kind, .. } => *kind,
        }
    }

    /// The dedup key within a subject and kind: `""` for falls, SOS and
    /// hazards, the metric for vitals, the device id for device health, and an
    /// episode key for episodic behaviour rules.
    pub fn cause(&self) -> &str {
        match self {
            Decision::Raise { cause, .. } | Decision::Clear { cause, .. } => cause,
        }
    }

    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Decision::Raise { at, .. } | Decision::Clear { at, .. } => *at,
        }
    }

    pub fn is_raise(&self) -> bool {
        matches!(self, Decision::Raise { .. })
    }
}

/// The one spelling of an instant in causes and details. Causes are dedup
/// keys, so the same stored timestamp must always print the same way.
pub(crate) fn rfc3339(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_print_in_utc_with_only_the_digits_they_need() {
        let ts: DateTime<Utc> = "2026-11-28T08:00:00+08:00".parse().unwrap();
        assert_eq!(rfc3339(ts), "2026-11-28T00:00:00Z");
        let ts: DateTime<Utc> = "2026-11-28T00:00:00.250Z".parse().unwrap();
        assert_eq!(rfc3339(ts), "2026-11-28T00:00:00.250Z");
    }
}
