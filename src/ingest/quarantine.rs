//! What the quarantine may hold: text PostgreSQL accepts, a bounded number of
//! rows per device and hour (its retention is the leader's, in `retention`).

use std::collections::HashMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

/// Makes text from the input storable in a `text` column: a NUL (which
/// PostgreSQL refuses) becomes U+FFFD. Allocates only when there is one.
pub fn storable(text: String) -> String {
    if text.contains('\0') { text.replace('\0', "\u{FFFD}") } else { text }
}

/// Who a quarantined message is charged to: its registered device, or, for a
/// sender nobody registered (whose claimed ids are free to vary), the topic's
/// first level, so a flood of invented ids shares one budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    Device(String),
    Unregistered(&'static str),
}

impl Sender {
    pub fn unregistered(topic: &str) -> Sender {
        Sender::Unregistered(match topic.split('/').next() {
            Some("eldercare") => "eldercare",
            Some("zigbee2mqtt") => "zigbee2mqtt",
            _ => "other",
        })
    }

    pub fn device_id(&self) -> Option<&str> {
        match self {
            Sender::Device(id) => Some(id),
            Sender::Unregistered(_) => None,
        }
    }

    pub fn topic_prefix(&self) -> &'static str {
        match self {
            Sender::Device(_) => "",
            Sender::Unregistered(prefix) => prefix,
        }
    }
}

/// The hour a message is charged to.
pub fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at)
}

/// Quarantine rows admitted this hour, per sender: a device stuck sending
/// garbage must not fill the table. Held in memory by each writer lane; only
/// the current hour is kept, so it never outgrows the senders that
/// misbehave within one hour.
#[derive(Debug)]
pub struct Budget {
    per_hour: u32,
    hour: Option<DateTime<Utc>>,
    devices: HashMap<String, u32>,
    unregistered: HashMap<&'static str, u32>,
}

impl Budget {
    pub fn new(per_hour: u32) -> Budget {
        Budget { per_hour, hour: None, devices: HashMap::new(), unregistered: HashMap::new() }
    }

    /// Whether one more row of `sender` may be stored in `hour`; counts it if so.
    pub fn admit(&mut self, sender: &Sender, hour: DateTime<Utc>) -> bool {
        if self.hour.is_none_or(|current| hour > current) {
            self.hour = Some(hour);
            self.devices.clear();
            self.unregistered.clear();
        }
        let used = match sender {
            Sender::Device(id) => match self.devices.get_mut(id.as_str()) {
                Some(used) => used,
                None => self.devices.entry(id.clone()).or_default(),
            },
            Sender::Unregistered(prefix) => self.unregistered.entry(prefix).or_default(),
        };
        if *used >= self.per_hour {
            return false;
        }
        *used += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn storable_text_loses_only_its_nuls() {
        assert_eq!(storable("a\0b\0".into()), "a\u{FFFD}b\u{FFFD}");
        assert_eq!(storable("zigbee2mqtt/hall".into()), "zigbee2mqtt/hall");
    }

    #[test]
    fn the_budget_is_per_sender_and_hour() {
        let mut budget = Budget::new(2);
        let (watch, plug) = (Sender::Device("watch-1".into()), Sender::Device("plug-1".into()));
        let nine = hour_of(at("2026-11-28T09:59:59Z"));
        assert_eq!(nine, at("2026-11-28T09:00:00Z"));
        let admitted: Vec<bool> = (0..3).map(|_| budget.admit(&watch, nine)).collect();
        assert_eq!(admitted, vec![true, true, false]);
        assert!(budget.admit(&plug, nine), "another device has its own budget");
        let ten = hour_of(at("2026-11-28T10:00:00Z"));
        assert!(budget.admit(&watch, ten), "a new hour, a new budget");
        assert!(budget.admit(&watch, nine), "a late message counts in the current hour");
        assert!(!budget.admit(&watch, ten));
    }

    #[test]
    fn unregistered_senders_share_a_budget_per_topic_prefix() {
        let mut budget = Budget::new(1);
        let hour = hour_of(at("2026-11-28T09:00:00Z"));
        let ghost = Sender::unregistered("eldercare/v1/ghost-1/telemetry");
        assert!(budget.admit(&ghost, hour));
        assert!(!budget.admit(&Sender::unregistered("eldercare/v1/ghost-2/event"), hour));
        assert!(budget.admit(&Sender::unregistered("zigbee2mqtt/attic"), hour));
        assert!(budget.admit(&Sender::unregistered("homeassistant/x"), hour));
        assert_eq!((ghost.device_id(), ghost.topic_prefix()), (None, "eldercare"));
    }
}
