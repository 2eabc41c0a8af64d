//! Supervision: a complaint filed by a family against the provider serving
//! her mother, seen by the provider and the bureau of its division and by
//! nobody else; past its deadline unanswered it is overdue, on the
//! bureau's queue with a notice to the bureau and the provider's admins;
//! answered, then closed upheld by the family, each step on the audit
//! trail. The desk files one too. Carers' certificates: nobody goes
//! through a door without a valid health certificate.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::registry::{division_user, id_number, institution, ladder};
use crate::support::{TestApp, wait_for};

async fn ok(app: &TestApp, method: &str, path: &str, token: &str, body: Value) -> Value {
    let (status, answer) = app.call(method, path, Some(token), Some(body)).await;
    assert!(status.is_success(), "{method} {path}: {status} {answer}");
    answer
}

fn ids(list: &Value) -> Vec<&str> {
    list["complaints"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_complaint_goes_overdue_to_the_bureau_is_answered_and_closed_upheld() {
    let app = TestApp::spawn().await;
    let operator = app.operator_token().await;
    ladder(&app, &operator).await;
    let (harbour_id, harbour) = institution(&app, &operator, "Harbour Home Care", "home_care", "330205001").await;
    let (_, other) = institution(&app, &operator, "Other Street Care", "home_care", "330205002").await;
    let (fund_id, _) = institution(&app, &operator, "Haishu LTC Fund", "ltc_fund", "330205").await;
    let bureau = division_user(&app, &operator, "civil_affairs", "330205001").await;
    let other_bureau = division_user(&app, &operator, "civil_affairs", "330205002").await;
    let desk_body =
        json!({"email": "desk@81890.example", "password": "long enough pw", "name": "Desk", "role": "desk"});
    ok(&app, "POST", "/api/v1/users", &operator, desk_body).await;
    let desk = app.login("desk@81890.example", "long enough pw").await;

    let registration = json!({"name": "Zhou Lan", "timezone": "Asia/Shanghai",
        "id_number": id_number("33020519400101004"), "division": "330205001001001"});
    let rid = ok(&app, "POST", "/api/v1/residents", &harbour, registration).await["id"].as_str().unwrap().to_owned();
    let body =
        json!({"email": "zhou.mei@family.example", "password": "long enough pw", "role": "family", "name": "Zhou Mei"});
    let daughter_id = ok(&app, "POST", "/api/v1/users", &harbour, body).await["id"].as_str().unwrap().to_owned();
    ok(
        &app,
        "POST",
        &format!("/api/v1/residents/{rid}/family"),
        &harbour,
        json!({"user_id": daughter_id, "relationship": "daughter"}),
    )
    .await;
    let daughter = app.login("zhou.mei@family.example", "long enough pw").await;

    // A family's complaint names her elder, and a care provider.
    let complaint = json!({"institution_id": harbour_id, "category": "no_show", "text": "Nobody came on Tuesday"});
    let (status, _) = app.call("POST", "/api/v1/complaints", Some(&daughter), Some(complaint.clone())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "names the elder");
    let mut against_fund = complaint.clone();
    against_fund["resident_id"] = json!(rid);
    against_fund["institution_id"] = json!(fund_id);
    let (status, _) = app.call("POST", "/api/v1/complaints", Some(&daughter), Some(against_fund)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a fund office is no care provider");
    let mut complaint = complaint;
    complaint["resident_id"] = json!(rid);
    let filed = ok(&app, "POST", "/api/v1/complaints", &daughter, complaint).await;
    let id = filed["id"].as_str().unwrap().to_owned();
    assert_eq!(filed["status"], "open");
    let created: chrono::DateTime<chrono::Utc> = filed["created_at"].as_str().unwrap().parse().unwrap();
    let respond_by: chrono::DateTime<chrono::Utc> = filed["respond_by"].as_str().unwrap().parse().unwrap();
    assert_eq!((respond_by - created).num_hours(), 72, "three days by default");

    // Seen by whoever filed it, the provider and the bureau of its division.
    let path = format!("/api/v1/complaints/{id}");
    for (who, token) in [("family", &daughter), ("provider", &harbour), ("bureau", &bureau)] {
        assert_eq!(app.call("GET", &path, Some(token), None).await.0, StatusCode::OK, "{who}");
    }
    for (who, token) in [("another provider", &other), ("another bureau", &other_bureau), ("the desk", &desk)] {
        assert_eq!(app.call("GET", &path, Some(token), None).await.0, StatusCode::NOT_FOUND, "{who}");
        assert!(!ids(&app.get("/api/v1/complaints", token).await).contains(&id.as_str()), "{who}");
    }

    // Everyone here has a phone subscribed to pushes (the push service
    // itself is the web push tests'), so who is told shows as deliveries.
    let bureau_id = app.get("/api/v1/me", &bureau).await["id"].as_str().unwrap().to_owned();
    let harbour_admin = app.get("/api/v1/me", &harbour).await["id"].as_str().unwrap().to_owned();
    for token in [&daughter, &harbour, &other, &bureau, &other_bureau, &desk] {
        let user = app.get("/api/v1/me", token).await["id"].as_str().unwrap().to_owned();
        sqlx::query(
            "insert into push_subscriptions (id, user_id, endpoint, p256dh, auth)
             values (gen_random_uuid(), $1::uuid, 'https://push.example.invalid/' || $1, 'k', 'a')",
        )
        .bind(&user)
        .execute(&app.pool)
        .await
        .unwrap();
    }

    // Unanswered past respond_by: overdue at once, and the scheduler puts it
    // on the bureau's queue with a notice to the bureau and the admins.
    sqlx::query("update complaints set respond_by = now() - interval '1 second' where id = $1::uuid")
        .bind(&id)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(app.get(&path, &daughter).await["status"], "overdue");
    wait_for("the scheduler to mark it overdue and plan its notice", || async {
        let marked =
            app.count(&format!("select count(*) from complaints where id = '{id}' and overdue_at is not null")).await;
        let planned = app.count("select count(*) from notification_jobs where notice is not null").await;
        (marked == 1 && planned == 0).then_some(())
    })
    .await;
    let told: Vec<String> = sqlx::query_scalar(
        "select user_id::text from notification_deliveries
         where payload->>'type' = 'complaint' and payload->>'complaint_id' = $1 order by 1",
    )
    .bind(&id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let mut expected = vec![bureau_id.clone(), harbour_admin.clone()];
    expected.sort_unstable();
    assert_eq!(told, expected, "a push to the bureau of the division and the provider's admin, nobody else");
    assert_eq!(ids(&app.get("/api/v1/complaints?status=overdue", &bureau).await), [id.as_str()]);
    assert!(ids(&app.get("/api/v1/complaints?status=overdue", &other_bureau).await).is_empty());

    // The provider answers; nobody else may.
    let answer = json!({"text": "The carer was ill; a visit is booked for Thursday."});
    let (status, _) = app.call("POST", &format!("{path}/response"), Some(&daughter), Some(answer.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.call("POST", &format!("{path}/response"), Some(&other), Some(answer.clone())).await.0,
        StatusCode::NOT_FOUND
    );
    let responded = ok(&app, "POST", &format!("{path}/response"), &harbour, answer).await;
    assert_eq!(responded["status"], "responded");
    assert!(ids(&app.get("/api/v1/complaints?status=overdue", &bureau).await).is_empty(), "off the queue");

    // The family closes it upheld; the provider cannot close it.
    let upheld = json!({"outcome": "upheld"});
    assert_eq!(
        app.call("POST", &format!("{path}/close"), Some(&harbour), Some(upheld.clone())).await.0,
        StatusCode::FORBIDDEN
    );
    let closed = ok(&app, "POST", &format!("{path}/close"), &daughter, upheld.clone()).await;
    assert_eq!((closed["status"].as_str(), closed["outcome"].as_str()), (Some("closed"), Some("upheld")));
    assert_eq!(app.call("POST", &format!("{path}/close"), Some(&bureau), Some(upheld)).await.0, StatusCode::CONFLICT);
    let trail = app
        .count(&format!(
            "select count(*) from audit_log where entity_id = '{id}' and action in
             ('complaint.filed', 'complaint.responded', 'complaint.closed')"
        ))
        .await;
    assert_eq!(trail, 3, "each step on the audit trail");

    // The desk files one from a call, about no elder; the provider sees it.
    let by_phone =
        json!({"institution_id": harbour_id, "category": "staff_conduct", "text": "A neighbour calls: rude carer"});
    let filed = ok(&app, "POST", "/api/v1/complaints", &desk, by_phone).await;
    assert_eq!(filed["filed_role"], "desk");
    let desk_id = filed["id"].as_str().unwrap();
    assert_eq!(ids(&app.get("/api/v1/complaints", &desk).await), [desk_id]);
    assert!(ids(&app.get("/api/v1/complaints", &harbour).await).contains(&desk_id));
}

/// Nobody goes through an elder's door without a health certificate valid
/// on the visit's day; the admin sees what lapses within 30 days.
#[tokio::test]
async fn a_carer_without_a_valid_health_certificate_is_not_assigned_a_visit() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let rid = app.resident(&admin, "Wang Fang").await;
    let body =
        json!({"email": "li.wei@test.example", "password": "long enough pw", "role": "caregiver", "name": "Li Wei"});
    let carer = ok(&app, "POST", "/api/v1/users", &admin, body).await["id"].as_str().unwrap().to_owned();
    let body = json!({"email": "staff@test.example", "password": "long enough pw", "role": "staff", "name": "Staff"});
    ok(&app, "POST", "/api/v1/users", &admin, body).await;
    let staff = app.login("staff@test.example", "long enough pw").await;
    let visit_at = |days: i64| {
        let start = (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339();
        json!({"resident_id": rid, "service_code": "WELFARE-CHECK", "scheduled_start": start, "funding": "institution"})
    };
    let soon = ok(&app, "POST", "/api/v1/visits", &admin, visit_at(1)).await["id"].as_str().unwrap().to_owned();
    let later = ok(&app, "POST", "/api/v1/visits", &admin, visit_at(20)).await["id"].as_str().unwrap().to_owned();
    let assign = |visit: &str| format!("/api/v1/visits/{visit}/assign");
    let (status, body) = app.call("POST", &assign(&soon), Some(&admin), Some(json!({"caregiver_id": carer}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["message"].as_str().unwrap().contains("health certificate"), "{body}");

    // Recorded by the admin only, checked: a level is 1 to 5, a health
    // certificate has none, a kind once.
    let path = format!("/api/v1/users/{carer}/certificates");
    let in_ten_days = (chrono::Utc::now() + chrono::Duration::days(10)).date_naive();
    let valid = json!([{"kind": "health", "valid_until": in_ten_days},
                       {"kind": "care_worker_level", "level": 4, "valid_until": "2030-01-01"}]);
    for wrong in [
        json!([{"kind": "care_worker_level", "level": 6, "valid_until": "2030-01-01"}]),
        json!([{"kind": "health", "level": 2, "valid_until": "2030-01-01"}]),
        json!([{"kind": "health", "valid_until": "2030-01-01"}, {"kind": "health", "valid_until": "2031-01-01"}]),
    ] {
        assert_eq!(app.call("PUT", &path, Some(&admin), Some(wrong)).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(app.call("PUT", &path, Some(&staff), Some(valid.clone())).await.0, StatusCode::FORBIDDEN);
    let operator = app.operator_token().await;
    ladder(&app, &operator).await;
    let (_, other) = institution(&app, &operator, "Other Home", "care_home", "330205").await;
    assert_eq!(app.call("PUT", &path, Some(&other), Some(valid.clone())).await.0, StatusCode::NOT_FOUND);
    let recorded = ok(&app, "PUT", &path, &admin, valid).await;
    assert_eq!(recorded["certificates"].as_array().unwrap().len(), 2);

    // Valid tomorrow: assigned. Lapsed by the visit in twenty days: not.
    ok(&app, "POST", &assign(&soon), &admin, json!({"caregiver_id": carer})).await;
    let (status, _) = app.call("POST", &assign(&later), Some(&admin), Some(json!({"caregiver_id": carer}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the certificate lapses before that visit");

    // The admin's list of what lapses within 30 days.
    let expiring = app.get("/api/v1/certificates/expiring", &admin).await;
    let rows = expiring["certificates"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{expiring}");
    assert_eq!((rows[0]["name"].as_str(), rows[0]["kind"].as_str()), (Some("Li Wei"), Some("health")));
    assert_eq!(app.get("/api/v1/certificates/expiring?within_days=5", &admin).await["certificates"], json!([]));
}
