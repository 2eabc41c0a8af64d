//! The resident's status: behaviour rules quiet while they are not at home
//! (a button still alarms), visits and meals suspended for the period and
//! back on return, no lateness for someone not there, a death final and
//! ending devices and plans.

use chrono::{DateTime, Duration, NaiveTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::home::{DeviceRow, Home};
use crate::support::{Broker, TestApp, fresh_database, wait_for};

const TZ: Tz = chrono_tz::Asia::Shanghai;

fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn local(at: DateTime<Utc>) -> String {
    at.with_timezone(&TZ).format("%H:%M:%S").to_string()
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(Broker::start().await, fresh_database().await, |s| s.scheduler.tick_ms = 200).await
}

async fn set_status(app: &TestApp, token: &str, resident: &str, body: Value) -> (StatusCode, Value) {
    app.call("PUT", &format!("/api/v1/residents/{resident}/status"), Some(token), Some(body)).await
}

/// Waits for a few more scheduler ticks than have run.
async fn ticks(app: &TestApp, n: u64) {
    let count = || app.metrics.scheduler_ticks.load(std::sync::atomic::Ordering::Relaxed);
    let seen = count();
    wait_for("more scheduler ticks", || async { (count() >= seen + n).then_some(()) }).await;
}

const DEVICES: &[DeviceRow] = &[
    ("bed-s", "bed_sensor", "bedroom", None, "native", None),
    ("z-kitchen-s", "motion_sensor", "kitchen", None, "zigbee2mqtt", Some("s/kitchen")),
];

#[tokio::test]
async fn in_hospital_behaviour_alerts_are_resolved_and_none_raised_but_a_button_still_alarms() {
    let app = spawn().await;
    let h = Home::new(&app, "Grandpa", DEVICES).await;
    let admin = h.token.clone();
    let now = Utc::now();
    h.settings(
        &app,
        json!({"waking_hours": {"start": local(now - Duration::hours(2)), "end": local(now + Duration::hours(2))},
               "inactivity": {"hours": 0.0005}}),
    )
    .await;
    app.broker.publish("zigbee2mqtt/s/kitchen", json!({"occupancy": true}).to_string()).await;
    let quiet = h.wait_alert(&app, "inactivity", |a| a["status"] == "open").await;

    let (status, body) =
        set_status(&app, &admin, &h.rid, json!({"status": "in_hospital", "note": "hip surgery, Ward 3"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "in_hospital");
    assert_eq!(body["note"], "hip surgery, Ward 3");
    assert_eq!(body["history"].as_array().unwrap().len(), 1);
    let resolved = app.get(&format!("/api/v1/alerts/{}", quiet["id"].as_str().unwrap()), &admin).await;
    assert_eq!((&resolved["status"], &resolved["resolution"]), (&json!("resolved"), &json!("auto_cleared")));
    let timeline = app.get(&format!("/api/v1/alerts/{}/timeline", quiet["id"].as_str().unwrap()), &admin).await;
    let last = timeline["entries"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["details"]["details"]["resident_status"], "in_hospital", "{timeline}");

    // Movement and quiet again, judged many times: nothing. An SOS alarms.
    app.broker.publish("zigbee2mqtt/s/kitchen", json!({"occupancy": false}).to_string()).await;
    app.broker.publish("zigbee2mqtt/s/kitchen", json!({"occupancy": true}).to_string()).await;
    app.wait_count("select count(*) from events where kind = 'motion'", 2).await;
    wait_for("the threshold", || async { (Utc::now() >= now + Duration::seconds(3)).then_some(()) }).await;
    ticks(&app, 5).await;
    app.broker.publish("eldercare/v1/bed-s/event", json!({"event": "sos_pressed"}).to_string()).await;
    h.wait_alert(&app, "sos", |_| true).await;
    assert_eq!(app.count("select count(*) from alerts where kind = 'inactivity'").await, 1);

    // The resident reads as in hospital; back home, active again.
    assert_eq!(app.get(&format!("/api/v1/residents/{}", h.rid), &admin).await["status"], "in_hospital");
    let list = app.get("/api/v1/residents", &admin).await;
    assert_eq!(list["residents"][0]["status"], "in_hospital");
    let (status, body) = set_status(&app, &admin, &h.rid, json!({"status": "active"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let got = app.get(&format!("/api/v1/residents/{}/status", h.rid), &admin).await;
    assert_eq!(got["status"], "active");
    let statuses: Vec<&str> =
        got["history"].as_array().unwrap().iter().map(|p| p["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["in_hospital", "active"]);
    assert_eq!(app.count("select count(*) from audit_log where action = 'resident.status_changed'").await, 2);
}

/// A resident in Shanghai with a daily bath at 13:00 and lunch every day.
async fn cared_for(app: &TestApp, admin: &str, name: &str) -> String {
    let rid = app.resident(admin, name).await;
    let every_day = json!(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]);
    let plan = json!({"items": [{"service_code": "HC-BATH", "funding": "ltc_insurance",
        "schedule": {"days": every_day, "start": "13:00"}, "hours_per_month": 40}]});
    let (status, body) = app.call("PUT", &format!("/api/v1/residents/{rid}/care-plan"), Some(admin), Some(plan)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    rid
}

async fn count_visits(app: &TestApp, rid: &str, status: &str, reason: Option<&str>) -> i64 {
    let reason = reason.map_or("cancel_reason is null".to_owned(), |r| format!("cancel_reason = '{r}'"));
    app.count(&format!(
        "select count(*) from visits where resident_id = '{rid}' and origin = 'plan' and status = '{status}' and {reason}"
    ))
    .await
}

#[tokio::test]
async fn visits_and_meals_stop_for_the_stay_come_back_after_it_and_nobody_is_late_for_someone_away() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let service = json!({"code": "HC-BATH", "name": "Bathing assistance", "category": "personal_care",
        "duration_minutes": 60, "unit": "hour", "unit_price": 80.0, "currency": "CNY",
        "funding": ["ltc_insurance", "self_pay"], "evv_required": true, "tasks": []});
    app.post("/api/v1/services", &admin, service).await;
    let kitchen = app
        .post("/api/v1/kitchens", &admin, json!({"name": "Canteen", "cutoff": "23:59", "prices": {"lunch": 12}}))
        .await;
    let before = Utc::now();
    let rid = cared_for(&app, &admin, "Wang Fang").await;
    let every_day = json!({"mon": ["lunch"], "tue": ["lunch"], "wed": ["lunch"], "thu": ["lunch"], "fri": ["lunch"], "sat": ["lunch"], "sun": ["lunch"]});
    let meal_plan = json!({"kitchen_id": kitchen["id"], "delivery": "home", "funding": "subsidy", "days": every_day});
    let (status, body) =
        app.call("PUT", &format!("/api/v1/residents/{rid}/meal-plan"), Some(&admin), Some(meal_plan)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let planned = count_visits(&app, &rid, "scheduled", None).await;
    // Fourteen local days, today's 13:00 only while it is still ahead.
    let ahead = |at: DateTime<Utc>| {
        if at.with_timezone(&TZ).time() < NaiveTime::from_hms_opt(13, 0, 0).unwrap() { 14 } else { 13 }
    };
    assert!([ahead(before), ahead(Utc::now())].contains(&planned), "{planned} visits planned");
    let tomorrow = (Utc::now().with_timezone(&TZ) + Duration::days(1)).date_naive();
    let lunch_tomorrow = format!(
        "select status || ':' || coalesce(cancel_reason, '') from meal_orders where resident_id = '{rid}' and date = '{tomorrow}'"
    );
    let lunch = || async {
        sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(lunch_tomorrow.clone())).fetch_one(&app.pool).await.unwrap()
    };
    assert_eq!(lunch().await, "planned:");

    // Away for four days from now: those days' visits and meals stop.
    let now = Utc::now();
    let (status, body) = set_status(
        &app,
        &admin,
        &rid,
        json!({"status": "away", "from": ts(now), "until": ts(now + Duration::days(4))}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["until"], ts(now + Duration::days(4)));
    let cancelled = count_visits(&app, &rid, "cancelled", Some("client_not_home")).await;
    assert!((3..=5).contains(&cancelled), "{cancelled} visits in four days");
    assert_eq!(lunch().await, "cancelled:suspended");
    let visits_after = app
        .count(&format!(
            "select count(*) from visits where resident_id = '{rid}' and status = 'scheduled' and scheduled_start < '{}'",
            ts(now + Duration::days(4))
        ))
        .await;
    assert_eq!(visits_after, 0);

    // Back early: the plan's visits and the meals come back.
    let (status, body) = set_status(&app, &admin, &rid, json!({"status": "active"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(lunch().await, "planned:");
    let scheduled = count_visits(&app, &rid, "scheduled", None).await;
    // The same fortnight again (a visit fewer if today's 13:00 passed since).
    let passed_since = ahead(Utc::now()) < planned;
    assert!(scheduled == planned || (passed_since && scheduled == planned - 1), "{scheduled} of {planned} again");

    // In hospital since two hours ago: the visit due ten minutes ago goes,
    // and one made by hand during the stay is never late.
    let ago = app
        .post(
            "/api/v1/visits",
            &admin,
            json!({"resident_id": rid, "service_code": "HC-BATH", "scheduled_start": ts(Utc::now() - Duration::minutes(10)), "funding": "self_pay"}),
        )
        .await;
    let (status, body) =
        set_status(&app, &admin, &rid, json!({"status": "in_hospital", "from": ts(Utc::now() - Duration::hours(2))}))
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ago = app.get(&format!("/api/v1/visits/{}", ago["id"].as_str().unwrap()), &admin).await;
    assert_eq!((&ago["status"], &ago["cancel_reason"]), (&json!("cancelled"), &json!("client_hospitalised")));
    let during = app
        .post(
            "/api/v1/visits",
            &admin,
            json!({"resident_id": rid, "service_code": "HC-BATH", "scheduled_start": ts(Utc::now() - Duration::hours(1)), "funding": "self_pay"}),
        )
        .await;
    // A resident at home, with the same visit, is late: the sweep ran.
    let control = cared_for(&app, &admin, "Zhao Lei").await;
    app.post(
        "/api/v1/visits",
        &admin,
        json!({"resident_id": control, "service_code": "HC-BATH", "scheduled_start": ts(Utc::now() - Duration::hours(1)), "funding": "self_pay"}),
    )
    .await;
    wait_for("the control's visit_late", || async {
        (app.count(&format!("select count(*) from alerts where kind = 'visit_late' and resident_id = '{control}'"))
            .await
            > 0)
        .then_some(())
    })
    .await;
    ticks(&app, 3).await;
    assert_eq!(
        app.count(&format!("select count(*) from alerts where resident_id = '{rid}' and kind like 'visit_%'")).await,
        0
    );
    let during = app.get(&format!("/api/v1/visits/{}", during["id"].as_str().unwrap()), &admin).await;
    assert_eq!(during["status"], "scheduled");

    // Statements count none of it: no visit was verified, no meal delivered.
    let month = Utc::now().with_timezone(&TZ).format("%Y-%m");
    let statement = app.get(&format!("/api/v1/statements?month={month}&funding=self_pay"), &admin).await;
    assert_eq!(statement["total"]["visits"], 0);
    let meals = app.get(&format!("/api/v1/meal-statements?month={month}&funding=subsidy"), &admin).await;
    assert_eq!(meals["total"]["meals"], 0);
}

#[tokio::test]
async fn a_death_is_final_revokes_the_devices_and_ends_the_plans() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let rid = app.resident(&admin, "Wang Fang").await;
    let device = app.device(&admin, json!({"device_id": "sos-final", "resident_id": rid, "kind": "sos_button"})).await;
    assert!(device["mqtt"].is_object(), "{device}");
    app.broker.publish("eldercare/v1/sos-final/event", json!({"event": "sos_pressed"}).to_string()).await;
    wait_for("the SOS", || async {
        (app.count("select count(*) from alerts where kind = 'sos' and status = 'open'").await == 1).then_some(())
    })
    .await;
    let kitchen = app.post("/api/v1/kitchens", &admin, json!({"name": "Canteen", "cutoff": "23:59"})).await;
    let meal_plan =
        json!({"kitchen_id": kitchen["id"], "delivery": "home", "funding": "subsidy", "days": {"mon": ["lunch"]}});
    app.call("PUT", &format!("/api/v1/residents/{rid}/meal-plan"), Some(&admin), Some(meal_plan)).await;

    let (status, body) =
        set_status(&app, &admin, &rid, json!({"status": "deceased", "note": "peacefully at home"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.count("select count(*) from mqtt_accounts where username = 'sos-final'").await, 0);
    assert_eq!(app.count("select count(*) from alerts where status <> 'resolved'").await, 0);
    assert_eq!(app.count("select count(*) from meal_plans").await, 0);
    assert_eq!(app.get(&format!("/api/v1/residents/{rid}/care-plan"), &admin).await["items"], json!([]));

    for body in [json!({"status": "active"}), json!({"status": "deceased"})] {
        let (status, answer) = set_status(&app, &admin, &rid, body).await;
        assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    }
    assert_eq!(app.get(&format!("/api/v1/residents/{rid}"), &admin).await["status"], "deceased");
}

#[tokio::test]
async fn changes_that_cannot_be_are_refused_and_others_do_not_see_the_status() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let rid = app.resident(&admin, "Wang Fang").await;
    let now = Utc::now();
    let cases = [
        (json!({"status": "discharged", "until": ts(now + Duration::days(1))}), "until"),
        (json!({"status": "in_hospital", "from": ts(now), "until": ts(now)}), "until"),
        (json!({"status": "away", "from": ts(now), "until": ts(now - Duration::hours(1))}), "until"),
        (json!({"status": "away", "from": ts(now - Duration::days(31))}), "from"),
        (json!({"status": "deceased", "from": ts(now + Duration::days(1))}), "from"),
    ];
    for (body, field) in cases {
        let (status, answer) = set_status(&app, &admin, &rid, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    for body in [json!({"status": "on_holiday"}), json!({"status": "away", "reason": "x"}), json!({})] {
        let (status, answer) = set_status(&app, &admin, &rid, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
    }
    // Discharged, then back.
    let (status, _) = set_status(&app, &admin, &rid, json!({"status": "discharged"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = set_status(&app, &admin, &rid, json!({"status": "active"})).await;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &json!("active")));

    let family = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": "fam@test.example", "password": "long enough pw", "role": "family", "name": "Li"}),
        )
        .await;
    app.post(
        &format!("/api/v1/residents/{rid}/family"),
        &admin,
        json!({"user_id": family["id"], "relationship": "son"}),
    )
    .await;
    let family = app.login("fam@test.example", "long enough pw").await;
    let (status, _) = app.call("GET", &format!("/api/v1/residents/{rid}/status"), Some(&family), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = set_status(&app, &family, &rid, json!({"status": "away"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let operator = app.operator_token().await;
    let other = app
        .post(
            "/api/v1/institutions",
            &operator,
            json!({"name": "Riverside", "kind": "home_care", "region": "North", "timezone": "Asia/Shanghai"}),
        )
        .await;
    app.post(
        &format!("/api/v1/institutions/{}/users", other["id"].as_str().unwrap()),
        &operator,
        json!({"email": "oa@test.example", "password": "long enough pw", "role": "admin", "name": "OA"}),
    )
    .await;
    let other_admin = app.login("oa@test.example", "long enough pw").await;
    let (status, _) = app.call("GET", &format!("/api/v1/residents/{rid}/status"), Some(&other_admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = set_status(&app, &other_admin, &rid, json!({"status": "deceased"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/api/v1/residents/{rid}/status"), &admin).await["status"], "active");
}
