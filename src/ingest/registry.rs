//! The registered devices, held in memory for the decoder: one lookup per
//! message must not be a database round trip.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::PgPool;
use uuid::Uuid;

use super::decode::{Registry, ZigbeeState};
use crate::domain::device::{DeviceInfo, Registered};
use crate::domain::{DeviceKind, Source};

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

#[derive(sqlx::FromRow)]
struct Row {
    device_id: String,
    kind: DeviceKind,
    room: Option<String>,
    placement: Option<String>,
    power_on_threshold_w: f64,
    source: Source,
    external_id: Option<String>,
    institution_id: Uuid,
    resident_id: Option<Uuid>,
    base_topic: Option<String>,
}

impl DeviceRegistry {
    pub async fn load(pool: &PgPool) -> Result<Self, sqlx::Error> {
        let rows: Vec<Row> = sqlx::query_as(
            "select d.device_id, d.kind, d.room, d.placement, d.power_on_threshold_w, d.source, d.external_id,
                    d.institution_id, d.resident_id, g.base_topic
             from devices d left join gateways g on g.gateway_id = d.gateway_id",
        )
        .fetch_all(pool)
        .await?;
        let gateways: Vec<String> = sqlx::query_scalar("select base_topic from gateways").fetch_all(pool).await?;
        let mut registry = DeviceRegistry {
            gateways: gateways.iter().filter_map(|b| b.strip_prefix(ZIGBEE_PREFIX)).map(str::to_owned).collect(),
            ..DeviceRegistry::default()
        };
        for row in rows {
            let device = Arc::new(Registered {
                info: DeviceInfo {
                    device_id: row.device_id.clone(),
                    kind: row.kind,
                    room: row.room,
                    placement: row.placement,
                    power_on_threshold_w: row.power_on_threshold_w,
                },
                institution_id: row.institution_id,
                resident_id: row.resident_id,
            });
            registry.by_id.insert(row.device_id.clone(), device.clone());
            match (row.source, row.external_id) {
                (Source::Zigbee2Mqtt, Some(name)) => {
                    registry.zigbee.insert(zigbee_key(row.base_topic.as_deref(), &name), device);
                }
                _ => {
                    registry.native.insert(row.device_id, device);
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

/// The last Zigbee2MQTT states as committed, so edge derivation survives a
/// restart.
pub async fn load_zigbee_states(pool: &PgPool) -> Result<HashMap<String, ZigbeeState>, sqlx::Error> {
    let rows: Vec<(String, sqlx::types::Json<ZigbeeState>)> =
        sqlx::query_as("select device_id, zigbee_state from device_state where zigbee_state is not null")
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(id, state)| (id, state.0)).collect())
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
