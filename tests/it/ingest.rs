//! The device contract through a real broker: what is stored, what is
//! quarantined, and that redelivery creates nothing new.

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::json;

use crate::support::home::{DeviceRow, Home};
use crate::support::{TestApp, wait_for};

fn ts(offset_secs: i64) -> String {
    (Utc::now() - Duration::minutes(10) + Duration::seconds(offset_secs)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// One device of each family the contract names.
const DEVICES: &[DeviceRow] = &[
    ("watch-1", "wearable", "bedroom", None, "native", None),
    ("gw-1", "health_gateway", "living_room", None, "native", None),
    ("sos-1", "sos_button", "bedroom", None, "native", None),
    ("z-motion", "motion_sensor", "kitchen", None, "zigbee2mqtt", Some("flat1/kitchen/motion")),
    ("z-door", "door_sensor", "hall", Some("entrance"), "zigbee2mqtt", Some("flat1/entrance")),
    ("z-plug", "smart_plug", "kitchen", Some("kettle"), "zigbee2mqtt", Some("flat1/kettle")),
    ("z-leak", "hazard_sensor", "bathroom", None, "zigbee2mqtt", Some("flat1/leak")),
];

async fn household(app: &TestApp) -> (String, String) {
    let h = Home::new(app, "Grandma", DEVICES).await;
    (h.token, h.rid)
}

#[tokio::test]
async fn every_payload_family_is_stored() {
    let app = TestApp::spawn().await;
    let (token, rid) = household(&app).await;
    let epoch_ms = (Utc::now() - Duration::minutes(3)).timestamp_millis();
    let msgs: Vec<(String, Vec<u8>)> = vec![
        ("eldercare/v1/watch-1/telemetry".into(), json!({"ts": ts(0), "seq": 1042, "readings": [{"metric": "heart_rate", "value": 72}, {"metric": "spo2", "value": 97}]}).to_string().into()),
        ("eldercare/v1/watch-1/telemetry".into(), json!({"ts": epoch_ms, "metric": "heart_rate", "value": 74}).to_string().into()),
        ("eldercare/v1/sos-1/event".into(), json!({"ts": ts(1), "seq": 77, "event": "fall_detected", "data": {"room": "bathroom", "confidence": 0.93}}).to_string().into()),
        ("eldercare/v1/sos-1/event".into(), json!({"ts": ts(2), "event": "teleported", "data": {}}).to_string().into()),
        ("eldercare/v1/watch-1/status".into(), json!({"ts": ts(3), "online": true, "battery": 84, "rssi": -61, "firmware": "1.2.0"}).to_string().into()),
        ("eldercare/v1/gw-1/fhir".into(), json!({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "effectiveDateTime": ts(4),
            "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}}).to_string().into()),
        ("eldercare/v1/gw-1/fhir".into(), json!({"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": {"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
              "effectiveDateTime": ts(5), "component": [
                {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}, "valueQuantity": {"value": 128, "unit": "mm[Hg]", "code": "mm[Hg]"}},
                {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]}, "valueQuantity": {"value": 82, "unit": "mm[Hg]", "code": "mm[Hg]"}}]}},
            {"resource": {"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
              "effectiveDateTime": ts(6), "valueQuantity": {"value": 108.1, "unit": "mg/dL", "code": "mg/dL"}}}]}).to_string().into()),
        ("zigbee2mqtt/flat1/kitchen/motion".into(), json!({"occupancy": true, "battery": 90, "linkquality": 120}).to_string().into()),
        ("zigbee2mqtt/flat1/kitchen/motion".into(), json!({"occupancy": true, "battery": 90, "linkquality": 118}).to_string().into()),
        ("zigbee2mqtt/flat1/entrance".into(), json!({"contact": false}).to_string().into()),
        ("zigbee2mqtt/flat1/entrance".into(), json!({"contact": true}).to_string().into()),
        ("zigbee2mqtt/flat1/kettle".into(), json!({"power": 1800}).to_string().into()),
        ("zigbee2mqtt/flat1/kettle".into(), json!({"power": 1.5}).to_string().into()),
        ("zigbee2mqtt/flat1/leak".into(), json!({"water_leak": true, "temperature": 21.5, "humidity": 55}).to_string().into()),
        ("zigbee2mqtt/flat1/leak/availability".into(), b"offline".to_vec()),
    ];
    app.broker.publish_all(&msgs).await;

    let r = format!("select count(*) from readings where resident_id = '{rid}'");
    // heart_rate x3 (batch, flat, fhir), spo2, battery (status), bp x2, glucose,
    // z2m battery, power x2, room_temperature, humidity.
    app.wait_count(&r, 14).await;
    let e = format!("select count(*) from events where resident_id = '{rid}'");
    // fall, teleported, motion (once), door_opened, door_closed, appliance_on,
    // appliance_off, water_leak.
    app.wait_count(&e, 8).await;

    let glucose: f64 = sqlx::query_scalar("select value from readings where metric = 'blood_glucose'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!((glucose - 108.1 / 18.016).abs() < 1e-9, "mg/dL converted: {glucose}");
    let kinds: Vec<String> =
        sqlx::query_scalar("select kind from events order by ts, kind").fetch_all(&app.pool).await.unwrap();
    for k in [
        "fall_detected",
        "teleported",
        "motion",
        "door_opened",
        "door_closed",
        "appliance_on",
        "appliance_off",
        "water_leak",
    ] {
        assert!(kinds.iter().any(|x| x == k), "event {k} in {kinds:?}");
    }
    let door: serde_json::Value =
        sqlx::query_scalar("select data from events where kind = 'door_opened'").fetch_one(&app.pool).await.unwrap();
    assert_eq!(door["door"], "entrance");

    let watch = app.get("/api/v1/devices/watch-1", &token).await;
    assert_eq!(watch["battery"], 84.0);
    assert_eq!(watch["online"], true);
    assert_eq!(watch["firmware"], "1.2.0");
    assert!(watch["last_seen_at"].is_string());
    let leak = wait_for("the leak sensor offline", || async {
        let d = app.get("/api/v1/devices/z-leak", &token).await;
        (d["online"] == false).then_some(d)
    })
    .await;
    assert_eq!(leak["online"], false);

    let quarantined = app.count("select count(*) from quarantine").await;
    assert_eq!(quarantined, 0, "nothing valid is quarantined");
}

#[tokio::test]
async fn redelivered_messages_create_nothing_new() {
    let app = TestApp::spawn().await;
    let (_, rid) = household(&app).await;
    let batch = json!({"ts": ts(0), "seq": 1, "readings": [{"metric": "heart_rate", "value": 72}, {"metric": "spo2", "value": 97}]}).to_string();
    let event = json!({"ts": ts(1), "seq": 2, "event": "sos_pressed"}).to_string();
    let no_ts = json!({"seq": 3, "metric": "steps", "value": 1200}).to_string();
    let msgs: Vec<(String, Vec<u8>)> = vec![
        ("eldercare/v1/watch-1/telemetry".into(), batch.clone().into()),
        ("eldercare/v1/sos-1/event".into(), event.clone().into()),
        ("eldercare/v1/watch-1/telemetry".into(), no_ts.clone().into()),
    ];
    app.broker.publish_all(&msgs).await;
    app.wait_count(&format!("select count(*) from readings where resident_id = '{rid}'"), 3).await;
    app.wait_count(&format!("select count(*) from events where resident_id = '{rid}'"), 1).await;
    let received = app.metrics.messages_received.load(std::sync::atomic::Ordering::Relaxed);

    // The same messages again, as a broker redelivers them.
    app.broker.publish_all(&msgs).await;
    app.broker.publish_all(&msgs).await;
    wait_for("the redeliveries to be processed", || async {
        let m = &app.metrics;
        let done = m.messages_received.load(std::sync::atomic::Ordering::Relaxed) >= received + 6
            && m.duplicates_absorbed.load(std::sync::atomic::Ordering::Relaxed) >= 8;
        done.then_some(())
    })
    .await;
    assert_eq!(app.count("select count(*) from readings").await, 3);
    assert_eq!(app.count("select count(*) from events").await, 1);
}

#[tokio::test]
async fn bad_input_is_quarantined_with_its_reason_and_good_data_beside_it_is_kept() {
    let app = TestApp::spawn().await;
    let (token, rid) = household(&app).await;
    let future = (Utc::now() + Duration::minutes(30)).to_rfc3339();
    let old = (Utc::now() - Duration::days(40)).to_rfc3339();
    let mut big = vec![b' '; 70 * 1024];
    big[0] = b'{';
    big[70 * 1024 - 1] = b'}';
    let msgs: Vec<(String, Vec<u8>)> = vec![
        ("eldercare/v1/watch-1/telemetry".into(), b"{not json".to_vec()),
        ("eldercare/v1/ghost/telemetry".into(), json!({"metric": "heart_rate", "value": 70}).to_string().into()),
        (
            "eldercare/v1/watch-1/telemetry".into(),
            json!({"ts": ts(0), "metric": "mood", "value": 3}).to_string().into(),
        ),
        (
            "eldercare/v1/watch-1/telemetry".into(),
            json!({"ts": ts(1), "metric": "heart_rate", "value": 900}).to_string().into(),
        ),
        (
            "eldercare/v1/watch-1/telemetry".into(),
            json!({"ts": future, "metric": "heart_rate", "value": 70}).to_string().into(),
        ),
        (
            "eldercare/v1/watch-1/telemetry".into(),
            json!({"ts": old, "metric": "heart_rate", "value": 70}).to_string().into(),
        ),
        ("eldercare/v1/watch-1/telemetry".into(), big),
        (
            "eldercare/v1/watch-1/telemetry/extra".into(),
            json!({"metric": "heart_rate", "value": 70}).to_string().into(),
        ),
        ("eldercare/v1/watch-1/telemetry".into(), vec![0xff, 0xfe, 0x00]),
        // Good data in the same stream, and a message that is half good.
        (
            "eldercare/v1/watch-1/telemetry".into(),
            json!({"ts": ts(2), "metric": "heart_rate", "value": 71}).to_string().into(),
        ),
        (
            "eldercare/v1/watch-1/telemetry".into(),
            json!({"ts": ts(3), "readings": [{"metric": "spo2", "value": 96}, {"metric": "spo2", "value": 12}]})
                .to_string()
                .into(),
        ),
    ];
    app.broker.publish_all(&msgs).await;
    app.wait_count("select count(*) from quarantine", 10).await;
    app.wait_count(&format!("select count(*) from readings where resident_id = '{rid}'"), 2).await;

    // The institution's admin sees what its devices sent; the operator what
    // no institution owns (the unknown device, the topic naming no device).
    let q = app.get("/api/v1/quarantine?limit=100", &token).await;
    let operator = app.operator_token().await;
    let platform = app.get("/api/v1/quarantine?limit=100", &operator).await;
    let platform_reasons: Vec<&str> =
        platform["messages"].as_array().unwrap().iter().map(|m| m["reason"].as_str().unwrap()).collect();
    assert_eq!(platform_reasons, vec!["bad_topic", "unknown_device"], "{platform}");
    assert_eq!(q["total"], 8);
    let reasons: Vec<&str> = q["messages"]
        .as_array()
        .unwrap()
        .iter()
        .chain(platform["messages"].as_array().unwrap())
        .map(|m| m["reason"].as_str().unwrap())
        .collect();
    for (reason, n) in [
        ("malformed", 2),
        ("unknown_device", 1),
        ("unknown_metric", 1),
        ("implausible_value", 2),
        ("timestamp_out_of_bounds", 2),
        ("oversized", 1),
        ("bad_topic", 1),
    ] {
        assert_eq!(reasons.iter().filter(|r| **r == reason).count(), n, "{reason} in {reasons:?}");
    }
    let implausible = app.get("/api/v1/quarantine?reason=implausible_value", &token).await;
    assert_eq!(implausible["total"], 2);
    assert_eq!(app.get("/api/v1/quarantine?device_id=ghost", &token).await["total"], 0);
    let ghost = app.get("/api/v1/quarantine?device_id=ghost", &operator).await;
    assert_eq!(ghost["total"], 1);
    assert_eq!(ghost["messages"][0]["topic"], "eldercare/v1/ghost/telemetry");
    assert!(ghost["messages"][0]["payload"].as_str().unwrap().contains("heart_rate"));
    let binary =
        q["messages"].as_array().unwrap().iter().find(|m| m["payload_encoding"] == "base64").expect("binary payload");
    assert_eq!(binary["payload"], "//4A");
    let oversized = app.get("/api/v1/quarantine?reason=oversized", &token).await;
    assert_eq!(oversized["messages"][0]["payload_bytes"], 64 * 1024, "raw bytes kept, truncated at 64 KiB");

    let text = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("eldercare_messages_rejected_total{reason=\"timestamp_out_of_bounds\"} 2"), "{text}");
    assert!(text.contains("eldercare_messages_rejected_total{reason=\"oversized\"} 1"));
    // The pipeline is still running.
    app.broker
        .publish(
            "eldercare/v1/watch-1/telemetry",
            json!({"ts": ts(9), "metric": "heart_rate", "value": 70}).to_string(),
        )
        .await;
    app.wait_count(&format!("select count(*) from readings where resident_id = '{rid}'"), 3).await;
}

#[tokio::test]
async fn a_device_registered_now_is_accepted_at_once() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let rid = app.resident(&token, "New").await;
    app.device(&token, json!({"device_id": "fresh-1", "resident_id": rid, "kind": "wearable"})).await;
    app.broker
        .publish("eldercare/v1/fresh-1/telemetry", json!({"metric": "heart_rate", "value": 66}).to_string())
        .await;
    app.wait_count("select count(*) from readings where device_id = 'fresh-1'", 1).await;
    assert_eq!(app.count("select count(*) from quarantine").await, 0);
}

#[tokio::test]
async fn messages_sent_while_the_backend_is_stopped_arrive_after_restart() {
    let app = TestApp::spawn().await;
    let (_, rid) = household(&app).await;
    app.broker
        .publish(
            "eldercare/v1/watch-1/telemetry",
            json!({"ts": ts(0), "metric": "heart_rate", "value": 70}).to_string(),
        )
        .await;
    app.wait_count(&format!("select count(*) from readings where resident_id = '{rid}'"), 1).await;
    let (broker, db) = app.stop().await;

    // The broker keeps the backend's persistent session and queues for it.
    let msgs: Vec<(String, Vec<u8>)> = (1..=50)
        .map(|i| {
            (
                "eldercare/v1/watch-1/telemetry".to_owned(),
                json!({"ts": ts(i), "metric": "heart_rate", "value": 70}).to_string().into_bytes(),
            )
        })
        .collect();
    broker.publish_all(&msgs).await;

    let app = TestApp::spawn_with(broker, db, |_| {}).await;
    app.wait_count(&format!("select count(*) from readings where resident_id = '{rid}'"), 51).await;
}

#[tokio::test]
async fn two_messages_in_the_same_millisecond_are_both_kept() {
    let app = TestApp::spawn().await;
    let (_, rid) = household(&app).await;
    let at = ts(0);
    let msgs: Vec<(String, Vec<u8>)> = [(10, 71), (11, 72)]
        .iter()
        .map(|(seq, hr)| {
            let body = json!({"ts": at, "seq": seq, "metric": "heart_rate", "value": hr});
            ("eldercare/v1/watch-1/telemetry".to_owned(), body.to_string().into_bytes())
        })
        .collect();
    app.broker.publish_all(&msgs).await;
    app.wait_count(&format!("select count(*) from readings where resident_id = '{rid}'"), 2).await;
    // ...and their redeliveries are still absorbed.
    app.broker.publish_all(&msgs).await;
    wait_for("the redeliveries", || async {
        (app.metrics.duplicates_absorbed.load(std::sync::atomic::Ordering::Relaxed) >= 2).then_some(())
    })
    .await;
    assert_eq!(app.count("select count(*) from readings").await, 2);
}
