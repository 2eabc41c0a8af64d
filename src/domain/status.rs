//! Where a resident is: at home and under care (`active`), in hospital,
//! away, discharged from the service, or deceased. Kept as periods; one
//! function, [`present_at`], says whether the resident is there to be
//! watched, visited and fed at an instant, and rules, visits, meals and
//! statements all ask it.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use eldercare_domain::names;
use serde::Serialize;
use uuid::Uuid;

use super::AlertKind;

names!(
    /// A resident's status.
    #[derive(Default)]
    ResidentStatus {
        #[default]
        Active = "active",
        InHospital = "in_hospital",
        Away = "away",
        Discharged = "discharged",
        Deceased = "deceased",
        /// A respite stay at a care home: home rules pause as for `away`.
        Respite = "respite",
    }
);

impl ResidentStatus {
    /// Whether a period of this status may end by itself (`until`).
    pub fn may_end(self) -> bool {
        matches!(self, ResidentStatus::InHospital | ResidentStatus::Away | ResidentStatus::Respite)
    }
}

/// One period of a status, from its start until its end (`until`) or the
/// next period's start.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = StatusPeriod)]
pub struct Period {
    pub status: ResidentStatus,
    pub from: DateTime<Utc>,
    #[schema(required = true)]
    pub until: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub note: Option<String>,
    pub recorded_at: DateTime<Utc>,
    /// The hospital stay a medical partner sent that set this period
    /// (`GET /fhir/r4/Encounter/{id}`); null for a period staff recorded.
    #[schema(required = true)]
    pub encounter_id: Option<Uuid>,
}

/// The status at `t` of a resident with these periods (ordered by start,
/// then by when recorded): the last one started by `t`, `active` once an
/// `in_hospital` or `away` period has ended, `active` before any.
pub fn status_at(periods: &[Period], t: DateTime<Utc>) -> ResidentStatus {
    match periods.iter().rev().find(|p| p.from <= t) {
        Some(p) if p.until.is_none_or(|until| t < until) => p.status,
        _ => ResidentStatus::Active,
    }
}

/// Whether the resident is at home and under care at `t`: the one
/// definition behaviour rules, visits, lateness alerts and meals follow.
pub fn present_at(periods: &[Period], t: DateTime<Utc>) -> bool {
    status_at(periods, t) == ResidentStatus::Active
}

/// Whether the resident is there for the day's meals: present at the local
/// noon of `date`.
pub fn present_on(periods: &[Period], tz: chrono_tz::Tz, date: NaiveDate) -> bool {
    use chrono::TimeZone;
    let noon = date.and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default());
    // Noon is in no zone's daylight-saving gap.
    let at = tz.from_local_datetime(&noon).earliest().map(|t| t.with_timezone(&Utc)).unwrap_or(noon.and_utc());
    present_at(periods, at)
}

/// When the resident last came back (the end of their latest absence
/// before `now`), so that time-window rules do not judge the days they were
/// not there.
pub fn back_since(periods: &[Period], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut back = None;
    for (i, p) in periods.iter().enumerate() {
        if p.status == ResidentStatus::Active || p.from > now {
            continue;
        }
        let next = periods.get(i + 1).map(|n| n.from);
        let end = match (p.until, next) {
            (Some(u), Some(n)) => Some(u.min(n)),
            (u, n) => u.or(n),
        };
        if let Some(end) = end.filter(|e| *e <= now) {
            back = back.max(Some(end));
        }
    }
    back
}

/// Alerts about what a resident did not do at home: nothing to judge while
/// they are not there, and resolved when they leave.
pub const ABSENCE_CLEARS: &[AlertKind] = &[
    AlertKind::MissedMeal,
    AlertKind::Inactivity,
    AlertKind::NoMorningActivity,
    AlertKind::NightWandering,
    AlertKind::BedExitNoReturn,
    AlertKind::NotReturned,
    AlertKind::PresenceCheck,
    AlertKind::VisitLate,
    AlertKind::VisitMissed,
];

/// How far back a status may be said to have started.
pub const MAX_BACKDATE: Duration = Duration::days(30);

/// A status change that cannot be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// A bad field: its name and why (422).
    Invalid(&'static str, String),
    /// Not from the current state (409).
    Illegal(String),
}

/// Checks a new period against the resident's history: `deceased` is
/// final and not in the future; `until` only for `in_hospital`/`away`,
/// after `from`; `from` at most [`MAX_BACKDATE`] ago.
pub fn check(
    periods: &[Period],
    status: ResidentStatus,
    from: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), Refused> {
    if periods.iter().any(|p| p.status == ResidentStatus::Deceased) {
        return Err(Refused::Illegal("the resident is recorded as deceased: that is final".into()));
    }
    if from < now - MAX_BACKDATE {
        return Err(Refused::Invalid("from", "from may be at most 30 days in the past".into()));
    }
    // A death is recorded once it happened: its devices are revoked at once.
    if status == ResidentStatus::Deceased && from > now {
        return Err(Refused::Invalid("from", "a death is recorded with a time that has passed".into()));
    }
    if let Some(until) = until {
        if !status.may_end() {
            return Err(Refused::Invalid("until", "until is only for in_hospital and away".into()));
        }
        if until <= from {
            return Err(Refused::Invalid("until", "until must be after from".into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(status: ResidentStatus, from: i64, until: Option<i64>) -> Period {
        let base = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        Period {
            status,
            from: base + Duration::hours(from),
            until: until.map(|u| base + Duration::hours(u)),
            note: None,
            recorded_at: base,
            encounter_id: None,
        }
    }

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap() + Duration::hours(h)
    }

    #[test]
    fn a_hospital_stay_ends_by_itself_and_a_discharge_lasts() {
        use ResidentStatus::*;
        let periods = [period(InHospital, 10, Some(20)), period(Discharged, 30, None), period(Active, 40, None)];
        assert_eq!(status_at(&periods, at(0)), Active);
        assert_eq!(status_at(&periods, at(10)), InHospital);
        assert!(!present_at(&periods, at(19)));
        assert!(present_at(&periods, at(20)));
        assert_eq!(status_at(&periods, at(35)), Discharged);
        assert!(present_at(&periods, at(40)));
        assert_eq!(back_since(&periods, at(25)), Some(at(20)));
        assert_eq!(back_since(&periods, at(50)), Some(at(40)));
        assert_eq!(back_since(&periods, at(5)), None);
        assert_eq!(back_since(&[period(Away, 0, None)], at(5)), None);
    }

    #[test]
    fn transitions_that_cannot_be_are_refused() {
        use ResidentStatus::*;
        let now = at(100);
        assert!(check(&[], InHospital, now, Some(at(120)), now).is_ok());
        assert!(check(&[period(Discharged, 0, None)], Active, now, None, now).is_ok());
        assert!(matches!(check(&[period(Deceased, 0, None)], Active, now, None, now), Err(Refused::Illegal(_))));
        assert!(matches!(check(&[], Discharged, now, Some(at(120)), now), Err(Refused::Invalid("until", _))));
        assert!(matches!(check(&[], Away, now, Some(now), now), Err(Refused::Invalid("until", _))));
        assert!(matches!(check(&[], Away, now - Duration::days(31), None, now), Err(Refused::Invalid("from", _))));
        assert!(matches!(check(&[], Deceased, at(101), None, now), Err(Refused::Invalid("from", _))));
        assert!(check(&[], Deceased, at(99), None, now).is_ok());
    }
}
