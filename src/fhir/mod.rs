//! The FHIR R4 view of what eldercare holds: the resident's record as
//! hospitals, GPs and health departments read it. Read-only; the HTTP side
//! is `api::fhir`.
//!
//! - `model`: the R4 resources and data types we emit, as serde structs;
//! - `ids`: deterministic ids for devices and readings;
//! - `map`: records → resources, pure;
//! - `store`: the reads the other stores do not already answer.

pub mod consent;
pub mod ids;
pub mod map;
pub mod model;
pub mod store;

use model::*;

/// The resource types the view reads by id.
pub const READABLE: [&str; 10] = [
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
];

/// What the server supports, exactly: reads by id, the two searches and
/// `$everything`.
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
                 without them), paged by _count Observations (at most 1000; everything else on the first page).",
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
        resource("Encounter", Some("A care visit, class HH, period from the EVV times.")),
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
    resources.push(resource("CodeSystem", Some("Only CodeSystem/alert-kind.")));
    CapabilityStatement {
        status: "active",
        date: date.to_owned(),
        kind: "instance",
        software: Software { name: "eldercare", version: env!("CARGO_PKG_VERSION") },
        implementation: Implementation {
            description: "eldercare: a read-only FHIR R4 view of residents' records",
            url: base.0.clone(),
        },
        fhir_version: "4.0.1",
        format: vec!["application/fhir+json"],
        rest: vec![Rest {
            mode: "server",
            documentation: "Read-only. Same bearer tokens and visibility as the eldercare API.",
            security: RestSecurity {
                description: "Bearer token of the eldercare API (POST /api/v1/auth/login); a family member sees \
                              their residents only, platform accounts nothing personal.",
            },
            resource: resources,
        }],
    }
}
