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

#[cfg(test)]
mod tests {
    use super::*;

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
