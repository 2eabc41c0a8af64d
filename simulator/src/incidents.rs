//! Incidents: what goes wrong, injected at random by a daily rate or scripted,
//! and how each one shows in a resident's day the way real devices would see it.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use eldercare_domain::AlertKind;
use rand::RngExt;
use rand::rngs::StdRng;

use crate::clock;
use crate::model::{DeviceRole, HazardDetector, Meal, MealWindow, ResidentProfile, Room};
use crate::plan::{Action, Activity, DayPlan, Hazard, LowBattery, Outage, Place, Segment, VitalEpisode, VitalKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    /// `fall_detected` on the watch; with `cancel_after`, `fall_cancelled` follows.
    Fall,
    Sos,
    /// No kitchen activity at all in one meal window.
    MissedMeal,
    /// No motion anywhere for hours during the day.
    Inactivity,
    /// Out of bed at night, out of the entrance door, no motion for a long while.
    NightWandering,
    Tachycardia,
    LowSpo2,
    Fever,
    /// Last Will (or Zigbee2MQTT availability `offline`), then silence.
    DeviceOffline,
    /// Battery reported under 15% and falling.
    LowBattery,
    WaterLeak,
    Smoke,
}

impl IncidentKind {
    pub const ALL: [IncidentKind; 12] = [
        IncidentKind::Fall,
        IncidentKind::Sos,
        IncidentKind::MissedMeal,
        IncidentKind::Inactivity,
        IncidentKind::NightWandering,
        IncidentKind::Tachycardia,
        IncidentKind::LowSpo2,
        IncidentKind::Fever,
        IncidentKind::DeviceOffline,
        IncidentKind::LowBattery,
        IncidentKind::WaterLeak,
        IncidentKind::Smoke,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentKind::Fall => "fall",
            IncidentKind::Sos => "sos",
            IncidentKind::MissedMeal => "missed_meal",
            IncidentKind::Inactivity => "inactivity",
            IncidentKind::NightWandering => "night_wandering",
            IncidentKind::Tachycardia => "tachycardia",
            IncidentKind::LowSpo2 => "low_spo2",
            IncidentKind::Fever => "fever",
            IncidentKind::DeviceOffline => "device_offline",
            IncidentKind::LowBattery => "low_battery",
            IncidentKind::WaterLeak => "water_leak",
            IncidentKind::Smoke => "smoke",
        }
    }

    /// The kind of the alert the backend raises for it.
    pub fn alert_kind(self) -> AlertKind {
        match self {
            IncidentKind::Fall => AlertKind::Fall,
            IncidentKind::Sos => AlertKind::Sos,
            IncidentKind::MissedMeal => AlertKind::MissedMeal,
            IncidentKind::Inactivity => AlertKind::Inactivity,
            IncidentKind::NightWandering => AlertKind::NightWandering,
            IncidentKind::Tachycardia | IncidentKind::LowSpo2 | IncidentKind::Fever => AlertKind::VitalAbnormal,
            IncidentKind::DeviceOffline => AlertKind::DeviceOffline,
            IncidentKind::LowBattery => AlertKind::LowBattery,
            IncidentKind::WaterLeak => AlertKind::WaterLeak,
            IncidentKind::Smoke => AlertKind::Smoke,
        }
    }

    /// How long it lasts when nothing says otherwise.
    fn default_duration(self) -> Duration {
        match self {
            IncidentKind::Fall => Duration::minutes(30),
            IncidentKind::Inactivity => Duration::hours(4),
            IncidentKind::NightWandering => Duration::minutes(60),
            IncidentKind::Tachycardia | IncidentKind::LowSpo2 => Duration::minutes(15),
            IncidentKind::Fever => Duration::hours(5),
            IncidentKind::DeviceOffline => Duration::hours(2),
            IncidentKind::WaterLeak => Duration::minutes(30),
            IncidentKind::Smoke => Duration::minutes(10),
            IncidentKind::Sos | IncidentKind::MissedMeal | IncidentKind::LowBattery => Duration::zero(),
        }
    }
}

impl fmt::Display for IncidentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IncidentKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IncidentKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| format!("unknown incident kind {s:?}"))
    }
}

/// One incident to inject, at an absolute time.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub resident: String,
    pub kind: IncidentKind,
    /// When it shows: the fall, the press, the door opening, the Last Will,
    /// the first low reading; for a missed meal, the next window ending after it.
    pub at: DateTime<Utc>,
    /// How long it lasts; a per-kind default when `None`.
    pub duration: Option<Duration>,
    /// Fall only: the resident cancels it on the watch after this long.
    pub cancel_after: Option<Duration>,
    /// Missed meal only: which one (default: whichever window comes first).
    pub meal: Option<Meal>,
    /// Device offline / low battery: which device (default the watch).
    pub device: Option<DeviceRole>,
    /// Fall only: where (default: wherever the routine has the resident).
    pub room: Option<Room>,
    /// Abnormal vitals only: heart rate, SpO2 or temperature at the worst.
    pub peak: Option<f64>,
}

impl Incident {
    pub fn new(resident: &str, kind: IncidentKind, at: DateTime<Utc>) -> Self {
        Incident {
            resident: resident.to_owned(),
            kind,
            at,
            duration: None,
            cancel_after: None,
            meal: None,
            device: None,
            room: None,
            peak: None,
        }
    }

    pub fn duration(&self) -> Duration {
        self.duration.unwrap_or_else(|| self.kind.default_duration())
    }

    /// The device the household must have for this incident to show.
    pub fn required_device(&self) -> Option<DeviceRole> {
        match self.kind {
            IncidentKind::WaterLeak => Some(DeviceRole::LeakSensor),
            IncidentKind::Smoke => Some(DeviceRole::SmokeSensor),
            IncidentKind::Sos => Some(DeviceRole::SosButton),
            IncidentKind::DeviceOffline | IncidentKind::LowBattery => Some(self.device.unwrap_or(DeviceRole::Watch)),
            IncidentKind::Fall | IncidentKind::Tachycardia | IncidentKind::LowSpo2 | IncidentKind::Fever => {
                Some(DeviceRole::Watch)
            }
            IncidentKind::MissedMeal | IncidentKind::Inactivity | IncidentKind::NightWandering => None,
        }
    }

    /// The instants it may touch, to find the local days it belongs to.
    pub(crate) fn span(&self, profile: &ResidentProfile) -> (DateTime<Utc>, DateTime<Utc>) {
        if self.kind == IncidentKind::MissedMeal
            && let Some((_, from, to)) = missed_window(profile, self)
        {
            return (from, to);
        }
        let margin = Duration::minutes(5);
        (self.at - margin, self.at + self.duration() + margin)
    }
}

/// What was injected, for reports and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRecord {
    pub resident: String,
    pub kind: IncidentKind,
    /// When it shows (for a missed meal: the window's start).
    pub at: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    pub detail: String,
    /// Drawn by the incident rate rather than scripted.
    pub random: bool,
}

impl IncidentRecord {
    /// `fall_cancelled` is reported apart from falls that were not.
    pub fn label(&self) -> String {
        if self.kind == IncidentKind::Fall && self.detail.contains("cancelled") {
            "fall_cancelled".to_owned()
        } else {
            self.kind.as_str().to_owned()
        }
    }
}

/// Relative likelihood of each kind among random incidents (sums to 1).
const WEIGHTS: [(IncidentKind, f64); 11] = [
    (IncidentKind::Fall, 0.14),
    (IncidentKind::Sos, 0.10),
    (IncidentKind::MissedMeal, 0.10),
    (IncidentKind::Inactivity, 0.08),
    (IncidentKind::NightWandering, 0.07),
    (IncidentKind::Tachycardia, 0.08),
    (IncidentKind::LowSpo2, 0.07),
    (IncidentKind::Fever, 0.05),
    (IncidentKind::DeviceOffline, 0.12),
    (IncidentKind::LowBattery, 0.09),
    // Stands for the household's hazard detector, leak or smoke.
    (IncidentKind::WaterLeak, 0.10),
];

fn minutes(rng: &mut StdRng, lo: i64, hi: i64) -> Duration {
    Duration::seconds(rng.random_range(lo * 60..=hi * 60))
}

/// Random incidents of one local day, about `rate` per day on average.
///
/// Times come from the resident's habits, not from the day's plan, so the
/// draw is the same however the day's routine turns out; none crosses midnight.
pub(crate) fn random_for_day(profile: &ResidentProfile, date: NaiveDate, rate: f64, rng: &mut StdRng) -> Vec<Incident> {
    let tz = profile.timezone;
    let (_, day_end) = clock::day_bounds(tz, date);
    let local = |secs: i64| clock::local_instant(tz, date, secs);
    let wake = i64::from(chrono::Timelike::num_seconds_from_midnight(&profile.habits.wake));
    let bed = i64::from(chrono::Timelike::num_seconds_from_midnight(&profile.habits.bedtime));
    let mut out = Vec::new();
    for (kind, weight) in WEIGHTS {
        if !rng.random_bool((rate * weight).clamp(0.0, 1.0)) {
            continue;
        }
        let daytime = local(between(rng, wake + 3600, bed - 3600));
        let mut incident = Incident::new(&profile.key, kind, daytime);
        match kind {
            IncidentKind::Fall => {
                if rng.random_bool(0.4) {
                    incident.cancel_after = Some(Duration::seconds(rng.random_range(8..=55)));
                } else {
                    incident.duration = Some(minutes(rng, 15, 40));
                }
            }
            IncidentKind::Sos => {}
            IncidentKind::MissedMeal => {
                let meal = Meal::ALL[rng.random_range(0..Meal::ALL.len())];
                incident.meal = Some(meal);
                if let Some(w) = profile.meal_window(meal) {
                    incident.at = local(secs(w.start));
                }
            }
            IncidentKind::Inactivity => {
                let after_lunch = profile.meal_window(Meal::Lunch).map_or(14 * 3600, |w| secs(w.end));
                incident.at = local(between(rng, after_lunch, after_lunch + 3600));
                incident.duration = Some(minutes(rng, 195, 270));
            }
            IncidentKind::NightWandering => {
                incident.at = local(rng.random_range(3600..4 * 3600));
                incident.duration = Some(minutes(rng, 40, 90));
            }
            IncidentKind::Tachycardia => {
                incident.duration = Some(minutes(rng, 8, 20));
                incident.peak = Some(f64::from(rng.random_range(125..=150)));
            }
            IncidentKind::LowSpo2 => {
                incident.at = local(rng.random_range(1800..22 * 3600));
                incident.duration = Some(minutes(rng, 10, 20));
                incident.peak = Some(f64::from(rng.random_range(84..=88)));
            }
            IncidentKind::Fever => {
                incident.at = local(rng.random_range(9 * 3600..14 * 3600));
                incident.duration = Some(minutes(rng, 240, 480));
                incident.peak = Some(rng.random_range(38.3..39.3));
            }
            IncidentKind::DeviceOffline | IncidentKind::LowBattery => {
                incident.at = local(rng.random_range(8 * 3600..20 * 3600));
                let candidates: Vec<DeviceRole> = profile
                    .devices()
                    .iter()
                    .map(|d| d.role)
                    .filter(|r| kind == IncidentKind::DeviceOffline || r.has_battery())
                    .collect();
                if !candidates.is_empty() && rng.random_bool(0.5) {
                    incident.device = Some(candidates[rng.random_range(0..candidates.len())]);
                }
                if kind == IncidentKind::DeviceOffline {
                    incident.duration = Some(minutes(rng, 60, 180));
                }
            }
            IncidentKind::WaterLeak | IncidentKind::Smoke => match profile.hazard {
                HazardDetector::WaterLeak => {
                    incident.duration = Some(minutes(rng, 20, 60));
                }
                HazardDetector::Smoke => {
                    incident.kind = IncidentKind::Smoke;
                    incident.duration = Some(minutes(rng, 5, 15));
                }
            },
        }
        // Keep random incidents inside their day.
        let latest = day_end - Duration::minutes(2);
        if incident.at + incident.duration() > latest {
            incident.duration = Some((latest - incident.at).max(Duration::minutes(1)));
        }
        out.push(incident);
    }
    out
}

/// A uniform draw in `lo..hi`, or `lo` when the span is empty (odd scripted habits).
fn between(rng: &mut StdRng, lo: i64, hi: i64) -> i64 {
    if hi > lo { rng.random_range(lo..hi) } else { lo }
}

fn secs(t: chrono::NaiveTime) -> i64 {
    i64::from(chrono::Timelike::num_seconds_from_midnight(&t))
}

/// The missed meal's window: the first window (of `meal`, if given) that
/// ends after `at`, today or tomorrow in the resident's local time.
fn missed_window(profile: &ResidentProfile, incident: &Incident) -> Option<(Meal, DateTime<Utc>, DateTime<Utc>)> {
    let tz = profile.timezone;
    let today = clock::local_date(tz, incident.at);
    let mut windows: Vec<(Meal, DateTime<Utc>, DateTime<Utc>)> = [Some(today), today.succ_opt()]
        .into_iter()
        .flatten()
        .flat_map(|date| {
            profile.meal_windows.iter().map(move |w: &MealWindow| {
                (w.meal, clock::local_instant(tz, date, secs(w.start)), clock::local_instant(tz, date, secs(w.end)))
            })
        })
        .filter(|w| incident.meal.is_none_or(|m| m == w.0) && w.2 > incident.at)
        .collect();
    windows.sort_by_key(|w| w.1);
    windows.first().copied()
}

/// Writes the incident into the day; returns its record if it starts that day.
pub(crate) fn apply(
    plan: &mut DayPlan,
    profile: &ResidentProfile,
    incident: &Incident,
    random: bool,
    rng: &mut StdRng,
) -> Option<IncidentRecord> {
    let at = incident.at;
    let until = at + incident.duration();
    let (day_start, day_end) = (plan.start, plan.end);
    let in_day = |t: DateTime<Utc>| t >= day_start && t < day_end;
    let record = |at: DateTime<Utc>, until: Option<DateTime<Utc>>, detail: String| IncidentRecord {
        resident: profile.key.clone(),
        kind: incident.kind,
        at,
        until,
        detail,
        random,
    };
    let here = plan.segment_at(at).map(|s| s.place);
    match incident.kind {
        IncidentKind::Fall => {
            let room = incident.room.or(match here {
                Some(Place::Room(r)) => Some(r),
                Some(Place::Bed) | None => Some(Room::Bedroom),
                Some(Place::Away) => None,
            });
            let place = room.map_or(Place::Away, Place::Room);
            let lying = match incident.cancel_after {
                Some(c) => c + Duration::seconds(rng.random_range(30..=90)),
                None => incident.duration(),
            };
            let mut timeline = Vec::new();
            if here == Some(Place::Bed) {
                timeline.push(Segment {
                    start: at - Duration::seconds(40),
                    end: at,
                    place: Place::Room(Room::Bedroom),
                    activity: Activity::Active,
                });
            }
            timeline.push(Segment { start: at, end: at + lying, place, activity: Activity::Fallen });
            plan.overlay(timeline);
            if !in_day(at) {
                return None;
            }
            let confidence = (rng.random_range(0.80..0.99) * 100.0_f64).round() / 100.0;
            plan.incident_action(at, Action::Fall { room, confidence, cancel_after: incident.cancel_after });
            let where_ = room.map_or("outside", Room::as_str);
            let detail = match incident.cancel_after {
                Some(c) => format!("in {where_}, cancelled after {}s", c.num_seconds()),
                None => format!("in {where_}, on the floor {} min", lying.num_minutes()),
            };
            Some(record(at, Some(at + lying), detail))
        }
        IncidentKind::Sos => {
            if !in_day(at) {
                return None;
            }
            plan.incident_action(at, Action::Sos);
            Some(record(at, None, "button pressed".into()))
        }
        IncidentKind::MissedMeal => {
            let (meal, from, to) = missed_window(profile, incident)?;
            plan.relocate(from, to, Room::Kitchen, Place::Room(Room::LivingRoom), Some(Activity::Seated));
            plan.actions.retain(|a| {
                let kitchen = matches!(
                    a.action,
                    Action::FridgeOpen { .. } | Action::Kettle { .. } | Action::MealServed(_) | Action::MealEaten(_)
                );
                !(kitchen && a.at >= from && a.at < to)
            });
            in_day(from).then(|| record(from, Some(to), format!("{} skipped", meal.as_str())))
        }
        IncidentKind::Inactivity => {
            let place = match here {
                Some(Place::Room(r)) => Place::Room(r),
                Some(Place::Bed) => Place::Bed,
                Some(Place::Away) | None => Place::Room(Room::LivingRoom),
            };
            plan.overlay(vec![Segment { start: at, end: until, place, activity: Activity::Still }]);
            let minutes = incident.duration().num_minutes();
            in_day(at).then(|| record(at, Some(until), format!("no movement for {minutes} min")))
        }
        IncidentKind::NightWandering => {
            let s = Duration::seconds;
            let seg = |start, end, room| Segment { start, end, place: Place::Room(room), activity: Activity::Active };
            plan.overlay(vec![
                seg(at - s(70), at - s(40), Room::Bedroom),
                seg(at - s(40), at, Room::Hall),
                Segment { start: at, end: until, place: Place::Away, activity: Activity::Walk },
                seg(until, until + s(40), Room::Hall),
                seg(until + s(40), until + s(70), Room::Bedroom),
            ]);
            let minutes = incident.duration().num_minutes();
            in_day(at).then(|| record(at, Some(until), format!("out of the entrance door for {minutes} min")))
        }
        IncidentKind::Tachycardia | IncidentKind::LowSpo2 | IncidentKind::Fever => {
            let (kind, default_peak, unit) = match incident.kind {
                IncidentKind::Tachycardia => (VitalKind::Tachycardia, 138.0, "/min"),
                IncidentKind::LowSpo2 => (VitalKind::LowSpo2, 86.0, "%"),
                _ => (VitalKind::Fever, 38.8, "Cel"),
            };
            let peak = incident.peak.unwrap_or(default_peak);
            plan.vitals.push(VitalEpisode { kind, from: at, to: until, peak });
            in_day(at).then(|| record(at, Some(until), format!("peak {peak} {unit}")))
        }
        IncidentKind::DeviceOffline => {
            let role = incident.device.unwrap_or(DeviceRole::Watch);
            plan.outages.push(Outage { role, from: at, to: until });
            in_day(at).then(|| record(at, Some(until), format!("{} offline", role.suffix())))
        }
        IncidentKind::LowBattery => {
            let role = incident.device.unwrap_or(DeviceRole::Watch);
            plan.low_batteries.push(LowBattery { role, from: at });
            in_day(at).then(|| record(at, None, format!("{} battery low", role.suffix())))
        }
        IncidentKind::WaterLeak | IncidentKind::Smoke => {
            let kind = if incident.kind == IncidentKind::WaterLeak {
                HazardDetector::WaterLeak
            } else {
                HazardDetector::Smoke
            };
            plan.hazards.push(Hazard { kind, from: at, to: until });
            in_day(at).then(|| record(at, Some(until), "detector alarm".into()))
        }
    }
}
