//! The rule settings of one resident: built-in defaults, overridden by the
//! institution, overridden by the resident.
//!
//! Overrides are stored as partial JSON documents (RFC 7386 merge patches), so
//! a PATCH from the API is `merge_patch(stored, body)`: a `null` in the body
//! drops that override and the layer below shows through again. Reading a
//! layer goes through [`RuleSettings::apply_patch`], the one parser and
//! validator: every error names the offending field (`night.start`,
//! `meal_windows[1].end`, `thresholds.spo2.min`) so the API can answer 422
//! with it. Bodies of the narrower endpoints (`PUT .../meal-windows`,
//! `PUT .../thresholds`) are patches too, wrapped as `{"meal_windows": body}`
//! or `{"thresholds": body}`.

use std::fmt;
use std::str::FromStr;

use chrono::{Duration, NaiveTime, Timelike};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::domain::Metric;

/// The field named when the whole document is wrong.
const ROOT: &str = "rule_settings";
// The bounds are public for the OpenAPI document, which declares them.
pub const MAX_HOURS: f64 = 48.0;
pub const MAX_MINUTES: f64 = 24.0 * 60.0;
/// Longer than this and a real fall waits too long for help.
pub const MAX_FALL_CANCEL_SECONDS: f64 = 600.0;
/// Low-battery alerts clear 5 points above the threshold, which must fit below 100 %.
/// Farther than this is another town, not a GPS error.
pub const MAX_FAR_FROM_HOME_M: f64 = 100_000.0;
/// A check after a discharge later than a week is no longer that check.
pub const MAX_DISCHARGE_CHECK_HOURS: f64 = 168.0;
pub const MAX_LOW_BATTERY_PERCENT: f64 = 95.0;
pub const MAX_MIN_READINGS: f64 = 100.0;
pub const MAX_MEAL_NAME: usize = 64;

/// A setting the API refuses, with the field it is about (dotted path).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SettingsError {
    pub field: String,
    pub message: String,
}

impl SettingsError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        SettingsError { field: field.into(), message: message.into() }
    }
}

/// A wall-clock time of day in the resident's timezone, written `HH:MM`, or
/// `HH:MM:SS` when the seconds matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalTime(NaiveTime);

impl LocalTime {
    /// For literals: an out-of-range literal fails to compile in a const.
    pub const fn hm(hour: u32, minute: u32) -> LocalTime {
        match NaiveTime::from_hms_opt(hour, minute, 0) {
            Some(time) => LocalTime(time),
            None => panic!("hour or minute out of range"),
        }
    }

    pub fn time(&self) -> NaiveTime {
        self.0
    }
}

impl From<NaiveTime> for LocalTime {
    fn from(time: NaiveTime) -> Self {
        LocalTime(time)
    }
}

impl FromStr for LocalTime {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const MESSAGE: &str = "must be a time of day as HH:MM or HH:MM:SS";
        let format = match s.len() {
            5 => "%H:%M",
            8 => "%H:%M:%S",
            _ => return Err(MESSAGE),
        };
        if !s.bytes().all(|b| b.is_ascii_digit() || b == b':') {
            return Err(MESSAGE);
        }
        let time = NaiveTime::parse_from_str(s, format).map_err(|_| MESSAGE)?;
        // chrono reads `:60` as a leap second; a setting has no use for one.
        if time.nanosecond() >= 1_000_000_000 {
            return Err(MESSAGE);
        }
        Ok(LocalTime(time))
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.second() == 0 {
            write!(f, "{}", self.0.format("%H:%M"))
        } else {
            write!(f, "{}", self.0.format("%H:%M:%S"))
        }
    }
}

impl Serialize for LocalTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LocalTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A daily window of local time. When `end` is not after `start` the window
/// crosses midnight and ends the next day (night 22:00–06:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TimeWindow {
    pub start: LocalTime,
    pub end: LocalTime,
}

impl TimeWindow {
    pub const fn new(start: LocalTime, end: LocalTime) -> TimeWindow {
        TimeWindow { start, end }
    }

    pub fn crosses_midnight(&self) -> bool {
        self.end <= self.start
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MealWindow {
    /// Part of the alert's cause, so it must be unique among the windows.
    pub meal: String,
    #[serde(flatten)]
    pub window: TimeWindow,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct InactivitySettings {
    /// Counted in waking hours only: a quiet night is not inactivity.
    #[serde(serialize_with = "number")]
    pub hours: f64,
}

impl InactivitySettings {
    pub fn duration(&self) -> Duration {
        duration_ms(self.hours * 3_600_000.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NoMorningActivitySettings {
    pub by: LocalTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NightWanderingSettings {
    #[serde(serialize_with = "number")]
    pub return_minutes: f64,
}

impl NightWanderingSettings {
    pub fn return_within(&self) -> Duration {
        duration_ms(self.return_minutes * 60_000.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BedExitSettings {
    #[serde(serialize_with = "number")]
    pub minutes: f64,
}

impl BedExitSettings {
    pub fn return_within(&self) -> Duration {
        duration_ms(self.minutes * 60_000.0)
    }
}

/// Whether the elder is at home, and what being out means for the rules.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PresenceSettings {
    /// No motion indoors this long after the entrance door closed (with the
    /// hall sensor seeing her pass) is out.
    #[serde(serialize_with = "number")]
    pub out_after_minutes: f64,
    /// Out for at least half a meal window counts as a meal eaten out.
    pub eating_out: bool,
    /// Still out at this local time (or, out past it, at once) raises
    /// `not_returned`.
    pub return_by: LocalTime,
}

impl PresenceSettings {
    pub fn out_after(&self) -> Duration {
        duration_ms(self.out_after_minutes * 60_000.0)
    }
}

/// How the rules use the routine learned from the resident's own history
/// (`rules::routine`). Learning can only make a rule more alert than the
/// settings above, never quieter: a learned inactivity limit lies between
/// the floor and `inactivity.hours`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RoutineSettings {
    /// Whether the rules use what was learned at all.
    pub learn: bool,
    /// A learned inactivity limit is never shorter than this.
    #[serde(serialize_with = "number")]
    pub inactivity_floor_hours: f64,
    /// Added to her usual longest quiet spell for the part of the day.
    #[serde(serialize_with = "number")]
    pub inactivity_margin_minutes: f64,
    /// Out this long past her latest usual return raises `not_returned`
    /// (or `presence.return_by`, if that comes first).
    #[serde(serialize_with = "number")]
    pub return_margin_hours: f64,
    /// In a home without a hall sensor, the entrance door closed and no
    /// motion this long after it, at a time she does not usually go out:
    /// a `presence_check` asks whether she went out.
    #[serde(serialize_with = "number")]
    pub check_after_minutes: f64,
}

impl RoutineSettings {
    pub fn inactivity_floor(&self) -> Duration {
        duration_ms(self.inactivity_floor_hours * 3_600_000.0)
    }

    pub fn inactivity_margin(&self) -> Duration {
        duration_ms(self.inactivity_margin_minutes * 60_000.0)
    }

    pub fn return_margin(&self) -> Duration {
        duration_ms(self.return_margin_hours * 3_600_000.0)
    }

    pub fn check_after(&self) -> Duration {
        duration_ms(self.check_after_minutes * 60_000.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LowBatterySettings {
    #[serde(serialize_with = "number")]
    pub percent: f64,
}

/// How long and how often a vital sign must be out of range before it
/// alerts, and how long back in range before the alert clears itself.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VitalsSettings {
    /// Zero is allowed: a spot-check device (a BP cuff used once a day) never
    /// sends two readings minutes apart, so an institution may alert on
    /// `min_readings` alone.
    #[serde(serialize_with = "number")]
    pub duration_minutes: f64,
    #[serde(serialize_with = "number")]
    pub clear_minutes: f64,
    /// Consecutive out-of-range readings needed: two by default, so one
    /// spike (a loose wearable) never alerts.
    pub min_readings: u32,
}

impl VitalsSettings {
    pub fn duration(&self) -> Duration {
        duration_ms(self.duration_minutes * 60_000.0)
    }

    pub fn clear_after(&self) -> Duration {
        duration_ms(self.clear_minutes * 60_000.0)
    }
}

/// Care visits: how long after its start a visit nobody checked in to is
/// missed, how far from home a check-in may be before it is an exception,
/// and how soon after a hospital discharge she is visited at home.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VisitSettings {
    #[serde(serialize_with = "number")]
    pub grace_minutes: f64,
    /// Beyond the phone's own accuracy: `distance_m - accuracy_m` over this.
    #[serde(serialize_with = "number")]
    pub far_from_home_m: f64,
    /// The check at home after a hospital stay a partner sent is planned
    /// within this many hours of the discharge.
    #[serde(serialize_with = "number")]
    pub post_discharge_check_hours: f64,
}

impl VisitSettings {
    pub fn grace(&self) -> Duration {
        duration_ms(self.grace_minutes * 60_000.0)
    }

    pub fn post_discharge_check(&self) -> Duration {
        duration_ms(self.post_discharge_check_hours * 3_600_000.0)
    }
}

/// The normal range of one metric; a missing bound is not checked.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, utoipa::ToSchema)]
pub struct Threshold {
    #[serde(serialize_with = "optional_number", skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(serialize_with = "optional_number", skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl Threshold {
    pub const fn new(min: Option<f64>, max: Option<f64>) -> Threshold {
        Threshold { min, max }
    }
}

/// Thresholds by vital sign metric, serialised as `{"heart_rate": {...}}`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Thresholds(Vec<(Metric, Threshold)>);

impl Thresholds {
    pub fn get(&self, metric: Metric) -> Option<&Threshold> {
        self.0.iter().find(|(m, _)| *m == metric).map(|(_, t)| t)
    }

    /// Keeps the catalog's order, so the settings always print the same way.
    pub fn set(&mut self, metric: Metric, threshold: Threshold) {
        match self.0.iter_mut().find(|(m, _)| *m == metric) {
            Some(entry) => entry.1 = threshold,
            None => {
                self.0.push((metric, threshold));
                self.0.sort_by_key(|(m, _)| catalog_position(*m));
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (Metric, &Threshold)> {
        self.0.iter().map(|(m, t)| (*m, t))
    }
}

fn catalog_position(metric: Metric) -> usize {
    Metric::ALL.iter().position(|m| *m == metric).unwrap_or(usize::MAX)
}

impl Serialize for Thresholds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (metric, threshold) in &self.0 {
            map.serialize_entry(metric.as_str(), threshold)?;
        }
        map.end()
    }
}

/// The effective rule settings of one resident. Serialises to the contract's
/// rule-settings document, plus `low_battery`, `meal_windows`, `thresholds`
/// and `vitals`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleSettings {
    /// Away/visit mode: behaviour rules have nobody to watch.
    pub away: bool,
    pub waking_hours: TimeWindow,
    pub inactivity: InactivitySettings,
    pub no_morning_activity: NoMorningActivitySettings,
    pub night: TimeWindow,
    pub night_wandering: NightWanderingSettings,
    pub bed_exit_no_return: BedExitSettings,
    pub presence: PresenceSettings,
    pub routine: RoutineSettings,
    #[serde(serialize_with = "number")]
    pub fall_cancel_seconds: f64,
    pub low_battery: LowBatterySettings,
    pub meal_windows: Vec<MealWindow>,
    /// Whether some layer set the meal windows (staff, by hand): only the
    /// built-in windows are moved to the resident's own meal times.
    #[serde(skip)]
    pub meal_windows_set: bool,
    pub thresholds: Thresholds,
    pub vitals: VitalsSettings,
    pub visits: VisitSettings,
}

impl Default for RuleSettings {
    /// The built-in institution defaults.
    fn default() -> Self {
        let meal = |meal: &str, start, end| MealWindow { meal: meal.into(), window: TimeWindow::new(start, end) };
        let mut thresholds = Thresholds::default();
        // Elders on beta blockers sit in the 50s, so bradycardia starts at 40;
        // above 130 at rest is a tachycardia worth a look.
        thresholds.set(Metric::HeartRate, Threshold::new(Some(40.0), Some(130.0)));
        // Below 90 % is hypoxaemia; how far below sets the severity.
        thresholds.set(Metric::Spo2, Threshold::new(Some(90.0), None));
        // Hypothermia below 35 °C; elders mount weaker fevers, so 38.0 rather than 38.3.
        thresholds.set(Metric::BodyTemperature, Threshold::new(Some(35.0), Some(38.0)));
        // NEWS2 scores 3 at ≤ 8 and ≥ 25 breaths a minute.
        thresholds.set(Metric::RespiratoryRate, Threshold::new(Some(8.0), Some(25.0)));
        // Hypotension (falls, fainting) below 90; hypertensive urgency above 180/110.
        thresholds.set(Metric::BpSystolic, Threshold::new(Some(90.0), Some(180.0)));
        thresholds.set(Metric::BpDiastolic, Threshold::new(Some(50.0), Some(110.0)));
        // ADA level 1 hypoglycaemia (< 70 mg/dL) and marked hyperglycaemia (> 250 mg/dL).
        thresholds.set(Metric::BloodGlucose, Threshold::new(Some(3.9), Some(13.9)));
        RuleSettings {
            away: false,
            waking_hours: TimeWindow::new(LocalTime::hm(7, 0), LocalTime::hm(22, 0)),
            inactivity: InactivitySettings { hours: 3.0 },
            no_morning_activity: NoMorningActivitySettings { by: LocalTime::hm(10, 0) },
            night: TimeWindow::new(LocalTime::hm(22, 0), LocalTime::hm(6, 0)),
            night_wandering: NightWanderingSettings { return_minutes: 10.0 },
            bed_exit_no_return: BedExitSettings { minutes: 30.0 },
            presence: PresenceSettings { out_after_minutes: 10.0, eating_out: true, return_by: LocalTime::hm(22, 0) },
            routine: RoutineSettings {
                learn: true,
                inactivity_floor_hours: 2.0,
                inactivity_margin_minutes: 30.0,
                return_margin_hours: 2.0,
                check_after_minutes: 30.0,
            },
            fall_cancel_seconds: 60.0,
            low_battery: LowBatterySettings { percent: 15.0 },
            meal_windows: vec![
                meal("breakfast", LocalTime::hm(7, 0), LocalTime::hm(9, 30)),
                meal("lunch", LocalTime::hm(11, 0), LocalTime::hm(13, 30)),
                meal("dinner", LocalTime::hm(17, 0), LocalTime::hm(19, 30)),
            ],
            meal_windows_set: false,
            thresholds,
            vitals: VitalsSettings { duration_minutes: 5.0, clear_minutes: 10.0, min_readings: 2 },
            // The days after a discharge are when elders fall and are readmitted.
            visits: VisitSettings { grace_minutes: 30.0, far_from_home_m: 200.0, post_discharge_check_hours: 48.0 },
        }
    }
}

impl<'de> Deserialize<'de> for RuleSettings {
    /// A partial document is read over the defaults, through the same
    /// validation as any other layer.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        RuleSettings::default().apply_patch(&value).map_err(serde::de::Error::custom)
    }
}

impl RuleSettings {
    /// Defaults ← institution overrides ← resident overrides. A missing or
    /// `null` layer overrides nothing.
    pub fn from_layers(institution: Option<&Value>, resident: Option<&Value>) -> Result<RuleSettings, SettingsError> {
        let mut settings = RuleSettings::default();
        for layer in [institution, resident].into_iter().flatten().filter(|layer| !layer.is_null()) {
            settings = settings.apply_patch(layer)?;
        }
        Ok(settings)
    }

    /// Checks a patch on its own, over the built-in defaults. A patch for a
    /// resident should also be checked in context, as
    /// `from_layers(institution, Some(&merge_patch(stored, patch)))`: a bound
    /// that is fine over the defaults may cross the institution's other bound.
    pub fn validate_patch(patch: &Value) -> Result<(), SettingsError> {
        RuleSettings::default().apply_patch(patch).map(drop)
    }

    /// These settings with `patch` applied: keys given replace, `null` keeps
    /// the value from `self`, arrays (meal windows) replace wholesale.
    /// Refuses unknown keys, wrong types, bad times, out-of-range amounts and
    /// inconsistent combinations, naming the field.
    pub fn apply_patch(&self, patch: &Value) -> Result<RuleSettings, SettingsError> {
        if !patch.is_object() {
            return Err(SettingsError::new(ROOT, "must be a JSON object"));
        }
        let mut out = self.clone();
        for_each_field(patch, "", |key, value, field| match key {
            "away" => set(&mut out.away, boolean(value, field)),
            "waking_hours" => patch_window(&mut out.waking_hours, value, field),
            "night" => patch_window(&mut out.night, value, field),
            "inactivity" => for_each_field(value, field, |key, value, field| match key {
                "hours" => set(&mut out.inactivity.hours, amount(value, field, Bound::Positive(MAX_HOURS))),
                _ => Err(unknown(field)),
            }),
            "no_morning_activity" => for_each_field(value, field, |key, value, field| match key {
                "by" => set(&mut out.no_morning_activity.by, time(value, field)),
                _ => Err(unknown(field)),
            }),
            "night_wandering" => for_each_field(value, field, |key, value, field| match key {
                "return_minutes" => {
                    set(&mut out.night_wandering.return_minutes, amount(value, field, Bound::Positive(MAX_MINUTES)))
                }
                _ => Err(unknown(field)),
            }),
            "bed_exit_no_return" => for_each_field(value, field, |key, value, field| match key {
                "minutes" => {
                    set(&mut out.bed_exit_no_return.minutes, amount(value, field, Bound::Positive(MAX_MINUTES)))
                }
                _ => Err(unknown(field)),
            }),
            "presence" => for_each_field(value, field, |key, value, field| match key {
                "out_after_minutes" => {
                    set(&mut out.presence.out_after_minutes, amount(value, field, Bound::Positive(MAX_MINUTES)))
                }
                "eating_out" => set(&mut out.presence.eating_out, boolean(value, field)),
                "return_by" => set(&mut out.presence.return_by, time(value, field)),
                _ => Err(unknown(field)),
            }),
            "routine" => for_each_field(value, field, |key, value, field| match key {
                "learn" => set(&mut out.routine.learn, boolean(value, field)),
                "inactivity_floor_hours" => {
                    set(&mut out.routine.inactivity_floor_hours, amount(value, field, Bound::Positive(MAX_HOURS)))
                }
                "inactivity_margin_minutes" => set(
                    &mut out.routine.inactivity_margin_minutes,
                    amount(value, field, Bound::NonNegative(MAX_MINUTES)),
                ),
                "return_margin_hours" => {
                    set(&mut out.routine.return_margin_hours, amount(value, field, Bound::NonNegative(MAX_HOURS)))
                }
                "check_after_minutes" => {
                    set(&mut out.routine.check_after_minutes, amount(value, field, Bound::Positive(MAX_MINUTES)))
                }
                _ => Err(unknown(field)),
            }),
            "fall_cancel_seconds" => {
                set(&mut out.fall_cancel_seconds, amount(value, field, Bound::Positive(MAX_FALL_CANCEL_SECONDS)))
            }
            "low_battery" => for_each_field(value, field, |key, value, field| match key {
                "percent" => {
                    set(&mut out.low_battery.percent, amount(value, field, Bound::Positive(MAX_LOW_BATTERY_PERCENT)))
                }
                _ => Err(unknown(field)),
            }),
            "meal_windows" => {
                let windows = meal_windows(value, field)?;
                out.meal_windows_set |= windows.is_some();
                set(&mut out.meal_windows, Ok(windows))
            }
            "thresholds" => patch_thresholds(&mut out.thresholds, value, field),
            "vitals" => for_each_field(value, field, |key, value, field| match key {
                "duration_minutes" => {
                    set(&mut out.vitals.duration_minutes, amount(value, field, Bound::NonNegative(MAX_MINUTES)))
                }
                "clear_minutes" => {
                    set(&mut out.vitals.clear_minutes, amount(value, field, Bound::NonNegative(MAX_MINUTES)))
                }
                "min_readings" => set(&mut out.vitals.min_readings, count(value, field)),
                _ => Err(unknown(field)),
            }),
            "visits" => for_each_field(value, field, |key, value, field| match key {
                "grace_minutes" => {
                    set(&mut out.visits.grace_minutes, amount(value, field, Bound::Positive(MAX_MINUTES)))
                }
                "far_from_home_m" => {
                    set(&mut out.visits.far_from_home_m, amount(value, field, Bound::Positive(MAX_FAR_FROM_HOME_M)))
                }
                "post_discharge_check_hours" => set(
                    &mut out.visits.post_discharge_check_hours,
                    amount(value, field, Bound::Positive(MAX_DISCHARGE_CHECK_HOURS)),
                ),
                _ => Err(unknown(field)),
            }),
            _ => Err(unknown(field)),
        })?;
        out.check()?;
        Ok(out)
    }

    /// Checks that span fields, run after every layer so that a combination
    /// made of two layers is judged too.
    fn check(&self) -> Result<(), SettingsError> {
        for (name, window) in [("waking_hours", &self.waking_hours), ("night", &self.night)] {
            if window.start == window.end {
                return Err(SettingsError::new(format!("{name}.end"), "must differ from start"));
            }
        }
        for (i, meal) in self.meal_windows.iter().enumerate() {
            if meal.window.start == meal.window.end {
                return Err(SettingsError::new(format!("meal_windows[{i}].end"), "must differ from start"));
            }
            if self.meal_windows[..i].iter().any(|other| other.meal == meal.meal) {
                return Err(SettingsError::new(format!("meal_windows[{i}].meal"), "names another window's meal"));
            }
        }
        for (metric, threshold) in self.thresholds.iter() {
            if let (Some(min), Some(max)) = (threshold.min, threshold.max) {
                // Equal bounds would leave no value that is clearly back in range.
                if min >= max {
                    return Err(SettingsError::new(
                        format!("thresholds.{metric}"),
                        format!("min ({min}) must be below max ({max})"),
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn fall_cancel_window(&self) -> Duration {
        duration_ms(self.fall_cancel_seconds * 1000.0)
    }
}

/// RFC 7386 JSON merge patch: objects merge key by key, `null` removes a key,
/// anything else (arrays included) replaces.
pub fn merge_patch(base: &Value, patch: &Value) -> Value {
    let Value::Object(patch) = patch else {
        return patch.clone();
    };
    let mut out = match base {
        Value::Object(base) => base.clone(),
        _ => Map::new(),
    };
    for (key, value) in patch {
        if value.is_null() {
            out.remove(key);
        } else {
            let merged = merge_patch(out.get(key).unwrap_or(&Value::Null), value);
            out.insert(key.clone(), merged);
        }
    }
    Value::Object(out)
}

/// Amounts are validated to a sane range before they get here; `as` saturates
/// rather than panics on anything a caller builds by hand.
fn duration_ms(ms: f64) -> Duration {
    Duration::milliseconds(ms.round() as i64)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

fn unknown(field: &str) -> SettingsError {
    SettingsError::new(field, "unknown setting")
}

/// Stores a parsed override; `None` (a `null`) keeps what the lower layer said.
fn set<T>(slot: &mut T, value: Result<Option<T>, SettingsError>) -> Result<(), SettingsError> {
    if let Some(value) = value? {
        *slot = value;
    }
    Ok(())
}

/// Calls `f(key, value, field path)` for each key of an object; `null` stands
/// for "no override here" and visits nothing.
fn for_each_field(
    value: &Value,
    path: &str,
    mut f: impl FnMut(&str, &Value, &str) -> Result<(), SettingsError>,
) -> Result<(), SettingsError> {
    match value {
        Value::Null => Ok(()),
        Value::Object(map) => map.iter().try_for_each(|(key, value)| f(key, value, &join(path, key))),
        _ => Err(SettingsError::new(if path.is_empty() { ROOT } else { path }, "must be an object")),
    }
}

fn boolean(value: &Value, field: &str) -> Result<Option<bool>, SettingsError> {
    match value {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        _ => Err(SettingsError::new(field, "must be true or false")),
    }
}

fn time(value: &Value, field: &str) -> Result<Option<LocalTime>, SettingsError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => s.parse().map(Some).map_err(|message| SettingsError::new(field, message)),
        _ => Err(SettingsError::new(field, "must be a time of day as HH:MM or HH:MM:SS")),
    }
}

enum Bound {
    Positive(f64),
    NonNegative(f64),
}

fn amount(value: &Value, field: &str, bound: Bound) -> Result<Option<f64>, SettingsError> {
    let x = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_f64().filter(|x| x.is_finite()),
        _ => None,
    };
    let x = x.ok_or_else(|| SettingsError::new(field, "must be a number"))?;
    let max = match bound {
        Bound::Positive(_) if x <= 0.0 => return Err(SettingsError::new(field, "must be greater than 0")),
        Bound::NonNegative(max) if x < 0.0 => {
            return Err(SettingsError::new(field, format!("must be between 0 and {max}")));
        }
        Bound::Positive(max) | Bound::NonNegative(max) => max,
    };
    if x > max {
        return Err(SettingsError::new(field, format!("must be at most {max}")));
    }
    Ok(Some(x))
}

fn count(value: &Value, field: &str) -> Result<Option<u32>, SettingsError> {
    let message = || SettingsError::new(field, format!("must be a whole number from 1 to {MAX_MIN_READINGS}"));
    let x = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_f64().ok_or_else(message)?,
        _ => return Err(message()),
    };
    if x.fract() != 0.0 || !(1.0..=MAX_MIN_READINGS).contains(&x) {
        return Err(message());
    }
    Ok(Some(x as u32))
}

fn patch_window(window: &mut TimeWindow, value: &Value, path: &str) -> Result<(), SettingsError> {
    for_each_field(value, path, |key, value, field| match key {
        "start" => set(&mut window.start, time(value, field)),
        "end" => set(&mut window.end, time(value, field)),
        _ => Err(unknown(field)),
    })
}

fn meal_windows(value: &Value, path: &str) -> Result<Option<Vec<MealWindow>>, SettingsError> {
    let items = match value {
        Value::Null => return Ok(None),
        Value::Array(items) => items,
        _ => return Err(SettingsError::new(path, "must be an array of meal windows")),
    };
    let mut windows = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let Value::Object(fields) = item else {
            return Err(SettingsError::new(item_path, "must be an object with meal, start and end"));
        };
        if let Some(key) = fields.keys().find(|k| !matches!(k.as_str(), "meal" | "start" | "end")) {
            return Err(unknown(&join(&item_path, key)));
        }
        let required = |key: &str| {
            fields.get(key).filter(|v| !v.is_null()).ok_or_else(|| SettingsError::new(join(&item_path, key), "missing"))
        };
        let meal = match required("meal")? {
            Value::String(name) if !name.trim().is_empty() && name.chars().count() <= MAX_MEAL_NAME => {
                name.trim().to_owned()
            }
            _ => {
                return Err(SettingsError::new(
                    join(&item_path, "meal"),
                    format!("must be a name of 1 to {MAX_MEAL_NAME} characters"),
                ));
            }
        };
        let start_field = join(&item_path, "start");
        let end_field = join(&item_path, "end");
        let start =
            time(required("start")?, &start_field)?.ok_or_else(|| SettingsError::new(&start_field, "missing"))?;
        let end = time(required("end")?, &end_field)?.ok_or_else(|| SettingsError::new(&end_field, "missing"))?;
        windows.push(MealWindow { meal, window: TimeWindow::new(start, end) });
    }
    Ok(Some(windows))
}

fn patch_thresholds(thresholds: &mut Thresholds, value: &Value, path: &str) -> Result<(), SettingsError> {
    for_each_field(value, path, |name, value, field| {
        let metric = Metric::parse(name).filter(|m| is_vital(*m)).ok_or_else(|| {
            let known: Vec<_> = Metric::ALL.into_iter().filter(|m| is_vital(*m)).map(|m| m.as_str()).collect();
            SettingsError::new(field, format!("not a vital sign metric (one of {})", known.join(", ")))
        })?;
        let mut threshold = thresholds.get(metric).copied().unwrap_or_default();
        for_each_field(value, field, |key, value, field| {
            let slot = match key {
                "min" => &mut threshold.min,
                "max" => &mut threshold.max,
                _ => return Err(unknown(field)),
            };
            let bound = match value {
                Value::Null => return Ok(()),
                Value::Number(n) => n.as_f64().filter(|x| x.is_finite()),
                _ => None,
            };
            let bound = bound.ok_or_else(|| SettingsError::new(field, "must be a number"))?;
            // The plausible range catches a bound written in the wrong unit
            // (glucose in mg/dL, temperature in °F) that would never trigger.
            if !metric.is_plausible(bound) {
                let (low, high) = metric.plausible();
                return Err(SettingsError::new(field, format!("must be between {low} and {high} {}", metric.unit())));
            }
            *slot = Some(bound);
            Ok(())
        })?;
        thresholds.set(metric, threshold);
        Ok(())
    })
}

/// Whole numbers print as integers: the contract writes `"hours": 3`, and in
/// JSON values `3` and `3.0` are not equal.
fn number<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0;
    if value.fract() == 0.0 && value.abs() < EXACT_INTEGER_LIMIT {
        serializer.serialize_i64(*value as i64)
    } else {
        serializer.serialize_f64(*value)
    }
}

/// A setting as a JSON number, spelled as the settings document spells it,
/// for decision details.
pub(crate) fn number_value(value: f64) -> Value {
    number(&value, serde_json::value::Serializer).unwrap_or(Value::Null)
}

fn optional_number<S: Serializer>(value: &Option<f64>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => number(value, serializer),
        None => serializer.serialize_none(),
    }
}

/// The metrics that can carry a threshold and raise `vital_abnormal`.
pub fn is_vital(metric: Metric) -> bool {
    matches!(
        metric,
        Metric::HeartRate
            | Metric::RespiratoryRate
            | Metric::Spo2
            | Metric::BodyTemperature
            | Metric::BpSystolic
            | Metric::BpDiastolic
            | Metric::BloodGlucose
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn contract_example() -> Value {
        json!({"away": false,
               "waking_hours": {"start": "07:00", "end": "22:00"},
               "inactivity": {"hours": 3},
               "no_morning_activity": {"by": "10:00"},
               "night": {"start": "22:00", "end": "06:00"},
               "night_wandering": {"return_minutes": 10},
               "bed_exit_no_return": {"minutes": 30},
               "fall_cancel_seconds": 60})
    }

    fn error(patch: Value) -> SettingsError {
        RuleSettings::validate_patch(&patch).unwrap_err()
    }

    #[test]
    fn defaults_serialise_to_the_contract_example_plus_our_keys() {
        let Value::Object(mut doc) = serde_json::to_value(RuleSettings::default()).unwrap() else {
            panic!("settings must serialise to an object");
        };
        assert_eq!(doc.remove("low_battery").unwrap(), json!({"percent": 15}));
        assert_eq!(
            doc.remove("meal_windows").unwrap(),
            json!([{"meal": "breakfast", "start": "07:00", "end": "09:30"},
                   {"meal": "lunch", "start": "11:00", "end": "13:30"},
                   {"meal": "dinner", "start": "17:00", "end": "19:30"}])
        );
        assert_eq!(
            doc.remove("thresholds").unwrap(),
            json!({"heart_rate": {"min": 40, "max": 130},
                   "respiratory_rate": {"min": 8, "max": 25},
                   "spo2": {"min": 90},
                   "body_temperature": {"min": 35, "max": 38},
                   "bp_systolic": {"min": 90, "max": 180},
                   "bp_diastolic": {"min": 50, "max": 110},
                   "blood_glucose": {"min": 3.9, "max": 13.9}})
        );
        assert_eq!(
            doc.remove("vitals").unwrap(),
            json!({"duration_minutes": 5, "clear_minutes": 10, "min_readings": 2})
        );
        assert_eq!(
            doc.remove("visits").unwrap(),
            json!({"grace_minutes": 30, "far_from_home_m": 200, "post_discharge_check_hours": 48})
        );
        assert_eq!(
            doc.remove("presence").unwrap(),
            json!({"out_after_minutes": 10, "eating_out": true, "return_by": "22:00"})
        );
        assert_eq!(
            doc.remove("routine").unwrap(),
            json!({"learn": true, "inactivity_floor_hours": 2, "inactivity_margin_minutes": 30,
                   "return_margin_hours": 2, "check_after_minutes": 30})
        );
        assert_eq!(Value::Object(doc), contract_example());
    }

    #[test]
    fn visit_settings_are_checked_like_the_others() {
        let patched = RuleSettings::default()
            .apply_patch(&json!({"visits": {"grace_minutes": 45, "far_from_home_m": 150.5,
                                             "post_discharge_check_hours": 24}}))
            .unwrap();
        assert_eq!(patched.visits.grace(), Duration::minutes(45));
        assert_eq!(patched.visits.post_discharge_check(), Duration::hours(24));
        assert_eq!(patched.visits.far_from_home_m, 150.5);
        let field = |patch: Value| RuleSettings::default().apply_patch(&patch).unwrap_err().field;
        assert_eq!(field(json!({"visits": {"grace_minutes": 0}})), "visits.grace_minutes");
        assert_eq!(field(json!({"visits": {"far_from_home_m": "far"}})), "visits.far_from_home_m");
        assert_eq!(field(json!({"visits": {"post_discharge_check_hours": 169}})), "visits.post_discharge_check_hours");
        assert_eq!(field(json!({"visits": {"late_minutes": 10}})), "visits.late_minutes");
    }

    #[test]
    fn json_round_trips() {
        let example: RuleSettings = serde_json::from_value(contract_example()).unwrap();
        assert_eq!(example, RuleSettings::default());

        let mut custom = RuleSettings { away: true, ..RuleSettings::default() };
        custom.inactivity.hours = 2.5;
        custom.night = TimeWindow::new("21:30:15".parse().unwrap(), LocalTime::hm(5, 45));
        custom.thresholds.set(Metric::Spo2, Threshold::new(Some(92.5), None));
        custom.meal_windows = vec![MealWindow {
            meal: "supper".into(),
            window: TimeWindow::new(LocalTime::hm(23, 0), LocalTime::hm(0, 30)),
        }];
        let text = serde_json::to_string(&custom).unwrap();
        assert!(text.contains(r#""start":"21:30:15""#), "{text}");
        assert!(text.contains(r#""hours":2.5"#), "{text}");
        let back: RuleSettings = serde_json::from_str(&text).unwrap();
        // Read back, the windows are ones somebody set.
        assert!(back.meal_windows_set);
        assert_eq!(back, RuleSettings { meal_windows_set: true, ..custom });
    }

    #[test]
    fn local_times_parse_strictly() {
        assert_eq!("07:00".parse::<LocalTime>().unwrap(), LocalTime::hm(7, 0));
        assert_eq!("23:59:59".parse::<LocalTime>().unwrap().to_string(), "23:59:59");
        assert_eq!("06:30:00".parse::<LocalTime>().unwrap().to_string(), "06:30");
        for bad in ["7:00", "24:00", "12:60", "23:59:60", "12:00:00.5", "noon", "", "12-00", " 12:00", "+1:00"] {
            assert!(bad.parse::<LocalTime>().is_err(), "{bad}");
        }
        assert!(TimeWindow::new(LocalTime::hm(22, 0), LocalTime::hm(6, 0)).crosses_midnight());
        assert!(!TimeWindow::new(LocalTime::hm(7, 0), LocalTime::hm(22, 0)).crosses_midnight());
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        // The RFC's own example (appendix A).
        let target = json!({"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"},
                            "tags": ["example", "sample"], "content": "This will be unchanged"});
        let patch = json!({"title": "Hello!", "phoneNumber": "+01-123-456-7890",
                           "author": {"familyName": null}, "tags": ["example"]});
        assert_eq!(
            merge_patch(&target, &patch),
            json!({"title": "Hello!", "author": {"givenName": "John"}, "tags": ["example"],
                   "content": "This will be unchanged", "phoneNumber": "+01-123-456-7890"})
        );
        assert_eq!(merge_patch(&json!({"a": "b"}), &json!({"a": {"bb": {"ccc": null}}})), json!({"a": {"bb": {}}}));
        assert_eq!(merge_patch(&json!({"a": [1]}), &json!(["c"])), json!(["c"]));
        assert_eq!(merge_patch(&json!({"a": 1}), &json!(null)), json!(null));
    }

    #[test]
    fn layers_override_in_order_and_null_shows_the_layer_below() {
        let institution = json!({"inactivity": {"hours": 4}, "thresholds": {"heart_rate": {"max": 140}}});
        let resident = json!({"inactivity": {"hours": 2.5}, "thresholds": {"heart_rate": {"min": 45}},
                              "night": {"start": "21:00"}, "away": true});
        let settings = RuleSettings::from_layers(Some(&institution), Some(&resident)).unwrap();
        assert_eq!(settings.inactivity.hours, 2.5);
        assert_eq!(settings.thresholds.get(Metric::HeartRate), Some(&Threshold::new(Some(45.0), Some(140.0))));
        assert_eq!(settings.night, TimeWindow::new(LocalTime::hm(21, 0), LocalTime::hm(6, 0)));
        assert!(settings.away);
        assert_eq!(settings.inactivity.duration(), Duration::minutes(150));

        // A PATCH with null drops the resident's override: the institution's value shows again.
        let stored = merge_patch(&resident, &json!({"inactivity": {"hours": null}, "away": null}));
        let settings = RuleSettings::from_layers(Some(&institution), Some(&stored)).unwrap();
        assert_eq!(settings.inactivity.hours, 4.0);
        assert!(!settings.away);

        assert_eq!(RuleSettings::from_layers(None, Some(&Value::Null)).unwrap(), RuleSettings::default());
    }

    #[test]
    fn meal_windows_replace_wholesale() {
        let patch = json!({"meal_windows": [{"meal": "lunch", "start": "11:30", "end": "13:00"},
                                            {"meal": "late snack", "start": "23:00", "end": "00:30"}]});
        let settings = RuleSettings::from_layers(None, Some(&patch)).unwrap();
        assert_eq!(settings.meal_windows.len(), 2);
        assert!(settings.meal_windows[1].window.crosses_midnight());
        let none = RuleSettings::from_layers(None, Some(&json!({"meal_windows": []}))).unwrap();
        assert!(none.meal_windows.is_empty());
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (json!({"awya": true}), "awya", "unknown setting"),
            (json!({"bogus": null}), "bogus", "unknown setting"),
            (json!({"night": {"begin": "22:00"}}), "night.begin", "unknown setting"),
            (json!({"night": {"start": "25:00"}}), "night.start", "HH:MM"),
            (json!({"night": {"start": 22}}), "night.start", "HH:MM"),
            (json!({"night": "22:00-06:00"}), "night", "must be an object"),
            (json!({"waking_hours": {"start": "07:00", "end": "07:00"}}), "waking_hours.end", "differ"),
            (json!({"away": "yes"}), "away", "true or false"),
            (json!({"inactivity": {"hours": 0}}), "inactivity.hours", "greater than 0"),
            (json!({"inactivity": {"hours": -1}}), "inactivity.hours", "greater than 0"),
            (json!({"inactivity": {"hours": 49}}), "inactivity.hours", "at most 48"),
            (json!({"inactivity": {"hours": "3"}}), "inactivity.hours", "must be a number"),
            (json!({"night_wandering": {"return_minutes": 1441}}), "night_wandering.return_minutes", "at most"),
            (json!({"bed_exit_no_return": {"minutes": 0}}), "bed_exit_no_return.minutes", "greater than 0"),
            (json!({"fall_cancel_seconds": 0}), "fall_cancel_seconds", "greater than 0"),
            (json!({"low_battery": {"percent": 99}}), "low_battery.percent", "at most 95"),
            (json!({"vitals": {"min_readings": 0}}), "vitals.min_readings", "whole number"),
            (json!({"vitals": {"min_readings": 2.5}}), "vitals.min_readings", "whole number"),
            (json!({"vitals": {"duration_minutes": -1}}), "vitals.duration_minutes", "between 0"),
            (json!({"thresholds": {"heart_rate": {"min": 140}}}), "thresholds.heart_rate", "below max"),
            (json!({"thresholds": {"heart_rate": {"min": 90, "max": 90}}}), "thresholds.heart_rate", "below max"),
            (json!({"thresholds": {"pulse": {"min": 40}}}), "thresholds.pulse", "not a vital sign"),
            (json!({"thresholds": {"steps": {"min": 40}}}), "thresholds.steps", "not a vital sign"),
            (json!({"thresholds": {"spo2": {"low": 90}}}), "thresholds.spo2.low", "unknown setting"),
            (json!({"thresholds": {"spo2": {"min": "90"}}}), "thresholds.spo2.min", "must be a number"),
            (json!({"thresholds": {"blood_glucose": {"max": 180}}}), "thresholds.blood_glucose.max", "mmol/L"),
            (json!({"thresholds": [1]}), "thresholds", "must be an object"),
            (json!({"meal_windows": {"meal": "lunch"}}), "meal_windows", "array"),
            (json!({"meal_windows": [{"meal": "lunch", "start": "11:00"}]}), "meal_windows[0].end", "missing"),
            (json!({"meal_windows": [{"meal": "", "start": "11:00", "end": "12:00"}]}), "meal_windows[0].meal", "name"),
            (
                json!({"meal_windows": [{"meal": "a", "start": "11:00", "end": "12:00", "size": 1}]}),
                "meal_windows[0].size",
                "unknown setting",
            ),
            (
                json!({"meal_windows": [{"meal": "a", "start": "11:00", "end": "12:00"},
                                        {"meal": "a", "start": "17:00", "end": "18:00"}]}),
                "meal_windows[1].meal",
                "another",
            ),
            (
                json!({"meal_windows": [{"meal": "a", "start": "11:00", "end": "11:00"}]}),
                "meal_windows[0].end",
                "differ",
            ),
            (json!([]), ROOT, "JSON object"),
            (json!(null), ROOT, "JSON object"),
        ];
        for (patch, field, message) in cases {
            let err = error(patch.clone());
            assert_eq!(err.field, field, "{patch}");
            assert!(err.message.contains(message), "{patch}: {}", err.message);
        }
        let err = error(json!({"night": {"start": "25:00"}}));
        assert_eq!(err.to_string(), "night.start: must be a time of day as HH:MM or HH:MM:SS");
    }

    #[test]
    fn a_bound_can_be_valid_alone_and_invalid_over_the_institutions_layer() {
        let institution = json!({"thresholds": {"heart_rate": {"max": 100}}});
        let patch = json!({"thresholds": {"heart_rate": {"min": 110}}});
        assert!(RuleSettings::validate_patch(&patch).is_ok());
        let err = RuleSettings::from_layers(Some(&institution), Some(&patch)).unwrap_err();
        assert_eq!(err.field, "thresholds.heart_rate");
    }

    #[test]
    fn nulls_and_valid_values_pass() {
        let ok = json!({"away": null, "night": {"start": "21:30:30", "end": null},
                        "thresholds": {"spo2": {"min": 88, "max": null}, "heart_rate": null},
                        "vitals": {"duration_minutes": 0, "min_readings": 1},
                        "fall_cancel_seconds": 30.5});
        RuleSettings::validate_patch(&ok).unwrap();
    }

    proptest! {
        #[test]
        fn any_json_patch_is_judged_without_panicking(patch in arb_json()) {
            let _ = RuleSettings::validate_patch(&patch);
            let _ = RuleSettings::validate_patch(&json!({"thresholds": patch.clone()}));
            let _ = RuleSettings::validate_patch(&json!({"meal_windows": patch.clone()}));
            let _ = RuleSettings::validate_patch(&json!({"night": patch}));
        }

        #[test]
        fn merge_patch_is_idempotent(target in arb_json(), patch in arb_json()) {
            let once = merge_patch(&target, &patch);
            prop_assert_eq!(merge_patch(&once, &patch), once);
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let key = prop::sample::select(vec![
            "away",
            "night",
            "start",
            "end",
            "hours",
            "thresholds",
            "spo2",
            "min",
            "max",
            "meal_windows",
            "meal",
            "x",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            (-1e3f64..1e3).prop_map(|n| json!(n)),
            prop::sample::select(vec!["07:00", "25:00", "12:30:15", "lunch", ""]).prop_map(|s| json!(s)),
        ];
        leaf.prop_recursive(4, 32, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key.clone(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
            ]
        })
    }
}
