//! Reaching people end to end: devices publish through the broker, and test
//! push subscribers (local HTTP receivers with their own P-256 keys and auth
//! secrets, as a browser's push service would hold them) receive what the
//! backend sends. Pushes are decrypted with an independent implementation
//! (Mozilla's `ece` crate, on OpenSSL), VAPID and gateway signatures are
//! checked with `ring`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::support::home::{DeviceRow, Home};
use crate::support::{Broker, TestApp, fresh_database, wait_for};

const DEVICES: &[DeviceRow] = &[
    ("sos-1", "sos_button", "bedroom", None, "native", None),
    ("watch-1", "wearable", "bedroom", None, "native", None),
];

/// Escalation steps 1 s and 2 s after opening, judged every 200 ms.
async fn fast_app() -> TestApp {
    TestApp::spawn_with(Broker::start().await, fresh_database().await, |s| {
        s.scheduler.tick_ms = 200;
        s.alerts.escalation_seconds = vec![1, 2];
    })
    .await
}

async fn event(app: &TestApp, device: &str, event: &str) {
    let ts = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    app.broker.publish(&format!("eldercare/v1/{device}/event"), json!({"ts": ts, "event": event}).to_string()).await;
}

/// One request a receiver got.
#[derive(Clone)]
struct Received {
    name: String,
    headers: HeaderMap,
    body: Bytes,
}

/// A local push service (and SMS gateway): records every POST to
/// `/push/{name}` or `/sms`, and answers 201 unless told otherwise, at once
/// unless told to be slow.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Mutex<HashMap<String, StatusCode>>>,
    /// How long a push endpoint takes to answer, by name.
    delays: Arc<Mutex<HashMap<String, Duration>>>,
    addr: Arc<Mutex<Option<SocketAddr>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        use axum::extract::Path;
        use axum::routing::post;
        let r = Receiver::default();
        let (push, sms) = (r.clone(), r.clone());
        let router = axum::Router::new()
            .route(
                "/push/{name}",
                post(move |Path(name): Path<String>, headers: HeaderMap, body: Bytes| async move {
                    let status = push.answers.lock().unwrap().get(&name).copied().unwrap_or(StatusCode::CREATED);
                    let delay = push.delays.lock().unwrap().get(&name).copied();
                    push.got.lock().unwrap().push(Received { name, headers, body });
                    if let Some(delay) = delay {
                        tokio::time::sleep(delay).await;
                    }
                    status
                }),
            )
            .route(
                "/sms",
                post(move |headers: HeaderMap, body: Bytes| async move {
                    let status = sms.answers.lock().unwrap().get("sms").copied().unwrap_or(StatusCode::OK);
                    sms.got.lock().unwrap().push(Received { name: "sms".into(), headers, body });
                    status
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        *r.addr.lock().unwrap() = Some(listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        r
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr.lock().unwrap().unwrap())
    }

    fn received(&self, name: &str) -> Vec<Received> {
        self.got.lock().unwrap().iter().filter(|r| r.name == name).cloned().collect()
    }
}

/// A browser's side of a subscription: its key pair and auth secret.
struct Browser {
    name: String,
    keys: Box<dyn ece::LocalKeyPair>,
    auth: [u8; 16],
    id: String,
}

impl Browser {
    /// Subscribes `token`'s user through the API, as a service worker would.
    async fn subscribe(app: &TestApp, receiver: &Receiver, token: &str, name: &str) -> Browser {
        let (keys, auth) = ece::generate_keypair_and_auth_secret().unwrap();
        let body = json!({
            "endpoint": receiver.url(&format!("/push/{name}")),
            "expirationTime": null,
            "keys": {"p256dh": B64.encode(keys.pub_as_raw().unwrap()), "auth": B64.encode(auth)},
        });
        let (status, created) = app.call("POST", "/api/v1/me/push-subscriptions", Some(token), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().unwrap().to_owned();
        Browser { name: name.to_owned(), keys, auth, id }
    }

    /// Every push this browser got, decrypted.
    fn pushes(&self, receiver: &Receiver) -> Vec<Value> {
        let components = self.keys.raw_components().unwrap();
        receiver
            .received(&self.name)
            .iter()
            .map(|r| {
                assert_eq!(r.headers["content-encoding"], "aes128gcm");
                let plain = ece::decrypt(&components, &self.auth, &r.body).expect("decrypts");
                serde_json::from_slice(&plain).expect("a JSON payload")
            })
            .collect()
    }

    async fn wait_push(&self, receiver: &Receiver, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        wait_for(&format!("{} to be pushed {what}", self.name), || async {
            self.pushes(receiver).into_iter().find(|p| pred(p))
        })
        .await
    }
}

fn is_alert(change: &str, kind: &str) -> impl Fn(&Value) -> bool {
    let (change, kind) = (change.to_owned(), kind.to_owned());
    move |p: &Value| p["type"] == "alert" && p["change"] == change.as_str() && p["alert"]["kind"] == kind.as_str()
}

/// Creates a user of the admin's institution; answers their id and token.
async fn user(app: &TestApp, admin: &str, role: &str, name: &str) -> (String, String) {
    let email = format!("{name}@test.example");
    let body = json!({"email": email, "password": "long enough pw", "role": role, "name": name});
    let id = app.post("/api/v1/users", admin, body).await["id"].as_str().unwrap().to_owned();
    (id, app.login(&email, "long enough pw").await)
}

/// A family member linked to the home's resident as her daughter; her token.
async fn daughter_of(app: &TestApp, h: &Home) -> String {
    let (family_id, family) = user(app, &h.token, "family", "daughter").await;
    app.post(
        &format!("/api/v1/residents/{}/family", h.rid),
        &h.token,
        json!({"user_id": family_id, "relationship": "daughter"}),
    )
    .await;
    family
}

async fn timeline(app: &TestApp, token: &str, alert: &str) -> Vec<Value> {
    app.get(&format!("/api/v1/alerts/{alert}/timeline"), token).await["entries"].as_array().unwrap().clone()
}

/// Checks the VAPID `Authorization` (RFC 8292): an ES256 JWT for the
/// endpoint's origin, signed by the published key.
fn verify_vapid(headers: &HeaderMap, published: &str, origin: &str) {
    let header = headers["authorization"].to_str().unwrap();
    let (token, key) = header.strip_prefix("vapid t=").unwrap().split_once(", k=").unwrap();
    assert_eq!(key, published);
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let (jose, claims) = signing_input.split_once('.').unwrap();
    let jose: Value = serde_json::from_slice(&B64.decode(jose).unwrap()).unwrap();
    assert_eq!(jose["alg"], "ES256");
    let claims: Value = serde_json::from_slice(&B64.decode(claims).unwrap()).unwrap();
    assert_eq!(claims["aud"], origin);
    let exp = claims["exp"].as_i64().unwrap();
    let now = Utc::now().timestamp();
    assert!(exp > now && exp <= now + 24 * 3600, "exp {exp} within a day");
    assert!(claims["sub"].as_str().unwrap().starts_with("mailto:"));
    let public = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_FIXED,
        B64.decode(published).unwrap(),
    );
    public.verify(signing_input.as_bytes(), &B64.decode(signature).unwrap()).expect("the VAPID signature verifies");
}

#[tokio::test]
async fn an_sos_is_pushed_encrypted_and_signed_to_the_carer_and_shown_on_the_timeline() {
    let app = fast_app().await;
    let receiver = Receiver::start().await;
    let h = Home::new(&app, "Grandma Li", DEVICES).await;
    let (carer_id, carer) = user(&app, &h.token, "staff", "carer").await;
    let key = app.get("/api/v1/push/vapid-public-key", &carer).await["key"].as_str().unwrap().to_owned();
    let browser = Browser::subscribe(&app, &receiver, &carer, "carer-phone").await;
    let listed = app.get("/api/v1/me/push-subscriptions", &carer).await;
    assert_eq!(listed["subscriptions"][0]["id"], browser.id.as_str());
    assert_eq!(listed["next_cursor"], Value::Null);

    event(&app, "sos-1", "sos_pressed").await;
    let push = browser.wait_push(&receiver, "the SOS", is_alert("alert.opened", "sos")).await;
    let alert = h.wait_alert(&app, "sos", |_| true).await;
    assert_eq!(push["alert"]["id"], alert["id"]);
    assert_eq!(push["alert"]["severity"], "critical");
    assert_eq!(push["alert"]["resident_name"], "Grandma Li");
    assert_eq!(push["alert"]["room"], "12");
    assert_eq!(push["alert"]["opened_at"].as_str().unwrap()[..19], alert["opened_at"].as_str().unwrap()[..19]);
    let request = &receiver.received("carer-phone")[0];
    assert_eq!(request.headers["urgency"], "high");
    assert!(request.headers["ttl"].to_str().unwrap().parse::<u32>().unwrap() > 0);
    verify_vapid(&request.headers, &key, &receiver.url(""));

    // Who was told, how, when.
    let aid = alert["id"].as_str().unwrap();
    let told = wait_for("the notification on the timeline", || async {
        timeline(&app, &h.token, aid).await.into_iter().find(|e| e["action"] == "notified")
    })
    .await;
    assert_eq!(told["details"]["user_id"], carer_id.as_str());
    assert_eq!(told["details"]["user_name"], "carer");
    assert_eq!(told["details"]["channel"], "push");
    assert!(told["at"].is_string());

    // Bad subscriptions are 422s, not panics.
    let bad =
        json!({"endpoint": receiver.url("/push/x"), "keys": {"p256dh": "AAAA", "auth": "BTBZMqHH6r4Tts7J_aSIgg"}});
    let (status, body) = app.call("POST", "/api/v1/me/push-subscriptions", Some(&carer), Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["code"].is_string());
    let (status, _) = app
        .call("POST", "/api/v1/me/push-subscriptions", Some(&carer), Some(json!({"endpoint": "ftp://x", "keys": {}})))
        .await;
    assert!(status.is_client_error());
    let (status, _) =
        app.call("DELETE", &format!("/api/v1/me/push-subscriptions/{}", browser.id), Some(&carer), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/me/push-subscriptions", &carer).await["subscriptions"], json!([]));
}

#[tokio::test]
async fn the_rota_tells_level_one_at_once_and_the_next_level_at_each_escalation_until_acknowledged() {
    let app = fast_app().await;
    let receiver = Receiver::start().await;
    let h = Home::new(&app, "Grandma Wu", DEVICES).await;
    let mut browsers = Vec::new();
    let mut ids = Vec::new();
    let mut tokens = Vec::new();
    for name in ["first", "second", "third"] {
        let (id, token) = user(&app, &h.token, "staff", name).await;
        browsers.push(Browser::subscribe(&app, &receiver, &token, name).await);
        ids.push(id);
        tokens.push(token);
    }
    let all_week = json!(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]);
    let shifts: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| json!({"user_id": id, "level": i + 1, "days": all_week, "start": "00:00", "end": "00:00"}))
        .collect();
    let (status, body) = app.call("PUT", "/api/v1/on-call", Some(&h.token), Some(json!({"shifts": shifts}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let now = app.get("/api/v1/on-call/now", &tokens[0]).await;
    let levels: Vec<(i64, String)> = now["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["level"].as_i64().unwrap(), l["users"][0]["name"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(levels, vec![(1, "first".into()), (2, "second".into()), (3, "third".into())]);
    // Only the institution's care staff can be on call.
    let stranger = json!({"shifts": [{"user_id": uuid::Uuid::new_v4(), "level": 1, "days": ["mon"], "start": "08:00", "end": "20:00"}]});
    let (status, _) = app.call("PUT", "/api/v1/on-call", Some(&h.token), Some(stranger)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // An SOS acknowledged at once by level 1...
    event(&app, "sos-1", "sos_pressed").await;
    let sos = browsers[0].wait_push(&receiver, "the SOS", is_alert("alert.opened", "sos")).await;
    let sid = sos["alert"]["id"].as_str().unwrap().to_owned();
    let (status, acked) = app.call("POST", &format!("/api/v1/alerts/{sid}/acknowledge"), Some(&tokens[0]), None).await;
    assert_eq!(status, StatusCode::OK);
    let level_at_ack = acked["escalation_level"].as_i64().unwrap();

    // ...and a fall nobody answers: level 1 at once, level 2 at the first
    // step, level 3 at the second.
    event(&app, "watch-1", "fall_detected").await;
    let fall = browsers[0].wait_push(&receiver, "the fall", is_alert("alert.opened", "fall")).await;
    let fid = fall["alert"]["id"].clone();
    let of_fall = |change: &'static str| {
        let fid = fid.clone();
        move |p: &Value| p["change"] == change && p["alert"]["id"] == fid
    };
    browsers[1].wait_push(&receiver, "the fall's first escalation", of_fall("alert.escalated")).await;
    browsers[2].wait_push(&receiver, "the fall's second escalation", of_fall("alert.escalated")).await;
    assert!(!browsers[1].pushes(&receiver).iter().any(of_fall("alert.opened")), "level 2 is not told at once");

    // The fall is at its last level, so the scheduler has long run past the
    // SOS's ladder: acknowledging it stopped it where it was.
    let is_sos = |p: &Value| p["alert"]["id"] == sid.as_str();
    let told_of_sos = browsers[1].pushes(&receiver).iter().filter(|p| is_sos(p)).count()
        + browsers[2].pushes(&receiver).iter().filter(|p| is_sos(p)).count();
    assert_eq!(told_of_sos as i64, level_at_ack, "one level told per escalation step before the acknowledgement");
    let told = wait_for("three notifications on the fall's timeline", || async {
        let told: Vec<String> = timeline(&app, &h.token, fid.as_str().unwrap())
            .await
            .iter()
            .filter(|e| e["action"] == "notified")
            .map(|e| e["details"]["user_name"].as_str().unwrap().to_owned())
            .collect();
        (told.len() >= 3).then_some(told)
    })
    .await;
    assert_eq!(told, vec!["first", "second", "third"]);
}

/// The institution's local time `minutes` from now, `HH:MM` (the bootstrap
/// institution runs on UTC).
fn hhmm(minutes: i64) -> String {
    (Utc::now() + chrono::Duration::minutes(minutes)).format("%H:%M").to_string()
}

#[tokio::test]
async fn quiet_hours_hold_back_lower_alerts_but_never_a_critical_one() {
    let app = fast_app().await;
    let receiver = Receiver::start().await;
    let h = Home::new(&app, "Grandma Zhou", DEVICES).await;
    let (sleeper_id, quiet) = user(&app, &h.token, "staff", "sleeper").await;
    let (_, awake) = user(&app, &h.token, "staff", "nightshift").await;
    let defaults = app.get("/api/v1/me/notification-preferences", &quiet).await;
    assert_eq!(defaults["min_severity"], "high");
    assert_eq!(defaults["defaults"], true);
    let prefs = |quiet_hours: Value| json!({"min_severity": "low", "kinds": null, "quiet_hours": quiet_hours});
    let (status, body) = app
        .call(
            "PUT",
            "/api/v1/me/notification-preferences",
            Some(&quiet),
            Some(prefs(json!({"start": hhmm(-60), "end": hhmm(60)}))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["quiet_hours"]["end"], hhmm(60));
    app.call("PUT", "/api/v1/me/notification-preferences", Some(&awake), Some(prefs(Value::Null))).await;
    let (status, body) = app
        .call(
            "PUT",
            "/api/v1/me/notification-preferences",
            Some(&quiet),
            Some(prefs(json!({"start": "25:00", "end": "07:00"}))),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let sleeper = Browser::subscribe(&app, &receiver, &quiet, "sleeper").await;
    let nightshift = Browser::subscribe(&app, &receiver, &awake, "nightshift").await;

    // A nearly flat battery (medium), then an SOS (critical).
    app.broker.publish("eldercare/v1/watch-1/status", json!({"online": true, "battery": 3}).to_string()).await;
    nightshift.wait_push(&receiver, "the low battery", is_alert("alert.opened", "low_battery")).await;
    event(&app, "sos-1", "sos_pressed").await;
    nightshift.wait_push(&receiver, "the SOS", is_alert("alert.opened", "sos")).await;
    sleeper.wait_push(&receiver, "the SOS, quiet hours or not", is_alert("alert.opened", "sos")).await;
    let held_back = sleeper.pushes(&receiver).iter().filter(|p| p["alert"]["kind"] == "low_battery").count();
    assert_eq!(held_back, 0, "the low battery waits out the quiet hours");
    // Planned before the SOS (jobs go in order), and not for the sleeper.
    let planned = app
        .count(&format!(
            "select count(*) from notification_deliveries d join alerts a on a.id = d.alert_id
             where a.kind = 'low_battery' and d.user_id = '{sleeper_id}'"
        ))
        .await;
    assert_eq!(planned, 0);
    let low = h.wait_alert(&app, "low_battery", |_| true).await;
    assert_eq!(low["severity"], "medium");
}

#[tokio::test]
async fn the_family_is_told_of_a_critical_alert_when_it_opens_and_when_it_is_resolved() {
    let app = fast_app().await;
    let receiver = Receiver::start().await;
    let h = Home::new(&app, "Grandma Sun", DEVICES).await;
    let family = daughter_of(&app, &h).await;
    let (_, stranger) = user(&app, &h.token, "family", "neighbour").await;
    let phone = Browser::subscribe(&app, &receiver, &family, "daughter-phone").await;
    let unrelated = Browser::subscribe(&app, &receiver, &stranger, "neighbour-phone").await;

    app.broker.publish("eldercare/v1/watch-1/status", json!({"online": true, "battery": 3}).to_string()).await;
    event(&app, "sos-1", "sos_pressed").await;
    let opened = phone.wait_push(&receiver, "the SOS", is_alert("alert.opened", "sos")).await;
    let id = opened["alert"]["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .call("POST", &format!("/api/v1/alerts/{id}/resolve"), Some(&h.token), Some(json!({"resolution": "handled"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let resolved = phone.wait_push(&receiver, "the resolution", is_alert("alert.resolved", "sos")).await;
    assert_eq!(resolved["alert"]["id"], id.as_str());
    assert!(phone.pushes(&receiver).iter().all(|p| p["alert"]["kind"] == "sos"), "family defaults: critical only");
    assert!(unrelated.pushes(&receiver).is_empty(), "not their resident");
}

#[tokio::test]
async fn an_sms_gateway_gets_a_signed_post_for_users_who_chose_it() {
    let app = fast_app().await;
    let receiver = Receiver::start().await;
    let h = Home::new(&app, "Grandma Ma", DEVICES).await;
    let (carer_id, carer) = user(&app, &h.token, "staff", "carer").await;
    let secret = "sms-gateway-secret-0123";
    let (status, gateway) = app
        .call(
            "POST",
            "/api/v1/channels",
            Some(&h.token),
            Some(json!({"kind": "sms", "url": receiver.url("/sms"), "secret": secret})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{gateway}");
    let listed = app.get("/api/v1/channels", &h.token).await;
    assert_eq!(listed["channels"][0]["kind"], "sms");
    assert!(!listed.to_string().contains(secret), "the secret is never read back");
    let (status, me) = app.call("PATCH", "/api/v1/me", Some(&carer), Some(json!({"phone": "+86 138 0000 0001"}))).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["phone"], "+8613800000001");
    let (status, _) = app.call("PATCH", "/api/v1/me", Some(&carer), Some(json!({"phone": "call me"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // The admin can set it too.
    let (status, _) = app
        .call("PATCH", &format!("/api/v1/users/{carer_id}"), Some(&h.token), Some(json!({"phone": "+8613800000002"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let prefs = json!({"min_severity": "high", "kinds": null, "quiet_hours": null, "channels": ["push", "sms"]});
    app.call("PUT", "/api/v1/me/notification-preferences", Some(&carer), Some(prefs)).await;

    event(&app, "sos-1", "sos_pressed").await;
    let sms = wait_for("the SMS", || async { receiver.received("sms").into_iter().next() }).await;
    let body: Value = serde_json::from_slice(&sms.body).unwrap();
    assert_eq!(body["to"], "+8613800000002");
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("sos") && text.contains("Grandma Ma"), "{text}");
    // X-Eldercare-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
    let signature = sms.headers["x-eldercare-signature"].to_str().unwrap();
    let (t, v1) = signature.strip_prefix("t=").unwrap().split_once(",v1=").unwrap();
    assert!((Utc::now().timestamp() - t.parse::<i64>().unwrap()).abs() < 300);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let signed = [t.as_bytes(), b".", &sms.body[..]].concat();
    ring::hmac::verify(&key, &signed, &hex::decode(v1).unwrap()).expect("the gateway signature verifies");

    let alert = h.wait_alert(&app, "sos", |_| true).await;
    let aid = alert["id"].as_str().unwrap();
    wait_for("the SMS on the timeline", || async {
        timeline(&app, &h.token, aid)
            .await
            .into_iter()
            .find(|e| e["action"] == "notified" && e["details"]["channel"] == "sms")
    })
    .await;
    let gid = gateway["id"].as_str().unwrap();
    let (status, _) = app.call("DELETE", &format!("/api/v1/channels/{gid}"), Some(&h.token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_push_endpoint_that_answers_410_is_removed() {
    let app = fast_app().await;
    let receiver = Receiver::start().await;
    let h = Home::new(&app, "Grandma Qian", DEVICES).await;
    let (_, carer) = user(&app, &h.token, "staff", "carer").await;
    receiver.answers.lock().unwrap().insert("old-phone".into(), StatusCode::GONE);
    let old = Browser::subscribe(&app, &receiver, &carer, "old-phone").await;
    let new = Browser::subscribe(&app, &receiver, &carer, "new-phone").await;
    event(&app, "sos-1", "sos_pressed").await;
    new.wait_push(&receiver, "the SOS", is_alert("alert.opened", "sos")).await;
    let remaining = wait_for("the gone subscription to be removed", || async {
        let list = app.get("/api/v1/me/push-subscriptions", &carer).await["subscriptions"].as_array()?.clone();
        (list.len() == 1).then_some(list)
    })
    .await;
    assert_eq!(remaining[0]["id"], new.id.as_str());
    assert_eq!(receiver.received("old-phone").len(), 1, "tried once, then removed, not retried");
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"eldercare_notifications_total{channel="push",outcome="gone"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"eldercare_notifications_total{channel="push",outcome="sent"}"#));
    let (status, _) = app.call("GET", &format!("/api/v1/me/push-subscriptions/{}", old.id), Some(&carer), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_new_message_is_pushed_to_the_other_side() {
    let app = fast_app().await;
    let receiver = Receiver::start().await;
    let h = Home::new(&app, "Grandma Zhao", DEVICES).await;
    let (family_id, family) = user(&app, &h.token, "family", "son").await;
    app.post(
        &format!("/api/v1/residents/{}/family", h.rid),
        &h.token,
        json!({"user_id": family_id, "relationship": "son"}),
    )
    .await;
    let (_, carer) = user(&app, &h.token, "staff", "carer").await;
    let son = Browser::subscribe(&app, &receiver, &family, "son-phone").await;
    let team = Browser::subscribe(&app, &receiver, &carer, "carer-phone").await;

    let path = format!("/api/v1/residents/{}/messages", h.rid);
    app.post(&path, &family, json!({"text": "Did she sleep well?"})).await;
    let asked = team.wait_push(&receiver, "the question", |p| p["type"] == "message").await;
    assert_eq!(asked, json!({"type": "message", "resident_id": h.rid, "from": "son", "text": "Did she sleep well?"}));
    app.post(&path, &carer, json!({"text": "Yes, eight hours."})).await;
    let answer = son.wait_push(&receiver, "the answer", |p| p["type"] == "message").await;
    assert_eq!(answer["from"], "carer");
    assert_eq!(answer["text"], "Yes, eight hours.");
    assert!(son.pushes(&receiver).iter().all(|p| p["from"] != "son"), "not told of their own message");
    let request = &receiver.received("son-phone")[0];
    assert_eq!(request.headers["urgency"], "normal");
}

#[tokio::test]
async fn the_console_serves_its_service_worker_under_its_content_security_policy() {
    let app = TestApp::spawn().await;
    let r = app.http.get(app.url("/console/sw.js")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let script = r.text().await.unwrap();
    assert!(script.contains("addEventListener('push'") && script.contains("showNotification"));
    let page = app.http.get(app.url("/console/app/push.js")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("register('/console/sw.js'") && page.contains("/me/push-subscriptions"));
}

#[tokio::test]
async fn the_vapid_key_is_kept_across_restarts_or_given_in_the_settings() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let first = app.get("/api/v1/push/vapid-public-key", &token).await["key"].clone();
    assert_eq!(B64.decode(first.as_str().unwrap()).unwrap().len(), 65, "an uncompressed P-256 point");
    let (broker, db) = app.stop().await;
    let app = TestApp::spawn_with(broker, db, |_| {}).await;
    let token = app.admin_token().await;
    assert_eq!(app.get("/api/v1/push/vapid-public-key", &token).await["key"], first, "kept in the database");
    let (broker, db) = app.stop().await;
    // RFC 8291's example key pair: the private key given, its public key published.
    let app = TestApp::spawn_with(broker, db, |s| {
        s.push.vapid_private_key = Some("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94".to_owned().into());
    })
    .await;
    let token = app.admin_token().await;
    assert_eq!(
        app.get("/api/v1/push/vapid-public-key", &token).await["key"],
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
    );
}

#[tokio::test]
async fn a_failing_sms_gateway_is_retried_and_never_holds_up_the_push() {
    let app = fast_app().await;
    let receiver = Receiver::start().await;
    let h = Home::new(&app, "Grandma He", DEVICES).await;
    let (_, carer) = user(&app, &h.token, "staff", "carer").await;
    let gateway = json!({"kind": "voice", "url": receiver.url("/sms"), "secret": "voice-gateway-secret-0"});
    app.post("/api/v1/channels", &h.token, gateway).await;
    app.call("PATCH", "/api/v1/me", Some(&carer), Some(json!({"phone": "+8613800000003"}))).await;
    let prefs = json!({"min_severity": "high", "kinds": null, "quiet_hours": null, "channels": ["voice", "push"]});
    app.call("PUT", "/api/v1/me/notification-preferences", Some(&carer), Some(prefs)).await;
    let phone = Browser::subscribe(&app, &receiver, &carer, "carer-phone").await;
    receiver.answers.lock().unwrap().insert("sms".into(), StatusCode::SERVICE_UNAVAILABLE);

    event(&app, "sos-1", "sos_pressed").await;
    phone.wait_push(&receiver, "the SOS", is_alert("alert.opened", "sos")).await;
    let first = wait_for("the first call attempt", || async { receiver.received("sms").into_iter().next() }).await;
    receiver.answers.lock().unwrap().insert("sms".into(), StatusCode::OK);
    // Retried after its backoff (5 s), as the same delivery.
    let retry = wait_for("the retry", || async { receiver.received("sms").into_iter().nth(1) }).await;
    assert_eq!(retry.headers["x-eldercare-delivery"], first.headers["x-eldercare-delivery"]);
    assert_eq!(retry.body, first.body);
    let delivered = "select count(*) from notification_deliveries where channel = 'voice' and delivered_at is not null";
    app.wait_count(delivered, 1).await;
}

#[tokio::test]
async fn an_sos_reaches_a_slow_endpoint_ahead_of_thousands_of_queued_messages() {
    let app = fast_app().await;
    let receiver = Receiver::start().await;
    let h = Home::new(&app, "Grandma Sun", DEVICES).await;
    let (carer_id, carer) = user(&app, &h.token, "staff", "carer").await;
    // A push service that takes 200 ms per request: 3,000 messages take it
    // ten minutes.
    receiver.delays.lock().unwrap().insert("slow-phone".into(), Duration::from_millis(200));
    let phone = Browser::subscribe(&app, &receiver, &carer, "slow-phone").await;
    let queued = 3000;
    sqlx::query(
        "insert into notification_deliveries (id, user_id, channel, subscription_id, payload, urgent, next_attempt_at)
         select gen_random_uuid(), $1::uuid, 'push', $2::uuid,
                jsonb_build_object('type', 'message', 'resident_id', $3::text, 'from', 'flood', 'text', 'chatter ' || n),
                false, now() - make_interval(secs => 60 - n * 0.001)
         from generate_series(1, $4) n",
    )
    .bind(&carer_id)
    .bind(&phone.id)
    .bind(&h.rid)
    .bind(queued)
    .execute(&app.pool)
    .await
    .unwrap();
    wait_for("the chatter to start", || async { (!receiver.received("slow-phone").is_empty()).then_some(()) }).await;

    event(&app, "sos-1", "sos_pressed").await;
    phone.wait_push(&receiver, "the SOS", is_alert("alert.opened", "sos")).await;
    let pushes = phone.pushes(&receiver);
    let sos = pushes.iter().position(is_alert("alert.opened", "sos")).unwrap();
    assert!(pushes[..sos].iter().all(|p| p["type"] == "message"));
    assert!(sos < 500, "the SOS came after {sos} of {queued} messages");
    let undelivered = app
        .count(
            "select count(*) from notification_deliveries where payload->>'type' = 'message' and delivered_at is null",
        )
        .await;
    assert!(undelivered > 2000, "the chatter queue is far from drained ({undelivered} left)");
    let sos_request = receiver.received("slow-phone").into_iter().nth(sos).unwrap();
    assert_eq!(sos_request.headers["urgency"], "high");
    // The messages went one at a time, oldest first.
    let texts: Vec<&str> = pushes.iter().filter_map(|p| p["text"].as_str()).collect();
    let expected: Vec<String> = (1..=texts.len()).map(|n| format!("chatter {n}")).collect();
    assert_eq!(texts, expected);
}

#[tokio::test]
async fn a_user_posts_at_most_thirty_messages_in_ten_minutes_across_processes() {
    let one = TestApp::spawn().await;
    let h = Home::new(&one, "Grandma Ma", DEVICES).await;
    let (family_id, family) = user(&one, &h.token, "family", "daughter").await;
    one.post(
        &format!("/api/v1/residents/{}/family", h.rid),
        &h.token,
        json!({"user_id": family_id, "relationship": "daughter"}),
    )
    .await;
    // A second serve process on the same database.
    let two = TestApp::spawn_with(Broker::start().await, one.database_url.clone(), |_| {}).await;
    let path = format!("/api/v1/residents/{}/messages", h.rid);
    for n in 0..30 {
        let app = if n % 2 == 0 { &one } else { &two };
        let (status, body) = app.call("POST", &path, Some(&family), Some(json!({"text": format!("hello {n}")}))).await;
        assert_eq!(status, StatusCode::CREATED, "message {n}: {body}");
    }
    for app in [&one, &two] {
        let r =
            app.http.post(app.url(&path)).bearer_auth(&family).json(&json!({"text": "one more"})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=600).contains(&retry), "Retry-After {retry}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "too_many_requests");
    }
    assert_eq!(one.count("select count(*) from messages").await, 30, "nothing stored beyond the limit");
    // The limit is the user's, not the thread's: the care team still writes.
    let (status, _) = one.call("POST", &path, Some(&h.token), Some(json!({"text": "We are here."}))).await;
    assert_eq!(status, StatusCode::CREATED);
    // Once the oldest leaves the window, the author may post again.
    sqlx::query("update messages set created_at = created_at - interval '11 minutes' where body = 'hello 0'")
        .execute(&one.pool)
        .await
        .unwrap();
    let (status, body) = two.call("POST", &path, Some(&family), Some(json!({"text": "now"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn the_eleventh_push_subscription_replaces_the_oldest() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let h = Home::new(&app, "Grandma Lu", DEVICES).await;
    let (_, carer) = user(&app, &h.token, "staff", "carer").await;
    let mut browsers = Vec::new();
    for n in 0..11 {
        browsers.push(Browser::subscribe(&app, &receiver, &carer, &format!("phone-{n}")).await);
    }
    let listed = app.get("/api/v1/me/push-subscriptions", &carer).await;
    let mut ids: Vec<&str> =
        listed["subscriptions"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    let mut expected: Vec<&str> = browsers[1..].iter().map(|b| b.id.as_str()).collect();
    ids.sort();
    expected.sort();
    assert_eq!(ids, expected, "the ten newest are kept");
    let (status, _) =
        app.call("GET", &format!("/api/v1/me/push-subscriptions/{}", browsers[0].id), Some(&carer), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Subscribing a kept endpoint again replaces its keys and drops nothing.
    Browser::subscribe(&app, &receiver, &carer, "phone-5").await;
    assert_eq!(app.count("select count(*) from push_subscriptions").await, 10);
}

#[tokio::test]
async fn old_payloads_of_finished_deliveries_are_purged_and_pending_ones_kept() {
    let app = TestApp::spawn_with(Broker::start().await, fresh_database().await, |s| {
        s.scheduler.tick_ms = 100;
        s.retention.every_secs = 1;
    })
    .await;
    let admin: uuid::Uuid =
        sqlx::query_scalar("select id from users where role = 'admin' limit 1").fetch_one(&app.pool).await.unwrap();
    // (text, delivered, failed): eight days ago or yesterday, or not yet.
    let seed = [
        ("old delivered", Some(8), None),
        ("old failed", None, Some(8)),
        ("recent delivered", Some(1), None),
        ("old pending", None, None),
    ];
    for (text, delivered, failed) in seed {
        // Pending: not due for a day, so the outbox leaves it alone.
        sqlx::query(
            "insert into notification_deliveries
                 (id, user_id, channel, phone, payload, created_at, next_attempt_at, delivered_at, failed_at)
             values (gen_random_uuid(), $1, 'sms', '+8613800000009',
                     jsonb_build_object('to', '+8613800000009', 'text', $2::text), now() - interval '8 days',
                     now() + interval '1 day', now() - make_interval(days => $3), now() - make_interval(days => $4))",
        )
        .bind(admin)
        .bind(text)
        .bind(delivered)
        .bind(failed)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    app.wait_count("select count(*) from notification_deliveries where payload is null", 2).await;
    let kept: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
        "select payload->>'text', phone from notification_deliveries order by payload->>'text' nulls first",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        kept,
        vec![
            (None, None),
            (None, None),
            (Some("old pending".into()), Some("+8613800000009".into())),
            (Some("recent delivered".into()), Some("+8613800000009".into())),
        ]
    );
}

#[tokio::test]
async fn a_presence_check_asks_the_family_and_texts_her_own_phone_but_not_the_staff() {
    let app = fast_app().await;
    let receiver = Receiver::start().await;
    // Her own phone is on the registry; the institution has an SMS gateway.
    let token = app.admin_token().await;
    let registered = app
        .post(
            "/api/v1/residents",
            &token,
            json!({"name": "Grandma Lu", "timezone": "Asia/Shanghai", "phone": "138 0000 0042"}),
        )
        .await;
    let h = Home { token, rid: registered["id"].as_str().expect("id").to_owned() };
    let gateway = json!({"kind": "sms", "url": receiver.url("/sms"), "secret": "sms-gateway-secret-0123"});
    let (status, body) = app.call("POST", "/api/v1/channels", Some(&h.token), Some(gateway)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Her daughter keeps the family's defaults (critical alerts only); a
    // carer is on the staff.
    let family = daughter_of(&app, &h).await;
    let (carer_id, carer) = user(&app, &h.token, "staff", "carer").await;
    let daughter = Browser::subscribe(&app, &receiver, &family, "daughter-phone").await;
    let _carer_phone = Browser::subscribe(&app, &receiver, &carer, "carer-phone").await;

    // The scheduler's question, raised as the rules raise it.
    let closed = Utc::now() - chrono::Duration::minutes(30);
    let local = closed.with_timezone(&chrono_tz::Asia::Shanghai);
    let subject = eldercare::alerts::Subject {
        institution_id: app.get("/api/v1/me", &h.token).await["institution_id"].as_str().unwrap().parse().unwrap(),
        resident_id: Some(h.rid.parse().unwrap()),
        device_id: None,
        room: None,
    };
    let decision = eldercare::rules::Decision::Raise {
        kind: eldercare::domain::AlertKind::PresenceCheck,
        cause: format!("presence_check:{}", closed.to_rfc3339()),
        severity: eldercare::domain::Severity::Low,
        at: Utc::now(),
        details: json!({"door_closed_at": closed, "local_door_closed": local.to_rfc3339(), "timezone": "Asia/Shanghai"}),
    };
    eldercare::alerts::apply(&app.pool, &app.metrics, &subject, &decision, false).await.expect("raised");

    // The daughter is asked, below the severity she chose for alarms.
    let asked = daughter.wait_push(&receiver, "the question", is_alert("alert.opened", "presence_check")).await;
    assert_eq!(asked["alert"]["severity"], "low");
    // Her own phone gets a text saying how to answer it.
    let sms = wait_for("the SMS to her phone", || async { receiver.received("sms").into_iter().next() }).await;
    let body: Value = serde_json::from_slice(&sms.body).unwrap();
    assert_eq!(body["to"], "13800000042");
    let text = body["text"].as_str().unwrap();
    assert!(text.contains(&local.format("%H:%M").to_string()) && text.contains("move about"), "{text}");
    let aid = asked["alert"]["id"].as_str().unwrap();
    wait_for("her SMS on the timeline", || async {
        timeline(&app, &h.token, aid).await.into_iter().find(|e| {
            e["action"] == "notified"
                && e["details"]["channel"] == "sms"
                && e["details"]["resident_id"] == h.rid.as_str()
        })
    })
    .await;
    // The staff hear of it only as the inactivity that follows if nobody
    // answers: nothing was planned for the carer, in the same plan as the
    // daughter's.
    let to_carer: i64 = sqlx::query_scalar(
        "select count(*) from notification_deliveries where alert_id = $1::uuid and user_id = $2::uuid",
    )
    .bind(aid)
    .bind(&carer_id)
    .fetch_one(&app.pool)
    .await
    .expect("deliveries");
    assert_eq!(to_carer, 0);
}
