use reqwest::StatusCode;
use serde_json::json;

use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, Broker, TestApp};

#[tokio::test]
async fn login_logout_and_bad_credentials() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let me = app.get("/api/v1/me", &token).await;
    assert_eq!(me["email"], ADMIN_EMAIL);
    assert_eq!(me["role"], "admin");

    // Emails are case-insensitive.
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": ADMIN_EMAIL.to_uppercase(), "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["role"], "admin");
    assert!(body["user"]["id"].is_string());

    for (email, password) in [(ADMIN_EMAIL, "wrong password!"), ("nobody@test.example", "whatever12345")] {
        let (status, body) =
            app.call("POST", "/api/v1/auth/login", None, Some(json!({"email": email, "password": password}))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["code"], "bad_credentials");
    }

    let (status, _) = app.call("POST", "/api/v1/auth/logout", Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.call("GET", "/api/v1/me", Some(&token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a revoked token is refused");
    assert_eq!(body["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn missing_or_malformed_tokens_are_401_with_json() {
    let app = TestApp::spawn().await;
    for header in [None, Some("Bearer"), Some("Bearer not-a-token"), Some("Basic abc")] {
        let mut req = app.http.get(app.url("/api/v1/residents"));
        if let Some(h) = header {
            req = req.header("authorization", h);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{header:?}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
}

#[tokio::test]
async fn login_rejects_malformed_bodies() {
    let app = TestApp::spawn().await;
    let r = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");

    let (status, body) = app.call("POST", "/api/v1/auth/login", None, Some(json!({"email": 5, "password": "x"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "validation_failed");

    let (status, _) = app
        .call("POST", "/api/v1/auth/login", None, Some(json!({"email": "a@b.c", "password": "x", "extra": true})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "unknown fields are refused");

    let r = app.http.post(app.url("/api/v1/auth/login")).body("email=a").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "not JSON");
}

#[tokio::test]
async fn admins_create_users_others_may_not() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let body = app
        .post("/api/v1/users", &admin, json!({"email": "carer@test.example", "password": "carer password 1", "role": "staff", "name": "Carer One"}))
        .await;
    assert!(body["id"].is_string());
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/users",
            Some(&admin),
            Some(
                json!({"email": "CARER@test.example", "password": "another password", "role": "staff", "name": "Dup"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/users",
            Some(&admin),
            Some(json!({"email": "x@test.example", "password": "short", "role": "staff", "name": "X"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "password");
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/users",
            Some(&admin),
            Some(json!({"email": "x@test.example", "password": "long enough pw", "role": "boss", "name": "X"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "unknown role");

    let staff = app.login("carer@test.example", "carer password 1").await;
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/users",
            Some(&staff),
            Some(json!({"email": "y@test.example", "password": "long enough pw", "role": "admin", "name": "Y"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden");
    let users = app.get("/api/v1/users", &admin).await;
    assert_eq!(users["users"].as_array().unwrap().len(), 2);
}

/// The answer's status and its `Retry-After` in seconds, if any.
async fn attempt(app: &TestApp, path: &str, token: Option<&str>, body: serde_json::Value) -> (StatusCode, Option<u64>) {
    let mut req = app.http.post(app.url(path)).json(&body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let r = req.send().await.unwrap();
    let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    (r.status(), retry)
}

#[tokio::test]
async fn a_wave_of_parallel_guesses_gets_no_more_tries_than_a_sequence() {
    let app = TestApp::spawn().await;
    // A right password costs no attempt.
    for _ in 0..6 {
        app.admin_token().await;
    }
    let guesses = (0..20).map(|i| {
        let body = json!({"email": ADMIN_EMAIL, "password": format!("guess number {i}")});
        attempt(&app, "/api/v1/auth/login", None, body)
    });
    let answers = futures::future::join_all(guesses).await;
    let tried = answers.iter().filter(|(s, _)| *s == StatusCode::UNAUTHORIZED).count();
    assert!(tried <= 5, "{answers:?}");
    for (status, retry) in &answers {
        if *status != StatusCode::UNAUTHORIZED {
            assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS, "{answers:?}");
            assert!(retry.is_some_and(|s| (1..=900).contains(&s)), "{answers:?}");
        }
    }
    // Now even the right password waits for the window to slide.
    let body = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
    let (status, retry) = attempt(&app, "/api/v1/auth/login", None, body).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry.is_some());
}

#[tokio::test]
async fn an_oversized_email_is_refused_before_anything_else() {
    let app = TestApp::spawn().await;
    let email = format!("{}@test.example", "a".repeat(100 * 1024));
    let (status, body) =
        app.call("POST", "/api/v1/auth/login", None, Some(json!({"email": email, "password": "whatever12345"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "email");
}

#[tokio::test]
async fn password_changes_are_limited_as_logins_are() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    for i in 0..5 {
        let body = json!({"current_password": format!("wrong guess {i}"), "new_password": "a brand new password"});
        let (status, _) = attempt(&app, "/api/v1/me/password", Some(&token), body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "guess {i}");
    }
    let body = json!({"current_password": ADMIN_PASSWORD, "new_password": "a brand new password"});
    let (status, retry) = attempt(&app, "/api/v1/me/password", Some(&token), body).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry.is_some());
    // Logins are counted apart: the owner can still log in.
    app.admin_token().await;
}

#[tokio::test]
async fn the_guessing_budget_is_shared_by_every_process_and_kept_across_a_restart() {
    let one = TestApp::spawn().await;
    let two = TestApp::spawn_with(Broker::start().await, one.database_url.clone(), |_| {}).await;
    // Five wrong guesses, spread over both processes.
    for i in 0..5 {
        let app = if i % 2 == 0 { &one } else { &two };
        let body = json!({"email": ADMIN_EMAIL, "password": format!("guess number {i}")});
        let (status, _) = attempt(app, "/api/v1/auth/login", None, body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "guess {i}");
    }
    let right = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
    for app in [&one, &two] {
        let (status, retry) = attempt(app, "/api/v1/auth/login", None, right.clone()).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "each process knows of the others' failures");
        assert!(retry.is_some_and(|s| (1..=900).contains(&s)), "{retry:?}");
    }
    // A restart gives nothing back.
    let (broker, database_url) = two.stop().await;
    let again = TestApp::spawn_with(broker, database_url, |_| {}).await;
    let (status, _) = attempt(&again, "/api/v1/auth/login", None, right.clone()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Another account is untouched.
    let other = json!({"email": "nobody@test.example", "password": "not a guess at all"});
    let (status, _) = attempt(&again, "/api/v1/auth/login", None, other).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
