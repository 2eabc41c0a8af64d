//! The hotline desk end to end: the operator makes a desk account; a number
//! finds the elder (kept on the registry in national form) or her
//! daughter; an elder calling for help is an SOS her provider's staff see
//! at once, which the desk sees while it is open and never acts on; the
//! check-call list puts those never in touch first, then the longest
//! silence, and leaves out whoever was in touch; two unanswered calls send
//! a welfare check, matched to the provider serving her street, which is
//! then enrolled to care for her. And the page, in Chromium: a call passed
//! as `/desk?caller=`, an SOS in two clicks, a complaint filed, a check
//! call logged.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::console::Browser;
use crate::registry::{division_user, id_number, institution, ladder};
use crate::support::{TestApp, wait_for};

async fn ok(app: &TestApp, method: &str, path: &str, token: &str, body: Value) -> Value {
    let (status, answer) = app.call(method, path, Some(token), Some(body)).await;
    assert!(status.is_success(), "{method} {path}: {status} {answer}");
    answer
}

/// An elder living alone in the grid, registered by `by`.
async fn elder(app: &TestApp, by: &str, name: &str, id17: &str, phone: &str) -> String {
    let registration = json!({"name": name, "timezone": "Asia/Shanghai", "id_number": id_number(id17),
        "division": "330205001001001", "household": "alone", "phone": phone});
    ok(app, "POST", "/api/v1/residents", by, registration).await["id"].as_str().unwrap().to_owned()
}

async fn desk_account(app: &TestApp, operator: &str) -> String {
    let body = json!({"email": "desk@81890.example", "password": "long enough pw", "name": "Desk One", "role": "desk",
        "division": "330205"});
    let (status, answer) = app.call("POST", "/api/v1/users", Some(operator), Some(body.clone())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the desk answers for the whole platform: {answer}");
    let mut body = body;
    body.as_object_mut().unwrap().remove("division");
    ok(app, "POST", "/api/v1/users", operator, body).await;
    app.login("desk@81890.example", "long enough pw").await
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|e| e["resident_id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn the_desk_finds_callers_raises_an_sos_and_calls_those_nobody_has_been_in_touch_with() {
    let app = TestApp::spawn().await;
    let operator = app.operator_token().await;
    ladder(&app, &operator).await;
    let (harbour_id, harbour) = institution(&app, &operator, "Harbour Home Care", "home_care", "330205001").await;
    ok(&app, "PATCH", &format!("/api/v1/institutions/{harbour_id}"), &operator, json!({"service_area": ["330205001"]}))
        .await;
    let (_, other) = institution(&app, &operator, "Other Street Care", "home_care", "330205002").await;
    let desk = desk_account(&app, &operator).await;

    let zhou = elder(&app, &harbour, "Zhou Lan", "33020519380402004", "138 0000 0001").await;
    let email = "zhou.mei@family.example";
    let body = json!({"email": email, "password": "long enough pw", "role": "family", "name": "Zhou Mei"});
    let daughter_id = ok(&app, "POST", "/api/v1/users", &harbour, body).await["id"].as_str().unwrap().to_owned();
    let link = json!({"user_id": daughter_id, "relationship": "daughter"});
    ok(&app, "POST", &format!("/api/v1/residents/{zhou}/family"), &harbour, link).await;
    let daughter = app.login(email, "long enough pw").await;
    ok(&app, "PATCH", "/api/v1/me", &daughter, json!({"phone": "+8613900000002"})).await;

    // A number finds the elder (kept as "13800000001") or her daughter.
    let found = app.get("/api/v1/desk/lookup?phone=%2B8613800000001", &desk).await;
    assert_eq!(found["matches"].as_array().unwrap().len(), 1, "{found}");
    let card = &found["matches"][0];
    assert_eq!((card["matched"].as_str(), card["resident"]["name"].as_str()), (Some("elder"), Some("Zhou Lan")));
    assert_eq!(card["resident"]["household"], "alone");
    assert_eq!(card["resident"]["status"], "active");
    assert_eq!(card["open_alerts"], json!([]));
    let codes: Vec<&str> = card["services"].as_array().unwrap().iter().map(|s| s["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["WELFARE-CHECK"], "what the providers serving her street offer");
    let by_daughter = app.get("/api/v1/desk/lookup?phone=%2B8613900000002", &desk).await;
    assert_eq!(by_daughter["matches"][0]["matched"], "family");
    assert_eq!(by_daughter["matches"][0]["family_member"]["name"], "Zhou Mei");
    assert_eq!(by_daughter["matches"][0]["resident"]["id"], zhou.as_str());
    assert_eq!(app.get("/api/v1/desk/lookup?phone=%2B8613700000009", &desk).await["matches"], json!([]));
    let (status, _) = app.call("GET", "/api/v1/desk/lookup?phone=%2B8613800000001", Some(&harbour), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only the desk looks callers up");
    let (status, _) = app.call("GET", "/api/v1/desk/lookup?phone=13800000001", Some(&desk), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "international form");

    // She calls for help: an SOS, critical, at her provider's, at once.
    let sos = json!({"phone": "+8613800000001", "direction": "in", "resident_id": zhou, "disposition": "alert",
        "note": "fell in the kitchen, cannot get up"});
    let call = ok(&app, "POST", "/api/v1/calls", &desk, sos).await;
    let alert_id = call["alert_id"].as_str().expect("the SOS raised").to_owned();
    let alert = app.get(&format!("/api/v1/alerts/{alert_id}"), &harbour).await;
    assert_eq!((alert["kind"].as_str(), alert["severity"].as_str()), (Some("sos"), Some("critical")));
    assert_eq!(alert["details"]["source"], "hotline");
    assert_eq!(alert["resident_id"], zhou.as_str());
    let found = app.get("/api/v1/desk/lookup?phone=%2B8613800000001", &desk).await;
    assert_eq!(found["matches"][0]["open_alerts"][0]["id"], alert_id.as_str());
    assert_eq!(found["matches"][0]["last_calls"][0]["disposition"], "alert");
    assert_eq!(found["matches"][0]["last_calls"][0]["by"], "desk");
    // The desk reads her identity and open alerts, acts on none, reads no
    // health data.
    let path = format!("/api/v1/alerts/{alert_id}");
    assert_eq!(app.call("GET", &path, Some(&desk), None).await.0, StatusCode::OK);
    let (status, _) = app.call("POST", &format!("{path}/acknowledge"), Some(&desk), Some(json!({}))).await;
    assert!(matches!(status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{status}");
    for health in ["presence", "summary", "care-plan", "responder-info", "meal-plan"] {
        let (status, _) = app.call("GET", &format!("/api/v1/residents/{zhou}/{health}"), Some(&desk), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{health}");
    }
    ok(&app, "POST", &format!("{path}/resolve"), &harbour, json!({"resolution": "handled"})).await;
    assert_eq!(app.call("GET", &path, Some(&desk), None).await.0, StatusCode::NOT_FOUND, "resolved: no longer open");

    // The check calls: elders living alone, never in touch first, then the
    // longest silence; Zhou Lan called today, her neighbour's daughter wrote.
    let wu = elder(&app, &other, "Wu Ping", "33020519360101002", "+8613800000003").await;
    let chen = elder(&app, &harbour, "Chen Hua", "33020519350101005", "+8613800000004").await;
    let song = elder(&app, &harbour, "Song Yu", "33020519370101001", "+8613800000005").await;
    let old_call =
        json!({"phone": "+8613800000004", "direction": "out", "resident_id": chen, "disposition": "wellbeing"});
    let old_call = ok(&app, "POST", "/api/v1/calls", &desk, old_call).await;
    sqlx::query("update calls set at = now() - interval '10 days' where id = $1::uuid")
        .bind(old_call["id"].as_str().unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    let body =
        json!({"email": "song.li@family.example", "password": "long enough pw", "role": "family", "name": "Song Li"});
    let son_id = ok(&app, "POST", "/api/v1/users", &harbour, body).await["id"].as_str().unwrap().to_owned();
    ok(
        &app,
        "POST",
        &format!("/api/v1/residents/{song}/family"),
        &harbour,
        json!({"user_id": son_id, "relationship": "son"}),
    )
    .await;
    let son = app.login("song.li@family.example", "long enough pw").await;
    ok(&app, "POST", &format!("/api/v1/residents/{song}/messages"), &son, json!({"text": "Called mum, all well"}))
        .await;
    let checks = app.get("/api/v1/desk/check-calls", &desk).await;
    assert_eq!(checks["days"], 7);
    assert_eq!(ids(&checks["elders"]), [wu.clone(), chen.clone()], "never in touch first; Zhou and Song were");
    assert_eq!(checks["elders"][0]["last_contact_at"], Value::Null);
    let grid = division_user(&app, &operator, "grid_worker", "330205001001001").await;
    assert_eq!(ids(&app.get("/api/v1/desk/check-calls", &grid).await["elders"]), [wu.clone(), chen.clone()]);
    let (status, _) = app.call("GET", "/api/v1/desk/check-calls", Some(&harbour), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Wu Ping does not answer, twice: a welfare check, matched to Harbour
    // (serving her street; the provider that registered her does not).
    let no_answer =
        json!({"phone": "+8613800000003", "direction": "out", "resident_id": wu, "disposition": "no_answer"});
    let mut inbound = no_answer.clone();
    inbound["direction"] = json!("in");
    let (status, _) = app.call("POST", "/api/v1/calls", Some(&desk), Some(inbound)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "no answer is a call the desk made");
    let first = ok(&app, "POST", "/api/v1/calls", &desk, no_answer.clone()).await;
    assert_eq!(first["service_request_id"], Value::Null, "once is not yet a worry");
    let checks = app.get("/api/v1/desk/check-calls", &desk).await;
    assert_eq!(checks["elders"][0]["unanswered"], 1, "still on the list, one unanswered");
    let second = ok(&app, "POST", "/api/v1/calls", &grid, no_answer.clone()).await;
    let request_id = second["service_request_id"].as_str().expect("the welfare check").to_owned();
    let request = app.get(&format!("/api/v1/service-requests/{request_id}"), &desk).await;
    assert_eq!(request["service_code"], "WELFARE-CHECK");
    assert_eq!(
        (request["status"].as_str(), request["offer"]["institution_id"].as_str()),
        (Some("offered"), Some(harbour_id.as_str()))
    );
    let third = ok(&app, "POST", "/api/v1/calls", &desk, no_answer).await;
    assert_eq!(third["service_request_id"], Value::Null, "one welfare check for the two, not one per call after");

    // Harbour accepts: it is enrolled for her home care on the request, and
    // reaches her care plan where it reached nothing of her before.
    let plan = format!("/api/v1/residents/{wu}/care-plan");
    assert_eq!(app.call("GET", &plan, Some(&harbour), None).await.0, StatusCode::NOT_FOUND);
    ok(&app, "POST", &format!("/api/v1/service-requests/{request_id}/accept"), &harbour, json!({})).await;
    assert_eq!(app.call("GET", &plan, Some(&harbour), None).await.0, StatusCode::OK);
    let enrolments = app.get(&format!("/api/v1/residents/{wu}/enrolments"), &harbour).await;
    let ours = enrolments["enrolments"].as_array().unwrap().iter().find(|e| e["institution_id"] == harbour_id.as_str());
    let ours = ours.expect("enrolled on accepting");
    assert_eq!(ours["services"], json!(["home_care"]));
    assert_eq!((ours["consent_by"].as_str(), ours["consent_method"].as_str()), (Some("resident"), Some("verbal")));

    // The page: the telephony system opens /desk?caller=..., the desk raises
    // an SOS in two clicks and logs a check call.
    let browser = Browser::start().await;
    browser.goto(&app.url("/desk?caller=%2B8613900000002")).await;
    browser.type_into("[data-testid=login-email]", "desk@81890.example").await;
    browser.type_into("[data-testid=login-password]", "long enough pw").await;
    browser.click("[data-testid=login-submit]").await;
    let card = format!("[data-testid=elder-card][data-resident-id='{zhou}']");
    browser.wait_text(&format!("{card} [data-testid=matched]"), "the caller placed", |t| t.contains("Zhou Mei")).await;
    browser.wait_text(&format!("{card} [data-testid=elder-name]"), "her name", |t| t == "Zhou Lan").await;
    browser.type_into(&format!("{card} [data-testid=call-note]"), "daughter: mum not answering, door locked").await;
    browser.click(&format!("{card} [data-testid=raise-sos]")).await;
    browser.click(&format!("{card} [data-testid=confirm-sos]")).await;
    browser
        .wait_text(&format!("{card} [data-testid=open-alerts]"), "the SOS on her card", |t| {
            t.to_lowercase().contains("sos")
        })
        .await;
    let raised = wait_for("the SOS from the page", || async {
        let alerts = app.get(&format!("/api/v1/alerts?resident_id={zhou}&status=open"), &harbour).await;
        alerts["alerts"].as_array().and_then(|a| a.first().cloned())
    })
    .await;
    assert_eq!(raised["details"]["note"], "daughter: mum not answering, door locked");
    assert_eq!(raised["details"]["phone"], "+8613900000002");
    // A complaint from the same card, against the provider serving her.
    browser.type_into(&format!("{card} [data-testid=call-note]"), "the carer did not come on Tuesday").await;
    browser.click(&format!("{card} [data-testid=complain]")).await;
    browser
        .wait_text(&format!("{card} [data-testid=card-status]"), "the complaint filed", |t| {
            t.contains("Harbour Home Care")
        })
        .await;
    let complaints = app.get("/api/v1/complaints", &harbour).await;
    let filed = &complaints["complaints"][0];
    assert_eq!(
        (filed["text"].as_str(), filed["filed_role"].as_str(), filed["resident_id"].as_str()),
        (Some("the carer did not come on Tuesday"), Some("desk"), Some(zhou.as_str()))
    );
    let row = format!("[data-testid=check-call][data-resident-id='{chen}']");
    browser.wait_visible(&row).await;
    browser.click(&format!("{row} [data-testid=check-well]")).await;
    browser.wait_gone(&row).await;
    let calls: i64 =
        sqlx::query_scalar("select count(*) from calls where resident_id = $1::uuid and disposition = 'wellbeing'")
            .bind(&chen)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(calls, 2, "the check call logged from the page");
    browser.quit().await;
}

/// The follow-up calls on the desk page: two months ago Harbour delivered
/// three verified visits, sampled for follow-up calls. The desk picks the
/// month, calls an elder who does not answer (one attempt shown, still to
/// call), then again: she answers, the visit never happened, satisfaction
/// 2. Recorded, and the visit disputed on the provider's side.
#[tokio::test]
async fn the_desk_records_follow_up_calls_and_a_visit_that_never_happened_is_disputed() {
    let app = TestApp::spawn().await;
    let operator = app.operator_token().await;
    ladder(&app, &operator).await;
    let (harbour_id, harbour) = institution(&app, &operator, "Harbour Home Care", "home_care", "330205001").await;
    let desk = desk_account(&app, &operator).await;
    let zhou = elder(&app, &harbour, "Zhou Lan", "33020519380402004", "+8613800000001").await;
    let month: String =
        sqlx::query_scalar("select to_char(date_trunc('month', now()) - interval '2 months', 'YYYY-MM')")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let visits = crate::supervision::verified_visits(&app, &harbour_id, &zhou, &month, 3).await;
    let path = format!("/api/v1/follow-ups?month={month}");
    let list = app.get(&path, &desk).await;
    let call = list["follow_ups"][0].clone();
    let (id, visit) = (call["id"].as_str().unwrap().to_owned(), call["visit_id"].as_str().unwrap().to_owned());
    assert!(visits.contains(&visit), "{list}");
    assert_eq!((call["attempts"].as_i64(), call["reached"].as_bool()), (Some(0), None));

    let browser = Browser::start().await;
    browser.goto(&app.url("/desk")).await;
    browser.type_into("[data-testid=login-email]", "desk@81890.example").await;
    browser.type_into("[data-testid=login-password]", "long enough pw").await;
    browser.click("[data-testid=login-submit]").await;
    browser.click(&format!("[data-testid=follow-ups-month] option[value='{month}']")).await;
    let row = format!("[data-testid=follow-up][data-follow-up-id='{id}']");
    browser.wait_text(&format!("{row} [data-testid=follow-up-name]"), "the elder", |t| t == "Zhou Lan").await;
    browser.wait_text(&format!("{row} [data-testid=follow-up-phone]"), "her phone", |t| t == "+8613800000001").await;
    browser
        .wait_attribute(&format!("{row} [data-testid=follow-up-phone]"), "href", "a tel: link", |h| {
            h == "tel:+8613800000001"
        })
        .await;
    browser.wait_text(&format!("{row} [data-testid=follow-up-status]"), "still to call", |t| t == "To call").await;

    // Nobody answers: one attempt, still to call.
    browser.click(&format!("{row} [data-testid=follow-up-open]")).await;
    browser.click(&format!("{row} [data-testid=fu-reached-no]")).await;
    browser.click(&format!("{row} [data-testid=fu-save]")).await;
    browser.wait_text(&format!("{row} [data-testid=follow-up-attempts]"), "one attempt", |t| t.ends_with(": 1")).await;
    browser
        .wait_text(&format!("{row} [data-testid=follow-up-status]"), "no answer", |t| t.contains("tried once"))
        .await;
    browser.wait_gone(&format!("{row} [data-testid=follow-up-form]")).await;

    // Again: she answers; nobody came.
    browser.click(&format!("{row} [data-testid=follow-up-open]")).await;
    browser.click(&format!("{row} [data-testid=fu-reached-yes]")).await;
    browser.click(&format!("{row} [data-testid=fu-happened-no]")).await;
    browser.click(&format!("{row} [data-testid=fu-satisfaction-2]")).await;
    browser.type_into(&format!("{row} [data-testid=fu-note]"), "Nobody came that week").await;
    browser.click(&format!("{row} [data-testid=fu-save]")).await;
    browser
        .wait_text(&format!("{row} [data-testid=follow-up-status]"), "recorded, disputed", |t| {
            t.contains("did not happen") && t.contains("2/5")
        })
        .await;
    browser.wait_text(&format!("{row} [data-testid=follow-up-attempts]"), "two attempts", |t| t.ends_with(": 2")).await;
    browser.wait_gone(&format!("{row} [data-testid=follow-up-open]")).await;
    browser.quit().await;

    let list = app.get(&path, &desk).await;
    let recorded = list["follow_ups"].as_array().unwrap().iter().find(|c| c["id"] == id.as_str()).unwrap();
    assert_eq!(
        (
            recorded["attempts"].as_i64(),
            recorded["reached"].as_bool(),
            recorded["visit_happened"].as_bool(),
            recorded["satisfaction"].as_i64(),
            recorded["note"].as_str()
        ),
        (Some(2), Some(true), Some(false), Some(2), Some("Nobody came that week")),
        "{recorded}"
    );
    let visit = app.get(&format!("/api/v1/visits/{visit}"), &harbour).await;
    let exceptions = visit["evv"]["exceptions"].as_array().unwrap();
    assert!(exceptions.iter().any(|e| e == "disputed"), "{visit}");
}
