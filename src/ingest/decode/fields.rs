//! Reading the fields of a payload: JSON, numbers, strings, timestamps,
//! each checked against the contract, with faults that name the field.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};

use super::{Received, Rejection};
use crate::domain::{Metric, Reason};

pub(super) const MAX_FUTURE: TimeDelta = TimeDelta::minutes(5);
pub(super) const MAX_PAST: TimeDelta = TimeDelta::days(30);
/// Echoed input is cut so one hostile value cannot bloat the quarantine view.
const MAX_ECHO_CHARS: usize = 80;

/// A problem found while decoding, before it is attributed to a device.
#[derive(Debug)]
pub(super) struct Fault {
    reason: Reason,
    detail: String,
}

impl Fault {
    pub(super) fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Fault { reason, detail: detail.into() }
    }

    pub(super) fn malformed(detail: impl Into<String>) -> Self {
        Fault::new(Reason::Malformed, detail)
    }

    pub(super) fn into_rejection(self) -> Rejection {
        Rejection { reason: self.reason, detail: self.detail, device_id: None }
    }
}

pub(super) type Checked<T> = Result<T, Fault>;

pub(super) fn parse_json(payload: &[u8]) -> Checked<Value> {
    let text = std::str::from_utf8(payload).map_err(|err| {
        Fault::malformed(format!("payload is not UTF-8 (invalid byte at offset {})", err.valid_up_to()))
    })?;
    if text.trim().is_empty() {
        return Err(Fault::malformed("payload is empty"));
    }
    let root: Value = serde_json::from_str(text).map_err(json_fault)?;
    // A NUL can only come from a `\u0000` escape (a raw control character is
    // not JSON), so almost every message skips the walk.
    if text.contains("\\u0000")
        && let Some(place) = nul_place(&root, "payload")
    {
        let place = if place.chars().count() > 2 * MAX_ECHO_CHARS {
            let tail: Vec<char> = place.chars().rev().take(2 * MAX_ECHO_CHARS).collect();
            format!("…{}", tail.into_iter().rev().collect::<String>())
        } else {
            place
        };
        return Err(Fault::new(
            Reason::Unstorable,
            format!("{place} holds a NUL character (\\u0000), which the database cannot store"),
        ));
    }
    Ok(root)
}

/// serde_json reports these as syntax errors, but RFC 8259 allows them: the
/// text is JSON, what it holds has no place in PostgreSQL (text and jsonb
/// take no unpaired surrogate) or in a double.
pub(super) fn json_fault(err: serde_json::Error) -> Fault {
    let text = err.to_string();
    let what = if text.starts_with("lone leading surrogate") || text.starts_with("unexpected end of hex escape") {
        "a string holds an unpaired UTF-16 surrogate escape"
    } else if text.starts_with("number out of range") {
        "a number is beyond the range of a double"
    } else {
        return Fault::malformed(format!("invalid JSON: {text}"));
    };
    Fault::new(Reason::Unstorable, format!("{what}, which the database cannot store ({text})"))
}

/// Where the first string or key holding a NUL is, e.g. `payload.data.note`.
pub(super) fn nul_place(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::String(text) => text.contains('\0').then(|| path.to_owned()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| nul_place(item, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let simple = key.len() <= MAX_ECHO_CHARS && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            let path = if simple { format!("{path}.{key}") } else { format!("{path}[{}]", echo(key)) };
            if key.contains('\0') { Some(format!("the key {path}")) } else { nul_place(item, &path) }
        }),
        _ => None,
    }
}

/// Quotes a string from the input, cut short.
pub(super) fn echo(text: &str) -> String {
    if text.chars().count() <= MAX_ECHO_CHARS {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(MAX_ECHO_CHARS).collect();
        format!("{head:?}…")
    }
}

/// Shows a JSON value from the input, cut short.
pub(super) fn echo_json(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= MAX_ECHO_CHARS {
        text
    } else {
        let head: String = text.chars().take(MAX_ECHO_CHARS).collect();
        format!("{head}…")
    }
}

pub(super) fn object<'a>(value: &'a Value, what: &str) -> Checked<&'a Map<String, Value>> {
    value.as_object().ok_or_else(|| Fault::malformed(format!("{what} must be a JSON object, got {}", echo_json(value))))
}

/// Absent and `null` both mean "not given", as JSON encoders differ on which
/// they emit for an empty optional.
pub(super) fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).filter(|value| !value.is_null())
}

/// An integer, also when a JSON encoder wrote it as an integral float (`5.0`).
pub(super) fn integer(value: &Value) -> Option<i64> {
    let number = value.as_number()?;
    number.as_i64().or_else(|| {
        number.as_f64().filter(|f| f.fract() == 0.0 && *f >= i64::MIN as f64 && *f < i64::MAX as f64).map(|f| f as i64)
    })
}

pub(super) fn finite_number(value: Option<&Value>, what: &str) -> Checked<f64> {
    match value {
        None | Some(Value::Null) => Err(Fault::malformed(format!("{what} is missing"))),
        Some(value) => value
            .as_f64()
            .filter(|f| f.is_finite())
            .ok_or_else(|| Fault::malformed(format!("{what} must be a finite number, got {}", echo_json(value)))),
    }
}

pub(super) fn optional_bool(obj: &Map<String, Value>, name: &str) -> Checked<Option<bool>> {
    field(obj, name)
        .map(|value| {
            value
                .as_bool()
                .ok_or_else(|| Fault::malformed(format!("{name} must be a boolean, got {}", echo_json(value))))
        })
        .transpose()
}

pub(super) fn optional_number(obj: &Map<String, Value>, name: &str) -> Checked<Option<f64>> {
    field(obj, name).map(|value| finite_number(Some(value), name)).transpose()
}

pub(super) fn optional_str<'a>(obj: &'a Map<String, Value>, name: &str) -> Checked<Option<&'a str>> {
    field(obj, name)
        .map(|value| {
            value.as_str().ok_or_else(|| Fault::malformed(format!("{name} must be a string, got {}", echo_json(value))))
        })
        .transpose()
}

pub(super) fn seq(obj: &Map<String, Value>) -> Checked<Option<i64>> {
    field(obj, "seq")
        .map(|value| match integer(value) {
            Some(seq) if seq >= 0 => Ok(seq),
            None if value.as_f64().is_some_and(|f| f >= 0.0 && f.fract() == 0.0) => Err(Fault::new(
                Reason::Unstorable,
                format!("seq {} is beyond the largest storable integer {}", echo_json(value), i64::MAX),
            )),
            _ => Err(Fault::malformed(format!("seq must be a non-negative integer, got {}", echo_json(value)))),
        })
        .transpose()
}

/// RFC 3339 with offset, or epoch milliseconds; then held to the contract's
/// window around `now` so a device with a broken clock cannot write history.
pub(super) fn timestamp(value: &Value, what: &str, now: Received) -> Checked<DateTime<Utc>> {
    let ts = match value {
        Value::String(text) => DateTime::parse_from_rfc3339(text)
            .map(|ts| ts.to_utc())
            .map_err(|err| Fault::malformed(format!("{what} {} is not RFC 3339: {err}", echo(text))))?,
        Value::Number(number) => match integer(value) {
            Some(millis) => DateTime::from_timestamp_millis(millis).ok_or_else(|| {
                Fault::new(
                    Reason::TimestampOutOfBounds,
                    format!("{what} {millis} ms is outside the representable range"),
                )
            })?,
            None if number.as_f64().is_some_and(|f| f.fract() == 0.0) => {
                return Err(Fault::new(
                    Reason::TimestampOutOfBounds,
                    format!("{what} {number} ms is outside the representable range"),
                ));
            }
            None => {
                return Err(Fault::malformed(format!(
                    "{what} {number} is not an integer number of epoch milliseconds"
                )));
            }
        },
        other => {
            return Err(Fault::malformed(format!(
                "{what} must be an RFC 3339 string or epoch milliseconds, got {}",
                echo_json(other)
            )));
        }
    };
    let ahead = ts - now.at;
    if ahead > MAX_FUTURE {
        return Err(Fault::new(
            Reason::TimestampOutOfBounds,
            format!("{what} {} is more than 5 minutes in the future", ts.to_rfc3339()),
        ));
    }
    if let Some(max_past) = now.max_past
        && -ahead > max_past
    {
        return Err(Fault::new(
            Reason::TimestampOutOfBounds,
            format!("{what} {} is more than {} days in the past", ts.to_rfc3339(), max_past.num_days()),
        ));
    }
    Ok(ts)
}

pub(super) fn optional_timestamp(
    obj: &Map<String, Value>,
    name: &str,
    now: Received,
) -> Checked<Option<DateTime<Utc>>> {
    field(obj, name).map(|value| timestamp(value, name, now)).transpose()
}

pub(super) fn plausible(metric: Metric, value: f64, what: &str) -> Checked<f64> {
    if metric.is_plausible(value) {
        Ok(value)
    } else {
        let (low, high) = metric.plausible();
        Err(Fault::new(
            Reason::ImplausibleValue,
            format!("{what}: {metric} {value} {} is outside the plausible range {low}..={high}", metric.unit()),
        ))
    }
}
