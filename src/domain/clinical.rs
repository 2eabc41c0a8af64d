//! What medical partners send in (医养结合): conditions, allergies,
//! medication and hospital stays, kept as the FHIR resources they came in
//! with their source; which of them the responder sheet shows beside what
//! staff wrote, and when the check after a discharge is planned. Values and
//! a clock in, decisions out; no I/O.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use eldercare_domain::names;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::care::local_instant;

names!(
    /// What a clinical record is: the FHIR resource type it came in as.
    ClinicalKind {
        Condition = "Condition",
        AllergyIntolerance = "AllergyIntolerance",
        MedicationStatement = "MedicationStatement",
        /// A hospital stay.
        Encounter = "Encounter",
    }
);

/// How many days after the day she came home her vital-sign thresholds are
/// to be reviewed: the days elders fall and are readmitted.
pub const VITALS_REVIEW_DAYS: i64 = 14;
/// The local time a check after a discharge is planned for when the window
/// allows it: a morning visit.
pub const CHECK_TIME: NaiveTime = match NaiveTime::from_hms_opt(10, 0, 0) {
    Some(t) => t,
    None => panic!("10:00 is a time"),
};
/// The least notice a provider is given to send someone: a check is never
/// planned sooner than this after it is planned (unless the window ends
/// sooner).
pub const CHECK_NOTICE: Duration = Duration::hours(2);
/// At most this many records of a kind on the responder sheet, newest first.
pub const MAX_ON_SHEET: usize = 50;

/// When the check after a discharge at `discharged` is to be, planned at
/// `now`, within `within` of the discharge: the first local 10:00 at least
/// [`CHECK_NOTICE`] ahead (of the discharge, or of now if later) when that
/// is in the window, else as soon as the notice allows, else the window's
/// last moment. `None` once the window has passed: a check two days late
/// is no longer the check after a discharge.
pub fn check_at<Tz: TimeZone>(
    discharged: DateTime<Utc>,
    now: DateTime<Utc>,
    within: Duration,
    tz: &Tz,
) -> Option<DateTime<Utc>> {
    let deadline = discharged + within;
    if now >= deadline {
        return None;
    }
    let earliest = (now.max(discharged) + CHECK_NOTICE).min(deadline);
    let date = earliest.with_timezone(tz).date_naive();
    let mut morning = local_instant(tz, date, CHECK_TIME);
    if morning < earliest {
        morning = local_instant(tz, date + Duration::days(1), CHECK_TIME);
    }
    Some(if morning <= deadline { morning } else { earliest })
}

/// The last day her vital-sign thresholds are to be reviewed after a
/// discharge at `discharged`: [`VITALS_REVIEW_DAYS`] after its local date.
pub fn vitals_review_until<Tz: TimeZone>(discharged: DateTime<Utc>, tz: &Tz) -> NaiveDate {
    discharged.with_timezone(tz).date_naive() + Duration::days(VITALS_REVIEW_DAYS)
}

/// What a CodeableConcept says in words: its text, else its first coding's
/// display, else that coding's code.
pub fn concept_text(concept: &Value) -> Option<String> {
    let non_empty = |v: &Value| v.as_str().filter(|s| !s.trim().is_empty()).map(str::to_owned);
    if let Some(text) = concept.get("text").and_then(non_empty) {
        return Some(text);
    }
    let codings = concept.get("coding").and_then(Value::as_array)?;
    codings
        .iter()
        .find_map(|c| c.get("display").and_then(non_empty))
        .or_else(|| codings.iter().find_map(|c| c.get("code").and_then(non_empty)))
}

/// The codes a status CodeableConcept (`clinicalStatus`,
/// `verificationStatus`) carries.
fn status_codes<'a>(resource: &'a Value, element: &str) -> impl Iterator<Item = &'a str> {
    resource
        .get(element)
        .and_then(|c| c.get("coding"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("code").and_then(Value::as_str))
}

/// Whether a record belongs on the responder sheet: the conditions and
/// allergies in force (not resolved, inactive, refuted or entered in
/// error), the medication she takes or is to take (not completed,
/// stopped, not taken or entered in error). A hospital stay is not on it.
pub fn on_sheet(kind: ClinicalKind, resource: &Value) -> bool {
    let any_of = |element: &str, codes: &[&str]| status_codes(resource, element).any(|c| codes.contains(&c));
    match kind {
        ClinicalKind::Condition => {
            !any_of("verificationStatus", &["refuted", "entered-in-error"])
                && !any_of("clinicalStatus", &["inactive", "remission", "resolved"])
        }
        ClinicalKind::AllergyIntolerance => {
            !any_of("verificationStatus", &["refuted", "entered-in-error"])
                && !any_of("clinicalStatus", &["inactive", "resolved"])
        }
        ClinicalKind::MedicationStatement => {
            let status = resource.get("status").and_then(Value::as_str).unwrap_or("unknown");
            matches!(status, "active" | "intended" | "on-hold" | "unknown")
        }
        ClinicalKind::Encounter => false,
    }
}

/// What the sheet says beside a record's name: an allergy's criticality
/// and the reactions it caused, a medication's dosage.
pub fn sheet_detail(kind: ClinicalKind, resource: &Value) -> Option<String> {
    let list = |v: Option<&Value>| v.and_then(Value::as_array).cloned().unwrap_or_default();
    let mut parts = Vec::new();
    match kind {
        ClinicalKind::AllergyIntolerance => {
            match resource.get("criticality").and_then(Value::as_str) {
                Some("high") => parts.push("high criticality".to_owned()),
                Some("unable-to-assess") => parts.push("criticality not assessed".to_owned()),
                _ => {}
            }
            let reactions: Vec<String> = list(resource.get("reaction"))
                .iter()
                .flat_map(|r| list(r.get("manifestation")))
                .filter_map(|m| concept_text(&m))
                .collect();
            if !reactions.is_empty() {
                parts.push(format!("reaction: {}", reactions.join(", ")));
            }
        }
        ClinicalKind::MedicationStatement => {
            parts.extend(
                list(resource.get("dosage"))
                    .iter()
                    .filter_map(|d| d.get("text").and_then(Value::as_str).map(str::to_owned)),
            );
        }
        ClinicalKind::Condition | ClinicalKind::Encounter => {}
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// One record a partner sent, on the responder sheet beside what staff
/// wrote, marked with its source.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = PartnerRecord)]
pub struct SheetItem {
    /// The record's id: `GET /fhir/r4/{Condition|AllergyIntolerance|MedicationStatement}/{id}`.
    pub record_id: Uuid,
    /// What it is, in words: the code's text or display, as sent.
    pub text: String,
    /// The first coding, as sent (SNOMED CT, ICD-10, RxNorm, a national drug code).
    #[schema(required = true)]
    pub system: Option<String>,
    #[schema(required = true)]
    pub code: Option<String>,
    /// An allergy's criticality and reactions, a medication's dosage.
    #[schema(required = true)]
    pub detail: Option<String>,
    /// The institution that sent it (a hospital, a family doctor team).
    pub source: String,
    pub source_institution_id: Uuid,
    pub received_at: DateTime<Utc>,
}

/// What medical partners sent for the responder sheet, by list, newest
/// first: kept apart from what staff wrote, never merged into it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = PartnerRecords)]
pub struct SheetRecords {
    pub conditions: Vec<SheetItem>,
    pub allergies: Vec<SheetItem>,
    pub medications: Vec<SheetItem>,
}

impl SheetRecords {
    /// Files a record, given newest first: on its list when it belongs on
    /// the sheet ([`on_sheet`]), once per code (or per text, uncoded) so a
    /// diagnosis sent again after each stay shows once, at most
    /// [`MAX_ON_SHEET`] to a list.
    pub fn add(&mut self, kind: ClinicalKind, resource: &Value, item: SheetItem) {
        if !on_sheet(kind, resource) {
            return;
        }
        let list = match kind {
            ClinicalKind::Condition => &mut self.conditions,
            ClinicalKind::AllergyIntolerance => &mut self.allergies,
            ClinicalKind::MedicationStatement => &mut self.medications,
            ClinicalKind::Encounter => return,
        };
        let same = |other: &SheetItem| match (&item.system, &item.code, &other.system, &other.code) {
            (Some(s), Some(c), Some(os), Some(oc)) => s == os && c == oc,
            _ => other.text.to_lowercase() == item.text.to_lowercase(),
        };
        if list.len() < MAX_ON_SHEET && !list.iter().any(same) {
            list.push(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_check_is_a_morning_visit_within_the_window_and_never_once_it_passed() {
        let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
        let within = Duration::hours(48);
        // Home at 15:00 local (07:00 UTC): the next morning at 10:00 local.
        let discharged = at("2026-12-01T07:00:00Z");
        assert_eq!(check_at(discharged, discharged, within, &tz), Some(at("2026-12-02T02:00:00Z")));
        // Home at 07:00 local: 10:00 the same morning (three hours' notice).
        let early = at("2026-11-30T23:00:00Z");
        assert_eq!(check_at(early, early, within, &tz), Some(at("2026-12-01T02:00:00Z")));
        // Told a day late: the morning after being told, still in the window.
        assert_eq!(check_at(discharged, at("2026-12-02T06:00:00Z"), within, &tz), Some(at("2026-12-03T02:00:00Z")));
        // Told with two hours of the window left: as soon as the notice allows.
        let late = at("2026-12-03T05:00:00Z");
        assert_eq!(check_at(discharged, late, within, &tz), Some(late + CHECK_NOTICE));
        // With less than the notice left: the window's last moment.
        let later = at("2026-12-03T06:30:00Z");
        assert_eq!(check_at(discharged, later, within, &tz), Some(discharged + within));
        // Past it: none.
        assert_eq!(check_at(discharged, discharged + within, within, &tz), None);
        // A short window is kept to.
        assert_eq!(check_at(discharged, discharged, Duration::hours(1), &tz), Some(discharged + Duration::hours(1)));
    }

    #[test]
    fn the_check_always_falls_after_now_and_within_the_window() {
        let tz: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        let discharged = at("2026-03-28T20:00:00Z");
        for within_hours in [1, 6, 24, 48, 72] {
            let within = Duration::hours(within_hours);
            for late_minutes in (0..within_hours * 60).step_by(37) {
                let now = discharged + Duration::minutes(late_minutes);
                let when = check_at(discharged, now, within, &tz).expect("in the window");
                assert!(when > now && when <= discharged + within, "{within_hours} h, {late_minutes} min: {when}");
            }
        }
    }

    #[test]
    fn thresholds_are_reviewed_for_two_weeks_from_the_local_day_of_discharge() {
        let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
        // 20:00 UTC is already the next day in Shanghai.
        let until = vitals_review_until(at("2026-12-01T20:00:00Z"), &tz);
        assert_eq!(until, NaiveDate::from_ymd_opt(2026, 12, 16).unwrap());
    }

    #[test]
    fn the_sheet_shows_what_is_in_force_once_each() {
        let item = |text: &str, code: Option<&str>| SheetItem {
            record_id: Uuid::new_v4(),
            text: text.into(),
            system: code.map(|_| "http://snomed.info/sct".into()),
            code: code.map(str::to_owned),
            detail: None,
            source: "City Hospital".into(),
            source_institution_id: Uuid::nil(),
            received_at: Utc::now(),
        };
        let status = |system: &str, code: &str| json!({"coding": [{"system": system, "code": code}]});
        let clinical = "http://terminology.hl7.org/CodeSystem/condition-clinical";
        let mut sheet = SheetRecords::default();
        sheet.add(
            ClinicalKind::Condition,
            &json!({"clinicalStatus": status(clinical, "active")}),
            item("Hip fracture", Some("5913000")),
        );
        // The same diagnosis again, from an older Bundle: once.
        sheet.add(ClinicalKind::Condition, &json!({}), item("Fracture of neck of femur", Some("5913000")));
        sheet.add(
            ClinicalKind::Condition,
            &json!({"clinicalStatus": status(clinical, "resolved")}),
            item("Pneumonia", None),
        );
        let refuted = json!({"verificationStatus": status("x", "refuted")});
        sheet.add(ClinicalKind::AllergyIntolerance, &refuted, item("Latex", None));
        sheet.add(ClinicalKind::AllergyIntolerance, &json!({}), item("Penicillin", None));
        sheet.add(ClinicalKind::AllergyIntolerance, &json!({}), item("penicillin", None));
        sheet.add(ClinicalKind::MedicationStatement, &json!({"status": "stopped"}), item("Warfarin", None));
        sheet.add(ClinicalKind::MedicationStatement, &json!({"status": "active"}), item("Apixaban", None));
        sheet.add(ClinicalKind::Encounter, &json!({"status": "finished"}), item("Stay", None));
        let texts = |list: &[SheetItem]| list.iter().map(|i| i.text.clone()).collect::<Vec<_>>();
        assert_eq!(texts(&sheet.conditions), ["Hip fracture"]);
        assert_eq!(texts(&sheet.allergies), ["Penicillin"]);
        assert_eq!(texts(&sheet.medications), ["Apixaban"]);
    }

    #[test]
    fn details_say_how_bad_an_allergy_is_and_how_a_medication_is_taken() {
        let allergy = json!({"criticality": "high", "reaction": [{"manifestation": [
            {"coding": [{"system": "http://snomed.info/sct", "code": "39579001", "display": "Anaphylaxis"}]},
            {"text": "hives"}]}]});
        assert_eq!(
            sheet_detail(ClinicalKind::AllergyIntolerance, &allergy).as_deref(),
            Some("high criticality; reaction: Anaphylaxis, hives")
        );
        let medication = json!({"dosage": [{"text": "5 mg twice a day"}]});
        assert_eq!(sheet_detail(ClinicalKind::MedicationStatement, &medication).as_deref(), Some("5 mg twice a day"));
        assert_eq!(sheet_detail(ClinicalKind::Condition, &json!({})), None);
        assert_eq!(concept_text(&json!({"coding": [{"code": "I10"}]})).as_deref(), Some("I10"));
    }
}
