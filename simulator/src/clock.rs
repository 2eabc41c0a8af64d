//! Time arithmetic of the simulation: local days in a resident's timezone,
//! human-written durations, and the simulated window of a paced run.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClockError {
    #[error("invalid duration {0:?}: expected e.g. 90s, 2m, 1h30m, 1d")]
    Duration(String),
    #[error("invalid offset {0:?}: expected +<duration> (e.g. +2m) or an RFC 3339 time")]
    Offset(String),
    #[error("invalid speed {0:?}: expected a positive number or \"max\"")]
    Speed(String),
    #[error("invalid local time {0:?}: expected HH:MM or HH:MM:SS")]
    LocalTime(String),
}

/// The UTC instant of `secs` seconds after local midnight of `date` in `tz`.
///
/// Local times that do not exist (the hour skipped by a DST change) move
/// forward by an hour; ambiguous ones take the earlier instant.
pub fn local_instant(tz: Tz, date: NaiveDate, secs: i64) -> DateTime<Utc> {
    let naive = date.and_time(NaiveTime::MIN) + Duration::seconds(secs);
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(early, _) => early.with_timezone(&Utc),
        LocalResult::None => match tz.from_local_datetime(&(naive + Duration::hours(1))) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
            LocalResult::None => Utc.from_utc_datetime(&naive),
        },
    }
}

/// Start (inclusive) and end (exclusive) of a local calendar day.
pub fn day_bounds(tz: Tz, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let next = date.succ_opt().unwrap_or(date);
    (local_instant(tz, date, 0), local_instant(tz, next, 0))
}

/// The local calendar date of an instant.
pub fn local_date(tz: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// Parses `90s`, `2m`, `1h30m`, `1d12h`, `500ms`: one or more number+unit pairs.
pub fn parse_duration(text: &str) -> Result<Duration, ClockError> {
    let err = || ClockError::Duration(text.to_owned());
    let s = text.trim();
    if s.is_empty() {
        return Err(err());
    }
    let mut total = Duration::zero();
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        if digits == 0 {
            return Err(err());
        }
        let value: i64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let part = match &rest[..unit_len] {
            "ms" => Duration::try_milliseconds(value),
            "s" => Duration::try_seconds(value),
            "m" | "min" => Duration::try_minutes(value),
            "h" => Duration::try_hours(value),
            "d" => Duration::try_days(value),
            _ => None,
        }
        .ok_or_else(err)?;
        total = total.checked_add(&part).ok_or_else(err)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// When something happens in a scenario: an offset from its start, or a fixed time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    Offset(Duration),
    Fixed(DateTime<Utc>),
}

impl At {
    pub fn resolve(self, start: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            At::Offset(d) => start + d,
            At::Fixed(t) => t,
        }
    }
}

impl FromStr for At {
    type Err = ClockError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some(rest) = s.strip_prefix('+') {
            return parse_duration(rest).map(At::Offset).map_err(|_| ClockError::Offset(s.to_owned()));
        }
        DateTime::parse_from_rfc3339(s)
            .map(|t| At::Fixed(t.with_timezone(&Utc)))
            .map_err(|_| ClockError::Offset(s.to_owned()))
    }
}

/// Parses `HH:MM` or `HH:MM:SS`.
pub fn parse_local_time(s: &str) -> Result<NaiveTime, ClockError> {
    NaiveTime::parse_from_str(s, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M"))
        .map_err(|_| ClockError::LocalTime(s.to_owned()))
}

/// How fast simulated time runs against the wall clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// Simulated seconds per real second.
    Factor(f64),
    /// No pacing at all: publish as fast as the broker takes it.
    Max,
}

impl Speed {
    /// Real time to wait for `sim` simulated time to pass.
    pub fn real(self, sim: Duration) -> std::time::Duration {
        match self {
            Speed::Max => std::time::Duration::ZERO,
            Speed::Factor(f) => {
                let secs = sim.num_milliseconds().max(0) as f64 / 1000.0 / f;
                std::time::Duration::from_secs_f64(secs)
            }
        }
    }

    pub fn is_real_time(self) -> bool {
        matches!(self, Speed::Factor(f) if (f - 1.0).abs() < f64::EPSILON)
    }
}

impl FromStr for Speed {
    type Err = ClockError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        match s.parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Factor(f)),
            _ => Err(ClockError::Speed(s.to_owned())),
        }
    }
}

impl fmt::Display for Speed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Speed::Max => f.write_str("max"),
            Speed::Factor(x) => write!(f, "{x}x"),
        }
    }
}

/// Where a paced run of `duration` simulated time must start so that no
/// message is ever stamped later than the wall clock when it is sent (the
/// contract rejects `ts` more than 5 minutes ahead).
///
/// At speed `s` the simulated clock gains `s - 1` seconds on the real one
/// every second, so the run starts `duration * (1 - 1/s)` in the past and its
/// last simulated instant coincides with the real end of the run. Real time
/// starts now; `max` starts a whole `duration` back.
pub fn window_start(now: DateTime<Utc>, duration: Duration, speed: Speed) -> DateTime<Utc> {
    let lead = match speed {
        Speed::Max => duration,
        Speed::Factor(f) if f <= 1.0 => Duration::zero(),
        Speed::Factor(f) => {
            let ms = duration.num_milliseconds() as f64 * (1.0 - 1.0 / f);
            Duration::milliseconds(ms.ceil() as i64)
        }
    };
    truncate_to_second(now - lead)
}

/// Whole seconds keep scripted offsets readable in the emitted timestamps.
pub fn truncate_to_second(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(0).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90s"), Ok(Duration::seconds(90)));
        assert_eq!(parse_duration("2m"), Ok(Duration::minutes(2)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::minutes(90)));
        assert_eq!(parse_duration("1d"), Ok(Duration::days(1)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::milliseconds(250)));
        for bad in ["", "5", "m", "1x", "1h-2m", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn offsets_and_fixed_times_parse() {
        let start = Utc.with_ymd_and_hms(2026, 11, 28, 0, 0, 0).unwrap();
        let at: At = "+2m".parse().unwrap();
        assert_eq!(at.resolve(start), start + Duration::minutes(2));
        let at: At = "2026-11-28T08:00:00+08:00".parse().unwrap();
        assert_eq!(at.resolve(start), start);
        assert!("2m".parse::<At>().is_err());
    }

    #[test]
    fn accelerated_window_ends_at_the_real_end() {
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        let day = Duration::hours(24);
        assert_eq!(window_start(now, day, Speed::Factor(1.0)), now);
        assert_eq!(window_start(now, day, Speed::Max), now - day);
        let start = window_start(now, day, Speed::Factor(60.0));
        let real = Speed::Factor(60.0).real(day);
        let real_end = now + Duration::from_std(real).unwrap();
        assert!(start + day <= real_end + Duration::seconds(1));
        assert!(start + day >= real_end - Duration::seconds(1));
    }

    #[test]
    fn dst_gap_moves_forward() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        let (start, end) = day_bounds(tz, date);
        assert_eq!(end - start, Duration::hours(23));
        let t = local_instant(tz, date, 2 * 3600 + 30 * 60);
        assert_eq!(t.with_timezone(&tz).hour(), 3);
    }
}
