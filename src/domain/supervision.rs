//! The bureau's instruments, as pure logic: which verified visits a month's
//! follow-up calls sample, and a provider's monthly score from its raw
//! figures. Values in, decisions out; no I/O and no clock.
//!
//! **The sample.** Each visit gets a draw, `HMAC-SHA256(key, "follow-up
//! sample v1" || month || visit id)` with the platform's secret key
//! (`webhooks.secret_key`). A provider's visits are ranked by their draw and
//! the lowest [`sample_size`] taken. Without the key nobody can tell which
//! visits a draw will pick, so a provider cannot arrange to be sampled on
//! its good visits; with it, an auditor recomputes every draw and gets the
//! same sample, as the draws are kept beside it.
//!
//! **The score.** Seven components, each a share from 0 to 1, weighted (see
//! [`WEIGHTS`]); a component with no figures that month (no alert to
//! answer, no follow-up call) is left out and the others weigh in its
//! place. `score = round(100 × Σ weight·value / Σ weight)` over the
//! components present. Every component is shown with its raw numerator and
//! denominator, so the score is recomputed from the API's answer alone.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use secrecy::SecretString;
use serde::Serialize;
use uuid::Uuid;

/// At least this share of a provider's verified visits is called.
pub const SAMPLE_SHARE: f64 = 0.05;
/// And at least this many (all of them when it has fewer).
pub const SAMPLE_AT_LEAST: usize = 2;

/// How many of `visits` verified visits are called.
pub fn sample_size(visits: usize) -> usize {
    let share = (visits as f64 * SAMPLE_SHARE).ceil() as usize;
    share.max(SAMPLE_AT_LEAST).min(visits)
}

/// The draw of one visit of `month` (its first day).
pub fn draw(key: &SecretString, month: NaiveDate, visit: Uuid) -> [u8; 32] {
    let month = month.format("%Y-%m").to_string();
    super::keys::derive(key, b"follow-up sample v1", &[month.as_bytes(), visit.as_bytes()])
}

/// One verified visit that may be sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub visit: Uuid,
    pub institution: Uuid,
    pub resident: Uuid,
}

/// The visits called, with their draws: per institution, the lowest draws.
pub fn sample(key: &SecretString, month: NaiveDate, candidates: &[Candidate]) -> Vec<(Candidate, [u8; 32])> {
    let mut by_institution: BTreeMap<Uuid, Vec<(Candidate, [u8; 32])>> = BTreeMap::new();
    for c in candidates {
        by_institution.entry(c.institution).or_default().push((*c, draw(key, month, c.visit)));
    }
    let mut out = Vec::new();
    for (_, mut visits) in by_institution {
        visits.sort_by_key(|v| v.1);
        let take = sample_size(visits.len());
        out.extend(visits.into_iter().take(take));
    }
    out
}

/// The checklist an inspection uses when the bureau names none: the items
/// of the national service-quality basics for elderly-care institutions.
pub const DEFAULT_CHECKLIST: [(&str, &str); 8] = [
    ("fire_safety", "Fire safety: exits, extinguishers, drills"),
    ("food_hygiene", "Food hygiene: kitchen, storage, samples kept"),
    ("medication", "Medication: storage, administration records"),
    ("staff_certificates", "Staff: vocational levels and valid health certificates"),
    ("care_records", "Care records: plans, visit records, assessments"),
    ("emergency_response", "Emergency calls answered and acted on in time"),
    ("accessibility", "Accessibility: handrails, ramps, call buttons"),
    ("complaints_handling", "Complaints answered within their deadline"),
];

/// How bad an inspection finding is.
pub const SEVERITIES: [&str; 3] = ["minor", "major", "critical"];

/// A provider's raw figures of a month, as the store counts them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RawFigures {
    /// Critical and high alerts a person had to answer.
    pub alerts: i64,
    /// Of those, answered within 60 s.
    pub alerts_within_60s: i64,
    /// Visits that were due (scheduled in the month, not cancelled).
    pub visits_due: i64,
    /// Of those, checked in no later than 15 minutes after their start.
    pub visits_on_time: i64,
    /// Completed visits.
    pub visits_completed: i64,
    /// Of those, with an EVV exception.
    pub visits_with_exceptions: i64,
    /// Elders enrolled with the provider at some time in the month.
    pub elders: i64,
    /// Complaints closed as upheld in the month.
    pub complaints_upheld: i64,
    /// Follow-up calls that reached the elder and asked her satisfaction.
    pub satisfaction_answers: i64,
    /// The sum of those answers (1–5 each).
    pub satisfaction_sum: i64,
    /// Follow-up calls that reached the elder and asked whether the visit happened.
    pub happened_answers: i64,
    /// Of those, the visit happened.
    pub happened_yes: i64,
    /// Inspection findings recorded in the month, by severity.
    pub findings_minor: i64,
    pub findings_major: i64,
    pub findings_critical: i64,
    /// Whether the provider was inspected in the month.
    pub inspected: bool,
}

/// The components and their weights, in the order they are shown.
pub const WEIGHTS: [(&str, f64); 7] = [
    ("alerts_acknowledged_within_60s", 25.0),
    ("visits_on_time", 15.0),
    ("visits_without_evv_exceptions", 15.0),
    ("complaints_upheld_per_100_elders", 15.0),
    ("follow_up_satisfaction", 10.0),
    ("follow_up_visit_happened", 10.0),
    ("inspection_findings", 10.0),
];

/// Upheld complaints per 100 elders at which that component reaches 0.
pub const COMPLAINTS_AT_ZERO: f64 = 5.0;
/// Weighted inspection findings at which that component reaches 0.
pub const FINDINGS_AT_ZERO: f64 = 10.0;
/// How much each severity of finding weighs.
pub const FINDING_WEIGHTS: [(&str, f64); 3] = [("minor", 1.0), ("major", 3.0), ("critical", 10.0)];

/// The formula, as shown beside every score.
pub const FORMULA: &str = "score = round(100 * sum(weight * value) / sum(weight)) over the components with figures \
     this month (a component with none is left out). Values, each from 0 to 1: \
     alerts_acknowledged_within_60s = alerts_within_60s / alerts (weight 25); \
     visits_on_time = visits_on_time / visits_due (15); \
     visits_without_evv_exceptions = 1 - visits_with_exceptions / visits_completed (15); \
     complaints_upheld_per_100_elders: max(0, 1 - (100 * complaints_upheld / elders) / 5) (15; present when elders > 0); \
     follow_up_satisfaction = (satisfaction_sum / satisfaction_answers - 1) / 4 (10); \
     follow_up_visit_happened = happened_yes / happened_answers (10); \
     inspection_findings = max(0, 1 - (minor + 3 * major + 10 * critical) / 10) (10; present when inspected).";

/// One component of a score.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Component {
    pub name: &'static str,
    pub weight: f64,
    /// From 0 to 1; null when the month has no figures for it.
    #[schema(required = true)]
    pub value: Option<f64>,
}

/// A score and how it was reached.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Score {
    /// 0–100; null when no component has figures.
    #[schema(required = true)]
    pub score: Option<i64>,
    pub components: Vec<Component>,
}

fn share(numerator: i64, denominator: i64) -> Option<f64> {
    (denominator > 0).then(|| (numerator as f64 / denominator as f64).clamp(0.0, 1.0))
}

/// The score of one provider's month.
pub fn score(raw: &RawFigures) -> Score {
    let findings = raw.findings_minor as f64
        + FINDING_WEIGHTS[1].1 * raw.findings_major as f64
        + FINDING_WEIGHTS[2].1 * raw.findings_critical as f64;
    let values = [
        share(raw.alerts_within_60s, raw.alerts),
        share(raw.visits_on_time, raw.visits_due),
        share(raw.visits_with_exceptions, raw.visits_completed).map(|s| 1.0 - s),
        (raw.elders > 0).then(|| {
            let per_100 = 100.0 * raw.complaints_upheld as f64 / raw.elders as f64;
            (1.0 - per_100 / COMPLAINTS_AT_ZERO).max(0.0)
        }),
        (raw.satisfaction_answers > 0)
            .then(|| ((raw.satisfaction_sum as f64 / raw.satisfaction_answers as f64 - 1.0) / 4.0).clamp(0.0, 1.0)),
        share(raw.happened_yes, raw.happened_answers),
        raw.inspected.then(|| (1.0 - findings / FINDINGS_AT_ZERO).max(0.0)),
    ];
    let components: Vec<Component> =
        WEIGHTS.iter().zip(values).map(|((name, weight), value)| Component { name, weight: *weight, value }).collect();
    let (weighted, weights) = components
        .iter()
        .filter_map(|c| c.value.map(|v| (c.weight * v, c.weight)))
        .fold((0.0, 0.0), |(s, w), (cs, cw)| (s + cs, w + cw));
    let score = (weights > 0.0).then(|| (100.0 * weighted / weights).round() as i64);
    Score { score, components }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn the_sample_is_five_percent_and_at_least_two() {
        assert_eq!([0, 1, 2, 3, 40, 41, 60, 100].map(sample_size), [0, 1, 2, 2, 2, 3, 3, 5]);
    }

    #[test]
    fn the_same_key_draws_the_same_visits_and_another_key_others() {
        let month = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let candidates: Vec<Candidate> = (0..200u128)
            .map(|i| Candidate {
                visit: Uuid::from_u128(1000 + i),
                institution: if i < 150 { a } else { b },
                resident: Uuid::from_u128(i % 7),
            })
            .collect();
        let picked = |k: &str| {
            let mut visits: Vec<Uuid> = sample(&key(k), month, &candidates).iter().map(|(c, _)| c.visit).collect();
            visits.sort();
            visits
        };
        let first = picked("the platform's key");
        assert_eq!(first, picked("the platform's key"));
        assert_ne!(first, picked("another key"));
        let drawn = sample(&key("the platform's key"), month, &candidates);
        assert_eq!(drawn.iter().filter(|(c, _)| c.institution == a).count(), 8);
        assert_eq!(drawn.iter().filter(|(c, _)| c.institution == b).count(), 3);
        // The draws kept are the visits' own: an auditor recomputes each.
        for (c, d) in &drawn {
            assert_eq!(*d, draw(&key("the platform's key"), month, c.visit));
        }
        // Next month the same visits draw afresh.
        let next = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_ne!(draw(&key("k"), month, a), draw(&key("k"), next, a));
    }

    #[test]
    fn a_perfect_month_scores_100_and_missing_figures_are_left_out() {
        let raw = RawFigures {
            alerts: 10,
            alerts_within_60s: 10,
            visits_due: 20,
            visits_on_time: 20,
            visits_completed: 20,
            elders: 50,
            satisfaction_answers: 2,
            satisfaction_sum: 10,
            happened_answers: 2,
            happened_yes: 2,
            ..RawFigures::default()
        };
        let scored = score(&raw);
        assert_eq!(scored.score, Some(100));
        assert_eq!(scored.components[6].value, None, "not inspected: left out");
        assert_eq!(score(&RawFigures::default()).score, None);
    }

    #[test]
    fn each_component_moves_the_score_by_its_weight() {
        // Half the alerts late and nothing else known: 50.
        let raw = RawFigures { alerts: 4, alerts_within_60s: 2, ..RawFigures::default() };
        assert_eq!(score(&raw).score, Some(50));
        // Plus perfect visits (30 of weight at 1.0) and 2 upheld per 100
        // elders (15 at 0.6): (25*0.5 + 15 + 15 + 15*0.6) / 70 = 0.7357.
        let raw = RawFigures {
            visits_due: 5,
            visits_on_time: 5,
            visits_completed: 5,
            elders: 100,
            complaints_upheld: 2,
            ..raw
        };
        assert_eq!(score(&raw).score, Some(74));
        assert!((score(&raw).components[3].value.unwrap() - 0.6).abs() < 1e-9);
        // A critical finding zeroes the inspection component.
        let inspected = RawFigures { inspected: true, findings_critical: 1, ..RawFigures::default() };
        assert_eq!(score(&inspected).score, Some(0));
        let minor = RawFigures { inspected: true, findings_minor: 2, ..RawFigures::default() };
        assert_eq!(score(&minor).score, Some(80));
    }
}
