//! Batches decoded messages and commits each batch in one transaction: one
//! statement per table, idempotent on the device contract's dedup keys.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, SubsecRound, Utc};
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::acks::AckMsg;
use super::decode::{Decoded, MAX_PAYLOAD, ZigbeeState};
use super::registry::Registered;
use crate::metrics::Metrics;
use crate::rules::engine::Stored;
use crate::rules::streaming::JUDGED_EVENTS;
use crate::rules::vitals::is_vital;

/// One received MQTT message after decoding.
#[derive(Debug)]
pub struct Item {
    /// Receipt order, for acknowledging in order.
    pub index: u64,
    pub topic: String,
    /// Kept only to be quarantined; empty when the message is clean.
    pub payload: Bytes,
    pub received_at: DateTime<Utc>,
    pub received: Instant,
    pub decoded: Decoded,
    pub device: Option<Arc<Registered>>,
    /// The device's Zigbee2MQTT state after this message, to persist.
    pub zigbee_state: Option<ZigbeeState>,
}

/// What a device said about itself in a batch, folded in receipt order.
#[derive(Debug, Default)]
struct DeviceUpdate {
    last_seen_at: Option<DateTime<Utc>>,
    online: Option<bool>,
    /// When the message that set `online` happened (its own ts, or its
    /// receipt when it has none). Events and telemetry arrive over separate
    /// sessions, so receipt order says nothing about which came first; this
    /// keeps older buffered data from undoing a newer Last Will.
    online_at: Option<DateTime<Utc>>,
    battery: Option<f64>,
    rssi: Option<i32>,
    firmware: Option<String>,
    zigbee_state: Option<ZigbeeState>,
    origin: Option<Arc<Registered>>,
}

/// A message stamped with its time of receipt because it had a `seq` but no
/// `ts`: the rows it produced, so a redelivery can be given the first stamp.
#[derive(Debug)]
struct SeqStamp {
    device_id: String,
    seq: i64,
    ts: DateTime<Utc>,
    readings: Vec<usize>,
    events: Vec<usize>,
}

/// What identifies a stored event: device, kind, ts, seq.
pub type EventKey = (String, String, DateTime<Utc>, Option<i64>);

/// An event the batch stored (not a redelivery), with its rule inbox row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InsertedEvent {
    pub device_id: String,
    pub kind: String,
    pub ts: DateTime<Utc>,
    pub seq: Option<i64>,
    pub inbox: Option<i64>,
}

/// Column-wise rows of one batch, ready to bind as arrays.
#[derive(Debug, Default)]
pub struct Batch {
    indices: Vec<u64>,
    oldest: Option<Instant>,
    messages_with_data: u64,
    r_ts: Vec<DateTime<Utc>>,
    r_device: Vec<String>,
    r_resident: Vec<Option<Uuid>>,
    r_metric: Vec<&'static str>,
    r_value: Vec<f64>,
    r_seq: Vec<Option<i64>>,
    e_ts: Vec<DateTime<Utc>>,
    e_device: Vec<String>,
    e_resident: Vec<Option<Uuid>>,
    e_kind: Vec<String>,
    e_data: Vec<serde_json::Value>,
    e_seq: Vec<Option<i64>>,
    e_origin: Vec<Option<Arc<Registered>>>,
    e_received: Vec<DateTime<Utc>>,
    /// Vital readings, for the rules once committed.
    vitals: Vec<Stored>,
    q_received: Vec<DateTime<Utc>>,
    q_topic: Vec<String>,
    q_reason: Vec<&'static str>,
    q_detail: Vec<String>,
    q_device: Vec<Option<String>>,
    q_institution: Vec<Option<Uuid>>,
    q_payload: Vec<Vec<u8>>,
    devices: HashMap<String, DeviceUpdate>,
    seq_stamps: Vec<SeqStamp>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    pub fn oldest(&self) -> Option<Instant> {
        self.oldest
    }

    pub fn push(&mut self, item: Item) {
        self.indices.push(item.index);
        self.oldest.get_or_insert(item.received);
        let mut d = item.decoded;
        let resident = item.device.as_ref().and_then(|r| r.resident_id);
        if let (Some(device_id), true) =
            (&d.device_id, !d.readings.is_empty() || !d.events.is_empty() || d.status.is_some())
        {
            self.messages_with_data += 1;
            let mut stamp =
                match (d.ts_was_missing, d.readings.iter().find_map(|r| r.seq).or(d.events.iter().find_map(|e| e.seq)))
                {
                    (true, Some(seq)) => Some(SeqStamp {
                        device_id: device_id.clone(),
                        seq,
                        ts: item.received_at,
                        readings: vec![],
                        events: vec![],
                    }),
                    _ => None,
                };
            let happened = d
                .readings
                .iter()
                .map(|r| r.ts)
                .chain(d.events.iter().map(|e| e.ts))
                .chain(d.status.as_ref().map(|st| st.ts))
                .max()
                .unwrap_or(item.received_at);
            for r in &mut d.readings {
                // PostgreSQL keeps microseconds: compare and dedup at that
                // precision, or a stored row would not match its message.
                r.ts = r.ts.trunc_subsecs(6);
                if let Some(s) = stamp.as_mut() {
                    s.readings.push(self.r_ts.len());
                }
                self.r_ts.push(r.ts);
                self.r_device.push(device_id.clone());
                self.r_resident.push(resident);
                self.r_metric.push(r.metric.as_str());
                self.r_value.push(r.value);
                self.r_seq.push(r.seq);
                if let Some(origin) = item.device.as_ref().filter(|d| d.resident_id.is_some() && is_vital(r.metric)) {
                    self.vitals.push(Stored::Reading {
                        origin: origin.clone(),
                        metric: r.metric,
                        ts: r.ts,
                        value: r.value,
                        received_at: item.received_at,
                    });
                }
            }
            for mut e in d.events {
                e.ts = e.ts.trunc_subsecs(6);
                if let Some(s) = stamp.as_mut() {
                    s.events.push(self.e_ts.len());
                }
                self.e_ts.push(e.ts);
                self.e_device.push(device_id.clone());
                self.e_resident.push(resident);
                self.e_kind.push(e.kind);
                self.e_data.push(e.data);
                self.e_seq.push(e.seq);
                self.e_origin.push(item.device.clone());
                self.e_received.push(item.received_at);
            }
            self.seq_stamps.extend(stamp);
            let update = self.devices.entry(device_id.clone()).or_default();
            update.origin = item.device.clone();
            // Any message is a sign of life, counted when it arrives: a
            // buffered upload of old readings still shows the device is up.
            update.last_seen_at = Some(item.received_at);
            if update.online_at.is_none_or(|at| happened >= at) {
                update.online = Some(d.status.as_ref().and_then(|st| st.online).unwrap_or(true));
                update.online_at = Some(happened);
            }
            if let Some(status) = d.status {
                update.battery = status.battery.or(update.battery);
                update.rssi = status.rssi.and_then(|v| i32::try_from(v).ok()).or(update.rssi);
                update.firmware = status.firmware.or(update.firmware.take());
            }
            if let Some(b) = d.readings.iter().rev().find(|r| r.metric == super::catalog::Metric::Battery) {
                update.battery = Some(b.value);
            }
            if item.zigbee_state.is_some() {
                update.zigbee_state = item.zigbee_state;
            }
        }
        for rejection in d.rejections {
            self.q_received.push(item.received_at);
            self.q_topic.push(item.topic.clone());
            self.q_reason.push(rejection.reason.as_str());
            self.q_detail.push(rejection.detail);
            self.q_device.push(rejection.device_id.or_else(|| d.device_id.clone()));
            self.q_institution.push(item.device.as_ref().map(|r| r.institution_id));
            self.q_payload.push(item.payload[..item.payload.len().min(MAX_PAYLOAD)].to_vec());
        }
    }

    /// Commits the whole batch or nothing. On error the batch is unchanged and
    /// can be retried.
    pub async fn commit(&mut self, pool: &PgPool, seq_memory_hours: u64) -> Result<Outcome, sqlx::Error> {
        let mut tx = pool.begin().await?;
        if !self.seq_stamps.is_empty() {
            self.apply_seq_stamps(&mut tx, seq_memory_hours).await?;
        }
        let readings = if self.r_ts.is_empty() {
            0
        } else {
            sqlx::query(
                "insert into readings (ts, device_id, resident_id, metric, value, seq)
                 select * from unnest($1::timestamptz[], $2::text[], $3::uuid[], $4::text[], $5::float8[], $6::int8[])
                 on conflict do nothing",
            )
            .bind(&self.r_ts)
            .bind(&self.r_device)
            .bind(&self.r_resident)
            .bind(&self.r_metric)
            .bind(&self.r_value)
            .bind(&self.r_seq)
            .execute(&mut *tx)
            .await?
            .rows_affected()
        };
        // New events come back with their rule inbox row when the rules
        // judge them: written in this transaction, so a stored alarm is
        // judged even if the process dies before the engine sees it.
        let inserted_events: Vec<InsertedEvent> = if self.e_ts.is_empty() {
            Vec::new()
        } else {
            sqlx::query_as(
                "with new as (
                     insert into events (ts, device_id, resident_id, kind, data, seq, received_at)
                     select * from unnest($1::timestamptz[], $2::text[], $3::uuid[], $4::text[], $5::jsonb[],
                                          $6::int8[], $7::timestamptz[])
                     on conflict do nothing
                     returning device_id, kind, ts, seq, data, received_at
                 ), inbox as (
                     insert into rule_inbox (device_id, kind, ts, seq, data, received_at)
                     select device_id, kind, ts, seq, data, received_at from new where kind = any($8)
                     returning id, device_id, kind, ts, seq
                 )
                 select n.device_id, n.kind, n.ts, n.seq, i.id as inbox
                 from new n left join inbox i on i.device_id = n.device_id and i.kind = n.kind and i.ts = n.ts
                      and i.seq is not distinct from n.seq",
            )
            .bind(&self.e_ts)
            .bind(&self.e_device)
            .bind(&self.e_resident)
            .bind(&self.e_kind)
            .bind(&self.e_data)
            .bind(&self.e_seq)
            .bind(&self.e_received)
            .bind(JUDGED_EVENTS)
            .fetch_all(&mut *tx)
            .await?
        };
        let events = inserted_events.len() as u64;
        if !self.q_topic.is_empty() {
            sqlx::query(
                "insert into quarantine (received_at, topic, reason, detail, device_id, institution_id, payload)
                 select * from unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::uuid[], $7::bytea[])",
            )
            .bind(&self.q_received)
            .bind(&self.q_topic)
            .bind(&self.q_reason)
            .bind(&self.q_detail)
            .bind(&self.q_device)
            .bind(&self.q_institution)
            .bind(&self.q_payload)
            .execute(&mut *tx)
            .await?;
        }
        if !self.devices.is_empty() {
            self.update_devices(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(Outcome {
            readings_inserted: readings,
            events_inserted: events,
            duplicates: (self.r_ts.len() + self.e_ts.len()) as u64 - readings - events,
            inserted_events,
        })
    }

    /// What the rules must see of a committed batch: the events that were
    /// new (a redelivered fall must not count twice), vital readings, and each
    /// device's health.
    fn for_rules(&mut self, inserted_events: Vec<InsertedEvent>) -> Vec<Stored> {
        let mut new: HashMap<EventKey, Option<i64>> =
            inserted_events.into_iter().map(|e| ((e.device_id, e.kind, e.ts, e.seq), e.inbox)).collect();
        let mut out = std::mem::take(&mut self.vitals);
        for i in 0..self.e_ts.len() {
            let Some(origin) = &self.e_origin[i] else { continue };
            if let Some(inbox) =
                new.remove(&(self.e_device[i].clone(), self.e_kind[i].clone(), self.e_ts[i], self.e_seq[i]))
            {
                out.push(Stored::Event {
                    origin: origin.clone(),
                    kind: self.e_kind[i].clone(),
                    ts: self.e_ts[i],
                    data: self.e_data[i].clone(),
                    received_at: self.e_received[i],
                    inbox,
                });
            }
        }
        for update in self.devices.values() {
            if let (Some(origin), Some(at)) = (&update.origin, update.online_at) {
                out.push(Stored::Status { origin: origin.clone(), online: update.online, battery: update.battery, at });
            }
        }
        out
    }

    /// Gives each (device, seq) the stamp of its first delivery.
    async fn apply_seq_stamps(
        &mut self,
        tx: &mut sqlx::PgConnection,
        seq_memory_hours: u64,
    ) -> Result<(), sqlx::Error> {
        let mut devices = Vec::new();
        let mut seqs = Vec::new();
        let mut stamps = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for s in &self.seq_stamps {
            if seen.insert((s.device_id.as_str(), s.seq)) {
                devices.push(s.device_id.clone());
                seqs.push(s.seq);
                stamps.push(s.ts);
            }
        }
        // A remembered stamp older than the memory window belongs to an
        // earlier life of the device's counter: take the new one.
        let rows: Vec<(String, i64, DateTime<Utc>)> = sqlx::query_as(
            "insert into ingest_seq (device_id, seq, ts)
             select * from unnest($1::text[], $2::int8[], $3::timestamptz[])
             on conflict (device_id, seq) do update
               set ts = case when ingest_seq.received_at < now() - make_interval(hours => $4)
                             then excluded.ts else ingest_seq.ts end,
                   received_at = case when ingest_seq.received_at < now() - make_interval(hours => $4)
                             then now() else ingest_seq.received_at end
             returning device_id, seq, ts",
        )
        .bind(&devices)
        .bind(&seqs)
        .bind(&stamps)
        .bind(seq_memory_hours as i32)
        .fetch_all(&mut *tx)
        .await?;
        let first: HashMap<(String, i64), DateTime<Utc>> = rows.into_iter().map(|(d, s, ts)| ((d, s), ts)).collect();
        for s in &self.seq_stamps {
            if let Some(ts) = first.get(&(s.device_id.clone(), s.seq)) {
                for &i in &s.readings {
                    self.r_ts[i] = *ts;
                }
                for &i in &s.events {
                    self.e_ts[i] = *ts;
                }
            }
        }
        Ok(())
    }

    async fn update_devices(&self, tx: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
        // Sorted, so that two lanes updating the same devices lock rows in the
        // same order and never deadlock.
        let mut ids: Vec<&String> = self.devices.keys().collect();
        ids.sort();
        let mut last_seen = Vec::with_capacity(ids.len());
        let mut online = Vec::with_capacity(ids.len());
        let mut online_at = Vec::with_capacity(ids.len());
        let mut battery = Vec::with_capacity(ids.len());
        let mut rssi = Vec::with_capacity(ids.len());
        let mut firmware = Vec::with_capacity(ids.len());
        let mut zigbee = Vec::with_capacity(ids.len());
        for id in &ids {
            let u = &self.devices[*id];
            last_seen.push(u.last_seen_at);
            online.push(u.online);
            online_at.push(u.online_at);
            battery.push(u.battery);
            rssi.push(u.rssi);
            firmware.push(u.firmware.clone());
            zigbee.push(u.zigbee_state.as_ref().map(sqlx::types::Json));
        }
        // Devices unregistered since decoding are skipped by the join rather
        // than failing the batch on the foreign key.
        sqlx::query(
            "insert into device_state as s (device_id, last_seen_at, online, online_at, battery, rssi, firmware, zigbee_state, updated_at)
             select u.device_id, u.last_seen_at, u.online, u.online_at, u.battery, u.rssi, u.firmware, u.zigbee_state, now()
             from unnest($1::text[], $2::timestamptz[], $3::bool[], $4::timestamptz[], $5::float8[], $6::int4[],
                         $7::text[], $8::jsonb[])
                  as u (device_id, last_seen_at, online, online_at, battery, rssi, firmware, zigbee_state)
             join devices d on d.device_id = u.device_id
             order by u.device_id
             on conflict (device_id) do update set
               last_seen_at = greatest(s.last_seen_at, excluded.last_seen_at),
               online = case when s.online_at is null or excluded.online_at >= s.online_at
                             then coalesce(excluded.online, s.online) else s.online end,
               online_at = greatest(s.online_at, excluded.online_at),
               battery = coalesce(excluded.battery, s.battery),
               rssi = coalesce(excluded.rssi, s.rssi),
               firmware = coalesce(excluded.firmware, s.firmware),
               zigbee_state = coalesce(excluded.zigbee_state, s.zigbee_state),
               updated_at = now()",
        )
        .bind(ids)
        .bind(last_seen)
        .bind(online)
        .bind(online_at)
        .bind(battery)
        .bind(rssi)
        .bind(firmware)
        .bind(zigbee)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    fn count_rejections(&self, metrics: &Metrics) {
        for reason in &self.q_reason {
            metrics.rejected(reason);
        }
    }
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub readings_inserted: u64,
    pub events_inserted: u64,
    pub duplicates: u64,
    /// The events that were new.
    pub inserted_events: Vec<InsertedEvent>,
}

/// How often a device's unchanged state (only its last-seen time) is
/// written: a device sending every few milliseconds must not rewrite its row
/// in every batch.
const LAST_SEEN_EVERY: Duration = Duration::from_secs(5);

/// What each device's state row last got from this lane.
#[derive(Default)]
struct DeviceWrites(HashMap<String, (Instant, Option<bool>)>);

impl DeviceWrites {
    /// Takes out of the batch the device updates that would only move
    /// `last_seen_at` forward by less than [`LAST_SEEN_EVERY`]; returns them
    /// so the rules still see them.
    fn skip_unchanged(&self, batch: &mut Batch) -> Vec<(String, DeviceUpdate)> {
        let quiet: Vec<String> = batch
            .devices
            .iter()
            .filter(|(id, u)| {
                u.battery.is_none()
                    && u.rssi.is_none()
                    && u.firmware.is_none()
                    && u.zigbee_state.is_none()
                    && self.0.get(*id).is_some_and(|(at, online)| *online == u.online && at.elapsed() < LAST_SEEN_EVERY)
            })
            .map(|(id, _)| id.clone())
            .collect();
        quiet.into_iter().filter_map(|id| batch.devices.remove_entry(&id)).collect()
    }

    fn record(&mut self, batch: &Batch) {
        let now = Instant::now();
        for (id, u) in &batch.devices {
            self.0.insert(id.clone(), (now, u.online));
        }
    }
}

/// Settings of one lane.
#[derive(Debug, Clone, Copy)]
pub struct LaneSettings {
    pub batch_size: usize,
    pub flush: Duration,
    pub seq_memory_hours: u64,
}

/// One writer lane: collects items until the batch is full or its oldest item
/// has waited `flush`, commits, then tells the acker and the rules. A failed
/// commit is retried with backoff, holding the batch, so nothing received is
/// lost and the bounded queue pushes back on the MQTT reader meanwhile.
pub struct Lane {
    pub name: &'static str,
    /// Its slot in the per-lane metrics (0 events, 1 telemetry).
    pub slot: usize,
    pub settings: LaneSettings,
    pub pool: PgPool,
    pub metrics: Arc<Metrics>,
    pub acks: mpsc::UnboundedSender<AckMsg>,
    pub rules: mpsc::Sender<Vec<Stored>>,
    pub shutdown: CancellationToken,
}

impl Lane {
    pub async fn run(self, mut rx: mpsc::Receiver<Item>) {
        let mut batch = Batch::default();
        let mut written = DeviceWrites::default();
        loop {
            let deadline = batch.oldest().map(|t| t + self.settings.flush);
            let flush_now = tokio::select! {
                biased;
                item = rx.recv() => match item {
                    Some(item) => {
                        if batch.is_empty() {
                            self.metrics.lane_waiting_since_ms[self.slot].store(epoch_ms(), Ordering::Relaxed);
                        }
                        batch.push(item);
                        batch.len() >= self.settings.batch_size
                    }
                    // The dispatcher is gone (shutdown): commit what is left.
                    None => {
                        if !batch.is_empty() {
                            self.commit_with_retry(&mut batch, &mut written).await;
                        }
                        return;
                    }
                },
                _ = sleep_until(deadline) => true,
            };
            if flush_now && !batch.is_empty() {
                self.commit_with_retry(&mut batch, &mut written).await;
            }
        }
    }

    async fn commit_with_retry(&self, batch: &mut Batch, written: &mut DeviceWrites) {
        let (name, metrics) = (self.name, &self.metrics);
        let skipped = written.skip_unchanged(batch);
        let mut backoff = Duration::from_millis(100);
        loop {
            match batch.commit(&self.pool, self.settings.seq_memory_hours).await {
                Ok(outcome) => {
                    metrics.database_connected.store(true, Ordering::Relaxed);
                    metrics.batches_committed.fetch_add(1, Ordering::Relaxed);
                    metrics.messages_stored.fetch_add(batch.messages_with_data, Ordering::Relaxed);
                    metrics.readings_stored.fetch_add(outcome.readings_inserted, Ordering::Relaxed);
                    metrics.events_stored.fetch_add(outcome.events_inserted, Ordering::Relaxed);
                    metrics.duplicates_absorbed.fetch_add(outcome.duplicates, Ordering::Relaxed);
                    batch.count_rejections(metrics);
                    if let Some(oldest) = batch.oldest() {
                        metrics.observe_batch(oldest.elapsed());
                        if oldest.elapsed() > Duration::from_millis(500) {
                            tracing::warn!(
                                lane = name,
                                messages = batch.len(),
                                took_ms = oldest.elapsed().as_millis() as u64,
                                "slow batch"
                            );
                        }
                    }
                    written.record(batch);
                    self.metrics.lane_waiting_since_ms[self.slot].store(0, Ordering::Relaxed);
                    batch.devices.extend(skipped);
                    let mut done = std::mem::take(batch);
                    let _ = self.acks.send(AckMsg::Committed(std::mem::take(&mut done.indices)));
                    let stored = done.for_rules(outcome.inserted_events);
                    if !stored.is_empty() {
                        // Committed data is safe whatever happens here; a full
                        // queue slows ingestion rather than dropping rule input.
                        let _ = self.rules.send(stored).await;
                    }
                    return;
                }
                Err(err) => {
                    metrics.batch_failures.fetch_add(1, Ordering::Relaxed);
                    metrics.database_connected.store(false, Ordering::Relaxed);
                    tracing::warn!(lane = name, cause = %err, messages = batch.len(), retry_in = ?backoff, "batch commit failed; retrying");
                    // At shutdown a dead database cannot be waited for forever:
                    // the unacknowledged messages stay with the broker.
                    if self.shutdown.is_cancelled() && backoff >= Duration::from_secs(5) {
                        tracing::error!(
                            lane = name,
                            messages = batch.len(),
                            "giving up at shutdown; the broker will redeliver"
                        );
                        return;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

/// Now, in Unix milliseconds, for the metrics other tasks read.
pub fn epoch_ms() -> u64 {
    Utc::now().timestamp_millis().max(0) as u64
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}
