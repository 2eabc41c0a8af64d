//! `eldercare import casas`: the real binary on a small log written here.

use std::path::PathBuf;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde_json::Value;

use crate::support::TestApp;

const MAP: &str = r#"
M004 = {kind = "motion_sensor", room = "bedroom"}
D002 = {kind = "door_sensor", placement = "entrance"}
T001 = {kind = "motion_sensor", room = "kitchen", metric = "room_temperature"}
"#;

/// Four events, two readings, four unreadable lines (garbage, an unmapped
/// sensor, an implausible temperature, bytes that are not UTF-8), a motion
/// sensor going quiet, and a blank line.
fn log() -> Vec<u8> {
    let mut log = b"2010-11-04 00:03:50.209589 M004 ON Sleeping begin
2010-11-04 00:03:57.399391 M004 OFF
2010-11-04 05:40:51 D002 OPEN
2010-11-04 05:40:52.5 D002 CLOSE
2010-11-04 05:41:00 T001 21.5

this line is garbage
2010-11-04 05:42:00 T001 22
2010-11-04 05:43:00 M999 ON
2010-11-04 05:44:00 T001 500
"
    .to_vec();
    log.extend_from_slice(b"\xff\xfe ON\n");
    log.extend_from_slice(b"2010-11-05 07:00:00 M004 ON\n");
    log
}

struct Files {
    dir: PathBuf,
}

impl Files {
    fn new() -> Files {
        let dir = std::env::temp_dir().join(format!("eldercare-casas-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("home.txt"), log()).expect("write the log");
        std::fs::write(dir.join("map.toml"), MAP).expect("write the map");
        Files { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs the import; returns its exit success and what it printed.
async fn import(app: &TestApp, files: &Files, resident: &str, extra: &[&str]) -> (bool, Vec<String>) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_eldercare"))
        .args(["import", "casas"])
        .arg(files.path("home.txt"))
        .args(["--resident", resident, "--map"])
        .arg(files.path("map.toml"))
        .args(extra)
        .env("DATABASE_URL", &app.database_url)
        .output()
        .await
        .expect("run eldercare");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success() || !extra.is_empty(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    (out.status.success(), stdout.lines().map(str::to_owned).collect())
}

fn shanghai(date: NaiveDate, time: &str) -> DateTime<Utc> {
    let local = date.and_time(time.parse().expect("time"));
    chrono_tz::Asia::Shanghai.from_local_datetime(&local).single().expect("local time").with_timezone(&Utc)
}

async fn rows(app: &TestApp, resident: &str) -> (Vec<(String, String, DateTime<Utc>, Value)>, Vec<(String, f64)>) {
    let id: uuid::Uuid = resident.parse().expect("uuid");
    let events =
        sqlx::query_as("select e.device_id, e.kind, e.ts, e.data from events e where e.resident_id = $1 order by e.ts")
            .bind(id)
            .fetch_all(&app.pool)
            .await
            .expect("events");
    let readings = sqlx::query_as("select metric, value from readings where resident_id = $1 order by ts")
        .bind(id)
        .fetch_all(&app.pool)
        .await
        .expect("readings");
    (events, readings)
}

#[tokio::test]
async fn a_casas_log_becomes_history_once() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let resident = app.resident(&token, "Mrs Wang").await;
    let files = Files::new();

    let (_, printed) = import(&app, &files, &resident, &[]).await;
    assert_eq!(printed.last().map(String::as_str), Some("imported: 4 events, 2 readings; unreadable lines: 4"));
    assert!(printed.iter().any(|l| l == "sensors not in the map: M999 (1)"), "{printed:?}");
    assert!(printed.iter().any(|l| l.starts_with("unreadable line 7: ")), "{printed:?}");

    let (events, readings) = rows(&app, &resident).await;
    let day = NaiveDate::from_ymd_opt(2010, 11, 4).expect("date");
    let simple = resident.replace('-', "");
    let kinds: Vec<(&str, &str)> = events.iter().map(|(d, k, _, _)| (d.as_str(), k.as_str())).collect();
    let (motion, door) = (format!("casas-{simple}-M004"), format!("casas-{simple}-D002"));
    assert_eq!(
        kinds,
        vec![
            (motion.as_str(), "motion"),
            (door.as_str(), "door_opened"),
            (door.as_str(), "door_closed"),
            (motion.as_str(), "motion")
        ]
    );
    // Local time in the resident's timezone, to the microsecond.
    assert_eq!(events[0].2, shanghai(day, "00:03:50.209589"));
    assert_eq!(events[0].2.to_rfc3339(), "2010-11-03T16:03:50.209589+00:00");
    assert_eq!(events[2].2, shanghai(day, "05:40:52.5"));
    assert_eq!(events[0].3["room"], "bedroom");
    assert_eq!(events[0].3["label"], "Sleeping begin");
    assert_eq!(events[1].3["door"], "entrance");
    assert_eq!(readings, vec![("room_temperature".to_owned(), 21.5), ("room_temperature".to_owned(), 22.0)]);

    // The devices are history: no broker account, never online or offline,
    // nothing judged live.
    let imported = format!("select count(*) from devices where device_id like 'casas-{simple}-%'");
    assert_eq!(app.count(&imported).await, 3);
    assert_eq!(app.count(&format!("{imported} and historical and resident_id = '{resident}'")).await, 3);
    assert_eq!(app.count("select count(*) from mqtt_accounts where device_id like 'casas-%'").await, 0);
    let health = eldercare::store::devices::health(&app.pool).await.expect("health");
    assert!(health.iter().all(|d| !d.device_id.starts_with("casas-")), "the offline check never sees them");
    let listed = app.get(&format!("/api/v1/devices?resident_id={resident}"), &token).await;
    let listed = listed["devices"].as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(listed.iter().all(|d| d["online"].is_null() && d["last_seen_at"].is_null()), "{listed:?}");
    assert_eq!(app.count("select count(*) from rule_inbox").await, 0);
    assert_eq!(app.count(&format!("select count(*) from alerts where resident_id = '{resident}'")).await, 0);
    assert_eq!(app.count("select count(*) from quarantine").await, 0, "unreadable lines are counted, not quarantined");

    // A second run stores nothing twice.
    let (_, printed) = import(&app, &files, &resident, &[]).await;
    assert_eq!(printed.last().map(String::as_str), Some("imported: 0 events, 0 readings; unreadable lines: 4"));
    assert!(printed.iter().any(|l| l.contains("stored by an earlier import: 6")), "{printed:?}");
    assert_eq!(rows(&app, &resident).await, (events, readings));
    assert_eq!(app.count(&imported).await, 3);
}

#[tokio::test]
async fn shift_to_end_moves_the_log_by_whole_days() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let resident = app.resident(&token, "Mr Li").await;
    let files = Files::new();
    let end = (Utc::now() - Duration::days(1)).date_naive();
    let (_, printed) = import(&app, &files, &resident, &["--shift-to-end", &end.to_string()]).await;
    assert_eq!(printed.last().map(String::as_str), Some("imported: 4 events, 2 readings; unreadable lines: 4"));
    let (events, _) = rows(&app, &resident).await;
    let first = events.first().expect("events").2;
    let last = events.last().expect("events").2;
    assert_eq!(last, shanghai(end, "07:00:00"), "the log ends on the date given, at its own time of day");
    assert_eq!(first, shanghai(end - Duration::days(1), "00:03:50.209589"));
    // Older than 30 days would be refused live; history is not. The first
    // event is at most two days before yesterday's UTC date, plus the eight
    // hours Shanghai is ahead: under four days whatever the hour.
    assert!(Utc::now() - first < Duration::days(4), "{first}");

    let (ok, _) = import(&app, &files, &resident, &["--shift-to-end", "yesterday"]).await;
    assert!(!ok, "a date that is not YYYY-MM-DD is refused");
}

#[tokio::test]
async fn a_sensor_offline_in_an_imported_log_is_replayed_by_the_backtest_as_device_offline() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let resident = app.resident(&token, "Mrs Zhao").await;
    let files = Files::new();
    // The bedroom sensor dies on the 5th and is back on the 6th; the door
    // sensor goes on the 7th and never comes back.
    let log = "2010-11-04 08:00:00 M004 ON
2010-11-04 08:00:05 M004 OFF
2010-11-05 10:00:00 M004 OFFLINE
2010-11-06 12:30:00 M004 ONLINE
2010-11-06 12:31:00 M004 ON
2010-11-07 09:00:00 D002 OFFLINE
";
    std::fs::write(files.path("home.txt"), log).expect("write the log");
    let (_, printed) = import(&app, &files, &resident, &[]).await;
    assert_eq!(printed.last().map(String::as_str), Some("imported: 2 events, 0 readings; unreadable lines: 0"));
    assert!(printed.iter().any(|l| l == "device status changes (OFFLINE, ONLINE) stored: 3"), "{printed:?}");
    let (events, _) = rows(&app, &resident).await;
    assert_eq!(events.len(), 2, "a status line is no event");
    let history = format!("select count(*) from device_status_history where resident_id = '{resident}'");
    assert_eq!(app.count(&format!("{history} and reason = 'imported'")).await, 3);
    assert_eq!(
        app.count(&format!("select count(*) from alerts where resident_id = '{resident}'")).await,
        0,
        "no live alert"
    );
    // Imported again: nothing stored twice.
    let (_, printed) = import(&app, &files, &resident, &[]).await;
    assert!(!printed.iter().any(|l| l.starts_with("device status changes")), "{printed:?}");
    assert_eq!(app.count(&history).await, 3);

    let body = serde_json::json!({"from": "2010-11-04T00:00:00+08:00", "to": "2010-11-08T00:00:00+08:00"});
    let path = format!("/api/v1/residents/{resident}/backtest");
    let (status, report) = app.call("POST", &path, Some(&token), Some(body)).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{report}");
    let offline: Vec<(String, String, String, Value, String)> = report["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter(|a| a["kind"] == "device_offline")
        .map(|a| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                text(&a["cause"]),
                text(&a["severity"]),
                text(&a["opened_at"]),
                a["cleared_at"].clone(),
                text(&a["details"]["reason"]),
            )
        })
        .collect();
    let simple = resident.replace('-', "");
    let at = |day: u32, time: &str| shanghai(NaiveDate::from_ymd_opt(2010, 11, day).expect("date"), time);
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    assert_eq!(
        offline,
        vec![
            (
                format!("casas-{simple}-M004"),
                "medium".to_owned(),
                stamp(at(5, "10:00:00")),
                Value::String(stamp(at(6, "12:30:00"))),
                "reported_offline".to_owned()
            ),
            (
                format!("casas-{simple}-D002"),
                "medium".to_owned(),
                stamp(at(7, "09:00:00")),
                Value::Null,
                "reported_offline".to_owned()
            ),
        ],
        "{report:#}"
    );
    assert_eq!(report["by_kind"]["device_offline"], 2);
}
