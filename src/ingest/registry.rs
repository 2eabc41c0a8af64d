//! The registered devices, held in memory for the decoder: one lookup per
//! message must not be a database round trip.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::PgPool;
use sqlx::postgres::PgNotification;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::decode::Registry;
use crate::domain::Source;
use crate::domain::device::{DeviceInfo, Registered};
use crate::store::{self, devices, listen};

/// The channel on which a process announces that it changed the devices,
/// so that every other process reloads its registry before the new device's
/// first message (which the shared telemetry may hand to any of them).
pub const CHANGED_CHANNEL: &str = "eldercare_devices";

/// Tells every process that the devices changed. Called after the commit.
pub async fn announce(pool: &PgPool) -> Result<(), sqlx::Error> {
    store::ingest::announce(pool, CHANGED_CHANNEL).await
}

/// Bumps `changed` on each announcement from any process, until `shutdown`,
/// listening again after a lost connection (and reloading then: whatever
/// changed while nobody listened).
pub async fn follow(pool: PgPool, changed: std::sync::Arc<watch::Sender<u64>>, shutdown: CancellationToken) {
    listen::follow(&pool, "device change", &[CHANGED_CHANNEL], &mut Changes(changed), &shutdown).await;
}

/// Every announcement, and every fresh start of listening, moves the
/// registry's generation on.
struct Changes(std::sync::Arc<watch::Sender<u64>>);

impl listen::Listener for Changes {
    fn listening(&mut self) {
        self.0.send_modify(|v| *v += 1);
    }

    async fn heard(&mut self, _pool: &PgPool, _notification: PgNotification) -> Result<(), sqlx::Error> {
        self.0.send_modify(|v| *v += 1);
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct DeviceRegistry {
    /// Every device by its registered id.
    by_id: HashMap<String, Arc<Registered>>,
    /// Native devices by topic id.
    native: HashMap<String, Arc<Registered>>,
    /// Zigbee2MQTT devices by their topic below `zigbee2mqtt/`: the friendly
    /// name, prefixed with the gateway's base topic for a device behind one.
    zigbee: HashMap<String, Arc<Registered>>,
    /// Gateways' base topics below `zigbee2mqtt/`, whose `bridge/...` topics
    /// are the bridge's own chatter, not a device's.
    gateways: Vec<String>,
}

impl DeviceRegistry {
    pub async fn load(pool: &PgPool) -> Result<Self, sqlx::Error> {
        let registrations = devices::registrations(pool).await?;
        let gateways = devices::gateway_topics(pool).await?;
        let mut registry = DeviceRegistry {
            gateways: gateways.iter().filter_map(|b| b.strip_prefix(ZIGBEE_PREFIX)).map(str::to_owned).collect(),
            ..DeviceRegistry::default()
        };
        for r in registrations {
            let device = Arc::new(r.device);
            let id = device.info.device_id.clone();
            registry.by_id.insert(id.clone(), device.clone());
            match (r.source, r.external_id) {
                (Source::Zigbee2Mqtt, Some(name)) => {
                    registry.zigbee.insert(zigbee_key(r.base_topic.as_deref(), &name), device);
                }
                _ => {
                    registry.native.insert(id, device);
                }
            }
        }
        Ok(registry)
    }

    /// The registration a decoded message's device id refers to.
    pub fn get(&self, device_id: &str) -> Option<&Arc<Registered>> {
        self.by_id.get(device_id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Registry for DeviceRegistry {
    fn native(&self, device_id: &str) -> Option<&DeviceInfo> {
        self.native.get(device_id).map(|d| &d.info)
    }

    fn zigbee(&self, friendly_name: &str) -> Option<&DeviceInfo> {
        self.zigbee.get(friendly_name).map(|d| &d.info)
    }

    fn zigbee_bridge(&self, name: &str) -> bool {
        self.gateways.iter().any(|base| {
            name.strip_prefix(base.as_str())
                .and_then(|rest| rest.strip_prefix("/bridge"))
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    }
}

/// Gateways live under the contract's Zigbee2MQTT prefix (the API refuses
/// any other base topic), so the ingest subscription covers them all.
const ZIGBEE_PREFIX: &str = "zigbee2mqtt/";

/// Where a Zigbee2MQTT device's messages arrive, below `zigbee2mqtt/`:
/// `{base_topic}/{external_id}` behind a gateway, `{external_id}` without.
fn zigbee_key(base_topic: Option<&str>, external_id: &str) -> String {
    match base_topic.and_then(|b| b.strip_prefix(ZIGBEE_PREFIX)) {
        Some(base) => format!("{base}/{external_id}"),
        None => external_id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateways_devices_are_found_under_its_base_topic() {
        assert_eq!(zigbee_key(Some("zigbee2mqtt/home-17"), "living_room_motion"), "home-17/living_room_motion");
        assert_eq!(zigbee_key(None, "hall/motion"), "hall/motion");
        let registry = DeviceRegistry { gateways: vec!["home-17".into()], ..DeviceRegistry::default() };
        assert!(registry.zigbee_bridge("home-17/bridge"));
        assert!(registry.zigbee_bridge("home-17/bridge/state"));
        assert!(!registry.zigbee_bridge("home-17/bridgeroom_motion"));
        assert!(!registry.zigbee_bridge("home-18/bridge/state"));
    }
}
