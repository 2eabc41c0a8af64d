//! A partner consent as a FHIR R4 `Consent`: the elder (patient) permits
//! the grantee (an actor, contained as an `Organization`) the actions her
//! grants name, for the consent's period; withdrawn, it is `inactive`.

use serde::Serialize;

use super::model::{CodeableConcept, Coding, Organization, Period, Reference, Resource};
use crate::store::partner_consents::Consent as Record;

/// eldercare's own names of what a consent grants, beside FHIR's action.
pub const GRANT_SYSTEM: &str = "urn:eldercare:consent-grant";

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Consent {
    pub id: String,
    pub contained: Vec<Resource>,
    pub status: &'static str,
    pub scope: CodeableConcept,
    pub category: Vec<CodeableConcept>,
    pub patient: Reference,
    pub date_time: String,
    pub policy_rule: CodeableConcept,
    pub provision: Provision,
}

#[derive(Debug, Clone, Serialize)]
pub struct Provision {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub period: Period,
    pub actor: Vec<ProvisionActor>,
    pub action: Vec<CodeableConcept>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProvisionActor {
    pub role: CodeableConcept,
    pub reference: Reference,
}

fn coding(system: &str, code: &str, display: &str) -> Coding {
    Coding { system: system.to_owned(), code: code.to_owned(), display: Some(display.to_owned()) }
}

/// FHIR's consent action for one of eldercare's grants.
fn action(grant: &str) -> CodeableConcept {
    let (code, display) = match grant {
        "fhir_read" => ("access", "Access"),
        "alerts" => ("disclose", "Disclose"),
        _ => ("correct", "Access and Correct"),
    };
    CodeableConcept {
        coding: vec![
            coding("http://terminology.hl7.org/CodeSystem/consentaction", code, display),
            Coding { system: GRANT_SYSTEM.to_owned(), code: grant.to_owned(), display: None },
        ],
        text: None,
    }
}

pub fn consent(record: &Record) -> Consent {
    let at = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let organization = Organization { id: "grantee".into(), name: record.grantee_name.clone() };
    Consent {
        id: record.id.to_string(),
        contained: vec![Resource::Organization(organization)],
        status: if record.withdrawn_at.is_some() || !record.active { "inactive" } else { "active" },
        scope: CodeableConcept {
            coding: vec![coding(
                "http://terminology.hl7.org/CodeSystem/consentscope",
                "patient-privacy",
                "Privacy Consent",
            )],
            text: None,
        },
        category: vec![CodeableConcept {
            coding: vec![coding("http://loinc.org", "59284-0", "Patient Consent")],
            text: None,
        }],
        patient: Reference::to("Patient", &record.resident_id.to_string()),
        date_time: at(record.created_at),
        policy_rule: CodeableConcept {
            coding: vec![coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "OPTIN", "opt-in")],
            text: Some(format!("given by {} ({})", record.recorded_by, record.recorded_method)),
        },
        provision: Provision {
            kind: "permit",
            // It ends when withdrawn, or at its end, whichever came first.
            period: Period {
                start: Some(at(record.from)),
                end: match (record.withdrawn_at, record.until) {
                    (Some(w), Some(u)) => Some(at(w.min(u))),
                    (w, u) => w.or(u).map(at),
                },
            },
            actor: vec![ProvisionActor {
                role: CodeableConcept {
                    coding: vec![coding(
                        "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                        "IRCP",
                        "information recipient",
                    )],
                    text: None,
                },
                reference: Reference::contained("grantee"),
            }],
            action: record.scope.iter().map(|g| action(g)).collect(),
        },
    }
}
