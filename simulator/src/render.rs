//! Turns a resident's planned day into what each device publishes: the
//! watch's minute telemetry, heartbeats with draining batteries, PIR edges and
//! check-ins, door contacts, the kettle's plug, the bed sensor, the health
//! monitor, the pill box, and the marks incidents leave (Last Will, alarms).

use std::collections::HashMap;
use std::f64::consts::PI;

use chrono::{DateTime, Duration, Timelike, Utc};
use rand::RngExt;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use crate::message::{EventName, Message, MessageKind, Qos, ZigbeeChange};
use crate::model::{DeviceRole, DeviceSpec, HazardDetector, Meal, ResidentProfile, Room};
use crate::payload::{self, Metric, Reading, TsFormat};
use crate::plan::{Action, Activity, DayPlan, LowBattery, Place, VitalKind};
use crate::seeds::{self, Stream};

/// A message before its `seq` is known (seq follows time order per device).
struct Draft {
    at: DateTime<Utc>,
    device: usize,
    body: Body,
    kind: MessageKind,
}

enum Body {
    Readings(TsFormat, Vec<Reading>),
    Flat(TsFormat, Reading),
    Event(TsFormat, EventName, Value),
    Status {
        battery: Option<u8>,
        rssi: i32,
    },
    /// A hub telling the backend that one of its native devices dropped off.
    Offline,
    LastWill,
    Fhir(Value),
    Zigbee(Map<String, Value>),
    Availability(bool),
}

impl Body {
    fn has_seq(&self) -> bool {
        matches!(self, Body::Readings(..) | Body::Flat(..) | Body::Event(..))
    }
}

/// Everything the renderer reads about one resident-day.
pub(crate) struct Day<'a> {
    pub seed: u64,
    pub profile: &'a ResidentProfile,
    pub devices: &'a [DeviceSpec],
    pub plan: &'a DayPlan,
    /// The local date's day number, for the per-device random streams.
    pub day: i64,
}

const PIR_TIMEOUT_SECS: i64 = 90;
const HEARTBEAT_SECS: i64 = 300;
const CHECK_IN_SECS: i64 = 3600;
const PLUG_REPORT_SECS: i64 = 600;
const BED_VITALS_SECS: i64 = 600;

impl Day<'_> {
    fn index(&self, role: DeviceRole) -> Option<usize> {
        self.devices.iter().position(|d| d.role == role)
    }

    fn rng(&self, device: usize) -> StdRng {
        seeds::rng(self.seed, &self.devices[device].device_id, self.day, Stream::Render)
    }

    fn phase(&self, device: usize, period: i64) -> i64 {
        (seeds::device_hash(self.seed, &self.devices[device].device_id) % period as u64) as i64
    }

    fn in_day(&self, t: DateTime<Utc>) -> bool {
        t >= self.plan.start && t < self.plan.end
    }

    fn local_hour(&self, t: DateTime<Utc>) -> f64 {
        let local = t.with_timezone(&self.profile.timezone);
        f64::from(local.num_seconds_from_midnight()) / 3600.0
    }

    fn activity(&self, t: DateTime<Utc>) -> (Place, Activity) {
        self.plan.segment_at(t).map_or((Place::Room(Room::LivingRoom), Activity::Seated), |s| (s.place, s.activity))
    }

    /// Instants `phase + k * period` seconds after the epoch inside the day.
    fn grid(&self, device: usize, period: i64) -> impl Iterator<Item = DateTime<Utc>> + use<> {
        let phase = self.phase(device, period);
        let from = self.plan.start.timestamp();
        let first = from + (phase - from).rem_euclid(period);
        let end = self.plan.end;
        (0..).map(move |k| DateTime::from_timestamp(first + k * period, 0).unwrap_or(end)).take_while(move |t| *t < end)
    }

    fn battery(&self, device: usize, t: DateTime<Utc>) -> Option<u8> {
        battery_level(self.seed, &self.devices[device], t, &self.plan.low_batteries)
    }
}

/// Battery % of a device at `t`: a slow sawtooth (the watch is recharged every
/// three days, sensors get new batteries yearly), or the low-battery incident's
/// decline from 14% once it has started.
pub(crate) fn battery_level(seed: u64, device: &DeviceSpec, t: DateTime<Utc>, lows: &[LowBattery]) -> Option<u8> {
    if !device.role.has_battery() {
        return None;
    }
    let low = lows.iter().filter(|l| l.role == device.role && l.from <= t).map(|l| l.from).min();
    if let Some(from) = low {
        let drained = (t - from).num_minutes() / 30;
        return Some((14 - drained).max(3) as u8);
    }
    let (period, span) = match device.role {
        DeviceRole::Watch => (3 * 86_400, 70.0),
        _ => (365 * 86_400, 75.0),
    };
    let phase = (seeds::device_hash(seed, &device.device_id) % period as u64) as i64;
    let frac = (t.timestamp() + phase).rem_euclid(period) as f64 / period as f64;
    Some((100.0 - span * frac).round() as u8)
}

/// Roughly normal noise with unit spread, cheap and deterministic.
fn gauss(rng: &mut StdRng) -> f64 {
    let sum: f64 = (0..4).map(|_| rng.random_range(-1.0..1.0)).sum();
    sum / 1.1547
}

fn uniform(rng: &mut StdRng, lo: f64, hi: f64) -> f64 {
    if hi > lo { rng.random_range(lo..hi) } else { lo }
}

fn secs(rng: &mut StdRng, lo: i64, hi: i64) -> Duration {
    Duration::seconds(if hi > lo { rng.random_range(lo..=hi) } else { lo })
}

/// Ambient temperature: warmer in the afternoon, bathroom and kitchen warmest.
fn room_temperature(room: Room, hour: f64) -> f64 {
    let base = match room {
        Room::Bathroom => 23.0,
        Room::Kitchen => 22.2,
        Room::Bedroom => 20.8,
        Room::LivingRoom | Room::Hall => 21.5,
    };
    base + 1.2 * ((hour - 9.0) / 24.0 * 2.0 * PI).sin()
}

fn circadian(hour: f64) -> f64 {
    ((hour - 10.0) / 24.0 * 2.0 * PI).sin()
}

/// The resident-day's messages, sorted by time.
pub(crate) fn render_day(day: &Day<'_>) -> Vec<Message> {
    let mut drafts = Vec::new();
    watch(day, &mut drafts);
    health_monitor(day, &mut drafts);
    bed(day, &mut drafts);
    sos_and_pill_box(day, &mut drafts);
    heartbeats(day, &mut drafts);
    motion(day, &mut drafts);
    doors(day, &mut drafts);
    kettle(day, &mut drafts);
    hazard(day, &mut drafts);
    outages(day, &mut drafts);
    low_battery_marks(day, &mut drafts);
    finish(day, drafts)
}

fn watch(day: &Day<'_>, out: &mut Vec<Draft>) {
    let Some(w) = day.index(DeviceRole::Watch) else {
        return;
    };
    let mut rng = day.rng(w);
    let b = &day.profile.baselines;
    let ts = TsFormat::Local(day.profile.timezone);
    let mut noise = gauss(&mut rng) * 2.0;
    for t in day.grid(w, 60) {
        let (_, activity) = day.activity(t);
        let hour = day.local_hour(t);
        noise = 0.85 * noise + 0.9 * gauss(&mut rng);
        let mut hr = b.heart_rate + activity.heart_rate_delta() + 2.0 * circadian(hour) + noise;
        let asleep = if activity == Activity::Sleep { 1.0 } else { 0.0 };
        let mut spo2 = (b.spo2 - asleep + 0.6 * gauss(&mut rng)).min(100.0);
        let mut temp = b.body_temperature + 0.25 * circadian(hour) + 0.05 * gauss(&mut rng);
        let (lo, hi) = activity.steps();
        let steps = uniform(&mut rng, lo, hi) * b.mobility;
        for ep in day.plan.vitals.iter().filter(|e| e.from <= t && t < e.to) {
            match ep.kind {
                VitalKind::Tachycardia => hr = ep.peak + uniform(&mut rng, -4.0, 4.0),
                VitalKind::LowSpo2 => spo2 = ep.peak + uniform(&mut rng, -1.0, 1.0),
                VitalKind::Fever => {
                    let k = ((t - ep.from).num_seconds() as f64 / 2400.0).min(1.0);
                    temp += (ep.peak - b.body_temperature) * k;
                    hr += 8.0 * k * (ep.peak - 37.0).max(0.0);
                }
            }
        }
        out.push(Draft {
            at: t,
            device: w,
            kind: MessageKind::Telemetry,
            body: Body::Readings(
                ts,
                vec![
                    Reading { metric: Metric::HeartRate, value: hr.clamp(35.0, 220.0) },
                    Reading { metric: Metric::Spo2, value: spo2.clamp(70.0, 100.0) },
                    Reading { metric: Metric::BodyTemperature, value: temp.clamp(34.5, 41.5) },
                    Reading { metric: Metric::Steps, value: steps.max(0.0) },
                ],
            ),
        });
    }
    for a in &day.plan.actions {
        let Action::Fall { room, confidence, cancel_after } = &a.action else {
            continue;
        };
        let room = room.map_or("outside", Room::as_str);
        out.push(Draft {
            at: a.at,
            device: w,
            kind: MessageKind::Event(EventName::FallDetected),
            body: Body::Event(ts, EventName::FallDetected, json!({"room": room, "confidence": confidence})),
        });
        if let Some(after) = cancel_after {
            out.push(Draft {
                at: a.at + *after,
                device: w,
                kind: MessageKind::Event(EventName::FallCancelled),
                body: Body::Event(ts, EventName::FallCancelled, json!({"reason": "user_ok"})),
            });
        }
    }
}

fn health_monitor(day: &Day<'_>, out: &mut Vec<Draft>) {
    let b = &day.profile.baselines;
    let tz = day.profile.timezone;
    if let Some(cuff) = day.index(DeviceRole::BpCuff) {
        let mut rng = day.rng(cuff);
        for a in day.plan.actions.iter().filter(|a| a.action == Action::BloodPressure) {
            let morning = if day.local_hour(a.at) < 12.0 { 6.0 } else { 0.0 };
            out.push(Draft {
                at: a.at,
                device: cuff,
                kind: MessageKind::Telemetry,
                body: Body::Readings(
                    TsFormat::EpochMillis,
                    vec![
                        Reading { metric: Metric::BpSystolic, value: b.bp_systolic + morning + 5.0 * gauss(&mut rng) },
                        Reading { metric: Metric::BpDiastolic, value: b.bp_diastolic + 3.5 * gauss(&mut rng) },
                        Reading { metric: Metric::HeartRate, value: b.heart_rate + 3.0 * gauss(&mut rng) },
                    ],
                ),
            });
        }
    }
    let Some(gw) = day.index(DeviceRole::HealthGateway) else {
        return;
    };
    let mut rng = day.rng(gw);
    let id = &day.devices[gw].device_id;
    for a in &day.plan.actions {
        let effective = a.at.with_timezone(&tz).to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
        let oid = |code: &str| format!("{id}-{}-{code}", a.at.timestamp_millis());
        let resource = match a.action {
            Action::BloodPressure => {
                let morning = day.local_hour(a.at) < 12.0;
                let sys = b.bp_systolic + if morning { 6.0 } else { 0.0 } + 5.0 * gauss(&mut rng);
                let dia = b.bp_diastolic + 3.5 * gauss(&mut rng);
                let panel = payload::fhir_bp_panel(&oid("85354-9"), &effective, sys, dia);
                if morning {
                    let pulse = Reading { metric: Metric::HeartRate, value: b.heart_rate + 3.0 * gauss(&mut rng) };
                    let pulse = payload::fhir_observation(&oid("8867-4"), &effective, pulse);
                    payload::fhir_bundle(&oid("bundle"), vec![panel, pulse])
                } else {
                    panel
                }
            }
            Action::MorningVitals => {
                let weight = Reading { metric: Metric::BodyWeight, value: b.body_weight + 0.3 * gauss(&mut rng) };
                let weight = payload::fhir_observation(&oid("29463-7"), &effective, weight);
                if !day.profile.habits.measures_glucose {
                    weight
                } else {
                    let glucose = b.blood_glucose + 0.4 * gauss(&mut rng);
                    // Meters differ: some report mmol/L, others mg/dL (converted by the backend).
                    let glucose = if day.day % 2 == 0 {
                        payload::fhir_glucose_mg_dl(&oid("2339-0"), &effective, glucose)
                    } else {
                        let r = Reading { metric: Metric::BloodGlucose, value: glucose };
                        payload::fhir_observation(&oid("15074-8"), &effective, r)
                    };
                    payload::fhir_bundle(&oid("bundle"), vec![weight, glucose])
                }
            }
            _ => continue,
        };
        out.push(Draft { at: a.at, device: gw, kind: MessageKind::Fhir, body: Body::Fhir(resource) });
    }
}

fn bed(day: &Day<'_>, out: &mut Vec<Draft>) {
    let Some(bed) = day.index(DeviceRole::BedSensor) else {
        return;
    };
    let mut rng = day.rng(bed);
    for pair in day.plan.segments.windows(2) {
        let (prev, cur) = (&pair[0], &pair[1]);
        let event = match (prev.place == Place::Bed, cur.place == Place::Bed) {
            (true, false) => EventName::BedExit,
            (false, true) => EventName::BedEnter,
            _ => continue,
        };
        out.push(Draft {
            at: cur.start,
            device: bed,
            kind: MessageKind::Event(event),
            body: Body::Event(TsFormat::Utc, event, json!({})),
        });
    }
    // An under-mattress sensor also measures breathing while someone lies on it.
    for t in day.grid(bed, BED_VITALS_SECS) {
        let (place, activity) = day.activity(t);
        if place != Place::Bed {
            continue;
        }
        let base = if activity == Activity::Sleep { 13.0 } else { 15.0 };
        out.push(Draft {
            at: t,
            device: bed,
            kind: MessageKind::Telemetry,
            body: Body::Flat(
                TsFormat::Utc,
                Reading { metric: Metric::RespiratoryRate, value: base + 1.2 * gauss(&mut rng) },
            ),
        });
    }
}

fn sos_and_pill_box(day: &Day<'_>, out: &mut Vec<Draft>) {
    let sos = day.index(DeviceRole::SosButton);
    let pill_box = day.index(DeviceRole::PillBox);
    for a in &day.plan.actions {
        let (device, event, data) = match (&a.action, sos, pill_box) {
            (Action::Sos, Some(d), _) => (d, EventName::SosPressed, json!({"button": "pendant"})),
            (Action::Medication { slot }, _, Some(d)) => (d, EventName::MedicationTaken, json!({"slot": slot})),
            (Action::MealServed(meal), _, Some(d)) => (d, EventName::MealServed, meal_data(*meal)),
            (Action::MealEaten(meal), _, Some(d)) => (d, EventName::MealEaten, meal_data(*meal)),
            _ => continue,
        };
        out.push(Draft {
            at: a.at,
            device,
            kind: MessageKind::Event(event),
            body: Body::Event(TsFormat::EpochMillis, event, data),
        });
    }
}

fn meal_data(meal: Meal) -> Value {
    json!({"meal": meal.as_str(), "source": "meal_service"})
}

fn heartbeats(day: &Day<'_>, out: &mut Vec<Draft>) {
    for (i, spec) in day.devices.iter().enumerate() {
        if spec.external_id.is_some() {
            continue;
        }
        // A stream of its own: the device's other messages stay independent of it.
        let mut rng = seeds::rng(day.seed, &format!("{}#status", spec.device_id), day.day, Stream::Render);
        let rssi_base = -55 - rng.random_range(0..20);
        for t in day.grid(i, HEARTBEAT_SECS) {
            let rssi = rssi_base - rng.random_range(0..8);
            out.push(Draft {
                at: t,
                device: i,
                kind: MessageKind::Status,
                body: Body::Status { battery: day.battery(i, t), rssi },
            });
        }
    }
}

fn linkquality(rng: &mut StdRng) -> Value {
    json!(rng.random_range(40..=200))
}

/// Zigbee2MQTT sends every field of the device in every message.
fn zigbee(day: &Day<'_>, device: usize, rng: &mut StdRng, t: DateTime<Utc>, fields: Value) -> Body {
    let mut map = match fields {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if let Some(b) = day.battery(device, t) {
        map.insert("battery".into(), json!(b));
    }
    map.insert("linkquality".into(), linkquality(rng));
    Body::Zigbee(map)
}

/// Occupied intervals from PIR detections, each holding for the sensor's timeout.
fn occupancy(detections: &[DateTime<Utc>]) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let timeout = Duration::seconds(PIR_TIMEOUT_SECS);
    let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for &d in detections {
        match spans.last_mut() {
            Some(last) if d <= last.1 => last.1 = last.1.max(d + timeout),
            _ => spans.push((d, d + timeout)),
        }
    }
    spans
}

fn inside(spans: &[(DateTime<Utc>, DateTime<Utc>)], t: DateTime<Utc>) -> bool {
    spans.iter().any(|&(a, b)| a <= t && t < b)
}

fn motion(day: &Day<'_>, out: &mut Vec<Draft>) {
    for room in Room::ALL {
        let Some(m) = day.index(DeviceRole::Motion(room)) else {
            continue;
        };
        let mut rng = day.rng(m);
        let mut detections = Vec::new();
        for seg in day.plan.segments.iter().filter(|s| s.place == Place::Room(room)) {
            let Some((lo, hi)) = seg.activity.detection_gap() else {
                continue;
            };
            let mut t = seg.start + secs(&mut rng, 0, 3);
            while t < seg.end {
                detections.push(t);
                t += secs(&mut rng, lo, hi);
            }
        }
        let spans = occupancy(&detections);
        let fields = |occupied: bool, t: DateTime<Utc>| {
            let hour = day.local_hour(t);
            let mut f = json!({"occupancy": occupied, "temperature": payload::number(room_temperature(room, hour), 1)});
            if room == Room::Bathroom
                && let Some(map) = f.as_object_mut()
            {
                let humidity = if occupied { 68.0 } else { 52.0 } + 4.0 * circadian(hour);
                map.insert("humidity".into(), payload::number(humidity, 1));
            }
            f
        };
        for &(from, to) in &spans {
            let body = zigbee(day, m, &mut rng, from, fields(true, from));
            out.push(Draft { at: from, device: m, body, kind: MessageKind::Zigbee(ZigbeeChange::Occupied) });
            let body = zigbee(day, m, &mut rng, to, fields(false, to));
            out.push(Draft { at: to, device: m, body, kind: MessageKind::Zigbee(ZigbeeChange::Vacant) });
        }
        for t in day.grid(m, CHECK_IN_SECS) {
            let body = zigbee(day, m, &mut rng, t, fields(inside(&spans, t), t));
            out.push(Draft { at: t, device: m, body, kind: MessageKind::Zigbee(ZigbeeChange::Report) });
        }
    }
}

fn doors(day: &Day<'_>, out: &mut Vec<Draft>) {
    let mut entrance = Vec::new();
    if let Some(d) = day.index(DeviceRole::EntranceDoor) {
        let mut rng = day.rng(d);
        for pair in day.plan.segments.windows(2) {
            let (prev, cur) = (&pair[0], &pair[1]);
            let leaving = prev.place != Place::Away && cur.place == Place::Away;
            let returning = prev.place == Place::Away && cur.place != Place::Away;
            if leaving || returning {
                let open = if leaving { secs(&mut rng, 8, 20) } else { secs(&mut rng, 5, 15) };
                entrance.push((cur.start, cur.start + open));
            }
        }
        for a in &day.plan.actions {
            if let Action::EntranceDoor { open_secs } = a.action {
                entrance.push((a.at, a.at + Duration::seconds(open_secs)));
            }
        }
        entrance.sort_by_key(|span| span.0);
        contact_sensor(day, d, &mut rng, &entrance, out);
    }
    if let Some(d) = day.index(DeviceRole::FridgeDoor) {
        let mut rng = day.rng(d);
        let fridge: Vec<_> = day
            .plan
            .actions
            .iter()
            .filter_map(|a| match a.action {
                Action::FridgeOpen { open_secs } => Some((a.at, a.at + Duration::seconds(open_secs))),
                _ => None,
            })
            .collect();
        contact_sensor(day, d, &mut rng, &fridge, out);
    }
}

fn contact_sensor(
    day: &Day<'_>,
    device: usize,
    rng: &mut StdRng,
    open: &[(DateTime<Utc>, DateTime<Utc>)],
    out: &mut Vec<Draft>,
) {
    for &(from, to) in open {
        let body = zigbee(day, device, rng, from, json!({"contact": false}));
        out.push(Draft { at: from, device, body, kind: MessageKind::Zigbee(ZigbeeChange::DoorOpened) });
        let body = zigbee(day, device, rng, to, json!({"contact": true}));
        out.push(Draft { at: to, device, body, kind: MessageKind::Zigbee(ZigbeeChange::DoorClosed) });
    }
    for t in day.grid(device, CHECK_IN_SECS) {
        let body = zigbee(day, device, rng, t, json!({"contact": !inside(open, t)}));
        out.push(Draft { at: t, device, body, kind: MessageKind::Zigbee(ZigbeeChange::Report) });
    }
}

fn kettle(day: &Day<'_>, out: &mut Vec<Draft>) {
    let Some(k) = day.index(DeviceRole::KettlePlug) else {
        return;
    };
    let mut rng = day.rng(k);
    let rated = uniform(&mut rng, 1850.0, 2200.0);
    let boils: Vec<_> = day
        .plan
        .actions
        .iter()
        .filter_map(|a| match a.action {
            Action::Kettle { on_secs } => Some((a.at, a.at + Duration::seconds(on_secs))),
            _ => None,
        })
        .collect();
    let power = |rng: &mut StdRng, on: bool| {
        let w = if on { rated + uniform(rng, -25.0, 25.0) } else { uniform(rng, 0.2, 0.8) };
        json!({"state": "ON", "power": payload::number(w, 1)})
    };
    for &(from, to) in &boils {
        let fields = power(&mut rng, true);
        let body = zigbee(day, k, &mut rng, from, fields);
        out.push(Draft { at: from, device: k, body, kind: MessageKind::Zigbee(ZigbeeChange::PowerOn) });
        let fields = power(&mut rng, false);
        let body = zigbee(day, k, &mut rng, to, fields);
        out.push(Draft { at: to, device: k, body, kind: MessageKind::Zigbee(ZigbeeChange::PowerOff) });
    }
    for t in day.grid(k, PLUG_REPORT_SECS) {
        let fields = power(&mut rng, inside(&boils, t));
        let body = zigbee(day, k, &mut rng, t, fields);
        out.push(Draft { at: t, device: k, body, kind: MessageKind::Zigbee(ZigbeeChange::Report) });
    }
}

fn hazard(day: &Day<'_>, out: &mut Vec<Draft>) {
    for (role, kind, field, change) in [
        (DeviceRole::LeakSensor, HazardDetector::WaterLeak, "water_leak", ZigbeeChange::WaterLeak),
        (DeviceRole::SmokeSensor, HazardDetector::Smoke, "smoke", ZigbeeChange::Smoke),
    ] {
        let Some(h) = day.index(role) else {
            continue;
        };
        let mut rng = day.rng(h);
        let alarms: Vec<_> = day.plan.hazards.iter().filter(|z| z.kind == kind).map(|z| (z.from, z.to)).collect();
        for &(from, to) in &alarms {
            if day.in_day(from) {
                let body = zigbee(day, h, &mut rng, from, json!({ field: true }));
                out.push(Draft { at: from, device: h, body, kind: MessageKind::Zigbee(change) });
            }
            // Alarmed detectors repeat their state every few minutes.
            let mut t = from + Duration::minutes(5);
            while t < to {
                if day.in_day(t) {
                    let body = zigbee(day, h, &mut rng, t, json!({ field: true }));
                    out.push(Draft { at: t, device: h, body, kind: MessageKind::Zigbee(ZigbeeChange::Report) });
                }
                t += Duration::minutes(5);
            }
            if day.in_day(to) {
                let body = zigbee(day, h, &mut rng, to, json!({ field: false }));
                out.push(Draft { at: to, device: h, body, kind: MessageKind::Zigbee(ZigbeeChange::HazardCleared) });
            }
        }
        for t in day.grid(h, CHECK_IN_SECS) {
            let body = zigbee(day, h, &mut rng, t, json!({ field: inside(&alarms, t) }));
            out.push(Draft { at: t, device: h, body, kind: MessageKind::Zigbee(ZigbeeChange::Report) });
        }
    }
}

/// Silences devices during their outages and adds how the outage shows: the
/// watch's Last Will, a hub's offline notice for other native devices,
/// Zigbee2MQTT's availability; then the return.
fn outages(day: &Day<'_>, out: &mut Vec<Draft>) {
    for outage in &day.plan.outages {
        let Some(d) = day.index(outage.role) else {
            continue;
        };
        out.retain(|m| !(m.device == d && m.at >= outage.from && m.at < outage.to));
        let zigbee = day.devices[d].external_id.is_some();
        if day.in_day(outage.from) {
            let (body, kind) = match (zigbee, outage.role) {
                (true, _) => (Body::Availability(false), MessageKind::Availability),
                (false, DeviceRole::Watch) => (Body::LastWill, MessageKind::LastWill),
                (false, _) => (Body::Offline, MessageKind::Status),
            };
            out.push(Draft { at: outage.from, device: d, body, kind });
        }
        if day.in_day(outage.to) {
            if zigbee {
                out.push(Draft {
                    at: outage.to,
                    device: d,
                    body: Body::Availability(true),
                    kind: MessageKind::Availability,
                });
            } else {
                let mut rng = day.rng(d);
                let rssi = -60 - rng.random_range(0..15);
                out.push(Draft {
                    at: outage.to,
                    device: d,
                    body: Body::Status { battery: day.battery(d, outage.to), rssi },
                    kind: MessageKind::Status,
                });
            }
        }
    }
}

/// The first report of a low battery comes at the incident's time exactly.
fn low_battery_marks(day: &Day<'_>, out: &mut Vec<Draft>) {
    for low in &day.plan.low_batteries {
        let Some(d) = day.index(low.role) else {
            continue;
        };
        if !day.in_day(low.from) {
            continue;
        }
        let mut rng = day.rng(d);
        let body = if day.devices[d].external_id.is_some() {
            let fields = match low.role {
                DeviceRole::Motion(_) => json!({"occupancy": false}),
                DeviceRole::EntranceDoor | DeviceRole::FridgeDoor => json!({"contact": true}),
                DeviceRole::LeakSensor => json!({"water_leak": false}),
                DeviceRole::SmokeSensor => json!({"smoke": false}),
                _ => json!({}),
            };
            zigbee(day, d, &mut rng, low.from, fields)
        } else {
            Body::Status { battery: day.battery(d, low.from), rssi: -70 }
        };
        let kind = match body {
            Body::Zigbee(_) => MessageKind::Zigbee(ZigbeeChange::Report),
            _ => MessageKind::Status,
        };
        out.push(Draft { at: low.from, device: d, body, kind });
    }
}

/// Sorts by time, numbers `seq` per device and renders topics and payloads.
///
/// `seq` is the message's epoch milliseconds times 8 plus its rank among the
/// device's messages in that millisecond: increasing per device across runs
/// and restarts (a counter restarting at 1 would read as redeliveries), and
/// identical when the same instant is replayed, as a redelivery should be.
fn finish(day: &Day<'_>, mut drafts: Vec<Draft>) -> Vec<Message> {
    drafts.sort_by_key(|d| (d.at, d.device));
    let mut same_ms: HashMap<(usize, i64), u64> = HashMap::new();
    let tz = day.profile.timezone;
    drafts
        .into_iter()
        .map(|d| {
            let spec = &day.devices[d.device];
            let ms = d.at.timestamp_millis();
            let seq = if d.body.has_seq() {
                let rank = same_ms.entry((d.device, ms)).or_insert(0);
                let seq = (ms.max(0) as u64) * 8 + *rank;
                *rank += 1;
                seq
            } else {
                0
            };
            let id = spec.device_id.as_str();
            let topic_base = spec.topic_base();
            let (topic, payload, retain, qos) = match d.body {
                Body::Readings(ts, readings) => (
                    payload::native_topic(id, "telemetry"),
                    payload::telemetry(ts.render(d.at), seq, &readings),
                    false,
                    Qos::AtLeastOnce,
                ),
                Body::Flat(ts, reading) => (
                    payload::native_topic(id, "telemetry"),
                    payload::flat_reading(ts.render(d.at), seq, reading),
                    false,
                    Qos::AtLeastOnce,
                ),
                Body::Event(ts, name, data) => (
                    payload::native_topic(id, "event"),
                    payload::event(ts.render(d.at), seq, name.as_str(), data),
                    false,
                    Qos::AtLeastOnce,
                ),
                Body::Status { battery, rssi } => (
                    payload::native_topic(id, "status"),
                    payload::status(TsFormat::Utc.render(d.at), battery, rssi, spec.role.firmware()),
                    true,
                    Qos::AtLeastOnce,
                ),
                Body::Offline => (
                    payload::native_topic(id, "status"),
                    payload::offline_status(TsFormat::Utc.render(d.at)),
                    true,
                    Qos::AtLeastOnce,
                ),
                Body::LastWill => (payload::native_topic(id, "status"), payload::last_will(), true, Qos::AtLeastOnce),
                Body::Fhir(resource) => {
                    (payload::native_topic(id, "fhir"), payload::fhir(&resource), false, Qos::AtLeastOnce)
                }
                Body::Zigbee(fields) => {
                    // Zigbee2MQTT publishes at QoS 0 by default; state changes
                    // matter, so this installation raises them to 1.
                    let qos = if d.kind == MessageKind::Zigbee(ZigbeeChange::Report) {
                        Qos::AtMostOnce
                    } else {
                        Qos::AtLeastOnce
                    };
                    (topic_base, payload::zigbee_state(fields, d.at, tz), false, qos)
                }
                Body::Availability(online) => {
                    (format!("{topic_base}/availability"), payload::availability(online), true, Qos::AtLeastOnce)
                }
            };
            Message {
                at: d.at,
                topic,
                payload,
                qos,
                retain,
                resident: day.profile.key.clone(),
                device_id: spec.device_id.clone(),
                kind: d.kind,
            }
        })
        .collect()
}
