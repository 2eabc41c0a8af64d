//! Eldercare's records as FHIR resources: pure functions of what the store
//! read, no I/O.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::ids::{self, Measured};
use super::model::*;
use crate::domain::Role;
use crate::domain::alert::Status as AlertStatus;
use crate::domain::care::{PlanItem, VisitStatus};
use crate::domain::meal::MealPlan;
use crate::domain::{AlertKind, Metric, Severity};
use crate::store::alerts::Alert;
use crate::store::clinical::Record;
use crate::store::messages::Message;
use crate::store::visits::Visit;

pub const LOINC: &str = "http://loinc.org";
pub const UCUM: &str = "http://unitsofmeasure.org";
pub const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
pub const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
/// The naming system of `device_id`s, a device's business identifier.
pub const DEVICE_ID_SYSTEM: &str = "urn:eldercare:device-id";
/// The naming system of eldercare's institutions (their ids).
pub const INSTITUTION_SYSTEM: &str = "urn:eldercare:institution";
pub const BP_PANEL: &str = "85354-9";

/// A FHIR `dateTime`/`instant`, to the millisecond, in UTC.
pub fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Where the server's resources live, e.g. `http://host/fhir/r4`.
#[derive(Debug, Clone)]
pub struct Base(pub String);

impl Base {
    pub fn alert_kind_system(&self) -> String {
        format!("{}/CodeSystem/alert-kind", self.0)
    }

    pub fn full_url(&self, resource: &Resource) -> String {
        format!("{}/{}/{}", self.0, resource.type_name(), resource.id().unwrap_or_default())
    }

    /// The extension that names the institution a partner's record came from.
    pub fn source_extension(&self) -> String {
        format!("{}/StructureDefinition/source-institution", self.0)
    }
}

// ---- Patient ----

pub struct PatientFacts<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub address: Option<&'a str>,
    pub institution: (Uuid, &'a str),
}

pub fn patient(facts: PatientFacts<'_>) -> Patient {
    let organization = Organization { id: "org".into(), name: facts.institution.1.to_owned() };
    Patient {
        id: facts.id.to_string(),
        contained: vec![Resource::Organization(organization)],
        active: true,
        name: vec![HumanName { text: facts.name.to_owned() }],
        address: facts.address.map(|a| Address { text: a.to_owned() }).into_iter().collect(),
        managing_organization: Some(Reference {
            reference: "#org".into(),
            display: Some(facts.institution.1.to_owned()),
        }),
    }
}

// ---- Device ----

pub struct DeviceFacts<'a> {
    pub device_id: &'a str,
    pub kind: &'a str,
    pub resident: Option<Uuid>,
    pub room: Option<&'a str>,
}

pub fn device(facts: DeviceFacts<'_>) -> Device {
    Device {
        id: ids::device(facts.device_id),
        identifier: vec![Identifier { system: DEVICE_ID_SYSTEM.into(), value: facts.device_id.to_owned() }],
        status: "active",
        kind: CodeableConcept::text(facts.kind),
        patient: facts.resident.map(|r| Reference::to("Patient", &r.to_string())),
        note: facts.room.map(|room| Annotation { text: format!("room: {room}") }).into_iter().collect(),
    }
}

// ---- Observations ----

/// One stored reading.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Reading {
    pub ts: DateTime<Utc>,
    pub device_id: String,
    pub metric: Metric,
    pub value: f64,
}

/// The FHIR category of a metric and whether the view shows it: the
/// metrics of the room and the device (temperature, humidity, power,
/// battery) are not observations of the resident.
pub fn category(metric: Metric) -> Option<&'static str> {
    match metric {
        Metric::HeartRate
        | Metric::RespiratoryRate
        | Metric::Spo2
        | Metric::BodyTemperature
        | Metric::BpSystolic
        | Metric::BpDiastolic
        | Metric::BodyWeight => Some("vital-signs"),
        Metric::BloodGlucose => Some("laboratory"),
        Metric::Steps => Some("activity"),
        Metric::RoomTemperature | Metric::Humidity | Metric::Power | Metric::Battery => None,
    }
}

fn loinc_display(code: &str) -> &'static str {
    match code {
        "8867-4" => "Heart rate",
        "9279-1" => "Respiratory rate",
        "59408-5" => "Oxygen saturation in Arterial blood by Pulse oximetry",
        "2708-6" => "Oxygen saturation in Arterial blood",
        "8310-5" => "Body temperature",
        "8480-6" => "Systolic blood pressure",
        "8462-4" => "Diastolic blood pressure",
        "15074-8" => "Glucose [Moles/volume] in Blood",
        "2339-0" => "Glucose [Mass/volume] in Blood",
        "29463-7" => "Body weight",
        "55423-8" => "Number of steps in unspecified time Pedometer",
        BP_PANEL => "Blood pressure panel with all children optional",
        _ => "",
    }
}

fn loinc(code: &str) -> Coding {
    Coding { system: LOINC.into(), code: code.to_owned(), display: Some(loinc_display(code).to_owned()) }
}

/// The LOINC codes an Observation of `metric` carries: the catalog's, less
/// the mass-concentration glucose code (values are stored in mmol/L).
fn codes(metric: Metric) -> Vec<Coding> {
    metric.loinc().iter().filter(|c| **c != "2339-0").map(|c| loinc(c)).collect()
}

fn quantity(metric: Metric, value: f64) -> Quantity {
    let code = match metric {
        Metric::Steps => "{steps}",
        other => other.unit(),
    };
    Quantity { value, unit: code.to_owned(), system: UCUM.into(), code: code.to_owned() }
}

/// Which LOINC codes find what an Observation measures in a search.
pub fn searchable_codes(measured: Measured) -> Vec<&'static str> {
    match measured {
        Measured::BloodPressure => vec![BP_PANEL],
        Measured::One(Metric::BloodGlucose) => vec!["15074-8"],
        Measured::One(metric) => metric.loinc().to_vec(),
    }
}

/// What a searched LOINC code finds, if anything.
pub fn measured_by_code(code: &str) -> Option<Measured> {
    if code == BP_PANEL {
        return Some(Measured::BloodPressure);
    }
    let metric = Metric::from_loinc(code)?;
    match metric {
        Metric::BpSystolic | Metric::BpDiastolic => None,
        other => Some(Measured::One(other)).filter(|m| searchable_codes(*m).contains(&code)),
    }
}

/// What the view shows of `metric`: blood pressure only as the panel.
pub fn measured_of(metric: Metric) -> Option<Measured> {
    category(metric)?;
    Some(match metric {
        Metric::BpSystolic | Metric::BpDiastolic => Measured::BloodPressure,
        other => Measured::One(other),
    })
}

fn vital_category(name: &str) -> Vec<CodeableConcept> {
    let display = match name {
        "vital-signs" => "Vital Signs",
        "laboratory" => "Laboratory",
        _ => "Activity",
    };
    vec![CodeableConcept {
        coding: vec![Coding {
            system: OBSERVATION_CATEGORY.into(),
            code: name.to_owned(),
            display: Some(display.into()),
        }],
        text: None,
    }]
}

/// The resident's readings as Observations, in the order given: a device's
/// systolic and diastolic readings of one time become one blood-pressure
/// panel (at the place of the first of them); metrics the view does not
/// show are left out.
pub fn observations(patient: Uuid, readings: &[Reading]) -> Vec<Observation> {
    let subject = Reference::to("Patient", &patient.to_string());
    let mut out: Vec<Observation> = Vec::new();
    let mut panels: HashMap<(String, DateTime<Utc>), usize> = HashMap::new();
    for r in readings {
        let Some(measured) = measured_of(r.metric) else { continue };
        let Some(category) = category(r.metric) else { continue };
        let device = Some(Reference::to("Device", &ids::device(&r.device_id)));
        let id = ids::observation(&r.device_id, measured, r.ts);
        match measured {
            Measured::BloodPressure => {
                let component = ObservationComponent {
                    code: CodeableConcept { coding: codes(r.metric), text: None },
                    value_quantity: quantity(r.metric, r.value),
                };
                let key = (r.device_id.clone(), r.ts);
                if let Some(&at) = panels.get(&key) {
                    let panel = &mut out[at];
                    if panel.component.iter().all(|c| c.code != component.code) {
                        panel.component.push(component);
                        panel.component.sort_by_key(|c| c.code.coding.first().map(|c| c.code != "8480-6"));
                    }
                    continue;
                }
                panels.insert(key, out.len());
                out.push(Observation {
                    id,
                    status: "final",
                    category: vital_category(category),
                    code: CodeableConcept { coding: vec![loinc(BP_PANEL)], text: Some("Blood pressure".into()) },
                    subject: subject.clone(),
                    effective_date_time: instant(r.ts),
                    value_quantity: None,
                    component: vec![component],
                    device,
                });
            }
            Measured::One(metric) => out.push(Observation {
                id,
                status: "final",
                category: vital_category(category),
                code: CodeableConcept { coding: codes(metric), text: Some(metric.as_str().replace('_', " ")) },
                subject: subject.clone(),
                effective_date_time: instant(r.ts),
                value_quantity: Some(quantity(metric, r.value)),
                component: vec![],
                device,
            }),
        }
    }
    out
}

// ---- Alerts: Flag + Task ----

pub fn flag(base: &Base, alert: &Alert) -> Option<Flag> {
    let resident = alert.resident_id?;
    Some(Flag {
        id: alert.id.to_string(),
        status: if alert.status == AlertStatus::Resolved { "inactive" } else { "active" },
        code: CodeableConcept {
            coding: vec![Coding {
                system: base.alert_kind_system(),
                code: alert.kind.as_str().to_owned(),
                display: Some(kind_display(alert.kind)),
            }],
            text: Some(kind_display(alert.kind)),
        },
        subject: Reference::to("Patient", &resident.to_string()),
        period: Period { start: Some(instant(alert.opened_at)), end: alert.resolved_at.map(instant) },
    })
}

/// The response to an alert: requested while open, accepted once
/// acknowledged, completed once resolved; owned by the assignee (`owner`
/// names them).
pub fn task(alert: &Alert, owner: Option<&str>) -> Option<Task> {
    let resident = alert.resident_id?;
    let status = match alert.status {
        AlertStatus::Open => "requested",
        AlertStatus::Acknowledged => "accepted",
        AlertStatus::Resolved => "completed",
    };
    let priority = match alert.severity {
        Severity::Low => "routine",
        Severity::Medium => "urgent",
        Severity::High => "asap",
        Severity::Critical => "stat",
    };
    let practitioner = alert.assigned_to.map(|id| Practitioner {
        id: "owner".into(),
        name: vec![HumanName { text: owner.map(str::to_owned).unwrap_or_else(|| id.to_string()) }],
    });
    Some(Task {
        id: alert.id.to_string(),
        owner: practitioner
            .as_ref()
            .map(|p| Reference { reference: "#owner".into(), display: Some(p.name[0].text.clone()) }),
        contained: practitioner.into_iter().map(Resource::Practitioner).collect(),
        status,
        intent: "order",
        priority,
        code: CodeableConcept::text(format!("respond to {}", kind_display(alert.kind))),
        focus: Reference::to("Flag", &alert.id.to_string()),
        beneficiary: Reference::to("Patient", &resident.to_string()),
        authored_on: instant(alert.opened_at),
        last_modified: instant(alert.updated_at),
        // Work starts when someone acknowledges (or resolves outright).
        execution_period: alert
            .acknowledged_at
            .or(alert.resolved_at)
            .map(|start| Period { start: Some(instant(start)), end: alert.resolved_at.map(instant) }),
    })
}

pub fn kind_display(kind: AlertKind) -> String {
    if kind == AlertKind::Sos {
        return "SOS".to_owned();
    }
    let name = kind.as_str().replace('_', " ");
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => name,
    }
}

pub fn alert_kinds(base: &Base) -> CodeSystem {
    let concept: Vec<Concept> =
        AlertKind::ALL.iter().map(|k| Concept { code: k.as_str(), display: kind_display(*k) }).collect();
    CodeSystem {
        id: "alert-kind".into(),
        url: base.alert_kind_system(),
        name: "EldercareAlertKind",
        title: "Eldercare alert kinds",
        status: "active",
        case_sensitive: true,
        content: "complete",
        count: concept.len(),
        concept,
    }
}

// ---- Visits: Encounter ----

/// Who reads an Encounter. A family member reads what the API's family view
/// of a visit shows: the carer by first name only, and not where they stood
/// when they checked in (a carer's position is theirs and their employer's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    CareTeam,
    Family,
}

impl Reader {
    /// Every role named, so a new one (a partner's clinician reads the
    /// carer's first name only too) is a decision, not a default.
    pub fn of(role: Role) -> Reader {
        match role {
            // A partner's clinician: the carer's first name, as the family.
            Role::Family | Role::Clinician => Reader::Family,
            // Those who reach no resident read no Encounter; named for the
            // match to stay whole.
            Role::Admin
            | Role::Staff
            | Role::Caregiver
            | Role::Operator
            | Role::Supervisor
            | Role::Kitchen
            | Role::CivilAffairs
            | Role::GridWorker
            | Role::Assessor
            | Role::Insurer
            | Role::Desk => Reader::CareTeam,
        }
    }
}

pub fn encounter(visit: &Visit, reader: Reader) -> Encounter {
    let status = match visit.status {
        VisitStatus::Requested | VisitStatus::Scheduled | VisitStatus::Assigned => "planned",
        VisitStatus::CheckedIn => "in-progress",
        VisitStatus::Completed => "finished",
        VisitStatus::Cancelled | VisitStatus::Missed => "cancelled",
    };
    let mut contained = Vec::new();
    let mut participant = Vec::new();
    let caregiver = match reader {
        Reader::CareTeam => visit.caregiver_id.map(|id| visit.caregiver_name.clone().unwrap_or_else(|| id.to_string())),
        Reader::Family => visit.caregiver_name.as_deref().map(|n| crate::domain::care::first_name(n).to_owned()),
    };
    if let Some(name) = caregiver {
        contained.push(Resource::Practitioner(Practitioner {
            id: "caregiver".into(),
            name: vec![HumanName { text: name.clone() }],
        }));
        participant.push(EncounterParticipant {
            individual: Reference { reference: "#caregiver".into(), display: Some(name) },
        });
    }
    let mut location = Vec::new();
    if let Some(door) = visit.check_in.as_ref().filter(|_| reader == Reader::CareTeam) {
        contained.push(Resource::Location(Location {
            id: "check-in".into(),
            description: Some(format!("where the caregiver checked in ({} m accuracy)", door.0.accuracy_m)),
            position: Position { longitude: door.0.lon, latitude: door.0.lat },
        }));
        location.push(EncounterLocation { location: Reference::contained("check-in") });
    }
    let (start, end) = (visit.start(), visit.end());
    Encounter {
        id: visit.id.to_string(),
        contained,
        status,
        class: Coding { system: ACT_CODE.into(), code: "HH".into(), display: Some("home health".into()) },
        kind: vec![CodeableConcept::text(format!("{} ({})", visit.service_name, visit.service_code))],
        subject: Reference::to("Patient", &visit.resident_id.to_string()),
        participant,
        period: (start.is_some() || end.is_some()).then(|| Period { start: start.map(instant), end: end.map(instant) }),
        location,
    }
}

// ---- What medical partners sent ----

/// A record a medical partner sent, as it was sent, with eldercare's id and
/// its source: `meta.source` names the sending institution (as the URI of
/// its id), `meta.lastUpdated` when it came in, and an extension
/// ([`Base::source_extension`]) the institution by name. The sender's own
/// `meta.versionId` and any extension claiming another source are dropped.
pub fn clinical(base: &Base, record: &Record) -> Clinical {
    let mut body = record.resource.as_object().cloned().unwrap_or_default();
    let id = record.id.to_string();
    body.insert("resourceType".into(), json!(record.kind.as_str()));
    body.insert("id".into(), json!(id));
    let mut meta = body.remove("meta").and_then(|m| m.as_object().cloned()).unwrap_or_default();
    meta.remove("versionId");
    meta.insert("source".into(), json!(format!("urn:uuid:{}", record.source_institution_id)));
    meta.insert("lastUpdated".into(), json!(instant(record.received_at)));
    body.insert("meta".into(), Value::Object(meta));
    let url = base.source_extension();
    let mut extension: Vec<Value> = body
        .remove("extension")
        .and_then(|e| e.as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.get("url").and_then(Value::as_str) != Some(url.as_str()))
        .collect();
    extension.push(json!({"url": url, "valueReference": {
        "identifier": {"system": INSTITUTION_SYSTEM, "value": record.source_institution_id.to_string()},
        "display": record.source_name}}));
    body.insert("extension".into(), Value::Array(extension));
    Clinical { kind: record.kind, id, body }
}

// ---- Care plan: CarePlan + ServiceRequests ----

/// A ServiceRequest's id: the resident's and the item's place in the plan.
pub fn service_request_id(resident: Uuid, index: usize) -> String {
    format!("{resident}-{index}")
}

pub fn parse_service_request_id(id: &str) -> Option<(Uuid, usize)> {
    let (resident, index) = (id.get(..36)?, id.get(36..)?.strip_prefix('-')?);
    Some((Uuid::parse_str(resident).ok()?, index.parse().ok()?))
}

pub fn care_plan(resident: Uuid, items: &[PlanItem]) -> CarePlan {
    CarePlan {
        id: resident.to_string(),
        status: if items.is_empty() { "revoked" } else { "active" },
        intent: "plan",
        subject: Reference::to("Patient", &resident.to_string()),
        activity: (0..items.len())
            .map(|i| CarePlanActivity { reference: Reference::to("ServiceRequest", &service_request_id(resident, i)) })
            .collect(),
    }
}

/// `names` gives each service code its name.
pub fn service_request(
    resident: Uuid,
    index: usize,
    item: &PlanItem,
    names: &HashMap<String, String>,
) -> ServiceRequest {
    let name = names.get(&item.service_code).cloned().unwrap_or_else(|| item.service_code.clone());
    let mut note = vec![Annotation { text: format!("funding: {}", item.funding.as_str()) }];
    if let Some(hours) = item.hours_per_month {
        note.push(Annotation { text: format!("authorised hours a month: {hours}") });
    }
    ServiceRequest {
        id: service_request_id(resident, index),
        based_on: vec![Reference::to("CarePlan", &resident.to_string())],
        status: "active",
        intent: "order",
        code: CodeableConcept::text(format!("{name} ({})", item.service_code)),
        subject: Reference::to("Patient", &resident.to_string()),
        occurrence_timing: Timing {
            repeat: TimingRepeat {
                day_of_week: item.schedule.days.iter().map(|d| d.as_str().to_owned()).collect(),
                time_of_day: vec![format!("{}:00", item.schedule.start)],
                when: vec![],
            },
        },
        note,
    }
}

// ---- Meal plan: NutritionOrder ----

pub fn nutrition_order(resident: Uuid, plan: &MealPlan, updated_at: DateTime<Utc>, today: NaiveDate) -> NutritionOrder {
    let suspended = plan.suspended.is_some_and(|s| s.from <= today && today <= s.until);
    let days = &plan.days;
    let mut schedule = Vec::new();
    for (meal, code) in [("breakfast", "MORN"), ("lunch", "AFT"), ("dinner", "EVE")] {
        let on: Vec<String> = [
            ("mon", &days.mon),
            ("tue", &days.tue),
            ("wed", &days.wed),
            ("thu", &days.thu),
            ("fri", &days.fri),
            ("sat", &days.sat),
            ("sun", &days.sun),
        ]
        .iter()
        .filter(|(_, meals)| meals.iter().any(|m| m.as_str() == meal))
        .map(|(day, _)| (*day).to_owned())
        .collect();
        if !on.is_empty() {
            schedule.push(Timing {
                repeat: TimingRepeat { day_of_week: on, time_of_day: vec![], when: vec![code.into()] },
            });
        }
    }
    let mut note =
        vec![Annotation { text: format!("delivery: {}; funding: {}", plan.delivery.as_str(), plan.funding.as_str()) }];
    if let Some(notes) = &plan.delivery_notes {
        note.push(Annotation { text: notes.clone() });
    }
    NutritionOrder {
        id: resident.to_string(),
        status: if suspended { "on-hold" } else { "active" },
        intent: "order",
        patient: Reference::to("Patient", &resident.to_string()),
        date_time: instant(updated_at),
        exclude_food_modifier: plan.allergies.iter().map(CodeableConcept::text).collect(),
        oral_diet: OralDiet {
            kind: plan.diet.iter().map(|d| CodeableConcept::text(d.as_str())).collect(),
            schedule,
            texture: vec![Texture { modifier: CodeableConcept::text(plan.texture.as_str()) }],
        },
        note,
    }
}

// ---- Messages: Communication ----

/// A message of the resident's thread between family and care team; its
/// author contained, as a RelatedPerson when family.
pub fn communication(message: &Message) -> Communication {
    let patient = Reference::to("Patient", &message.resident_id.to_string());
    let author = message.author_name.clone().map(|name| match message.author_role {
        Some(Role::Family) => Resource::RelatedPerson(RelatedPerson {
            id: "author".into(),
            patient: patient.clone(),
            relationship: message.author_relationship.iter().map(CodeableConcept::text).collect(),
            name: vec![HumanName { text: name }],
        }),
        _ => Resource::Practitioner(Practitioner { id: "author".into(), name: vec![HumanName { text: name }] }),
    });
    Communication {
        id: message.id.to_string(),
        sender: author
            .as_ref()
            .map(|_| Reference { reference: "#author".into(), display: message.author_name.clone() }),
        contained: author.into_iter().collect(),
        status: "completed",
        subject: patient,
        sent: instant(message.created_at),
        payload: vec![Payload { content_string: message.text.clone() }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(device: &str, metric: Metric, secs: i64, value: f64) -> Reading {
        Reading { ts: DateTime::from_timestamp(secs, 0).unwrap(), device_id: device.into(), metric, value }
    }

    #[test]
    fn blood_pressure_becomes_one_panel_with_two_components() {
        let patient = Uuid::nil();
        let out = observations(
            patient,
            &[
                reading("cuff", Metric::BpDiastolic, 100, 80.0),
                reading("cuff", Metric::BpSystolic, 100, 130.0),
                reading("cuff", Metric::BpSystolic, 200, 135.0),
                reading("room", Metric::RoomTemperature, 100, 21.0),
                reading("ox", Metric::Spo2, 100, 97.0),
            ],
        );
        assert_eq!(out.len(), 3);
        let panel = &out[0];
        assert_eq!(panel.code.coding[0].code, BP_PANEL);
        assert!(panel.value_quantity.is_none());
        let codes: Vec<&str> = panel.component.iter().map(|c| c.code.coding[0].code.as_str()).collect();
        assert_eq!(codes, ["8480-6", "8462-4"]);
        assert_eq!(panel.component[0].value_quantity.code, "mm[Hg]");
        assert_eq!(out[1].component.len(), 1);
        let spo2: Vec<&str> = out[2].code.coding.iter().map(|c| c.code.as_str()).collect();
        assert_eq!(spo2, ["59408-5", "2708-6"]);
        assert_eq!(out[2].category[0].coding[0].code, "vital-signs");
        assert_eq!(out[2].value_quantity.as_ref().unwrap().code, "%");
    }

    #[test]
    fn search_codes_find_what_observations_carry() {
        assert_eq!(measured_by_code("85354-9"), Some(Measured::BloodPressure));
        assert_eq!(measured_by_code("59408-5"), Some(Measured::One(Metric::Spo2)));
        assert_eq!(measured_by_code("2708-6"), Some(Measured::One(Metric::Spo2)));
        assert_eq!(measured_by_code("8867-4"), Some(Measured::One(Metric::HeartRate)));
        assert_eq!(measured_by_code("2339-0"), None);
        assert_eq!(measured_by_code("8480-6"), None);
        assert_eq!(measured_by_code("nope"), None);
        for metric in Metric::ALL {
            if let Some(measured) = measured_of(metric) {
                for code in searchable_codes(measured) {
                    assert_eq!(measured_by_code(code), Some(measured), "{code}");
                }
            }
        }
    }

    #[test]
    fn service_request_ids_read_back() {
        let resident = Uuid::new_v4();
        assert_eq!(parse_service_request_id(&service_request_id(resident, 12)), Some((resident, 12)));
        assert_eq!(parse_service_request_id("nope"), None);
        assert_eq!(parse_service_request_id(&format!("{resident}12")), None);
    }
}
