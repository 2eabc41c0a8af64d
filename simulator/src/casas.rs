//! Simulated days written as CASAS smart-home logs (the public research
//! format `YYYY-MM-DD HH:MM:SS.ffffff SENSOR VALUE`), one per resident, with
//! the sensor map `eldercare import casas` reads and the incidents' labels:
//! the detection-quality benchmark imports them as history and scores what
//! the rule backtest finds against the labels.
//!
//! Only what a CASAS home can record is written: motion, doors, the bed, the
//! kettle and the pill box. A fall on the watch or a racing heart is no
//! CASAS line. A dead sensor is written as the live system would have known
//! it: `OFFLINE` once its kind's heartbeat timeout has run from its death,
//! `ONLINE` when it speaks again (status lines `eldercare import casas`
//! takes beyond the CASAS values).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use eldercare_domain::heartbeat_timeout;
use serde_json::{Value, json};

use crate::confounders;
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
    let mut lines: BTreeMap<String, Vec<(DateTime<Utc>, String)>> =
        config.residents.iter().map(|r| (r.key.clone(), Vec::new())).collect();
    let line = |profile: &crate::model::ResidentProfile, at: DateTime<Utc>, role: DeviceRole, value: &str| {
        let local = at.with_timezone(&profile.timezone).format("%Y-%m-%d %H:%M:%S%.6f");
        (at, format!("{local} {} {value}\n", role.suffix()))
    };
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
        let (Some(profile), Some(log)) = (config.resident(&m.resident), lines.get_mut(&m.resident)) else { continue };
        let Some(role) = m.device_id.strip_prefix(&format!("{}-", m.resident)).and_then(DeviceRole::from_suffix) else {
            continue;
        };
        if kind(role).is_none() {
            continue;
        }
        log.push(line(profile, m.at, role, value));
    }
    // Nothing is written past a log's last line.
    let ends: BTreeMap<String, DateTime<Utc>> =
        lines.iter().filter_map(|(key, log)| Some((key.clone(), log.last()?.0))).collect();
    for label in generated.labels.iter().filter(|l| l.kind == "sensor_dead") {
        let (Some(profile), Some(log)) = (config.resident(&label.resident), lines.get_mut(&label.resident)) else {
            continue;
        };
        let died = label.at;
        let Some((role, back)) = confounders::died_at(config.seed, profile, &config.confounders, died) else {
            continue;
        };
        let offline = died + heartbeat_timeout(role.kind());
        let Some(&end) = ends.get(&label.resident) else { continue };
        if offline < back && offline <= end {
            log.push(line(profile, offline, role, "OFFLINE"));
            if back <= end {
                log.push(line(profile, back, role, "ONLINE"));
            }
        }
    }
    lines
        .into_iter()
        .map(|(key, mut log)| {
            log.sort_by_key(|(at, _)| *at);
            (key, log.into_iter().map(|(_, text)| text).collect())
        })
        .collect()
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

    #[test]
    fn a_dead_sensor_goes_offline_in_the_log_when_its_timeout_has_run_and_online_when_it_speaks() {
        let mut config = SimConfig::generated(4, 11, chrono_tz::Asia::Shanghai);
        config.confounders.sensor_deaths = 1.0;
        config.hall_sensors(0.5);
        let from = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let generated = generate_with_incidents(&config, from, from + Duration::days(28));
        let logs = logs(&config, &generated);
        let mut seen = 0;
        for label in generated.labels.iter().filter(|l| l.kind == "sensor_dead") {
            let profile = config.resident(&label.resident).unwrap();
            let log = &logs[&label.resident];
            let suffix = label.detail.split(' ').next().unwrap();
            let local = |at: chrono::DateTime<Utc>| {
                at.with_timezone(&profile.timezone).format("%Y-%m-%d %H:%M:%S%.6f").to_string()
            };
            let (died, until) = (local(label.at), local(label.until));
            let status: Vec<(&str, &str)> = log
                .lines()
                .filter(|l| l.contains(&format!(" {suffix} O")) && l.ends_with("LINE"))
                .map(|l| (l.get(..26).unwrap(), l.rsplit(' ').next().unwrap()))
                .filter(|(at, _)| (died.as_str()..=until.as_str()).contains(at))
                .collect();
            assert!(profile.devices().iter().any(|d| d.role.suffix() == suffix), "{suffix} is in the home");
            let offline = local(label.at + Duration::hours(26));
            let mut want = vec![(offline.as_str(), "OFFLINE")];
            // Unless the log ends before it speaks again.
            let last = log.lines().rfind(|l| !l.ends_with("LINE")).and_then(|l| l.get(..26)).unwrap();
            if until.as_str() <= last {
                want.push((until.as_str(), "ONLINE"));
            }
            assert_eq!(status, want, "{}", label.detail);
            seen += 1;
            // In time order with the rest of the log.
            let times: Vec<&str> = log.lines().map(|l| l.get(..26).unwrap()).collect();
            assert!(times.windows(2).all(|w| w[0] <= w[1]));
        }
        assert!(seen > 0, "some sensor died");
    }
}
