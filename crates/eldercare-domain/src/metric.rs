//! The metric catalog of the device contract, as data.
//!
//! Everything that knows a metric by name, unit, LOINC code or plausible range
//! asks here, so the contract table lives in exactly one place.

/// Glucose molar mass factor from the contract: mg/dL ÷ 18.016 = mmol/L.
const MG_DL_PER_MMOL_L: f64 = 18.016;
const KG_PER_LB: f64 = 0.453_592_37;

crate::names!(
    /// A metric of the contract's catalog.
    Metric {
        HeartRate = "heart_rate",
        RespiratoryRate = "respiratory_rate",
        Spo2 = "spo2",
        BodyTemperature = "body_temperature",
        BpSystolic = "bp_systolic",
        BpDiastolic = "bp_diastolic",
        BloodGlucose = "blood_glucose",
        BodyWeight = "body_weight",
        Steps = "steps",
        RoomTemperature = "room_temperature",
        Humidity = "humidity",
        Power = "power",
        Battery = "battery",
    }
);

impl Metric {
    /// The canonical unit (UCUM code, as the contract writes it) every stored
    /// value of this metric is expressed in.
    pub fn unit(&self) -> &'static str {
        match self {
            Metric::HeartRate | Metric::RespiratoryRate => "/min",
            Metric::Spo2 | Metric::Humidity | Metric::Battery => "%",
            Metric::BodyTemperature | Metric::RoomTemperature => "Cel",
            Metric::BpSystolic | Metric::BpDiastolic => "mm[Hg]",
            Metric::BloodGlucose => "mmol/L",
            Metric::BodyWeight => "kg",
            Metric::Steps => "count",
            Metric::Power => "W",
        }
    }

    /// Inclusive range outside which a value is a sensor fault, not a
    /// clinical finding, and must not be stored as data.
    pub fn plausible(&self) -> (f64, f64) {
        match self {
            Metric::HeartRate => (20.0, 300.0),
            Metric::RespiratoryRate => (2.0, 80.0),
            Metric::Spo2 => (50.0, 100.0),
            Metric::BodyTemperature => (30.0, 45.0),
            Metric::BpSystolic => (50.0, 300.0),
            Metric::BpDiastolic => (20.0, 200.0),
            Metric::BloodGlucose => (1.0, 40.0),
            Metric::BodyWeight => (20.0, 300.0),
            Metric::Steps => (0.0, 100_000.0),
            Metric::RoomTemperature => (-30.0, 60.0),
            Metric::Humidity | Metric::Battery => (0.0, 100.0),
            Metric::Power => (0.0, 10_000.0),
        }
    }

    pub fn is_plausible(&self, value: f64) -> bool {
        let (low, high) = self.plausible();
        (low..=high).contains(&value)
    }

    /// LOINC codes that map to this metric. Blood glucose includes the mass
    /// concentration code 2339-0: its unit (mg/dL) is converted, see [`Metric::convert`].
    pub fn loinc(&self) -> &'static [&'static str] {
        match self {
            Metric::HeartRate => &["8867-4"],
            Metric::RespiratoryRate => &["9279-1"],
            Metric::Spo2 => &["59408-5", "2708-6"],
            Metric::BodyTemperature => &["8310-5"],
            Metric::BpSystolic => &["8480-6"],
            Metric::BpDiastolic => &["8462-4"],
            Metric::BloodGlucose => &["15074-8", "2339-0"],
            Metric::BodyWeight => &["29463-7"],
            Metric::Steps => &["55423-8"],
            Metric::RoomTemperature | Metric::Humidity | Metric::Power | Metric::Battery => &[],
        }
    }

    pub fn from_loinc(code: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.loinc().contains(&code))
    }

    /// Expresses `value`, given in `unit`, in the canonical unit. `None` when
    /// the unit is not one of this metric's: storing the number as-is would
    /// store a wrong value.
    ///
    /// Besides the UCUM codes, the spellings devices commonly put in a
    /// free-text unit field (`mmHg`, `bpm`, `°C`) are understood.
    pub fn convert(&self, value: f64, unit: &str) -> Option<f64> {
        if unit == self.unit() {
            return Some(value);
        }
        let canonical = match (self, unit) {
            (Metric::HeartRate, "{beats}/min" | "{beat}/min" | "beats/min" | "bpm") => value,
            (Metric::RespiratoryRate, "{breaths}/min" | "{breath}/min" | "breaths/min") => value,
            (Metric::BodyTemperature | Metric::RoomTemperature, "°C" | "C") => value,
            (Metric::BodyTemperature | Metric::RoomTemperature, "[degF]" | "°F" | "F") => (value - 32.0) * 5.0 / 9.0,
            (Metric::BpSystolic | Metric::BpDiastolic, "mmHg") => value,
            (Metric::BloodGlucose, "mmol/l") => value,
            (Metric::BloodGlucose, "mg/dL" | "mg/dl") => value / MG_DL_PER_MMOL_L,
            (Metric::BodyWeight, "g") => value / 1000.0,
            (Metric::BodyWeight, "[lb_av]" | "lb") => value * KG_PER_LB,
            (Metric::Steps, "{steps}" | "{step}" | "{count}" | "1") => value,
            (Metric::Power, "kW") => value * 1000.0,
            _ => return None,
        };
        Some(canonical)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for metric in Metric::ALL {
            assert_eq!(Metric::parse(metric.as_str()), Some(metric));
            assert_eq!(serde_json::to_value(metric).unwrap(), serde_json::Value::String(metric.as_str().into()));
            assert_eq!(metric.to_string(), metric.as_str());
        }
        assert_eq!(Metric::parse("Heart_Rate"), None);
        assert_eq!(Metric::parse(""), None);
    }

    #[test]
    fn loinc_codes_map_back_to_their_metric() {
        for metric in Metric::ALL {
            for code in metric.loinc() {
                assert_eq!(Metric::from_loinc(code), Some(metric));
            }
        }
        assert_eq!(Metric::from_loinc("2708-6"), Some(Metric::Spo2));
        assert_eq!(Metric::from_loinc("2339-0"), Some(Metric::BloodGlucose));
        assert_eq!(Metric::from_loinc("85354-9"), None);
    }

    #[test]
    fn plausible_bounds_are_inclusive() {
        for metric in Metric::ALL {
            let (low, high) = metric.plausible();
            assert!(low < high);
            assert!(metric.is_plausible(low) && metric.is_plausible(high));
            assert!(!metric.is_plausible(low - 0.001) && !metric.is_plausible(high + 0.001));
            assert!(!metric.is_plausible(f64::NAN));
        }
    }

    #[test]
    fn canonical_unit_is_identity_and_others_convert() {
        for metric in Metric::ALL {
            assert_eq!(metric.convert(42.5, metric.unit()), Some(42.5));
        }
        assert_eq!(Metric::BloodGlucose.convert(180.16, "mg/dL"), Some(10.0));
        assert_eq!(Metric::BodyTemperature.convert(98.6, "[degF)"), None);
        let celsius = Metric::BodyTemperature.convert(98.6, "[degF]").unwrap();
        assert!((celsius - 37.0).abs() < 1e-9);
        let kg = Metric::BodyWeight.convert(150.0, "[lb_av]").unwrap();
        assert!((kg - 68.038_855_5).abs() < 1e-6);
        assert_eq!(Metric::HeartRate.convert(72.0, "%"), None);
        assert_eq!(Metric::Spo2.convert(97.0, "/min"), None);
    }
}
