//! Abuse resistance of reads: every list pages, and a walk through the pages
//! sees each record once.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp};

/// Walks a list page by page (`limit` per page) and answers every item, in
/// order; checks that no page is longer than asked and that only the last
/// page has no `next_cursor`.
async fn walk(app: &TestApp, token: &str, path: &str, items: &str, limit: usize) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            None => format!("{path}{sep}limit={limit}"),
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
        };
        let page = app.get(&url, token).await;
        let rows = page[items].as_array().unwrap_or_else(|| panic!("{url}: no {items} in {page}")).clone();
        assert!(rows.len() <= limit, "{url}: {} rows", rows.len());
        all.extend(rows);
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(page[items].as_array().map(Vec::len), Some(limit), "{url}: a short page before the end");
                cursor = Some(next.to_owned());
            }
            None => {
                assert!(page.get("next_cursor").is_some(), "{url}: no next_cursor field");
                return all;
            }
        }
    }
}

/// Every item's `key`, checking none repeats.
fn keys(items: &[Value], key: &str) -> Vec<String> {
    let keys: Vec<String> = items.iter().map(|i| i[key].as_str().expect("key").to_owned()).collect();
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), keys.len(), "a record seen twice: {keys:?}");
    keys
}

async fn family_user(app: &TestApp, admin: &str, email: &str, name: &str) -> String {
    let body = json!({"email": email, "password": "family password 1", "role": "family", "name": name});
    app.post("/api/v1/users", admin, body).await["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn every_list_pages_with_limit_and_cursor() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;

    // Residents by name.
    let mut residents = Vec::new();
    for name in ["Eve", "Bob", "Dan", "Ann", "Cid"] {
        residents.push(app.resident(&admin, name).await);
    }
    let walked = walk(&app, &admin, "/api/v1/residents", "residents", 2).await;
    let names: Vec<&str> = walked.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Ann", "Bob", "Cid", "Dan", "Eve"]);
    let resident = &residents[0];

    // Devices by id, with and without a filter judged outside SQL.
    for i in 0..5 {
        app.device(&admin, json!({"device_id": format!("dev-{i}"), "resident_id": resident, "kind": "wearable"})).await;
    }
    let walked = walk(&app, &admin, "/api/v1/devices", "devices", 2).await;
    assert_eq!(keys(&walked, "device_id"), ["dev-0", "dev-1", "dev-2", "dev-3", "dev-4"]);
    let offline = walk(&app, &admin, "/api/v1/devices?online=false", "devices", 2).await;
    assert_eq!(keys(&offline, "device_id").len(), 5);
    let mine = walk(&app, &admin, &format!("/api/v1/devices?resident_id={resident}"), "devices", 3).await;
    assert_eq!(mine.len(), 5);

    // Users by name, and the family of a resident.
    let mut family = Vec::new();
    for (email, name) in [("f1@test.example", "Fay"), ("f2@test.example", "Gus"), ("f3@test.example", "Hal")] {
        let id = family_user(&app, &admin, email, name).await;
        app.post(
            &format!("/api/v1/residents/{resident}/family"),
            &admin,
            json!({"user_id": id, "relationship": "child"}),
        )
        .await;
        family.push(id);
    }
    let users = walk(&app, &admin, "/api/v1/users", "users", 2).await;
    assert_eq!(keys(&users, "id").len(), 4, "the admin and three family users");
    let linked = walk(&app, &admin, &format!("/api/v1/residents/{resident}/family"), "family", 2).await;
    assert_eq!(keys(&linked, "user_id"), family);

    // My sessions, newest first.
    for _ in 0..3 {
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    }
    let sessions = walk(&app, &admin, "/api/v1/me/sessions", "sessions", 2).await;
    assert_eq!(keys(&sessions, "id").len(), 4);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);

    // Webhooks, oldest first.
    let mut hooks = Vec::new();
    for i in 0..3 {
        let body = json!({"url": format!("https://hooks{i}.example.org/in"), "secret": "0123456789abcdef"});
        hooks.push(app.post("/api/v1/webhooks", &admin, body).await["id"].as_str().unwrap().to_owned());
    }
    let walked = walk(&app, &admin, "/api/v1/webhooks", "webhooks", 2).await;
    assert_eq!(keys(&walked, "id"), hooks);

    // Messages, newest first: `cursor` and `next_cursor` as every list.
    for i in 0..5 {
        app.post(&format!("/api/v1/residents/{resident}/messages"), &admin, json!({"text": format!("note {i}")})).await;
    }
    let thread = walk(&app, &admin, &format!("/api/v1/residents/{resident}/messages"), "messages", 2).await;
    let texts: Vec<&str> = thread.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["note 4", "note 3", "note 2", "note 1", "note 0"]);

    // Alerts: unresolved first, then the most severe, then the newest.
    let institution: uuid::Uuid = sqlx::query_scalar("select institution_id from residents where id = $1::uuid")
        .bind(resident)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    for (i, (severity, status)) in
        [("low", "open"), ("critical", "resolved"), ("critical", "open"), ("high", "acknowledged"), ("medium", "open")]
            .into_iter()
            .enumerate()
    {
        sqlx::query(
            "insert into alerts (id, institution_id, resident_id, kind, cause, severity, status, resolution,
                 opened_at, condition_at, resolved_at)
             values (gen_random_uuid(), $1, $2::uuid, 'sos', $3, $4, $5,
                 case when $5 = 'resolved' then 'handled' end, now() - make_interval(mins => $6), now(),
                 case when $5 = 'resolved' then now() end)",
        )
        .bind(institution)
        .bind(resident)
        .bind(format!("cause-{i}"))
        .bind(severity)
        .bind(status)
        .bind(i as i32)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let alerts = walk(&app, &admin, "/api/v1/alerts", "alerts", 2).await;
    keys(&alerts, "id");
    let order: Vec<(&str, &str)> =
        alerts.iter().map(|a| (a["severity"].as_str().unwrap(), a["status"].as_str().unwrap())).collect();
    assert_eq!(
        order,
        [("critical", "open"), ("high", "acknowledged"), ("medium", "open"), ("low", "open"), ("critical", "resolved")]
    );

    // Quarantined messages of the institution's devices, newest first.
    for i in 0..5 {
        sqlx::query(
            "insert into quarantine (received_at, topic, reason, detail, device_id, institution_id, payload)
             values (now() - make_interval(secs => $1), 'eldercare/v1/dev-0/telemetry', 'malformed', 'x', 'dev-0', $2, '{')",
        )
        .bind(i as f64)
        .bind(institution)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let rejected = walk(&app, &admin, "/api/v1/quarantine", "messages", 2).await;
    assert_eq!(keys(&rejected, "id").len(), 5);

    // A page size beyond the bounds, or a cursor no list gave, is refused.
    for path in [
        "/api/v1/devices?limit=0",
        "/api/v1/devices?limit=1001",
        "/api/v1/residents?cursor=nope",
        "/api/v1/users?limit=5000",
        "/api/v1/webhooks?cursor=1",
        "/api/v1/me/sessions?limit=-1",
        "/api/v1/alerts?cursor=abc",
    ] {
        let (status, body) = app.call("GET", path, Some(&admin), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert!(body["error"]["code"].is_string(), "{path}: {body}");
    }
}
