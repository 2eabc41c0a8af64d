//! Medical partners: a hospital's clinician reaches an elder only through
//! her consent in force, reads what it grants (her FHIR view, never her care
//! plan), leaves the consent it relied on in the access log, and reaches
//! nothing again the moment it is withdrawn; a family doctor team with the
//! `alerts` grant hears of her abnormal vital signs; the family doctor named
//! on her needs her consent to the team.

use base64::Engine;
use chrono::{SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::console::Browser;
use crate::support::TestApp;
use crate::support::home::{DeviceRow, Home};

const WATCH: &[DeviceRow] = &[("watch-1", "wearable", "bedroom", None, "native", None)];

fn heart_rate(secs_ago: i64, bpm: f64) -> (String, Vec<u8>) {
    let ts = (Utc::now() - chrono::Duration::seconds(secs_ago)).to_rfc3339_opts(SecondsFormat::Millis, true);
    (
        "eldercare/v1/watch-1/telemetry".to_owned(),
        json!({"ts": ts, "metric": "heart_rate", "value": bpm}).to_string().into_bytes(),
    )
}

/// A medical partner of `kind` made by the operator, and a clinician of it:
/// (institution id, clinician id, clinician token).
async fn partner(app: &TestApp, operator: &str, kind: &str, name: &str) -> (String, String, String) {
    let body = json!({"name": name, "kind": kind, "timezone": "Asia/Shanghai"});
    let institution = app.post("/api/v1/institutions", operator, body).await["id"].as_str().unwrap().to_owned();
    let email = format!("dr@{}.example", name.to_lowercase().replace(' ', "-"));
    let body = json!({"email": email, "password": "a long enough password", "name": format!("Dr of {name}"),
                      "role": "clinician", "institution_id": institution});
    let clinician = app.post("/api/v1/users", operator, body).await["id"].as_str().unwrap().to_owned();
    (institution, clinician, app.login(&email, "a long enough password").await)
}

async fn status_of(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> StatusCode {
    app.call(method, path, Some(token), body).await.0
}

/// A FHIR read: status and body.
async fn fhir(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    let r = app.http.get(app.url(&format!("/fhir/r4{path}"))).bearer_auth(token).send().await.expect("FHIR request");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn consent_body(grantee: &str, scope: &[&str]) -> Value {
    json!({"grantee_institution_id": grantee, "scope": scope,
           "recorded": {"by": "Wu Lan, herself", "method": "written"}})
}

#[tokio::test]
async fn a_hospital_reads_only_through_a_consent_in_force_and_its_withdrawal_ends_it_at_once() {
    let app = TestApp::spawn().await;
    let h = Home::new(&app, "Wu Lan", WATCH).await;
    let (rid, admin) = (h.rid.clone(), h.token.clone());
    let operator = app.operator_token().await;
    let (hospital, clinician_id, clinician) = partner(&app, &operator, "hospital", "City Hospital").await;
    let (_, _, stranger) = partner(&app, &operator, "hospital", "Harbour Hospital").await;
    // A clinician belongs to a medical partner, never to a care provider.
    let home: String = sqlx::query_scalar("select institution_id::text from residents where id = $1::uuid")
        .bind(&rid)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let body = json!({"email": "dr@home.example", "password": "a long enough password", "name": "Dr Home",
                      "role": "clinician", "institution_id": home});
    assert_eq!(status_of(&app, "POST", "/api/v1/users", &operator, Some(body)).await, StatusCode::UNPROCESSABLE_ENTITY);

    let readings: Vec<_> = (0..3).map(|i| heart_rate(300 - i * 60, 72.0)).collect();
    app.broker.publish_all(&readings).await;
    app.wait_count(&format!("select count(*) from readings where resident_id = '{rid}'"), 3).await;

    // Without a consent: as if she did not exist, through FHIR and the API.
    let patient = format!("/Patient/{rid}");
    let observations = format!("/Observation?patient={rid}");
    for path in [patient.as_str(), observations.as_str()] {
        let (status, body) = fhir(&app, path, &clinician).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(body["resourceType"], "OperationOutcome");
    }
    for path in [format!("/api/v1/residents/{rid}"), format!("/api/v1/residents/{rid}/consents")] {
        assert_eq!(status_of(&app, "GET", &path, &clinician, None).await, StatusCode::NOT_FOUND, "{path}");
    }

    // The consent: recorded by her provider's admin, never by its staff,
    // only to a medical partner, for what it may grant.
    let consents = format!("/api/v1/residents/{rid}/consents");
    let staff_body = json!({"email": "staff@home.example", "password": "a long enough password", "name": "Staff",
                            "role": "staff"});
    app.post("/api/v1/users", &admin, staff_body).await;
    let staff = app.login("staff@home.example", "a long enough password").await;
    let fhir_read = consent_body(&hospital, &["fhir_read"]);
    assert_eq!(status_of(&app, "POST", &consents, &staff, Some(fhir_read.clone())).await, StatusCode::FORBIDDEN);
    assert_eq!(status_of(&app, "POST", &consents, &clinician, Some(fhir_read.clone())).await, StatusCode::NOT_FOUND);
    for wrong in [
        consent_body(&home, &["fhir_read"]),
        consent_body(&hospital, &["fhir_read", "fhir_read"]),
        consent_body(&hospital, &["everything"]),
        json!({"grantee_institution_id": hospital, "scope": ["fhir_read"], "from": "2030-01-02T00:00:00Z",
               "until": "2030-01-01T00:00:00Z", "recorded": {"by": "Wu Lan", "method": "written"}}),
        json!({"grantee_institution_id": hospital, "scope": ["fhir_read"], "recorded": {"by": "Wu Lan", "method": "telepathy"}}),
    ] {
        let (status, answer) = app.call("POST", &consents, Some(&admin), Some(wrong.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{wrong}: {answer}");
    }
    let (status, consent) = app.call("POST", &consents, Some(&admin), Some(fhir_read)).await;
    assert_eq!(status, StatusCode::CREATED, "{consent}");
    let consent_id = consent["id"].as_str().unwrap().to_owned();
    assert_eq!((consent["active"].as_bool(), consent["grantee_kind"].as_str()), (Some(true), Some("hospital")));

    // With it: her Patient and Observations, her consent as FHIR, and not her
    // care plan, which it does not grant.
    let (status, read) = fhir(&app, &patient, &clinician).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["id"], rid.as_str());
    let (status, found) = fhir(&app, &observations, &clinician).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["total"], 3, "{found}");
    let (status, searched) = fhir(&app, &format!("/Consent?patient={rid}"), &clinician).await;
    assert_eq!((status, searched["total"].as_i64()), (StatusCode::OK, Some(1)), "{searched}");
    let (status, as_fhir) = fhir(&app, &format!("/Consent/{consent_id}"), &clinician).await;
    assert_eq!(status, StatusCode::OK, "{as_fhir}");
    assert_eq!((as_fhir["status"].as_str(), as_fhir["provision"]["type"].as_str()), (Some("active"), Some("permit")));
    assert_eq!(as_fhir["provision"]["action"][0]["coding"][1]["code"], "fhir_read");
    let listed = app.get(&consents, &clinician).await;
    assert_eq!(listed["consents"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        status_of(&app, "GET", &format!("/api/v1/residents/{rid}/care-plan"), &clinician, None).await,
        StatusCode::NOT_FOUND
    );
    // A clinician writes nothing through the API, and another hospital reads nothing.
    assert_eq!(
        status_of(&app, "DELETE", &format!("/api/v1/consents/{consent_id}"), &clinician, None).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(fhir(&app, &patient, &stranger).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        status_of(&app, "GET", &format!("/fhir/r4/Consent/{consent_id}"), &stranger, None).await,
        StatusCode::NOT_FOUND
    );

    // Every read the clinician made is in her provider's access log, with
    // the consent it relied on.
    let log = app.get(&format!("/api/v1/access-log?resident_id={rid}"), &admin).await;
    let theirs: Vec<&Value> =
        log["entries"].as_array().unwrap().iter().filter(|e| e["user_id"] == clinician_id.as_str()).collect();
    assert!(theirs.len() >= 4, "{log}");
    assert!(theirs.iter().all(|e| e["role"] == "clinician" && e["consent_id"] == consent_id.as_str()), "{log}");

    crate::fhir::validate(&[read, found, searched, as_fhir]).await;

    // Withdrawn: at once, nothing; a second withdrawal is a conflict.
    let withdraw = format!("/api/v1/consents/{consent_id}");
    let (status, withdrawn) = app.call("DELETE", &withdraw, Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{withdrawn}");
    assert_eq!(withdrawn["active"], false);
    assert!(withdrawn["withdrawn_at"].is_string());
    assert_eq!(status_of(&app, "DELETE", &withdraw, &admin, None).await, StatusCode::CONFLICT);
    for path in [patient.as_str(), observations.as_str(), &format!("/Consent?patient={rid}")] {
        assert_eq!(fhir(&app, path, &clinician).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    // Her provider still sees the consent, now inactive, on the audit chain too.
    let (_, inactive) = fhir(&app, &format!("/Consent/{consent_id}"), &admin).await;
    assert_eq!(inactive["status"], "inactive");
    crate::fhir::validate(&[inactive]).await;
    let trail: Vec<String> = sqlx::query_scalar("select action from audit_log where entity_id = $1 order by id")
        .bind(&consent_id)
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(trail, ["consent.granted", "consent.withdrawn"]);
}

#[tokio::test]
async fn the_family_doctor_team_with_the_alerts_grant_hears_of_her_abnormal_vital_signs() {
    let app = TestApp::spawn().await;
    let h = Home::new(&app, "Sun Mei", WATCH).await;
    let (rid, admin) = (h.rid.clone(), h.token.clone());
    let operator = app.operator_token().await;
    let (team, doctor, doctor_token) = partner(&app, &operator, "family_doctor_team", "Lakeside Doctors").await;
    let (hospital, reader, reader_token) = partner(&app, &operator, "hospital", "City Hospital").await;
    // Both subscribe for pushes: only the team may be told.
    for token in [&doctor_token, &reader_token] {
        let (keys, auth) = ece::generate_keypair_and_auth_secret().unwrap();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let body = json!({"endpoint": "http://127.0.0.1:9/push", "expirationTime": null,
                          "keys": {"p256dh": b64.encode(keys.pub_as_raw().unwrap()), "auth": b64.encode(auth)}});
        let (status, answer) = app.call("POST", "/api/v1/me/push-subscriptions", Some(token), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    let consents = format!("/api/v1/residents/{rid}/consents");
    let (status, _) = app.call("POST", &consents, Some(&admin), Some(consent_body(&team, &["alerts"]))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app.call("POST", &consents, Some(&admin), Some(consent_body(&hospital, &["fhir_read"]))).await;
    assert_eq!(status, StatusCode::CREATED);

    // The family doctor: of a team she consented to, never of another.
    let doctor_of = format!("/api/v1/residents/{rid}/family-doctor");
    let named = json!({"institution_id": team, "name": "Dr Lin", "phone": "+8613900000001"});
    let (status, answer) = app.call("PUT", &doctor_of, Some(&admin), Some(named.clone())).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["name"], "Dr Lin");
    let hospital_named = json!({"institution_id": hospital, "name": "Dr Ma", "phone": "+8613900000002"});
    assert_eq!(
        status_of(&app, "PUT", &doctor_of, &admin, Some(hospital_named)).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let kept: Option<String> = sqlx::query_scalar("select family_doctor_name from residents where id = $1::uuid")
        .bind(&rid)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("Dr Lin"));
    let listed = app.get(&consents, &admin).await;
    assert_eq!(listed["family_doctor"]["institution_name"], "Lakeside Doctors");
    assert_eq!(listed["consents"].as_array().map(Vec::len), Some(2));
    let partners = app.get("/api/v1/partners", &admin).await;
    let names: Vec<&str> =
        partners["partners"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["City Hospital", "Lakeside Doctors"]);
    // The alerts grant alone reads nothing of her.
    assert_eq!(fhir(&app, &format!("/Patient/{rid}"), &doctor_token).await.0, StatusCode::NOT_FOUND);

    // Her heart races for eight minutes: the team's doctor is told, the
    // hospital (reading only) is not: both would be in the one plan of the
    // alert's opening.
    let high: Vec<_> = (0..8).map(|i| heart_rate(1800 - i * 60, 140.0)).collect();
    app.broker.publish_all(&high).await;
    let alert = h.wait_alert(&app, "vital_abnormal", |a| a["status"] == "open").await;
    let alert_id = alert["id"].as_str().unwrap().to_owned();
    let told = |user: &str| {
        format!(
            "select count(*) from notification_deliveries where alert_id = '{alert_id}' and user_id = '{user}' \
             and payload->>'change' = 'alert.opened'"
        )
    };
    app.wait_count(&told(&doctor), 1).await;
    let hospital_told: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(told(&reader))).fetch_one(&app.pool).await.unwrap();
    assert_eq!(hospital_told, 0, "a fhir_read consent tells nothing");
}

/// The admin on the resident panel: records her consent to a hospital and
/// to a family doctor team, names the family doctor among the teams she
/// consented to, and withdraws the hospital's consent.
#[tokio::test]
async fn the_admin_records_names_and_withdraws_on_the_resident_panel() {
    let app = TestApp::spawn().await;
    let h = Home::new(&app, "Wu Lan", &[("sos-1", "sos_button", "bedroom", None, "native", None)]).await;
    let operator = app.operator_token().await;
    let (hospital, _, _) = partner(&app, &operator, "hospital", "City Hospital").await;
    let (team, _, _) = partner(&app, &operator, "family_doctor_team", "Lakeside Doctors").await;
    let ts = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    app.broker.publish("eldercare/v1/sos-1/event", json!({"ts": ts, "event": "sos_pressed"}).to_string()).await;
    let sos = h.wait_alert(&app, "sos", |a| a["status"] == "open").await;

    let browser = Browser::start().await;
    browser.goto(&app.url("/console/")).await;
    browser.type_into("[data-testid=login-email]", crate::support::ADMIN_EMAIL).await;
    browser.type_into("[data-testid=login-password]", crate::support::ADMIN_PASSWORD).await;
    browser.click("[data-testid=login-submit]").await;
    let row = format!("[data-testid=alert-row][data-alert-id='{}']", sos["id"].as_str().unwrap());
    browser.wait_visible(&row).await;
    browser.click(&format!("{row} [data-testid=open-resident]")).await;
    browser.wait_text("[data-testid=no-consents]", "no consent yet", |t| t.contains("No consent")).await;
    assert!(browser.find_all("[data-testid=doctor-form]").await.is_empty(), "no team consented to: no doctor form");

    let record = |grantee: String, grant: &'static str| {
        let browser = &browser;
        async move {
            browser
                .script(&format!("document.querySelector('[data-testid=consent-partner]').value = '{grantee}'"))
                .await;
            browser.click(&format!("[data-testid=consent-grant-{grant}]")).await;
            browser.type_into("[data-testid=consent-by]", "Wu Lan, herself").await;
            browser.click("[data-testid=consent-submit]").await;
        }
    };
    record(hospital.clone(), "fhir_read").await;
    browser
        .wait_text("[data-testid=consent-list]", "the hospital's consent", |t| {
            t.contains("City Hospital") && t.contains("Read her record") && t.contains("In force")
        })
        .await;
    record(team.clone(), "alerts").await;
    browser.wait_text("[data-testid=consent-list]", "the team's consent", |t| t.contains("Lakeside Doctors")).await;
    browser.wait_visible("[data-testid=doctor-form]").await;
    browser.type_into("[data-testid=doctor-name]", "Dr Lin").await;
    browser.type_into("[data-testid=doctor-phone]", "+8613900000001").await;
    browser.click("[data-testid=doctor-submit]").await;
    browser
        .wait_text("[data-testid=family-doctor]", "the family doctor", |t| {
            t.contains("Dr Lin") && t.contains("Lakeside")
        })
        .await;

    let consents = app.get(&format!("/api/v1/residents/{}/consents", h.rid), &h.token).await;
    let of = |grantee: &str| {
        consents["consents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["grantee_institution_id"] == grantee)
            .cloned()
            .unwrap()
    };
    let at_hospital = of(&hospital);
    assert_eq!(
        (at_hospital["scope"].clone(), at_hospital["recorded_by"].clone()),
        (json!(["fhir_read"]), json!("Wu Lan, herself"))
    );
    let hospital_item = format!("[data-testid=consent][data-consent-id='{}']", at_hospital["id"].as_str().unwrap());
    // Into the middle of the panel: the console's bar stays on top of what
    // scrolls under it.
    let centre = format!(
        "document.querySelector(\"{hospital_item} [data-testid=consent-withdraw]\").scrollIntoView({{block: 'center'}})"
    );
    browser.script(&centre).await;
    browser.click(&format!("{hospital_item} [data-testid=consent-withdraw]")).await;
    browser.click(&format!("{hospital_item} [data-testid=consent-withdraw-confirm]")).await;
    browser.wait_text(&format!("{hospital_item} [data-testid=consent-state]"), "withdrawn", |t| t == "Withdrawn").await;
    let after = app.get(&format!("/api/v1/residents/{}/consents", h.rid), &h.token).await;
    let withdrawn = after["consents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["grantee_institution_id"] == hospital.as_str())
        .unwrap()
        .clone();
    assert_eq!(withdrawn["active"], false);
    assert!(of(&team)["active"].as_bool().unwrap());
    browser.screenshot(&std::env::temp_dir().join("console-partners.png")).await;
}
