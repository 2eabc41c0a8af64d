//! The alarm path cannot be silenced: a stored alarm is judged whatever dies
//! in between, shared devices raise their own alerts, alert state survives a
//! restart, and the platform tells the institutions when it stops working.

use std::sync::atomic::Ordering;

use chrono::{SecondsFormat, SubsecRound, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

use crate::durability::{start_server, wait_status};
use crate::support::cluster::PgCluster;
use crate::support::home::{DeviceRow, Home};
use crate::support::{Broker, TestApp, fresh_database, wait_for};

fn now_ts(offset_secs: i64) -> String {
    (Utc::now() + chrono::Duration::seconds(offset_secs)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn fast_app_on(broker: Broker, db: String) -> TestApp {
    TestApp::spawn_with(broker, db, |s| {
        s.scheduler.tick_ms = 200;
        s.watchdog.check_ms = 100;
        s.watchdog.stall_seconds = 1;
        s.watchdog.scheduler_stall_seconds = 2;
    })
    .await
}

/// Waits for an alert of `kind` about the institution itself.
async fn institution_alert(app: &TestApp, token: &str, kind: &str) -> Value {
    wait_for(&format!("a {kind} alert"), || async {
        let body = app.get(&format!("/api/v1/alerts?kind={kind}"), token).await;
        body["alerts"].as_array()?.iter().find(|a| a["resident_id"].is_null()).cloned()
    })
    .await
}

#[tokio::test]
async fn two_shared_detectors_raise_two_alerts_each_naming_its_device_and_room() {
    let app = fast_app_on(Broker::start().await, fresh_database().await).await;
    let token = app.admin_token().await;
    for (id, room) in [("smoke-corridor", "corridor_1"), ("smoke-kitchen", "kitchen_2")] {
        app.device(&token, json!({"device_id": id, "kind": "hazard_sensor", "room": room})).await;
    }
    for id in ["smoke-corridor", "smoke-kitchen"] {
        let body = json!({"ts": now_ts(0), "event": "smoke_detected"}).to_string();
        app.broker.publish(&format!("eldercare/v1/{id}/event"), body).await;
    }
    let alerts = wait_for("two smoke alerts", || async {
        let body = app.get("/api/v1/alerts?kind=smoke", &token).await;
        let alerts = body["alerts"].as_array().cloned().unwrap_or_default();
        (alerts.len() >= 2).then_some(alerts)
    })
    .await;
    let mut seen: Vec<(String, String)> = alerts
        .iter()
        .map(|a| {
            assert_eq!(a["resident_id"], Value::Null, "a shared device's alert is about no resident");
            assert_eq!(a["status"], "open");
            (a["device_id"].as_str().unwrap().to_owned(), a["details"]["room"].as_str().unwrap().to_owned())
        })
        .collect();
    seen.sort();
    assert_eq!(seen, [("smoke-corridor".into(), "corridor_1".into()), ("smoke-kitchen".into(), "kitchen_2".into())]);
    // A repeat from one detector counts on its own alert, not the other's.
    let body = json!({"ts": now_ts(1), "event": "smoke_detected"}).to_string();
    app.broker.publish("eldercare/v1/smoke-kitchen/event", body).await;
    let kitchen = wait_for("the kitchen repeat", || async {
        let body = app.get("/api/v1/alerts?kind=smoke", &token).await;
        body["alerts"].as_array()?.iter().find(|a| a["device_id"] == "smoke-kitchen" && a["occurrences"] == 2).cloned()
    })
    .await;
    assert_eq!(kitchen["details"]["room"], "kitchen_2");
    let body = app.get("/api/v1/alerts?kind=smoke", &token).await;
    let corridor = body["alerts"].as_array().unwrap().iter().find(|a| a["device_id"] == "smoke-corridor").unwrap();
    assert_eq!(corridor["occurrences"], 1);
}

const RESIDENTS: usize = 300;

async fn sos_alerts(pool: &PgPool) -> Option<i64> {
    sqlx::query_scalar("select count(distinct resident_id) from alerts where kind = 'sos'").fetch_one(pool).await.ok()
}

async fn stored_presses(pool: &PgPool) -> Option<i64> {
    sqlx::query_scalar("select count(*) from events where kind = 'sos_pressed'").fetch_one(pool).await.ok()
}

/// 300 residents press SOS behind a backlog of readings; the backend is
/// killed outright as the first presses are committed, and started again.
/// Every press that was stored has its alert: none waits for a human to
/// notice.
#[tokio::test]
async fn every_stored_sos_is_judged_even_when_the_process_is_killed_right_after_storing_it() {
    let cluster = PgCluster::start().await;
    let broker = std::sync::Arc::new(Broker::start().await);
    let db = cluster.url();
    let http = crate::support::http_client();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = start_server(&db, &broker, port);
    wait_status(&http, &server, StatusCode::OK).await;
    let pool = PgPool::connect(&db).await.unwrap();
    let institution: Uuid = sqlx::query_scalar("select id from institutions").fetch_one(&pool).await.unwrap();
    for i in 0..RESIDENTS {
        let rid = Uuid::new_v4();
        sqlx::query("insert into residents (id, institution_id, name, timezone) values ($1, $2, $3, 'UTC')")
            .bind(rid)
            .bind(institution)
            .bind(format!("Resident {i}"))
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query(
            "insert into enrolments (id, resident_id, institution_id, services, origin)
             values (gen_random_uuid(), $1, $2, array['monitoring'], 'registration')",
        )
        .bind(rid)
        .bind(institution)
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "insert into devices (device_id, institution_id, resident_id, kind)
             values ($1, $3, $4, 'sos_button'), ($2, $3, $4, 'wearable')",
        )
        .bind(format!("sos-{i}"))
        .bind(format!("band-{i}"))
        .bind(institution)
        .bind(rid)
        .execute(&pool)
        .await
        .unwrap();
    }
    // The registry is read at start: restart so every device is known.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    server = start_server(&db, &broker, port);
    wait_status(&http, &server, StatusCode::OK).await;

    let base = Utc::now() - chrono::Duration::minutes(30);
    let mut messages: Vec<(String, Vec<u8>)> = (0..20_000)
        .map(|n| {
            let ts = (base + chrono::Duration::milliseconds(n as i64)).to_rfc3339_opts(SecondsFormat::Millis, true);
            let body = json!({"ts": ts, "metric": "heart_rate", "value": 70 + (n % 20)});
            (format!("eldercare/v1/band-{}/telemetry", n % RESIDENTS), body.to_string().into_bytes())
        })
        .collect();
    messages.extend((0..RESIDENTS).map(|i| {
        let body = json!({"ts": now_ts(0), "seq": 1, "event": "sos_pressed"});
        (format!("eldercare/v1/sos-{i}/event"), body.to_string().into_bytes())
    }));
    let publisher = {
        let broker = broker.clone();
        tokio::spawn(async move { broker.publish_all(&messages).await })
    };
    wait_for("the first presses stored", || async { stored_presses(&pool).await.filter(|n| *n > 0) }).await;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let at_kill = stored_presses(&pool).await.unwrap();
    publisher.await.unwrap();
    server = start_server(&db, &broker, port);
    wait_status(&http, &server, StatusCode::OK).await;
    wait_for("every press stored", || async { stored_presses(&pool).await.filter(|n| *n == RESIDENTS as i64) }).await;
    wait_for("an alert for every press", || async { sos_alerts(&pool).await.filter(|n| *n == RESIDENTS as i64) }).await;
    let unjudged: i64 = sqlx::query_scalar("select count(*) from rule_inbox").fetch_one(&pool).await.unwrap();
    assert_eq!(unjudged, 0, "nothing left waiting to be judged ({at_kill} presses were stored at the kill)");
    // The heart rates too: each stored batch judged, by whichever process.
    wait_for("every stored batch of vital readings judged", || async {
        let left: i64 = sqlx::query_scalar("select count(*) from vital_inbox").fetch_one(&pool).await.unwrap();
        (left == 0).then_some(())
    })
    .await;
    let doubled: i64 = sqlx::query_scalar(
        "select count(*) from (select resident_id from alerts where kind = 'sos' group by 1 having count(*) > 1) d",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(doubled, 0, "one alert per press, not two");
    let _ = server.child.kill();
    let _ = server.child.wait();
}

/// The database goes away for longer than the stall threshold while an SOS
/// waits: when it returns, the SOS is stored and alerted, and every
/// institution is told that ingest stalled, and since when.
#[tokio::test]
async fn a_database_outage_longer_than_the_stall_threshold_raises_the_watchdog_alert_when_it_returns() {
    let cluster = PgCluster::start().await;
    let app = fast_app_on(Broker::start().await, cluster.url()).await;
    let h = Home::new(&app, "Grandma", &[("sos-1", "sos_button", "bedroom", None, "native", None)]).await;
    cluster.stop_server();
    let body = json!({"ts": now_ts(0), "event": "sos_pressed"}).to_string();
    app.broker.publish("eldercare/v1/sos-1/event", body).await;
    wait_for("the watchdog to see the stall", || async {
        app.metrics.problems().iter().any(|p| p.starts_with("ingest_stalled: events")).then_some(())
    })
    .await;
    cluster.start_server().await;
    let stalled = institution_alert(&app, &h.token, "ingest_stalled").await;
    assert_eq!(stalled["severity"], "critical");
    assert_eq!(stalled["cause"], "events");
    assert_eq!(stalled["resident_id"], Value::Null);
    assert!(stalled["details"]["since"].is_string(), "{stalled}");
    let sos = h.wait_alert(&app, "sos", |_| true).await;
    assert_eq!(sos["status"], "open", "the press that waited out the outage is alerted");
    wait_for("the stall to end", || async { app.metrics.problems().is_empty().then_some(()) }).await;
}

/// With no scheduler leader (another connection holds the leader's lock and
/// never ticks), every institution learns that time-driven rules stopped.
#[tokio::test]
async fn no_scheduler_ticking_raises_the_watchdog_alert() {
    let db = fresh_database().await;
    let mut usurper = PgConnection::connect(&db).await.unwrap();
    let held: bool = sqlx::query_scalar("select pg_try_advisory_lock($1)")
        .bind(0x656c_6465_7202_i64)
        .fetch_one(&mut usurper)
        .await
        .unwrap();
    assert!(held);
    let app = fast_app_on(Broker::start().await, db).await;
    let h = Home::new(&app, "Grandma", &[]).await;
    let stalled = institution_alert(&app, &h.token, "scheduler_stalled").await;
    assert_eq!(stalled["severity"], "high");
    assert!(app.metrics.problems().iter().any(|p| p.starts_with("scheduler_stalled")));
    let (status, ready) = app.call("GET", "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK, "a stalled scheduler does not take the API out of rotation");
    assert!(ready["problems"].as_array().unwrap().iter().any(|p| p.as_str().unwrap().starts_with("scheduler_stalled")));
    // Released, the app's own scheduler leads and ticks again.
    sqlx::query("select pg_advisory_unlock_all()").execute(&mut usurper).await.unwrap();
    app.scheduler_ticks(2).await;
    wait_for("the problem to end", || async {
        (!app.metrics.problems().iter().any(|p| p.starts_with("scheduler_stalled"))).then_some(())
    })
    .await;
}

const VITALS_HOME: &[DeviceRow] = &[("watch-1", "wearable", "bedroom", None, "native", None)];

fn reading(secs_ago: i64, hr: f64) -> (String, Vec<u8>) {
    (
        "eldercare/v1/watch-1/telemetry".to_owned(),
        json!({"ts": now_ts(-secs_ago), "metric": "heart_rate", "value": hr}).to_string().into_bytes(),
    )
}

/// A vitals alert open when the process restarts still clears by itself once
/// the readings are back in range.
#[tokio::test]
async fn a_vitals_alert_open_across_a_restart_still_clears_itself() {
    let app = fast_app_on(Broker::start().await, fresh_database().await).await;
    let h = Home::new(&app, "Grandma", VITALS_HOME).await;
    let high: Vec<_> = (0..8).map(|i| reading(1800 - i * 60, 140.0)).collect();
    app.broker.publish_all(&high).await;
    h.wait_alert(&app, "vital_abnormal", |a| a["status"] == "open").await;
    let (broker, db) = app.stop().await;
    let app = fast_app_on(broker, db).await;
    let normal: Vec<_> = (0..15).map(|i| reading(900 - i * 60, 72.0)).collect();
    app.broker.publish_all(&normal).await;
    let cleared = h.wait_alert(&app, "vital_abnormal", |a| a["status"] == "resolved").await;
    assert_eq!(cleared["resolution"], "auto_cleared");
    assert_eq!(h.alerts(&app, "kind=vital_abnormal").await.len(), 1, "the same alert, not a second episode");
}

/// A batch of out-of-range heart rates was stored and its process died
/// before judging it (its vital inbox row is left, the vital state never
/// saw them): the engine's sweep judges them and the alert opens, once.
/// Readings of a batch the fast path judged leave no row behind.
#[tokio::test]
async fn vital_readings_stored_by_a_process_that_died_before_judging_them_are_judged_by_the_sweep() {
    let app = fast_app_on(Broker::start().await, fresh_database().await).await;
    let h = Home::new(&app, "Grandma", VITALS_HOME).await;
    // The fast path: a batch judged where it was stored leaves nothing.
    app.broker.publish_all(&[reading(3600, 72.0)]).await;
    wait_for("the reading judged on the fast path", || async {
        (app.count("select count(*) from vital_state where state is not null").await == 1
            && app.count("select count(*) from vital_inbox").await == 0)
            .then_some(())
    })
    .await;
    assert_eq!(app.metrics.vital_inbox_swept.load(Ordering::Relaxed), 0, "nothing for the sweep");

    // What a killed process leaves: the readings stored with their inbox
    // row, a minute ago, and no judgement.
    let rid: Uuid = h.rid.parse().unwrap();
    let at: Vec<chrono::DateTime<Utc>> =
        (0..8).map(|i| (Utc::now() - chrono::Duration::seconds(1800 - i * 60)).trunc_subsecs(3)).collect();
    let mut tx = app.pool.begin().await.unwrap();
    for ts in &at {
        sqlx::query(
            "insert into readings (ts, device_id, resident_id, metric, value) values ($1, 'watch-1', $2, 'heart_rate', 150)",
        )
        .bind(ts)
        .bind(rid)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    sqlx::query(
        "insert into vital_inbox (device_ids, metrics, ts, vals, received_at, enqueued_at)
         select array_fill('watch-1'::text, array[8]), array_fill('heart_rate'::text, array[8]), $1,
                array_fill(150::float8, array[8]), $1, now() - interval '1 minute'",
    )
    .bind(&at)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let alert = h.wait_alert(&app, "vital_abnormal", |a| a["status"] == "open").await;
    assert_eq!(alert["cause"], "heart_rate", "{alert}");
    wait_for("the swept row gone", || async {
        (app.count("select count(*) from vital_inbox").await == 0).then_some(())
    })
    .await;
    assert_eq!(app.metrics.vital_inbox_swept.load(Ordering::Relaxed), 8, "the eight readings, by the sweep");
    assert_eq!(h.alerts(&app, "kind=vital_abnormal").await.len(), 1);
}

/// A low-battery alert is cleared by the resident's own threshold, also by
/// the scheduler's check after a restart.
#[tokio::test]
async fn a_low_battery_alert_clears_by_the_residents_threshold_after_a_restart() {
    let app = fast_app_on(Broker::start().await, fresh_database().await).await;
    let h = Home::new(&app, "Grandma", VITALS_HOME).await;
    h.settings(&app, json!({"low_battery": {"percent": 30}})).await;
    let status = |battery: u32| json!({"online": true, "battery": battery}).to_string();
    app.broker.publish("eldercare/v1/watch-1/status", status(20)).await;
    h.wait_alert(&app, "low_battery", |a| a["status"] == "open").await;
    let (broker, db) = app.stop().await;
    let app = fast_app_on(broker, db).await;
    // 25 % is charged by the default threshold (15 % + 5), still low by hers (30 %).
    app.broker.publish("eldercare/v1/watch-1/status", status(25)).await;
    app.wait_count("select count(*) from device_state where battery = 25", 1).await;
    app.scheduler_ticks(3).await;
    assert_eq!(h.alerts(&app, "kind=low_battery").await[0]["status"], "open");
    app.broker.publish("eldercare/v1/watch-1/status", status(36)).await;
    let cleared = h.wait_alert(&app, "low_battery", |a| a["status"] == "resolved").await;
    assert_eq!(cleared["resolution"], "auto_cleared");
}

/// Activity committed late (a transaction held open while newer rows from
/// another home were committed and read) is still seen by the scheduler:
/// the inactivity episode starts from it, not from the activity before.
#[tokio::test]
async fn activity_committed_late_is_not_skipped_by_the_scheduler() {
    const TZ: chrono_tz::Tz = chrono_tz::Asia::Shanghai;
    let local = |at: chrono::DateTime<Utc>| at.with_timezone(&TZ).format("%H:%M:%S").to_string();
    let app = fast_app_on(Broker::start().await, fresh_database().await).await;
    let home: &[DeviceRow] = &[("z-kitchen", "motion_sensor", "kitchen", None, "zigbee2mqtt", Some("h/kitchen"))];
    let h = Home::new(&app, "Grandpa", home).await;
    let neighbour: &[DeviceRow] = &[("z-next", "motion_sensor", "kitchen", None, "zigbee2mqtt", Some("n/kitchen"))];
    Home::new(&app, "Neighbour", neighbour).await;
    let now = Utc::now();
    h.settings(
        &app,
        json!({"waking_hours": {"start": local(now - chrono::Duration::hours(2)),
                                "end": local(now + chrono::Duration::hours(2))},
               "no_morning_activity": {"by": local(now - chrono::Duration::hours(1))},
               "inactivity": {"hours": 0.005}}),
    )
    .await;
    app.broker.publish("zigbee2mqtt/h/kitchen", json!({"occupancy": true}).to_string()).await;
    app.wait_count("select count(*) from events where device_id = 'z-kitchen'", 1).await;
    // Movement stored by a transaction that stays open...
    let mut late = PgConnection::connect(&app.database_url).await.unwrap();
    sqlx::query("begin").execute(&mut late).await.unwrap();
    let rid: Uuid = h.rid.parse().unwrap();
    let moved_at: chrono::DateTime<Utc> = sqlx::query_scalar(
        "insert into events (ts, device_id, resident_id, kind, data)
         values (now(), 'z-kitchen', $1, 'motion', '{\"room\": \"kitchen\"}') returning ts",
    )
    .bind(rid)
    .fetch_one(&mut late)
    .await
    .unwrap();
    // ...while, more than a few seconds later, the neighbour's movement is
    // committed and read.
    let after = moved_at + chrono::Duration::milliseconds(5500);
    wait_for("the clock", || async move { (Utc::now() >= after).then_some(()) }).await;
    app.broker.publish("zigbee2mqtt/n/kitchen", json!({"occupancy": true}).to_string()).await;
    app.wait_count("select count(*) from events where device_id = 'z-next'", 1).await;
    app.scheduler_ticks(3).await;
    sqlx::query("commit").execute(&mut late).await.unwrap();
    // Quiet past the threshold (18 s) since the late movement.
    let alert = h.wait_alert(&app, "inactivity", |_| true).await;
    let expected = format!("inactivity:{}", moved_at.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    assert_eq!(alert["cause"], expected.as_str(), "the episode starts from the movement committed late");
    assert_eq!(h.alerts(&app, "kind=inactivity").await.len(), 1, "no episode from the earlier movement");
}
