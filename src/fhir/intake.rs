//! What a medical partner sends in: a FHIR R4 `transaction` Bundle of
//! `Condition`, `AllergyIntolerance`, `MedicationStatement` and `Encounter`
//! (a hospital stay) entries about one Patient, read and checked whole
//! before anything of it is stored. Every reason to refuse is collected
//! with the FHIRPath of what it is about, so the partner fixes them all in
//! one go. Pure: JSON and a clock in, the records to store or the
//! refusals out.
//!
//! Checked: the Bundle (type `transaction`, 1 to [`MAX_ENTRIES`] entries,
//! each `POST` of its own type); each resource's elements (R4's names
//! only, no empty or null value, no modifier extension we cannot
//! understand), its required elements, the codes of the elements R4 binds
//! to a required value set, and the clinical codes (the condition, the
//! allergen and reaction, the medication, a reason) of the systems in
//! [`CLINICAL_SYSTEMS`], stored as given (no terminology lookup). Every
//! `subject`/`patient` names the same `Patient/{id}`; a reference to
//! another entry's `fullUrl` is rewritten to the id eldercare gives it.
//! The checks of each of the four types are `resources`'.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::map::ACT_CODE;
use crate::domain::clinical::{ClinicalKind, concept_text};

mod resources;

/// At most this many entries in one Bundle: a discharge summary is a few
/// dozen; more is sent as several Bundles.
pub const MAX_ENTRIES: usize = 100;

pub const SNOMED: &str = "http://snomed.info/sct";
pub const ICD10: &str = "http://hl7.org/fhir/sid/icd-10";
pub const ICD10_CM: &str = "http://hl7.org/fhir/sid/icd-10-cm";
pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
/// The US National Drug Code, as FHIR names it.
pub const NDC: &str = "http://hl7.org/fhir/sid/ndc";
/// China's national drug code (国家药品编码, the 14-digit drug standard code
/// the NMPA assigns each approved drug). No URI is published for it, so
/// eldercare names it; partners code Chinese drugs with this system.
pub const CN_DRUG_CODE: &str = "urn:eldercare:cn-nmpa-drug-code";
/// The code systems a clinical code may come in.
pub const CLINICAL_SYSTEMS: [&str; 6] = [SNOMED, ICD10, ICD10_CM, RXNORM, NDC, CN_DRUG_CODE];

/// The classes of an Encounter that is a hospital stay (v3 ActCode):
/// inpatient, and its acute and non-acute kinds.
pub const STAY_CLASSES: [&str; 3] = ["IMP", "ACUTE", "NONAC"];

/// Why (part of) a Bundle is refused: what, where, and FHIR's issue type.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// A FHIRPath into the Bundle: `Bundle.entry[2].resource.code`.
    pub expression: String,
    /// The OperationOutcome issue type (`required`, `value`, `code-invalid`, ...).
    pub code: &'static str,
    pub message: String,
}

/// A hospital stay, as its Encounter's period says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stay {
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
}

/// One record to store.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The id eldercare gives it.
    pub id: Uuid,
    pub kind: ClinicalKind,
    /// The resource as sent, references to other entries rewritten.
    pub resource: Value,
    /// Its first clinical coding (system, code), as sent.
    pub coding: Option<(String, String)>,
    /// What it is, in words.
    pub display: String,
    /// For a hospital stay, its period.
    pub stay: Option<Stay>,
}

/// A Bundle that may come in.
#[derive(Debug, Clone)]
pub struct Intake {
    /// The Patient every entry is about.
    pub patient: Uuid,
    pub entries: Vec<Entry>,
}

const BUNDLE: &[&str] = &[
    "resourceType",
    "id",
    "meta",
    "implicitRules",
    "language",
    "identifier",
    "type",
    "timestamp",
    "total",
    "link",
    "entry",
    "signature",
];
const ENTRY: &[&str] = &["id", "extension", "link", "fullUrl", "resource", "request"];
const REQUEST: &[&str] = &["id", "extension", "method", "url"];
const CODEABLE_CONCEPT: &[&str] = &["id", "extension", "coding", "text"];
const CODING: &[&str] = &["id", "extension", "system", "version", "code", "display", "userSelected"];
const REFERENCE: &[&str] = &["id", "extension", "reference", "type", "identifier", "display"];
const PERIOD: &[&str] = &["id", "extension", "start", "end"];

/// Reads a partner's Bundle: the records to store, or every reason it is
/// refused. Ids are given here, so references between entries resolve.
pub fn read(bundle: &Value, now: DateTime<Utc>) -> Result<Intake, Vec<Refusal>> {
    let mut check = Check { out: Vec::new(), patient: None, urls: HashMap::new() };
    let Some(b) = bundle.as_object() else {
        return Err(vec![refusal("Bundle", "structure", "a FHIR resource is a JSON object")]);
    };
    if b.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(vec![refusal("Bundle.resourceType", "not-supported", "send a transaction Bundle")]);
    }
    check.elements("Bundle", b, BUNDLE);
    match b.get("type").and_then(Value::as_str) {
        Some("transaction") => {}
        Some(other) => {
            check.refuse("Bundle.type", "not-supported", format!("a Bundle of type transaction, not {other}"))
        }
        None => check.refuse("Bundle.type", "required", "a Bundle of type transaction"),
    }
    let entries = match b.get("entry") {
        Some(Value::Array(entries)) if !entries.is_empty() => entries.as_slice(),
        Some(Value::Array(_)) | None => {
            check.refuse("Bundle.entry", "required", "a transaction of at least one entry");
            &[]
        }
        Some(_) => {
            check.refuse("Bundle.entry", "structure", "entry is a list");
            &[]
        }
    };
    if entries.len() > MAX_ENTRIES {
        check.refuse(
            "Bundle.entry",
            "too-costly",
            format!("at most {MAX_ENTRIES} entries in one Bundle ({} here): send the rest in another", entries.len()),
        );
    }
    if !check.out.is_empty() {
        return Err(check.out);
    }

    // The ids given, so that an entry's fullUrl names its record.
    let ids: Vec<Uuid> = entries.iter().map(|_| Uuid::new_v4()).collect();
    for (i, (entry, id)) in entries.iter().zip(&ids).enumerate() {
        let kind = entry.pointer("/resource/resourceType").and_then(Value::as_str).unwrap_or("Resource");
        match entry.get("fullUrl") {
            Some(Value::String(url)) if !url.is_empty() => {
                let taken = check.urls.insert(url.clone(), format!("{kind}/{id}")).is_some();
                if taken {
                    check.refuse(format!("Bundle.entry[{i}].fullUrl"), "duplicate", "another entry has this fullUrl");
                }
            }
            Some(_) => check.refuse(format!("Bundle.entry[{i}].fullUrl"), "structure", "fullUrl is a URI"),
            None => {}
        }
    }
    // The Patient: the first any entry names.
    check.patient = entries.iter().find_map(|e| {
        let r = e.get("resource")?;
        let reference = r.get("subject").or_else(|| r.get("patient"))?.get("reference")?.as_str()?;
        patient_id(reference)
    });

    let mut out = Vec::new();
    for (i, (entry, id)) in entries.iter().zip(ids).enumerate() {
        if let Some(entry) = check.entry(&format!("Bundle.entry[{i}]"), entry, id, now) {
            out.push(entry);
        }
    }
    match check.patient {
        Some(patient) if check.out.is_empty() => Ok(Intake { patient, entries: out }),
        None if check.out.is_empty() => {
            Err(vec![refusal("Bundle.entry", "required", "no entry names its Patient (Patient/{id})")])
        }
        _ => Err(check.out),
    }
}

fn refusal(expression: impl Into<String>, code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal { expression: expression.into(), code, message: message.into() }
}

/// The id of a `Patient/{id}` reference.
fn patient_id(reference: &str) -> Option<Uuid> {
    reference.strip_prefix("Patient/").and_then(|id| Uuid::parse_str(id).ok())
}

/// A FHIR `dateTime`: `Some(instant)` for one with a time (and so a zone),
/// `None` for a year, month or day; `Err` for anything else.
fn date_time(text: &str) -> Result<Option<DateTime<Utc>>, ()> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match text.len() {
        4 if digits(text) && text != "0000" => Ok(None),
        7 => NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").map(|_| None).map_err(drop),
        10 => NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|_| None).map_err(drop),
        _ if text.contains('T') => {
            DateTime::parse_from_rfc3339(text).map(|t| Some(t.with_timezone(&Utc))).map_err(drop)
        }
        _ => Err(()),
    }
}

/// The checks of one Bundle, collecting refusals.
struct Check {
    out: Vec<Refusal>,
    /// The Patient the Bundle is about.
    patient: Option<Uuid>,
    /// Each entry's fullUrl, and the reference it becomes.
    urls: HashMap<String, String>,
}

impl Check {
    fn refuse(&mut self, at: impl Into<String>, code: &'static str, message: impl Into<String>) {
        self.out.push(refusal(at, code, message));
    }

    /// Refuses element names the type does not have (a primitive's `_name`
    /// holds its extensions).
    fn elements(&mut self, at: &str, object: &Map<String, Value>, known: &[&str]) {
        for name in object.keys() {
            let base = name.strip_prefix('_').unwrap_or(name);
            if !known.contains(&base) {
                self.refuse(format!("{at}.{name}"), "structure", format!("{name} is not an element here"));
            }
        }
    }

    /// Walks a resource: no null or empty value (FHIR's JSON has none), no
    /// modifier extension (it would change the meaning in a way we cannot
    /// read), and every reference resolvable: to the Bundle's Patient, to
    /// another entry, contained, or elsewhere (an absolute URL, or another
    /// server's `Type/id`), never to another Patient or to a `urn:` no
    /// entry has.
    fn walk(&mut self, at: &str, value: &Value) {
        match value {
            Value::Null => self.refuse(at, "structure", "null is no value in FHIR: leave the element out"),
            Value::String(s) if s.is_empty() => self.refuse(at, "structure", "an empty string: leave the element out"),
            Value::Array(items) if items.is_empty() => {
                self.refuse(at, "structure", "an empty list: leave the element out");
            }
            Value::Object(fields) if fields.is_empty() => {
                self.refuse(at, "structure", "an empty object: leave the element out");
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.walk(&format!("{at}[{i}]"), item);
                }
            }
            Value::Object(fields) => {
                for (name, inner) in fields {
                    let path = format!("{at}.{name}");
                    match (name.as_str(), inner) {
                        ("modifierExtension", _) => {
                            self.refuse(path, "not-supported", "a modifier extension eldercare does not understand")
                        }
                        ("reference", Value::String(reference)) => self.reference(&path, reference),
                        _ => self.walk(&path, inner),
                    }
                }
            }
            Value::String(_) | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn reference(&mut self, at: &str, reference: &str) {
        if reference.starts_with('#') || self.urls.contains_key(reference) {
            return;
        }
        if reference.starts_with("urn:") {
            self.refuse(at, "not-found", format!("{reference} names no entry of this Bundle"));
        } else if reference.starts_with("Patient/") && patient_id(reference) != self.patient {
            let message = match self.patient {
                Some(patient) => format!("this Bundle is about Patient/{patient}: every entry names her alone"),
                None => "a Patient is Patient/{id}".to_owned(),
            };
            self.refuse(at, "value", message);
        }
    }

    /// An object element, if it is one (refused otherwise).
    fn object<'v>(&mut self, at: &str, value: &'v Value, known: &[&str]) -> Option<&'v Map<String, Value>> {
        match value {
            Value::Object(fields) => {
                self.elements(at, fields, known);
                Some(fields)
            }
            _ => {
                self.refuse(at, "structure", "an object, please");
                None
            }
        }
    }

    /// A list element's items, if it is a list (refused otherwise).
    fn list<'v>(&mut self, at: &str, value: Option<&'v Value>) -> Vec<(String, &'v Value)> {
        match value {
            None => vec![],
            Some(Value::Array(items)) => items.iter().enumerate().map(|(i, v)| (format!("{at}[{i}]"), v)).collect(),
            Some(_) => {
                self.refuse(at, "structure", "a list, please");
                vec![]
            }
        }
    }

    /// A string element's text, if it is one (refused otherwise).
    fn string<'v>(&mut self, at: &str, value: Option<&'v Value>) -> Option<&'v str> {
        match value? {
            Value::String(s) => Some(s),
            _ => {
                self.refuse(at, "structure", "a string, please");
                None
            }
        }
    }

    /// A `code` element from a required value set.
    fn code<'v>(&mut self, at: &str, value: Option<&'v Value>, allowed: &[&str]) -> Option<&'v str> {
        let code = self.string(at, value)?;
        if allowed.contains(&code) {
            Some(code)
        } else {
            self.refuse(at, "code-invalid", format!("{code:?} is not one of {}", allowed.join(", ")));
            None
        }
    }

    /// A `dateTime` element.
    fn date_time(&mut self, at: &str, value: Option<&Value>) -> Option<Option<DateTime<Utc>>> {
        let text = self.string(at, value)?;
        match date_time(text) {
            Ok(at) => Some(at),
            Err(()) => {
                self.refuse(at, "value", format!("{text:?} is no FHIR dateTime"));
                None
            }
        }
    }

    /// A CodeableConcept's codings (each with its path), its shape checked.
    fn concept<'v>(&mut self, at: &str, value: &'v Value) -> Vec<(String, &'v Map<String, Value>)> {
        let Some(concept) = self.object(at, value, CODEABLE_CONCEPT) else { return vec![] };
        self.string(&format!("{at}.text"), concept.get("text"));
        let mut codings = Vec::new();
        for (path, coding) in self.list(&format!("{at}.coding"), concept.get("coding")) {
            if let Some(fields) = self.object(&path, coding, CODING) {
                for name in ["system", "code", "display", "version"] {
                    self.string(&format!("{path}.{name}"), fields.get(name));
                }
                codings.push((path, fields));
            }
        }
        codings
    }

    /// A clinical code: a concept whose codings each name a system of
    /// [`CLINICAL_SYSTEMS`] and a code; one with text only is words, not
    /// coded, and comes in as it is. Answers the first coding and what it
    /// says in words.
    fn clinical(&mut self, at: &str, value: &Value) -> (Option<(String, String)>, Option<String>) {
        let mut first = None;
        for (path, coding) in self.concept(at, value) {
            let system = coding.get("system").and_then(Value::as_str);
            let code = coding.get("code").and_then(Value::as_str).filter(|c| !c.trim().is_empty());
            match (system, code) {
                (None, _) => self.refuse(format!("{path}.system"), "required", "a coding names its system"),
                (Some(system), _) if !CLINICAL_SYSTEMS.contains(&system) => self.refuse(
                    format!("{path}.system"),
                    "code-invalid",
                    format!("{system} is not a code system taken here ({})", CLINICAL_SYSTEMS.join(", ")),
                ),
                (Some(_), None) => self.refuse(format!("{path}.code"), "required", "a coding names its code"),
                (Some(system), Some(code)) => {
                    first.get_or_insert_with(|| (system.to_owned(), code.to_owned()));
                }
            }
        }
        (first, concept_text(value))
    }

    /// A required clinical code.
    fn clinical_required(
        &mut self,
        at: &str,
        resource: &Map<String, Value>,
        name: &str,
    ) -> (Option<(String, String)>, Option<String>) {
        let path = format!("{at}.{name}");
        match resource.get(name) {
            None => {
                self.refuse(path, "required", format!("{name} is required"));
                (None, None)
            }
            Some(value) => {
                let (coding, text) = self.clinical(&path, value);
                if text.is_none() {
                    self.refuse(path, "required", format!("{name} says what it is: a coding or a text"));
                }
                (coding, text)
            }
        }
    }

    /// A status concept bound to a required value set of `system`: its
    /// code, when it has one of `allowed`.
    fn status(&mut self, at: &str, value: Option<&Value>, system: &str, allowed: &[&str]) -> Option<String> {
        let mut found = None;
        let codings = self.concept(at, value?);
        if codings.is_empty() {
            self.refuse(at, "required", format!("a coding of {system}"));
        }
        for (path, coding) in codings {
            if coding.get("system").and_then(Value::as_str) != Some(system) {
                self.refuse(format!("{path}.system"), "code-invalid", format!("the system is {system}"));
            } else if let Some(code) = self.code(&format!("{path}.code"), coding.get("code"), allowed) {
                found.get_or_insert_with(|| code.to_owned());
            }
        }
        found
    }

    /// The Patient an entry is about (`subject` or `patient`): required,
    /// a `Patient/{id}` (that it is the Bundle's, [`Check::walk`] holds).
    fn subject(&mut self, at: &str, resource: &Map<String, Value>, name: &str) {
        let path = format!("{at}.{name}");
        let Some(value) = resource.get(name) else {
            return self.refuse(path, "required", format!("{name} is required: Patient/{{id}}"));
        };
        let Some(reference) = self.object(&path, value, REFERENCE) else { return };
        match reference.get("reference").and_then(Value::as_str) {
            Some(reference) if reference.starts_with("Patient/") => {}
            _ => self.refuse(format!("{path}.reference"), "value", format!("{name} is Patient/{{id}}")),
        }
    }

    /// A Period element's bounds, when they are dateTimes.
    fn period(&mut self, at: &str, value: &Value) -> Option<Bounds> {
        let period = self.object(at, value, PERIOD)?;
        let start = self.date_time(&format!("{at}.start"), period.get("start"));
        let end = self.date_time(&format!("{at}.end"), period.get("end"));
        Some((start.flatten(), end.flatten()))
    }

    /// One entry: a POST of one of the four types, checked.
    fn entry(&mut self, at: &str, entry: &Value, id: Uuid, now: DateTime<Utc>) -> Option<Entry> {
        let entry = self.object(at, entry, ENTRY)?;
        let resource = match entry.get("resource") {
            None => {
                self.refuse(format!("{at}.resource"), "required", "an entry holds its resource");
                None
            }
            Some(Value::Object(resource)) => Some(resource),
            Some(_) => {
                self.refuse(format!("{at}.resource"), "structure", "a resource is an object");
                None
            }
        };
        let kind = resource.and_then(|r| match r.get("resourceType").and_then(Value::as_str) {
            Some(name) if ClinicalKind::parse(name).is_some() => ClinicalKind::parse(name),
            name => {
                let message = format!(
                    "only Condition, AllergyIntolerance, MedicationStatement and Encounter (a hospital stay) come in \
                     here, not {}",
                    name.unwrap_or("a resource without its resourceType")
                );
                self.refuse(format!("{at}.resource.resourceType"), "not-supported", message);
                None
            }
        });
        match entry.get("request") {
            None => self.refuse(format!("{at}.request"), "required", "a transaction's entry says its request"),
            Some(request) => {
                if let Some(request) = self.object(&format!("{at}.request"), request, REQUEST) {
                    let method = request.get("method").and_then(Value::as_str);
                    if method != Some("POST") {
                        self.refuse(
                            format!("{at}.request.method"),
                            "not-supported",
                            "only POST: records come in, they are never updated or deleted here",
                        );
                    }
                    let url = request.get("url").and_then(Value::as_str);
                    if let Some(kind) = kind.filter(|k| url != Some(k.as_str())) {
                        self.refuse(format!("{at}.request.url"), "value", format!("the url of a new {kind} is {kind}"));
                    }
                }
            }
        }
        let (resource, kind) = (resource?, kind?);
        let at = format!("{at}.resource");
        self.walk(&at, &Value::Object(resource.clone()));
        let (coding, display, stay) = match kind {
            ClinicalKind::Condition => self.condition(&at, resource),
            ClinicalKind::AllergyIntolerance => self.allergy(&at, resource),
            ClinicalKind::MedicationStatement => self.medication(&at, resource),
            ClinicalKind::Encounter => self.stay(&at, resource, now),
        };
        let mut resource = Value::Object(resource.clone());
        self.rewrite(&mut resource);
        Some(Entry { id, kind, resource, coding, display: display.unwrap_or_else(|| kind.to_string()), stay })
    }

    /// Rewrites references to other entries' fullUrls as the references
    /// their records have here.
    fn rewrite(&self, value: &mut Value) {
        match value {
            Value::Object(fields) => {
                for (name, inner) in fields.iter_mut() {
                    match inner {
                        Value::String(reference) if name == "reference" => {
                            if let Some(target) = self.urls.get(reference.as_str()) {
                                *reference = target.clone();
                            }
                        }
                        other => self.rewrite(other),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.rewrite(v)),
            _ => {}
        }
    }

    fn concepts(&mut self, at: &str, resource: &Map<String, Value>, names: &[&str]) {
        for name in names {
            for (path, concept) in self.list(&format!("{at}.{name}"), resource.get(*name)) {
                self.concept(&path, concept);
            }
        }
    }

    fn lists(&mut self, at: &str, resource: &Map<String, Value>, names: &[&str]) {
        for name in names {
            self.list(&format!("{at}.{name}"), resource.get(*name));
        }
    }

    fn date_times(&mut self, at: &str, resource: &Map<String, Value>, names: &[&str]) {
        for name in names {
            if resource.contains_key(*name) {
                self.date_time(&format!("{at}.{name}"), resource.get(*name));
            }
        }
    }
}

/// A period's start and end, when given as instants.
type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// What a resource's checks answer: its first clinical coding, its words,
/// and a stay's period.
type Parsed = (Option<(String, String)>, Option<String>, Option<Stay>);

#[cfg(test)]
mod tests {
    use super::resources::{ALLERGY_CLINICAL, CONDITION_CLINICAL};
    use super::*;
    use serde_json::json;

    const PATIENT: &str = "0b0e4c6e-2f57-4bd5-9a43-7d1f0f1d6a11";

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-05T08:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn subject() -> Value {
        json!({"reference": format!("Patient/{PATIENT}")})
    }

    fn condition() -> Value {
        json!({"resourceType": "Condition", "subject": subject(),
               "clinicalStatus": {"coding": [{"system": CONDITION_CLINICAL, "code": "active"}]},
               "code": {"coding": [{"system": SNOMED, "code": "5913000", "display": "Fracture of neck of femur"}]}})
    }

    fn allergy() -> Value {
        json!({"resourceType": "AllergyIntolerance", "patient": subject(), "criticality": "high",
               "clinicalStatus": {"coding": [{"system": ALLERGY_CLINICAL, "code": "active"}]},
               "code": {"coding": [{"system": SNOMED, "code": "764146007", "display": "Penicillin"}]},
               "reaction": [{"manifestation": [{"text": "hives"}]}]})
    }

    fn medication() -> Value {
        json!({"resourceType": "MedicationStatement", "subject": subject(), "status": "active",
               "medicationCodeableConcept": {"coding": [
                   {"system": RXNORM, "code": "1364430", "display": "apixaban 2.5 MG"}]},
               "dosage": [{"text": "2.5 mg twice a day"}]})
    }

    fn stay() -> Value {
        json!({"resourceType": "Encounter", "subject": subject(), "status": "finished",
               "class": {"system": ACT_CODE, "code": "IMP"},
               "period": {"start": "2026-11-20T09:00:00+08:00", "end": "2026-12-04T15:00:00+08:00"}})
    }

    fn bundle(resources: Vec<Value>) -> Value {
        let entry: Vec<Value> = resources
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let kind = r["resourceType"].clone();
                json!({"fullUrl": format!("urn:uuid:00000000-0000-0000-0000-00000000000{i}"), "resource": r,
                       "request": {"method": "POST", "url": kind}})
            })
            .collect();
        json!({"resourceType": "Bundle", "type": "transaction", "entry": entry})
    }

    fn refused(bundle: &Value) -> Vec<(String, &'static str)> {
        read(bundle, now()).expect_err("refused").into_iter().map(|r| (r.expression, r.code)).collect()
    }

    #[test]
    fn a_discharge_bundle_comes_in_whole_with_its_codes_and_its_stay() {
        let mut with_reference = condition();
        with_reference["encounter"] = json!({"reference": "urn:uuid:00000000-0000-0000-0000-000000000003"});
        let intake = read(&bundle(vec![with_reference, allergy(), medication(), stay()]), now()).expect("accepted");
        assert_eq!(intake.patient.to_string(), PATIENT);
        let kinds: Vec<ClinicalKind> = intake.entries.iter().map(|e| e.kind).collect();
        use ClinicalKind::*;
        assert_eq!(kinds, [Condition, AllergyIntolerance, MedicationStatement, Encounter]);
        let condition = &intake.entries[0];
        assert_eq!(condition.coding, Some((SNOMED.to_owned(), "5913000".to_owned())));
        assert_eq!(condition.display, "Fracture of neck of femur");
        // The reference to the stay's entry is the stay's record now.
        let stay = &intake.entries[3];
        assert_eq!(condition.resource["encounter"]["reference"], format!("Encounter/{}", stay.id));
        let period = stay.stay.expect("a stay");
        assert_eq!(period.start.to_rfc3339(), "2026-11-20T01:00:00+00:00");
        assert_eq!(period.end.map(|e| e.to_rfc3339()).as_deref(), Some("2026-12-04T07:00:00+00:00"));
        assert_eq!(intake.entries[2].display, "apixaban 2.5 MG");
        assert_eq!(intake.entries[1].coding.as_ref().map(|c| c.1.as_str()), Some("764146007"));
    }

    #[test]
    fn each_bad_entry_is_named_with_its_reason_and_the_good_ones_are_not() {
        let mut foreign = medication();
        foreign["medicationCodeableConcept"]["coding"][0]["system"] = json!("http://example.org/drugs");
        let mut empty_code = allergy();
        empty_code["code"]["coding"][0]["code"] = json!("");
        let got = refused(&bundle(vec![condition(), foreign, empty_code, stay()]));
        assert_eq!(
            got,
            [
                ("Bundle.entry[1].resource.medicationCodeableConcept.coding[0].system".to_owned(), "code-invalid"),
                ("Bundle.entry[2].resource.code.coding[0].code".to_owned(), "structure"),
                ("Bundle.entry[2].resource.code.coding[0].code".to_owned(), "required"),
            ]
        );
    }

    #[test]
    fn other_types_methods_bundles_and_patients_are_refused() {
        let patient = json!({"resourceType": "Patient", "name": [{"text": "X"}]});
        assert_eq!(
            refused(&bundle(vec![condition(), patient])),
            [("Bundle.entry[1].resource.resourceType".to_owned(), "not-supported")]
        );
        let mut put = bundle(vec![condition()]);
        put["entry"][0]["request"]["method"] = json!("PUT");
        assert_eq!(refused(&put), [("Bundle.entry[0].request.method".to_owned(), "not-supported")]);
        let mut batch = bundle(vec![condition()]);
        batch["type"] = json!("batch");
        assert_eq!(refused(&batch), [("Bundle.type".to_owned(), "not-supported")]);
        let mut another = condition();
        another["subject"]["reference"] = json!("Patient/9a8f7e6d-5c4b-4a39-8271-605f4e3d2c1b");
        assert_eq!(
            refused(&bundle(vec![condition(), another])),
            [("Bundle.entry[1].resource.subject.reference".to_owned(), "value")]
        );
        let many = bundle(vec![condition(); MAX_ENTRIES + 1]);
        assert_eq!(refused(&many), [("Bundle.entry".to_owned(), "too-costly")]);
        assert_eq!(
            refused(&json!({"resourceType": "Bundle", "type": "transaction"})),
            [("Bundle.entry".to_owned(), "required")]
        );
        assert_eq!(
            refused(&json!({"resourceType": "Condition"})),
            [("Bundle.resourceType".to_owned(), "not-supported")]
        );
    }

    #[test]
    fn required_elements_and_bound_codes_are_held_to() {
        let mut no_code = condition();
        no_code.as_object_mut().unwrap().remove("code");
        let mut bad_status = condition();
        bad_status["clinicalStatus"]["coding"][0]["code"] = json!("better");
        let mut no_status = medication();
        no_status.as_object_mut().unwrap().remove("status");
        let mut reference = medication();
        reference.as_object_mut().unwrap().remove("medicationCodeableConcept");
        reference["medicationReference"] = json!({"reference": "Medication/1"});
        let mut unknown = allergy();
        unknown["colour"] = json!("red");
        let mut modifier = allergy();
        modifier["modifierExtension"] = json!([{"url": "http://example.org/x", "valueBoolean": true}]);
        let got = refused(&bundle(vec![no_code, bad_status, no_status, reference, unknown, modifier]));
        assert_eq!(
            got,
            [
                ("Bundle.entry[0].resource.code".to_owned(), "required"),
                ("Bundle.entry[1].resource.clinicalStatus.coding[0].code".to_owned(), "code-invalid"),
                ("Bundle.entry[2].resource.status".to_owned(), "required"),
                ("Bundle.entry[3].resource.medicationReference".to_owned(), "not-supported"),
                ("Bundle.entry[3].resource.medicationCodeableConcept".to_owned(), "required"),
                ("Bundle.entry[4].resource.colour".to_owned(), "structure"),
                ("Bundle.entry[5].resource.modifierExtension".to_owned(), "not-supported"),
            ]
        );
    }

    #[test]
    fn a_stay_is_an_inpatient_period_that_has_begun_and_ends_after_it_starts() {
        let mut outpatient = stay();
        outpatient["class"]["code"] = json!("AMB");
        let mut unended = stay();
        unended["period"].as_object_mut().unwrap().remove("end");
        let mut future = stay();
        future["status"] = json!("in-progress");
        future["period"] = json!({"start": "2026-12-06T09:00:00Z"});
        let mut backwards = stay();
        backwards["period"]["end"] = json!("2026-11-19T09:00:00+08:00");
        let mut day_only = stay();
        day_only["period"]["start"] = json!("2026-11-20");
        let mut cancelled = stay();
        cancelled["status"] = json!("cancelled");
        let got = refused(&bundle(vec![outpatient, unended, future, backwards, day_only, cancelled]));
        assert_eq!(
            got,
            [
                ("Bundle.entry[0].resource.class.code".to_owned(), "code-invalid"),
                ("Bundle.entry[1].resource.period.end".to_owned(), "required"),
                ("Bundle.entry[2].resource.period.start".to_owned(), "business-rule"),
                ("Bundle.entry[3].resource.period.end".to_owned(), "value"),
                ("Bundle.entry[4].resource.period.start".to_owned(), "value"),
                ("Bundle.entry[5].resource.status".to_owned(), "business-rule"),
            ]
        );
        // Still in hospital, discharge planned for tomorrow: a stay with an end ahead.
        let mut planned = stay();
        planned["status"] = json!("in-progress");
        planned["period"]["end"] = json!("2026-12-06T10:00:00+08:00");
        let intake = read(&bundle(vec![planned]), now()).expect("accepted");
        assert!(intake.entries[0].stay.and_then(|s| s.end).is_some_and(|end| end > now()));
    }

    #[test]
    fn references_name_the_bundle_s_patient_or_entries() {
        let mut dangling = condition();
        dangling["encounter"] = json!({"reference": "urn:uuid:5d1c7a10-0000-4000-8000-000000000000"});
        let mut asserted = condition();
        asserted["asserter"] = json!({"reference": "Patient/9a8f7e6d-5c4b-4a39-8271-605f4e3d2c1b"});
        let mut elsewhere = condition();
        elsewhere["recorder"] =
            json!({"reference": "https://hospital.example/fhir/Practitioner/7", "display": "Dr Wu"});
        let got = refused(&bundle(vec![dangling, asserted, elsewhere]));
        assert_eq!(
            got,
            [
                ("Bundle.entry[0].resource.encounter.reference".to_owned(), "not-found"),
                ("Bundle.entry[1].resource.asserter.reference".to_owned(), "value"),
            ]
        );
    }

    #[test]
    fn fhir_date_times_are_read_as_fhir_spells_them() {
        assert_eq!(date_time("2026"), Ok(None));
        assert_eq!(date_time("2026-11"), Ok(None));
        assert_eq!(date_time("2026-11-30"), Ok(None));
        assert!(date_time("2026-11-30T10:00:00+08:00").unwrap().is_some());
        for bad in ["", "26", "2026-13", "2026-11-31", "2026-11-30T10:00", "yesterday", "0000"] {
            assert!(date_time(bad).is_err(), "{bad}");
        }
    }
}
