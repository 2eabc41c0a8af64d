//! The data cockpit: how well a service answers, visits and feeds, per
//! institution and per region. The database counts (see
//! [`crate::store::cockpit`]); this module turns its counts into the
//! contract's figures, adds institutions and days together, and writes the
//! monthly report's CSV. Pure: no SQL, no clock.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

/// The telecare answering targets (UK TSA): shares of the alerts a person
/// had to answer that were answered within 60 s and within 180 s.
pub const TARGET_60S_PCT: f64 = 97.5;
pub const TARGET_180S_PCT: f64 = 99.0;

/// The longest period one cockpit request covers: a year's report and a
/// little more, never a decade of alerts in one answer.
pub const MAX_SPAN: Duration = Duration::days(400);

/// Without `from`, the cockpit covers this far back from `to`.
pub const DEFAULT_SPAN: Duration = Duration::days(30);

/// An average month, to spread a care plan's monthly hours over a period.
const DAYS_PER_MONTH: f64 = 365.25 / 12.0;

/// One end of the period as the request gave it: an instant, or a calendar
/// day read in each institution's own timezone (`from` at its start, `to`
/// through its end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    At(DateTime<Utc>),
    Day(NaiveDate),
}

impl Bound {
    pub fn parse(text: &str) -> Option<Bound> {
        if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Some(Bound::Day(day));
        }
        DateTime::parse_from_rfc3339(text).ok().map(|t| Bound::At(t.with_timezone(&Utc)))
    }
}

/// The period the figures cover: alerts opened and visits scheduled from
/// `from` (inclusive) to `to` (exclusive; a `to` day is included whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: Bound,
    /// A day here is the first day no longer covered (the request's `to`
    /// day plus one).
    pub until: Bound,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodError(pub &'static str, pub String);

impl Period {
    /// The period of a request's `from` and `to` at `now`: by default the
    /// last 30 days. Judged in UTC for the checks (a day's timezone moves
    /// it by hours, not days).
    pub fn new(from: Option<Bound>, to: Option<Bound>, now: DateTime<Utc>) -> Result<Period, PeriodError> {
        let until = match to {
            None => Bound::At(now),
            Some(Bound::Day(day)) => {
                Bound::Day(day.succ_opt().ok_or_else(|| PeriodError("to", "to is too far".into()))?)
            }
            Some(at) => at,
        };
        let from = from.unwrap_or_else(|| Bound::At(approx_utc(until) - DEFAULT_SPAN));
        let (start, end) = (approx_utc(from), approx_utc(until));
        if start >= end {
            return Err(PeriodError("from", "from must be before to".into()));
        }
        if end - start > MAX_SPAN {
            return Err(PeriodError("from", format!("the cockpit spans at most {} days", MAX_SPAN.num_days())));
        }
        Ok(Period { from, until })
    }

    /// The period's length, for spreading monthly authorised hours.
    pub fn days(&self) -> f64 {
        (approx_utc(self.until) - approx_utc(self.from)).num_seconds() as f64 / 86_400.0
    }
}

fn approx_utc(bound: Bound) -> DateTime<Utc> {
    match bound {
        Bound::At(at) => at,
        Bound::Day(day) => day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
    }
}

/// What the database counts of the alerts opened in one institution on one
/// day (and of one kind): sums, so that days and institutions add up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertTally {
    pub total: i64,
    pub by_kind: BTreeMap<String, i64>,
    /// Critical and high alerts a person had to answer.
    pub answerable: i64,
    pub within_60s: i64,
    pub within_180s: i64,
    /// Answerable alerts a person answered, and the seconds it took in all.
    pub answered: i64,
    pub answer_seconds: f64,
    /// Answerable alerts a person resolved, and the seconds it took in all.
    pub resolved: i64,
    pub resolve_seconds: f64,
    pub escalated: i64,
    pub false_alarms: i64,
    /// Of these alerts, those not resolved yet.
    pub unresolved: i64,
}

impl AlertTally {
    pub fn add(&mut self, other: &AlertTally) {
        self.total += other.total;
        for (kind, n) in &other.by_kind {
            *self.by_kind.entry(kind.clone()).or_default() += n;
        }
        self.answerable += other.answerable;
        self.within_60s += other.within_60s;
        self.within_180s += other.within_180s;
        self.answered += other.answered;
        self.answer_seconds += other.answer_seconds;
        self.resolved += other.resolved;
        self.resolve_seconds += other.resolve_seconds;
        self.escalated += other.escalated;
        self.false_alarms += other.false_alarms;
        self.unresolved += other.unresolved;
    }

    /// The contract's figures; `open_now` is given, since over a period it
    /// is the alerts unresolved now whenever they opened.
    pub fn figures(&self, open_now: i64) -> AlertFigures {
        AlertFigures {
            total: self.total,
            by_kind: self.by_kind.clone(),
            acknowledged_within_60s_pct: pct(self.within_60s, self.answerable),
            acknowledged_within_180s_pct: pct(self.within_180s, self.answerable),
            mtta_seconds: mean(self.answer_seconds, self.answered),
            mttr_seconds: mean(self.resolve_seconds, self.resolved),
            escalated: self.escalated,
            false_alarm_pct: pct(self.false_alarms, self.total),
            open_now,
            answerable: self.answerable,
        }
    }
}

/// What the database counts of the visits scheduled in one institution on
/// one day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VisitTally {
    pub scheduled: i64,
    pub completed: i64,
    pub missed: i64,
    pub late: i64,
    pub verified: i64,
    pub minutes_delivered: i64,
    pub stars: i64,
    pub rated: i64,
}

impl VisitTally {
    pub fn add(&mut self, other: &VisitTally) {
        self.scheduled += other.scheduled;
        self.completed += other.completed;
        self.missed += other.missed;
        self.late += other.late;
        self.verified += other.verified;
        self.minutes_delivered += other.minutes_delivered;
        self.stars += other.stars;
        self.rated += other.rated;
    }

    /// The figures, with the care plans' monthly hours spread over `days`.
    pub fn figures(&self, hours_per_month: f64, days: f64) -> VisitFigures {
        VisitFigures {
            scheduled: self.scheduled,
            completed: self.completed,
            missed: self.missed,
            late: self.late,
            evv_verified_pct: pct(self.verified, self.completed),
            hours_delivered: round(self.minutes_delivered as f64 / 60.0, 2),
            hours_authorised: round(hours_per_month * days / DAYS_PER_MONTH, 2),
            avg_stars: round(if self.rated == 0 { 0.0 } else { self.stars as f64 / self.rated as f64 }, 2),
        }
    }
}

/// `part` of `whole` as 0–100, to two decimals; 0 of nothing is 0.
pub fn pct(part: i64, whole: i64) -> f64 {
    if whole == 0 { 0.0 } else { round(100.0 * part as f64 / whole as f64, 2) }
}

fn mean(sum: f64, count: i64) -> f64 {
    if count == 0 { 0.0 } else { round(sum / count as f64, 1) }
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = CockpitAlerts)]
pub struct AlertFigures {
    pub total: i64,
    pub by_kind: BTreeMap<String, i64>,
    pub acknowledged_within_60s_pct: f64,
    pub acknowledged_within_180s_pct: f64,
    pub mtta_seconds: f64,
    pub mttr_seconds: f64,
    pub escalated: i64,
    pub false_alarm_pct: f64,
    pub open_now: i64,
    /// How many alerts the SLA shares are of (critical and high, answered
    /// by a person or still waiting): with none, the shares say nothing.
    pub answerable: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = CockpitVisits)]
pub struct VisitFigures {
    pub scheduled: i64,
    pub completed: i64,
    pub missed: i64,
    pub late: i64,
    pub evv_verified_pct: f64,
    pub hours_delivered: f64,
    pub hours_authorised: f64,
    pub avg_stars: f64,
}

/// The meal orders of the period (by their local date): planned (every
/// order not cancelled), delivered (handed over or left at the door), no
/// answer at the door, cancelled.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = CockpitMeals)]
pub struct MealFigures {
    pub planned: i64,
    pub delivered: i64,
    pub no_answer: i64,
    pub cancelled: i64,
}

impl MealFigures {
    pub fn add(&mut self, other: &MealFigures) {
        self.planned += other.planned;
        self.delivered += other.delivered;
        self.no_answer += other.no_answer;
        self.cancelled += other.cancelled;
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = CockpitDevices)]
pub struct DeviceFigures {
    pub total: i64,
    pub online_pct: f64,
    pub low_battery: i64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = CockpitResidents)]
pub struct ResidentFigures {
    pub total: i64,
    pub with_open_alerts: i64,
}

/// How things stand now in one institution, whatever the period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub open_alerts: i64,
    pub devices: i64,
    pub devices_online: i64,
    pub low_battery: i64,
    pub residents: i64,
    pub residents_with_open_alerts: i64,
    /// The care plans' authorised hours per month, all residents together.
    pub hours_per_month: f64,
}

impl Snapshot {
    pub fn add(&mut self, other: &Snapshot) {
        self.open_alerts += other.open_alerts;
        self.devices += other.devices;
        self.devices_online += other.devices_online;
        self.low_battery += other.low_battery;
        self.residents += other.residents;
        self.residents_with_open_alerts += other.residents_with_open_alerts;
        self.hours_per_month += other.hours_per_month;
    }
}

/// The figures of a period, for one institution or a region.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = CockpitFigures)]
pub struct Figures {
    pub alerts: AlertFigures,
    pub visits: VisitFigures,
    pub meals: MealFigures,
    pub devices: DeviceFigures,
    pub residents: ResidentFigures,
}

/// The figures of one day. Devices and residents are how things stand now,
/// with no history, so a day has none; its `open_now` is its alerts still
/// unresolved.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = CockpitDay)]
pub struct DayFigures {
    pub date: NaiveDate,
    pub alerts: AlertFigures,
    pub visits: VisitFigures,
    pub meals: MealFigures,
}

/// One institution's counts over the period, by local day.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub alerts: BTreeMap<NaiveDate, AlertTally>,
    pub visits: BTreeMap<NaiveDate, VisitTally>,
    pub meals: BTreeMap<NaiveDate, MealFigures>,
    pub snapshot: Snapshot,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        for (day, tally) in &other.alerts {
            self.alerts.entry(*day).or_default().add(tally);
        }
        for (day, tally) in &other.visits {
            self.visits.entry(*day).or_default().add(tally);
        }
        for (day, meals) in &other.meals {
            self.meals.entry(*day).or_default().add(meals);
        }
        self.snapshot.add(&other.snapshot);
    }

    pub fn figures(&self, period: &Period) -> Figures {
        let mut alerts = AlertTally::default();
        self.alerts.values().for_each(|t| alerts.add(t));
        let mut visits = VisitTally::default();
        self.visits.values().for_each(|t| visits.add(t));
        let mut meals = MealFigures::default();
        self.meals.values().for_each(|m| meals.add(m));
        let s = &self.snapshot;
        Figures {
            alerts: alerts.figures(s.open_alerts),
            visits: visits.figures(s.hours_per_month, period.days()),
            meals,
            devices: DeviceFigures {
                total: s.devices,
                online_pct: pct(s.devices_online, s.devices),
                low_battery: s.low_battery,
            },
            residents: ResidentFigures { total: s.residents, with_open_alerts: s.residents_with_open_alerts },
        }
    }

    /// One entry per day of `days`, those without alerts or visits too.
    pub fn series(&self, days: &[NaiveDate]) -> Vec<DayFigures> {
        days.iter()
            .map(|day| {
                let alerts = self.alerts.get(day).cloned().unwrap_or_default();
                let visits = self.visits.get(day).cloned().unwrap_or_default();
                DayFigures {
                    date: *day,
                    alerts: alerts.figures(alerts.unresolved),
                    visits: visits.figures(self.snapshot.hours_per_month, 1.0),
                    meals: self.meals.get(day).cloned().unwrap_or_default(),
                }
            })
            .collect()
    }
}

/// Every day from `first` to `last`, both included.
pub fn days(first: NaiveDate, last: NaiveDate) -> Vec<NaiveDate> {
    first.iter_days().take_while(|d| *d <= last).collect()
}

/// An institution in a supervisor's answer: no person's name, no health
/// detail, only the institution and its figures.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = CockpitInstitution)]
pub struct InstitutionFigures {
    pub id: Uuid,
    pub name: String,
    #[serde(flatten)]
    pub figures: Figures,
}

const PERIOD_COLUMNS: &str = "alerts_total,alerts_answerable,acknowledged_within_60s_pct,\
acknowledged_within_180s_pct,mtta_seconds,mttr_seconds,escalated,false_alarm_pct,open_now,\
visits_scheduled,visits_completed,visits_missed,visits_late,evv_verified_pct,hours_delivered,\
hours_authorised,avg_stars,meals_planned,meals_delivered,meals_no_answer,meals_cancelled";

const NOW_COLUMNS: &str = "devices_total,devices_online_pct,devices_low_battery,residents_total,\
residents_with_open_alerts";

fn period_fields(out: &mut String, a: &AlertFigures, v: &VisitFigures, m: &MealFigures) {
    let _ = write!(
        out,
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
        a.total,
        a.answerable,
        a.acknowledged_within_60s_pct,
        a.acknowledged_within_180s_pct,
        a.mtta_seconds,
        a.mttr_seconds,
        a.escalated,
        a.false_alarm_pct,
        a.open_now,
        v.scheduled,
        v.completed,
        v.missed,
        v.late,
        v.evv_verified_pct,
        v.hours_delivered,
        v.hours_authorised,
        v.avg_stars,
        m.planned,
        m.delivered,
        m.no_answer,
        m.cancelled
    );
}

/// The monthly report of one institution: a row per day.
pub fn csv_by_day(series: &[DayFigures]) -> String {
    let mut out = format!("date,{PERIOD_COLUMNS}\r\n");
    for day in series {
        let _ = write!(out, "{},", day.date);
        period_fields(&mut out, &day.alerts, &day.visits, &day.meals);
        out.push_str("\r\n");
    }
    out
}

/// The monthly report of a region: a row per institution.
pub fn csv_by_institution(rows: &[InstitutionFigures]) -> String {
    let mut out = format!("institution_id,institution_name,{PERIOD_COLUMNS},{NOW_COLUMNS}\r\n");
    for row in rows {
        let f = &row.figures;
        let _ = write!(out, "{},{},", row.id, csv_text(&row.name));
        period_fields(&mut out, &f.alerts, &f.visits, &f.meals);
        let _ = write!(
            out,
            ",{},{},{},{},{}\r\n",
            f.devices.total,
            f.devices.online_pct,
            f.devices.low_battery,
            f.residents.total,
            f.residents.with_open_alerts
        );
    }
    out
}

/// A text field of RFC 4180 CSV; one a spreadsheet would read as a formula
/// is prefixed with an apostrophe, so opening the report runs nothing.
fn csv_text(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() };
    if text.contains([',', '"', '\r', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-30T12:00:00Z".parse().unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_period_defaults_to_thirty_days_and_takes_days_or_instants() {
        let p = Period::new(None, None, now()).unwrap();
        assert_eq!(p, Period { from: Bound::At(now() - Duration::days(30)), until: Bound::At(now()) });
        assert_eq!(p.days(), 30.0);
        let nov = Period::new(Bound::parse("2026-11-01"), Bound::parse("2026-11-30"), now()).unwrap();
        assert_eq!(nov, Period { from: Bound::Day(day("2026-11-01")), until: Bound::Day(day("2026-12-01")) });
        assert_eq!(nov.days(), 30.0);
        let one = Period::new(Bound::parse("2026-11-30"), Bound::parse("2026-11-30"), now()).unwrap();
        assert_eq!(one.days(), 1.0, "a to day is included whole");
        let at = Bound::parse("2026-11-29T08:00:00+08:00").unwrap();
        assert_eq!(at, Bound::At("2026-11-29T00:00:00Z".parse().unwrap()));
        assert_eq!(Bound::parse("yesterday"), None);
        assert_eq!(Bound::parse("2026-13-01"), None);
    }

    #[test]
    fn a_period_must_run_forward_and_not_too_far() {
        let backwards = Period::new(Bound::parse("2026-11-30"), Bound::parse("2026-11-01"), now());
        assert_eq!(backwards.unwrap_err().0, "from");
        let empty = Period::new(Some(Bound::At(now())), Some(Bound::At(now())), now());
        assert!(empty.is_err());
        let long = Period::new(Bound::parse("2024-01-01"), Bound::parse("2026-01-01"), now());
        assert!(long.unwrap_err().1.contains("400 days"));
        assert!(Period::new(Bound::parse("2025-11-01"), Bound::parse("2026-11-30"), now()).is_ok());
    }

    fn tally(answerable: i64, within_60s: i64, within_180s: i64) -> AlertTally {
        AlertTally { total: answerable, answerable, within_60s, within_180s, ..AlertTally::default() }
    }

    #[test]
    fn sla_shares_count_the_unanswered_against_both_targets() {
        let mut t = tally(8, 6, 7);
        t.total = 10;
        t.answered = 7;
        t.answer_seconds = 7.0 * 40.0;
        t.resolved = 2;
        t.resolve_seconds = 300.0 + 600.0;
        t.false_alarms = 1;
        t.escalated = 1;
        let f = t.figures(3);
        assert_eq!(f.acknowledged_within_60s_pct, 75.0);
        assert_eq!(f.acknowledged_within_180s_pct, 87.5);
        assert_eq!(f.mtta_seconds, 40.0);
        assert_eq!(f.mttr_seconds, 450.0);
        assert_eq!(f.false_alarm_pct, 10.0);
        assert_eq!((f.open_now, f.escalated, f.answerable), (3, 1, 8));
        let none = AlertTally::default().figures(0);
        assert_eq!((none.acknowledged_within_60s_pct, none.mtta_seconds, none.answerable), (0.0, 0.0, 0));
        assert_eq!(pct(2, 3), 66.67);
    }

    #[test]
    fn days_and_institutions_add_up_to_the_same_figures() {
        let mut a = Counts::default();
        let mut fall = tally(2, 1, 2);
        fall.by_kind.insert("fall".into(), 2);
        a.alerts.insert(day("2026-11-01"), fall);
        let mut sos = tally(1, 1, 1);
        sos.by_kind.insert("sos".into(), 1);
        sos.unresolved = 1;
        a.alerts.insert(day("2026-11-03"), sos);
        a.visits.insert(
            day("2026-11-01"),
            VisitTally {
                scheduled: 4,
                completed: 3,
                verified: 2,
                minutes_delivered: 150,
                stars: 9,
                rated: 2,
                ..VisitTally::default()
            },
        );
        a.snapshot =
            Snapshot { devices: 4, devices_online: 3, residents: 2, hours_per_month: 30.4375, ..Snapshot::default() };
        let mut b = Counts::default();
        let mut fall_b = tally(1, 0, 0);
        fall_b.by_kind.insert("fall".into(), 1);
        b.alerts.insert(day("2026-11-01"), fall_b);
        b.snapshot = Snapshot { devices: 4, devices_online: 1, open_alerts: 1, ..Snapshot::default() };

        let period = Period::new(Bound::parse("2026-11-01"), Bound::parse("2026-11-03"), now()).unwrap();
        let mut region = Counts::default();
        region.add(&a);
        region.add(&b);
        let f = region.figures(&period);
        assert_eq!(f.alerts.total, 4);
        assert_eq!(f.alerts.by_kind, BTreeMap::from([("fall".to_owned(), 3), ("sos".to_owned(), 1)]));
        assert_eq!(f.alerts.acknowledged_within_60s_pct, 50.0);
        assert_eq!(f.alerts.acknowledged_within_180s_pct, 75.0);
        assert_eq!(f.devices, DeviceFigures { total: 8, online_pct: 50.0, low_battery: 0 });
        assert_eq!(f.visits.hours_delivered, 2.5);
        assert_eq!(f.visits.hours_authorised, 3.0, "a month's 30.4375 hours over 3 days");
        assert_eq!(f.visits.evv_verified_pct, 66.67);
        assert_eq!(f.visits.avg_stars, 4.5);

        let series = region.series(&days(day("2026-11-01"), day("2026-11-03")));
        let dates: Vec<String> = series.iter().map(|d| d.date.to_string()).collect();
        assert_eq!(dates, ["2026-11-01", "2026-11-02", "2026-11-03"]);
        assert_eq!(series[0].alerts.total, 3);
        assert_eq!(series[1].alerts.total, 0);
        assert_eq!(series[2].alerts.open_now, 1, "a day's open alerts are its own still unresolved");
        assert_eq!(series[0].visits.hours_authorised, 1.0);
    }

    #[test]
    fn the_report_is_csv_with_a_row_per_day_or_institution() {
        let mut counts = Counts::default();
        counts.alerts.insert(day("2026-11-01"), tally(2, 1, 2));
        let series = counts.series(&days(day("2026-11-01"), day("2026-11-02")));
        let csv = csv_by_day(&series);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines.len(), 4, "header, two days, and the final line end: {csv:?}");
        assert!(lines[0].starts_with("date,alerts_total,alerts_answerable,acknowledged_within_60s_pct,"));
        assert!(lines[1].starts_with("2026-11-01,2,2,50,100,"), "{}", lines[1]);
        assert!(lines[2].starts_with("2026-11-02,0,0,0,0,"));
        assert_eq!(lines[0].split(',').count(), lines[1].split(',').count());

        let period = Period::new(None, None, now()).unwrap();
        let row =
            |name: &str| InstitutionFigures { id: Uuid::nil(), name: name.into(), figures: counts.figures(&period) };
        let csv = csv_by_institution(&[row("Sunrise, East"), row("=HYPERLINK(\"x\")")]);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert!(lines[0].starts_with("institution_id,institution_name,alerts_total,"));
        assert!(lines[0].ends_with(",residents_total,residents_with_open_alerts"));
        assert!(lines[1].starts_with("00000000-0000-0000-0000-000000000000,\"Sunrise, East\",2,2,50,100,"));
        assert!(lines[2].contains(",\"'=HYPERLINK(\"\"x\"\")\",2,"), "{}", lines[2]);
    }
}
