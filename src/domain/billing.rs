//! Public money: who pays what of a delivered service. Amounts are whole
//! fen (`Fen`, 1/100 yuan) from the price to the claim: no float ever holds
//! money, so lines sum to their totals exactly and a claim reconciles to
//! the cent. The rules are the contract's (district.md, "Pricing"):
//! within the month's quota the payer pays `1 - copay_ratio` and the elder
//! the rest; beyond it the elder pays all (`over_quota`), and a visit that
//! crosses the quota is two lines; a meal's subsidy is taken off the
//! kitchen's price. Rounding is half-up to the fen, the payer's share first
//! and the elder's as the rest, so nothing is lost or invented.

use std::fmt;

use eldercare_domain::names;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::care::Unit;

names!(
    /// Who pays the public share of a service.
    Payer {
        /// The long-term care insurance fund.
        LtcInsurance = "ltc_insurance",
        /// The civil-affairs bureau's subsidies.
        CivilAffairs = "civil_affairs",
    }
);

names!(
    /// What an elder (or someone for them) applies for.
    ApplicationKind {
        LtcInsurance = "ltc_insurance",
        HomeCareSubsidy = "home_care_subsidy",
        MealSubsidy = "meal_subsidy",
        Respite = "respite",
    }
);

impl ApplicationKind {
    /// Who decides an application of this kind: the fund's insurer for
    /// long-term care insurance, the civil-affairs bureau otherwise.
    pub fn decided_by_insurer(self) -> bool {
        self == ApplicationKind::LtcInsurance
    }
}

names!(
    /// Where an application stands.
    ApplicationStatus {
        Submitted = "submitted",
        /// An assessment body is assigned and grading.
        Assessing = "assessing",
        Approved = "approved",
        Rejected = "rejected",
    }
);

names!(
    /// One step of an application's timeline.
    StepKind {
        Submitted = "submitted",
        Assigned = "assigned",
        Assessed = "assessed",
        Approved = "approved",
        Rejected = "rejected",
    }
);

names!(
    /// What a bill line is for.
    LineKind { Visit = "visit", Meal = "meal" }
);

names!(
    ClaimStatus { Submitted = "submitted", Closed = "closed" }
);

names!(
    ClaimLineStatus { Pending = "pending", Accepted = "accepted", Rejected = "rejected" }
);

names!(
    /// A payer's decision on one claimed line.
    LineDecision { Accept = "accept", Reject = "reject" }
);

/// What a scheme gives one grade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GradeTerms {
    /// Minutes of covered care a month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, nullable = false)]
    pub monthly_minutes: Option<i64>,
    /// Or an amount of covered care a month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub monthly_amount: Option<Fen>,
    /// The elder's share within the quota.
    pub copay_ratio: Ratio,
    /// In the enrolment vocabulary.
    #[schema(min_items = 1)]
    pub services: Vec<super::registry::Service>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub per_meal_subsidy: Option<Fen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 366, nullable = false)]
    pub respite_days_per_year: Option<i32>,
    /// How long an entitlement lasts (never past its assessment's validity).
    #[schema(minimum = 1, maximum = 120)]
    pub valid_months: i32,
}

impl GradeTerms {
    /// Why these terms cannot stand, as (field, message).
    pub fn invalid(&self) -> Option<(&'static str, &'static str)> {
        if self.services.is_empty() {
            return Some(("services", "at least one service"));
        }
        if self.monthly_minutes.is_some() && self.monthly_amount.is_some() {
            return Some(("monthly_amount", "a quota is minutes or an amount, not both"));
        }
        if self.monthly_minutes.is_some_and(|m| m < 0)
            || self.respite_days_per_year.is_some_and(|d| !(0..=366).contains(&d))
        {
            return Some(("monthly_minutes", "not negative (respite days 0 to 366)"));
        }
        if !(1..=120).contains(&self.valid_months) {
            return Some(("valid_months", "1 to 120 months"));
        }
        None
    }

    pub fn quota(&self) -> Quota {
        match (self.monthly_minutes, self.monthly_amount) {
            (Some(minutes), _) => Quota::Minutes(minutes),
            (None, Some(amount)) => Quota::Amount(amount),
            (None, None) => Quota::Unlimited,
        }
    }
}

/// An amount of money in fen (1/100 yuan): written and read as yuan with
/// two decimals (`12.30`), held as an integer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fen(pub i64);

impl Fen {
    pub const ZERO: Fen = Fen(0);

    /// A price the catalogue holds in yuan as a float, to the nearest fen.
    pub fn from_yuan_f64(yuan: f64) -> Fen {
        Fen((yuan * 100.0).round() as i64)
    }

    /// Yuan with at most two decimals (`"12"`, `"12.3"`, `"12.30"`), not
    /// negative; anything else is `None`.
    pub fn parse(text: &str) -> Option<Fen> {
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || whole.len() > 12 {
            return None;
        }
        if frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) || (text.contains('.') && frac.is_empty()) {
            return None;
        }
        let whole: i64 = whole.parse().ok()?;
        let frac: i64 = format!("{frac:0<2}").parse().ok()?;
        Some(Fen(whole * 100 + frac))
    }

    pub fn sum(items: impl IntoIterator<Item = Fen>) -> Fen {
        Fen(items.into_iter().map(|f| f.0).sum())
    }
}

impl fmt::Display for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}{}.{:02}", self.0.abs() / 100, self.0.abs() % 100)
    }
}

impl std::ops::Add for Fen {
    type Output = Fen;
    fn add(self, other: Fen) -> Fen {
        Fen(self.0 + other.0)
    }
}

impl std::ops::Sub for Fen {
    type Output = Fen;
    fn sub(self, other: Fen) -> Fen {
        Fen(self.0 - other.0)
    }
}

impl Serialize for Fen {
    /// A JSON number with exactly two decimals, as written: `12.30`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = serde_json::value::RawValue::from_string(self.to_string()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Fen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fen, D::Error> {
        let number = serde_json::Number::deserialize(deserializer)?;
        Fen::parse(&number.to_string())
            .ok_or_else(|| serde::de::Error::custom("an amount in yuan, not negative, with at most two decimals"))
    }
}

impl utoipa::PartialSchema for Fen {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Number)
            .minimum(Some(0))
            .description(Some("Yuan, two decimals"))
            .into()
    }
}

impl utoipa::ToSchema for Fen {}

/// A share between 0 and 1 with at most four decimals, held in parts per
/// ten thousand (`0.3` is 3000).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ratio(pub i64);

impl Ratio {
    pub const WHOLE: i64 = 10_000;

    pub fn parse(text: &str) -> Option<Ratio> {
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        if !matches!(whole, "0" | "1") || frac.len() > 4 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let parts = whole.parse::<i64>().ok()? * Ratio::WHOLE + format!("{frac:0<4}").parse::<i64>().ok()?;
        (parts <= Ratio::WHOLE).then_some(Ratio(parts))
    }

    /// This share of `amount`, rounded half-up to the fen.
    pub fn of(self, amount: Fen) -> Fen {
        Fen(share(amount.0, self.0, Ratio::WHOLE))
    }
}

impl Serialize for Ratio {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = format!("{}.{:04}", self.0 / Ratio::WHOLE, self.0 % Ratio::WHOLE);
        let text = text.trim_end_matches('0').trim_end_matches('.');
        let raw = serde_json::value::RawValue::from_string(text.to_owned()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Ratio {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Ratio, D::Error> {
        let number = serde_json::Number::deserialize(deserializer)?;
        Ratio::parse(&number.to_string())
            .ok_or_else(|| serde::de::Error::custom("a share between 0 and 1 with at most four decimals"))
    }
}

impl utoipa::PartialSchema for Ratio {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Number)
            .minimum(Some(0))
            .maximum(Some(1))
            .into()
    }
}

impl utoipa::ToSchema for Ratio {}

/// `value × numerator ÷ denominator`, rounded half-up (values not negative).
fn share(value: i64, numerator: i64, denominator: i64) -> i64 {
    let product = i128::from(value) * i128::from(numerator);
    let denominator = i128::from(denominator.max(1));
    ((product * 2 + denominator) / (denominator * 2)) as i64
}

/// What one visit costs by the provider's catalogue: its price per visit,
/// or the minutes at the hourly price, to the fen.
pub fn visit_amount(unit: Unit, unit_price: Fen, minutes: i64) -> Fen {
    match unit {
        Unit::Visit => unit_price,
        Unit::Hour => Fen(share(unit_price.0, minutes.max(0), 60)),
    }
}

/// A month's quota of an entitlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    Minutes(i64),
    Amount(Fen),
    /// Neither: every covered service is within it.
    Unlimited,
}

/// What an entitlement in force gives a priced service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    pub payer: Payer,
    pub copay: Ratio,
    pub quota: Quota,
}

/// What the month has already taken of the quota, within it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Used {
    pub minutes: i64,
    pub amount: Fen,
}

/// One line of a bill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priced {
    pub minutes: Option<i64>,
    pub amount: Fen,
    /// `None`: no payer covers it; the elder pays all.
    pub payer: Option<Payer>,
    pub payer_amount: Fen,
    pub elder_amount: Fen,
    pub over_quota: bool,
}

/// Prices a visit of `amount` and `minutes` under `terms` (none: the elder
/// pays all), given what the month has used of the quota: one line, or two
/// when it crosses the quota (the part beyond it the elder's alone).
pub fn price_visit(amount: Fen, minutes: i64, terms: Option<&Terms>, used: Used) -> Vec<Priced> {
    let Some(terms) = terms else {
        return vec![Priced {
            minutes: Some(minutes),
            amount,
            payer: None,
            payer_amount: Fen::ZERO,
            elder_amount: amount,
            over_quota: false,
        }];
    };
    // The part within the quota: (minutes, amount).
    let (within_minutes, within_amount) = match terms.quota {
        Quota::Unlimited => (minutes, amount),
        Quota::Minutes(monthly) => {
            let left = (monthly - used.minutes).clamp(0, minutes);
            let part = if left == minutes { amount } else { Fen(share(amount.0, left, minutes)) };
            (left, part)
        }
        Quota::Amount(monthly) => {
            let left = Fen((monthly.0 - used.amount.0).clamp(0, amount.0));
            let part = if left == amount { minutes } else { share(minutes, left.0, amount.0) };
            (part, left)
        }
    };
    let mut lines = Vec::with_capacity(2);
    let whole_within = within_amount == amount && within_minutes == minutes;
    if whole_within || within_amount.0 > 0 || within_minutes > 0 {
        let elder = terms.copay.of(within_amount);
        let payer_amount = within_amount - elder;
        lines.push(Priced {
            minutes: Some(within_minutes),
            amount: within_amount,
            payer: Some(terms.payer),
            payer_amount,
            elder_amount: elder,
            over_quota: false,
        });
    }
    if !whole_within {
        let over = amount - within_amount;
        lines.push(Priced {
            minutes: Some(minutes - within_minutes),
            amount: over,
            payer: None,
            payer_amount: Fen::ZERO,
            elder_amount: over,
            over_quota: true,
        });
    }
    lines
}

/// Prices a delivered meal: the payer pays its per-meal subsidy (never
/// more than the price), the elder the rest; `copay_ratio` does not apply.
pub fn price_meal(price: Fen, subsidy: Option<(Payer, Fen)>) -> Priced {
    let (payer, payer_amount) = match subsidy {
        Some((payer, subsidy)) if subsidy.0 > 0 && price.0 > 0 => (Some(payer), Fen(subsidy.0.min(price.0))),
        _ => (None, Fen::ZERO),
    };
    Priced { minutes: None, amount: price, payer, payer_amount, elder_amount: price - payer_amount, over_quota: false }
}

names!(
    /// How a care plan's line fits the month's quota of the payer it names.
    QuotaFit {
        Within = "within",
        /// Part of it within, the rest beyond: the elder pays the rest.
        PartlyOver = "partly_over",
        /// All of it beyond the quota: the elder pays all.
        Over = "over",
        /// No entitlement of its payer covers it (or it names none).
        NotCovered = "not_covered",
    }
);

/// A care plan's line as the quota weighs it: its payer, and what a month
/// of it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    pub payer: Option<Payer>,
    pub minutes: i64,
    pub amount: Fen,
}

/// A line's fit: the minutes of it within the quota, and how it fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    pub within_minutes: i64,
    pub fit: QuotaFit,
}

/// Weighs a care plan's lines, in their order, against the month's quota of
/// each payer (`quotas`: the entitlements in force): the earlier lines take
/// the quota first, as the earlier visits of a month do when they are priced.
pub fn plan_against_quota(lines: &[Planned], quotas: &[(Payer, Quota)]) -> Vec<Fit> {
    let mut used: Vec<(Payer, Used)> = Vec::new();
    lines
        .iter()
        .map(|line| {
            let Some((payer, quota)) = line.payer.and_then(|p| quotas.iter().find(|(q, _)| *q == p)).copied() else {
                return Fit { within_minutes: 0, fit: QuotaFit::NotCovered };
            };
            let taken = match used.iter_mut().find(|(p, _)| *p == payer) {
                Some((_, taken)) => taken,
                None => {
                    used.push((payer, Used::default()));
                    &mut used.last_mut().expect("just pushed").1
                }
            };
            let (within_minutes, within_amount) = match quota {
                Quota::Unlimited => (line.minutes, line.amount),
                Quota::Minutes(monthly) => {
                    let within = (monthly - taken.minutes).clamp(0, line.minutes);
                    (within, Fen(share(line.amount.0, within, line.minutes.max(1))))
                }
                Quota::Amount(monthly) => {
                    let within = Fen((monthly.0 - taken.amount.0).clamp(0, line.amount.0));
                    let minutes = if within == line.amount {
                        line.minutes
                    } else {
                        share(line.minutes, within.0, line.amount.0.max(1))
                    };
                    (minutes, within)
                }
            };
            taken.minutes += within_minutes;
            taken.amount = taken.amount + within_amount;
            let fit = if within_minutes >= line.minutes {
                QuotaFit::Within
            } else if within_minutes == 0 {
                QuotaFit::Over
            } else {
                QuotaFit::PartlyOver
            };
            Fit { within_minutes, fit }
        })
        .collect()
}

/// The minutes a month of a plan's line asks for: its service's duration on
/// each date of the month falling on one of its days, capped by the hours a
/// month it authorises.
pub fn minutes_in_month(
    days: &[super::care::Day],
    duration_minutes: i64,
    hours_per_month: Option<f64>,
    month: chrono::NaiveDate,
) -> i64 {
    use chrono::Datelike;
    let dates = month.iter_days().take_while(|d| d.month() == month.month());
    let visits = dates.filter(|d| days.contains(&super::care::Day::of(d.weekday()))).count() as i64;
    let asked = visits * duration_minutes;
    match hours_per_month {
        Some(hours) => asked.min((hours * 60.0).round() as i64),
        None => asked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn terms(copay: i64, quota: Quota) -> Terms {
        Terms { payer: Payer::LtcInsurance, copay: Ratio(copay), quota }
    }

    #[test]
    fn amounts_read_and_write_as_yuan_with_two_decimals() {
        assert_eq!(Fen::parse("12"), Some(Fen(1200)));
        assert_eq!(Fen::parse("12.3"), Some(Fen(1230)));
        assert_eq!(Fen::parse("0.05"), Some(Fen(5)));
        for bad in ["-1", "1.234", "1.", ".5", "1e3", "abc", ""] {
            assert_eq!(Fen::parse(bad), None, "{bad}");
        }
        assert_eq!(Fen(1230).to_string(), "12.30");
        assert_eq!(serde_json::to_string(&Fen(5)).unwrap(), "0.05");
        assert_eq!(serde_json::from_str::<Fen>("19.99").unwrap(), Fen(1999));
        assert!(serde_json::from_str::<Fen>("1.999").is_err());
        assert_eq!(Ratio::parse("0.3"), Some(Ratio(3000)));
        assert_eq!(Ratio::parse("1"), Some(Ratio(10_000)));
        assert_eq!(Ratio::parse("1.5"), None);
        assert_eq!(serde_json::to_string(&Ratio(1500)).unwrap(), "0.15");
        assert_eq!(serde_json::to_string(&Ratio(0)).unwrap(), "0");
    }

    #[test]
    fn the_payer_pays_its_share_rounded_half_up_and_the_elder_the_rest() {
        // 33.33 at a 30 % co-payment: the elder's 9.999 rounds to 10.00.
        let lines = price_visit(Fen(3333), 60, Some(&terms(3000, Quota::Unlimited)), Used::default());
        assert_eq!(lines.len(), 1);
        assert_eq!((lines[0].payer_amount, lines[0].elder_amount), (Fen(2333), Fen(1000)));
        assert!(!lines[0].over_quota);
        // 0.05 at 10 %: the elder's half fen rounds up to one.
        let lines = price_visit(Fen(5), 60, Some(&terms(1000, Quota::Unlimited)), Used::default());
        assert_eq!((lines[0].payer_amount, lines[0].elder_amount), (Fen(4), Fen(1)));
    }

    #[test]
    fn a_visit_crossing_the_minutes_quota_is_two_lines_the_second_the_elders() {
        let lines = price_visit(
            Fen(8000),
            60,
            Some(&terms(1000, Quota::Minutes(600))),
            Used { minutes: 570, ..Used::default() },
        );
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[0].minutes, lines[0].amount, lines[0].over_quota), (Some(30), Fen(4000), false));
        assert_eq!((lines[0].payer_amount, lines[0].elder_amount), (Fen(3600), Fen(400)));
        assert_eq!((lines[1].minutes, lines[1].amount, lines[1].over_quota), (Some(30), Fen(4000), true));
        assert_eq!((lines[1].payer, lines[1].payer_amount, lines[1].elder_amount), (None, Fen::ZERO, Fen(4000)));
        // Past the quota: one line, all the elder's.
        let lines = price_visit(
            Fen(8000),
            60,
            Some(&terms(1000, Quota::Minutes(600))),
            Used { minutes: 600, ..Used::default() },
        );
        assert_eq!(lines.len(), 1);
        assert!(lines[0].over_quota && lines[0].elder_amount == Fen(8000));
    }

    #[test]
    fn an_amount_quota_caps_the_amount_within_it() {
        let used = Used { minutes: 0, amount: Fen(150_000) };
        let lines = price_visit(Fen(8000), 60, Some(&terms(2000, Quota::Amount(Fen(155_000)))), used);
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[0].amount, lines[0].minutes), (Fen(5000), Some(38)));
        assert_eq!((lines[1].amount, lines[1].minutes), (Fen(3000), Some(22)));
    }

    #[test]
    fn meals_take_the_subsidy_off_the_price_and_never_below_nothing() {
        let meal = price_meal(Fen(1200), Some((Payer::CivilAffairs, Fen(500))));
        assert_eq!((meal.payer, meal.payer_amount, meal.elder_amount), (Some(Payer::CivilAffairs), Fen(500), Fen(700)));
        let meal = price_meal(Fen(300), Some((Payer::CivilAffairs, Fen(500))));
        assert_eq!((meal.payer_amount, meal.elder_amount), (Fen(300), Fen::ZERO));
        let meal = price_meal(Fen(1200), None);
        assert_eq!((meal.payer, meal.elder_amount), (None, Fen(1200)));
    }

    #[test]
    fn an_hour_priced_service_pays_the_minutes_at_the_hourly_price() {
        assert_eq!(visit_amount(Unit::Hour, Fen(6000), 45), Fen(4500));
        assert_eq!(visit_amount(Unit::Hour, Fen(5000), 1), Fen(83));
        assert_eq!(visit_amount(Unit::Visit, Fen(8000), 45), Fen(8000));
    }

    #[test]
    fn a_plans_lines_take_the_quota_in_their_order() {
        let line = |payer, minutes| Planned { payer, minutes, amount: Fen(minutes * 100) };
        let lines = [
            line(Some(Payer::LtcInsurance), 480),
            line(Some(Payer::LtcInsurance), 240),
            line(Some(Payer::LtcInsurance), 60),
            line(None, 60),
            line(Some(Payer::CivilAffairs), 60),
        ];
        let fits = plan_against_quota(&lines, &[(Payer::LtcInsurance, Quota::Minutes(600))]);
        let got: Vec<(i64, QuotaFit)> = fits.iter().map(|f| (f.within_minutes, f.fit)).collect();
        assert_eq!(
            got,
            [
                (480, QuotaFit::Within),
                (120, QuotaFit::PartlyOver),
                (0, QuotaFit::Over),
                (0, QuotaFit::NotCovered),
                (0, QuotaFit::NotCovered),
            ]
        );
    }

    #[test]
    fn a_month_of_a_weekly_slot_counts_its_days_up_to_the_hours_authorised() {
        use super::super::care::Day;
        let december = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        // December 2026 has five Tuesdays and four Fridays.
        assert_eq!(minutes_in_month(&[Day::Tue, Day::Fri], 60, None, december), 9 * 60);
        assert_eq!(minutes_in_month(&[Day::Tue, Day::Fri], 60, Some(8.0), december), 480);
    }

    fn any_quota() -> impl Strategy<Value = Quota> {
        prop_oneof![
            Just(Quota::Unlimited),
            (0i64..3000).prop_map(Quota::Minutes),
            (0i64..500_000).prop_map(|a| Quota::Amount(Fen(a))),
        ]
    }

    proptest! {
        #[test]
        fn pricing_never_loses_or_invents_a_fen(
            amount in 0i64..1_000_000, minutes in 1i64..600, copay in 0i64..=10_000,
            quota in any_quota(), used_minutes in 0i64..3000, used_amount in 0i64..500_000,
        ) {
            let terms = terms(copay, quota);
            let used = Used { minutes: used_minutes, amount: Fen(used_amount) };
            let lines = price_visit(Fen(amount), minutes, Some(&terms), used);
            prop_assert!(!lines.is_empty() && lines.len() <= 2);
            prop_assert_eq!(Fen::sum(lines.iter().map(|l| l.amount)), Fen(amount));
            prop_assert_eq!(lines.iter().filter_map(|l| l.minutes).sum::<i64>(), minutes);
            for line in &lines {
                prop_assert_eq!(line.payer_amount + line.elder_amount, line.amount);
                prop_assert!(line.payer_amount.0 >= 0 && line.elder_amount.0 >= 0);
                if line.over_quota {
                    prop_assert_eq!(line.payer_amount, Fen::ZERO);
                }
            }
            // What the quota still allowed is never exceeded by the lines within it.
            let within = lines.iter().filter(|l| !l.over_quota);
            match quota {
                Quota::Minutes(monthly) => prop_assert!(
                    within.map(|l| l.minutes.unwrap_or(0)).sum::<i64>() <= (monthly - used_minutes).max(0)),
                Quota::Amount(monthly) => prop_assert!(
                    within.map(|l| l.amount.0).sum::<i64>() <= (monthly.0 - used_amount).max(0)),
                Quota::Unlimited => prop_assert_eq!(lines.len(), 1),
            }
        }

        #[test]
        fn a_meals_shares_always_make_its_price(price in 0i64..100_000, subsidy in 0i64..100_000) {
            let meal = price_meal(Fen(price), Some((Payer::CivilAffairs, Fen(subsidy))));
            prop_assert_eq!(meal.payer_amount + meal.elder_amount, Fen(price));
            prop_assert!(meal.elder_amount.0 >= 0 && meal.payer_amount.0 <= subsidy);
        }
    }
}
