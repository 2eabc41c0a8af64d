//! Supervision: a complaint filed by a family against the provider serving
//! her mother, seen by the provider and the bureau of its division and by
//! nobody else; past its deadline unanswered it is overdue, on the
//! bureau's queue with a notice to the bureau and the provider's admins;
//! answered, then closed upheld by the family, each step on the audit
//! trail. The desk files one too.

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

    // Unanswered past respond_by: overdue at once, and the scheduler puts it
    // on the bureau's queue with a notice to the bureau and the admins.
    sqlx::query("update complaints set respond_by = now() - interval '1 second' where id = $1::uuid")
        .bind(&id)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(app.get(&path, &daughter).await["status"], "overdue");
    let notice: Value = wait_for("the overdue notice", || async {
        sqlx::query_scalar::<_, Value>(
            "select notice from notification_jobs where change = 'complaint.overdue' and notice->>'complaint_id' = $1",
        )
        .bind(&id)
        .fetch_optional(&app.pool)
        .await
        .unwrap()
    })
    .await;
    let told: Vec<&str> = notice["to"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let bureau_id = app.get("/api/v1/me", &bureau).await["id"].as_str().unwrap().to_owned();
    let harbour_admin = app.get("/api/v1/me", &harbour).await["id"].as_str().unwrap().to_owned();
    let mut expected = vec![bureau_id.as_str(), harbour_admin.as_str()];
    expected.sort_unstable();
    let mut told = told;
    told.sort_unstable();
    assert_eq!(told, expected, "the bureau of the division and the provider's admin, nobody else");
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
