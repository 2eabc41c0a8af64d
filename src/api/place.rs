//! Places as the API takes them: a home's location, and where a phone says
//! it is (a carer at the door, a courier handing over a meal).

use serde::Deserialize;
use utoipa::ToSchema;

use super::{Error, Result};
use crate::domain::care::Location;

/// The location, or a 422 naming `field.lat` / `field.lon`.
pub fn check(field: &str, location: &Location) -> Result<Location> {
    Location::check(location.lat, location.lon).map_err(|which| {
        let range = if which == "lat" { "-90 to 90" } else { "-180 to 180" };
        Error::validation(&format!("{field}.{which}"), format!("{which} must be a number from {range}"))
    })
}

/// Where a phone says it is, with the accuracy it reports.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneLocation {
    #[schema(minimum = -90, maximum = 90)]
    pub lat: f64,
    #[schema(minimum = -180, maximum = 180)]
    pub lon: f64,
    /// The phone's own estimate, in metres.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100000, default = 0)]
    pub accuracy_m: f64,
}

impl PhoneLocation {
    /// The place, or a 422 naming `field.lat`, `field.lon` or
    /// `field.accuracy_m`.
    pub fn check(&self, field: &str) -> Result<Location> {
        let at = check(field, &Location { lat: self.lat, lon: self.lon })?;
        if !self.accuracy_m.is_finite() || !(0.0..=100_000.0).contains(&self.accuracy_m) {
            let why = "accuracy_m must be a number from 0 to 100000";
            return Err(Error::validation(&format!("{field}.accuracy_m"), why));
        }
        Ok(at)
    }
}
