//! The generator's entry points: a config and a simulated time range in, the
//! exact messages out. Pure and deterministic: no clock, no I/O.
//!
//! Each resident's local day is planned (routine), edited (incidents) and
//! rendered (devices) on its own, from random streams keyed by the day, so a
//! message is the same whatever range it is generated in: a long run can be
//! produced an hour at a time and still match a one-shot generation.

use chrono::{DateTime, Datelike, Utc};

use crate::clock;
use crate::confounders::{self, LabelRecord};
use crate::incidents::{self, Incident, IncidentRecord};
use crate::message::{Message, MessageKind, Qos};
use crate::model::{DeviceSpec, ResidentProfile, SimConfig};
use crate::payload::{self, TsFormat};
use crate::render::{self, Day};
use crate::routine;
use crate::seeds::{self, Stream};

/// Messages, the incidents behind them and the labelled spans (confounders,
/// incidents no device reports), all sorted by time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Generated {
    pub messages: Vec<Message>,
    pub incidents: Vec<IncidentRecord>,
    pub labels: Vec<LabelRecord>,
}

/// Every message published in `from..to`, in time order (ties keep resident order).
pub fn generate(config: &SimConfig, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Message> {
    generate_with_incidents(config, from, to).messages
}

/// Like [`generate`], with the incidents that start in `from..to` and the
/// labelled spans that touch it.
pub fn generate_with_incidents(config: &SimConfig, from: DateTime<Utc>, to: DateTime<Utc>) -> Generated {
    let mut out = Generated::default();
    if from >= to {
        return out;
    }
    for profile in &config.residents {
        let devices = profile.devices();
        let tz = profile.timezone;
        // The day before may still emit just after midnight (a sensor's timeout).
        let first = clock::local_date(tz, from).pred_opt().unwrap_or(clock::local_date(tz, from));
        let last = clock::local_date(tz, to);
        for date in first.iter_days().take_while(|d| *d <= last) {
            let (messages, records, labels) = resident_day(config, profile, &devices, date);
            out.messages.extend(messages.into_iter().filter(|m| m.at >= from && m.at < to));
            out.incidents.extend(records.into_iter().filter(|r| r.at >= from && r.at < to));
            // A span that began before the range still shows in it: labelled.
            out.labels.extend(labels.into_iter().filter(|l| l.until > from && l.at < to));
        }
    }
    out.messages.sort_by_key(|m| m.at);
    out.incidents.sort_by_key(|r| r.at);
    // A span of several days is labelled by each day it touches: once here.
    out.labels.sort_by(|a, b| (a.at, &a.resident, a.kind).cmp(&(b.at, &b.resident, b.kind)));
    out.labels.dedup();
    out
}

fn resident_day(
    config: &SimConfig,
    profile: &ResidentProfile,
    devices: &[DeviceSpec],
    date: chrono::NaiveDate,
) -> (Vec<Message>, Vec<IncidentRecord>, Vec<LabelRecord>) {
    let day = i64::from(date.num_days_from_ce());
    let key = profile.key.as_str();
    let mut plan = routine::plan_day(profile, date, &mut seeds::rng(config.seed, key, day, Stream::Routine));

    let mut todo: Vec<(Incident, bool)> = config
        .incidents
        .iter()
        .filter(|i| i.resident == profile.key)
        .filter(|i| {
            let (a, b) = i.span(profile);
            a < plan.end && b >= plan.start
        })
        .map(|i| (i.clone(), false))
        .collect();
    if config.incident_rate > 0.0 {
        let mut rng = seeds::rng(config.seed, key, day, Stream::Incidents);
        todo.extend(
            incidents::random_for_day(profile, date, config.incident_rate, &mut rng).into_iter().map(|i| (i, true)),
        );
    }
    todo.sort_by_key(|(i, _)| i.at);
    let mut rng = seeds::rng(config.seed, key, day, Stream::Incident);
    let mut records: Vec<IncidentRecord> = todo
        .iter()
        .filter_map(|(incident, random)| incidents::apply(&mut plan, profile, incident, *random, &mut rng))
        .collect();
    let c = &config.confounders;
    // Nothing happens at home while the resident is away on holiday.
    let spans: Vec<_> = records.iter().map(|r| (r.at, r.until.unwrap_or(r.at))).collect();
    if let Some((from, until)) = confounders::apply(config.seed, &mut plan, profile, c, date, &spans) {
        records.retain(|r| r.until.unwrap_or(r.at) < from || r.at >= until);
    }

    let mut messages = render::render_day(&Day { seed: config.seed, profile, devices, plan: &plan, day });
    if c.any()
        && let Some((role, from, until)) = confounders::dead_sensor(config.seed, profile, c, date)
        && let Some(dead) = devices.iter().find(|d| d.role == role)
    {
        messages.retain(|m| m.device_id != dead.device_id || m.at < from || m.at >= until);
    }
    let labels = std::mem::take(&mut plan.labels)
        .into_iter()
        .map(|l| LabelRecord {
            resident: profile.key.clone(),
            kind: l.kind,
            at: l.from,
            until: l.until,
            detail: l.detail,
            incident: l.incident,
            recorded: l.recorded,
        })
        .collect();
    (messages, records, labels)
}

/// What a household publishes when its connection comes up at `at`: each
/// native device's retained `status` (online, battery) and Zigbee2MQTT's
/// retained availability for each of its devices. Not part of [`generate`]:
/// it belongs to a connection, not to simulated time.
pub fn announce(config: &SimConfig, at: DateTime<Utc>) -> Vec<Message> {
    let mut out = Vec::new();
    for profile in &config.residents {
        for spec in profile.devices() {
            let (topic, payload, kind) = match &spec.external_id {
                Some(_) => (
                    format!("{}/availability", spec.topic_base()),
                    payload::availability(true),
                    MessageKind::Availability,
                ),
                None => {
                    let battery = render::battery_level(config.seed, &spec, at, &[]);
                    (
                        payload::native_topic(&spec.device_id, "status"),
                        payload::status(TsFormat::Utc.render(at), battery, -62, spec.role.firmware()),
                        MessageKind::Status,
                    )
                }
            };
            out.push(Message {
                at,
                topic,
                payload,
                qos: Qos::AtLeastOnce,
                retain: true,
                resident: profile.key.clone(),
                device_id: spec.device_id.clone(),
                kind,
            });
        }
    }
    out
}
