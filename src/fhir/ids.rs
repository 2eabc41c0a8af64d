//! Resource ids for what eldercare keeps without a FHIR-shaped id: devices
//! (whose `device_id` may hold characters a FHIR id may not) and readings
//! (which have no id at all). Both are derived deterministically, so the
//! same record always has the same id and the id reads back.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::Metric;

/// What one Observation shows: one metric's reading, or the blood-pressure
/// panel that joins a device's systolic and diastolic readings of one time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measured {
    One(Metric),
    BloodPressure,
}

impl Measured {
    fn tag(&self) -> String {
        match self {
            Measured::One(metric) => metric.as_str().replace('_', "-"),
            Measured::BloodPressure => "bp".to_owned(),
        }
    }

    fn from_tag(tag: &str) -> Option<Measured> {
        if tag == "bp" {
            return Some(Measured::BloodPressure);
        }
        Metric::parse(&tag.replace('-', "_")).map(Measured::One)
    }

    /// The stored metrics it is made of.
    pub fn metrics(&self) -> Vec<Metric> {
        match self {
            Measured::One(metric) => vec![*metric],
            Measured::BloodPressure => vec![Metric::BpSystolic, Metric::BpDiastolic],
        }
    }
}

fn digest(device_id: &str) -> [u8; 32] {
    Sha256::digest(format!("eldercare device {device_id}").as_bytes()).into()
}

/// The FHIR id of a device: a UUID (version 8, "custom") made from a hash of
/// its `device_id`, which stays its `Device.identifier`.
pub fn device(device_id: &str) -> String {
    let hash = digest(device_id);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes).to_string()
}

/// The id of an Observation: its time (microseconds since the epoch), what
/// it measures and a short hash of the device, e.g.
/// `1795000000000000.heart-rate.0123456789abcdef` (at most 64 characters, as
/// FHIR ids are).
pub fn observation(device_id: &str, measured: Measured, ts: DateTime<Utc>) -> String {
    format!("{}.{}.{}", ts.timestamp_micros(), measured.tag(), &hex::encode(digest(device_id))[..16])
}

/// An Observation id taken apart: the time and what it measures, which find
/// the candidate readings, and the device's hash, which picks among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservationId {
    pub ts: DateTime<Utc>,
    pub measured: Measured,
    device_hash: String,
}

impl ObservationId {
    pub fn parse(id: &str) -> Option<ObservationId> {
        let mut parts = id.split('.');
        let micros: i64 = parts.next()?.parse().ok()?;
        let measured = Measured::from_tag(parts.next()?)?;
        let device_hash = parts.next()?.to_owned();
        if parts.next().is_some() || device_hash.len() != 16 {
            return None;
        }
        Some(ObservationId { ts: DateTime::from_timestamp_micros(micros)?, measured, device_hash })
    }

    pub fn is_of(&self, device_id: &str) -> bool {
        hex::encode(digest(device_id))[..16] == self.device_hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fhir_id(id: &str) -> bool {
        (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    }

    #[test]
    fn observation_ids_read_back_and_fit_fhir() {
        let ts = DateTime::from_timestamp_micros(1_795_000_000_123_456).unwrap();
        let device = "cuff_01.with-every_allowed.character";
        for measured in Metric::ALL.into_iter().map(Measured::One).chain([Measured::BloodPressure]) {
            let id = observation(device, measured, ts);
            assert!(fhir_id(&id), "{id}");
            let parsed = ObservationId::parse(&id).unwrap();
            assert_eq!((parsed.ts, parsed.measured), (ts, measured));
            assert!(parsed.is_of(device));
            assert!(!parsed.is_of("cuff_02"));
        }
        assert_eq!(observation(device, Measured::BloodPressure, ts), observation(device, Measured::BloodPressure, ts));
    }

    #[test]
    fn malformed_observation_ids_are_refused() {
        for id in
            ["", "x.heart-rate.0123456789abcdef", "1.nope.0123456789abcdef", "1.bp.short", "1.bp.0123456789abcdef.x"]
        {
            assert_eq!(ObservationId::parse(id), None, "{id}");
        }
    }

    #[test]
    fn device_ids_are_stable_uuids() {
        let id = device("gw_1/odd");
        assert!(fhir_id(&id));
        assert_eq!(id, device("gw_1/odd"));
        assert_ne!(id, device("gw_1/odd2"));
        assert_eq!(Uuid::parse_str(&id).unwrap().get_version_num(), 8);
    }
}
