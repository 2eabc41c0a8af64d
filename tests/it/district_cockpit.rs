//! The district cockpit: a street's two communities with known elders
//! (ages, grades, households, economic status, enrolments), requests made,
//! fulfilled and left unmet, a provider's kitchen and caregivers, an
//! accepted claim and complaints; the exact figures per community, the
//! reach of the bureau and of supervisors, and no person in the answer. Then
//! the page: the map of the communities, coloured by the chosen measure, in
//! English and Chinese, opened down to a street and a community and back.
//!
//! The registry and its history are seeded directly: what is under test is
//! what the cockpit makes of them.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::console::Browser;
use crate::registry::{division_user, ladder};
use crate::support::TestApp;

const LOTUS: &str = "330205001001";
const MAPLE: &str = "330205001002";

/// An elder of `age` (her birthday ten days ago) in `division`.
async fn elder(app: &TestApp, division: &str, age: i32, household: &str, economic: Option<&str>) -> Uuid {
    let id = Uuid::new_v4();
    sqlx::query(
        "insert into residents (id, institution_id, name, timezone, division, household, economic_status, birth_date)
         select $1, id, 'Elder ' || $1::text, 'Asia/Shanghai', $2, $3, $4,
                (current_date - make_interval(years => $5, days => 10))::date
         from institutions order by created_at limit 1",
    )
    .bind(id)
    .bind(division)
    .bind(household)
    .bind(economic)
    .bind(age)
    .execute(&app.pool)
    .await
    .unwrap();
    id
}

async fn graded(app: &TestApp, resident: Uuid, grade: i32) {
    sqlx::query(
        "insert into assessments (id, resident_id, scale, items, total, grade, grade_label, assessed_at, valid_until)
         values (gen_random_uuid(), $1, 'barthel', '{}', 0, $2, 'graded', now(), current_date + 700)",
    )
    .bind(resident)
    .bind(grade)
    .execute(&app.pool)
    .await
    .unwrap();
}

/// A request for `code` made `hours_ago`, in `status`; fulfilled (its visit
/// completed) `done_hours_ago` when given.
async fn request(app: &TestApp, resident: Uuid, code: &str, status: &str, hours_ago: i32, done_hours_ago: Option<i32>) {
    let visit = match done_hours_ago {
        Some(done) => {
            let visit = Uuid::new_v4();
            sqlx::query(
                "insert into visits (id, institution_id, resident_id, service_id, funding, origin, status,
                                     scheduled_start, check_in_at, check_out_at)
                 select $1, s.institution_id, $2, s.id, 'self_pay', 'request', 'completed',
                        now() - make_interval(hours => $3 + 1), now() - make_interval(hours => $3 + 1),
                        now() - make_interval(hours => $3)
                 from services s order by s.code limit 1",
            )
            .bind(visit)
            .bind(resident)
            .bind(done)
            .execute(&app.pool)
            .await
            .unwrap();
            Some(visit)
        }
        None => None,
    };
    sqlx::query(
        "insert into service_requests (id, resident_id, service_code, requested_role, status, offer_institution_id,
                                       accept_by, offer_seconds, provider_institution_id, visit_id, created_at)
         select gen_random_uuid(), $1, $2, 'family', $3,
                case when $3 = 'offered' then i.id end, case when $3 = 'offered' then now() + interval '1 hour' end,
                1800, case when $3 = 'accepted' then i.id end, $4, now() - make_interval(hours => $5)
         from institutions i order by i.created_at limit 1",
    )
    .bind(resident)
    .bind(code)
    .bind(status)
    .bind(visit)
    .bind(hours_ago)
    .execute(&app.pool)
    .await
    .unwrap();
}

/// A complaint about `resident` (or, with none, about `institution` only).
async fn complaint(app: &TestApp, resident: Option<Uuid>, institution: Uuid, state: &str) {
    let (status, respond_by, outcome) = match state {
        "open" => ("open", "now() + interval '2 days'", "null"),
        "overdue" => ("open", "now() - interval '1 hour'", "null"),
        _ => ("closed", "now() - interval '1 day'", "'upheld'"),
    };
    let statement = format!(
        "insert into complaints (id, resident_id, institution_id, category, text, status, respond_by, filed_role,
                                 outcome, closed_at)
         values (gen_random_uuid(), $1, $2, 'no_show', 'nobody came', '{status}', {respond_by}, 'family',
                 {outcome}, case when {outcome} is not null then now() end)"
    );
    sqlx::query(sqlx::AssertSqlSafe(statement)).bind(resident).bind(institution).execute(&app.pool).await.unwrap();
}

/// One accepted and one rejected claim line of this month for `resident`.
async fn claims(app: &TestApp, resident: Uuid, institution: Uuid) {
    let claim = Uuid::new_v4();
    sqlx::query(
        "insert into claims (id, institution_id, payer, month, status, claimed_fen)
         values ($1, $2, 'ltc_insurance', date_trunc('month', now())::date, 'submitted', 9000)",
    )
    .bind(claim)
    .bind(institution)
    .execute(&app.pool)
    .await
    .unwrap();
    for (fen, decision) in [(4500_i64, "accepted"), (4500, "rejected")] {
        let line = Uuid::new_v4();
        sqlx::query(
            "insert into bill_lines (id, institution_id, resident_id, kind, ref, date, month, service, minutes,
                                     amount_fen, payer, payer_fen, elder_fen, over_quota)
             values ($1, $2, $3, 'visit', gen_random_uuid(), current_date, date_trunc('month', now())::date,
                     'HC-BATH', 60, $4 + 500, 'ltc_insurance', $4, 500, false)",
        )
        .bind(line)
        .bind(institution)
        .bind(resident)
        .bind(fen)
        .execute(&app.pool)
        .await
        .unwrap();
        sqlx::query(
            "insert into claim_lines (id, claim_id, bill_line_id, attempt, status, reason)
             values (gen_random_uuid(), $1, $2, 1, $3, case when $3 = 'rejected' then 'not delivered' end)",
        )
        .bind(claim)
        .bind(line)
        .bind(decision)
        .execute(&app.pool)
        .await
        .unwrap();
    }
}

fn square(lon: f64, lat: f64) -> Value {
    let d = 0.02;
    json!({"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]]})
}

/// The street 330205001 with two communities: Lotus (with its grid) and
/// Maple; the elders, their requests, a provider placed in Lotus, claims and
/// complaints. Answers the operator's token and the elders' ids and names.
async fn district(app: &TestApp) -> (String, Vec<String>) {
    let operator = app.operator_token().await;
    ladder(app, &operator).await;
    let body = json!({"code": MAPLE, "name": "Maple", "level": "community"});
    assert_eq!(app.call("POST", "/api/v1/divisions", Some(&operator), Some(body)).await.0, StatusCode::CREATED);
    for (code, lon) in [(LOTUS, 121.50), (MAPLE, 121.52)] {
        let path = format!("/api/v1/divisions/{code}/boundary");
        let (status, answer) = app.call("PUT", &path, Some(&operator), Some(square(lon, 29.86))).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }

    // Lotus: 65, 72, 85 (in its grid) and 93; three living alone.
    let a1 = elder(app, LOTUS, 65, "alone", Some("dibao")).await;
    let a2 = elder(app, LOTUS, 72, "alone", Some("none")).await;
    let a3 = elder(app, &format!("{LOTUS}001"), 85, "with_spouse", Some("low_income")).await;
    let a4 = elder(app, LOTUS, 93, "alone", None).await;
    // Maple: 55, 61 and 78; one alone; one who died, counted nowhere.
    let b1 = elder(app, MAPLE, 61, "alone", Some("tekun")).await;
    let b2 = elder(app, MAPLE, 78, "with_family", Some("tekun")).await;
    let b3 = elder(app, MAPLE, 55, "with_family", None).await;
    let gone = elder(app, MAPLE, 90, "alone", Some("dibao")).await;
    sqlx::query(
        "insert into resident_status (resident_id, status, from_at) values ($1, 'deceased', now() - interval '1 day')",
    )
    .bind(gone)
    .execute(&app.pool)
    .await
    .unwrap();
    // One registered at the street itself: in the street's count, in
    // neither community's.
    let street_only = elder(app, "330205001", 80, "alone", Some("dibao")).await;
    // Her grade is her latest assessment still valid: a1 was graded 4 a
    // year ago, and 1 since.
    sqlx::query(
        "insert into assessments (id, resident_id, scale, items, total, grade, grade_label, assessed_at, valid_until)
         values (gen_random_uuid(), $1, 'barthel', '{}', 0, 4, 'graded', now() - interval '1 year', current_date + 300)",
    )
    .bind(a1)
    .execute(&app.pool)
    .await
    .unwrap();
    graded(app, a1, 1).await;
    graded(app, a2, 3).await;
    graded(app, b1, 2).await;
    graded(app, street_only, 4).await;
    let home: Uuid = sqlx::query_scalar("select id from institutions order by created_at limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let canteen: Uuid = sqlx::query_scalar(
        "insert into institutions (id, name, kind, region, timezone)
         values (gen_random_uuid(), 'Lotus canteen', 'community_center', 'Haishu', 'Asia/Shanghai') returning id",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    // a2 has her meals from two providers: one elder enrolled for meals.
    for (resident, institution, services) in [
        (a1, home, "{home_care,meals}"),
        (a2, home, "{home_care,meals}"),
        (a2, canteen, "{meals}"),
        (b1, home, "{monitoring}"),
        (street_only, home, "{meals}"),
    ] {
        sqlx::query(
            "insert into enrolments (id, resident_id, institution_id, services, origin)
             values (gen_random_uuid(), $1, $2, $3::text[], 'registration')",
        )
        .bind(resident)
        .bind(institution)
        .bind(services)
        .execute(&app.pool)
        .await
        .unwrap();
    }

    // Lotus: a bath done in 26 hours, one no provider took, a clean in 10.
    request(app, a1, "HC-BATH", "accepted", 30, Some(4)).await;
    request(app, a2, "HC-BATH", "unmatched", 20, None).await;
    request(app, a3, "HC-CLEAN", "accepted", 12, Some(2)).await;
    // Maple: one unmet, one still offered; one too old to count.
    request(app, b1, "HC-BATH", "unmatched", 5, None).await;
    request(app, b2, "HC-BATH", "offered", 1, None).await;
    request(app, b2, "HC-CLEAN", "unmatched", 24 * 40, None).await;

    // A provider placed in Lotus: one kitchen, two caregivers (and one disabled).
    let provider = app
        .post(
            "/api/v1/institutions",
            &operator,
            json!({"name": "Lotus Care", "kind": "home_care", "region": "East", "timezone": "Asia/Shanghai"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let place = json!({"division": LOTUS, "service_area": [LOTUS]});
    let (status, answer) =
        app.call("PATCH", &format!("/api/v1/institutions/{provider}"), Some(&operator), Some(place)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let admin_body =
        json!({"email": "lotus@district.example", "password": "long enough pw", "name": "Lotus", "role": "admin"});
    app.post(&format!("/api/v1/institutions/{provider}/users"), &operator, admin_body).await;
    let lotus_admin = app.login("lotus@district.example", "long enough pw").await;
    for n in 0..3 {
        let body = json!({"email": format!("carer{n}@lotus.example"), "password": "long enough pw",
                          "name": format!("Carer {n}"), "role": "caregiver"});
        let id = app.post("/api/v1/users", &lotus_admin, body).await["id"].as_str().unwrap().to_owned();
        if n == 2 {
            let (status, _) = app
                .call("PATCH", &format!("/api/v1/users/{id}"), Some(&lotus_admin), Some(json!({"disabled": true})))
                .await;
            assert_eq!(status, StatusCode::OK);
        }
    }
    let (status, answer) =
        app.call("POST", "/api/v1/kitchens", Some(&lotus_admin), Some(json!({"name": "Lotus canteen"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let provider: Uuid = provider.parse().unwrap();

    claims(app, a1, provider).await;
    // Lotus: one waiting, one overdue, one naming no elder (the provider's); Maple: one upheld.
    complaint(app, Some(a1), home, "open").await;
    complaint(app, Some(a2), home, "overdue").await;
    complaint(app, None, provider, "open").await;
    complaint(app, Some(b1), home, "upheld").await;

    let mut secrets: Vec<String> = [a1, a2, a3, a4, b1, b2, b3, gone].iter().map(Uuid::to_string).collect();
    secrets.extend(secrets.clone().iter().map(|id| format!("Elder {id}")));
    (operator, secrets)
}

fn child<'a>(answer: &'a Value, code: &str) -> &'a Value {
    answer["children"].as_array().unwrap().iter().find(|c| c["code"] == code).unwrap_or_else(|| panic!("{code}"))
}

#[tokio::test]
async fn the_bureau_reads_its_street_per_community_with_exact_figures_and_no_person() {
    let app = TestApp::spawn().await;
    let (operator, secrets) = district(&app).await;
    let bureau = division_user(&app, &operator, "civil_affairs", "330205001").await;

    // The bureau's own street by default.
    let (status, answer) = app.call("GET", "/api/v1/cockpit/district", Some(&bureau), None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["division"], json!({"code": "330205001", "name": "Division 330205001", "level": "street"}));
    assert_eq!(answer["window_days"], 30);
    let codes: Vec<&str> = answer["children"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap()).collect();
    assert_eq!(codes, [LOTUS, MAPLE]);

    let lotus = child(&answer, LOTUS);
    assert_eq!(lotus["name"], "Division 330205001001");
    assert_eq!(lotus["level"], "community");
    assert_eq!(lotus["boundary"]["type"], "Polygon");
    assert_eq!(lotus["elders"], 4);
    assert_eq!(
        lotus["by_age_band"],
        json!({"under_60": 0, "60-69": 1, "70-79": 1, "80-89": 1, "90+": 1, "unknown": 0})
    );
    assert_eq!(lotus["by_grade"], json!({"0": 0, "1": 1, "2": 0, "3": 1, "4": 0, "none": 2}));
    assert_eq!(lotus["living_alone"], 3);
    assert_eq!(lotus["by_economic_status"], json!({"none": 1, "low_income": 1, "dibao": 1, "tekun": 0, "unknown": 1}));
    assert_eq!(lotus["enrolled_by_service"]["home_care"], 2);
    assert_eq!(lotus["enrolled_by_service"]["meals"], 2);
    assert_eq!(lotus["enrolled_by_service"]["monitoring"], 0);
    assert_eq!(
        lotus["requests"],
        json!({"made": 3, "fulfilled": 2, "unmet": 1, "median_hours_to_fulfil": 18.0, "by_service": [
            {"service_code": "HC-BATH", "made": 2, "fulfilled": 1, "unmet": 1},
            {"service_code": "HC-CLEAN", "made": 1, "fulfilled": 1, "unmet": 0},
        ]})
    );
    assert_eq!(lotus["kitchens"], 1);
    assert_eq!(lotus["kitchens_per_1000_elders"], 250.0);
    assert_eq!(lotus["caregivers"], 2);
    assert_eq!(lotus["caregivers_per_1000_elders"], 500.0);
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    assert_eq!(
        lotus["claims_accepted"],
        json!([{"payer": "ltc_insurance", "month": month, "lines": 1, "amount": 45.00}])
    );
    assert_eq!(lotus["complaints"], json!({"open": 2, "overdue": 1, "upheld": 0}));

    let maple = child(&answer, MAPLE);
    assert_eq!(maple["elders"], 3, "the elder who died is counted nowhere");
    assert_eq!(
        maple["by_age_band"],
        json!({"under_60": 1, "60-69": 1, "70-79": 1, "80-89": 0, "90+": 0, "unknown": 0})
    );
    assert_eq!(maple["by_grade"], json!({"0": 0, "1": 0, "2": 1, "3": 0, "4": 0, "none": 2}));
    assert_eq!(maple["living_alone"], 1);
    assert_eq!(maple["by_economic_status"]["tekun"], 2);
    assert_eq!(maple["by_economic_status"]["unknown"], 1);
    assert_eq!(maple["enrolled_by_service"]["monitoring"], 1);
    assert_eq!(
        maple["requests"],
        json!({"made": 2, "fulfilled": 0, "unmet": 1, "median_hours_to_fulfil": null, "by_service": [
            {"service_code": "HC-BATH", "made": 2, "fulfilled": 0, "unmet": 1},
        ]})
    );
    assert_eq!(maple["kitchens"], 0);
    assert_eq!(maple["kitchens_per_1000_elders"], 0.0);
    assert_eq!(maple["caregivers_per_1000_elders"], 0.0);
    assert_eq!(maple["claims_accepted"], json!([]));
    assert_eq!(maple["complaints"], json!({"open": 0, "overdue": 0, "upheld": 1}));

    // What the street asks for and does not get: baths first.
    assert_eq!(
        answer["hot_issues"],
        json!([
            {"service_code": "HC-BATH", "made": 4, "fulfilled": 1, "unmet": 2},
            {"service_code": "HC-CLEAN", "made": 1, "fulfilled": 1, "unmet": 0},
        ])
    );

    // Counts only: no elder's id or name, no date of birth.
    let text = answer.to_string();
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "the cockpit shows {secret}");
    }
    let born: Vec<String> = sqlx::query_scalar("select birth_date::text from residents where birth_date is not null")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    for day in born {
        assert!(!text.contains(&day), "the cockpit shows a date of birth {day}");
    }

    // Down to a community (its grid), and named explicitly the same street.
    let (status, down) =
        app.call("GET", &format!("/api/v1/cockpit/district?division={LOTUS}"), Some(&bureau), None).await;
    assert_eq!(status, StatusCode::OK, "{down}");
    assert_eq!(down["children"][0]["code"], format!("{LOTUS}001"));
    assert_eq!(down["children"][0]["elders"], 1);
    assert_eq!(down["children"][0]["boundary"], Value::Null);
    let (_, named) = app.call("GET", "/api/v1/cockpit/district?division=330205001", Some(&bureau), None).await;
    assert_eq!(named["children"], answer["children"]);

    // Above or beside the bureau's street: as if it did not exist.
    for outside in ["330205", "330205002", "330206", "999999"] {
        let path = format!("/api/v1/cockpit/district?division={outside}");
        assert_eq!(app.call("GET", &path, Some(&bureau), None).await.0, StatusCode::NOT_FOUND, "{outside}");
    }
    let (status, _) = app.call("GET", "/api/v1/cockpit/district?division=33020", Some(&bureau), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_supervisor_reads_their_district_and_never_another() {
    let app = TestApp::spawn().await;
    let (operator, _) = district(&app).await;
    let body = json!({"code": "330206", "name": "Jiangbei", "level": "district"});
    assert_eq!(app.call("POST", "/api/v1/divisions", Some(&operator), Some(body)).await.0, StatusCode::CREATED);
    let supervisors = [
        supervisor(&app, &operator, "haishu@sup.example", "330205").await,
        supervisor(&app, &operator, "jiangbei@sup.example", "330206").await,
    ];

    // Haishu's supervisor: the district's two streets, the first with all
    // eight living elders (one registered at the street itself), three of
    // them enrolled for meals.
    let (status, answer) = app.call("GET", "/api/v1/cockpit/district", Some(&supervisors[0]), None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["children"][0]["code"], "330205001");
    assert_eq!(answer["children"][0]["elders"], 8);
    assert_eq!(answer["children"][0]["by_grade"], json!({"0": 0, "1": 1, "2": 1, "3": 1, "4": 1, "none": 4}));
    assert_eq!(answer["children"][0]["enrolled_by_service"]["meals"], 3);
    assert_eq!(answer["children"][0]["requests"]["made"], 5);
    assert_eq!(answer["children"][1]["elders"], 0);
    assert_eq!(answer["children"][1]["requests"]["median_hours_to_fulfil"], Value::Null);
    let (status, _) = app.call("GET", "/api/v1/cockpit/district?division=330205001", Some(&supervisors[0]), None).await;
    assert_eq!(status, StatusCode::OK);

    // Jiangbei's supervisor: Haishu is not there for them.
    for division in ["330205", "330205001", "330205001001"] {
        let path = format!("/api/v1/cockpit/district?division={division}");
        let (status, body) = app.call("GET", &path, Some(&supervisors[1]), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{division}: {body}");
    }
    let (status, own) = app.call("GET", "/api/v1/cockpit/district", Some(&supervisors[1]), None).await;
    assert_eq!(status, StatusCode::OK, "{own}");
    assert_eq!(own["children"], json!([]));

    // An institution's admin has no district cockpit.
    let admin = app.admin_token().await;
    assert_eq!(app.call("GET", "/api/v1/cockpit/district", Some(&admin), None).await.0, StatusCode::FORBIDDEN);
}

/// A supervisor of the district placed there by the operator; answers the token.
async fn supervisor(app: &TestApp, operator: &str, email: &str, division: &str) -> String {
    let body = json!({"email": email, "password": "long enough pw", "name": "Sup", "region": "Somewhere"});
    let id = app.post("/api/v1/supervisors", operator, body).await["id"].as_str().unwrap().to_owned();
    let (status, answer) =
        app.call("PATCH", &format!("/api/v1/users/{id}"), Some(operator), Some(json!({"division": division}))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    app.login(email, "long enough pw").await
}

#[tokio::test]
async fn the_cockpit_page_draws_the_district_as_a_map_coloured_by_the_measure_in_both_languages() {
    let app = TestApp::spawn().await;
    let (operator, secrets) = district(&app).await;
    // Three streets, two with a boundary.
    let body = json!({"code": "330205003", "name": "Quay Street", "level": "street"});
    assert_eq!(app.call("POST", "/api/v1/divisions", Some(&operator), Some(body)).await.0, StatusCode::CREATED);
    for (code, lon) in [("330205001", 121.50), ("330205002", 121.53)] {
        let path = format!("/api/v1/divisions/{code}/boundary");
        assert_eq!(app.call("PUT", &path, Some(&operator), Some(square(lon, 29.86))).await.0, StatusCode::OK);
    }
    supervisor(&app, &operator, "haishu@sup.example", "330205").await;

    let browser = Browser::start().await;
    browser.goto(&app.url("/cockpit")).await;
    browser.type_into("[data-testid=login-email]", "haishu@sup.example").await;
    browser.type_into("[data-testid=login-password]", "long enough pw").await;
    browser.click("[data-testid=login-submit]").await;
    browser.wait_visible("[data-testid=tab-district]").await;
    browser.click("[data-testid=tab-district]").await;
    browser.wait_visible("[data-testid=district-map]").await;
    browser.wait_attribute("[data-testid=tab-district]", "aria-pressed", "pressed", |v| v == "true").await;
    let tabs = browser
        .script(
            "return [document.querySelector('[data-testid=tab-scores]').hidden, \
             document.querySelector('[data-testid=tab-inspections]').hidden]",
        )
        .await;
    assert_eq!(tabs, json!([false, true]), "a supervisor reads the scores; inspections are the bureau's");

    // One region per street with a boundary, coloured by its elders: eight and none.
    // Read in one script: the cockpit's automatic refresh may draw the map
    // again between two reads of a region.
    let drawn = browser
        .script(
            "return Array.from(document.querySelectorAll('[data-testid=district-map] path[data-testid=region]'))
               .map((p) => [p.getAttribute('data-code'), p.getAttribute('fill'), p.getAttribute('tabindex')])",
        )
        .await;
    let drawn = drawn.as_array().expect("the regions");
    assert_eq!(drawn.len(), 2, "{drawn:?}");
    let mut fills = Vec::new();
    for region in drawn {
        let text = |i: usize| region[i].as_str().unwrap_or_default().to_owned();
        fills.push((text(0), text(1)));
        assert_eq!(region[2].as_str(), Some("0"), "keyboard focusable: {region}");
    }
    assert_eq!(fills[0].0, "330205001");
    assert_ne!(fills[0].1, fills[1].1, "the colours differ by value: {fills:?}");
    // A region in focus tells its name and value.
    browser.script("document.querySelector('[data-testid=region][data-code=\"330205001\"]').focus()").await;
    browser.wait_text("[data-testid=region-info]", "the focused street", |t| t == "Division 330205001: 8").await;
    // Every street in the table, the one with no boundary too.
    assert_eq!(browser.find_all("[data-testid=district-row]").await.len(), 3);
    browser.wait_text("[data-testid=hot-issues]", "the unmet baths", |t| t.contains("HC-BATH")).await;

    // By unmet requests: Harbour's two against none.
    browser.click("[data-testid=district-measure] option[value=unmet]").await;
    let harbour = "[data-testid=region][data-code='330205001']";
    browser.wait_attribute(harbour, "aria-label", "unmet", |t| t == "Division 330205001: 2").await;
    let title = browser.script("return document.querySelector(\"[data-code='330205001'] title\").textContent").await;
    assert_eq!(title, "Division 330205001: 2", "hovering shows it too");

    // Down into the street, from the keyboard: its two communities, Lotus
    // and Maple, with the API's figures, and the way back up.
    browser.type_into(harbour, "\u{e007}").await;
    browser.wait_text("[data-testid=district-title]", "the street", |t| t.starts_with("Division 330205001 ·")).await;
    let codes = browser
        .script(
            "return Array.from(document.querySelectorAll('[data-testid=district-map] path[data-testid=region]'))
               .map((p) => p.getAttribute('data-code'))",
        )
        .await;
    assert_eq!(codes, json!([LOTUS, MAPLE]));
    let lotus = format!("[data-testid=region][data-code='{LOTUS}']");
    browser.wait_attribute(&lotus, "aria-label", "Lotus's unmet", |t| t == "Division 330205001001: 1").await;
    let maple = format!("[data-testid=region][data-code='{MAPLE}']");
    browser.wait_attribute(&maple, "aria-label", "Maple's unmet", |t| t == "Maple: 1").await;
    // The table's columns: elders, four age bands, living alone, grade 3-4.
    let figures = |code: &str| {
        format!(
            "return [1, 6, 7].map((n) => document.querySelector(\
             \"[data-testid=district-row][data-code='{code}'] td:nth-of-type(\" + n + ')').textContent)"
        )
    };
    assert_eq!(browser.script(&figures(LOTUS)).await, json!(["4", "3", "1"]), "Lotus");
    assert_eq!(browser.script(&figures(MAPLE)).await, json!(["3", "1", "0"]), "Maple");
    browser
        .wait_text("[data-testid=district-breadcrumb] [aria-current=page]", "where", |t| t == "Division 330205001")
        .await;
    // A community opens too, from its row: its one grid.
    browser.click(&format!("[data-testid=district-row][data-code='{LOTUS}'] [data-testid=district-open]")).await;
    browser.wait_text("[data-testid=district-title]", "Lotus", |t| t.starts_with("Division 330205001001 ·")).await;
    let grid = format!("[data-testid=district-row][data-code='{LOTUS}001']");
    browser.wait_text(&format!("{grid} td"), "the grid's one elder", |t| t == "1").await;
    assert!(browser.find(&format!("{grid} [data-testid=district-open]")).await.is_err(), "a grid opens nothing");
    let trail = browser
        .script(
            "return [...document.querySelectorAll('[data-testid=district-breadcrumb] li')].map((li) => li.textContent)",
        )
        .await;
    assert_eq!(trail, json!(["Division 330205", "Division 330205001", "Division 330205001001"]));
    browser.screenshot(&std::env::temp_dir().join("district-cockpit-community.png")).await;
    // Back to the supervisor's district in one step.
    browser.click("[data-testid=district-up][data-code='330205']").await;
    browser.wait_text("[data-testid=district-title]", "the district", |t| t.starts_with("Division 330205 ·")).await;
    browser.wait_gone("[data-testid=district-breadcrumb]").await;
    let bare = browser
        .script("return [...document.querySelector('[data-testid=district-view]').childNodes].some((n) => n.nodeType !== 1)")
        .await;
    assert_eq!(bare, json!(false), "nothing but elements in the view");
    assert_eq!(browser.find_all("[data-testid=district-row]").await.len(), 3);
    browser.wait_attribute(harbour, "aria-label", "unmet still the measure", |t| t == "Division 330205001: 2").await;

    // Chinese: the labels change, the map stays.
    browser.click("[data-testid=language] option[value='zh-CN']").await;
    browser.wait_text("[data-testid=tab-district]", "the tab in Chinese", |t| t == "辖区地图").await;
    browser.wait_text(".map h3", "the measure in Chinese", |t| t == "未满足的需求").await;
    browser.wait_text("[data-testid=district-title]", "the title in Chinese", |t| t.contains("分区情况")).await;
    assert_eq!(browser.find_all("[data-testid=district-map] path[data-testid=region]").await.len(), 2);
    browser.screenshot(&std::env::temp_dir().join("district-cockpit.png")).await;

    let text = browser.script("return document.body.innerText").await.to_string();
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "the page shows {secret}");
    }

    // The bureau of the street: its communities' map at once, and nothing of the service figures.
    division_user(&app, &operator, "civil_affairs", "330205001").await;
    browser.click("[data-testid=logout]").await;
    browser.wait_visible("[data-testid=login-form]").await;
    browser.type_into("[data-testid=login-email]", "civil_affairs-330205001@district.example").await;
    browser.type_into("[data-testid=login-password]", "long enough pw").await;
    browser.click("[data-testid=login-submit]").await;
    browser.wait_visible("[data-testid=district-map]").await;
    let codes = browser.find_all("[data-testid=district-map] path[data-testid=region]").await;
    assert_eq!(codes.len(), 2, "Lotus and Maple");
    let hidden = browser
        .script(
            "return [document.querySelector('[data-testid=tab-service]').hidden, \
             document.querySelector('[data-testid=service-view]').hidden, \
             document.querySelector('[data-testid=error]').hidden, \
             document.querySelector('[data-testid=tab-inspections]').hidden]",
        )
        .await;
    assert_eq!(hidden, json!([true, true, true, false]), "no service figures, no error; its inspections");
    browser.quit().await;
}
