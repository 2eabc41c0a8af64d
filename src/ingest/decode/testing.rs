//! What the decoders' tests share: a registry of a few devices, and ways to
//! run a message through the decoder and look at what came out.

use super::*;
use crate::domain::DeviceKind;
use crate::domain::device::DEFAULT_POWER_ON_THRESHOLD_W;

pub(super) fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// One minute after the contract's example timestamps.
pub(super) fn now() -> DateTime<Utc> {
    at("2026-11-28T08:01:00Z")
}

pub(super) struct Devices {
    native: HashMap<String, DeviceInfo>,
    zigbee: HashMap<String, DeviceInfo>,
}

impl Registry for Devices {
    fn native(&self, device_id: &str) -> Option<&DeviceInfo> {
        self.native.get(device_id)
    }

    fn zigbee(&self, friendly_name: &str) -> Option<&DeviceInfo> {
        self.zigbee.get(friendly_name)
    }
}

pub(super) fn device(id: &str, kind: &str, room: Option<&str>, placement: Option<&str>) -> DeviceInfo {
    DeviceInfo {
        device_id: id.into(),
        kind: DeviceKind::parse(kind).unwrap(),
        room: room.map(Into::into),
        placement: placement.map(Into::into),
        power_on_threshold_w: DEFAULT_POWER_ON_THRESHOLD_W,
    }
}

pub(super) fn devices() -> Devices {
    let native = [device("watch-1", "wearable", Some("bedroom"), None), device("gw-1", "health_gateway", None, None)];
    let zigbee = [
        ("hall/motion", device("z-motion", "motion_sensor", Some("hall"), None)),
        ("front door", device("z-door", "door_sensor", Some("hall"), Some("entrance"))),
        ("kettle plug", device("z-plug", "smart_plug", Some("kitchen"), Some("kettle"))),
        ("red button", device("z-sos", "sos_button", Some("bedroom"), None)),
        ("remote", device("z-remote", "motion_sensor", Some("lounge"), None)),
        ("hazard", device("z-hazard", "hazard_sensor", Some("kitchen"), None)),
    ];
    Devices {
        native: native.into_iter().map(|d| (d.device_id.clone(), d)).collect(),
        zigbee: zigbee.into_iter().map(|(n, d)| (n.to_owned(), d)).collect(),
    }
}

pub(super) fn run_at(topic: &str, payload: &str, now: DateTime<Utc>) -> Decoded {
    decode(topic, payload.as_bytes(), now, &devices(), &mut HashMap::new())
}

pub(super) fn run(topic: &str, payload: &str) -> Decoded {
    run_at(topic, payload, now())
}

pub(super) fn reasons(decoded: &Decoded) -> Vec<Reason> {
    decoded.rejections.iter().map(|r| r.reason).collect()
}

pub(super) fn metrics(decoded: &Decoded) -> Vec<(Metric, f64)> {
    decoded.readings.iter().map(|r| (r.metric, r.value)).collect()
}

pub(super) fn kinds(decoded: &Decoded) -> Vec<&str> {
    decoded.events.iter().map(|e| e.kind.as_str()).collect()
}

pub(super) fn assert_rejected(decoded: &Decoded, reason: Reason) {
    assert_eq!(reasons(decoded), vec![reason], "{decoded:#?}");
    assert!(decoded.readings.is_empty() && decoded.events.is_empty() && decoded.status.is_none());
}

pub(super) const TELEMETRY: &str = "eldercare/v1/watch-1/telemetry";
pub(super) const EVENT: &str = "eldercare/v1/watch-1/event";
pub(super) const STATUS: &str = "eldercare/v1/watch-1/status";
pub(super) const FHIR: &str = "eldercare/v1/gw-1/fhir";
