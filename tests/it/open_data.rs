//! Open data without logging in: a street's communities counted by grade,
//! the three elders of grade 4 in one community withheld, and with them
//! enough other counts that no published total minus published counts
//! gives the three back, at either level; nothing below community level,
//! nothing but counts; CSV; a limit per client address.
//!
//! The registry is seeded directly (elders and their graded assessments):
//! what is under test is what is published of it.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::registry::ladder;
use crate::support::{Broker, TestApp, fresh_database};

/// `n` elders in `division` with an assessment of `grade` (none: unassessed).
async fn elders(app: &TestApp, division: &str, grade: Option<i32>, n: usize) {
    for _ in 0..n {
        let id = uuid::Uuid::new_v4();
        sqlx::query(
            "insert into residents (id, institution_id, name, timezone, division, household, birth_date)
             select $1, id, 'Elder', 'Asia/Shanghai', $2, 'alone', date '1940-05-01' from institutions limit 1",
        )
        .bind(id)
        .bind(division)
        .execute(&app.pool)
        .await
        .unwrap();
        if let Some(grade) = grade {
            sqlx::query(
                "insert into assessments (id, resident_id, scale, items, total, grade, grade_label, assessed_at, valid_until)
                 values ($1, $2, 'barthel', '{}', 0, $3, 'graded', now(), current_date + 700)",
            )
            .bind(uuid::Uuid::new_v4())
            .bind(id)
            .bind(grade)
            .execute(&app.pool)
            .await
            .unwrap();
        }
    }
}

async fn open(app: &TestApp, query: &str) -> (StatusCode, Value) {
    let response = app.http.get(app.url(&format!("/open/v1/aggregates?{query}"))).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn cell<'a>(answer: &'a Value, division: &str, group: &str) -> &'a Value {
    answer["rows"].as_array().unwrap().iter().find(|r| r["division"] == division && r["group"] == group).unwrap()
}

/// No row and no column of a published table has exactly one count
/// withheld: a total minus the published rest never gives one back.
fn no_lone_withheld(answer: &Value) {
    let rows = answer["rows"].as_array().unwrap();
    for key in ["division", "group"] {
        let mut lines: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
        for r in rows {
            let line = lines.entry(r[key].as_str().unwrap().to_owned()).or_default();
            line.0 += 1;
            line.1 += usize::from(r["suppressed"] == true);
        }
        for (line, (cells, withheld)) in lines {
            assert!(withheld != 1 || cells == 1, "{key} {line} has one count withheld alone: {answer}");
        }
    }
}

#[tokio::test]
async fn counts_are_published_for_anyone_with_small_ones_and_their_giveaways_withheld() {
    let app = TestApp::spawn_with(Broker::start().await, fresh_database().await, |s| {
        s.http.open_data_per_minute = 6;
    })
    .await;
    let operator = app.operator_token().await;
    ladder(&app, &operator).await;
    for (code, level) in [("330205001002", "community"), ("330205002001", "community")] {
        let body = json!({"code": code, "name": format!("Division {code}"), "level": level});
        assert_eq!(app.call("POST", "/api/v1/divisions", Some(&operator), Some(body)).await.0, StatusCode::CREATED);
    }
    // Lotus (330205001001): three of grade 4 among twenty.
    elders(&app, "330205001001001", Some(4), 3).await;
    elders(&app, "330205001001", Some(2), 8).await;
    elders(&app, "330205001001", Some(1), 9).await;
    elders(&app, "330205001002", Some(2), 6).await;
    elders(&app, "330205001002", Some(1), 7).await;
    elders(&app, "330205002001", None, 7).await;

    // No login; the street's communities by grade.
    let (status, by_grade) = open(&app, "division=330205001&measure=elders_by_grade").await;
    assert_eq!(status, StatusCode::OK, "{by_grade}");
    assert_eq!(by_grade["measure"], "elders_by_grade");
    assert_eq!(
        cell(&by_grade, "330205001001", "4"),
        &json!({"division": "330205001001", "group": "4", "count": null, "suppressed": true})
    );
    assert_eq!(cell(&by_grade, "330205001001", "1")["count"], 9);
    assert_eq!(cell(&by_grade, "330205001002", "1")["count"], 7);
    no_lone_withheld(&by_grade);
    // Her community's total is published by another measure; its grade
    // counts withheld are two at least, so the total minus the rest is a
    // sum of two, never the three.
    let (_, alone) = open(&app, "division=330205001&measure=living_alone").await;
    assert_eq!(cell(&alone, "330205001001", "alone")["count"], 20);
    let withheld: Vec<&Value> = by_grade["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["division"] == "330205001001" && r["suppressed"] == true)
        .collect();
    assert!(withheld.len() >= 2, "{by_grade}");
    // One level up, the street's grade 4 is the same three: withheld too.
    let (_, district) = open(&app, "division=330205&measure=elders_by_grade").await;
    assert_eq!(cell(&district, "330205001", "4")["count"], Value::Null);
    no_lone_withheld(&district);

    // Only counts: no name, id or date leaves.
    for row in by_grade["rows"].as_array().unwrap() {
        let mut keys: Vec<&str> = row.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["count", "division", "group", "suppressed"]);
    }
    // Down to community level only; an unknown division is 404.
    assert_eq!(open(&app, "division=330205001001&measure=elders_by_grade").await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(open(&app, "division=330299&measure=elders_by_grade").await.0, StatusCode::NOT_FOUND);

    // CSV.
    let csv = app
        .http
        .get(app.url("/open/v1/aggregates?division=330205001&measure=elders_by_grade&format=csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.unwrap();
    assert!(text.starts_with("division,measure,group,count,suppressed\n"));
    assert!(text.contains("330205001001,elders_by_grade,4,,true\n"), "{text}");
    assert!(text.contains("330205001001,elders_by_grade,1,9,false\n"), "{text}");

    // Six requests a minute per address here: the seventh waits.
    let (status, body) = open(&app, "division=330205001&measure=living_alone").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "too_many_requests");
}
