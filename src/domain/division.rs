//! The administrative ladder a district is supervised down: district →
//! street → community → grid. A division is named by its code, and the
//! codes nest by prefix (district 6 digits of GB/T 2260, street 9 and
//! community 12 of the statistical codes, grid the community's code and 3
//! digits), so "everything under this division" is "every code starting
//! with it", which an index on the code answers cheaply.

use eldercare_domain::names;

names!(
    /// How far down the ladder a division is.
    #[derive(PartialOrd, Ord)]
    Level {
        District = "district",
        Street = "street",
        Community = "community",
        Grid = "grid",
    }
);

impl Level {
    /// The number of digits of a code at this level.
    pub fn digits(self) -> usize {
        match self {
            Level::District => 6,
            Level::Street => 9,
            Level::Community => 12,
            Level::Grid => 15,
        }
    }

    /// The level above, none for a district.
    pub fn parent(self) -> Option<Level> {
        match self {
            Level::District => None,
            Level::Street => Some(Level::District),
            Level::Community => Some(Level::Street),
            Level::Grid => Some(Level::Community),
        }
    }
}

/// A division's code: all digits, of one of the four lengths.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(String);

impl Code {
    /// The code, if `text` is one: 6, 9, 12 or 15 ASCII digits.
    pub fn parse(text: &str) -> Option<Code> {
        let code = Code(text.to_owned());
        (text.bytes().all(|b| b.is_ascii_digit()) && code.level().is_some()).then_some(code)
    }

    /// The level its length says.
    pub fn level(&self) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.digits() == self.0.len())
    }

    /// The code of the division it sits in, none for a district.
    pub fn parent(&self) -> Option<Code> {
        let parent = self.level()?.parent()?;
        Some(Code(self.0[..parent.digits()].to_owned()))
    }

    /// Whether `other` is this division or lies within it.
    pub fn contains(&self, other: &Code) -> bool {
        other.0.starts_with(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a division cannot be created with this code at this level.
pub fn check(code: &str, level: Level) -> Result<Code, String> {
    let parsed = Code::parse(code).ok_or_else(|| "code must be 6, 9, 12 or 15 digits".to_owned())?;
    if parsed.level() != Some(level) {
        return Err(format!("a {level} code has {} digits", level.digits()));
    }
    Ok(parsed)
}

/// Why `boundary` is not a GeoJSON `Polygon` or `MultiPolygon` (RFC 7946):
/// each ring at least four positions, closed (its last the same as its
/// first), each position a longitude and a latitude in range.
pub fn check_boundary(boundary: &serde_json::Value) -> Result<(), String> {
    let polygons: Vec<&serde_json::Value> = match (boundary["type"].as_str(), &boundary["coordinates"]) {
        (Some("Polygon"), polygon) => vec![polygon],
        (Some("MultiPolygon"), serde_json::Value::Array(polygons)) if !polygons.is_empty() => polygons.iter().collect(),
        (Some("MultiPolygon"), _) => return Err("a MultiPolygon's coordinates are a non-empty list of polygons".into()),
        _ => return Err("boundary must be a GeoJSON Polygon or MultiPolygon".into()),
    };
    let position = |p: &serde_json::Value| -> Option<(f64, f64)> {
        let p = p.as_array()?;
        let (lon, lat) = (p.first()?.as_f64()?, p.get(1)?.as_f64()?);
        ((2..=3).contains(&p.len()) && (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat))
            .then_some((lon, lat))
    };
    for polygon in polygons {
        let rings = polygon.as_array().filter(|r| !r.is_empty()).ok_or("a polygon is a non-empty list of rings")?;
        for ring in rings {
            let points: Option<Vec<(f64, f64)>> = ring.as_array().and_then(|r| r.iter().map(position).collect());
            let points = points.ok_or("a ring is a list of [longitude, latitude] positions in range")?;
            if points.len() < 4 || points.first() != points.last() {
                return Err("a ring has at least four positions and ends where it begins".into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_boundary_is_a_closed_polygon_or_several() {
        let square = serde_json::json!([[121.5, 29.8], [121.6, 29.8], [121.6, 29.9], [121.5, 29.9], [121.5, 29.8]]);
        assert!(check_boundary(&serde_json::json!({"type": "Polygon", "coordinates": [square]})).is_ok());
        assert!(
            check_boundary(&serde_json::json!({"type": "MultiPolygon", "coordinates": [[square], [square]]})).is_ok()
        );
        let open = serde_json::json!([[121.5, 29.8], [121.6, 29.8], [121.6, 29.9], [121.5, 29.9]]);
        let far = serde_json::json!([[181.0, 29.8], [121.6, 29.8], [121.6, 29.9], [181.0, 29.8]]);
        for bad in [
            serde_json::json!({"type": "Polygon", "coordinates": [open]}),
            serde_json::json!({"type": "Polygon", "coordinates": [far]}),
            serde_json::json!({"type": "Polygon", "coordinates": []}),
            serde_json::json!({"type": "MultiPolygon", "coordinates": []}),
            serde_json::json!({"type": "Point", "coordinates": [121.5, 29.8]}),
            serde_json::json!({"type": "Polygon", "coordinates": [["x", "y", "z", "x"]]}),
            serde_json::json!("Polygon"),
        ] {
            assert!(check_boundary(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn codes_nest_by_prefix_down_the_ladder() {
        let grid = Code::parse("330205001001001").unwrap();
        assert_eq!(grid.level(), Some(Level::Grid));
        let community = grid.parent().unwrap();
        assert_eq!(community.as_str(), "330205001001");
        let street = community.parent().unwrap();
        assert_eq!(street.as_str(), "330205001");
        let district = street.parent().unwrap();
        assert_eq!(district.as_str(), "330205");
        assert_eq!(district.parent(), None);
        assert!(district.contains(&grid) && street.contains(&grid) && grid.contains(&grid));
        assert!(!grid.contains(&district));
        assert!(!Code::parse("330206").unwrap().contains(&grid));
    }

    #[test]
    fn a_code_is_digits_of_a_level_length() {
        for bad in ["", "33020", "3302050", "33020500100a", "３３０２０５", "3302050010010011"] {
            assert_eq!(Code::parse(bad), None, "{bad}");
        }
        assert!(check("330205001", Level::Street).is_ok());
        assert_eq!(check("330205001", Level::District).unwrap_err(), "a district code has 6 digits");
        assert!(check("33020x", Level::District).is_err());
    }
}
