//! Taking access away: disabling a user, unlinking a family member, revoking
//! sessions, an admin's password reset, and session lifetimes. Each takes
//! effect at once, on the open live stream too.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{PATIENCE, TestApp, wait_for};

type Bytes = Pin<Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// An open `GET /api/v1/alerts/stream`, and what it carried so far.
struct Live {
    stream: Bytes,
    text: String,
}

impl Live {
    /// Opens the stream and waits for its `ready` event.
    async fn open(app: &TestApp, token: &str) -> Live {
        let r = app.http.get(app.url("/api/v1/alerts/stream")).bearer_auth(token).send().await.expect("stream");
        assert_eq!(r.status(), StatusCode::OK);
        let mut live = Live { stream: Box::pin(r.bytes_stream()), text: String::new() };
        live.until("the ready event", |t| t.contains("event: ready")).await;
        live
    }

    /// Reads until what arrived satisfies `done`.
    async fn until(&mut self, what: &str, done: impl Fn(&str) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !done(&self.text) {
            let chunk = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
                .unwrap_or_else(|| panic!("the stream ended before {what}"))
                .expect("a chunk");
            self.text.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Waits for the server to end the stream.
    async fn ended(mut self) {
        let closing = async { while let Some(Ok(_)) = self.stream.next().await {} };
        tokio::time::timeout(PATIENCE, closing).await.expect("the server to close the stream");
    }
}

fn id_of(body: &Value) -> String {
    body["id"].as_str().expect("an id").to_owned()
}

/// A user of the bootstrap institution, logged in: (id, token).
async fn user(app: &TestApp, admin: &str, email: &str, role: &str) -> (String, String) {
    let body = json!({"email": email, "password": "long enough pw", "role": role, "name": email});
    let id = id_of(&app.post("/api/v1/users", admin, body).await);
    (id, app.login(email, "long enough pw").await)
}

async fn status(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> StatusCode {
    app.call(method, path, Some(token), body).await.0
}

async fn login_status(app: &TestApp, email: &str, password: &str) -> StatusCode {
    app.call("POST", "/api/v1/auth/login", None, Some(json!({"email": email, "password": password}))).await.0
}

#[tokio::test]
async fn a_disabled_user_is_out_at_once_and_their_stream_closes() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (id, token) = user(&app, &admin, "leaver@test.example", "staff").await;
    let live = Live::open(&app, &token).await;

    let (code, body) =
        app.call("PATCH", &format!("/api/v1/users/{id}"), Some(&admin), Some(json!({"disabled": true}))).await;
    assert_eq!((code, body["disabled"].clone()), (StatusCode::OK, json!(true)), "{body}");
    live.ended().await;
    assert_eq!(status(&app, "GET", "/api/v1/me", &token, None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(login_status(&app, "leaver@test.example", "long enough pw").await, StatusCode::UNAUTHORIZED);
    let trail = app.get("/api/v1/audit?action=user.updated", &admin).await;
    assert_eq!(trail["entries"][0]["details"]["sessions_ended"], 1);

    // Enabled again, they log in again; an admin cannot lock themselves out.
    app.call("PATCH", &format!("/api/v1/users/{id}"), Some(&admin), Some(json!({"disabled": false}))).await;
    assert_eq!(login_status(&app, "leaver@test.example", "long enough pw").await, StatusCode::OK);
    let me = id_of(&app.get("/api/v1/me", &admin).await);
    let own = status(&app, "PATCH", &format!("/api/v1/users/{me}"), &admin, Some(json!({"disabled": true}))).await;
    assert_eq!(own, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_role_change_ends_the_sessions_and_takes_effect_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (id, token) = user(&app, &admin, "carer@test.example", "staff").await;
    app.resident(&token, "Grandma").await;
    let live = Live::open(&app, &token).await;
    let (code, body) =
        app.call("PATCH", &format!("/api/v1/users/{id}"), Some(&admin), Some(json!({"role": "caregiver"}))).await;
    assert_eq!((code, body["role"].clone()), (StatusCode::OK, json!("caregiver")));
    live.ended().await;
    assert_eq!(status(&app, "GET", "/api/v1/me", &token, None).await, StatusCode::UNAUTHORIZED);
    let token = app.login("carer@test.example", "long enough pw").await;
    assert_eq!(app.get("/api/v1/residents", &token).await["residents"], json!([]), "a caregiver sees no resident yet");
    let platform = json!({"role": "operator"});
    let refused = status(&app, "PATCH", &format!("/api/v1/users/{id}"), &admin, Some(platform)).await;
    assert_eq!(refused, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_unlinked_family_member_reads_the_resident_no_more_stream_included() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (family_id, family) = user(&app, &admin, "son@test.example", "family").await;
    let mum = app.resident(&admin, "Mum").await;
    let dad = app.resident(&admin, "Dad").await;
    for (resident, device) in [(&mum, "sos-mum"), (&dad, "sos-dad")] {
        app.post(
            &format!("/api/v1/residents/{resident}/family"),
            &admin,
            json!({"user_id": family_id, "relationship": "son"}),
        )
        .await;
        app.device(&admin, json!({"device_id": device, "resident_id": resident, "kind": "sos_button"})).await;
    }
    assert_eq!(status(&app, "GET", &format!("/api/v1/residents/{mum}"), &family, None).await, StatusCode::OK);
    let mut live = Live::open(&app, &family).await;

    let unlink = format!("/api/v1/residents/{mum}/family/{family_id}");
    assert_eq!(status(&app, "DELETE", &unlink, &admin, None).await, StatusCode::NO_CONTENT);
    assert_eq!(status(&app, "DELETE", &unlink, &admin, None).await, StatusCode::NOT_FOUND, "already unlinked");
    for path in [format!("/api/v1/residents/{mum}"), format!("/api/v1/residents/{mum}/summary")] {
        assert_eq!(status(&app, "GET", &path, &family, None).await, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(status(&app, "GET", &format!("/api/v1/residents/{dad}"), &family, None).await, StatusCode::OK);
    // Mum's SOS first, then Dad's: the stream carries Dad's only.
    app.broker.publish("eldercare/v1/sos-mum/event", json!({"event": "sos_pressed"}).to_string()).await;
    wait_for("mum's alert", || async {
        let alerts = app.get(&format!("/api/v1/alerts?resident_id={mum}"), &admin).await;
        alerts["alerts"].as_array()?.first().cloned()
    })
    .await;
    app.broker.publish("eldercare/v1/sos-dad/event", json!({"event": "sos_pressed"}).to_string()).await;
    live.until("dad's alert", |t| t.contains(&format!("\"resident_id\":\"{dad}\""))).await;
    assert!(!live.text.contains(&mum), "the unlinked resident's alert reached the stream: {}", live.text);
    let trail = app.get("/api/v1/audit?action=family.unlinked", &admin).await;
    assert_eq!(trail["entries"][0]["details"]["user_id"], family_id.as_str());
}

#[tokio::test]
async fn revoked_sessions_and_a_reset_password_end_every_session_and_stream() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (id, first) = user(&app, &admin, "nurse@test.example", "staff").await;
    let second = app.login("nurse@test.example", "long enough pw").await;
    let live = Live::open(&app, &first).await;

    let revoked = app.post(&format!("/api/v1/users/{id}/revoke-sessions"), &admin, json!(null)).await;
    assert_eq!(revoked["sessions_ended"], 2);
    live.ended().await;
    for token in [&first, &second] {
        assert_eq!(status(&app, "GET", "/api/v1/me", token, None).await, StatusCode::UNAUTHORIZED);
    }
    // They log in again; then the admin resets the password.
    let token = app.login("nurse@test.example", "long enough pw").await;
    let live = Live::open(&app, &token).await;
    let reset = json!({"password": "a fresh password"});
    assert_eq!(
        status(&app, "POST", &format!("/api/v1/users/{id}/password"), &admin, Some(reset)).await,
        StatusCode::NO_CONTENT
    );
    live.ended().await;
    assert_eq!(status(&app, "GET", "/api/v1/me", &token, None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(login_status(&app, "nurse@test.example", "long enough pw").await, StatusCode::UNAUTHORIZED);
    assert_eq!(login_status(&app, "nurse@test.example", "a fresh password").await, StatusCode::OK);
    let trail = app.get(&format!("/api/v1/audit?entity=user&entity_id={id}"), &admin).await;
    let actions: Vec<&str> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| !a.starts_with("login."))
        .collect();
    assert_eq!(actions, ["user.password_reset", "user.sessions_revoked", "user.created"]);
    assert!(!trail.to_string().contains("a fresh password"));
}

#[tokio::test]
async fn users_list_and_end_their_own_sessions() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, phone) = user(&app, &admin, "daughter@test.example", "family").await;
    let laptop = app.login("daughter@test.example", "long enough pw").await;
    let listed = app.get("/api/v1/me/sessions", &laptop).await;
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let other = sessions.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(other["kind"], "login");
    let path = format!("/api/v1/me/sessions/{}", other["id"].as_str().unwrap());
    // Nobody ends someone else's session.
    assert_eq!(status(&app, "DELETE", &path, &admin, None).await, StatusCode::NOT_FOUND);
    let live = Live::open(&app, &phone).await;
    assert_eq!(status(&app, "DELETE", &path, &laptop, None).await, StatusCode::NO_CONTENT);
    live.ended().await;
    assert_eq!(status(&app, "GET", "/api/v1/me", &phone, None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&app, "DELETE", &path, &laptop, None).await, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/me/sessions", &laptop).await["sessions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn sessions_end_after_their_idle_time_and_their_absolute_lifetime() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (staff_id, _) = user(&app, &admin, "staff@test.example", "staff").await;
    let (family_id, _) = user(&app, &admin, "family@test.example", "family").await;
    let app = &app;
    let login = |email: &'static str| async move {
        let (code, body) = app
            .call("POST", "/api/v1/auth/login", None, Some(json!({"email": email, "password": "long enough pw"})))
            .await;
        assert_eq!(code, StatusCode::OK);
        let expires: chrono::DateTime<chrono::Utc> = body["expires_at"].as_str().unwrap().parse().unwrap();
        (body["token"].as_str().unwrap().to_owned(), expires - chrono::Utc::now())
    };
    // The absolute lifetime is the promise a login answers with.
    let (staff, staff_life) = login("staff@test.example").await;
    let (family, family_life) = login("family@test.example").await;
    assert!(staff_life <= chrono::Duration::hours(12) && staff_life > chrono::Duration::hours(11), "{staff_life}");
    assert!(family_life <= chrono::Duration::days(90) && family_life > chrono::Duration::days(89), "{family_life}");

    // Unused for three hours: staff are out, family are not.
    let age = |user: &str, column: &str, by: &str| {
        let sql = format!("update sessions set {column} = now() - interval '{by}' where user_id = '{user}'");
        let pool = app.pool.clone();
        async move { sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await.unwrap() }
    };
    age(&staff_id, "last_used_at", "3 hours").await;
    age(&family_id, "last_used_at", "3 hours").await;
    assert_eq!(status(app, "GET", "/api/v1/me", &staff, None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(app, "GET", "/api/v1/me", &family, None).await, StatusCode::OK);
    age(&family_id, "last_used_at", "31 days").await;
    assert_eq!(status(app, "GET", "/api/v1/me", &family, None).await, StatusCode::UNAUTHORIZED);

    // Used all along but begun thirteen hours ago: staff are out; use does
    // not extend a session beyond its absolute lifetime.
    let (staff, _) = login("staff@test.example").await;
    let (family, _) = login("family@test.example").await;
    age(&staff_id, "created_at", "13 hours").await;
    age(&family_id, "created_at", "13 hours").await;
    assert_eq!(status(app, "GET", "/api/v1/me", &staff, None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(app, "GET", "/api/v1/me", &family, None).await, StatusCode::OK);
    age(&family_id, "created_at", "91 days").await;
    assert_eq!(status(app, "GET", "/api/v1/me", &family, None).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn session_lifetimes_follow_the_settings() {
    let broker = crate::support::Broker::start().await;
    let db = crate::support::fresh_database().await;
    let app = TestApp::spawn_with(broker, db, |s| {
        s.auth.staff_idle_minutes = 5;
        s.auth.staff_absolute_hours = 1;
    })
    .await;
    let admin = app.admin_token().await;
    let credentials = json!({"email": crate::support::ADMIN_EMAIL, "password": crate::support::ADMIN_PASSWORD});
    let (code, body) = app.call("POST", "/api/v1/auth/login", None, Some(credentials)).await;
    assert_eq!(code, StatusCode::OK);
    let expires: chrono::DateTime<chrono::Utc> = body["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(expires - chrono::Utc::now() <= chrono::Duration::hours(1));
    sqlx::query("update sessions set last_used_at = now() - interval '6 minutes'").execute(&app.pool).await.unwrap();
    assert_eq!(status(&app, "GET", "/api/v1/me", &admin, None).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_display_token_shows_the_console_read_only_until_it_is_ended() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let rid = app.resident(&admin, "Grandma").await;
    app.device(&admin, json!({"device_id": "sos-1", "resident_id": rid, "kind": "sos_button"})).await;
    let (code, made) =
        app.call("POST", "/api/v1/display-tokens", Some(&admin), Some(json!({"label": "Nurses' station"}))).await;
    assert_eq!(code, StatusCode::CREATED, "{made}");
    let screen = made["token"].as_str().unwrap().to_owned();
    let expires: chrono::DateTime<chrono::Utc> = made["expires_at"].as_str().unwrap().parse().unwrap();
    let life = expires - chrono::Utc::now();
    assert!(life > chrono::Duration::days(29) && life <= chrono::Duration::days(30), "{life}");

    let me = app.get("/api/v1/me", &screen).await;
    assert_eq!(me["session_kind"], "display");
    assert_eq!(app.get("/api/v1/residents", &screen).await["residents"][0]["id"], rid.as_str());
    let mut live = Live::open(&app, &screen).await;
    app.broker.publish("eldercare/v1/sos-1/event", json!({"event": "sos_pressed"}).to_string()).await;
    live.until("the SOS on the wall screen", |t| t.contains("\"kind\":\"sos\"")).await;
    let alert = app.get("/api/v1/alerts", &screen).await["alerts"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(status(&app, "GET", &format!("/api/v1/alerts/{alert}/timeline"), &screen, None).await, StatusCode::OK);
    // Read-only, and only the console's views.
    for (method, path, body) in [
        ("POST", format!("/api/v1/alerts/{alert}/acknowledge"), None),
        ("POST", "/api/v1/residents".to_owned(), Some(json!({"name": "X"}))),
        ("GET", "/api/v1/users".to_owned(), None),
        ("GET", "/api/v1/audit".to_owned(), None),
        ("GET", "/api/v1/me/sessions".to_owned(), None),
        ("POST", "/api/v1/display-tokens".to_owned(), Some(json!({"label": "another"}))),
        ("POST", "/api/v1/auth/logout".to_owned(), None),
    ] {
        assert_eq!(status(&app, method, &path, &screen, body).await, StatusCode::FORBIDDEN, "{method} {path}");
    }
    let sessions = app.get("/api/v1/me/sessions", &admin).await;
    let display = sessions["sessions"].as_array().unwrap().iter().find(|s| s["kind"] == "display").unwrap().clone();
    assert_eq!((display["id"].clone(), display["label"].clone()), (made["id"].clone(), json!("Nurses' station")));
    let end = format!("/api/v1/me/sessions/{}", display["id"].as_str().unwrap());
    assert_eq!(status(&app, "DELETE", &end, &admin, None).await, StatusCode::NO_CONTENT);
    live.ended().await;
    assert_eq!(status(&app, "GET", "/api/v1/alerts", &screen, None).await, StatusCode::UNAUTHORIZED);
    let trail = app.get("/api/v1/audit?entity=session", &admin).await;
    let actions: Vec<&str> = trail["entries"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["session.ended", "display_token.created"]);
}

/// RFC 4648 base32, as an authenticator app reads the secret.
fn base32_decode(text: &str) -> Vec<u8> {
    let mut bits = 0u64;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            other => panic!("not base32: {other}"),
        };
        bits = (bits << 5) | u64::from(value);
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

/// The six digits an authenticator app shows for `step` (RFC 6238, SHA-1).
fn authenticator(secret: &[u8], step: u64) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret).unwrap();
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let code = u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
    format!("{:06}", code % 1_000_000)
}

#[tokio::test]
async fn an_admin_with_a_second_factor_logs_in_with_a_code_from_their_app() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (code, setup) = app.call("POST", "/api/v1/me/totp", Some(&admin), None).await;
    assert_eq!((code, setup["enabled"].clone()), (StatusCode::OK, json!(false)), "{setup}");
    let secret_text = setup["secret"].as_str().unwrap().to_owned();
    assert!(setup["otpauth_uri"].as_str().unwrap().contains(&format!("secret={secret_text}")));
    let secret = base32_decode(&secret_text);
    assert_eq!(secret.len(), 20);
    let credentials = |code: Option<&str>| {
        let mut body = json!({"email": crate::support::ADMIN_EMAIL, "password": crate::support::ADMIN_PASSWORD});
        if let Some(code) = code {
            body["code"] = json!(code);
        }
        body
    };
    // Not yet confirmed: a login asks for no code.
    assert_eq!(app.call("POST", "/api/v1/auth/login", None, Some(credentials(None))).await.0, StatusCode::OK);

    let step = chrono::Utc::now().timestamp() as u64 / 30;
    let wrong = if authenticator(&secret, step) == "000000" { "111111" } else { "000000" };
    let (code, body) = app.call("POST", "/api/v1/me/totp", Some(&admin), Some(json!({"code": wrong}))).await;
    assert_eq!((code, body["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("code")));
    let confirm = json!({"code": authenticator(&secret, step)});
    let (code, body) = app.call("POST", "/api/v1/me/totp", Some(&admin), Some(confirm)).await;
    assert_eq!((code, body), (StatusCode::OK, json!({"enabled": true})));
    assert_eq!(status(&app, "POST", "/api/v1/me/totp", &admin, None).await, StatusCode::CONFLICT);

    let (code, body) = app.call("POST", "/api/v1/auth/login", None, Some(credentials(None))).await;
    assert_eq!((code, body["error"]["code"].clone()), (StatusCode::UNAUTHORIZED, json!("totp_required")));
    let (code, body) = app.call("POST", "/api/v1/auth/login", None, Some(credentials(Some(wrong)))).await;
    assert_eq!((code, body["error"]["code"].clone()), (StatusCode::UNAUTHORIZED, json!("bad_credentials")));
    // The next step's code (the app's clock a little ahead) lets them in, once.
    let next = authenticator(&secret, step + 1);
    let (code, body) = app.call("POST", "/api/v1/auth/login", None, Some(credentials(Some(&next)))).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["role"], "admin");
    let (code, _) = app.call("POST", "/api/v1/auth/login", None, Some(credentials(Some(&next)))).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "a used code is not taken again");
    // The secret is in no record anyone reads.
    let trail = app.get("/api/v1/audit?action=user.totp_enabled", &admin).await;
    assert_eq!(trail["entries"].as_array().unwrap().len(), 1);
    assert!(!trail.to_string().contains(&secret_text));
    assert!(!app.get("/api/v1/me", &admin).await.to_string().contains(&secret_text));
}

#[tokio::test]
async fn a_supervisor_makes_a_display_token_and_staff_do_not() {
    let app = TestApp::spawn().await;
    let operator = app.operator_token().await;
    let admin = app.admin_token().await;
    app.post(
        "/api/v1/supervisors",
        &operator,
        json!({"email": "bureau@test.example", "password": "long enough pw", "name": "Bureau", "region": "North"}),
    )
    .await;
    let supervisor = app.login("bureau@test.example", "long enough pw").await;
    let made = app.post("/api/v1/display-tokens", &supervisor, json!({"label": "Bureau wall"})).await;
    let screen = made["token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/institutions", screen).await["institutions"], json!([]));
    let (_, staff) = user(&app, &admin, "staff@test.example", "staff").await;
    let refused = status(&app, "POST", "/api/v1/display-tokens", &staff, Some(json!({"label": "mine"}))).await;
    assert_eq!(refused, StatusCode::FORBIDDEN);
    // The platform's chain records the supervisor's token.
    let trail = app.get("/api/v1/audit?action=display_token.created", &operator).await;
    assert_eq!(trail["entries"][0]["details"]["label"], "Bureau wall");
}

#[tokio::test]
async fn consent_is_recorded_with_who_and_when_and_a_withdrawn_link_ends_access_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let rid = app.resident(&admin, "Grandma").await;
    assert_eq!(app.get(&format!("/api/v1/residents/{rid}"), &admin).await["monitoring_consent"], Value::Null);
    let decided = "2026-11-02T09:30:00Z";
    let body = json!({"given": true, "given_by": "guardian", "guardian_name": "Li Wei", "decided_at": decided});
    let (code, resident) = app.call("PUT", &format!("/api/v1/residents/{rid}/consent"), Some(&admin), Some(body)).await;
    assert_eq!(code, StatusCode::OK, "{resident}");
    let consent = &resident["monitoring_consent"];
    assert_eq!((consent["given"].clone(), consent["given_by"].clone()), (json!(true), json!("guardian")));
    assert_eq!(consent["guardian_name"], "Li Wei");
    assert_eq!(
        consent["decided_at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap(),
        decided.parse::<chrono::DateTime<chrono::Utc>>().unwrap()
    );
    assert_eq!(consent["recorded_by"], app.get("/api/v1/me", &admin).await["id"]);
    let unnamed = json!({"given": true, "given_by": "guardian"});
    let (code, _) = app.call("PUT", &format!("/api/v1/residents/{rid}/consent"), Some(&admin), Some(unnamed)).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "a guardian is named");

    let (family_id, family) = user(&app, &admin, "son@test.example", "family").await;
    let link = json!({"user_id": family_id, "relationship": "son", "consent": {"given_by": "resident"}});
    app.post(&format!("/api/v1/residents/{rid}/family"), &admin, link).await;
    let members = app.get(&format!("/api/v1/residents/{rid}/family"), &admin).await;
    assert_eq!(members["family"][0]["consent"]["given"], true);
    assert_eq!(members["family"][0]["consent"]["given_by"], "resident");
    assert_eq!(status(&app, "GET", &format!("/api/v1/residents/{rid}"), &family, None).await, StatusCode::OK);

    // The resident withdraws it: the son reads her no more, at once.
    let withdraw = json!({"given": false, "given_by": "resident"});
    let path = format!("/api/v1/residents/{rid}/family/{family_id}/consent");
    assert_eq!(status(&app, "PUT", &path, &admin, Some(withdraw.clone())).await, StatusCode::NO_CONTENT);
    assert_eq!(status(&app, "GET", &format!("/api/v1/residents/{rid}"), &family, None).await, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/api/v1/residents/{rid}/family"), &admin).await["family"], json!([]));
    assert_eq!(status(&app, "PUT", &path, &admin, Some(withdraw)).await, StatusCode::NOT_FOUND, "no link left");
    // The history keeps both decisions, and the trail says who recorded them.
    assert_eq!(app.count("select count(*) from consents where subject = 'family_link'").await, 2);
    let trail = app.get(&format!("/api/v1/audit?entity=resident&entity_id={rid}"), &admin).await;
    let actions: Vec<&str> = trail["entries"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["consent.family_link", "family.linked", "consent.monitoring", "resident.created"]);
}

#[tokio::test]
async fn the_live_stream_tells_its_clients_to_reload_after_the_database_dropped_its_connections_and_goes_on() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let rid = app.resident(&admin, "Grandma Fang").await;
    app.device(&admin, json!({"device_id": "sos-fang", "resident_id": rid, "kind": "sos_button"})).await;
    let mut live = Live::open(&app, &admin).await;

    // As a restart or a failover does: every connection of the backend to
    // its database is cut. What committed while its listener was away was
    // never heard, so every client is told to reload.
    let mut conn = app.pool.acquire().await.expect("a connection");
    let cut: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_stat_activity
         where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("terminate");
    drop(conn);
    assert!(!cut.is_empty(), "the backend's connections");
    live.until("a resync", |t| t.contains("event: resync") && t.contains("reconnected")).await;

    // And the stream goes on: an SOS pressed now arrives on it.
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    app.broker.publish("eldercare/v1/sos-fang/event", json!({"ts": ts, "event": "sos_pressed"}).to_string()).await;
    live.until("the SOS", |t| t.contains("\"kind\":\"sos\"") && t.contains("alert.opened")).await;
}
