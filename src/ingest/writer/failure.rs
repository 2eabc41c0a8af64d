//! What a refused commit means: the database's words, whether a message or
//! we are at fault, and the quarantine rows of the messages refused on
//! their own.

use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Map, Value};

use super::batch::{Batch, DeviceNote, Message, Starts};
use crate::domain::Reason;
use crate::ingest::quarantine::Budget;

/// A batch of at least this many messages, most of them refused one by one,
/// is refused by our schema, not by its messages; below it, two bad
/// messages out of three say nothing.
pub(super) const MAJORITY_MIN_MESSAGES: usize = 4;
/// The same refusal, from several devices, in more than this many
/// consecutive bisections, is ours.
const REPEAT_LIMIT: u32 = 3;
/// Bisections further apart than this are not consecutive.
const REPEAT_WINDOW: Duration = Duration::from_secs(600);
/// The database's words kept in a quarantine row's detail.
const MAX_REFUSAL_CHARS: usize = 500;

impl Batch {
    /// A message shaped like this one-message batch, with none of its
    /// content: the same tables, device, resident, metric and event kind, a
    /// neutral event payload, stamped `now`. When the database refuses this
    /// too, the fault is not in the message.
    pub(super) fn control(&self, now: DateTime<Utc>) -> Batch {
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
    pub(super) fn refused(refused: &[&Refused], budget: &mut Budget) -> Batch {
        let mut out = Batch::default();
        for Refused { part, refusal, .. } in refused.iter().copied() {
            out.oldest = out.oldest.or(part.oldest);
            for m in &part.messages {
                let starts = out.ends();
                let sender = m.sender();
                let origin = m.origin(&sender);
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
}

/// Why the database refused a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refusal {
    /// The SQLSTATE.
    pub(super) code: String,
    pub(super) message: String,
    pub(super) detail: Option<String>,
}

/// What makes two refusals the same: SQLSTATE and message.
pub(super) type RefusalKey = (String, String);

impl Refusal {
    pub(super) fn key(&self) -> RefusalKey {
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
pub(super) enum Failure {
    /// The database is out of reach or unavailable: wait and retry.
    Connection,
    /// A serialization failure or deadlock: retry.
    Transient,
    /// The database refused what some row holds: find the message.
    Data(Refusal),
    /// Nothing any message explains (an undefined column, a bug of ours).
    Ours,
}

pub(super) fn classify(err: &sqlx::Error) -> Failure {
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
pub(super) struct Streak {
    refusal: Option<RefusalKey>,
    bisections: u32,
    senders: HashSet<String>,
    last: Option<Instant>,
}

impl Streak {
    /// Counts a bisection's refused messages in; true when the refusal is
    /// now judged ours.
    pub(super) fn repeats(&mut self, refused: &[&Refused]) -> bool {
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

/// A message the database refused on its own.
pub(super) struct Refused {
    /// The message, as a batch of one.
    pub(super) part: Batch,
    pub(super) refusal: Refusal,
    /// An ordinary message of its shape is refused too: the fault is ours.
    pub(super) ours: bool,
}
