//! Scheduled rules end to end: windows set a few seconds around "now" in the
//! resident's own timezone, the leader's scheduler judging them.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use chrono_tz::Tz;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::home::{DeviceRow, Home};
use crate::support::{Broker, TestApp, fresh_database, wait_for};

const TZ: Tz = chrono_tz::Asia::Shanghai;

fn local(at: DateTime<Utc>) -> String {
    at.with_timezone(&TZ).format("%H:%M:%S").to_string()
}

async fn app_with(broker: Broker, db: String) -> TestApp {
    TestApp::spawn_with(broker, db, |s| s.scheduler.tick_ms = 200).await
}

const DEVICES: &[DeviceRow] = &[
    ("bed-1", "bed_sensor", "bedroom", None, "native", None),
    ("z-kitchen", "motion_sensor", "kitchen", None, "zigbee2mqtt", Some("h/kitchen")),
    ("z-door", "door_sensor", "hall", Some("entrance"), "zigbee2mqtt", Some("h/entrance")),
];

async fn home(app: &TestApp) -> Home {
    Home::new(app, "Grandpa", DEVICES).await
}

async fn wait_until(at: DateTime<Utc>) {
    wait_for("the clock", || async move { (Utc::now() >= at).then_some(()) }).await;
}

#[tokio::test]
async fn a_missed_meal_is_raised_even_across_a_restart_in_the_window() {
    let app = app_with(Broker::start().await, fresh_database().await).await;
    let h = home(&app).await;
    let t = Utc::now();
    let (lunch_start, lunch_end) = (t + Duration::seconds(2), t + Duration::seconds(5));
    // Tea's window leaves a loaded machine time to restart the backend and
    // store the tea inside it.
    let (tea_start, tea_end) = (t + Duration::seconds(6), t + Duration::seconds(30));
    let (status, body) = app
        .call(
            "PUT",
            &format!("/api/v1/residents/{}/meal-windows", h.rid),
            Some(&h.token),
            Some(json!([
            {"meal": "lunch", "start": local(lunch_start), "end": local(lunch_end)},
            {"meal": "tea", "start": local(tea_start), "end": local(tea_end)}])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["meal_windows"].as_array().unwrap().len(), 2);

    // The backend goes down in the middle of lunch and comes back after it.
    wait_until(lunch_start + Duration::seconds(1)).await;
    let (broker, db) = app.stop().await;
    wait_until(tea_start + Duration::milliseconds(500)).await;
    let app = app_with(broker, db).await;
    // Tea is eaten, inside its window.
    app.broker
        .publish("eldercare/v1/bed-1/event", json!({"event": "meal_eaten", "data": {"meal": "tea"}}).to_string())
        .await;
    app.wait_count("select count(*) from events where kind = 'meal_eaten'", 1).await;
    let alert = h.wait_alert(&app, "missed_meal", |_| true).await;
    assert_eq!(alert["details"]["meal"], "lunch");
    assert!(alert["cause"].as_str().unwrap().starts_with("lunch:"));

    // Judged once, and tea (eaten) never alerts: ticks go on past its end.
    wait_until(tea_end + Duration::seconds(1)).await;
    let ticks = || app.metrics.scheduler_ticks.load(std::sync::atomic::Ordering::Relaxed);
    let seen = ticks();
    wait_for("more scheduler ticks", || async { (ticks() >= seen + 3).then_some(()) }).await;
    let all = app.get(&format!("/api/v1/alerts?resident_id={}&kind=missed_meal", h.rid), &h.token).await;
    let meals: Vec<&str> =
        all["alerts"].as_array().unwrap().iter().map(|a| a["details"]["meal"].as_str().unwrap()).collect();
    assert_eq!(meals, vec!["lunch"], "{all}");
}

#[tokio::test]
async fn inactivity_is_raised_after_quiet_and_clears_on_movement() {
    let app = app_with(Broker::start().await, fresh_database().await).await;
    let h = home(&app).await;
    let now = Utc::now();
    h.settings(
        &app,
        json!({
        "waking_hours": {"start": local(now - Duration::hours(2)), "end": local(now + Duration::hours(2))},
        "no_morning_activity": {"by": local(now - Duration::hours(1))},
        "inactivity": {"hours": 0.001}}),
    )
    .await;
    app.broker.publish("zigbee2mqtt/h/kitchen", json!({"occupancy": true}).to_string()).await;
    let alert = h.wait_alert(&app, "inactivity", |a| a["status"] == "open").await;
    assert_eq!(alert["severity"], "high");
    app.broker.publish("zigbee2mqtt/h/kitchen", json!({"occupancy": false}).to_string()).await;
    app.broker.publish("zigbee2mqtt/h/kitchen", json!({"occupancy": true}).to_string()).await;
    let cleared = h.wait_alert(&app, "inactivity", |a| a["id"] == alert["id"] && a["status"] == "resolved").await;
    assert_eq!(cleared["resolution"], "auto_cleared");
}

/// Waits until the quiet spell is past the inactivity threshold and the
/// scheduler has judged it a few times since.
async fn wait_past_threshold(app: &TestApp, threshold_secs: i64) {
    wait_until(Utc::now() + Duration::seconds(threshold_secs + 1)).await;
    let ticks = || app.metrics.scheduler_ticks.load(std::sync::atomic::Ordering::Relaxed);
    let seen = ticks();
    wait_for("more scheduler ticks", || async { (ticks() >= seen + 3).then_some(()) }).await;
}

#[tokio::test]
async fn away_mode_suppresses_behaviour_rules_but_not_sos() {
    let app = app_with(Broker::start().await, fresh_database().await).await;
    let h = home(&app).await;
    let now = Utc::now();
    let body = h
        .settings(
            &app,
            json!({
            "away": true,
            "waking_hours": {"start": local(now - Duration::hours(2)), "end": local(now + Duration::hours(2))},
            "inactivity": {"hours": 0.0005}}),
        )
        .await;
    assert_eq!(body["away"], true);
    // Movement, then quiet past the threshold: nothing. An SOS still alerts.
    app.broker.publish("zigbee2mqtt/h/kitchen", json!({"occupancy": true}).to_string()).await;
    app.wait_count("select count(*) from events where kind = 'motion'", 1).await;
    wait_past_threshold(&app, 2).await;
    app.broker.publish("eldercare/v1/bed-1/event", json!({"event": "sos_pressed"}).to_string()).await;
    h.wait_alert(&app, "sos", |_| true).await;
    let n = app.count("select count(*) from alerts where kind in ('inactivity', 'no_morning_activity')").await;
    assert_eq!(n, 0, "away mode suppresses behaviour rules");
}

#[tokio::test]
async fn a_silent_sensor_is_a_device_problem_not_inactivity() {
    let app = app_with(Broker::start().await, fresh_database().await).await;
    let h = home(&app).await;
    let now = Utc::now();
    h.settings(
        &app,
        json!({
        "waking_hours": {"start": local(now - Duration::hours(2)), "end": local(now + Duration::hours(2))},
        "no_morning_activity": {"by": local(now - Duration::hours(1))},
        "inactivity": {"hours": 0.0005}}),
    )
    .await;
    // The resident moves, then the only activity sensor that ever reported
    // drops off the Zigbee network.
    app.broker.publish("zigbee2mqtt/h/kitchen", json!({"occupancy": true}).to_string()).await;
    app.broker.publish("zigbee2mqtt/h/kitchen/availability", "offline").await;
    wait_for("the sensor offline", || async {
        let d = app.get("/api/v1/devices/z-kitchen", &h.token).await;
        (d["online"] == false).then_some(())
    })
    .await;
    wait_past_threshold(&app, 2).await;
    assert_eq!(app.count("select count(*) from alerts where kind = 'inactivity'").await, 0);
    // Back online and still quiet: now it is the resident who is inactive.
    app.broker.publish("zigbee2mqtt/h/kitchen/availability", "online").await;
    let alert = h.wait_alert(&app, "inactivity", |a| a["status"] == "open").await;
    assert_eq!(alert["severity"], "high");
}

#[tokio::test]
async fn night_wandering_and_bed_exit_without_return() {
    let app = app_with(Broker::start().await, fresh_database().await).await;
    let h = home(&app).await;
    let now = Utc::now();
    h.settings(
        &app,
        json!({
        "night": {"start": local(now - Duration::hours(1)), "end": local(now + Duration::hours(1))},
        "night_wandering": {"return_minutes": 0.05},
        "bed_exit_no_return": {"minutes": 0.05}}),
    )
    .await;
    let ts = |d: Duration| (Utc::now() + d).to_rfc3339_opts(SecondsFormat::Millis, true);
    app.broker
        .publish("eldercare/v1/bed-1/event", json!({"ts": ts(Duration::zero()), "event": "bed_exit"}).to_string())
        .await;
    app.broker.publish("zigbee2mqtt/h/entrance", json!({"contact": false}).to_string()).await;
    let wander = h.wait_alert(&app, "night_wandering", |_| true).await;
    assert_eq!(wander["severity"], "critical");
    let bed = h.wait_alert(&app, "bed_exit_no_return", |a| a["status"] == "open").await;
    assert_eq!(bed["severity"], "high");
    app.broker
        .publish("eldercare/v1/bed-1/event", json!({"ts": ts(Duration::zero()), "event": "bed_enter"}).to_string())
        .await;
    let back = h.wait_alert(&app, "bed_exit_no_return", |a| a["status"] == "resolved").await;
    assert_eq!(back["resolution"], "auto_cleared");
}

#[tokio::test]
async fn rule_settings_read_patch_and_validate() {
    let app = app_with(Broker::start().await, fresh_database().await).await;
    let h = home(&app).await;
    let path = format!("/api/v1/residents/{}/rule-settings", h.rid);
    let defaults = app.get(&path, &h.token).await;
    assert_eq!(defaults["away"], false);
    assert_eq!(defaults["waking_hours"], json!({"start": "07:00", "end": "22:00"}));
    assert_eq!(defaults["fall_cancel_seconds"], 60);
    let patched = h.settings(&app, json!({"inactivity": {"hours": 2.5}, "night": {"start": "21:30"}})).await;
    assert_eq!(patched["inactivity"]["hours"].as_f64(), Some(2.5));
    assert_eq!(patched["night"], json!({"start": "21:30", "end": "06:00"}), "only the given keys change");
    assert_eq!(app.get(&path, &h.token).await, patched);
    for (bad, field) in [
        (json!({"unknown": 1}), "unknown"),
        (json!({"night": {"start": "25:00"}}), "night.start"),
        (json!({"inactivity": {"hours": -1}}), "inactivity.hours"),
    ] {
        let (status, body) = app.call("PATCH", &path, Some(&h.token), Some(bad)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["field"], field);
    }
    let (status, body) = app
        .call(
            "PUT",
            &format!("/api/v1/residents/{}/thresholds", h.rid),
            Some(&h.token),
            Some(json!({"heart_rate": {"min": 130, "max": 120}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = app
        .call(
            "PUT",
            &format!("/api/v1/residents/{}/thresholds", h.rid),
            Some(&h.token),
            Some(json!({"heart_rate": {"min": 45, "max": 120}, "spo2": {"min": 92}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let num = |v: &Value| v.as_f64();
    assert_eq!(num(&body["thresholds"]["heart_rate"]["min"]), Some(45.0));
    assert_eq!(num(&body["thresholds"]["heart_rate"]["max"]), Some(120.0));
    assert_eq!(num(&body["thresholds"]["spo2"]["min"]), Some(92.0));
    assert_eq!(num(&body["thresholds"]["body_temperature"]["max"]), Some(38.0), "metrics not named keep the defaults");
    let (status, _) = app
        .call(
            "PUT",
            &format!("/api/v1/residents/{}/meal-windows", h.rid),
            Some(&h.token),
            Some(json!([{"meal": "lunch", "start": "11:00"}])),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// Two processes on one database: rule settings changed through one reach
/// the rules judged by the other, which had read them before the change.
#[tokio::test]
async fn a_settings_change_through_one_process_reaches_the_rules_of_another() {
    let one = TestApp::spawn().await;
    let h = Home::new(&one, "Grandma", &[("watch-1", "wearable", "bedroom", None, "native", None)]).await;
    let other = TestApp::spawn_with(Broker::start().await, one.database_url.clone(), |_| {}).await;
    let path = format!("/api/v1/residents/{}/rule-settings", h.rid);
    let heart_rate = |value: f64| {
        let ts = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        json!({"ts": ts, "metric": "heart_rate", "value": value}).to_string()
    };
    // The other process judges a reading by the settings it reads now.
    assert_eq!(other.get(&path, &h.token).await["thresholds"]["heart_rate"]["max"], 130);
    other.broker.publish("eldercare/v1/watch-1/telemetry", heart_rate(110.0)).await;
    other.wait_count("select count(*) from readings", 1).await;

    let patch =
        json!({"thresholds": {"heart_rate": {"max": 100}}, "vitals": {"duration_minutes": 0, "min_readings": 1}});
    h.settings(&one, patch).await;
    wait_for("the change to reach the other process", || async {
        (other.get(&path, &h.token).await["thresholds"]["heart_rate"]["max"] == 100).then_some(())
    })
    .await;
    assert_eq!(one.count("select count(*) from alerts where kind = 'vital_abnormal'").await, 0);
    other.broker.publish("eldercare/v1/watch-1/telemetry", heart_rate(110.0)).await;
    let alert = h.wait_alert(&other, "vital_abnormal", |_| true).await;
    assert_eq!(alert["details"]["threshold"]["max"], 100);
}
