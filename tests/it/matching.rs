//! Orders matched to a provider end to end: a family asks for a bath
//! without naming who gives it; the provider she is enrolled with is
//! offered it first and declines, the next provider serving her division
//! lets the offer lapse, and with nobody left the request is on the
//! bureau's queue; a second request is accepted and becomes a visit of the
//! provider, which the family follows to scheduled. Providers whose area or
//! catalogue does not fit are never offered anything.

use chrono::{Duration, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::registry::{division_user, id_number, institution, ladder};
use crate::support::{TestApp, wait_for};

async fn ok(app: &TestApp, method: &str, path: &str, token: &str, body: Value) -> Value {
    let (status, answer) = app.call(method, path, Some(token), Some(body)).await;
    assert!(status.is_success(), "{method} {path}: {status} {answer}");
    answer
}

/// A provider serving `area` that offers baths at `price` an hour (if any).
async fn provider(
    app: &TestApp,
    operator: &str,
    name: &str,
    kind: &str,
    area: &str,
    price: Option<f64>,
) -> (String, String) {
    let (id, admin) = institution(app, operator, name, kind, "330205001").await;
    ok(app, "PATCH", &format!("/api/v1/institutions/{id}"), operator, json!({"service_area": [area]})).await;
    if let Some(price) = price {
        let service = json!({"code": "HC-BATH", "name": "Bathing assistance", "category": "personal_care",
            "duration_minutes": 60, "unit": "hour", "unit_price": price, "currency": "CNY",
            "funding": ["self_pay"], "evv_required": true, "tasks": []});
        ok(app, "POST", "/api/v1/services", &admin, service).await;
    }
    (id, admin)
}

fn steps(request: &Value) -> Vec<String> {
    request["timeline"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_request_is_offered_in_turn_declined_lapsed_unmatched_and_then_accepted() {
    let app = TestApp::spawn().await;
    let operator = app.operator_token().await;
    ladder(&app, &operator).await;
    let (harbour_id, harbour) =
        provider(&app, &operator, "Harbour Home Care", "home_care", "330205001", Some(80.0)).await;
    let (river_id, river) = provider(&app, &operator, "Riverside Care", "home_care", "330205", Some(90.0)).await;
    // Serving another street, or not offering baths: never offered.
    let (_, elsewhere) = provider(&app, &operator, "Other Street Care", "home_care", "330205002", Some(50.0)).await;
    let (_, canteen) = provider(&app, &operator, "Moon Lake Canteen", "canteen", "330205", None).await;
    let bureau = division_user(&app, &operator, "civil_affairs", "330205").await;

    let registration = json!({"name": "Zhou Lan", "timezone": "Asia/Shanghai",
        "id_number": id_number("33020519400101004"), "division": "330205001001001"});
    let rid = ok(&app, "POST", "/api/v1/residents", &harbour, registration).await["id"].as_str().unwrap().to_owned();
    let email = "zhou.mei@family.example";
    let body = json!({"email": email, "password": "long enough pw", "role": "family", "name": "Zhou Mei"});
    let daughter_id = ok(&app, "POST", "/api/v1/users", &harbour, body).await["id"].as_str().unwrap().to_owned();
    let link = json!({"user_id": daughter_id, "relationship": "daughter"});
    ok(&app, "POST", &format!("/api/v1/residents/{rid}/family"), &harbour, link).await;
    let daughter = app.login(email, "long enough pw").await;

    // She asks for a bath: the provider she is enrolled with is offered it first.
    let asked = json!({"resident_id": rid, "service_code": "HC-BATH", "note": "before the weekend"});
    let request = ok(&app, "POST", "/api/v1/service-requests", &daughter, asked.clone()).await;
    let id = request["id"].as_str().unwrap().to_owned();
    assert_eq!(request["status"], "offered");
    assert_eq!(request["offer"]["institution_id"], harbour_id.as_str());
    assert!(request["offer"]["accept_by"].is_string());
    assert_eq!(request["price"], json!({"amount": 80.0, "elder_amount": 80.0}), "an hour at 80.00, nothing entitled");
    let path = format!("/api/v1/service-requests/{id}");
    // Offered to Harbour only: Riverside sees nothing of it yet.
    assert_eq!(app.call("GET", &path, Some(&river), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/service-requests?status=offered", &river).await["requests"], json!([]));
    let offers = app.get("/api/v1/service-requests?status=offered", &harbour).await;
    assert_eq!(offers["requests"][0]["id"], id.as_str(), "the provider's console lists its offers");

    // Harbour declines: Riverside is offered it, at its own price.
    let (status, _) = app.call("POST", &format!("{path}/decline"), Some(&harbour), Some(json!({"reason": " "}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a decline says why");
    let (status, _) = app
        .call("POST", &format!("{path}/decline"), Some(&harbour), Some(json!({"reason": "no carer free this week"})))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let request = app.get(&path, &daughter).await;
    assert_eq!(
        (request["status"].as_str(), request["offer"]["institution_id"].as_str()),
        (Some("offered"), Some(river_id.as_str()))
    );
    assert_eq!(request["price"]["amount"], json!(90.0));
    assert_eq!(steps(&request), ["requested", "offered", "declined", "offered"]);
    let declined = &request["timeline"][2];
    assert_eq!(
        (declined["institution_id"].as_str(), declined["reason"].as_str()),
        (Some(harbour_id.as_str()), Some("no carer free this week"))
    );
    assert_eq!(app.call("POST", &format!("{path}/accept"), Some(&harbour), None).await.0, StatusCode::CONFLICT);

    // Riverside lets it lapse: nobody is left, and the bureau has it.
    sqlx::query("update service_requests set accept_by = now() - interval '1 second' where id = $1::uuid")
        .bind(&id)
        .execute(&app.pool)
        .await
        .unwrap();
    let request = wait_for("the offer to lapse", || async {
        let request = app.get(&path, &daughter).await;
        (request["status"] == "unmatched").then_some(request)
    })
    .await;
    assert_eq!(steps(&request), ["requested", "offered", "declined", "offered", "lapsed", "unmatched"]);
    assert_eq!(request["offer"], Value::Null);
    let queue = app.get("/api/v1/service-requests?status=unmatched", &bureau).await;
    assert_eq!(queue["requests"][0]["id"], id.as_str(), "the bureau's queue");
    for outsider in [&elsewhere, &canteen] {
        assert_eq!(app.get("/api/v1/service-requests", outsider).await["requests"], json!([]), "never offered");
    }

    // She asks again; Harbour's coordinator accepts it on the board, where
    // the offer counts down: a visit of its own, waiting to be scheduled.
    let request = ok(&app, "POST", "/api/v1/service-requests", &daughter, asked).await;
    let request_id = request["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/service-requests/{request_id}");
    assert_eq!(request["offer"]["institution_id"], harbour_id.as_str());
    let browser = crate::console::Browser::start().await;
    browser.goto(&app.url("/console/")).await;
    browser.type_into("[data-testid=login-email]", "admin@harbour-home-care.example").await;
    browser.type_into("[data-testid=login-password]", "long enough pw").await;
    browser.click("[data-testid=login-submit]").await;
    browser.click("[data-testid=board-link]").await;
    let offer = format!("[data-testid=offer][data-request-id='{request_id}']");
    browser.wait_text(&offer, "the offer", |t| t.contains("Zhou Lan") && t.contains("HC-BATH")).await;
    let countdown = browser
        .wait_text(&format!("{offer} [data-testid=offer-countdown]"), "its countdown", |t| {
            t.to_lowercase().ends_with(" left")
        })
        .await;
    let minutes: u64 = countdown.split(':').next().unwrap().parse().unwrap();
    assert!((28..=30).contains(&minutes), "30 minutes to accept: {countdown}");
    browser.click(&format!("{offer} [data-testid=accept-offer]")).await;
    browser.wait_gone(&offer).await;
    let accepted = app.get(&path, &daughter).await;
    assert_eq!(
        (accepted["status"].as_str(), accepted["provider"]["institution_id"].as_str()),
        (Some("accepted"), Some(harbour_id.as_str()))
    );
    let visit_id = accepted["visit_id"].as_str().unwrap().to_owned();
    browser.wait_visible(&format!("[data-testid=request][data-visit-id='{visit_id}']")).await;
    browser.quit().await;
    let visit = app.get(&format!("/api/v1/visits/{visit_id}"), &harbour).await;
    assert_eq!((visit["status"].as_str(), visit["origin"].as_str()), (Some("requested"), Some("request")));
    assert_eq!(app.call("POST", &format!("{path}/accept"), Some(&harbour), None).await.0, StatusCode::CONFLICT);
    // The coordinator schedules it; the family reads it as scheduled.
    let start = (Utc::now() + Duration::days(2)).to_rfc3339_opts(SecondsFormat::Secs, true);
    ok(&app, "POST", &format!("/api/v1/visits/{visit_id}/schedule"), &harbour, json!({"scheduled_start": start})).await;
    let request = app.get(&path, &daughter).await;
    assert_eq!(request["status"], "scheduled");
    assert_eq!(steps(&request), ["requested", "offered", "accepted"]);
    let (status, _) = app.call("POST", &format!("{path}/cancel"), Some(&daughter), Some(json!({}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "accepted: its visit is what is cancelled now");

    // A third she withdraws while it is offered: the offer goes with it.
    let asked = json!({"resident_id": rid, "service_code": "HC-BATH"});
    let third = ok(&app, "POST", "/api/v1/service-requests", &daughter, asked).await;
    let third_path = format!("/api/v1/service-requests/{}", third["id"].as_str().unwrap());
    let withdrawn =
        ok(&app, "POST", &format!("{third_path}/cancel"), &daughter, json!({"reason": "my brother will help"})).await;
    assert_eq!((withdrawn["status"].as_str(), &withdrawn["offer"]), (Some("cancelled"), &Value::Null));
    assert_eq!(steps(&withdrawn), ["requested", "offered", "cancelled"]);
    assert_eq!(app.get("/api/v1/service-requests?status=offered", &harbour).await["requests"], json!([]));
    let mine = app.get(&format!("/api/v1/service-requests?resident_id={rid}"), &daughter).await;
    assert_eq!(mine["requests"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn the_family_orders_from_the_services_offered_in_her_area_at_the_price_it_will_pay() {
    let app = TestApp::spawn().await;
    let operator = app.operator_token().await;
    ladder(&app, &operator).await;
    let (harbour_id, harbour) =
        provider(&app, &operator, "Harbour Home Care", "home_care", "330205001", Some(80.0)).await;
    let (_, river) = provider(&app, &operator, "Riverside Care", "home_care", "330205", Some(90.0)).await;
    // Serving another street: its cheaper bath is not hers to order.
    provider(&app, &operator, "Other Street Care", "home_care", "330205002", Some(50.0)).await;

    let registration = json!({"name": "Zhou Lan", "timezone": "Asia/Shanghai",
        "id_number": id_number("33020519400101004"), "division": "330205001001001"});
    let rid = ok(&app, "POST", "/api/v1/residents", &harbour, registration).await["id"].as_str().unwrap().to_owned();
    let body =
        json!({"email": "zhou.mei@family.example", "password": "long enough pw", "role": "family", "name": "Zhou Mei"});
    let daughter_id = ok(&app, "POST", "/api/v1/users", &harbour, body).await["id"].as_str().unwrap().to_owned();
    let link = json!({"user_id": daughter_id, "relationship": "daughter"});
    ok(&app, "POST", &format!("/api/v1/residents/{rid}/family"), &harbour, link).await;
    let daughter = app.login("zhou.mei@family.example", "long enough pw").await;

    // One line per service, the provider she is enrolled with first in
    // line, at its price less her entitlements (none: all of it).
    let path = format!("/api/v1/residents/{rid}/services");
    let offered = app.get(&path, &daughter).await;
    let services = offered["services"].as_array().unwrap();
    let codes: Vec<&str> = services.iter().map(|s| s["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["HC-BATH", "WELFARE-CHECK"], "every provider starts with a welfare check: {offered}");
    let bath = &services[0];
    assert_eq!(
        (bath["name"].as_str(), bath["institution_id"].as_str(), bath["institution_name"].as_str(), &bath["providers"]),
        (Some("Bathing assistance"), Some(harbour_id.as_str()), Some("Harbour Home Care"), &json!(2)),
        "Harbour and Riverside serve her street, the other street's provider does not: {bath}"
    );
    assert_eq!(bath["price"], json!({"amount": 80.0, "elder_amount": 80.0}));
    assert_eq!(bath["duration_minutes"], 60);

    // The request is offered to the provider first in line, at that price.
    let asked = json!({"resident_id": rid, "service_code": "HC-BATH"});
    let request = ok(&app, "POST", "/api/v1/service-requests", &daughter, asked).await;
    assert_eq!(request["offer"]["institution_id"], harbour_id.as_str());
    assert_eq!(request["price"], bath["price"]);

    // Her enrolled institution reads it too; a provider that does not
    // reach her and another family do not.
    assert_eq!(app.get(&path, &harbour).await["services"], offered["services"]);
    assert_eq!(app.call("GET", &path, Some(&river), None).await.0, StatusCode::NOT_FOUND);
    let body =
        json!({"email": "stranger@family.example", "password": "long enough pw", "role": "family", "name": "Stranger"});
    ok(&app, "POST", "/api/v1/users", &harbour, body).await;
    let stranger = app.login("stranger@family.example", "long enough pw").await;
    assert_eq!(app.call("GET", &path, Some(&stranger), None).await.0, StatusCode::NOT_FOUND);

    // An elder with no division is in nobody's service area.
    let nowhere = json!({"name": "Qian Yu", "timezone": "Asia/Shanghai"});
    let nowhere = ok(&app, "POST", "/api/v1/residents", &harbour, nowhere).await["id"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&format!("/api/v1/residents/{nowhere}/services"), &harbour).await["services"], json!([]));
}
