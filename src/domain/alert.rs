//! What an alert is about, how urgent it is, where it stands, how it ended,
//! and the names its changes go by on the timeline, the webhooks and the
//! live stream.

use eldercare_domain::names;

pub use eldercare_domain::AlertKind;

names!(
    /// Ordered from least to most urgent, so `max` is the worse of two.
    #[derive(PartialOrd, Ord)]
    Severity {
        Low = "low",
        Medium = "medium",
        High = "high",
        Critical = "critical",
    }
);

names!(
    /// Where an alert stands.
    Status {
        Open = "open",
        Acknowledged = "acknowledged",
        Resolved = "resolved",
    }
);

names!(
    /// How an alert ended.
    Resolution {
        Handled = "handled",
        FalseAlarm = "false_alarm",
        CancelledByResident = "cancelled_by_resident",
        /// The condition ended by itself.
        AutoCleared = "auto_cleared",
    }
);

names!(
    /// One change to an alert, as its timeline records it.
    Step {
        Opened = "opened",
        /// The condition came back worse while the alert was active.
        SeverityRaised = "severity_raised",
        /// The condition came back while the alert was active.
        Repeated = "repeated",
        Acknowledged = "acknowledged",
        Resolved = "resolved",
        Assigned = "assigned",
        Commented = "commented",
        Escalated = "escalated",
        /// A carer was sent to the door (a visit linked to the alert).
        VisitDispatched = "visit.dispatched",
        /// Someone is at the door.
        VisitCheckedIn = "visit.checked_in",
        VisitCheckedOut = "visit.checked_out",
        /// The carer at the door was given the key safe code.
        VisitKeySafeOpened = "visit.key_safe_opened",
        /// Someone was told (push, SMS, voice): who and how, in the details.
        Notified = "notified",
    }
);

impl Step {
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

names!(
    /// The contract's names of alert changes (`alert.opened`, ...): the `event`
    /// of a webhook delivery and the `change` of a live-stream message.
    Change {
        Opened = "alert.opened",
        Updated = "alert.updated",
        Repeated = "alert.repeated",
        Acknowledged = "alert.acknowledged",
        Resolved = "alert.resolved",
        Assigned = "alert.assigned",
        Commented = "alert.commented",
        Escalated = "alert.escalated",
        Notified = "alert.notified",
    }
);

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use serde_json::Value;

    use super::*;

    fn serde_name(value: impl Serialize) -> Value {
        serde_json::to_value(value).unwrap()
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
