//! The family API end to end: a morning published over MQTT and read back as
//! a daughter's daily summary; the message thread between family and care
//! team with its unread counts; and what a family user cannot reach.
//!
//! The resident lives in the fixed-offset zone where it is about noon when
//! the test runs, so the night before, the morning and meal windows a few
//! hours either side of now all fall on the same local day, whatever the
//! time of day the test runs at.

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, SubsecRound, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Broker, TestApp, fresh_database, wait_for};

/// The `Etc/GMT±N` zone where it is 12:xx now (the sign in those names is
/// inverted: `Etc/GMT-8` is UTC+8).
fn noon_zone(now: DateTime<Utc>) -> (String, Tz) {
    let offset = 12 - now.hour() as i32;
    let name = match offset {
        0 => "Etc/GMT".to_owned(),
        h if h > 0 => format!("Etc/GMT-{h}"),
        h => format!("Etc/GMT+{}", -h),
    };
    let tz = name.parse().expect("a valid zone");
    (name, tz)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse(v: &Value) -> DateTime<Utc> {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a time: {v}"))
}

/// A user of the admin's institution; returns its id and a token.
async fn user(app: &TestApp, admin: &str, role: &str, name: &str, email: &str) -> (String, String) {
    let password = "a long enough password";
    let body = app
        .post("/api/v1/users", admin, json!({"email": email, "password": password, "role": role, "name": name}))
        .await;
    let id = body["id"].as_str().expect("user id").to_owned();
    (id, app.login(email, password).await)
}

async fn resident(app: &TestApp, admin: &str, name: &str, timezone: &str) -> String {
    let body = app.post("/api/v1/residents", admin, json!({"name": name, "timezone": timezone, "room": "7"})).await;
    body["id"].as_str().expect("resident id").to_owned()
}

async fn link(app: &TestApp, token: &str, resident: &str, user: &str, relationship: &str) {
    app.post(
        &format!("/api/v1/residents/{resident}/family"),
        token,
        json!({"user_id": user, "relationship": relationship}),
    )
    .await;
}

async fn event(app: &TestApp, device: &str, at: DateTime<Utc>, kind: &str, data: Value) {
    let payload = json!({"ts": rfc3339(at), "event": kind, "data": data});
    app.broker.publish(&format!("eldercare/v1/{device}/event"), payload.to_string()).await;
}

/// The caller's unread count for one resident, and in total.
async fn unread(app: &TestApp, token: &str, resident: &str) -> (Option<i64>, i64) {
    let body = app.get("/api/v1/messages/unread", token).await;
    let residents = body["residents"].as_array().expect("residents");
    let count = residents.iter().find(|r| r["resident_id"] == resident).and_then(|r| r["unread"].as_i64());
    (count, body["total"].as_i64().expect("total"))
}

async fn wait_alert(app: &TestApp, token: &str, resident: &str, kind: &str) -> Value {
    wait_for(&format!("a {kind} alert"), || async {
        let body = app.get(&format!("/api/v1/alerts?resident_id={resident}&kind={kind}"), token).await;
        body["alerts"].as_array()?.first().cloned()
    })
    .await
}

#[tokio::test]
async fn a_daughter_reads_her_mothers_morning() {
    let app = TestApp::spawn_with(Broker::start().await, fresh_database().await, |s| s.scheduler.tick_ms = 200).await;
    let admin = app.admin_token().await;
    let (zone, tz) = noon_zone(Utc::now());
    let mum = resident(&app, &admin, "Mum", &zone).await;
    let (daughter_id, daughter) = user(&app, &admin, "family", "Alice", "alice@test.example").await;
    let (_, nurse) = user(&app, &admin, "staff", "Nurse Joy", "joy@test.example").await;
    link(&app, &admin, &mum, &daughter_id, "daughter").await;
    for (id, kind, room, source, external) in [
        ("watch-1", "wearable", None, "native", None),
        ("bed-1", "bed_sensor", Some("bedroom"), "native", None),
        ("pir-living", "motion_sensor", Some("living_room"), "native", None),
        ("hub-1", "health_gateway", Some("kitchen"), "native", None),
        ("pillbox-1", "pill_box", Some("kitchen"), "native", None),
        ("z-kitchen", "motion_sensor", Some("kitchen"), "zigbee2mqtt", Some("home/kitchen")),
        ("door-1", "door_sensor", Some("hall"), "native", None),
    ] {
        app.device(
            &admin,
            json!({"device_id": id, "resident_id": mum, "kind": kind, "room": room, "source": source,
                   "external_id": external, "placement": if id == "door-1" { Some("entrance") } else { None }}),
        )
        .await;
    }

    // Her normal heart rate is narrower than the institution's default.
    let (status, body) = app
        .call(
            "PUT",
            &format!("/api/v1/residents/{mum}/thresholds"),
            Some(&admin),
            Some(json!({"heart_rate": {"min": 50, "max": 100}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Breakfast is over, lunch is a window a few seconds from now that she
    // will miss, the snack is going on and tea is to come.
    // Whole milliseconds, as the published timestamps carry them.
    let now = Utc::now().trunc_subsecs(3);
    let local = |at: DateTime<Utc>| at.with_timezone(&tz).format("%H:%M:%S").to_string();
    let windows = [
        ("breakfast", now - Duration::hours(3), now - Duration::hours(2)),
        ("lunch", now + Duration::seconds(3), now + Duration::seconds(6)),
        ("snack", now - Duration::minutes(10), now + Duration::hours(1)),
        ("tea", now + Duration::hours(1), now + Duration::hours(2)),
    ];
    let body: Vec<Value> =
        windows.iter().map(|(meal, s, e)| json!({"meal": meal, "start": local(*s), "end": local(*e)})).collect();
    let (status, body) =
        app.call("PUT", &format!("/api/v1/residents/{mum}/meal-windows"), Some(&admin), Some(json!(body))).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The night and the morning, with their own timestamps.
    let today = now.with_timezone(&tz).date_naive();
    let yesterday = today.pred_opt().expect("a day before");
    let at = |date: NaiveDate, h: u32, m: u32| {
        tz.from_local_datetime(&date.and_hms_opt(h, m, 0).expect("a time"))
            .single()
            .expect("no DST in Etc zones")
            .with_timezone(&Utc)
    };
    event(&app, "bed-1", at(yesterday, 22, 30), "bed_enter", json!({})).await;
    event(&app, "bed-1", at(today, 2, 0), "bed_exit", json!({})).await;
    event(&app, "bed-1", at(today, 2, 15), "bed_enter", json!({})).await;
    event(&app, "bed-1", at(today, 6, 30), "bed_exit", json!({})).await;
    event(&app, "pir-living", at(today, 7, 0), "motion", json!({"room": "living_room"})).await;
    event(&app, "pillbox-1", at(today, 8, 5), "medication_taken", json!({})).await;
    event(&app, "pir-living", at(today, 9, 0), "motion", json!({"room": "living_room"})).await;
    let breakfast_at = now - Duration::minutes(150);
    event(&app, "hub-1", breakfast_at, "meal_eaten", json!({"meal": "breakfast"})).await;
    app.broker.publish("zigbee2mqtt/home/kitchen", json!({"occupancy": true}).to_string()).await;
    let readings = json!({"ts": rfc3339(now - Duration::hours(2)), "readings": [
        {"metric": "heart_rate", "value": 72}, {"metric": "spo2", "value": 97}]});
    app.broker.publish("eldercare/v1/watch-1/telemetry", readings.to_string()).await;
    let readings = json!({"ts": rfc3339(now - Duration::minutes(1)), "readings": [
        {"metric": "heart_rate", "value": 75}, {"metric": "body_temperature", "value": 38.4}]});
    app.broker.publish("eldercare/v1/watch-1/telemetry", readings.to_string()).await;
    app.broker.publish("eldercare/v1/watch-1/status", json!({"online": true, "battery": 10}).to_string()).await;
    app.wait_count("select count(*) from events", 9).await;
    app.wait_count("select count(*) from readings where metric in ('heart_rate', 'spo2', 'body_temperature')", 4).await;

    // An SOS the nurse dealt with, and what the rules raised by themselves.
    app.broker.publish("eldercare/v1/watch-1/event", json!({"event": "sos_pressed"}).to_string()).await;
    let sos = wait_alert(&app, &nurse, &mum, "sos").await;
    app.post(
        &format!("/api/v1/alerts/{}/resolve", sos["id"].as_str().unwrap()),
        &nurse,
        json!({"resolution": "handled"}),
    )
    .await;
    let missed = wait_alert(&app, &nurse, &mum, "missed_meal").await;
    let battery = wait_alert(&app, &nurse, &mum, "low_battery").await;

    let summary = app.get(&format!("/api/v1/residents/{mum}/summary"), &daughter).await;
    assert_eq!(summary["resident"]["id"], mum.as_str());
    assert_eq!(summary["resident"]["name"], "Mum");
    assert_eq!(summary["date"], today.to_string());
    assert_eq!(parse(&summary["day_start"]), at(today, 0, 0));
    assert_eq!(summary["away"], false);

    let meals = summary["meals"].as_array().expect("meals");
    let status: Vec<(&str, &str)> =
        meals.iter().map(|m| (m["meal"].as_str().unwrap(), m["status"].as_str().unwrap())).collect();
    assert_eq!(
        status,
        vec![("breakfast", "taken"), ("lunch", "missed"), ("snack", "in_progress"), ("tea", "upcoming")],
        "{summary:#}"
    );
    assert_eq!(meals[0]["evidence"]["kind"], "meal_eaten");
    assert_eq!(parse(&meals[0]["evidence"]["at"]), breakfast_at);
    assert_eq!(meals[1]["missed_alert_id"], missed["id"]);
    assert_eq!(meals[3]["evidence"], Value::Null);

    let activity = &summary["activity"];
    assert_eq!(activity["motion_events"], 3, "{activity:#}");
    let rooms: Vec<&str> = activity["rooms"].as_array().unwrap().iter().map(|r| r["room"].as_str().unwrap()).collect();
    assert_eq!(rooms, vec!["living_room", "kitchen"]);
    assert_eq!(parse(&activity["first_activity_at"]), at(today, 2, 0));
    assert!(parse(&activity["last_activity_at"]) > breakfast_at);
    assert_eq!(activity["bed"]["in_bed"], false);
    assert_eq!(parse(&activity["bed"]["last_exit_at"]), at(today, 6, 30));
    // In bed 22:30-02:00 and 02:15-06:00 of a 22:00-06:00 night.
    assert_eq!(activity["night"]["in_bed_minutes"], 435);
    assert_eq!(activity["night"]["bed_exits"], 1);
    assert_eq!(activity["night"]["complete"], true);
    assert_eq!(activity["medication"]["doses_taken"], 1);

    let vital = |metric: &str| {
        summary["vitals"].as_array().unwrap().iter().find(|v| v["metric"] == metric).cloned().unwrap_or(Value::Null)
    };
    let heart = vital("heart_rate");
    assert_eq!(heart["value"], 75.0);
    assert_eq!(heart["unit"], "/min");
    assert_eq!(heart["normal_range"], json!({"min": 50, "max": 100}));
    assert_eq!(heart["in_range"], true);
    assert_eq!(heart["day"], json!({"min": 72.0, "max": 75.0, "count": 2}));
    assert_eq!(vital("spo2")["in_range"], true);
    assert_eq!(vital("body_temperature")["in_range"], false, "38.4 Cel is above 38.0");
    assert_eq!(vital("blood_glucose"), Value::Null, "never measured");

    let alerts = &summary["alerts"];
    let item = |id: &Value| alerts["items"].as_array().unwrap().iter().find(|a| a["id"] == *id).cloned();
    let sos = item(&sos["id"]).expect("the SOS is in the day's alerts");
    assert_eq!((sos["status"].as_str(), sos["resolution"].as_str()), (Some("resolved"), Some("handled")));
    assert_eq!(sos["handled_by"], "Nurse Joy");
    assert_eq!(item(&missed["id"]).expect("missed lunch")["status"], "open");
    assert!(item(&battery["id"]).is_some());
    assert_eq!(alerts["resolved"], 1);
    assert_eq!(alerts["open"], 2, "{alerts:#}");

    let devices = &summary["devices"];
    assert_eq!(devices["total"], 7);
    assert_eq!(devices["never_seen"], 1, "the door sensor never spoke");
    assert_eq!(devices["low_battery"], 1);
    assert_eq!(devices["online"], 6);
    let watch = devices["items"].as_array().unwrap().iter().find(|d| d["device_id"] == "watch-1").cloned();
    assert_eq!(watch.map(|w| (w["battery"].clone(), w["low_battery"].clone())), Some((json!(10.0), json!(true))));

    // A past day is summarised too; a day to come is not.
    let day = app.get(&format!("/api/v1/residents/{mum}/summary?date={yesterday}"), &daughter).await;
    assert_eq!(day["activity"]["motion_events"], 0);
    assert_eq!(day["activity"]["bed"]["in_bed"], true, "she went to bed at 22:30");
    let tomorrow = today.succ_opt().unwrap();
    let (status, body) =
        app.call("GET", &format!("/api/v1/residents/{mum}/summary?date={tomorrow}"), Some(&daughter), None).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("date")));

    // The home screen counts what is still open.
    let home = app.get("/api/v1/me/residents", &daughter).await;
    let me = &home["residents"][0];
    assert_eq!((me["id"].as_str(), me["relationship"].as_str()), (Some(mum.as_str()), Some("daughter")));
    assert_eq!(me["open_alerts"], 2);
    assert_eq!(me["alerts_today"], 3);
    assert!(parse(&me["last_activity_at"]) > breakfast_at);
}

#[tokio::test]
async fn family_and_care_team_exchange_messages_with_unread_counts() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let mum = resident(&app, &admin, "Mum", "Asia/Shanghai").await;
    let (daughter_id, daughter) = user(&app, &admin, "family", "Alice", "alice@test.example").await;
    let (_, nurse) = user(&app, &admin, "staff", "Nurse Joy", "joy@test.example").await;
    link(&app, &admin, &mum, &daughter_id, "daughter").await;
    let thread = format!("/api/v1/residents/{mum}/messages");
    assert_eq!(unread(&app, &daughter, &mum).await, (Some(0), 0));

    let (status, asked) =
        app.call("POST", &thread, Some(&daughter), Some(json!({"text": "  How was her night?  "}))).await;
    assert_eq!(status, StatusCode::CREATED, "{asked}");
    assert_eq!(asked["text"], "How was her night?");
    assert_eq!(asked["author_name"], "Alice");
    assert_eq!(asked["author_role"], "family");
    assert_eq!(asked["author_relationship"], "daughter");
    assert_eq!(asked["mine"], true);
    assert_eq!(unread(&app, &daughter, &mum).await, (Some(0), 0), "one's own messages are never unread");
    assert_eq!(unread(&app, &nurse, &mum).await, (Some(1), 1));

    for text in ["She slept well, up once at two.", "Breakfast eaten, she asked about Sunday."] {
        app.post(&thread, &nurse, json!({"text": text})).await;
    }
    assert_eq!(unread(&app, &daughter, &mum).await, (Some(2), 2));
    let home = app.get("/api/v1/me/residents", &daughter).await;
    assert_eq!(home["residents"][0]["unread_messages"], 2);
    let home = app.get("/api/v1/me/residents", &nurse).await;
    assert_eq!(home["residents"][0]["unread_messages"], 1);
    assert_eq!(home["residents"][0]["relationship"], Value::Null);

    // Newest first, paged by the oldest id shown.
    let page = app.get(&format!("{thread}?limit=2"), &daughter).await;
    let texts: Vec<&str> = page["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, vec!["Breakfast eaten, she asked about Sunday.", "She slept well, up once at two."]);
    assert_eq!(page["messages"][0]["author_name"], "Nurse Joy");
    assert_eq!(page["messages"][0]["author_role"], "staff");
    assert_eq!(page["messages"][0]["mine"], false);
    assert_eq!(page["last_read_at"], Value::Null);
    let next = page["next_before"].as_str().expect("a next page");
    let rest = app.get(&format!("{thread}?limit=2&before={next}"), &daughter).await;
    assert_eq!(rest["messages"].as_array().unwrap().len(), 1);
    assert_eq!(rest["messages"][0]["id"], asked["id"]);
    assert_eq!(rest["next_before"], Value::Null);

    // Reading brings the count back to zero, for the reader only.
    let read = app.post(&format!("{thread}/read"), &daughter, json!(null)).await;
    assert_eq!(read["unread"], 0);
    assert_eq!(parse(&read["last_read_at"]), parse(&page["messages"][0]["created_at"]));
    assert_eq!(unread(&app, &daughter, &mum).await, (Some(0), 0));
    assert_eq!(unread(&app, &nurse, &mum).await, (Some(1), 1));
    app.post(&thread, &nurse, json!({"text": "The hairdresser comes at three."})).await;
    assert_eq!(unread(&app, &daughter, &mum).await, (Some(1), 1));
    app.post(&format!("{thread}/read"), &daughter, json!(null)).await;
    app.post(&format!("{thread}/read"), &nurse, json!(null)).await;
    assert_eq!(unread(&app, &daughter, &mum).await, (Some(0), 0));
    assert_eq!(unread(&app, &nurse, &mum).await, (Some(0), 0));

    // Bad input.
    let long = "é".repeat(4000);
    let (status, _) = app.call("POST", &thread, Some(&daughter), Some(json!({"text": long}))).await;
    assert_eq!(status, StatusCode::CREATED, "4000 characters, whatever their bytes");
    for body in [
        json!({"text": ""}),
        json!({"text": " \n "}),
        json!({"text": "x".repeat(4001)}),
        json!({}),
        json!({"text": "hi", "to": "x"}),
    ] {
        let (status, err) = app.call("POST", &thread, Some(&daughter), Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
    }
    for query in ["limit=0", "limit=1001", &format!("before={}", uuid::Uuid::new_v4())] {
        let (status, _) = app.call("GET", &format!("{thread}?{query}"), Some(&daughter), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
    }

    // Each post is on the audit trail, without its text.
    let trail = app.get("/api/v1/audit?action=message.posted", &admin).await;
    let entries = trail["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 5, "{trail:#}");
    assert!(entries.iter().all(|e| e["details"]["resident_id"] == mum.as_str() && e["details"].get("text").is_none()));
}

#[tokio::test]
async fn a_family_user_reaches_only_linked_residents() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let mum = resident(&app, &admin, "Mum", "Asia/Shanghai").await;
    let other = resident(&app, &admin, "Someone else", "Asia/Shanghai").await;
    let (daughter_id, daughter) = user(&app, &admin, "family", "Alice", "alice@test.example").await;
    link(&app, &admin, &mum, &daughter_id, "daughter").await;
    app.post(&format!("/api/v1/residents/{other}/messages"), &admin, json!({"text": "private"})).await;

    let by_id = |rid: &str| {
        [
            ("GET", format!("/api/v1/residents/{rid}/summary"), None),
            ("GET", format!("/api/v1/residents/{rid}/messages"), None),
            ("POST", format!("/api/v1/residents/{rid}/messages"), Some(json!({"text": "hello"}))),
            ("POST", format!("/api/v1/residents/{rid}/messages/read"), None),
        ]
    };
    for rid in [other.as_str(), "not-a-uuid", &uuid::Uuid::new_v4().to_string()] {
        for (method, path, body) in by_id(rid) {
            let (status, err) = app.call(method, &path, Some(&daughter), body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {err}");
            assert_eq!(err["error"]["code"], "not_found");
        }
    }
    for (method, path, body) in by_id(&mum) {
        let (status, err) = app.call(method, &path, Some(&daughter), body).await;
        assert!(status.is_success(), "{method} {path}: {status} {err}");
    }
    let count = app.count(&format!("select count(*) from messages where resident_id = '{other}'")).await;
    assert_eq!(count, 1, "nothing was posted to someone else's thread");

    let listed = |body: Value| -> Vec<String> {
        body["residents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().or(r["resident_id"].as_str()).unwrap().to_owned())
            .collect()
    };
    assert_eq!(listed(app.get("/api/v1/me/residents", &daughter).await), vec![mum.clone()]);
    assert_eq!(listed(app.get("/api/v1/messages/unread", &daughter).await), vec![mum.clone()]);
    let staff_home = listed(app.get("/api/v1/me/residents", &admin).await);
    assert_eq!(staff_home.len(), 2, "staff see the institution");

    let mut everything = Vec::from(by_id(&mum));
    everything.push(("GET", "/api/v1/me/residents".into(), None));
    everything.push(("GET", "/api/v1/messages/unread".into(), None));
    for (method, path, body) in everything {
        let (status, err) = app.call(method, &path, None, body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} without a token");
        assert_eq!(err["error"]["code"], "unauthorized");
        let (status, _) = app.call(method, &path, Some("not a token"), body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} with a bad token");
    }
}
