//! The FHIR R4 view end to end: a resident with vitals (a blood-pressure
//! panel, SpO2), alerts answered and resolved, a visit checked in and out, a
//! care plan and a meal plan, read back as FHIR, every resource validated
//! against R4 by an independent validator (PyPI's fhir.resources, through
//! scripts/fhir-validate.sh), every reference resolving, searches paged,
//! and the API's visibility.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;

use crate::support::{Broker, TestApp, fresh_database, wait_for};

const HOME: (f64, f64) = (29.8683, 121.5440);

fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A user of the admin's institution: (id, token).
async fn user(app: &TestApp, admin: &str, role: &str, name: &str) -> (String, String) {
    let email = format!("{}@fhir.example", name.to_lowercase().replace(' ', "."));
    let password = "a long enough password";
    let body = app
        .post("/api/v1/users", admin, json!({"email": email, "password": password, "role": role, "name": name}))
        .await;
    let id = body["id"].as_str().expect("id").to_owned();
    if matches!(role, "caregiver" | "staff") {
        crate::support::certify(app, admin, &id).await;
    }
    (id, app.login(&email, password).await)
}

/// A FHIR GET: status, content type and body.
async fn fhir(app: &TestApp, path: &str, token: Option<&str>) -> (StatusCode, String, Value) {
    let url = if path.starts_with("http") { path.to_owned() } else { app.url(&format!("/fhir/r4{path}")) };
    let mut req = app.http.get(url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let r = req.send().await.expect("FHIR request");
    let status = r.status();
    let content_type = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, content_type, body)
}

async fn fhir_ok(app: &TestApp, path: &str, token: &str) -> Value {
    let (status, content_type, body) = fhir(app, path, Some(token)).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    assert_eq!(content_type, "application/fhir+json");
    body
}

/// Asserts an error answer: the status, and an OperationOutcome with `code`.
async fn fhir_err(app: &TestApp, path: &str, token: Option<&str>, status: StatusCode, code: &str) -> Value {
    let (got, content_type, body) = fhir(app, path, token).await;
    assert_eq!(got, status, "GET {path}: {body}");
    assert_eq!(content_type, "application/fhir+json", "GET {path}");
    assert_eq!(body["resourceType"], "OperationOutcome", "GET {path}: {body}");
    assert_eq!(body["issue"][0]["code"], code, "GET {path}: {body}");
    body
}

fn entries(bundle: &Value) -> Vec<Value> {
    bundle["entry"].as_array().cloned().unwrap_or_default().into_iter().map(|e| e["resource"].clone()).collect()
}

fn references(node: &Value, out: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("reference", Value::String(r)) => out.push(r.clone()),
                    // A contained resource's references are its own.
                    ("contained", _) => {}
                    _ => references(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| references(i, out)),
        _ => {}
    }
}

/// Every reference in the bundle names one of its entries, or a resource
/// contained in the referring one.
fn assert_references_resolve(bundle: &Value) {
    let resources = entries(bundle);
    let present: HashSet<String> = resources
        .iter()
        .map(|r| format!("{}/{}", r["resourceType"].as_str().unwrap(), r["id"].as_str().unwrap()))
        .collect();
    for entry in bundle["entry"].as_array().expect("entries") {
        let full_url = entry["fullUrl"].as_str().expect("fullUrl");
        let r = &entry["resource"];
        assert!(full_url.ends_with(&format!(
            "/fhir/r4/{}/{}",
            r["resourceType"].as_str().unwrap(),
            r["id"].as_str().unwrap()
        )));
    }
    let mut checked = 0;
    for resource in &resources {
        let contained: HashSet<String> = resource["contained"]
            .as_array()
            .map(|c| c.iter().map(|r| format!("#{}", r["id"].as_str().unwrap())).collect())
            .unwrap_or_default();
        let mut refs = Vec::new();
        references(resource, &mut refs);
        for reference in refs {
            assert!(
                contained.contains(&reference) || present.contains(&reference),
                "{reference} in {}/{} resolves to nothing in the bundle",
                resource["resourceType"],
                resource["id"]
            );
            checked += 1;
        }
    }
    assert!(checked > 10, "only {checked} references checked");
}

/// Runs the independent R4 validator over `resources`.
pub(crate) async fn validate(resources: &[Value]) {
    let dir = std::env::temp_dir();
    let file = dir.join(format!("eldercare-fhir-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, serde_json::to_vec(resources).expect("json")).expect("write resources");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fhir-validate.sh");
    let out = tokio::process::Command::new("bash").arg(script).arg(&file).output().await.expect("run the validator");
    let _ = std::fs::remove_file(&file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "FHIR validation failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(", 0 invalid"), "{stdout}");
}

async fn telemetry(app: &TestApp, device: &str, at: DateTime<Utc>, readings: Value) {
    let payload = json!({"ts": ts(at), "readings": readings});
    app.broker.publish(&format!("eldercare/v1/{device}/telemetry"), payload.to_string()).await;
}

async fn event(app: &TestApp, device: &str, at: DateTime<Utc>, kind: &str) {
    let payload = json!({"ts": ts(at), "event": kind});
    app.broker.publish(&format!("eldercare/v1/{device}/event"), payload.to_string()).await;
}

async fn wait_alert(app: &TestApp, token: &str, resident: &str, kind: &str) -> Value {
    wait_for(&format!("a {kind} alert"), || async {
        let body = app.get(&format!("/api/v1/alerts?resident_id={resident}&kind={kind}"), token).await;
        body["alerts"].as_array().and_then(|a| a.first().cloned())
    })
    .await
}

#[tokio::test]
async fn a_resident_s_record_reads_as_valid_r4_with_every_reference_resolving() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let now = Utc::now();

    // The resident, at home, with a cuff, an oximeter and an SOS button.
    let rid = app.resident(&admin, "Wang Fang").await;
    let patch = json!({"address": "12 Moon Lake Lane", "location": {"lat": HOME.0, "lon": HOME.1}});
    let (status, body) = app.call("PATCH", &format!("/api/v1/residents/{rid}"), Some(&admin), Some(patch)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (id, kind) in
        [("bp_cuff-1", "wearable"), ("ox_1", "wearable"), ("sos-1", "sos_button"), ("fall-1", "fall_sensor")]
    {
        app.device(&admin, json!({"device_id": id, "resident_id": rid, "kind": kind, "room": "bedroom"})).await;
    }

    // Vitals: three blood-pressure panels, three SpO2 readings, a heart rate
    // and a room temperature (not a vital: not shown).
    for i in 0..3 {
        let at = now - Duration::minutes(50 - i * 10);
        telemetry(
            &app,
            "bp_cuff-1",
            at,
            json!([{"metric": "bp_systolic", "value": 130 + i},
                                                 {"metric": "bp_diastolic", "value": 82 - i},
                                                 {"metric": "heart_rate", "value": 70 + i}]),
        )
        .await;
        telemetry(&app, "ox_1", at + Duration::minutes(1), json!([{"metric": "spo2", "value": 96 + i}])).await;
    }
    telemetry(&app, "ox_1", now - Duration::minutes(5), json!([{"metric": "room_temperature", "value": 21.5}])).await;
    app.wait_count(&format!("select count(*) from readings where resident_id = '{rid}'"), 13).await;

    // An SOS answered (assigned, acknowledged, resolved) and a fall still open.
    let (staff_id, staff) = user(&app, &admin, "staff", "Zhou Min").await;
    event(&app, "sos-1", now - Duration::minutes(30), "sos_pressed").await;
    let sos = wait_alert(&app, &admin, &rid, "sos").await;
    let sos_id = sos["id"].as_str().unwrap().to_owned();
    app.post(&format!("/api/v1/alerts/{sos_id}/assign"), &admin, json!({"user_id": staff_id})).await;
    let (status, _) = app.call("POST", &format!("/api/v1/alerts/{sos_id}/acknowledge"), Some(&staff), None).await;
    assert_eq!(status, StatusCode::OK);
    let acknowledged = fhir_ok(&app, &format!("/Task/{sos_id}"), &admin).await;
    assert_eq!(acknowledged["status"], "accepted");
    assert_eq!(fhir_ok(&app, &format!("/Flag/{sos_id}"), &admin).await["status"], "active");
    app.post(&format!("/api/v1/alerts/{sos_id}/resolve"), &staff, json!({"resolution": "handled"})).await;
    event(&app, "fall-1", now - Duration::minutes(3), "fall_detected").await;
    let fall = wait_alert(&app, &admin, &rid, "fall").await;
    let fall_id = fall["id"].as_str().unwrap().to_owned();

    // A visit checked in and out at the door, under a care plan.
    let service = json!({"code": "HC-BATH", "name": "Bathing assistance", "category": "personal_care",
        "duration_minutes": 60, "unit": "hour", "unit_price": 80.0, "currency": "CNY",
        "funding": ["ltc_insurance", "self_pay"], "evv_required": true,
        "tasks": [{"code": "bath", "name": "Assisted shower"}]});
    let (status, body) = app.call("POST", "/api/v1/services", Some(&admin), Some(service)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let plan = json!({"items": [{"service_code": "HC-BATH", "funding": "ltc_insurance",
        "schedule": {"days": ["tue", "fri"], "start": "09:30"}, "hours_per_month": 8}]});
    let (status, body) = app.call("PUT", &format!("/api/v1/residents/{rid}/care-plan"), Some(&admin), Some(plan)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (carer_id, carer) = user(&app, &admin, "caregiver", "Li Wei").await;
    let visit = app
        .post(
            "/api/v1/visits",
            &admin,
            json!({"resident_id": rid, "service_code": "HC-BATH",
            "scheduled_start": ts(now - Duration::hours(2)), "funding": "ltc_insurance"}),
        )
        .await;
    let vid = visit["id"].as_str().unwrap().to_owned();
    app.post(&format!("/api/v1/visits/{vid}/assign"), &admin, json!({"caregiver_id": carer_id})).await;
    let door = |minutes: i64| {
        json!({"location": {"lat": HOME.0 + 0.0002, "lon": HOME.1, "accuracy_m": 15}, "method": "gps",
               "ts": ts(now - Duration::minutes(minutes))})
    };
    app.post(&format!("/api/v1/visits/{vid}/check-in"), &carer, door(115)).await;
    let mut out = door(60);
    out["tasks"] = json!([{"code": "bath", "done": true}]);
    app.post(&format!("/api/v1/visits/{vid}/check-out"), &carer, out).await;

    // A meal plan.
    let kitchen = json!({"name": "Central kitchen", "cutoff": "23:59", "timezone": "Asia/Shanghai",
                         "prices": {"breakfast": 6, "lunch": 12.5, "dinner": 12}});
    let (status, kitchen) = app.call("POST", "/api/v1/kitchens", Some(&admin), Some(kitchen)).await;
    assert_eq!(status, StatusCode::CREATED, "{kitchen}");
    let days: serde_json::Map<String, Value> =
        ["mon", "tue", "wed", "thu", "fri"].iter().map(|d| ((*d).to_owned(), json!(["lunch"]))).collect();
    let meal_plan = json!({"kitchen_id": kitchen["id"], "delivery": "home", "funding": "subsidy", "days": days,
                           "diet": ["diabetic"], "texture": "iddsi_5", "allergies": ["peanut"]});
    let (status, body) =
        app.call("PUT", &format!("/api/v1/residents/{rid}/meal-plan"), Some(&admin), Some(meal_plan)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A message from the family in the resident's thread.
    let (family_id, family) = user(&app, &admin, "family", "Wang Lei").await;
    app.post(&format!("/api/v1/residents/{rid}/family"), &admin, json!({"user_id": family_id, "relationship": "son"}))
        .await;
    app.post(&format!("/api/v1/residents/{rid}/messages"), &family, json!({"text": "She seemed tired after lunch"}))
        .await;

    // Everything, as one bundle.
    let bundle = fhir_ok(&app, &format!("/Patient/{rid}/$everything"), &admin).await;
    assert_eq!(bundle["resourceType"], "Bundle");
    let resources = entries(&bundle);
    assert_eq!(bundle["total"], resources.len());
    let mut by_type: HashMap<String, Vec<Value>> = HashMap::new();
    for r in &resources {
        by_type.entry(r["resourceType"].as_str().unwrap().to_owned()).or_default().push(r.clone());
    }
    let count = |t: &str| by_type.get(t).map_or(0, Vec::len);
    assert_eq!(count("Patient"), 1);
    assert_eq!(count("Device"), 4);
    assert_eq!(count("Observation"), 9, "3 BP panels, 3 heart rates, 3 SpO2; no room temperature");
    assert_eq!((count("Flag"), count("Task")), (2, 2));
    assert_eq!(count("Encounter"), 1);
    assert_eq!((count("CarePlan"), count("ServiceRequest")), (1, 1));
    assert_eq!(count("NutritionOrder"), 1);
    assert_eq!(count("Communication"), 1);
    let message = &by_type["Communication"][0];
    assert_eq!(message["payload"][0]["contentString"], "She seemed tired after lunch");
    assert_eq!(message["contained"][0]["resourceType"], "RelatedPerson");
    assert_references_resolve(&bundle);

    // The vital-signs profile: the panel and its components, SpO2's codes.
    let observations = &by_type["Observation"];
    let code = |o: &Value| o["code"]["coding"][0]["code"].as_str().unwrap().to_owned();
    let panel = observations.iter().find(|o| code(o) == "85354-9").expect("a BP panel");
    assert_eq!(panel["category"][0]["coding"][0]["code"], "vital-signs");
    let components: Vec<&str> = panel["component"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"]["coding"][0]["code"].as_str().unwrap())
        .collect();
    assert_eq!(components, ["8480-6", "8462-4"]);
    assert_eq!(panel["component"][0]["valueQuantity"]["code"], "mm[Hg]");
    assert_eq!(panel["component"][0]["valueQuantity"]["system"], "http://unitsofmeasure.org");
    let spo2 = observations.iter().find(|o| code(o) == "59408-5").expect("SpO2");
    assert_eq!(spo2["code"]["coding"][1]["code"], "2708-6");
    assert_eq!(spo2["valueQuantity"]["code"], "%");
    let device = by_type["Device"].iter().find(|d| d["identifier"][0]["value"] == "bp_cuff-1").expect("the cuff");
    assert_eq!(panel["device"]["reference"], format!("Device/{}", device["id"].as_str().unwrap()));

    // Alerts: the resolved SOS inactive with a completed task owned by the
    // assignee; the open fall active, its task requested.
    let flag = |id: &str| by_type["Flag"].iter().find(|f| f["id"] == id).cloned().expect("flag");
    let task = |id: &str| by_type["Task"].iter().find(|t| t["id"] == id).cloned().expect("task");
    assert_eq!(flag(&sos_id)["status"], "inactive");
    assert_eq!(flag(&sos_id)["code"]["coding"][0]["code"], "sos");
    let system = flag(&sos_id)["code"]["coding"][0]["system"].as_str().unwrap().to_owned();
    assert!(system.ends_with("/fhir/r4/CodeSystem/alert-kind"), "{system}");
    assert_eq!(task(&sos_id)["status"], "completed");
    assert_eq!(task(&sos_id)["owner"]["display"], "Zhou Min");
    assert_eq!(task(&sos_id)["focus"]["reference"], format!("Flag/{sos_id}"));
    assert_eq!(flag(&fall_id)["status"], "active");
    assert_eq!(task(&fall_id)["status"], "requested");

    // The visit: home health, the EVV times, where the carer checked in.
    let encounter = &by_type["Encounter"][0];
    assert_eq!(encounter["class"]["code"], "HH");
    assert_eq!(encounter["class"]["system"], "http://terminology.hl7.org/CodeSystem/v3-ActCode");
    assert_eq!(encounter["status"], "finished");
    assert_eq!(encounter["period"]["start"], ts(now - Duration::minutes(115)));
    assert_eq!(encounter["period"]["end"], ts(now - Duration::minutes(60)));
    assert_eq!(encounter["contained"][1]["position"]["latitude"], HOME.0 + 0.0002);
    assert_eq!(by_type["NutritionOrder"][0]["oralDiet"]["texture"][0]["modifier"]["text"], "iddsi_5");

    // Every resource reads back by its id, the same.
    let mut reads = Vec::new();
    for resource in &resources {
        let path = format!("/{}/{}", resource["resourceType"].as_str().unwrap(), resource["id"].as_str().unwrap());
        let read = fhir_ok(&app, &path, &admin).await;
        assert_eq!(&read, resource, "{path}");
        reads.push(read);
    }

    // The independent validator, over everything the view produced.
    let mut produced = vec![bundle.clone()];
    let (status, content_type, metadata) = fhir(&app, "/metadata", None).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/fhir+json"));
    assert_eq!(metadata["resourceType"], "CapabilityStatement");
    assert_eq!(metadata["fhirVersion"], "4.0.1");
    let types: Vec<&str> =
        metadata["rest"][0]["resource"].as_array().unwrap().iter().map(|r| r["type"].as_str().unwrap()).collect();
    for t in [
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
    ] {
        assert!(types.contains(&t), "{t} missing from the CapabilityStatement");
    }
    produced.push(metadata);
    let kinds = fhir_ok(&app, "/CodeSystem/alert-kind", &admin).await;
    assert!(kinds["concept"].as_array().unwrap().iter().any(|c| c["code"] == "sos"));
    assert_eq!(kinds["url"].as_str().unwrap(), system);
    produced.push(kinds);
    produced.push(fhir_ok(&app, &format!("/Patient?_id={rid}"), &admin).await);
    produced.push(
        fhir_ok(&app, &format!("/Observation?patient={rid}&code=http://loinc.org|85354-9&_count=2"), &admin).await,
    );
    produced.push(fhir_err(&app, "/Observation?patient=nope", Some(&admin), StatusCode::BAD_REQUEST, "invalid").await);
    produced.push(fhir_err(&app, "/Flag/not-an-id", Some(&admin), StatusCode::NOT_FOUND, "not-found").await);
    produced.push(fhir_err(&app, &format!("/Patient/{rid}"), None, StatusCode::UNAUTHORIZED, "login").await);
    produced.extend(reads);
    validate(&produced).await;
}

#[tokio::test]
async fn observation_searches_page_filter_by_code_and_date_and_refuse_bad_parameters() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let rid = app.resident(&admin, "Chen Jie").await;
    app.device(&admin, json!({"device_id": "cuff", "resident_id": rid, "kind": "wearable"})).await;
    let start = Utc::now() - Duration::hours(5);
    for i in 0..5 {
        let at = start + Duration::minutes(i * 30);
        telemetry(
            &app,
            "cuff",
            at,
            json!([{"metric": "bp_systolic", "value": 120 + i},
                                           {"metric": "bp_diastolic", "value": 80},
                                           {"metric": "spo2", "value": 95 + i}]),
        )
        .await;
    }
    app.wait_count(&format!("select count(*) from readings where resident_id = '{rid}'"), 15).await;

    // Five panels, two a page: three pages through the next links.
    let mut url = format!("/Observation?patient=Patient/{rid}&code=http://loinc.org|85354-9&_count=2");
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = fhir_ok(&app, &url, &admin).await;
        assert_eq!(page["type"], "searchset");
        assert_eq!(page["total"], 5);
        pages += 1;
        for o in entries(&page) {
            assert_eq!(o["code"]["coding"][0]["code"], "85354-9");
            seen.push(o["effectiveDateTime"].as_str().unwrap().to_owned());
        }
        let next = page["link"].as_array().and_then(|l| l.iter().find(|l| l["relation"] == "next").cloned());
        match next {
            Some(link) => url = link["url"].as_str().unwrap().to_owned(),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!((seen.len(), sorted), (5, seen.clone()), "every panel once, oldest first");

    // SpO2 by either of its codes; a date window; codes of other systems.
    for code in ["59408-5", "http://loinc.org|2708-6", "|59408-5"] {
        let page = fhir_ok(&app, &format!("/Observation?patient={rid}&code={code}"), &admin).await;
        assert_eq!(page["total"], 5, "{code}");
    }
    let window = format!(
        "/Observation?patient={rid}&date=ge{}&date=le{}",
        ts(start + Duration::minutes(30)),
        ts(start + Duration::minutes(90))
    )
    .replace('+', "%2B");
    let page = fhir_ok(&app, &window, &admin).await;
    assert_eq!(page["total"], 6, "three times, a panel and an SpO2 each");
    let page = fhir_ok(&app, &format!("/Observation?patient={rid}&code=http://snomed.info/sct|59408-5"), &admin).await;
    assert_eq!(page["total"], 0);
    let page = fhir_ok(&app, &format!("/Observation?patient={rid}"), &admin).await;
    assert_eq!(page["total"], 10);
    let past_the_end = format!("/Observation?patient={rid}&_count=1000&_offset={}", i64::MAX);
    let page = fhir_ok(&app, &past_the_end, &admin).await;
    assert_eq!((page["total"].as_i64(), page.get("entry"), page.get("link")), (Some(10), None, None));

    // Bad parameters: a 400 OperationOutcome each.
    for bad in [
        "/Observation".to_owned(),
        format!("/Observation?patient={rid}&_count=0"),
        format!("/Observation?patient={rid}&_count=x"),
        format!("/Observation?patient={rid}&date=yesterday"),
        format!("/Observation?patient={rid}&code=http://loinc.org|"),
        format!("/Observation?patient={rid}&colour=red"),
        format!("/Observation?patient={rid}&_offset=-1"),
        "/Patient".to_owned(),
        format!("/Patient/{rid}/$everything?start=soon"),
    ] {
        fhir_err(&app, &bad, Some(&admin), StatusCode::BAD_REQUEST, "invalid").await;
    }
    // Ids that name nothing, and types the view does not serve.
    fhir_err(&app, "/Observation/1.heart-rate.0123456789abcdef", Some(&admin), StatusCode::NOT_FOUND, "not-found")
        .await;
    fhir_err(&app, "/Patient/not-a-uuid", Some(&admin), StatusCode::NOT_FOUND, "not-found").await;
    fhir_err(&app, "/Medication/x", Some(&admin), StatusCode::NOT_FOUND, "not-supported").await;
    fhir_err(&app, "/nothing/here/at/all", Some(&admin), StatusCode::NOT_FOUND, "not-supported").await;
}

#[tokio::test]
async fn the_view_sees_what_the_api_lets_the_caller_see() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let mine = app.resident(&admin, "Mother").await;
    let theirs = app.resident(&admin, "Someone else").await;
    app.device(&admin, json!({"device_id": "watch", "resident_id": theirs, "kind": "wearable"})).await;
    telemetry(&app, "watch", Utc::now() - Duration::minutes(5), json!([{"metric": "heart_rate", "value": 64}])).await;
    app.wait_count(&format!("select count(*) from readings where resident_id = '{theirs}'"), 1).await;
    let (family_id, family) = user(&app, &admin, "family", "Daughter").await;
    app.post(
        &format!("/api/v1/residents/{mine}/family"),
        &admin,
        json!({"user_id": family_id, "relationship": "daughter"}),
    )
    .await;
    let (_, carer) = user(&app, &admin, "caregiver", "Carer").await;
    let operator = app.operator_token().await;

    // Their own resident, to the family.
    assert_eq!(fhir_ok(&app, &format!("/Patient/{mine}"), &family).await["id"], mine);
    let everything = fhir_ok(&app, &format!("/Patient/{mine}/$everything"), &family).await;
    assert_eq!(everything["total"], 1);
    let search = fhir_ok(&app, &format!("/Patient?_id={mine},{theirs}"), &family).await;
    assert_eq!(search["total"], 1, "the other resident is not found");

    // Someone else's: as if it did not exist, to the family, a caregiver
    // with no visit there and the platform's operator.
    let observation = entries(&fhir_ok(&app, &format!("/Observation?patient={theirs}"), &admin).await)[0].clone();
    let observation_path = format!("/Observation/{}", observation["id"].as_str().unwrap());
    assert_eq!(fhir_ok(&app, &observation_path, &admin).await, observation);
    for token in [&family, &carer, &operator] {
        for path in [
            format!("/Patient/{theirs}"),
            format!("/Patient/{theirs}/$everything"),
            format!("/Observation?patient={theirs}"),
            observation_path.clone(),
            format!("/CarePlan/{theirs}"),
        ] {
            fhir_err(&app, &path, Some(token), StatusCode::NOT_FOUND, "not-found").await;
        }
    }

    // No token: 401, except the CapabilityStatement.
    fhir_err(&app, &format!("/Patient/{mine}"), None, StatusCode::UNAUTHORIZED, "login").await;
    fhir_err(&app, "/CodeSystem/alert-kind", None, StatusCode::UNAUTHORIZED, "login").await;
    assert_eq!(fhir(&app, "/metadata", None).await.0, StatusCode::OK);

    // Reads of health data are in the access log.
    let reads =
        app.count(&format!("select count(*) from access_log where kind = 'fhir' and resident_id = '{mine}'")).await;
    assert!(reads >= 3, "{reads}");
}

/// A resident at home with a care plan's service, and a visit by the carer
/// Li Wei, checked in and out at the door: (resident, visit).
async fn visited_resident(app: &TestApp, admin: &str) -> (String, String) {
    let now = Utc::now();
    let rid = app.resident(admin, "Zhang Hua").await;
    let patch = json!({"address": "3 Willow Road", "location": {"lat": HOME.0, "lon": HOME.1}});
    let (status, body) = app.call("PATCH", &format!("/api/v1/residents/{rid}"), Some(admin), Some(patch)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let service = json!({"code": "HC-CLEAN", "name": "Cleaning", "category": "domestic",
        "duration_minutes": 60, "unit": "hour", "unit_price": 40.0, "currency": "CNY",
        "funding": ["self_pay"], "evv_required": true, "tasks": [{"code": "floor", "name": "Floors"}]});
    let (status, body) = app.call("POST", "/api/v1/services", Some(admin), Some(service)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (carer_id, carer) = user(app, admin, "caregiver", "Li Wei").await;
    let visit = app
        .post(
            "/api/v1/visits",
            admin,
            json!({"resident_id": rid, "service_code": "HC-CLEAN",
                   "scheduled_start": ts(now - Duration::hours(2)), "funding": "self_pay"}),
        )
        .await;
    let vid = visit["id"].as_str().expect("visit id").to_owned();
    app.post(&format!("/api/v1/visits/{vid}/assign"), admin, json!({"caregiver_id": carer_id})).await;
    let door = |minutes: i64| {
        json!({"location": {"lat": HOME.0 + 0.0002, "lon": HOME.1, "accuracy_m": 15}, "method": "gps",
               "ts": ts(now - Duration::minutes(minutes))})
    };
    app.post(&format!("/api/v1/visits/{vid}/check-in"), &carer, door(115)).await;
    let mut out = door(60);
    out["tasks"] = json!([{"code": "floor", "done": true}]);
    app.post(&format!("/api/v1/visits/{vid}/check-out"), &carer, out).await;
    (rid, vid)
}

#[tokio::test]
async fn a_family_member_reads_the_carer_s_first_name_and_no_position_as_the_api_shows_them() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (rid, vid) = visited_resident(&app, &admin).await;
    let (family_id, family) = user(&app, &admin, "family", "Zhang Lei").await;
    app.post(&format!("/api/v1/residents/{rid}/family"), &admin, json!({"user_id": family_id, "relationship": "son"}))
        .await;

    // The API's family view of the visit: the carer's first name.
    let rest = app.get(&format!("/api/v1/visits/{vid}"), &family).await;
    assert_eq!(rest["caregiver"], "Li", "{rest}");

    let read = fhir_ok(&app, &format!("/Encounter/{vid}"), &family).await;
    let everything = fhir_ok(&app, &format!("/Patient/{rid}/$everything"), &family).await;
    let in_bundle = entries(&everything).into_iter().find(|r| r["resourceType"] == "Encounter").expect("encounter");
    assert_eq!(in_bundle, read, "the same Encounter both ways");
    for encounter in [&read, &in_bundle] {
        assert_eq!(encounter["participant"][0]["individual"]["display"], rest["caregiver"], "{encounter}");
        let contained = encounter["contained"].as_array().expect("contained");
        assert_eq!(contained.len(), 1, "the carer only: {encounter}");
        assert_eq!(contained[0]["name"][0]["text"], "Li");
        assert!(encounter.get("location").is_none(), "{encounter}");
        let text = encounter.to_string();
        assert!(!text.contains("Wei") && !text.contains("latitude"), "{text}");
    }
    assert_eq!(read["period"]["end"].as_str().map(str::len), Some(24), "the EVV times stay: {read}");

    // The care team reads the whole record, as today.
    let staff = fhir_ok(&app, &format!("/Encounter/{vid}"), &admin).await;
    assert_eq!(staff["participant"][0]["individual"]["display"], "Li Wei");
    assert_eq!(staff["contained"][1]["position"]["latitude"], HOME.0 + 0.0002);
    assert_eq!(staff["location"][0]["location"]["reference"], "#check-in");
    validate(&[read, everything, staff]).await;
}

#[tokio::test]
async fn searches_and_everything_cover_at_most_a_month_and_page_by_count() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let rid = app.resident(&admin, "Liu Yang").await;
    app.device(&admin, json!({"device_id": "ox", "resident_id": rid, "kind": "wearable"})).await;
    let now = Utc::now();
    for i in 0..5 {
        telemetry(&app, "ox", now - Duration::minutes(50 - i * 10), json!([{"metric": "spo2", "value": 95 + i}])).await;
    }
    app.wait_count(&format!("select count(*) from readings where resident_id = '{rid}'"), 5).await;

    // A month is the most one search or one $everything covers, as the
    // API's raw readings: longer is refused, never cut short.
    let day = |days: i64| (now - Duration::days(days)).format("%Y-%m-%d").to_string();
    for long in [
        format!("/Observation?patient={rid}&date=ge{}", day(40)),
        format!("/Observation?patient={rid}&date=ge{}&date=le{}", day(70), day(30)),
        format!("/Observation?patient={rid}&date=gt{}&date=lt{}", day(33), day(0)),
        format!("/Patient/{rid}/$everything?start={}", day(40)),
        format!("/Patient/{rid}/$everything?start={}&end={}", day(400), day(0)),
    ] {
        let outcome = fhir_err(&app, &long, Some(&admin), StatusCode::BAD_REQUEST, "too-costly").await;
        assert!(outcome["issue"][0]["diagnostics"].as_str().unwrap_or("").contains("31 days"), "{outcome}");
    }
    let month = format!("/Observation?patient={rid}&date=ge{}&date=le{}", day(30), day(0));
    assert_eq!(fhir_ok(&app, &month, &admin).await["total"], 5);
    for bad in [
        format!("/Observation?patient={rid}&_count=1001"),
        format!("/Patient/{rid}/$everything?_count=1001"),
        format!("/Patient/{rid}/$everything?_count=0"),
        format!("/Patient/{rid}/$everything?_offset=-1"),
        format!("/Patient/{rid}/$everything?start={}&end={}", day(1), day(2)),
        format!("/Patient/{rid}/$everything?start={}", day(-2)),
    ] {
        fhir_err(&app, &bad, Some(&admin), StatusCode::BAD_REQUEST, "invalid").await;
    }

    // $everything pages by its Observations: the Patient and the device on
    // the first page, two Observations a page, each once.
    let mut url = format!("/Patient/{rid}/$everything?_count=2");
    let mut seen: Vec<Value> = Vec::new();
    let mut pages = Vec::new();
    loop {
        let page = fhir_ok(&app, &url, &admin).await;
        assert_eq!(page["total"], 7, "a patient, a device, five observations");
        let resources = entries(&page);
        pages.push(resources.iter().map(|r| r["resourceType"].as_str().unwrap_or("").to_owned()).collect::<Vec<_>>());
        seen.extend(resources);
        let next = page["link"].as_array().and_then(|l| l.iter().find(|l| l["relation"] == "next").cloned());
        match next {
            Some(link) => {
                url = link["url"].as_str().expect("url").to_owned();
                assert!(url.contains("start=") && url.contains("end="), "the next page pins the period: {url}");
            }
            None => break,
        }
    }
    assert_eq!(
        pages,
        vec![
            vec!["Patient", "Device", "Observation", "Observation"],
            vec!["Observation", "Observation"],
            vec!["Observation"]
        ]
    );
    let ids: HashSet<String> = seen.iter().map(|r| format!("{}/{}", r["resourceType"], r["id"])).collect();
    assert_eq!(ids.len(), 7, "every entry once");
}

#[tokio::test]
async fn a_device_given_to_another_resident_stays_with_the_readings_it_took() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (a, b) = (app.resident(&admin, "First Wearer").await, app.resident(&admin, "Second Wearer").await);
    app.device(&admin, json!({"device_id": "watch-9", "resident_id": a, "kind": "wearable", "room": "bedroom"})).await;
    let now = Utc::now();
    for minutes in [50, 40] {
        telemetry(&app, "watch-9", now - Duration::minutes(minutes), json!([{"metric": "heart_rate", "value": 70}]))
            .await;
    }
    app.wait_count(&format!("select count(*) from readings where resident_id = '{a}'"), 2).await;

    let (status, body) =
        app.call("PATCH", "/api/v1/devices/watch-9", Some(&admin), Some(json!({"resident_id": b}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The ingest has taken the move in once a reading lands with the new
    // wearer; a room temperature, which the view does not show, tells.
    let (mut probe, app_ref, second) = (0, &app, &b);
    wait_for("readings of the watch to be the second wearer's", || {
        probe += 1;
        let at = now - Duration::minutes(30) + Duration::seconds(probe);
        async move {
            telemetry(app_ref, "watch-9", at, json!([{"metric": "room_temperature", "value": 21}])).await;
            let sql = format!("select count(*) from readings where resident_id = '{second}'");
            (app_ref.count(&sql).await > 0).then_some(())
        }
    })
    .await;
    for minutes in [10, 5] {
        telemetry(&app, "watch-9", now - Duration::minutes(minutes), json!([{"metric": "heart_rate", "value": 80}]))
            .await;
    }
    let sql = format!("select count(*) from readings where resident_id = '{b}' and metric = 'heart_rate'");
    app.wait_count(&sql, 2).await;

    let bundle = |who: String| {
        let (app, admin) = (&app, admin.clone());
        async move { entries(&fhir_ok(app, &format!("/Patient/{who}/$everything"), &admin).await) }
    };
    let of = |resources: &[Value], kind: &str| -> Vec<Value> {
        resources.iter().filter(|r| r["resourceType"] == kind).cloned().collect()
    };
    let (first, second) = (bundle(a.clone()).await, bundle(b.clone()).await);
    // The first wearer keeps the readings taken while they wore it, and the
    // device that took them, no longer theirs and naming no one else.
    let observations = of(&first, "Observation");
    let values: Vec<&Value> = observations.iter().map(|o| &o["valueQuantity"]["value"]).collect();
    assert_eq!(values, [&json!(70.0), &json!(70.0)], "{observations:?}");
    let devices = of(&first, "Device");
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert_eq!(devices[0]["identifier"][0]["value"], "watch-9");
    assert!(devices[0].get("patient").is_none() && devices[0].get("note").is_none(), "{}", devices[0]);
    let reference = format!("Device/{}", devices[0]["id"].as_str().expect("id"));
    assert!(observations.iter().all(|o| o["device"]["reference"] == reference.as_str()));
    assert!(!Value::Array(first.clone()).to_string().contains(&b), "the second wearer is not named");
    // The second, only what came after, and the device as theirs.
    let observations = of(&second, "Observation");
    let values: Vec<&Value> = observations.iter().map(|o| &o["valueQuantity"]["value"]).collect();
    assert_eq!(values, [&json!(80.0), &json!(80.0)], "{observations:?}");
    let devices = of(&second, "Device");
    assert_eq!(devices[0]["patient"]["reference"], format!("Patient/{b}"));
    assert_eq!(devices[0]["id"], reference.trim_start_matches("Device/"));
    let search = fhir_ok(&app, &format!("/Observation?patient={a}"), &admin).await;
    assert_eq!(search["total"], 2);
}

#[tokio::test]
async fn heavy_fhir_reads_take_turns_and_leave_connections_for_acknowledgements() {
    // A small API pool, half of it for FHIR reads: what the shipped 16 and
    // 4 leave, at a quarter of the load.
    let app = TestApp::spawn_with(Broker::start().await, fresh_database().await, |s| {
        s.database.api_connections = 4;
        s.fhir.max_concurrent = 2;
    })
    .await;
    let admin = app.admin_token().await;
    let rid = app.resident(&admin, "Huang Min").await;
    app.device(&admin, json!({"device_id": "band", "resident_id": rid, "kind": "wearable"})).await;
    app.device(&admin, json!({"device_id": "sos-7", "resident_id": rid, "kind": "sos_button"})).await;
    // A year of a heart rate and an SpO2 every two minutes, which a search
    // with no period once scanned whole. (Written on a connection of its
    // own: the API pool's statement timeout is for requests.)
    let mut conn = sqlx::PgConnection::connect(&app.database_url).await.expect("connect");
    sqlx::query(
        "insert into readings (ts, device_id, resident_id, metric, value, received_at)
         select t, 'band', $1::uuid, m, 70, t
         from generate_series(now() - interval '365 days', now() - interval '1 minute', interval '2 minutes') t,
              unnest(array['heart_rate', 'spo2']) m",
    )
    .bind(&rid)
    .execute(&mut conn)
    .await
    .expect("a month of readings");
    let (_, staff) = user(&app, &admin, "staff", "Night Shift").await;
    event(&app, "sos-7", Utc::now(), "sos_pressed").await;
    let sos = wait_alert(&app, &admin, &rid, "sos").await;
    let ack = format!("/api/v1/alerts/{}/acknowledge", sos["id"].as_str().expect("id"));

    let reads: Vec<_> = (0..32)
        .map(|i| {
            let path = if i % 4 == 0 {
                format!("/fhir/r4/Patient/{rid}/$everything")
            } else {
                format!("/fhir/r4/Observation?patient={rid}&_count=1000")
            };
            let request = app.http.get(app.url(&path)).bearer_auth(&admin);
            tokio::spawn(async move {
                let r = request.send().await.expect("a FHIR answer");
                let retry_after = r.headers().get("retry-after").is_some();
                (r.status(), retry_after, r.json::<Value>().await.unwrap_or(Value::Null))
            })
        })
        .collect();
    wait_for("the FHIR reads to be scanning readings", || async {
        let scanning = app
            .count(
                "select count(*) from pg_stat_activity where application_name = 'eldercare-api'
                 and state = 'active' and query like '%from readings%'",
            )
            .await;
        (scanning > 0).then_some(())
    })
    .await;
    let (status, body) = app.call("POST", &ack, Some(&staff), None).await;
    assert_eq!(status, StatusCode::OK, "the acknowledgement while FHIR reads run: {body}");

    let (mut answered, mut turned_away) = (0, 0);
    for read in reads {
        let (status, retry_after, body) = read.await.expect("join");
        match status {
            StatusCode::OK => answered += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!((body["issue"][0]["code"].as_str(), retry_after), (Some("transient"), true), "{body}");
                turned_away += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert!(answered >= 1 && turned_away >= 1, "{answered} answered, {turned_away} turned away");
}
