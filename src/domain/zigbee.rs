//! What the backend remembers of a Zigbee2MQTT device between messages.

/// Last known Zigbee2MQTT state of one device, to derive events on edges only.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ZigbeeState {
    pub occupancy: Option<bool>,
    pub contact: Option<bool>,
    pub water_leak: Option<bool>,
    pub smoke: Option<bool>,
    pub gas: Option<bool>,
    pub appliance_on: Option<bool>,
    pub action: Option<String>,
}
