//! The elder registry's vocabulary: the resident identity number (GB
//! 11643), who an elder lives with and what support they receive, and the
//! services an institution is enrolled for.

use chrono::{Datelike, NaiveDate};
use eldercare_domain::names;

names!(
    Gender {
        Female = "female",
        Male = "male",
    }
);

names!(
    /// Whom the elder lives with: `alone` is who a grid worker checks on.
    Household {
        Alone = "alone",
        WithSpouse = "with_spouse",
        WithFamily = "with_family",
        Other = "other",
    }
);

names!(
    /// The public support the elder receives: none, low income, minimum
    /// living allowance (dibao) or the destitute's support (tekun).
    EconomicStatus {
        None = "none",
        LowIncome = "low_income",
        Dibao = "dibao",
        Tekun = "tekun",
    }
);

names!(
    /// What an institution is enrolled to do for an elder, and so which of
    /// the elder's data it reaches.
    #[derive(PartialOrd, Ord)]
    Service {
        /// Devices, readings, events, alerts, rule settings, family links
        /// and messages; alerts are routed to this institution.
        Monitoring = "monitoring",
        /// The care plan, visits, the responder sheet and the open alerts.
        HomeCare = "home_care",
        /// The meal plan (diet, texture, allergies), orders, delivery
        /// notes and location.
        Meals = "meals",
        /// All of it.
        DayCare = "day_care",
        /// All of it.
        Residential = "residential",
    }
);

names!(
    /// Who consented to an enrolment.
    ConsentBy {
        Resident = "resident",
        Family = "family",
        Guardian = "guardian",
    }
);

names!(
    /// How the consent was given.
    ConsentMethod {
        Written = "written",
        Verbal = "verbal",
        Electronic = "electronic",
    }
);

/// The weights of the first 17 characters in the check digit (GB 11643:
/// 2^(17-i) mod 11).
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// The check character by the weighted sum mod 11.
const CHECK: &[u8; 11] = b"10X98765432";

/// An 18-character PRC resident identity number whose check digit, date of
/// birth and area code hold. Holds the number in its canonical form (an
/// upper-case `X`); it is stored sealed and answered only [`masked`].
///
/// [`masked`]: IdNumber::masked
#[derive(Clone, PartialEq, Eq)]
pub struct IdNumber(String);

/// Never in logs: a `{:?}` shows the masked form.
impl std::fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

impl IdNumber {
    /// The number, or why it is not one (for a 422 naming `id_number`).
    pub fn parse(text: &str) -> Result<IdNumber, &'static str> {
        let text = text.trim().to_ascii_uppercase();
        let bytes = text.as_bytes();
        if bytes.len() != 18 {
            return Err("id_number must be 18 characters");
        }
        let (body, check) = bytes.split_at(17);
        if !body.iter().all(u8::is_ascii_digit) || !(check[0].is_ascii_digit() || check[0] == b'X') {
            return Err("id_number must be 17 digits and a check digit (0-9 or X)");
        }
        if body[0] == b'0' {
            return Err("id_number must begin with an area code");
        }
        let date = std::str::from_utf8(&body[6..14]).ok().and_then(|d| NaiveDate::parse_from_str(d, "%Y%m%d").ok());
        if date.is_none_or(|d| d.year() < 1880) {
            return Err("id_number holds no valid date of birth");
        }
        let sum: u32 = body.iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
        if CHECK[(sum % 11) as usize] != check[0] {
            return Err("id_number's check digit does not match");
        }
        Ok(IdNumber(text))
    }

    /// The date of birth it holds.
    pub fn birth_date(&self) -> NaiveDate {
        NaiveDate::parse_from_str(&self.0[6..14], "%Y%m%d").expect("checked when parsed")
    }

    /// The gender it holds: the sequence number's last digit is odd for a
    /// man, even for a woman.
    pub fn gender(&self) -> Gender {
        if (self.0.as_bytes()[16] - b'0') % 2 == 1 { Gender::Male } else { Gender::Female }
    }

    /// The area code, 8 stars, the last four: `330205********1234`.
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.0[..6], &self.0[14..])
    }

    /// The number itself, for sealing and for the keyed lookup hash only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// An id number as it is kept: sealed (bound to the resident, see
/// [`super::keys::SealingKey`]), its keyed lookup hash (unique across the
/// platform, so the same elder is found whoever registers them), and its
/// masked form.
#[derive(Debug)]
pub struct SealedIdNumber {
    pub sealed: String,
    pub lookup: Vec<u8>,
    pub masked: String,
}

/// What id numbers are sealed for: the key serves nothing else.
const SEALING_PURPOSE: &[u8] = b"resident id numbers";
/// The context of the lookup hash.
const LOOKUP_CONTEXT: &[u8] = b"eldercare id number lookup v1";

impl IdNumber {
    /// The keyed hash the registry finds this number by.
    pub fn lookup(&self, secret: &secrecy::SecretString) -> Vec<u8> {
        super::keys::derive(secret, LOOKUP_CONTEXT, &[self.0.as_bytes()]).to_vec()
    }

    /// Sealed for `resident`, with its lookup hash and masked form.
    pub fn seal(&self, secret: &secrecy::SecretString, resident: uuid::Uuid) -> SealedIdNumber {
        let key = super::keys::SealingKey::derive(secret, SEALING_PURPOSE);
        SealedIdNumber {
            sealed: key.seal(&self.0, resident.as_bytes()),
            lookup: self.lookup(secret),
            masked: self.masked(),
        }
    }
}

/// Age in whole years on `today`.
pub fn age(birth: NaiveDate, today: NaiveDate) -> u32 {
    let mut years = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    years.max(0) as u32
}

/// The forms an international number (`+8613800000000`) may have been
/// written in on the registry, which keeps a number as it was given: whole,
/// without its `+`, and for a Chinese number the national form (the mobile
/// `13800000000`, the landline with its trunk `0`: `057487654321`).
pub fn phone_variants(e164: &str) -> Vec<String> {
    let digits = e164.strip_prefix('+').unwrap_or(e164);
    let mut variants = vec![format!("+{digits}"), digits.to_owned()];
    if let Some(national) = digits.strip_prefix("86").filter(|n| n.len() >= 6) {
        variants.push(national.to_owned());
        if !national.starts_with('1') {
            variants.push(format!("0{national}"));
        }
    }
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The number with the check digit GB 11643 gives it.
    fn with_check(body: &str) -> String {
        let sum: u32 = body.bytes().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
        format!("{body}{}", CHECK[(sum % 11) as usize] as char)
    }

    #[test]
    fn the_standards_own_example_passes() {
        // GB 11643-1999's example number.
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.birth_date(), NaiveDate::from_ymd_opt(1949, 12, 31).unwrap());
        assert_eq!(id.gender(), Gender::Female);
        assert_eq!(id.masked(), "110105********002X");
        assert_eq!(IdNumber::parse("11010519491231002x").unwrap().expose(), "11010519491231002X");
        assert_eq!(format!("{id:?}"), "IdNumber(110105********002X)");
    }

    #[test]
    fn every_wrong_check_digit_is_refused() {
        let good = with_check("33020519380504123");
        assert!(IdNumber::parse(&good).is_ok());
        assert_eq!(IdNumber::parse(&good).unwrap().gender(), Gender::Male);
        for check in "0123456789X".chars().filter(|c| !good.ends_with(*c)) {
            let bad = format!("{}{check}", &good[..17]);
            assert_eq!(IdNumber::parse(&bad), Err("id_number's check digit does not match"), "{bad}");
        }
    }

    #[test]
    fn shape_date_and_area_are_checked() {
        assert!(IdNumber::parse("1101051949123100").is_err());
        assert!(IdNumber::parse(&with_check("1101051949123A00")).is_err());
        assert_eq!(IdNumber::parse(&with_check("33020519380230123")), Err("id_number holds no valid date of birth"));
        assert_eq!(IdNumber::parse(&with_check("03020519380504123")), Err("id_number must begin with an area code"));
    }

    #[test]
    fn age_turns_on_the_birthday() {
        let birth = NaiveDate::from_ymd_opt(1938, 5, 4).unwrap();
        assert_eq!(age(birth, NaiveDate::from_ymd_opt(2026, 5, 3).unwrap()), 87);
        assert_eq!(age(birth, NaiveDate::from_ymd_opt(2026, 5, 4).unwrap()), 88);
    }

    #[test]
    fn a_number_is_found_in_every_form_the_registry_may_keep() {
        assert_eq!(phone_variants("+8613800000000"), ["+8613800000000", "8613800000000", "13800000000"]);
        assert_eq!(
            phone_variants("+8657487654321"),
            ["+8657487654321", "8657487654321", "57487654321", "057487654321"]
        );
        assert_eq!(phone_variants("+447700900123"), ["+447700900123", "447700900123"]);
    }
}
