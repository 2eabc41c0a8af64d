//! Webhook targets, redirects, signatures and isolation between endpoints.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chrono::{SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::home::{DeviceRow, Home};
use crate::support::{Broker, TestApp, fresh_database, wait_for};

const DEVICES: &[DeviceRow] = &[("sos-1", "sos_button", "bedroom", None, "native", None)];

/// Presses the SOS button: an alert opens, and each webhook gets a delivery.
async fn sos(app: &TestApp) {
    let ts = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    app.broker.publish("eldercare/v1/sos-1/event", json!({"ts": ts, "event": "sos_pressed"}).to_string()).await;
}

/// A receiver on 127.0.0.1; answers the address it listens on.
async fn receiver(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

async fn subscribe(app: &TestApp, token: &str, url: String) -> String {
    let (status, created) =
        app.call("POST", "/api/v1/webhooks", Some(token), Some(json!({"url": url, "secret": SECRET}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

const SECRET: &str = "a-shared-secret-of-some-length";

#[tokio::test]
async fn webhook_targets_must_be_https_to_a_public_address() {
    let app = TestApp::spawn_with(Broker::start().await, fresh_database().await, |s| {
        s.webhooks.allow_private = false;
    })
    .await;
    let h = Home::new(&app, "Grandma", &[]).await;
    for url in [
        "http://8.8.8.8/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.0.0.7/hook",
        "https://169.254.169.254/latest",
        "https://100.64.0.1/hook",
        "https://[::1]/hook",
        "https://[::ffff:192.168.0.1]/hook",
        "https://[64:ff9b::7f00:1]/hook",
        "https://0.0.0.0/hook",
    ] {
        let (status, body) =
            app.call("POST", "/api/v1/webhooks", Some(&h.token), Some(json!({"url": url, "secret": SECRET}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
    }
    // A public address, and a name that does not resolve yet (judged at delivery).
    for url in ["https://8.8.8.8/hook", "https://not-yet.invalid/hook"] {
        let (status, body) =
            app.call("POST", "/api/v1/webhooks", Some(&h.token), Some(json!({"url": url, "secret": SECRET}))).await;
        assert_eq!(status, StatusCode::CREATED, "{url}: {body}");
    }
    assert_eq!(app.count("select count(*) from webhooks").await, 2);
}

#[tokio::test]
async fn webhook_redirects_are_not_followed() {
    use axum::routing::{any, post};
    let followed: Arc<Mutex<usize>> = Arc::default();
    let hits = followed.clone();
    let addr = receiver(
        axum::Router::new().route("/hook", post(|| async { (StatusCode::FOUND, [("location", "/elsewhere")]) })).route(
            "/elsewhere",
            // Any method: a followed 302 turns the POST into a GET.
            any(move || {
                *hits.lock().unwrap() += 1;
                async { StatusCode::OK }
            }),
        ),
    )
    .await;
    let app = TestApp::spawn().await;
    let h = Home::new(&app, "Grandma", DEVICES).await;
    subscribe(&app, &h.token, format!("http://{addr}/hook")).await;
    sos(&app).await;
    wait_for("a delivery answered 302", || async {
        let n = app.count("select count(*) from webhook_deliveries where last_status = 302 and attempts >= 1").await;
        (n > 0).then_some(())
    })
    .await;
    assert_eq!(*followed.lock().unwrap(), 0, "the redirect was followed");
    assert_eq!(app.count("select count(*) from webhook_deliveries where delivered_at is not null").await, 0);
    let list = app.get("/api/v1/webhooks", &h.token).await;
    assert_eq!(list["webhooks"][0]["last_error"], Value::from("HTTP 302"));
}

/// `X-Eldercare-Signature` version 2, checked as a receiver would, with an
/// HMAC computed here rather than by the backend's own function: the signed
/// time when it verifies.
fn verify_v2(secret: &str, header: &str, body: &[u8]) -> Option<i64> {
    use hmac::{KeyInit, Mac};
    let (t, sig) = header.split_once(",v1=")?;
    let t = t.strip_prefix("t=")?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&hex::decode(sig).ok()?).ok()?;
    t.parse().ok()
}

type Received = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

#[tokio::test]
async fn new_webhooks_are_signed_with_version_2() {
    use axum::routing::post;
    let received: Received = Arc::default();
    let calls = received.clone();
    let addr = receiver(axum::Router::new().route(
        "/hook",
        post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            calls.lock().unwrap().push((
                header("x-eldercare-signature"),
                header("x-eldercare-delivery"),
                body.to_vec(),
            ));
            async { StatusCode::OK }
        }),
    ))
    .await;
    let app = TestApp::spawn().await;
    let h = Home::new(&app, "Grandma", DEVICES).await;
    let id = subscribe(&app, &h.token, format!("http://{addr}/hook")).await;
    assert_eq!(app.get(&format!("/api/v1/webhooks/{id}"), &h.token).await["signature"], "v2");
    sos(&app).await;
    let (signature, delivery, body) =
        wait_for("a delivery", || async { received.lock().unwrap().first().cloned() }).await;
    let t = verify_v2(SECRET, &signature, &body).unwrap_or_else(|| panic!("{signature} does not verify"));
    assert!((Utc::now().timestamp() - t).abs() <= 300, "t={t} is not within 5 minutes of now");
    assert_eq!(verify_v2("another-secret-entirely", &signature, &body), None);
    assert!(!delivery.is_empty(), "X-Eldercare-Delivery is sent");
}

#[tokio::test]
async fn webhook_failures_are_shown_as_generic_text() {
    // A port nobody listens on: the connection is refused.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let app = TestApp::spawn().await;
    let h = Home::new(&app, "Grandma", DEVICES).await;
    let id = subscribe(&app, &h.token, format!("http://{addr}/hook")).await;
    sos(&app).await;
    let error = wait_for("a failed attempt", || async {
        let hook = app.get(&format!("/api/v1/webhooks/{id}"), &h.token).await;
        hook["last_error"].as_str().map(str::to_owned)
    })
    .await;
    assert_eq!(error, "connection failed");
}

#[tokio::test]
async fn a_slow_webhook_never_delays_the_others() {
    use axum::routing::post;
    // Never answers (the delivery's 10 s timeout is what ends it).
    let hung: Arc<Mutex<usize>> = Arc::default();
    let hits = hung.clone();
    let slow = receiver(axum::Router::new().route(
        "/hook",
        post(move || {
            *hits.lock().unwrap() += 1;
            std::future::pending::<StatusCode>()
        }),
    ))
    .await;
    let fast = receiver(axum::Router::new().route("/hook", post(|| async { StatusCode::OK }))).await;
    let app = TestApp::spawn().await;
    let h = Home::new(&app, "Grandma", DEVICES).await;
    let slow_id = subscribe(&app, &h.token, format!("http://{slow}/hook")).await;
    let fast_id = subscribe(&app, &h.token, format!("http://{fast}/hook")).await;
    sos(&app).await;
    // The fast webhook's delivery is recorded while the slow one's first
    // attempt is still hanging (no attempt of it has ended).
    wait_for("the fast webhook delivered while the slow one hangs", || async {
        let ended = format!("select count(*) from webhook_deliveries where webhook_id = '{slow_id}' and attempts > 0");
        let delivered = format!(
            "select count(*) from webhook_deliveries where webhook_id = '{fast_id}' and delivered_at is not null"
        );
        let fast_done = app.count(&delivered).await == 1;
        let slow_hanging = *hung.lock().unwrap() >= 1 && app.count(&ended).await == 0;
        (slow_hanging && fast_done).then_some(())
    })
    .await;
    assert_eq!(app.count("select count(*) from webhook_deliveries where delivered_at is not null").await, 1);
}

#[tokio::test]
async fn webhook_secrets_are_sealed_at_rest_and_clear_rows_keep_working() {
    use axum::routing::post;
    let received: Received = Arc::default();
    let calls = received.clone();
    let addr = receiver(axum::Router::new().route(
        "/{hook}",
        post(
            move |axum::extract::Path(hook): axum::extract::Path<String>,
                  headers: axum::http::HeaderMap,
                  body: axum::body::Bytes| {
                let signature =
                    headers.get("x-eldercare-signature").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                calls.lock().unwrap().push((hook, signature, body.to_vec()));
                async { StatusCode::OK }
            },
        ),
    ))
    .await;
    let app = TestApp::spawn_with(Broker::start().await, fresh_database().await, |s| {
        s.webhooks.secret_key = Some("a-key-for-sealing-webhook-secrets-0123".to_owned().into());
    })
    .await;
    let h = Home::new(&app, "Grandma", DEVICES).await;
    let sealed = subscribe(&app, &h.token, format!("http://{addr}/sealed")).await;
    let (stored, is_sealed): (String, bool) =
        sqlx::query_as("select secret, secret_sealed from webhooks where id = $1::uuid")
            .bind(&sealed)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(is_sealed);
    assert!(!stored.contains(SECRET) && stored != SECRET, "the stored column is not the secret: {stored}");
    // A webhook stored in clear before the key was set.
    sqlx::query(
        "insert into webhooks (id, institution_id, url, secret, signature)
         select gen_random_uuid(), institution_id, $1, $2, 'v2' from webhooks where id = $3::uuid",
    )
    .bind(format!("http://{addr}/clear"))
    .bind(SECRET)
    .bind(&sealed)
    .execute(&app.pool)
    .await
    .unwrap();
    sos(&app).await;
    let deliveries = wait_for("a delivery to each", || async {
        let got = received.lock().unwrap().clone();
        (got.len() >= 2).then_some(got)
    })
    .await;
    for (hook, signature, body) in deliveries {
        assert!(verify_v2(SECRET, &signature, &body).is_some(), "{hook}: {signature} does not verify");
    }

    // Copied to another row, a sealed secret does not open there: the
    // delivery fails, with a generic error.
    sqlx::query("update webhooks set secret = (select secret from webhooks where id = $1::uuid), secret_sealed = true where id <> $1::uuid")
        .bind(&sealed)
        .execute(&app.pool)
        .await
        .unwrap();
    let copied: String = sqlx::query_scalar("select id::text from webhooks where id <> $1::uuid")
        .bind(&sealed)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    app.broker
        .publish("eldercare/v1/sos-1/event", json!({"ts": Utc::now().to_rfc3339(), "event": "sos_pressed"}).to_string())
        .await;
    let error = wait_for("a failed attempt", || async {
        let hook = app.get(&format!("/api/v1/webhooks/{copied}"), &h.token).await;
        hook["last_error"].as_str().map(str::to_owned)
    })
    .await;
    assert_eq!(error, "secret unreadable");
}
