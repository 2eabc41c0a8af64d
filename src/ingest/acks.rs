//! Acknowledges messages to the broker in the order they were received, and
//! only once the batch holding each is committed. Events and telemetry commit
//! in separate lanes, so a message may be committed before an earlier one;
//! its acknowledgement waits.

use std::collections::VecDeque;

use rumqttc::{AsyncClient, Publish, QoS};
use tokio::sync::mpsc;

pub enum AckMsg {
    /// A message entered the pipeline; `None` for QoS 0 (nothing to ack).
    Received(u64, Option<Publish>),
    /// These messages' data is committed.
    Committed(Vec<u64>),
}

/// Pure ordering logic: which acks may go out now.
#[derive(Default)]
pub struct Sequencer {
    /// Index of `pending[0]`.
    base: u64,
    pending: VecDeque<(Option<Publish>, bool)>,
}

impl Sequencer {
    pub fn received(&mut self, index: u64, publish: Option<Publish>) {
        if self.pending.is_empty() {
            self.base = index;
        }
        debug_assert_eq!(index, self.base + self.pending.len() as u64);
        self.pending.push_back((publish, false));
    }

    /// Marks messages committed and returns those that can now be acked.
    pub fn committed(&mut self, indices: &[u64]) -> Vec<Publish> {
        for &i in indices {
            if let Some(slot) = i.checked_sub(self.base).and_then(|o| self.pending.get_mut(o as usize)) {
                slot.1 = true;
            }
        }
        let mut ready = Vec::new();
        while self.pending.front().is_some_and(|(_, done)| *done) {
            if let Some((Some(p), _)) = self.pending.pop_front() {
                ready.push(p);
            }
            self.base += 1;
        }
        ready
    }

    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }
}

/// Runs until every sender is gone and nothing is outstanding.
pub async fn run(client: AsyncClient, mut rx: mpsc::UnboundedReceiver<AckMsg>) {
    let mut seq = Sequencer::default();
    while let Some(msg) = rx.recv().await {
        match msg {
            AckMsg::Received(index, publish) => seq.received(index, publish),
            AckMsg::Committed(indices) => {
                for publish in seq.committed(&indices) {
                    if publish.qos != QoS::AtMostOnce && client.ack(&publish).await.is_err() {
                        // The event loop is gone (shutdown); the broker
                        // redelivers what was not acknowledged.
                        return;
                    }
                }
            }
        }
    }
    if seq.outstanding() > 0 {
        tracing::warn!(
            outstanding = seq.outstanding(),
            "stopping with unacknowledged messages; the broker will redeliver them"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(pkid: u16) -> Option<Publish> {
        let mut p = Publish::new("t", QoS::AtLeastOnce, vec![]);
        p.pkid = pkid;
        Some(p)
    }

    #[test]
    fn acks_wait_for_every_earlier_message() {
        let mut s = Sequencer::default();
        for i in 0..4 {
            s.received(i, publish(i as u16 + 1));
        }
        assert!(s.committed(&[1, 2]).is_empty(), "0 is not committed yet");
        let ready: Vec<u16> = s.committed(&[0]).iter().map(|p| p.pkid).collect();
        assert_eq!(ready, vec![1, 2, 3]);
        assert_eq!(s.outstanding(), 1);
        let ready: Vec<u16> = s.committed(&[3]).iter().map(|p| p.pkid).collect();
        assert_eq!(ready, vec![4]);
        assert_eq!(s.outstanding(), 0);
    }

    #[test]
    fn qos0_messages_hold_their_place_but_are_not_acked() {
        let mut s = Sequencer::default();
        s.received(10, None);
        s.received(11, publish(7));
        assert!(s.committed(&[11]).is_empty());
        let ready: Vec<u16> = s.committed(&[10]).iter().map(|p| p.pkid).collect();
        assert_eq!(ready, vec![7]);
        s.received(12, publish(8));
        assert_eq!(s.committed(&[12]).len(), 1);
    }
}
