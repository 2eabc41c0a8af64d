//! Abnormal vital signs: a small state machine per metric, fed readings in
//! event-time order.
//!
//! A reading is *out* (below min or above max), *clearly in* (inside the band
//! by a margin) or in the hysteresis band between the two. An episode opens on
//! the first out reading and raises once it has lasted `duration_minutes` of
//! event time and the latest `min_readings` readings were all out, so one
//! spike never alerts. Band readings keep whatever state holds (they neither
//! end a pending episode nor let a raised one start clearing); a raised
//! episode clears itself after `clear_minutes` of clearly-in readings.
//!
//! Time is the readings' own: a device that buffered readings while offline
//! shows their real durations, and the decision says it was late. Clearing
//! needs a reading too: a wearable taken off leaves its alert to a carer.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Decision, rfc3339};
use crate::domain::settings::{Threshold, VitalsSettings};
use crate::domain::{AlertKind, Metric, Resolution, Severity};

/// The vital-sign state of one resident, one machine per metric. Plain data,
/// so the caller may keep it in memory, snapshot it, or rebuild it after a
/// restart with [`VitalMonitor::resume_raised`] and a replay of recent readings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VitalMonitor {
    metrics: HashMap<Metric, MetricState>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct MetricState {
    /// Event time of the newest reading taken into account: anything not
    /// newer arrived out of order (or twice) and would rewrite history.
    last_ts: Option<DateTime<Utc>>,
    phase: Phase,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
enum Phase {
    #[default]
    Normal,
    /// Out of range, not yet for long enough.
    Pending { episode: Episode },
    Raised {
        episode: Episode,
        /// The severity last announced; only a worse one is announced again.
        severity: Severity,
        /// Start of the current run of clearly-in readings.
        in_range_since: Option<DateTime<Utc>>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Episode {
    /// The first out-of-range reading: the duration is counted from here.
    since: DateTime<Utc>,
    /// Out-of-range readings in a row, up to the latest.
    consecutive: u32,
    readings: u32,
    /// `None` only for an episode resumed from an open alert and not yet fed.
    min_value: Option<f64>,
    max_value: Option<f64>,
    worst: Severity,
}

impl Episode {
    fn record(&mut self, value: f64) {
        self.readings = self.readings.saturating_add(1);
        self.min_value = Some(self.min_value.map_or(value, |m| m.min(value)));
        self.max_value = Some(self.max_value.map_or(value, |m| m.max(value)));
    }

    fn record_out(&mut self, value: f64, severity: Severity) {
        self.record(value);
        self.consecutive = self.consecutive.saturating_add(1);
        self.worst = self.worst.max(severity);
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Zone {
    Out,
    Band,
    In,
}

/// One reading with what the decision's details need to say about it.
struct Reading<'a> {
    metric: Metric,
    ts: DateTime<Utc>,
    value: f64,
    threshold: &'a Threshold,
    late: bool,
}

impl VitalMonitor {
    pub fn new() -> VitalMonitor {
        VitalMonitor::default()
    }

    /// Feeds one reading. Returns a `Raise` when an episode first qualifies
    /// or gets worse, a `Clear` when it has been back in range long enough,
    /// and `None` otherwise (including for readings not newer than the last
    /// one seen for the metric, and for non-finite values).
    pub fn observe(
        &mut self,
        metric: Metric,
        ts: DateTime<Utc>,
        value: f64,
        threshold: &Threshold,
        cfg: &VitalsSettings,
        late: bool,
    ) -> Option<Decision> {
        if !value.is_finite() {
            return None;
        }
        let state = self.metrics.entry(metric).or_default();
        if state.last_ts.is_some_and(|last| ts <= last) {
            return None;
        }
        state.last_ts = Some(ts);
        let reading = Reading { metric, ts, value, threshold, late };
        let zone = zone(metric, value, threshold);
        let out_severity = || severity(metric, value, threshold);

        let (phase, decision) = match (std::mem::take(&mut state.phase), zone) {
            (Phase::Normal, Zone::Out) => {
                let mut episode = Episode {
                    since: ts,
                    consecutive: 0,
                    readings: 0,
                    min_value: None,
                    max_value: None,
                    worst: Severity::Low,
                };
                episode.record_out(value, out_severity());
                qualify(episode, &reading, cfg)
            }
            (Phase::Normal, Zone::Band | Zone::In) => (Phase::Normal, None),
            (Phase::Pending { mut episode }, Zone::Out) => {
                episode.record_out(value, out_severity());
                qualify(episode, &reading, cfg)
            }
            (Phase::Pending { mut episode }, Zone::Band) => {
                episode.record(value);
                episode.consecutive = 0;
                (Phase::Pending { episode }, None)
            }
            (Phase::Pending { .. }, Zone::In) => (Phase::Normal, None),
            (Phase::Raised { mut episode, severity, .. }, Zone::Out) => {
                episode.record_out(value, out_severity());
                if episode.worst > severity {
                    let decision = raise(&episode, &reading);
                    (Phase::Raised { severity: episode.worst, episode, in_range_since: None }, Some(decision))
                } else {
                    (Phase::Raised { episode, severity, in_range_since: None }, None)
                }
            }
            (Phase::Raised { mut episode, severity, .. }, Zone::Band) => {
                episode.record(value);
                episode.consecutive = 0;
                // Hovering next to the limit is not recovery: the clearing clock starts over.
                (Phase::Raised { episode, severity, in_range_since: None }, None)
            }
            (Phase::Raised { mut episode, severity, in_range_since }, Zone::In) => {
                episode.record(value);
                episode.consecutive = 0;
                let in_range_since = in_range_since.unwrap_or(ts);
                if ts - in_range_since >= cfg.clear_after() {
                    (Phase::Normal, Some(clear(&episode, in_range_since, &reading)))
                } else {
                    (Phase::Raised { episode, severity, in_range_since: Some(in_range_since) }, None)
                }
            }
        };
        state.phase = phase;
        decision
    }

    /// Whether `self` is in the same phase as `before` for every metric,
    /// whatever readings each took last. A reading that only moves the
    /// watermark (in range, or in the band, while all is normal) leaves them
    /// the same: there is nothing to store for it, and judging it again, or
    /// after a newer one, changes nothing either.
    pub fn same_phases(&self, before: &VitalMonitor) -> bool {
        fn phases(m: &VitalMonitor) -> Vec<(Metric, &Phase)> {
            let mut phases: Vec<(Metric, &Phase)> =
                m.metrics.iter().filter(|(_, s)| s.phase != Phase::Normal).map(|(k, s)| (*k, &s.phase)).collect();
            phases.sort_by_key(|(k, _)| k.as_str());
            phases
        }
        phases(self) == phases(before)
    }

    /// Puts `metric` back in the raised state for an alert the store still
    /// has open (after a restart), so that replayed readings count repeats
    /// and clear it rather than opening a second episode.
    pub fn resume_raised(&mut self, metric: Metric, since: DateTime<Utc>, severity: Severity) {
        let episode = Episode { since, consecutive: 0, readings: 0, min_value: None, max_value: None, worst: severity };
        self.metrics.entry(metric).or_default().phase = Phase::Raised { episode, severity, in_range_since: None };
    }
}

/// A pending episode raises once it has lasted long enough, in readings and
/// in event time.
fn qualify(episode: Episode, reading: &Reading<'_>, cfg: &VitalsSettings) -> (Phase, Option<Decision>) {
    if episode.consecutive >= cfg.min_readings && reading.ts - episode.since >= cfg.duration() {
        let decision = raise(&episode, reading);
        (Phase::Raised { severity: episode.worst, episode, in_range_since: None }, Some(decision))
    } else {
        (Phase::Pending { episode }, None)
    }
}

fn raise(episode: &Episode, reading: &Reading<'_>) -> Decision {
    Decision::Raise {
        kind: AlertKind::VitalAbnormal,
        cause: reading.metric.as_str().to_owned(),
        severity: episode.worst,
        at: reading.ts,
        details: details(episode, reading, None),
    }
}

fn clear(episode: &Episode, in_range_since: DateTime<Utc>, reading: &Reading<'_>) -> Decision {
    Decision::Clear {
        kind: AlertKind::VitalAbnormal,
        cause: reading.metric.as_str().to_owned(),
        at: reading.ts,
        resolution: Resolution::AutoCleared,
        details: details(episode, reading, Some(in_range_since)),
    }
}

fn details(episode: &Episode, reading: &Reading<'_>, in_range_since: Option<DateTime<Utc>>) -> Value {
    let mut details = json!({
        "metric": reading.metric.as_str(),
        "unit": reading.metric.unit(),
        "value": reading.value,
        "min_value": episode.min_value,
        "max_value": episode.max_value,
        "threshold": reading.threshold,
        "since": rfc3339(episode.since),
        "window_minutes": minutes(reading.ts - episode.since),
        "readings": episode.readings,
        "late": reading.late,
    });
    if let (Some(since), Value::Object(map)) = (in_range_since, &mut details) {
        map.insert("in_range_since".into(), rfc3339(since).into());
    }
    details
}

/// Minutes to one decimal: enough for a carer, stable in tests.
fn minutes(span: Duration) -> f64 {
    (span.num_milliseconds() as f64 / 6_000.0).round() / 10.0
}

fn zone(metric: Metric, value: f64, threshold: &Threshold) -> Zone {
    let below = threshold.min.is_some_and(|min| value < min);
    let above = threshold.max.is_some_and(|max| value > max);
    if below || above {
        return Zone::Out;
    }
    let clear_of_min = threshold.min.is_none_or(|min| value >= min + margin(metric, min, threshold));
    let clear_of_max = threshold.max.is_none_or(|max| value <= max - margin(metric, max, threshold));
    if clear_of_min && clear_of_max { Zone::In } else { Zone::Band }
}

/// How far inside a limit a value must be to count as back in range: about
/// the measurement noise of each metric, so a value wobbling on the limit
/// does not open and clear alerts in turn.
fn margin(metric: Metric, limit: f64, threshold: &Threshold) -> f64 {
    let margin = match metric {
        Metric::HeartRate | Metric::BpSystolic | Metric::BpDiastolic => 5.0,
        Metric::Spo2 => 1.0,
        Metric::BodyTemperature => 0.2,
        Metric::RespiratoryRate => 2.0,
        Metric::BloodGlucose => 0.3,
        _ => 0.05 * limit.abs(),
    };
    // A narrow custom band must still leave values that are clearly inside.
    match (threshold.min, threshold.max) {
        (Some(min), Some(max)) => margin.min((max - min) / 4.0).max(0.0),
        _ => margin,
    }
}

/// Severity of an out-of-range value, by how far out it is in clinical terms
/// rather than relative to the (possibly customised) threshold.
fn severity(metric: Metric, value: f64, threshold: &Threshold) -> Severity {
    let low = threshold.min.is_some_and(|min| value < min);
    match metric {
        Metric::Spo2 if value < 85.0 => Severity::Critical,
        Metric::Spo2 if value < 90.0 => Severity::High,
        Metric::HeartRate if !(35.0..=150.0).contains(&value) => Severity::Critical,
        Metric::HeartRate => Severity::High,
        Metric::BodyTemperature if value >= 39.5 || value <= 34.5 => Severity::High,
        Metric::BpSystolic if !(80.0..200.0).contains(&value) => Severity::Critical,
        Metric::BpSystolic => Severity::High,
        // Diastolic ≥ 120 is the hypertensive-crisis line.
        Metric::BpDiastolic if !(40.0..120.0).contains(&value) => Severity::High,
        // Below 6 or above 30 breaths a minute is respiratory failure territory.
        Metric::RespiratoryRate if !(6.0..=30.0).contains(&value) => Severity::Critical,
        Metric::RespiratoryRate => Severity::High,
        Metric::BloodGlucose if !(3.0..=20.0).contains(&value) => Severity::Critical,
        // A hypo gets worse within the hour; a high glucose within days.
        Metric::BloodGlucose if low => Severity::High,
        _ => Severity::Medium,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn is_raised(monitor: &VitalMonitor, metric: Metric) -> bool {
        monitor.metrics.get(&metric).is_some_and(|state| matches!(state.phase, Phase::Raised { .. }))
    }

    fn t0() -> DateTime<Utc> {
        "2026-11-28T08:00:00Z".parse().unwrap()
    }

    fn at(minutes: i64) -> DateTime<Utc> {
        t0() + Duration::minutes(minutes)
    }

    fn cfg() -> VitalsSettings {
        VitalsSettings { duration_minutes: 5.0, clear_minutes: 10.0, min_readings: 2 }
    }

    const HR: Threshold = Threshold::new(Some(40.0), Some(130.0));
    const SPO2: Threshold = Threshold::new(Some(90.0), None);

    /// Feeds (minute, value) pairs and returns the decisions with the minute that produced them.
    fn feed(
        monitor: &mut VitalMonitor,
        metric: Metric,
        threshold: &Threshold,
        readings: &[(i64, f64)],
    ) -> Vec<(i64, Decision)> {
        readings
            .iter()
            .filter_map(|&(m, v)| monitor.observe(metric, at(m), v, threshold, &cfg(), false).map(|d| (m, d)))
            .collect()
    }

    /// The engine keeps each monitor as JSON between readings (several
    /// processes share it): a monitor read back decides as the original would.
    #[test]
    fn a_monitor_stored_as_json_carries_on_its_episode() {
        let mut kept = VitalMonitor::new();
        assert!(feed(&mut kept, Metric::HeartRate, &HR, &[(0, 150.0), (1, 150.0), (2, 150.0)]).is_empty());
        let mut whole = kept.clone();
        let mut resumed: VitalMonitor = serde_json::from_value(serde_json::to_value(&kept).unwrap()).unwrap();
        assert_eq!(resumed, kept);
        let rest = [(3, 150.0), (4, 150.0), (5, 150.0), (6, 128.0), (7, 70.0), (17, 70.0)];
        let from_json = feed(&mut resumed, Metric::HeartRate, &HR, &rest);
        assert_eq!(from_json, feed(&mut whole, Metric::HeartRate, &HR, &rest));
        assert_eq!(from_json.iter().map(|(m, _)| *m).collect::<Vec<_>>(), [5, 17], "raised at 5, cleared at 17");
    }

    fn severity_of(decision: &Decision) -> Severity {
        match decision {
            Decision::Raise { severity, .. } => *severity,
            Decision::Clear { .. } => panic!("expected a raise, got {decision:?}"),
        }
    }

    #[test]
    fn one_spike_never_alerts() {
        let mut monitor = VitalMonitor::new();
        let decisions = feed(&mut monitor, Metric::HeartRate, &HR, &[(0, 72.0), (1, 180.0), (2, 75.0), (10, 74.0)]);
        assert!(decisions.is_empty());
        assert!(!is_raised(&monitor, Metric::HeartRate));
    }

    #[test]
    fn two_readings_far_apart_alert_but_not_before_the_duration() {
        let mut monitor = VitalMonitor::new();
        // Out at 0 and 4:59: enough readings, not enough time.
        assert!(monitor.observe(Metric::HeartRate, at(0), 140.0, &HR, &cfg(), false).is_none());
        let almost = at(5) - Duration::seconds(1);
        assert!(monitor.observe(Metric::HeartRate, almost, 141.0, &HR, &cfg(), false).is_none());
        // Exactly at the duration: raised.
        let decision = monitor.observe(Metric::HeartRate, at(5), 142.0, &HR, &cfg(), true).unwrap();
        let Decision::Raise { kind, cause, severity, at: when, details } = decision else { panic!("expected a raise") };
        assert_eq!(
            (kind, cause.as_str(), severity, when),
            (AlertKind::VitalAbnormal, "heart_rate", Severity::High, at(5))
        );
        assert_eq!(
            details,
            json!({"metric": "heart_rate", "unit": "/min", "value": 142.0, "min_value": 140.0, "max_value": 142.0,
                   "threshold": {"min": 40, "max": 130}, "since": "2026-11-28T08:00:00Z", "window_minutes": 5.0,
                   "readings": 3, "late": true})
        );
    }

    #[test]
    fn a_long_run_of_one_reading_needs_a_second() {
        let mut monitor = VitalMonitor::new();
        let cfg = VitalsSettings { min_readings: 3, ..cfg() };
        assert!(monitor.observe(Metric::HeartRate, at(0), 140.0, &HR, &cfg, false).is_none());
        assert!(monitor.observe(Metric::HeartRate, at(30), 140.0, &HR, &cfg, false).is_none());
        assert!(monitor.observe(Metric::HeartRate, at(31), 140.0, &HR, &cfg, false).is_some());
    }

    #[test]
    fn band_readings_keep_a_pending_episode_but_break_the_run() {
        let mut monitor = VitalMonitor::new();
        // 128 is inside the range but within the 5 /min margin of 130.
        let decisions = feed(&mut monitor, Metric::HeartRate, &HR, &[(0, 135.0), (2, 128.0), (4, 135.0), (6, 128.0)]);
        assert!(decisions.is_empty());
        // Two in a row again, and the episode still dates from minute 0.
        let decisions = feed(&mut monitor, Metric::HeartRate, &HR, &[(7, 136.0), (8, 137.0)]);
        assert_eq!(decisions.len(), 1);
        let Decision::Raise { details, .. } = &decisions[0].1 else { panic!("expected a raise") };
        assert_eq!(details["since"], "2026-11-28T08:00:00Z");
        assert_eq!(details["readings"], 6);
        assert_eq!(details["window_minutes"], 8.0);

        // A clearly-in reading ends a pending episode.
        let mut monitor = VitalMonitor::new();
        let decisions = feed(&mut monitor, Metric::HeartRate, &HR, &[(0, 135.0), (2, 100.0), (6, 135.0), (7, 135.0)]);
        assert!(decisions.is_empty());
    }

    #[test]
    fn hysteresis_band_keeps_the_alert_and_clearing_waits_clear_minutes() {
        let mut monitor = VitalMonitor::new();
        let raised = feed(&mut monitor, Metric::HeartRate, &HR, &[(0, 140.0), (5, 140.0)]);
        assert_eq!(raised.len(), 1);
        // In range but within the margin: still raised, no clearing clock.
        let decisions = feed(&mut monitor, Metric::HeartRate, &HR, &[(6, 129.0), (10, 126.0), (30, 127.0)]);
        assert!(decisions.is_empty());
        assert!(is_raised(&monitor, Metric::HeartRate));
        // Clearly in from minute 31; a band reading at 35 restarts the clock.
        let decisions = feed(&mut monitor, Metric::HeartRate, &HR, &[(31, 90.0), (35, 128.0), (36, 90.0), (45, 91.0)]);
        assert!(decisions.is_empty());
        let decisions = feed(&mut monitor, Metric::HeartRate, &HR, &[(46, 88.0)]);
        assert_eq!(decisions.len(), 1);
        let (minute, Decision::Clear { kind, cause, resolution, details, .. }) = &decisions[0] else {
            panic!("expected a clear")
        };
        assert_eq!(
            (*minute, *kind, cause.as_str(), *resolution),
            (46, AlertKind::VitalAbnormal, "heart_rate", Resolution::AutoCleared)
        );
        assert_eq!(details["in_range_since"], "2026-11-28T08:36:00Z");
        assert_eq!(details["max_value"], 140.0);
        assert_eq!(details["min_value"], 88.0);
        assert!(!is_raised(&monitor, Metric::HeartRate));
        // A fresh episode needs the full duration again.
        assert!(feed(&mut monitor, Metric::HeartRate, &HR, &[(47, 140.0), (48, 140.0)]).is_empty());
    }

    #[test]
    fn an_out_reading_while_recovering_stops_the_clear() {
        let mut monitor = VitalMonitor::new();
        feed(&mut monitor, Metric::Spo2, &SPO2, &[(0, 88.0), (5, 88.0)]);
        let decisions = feed(&mut monitor, Metric::Spo2, &SPO2, &[(6, 95.0), (12, 89.0), (20, 95.0), (29, 96.0)]);
        assert!(decisions.is_empty());
        assert_eq!(feed(&mut monitor, Metric::Spo2, &SPO2, &[(30, 96.0)]).len(), 1);
    }

    #[test]
    fn severity_escalates_once_and_never_drops() {
        let mut monitor = VitalMonitor::new();
        let decisions = feed(
            &mut monitor,
            Metric::Spo2,
            &SPO2,
            &[(0, 89.0), (5, 88.0), (6, 87.0), (7, 84.0), (8, 83.0), (9, 88.0), (10, 80.0)],
        );
        let found: Vec<_> = decisions.iter().map(|(m, d)| (*m, severity_of(d))).collect();
        assert_eq!(found, [(5, Severity::High), (7, Severity::Critical)]);
        let Decision::Raise { details, .. } = &decisions[1].1 else { panic!("expected a raise") };
        assert_eq!(details["value"], 84.0);
    }

    #[test]
    fn first_raise_takes_the_worst_severity_of_the_episode() {
        let mut monitor = VitalMonitor::new();
        let decisions = feed(&mut monitor, Metric::HeartRate, &HR, &[(0, 160.0), (3, 140.0), (5, 135.0)]);
        assert_eq!(severity_of(&decisions[0].1), Severity::Critical);
    }

    #[test]
    fn severity_by_metric() {
        let t = |min, max| Threshold::new(Some(min), Some(max));
        let cases = [
            (Metric::Spo2, 84.9, SPO2, Severity::Critical),
            (Metric::Spo2, 89.0, SPO2, Severity::High),
            (Metric::Spo2, 91.0, Threshold::new(Some(92.0), None), Severity::Medium),
            (Metric::HeartRate, 151.0, HR, Severity::Critical),
            (Metric::HeartRate, 34.0, HR, Severity::Critical),
            (Metric::HeartRate, 38.0, HR, Severity::High),
            (Metric::BodyTemperature, 39.5, t(35.0, 38.0), Severity::High),
            (Metric::BodyTemperature, 34.5, t(35.0, 38.0), Severity::High),
            (Metric::BodyTemperature, 38.6, t(35.0, 38.0), Severity::Medium),
            (Metric::BpSystolic, 200.0, t(90.0, 180.0), Severity::Critical),
            (Metric::BpSystolic, 79.0, t(90.0, 180.0), Severity::Critical),
            (Metric::BpSystolic, 185.0, t(90.0, 180.0), Severity::High),
            (Metric::BpDiastolic, 115.0, t(50.0, 110.0), Severity::Medium),
            (Metric::BpDiastolic, 120.0, t(50.0, 110.0), Severity::High),
            (Metric::RespiratoryRate, 31.0, t(8.0, 25.0), Severity::Critical),
            (Metric::RespiratoryRate, 27.0, t(8.0, 25.0), Severity::High),
            (Metric::BloodGlucose, 2.9, t(3.9, 13.9), Severity::Critical),
            (Metric::BloodGlucose, 20.5, t(3.9, 13.9), Severity::Critical),
            (Metric::BloodGlucose, 3.5, t(3.9, 13.9), Severity::High),
            (Metric::BloodGlucose, 15.0, t(3.9, 13.9), Severity::Medium),
        ];
        for (metric, value, threshold, expected) in cases {
            assert_eq!(zone(metric, value, &threshold), Zone::Out, "{metric} {value}");
            assert_eq!(severity(metric, value, &threshold), expected, "{metric} {value}");
        }
    }

    #[test]
    fn margins_follow_the_metric_and_fit_narrow_bands() {
        let temp = Threshold::new(Some(35.0), Some(38.0));
        assert_eq!(zone(Metric::BodyTemperature, 37.85, &temp), Zone::Band);
        assert_eq!(zone(Metric::BodyTemperature, 37.75, &temp), Zone::In);
        assert_eq!(zone(Metric::Spo2, 90.5, &SPO2), Zone::Band);
        assert_eq!(zone(Metric::Spo2, 91.0, &SPO2), Zone::In);
        assert_eq!(zone(Metric::Spo2, 100.0, &SPO2), Zone::In);
        // 100–104 leaves a 1 /min margin rather than 5, so 102 is clearly in.
        let narrow = Threshold::new(Some(100.0), Some(104.0));
        assert_eq!(zone(Metric::HeartRate, 102.0, &narrow), Zone::In);
        assert_eq!(zone(Metric::HeartRate, 100.5, &narrow), Zone::Band);
        // No bounds at all: nothing is ever out.
        assert_eq!(zone(Metric::HeartRate, 250.0, &Threshold::default()), Zone::In);
    }

    #[test]
    fn out_of_order_and_non_finite_readings_are_ignored() {
        let mut monitor = VitalMonitor::new();
        assert!(monitor.observe(Metric::HeartRate, at(10), 140.0, &HR, &cfg(), false).is_none());
        // Older or equal timestamps would otherwise make up a duration.
        assert!(monitor.observe(Metric::HeartRate, at(0), 140.0, &HR, &cfg(), false).is_none());
        assert!(monitor.observe(Metric::HeartRate, at(10), 140.0, &HR, &cfg(), false).is_none());
        assert!(monitor.observe(Metric::HeartRate, at(16), f64::NAN, &HR, &cfg(), false).is_none());
        assert!(monitor.observe(Metric::HeartRate, at(15), 140.0, &HR, &cfg(), false).is_some());
    }

    /// The engine stores a monitor only when its phases change: an in-range
    /// or band reading while all is normal moves nothing but the watermark,
    /// and every decision comes with a change of phase.
    #[test]
    fn only_a_change_of_phase_is_worth_storing_and_every_decision_is_one() {
        let mut normal = VitalMonitor::new();
        feed(&mut normal, Metric::HeartRate, &HR, &[(0, 70.0)]);
        let before = normal.clone();
        // In range, in the band (near the top), judged twice, or late.
        feed(&mut normal, Metric::HeartRate, &HR, &[(1, 72.0), (2, 127.0), (2, 127.0), (1, 150.0)]);
        assert!(normal.same_phases(&before), "nothing but the watermark moved");
        assert_ne!(normal, before, "the watermark did move");
        // An episode opens: a change.
        let mut pending = normal.clone();
        feed(&mut pending, Metric::HeartRate, &HR, &[(3, 150.0)]);
        assert!(!pending.same_phases(&normal));
        // A band reading while pending breaks the run: a change too.
        let mut banded = pending.clone();
        feed(&mut banded, Metric::HeartRate, &HR, &[(4, 127.0)]);
        assert!(!banded.same_phases(&pending));
        // Another metric's state counts as well.
        let mut spo2 = normal.clone();
        feed(&mut spo2, Metric::Spo2, &SPO2, &[(5, 85.0)]);
        assert!(!spo2.same_phases(&normal));
        // Any sequence: a reading that decides something changes the phases.
        // Runs of a value for some minutes, with a stray reading now and then.
        let runs = [(70.0, 5), (150.0, 8), (127.0, 3), (70.0, 25), (30.0, 7), (131.0, 2), (60.0, 22), (150.0, 2)];
        let mut monitor = VitalMonitor::new();
        let (mut raised, mut cleared) = (0, 0);
        for step in 0..600_i64 {
            let (mut value, mut left) = (runs[0].0, step % 74);
            for (v, minutes) in runs {
                value = v;
                if left < minutes {
                    break;
                }
                left -= minutes;
            }
            let value = if step % 31 == 0 { 127.0 } else { value };
            let was = monitor.clone();
            if let Some(decision) = monitor.observe(Metric::HeartRate, at(step), value, &HR, &cfg(), false) {
                match decision {
                    Decision::Raise { .. } => raised += 1,
                    Decision::Clear { .. } => cleared += 1,
                }
                assert!(!monitor.same_phases(&was), "a decision at minute {step} without a change of phase");
            }
        }
        assert!(raised > 0 && cleared > 0, "the sequence raises ({raised}) and clears ({cleared})");
    }

    #[test]
    fn metrics_are_independent() {
        let mut monitor = VitalMonitor::new();
        assert!(monitor.observe(Metric::HeartRate, at(0), 140.0, &HR, &cfg(), false).is_none());
        assert!(monitor.observe(Metric::Spo2, at(1), 97.0, &SPO2, &cfg(), false).is_none());
        assert!(monitor.observe(Metric::HeartRate, at(5), 140.0, &HR, &cfg(), false).is_some());
        assert!(!is_raised(&monitor, Metric::Spo2));
    }

    #[test]
    fn state_survives_serde_and_resumes_from_an_open_alert() {
        let mut monitor = VitalMonitor::new();
        feed(&mut monitor, Metric::HeartRate, &HR, &[(0, 140.0), (5, 140.0), (6, 90.0)]);
        let text = serde_json::to_string(&monitor).unwrap();
        let mut back: VitalMonitor = serde_json::from_str(&text).unwrap();
        assert_eq!(back, monitor);
        assert_eq!(feed(&mut back, Metric::HeartRate, &HR, &[(16, 90.0)]).len(), 1);

        let mut resumed = VitalMonitor::new();
        resumed.resume_raised(Metric::Spo2, at(-30), Severity::High);
        assert!(is_raised(&resumed, Metric::Spo2));
        // A replayed out reading is part of the open alert, not a new one.
        assert!(feed(&mut resumed, Metric::Spo2, &SPO2, &[(0, 88.0)]).is_empty());
        let worse = feed(&mut resumed, Metric::Spo2, &SPO2, &[(1, 84.0)]);
        assert_eq!(severity_of(&worse[0].1), Severity::Critical);
        assert_eq!(worse[0].1.at(), at(1));
        let text = serde_json::to_string(&resumed).unwrap();
        assert_eq!(serde_json::from_str::<VitalMonitor>(&text).unwrap(), resumed);
    }

    proptest! {
        #[test]
        fn never_raises_without_enough_consecutive_out_readings(
            steps in prop::collection::vec((-120i64..600, prop_oneof![9 => 20.0f64..200.0, 1 => Just(f64::NAN)]), 0..80),
            min_readings in 1u32..5,
            duration_minutes in 0.0f64..15.0,
            clear_minutes in 0.0f64..15.0,
        ) {
            let cfg = VitalsSettings { duration_minutes, clear_minutes, min_readings };
            let mut monitor = VitalMonitor::new();
            let mut ts = t0();
            let mut accepted: Vec<(DateTime<Utc>, Zone)> = Vec::new();
            for (step, value) in steps {
                ts += Duration::seconds(step);
                let was_raised = is_raised(&monitor, Metric::HeartRate);
                let decision = monitor.observe(Metric::HeartRate, ts, value, &HR, &cfg, false);
                let newer = accepted.last().is_none_or(|(last, _)| ts > *last);
                if value.is_finite() && newer {
                    accepted.push((ts, zone(Metric::HeartRate, value, &HR)));
                } else {
                    prop_assert!(decision.is_none());
                }
                match decision {
                    Some(Decision::Raise { at, .. }) if !was_raised => {
                        let n = min_readings as usize;
                        prop_assert!(accepted.len() >= n);
                        prop_assert!(accepted[accepted.len() - n..].iter().all(|(_, z)| *z == Zone::Out));
                        // Band readings do not end an episode; only a clearly-in one does.
                        let after_last_in = accepted.iter().rposition(|(_, z)| *z == Zone::In).map_or(0, |i| i + 1);
                        let start = accepted[after_last_in..].iter().find(|(_, z)| *z == Zone::Out).map(|(t, _)| *t);
                        prop_assert!(start.is_some_and(|start| at - start >= cfg.duration()));
                        prop_assert!(is_raised(&monitor, Metric::HeartRate));
                    }
                    Some(Decision::Raise { .. }) => prop_assert!(accepted.last().is_some_and(|(_, z)| *z == Zone::Out)),
                    Some(Decision::Clear { .. }) => {
                        prop_assert!(was_raised);
                        prop_assert!(!is_raised(&monitor, Metric::HeartRate));
                    }
                    None => {}
                }
            }
        }
    }
}
