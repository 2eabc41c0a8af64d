//! Public money end to end: a family applies for long-term care insurance,
//! the bureau assigns an assessment body, its assessor grades her (Barthel
//! 35: grade 3), the fund approves and the entitlement appears; the
//! visits of the month go past the quota; the bill splits each line; the
//! provider's claim holds exactly the payer's share of the lines within
//! the quota; the fund rejects one line, which is claimed once more and
//! then never again; and the totals reconcile to the cent.
//!
//! The elder lives in the fixed-offset zone where it is about noon when the
//! test runs, so the morning's visits fall on today's local date and month.

use chrono::{DateTime, Datelike, Duration, SecondsFormat, Timelike, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::registry::{division_user, id_number, institution, ladder};
use crate::support::{TestApp, wait_for};

const HOME: (f64, f64) = (29.8683, 121.5440);

fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn noon_zone(now: DateTime<Utc>) -> String {
    match 12 - now.hour() as i32 {
        0 => "Etc/GMT".to_owned(),
        h if h > 0 => format!("Etc/GMT-{h}"),
        h => format!("Etc/GMT+{}", -h),
    }
}

/// Yuan, as whole fen.
fn fen(value: &Value) -> i64 {
    (value.as_f64().expect("an amount") * 100.0).round() as i64
}

/// An answer's body as written (its numbers' decimals, a CSV).
async fn text(app: &TestApp, path: &str, token: &str) -> String {
    app.http.get(app.url(path)).bearer_auth(token).send().await.unwrap().text().await.unwrap()
}

async fn ok(app: &TestApp, method: &str, path: &str, token: &str, body: Value) -> Value {
    let (status, answer) = app.call(method, path, Some(token), Some(body)).await;
    assert!(status.is_success(), "{method} {path}: {status} {answer}");
    answer
}

async fn user(app: &TestApp, by: &str, role: &str, name: &str, extra: Value) -> (String, String) {
    let email = format!("{}@money.example", name.to_lowercase().replace(' ', "."));
    let mut body = json!({"email": email, "password": "long enough pw", "role": role, "name": name});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let created = ok(app, "POST", "/api/v1/users", by, body).await;
    let id = created["id"].as_str().unwrap().to_owned();
    if matches!(role, "caregiver" | "staff") {
        crate::support::certify(app, by, &id).await;
    }
    (id, app.login(&email, "long enough pw").await)
}

/// One visit of the bathing service at `start`, done at the door in 58
/// minutes.
async fn deliver(
    app: &TestApp,
    admin: &str,
    carer_id: &str,
    carer: &str,
    resident: &str,
    start: DateTime<Utc>,
) -> String {
    let body = json!({"resident_id": resident, "service_code": "HC-BATH", "scheduled_start": ts(start),
                      "funding": "ltc_insurance"});
    let visit = ok(app, "POST", "/api/v1/visits", admin, body).await["id"].as_str().unwrap().to_owned();
    ok(app, "POST", &format!("/api/v1/visits/{visit}/assign"), admin, json!({"caregiver_id": carer_id})).await;
    let door = |at: DateTime<Utc>| json!({"location": {"lat": HOME.0 + 0.0002, "lon": HOME.1, "accuracy_m": 15}, "method": "gps", "ts": ts(at)});
    ok(app, "POST", &format!("/api/v1/visits/{visit}/check-in"), carer, door(start + Duration::minutes(5))).await;
    ok(app, "POST", &format!("/api/v1/visits/{visit}/check-out"), carer, door(start + Duration::minutes(63))).await;
    // Recorded by a phone that was offline: the coordinator confirms it,
    // and the visit becomes billable.
    let reason = json!({"reason": "phone had no signal in the stairwell"});
    let done =
        ok(app, "POST", &format!("/api/v1/visits/{visit}/exceptions/offline_entry/resolve"), admin, reason).await;
    assert_eq!(done["evv"]["verified"], true, "{done}");
    assert_eq!(done["evv"]["minutes"], 58);
    visit
}

/// A district: its ladder of divisions, a home-care provider's admin, an
/// assessment body and its assessor, and the district's civil-affairs
/// bureau.
struct District {
    operator: String,
    provider: String,
    body_id: String,
    assessor: String,
    bureau: String,
}

async fn district(app: &TestApp) -> District {
    let operator = app.operator_token().await;
    ladder(app, &operator).await;
    let (_, provider) = institution(app, &operator, "Harbour Home Care", "home_care", "330205001").await;
    let (body_id, body_admin) = institution(app, &operator, "Ningbo Assessment Centre", "assessment", "330205").await;
    let bureau = division_user(app, &operator, "civil_affairs", "330205").await;
    let (_, assessor) = user(app, &body_admin, "assessor", "Assessor Chen", json!({})).await;
    District { operator, provider, body_id, assessor, bureau }
}

#[tokio::test]
async fn an_application_becomes_an_entitlement_priced_into_bills_and_claimed_to_the_cent() {
    let app = TestApp::spawn().await;
    let District { operator, provider, body_id, assessor, bureau } = district(&app).await;
    let (fund_id, _) = institution(&app, &operator, "Haishu LTC Fund", "ltc_fund", "330205").await;
    let (_, insurer) = user(&app, &operator, "insurer", "Insurer Xu", json!({"institution_id": fund_id})).await;
    // A care provider makes no assessors; an assessment body no carers.
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/users",
            Some(&provider),
            Some(json!({"email": "x@money.example",
            "password": "long enough pw", "role": "assessor", "name": "X"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The elder, her daughter, the bathing service and its carer.
    let registration = json!({"name": "Zhou Lan", "timezone": noon_zone(Utc::now()),
        "id_number": id_number("33020519400101004"), "division": "330205001001001"});
    let rid = ok(&app, "POST", "/api/v1/residents", &provider, registration).await["id"].as_str().unwrap().to_owned();
    let location = json!({"address": "12 Moon Lake Lane", "location": {"lat": HOME.0, "lon": HOME.1}});
    ok(&app, "PATCH", &format!("/api/v1/residents/{rid}"), &provider, location).await;
    let (daughter_id, daughter) = user(&app, &provider, "family", "Zhou Mei", json!({})).await;
    let link = json!({"user_id": daughter_id, "relationship": "daughter"});
    ok(&app, "POST", &format!("/api/v1/residents/{rid}/family"), &provider, link).await;
    let service = json!({"code": "HC-BATH", "name": "Bathing assistance", "category": "personal_care",
        "duration_minutes": 60, "unit": "hour", "unit_price": 80.0, "currency": "CNY",
        "funding": ["ltc_insurance", "self_pay"], "evv_required": true, "tasks": []});
    ok(&app, "POST", "/api/v1/services", &provider, service).await;
    let (carer_id, carer) = user(&app, &provider, "caregiver", "Li Wei", json!({})).await;

    // The fund's scheme: grade 3 gets 150 minutes a month at a 10 % co-payment.
    let scheme = json!({"name": "Ningbo LTC insurance", "payer": "ltc_insurance", "application_kind": "ltc_insurance",
        "grades": {"3": {"monthly_minutes": 150, "copay_ratio": 0.1, "services": ["home_care"], "valid_months": 12}}});
    let (status, _) = app.call("PUT", "/api/v1/schemes/ltc-ningbo", Some(&bureau), Some(scheme.clone())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the bureau sets no LTC scheme");
    ok(&app, "PUT", "/api/v1/schemes/ltc-ningbo", &insurer, scheme).await;

    // Her phone is subscribed to pushes (the push service itself is the
    // notification tests' business: here, what is planned for her).
    sqlx::query(
        "insert into push_subscriptions (id, user_id, endpoint, p256dh, auth)
         values (gen_random_uuid(), $1::uuid, 'https://push.example.invalid/daughter', 'k', 'a')",
    )
    .bind(&daughter_id)
    .execute(&app.pool)
    .await
    .unwrap();

    // Outsiders: another street's fund and another assessment body.
    let (other_fund, _) = institution(&app, &operator, "Other Street Fund", "ltc_fund", "330205002").await;
    let (_, other_insurer) =
        user(&app, &operator, "insurer", "Insurer Other", json!({"institution_id": other_fund})).await;
    let (_, other_body_admin) = institution(&app, &operator, "Other Assessors", "assessment", "330205").await;
    let (_, other_assessor) = user(&app, &other_body_admin, "assessor", "Assessor Other", json!({})).await;

    // The daughter applies from her phone.
    let applied = json!({"resident_id": rid, "kind": "ltc_insurance", "note": "She can no longer bathe alone"});
    let application = ok(&app, "POST", "/api/v1/applications", &daughter, applied).await;
    assert_eq!(application["status"], "submitted");
    let app_id = application["id"].as_str().unwrap().to_owned();
    let again = json!({"resident_id": rid, "kind": "ltc_insurance"});
    let (status, _) = app.call("POST", "/api/v1/applications", Some(&provider), Some(again)).await;
    assert_eq!(status, StatusCode::CONFLICT, "one open application per kind");
    // No decision without a valid assessment; no assessor before one is assigned.
    let approve = json!({"decision": "approved", "reason": "Grade 3: entitled"});
    let (status, refused) =
        app.call("POST", &format!("/api/v1/applications/{app_id}/decide"), Some(&insurer), Some(approve.clone())).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("no_valid_assessment"))
    );
    let evidence_path = format!("/api/v1/residents/{rid}/assessments/evidence");
    assert_eq!(app.call("GET", &evidence_path, Some(&assessor), None).await.0, StatusCode::NOT_FOUND);

    ok(
        &app,
        "POST",
        &format!("/api/v1/applications/{app_id}/assign"),
        &bureau,
        json!({"assessor_institution_id": body_id}),
    )
    .await;
    let form = ok(&app, "GET", &evidence_path, &assessor, Value::Null).await;
    assert_eq!(form["events"], json!([]), "no falls in her last 30 days");
    assert_eq!(form["scales"]["barthel"]["transfers"], json!([0, 5, 10, 15]));

    // The assessor grades her: a value off the scale is refused, naming the item.
    let assessed_at = ts(Utc::now() - Duration::hours(11));
    let mut items = json!({"feeding": 5, "bathing": 0, "grooming": 0, "dressing": 5, "bowels": 5, "bladder": 5,
        "toilet": 5, "transfers": 5, "mobility": 5, "stairs": 0});
    let path = format!("/api/v1/residents/{rid}/assessments");
    let mut wrong = items.clone();
    wrong["feeding"] = json!(7);
    let (status, refused) = app
        .call(
            "POST",
            &path,
            Some(&assessor),
            Some(json!({"scale": "barthel", "items": wrong, "assessed_at": assessed_at})),
        )
        .await;
    assert_eq!((status, refused["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("items.feeding")));
    let graded =
        ok(&app, "POST", &path, &assessor, json!({"scale": "barthel", "items": items, "assessed_at": assessed_at}))
            .await;
    assert_eq!((graded["total"].as_i64(), graded["grade"].as_i64()), (Some(35), Some(3)));
    assert_eq!(graded["grade_label"], "severe");
    let elder = app.get(&format!("/api/v1/residents/{rid}"), &provider).await;
    assert_eq!(elder["grade"]["grade"], 3, "the grade shows on the resident: {elder}");

    // The fund approves: the entitlement appears for the family.
    let decided = ok(&app, "POST", &format!("/api/v1/applications/{app_id}/decide"), &insurer, approve).await;
    assert_eq!(decided["status"], "approved");
    let steps: Vec<&str> =
        decided["timeline"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(steps, ["submitted", "assigned", "assessed", "approved"]);
    let mine = app.get(&format!("/api/v1/applications?resident_id={rid}"), &daughter).await;
    assert_eq!(mine["applications"][0]["timeline"].as_array().unwrap().len(), 4, "the family follows every step");
    // Nobody else's fund or assessment body sees any of it.
    for (who, token, path) in [
        ("another street's insurer", &other_insurer, format!("/api/v1/residents/{rid}/entitlements")),
        ("another street's insurer", &other_insurer, format!("/api/v1/applications/{app_id}")),
        ("another street's insurer", &other_insurer, format!("/api/v1/residents/{rid}")),
        ("another body's assessor", &other_assessor, format!("/api/v1/residents/{rid}/assessments/evidence")),
        ("another body's assessor", &other_assessor, format!("/api/v1/applications/{app_id}")),
        ("the assessor, once decided", &assessor, format!("/api/v1/residents/{rid}/assessments/evidence")),
    ] {
        assert_eq!(app.call("GET", &path, Some(token), None).await.0, StatusCode::NOT_FOUND, "{who}: GET {path}");
    }
    assert_eq!(app.get("/api/v1/applications", &other_insurer).await["applications"], json!([]));
    let entitlements = app.get(&format!("/api/v1/residents/{rid}/entitlements"), &daughter).await;
    let entitlement = &entitlements["entitlements"][0];
    assert_eq!(entitlement["payer"], "ltc_insurance");
    assert_eq!(entitlement["monthly_minutes"], 150);
    assert_eq!(entitlement["copay_ratio"], json!(0.1));
    assert_eq!(entitlement["services"], json!(["home_care"]));
    // Her care plan, line by line against the month's 150 minutes.
    let plan = json!({"items": [
        {"service_code": "HC-BATH", "funding": "ltc_insurance", "schedule": {"days": ["tue", "fri"], "start": "23:00"},
         "hours_per_month": 2},
        {"service_code": "HC-BATH", "funding": "ltc_insurance", "schedule": {"days": ["mon"], "start": "23:00"},
         "hours_per_month": 1},
        {"service_code": "HC-BATH", "funding": "self_pay", "schedule": {"days": ["sun"], "start": "23:00"}}]});
    ok(&app, "PUT", &format!("/api/v1/residents/{rid}/care-plan"), &provider, plan).await;
    let plan = app.get(&format!("/api/v1/residents/{rid}/care-plan"), &daughter).await;
    let fits: Vec<(i64, i64, &str)> = plan["quota"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (l["planned_minutes"].as_i64().unwrap(), l["within_minutes"].as_i64().unwrap(), l["fit"].as_str().unwrap())
        })
        .collect();
    assert_eq!(fits[..2], [(120, 120, "within"), (60, 30, "partly_over")], "{plan}");
    assert_eq!((fits[2].1, fits[2].2), (0, "not_covered"));
    // Each step was a notice to the family, planned off the request path.
    wait_for("the notices planned", || async {
        (app.count("select count(*) from notification_jobs where notice is not null").await == 0).then_some(())
    })
    .await;
    assert_eq!(app.count("select count(*) from application_steps").await, 4);
    let told: Vec<String> = sqlx::query_scalar(
        "select payload->>'step' from notification_deliveries
         where user_id = $1::uuid and payload->>'type' = 'application' order by 1",
    )
    .bind(&daughter_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(told, ["approved", "assessed", "assigned", "submitted"], "a push to her phone at each step");

    // The morning's five baths, 58 minutes each at 80 an hour: 77.33 each.
    let start = Utc::now() - Duration::hours(10);
    let mut visits = Vec::new();
    for k in 0..5 {
        visits.push(deliver(&app, &provider, &carer_id, &carer, &rid, start + Duration::hours(2 * k)).await);
    }
    let month =
        Utc::now().with_timezone(&noon_zone(Utc::now()).parse::<chrono_tz::Tz>().unwrap()).format("%Y-%m").to_string();
    let bill = app.get(&format!("/api/v1/residents/{rid}/bills?month={month}"), &daughter).await;
    let lines = bill["lines"].as_array().unwrap();
    let raw = text(&app, &format!("/api/v1/residents/{rid}/bills?month={month}"), &daughter).await;
    assert!(raw.contains(r#""payer_amount":69.60,"#), "amounts are written with two decimals: {raw}");
    let of = |visit: &str| -> Vec<&Value> { lines.iter().filter(|l| l["ref"] == visit).collect() };
    // Two within the quota (116 minutes), the third crossing it (34 within,
    // 24 beyond: two lines), the last two beyond it.
    for visit in &visits[..2] {
        let line = of(visit);
        assert_eq!(line.len(), 1);
        assert_eq!(
            (fen(&line[0]["amount"]), fen(&line[0]["payer_amount"]), fen(&line[0]["elder_amount"])),
            (7733, 6960, 773)
        );
        assert_eq!(line[0]["over_quota"], false);
    }
    let crossing = of(&visits[2]);
    assert_eq!(crossing.len(), 2, "a visit crossing the quota is two lines: {bill}");
    assert_eq!((crossing[0]["minutes"].as_i64(), fen(&crossing[0]["amount"])), (Some(34), 4533));
    assert_eq!((fen(&crossing[0]["payer_amount"]), fen(&crossing[0]["elder_amount"])), (4080, 453));
    assert_eq!((crossing[1]["minutes"].as_i64(), fen(&crossing[1]["amount"])), (Some(24), 3200));
    assert_eq!((crossing[1]["over_quota"].as_bool(), crossing[1]["payer"].as_str()), (Some(true), None));
    for visit in &visits[3..] {
        let line = of(visit);
        assert_eq!((line.len(), line[0]["over_quota"].as_bool()), (1, Some(true)));
        assert_eq!((fen(&line[0]["payer_amount"]), fen(&line[0]["elder_amount"])), (0, 7733));
    }
    // Lines sum exactly to the totals.
    let sum = |key: &str| lines.iter().map(|l| fen(&l[key])).sum::<i64>();
    assert_eq!(
        (fen(&bill["totals"]["amount"]), fen(&bill["totals"]["payer_amount"]), fen(&bill["totals"]["elder_amount"])),
        (sum("amount"), sum("payer_amount"), sum("elder_amount"))
    );
    assert_eq!((sum("amount"), sum("payer_amount"), sum("elder_amount")), (38665, 18000, 20665));
    // The provider's month-end run holds her bill as the family reads it.
    let month_end = app.get(&format!("/api/v1/bills?month={month}"), &provider).await;
    assert_eq!(month_end["bills"].as_array().unwrap().len(), 1);
    assert_eq!(month_end["bills"][0]["totals"], bill["totals"]);
    assert_eq!(month_end["totals"], bill["totals"]);
    let used = app.get(&format!("/api/v1/residents/{rid}/entitlements"), &provider).await;
    assert_eq!(used["entitlements"][0]["used_this_month"]["minutes"], 150);
    // Her provider's staff see her grade and the quota used up in her panel.
    let browser = crate::console::Browser::start().await;
    browser.goto(&app.url("/console/")).await;
    browser.type_into("[data-testid=login-email]", "admin@harbour-home-care.example").await;
    browser.type_into("[data-testid=login-password]", "long enough pw").await;
    browser.click("[data-testid=login-submit]").await;
    browser.click("[data-testid=view-registry]").await;
    browser.type_into("[data-testid=registry-q]", "Zhou Lan").await;
    browser.click("[data-testid=registry-submit]").await;
    browser.click(&format!("[data-testid=registry-row][data-resident-id='{rid}'] [data-testid=registry-open]")).await;
    browser.wait_text("[data-testid=resident-grade]", "her grade", |t| t.starts_with("Grade 3 (severe")).await;
    let shown =
        browser.wait_text("[data-testid=entitlement]", "her quota", |t| t.contains("150 of 150 min used")).await;
    assert!(shown.contains("co-payment 10 %"), "{shown}");
    browser.wait_attribute("[data-testid=entitlement]", "data-quota", "the quota used up", |q| q == "used_up").await;
    browser.quit().await;

    // A new grade after the visits: her entitlement ends, her priced lines stay as they were.
    items = json!({"feeding": 10, "bathing": 5, "grooming": 5, "dressing": 10, "bowels": 10, "bladder": 10,
        "toilet": 10, "transfers": 15, "mobility": 15, "stairs": 10});
    // The bureau shortens its validity to three weeks: the family is reminded to re-assess.
    let valid_until = (Utc::now() + Duration::days(21)).date_naive().to_string();
    let body = json!({"scale": "barthel", "items": items, "assessed_at": ts(Utc::now()), "valid_until": valid_until});
    let regraded = ok(&app, "POST", &path, &bureau, body).await;
    assert_eq!((regraded["grade"].as_i64(), regraded["entitlements_changed"].as_i64()), (Some(0), Some(1)));
    let reminded = format!(
        "select count(*) from assessments where id = '{}' and reminded_at is not null",
        regraded["id"].as_str().unwrap()
    );
    wait_for("the re-assessment reminder", || async { (app.count(&reminded).await == 1).then_some(()) }).await;
    assert_eq!(
        app.count("select count(*) from assessments where reminded_at is not null").await,
        1,
        "only the lapsing one"
    );
    let after = app.get(&format!("/api/v1/residents/{rid}/bills?month={month}"), &daughter).await;
    assert_eq!(after["lines"], bill["lines"], "a line's price never changes once billable");

    // The provider claims: exactly the payer's share of the lines within the quota.
    let claim = ok(&app, "POST", "/api/v1/claims", &provider, json!({"payer": "ltc_insurance", "month": month})).await;
    let claim_id = claim["id"].as_str().unwrap().to_owned();
    let claimed = claim["lines"].as_array().unwrap();
    assert_eq!(claimed.len(), 3);
    assert_eq!(fen(&claim["total_claimed"]), 18000);
    assert_eq!(claimed.iter().map(|l| fen(&l["payer_amount"])).sum::<i64>(), 18000);
    let (status, again) = app
        .call("POST", "/api/v1/claims", Some(&provider), Some(json!({"payer": "ltc_insurance", "month": month})))
        .await;
    assert_eq!((status, again["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("nothing_to_claim")));
    let queue = app.get("/api/v1/claims?status=submitted", &insurer).await;
    assert_eq!(queue["claims"][0]["id"], claim_id.as_str(), "the fund sees the claim addressed to it");
    assert_eq!(app.get("/api/v1/claims", &bureau).await["claims"], json!([]), "the bureau decides subsidies only");
    assert_eq!(app.get("/api/v1/claims", &other_insurer).await["claims"], json!([]), "another fund's are not its own");
    let foreign = format!("/api/v1/claims/{claim_id}/close");
    assert_eq!(app.call("POST", &foreign, Some(&other_insurer), None).await.0, StatusCode::NOT_FOUND);

    // The fund rejects the crossing visit's line, with a reason; accepts the rest.
    let crossing_line =
        claimed.iter().find(|l| l["ref"] == visits[2].as_str()).unwrap()["id"].as_str().unwrap().to_owned();
    let decide = |line: &str| format!("/api/v1/claims/{claim_id}/lines/{line}/decision");
    let (status, _) =
        app.call("POST", &decide(&crossing_line), Some(&insurer), Some(json!({"decision": "reject"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a rejection needs a reason");
    let (status, _) = app.call("POST", &format!("/api/v1/claims/{claim_id}/close"), Some(&insurer), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "lines are pending");
    let reason = json!({"decision": "reject", "reason": "evv_unclear: check-in photo missing"});
    ok(&app, "POST", &decide(&crossing_line), &insurer, reason).await;
    for line in claimed.iter().map(|l| l["id"].as_str().unwrap()).filter(|l| *l != crossing_line) {
        ok(&app, "POST", &decide(line), &insurer, json!({"decision": "accept"})).await;
    }
    let (status, _) =
        app.call("POST", &decide(&crossing_line), Some(&provider), Some(json!({"decision": "accept"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the provider decides nothing of its own claim");
    let closed = ok(&app, "POST", &format!("/api/v1/claims/{claim_id}/close"), &insurer, Value::Null).await;
    assert_eq!(fen(&closed["total_accepted"]), 13920);
    let csv = text(&app, &format!("/api/v1/claims/{claim_id}?format=csv"), &provider).await;
    let rows: Vec<&str> = csv.lines().collect();
    assert!(rows[0].starts_with("claim_id,line_id,provider_id,"), "{csv}");
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().any(|r| r.contains("rejected") && r.contains("evv_unclear") && r.contains(",40.80,")), "{csv}");

    // The rejected line is claimed once more, and then never again.
    let second = ok(&app, "POST", "/api/v1/claims", &provider, json!({"payer": "ltc_insurance", "month": month})).await;
    let second_lines = second["lines"].as_array().unwrap();
    assert_eq!(second_lines.len(), 1);
    assert_eq!(
        (second_lines[0]["ref"].as_str(), second_lines[0]["attempt"].as_i64()),
        (Some(visits[2].as_str()), Some(2))
    );
    let second_id = second["id"].as_str().unwrap().to_owned();
    let line = second_lines[0]["id"].as_str().unwrap().to_owned();
    ok(
        &app,
        "POST",
        &format!("/api/v1/claims/{second_id}/lines/{line}/decision"),
        &insurer,
        json!({"decision": "accept"}),
    )
    .await;
    let closed_again = ok(&app, "POST", &format!("/api/v1/claims/{second_id}/close"), &insurer, Value::Null).await;
    assert_eq!(fen(&closed_again["total_accepted"]), 4080);
    let (status, _) = app
        .call("POST", "/api/v1/claims", Some(&provider), Some(json!({"payer": "ltc_insurance", "month": month})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "nothing left to claim");
    // The totals reconcile to the cent: accepted = the payer's share of the bill.
    assert_eq!(
        fen(&closed["total_accepted"]) + fen(&closed_again["total_accepted"]),
        fen(&bill["totals"]["payer_amount"])
    );
    // And the schema refuses to claim an accepted line again, whatever a caller tries.
    let duplicate = sqlx::query(
        "insert into claim_lines (id, claim_id, bill_line_id, attempt)
         select gen_random_uuid(), claim_id, bill_line_id, 2 from claim_lines where status = 'accepted' and attempt = 1 limit 1",
    )
    .execute(&app.pool)
    .await;
    assert!(duplicate.is_err(), "a line accepted is never claimed twice");
}

/// A full GB/T 42195-2022 form totalling 54 (grade 2 by its total).
fn gbt_items() -> Value {
    json!({"eating": 2, "grooming": 2, "bathing": 2, "dressing_upper": 2, "dressing_lower": 2, "bladder": 2,
        "bowel": 2, "toileting": 2, "bed_mobility": 2, "bed_chair_transfer": 2, "walking": 2, "stairs": 2,
        "time_orientation": 3, "place_orientation": 3, "person_orientation": 3, "memory": 3, "comprehension": 3,
        "expression": 3, "aggression": 1, "depression": 1, "consciousness": 2,
        "vision": 2, "hearing": 2, "daily_affairs": 1, "transport": 1, "social": 2})
}

#[tokio::test]
async fn monitored_falls_raise_her_grade_and_a_respite_stay_and_subsidised_meals_follow_from_it() {
    let app = TestApp::spawn().await;
    let District { operator, provider, body_id, assessor, bureau, .. } = district(&app).await;
    let (home_id, care_home) = institution(&app, &operator, "Lakeside Care Home", "care_home", "330205001").await;
    let registration = json!({"name": "Wang Fang", "timezone": "Asia/Shanghai",
        "id_number": id_number("33020519380505002"), "division": "330205001001001"});
    let rid = ok(&app, "POST", "/api/v1/residents", &provider, registration).await["id"].as_str().unwrap().to_owned();

    // Her pendant felt a fall last night.
    app.device(&provider, json!({"device_id": "watch-9", "resident_id": rid, "kind": "wearable"})).await;
    let fall =
        json!({"ts": ts(Utc::now() - Duration::hours(8)), "event": "fall_detected", "data": {"room": "bathroom"}});
    app.broker.publish("eldercare/v1/watch-9/event", fall.to_string()).await;
    let alert = wait_for("her fall alert", || async {
        app.get("/api/v1/alerts?kind=fall", &provider).await["alerts"].as_array().and_then(|a| a.first().cloned())
    })
    .await;

    // The bureau's schemes: respite days and a meal subsidy by grade.
    let respite = json!({"name": "Respite care", "payer": "civil_affairs", "application_kind": "respite", "grades": {
        "2": {"copay_ratio": 0, "services": ["residential"], "respite_days_per_year": 5, "valid_months": 12},
        "3": {"copay_ratio": 0, "services": ["residential"], "respite_days_per_year": 10, "valid_months": 12}}});
    ok(&app, "PUT", "/api/v1/schemes/respite", &bureau, respite).await;
    let meals = json!({"name": "Meal subsidy", "payer": "civil_affairs", "application_kind": "meal_subsidy", "grades": {
        "3": {"copay_ratio": 0, "services": ["meals"], "per_meal_subsidy": 5, "valid_months": 12}}});
    ok(&app, "PUT", "/api/v1/schemes/meals", &bureau, meals).await;

    // Her provider applies for respite; the assessor sees the fall on the form.
    let applied =
        ok(&app, "POST", "/api/v1/applications", &provider, json!({"resident_id": rid, "kind": "respite"})).await;
    let respite_app = applied["id"].as_str().unwrap().to_owned();
    ok(
        &app,
        "POST",
        &format!("/api/v1/applications/{respite_app}/assign"),
        &bureau,
        json!({"assessor_institution_id": body_id}),
    )
    .await;
    let form = ok(&app, "GET", &format!("/api/v1/residents/{rid}/assessments/evidence"), &assessor, Value::Null).await;
    let events = form["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{form}");
    assert_eq!((events[0]["alert_id"].as_str(), events[0]["kind"].as_str()), (alert["id"].as_str(), Some("fall")));
    // The fall confirmed, and a choking her daughter reported: two care-risk
    // events in 30 days raise her from grade 2 (total 54) to 3.
    let now = Utc::now();
    let risk = json!([{"alert_id": alert["id"], "kind": "fall", "at": events[0]["at"]},
                      {"kind": "choking", "at": ts(now - Duration::days(3))}]);
    let path = format!("/api/v1/residents/{rid}/assessments");
    let body = json!({"scale": "gbt42195_2022", "items": gbt_items(), "assessed_at": ts(now), "risk_events": risk});
    let graded = ok(&app, "POST", &path, &assessor, body).await;
    assert_eq!((graded["total"].as_i64(), graded["grade"].as_i64()), (Some(54), Some(3)), "{graded}");
    assert_eq!(graded["raised_by"], json!(["risk_events"]));
    assert_eq!(graded["domains"], json!({"mental": 22, "mobility": 8, "perception_social": 8, "self_care": 16}));
    // An event the form never offered is refused.
    let forged = json!([{"alert_id": rid, "kind": "fall", "at": ts(now - Duration::days(1))}]);
    let body = json!({"scale": "gbt42195_2022", "items": gbt_items(), "assessed_at": ts(now), "risk_events": forged});
    let (status, refused) = app.call("POST", &path, Some(&assessor), Some(body)).await;
    assert_eq!(
        (status, refused["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("risk_events[0].alert_id"))
    );

    let approve = json!({"decision": "approved", "reason": "Grade 3: ten days a year"});
    ok(&app, "POST", &format!("/api/v1/applications/{respite_app}/decide"), &bureau, approve).await;
    // A second application needs no new assessment while hers is valid.
    let applied =
        ok(&app, "POST", "/api/v1/applications", &provider, json!({"resident_id": rid, "kind": "meal_subsidy"})).await;
    let meal_app = applied["id"].as_str().unwrap().to_owned();
    let approve = json!({"decision": "approved", "reason": "Grade 3: five yuan a meal"});
    let decided = ok(&app, "POST", &format!("/api/v1/applications/{meal_app}/decide"), &bureau, approve).await;
    assert_eq!(decided["status"], "approved");

    // A lunch delivered: the kitchen's 12.50 less the 5.00 subsidy.
    let kitchen = json!({"name": "Harbour Kitchen", "cutoff": "23:59", "timezone": "Asia/Shanghai",
        "prices": {"breakfast": 6, "lunch": 12.5, "dinner": 12}});
    let kitchen = ok(&app, "POST", "/api/v1/kitchens", &provider, kitchen).await["id"].as_str().unwrap().to_owned();
    let days: serde_json::Map<String, Value> =
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].iter().map(|d| ((*d).to_owned(), json!(["lunch"]))).collect();
    let plan = json!({"kitchen_id": kitchen, "delivery": "home", "funding": "subsidy", "days": days});
    ok(&app, "PUT", &format!("/api/v1/residents/{rid}/meal-plan"), &provider, plan).await;
    let today = Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let orders = app.get(&format!("/api/v1/meal-orders?resident_id={rid}&date={today}&meal=lunch"), &provider).await;
    let order = orders["orders"][0]["id"].as_str().unwrap().to_owned();
    ok(&app, "POST", &format!("/api/v1/meal-orders/{order}/delivery"), &provider, json!({"outcome": "handed_over"}))
        .await;
    let bill = app.get(&format!("/api/v1/residents/{rid}/bills?month={}", today.format("%Y-%m")), &provider).await;
    let line = &bill["lines"][0];
    assert_eq!(
        (line["kind"].as_str(), line["ref"].as_str(), line["payer"].as_str()),
        (Some("meal"), Some(order.as_str()), Some("civil_affairs"))
    );
    assert_eq!((fen(&line["amount"]), fen(&line["payer_amount"]), fen(&line["elder_amount"])), (1250, 500, 750));
    assert_eq!(bill["lines"].as_array().unwrap().len(), 1);

    // The care home has one short-stay bed for three weeks from next week.
    let first = today + Duration::days(7);
    let beds = json!({"from": first, "until": first + Duration::days(20), "beds": 1});
    ok(&app, "PUT", &format!("/api/v1/institutions/{home_id}/short-stay-beds"), &care_home, beds).await;
    let stays = format!("/api/v1/residents/{rid}/respite-stays");
    let stay = json!({"institution_id": home_id, "from": first, "until": first + Duration::days(2)});
    let booked = ok(&app, "POST", &stays, &provider, stay).await;
    assert_eq!(booked["days"], 3);
    let free =
        app.get(&format!("/api/v1/institutions/{home_id}/short-stay-beds?from={first}&until={first}"), &provider).await;
    assert_eq!((free["days"][0]["beds"].as_i64(), free["days"][0]["free"].as_i64()), (Some(1), Some(0)));
    // Her status is respite for those days: home rules pause as when away.
    let status = app.get(&format!("/api/v1/residents/{rid}/status"), &provider).await;
    let periods = status["history"].as_array().unwrap();
    assert!(periods.iter().any(|p| p["status"] == "respite" && p["until"].is_string()), "{status}");
    let (code, _) = app
        .call("PUT", &format!("/api/v1/residents/{rid}/status"), Some(&provider), Some(json!({"status": "respite"})))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "a respite stay is booked, never set by hand");
    // No bed where none is free; no more days than the year gives.
    let refusal = |body: Value| {
        let (app, stays) = (&app, &stays);
        let provider = &provider;
        async move {
            let (status, refused) = app.call("POST", stays, Some(provider), Some(body)).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
            refused["error"]["code"].as_str().unwrap().to_owned()
        }
    };
    let taken =
        json!({"institution_id": home_id, "from": first + Duration::days(2), "until": first + Duration::days(3)});
    assert_eq!(refusal(taken).await, "no_free_bed");
    let long =
        json!({"institution_id": home_id, "from": first + Duration::days(5), "until": first + Duration::days(12)});
    assert_eq!(refusal(long).await, "respite_days_exhausted");
    let list = app.get(&stays, &provider).await;
    let this_year =
        (0..3).filter(|d| list["year"].as_i64() == Some(i64::from((first + Duration::days(*d)).year()))).count();
    assert_eq!((list["days_entitled"].as_i64(), list["days_used"].as_i64()), (Some(10), Some(this_year as i64)));
}

/// The fund's insurer reviews a provider's claim in the claims page: a
/// rejection without a reason is refused, one with a reason is recorded,
/// the rest accepted at once, and the claim closed with its accepted total.
#[tokio::test]
async fn the_fund_reviews_a_claim_line_by_line_in_the_claims_page() {
    use crate::console::Browser;
    let app = TestApp::spawn().await;
    let operator = app.operator_token().await;
    ladder(&app, &operator).await;
    let (provider_id, provider) = institution(&app, &operator, "Harbour Home Care", "home_care", "330205001").await;
    let (fund_id, _) = institution(&app, &operator, "Haishu LTC Fund", "ltc_fund", "330205").await;
    user(&app, &operator, "insurer", "Insurer Xu", json!({"institution_id": fund_id})).await;
    let registration = json!({"name": "Zhou Lan", "timezone": "Asia/Shanghai",
        "id_number": id_number("33020519400101004"), "division": "330205001001001"});
    let rid = ok(&app, "POST", "/api/v1/residents", &provider, registration).await["id"].as_str().unwrap().to_owned();
    // Three baths of this month, priced as pricing prices them.
    sqlx::query(
        "insert into bill_lines (id, institution_id, resident_id, kind, ref, date, month, service, minutes, amount_fen,
                                 payer, payer_fen, elder_fen, over_quota)
         select gen_random_uuid(), $1::uuid, $2::uuid, 'visit', gen_random_uuid(), current_date - d,
                date_trunc('month', current_date - 2)::date, 'HC-BATH', 58, 7733, 'ltc_insurance', 6960, 773, false
         from generate_series(0, 2) d",
    )
    .bind(&provider_id)
    .bind(&rid)
    .execute(&app.pool)
    .await
    .unwrap();
    let month: String =
        sqlx::query_scalar("select to_char(current_date - 2, 'YYYY-MM')").fetch_one(&app.pool).await.unwrap();
    let claim = ok(&app, "POST", "/api/v1/claims", &provider, json!({"payer": "ltc_insurance", "month": month})).await;
    let claim_id = claim["id"].as_str().unwrap().to_owned();

    let browser = Browser::start().await;
    browser.goto(&app.url("/claims/")).await;
    browser.type_into("[data-testid=login-email]", "insurer.xu@money.example").await;
    browser.type_into("[data-testid=login-password]", "long enough pw").await;
    browser.click("[data-testid=login-submit]").await;
    browser.click(&format!("[data-testid=claim-row][data-claim-id='{claim_id}']")).await;
    browser
        .wait_text("[data-testid=claim-totals]", "the claim's figures", |t| t.contains("3 lines, 208.80 claimed"))
        .await;
    let first = "[data-testid=line]:nth-child(1)";
    // Rejecting without a reason is refused, and says so.
    browser.click(&format!("{first} [data-testid=reject-line]")).await;
    browser.wait_text("[data-testid=error]", "the refusal", |t| t.contains("give a reason")).await;
    browser.type_into(&format!("{first} [data-testid=reject-reason]"), "evv_unclear: no photo").await;
    browser.click(&format!("{first} [data-testid=reject-line]")).await;
    browser.wait_attribute(first, "data-status", "the line rejected", |s| s == "rejected").await;
    browser.click("[data-testid=accept-pending]").await;
    browser.wait_text("[data-testid=claim-totals]", "the rest accepted", |t| t.contains("0 pending")).await;
    browser.click("[data-testid=close-claim]").await;
    browser
        .wait_text("[data-testid=claim-totals]", "the claim closed", |t| {
            t.contains("Closed: 139.20 accepted of 208.80")
        })
        .await;
    browser.wait_visible("[data-testid=no-claims]").await;
    browser.quit().await;

    // What the page did is what the API shows the provider.
    let closed = app.get(&format!("/api/v1/claims/{claim_id}"), &provider).await;
    assert_eq!((closed["status"].as_str(), fen(&closed["total_accepted"])), (Some("closed"), 13920));
    let rejected: Vec<&Value> =
        closed["lines"].as_array().unwrap().iter().filter(|l| l["status"] == "rejected").collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["reason"], "evv_unclear: no photo");
}
