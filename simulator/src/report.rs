//! What was sent: counts by message kind and incident kind, progress lines
//! during long runs, and the closing summary.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use crate::incidents::IncidentRecord;
use crate::message::Message;

/// Running counts of what was published and injected.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub messages: u64,
    pub bytes: u64,
    pub by_kind: BTreeMap<String, u64>,
    pub incidents: BTreeMap<String, u64>,
}

impl Tally {
    pub fn message(&mut self, m: &Message) {
        self.messages += 1;
        self.bytes += m.payload.len() as u64;
        *self.by_kind.entry(m.kind.to_string()).or_default() += 1;
    }

    pub fn incident(&mut self, r: &IncidentRecord) {
        *self.incidents.entry(r.label()).or_default() += 1;
    }

    pub fn incident_total(&self) -> u64 {
        self.incidents.values().sum()
    }
}

/// The end of a `run` or `scenario`.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub tally: Tally,
    pub elapsed: StdDuration,
    pub sim_from: DateTime<Utc>,
    /// How far simulated time got (the end, or where it was stopped).
    pub sim_reached: DateTime<Utc>,
    pub sent_qos1: u64,
    pub acked: u64,
    pub connection_errors: u64,
    pub stopped_early: bool,
}

pub fn human(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    match (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, 0, sec) => format!("{sec}s"),
        (0, 0, m, sec) => format!("{m}m{sec:02}s"),
        (0, h, m, _) => format!("{h}h{m:02}m"),
        (d, h, m, _) => format!("{d}d{h:02}h{m:02}m"),
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One progress line of a paced run.
pub fn progress(
    tally: &Tally,
    sim_now: DateTime<Utc>,
    sim_from: DateTime<Utc>,
    sim_to: Option<DateTime<Utc>>,
    acked: u64,
    rate: f64,
) -> String {
    let of = sim_to.map(|t| format!(" of {}", human(t - sim_from))).unwrap_or_default();
    format!(
        "sim {} (+{}{of}): {} messages ({rate:.0}/s), {} acked, {} incidents",
        time(sim_now),
        human(sim_now - sim_from),
        tally.messages,
        acked,
        tally.incident_total(),
    )
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.tally;
        writeln!(
            f,
            "{} {} messages ({} bytes) in {:.1}s, simulated {} .. {} ({})",
            if self.stopped_early { "stopped after" } else { "sent" },
            t.messages,
            t.bytes,
            self.elapsed.as_secs_f64(),
            time(self.sim_from),
            time(self.sim_reached),
            human(self.sim_reached - self.sim_from),
        )?;
        writeln!(
            f,
            "QoS 1 acknowledged: {}/{}, connection errors: {}",
            self.acked, self.sent_qos1, self.connection_errors
        )?;
        writeln!(f, "messages by kind:")?;
        for (kind, n) in &t.by_kind {
            writeln!(f, "  {kind:<26}{n:>10}")?;
        }
        writeln!(f, "incidents by kind:")?;
        if t.incidents.is_empty() {
            writeln!(f, "  (none)")?;
        }
        for (kind, n) in &t.incidents {
            writeln!(f, "  {kind:<26}{n:>10}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::seconds(42)), "42s");
        assert_eq!(human(Duration::seconds(125)), "2m05s");
        assert_eq!(human(Duration::minutes(150)), "2h30m");
        assert_eq!(human(Duration::hours(49)), "2d01h00m");
    }
}
