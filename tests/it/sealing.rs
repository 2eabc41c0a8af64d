//! Secrets that open doors or speak for the institution are stored only
//! sealed: key safe codes and SMS/voice gateways' secrets are refused
//! without a sealing key, and those an older version stored in clear are
//! sealed at the next start with one, and keep working.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderMap;
use chrono::{Duration, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{self, Broker, TestApp, fresh_database, wait_for};

/// A local SMS gateway: records every POST to `/sms`.
#[derive(Clone, Default)]
struct Gateway {
    got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    addr: Arc<Mutex<Option<SocketAddr>>>,
}

impl Gateway {
    async fn start() -> Gateway {
        let g = Gateway::default();
        let got = g.got.clone();
        let router = axum::Router::new().route(
            "/sms",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| async move {
                got.lock().unwrap().push((headers, body));
                StatusCode::OK
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        *g.addr.lock().unwrap() = Some(listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        g
    }

    fn url(&self) -> String {
        format!("http://{}/sms", self.addr.lock().unwrap().unwrap())
    }
}

async fn user(app: &TestApp, admin: &str, role: &str, name: &str) -> (String, String) {
    let email = format!("{name}@test.example");
    let body = json!({"email": email, "password": "long enough pw", "role": role, "name": name});
    let id = app.post("/api/v1/users", admin, body).await["id"].as_str().unwrap().to_owned();
    if matches!(role, "caregiver" | "staff") {
        crate::support::certify(app, admin, &id).await;
    }
    (id, app.login(&email, "long enough pw").await)
}

#[tokio::test]
async fn without_a_sealing_key_key_safe_codes_and_gateway_secrets_are_refused_naming_the_setting() {
    let app =
        TestApp::spawn_with(Broker::start().await, fresh_database().await, |s| s.webhooks.secret_key = None).await;
    let admin = app.admin_token().await;
    let rid = app.resident(&admin, "Wang Fang").await;
    let path = format!("/api/v1/residents/{rid}/responder-info");

    let with_code = json!({"access": {"instructions": "Side door", "key_safe_code": "4711"}});
    let (status, body) = app.call("PUT", &path, Some(&admin), Some(with_code)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("ELDERCARE__WEBHOOKS__SECRET_KEY") && message.contains("key safe codes"), "{message}");
    assert_eq!(app.count("select count(*) from responder_info").await, 0, "nothing of the refused sheet is kept");
    // The rest of the sheet needs no key.
    let (status, body) =
        app.call("PUT", &path, Some(&admin), Some(json!({"access": {"instructions": "Side door"}}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["access"], json!({"instructions": "Side door", "key_safe": false}));

    let channel = json!({"kind": "sms", "url": "http://127.0.0.1:9/sms", "secret": "sms-gateway-secret-0123"});
    let (status, body) = app.call("POST", "/api/v1/channels", Some(&admin), Some(channel)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("ELDERCARE__WEBHOOKS__SECRET_KEY") && message.contains("channel secrets"), "{message}");
    assert_eq!(app.count("select count(*) from notification_channels").await, 0);
}

#[tokio::test]
async fn plaintext_an_older_version_stored_is_sealed_at_start_and_still_opens_the_door_and_signs_the_sms() {
    let app = TestApp::spawn_with(Broker::start().await, fresh_database().await, |s| {
        s.scheduler.tick_ms = 200;
    })
    .await;
    let admin = app.admin_token().await;
    let gateway = Gateway::start().await;
    let (carer_id, carer) = user(&app, &admin, "caregiver", "carer").await;
    let (staff_id, staff) = user(&app, &admin, "staff", "nurse").await;
    let rid = app.resident(&admin, "Wang Fang").await;
    let start = (Utc::now() + Duration::minutes(30)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let visit = app
        .post(
            "/api/v1/visits",
            &admin,
            json!({"resident_id": rid, "service_code": "WELFARE-CHECK", "scheduled_start": start, "funding": "institution"}),
        )
        .await;
    let vid = visit["id"].as_str().unwrap().to_owned();
    app.post(&format!("/api/v1/visits/{vid}/assign"), &admin, json!({"caregiver_id": carer_id})).await;
    let (status, _) = app
        .call("PATCH", &format!("/api/v1/users/{staff_id}"), Some(&admin), Some(json!({"phone": "+8613800000002"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let prefs = json!({"min_severity": "high", "kinds": null, "quiet_hours": null, "channels": ["push", "sms"]});
    let (status, _) = app.call("PUT", "/api/v1/me/notification-preferences", Some(&staff), Some(prefs)).await;
    assert_eq!(status, StatusCode::OK);
    app.device(&admin, json!({"device_id": "sos-seal", "resident_id": rid, "kind": "sos_button"})).await;

    // As an older version wrote them: in clear.
    let (code, secret) = ("K9-2580", "gateway-secret-in-clear-0123");
    sqlx::query(
        "insert into responder_info (resident_id, key_safe_code, key_safe_sealed) values ($1::uuid, $2, false)",
    )
    .bind(&rid)
    .bind(code)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into notification_channels (id, institution_id, kind, url, secret)
         select gen_random_uuid(), institution_id, 'sms', $2, $3 from residents where id = $1::uuid",
    )
    .bind(&rid)
    .bind(gateway.url())
    .bind(secret)
    .execute(&app.pool)
    .await
    .unwrap();

    let (broker, database_url) = app.stop().await;
    let app = TestApp::spawn_with(broker, database_url, |s| s.scheduler.tick_ms = 200).await;

    let stored: (String, bool) =
        sqlx::query_as("select key_safe_code, key_safe_sealed from responder_info where resident_id = $1::uuid")
            .bind(&rid)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(stored.1 && !stored.0.contains(code), "{stored:?}");
    let channel: (String, bool) =
        sqlx::query_as("select secret, secret_sealed from notification_channels").fetch_one(&app.pool).await.unwrap();
    assert!(channel.1 && !channel.0.contains(secret), "{channel:?}");
    // Once sealed, nothing is left to seal.
    let mut settings = support::settings(&app.database_url, &app.broker, "eldercare-ingest");
    settings.webhooks.secret_key = Some(support::SECRET_KEY.to_owned().into());
    assert_eq!(eldercare::bootstrap::seal_plaintext(&app.pool, &settings.webhooks).await.unwrap(), 0);
    let again: String =
        sqlx::query_scalar("select secret from notification_channels").fetch_one(&app.pool).await.unwrap();
    assert_eq!(again, channel.0);

    // The carer at the door still gets the code.
    let (status, body) = app.call("POST", &format!("/api/v1/visits/{vid}/key-safe"), Some(&carer), None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"code": code})));
    // And the gateway still gets messages signed with its secret.
    let ts = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    app.broker.publish("eldercare/v1/sos-seal/event", json!({"ts": ts, "event": "sos_pressed"}).to_string()).await;
    let (headers, body) = wait_for("the SMS", || async { gateway.got.lock().unwrap().first().cloned() }).await;
    let sms: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(sms["to"], "+8613800000002");
    let signature = headers["x-eldercare-signature"].to_str().unwrap();
    let (t, v1) = signature.strip_prefix("t=").unwrap().split_once(",v1=").unwrap();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let signed = [t.as_bytes(), b".", &body[..]].concat();
    ring::hmac::verify(&key, &signed, &hex::decode(v1).unwrap()).expect("signed with the secret it was given");
}
