//! The streaming side at run time: every newly committed event, vital
//! reading and device status goes through the pure rules, and each decision
//! becomes an alert change in its own small transaction (never inside a
//! telemetry batch).
//!
//! Alarm events are judged at least once whatever dies in between: the
//! ingest lane writes each one to the rule inbox in the batch that stores
//! it, and the engine deletes the inbox row in the transaction that applies
//! the event's decisions. The in-memory hand-over is the fast path; the
//! inbox sweep (at start and every few seconds) is the guarantee. Events
//! come before telemetry: a fall never waits behind a backlog of readings.
//!
//! Vital-sign state (a pending episode, its duration, the hysteresis of a
//! raised one) lives in the database, not in this process: with several
//! `serve` processes sharing the telemetry subscription, consecutive readings
//! of one resident land on different processes. Each chunk of readings is
//! first judged against the stored state read without a lock; nearly every
//! reading (in range while all is normal) leaves its monitor as it was, and
//! nothing is written for it. The monitors a reading changes are judged again
//! in one transaction that locks their `vital_state` rows (in key order, so
//! two processes never deadlock), feeds the readings to the pure
//! [`VitalMonitor`], applies its decisions and writes the state back: the
//! state an alert was decided on is the state committed with it, and two
//! processes judging the same resident take turns. A reading that reaches
//! the state after a newer one that changed it (the other process judged its
//! batch first) is ignored as out of order, as a late reading always was.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Applied, Subject};
use crate::domain::device::{DeviceInfo, Registered};
use crate::domain::settings::{RuleSettings, Threshold};
use crate::domain::{AlertKind, EventKind, Metric};
use crate::metrics::Metrics;
use crate::rules::vitals::VitalMonitor;
use crate::rules::{Decision, devices, streaming};
use crate::store::inbox;
use crate::store::settings::SettingsCache;

/// Data that arrived this much after it happened is "late": its alerts say so.
const LATE_AFTER: chrono::Duration = chrono::Duration::minutes(2);

/// Whether data that happened at `ts` and reached the backend at
/// `received_at` is late.
pub fn is_late(ts: DateTime<Utc>, received_at: DateTime<Utc>) -> bool {
    received_at - ts > LATE_AFTER
}
/// A batch taking longer than this to evaluate is logged: alerts wait behind it.
const SLOW: Duration = Duration::from_millis(250);
/// How often the rule inbox is swept for events no process has judged.
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// Inbox rows younger than this are left to the fast path of the process
/// that stored them.
const SWEEP_AGE: Duration = Duration::from_secs(5);
/// A decision failing for another reason than a lost connection is tried
/// this many times; an alarm event stays in the inbox for the sweep after.
const ATTEMPTS: u32 = 5;

#[derive(Debug, Clone)]
pub enum Stored {
    Event {
        origin: Arc<Registered>,
        kind: EventKind,
        ts: DateTime<Utc>,
        data: Value,
        received_at: DateTime<Utc>,
        /// The event's rule inbox row, for the events the rules judge.
        inbox: Option<i64>,
    },
    Reading {
        origin: Arc<Registered>,
        metric: Metric,
        ts: DateTime<Utc>,
        value: f64,
        received_at: DateTime<Utc>,
    },
    Status {
        origin: Arc<Registered>,
        online: Option<bool>,
        battery: Option<f64>,
        at: DateTime<Utc>,
    },
    /// After a batch's vital readings: they are judged, and their
    /// `vital_inbox` row can go.
    VitalsEnd {
        inbox: i64,
    },
}

/// What the ingest lanes hand to the engine once committed, one channel per
/// lane so that events are judged first.
pub struct EngineInput {
    pub events: mpsc::Receiver<Vec<Stored>>,
    pub telemetry: mpsc::Receiver<Vec<Stored>>,
}

#[derive(Debug, Default)]
struct Health {
    online: Option<bool>,
    low_battery: Option<bool>,
    /// Receipt time of the latest status applied: the lanes commit out of
    /// receipt order, and an older message must not undo a newer Last Will.
    at: Option<DateTime<Utc>>,
}

pub struct Engine {
    pool: PgPool,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    settings: SettingsCache,
    /// Last device health seen, so that only changes become decisions, not
    /// every heartbeat.
    health: HashMap<String, Health>,
}

/// Runs `attempt` until it succeeds. A lost connection is waited out (until
/// shutdown); any other failure is tried [`ATTEMPTS`] times. `None` when it
/// was given up.
async fn retrying<T, F, Fut>(what: &str, metrics: &Metrics, shutdown: &CancellationToken, mut attempt: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    let mut backoff = Duration::from_millis(100);
    let mut failures = 0;
    loop {
        // A primary that froze answers nothing: abandoned in time, the
        // attempt is retried (on the new primary once there is one).
        match crate::store::within(crate::store::ANSWER_WITHIN, attempt()).await {
            Ok(v) => return Some(v),
            Err(err) => {
                metrics.rule_failures.fetch_add(1, Ordering::Relaxed);
                let connection = crate::store::connection_lost(&err);
                if !connection {
                    failures += 1;
                }
                if failures >= ATTEMPTS || (shutdown.is_cancelled() && backoff >= Duration::from_secs(5)) {
                    tracing::error!(what, cause = %err, "rule evaluation given up");
                    return None;
                }
                tracing::warn!(what, cause = %err, retry_in = ?backoff, "rule evaluation failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

impl Engine {
    pub fn new(pool: PgPool, settings: SettingsCache, metrics: Arc<Metrics>, shutdown: CancellationToken) -> Self {
        Engine { pool, metrics, shutdown, settings, health: HashMap::new() }
    }

    /// Runs until the ingest lanes are gone.
    pub async fn run(mut self, mut input: EngineInput) {
        // Whatever a previous life of this process (or a dead neighbour)
        // stored and did not judge.
        self.sweep(Duration::ZERO).await;
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        sweep.tick().await;
        let mut readings: VecDeque<Vec<Stored>> = VecDeque::new();
        let (mut events_open, mut telemetry_open) = (true, true);
        loop {
            // Alarm-bearing input first, between any two chunks of readings.
            while let Ok(batch) = input.events.try_recv() {
                self.evaluate_batch(batch).await;
            }
            if let Some(chunk) = readings.pop_front() {
                self.evaluate_readings(chunk).await;
                continue;
            }
            if !events_open && !telemetry_open {
                return;
            }
            tokio::select! {
                biased;
                batch = input.events.recv(), if events_open => match batch {
                    Some(batch) => self.evaluate_batch(batch).await,
                    None => events_open = false,
                },
                _ = sweep.tick() => self.sweep(SWEEP_AGE).await,
                batch = input.telemetry.recv(), if telemetry_open => match batch {
                    // Events get their turn between chunks.
                    Some(batch) => readings.extend(chunks(batch)),
                    None => telemetry_open = false,
                },
            }
        }
    }

    async fn evaluate_batch(&mut self, batch: Vec<Stored>) {
        let started = Instant::now();
        let n = batch.len();
        for stored in batch {
            self.evaluate(stored).await;
        }
        if started.elapsed() > SLOW {
            tracing::warn!(items = n, took_ms = started.elapsed().as_millis() as u64, "slow rule evaluation");
        }
    }

    /// Judges one stored item; failures are retried, never silently dropped.
    async fn evaluate(&mut self, stored: Stored) {
        match stored {
            Stored::Event { origin, kind, ts, data, received_at, inbox } => {
                let Some(settings) = self.settings_for(&origin).await else { return };
                let event = JudgedEvent { origin: &origin, kind: &kind, ts, data: &data, received_at, inbox };
                let (pool, metrics, shutdown) = (&self.pool, &self.metrics, &self.shutdown);
                let applied = retrying("event", metrics, shutdown, || judge_event(pool, &event, &settings)).await;
                for a in applied.unwrap_or_default() {
                    a.count(&self.metrics);
                }
            }
            Stored::Reading { .. } | Stored::VitalsEnd { .. } => self.evaluate_readings(vec![stored]).await,
            Stored::Status { origin, online, battery, at } => {
                let Some(settings) = self.settings_for(&origin).await else { return };
                let known = self.health.entry(origin.info.device_id.clone()).or_default();
                if known.at.is_some_and(|seen| at < seen) {
                    return;
                }
                known.at = Some(at);
                let percent = settings.low_battery.percent;
                let was_low = known.low_battery == Some(true);
                let low = battery.map(|b| devices::battery(b, percent).is_low(was_low));
                // A device first seen healthy (online, battery fine) needs
                // nothing cleared: an alert from before a restart is cleared
                // by the scheduler's device check. Without this, a restart
                // would run one transaction per device on its first message.
                let online_changed =
                    online.is_some() && online != known.online && !(known.online.is_none() && online == Some(true));
                let low_changed =
                    low.is_some() && low != known.low_battery && !(known.low_battery.is_none() && low == Some(false));
                known.online = online.or(known.online);
                known.low_battery = low.or(known.low_battery);
                if !online_changed && !low_changed {
                    return;
                }
                let online = online.filter(|_| online_changed);
                let battery = battery.filter(|_| low_changed);
                let subject = Subject::of(&origin);
                for decision in
                    devices::on_status(&origin.info.device_id, origin.info.kind, online, battery, at, &settings)
                {
                    self.apply(&subject, decision, false).await;
                }
            }
        }
    }

    /// Judges a chunk of a telemetry batch: its readings together, in one
    /// transaction over the shared vital state; anything else one by one.
    async fn evaluate_readings(&mut self, chunk: Vec<Stored>) {
        let mut judged = Vec::new();
        let mut ends = Vec::new();
        let mut readings = 0_u64;
        for stored in chunk {
            let Stored::Reading { origin, metric, ts, value, received_at } = stored else {
                match stored {
                    Stored::VitalsEnd { inbox } => ends.push(inbox),
                    other => Box::pin(self.evaluate(other)).await,
                }
                continue;
            };
            readings += 1;
            let Some(resident) = origin.resident_id else { continue };
            let Some(settings) = self.settings_for(&origin).await else { continue };
            let Some(threshold) = settings.thresholds.get(metric).copied() else { continue };
            let late = is_late(ts, received_at);
            judged.push(VitalReading { origin, resident, metric, ts, value, threshold, settings, late });
        }
        let given_up = self.judge_vitals(&judged).await;
        self.metrics.vital_readings_judged.fetch_add(readings - given_up, Ordering::Relaxed);
        // Stopped while judging: the readings may not all be judged, and
        // the sweep of the next start judges them.
        if !ends.is_empty() && !self.shutdown.is_cancelled() {
            // Not while a sweeping neighbour holds the row: it deletes it.
            if let Err(err) = inbox::clear_vitals(&self.pool, &ends).await {
                // The sweep judges them again, which changes nothing.
                tracing::warn!(cause = %err, "clearing the vital inbox; the sweep will");
            }
        }
    }

    /// Judges vital readings together, in one transaction over the shared
    /// vital state; one the store refuses costs the others nothing. Answers
    /// how many were given up.
    async fn judge_vitals(&mut self, judged: &[VitalReading]) -> u64 {
        if judged.is_empty() {
            return 0;
        }
        let mut given_up = 0;
        let (pool, metrics, shutdown) = (&self.pool, &self.metrics, &self.shutdown);
        let applied = match retrying("vitals", metrics, shutdown, || judge_readings(pool, judged)).await {
            Some(applied) => applied,
            // One reading the store refuses must not cost the chunk its
            // judgement: each is tried once on its own, and only what fails
            // again is given up (once, not with the retries, so a store
            // that refuses everything does not hold the events up).
            None if judged.len() > 1 => {
                let mut applied = Vec::new();
                for r in judged {
                    match judge_readings(pool, std::slice::from_ref(r)).await {
                        Ok(a) => applied.extend(a),
                        Err(err) => {
                            given_up += 1;
                            tracing::error!(cause = %err, resident = %r.resident, metric = r.metric.as_str(),
                                "vital reading given up")
                        }
                    }
                }
                applied
            }
            None => {
                given_up = judged.len() as u64;
                Vec::new()
            }
        };
        for a in applied {
            a.count(&self.metrics);
        }
        given_up
    }

    async fn apply(&self, subject: &Subject, decision: Decision, late: bool) {
        let (pool, metrics, shutdown) = (&self.pool, &self.metrics, &self.shutdown);
        let decision = &decision;
        // Given up only after retries, which are logged and counted.
        let _ = retrying("decision", metrics, shutdown, || async move {
            super::apply(pool, metrics, subject, decision, late).await
        })
        .await;
    }

    async fn settings_for(&self, origin: &Registered) -> Option<Arc<RuleSettings>> {
        let (pool, metrics, shutdown, cache) = (&self.pool, &self.metrics, &self.shutdown, &self.settings);
        retrying("settings", metrics, shutdown, || async move {
            match origin.resident_id {
                Some(rid) => Ok(cache.resident(pool, rid).await?.unwrap_or_default()),
                None => cache.institution(pool, origin.institution_id).await,
            }
        })
        .await
    }

    /// Judges what was stored and not judged, alarms first.
    async fn sweep(&mut self, min_age: Duration) {
        self.sweep_events(min_age).await;
        self.sweep_vitals(min_age).await;
    }

    /// Judges the vital readings of `vital_inbox` rows older than `min_age`:
    /// a batch whose process died between storing and judging it. The rows
    /// are locked while judged, so two sweeping processes take different
    /// ones, and deleted with the lock.
    async fn sweep_vitals(&mut self, min_age: Duration) {
        loop {
            let claimed = async {
                let mut tx = self.pool.begin().await?;
                let ids = inbox::claim_vitals(&mut tx, min_age).await?;
                let rows = inbox::vital_readings(&mut tx, &ids).await?;
                Ok::<_, sqlx::Error>((tx, ids, rows))
            }
            .await;
            let (mut tx, ids, rows) = match claimed {
                Ok((_, ids, _)) if ids.is_empty() => return,
                Ok(claimed) => claimed,
                Err(err) => {
                    tracing::warn!(cause = %err, "sweeping the vital inbox; trying again later");
                    return;
                }
            };
            tracing::info!(batches = ids.len(), readings = rows.len(), "judging stored vital readings left unjudged");
            self.metrics.vital_inbox_swept.fetch_add(rows.len() as u64, Ordering::Relaxed);
            let readings = rows
                .into_iter()
                .filter_map(|r| {
                    let origin = Arc::new(Registered {
                        info: DeviceInfo {
                            device_id: r.device_id,
                            kind: r.device_kind,
                            room: r.room,
                            placement: r.placement,
                            power_on_threshold_w: r.power_on_threshold_w,
                        },
                        institution_id: r.institution_id,
                        resident_id: r.resident_id,
                    });
                    let metric = Metric::parse(&r.metric)?;
                    Some(Stored::Reading { origin, metric, ts: r.ts, value: r.value, received_at: r.received_at })
                })
                .collect();
            for chunk in chunks(readings) {
                self.evaluate_readings(chunk).await;
            }
            if self.shutdown.is_cancelled() {
                return;
            }
            let done = inbox::delete_vitals(&mut tx, &ids).await;
            if let Err(err) = async {
                done?;
                tx.commit().await
            }
            .await
            {
                tracing::warn!(cause = %err, "clearing the swept vital inbox; judged again later");
                return;
            }
        }
    }

    /// Judges the inbox rows older than `min_age` that no process has
    /// judged: left by a crash, a failed decision, or a process that died.
    async fn sweep_events(&mut self, min_age: Duration) {
        let mut after = 0_i64;
        loop {
            let rows = match inbox::unjudged_events(&self.pool, min_age, after).await {
                Ok(rows) if rows.is_empty() => return,
                Ok(rows) => rows,
                Err(err) => {
                    tracing::warn!(cause = %err, "sweeping the rule inbox; trying again later");
                    return;
                }
            };
            tracing::info!(events = rows.len(), "judging stored alarm events left unjudged");
            for row in rows {
                after = row.id;
                self.metrics.rule_inbox_swept.fetch_add(1, Ordering::Relaxed);
                let (Some(kind), Some(institution_id), Some(power_on_threshold_w)) =
                    (row.device_kind, row.institution_id, row.power_on_threshold_w)
                else {
                    // The device was removed: there is no one left to alert.
                    let _ = inbox::drop_event(&self.pool, row.id).await;
                    continue;
                };
                let origin = Arc::new(Registered {
                    info: DeviceInfo {
                        device_id: row.device_id,
                        kind,
                        room: row.room,
                        placement: row.placement,
                        power_on_threshold_w,
                    },
                    institution_id,
                    resident_id: row.resident_id,
                });
                self.evaluate(Stored::Event {
                    origin,
                    kind: row.kind,
                    ts: row.ts,
                    data: row.data,
                    received_at: row.received_at,
                    inbox: Some(row.id),
                })
                .await;
            }
        }
    }
}

/// One stored event on its way through the streaming rules.
struct JudgedEvent<'a> {
    origin: &'a Registered,
    kind: &'a EventKind,
    ts: DateTime<Utc>,
    data: &'a Value,
    received_at: DateTime<Utc>,
    inbox: Option<i64>,
}

/// Applies the event's decisions and takes it out of the rule inbox, in one
/// transaction: judged exactly when its alert change is committed.
async fn judge_event(
    pool: &PgPool,
    event: &JudgedEvent<'_>,
    settings: &RuleSettings,
) -> Result<Vec<Applied>, sqlx::Error> {
    let origin = event.origin;
    let late = is_late(event.ts, event.received_at);
    let decisions = streaming::on_event(event.kind, event.ts, event.data, origin.info.kind, settings, late);
    if decisions.is_empty() && event.inbox.is_none() {
        return Ok(Vec::new());
    }
    let subject = Subject::of(origin);
    let mut tx = pool.begin().await?;
    if let Some(id) = event.inbox {
        // Locks the row: a sweeping neighbour skips it, and if the neighbour
        // got there first the event is already judged.
        if !inbox::claim_event(&mut tx, id).await? {
            return Ok(Vec::new());
        }
    }
    let mut applied = Vec::new();
    for mut decision in decisions {
        if matches!(decision, Decision::Clear { kind: AlertKind::Fall, .. })
            && !fall_cancel_applies(&mut tx, origin, &subject, event.received_at, settings).await?
        {
            continue;
        }
        streaming::stamp_receipt(&mut decision, event.received_at);
        applied.extend(super::apply_in(&mut tx, &subject, &decision, late).await?);
    }
    tx.commit().await?;
    Ok(applied)
}

/// A cancel resolves the open fall only when it comes from a device trusted
/// to speak for that fall, and within the cancel window measured between the
/// two receipts by the backend (a device cannot backdate a cancel).
async fn fall_cancel_applies(
    tx: &mut PgConnection,
    origin: &Registered,
    subject: &Subject,
    cancel_received: DateTime<Utc>,
    settings: &RuleSettings,
) -> Result<bool, sqlx::Error> {
    let Some(fall) = super::active(tx, subject, AlertKind::Fall, "").await? else { return Ok(false) };
    let canceller = streaming::Canceller {
        device_id: &origin.info.device_id,
        device_kind: origin.info.kind,
        resident_id: origin.resident_id,
    };
    let open = streaming::OpenFall {
        device_id: fall.device_id.as_deref(),
        resident_id: fall.resident_id,
        opened_at: fall.opened_at,
        details: &fall.details,
    };
    Ok(streaming::cancel_resolves(&open, &canceller, cancel_received, settings))
}

/// Readings of one telemetry chunk judged together, at most: a chunk is one
/// transaction, and events wait for it to end.
const READINGS_CHUNK: usize = 500;

/// A batch in chunks of at most [`READINGS_CHUNK`], in order.
fn chunks(mut batch: Vec<Stored>) -> Vec<Vec<Stored>> {
    let mut out = Vec::new();
    while !batch.is_empty() {
        let rest = batch.split_off(batch.len().min(READINGS_CHUNK));
        out.push(std::mem::replace(&mut batch, rest));
    }
    out
}

/// A stored reading with a threshold to judge it against.
struct VitalReading {
    origin: Arc<Registered>,
    resident: Uuid,
    metric: Metric,
    ts: DateTime<Utc>,
    value: f64,
    threshold: Threshold,
    settings: Arc<RuleSettings>,
    late: bool,
}

/// Feeds `readings` (in receipt order) to the residents' vital monitors held
/// in `vital_state`. Most readings change nothing: an in-range reading of a
/// resident whose vitals are normal leaves her monitor as it was. Those are
/// judged against the stored monitors read without a lock, and nothing is
/// written for them. The monitors a reading changes (an episode opens, goes
/// on or ends, an alert is raised or cleared), and those not stored yet, are
/// judged again over their rows locked, and stored back with the decisions
/// applied, in one transaction. Judging the unchanged ones without the lock
/// is the same as judging them just before whatever another process
/// committed meanwhile: against a normal monitor they change nothing.
async fn judge_readings(pool: &PgPool, readings: &[VitalReading]) -> Result<Vec<Applied>, sqlx::Error> {
    let changing = changing_monitors(pool, readings).await?;
    if changing.is_empty() {
        return Ok(Vec::new());
    }
    let changing: Vec<&VitalReading> =
        readings.iter().filter(|r| changing.contains(&(r.resident, r.metric.as_str()))).collect();
    judge_locked(pool, &changing).await
}

/// The (resident, metric) pairs whose stored monitor `readings` would
/// change, or which have none stored yet.
async fn changing_monitors(
    pool: &PgPool,
    readings: &[VitalReading],
) -> Result<HashSet<(Uuid, &'static str)>, sqlx::Error> {
    let (residents, metrics) = monitor_keys(readings.iter());
    let mut monitors: HashMap<(Uuid, &'static str), (VitalMonitor, VitalMonitor)> = HashMap::new();
    for (resident, metric, state) in inbox::vital_states(pool, &residents, &metrics).await? {
        let (Some(metric), Some(monitor)) =
            (Metric::parse(&metric), state.and_then(|s| serde_json::from_value::<VitalMonitor>(s).ok()))
        else {
            continue;
        };
        monitors.insert((resident, metric.as_str()), (monitor.clone(), monitor));
    }
    let mut changing = HashSet::new();
    for r in readings {
        let key = (r.resident, r.metric.as_str());
        let Some((_, monitor)) = monitors.get_mut(&key) else {
            changing.insert(key);
            continue;
        };
        if monitor.observe(r.metric, r.ts, r.value, &r.threshold, &r.settings.vitals, r.late).is_some() {
            changing.insert(key);
        }
    }
    for (key, (before, after)) in &monitors {
        if !after.same_phases(before) {
            changing.insert(*key);
        }
    }
    Ok(changing)
}

/// The distinct (resident, metric) pairs of `readings`, sorted, as two
/// columns.
fn monitor_keys<'a>(readings: impl Iterator<Item = &'a VitalReading>) -> (Vec<Uuid>, Vec<&'static str>) {
    let mut keys: Vec<(Uuid, &'static str)> = readings.map(|r| (r.resident, r.metric.as_str())).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter().unzip()
}

/// Feeds `readings` to their monitors in one transaction holding the
/// monitors' rows, applies the decisions and stores the monitors back.
async fn judge_locked(pool: &PgPool, readings: &[&VitalReading]) -> Result<Vec<Applied>, sqlx::Error> {
    let (residents, metrics) = monitor_keys(readings.iter().copied());
    let mut tx = pool.begin().await?;
    let rows = inbox::lock_vital_states(&mut tx, &residents, &metrics).await?;
    let mut monitors: HashMap<(Uuid, Metric), VitalMonitor> = HashMap::new();
    for (resident, metric, state) in rows {
        let Some(first) = readings.iter().find(|r| r.resident == resident && r.metric.as_str() == metric) else {
            continue;
        };
        let kept = state.and_then(|s| match serde_json::from_value::<VitalMonitor>(s) {
            Ok(monitor) => Some(monitor),
            Err(err) => {
                tracing::warn!(cause = %err, %resident, metric, "unreadable vital state; starting afresh");
                None
            }
        });
        let monitor = match kept {
            Some(monitor) => monitor,
            None => resume_monitor(&mut tx, &Subject::of(&first.origin), first.metric).await?,
        };
        monitors.insert((resident, first.metric), monitor);
    }
    let mut applied = Vec::new();
    for r in readings {
        let Some(monitor) = monitors.get_mut(&(r.resident, r.metric)) else { continue };
        if let Some(decision) = monitor.observe(r.metric, r.ts, r.value, &r.threshold, &r.settings.vitals, r.late) {
            applied.extend(super::apply_in(&mut tx, &Subject::of(&r.origin), &decision, r.late).await?);
        }
    }
    let (mut residents, mut metrics, mut states) = (Vec::new(), Vec::new(), Vec::new());
    for ((resident, metric), monitor) in &monitors {
        residents.push(*resident);
        metrics.push(metric.as_str());
        states.push(serde_json::to_value(monitor).unwrap_or(Value::Null));
    }
    inbox::save_vital_states(&mut tx, &residents, &metrics, &states).await?;
    tx.commit().await?;
    Ok(applied)
}

/// A fresh vital-sign monitor for a resident's metric, put back in the
/// raised state when the store still has that alert open (an alert raised
/// before the state was kept, or whose state was lost), so that readings back
/// in range clear it instead of leaving it open forever.
async fn resume_monitor(
    conn: &mut PgConnection,
    subject: &Subject,
    metric: Metric,
) -> Result<VitalMonitor, sqlx::Error> {
    let mut monitor = VitalMonitor::new();
    if let Some(open) = super::active(conn, subject, AlertKind::VitalAbnormal, metric.as_str()).await? {
        monitor.resume_raised(metric, open.condition_at, open.severity);
    }
    Ok(monitor)
}
