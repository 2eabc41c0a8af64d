//! The FHIR R4 view of what eldercare holds: the resident's record as
//! hospitals, GPs and health departments read it, and the clinical records
//! medical partners send in (a `transaction` Bundle). The HTTP side is
//! `api::fhir`.
//!
//! - `model`: the R4 resources and data types we emit, as serde structs;
//! - `ids`: deterministic ids for devices and readings;
//! - `intake`: a partner's Bundle read and checked, pure;
//! - `map`: records → resources, pure;
//! - `store`: the reads the other stores do not already answer.

pub mod consent;
pub mod ids;
pub mod intake;
pub mod map;
pub mod model;
pub mod store;

use model::*;

/// The resource types the view reads by id.
pub const READABLE: [&str; 13] = [
    "Patient",
    "Device",
    "Observation",
    "Flag",
    "Task",
    "Encounter",
    "CarePlan",
    "ServiceRequest",
    "NutritionOrder",
    "Communication",
    "Condition",
    "AllergyIntolerance",
    "MedicationStatement",
];

/// What a partner may send, and how it is judged.
const TRANSACTION: &str = "Reads: the same bearer tokens and visibility as the eldercare API. Writes: only a \
    transaction Bundle (POST to the base), from a clinician whose institution holds the elder's consent in force \
    with clinical_write (else 404, as for an elder that does not exist): 1 to 100 entries, each a POST of a \
    Condition (code, subject), AllergyIntolerance (code, patient, clinicalStatus), MedicationStatement (status, \
    medicationCodeableConcept, subject) or Encounter (a hospital stay: status in-progress, onleave or finished, \
    class IMP, ACUTE or NONAC, subject, period.start with a time and zone; a finished one with its end), every \
    one about the same Patient. Clinical codes are SNOMED CT (http://snomed.info/sct), ICD-10 \
    (http://hl7.org/fhir/sid/icd-10, http://hl7.org/fhir/sid/icd-10-cm), RxNorm \
    (http://www.nlm.nih.gov/research/umls/rxnorm), NDC (http://hl7.org/fhir/sid/ndc) or China's national drug \
    code (urn:eldercare:cn-nmpa-drug-code), stored as given. All or nothing: a refused Bundle answers 422 with an \
    OperationOutcome naming each refused element (expression) and why, and nothing of it is kept.";

/// What the server supports, exactly: reads by id, the searches,
/// `$everything`, and the partners' `transaction`.
pub fn capability_statement(base: &map::Base, date: &str) -> CapabilityStatement {
    let read = || Interaction { code: "read" };
    let search = || Interaction { code: "search-type" };
    let resource = |kind: &'static str, documentation: Option<&'static str>| RestResource {
        kind,
        documentation,
        interaction: vec![read()],
        search_param: vec![],
        operation: vec![],
    };
    let mut resources = vec![
        RestResource {
            kind: "Patient",
            documentation: Some(
                "A resident. Search by _id only. $everything covers start to end, at most 31 days (the last 31 \
                 without them), paged by _count Observations (at most 1000; everything else on the first page); \
                 what medical partners sent is in it whatever the period.",
            ),
            interaction: vec![read(), search()],
            search_param: vec![SearchParam { name: "_id", kind: "token" }],
            operation: vec![Operation {
                name: "everything",
                definition: "http://hl7.org/fhir/OperationDefinition/Patient-everything",
            }],
        },
        resource(
            "Device",
            Some("device_id is Device.identifier (system urn:eldercare:device-id); the id is derived from it."),
        ),
        RestResource {
            kind: "Observation",
            documentation: Some(
                "Vital signs (LOINC, UCUM; blood pressure as the 85354-9 panel); the id is derived from device, \
                 metric and time. Search needs patient; code is system|code or code; date takes ge/le/gt/lt/eq \
                 and covers at most 31 days (the last 31 without it); _count at most 1000.",
            ),
            interaction: vec![read(), search()],
            search_param: vec![
                SearchParam { name: "patient", kind: "reference" },
                SearchParam { name: "code", kind: "token" },
                SearchParam { name: "date", kind: "date" },
                SearchParam { name: "_count", kind: "number" },
            ],
            operation: vec![],
        },
        resource("Flag", Some("An alert about a resident; code from CodeSystem/alert-kind.")),
        resource("Task", Some("The response to an alert (same id as its Flag).")),
        RestResource {
            kind: "Encounter",
            documentation: Some(
                "A care visit (class HH, period from the EVV times), or a hospital stay a medical partner sent \
                 (class IMP, ACUTE or NONAC, as sent). Search needs patient and class (IMP, ACUTE, NONAC: the \
                 stays; visits are in Patient/$everything); _count at most 1000.",
            ),
            interaction: vec![read(), search()],
            search_param: vec![
                SearchParam { name: "patient", kind: "reference" },
                SearchParam { name: "class", kind: "token" },
                SearchParam { name: "_count", kind: "number" },
            ],
            operation: vec![],
        },
        resource("CarePlan", Some("A resident's care plan (id: the resident's).")),
        resource("ServiceRequest", Some("One item of a care plan.")),
        resource("NutritionOrder", Some("A resident's meal plan (id: the resident's).")),
        resource("Communication", Some("A message of the resident's thread between family and care team.")),
    ];
    resources.push(RestResource {
        kind: "Consent",
        documentation: Some(
            "An elder's consent to a medical partner (provision.actor, contained); provision.action carries FHIR's \
             consent action and eldercare's grant (urn:eldercare:consent-grant: fhir_read, alerts, \
             clinical_write). A partner's clinician reads its own institution's only.",
        ),
        interaction: vec![read(), search()],
        search_param: vec![SearchParam { name: "patient", kind: "reference" }],
        operation: vec![],
    });
    for (kind, documentation) in [
        ("Condition", "A condition a medical partner sent, as sent (meta.source: the sending institution)."),
        ("AllergyIntolerance", "An allergy a medical partner sent, as sent (meta.source: the sending institution)."),
        ("MedicationStatement", "A medication a medical partner sent, as sent (meta.source: the sending institution)."),
    ] {
        resources.push(RestResource {
            kind,
            documentation: Some(documentation),
            interaction: vec![read(), search()],
            search_param: vec![
                SearchParam { name: "patient", kind: "reference" },
                SearchParam { name: "_count", kind: "number" },
            ],
            operation: vec![],
        });
    }
    resources.push(resource("CodeSystem", Some("Only CodeSystem/alert-kind.")));
    CapabilityStatement {
        status: "active",
        date: date.to_owned(),
        kind: "instance",
        software: Software { name: "eldercare", version: env!("CARGO_PKG_VERSION") },
        implementation: Implementation {
            description: "eldercare: a FHIR R4 view of residents' records, and the clinical records medical \
                          partners send in",
            url: base.0.clone(),
        },
        fhir_version: "4.0.1",
        format: vec!["application/fhir+json"],
        rest: vec![Rest {
            mode: "server",
            documentation: TRANSACTION,
            interaction: vec![Interaction { code: "transaction" }],
            security: RestSecurity {
                description: "Bearer token of the eldercare API (POST /api/v1/auth/login); a family member sees \
                              their residents only, a medical partner's clinician the elders whose consent to their \
                              institution is in force (fhir_read to read, clinical_write to send), platform accounts \
                              nothing personal.",
            },
            resource: resources,
        }],
    }
}
