//! Batch assembly: each message's rows appended column-wise, so a batch
//! can be cut between two messages and put back together, and what the
//! devices and the rules get from a committed batch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::Item;
use super::commit::Outcome;
use crate::alerts::engine::Stored;
use crate::domain::device::Registered;
use crate::domain::settings::is_vital;
use crate::domain::zigbee::ZigbeeState;
use crate::domain::{EventKind, Metric, Reason};
use crate::ingest::decode::{MAX_PAYLOAD, Status};
use crate::ingest::quarantine::{Budget, Sender, hour_of, storable};
use crate::metrics::Metrics;

/// Declares rows held column-wise, one `Vec` per column, ready to bind as
/// arrays; its methods keep the columns in step.
macro_rules! columns {
    ($(#[$doc:meta])* struct $name:ident { $first:ident: $first_ty:ty $(, $col:ident: $ty:ty)* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Default)]
        pub(super) struct $name {
            pub(super) $first: Vec<$first_ty>,
            $(pub(super) $col: Vec<$ty>,)*
        }

        impl $name {
            pub(super) fn len(&self) -> usize {
                self.$first.len()
            }

            pub(super) fn is_empty(&self) -> bool {
                self.$first.is_empty()
            }

            #[allow(clippy::too_many_arguments)]
            pub(super) fn push(&mut self, $first: $first_ty $(, $col: $ty)*) {
                self.$first.push($first);
                $(self.$col.push($col);)*
            }

            pub(super) fn split_off(&mut self, at: usize) -> Self {
                $name { $first: self.$first.split_off(at), $($col: self.$col.split_off(at),)* }
            }

            pub(super) fn append(&mut self, other: &mut Self) {
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
pub(super) struct Starts {
    pub(super) readings: usize,
    pub(super) events: usize,
    pub(super) quarantine: usize,
    pub(super) overflow: usize,
    pub(super) vitals: usize,
    pub(super) stamps: usize,
}

impl Starts {
    pub(super) fn minus(self, base: Starts) -> Starts {
        Starts {
            readings: self.readings - base.readings,
            events: self.events - base.events,
            quarantine: self.quarantine - base.quarantine,
            overflow: self.overflow - base.overflow,
            vitals: self.vitals - base.vitals,
            stamps: self.stamps - base.stamps,
        }
    }

    pub(super) fn plus(self, base: Starts) -> Starts {
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
pub(super) struct Message {
    pub(super) index: u64,
    pub(super) received_at: DateTime<Utc>,
    pub(super) topic: String,
    pub(super) payload: Bytes,
    pub(super) device: Option<Arc<Registered>>,
    /// The registered device, when known.
    pub(super) device_id: Option<String>,
    /// What it said about its device; `None` when it carried no data.
    pub(super) note: Option<DeviceNote>,
    pub(super) starts: Starts,
}

impl Message {
    pub(super) fn sender(&self) -> Sender {
        match &self.device {
            Some(device) => Sender::Device(device.info.device_id.clone()),
            None => Sender::unregistered(&self.topic),
        }
    }

    /// Where the message came from, for a quarantine row; `sender` is its
    /// [`Message::sender`].
    pub(super) fn origin<'a>(&'a self, sender: &'a Sender) -> Origin<'a> {
        Origin {
            received_at: self.received_at,
            topic: &self.topic,
            sender,
            institution: self.device.as_ref().map(|r| r.institution_id),
            payload: &self.payload,
        }
    }
}

/// What one message said about its device, folded per device at commit.
#[derive(Debug)]
pub(super) struct DeviceNote {
    /// When the message happened (its latest ts, or its receipt).
    pub(super) happened: DateTime<Utc>,
    pub(super) status: Option<Status>,
    /// The last battery reading it carried.
    pub(super) battery_reading: Option<f64>,
    pub(super) zigbee_state: Option<ZigbeeState>,
}

/// What a device said about itself in a batch, folded in receipt order.
#[derive(Debug, Default)]
pub(super) struct DeviceUpdate<'a> {
    pub(super) last_seen_at: Option<DateTime<Utc>>,
    pub(super) online: Option<bool>,
    /// When the message that set `online` happened (its own ts, or its
    /// receipt when it has none). Events and telemetry arrive over separate
    /// sessions, so receipt order says nothing about which came first; this
    /// keeps older buffered data from undoing a newer Last Will.
    pub(super) online_at: Option<DateTime<Utc>>,
    pub(super) battery: Option<f64>,
    pub(super) rssi: Option<i32>,
    pub(super) firmware: Option<&'a str>,
    pub(super) zigbee_state: Option<&'a ZigbeeState>,
    pub(super) origin: Option<&'a Arc<Registered>>,
}

/// A message stamped with its time of receipt because it had a `seq` but no
/// `ts`: the rows it produced, so a redelivery can be given the first stamp.
#[derive(Debug)]
pub(super) struct SeqStamp {
    pub(super) device_id: String,
    pub(super) seq: i64,
    pub(super) ts: DateTime<Utc>,
    pub(super) readings: Vec<usize>,
    pub(super) events: Vec<usize>,
}

/// What identifies a stored event: device, kind, ts, seq.
pub(super) type EventKey = (String, EventKind, DateTime<Utc>, Option<i64>);

/// Where a rejected message came from, for its quarantine row.
pub(super) struct Origin<'a> {
    pub(super) received_at: DateTime<Utc>,
    pub(super) topic: &'a str,
    pub(super) sender: &'a Sender,
    pub(super) institution: Option<Uuid>,
    pub(super) payload: &'a [u8],
}

/// The messages of one batch and their rows, column-wise.
#[derive(Debug, Default)]
pub(super) struct Batch {
    pub(super) messages: Vec<Message>,
    pub(super) oldest: Option<Instant>,
    pub(super) readings: Readings,
    pub(super) events: Events,
    pub(super) quarantine: Quarantined,
    pub(super) overflow: Overflow,
    /// Vital readings, for the rules once committed.
    pub(super) vitals: Vec<Stored>,
    pub(super) seq_stamps: Vec<SeqStamp>,
    /// History recorded elsewhere (an import): stored like live data, but
    /// no rule judges it and it is no sign of life of its devices.
    pub(super) history: bool,
}

impl Batch {
    pub(super) fn len(&self) -> usize {
        self.messages.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub(super) fn oldest(&self) -> Option<Instant> {
        self.oldest
    }

    /// Where the next message's rows will start.
    pub(super) fn ends(&self) -> Starts {
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
    pub(super) fn push(&mut self, item: Item, budget: &mut Budget) {
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
            let origin = message.origin(&sender);
            for rejection in d.rejections {
                let device_id = rejection.device_id.or_else(|| message.device_id.clone());
                self.reject(budget, &origin, rejection.reason, rejection.detail, device_id);
            }
        }
        self.messages.push(message);
    }

    /// Quarantines one reject, or only counts it when its sender has used up
    /// this hour's budget.
    pub(super) fn reject(
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
    pub(super) fn split_off(&mut self, at: usize) -> Batch {
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
    pub(super) fn append(&mut self, mut other: Batch) {
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

    /// Each device's update, folded from its messages in receipt order.
    pub(super) fn devices(&self) -> HashMap<&str, DeviceUpdate<'_>> {
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
    pub(super) fn for_rules(&mut self, outcome: &mut Outcome) -> Vec<Stored> {
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

    pub(super) fn count_rejections(&self, metrics: &Metrics) {
        for reason in &self.quarantine.reason {
            metrics.rejected(*reason);
        }
        for reason in &self.overflow.reason {
            metrics.rejected(*reason);
            metrics.quarantine_dropped(*reason);
        }
    }
}

/// Puts held parts back together in receipt order.
pub(super) fn gather(parts: impl IntoIterator<Item = Batch>) -> Batch {
    let mut parts: Vec<Batch> = parts.into_iter().filter(|p| !p.is_empty()).collect();
    parts.sort_by_key(|p| p.messages[0].index);
    let mut all = Batch::default();
    for part in parts {
        all.append(part);
    }
    all
}
