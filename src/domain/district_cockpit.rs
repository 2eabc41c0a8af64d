//! The district cockpit: how a division's elders, services and money are
//! spread over the divisions it is made of, for the civil-affairs bureau and
//! the supervisors that answer for them. Counts and shares only: nothing
//! here can hold a person's name, id or date of birth, so the answer cannot
//! leak one whatever a query returns.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::billing::Fen;
use super::division::Level;

/// How far back the flows (service requests, complaints upheld) are
/// counted: the month a bureau reviews, as the institution cockpit's
/// default period.
pub const WINDOW_DAYS: i32 = 30;

/// How many months of accepted claims are shown: a year, so a month is
/// seen against the same month's neighbours.
pub const CLAIM_MONTHS: i32 = 12;

/// The division asked about.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = DistrictDivision)]
pub struct Division {
    pub code: String,
    pub name: String,
    pub level: Level,
}

/// Service requests made in the window, and what came of them.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = DistrictRequestCounts)]
pub struct RequestCounts {
    pub made: i64,
    /// Delivered: the visit it became was completed.
    pub fulfilled: i64,
    /// Left with no provider: every provider serving the area declined or
    /// let the offer lapse (on the bureau's queue).
    pub unmet: i64,
}

/// One service code's requests: what is asked for, and where it goes unmet.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = DistrictServiceRequests)]
pub struct ServiceRequests {
    pub service_code: String,
    #[serde(flatten)]
    pub counts: RequestCounts,
}

/// A child division's requests.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = DistrictRequests)]
pub struct Requests {
    #[serde(flatten)]
    pub counts: RequestCounts,
    /// The median of the hours from request to the visit's end, over the
    /// fulfilled ones; null when none was.
    #[schema(required = true)]
    pub median_hours_to_fulfil: Option<f64>,
    /// Per service code, the most asked for first.
    pub by_service: Vec<ServiceRequests>,
}

/// Claim lines a payer accepted in one month, for the elders of a child
/// division.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = DistrictClaimsAccepted)]
pub struct ClaimsAccepted {
    /// ltc_insurance or civil_affairs.
    pub payer: String,
    /// YYYY-MM.
    pub month: String,
    pub lines: i64,
    /// The payer's share of the accepted lines.
    pub amount: Fen,
}

/// Complaints about the elders (or, naming none, the institutions) of a
/// child division.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = DistrictComplaints)]
pub struct Complaints {
    /// Waiting for the institution's answer, within its deadline.
    pub open: i64,
    /// Unanswered past the deadline.
    pub overdue: i64,
    /// Closed as upheld in the window.
    pub upheld: i64,
}

/// The scores of the care providers placed in a child division, for the
/// last month (`GET /providers/scores` has each one and its figures).
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = DistrictScores)]
pub struct Scores {
    /// Care providers placed there.
    pub providers: i64,
    /// Of those, the ones with a score (figures last month).
    pub scored: i64,
    /// Their mean score, to one decimal; null when none is scored.
    #[schema(required = true)]
    pub mean: Option<f64>,
    #[schema(required = true)]
    pub lowest: Option<i64>,
}

impl Scores {
    pub fn of(scores: &[Option<i64>]) -> Scores {
        let scored: Vec<i64> = scores.iter().flatten().copied().collect();
        let mean = (!scored.is_empty())
            .then(|| (10.0 * scored.iter().sum::<i64>() as f64 / scored.len() as f64).round() / 10.0);
        Scores {
            providers: scores.len() as i64,
            scored: scored.len() as i64,
            mean,
            lowest: scored.iter().min().copied(),
        }
    }
}

/// One child division's figures, and its shape for the map.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = DistrictArea)]
pub struct Area {
    pub code: String,
    pub name: String,
    pub level: Level,
    /// A GeoJSON Polygon or MultiPolygon, null until the operator sets one.
    #[schema(value_type = Option<Object>, required = true)]
    pub boundary: Option<Value>,
    /// The living elders registered there.
    pub elders: i64,
    /// under_60, 60-69, 70-79, 80-89, 90+, unknown.
    pub by_age_band: BTreeMap<String, i64>,
    /// The latest valid assessment's grade, 0 to 4, or none.
    pub by_grade: BTreeMap<String, i64>,
    pub living_alone: i64,
    /// none, low_income, dibao, tekun, unknown.
    pub by_economic_status: BTreeMap<String, i64>,
    /// Elders enrolled now, per service.
    pub enrolled_by_service: BTreeMap<String, i64>,
    pub requests: Requests,
    /// Kitchens of the institutions placed there.
    pub kitchens: i64,
    #[schema(required = true)]
    pub kitchens_per_1000_elders: Option<f64>,
    /// Caregiver accounts (not disabled) of the institutions placed there.
    pub caregivers: i64,
    #[schema(required = true)]
    pub caregivers_per_1000_elders: Option<f64>,
    /// Per payer and month, the latest month first.
    pub claims_accepted: Vec<ClaimsAccepted>,
    pub complaints: Complaints,
    /// Last month's provider scores there.
    pub scores: Scores,
}

/// The answer of `GET /api/v1/cockpit/district`.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = DistrictCockpit)]
pub struct Cockpit {
    pub division: Division,
    /// The days the requests and upheld complaints are counted over.
    pub window_days: i32,
    /// The divisions it is made of, by code.
    pub children: Vec<Area>,
    /// Every child's requests per service code, the most unmet first: what
    /// the district asks for and does not get.
    pub hot_issues: Vec<ServiceRequests>,
}

/// `count` for every 1,000 of `elders`, to two decimals; none without elders.
pub fn per_thousand(count: i64, elders: i64) -> Option<f64> {
    (elders > 0).then(|| (count as f64 * 100_000.0 / elders as f64).round() / 100.0)
}

/// Hours to one decimal, as the page shows them.
pub fn hours(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// Each group of `groups` with its count in `counted`, zero where absent,
/// so every answer has every key.
pub fn fill(groups: &[&str], counted: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    groups.iter().map(|g| ((*g).to_owned(), counted.get(*g).copied().unwrap_or(0))).collect()
}

/// The children's requests summed per service code, the most unmet first,
/// then the most asked for, then by code.
pub fn hot_issues(children: &[Area]) -> Vec<ServiceRequests> {
    let mut sums: BTreeMap<&str, RequestCounts> = BTreeMap::new();
    for service in children.iter().flat_map(|c| &c.requests.by_service) {
        let sum = sums.entry(&service.service_code).or_default();
        sum.made += service.counts.made;
        sum.fulfilled += service.counts.fulfilled;
        sum.unmet += service.counts.unmet;
    }
    let mut issues: Vec<ServiceRequests> =
        sums.into_iter().map(|(code, counts)| ServiceRequests { service_code: code.to_owned(), counts }).collect();
    issues.sort_by(|a, b| {
        b.counts
            .unmet
            .cmp(&a.counts.unmet)
            .then(b.counts.made.cmp(&a.counts.made))
            .then(a.service_code.cmp(&b.service_code))
    });
    issues
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_division_s_scores_are_the_mean_and_lowest_of_those_scored() {
        let scores = Scores::of(&[Some(87), None, Some(60), Some(74)]);
        assert_eq!(scores, Scores { providers: 4, scored: 3, mean: Some(73.7), lowest: Some(60) });
        assert_eq!(Scores::of(&[None]), Scores { providers: 1, scored: 0, mean: None, lowest: None });
    }

    fn area(code: &str, services: &[(&str, i64, i64, i64)]) -> Area {
        Area {
            code: code.into(),
            name: code.into(),
            level: Level::Street,
            boundary: None,
            elders: 0,
            by_age_band: BTreeMap::new(),
            by_grade: BTreeMap::new(),
            living_alone: 0,
            by_economic_status: BTreeMap::new(),
            enrolled_by_service: BTreeMap::new(),
            requests: Requests {
                by_service: services
                    .iter()
                    .map(|(c, made, fulfilled, unmet)| ServiceRequests {
                        service_code: (*c).into(),
                        counts: RequestCounts { made: *made, fulfilled: *fulfilled, unmet: *unmet },
                    })
                    .collect(),
                ..Requests::default()
            },
            kitchens: 0,
            kitchens_per_1000_elders: None,
            caregivers: 0,
            caregivers_per_1000_elders: None,
            claims_accepted: Vec::new(),
            complaints: Complaints::default(),
            scores: Scores::default(),
        }
    }

    #[test]
    fn a_share_per_thousand_elders_has_two_decimals_and_none_without_elders() {
        assert_eq!(per_thousand(1, 3), Some(333.33));
        assert_eq!(per_thousand(2, 3), Some(666.67));
        assert_eq!(per_thousand(7, 50_000), Some(0.14));
        assert_eq!(per_thousand(0, 10), Some(0.0));
        assert_eq!(per_thousand(4, 0), None);
    }

    #[test]
    fn hot_issues_sum_the_children_and_put_the_most_unmet_first() {
        let children = [
            area("a", &[("HC-BATH", 3, 1, 1), ("HC-CLEAN", 5, 5, 0)]),
            area("b", &[("HC-BATH", 2, 0, 2), ("MEAL", 1, 0, 0), ("HC-COMPANY", 1, 0, 0)]),
        ];
        let issues = hot_issues(&children);
        let codes: Vec<&str> = issues.iter().map(|i| i.service_code.as_str()).collect();
        assert_eq!(codes, ["HC-BATH", "HC-CLEAN", "HC-COMPANY", "MEAL"]);
        assert_eq!(issues[0].counts, RequestCounts { made: 5, fulfilled: 1, unmet: 3 });
    }

    #[test]
    fn every_group_is_answered_even_when_nobody_is_in_it() {
        let counted = BTreeMap::from([("70-79".to_owned(), 2), ("stray".to_owned(), 9)]);
        let filled = fill(&["60-69", "70-79"], &counted);
        assert_eq!(filled, BTreeMap::from([("60-69".to_owned(), 0), ("70-79".to_owned(), 2)]));
        assert_eq!(hours(26.25), 26.3);
    }
}
