//! The caregiver's phone page in a real headless Chromium emulating a phone
//! (375×667) and its position (Chrome DevTools' geolocation override): the
//! carer logs in, sees the day's visits, is told what to do when the page
//! may not read the position, checks in at the door and out with the tasks
//! ticked, and the API shows the EVV record the page made.

use chrono::{DateTime, Duration, SecondsFormat, Timelike, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::console::{Browser, PHONE_WIDTH};
use crate::support::{TestApp, wait_for};

/// Home: a courtyard house in Ningbo.
const HOME: (f64, f64) = (29.8683, 121.5440);
const CARER_EMAIL: &str = "li.wei@test.example";
const CARER_PASSWORD: &str = "a long enough password";

/// The fixed-offset zone where it is about noon now, so visits a little
/// before and after now are all on today's local date.
fn noon_zone(now: DateTime<Utc>) -> String {
    match 12 - now.hour() as i32 {
        0 => "Etc/GMT".to_owned(),
        h if h > 0 => format!("Etc/GMT-{h}"),
        h => format!("Etc/GMT+{}", -h),
    }
}

/// A point `north` and `east` metres from home.
fn near_home(north: f64, east: f64) -> (f64, f64) {
    let per_degree = 111_320.0;
    (HOME.0 + north / per_degree, HOME.1 + east / (per_degree * HOME.0.to_radians().cos()))
}

async fn created(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let (status, body) = app.call("POST", path, Some(token), Some(body)).await;
    assert!(status == StatusCode::CREATED || status == StatusCode::OK, "{path}: {status} {body}");
    body
}

/// The institution and its resident live in the noon zone; the resident at
/// [`HOME`], with the carer assigned to two bathing visits: one due five
/// minutes ago, one in an hour and a half.
async fn day_of_two_visits(app: &TestApp, admin: &str) -> (String, String, String, String) {
    let zone = noon_zone(Utc::now());
    sqlx::query("update institutions set timezone = $1").bind(&zone).execute(&app.pool).await.expect("zone");
    created(
        app,
        admin,
        "/api/v1/services",
        json!({"code": "HC-BATH", "name": "Bathing assistance", "category": "personal_care",
               "duration_minutes": 60, "unit": "hour", "unit_price": 80.0, "currency": "CNY",
               "funding": ["self_pay"], "evv_required": true,
               "tasks": [{"code": "bath", "name": "Assisted shower"}, {"code": "skin", "name": "Skin check"}]}),
    )
    .await;
    let carer = created(
        app,
        admin,
        "/api/v1/users",
        json!({"email": CARER_EMAIL, "password": CARER_PASSWORD, "role": "caregiver", "name": "Li Wei"}),
    )
    .await;
    let carer = carer["id"].as_str().expect("carer id").to_owned();
    crate::support::certify(app, admin, &carer).await;
    let resident = created(
        app,
        admin,
        "/api/v1/residents",
        json!({"name": "Wang Fang", "timezone": zone, "notes": "Deaf in the left ear"}),
    )
    .await;
    let rid = resident["id"].as_str().expect("resident id").to_owned();
    let patch = json!({"address": "12 Moon Lake Lane", "location": {"lat": HOME.0, "lon": HOME.1}});
    let (status, body) = app.call("PATCH", &format!("/api/v1/residents/{rid}"), Some(admin), Some(patch)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut visits = Vec::new();
    for start in [Utc::now() - Duration::minutes(5), Utc::now() + Duration::minutes(90)] {
        let start = start.to_rfc3339_opts(SecondsFormat::Secs, true);
        let body =
            json!({"resident_id": rid, "service_code": "HC-BATH", "scheduled_start": start, "funding": "self_pay"});
        let visit = created(app, admin, "/api/v1/visits", body).await;
        let id = visit["id"].as_str().expect("visit id").to_owned();
        created(app, admin, &format!("/api/v1/visits/{id}/assign"), json!({"caregiver_id": carer})).await;
        visits.push(id);
    }
    let later = visits.pop().expect("two visits");
    let first = visits.pop().expect("two visits");
    (carer, rid, first, later)
}

async fn visit_when(app: &TestApp, token: &str, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    wait_for(what, || async {
        let visit = app.get(&format!("/api/v1/visits/{id}"), token).await;
        pred(&visit).then_some(visit)
    })
    .await
}

#[tokio::test]
async fn a_carer_checks_in_and_out_at_the_door_on_a_phone() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (carer, rid, first, later) = day_of_two_visits(&app, &admin).await;
    let sheet = json!({"access": {"instructions": "Side door, key safe left of it", "key_safe_code": "4711"},
        "emergency_contacts": [{"name": "Wang Min", "relation": "daughter", "phone": "+86 138 0000 0000"}],
        "conditions": ["type 2 diabetes"], "allergies": ["penicillin"],
        "medications": [{"name": "Metformin", "dose": "500 mg", "schedule": "twice daily"}],
        "directives": {"dnacpr": false, "note": "Wants her daughter called first"}});
    let (status, body) =
        app.call("PUT", &format!("/api/v1/residents/{rid}/responder-info"), Some(&admin), Some(sheet)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let browser = Browser::phone().await;
    browser.goto(&app.url("/carer")).await;
    browser.wait_visible("[data-testid=login-email]").await;
    let width = browser.script("return window.innerWidth").await;
    assert_eq!(width, json!(PHONE_WIDTH), "the page is laid out at the phone's width");
    browser.type_into("[data-testid=login-email]", CARER_EMAIL).await;
    browser.type_into("[data-testid=login-password]", CARER_PASSWORD).await;
    browser.click("[data-testid=login-submit]").await;

    let card = format!("[data-testid=visit][data-visit-id='{first}']");
    let text = browser.wait_text(&card, "the visit", |t| t.contains("Wang Fang")).await;
    for expected in ["Bathing assistance", "12 Moon Lake Lane", "Deaf in the left ear"] {
        assert!(text.contains(expected), "the visit shows {expected:?}: {text:?}");
    }
    let map = browser.find(&format!("{card} [data-testid=map-link]")).await.expect("a map link");
    let href = browser.attribute(&map, "href").await.expect("the map's address");
    assert!(href.contains(&HOME.0.to_string()) && href.contains(&HOME.1.to_string()), "{href}");
    browser.wait_visible(&format!("[data-testid=visit][data-visit-id='{later}']")).await;
    let rows = browser.find_all("[data-testid=visit]").await;
    assert_eq!(browser.attribute(&rows[0], "data-visit-id").await.as_deref(), Some(first.as_str()), "in time order");
    let overflow = browser.script("return document.documentElement.scrollWidth").await;
    assert!(overflow.as_u64().is_some_and(|w| w <= u64::from(PHONE_WIDTH)), "nothing wider than the phone: {overflow}");

    // How to get in, and the key safe code on demand (for the assigned carer only).
    browser
        .wait_text(&format!("{card} [data-testid=access-instructions]"), "how to get in", |t| {
            t == "Side door, key safe left of it"
        })
        .await;
    assert!(browser.find(&format!("{card} [data-testid=responder]")).await.is_err(), "no sheet on a plain visit");
    browser.click(&format!("{card} [data-testid=key-safe-show]")).await;
    browser.wait_text(&format!("{card} [data-testid=key-safe-code]"), "the code", |t| t == "4711").await;
    browser.screenshot(&std::env::temp_dir().join("carer-day.png")).await;

    // The page may not read the position: it says so, and offers a retry.
    let origin = app.base.clone();
    browser
        .cdp(
            "Browser.setPermission",
            json!({"origin": origin, "permission": {"name": "geolocation"}, "setting": "denied"}),
        )
        .await;
    browser.click(&format!("{card} [data-testid=check-in]")).await;
    browser
        .wait_text(&format!("{card} [data-testid=visit-error]"), "the refusal explained", |t| {
            t.contains("may not use your location")
        })
        .await;
    assert_eq!(app.get(&format!("/api/v1/visits/{first}"), &admin).await["status"], "assigned");

    // Allowed, twenty metres from the door: checked in by GPS.
    browser.grant_geolocation(&origin).await;
    let (lat, lon) = near_home(20.0, 0.0);
    browser.set_geolocation(lat, lon, 10.0).await;
    browser.click(&format!("{card} [data-testid=visit-retry]")).await;
    let checked_in = visit_when(&app, &admin, &first, "the check-in", |v| v["status"] == "checked_in").await;
    let record = &checked_in["evv"]["check_in"];
    assert_eq!(record["method"], "gps");
    let distance = record["distance_m"].as_f64().expect("a distance from home");
    assert!((10.0..100.0).contains(&distance), "about 20 m from home: {distance}");
    assert_eq!(checked_in["caregiver_id"], carer.as_str());
    assert_eq!(checked_in["evv"]["exceptions"], json!([]), "{checked_in}");
    browser.wait_text(&format!("{card} [data-testid=visit-state]"), "checked in", |t| t == "Checked in").await;
    browser
        .wait_text(&format!("{card} [data-testid=checked-in-at]"), "the distance", |t| t.contains(" m from home"))
        .await;

    // Tasks ticked, a note, checked out at the door.
    browser.click(&format!("{card} [data-testid=task][data-code=bath]")).await;
    browser.click(&format!("{card} [data-testid=task][data-code=skin]")).await;
    browser.type_into(&format!("{card} [data-testid=visit-note]"), "Skin fine, asked for a softer towel").await;
    browser.screenshot(&std::env::temp_dir().join("carer-check-out.png")).await;
    browser.click(&format!("{card} [data-testid=check-out]")).await;
    let done = visit_when(&app, &admin, &first, "the check-out", |v| v["status"] == "completed").await;
    assert_eq!(done["evv"]["check_out"]["method"], "gps");
    assert_eq!(done["tasks"], json!([{"code": "bath", "done": true}, {"code": "skin", "done": true}]));
    assert_eq!(done["visit_note"], "Skin fine, asked for a softer towel");
    assert_eq!(done["evv"]["exceptions"], json!(["short_visit"]), "minutes at the door, not an hour");
    browser.wait_text(&format!("{card} [data-testid=visit-state]"), "done", |t| t == "Done").await;

    // The next visit, two kilometres away from the home: far from home,
    // on the page and in the record.
    let far_card = format!("[data-testid=visit][data-visit-id='{later}']");
    let (lat, lon) = near_home(0.0, 2_000.0);
    browser.set_geolocation(lat, lon, 10.0).await;
    browser.click(&format!("{far_card} [data-testid=check-in]")).await;
    let far = visit_when(&app, &admin, &later, "the far check-in", |v| v["status"] == "checked_in").await;
    assert_eq!(far["evv"]["exceptions"], json!(["far_from_home"]), "{far}");
    let distance = far["evv"]["check_in"]["distance_m"].as_f64().expect("a distance");
    assert!((1_900.0..2_100.0).contains(&distance), "{distance}");
    browser
        .wait_text(&format!("{far_card} [data-testid=exceptions]"), "far from home", |t| t.contains("Far from home"))
        .await;
    let mine = app.get("/api/v1/me/visits", &app.login(CARER_EMAIL, CARER_PASSWORD).await).await;
    let listed = mine["visits"].as_array().expect("visits").iter().find(|v| v["id"] == later.as_str()).cloned();
    assert_eq!(listed.expect("the far visit in the carer's day")["exceptions"], json!(["far_from_home"]));
    browser.screenshot(&std::env::temp_dir().join("carer-far.png")).await;

    // An SOS: the coordinator sends the carer; the visit brings the
    // responder's sheet, allergies first in the carer's eye.
    app.device(&admin, json!({"device_id": "sos-carer-1", "resident_id": rid, "kind": "sos_button"})).await;
    app.broker.publish("eldercare/v1/sos-carer-1/event", json!({"event": "sos_pressed"}).to_string()).await;
    let sos = wait_for("the SOS", || async {
        app.get(&format!("/api/v1/alerts?resident_id={rid}&kind=sos"), &admin).await["alerts"]
            .as_array()?
            .first()
            .cloned()
    })
    .await;
    let sos = sos["id"].as_str().expect("alert id");
    let dispatched =
        created(&app, &admin, &format!("/api/v1/alerts/{sos}/dispatch"), json!({"caregiver_id": carer})).await;
    let sent_card = format!("[data-testid=visit][data-visit-id='{}']", dispatched["id"].as_str().expect("visit id"));
    browser.click("[data-testid=refresh]").await;
    browser
        .wait_text(&format!("{sent_card} [data-testid=allergies]"), "the allergies", |t| t.contains("penicillin"))
        .await;
    let sheet = browser
        .wait_text(&format!("{sent_card} [data-testid=responder]"), "the sheet", |t| t.contains("Metformin"))
        .await;
    for expected in ["Wang Min", "type 2 diabetes", "Wants her daughter called first"] {
        assert!(sheet.contains(expected), "the sheet shows {expected:?}: {sheet:?}");
    }
    browser.screenshot(&std::env::temp_dir().join("carer-responder.png")).await;
    browser.quit().await;
}

#[tokio::test]
async fn the_carer_page_is_served_like_the_console() {
    let app = TestApp::spawn().await;
    let page = app.http.get(app.url("/carer/")).send().await.expect("the page").text().await.expect("text");
    assert!(!page.contains("<script>") && !page.contains("<style") && !page.contains(" style="), "inline code");
    assert!(page.contains("/console/common.js"), "the shared session code");
    for path in ["/carer/", "/carer/carer.js", "/carer/carer.css", "/console/common.js"] {
        let r = app.http.get(app.url(path)).send().await.expect(path);
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let csp = r.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(csp.split(';').any(|d| d.trim() == "script-src 'self'"), "{path}: {csp}");
        assert_eq!(r.headers().get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"));
    }
}
