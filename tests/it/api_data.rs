use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::TestApp;

async fn insert_reading(app: &TestApp, resident: &str, ts: DateTime<Utc>, metric: &str, value: f64) {
    sqlx::query("insert into readings (ts, device_id, resident_id, metric, value) values ($1, 'watch-1', $2, $3, $4)")
        .bind(ts)
        .bind(Uuid::parse_str(resident).unwrap())
        .bind(metric)
        .bind(value)
        .execute(&app.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn readings_raw_and_bucketed() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let rid = app.resident(&token, "Chen Jie").await;
    let t0: DateTime<Utc> = "2026-11-28T08:00:00Z".parse().unwrap();
    // 08:00..08:09, one a minute, values 60..69; one spo2 that must not mix in.
    for i in 0..10 {
        insert_reading(&app, &rid, t0 + Duration::minutes(i), "heart_rate", 60.0 + i as f64).await;
    }
    insert_reading(&app, &rid, t0, "spo2", 97.0).await;

    let q =
        format!("/api/v1/residents/{rid}/readings?metric=heart_rate&from=2026-11-28T08:00:00Z&to=2026-11-28T09:00:00Z");
    let raw = app.get(&q, &token).await;
    assert_eq!(raw["metric"], "heart_rate");
    assert_eq!(raw["unit"], "/min");
    let points = raw["points"].as_array().unwrap();
    assert_eq!(points.len(), 10);
    assert_eq!(points[0], json!({"ts": "2026-11-28T08:00:00Z", "value": 60.0}));
    assert_eq!(points[9]["value"], 69.0);

    let bucketed = app.get(&format!("{q}&bucket=5m"), &token).await;
    let b = bucketed["points"].as_array().unwrap();
    assert_eq!(b.len(), 2);
    assert_eq!(b[0], json!({"ts": "2026-11-28T08:00:00Z", "avg": 62.0, "min": 60.0, "max": 64.0, "count": 5}));
    assert_eq!(b[1], json!({"ts": "2026-11-28T08:05:00Z", "avg": 67.0, "min": 65.0, "max": 69.0, "count": 5}));
    let hourly = app.get(&format!("{q}&bucket=1h"), &token).await;
    assert_eq!(hourly["points"][0]["count"], 10);
    assert_eq!(hourly["points"][0]["avg"], 64.5);

    for (bad, field) in [
        (format!("/api/v1/residents/{rid}/readings?metric=mood"), "metric"),
        (format!("{q}&bucket=7m"), "bucket"),
        (
            format!(
                "/api/v1/residents/{rid}/readings?metric=heart_rate&from=2026-11-29T00:00:00Z&to=2026-11-28T00:00:00Z"
            ),
            "from",
        ),
    ] {
        let (status, body) = app.call("GET", &bad, Some(&token), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(body["error"]["field"], field);
    }
    let (status, body) = app
        .call("GET", &format!("/api/v1/residents/{rid}/readings?metric=heart_rate&from=yesterday"), Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = app.call("GET", &format!("/api/v1/residents/{rid}/readings"), Some(&token), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "metric is required");
}

#[tokio::test]
async fn events_filtered_by_time_and_kind() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let rid = app.resident(&token, "Zhao Min").await;
    let t0: DateTime<Utc> = "2026-11-28T03:00:00Z".parse().unwrap();
    for (i, kind) in ["motion", "door_opened", "fall_detected", "motion"].iter().enumerate() {
        sqlx::query("insert into events (ts, device_id, resident_id, kind, data) values ($1, 'dev', $2, $3, $4)")
            .bind(t0 + Duration::minutes(i as i64))
            .bind(Uuid::parse_str(&rid).unwrap())
            .bind(kind)
            .bind(json!({"room": "hall", "i": i}))
            .execute(&app.pool)
            .await
            .unwrap();
    }
    let base = format!("/api/v1/residents/{rid}/events?from=2026-11-28T00:00:00Z&to=2026-11-28T23:00:00Z");
    let all = app.get(&base, &token).await;
    let events = all["events"].as_array().unwrap();
    assert_eq!(events.len(), 4);
    assert_eq!(
        events[2],
        json!({"ts": "2026-11-28T03:02:00Z", "kind": "fall_detected", "device_id": "dev", "data": {"room": "hall", "i": 2}})
    );
    let motion = app.get(&format!("{base}&kind=motion"), &token).await;
    assert_eq!(motion["events"].as_array().unwrap().len(), 2);
    let two = app.get(&format!("{base}&kind=motion,door_opened"), &token).await;
    assert_eq!(two["events"].as_array().unwrap().len(), 3);
    let narrow = app
        .get(&format!("/api/v1/residents/{rid}/events?from=2026-11-28T03:01:00Z&to=2026-11-28T03:02:00Z"), &token)
        .await;
    assert_eq!(narrow["events"].as_array().unwrap().len(), 2, "both ends inclusive");
}

#[tokio::test]
async fn reads_are_bounded_in_span_and_size() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let rid = app.resident(&token, "Wu Lan").await;
    let t0: DateTime<Utc> = "2026-11-28T08:00:00Z".parse().unwrap();
    for i in 0..3 {
        insert_reading(&app, &rid, t0 + Duration::minutes(i), "heart_rate", 70.0).await;
    }
    let decade =
        format!("/api/v1/residents/{rid}/readings?metric=heart_rate&from=2016-11-28T00:00:00Z&to=2026-11-29T00:00:00Z");
    let (status, body) = app.call("GET", &decade, Some(&token), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("31 days"), "{body}");
    let (status, body) = app.call("GET", &format!("{decade}&bucket=1d"), Some(&token), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a decade is too long even bucketed: {body}");

    let two_years =
        format!("/api/v1/residents/{rid}/readings?metric=heart_rate&from=2024-11-29T00:00:00Z&to=2026-11-29T00:00:00Z");
    let (status, body) = app.call("GET", &two_years, Some(&token), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = app.call("GET", &format!("{two_years}&bucket=1d"), Some(&token), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "two years is over 400 days: {body}");
    let year = format!(
        "/api/v1/residents/{rid}/readings?metric=heart_rate&from=2025-11-29T00:00:00Z&to=2026-11-29T00:00:00Z&bucket=1d"
    );
    let (status, body) = app.call("GET", &year, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["points"][0]["count"], 3);
    assert_eq!(body["truncated"], false);

    let day =
        format!("/api/v1/residents/{rid}/readings?metric=heart_rate&from=2026-11-28T00:00:00Z&to=2026-11-29T00:00:00Z");
    let capped = app.get(&format!("{day}&limit=2"), &token).await;
    assert_eq!(capped["points"].as_array().unwrap().len(), 2);
    assert_eq!(capped["truncated"], true);
    let (status, _) = app.call("GET", &format!("{day}&limit=50001"), Some(&token), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "never more than 50,000 points");

    let events = format!("/api/v1/residents/{rid}/events?from=2026-01-01T00:00:00Z&to=2026-11-29T00:00:00Z");
    let (status, body) = app.call("GET", &events, Some(&token), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}
