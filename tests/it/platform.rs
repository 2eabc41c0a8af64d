//! One platform, many institutions: the operator creates them side by side,
//! supervisors oversee a region, and nothing crosses between institutions.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Broker, OPERATOR_EMAIL, TestApp, fresh_database, wait_for};

fn id_of(body: &Value) -> String {
    body["id"].as_str().expect("an id").to_owned()
}

/// An institution created by the operator, with its admin logged in.
async fn institution(app: &TestApp, operator: &str, name: &str, region: &str) -> (String, String) {
    let created = app
        .post(
            "/api/v1/institutions",
            operator,
            json!({"name": name, "kind": "care_home", "region": region, "timezone": "Asia/Shanghai"}),
        )
        .await;
    assert_eq!(created["name"], name);
    assert_eq!(created["region"], region);
    let id = id_of(&created);
    let email = format!("admin@{}.example", name.to_lowercase().replace(' ', "-"));
    let body = json!({"email": email, "password": "long enough pw", "name": "Admin", "role": "admin"});
    let (status, _) = app.call("POST", &format!("/api/v1/institutions/{id}/users"), Some(operator), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    (id, app.login(&email, "long enough pw").await)
}

#[tokio::test]
async fn two_institutions_created_by_the_operator_run_side_by_side_without_crossing() {
    let app = TestApp::spawn().await;
    let operator = app.operator_token().await;
    let me = app.get("/api/v1/me", &operator).await;
    assert_eq!((me["role"].as_str(), me["institution_id"].as_str()), (Some("operator"), None));

    let (east_id, east) = institution(&app, &operator, "East Home", "North").await;
    let (west_id, west) = institution(&app, &operator, "West Home", "North").await;
    let mut seen = Vec::new();
    for (admin, tag) in [(&east, "east"), (&west, "west")] {
        let rid = app.resident(admin, &format!("Resident {tag}")).await;
        app.device(admin, json!({"device_id": format!("sos-{tag}"), "resident_id": rid, "kind": "sos_button"})).await;
        app.device(admin, json!({"device_id": format!("smoke-{tag}"), "kind": "hazard_sensor", "room": "hall"})).await;
        app.post("/api/v1/webhooks", admin, json!({"url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef"}))
            .await;
        app.broker.publish(&format!("eldercare/v1/sos-{tag}/event"), json!({"event": "sos_pressed"}).to_string()).await;
        app.broker
            .publish(&format!("eldercare/v1/smoke-{tag}/event"), json!({"event": "smoke_detected"}).to_string())
            .await;
        app.broker.publish(&format!("eldercare/v1/sos-{tag}/telemetry"), b"{not json".to_vec()).await;
        seen.push(rid);
    }
    // A device nobody registered: the operator's to see, no institution's.
    app.broker.publish("eldercare/v1/stray/telemetry", json!({"metric": "heart_rate", "value": 70}).to_string()).await;

    let sides = [(&east, "east", "west", &seen[0], &seen[1]), (&west, "west", "east", &seen[1], &seen[0])];
    for (admin, tag, other, own, theirs) in sides {
        let alerts = wait_for("the resident's SOS and the shared smoke alarm", || async {
            let list = app.get("/api/v1/alerts", admin).await["alerts"].as_array()?.clone();
            (list.len() == 2).then_some(list)
        })
        .await;
        assert!(alerts.iter().any(|a| a["kind"] == "sos" && a["resident_id"] == own.as_str()));
        assert!(alerts.iter().any(|a| a["kind"] == "smoke" && a["device_id"] == format!("smoke-{tag}")));
        let residents = app.get("/api/v1/residents", admin).await;
        assert_eq!(residents["residents"].as_array().unwrap().len(), 1);
        assert_eq!(residents["residents"][0]["id"], own.as_str());
        let (status, _) = app.call("GET", &format!("/api/v1/residents/{theirs}"), Some(admin), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let devices = app.get("/api/v1/devices", admin).await.to_string();
        assert!(devices.contains(&format!("smoke-{tag}")) && !devices.contains(other), "{devices}");
        assert_eq!(app.get("/api/v1/webhooks", admin).await["webhooks"].as_array().unwrap().len(), 1);
        let quarantine = wait_for("the institution's malformed message", || async {
            let q = app.get("/api/v1/quarantine", admin).await;
            (q["total"] == 1).then_some(q)
        })
        .await;
        assert_eq!(quarantine["messages"][0]["device_id"], format!("sos-{tag}"));
        let trail = app.get("/api/v1/audit", admin).await;
        let actions: Vec<&str> = trail["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["action"].as_str())
            .filter(|a| !a.starts_with("login."))
            .collect();
        // The operator's work on the institution is in its own chain.
        assert_eq!(
            actions,
            [
                "webhook.created",
                "device.registered",
                "device.registered",
                "resident.created",
                "user.created",
                "institution.created"
            ]
        );
        assert_eq!(app.get("/api/v1/audit/verify", admin).await["valid"], true);
        let mine = app.get("/api/v1/institutions", admin).await;
        assert_eq!(mine["institutions"].as_array().unwrap().len(), 1, "{mine}");
    }
    // Each institution's webhook is sent its own alerts' changes, never the other's.
    let delivered = "select count(*) from webhook_deliveries";
    let crossed = "select count(*) from webhook_deliveries d join webhooks w on w.id = d.webhook_id
        join alerts a on a.id = (d.payload->'alert'->>'id')::uuid where a.institution_id <> w.institution_id";
    assert!(app.count(delivered).await >= 4);
    assert_eq!(app.count(crossed).await, 0);
    let platform = wait_for("the stray device's message", || async {
        let q = app.get("/api/v1/quarantine", &operator).await;
        (q["total"] == 1).then_some(q)
    })
    .await;
    assert_eq!(platform["messages"][0]["device_id"], "stray");
    // The operator reads no resident's data, in any institution.
    assert_eq!(app.get("/api/v1/residents", &operator).await["residents"], json!([]));
    assert_eq!(app.get("/api/v1/alerts", &operator).await["alerts"], json!([]));
    let (status, _) = app.call("GET", &format!("/api/v1/residents/{}", seen[0]), Some(&operator), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A supervisor of the region lists its institutions and reads no one's data.
    app.post(
        "/api/v1/supervisors",
        &operator,
        json!({"email": "north@test.example", "password": "long enough pw", "name": "North bureau", "region": "North"}),
    )
    .await;
    institution(&app, &operator, "South Home", "South").await;
    let supervisor = app.login("north@test.example", "long enough pw").await;
    let listed = app.get("/api/v1/institutions", &supervisor).await;
    let mut names: Vec<&str> =
        listed["institutions"].as_array().unwrap().iter().filter_map(|i| i["name"].as_str()).collect();
    names.sort();
    assert_eq!(names, ["East Home", "West Home"]);
    assert_eq!(app.get("/api/v1/residents", &supervisor).await["residents"], json!([]));
    assert_eq!(app.get("/api/v1/alerts", &supervisor).await["alerts"], json!([]));
    let (status, _) = app.call("GET", "/api/v1/quarantine", Some(&supervisor), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Creating the supervisor concerns no single institution: the platform's chain.
    let trail = app.get("/api/v1/audit", &operator).await;
    let changes: Vec<&Value> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !e["action"].as_str().unwrap().starts_with("login."))
        .collect();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["action"], "supervisor.created");
    assert_eq!(app.get("/api/v1/audit/verify", &operator).await["valid"], true);

    // Moving an institution out of the region takes it off the supervisor's list.
    let moved = app
        .call("PATCH", &format!("/api/v1/institutions/{west_id}"), Some(&operator), Some(json!({"region": null})))
        .await;
    assert_eq!((moved.0, moved.1["region"].clone()), (StatusCode::OK, Value::Null));
    let listed = app.get("/api/v1/institutions", &supervisor).await;
    assert_eq!(listed["institutions"].as_array().unwrap().len(), 1);
    assert_eq!(listed["institutions"][0]["id"], east_id.as_str());

    // A caregiver (until visits exist) reaches no resident at all.
    app.post(
        "/api/v1/users",
        &east,
        json!({"email": "carer@test.example", "password": "long enough pw", "name": "Carer", "role": "caregiver"}),
    )
    .await;
    let carer = app.login("carer@test.example", "long enough pw").await;
    assert_eq!(app.get("/api/v1/residents", &carer).await["residents"], json!([]));
    assert_eq!(app.get("/api/v1/alerts", &carer).await["alerts"], json!([]));
    let (status, _) = app.call("GET", &format!("/api/v1/residents/{}", seen[0]), Some(&carer), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // An admin creates no platform accounts.
    let body = json!({"email": "x@test.example", "password": "long enough pw", "name": "X", "role": "operator"});
    let (status, _) = app.call("POST", "/api/v1/users", Some(&east), Some(body)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_operator_pages_through_every_institution() {
    let app = TestApp::spawn().await;
    let operator = app.operator_token().await;
    for n in 0..4 {
        app.post(
            "/api/v1/institutions",
            &operator,
            json!({"name": format!("Canteen {n}"), "kind": "canteen", "region": null, "timezone": "UTC"}),
        )
        .await;
    }
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = cursor.as_ref().map_or_else(String::new, |c| format!("&cursor={c}"));
        let page = app.get(&format!("/api/v1/institutions?limit=2{query}"), &operator).await;
        names.extend(page["institutions"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(names, ["Canteen 0", "Canteen 1", "Canteen 2", "Canteen 3", "Default institution"]);
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/institutions",
            Some(&operator),
            Some(json!({"name": "X", "kind": "spa", "region": null, "timezone": "UTC"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "an unknown kind");
}

#[tokio::test]
async fn the_first_start_creates_the_first_institution_and_the_operator_once() {
    let broker = Broker::start().await;
    let db = fresh_database().await;
    let app = TestApp::spawn_with(broker, db, |_| {}).await;
    let operator = app.operator_token().await;
    let (broker, db) = app.stop().await;
    // Started again: nothing is created twice.
    let app = TestApp::spawn_with(broker, db, |_| {}).await;
    assert_eq!(app.count("select count(*) from institutions").await, 1);
    assert_eq!(app.count("select count(*) from users where role = 'operator'").await, 1);
    assert_eq!(app.count("select count(*) from users where role = 'admin'").await, 1);
    let (status, _) = app.call("GET", "/api/v1/me", Some(&operator), None).await;
    assert_eq!(status, StatusCode::OK, "the operator's session outlives a restart");
    let me = app.get("/api/v1/me", &app.admin_token().await).await;
    assert_eq!(me["institution_name"], "Default institution");
    assert_eq!(app.get("/api/v1/me", &operator).await["email"], OPERATOR_EMAIL);
}
