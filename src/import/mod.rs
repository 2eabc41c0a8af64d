//! Importing sensor logs recorded elsewhere as a resident's history, through
//! the same decoding and storage as live data, so the backtest can replay a
//! real home's months before a care team trusts the rules with it.

pub mod casas;

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chrono::{NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::device::{DEFAULT_POWER_ON_THRESHOLD_W, DeviceInfo, Registered};
use crate::domain::scope::{Monitoring, Reached};
use crate::domain::{Role, Scope};
use crate::ingest::decode::{self, Received, Registry};
use crate::ingest::writer::{Item, store_history};
use crate::store::{device_status, devices, residents};
use casas::{Outcome, SensorMap, Unmapped};

/// Lines decoded before they are stored together, in one transaction.
const CHUNK: usize = 5000;
/// Unreadable lines named in the report; the rest are only counted.
const EXAMPLES: usize = 5;

/// One `eldercare import casas` run.
#[derive(Debug, Clone)]
pub struct CasasImport {
    pub file: PathBuf,
    pub resident: Uuid,
    pub map: PathBuf,
    /// Moves the log by whole days so that it ends on this date.
    pub shift_to_end: Option<NaiveDate>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Map { path: PathBuf, source: casas::MapError },
    #[error("no resident {0}")]
    NoResident(Uuid),
    #[error("the resident's timezone {0:?} is unknown")]
    Timezone(String),
    #[error("device {0} exists and is not a historical device of this resident")]
    Taken(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub lines: u64,
    /// Events and readings stored by this run (not there before).
    pub events: u64,
    pub readings: u64,
    /// Events and readings an earlier import had already stored.
    pub already_stored: u64,
    /// Readable lines that are no data (a motion sensor going quiet).
    pub no_data: u64,
    /// Status lines (a sensor OFFLINE or back ONLINE) stored by this run in
    /// the devices' status history.
    pub statuses: u64,
    pub unreadable: u64,
    /// Lines of sensors the map does not name, by sensor.
    pub unmapped: BTreeMap<String, u64>,
    /// The first unreadable lines: (line number, why).
    pub examples: Vec<(u64, String)>,
    /// How far the log was moved.
    pub shifted_days: i64,
}

impl Report {
    /// The last line an import prints.
    pub fn summary(&self) -> String {
        format!("imported: {} events, {} readings; unreadable lines: {}", self.events, self.readings, self.unreadable)
    }

    fn stored(&mut self, (events, readings): (u64, u64)) {
        self.events += events;
        self.readings += readings;
    }

    fn unreadable(&mut self, line: u64, why: impl FnOnce() -> String) {
        self.unreadable += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push((line, why()));
        }
    }
}

/// The imported devices, as the decoder looks them up.
struct Imported(HashMap<String, Arc<Registered>>);

impl Registry for Imported {
    fn native(&self, device_id: &str) -> Option<&DeviceInfo> {
        self.0.get(device_id).map(|d| &d.info)
    }

    fn zigbee(&self, _friendly_name: &str) -> Option<&DeviceInfo> {
        None
    }
}

/// Imports a CASAS log as the resident's history: creates (or finds again)
/// a historical device per mapped sensor, then decodes and stores each line
/// as the device would have sent it, and its status lines (OFFLINE, ONLINE)
/// in the devices' status history. Unreadable lines are counted, never
/// fatal; a re-run stores nothing twice.
pub async fn casas(pool: &PgPool, job: &CasasImport) -> Result<Report, ImportError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ImportError::Io { path, source }
    };
    let map_text = std::fs::read_to_string(&job.map).map_err(io(&job.map))?;
    let map = SensorMap::parse(&map_text).map_err(|source| ImportError::Map { path: job.map.clone(), source })?;
    let mut conn = pool.acquire().await?;
    let (institution, timezone) =
        residents::placed(&mut conn, job.resident).await?.ok_or(ImportError::NoResident(job.resident))?;
    drop(conn);
    let tz: Tz = timezone.parse().map_err(|_| ImportError::Timezone(timezone.clone()))?;

    let mut report = Report::default();
    let shift = match job.shift_to_end {
        Some(end) => {
            let mut last = None;
            let mut lines = Lines::open(&job.file).map_err(io(&job.file))?;
            while let Some((_, text)) = lines.next().map_err(io(&job.file))? {
                if let Some(Ok(Some(line))) = text.as_deref().map(casas::parse_line) {
                    last = last.max(Some(line.local.date()));
                }
            }
            last.map_or(TimeDelta::zero(), |last| casas::shift_to_end(last, end))
        }
        None => TimeDelta::zero(),
    };
    report.shifted_days = shift.num_days();

    let registry = register(pool, institution, job.resident, &map).await?;
    let now = Utc::now();
    let mut items = Vec::new();
    let mut decoded_rows = 0u64;
    let mut zigbee = HashMap::new();
    let mut statuses = Vec::new();
    let mut lines = Lines::open(&job.file).map_err(io(&job.file))?;
    while let Some((number, text)) = lines.next().map_err(io(&job.file))? {
        report.lines += 1;
        let Some(text) = text else {
            report.unreadable(number, || "not UTF-8".into());
            continue;
        };
        let line = match casas::parse_line(&text) {
            Ok(Some(line)) => line,
            Ok(None) => continue,
            Err(why) => {
                report.unreadable(number, || why.to_string());
                continue;
            }
        };
        let device_id = casas::device_id(job.resident, line.sensor);
        match casas::payload(&line, &map, tz, shift) {
            Outcome::Payload { suffix, body } => {
                let topic = format!("eldercare/v1/{device_id}/{suffix}");
                let payload = Bytes::from(body.to_string());
                let decoded = decode::decode_received(&topic, &payload, Received::history(now), &registry, &mut zigbee);
                if let Some(rejection) = decoded.rejections.first() {
                    let detail = rejection.detail.clone();
                    report.unreadable(number, || detail);
                    continue;
                }
                decoded_rows += (decoded.events.len() + decoded.readings.len()) as u64;
                items.push(Item {
                    index: number,
                    topic,
                    payload,
                    received_at: now,
                    received: Instant::now(),
                    decoded,
                    device: registry.0.get(&device_id).cloned(),
                    zigbee_state: None,
                });
                if items.len() >= CHUNK {
                    report.stored(store_history(pool, std::mem::take(&mut items)).await?);
                }
            }
            Outcome::Nothing => report.no_data += 1,
            Outcome::Status { online, at } => statuses.push((device_id, at, online)),
            Outcome::Unmapped(Unmapped::Sensor) => {
                *report.unmapped.entry(line.sensor.to_owned()).or_default() += 1;
                report.unreadable(number, || format!("sensor {} is not in the map", line.sensor));
            }
            Outcome::Unmapped(Unmapped::Value) => {
                report.unreadable(number, || format!("{:?} does not fit sensor {} as mapped", line.value, line.sensor))
            }
            Outcome::Unmapped(Unmapped::Time) => {
                report.unreadable(number, || format!("{} did not happen in {tz}", line.local))
            }
        }
    }
    if !items.is_empty() {
        report.stored(store_history(pool, items).await?);
    }
    report.already_stored = decoded_rows - report.events - report.readings;
    if !statuses.is_empty() {
        let mut tx = pool.begin().await?;
        // The import is the platform's own work, run by whoever runs the binary.
        let resident = Reached::<Monitoring>::for_the_platform(job.resident);
        report.statuses = device_status::import(&mut tx, &resident, &statuses).await?;
        tx.commit().await?;
    }
    Ok(report)
}

/// A file's lines with their numbers from 1, `None` for one that is not
/// UTF-8 (read as bytes: one bad line must not end the import).
struct Lines {
    reader: std::io::BufReader<std::fs::File>,
    buf: Vec<u8>,
    number: u64,
}

impl Lines {
    fn open(path: &Path) -> std::io::Result<Lines> {
        Ok(Lines { reader: std::io::BufReader::new(std::fs::File::open(path)?), buf: Vec::new(), number: 0 })
    }

    fn next(&mut self) -> std::io::Result<Option<(u64, Option<String>)>> {
        self.buf.clear();
        if self.reader.read_until(b'\n', &mut self.buf)? == 0 {
            return Ok(None);
        }
        self.number += 1;
        Ok(Some((self.number, std::str::from_utf8(&self.buf).ok().map(str::to_owned))))
    }
}

/// The historical devices standing for the map's sensors, registered for
/// the resident.
async fn register(pool: &PgPool, institution: Uuid, resident: Uuid, map: &SensorMap) -> Result<Imported, ImportError> {
    // The import acts as the institution's administrator would, with no user
    // behind it: it is run by whoever runs the binary against the database.
    let scope = Scope { institution: Some(institution), user: Uuid::nil(), role: Role::Admin, kitchen: None };
    let mut tx = pool.begin().await?;
    let mut registry = HashMap::new();
    for (name, sensor) in &map.0 {
        let device_id = casas::device_id(resident, name);
        let new = devices::NewDevice {
            device_id: &device_id,
            resident_id: Some(resident),
            kind: sensor.kind,
            room: sensor.room.clone(),
            placement: sensor.placement.clone(),
            source: crate::domain::Source::Native,
            external_id: None,
            gateway_id: None,
            power_on_threshold_w: DEFAULT_POWER_ON_THRESHOLD_W,
        };
        if !devices::upsert_historical(&mut tx, &scope, new).await? {
            return Err(ImportError::Taken(device_id));
        }
        let info = DeviceInfo {
            device_id: device_id.clone(),
            kind: sensor.kind,
            room: sensor.room.clone(),
            placement: sensor.placement.clone(),
            power_on_threshold_w: DEFAULT_POWER_ON_THRESHOLD_W,
        };
        registry
            .insert(device_id, Arc::new(Registered { info, institution_id: institution, resident_id: Some(resident) }));
    }
    tx.commit().await?;
    Ok(Imported(registry))
}
