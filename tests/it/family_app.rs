//! The family app in a real headless Chromium emulating a phone (375×667):
//! a daughter logs in, sees her mother's SOS arrive live and reads what the
//! care team does about it (seen, a carer dispatched) without reloading,
//! orders a bath and sees a provider accept it, cancels tomorrow's lunch and
//! writes to the care team; the API shows what the page did. The page also
//! holds at 200 % zoom, keeps every control thumb-sized, speaks Chinese,
//! remembers large text, is installable and logs out for real.

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::console::{Browser, PHONE_WIDTH};
use crate::registry::ladder;
use crate::support::{PATIENCE, TestApp, wait_for, wait_showing};

const DAUGHTER_EMAIL: &str = "wang.min@family.example";
const DAUGHTER_PASSWORD: &str = "a long family password";
const EVERY_DAY: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const TABS: [&str; 8] = ["today", "alerts", "messages", "visits", "meals", "order", "money", "settings"];

async fn ok(app: &TestApp, method: &str, path: &str, token: &str, body: Value) -> Value {
    let (status, answer) = app.call(method, path, Some(token), Some(body)).await;
    assert!(status.is_success(), "{method} {path}: {status} {answer}");
    answer
}

/// The elder, at home in a grid of the district the bootstrap institution
/// serves: her SOS button, a lunch every day from a kitchen with a 09:00
/// cut-off, a bathing service on offer and a carer to send; her daughter
/// linked. Answers her id, the carer's and the institution's name.
async fn mother_at_home(app: &TestApp) -> (String, String, String) {
    let operator = app.operator_token().await;
    let admin = app.admin_token().await;
    ladder(app, &operator).await;
    let home = &app.get("/api/v1/institutions", &admin).await["institutions"][0];
    let (home_id, home_name) = (home["id"].as_str().unwrap().to_owned(), home["name"].as_str().unwrap().to_owned());
    let serves = json!({"division": "330205001", "service_area": ["330205"]});
    ok(app, "PATCH", &format!("/api/v1/institutions/{home_id}"), &operator, serves).await;

    let mother = json!({"name": "Wang Fang", "timezone": "Asia/Shanghai", "division": "330205001001001"});
    let rid = ok(app, "POST", "/api/v1/residents", &admin, mother).await["id"].as_str().unwrap().to_owned();
    app.device(&admin, json!({"device_id": "sos-1", "resident_id": rid, "kind": "sos_button", "room": "bedroom"}))
        .await;
    let bath = json!({"code": "HC-BATH", "name": "Bathing assistance", "category": "personal_care",
        "duration_minutes": 60, "unit": "hour", "unit_price": 80.0, "currency": "CNY",
        "funding": ["self_pay"], "evv_required": true, "tasks": []});
    ok(app, "POST", "/api/v1/services", &admin, bath).await;
    let kitchen = json!({"name": "Moon Lake Kitchen", "cutoff": "09:00", "timezone": "Asia/Shanghai",
        "prices": {"breakfast": 6, "lunch": 12, "dinner": 12}});
    let kitchen = ok(app, "POST", "/api/v1/kitchens", &admin, kitchen).await["id"].as_str().unwrap().to_owned();
    let days: serde_json::Map<String, Value> = EVERY_DAY.iter().map(|d| ((*d).to_owned(), json!(["lunch"]))).collect();
    let plan = json!({"kitchen_id": kitchen, "delivery": "home", "funding": "self_pay", "days": days});
    ok(app, "PUT", &format!("/api/v1/residents/{rid}/meal-plan"), &admin, plan).await;
    let carer =
        json!({"email": "li.wei@care.example", "password": "long enough pw", "role": "caregiver", "name": "Li Wei"});
    let carer = ok(app, "POST", "/api/v1/users", &admin, carer).await["id"].as_str().unwrap().to_owned();
    crate::support::certify(app, &admin, &carer).await;
    let daughter =
        json!({"email": DAUGHTER_EMAIL, "password": DAUGHTER_PASSWORD, "role": "family", "name": "Wang Min"});
    let daughter = ok(app, "POST", "/api/v1/users", &admin, daughter).await["id"].as_str().unwrap().to_owned();
    let link = json!({"user_id": daughter, "relationship": "daughter"});
    ok(app, "POST", &format!("/api/v1/residents/{rid}/family"), &admin, link).await;
    (rid, carer, home_name)
}

/// Tomorrow in Shanghai, the elder's (and the kitchen's) zone.
fn tomorrow() -> String {
    (Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive() + Duration::days(1)).to_string()
}

/// Opens a tab and waits for its view to have something in it; a failure
/// tells what the page showed instead.
async fn open_tab(browser: &Browser, tab: &str) {
    browser.click(&format!("[data-testid=tab-{tab}]")).await;
    let check = format!(
        "const view = document.querySelector('[data-testid=view-{tab}]');
         const error = document.querySelector('[data-testid=error]');
         return {{ shown: !view.hidden && view.querySelector('.content > *') !== null,
                  error: error.hidden ? null : error.innerText, hash: location.hash }};"
    );
    wait_showing(PATIENCE, &format!("the {tab} view"), || async {
        let seen = browser.script(&check).await;
        if seen["shown"] == true { Ok(()) } else { Err(seen.to_string()) }
    })
    .await;
}

/// What a person at this width would struggle with on the open view: the
/// page wider than the screen, and controls under 44 px high.
async fn layout_faults(browser: &Browser) -> Value {
    browser
        .script(
            "const small = [...document.querySelectorAll('button, select, textarea, summary, .tabs a, \
             input:not([type=checkbox]):not([type=radio]), .star')]
               .filter((e) => e.getClientRects().length && e.getBoundingClientRect().height < 44)
               .map((e) => e.outerHTML.slice(0, 100));
             const wide = document.documentElement.scrollWidth > window.innerWidth;
             return { wide, width: document.documentElement.scrollWidth, small };",
        )
        .await
}

#[tokio::test]
async fn a_daughter_follows_her_mothers_sos_orders_a_bath_and_cancels_a_lunch_on_her_phone() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (rid, carer, home_name) = mother_at_home(&app).await;

    // Installable: the manifest, its icon and the worker, as what they are.
    for (path, kind) in [
        ("/family/manifest.webmanifest", "application/manifest+json"),
        ("/family/icon.svg", "image/svg+xml"),
        ("/family/sw.js", "text/javascript; charset=utf-8"),
    ] {
        let r = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()["content-type"], kind, "{path}");
    }
    let manifest: Value =
        app.http.get(app.url("/family/manifest.webmanifest")).send().await.unwrap().json().await.unwrap();
    assert_eq!((manifest["start_url"].as_str(), manifest["scope"].as_str()), (Some("/family/"), Some("/family/")));
    let page = app.http.get(app.url("/family/")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"<link rel="manifest" href="/family/manifest.webmanifest">"#), "{page}");
    assert!(!page.contains("<script>") && !page.contains("<style") && !page.contains(" style="), "inline code");

    let browser = Browser::phone().await;
    browser.goto(&app.url("/family")).await;
    browser.wait_visible("[data-testid=login-email]").await;
    assert_eq!(browser.script("return window.innerWidth").await, json!(PHONE_WIDTH));
    browser.type_into("[data-testid=login-email]", DAUGHTER_EMAIL).await;
    browser.type_into("[data-testid=login-password]", "not her password").await;
    browser.click("[data-testid=login-submit]").await;
    browser
        .wait_text("[data-testid=login-error]", "the refusal", |t| t.to_lowercase().contains("wrong email or password"))
        .await;
    browser.clear("[data-testid=login-password]").await;
    browser.type_into("[data-testid=login-password]", DAUGHTER_PASSWORD).await;
    browser.click("[data-testid=login-submit]").await;

    // Her mother's day, and the stream live before anything happens.
    browser.wait_text("[data-testid=today-elder]", "her mother", |t| t == "Wang Fang").await;
    browser.wait_visible("[data-testid=presence]").await;
    browser.wait_text("[data-testid=today-meals]", "lunch", |t| t.to_lowercase().contains("lunch")).await;
    browser.wait_attribute("[data-testid=connection]", "data-state", "connected", |s| s == "connected").await;
    let scope = browser.script("return navigator.serviceWorker.ready.then((r) => r.scope)").await;
    assert_eq!(scope, json!(app.url("/family/")), "the app's own service worker, scoped to /family/");

    // She presses her SOS button: the banner comes without a reload.
    app.broker.publish("eldercare/v1/sos-1/event", json!({"event": "sos_pressed", "data": {}}).to_string()).await;
    let sos = wait_for("the SOS alert", || async {
        let body = app.get("/api/v1/alerts?kind=sos", &admin).await;
        body["alerts"].as_array()?.first().cloned()
    })
    .await;
    let sos_id = sos["id"].as_str().unwrap().to_owned();
    let banner = format!("[data-testid=alert-banner][data-alert-id='{sos_id}']");
    let text = browser.wait_text(&banner, "the SOS", |t| t.contains("Wang Fang")).await;
    assert!(text.to_lowercase().contains("sos button pressed"), "{text}");
    browser.click(&format!("{banner} [data-testid=banner-open]")).await;
    let card = format!("[data-testid=alert][data-alert-id='{sos_id}']");
    browser
        .wait_text(&format!("{card} [data-testid=alert-kind]"), "the kind", |t| {
            t.to_lowercase() == "sos button pressed"
        })
        .await;
    let progress = format!("{card} [data-testid=alert-progress]");
    browser.wait_text(&progress, "that the team is told", |t| t.to_lowercase().contains("will answer")).await;

    // The care team answers and sends a carer, while the page stays open.
    ok(&app, "POST", &format!("/api/v1/alerts/{sos_id}/acknowledge"), &admin, json!({})).await;
    browser.wait_text(&progress, "who saw it", |t| t.to_lowercase().contains("seen by administrator")).await;
    browser
        .wait_text(&format!("{card} [data-testid=alert-status]"), "being handled", |t| {
            t.to_lowercase() == "being handled"
        })
        .await;
    let dispatched = json!({"caregiver_id": carer});
    ok(&app, "POST", &format!("/api/v1/alerts/{sos_id}/dispatch"), &admin, dispatched).await;
    let text =
        browser.wait_text(&progress, "the carer on the way", |t| t.to_lowercase().contains("li is on the way")).await;
    assert!(!text.contains("Li Wei"), "the carer's first name only: {text}");
    browser
        .wait_text(&format!("{banner} [data-testid=banner-progress]"), "the banner too", |t| {
            t.to_lowercase().contains("li is on the way")
        })
        .await;
    browser.screenshot(&std::env::temp_dir().join("family-alert.png")).await;

    // She orders a bath: the price after her entitlements (none: all of
    // it), offered to the provider serving her area, then accepted.
    open_tab(&browser, "order").await;
    browser.wait_text("[data-testid=order-price]", "the price", |t| t.contains("80.00")).await;
    browser.type_into("[data-testid=order-note]", "Before the weekend, please").await;
    browser.click("[data-testid=order-submit]").await;
    let request = wait_for("the order", || async {
        let body = app.get(&format!("/api/v1/service-requests?resident_id={rid}"), &admin).await;
        body["requests"].as_array()?.first().cloned()
    })
    .await;
    let request_id = request["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (request["service_code"].as_str(), request["note"].as_str()),
        (Some("HC-BATH"), Some("Before the weekend, please"))
    );
    // The time offered by default: tomorrow at ten on her clock, whatever
    // the phone's zone.
    let wanted: DateTime<Utc> = request["preferred_start"].as_str().expect("a time asked for").parse().unwrap();
    let ten = format!("{}T10:00:00", tomorrow()).parse::<chrono::NaiveDateTime>().unwrap();
    assert_eq!(wanted, ten.and_local_timezone(chrono_tz::Asia::Shanghai).unwrap().with_timezone(&Utc));
    let order = format!("[data-testid=request][data-request-id='{request_id}']");
    browser
        .wait_text(&format!("{order} [data-testid=request-status]"), "offered", |t| {
            t.to_lowercase() == "waiting for a provider"
        })
        .await;
    browser.wait_text(&format!("{order} [data-testid=request-price]"), "what she pays", |t| t.contains("80.00")).await;
    ok(&app, "POST", &format!("/api/v1/service-requests/{request_id}/accept"), &admin, json!({})).await;
    browser
        .wait_text(&format!("{order} [data-testid=request-status]"), "accepted", |t| t.to_lowercase() == "accepted")
        .await;
    browser
        .wait_text(&format!("{order} [data-testid=request-provider]"), "the provider", |t| t.contains(&home_name))
        .await;

    // Tomorrow's lunch, cancelled before the kitchen's cut-off.
    open_tab(&browser, "meals").await;
    let lunch = format!("[data-testid=meal-order][data-date='{}'][data-meal=lunch]", tomorrow());
    browser.wait_attribute(&lunch, "data-status", "planned", |s| s == "planned").await;
    browser.click(&format!("{lunch} [data-testid=meal-cancel]")).await;
    browser.click(&format!("{lunch} [data-testid=meal-cancel-confirm]")).await;
    browser.wait_attribute(&lunch, "data-status", "cancelled", |s| s == "cancelled").await;
    let orders =
        app.get(&format!("/api/v1/meal-orders?date={}&meal=lunch&resident_id={rid}", tomorrow()), &admin).await;
    assert_eq!(
        (orders["orders"][0]["status"].as_str(), orders["orders"][0]["cancel_reason"].as_str()),
        (Some("cancelled"), Some("family")),
        "{orders}"
    );

    // A word to the care team.
    open_tab(&browser, "messages").await;
    browser.type_into("[data-testid=message-text]", "Thank you for going so quickly.").await;
    browser.click("[data-testid=message-send]").await;
    browser.wait_text("[data-testid=thread]", "her message", |t| t.contains("Thank you for going so quickly.")).await;
    let thread = app.get(&format!("/api/v1/residents/{rid}/messages"), &admin).await;
    assert_eq!(
        (thread["messages"][0]["text"].as_str(), thread["messages"][0]["author_role"].as_str()),
        (Some("Thank you for going so quickly."), Some("family"))
    );

    // Every view on the phone, and at 200 % zoom (half the width in CSS
    // pixels): nothing wider than the screen, every control thumb-sized.
    for tab in TABS {
        open_tab(&browser, tab).await;
        let faults = layout_faults(&browser).await;
        assert_eq!((&faults["wide"], &faults["small"]), (&json!(false), &json!([])), "{tab} at 375 px: {faults}");
    }
    let zoomed = json!({"width": PHONE_WIDTH / 2, "height": 333, "deviceScaleFactor": 4, "mobile": true});
    browser.cdp("Emulation.setDeviceMetricsOverride", zoomed).await;
    for tab in TABS {
        open_tab(&browser, tab).await;
        let faults = layout_faults(&browser).await;
        assert_eq!(faults["wide"], json!(false), "{tab} at 200 %: {faults}");
    }
    browser.screenshot(&std::env::temp_dir().join("family-zoomed.png")).await;
    browser.cdp("Emulation.clearDeviceMetricsOverride", json!({})).await;

    // Chinese, and back.
    browser.click("[data-testid=language] option[value='zh-CN']").await;
    browser.wait_text("[data-testid=tab-meals]", "Chinese", |t| t == "助餐").await;
    browser.wait_text("[data-testid=view-settings] h2", "Chinese", |t| t == "通知").await;
    browser.click("[data-testid=language] option[value=en]").await;
    browser.wait_text("[data-testid=tab-meals]", "English", |t| t == "Meals").await;

    // Large text, remembered across a reload (as is the session).
    let size = "return parseFloat(getComputedStyle(document.documentElement).fontSize)";
    let normal = browser.script(size).await.as_f64().unwrap();
    browser.click("[data-testid=large-text]").await;
    browser.wait_attribute("[data-testid=large-text]", "aria-pressed", "true", |s| s == "true").await;
    let large = browser.script(size).await.as_f64().unwrap();
    assert!(large >= normal * 1.2, "large text is larger: {normal} -> {large}");
    browser.cmd(Method::POST, "/refresh", None).await.expect("reload");
    // The session picked up again, the page shows the tab it was left on
    // before anything is clicked.
    wait_showing(PATIENCE, "the settings view after the reload", || async {
        let seen = browser
            .script(
                "const view = document.querySelector('[data-testid=view-settings]');
                 return !view.hidden && view.querySelector('.content > *') !== null;",
            )
            .await;
        if seen == true { Ok(()) } else { Err(seen.to_string()) }
    })
    .await;
    open_tab(&browser, "today").await;
    browser.wait_text("[data-testid=today-elder]", "the day again", |t| t == "Wang Fang").await;
    browser.wait_attribute("[data-testid=large-text]", "aria-pressed", "true", |s| s == "true").await;

    // Logging out ends the session on the server too.
    let token = browser.script("return localStorage.getItem('eldercare.family.token')").await;
    let token = token.as_str().expect("the app keeps its token").to_owned();
    browser.click("[data-testid=logout]").await;
    browser.wait_visible("[data-testid=login-email]").await;
    assert_eq!(app.call("GET", "/api/v1/me", Some(&token), None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(browser.script("return localStorage.getItem('eldercare.family.token')").await, Value::Null);
    browser.quit().await;
}
