//! Care services end to end: care plans generating visits, visits checked
//! in and out at the door with their EVV record, lateness alerts from the
//! scheduler, dispatch from an alert, family requests and ratings, and the
//! month's statement per funder.
//!
//! Residents live in the fixed-offset zone where it is about noon when the
//! test runs, so visits a few hours back all fall on today's local date
//! and in this local month, whatever the time the test runs at.

use chrono::{DateTime, Datelike, Duration, SecondsFormat, Timelike, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Broker, TestApp, fresh_database, wait_for};

/// Home: a courtyard house in Ningbo.
const HOME: (f64, f64) = (29.8683, 121.5440);

fn noon_zone(now: DateTime<Utc>) -> String {
    match 12 - now.hour() as i32 {
        0 => "Etc/GMT".to_owned(),
        h if h > 0 => format!("Etc/GMT-{h}"),
        h => format!("Etc/GMT+{}", -h),
    }
}

fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(Broker::start().await, fresh_database().await, |s| s.scheduler.tick_ms = 200).await
}

/// A user of the admin's institution; answers its id and a token.
async fn user(app: &TestApp, admin: &str, role: &str, name: &str) -> (String, String) {
    let email = format!("{}@test.example", name.to_lowercase().replace(' ', "."));
    let password = "a long enough password";
    let body = app
        .post("/api/v1/users", admin, json!({"email": email, "password": password, "role": role, "name": name}))
        .await;
    let id = body["id"].as_str().expect("id").to_owned();
    if matches!(role, "caregiver" | "staff") {
        crate::support::certify(app, admin, &id).await;
    }
    (id, app.login(&email, password).await)
}

/// A resident living at [`HOME`], in the noon zone.
async fn resident(app: &TestApp, admin: &str, name: &str) -> String {
    let zone = noon_zone(Utc::now());
    let body = app
        .post("/api/v1/residents", admin, json!({"name": name, "timezone": zone, "notes": "Deaf in the left ear"}))
        .await;
    let id = body["id"].as_str().expect("id").to_owned();
    let patch = json!({"address": "12 Moon Lake Lane", "location": {"lat": HOME.0, "lon": HOME.1}});
    let (status, body) = app.call("PATCH", &format!("/api/v1/residents/{id}"), Some(admin), Some(patch)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["location"], json!({"lat": HOME.0, "lon": HOME.1}));
    id
}

async fn bathing(app: &TestApp, admin: &str) {
    let service = json!({"code": "HC-BATH", "name": "Bathing assistance", "category": "personal_care",
        "duration_minutes": 60, "unit": "hour", "unit_price": 80.0, "currency": "CNY",
        "funding": ["ltc_insurance", "subsidy", "self_pay"], "evv_required": true,
        "tasks": [{"code": "bath", "name": "Assisted shower"}, {"code": "skin", "name": "Skin check"}]});
    let (status, body) = app.call("POST", "/api/v1/services", Some(admin), Some(service)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn visit(app: &TestApp, admin: &str, resident: &str, start: DateTime<Utc>, funding: &str) -> String {
    let body =
        json!({"resident_id": resident, "service_code": "HC-BATH", "scheduled_start": ts(start), "funding": funding});
    let (status, body) = app.call("POST", "/api/v1/visits", Some(admin), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["origin"], "manual");
    body["id"].as_str().expect("id").to_owned()
}

/// A door action at `(lat, lon)`, with an offline phone's `at` if given.
fn door(lat: f64, lon: f64, at: Option<DateTime<Utc>>) -> Value {
    let mut body = json!({"location": {"lat": lat, "lon": lon, "accuracy_m": 15}, "method": "gps"});
    if let Some(at) = at {
        body["ts"] = json!(ts(at));
    }
    body
}

async fn act(app: &TestApp, token: &str, visit: &str, action: &str, body: Value) -> (StatusCode, Value) {
    app.call("POST", &format!("/api/v1/visits/{visit}/{action}"), Some(token), Some(body)).await
}

async fn ok(app: &TestApp, token: &str, visit: &str, action: &str, body: Value) -> Value {
    let (status, body) = act(app, token, visit, action, body).await;
    assert!(status.is_success(), "{action} {visit}: {status} {body}");
    body
}

fn exceptions(visit: &Value) -> Vec<&str> {
    visit["evv"]["exceptions"].as_array().expect("exceptions").iter().map(|e| e.as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_care_plan_generates_two_weeks_of_visits_in_local_time_and_keeps_them_in_step() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    bathing(&app, &admin).await;
    let rid = resident(&app, &admin, "Zhou Lan").await;
    // A visit of the plan already past stays as it is whatever the plan becomes.
    let service: uuid::Uuid =
        sqlx::query_scalar("select id from services where code = 'HC-BATH'").fetch_one(&app.pool).await.unwrap();
    sqlx::query(
        "insert into visits (id, institution_id, resident_id, service_id, funding, origin, status, scheduled_start)
         select gen_random_uuid(), institution_id, id, $2, 'ltc_insurance', 'plan', 'scheduled', now() - interval '2 days'
         from residents where id = $1::uuid",
    )
    .bind(&rid)
    .bind(service)
    .execute(&app.pool)
    .await
    .unwrap();

    let every_day = json!(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]);
    // 13:00 local is ahead (it is about noon there): today counts.
    let plan = json!({"items": [{"service_code": "HC-BATH", "funding": "ltc_insurance",
        "schedule": {"days": every_day, "start": "13:00"}, "hours_per_month": 30}]});
    let (status, body) =
        app.call("PUT", &format!("/api/v1/residents/{rid}/care-plan"), Some(&admin), Some(plan.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["visits_generated"], 14);
    assert_eq!(app.get(&format!("/api/v1/residents/{rid}/care-plan"), &admin).await["items"], plan["items"]);
    let from = urlencode(&ts(Utc::now()));
    let listed = app.get(&format!("/api/v1/visits?resident_id={rid}&status=scheduled&from={from}"), &admin).await;
    let visits = listed["visits"].as_array().unwrap();
    assert_eq!(visits.len(), 14);
    let offset = Duration::hours(12 - Utc::now().hour() as i64);
    for v in visits {
        let start: DateTime<Utc> = v["scheduled_start"].as_str().unwrap().parse().unwrap();
        assert_eq!(((start + offset).hour(), (start + offset).minute()), (13, 0), "13:00 local: {start}");
        assert_eq!(v["origin"], "plan");
        assert_eq!(v["funding"], "ltc_insurance");
    }
    // Putting the same plan again generates nothing new.
    let again = app.call("PUT", &format!("/api/v1/residents/{rid}/care-plan"), Some(&admin), Some(plan)).await.1;
    assert_eq!((again["visits_generated"].as_u64(), again["visits_cancelled"].as_u64()), (Some(0), Some(0)));

    // Tuesdays only, at 09:30: every other future visit is cancelled.
    let tuesdays = json!({"items": [{"service_code": "HC-BATH", "funding": "ltc_insurance",
        "schedule": {"days": ["tue"], "start": "09:30"}}]});
    let body = app.call("PUT", &format!("/api/v1/residents/{rid}/care-plan"), Some(&admin), Some(tuesdays)).await.1;
    assert_eq!(body["visits_cancelled"], 14);
    let today = (Utc::now() + offset).date_naive();
    let tuesdays_ahead = (0..14).filter(|d| (today + Duration::days(*d)).weekday() == chrono::Weekday::Tue).count();
    // Today's 09:30 has passed: a Tuesday today is not generated.
    let expected = tuesdays_ahead - usize::from(today.weekday() == chrono::Weekday::Tue);
    assert_eq!(body["visits_generated"], expected);
    let cancelled = app.get(&format!("/api/v1/visits?resident_id={rid}&status=cancelled"), &admin).await;
    let cancelled = cancelled["visits"].as_array().unwrap();
    assert_eq!(cancelled.len(), 14);
    assert!(cancelled.iter().all(|v| v["cancel_reason"] == "plan_changed"));
    let past = app.count("select count(*) from visits where status <> 'cancelled' and scheduled_start < now()").await;
    assert_eq!(past, 1, "the past visit is not cancelled (the scheduler may have found it missed)");

    // Moving to another timezone moves the plan's visits to 09:30 there.
    let patch = json!({"timezone": "America/New_York"});
    let (status, _) = app.call("PATCH", &format!("/api/v1/residents/{rid}"), Some(&admin), Some(patch)).await;
    assert_eq!(status, StatusCode::OK);
    let local = "to_char(v.scheduled_start at time zone r.timezone, 'Dy HH24:MI')";
    let ahead = "from visits v join residents r on r.id = v.resident_id where v.status = 'scheduled' and v.scheduled_start > now()";
    assert_eq!(app.count(&format!("select count(*) {ahead} and {local} <> 'Tue 09:30'")).await, 0);
    assert!(app.count(&format!("select count(*) {ahead} and {local} = 'Tue 09:30'")).await >= 1);

    // Bad plans name the field.
    let bad = |item: Value| json!({"items": [item]});
    for (item, field) in [
        (
            json!({"service_code": "NOPE", "funding": "subsidy", "schedule": {"days": ["mon"], "start": "09:00"}}),
            "items[0].service_code",
        ),
        (
            json!({"service_code": "HC-BATH", "funding": "subsidy", "schedule": {"days": ["mon"], "start": "9am"}}),
            "items[0].schedule.start",
        ),
        (
            json!({"service_code": "HC-BATH", "funding": "subsidy", "schedule": {"days": [], "start": "09:00"}}),
            "items[0].schedule.days",
        ),
        (
            json!({"service_code": "WELFARE-CHECK", "funding": "subsidy", "schedule": {"days": ["mon"], "start": "09:00"}}),
            "items[0].funding",
        ),
    ] {
        let (status, body) =
            app.call("PUT", &format!("/api/v1/residents/{rid}/care-plan"), Some(&admin), Some(bad(item))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["field"], field);
    }
    let (status, _) = app
        .call(
            "PUT",
            &format!("/api/v1/residents/{rid}/care-plan"),
            Some(&admin),
            Some(bad(json!({"service_code": "HC-BATH",
            "funding": "subsidy", "schedule": {"days": ["someday"], "start": "09:00"}}))),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn every_institution_has_a_welfare_check_and_its_own_catalogue() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let operator = app.operator_token().await;
    let codes = |body: Value| -> Vec<String> {
        body["services"].as_array().unwrap().iter().map(|s| s["code"].as_str().unwrap().to_owned()).collect()
    };
    let services = app.get("/api/v1/services", &admin).await;
    assert_eq!(codes(services.clone()), ["WELFARE-CHECK"]);
    assert_eq!(services["services"][0]["category"], "welfare_check");
    assert_eq!(services["services"][0]["duration_minutes"], 30);
    bathing(&app, &admin).await;
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/services",
            Some(&admin),
            Some(json!({"code": "HC-BATH", "name": "Again", "category": "domestic",
            "duration_minutes": 30, "unit": "visit", "unit_price": 10, "funding": ["self_pay"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    for (body, field) in [
        (
            json!({"code": "X", "name": "X", "category": "gardening", "duration_minutes": 30, "unit": "visit", "unit_price": 1, "funding": ["self_pay"]}),
            "category",
        ),
        (
            json!({"code": "X", "name": "X", "category": "domestic", "duration_minutes": 0, "unit": "visit", "unit_price": 1, "funding": ["self_pay"]}),
            "duration_minutes",
        ),
        (
            json!({"code": "X", "name": "X", "category": "domestic", "duration_minutes": 30, "unit": "visit", "unit_price": -1, "funding": ["self_pay"]}),
            "unit_price",
        ),
        (
            json!({"code": "X", "name": "X", "category": "domestic", "duration_minutes": 30, "unit": "visit", "unit_price": 1, "funding": []}),
            "funding",
        ),
    ] {
        let (status, resp) = app.call("POST", "/api/v1/services", Some(&admin), Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{resp}");
        assert_eq!(resp["error"]["field"], field);
    }
    // A new institution starts with its own welfare check, and sees nothing of this one's catalogue.
    let other = app
        .post(
            "/api/v1/institutions",
            &operator,
            json!({"name": "Riverside", "kind": "home_care", "timezone": "Asia/Shanghai"}),
        )
        .await;
    let other = other["id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/institutions/{other}/users"),
        &operator,
        json!({"email": "river@test.example", "password": "long enough pw", "role": "admin", "name": "River"}),
    )
    .await;
    let river = app.login("river@test.example", "long enough pw").await;
    assert_eq!(codes(app.get("/api/v1/services", &river).await), ["WELFARE-CHECK"]);
}

/// The scenario: a plan's visits, one on time at the door, one late
/// (alert, cleared at check-in), one far from home, one amended, and the
/// month's statement listing exactly the verified ones.
#[tokio::test]
async fn visits_at_the_door_are_verified_and_the_month_s_statement_counts_exactly_the_verified_ones() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    bathing(&app, &admin).await;
    let (carer_id, carer) = user(&app, &admin, "caregiver", "Li Wei").await;
    let rid = resident(&app, &admin, "Wang Fang").await;
    let plan = json!({"items": [{"service_code": "HC-BATH", "funding": "ltc_insurance",
        "schedule": {"days": ["tue", "fri"], "start": "23:00"}, "hours_per_month": 8}]});
    app.call("PUT", &format!("/api/v1/residents/{rid}/care-plan"), Some(&admin), Some(plan)).await;
    let now = Utc::now();
    let near = (HOME.0 + 0.0002, HOME.1);

    // On time at the door, recorded by a phone that was offline.
    let s1 = now - Duration::hours(4);
    let on_time = visit(&app, &admin, &rid, s1, "ltc_insurance").await;
    ok(&app, &admin, &on_time, "assign", json!({"caregiver_id": carer_id})).await;
    let checked = ok(&app, &carer, &on_time, "check-in", door(near.0, near.1, Some(s1 + Duration::minutes(5)))).await;
    assert_eq!(checked["status"], "checked_in");
    let distance = checked["evv"]["check_in"]["distance_m"].as_f64().unwrap();
    assert!((20.0..25.0).contains(&distance), "{distance}");
    let mut out = door(near.0, near.1, Some(s1 + Duration::minutes(63)));
    out["tasks"] = json!([{"code": "bath", "done": true}, {"code": "skin", "done": true, "note": "dry heels"}]);
    out["note"] = json!("in good spirits");
    let done = ok(&app, &carer, &on_time, "check-out", out).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["evv"]["minutes"], 58);
    assert_eq!(exceptions(&done), ["offline_entry"]);
    assert_eq!(done["evv"]["verified"], false);
    let resolved =
        ok(&app, &admin, &on_time, "exceptions/offline_entry/resolve", json!({"reason": "no signal in the stairwell"}))
            .await;
    assert_eq!(resolved["evv"]["verified"], true);
    assert_eq!(resolved["evv"]["resolved"][0]["code"], "offline_entry");

    // Late: nobody checked in 15 minutes after the start. The scheduler says so.
    let late = visit(&app, &admin, &rid, now - Duration::minutes(20), "ltc_insurance").await;
    ok(&app, &admin, &late, "assign", json!({"caregiver_id": carer_id})).await;
    let alert = wait_for("the visit_late alert", || async {
        let body = app.get(&format!("/api/v1/alerts?resident_id={rid}&kind=visit_late"), &admin).await;
        body["alerts"].as_array()?.iter().find(|a| a["details"]["visit_id"] == late.as_str()).cloned()
    })
    .await;
    assert_eq!(alert["severity"], "medium");
    assert_eq!(alert["status"], "open");
    let checked = ok(&app, &carer, &late, "check-in", door(near.0, near.1, None)).await;
    assert_eq!(exceptions(&checked), ["late_start"]);
    let cleared = app.get(&format!("/api/v1/alerts/{}", alert["id"].as_str().unwrap()), &admin).await;
    assert_eq!((cleared["status"].as_str(), cleared["resolution"].as_str()), (Some("resolved"), Some("auto_cleared")));
    let done = ok(&app, &carer, &late, "check-out", door(near.0, near.1, None)).await;
    assert_eq!(exceptions(&done), ["late_start", "short_visit"]);
    assert_eq!(
        app.count(&format!(
            "select count(*) from alerts where kind = 'visit_late' and details->>'visit_id' = '{late}'"
        ))
        .await,
        1,
        "one alert per visit"
    );

    // Far from home: checked in a kilometre away.
    let s3 = now - Duration::hours(3);
    let far = visit(&app, &admin, &rid, s3, "ltc_insurance").await;
    ok(&app, &admin, &far, "assign", json!({"caregiver_id": carer_id})).await;
    let checked = ok(&app, &carer, &far, "check-in", door(HOME.0 + 0.01, HOME.1, Some(s3))).await;
    assert!(checked["evv"]["check_in"]["distance_m"].as_f64().unwrap() > 1000.0);
    let done = ok(&app, &carer, &far, "check-out", door(near.0, near.1, Some(s3 + Duration::minutes(60)))).await;
    assert_eq!(exceptions(&done), ["far_from_home", "offline_entry"]);

    // Amended: the carer forgot to check out; the coordinator corrects the end.
    let s4 = now - Duration::hours(2);
    let amended = visit(&app, &admin, &rid, s4, "ltc_insurance").await;
    ok(&app, &admin, &amended, "assign", json!({"caregiver_id": carer_id})).await;
    ok(&app, &carer, &amended, "check-in", door(near.0, near.1, Some(s4 + Duration::minutes(2)))).await;
    let (status, _) =
        act(&app, &carer, &amended, "amend", json!({"field": "end", "value": ts(s4), "reason": "x"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only care staff amend");
    let fixed = ok(
        &app,
        &admin,
        &amended,
        "amend",
        json!({"field": "end", "value": ts(s4 + Duration::minutes(62)), "reason": "forgot to check out; confirmed by phone"}),
    )
    .await;
    assert_eq!(fixed["status"], "completed");
    assert_eq!(fixed["evv"]["end"], Value::Null, "the EVV times stay as recorded");
    assert_eq!(fixed["amendments"][0]["field"], "end");
    assert_eq!(fixed["amendments"][0]["original"], Value::Null);
    assert_eq!(fixed["amendments"][0]["reason"], "forgot to check out; confirmed by phone");
    assert_eq!(exceptions(&fixed), ["manual_entry", "offline_entry"]);
    for code in ["manual_entry", "offline_entry"] {
        ok(&app, &admin, &amended, &format!("exceptions/{code}/resolve"), json!({"reason": "confirmed"})).await;
    }
    let (status, _) = act(&app, &admin, &amended, "exceptions/manual_entry/resolve", json!({"reason": "twice"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = act(&app, &admin, &amended, "exceptions/short_visit/resolve", json!({"reason": "none"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "the visit has no such exception");
    let (status, _) = act(&app, &admin, &amended, "exceptions/too_nice/resolve", json!({"reason": "none"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let audit = app.get(&format!("/api/v1/audit?entity=visit&entity_id={amended}&action=visit.amended"), &admin).await;
    assert_eq!(audit["entries"][0]["details"]["reason"], "forgot to check out; confirmed by phone");

    // The month's statement: the on-time (58 min) and amended (60 min) visits.
    let month = format!("{}", (now + Duration::hours(12 - now.hour() as i64)).format("%Y-%m"));
    let statement = app.get(&format!("/api/v1/statements?month={month}&funding=ltc_insurance"), &admin).await;
    assert_eq!(statement["month"], month);
    let line = &statement["residents"][0];
    assert_eq!(statement["residents"].as_array().unwrap().len(), 1);
    assert_eq!(line["resident_id"], rid.as_str());
    assert_eq!(line["name"], "Wang Fang");
    assert_eq!((line["visits"].as_i64(), line["minutes"].as_i64()), (Some(2), Some(118)));
    assert_eq!(line["hours_authorised"], 8.0);
    assert_eq!(line["amount"], 157.33, "118 minutes at 80 an hour");
    let mut excluded: Vec<(String, String)> = line["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["visit_id"].as_str().unwrap().to_owned(), e["reason"].as_str().unwrap().to_owned()))
        .collect();
    excluded.sort();
    let mut expected = vec![(late.clone(), "unverified".to_owned()), (far.clone(), "unverified".to_owned())];
    expected.sort();
    assert_eq!(excluded, expected);
    assert_eq!(statement["total"], json!({"visits": 2, "minutes": 118, "amount": 157.33}));

    // An hour and a half authorised: the later verified visit is over it.
    let plan = json!({"items": [{"service_code": "HC-BATH", "funding": "ltc_insurance",
        "schedule": {"days": ["tue", "fri"], "start": "23:00"}, "hours_per_month": 1.5}]});
    app.call("PUT", &format!("/api/v1/residents/{rid}/care-plan"), Some(&admin), Some(plan)).await;
    let statement = app.get(&format!("/api/v1/statements?month={month}&funding=ltc_insurance"), &admin).await;
    let line = &statement["residents"][0];
    assert_eq!(
        (line["visits"].as_i64(), line["minutes"].as_i64(), line["amount"].as_f64()),
        (Some(1), Some(58), Some(77.33))
    );
    assert!(line["excluded"].as_array().unwrap().contains(&json!({"visit_id": amended, "reason": "over_authorised"})));

    let csv = app
        .http
        .get(app.url(&format!("/api/v1/statements?month={month}&funding=ltc_insurance&format=csv")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert_eq!(
        csv.text().await.unwrap(),
        format!("resident_id,name,visits,minutes,hours_authorised,amount\n{rid},Wang Fang,1,58,1.5,77.33\n")
    );
    // Nothing for another funder; bad months refused.
    let subsidy = app.get(&format!("/api/v1/statements?month={month}&funding=subsidy"), &admin).await;
    assert_eq!(subsidy["residents"], json!([]));
    for query in ["month=2026-13&funding=subsidy", "month=2026-11&funding=gold", "funding=subsidy"] {
        let (status, _) = app.call("GET", &format!("/api/v1/statements?{query}"), Some(&admin), None).await;
        assert!(status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST, "{query}: {status}");
    }
}

#[tokio::test]
async fn the_door_refuses_what_cannot_be_and_a_carer_reaches_only_their_own_visits() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    bathing(&app, &admin).await;
    let (carer_id, carer) = user(&app, &admin, "caregiver", "Li Wei").await;
    let (_, stranger) = user(&app, &admin, "caregiver", "Chen Jie").await;
    let rid = resident(&app, &admin, "Wang Fang").await;
    let other = resident(&app, &admin, "Sun Mei").await;
    let soon = Utc::now() + Duration::minutes(5);
    let v = visit(&app, &admin, &rid, soon, "self_pay").await;

    // Bad input.
    let (status, body) = app
        .call(
            "PATCH",
            &format!("/api/v1/residents/{rid}"),
            Some(&admin),
            Some(json!({"location": {"lat": 91, "lon": 0}})),
        )
        .await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("location.lat")));
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/visits",
            Some(&admin),
            Some(json!({"resident_id": rid, "service_code": "NOPE",
            "scheduled_start": ts(soon), "funding": "self_pay"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "unknown service");
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/visits",
            Some(&admin),
            Some(json!({"resident_id": rid, "service_code": "WELFARE-CHECK",
            "scheduled_start": ts(soon), "funding": "ltc_insurance"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a funder the service does not take");

    // Check-out before check-in, assignment to a family member.
    ok(&app, &admin, &v, "assign", json!({"caregiver_id": carer_id})).await;
    let (status, body) = act(&app, &carer, &v, "check-out", door(HOME.0, HOME.1, None)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (family_id, _) = user(&app, &admin, "family", "Wang Jun").await;
    let (status, _) = act(&app, &admin, &v, "assign", json!({"caregiver_id": family_id})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Someone else's visit does not exist for a carer, nor its resident.
    let (status, _) = act(&app, &stranger, &v, "check-in", door(HOME.0, HOME.1, None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.call("GET", &format!("/api/v1/visits/{v}"), Some(&stranger), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.call("GET", &format!("/api/v1/residents/{rid}"), Some(&stranger), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/visits", &stranger).await["visits"], json!([]));

    // The assigned carer reads only what the visit needs of the resident.
    let seen = app.get(&format!("/api/v1/residents/{rid}"), &carer).await;
    let mut keys: Vec<&str> = seen.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["address", "id", "location", "name", "notes"]);
    assert_eq!(seen["notes"], "Deaf in the left ear");
    let (status, _) = app.call("GET", &format!("/api/v1/residents/{other}"), Some(&carer), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a resident with no visit of theirs");
    for path in [format!("/api/v1/residents/{rid}/events"), format!("/api/v1/residents/{rid}/summary")] {
        let (status, _) = app.call("GET", &path, Some(&carer), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let date = (Utc::now() + Duration::hours(12 - Utc::now().hour() as i64)).format("%Y-%m-%d").to_string();
    let day = app.get(&format!("/api/v1/me/visits?date={date}"), &carer).await;
    assert_eq!(day["visits"].as_array().unwrap().len(), 1);
    let mine = &day["visits"][0];
    assert_eq!(mine["id"], v.as_str());
    assert_eq!(
        mine["resident"],
        json!({"id": rid, "name": "Wang Fang", "address": "12 Moon Lake Lane",
        "location": {"lat": HOME.0, "lon": HOME.1}, "notes": "Deaf in the left ear"})
    );
    assert_eq!(mine["service"]["tasks"][0]["code"], "bath");
    assert_eq!(app.get("/api/v1/me/visits?date=2020-01-01", &carer).await["visits"], json!([]));

    // Tags: a QR check-in needs one registered for the home.
    let qr =
        |tag: &str| json!({"location": {"lat": HOME.0, "lon": HOME.1, "accuracy_m": 5}, "method": "qr", "tag": tag});
    let (status, body) = act(&app, &carer, &v, "check-in", qr("door-17")).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("tag")));
    let tag = json!({"tag": "door-17", "kind": "qr"});
    let (status, _) = app.call("POST", &format!("/api/v1/residents/{rid}/tags"), Some(&admin), Some(tag.clone())).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app.call("POST", &format!("/api/v1/residents/{rid}/tags"), Some(&admin), Some(tag)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = act(&app, &carer, &v, "check-in", door(HOME.0, 181.0, None)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "lon out of range");
    let (status, body) =
        act(&app, &carer, &v, "check-in", door(HOME.0, HOME.1, Some(Utc::now() + Duration::minutes(5)))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("ts")));
    let (status, _) =
        act(&app, &carer, &v, "check-in", door(HOME.0, HOME.1, Some(Utc::now() - Duration::hours(25)))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "more than 24 h old");
    let first = ok(&app, &carer, &v, "check-in", qr("door-17")).await;
    assert_eq!(first["evv"]["check_in"]["method"], "qr");
    assert_eq!(first["evv"]["check_in"]["distance_m"], 0.0);
    let again = ok(&app, &carer, &v, "check-in", door(HOME.0 + 0.1, HOME.1, None)).await;
    assert_eq!(again["evv"]["check_in"], first["evv"]["check_in"], "a second check-in is the first one");
    let mut wild = door(HOME.0, HOME.1, None);
    wild["location"]["accuracy_m"] = json!(100_001);
    let (status, _) = act(&app, &carer, &v, "check-in", wild).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a repeat out of bounds is refused, not answered");
    let (status, _) = act(&app, &admin, &v, "cancel", json!({"reason": "client_refused"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "a visit under way is not cancelled");

    // A cancelled visit cannot be checked in; reasons are the contract's.
    let w = visit(&app, &admin, &rid, soon, "self_pay").await;
    let (status, _) = act(&app, &admin, &w, "cancel", json!({"reason": "bored"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let cancelled = ok(&app, &admin, &w, "cancel", json!({"reason": "client_hospitalised"})).await;
    assert_eq!(
        (cancelled["status"].as_str(), cancelled["cancel_reason"].as_str()),
        (Some("cancelled"), Some("client_hospitalised"))
    );
    let (status, _) = act(&app, &admin, &w, "check-in", door(HOME.0, HOME.1, None)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = act(&app, &admin, &w, "assign", json!({"caregiver_id": carer_id})).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn an_alert_dispatches_a_welfare_check_whose_door_shows_on_the_alert_s_timeline() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let (carer_id, carer) = user(&app, &admin, "caregiver", "Li Wei").await;
    let rid = resident(&app, &admin, "Wang Fang").await;
    app.device(&admin, json!({"device_id": "sos-care-1", "resident_id": rid, "kind": "sos_button"})).await;
    app.broker.publish("eldercare/v1/sos-care-1/event", json!({"event": "sos_pressed"}).to_string()).await;
    let alert = wait_for("the SOS", || async {
        app.get(&format!("/api/v1/alerts?resident_id={rid}&kind=sos"), &admin).await["alerts"]
            .as_array()?
            .first()
            .cloned()
    })
    .await;
    let alert_id = alert["id"].as_str().unwrap();

    let (status, body) = app
        .call(
            "POST",
            &format!("/api/v1/alerts/{alert_id}/dispatch"),
            Some(&admin),
            Some(json!({"service_code": "NOPE"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, sent) = app
        .call(
            "POST",
            &format!("/api/v1/alerts/{alert_id}/dispatch"),
            Some(&admin),
            Some(json!({"caregiver_id": carer_id})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["service_code"], "WELFARE-CHECK");
    assert_eq!(sent["origin"], "alert");
    assert_eq!(sent["funding"], "institution");
    assert_eq!(sent["status"], "assigned");
    assert_eq!(sent["alert_id"], alert_id);
    let vid = sent["id"].as_str().unwrap();
    ok(&app, &carer, vid, "check-in", door(HOME.0, HOME.1, None)).await;
    ok(&app, &carer, vid, "check-out", door(HOME.0, HOME.1, None)).await;
    let timeline = app.get(&format!("/api/v1/alerts/{alert_id}/timeline"), &admin).await;
    let actions: Vec<&str> =
        timeline["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["opened", "visit.dispatched", "visit.checked_in", "visit.checked_out"]);
    assert_eq!(timeline["entries"][1]["details"]["visit_id"], vid);
    assert_eq!(timeline["entries"][2]["actor_id"], carer_id.as_str());
    // The provider's own cost is in no payer's statement.
    let month = Utc::now().format("%Y-%m");
    for funding in ["ltc_insurance", "subsidy", "self_pay"] {
        let statement = app.get(&format!("/api/v1/statements?month={month}&funding={funding}"), &admin).await;
        assert_eq!(statement["total"]["visits"], 0);
    }
}

#[tokio::test]
async fn late_visits_are_missed_after_the_grace_and_clear_when_someone_checks_in() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    bathing(&app, &admin).await;
    let (carer_id, carer) = user(&app, &admin, "caregiver", "Li Wei").await;
    let rid = resident(&app, &admin, "Wang Fang").await;
    let (status, _) =
        app.call("PATCH", "/api/v1/rule-settings", Some(&admin), Some(json!({"visits": {"grace_minutes": 20}}))).await;
    assert_eq!(status, StatusCode::OK);
    let v = visit(&app, &admin, &rid, Utc::now() - Duration::minutes(25), "self_pay").await;
    ok(&app, &admin, &v, "assign", json!({"caregiver_id": carer_id})).await;
    let alerts_of = |kind: &'static str| {
        let (app, admin, rid) = (&app, &admin, &rid);
        async move {
            let body = app.get(&format!("/api/v1/alerts?resident_id={rid}&kind={kind}"), admin).await;
            body["alerts"].as_array().cloned().unwrap_or_default()
        }
    };
    let missed = wait_for("visit_missed", || async { alerts_of("visit_missed").await.first().cloned() }).await;
    assert_eq!(missed["details"]["visit_id"], v.as_str());
    assert_eq!(missed["severity"], "medium");
    assert_eq!(alerts_of("visit_late").await.len(), 1);
    assert_eq!(app.get(&format!("/api/v1/visits/{v}"), &admin).await["status"], "missed");
    // Still checked in late, and carries on.
    let checked = ok(&app, &carer, &v, "check-in", door(HOME.0, HOME.1, None)).await;
    assert_eq!(checked["status"], "checked_in");
    for kind in ["visit_late", "visit_missed"] {
        let alerts = alerts_of(kind).await;
        assert_eq!(alerts.len(), 1, "{kind}: one alert per visit");
        assert_eq!(alerts[0]["resolution"], "auto_cleared", "{kind}");
    }

    // A dispatched visit nobody reaches is high.
    let dispatched = visit(&app, &admin, &rid, Utc::now() + Duration::hours(1), "self_pay").await;
    sqlx::query(
        "update visits set origin = 'alert', scheduled_start = now() - interval '16 minutes' where id = $1::uuid",
    )
    .bind(&dispatched)
    .execute(&app.pool)
    .await
    .unwrap();
    let late = wait_for("visit_late of the dispatched visit", || async {
        alerts_of("visit_late").await.into_iter().find(|a| a["details"]["visit_id"] == dispatched.as_str())
    })
    .await;
    assert_eq!(late["severity"], "high");
}

#[tokio::test]
async fn a_family_asks_for_a_service_follows_it_and_rates_it_once() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    bathing(&app, &admin).await;
    let (carer_id, carer) = user(&app, &admin, "caregiver", "Li Wei").await;
    let (son_id, son) = user(&app, &admin, "family", "Wang Jun").await;
    let (stranger_id, stranger) = user(&app, &admin, "family", "Zhao Min").await;
    let rid = resident(&app, &admin, "Wang Fang").await;
    let elsewhere = resident(&app, &admin, "Sun Mei").await;
    for (user, resident) in [(&son_id, &rid), (&stranger_id, &elsewhere)] {
        app.post(
            &format!("/api/v1/residents/{resident}/family"),
            &admin,
            json!({"user_id": user, "relationship": "son"}),
        )
        .await;
    }
    let (status, asked) = app
        .call(
            "POST",
            &format!("/api/v1/residents/{rid}/service-requests"),
            Some(&son),
            Some(json!({"service_code": "HC-BATH",
            "preferred_start": ts(Utc::now() + Duration::hours(3)), "note": "she prefers mornings"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{asked}");
    assert_eq!((asked["origin"].as_str(), asked["status"].as_str()), (Some("request"), Some("requested")));
    let vid = asked["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .call(
            "POST",
            &format!("/api/v1/residents/{rid}/service-requests"),
            Some(&stranger),
            Some(json!({"service_code": "HC-BATH"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not their resident");
    let (status, _) = act(&app, &admin, &vid, "assign", json!({"caregiver_id": carer_id})).await;
    assert_eq!(status, StatusCode::CONFLICT, "a request is scheduled first");
    let start = Utc::now() - Duration::hours(2);
    let scheduled = ok(&app, &admin, &vid, "schedule", json!({"scheduled_start": ts(start)})).await;
    assert_eq!(scheduled["status"], "scheduled");
    assert_eq!(scheduled["funding"], "self_pay");
    let list = app.get(&format!("/api/v1/residents/{rid}/visits"), &son).await;
    assert_eq!(list["visits"][0]["status"], "scheduled", "the family sees it move");
    ok(&app, &admin, &vid, "assign", json!({"caregiver_id": carer_id})).await;
    let (status, _) = act(&app, &son, &vid, "rating", json!({"stars": 5})).await;
    assert_eq!(status, StatusCode::CONFLICT, "not completed yet");
    ok(&app, &carer, &vid, "check-in", door(HOME.0, HOME.1, Some(start + Duration::minutes(3)))).await;
    let mut out = door(HOME.0, HOME.1, Some(start + Duration::minutes(61)));
    out["tasks"] = json!([{"code": "bath", "done": true}]);
    ok(&app, &carer, &vid, "check-out", out).await;

    let seen = app.get(&format!("/api/v1/residents/{rid}/visits?from=2020-01-01"), &son).await;
    let v = &seen["visits"][0];
    assert_eq!(v["caregiver"], "Li", "first name only");
    assert!(!seen.to_string().contains("Wei"), "{seen}");
    assert!(!seen.to_string().contains(&carer_id), "{seen}");
    assert_eq!(v["minutes"], 58);
    assert_eq!(v["tasks"], json!([{"code": "bath", "done": true}]));
    let own = app.get(&format!("/api/v1/visits/{vid}"), &son).await;
    assert_eq!(own["caregiver"], "Li");
    assert!(own.get("evv").is_none());
    for path in [format!("/api/v1/residents/{rid}/visits"), format!("/api/v1/visits/{vid}")] {
        let (status, _) = app.call("GET", &path, Some(&stranger), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }

    for stars in [0, 6] {
        let (status, body) = act(&app, &son, &vid, "rating", json!({"stars": stars})).await;
        assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("stars")));
    }
    let (status, _) = act(&app, &admin, &vid, "rating", json!({"stars": 5})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the family rates");
    let (status, _) = act(&app, &stranger, &vid, "rating", json!({"stars": 1})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, rated) = act(&app, &son, &vid, "rating", json!({"stars": 4, "comment": "kind and quick"})).await;
    assert_eq!(status, StatusCode::CREATED, "{rated}");
    assert_eq!(rated["rating"]["stars"], 4);
    let (status, _) = act(&app, &son, &vid, "rating", json!({"stars": 5})).await;
    assert_eq!(status, StatusCode::CONFLICT, "once per visit");
    let staff_view = app.get(&format!("/api/v1/visits/{vid}"), &admin).await;
    assert_eq!(staff_view["rating"]["comment"], "kind and quick");
    assert_eq!(staff_view["caregiver_name"], "Li Wei");
}

#[tokio::test]
async fn visit_lists_page_with_a_cursor() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let rid = resident(&app, &admin, "Wang Fang").await;
    let start = Utc::now() + Duration::days(1);
    for i in 0..5 {
        let body = json!({"resident_id": rid, "service_code": "WELFARE-CHECK",
            "scheduled_start": ts(start + Duration::hours(i)), "funding": "institution"});
        app.post("/api/v1/visits", &admin, body).await;
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/visits?limit=2".to_owned();
    loop {
        let page = app.get(&path, &admin).await;
        seen.extend(
            page["visits"].as_array().unwrap().iter().map(|v| v["scheduled_start"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/visits?limit=2&cursor={}", urlencode(cursor)),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);
    let (status, _) = app.call("GET", "/api/v1/visits?limit=0", Some(&admin), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.call("GET", "/api/v1/visits?cursor=nonsense", Some(&admin), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.call("GET", "/api/v1/visits?status=lost", Some(&admin), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn the_board_puts_requests_and_late_visits_first_and_dispatches_from_an_alert_in_one_action() {
    use crate::console::Browser;
    use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD};

    let app = spawn().await;
    let admin = app.admin_token().await;
    bathing(&app, &admin).await;
    let (carer_id, _) = user(&app, &admin, "caregiver", "Li Wei").await;
    let rid = resident(&app, &admin, "Wang Fang").await;
    let asked = app
        .post(
            &format!("/api/v1/residents/{rid}/service-requests"),
            &admin,
            json!({"service_code": "HC-BATH", "note": "by phone"}),
        )
        .await;
    let request = asked["id"].as_str().unwrap().to_owned();
    let soon = visit(&app, &admin, &rid, Utc::now() + Duration::minutes(30), "self_pay").await;
    let late = visit(&app, &admin, &rid, Utc::now() - Duration::minutes(20), "self_pay").await;
    ok(&app, &admin, &late, "assign", json!({"caregiver_id": carer_id})).await;
    app.device(&admin, json!({"device_id": "sos-board-1", "resident_id": rid, "kind": "sos_button"})).await;
    app.broker.publish("eldercare/v1/sos-board-1/event", json!({"event": "sos_pressed"}).to_string()).await;
    let sos = wait_for("the SOS", || async {
        app.get(&format!("/api/v1/alerts?resident_id={rid}&kind=sos"), &admin).await["alerts"]
            .as_array()?
            .first()
            .cloned()
    })
    .await;
    let sos = sos["id"].as_str().unwrap().to_owned();

    let browser = Browser::start().await;
    browser.goto(&app.url("/console/board")).await;
    browser.wait_visible("[data-testid=login-needed]").await;
    browser.goto(&app.url("/console/")).await;
    browser.type_into("[data-testid=login-email]", ADMIN_EMAIL).await;
    browser.type_into("[data-testid=login-password]", ADMIN_PASSWORD).await;
    browser.click("[data-testid=login-submit]").await;
    browser.wait_attribute("[data-testid=connection]", "data-state", "connected", |s| s == "connected").await;
    browser.click("[data-testid=board-link]").await;

    let request_row = format!("[data-testid=request][data-visit-id='{request}']");
    browser.wait_text(&request_row, "the request", |t| t.contains("Wang Fang") && t.contains("by phone")).await;
    let late_row = format!("[data-testid=visit][data-visit-id='{late}']");
    browser
        .wait_text(&format!("{late_row} [data-testid=visit-state]"), "late", |t| t.eq_ignore_ascii_case("late"))
        .await;
    browser.wait_visible(&format!("[data-testid=visit][data-visit-id='{soon}']")).await;
    let rows = browser.find_all("[data-testid=visit]").await;
    assert_eq!(browser.attribute(&rows[0], "data-visit-id").await.as_deref(), Some(late.as_str()), "late first");
    browser.screenshot(&std::env::temp_dir().join("care-board.png")).await;

    browser.click(&format!("[data-testid=board-alert][data-alert-id='{sos}'] [data-testid=dispatch]")).await;
    let dispatched = wait_for("the dispatched visit", || async {
        let visits = app.get(&format!("/api/v1/visits?resident_id={rid}"), &admin).await;
        visits["visits"].as_array()?.iter().find(|v| v["alert_id"] == sos.as_str()).cloned()
    })
    .await;
    assert_eq!(
        (dispatched["origin"].as_str(), dispatched["service_code"].as_str()),
        (Some("alert"), Some("WELFARE-CHECK"))
    );
    browser.wait_visible(&format!("[data-testid=visit][data-visit-id='{}']", dispatched["id"].as_str().unwrap())).await;
    browser.wait_gone(&format!("[data-testid=board-alert][data-alert-id='{sos}']")).await;

    browser.click(&format!("{request_row} [data-testid=schedule]")).await;
    wait_for("the request scheduled", || async {
        (app.get(&format!("/api/v1/visits/{request}"), &admin).await["status"] == "scheduled").then_some(())
    })
    .await;
    browser.wait_gone(&request_row).await;
    browser.quit().await;
}

#[tokio::test]
async fn the_simulator_s_carer_does_the_rounds_through_the_api() {
    use eldercare_sim::provision::Api;
    use eldercare_sim::rounds::{self, Pass, RoundsOptions};

    use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD};

    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    bathing(&app, &token).await;
    let rid = resident(&app, &token, "Wang Fang").await;
    let now = Utc::now();
    let first = visit(&app, &token, &rid, now - Duration::minutes(5), "self_pay").await;
    let second = visit(&app, &token, &rid, now - Duration::minutes(10), "self_pay").await;
    let later = visit(&app, &token, &rid, now + Duration::hours(2), "self_pay").await;

    let admin = Api::login(&app.base, ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap();
    let password = "simulated carer password";
    let carer_id = rounds::ensure_carer(&admin, "carer@sim.test", password).await.unwrap();
    assert_eq!(rounds::ensure_carer(&admin, "carer@sim.test", password).await.unwrap(), carer_id, "kept");
    let carer = Api::login(&app.base, "carer@sim.test", password).await.unwrap();
    let options = RoundsOptions { late_share: 0.0, far_share: 0.0, seed: 1 };

    let done = rounds::pass(&admin, &carer, &carer_id, now, &options).await.unwrap();
    assert_eq!(done, Pass { assigned: 2, checked_in: 2, checked_out: 0, waiting: 0 });
    for id in [&first, &second] {
        let v = app.get(&format!("/api/v1/visits/{id}"), &token).await;
        assert_eq!(v["status"], "checked_in");
        assert_eq!(v["caregiver_id"], carer_id.as_str());
        assert!(v["evv"]["check_in"]["distance_m"].as_f64().unwrap() < 26.0, "{v}");
    }
    // Two hours on: both are done, and the later one is due.
    let done = rounds::pass(&admin, &carer, &carer_id, now + Duration::hours(2), &options).await.unwrap();
    assert_eq!(done, Pass { assigned: 1, checked_in: 1, checked_out: 2, waiting: 0 });
    let finished = app.get(&format!("/api/v1/visits/{first}"), &token).await;
    assert_eq!(finished["status"], "completed");
    assert_eq!(finished["tasks"], json!([{"code": "bath", "done": true}, {"code": "skin", "done": true}]));
    assert_eq!(app.get(&format!("/api/v1/visits/{later}"), &token).await["status"], "checked_in");
}

#[tokio::test]
async fn a_new_leader_generates_what_the_plans_ask_for() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    bathing(&app, &admin).await;
    let rid = resident(&app, &admin, "Zhou Lan").await;
    let plan = json!({"items": [{"service_code": "HC-BATH", "funding": "self_pay",
        "schedule": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "13:00"}}]});
    app.call("PUT", &format!("/api/v1/residents/{rid}/care-plan"), Some(&admin), Some(plan)).await;
    // As if the days had passed with no visit generated: the scheduler's
    // leader, at its first tick, generates the plan's 14 days again.
    let (broker, database_url) = app.stop().await;
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&database_url).await.unwrap();
    sqlx::query("delete from visits").execute(&mut db).await.unwrap();
    let app = TestApp::spawn_with(broker, database_url, |s| s.scheduler.tick_ms = 200).await;
    app.wait_count("select count(*) from visits where origin = 'plan' and status = 'scheduled'", 14).await;
}
