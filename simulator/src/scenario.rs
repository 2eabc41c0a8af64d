//! Scenario files: residents and incidents scripted at offsets from the start,
//! for reproducible demos and tests. TOML; see `scenarios/demo.toml`.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::clock::{self, At, ClockError, Speed};
use crate::dispatch::Scripted;
use crate::incidents::{Incident, IncidentKind};
use crate::model::{
    ConfigError, DeviceRole, HazardDetector, HealthMonitor, Home, Meal, MealWindow, ResidentProfile, Room, SimConfig,
};

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("scenario is not valid TOML for this format: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("{field}: {source}")]
    Time { field: String, source: ClockError },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SpeedText {
    Number(f64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    seed: Option<u64>,
    duration: Option<String>,
    speed: Option<SpeedText>,
    start: Option<String>,
    #[serde(default)]
    incident_rate: f64,
    timezone: Option<String>,
    #[serde(default, rename = "resident")]
    residents: Vec<ResidentFile>,
    #[serde(default, rename = "incident")]
    incidents: Vec<IncidentFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResidentFile {
    key: String,
    name: Option<String>,
    room: Option<String>,
    timezone: Option<String>,
    health: Option<HealthMonitor>,
    hazard: Option<HazardDetector>,
    wake: Option<String>,
    bedtime: Option<String>,
    meal_windows: Option<Vec<MealWindowFile>>,
    address: Option<String>,
    /// `[lat, lon]`, WGS 84.
    location: Option<[f64; 2]>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MealWindowFile {
    meal: Meal,
    start: String,
    end: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IncidentFile {
    resident: String,
    kind: String,
    at: String,
    duration: Option<String>,
    cancel_after: Option<String>,
    meal: Option<Meal>,
    device: Option<String>,
    room: Option<String>,
    peak: Option<f64>,
    /// The coordinator dispatches a welfare check when the incident's alert
    /// opens; the carer is at the door this long after.
    dispatch: Option<String>,
}

/// A parsed scenario; times stay relative until [`Scenario::config`] pins a start.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: Option<u64>,
    pub duration: Duration,
    pub speed: Option<Speed>,
    /// A fixed start from the file (`start = "2026-..."`); `None` means "derive from now".
    pub start: Option<DateTime<Utc>>,
    pub incident_rate: f64,
    residents: Vec<(ResidentFile, Tz)>,
    incidents: Vec<ScriptedIncident>,
}

#[derive(Debug, Clone)]
struct ScriptedIncident {
    resident: String,
    kind: IncidentKind,
    at: At,
    duration: Option<Duration>,
    cancel_after: Option<Duration>,
    meal: Option<Meal>,
    device: Option<String>,
    room: Option<Room>,
    peak: Option<f64>,
    dispatch: Option<Duration>,
}

fn time_field<T>(field: &str, r: Result<T, ClockError>) -> Result<T, ScenarioError> {
    r.map_err(|source| ScenarioError::Time { field: field.to_owned(), source })
}

fn timezone(name: &str) -> Result<Tz, ScenarioError> {
    name.parse::<Tz>().map_err(|_| ScenarioError::Invalid(format!("unknown IANA timezone {name:?}")))
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ScenarioError::Read { path: path.display().to_string(), source })?;
        Scenario::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let file: File = toml::from_str(text)?;
        let default_tz = timezone(file.timezone.as_deref().unwrap_or("Asia/Shanghai"))?;
        let duration = match &file.duration {
            Some(d) => time_field("duration", clock::parse_duration(d))?,
            None => Duration::hours(1),
        };
        let speed = match file.speed {
            None => None,
            Some(SpeedText::Number(n)) => Some(time_field("speed", n.to_string().parse())?),
            Some(SpeedText::Text(t)) => Some(time_field("speed", t.parse())?),
        };
        let start = match file.start.as_deref() {
            None | Some("now") => None,
            Some(s) => Some(
                DateTime::parse_from_rfc3339(s)
                    .map_err(|_| ScenarioError::Invalid(format!("start {s:?} is not RFC 3339 or \"now\"")))?
                    .with_timezone(&Utc),
            ),
        };
        if file.residents.is_empty() {
            return Err(ScenarioError::Invalid("a scenario needs at least one [[resident]]".into()));
        }
        let mut residents = Vec::new();
        for r in file.residents {
            if let Some([lat, lon]) = r.location
                && !((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon))
            {
                return Err(ScenarioError::Invalid(format!("{}: location [{lat}, {lon}] is not on earth", r.key)));
            }
            let tz = match &r.timezone {
                Some(name) => timezone(name)?,
                None => default_tz,
            };
            residents.push((r, tz));
        }
        let mut incidents = Vec::new();
        for (n, i) in file.incidents.into_iter().enumerate() {
            let field = |name: &str| format!("incident #{} {name}", n + 1);
            let kind: IncidentKind = i.kind.parse().map_err(ScenarioError::Invalid)?;
            let optional = |name: &str, v: &Option<String>| -> Result<Option<Duration>, ScenarioError> {
                v.as_deref().map(|d| time_field(&field(name), clock::parse_duration(d))).transpose()
            };
            let dispatch = optional("dispatch", &i.dispatch)?;
            let home = residents.iter().find(|(r, _)| r.key == i.resident).and_then(|(r, _)| r.location);
            if dispatch.is_some() && home.is_none() {
                return Err(ScenarioError::Invalid(format!(
                    "{}: a dispatch needs the resident's location (the carer checks in at the door)",
                    field("dispatch")
                )));
            }
            incidents.push(ScriptedIncident {
                resident: i.resident.clone(),
                kind,
                at: time_field(&field("at"), i.at.parse())?,
                duration: optional("duration", &i.duration)?,
                cancel_after: optional("cancel_after", &i.cancel_after)?,
                meal: i.meal,
                device: i.device,
                room: i.room.as_deref().map(str::parse).transpose().map_err(ScenarioError::Invalid)?,
                peak: i.peak,
                dispatch,
            });
        }
        Ok(Scenario {
            seed: file.seed,
            duration,
            speed,
            start,
            incident_rate: file.incident_rate,
            residents,
            incidents,
        })
    }

    /// The welfare checks the coordinator dispatches to scripted incidents.
    pub fn dispatches(&self) -> Vec<Scripted> {
        self.incidents
            .iter()
            .filter_map(|s| {
                s.dispatch.map(|arrive_after| Scripted {
                    resident: s.resident.clone(),
                    alert_kind: s.kind.alert_kind(),
                    arrive_after,
                })
            })
            .collect()
    }

    /// The generator config with every incident pinned to `start + offset`.
    pub fn config(&self, start: DateTime<Utc>, seed: u64) -> Result<SimConfig, ScenarioError> {
        let mut residents = Vec::new();
        for (index, (r, tz)) in self.residents.iter().enumerate() {
            let mut profile = ResidentProfile::generated_as(r.key.clone(), index, seed, *tz);
            if let Some(name) = &r.name {
                profile.name = name.clone();
            }
            if let Some(room) = &r.room {
                profile.room = room.clone();
            }
            if let Some(h) = r.health {
                profile.health = h;
            }
            if let Some(h) = r.hazard {
                profile.hazard = h;
            }
            if let Some(w) = &r.wake {
                profile.habits.wake = time_field(&format!("{} wake", r.key), clock::parse_local_time(w))?;
            }
            if let Some(b) = &r.bedtime {
                profile.habits.bedtime = time_field(&format!("{} bedtime", r.key), clock::parse_local_time(b))?;
            }
            if let Some([lat, lon]) = r.location {
                let address = r.address.clone().unwrap_or_else(|| format!("{}, room {}", profile.name, profile.room));
                profile.home = Some(Home { address, lat, lon });
            }
            if let Some(windows) = &r.meal_windows {
                profile.meal_windows = windows
                    .iter()
                    .map(|w| {
                        let field = format!("{} {} window", r.key, w.meal.as_str());
                        let start = time_field(&field, clock::parse_local_time(&w.start))?;
                        let end = time_field(&field, clock::parse_local_time(&w.end))?;
                        if end <= start {
                            return Err(ScenarioError::Invalid(format!("{field}: end before start")));
                        }
                        Ok(MealWindow { meal: w.meal, start, end })
                    })
                    .collect::<Result<_, _>>()?;
            }
            residents.push(profile);
        }
        let mut incidents = Vec::new();
        for s in &self.incidents {
            let mut incident = Incident::new(&s.resident, s.kind, s.at.resolve(start));
            incident.duration = s.duration;
            incident.cancel_after = s.cancel_after;
            incident.meal = s.meal;
            incident.room = s.room;
            incident.peak = s.peak;
            if let Some(device) = &s.device {
                let suffix = device.strip_prefix(&format!("{}-", s.resident)).unwrap_or(device);
                let role = DeviceRole::from_suffix(suffix)
                    .ok_or_else(|| ScenarioError::Invalid(format!("incident {}: unknown device {device:?}", s.kind)))?;
                incident.device = Some(role);
            }
            incidents.push(incident);
        }
        let config = SimConfig {
            seed,
            residents,
            incident_rate: self.incident_rate,
            incidents,
            confounders: Default::default(),
        };
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_it_cannot_honour() {
        let bad = [
            ("seed = 1", "no resident"),
            (
                "[[resident]]\nkey = \"r1\"\n[[incident]]\nresident = \"r2\"\nkind = \"fall\"\nat = \"+1m\"",
                "unknown resident",
            ),
            (
                "[[resident]]\nkey = \"r1\"\n[[incident]]\nresident = \"r1\"\nkind = \"flood\"\nat = \"+1m\"",
                "unknown kind",
            ),
            ("[[resident]]\nkey = \"r1\"\n[[incident]]\nresident = \"r1\"\nkind = \"fall\"\nat = \"2m\"", "bad offset"),
            (
                "[[resident]]\nkey = \"r1\"\nhazard = \"smoke\"\n[[incident]]\nresident = \"r1\"\nkind = \"water_leak\"\nat = \"+1m\"",
                "no leak sensor",
            ),
            (
                "[[resident]]\nkey = \"r1\"\n[[incident]]\nresident = \"r1\"\nkind = \"low_battery\"\ndevice = \"bed\"\nat = \"+1m\"",
                "mains-powered",
            ),
            ("[[resident]]\nkey = \"r1\"\ncolour = \"red\"", "unknown field"),
            ("[[resident]]\nkey = \"r1\"\ntimezone = \"Mars/Olympus\"", "bad timezone"),
            (
                "[[resident]]\nkey = \"r1\"\n[[incident]]\nresident = \"r1\"\nkind = \"fall\"\nat = \"+1m\"\ndispatch = \"4m\"",
                "a dispatch to a home with no location",
            ),
            ("[[resident]]\nkey = \"r1\"\nlocation = [91.0, 0.0]", "a location off the earth"),
        ];
        let start = Utc::now();
        for (text, why) in bad {
            let result = Scenario::parse(text).and_then(|s| s.config(start, 1));
            assert!(result.is_err(), "{why}: accepted");
        }
    }
}
