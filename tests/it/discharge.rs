//! A hospital sends a discharge in (医养结合): a clinician whose hospital
//! holds the elder's consent with `clinical_write` posts a FHIR transaction
//! Bundle (a diagnosis, an allergy, a medication, the stay); the records
//! read back through FHIR with their source, the responder sheet shows
//! them beside what staff wrote, the stay is her `in_hospital` period, and
//! its end plans one check at home within 48 hours and flags her
//! vital-sign thresholds for review. Without the consent the elder does
//! not exist; a Bundle with one bad entry is refused whole and leaves
//! nothing behind. Every resource produced validates against R4.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fhir::validate;
use crate::support::{Broker, TestApp, fresh_database, wait_for};

const SNOMED: &str = "http://snomed.info/sct";
const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
const TERMINOLOGY: &str = "http://terminology.hl7.org/CodeSystem";

/// A status concept of one of HL7's code systems.
fn status(system: &str, code: &str) -> Value {
    json!({"coding": [{"system": format!("{TERMINOLOGY}/{system}"), "code": code}]})
}

fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Now, to the second: the times a Bundle carries.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("now")
}

/// The world: the care home's admin, an elder of it, a hospital and one of
/// its clinicians (logged in), and the operator.
struct World {
    admin: String,
    resident: String,
    hospital: String,
    clinician: String,
    clinician_id: String,
}

async fn spawn() -> TestApp {
    // A quick scheduler: a stay that ends is followed up within a second.
    TestApp::spawn_with(Broker::start().await, fresh_database().await, |s| s.scheduler.tick_ms = 200).await
}

async fn world(app: &TestApp) -> World {
    let admin = app.admin_token().await;
    let operator = app.operator_token().await;
    let resident = app.resident(&admin, "Wang Fang").await;
    let created = app
        .post(
            "/api/v1/institutions",
            &operator,
            json!({"name": "City Hospital", "kind": "hospital", "timezone": "Asia/Shanghai"}),
        )
        .await;
    let hospital = created["id"].as_str().expect("the hospital").to_owned();
    let email = "dr.wu@city-hospital.example";
    let body = json!({"role": "clinician", "institution_id": hospital, "email": email, "password": "long enough pw",
                      "name": "Dr Wu"});
    let clinician_id = app.post("/api/v1/users", &operator, body).await["id"].as_str().expect("an id").to_owned();
    let clinician = app.login(email, "long enough pw").await;
    World { admin, resident, hospital, clinician, clinician_id }
}

/// Records the elder's consent to the hospital, with these grants, in force
/// since yesterday; answers its id.
async fn consent(app: &TestApp, w: &World, scope: &[&str]) -> String {
    let id = uuid::Uuid::new_v4();
    sqlx::query(
        "insert into partner_consents (id, resident_id, grantee_institution_id, scope, from_at, recorded_by_name,
                                       recorded_method)
         values ($1, $2::uuid, $3::uuid, $4, now() - interval '1 day', 'Wang Fang', 'written')",
    )
    .bind(id)
    .bind(&w.resident)
    .bind(&w.hospital)
    .bind(scope.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    .execute(&app.pool)
    .await
    .expect("a consent");
    id.to_string()
}

fn patient(w: &World) -> Value {
    json!({"reference": format!("Patient/{}", w.resident)})
}

fn condition(w: &World) -> Value {
    json!({"resourceType": "Condition", "subject": patient(w),
           "clinicalStatus": status("condition-clinical", "active"),
           "verificationStatus": status("condition-ver-status", "confirmed"),
           "category": [status("condition-category", "encounter-diagnosis")],
           "code": {"coding": [{"system": SNOMED, "code": "5913000", "display": "Fracture of neck of femur"}]},
           "encounter": {"reference": "urn:uuid:7f1e7f3a-0000-4000-8000-000000000004"},
           "recordedDate": "2026-12-01"})
}

fn allergy(w: &World) -> Value {
    json!({"resourceType": "AllergyIntolerance", "patient": patient(w), "type": "allergy", "category": ["medication"],
           "criticality": "high",
           "clinicalStatus": status("allergyintolerance-clinical", "active"),
           "code": {"coding": [{"system": SNOMED, "code": "764146007", "display": "Penicillin"}]},
           "reaction": [{"severity": "severe", "manifestation": [
               {"coding": [{"system": SNOMED, "code": "39579001", "display": "Anaphylaxis"}]}]}]})
}

fn medication(w: &World) -> Value {
    json!({"resourceType": "MedicationStatement", "subject": patient(w), "status": "active",
           "medicationCodeableConcept": {"coding": [
               {"system": RXNORM, "code": "1364430", "display": "apixaban 2.5 MG Oral Tablet"}]},
           "dosage": [{"text": "2.5 mg twice a day"}]})
}

fn stay(w: &World, start: DateTime<Utc>, end: DateTime<Utc>, status: &str) -> Value {
    json!({"resourceType": "Encounter", "subject": patient(w), "status": status,
           "class": {"system": ACT_CODE, "code": "IMP", "display": "inpatient encounter"},
           "type": [{"text": "Orthopaedic ward"}],
           "period": {"start": ts(start), "end": ts(end)}})
}

/// A transaction Bundle of these resources, each POSTed, the fourth (if
/// any) under the fullUrl the Condition's encounter names.
fn bundle(resources: Vec<Value>) -> Value {
    let entry: Vec<Value> = resources
        .into_iter()
        .enumerate()
        .map(|(i, resource)| {
            let kind = resource["resourceType"].clone();
            json!({"fullUrl": format!("urn:uuid:7f1e7f3a-0000-4000-8000-00000000000{}", i + 1), "resource": resource,
                   "request": {"method": "POST", "url": kind}})
        })
        .collect();
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entry})
}

/// POSTs a Bundle to the FHIR base: status and body.
async fn send(app: &TestApp, token: &str, bundle: &Value) -> (StatusCode, Value) {
    let r = app
        .http
        .post(app.url("/fhir/r4"))
        .bearer_auth(token)
        .header("content-type", "application/fhir+json")
        .body(bundle.to_string())
        .send()
        .await
        .expect("the transaction");
    let status = r.status();
    assert_eq!(
        r.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/fhir+json"),
        "{status}"
    );
    (status, r.json().await.expect("a FHIR body"))
}

async fn fhir(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    let r = app.http.get(app.url(&format!("/fhir/r4{path}"))).bearer_auth(token).send().await.expect("a FHIR read");
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn fhir_ok(app: &TestApp, token: &str, path: &str) -> Value {
    let (status, body) = fhir(app, token, path).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    body
}

/// The rows of the tables a discharge writes, hashed.
async fn fingerprint(app: &TestApp) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for table in ["clinical_records", "resident_status", "visits", "residents", "alerts", "audit_log"] {
        let sql = format!("select md5(coalesce(string_agg(x::text, '|' order by x::text), '')) from {table} x");
        let hash: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&app.pool).await.expect("a hash");
        out.push((table.to_owned(), hash));
    }
    out
}

async fn discharge_visits(app: &TestApp, resident: &str) -> Vec<(String, DateTime<Utc>, Option<String>, String)> {
    sqlx::query_as(
        "select v.id::text, v.scheduled_start, v.clinical_record_id::text, v.status from visits v
         where v.resident_id = $1::uuid and v.origin = 'discharge' order by v.created_at",
    )
    .bind(resident)
    .fetch_all(&app.pool)
    .await
    .expect("discharge visits")
}

#[tokio::test]
async fn without_a_clinical_write_consent_the_hospital_is_told_the_elder_does_not_exist() {
    let app = spawn().await;
    let w = world(&app).await;
    let now = now();
    let stay = stay(&w, now - Duration::days(5), now - Duration::hours(1), "finished");
    let discharge = bundle(vec![condition(&w), allergy(&w), medication(&w), stay]);

    // No consent: no such Patient, to read or to write.
    let (status, body) = send(&app, &w.clinician, &discharge).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(
        (body["resourceType"].as_str(), body["issue"][0]["code"].as_str()),
        (Some("OperationOutcome"), Some("not-found"))
    );
    assert_eq!(fhir(&app, &w.clinician, &format!("/Patient/{}", w.resident)).await.0, StatusCode::NOT_FOUND);

    // Reading only: she reads, and still may not write.
    let read = consent(&app, &w, &["fhir_read"]).await;
    let patient = fhir_ok(&app, &w.clinician, &format!("/Patient/{}", w.resident)).await;
    assert_eq!(patient["name"][0]["text"], "Wang Fang");
    let (status, body) = send(&app, &w.clinician, &discharge).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // Her care home's staff do not send clinical records in either.
    let (status, body) = send(&app, &w.admin, &discharge).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // Writing, then withdrawn: 404 again, at once.
    let write = consent(&app, &w, &["clinical_write"]).await;
    sqlx::query("update partner_consents set withdrawn_at = now() where id = any($1::uuid[])")
        .bind(vec![read, write])
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, body) = send(&app, &w.clinician, &discharge).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(app.count("select count(*) from clinical_records").await, 0);
    assert_eq!(app.count("select count(*) from resident_status").await, 0);
}

#[tokio::test]
async fn a_discharge_reads_back_shows_on_the_sheet_beside_staff_s_and_plans_one_check_at_home() {
    let app = spawn().await;
    let w = world(&app).await;
    consent(&app, &w, &["fhir_read", "clinical_write"]).await;
    let now = now();

    // What staff wrote on her sheet.
    let sheet = json!({"conditions": ["type 2 diabetes"], "allergies": ["latex"],
                       "medications": [{"name": "metformin", "dose": "500 mg", "schedule": "twice daily"}]});
    let (status, body) =
        app.call("PUT", &format!("/api/v1/residents/{}/responder-info", w.resident), Some(&w.admin), Some(sheet)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // In hospital for ten days; home two hours ago.
    let (start, end) = (now - Duration::days(10), now - Duration::hours(2));
    let discharge = bundle(vec![condition(&w), allergy(&w), medication(&w), stay(&w, start, end, "finished")]);
    let (status, response) = send(&app, &w.clinician, &discharge).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    assert_eq!(response["resourceType"], "Bundle");
    assert_eq!(response["type"], "transaction-response");
    let locations: Vec<String> = response["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            assert_eq!(e["response"]["status"], "201 Created", "{e}");
            e["response"]["location"].as_str().expect("a location").to_owned()
        })
        .collect();
    let kinds: Vec<&str> = locations.iter().map(|l| l.split('/').next().unwrap()).collect();
    assert_eq!(kinds, ["Condition", "AllergyIntolerance", "MedicationStatement", "Encounter"]);
    let stay_id = locations[3].split('/').nth(1).unwrap().to_owned();

    // Read back by id, by her clinician and her care home, with the source.
    let mut produced = vec![response.clone()];
    for location in &locations {
        for token in [&w.clinician, &w.admin] {
            let resource = fhir_ok(&app, token, &format!("/{location}")).await;
            assert_eq!(
                format!("{}/{}", resource["resourceType"].as_str().unwrap(), resource["id"].as_str().unwrap()),
                *location
            );
            assert_eq!(resource["meta"]["source"], format!("urn:uuid:{}", w.hospital));
            let source = resource["extension"].as_array().unwrap().iter().find(|e| {
                e["url"].as_str().is_some_and(|u| u.ends_with("/fhir/r4/StructureDefinition/source-institution"))
            });
            assert_eq!(source.expect("the source extension")["valueReference"]["display"], "City Hospital");
            produced.push(resource);
        }
    }
    let condition = fhir_ok(&app, &w.clinician, &format!("/{}", locations[0])).await;
    assert_eq!(condition["code"]["coding"][0]["code"], "5913000", "stored as given");
    assert_eq!(condition["encounter"]["reference"], locations[3], "the Bundle's reference resolves here");
    let encounter = fhir_ok(&app, &w.admin, &format!("/{}", locations[3])).await;
    assert_eq!(encounter["class"]["code"], "IMP");

    // And by search, by patient.
    for (path, found) in [
        (format!("/Condition?patient={}", w.resident), &locations[0]),
        (format!("/AllergyIntolerance?patient=Patient/{}", w.resident), &locations[1]),
        (format!("/MedicationStatement?subject={}", w.resident), &locations[2]),
        (format!("/Encounter?patient={}&class=IMP", w.resident), &locations[3]),
    ] {
        let set = fhir_ok(&app, &w.clinician, &path).await;
        assert_eq!((set["type"].as_str(), set["total"].as_i64()), (Some("searchset"), Some(1)), "{path}: {set}");
        let hit = &set["entry"][0]["resource"];
        assert_eq!(format!("{}/{}", hit["resourceType"].as_str().unwrap(), hit["id"].as_str().unwrap()), *found);
        produced.push(set);
    }
    let (status, body) = fhir(&app, &w.clinician, &format!("/Encounter?patient={}", w.resident)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "visits are not searched here: {body}");
    produced.push(fhir_ok(&app, &w.clinician, "/metadata").await);
    // Her whole record holds them too (the stay the diagnosis names among them).
    let everything = fhir_ok(&app, &w.admin, &format!("/Patient/{}/$everything", w.resident)).await;
    let held: Vec<String> = everything["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!("{}/{}", e["resource"]["resourceType"].as_str().unwrap(), e["resource"]["id"].as_str().unwrap())
        })
        .collect();
    for location in &locations {
        assert!(held.contains(location), "{location} not in {held:?}");
    }
    produced.push(everything);
    validate(&produced).await;

    // Her clinician's reads are in the access log, with the consent.
    let logged = app
        .count(&format!(
            "select count(*) from access_log where user_id = '{}' and kind = 'fhir' and consent_id is not null",
            w.clinician_id
        ))
        .await;
    assert!(logged >= 8, "{logged} reads logged");

    // The responder sheet: what staff wrote, and beside it what the hospital sent, with its source.
    let sheet = app.get(&format!("/api/v1/residents/{}/responder-info", w.resident), &w.admin).await;
    assert_eq!(sheet["conditions"], json!(["type 2 diabetes"]));
    assert_eq!(sheet["allergies"], json!(["latex"]));
    assert_eq!(sheet["medications"][0]["name"], "metformin");
    let partners = &sheet["from_partners"];
    let only = |list: &str| {
        let items = partners[list].as_array().unwrap_or_else(|| panic!("{list}: {partners}"));
        assert_eq!(items.len(), 1, "{list}: {partners}");
        items[0].clone()
    };
    let diagnosis = only("conditions");
    assert_eq!(
        (diagnosis["text"].as_str(), diagnosis["code"].as_str()),
        (Some("Fracture of neck of femur"), Some("5913000"))
    );
    assert_eq!(diagnosis["source"], "City Hospital");
    assert_eq!(diagnosis["source_institution_id"], w.hospital.as_str());
    assert!(diagnosis["received_at"].is_string());
    let allergy = only("allergies");
    assert_eq!(allergy["text"], "Penicillin");
    assert_eq!(allergy["detail"], "high criticality; reaction: Anaphylaxis");
    let medicine = only("medications");
    assert_eq!(
        (medicine["text"].as_str(), medicine["detail"].as_str()),
        (Some("apixaban 2.5 MG Oral Tablet"), Some("2.5 mg twice a day"))
    );

    // The stay is her in_hospital period, over; her thresholds are to be reviewed for two weeks.
    let status = app.get(&format!("/api/v1/residents/{}/status", w.resident), &w.admin).await;
    assert_eq!(status["status"], "active", "{status}");
    let stay =
        status["history"].as_array().unwrap().iter().find(|p| p["status"] == "in_hospital").expect("the stay").clone();
    assert_eq!(stay["encounter_id"], stay_id.as_str());
    let instant = |v: &Value| DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap().with_timezone(&Utc);
    assert_eq!((instant(&stay["from"]), instant(&stay["until"])), (start, end));
    let local = end.with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    assert_eq!(status["vitals_review_until"], (local + Duration::days(14)).to_string());

    // One check at home planned, within 48 hours of the discharge, visible to her care home.
    let planned = discharge_visits(&app, &w.resident).await;
    assert_eq!(planned.len(), 1, "{planned:?}");
    let (visit, at, record, state) = &planned[0];
    assert!(*at > now && *at <= end + Duration::hours(48), "{at}");
    assert_eq!((record.as_deref(), state.as_str()), (Some(stay_id.as_str()), "scheduled"));
    let seen = app.get(&format!("/api/v1/visits/{visit}"), &w.admin).await;
    assert_eq!(
        (seen["origin"].as_str(), seen["service_code"].as_str()),
        (Some("discharge"), Some("WELFARE-CHECK")),
        "{seen}"
    );

    // The same discharge sent again: its records are kept again, the check is not planned twice.
    let (status, body) = send(&app, &w.clinician, &discharge).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.scheduler_ticks(2).await;
    assert_eq!(discharge_visits(&app, &w.resident).await.len(), 1);
    // Nor listed twice on the sheet.
    let sheet = app.get(&format!("/api/v1/residents/{}/responder-info", w.resident), &w.admin).await;
    assert_eq!(sheet["from_partners"]["conditions"].as_array().map(Vec::len), Some(1), "{sheet}");

    // Erased, what the hospital sent goes with her sheet; the stays stay, without it.
    let erased = app.post(&format!("/api/v1/residents/{}/erase", w.resident), &w.admin, Value::Null).await;
    assert_eq!(erased["erased"]["clinical_records"], 8, "{erased}");
    assert_eq!(app.count("select count(*) from clinical_records").await, 0);
    assert_eq!(app.count("select count(*) from resident_status where clinical_record_id is not null").await, 0);
    assert_eq!(app.count("select count(*) from resident_status where status = 'in_hospital'").await, 2);
}

#[tokio::test]
async fn a_bundle_with_one_bad_entry_is_refused_whole_and_leaves_nothing_behind() {
    let app = spawn().await;
    let w = world(&app).await;
    consent(&app, &w, &["fhir_read", "clinical_write"]).await;
    let now = now();
    let before = fingerprint(&app).await;

    // The third entry's condition is coded in a local system nobody else reads.
    let mut local = condition(&w);
    local["code"]["coding"][0]["system"] = json!("http://city-hospital.example/codes");
    local.as_object_mut().unwrap().remove("encounter");
    let refused = bundle(vec![
        allergy(&w),
        medication(&w),
        local,
        stay(&w, now - Duration::days(3), now - Duration::hours(1), "finished"),
    ]);
    let (status, outcome) = send(&app, &w.clinician, &refused).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    let issues = outcome["issue"].as_array().expect("issues");
    assert_eq!(issues.len(), 1, "{outcome}");
    assert_eq!(issues[0]["expression"], json!(["Bundle.entry[2].resource.code.coding[0].system"]));
    assert_eq!(issues[0]["code"], "code-invalid");
    assert!(issues[0]["diagnostics"].as_str().unwrap().contains("http://city-hospital.example/codes"));

    // Other types, Bundles, methods and Patients: refused the same way.
    let mut batch = bundle(vec![allergy(&w)]);
    batch["type"] = json!("batch");
    let mut put = bundle(vec![allergy(&w)]);
    put["entry"][0]["request"]["method"] = json!("PUT");
    let mut someone_else = medication(&w);
    someone_else["subject"]["reference"] = json!("Patient/5d7e1f2a-3b4c-4d5e-8f60-718293a4b5c6");
    let observation = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}});
    for (bad, at) in [
        (batch, "Bundle.type"),
        (put, "Bundle.entry[0].request.method"),
        (bundle(vec![allergy(&w), someone_else]), "Bundle.entry[1].resource.subject.reference"),
        (bundle(vec![allergy(&w), observation]), "Bundle.entry[1].resource.resourceType"),
        (bundle(vec![allergy(&w); 101]), "Bundle.entry"),
    ] {
        let (status, outcome) = send(&app, &w.clinician, &bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{at}: {outcome}");
        assert_eq!(outcome["issue"][0]["expression"][0], at, "{outcome}");
        validate(&[outcome]).await;
    }
    let (status, _) = send(&app, &w.clinician, &json!("not a bundle")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .http
        .post(app.url("/fhir/r4"))
        .bearer_auth(&w.clinician)
        .body("{")
        .header("content-type", "application/fhir+json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = app
        .http
        .post(app.url("/fhir/r4"))
        .bearer_auth(&w.clinician)
        .body(refused.to_string())
        .header("content-type", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    assert_eq!(fingerprint(&app).await, before, "a refused Bundle left something behind");
}

#[tokio::test]
async fn a_stay_whose_end_is_ahead_is_followed_up_by_the_scheduler_once_it_ends() {
    let app = spawn().await;
    let w = world(&app).await;
    consent(&app, &w, &["clinical_write"]).await;
    let now = now();

    // Her home care is another institution's, which has a check of its own for the days after a discharge.
    let operator = app.operator_token().await;
    let created = app
        .post(
            "/api/v1/institutions",
            &operator,
            json!({"name": "Riverside Home Care", "kind": "home_care", "timezone": "Asia/Shanghai"}),
        )
        .await;
    let home_care = created["id"].as_str().expect("the provider").to_owned();
    sqlx::query(
        "insert into enrolments (id, resident_id, institution_id, services, consent_by, consent_method, consent_at,
                                 origin)
         values (gen_random_uuid(), $1::uuid, $2::uuid, array['home_care'], 'family', 'written', now(), 'enrolment')",
    )
    .bind(&w.resident)
    .bind(&home_care)
    .execute(&app.pool)
    .await
    .expect("enrolled for home care");
    sqlx::query(
        "insert into services (id, institution_id, code, name, category, duration_minutes, unit, unit_price, currency,
                               funding, evv_required)
         values (gen_random_uuid(), $1::uuid, 'POST-DISCHARGE-CHECK', 'Check after a discharge', 'welfare_check', 45,
                 'visit', 0, 'CNY', '{institution}', true)",
    )
    .bind(&home_care)
    .execute(&app.pool)
    .await
    .expect("its check after a discharge");

    // Still in hospital, the discharge set for a few seconds from now.
    let end = now + Duration::seconds(3);
    let (status, body) =
        send(&app, &w.clinician, &bundle(vec![stay(&w, now - Duration::days(4), end, "in-progress")])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let status = app.get(&format!("/api/v1/residents/{}/status", w.resident), &w.admin).await;
    assert_eq!(status["status"], "in_hospital", "{status}");
    assert_eq!(status["vitals_review_until"], Value::Null);
    assert!(discharge_visits(&app, &w.resident).await.is_empty(), "nothing planned before she is home");

    // Once she is home, the scheduler plans the check, once.
    let planned = wait_for("the check after the discharge", || async {
        let visits = discharge_visits(&app, &w.resident).await;
        (!visits.is_empty()).then_some(visits)
    })
    .await;
    app.scheduler_ticks(3).await;
    assert_eq!(discharge_visits(&app, &w.resident).await.len(), 1);
    let at = planned[0].1;
    assert!(at > end && at <= end + Duration::hours(48), "{at}");
    let (provider, service): (String, String) = sqlx::query_as(
        "select v.institution_id::text, s.code from visits v join services s on s.id = v.service_id
         where v.id = $1::uuid",
    )
    .bind(&planned[0].0)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((provider.as_str(), service.as_str()), (home_care.as_str(), "POST-DISCHARGE-CHECK"));
    let status = app.get(&format!("/api/v1/residents/{}/status", w.resident), &w.admin).await;
    assert_eq!(status["status"], "active", "{status}");
    assert!(status["vitals_review_until"].is_string(), "{status}");
}

/// The whole way, as the people involved run it: a hospital without her
/// consent finds no such elder; her care home's admin records her consent
/// (read and write); the hospital reads her Patient and Observations, sends
/// her discharge in, and her sheet, status and schedule follow from it;
/// the admin withdraws the consent and the hospital finds no such elder
/// again, for reading and for writing.
#[tokio::test]
async fn a_hospital_from_no_consent_through_a_discharge_to_the_withdrawal() {
    let app = spawn().await;
    let w = world(&app).await;
    let body = json!({"device_id": "watch-wang", "resident_id": w.resident, "kind": "wearable", "room": "bedroom"});
    app.device(&w.admin, body).await;
    let at = ts(now() - Duration::minutes(5));
    app.broker
        .publish(
            "eldercare/v1/watch-wang/telemetry",
            json!({"ts": at, "metric": "heart_rate", "value": 71}).to_string(),
        )
        .await;
    app.wait_count(&format!("select count(*) from readings where resident_id = '{}'", w.resident), 1).await;
    let patient = format!("/Patient/{}", w.resident);
    let observations = format!("/Observation?patient={}", w.resident);
    let now = now();
    let (start, end) = (now - Duration::days(6), now - Duration::hours(3));
    let discharge = bundle(vec![condition(&w), allergy(&w), medication(&w), stay(&w, start, end, "finished")]);

    // No consent: no such elder, to read or to write.
    for path in [&patient, &observations] {
        assert_eq!(fhir(&app, &w.clinician, path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(send(&app, &w.clinician, &discharge).await.0, StatusCode::NOT_FOUND);

    // Her care home's admin records her consent.
    let consent = json!({"grantee_institution_id": w.hospital, "scope": ["fhir_read", "clinical_write"],
                         "recorded": {"by": "Wang Fang, herself", "method": "written"}});
    let recorded = app.post(&format!("/api/v1/residents/{}/consents", w.resident), &w.admin, consent).await;
    let consent_id = recorded["id"].as_str().expect("a consent").to_owned();

    // The hospital reads her Patient and her Observations.
    assert_eq!(fhir_ok(&app, &w.clinician, &patient).await["id"], w.resident.as_str());
    let found = fhir_ok(&app, &w.clinician, &observations).await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["entry"][0]["resource"]["code"]["coding"][0]["code"], "8867-4");

    // And sends her discharge in.
    let (status, response) = send(&app, &w.clinician, &discharge).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    let stay_id = response["entry"][3]["response"]["location"].as_str().unwrap().split('/').nth(1).unwrap().to_owned();

    // Her sheet shows what it sent, with its source.
    let sheet = app.get(&format!("/api/v1/residents/{}/responder-info", w.resident), &w.admin).await;
    let partners = &sheet["from_partners"];
    for (list, text) in [
        ("conditions", "Fracture of neck of femur"),
        ("allergies", "Penicillin"),
        ("medications", "apixaban 2.5 MG Oral Tablet"),
    ] {
        let item = &partners[list][0];
        assert_eq!((item["text"].as_str(), item["source"].as_str()), (Some(text), Some("City Hospital")), "{partners}");
    }
    // Her status shows the stay, and a check at home is planned.
    let status = app.get(&format!("/api/v1/residents/{}/status", w.resident), &w.admin).await;
    let stay = status["history"].as_array().unwrap().iter().find(|p| p["status"] == "in_hospital").cloned();
    assert_eq!(stay.expect("the stay")["encounter_id"], stay_id.as_str(), "{status}");
    let planned = discharge_visits(&app, &w.resident).await;
    assert_eq!(planned.len(), 1, "{planned:?}");
    assert!(planned[0].1 <= end + Duration::hours(48));

    // Withdrawn: no such elder again.
    let (status, _) = app.call("DELETE", &format!("/api/v1/consents/{consent_id}"), Some(&w.admin), None).await;
    assert_eq!(status, StatusCode::OK);
    for path in [&patient, &observations, &format!("/Condition?patient={}", w.resident)] {
        assert_eq!(fhir(&app, &w.clinician, path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(send(&app, &w.clinician, &discharge).await.0, StatusCode::NOT_FOUND);
}
