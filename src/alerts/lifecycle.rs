//! The alert state machine and the escalation ladder: pure, clock passed in.
//! Also what a rule decision does to the alerts of one subject, as the alert
//! store applies it in SQL and [`AlertBook`] applies it in memory (the rule
//! backtest).

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::domain::{AlertKind, Resolution, Severity, Status};
use crate::rules::Decision;

/// What a person does to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Acknowledge,
    Resolve,
    Assign,
    Comment,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IllegalTransition(pub &'static str);

/// The status after `action`, or why it is not allowed. Comments are allowed
/// on resolved alerts (follow-up notes); nothing else is.
pub fn transition(status: Status, action: Action) -> Result<Status, IllegalTransition> {
    use Action::*;
    use Status::*;
    match (status, action) {
        (Open, Acknowledge) => Ok(Acknowledged),
        (Acknowledged, Acknowledge) => Err(IllegalTransition("the alert is already acknowledged")),
        (Open | Acknowledged, Resolve) => Ok(Resolved),
        (Open | Acknowledged, Assign) => Ok(status),
        (_, Comment) => Ok(status),
        (Resolved, _) => Err(IllegalTransition("the alert is already resolved")),
    }
}

/// The escalation level an alert should be at now: the number of ladder
/// steps whose delay since opening has passed while it stayed unacknowledged.
/// Only ever goes up, and stops once the alert is acknowledged or resolved.
pub fn escalation_level(
    status: Status,
    opened_at: DateTime<Utc>,
    current: u32,
    ladder: &[Duration],
    now: DateTime<Utc>,
) -> u32 {
    if status != Status::Open {
        return current;
    }
    let due = ladder.iter().take_while(|delay| opened_at + **delay <= now).count() as u32;
    due.max(current)
}

/// Behaviour rules raise one alert per episode (their cause names it): once
/// raised, an episode is never raised again, even after a carer resolved it.
pub fn raised_once_per_episode(kind: AlertKind) -> bool {
    kind.is_behaviour()
}

/// Rules that re-derive the same decision while a condition lasts, whose
/// `at` identifies one occurrence (a device silent since a given moment):
/// once raised, that occurrence is not raised again after a person resolved
/// it; the next occurrence is.
pub fn raised_once_per_occurrence(kind: AlertKind) -> bool {
    matches!(kind, AlertKind::DeviceOffline | AlertKind::InstitutionSilent)
}

/// What a decision did to the alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Opened,
    /// The open alert of that kind and cause saw its condition again.
    Repeated,
    SeverityRaised,
    Resolved,
}

/// One alert of an [`AlertBook`].
#[derive(Debug, Clone, PartialEq)]
pub struct BookAlert {
    pub kind: AlertKind,
    pub cause: String,
    pub severity: Severity,
    /// The device whose data raised it.
    pub device_id: Option<String>,
    /// When the condition happened (the decision's `at`).
    pub condition_at: DateTime<Utc>,
    pub opened_at: DateTime<Utc>,
    /// When a rule cleared it; `None` while open, or when a person resolved it.
    pub cleared_at: Option<DateTime<Utc>>,
    pub resolution: Option<Resolution>,
    pub occurrences: u32,
    pub details: Value,
}

impl BookAlert {
    pub fn is_open(&self) -> bool {
        self.resolution.is_none()
    }
}

/// The alerts of one subject kept in memory, changed by rule decisions as
/// the alert store changes its table: one open alert per kind and cause, a
/// repeat counted on it, severity only going up, an episode or occurrence
/// never raised twice, a clear resolving only an open alert.
#[derive(Debug, Clone, Default)]
pub struct AlertBook {
    alerts: Vec<BookAlert>,
    /// Index of the open alert of each (kind, cause).
    open: HashMap<(AlertKind, String), usize>,
}

impl AlertBook {
    pub fn new() -> AlertBook {
        AlertBook::default()
    }

    /// Every alert, in the order they opened.
    pub fn alerts(&self) -> &[BookAlert] {
        &self.alerts
    }

    pub fn into_alerts(self) -> Vec<BookAlert> {
        self.alerts
    }

    /// The open alert of a kind and cause.
    pub fn open(&self, kind: AlertKind, cause: &str) -> Option<&BookAlert> {
        self.open.get(&(kind, cause.to_owned())).map(|&i| &self.alerts[i])
    }

    /// Applies a decision about data from `device_id`, at `now`.
    pub fn apply(&mut self, decision: &Decision, device_id: Option<&str>, now: DateTime<Utc>) -> Option<Outcome> {
        match decision {
            Decision::Raise { kind, cause, severity, at, details } => {
                let once_per_episode = raised_once_per_episode(*kind);
                if (once_per_episode || raised_once_per_occurrence(*kind))
                    && self
                        .alerts
                        .iter()
                        .any(|a| a.kind == *kind && a.cause == *cause && (once_per_episode || a.condition_at == *at))
                {
                    return None;
                }
                let key = (*kind, cause.clone());
                if let Some(&i) = self.open.get(&key) {
                    let alert = &mut self.alerts[i];
                    alert.occurrences = alert.occurrences.saturating_add(1);
                    alert.details = details.clone();
                    if *severity > alert.severity {
                        alert.severity = *severity;
                        return Some(Outcome::SeverityRaised);
                    }
                    return Some(Outcome::Repeated);
                }
                self.open.insert(key, self.alerts.len());
                self.alerts.push(BookAlert {
                    kind: *kind,
                    cause: cause.clone(),
                    severity: *severity,
                    device_id: device_id.map(str::to_owned),
                    condition_at: *at,
                    opened_at: now,
                    cleared_at: None,
                    resolution: None,
                    occurrences: 1,
                    details: details.clone(),
                });
                Some(Outcome::Opened)
            }
            Decision::Clear { kind, cause, resolution, .. } => {
                let i = self.open.remove(&(*kind, cause.clone()))?;
                let alert = &mut self.alerts[i];
                alert.resolution = Some(*resolution);
                alert.cleared_at = Some(now);
                Some(Outcome::Resolved)
            }
        }
    }

    /// A person resolves the open alert of a kind and cause (no rule
    /// clears it): it is closed without a `cleared_at`.
    pub fn resolve_by_person(&mut self, kind: AlertKind, cause: &str) {
        if let Some(i) = self.open.remove(&(kind, cause.to_owned())) {
            self.alerts[i].resolution = Some(Resolution::Handled);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_moves_forward_only() {
        assert_eq!(transition(Status::Open, Action::Acknowledge), Ok(Status::Acknowledged));
        assert!(transition(Status::Acknowledged, Action::Acknowledge).is_err());
        assert_eq!(transition(Status::Open, Action::Resolve), Ok(Status::Resolved));
        assert_eq!(transition(Status::Acknowledged, Action::Resolve), Ok(Status::Resolved));
        assert!(transition(Status::Resolved, Action::Resolve).is_err());
        assert!(transition(Status::Resolved, Action::Acknowledge).is_err());
        assert!(transition(Status::Resolved, Action::Assign).is_err());
        assert_eq!(transition(Status::Resolved, Action::Comment), Ok(Status::Resolved));
        assert_eq!(transition(Status::Acknowledged, Action::Assign), Ok(Status::Acknowledged));
    }

    #[test]
    fn escalation_climbs_the_ladder_until_acknowledged() {
        let t0: DateTime<Utc> = "2026-11-28T03:00:00Z".parse().unwrap();
        let ladder = [Duration::seconds(60), Duration::seconds(180)];
        let at = |s| t0 + Duration::seconds(s);
        assert_eq!(escalation_level(Status::Open, t0, 0, &ladder, at(59)), 0);
        assert_eq!(escalation_level(Status::Open, t0, 0, &ladder, at(60)), 1);
        assert_eq!(escalation_level(Status::Open, t0, 1, &ladder, at(179)), 1);
        assert_eq!(escalation_level(Status::Open, t0, 1, &ladder, at(180)), 2);
        assert_eq!(escalation_level(Status::Open, t0, 2, &ladder, at(10_000)), 2, "the ladder has two steps");
        assert_eq!(escalation_level(Status::Acknowledged, t0, 1, &ladder, at(500)), 1, "acknowledging stops it");
        assert_eq!(escalation_level(Status::Resolved, t0, 0, &ladder, at(500)), 0);
        // A process that was down past both steps catches up at once.
        assert_eq!(escalation_level(Status::Open, t0, 0, &ladder, at(400)), 2);
    }

    fn raise(kind: AlertKind, cause: &str, severity: Severity, at: DateTime<Utc>) -> Decision {
        Decision::Raise { kind, cause: cause.into(), severity, at, details: Value::Null }
    }

    fn clear(kind: AlertKind, cause: &str, at: DateTime<Utc>) -> Decision {
        Decision::Clear { kind, cause: cause.into(), at, resolution: Resolution::AutoCleared, details: Value::Null }
    }

    #[test]
    fn the_book_keeps_one_open_alert_per_cause_and_never_raises_an_episode_twice() {
        let t0: DateTime<Utc> = "2026-11-28T03:00:00Z".parse().unwrap();
        let at = |m| t0 + Duration::minutes(m);
        let mut book = AlertBook::new();
        let hr = |sev, m| raise(AlertKind::VitalAbnormal, "heart_rate", sev, at(m));
        assert_eq!(book.apply(&hr(Severity::High, 0), Some("w"), at(0)), Some(Outcome::Opened));
        assert_eq!(book.apply(&hr(Severity::High, 1), Some("w"), at(1)), Some(Outcome::Repeated));
        assert_eq!(book.apply(&hr(Severity::Critical, 2), Some("w"), at(2)), Some(Outcome::SeverityRaised));
        assert_eq!(book.apply(&hr(Severity::Medium, 3), Some("w"), at(3)), Some(Outcome::Repeated));
        assert_eq!(book.open(AlertKind::VitalAbnormal, "heart_rate").map(|a| a.severity), Some(Severity::Critical));
        let hr_clear = clear(AlertKind::VitalAbnormal, "heart_rate", at(20));
        assert_eq!(book.apply(&hr_clear, None, at(20)), Some(Outcome::Resolved));
        assert_eq!(book.apply(&hr_clear, None, at(21)), None, "nothing open to clear");
        // A new episode of a vital sign is a new alert.
        assert_eq!(book.apply(&hr(Severity::High, 30), Some("w"), at(30)), Some(Outcome::Opened));

        // An episode of a behaviour rule, once raised, is never raised again.
        let quiet = raise(AlertKind::Inactivity, "inactivity:x", Severity::High, at(0));
        assert_eq!(book.apply(&quiet, None, at(0)), Some(Outcome::Opened));
        assert_eq!(book.apply(&quiet, None, at(5)), None);
        book.apply(&clear(AlertKind::Inactivity, "inactivity:x", at(9)), None, at(9));
        assert_eq!(book.apply(&quiet, None, at(10)), None);

        // A person resolves what no rule clears; the next press is a new alert.
        let sos = raise(AlertKind::Sos, "", Severity::Critical, at(0));
        assert_eq!(book.apply(&sos, Some("b"), at(0)), Some(Outcome::Opened));
        book.resolve_by_person(AlertKind::Sos, "");
        assert_eq!(book.apply(&sos, Some("b"), at(90)), Some(Outcome::Opened));

        let alerts = book.alerts();
        assert_eq!(alerts.len(), 5);
        assert_eq!(alerts[0].cleared_at, Some(at(20)));
        assert_eq!(alerts[0].occurrences, 4);
        assert_eq!(alerts[3].resolution, Some(Resolution::Handled));
        assert_eq!(alerts[3].cleared_at, None);
    }
}
