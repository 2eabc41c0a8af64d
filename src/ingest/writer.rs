//! Batches decoded messages and commits each batch in one transaction: one
//! statement per table, idempotent on the device contract's dedup keys.
//!
//! When the database refuses a batch for what a message holds (a data
//! exception, an integrity constraint, a program limit), the batch is split
//! in halves until the message is found: it alone is quarantined as
//! `unstorable`, everything beside it is stored. When the refusal is ours
//! rather than the message's (an ordinary message of the same shape is
//! refused too, most of the batch is refused one by one, or the same refusal
//! keeps coming from several devices), nothing is quarantined: the lane holds
//! the messages, retries, and reports itself failing.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Map, Value};
use sqlx::{PgConnection, PgPool};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::acks::AckMsg;
use super::decode::{Decoded, MAX_PAYLOAD, Status, ZigbeeState};
use super::quarantine::{Budget, Sender, hour_of, storable};
use crate::alerts::engine::Stored;
use crate::domain::device::Registered;
use crate::domain::{EventKind, Metric, Reason};
use crate::metrics::Metrics;
use crate::rules::streaming::JUDGED_EVENTS;
use crate::rules::vitals::is_vital;

/// A batch of at least this many messages, most of them refused one by one,
/// is refused by our schema, not by its messages; below it, two bad
/// messages out of three say nothing.
const MAJORITY_MIN_MESSAGES: usize = 4;
/// The same refusal, from several devices, in more than this many
/// consecutive bisections, is ours.
const REPEAT_LIMIT: u32 = 3;
/// Bisections further apart than this are not consecutive.
const REPEAT_WINDOW: Duration = Duration::from_secs(600);
/// The database's words kept in a quarantine row's detail.
const MAX_REFUSAL_CHARS: usize = 500;

/// One received MQTT message after decoding.
#[derive(Debug)]
pub struct Item {
    /// Receipt order, for acknowledging in order.
    pub index: u64,
    pub topic: String,
    /// The raw payload, at most [`MAX_PAYLOAD`] bytes of it and never a view
    /// into the client's read buffer: what is quarantined if the decoder or
    /// the database refuses the message.
    pub payload: Bytes,
    pub received_at: DateTime<Utc>,
    pub received: Instant,
    pub decoded: Decoded,
    pub device: Option<Arc<Registered>>,
    /// The device's Zigbee2MQTT state after this message, to persist.
    pub zigbee_state: Option<ZigbeeState>,
}

/// Declares rows held column-wise, one `Vec` per column, ready to bind as
/// arrays; its methods keep the columns in step.
macro_rules! columns {
    ($(#[$doc:meta])* struct $name:ident { $first:ident: $first_ty:ty $(, $col:ident: $ty:ty)* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Default)]
        struct $name {
            $first: Vec<$first_ty>,
            $($col: Vec<$ty>,)*
        }

        impl $name {
            fn len(&self) -> usize {
                self.$first.len()
            }

            fn is_empty(&self) -> bool {
                self.$first.is_empty()
            }

            #[allow(clippy::too_many_arguments)]
            fn push(&mut self, $first: $first_ty $(, $col: $ty)*) {
                self.$first.push($first);
                $(self.$col.push($col);)*
            }

            fn split_off(&mut self, at: usize) -> Self {
                $name { $first: self.$first.split_off(at), $($col: self.$col.split_off(at),)* }
            }

            fn append(&mut self, other: &mut Self) {
                self.$first.append(&mut other.$first);
                $(self.$col.append(&mut other.$col);)*
            }
        }
    };
}

columns! {
    /// Rows for `readings`.
    struct Readings {
        ts: DateTime<Utc>,
        device: String,
        resident: Option<Uuid>,
        metric: &'static str,
        value: f64,
        seq: Option<i64>,
    }
}

columns! {
    /// Rows for `events`, with what the rules need of each.
    struct Events {
        ts: DateTime<Utc>,
        device: String,
        resident: Option<Uuid>,
        kind: EventKind,
        data: Value,
        seq: Option<i64>,
        origin: Option<Arc<Registered>>,
        received: DateTime<Utc>,
    }
}

columns! {
    /// Rows for `quarantine`; the text columns are storable.
    struct Quarantined {
        received: DateTime<Utc>,
        topic: String,
        reason: Reason,
        detail: String,
        device: Option<String>,
        institution: Option<Uuid>,
        payload: Vec<u8>,
    }
}

columns! {
    /// Rejects beyond their sender's quarantine budget, one row each, counted
    /// into `quarantine_overflow`.
    struct Overflow {
        hour: DateTime<Utc>,
        device: Option<String>,
        prefix: &'static str,
        reason: Reason,
        institution: Option<Uuid>,
    }
}

/// Where a message's rows start in each column. A message's rows are
/// contiguous and in receipt order, so cutting a batch between two messages
/// cuts every column at one point.
#[derive(Debug, Clone, Copy, Default)]
struct Starts {
    readings: usize,
    events: usize,
    quarantine: usize,
    overflow: usize,
    vitals: usize,
    stamps: usize,
}

impl Starts {
    fn minus(self, base: Starts) -> Starts {
        Starts {
            readings: self.readings - base.readings,
            events: self.events - base.events,
            quarantine: self.quarantine - base.quarantine,
            overflow: self.overflow - base.overflow,
            vitals: self.vitals - base.vitals,
            stamps: self.stamps - base.stamps,
        }
    }

    fn plus(self, base: Starts) -> Starts {
        Starts {
            readings: self.readings + base.readings,
            events: self.events + base.events,
            quarantine: self.quarantine + base.quarantine,
            overflow: self.overflow + base.overflow,
            vitals: self.vitals + base.vitals,
            stamps: self.stamps + base.stamps,
        }
    }
}

/// One MQTT message of a batch: what it takes to acknowledge it, to
/// quarantine it whole, and to find its rows.
#[derive(Debug)]
struct Message {
    index: u64,
    received_at: DateTime<Utc>,
    topic: String,
    payload: Bytes,
    device: Option<Arc<Registered>>,
    /// The registered device, when known.
    device_id: Option<String>,
    /// What it said about its device; `None` when it carried no data.
    note: Option<DeviceNote>,
    starts: Starts,
}

impl Message {
    fn sender(&self) -> Sender {
        match &self.device {
            Some(device) => Sender::Device(device.info.device_id.clone()),
            None => Sender::unregistered(&self.topic),
        }
    }
}

/// What one message said about its device, folded per device at commit.
#[derive(Debug)]
struct DeviceNote {
    /// When the message happened (its latest ts, or its receipt).
    happened: DateTime<Utc>,
    status: Option<Status>,
    /// The last battery reading it carried.
    battery_reading: Option<f64>,
    zigbee_state: Option<ZigbeeState>,
}

/// What a device said about itself in a batch, folded in receipt order.
#[derive(Debug, Default)]
struct DeviceUpdate<'a> {
    last_seen_at: Option<DateTime<Utc>>,
    online: Option<bool>,
    /// When the message that set `online` happened (its own ts, or its
    /// receipt when it has none). Events and telemetry arrive over separate
    /// sessions, so receipt order says nothing about which came first; this
    /// keeps older buffered data from undoing a newer Last Will.
    online_at: Option<DateTime<Utc>>,
    battery: Option<f64>,
    rssi: Option<i32>,
    firmware: Option<&'a str>,
    zigbee_state: Option<&'a ZigbeeState>,
    origin: Option<&'a Arc<Registered>>,
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
type EventKey = (String, EventKind, DateTime<Utc>, Option<i64>);

/// An event the batch stored (not a redelivery), with its rule inbox row.
#[derive(Debug, Clone, sqlx::FromRow)]
struct InsertedEvent {
    device_id: String,
    kind: EventKind,
    ts: DateTime<Utc>,
    seq: Option<i64>,
    inbox: Option<i64>,
}

/// Where a rejected message came from, for its quarantine row.
struct Origin<'a> {
    received_at: DateTime<Utc>,
    topic: &'a str,
    sender: &'a Sender,
    institution: Option<Uuid>,
    payload: &'a [u8],
}

/// The messages of one batch and their rows, column-wise.
#[derive(Debug, Default)]
pub struct Batch {
    messages: Vec<Message>,
    oldest: Option<Instant>,
    readings: Readings,
    events: Events,
    quarantine: Quarantined,
    overflow: Overflow,
    /// Vital readings, for the rules once committed.
    vitals: Vec<Stored>,
    seq_stamps: Vec<SeqStamp>,
    /// History recorded elsewhere (an import): stored like live data, but
    /// no rule judges it and it is no sign of life of its devices.
    history: bool,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub fn oldest(&self) -> Option<Instant> {
        self.oldest
    }

    /// Where the next message's rows will start.
    fn ends(&self) -> Starts {
        Starts {
            readings: self.readings.len(),
            events: self.events.len(),
            quarantine: self.quarantine.len(),
            overflow: self.overflow.len(),
            vitals: self.vitals.len(),
            stamps: self.seq_stamps.len(),
        }
    }

    /// Adds a message's rows; its rejections are quarantined while its
    /// sender's hourly `budget` lasts, and only counted after.
    pub fn push(&mut self, item: Item, budget: &mut Budget) {
        self.oldest.get_or_insert(item.received);
        let starts = self.ends();
        let mut d = item.decoded;
        let resident = item.device.as_ref().and_then(|r| r.resident_id);
        let mut note = None;
        if let (Some(device_id), true) =
            (&d.device_id, !d.readings.is_empty() || !d.events.is_empty() || d.status.is_some())
        {
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
                    s.readings.push(self.readings.len());
                }
                self.readings.push(r.ts, device_id.clone(), resident, r.metric.as_str(), r.value, r.seq);
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
            for e in d.events {
                if let Some(s) = stamp.as_mut() {
                    s.events.push(self.events.len());
                }
                self.events.push(
                    e.ts.trunc_subsecs(6),
                    device_id.clone(),
                    resident,
                    e.kind,
                    e.data,
                    e.seq,
                    item.device.clone(),
                    item.received_at,
                );
            }
            self.seq_stamps.extend(stamp);
            let battery_reading = d.readings.iter().rev().find(|r| r.metric == Metric::Battery).map(|r| r.value);
            note = Some(DeviceNote { happened, status: d.status, battery_reading, zigbee_state: item.zigbee_state });
        }
        let message = Message {
            index: item.index,
            received_at: item.received_at,
            topic: item.topic,
            payload: item.payload,
            device: item.device,
            device_id: d.device_id,
            note,
            starts,
        };
        if !d.rejections.is_empty() {
            let sender = message.sender();
            let origin = Origin {
                received_at: message.received_at,
                topic: &message.topic,
                sender: &sender,
                institution: message.device.as_ref().map(|r| r.institution_id),
                payload: &message.payload,
            };
            for rejection in d.rejections {
                let device_id = rejection.device_id.or_else(|| message.device_id.clone());
                self.reject(budget, &origin, rejection.reason, rejection.detail, device_id);
            }
        }
        self.messages.push(message);
    }

    /// Quarantines one reject, or only counts it when its sender has used up
    /// this hour's budget.
    fn reject(
        &mut self,
        budget: &mut Budget,
        origin: &Origin<'_>,
        reason: Reason,
        detail: String,
        device_id: Option<String>,
    ) {
        let hour = hour_of(origin.received_at);
        if budget.admit(origin.sender, hour) {
            self.quarantine.push(
                origin.received_at,
                storable(origin.topic.to_owned()),
                reason,
                storable(detail),
                device_id.map(storable),
                origin.institution,
                origin.payload[..origin.payload.len().min(MAX_PAYLOAD)].to_vec(),
            );
        } else {
            self.overflow.push(
                hour,
                origin.sender.device_id().map(str::to_owned),
                origin.sender.topic_prefix(),
                reason,
                origin.institution,
            );
        }
    }

    /// Moves the messages from `at` on, with their rows, into a new batch.
    fn split_off(&mut self, at: usize) -> Batch {
        let Some(first) = self.messages.get(at) else {
            return Batch { oldest: self.oldest, ..Batch::default() };
        };
        let base = first.starts;
        let mut messages = self.messages.split_off(at);
        for m in &mut messages {
            m.starts = m.starts.minus(base);
        }
        let mut seq_stamps = self.seq_stamps.split_off(base.stamps);
        for s in &mut seq_stamps {
            s.readings.iter_mut().for_each(|i| *i -= base.readings);
            s.events.iter_mut().for_each(|i| *i -= base.events);
        }
        Batch {
            messages,
            oldest: self.oldest,
            readings: self.readings.split_off(base.readings),
            events: self.events.split_off(base.events),
            quarantine: self.quarantine.split_off(base.quarantine),
            overflow: self.overflow.split_off(base.overflow),
            vitals: self.vitals.split_off(base.vitals),
            seq_stamps,
            history: self.history,
        }
    }

    /// Adds `other`'s messages, all received after this batch's.
    fn append(&mut self, mut other: Batch) {
        let base = self.ends();
        for m in &mut other.messages {
            m.starts = m.starts.plus(base);
        }
        for s in &mut other.seq_stamps {
            s.readings.iter_mut().for_each(|i| *i += base.readings);
            s.events.iter_mut().for_each(|i| *i += base.events);
        }
        self.messages.append(&mut other.messages);
        self.oldest = match (self.oldest, other.oldest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.readings.append(&mut other.readings);
        self.events.append(&mut other.events);
        self.quarantine.append(&mut other.quarantine);
        self.overflow.append(&mut other.overflow);
        self.vitals.append(&mut other.vitals);
        self.seq_stamps.append(&mut other.seq_stamps);
    }

    /// A message shaped like this one-message batch, with none of its
    /// content: the same tables, device, resident, metric and event kind, a
    /// neutral event payload, stamped `now`. When the database refuses this
    /// too, the fault is not in the message.
    fn control(&self, now: DateTime<Utc>) -> Batch {
        let now = now.trunc_subsecs(6);
        let mut control = Batch::default();
        let r = &self.readings;
        if !r.is_empty() {
            control.readings.push(now, r.device[0].clone(), r.resident[0], r.metric[0], r.value[0], None);
        }
        let e = &self.events;
        if !e.is_empty() {
            control.events.push(
                now,
                e.device[0].clone(),
                e.resident[0],
                e.kind[0].clone(),
                Value::Object(Map::new()),
                None,
                None,
                now,
            );
        }
        let q = &self.quarantine;
        if !q.is_empty() {
            control.quarantine.push(now, "control".into(), q.reason[0], "control".into(), None, None, Vec::new());
        }
        if let Some(m) = self.messages.first() {
            control.messages.push(Message {
                index: m.index,
                received_at: now,
                topic: String::new(),
                payload: Bytes::new(),
                device: m.device.clone(),
                device_id: m.device_id.clone(),
                note: m.note.as_ref().map(|_| DeviceNote {
                    happened: now,
                    status: None,
                    battery_reading: None,
                    zigbee_state: None,
                }),
                starts: Starts::default(),
            });
        }
        control
    }

    /// The quarantine rows of messages the database refused on their own:
    /// each whole, with its raw payload and the database's words.
    fn refused(refused: &[&Refused], budget: &mut Budget) -> Batch {
        let mut out = Batch::default();
        for Refused { part, refusal, .. } in refused.iter().copied() {
            out.oldest = out.oldest.or(part.oldest);
            for m in &part.messages {
                let starts = out.ends();
                let sender = m.sender();
                let origin = Origin {
                    received_at: m.received_at,
                    topic: &m.topic,
                    sender: &sender,
                    institution: m.device.as_ref().map(|r| r.institution_id),
                    payload: &m.payload,
                };
                let device_id =
                    m.device_id.clone().or_else(|| part.quarantine.device.get(m.starts.quarantine).cloned().flatten());
                let words: String = refusal.to_string().chars().take(MAX_REFUSAL_CHARS).collect();
                let detail = format!("the database refused it: {words}");
                out.reject(budget, &origin, Reason::Unstorable, detail, device_id);
                out.messages.push(Message {
                    index: m.index,
                    received_at: m.received_at,
                    topic: m.topic.clone(),
                    payload: m.payload.clone(),
                    device: m.device.clone(),
                    device_id: m.device_id.clone(),
                    note: None,
                    starts,
                });
            }
        }
        out
    }

    /// Commits the whole batch or nothing. On error nothing is stored and
    /// the batch can be retried as it is: the one change made to it, giving
    /// messages without a timestamp the stamp of their first delivery, is
    /// redone by the retry from what the database holds then.
    async fn commit(
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
    async fn try_write(&mut self, pool: &PgPool, seq_memory_hours: u64) -> Result<(), sqlx::Error> {
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
            sqlx::query(
                "insert into readings (ts, device_id, resident_id, metric, value, seq)
                 select * from unnest($1::timestamptz[], $2::text[], $3::uuid[], $4::text[], $5::float8[], $6::int8[])
                 on conflict do nothing",
            )
            .bind(&r.ts)
            .bind(&r.device)
            .bind(&r.resident)
            .bind(&r.metric)
            .bind(&r.value)
            .bind(&r.seq)
            .execute(&mut *tx)
            .await?
            .rows_affected()
        };
        // New events come back with their rule inbox row when the rules
        // judge them: written in this transaction, so a stored alarm is
        // judged even if the process dies before the engine sees it.
        // History is judged by no live rule, only by the backtest.
        let judged: &[EventKind] = if self.history { &[] } else { JUDGED_EVENTS };
        // The batch's vital readings, until the engine has judged them:
        // written with the readings, so a process that dies before judging
        // them leaves them to another's sweep.
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
            Some(
                sqlx::query_scalar(
                    "insert into vital_inbox (device_ids, metrics, ts, vals, received_at)
                     values ($1, $2, $3, $4, $5) returning id",
                )
                .bind(&devices)
                .bind(&metrics)
                .bind(&ts)
                .bind(&values)
                .bind(&received)
                .fetch_one(&mut *tx)
                .await?,
            )
        };
        let e = &self.events;
        let inserted_events: Vec<InsertedEvent> = if e.is_empty() {
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
            .bind(&e.ts)
            .bind(&e.device)
            .bind(&e.resident)
            .bind(&e.kind)
            .bind(&e.data)
            .bind(&e.seq)
            .bind(&e.received)
            .bind(judged)
            .fetch_all(&mut *tx)
            .await?
        };
        let events = inserted_events.len() as u64;
        let q = &self.quarantine;
        if !q.is_empty() {
            sqlx::query(
                "insert into quarantine (received_at, topic, reason, detail, device_id, institution_id, payload)
                 select * from unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::uuid[], $7::bytea[])",
            )
            .bind(&q.received)
            .bind(&q.topic)
            .bind(&q.reason)
            .bind(&q.detail)
            .bind(&q.device)
            .bind(&q.institution)
            .bind(&q.payload)
            .execute(&mut *tx)
            .await?;
        }
        let o = &self.overflow;
        if !o.is_empty() {
            sqlx::query(
                "insert into quarantine_overflow as o (hour, device_id, topic_prefix, reason, institution_id, count)
                 select hour, device_id, topic_prefix, reason, (array_agg(institution_id))[1], count(*)
                 from unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::uuid[])
                      as u (hour, device_id, topic_prefix, reason, institution_id)
                 group by hour, device_id, topic_prefix, reason
                 on conflict (hour, device_id, topic_prefix, reason) do update set count = o.count + excluded.count",
            )
            .bind(&o.hour)
            .bind(&o.device)
            .bind(&o.prefix)
            .bind(&o.reason)
            .bind(&o.institution)
            .execute(&mut *tx)
            .await?;
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

    /// Each device's update, folded from its messages in receipt order.
    fn devices(&self) -> HashMap<&str, DeviceUpdate<'_>> {
        let mut devices: HashMap<&str, DeviceUpdate<'_>> = HashMap::new();
        for m in &self.messages {
            let (Some(id), Some(note)) = (&m.device_id, &m.note) else { continue };
            let update = devices.entry(id.as_str()).or_default();
            update.origin = m.device.as_ref();
            // Any message is a sign of life, counted when it arrives: a
            // buffered upload of old readings still shows the device is up.
            update.last_seen_at = Some(m.received_at);
            if update.online_at.is_none_or(|at| note.happened >= at) {
                update.online = Some(note.status.as_ref().and_then(|st| st.online).unwrap_or(true));
                update.online_at = Some(note.happened);
            }
            if let Some(status) = &note.status {
                update.battery = status.battery.or(update.battery);
                update.rssi = status.rssi.and_then(|v| i32::try_from(v).ok()).or(update.rssi);
                update.firmware = status.firmware.as_deref().or(update.firmware);
            }
            if let Some(level) = note.battery_reading {
                update.battery = Some(level);
            }
            if note.zigbee_state.is_some() {
                update.zigbee_state = note.zigbee_state.as_ref();
            }
        }
        devices
    }

    /// What the rules must see of a committed batch: the events that were
    /// new (a redelivered fall must not count twice), vital readings, and each
    /// device's health.
    fn for_rules(&mut self, outcome: &mut Outcome) -> Vec<Stored> {
        let mut new: HashMap<EventKey, Option<i64>> = std::mem::take(&mut outcome.inserted_events)
            .into_iter()
            .map(|e| ((e.device_id, e.kind, e.ts, e.seq), e.inbox))
            .collect();
        let mut out = std::mem::take(&mut self.vitals);
        if let Some(inbox) = outcome.vital_inbox.take() {
            out.push(Stored::VitalsEnd { inbox });
        }
        let e = &self.events;
        for i in 0..e.len() {
            let Some(origin) = &e.origin[i] else { continue };
            if let Some(inbox) = new.remove(&(e.device[i].clone(), e.kind[i].clone(), e.ts[i], e.seq[i])) {
                out.push(Stored::Event {
                    origin: origin.clone(),
                    kind: e.kind[i].clone(),
                    ts: e.ts[i],
                    data: e.data[i].clone(),
                    received_at: e.received[i],
                    inbox,
                });
            }
        }
        out.append(&mut outcome.statuses);
        out
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
                    self.readings.ts[i] = *ts;
                }
                for &i in &s.events {
                    self.events.ts[i] = *ts;
                }
            }
        }
        Ok(())
    }

    fn count_rejections(&self, metrics: &Metrics) {
        for reason in &self.quarantine.reason {
            metrics.rejected(*reason);
        }
        for reason in &self.overflow.reason {
            metrics.rejected(*reason);
            metrics.quarantine_dropped(*reason);
        }
    }
}

async fn update_devices(tx: &mut PgConnection, devices: &mut [(&str, &DeviceUpdate<'_>)]) -> Result<(), sqlx::Error> {
    // Sorted, so that two lanes updating the same devices lock rows in the
    // same order and never deadlock.
    devices.sort_by_key(|(id, _)| *id);
    let mut ids = Vec::with_capacity(devices.len());
    let mut last_seen = Vec::with_capacity(devices.len());
    let mut online = Vec::with_capacity(devices.len());
    let mut online_at = Vec::with_capacity(devices.len());
    let mut battery = Vec::with_capacity(devices.len());
    let mut rssi = Vec::with_capacity(devices.len());
    let mut firmware = Vec::with_capacity(devices.len());
    let mut zigbee = Vec::with_capacity(devices.len());
    for (id, u) in devices.iter() {
        ids.push(*id);
        last_seen.push(u.last_seen_at);
        online.push(u.online);
        online_at.push(u.online_at);
        battery.push(u.battery);
        rssi.push(u.rssi);
        firmware.push(u.firmware);
        zigbee.push(u.zigbee_state.map(sqlx::types::Json));
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

#[derive(Debug)]
struct Outcome {
    readings_inserted: u64,
    events_inserted: u64,
    duplicates: u64,
    /// Messages whose data (not only rejects) was committed.
    messages_with_data: u64,
    /// The events that were new.
    inserted_events: Vec<InsertedEvent>,
    /// The vital inbox row of the batch's vital readings.
    vital_inbox: Option<i64>,
    /// Each device's health, for the rules.
    statuses: Vec<Stored>,
    /// The device state rows written, with the online flag they got.
    written: Vec<(String, Option<bool>)>,
}

/// How often a device's unchanged state (only its last-seen time) is
/// written: a device sending every few milliseconds must not rewrite its row
/// in every batch.
const LAST_SEEN_EVERY: Duration = Duration::from_secs(5);

/// What each device's state row last got from this lane.
#[derive(Debug, Default)]
struct DeviceWrites(HashMap<String, (Instant, Option<bool>)>);

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

    fn record(&mut self, written: Vec<(String, Option<bool>)>) {
        let now = Instant::now();
        for (id, online) in written {
            self.0.insert(id, (now, online));
        }
    }
}

/// Why the database refused a message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    /// The SQLSTATE.
    code: String,
    message: String,
    detail: Option<String>,
}

/// What makes two refusals the same: SQLSTATE and message.
type RefusalKey = (String, String);

impl Refusal {
    fn key(&self) -> RefusalKey {
        (self.code.clone(), self.message.clone())
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (SQLSTATE {})", self.message, self.code)?;
        match &self.detail {
            Some(detail) => write!(f, ": {detail}"),
            None => Ok(()),
        }
    }
}

/// What a failed commit says about what to do next.
#[derive(Debug)]
enum Failure {
    /// The database is out of reach or unavailable: wait and retry.
    Connection,
    /// A serialization failure or deadlock: retry.
    Transient,
    /// The database refused what some row holds: find the message.
    Data(Refusal),
    /// Nothing any message explains (an undefined column, a bug of ours).
    Ours,
}

fn classify(err: &sqlx::Error) -> Failure {
    if crate::store::connection_lost(err) {
        return Failure::Connection;
    }
    match err {
        sqlx::Error::Encode(cause) => {
            Failure::Data(Refusal { code: "encode".into(), message: cause.to_string(), detail: None })
        }
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            match code.get(..2).unwrap_or("") {
                "40" => Failure::Transient,
                // Data exception, integrity constraint (the dedup conflicts
                // never surface: they are `on conflict do nothing`), program
                // limit exceeded.
                "22" | "23" | "54" => {
                    let detail = db
                        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                        .and_then(|pg| pg.detail())
                        .map(str::to_owned);
                    Failure::Data(Refusal { code, message: db.message().to_owned(), detail })
                }
                _ => Failure::Ours,
            }
        }
        _ => Failure::Ours,
    }
}

/// Consecutive bisections whose messages the database refused for one same
/// reason. Messages from several devices refused alike, bisection after
/// bisection, point at our schema; one device repeating itself does not.
#[derive(Debug, Default)]
struct Streak {
    refusal: Option<RefusalKey>,
    bisections: u32,
    senders: HashSet<String>,
    last: Option<Instant>,
}

impl Streak {
    /// Counts a bisection's refused messages in; true when the refusal is
    /// now judged ours.
    fn repeats(&mut self, refused: &[&Refused]) -> bool {
        let Some(first) = refused.first() else { return false };
        let key = first.refusal.key();
        let alike = refused.iter().all(|r| r.refusal.key() == key);
        let continued = alike
            && self.refusal.as_ref() == Some(&key)
            && self.last.is_some_and(|last| last.elapsed() < REPEAT_WINDOW);
        if !continued {
            self.bisections = 0;
            self.senders.clear();
            self.refusal = alike.then_some(key);
        }
        self.last = Some(Instant::now());
        if !alike {
            return false;
        }
        self.bisections += 1;
        for r in refused {
            for m in &r.part.messages {
                self.senders.insert(m.device_id.clone().unwrap_or_else(|| m.topic.clone()));
            }
        }
        self.bisections > REPEAT_LIMIT && self.senders.len() >= 2
    }
}

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

/// A message the database refused on its own.
struct Refused {
    /// The message, as a batch of one.
    part: Batch,
    refusal: Refusal,
    /// An ordinary message of its shape is refused too: the fault is ours.
    ours: bool,
}

/// Puts held parts back together in receipt order.
fn gather(parts: impl IntoIterator<Item = Batch>) -> Batch {
    let mut parts: Vec<Batch> = parts.into_iter().filter(|p| !p.is_empty()).collect();
    parts.sort_by_key(|p| p.messages[0].index);
    let mut all = Batch::default();
    for part in parts {
        all.append(part);
    }
    all
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
            if self.shutdown.is_cancelled() && backoff >= Duration::from_secs(5) {
                tracing::error!(
                    lane = self.name,
                    messages = held.len(),
                    "giving up at shutdown; the broker will redeliver"
                );
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
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
            let err = match part.commit(&self.pool, hours, &memory.written).await {
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
                    if !is_ours && let Err(err) = part.control(Utc::now()).try_write(&self.pool, hours).await {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::DeviceKind;
    use crate::domain::device::DeviceInfo;
    use crate::ingest::decode::{Event, Reading, Rejection};

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn registered(id: &str) -> Arc<Registered> {
        Arc::new(Registered {
            info: DeviceInfo {
                device_id: id.into(),
                kind: DeviceKind::Wearable,
                room: None,
                placement: None,
                power_on_threshold_w: 20.0,
            },
            institution_id: Uuid::nil(),
            resident_id: Some(Uuid::nil()),
        })
    }

    /// Message `n`: n readings valued n, an event named `e{n}` every other
    /// message, a reject every third, and a seq without ts every fourth.
    fn item(n: u64) -> Item {
        let device = format!("dev-{}", n % 3);
        let ts = at("2026-11-28T08:00:00Z") + chrono::Duration::seconds(n as i64);
        let seq = n.is_multiple_of(4).then_some(n as i64);
        let decoded = Decoded {
            device_id: Some(device.clone()),
            ts_was_missing: seq.is_some(),
            readings: (0..n).map(|_| Reading { metric: Metric::HeartRate, ts, value: n as f64, seq }).collect(),
            events: n
                .is_multiple_of(2)
                .then(|| Event { kind: EventKind::from(format!("e{n}")), ts, data: json!({"n": n}), seq })
                .into_iter()
                .collect(),
            status: None,
            rejections: n
                .is_multiple_of(3)
                .then(|| Rejection { reason: Reason::Malformed, detail: format!("r{n}"), device_id: None })
                .into_iter()
                .collect(),
        };
        Item {
            index: n,
            topic: format!("eldercare/v1/{device}/telemetry"),
            payload: Bytes::from(format!("payload {n}")),
            received_at: ts,
            received: Instant::now(),
            decoded,
            device: Some(registered(&device)),
            zigbee_state: None,
        }
    }

    fn batch(n: u64) -> Batch {
        let mut budget = Budget::new(1000);
        let mut batch = Batch::default();
        for i in 0..n {
            batch.push(item(i), &mut budget);
        }
        batch
    }

    /// Each message's rows, read back through its starts, as
    /// (index, reading values, event kinds, reject details, stamped rows).
    type Rows = (u64, Vec<f64>, Vec<EventKind>, Vec<String>, Vec<(Vec<usize>, Vec<usize>)>);

    fn rows(batch: &Batch) -> Vec<Rows> {
        let ends = batch.ends();
        let next = |i: usize| batch.messages.get(i + 1).map_or(ends, |m| m.starts);
        batch
            .messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let (from, to) = (m.starts, next(i));
                let stamps = batch.seq_stamps[from.stamps..to.stamps]
                    .iter()
                    .map(|s| {
                        // Stamped rows, relative to the message's own rows.
                        let r = s.readings.iter().map(|r| r - from.readings).collect();
                        let e = s.events.iter().map(|e| e - from.events).collect();
                        (r, e)
                    })
                    .collect();
                (
                    m.index,
                    batch.readings.value[from.readings..to.readings].to_vec(),
                    batch.events.kind[from.events..to.events].to_vec(),
                    batch.quarantine.detail[from.quarantine..to.quarantine].to_vec(),
                    stamps,
                )
            })
            .collect()
    }

    #[test]
    fn a_split_keeps_every_message_with_its_rows_and_a_join_undoes_it() {
        let whole = rows(&batch(9));
        assert_eq!(whole[4], (4, vec![4.0; 4], vec![EventKind::from("e4")], vec![], vec![((0..4).collect(), vec![0])]));
        assert_eq!(whole[3].3, vec!["r3".to_owned()]);
        for at in 0..=9 {
            let mut head = batch(9);
            let tail = head.split_off(at);
            assert_eq!((head.len(), tail.len()), (at, 9 - at));
            assert_eq!(rows(&head), whole[..at]);
            assert_eq!(rows(&tail), whole[at..]);
            assert_eq!(tail.vitals.len(), tail.readings.len(), "vitals follow their readings");
            head.append(tail);
            assert_eq!(rows(&head), whole);
        }
    }

    #[test]
    fn gathering_puts_what_was_held_back_in_receipt_order() {
        let mut first = batch(8);
        let mut second = first.split_off(2);
        let third = second.split_off(3);
        let all = gather([third, Batch::default(), first, second]);
        assert_eq!(rows(&all), rows(&batch(8)));
    }

    #[test]
    fn rejects_beyond_the_hourly_budget_are_counted_not_kept() {
        let mut budget = Budget::new(2);
        let mut batch = Batch::default();
        for n in [3, 6, 9, 12] {
            let mut it = item(n);
            // All from one device.
            it.device = Some(registered("dev-0"));
            batch.push(it, &mut budget);
        }
        assert_eq!(batch.quarantine.detail, vec!["r3", "r6"]);
        assert_eq!(batch.overflow.device, vec![Some("dev-0".to_owned()); 2]);
        assert_eq!(batch.overflow.reason, vec![Reason::Malformed; 2]);
        assert_eq!(batch.overflow.hour[0], at("2026-11-28T08:00:00Z"));
        let metrics = Metrics::default();
        batch.count_rejections(&metrics);
        let text = metrics.render();
        assert!(text.contains("eldercare_messages_rejected_total{reason=\"malformed\"} 4"), "{text}");
        assert!(text.contains("eldercare_quarantine_dropped_total{reason=\"malformed\"} 2"), "{text}");
    }

    #[test]
    fn a_refused_message_is_quarantined_whole_and_storable() {
        let mut budget = Budget::new(10);
        let mut part = Batch::default();
        let mut it = item(4);
        it.topic = "zigbee2mqtt/odd\0name".into();
        part.push(it, &mut budget);
        let refusal = Refusal {
            code: "22P05".into(),
            message: "unsupported Unicode escape sequence".into(),
            detail: Some("\\u0000 cannot be converted to text.".into()),
        };
        let refused = Refused { part, refusal, ours: false };
        let quarantine = Batch::refused(&[&refused], &mut budget);
        assert_eq!(quarantine.len(), 1);
        assert!(quarantine.readings.is_empty() && quarantine.events.is_empty() && quarantine.vitals.is_empty());
        assert!(quarantine.messages[0].note.is_none(), "nothing of it is stored");
        let q = &quarantine.quarantine;
        assert_eq!(q.reason, vec![Reason::Unstorable]);
        assert_eq!(q.topic, vec!["zigbee2mqtt/odd\u{FFFD}name"]);
        assert_eq!(q.device, vec![Some("dev-1".to_owned())]);
        assert_eq!(q.payload, vec![b"payload 4".to_vec()]);
        assert_eq!(
            q.detail,
            vec![
                "the database refused it: unsupported Unicode escape sequence (SQLSTATE 22P05): \\u0000 cannot be converted to text."
            ]
        );
    }

    #[test]
    fn the_control_has_the_shape_of_the_message_and_none_of_its_content() {
        let one = batch(5).split_off(4);
        let now = at("2026-11-28T09:00:00Z");
        let control = one.control(now);
        assert_eq!(control.readings.len(), 1);
        assert_eq!((control.readings.device[0].as_str(), control.readings.ts[0]), ("dev-1", now));
        assert_eq!(control.events.kind, vec![EventKind::from("e4")]);
        assert_eq!(control.events.data, vec![json!({})]);
        assert_eq!(control.events.seq, vec![None]);
        assert!(control.quarantine.is_empty() && control.seq_stamps.is_empty());
        assert!(control.messages[0].note.as_ref().is_some_and(|n| n.status.is_none()));
    }

    fn refused_from(devices: &[&str], message: &str) -> Vec<Refused> {
        devices
            .iter()
            .map(|device| {
                let mut it = item(1);
                it.decoded.device_id = Some((*device).to_owned());
                let mut part = Batch::default();
                part.push(it, &mut Budget::new(1));
                Refused {
                    part,
                    refusal: Refusal { code: "23514".into(), message: message.into(), detail: None },
                    ours: false,
                }
            })
            .collect()
    }

    fn repeats(streak: &mut Streak, refused: &[Refused]) -> bool {
        streak.repeats(&refused.iter().collect::<Vec<_>>())
    }

    #[test]
    fn the_same_refusal_from_several_devices_again_and_again_is_ours() {
        let mut streak = Streak::default();
        let judged: Vec<bool> =
            (0..5).map(|i| repeats(&mut streak, &refused_from(&[["a", "b"][i % 2]], "check"))).collect();
        assert_eq!(judged, vec![false, false, false, true, true]);
        assert!(!repeats(&mut streak, &refused_from(&["a"], "other")), "another refusal starts over");
        assert!(!repeats(&mut streak, &[]), "nothing refused, nothing judged");

        let mut one_device = Streak::default();
        assert!(
            (0..10).all(|_| !repeats(&mut one_device, &refused_from(&["a"], "check"))),
            "one device repeating itself"
        );

        let mut mixed = Streak::default();
        let mut two = refused_from(&["a"], "x");
        two.extend(refused_from(&["b"], "y"));
        assert!((0..10).all(|_| !repeats(&mut mixed, &two)), "different refusals in each bisection");
    }
}
