//! The data cockpit: figures from alerts with known answering times, for an
//! admin and for a supervisor over a region; the daily series, the CSV
//! report, the `/metrics` gauges; and the big-screen page in Chromium.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::console::Browser;
use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, OPERATOR_EMAIL, OPERATOR_PASSWORD, TestApp};

/// How an alert inserted with known times ended, seconds after it opened.
#[derive(Clone, Copy)]
struct Known<'a> {
    kind: &'a str,
    severity: &'a str,
    /// Seconds before now that it opened.
    opened_ago: i64,
    acknowledged_after: Option<i64>,
    /// (seconds after opening, resolution, by a person or by the system)
    resolved: Option<(i64, &'a str, bool)>,
    escalation_level: i32,
}

const TWO_DAYS: i64 = 2 * 86_400;

fn known<'a>(kind: &'a str, severity: &'a str) -> Known<'a> {
    Known { kind, severity, opened_ago: TWO_DAYS, acknowledged_after: None, resolved: None, escalation_level: 0 }
}

/// Inserts an alert as the alert path and a person would have left it,
/// backdated: the figures are judged on exactly these times.
async fn insert_alert(app: &TestApp, institution: &str, resident: &str, person: &str, alert: Known<'_>) -> Uuid {
    let id = Uuid::new_v4();
    let (resolved_after, resolution, resolved_by_person) = match alert.resolved {
        Some((after, resolution, person)) => (Some(after), Some(resolution), person),
        None => (None, None, false),
    };
    sqlx::query(
        "insert into alerts (id, institution_id, resident_id, kind, cause, severity, status, resolution, opened_at,
                             condition_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, escalation_level)
         select $1, $2::uuid, $3::uuid, $4, $1::text, $5,
                case when $8::float8 is not null then 'resolved' when $7::float8 is not null then 'acknowledged'
                     else 'open' end,
                $9, o.at, o.at,
                o.at + make_interval(secs => $7), case when $7::float8 is not null then $10::uuid end,
                o.at + make_interval(secs => $8), case when $11 then $10::uuid end, $12
         from (select now() - make_interval(secs => $6) as at) o",
    )
    .bind(id)
    .bind(institution)
    .bind(resident)
    .bind(alert.kind)
    .bind(alert.severity)
    .bind(alert.opened_ago as f64)
    .bind(alert.acknowledged_after.map(|s| s as f64))
    .bind(resolved_after.map(|s| s as f64))
    .bind(resolution)
    .bind(person)
    .bind(resolved_by_person)
    .bind(alert.escalation_level)
    .execute(&app.pool)
    .await
    .expect("insert a known alert");
    id
}

struct Home {
    institution: String,
    admin: String,
    admin_id: String,
    residents: [String; 2],
}

/// The bootstrap institution with two residents, three devices (one online,
/// one that said it went offline, one never heard from) and alerts whose
/// answering times are known.
async fn home_with_known_alerts(app: &TestApp) -> Home {
    let admin = app.admin_token().await;
    let me = app.get("/api/v1/me", &admin).await;
    let institution = me["institution_id"].as_str().expect("institution").to_owned();
    let admin_id = me["id"].as_str().expect("id").to_owned();
    let residents = [app.resident(&admin, "Grandma Li").await, app.resident(&admin, "Grandpa Wang").await];
    for (device, kind) in [("watch-on", "wearable"), ("sos-off", "sos_button"), ("bed-new", "bed_sensor")] {
        app.device(&admin, json!({"device_id": device, "resident_id": residents[0], "kind": kind})).await;
    }
    // The watch is on; the SOS button said it went offline forty days ago
    // (its alert is recorded below, as the scheduler raised it then: the
    // scheduler, ticking through the test, finds nothing new to raise).
    sqlx::query(
        "update device_state set online = (device_id = 'watch-on'),
             last_seen_at = now() - case device_id when 'watch-on' then interval '1 minute' else interval '40 days' end,
             online_at = now() - case device_id when 'watch-on' then interval '1 minute' else interval '40 days' end
         where device_id in ('watch-on', 'sos-off')",
    )
    .execute(&app.pool)
    .await
    .expect("device states");

    let [li, wang] = [residents[0].as_str(), residents[1].as_str()];
    let insert = |resident: &'static str, alert: Known<'static>| {
        let (institution, admin_id) = (institution.clone(), admin_id.clone());
        let resident = if resident == "li" { li.to_owned() } else { wang.to_owned() };
        async move { insert_alert(app, &institution, &resident, &admin_id, alert).await }
    };
    // Acknowledged in 30 s, resolved by a person at 5 min: within both.
    insert(
        "li",
        Known { acknowledged_after: Some(30), resolved: Some((300, "handled", true)), ..known("fall", "critical") },
    )
    .await;
    // Acknowledged at 2 min: within 180 s only.
    insert(
        "li",
        Known { acknowledged_after: Some(120), resolved: Some((600, "handled", true)), ..known("sos", "critical") },
    )
    .await;
    // Never answered, escalated: against both.
    insert("wang", Known { escalation_level: 2, ..known("smoke", "critical") }).await;
    // Resolved as a false alarm at 45 s without an acknowledgement: answered then.
    insert("li", Known { resolved: Some((45, "false_alarm", true)), ..known("vital_abnormal", "high") }).await;
    // Ended by themselves before anyone answered: not the SLA's.
    insert("li", Known { resolved: Some((20, "auto_cleared", false)), ..known("vital_abnormal", "high") }).await;
    insert("li", Known { resolved: Some((15, "cancelled_by_resident", false)), ..known("fall", "critical") }).await;
    // Medium: counted, never in the SLA.
    insert("li", known("missed_meal", "medium")).await;
    // Before the period: only their being open counts (a battery to change,
    // a button to bring back).
    let forty_days = 40 * 86_400;
    for (device, kind, severity) in [("watch-on", "low_battery", "low"), ("sos-off", "device_offline", "high")] {
        sqlx::query(
            "insert into alerts (id, institution_id, resident_id, device_id, kind, cause, severity, opened_at,
                                 condition_at)
             values (gen_random_uuid(), $1::uuid, $2::uuid, $4, $5, $4, $6,
                     now() - make_interval(secs => $3), now() - make_interval(secs => $3))",
        )
        .bind(&institution)
        .bind(li)
        .bind(forty_days as f64)
        .bind(device)
        .bind(kind)
        .bind(severity)
        .execute(&app.pool)
        .await
        .expect("an old open alert");
    }
    insert("li", Known { opened_ago: forty_days, resolved: Some((10, "handled", true)), ..known("sos", "critical") })
        .await;
    // Opened now and acknowledged through the API, then dated 10 s after
    // opening: a person's real acknowledgement counts.
    let now_sos = insert("li", Known { opened_ago: 0, ..known("sos", "critical") }).await;
    app.post(&format!("/api/v1/alerts/{now_sos}/acknowledge"), &admin, json!({})).await;
    sqlx::query("update alerts set opened_at = acknowledged_at - interval '10 seconds' where id = $1")
        .bind(now_sos)
        .execute(&app.pool)
        .await
        .expect("date the acknowledgement");
    Home { institution, admin, admin_id, residents }
}

/// Visits of Grandma Li with known outcomes, two days ago, and a care plan
/// authorising 30.4375 hours a month (30 hours in 30 days).
async fn known_visits(app: &TestApp, home: &Home) {
    let visit = |status: &str,
                 scheduled_ago_minutes: i64,
                 check_in: Option<(i64, i64)>,
                 verified: bool,
                 exceptions: &[&str],
                 stars: Option<i32>| {
        let query = sqlx::query(
            "insert into visits (id, institution_id, resident_id, service_id, funding, origin, status, scheduled_start,
                                 check_in_at, check_out_at, verified, exceptions, rating_stars)
             select gen_random_uuid(), $1::uuid, $2::uuid, s.id, 'self_pay', 'manual', $3, o.at,
                    o.at + make_interval(mins => $4), o.at + make_interval(mins => $5), $6, $7, $8
             from services s, (select now() - make_interval(mins => $9) as at) o
             where s.institution_id = $1::uuid and s.code = 'WELFARE-CHECK'",
        )
        .bind(home.institution.clone())
        .bind(home.residents[0].clone())
        .bind(status.to_owned())
        .bind(check_in.map(|c| c.0 as i32))
        .bind(check_in.map(|c| c.1 as i32))
        .bind(verified)
        .bind(exceptions.iter().map(|e| e.to_string()).collect::<Vec<_>>())
        .bind(stars)
        .bind(scheduled_ago_minutes as i32);
        async move { query.execute(&app.pool).await.expect("insert a known visit") }
    };
    let two_days = 2 * 24 * 60;
    // An hour's verified visit, rated 5; a late one of 30 minutes, rated 3.
    visit("completed", two_days, Some((5, 65)), true, &[], Some(5)).await;
    visit("completed", two_days, Some((20, 50)), false, &["late_start", "short_visit"], Some(3)).await;
    visit("missed", two_days, None, false, &[], None).await;
    visit("cancelled", two_days, None, false, &[], None).await;
    visit("scheduled", 60, None, false, &[], None).await;
    sqlx::query(
        "insert into visits (id, institution_id, resident_id, service_id, funding, origin, status)
         select gen_random_uuid(), s.institution_id, $2::uuid, s.id, 'self_pay', 'request', 'requested'
         from services s where s.institution_id = $1::uuid and s.code = 'WELFARE-CHECK'",
    )
    .bind(&home.institution)
    .bind(&home.residents[0])
    .execute(&app.pool)
    .await
    .expect("a waiting request");
    sqlx::query(
        "insert into care_plans (resident_id, institution_id, items)
         values ($1::uuid, $2::uuid, '[{\"service_code\": \"WELFARE-CHECK\", \"funding\": \"self_pay\",
                  \"schedule\": {\"days\": [\"mon\"], \"start\": \"09:00\"}, \"hours_per_month\": 30.4375}]')",
    )
    .bind(&home.residents[0])
    .bind(&home.institution)
    .execute(&app.pool)
    .await
    .expect("a care plan");
}

fn close(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 1e-9)
}

#[tokio::test]
async fn an_admin_reads_their_institutions_figures_from_known_alerts() {
    let app = TestApp::spawn().await;
    let home = home_with_known_alerts(&app).await;
    known_visits(&app, &home).await;
    let body = app.get("/api/v1/cockpit", &home.admin).await;
    let alerts = &body["alerts"];
    assert_eq!(alerts["total"], 8, "{body}");
    assert_eq!(
        alerts["by_kind"],
        json!({"fall": 2, "sos": 2, "smoke": 1, "vital_abnormal": 2, "missed_meal": 1}),
        "{body}"
    );
    // Five to answer: 10 s, 30 s, 45 s, 120 s and never.
    assert_eq!(alerts["answerable"], 5);
    assert!(close(&alerts["acknowledged_within_60s_pct"], 60.0), "{body}");
    assert!(close(&alerts["acknowledged_within_180s_pct"], 80.0), "{body}");
    assert!(close(&alerts["mtta_seconds"], 51.3), "(10 + 30 + 120 + 45) / 4: {body}");
    assert!(close(&alerts["mttr_seconds"], 315.0), "(300 + 600 + 45) / 3: {body}");
    assert_eq!(alerts["escalated"], 1);
    assert!(close(&alerts["false_alarm_pct"], 12.5), "{body}");
    // The smoke, the missed meal, the acknowledged SOS, the old battery and
    // the button offline.
    assert_eq!(alerts["open_now"], 5);
    assert_eq!(body["residents"], json!({"total": 2, "with_open_alerts": 2}));
    assert_eq!(body["devices"]["total"], 3);
    assert!(close(&body["devices"]["online_pct"], 33.33), "{body}");
    assert_eq!(body["devices"]["low_battery"], 1);
    assert_eq!(body["meals"], json!({"planned": 0, "delivered": 0, "no_answer": 0, "cancelled": 0}));
    // Due: two completed, one missed, one still ahead; the cancelled one and
    // the waiting request are not.
    assert_eq!(
        body["visits"],
        json!({"scheduled": 4, "completed": 2, "missed": 1, "late": 1, "evv_verified_pct": 50.0,
               "hours_delivered": 1.5, "hours_authorised": 30.0, "avg_stars": 4.0}),
        "{body}"
    );
    assert!(body.get("series").is_none());
    // Online is the devices list's own judgement, counted where it is stored.
    let online = app.get("/api/v1/devices?online=true", &home.admin).await;
    assert_eq!(online["devices"].as_array().map(Vec::len), Some(1));

    // A day: the series covers each day of the period, those without alerts too.
    let daily = app.get("/api/v1/cockpit?series=day", &home.admin).await;
    let series = daily["series"].as_array().expect("a series");
    assert!((30..=31).contains(&series.len()), "{} days", series.len());
    let totals: i64 = series.iter().map(|d| d["alerts"]["total"].as_i64().unwrap()).sum();
    assert_eq!(totals, 8);
    let busiest = series.iter().max_by_key(|d| d["alerts"]["total"].as_i64()).unwrap();
    assert_eq!(busiest["alerts"]["total"], 7);
    assert_eq!(busiest["visits"]["completed"], 2);
    assert_eq!(busiest["visits"]["hours_authorised"], 1.0, "a day of a 30.4375-hour month");
    assert_eq!(busiest["alerts"]["answerable"], 4);
    assert!(close(&busiest["alerts"]["acknowledged_within_60s_pct"], 50.0));
    assert_eq!(series.last().unwrap()["alerts"]["total"], 1, "today's acknowledged SOS");
    assert_eq!(daily["alerts"], body["alerts"], "the series leaves the period's figures as they are");

    // Days as bounds, read in the institution's timezone; `to` is included.
    let today = series.last().unwrap()["date"].as_str().unwrap().to_owned();
    let one_day = app.get(&format!("/api/v1/cockpit?from={today}&to={today}&series=day"), &home.admin).await;
    assert_eq!(one_day["alerts"]["total"], 1);
    assert_eq!(one_day["series"].as_array().map(Vec::len), Some(1));

    // The monthly report: a row per day.
    let r = app.http.get(app.url("/api/v1/cockpit?format=csv")).bearer_auth(&home.admin).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), series.len() + 1, "{csv}");
    assert!(lines[0].starts_with("date,alerts_total,alerts_answerable,acknowledged_within_60s_pct,"));
    let busiest_row = lines.iter().find(|l| l.starts_with(busiest["date"].as_str().unwrap())).unwrap();
    assert!(busiest_row.contains(",7,4,50,75,"), "{busiest_row}");

    // The same shares in /metrics, 0-1, by the institution's id.
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let institution = &home.institution;
    for line in [
        format!("eldercare_alerts_acknowledged_within_60s_ratio{{institution=\"{institution}\"}} 0.6"),
        format!("eldercare_alerts_acknowledged_within_180s_ratio{{institution=\"{institution}\"}} 0.8"),
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
    assert!(!home.admin_id.is_empty() && home.residents.len() == 2);
}

#[tokio::test]
async fn bad_periods_and_formats_are_refused_and_only_admins_and_supervisors_read_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for (query, field) in [
        ("from=yesterday", "from"),
        ("to=2026-02-30", "to"),
        ("from=2026-11-30&to=2026-11-01", "from"),
        ("from=2024-01-01&to=2026-01-01", "from"),
        ("series=week", "series"),
        ("format=xml", "format"),
    ] {
        let (status, body) = app.call("GET", &format!("/api/v1/cockpit?{query}"), Some(&admin), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    let (status, body) = app.call("GET", "/api/v1/cockpit?colour=red", Some(&admin), None).await;
    assert!(status.is_client_error() && body["error"]["code"].is_string(), "{status} {body}");
    for role in ["staff", "caregiver", "family"] {
        let email = format!("{role}@test.example");
        let user = json!({"email": email, "password": "long enough pw", "role": role, "name": role});
        app.post("/api/v1/users", &admin, user).await;
        let token = app.login(&email, "long enough pw").await;
        let (status, _) = app.call("GET", "/api/v1/cockpit", Some(&token), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}");
    }
    // A wall screen's display token reads it, read-only.
    let display = app.post("/api/v1/display-tokens", &admin, json!({"label": "Office wall"})).await;
    let token = display["token"].as_str().unwrap();
    let body = app.get("/api/v1/cockpit?series=day", token).await;
    assert_eq!(body["alerts"]["total"], 0);
    assert!(close(&body["alerts"]["acknowledged_within_60s_pct"], 0.0));
}

#[tokio::test]
async fn a_supervisor_sees_each_institution_of_the_region_and_the_total_without_names() {
    let app = TestApp::spawn().await;
    let home = home_with_known_alerts(&app).await;
    let operator = app.login(OPERATOR_EMAIL, OPERATOR_PASSWORD).await;
    let region = json!({"region": "North"});
    app.call("PATCH", &format!("/api/v1/institutions/{}", home.institution), Some(&operator), Some(region)).await;
    let new_institution = |name: &str, region: &str| json!({"name": name, "kind": "home_care", "region": region, "timezone": "Asia/Shanghai"});
    let river = app.post("/api/v1/institutions", &operator, new_institution("Riverside Care", "North")).await;
    let river = river["id"].as_str().unwrap().to_owned();
    let far = app.post("/api/v1/institutions", &operator, new_institution("Far Away Home", "South")).await;
    let far = far["id"].as_str().unwrap().to_owned();
    let admin = |email: &str| json!({"email": email, "password": "long enough pw", "role": "admin", "name": "Boss"});
    app.post(&format!("/api/v1/institutions/{river}/users"), &operator, admin("river@test.example")).await;
    app.post(&format!("/api/v1/institutions/{far}/users"), &operator, admin("far@test.example")).await;
    let river_admin = app.login("river@test.example", "long enough pw").await;
    let river_admin_id = app.get("/api/v1/me", &river_admin).await["id"].as_str().unwrap().to_owned();
    let far_admin = app.login("far@test.example", "long enough pw").await;
    let auntie = app.resident(&river_admin, "Auntie Zhou").await;
    let far_resident = app.resident(&far_admin, "Uncle Far").await;
    // Riverside: two answered late, one never.
    for (ack, kind) in [(Some(90), "fall"), (Some(200), "sos"), (None, "smoke")] {
        let alert = Known { acknowledged_after: ack, ..known(kind, "high") };
        insert_alert(&app, &river, &auntie, &river_admin_id, alert).await;
    }
    insert_alert(&app, &far, &far_resident, &river_admin_id, known("fall", "critical")).await;
    app.post(
        "/api/v1/supervisors",
        &operator,
        json!({"email": "sup@test.example", "password": "long enough pw", "name": "Civil Affairs", "region": "North"}),
    )
    .await;
    let supervisor = app.login("sup@test.example", "long enough pw").await;

    let body = app.get("/api/v1/cockpit?series=day", &supervisor).await;
    let rows = body["institutions"].as_array().expect("institutions");
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Default institution", "Riverside Care"], "the region's, by name: {body}");
    let river_row = &rows[1];
    assert_eq!(river_row["id"], river.as_str());
    assert_eq!(river_row["alerts"]["total"], 3);
    assert!(close(&river_row["alerts"]["acknowledged_within_60s_pct"], 0.0));
    assert!(close(&river_row["alerts"]["acknowledged_within_180s_pct"], 33.33), "{river_row}");
    assert_eq!(river_row["residents"], json!({"total": 1, "with_open_alerts": 1}));
    assert_eq!(rows[0]["alerts"]["total"], 8);
    let total = &body["total"]["alerts"];
    assert_eq!(total["total"], 11);
    assert_eq!(total["answerable"], 8);
    // 3 of home's 5 and none of Riverside's 3 within 60 s; 4 + 1 within 180 s.
    assert!(close(&total["acknowledged_within_60s_pct"], 37.5), "{total}");
    assert!(close(&total["acknowledged_within_180s_pct"], 62.5), "{total}");
    assert_eq!(body["total"]["residents"]["total"], 3);
    let days: i64 = body["series"].as_array().unwrap().iter().map(|d| d["alerts"]["total"].as_i64().unwrap()).sum();
    assert_eq!(days, 11);
    // Never a person's name, a health detail, or another region's figures.
    let text = body.to_string();
    for secret in
        ["Grandma Li", "Grandpa Wang", "Auntie Zhou", "Uncle Far", "Far Away Home", &far, &home.residents[0], &auntie]
    {
        assert!(!text.contains(secret), "the cockpit shows {secret}");
    }

    // The region's report: a row per institution.
    let r = app.http.get(app.url("/api/v1/cockpit?format=csv")).bearer_auth(&supervisor).send().await.unwrap();
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("institution_id,institution_name,alerts_total,"));
    assert!(lines[2].starts_with(&format!("{river},Riverside Care,3,3,0,33.33,")), "{}", lines[2]);

    // The supervisor's region is theirs, whatever the request says.
    let (status, _) = app.call("GET", &format!("/api/v1/cockpit?institution_id={far}"), Some(&supervisor), None).await;
    assert!(status.is_client_error());

    // On the wall, by a display token: the worst answering institution first.
    let display = app.post("/api/v1/display-tokens", &supervisor, json!({"label": "Civil affairs office"})).await;
    let token = display["token"].as_str().unwrap();
    let browser = Browser::start().await;
    browser.goto(&app.url(&format!("/cockpit/#display={token}"))).await;
    browser.wait_visible("[data-testid=institution-row]").await;
    let rows = browser.find_all("[data-testid=institution-row]").await;
    let mut order = Vec::new();
    for row in &rows {
        order.push(browser.attribute(row, "data-institution-id").await.unwrap_or_default());
    }
    assert_eq!(order, [river.as_str(), home.institution.as_str()], "Riverside answers worst");
    let total = browser.wait_text("[data-testid=region-total]", "the region's total", |t| t.contains("37.5%")).await;
    assert!(total.contains("62.5%"), "{total}");
    browser.wait_text("[data-testid=place-name]", "the region", |t| t == "North").await;
    browser.quit().await;
}

/// How many distinct colours, and the largest share one colour takes, in a
/// PNG screenshot: decoded by the browser itself, sampled on a grid.
async fn colours(browser: &Browser, png_base64: &str) -> (u64, f64) {
    let script = json!({"script": "
        const [data, done] = arguments;
        const img = new Image();
        img.onload = () => {
            const canvas = document.createElement('canvas');
            canvas.width = img.width;
            canvas.height = img.height;
            const ctx = canvas.getContext('2d');
            ctx.drawImage(img, 0, 0);
            const px = ctx.getImageData(0, 0, img.width, img.height).data;
            const seen = new Map();
            let samples = 0;
            for (let y = 0; y < img.height; y += 4) {
                for (let x = 0; x < img.width; x += 4) {
                    const i = (y * img.width + x) * 4;
                    const key = (px[i] << 16) | (px[i + 1] << 8) | px[i + 2];
                    seen.set(key, (seen.get(key) || 0) + 1);
                    samples += 1;
                }
            }
            done([seen.size, Math.max(...seen.values()) / samples]);
        };
        img.onerror = () => done([0, 1]);
        img.src = 'data:image/png;base64,' + data;",
        "args": [png_base64]});
    let answer = browser.cmd(Method::POST, "/execute/async", Some(script)).await.expect("count the colours");
    (answer[0].as_u64().unwrap_or(0), answer[1].as_f64().unwrap_or(1.0))
}

#[tokio::test]
async fn the_cockpit_page_shows_the_figures_live_and_speaks_chinese() {
    let app = TestApp::spawn().await;
    let home = home_with_known_alerts(&app).await;
    let browser = Browser::start().await;
    browser.goto(&app.url("/cockpit")).await;
    browser.type_into("[data-testid=login-email]", ADMIN_EMAIL).await;
    browser.type_into("[data-testid=login-password]", ADMIN_PASSWORD).await;
    browser.click("[data-testid=login-submit]").await;

    // The answering shares against their targets, red when far below.
    let sla60 = "[data-testid=sla-60] [data-testid=value]";
    browser.wait_text(sla60, "60 %", |t| t == "60.0%").await;
    browser.wait_text("[data-testid=sla-180] [data-testid=value]", "80 %", |t| t == "80.0%").await;
    browser.wait_attribute("[data-testid=sla-60]", "data-rag", "red", |r| r == "red").await;
    let note = browser.wait_text("[data-testid=sla-60]", "the target", |t| t.contains("target 97.5%")).await;
    assert!(note.contains("of 5 alerts to answer"), "{note}");
    browser.wait_text("[data-testid=mtta] [data-testid=value]", "51 s", |t| t == "51 s").await;
    browser.wait_text("[data-testid=today-alerts-total]", "today's alert", |t| t == "1").await;
    browser.wait_text("[data-testid=residents-total]", "two residents", |t| t == "2").await;
    // The trends are drawn: a line of the daily shares, bars of the alerts.
    browser.wait_visible("[data-testid=trend-sla] svg polyline[data-testid=line-60]").await;
    assert!(!browser.find_all("[data-testid=trend-alerts] svg rect[data-testid=bar]").await.is_empty());
    browser.wait_attribute("[data-testid=connection]", "data-state", "connected", |s| s == "connected").await;

    // Live: a new SOS reaches the figures without a reload.
    let open = "[data-testid=open-now] [data-testid=value]";
    browser.wait_text(open, "five open", |t| t == "5").await;
    // From the watch's button: the offline button stays offline.
    app.broker.publish("eldercare/v1/watch-on/event", json!({"event": "sos_pressed"}).to_string()).await;
    browser.wait_text(open, "six open", |t| t == "6").await;
    // Waiting for an answer: against the share, 3 of 6 now.
    browser.wait_text(sla60, "50 %", |t| t == "50.0%").await;

    // A screenshot of a page that rendered: many colours, none covering it all.
    let png = browser.cmd(Method::GET, "/screenshot", None).await.expect("screenshot");
    let png = png.as_str().expect("base64 PNG").to_owned();
    let path = std::env::temp_dir().join("cockpit.png");
    browser.screenshot(&path).await;
    let (distinct, largest) = colours(&browser, &png).await;
    assert!(
        distinct >= 8 && largest < 0.95,
        "the cockpit rendered almost nothing: {distinct} colours, one covers {largest}"
    );

    // Chinese, chosen on the page and remembered across a reload.
    browser.click("[data-testid=language] option[value='zh-CN']").await;
    browser.wait_text("[data-testid=sla-60] h2", "Chinese", |t| t == "60 秒内应答").await;
    browser.wait_text("[data-testid=sla-60]", "the target in Chinese", |t| t.contains("目标 97.5%")).await;
    browser.wait_text("[data-testid=today-alerts] h2", "today", |t| t.contains("今日")).await;
    browser.goto(&app.url("/cockpit/")).await;
    browser.wait_text("[data-testid=sla-60] h2", "Chinese after a reload", |t| t == "60 秒内应答").await;
    browser.wait_text(sla60, "the share", |t| t == "50.0%").await;
    let lang = browser
        .cmd(Method::POST, "/execute/sync", Some(json!({"script": "return document.documentElement.lang", "args": []})))
        .await
        .expect("read the page's language");
    assert_eq!(lang, "zh-CN");
    // One choice for both pages: the console speaks Chinese too.
    browser.goto(&app.url("/console/")).await;
    browser.wait_text("[data-testid=login-submit]", "the console in Chinese", |t| t == "登录").await;
    browser.click("[data-testid=language] option[value='en']").await;
    browser.wait_text("[data-testid=login-submit]", "English again", |t| t == "Log in").await;
    assert!(!home.institution.is_empty());
    browser.quit().await;
}

#[tokio::test]
async fn the_cockpit_page_and_its_assets_send_security_headers() {
    let app = TestApp::spawn().await;
    let page = app.http.get(app.url("/cockpit/")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("/cockpit/cockpit.js") && page.contains("/console/i18n.js"));
    assert!(!page.contains("<script>") && !page.contains("<style") && !page.contains(" style="), "inline code");
    for path in ["/cockpit/", "/cockpit/cockpit.js", "/cockpit/cockpit.css", "/console/i18n.js"] {
        let r = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let header = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let csp = header("content-security-policy");
        for directive in ["script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "connect-src 'self'"] {
            assert!(csp.split(';').any(|d| d.trim() == directive), "{path}: {directive} missing in {csp:?}");
        }
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
    }
}
