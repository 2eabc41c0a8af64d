//! The vocabulary of care services (FHIR CarePlan, ServiceRequest,
//! Encounter, Claim): services, funders, visits and their states, the
//! electronic visit verification record, and the pure logic under them —
//! the visit status machine, plan schedules turned into slots in the
//! resident's timezone, the distance from home, EVV exceptions, lateness and
//! statement lines. Values and a clock in, decisions out; no I/O.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Offset, TimeZone, Utc, Weekday};
use eldercare_domain::names;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Role;
use super::responder::{Access, Responder};

names!(
    /// The end of a visit record an amendment corrects.
    AmendField { Start = "start", End = "end" }
);

names!(
    /// What kind of care a service is.
    Category {
        PersonalCare = "personal_care",
        Domestic = "domestic",
        Meal = "meal",
        Medical = "medical",
        Companionship = "companionship",
        WelfareCheck = "welfare_check",
        Respite = "respite",
        Rehabilitation = "rehabilitation",
    }
);

names!(
    /// What a service's price is for: each visit, or each hour delivered.
    Unit { Visit = "visit", Hour = "hour" }
);

names!(
    /// Who pays. `institution` is the provider's own cost (a dispatched
    /// welfare check), in no payer's statement.
    Funding { LtcInsurance = "ltc_insurance", Subsidy = "subsidy", SelfPay = "self_pay", Institution = "institution" }
);

names!(
    /// Where a visit came from.
    Origin {
        Plan = "plan",
        Manual = "manual",
        Request = "request",
        Alert = "alert",
        /// The check planned after a hospital discharge.
        Discharge = "discharge",
    }
);

names!(
    VisitStatus {
        Requested = "requested",
        Scheduled = "scheduled",
        Assigned = "assigned",
        CheckedIn = "checked_in",
        Completed = "completed",
        Cancelled = "cancelled",
        Missed = "missed",
    }
);

names!(
    CancelReason {
        ClientRefused = "client_refused",
        ClientNotHome = "client_not_home",
        ClientHospitalised = "client_hospitalised",
        CarerUnavailable = "carer_unavailable",
        PlanChanged = "plan_changed",
        Other = "other",
    }
);

names!(
    /// How a carer proved they were at the door.
    Method { Gps = "gps", Qr = "qr", Nfc = "nfc", Phone = "phone" }
);

names!(
    /// A tag fixed in a home.
    TagKind { Qr = "qr", Nfc = "nfc" }
);

names!(
    /// Why an EVV record cannot be trusted as it stands.
    Exception {
        FarFromHome = "far_from_home",
        LateStart = "late_start",
        ShortVisit = "short_visit",
        ManualEntry = "manual_entry",
        OfflineEntry = "offline_entry",
        /// A follow-up call heard that the visit did not happen: out of
        /// claims until the civil-affairs bureau resolves it.
        Disputed = "disputed",
    }
);

/// The code of the service every institution has, which alerts dispatch.
pub const WELFARE_CHECK: &str = "WELFARE-CHECK";
/// A check-in this long after the scheduled start is late.
pub const LATE_AFTER: Duration = Duration::minutes(15);
/// A visit shorter than this share of the service's duration is short.
pub const SHORT_SHARE: f64 = 0.75;
/// How far back an offline phone's own time is believed.
pub const OFFLINE_WINDOW: Duration = Duration::hours(24);
/// How many days ahead a plan's visits are generated, today included.
pub const PLAN_DAYS: i64 = 14;

/// What is done to a visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Schedule,
    Assign,
    CheckIn,
    CheckOut,
    Cancel,
    /// Nobody checked in within the grace.
    Miss,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the visit is {status}: it cannot be {action}")]
pub struct IllegalTransition {
    pub status: &'static str,
    pub action: &'static str,
}

impl Action {
    fn done(&self) -> &'static str {
        match self {
            Action::Schedule => "scheduled",
            Action::Assign => "assigned",
            Action::CheckIn => "checked in",
            Action::CheckOut => "checked out",
            Action::Cancel => "cancelled",
            Action::Miss => "missed",
        }
    }
}

impl VisitStatus {
    /// The status after `action`, or why it cannot happen. A repeated
    /// check-in or check-out stays where it is (the caller answers it as
    /// already done); a missed visit can still be checked in, late.
    pub fn after(self, action: Action) -> Result<VisitStatus, IllegalTransition> {
        use VisitStatus as S;
        let next = match (self, action) {
            (S::Requested, Action::Schedule) => S::Scheduled,
            (S::Scheduled | S::Assigned, Action::Schedule) => self,
            (S::Scheduled | S::Assigned, Action::Assign) => S::Assigned,
            // Someone is sent late: it stays missed until they check in.
            (S::Missed, Action::Assign) => S::Missed,
            (S::Scheduled | S::Assigned | S::Missed, Action::CheckIn) => S::CheckedIn,
            (S::CheckedIn, Action::CheckIn) => S::CheckedIn,
            (S::CheckedIn, Action::CheckOut) => S::Completed,
            (S::Completed, Action::CheckOut) => S::Completed,
            (S::Requested | S::Scheduled | S::Assigned | S::Missed, Action::Cancel) => S::Cancelled,
            (S::Scheduled | S::Assigned, Action::Miss) => S::Missed,
            _ => return Err(IllegalTransition { status: self.as_str(), action: action.done() }),
        };
        Ok(next)
    }

    /// Still to be delivered: the plan may cancel or replace it.
    pub fn is_pending(&self) -> bool {
        matches!(self, VisitStatus::Requested | VisitStatus::Scheduled | VisitStatus::Assigned)
    }
}

/// A point on the earth, WGS 84.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Location {
    #[schema(minimum = -90, maximum = 90)]
    pub lat: f64,
    #[schema(minimum = -180, maximum = 180)]
    pub lon: f64,
}

impl Location {
    /// Refuses what is not a place on the earth, naming the field.
    pub fn check(lat: f64, lon: f64) -> Result<Location, &'static str> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err("lat");
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err("lon");
        }
        Ok(Location { lat, lon })
    }

    /// Great-circle distance in metres (haversine, mean earth radius).
    pub fn distance_m(&self, other: &Location) -> f64 {
        const EARTH_RADIUS_M: f64 = 6_371_008.8;
        let (phi1, phi2) = (self.lat.to_radians(), other.lat.to_radians());
        let dphi = (other.lat - self.lat).to_radians();
        let dlambda = (other.lon - self.lon).to_radians();
        let a = (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
    }
}

/// One item of a care plan: a service, its weekly schedule and its funder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanItem {
    pub service_code: String,
    pub funding: Funding,
    #[serde(deserialize_with = "super::wire::required_object")]
    pub schedule: Schedule,
    #[serde(default, skip_serializing_if = "Option::is_none", serialize_with = "whole_if_whole")]
    #[schema(minimum = 0, nullable = false)]
    pub hours_per_month: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PlanSchedule)]
pub struct Schedule {
    pub days: Vec<Day>,
    /// Local time of the resident, `HH:MM`.
    pub start: String,
}

names!(
    Day { Mon = "mon", Tue = "tue", Wed = "wed", Thu = "thu", Fri = "fri", Sat = "sat", Sun = "sun" }
);

impl Day {
    pub fn of(weekday: Weekday) -> Day {
        match weekday {
            Weekday::Mon => Day::Mon,
            Weekday::Tue => Day::Tue,
            Weekday::Wed => Day::Wed,
            Weekday::Thu => Day::Thu,
            Weekday::Fri => Day::Fri,
            Weekday::Sat => Day::Sat,
            Weekday::Sun => Day::Sun,
        }
    }

    pub fn weekday(&self) -> Weekday {
        match self {
            Day::Mon => Weekday::Mon,
            Day::Tue => Weekday::Tue,
            Day::Wed => Weekday::Wed,
            Day::Thu => Weekday::Thu,
            Day::Fri => Weekday::Fri,
            Day::Sat => Weekday::Sat,
            Day::Sun => Weekday::Sun,
        }
    }
}

/// Hours as they were written: `8`, not `8.0`, when whole.
pub fn whole_if_whole<S: serde::Serializer>(value: &Option<f64>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => serializer.serialize_i64(*v as i64),
        Some(v) => serializer.serialize_f64(*v),
        None => serializer.serialize_none(),
    }
}

/// A plan item that cannot be, with the field it is about.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PlanError {
    pub field: String,
    pub message: String,
}

impl PlanItem {
    /// The schedule's start as a time of day; checks the item, naming the
    /// field of item `i`.
    pub fn check(&self, i: usize) -> Result<NaiveTime, PlanError> {
        let error =
            |field: &str, message: &str| PlanError { field: format!("items[{i}].{field}"), message: message.into() };
        if self.schedule.days.is_empty() {
            return Err(error("schedule.days", "names at least one day"));
        }
        let start = (self.schedule.start.len() == 5)
            .then(|| NaiveTime::parse_from_str(&self.schedule.start, "%H:%M").ok())
            .flatten()
            .ok_or_else(|| error("schedule.start", "must be a time of day as HH:MM"))?;
        if let Some(hours) = self.hours_per_month
            && (!hours.is_finite() || !(0.0..=744.0).contains(&hours))
        {
            return Err(error("hours_per_month", "must be between 0 and 744"));
        }
        if self.funding == Funding::Institution {
            return Err(error("funding", "a plan authorises a payer: ltc_insurance, subsidy or self_pay"));
        }
        Ok(start)
    }
}

/// The instant a local wall-clock time names in `tz`: the earlier one when
/// the clocks go back, and the first instant after the gap when they go
/// forward (a 02:30 visit on the spring-forward night happens at 03:30).
pub fn local_instant<Tz: TimeZone>(tz: &Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let naive = date.and_time(time);
    if let Some(at) = tz.from_local_datetime(&naive).earliest() {
        return at.with_timezone(&Utc);
    }
    // In the gap: read the wall-clock time with the offset in force just
    // before it, which lands as far past the gap as it was into it.
    let before = tz.from_local_datetime(&(naive - Duration::hours(3))).earliest();
    let offset = before.map(|b| b.offset().fix().local_minus_utc()).unwrap_or(0);
    Utc.from_utc_datetime(&(naive - Duration::seconds(i64::from(offset))))
}

/// The slots a plan asks for: each item's days in the coming
/// [`PLAN_DAYS`] local days, today included, still ahead of `now`, with the
/// index of the item they come from, in time order.
pub fn plan_slots<Tz: TimeZone>(
    items: &[(PlanItem, NaiveTime)],
    tz: &Tz,
    now: DateTime<Utc>,
) -> Vec<(usize, DateTime<Utc>)> {
    let today = now.with_timezone(tz).date_naive();
    let mut slots = Vec::new();
    for offset in 0..PLAN_DAYS {
        let date = today + Duration::days(offset);
        for (i, (item, start)) in items.iter().enumerate() {
            if item.schedule.days.iter().any(|d| d.weekday() == date.weekday()) {
                let at = local_instant(tz, date, *start);
                if at > now {
                    slots.push((i, at));
                }
            }
        }
    }
    slots.sort_by_key(|(i, at)| (*at, *i));
    slots
}

/// The local date of an instant in a zone named by IANA (UTC when the name
/// is unknown).
pub fn local_date(timezone: &str, at: DateTime<Utc>) -> NaiveDate {
    match timezone.parse::<chrono_tz::Tz>() {
        Ok(tz) => at.with_timezone(&tz).date_naive(),
        Err(_) => at.date_naive(),
    }
}

/// Where and how a carer stood at the door, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DoorRecord {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: f64,
    pub method: Method,
    /// from the resident's location; null when the home has none
    #[schema(required = true)]
    pub distance_m: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub tag: Option<String>,
    /// The backend's clock when the record arrived.
    pub received_at: DateTime<Utc>,
    /// an offline phone's own time, which the record uses
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub device_ts: Option<DateTime<Utc>>,
}

impl DoorRecord {
    /// The time the visit record uses: the phone's when it was offline,
    /// the backend's otherwise.
    pub fn at(&self) -> DateTime<Utc> {
        self.device_ts.unwrap_or(self.received_at)
    }

    /// Farther from home than the phone's own uncertainty explains.
    pub fn is_far(&self, limit_m: f64) -> bool {
        self.distance_m.is_some_and(|d| d - self.accuracy_m > limit_m)
    }
}

/// What the EVV exceptions of a visit are judged from.
#[derive(Debug, Clone)]
pub struct EvvFacts<'a> {
    pub scheduled_start: Option<DateTime<Utc>>,
    pub duration_minutes: i32,
    pub check_in: Option<&'a DoorRecord>,
    pub check_out: Option<&'a DoorRecord>,
    pub amended: bool,
    pub far_from_home_m: f64,
}

/// The exceptions of a visit record, in the contract's order.
pub fn exceptions(facts: &EvvFacts<'_>) -> Vec<Exception> {
    let mut out = Vec::new();
    let doors = [facts.check_in, facts.check_out];
    if doors.iter().flatten().any(|d| d.is_far(facts.far_from_home_m)) {
        out.push(Exception::FarFromHome);
    }
    if let (Some(scheduled), Some(check_in)) = (facts.scheduled_start, facts.check_in)
        && check_in.at() > scheduled + LATE_AFTER
    {
        out.push(Exception::LateStart);
    }
    if let (Some(check_in), Some(check_out)) = (facts.check_in, facts.check_out) {
        let seconds = (check_out.at() - check_in.at()).num_seconds() as f64;
        if seconds < SHORT_SHARE * f64::from(facts.duration_minutes) * 60.0 {
            out.push(Exception::ShortVisit);
        }
    }
    if facts.amended {
        out.push(Exception::ManualEntry);
    }
    if doors.iter().flatten().any(|d| d.device_ts.is_some()) {
        out.push(Exception::OfflineEntry);
    }
    out
}

/// Why an offline phone's own time is refused, if it is.
pub fn check_device_ts(ts: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), &'static str> {
    if ts > now {
        return Err("ts is ahead of the backend's clock");
    }
    if now - ts > OFFLINE_WINDOW {
        return Err("ts is more than 24 hours old");
    }
    Ok(())
}

/// Whole minutes between two instants, rounded to the nearest.
pub fn minutes_between(start: DateTime<Utc>, end: DateTime<Utc>) -> i64 {
    let seconds = (end - start).num_seconds().max(0);
    (seconds + 30) / 60
}

/// What the lateness sweep does about one visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lateness {
    /// Raise `visit_late` now.
    pub late: bool,
    /// Mark the visit missed and raise `visit_missed` now.
    pub missed: bool,
}

/// Judges a visit nobody has checked in to yet: late 15 minutes after its
/// start, missed after the institution's grace; each once.
pub fn lateness(
    status: VisitStatus,
    scheduled_start: DateTime<Utc>,
    grace: Duration,
    late_alerted: bool,
    now: DateTime<Utc>,
) -> Lateness {
    let waiting = matches!(status, VisitStatus::Scheduled | VisitStatus::Assigned);
    Lateness {
        late: waiting && !late_alerted && now >= scheduled_start + LATE_AFTER,
        missed: waiting && now >= scheduled_start + grace,
    }
}

/// A verified-or-not delivered visit, as a statement weighs it.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub visit_id: Uuid,
    pub start: DateTime<Utc>,
    pub minutes: i64,
    pub verified: bool,
    pub unit: Unit,
    pub unit_price: f64,
}

names!(
    Excluded { Unverified = "unverified", OverAuthorised = "over_authorised" }
);

/// One resident's line of a statement.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Line {
    pub visits: i64,
    pub minutes: i64,
    pub amount: f64,
    pub excluded: Vec<(Uuid, Excluded)>,
}

/// The amount one visit pays: per visit, or the minutes ÷ 60 at the hourly
/// price, in cents.
pub fn amount(unit: Unit, unit_price: f64, minutes: i64) -> f64 {
    let raw = match unit {
        Unit::Visit => unit_price,
        Unit::Hour => unit_price * minutes as f64 / 60.0,
    };
    (raw * 100.0).round() / 100.0
}

/// Weighs a resident's delivered visits of one funder and month, in time
/// order: unverified ones are excluded, and so is every verified one that
/// would take the minutes past those authorised (`None`: no cap).
pub fn statement_line(mut visits: Vec<Delivered>, authorised_minutes: Option<i64>) -> Line {
    visits.sort_by_key(|v| (v.start, v.visit_id));
    let mut line = Line::default();
    for v in visits {
        if !v.verified {
            line.excluded.push((v.visit_id, Excluded::Unverified));
        } else if authorised_minutes.is_some_and(|cap| line.minutes + v.minutes > cap) {
            line.excluded.push((v.visit_id, Excluded::OverAuthorised));
        } else {
            line.visits += 1;
            line.minutes += v.minutes;
            line.amount = ((line.amount + amount(v.unit, v.unit_price, v.minutes)) * 100.0).round() / 100.0;
        }
    }
    line
}

/// The first word of a name: what a family reads of a carer.
pub fn first_name(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or("")
}

/// Whether someone in this role goes to the door: a caregiver, or care
/// staff who can stand in. Only they have assignments, and only they may be
/// sent.
pub fn delivers_visits(role: Role) -> bool {
    matches!(role, Role::Caregiver | Role::Staff | Role::Admin)
}

/// What of the resident's responder sheet goes with a visit: all of it on a
/// visit dispatched from an alert or planned after a hospital discharge
/// (to its carer and to care staff: new diagnoses, allergies and
/// medication are what the carer checks on), how to get in on any other
/// (to its carer only); nothing to anyone else.
pub fn sheet_at_the_door(
    origin: Origin,
    assigned: bool,
    may_care: bool,
    sheet: &Responder,
) -> (Option<Responder>, Option<Access>) {
    match origin {
        Origin::Alert | Origin::Discharge if assigned || may_care => (Some(sheet.clone()), None),
        _ if assigned => (None, Some(sheet.sheet.access.clone())),
        _ => (None, None),
    }
}

/// The tag a check-in by this method must show: one registered for the
/// home, for `qr` and `nfc`; none for the others.
pub fn tag_kind(method: Method) -> Option<TagKind> {
    match method {
        Method::Qr => Some(TagKind::Qr),
        Method::Nfc => Some(TagKind::Nfc),
        Method::Gps | Method::Phone => None,
    }
}

/// Who pays for a service a family asks for: as the resident's plan pays
/// that service (`planned`), else the resident when the service takes
/// self-pay, else its first funder.
pub fn requested_funding(planned: Option<Funding>, service: &[Funding]) -> Funding {
    planned
        .or_else(|| service.contains(&Funding::SelfPay).then_some(Funding::SelfPay))
        .or_else(|| service.first().copied())
        .unwrap_or(Funding::SelfPay)
}

/// A bound of a list of visits: an instant, or a local date of the resident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    At(DateTime<Utc>),
    Date(NaiveDate),
}

impl Bound {
    /// An instant (RFC 3339) or a date (YYYY-MM-DD).
    pub fn parse(text: &str) -> Option<Bound> {
        if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Some(Bound::Date(date));
        }
        text.parse().ok().map(Bound::At)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn item(days: &[Day], start: &str) -> (PlanItem, NaiveTime) {
        let item = PlanItem {
            service_code: "HC-BATH".into(),
            funding: Funding::LtcInsurance,
            schedule: Schedule { days: days.to_vec(), start: start.into() },
            hours_per_month: Some(8.0),
        };
        let time = item.check(0).unwrap();
        (item, time)
    }

    #[test]
    fn the_status_machine_allows_the_contract_s_paths_and_refuses_the_rest() {
        use VisitStatus as S;
        let path = [Action::Schedule, Action::Assign, Action::CheckIn, Action::CheckOut];
        let mut status = S::Requested;
        for action in path {
            status = status.after(action).unwrap();
        }
        assert_eq!(status, S::Completed);
        assert_eq!(
            S::Assigned.after(Action::CheckOut).unwrap_err().to_string(),
            "the visit is assigned: it cannot be checked out"
        );
        assert!(S::Cancelled.after(Action::CheckIn).is_err());
        assert!(S::Completed.after(Action::Cancel).is_err());
        assert!(S::Requested.after(Action::Assign).is_err(), "a request is scheduled before anyone is sent");
        assert!(S::Requested.after(Action::CheckIn).is_err());
        assert_eq!(S::Missed.after(Action::CheckIn), Ok(S::CheckedIn), "a missed visit can still be checked in");
        assert_eq!(S::CheckedIn.after(Action::CheckIn), Ok(S::CheckedIn));
        assert_eq!(S::Assigned.after(Action::Miss), Ok(S::Missed));
        assert!(S::CheckedIn.after(Action::Miss).is_err());
        assert!(S::CheckedIn.after(Action::Cancel).is_err());
        for status in S::ALL {
            assert_eq!(S::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }

    #[test]
    fn distance_is_the_great_circle_one() {
        let home = Location::check(29.8683, 121.5440).unwrap();
        assert_eq!(home.distance_m(&home), 0.0);
        // One thousandth of a degree of latitude is about 111 m.
        let north = Location { lat: 29.8693, lon: 121.5440 };
        assert!((home.distance_m(&north) - 111.2).abs() < 0.5, "{}", home.distance_m(&north));
        // Ningbo to Shanghai, about 150 km.
        let shanghai = Location { lat: 31.2304, lon: 121.4737 };
        let d = home.distance_m(&shanghai);
        assert!((150_000.0..153_000.0).contains(&d), "{d}");
        assert_eq!(Location::check(90.5, 0.0), Err("lat"));
        assert_eq!(Location::check(0.0, -180.5), Err("lon"));
        assert_eq!(Location::check(f64::NAN, 0.0), Err("lat"));
    }

    fn door(received: &str, distance: f64, accuracy: f64) -> DoorRecord {
        DoorRecord {
            lat: 0.0,
            lon: 0.0,
            accuracy_m: accuracy,
            method: Method::Gps,
            distance_m: Some(distance),
            tag: None,
            received_at: at(received),
            device_ts: None,
        }
    }

    #[test]
    fn exceptions_follow_the_contract_s_thresholds() {
        let on_time = door("2026-11-30T09:10:00Z", 30.0, 10.0);
        let out = door("2026-11-30T10:20:00Z", 30.0, 10.0);
        let facts = EvvFacts {
            scheduled_start: Some(at("2026-11-30T09:00:00Z")),
            duration_minutes: 60,
            check_in: Some(&on_time),
            check_out: Some(&out),
            amended: false,
            far_from_home_m: 200.0,
        };
        assert_eq!(exceptions(&facts), vec![]);
        // 15 minutes late is still on time; a second more is not.
        let at_15 = door("2026-11-30T09:15:00Z", 30.0, 10.0);
        assert_eq!(exceptions(&EvvFacts { check_in: Some(&at_15), ..facts.clone() }), vec![]);
        let after_15 = door("2026-11-30T09:15:01Z", 30.0, 10.0);
        assert_eq!(exceptions(&EvvFacts { check_in: Some(&after_15), ..facts.clone() }), vec![Exception::LateStart]);
        // Far: distance minus accuracy over 200 m.
        let blurry = door("2026-11-30T09:10:00Z", 350.0, 200.0);
        assert_eq!(exceptions(&EvvFacts { check_in: Some(&blurry), ..facts.clone() }), vec![]);
        let far = door("2026-11-30T09:10:00Z", 350.0, 100.0);
        assert_eq!(exceptions(&EvvFacts { check_in: Some(&far), ..facts.clone() }), vec![Exception::FarFromHome]);
        // 45 of 60 minutes is 75 %: enough; 44 is short.
        let out_45 = door("2026-11-30T09:55:00Z", 30.0, 10.0);
        assert_eq!(exceptions(&EvvFacts { check_out: Some(&out_45), ..facts.clone() }), vec![]);
        let out_44 = door("2026-11-30T09:54:00Z", 30.0, 10.0);
        assert_eq!(exceptions(&EvvFacts { check_out: Some(&out_44), ..facts.clone() }), vec![Exception::ShortVisit]);
        let offline = DoorRecord { device_ts: Some(at("2026-11-30T09:05:00Z")), ..on_time.clone() };
        assert_eq!(
            exceptions(&EvvFacts { check_in: Some(&offline), amended: true, ..facts.clone() }),
            vec![Exception::ManualEntry, Exception::OfflineEntry]
        );
        // A home without a location cannot be far from it.
        let nowhere = DoorRecord { distance_m: None, ..far };
        assert_eq!(exceptions(&EvvFacts { check_in: Some(&nowhere), ..facts }), vec![]);
    }

    #[test]
    fn an_offline_phone_s_time_is_believed_for_24_hours_and_never_ahead() {
        let now = at("2026-11-30T12:00:00Z");
        assert!(check_device_ts(at("2026-11-30T11:00:00Z"), now).is_ok());
        assert!(check_device_ts(at("2026-11-29T12:00:00Z"), now).is_ok());
        assert!(check_device_ts(at("2026-11-29T11:59:59Z"), now).is_err());
        assert!(check_device_ts(at("2026-11-30T12:00:01Z"), now).is_err());
    }

    #[test]
    fn plan_slots_are_local_times_still_ahead_for_fourteen_days() {
        let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
        // Monday 2026-11-30, 10:00 in Shanghai.
        let now = at("2026-11-30T02:00:00Z");
        let slots = plan_slots(&[item(&[Day::Mon, Day::Fri], "09:00"), item(&[Day::Mon], "11:00")], &tz, now);
        let times: Vec<String> = slots.iter().map(|(i, t)| format!("{i} {}", t.to_rfc3339())).collect();
        // Today 09:00 has passed, today 11:00 has not; 14 days reach Sunday 13 December.
        assert_eq!(
            times,
            [
                "1 2026-11-30T03:00:00+00:00",
                "0 2026-12-04T01:00:00+00:00",
                "0 2026-12-07T01:00:00+00:00",
                "1 2026-12-07T03:00:00+00:00",
                "0 2026-12-11T01:00:00+00:00",
            ]
        );
    }

    #[test]
    fn plan_slots_keep_the_local_time_across_daylight_saving_changes() {
        let tz: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        // Clocks go back on Sunday 25 October 2026, forward on 29 March 2026.
        let slots = plan_slots(&[item(&[Day::Sat, Day::Sun], "09:00")], &tz, at("2026-10-23T12:00:00Z"));
        let utc: Vec<String> = slots.iter().take(2).map(|(_, t)| t.to_rfc3339()).collect();
        assert_eq!(utc, ["2026-10-24T07:00:00+00:00", "2026-10-25T08:00:00+00:00"]);
        let spring = plan_slots(&[item(&[Day::Sun], "02:30")], &tz, at("2026-03-27T12:00:00Z"));
        assert_eq!(spring[0].1, at("2026-03-29T01:30:00Z"), "02:30 does not exist that night: 03:30 CEST");
        let autumn = plan_slots(&[item(&[Day::Sun], "02:30")], &tz, at("2026-10-23T12:00:00Z"));
        assert_eq!(autumn[0].1, at("2026-10-25T00:30:00Z"), "02:30 happens twice: the first one");
    }

    #[test]
    fn plan_items_are_checked_field_by_field() {
        let (mut bad, _) = item(&[Day::Mon], "09:00");
        bad.schedule.start = "9:00".into();
        assert_eq!(bad.check(2).unwrap_err().field, "items[2].schedule.start");
        bad.schedule.start = "25:00".into();
        assert!(bad.check(0).is_err());
        bad.schedule.start = "09:00".into();
        bad.schedule.days.clear();
        assert_eq!(bad.check(0).unwrap_err().field, "items[0].schedule.days");
        let (mut bad, _) = item(&[Day::Mon], "09:00");
        bad.hours_per_month = Some(-1.0);
        assert_eq!(bad.check(0).unwrap_err().field, "items[0].hours_per_month");
    }

    #[test]
    fn lateness_alerts_once_and_misses_after_the_grace() {
        let start = at("2026-11-30T09:00:00Z");
        let grace = Duration::minutes(30);
        let judge = |status, late_alerted, now: &str| lateness(status, start, grace, late_alerted, at(now));
        assert_eq!(
            judge(VisitStatus::Assigned, false, "2026-11-30T09:14:59Z"),
            Lateness { late: false, missed: false }
        );
        assert_eq!(
            judge(VisitStatus::Scheduled, false, "2026-11-30T09:15:00Z"),
            Lateness { late: true, missed: false }
        );
        assert_eq!(judge(VisitStatus::Assigned, true, "2026-11-30T09:20:00Z"), Lateness { late: false, missed: false });
        assert_eq!(judge(VisitStatus::Assigned, true, "2026-11-30T09:30:00Z"), Lateness { late: false, missed: true });
        assert_eq!(
            judge(VisitStatus::CheckedIn, false, "2026-11-30T10:00:00Z"),
            Lateness { late: false, missed: false }
        );
        assert_eq!(
            judge(VisitStatus::Requested, false, "2026-11-30T10:00:00Z"),
            Lateness { late: false, missed: false }
        );
    }

    #[test]
    fn statements_count_verified_visits_in_time_order_up_to_the_authorised_hours() {
        let visit = |n: u128, start: &str, minutes, verified| Delivered {
            visit_id: Uuid::from_u128(n),
            start: at(start),
            minutes,
            verified,
            unit: Unit::Hour,
            unit_price: 80.0,
        };
        let visits = vec![
            visit(3, "2026-11-20T09:00:00Z", 60, true),
            visit(1, "2026-11-03T09:00:00Z", 58, true),
            visit(2, "2026-11-10T09:00:00Z", 60, false),
            visit(4, "2026-11-27T09:00:00Z", 30, true),
        ];
        let line = statement_line(visits.clone(), Some(120));
        assert_eq!(line.visits, 2);
        assert_eq!(line.minutes, 118);
        assert_eq!(line.amount, 157.33, "58 + 60 minutes at 80 an hour");
        assert_eq!(
            line.excluded,
            vec![(Uuid::from_u128(2), Excluded::Unverified), (Uuid::from_u128(4), Excluded::OverAuthorised)]
        );
        let uncapped = statement_line(visits, None);
        assert_eq!((uncapped.visits, uncapped.minutes), (3, 148));
        assert_eq!(amount(Unit::Visit, 35.5, 12), 35.5);
        assert_eq!(minutes_between(at("2026-11-30T09:00:00Z"), at("2026-11-30T09:58:29Z")), 58);
        assert_eq!(minutes_between(at("2026-11-30T09:00:00Z"), at("2026-11-30T09:58:30Z")), 59);
        assert_eq!(first_name("  Li  Wei "), "Li");
    }

    #[test]
    fn a_requested_service_is_paid_as_planned_else_by_the_resident_else_by_its_first_funder() {
        use Funding::*;
        assert_eq!(requested_funding(Some(Subsidy), &[LtcInsurance, SelfPay]), Subsidy);
        assert_eq!(requested_funding(None, &[LtcInsurance, SelfPay]), SelfPay);
        assert_eq!(requested_funding(None, &[LtcInsurance, Subsidy]), LtcInsurance);
        assert_eq!(requested_funding(None, &[]), SelfPay);
    }

    #[test]
    fn a_bound_is_a_date_or_an_instant() {
        assert_eq!(Bound::parse("2026-12-01"), Some(Bound::Date(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap())));
        assert_eq!(Bound::parse("2026-12-01T08:00:00Z"), Some(Bound::At(at("2026-12-01T08:00:00Z"))));
        assert_eq!(Bound::parse("yesterday"), None);
    }
}
