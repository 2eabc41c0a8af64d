//! The district's registry: one record per elder, whoever registers them
//! first; a second institution enrols the same elder for its services and
//! reaches what they grant, nothing more, until the enrolment ends; the
//! civil-affairs bureau and grid workers reach the elders of their division.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, wait_for};

/// An id number with the check digit GB 11643 gives it.
pub(crate) fn id_number(body17: &str) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let sum: u32 = body17.bytes().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    format!("{body17}{}", CHECK[(sum % 11) as usize] as char)
}

/// An institution of `kind` in `division`, with its admin logged in.
pub(crate) async fn institution(
    app: &TestApp,
    operator: &str,
    name: &str,
    kind: &str,
    division: &str,
) -> (String, String) {
    let created = app
        .post("/api/v1/institutions", operator, json!({"name": name, "kind": kind, "timezone": "Asia/Shanghai"}))
        .await;
    let id = created["id"].as_str().expect("an institution").to_owned();
    let (status, body) = app
        .call("PATCH", &format!("/api/v1/institutions/{id}"), Some(operator), Some(json!({"division": division})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["division"], division);
    let email = format!("admin@{}.example", name.to_lowercase().replace(' ', "-"));
    let admin = json!({"email": email, "password": "long enough pw", "name": "Admin", "role": "admin"});
    let (status, _) = app.call("POST", &format!("/api/v1/institutions/{id}/users"), Some(operator), Some(admin)).await;
    assert_eq!(status, StatusCode::CREATED);
    (id, app.login(&email, "long enough pw").await)
}

/// A user bound to a division, made by `by`, logged in.
pub(crate) async fn division_user(app: &TestApp, by: &str, role: &str, division: &str) -> String {
    let email = format!("{role}-{division}@district.example");
    let body = json!({"email": email, "password": "long enough pw", "name": role, "role": role, "division": division});
    let (status, answer) = app.call("POST", "/api/v1/users", Some(by), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    app.login(&email, "long enough pw").await
}

/// A district with two streets, the first down to a community and a grid.
pub(crate) async fn ladder(app: &TestApp, operator: &str) {
    for (code, level) in [
        ("330205", "district"),
        ("330205001", "street"),
        ("330205001001", "community"),
        ("330205001001001", "grid"),
        ("330205002", "street"),
    ] {
        let body = json!({"code": code, "name": format!("Division {code}"), "level": level});
        let (status, answer) = app.call("POST", "/api/v1/divisions", Some(operator), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
}

/// Registers an elder already on the registry: answered 409
/// `already_registered` with their id, which the institution may enrol.
async fn register_again(app: &TestApp, token: &str, registration: &Value) -> String {
    let (status, body) = app.call("POST", "/api/v1/residents", Some(token), Some(registration.clone())).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "already_registered");
    body["error"]["resident_id"].as_str().expect("the elder's id").to_owned()
}

async fn status_of(app: &TestApp, token: &str, path: &str) -> StatusCode {
    app.call("GET", path, Some(token), None).await.0
}

#[tokio::test]
async fn one_elder_many_providers_each_reaching_what_its_services_grant() {
    let app = TestApp::spawn().await;
    let operator = app.operator_token().await;
    ladder(&app, &operator).await;
    let (_, home) = institution(&app, &operator, "Home Care East", "home_care", "330205001").await;
    let (canteen_id, canteen) = institution(&app, &operator, "Canteen West", "canteen", "330205001001").await;

    // A supervisor of a division oversees the institutions placed in it or under it.
    for (email, division, expected) in [
        ("sup-a@x.example", "330205001", vec!["Canteen West", "Home Care East"]),
        ("sup-b@x.example", "330205002", vec![]),
    ] {
        let body = json!({"email": email, "password": "long enough pw", "name": "Sup", "division": division});
        let (status, answer) = app.call("POST", "/api/v1/supervisors", Some(&operator), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        let supervisor = app.login(email, "long enough pw").await;
        let seen = app.get("/api/v1/institutions", &supervisor).await;
        let names: Vec<&str> =
            seen["institutions"].as_array().unwrap().iter().filter_map(|i| i["name"].as_str()).collect();
        assert_eq!(names, expected, "{division}");
        if division == "330205001" {
            // Moved by the operator to the other street: what they oversee
            // follows at their next request; a staff member's division is
            // not the operator's to set, nor a grid a street.
            let user = format!("/api/v1/users/{}", answer["id"].as_str().unwrap());
            let (status, moved) =
                app.call("PATCH", &user, Some(&operator), Some(json!({"division": "330205002"}))).await;
            assert_eq!(status, StatusCode::OK, "{moved}");
            let seen = app.get("/api/v1/institutions", &supervisor).await;
            assert_eq!(seen["institutions"], json!([]), "{seen}");
            let (status, _) = app.call("PATCH", &user, Some(&operator), Some(json!({"division": "330299"}))).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "no such division");
            let (status, _) = app.call("PATCH", &user, Some(&home), Some(json!({"division": "330205001"}))).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "an admin places no division account");
        }
    }

    // The home-care provider registers her, with her id number: answered
    // masked, with the date of birth and gender it holds and her age.
    let number = id_number("33020519450312002");
    let bad = format!("{}{}", &number[..17], if number.ends_with('1') { '2' } else { '1' });
    let (status, body) =
        app.call("POST", "/api/v1/residents", Some(&home), Some(json!({"name": "Wang Fang", "id_number": bad}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "id_number");
    let registration = json!({"name": "Wang Fang", "id_number": number, "division": "330205001001001",
        "household": "alone", "economic_status": "dibao", "phone": "138 0000 0000"});
    let (status, wang) = app.call("POST", "/api/v1/residents", Some(&home), Some(registration.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{wang}");
    let rid = wang["id"].as_str().unwrap().to_owned();
    assert_eq!(wang["id_number"], format!("330205********{}", &number[14..]));
    assert!(!wang.to_string().contains(&number), "the id number is never answered whole");
    assert_eq!((wang["birth_date"].as_str(), wang["gender"].as_str()), (Some("1945-03-12"), Some("female")));
    assert!(wang["age"].as_i64().is_some_and(|age| age >= 80), "{wang}");
    assert_eq!(wang["phone"], "13800000000");
    let stored: i64 =
        app.count(&format!("select count(*) from residents where id_number_sealed like '%{}%'", &number[6..14])).await;
    assert_eq!(stored, 0, "stored sealed");
    let sos = app.device(&home, json!({"device_id": "sos-wang", "resident_id": rid, "kind": "sos_button"})).await;
    assert_eq!(sos["device_id"], "sos-wang");

    // The canteen registering the same elder is told she exists, and who.
    let (status, body) = app.call("POST", "/api/v1/residents", Some(&canteen), Some(registration)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "already_registered");
    assert_eq!(body["error"]["resident_id"], rid.as_str());
    // Before it enrols her, she is a stranger to it.
    assert_eq!(status_of(&app, &canteen, &format!("/api/v1/residents/{rid}")).await, StatusCode::NOT_FOUND);

    // It enrols her for meals, on her family's written consent.
    let enrol =
        json!({"services": ["meals"], "consent": {"by": "family", "method": "written", "at": "2026-12-01T09:00:00Z"}});
    let path = format!("/api/v1/residents/{rid}/enrolments");
    let (status, enrolment) = app.call("POST", &path, Some(&canteen), Some(enrol.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{enrolment}");
    assert_eq!(
        (enrolment["institution_id"].as_str(), enrolment["until"].clone()),
        (Some(canteen_id.as_str()), Value::Null)
    );
    assert_eq!(enrolment["services"], json!(["meals"]));
    let (status, _) = app.call("POST", &path, Some(&canteen), Some(enrol)).await;
    assert_eq!(status, StatusCode::CONFLICT, "enrolled already");
    let enrolments = app.get(&path, &home).await;
    assert_eq!(enrolments["enrolments"].as_array().unwrap().len(), 2, "{enrolments}");

    // The canteen reads who she is and her meal plan; her readings, devices,
    // alerts and care plan answer as for a stranger.
    assert_eq!(status_of(&app, &canteen, &format!("/api/v1/residents/{rid}")).await, StatusCode::OK);
    assert_eq!(status_of(&app, &canteen, &format!("/api/v1/residents/{rid}/meal-plan")).await, StatusCode::OK);
    let readings = format!("/api/v1/residents/{rid}/readings?metric=heart_rate");
    for path in [
        readings.clone(),
        format!("/api/v1/residents/{rid}/care-plan"),
        format!("/api/v1/residents/{rid}/rule-settings"),
    ] {
        assert_eq!(status_of(&app, &canteen, &path).await, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(status_of(&app, &home, &readings).await, StatusCode::OK);
    app.broker.publish("eldercare/v1/sos-wang/event", json!({"event": "sos_pressed"}).to_string()).await;
    let alert = wait_for("her SOS alert, to the monitoring provider", || async {
        let alerts = app.get("/api/v1/alerts?kind=sos", &home).await;
        alerts["alerts"].as_array().and_then(|a| a.first().cloned())
    })
    .await;
    let canteen_alerts = app.get("/api/v1/alerts", &canteen).await;
    assert_eq!(canteen_alerts["alerts"], json!([]), "a canteen sees no alert of hers");
    let alert_path = format!("/api/v1/alerts/{}", alert["id"].as_str().unwrap());
    assert_eq!(status_of(&app, &canteen, &alert_path).await, StatusCode::NOT_FOUND);
    let devices = app.get("/api/v1/devices", &canteen).await;
    assert_eq!(devices["devices"], json!([]));

    // The canteen feeds her from its own kitchen: the orders are its own.
    let kitchen = app.post("/api/v1/kitchens", &canteen, json!({"name": "West Kitchen", "cutoff": "23:59"})).await;
    let kitchen = kitchen["id"].as_str().expect("a kitchen").to_owned();
    let every_day = json!({"mon": ["lunch"], "tue": ["lunch"], "wed": ["lunch"], "thu": ["lunch"], "fri": ["lunch"],
        "sat": ["lunch"], "sun": ["lunch"]});
    let plan = json!({"kitchen_id": kitchen, "delivery": "home", "funding": "subsidy", "days": every_day});
    let plan_path = format!("/api/v1/residents/{rid}/meal-plan");
    let (status, saved) = app.call("PUT", &plan_path, Some(&canteen), Some(plan.clone())).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let orders = app.get(&format!("/api/v1/meal-orders?resident_id={rid}"), &canteen).await;
    assert!(!orders["orders"].as_array().unwrap().is_empty(), "{orders}");
    // The provider that registered her (for every service) reads it too.
    assert_eq!(status_of(&app, &home, &plan_path).await, StatusCode::OK);

    // The civil-affairs bureau of her street reaches her identity, not her
    // health; the bureau of the next street does not reach her at all. Her
    // grid's worker sees her and her open alerts.
    let street = division_user(&app, &operator, "civil_affairs", "330205001").await;
    let other_street = division_user(&app, &operator, "civil_affairs", "330205002").await;
    let listed = app.get("/api/v1/residents", &street).await;
    let names: Vec<&str> = listed["residents"].as_array().unwrap().iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["Wang Fang"]);
    // It finds her by her id number, whole or masked, by phone or by name;
    // the other street's bureau finds nobody.
    let masked = format!("330205********{}", &number[14..]);
    for q in [number.as_str(), masked.as_str(), "0000 0000", "wang"] {
        let found =
            app.get(&format!("/api/v1/residents?q={}", q.replace(' ', "%20").replace('*', "%2A")), &street).await;
        assert_eq!(found["residents"][0]["id"], rid.as_str(), "{q}: {found}");
        let found =
            app.get(&format!("/api/v1/residents?q={}", q.replace(' ', "%20").replace('*', "%2A")), &other_street).await;
        assert_eq!(found["residents"], json!([]), "{q}");
    }
    let nobody = app.get("/api/v1/residents?q=Li%20Wei", &street).await;
    assert_eq!(nobody["residents"], json!([]));
    assert_eq!(status_of(&app, &street, &readings).await, StatusCode::NOT_FOUND);
    assert_eq!(status_of(&app, &street, &alert_path).await, StatusCode::NOT_FOUND);
    assert_eq!(status_of(&app, &other_street, &format!("/api/v1/residents/{rid}")).await, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/residents", &other_street).await["residents"], json!([]));
    let grid = division_user(&app, &street, "grid_worker", "330205001001001").await;
    assert_eq!(status_of(&app, &grid, &format!("/api/v1/residents/{rid}")).await, StatusCode::OK);
    assert_eq!(status_of(&app, &grid, &alert_path).await, StatusCode::OK);
    assert_eq!(status_of(&app, &grid, &readings).await, StatusCode::NOT_FOUND);
    // A bureau makes grid workers of its own grids only; an admin none.
    let body = json!({"email": "gw@x.example", "password": "long enough pw", "name": "G", "role": "grid_worker",
        "division": "330205001001001"});
    let (status, _) = app.call("POST", "/api/v1/users", Some(&other_street), Some(body.clone())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.call("POST", "/api/v1/users", Some(&home), Some(body)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The canteen ends its enrolment: she is a stranger to it again at once,
    // and her record stays with the home-care provider.
    let enrolment_path = format!("/api/v1/enrolments/{}", enrolment["id"].as_str().unwrap());
    let (status, _) =
        app.call("PATCH", &enrolment_path, Some(&home), Some(json!({"until": "2026-12-06T00:00:00Z"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another institution's enrolment");
    let (status, body) =
        app.call("PATCH", &enrolment_path, Some(&canteen), Some(json!({"until": "2020-01-01T00:00:00Z"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "before it began: {body}");
    let (status, ended) =
        app.call("PATCH", &enrolment_path, Some(&canteen), Some(json!({"until": chrono::Utc::now()}))).await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_eq!(ended["active"], false);
    assert_eq!(status_of(&app, &canteen, &format!("/api/v1/residents/{rid}")).await, StatusCode::NOT_FOUND);
    assert_eq!(status_of(&app, &canteen, &format!("/api/v1/residents/{rid}/meal-plan")).await, StatusCode::NOT_FOUND);
    assert_eq!(status_of(&app, &home, &format!("/api/v1/residents/{rid}")).await, StatusCode::OK);
}

/// What one caller gets from a resident's endpoint: reached (any answer but
/// 401, 403 and 404), refused as a stranger (404), or refused by role (403).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Gets {
    Reached,
    Stranger,
    Forbidden,
}

/// The area of each of a resident's readable endpoints: a new one without
/// a row here fails the test below.
const AREAS: &[(&str, &str)] = &[
    ("/api/v1/residents/{id}", "identity"),
    ("/api/v1/residents/{id}/enrolments", "identity"),
    ("/api/v1/residents/{id}/status", "identity"),
    ("/api/v1/residents/{id}/services", "identity"),
    ("/api/v1/residents/{id}/events", "monitoring"),
    ("/api/v1/residents/{id}/presence", "monitoring"),
    ("/api/v1/residents/{id}/readings", "monitoring"),
    ("/api/v1/residents/{id}/rule-settings", "monitoring"),
    ("/api/v1/residents/{id}/summary", "monitoring"),
    ("/api/v1/residents/{id}/routine", "monitoring"),
    ("/api/v1/residents/{id}/messages", "monitoring"),
    ("/api/v1/residents/{id}/family", "monitoring"),
    ("/api/v1/residents/{id}/export", "monitoring, admin"),
    ("/api/v1/residents/{id}/care-plan", "care"),
    ("/api/v1/residents/{id}/visits", "care"),
    ("/api/v1/residents/{id}/responder-info", "care"),
    ("/api/v1/residents/{id}/meal-plan", "meals"),
    ("/api/v1/residents/{id}/assessments", "funding"),
    ("/api/v1/residents/{id}/assessments/evidence", "assessing"),
    ("/api/v1/residents/{id}/entitlements", "funding"),
    ("/api/v1/residents/{id}/bills", "bills"),
    ("/api/v1/residents/{id}/respite-stays", "funding"),
    ("/api/v1/residents/{id}/consents", "consents"),
];

#[tokio::test]
async fn every_enrolment_shape_reaches_the_areas_its_services_grant_and_no_more() {
    use Gets::{Forbidden as F, Reached as R, Stranger as S};
    let app = TestApp::spawn().await;
    let operator = app.operator_token().await;
    ladder(&app, &operator).await;
    let (_, registrar) = institution(&app, &operator, "Registrar Home", "care_home", "330205001").await;
    let (_, canteen) = institution(&app, &operator, "Canteen Only", "canteen", "330205001").await;
    let (_, carers) = institution(&app, &operator, "Home Care Only", "home_care", "330205001").await;
    let (_, former) = institution(&app, &operator, "Former Provider", "home_care", "330205001").await;
    let registration =
        json!({"name": "Zhou Lan", "id_number": id_number("33020519400101004"), "division": "330205001001001"});
    let (status, elder) = app.call("POST", "/api/v1/residents", Some(&registrar), Some(registration.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{elder}");
    let rid = elder["id"].as_str().unwrap().to_owned();
    let consent = json!({"by": "resident", "method": "verbal", "at": "2026-12-01T09:00:00Z"});
    let path = format!("/api/v1/residents/{rid}/enrolments");
    for (token, services) in [
        (&canteen, json!(["meals"])),
        (&carers, json!(["home_care"])),
        (&former, json!(["monitoring", "meals", "home_care"])),
    ] {
        assert_eq!(register_again(&app, token, &registration).await, rid);
        let (status, body) =
            app.call("POST", &path, Some(token), Some(json!({"services": services, "consent": consent}))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        if token == &former {
            let end = format!("/api/v1/enrolments/{}", body["id"].as_str().unwrap());
            let (status, _) = app.call("PATCH", &end, Some(token), Some(json!({"until": chrono::Utc::now()}))).await;
            assert_eq!(status, StatusCode::OK);
        }
    }
    let own_street = division_user(&app, &operator, "civil_affairs", "330205001").await;
    let other_street = division_user(&app, &operator, "civil_affairs", "330205002").await;
    let grid = division_user(&app, &operator, "grid_worker", "330205001001001").await;
    app.device(&registrar, json!({"device_id": "sos-zhou", "resident_id": rid, "kind": "sos_button"})).await;
    app.broker.publish("eldercare/v1/sos-zhou/event", json!({"event": "sos_pressed"}).to_string()).await;
    let alert = wait_for("her SOS alert", || async {
        app.get("/api/v1/alerts?kind=sos", &registrar).await["alerts"].as_array().and_then(|a| a.first().cloned())
    })
    .await;

    let callers = [
        ("registrar (every service)", &registrar),
        ("canteen (meals)", &canteen),
        ("home care (home_care)", &carers),
        ("former provider (ended)", &former),
        ("civil affairs of her street", &own_street),
        ("civil affairs of another street", &other_street),
        ("her grid's worker", &grid),
    ];
    let expect = |area: &str| -> [Gets; 7] {
        match area {
            "identity" => [R, R, R, S, R, S, R],
            "monitoring" | "monitoring, admin" => [R, S, S, S, S, S, S],
            "care" => [R, S, R, S, S, S, S],
            "meals" => [R, R, S, S, S, S, S],
            "alerts" => [R, S, R, S, S, S, R],
            // The grade and what it entitles: no grid worker's business.
            "funding" => [R, R, R, S, R, S, S],
            // The assessor's form: the bureau's (and the assessor's) only;
            // others who reach her are refused it, strangers not told of it.
            "assessing" => [F, F, F, S, R, S, F],
            // Bills: the family's and each institution's own lines.
            "bills" => [R, R, R, S, S, S, S],
            // Her consents to medical partners: every provider serving her
            // and her bureau; not her grid's worker.
            "consents" => [R, R, R, S, R, S, F],
            other => panic!("no area {other}"),
        }
    };

    // Every readable endpoint of a resident has its area here.
    let doc: Value = app.http.get(app.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    for (path, methods) in doc["paths"].as_object().unwrap() {
        if path.starts_with("/api/v1/residents/{id}") && !path[22..].contains('{') && methods.get("get").is_some() {
            assert!(AREAS.iter().any(|(p, _)| p == path), "GET {path}: which area of the elder is it? Add it to AREAS");
        }
    }
    let alert_id = alert["id"].as_str().unwrap().to_owned();
    let alert_path = format!("/api/v1/alerts/{alert_id}");
    let rows = AREAS.iter().map(|(p, area)| (p.replace("{id}", &rid), *area)).chain([(alert_path, "alerts")]);
    for (path, area) in rows {
        let url = if path.ends_with("/readings") { format!("{path}?metric=heart_rate") } else { path.clone() };
        for ((who, token), expected) in callers.iter().zip(expect(area)) {
            let status = status_of(&app, token, &url).await;
            let got = match status {
                StatusCode::NOT_FOUND => S,
                StatusCode::FORBIDDEN => F,
                StatusCode::UNAUTHORIZED => panic!("{who} was logged out"),
                _ => R,
            };
            assert_eq!(got, expected, "GET {url} as {who}: {status}");
        }
    }

    // Writes: every caller above, in turn, with a body that changes
    // nothing that matters (or is refused past the policy).
    let expect_write = |area: &str| -> [Gets; 7] {
        match area {
            "identity" => [R, R, R, S, F, S, F],
            "monitoring" => [R, S, S, S, S, S, S],
            "care" => [R, S, R, S, S, S, S],
            "meals" => [R, R, S, S, S, S, S],
            "alerts" => [R, S, R, S, S, S, F],
            other => panic!("no area {other}"),
        }
    };
    let writes: Vec<(&str, String, Value, &str)> = vec![
        ("PATCH", format!("/api/v1/residents/{rid}"), json!({"notes": "prefers tea"}), "identity"),
        (
            "PUT",
            format!("/api/v1/residents/{rid}/status"),
            json!({"status": "away", "from": "2099-01-01T00:00:00Z", "until": "2099-02-01T00:00:00Z"}),
            "identity",
        ),
        ("PATCH", format!("/api/v1/residents/{rid}/rule-settings"), json!({"away": false}), "monitoring"),
        (
            "PUT",
            format!("/api/v1/residents/{rid}/thresholds"),
            json!({"heart_rate": {"min": 45, "max": 120}}),
            "monitoring",
        ),
        ("POST", format!("/api/v1/residents/{rid}/messages"), json!({"text": "How was lunch?"}), "monitoring"),
        (
            "POST",
            format!("/api/v1/residents/{rid}/backtest"),
            json!({"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"}),
            "monitoring",
        ),
        ("PUT", format!("/api/v1/residents/{rid}/care-plan"), json!({"items": []}), "care"),
        ("PUT", format!("/api/v1/residents/{rid}/responder-info"), json!({"conditions": ["asthma"]}), "care"),
        (
            "PUT",
            format!("/api/v1/residents/{rid}/meal-plan"),
            json!({"kitchen_id": uuid::Uuid::new_v4(), "delivery": "home", "funding": "subsidy",
                   "days": {"mon": ["lunch"], "tue": [], "wed": [], "thu": [], "fri": [], "sat": [], "sun": []}}),
            "meals",
        ),
        ("POST", format!("/api/v1/alerts/{alert_id}/comments"), json!({"text": "on my way"}), "alerts"),
    ];
    for (method, path, body, area) in writes {
        for ((who, token), expected) in callers.iter().zip(expect_write(area)) {
            let (status, answer) = app.call(method, &path, Some(token), Some(body.clone())).await;
            let got = match status {
                StatusCode::NOT_FOUND => S,
                StatusCode::FORBIDDEN => F,
                StatusCode::UNAUTHORIZED => panic!("{who} was logged out"),
                _ => R,
            };
            assert_eq!(got, expected, "{method} {path} as {who}: {status} {answer}");
        }
    }
}

#[tokio::test]
async fn an_admin_enrols_only_an_elder_its_own_registration_found_and_only_for_a_while() {
    let app = TestApp::spawn().await;
    let operator = app.operator_token().await;
    ladder(&app, &operator).await;
    let (_, registrar) = institution(&app, &operator, "First Home", "care_home", "330205001").await;
    let (outsider_id, outsider) = institution(&app, &operator, "Outsider Care", "home_care", "330205002").await;
    let registration = json!({"name": "Li Hua", "id_number": id_number("33020519380704006")});
    let (status, elder) = app.call("POST", "/api/v1/residents", Some(&registrar), Some(registration.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{elder}");
    let rid = elder["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/residents/{rid}/enrolments");
    let enrol = json!({"services": ["monitoring", "home_care"],
        "consent": {"by": "resident", "method": "verbal", "at": "2026-12-01T09:00:00Z"}});

    // Her id, learnt some other way, reaches nothing: the outsider's admin
    // declaring a consent is answered as for a stranger, and she stays
    // unreached.
    let (status, body) = app.call("POST", &path, Some(&outsider), Some(enrol.clone())).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(status_of(&app, &outsider, &format!("/api/v1/residents/{rid}")).await, StatusCode::NOT_FOUND);
    let enrolled: i64 =
        app.count(&format!("select count(*) from enrolments where institution_id = '{outsider_id}'")).await;
    assert_eq!(enrolled, 0);

    // Registering her id number earns the claim, on the audit trail; a
    // claim past its week is spent.
    assert_eq!(register_again(&app, &outsider, &registration).await, rid);
    let probes: i64 = app
        .count(&format!(
            "select count(*) from audit_log where action = 'resident.already_registered' and entity_id = '{rid}'"
        ))
        .await;
    assert_eq!(probes, 1);
    sqlx::query("update registry_claims set claimed_at = now() - interval '8 days'")
        .execute(&app.pool)
        .await
        .expect("the claim ages");
    let (status, _) = app.call("POST", &path, Some(&outsider), Some(enrol.clone())).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a stale claim reaches nobody");

    // A fresh one enrols her once; enrolled, the institution is told so.
    assert_eq!(register_again(&app, &outsider, &registration).await, rid);
    let (status, enrolment) = app.call("POST", &path, Some(&outsider), Some(enrol.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{enrolment}");
    assert_eq!(status_of(&app, &outsider, &format!("/api/v1/residents/{rid}")).await, StatusCode::OK);
    let (status, _) = app.call("POST", &path, Some(&outsider), Some(enrol.clone())).await;
    assert_eq!(status, StatusCode::CONFLICT, "enrolled already");

    // Once it ends, the spent claim does not bring her back.
    let end = format!("/api/v1/enrolments/{}", enrolment["id"].as_str().unwrap());
    let (status, _) = app.call("PATCH", &end, Some(&outsider), Some(json!({"until": chrono::Utc::now()}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.call("POST", &path, Some(&outsider), Some(enrol)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_elders_age_turns_on_her_birthday_where_she_lives() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    // Kiritimati (UTC+14) and Pago Pago (UTC−11) are always on different
    // dates: born 80 years before Kiritimati's today, she is 80 there and
    // still 79 in Pago Pago, whatever the server's time zone.
    let born: chrono::NaiveDate =
        sqlx::query_scalar("select ((now() at time zone 'Pacific/Kiritimati') - interval '80 years')::date")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    for (timezone, age) in [("Pacific/Kiritimati", 80), ("Pacific/Pago_Pago", 79)] {
        let body = json!({"name": "Birthday", "timezone": timezone, "birth_date": born});
        let (status, elder) = app.call("POST", "/api/v1/residents", Some(&admin), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{elder}");
        assert_eq!(elder["age"], age, "{timezone}: {elder}");
    }
}

#[tokio::test]
async fn an_alert_is_routed_to_the_institutions_enrolled_for_her_monitoring_now() {
    let app = TestApp::spawn().await;
    let operator = app.operator_token().await;
    ladder(&app, &operator).await;
    let (first_id, first) = institution(&app, &operator, "First Home", "care_home", "330205001").await;
    let (second_id, second) = institution(&app, &operator, "Second Watch", "home_care", "330205001").await;
    // Each institution's admin is told by SMS, through its own gateway.
    for token in [&first, &second] {
        let gateway = json!({"kind": "sms", "url": "http://127.0.0.1:9/sms", "secret": "0123456789abcdef"});
        let (status, answer) = app.call("POST", "/api/v1/channels", Some(token), Some(gateway)).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        app.call("PATCH", "/api/v1/me", Some(token), Some(json!({"phone": "+8613800000001"}))).await;
        let prefs = json!({"min_severity": "low", "kinds": null, "quiet_hours": null, "channels": ["sms"]});
        app.call("PUT", "/api/v1/me/notification-preferences", Some(token), Some(prefs)).await;
    }
    let registration = json!({"name": "Zhou Lan", "id_number": id_number("33020519400101004")});
    let (status, elder) = app.call("POST", "/api/v1/residents", Some(&first), Some(registration.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{elder}");
    let rid = elder["id"].as_str().unwrap().to_owned();
    app.device(&first, json!({"device_id": "sos-zhou", "resident_id": rid, "kind": "sos_button"})).await;
    assert_eq!(register_again(&app, &second, &registration).await, rid);
    let consent = json!({"by": "resident", "method": "written", "at": "2026-12-01T09:00:00Z"});
    let path = format!("/api/v1/residents/{rid}/enrolments");
    let (status, _) =
        app.call("POST", &path, Some(&second), Some(json!({"services": ["monitoring"], "consent": consent}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let told = |institution: String, alert: String| {
        let app = &app;
        async move {
            app.count(&format!(
                "select count(*) from notification_deliveries d join users u on u.id = d.user_id
                 where d.alert_id = '{alert}' and u.institution_id = '{institution}'"
            ))
            .await
        }
    };

    // Both watch her: the SOS of the first's button reaches both.
    app.broker.publish("eldercare/v1/sos-zhou/event", json!({"event": "sos_pressed"}).to_string()).await;
    let alert = wait_for("her SOS", || async {
        app.get("/api/v1/alerts?kind=sos", &second).await["alerts"][0]["id"].as_str().map(str::to_owned)
    })
    .await;
    wait_for("both told", || async {
        (told(first_id.clone(), alert.clone()).await > 0 && told(second_id.clone(), alert.clone()).await > 0)
            .then_some(())
    })
    .await;
    // The responder's sheet is of the care area: with the alert for the
    // first (every service), not for the second (monitoring only).
    let sheet = json!({"conditions": ["atrial fibrillation"]});
    let (status, answer) =
        app.call("PUT", &format!("/api/v1/residents/{rid}/responder-info"), Some(&first), Some(sheet)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let with_sheet = app.get(&format!("/api/v1/alerts/{alert}"), &first).await;
    assert!(with_sheet["responder"]["conditions"].to_string().contains("atrial"), "{with_sheet}");
    let without = app.get(&format!("/api/v1/alerts/{alert}"), &second).await;
    assert_eq!(without["id"], alert.as_str());
    assert_eq!(without["responder"], Value::Null, "{without}");
    let (status, _) = app
        .call("POST", &format!("/api/v1/alerts/{alert}/resolve"), Some(&second), Some(json!({"resolution": "handled"})))
        .await;
    assert_eq!(status, StatusCode::OK);

    // The first ends its enrolment: her button is still its device, but the
    // next SOS is the second's alone to hear of.
    let mine = app.get(&path, &first).await["enrolments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["institution_id"] == first_id.as_str())
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .expect("the first's enrolment");
    let (status, _) = app
        .call("PATCH", &format!("/api/v1/enrolments/{mine}"), Some(&first), Some(json!({"until": chrono::Utc::now()})))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.broker.publish("eldercare/v1/sos-zhou/event", json!({"event": "sos_pressed"}).to_string()).await;
    let again = wait_for("her second SOS", || async {
        let open = app.get("/api/v1/alerts?kind=sos&status=open", &second).await;
        open["alerts"][0]["id"].as_str().filter(|id| *id != alert).map(str::to_owned)
    })
    .await;
    wait_for("the second told", || async { (told(second_id.clone(), again.clone()).await > 0).then_some(()) }).await;
    assert_eq!(told(first_id.clone(), again.clone()).await, 0, "an institution no longer watching her is not told");
}

#[tokio::test]
async fn a_canteen_that_stops_serving_her_stops_cooking_for_her() {
    let app = TestApp::spawn().await;
    let operator = app.operator_token().await;
    ladder(&app, &operator).await;
    let (_, home) = institution(&app, &operator, "Home Care East", "home_care", "330205001").await;
    let (canteen_id, canteen) = institution(&app, &operator, "Canteen West", "canteen", "330205001").await;
    let registration =
        json!({"name": "Wang Fang", "id_number": id_number("33020519450312002"), "timezone": "Asia/Shanghai"});
    let (status, elder) = app.call("POST", "/api/v1/residents", Some(&home), Some(registration.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{elder}");
    let rid = elder["id"].as_str().unwrap().to_owned();
    assert_eq!(register_again(&app, &canteen, &registration).await, rid);
    let consent = json!({"by": "family", "method": "written", "at": "2026-12-01T09:00:00Z"});
    let (status, enrolment) = app
        .call(
            "POST",
            &format!("/api/v1/residents/{rid}/enrolments"),
            Some(&canteen),
            Some(json!({"services": ["meals"], "consent": consent})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{enrolment}");
    // A cut-off late at night: every order of the coming days is still open.
    let kitchen = app
        .post("/api/v1/kitchens", &canteen, json!({"name": "West kitchen", "cutoff": "23:59", "prices": {"lunch": 12}}))
        .await["id"]
        .as_str()
        .expect("a kitchen")
        .to_owned();
    let days = json!({"mon": ["lunch"], "tue": ["lunch"], "wed": ["lunch"], "thu": ["lunch"], "fri": ["lunch"],
        "sat": ["lunch"], "sun": ["lunch"]});
    let plan = json!({"kitchen_id": kitchen, "delivery": "home", "funding": "subsidy", "days": days});
    let (status, answer) =
        app.call("PUT", &format!("/api/v1/residents/{rid}/meal-plan"), Some(&home), Some(plan)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let open = format!(
        "select count(*) from meal_orders where resident_id = '{rid}' and status = 'planned'
         and date > (now() at time zone 'Asia/Shanghai')::date"
    );
    assert_eq!(app.count(&open).await, 2, "tomorrow's and the next day's lunches");

    // The canteen ends its enrolment: the plan naming its kitchen ends, and
    // the lunches it would have cooked are cancelled.
    let end = format!("/api/v1/enrolments/{}", enrolment["id"].as_str().unwrap());
    let (status, _) = app.call("PATCH", &end, Some(&canteen), Some(json!({"until": chrono::Utc::now()}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.count(&open).await, 0);
    let cancelled = format!(
        "select count(*) from meal_orders where resident_id = '{rid}' and status = 'cancelled'
         and kitchen_id = '{kitchen}' and institution_id = '{canteen_id}'"
    );
    assert!(app.count(&cancelled).await >= 2, "its orders are kept, cancelled");
    let (status, plan) = app.call("GET", &format!("/api/v1/residents/{rid}/meal-plan"), Some(&home), None).await;
    assert_eq!((status, plan["plan"].clone()), (StatusCode::OK, Value::Null), "{plan}");
}
