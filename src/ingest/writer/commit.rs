//! The statements of a batch, in one transaction: the rows go as they are
//! held, column-wise, to the store's statements.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

use super::Item;
use super::batch::{Batch, DeviceUpdate};
use crate::alerts::engine::Stored;
use crate::domain::EventKind;
use crate::ingest::quarantine::Budget;
use crate::rules::streaming::JUDGED_EVENTS;
use crate::store::ingest::{self as store, DeviceStates, InsertedEvent};

impl Batch {
    /// Commits the whole batch or nothing. On error nothing is stored and
    /// the batch can be retried as it is: the one change made to it, giving
    /// messages without a timestamp the stamp of their first delivery, is
    /// redone by the retry from what the database holds then.
    pub(super) async fn commit(
        &mut self,
        pool: &PgPool,
        seq_memory_hours: u64,
        written: &DeviceWrites,
    ) -> Result<Outcome, sqlx::Error> {
        let mut tx = pool.begin().await?;
        let outcome = self.write(&mut tx, seq_memory_hours, written).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Writes the batch and rolls it back: whether the database takes it.
    pub(super) async fn try_write(&mut self, pool: &PgPool, seq_memory_hours: u64) -> Result<(), sqlx::Error> {
        let mut tx = pool.begin().await?;
        self.write(&mut tx, seq_memory_hours, &DeviceWrites::default()).await?;
        tx.rollback().await
    }

    async fn write(
        &mut self,
        tx: &mut PgConnection,
        seq_memory_hours: u64,
        written: &DeviceWrites,
    ) -> Result<Outcome, sqlx::Error> {
        if !self.seq_stamps.is_empty() {
            self.apply_seq_stamps(tx, seq_memory_hours).await?;
        }
        let r = &self.readings;
        let readings = if r.is_empty() {
            0
        } else {
            let rows = store::Readings {
                ts: &r.ts,
                device: &r.device,
                resident: &r.resident,
                metric: &r.metric,
                value: &r.value,
                seq: &r.seq,
            };
            store::insert_readings(tx, rows).await?
        };
        // History is judged by no live rule, only by the backtest.
        let judged: &[EventKind] = if self.history { &[] } else { JUDGED_EVENTS };
        let vital_inbox: Option<i64> = if self.history || self.vitals.is_empty() {
            None
        } else {
            let (mut devices, mut metrics, mut ts, mut values, mut received) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for v in &self.vitals {
                if let Stored::Reading { origin, metric, ts: at, value, received_at } = v {
                    devices.push(origin.info.device_id.as_str());
                    metrics.push(metric.as_str());
                    ts.push(*at);
                    values.push(*value);
                    received.push(*received_at);
                }
            }
            let rows =
                store::Vitals { device: &devices, metric: &metrics, ts: &ts, value: &values, received: &received };
            Some(store::insert_vitals(tx, rows).await?)
        };
        let e = &self.events;
        let inserted_events: Vec<InsertedEvent> = if e.is_empty() {
            Vec::new()
        } else {
            let rows = store::Events {
                ts: &e.ts,
                device: &e.device,
                resident: &e.resident,
                kind: &e.kind,
                data: &e.data,
                seq: &e.seq,
                received: &e.received,
            };
            store::insert_events(tx, rows, judged).await?
        };
        let events = inserted_events.len() as u64;
        let q = &self.quarantine;
        if !q.is_empty() {
            let rows = store::Quarantined {
                received: &q.received,
                topic: &q.topic,
                reason: &q.reason,
                detail: &q.detail,
                device: &q.device,
                institution: &q.institution,
                payload: &q.payload,
            };
            store::insert_quarantined(tx, rows).await?;
        }
        let o = &self.overflow;
        if !o.is_empty() {
            let rows = store::Overflow {
                hour: &o.hour,
                device: &o.device,
                prefix: &o.prefix,
                reason: &o.reason,
                institution: &o.institution,
            };
            store::count_overflow(tx, rows).await?;
        }
        let devices = if self.history { HashMap::new() } else { self.devices() };
        let mut statuses = Vec::new();
        let mut to_write = Vec::new();
        for (id, update) in &devices {
            if let (Some(origin), Some(at)) = (update.origin, update.online_at) {
                statuses.push(Stored::Status {
                    origin: origin.clone(),
                    online: update.online,
                    battery: update.battery,
                    at,
                });
            }
            if !written.is_quiet(id, update) {
                to_write.push((*id, update));
            }
        }
        if !to_write.is_empty() {
            update_devices(tx, &mut to_write).await?;
        }
        Ok(Outcome {
            readings_inserted: readings,
            events_inserted: events,
            duplicates: (r.len() + e.len()) as u64 - readings - events,
            messages_with_data: self.messages.iter().filter(|m| m.note.is_some()).count() as u64,
            inserted_events,
            vital_inbox,
            statuses,
            written: to_write.iter().map(|(id, update)| ((*id).to_owned(), update.online)).collect(),
        })
    }

    /// Gives each (device, seq) the stamp of its first delivery.
    async fn apply_seq_stamps(&mut self, tx: &mut PgConnection, seq_memory_hours: u64) -> Result<(), sqlx::Error> {
        let mut devices = Vec::new();
        let mut seqs = Vec::new();
        let mut stamps = Vec::new();
        let mut seen = HashSet::new();
        for s in &self.seq_stamps {
            if seen.insert((s.device_id.as_str(), s.seq)) {
                devices.push(s.device_id.clone());
                seqs.push(s.seq);
                stamps.push(s.ts);
            }
        }
        let rows = store::first_stamps(tx, &devices, &seqs, &stamps, seq_memory_hours).await?;
        let first: HashMap<(String, i64), DateTime<Utc>> = rows.into_iter().map(|(d, s, ts)| ((d, s), ts)).collect();
        for s in &self.seq_stamps {
            if let Some(ts) = first.get(&(s.device_id.clone(), s.seq)) {
                for &i in &s.readings {
                    self.readings.ts[i] = *ts;
                }
                for &i in &s.events {
                    self.events.ts[i] = *ts;
                }
            }
        }
        Ok(())
    }
}

async fn update_devices(tx: &mut PgConnection, devices: &mut [(&str, &DeviceUpdate<'_>)]) -> Result<(), sqlx::Error> {
    // Sorted, so that two lanes updating the same devices lock rows in the
    // same order and never deadlock.
    devices.sort_by_key(|(id, _)| *id);
    let mut rows = DeviceStates::default();
    for (id, u) in devices.iter() {
        rows.device.push(*id);
        rows.last_seen.push(u.last_seen_at);
        rows.online.push(u.online);
        rows.online_at.push(u.online_at);
        rows.battery.push(u.battery);
        rows.rssi.push(u.rssi);
        rows.firmware.push(u.firmware);
        rows.zigbee_state.push(u.zigbee_state.map(Json));
    }
    store::update_device_states(tx, rows).await
}

#[derive(Debug)]
pub(super) struct Outcome {
    pub(super) readings_inserted: u64,
    pub(super) events_inserted: u64,
    pub(super) duplicates: u64,
    /// Messages whose data (not only rejects) was committed.
    pub(super) messages_with_data: u64,
    /// The events that were new.
    pub(super) inserted_events: Vec<InsertedEvent>,
    /// The vital inbox row of the batch's vital readings.
    pub(super) vital_inbox: Option<i64>,
    /// Each device's health, for the rules.
    pub(super) statuses: Vec<Stored>,
    /// The device state rows written, with the online flag they got.
    pub(super) written: Vec<(String, Option<bool>)>,
}

/// How often a device's unchanged state (only its last-seen time) is
/// written: a device sending every few milliseconds must not rewrite its row
/// in every batch.
const LAST_SEEN_EVERY: Duration = Duration::from_secs(5);

/// What each device's state row last got from this lane.
#[derive(Debug, Default)]
pub(super) struct DeviceWrites(HashMap<String, (Instant, Option<bool>)>);

impl DeviceWrites {
    /// Whether the update would only move `last_seen_at` forward by less than
    /// [`LAST_SEEN_EVERY`]: then the row is not written (the rules still see
    /// the update).
    fn is_quiet(&self, id: &str, u: &DeviceUpdate<'_>) -> bool {
        u.battery.is_none()
            && u.rssi.is_none()
            && u.firmware.is_none()
            && u.zigbee_state.is_none()
            && self.0.get(id).is_some_and(|(at, online)| *online == u.online && at.elapsed() < LAST_SEEN_EVERY)
    }

    pub(super) fn record(&mut self, written: Vec<(String, Option<bool>)>) {
        let now = Instant::now();
        for (id, online) in written {
            self.0.insert(id, (now, online));
        }
    }
}

/// Stores history recorded elsewhere (an imported log), already decoded,
/// in one transaction: the same rows and dedup keys as live data, so a
/// re-run adds nothing, but no live rule judges it and its devices' state is
/// left alone. Rejections are the caller's to count; none is quarantined.
/// Returns the events and readings that were new.
pub async fn store_history(pool: &PgPool, items: Vec<Item>) -> Result<(u64, u64), sqlx::Error> {
    let mut batch = Batch { history: true, ..Batch::default() };
    let mut budget = Budget::new(0);
    for mut item in items {
        item.decoded.rejections.clear();
        batch.push(item, &mut budget);
    }
    let outcome = batch.commit(pool, 0, &DeviceWrites::default()).await?;
    Ok((outcome.events_inserted, outcome.readings_inserted))
}
