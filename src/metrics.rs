//! Process-wide counters, exported in the Prometheus text format at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::domain::{AlertKind, Reason};

/// Upper bounds (seconds) of the ingest batch latency histogram.
const LATENCY_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

#[derive(Default)]
pub struct Metrics {
    pub messages_received: AtomicU64,
    /// Messages whose data is committed (good messages, or the good part of one).
    pub messages_stored: AtomicU64,
    pub readings_stored: AtomicU64,
    pub events_stored: AtomicU64,
    pub duplicates_absorbed: AtomicU64,
    pub batches_committed: AtomicU64,
    pub batch_failures: AtomicU64,
    /// Evaluations of the time-driven rules by the leader.
    pub scheduler_ticks: AtomicU64,
    /// Rule evaluations or alert changes that failed (and were retried).
    pub rule_failures: AtomicU64,
    /// Alarm events judged by the inbox sweep rather than the fast path:
    /// each one is an event whose first evaluation did not happen.
    pub rule_inbox_swept: AtomicU64,
    /// Vital readings judged by the vital inbox sweep: stored by a batch
    /// whose process did not judge them.
    pub vital_inbox_swept: AtomicU64,
    /// Vital readings through the vital rules (fast path or sweep), counted
    /// once their judgement is committed.
    pub vital_readings_judged: AtomicU64,
    /// Login attempts on emails no account has (not in any audit trail:
    /// there is no institution to record them in).
    pub login_unknown_account: AtomicU64,
    /// Per ingest lane (events, telemetry): since when (Unix milliseconds)
    /// the oldest message not yet committed has waited; 0 when none waits.
    /// The watchdog calls a lane stalled when this gets old.
    pub lane_waiting_since_ms: [AtomicU64; 2],
    /// Backtest replays running now, each on a blocking thread with a
    /// resident's history in memory (a gauge: at most
    /// `backtest.max_concurrent`).
    pub backtests_replaying: AtomicU64,
    /// What the watchdog currently finds wrong, for `/readyz` and the gauges.
    problems: Mutex<Vec<String>>,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    /// Rejects not stored because their sender's quarantine cap was reached.
    quarantine_dropped: Mutex<BTreeMap<&'static str, u64>>,
    alerts_opened: Mutex<BTreeMap<&'static str, u64>>,
    /// Notifications accepted by a push service or gateway, and attempts
    /// that failed (retried), by channel and outcome.
    notifications: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    batch_latency: Histogram,
    /// One per ingest session (events, telemetry).
    pub mqtt_connected: [AtomicBool; 2],
    pub database_connected: AtomicBool,
    /// One per writer lane, in the order of `mqtt_connected`: set while the
    /// lane holds messages the database keeps refusing for a fault of ours
    /// (a schema bug, a broken migration), which quarantining would hide;
    /// cleared once they are stored. A watchdog raises the alarm on it.
    pub lane_failing: [AtomicBool; 2],
    /// The answering gauges as last rendered, and when: several scrapers
    /// (or a quick one) cost the database one count per
    /// [`ANSWERING_MAX_AGE`], not one each.
    answering: Mutex<Option<(std::time::Instant, String)>>,
}

/// How long the answering gauges are served from the last count.
pub const ANSWERING_MAX_AGE: Duration = Duration::from_secs(30);

/// The lanes' names, in the order of `mqtt_connected` and `lane_failing`.
const LANES: [&str; 2] = ["events", "telemetry"];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Metrics {
    /// Both ingest sessions are subscribed.
    pub fn broker_connected(&self) -> bool {
        self.mqtt_connected.iter().all(|c| c.load(Ordering::Relaxed))
    }

    pub fn rejected(&self, reason: Reason) {
        *lock(&self.rejected).entry(reason.as_str()).or_default() += 1;
    }

    /// The answering gauges counted less than [`ANSWERING_MAX_AGE`] ago.
    pub fn recent_answering(&self) -> Option<String> {
        lock(&self.answering).as_ref().filter(|(at, _)| at.elapsed() < ANSWERING_MAX_AGE).map(|(_, text)| text.clone())
    }

    pub fn set_answering(&self, text: String) {
        *lock(&self.answering) = Some((std::time::Instant::now(), text));
    }

    pub fn set_problems(&self, problems: Vec<String>) {
        *lock(&self.problems) = problems;
    }

    pub fn problems(&self) -> Vec<String> {
        lock(&self.problems).clone()
    }

    pub fn quarantine_dropped(&self, reason: Reason) {
        *lock(&self.quarantine_dropped).entry(reason.as_str()).or_default() += 1;
    }

    pub fn alert_opened(&self, kind: AlertKind) {
        *lock(&self.alerts_opened).entry(kind.as_str()).or_default() += 1;
    }

    /// One notification attempt: `sent`, `failed` (retried) or `gone` (a
    /// push endpoint that no longer exists).
    pub fn notification(&self, channel: &'static str, outcome: &'static str) {
        *lock(&self.notifications).entry((channel, outcome)).or_default() += 1;
    }

    /// Time from a batch's first message being received to its commit.
    pub fn observe_batch(&self, latency: Duration) {
        let secs = latency.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.batch_latency.buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.batch_latency.count.fetch_add(1, Ordering::Relaxed);
        self.batch_latency.sum_micros.fetch_add(latency.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters = [
            ("eldercare_mqtt_messages_received_total", "MQTT messages received", &self.messages_received),
            ("eldercare_messages_stored_total", "Messages whose data was committed", &self.messages_stored),
            ("eldercare_readings_stored_total", "Readings rows inserted", &self.readings_stored),
            ("eldercare_events_stored_total", "Event rows inserted", &self.events_stored),
            (
                "eldercare_duplicates_absorbed_total",
                "Redelivered rows that were already stored",
                &self.duplicates_absorbed,
            ),
            ("eldercare_ingest_batches_total", "Ingest batches committed", &self.batches_committed),
            (
                "eldercare_ingest_batch_failures_total",
                "Ingest batch commits that failed and were retried",
                &self.batch_failures,
            ),
            (
                "eldercare_scheduler_ticks_total",
                "Evaluations of the time-driven rules by this process",
                &self.scheduler_ticks,
            ),
            (
                "eldercare_rule_failures_total",
                "Rule evaluations or alert changes that failed and were retried",
                &self.rule_failures,
            ),
            (
                "eldercare_rule_inbox_swept_total",
                "Stored alarm events judged by the inbox sweep after their first evaluation did not happen",
                &self.rule_inbox_swept,
            ),
            (
                "eldercare_vital_inbox_swept_total",
                "Stored vital readings judged by the vital inbox sweep after their first evaluation did not happen",
                &self.vital_inbox_swept,
            ),
            (
                "eldercare_vital_readings_judged_total",
                "Stored vital readings through the vital rules, counted once their judgement is committed",
                &self.vital_readings_judged,
            ),
            (
                "eldercare_login_unknown_account_total",
                "Login attempts on an email that no account has",
                &self.login_unknown_account,
            ),
        ];
        for (name, help, value) in counters {
            let _ =
                writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", value.load(Ordering::Relaxed));
        }
        let reasons = || Reason::ALL.iter().map(Reason::as_str);
        let name = "eldercare_messages_rejected_total";
        let _ = writeln!(
            out,
            "# HELP {name} Messages rejected, by reason (quarantined, or counted beyond the quarantine cap)\n# TYPE {name} counter"
        );
        let rejected = lock(&self.rejected).clone();
        for reason in reasons() {
            let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {}", rejected.get(reason).copied().unwrap_or(0));
        }
        let name = "eldercare_quarantine_dropped_total";
        let _ = writeln!(
            out,
            "# HELP {name} Rejected messages not kept because their sender reached the quarantine cap, by reason\n# TYPE {name} counter"
        );
        let dropped = lock(&self.quarantine_dropped).clone();
        for reason in reasons() {
            let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {}", dropped.get(reason).copied().unwrap_or(0));
        }
        let name = "eldercare_alerts_opened_total";
        let _ = writeln!(out, "# HELP {name} Alerts opened, by kind\n# TYPE {name} counter");
        for (kind, count) in lock(&self.alerts_opened).iter() {
            let _ = writeln!(out, "{name}{{kind=\"{kind}\"}} {count}");
        }
        let name = "eldercare_notifications_total";
        let _ = writeln!(out, "# HELP {name} Notification attempts, by channel and outcome\n# TYPE {name} counter");
        for ((channel, outcome), count) in lock(&self.notifications).iter() {
            let _ = writeln!(out, "{name}{{channel=\"{channel}\",outcome=\"{outcome}\"}} {count}");
        }
        let name = "eldercare_ingest_batch_latency_seconds";
        let _ = writeln!(out, "# HELP {name} From first message received to batch committed\n# TYPE {name} histogram");
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.batch_latency.buckets) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", bucket.load(Ordering::Relaxed));
        }
        let count = self.batch_latency.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.batch_latency.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
        let name = "eldercare_mqtt_connected";
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (session, value) in LANES.iter().zip(&self.mqtt_connected) {
            let _ = writeln!(out, "{name}{{session=\"{session}\"}} {}", u8::from(value.load(Ordering::Relaxed)));
        }
        let name = "eldercare_ingest_lane_failing";
        let _ = writeln!(
            out,
            "# HELP {name} The lane holds messages the database keeps refusing for a fault of ours\n# TYPE {name} gauge"
        );
        for (lane, value) in LANES.iter().zip(&self.lane_failing) {
            let _ = writeln!(out, "{name}{{lane=\"{lane}\"}} {}", u8::from(value.load(Ordering::Relaxed)));
        }
        let name = "eldercare_watchdog_problems";
        let _ = writeln!(out, "# HELP {name} What the watchdog finds wrong with this process now\n# TYPE {name} gauge");
        let problems = lock(&self.problems).clone();
        let _ = writeln!(out, "{name} {}", problems.len());
        // Each problem by its kind (`scheduler_stalled: no scheduler leader
        // has ticked` → `scheduler_stalled`), for alerting rules.
        let name = "eldercare_watchdog_problem";
        let _ = writeln!(
            out,
            "# HELP {name} A problem the watchdog finds now, by kind (1 while it lasts)\n# TYPE {name} gauge"
        );
        let mut kinds: Vec<&str> = problems.iter().map(|p| p.split(':').next().unwrap_or(p).trim()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        for kind in kinds {
            let _ = writeln!(out, "{name}{{problem=\"{kind}\"}} 1");
        }
        let name = "eldercare_backtests_replaying";
        let _ = writeln!(
            out,
            "# HELP {name} Backtest replays running now\n# TYPE {name} gauge\n{name} {}",
            self.backtests_replaying.load(Ordering::Relaxed)
        );
        let name = "eldercare_database_connected";
        let _ =
            writeln!(out, "# TYPE {name} gauge\n{name} {}", u8::from(self.database_connected.load(Ordering::Relaxed)));
        out
    }
}

/// The answering gauges of `/metrics`: per institution (by id), the share
/// (0–1) of the alerts a person had to answer over the last 30 days that
/// were answered within 60 s and within 180 s; rows are (institution,
/// answerable, within 60 s, within 180 s). An institution with no such
/// alert has no share, and no sample.
pub fn render_answering(rows: &[(uuid::Uuid, i64, i64, i64)]) -> String {
    let mut out = String::new();
    for (seconds, pick) in [(60, 2), (180, 3)] {
        let name = format!("eldercare_alerts_acknowledged_within_{seconds}s_ratio");
        let _ = writeln!(
            out,
            "# HELP {name} Share of the critical and high alerts a person had to answer in the last 30 days \
             answered within {seconds} s (unanswered ones count against it)\n# TYPE {name} gauge"
        );
        for row in rows.iter().filter(|r| r.1 > 0) {
            let within = if pick == 2 { row.2 } else { row.3 };
            let _ = writeln!(out, "{name}{{institution=\"{}\"}} {}", row.0, within as f64 / row.1 as f64);
        }
    }
    out
}

/// The outbox and scheduler gauges of `/metrics`, read from the database at
/// the scrape (a gauge with no value, as when nothing urgent waits, is left
/// out).
pub fn render_backlog(b: &crate::store::outbox::Backlog) -> String {
    let mut out = String::new();
    let gauges: [(&str, &str, Option<f64>); 5] = [
        (
            "eldercare_notifications_pending",
            "Notification deliveries not yet delivered nor given up",
            Some(b.notifications_pending as f64),
        ),
        (
            "eldercare_notification_oldest_urgent_age_seconds",
            "Age of the oldest urgent (high or critical alert) notification not yet delivered",
            b.oldest_urgent_notification_seconds,
        ),
        ("eldercare_webhooks_pending", "Webhook deliveries not yet delivered", Some(b.webhooks_pending as f64)),
        (
            "eldercare_webhook_oldest_age_seconds",
            "Age of the oldest webhook delivery not yet delivered",
            b.oldest_webhook_seconds,
        ),
        (
            "eldercare_scheduler_heartbeat_age_seconds",
            "Seconds since a scheduler leader last ticked (by the database's clock)",
            b.scheduler_heartbeat_age_seconds,
        ),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        if let Some(value) = value {
            let _ = writeln!(out, "{name} {value}");
        }
    }
    out
}

/// The read replica's gauges: declared always, with samples only where a
/// replica is configured (`state`: its lag, `None` when it did not answer,
/// and whether heavy reads go there).
pub fn render_replica(state: Option<(Option<f64>, bool)>) -> String {
    let mut out = String::new();
    let lag = "eldercare_replica_lag_seconds";
    let serving = "eldercare_reads_on_replica";
    let _ = writeln!(out, "# HELP {lag} How far the read replica is behind the primary\n# TYPE {lag} gauge");
    let _ = writeln!(
        out,
        "# HELP {serving} Whether heavy reads go to the read replica (0: to the primary)\n# TYPE {serving} gauge"
    );
    if let Some((seconds, on_replica)) = state {
        if let Some(seconds) = seconds {
            let _ = writeln!(out, "{lag} {seconds}");
        }
        let _ = writeln!(out, "{serving} {}", u8::from(on_replica));
    }
    out
}

/// A poisoned counter map is still a valid counter map.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_by_label_and_histogram() {
        let m = Metrics::default();
        m.messages_received.fetch_add(3, Ordering::Relaxed);
        m.rejected(Reason::Malformed);
        m.rejected(Reason::Malformed);
        m.alert_opened(AlertKind::Fall);
        m.observe_batch(Duration::from_millis(3));
        let text = m.render();
        assert!(text.contains("eldercare_mqtt_messages_received_total 3"));
        assert!(text.contains("eldercare_messages_rejected_total{reason=\"malformed\"} 2"));
        assert!(text.contains("eldercare_messages_rejected_total{reason=\"oversized\"} 0"));
        assert!(text.contains("eldercare_alerts_opened_total{kind=\"fall\"} 1"));
        assert!(text.contains("eldercare_ingest_batch_latency_seconds_bucket{le=\"0.0025\"} 0"));
        assert!(text.contains("eldercare_ingest_batch_latency_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("eldercare_ingest_batch_latency_seconds_count 1"));
    }

    #[test]
    fn renders_the_answering_shares_per_institution() {
        let home = uuid::Uuid::from_u128(1);
        let quiet = uuid::Uuid::from_u128(2);
        let text = render_answering(&[(home, 4, 2, 3), (quiet, 0, 0, 0)]);
        let within_60 = format!("eldercare_alerts_acknowledged_within_60s_ratio{{institution=\"{home}\"}} 0.5");
        let within_180 = format!("eldercare_alerts_acknowledged_within_180s_ratio{{institution=\"{home}\"}} 0.75");
        assert!(text.contains(&within_60) && text.contains(&within_180), "{text}");
        assert!(text.contains("# TYPE eldercare_alerts_acknowledged_within_60s_ratio gauge"));
        assert!(!text.contains(&quiet.to_string()), "no share without alerts: {text}");
    }

    #[test]
    fn renders_unstorable_rejects_drops_and_failing_lanes() {
        let m = Metrics::default();
        m.rejected(Reason::Unstorable);
        m.quarantine_dropped(Reason::Malformed);
        m.lane_failing[1].store(true, Ordering::Relaxed);
        let text = m.render();
        assert!(text.contains("eldercare_messages_rejected_total{reason=\"unstorable\"} 1"));
        assert!(text.contains("eldercare_quarantine_dropped_total{reason=\"malformed\"} 1"));
        assert!(text.contains("eldercare_quarantine_dropped_total{reason=\"unstorable\"} 0"));
        assert!(text.contains("eldercare_ingest_lane_failing{lane=\"events\"} 0"));
        assert!(text.contains("eldercare_ingest_lane_failing{lane=\"telemetry\"} 1"));
    }
}
