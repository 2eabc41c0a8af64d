//! The registered devices, held in memory for the decoder: one lookup per
//! message must not be a database round trip.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::PgPool;
use uuid::Uuid;

use super::decode::{DeviceInfo, Registry, ZigbeeState};

/// A device as the ingest path needs it: what the decoder reads, and whom its
/// data belongs to.
#[derive(Debug)]
pub struct Registered {
    pub info: DeviceInfo,
    pub institution_id: Uuid,
    pub resident_id: Option<Uuid>,
}

#[derive(Debug, Default)]
pub struct DeviceRegistry {
    /// Every device by its registered id.
    by_id: HashMap<String, Arc<Registered>>,
    /// Native devices by topic id.
    native: HashMap<String, Arc<Registered>>,
    /// Zigbee2MQTT devices by friendly name.
    zigbee: HashMap<String, Arc<Registered>>,
}

#[derive(sqlx::FromRow)]
struct Row {
    device_id: String,
    kind: String,
    room: Option<String>,
    placement: Option<String>,
    power_on_threshold_w: f64,
    source: String,
    external_id: Option<String>,
    institution_id: Uuid,
    resident_id: Option<Uuid>,
}

impl DeviceRegistry {
    pub async fn load(pool: &PgPool) -> Result<Self, sqlx::Error> {
        let rows: Vec<Row> = sqlx::query_as(
            "select device_id, kind, room, placement, power_on_threshold_w, source, external_id,
                    institution_id, resident_id
             from devices",
        )
        .fetch_all(pool)
        .await?;
        let mut registry = DeviceRegistry::default();
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
            match (row.source.as_str(), row.external_id) {
                ("zigbee2mqtt", Some(name)) => {
                    registry.zigbee.insert(name, device);
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
