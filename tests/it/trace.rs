//! The trace, end to end: an SOS pressed at home becomes an alert, staff
//! send a carer, the carer checks in and out, the visit is verified and
//! priced into a bill line, the provider claims the month from the LTC
//! fund and the fund decides the line. Asked from any of its records, the
//! API answers the same chain, in order, with who did each step and the
//! audit entries that record it; each caller sees only their side of it.

use chrono::{Duration, SecondsFormat, Timelike, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::console::Browser;
use crate::registry::{division_user, id_number, institution, ladder};
use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, certify, wait_for};

const HOME: (f64, f64) = (29.8683, 121.5440);

/// The fixed-offset zone where it is about noon now: the carer's hour at
/// the door and the day's entitlement fall on the same local date.
fn noon_zone() -> String {
    match 12 - Utc::now().hour() as i32 {
        0 => "Etc/GMT".to_owned(),
        h if h > 0 => format!("Etc/GMT-{h}"),
        h => format!("Etc/GMT+{}", -h),
    }
}

async fn ok(app: &TestApp, method: &str, path: &str, token: &str, body: Value) -> Value {
    let (status, answer) = app.call(method, path, Some(token), Some(body)).await;
    assert!(status.is_success(), "{method} {path}: {status} {answer}");
    answer
}

/// A user made by `by`, logged in: (id, token).
async fn user(app: &TestApp, by: &str, role: &str, name: &str, extra: Value) -> (String, String) {
    let email = format!("{}@trace.example", name.to_lowercase().replace(' ', "."));
    let mut body = json!({"email": email, "password": "long enough pw", "role": role, "name": name});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let id = ok(app, "POST", "/api/v1/users", by, body).await["id"].as_str().unwrap().to_owned();
    if matches!(role, "caregiver" | "staff") {
        certify(app, by, &id).await;
    }
    (id, app.login(&email, "long enough pw").await)
}

/// An elder of `admin`'s institution with an SOS button at home; answers
/// her id once the button's first press is an alert, and the alert.
async fn elder_with_sos(app: &TestApp, admin: &str, name: &str, id17: &str, device: &str) -> (String, Value) {
    let registration = json!({"name": name, "timezone": noon_zone(), "id_number": id_number(id17),
        "division": "330205001001001"});
    let rid = ok(app, "POST", "/api/v1/residents", admin, registration).await["id"].as_str().unwrap().to_owned();
    let place = json!({"address": "12 Moon Lake Lane", "location": {"lat": HOME.0, "lon": HOME.1}});
    ok(app, "PATCH", &format!("/api/v1/residents/{rid}"), admin, place).await;
    app.device(admin, json!({"device_id": device, "resident_id": rid, "kind": "sos_button"})).await;
    app.broker.publish(&format!("eldercare/v1/{device}/event"), json!({"event": "sos_pressed"}).to_string()).await;
    let alert = wait_for("her SOS alert", || async {
        let list = app.get("/api/v1/alerts?kind=sos", admin).await;
        list["alerts"].as_array()?.iter().find(|a| a["resident_id"] == rid.as_str()).cloned()
    })
    .await;
    (rid, alert)
}

fn kinds(trace: &Value) -> Vec<&str> {
    trace["steps"].as_array().unwrap().iter().map(|s| s["kind"].as_str().unwrap()).collect()
}

fn step<'a>(trace: &'a Value, kind: &str) -> &'a Value {
    trace["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}: {trace}"))
}

fn actions(step: &Value) -> Vec<&str> {
    step["audit"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn every_record_of_a_chain_answers_the_same_chain_from_the_sos_to_the_funds_decision() {
    let app = TestApp::spawn().await;
    let operator = app.operator_token().await;
    ladder(&app, &operator).await;
    let (_, provider) = institution(&app, &operator, "Harbour Home Care", "home_care", "330205001").await;
    let (_, other) = institution(&app, &operator, "Riverside Home Care", "home_care", "330205001").await;
    let (body_id, body_admin) = institution(&app, &operator, "Ningbo Assessment Centre", "assessment", "330205").await;
    let (fund_id, _) = institution(&app, &operator, "Haishu LTC Fund", "ltc_fund", "330205").await;
    let bureau = division_user(&app, &operator, "civil_affairs", "330205").await;
    let (_, assessor) = user(&app, &body_admin, "assessor", "Assessor Chen", json!({})).await;
    let (insurer_id, insurer) =
        user(&app, &operator, "insurer", "Insurer Xu", json!({"institution_id": fund_id})).await;
    let (staff_id, staff) = user(&app, &provider, "staff", "Coordinator Wu", json!({})).await;
    let (carer_id, carer) = user(&app, &provider, "caregiver", "Li Wei", json!({})).await;
    let (_, other_staff) = user(&app, &other, "staff", "Other Staff", json!({})).await;
    let provider_admin = app.get("/api/v1/me", &provider).await["id"].as_str().unwrap().to_owned();
    let service = json!({"code": "HC-BATH", "name": "Bathing assistance", "category": "personal_care",
        "duration_minutes": 60, "unit": "hour", "unit_price": 80.0, "currency": "CNY",
        "funding": ["ltc_insurance", "self_pay"], "evv_required": true, "tasks": []});
    ok(&app, "POST", "/api/v1/services", &provider, service).await;

    // Zhou Lan is entitled to LTC insurance: grade 3, 150 minutes a month, 10 % co-payment.
    let (rid, alert) = elder_with_sos(&app, &provider, "Zhou Lan", "33020519400101004", "sos-zhou").await;
    let (daughter_id, daughter) = user(&app, &provider, "family", "Zhou Mei", json!({})).await;
    let link = json!({"user_id": daughter_id, "relationship": "daughter"});
    ok(&app, "POST", &format!("/api/v1/residents/{rid}/family"), &provider, link).await;
    let scheme = json!({"name": "Ningbo LTC insurance", "payer": "ltc_insurance", "application_kind": "ltc_insurance",
        "grades": {"3": {"monthly_minutes": 150, "copay_ratio": 0.1, "services": ["home_care"], "valid_months": 12}}});
    ok(&app, "PUT", "/api/v1/schemes/ltc-ningbo", &insurer, scheme).await;
    let applied =
        ok(&app, "POST", "/api/v1/applications", &provider, json!({"resident_id": rid, "kind": "ltc_insurance"})).await;
    let app_id = applied["id"].as_str().unwrap();
    ok(
        &app,
        "POST",
        &format!("/api/v1/applications/{app_id}/assign"),
        &bureau,
        json!({"assessor_institution_id": body_id}),
    )
    .await;
    let items = json!({"feeding": 5, "bathing": 0, "grooming": 0, "dressing": 5, "bowels": 5, "bladder": 5,
        "toilet": 5, "transfers": 5, "mobility": 5, "stairs": 0});
    let assessed_at = (Utc::now() - Duration::hours(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let assessment = json!({"scale": "barthel", "items": items, "assessed_at": assessed_at});
    ok(&app, "POST", &format!("/api/v1/residents/{rid}/assessments"), &assessor, assessment).await;
    let approve = json!({"decision": "approved", "reason": "Grade 3: entitled"});
    ok(&app, "POST", &format!("/api/v1/applications/{app_id}/decide"), &insurer, approve).await;

    // The SOS: staff take it and send the carer to bathe her, paid by the fund.
    let alert_id = alert["id"].as_str().unwrap().to_owned();
    ok(&app, "POST", &format!("/api/v1/alerts/{alert_id}/acknowledge"), &staff, json!({})).await;
    let dispatch = json!({"service_code": "HC-BATH", "caregiver_id": carer_id, "funding": "ltc_insurance"});
    let visit = ok(&app, "POST", &format!("/api/v1/alerts/{alert_id}/dispatch"), &staff, dispatch).await;
    let visit_id = visit["id"].as_str().unwrap().to_owned();
    // The carer's phone had no signal on the way in: its own time, an hour ago.
    let door = |ts: Option<chrono::DateTime<Utc>>| {
        let mut body = json!({"location": {"lat": HOME.0 + 0.0002, "lon": HOME.1, "accuracy_m": 15}, "method": "gps"});
        if let Some(ts) = ts {
            body["ts"] = json!(ts.to_rfc3339_opts(SecondsFormat::Millis, true));
        }
        body
    };
    ok(
        &app,
        "POST",
        &format!("/api/v1/visits/{visit_id}/check-in"),
        &carer,
        door(Some(Utc::now() - Duration::hours(1))),
    )
    .await;
    ok(&app, "POST", &format!("/api/v1/visits/{visit_id}/check-out"), &carer, door(None)).await;
    let reason = json!({"reason": "no signal in the stairwell"});
    let done =
        ok(&app, "POST", &format!("/api/v1/visits/{visit_id}/exceptions/offline_entry/resolve"), &staff, reason).await;
    assert_eq!(done["evv"]["verified"], true, "{done}");
    let month = done["evv"]["date"].as_str().unwrap()[..7].to_owned();
    let bill = app.get(&format!("/api/v1/residents/{rid}/bills?month={month}"), &provider).await;
    let line = bill["lines"].as_array().unwrap().iter().find(|l| l["ref"] == visit_id.as_str()).unwrap().clone();
    let claim = ok(&app, "POST", "/api/v1/claims", &provider, json!({"payer": "ltc_insurance", "month": month})).await;
    let claim_id = claim["id"].as_str().unwrap().to_owned();
    let claim_line = claim["lines"].as_array().unwrap().iter().find(|l| l["ref"] == visit_id.as_str()).unwrap();
    let claim_line_id = claim_line["id"].as_str().unwrap().to_owned();
    let decide = format!("/api/v1/claims/{claim_id}/lines/{claim_line_id}/decision");
    ok(&app, "POST", &decide, &insurer, json!({"decision": "accept"})).await;
    ok(&app, "POST", &format!("/api/v1/claims/{claim_id}/close"), &insurer, json!({})).await;

    // The bill line's id: the visit's trace names it (bills answer lines by their ref).
    let by_visit = app.get(&format!("/api/v1/trace/visit/{visit_id}"), &staff).await;
    let bill_line_id = step(&by_visit, "bill_line")["id"].as_str().unwrap().to_owned();
    assert_eq!(step(&by_visit, "bill_line")["summary"]["amount"], line["amount"]);

    // From each of its four records, the same chain in the same order.
    let chain = ["alert", "visit", "evv", "bill_line", "claim_line", "decision"];
    let anchors =
        [("alert", &alert_id), ("visit", &visit_id), ("bill_line", &bill_line_id), ("claim_line", &claim_line_id)];
    for (kind, id) in anchors {
        let trace = app.get(&format!("/api/v1/trace/{kind}/{id}"), &staff).await;
        assert_eq!(trace["anchor"], json!({"kind": kind, "id": id}));
        assert_eq!(trace["resident_id"], rid.as_str());
        assert_eq!(kinds(&trace), chain, "from the {kind}: {trace}");
        assert_eq!(trace["steps"], by_visit["steps"], "from the {kind}, the same steps");
    }
    let ids: Vec<&str> = by_visit["steps"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [&alert_id, &visit_id, &visit_id, &bill_line_id, &claim_line_id, &claim_line_id]);

    // Who did each step, and when.
    let who = |kind: &str| step(&by_visit, kind)["by"].clone();
    assert_eq!(who("alert"), Value::Null, "a device raised it");
    assert_eq!(who("visit"), json!({"id": staff_id, "name": "Coordinator Wu", "role": "staff"}));
    assert_eq!(who("evv"), json!({"id": carer_id, "name": "Li Wei", "role": "caregiver"}));
    assert_eq!(who("bill_line"), Value::Null, "priced by the platform when verified");
    assert_eq!(who("claim_line")["id"], provider_admin.as_str());
    assert_eq!(who("claim_line")["role"], "admin");
    assert_eq!(who("decision"), json!({"id": insurer_id, "name": "Insurer Xu", "role": "insurer"}));
    assert_eq!(step(&by_visit, "alert")["summary"]["acknowledged_by"], staff_id.as_str());
    assert_eq!(step(&by_visit, "visit")["summary"]["origin"], "alert");
    let evv = &step(&by_visit, "evv")["summary"];
    assert_eq!((evv["verified"].as_bool(), evv["minutes"].as_i64()), (Some(true), Some(60)), "{evv}");
    assert_eq!(evv["resolved"], json!(["offline_entry"]));
    let priced = &step(&by_visit, "bill_line")["summary"];
    assert_eq!((priced["payer"].as_str(), priced["payer_amount"].as_f64()), (Some("ltc_insurance"), Some(72.0)));
    assert_eq!(step(&by_visit, "claim_line")["summary"]["claim_id"], claim_id.as_str());
    assert_eq!(step(&by_visit, "decision")["summary"]["decision"], "accepted");
    for s in by_visit["steps"].as_array().unwrap() {
        assert!(s["at"].as_str().is_some_and(|at| at.parse::<chrono::DateTime<Utc>>().is_ok()), "{s}");
    }

    // Each step's audit entries, in the trail's order, with who made them.
    assert_eq!(actions(step(&by_visit, "alert")), ["alert.acknowledged"]);
    assert_eq!(actions(step(&by_visit, "visit")), ["visit.dispatched"]);
    assert_eq!(actions(step(&by_visit, "evv")), ["visit.checked_in", "visit.checked_out", "visit.exception_resolved"]);
    assert_eq!(actions(step(&by_visit, "bill_line")), Vec::<&str>::new());
    assert_eq!(actions(step(&by_visit, "claim_line")), ["claim.submitted"]);
    assert_eq!(actions(step(&by_visit, "decision")), ["claim.line_decided", "claim.closed"]);
    let actor = |kind: &str, n: usize| step(&by_visit, kind)["audit"][n]["actor"]["id"].clone();
    assert_eq!(actor("alert", 0), staff_id.as_str());
    assert_eq!(actor("visit", 0), staff_id.as_str());
    assert_eq!(actor("evv", 0), carer_id.as_str());
    assert_eq!(actor("evv", 2), staff_id.as_str());
    assert_eq!(actor("decision", 0), insurer_id.as_str());
    for s in by_visit["steps"].as_array().unwrap() {
        for entry in s["audit"].as_array().unwrap() {
            assert!(entry["hash"].as_str().is_some_and(|h| h.len() == 64), "{entry}");
        }
    }
    // The entries are the trail's own: the admin finds them by id.
    let trail = app.get(&format!("/api/v1/audit?entity=visit&entity_id={visit_id}"), &provider).await;
    let dispatched = &step(&by_visit, "visit")["audit"][0];
    let entry = trail["entries"].as_array().unwrap().iter().find(|e| e["id"] == dispatched["id"]).unwrap();
    assert_eq!((&entry["action"], &entry["actor_id"]), (&dispatched["action"], &dispatched["actor"]["id"]));

    // The family: her care and her bill, not the claim; first names, no trail.
    let family = app.get(&format!("/api/v1/trace/visit/{visit_id}"), &daughter).await;
    assert_eq!(kinds(&family), ["alert", "visit", "evv", "bill_line"]);
    assert_eq!(step(&family, "evv")["by"]["name"], "Li");
    assert!(family["steps"].as_array().unwrap().iter().all(|s| s["audit"] == json!([])), "{family}");
    let path = format!("/api/v1/trace/claim_line/{claim_line_id}");
    assert_eq!(app.call("GET", &path, Some(&daughter), None).await.0, StatusCode::NOT_FOUND);

    // The fund: the money side of the lines claimed from it, never her care.
    for (kind, id) in [("bill_line", &bill_line_id), ("claim_line", &claim_line_id)] {
        let money = app.get(&format!("/api/v1/trace/{kind}/{id}"), &insurer).await;
        assert_eq!(kinds(&money), ["bill_line", "claim_line", "decision"], "{money}");
        assert_eq!(step(&money, "decision")["audit"][0]["action"], "claim.line_decided");
    }
    for (kind, id) in [("alert", &alert_id), ("visit", &visit_id)] {
        let path = format!("/api/v1/trace/{kind}/{id}");
        assert_eq!(app.call("GET", &path, Some(&insurer), None).await.0, StatusCode::NOT_FOUND, "{path}");
    }

    // Another provider's staff see nothing of it.
    for (kind, id) in anchors {
        let path = format!("/api/v1/trace/{kind}/{id}");
        let (status, body) = app.call("GET", &path, Some(&other_staff), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }

    // An alert nobody was sent to is a chain of one step.
    let (_, lone) = elder_with_sos(&app, &provider, "Wang Fang", "33020519420202002", "sos-wang").await;
    let lone_id = lone["id"].as_str().unwrap();
    let partial = app.get(&format!("/api/v1/trace/alert/{lone_id}"), &staff).await;
    assert_eq!(kinds(&partial), ["alert"]);
    assert_eq!(partial["steps"][0]["audit"], json!([]));

    // A kind that is none of the four, and an id that names nothing.
    let (status, body) = app.call("GET", &format!("/api/v1/trace/meal/{alert_id}"), Some(&staff), None).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("kind")), "{body}");
    let nothing = uuid::Uuid::new_v4();
    let (status, _) = app.call("GET", &format!("/api/v1/trace/visit/{nothing}"), Some(&staff), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn staff_open_an_alert_click_trace_and_see_the_chain_as_a_timeline() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let rid = app.resident(&admin, "Grandma Qian").await;
    // The board shows the visits of the browser's day: hers is the same.
    let place = json!({"location": {"lat": HOME.0, "lon": HOME.1}, "timezone": "Etc/UTC"});
    ok(&app, "PATCH", &format!("/api/v1/residents/{rid}"), &admin, place).await;
    let (carer_id, carer) = user(&app, &admin, "caregiver", "Zhang Min", json!({})).await;
    app.device(&admin, json!({"device_id": "sos-qian", "resident_id": rid, "kind": "sos_button"})).await;
    app.broker.publish("eldercare/v1/sos-qian/event", json!({"event": "sos_pressed"}).to_string()).await;
    let alert = wait_for("her SOS", || async {
        app.get("/api/v1/alerts?kind=sos", &admin).await["alerts"].as_array()?.first().cloned()
    })
    .await;
    let alert_id = alert["id"].as_str().unwrap().to_owned();
    let visit =
        ok(&app, "POST", &format!("/api/v1/alerts/{alert_id}/dispatch"), &admin, json!({"caregiver_id": carer_id}))
            .await;
    let visit_id = visit["id"].as_str().unwrap().to_owned();
    let door = json!({"location": {"lat": HOME.0, "lon": HOME.1, "accuracy_m": 10}, "method": "gps"});
    ok(&app, "POST", &format!("/api/v1/visits/{visit_id}/check-in"), &carer, door).await;
    let trace = app.get(&format!("/api/v1/trace/alert/{alert_id}"), &admin).await;
    let dispatched = trace["steps"][1]["audit"][0]["id"].as_i64().unwrap();

    let browser = Browser::start().await;
    browser.goto(&app.url("/console/")).await;
    browser.type_into("[data-testid=login-email]", ADMIN_EMAIL).await;
    browser.type_into("[data-testid=login-password]", ADMIN_PASSWORD).await;
    browser.click("[data-testid=login-submit]").await;
    let row = format!("[data-testid=alert-row][data-alert-id='{alert_id}']");
    browser.wait_visible(&row).await;
    browser.click(&format!("{row} [data-testid=details]")).await;
    browser.click("[data-testid=panel-trace]").await;
    browser.wait_visible("[data-testid=trace-step][data-kind=evv]").await;
    let steps = browser.find_all("[data-testid=trace-step]").await;
    let mut shown = Vec::new();
    for s in &steps {
        shown.push(browser.attribute(s, "data-kind").await.unwrap_or_default());
    }
    assert_eq!(shown, ["alert", "visit", "evv"]);
    browser
        .wait_text("[data-testid=trace-step][data-kind=visit]", "who dispatched, and the entry", |t| {
            t.contains("Carer dispatched") && t.contains(&format!("#{dispatched}"))
        })
        .await;
    browser
        .wait_text("[data-testid=trace-step][data-kind=evv]", "the carer at the door", |t| t.contains("Zhang Min"))
        .await;
    browser.screenshot(&std::env::temp_dir().join("console-trace.png")).await;

    // From the visit on today's board, the same timeline.
    browser.goto(&app.url("/console/board")).await;
    let trace_link = format!("[data-testid=visit][data-visit-id='{visit_id}'] [data-testid=visit-trace]");
    browser.wait_visible(&trace_link).await;
    browser.click(&trace_link).await;
    browser.wait_visible("[data-testid=trace-step][data-kind=evv]").await;
    assert_eq!(browser.find_all("[data-testid=trace-step]").await.len(), 3);
    browser.quit().await;
}
