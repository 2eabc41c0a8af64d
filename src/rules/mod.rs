//! Alert rules as pure functions: facts and a clock in, [`Decision`]s out.
//!
//! Nothing here touches a socket, a database or the system clock, so every
//! rule is tested with a manual clock and the alert store alone decides what a
//! decision does to the alerts table.
//!
//! - [`streaming`]: rules that see each stored event or status (fall, SOS,
//!   hazards, device health), judged by the event's own time.
//! - [`vitals`]: abnormal vital signs, a small state machine per metric with
//!   duration and hysteresis.
//! - [`behaviour`]: scheduled rules about what did *not* happen (meals,
//!   inactivity, night wandering, bed exit), re-derived from stored events on
//!   every run.
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
pub mod engine;
pub mod settings;
pub mod streaming;
pub mod vitals;

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Resolution of an alert whose condition ended by itself.
pub const AUTO_CLEARED: &str = "auto_cleared";
/// Resolution of a fall the resident cancelled on the device in time.
pub const CANCELLED_BY_RESIDENT: &str = "cancelled_by_resident";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    Fall,
    Sos,
    Smoke,
    Gas,
    WaterLeak,
    VitalAbnormal,
    MissedMeal,
    Inactivity,
    NoMorningActivity,
    NightWandering,
    BedExitNoReturn,
    DeviceOffline,
    LowBattery,
    /// The platform watching itself: messages wait and none is committed.
    IngestStalled,
    /// A write lane keeps failing on data it should be able to store (a
    /// fault of ours, not of a device).
    IngestFailing,
    /// No scheduler leader has judged the time-driven rules for a while.
    SchedulerStalled,
    /// An institution whose devices were sending data has gone quiet.
    InstitutionSilent,
}

impl AlertKind {
    pub const ALL: [AlertKind; 17] = [
        AlertKind::Fall,
        AlertKind::Sos,
        AlertKind::Smoke,
        AlertKind::Gas,
        AlertKind::WaterLeak,
        AlertKind::VitalAbnormal,
        AlertKind::MissedMeal,
        AlertKind::Inactivity,
        AlertKind::NoMorningActivity,
        AlertKind::NightWandering,
        AlertKind::BedExitNoReturn,
        AlertKind::DeviceOffline,
        AlertKind::LowBattery,
        AlertKind::IngestStalled,
        AlertKind::IngestFailing,
        AlertKind::SchedulerStalled,
        AlertKind::InstitutionSilent,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            AlertKind::Fall => "fall",
            AlertKind::Sos => "sos",
            AlertKind::Smoke => "smoke",
            AlertKind::Gas => "gas",
            AlertKind::WaterLeak => "water_leak",
            AlertKind::VitalAbnormal => "vital_abnormal",
            AlertKind::MissedMeal => "missed_meal",
            AlertKind::Inactivity => "inactivity",
            AlertKind::NoMorningActivity => "no_morning_activity",
            AlertKind::NightWandering => "night_wandering",
            AlertKind::BedExitNoReturn => "bed_exit_no_return",
            AlertKind::DeviceOffline => "device_offline",
            AlertKind::LowBattery => "low_battery",
            AlertKind::IngestStalled => "ingest_stalled",
            AlertKind::IngestFailing => "ingest_failing",
            AlertKind::SchedulerStalled => "scheduler_stalled",
            AlertKind::InstitutionSilent => "institution_silent",
        }
    }

    pub fn parse(name: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The kinds away mode suppresses. SOS, falls and hazards are never
    /// suppressed by away mode: a visitor or an intruder may be the one in
    /// danger, and a fire does not care who is home.
    pub fn is_behaviour(&self) -> bool {
        matches!(
            self,
            AlertKind::MissedMeal
                | AlertKind::Inactivity
                | AlertKind::NoMorningActivity
                | AlertKind::NightWandering
                | AlertKind::BedExitNoReturn
        )
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(name: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a rule concluded. The alert store turns these into alert changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The condition holds: open an alert, or if one with the same (subject, kind, cause) is open, count a repeat.
    Raise { kind: AlertKind, cause: String, severity: Severity, at: DateTime<Utc>, details: serde_json::Value },
    /// The condition has ended by itself: resolve the open alert with this (kind, cause), if any, with
    /// `resolution` ([`AUTO_CLEARED`] or [`CANCELLED_BY_RESIDENT`]).
    Clear { kind: AlertKind, cause: String, at: DateTime<Utc>, resolution: &'static str, details: serde_json::Value },
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
    fn kind_names_round_trip_and_match_serde() {
        for kind in AlertKind::ALL {
            assert_eq!(AlertKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::Value::String(kind.as_str().into()));
        }
        assert_eq!(AlertKind::parse("Fall"), None);
        let behaviour: Vec<_> = AlertKind::ALL.into_iter().filter(AlertKind::is_behaviour).collect();
        assert_eq!(
            behaviour,
            [
                AlertKind::MissedMeal,
                AlertKind::Inactivity,
                AlertKind::NoMorningActivity,
                AlertKind::NightWandering,
                AlertKind::BedExitNoReturn
            ]
        );
    }

    #[test]
    fn severity_names_round_trip_and_order() {
        for severity in Severity::ALL {
            assert_eq!(Severity::parse(severity.as_str()), Some(severity));
            assert_eq!(serde_json::to_value(severity).unwrap(), serde_json::Value::String(severity.as_str().into()));
        }
        assert!(Severity::Low < Severity::Medium && Severity::High < Severity::Critical);
        assert_eq!(Severity::parse("urgent"), None);
    }

    #[test]
    fn instants_print_in_utc_with_only_the_digits_they_need() {
        let ts: DateTime<Utc> = "2026-11-28T08:00:00+08:00".parse().unwrap();
        assert_eq!(rfc3339(ts), "2026-11-28T00:00:00Z");
        let ts: DateTime<Utc> = "2026-11-28T00:00:00.250Z".parse().unwrap();
        assert_eq!(rfc3339(ts), "2026-11-28T00:00:00.250Z");
    }
}
