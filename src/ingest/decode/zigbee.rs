//! Zigbee2MQTT: device states, from which events are derived on edges, and
//! availability.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::fields::*;
use super::{Decoded, Event, Reading, Received, Status, ZigbeeStates};
use crate::domain::device::DeviceInfo;
use crate::domain::{DeviceKind, EventKind, Metric};

/// Readings and edge-triggered events from a Zigbee2MQTT state. A field with a
/// wrong type is rejected on its own, so one odd field does not hide the rest.
pub(super) fn state(
    payload: &[u8],
    now: Received,
    device: &DeviceInfo,
    states: &mut impl ZigbeeStates,
    out: &mut Decoded,
) -> Checked<()> {
    let root = parse_json(payload)?;
    let obj = object(&root, "Zigbee2MQTT state")?;
    let given_ts = optional_timestamp(obj, "last_seen", now)?;
    let ts = given_ts.unwrap_or(now.at);
    out.ts_was_missing = given_ts.is_none();

    let previous = states.get(&device.device_id).cloned().unwrap_or_default();
    let mut next = previous.clone();
    let mut derived = Derived { device, ts, out: &mut *out };

    if let Some(occupied) = derived.flag(obj, "occupancy") {
        if occupied && previous.occupancy != Some(true) {
            derived.event(EventKind::Motion, Map::new());
        }
        next.occupancy = Some(occupied);
    }
    if let Some(closed) = derived.flag(obj, "contact") {
        if previous.contact != Some(closed) {
            let kind = if closed { EventKind::DoorClosed } else { EventKind::DoorOpened };
            derived.event(kind, derived.placement("door"));
        }
        next.contact = Some(closed);
    }
    for (name, kind, last) in [
        ("water_leak", EventKind::WaterLeak, &mut next.water_leak),
        ("smoke", EventKind::SmokeDetected, &mut next.smoke),
        ("gas", EventKind::GasDetected, &mut next.gas),
    ] {
        if let Some(alarm) = derived.flag(obj, name) {
            if alarm && *last != Some(true) {
                derived.event(kind, Map::new());
            }
            *last = Some(alarm);
        }
    }
    match field(obj, "action") {
        None => {}
        Some(Value::String(action)) => {
            // Zigbee2MQTT publishes an action once and then clears it, so
            // every message that carries it is a new press.
            let sos = matches!(action.as_str(), "emergency" | "sos")
                || (action == "single" && device.kind == DeviceKind::SosButton);
            if sos {
                let mut data = Map::new();
                data.insert("action".into(), Value::String(action.clone()));
                derived.event(EventKind::SosPressed, data);
            }
            next.action = Some(action.clone());
        }
        Some(other) => derived.reject(Fault::malformed(format!("action must be a string, got {}", echo_json(other)))),
    }
    if let Some(watts) = derived.reading(obj, "power", Metric::Power) {
        let on = watts >= device.power_on_threshold_w;
        // First sight of an idle appliance is no event: nothing was switched.
        let switched = previous.appliance_on.map_or(on, |was_on| was_on != on);
        if switched {
            let kind = if on { EventKind::ApplianceOn } else { EventKind::ApplianceOff };
            let mut data = derived.placement("appliance");
            data.insert("power".into(), json!(watts));
            derived.event(kind, data);
        }
        next.appliance_on = Some(on);
    }
    derived.reading(obj, "temperature", Metric::RoomTemperature);
    derived.reading(obj, "humidity", Metric::Humidity);
    derived.reading(obj, "battery", Metric::Battery);

    states.set(&device.device_id, next);
    Ok(())
}

/// Collects what one Zigbee2MQTT state yields, attributed to its device.
pub(super) struct Derived<'a> {
    device: &'a DeviceInfo,
    ts: DateTime<Utc>,
    out: &'a mut Decoded,
}

impl Derived<'_> {
    fn reject(&mut self, fault: Fault) {
        self.out.rejections.push(fault.into_rejection());
    }

    fn flag(&mut self, obj: &Map<String, Value>, name: &str) -> Option<bool> {
        optional_bool(obj, name).unwrap_or_else(|fault| {
            self.reject(fault);
            None
        })
    }

    fn reading(&mut self, obj: &Map<String, Value>, name: &str, metric: Metric) -> Option<f64> {
        let value = optional_number(obj, name)
            .and_then(|value| value.map(|value| plausible(metric, value, name)).transpose())
            .unwrap_or_else(|fault| {
                self.reject(fault);
                None
            })?;
        self.out.readings.push(Reading { metric, ts: self.ts, value, seq: None });
        Some(value)
    }

    fn placement(&self, key: &str) -> Map<String, Value> {
        let mut data = Map::new();
        if let Some(placement) = &self.device.placement {
            data.insert(key.into(), Value::String(placement.clone()));
        }
        data
    }

    /// Every derived event names the device's room, when registered, so rules
    /// can place it without a registry lookup.
    fn event(&mut self, kind: EventKind, mut data: Map<String, Value>) {
        if let Some(room) = &self.device.room {
            data.entry("room").or_insert_with(|| Value::String(room.clone()));
        }
        self.out.events.push(Event { kind, ts: self.ts, data: Value::Object(data), seq: None });
    }
}

pub(super) fn availability(payload: &[u8], now: Received, out: &mut Decoded) -> Checked<()> {
    let text = std::str::from_utf8(payload).map_err(|_| Fault::malformed("availability payload is not UTF-8"))?.trim();
    let online = match text {
        "online" => Some(true),
        "offline" => Some(false),
        _ => serde_json::from_str::<Value>(text).ok().and_then(|value| {
            match value.get("state").and_then(Value::as_str) {
                Some("online") => Some(true),
                Some("offline") => Some(false),
                _ => None,
            }
        }),
    };
    let Some(online) = online else {
        return Err(Fault::malformed(format!(
            "availability must be online/offline or {{\"state\":\"online\"|\"offline\"}}, got {}",
            echo(text)
        )));
    };
    out.ts_was_missing = true;
    out.status = Some(Status { ts: now.at, online: Some(online), battery: None, rssi: None, firmware: None });
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::*;
    use super::super::*;

    #[test]
    fn contract_availability_plain_and_json() {
        for (payload, online) in
            [("online", true), ("offline", false), (r#"{"state":"online"}"#, true), (r#"{"state":"offline"}"#, false)]
        {
            let decoded = run("zigbee2mqtt/front door/availability", payload);
            assert_eq!(decoded.device_id.as_deref(), Some("z-door"));
            assert_eq!(decoded.status.map(|s| (s.ts, s.online)), Some((now(), Some(online))));
            assert!(decoded.rejections.is_empty());
        }
        for payload in ["ONLINE", "1", r#"{"state":"away"}"#, "[]"] {
            assert_rejected(&run("zigbee2mqtt/front door/availability", payload), Reason::Malformed);
        }
    }

    /// Feeds successive Zigbee2MQTT states of one device through shared state.
    fn z2m_sequence(name: &str, payloads: &[&str]) -> Vec<Decoded> {
        let registry = devices();
        let mut states = HashMap::new();
        payloads
            .iter()
            .map(|payload| decode(&format!("zigbee2mqtt/{name}"), payload.as_bytes(), now(), &registry, &mut states))
            .collect()
    }

    #[test]
    fn z2m_occupancy_emits_on_rising_edge_only() {
        let out = z2m_sequence(
            "hall/motion",
            &[
                r#"{"occupancy": true, "battery": 90, "linkquality": 120}"#,
                r#"{"occupancy": true, "battery": 90, "linkquality": 118}"#,
                r#"{"occupancy": false, "battery": 90}"#,
                r#"{"occupancy": false}"#,
                r#"{"occupancy": true}"#,
            ],
        );
        let emitted: Vec<Vec<&str>> = out.iter().map(kinds).collect();
        assert_eq!(emitted, vec![vec!["motion"], vec![], vec![], vec![], vec!["motion"]]);
        assert_eq!(out[0].events[0].data, json!({"room": "hall"}));
        assert_eq!(metrics(&out[0]), vec![(Metric::Battery, 90.0)]);
        assert!(out.iter().all(|d| d.rejections.is_empty()));
    }

    #[test]
    fn z2m_contact_emits_on_change_including_first_sight() {
        let out = z2m_sequence(
            "front door",
            &[
                r#"{"contact": true}"#,
                r#"{"contact": true}"#,
                r#"{"contact": false}"#,
                r#"{"contact": false, "battery": 80}"#,
                r#"{"contact": true}"#,
            ],
        );
        let emitted: Vec<Vec<&str>> = out.iter().map(kinds).collect();
        assert_eq!(emitted, vec![vec!["door_closed"], vec![], vec!["door_opened"], vec![], vec!["door_closed"]]);
        assert_eq!(out[2].events[0].data, json!({"door": "entrance", "room": "hall"}));
    }

    #[test]
    fn z2m_power_threshold_edges() {
        let out = z2m_sequence(
            "kettle plug",
            &[
                r#"{"power": 1.5}"#,
                r#"{"power": 20}"#,
                r#"{"power": 2100}"#,
                r#"{"power": 19.9}"#,
                r#"{"power": 0}"#,
                r#"{"power": 50000}"#,
            ],
        );
        let emitted: Vec<Vec<&str>> = out.iter().map(kinds).collect();
        assert_eq!(emitted, vec![vec![], vec!["appliance_on"], vec![], vec!["appliance_off"], vec![], vec![]]);
        assert_eq!(out[1].events[0].data, json!({"appliance": "kettle", "room": "kitchen", "power": 20.0}));
        assert_eq!(metrics(&out[2]), vec![(Metric::Power, 2100.0)]);
        assert_eq!(reasons(&out[5]), vec![Reason::ImplausibleValue]);

        let first_on = z2m_sequence("kettle plug", &[r#"{"power": 1800}"#]);
        assert_eq!(kinds(&first_on[0]), vec!["appliance_on"]);
    }

    #[test]
    fn z2m_sos_actions_are_momentary() {
        let out = z2m_sequence(
            "red button",
            &[
                r#"{"action": "single"}"#,
                r#"{"action": ""}"#,
                r#"{"action": "single"}"#,
                r#"{"action": "double"}"#,
                r#"{"battery": 100}"#,
            ],
        );
        let emitted: Vec<Vec<&str>> = out.iter().map(kinds).collect();
        assert_eq!(emitted, vec![vec!["sos_pressed"], vec![], vec!["sos_pressed"], vec![], vec![]]);
        assert_eq!(out[0].events[0].data, json!({"action": "single", "room": "bedroom"}));

        let out =
            z2m_sequence("remote", &[r#"{"action": "single"}"#, r#"{"action": "emergency"}"#, r#"{"action": "sos"}"#]);
        let emitted: Vec<Vec<&str>> = out.iter().map(kinds).collect();
        assert_eq!(emitted, vec![vec![], vec!["sos_pressed"], vec!["sos_pressed"]]);
    }

    #[test]
    fn z2m_hazards_emit_on_rising_edge() {
        let out = z2m_sequence(
            "hazard",
            &[
                r#"{"water_leak": false, "smoke": false, "gas": false}"#,
                r#"{"water_leak": true, "smoke": false, "gas": false}"#,
                r#"{"water_leak": true, "smoke": true, "gas": true}"#,
                r#"{"water_leak": true, "smoke": true, "gas": true}"#,
                r#"{"water_leak": false, "smoke": false, "gas": false}"#,
                r#"{"water_leak": true}"#,
            ],
        );
        let emitted: Vec<Vec<&str>> = out.iter().map(kinds).collect();
        assert_eq!(
            emitted,
            vec![
                vec![],
                vec!["water_leak"],
                vec!["smoke_detected", "gas_detected"],
                vec![],
                vec![],
                vec!["water_leak"]
            ]
        );
    }

    #[test]
    fn z2m_readings_timestamps_and_odd_fields() {
        let out = z2m_sequence(
            "hall/motion",
            &[
                r#"{"temperature": 21.5, "humidity": 48, "battery": 97, "linkquality": 80, "voltage": 3000,
                    "last_seen": "2026-11-28T07:59:30.000Z"}"#,
                r#"{"temperature": 21.5, "last_seen": 1795852740000}"#,
                r#"{"occupancy": "yes", "temperature": 22}"#,
                r#"{"temperature": 21, "last_seen": "2026-12-28T00:00:00Z"}"#,
            ],
        );
        assert_eq!(
            metrics(&out[0]),
            vec![(Metric::RoomTemperature, 21.5), (Metric::Humidity, 48.0), (Metric::Battery, 97.0)]
        );
        assert!(out[0].readings.iter().all(|r| r.ts == at("2026-11-28T07:59:30Z")));
        assert!(!out[0].ts_was_missing);
        assert_eq!(out[1].readings[0].ts, at("2026-11-28T07:59:00Z"));
        assert_eq!(metrics(&out[2]), vec![(Metric::RoomTemperature, 22.0)]);
        assert_eq!(reasons(&out[2]), vec![Reason::Malformed]);
        assert!(out[2].ts_was_missing && out[2].events.is_empty());
        assert_rejected(&out[3], Reason::TimestampOutOfBounds);
    }

    #[test]
    fn z2m_state_is_kept_per_device() {
        let registry = devices();
        let mut states: HashMap<String, ZigbeeState> = HashMap::new();
        decode("zigbee2mqtt/front door", br#"{"contact": false}"#, now(), &registry, &mut states);
        decode("zigbee2mqtt/kettle plug", br#"{"power": 30}"#, now(), &registry, &mut states);
        assert_eq!(states["z-door"], ZigbeeState { contact: Some(false), ..ZigbeeState::default() });
        assert_eq!(states["z-plug"].appliance_on, Some(true));
        let rejected = decode("zigbee2mqtt/front door", b"[]", now(), &registry, &mut states);
        assert_rejected(&rejected, Reason::Malformed);
        assert_eq!(states["z-door"].contact, Some(false));
    }
}
