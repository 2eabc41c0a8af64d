use reqwest::StatusCode;

use crate::support::TestApp;

#[tokio::test]
async fn health_readiness_metrics_and_openapi() {
    let app = TestApp::spawn().await;
    let (status, body) = app.call("GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    let (status, body) = app.call("GET", "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["database"], true);
    assert_eq!(body["broker"], true);

    let text = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for needle in [
        "eldercare_mqtt_messages_received_total",
        "eldercare_messages_stored_total",
        "eldercare_messages_rejected_total{reason=\"malformed\"}",
        "eldercare_alerts_opened_total",
        "eldercare_ingest_batch_latency_seconds_bucket",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}");
    }

    // The scheduler's heartbeat and the outbox, read at the scrape.
    assert!(text.contains("\neldercare_notifications_pending 0\n"), "{text}");
    assert!(text.contains("# TYPE eldercare_scheduler_heartbeat_age_seconds gauge"), "{text}");

    let (status, doc) = app.call("GET", "/api/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    for path in
        ["/api/v1/auth/login", "/api/v1/residents/{id}/readings", "/api/v1/devices/{device_id}", "/api/v1/quarantine"]
    {
        assert!(doc["paths"][path].is_object(), "openapi lacks {path}");
    }
}

#[tokio::test]
async fn readiness_follows_the_broker() {
    let mut app = TestApp::spawn().await;
    app.broker.stop();
    crate::support::wait_for("readyz to fail without the broker", || async {
        let (status, body) = app.call("GET", "/readyz", None, None).await;
        (status == StatusCode::SERVICE_UNAVAILABLE).then_some(body)
    })
    .await;
    let (status, _) = app.call("GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK, "liveness does not depend on the broker");
    app.broker.restart().await;
    app.wait_ready().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json_errors() {
    let app = TestApp::spawn().await;
    let (status, body) = app.call("GET", "/api/v1/nope", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = app.call("DELETE", "/api/v1/auth/login", None, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn half_sent_requests_are_dropped_and_do_not_block_others() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = TestApp::spawn_with(
        crate::support::broker::Broker::start().await,
        crate::support::fresh_database().await,
        |s| {
            s.http.header_read_timeout_secs = 1;
        },
    )
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: eldercare\r\n").await.unwrap();
        slow.push(stream);
    }
    let (status, body) = app.call("GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Each half-sent request is answered by the server closing it (after at
    // most a 408), never by waiting for the rest forever.
    let closed = slow.into_iter().map(|mut stream| async move {
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).await.map(|_| buf)
    });
    let closed = tokio::time::timeout(crate::support::PATIENCE, futures::future::join_all(closed))
        .await
        .expect("the server to drop the half-sent requests");
    for answer in closed {
        let answer = answer.unwrap_or_default();
        assert!(!String::from_utf8_lossy(&answer).contains("200 OK"), "a half-sent request was served");
    }
}

/// The metric names an expression uses: `eldercare_…`, a histogram's
/// `_bucket`, `_sum` and `_count` series by their histogram's name.
fn metric_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("eldercare_") {
        let start = i + at;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        let name = &text[start..end];
        let name = ["_bucket", "_sum", "_count"].iter().fold(name, |n, s| n.strip_suffix(s).unwrap_or(n));
        names.push(name.to_owned());
        i = end;
    }
    names.sort();
    names.dedup();
    names
}

#[tokio::test]
async fn the_shipped_alerting_rules_and_dashboard_name_only_metrics_that_are_exported() {
    let app = TestApp::spawn().await;
    let text = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    // Every family is declared (`# TYPE`) at each scrape, with samples or not.
    let exported: Vec<&str> =
        text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.split(' ').next()).collect();
    let root = env!("CARGO_MANIFEST_DIR");
    let rules = std::fs::read_to_string(format!("{root}/deploy/prometheus/eldercare.rules.yml")).expect("rules");
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/deploy/grafana/eldercare-dashboard.json")).expect("dashboard"),
    )
    .expect("the dashboard is JSON");
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(str::to_owned))
        .collect();
    assert!(exprs.len() >= 20, "{exprs:?}");
    let rule_exprs: Vec<&str> = rules.lines().filter_map(|l| l.trim().strip_prefix("expr:")).collect();
    assert!(rule_exprs.len() >= 10, "{rule_exprs:?}");
    for (what, expr) in exprs.iter().map(|e| ("dashboard", e.as_str())).chain(rule_exprs.iter().map(|e| ("rules", *e)))
    {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{what}: {expr} names no metric");
        for name in names {
            assert!(exported.contains(&name.as_str()), "{what}: {expr} names {name}, which /metrics does not export");
        }
    }
}
