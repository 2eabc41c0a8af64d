//! The platform watching itself. A monitoring system that fails quietly is
//! worse than none: care staff trust the silence of the console. Each
//! process looks at its own alarm path every second (ingest lanes that have
//! stopped committing, a lane that keeps failing, time-driven rules no leader
//! is judging) and tells every institution, with an alert, and operators,
//! through `/readyz` and `/metrics`.
//!
//! A problem found while the database is unreachable is remembered and
//! raised as soon as it is back, even if it has ended by then: the staff must
//! know that alarms were delayed, and from when.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::alerts::{self, Subject};
use crate::config::WatchdogSettings;
use crate::domain::{AlertKind, Resolution, Severity};
use crate::metrics::Metrics;
use crate::rules::Decision;

/// The ingest lanes, in the order of the per-lane metrics.
const LANES: [&str; 2] = ["events", "telemetry"];

/// Something wrong with the alarm path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Problem {
    /// Messages of this lane wait and none has been committed for a while.
    IngestStalled { lane: &'static str },
    /// This lane keeps failing on data it should be able to store.
    IngestFailing { lane: &'static str },
    /// No scheduler leader has judged the time-driven rules for a while.
    SchedulerStalled,
    /// Device or gateway accounts were revoked for holding a name reserved
    /// for the backend's broker sessions, and their alerts are not resolved
    /// yet. The reconciler raised those alerts: this only shows them to
    /// operators, on every process.
    IdentityRevoked,
}

impl Problem {
    pub fn kind(&self) -> AlertKind {
        match self {
            Problem::IngestStalled { .. } => AlertKind::IngestStalled,
            Problem::IngestFailing { .. } => AlertKind::IngestFailing,
            Problem::SchedulerStalled => AlertKind::SchedulerStalled,
            Problem::IdentityRevoked => AlertKind::IdentityRevoked,
        }
    }

    /// Whether the watchdog raises the alert itself; a revoked identity's
    /// was raised, to its institution, by the reconciler that revoked it.
    fn raised_by_watchdog(&self) -> bool {
        !matches!(self, Problem::IdentityRevoked)
    }

    fn cause(&self) -> &'static str {
        match self {
            Problem::IngestStalled { lane } | Problem::IngestFailing { lane } => lane,
            Problem::SchedulerStalled | Problem::IdentityRevoked => "",
        }
    }

    /// Nobody receives alarms while ingest is stuck: that is critical, and
    /// escalates like a fall. Time rules stopping is serious but slower.
    fn severity(&self) -> Severity {
        match self {
            Problem::IngestStalled { .. } | Problem::IngestFailing { .. } => Severity::Critical,
            Problem::SchedulerStalled | Problem::IdentityRevoked => Severity::High,
        }
    }

    /// The line `/readyz` shows.
    pub fn describe(&self) -> String {
        match self {
            Problem::IngestStalled { lane } => {
                format!("ingest_stalled: {lane} lane has messages waiting and none committed")
            }
            Problem::IngestFailing { lane } => format!("ingest_failing: {lane} lane keeps failing to store valid data"),
            Problem::SchedulerStalled => "scheduler_stalled: no scheduler leader has ticked".to_owned(),
            Problem::IdentityRevoked => "identity_revoked: a device or gateway account held a name reserved for the \
                                         backend's broker sessions and was revoked (see its institution's alert)"
                .to_owned(),
        }
    }

    fn note(&self) -> &'static str {
        match self {
            Problem::IngestStalled { .. } => {
                "device messages were received but not stored: alarms in this period were delayed"
            }
            Problem::IngestFailing { .. } => {
                "storing device data keeps failing on our side; messages are kept and retried, not discarded"
            }
            Problem::SchedulerStalled => {
                "missed meals, inactivity, offline devices and escalations were not judged in this period"
            }
            Problem::IdentityRevoked => "the account could have taken over the backend's broker sessions",
        }
    }
}

/// What the watchdog sees at one look.
#[derive(Debug, Clone, Copy)]
pub struct Observation {
    pub now: DateTime<Utc>,
    /// Per lane: since when its oldest uncommitted message has waited.
    pub waiting_since: [Option<DateTime<Utc>>; 2],
    pub failing: [bool; 2],
    /// How long ago the scheduler leader last ticked (by the database's
    /// clock); `None` when no leader ever ticked or the database is away.
    pub scheduler_silent_for: Option<chrono::Duration>,
    /// Alerts of accounts revoked for a reserved name, not yet resolved.
    pub identities_revoked: i64,
}

/// The problems an observation shows, each with the moment it started.
pub fn judge(obs: &Observation, settings: &WatchdogSettings) -> Vec<(Problem, DateTime<Utc>)> {
    let stall = chrono::Duration::seconds(settings.stall_seconds as i64);
    let mut problems = Vec::new();
    for (i, lane) in LANES.iter().enumerate() {
        if let Some(since) = obs.waiting_since[i]
            && obs.now - since >= stall
        {
            problems.push((Problem::IngestStalled { lane }, since));
        }
        if obs.failing[i] {
            problems.push((Problem::IngestFailing { lane }, obs.waiting_since[i].unwrap_or(obs.now)));
        }
    }
    let scheduler_stall = chrono::Duration::seconds(settings.scheduler_stall_seconds as i64);
    if let Some(silent) = obs.scheduler_silent_for
        && silent >= scheduler_stall
    {
        problems.push((Problem::SchedulerStalled, obs.now - silent));
    }
    if obs.identities_revoked > 0 {
        problems.push((Problem::IdentityRevoked, obs.now));
    }
    problems
}

/// An institution that was sending data in the last day and has been silent
/// for `silent_after`: raise (at the moment it became silent), or clear when
/// data flows again.
pub fn institution_silence(
    last_data: Option<DateTime<Utc>>,
    silent_after: chrono::Duration,
    now: DateTime<Utc>,
) -> Option<Decision> {
    let last = last_data?;
    let details = json!({"last_data_at": crate::rules::rfc3339(last),
                         "silent_after_minutes": silent_after.num_minutes()});
    if last + silent_after <= now && now - last < chrono::Duration::days(1) {
        Some(Decision::Raise {
            kind: AlertKind::InstitutionSilent,
            cause: String::new(),
            severity: Severity::High,
            at: last + silent_after,
            details,
        })
    } else if last + silent_after > now {
        Some(Decision::Clear {
            kind: AlertKind::InstitutionSilent,
            cause: String::new(),
            at: last,
            resolution: Resolution::AutoCleared,
            details,
        })
    } else {
        None
    }
}

pub struct Watchdog {
    pub pool: PgPool,
    pub metrics: Arc<Metrics>,
    pub settings: WatchdogSettings,
}

impl Watchdog {
    pub async fn run(self, shutdown: CancellationToken) {
        let started = Utc::now();
        let mut every = tokio::time::interval(Duration::from_millis(self.settings.check_ms.max(100)));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Problems found and not yet raised (the database may be away), and
        // those raised whose episode has not ended.
        let mut pending: HashMap<Problem, DateTime<Utc>> = HashMap::new();
        let mut raised: HashMap<Problem, DateTime<Utc>> = HashMap::new();
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            let obs = self.observe(started).await;
            let now = judge(&obs, &self.settings);
            self.metrics.set_problems(now.iter().map(|(p, _)| p.describe()).collect());
            raised.retain(|p, _| now.iter().any(|(q, _)| q == p));
            for (problem, since) in now {
                if problem.raised_by_watchdog() && !raised.contains_key(&problem) {
                    pending.entry(problem).or_insert(since);
                }
            }
            let mut done = Vec::new();
            for (problem, since) in &pending {
                match self.raise(*problem, *since, obs.now).await {
                    Ok(()) => done.push(*problem),
                    Err(err) => tracing::warn!(problem = ?problem, cause = %err, "watchdog: cannot raise yet"),
                }
            }
            for problem in done {
                if let Some(since) = pending.remove(&problem) {
                    tracing::error!(problem = %problem.describe(), since = %since, "watchdog raised an alert");
                    raised.insert(problem, since);
                }
            }
        }
    }

    /// `started`: when this watchdog started; with no heartbeat at all, no
    /// leader has ticked since then.
    async fn observe(&self, started: DateTime<Utc>) -> Observation {
        let since = |slot: usize| {
            let ms = self.metrics.lane_waiting_since_ms[slot].load(Ordering::Relaxed);
            (ms > 0).then(|| Utc.timestamp_millis_opt(ms as i64).single()).flatten()
        };
        // By the database's clock, so processes on other machines agree.
        let looked = tokio::time::timeout(Duration::from_secs(2), crate::store::scheduler::watched(&self.pool)).await;
        let now = Utc::now();
        let (scheduler_silent_for, identities_revoked) = match looked {
            Ok(Ok((Some(secs), revoked))) => (Some(chrono::Duration::milliseconds((secs * 1000.0) as i64)), revoked),
            Ok(Ok((None, revoked))) => (Some(now - started), revoked),
            // The database is away: the lanes' own stall says it.
            Ok(Err(_)) | Err(_) => (None, 0),
        };
        Observation {
            now,
            waiting_since: [since(0), since(1)],
            failing: [0, 1].map(|i| self.metrics.lane_failing[i].load(Ordering::Relaxed)),
            scheduler_silent_for,
            identities_revoked,
        }
    }

    /// Raises the problem to every institution: the ingest path and the
    /// scheduler serve them all.
    async fn raise(&self, problem: Problem, since: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        let institutions = crate::store::institutions::ids(&self.pool).await?;
        let decision = Decision::Raise {
            kind: problem.kind(),
            cause: problem.cause().to_owned(),
            severity: problem.severity(),
            at: since,
            details: json!({
                "problem": problem.describe(),
                "since": crate::rules::rfc3339(since),
                "noticed_at": crate::rules::rfc3339(now),
                "note": problem.note(),
            }),
        };
        for id in institutions {
            alerts::apply(&self.pool, &self.metrics, &Subject::institution(id), &decision, false).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> WatchdogSettings {
        WatchdogSettings { check_ms: 1000, stall_seconds: 60, scheduler_stall_seconds: 60, silent_minutes: 30 }
    }

    fn t0() -> DateTime<Utc> {
        "2026-11-30T03:00:00Z".parse().unwrap()
    }

    fn quiet() -> Observation {
        Observation {
            now: t0(),
            waiting_since: [None, None],
            failing: [false, false],
            scheduler_silent_for: None,
            identities_revoked: 0,
        }
    }

    #[test]
    fn a_lane_is_stalled_once_its_oldest_message_has_waited_the_threshold() {
        let s = chrono::Duration::seconds;
        assert!(judge(&quiet(), &settings()).is_empty());
        let waiting = |ago| Observation { waiting_since: [Some(t0() - s(ago)), None], ..quiet() };
        assert!(judge(&waiting(59), &settings()).is_empty());
        assert_eq!(judge(&waiting(60), &settings()), [(Problem::IngestStalled { lane: "events" }, t0() - s(60))]);
        let telemetry = Observation { waiting_since: [None, Some(t0() - s(600))], ..quiet() };
        assert_eq!(judge(&telemetry, &settings())[0].0, Problem::IngestStalled { lane: "telemetry" });
    }

    #[test]
    fn a_failing_lane_and_a_silent_scheduler_are_problems() {
        let failing = Observation { failing: [false, true], ..quiet() };
        assert_eq!(judge(&failing, &settings()), [(Problem::IngestFailing { lane: "telemetry" }, t0())]);
        let silent = |secs| Observation { scheduler_silent_for: Some(chrono::Duration::seconds(secs)), ..quiet() };
        assert!(judge(&silent(59), &settings()).is_empty());
        assert_eq!(
            judge(&silent(90), &settings()),
            [(Problem::SchedulerStalled, t0() - chrono::Duration::seconds(90))]
        );
        assert_eq!(Problem::SchedulerStalled.kind(), AlertKind::SchedulerStalled);
        assert_eq!(Problem::IngestStalled { lane: "events" }.severity(), Severity::Critical);
    }

    #[test]
    fn a_revoked_identity_shows_until_its_alert_is_resolved_and_is_not_raised_again() {
        let revoked = Observation { identities_revoked: 2, ..quiet() };
        assert_eq!(judge(&revoked, &settings()), [(Problem::IdentityRevoked, t0())]);
        assert!(Problem::IdentityRevoked.describe().starts_with("identity_revoked: "));
        assert!(!Problem::IdentityRevoked.raised_by_watchdog(), "its alert went to its institution already");
        assert!(Problem::SchedulerStalled.raised_by_watchdog());
    }

    #[test]
    fn an_institution_that_was_sending_and_stopped_is_silent_until_data_flows() {
        let m = chrono::Duration::minutes;
        let after = m(30);
        assert_eq!(institution_silence(None, after, t0()), None, "never sent anything");
        assert!(matches!(institution_silence(Some(t0() - m(5)), after, t0()), Some(Decision::Clear { .. })));
        match institution_silence(Some(t0() - m(31)), after, t0()) {
            Some(Decision::Raise { kind, at, .. }) => {
                assert_eq!(kind, AlertKind::InstitutionSilent);
                assert_eq!(at, t0() - m(1), "silent from the moment the threshold ran out");
            }
            other => panic!("expected a raise, got {other:?}"),
        }
        assert_eq!(institution_silence(Some(t0() - chrono::Duration::days(2)), after, t0()), None, "long gone");
    }
}
