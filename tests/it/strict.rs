//! Abuse resistance of reads: every list pages, and a walk through the pages
//! sees each record once.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, fresh_database, wait_for};

/// Walks a list page by page (`limit` per page) and answers every item, in
/// order; checks that no page is longer than asked and that only the last
/// page has no `next_cursor`.
async fn walk(app: &TestApp, token: &str, path: &str, items: &str, limit: usize) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            None => format!("{path}{sep}limit={limit}"),
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
        };
        let page = app.get(&url, token).await;
        let rows = page[items].as_array().unwrap_or_else(|| panic!("{url}: no {items} in {page}")).clone();
        assert!(rows.len() <= limit, "{url}: {} rows", rows.len());
        all.extend(rows);
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(page[items].as_array().map(Vec::len), Some(limit), "{url}: a short page before the end");
                cursor = Some(next.to_owned());
            }
            None => {
                assert!(page.get("next_cursor").is_some(), "{url}: no next_cursor field");
                return all;
            }
        }
    }
}

/// Every item's `key`, checking none repeats.
fn keys(items: &[Value], key: &str) -> Vec<String> {
    let keys: Vec<String> = items.iter().map(|i| i[key].as_str().expect("key").to_owned()).collect();
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), keys.len(), "a record seen twice: {keys:?}");
    keys
}

async fn family_user(app: &TestApp, admin: &str, email: &str, name: &str) -> String {
    let body = json!({"email": email, "password": "family password 1", "role": "family", "name": name});
    app.post("/api/v1/users", admin, body).await["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn every_list_pages_with_limit_and_cursor() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;

    // Residents by name.
    let mut residents = Vec::new();
    for name in ["Eve", "Bob", "Dan", "Ann", "Cid"] {
        residents.push(app.resident(&admin, name).await);
    }
    let walked = walk(&app, &admin, "/api/v1/residents", "residents", 2).await;
    let names: Vec<&str> = walked.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Ann", "Bob", "Cid", "Dan", "Eve"]);
    let resident = &residents[0];

    // Devices by id, with and without a filter judged outside SQL.
    for i in 0..5 {
        app.device(&admin, json!({"device_id": format!("dev-{i}"), "resident_id": resident, "kind": "wearable"})).await;
    }
    let walked = walk(&app, &admin, "/api/v1/devices", "devices", 2).await;
    assert_eq!(keys(&walked, "device_id"), ["dev-0", "dev-1", "dev-2", "dev-3", "dev-4"]);
    let offline = walk(&app, &admin, "/api/v1/devices?online=false", "devices", 2).await;
    assert_eq!(keys(&offline, "device_id").len(), 5);
    let mine = walk(&app, &admin, &format!("/api/v1/devices?resident_id={resident}"), "devices", 3).await;
    assert_eq!(mine.len(), 5);

    // Users by name, and the family of a resident.
    let mut family = Vec::new();
    for (email, name) in [("f1@test.example", "Fay"), ("f2@test.example", "Gus"), ("f3@test.example", "Hal")] {
        let id = family_user(&app, &admin, email, name).await;
        app.post(
            &format!("/api/v1/residents/{resident}/family"),
            &admin,
            json!({"user_id": id, "relationship": "child"}),
        )
        .await;
        family.push(id);
    }
    let users = walk(&app, &admin, "/api/v1/users", "users", 2).await;
    assert_eq!(keys(&users, "id").len(), 4, "the admin and three family users");
    let linked = walk(&app, &admin, &format!("/api/v1/residents/{resident}/family"), "family", 2).await;
    assert_eq!(keys(&linked, "user_id"), family);

    // My sessions, newest first.
    for _ in 0..3 {
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    }
    let sessions = walk(&app, &admin, "/api/v1/me/sessions", "sessions", 2).await;
    assert_eq!(keys(&sessions, "id").len(), 4);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);

    // Webhooks, oldest first.
    let mut hooks = Vec::new();
    for i in 0..3 {
        let body = json!({"url": format!("https://hooks{i}.example.org/in"), "secret": "0123456789abcdef"});
        hooks.push(app.post("/api/v1/webhooks", &admin, body).await["id"].as_str().unwrap().to_owned());
    }
    let walked = walk(&app, &admin, "/api/v1/webhooks", "webhooks", 2).await;
    assert_eq!(keys(&walked, "id"), hooks);

    // Messages, newest first: `cursor` and `next_cursor` as every list.
    for i in 0..5 {
        app.post(&format!("/api/v1/residents/{resident}/messages"), &admin, json!({"text": format!("note {i}")})).await;
    }
    let thread = walk(&app, &admin, &format!("/api/v1/residents/{resident}/messages"), "messages", 2).await;
    let texts: Vec<&str> = thread.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["note 4", "note 3", "note 2", "note 1", "note 0"]);

    // The home screen's residents and the unread counts, by name; the
    // unread total counts every thread, not only a page's.
    let home = walk(&app, &admin, "/api/v1/me/residents", "residents", 2).await;
    assert_eq!(keys(&home, "id").len(), 5);
    let daughter = app.login("f1@test.example", "family password 1").await;
    let unread = walk(&app, &daughter, "/api/v1/messages/unread", "residents", 1).await;
    assert_eq!(keys(&unread, "resident_id"), vec![resident.to_owned()]);
    let page = app.get("/api/v1/messages/unread?limit=1", &admin).await;
    assert_eq!(page["residents"].as_array().map(Vec::len), Some(1));
    assert_eq!(app.get("/api/v1/messages/unread", &daughter).await["total"], 5);

    // Alerts: unresolved first, then the most severe, then the newest.
    let institution: uuid::Uuid = sqlx::query_scalar("select institution_id from residents where id = $1::uuid")
        .bind(resident)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    for (i, (severity, status)) in
        [("low", "open"), ("critical", "resolved"), ("critical", "open"), ("high", "acknowledged"), ("medium", "open")]
            .into_iter()
            .enumerate()
    {
        sqlx::query(
            "insert into alerts (id, institution_id, resident_id, kind, cause, severity, status, resolution,
                 opened_at, condition_at, resolved_at)
             values (gen_random_uuid(), $1, $2::uuid, 'sos', $3, $4, $5,
                 case when $5 = 'resolved' then 'handled' end, now() - make_interval(mins => $6), now(),
                 case when $5 = 'resolved' then now() end)",
        )
        .bind(institution)
        .bind(resident)
        .bind(format!("cause-{i}"))
        .bind(severity)
        .bind(status)
        .bind(i as i32)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let alerts = walk(&app, &admin, "/api/v1/alerts", "alerts", 2).await;
    keys(&alerts, "id");
    let order: Vec<(&str, &str)> =
        alerts.iter().map(|a| (a["severity"].as_str().unwrap(), a["status"].as_str().unwrap())).collect();
    assert_eq!(
        order,
        [("critical", "open"), ("high", "acknowledged"), ("medium", "open"), ("low", "open"), ("critical", "resolved")]
    );

    // Quarantined messages of the institution's devices, newest first.
    for i in 0..5 {
        sqlx::query(
            "insert into quarantine (received_at, topic, reason, detail, device_id, institution_id, payload)
             values (now() - make_interval(secs => $1), 'eldercare/v1/dev-0/telemetry', 'malformed', 'x', 'dev-0', $2, '{')",
        )
        .bind(i as f64)
        .bind(institution)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let rejected = walk(&app, &admin, "/api/v1/quarantine", "messages", 2).await;
    assert_eq!(keys(&rejected, "id").len(), 5);

    // A page size beyond the bounds, or a cursor no list gave, is refused.
    for path in [
        "/api/v1/devices?limit=0",
        "/api/v1/devices?limit=1001",
        "/api/v1/residents?cursor=nope",
        "/api/v1/users?limit=5000",
        "/api/v1/webhooks?cursor=1",
        "/api/v1/me/sessions?limit=-1",
        "/api/v1/alerts?cursor=abc",
    ] {
        let (status, body) = app.call("GET", path, Some(&admin), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert!(body["error"]["code"].is_string(), "{path}: {body}");
    }
}

/// Opens a live stream; answers its status (the response is kept open while
/// the returned value lives).
async fn open_stream(app: &TestApp, token: &str) -> (StatusCode, reqwest::Response) {
    let r = app.http.get(app.url("/api/v1/alerts/stream")).bearer_auth(token).send().await.expect("stream");
    (r.status(), r)
}

#[tokio::test]
async fn live_streams_are_capped_per_user_and_in_all() {
    let app = TestApp::spawn_with(crate::support::broker::Broker::start().await, fresh_database().await, |s| {
        s.http.streams_per_user = 2;
        s.http.streams_total = 3;
    })
    .await;
    let admin = app.admin_token().await;
    let operator = app.operator_token().await;
    let (first, _a1) = open_stream(&app, &admin).await;
    let (second, a2) = open_stream(&app, &admin).await;
    assert_eq!((first, second), (StatusCode::OK, StatusCode::OK));
    let (third, refused) = open_stream(&app, &admin).await;
    assert_eq!(third, StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_requests");

    // Another user has places of their own, up to the total.
    let (status, _o1) = open_stream(&app, &operator).await;
    assert_eq!(status, StatusCode::OK);
    let (status, full) = open_stream(&app, &operator).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(full.json::<Value>().await.unwrap()["error"]["code"], "busy");

    // A closed stream gives its place back.
    drop(a2);
    wait_for("the closed stream's place", || async {
        let (status, r) = open_stream(&app, &admin).await;
        (status == StatusCode::OK).then_some(r)
    })
    .await;
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_are_refused_but_health_answers() {
    use tokio::io::AsyncWriteExt;

    let app = TestApp::spawn_with(crate::support::broker::Broker::start().await, fresh_database().await, |s| {
        s.http.max_concurrent_requests = 1;
    })
    .await;
    let token = app.admin_token().await;
    // A request whose body never finishes holds the only place.
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut held = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/residents HTTP/1.1\r\nHost: eldercare\r\nauthorization: Bearer {token}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"na"
    );
    held.write_all(head.as_bytes()).await.unwrap();
    let refused = wait_for("the held request to take the place", || async {
        let (status, body) = app.call("GET", "/api/v1/residents", Some(&token), None).await;
        (status == StatusCode::SERVICE_UNAVAILABLE).then_some(body)
    })
    .await;
    assert_eq!(refused["error"]["code"], "busy");
    let (status, _) = app.call("GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK, "health checks are outside the limit");
    let (status, _) = app.call("GET", "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    drop(held);
    wait_for("the place to be free again", || async {
        let (status, _) = app.call("GET", "/api/v1/residents", Some(&token), None).await;
        (status == StatusCode::OK).then_some(())
    })
    .await;
}

/// Fails logins for `email` with `X-Forwarded-For: forwarded` until the
/// answer is 429; answers how many were refused with 401 first.
async fn failures_until_limited(app: &TestApp, email: &str, forwarded: &str) -> usize {
    for n in 0..50 {
        let r = app
            .http
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"email": email, "password": "wrong password"}))
            .send()
            .await
            .unwrap();
        match r.status() {
            StatusCode::UNAUTHORIZED => continue,
            StatusCode::TOO_MANY_REQUESTS => return n,
            other => panic!("login answered {other}"),
        }
    }
    panic!("never limited")
}

#[tokio::test]
async fn forwarded_for_names_the_client_only_behind_a_trusted_proxy() {
    // The test client connects from 127.0.0.1: a trusted proxy here.
    let app = TestApp::spawn_with(crate::support::broker::Broker::start().await, fresh_database().await, |s| {
        s.http.trusted_proxies = serde_json::from_value(json!("127.0.0.0/8, 10.0.0.0/8")).unwrap();
    })
    .await;
    // 30 failures per address: spread over accounts (5 each), one client
    // behind the proxy is limited at the 31st...
    let mut failures = 0;
    for i in 0..7 {
        failures += failures_until_limited(&app, &format!("nobody{i}@test.example"), "198.51.100.7, 10.0.0.9").await;
        if failures >= 30 {
            break;
        }
    }
    assert_eq!(failures, 30, "the client behind the proxy is counted, not the proxy");
    // ...while another client behind the same proxy is not.
    assert_eq!(failures_until_limited(&app, "someone@test.example", "198.51.100.8").await, 5);
    // An IPv6 client is counted per /64: a new address in it does not help.
    let mut failures = 0;
    for i in 0..7 {
        let hop = format!("2001:db8:1:2:{i:x}::1");
        failures += failures_until_limited(&app, &format!("v6-{i}@test.example"), &hop).await;
        if failures >= 30 {
            break;
        }
    }
    assert_eq!(failures, 30);
    assert_eq!(failures_until_limited(&app, "v6-other@test.example", "2001:db8:1:2:ffff::9").await, 0);
    assert_eq!(failures_until_limited(&app, "v6-other@test.example", "2001:db8:1:3::9").await, 5);
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = TestApp::spawn().await;
    // Each attempt claims another client; all come from 127.0.0.1, which
    // is counted: 30 failures over 6 accounts, then 429 whatever it claims.
    let mut failures = 0;
    for i in 0..7 {
        failures += failures_until_limited(&app, &format!("nobody{i}@test.example"), &format!("198.51.100.{i}")).await;
        if failures >= 30 {
            break;
        }
    }
    assert_eq!(failures, 30);
    assert_eq!(failures_until_limited(&app, "fresh@test.example", "203.0.113.99").await, 0);
}

#[tokio::test]
async fn metrics_can_ask_for_a_token_or_move_to_an_address_of_their_own() {
    let app = TestApp::spawn_with(crate::support::broker::Broker::start().await, fresh_database().await, |s| {
        s.metrics.token = Some("scrape-token-0123456789".to_owned().into());
    })
    .await;
    let (status, body) = app.call("GET", "/metrics", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = app.call("GET", "/metrics", Some("wrong-token-0123456789x"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, text) = app.call("GET", "/metrics", Some("scrape-token-0123456789"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.as_str().unwrap().contains("eldercare_mqtt_messages_received_total"));
    drop(app);

    // On an address of its own: not on the API's.
    let database = fresh_database().await;
    let broker = crate::support::broker::Broker::start().await;
    let mut settings = crate::support::settings(&database, &broker, "eldercare-ingest");
    settings.metrics.addr = Some("127.0.0.1:0".parse().unwrap());
    let application = eldercare::app::Application::build(settings).await.unwrap();
    let api = application.addr().unwrap();
    let metrics = application.metrics_addr().expect("a metrics address");
    let stop = application.shutdown_token();
    let running = tokio::spawn(application.run_until_stopped());
    let http = reqwest::Client::new();
    let on_api = wait_for("the API", || async { http.get(format!("http://{api}/metrics")).send().await.ok() }).await;
    assert_eq!(on_api.status(), StatusCode::NOT_FOUND);
    let own = http.get(format!("http://{metrics}/metrics")).send().await.unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    assert!(own.text().await.unwrap().contains("eldercare_mqtt_messages_received_total"));
    let other = http.get(format!("http://{metrics}/api/v1/residents")).send().await.unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND, "only /metrics there");
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_api_query_past_the_statement_timeout_answers_503() {
    use axum::response::IntoResponse;

    let database = fresh_database().await;
    let broker = crate::support::broker::Broker::start().await;
    let mut settings = crate::support::settings(&database, &broker, "eldercare-ingest");
    settings.database.api_statement_timeout_ms = 200;
    let pool = eldercare::store::api_pool(&settings.database).unwrap();
    let quick: i32 = sqlx::query_scalar("select 1").fetch_one(&pool).await.unwrap();
    assert_eq!(quick, 1);
    let err = sqlx::query("select pg_sleep(5)").execute(&pool).await.unwrap_err();
    assert!(eldercare::store::statement_timed_out(&err), "{err}");
    let response = eldercare::api::Error::from(err).into_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "timeout");
}

#[tokio::test]
async fn bodies_must_be_objects_and_nulls_only_where_the_document_allows() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let resident = app.resident(&admin, "Grandma").await;
    app.device(&admin, json!({"device_id": "w-1", "resident_id": resident, "kind": "wearable"})).await;

    let refused = [
        ("PATCH", format!("/api/v1/residents/{resident}"), json!([null, null])),
        ("PATCH", format!("/api/v1/residents/{resident}"), json!("Eve")),
        ("PATCH", format!("/api/v1/residents/{resident}"), json!({"name": null})),
        ("PATCH", format!("/api/v1/residents/{resident}"), json!({"timezone": null})),
        ("PATCH", "/api/v1/devices/w-1".to_owned(), json!({"kind": null})),
        ("PATCH", "/api/v1/devices/w-1".to_owned(), json!({"power_on_threshold_w": null})),
        ("POST", "/api/v1/devices".to_owned(), json!({"device_id": "w-2", "kind": "wearable", "source": null})),
        ("POST", "/api/v1/devices".to_owned(), json!(["w-2", "wearable"])),
        ("POST", "/api/v1/residents".to_owned(), json!({"name": "Ann", "timezone": null})),
        ("POST", "/api/v1/residents".to_owned(), json!({"name": "x".repeat(201)})),
        (
            "PUT",
            format!("/api/v1/residents/{resident}/consent"),
            json!({"given": true, "given_by": "resident", "extra": 1}),
        ),
        ("POST", "/api/v1/display-tokens".to_owned(), json!({"label": "   "})),
        (
            "POST",
            "/api/v1/users".to_owned(),
            json!({"email": "a@b@c", "password": "long enough password", "role": "staff", "name": "A"}),
        ),
    ];
    for (method, path, body) in refused {
        let (status, answer) = app.call(method, &path, Some(&admin), Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{method} {path} {body}: {answer}");
        assert_eq!(answer["error"]["code"], "validation_failed", "{answer}");
    }
    // Text is counted in characters, as the document's maxLength: 200
    // three-byte characters are a valid name.
    let (status, answer) =
        app.call("POST", "/api/v1/residents", Some(&admin), Some(json!({"name": "養".repeat(200)}))).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    // Nullable fields still take null; absent optional fields stay optional.
    let (status, answer) =
        app.call("PATCH", "/api/v1/devices/w-1", Some(&admin), Some(json!({"room": null, "resident_id": null}))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = app
        .call(
            "POST",
            "/api/v1/devices",
            Some(&admin),
            Some(json!({"device_id": "w-3", "kind": "wearable", "room": null})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    // An optional body is optional, but never a non-object.
    let (status, _) = app.call("POST", "/api/v1/me/totp", Some(&admin), Some(json!([1]))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Text PostgreSQL cannot store is refused, not a server error.
    let (status, answer) = app.call("POST", "/api/v1/residents", Some(&admin), Some(json!({"name": "A\u{0}B"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
}

#[tokio::test]
async fn the_document_declares_the_bounds_closed_objects_and_links() {
    let app = TestApp::spawn().await;
    let doc: Value = app.http.get(app.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    let param = |path: &str, name: &str| -> Value {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name).cloned())
            .unwrap_or_else(|| panic!("{path} has no parameter {name}"))
    };
    for path in [
        "/api/v1/devices",
        "/api/v1/residents",
        "/api/v1/users",
        "/api/v1/webhooks",
        "/api/v1/me/sessions",
        "/api/v1/alerts",
    ] {
        let limit = param(path, "limit");
        assert_eq!(
            (limit["schema"]["minimum"].as_i64(), limit["schema"]["maximum"].as_i64()),
            (Some(1), Some(1000)),
            "{path}"
        );
        param(path, "cursor");
    }
    assert_eq!(param("/api/v1/residents/{id}/readings", "limit")["schema"]["maximum"], 50_000);
    let schemas = &doc["components"]["schemas"];
    for name in ["NewResident", "ResidentPatch", "NewDevice", "DevicePatch", "NewUser", "LoginRequest", "NewWebhook"] {
        assert_eq!(schemas[name]["additionalProperties"], false, "{name} is closed");
    }
    assert_eq!(schemas["DevicePatch"]["properties"]["kind"]["type"], "string", "kind is not nullable");
    assert_eq!(schemas["NewDevice"]["properties"]["source"]["type"], "string", "source is not nullable");
    assert_eq!(schemas["NewResident"]["properties"]["name"]["maxLength"], 200);
    let links = &doc["paths"]["/api/v1/residents"]["post"]["responses"]["201"]["links"];
    assert!(links.as_object().is_some_and(|l| l.len() > 5), "{links}");
    let alert_links = &doc["paths"]["/api/v1/alerts"]["get"]["responses"]["200"]["links"];
    assert!(alert_links.to_string().contains("acknowledge"), "{alert_links}");
    let device_links = &doc["paths"]["/api/v1/devices"]["post"]["responses"]["201"]["links"];
    assert!(device_links.to_string().contains("$response.body#/device_id"), "{device_links}");
}

/// A JSON value read with its objects' keys in the order written, so an
/// object can be turned into the array a derived struct would also read
/// (its values in field order).
#[derive(Debug, Clone)]
enum Ordered {
    Object(Vec<(String, Ordered)>),
    Array(Vec<Ordered>),
    Scalar(Value),
}

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Ordered, D::Error> {
        struct Reader;
        impl<'de> serde::de::Visitor<'de> for Reader {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Ordered::Object(entries))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Ordered::Array(items))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(v.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(v.into()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(v.into()))
            }
            fn visit_unit<E>(self) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(Value::Null))
            }
        }
        d.deserialize_any(Reader)
    }
}

impl Ordered {
    fn value(&self) -> Value {
        match self {
            Ordered::Object(entries) => Value::Object(entries.iter().map(|(k, v)| (k.clone(), v.value())).collect()),
            Ordered::Array(items) => Value::Array(items.iter().map(Ordered::value).collect()),
            Ordered::Scalar(v) => v.clone(),
        }
    }

    /// This value with the objects at `path` sent as arrays of their
    /// values; `None` when `path` reaches no object.
    fn with_arrays_at(&self, path: &[Step]) -> Option<Ordered> {
        let (step, rest) = path.split_first()?;
        match (step, self) {
            (Step::Key(key), Ordered::Object(entries)) => {
                let mut entries = entries.clone();
                let (_, value) = entries.iter_mut().find(|(k, _)| k == key)?;
                *value = match (rest.is_empty(), &*value) {
                    (true, Ordered::Object(fields)) => Ordered::Array(fields.iter().map(|(_, v)| v.clone()).collect()),
                    (true, _) => return None,
                    (false, nested) => nested.with_arrays_at(rest)?,
                };
                Some(Ordered::Object(entries))
            }
            (Step::Items, Ordered::Array(items)) if !items.is_empty() => {
                let items = items
                    .iter()
                    .map(|item| match (rest.is_empty(), item) {
                        (true, Ordered::Object(fields)) => {
                            Some(Ordered::Array(fields.iter().map(|(_, v)| v.clone()).collect()))
                        }
                        (true, _) => None,
                        (false, nested) => nested.with_arrays_at(rest),
                    })
                    .collect::<Option<Vec<_>>>()?;
                Some(Ordered::Array(items))
            }
            _ => None,
        }
    }
}

/// A step into a request body: a property, or every item of an array.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Items,
}

fn show(path: &[Step]) -> String {
    path.iter()
        .map(|s| match s {
            Step::Key(k) => format!(".{k}"),
            Step::Items => "[]".to_owned(),
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_owned()
}

/// The document's schema, with a `$ref` followed.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
        Some(name) => resolve(doc, &doc["components"]["schemas"][name]),
        None => schema,
    }
}

fn has_type(schema: &Value, name: &str) -> bool {
    schema["type"] == name || schema["type"].as_array().is_some_and(|ts| ts.iter().any(|t| t == name))
}

/// The object a schema describes (itself, or the object alternative of a
/// `oneOf` with `null`), if it describes one.
fn object_schema<'a>(doc: &'a Value, schema: &'a Value) -> Option<&'a Value> {
    let schema = resolve(doc, schema);
    if has_type(schema, "object") || schema.get("properties").is_some() {
        return Some(schema);
    }
    schema["oneOf"].as_array()?.iter().find_map(|alternative| object_schema(doc, alternative))
}

/// Where a body of `schema` holds an object: each property that is one,
/// each array whose items are, and so on inside them.
fn object_paths(doc: &Value, schema: &Value, at: &[Step], out: &mut Vec<Vec<Step>>) {
    let schema = resolve(doc, schema);
    let items = |s: &Value| -> Option<Value> {
        let s = resolve(doc, s);
        has_type(s, "array").then(|| s["items"].clone()).filter(|i| object_schema(doc, i).is_some())
    };
    if at.is_empty()
        && let Some(item) = items(schema)
    {
        out.push(vec![Step::Items]);
        object_paths(doc, &item, &[Step::Items], out);
    }
    let Some(object) = object_schema(doc, schema) else { return };
    let Some(props) = object["properties"].as_object() else { return };
    for (key, prop) in props {
        let mut path = at.to_vec();
        path.push(Step::Key(key.clone()));
        if object_schema(doc, prop).is_some_and(|o| o.get("properties").is_some() || has_type(o, "object")) {
            out.push(path.clone());
            object_paths(doc, prop, &path, out);
        } else if let Some(item) = items(prop) {
            path.push(Step::Items);
            out.push(path.clone());
            object_paths(doc, &item, &path, out);
        }
    }
}

/// Every object a body of `schema` may hold says it is an object and is
/// closed, as the server reads it. The alternatives of a `oneOf` beside
/// properties only narrow the object around them.
fn assert_closed(doc: &Value, schema: &Value, at: &str) {
    let schema = resolve(doc, schema);
    if let Some(props) = schema["properties"].as_object() {
        assert!(has_type(schema, "object"), "{at}: not said to be an object");
        assert_eq!(schema["additionalProperties"], false, "{at}: not closed");
        for (key, prop) in props {
            assert_closed(doc, prop, &format!("{at}.{key}"));
        }
    } else if let Some(alternatives) = schema["oneOf"].as_array() {
        alternatives.iter().for_each(|alternative| assert_closed(doc, alternative, at));
    }
    if let Some(items) = schema.get("items") {
        assert_closed(doc, items, &format!("{at}[]"));
    }
}

/// Every table's rows, hashed: what a refused request must leave as it
/// was. Tables the server writes on its own (the scheduler's heartbeat,
/// the rollups' bookkeeping, sessions' last use) are left out.
async fn fingerprint(app: &TestApp) -> std::collections::BTreeMap<String, String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "select tablename::text from pg_tables where schemaname = 'public'
             and tablename not in ('sessions', 'scheduler_heartbeat', 'rollup_state', 'rollup_dirty', '_sqlx_migrations',
                                   -- what the scheduler's leader writes on its own, whatever the requests:
                                   -- a routine learned as her day turns, presence judged as it changes
                                   'resident_routines', 'presence_periods')
         order by 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let sql = tables
        .iter()
        .map(|t| format!("select '{t}'::text, md5(coalesce(string_agg(x::text, '|' order by x::text), '')) from {t} x"))
        .collect::<Vec<_>>()
        .join(" union all ");
    sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql))
        .fetch_all(&app.pool)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// Operations of other roles than the admin's (the bureau's, the fund's,
/// an assessor's): the admin's valid body is parsed, then refused by the
/// policy (403 or 404), never by the parser (422).
const NOT_THE_ADMINS: &[(&str, &str)] = &[
    ("POST", "/api/v1/residents/$resident/assessments"),
    ("PUT", "/api/v1/schemes/$code"),
    ("POST", "/api/v1/inspections"),
    ("POST", "/api/v1/inspections/$resident/results"),
];

/// Every request body of the document, valid, in an order where each
/// succeeds after those before it; `$name`s are filled in from the world
/// the test builds. Nested objects are written in their fields' order, so
/// an object sent as the array of its values is what a derived struct would
/// read if the server let it.
const VALID_BODIES: &[(&str, &str, &str)] = &[
    (
        "POST",
        "/api/v1/residents/$resident/assessments",
        r#"{"scale": "barthel", "items": {"feeding": 5, "bathing": 0, "grooming": 0, "dressing": 5, "bowels": 5,
            "bladder": 5, "toilet": 5, "transfers": 5, "mobility": 5, "stairs": 0}, "assessed_at": "$to",
            "factors": {"coma": false}, "risk_events": [{"kind": "fall", "at": "$from"}]}"#,
    ),
    (
        "PUT",
        "/api/v1/schemes/$code",
        r#"{"name": "Home care subsidy", "payer": "civil_affairs", "application_kind": "home_care_subsidy",
            "grades": {"2": {"monthly_amount": 300, "copay_ratio": 0.2, "services": ["home_care"], "valid_months": 12}}}"#,
    ),
    ("PATCH", "/api/v1/residents/$resident", r#"{"location": {"lat": 29.8683, "lon": 121.544}}"#),
    (
        "POST",
        "/api/v1/residents/$resident/consents",
        r#"{"grantee_institution_id": "$hospital", "scope": ["fhir_read", "clinical_write"],
            "recorded": {"by": "the elder", "method": "written"}}"#,
    ),
    (
        "PUT",
        "/api/v1/users/$me/certificates",
        r#"[{"kind": "health", "valid_until": "2030-01-01"}, {"kind": "care_worker_level", "level": 3, "valid_until": "2030-01-01"}]"#,
    ),
    (
        "POST",
        "/api/v1/inspections",
        r#"{"institution_id": "$resident", "scheduled_for": "2030-01-01", "checklist": [{"code": "fire_safety", "text": "Exits clear"}]}"#,
    ),
    (
        "POST",
        "/api/v1/inspections/$resident/results",
        r#"{"items": [{"code": "fire_safety", "passed": false, "note": "exit 2"}],
            "findings": [{"item": "fire_safety", "severity": "minor", "text": "Exit 2 blocked", "rectify_by": "2030-01-01"}]}"#,
    ),
    (
        "POST",
        "/api/v1/residents/$resident/family",
        r#"{"user_id": "$family", "relationship": "son", "consent": {"given_by": "resident", "guardian_name": null, "decided_at": null}}"#,
    ),
    (
        "POST",
        "/api/v1/services",
        r#"{"code": "HC-BATH", "name": "Bathing", "category": "personal_care", "duration_minutes": 60, "unit": "hour",
            "unit_price": 80, "currency": "CNY", "funding": ["ltc_insurance", "self_pay"], "evv_required": true,
            "tasks": [{"code": "bath", "name": "Bath"}, {"code": "dry", "name": "Dry and dress"}]}"#,
    ),
    (
        "PUT",
        "/api/v1/residents/$resident/care-plan",
        r#"{"items": [{"service_code": "HC-BATH", "funding": "ltc_insurance", "schedule": {"days": ["tue", "fri"], "start": "09:00"}, "hours_per_month": 8}]}"#,
    ),
    (
        "POST",
        "/api/v1/visits/$visit/check-in",
        r#"{"location": {"lat": 29.8683, "lon": 121.544, "accuracy_m": 10}, "method": "gps"}"#,
    ),
    (
        "POST",
        "/api/v1/visits/$visit/check-out",
        r#"{"location": {"lat": 29.8683, "lon": 121.544, "accuracy_m": 10}, "method": "gps",
            "tasks": [{"code": "wash", "done": true, "note": "all fine"}], "note": "a calm visit"}"#,
    ),
    ("PATCH", "/api/v1/rule-settings", "$settings"),
    ("PATCH", "/api/v1/residents/$resident/rule-settings", "$settings"),
    ("PUT", "/api/v1/residents/$resident/meal-windows", r#"[{"meal": "lunch", "start": "11:00", "end": "13:30"}]"#),
    ("PUT", "/api/v1/residents/$resident/thresholds", "$thresholds"),
    (
        "POST",
        "/api/v1/residents/$resident/backtest",
        r#"{"from": "$from", "to": "$to", "settings": $settings,
            "meal_windows": [{"meal": "dinner", "start": "17:00", "end": "19:00"}], "thresholds": $thresholds}"#,
    ),
    (
        "POST",
        "/api/v1/me/push-subscriptions",
        r#"{"endpoint": "http://127.0.0.1:9/push/x", "keys": {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4", "auth": "BTBZMqHH6r4Tts7J_aSIgg"}}"#,
    ),
    (
        "PUT",
        "/api/v1/me/notification-preferences",
        r#"{"min_severity": "high", "kinds": null, "quiet_hours": {"start": "22:00", "end": "07:00"}, "channels": ["push"]}"#,
    ),
    (
        "PUT",
        "/api/v1/on-call",
        r#"{"shifts": [{"user_id": "$me", "level": 1, "days": ["mon", "tue"], "start": "08:00", "end": "20:00"}]}"#,
    ),
    (
        "PUT",
        "/api/v1/residents/$resident/responder-info",
        r#"{"access": {"instructions": "The key is with the neighbour", "key_safe_code": "1234"},
            "emergency_contacts": [{"name": "Li Na", "relation": "daughter", "phone": "+86 138 0000 0000", "priority": 1}],
            "conditions": ["asthma"], "allergies": ["penicillin"],
            "medications": [{"name": "Salbutamol", "dose": "100 mcg", "schedule": "as needed"}],
            "directives": {"dnacpr": false, "note": "ask her daughter"}}"#,
    ),
    (
        "POST",
        "/api/v1/kitchens",
        r#"{"name": "Second canteen", "location": {"lat": 29.87, "lon": 121.55, "accuracy_m": 5}, "timezone": "Asia/Shanghai",
            "cutoff": "09:00", "prices": {"breakfast": 6, "lunch": 12, "dinner": 12}}"#,
    ),
    (
        "POST",
        "/api/v1/meal-orders/$order/delivery",
        r#"{"outcome": "handed_over", "location": {"lat": 29.8683, "lon": 121.544, "accuracy_m": 10}}"#,
    ),
    (
        "POST",
        "/api/v1/residents/$elder/enrolments",
        r#"{"services": ["meals"], "consent": {"by": "family", "method": "written", "at": "2026-12-01T09:00:00Z"}}"#,
    ),
    (
        "PUT",
        "/api/v1/residents/$resident/meal-plan",
        r#"{"kitchen_id": "$kitchen", "delivery": "home",
            "days": {"mon": ["lunch"], "tue": ["lunch"], "wed": ["lunch"], "thu": ["lunch"], "fri": ["lunch"], "sat": ["lunch"], "sun": ["lunch"]},
            "diet": [], "texture": "regular", "allergies": [], "funding": "subsidy",
            "suspended": {"from": "2099-01-01", "until": "2099-01-31"}, "delivery_notes": null}"#,
    ),
];

/// Every rule setting, as a patch.
const SETTINGS: &str = r#"{"away": false, "waking_hours": {"start": "07:00", "end": "22:00"}, "inactivity": {"hours": 3},
    "no_morning_activity": {"by": "10:00"}, "night": {"start": "22:00", "end": "06:00"},
    "night_wandering": {"return_minutes": 10}, "bed_exit_no_return": {"minutes": 30}, "fall_cancel_seconds": 60,
    "low_battery": {"percent": 15}, "meal_windows": [{"meal": "lunch", "start": "11:00", "end": "13:30"}],
    "thresholds": $thresholds, "vitals": {"duration_minutes": 5, "clear_minutes": 10, "min_readings": 2},
    "visits": {"grace_minutes": 30, "far_from_home_m": 200, "post_discharge_check_hours": 48},
    "presence": {"out_after_minutes": 10, "eating_out": true, "return_by": "22:00"},
    "routine": {"learn": true, "inactivity_floor_hours": 2, "inactivity_margin_minutes": 30, "return_margin_hours": 2,
        "check_after_minutes": 30}}"#;

/// A bound for every vital sign.
const THRESHOLDS: &str = r#"{"heart_rate": {"min": 40, "max": 130}, "spo2": {"min": 90, "max": 100},
    "body_temperature": {"min": 35, "max": 38}, "respiratory_rate": {"min": 8, "max": 25},
    "bp_systolic": {"min": 90, "max": 180}, "bp_diastolic": {"min": 50, "max": 110},
    "blood_glucose": {"min": 3.9, "max": 13.9}}"#;

#[tokio::test]
async fn a_nested_object_sent_as_an_array_is_refused_wherever_the_document_says_object() {
    // The document says which objects are closed; the server then holds to
    // it for each, with an array where an object belongs.
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let doc: Value = app.http.get(app.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();

    // The world the bodies name.
    let me = app.get("/api/v1/me", &admin).await["id"].as_str().unwrap().to_owned();
    let resident = app.resident(&admin, "Wang Fang").await;
    let family = family_user(&app, &admin, "son@test.example", "Son").await;
    let carer = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": "carer@test.example", "password": "carer password 1", "role": "caregiver", "name": "Li"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    crate::support::certify(&app, &admin, &carer).await;
    app.post(
        "/api/v1/services",
        &admin,
        json!({"code": "HC-WASH", "name": "Washing", "category": "personal_care", "duration_minutes": 30,
               "unit": "visit", "unit_price": 40, "funding": ["self_pay"], "tasks": [{"code": "wash", "name": "Wash"}]}),
    )
    .await;
    let soon = (chrono::Utc::now() + chrono::Duration::minutes(5)).to_rfc3339();
    let visit = app
        .post(
            "/api/v1/visits",
            &admin,
            json!({"resident_id": resident, "service_code": "HC-WASH", "scheduled_start": soon, "funding": "self_pay"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(&format!("/api/v1/visits/{visit}/assign"), &admin, json!({"caregiver_id": carer})).await;
    let kitchen = app.post("/api/v1/kitchens", &admin, json!({"name": "Canteen", "cutoff": "23:59"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let every_day = json!({"mon": ["lunch"], "tue": ["lunch"], "wed": ["lunch"], "thu": ["lunch"], "fri": ["lunch"], "sat": ["lunch"], "sun": ["lunch"]});
    let (status, plan) = app
        .call(
            "PUT",
            &format!("/api/v1/residents/{resident}/meal-plan"),
            Some(&admin),
            Some(json!({"kitchen_id": kitchen, "delivery": "home", "funding": "subsidy", "days": every_day})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    let order = app.get(&format!("/api/v1/meal-orders?resident_id={resident}"), &admin).await["orders"][0]["id"]
        .as_str()
        .expect("a lunch order")
        .to_owned();
    // An elder another institution registered, for this one to enrol.
    let operator = app.operator_token().await;
    let canteen = app
        .post(
            "/api/v1/institutions",
            &operator,
            json!({"name": "Canteen", "kind": "canteen", "timezone": "Asia/Shanghai"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let canteen_admin =
        json!({"email": "canteen@test.example", "password": "long enough pw", "role": "admin", "name": "C"});
    app.post(&format!("/api/v1/institutions/{canteen}/users"), &operator, canteen_admin).await;
    let canteen_admin = app.login("canteen@test.example", "long enough pw").await;
    let registration = json!({"name": "Zhao Min", "id_number": "11010519491231002X"});
    let elder = app.post("/api/v1/residents", &canteen_admin, registration.clone()).await["id"]
        .as_str()
        .expect("registered")
        .to_owned();
    let (status, again) = app.call("POST", "/api/v1/residents", Some(&admin), Some(registration)).await;
    assert_eq!((status, again["error"]["resident_id"].as_str()), (StatusCode::CONFLICT, Some(elder.as_str())));
    let hospital = app
        .post(
            "/api/v1/institutions",
            &operator,
            json!({"name": "City Hospital", "kind": "hospital", "timezone": "Asia/Shanghai"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let yesterday = chrono::Utc::now() - chrono::Duration::days(1);
    let fill = |text: &str| -> String {
        text.replace("$settings", SETTINGS)
            .replace("$elder", &elder)
            .replace("$thresholds", THRESHOLDS)
            .replace("$resident", &resident)
            .replace("$family", &family)
            .replace("$visit", &visit)
            .replace("$kitchen", &kitchen)
            .replace("$order", &order)
            .replace("$me", &me)
            .replace("$from", &(yesterday - chrono::Duration::days(1)).to_rfc3339())
            .replace("$to", &yesterday.to_rfc3339())
            .replace("$code", "home-care-subsidy")
            .replace("$hospital", &hospital)
    };

    // Each operation whose body holds an object, and where.
    let mut expected = Vec::new();
    for (path, methods) in doc["paths"].as_object().unwrap() {
        for (method, operation) in methods.as_object().unwrap() {
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            if schema.is_null() {
                continue;
            }
            assert_closed(&doc, schema, &format!("{method} {path}"));
            let mut paths = Vec::new();
            object_paths(&doc, schema, &[], &mut paths);
            if !paths.is_empty() {
                expected.push((method.to_uppercase(), path.clone(), paths));
            }
        }
    }
    assert!(expected.len() >= 15, "the document names too few nested objects: {expected:?}");
    let template = |path: &str| {
        path.replace("$resident", "{id}")
            .replace("$elder", "{id}")
            .replace("$visit", "{id}")
            .replace("$order", "{id}")
            .replace("$me", "{id}")
            .replace("$code", "{code}")
    };
    for (method, path, _) in &expected {
        assert!(
            VALID_BODIES.iter().any(|(m, p, _)| m == method && template(p) == *path),
            "{method} {path} takes nested objects: give it a valid body here"
        );
    }

    let mut tried = 0;
    for (method, path, text) in VALID_BODIES {
        let (_, _, paths) = expected
            .iter()
            .find(|(m, p, _)| m == method && *p == template(path))
            .unwrap_or_else(|| panic!("{method} {path} is not in the document with nested objects"));
        let url = fill(path);
        let body: Ordered = serde_json::from_str(&fill(text)).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let before = fingerprint(&app).await;
        for at in paths {
            let sent = body
                .with_arrays_at(at)
                .unwrap_or_else(|| panic!("{method} {path}: the valid body has no object at {}", show(at)))
                .value();
            let (status, answer) = app.call(method, &url, Some(&admin), Some(sent.clone())).await;
            assert!(
                status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
                "{method} {path} with {} as an array: {status} {answer}\n{sent}",
                show(at)
            );
            assert!(answer["error"]["code"].is_string() && answer["error"]["message"].is_string(), "{answer}");
            if let Some(Step::Key(key)) = at.iter().rev().find(|s| matches!(s, Step::Key(_))) {
                let named = format!("{} {}", answer["error"]["field"], answer["error"]["message"]);
                assert!(named.contains(key.as_str()), "{method} {path} {}: the error names {named}", show(at));
            }
            let after = fingerprint(&app).await;
            let changed: Vec<&String> = after.keys().filter(|t| before.get(*t) != after.get(*t)).collect();
            assert!(changed.is_empty(), "{method} {path} with {} as an array wrote to {changed:?}", show(at));
            tried += 1;
        }
        let (status, answer) = app.call(method, &url, Some(&admin), Some(body.value())).await;
        if NOT_THE_ADMINS.contains(&(*method, *path)) {
            let refused = [StatusCode::FORBIDDEN, StatusCode::NOT_FOUND];
            assert!(refused.contains(&status), "{method} {path}: the valid body answered {status} {answer}");
        } else {
            assert!(status.is_success(), "{method} {path}: the valid body answered {status} {answer}");
        }
    }
    assert!(tried >= 40, "only {tried} nested objects tried");
}
