//! The FHIR R4 resources and data types the view emits, as typed serde
//! structs: only the elements eldercare fills, spelled as R4 spells them.
//!
//! Hand-written rather than taken from a generated crate: the R4 models of
//! `fhirbolt` (the one R4 crate) are an experimental, unmaintained release
//! of 1.5 million generated lines whose build cost every compile here would
//! pay, for a dozen resources of which we fill a few elements each.

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::domain::clinical::ClinicalKind;

/// Leaves an empty list out, as FHIR forbids empty arrays.
fn none<T>(v: &[T]) -> bool {
    v.is_empty()
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "resourceType")]
pub enum Resource {
    Patient(Patient),
    Device(Device),
    Observation(Observation),
    Flag(Flag),
    Task(Task),
    Encounter(Encounter),
    CarePlan(CarePlan),
    ServiceRequest(ServiceRequest),
    NutritionOrder(NutritionOrder),
    Communication(Communication),
    Practitioner(Practitioner),
    RelatedPerson(RelatedPerson),
    Location(Location),
    Organization(Organization),
    Bundle(Bundle),
    CapabilityStatement(CapabilityStatement),
    CodeSystem(CodeSystem),
    OperationOutcome(OperationOutcome),
    Consent(super::consent::Consent),
    /// What a medical partner sent (a Condition, an AllergyIntolerance, a
    /// MedicationStatement, a hospital stay's Encounter), as it was sent:
    /// it names its own type.
    #[serde(untagged)]
    Clinical(Clinical),
}

impl Resource {
    pub fn type_name(&self) -> &'static str {
        match self {
            Resource::Patient(_) => "Patient",
            Resource::Device(_) => "Device",
            Resource::Observation(_) => "Observation",
            Resource::Flag(_) => "Flag",
            Resource::Task(_) => "Task",
            Resource::Encounter(_) => "Encounter",
            Resource::CarePlan(_) => "CarePlan",
            Resource::ServiceRequest(_) => "ServiceRequest",
            Resource::NutritionOrder(_) => "NutritionOrder",
            Resource::Communication(_) => "Communication",
            Resource::Practitioner(_) => "Practitioner",
            Resource::RelatedPerson(_) => "RelatedPerson",
            Resource::Location(_) => "Location",
            Resource::Organization(_) => "Organization",
            Resource::Bundle(_) => "Bundle",
            Resource::CapabilityStatement(_) => "CapabilityStatement",
            Resource::CodeSystem(_) => "CodeSystem",
            Resource::OperationOutcome(_) => "OperationOutcome",
            Resource::Consent(_) => "Consent",
            Resource::Clinical(r) => r.kind.as_str(),
        }
    }

    /// The resource's id, for those that have one.
    pub fn id(&self) -> Option<&str> {
        match self {
            Resource::Patient(r) => Some(&r.id),
            Resource::Device(r) => Some(&r.id),
            Resource::Observation(r) => Some(&r.id),
            Resource::Flag(r) => Some(&r.id),
            Resource::Task(r) => Some(&r.id),
            Resource::Encounter(r) => Some(&r.id),
            Resource::CarePlan(r) => Some(&r.id),
            Resource::ServiceRequest(r) => Some(&r.id),
            Resource::NutritionOrder(r) => Some(&r.id),
            Resource::Communication(r) => Some(&r.id),
            Resource::Practitioner(r) => Some(&r.id),
            Resource::RelatedPerson(r) => Some(&r.id),
            Resource::Location(r) => Some(&r.id),
            Resource::Organization(r) => Some(&r.id),
            Resource::CodeSystem(r) => Some(&r.id),
            Resource::Consent(r) => Some(&r.id),
            Resource::Clinical(r) => Some(&r.id),
            Resource::Bundle(_) | Resource::CapabilityStatement(_) | Resource::OperationOutcome(_) => None,
        }
    }
}

// ---- data types ----

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Coding {
    pub system: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CodeableConcept {
    #[serde(skip_serializing_if = "none")]
    pub coding: Vec<Coding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl CodeableConcept {
    pub fn text(text: impl Into<String>) -> Self {
        CodeableConcept { coding: vec![], text: Some(text.into()) }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Reference {
    pub reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl Reference {
    pub fn to(resource_type: &str, id: &str) -> Self {
        Reference { reference: format!("{resource_type}/{id}"), display: None }
    }

    pub fn contained(id: &str) -> Self {
        Reference { reference: format!("#{id}"), display: None }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Identifier {
    pub system: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Period {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Quantity {
    pub value: f64,
    pub unit: String,
    pub system: String,
    pub code: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct HumanName {
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Address {
    pub text: String,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timing {
    pub repeat: TimingRepeat,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimingRepeat {
    #[serde(skip_serializing_if = "none")]
    pub day_of_week: Vec<String>,
    #[serde(skip_serializing_if = "none")]
    pub time_of_day: Vec<String>,
    #[serde(skip_serializing_if = "none")]
    pub when: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Annotation {
    pub text: String,
}

// ---- resources ----

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    pub id: String,
    #[serde(skip_serializing_if = "none")]
    pub contained: Vec<Resource>,
    pub active: bool,
    pub name: Vec<HumanName>,
    #[serde(skip_serializing_if = "none")]
    pub address: Vec<Address>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managing_organization: Option<Reference>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub id: String,
    pub identifier: Vec<Identifier>,
    pub status: &'static str,
    #[serde(rename = "type")]
    pub kind: CodeableConcept,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<Reference>,
    #[serde(skip_serializing_if = "none")]
    pub note: Vec<Annotation>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    pub id: String,
    pub status: &'static str,
    pub category: Vec<CodeableConcept>,
    pub code: CodeableConcept,
    pub subject: Reference,
    pub effective_date_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_quantity: Option<Quantity>,
    #[serde(skip_serializing_if = "none")]
    pub component: Vec<ObservationComponent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<Reference>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservationComponent {
    pub code: CodeableConcept,
    pub value_quantity: Quantity,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Flag {
    pub id: String,
    pub status: &'static str,
    pub code: CodeableConcept,
    pub subject: Reference,
    pub period: Period,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub id: String,
    #[serde(skip_serializing_if = "none")]
    pub contained: Vec<Resource>,
    pub status: &'static str,
    pub intent: &'static str,
    pub priority: &'static str,
    pub code: CodeableConcept,
    pub focus: Reference,
    #[serde(rename = "for")]
    pub beneficiary: Reference,
    pub authored_on: String,
    pub last_modified: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Reference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_period: Option<Period>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Encounter {
    pub id: String,
    #[serde(skip_serializing_if = "none")]
    pub contained: Vec<Resource>,
    pub status: &'static str,
    pub class: Coding,
    #[serde(rename = "type")]
    pub kind: Vec<CodeableConcept>,
    pub subject: Reference,
    #[serde(skip_serializing_if = "none")]
    pub participant: Vec<EncounterParticipant>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    #[serde(skip_serializing_if = "none")]
    pub location: Vec<EncounterLocation>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EncounterParticipant {
    pub individual: Reference,
}

#[derive(Debug, Clone, Serialize)]
pub struct EncounterLocation {
    pub location: Reference,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CarePlan {
    pub id: String,
    pub status: &'static str,
    pub intent: &'static str,
    pub subject: Reference,
    #[serde(skip_serializing_if = "none")]
    pub activity: Vec<CarePlanActivity>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CarePlanActivity {
    pub reference: Reference,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRequest {
    pub id: String,
    pub based_on: Vec<Reference>,
    pub status: &'static str,
    pub intent: &'static str,
    pub code: CodeableConcept,
    pub subject: Reference,
    pub occurrence_timing: Timing,
    #[serde(skip_serializing_if = "none")]
    pub note: Vec<Annotation>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NutritionOrder {
    pub id: String,
    pub status: &'static str,
    pub intent: &'static str,
    pub patient: Reference,
    pub date_time: String,
    #[serde(skip_serializing_if = "none")]
    pub exclude_food_modifier: Vec<CodeableConcept>,
    pub oral_diet: OralDiet,
    #[serde(skip_serializing_if = "none")]
    pub note: Vec<Annotation>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OralDiet {
    #[serde(rename = "type", skip_serializing_if = "none")]
    pub kind: Vec<CodeableConcept>,
    #[serde(skip_serializing_if = "none")]
    pub schedule: Vec<Timing>,
    #[serde(skip_serializing_if = "none")]
    pub texture: Vec<Texture>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Texture {
    pub modifier: CodeableConcept,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Communication {
    pub id: String,
    #[serde(skip_serializing_if = "none")]
    pub contained: Vec<Resource>,
    pub status: &'static str,
    pub subject: Reference,
    pub sent: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<Reference>,
    pub payload: Vec<Payload>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    pub content_string: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RelatedPerson {
    pub id: String,
    pub patient: Reference,
    #[serde(skip_serializing_if = "none")]
    pub relationship: Vec<CodeableConcept>,
    pub name: Vec<HumanName>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Practitioner {
    pub id: String,
    pub name: Vec<HumanName>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Location {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub position: Position,
}

#[derive(Debug, Clone, Serialize)]
pub struct Position {
    pub longitude: f64,
    pub latitude: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Organization {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Bundle {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    #[serde(skip_serializing_if = "none")]
    pub link: Vec<BundleLink>,
    #[serde(skip_serializing_if = "none")]
    pub entry: Vec<BundleEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BundleLink {
    pub relation: &'static str,
    pub url: String,
}

/// An entry of a searchset (its resource and search mode) or of a
/// transaction-response (what was done).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleEntry {
    pub full_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<Resource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<BundleSearch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<BundleResponse>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BundleSearch {
    pub mode: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleResponse {
    /// `201 Created`.
    pub status: &'static str,
    /// `{Type}/{id}`.
    pub location: String,
    pub last_modified: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityStatement {
    pub status: &'static str,
    pub date: String,
    pub kind: &'static str,
    pub software: Software,
    pub implementation: Implementation,
    pub fhir_version: &'static str,
    pub format: Vec<&'static str>,
    pub rest: Vec<Rest>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Software {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Implementation {
    pub description: &'static str,
    pub url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rest {
    pub mode: &'static str,
    pub documentation: &'static str,
    /// What the server does beyond one type: the partners' `transaction`.
    pub interaction: Vec<Interaction>,
    pub security: RestSecurity,
    pub resource: Vec<RestResource>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RestSecurity {
    pub description: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestResource {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documentation: Option<&'static str>,
    pub interaction: Vec<Interaction>,
    #[serde(skip_serializing_if = "none")]
    pub search_param: Vec<SearchParam>,
    #[serde(skip_serializing_if = "none")]
    pub operation: Vec<Operation>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Interaction {
    pub code: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchParam {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    pub name: &'static str,
    pub definition: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeSystem {
    pub id: String,
    pub url: String,
    pub name: &'static str,
    pub title: &'static str,
    pub status: &'static str,
    pub case_sensitive: bool,
    pub content: &'static str,
    pub count: usize,
    pub concept: Vec<Concept>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Concept {
    pub code: &'static str,
    pub display: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct OperationOutcome {
    pub issue: Vec<Issue>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Issue {
    pub severity: &'static str,
    pub code: &'static str,
    pub diagnostics: String,
    /// FHIRPaths of what the issue is about (`Bundle.entry[2].resource.code`).
    #[serde(skip_serializing_if = "none")]
    pub expression: Vec<String>,
}

/// A resource a medical partner sent, as sent, with eldercare's id and
/// its source ([`super::map::clinical`]): serialised as that JSON object.
#[derive(Debug, Clone)]
pub struct Clinical {
    pub kind: ClinicalKind,
    pub id: String,
    /// The whole resource, `resourceType` and `id` included.
    pub body: Map<String, Value>,
}

impl Serialize for Clinical {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.body.serialize(serializer)
    }
}
