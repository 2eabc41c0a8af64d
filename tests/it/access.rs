//! Access control: every documented endpoint against every role, the audit
//! trail, tokens and login limits.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, wait_for};

/// What a role should get from an endpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Past the policy: any answer but 401/403/404 (a 409 or 422 on the body is fine).
    Allowed,
    Forbidden,
    NotFound,
}
use Expect::{Allowed as A, Forbidden as F, NotFound as N};

/// The policy, one row per documented operation: (method, path, body, admin,
/// staff, family on their own resident, family on someone else's).
/// A new endpoint without a row here fails the test.
fn policy() -> Vec<(&'static str, &'static str, Value, [Expect; 4])> {
    let resolve = json!({"resolution": "handled"});
    vec![
        ("get", "/api/v1/me", Value::Null, [A, A, A, A]),
        (
            "post",
            "/api/v1/users",
            json!({"email": "@EMAIL", "password": "long enough pw", "role": "staff", "name": "X"}),
            [A, F, F, F],
        ),
        ("get", "/api/v1/users", Value::Null, [A, F, F, F]),
        ("post", "/api/v1/residents", json!({"name": "R"}), [A, A, F, F]),
        ("get", "/api/v1/residents", Value::Null, [A, A, A, A]),
        ("get", "/api/v1/residents/{id}", Value::Null, [A, A, A, N]),
        ("patch", "/api/v1/residents/{id}", json!({"notes": "x"}), [A, A, F, N]),
        ("post", "/api/v1/residents/{id}/family", json!({"user_id": "@FAMILY", "relationship": "son"}), [A, A, F, N]),
        ("get", "/api/v1/residents/{id}/family", Value::Null, [A, A, F, N]),
        ("get", "/api/v1/residents/{id}/readings", Value::Null, [A, A, A, N]),
        ("get", "/api/v1/residents/{id}/events", Value::Null, [A, A, A, N]),
        ("post", "/api/v1/devices", json!({"device_id": "@DEVICE", "kind": "wearable"}), [A, A, F, F]),
        ("get", "/api/v1/devices", Value::Null, [A, A, F, F]),
        ("get", "/api/v1/devices/{device_id}", Value::Null, [A, A, A, N]),
        ("patch", "/api/v1/devices/{device_id}", json!({"room": "hall"}), [A, A, F, N]),
        ("post", "/api/v1/devices/{device_id}/credentials", Value::Null, [A, A, F, N]),
        (
            "post",
            "/api/v1/gateways",
            json!({"gateway_id": "@GATEWAY", "base_topic": "zigbee2mqtt/@GATEWAY"}),
            [A, A, F, F],
        ),
        ("get", "/api/v1/gateways", Value::Null, [A, A, F, F]),
        ("get", "/api/v1/gateways/{gateway_id}", Value::Null, [A, A, F, F]),
        ("post", "/api/v1/gateways/{gateway_id}/credentials", Value::Null, [A, A, F, F]),
        ("get", "/api/v1/quarantine", Value::Null, [A, F, F, F]),
        ("get", "/api/v1/rule-settings", Value::Null, [A, A, F, F]),
        ("patch", "/api/v1/rule-settings", json!({"inactivity": {"hours": 3}}), [A, F, F, F]),
        ("get", "/api/v1/residents/{id}/rule-settings", Value::Null, [A, A, A, N]),
        ("patch", "/api/v1/residents/{id}/rule-settings", json!({"away": false}), [A, A, F, N]),
        (
            "put",
            "/api/v1/residents/{id}/meal-windows",
            json!([{"meal": "lunch", "start": "11:00", "end": "13:00"}]),
            [A, A, F, N],
        ),
        ("put", "/api/v1/residents/{id}/thresholds", json!({"heart_rate": {"min": 45, "max": 120}}), [A, A, F, N]),
        ("get", "/api/v1/alerts", Value::Null, [A, A, A, A]),
        ("get", "/api/v1/alerts/stream", Value::Null, [A, A, A, A]),
        ("get", "/api/v1/alerts/{id}", Value::Null, [A, A, A, N]),
        ("get", "/api/v1/alerts/{id}/timeline", Value::Null, [A, A, A, N]),
        ("post", "/api/v1/alerts/{id}/acknowledge", Value::Null, [A, A, F, N]),
        ("post", "/api/v1/alerts/{id}/assign", json!({"user_id": "@STAFF"}), [A, A, F, N]),
        ("post", "/api/v1/alerts/{id}/comments", json!({"text": "on my way"}), [A, A, F, N]),
        ("post", "/api/v1/alerts/{id}/resolve", resolve, [A, A, F, N]),
        (
            "post",
            "/api/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef"}),
            [A, F, F, F],
        ),
        ("get", "/api/v1/webhooks", Value::Null, [A, F, F, F]),
        ("get", "/api/v1/webhooks/{id}", Value::Null, [A, F, F, F]),
        (
            "post",
            "/api/v1/me/password",
            json!({"current_password": "not it", "new_password": "some new password"}),
            [A, A, A, A],
        ),
        ("get", "/api/v1/audit", Value::Null, [A, F, F, F]),
        ("get", "/api/v1/audit/verify", Value::Null, [A, F, F, F]),
        ("get", "/api/v1/me/residents", Value::Null, [A, A, A, A]),
        ("get", "/api/v1/residents/{id}/summary", Value::Null, [A, A, A, N]),
        ("get", "/api/v1/residents/{id}/messages", Value::Null, [A, A, A, N]),
        ("post", "/api/v1/residents/{id}/messages", json!({"text": "How was lunch?"}), [A, A, A, N]),
        ("post", "/api/v1/residents/{id}/messages/read", Value::Null, [A, A, A, N]),
        ("get", "/api/v1/messages/unread", Value::Null, [A, A, A, A]),
        // Last: these remove what the rows above use.
        ("delete", "/api/v1/webhooks/{id}", Value::Null, [A, F, F, F]),
        ("delete", "/api/v1/devices/{device_id}", Value::Null, [A, F, F, N]),
        ("delete", "/api/v1/gateways/{gateway_id}", Value::Null, [A, F, F, F]),
        ("post", "/api/v1/auth/logout", Value::Null, [A, A, A, A]),
    ]
}

struct World {
    resident: [String; 2],
    device: [String; 2],
    alert: [String; 2],
    webhook: String,
    family_id: String,
    staff_id: String,
}

fn fill(template: &str, world: &World, own: bool, n: usize) -> String {
    let i = usize::from(!own);
    let path = template.replace("{device_id}", &world.device[i]).replace("{gateway_id}", "gw-world");
    let id = if path.contains("/alerts/") {
        &world.alert[i]
    } else if path.contains("/webhooks/") {
        &world.webhook
    } else {
        &world.resident[i]
    };
    path.replace("{id}", id)
        .replace("@EMAIL", &format!("user{n}@test.example"))
        .replace("@DEVICE", &format!("dev-{n}"))
        .replace("@GATEWAY", &format!("gw-{n}"))
        .replace("@FAMILY", &world.family_id)
        .replace("@STAFF", &world.staff_id)
}

#[tokio::test]
async fn every_endpoint_enforces_its_policy_for_every_role() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let mut resident = [String::new(), String::new()];
    let mut device = [String::new(), String::new()];
    for (i, name) in ["Mine", "Theirs"].iter().enumerate() {
        resident[i] = app.resident(&admin, name).await;
        device[i] = format!("sos-{i}");
        app.device(&admin, json!({"device_id": device[i], "resident_id": resident[i], "kind": "sos_button"})).await;
        app.broker
            .publish(&format!("eldercare/v1/{}/event", device[i]), json!({"event": "sos_pressed"}).to_string())
            .await;
    }
    let alerts = wait_for("both SOS alerts", || async {
        let list = app.get("/api/v1/alerts", &admin).await["alerts"].as_array()?.clone();
        (list.len() == 2).then_some(list)
    })
    .await;
    let alert_of =
        |rid: &str| alerts.iter().find(|a| a["resident_id"] == rid).unwrap()["id"].as_str().unwrap().to_owned();
    let staff_id = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": "staff@test.example", "password": "staff password", "role": "staff", "name": "S"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let family_id = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": "fam@test.example", "password": "family password", "role": "family", "name": "F"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/api/v1/residents/{}/family", resident[0]),
        &admin,
        json!({"user_id": family_id, "relationship": "son"}),
    )
    .await;
    let webhook = app
        .post("/api/v1/webhooks", &admin, json!({"url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post("/api/v1/gateways", &admin, json!({"gateway_id": "gw-world", "base_topic": "zigbee2mqtt/world"})).await;
    let world = World {
        alert: [alert_of(&resident[0]), alert_of(&resident[1])],
        resident,
        device,
        webhook,
        family_id,
        staff_id,
    };

    // Every documented operation has a row, and every row is documented.
    let table = policy();
    let public = ["/healthz", "/readyz", "/metrics", "/api/openapi.json", "/api/v1/auth/login"];
    for op in eldercare::api::openapi::OPERATIONS.iter().filter(|op| !public.contains(&op.path)) {
        assert!(
            table.iter().any(|(m, p, _, _)| *m == op.method && *p == op.path),
            "{} {} has no access policy row in this test",
            op.method,
            op.path
        );
    }
    assert_eq!(table.len(), eldercare::api::openapi::OPERATIONS.len() - public.len());

    let logins = [
        (ADMIN_EMAIL, ADMIN_PASSWORD),
        ("staff@test.example", "staff password"),
        ("fam@test.example", "family password"),
    ];
    let mut tokens = Vec::new();
    for role in 0..4 {
        let (email, password) = logins[role.min(2)];
        tokens.push(app.login(email, password).await);
    }
    let mut n = 0;
    for (method, template, body, expect) in &table {
        // Unauthenticated: always 401.
        let path = fill(template, &world, true, n);
        let (status, _) = call(&app, method, &path, None, body, &world, n).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} without a token");
        // Admin last: an allowed delete must not hide what the others may do.
        for role in (0..4).rev() {
            n += 1;
            let token = if template.ends_with("/logout") {
                let (email, password) = logins[role.min(2)];
                app.login(email, password).await
            } else {
                tokens[role].clone()
            };
            let path = fill(template, &world, role != 3, n);
            let (status, resp) = call(&app, method, &path, Some(&token), body, &world, n).await;
            let got = match status {
                StatusCode::FORBIDDEN => F,
                StatusCode::NOT_FOUND => N,
                s if s.is_server_error() || s == StatusCode::UNAUTHORIZED || s == StatusCode::METHOD_NOT_ALLOWED => {
                    panic!("{method} {path} as role {role}: {s} {resp}")
                }
                _ => A,
            };
            let who = ["admin", "staff", "family", "other family"][role];
            assert_eq!(got, expect[role], "{method} {path} as {who} got {status} {resp}");
        }
    }
}

async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &Value,
    world: &World,
    n: usize,
) -> (StatusCode, Value) {
    let path = &if path.ends_with("/readings") { format!("{path}?metric=heart_rate") } else { path.to_owned() };
    if path.ends_with("/alerts/stream") {
        // A stream never ends: the status is the answer.
        let mut req = app.http.get(app.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        return (r.status(), Value::Null);
    }
    let body = (!body.is_null()).then(|| serde_json::from_str(&fill(&body.to_string(), world, true, n)).unwrap());
    app.call(&method.to_uppercase(), path, token, body).await
}

#[tokio::test]
async fn the_audit_trail_records_who_changed_what_and_detects_tampering() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let rid = app.resident(&admin, "Audited").await;
    app.call("PATCH", &format!("/api/v1/residents/{rid}"), Some(&admin), Some(json!({"room": "7"}))).await;
    app.call("PUT", &format!("/api/v1/residents/{rid}/thresholds"), Some(&admin), Some(json!({"spo2": {"min": 92}})))
        .await;
    app.device(&admin, json!({"device_id": "aud-1", "resident_id": rid, "kind": "sos_button"})).await;
    app.broker.publish("eldercare/v1/aud-1/event", json!({"event": "sos_pressed"}).to_string()).await;
    let alert = wait_for("the SOS", || async {
        app.get("/api/v1/alerts", &admin).await["alerts"].as_array()?.first().cloned()
    })
    .await;
    let id = alert["id"].as_str().unwrap();
    app.call("POST", &format!("/api/v1/alerts/{id}/acknowledge"), Some(&admin), None).await;

    let trail = app.get("/api/v1/audit", &admin).await;
    let actions: Vec<&str> =
        trail["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        vec!["alert.acknowledged", "device.registered", "thresholds.replaced", "resident.updated", "resident.created"]
    );
    let me = app.get("/api/v1/me", &admin).await;
    assert!(trail["entries"].as_array().unwrap().iter().all(|e| e["actor_id"] == me["id"]));
    assert_eq!(trail["entries"][3]["details"]["room"], "7");
    let for_resident = app.get(&format!("/api/v1/audit?entity=resident&entity_id={rid}"), &admin).await;
    assert_eq!(for_resident["entries"].as_array().unwrap().len(), 3);

    let ok = app.get("/api/v1/audit/verify", &admin).await;
    assert_eq!(ok, json!({"valid": true, "entries": 5, "broken_at": null, "reason": null}));

    // The application cannot edit or delete entries...
    let refused = sqlx::query("update audit_log set action = 'nothing' where action = 'resident.updated'")
        .execute(&app.pool)
        .await;
    assert!(refused.unwrap_err().to_string().contains("append-only"));
    assert!(sqlx::query("delete from audit_log").execute(&app.pool).await.is_err());
    // ...and someone who gets around that is found out.
    sqlx::query("alter table audit_log disable trigger audit_log_append_only").execute(&app.pool).await.unwrap();
    let original: Value = sqlx::query_scalar("select details from audit_log where action = 'resident.updated'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    sqlx::query("update audit_log set details = '{\"room\": \"8\"}' where action = 'resident.updated'")
        .execute(&app.pool)
        .await
        .unwrap();
    let broken = app.get("/api/v1/audit/verify", &admin).await;
    assert_eq!(broken["valid"], false);
    assert_eq!(broken["entries"], 1, "the first entry is intact, the second is not");
    sqlx::query("update audit_log set details = $1 where action = 'resident.updated'")
        .bind(&original)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(app.get("/api/v1/audit/verify", &admin).await["valid"], true);
    sqlx::query("delete from audit_log where action = 'thresholds.replaced'").execute(&app.pool).await.unwrap();
    let removed = app.get("/api/v1/audit/verify", &admin).await;
    assert_eq!(removed["valid"], false);
    assert!(removed["reason"].as_str().unwrap().contains("removed"));
}

#[tokio::test]
async fn changing_the_password_revokes_every_session() {
    let app = TestApp::spawn().await;
    let first = app.admin_token().await;
    let second = app.admin_token().await;
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/me/password",
            Some(&first),
            Some(json!({"current_password": "wrong one", "new_password": "a brand new password"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "current_password");
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/me/password",
            Some(&first),
            Some(json!({"current_password": ADMIN_PASSWORD, "new_password": "short"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "new_password");
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/me/password",
            Some(&first),
            Some(json!({"current_password": ADMIN_PASSWORD, "new_password": "a brand new password"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for token in [&first, &second] {
        let (status, _) = app.call("GET", "/api/v1/me", Some(token), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "every old session is revoked");
    }
    let (status, _) = app
        .call("POST", "/api/v1/auth/login", None, Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.login(ADMIN_EMAIL, "a brand new password").await;
}

#[tokio::test]
async fn repeated_failed_logins_are_slowed_down() {
    let app = TestApp::spawn().await;
    let wrong = json!({"email": ADMIN_EMAIL, "password": "guess guess guess"});
    for _ in 0..5 {
        let (status, _) = app.call("POST", "/api/v1/auth/login", None, Some(wrong.clone())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = app.call("POST", "/api/v1/auth/login", None, Some(wrong)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"]["code"], "too_many_requests");
    // Even the right password waits out the window: the account is locked.
    let (status, _) = app
        .call("POST", "/api/v1/auth/login", None, Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}
