//! Messages PostgreSQL cannot store never hold up anyone's alarm: each is
//! quarantined as `unstorable`, whether the decoder or the database refuses
//! it, and an SOS right behind it is stored and raises its alert, before and
//! after a restart. A refusal that is the schema's fault quarantines nothing:
//! the lane holds its messages, says it is failing, and drains once the
//! schema is fixed.

use std::sync::atomic::Ordering;

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::support::home::{DeviceRow, Home};
use crate::support::{Broker, TestApp, fresh_database, wait_for};

const DEVICES: &[DeviceRow] = &[
    ("watch-1", "wearable", "bedroom", None, "native", None),
    ("sos-1", "sos_button", "bedroom", None, "native", None),
];

/// Events whose `data.note` is this, the test's own constraint refuses.
const MARKER: &str = "refused-by-the-database";

fn now_ts(offset_secs: i64) -> String {
    (Utc::now() + chrono::Duration::seconds(offset_secs)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn sos(seq: i64) -> (String, Vec<u8>) {
    let body = json!({"ts": now_ts(0), "seq": seq, "event": "sos_pressed"});
    ("eldercare/v1/sos-1/event".to_owned(), body.to_string().into_bytes())
}

fn event_of_watch(body: &str) -> (String, Vec<u8>) {
    ("eldercare/v1/watch-1/event".to_owned(), body.as_bytes().to_vec())
}

/// The poison as its device sends it, the `seq`-th time.
type Poison = fn(seq: i64) -> (String, Vec<u8>);

fn nul_in_event_data(seq: i64) -> (String, Vec<u8>) {
    let body = json!({"ts": now_ts(0), "seq": seq, "event": "fall_detected", "data": {"note": "a\u{0}b"}});
    event_of_watch(&body.to_string())
}

fn nul_in_event_name(seq: i64) -> (String, Vec<u8>) {
    event_of_watch(&json!({"ts": now_ts(0), "seq": seq, "event": "fall\u{0}"}).to_string())
}

fn nul_in_status_firmware(seq: i64) -> (String, Vec<u8>) {
    let body = json!({"ts": now_ts(0), "seq": seq, "online": true, "firmware": "1.2\u{0}"});
    ("eldercare/v1/watch-1/status".to_owned(), body.to_string().into_bytes())
}

fn unpaired_surrogate_in_data(seq: i64) -> (String, Vec<u8>) {
    // Written by hand: no Rust string holds a lone surrogate.
    event_of_watch(&format!(
        r#"{{"ts": "{}", "seq": {seq}, "event": "fall_detected", "data": {{"note": "\ud800"}}}}"#,
        now_ts(0)
    ))
}

fn number_out_of_range(seq: i64) -> (String, Vec<u8>) {
    // Beyond int8 by `seq`, so each copy is a different message.
    event_of_watch(&format!(r#"{{"ts": "{}", "seq": 9223372036854775808{seq}, "event": "fall_detected"}}"#, now_ts(0)))
}

fn refused_by_the_database(seq: i64) -> (String, Vec<u8>) {
    let body = json!({"ts": now_ts(0), "seq": seq, "event": "fall_detected", "data": {"note": MARKER}});
    event_of_watch(&body.to_string())
}

/// A rule no decoder knows about: the database alone refuses the marker.
async fn refuse_the_marker(app: &TestApp) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "alter table events add constraint refuse_marker check (data->>'note' is distinct from '{MARKER}')"
    )))
    .execute(&app.pool)
    .await
    .unwrap();
}

async fn unstorable(app: &TestApp) -> Vec<(String, String, Option<String>, Vec<u8>)> {
    sqlx::query_as("select topic, detail, device_id, payload from quarantine where reason = 'unstorable' order by id")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

/// Publishes the poison with an SOS of another device right behind it, and
/// waits for both outcomes: the SOS alert and the poison quarantined, raw.
async fn poison_then_sos(app: &TestApp, h: &Home, poison: Poison) {
    let bad = poison(1);
    app.broker.publish_all(&[bad.clone(), sos(1)]).await;
    h.wait_alert(app, "sos", |_| true).await;
    let rows = wait_for("the poison in the quarantine", || async {
        let rows = unstorable(app).await;
        (!rows.is_empty()).then_some(rows)
    })
    .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (topic, detail, device, payload) = &rows[0];
    assert_eq!((topic, device.as_deref()), (&bad.0, Some("watch-1")));
    assert_eq!(payload, &bad.1, "the raw payload is kept");
    assert!(!detail.is_empty());
}

/// The whole story for one kind of poison: running, then again after a
/// restart that finds both messages waiting at the broker.
async fn poison_never_blocks_an_sos(poison: Poison, refused_by_database_only: bool) {
    let app = TestApp::spawn().await;
    let h = Home::new(&app, "Grandma", DEVICES).await;
    if refused_by_database_only {
        refuse_the_marker(&app).await;
    }
    poison_then_sos(&app, &h, poison).await;
    let detail = &unstorable(&app).await[0].1;
    if refused_by_database_only {
        assert!(detail.starts_with("the database refused it:") && detail.contains("refuse_marker"), "{detail}");
    } else {
        assert!(!detail.starts_with("the database refused it:"), "the decoder caught it: {detail}");
    }
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("eldercare_messages_rejected_total{reason=\"unstorable\"} 1"), "{metrics}");
    assert!(metrics.contains("eldercare_ingest_lane_failing{lane=\"events\"} 0"));

    // Both wait at the broker while the backend is away, and arrive together.
    let (broker, db) = app.stop().await;
    broker.publish_all(&[poison(2), sos(2)]).await;
    let app = TestApp::spawn_with(broker, db, |_| {}).await;
    h.wait_alert(&app, "sos", |a| a["occurrences"] == 2).await;
    app.wait_count("select count(*) from quarantine where reason = 'unstorable'", 2).await;

    // Nothing of the poison is stored beside its quarantine row.
    assert_eq!(app.count("select count(*) from events where device_id = 'watch-1'").await, 0);
    assert_eq!(app.count("select count(*) from device_state where firmware is not null").await, 0);
    assert_eq!(app.count("select count(*) from events where kind = 'sos_pressed'").await, 2);
    assert!(!app.metrics.lane_failing.iter().any(|f| f.load(Ordering::Relaxed)));
}

#[tokio::test]
async fn a_nul_in_event_data_is_quarantined_and_the_sos_behind_it_alerts() {
    poison_never_blocks_an_sos(nul_in_event_data, false).await;
}

#[tokio::test]
async fn a_nul_in_an_event_name_is_quarantined_and_the_sos_behind_it_alerts() {
    poison_never_blocks_an_sos(nul_in_event_name, false).await;
}

#[tokio::test]
async fn a_nul_in_a_status_firmware_is_quarantined_and_the_sos_behind_it_alerts() {
    poison_never_blocks_an_sos(nul_in_status_firmware, false).await;
}

#[tokio::test]
async fn an_unpaired_surrogate_is_quarantined_and_the_sos_behind_it_alerts() {
    poison_never_blocks_an_sos(unpaired_surrogate_in_data, false).await;
}

#[tokio::test]
async fn a_number_out_of_range_is_quarantined_and_the_sos_behind_it_alerts() {
    poison_never_blocks_an_sos(number_out_of_range, false).await;
}

#[tokio::test]
async fn a_message_only_the_database_refuses_is_found_quarantined_and_the_sos_behind_it_alerts() {
    poison_never_blocks_an_sos(refused_by_the_database, true).await;
}

#[tokio::test]
async fn good_events_around_a_refused_one_in_one_batch_are_all_stored() {
    let app = TestApp::spawn().await;
    let h = Home::new(&app, "Grandma", DEVICES).await;
    refuse_the_marker(&app).await;
    // One burst, so the lane most likely takes it as one batch to split.
    let mut burst: Vec<(String, Vec<u8>)> = (1..=6)
        .map(|i| event_of_watch(&json!({"ts": now_ts(0), "seq": i, "event": "door_opened"}).to_string()))
        .collect();
    burst.insert(3, refused_by_the_database(100));
    burst.push(sos(1));
    app.broker.publish_all(&burst).await;
    h.wait_alert(&app, "sos", |_| true).await;
    app.wait_count("select count(*) from events where kind = 'door_opened'", 6).await;
    app.wait_count("select count(*) from quarantine where reason = 'unstorable'", 1).await;
    assert_eq!(app.count("select count(*) from quarantine").await, 1);
}

#[tokio::test]
async fn a_schema_that_refuses_every_event_quarantines_nothing_and_the_lane_drains_once_fixed() {
    let app = TestApp::spawn().await;
    let h = Home::new(&app, "Grandma", DEVICES).await;
    // A broken migration, as the database reports a data error for every row.
    for sql in [
        "create function refuse_events() returns trigger language plpgsql as $$
         begin raise exception 'every event refused (a broken schema)' using errcode = 'check_violation'; end $$",
        "create trigger refuse_events before insert on events for each row execute function refuse_events()",
    ] {
        sqlx::query(sql).execute(&app.pool).await.unwrap();
    }
    // Alone in its batch, only the control (an ordinary message of its shape,
    // refused too) tells the schema's fault from the message's.
    app.broker.publish_all(&[sos(1)]).await;
    wait_for("the events lane to report failing", || async {
        app.metrics.lane_failing[0].load(Ordering::Relaxed).then_some(())
    })
    .await;
    let mut burst: Vec<(String, Vec<u8>)> = (1..=5)
        .map(|i| event_of_watch(&json!({"ts": now_ts(0), "seq": i, "event": "door_opened"}).to_string()))
        .collect();
    burst.push(sos(2));
    app.broker.publish_all(&burst).await;
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("eldercare_ingest_lane_failing{lane=\"events\"} 1"), "{metrics}");
    assert!(metrics.contains("eldercare_ingest_lane_failing{lane=\"telemetry\"} 0"));

    // The telemetry lane is not held up by the events lane.
    let reading = json!({"ts": now_ts(0), "metric": "heart_rate", "value": 70}).to_string();
    app.broker.publish("eldercare/v1/watch-1/telemetry", reading).await;
    app.wait_count("select count(*) from readings where device_id = 'watch-1'", 1).await;
    assert_eq!(app.count("select count(*) from quarantine").await, 0, "nothing is quarantined for our fault");
    assert_eq!(app.count("select count(*) from events").await, 0);
    assert!(app.metrics.lane_failing[0].load(Ordering::Relaxed), "still failing while the schema is broken");

    // The schema is fixed: everything held is stored, and the SOS alerts.
    sqlx::query("drop trigger refuse_events on events").execute(&app.pool).await.unwrap();
    app.wait_count("select count(*) from events", 7).await;
    h.wait_alert(&app, "sos", |a| a["occurrences"] == 2).await;
    wait_for("the events lane to recover", || async {
        (!app.metrics.lane_failing[0].load(Ordering::Relaxed)).then_some(())
    })
    .await;
    assert_eq!(app.count("select count(*) from quarantine").await, 0);
}

#[tokio::test]
async fn most_of_a_batch_refused_alike_is_held_not_quarantined_and_the_sos_beside_it_is_stored() {
    let broker = Broker::start().await;
    let db = fresh_database().await;
    // A long flush, so the burst below is one batch.
    let app = TestApp::spawn_with(broker, db, |s| s.ingest.event_flush_ms = 2000).await;
    let h = Home::new(&app, "Grandma", DEVICES).await;
    refuse_the_marker(&app).await;
    let mut burst: Vec<(String, Vec<u8>)> = (1..=4).map(refused_by_the_database).collect();
    burst.push(sos(1));
    app.broker.publish_all(&burst).await;
    h.wait_alert(&app, "sos", |_| true).await;
    wait_for("the events lane to report failing", || async {
        app.metrics.lane_failing[0].load(Ordering::Relaxed).then_some(())
    })
    .await;
    assert_eq!(app.count("select count(*) from quarantine").await, 0, "four of five refused: ours, not theirs");
    assert_eq!(app.count("select count(*) from events where device_id = 'watch-1'").await, 0);

    sqlx::query("alter table events drop constraint refuse_marker").execute(&app.pool).await.unwrap();
    app.wait_count("select count(*) from events where device_id = 'watch-1'", 4).await;
    wait_for("the events lane to recover", || async {
        (!app.metrics.lane_failing[0].load(Ordering::Relaxed)).then_some(())
    })
    .await;
    assert_eq!(app.count("select count(*) from quarantine").await, 0);
}

#[tokio::test]
async fn the_quarantine_keeps_a_capped_number_per_device_and_hour_and_counts_the_rest() {
    let broker = Broker::start().await;
    let db = fresh_database().await;
    let app = TestApp::spawn_with(broker, db, |s| s.ingest.quarantine_per_device_per_hour = 2).await;
    let h = Home::new(&app, "Grandma", DEVICES).await;
    let junk: Vec<(String, Vec<u8>)> =
        (0..5).map(|_| ("eldercare/v1/watch-1/telemetry".to_owned(), b"{not json".to_vec())).collect();
    let ghosts: Vec<(String, Vec<u8>)> =
        (0..3).map(|i| (format!("eldercare/v1/ghost-{i}/telemetry"), b"{}".to_vec())).collect();
    app.broker.publish_all(&junk).await;
    app.broker.publish_all(&ghosts).await;
    // Each side sees its own: the institution its device's, the operator the
    // unregistered senders'.
    let operator = app.operator_token().await;
    let overflow_of = |q: &Value| -> Vec<(Value, Value, Value, Value)> {
        q["overflow"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| (o["device_id"].clone(), o["topic_prefix"].clone(), o["reason"].clone(), o["count"].clone()))
            .collect()
    };
    let counted =
        |q: &Value| q["overflow"].as_array().map_or(0, |o| o.iter().filter_map(|o| o["count"].as_i64()).sum::<i64>());
    let [q, platform] = wait_for("the kept messages and the overflow counts", || async {
        let q = app.get("/api/v1/quarantine", &h.token).await;
        let platform = app.get("/api/v1/quarantine", &operator).await;
        let done = counted(&q) >= 3 && counted(&platform) >= 1;
        (done && q["total"].as_i64()? >= 2 && platform["total"].as_i64()? >= 2).then_some([q, platform])
    })
    .await;
    assert_eq!(q["total"], 2, "two per sender: watch-1's");
    assert_eq!(platform["total"], 2, "two per sender: unregistered senders together");
    assert_eq!(overflow_of(&q), vec![(json!("watch-1"), Value::Null, json!("malformed"), json!(3))]);
    assert_eq!(overflow_of(&platform), vec![(Value::Null, json!("eldercare"), json!("unknown_device"), json!(1))]);
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("eldercare_quarantine_dropped_total{reason=\"malformed\"} 3"), "{metrics}");
    assert!(metrics.contains("eldercare_messages_rejected_total{reason=\"malformed\"} 5"));
}
