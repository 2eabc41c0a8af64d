//! The rule backtest against the live rules: a simulated week of one
//! resident, judged by the live path (the ingest's streaming and vital-sign
//! rules as the data is stored, then the scheduler's behaviour rules stepped
//! through the week tick by tick) and replayed by the backtest, which must
//! agree; other settings give another answer; bad input is refused; nothing
//! is written.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;

use crate::support::home::{DeviceRow, Home};
use crate::support::{Broker, TestApp, fresh_database, wait_for};

const TZ: Tz = chrono_tz::Asia::Shanghai;
/// The scheduler tick of both paths: coarse, so the live week steps fast.
const TICK_MS: u64 = 300_000;

const DEVICES: &[DeviceRow] = &[
    ("m-kitchen", "motion_sensor", "kitchen", None, "native", None),
    ("m-living", "motion_sensor", "living_room", None, "native", None),
    ("m-bedroom", "motion_sensor", "bedroom", None, "native", None),
    ("m-hall", "motion_sensor", "hall", None, "native", None),
    ("door-1", "door_sensor", "hall", Some("entrance"), "native", None),
    ("bed-1", "bed_sensor", "bedroom", None, "native", None),
    ("watch-1", "wearable", "bedroom", None, "native", None),
];

/// Local midnight nine days ago: the week is well inside the live path's
/// 30 days and ends before the last 36 hours.
fn week_start() -> DateTime<Utc> {
    let date = (Utc::now() - Duration::days(9)).with_timezone(&TZ).date_naive();
    local(date, "00:00")
}

fn local(date: NaiveDate, hm: &str) -> DateTime<Utc> {
    let time = NaiveTime::parse_from_str(hm, "%H:%M").unwrap_or_else(|e| panic!("{hm}: {e}"));
    TZ.from_local_datetime(&date.and_time(time)).earliest().expect("a local time").with_timezone(&Utc)
}

fn stamp(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What one day holds, besides an ordinary day.
#[derive(Clone, Copy, PartialEq)]
enum Day {
    Ordinary,
    /// No movement from lunch until five.
    QuietAfternoon,
    /// No lunch.
    MissedLunch,
    /// Out of bed and out of the door at two in the morning, back at three.
    NightOut,
    /// A tachycardia in the afternoon.
    RacingHeart,
    /// An SOS, and a fall cancelled by the resident.
    Alarms,
    /// Out past the hall sensor from 10:30 to 16:00: lunch out.
    Out,
    /// A parcel taken in at the door at 10:30, and a collapse in the hall
    /// right after closing it: nothing moves until a neighbour finds her.
    HallCollapse,
    /// At home all day, then out of the door at 19:00, back at 23:30.
    EveningOut,
}

struct Messages(Vec<(String, Vec<u8>)>);

impl Messages {
    fn event(&mut self, device: &str, ts: DateTime<Utc>, event: &str, data: Value) {
        let body = json!({"ts": stamp(ts), "event": event, "data": data});
        self.0.push((format!("eldercare/v1/{device}/event"), body.to_string().into_bytes()));
    }

    fn motion(&mut self, device: &str, ts: DateTime<Utc>) {
        self.event(device, ts, "motion", json!({}));
    }

    fn heart_rate(&mut self, ts: DateTime<Utc>, value: f64) {
        let body = json!({"ts": stamp(ts), "metric": "heart_rate", "value": value});
        self.0.push(("eldercare/v1/watch-1/telemetry".to_owned(), body.to_string().into_bytes()));
    }

    fn day(&mut self, date: NaiveDate, day: Day) {
        let at = |hm: &str| local(date, hm);
        if day == Day::NightOut {
            self.event("bed-1", at("01:55"), "bed_exit", json!({}));
            self.event("door-1", at("02:00"), "door_opened", json!({"door": "entrance"}));
            self.event("door-1", at("02:01"), "door_closed", json!({"door": "entrance"}));
            self.motion("m-hall", at("03:00"));
            self.event("bed-1", at("03:05"), "bed_enter", json!({}));
        }
        self.event("bed-1", at("06:30"), "bed_exit", json!({}));
        self.motion("m-bedroom", at("06:31"));
        let entrance = json!({"door": "entrance"});
        if day == Day::EveningOut {
            for (first, second) in [("07:30", "07:34"), ("12:00", "12:04"), ("17:30", "17:34")] {
                self.motion("m-kitchen", at(first));
                self.motion("m-kitchen", at(second));
            }
            for hour in [8, 9, 10, 11, 13, 14, 15, 16, 18] {
                self.motion("m-living", at(&format!("{hour:02}:30")));
            }
            self.motion("m-living", at("18:58"));
            self.event("door-1", at("19:00"), "door_opened", entrance.clone());
            self.event("door-1", at("19:00") + Duration::seconds(20), "door_closed", entrance.clone());
            self.event("door-1", at("23:30"), "door_opened", entrance.clone());
            self.event("door-1", at("23:30") + Duration::seconds(20), "door_closed", entrance);
            self.motion("m-living", at("23:31"));
            self.event("bed-1", at("23:40"), "bed_enter", json!({}));
            return;
        }
        if day == Day::Out || day == Day::HallCollapse {
            self.motion("m-kitchen", at("07:30"));
            self.motion("m-kitchen", at("07:34"));
            self.motion("m-hall", at("10:28"));
            self.event("door-1", at("10:30"), "door_opened", entrance.clone());
            if day == Day::HallCollapse {
                self.motion("m-hall", at("10:32"));
                self.event("door-1", at("10:33"), "door_closed", entrance);
                return;
            }
            self.event("door-1", at("10:30") + Duration::seconds(20), "door_closed", entrance.clone());
            self.event("door-1", at("16:00"), "door_opened", entrance.clone());
            self.event("door-1", at("16:00") + Duration::seconds(20), "door_closed", entrance);
            self.motion("m-hall", at("16:01"));
            for (hm, device) in
                [("16:30", "m-living"), ("18:00", "m-kitchen"), ("18:04", "m-kitchen"), ("19:30", "m-living")]
            {
                self.motion(device, at(hm));
            }
            self.motion("m-bedroom", at("21:40"));
            self.event("bed-1", at("21:45"), "bed_enter", json!({}));
            return;
        }
        // A stay in the kitchen is a meal.
        let mut meals = vec![("07:30", "07:34"), ("18:00", "18:04")];
        if day != Day::MissedLunch {
            meals.push(("12:00", "12:04"));
        }
        for (first, second) in meals {
            self.motion("m-kitchen", at(first));
            self.motion("m-kitchen", at(second));
        }
        for hour in [8, 9, 10, 11, 13, 14, 15, 16, 17, 19, 20, 21] {
            if day == Day::QuietAfternoon && (13..=16).contains(&hour) {
                continue;
            }
            self.motion("m-living", at(&format!("{hour:02}:30")));
        }
        self.motion("m-bedroom", at("21:40"));
        self.event("bed-1", at("21:45"), "bed_enter", json!({}));
        if day == Day::Alarms {
            self.event("watch-1", at("10:00"), "sos_pressed", json!({}));
            self.event("watch-1", at("16:00"), "fall_detected", json!({"confidence": 0.9}));
            self.event("watch-1", at("16:00") + Duration::seconds(30), "fall_cancelled", json!({}));
        }
        // The wearable every five minutes, racing from 14:00 to 14:30.
        for i in 0..288 {
            let ts = at("00:00") + Duration::minutes(5 * i);
            let racing = day == Day::RacingHeart && ts >= at("14:00") && ts <= at("14:30");
            self.heart_rate(ts, if racing { 150.0 } else { 70.0 });
        }
    }
}

impl Messages {
    /// The same messages in a home without a hall motion sensor.
    fn without_hall_sensor(mut self) -> Messages {
        self.0.retain(|(topic, _)| !topic.contains("/m-hall/"));
        self
    }
}

/// An app whose own scheduler never leads (the test holds the leader lock
/// and steps the scheduler's behaviour rules itself), with the test's tick.
async fn app_without_leader() -> (TestApp, sqlx::PgConnection) {
    let db = fresh_database().await;
    let mut lock = sqlx::PgConnection::connect(&db).await.expect("connect");
    sqlx::query("select pg_advisory_lock($1)")
        .bind(eldercare::scheduler::LEADER_LOCK)
        .execute(&mut lock)
        .await
        .expect("leader lock");
    let app = TestApp::spawn_with(Broker::start().await, db, |s| {
        s.scheduler.tick_ms = TICK_MS;
        s.watchdog.scheduler_stall_seconds = 86_400;
    })
    .await;
    (app, lock)
}

/// The live alerts of a resident from `from` on: (kind, cause, condition_at, resolved).
async fn live_alerts(app: &TestApp, rid: &str, from: DateTime<Utc>) -> Vec<(String, String, DateTime<Utc>, bool)> {
    let rid: uuid::Uuid = rid.parse().expect("uuid");
    let mut rows: Vec<(String, String, DateTime<Utc>, bool)> = sqlx::query_as(
        "select kind, cause, condition_at, status = 'resolved' from alerts
         where resident_id = $1 and condition_at >= $2 order by condition_at",
    )
    .bind(rid)
    .bind(from)
    .fetch_all(&app.pool)
    .await
    .expect("alerts");
    rows.sort();
    rows
}

async fn backtest(app: &TestApp, h: &Home, body: Value) -> Value {
    let path = format!("/api/v1/residents/{}/backtest", h.rid);
    let (status, report) = app.call("POST", &path, Some(&h.token), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    report
}

#[tokio::test]
async fn the_backtest_raises_what_the_live_rules_raised_over_a_simulated_week() {
    let (app, _lock) = app_without_leader().await;
    let h = Home::new(&app, "Mrs Wang", DEVICES).await;
    let from = week_start();
    let to = from + Duration::days(7);
    // The resident was watched from before the week's look-back.
    sqlx::query("update residents set created_at = $1 where id = $2::uuid")
        .bind(from - eldercare::scheduler::LOOKBACK)
        .bind(&h.rid)
        .execute(&app.pool)
        .await
        .expect("backdate the resident");

    let first = from.with_timezone(&TZ).date_naive();
    let days = [
        Day::Ordinary,
        Day::Ordinary,
        Day::QuietAfternoon,
        Day::MissedLunch,
        Day::NightOut,
        Day::RacingHeart,
        Day::Alarms,
        Day::Ordinary,
    ];
    let mut messages = Messages(Vec::new());
    // The day before the week too: both paths start with it in their look-back.
    for (i, day) in days.iter().enumerate() {
        messages.day(first + Duration::days(i as i64 - 1), *day);
    }
    let (readings, events) = messages.0.iter().partition::<Vec<_>, _>(|(topic, _)| topic.ends_with("/telemetry"));
    let (readings, events) = (readings.len() as i64, events.len() as i64);
    app.broker.publish_all(&messages.0).await;
    app.wait_count("select count(*) from events", events).await;
    app.wait_count("select count(*) from readings", readings).await;
    // The engine has judged the last of them (readings in order).
    h.wait_alert(&app, "vital_abnormal", |a| a["status"] == "resolved").await;
    h.wait_alert(&app, "fall", |a| a["status"] == "resolved").await;

    // The live scheduler's behaviour rules, stepped through the week.
    let mut behaviour = eldercare::scheduler::Behaviour::new();
    let cache = eldercare::store::settings::SettingsCache::default();
    let devices = eldercare::store::devices::health(&app.pool).await.expect("devices");
    let mut now = from;
    while now < to {
        behaviour.tick(&app.pool, &cache, &app.metrics, &devices, now).await.expect("tick");
        now += Duration::milliseconds(TICK_MS as i64);
    }
    let live = live_alerts(&app, &h.rid, from).await;
    let kinds: Vec<&str> = live.iter().map(|a| a.0.as_str()).collect();
    for kind in ["inactivity", "missed_meal", "night_wandering", "bed_exit_no_return", "vital_abnormal", "sos", "fall"]
    {
        assert!(kinds.contains(&kind), "live raised no {kind}: {live:?}");
    }

    let report = backtest(&app, &h, json!({"from": stamp(from), "to": stamp(to)})).await;
    let replayed: Vec<&Value> = report["alerts"].as_array().expect("alerts").iter().collect();
    assert_eq!(replayed.len(), live.len(), "live {live:?}\nbacktest {replayed:#?}");
    let tick = Duration::milliseconds(TICK_MS as i64);
    for (kind, cause, condition_at, resolved) in &live {
        let found = replayed.iter().find(|a| {
            let opened: DateTime<Utc> = a["opened_at"].as_str().and_then(|s| s.parse().ok()).expect("opened_at");
            a["kind"] == kind.as_str() && a["cause"] == cause.as_str() && (opened - *condition_at).abs() <= tick
        });
        let Some(found) = found else { panic!("{kind} {cause} at {condition_at} not in the backtest: {replayed:#?}") };
        assert_eq!(!found["cleared_at"].is_null(), *resolved, "{kind} {cause}: cleared as live? {found}");
    }
    assert_eq!(report["days"], 7);
    let count = |report: &Value, kind: &str| report["by_kind"][kind].as_u64().unwrap_or(0);
    assert_eq!(count(&report, "missed_meal"), 1);
    assert_eq!(report["per_week"]["missed_meal"], 1.0);

    // Other settings, another answer: half an hour of quiet is inactivity,
    // and lunch by 11:45 is missed every day.
    let eager = backtest(
        &app,
        &h,
        json!({"from": stamp(from), "to": stamp(to), "settings": {"inactivity": {"hours": 0.5}},
               "meal_windows": [{"meal": "lunch", "start": "11:00", "end": "11:45"}]}),
    )
    .await;
    assert!(count(&eager, "inactivity") > count(&report, "inactivity"), "{eager}");
    assert_eq!(count(&eager, "missed_meal"), 7, "{eager}");
    // A wider heart-rate band takes the afternoon's 150 in its stride.
    let wide = backtest(
        &app,
        &h,
        json!({"from": stamp(from), "to": stamp(to), "thresholds": {"heart_rate": {"min": 40, "max": 160}}}),
    )
    .await;
    assert_eq!(count(&report, "vital_abnormal"), 1);
    assert_eq!(count(&wide, "vital_abnormal"), 0, "{wide}");
    assert_eq!(count(&wide, "sos"), 1, "{wide}");
}

#[tokio::test]
async fn the_backtest_refuses_bad_input_hides_other_institutions_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let h = Home::new(&app, "Mr Li", DEVICES).await;
    let from = week_start();
    let to = from + Duration::days(1);
    let mut messages = Messages(Vec::new());
    messages.day(from.with_timezone(&TZ).date_naive(), Day::Alarms);
    let events = messages.0.iter().filter(|(topic, _)| topic.ends_with("/event")).count() as i64;
    app.broker.publish_all(&messages.0).await;
    app.wait_count("select count(*) from events", events).await;
    h.wait_alert(&app, "sos", |_| true).await;
    h.wait_alert(&app, "fall", |a| a["status"] == "resolved").await;
    // The live alerts' notification jobs (SOS opened, fall opened and
    // resolved) are taken by the notification worker after the alerts
    // commit: wait until it has worked them off, so the counts below compare
    // the backtest alone.
    wait_for("the notification jobs worked off", || async {
        (app.count("select count(*) from notification_jobs").await == 0).then_some(())
    })
    .await;

    let tables =
        ["alerts", "alert_events", "audit_log", "webhook_deliveries", "notification_jobs", "events", "readings"];
    let mut before = Vec::new();
    for table in tables {
        before.push(app.count(&format!("select count(*) from {table}")).await);
    }
    let report = backtest(&app, &h, json!({"from": stamp(from), "to": stamp(to)})).await;
    assert_eq!(report["by_kind"]["sos"], 1, "{report}");
    assert_eq!(report["by_kind"]["fall"], 1, "{report}");

    let path = format!("/api/v1/residents/{}/backtest", h.rid);
    let day = |d: i64| stamp(from + Duration::days(d));
    for (body, field) in [
        (json!({"from": day(1), "to": day(1)}), "to"),
        (json!({"from": day(1), "to": day(0)}), "to"),
        (json!({"from": day(-400), "to": day(0)}), "to"),
        (json!({"from": day(0), "to": day(1), "settings": {"inactivity": {"hours": -1}}}), "inactivity.hours"),
        (json!({"from": day(0), "to": day(1), "settings": {"bedtime": "22:00"}}), "bedtime"),
        (json!({"from": day(0), "to": day(1), "meal_windows": {"meal": "lunch"}}), "meal_windows"),
        (
            json!({"from": day(0), "to": day(1), "meal_windows": [{"meal": "lunch", "start": "25:00", "end": "13:00"}]}),
            "meal_windows[0].start",
        ),
        (
            json!({"from": day(0), "to": day(1), "thresholds": {"heart_rate": {"min": "fast"}}}),
            "thresholds.heart_rate.min",
        ),
    ] {
        let (status, answer) = app.call("POST", &path, Some(&h.token), Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "validation_failed", "{answer}");
        assert!(answer["error"]["field"].as_str().unwrap_or("").contains(field), "{body}: {answer}");
    }
    for body in [
        json!({"from": "yesterday", "to": day(1)}),
        json!({"to": day(1)}),
        json!({"from": day(0), "to": day(1), "window": 3}),
    ] {
        let (status, answer) = app.call("POST", &path, Some(&h.token), Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
    }

    let mut after = Vec::new();
    for table in tables {
        after.push(app.count(&format!("select count(*) from {table}")).await);
    }
    assert_eq!(after, before, "{tables:?}");

    // Another institution's admin does not know this resident exists.
    let operator = app.operator_token().await;
    let other = app
        .post(
            "/api/v1/institutions",
            &operator,
            json!({"name": "Elsewhere", "kind": "care_home", "region": "South", "timezone": "Asia/Shanghai"}),
        )
        .await;
    let other = other["id"].as_str().expect("id");
    app.post(
        &format!("/api/v1/institutions/{other}/users"),
        &operator,
        json!({"email": "else@test.example", "password": "long enough pw", "role": "admin", "name": "Else"}),
    )
    .await;
    let stranger = app.login("else@test.example", "long enough pw").await;
    let (status, answer) = app.call("POST", &path, Some(&stranger), Some(json!({"from": day(0), "to": day(1)}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
}

#[tokio::test]
async fn the_backtest_judges_no_behaviour_while_the_resident_is_recorded_away() {
    let app = TestApp::spawn().await;
    let h = Home::new(&app, "Mrs Zhao", DEVICES).await;
    let from = week_start();
    let to = from + Duration::days(3);
    let first = from.with_timezone(&TZ).date_naive();
    let mut messages = Messages(Vec::new());
    for (i, day) in [Day::Ordinary, Day::QuietAfternoon, Day::MissedLunch, Day::Alarms].into_iter().enumerate() {
        messages.day(first + Duration::days(i as i64 - 1), day);
    }
    let events = messages.0.iter().filter(|(topic, _)| topic.ends_with("/event")).count() as i64;
    app.broker.publish_all(&messages.0).await;
    app.wait_count("select count(*) from events", events).await;

    let window = json!({"from": stamp(from), "to": stamp(to)});
    let behaviour = ["inactivity", "missed_meal", "no_morning_activity", "night_wandering", "bed_exit_no_return"];
    let opened_in = |report: &Value, lo: DateTime<Utc>, hi: DateTime<Utc>| -> Vec<String> {
        report["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .filter(|a| {
                let opened: DateTime<Utc> = a["opened_at"].as_str().and_then(|s| s.parse().ok()).expect("opened_at");
                opened >= lo && opened < hi
            })
            .map(|a| a["kind"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    // At home, the quiet afternoon and the missed lunch are alerts.
    let at_home = backtest(&app, &h, window.clone()).await;
    let home_kinds = opened_in(&at_home, from, to);
    for kind in ["inactivity", "missed_meal", "sos"] {
        assert!(home_kinds.iter().any(|k| k == kind), "no {kind} at home: {at_home}");
    }

    let path = format!("/api/v1/residents/{}/status", h.rid);
    let record = |body: Value| {
        let (app, path, token) = (&app, path.clone(), h.token.clone());
        async move {
            let (status, answer) = app.call("PUT", &path, Some(&token), Some(body)).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
        }
    };

    // Away on the second day (recorded afterwards, backdated): the first
    // day's quiet afternoon is still an alert, the lunch not eaten while
    // away is not, and the SOS of the third day still counts.
    let (away_from, away_to) = (from + Duration::days(1), from + Duration::days(2));
    record(json!({"status": "away", "from": stamp(away_from), "until": stamp(away_to)})).await;
    let away = backtest(&app, &h, window.clone()).await;
    assert!(opened_in(&away, from, away_from).iter().any(|k| k == "inactivity"), "{away}");
    let during = opened_in(&away, away_from, away_to);
    assert!(!during.iter().any(|k| behaviour.contains(&k.as_str())), "behaviour alerts while away: {away}");
    assert!(!opened_in(&away, from, to).iter().any(|k| k == "missed_meal"), "{away}");
    assert!(opened_in(&away, away_to, to).iter().any(|k| k == "sos"), "{away}");

    // In hospital for the whole window: no behaviour alert at all; the SOS
    // pressed there still counts.
    record(json!({"status": "in_hospital", "from": stamp(from), "until": stamp(to), "note": "hip"})).await;
    let in_hospital = backtest(&app, &h, window).await;
    let kinds = opened_in(&in_hospital, from, to);
    assert!(
        !kinds.iter().any(|k| behaviour.contains(&k.as_str())),
        "behaviour alerts while in hospital: {in_hospital}"
    );
    assert_eq!(kinds, vec!["sos".to_owned(), "fall".to_owned()], "{in_hospital}");
}

/// Motion in the kitchen every ten seconds for `days` from `from`, stored
/// as the ingest stores it: a history whose replay judges the behaviour
/// rules twice a motion over a day and a half of look-back each time, so
/// one day of it takes longer to replay than the request timeout (30 s)
/// in a test build.
async fn busy_days(app: &TestApp, h: &Home, from: DateTime<Utc>, days: i64) {
    sqlx::query(
        "insert into events (ts, device_id, resident_id, kind, data, received_at)
         select t, 'm-kitchen', $1::uuid, 'motion', '{}', t
         from generate_series($2::timestamptz, $3::timestamptz, interval '10 seconds') t",
    )
    .bind(&h.rid)
    .bind(from)
    .bind(from + Duration::days(days))
    .execute(&app.pool)
    .await
    .expect("a busy history");
}

fn replaying(app: &TestApp) -> u64 {
    app.metrics.backtests_replaying.load(std::sync::atomic::Ordering::Relaxed)
}

#[tokio::test]
async fn a_backtest_stops_when_its_client_goes_and_only_then_gives_its_place_back() {
    let db = fresh_database().await;
    let app = TestApp::spawn_with(Broker::start().await, db, |s| s.backtest.max_concurrent = 1).await;
    let h = Home::new(&app, "Mr Sun", DEVICES).await;
    let from = week_start();
    busy_days(&app, &h, from - eldercare::scheduler::LOOKBACK, 7).await;
    let path = format!("/api/v1/residents/{}/backtest", h.rid);

    // A client asks for a long replay, and goes away while it runs.
    let long = json!({"from": stamp(from), "to": stamp(from + Duration::days(5))});
    let client = tokio::spawn({
        let (request, token) = (app.http.post(app.url(&path)).json(&long), h.token.clone());
        async move { request.bearer_auth(token).send().await.map(|r| r.status()) }
    });
    wait_for("the long replay to run", || async { (replaying(&app) == 1).then_some(()) }).await;
    // While it replays it holds the only place.
    let short = json!({"from": stamp(from), "to": stamp(from + Duration::hours(1))});
    let (status, answer) = app.call("POST", &path, Some(&h.token), Some(short.clone())).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    client.abort();
    assert!(client.await.is_err_and(|e| e.is_cancelled()), "the client went away before an answer");

    // The replay notices and stops; then, and only then, the place is free.
    wait_for("the abandoned replay to stop", || async { (replaying(&app) == 0).then_some(()) }).await;
    let (status, answer) = app.call("POST", &path, Some(&h.token), Some(short)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let metrics = app.http.get(app.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("\neldercare_backtests_replaying 0\n"), "{metrics}");
}

#[tokio::test]
async fn each_answered_backtest_is_in_the_access_log_of_the_resident() {
    let app = TestApp::spawn().await;
    let h = Home::new(&app, "Mrs Qian", DEVICES).await;
    let from = week_start();
    let sql = format!("select count(*) from access_log where kind = 'backtest' and resident_id = '{}'", h.rid);
    let logged = || app.count(&sql);
    assert_eq!(logged().await, 0);
    let window = json!({"from": stamp(from), "to": stamp(from + Duration::hours(6))});
    backtest(&app, &h, window.clone()).await;
    backtest(&app, &h, window).await;
    assert_eq!(logged().await, 2, "one row per backtest");
    let (user, role): (uuid::Uuid, String) = sqlx::query_as(
        "select user_id, role from access_log where kind = 'backtest' and resident_id = $1::uuid limit 1",
    )
    .bind(&h.rid)
    .fetch_one(&app.pool)
    .await
    .expect("the row");
    let me = app.get("/api/v1/me", &h.token).await;
    assert_eq!((user.to_string(), role.as_str()), (me["id"].as_str().unwrap_or_default().to_owned(), "admin"));

    // The institution's access log lists it, by kind.
    let list = app.get(&format!("/api/v1/access-log?resident_id={}", h.rid), &h.token).await;
    assert!(list["entries"].as_array().is_some_and(|e| e.iter().any(|x| x["kind"] == "backtest")), "{list}");

    // A refused backtest read nothing and is not logged.
    let backwards = json!({"from": stamp(from + Duration::hours(6)), "to": stamp(from)});
    let path = format!("/api/v1/residents/{}/backtest", h.rid);
    let (status, _) = app.call("POST", &path, Some(&h.token), Some(backwards)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(logged().await, 2);
}

/// The behaviour kinds of the alerts a report opened from `from` on.
fn behaviour_opened(report: &Value, from: DateTime<Utc>) -> Vec<(String, DateTime<Utc>)> {
    let behaviour = ["inactivity", "missed_meal", "no_morning_activity", "night_wandering", "bed_exit_no_return"];
    report["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter_map(|a| {
            let opened: DateTime<Utc> = a["opened_at"].as_str().and_then(|s| s.parse().ok())?;
            let kind = a["kind"].as_str()?;
            (opened >= from && behaviour.contains(&kind)).then(|| (kind.to_owned(), opened))
        })
        .collect()
}

#[tokio::test]
async fn a_week_out_every_day_raises_no_inactivity_and_no_missed_meal() {
    let app = TestApp::spawn().await;
    let h = Home::new(&app, "Mrs Li", DEVICES).await;
    let from = week_start();
    let first = from.with_timezone(&TZ).date_naive();
    let mut messages = Messages(Vec::new());
    for i in -1..7 {
        messages.day(first + Duration::days(i), Day::Out);
    }
    app.broker.publish_all(&messages.0).await;
    app.wait_count("select count(*) from events", messages.0.len() as i64).await;
    let report = backtest(&app, &h, json!({"from": stamp(from), "to": stamp(from + Duration::days(7))})).await;
    assert_eq!(behaviour_opened(&report, from), [], "out past the hall sensor every day: {report}");
    // Staff read the routine her weeks taught: up at half past six, out
    // at half past ten, back by four, lunch never at home.
    let routine = app.get(&format!("/api/v1/residents/{}/routine", h.rid), &h.token).await;
    assert_eq!(routine["learned"], true, "{routine}");
    assert!(routine["days"].as_u64().is_some_and(|d| d >= 7), "{routine}");
    assert_eq!(routine["rising"], "06:30", "{routine}");
    assert_eq!(routine["outings"]["usual_leave"], "10:30", "{routine}");
    assert_eq!(routine["outings"]["latest_return"], "16:00", "{routine}");
    let lunch = routine["meals"].as_array().unwrap().iter().find(|m| m["meal"] == "lunch").cloned().unwrap();
    assert_eq!(lunch["usual"], Value::Null, "{routine}");
    // Not believing her out (a door nobody is seen passing), the same week
    // is a week of alerts: what spares her them is presence.
    let settings = json!({"presence": {"out_after_minutes": 1440}});
    let doubting =
        backtest(&app, &h, json!({"from": stamp(from), "to": stamp(from + Duration::days(7)), "settings": settings}))
            .await;
    let kinds: Vec<String> = behaviour_opened(&doubting, from).into_iter().map(|(k, _)| k).collect();
    assert!(kinds.iter().any(|k| k == "inactivity") && kinds.iter().any(|k| k == "missed_meal"), "{doubting}");
}

#[tokio::test]
async fn a_collapse_in_the_hall_after_closing_the_door_raises_inactivity_on_time() {
    let app = TestApp::spawn().await;
    let h = Home::new(&app, "Mrs Li", DEVICES).await;
    let from = week_start();
    let first = from.with_timezone(&TZ).date_naive();
    let mut messages = Messages(Vec::new());
    for i in -1..3 {
        messages.day(first + Duration::days(i), Day::Out);
    }
    let collapse_day = first + Duration::days(3);
    messages.day(collapse_day, Day::HallCollapse);
    app.broker.publish_all(&messages.0).await;
    app.wait_count("select count(*) from events", messages.0.len() as i64).await;
    let window = json!({"from": stamp(from), "to": stamp(local(collapse_day, "18:00"))});
    let report = backtest(&app, &h, window).await;
    let closed = local(collapse_day, "10:33");
    let opened = behaviour_opened(&report, from);
    let inactivity: Vec<&DateTime<Utc>> = opened.iter().filter(|(k, _)| k == "inactivity").map(|(_, at)| at).collect();
    // The threshold is three hours of quiet (and the replay's tick).
    assert_eq!(inactivity.len(), 1, "{report}");
    assert!(*inactivity[0] >= closed + Duration::hours(3), "{report}");
    assert!(*inactivity[0] <= closed + Duration::hours(3) + Duration::minutes(5), "{report}");
    assert!(opened.iter().all(|(_, at)| *at >= local(collapse_day, "00:00")), "nothing before that day: {report}");
}

/// The home's devices but the hall's motion sensor: nobody can be seen
/// walking out.
fn without_hall_sensor() -> Vec<DeviceRow> {
    DEVICES.iter().copied().filter(|d| d.0 != "m-hall").collect()
}

#[tokio::test]
async fn without_a_hall_sensor_her_usual_outings_are_believed_and_an_unusual_one_is_asked_about() {
    let (app, _lock) = app_without_leader().await;
    let devices = without_hall_sensor();
    let h = Home::new(&app, "Mrs Zhou", &devices).await;
    let from = week_start();
    let to = from + Duration::days(2);
    let first = from.with_timezone(&TZ).date_naive();
    sqlx::query("update residents set created_at = $1 where id = $2::uuid")
        .bind(from - Duration::days(12))
        .bind(&h.rid)
        .execute(&app.pool)
        .await
        .expect("backdate the resident");
    // Ten days out from 10:30 to 16:00, the first day of the window the
    // same, then a day at home that ends with the door at 19:00.
    let mut messages = Messages(Vec::new());
    for i in -10..=0 {
        messages.day(first + Duration::days(i), Day::Out);
    }
    messages.day(first + Duration::days(1), Day::EveningOut);
    let messages = messages.without_hall_sensor();
    app.broker.publish_all(&messages.0).await;
    app.wait_count("select count(*) from events", messages.0.len() as i64).await;

    // The live scheduler's leader learns her routine once a local day and
    // stores it; then judges the two days with it.
    let mut behaviour = eldercare::scheduler::Behaviour::new();
    let cache = eldercare::store::settings::SettingsCache::default();
    let health = eldercare::store::devices::health(&app.pool).await.expect("devices");
    let mut now = from;
    while now < to {
        behaviour.tick(&app.pool, &cache, &app.metrics, &health, now).await.expect("tick");
        if now == from {
            let (learned_for, routine): (NaiveDate, Value) =
                sqlx::query_as("select learned_for, routine from resident_routines where resident_id = $1::uuid")
                    .bind(&h.rid)
                    .fetch_one(&app.pool)
                    .await
                    .expect("a stored routine");
            assert_eq!(learned_for, first);
            assert_eq!(routine["learned"], true, "{routine}");
            assert_eq!(routine["days"], 10, "the ten days before, not the first: {routine}");
            assert_eq!(routine["outings"]["leave_earliest"], "10:30", "{routine}");
        }
        now += Duration::milliseconds(TICK_MS as i64);
    }
    let live = live_alerts(&app, &h.rid, from).await;
    let day_two = local(first + Duration::days(1), "00:00");
    // Her usual outing is believed: no inactivity, lunch eaten out.
    assert!(live.iter().all(|a| a.2 >= day_two), "nothing on her usual day out: {live:?}");
    // The evening's door is not her habit: the family is asked at 19:30
    // (cleared when she is back). Unsure whether she is home, inactivity
    // keeps the configured three hours of waking time, which end at 22:00
    // with her still quiet: nothing more before she is back at 23:30.
    let closed = local(first + Duration::days(1), "19:00") + Duration::seconds(20);
    let check = live.iter().find(|a| a.0 == "presence_check").unwrap_or_else(|| panic!("no check: {live:?}"));
    assert_eq!((check.2, check.3), (closed + Duration::minutes(30), true), "{live:?}");
    assert_eq!(live.len(), 1, "{live:?}");

    // The family's summary reads the stored routine too: her usual day out
    // shows lunch eaten out, as the rules judged it.
    let summary = app.get(&format!("/api/v1/residents/{}/summary?date={first}", h.rid), &h.token).await;
    let lunch = summary["meals"].as_array().expect("meals").iter().find(|m| m["meal"] == "lunch").cloned();
    assert_eq!(lunch.map(|m| m["status"].clone()), Some(json!("eaten_out")), "{summary}");

    // The backtest learns the same routine from the days before each day
    // and raises the same.
    let report = backtest(&app, &h, json!({"from": stamp(from), "to": stamp(to)})).await;
    let replayed: Vec<(String, String)> = report["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|a| {
            (a["kind"].as_str().unwrap_or_default().to_owned(), a["cause"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    let mut replayed = replayed;
    replayed.sort();
    let expected: Vec<(String, String)> = live.iter().map(|a| (a.0.clone(), a.1.clone())).collect();
    assert_eq!(replayed, expected, "{report}");
    // Without learning, the door at 19:00 is only a question, and the
    // usual outing is the quiet house of the old rules.
    let unlearned =
        backtest(&app, &h, json!({"from": stamp(from), "to": stamp(to), "settings": {"routine": {"learn": false}}}))
            .await;
    let kinds: Vec<&str> = unlearned["alerts"].as_array().unwrap().iter().filter_map(|a| a["kind"].as_str()).collect();
    assert!(kinds.contains(&"inactivity") && kinds.contains(&"presence_check"), "{unlearned}");
    assert!(
        unlearned["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "inactivity" && a["opened_at"].as_str().is_some_and(|t| t < stamp(day_two).as_str())),
        "{unlearned}"
    );
}

/// The time zone where `now` is just past noon: the test's morning is
/// daytime whenever it runs.
fn noon_zone(now: DateTime<Utc>) -> String {
    use chrono::Timelike;
    match 12 - now.hour() as i32 {
        0 => "Etc/GMT".to_owned(),
        h if h > 0 => format!("Etc/GMT-{h}"),
        h => format!("Etc/GMT+{}", -h),
    }
}

#[tokio::test]
async fn a_carer_s_check_in_answers_whether_she_is_home_and_the_carer_leaving_is_not_her_going_out() {
    let (app, _lock) = app_without_leader().await;
    let h = Home::new(&app, "Mrs Qian", &without_hall_sensor()).await;
    let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 0);
    let home = json!({"lat": 29.8683, "lon": 121.5440});
    let patch = json!({"timezone": noon_zone(now), "location": home});
    let (status, body) = app.call("PATCH", &format!("/api/v1/residents/{}", h.rid), Some(&h.token), Some(patch)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    sqlx::query("update residents set created_at = $1 where id = $2::uuid")
        .bind(now - Duration::days(1))
        .bind(&h.rid)
        .execute(&app.pool)
        .await
        .expect("backdate the resident");
    // The morning: up at three hours ago, the entrance door at two hours
    // ago with nobody seen leaving (no hall sensor, no routine learned yet).
    let start = now - Duration::hours(3);
    let closed = start + Duration::hours(1) + Duration::seconds(20);
    let mut messages = Messages(Vec::new());
    messages.motion("m-living", start);
    messages.event("door-1", start + Duration::hours(1), "door_opened", json!({"door": "entrance"}));
    messages.event("door-1", closed, "door_closed", json!({"door": "entrance"}));
    // A carer's welfare check, recorded at the door by a phone that was
    // offline: in fifty minutes after the door, out an hour later; the
    // carer walks out two minutes after checking out, and she naps.
    let (check_in, check_out) = (closed + Duration::minutes(50), closed + Duration::minutes(110));
    let carer_leaves = check_out + Duration::minutes(2);
    messages.event("door-1", carer_leaves, "door_opened", json!({"door": "entrance"}));
    messages.event("door-1", carer_leaves + Duration::seconds(15), "door_closed", json!({"door": "entrance"}));
    app.broker.publish_all(&messages.0).await;
    app.wait_count("select count(*) from events", messages.0.len() as i64).await;
    let carer = app
        .post(
            "/api/v1/users",
            &h.token,
            json!({"email": "carer.zhao@test.example", "password": "a long enough password", "role": "caregiver", "name": "Zhao Min"}),
        )
        .await;
    crate::support::certify(&app, &h.token, carer["id"].as_str().expect("the carer")).await;
    let carer_token = app.login("carer.zhao@test.example", "a long enough password").await;
    let visit = app
        .post(
            "/api/v1/visits",
            &h.token,
            json!({"resident_id": h.rid, "service_code": "WELFARE-CHECK", "scheduled_start": stamp(check_in), "funding": "institution"}),
        )
        .await;
    let visit = visit["id"].as_str().expect("visit id").to_owned();
    let act = |action: &'static str, body: Value| {
        let (app, visit) = (&app, visit.clone());
        let token = if action == "assign" { h.token.clone() } else { carer_token.clone() };
        async move {
            let (status, body) =
                app.call("POST", &format!("/api/v1/visits/{visit}/{action}"), Some(&token), Some(body)).await;
            assert!(status.is_success(), "{action}: {status} {body}");
        }
    };
    act("assign", json!({"caregiver_id": carer["id"]})).await;
    let door = |at: DateTime<Utc>| json!({"location": {"lat": 29.8683, "lon": 121.5440, "accuracy_m": 10}, "method": "gps", "ts": stamp(at)});
    act("check-in", door(check_in)).await;
    act("check-out", door(check_out)).await;

    // The scheduler's leader steps through the morning minute by minute.
    let mut behaviour = eldercare::scheduler::Behaviour::new();
    let cache = eldercare::store::settings::SettingsCache::default();
    let health = eldercare::store::devices::health(&app.pool).await.expect("devices");
    let mut at = start;
    while at <= now {
        behaviour.tick(&app.pool, &cache, &app.metrics, &health, at).await.expect("tick");
        at += Duration::minutes(1);
    }
    // Unsure from the door: the family is asked half an hour on, and the
    // carer's check-in answers it. The carer leaving asks nothing more.
    let live = live_alerts(&app, &h.rid, start).await;
    let asked: Vec<_> = live.iter().filter(|a| a.0 == "presence_check").collect();
    assert_eq!(asked.len(), 1, "{live:?}");
    let due = closed + Duration::minutes(30);
    assert!(asked[0].2 >= due && asked[0].2 < due + Duration::minutes(1) && asked[0].3, "{live:?}");
    let cleared: Value = sqlx::query_scalar(
        "select e.details from alert_events e join alerts a on a.id = e.alert_id
         where a.resident_id = $1::uuid and a.kind = 'presence_check' and e.details ? 'condition_ended_at'",
    )
    .bind(&h.rid)
    .fetch_one(&app.pool)
    .await
    .expect("the check's clearing");
    let back_at: DateTime<Utc> = cleared["details"]["back_at"].as_str().and_then(|t| t.parse().ok()).expect("back_at");
    assert_eq!(back_at, check_in, "{cleared}");

    // The stored periods, as staff and the family read them: in, unsure
    // from the door, in from the check-in, and still in.
    let presence = app.get(&format!("/api/v1/residents/{}/presence?from={}", h.rid, stamp(start)), &h.token).await;
    let periods: Vec<(String, String, Value)> = presence["periods"]
        .as_array()
        .expect("periods")
        .iter()
        .map(|p| {
            (p["presence"].as_str().unwrap().to_owned(), p["from"].as_str().unwrap().to_owned(), p["until"].clone())
        })
        .collect();
    let t = |ts: DateTime<Utc>| ts.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    assert_eq!(
        periods,
        vec![
            ("in".to_owned(), t(start), json!(t(closed))),
            ("unsure".to_owned(), t(closed), json!(t(check_in))),
            ("in".to_owned(), t(check_in), Value::Null),
        ],
        "{presence}"
    );
    // The family sees the same.
    let summary = app.get(&format!("/api/v1/residents/{}/summary", h.rid), &h.token).await;
    assert_eq!(summary["presence"]["state"], "in", "{summary}");

    // The backtest replays the same from the visits.
    let report = backtest(&app, &h, json!({"from": stamp(start), "to": stamp(now)})).await;
    let replayed: Vec<(&str, &str)> = report["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|a| (a["kind"].as_str().unwrap_or_default(), a["cause"].as_str().unwrap_or_default()))
        .collect();
    let expected: Vec<(&str, &str)> = live.iter().map(|a| (a.0.as_str(), a.1.as_str())).collect();
    assert_eq!(replayed, expected, "{report}");
}
