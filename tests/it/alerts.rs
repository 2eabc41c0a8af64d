//! Rules and the alert lifecycle end to end: devices publish through the
//! broker, alerts are checked through the API, the live stream and webhooks.

use chrono::{SecondsFormat, Utc};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

use crate::support::home::{DeviceRow, Home};
use crate::support::{Broker, TestApp, fresh_database, wait_for};

fn now_ts(offset_secs: i64) -> String {
    (Utc::now() + chrono::Duration::seconds(offset_secs)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An app whose scheduler ticks fast and whose escalation ladder is short.
async fn fast_app() -> TestApp {
    let broker = Broker::start().await;
    let db = fresh_database().await;
    TestApp::spawn_with(broker, db, |s| {
        s.scheduler.tick_ms = 200;
        s.alerts.escalation_seconds = vec![1, 2];
    })
    .await
}

const DEVICES: &[DeviceRow] = &[
    ("watch-1", "wearable", "bedroom", None, "native", None),
    ("sos-1", "sos_button", "bedroom", None, "native", None),
    ("bed-1", "bed_sensor", "bedroom", None, "native", None),
    ("z-kitchen", "motion_sensor", "kitchen", None, "zigbee2mqtt", Some("home/kitchen")),
    ("z-hall", "motion_sensor", "hall", None, "zigbee2mqtt", Some("home/hall")),
    ("z-door", "door_sensor", "hall", Some("entrance"), "zigbee2mqtt", Some("home/entrance")),
    ("z-smoke", "hazard_sensor", "kitchen", None, "zigbee2mqtt", Some("home/smoke")),
];

async fn home(app: &TestApp) -> Home {
    Home::new(app, "Grandma", DEVICES).await
}

async fn event(app: &TestApp, device: &str, body: Value) {
    app.broker.publish(&format!("eldercare/v1/{device}/event"), body.to_string()).await;
}

#[tokio::test]
async fn a_fall_opens_a_critical_alert_and_a_cancel_resolves_it() {
    let app = fast_app().await;
    let h = home(&app).await;
    let fall =
        json!({"ts": now_ts(0), "seq": 1, "event": "fall_detected", "data": {"room": "bathroom", "confidence": 0.93}});
    event(&app, "watch-1", fall.clone()).await;
    let alert = h.wait_alert(&app, "fall", |a| a["status"] == "open").await;
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["details"]["room"], "bathroom");
    // A redelivered fall is the same fall.
    event(&app, "watch-1", fall).await;
    event(&app, "watch-1", json!({"ts": now_ts(5), "seq": 2, "event": "fall_cancelled"})).await;
    let resolved = h.wait_alert(&app, "fall", |a| a["status"] == "resolved").await;
    assert_eq!(resolved["resolution"], "cancelled_by_resident");
    assert_eq!(resolved["occurrences"], 1, "the redelivery did not count as a second fall");
    assert_eq!(h.alerts(&app, "kind=fall").await.len(), 1);
}

#[tokio::test]
async fn a_cancel_after_the_window_does_not_resolve_the_fall() {
    let app = fast_app().await;
    let h = home(&app).await;
    // A one-millisecond window: the cancel below is received well after the
    // fall, and the window runs between the two receipts on the backend's
    // clock, whatever time the device writes on its cancel.
    h.settings(&app, json!({"fall_cancel_seconds": 0.001})).await;
    let ts = now_ts(0);
    event(&app, "watch-1", json!({"ts": ts, "event": "fall_detected"})).await;
    h.wait_alert(&app, "fall", |a| a["status"] != "resolved").await;
    event(&app, "watch-1", json!({"ts": ts, "event": "fall_cancelled"})).await;
    app.wait_count("select count(*) from events where kind = 'fall_cancelled'", 1).await;
    // Give the rules the same chance a resolution would have had: an SOS
    // published after the cancel is handled after it.
    event(&app, "sos-1", json!({"ts": now_ts(1), "event": "sos_pressed"})).await;
    h.wait_alert(&app, "sos", |_| true).await;
    let fall = h.alerts(&app, "kind=fall").await;
    assert_eq!(fall[0]["status"], "open", "a backdated cancel outside the window leaves the fall open");
}

#[tokio::test]
async fn only_the_device_that_saw_the_fall_or_the_residents_wearable_cancels_it() {
    let app = fast_app().await;
    let h = home(&app).await;
    let token = app.admin_token().await;
    let grandpa = app.resident(&token, "Grandpa").await;
    app.device(
        &token,
        json!({"device_id": "radar-1", "resident_id": h.rid, "kind": "fall_sensor", "room": "bathroom"}),
    )
    .await;
    app.device(&token, json!({"device_id": "watch-2", "resident_id": grandpa, "kind": "wearable"})).await;
    event(&app, "radar-1", json!({"ts": now_ts(0), "event": "fall_detected", "data": {"room": "bathroom"}})).await;
    h.wait_alert(&app, "fall", |a| a["status"] == "open").await;
    // Her bed sensor and another resident's wristband may not speak for her.
    event(&app, "bed-1", json!({"ts": now_ts(1), "event": "fall_cancelled"})).await;
    event(&app, "watch-2", json!({"ts": now_ts(1), "event": "fall_cancelled"})).await;
    app.wait_count("select count(*) from events where kind = 'fall_cancelled'", 2).await;
    // Her own wristband may: events are judged in order, so once this one
    // has resolved the fall, the two above were judged and refused.
    let by_wristband = now_ts(2);
    event(&app, "watch-1", json!({"ts": by_wristband, "event": "fall_cancelled"})).await;
    let resolved = h.wait_alert(&app, "fall", |a| a["status"] == "resolved").await;
    assert_eq!(resolved["resolution"], "cancelled_by_resident");
    let timeline = app.get(&format!("/api/v1/alerts/{}/timeline", resolved["id"].as_str().unwrap()), &token).await;
    let ended: Vec<chrono::DateTime<Utc>> = timeline["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "resolved")
        .map(|e| e["details"]["condition_ended_at"].as_str().unwrap().parse().unwrap())
        .collect();
    let wristband: chrono::DateTime<Utc> = by_wristband.parse().unwrap();
    assert_eq!(ended, [wristband], "resolved once, by her wristband's cancel: {timeline}");
}

#[tokio::test]
async fn sos_and_hazards_raise_with_their_severities_even_when_away() {
    let app = fast_app().await;
    let h = home(&app).await;
    let (status, _) = app
        .call(
            "PATCH",
            &format!("/api/v1/residents/{}/rule-settings", h.rid),
            Some(&h.token),
            Some(json!({"away": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    event(&app, "sos-1", json!({"ts": now_ts(0), "event": "sos_pressed"})).await;
    app.broker.publish("zigbee2mqtt/home/smoke", json!({"smoke": true}).to_string()).await;
    let sos = h.wait_alert(&app, "sos", |_| true).await;
    assert_eq!(sos["severity"], "critical");
    let smoke = h.wait_alert(&app, "smoke", |_| true).await;
    assert_eq!(smoke["severity"], "critical");
    // Repeats count on the open alert.
    event(&app, "sos-1", json!({"ts": now_ts(1), "event": "sos_pressed"})).await;
    h.wait_alert(&app, "sos", |a| a["occurrences"] == 2).await;
    assert_eq!(h.alerts(&app, "kind=sos").await.len(), 1);
}

#[tokio::test]
async fn sustained_abnormal_vitals_alert_and_clear_by_themselves() {
    let app = fast_app().await;
    let h = home(&app).await;
    let (status, body) = app
        .call(
            "PUT",
            &format!("/api/v1/residents/{}/thresholds", h.rid),
            Some(&h.token),
            Some(json!({"heart_rate": {"min": 45, "max": 120}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["thresholds"]["heart_rate"]["max"].as_f64(), Some(120.0));
    let reading = |secs_ago: i64, hr: f64| {
        (
            "eldercare/v1/watch-1/telemetry".to_owned(),
            json!({"ts": now_ts(-secs_ago), "metric": "heart_rate", "value": hr}).to_string().into_bytes(),
        )
    };
    // One spike never alerts.
    app.broker.publish_all(&[reading(1500, 150.0), reading(1440, 80.0)]).await;
    // Seven minutes above 120.
    let high: Vec<_> = (0..8).map(|i| reading(1380 - i * 60, 135.0 + i as f64)).collect();
    app.broker.publish_all(&high).await;
    let alert = h.wait_alert(&app, "vital_abnormal", |_| true).await;
    assert_eq!(alert["cause"], "heart_rate");
    assert_eq!(alert["details"]["metric"], "heart_rate");
    assert_eq!(alert["details"]["late"], true, "raised from readings that arrived minutes after they were taken");
    assert_eq!(h.alerts(&app, "kind=vital_abnormal").await.len(), 1);
    // Back to normal for longer than the clear time.
    let normal: Vec<_> = (0..15).map(|i| reading(840 - i * 60, 75.0)).collect();
    app.broker.publish_all(&normal).await;
    let cleared = h.wait_alert(&app, "vital_abnormal", |a| a["status"] == "resolved").await;
    assert_eq!(cleared["resolution"], "auto_cleared");
}

#[tokio::test]
async fn device_offline_low_battery_and_back_online() {
    let app = fast_app().await;
    let h = home(&app).await;
    app.broker.publish("eldercare/v1/watch-1/status", json!({"online": true, "battery": 80}).to_string()).await;
    app.broker.publish("eldercare/v1/watch-1/status", json!({"online": false}).to_string()).await;
    let offline = h.wait_alert(&app, "device_offline", |a| a["status"] == "open").await;
    assert_eq!(offline["device_id"], "watch-1");
    app.broker.publish("eldercare/v1/watch-1/status", json!({"online": true, "battery": 9}).to_string()).await;
    let back = h.wait_alert(&app, "device_offline", |a| a["status"] == "resolved").await;
    assert_eq!(back["resolution"], "auto_cleared");
    let low = h.wait_alert(&app, "low_battery", |_| true).await;
    assert_eq!(low["device_id"], "watch-1");
    assert_eq!(low["status"], "open");
    // Its status history: the report that it went, the report that it came back.
    assert_eq!(status_history(&app, "watch-1").await, [(false, "reported".into()), (true, "reported".into())]);
}

/// A device's status history, in the order written: (online, reason).
async fn status_history(app: &TestApp, device: &str) -> Vec<(bool, String)> {
    sqlx::query_as("select online, reason from device_status_history where device_id = $1 order by id")
        .bind(device)
        .fetch_all(&app.pool)
        .await
        .expect("the status history")
}

#[tokio::test]
async fn the_scheduler_keeps_one_status_history_row_per_change_of_a_device_not_one_per_tick() {
    let app = fast_app().await;
    let h = home(&app).await;
    // Registered 20 minutes ago and never heard from: silent past the watch's 15.
    sqlx::query("update devices set created_at = now() - interval '20 minutes' where device_id = 'watch-1'")
        .execute(&app.pool)
        .await
        .expect("registered 20 minutes ago");
    h.wait_alert(&app, "device_offline", |a| a["status"] == "open").await;
    app.scheduler_ticks(5).await;
    assert_eq!(status_history(&app, "watch-1").await, [(false, "heartbeat_timeout".into())]);
    let when_the_timeout_ran_out = format!(
        "select count(*) from device_status_history h join devices d using (device_id)
         where device_id = 'watch-1' and h.at = d.created_at + interval '15 minutes' and h.resident_id = '{}'",
        h.rid
    );
    assert_eq!(app.count(&when_the_timeout_ran_out).await, 1);
    // A reading, no status report: heard from, so back online.
    let reading = json!({"ts": now_ts(0), "metric": "heart_rate", "value": 72});
    app.broker.publish("eldercare/v1/watch-1/telemetry", reading.to_string()).await;
    h.wait_alert(&app, "device_offline", |a| a["status"] == "resolved").await;
    app.scheduler_ticks(5).await;
    assert_eq!(
        status_history(&app, "watch-1").await,
        [(false, "heartbeat_timeout".into()), (true, "heard_from".into())]
    );
}

#[tokio::test]
async fn a_device_never_heard_from_is_offline_alike_in_its_alert_the_api_and_the_summary() {
    let app = fast_app().await;
    let h = Home::new(&app, "Grandpa", &[("bed-9", "bed_sensor", "bedroom", None, "native", None)]).await;
    sqlx::query("update devices set created_at = now() - interval '3 days' where device_id = 'bed-9'")
        .execute(&app.pool)
        .await
        .expect("registered three days ago");
    let alert = h.wait_alert(&app, "device_offline", |a| a["status"] == "open").await;
    assert_eq!(alert["device_id"], "bed-9");
    let device = app.get("/api/v1/devices/bed-9", &h.token).await;
    assert_eq!(device["last_seen_at"], Value::Null, "it never spoke");
    assert_eq!(device["online"], false, "offline, as its alert says: {device:#}");
    let summary = app.get(&format!("/api/v1/residents/{}/summary", h.rid), &h.token).await;
    let devices = &summary["devices"];
    assert_eq!((devices["offline"].clone(), devices["never_seen"].clone()), (json!(1), json!(0)), "{devices:#}");
    assert_eq!(devices["items"][0]["online"], false);
}

#[tokio::test]
async fn a_battery_back_just_above_the_threshold_stays_low_in_the_summary_while_its_alert_is_open() {
    let app = fast_app().await;
    let h = home(&app).await;
    app.broker.publish("eldercare/v1/watch-1/status", json!({"online": true, "battery": 10}).to_string()).await;
    h.wait_alert(&app, "low_battery", |a| a["status"] == "open").await;
    // Above the 15 % threshold, below the recovery margin: still low.
    app.broker.publish("eldercare/v1/watch-1/status", json!({"online": true, "battery": 17}).to_string()).await;
    app.wait_count("select count(*) from device_state where device_id = 'watch-1' and battery = 17", 1).await;
    let open = h.alerts(&app, "kind=low_battery").await;
    assert_eq!(open.iter().map(|a| a["status"].clone()).collect::<Vec<_>>(), vec![json!("open")]);
    let summary = app.get(&format!("/api/v1/residents/{}/summary", h.rid), &h.token).await;
    let devices = &summary["devices"];
    let watch = devices["items"].as_array().unwrap().iter().find(|d| d["device_id"] == "watch-1").cloned();
    assert_eq!(watch.map(|w| (w["battery"].clone(), w["low_battery"].clone())), Some((json!(17.0), json!(true))));
    assert_eq!(devices["low_battery"], 1, "{devices:#}");
}

#[tokio::test]
async fn lifecycle_actions_timeline_and_illegal_transitions() {
    let app = fast_app().await;
    let h = home(&app).await;
    let carer = app
        .post(
            "/api/v1/users",
            &h.token,
            json!({"email": "carer@test.example", "password": "carer password 1", "role": "staff", "name": "Carer"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    event(&app, "sos-1", json!({"ts": now_ts(0), "event": "sos_pressed"})).await;
    let alert = h.wait_alert(&app, "sos", |_| true).await;
    let id = alert["id"].as_str().unwrap();
    let staff = app.login("carer@test.example", "carer password 1").await;

    let (status, acked) = app.call("POST", &format!("/api/v1/alerts/{id}/acknowledge"), Some(&staff), None).await;
    assert_eq!(status, StatusCode::OK, "{acked}");
    assert_eq!(acked["status"], "acknowledged");
    assert!(acked["time_to_acknowledge_seconds"].as_f64().unwrap() >= 0.0);
    let (status, body) = app.call("POST", &format!("/api/v1/alerts/{id}/acknowledge"), Some(&staff), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "conflict");
    let (status, _) =
        app.call("POST", &format!("/api/v1/alerts/{id}/assign"), Some(&h.token), Some(json!({"user_id": carer}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call(
            "POST",
            &format!("/api/v1/alerts/{id}/comments"),
            Some(&staff),
            Some(json!({"text": "On my way to room 12"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .call("POST", &format!("/api/v1/alerts/{id}/resolve"), Some(&staff), Some(json!({"resolution": "maybe"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, resolved) = app
        .call(
            "POST",
            &format!("/api/v1/alerts/{id}/resolve"),
            Some(&staff),
            Some(json!({"resolution": "handled", "note": "helped her up"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["resolution"], "handled");
    assert!(resolved["time_to_resolve_seconds"].is_number());
    let (status, _) = app
        .call("POST", &format!("/api/v1/alerts/{id}/resolve"), Some(&staff), Some(json!({"resolution": "handled"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let timeline = app.get(&format!("/api/v1/alerts/{id}/timeline"), &staff).await;
    let actions: Vec<&str> =
        timeline["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["opened", "acknowledged", "assigned", "commented", "resolved"]);
    let entries = timeline["entries"].as_array().unwrap();
    assert!(entries[0]["actor_id"].is_null(), "opened by the system");
    assert_eq!(entries[1]["actor_name"], "Carer");
    assert_eq!(entries[3]["details"]["text"], "On my way to room 12");

    let (status, _) =
        app.call("POST", "/api/v1/alerts/00000000-0000-0000-0000-000000000000/acknowledge", Some(&staff), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unacknowledged_critical_alerts_escalate_until_acknowledged() {
    let app = fast_app().await;
    let h = home(&app).await;
    // An SOS acknowledged at once...
    event(&app, "sos-1", json!({"ts": now_ts(0), "event": "sos_pressed"})).await;
    let sos = h.wait_alert(&app, "sos", |_| true).await;
    let sid = sos["id"].as_str().unwrap().to_owned();
    let (status, acked) = app.call("POST", &format!("/api/v1/alerts/{sid}/acknowledge"), Some(&h.token), None).await;
    assert_eq!(status, StatusCode::OK);
    let level_at_ack = acked["escalation_level"].as_i64().unwrap();

    // ...and a fall nobody acknowledges, published after it: once the fall is
    // at level 2, the scheduler has run well past the SOS's ladder too.
    event(&app, "watch-1", json!({"ts": now_ts(0), "event": "fall_detected"})).await;
    let fall = h.wait_alert(&app, "fall", |a| a["escalation_level"] == 2).await;
    let fid = fall["id"].as_str().unwrap();
    let timeline = app.get(&format!("/api/v1/alerts/{fid}/timeline"), &h.token).await;
    let escalations: Vec<&Value> =
        timeline["entries"].as_array().unwrap().iter().filter(|e| e["action"] == "escalated").collect();
    assert_eq!(escalations.len(), 2);
    assert_eq!(escalations[0]["details"]["level"], 1);
    assert!(fall["escalated_at"].is_string());

    let sos_now = app.get(&format!("/api/v1/alerts/{sid}"), &h.token).await;
    assert_eq!(sos_now["escalation_level"].as_i64().unwrap(), level_at_ack, "acknowledging stops the ladder");
    let sos_timeline = app.get(&format!("/api/v1/alerts/{sid}/timeline"), &h.token).await;
    let sos_escalations =
        sos_timeline["entries"].as_array().unwrap().iter().filter(|e| e["action"] == "escalated").count();
    assert_eq!(sos_escalations as i64, level_at_ack);
}

#[tokio::test]
async fn the_live_stream_carries_changes_to_those_who_may_see_them() {
    let app = fast_app().await;
    let h = home(&app).await;
    let other = app.resident(&h.token, "Not mine").await;
    let family_id = app
        .post(
            "/api/v1/users",
            &h.token,
            json!({"email": "son@test.example", "password": "son password 12", "role": "family", "name": "Son"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/api/v1/residents/{other}/family"),
        &h.token,
        json!({"user_id": family_id, "relationship": "son"}),
    )
    .await;
    let family = app.login("son@test.example", "son password 12").await;

    let open_stream = |token: String| {
        let url = app.url("/api/v1/alerts/stream");
        let http = app.http.clone();
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
            r.bytes_stream()
        }
    };
    let mut staff_stream = open_stream(h.token.clone()).await;
    let mut family_stream = open_stream(family.clone()).await;
    let seen_family = Arc::new(Mutex::new(String::new()));
    let sink = seen_family.clone();
    let family_reader = tokio::spawn(async move {
        while let Some(Ok(chunk)) = family_stream.next().await {
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk));
        }
    });
    // Both streams are connected once their `ready` event arrived.
    let mut text = String::new();
    while !text.contains("event: ready") {
        text.push_str(&String::from_utf8_lossy(&staff_stream.next().await.unwrap().unwrap()));
    }
    wait_for("the family stream", || async { seen_family.lock().unwrap().contains("event: ready").then_some(()) })
        .await;

    event(&app, "watch-1", json!({"ts": now_ts(0), "event": "fall_detected"})).await;
    let deadline = tokio::time::Instant::now() + crate::support::PATIENCE;
    while !text.contains("\"kind\":\"fall\"") {
        let chunk =
            tokio::time::timeout_at(deadline, staff_stream.next()).await.expect("an alert event").unwrap().unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains("event: alert"));
    assert!(text.contains("\"change\":\"alert.opened\""));
    // `data:` is the alert JSON itself, as the contract says.
    let data = text.lines().find(|l| l.starts_with("data:") && l.contains("\"kind\":\"fall\"")).unwrap();
    let alert: Value = serde_json::from_str(data.trim_start_matches("data:").trim()).unwrap();
    assert_eq!(alert["kind"], "fall");
    assert_eq!(alert["severity"], "critical");
    assert!(alert["id"].is_string());
    // An SOS of the family's own resident reaches them; Grandma's fall did not.
    app.device(&h.token, json!({"device_id": "sos-other", "resident_id": other, "kind": "sos_button"})).await;
    event(&app, "sos-other", json!({"ts": now_ts(0), "event": "sos_pressed"})).await;
    wait_for("the family's own alert", || async {
        seen_family.lock().unwrap().contains("\"kind\":\"sos\"").then_some(())
    })
    .await;
    assert!(!seen_family.lock().unwrap().contains("\"kind\":\"fall\""), "families see only their residents' alerts");
    family_reader.abort();
}

/// (X-Eldercare-Delivery, X-Eldercare-Signature, body) of one POST.
type Delivery = (String, String, Vec<u8>);

#[tokio::test]
async fn webhooks_are_signed_and_retried_until_accepted() {
    use axum::routing::post;
    let received: Arc<Mutex<Vec<Delivery>>> = Arc::default();
    let calls = received.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let calls = calls.clone();
            async move {
                let mut calls = calls.lock().unwrap();
                let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                calls.push((header("x-eldercare-delivery"), header("x-eldercare-signature"), body.to_vec()));
                // The first attempt fails: the delivery must come again.
                if calls.len() == 1 { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let app = fast_app().await;
    let h = home(&app).await;
    let secret = "a-shared-secret-of-some-length";
    let (status, created) = app
        .call(
            "POST",
            "/api/v1/webhooks",
            Some(&h.token),
            // Version 1's signature, kept for receivers not yet upgraded.
            Some(json!({"url": format!("http://{hook_addr}/hook"), "secret": secret, "signature": "v1"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, _) =
        app.call("POST", "/api/v1/webhooks", Some(&h.token), Some(json!({"url": "ftp://x", "secret": secret}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    event(&app, "sos-1", json!({"ts": now_ts(0), "event": "sos_pressed"})).await;
    // The retry waits out the backoff (5 s) after the failed first attempt.
    // The opened SOS: its first delivery failed, so it came again with the
    // same id and body (escalations of the SOS arrive as deliveries of their own).
    let opened = wait_for("the opened alert delivered twice", || async {
        let calls = received.lock().unwrap().clone();
        let first = calls
            .iter()
            .find(|c| serde_json::from_slice::<Value>(&c.2).is_ok_and(|b| b["event"] == "alert.opened"))?
            .clone();
        let same: Vec<_> = calls.into_iter().filter(|c| c.0 == first.0).collect();
        (same.len() >= 2).then_some(same)
    })
    .await;
    assert_eq!(opened[0].2, opened[1].2, "a retry carries the same body");
    let body: Value = serde_json::from_slice(&opened[1].2).unwrap();
    assert_eq!(body["alert"]["kind"], "sos");
    assert_eq!(opened[1].1, eldercare::notify::webhooks::signature(secret, &opened[1].2));
    assert_ne!(opened[1].1, eldercare::notify::webhooks::signature("another-secret-entirely", &opened[1].2));
    wait_for("the delivery recorded", || async {
        let n = app
            .count("select count(*) from webhook_deliveries where delivered_at is not null and event = 'alert.opened'")
            .await;
        (n == 1).then_some(())
    })
    .await;
    let id = created["id"].as_str().unwrap();
    let (status, _) = app.call("DELETE", &format!("/api/v1/webhooks/{id}"), Some(&h.token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

/// Readings are judged a chunk at a time, in one transaction: an alert the
/// store refuses for one resident must not cost another resident theirs.
#[tokio::test]
async fn a_vital_alert_the_store_refuses_for_one_resident_costs_no_other_theirs() {
    let app = TestApp::spawn().await;
    let a = Home::new(&app, "Grandma", &[("watch-a", "wearable", "bedroom", None, "native", None)]).await;
    let b = Home::new(&app, "Grandpa", &[("watch-b", "wearable", "bedroom", None, "native", None)]).await;
    for h in [&a, &b] {
        let path = format!("/api/v1/residents/{}/thresholds", h.rid);
        let (status, body) =
            app.call("PUT", &path, Some(&h.token), Some(json!({"heart_rate": {"min": 45, "max": 120}}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Grandma's alerts are refused by the store, as a row it cannot take.
    for sql in [
        format!(
            "create function refuse_grandma() returns trigger language plpgsql as $$
             begin if new.resident_id = '{}' then raise exception 'refused' using errcode = 'check_violation';
             end if; return new; end $$",
            a.rid
        ),
        "create trigger refuse_grandma before insert on alerts for each row execute function refuse_grandma()"
            .to_owned(),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&app.pool).await.unwrap();
    }
    // Eight minutes above 120 for both, interleaved in one burst.
    let reading = |device: &str, secs_ago: i64, hr: f64| {
        (
            format!("eldercare/v1/{device}/telemetry"),
            json!({"ts": now_ts(-secs_ago), "metric": "heart_rate", "value": hr}).to_string().into_bytes(),
        )
    };
    let burst: Vec<_> = (0..9).flat_map(|i| ["watch-a", "watch-b"].map(|d| reading(d, 540 - i * 60, 135.0))).collect();
    app.broker.publish_all(&burst).await;
    let alert = b.wait_alert(&app, "vital_abnormal", |_| true).await;
    assert_eq!(alert["cause"], "heart_rate");
    app.wait_count("select count(*) from readings", 18).await;
    assert!(a.alerts(&app, "kind=vital_abnormal").await.is_empty());
}
