//! The lane loop: collects a batch, stores it, and holds and retries what
//! the database does not take yet.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Item;
use super::batch::{Batch, gather};
use super::commit::{DeviceWrites, Outcome};
use super::failure::{Failure, MAJORITY_MIN_MESSAGES, RefusalKey, Refused, Streak, classify};
use crate::alerts::engine::Stored;
use crate::ingest::acks::AckMsg;
use crate::ingest::quarantine::Budget;
use crate::metrics::Metrics;

/// Settings of one lane.
#[derive(Debug, Clone, Copy)]
pub struct LaneSettings {
    pub batch_size: usize,
    pub flush: Duration,
    pub seq_memory_hours: u64,
    pub quarantine_per_device_per_hour: u32,
}

/// One writer lane: collects items until the batch is full or its oldest item
/// has waited `flush`, commits, then tells the acker and the rules. A commit
/// that fails for the database's sake is retried with backoff, holding the
/// batch, so nothing received is lost and the bounded queue pushes back on
/// the MQTT reader meanwhile.
pub struct Lane {
    pub name: &'static str,
    /// Its slot in `Metrics::lane_failing`.
    pub slot: usize,
    pub settings: LaneSettings,
    pub pool: PgPool,
    pub metrics: Arc<Metrics>,
    pub acks: mpsc::UnboundedSender<AckMsg>,
    pub rules: mpsc::Sender<Vec<Stored>>,
    pub shutdown: CancellationToken,
}

/// What a lane carries from one batch to the next.
struct Memory {
    written: DeviceWrites,
    budget: Budget,
    streak: Streak,
}

/// How an attempt at a batch ended.
enum Attempt {
    /// Every message is stored or quarantined.
    Done,
    /// These messages are not; retry them after a pause.
    Held(Box<Batch>, Hold),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Hold {
    /// The database is out of reach, or the conflict was transient.
    Wait,
    /// The database refuses them for a fault of ours (for this reason, when
    /// it is a refusal of their content).
    Ours(Option<RefusalKey>),
}

/// What a round did not store: the refused messages and what was left to do.
fn held(refused: Vec<Refused>, todo: Vec<Batch>) -> Box<Batch> {
    Box::new(gather(refused.into_iter().map(|r| r.part).chain(todo)))
}

impl Lane {
    pub async fn run(self, mut rx: mpsc::Receiver<Item>) {
        let mut batch = Batch::default();
        let mut memory = Memory {
            written: DeviceWrites::default(),
            budget: Budget::new(self.settings.quarantine_per_device_per_hour),
            streak: Streak::default(),
        };
        loop {
            let deadline = batch.oldest().map(|t| t + self.settings.flush);
            let flush_now = tokio::select! {
                biased;
                item = rx.recv() => match item {
                    Some(item) => {
                        // An earlier mark is the dispatcher's, holding this
                        // message while the device registry could not be read.
                        if batch.is_empty() {
                            let _ = self.waiting_since().compare_exchange(
                                0,
                                epoch_ms(),
                                Ordering::Relaxed,
                                Ordering::Relaxed,
                            );
                        }
                        batch.push(item, &mut memory.budget);
                        batch.len() >= self.settings.batch_size
                    }
                    // The dispatcher is gone (shutdown): commit what is left.
                    None => {
                        if !batch.is_empty() {
                            self.store(std::mem::take(&mut batch), &mut memory).await;
                        }
                        return;
                    }
                },
                _ = sleep_until(deadline) => true,
            };
            if flush_now && !batch.is_empty() {
                self.store(std::mem::take(&mut batch), &mut memory).await;
                self.waiting_since().store(0, Ordering::Relaxed);
            }
        }
    }

    fn failing(&self) -> &AtomicBool {
        &self.metrics.lane_failing[self.slot]
    }

    /// Since when the oldest message not yet stored has waited, for the
    /// watchdog.
    fn waiting_since(&self) -> &AtomicU64 {
        &self.metrics.lane_waiting_since_ms[self.slot]
    }

    /// Stores a batch, retrying with backoff what cannot be stored yet.
    /// Returns once every message is stored or quarantined, or at shutdown
    /// when the database cannot be waited for.
    async fn store(&self, batch: Batch, memory: &mut Memory) {
        let mut backoff = Duration::from_millis(100);
        // The alarm lane retries at least every second: an SOS held while
        // the database fails over is stored within a second of its return.
        let most = if self.name == "events" { Duration::from_secs(1) } else { Duration::from_secs(5) };
        let mut todo = batch;
        let mut known = None;
        loop {
            let (held, hold) = match self.attempt(todo, memory, known.as_ref()).await {
                Attempt::Done => {
                    if self.failing().swap(false, Ordering::Relaxed) {
                        tracing::info!(lane = self.name, "the messages the database refused are stored now");
                    }
                    return;
                }
                Attempt::Held(held, hold) => (held, hold),
            };
            if let Hold::Ours(key) = hold {
                self.failing().store(true, Ordering::Relaxed);
                known = key;
            }
            // At shutdown a dead database cannot be waited for forever: the
            // unacknowledged messages stay with the broker.
            if self.shutdown.is_cancelled() && backoff >= most {
                tracing::error!(
                    lane = self.name,
                    messages = held.len(),
                    "giving up at shutdown; the broker will redeliver"
                );
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(most);
            todo = *held;
        }
    }

    /// One round at a batch: whole, or, when the database refuses what a
    /// message holds, in halves, storing every part it takes, until the
    /// messages it refuses on their own are found. `known` is the refusal an
    /// earlier round judged ours: seen again, nothing has changed, and the
    /// round stops at once.
    async fn attempt(&self, batch: Batch, memory: &mut Memory, known: Option<&RefusalKey>) -> Attempt {
        let (name, hours) = (self.name, self.settings.seq_memory_hours);
        let total = batch.len();
        let mut todo = vec![batch];
        let mut refused: Vec<Refused> = Vec::new();
        // A refusal an ordinary message was given too, in this round.
        let mut ours: Option<RefusalKey> = None;
        while let Some(mut part) = todo.pop() {
            let committed =
                crate::store::within(crate::store::ANSWER_WITHIN, part.commit(&self.pool, hours, &memory.written));
            let err = match committed.await {
                Ok(outcome) => {
                    self.stored(part, outcome, memory).await;
                    continue;
                }
                Err(err) => err,
            };
            self.metrics.batch_failures.fetch_add(1, Ordering::Relaxed);
            match classify(&err) {
                Failure::Data(refusal) if part.len() > 1 => {
                    if part.len() == total {
                        tracing::warn!(lane = name, messages = total, cause = %refusal, "batch refused by the database; looking for the messages at fault");
                    }
                    let later = part.split_off(part.len() / 2);
                    todo.push(later);
                    todo.push(part);
                }
                Failure::Data(refusal) => {
                    let key = refusal.key();
                    if known == Some(&key) {
                        todo.push(part);
                        return Attempt::Held(held(refused, todo), Hold::Ours(Some(key)));
                    }
                    let mut is_ours = ours.as_ref() == Some(&key);
                    // An ordinary message of the same shape, refused too,
                    // clears the message: the schema refuses, not its content.
                    if !is_ours
                        && let Err(err) = crate::store::within(
                            crate::store::ANSWER_WITHIN,
                            part.control(Utc::now()).try_write(&self.pool, hours),
                        )
                        .await
                    {
                        match classify(&err) {
                            Failure::Connection | Failure::Transient => {
                                todo.push(part);
                                return Attempt::Held(held(refused, todo), Hold::Wait);
                            }
                            Failure::Data(_) | Failure::Ours => {
                                tracing::error!(
                                    lane = name,
                                    cause = %err,
                                    refused = %refusal,
                                    "the database refuses an ordinary message of the same shape too: a fault of ours (schema, migration), not of the messages; holding them, quarantining none"
                                );
                                ours = Some(key);
                                is_ours = true;
                            }
                        }
                    }
                    refused.push(Refused { part, refusal, ours: is_ours });
                }
                Failure::Connection => {
                    self.metrics.database_connected.store(false, Ordering::Relaxed);
                    tracing::warn!(lane = name, cause = %err, messages = part.len(), "batch commit failed; retrying");
                    todo.push(part);
                    return Attempt::Held(held(refused, todo), Hold::Wait);
                }
                Failure::Transient => {
                    tracing::warn!(lane = name, cause = %err, messages = part.len(), "batch commit conflicted; retrying");
                    todo.push(part);
                    return Attempt::Held(held(refused, todo), Hold::Wait);
                }
                Failure::Ours => {
                    tracing::error!(lane = name, cause = %err, messages = part.len(), "batch commit failed for no fault of a message; holding it");
                    todo.push(part);
                    return Attempt::Held(held(refused, todo), Hold::Ours(None));
                }
            }
        }
        if refused.is_empty() {
            return Attempt::Done;
        }
        self.settle(refused, total, memory).await
    }

    /// After a round, what the database refused on its own: quarantined,
    /// unless the refusal is judged ours, then held.
    async fn settle(&self, refused: Vec<Refused>, total: usize, memory: &mut Memory) -> Attempt {
        let (name, hours) = (self.name, self.settings.seq_memory_hours);
        let first = refused[0].refusal.clone();
        if total >= MAJORITY_MIN_MESSAGES && refused.len() * 2 > total {
            // (A refusal already judged ours was reported as such.)
            if refused.iter().all(|r| !r.ours) {
                tracing::error!(
                lane = name,
                refused = refused.len(),
                messages = total,
                cause = %first,
                "the database refuses most of a batch message by message: a fault of ours, not of the messages; holding them, quarantining none"
                );
            }
            return Attempt::Held(held(refused, Vec::new()), Hold::Ours(Some(first.key())));
        }
        let theirs: Vec<&Refused> = refused.iter().filter(|r| !r.ours).collect();
        if memory.streak.repeats(&theirs) {
            tracing::error!(
                lane = name,
                cause = %theirs[0].refusal,
                "the database keeps refusing messages of several devices for the same reason: a fault of ours, not of the messages; holding them"
            );
            let key = theirs[0].refusal.key();
            return Attempt::Held(held(refused, Vec::new()), Hold::Ours(Some(key)));
        }
        let mut quarantine = Batch::refused(&theirs, &mut memory.budget);
        if !quarantine.is_empty() {
            for r in &theirs {
                for m in &r.part.messages {
                    tracing::warn!(lane = name, topic = %m.topic, cause = %r.refusal, "message refused by the database; quarantined as unstorable");
                }
            }
            match quarantine.commit(&self.pool, hours, &memory.written).await {
                Ok(outcome) => self.stored(quarantine, outcome, memory).await,
                Err(err) => {
                    self.metrics.batch_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(lane = name, cause = %err, "quarantining refused messages failed; retrying");
                    let hold = match classify(&err) {
                        Failure::Connection | Failure::Transient => Hold::Wait,
                        Failure::Data(_) | Failure::Ours => Hold::Ours(None),
                    };
                    return Attempt::Held(held(refused, Vec::new()), hold);
                }
            }
        }
        let ours: Vec<Refused> = refused.into_iter().filter(|r| r.ours).collect();
        match ours.first().map(|r| r.refusal.key()) {
            None => Attempt::Done,
            key => Attempt::Held(held(ours, Vec::new()), Hold::Ours(key)),
        }
    }

    /// A committed part: counted, acknowledged, handed to the rules.
    async fn stored(&self, mut part: Batch, mut outcome: Outcome, memory: &mut Memory) {
        let metrics = &self.metrics;
        metrics.database_connected.store(true, Ordering::Relaxed);
        metrics.batches_committed.fetch_add(1, Ordering::Relaxed);
        metrics.messages_stored.fetch_add(outcome.messages_with_data, Ordering::Relaxed);
        metrics.readings_stored.fetch_add(outcome.readings_inserted, Ordering::Relaxed);
        metrics.events_stored.fetch_add(outcome.events_inserted, Ordering::Relaxed);
        metrics.duplicates_absorbed.fetch_add(outcome.duplicates, Ordering::Relaxed);
        part.count_rejections(metrics);
        if let Some(oldest) = part.oldest() {
            metrics.observe_batch(oldest.elapsed());
            if oldest.elapsed() > Duration::from_millis(500) {
                tracing::warn!(
                    lane = self.name,
                    messages = part.len(),
                    took_ms = oldest.elapsed().as_millis() as u64,
                    "slow batch"
                );
            }
        }
        memory.written.record(std::mem::take(&mut outcome.written));
        let _ = self.acks.send(AckMsg::Committed(part.messages.iter().map(|m| m.index).collect()));
        let stored = part.for_rules(&mut outcome);
        if !stored.is_empty() {
            // Committed data is safe whatever happens here; a full queue
            // slows ingestion rather than dropping rule input.
            let _ = self.rules.send(stored).await;
        }
    }
}

/// Now, in Unix milliseconds, for the metrics other tasks read.
fn epoch_ms() -> u64 {
    Utc::now().timestamp_millis().max(0) as u64
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}
