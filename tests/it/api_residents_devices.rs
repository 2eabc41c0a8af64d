use reqwest::StatusCode;
use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn residents_create_list_get_update() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let (status, created) = app
        .call(
            "POST",
            "/api/v1/residents",
            Some(&token),
            Some(json!({"name": "Li Wei", "timezone": "Asia/Shanghai", "room": "12B"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["timezone"], "Asia/Shanghai");
    assert_eq!(created["room"], "12B");

    let list = app.get("/api/v1/residents", &token).await;
    assert_eq!(list["residents"].as_array().unwrap().len(), 1);
    assert_eq!(list["residents"][0]["id"], id);
    let one = app.get(&format!("/api/v1/residents/{id}"), &token).await;
    assert_eq!(one["name"], "Li Wei");

    let (status, patched) = app
        .call(
            "PATCH",
            &format!("/api/v1/residents/{id}"),
            Some(&token),
            Some(json!({"room": null, "name": "Li Wei Sr."})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(patched["name"], "Li Wei Sr.");
    assert!(patched["room"].is_null());
    assert_eq!(patched["timezone"], "Asia/Shanghai", "absent fields are kept");

    let (status, body) = app
        .call("POST", "/api/v1/residents", Some(&token), Some(json!({"name": "X", "timezone": "Mars/Olympus"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "timezone");
    let (status, _) = app.call("POST", "/api/v1/residents", Some(&token), Some(json!({"name": ""}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.call("POST", "/api/v1/residents", Some(&token), Some(json!({"timezone": "UTC"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "name is required");
    for path in ["/api/v1/residents/not-a-uuid", "/api/v1/residents/00000000-0000-0000-0000-000000000000"] {
        let (status, body) = app.call("GET", path, Some(&token), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["error"]["code"], "not_found");
    }
}

#[tokio::test]
async fn devices_register_get_list_update_delete() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let rid = app.resident(&token, "Wang Fang").await;
    let (status, dev) = app
        .call(
            "POST",
            "/api/v1/devices",
            Some(&token),
            Some(json!({
            "device_id": "watch-1", "resident_id": rid, "kind": "wearable", "room": "bedroom",
            "placement": null, "source": "native", "external_id": null})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{dev}");
    assert_eq!(dev["device_id"], "watch-1");
    assert!(dev["last_seen_at"].is_null());
    assert!(dev.get("online").is_some() && dev.get("battery").is_some());

    let (status, body) = app
        .call(
            "POST",
            "/api/v1/devices",
            Some(&token),
            Some(json!({"device_id": "watch-1", "resident_id": rid, "kind": "wearable"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    app.device(
        &token,
        json!({"device_id": "z-kitchen", "resident_id": rid, "kind": "motion_sensor", "room": "kitchen",
        "source": "zigbee2mqtt", "external_id": "flat12/kitchen/motion"}),
    )
    .await;
    app.device(
        &token,
        json!({"device_id": "corridor-1", "resident_id": null, "kind": "motion_sensor", "room": "hall"}),
    )
    .await;

    for (body, field) in [
        (json!({"device_id": "bad id!", "kind": "wearable"}), "device_id"),
        (json!({"device_id": "ok", "kind": "toaster"}), "kind"),
        (json!({"device_id": "ok", "kind": "motion_sensor", "source": "zigbee2mqtt"}), "external_id"),
        (json!({"device_id": "ok", "kind": "wearable", "source": "lora"}), "source"),
        (
            json!({"device_id": "ok", "kind": "wearable", "resident_id": "00000000-0000-0000-0000-000000000000"}),
            "resident_id",
        ),
    ] {
        let (status, resp) = app.call("POST", "/api/v1/devices", Some(&token), Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{resp}");
        assert_eq!(resp["error"]["field"], field);
    }
    let (status, _) =
        app.call("POST", "/api/v1/devices", Some(&token), Some(json!({"device_id": "ok", "kind": 3}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "wrong type");

    let list = app.get(&format!("/api/v1/devices?resident_id={rid}"), &token).await;
    assert_eq!(list["devices"].as_array().unwrap().len(), 2);
    let all = app.get("/api/v1/devices", &token).await;
    assert_eq!(all["devices"].as_array().unwrap().len(), 3);

    let (status, patched) = app
        .call("PATCH", "/api/v1/devices/corridor-1", Some(&token), Some(json!({"resident_id": rid, "room": "hall"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(patched["resident_id"], rid.as_str());

    let (status, _) = app.call("DELETE", "/api/v1/devices/corridor-1", Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.call("GET", "/api/v1/devices/corridor-1", Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn family_users_see_only_linked_residents() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let mum = app.resident(&admin, "Mum").await;
    let other = app.resident(&admin, "Someone else").await;
    let daughter = app
        .post("/api/v1/users", &admin, json!({"email": "daughter@test.example", "password": "daughter password", "role": "family", "name": "Daughter"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, link) = app
        .call(
            "POST",
            &format!("/api/v1/residents/{mum}/family"),
            Some(&admin),
            Some(json!({"user_id": daughter, "relationship": "daughter"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    let (status, _) = app
        .call(
            "POST",
            &format!("/api/v1/residents/{mum}/family"),
            Some(&admin),
            Some(json!({"user_id": daughter, "relationship": "daughter"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let family = app.login("daughter@test.example", "daughter password").await;
    let list = app.get("/api/v1/residents", &family).await;
    let ids: Vec<&str> = list["residents"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![mum.as_str()]);
    let (status, body) = app.call("GET", &format!("/api/v1/residents/{other}"), Some(&family), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "someone else's resident is invisible");
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _) =
        app.call("GET", &format!("/api/v1/residents/{other}/readings?metric=heart_rate"), Some(&family), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) =
        app.call("PATCH", &format!("/api/v1/residents/{mum}"), Some(&family), Some(json!({"name": "Renamed"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "families read, staff write");
    let (status, _) = app.call("POST", "/api/v1/residents", Some(&family), Some(json!({"name": "New"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.call("GET", "/api/v1/quarantine", Some(&family), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
