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

/// `count` verified visits of the provider to the elder on the 10th of
/// `month` (her clock), as a month of delivered care leaves them; their ids.
pub(crate) async fn verified_visits(
    app: &TestApp,
    institution: &str,
    resident: &str,
    month: &str,
    count: i64,
) -> Vec<String> {
    sqlx::query_scalar(
        "insert into visits (id, institution_id, resident_id, service_id, funding, origin, status, scheduled_start,
                             check_in_at, check_out_at, verified)
         select gen_random_uuid(), $1::uuid, $2::uuid, s.id, 'ltc_insurance', 'manual', 'completed', at, at, at + interval '1 hour', true
         from services s, generate_series(1, $4) n,
              lateral (select ((($3 || '-10')::date + time '09:00') at time zone 'Asia/Shanghai') + n * interval '1 minute' as at) t
         where s.institution_id = $1::uuid and s.code = 'WELFARE-CHECK'
         returning id::text",
    )
    .bind(institution)
    .bind(resident)
    .bind(month)
    .bind(count)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// A bill line for a visit, 50.00 of which the fund pays.
async fn bill_line(app: &TestApp, institution: &str, resident: &str, visit: &str, month: &str) {
    sqlx::query(
        "insert into bill_lines (id, institution_id, resident_id, kind, ref, date, month, service, minutes, amount_fen,
                                 payer, payer_fen, elder_fen, over_quota)
         values (gen_random_uuid(), $1::uuid, $2::uuid, 'visit', $3::uuid, ($4 || '-10')::date, ($4 || '-01')::date,
                 'WELFARE-CHECK', 60, 5500, 'ltc_insurance', 5000, 500, false)",
    )
    .bind(institution)
    .bind(resident)
    .bind(visit)
    .bind(month)
    .execute(&app.pool)
    .await
    .unwrap();
}

/// Follow-up calls: two months ago, Harbour delivered 60 verified visits and
/// Lakeside 3. The desk's list samples 3 of Harbour's (5 %) and 2 of
/// Lakeside's (at least 2), each draw recomputed here with the key. One
/// elder says a visit never happened: it is disputed, seen by the provider,
/// kept out of its claim, and back in once the bureau resolves the dispute.
#[tokio::test]
async fn follow_up_calls_sample_each_provider_and_a_visit_that_never_happened_leaves_the_claim() {
    let app = TestApp::spawn().await;
    let operator = app.operator_token().await;
    ladder(&app, &operator).await;
    let (harbour_id, harbour) = institution(&app, &operator, "Harbour Home Care", "home_care", "330205001").await;
    let (lakeside_id, lakeside) = institution(&app, &operator, "Lakeside Care", "home_care", "330205002").await;
    let bureau = division_user(&app, &operator, "civil_affairs", "330205001").await;
    let other_bureau = division_user(&app, &operator, "civil_affairs", "330205002").await;
    let desk_body =
        json!({"email": "desk@81890.example", "password": "long enough pw", "name": "Desk", "role": "desk"});
    ok(&app, "POST", "/api/v1/users", &operator, desk_body).await;
    let desk = app.login("desk@81890.example", "long enough pw").await;
    let register = |by: &str, body17: &str, division: &str| {
        let registration = json!({"name": format!("Elder {body17}"), "timezone": "Asia/Shanghai",
            "id_number": id_number(body17), "division": division});
        let (app, by) = (&app, by.to_owned());
        async move { ok(app, "POST", "/api/v1/residents", &by, registration).await["id"].as_str().unwrap().to_owned() }
    };
    let zhou = register(&harbour, "33020519400101004", "330205001001001").await;
    let community = json!({"code": "330205002001", "name": "West Community", "level": "community"});
    ok(&app, "POST", "/api/v1/divisions", &operator, community).await;
    let chen = register(&lakeside, "33020519410202005", "330205002001").await;
    let month: String =
        sqlx::query_scalar("select to_char(date_trunc('month', now()) - interval '2 months', 'YYYY-MM')")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let harbour_visits = verified_visits(&app, &harbour_id, &zhou, &month, 60).await;
    let lakeside_visits = verified_visits(&app, &lakeside_id, &chen, &month, 3).await;
    // An unverified visit is never sampled.
    let unverified = verified_visits(&app, &harbour_id, &zhou, &month, 1).await;
    sqlx::query("update visits set verified = false, exceptions = '{late_start}' where id = $1::uuid")
        .bind(&unverified[0])
        .execute(&app.pool)
        .await
        .unwrap();

    // Nobody but the desk and the bureau sees the calls: a provider must
    // not know which of its visits are called.
    let path = format!("/api/v1/follow-ups?month={month}");
    assert_eq!(app.call("GET", &path, Some(&harbour), None).await.0, StatusCode::FORBIDDEN);
    let this_month = chrono::Utc::now().format("%Y-%m").to_string();
    let now = app.get(&format!("/api/v1/follow-ups?month={this_month}"), &desk).await;
    assert_eq!((now["drawn"].as_bool(), now["follow_ups"].as_array().map(Vec::len)), (Some(false), Some(0)));

    let list = app.get(&path, &desk).await;
    assert_eq!(list["drawn"], true);
    let calls = list["follow_ups"].as_array().unwrap().clone();
    let of = |institution: &str| calls.iter().filter(|c| c["institution_id"] == institution).count();
    assert_eq!((of(&harbour_id), of(&lakeside_id)), (3, 2), "{list}");
    let first_day = chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").unwrap();
    let key = secrecy::SecretString::from(crate::support::SECRET_KEY.to_owned());
    for call in &calls {
        let visit = call["visit_id"].as_str().unwrap();
        assert!(harbour_visits.iter().chain(&lakeside_visits).any(|v| v == visit) && visit != unverified[0]);
        let draw = eldercare::domain::supervision::draw(&key, first_day, visit.parse().unwrap());
        let hex: String = draw.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(call["draw"].as_str(), Some(hex.as_str()), "reproducible from the key");
    }
    // Harbour's three are its three lowest draws of all sixty.
    let mut draws: Vec<(String, String)> = harbour_visits
        .iter()
        .map(|v| {
            let d = eldercare::domain::supervision::draw(&key, first_day, v.parse().unwrap());
            (d.iter().map(|b| format!("{b:02x}")).collect(), v.clone())
        })
        .collect();
    draws.sort();
    let mut sampled: Vec<&str> = calls
        .iter()
        .filter(|c| c["institution_id"] == harbour_id.as_str())
        .map(|c| c["visit_id"].as_str().unwrap())
        .collect();
    sampled.sort_unstable();
    let mut lowest: Vec<&str> = draws[..3].iter().map(|(_, v)| v.as_str()).collect();
    lowest.sort_unstable();
    assert_eq!(sampled, lowest);
    // Drawn once: asked again, the same calls; the draw is on the audit chain.
    assert_eq!(app.get(&path, &desk).await["follow_ups"].as_array().unwrap().len(), 5);
    let drawn: i64 =
        sqlx::query_scalar("select count(*) from audit_log where action = 'follow_ups.drawn' and entity_id = $1")
            .bind(&month)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(drawn, 1);
    // The bureau sees its own division's elders' calls only.
    assert_eq!(app.get(&path, &bureau).await["follow_ups"].as_array().unwrap().len(), 3);
    assert_eq!(app.get(&path, &other_bureau).await["follow_ups"].as_array().unwrap().len(), 2);

    // Two of Harbour's sampled visits were billed to the fund.
    let harbour_calls: Vec<&Value> = calls.iter().filter(|c| c["institution_id"] == harbour_id.as_str()).collect();
    let (disputed, kept) =
        (harbour_calls[0]["visit_id"].as_str().unwrap(), harbour_calls[1]["visit_id"].as_str().unwrap());
    bill_line(&app, &harbour_id, &zhou, disputed, &month).await;
    bill_line(&app, &harbour_id, &zhou, kept, &month).await;

    // Nobody answers, then she does: the visit never happened.
    let call = format!("/api/v1/follow-ups/{}", harbour_calls[0]["id"].as_str().unwrap());
    let (status, _) =
        app.call("POST", &call, Some(&desk), Some(json!({"reached": false, "visit_happened": false}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "nothing heard from nobody");
    let tried = ok(&app, "POST", &call, &desk, json!({"reached": false})).await;
    assert_eq!((tried["attempts"].as_i64(), tried["reached"].as_bool()), (Some(1), Some(false)));
    let (status, _) = app.call("POST", &call, Some(&harbour), Some(json!({"reached": false}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let heard = json!({"reached": true, "visit_happened": false, "satisfaction": 1, "note": "Nobody came that week"});
    let recorded = ok(&app, "POST", &call, &desk, heard.clone()).await;
    assert_eq!((recorded["attempts"].as_i64(), recorded["visit_happened"].as_bool()), (Some(2), Some(false)));
    assert_eq!(app.call("POST", &call, Some(&desk), Some(heard)).await.0, StatusCode::CONFLICT, "recorded once");

    // The provider sees the dispute on its visit, and cannot clear it.
    let visit = app.get(&format!("/api/v1/visits/{disputed}"), &harbour).await;
    assert_eq!(visit["evv"]["exceptions"], json!(["disputed"]), "{visit}");
    assert_eq!(visit["evv"]["verified"], false);
    let resolve = format!("/api/v1/visits/{disputed}/exceptions/disputed/resolve");
    let reason = json!({"reason": "The carer's phone shows her at the door; the elder forgot"});
    assert_eq!(app.call("POST", &resolve, Some(&harbour), Some(reason.clone())).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.call("POST", &resolve, Some(&other_bureau), Some(reason.clone())).await.0, StatusCode::NOT_FOUND);

    // Its claim for the month leaves the disputed visit out.
    let claim = ok(&app, "POST", "/api/v1/claims", &harbour, json!({"payer": "ltc_insurance", "month": month})).await;
    let claim = app.get(&format!("/api/v1/claims/{}", claim["id"].as_str().unwrap()), &harbour).await;
    let refs: Vec<&str> = claim["lines"].as_array().unwrap().iter().map(|l| l["ref"].as_str().unwrap()).collect();
    assert_eq!(refs, [kept], "{claim}");

    // The bureau resolves it: verified again, and claimed next time.
    let resolved = ok(&app, "POST", &resolve, &bureau, reason).await;
    assert_eq!(resolved["evv"]["verified"], true, "{resolved}");
    let again = ok(&app, "POST", "/api/v1/claims", &harbour, json!({"payer": "ltc_insurance", "month": month})).await;
    let again = app.get(&format!("/api/v1/claims/{}", again["id"].as_str().unwrap()), &harbour).await;
    let refs: Vec<&str> = again["lines"].as_array().unwrap().iter().map(|l| l["ref"].as_str().unwrap()).collect();
    assert_eq!(refs, [disputed]);
    let chain: Vec<String> = sqlx::query_scalar("select action from audit_log where entity_id = $1 order by id")
        .bind(disputed)
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(chain, ["visit.disputed", "visit.dispute_resolved"]);
}

/// An inspection of Harbour: scheduled by the bureau with its own checklist,
/// recorded once with a major finding, answered by Harbour, reopened, answered
/// again and verified. Then last month's scores: Harbour's from its figures
/// (alerts, visits, follow-up calls and the inspection), each component and
/// the formula shown; Lakeside, with no figures, has none.
/// Last month's figures of a provider, as the scores read them: an elder
/// (Zhou Lan, registered by `admin`) enrolled for months, 4 critical alerts
/// (3 acknowledged in 30 s, one in 2 minutes) and 4 visits due (3 on time
/// and verified, one missed).
pub(crate) struct LastMonth {
    /// YYYY-MM, on the elder's clock.
    pub month: String,
    pub resident: String,
    /// The visits, the three verified first.
    pub visits: Vec<String>,
}

pub(crate) async fn last_month_figures(app: &TestApp, provider: &str, admin: &str) -> LastMonth {
    let registration = json!({"name": "Zhou Lan", "timezone": "Asia/Shanghai",
        "id_number": id_number("33020519400101004"), "division": "330205001001001"});
    let zhou = ok(app, "POST", "/api/v1/residents", admin, registration).await["id"].as_str().unwrap().to_owned();
    let month: String = sqlx::query_scalar(
        "select to_char(date_trunc('month', now() at time zone 'Asia/Shanghai') - interval '1 month', 'YYYY-MM')",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let day = |d: u32, hh: u32| format!("{month}-{d:02} {hh:02}:00:00+08");
    sqlx::query("update enrolments set starts_at = now() - interval '100 days' where resident_id = $1::uuid")
        .bind(&zhou)
        .execute(&app.pool)
        .await
        .unwrap();
    for (n, seconds) in [30, 30, 30, 120].iter().enumerate() {
        sqlx::query(
            "insert into alerts (id, institution_id, resident_id, kind, cause, severity, status, opened_at, condition_at,
                                 acknowledged_at, acknowledged_by)
             values (gen_random_uuid(), $1::uuid, $2::uuid, 'sos', $3, 'critical', 'acknowledged', $4::timestamptz,
                     $4::timestamptz, $4::timestamptz + make_interval(secs => $5), null)",
        )
        .bind(provider)
        .bind(&zhou)
        .bind(format!("score-{n}"))
        .bind(day(10, 10 + n as u32))
        .bind(f64::from(*seconds))
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let visits: Vec<String> = sqlx::query_scalar(
        "insert into visits (id, institution_id, resident_id, service_id, funding, origin, status, scheduled_start,
                             check_in_at, check_out_at, verified)
         select gen_random_uuid(), $1::uuid, $2::uuid, s.id, 'institution', 'manual',
                case when n = 4 then 'missed' else 'completed' end, $3::timestamptz + n * interval '1 hour',
                case when n < 4 then $3::timestamptz + n * interval '1 hour' + interval '5 minutes' end,
                case when n < 4 then $3::timestamptz + n * interval '1 hour' + interval '65 minutes' end, n < 4
         from services s, generate_series(1, 4) n where s.institution_id = $1::uuid and s.code = 'WELFARE-CHECK'
         returning id::text",
    )
    .bind(provider)
    .bind(&zhou)
    .bind(day(12, 8))
    .fetch_all(&app.pool)
    .await
    .unwrap();
    LastMonth { month, resident: zhou, visits }
}

#[tokio::test]
async fn an_inspection_finding_is_answered_and_verified_and_scores_follow_from_the_figures() {
    let app = TestApp::spawn().await;
    let operator = app.operator_token().await;
    ladder(&app, &operator).await;
    let (harbour_id, harbour) = institution(&app, &operator, "Harbour Home Care", "home_care", "330205001").await;
    let (lakeside_id, lakeside) = institution(&app, &operator, "Lakeside Care", "home_care", "330205002").await;
    let bureau = division_user(&app, &operator, "civil_affairs", "330205").await;
    let street_bureau = division_user(&app, &operator, "civil_affairs", "330205001").await;
    let body =
        json!({"email": "sup@district.example", "password": "long enough pw", "name": "Sup", "division": "330205"});
    ok(&app, "POST", "/api/v1/supervisors", &operator, body).await;
    let supervisor = app.login("sup@district.example", "long enough pw").await;

    let checklist = json!([{"code": "fire_safety", "text": "Fire exits clear"},
                           {"code": "medication", "text": "Medication locked and logged"}]);
    let on = (chrono::Utc::now() + chrono::Duration::days(3)).date_naive();
    let body = json!({"institution_id": harbour_id, "scheduled_for": on, "checklist": checklist});
    assert_eq!(
        app.call("POST", "/api/v1/inspections", Some(&harbour), Some(body.clone())).await.0,
        StatusCode::FORBIDDEN
    );
    let elsewhere = json!({"institution_id": lakeside_id, "scheduled_for": on});
    let (status, _) = app.call("POST", "/api/v1/inspections", Some(&street_bureau), Some(elsewhere)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "Lakeside is not in that street");
    let inspection = ok(&app, "POST", "/api/v1/inspections", &bureau, body).await;
    let id = inspection["id"].as_str().unwrap().to_owned();
    assert_eq!(inspection["status"], "scheduled");
    // The default checklist when none is named.
    let default = json!({"institution_id": lakeside_id, "scheduled_for": on});
    let other = ok(&app, "POST", "/api/v1/inspections", &bureau, default).await;
    assert_eq!(other["checklist"].as_array().unwrap().len(), 8);

    let results = format!("/api/v1/inspections/{id}/results");
    let fortnight = (chrono::Utc::now() + chrono::Duration::days(14)).date_naive();
    let finding = json!({"item": "fire_safety", "severity": "major", "text": "Exit 2 blocked by wheelchairs",
                         "rectify_by": fortnight});
    for wrong in [
        json!({"items": [{"code": "fire_safety", "passed": false}], "findings": []}),
        json!({"items": [{"code": "fire_safety", "passed": false}, {"code": "medication", "passed": true}],
               "findings": [{"item": "kitchen", "severity": "minor", "text": "x", "rectify_by": fortnight}]}),
        json!({"items": [{"code": "fire_safety", "passed": false}, {"code": "medication", "passed": true}],
               "findings": [{"item": "fire_safety", "severity": "minor", "text": "x", "rectify_by": "2020-01-01"}]}),
    ] {
        assert_eq!(app.call("POST", &results, Some(&bureau), Some(wrong)).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let found = json!({"items": [{"code": "fire_safety", "passed": false, "note": "exit 2"},
                                 {"code": "medication", "passed": true}], "findings": [finding]});
    let recorded = ok(&app, "POST", &results, &bureau, found.clone()).await;
    assert_eq!(recorded["status"], "recorded");
    assert_eq!(app.call("POST", &results, Some(&bureau), Some(found)).await.0, StatusCode::CONFLICT);

    // Harbour reads it and answers; Lakeside sees nothing of it.
    assert_eq!(
        app.call("GET", &format!("/api/v1/inspections/{id}"), Some(&lakeside), None).await.0,
        StatusCode::NOT_FOUND
    );
    let seen = app.get(&format!("/api/v1/inspections/{id}"), &harbour).await;
    let finding_id = seen["findings"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (seen["findings"][0]["status"].as_str(), seen["findings"][0]["severity"].as_str()),
        (Some("open"), Some("major"))
    );
    let answer = format!("/api/v1/inspection-findings/{finding_id}/answer");
    let verify = format!("/api/v1/inspection-findings/{finding_id}/verify");
    assert_eq!(app.call("POST", &verify, Some(&bureau), Some(json!({"accepted": true}))).await.0, StatusCode::CONFLICT);
    let answered = ok(&app, "POST", &answer, &harbour, json!({"text": "Wheelchairs moved to the store room"})).await;
    assert_eq!(answered["status"], "answered");
    let reopened = ok(&app, "POST", &verify, &bureau, json!({"accepted": false})).await;
    assert_eq!((reopened["status"].as_str(), reopened["reopened"].as_i64()), (Some("open"), Some(1)));
    ok(&app, "POST", &answer, &harbour, json!({"text": "A sign and a marked line keep the exit clear"})).await;
    assert_eq!(
        app.call("POST", &verify, Some(&harbour), Some(json!({"accepted": true}))).await.0,
        StatusCode::FORBIDDEN
    );
    let verified = ok(&app, "POST", &verify, &bureau, json!({"accepted": true})).await;
    assert_eq!(verified["status"], "verified");
    let trail: Vec<String> = sqlx::query_scalar(
        "select action from audit_log where action like 'inspection.%' and institution_id = $1::uuid order by id",
    )
    .bind(&harbour_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        trail,
        [
            "inspection.scheduled",
            "inspection.recorded",
            "inspection.finding_answered",
            "inspection.finding_reopened",
            "inspection.finding_answered",
            "inspection.finding_verified"
        ]
    );

    // Last month's figures for Harbour: 4 critical alerts, 3 answered in
    // 30 s and one in 2 minutes; 4 visits due, 3 on time and clean, one
    // missed; one elder enrolled, no complaint upheld; a follow-up call
    // satisfied (5) that heard the visit happened; the inspection above.
    let LastMonth { month, resident: zhou, visits } = last_month_figures(&app, &harbour_id, &harbour).await;
    let day = |d: u32, hh: u32| format!("{month}-{d:02} {hh:02}:00:00+08");
    sqlx::query("insert into follow_up_draws (month, visits, sampled) values (($1 || '-01')::date, 3, 1) on conflict do nothing")
        .bind(&month)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query(
        "insert into follow_ups (id, month, visit_id, institution_id, resident_id, draw, attempts, reached,
                                 visit_happened, satisfaction)
         values (gen_random_uuid(), ($1 || '-01')::date, $2::uuid, $3::uuid, $4::uuid, '\\x00', 1, true, true, 5)
         on conflict (visit_id) do update set reached = true, visit_happened = true, satisfaction = 5",
    )
    .bind(&month)
    .bind(&visits[0])
    .bind(&harbour_id)
    .bind(&zhou)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query("update inspections set recorded_at = $2::timestamptz where id = $1::uuid")
        .bind(&id)
        .bind(day(15, 10))
        .execute(&app.pool)
        .await
        .unwrap();

    let path = format!("/api/v1/providers/scores?month={month}");
    assert_eq!(app.call("GET", &path, Some(&harbour), None).await.0, StatusCode::FORBIDDEN);
    let scores = app.get(&path, &bureau).await;
    assert!(scores["formula"].as_str().unwrap().starts_with("score = round(100 * sum(weight * value)"));
    let providers = scores["providers"].as_array().unwrap();
    assert_eq!(providers.len(), 2, "{scores}");
    let first = &providers[0];
    assert_eq!(first["institution_id"], harbour_id.as_str());
    let figures = &first["figures"];
    let counted: Vec<i64> = [
        "alerts",
        "alerts_within_60s",
        "visits_due",
        "visits_on_time",
        "visits_completed",
        "visits_with_exceptions",
        "elders",
        "complaints_upheld",
        "satisfaction_answers",
        "happened_yes",
        "findings_major",
    ]
    .iter()
    .map(|k| figures[*k].as_i64().unwrap())
    .collect();
    assert_eq!(counted, [4, 3, 4, 3, 3, 0, 1, 0, 1, 1, 1], "{figures}");
    let values: Vec<f64> =
        first["components"].as_array().unwrap().iter().map(|c| c["value"].as_f64().unwrap()).collect();
    assert_eq!(values, [0.75, 0.75, 1.0, 1.0, 1.0, 1.0, 0.7]);
    // (25*0.75 + 15*0.75 + 15 + 15 + 10 + 10 + 10*0.7) / 100.
    assert_eq!(first["score"], 87);
    assert_eq!(
        (providers[1]["institution_id"].as_str(), &providers[1]["score"]),
        (Some(lakeside_id.as_str()), &Value::Null)
    );
    // The street's bureau sees Harbour only; the region's supervisor both.
    assert_eq!(app.get(&path, &street_bureau).await["providers"].as_array().unwrap().len(), 1);
    let by_division = app.get(&format!("{path}&division=330205002"), &supervisor).await;
    assert_eq!(by_division["providers"].as_array().unwrap().len(), 1);
    assert_eq!(by_division["providers"][0]["institution_id"], lakeside_id.as_str());
    // The district cockpit shows last month's scores per street.
    if month == eldercare::care::follow_ups::last_month(chrono::Utc::now()).format("%Y-%m").to_string() {
        let district = app.get("/api/v1/cockpit/district?division=330205", &bureau).await;
        let street = |code: &str| {
            district["children"].as_array().unwrap().iter().find(|c| c["code"] == code).unwrap()["scores"].clone()
        };
        assert_eq!(street("330205001"), json!({"providers": 1, "scored": 1, "mean": 87.0, "lowest": 87}));
        assert_eq!(street("330205002"), json!({"providers": 1, "scored": 0, "mean": null, "lowest": null}));
    }
}
