//! The vocabulary of meal services (FHIR NutritionOrder): meals, diets,
//! textures by IDDSI level, how a meal reaches the resident and who pays,
//! the daily orders and what the courier found at the door; and the pure
//! logic under them — which meals a plan asks for on a day, how a plan
//! change reconciles with the orders already made, the kitchen's production
//! list and the order of a delivery round. Values and a clock in, decisions
//! out; no I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use eldercare_domain::names;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::care::{Day, Location, local_instant};

names!(
    /// The meals a kitchen cooks, in the order of the day.
    Meal { Breakfast = "breakfast", Lunch = "lunch", Dinner = "dinner" }
);

names!(
    /// Therapeutic and cultural diets the kitchen cooks for.
    Diet {
        Diabetic = "diabetic",
        LowSodium = "low_sodium",
        Renal = "renal",
        Vegetarian = "vegetarian",
        Halal = "halal",
        GlutenFree = "gluten_free",
        LowFat = "low_fat",
    }
);

names!(
    /// Food texture by the IDDSI framework: 7 regular easy to chew... 4
    /// puréed; `regular` is no modification.
    Texture { Regular = "regular", Iddsi7 = "iddsi_7", Iddsi6 = "iddsi_6", Iddsi5 = "iddsi_5", Iddsi4 = "iddsi_4" }
);

names!(
    /// Brought to the door, or eaten at the canteen.
    Delivery { Home = "home", Canteen = "canteen" }
);

names!(
    /// Who pays for a meal.
    MealFunding { Subsidy = "subsidy", SelfPay = "self_pay" }
);

names!(
    OrderStatus {
        Planned = "planned",
        Delivered = "delivered",
        NoAnswer = "no_answer",
        Refused = "refused",
        Cancelled = "cancelled",
    }
);

names!(
    /// What the courier found at the door.
    Outcome { HandedOver = "handed_over", LeftAtDoor = "left_at_door", NoAnswer = "no_answer", Refused = "refused" }
);

names!(
    /// Why an order was cancelled.
    OrderCancel { Family = "family", PlanChanged = "plan_changed", Suspended = "suspended", Staff = "staff" }
);

/// Orders exist for today and the next two days of the kitchen.
pub const ORDER_DAYS: i64 = 3;
/// The contract's default cut-off, local time of the kitchen on the day.
pub const DEFAULT_CUTOFF: NaiveTime = match NaiveTime::from_hms_opt(9, 0, 0) {
    Some(t) => t,
    None => panic!("09:00 is a time"),
};

const MAX_ALLERGIES: usize = 30;
const MAX_ALLERGEN_LEN: usize = 60;
const MAX_NOTES_LEN: usize = 1000;

impl Outcome {
    /// The order's status after this outcome.
    pub fn status(self) -> OrderStatus {
        match self {
            Outcome::HandedOver | Outcome::LeftAtDoor => OrderStatus::Delivered,
            Outcome::NoAnswer => OrderStatus::NoAnswer,
            Outcome::Refused => OrderStatus::Refused,
        }
    }

    /// Whether this outcome shows the resident took a meal: only a meal
    /// handed over. One left at the door may sit there untouched.
    pub fn is_meal_evidence(self) -> bool {
        self == Outcome::HandedOver
    }
}

/// Meals per weekday; a day left out has none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MealDays)]
pub struct Days {
    #[serde(default)]
    pub mon: Vec<Meal>,
    #[serde(default)]
    pub tue: Vec<Meal>,
    #[serde(default)]
    pub wed: Vec<Meal>,
    #[serde(default)]
    pub thu: Vec<Meal>,
    #[serde(default)]
    pub fri: Vec<Meal>,
    #[serde(default)]
    pub sat: Vec<Meal>,
    #[serde(default)]
    pub sun: Vec<Meal>,
}

impl Days {
    pub fn on(&self, day: Day) -> &[Meal] {
        match day {
            Day::Mon => &self.mon,
            Day::Tue => &self.tue,
            Day::Wed => &self.wed,
            Day::Thu => &self.thu,
            Day::Fri => &self.fri,
            Day::Sat => &self.sat,
            Day::Sun => &self.sun,
        }
    }
}

/// A stay away (hospital, a visit to family): no meals from `from` to
/// `until`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MealSuspension)]
pub struct Suspension {
    pub from: NaiveDate,
    pub until: NaiveDate,
}

/// A resident's meal plan, as the API takes and gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MealPlan {
    pub kitchen_id: Uuid,
    pub delivery: Delivery,
    #[serde(deserialize_with = "super::wire::required_object")]
    pub days: Days,
    #[serde(default)]
    pub diet: Vec<Diet>,
    #[serde(default = "regular")]
    #[schema(schema_with = schema::texture)]
    pub texture: Texture,
    #[serde(default)]
    #[schema(schema_with = schema::allergies)]
    pub allergies: Vec<String>,
    pub funding: MealFunding,
    /// until is inclusive; from not after until
    #[serde(default, deserialize_with = "super::wire::object")]
    pub suspended: Option<Suspension>,
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub delivery_notes: Option<String>,
}

fn regular() -> Texture {
    Texture::Regular
}

/// A plan that cannot be, with the field it is about.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PlanError {
    pub field: &'static str,
    pub message: String,
}

impl MealPlan {
    /// Checks and normalises a plan: meals of a day once each and in the
    /// day's order, diets once each, allergens trimmed and lower-case.
    pub fn normalise(mut self) -> Result<MealPlan, PlanError> {
        let error = |field, message: &str| PlanError { field, message: message.to_owned() };
        for day in Day::ALL {
            let meals = match day {
                Day::Mon => &mut self.days.mon,
                Day::Tue => &mut self.days.tue,
                Day::Wed => &mut self.days.wed,
                Day::Thu => &mut self.days.thu,
                Day::Fri => &mut self.days.fri,
                Day::Sat => &mut self.days.sat,
                Day::Sun => &mut self.days.sun,
            };
            meals.sort_by_key(|m| Meal::ALL.iter().position(|x| x == m));
            meals.dedup();
        }
        self.diet.sort_by_key(|d| Diet::ALL.iter().position(|x| x == d));
        self.diet.dedup();
        if self.allergies.len() > MAX_ALLERGIES {
            return Err(error("allergies", "at most 30 allergens"));
        }
        let mut allergies = Vec::with_capacity(self.allergies.len());
        for allergen in &self.allergies {
            let allergen = allergen.trim().to_lowercase();
            if allergen.is_empty() || allergen.chars().count() > MAX_ALLERGEN_LEN {
                return Err(error("allergies", "each allergen is 1 to 60 characters"));
            }
            if !allergies.contains(&allergen) {
                allergies.push(allergen);
            }
        }
        self.allergies = allergies;
        if let Some(s) = self.suspended
            && s.from > s.until
        {
            return Err(error("suspended", "suspended.from must not be after suspended.until"));
        }
        if let Some(notes) = &self.delivery_notes
            && notes.chars().count() > MAX_NOTES_LEN
        {
            return Err(error("delivery_notes", "delivery_notes are at most 1000 characters"));
        }
        Ok(self)
    }

    pub fn is_suspended_on(&self, date: NaiveDate) -> bool {
        self.suspended.is_some_and(|s| s.from <= date && date <= s.until)
    }

    /// The meals the plan asks for on a local date.
    pub fn meals_on(&self, date: NaiveDate) -> &[Meal] {
        if self.is_suspended_on(date) { &[] } else { self.days.on(day_of(date)) }
    }
}

/// The contract's name of a date's weekday.
pub fn day_of(date: NaiveDate) -> Day {
    Day::ALL.iter().copied().find(|d| d.weekday() == date.weekday()).unwrap_or(Day::Mon)
}

/// The instant a kitchen's cut-off for a day's orders passes.
pub fn cutoff_at<Tz: chrono::TimeZone>(tz: &Tz, date: NaiveDate, cutoff: NaiveTime) -> DateTime<Utc> {
    local_instant(tz, date, cutoff)
}

/// An order already made for one of the days a plan change touches.
#[derive(Debug, Clone, PartialEq)]
pub struct Existing {
    pub id: Uuid,
    pub date: NaiveDate,
    pub meal: Meal,
    pub status: OrderStatus,
    pub cancel_reason: Option<OrderCancel>,
}

/// What a plan change (or the daily run) does to the orders of the days it
/// looks at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reconciled {
    /// New orders, with whether they come after their day's cut-off.
    pub create: Vec<(NaiveDate, Meal, bool)>,
    /// Planned orders to bring in line with the plan (diet, texture...).
    pub update: Vec<Uuid>,
    /// Orders the plan had cancelled, wanted again, with lateness.
    pub restore: Vec<(Uuid, bool)>,
    /// Planned orders the plan no longer asks for, and why.
    pub cancel: Vec<(Uuid, OrderCancel)>,
}

/// Brings the orders of `dates` in step with `plan` (`None`: no plan any
/// more). Before a day's cut-off, orders follow the plan: new meals are
/// ordered, dropped ones cancelled, planned ones updated. After it the
/// kitchen cooks what stands: a meal the plan adds is still ordered (marked
/// late), but nothing is cancelled or changed. A family's cancellation is
/// never undone by a plan change; the plan's own cancellations are. A day
/// the resident is `absent` (in hospital, away, ...) wants no meal, as a
/// suspended one: its orders are cancelled `suspended` and come back with
/// the resident.
pub fn reconcile(
    plan: Option<&MealPlan>,
    dates: &[NaiveDate],
    existing: &[Existing],
    cutoff_passed: impl Fn(NaiveDate) -> bool,
    absent: impl Fn(NaiveDate) -> bool,
) -> Reconciled {
    let mut out = Reconciled::default();
    for &date in dates {
        let passed = cutoff_passed(date);
        let away = absent(date);
        let wanted = if away { &[] } else { plan.map(|p| p.meals_on(date)).unwrap_or(&[]) };
        for meal in wanted {
            match existing.iter().find(|e| e.date == date && e.meal == *meal) {
                None => out.create.push((date, *meal, passed)),
                Some(e) if e.status == OrderStatus::Planned && !passed => out.update.push(e.id),
                Some(e)
                    if e.status == OrderStatus::Cancelled
                        && matches!(e.cancel_reason, Some(OrderCancel::PlanChanged | OrderCancel::Suspended)) =>
                {
                    out.restore.push((e.id, passed))
                }
                Some(_) => {}
            }
        }
        if passed {
            continue;
        }
        for e in existing.iter().filter(|e| e.date == date && e.status == OrderStatus::Planned) {
            if !wanted.contains(&e.meal) {
                let reason = if away || plan.is_some_and(|p| p.is_suspended_on(date)) {
                    OrderCancel::Suspended
                } else {
                    OrderCancel::PlanChanged
                };
                out.cancel.push((e.id, reason));
            }
        }
    }
    out
}

/// One order as the kitchen cooks it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cooked {
    pub resident_id: Uuid,
    pub meal: Meal,
    pub diet: Vec<Diet>,
    pub texture: Texture,
    pub allergies: Vec<String>,
}

/// The diet key of an order with no special diet in the production list.
pub const STANDARD_DIET: &str = "standard";

/// What the kitchen cooks for one meal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = MealProduction)]
pub struct Production {
    pub total: i64,
    /// Portions per diet; an order with several diets counts in each, one
    /// with none under `standard`.
    pub by_diet: BTreeMap<String, i64>,
    pub by_texture: BTreeMap<String, i64>,
    /// Every resident with an allergy, named with all of theirs.
    pub allergies: Vec<Allergy>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = MealAllergy)]
pub struct Allergy {
    pub resident_id: Uuid,
    pub allergens: Vec<String>,
}

/// The production list of a day's orders (cancelled ones left out by the
/// caller), per meal.
pub fn production(orders: &[Cooked]) -> BTreeMap<Meal, Production> {
    let mut meals: BTreeMap<Meal, Production> = BTreeMap::new();
    for order in orders {
        let p = meals.entry(order.meal).or_default();
        p.total += 1;
        if order.diet.is_empty() {
            *p.by_diet.entry(STANDARD_DIET.to_owned()).or_default() += 1;
        }
        for diet in &order.diet {
            *p.by_diet.entry(diet.as_str().to_owned()).or_default() += 1;
        }
        *p.by_texture.entry(order.texture.as_str().to_owned()).or_default() += 1;
        if !order.allergies.is_empty() {
            p.allergies.push(Allergy { resident_id: order.resident_id, allergens: order.allergies.clone() });
        }
    }
    meals
}

impl PartialOrd for Meal {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Meal {
    /// The order of the day.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let rank = |m: &Meal| Meal::ALL.iter().position(|x| x == m);
        rank(self).cmp(&rank(other))
    }
}

/// A stop of a delivery round.
#[derive(Debug, Clone, PartialEq)]
pub struct Stop {
    pub location: Option<Location>,
    pub address: Option<String>,
}

/// Geohash precision of a round's areas: cells of about 1.2 × 0.6 km, a
/// neighbourhood a courier covers on foot.
const AREA_PRECISION: usize = 6;

/// The area a location lies in: its geohash cell.
pub fn area_of(location: &Location) -> String {
    const BASE32: &[u8] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (mut lat, mut lon) = ((-90.0_f64, 90.0_f64), (-180.0_f64, 180.0_f64));
    let mut hash = String::with_capacity(AREA_PRECISION);
    let (mut bits, mut value, mut even) = (0, 0usize, true);
    while hash.len() < AREA_PRECISION {
        let (range, x) = if even { (&mut lon, location.lon) } else { (&mut lat, location.lat) };
        let mid = (range.0 + range.1) / 2.0;
        value <<= 1;
        if x >= mid {
            value |= 1;
            range.0 = mid;
        } else {
            range.1 = mid;
        }
        even = !even;
        bits += 1;
        if bits == 5 {
            hash.push(BASE32[value] as char);
            bits = 0;
            value = 0;
        }
    }
    hash
}

/// The order of a round's stops (indexes into `stops`): grouped by area,
/// the areas nearest the kitchen first, and within an area by distance from
/// the kitchen; stops without a location last, by address. Without the
/// kitchen's location, areas and stops follow their geohash, which keeps
/// neighbours together.
pub fn route(kitchen: Option<&Location>, stops: &[Stop]) -> Vec<usize> {
    let distance = |l: &Location| kitchen.map_or(0.0, |k| k.distance_m(l));
    let mut located: Vec<(String, f64, usize)> = stops
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.location.as_ref().map(|l| (area_of(l), distance(l), i)))
        .collect();
    let mut nearest: BTreeMap<String, f64> = BTreeMap::new();
    for (area, d, _) in &located {
        let n = nearest.entry(area.clone()).or_insert(f64::INFINITY);
        *n = n.min(*d);
    }
    located.sort_by(|a, b| {
        nearest[&a.0]
            .total_cmp(&nearest[&b.0])
            .then_with(|| a.0.cmp(&b.0))
            .then_with(|| a.1.total_cmp(&b.1))
            .then_with(|| a.2.cmp(&b.2))
    });
    let mut unlocated: Vec<usize> =
        stops.iter().enumerate().filter(|(_, s)| s.location.is_none()).map(|(i, _)| i).collect();
    unlocated.sort_by(|a, b| stops[*a].address.cmp(&stops[*b].address).then(a.cmp(b)));
    located.into_iter().map(|(_, _, i)| i).chain(unlocated).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn plan(days: Days) -> MealPlan {
        MealPlan {
            kitchen_id: Uuid::from_u128(1),
            delivery: Delivery::Home,
            days,
            diet: vec![],
            texture: Texture::Regular,
            allergies: vec![],
            funding: MealFunding::Subsidy,
            suspended: None,
            delivery_notes: None,
        }
    }

    fn order(n: u128, d: &str, meal: Meal, status: OrderStatus, reason: Option<OrderCancel>) -> Existing {
        Existing { id: Uuid::from_u128(n), date: date(d), meal, status, cancel_reason: reason }
    }

    #[test]
    fn a_plan_is_normalised_and_checked() {
        let body = serde_json::json!({
            "kitchen_id": Uuid::from_u128(1), "delivery": "home",
            "days": {"mon": ["dinner", "lunch", "lunch"]},
            "diet": ["renal", "diabetic", "renal"], "texture": "iddsi_5",
            "allergies": [" Peanut", "peanut", "Shellfish"], "funding": "subsidy"
        });
        let p: MealPlan = serde_json::from_value(body).unwrap();
        let p = p.normalise().unwrap();
        assert_eq!(p.days.mon, vec![Meal::Lunch, Meal::Dinner]);
        assert_eq!(p.diet, vec![Diet::Diabetic, Diet::Renal]);
        assert_eq!(p.allergies, vec!["peanut", "shellfish"]);
        let unknown = serde_json::json!({"kitchen_id": Uuid::from_u128(1), "delivery": "home", "days": {"xyz": []}, "funding": "subsidy"});
        assert!(serde_json::from_value::<MealPlan>(unknown).is_err());
        let mut bad = p.clone();
        bad.suspended = Some(Suspension { from: date("2026-12-10"), until: date("2026-12-01") });
        assert_eq!(bad.normalise().unwrap_err().field, "suspended");
        let mut bad = p;
        bad.allergies = vec!["  ".into()];
        assert_eq!(bad.normalise().unwrap_err().field, "allergies");
    }

    #[test]
    fn meals_follow_the_weekday_and_stop_while_suspended_inclusive() {
        let mut p = plan(Days { mon: vec![Meal::Lunch], tue: vec![Meal::Lunch, Meal::Dinner], ..Days::default() });
        // 2026-11-30 is a Monday.
        assert_eq!(p.meals_on(date("2026-11-30")), &[Meal::Lunch]);
        assert_eq!(p.meals_on(date("2026-12-01")), &[Meal::Lunch, Meal::Dinner]);
        assert!(p.meals_on(date("2026-12-02")).is_empty());
        p.suspended = Some(Suspension { from: date("2026-12-01"), until: date("2026-12-07") });
        assert!(p.meals_on(date("2026-12-01")).is_empty());
        assert!(p.meals_on(date("2026-12-07")).is_empty(), "until is inclusive");
        assert_eq!(p.meals_on(date("2026-12-08")), &[Meal::Lunch, Meal::Dinner]);
    }

    #[test]
    fn before_the_cutoff_orders_follow_the_plan_after_it_the_kitchen_cooks_what_stands() {
        let p = plan(Days { mon: vec![Meal::Dinner], tue: vec![Meal::Lunch], ..Days::default() });
        let (mon, tue) = (date("2026-11-30"), date("2026-12-01"));
        let existing = vec![
            order(1, "2026-11-30", Meal::Lunch, OrderStatus::Planned, None),
            order(2, "2026-12-01", Meal::Dinner, OrderStatus::Planned, None),
            order(3, "2026-12-01", Meal::Lunch, OrderStatus::Cancelled, Some(OrderCancel::PlanChanged)),
        ];
        // Monday's cut-off has passed, Tuesday's not.
        let r = reconcile(Some(&p), &[mon, tue], &existing, |d| d == mon, |_| false);
        assert_eq!(r.create, vec![(mon, Meal::Dinner, true)], "added after the cut-off: late");
        assert_eq!(r.restore, vec![(Uuid::from_u128(3), false)]);
        assert_eq!(r.cancel, vec![(Uuid::from_u128(2), OrderCancel::PlanChanged)], "Monday's lunch stands");
        assert!(r.update.is_empty());
    }

    #[test]
    fn a_day_the_resident_is_away_wants_no_meal_and_gets_it_back_on_return() {
        let p = plan(Days { mon: vec![Meal::Lunch], tue: vec![Meal::Lunch], ..Days::default() });
        let (mon, tue) = (date("2026-11-30"), date("2026-12-01"));
        let existing = vec![
            order(1, "2026-11-30", Meal::Lunch, OrderStatus::Planned, None),
            order(2, "2026-12-01", Meal::Lunch, OrderStatus::Planned, None),
        ];
        let r = reconcile(Some(&p), &[mon, tue], &existing, |_| false, |d| d == tue);
        assert_eq!(r.cancel, vec![(Uuid::from_u128(2), OrderCancel::Suspended)]);
        assert!(r.create.is_empty());
        let back = vec![order(2, "2026-12-01", Meal::Lunch, OrderStatus::Cancelled, Some(OrderCancel::Suspended))];
        let r = reconcile(Some(&p), &[tue], &back, |_| false, |_| false);
        assert_eq!(r.restore, vec![(Uuid::from_u128(2), false)]);
    }

    #[test]
    fn a_family_cancellation_survives_a_plan_change_and_a_suspension_cancels_as_suspended() {
        let mut p = plan(Days { tue: vec![Meal::Lunch, Meal::Dinner], ..Days::default() });
        let tue = date("2026-12-01");
        let existing = vec![
            order(1, "2026-12-01", Meal::Lunch, OrderStatus::Cancelled, Some(OrderCancel::Family)),
            order(2, "2026-12-01", Meal::Dinner, OrderStatus::Planned, None),
        ];
        let r = reconcile(Some(&p), &[tue], &existing, |_| false, |_| false);
        assert!(r.create.is_empty() && r.restore.is_empty() && r.cancel.is_empty());
        assert_eq!(r.update, vec![Uuid::from_u128(2)]);
        p.suspended = Some(Suspension { from: tue, until: tue });
        let r = reconcile(Some(&p), &[tue], &existing, |_| false, |_| false);
        assert_eq!(r.cancel, vec![(Uuid::from_u128(2), OrderCancel::Suspended)]);
        let r = reconcile(None, &[tue], &existing, |_| false, |_| false);
        assert_eq!(r.cancel, vec![(Uuid::from_u128(2), OrderCancel::PlanChanged)], "plan removed");
    }

    #[test]
    fn the_cutoff_is_local_time_of_the_kitchen() {
        let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
        let at = cutoff_at(&tz, date("2026-11-30"), DEFAULT_CUTOFF);
        assert_eq!(at.to_rfc3339(), "2026-11-30T01:00:00+00:00");
    }

    #[test]
    fn production_counts_diets_textures_and_names_every_allergy() {
        let r = |n| Uuid::from_u128(n);
        let cooked = |n, meal, diet: Vec<Diet>, texture, allergies: &[&str]| Cooked {
            resident_id: r(n),
            meal,
            diet,
            texture,
            allergies: allergies.iter().map(|a| a.to_string()).collect(),
        };
        let list = production(&[
            cooked(1, Meal::Lunch, vec![Diet::Diabetic, Diet::LowSodium], Texture::Regular, &["peanut"]),
            cooked(2, Meal::Lunch, vec![], Texture::Iddsi5, &[]),
            cooked(3, Meal::Lunch, vec![Diet::Diabetic], Texture::Iddsi5, &["egg", "milk"]),
            cooked(1, Meal::Dinner, vec![], Texture::Regular, &[]),
        ]);
        let lunch = &list[&Meal::Lunch];
        assert_eq!(lunch.total, 3);
        assert_eq!(lunch.by_diet["diabetic"], 2);
        assert_eq!(lunch.by_diet["low_sodium"], 1);
        assert_eq!(lunch.by_diet[STANDARD_DIET], 1);
        assert_eq!(lunch.by_texture["iddsi_5"], 2);
        assert_eq!(lunch.allergies.len(), 2);
        assert_eq!(lunch.allergies[1].allergens, vec!["egg", "milk"]);
        assert_eq!(list[&Meal::Dinner].total, 1);
        assert_eq!(list.keys().copied().collect::<Vec<_>>(), vec![Meal::Lunch, Meal::Dinner]);
    }

    #[test]
    fn geohash_cells_match_the_reference_encoding() {
        // The classic example: 57.64911, 10.40744 → u4pruy.
        assert_eq!(area_of(&Location { lat: 57.64911, lon: 10.40744 }), "u4pruy");
        assert_eq!(area_of(&Location { lat: 29.8683, lon: 121.5440 }).len(), AREA_PRECISION);
    }

    #[test]
    fn a_round_keeps_neighbours_together_nearest_area_first_unlocated_last() {
        let kitchen = Location { lat: 29.8683, lon: 121.5440 };
        let at = |lat, lon| Stop { location: Some(Location { lat, lon }), address: None };
        let stops = vec![
            Stop { location: None, address: Some("B street".into()) },
            at(29.9500, 121.6500), // far area, ~14 km
            at(29.8690, 121.5445), // next to the kitchen
            at(29.9502, 121.6502), // the far area's neighbour
            Stop { location: None, address: Some("A street".into()) },
            at(29.8700, 121.5450), // near area, a little further
        ];
        let order = route(Some(&kitchen), &stops);
        assert_eq!(order, vec![2, 5, 1, 3, 4, 0]);
        assert_eq!(route(None, &stops).len(), stops.len());
    }

    #[test]
    fn the_wire_names_are_the_names() {
        fn same<T: Serialize + Copy>(all: &[T], name: impl Fn(T) -> &'static str) {
            for v in all {
                assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(name(*v)));
            }
        }
        same(&Meal::ALL, |v| v.as_str());
        same(&Diet::ALL, |v| v.as_str());
        same(&Texture::ALL, |v| v.as_str());
        same(&Outcome::ALL, |v| v.as_str());
        same(&OrderStatus::ALL, |v| v.as_str());
        same(&OrderCancel::ALL, |v| v.as_str());
        assert_eq!(serde_json::from_value::<Texture>(serde_json::json!("iddsi_5")).unwrap(), Texture::Iddsi5);
    }

    #[test]
    fn only_a_meal_handed_over_is_evidence_of_a_meal() {
        assert!(Outcome::HandedOver.is_meal_evidence());
        assert!(!Outcome::LeftAtDoor.is_meal_evidence());
        assert_eq!(Outcome::LeftAtDoor.status(), OrderStatus::Delivered);
        assert_eq!(Outcome::NoAnswer.status(), OrderStatus::NoAnswer);
    }
}

/// The OpenAPI schemas of meal fields whose bounds a Rust type does not
/// carry, for `#[schema(schema_with = ...)]` on the domain's and the
/// store's types (which may not reach up into the API).
pub mod schema {
    use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
    use utoipa::openapi::{Object, Schema};

    use super::{Meal, Texture};

    /// Some character that is not white space (as `str::trim` has it): the
    /// API's `NOT_BLANK`, for text the plan trims and refuses blank.
    const NOT_BLANK: &str =
        concat!(r"[^", r"\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000", "]");

    fn string() -> ObjectBuilder {
        ObjectBuilder::new().schema_type(Type::String)
    }

    fn number(min: f64, max: f64) -> ObjectBuilder {
        ObjectBuilder::new().schema_type(Type::Number).minimum(Some(min)).maximum(Some(max))
    }

    fn closed() -> Option<AdditionalProperties<Schema>> {
        Some(AdditionalProperties::FreeForm(false))
    }

    /// Where a kitchen or a home is (WGS 84 degrees), or null while unknown.
    pub fn location_or_null() -> Schema {
        let location = ObjectBuilder::new()
            .property("lat", number(-90.0, 90.0))
            .property("lon", number(-180.0, 180.0))
            .required("lat")
            .required("lon")
            .additional_properties(closed());
        let null = ObjectBuilder::new().schema_type(Type::Null);
        Schema::OneOf(OneOfBuilder::new().item(location).item(null).build())
    }

    /// The price of each meal: an amount from 0 to 1,000,000.
    pub fn prices() -> Object {
        let mut prices = ObjectBuilder::new().additional_properties(closed());
        for meal in Meal::names() {
            prices = prices.property(meal, number(0.0, 1_000_000.0));
        }
        prices.build()
    }

    /// The texture of a plan's meals, `regular` unless given.
    pub fn texture() -> Object {
        string().enum_values(Some(Texture::names())).default(Some("regular".into())).build()
    }

    /// A plan's allergies: at most 30, each 1 to 60 characters, not blank.
    pub fn allergies() -> utoipa::openapi::Array {
        let allergy = string().min_length(Some(1)).max_length(Some(60)).pattern(Some(NOT_BLANK));
        ArrayBuilder::new().items(allergy).max_items(Some(30)).build()
    }
}
