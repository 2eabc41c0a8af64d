//! The four types that come in, each checked against R4: its element
//! names, its required elements, the codes bound to a required value set
//! and R4's invariants over them, and its clinical codes.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{ACT_CODE, CODING, Check, Parsed, STAY_CLASSES, Stay};
use crate::domain::clinical::concept_text;

pub(super) const CONDITION_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";
const CONDITION_VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/condition-ver-status";
pub(super) const ALLERGY_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
const ALLERGY_VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";

/// Every resource's own elements (DomainResource).
const DOMAIN_RESOURCE: &[&str] =
    &["resourceType", "id", "meta", "implicitRules", "language", "text", "contained", "extension", "modifierExtension"];
const CONDITION: &[&str] = &[
    "identifier",
    "clinicalStatus",
    "verificationStatus",
    "category",
    "severity",
    "code",
    "bodySite",
    "subject",
    "encounter",
    "onsetDateTime",
    "onsetAge",
    "onsetPeriod",
    "onsetRange",
    "onsetString",
    "abatementDateTime",
    "abatementAge",
    "abatementPeriod",
    "abatementRange",
    "abatementString",
    "recordedDate",
    "recorder",
    "asserter",
    "stage",
    "evidence",
    "note",
];
const ALLERGY: &[&str] = &[
    "identifier",
    "clinicalStatus",
    "verificationStatus",
    "type",
    "category",
    "criticality",
    "code",
    "patient",
    "encounter",
    "onsetDateTime",
    "onsetAge",
    "onsetPeriod",
    "onsetRange",
    "onsetString",
    "recordedDate",
    "recorder",
    "asserter",
    "lastOccurrence",
    "note",
    "reaction",
];
const REACTION: &[&str] =
    &["id", "extension", "substance", "manifestation", "description", "onset", "severity", "exposureRoute", "note"];
const MEDICATION: &[&str] = &[
    "identifier",
    "basedOn",
    "partOf",
    "status",
    "statusReason",
    "category",
    "medicationCodeableConcept",
    "medicationReference",
    "subject",
    "context",
    "effectiveDateTime",
    "effectivePeriod",
    "dateAsserted",
    "informationSource",
    "derivedFrom",
    "reasonCode",
    "reasonReference",
    "note",
    "dosage",
];
const DOSAGE: &[&str] = &[
    "id",
    "extension",
    "sequence",
    "text",
    "additionalInstruction",
    "patientInstruction",
    "timing",
    "asNeededBoolean",
    "asNeededCodeableConcept",
    "site",
    "route",
    "method",
    "doseAndRate",
    "maxDosePerPeriod",
    "maxDosePerAdministration",
    "maxDosePerLifetime",
];
const ENCOUNTER: &[&str] = &[
    "identifier",
    "status",
    "statusHistory",
    "class",
    "classHistory",
    "type",
    "serviceType",
    "priority",
    "subject",
    "episodeOfCare",
    "basedOn",
    "participant",
    "appointment",
    "period",
    "length",
    "reasonCode",
    "reasonReference",
    "diagnosis",
    "account",
    "hospitalization",
    "location",
    "serviceProvider",
    "partOf",
];

impl Check {
    pub(super) fn condition(&mut self, at: &str, r: &Map<String, Value>) -> Parsed {
        self.elements(at, r, &[DOMAIN_RESOURCE, CONDITION].concat());
        self.subject(at, r, "subject");
        let clinical = ["active", "recurrence", "relapse", "inactive", "remission", "resolved"];
        let verification = ["unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"];
        let status =
            self.status(&format!("{at}.clinicalStatus"), r.get("clinicalStatus"), CONDITION_CLINICAL, &clinical);
        let verified = self.status(
            &format!("{at}.verificationStatus"),
            r.get("verificationStatus"),
            CONDITION_VERIFICATION,
            &verification,
        );
        let (coding, display) = self.clinical_required(at, r, "code");
        self.concepts(at, r, &["category", "bodySite"]);
        if let Some(severity) = r.get("severity") {
            self.concept(&format!("{at}.severity"), severity);
        }
        self.lists(at, r, &["identifier", "stage", "evidence", "note"]);
        self.date_times(at, r, &["onsetDateTime", "abatementDateTime", "recordedDate"]);
        let in_error = verified.as_deref() == Some("entered-in-error");
        // con-5, con-3 and con-4 of R4.
        if in_error && r.contains_key("clinicalStatus") {
            self.refuse(
                format!("{at}.clinicalStatus"),
                "invariant",
                "no clinicalStatus when the verificationStatus is entered-in-error (con-5)",
            );
        }
        let problem_list = r
            .get("category")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("coding").and_then(Value::as_array))
            .flatten()
            .any(|c| c.get("code").and_then(Value::as_str) == Some("problem-list-item"));
        if !in_error && problem_list && !r.contains_key("clinicalStatus") {
            self.refuse(
                format!("{at}.clinicalStatus"),
                "invariant",
                "a problem-list item says its clinicalStatus (con-3)",
            );
        }
        let abated = r.keys().any(|k| k.starts_with("abatement"));
        if abated && status.as_deref().is_some_and(|s| !matches!(s, "inactive" | "resolved" | "remission")) {
            self.refuse(
                format!("{at}.clinicalStatus"),
                "invariant",
                "an abated condition is inactive, resolved or in remission (con-4)",
            );
        }
        (coding, display, None)
    }

    pub(super) fn allergy(&mut self, at: &str, r: &Map<String, Value>) -> Parsed {
        self.elements(at, r, &[DOMAIN_RESOURCE, ALLERGY].concat());
        self.subject(at, r, "patient");
        let status = self.status(
            &format!("{at}.clinicalStatus"),
            r.get("clinicalStatus"),
            ALLERGY_CLINICAL,
            &["active", "inactive", "resolved"],
        );
        let verified = self.status(
            &format!("{at}.verificationStatus"),
            r.get("verificationStatus"),
            ALLERGY_VERIFICATION,
            &["unconfirmed", "confirmed", "refuted", "entered-in-error"],
        );
        // ait-1 and ait-2 of R4.
        let in_error = verified.as_deref() == Some("entered-in-error");
        if in_error && r.contains_key("clinicalStatus") {
            self.refuse(
                format!("{at}.clinicalStatus"),
                "invariant",
                "no clinicalStatus when the verificationStatus is entered-in-error (ait-2)",
            );
        } else if !in_error && status.is_none() && !r.contains_key("clinicalStatus") {
            self.refuse(
                format!("{at}.clinicalStatus"),
                "invariant",
                "clinicalStatus is required unless the verificationStatus is entered-in-error (ait-1)",
            );
        }
        if r.contains_key("type") {
            self.code(&format!("{at}.type"), r.get("type"), &["allergy", "intolerance"]);
        }
        for (path, category) in self.list(&format!("{at}.category"), r.get("category")) {
            self.code(&path, Some(category), &["food", "medication", "environment", "biologic"]);
        }
        if r.contains_key("criticality") {
            self.code(&format!("{at}.criticality"), r.get("criticality"), &["low", "high", "unable-to-assess"]);
        }
        let (coding, display) = self.clinical_required(at, r, "code");
        for (path, reaction) in self.list(&format!("{at}.reaction"), r.get("reaction")) {
            let Some(reaction) = self.object(&path, reaction, REACTION) else { continue };
            if let Some(substance) = reaction.get("substance") {
                self.clinical(&format!("{path}.substance"), substance);
            }
            let manifestations = self.list(&format!("{path}.manifestation"), reaction.get("manifestation"));
            if manifestations.is_empty() {
                self.refuse(format!("{path}.manifestation"), "required", "a reaction says how it showed");
            }
            for (inner, manifestation) in manifestations {
                self.clinical(&inner, manifestation);
            }
            if reaction.contains_key("severity") {
                self.code(&format!("{path}.severity"), reaction.get("severity"), &["mild", "moderate", "severe"]);
            }
            if reaction.contains_key("onset") {
                self.date_time(&format!("{path}.onset"), reaction.get("onset"));
            }
        }
        self.lists(at, r, &["identifier", "note"]);
        self.date_times(at, r, &["onsetDateTime", "recordedDate", "lastOccurrence"]);
        (coding, display, None)
    }

    pub(super) fn medication(&mut self, at: &str, r: &Map<String, Value>) -> Parsed {
        self.elements(at, r, &[DOMAIN_RESOURCE, MEDICATION].concat());
        self.subject(at, r, "subject");
        let statuses =
            ["active", "completed", "entered-in-error", "intended", "stopped", "on-hold", "unknown", "not-taken"];
        if r.contains_key("status") {
            self.code(&format!("{at}.status"), r.get("status"), &statuses);
        } else {
            self.refuse(format!("{at}.status"), "required", "status is required");
        }
        if r.contains_key("medicationReference") {
            self.refuse(
                format!("{at}.medicationReference"),
                "not-supported",
                "say the medication as medicationCodeableConcept",
            );
        }
        let (coding, display) = self.clinical_required(at, r, "medicationCodeableConcept");
        for (path, reason) in self.list(&format!("{at}.reasonCode"), r.get("reasonCode")) {
            self.clinical(&path, reason);
        }
        self.concepts(at, r, &["statusReason"]);
        if let Some(category) = r.get("category") {
            self.concept(&format!("{at}.category"), category);
        }
        for (path, dosage) in self.list(&format!("{at}.dosage"), r.get("dosage")) {
            if let Some(dosage) = self.object(&path, dosage, DOSAGE) {
                self.string(&format!("{path}.text"), dosage.get("text"));
            }
        }
        self.lists(at, r, &["identifier", "basedOn", "partOf", "derivedFrom", "reasonReference", "note"]);
        self.date_times(at, r, &["effectiveDateTime", "dateAsserted"]);
        if let Some(period) = r.get("effectivePeriod") {
            self.period(&format!("{at}.effectivePeriod"), period);
        }
        (coding, display, None)
    }

    /// A hospital stay: an inpatient Encounter in progress, on leave or
    /// finished, with its period as instants (a time and a zone).
    pub(super) fn stay(&mut self, at: &str, r: &Map<String, Value>, now: DateTime<Utc>) -> Parsed {
        self.elements(at, r, &[DOMAIN_RESOURCE, ENCOUNTER].concat());
        self.subject(at, r, "subject");
        let statuses = [
            "planned",
            "arrived",
            "triaged",
            "in-progress",
            "onleave",
            "finished",
            "cancelled",
            "entered-in-error",
            "unknown",
        ];
        let status = match r.get("status") {
            None => {
                self.refuse(format!("{at}.status"), "required", "status is required");
                None
            }
            Some(status) => self.code(&format!("{at}.status"), Some(status), &statuses),
        };
        if let Some(status) = status.filter(|s| !matches!(*s, "in-progress" | "onleave" | "finished")) {
            self.refuse(
                format!("{at}.status"),
                "business-rule",
                format!("a hospital stay comes in in-progress, onleave or finished, not {status}"),
            );
        }
        match r.get("class") {
            None => self.refuse(format!("{at}.class"), "required", "class is required: IMP, a hospital stay"),
            Some(class) => {
                let path = format!("{at}.class");
                if let Some(class) = self.object(&path, class, CODING) {
                    if class.get("system").and_then(Value::as_str) != Some(ACT_CODE) {
                        self.refuse(format!("{path}.system"), "code-invalid", format!("the system is {ACT_CODE}"));
                    }
                    self.code(&format!("{path}.code"), class.get("code"), &STAY_CLASSES);
                }
            }
        }
        for (path, reason) in self.list(&format!("{at}.reasonCode"), r.get("reasonCode")) {
            self.clinical(&path, reason);
        }
        self.concepts(at, r, &["type"]);
        self.lists(
            at,
            r,
            &[
                "identifier",
                "statusHistory",
                "classHistory",
                "episodeOfCare",
                "basedOn",
                "participant",
                "appointment",
                "reasonReference",
                "diagnosis",
                "account",
                "location",
            ],
        );
        let display = r
            .get("type")
            .and_then(Value::as_array)
            .and_then(|types| types.iter().find_map(concept_text))
            .map(|t| format!("hospital stay: {t}"))
            .unwrap_or_else(|| "hospital stay".to_owned());
        let path = format!("{at}.period");
        let Some(period) = r.get("period") else {
            self.refuse(path, "required", "a hospital stay has its period (start, and end once discharged)");
            return (None, Some(display), None);
        };
        let Some((start, end)) = self.period(&path, period) else { return (None, Some(display), None) };
        let given = |name: &str| period.get(name).and_then(Value::as_str).is_some();
        let Some(start) = start else {
            if given("start") {
                self.refuse(format!("{path}.start"), "value", "the start of a stay has its time and zone");
            } else {
                self.refuse(format!("{path}.start"), "required", "start is required");
            }
            return (None, Some(display), None);
        };
        if given("end") && end.is_none() {
            self.refuse(format!("{path}.end"), "value", "the end of a stay has its time and zone");
        }
        if start > now {
            self.refuse(format!("{path}.start"), "business-rule", "a stay that has not begun is not sent yet");
        }
        if end.is_some_and(|end| end <= start) {
            self.refuse(format!("{path}.end"), "value", "a stay ends after it starts");
        }
        if status == Some("finished") {
            match end {
                None if !given("end") => {
                    self.refuse(format!("{path}.end"), "required", "a finished stay says when it ended")
                }
                Some(end) if end > now => {
                    self.refuse(format!("{path}.end"), "business-rule", "a finished stay ended by now")
                }
                _ => {}
            }
        }
        (None, Some(display), Some(Stay { start, end }))
    }
}
