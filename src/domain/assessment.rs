//! Capability assessments: what an assessor records of an elder's abilities
//! on one of two scales, the Barthel index or the national standard GB/T
//! 42195-2022 (老年人能力评估规范), and the grade it comes to. [`score`]
//! checks every item against its scale before adding anything up, so a
//! grade is never given for a form with a missing or misread answer; the
//! caller answers the [`Invalid`] item to the assessor instead.

use std::collections::BTreeMap;

use eldercare_domain::names;
use serde_json::{Map, Value};

names!(
    /// The scale of an assessment.
    Scale {
        /// The Barthel index of activities of daily living: ten items,
        /// 0–100, higher is more independent.
        Barthel = "barthel",
        /// GB/T 42195-2022: 26 items in four domains, 0–90, higher is more
        /// capable, with rules that raise the grade beyond the total's.
        Gbt42195 = "gbt42195_2022",
    }
);

/// Facts beside the items that the GB/T standard's grade-change rules use.
/// They are diagnoses and incidents, not answers on the form, so they come
/// separately; the Barthel index has no such rules and ignores them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Factors {
    /// In a coma: the grade is total loss of capability, whatever the
    /// items say.
    pub coma: bool,
    /// Diagnosed dementia (ICD-10 F00–F03).
    pub dementia: bool,
    /// Another mental or behavioural disorder (ICD-10 F04–F99), diagnosed
    /// by a psychiatrist.
    pub psychiatric: bool,
    /// Confirmed care-risk events (falls, wandering or getting lost,
    /// choking, self-harm) in the 30 days before the assessment.
    pub risk_events: u32,
}

/// A scored assessment: the total, the grade it comes to and why the grade
/// is worse than the total alone would make it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Scored {
    pub total: i32,
    /// 0 is the most capable; the largest is the scale's worst grade (3
    /// for Barthel, 4 for GB/T).
    pub grade: i32,
    /// The grade's name: `independent`, `mild`, `moderate`, `severe` for
    /// Barthel; `intact`, `mild`, `moderate`, `severe`, `total_loss` for
    /// GB/T.
    pub grade_label: &'static str,
    /// The grade's name as the scale gives it in Chinese.
    pub grade_label_zh: &'static str,
    /// Per-domain subtotals (GB/T only; empty for Barthel): `self_care`,
    /// `mobility`, `mental`, `perception_social`.
    pub domains: BTreeMap<&'static str, i32>,
    /// Why the grade is above the total's own grade, in the order the rules
    /// are applied: `coma`, `dementia`, `psychiatric`, `risk_events`. Empty
    /// exactly when the grade is the total's own: a rule that applies to
    /// an elder already at the worst grade raises nothing and is not listed.
    pub raised_by: Vec<&'static str>,
}

/// Why an assessment's items cannot be scored: the item (`items.<name>`)
/// and what is wrong with it, for a 422 the assessor's form can show
/// beside the item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

/// The Barthel items and their allowed scores. Each item's scores step by
/// 5 and its largest is the weight the index gives it; they add up to 100.
const BARTHEL: &[(&str, &[i32])] = &[
    ("feeding", &[0, 5, 10]),
    ("bathing", &[0, 5]),
    ("grooming", &[0, 5]),
    ("dressing", &[0, 5, 10]),
    ("bowels", &[0, 5, 10]),
    ("bladder", &[0, 5, 10]),
    ("toilet", &[0, 5, 10]),
    ("transfers", &[0, 5, 10, 15]),
    ("mobility", &[0, 5, 10, 15]),
    ("stairs", &[0, 5, 10]),
];

const UP_TO_1: &[i32] = &[0, 1];
const UP_TO_2: &[i32] = &[0, 1, 2];
const UP_TO_4: &[i32] = &[0, 1, 2, 3, 4];

/// The GB/T 42195-2022 items and their allowed scores, domain by domain in
/// the order of [`GBT_DOMAINS`]. The items, their scores, the domains, the
/// grade bands ([`GBT_GRADES`]) and the grade-change rules ([`raise`])
/// follow the standard's Appendix B as this module encodes them: a change
/// to the standard is a change here, and the tests pin the totals.
const GBT: &[(&str, &[i32])] = &[
    // self_care (自理能力), 32
    ("eating", UP_TO_4),
    ("grooming", UP_TO_4),
    ("bathing", UP_TO_4),
    ("dressing_upper", UP_TO_4),
    ("dressing_lower", UP_TO_4),
    ("bladder", UP_TO_4),
    ("bowel", UP_TO_4),
    ("toileting", UP_TO_4),
    // mobility (基础运动能力), 16
    ("bed_mobility", UP_TO_4),
    ("bed_chair_transfer", UP_TO_4),
    ("walking", UP_TO_4),
    ("stairs", UP_TO_4),
    // mental (精神状态), 28
    ("time_orientation", UP_TO_4),
    ("place_orientation", UP_TO_4),
    ("person_orientation", UP_TO_4),
    ("memory", UP_TO_4),
    ("comprehension", UP_TO_4),
    ("expression", UP_TO_4),
    ("aggression", UP_TO_1),
    ("depression", UP_TO_1),
    ("consciousness", UP_TO_2),
    // perception_social (感知觉与社会参与), 14
    ("vision", UP_TO_2),
    ("hearing", UP_TO_2),
    ("daily_affairs", UP_TO_4),
    ("transport", UP_TO_2),
    ("social", UP_TO_4),
];

/// The GB/T domains and how many of [`GBT`]'s items, taken in order, each
/// one holds.
const GBT_DOMAINS: &[(&str, usize)] = &[("self_care", 8), ("mobility", 4), ("mental", 9), ("perception_social", 5)];

/// The consciousness item's score for a coma: the form records the coma
/// itself, so it grades as [`Factors::coma`] does.
const CONSCIOUSNESS: &str = "consciousness";
const COMATOSE: i32 = 0;

/// A scale's grades, best first, each with the lowest total that reaches it.
type Grades = [(i32, &'static str, &'static str)];

const BARTHEL_GRADES: &Grades =
    &[(100, "independent", "自理"), (61, "mild", "轻度依赖"), (41, "moderate", "中度依赖"), (0, "severe", "重度依赖")];

const GBT_GRADES: &Grades = &[
    (90, "intact", "能力完好"),
    (66, "mild", "轻度失能"),
    (46, "moderate", "中度失能"),
    (30, "severe", "重度失能"),
    (0, "total_loss", "能力完全丧失"),
];

/// GB/T's worst grade, total loss of capability: where a coma puts an
/// elder and beyond which nothing raises.
const TOTAL_LOSS: i32 = 4;

/// The item names of a scale and their allowed scores, in the scale's
/// order: for the assessor's form and the API's documentation.
pub fn items(scale: Scale) -> &'static [(&'static str, &'static [i32])] {
    match scale {
        Scale::Barthel => BARTHEL,
        Scale::Gbt42195 => GBT,
    }
}

/// Scores an assessment: checks the items (every item of the scale, each a
/// JSON integer among its allowed scores, no others), adds them up and
/// grades the total. For GB/T, also the per-domain subtotals and the
/// standard's grade-change rules (see [`raise`]); for Barthel the factors
/// are ignored.
///
/// The first problem is reported, in the scale's item order, and an
/// unknown item only once every known one is right, so an assessor fixing
/// the form one answer at a time goes down it from the top.
pub fn score(scale: Scale, items: &Map<String, Value>, factors: &Factors) -> Result<Scored, Invalid> {
    let values = read(scale, items)?;
    let total: i32 = values.iter().sum();
    match scale {
        Scale::Barthel => {
            let grade = grade_of(BARTHEL_GRADES, total);
            Ok(scored(BARTHEL_GRADES, total, grade, BTreeMap::new(), Vec::new()))
        }
        Scale::Gbt42195 => {
            let mut domains = BTreeMap::new();
            let mut rest = &values[..];
            for &(domain, count) in GBT_DOMAINS {
                let (these, after) = rest.split_at(count);
                domains.insert(domain, these.iter().sum());
                rest = after;
            }
            let consciousness = GBT.iter().position(|(name, _)| *name == CONSCIOUSNESS).map(|i| values[i]);
            let comatose = factors.coma || consciousness == Some(COMATOSE);
            let (grade, raised_by) = raise(grade_of(GBT_GRADES, total), comatose, factors);
            Ok(scored(GBT_GRADES, total, grade, domains, raised_by))
        }
    }
}

/// Each item's score in the scale's order, or the first problem.
fn read(scale: Scale, given: &Map<String, Value>) -> Result<Vec<i32>, Invalid> {
    let table = items(scale);
    let values = table
        .iter()
        .map(|&(name, allowed)| {
            let invalid = |message: String| Invalid { field: format!("items.{name}"), message };
            let value = given.get(name).ok_or_else(|| invalid(format!("required: one of {}", listed(allowed))))?;
            // `as_i64` is `None` for a fraction, `5.0` included: the form
            // sends whole scores, and anything else is a misread answer.
            value
                .as_i64()
                .and_then(|v| i32::try_from(v).ok())
                .filter(|v| allowed.contains(v))
                .ok_or_else(|| invalid(format!("must be one of {}", listed(allowed))))
        })
        .collect::<Result<Vec<i32>, Invalid>>()?;
    if let Some(unknown) = given.keys().find(|key| !table.iter().any(|(name, _)| name == key)) {
        return Err(Invalid {
            field: format!("items.{unknown}"),
            message: format!("not an item of the {scale} scale"),
        });
    }
    Ok(values)
}

/// `0, 5, 10`.
fn listed(allowed: &[i32]) -> String {
    allowed.iter().map(i32::to_string).collect::<Vec<_>>().join(", ")
}

/// The grade a total comes to on its own: the first band it reaches.
fn grade_of(grades: &Grades, total: i32) -> i32 {
    let band = grades.iter().position(|&(lowest, ..)| total >= lowest).unwrap_or(grades.len() - 1);
    band as i32
}

/// GB/T's grade-change rules, as this module encodes the standard's
/// Appendix B: a coma is total loss of capability outright, and the other
/// rules are then moot. Otherwise dementia, another psychiatric disorder
/// and two or more care-risk events in the 30 days before each call for
/// one grade up, but together they still raise one grade only (every one
/// that applied is listed), and nothing raises beyond total loss.
fn raise(base: i32, comatose: bool, factors: &Factors) -> (i32, Vec<&'static str>) {
    if comatose {
        return if base == TOTAL_LOSS { (base, Vec::new()) } else { (TOTAL_LOSS, vec!["coma"]) };
    }
    let reasons: Vec<&'static str> = [
        (factors.dementia, "dementia"),
        (factors.psychiatric, "psychiatric"),
        (factors.risk_events >= 2, "risk_events"),
    ]
    .into_iter()
    .filter_map(|(applies, reason)| applies.then_some(reason))
    .collect();
    if reasons.is_empty() || base == TOTAL_LOSS { (base, Vec::new()) } else { (base + 1, reasons) }
}

fn scored(
    grades: &Grades,
    total: i32,
    grade: i32,
    domains: BTreeMap<&'static str, i32>,
    raised_by: Vec<&'static str>,
) -> Scored {
    let (_, grade_label, grade_label_zh) = grades[grade as usize];
    Scored { total, grade, grade_label, grade_label_zh, domains, raised_by }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A form with these scores, in the scale's item order.
    fn form(scale: Scale, scores: &[i32]) -> Map<String, Value> {
        assert_eq!(scores.len(), items(scale).len());
        items(scale).iter().zip(scores).map(|(&(name, _), &score)| (name.to_string(), json!(score))).collect()
    }

    /// Every item at its best.
    fn best(scale: Scale) -> Map<String, Value> {
        let scores: Vec<i32> = items(scale).iter().map(|(_, allowed)| *allowed.last().unwrap()).collect();
        form(scale, &scores)
    }

    /// A form that adds up to `total`, taken off the items from the top and
    /// never off consciousness, so that no coma is recorded by accident.
    fn totalling(scale: Scale, total: i32) -> Map<String, Value> {
        let best: i32 = items(scale).iter().map(|(_, allowed)| allowed.last().unwrap()).sum();
        let mut short = best - total;
        let scores: Vec<i32> = items(scale)
            .iter()
            .map(|&(name, allowed)| {
                let top = *allowed.last().unwrap();
                let off = if name == CONSCIOUSNESS && scale == Scale::Gbt42195 { 0 } else { short.min(top) };
                short -= off;
                top - off
            })
            .collect();
        assert_eq!(short, 0, "{total} cannot be reached");
        form(scale, &scores)
    }

    fn barthel(total: i32) -> Scored {
        score(Scale::Barthel, &totalling(Scale::Barthel, total), &Factors::default()).unwrap()
    }

    fn gbt(total: i32, factors: Factors) -> Scored {
        score(Scale::Gbt42195, &totalling(Scale::Gbt42195, total), &factors).unwrap()
    }

    fn invalid(field: &str, message: &str) -> Result<Scored, Invalid> {
        Err(Invalid { field: field.into(), message: message.into() })
    }

    #[test]
    fn the_scales_add_up_to_their_maxima() {
        let sum = |scale| items(scale).iter().map(|(_, allowed)| allowed.last().unwrap()).sum::<i32>();
        assert_eq!(sum(Scale::Barthel), 100);
        assert_eq!(sum(Scale::Gbt42195), 90);
        assert_eq!(GBT_DOMAINS.iter().map(|(_, count)| count).sum::<usize>(), GBT.len());
        assert_eq!(GBT.len(), 26);
    }

    #[test]
    fn barthel_35_is_severe_dependence() {
        let scored = barthel(35);
        assert_eq!(
            (scored.total, scored.grade, scored.grade_label, scored.grade_label_zh),
            (35, 3, "severe", "重度依赖")
        );
        assert!(scored.domains.is_empty());
        assert!(scored.raised_by.is_empty());
    }

    #[test]
    fn barthel_at_its_best_is_100_and_independent() {
        let scored = score(Scale::Barthel, &best(Scale::Barthel), &Factors::default()).unwrap();
        assert_eq!((scored.total, scored.grade, scored.grade_label), (100, 0, "independent"));
    }

    #[test]
    fn barthel_grades_change_at_61_and_41() {
        // The items step by 5, so a form reaches only 60 and 65 either side
        // of 61; the bands themselves are checked on the totals.
        assert_eq!([99, 61, 60, 41, 40, 0].map(|t| grade_of(BARTHEL_GRADES, t)), [1, 1, 2, 2, 3, 3]);
        assert_eq!([95, 65, 60, 45, 40, 0].map(|t| barthel(t).grade), [1, 1, 2, 2, 3, 3]);
        assert_eq!([65, 60, 45, 40].map(|t| barthel(t).grade_label), ["mild", "moderate", "moderate", "severe"]);
    }

    #[test]
    fn barthel_ignores_the_gbt_factors() {
        let factors = Factors { coma: true, dementia: true, psychiatric: true, risk_events: 5 };
        let scored = score(Scale::Barthel, &best(Scale::Barthel), &factors).unwrap();
        assert_eq!((scored.grade, scored.raised_by.len()), (0, 0));
    }

    #[test]
    fn a_score_the_item_does_not_have_names_the_item() {
        let mut items = best(Scale::Barthel);
        items.insert("feeding".into(), json!(7));
        assert_eq!(
            score(Scale::Barthel, &items, &Factors::default()),
            invalid("items.feeding", "must be one of 0, 5, 10")
        );
        for wrong in [json!(5.0), json!("5"), json!(null), json!(-5), json!(1u64 << 40)] {
            items.insert("feeding".into(), wrong.clone());
            assert_eq!(
                score(Scale::Barthel, &items, &Factors::default()).unwrap_err().field,
                "items.feeding",
                "{wrong}"
            );
        }
    }

    #[test]
    fn a_missing_item_is_required_with_its_scores() {
        let mut items = best(Scale::Barthel);
        items.remove("transfers");
        let expected = invalid("items.transfers", "required: one of 0, 5, 10, 15");
        assert_eq!(score(Scale::Barthel, &items, &Factors::default()), expected);
        let mut items = best(Scale::Gbt42195);
        items.remove("aggression");
        let expected = invalid("items.aggression", "required: one of 0, 1");
        assert_eq!(score(Scale::Gbt42195, &items, &Factors::default()), expected);
    }

    #[test]
    fn an_unknown_item_is_refused_once_the_known_ones_are_right() {
        let mut items = best(Scale::Barthel);
        items.insert("eating".into(), json!(4));
        let unknown = invalid("items.eating", "not an item of the barthel scale");
        assert_eq!(score(Scale::Barthel, &items, &Factors::default()), unknown);
        items.remove("stairs");
        assert_eq!(score(Scale::Barthel, &items, &Factors::default()).unwrap_err().field, "items.stairs");
    }

    #[test]
    fn the_first_problem_in_the_scales_order_is_reported() {
        let mut items = best(Scale::Gbt42195);
        items.remove("social");
        items.insert("walking".into(), json!(5));
        items.insert("eating".into(), json!(-1));
        assert_eq!(
            score(Scale::Gbt42195, &items, &Factors::default()),
            invalid("items.eating", "must be one of 0, 1, 2, 3, 4")
        );
    }

    #[test]
    fn gbt_at_its_best_is_90_and_intact() {
        let scored = score(Scale::Gbt42195, &best(Scale::Gbt42195), &Factors::default()).unwrap();
        assert_eq!(
            (scored.total, scored.grade, scored.grade_label, scored.grade_label_zh),
            (90, 0, "intact", "能力完好")
        );
        let domains: Vec<(&str, i32)> = scored.domains.into_iter().collect();
        assert_eq!(domains, [("mental", 28), ("mobility", 16), ("perception_social", 14), ("self_care", 32)]);
        assert!(scored.raised_by.is_empty());
    }

    #[test]
    fn gbt_grades_change_at_89_66_65_46_45_30_29() {
        let graded = [90, 89, 66, 65, 46, 45, 30, 29, 2].map(|t| gbt(t, Factors::default()));
        assert_eq!(graded.each_ref().map(|s| s.grade), [0, 1, 1, 2, 2, 3, 3, 4, 4]);
        let labels = graded.each_ref().map(|s| s.grade_label);
        assert_eq!(
            labels,
            ["intact", "mild", "mild", "moderate", "moderate", "severe", "severe", "total_loss", "total_loss"]
        );
        assert_eq!(gbt(29, Factors::default()).grade_label_zh, "能力完全丧失");
        assert_eq!(grade_of(GBT_GRADES, 0), 4);
    }

    #[test]
    fn two_risk_events_raise_one_grade_and_one_does_not() {
        let one = gbt(70, Factors { risk_events: 1, ..Factors::default() });
        assert_eq!((one.grade, one.raised_by.len()), (1, 0));
        let two = gbt(70, Factors { risk_events: 2, ..Factors::default() });
        assert_eq!((two.grade, two.grade_label, two.raised_by), (2, "moderate", vec!["risk_events"]));
    }

    #[test]
    fn dementia_and_two_risk_events_still_raise_only_one_grade() {
        let scored = gbt(50, Factors { dementia: true, risk_events: 3, ..Factors::default() });
        assert_eq!((scored.grade, scored.raised_by), (3, vec!["dementia", "risk_events"]));
        let every = gbt(89, Factors { dementia: true, psychiatric: true, risk_events: 2, coma: false });
        assert_eq!((every.grade, every.raised_by), (2, vec!["dementia", "psychiatric", "risk_events"]));
    }

    #[test]
    fn nothing_raises_beyond_total_loss() {
        let scored = gbt(20, Factors { dementia: true, psychiatric: true, risk_events: 4, coma: false });
        assert_eq!((scored.grade, scored.grade_label, scored.raised_by.len()), (4, "total_loss", 0));
        let coma = gbt(20, Factors { coma: true, ..Factors::default() });
        assert_eq!((coma.grade, coma.raised_by.len()), (4, 0));
    }

    #[test]
    fn a_coma_is_total_loss_whatever_else_applies() {
        let scored = gbt(89, Factors { coma: true, dementia: true, risk_events: 2, ..Factors::default() });
        assert_eq!(
            (scored.total, scored.grade, scored.grade_label, scored.raised_by),
            (89, 4, "total_loss", vec!["coma"])
        );
    }

    #[test]
    fn consciousness_scored_as_a_coma_is_a_coma() {
        let mut items = best(Scale::Gbt42195);
        items.insert(CONSCIOUSNESS.into(), json!(0));
        let scored = score(Scale::Gbt42195, &items, &Factors::default()).unwrap();
        assert_eq!((scored.total, scored.grade, scored.raised_by), (88, 4, vec!["coma"]));
        assert_eq!(scored.domains["mental"], 26);
    }

    /// A valid form of the scale: each item's score picked by an index.
    fn picked(scale: Scale, picks: &[usize]) -> (Map<String, Value>, Vec<i32>) {
        let scores: Vec<i32> =
            items(scale).iter().zip(picks).map(|(&(_, allowed), &pick)| allowed[pick % allowed.len()]).collect();
        (form(scale, &scores), scores)
    }

    proptest::proptest! {
        /// The Barthel total is the items' sum, and a higher total is never
        /// a worse grade.
        #[test]
        fn barthel_totals_are_sums_and_grades_fall_as_totals_rise(
            a in proptest::collection::vec(0usize..4, BARTHEL.len()),
            b in proptest::collection::vec(0usize..4, BARTHEL.len()),
        ) {
            let (form_a, scores_a) = picked(Scale::Barthel, &a);
            let (form_b, scores_b) = picked(Scale::Barthel, &b);
            let a = score(Scale::Barthel, &form_a, &Factors::default()).unwrap();
            let b = score(Scale::Barthel, &form_b, &Factors::default()).unwrap();
            proptest::prop_assert_eq!(a.total, scores_a.iter().sum::<i32>());
            proptest::prop_assert_eq!(b.total, scores_b.iter().sum::<i32>());
            proptest::prop_assert!((0..=100).contains(&a.total));
            if a.total <= b.total {
                proptest::prop_assert!(a.grade >= b.grade);
            } else {
                proptest::prop_assert!(a.grade <= b.grade);
            }
        }

        /// A GB/T total stays within 0–90 and is its domains' sum; the
        /// rules raise at most one grade, to no worse than total loss, and
        /// only a coma goes further.
        #[test]
        fn gbt_totals_stay_in_range_and_rules_raise_one_grade_at_most(
            picks in proptest::collection::vec(0usize..5, GBT.len()),
            coma in proptest::bool::ANY,
            dementia in proptest::bool::ANY,
            psychiatric in proptest::bool::ANY,
            risk_events in 0u32..4,
        ) {
            let (form, scores) = picked(Scale::Gbt42195, &picks);
            let factors = Factors { coma, dementia, psychiatric, risk_events };
            let scored = score(Scale::Gbt42195, &form, &factors).unwrap();
            proptest::prop_assert!((0..=90).contains(&scored.total));
            proptest::prop_assert_eq!(scored.total, scores.iter().sum::<i32>());
            proptest::prop_assert_eq!(scored.domains.values().sum::<i32>(), scored.total);
            let base = grade_of(GBT_GRADES, scored.total);
            if coma || form[CONSCIOUSNESS] == json!(0) {
                proptest::prop_assert_eq!(scored.grade, TOTAL_LOSS);
            } else {
                proptest::prop_assert!(scored.grade == base || scored.grade == (base + 1).min(TOTAL_LOSS));
                let applies = dementia || psychiatric || risk_events >= 2;
                proptest::prop_assert_eq!(scored.grade, if applies { (base + 1).min(TOTAL_LOSS) } else { base });
            }
            proptest::prop_assert_eq!(scored.raised_by.is_empty(), scored.grade == base);
        }
    }
}
