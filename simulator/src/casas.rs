//! Simulated days written as CASAS smart-home logs (the public research
//! format `YYYY-MM-DD HH:MM:SS.ffffff SENSOR VALUE`), one per resident, with
//! the sensor map `eldercare import casas` reads and the incidents' labels:
//! the detection-quality benchmark imports them as history and scores what
//! the rule backtest finds against the labels.
//!
//! Only what a CASAS home can record is written: motion, doors, the bed, the
//! kettle and the pill box. A fall on the watch or a racing heart is no
//! CASAS line.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::generate::Generated;
use crate::message::{EventName, MessageKind, ZigbeeChange};
use crate::model::{DeviceRole, SimConfig};

/// The map of every sensor a simulated home may have, by its CASAS name
/// (the device role's suffix).
pub fn map() -> String {
    let mut out = String::new();
    for role in DeviceRole::all() {
        let Some(kind) = kind(role) else { continue };
        let mut fields = vec![format!("kind = \"{kind}\"")];
        if let Some(room) = role.room() {
            fields.push(format!("room = \"{}\"", room.as_str()));
        }
        if let Some(placement) = role.placement() {
            fields.push(format!("placement = \"{placement}\""));
        }
        out.push_str(&format!("\"{}\" = {{{}}}\n", role.suffix(), fields.join(", ")));
    }
    out
}

fn kind(role: DeviceRole) -> Option<&'static str> {
    match role {
        DeviceRole::Motion(_) => Some("motion_sensor"),
        DeviceRole::EntranceDoor | DeviceRole::FridgeDoor => Some("door_sensor"),
        DeviceRole::BedSensor => Some("bed_sensor"),
        DeviceRole::KettlePlug => Some("smart_plug"),
        DeviceRole::PillBox => Some("pill_box"),
        _ => None,
    }
}

/// Each resident's log, by resident key, in the resident's local time.
pub fn logs(config: &SimConfig, generated: &Generated) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = config.residents.iter().map(|r| (r.key.clone(), String::new())).collect();
    for m in &generated.messages {
        let value = match m.kind {
            MessageKind::Zigbee(ZigbeeChange::Occupied | ZigbeeChange::PowerOn) => "ON",
            MessageKind::Zigbee(ZigbeeChange::Vacant | ZigbeeChange::PowerOff) => "OFF",
            MessageKind::Zigbee(ZigbeeChange::DoorOpened) => "OPEN",
            MessageKind::Zigbee(ZigbeeChange::DoorClosed) => "CLOSE",
            MessageKind::Event(EventName::BedEnter | EventName::MedicationTaken) => "ON",
            MessageKind::Event(EventName::BedExit) => "OFF",
            _ => continue,
        };
        let (Some(profile), Some(log)) = (config.resident(&m.resident), out.get_mut(&m.resident)) else { continue };
        let Some(role) = m.device_id.strip_prefix(&format!("{}-", m.resident)).and_then(DeviceRole::from_suffix) else {
            continue;
        };
        if kind(role).is_none() {
            continue;
        }
        let local = m.at.with_timezone(&profile.timezone).format("%Y-%m-%d %H:%M:%S%.6f");
        log.push_str(&format!("{local} {} {value}\n", role.suffix()));
    }
    out
}

/// The incidents and the labelled spans as labels: resident, kind, start,
/// end, and `class`: `incident` (what the rules should catch) or
/// `confounder` (ordinary life); a holiday says whether it was `recorded`.
pub fn labels(generated: &Generated) -> Value {
    let incidents = generated.incidents.iter().map(|r| {
        json!({"resident": r.resident, "kind": r.label(), "class": "incident", "start": r.at.to_rfc3339(),
               "end": r.until.map(|t| t.to_rfc3339()), "detail": r.detail})
    });
    let spans = generated.labels.iter().map(|l| {
        let class = if l.incident { "incident" } else { "confounder" };
        let mut label = json!({"resident": l.resident, "kind": l.kind, "class": class, "start": l.at.to_rfc3339(),
                               "end": l.until.to_rfc3339(), "detail": l.detail});
        if let Some(recorded) = l.recorded {
            label["recorded"] = json!(recorded);
        }
        label
    });
    Value::Array(incidents.chain(spans).collect())
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::*;
    use crate::generate::generate_with_incidents;

    #[test]
    fn a_day_becomes_casas_lines_the_map_names() {
        let config = SimConfig::generated(2, 7, chrono_tz::Asia::Shanghai);
        let from = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let generated = generate_with_incidents(&config, from, from + Duration::days(1));
        let map = map();
        let logs = logs(&config, &generated);
        assert_eq!(logs.len(), 2);
        for log in logs.values() {
            assert!(log.lines().count() > 20, "a day has motion");
            for line in log.lines() {
                let fields: Vec<&str> = line.split(' ').collect();
                assert_eq!(fields.len(), 4, "{line}");
                assert!(map.contains(&format!("\"{}\" =", fields[2])), "{line}");
                assert!(["ON", "OFF", "OPEN", "CLOSE"].contains(&fields[3]), "{line}");
            }
        }
        assert!(
            map.contains("\"door-entrance\" = {kind = \"door_sensor\", room = \"hall\", placement = \"entrance\"}")
        );
    }
}
