//! Meal services end to end: kitchens and their users, plans turned into
//! orders by the kitchen's cut-off, the production list and the round, the
//! courier's outcomes (a meal handed over is meal evidence, no answer raises
//! an alert that dispatches a welfare check), the family's cancellation and
//! the monthly meal statement.

use chrono::{Datelike, Duration, NaiveDate, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::TestApp;

const EVERY_DAY: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn every_day(meals: &[&str]) -> Value {
    Value::Object(EVERY_DAY.iter().map(|d| ((*d).to_owned(), json!(meals))).collect())
}

/// A kitchen of the admin's institution; its cut-off as given.
async fn kitchen(app: &TestApp, admin: &str, cutoff: &str, location: Option<(f64, f64)>) -> String {
    let mut body = json!({"name": format!("Kitchen {cutoff}"), "cutoff": cutoff, "timezone": "Asia/Shanghai",
                          "prices": {"breakfast": 6, "lunch": 12.5, "dinner": 12}});
    if let Some((lat, lon)) = location {
        body["location"] = json!({"lat": lat, "lon": lon});
    }
    let (status, body) = app.call("POST", "/api/v1/kitchens", Some(admin), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().expect("kitchen id").to_owned()
}

async fn put_plan(app: &TestApp, token: &str, resident: &str, plan: Value) -> (StatusCode, Value) {
    app.call("PUT", &format!("/api/v1/residents/{resident}/meal-plan"), Some(token), Some(plan)).await
}

async fn orders(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let body = app.get(&format!("/api/v1/meal-orders?{query}"), token).await;
    body["orders"].as_array().expect("orders").clone()
}

/// Today in the residents' zone (the test residents live in Asia/Shanghai).
fn today() -> NaiveDate {
    Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive()
}

#[tokio::test]
async fn a_plan_orders_three_days_and_the_kitchen_sees_its_production_and_nothing_else() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let wang = app.resident(&admin, "Wang Fang").await;
    let li = app.resident(&admin, "Li Wei").await;
    let k = kitchen(&app, &admin, "23:59", None).await;
    let other_kitchen = kitchen(&app, &admin, "23:59", None).await;

    let plan = json!({"kitchen_id": k, "delivery": "home", "funding": "subsidy", "days": every_day(&["lunch", "dinner"]),
                      "diet": ["diabetic", "low_sodium"], "texture": "iddsi_5", "allergies": ["Peanut"],
                      "delivery_notes": "Ring twice"});
    let (status, saved) = put_plan(&app, &admin, &wang, plan).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["orders"]["created"], 6, "lunch and dinner for today and the next two days");
    assert_eq!(saved["allergies"], json!(["peanut"]));
    let plan = json!({"kitchen_id": k, "delivery": "canteen", "funding": "self_pay", "days": every_day(&["lunch"])});
    assert_eq!(put_plan(&app, &admin, &li, plan).await.0, StatusCode::OK);
    let plan =
        json!({"kitchen_id": other_kitchen, "delivery": "home", "funding": "subsidy", "days": every_day(&["lunch"])});
    let zhao = app.resident(&admin, "Zhao Min").await;
    assert_eq!(put_plan(&app, &admin, &zhao, plan).await.0, StatusCode::OK);

    let day = today();
    let dates: Vec<String> = orders(&app, &admin, &format!("resident_id={wang}"))
        .await
        .iter()
        .map(|o| o["date"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> =
        (0..3).flat_map(|d| [(day + Duration::days(d)).to_string(), (day + Duration::days(d)).to_string()]).collect();
    assert_eq!(dates, expected);
    let wang_lunch = &orders(&app, &admin, &format!("resident_id={wang}&date={day}&meal=lunch")).await[0];
    assert_eq!(wang_lunch["diet"], json!(["diabetic", "low_sodium"]));
    assert_eq!(wang_lunch["texture"], "iddsi_5");
    assert_eq!(wang_lunch["late"], false);

    // The production list: every portion by diet and texture, every allergy named.
    let list = app.get(&format!("/api/v1/kitchens/{k}/production?date={day}"), &admin).await;
    let lunch = &list["meals"]["lunch"];
    assert_eq!(lunch["total"], 2);
    assert_eq!(lunch["by_diet"], json!({"diabetic": 1, "low_sodium": 1, "standard": 1}));
    assert_eq!(lunch["by_texture"], json!({"iddsi_5": 1, "regular": 1}));
    assert_eq!(lunch["allergies"], json!([{"resident_id": wang, "allergens": ["peanut"]}]));
    assert_eq!(list["meals"]["dinner"]["total"], 1);

    // A kitchen user: their kitchen's orders, no other kitchen's, no resident record.
    let user = json!({"email": "cook@test.example", "password": "long enough pw", "role": "kitchen", "name": "Cook", "kitchen_id": k});
    let (status, body) = app.call("POST", "/api/v1/users", Some(&admin), Some(user)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let no_kitchen =
        json!({"email": "cook2@test.example", "password": "long enough pw", "role": "kitchen", "name": "Cook"});
    let (status, _) = app.call("POST", "/api/v1/users", Some(&admin), Some(no_kitchen)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let cook = app.login("cook@test.example", "long enough pw").await;
    let seen = orders(&app, &cook, &format!("date={day}")).await;
    assert_eq!(seen.len(), 3, "Wang's two meals and Li's lunch: {seen:?}");
    assert!(seen.iter().all(|o| o["kitchen_id"] == json!(k)));
    assert!(orders(&app, &cook, &format!("kitchen_id={other_kitchen}")).await.is_empty());
    let (status, _) = app.call("GET", &format!("/api/v1/kitchens/{other_kitchen}/production"), Some(&cook), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.call("GET", &format!("/api/v1/residents/{wang}"), Some(&cook), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.call("GET", &format!("/api/v1/residents/{wang}/meal-plan"), Some(&cook), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let alerts = app.call("GET", "/api/v1/alerts", Some(&cook), None).await.1;
    assert!(alerts["alerts"].as_array().is_none_or(|a| a.is_empty()), "a kitchen sees no alerts: {alerts}");

    // Paging walks every order once.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app.get(&format!("/api/v1/meal-orders?limit=4{cursor}"), &admin).await;
        seen.extend(page["orders"].as_array().unwrap().iter().map(|o| o["id"].clone()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    let total = app.count("select count(*) from meal_orders").await;
    assert_eq!(seen.len() as i64, total);
    seen.dedup();
    assert_eq!(seen.len() as i64, total);
}

#[tokio::test]
async fn plan_changes_follow_the_cutoff_and_the_family_may_cancel_only_before_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let wang = app.resident(&admin, "Wang Fang").await;
    // Cut-off at midnight: today's orders are already being cooked, tomorrow's not.
    let k = kitchen(&app, &admin, "00:00", None).await;
    let day = today();
    let tomorrow = day + Duration::days(1);
    let plan =
        json!({"kitchen_id": k, "delivery": "home", "funding": "subsidy", "days": every_day(&["lunch", "dinner"])});
    assert_eq!(put_plan(&app, &admin, &wang, plan).await.0, StatusCode::OK);
    let today_lunch = &orders(&app, &admin, &format!("date={day}&meal=lunch")).await[0];
    assert_eq!(today_lunch["late"], true, "made after its day's cut-off");

    // Dinner dropped: tomorrow's dinner is cancelled, today's stands (cooked).
    let plan = json!({"kitchen_id": k, "delivery": "home", "funding": "subsidy", "days": every_day(&["lunch"])});
    let (_, saved) = put_plan(&app, &admin, &wang, plan).await;
    assert_eq!(saved["orders"]["cancelled"], 2, "tomorrow's and the day after's dinner: {saved}");
    let status_of = |list: &[Value]| list[0]["status"].as_str().unwrap().to_owned();
    assert_eq!(status_of(&orders(&app, &admin, &format!("date={day}&meal=dinner")).await), "planned");
    let dinner = orders(&app, &admin, &format!("date={tomorrow}&meal=dinner")).await;
    assert_eq!((status_of(&dinner), dinner[0]["cancel_reason"].clone()), ("cancelled".into(), json!("plan_changed")));

    // A family member cancels tomorrow's lunch; not today's (past the
    // cut-off), not yesterday's, not twice.
    let user = json!({"email": "son@test.example", "password": "long enough pw", "role": "family", "name": "Son"});
    let son = app.post("/api/v1/users", &admin, user).await["id"].as_str().unwrap().to_owned();
    app.post(&format!("/api/v1/residents/{wang}/family"), &admin, json!({"user_id": son, "relationship": "son"})).await;
    let son = app.login("son@test.example", "long enough pw").await;
    let cancel = |date: NaiveDate| {
        let path = format!("/api/v1/residents/{wang}/meal-orders/{date}/cancel");
        let son = son.clone();
        let app = &app;
        async move { app.call("POST", &path, Some(&son), Some(json!({"meal": "lunch"}))).await }
    };
    let (status, body) = cancel(tomorrow).await;
    assert_eq!((status, body["status"].clone()), (StatusCode::OK, json!("cancelled")), "{body}");
    assert_eq!(cancel(tomorrow).await.0, StatusCode::CONFLICT, "already cancelled");
    let (status, body) = cancel(day).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("cut-off"));
    // A past day is settled, ordered or not (care.md: 409).
    let (status, body) = cancel(day - Duration::days(1)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("past day"), "{body}");
    assert_eq!(cancel(day - Duration::days(400)).await.0, StatusCode::CONFLICT, "long before any plan");
    assert_eq!(cancel(day + Duration::days(300)).await.0, StatusCode::NOT_FOUND, "no order planned that far ahead");
    // The family reads the plan, and the day's meals in the daily summary.
    let plan = app.get(&format!("/api/v1/residents/{wang}/meal-plan"), &son).await;
    assert_eq!(plan["plan"]["days"]["mon"], json!(["lunch"]));
    // With the orders from today on, each with the cut-off it may be
    // cancelled until: today's has passed (midnight), tomorrow's not.
    let ahead: Vec<(String, String, String, Option<String>)> = plan["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let field = |k: &str| o[k].as_str().unwrap().to_owned();
            (field("date"), field("meal"), field("status"), o["cancel_reason"].as_str().map(str::to_owned))
        })
        .collect();
    let day_after = tomorrow + Duration::days(1);
    let expected = [
        (day, "lunch", "planned", None),
        (day, "dinner", "planned", None),
        (tomorrow, "lunch", "cancelled", Some("family")),
        (tomorrow, "dinner", "cancelled", Some("plan_changed")),
        (day_after, "lunch", "planned", None),
        (day_after, "dinner", "cancelled", Some("plan_changed")),
    ]
    .map(|(d, m, s, r)| (d.to_string(), m.to_owned(), s.to_owned(), r.map(str::to_owned)));
    assert_eq!(ahead, expected, "{plan}");
    let cancel_by =
        |i: usize| plan["orders"][i]["cancel_by"].as_str().unwrap().parse::<chrono::DateTime<Utc>>().unwrap();
    assert!(cancel_by(0) <= Utc::now() && cancel_by(2) > Utc::now(), "{plan}");
    assert_eq!(cancel_by(2) - cancel_by(0), Duration::days(1), "midnight of each day, in Shanghai");
    let summary = app.get(&format!("/api/v1/residents/{wang}/summary"), &son).await;
    let meals: Vec<&str> =
        summary["meal_service"]["orders"].as_array().unwrap().iter().map(|o| o["meal"].as_str().unwrap()).collect();
    assert_eq!(meals, ["lunch", "dinner"], "{summary}");

    // A plan change never undoes the family's cancellation.
    let plan =
        json!({"kitchen_id": k, "delivery": "home", "funding": "subsidy", "days": every_day(&["lunch", "dinner"])});
    let (_, saved) = put_plan(&app, &admin, &wang, plan).await;
    assert_eq!(saved["orders"]["restored"], 2, "the plan's own dinner cancellations come back: {saved}");
    assert_eq!(status_of(&orders(&app, &admin, &format!("date={tomorrow}&meal=lunch")).await), "cancelled");

    // A hospital stay from tomorrow: those meals are cancelled as suspended.
    let until = day + Duration::days(5);
    let plan = json!({"kitchen_id": k, "delivery": "home", "funding": "subsidy", "days": every_day(&["lunch", "dinner"]),
                      "suspended": {"from": tomorrow, "until": until}});
    put_plan(&app, &admin, &wang, plan).await;
    let dinner = orders(&app, &admin, &format!("date={tomorrow}&meal=dinner")).await;
    assert_eq!(dinner[0]["cancel_reason"], "suspended");
    let audit = app.get("/api/v1/audit", &admin).await;
    let actions: Vec<&str> =
        audit["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"meal_order.cancelled") && actions.contains(&"meal_plan.saved"), "{actions:?}");
}

#[tokio::test]
async fn the_round_goes_area_by_area_and_the_door_that_did_not_open_raises_an_alert() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let k = kitchen(&app, &admin, "23:59", Some((29.8683, 121.5440))).await;
    let homes = [
        ("Far Away", Some((29.9500, 121.6500))),
        ("Next Door", Some((29.8690, 121.5445))),
        ("No Location", None),
        ("Far Neighbour", Some((29.9502, 121.6502))),
    ];
    let mut ids = Vec::new();
    for (name, location) in homes {
        let id = app.resident(&admin, name).await;
        let mut patch = json!({"address": format!("{name} Road")});
        if let Some((lat, lon)) = location {
            patch["location"] = json!({"lat": lat, "lon": lon});
        }
        let (status, body) = app.call("PATCH", &format!("/api/v1/residents/{id}"), Some(&admin), Some(patch)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let plan = json!({"kitchen_id": k, "delivery": "home", "funding": "subsidy", "days": every_day(&["lunch"]),
                          "delivery_notes": format!("Notes for {name}")});
        assert_eq!(put_plan(&app, &admin, &id, plan).await.0, StatusCode::OK);
        ids.push(id);
    }
    let day = today();
    let round = app.get(&format!("/api/v1/kitchens/{k}/routes?date={day}&meal=lunch"), &admin).await;
    let names: Vec<&str> = round["stops"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Next Door", "Far Away", "Far Neighbour", "No Location"]);
    assert_eq!(round["stops"][0]["delivery_notes"], "Notes for Next Door");
    assert_eq!(round["stops"][0]["address"], "Next Door Road");

    let order_of = |resident: &str| {
        let resident = resident.to_owned();
        let app = &app;
        let admin = admin.clone();
        async move {
            orders(app, &admin, &format!("resident_id={resident}&date={day}")).await[0]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let deliver = |order: String, outcome: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.call(
                "POST",
                &format!("/api/v1/meal-orders/{order}/delivery"),
                Some(&admin),
                Some(json!({"outcome": outcome})),
            )
            .await
        }
    };

    // No answer: a high alert at once, with the welfare check it asks for.
    let far = order_of(&ids[0]).await;
    let (status, body) = deliver(far.clone(), "no_answer").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let alert_id = body["alert_id"].as_str().expect("an alert").to_owned();
    let alert = app.get(&format!("/api/v1/alerts/{alert_id}"), &admin).await;
    assert_eq!((alert["kind"].as_str(), alert["severity"].as_str()), (Some("meal_no_answer"), Some("high")));
    assert_eq!(alert["resident_id"], json!(ids[0]));
    assert_eq!(alert["details"]["dispatch"]["service_code"], "WELFARE-CHECK");
    let (status, visit) =
        app.call("POST", &format!("/api/v1/alerts/{alert_id}/dispatch"), Some(&admin), Some(json!({}))).await;
    assert_eq!(status, StatusCode::CREATED, "{visit}");
    assert_eq!(visit["alert_id"], json!(alert_id));
    // The courier's second try finds her: the alert clears by itself.
    let (status, body) = deliver(far.clone(), "handed_over").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let alert = app.get(&format!("/api/v1/alerts/{alert_id}"), &admin).await;
    assert_eq!((alert["status"].as_str(), alert["resolution"].as_str()), (Some("resolved"), Some("auto_cleared")));
    // Once handed over, that stands.
    assert_eq!(deliver(far, "refused").await.0, StatusCode::CONFLICT);

    // Handed over is meal evidence, through the rule's own function: the
    // family summary shows the lunch taken, by the meal service. (Her lunch
    // window is put around now, within today.)
    let local = Utc::now().with_timezone(&chrono_tz::Asia::Shanghai);
    let start = if (local - Duration::hours(1)).date_naive() == local.date_naive() {
        (local - Duration::hours(1)).format("%H:%M").to_string()
    } else {
        "00:00".to_owned()
    };
    let end = if (local + Duration::hours(1)).date_naive() == local.date_naive() {
        (local + Duration::hours(1)).format("%H:%M").to_string()
    } else {
        "23:59".to_owned()
    };
    let windows = json!([{"meal": "lunch", "start": start, "end": end}]);
    let (status, body) =
        app.call("PUT", &format!("/api/v1/residents/{}/meal-windows", ids[1]), Some(&admin), Some(windows)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let next_door = order_of(&ids[1]).await;
    assert_eq!(deliver(next_door, "handed_over").await.0, StatusCode::OK);
    let events = app
        .count(&format!("select count(*) from events where resident_id = '{}' and kind = 'meal_served'", ids[1]))
        .await;
    assert_eq!(events, 1);
    let summary = app.get(&format!("/api/v1/residents/{}/summary", ids[1]), &admin).await;
    let orders_today = &summary["meal_service"]["orders"];
    assert_eq!(orders_today[0]["outcome"], "handed_over", "{summary}");
    let lunch = summary["meals"].as_array().unwrap().iter().find(|m| m["meal"] == "lunch").expect("a lunch window");
    assert_eq!(lunch["status"], "taken", "{summary}");
    assert_eq!(lunch["evidence"]["kind"], "meal_served", "{summary}");
    // Left at the door is delivered, but no evidence that she ate.
    let neighbour = order_of(&ids[3]).await;
    assert_eq!(deliver(neighbour, "left_at_door").await.1["status"], "delivered");
    let events = app.count(&format!("select count(*) from events where resident_id = '{}'", ids[3])).await;
    assert_eq!(events, 0);

    // A kitchen user of another kitchen cannot record an outcome here.
    let other = kitchen(&app, &admin, "23:59", None).await;
    let user = json!({"email": "courier@test.example", "password": "long enough pw", "role": "kitchen", "name": "C", "kitchen_id": other});
    app.post("/api/v1/users", &admin, user).await;
    let courier = app.login("courier@test.example", "long enough pw").await;
    let no_location = order_of(&ids[2]).await;
    let (status, _) = app
        .call(
            "POST",
            &format!("/api/v1/meal-orders/{no_location}/delivery"),
            Some(&courier),
            Some(json!({"outcome": "refused"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            "POST",
            &format!("/api/v1/meal-orders/{no_location}/delivery"),
            Some(&admin),
            Some(json!({"outcome": "eaten"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_meal_statement_bills_what_was_delivered_at_the_prices_ordered_and_the_daily_run_extends_orders() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let wang = app.resident(&admin, "Wang, Fang").await;
    let li = app.resident(&admin, "Li Wei").await;
    let k = kitchen(&app, &admin, "23:59", None).await;
    for (resident, funding) in [(&wang, "subsidy"), (&li, "self_pay")] {
        let plan = json!({"kitchen_id": k, "delivery": "home", "funding": funding, "days": every_day(&["breakfast", "lunch"])});
        assert_eq!(put_plan(&app, &admin, resident, plan).await.0, StatusCode::OK);
    }
    let day = today();
    for o in orders(&app, &admin, &format!("date={day}")).await {
        let outcome = if o["resident_id"] == json!(wang) && o["meal"] == "lunch" { "refused" } else { "handed_over" };
        let path = format!("/api/v1/meal-orders/{}/delivery", o["id"].as_str().unwrap());
        assert_eq!(app.call("POST", &path, Some(&admin), Some(json!({"outcome": outcome}))).await.0, StatusCode::OK);
    }
    // Orders of a day still to come cannot be delivered yet.
    let later = &orders(&app, &admin, &format!("date={}", day + Duration::days(2))).await[0];
    let path = format!("/api/v1/meal-orders/{}/delivery", later["id"].as_str().unwrap());
    assert_eq!(
        app.call("POST", &path, Some(&admin), Some(json!({"outcome": "handed_over"}))).await.0,
        StatusCode::CONFLICT
    );

    let month = format!("{}-{:02}", day.year(), day.month());
    let statement = app.get(&format!("/api/v1/meal-statements?month={month}&funding=subsidy"), &admin).await;
    assert_eq!(statement["residents"], json!([{"resident_id": wang, "name": "Wang, Fang", "meals": 1, "amount": 6.0}]));
    assert_eq!(statement["total"], json!({"meals": 1, "amount": 6.0}));
    let self_pay = app.get(&format!("/api/v1/meal-statements?month={month}&funding=self_pay"), &admin).await;
    assert_eq!(self_pay["total"], json!({"meals": 2, "amount": 18.5}));
    let response = app
        .http
        .get(app.url(&format!("/api/v1/meal-statements?month={month}&funding=subsidy&format=csv")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert_eq!(
        response.text().await.unwrap(),
        format!("resident_id,name,meals,amount\n{wang},\"Wang, Fang\",1,6.00\n")
    );
    let (status, _) =
        app.call("GET", "/api/v1/meal-statements?month=2026-13&funding=subsidy", Some(&admin), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The cockpit counts the period's orders: today's four, three delivered.
    let cockpit = app.get("/api/v1/cockpit", &admin).await;
    assert_eq!(cockpit["meals"], json!({"planned": 4, "delivered": 3, "no_answer": 0, "cancelled": 0}), "{cockpit}");

    // The daily run, a day later: the day after next gets its orders, once.
    let before = app.count("select count(*) from meal_orders").await;
    let tomorrow = Utc::now() + Duration::days(1);
    let synced = eldercare::store::meals::sync_due(&app.pool, tomorrow).await.unwrap();
    assert_eq!(synced, 2);
    assert_eq!(app.count("select count(*) from meal_orders").await, before + 4);
    assert_eq!(eldercare::store::meals::sync_due(&app.pool, tomorrow).await.unwrap(), 0, "nothing left to do");
    let newest =
        app.count(&format!("select count(*) from meal_orders where date = '{}'", day + Duration::days(3))).await;
    assert_eq!(newest, 4);
}
