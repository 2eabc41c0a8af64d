//! The alert state machine and the escalation ladder: pure, clock passed in.

use chrono::{DateTime, Duration, Utc};

use crate::domain::Status;

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
}
