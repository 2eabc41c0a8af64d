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

mod batch;
mod commit;
mod failure;
mod lane;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::decode::Decoded;
use crate::domain::device::Registered;
use crate::domain::zigbee::ZigbeeState;
pub use commit::store_history;
pub use lane::{Lane, LaneSettings};

/// One received MQTT message after decoding.
#[derive(Debug)]
pub struct Item {
    /// Receipt order, for acknowledging in order.
    pub index: u64,
    pub topic: String,
    /// The raw payload, at most [`MAX_PAYLOAD`](super::decode::MAX_PAYLOAD) bytes of it and never a view
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::batch::{Batch, gather};
    use super::failure::{Refusal, Refused, Streak};
    use super::*;
    use crate::domain::device::DeviceInfo;
    use crate::domain::{DeviceKind, EventKind, Metric, Reason};
    use crate::ingest::decode::{Event, Reading, Rejection};
    use crate::ingest::quarantine::Budget;
    use crate::metrics::Metrics;
    use uuid::Uuid;

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
