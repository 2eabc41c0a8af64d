//! At the door: the responder's sheet kept by care staff, shown on the
//! alert and on the visit dispatched from it, and the key safe code handed
//! only to the carer assigned to a visit due now, sealed at rest and logged
//! at every reveal.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Broker, TestApp, fresh_database, wait_for};

/// A code no other value of the tests looks like.
const CODE: &str = "K9-7351";

fn sheet() -> Value {
    json!({
        "access": {"instructions": "Side door, key safe left of it", "key_safe_code": CODE},
        "emergency_contacts": [{"name": "Li Wei", "relation": "son", "phone": "+86 138 0000 0001", "priority": 1},
                               {"name": "Dr Zhou", "relation": "GP", "phone": "0574-8888 1234"}],
        "conditions": ["type 2 diabetes", "atrial fibrillation"],
        "allergies": ["penicillin"],
        "medications": [{"name": "metformin", "dose": "500 mg", "schedule": "twice daily"}, {"name": "apixaban"}],
        "directives": {"dnacpr": true, "note": "signed form on the fridge"}
    })
}

async fn spawn_sealing() -> TestApp {
    TestApp::spawn_with(Broker::start().await, fresh_database().await, |s| {
        s.webhooks.secret_key = Some("a-key-for-sealing-secrets-at-rest-0123".to_owned().into());
    })
    .await
}

/// A user of the admin's institution; answers its id and a token.
async fn user(app: &TestApp, admin: &str, role: &str, name: &str) -> (String, String) {
    let email = format!("{}@test.example", name.to_lowercase().replace(' ', "."));
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

async fn put_sheet(app: &TestApp, token: &str, resident: &str, body: Value) -> (StatusCode, Value) {
    app.call("PUT", &format!("/api/v1/residents/{resident}/responder-info"), Some(token), Some(body)).await
}

async fn at_home(app: &TestApp, admin: &str, name: &str) -> String {
    let id = app.resident(admin, name).await;
    let patch = json!({"address": "12 Moon Lake Lane", "location": {"lat": 29.8683, "lon": 121.544}});
    let (status, body) = app.call("PATCH", &format!("/api/v1/residents/{id}"), Some(admin), Some(patch)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    id
}

/// The carer's day that holds `visit`. Visits are dated by their resident's
/// calendar (Asia/Shanghai here), which for eight hours of every day is not
/// the test institution's (UTC), and a visit half an hour away may be
/// tomorrow's anywhere near midnight.
async fn day_of(app: &TestApp, carer: &str, visit: &Value) -> Value {
    let start: DateTime<Utc> = visit["scheduled_start"].as_str().expect("scheduled_start").parse().expect("a time");
    let date = start.with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    app.get(&format!("/api/v1/me/visits?date={date}"), carer).await
}

async fn key_safe(app: &TestApp, token: &str, visit: &str) -> (StatusCode, Value) {
    app.call("POST", &format!("/api/v1/visits/{visit}/key-safe"), Some(token), None).await
}

/// An SOS from the resident's button; answers the alert's id.
async fn sos(app: &TestApp, admin: &str, resident: Option<&str>, device: &str) -> String {
    let mut body = json!({"device_id": device, "kind": "sos_button"});
    if let Some(resident) = resident {
        body["resident_id"] = json!(resident);
    }
    app.device(admin, body).await;
    app.broker.publish(&format!("eldercare/v1/{device}/event"), json!({"event": "sos_pressed"}).to_string()).await;
    wait_for("the SOS", || async {
        let alerts = app.get("/api/v1/alerts?kind=sos", admin).await["alerts"].as_array()?.clone();
        alerts.into_iter().find(|a| a["device_id"] == device).map(|a| a["id"].as_str().unwrap().to_owned())
    })
    .await
}

#[tokio::test]
async fn the_sheet_round_trips_and_its_key_safe_code_is_sealed_and_never_read_back() {
    let app = spawn_sealing().await;
    let admin = app.admin_token().await;
    let (_, staff) = user(&app, &admin, "staff", "Chen Jing").await;
    let (family_id, family) = user(&app, &admin, "family", "Li Wei").await;
    let rid = app.resident(&admin, "Wang Fang").await;
    app.post(&format!("/api/v1/residents/{rid}/family"), &admin, json!({"user_id": family_id, "relationship": "son"}))
        .await;

    // Nothing written yet: an empty sheet.
    let empty = app.get(&format!("/api/v1/residents/{rid}/responder-info"), &staff).await;
    assert_eq!(
        empty,
        json!({"access": {"instructions": null, "key_safe": false}, "emergency_contacts": [], "conditions": [],
               "allergies": [], "medications": [], "directives": null,
               "from_partners": {"conditions": [], "allergies": [], "medications": []}})
    );

    let (status, put) = put_sheet(&app, &staff, &rid, sheet()).await;
    assert_eq!(status, StatusCode::OK, "{put}");
    let got = app.get(&format!("/api/v1/residents/{rid}/responder-info"), &admin).await;
    assert_eq!(got, put);
    assert_eq!(got["access"], json!({"instructions": "Side door, key safe left of it", "key_safe": true}));
    assert_eq!(got["emergency_contacts"][0]["priority"], 1);
    assert_eq!(got["medications"][1], json!({"name": "apixaban", "dose": null, "schedule": null}));
    assert_eq!(got["directives"], json!({"dnacpr": true, "note": "signed form on the fridge"}));
    assert!(!got.to_string().contains(CODE));

    // Sealed at rest, bound to the resident.
    let (stored, sealed): (String, bool) =
        sqlx::query_as("select key_safe_code, key_safe_sealed from responder_info where resident_id = $1::uuid")
            .bind(&rid)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(sealed);
    assert!(!stored.contains(CODE), "{stored}");

    // Replaced whole; the code, write-only, is kept when absent and
    // removed by null.
    let (status, put) = put_sheet(&app, &admin, &rid, json!({"allergies": ["latex"]})).await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["allergies"], json!(["latex"]));
    assert_eq!(put["conditions"], json!([]));
    assert_eq!(put["access"], json!({"instructions": null, "key_safe": true}));
    let (_, put) = put_sheet(&app, &admin, &rid, json!({"access": {"key_safe_code": null}})).await;
    assert_eq!(put["access"]["key_safe"], false);
    assert_eq!(app.count("select count(*) from responder_info where key_safe_code is not null").await, 0);

    // Three changes in the audit trail, none with the code in clear.
    let entries = app
        .count(
            "select count(*) from audit_log where action = 'resident.responder_info_replaced' and entity = 'resident'",
        )
        .await;
    assert_eq!(entries, 3);
    let leaks = app
        .count(&format!(
            "select (select count(*) from audit_log a where a::text like '%{CODE}%')
                  + (select count(*) from audit_personal p where p::text like '%{CODE}%')"
        ))
        .await;
    assert_eq!(leaks, 0, "the key safe code is in the audit trail");

    // The family reads no sheet; another institution does not see it.
    let (status, _) = app.call("GET", &format!("/api/v1/residents/{rid}/responder-info"), Some(&family), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = put_sheet(&app, &family, &rid, sheet()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let operator = app.operator_token().await;
    let other = app
        .post(
            "/api/v1/institutions",
            &operator,
            json!({"name": "Riverside", "kind": "home_care", "region": "North", "timezone": "Asia/Shanghai"}),
        )
        .await;
    let other_admin_body =
        json!({"email": "oa@test.example", "password": "long enough pw", "role": "admin", "name": "OA"});
    app.post(&format!("/api/v1/institutions/{}/users", other["id"].as_str().unwrap()), &operator, other_admin_body)
        .await;
    let other_admin = app.login("oa@test.example", "long enough pw").await;
    let (status, _) =
        app.call("GET", &format!("/api/v1/residents/{rid}/responder-info"), Some(&other_admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = put_sheet(&app, &other_admin, &rid, sheet()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_sheet_out_of_bounds_is_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let rid = app.resident(&admin, "Wang Fang").await;
    let contact = |phone: &str| json!({"name": "Li", "relation": "son", "phone": phone});
    let cases = [
        (json!({"access": {"key_safe_code": ""}}), "access.key_safe_code"),
        (json!({"access": {"key_safe_code": "1".repeat(33)}}), "access.key_safe_code"),
        (json!({"access": {"instructions": "x".repeat(1001)}}), "access.instructions"),
        (json!({"conditions": vec!["x"; 21]}), "conditions"),
        (json!({"allergies": ["y".repeat(201)]}), "allergies[0]"),
        (json!({"emergency_contacts": [contact("no number")]}), "emergency_contacts[0].phone"),
        (json!({"emergency_contacts": vec![contact("123"); 21]}), "emergency_contacts"),
        (json!({"medications": [{"name": "  "}]}), "medications[0].name"),
        (json!({"directives": {"dnacpr": true, "note": "z".repeat(201)}}), "directives.note"),
    ];
    for (body, field) in cases {
        let (status, answer) = put_sheet(&app, &admin, &rid, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "validation_failed", "{answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    // Nested objects sent as arrays (serde would read them in field order).
    for body in [
        json!({"blood_group": "A"}),
        json!({"directives": {"note": "no dnacpr"}}),
        json!({"conditions": "x"}),
        json!({"access": [null, null]}),
        json!({"directives": [true, null]}),
        json!({"emergency_contacts": [["Li", "son", "123"]]}),
        json!({"medications": [["aspirin"]]}),
    ] {
        let (status, answer) = put_sheet(&app, &admin, &rid, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
    }
    assert_eq!(app.count("select count(*) from responder_info").await, 0);
}

#[tokio::test]
async fn the_assigned_carer_opens_the_key_safe_of_a_dispatched_visit_and_the_reveal_is_logged() {
    let app = spawn_sealing().await;
    let admin = app.admin_token().await;
    let (carer_id, carer) = user(&app, &admin, "caregiver", "Zhang Min").await;
    let (_, other_carer) = user(&app, &admin, "caregiver", "Liu Yang").await;
    let (_, staff) = user(&app, &admin, "staff", "Chen Jing").await;
    let (family_id, family) = user(&app, &admin, "family", "Li Wei").await;
    let rid = at_home(&app, &admin, "Wang Fang").await;
    app.post(&format!("/api/v1/residents/{rid}/family"), &admin, json!({"user_id": family_id, "relationship": "son"}))
        .await;
    let (status, body) = put_sheet(&app, &admin, &rid, sheet()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let alert = sos(&app, &admin, Some(&rid), "sos-door-1").await;

    // The alert carries the sheet for care staff, never for the family.
    let detail = app.get(&format!("/api/v1/alerts/{alert}"), &staff).await;
    let responder = &detail["responder"];
    assert_eq!(responder["address"], "12 Moon Lake Lane");
    assert_eq!(responder["location"], json!({"lat": 29.8683, "lon": 121.544}));
    assert_eq!(responder["access"], json!({"instructions": "Side door, key safe left of it", "key_safe": true}));
    assert_eq!(responder["allergies"], json!(["penicillin"]));
    assert_eq!(responder["directives"]["dnacpr"], true);
    assert!(!detail.to_string().contains(CODE));
    let seen_by_family = app.get(&format!("/api/v1/alerts/{alert}"), &family).await;
    assert!(seen_by_family.get("responder").is_none(), "{seen_by_family}");

    // An alert about no resident: a null sheet.
    let hall = sos(&app, &admin, None, "sos-hall").await;
    assert_eq!(app.get(&format!("/api/v1/alerts/{hall}"), &admin).await["responder"], Value::Null);

    let (status, sent) = app
        .call(
            "POST",
            &format!("/api/v1/alerts/{alert}/dispatch"),
            Some(&admin),
            Some(json!({"caregiver_id": carer_id})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let vid = sent["id"].as_str().unwrap();

    // The carer's visit and day carry the whole sheet.
    let visit = app.get(&format!("/api/v1/visits/{vid}"), &carer).await;
    assert_eq!(visit["responder"], *responder);
    let day = day_of(&app, &carer, &visit).await;
    let mine = day["visits"].as_array().unwrap().iter().find(|v| v["id"] == vid).expect("the dispatched visit");
    assert_eq!(mine["responder"], *responder);
    assert!(!day.to_string().contains(CODE));

    // Nobody but the assigned carer gets the code.
    for (who, token) in [("other carer", &other_carer), ("staff", &staff), ("admin", &admin), ("family", &family)] {
        let (status, body) = key_safe(&app, token, vid).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{who}: {body}");
    }
    let (status, body) = key_safe(&app, &carer, vid).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"code": CODE}));

    // In the access log, and on the alert's timeline.
    let log = app.get(&format!("/api/v1/access-log?resident_id={rid}"), &admin).await;
    let reveals: Vec<&Value> = log["entries"].as_array().unwrap().iter().filter(|e| e["kind"] == "key_safe").collect();
    assert_eq!(reveals.len(), 1, "{log}");
    assert_eq!(reveals[0]["user_id"], carer_id.as_str());
    assert_eq!(reveals[0]["role"], "caregiver");
    let timeline = app.get(&format!("/api/v1/alerts/{alert}/timeline"), &admin).await;
    let opened: Vec<&Value> =
        timeline["entries"].as_array().unwrap().iter().filter(|e| e["action"] == "visit.key_safe_opened").collect();
    assert_eq!(opened.len(), 1, "{timeline}");
    assert_eq!(opened[0]["actor_id"], carer_id.as_str());
    assert_eq!(opened[0]["details"]["visit_id"], vid);
    assert!(!timeline.to_string().contains(CODE));

    // Checked in, still; checked out, no more.
    let door = json!({"location": {"lat": 29.8683, "lon": 121.544}, "method": "gps"});
    for action in ["check-in", "check-out"] {
        let (status, body) =
            app.call("POST", &format!("/api/v1/visits/{vid}/{action}"), Some(&carer), Some(door.clone())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, _) = key_safe(&app, &carer, vid).await;
        let expected = if action == "check-in" { StatusCode::OK } else { StatusCode::NOT_FOUND };
        assert_eq!(status, expected, "after {action}");
    }

    // A resident without a key safe: nothing to reveal.
    let bare = at_home(&app, &admin, "Zhao Lei").await;
    let bare_alert = sos(&app, &admin, Some(&bare), "sos-door-2").await;
    let sent =
        app.post(&format!("/api/v1/alerts/{bare_alert}/dispatch"), &admin, json!({"caregiver_id": carer_id})).await;
    let (status, body) = key_safe(&app, &carer, sent["id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(sent["responder"]["access"], json!({"instructions": null, "key_safe": false}));
}

#[tokio::test]
async fn a_plan_visit_gives_its_carer_only_how_to_get_in() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (carer_id, carer) = user(&app, &admin, "caregiver", "Zhang Min").await;
    let rid = at_home(&app, &admin, "Wang Fang").await;
    let (status, body) = put_sheet(&app, &admin, &rid, sheet()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ts = |d: Duration| (Utc::now() + d).to_rfc3339_opts(SecondsFormat::Secs, true);
    let visit = |start: String| json!({"resident_id": rid, "service_code": "WELFARE-CHECK", "scheduled_start": start, "funding": "institution"});
    let soon = app.post("/api/v1/visits", &admin, visit(ts(Duration::minutes(30)))).await;
    let later = app.post("/api/v1/visits", &admin, visit(ts(Duration::hours(36)))).await;
    for v in [&soon, &later] {
        app.post(
            &format!("/api/v1/visits/{}/assign", v["id"].as_str().unwrap()),
            &admin,
            json!({"caregiver_id": carer_id}),
        )
        .await;
    }
    let soon = soon["id"].as_str().unwrap();

    let seen = app.get(&format!("/api/v1/visits/{soon}"), &carer).await;
    assert_eq!(seen["access"], json!({"instructions": "Side door, key safe left of it", "key_safe": true}));
    assert!(seen.get("responder").is_none(), "{seen}");
    let text = seen.to_string();
    for private in ["penicillin", "diabetes", "metformin", "Li Wei", "dnacpr", CODE] {
        assert!(!text.contains(private), "{private} reaches the carer: {text}");
    }
    let day = day_of(&app, &carer, &seen).await;
    let mine = day["visits"].as_array().unwrap().iter().find(|v| v["id"] == soon).expect("today's visit");
    assert_eq!(mine["access"], seen["access"]);
    assert!(mine.get("responder").is_none());
    assert!(!day.to_string().contains("penicillin"));
    // Care staff see neither on a plan visit: they read the sheet itself.
    let staff_view = app.get(&format!("/api/v1/visits/{soon}"), &admin).await;
    assert!(staff_view.get("access").is_none() && staff_view.get("responder").is_none(), "{staff_view}");

    // The code at the door of a visit due now; not a day and a half ahead.
    let (status, body) = key_safe(&app, &carer, soon).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"code": CODE})));
    let (status, _) = key_safe(&app, &carer, later["id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Stored only sealed.
    assert_eq!(app.count(&format!("select count(*) from responder_info where key_safe_code = '{CODE}'")).await, 0);
    assert_eq!(app.count("select count(*) from responder_info where key_safe_sealed").await, 1);
}

#[tokio::test]
async fn every_read_of_the_responder_sheet_is_in_the_access_log() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (staff_id, staff) = user(&app, &admin, "staff", "Chen Jing").await;
    let rid = at_home(&app, &admin, "Wang Fang").await;
    let (status, body) = put_sheet(&app, &admin, &rid, sheet()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sheet_reads = |log: &Value| -> Vec<Value> {
        log["entries"].as_array().unwrap().iter().filter(|e| e["kind"] == "responder_sheet").cloned().collect()
    };
    let log = app.get(&format!("/api/v1/access-log?resident_id={rid}"), &admin).await;
    assert_eq!(sheet_reads(&log), Vec::<Value>::new(), "writing it is audited, not a read");

    app.get(&format!("/api/v1/residents/{rid}/responder-info"), &staff).await;
    let log = app.get(&format!("/api/v1/access-log?resident_id={rid}"), &admin).await;
    let reads = sheet_reads(&log);
    assert_eq!(reads.len(), 1, "{log}");
    assert_eq!(reads[0]["user_id"], staff_id.as_str());
    assert_eq!(reads[0]["resident_id"], rid.as_str());

    // The sheet on an alert is a read of it too.
    let alert = sos(&app, &admin, Some(&rid), "sos-read-1").await;
    let detail = app.get(&format!("/api/v1/alerts/{alert}"), &staff).await;
    assert_eq!(detail["responder"]["allergies"], json!(["penicillin"]));
    let log = app.get(&format!("/api/v1/access-log?resident_id={rid}"), &admin).await;
    assert_eq!(sheet_reads(&log).len(), 2, "{log}");
}
