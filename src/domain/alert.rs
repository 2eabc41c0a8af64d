//! What an alert is about, how urgent it is, where it stands, how it ended,
//! and the names its changes go by on the timeline, the webhooks and the
//! live stream.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
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
    /// A device or gateway held a name reserved for the backend's own broker
    /// sessions; its credential was revoked at start.
    IdentityRevoked,
    /// A care visit nobody has checked in to 15 minutes after its start.
    VisitLate,
    /// A care visit nobody checked in to within the institution's grace.
    VisitMissed,
    /// The meal courier found no one answering the door.
    MealNoAnswer,
}

impl AlertKind {
    pub const ALL: [AlertKind; 21] = [
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
        AlertKind::IdentityRevoked,
        AlertKind::VisitLate,
        AlertKind::VisitMissed,
        AlertKind::MealNoAnswer,
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
            AlertKind::IdentityRevoked => "identity_revoked",
            AlertKind::VisitLate => "visit_late",
            AlertKind::VisitMissed => "visit_missed",
            AlertKind::MealNoAnswer => "meal_no_answer",
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

/// Ordered from least to most urgent, so `max` is the worse of two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Status {
    Open,
    Acknowledged,
    Resolved,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Open, Status::Acknowledged, Status::Resolved];

    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
        }
    }

    pub fn parse(name: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Resolution {
    Handled,
    FalseAlarm,
    CancelledByResident,
    /// The condition ended by itself.
    AutoCleared,
}

impl Resolution {
    pub fn as_str(&self) -> &'static str {
        match self {
            Resolution::Handled => "handled",
            Resolution::FalseAlarm => "false_alarm",
            Resolution::CancelledByResident => "cancelled_by_resident",
            Resolution::AutoCleared => "auto_cleared",
        }
    }
}

/// One change to an alert, as its timeline records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Step {
    Opened,
    /// The condition came back worse while the alert was active.
    SeverityRaised,
    /// The condition came back while the alert was active.
    Repeated,
    Acknowledged,
    Resolved,
    Assigned,
    Commented,
    Escalated,
    /// A carer was sent to the door (a visit linked to the alert).
    #[serde(rename = "visit.dispatched")]
    #[sqlx(rename = "visit.dispatched")]
    VisitDispatched,
    /// Someone is at the door.
    #[serde(rename = "visit.checked_in")]
    #[sqlx(rename = "visit.checked_in")]
    VisitCheckedIn,
    #[serde(rename = "visit.checked_out")]
    #[sqlx(rename = "visit.checked_out")]
    VisitCheckedOut,
    /// The carer at the door was given the key safe code.
    #[serde(rename = "visit.key_safe_opened")]
    #[sqlx(rename = "visit.key_safe_opened")]
    VisitKeySafeOpened,
    /// Someone was told (push, SMS, voice): who and how, in the details.
    Notified,
}

impl Step {
    pub fn as_str(&self) -> &'static str {
        match self {
            Step::Opened => "opened",
            Step::SeverityRaised => "severity_raised",
            Step::Repeated => "repeated",
            Step::Acknowledged => "acknowledged",
            Step::Resolved => "resolved",
            Step::Assigned => "assigned",
            Step::Commented => "commented",
            Step::Escalated => "escalated",
            Step::VisitDispatched => "visit.dispatched",
            Step::VisitCheckedIn => "visit.checked_in",
            Step::VisitCheckedOut => "visit.checked_out",
            Step::VisitKeySafeOpened => "visit.key_safe_opened",
            Step::Notified => "notified",
        }
    }

    /// The name the change goes by outside: webhooks, the live stream, the
    /// audit trail.
    pub fn change(&self) -> Change {
        match self {
            Step::Opened => Change::Opened,
            Step::SeverityRaised => Change::Updated,
            Step::Repeated => Change::Repeated,
            Step::Acknowledged => Change::Acknowledged,
            Step::Resolved => Change::Resolved,
            Step::Assigned => Change::Assigned,
            Step::Commented => Change::Commented,
            Step::Escalated => Change::Escalated,
            // Webhook receivers and live streams see the alert updated.
            Step::VisitDispatched | Step::VisitCheckedIn | Step::VisitCheckedOut | Step::VisitKeySafeOpened => {
                Change::Updated
            }
            Step::Notified => Change::Notified,
        }
    }
}

/// The contract's names of alert changes (`alert.opened`, ...): the `event`
/// of a webhook delivery and the `change` of a live-stream message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Change {
    #[serde(rename = "alert.opened")]
    Opened,
    #[serde(rename = "alert.updated")]
    Updated,
    #[serde(rename = "alert.repeated")]
    Repeated,
    #[serde(rename = "alert.acknowledged")]
    Acknowledged,
    #[serde(rename = "alert.resolved")]
    Resolved,
    #[serde(rename = "alert.assigned")]
    Assigned,
    #[serde(rename = "alert.commented")]
    Commented,
    #[serde(rename = "alert.escalated")]
    Escalated,
    #[serde(rename = "alert.notified")]
    Notified,
}

impl Change {
    pub fn as_str(&self) -> &'static str {
        match self {
            Change::Opened => "alert.opened",
            Change::Updated => "alert.updated",
            Change::Repeated => "alert.repeated",
            Change::Acknowledged => "alert.acknowledged",
            Change::Resolved => "alert.resolved",
            Change::Assigned => "alert.assigned",
            Change::Commented => "alert.commented",
            Change::Escalated => "alert.escalated",
            Change::Notified => "alert.notified",
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn serde_name(value: impl Serialize) -> Value {
        serde_json::to_value(value).unwrap()
    }

    #[test]
    fn kind_names_round_trip_and_match_serde() {
        for kind in AlertKind::ALL {
            assert_eq!(AlertKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_name(kind), Value::String(kind.as_str().into()));
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
            assert_eq!(serde_name(severity), Value::String(severity.as_str().into()));
        }
        assert!(Severity::Low < Severity::Medium && Severity::High < Severity::Critical);
        assert_eq!(Severity::parse("urgent"), None);
    }

    #[test]
    fn status_resolution_and_change_names_match_serde() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
            assert_eq!(serde_name(status), Value::String(status.as_str().into()));
        }
        for resolution in
            [Resolution::Handled, Resolution::FalseAlarm, Resolution::CancelledByResident, Resolution::AutoCleared]
        {
            assert_eq!(serde_name(resolution), Value::String(resolution.as_str().into()));
        }
        let steps = [
            Step::Opened,
            Step::SeverityRaised,
            Step::Repeated,
            Step::Acknowledged,
            Step::Resolved,
            Step::Assigned,
            Step::Commented,
            Step::Escalated,
            Step::VisitDispatched,
            Step::VisitCheckedIn,
            Step::VisitCheckedOut,
            Step::VisitKeySafeOpened,
            Step::Notified,
        ];
        for step in steps {
            assert_eq!(serde_name(step), Value::String(step.as_str().into()));
            assert_eq!(serde_name(step.change()), Value::String(step.change().as_str().into()));
        }
        assert_eq!(Step::SeverityRaised.change().as_str(), "alert.updated");
        assert_eq!(Step::Acknowledged.change().as_str(), "alert.acknowledged");
    }
}
