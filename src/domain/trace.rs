//! The trace of one piece of work, end to end: the alert, the visit sent
//! for it, the record made at the door, the bill line it was priced into,
//! the claim line that asked a payer for it, and the payer's decision. The
//! vocabulary of its steps, and which audit entries belong to which step:
//! the trail records a visit's dispatch and its check-ins under the same
//! visit, and a claim's submission and every line's decision under the same
//! claim, so the step an entry speaks for is told by its action.

use eldercare_domain::names;
use uuid::Uuid;

names!(
    /// What a trace starts from: any record of the chain can be asked about.
    TraceKind {
        Alert = "alert",
        Visit = "visit",
        BillLine = "bill_line",
        ClaimLine = "claim_line",
    }
);

names!(
    /// One step of a chain, in the order the work went.
    TraceStepKind {
        Alert = "alert",
        Visit = "visit",
        /// The electronic visit verification record: check-in, check-out,
        /// and what was resolved or corrected of them.
        Evv = "evv",
        BillLine = "bill_line",
        ClaimLine = "claim_line",
        /// The payer's accept or reject of one claim line.
        Decision = "decision",
    }
);

impl TraceKind {
    /// The step a trace asked about by this kind is.
    pub fn step(self) -> TraceStepKind {
        match self {
            TraceKind::Alert => TraceStepKind::Alert,
            TraceKind::Visit => TraceStepKind::Visit,
            TraceKind::BillLine => TraceStepKind::BillLine,
            TraceKind::ClaimLine => TraceStepKind::ClaimLine,
        }
    }
}

/// The audit actions on a visit that are the door's record rather than the
/// visit's planning: they belong to its EVV step.
const EVV_ACTIONS: [&str; 4] = ["visit.checked_in", "visit.checked_out", "visit.exception_resolved", "visit.amended"];

/// Where an audit entry belongs in a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Belongs {
    /// To the step of this kind about this record (an alert, a visit, or
    /// the EVV record of a visit).
    Step(TraceStepKind, Uuid),
    /// To every line of this claim: its submission.
    ClaimLines(Uuid),
    /// To the decision on this line of a claim.
    Decision(Uuid),
    /// To the decisions on every line of this claim: its close, the payer's
    /// last word on all of them.
    Decisions(Uuid),
    /// To no step (an action the trace does not show).
    Nowhere,
}

/// Which step an audit entry about `entity` `entity_id` with `action`
/// speaks for; `line_id` is the line a claim's decision names.
pub fn belongs(entity: &str, entity_id: &str, action: &str, line_id: Option<Uuid>) -> Belongs {
    let Ok(id) = Uuid::parse_str(entity_id) else { return Belongs::Nowhere };
    match (entity, action) {
        ("alert", _) => Belongs::Step(TraceStepKind::Alert, id),
        ("visit", action) if EVV_ACTIONS.contains(&action) => Belongs::Step(TraceStepKind::Evv, id),
        ("visit", _) => Belongs::Step(TraceStepKind::Visit, id),
        ("claim", "claim.submitted") => Belongs::ClaimLines(id),
        ("claim", "claim.line_decided") => line_id.map_or(Belongs::Nowhere, Belongs::Decision),
        ("claim", "claim.closed") => Belongs::Decisions(id),
        _ => Belongs::Nowhere,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn door_actions_go_to_the_evv_step_and_the_rest_of_a_visit_to_the_visit() {
        let visit = Uuid::from_u128(7);
        let text = visit.to_string();
        assert_eq!(belongs("visit", &text, "visit.dispatched", None), Belongs::Step(TraceStepKind::Visit, visit));
        assert_eq!(belongs("visit", &text, "visit.assigned", None), Belongs::Step(TraceStepKind::Visit, visit));
        for action in EVV_ACTIONS {
            assert_eq!(belongs("visit", &text, action, None), Belongs::Step(TraceStepKind::Evv, visit), "{action}");
        }
    }

    #[test]
    fn a_claims_entries_go_to_its_lines_its_decisions_or_one_decision() {
        let claim = Uuid::from_u128(1);
        let line = Uuid::from_u128(2);
        let text = claim.to_string();
        assert_eq!(belongs("claim", &text, "claim.submitted", None), Belongs::ClaimLines(claim));
        assert_eq!(belongs("claim", &text, "claim.line_decided", Some(line)), Belongs::Decision(line));
        assert_eq!(belongs("claim", &text, "claim.line_decided", None), Belongs::Nowhere, "an erased entry");
        assert_eq!(belongs("claim", &text, "claim.closed", None), Belongs::Decisions(claim));
        assert_eq!(belongs("alert", &text, "alert.acknowledged", None), Belongs::Step(TraceStepKind::Alert, claim));
        assert_eq!(belongs("resident", &text, "resident.updated", None), Belongs::Nowhere);
        assert_eq!(belongs("alert", "not an id", "alert.acknowledged", None), Belongs::Nowhere);
    }

    #[test]
    fn each_kind_a_trace_starts_from_is_a_step_of_the_same_name() {
        for kind in TraceKind::ALL {
            assert_eq!(kind.step().as_str(), kind.as_str());
        }
    }
}
