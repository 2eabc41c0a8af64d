//! The simulated institution: residents, their habits and baselines, and the
//! devices of each household with their registration data.

use std::str::FromStr;

use chrono::NaiveTime;
use chrono_tz::Tz;
use rand::RngExt;

pub use eldercare_domain::{DeviceKind, Source};

use crate::incidents::{Incident, IncidentKind};
use crate::seeds::{self, Stream};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Room {
    Bedroom,
    Bathroom,
    Kitchen,
    LivingRoom,
    Hall,
}

impl Room {
    pub const ALL: [Room; 5] = [Room::Bedroom, Room::Bathroom, Room::Kitchen, Room::LivingRoom, Room::Hall];

    pub fn as_str(self) -> &'static str {
        match self {
            Room::Bedroom => "bedroom",
            Room::Bathroom => "bathroom",
            Room::Kitchen => "kitchen",
            Room::LivingRoom => "living_room",
            Room::Hall => "hall",
        }
    }
}

impl FromStr for Room {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Room::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| format!("unknown room {s:?}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Meal {
    Breakfast,
    Lunch,
    Dinner,
}

impl Meal {
    pub const ALL: [Meal; 3] = [Meal::Breakfast, Meal::Lunch, Meal::Dinner];

    pub fn as_str(self) -> &'static str {
        match self {
            Meal::Breakfast => "breakfast",
            Meal::Lunch => "lunch",
            Meal::Dinner => "dinner",
        }
    }
}

/// A meal window in the resident's local time, as registered with the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MealWindow {
    pub meal: Meal,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

/// How blood pressure reaches the backend: alternates between residents so
/// both payload families are exercised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthMonitor {
    /// A cuff publishing native `telemetry` morning and evening.
    BpCuff,
    /// A health gateway publishing FHIR Observations and Bundles.
    Fhir,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HazardDetector {
    WaterLeak,
    Smoke,
}

/// Individual vital-sign baselines; the day's readings vary around them.
#[derive(Debug, Clone, PartialEq)]
pub struct Baselines {
    pub heart_rate: f64,
    pub spo2: f64,
    pub body_temperature: f64,
    pub bp_systolic: f64,
    pub bp_diastolic: f64,
    pub body_weight: f64,
    /// Fasting glucose, mmol/L.
    pub blood_glucose: f64,
    /// Multiplies steps: how briskly this resident walks.
    pub mobility: f64,
}

/// What makes one resident's days differ from another's.
#[derive(Debug, Clone, PartialEq)]
pub struct Habits {
    /// Usual wake-up, local time; each day varies by up to ±20 minutes.
    pub wake: NaiveTime,
    /// Usual bedtime, local time; each day varies by up to ±30 minutes.
    pub bedtime: NaiveTime,
    pub nap_probability: f64,
    /// Naps in bed (bed sensor sees them) rather than on the sofa.
    pub naps_in_bed: bool,
    /// Expected night bathroom trips per night.
    pub night_trips: f64,
    /// Chance of an afternoon walk outside (entrance door out and back).
    pub outing_probability: f64,
    /// Lunch is delivered by the meal service (`meal_served` / `meal_eaten`).
    pub meal_service: bool,
    /// Takes a midday dose as well as morning and evening.
    pub midday_medication: bool,
    /// Measures blood glucose in the morning (FHIR residents only).
    pub measures_glucose: bool,
    /// Chance that a nap lasts two to three hours: an ordinary day that
    /// looks like inactivity. 0 unless asked for (it would change every
    /// generated day).
    pub long_nap_probability: f64,
    /// Chance that an afternoon walk is an afternoon out (two to four hours:
    /// the front door, then silence, and nobody switched to "away").
    pub long_outing_probability: f64,
    /// Share of days she goes out (irregular outings: one or two a day,
    /// leaving between 08:30 and 16:00, one to six hours, lunch eaten out
    /// when an outing spans it). 0: the old afternoon walk instead.
    pub outing_days: f64,
    /// Chance that a day's meals are cold food: brief kitchen visits, no
    /// cooking, no kettle, eaten in the living room.
    pub skipped_cooking: f64,
    /// Chance that a day's rising and bedtime shift by one to two hours.
    pub shifted_sleep: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResidentProfile {
    /// Stable key naming the resident's devices (`{key}-watch`, ...).
    pub key: String,
    pub name: String,
    pub room: String,
    pub timezone: Tz,
    pub meal_windows: Vec<MealWindow>,
    pub health: HealthMonitor,
    pub hazard: HazardDetector,
    pub baselines: Baselines,
    pub habits: Habits,
    /// Where the resident lives, for visits checked at the door; generated
    /// residents have none (scenarios give one).
    pub home: Option<Home>,
    /// The hall has a motion sensor (`motion-hall`): without one, nobody can
    /// tell walking out from closing the door from inside.
    pub hall_sensor: bool,
}

/// A resident's address and its position (WGS 84).
#[derive(Debug, Clone, PartialEq)]
pub struct Home {
    pub address: String,
    pub lat: f64,
    pub lon: f64,
}

const GIVEN: [&str; 16] = [
    "Mei", "Jun", "Hua", "Lan", "Wei", "Fang", "Ming", "Ying", "Rose", "Arthur", "Edith", "George", "Maria", "Hans",
    "Aiko", "Kenji",
];
const FAMILY: [&str; 16] = [
    "Li", "Wang", "Zhang", "Chen", "Liu", "Zhao", "Huang", "Zhou", "Smith", "Brown", "Müller", "García", "Tanaka",
    "Sato", "Nguyen", "Kim",
];

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

fn minutes(total: u32) -> NaiveTime {
    hm((total / 60) % 24, total % 60)
}

impl ResidentProfile {
    /// The `index`-th resident of a generated institution.
    ///
    /// Identity (key, name, room) depends on the index only, so provisioning
    /// with one seed and running with another still targets the same
    /// residents; habits and baselines depend on the seed.
    pub fn generated(index: usize, seed: u64, timezone: Tz) -> Self {
        Self::generated_as(format!("r{:03}", index + 1), index, seed, timezone)
    }

    /// Like [`ResidentProfile::generated`] under a chosen key (scenario files name their residents).
    pub fn generated_as(key: String, index: usize, seed: u64, timezone: Tz) -> Self {
        let name = generated_name(index);
        let room = format!("{}", 101 + index);
        let mut rng = seeds::rng(seed, &key, 0, Stream::Profile);
        let wake: u32 = rng.random_range(390..=480);
        let bedtime: u32 = rng.random_range(21 * 60..=23 * 60);
        let breakfast = wake / 30 * 30;
        let lunch: u32 = 11 * 60 + 30 * rng.random_range(0..=2u32);
        let dinner: u32 = 17 * 60 + 30 * rng.random_range(0..=2u32);
        let meal_windows = vec![
            MealWindow { meal: Meal::Breakfast, start: minutes(breakfast), end: minutes(breakfast + 180) },
            MealWindow { meal: Meal::Lunch, start: minutes(lunch), end: minutes(lunch + 150) },
            MealWindow { meal: Meal::Dinner, start: minutes(dinner), end: minutes(dinner + 150) },
        ];
        let baselines = Baselines {
            heart_rate: rng.random_range(60.0..78.0),
            spo2: rng.random_range(95.0..98.0),
            body_temperature: rng.random_range(36.3..36.8),
            bp_systolic: rng.random_range(115.0..145.0),
            bp_diastolic: rng.random_range(68.0..88.0),
            body_weight: rng.random_range(48.0..85.0),
            blood_glucose: rng.random_range(5.0..7.5),
            mobility: rng.random_range(0.6..1.4),
        };
        let habits = Habits {
            wake: minutes(wake),
            bedtime: minutes(bedtime),
            nap_probability: rng.random_range(0.2..0.8),
            naps_in_bed: rng.random_bool(0.5),
            night_trips: rng.random_range(0.3..1.6),
            outing_probability: rng.random_range(0.2..0.6),
            meal_service: rng.random_bool(0.4),
            midday_medication: rng.random_bool(0.3),
            measures_glucose: rng.random_bool(0.4),
            long_nap_probability: 0.0,
            long_outing_probability: 0.0,
            outing_days: 0.0,
            skipped_cooking: 0.0,
            shifted_sleep: 0.0,
        };
        ResidentProfile {
            key,
            name,
            room,
            timezone,
            meal_windows,
            health: if index.is_multiple_of(2) { HealthMonitor::BpCuff } else { HealthMonitor::Fhir },
            hazard: if (index / 2).is_multiple_of(2) { HazardDetector::WaterLeak } else { HazardDetector::Smoke },
            baselines,
            habits,
            home: None,
            hall_sensor: true,
        }
    }

    pub fn meal_window(&self, meal: Meal) -> Option<MealWindow> {
        self.meal_windows.iter().copied().find(|w| w.meal == meal)
    }

    /// The household's devices, in a fixed order.
    pub fn devices(&self) -> Vec<DeviceSpec> {
        let mut roles = vec![
            DeviceRole::Watch,
            match self.health {
                HealthMonitor::BpCuff => DeviceRole::BpCuff,
                HealthMonitor::Fhir => DeviceRole::HealthGateway,
            },
            DeviceRole::SosButton,
            DeviceRole::BedSensor,
            DeviceRole::PillBox,
        ];
        roles.extend(Room::ALL.into_iter().filter(|r| self.hall_sensor || *r != Room::Hall).map(DeviceRole::Motion));
        roles.extend([DeviceRole::EntranceDoor, DeviceRole::FridgeDoor, DeviceRole::KettlePlug]);
        roles.push(match self.hazard {
            HazardDetector::WaterLeak => DeviceRole::LeakSensor,
            HazardDetector::Smoke => DeviceRole::SmokeSensor,
        });
        roles.into_iter().map(|role| DeviceSpec::new(&self.key, role)).collect()
    }

    pub fn has_device(&self, role: DeviceRole) -> bool {
        self.devices().iter().any(|d| d.role == role)
    }
}

fn generated_name(index: usize) -> String {
    let given = GIVEN[index % GIVEN.len()];
    let family = FAMILY[(index / GIVEN.len() + index) % FAMILY.len()];
    let round = index / (GIVEN.len() * FAMILY.len());
    if round == 0 { format!("{given} {family}") } else { format!("{given} {family} ({})", round + 1) }
}

/// What a device is in the household; fixes its id suffix, registration and behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceRole {
    Watch,
    BpCuff,
    HealthGateway,
    SosButton,
    BedSensor,
    PillBox,
    Motion(Room),
    EntranceDoor,
    FridgeDoor,
    KettlePlug,
    LeakSensor,
    SmokeSensor,
}

impl DeviceRole {
    pub fn all() -> Vec<DeviceRole> {
        let mut all = vec![
            DeviceRole::Watch,
            DeviceRole::BpCuff,
            DeviceRole::HealthGateway,
            DeviceRole::SosButton,
            DeviceRole::BedSensor,
            DeviceRole::PillBox,
        ];
        all.extend(Room::ALL.map(DeviceRole::Motion));
        all.extend([
            DeviceRole::EntranceDoor,
            DeviceRole::FridgeDoor,
            DeviceRole::KettlePlug,
            DeviceRole::LeakSensor,
            DeviceRole::SmokeSensor,
        ]);
        all
    }

    /// The role whose id suffix is `suffix` (`watch`, `motion-kitchen`, ...).
    pub fn from_suffix(suffix: &str) -> Option<DeviceRole> {
        DeviceRole::all().into_iter().find(|r| r.suffix() == suffix)
    }

    /// The part of the device id after `{key}-`.
    pub fn suffix(self) -> String {
        match self {
            DeviceRole::Watch => "watch".into(),
            DeviceRole::BpCuff => "bp".into(),
            DeviceRole::HealthGateway => "gw".into(),
            DeviceRole::SosButton => "sos".into(),
            DeviceRole::BedSensor => "bed".into(),
            DeviceRole::PillBox => "pillbox".into(),
            DeviceRole::Motion(room) => format!("motion-{}", room.as_str().replace('_', "-")),
            DeviceRole::EntranceDoor => "door-entrance".into(),
            DeviceRole::FridgeDoor => "door-fridge".into(),
            DeviceRole::KettlePlug => "plug-kettle".into(),
            DeviceRole::LeakSensor => "leak".into(),
            DeviceRole::SmokeSensor => "smoke".into(),
        }
    }

    pub fn kind(self) -> DeviceKind {
        match self {
            DeviceRole::Watch => DeviceKind::Wearable,
            // The contract's kinds have no BP cuff: it pairs over Bluetooth
            // with a small health hub, and that hub is what publishes.
            DeviceRole::BpCuff | DeviceRole::HealthGateway => DeviceKind::HealthGateway,
            DeviceRole::SosButton => DeviceKind::SosButton,
            DeviceRole::BedSensor => DeviceKind::BedSensor,
            DeviceRole::PillBox => DeviceKind::PillBox,
            DeviceRole::Motion(_) => DeviceKind::MotionSensor,
            DeviceRole::EntranceDoor | DeviceRole::FridgeDoor => DeviceKind::DoorSensor,
            DeviceRole::KettlePlug => DeviceKind::SmartPlug,
            DeviceRole::LeakSensor | DeviceRole::SmokeSensor => DeviceKind::HazardSensor,
        }
    }

    pub fn room(self) -> Option<Room> {
        match self {
            DeviceRole::Watch | DeviceRole::SosButton => None,
            DeviceRole::BpCuff | DeviceRole::HealthGateway => Some(Room::LivingRoom),
            DeviceRole::BedSensor => Some(Room::Bedroom),
            DeviceRole::PillBox | DeviceRole::FridgeDoor | DeviceRole::KettlePlug => Some(Room::Kitchen),
            DeviceRole::SmokeSensor => Some(Room::Kitchen),
            DeviceRole::Motion(room) => Some(room),
            DeviceRole::EntranceDoor => Some(Room::Hall),
            DeviceRole::LeakSensor => Some(Room::Bathroom),
        }
    }

    pub fn placement(self) -> Option<&'static str> {
        match self {
            DeviceRole::EntranceDoor => Some("entrance"),
            DeviceRole::FridgeDoor => Some("fridge"),
            DeviceRole::KettlePlug => Some("kettle"),
            _ => None,
        }
    }

    pub fn source(self) -> Source {
        match self {
            DeviceRole::Motion(_)
            | DeviceRole::EntranceDoor
            | DeviceRole::FridgeDoor
            | DeviceRole::KettlePlug
            | DeviceRole::LeakSensor
            | DeviceRole::SmokeSensor => Source::Zigbee2Mqtt,
            _ => Source::Native,
        }
    }

    /// Mains-powered devices report no battery.
    pub fn has_battery(self) -> bool {
        !matches!(self, DeviceRole::HealthGateway | DeviceRole::BedSensor | DeviceRole::KettlePlug)
    }

    pub(crate) fn firmware(self) -> &'static str {
        match self {
            DeviceRole::Watch => "3.2.1",
            DeviceRole::BpCuff => "1.4.0",
            DeviceRole::HealthGateway => "2.0.7",
            DeviceRole::SosButton => "1.1.3",
            DeviceRole::BedSensor => "5.0.2",
            DeviceRole::PillBox => "0.9.8",
            _ => "1.0.0",
        }
    }

    /// A Zigbee2MQTT friendly name on the household's bridge.
    fn friendly_name(self) -> Option<String> {
        let tail = match self {
            DeviceRole::Motion(room) => format!("{}/motion", room.as_str()),
            DeviceRole::EntranceDoor => "hall/entrance_door".into(),
            DeviceRole::FridgeDoor => "kitchen/fridge_door".into(),
            DeviceRole::KettlePlug => "kitchen/kettle_plug".into(),
            DeviceRole::LeakSensor => "bathroom/water_leak".into(),
            DeviceRole::SmokeSensor => "kitchen/smoke".into(),
            _ => return None,
        };
        Some(tail)
    }
}

/// One device as it must be registered with the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSpec {
    pub device_id: String,
    /// Key of the simulated resident owning it.
    pub resident: String,
    pub role: DeviceRole,
    pub kind: DeviceKind,
    pub room: Option<Room>,
    pub placement: Option<&'static str>,
    pub source: Source,
    /// The Zigbee2MQTT friendly name on its household's bridge (may contain
    /// `/`); `None` for native devices.
    pub external_id: Option<String>,
    /// The household's Zigbee2MQTT bridge it speaks through; `None` for
    /// native devices, which connect as themselves.
    pub gateway: Option<String>,
}

/// A household's Zigbee2MQTT bridge: `{key}-zigbee`, publishing under
/// `zigbee2mqtt/{key}`.
pub fn gateway_id(key: &str) -> String {
    format!("{key}-zigbee")
}

pub fn gateway_base_topic(key: &str) -> String {
    format!("zigbee2mqtt/{key}")
}

impl DeviceSpec {
    pub fn new(resident: &str, role: DeviceRole) -> Self {
        DeviceSpec {
            device_id: format!("{resident}-{}", role.suffix()),
            resident: resident.to_owned(),
            role,
            kind: role.kind(),
            room: role.room(),
            placement: role.placement(),
            source: role.source(),
            external_id: role.friendly_name(),
            gateway: role.friendly_name().map(|_| gateway_id(resident)),
        }
    }

    /// The topic prefix this device publishes under (without the native suffix).
    pub fn topic_base(&self) -> String {
        match &self.external_id {
            Some(name) => format!("{}/{name}", gateway_base_topic(&self.resident)),
            None => format!("eldercare/v1/{}", self.device_id),
        }
    }

    /// The MQTT account its messages go out with: its own, or its bridge's.
    pub fn account(&self) -> &str {
        self.gateway.as_deref().unwrap_or(&self.device_id)
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("duplicate resident key {0:?}")]
    DuplicateResident(String),
    #[error("resident key {0:?} must be 1-40 characters of [A-Za-z0-9_.-]")]
    BadKey(String),
    #[error("incident {kind} names unknown resident {resident:?}")]
    UnknownResident { kind: IncidentKind, resident: String },
    #[error("incident {kind} for {resident:?}: the household has no {what}")]
    MissingDevice { kind: IncidentKind, resident: String, what: String },
    #[error("low_battery on {0}: that device is mains-powered")]
    NoBattery(String),
    #[error("incident rate must be a finite number >= 0, got {0}")]
    IncidentRate(f64),
    #[error("{0} must be a chance between 0 and 1, got {1}")]
    Chance(&'static str, f64),
}

/// Everything the generator needs: who lives where, and what goes wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub seed: u64,
    pub residents: Vec<ResidentProfile>,
    /// Expected random incidents per resident per day (0 for scripted runs only).
    pub incident_rate: f64,
    /// Scripted incidents, at absolute times.
    pub incidents: Vec<Incident>,
    /// Ordinary life that fools rules, and silent trouble (none by default).
    pub confounders: crate::confounders::Confounders,
}

impl SimConfig {
    /// `count` generated residents in `timezone`, no incidents.
    pub fn generated(count: usize, seed: u64, timezone: Tz) -> Self {
        SimConfig {
            seed,
            residents: (0..count).map(|i| ResidentProfile::generated(i, seed, timezone)).collect(),
            incident_rate: 0.0,
            incidents: Vec::new(),
            confounders: Default::default(),
        }
    }

    /// Fits a hall motion sensor in this share of homes (drawn per resident
    /// from the seed); the others have none.
    pub fn hall_sensors(&mut self, share: f64) {
        for r in &mut self.residents {
            let mut rng = seeds::rng(self.seed, &r.key, 0, Stream::Equipment);
            r.hall_sensor = rng.random::<f64>() < share;
        }
    }

    /// Gives each resident irregular outings on a share of days drawn
    /// around `share` (±0.2, within 0..1), and the day-to-day habits asked
    /// for: cold food instead of cooking, sleep shifted by hours.
    pub fn daily_life(&mut self, outings: f64, skipped_cooking: f64, shifted_sleep: f64) {
        for r in &mut self.residents {
            let mut rng = seeds::rng(self.seed, &r.key, 1, Stream::Equipment);
            let spread: f64 = rng.random_range(-0.2..=0.2);
            r.habits.outing_days = if outings > 0.0 { (outings + spread).clamp(0.05, 1.0) } else { 0.0 };
            r.habits.skipped_cooking = skipped_cooking;
            r.habits.shifted_sleep = shifted_sleep;
        }
    }

    pub fn resident(&self, key: &str) -> Option<&ResidentProfile> {
        self.residents.iter().find(|r| r.key == key)
    }

    /// Checks what the generator would otherwise have to silently skip.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.incident_rate.is_finite() || self.incident_rate < 0.0 {
            return Err(ConfigError::IncidentRate(self.incident_rate));
        }
        let c = &self.confounders;
        for (name, p) in [
            ("visitors", c.visitors),
            ("holidays", c.holidays),
            ("unrecorded holidays", c.unrecorded_holidays),
            ("stopped kettles", c.stopped_kettles),
            ("sensor deaths", c.sensor_deaths),
            ("long lies", c.long_lies),
            ("late visitors", c.late_visitors),
            ("unused rooms", c.unused_rooms),
            ("hall collapses", c.hall_collapses),
            ("falls on return", c.falls_on_return),
            ("not returned", c.not_returned),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(ConfigError::Chance(name, p));
            }
        }
        let mut keys = std::collections::HashSet::new();
        for r in &self.residents {
            let valid = !r.key.is_empty()
                && r.key.len() <= 40
                && r.key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !valid {
                return Err(ConfigError::BadKey(r.key.clone()));
            }
            if !keys.insert(r.key.as_str()) {
                return Err(ConfigError::DuplicateResident(r.key.clone()));
            }
        }
        for incident in &self.incidents {
            let resident = self.resident(&incident.resident).ok_or_else(|| ConfigError::UnknownResident {
                kind: incident.kind,
                resident: incident.resident.clone(),
            })?;
            if let Some(role) = incident.required_device() {
                if !resident.has_device(role) {
                    return Err(ConfigError::MissingDevice {
                        kind: incident.kind,
                        resident: resident.key.clone(),
                        what: role.suffix(),
                    });
                }
                if incident.kind == IncidentKind::LowBattery && !role.has_battery() {
                    return Err(ConfigError::NoBattery(format!("{}-{}", resident.key, role.suffix())));
                }
            }
        }
        Ok(())
    }
}

/// Every device of every resident: the registration data for provisioning.
pub fn devices(config: &SimConfig) -> Vec<DeviceSpec> {
    config.residents.iter().flat_map(ResidentProfile::devices).collect()
}
