//! The rule settings' schemas in the API document. The settings are JSON
//! merge patches over stored JSON, not Rust types, so their schemas are
//! written as JSON here, next to the bounds they name ([`super::settings`]);
//! the rule-settings API and the backtest request both point at them.

use serde_json::{Value, json};
use utoipa::openapi::schema::ObjectBuilder;
use utoipa::openapi::{RefOr, Schema};

use super::field::{NOT_BLANK, closed_json};

/// The effective rule settings, as the server answers them.
pub struct RuleSettings;

impl utoipa::PartialSchema for RuleSettings {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .description(Some(
                "Effective settings: away, waking_hours, inactivity, no_morning_activity, night, night_wandering, \
                 bed_exit_no_return, presence (out_after_minutes, default 10; eating_out, default true; return_by, \
                 default 22:00), routine (how the rules use the routine learned from her own weeks: learn, default \
                 true; inactivity_floor_hours, default 2; inactivity_margin_minutes, default 30; \
                 return_margin_hours, default 2; check_after_minutes, default 30), fall_cancel_seconds, low_battery, meal_windows, thresholds, vitals, visits \
                 (grace_minutes before a visit nobody checked in to is missed, default 30; far_from_home_m, default \
                 200; post_discharge_check_hours, within which the check at home after a hospital discharge a \
                 medical partner sent is planned, default 48). As a request: a JSON merge patch of those keys. Times are HH:MM or HH:MM:SS in the \
                 resident's timezone.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for RuleSettings {}

/// A JSON merge patch of rule settings (see [`rule_settings_patch`]).
pub struct RuleSettingsPatch;

impl utoipa::PartialSchema for RuleSettingsPatch {
    fn schema() -> RefOr<Schema> {
        closed_json(rule_settings_patch())
    }
}

impl utoipa::ToSchema for RuleSettingsPatch {}

/// A resident's meal windows (see [`meal_windows`]).
pub struct MealWindows;

impl utoipa::PartialSchema for MealWindows {
    fn schema() -> RefOr<Schema> {
        closed_json(meal_windows())
    }
}

impl utoipa::ToSchema for MealWindows {}

/// A resident's vital-sign thresholds (see [`thresholds`]).
pub struct Thresholds;

impl utoipa::PartialSchema for Thresholds {
    fn schema() -> RefOr<Schema> {
        closed_json(thresholds())
    }
}

impl utoipa::ToSchema for Thresholds {}

/// A time of day in the resident's timezone, `HH:MM` or `HH:MM:SS`.
fn time_of_day() -> Value {
    json!({"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"})
}

fn nullable(mut schema: Value) -> Value {
    if let Some(t) = schema.get("type").and_then(Value::as_str).map(str::to_owned) {
        schema["type"] = json!([t, "null"]);
    }
    schema
}

/// A meal's window: every field required, none null.
fn meal_windows() -> Value {
    use crate::domain::settings::MAX_MEAL_NAME;
    let meal = json!({"type": "string", "minLength": 1, "maxLength": MAX_MEAL_NAME, "pattern": NOT_BLANK});
    json!({"type": "array", "items": {"type": "object", "required": ["meal", "start", "end"],
        "properties": {"meal": meal, "start": time_of_day(), "end": time_of_day()}}})
}

/// Vital-sign bounds by metric, each within the metric's plausible range
/// (a bound in the wrong unit would never trigger).
fn thresholds() -> Value {
    let mut metrics = serde_json::Map::new();
    for metric in crate::domain::Metric::ALL.into_iter().filter(|m| crate::domain::settings::is_vital(*m)) {
        let (low, high) = metric.plausible();
        let bound = json!({"type": ["number", "null"], "minimum": low, "maximum": high});
        metrics.insert(
            metric.as_str().to_owned(),
            json!({"type": ["object", "null"], "properties": {"min": bound, "max": bound}}),
        );
    }
    json!({"type": "object", "properties": metrics})
}

/// A JSON merge patch of rule settings: only the keys given change, `null`
/// keeps what is there. Amounts within their bounds; the combination is
/// judged as a whole too (a window's start and end, thresholds' min below
/// max), which answers 422.
fn rule_settings_patch() -> Value {
    use crate::domain::settings::{
        MAX_DISCHARGE_CHECK_HOURS, MAX_FALL_CANCEL_SECONDS, MAX_FAR_FROM_HOME_M, MAX_HOURS, MAX_LOW_BATTERY_PERCENT,
        MAX_MIN_READINGS, MAX_MINUTES,
    };
    let positive = |max: f64| json!({"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": max});
    let non_negative = |max: f64| json!({"type": ["number", "null"], "minimum": 0, "maximum": max});
    let part = |props: Value| json!({"type": ["object", "null"], "properties": props});
    let time = nullable(time_of_day());
    let window = part(json!({"start": time, "end": time}));
    json!({"type": "object", "properties": {
        "away": {"type": ["boolean", "null"]},
        "waking_hours": window,
        "night": window,
        "inactivity": part(json!({"hours": positive(MAX_HOURS)})),
        "no_morning_activity": part(json!({"by": time})),
        "night_wandering": part(json!({"return_minutes": positive(MAX_MINUTES)})),
        "bed_exit_no_return": part(json!({"minutes": positive(MAX_MINUTES)})),
        "presence": part(json!({"out_after_minutes": positive(MAX_MINUTES), "eating_out": {"type": ["boolean", "null"]},
            "return_by": time})),
        "routine": part(json!({"learn": {"type": ["boolean", "null"]},
            "inactivity_floor_hours": positive(MAX_HOURS), "inactivity_margin_minutes": non_negative(MAX_MINUTES),
            "return_margin_hours": non_negative(MAX_HOURS), "check_after_minutes": positive(MAX_MINUTES)})),
        "fall_cancel_seconds": positive(MAX_FALL_CANCEL_SECONDS),
        "low_battery": part(json!({"percent": positive(MAX_LOW_BATTERY_PERCENT)})),
        "meal_windows": nullable(meal_windows()),
        "thresholds": nullable(thresholds()),
        "vitals": part(json!({"duration_minutes": non_negative(MAX_MINUTES), "clear_minutes": non_negative(MAX_MINUTES),
            "min_readings": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_MIN_READINGS}})),
        "visits": part(json!({"grace_minutes": positive(MAX_MINUTES), "far_from_home_m": positive(MAX_FAR_FROM_HOME_M),
            "post_discharge_check_hours": positive(MAX_DISCHARGE_CHECK_HOURS)})),
    }})
}
