//! Records: logins in the audit trail, the access log of health-data reads,
//! the pseudonymisable audit chain, export and erasure of a resident, and
//! retention.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use crate::support::{TestApp, empty_database, fresh_database, wait_for};

fn id_of(body: &Value) -> String {
    body["id"].as_str().expect("id").to_owned()
}

async fn login(app: &TestApp, email: &str, password: &str, code: Option<&str>) -> StatusCode {
    let mut body = json!({"email": email, "password": password});
    if let Some(code) = code {
        body["code"] = json!(code);
    }
    app.call("POST", "/api/v1/auth/login", None, Some(body)).await.0
}

/// The login entries of one account's trail, oldest first, as
/// (action, reason).
async fn logins(app: &TestApp, token: &str, user: &str) -> Vec<(String, Option<String>)> {
    let trail = app.get(&format!("/api/v1/audit?entity=user&entity_id={user}"), token).await;
    let mut out: Vec<(String, Option<String>)> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("login."))
        .map(|e| (e["action"].as_str().unwrap().to_owned(), e["details"]["reason"].as_str().map(str::to_owned)))
        .collect();
    out.reverse();
    out
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok()).unwrap_or_else(|| panic!("{name} in {text}"))
}

#[tokio::test]
async fn every_login_attempt_on_an_account_is_audited_and_unknown_emails_are_counted() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let user = |email: &str| json!({"email": email, "password": "long enough pw", "role": "staff", "name": "N"});
    let nurse = id_of(&app.post("/api/v1/users", &admin, user("nurse@test.example")).await);
    let guessed = id_of(&app.post("/api/v1/users", &admin, user("guessed@test.example")).await);

    assert_eq!(login(&app, "nurse@test.example", "long enough pw", None).await, StatusCode::OK);
    assert_eq!(login(&app, "NURSE@test.example", "wrong", None).await, StatusCode::UNAUTHORIZED);
    app.call("PATCH", &format!("/api/v1/users/{nurse}"), Some(&admin), Some(json!({"disabled": true}))).await;
    assert_eq!(login(&app, "nurse@test.example", "long enough pw", None).await, StatusCode::UNAUTHORIZED);
    app.call("PATCH", &format!("/api/v1/users/{nurse}"), Some(&admin), Some(json!({"disabled": false}))).await;
    // A second factor, turned on underneath: a wrong code fails it.
    sqlx::query(
        "update users set totp_secret = '\\x3132333435363738393031323334353637383930', totp_enabled_at = now()
         where id = $1::uuid",
    )
    .bind(&nurse)
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(login(&app, "nurse@test.example", "long enough pw", None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(login(&app, "nurse@test.example", "long enough pw", Some("not-a-code")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        logins(&app, &admin, &nurse).await,
        vec![
            ("login.succeeded".to_owned(), None),
            ("login.failed".to_owned(), Some("wrong_password".to_owned())),
            ("login.failed".to_owned(), Some("disabled".to_owned())),
            ("login.failed".to_owned(), Some("second_factor_required".to_owned())),
            ("login.failed".to_owned(), Some("second_factor_failed".to_owned())),
        ]
    );

    for _ in 0..5 {
        assert_eq!(login(&app, "guessed@test.example", "guess", None).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login(&app, "guessed@test.example", "long enough pw", None).await, StatusCode::TOO_MANY_REQUESTS);
    let guesses = logins(&app, &admin, &guessed).await;
    assert_eq!(guesses.len(), 6);
    assert_eq!(guesses[5], ("login.failed".to_owned(), Some("rate_limited".to_owned())));

    // The operator's logins are in the platform's chain, not an institution's.
    let operator = app.operator_token().await;
    let me = app.get("/api/v1/me", &operator).await;
    let platform = app.get("/api/v1/audit?action=login.succeeded", &operator).await;
    assert!(platform["entries"].as_array().unwrap().iter().all(|e| e["actor_id"] == me["id"]));
    assert!(!platform["entries"].as_array().unwrap().is_empty());
    let home = app.get("/api/v1/audit?action=login.succeeded", &admin).await;
    assert!(home["entries"].as_array().unwrap().iter().all(|e| e["actor_id"] != me["id"]));

    // Unknown emails: counted, and in no trail.
    let metrics = || async { app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap() };
    let before = metric(&metrics().await, "eldercare_login_unknown_account_total");
    assert_eq!(login(&app, "nobody@test.example", "x", None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(metric(&metrics().await, "eldercare_login_unknown_account_total"), before + 1);
    let trails = format!("{}{}", app.get("/api/v1/audit", &admin).await, app.get("/api/v1/audit", &operator).await);
    assert!(!trails.contains("nobody@"));
    assert_eq!(app.get("/api/v1/audit/verify", &admin).await["valid"], true);
    assert_eq!(app.get("/api/v1/audit/verify", &operator).await["valid"], true);
}

#[tokio::test]
async fn reads_of_health_data_are_in_the_access_log_not_the_audit_chain() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let rid = app.resident(&admin, "Read Often").await;
    let other = app.resident(&admin, "Read Once").await;
    let fam = json!({"email": "fam@test.example", "password": "long enough pw", "role": "family", "name": "Fam"});
    let fam_id = id_of(&app.post("/api/v1/users", &admin, fam).await);
    app.post(&format!("/api/v1/residents/{rid}/family"), &admin, json!({"user_id": fam_id, "relationship": "son"}))
        .await;
    let family = app.login("fam@test.example", "long enough pw").await;

    app.get(&format!("/api/v1/residents/{rid}/readings?metric=heart_rate"), &admin).await;
    app.get(&format!("/api/v1/residents/{rid}/events"), &admin).await;
    app.get(&format!("/api/v1/residents/{rid}/summary"), &family).await;
    app.get(&format!("/api/v1/residents/{rid}/export"), &admin).await;
    app.get(&format!("/api/v1/residents/{other}/events"), &admin).await;
    // A read refused is no read.
    let (status, _) = app.call("GET", &format!("/api/v1/residents/{other}/summary"), Some(&family), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let log = app.get(&format!("/api/v1/access-log?resident_id={rid}"), &admin).await;
    let entries = log["entries"].as_array().unwrap();
    let seen: Vec<(&str, &str)> =
        entries.iter().map(|e| (e["kind"].as_str().unwrap(), e["role"].as_str().unwrap())).collect();
    assert_eq!(seen, vec![("export", "admin"), ("summary", "family"), ("events", "admin"), ("readings", "admin")]);
    assert_eq!(entries[1]["user_id"], fam_id.as_str());
    assert_eq!(entries[1]["user_name"], "Fam");
    assert!(entries.iter().all(|e| e["session_kind"] == "login"));
    assert!(entries.iter().all(|e| e["resident_id"] == rid.as_str() && e["at"].is_string()));
    assert_eq!(log["next_cursor"], Value::Null);

    // Pages of two, newest first, over every resident.
    let first = app.get("/api/v1/access-log?limit=2", &admin).await;
    assert_eq!(first["entries"][0]["resident_id"], other.as_str());
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = app.get(&format!("/api/v1/access-log?limit=2&cursor={cursor}"), &admin).await;
    let third = app
        .get(&format!("/api/v1/access-log?limit=2&cursor={}", second["next_cursor"].as_str().unwrap()), &admin)
        .await;
    assert_eq!(third["entries"].as_array().unwrap().len(), 1);
    assert_eq!(third["next_cursor"], Value::Null);
    let future = app.get("/api/v1/access-log?from=2100-01-01T00:00:00Z", &admin).await;
    assert_eq!(future["entries"], json!([]));
    let (status, body) = app.call("GET", "/api/v1/access-log?cursor=nope", Some(&admin), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed")));

    // A wall screen's read names the screen's token and who made it.
    let screen = app.post("/api/v1/display-tokens", &admin, json!({"label": "Hall"})).await;
    app.get(&format!("/api/v1/residents/{rid}/events"), screen["token"].as_str().unwrap()).await;
    let newest = app.get(&format!("/api/v1/access-log?resident_id={rid}&limit=1"), &admin).await;
    assert_eq!(newest["entries"][0]["session_kind"], "display");
    assert_eq!(newest["entries"][0]["role"], "admin");
    let chain_before = app.get("/api/v1/audit/verify", &admin).await["entries"].clone();
    app.get(&format!("/api/v1/residents/{rid}/events"), &admin).await;

    // Nothing of it went through the chain.
    assert_eq!(app.get("/api/v1/audit/verify", &admin).await["entries"], chain_before);
    let (status, _) = app.call("GET", "/api/v1/access-log", Some(&family), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// How many rows of the database's own tables mention `text` anywhere.
async fn mentions(app: &TestApp, text: &str) -> Vec<(String, i64)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "select table_name::text from information_schema.tables
         where table_schema = 'public' and table_type = 'BASE TABLE' order by 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let mut found = Vec::new();
    for table in tables {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "select count(*) from \"{table}\" x where x::text ilike '%' || $1 || '%'"
        )))
        .bind(text)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if n > 0 {
            found.push((table, n));
        }
    }
    found
}

#[tokio::test]
async fn a_resident_is_exported_whole_then_erased_leaving_no_name_and_a_valid_chain() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let name = "Qiuyue Zhangsun";
    let rid = app.resident(&admin, name).await;
    app.call(
        "PATCH",
        &format!("/api/v1/residents/{rid}"),
        Some(&admin),
        Some(json!({"notes": "Qiuyue Zhangsun likes tea; daughter visits Sundays"})),
    )
    .await;
    let fam =
        json!({"email": "daughter@test.example", "password": "long enough pw", "role": "family", "name": "Daughter"});
    let fam_id = id_of(&app.post("/api/v1/users", &admin, fam).await);
    app.post(
        &format!("/api/v1/residents/{rid}/family"),
        &admin,
        json!({"user_id": fam_id, "relationship": "daughter"}),
    )
    .await;
    let family = app.login("daughter@test.example", "long enough pw").await;
    app.post(&format!("/api/v1/residents/{rid}/messages"), &family, json!({"text": "How is Qiuyue Zhangsun today?"}))
        .await;
    let consent = json!({"given": true, "given_by": "guardian", "guardian_name": "Guardian Zhangsun"});
    let (status, body) =
        app.call("PUT", &format!("/api/v1/residents/{rid}/consent"), Some(&admin), Some(consent)).await;
    assert!(status.is_success(), "{body}");
    app.post("/api/v1/webhooks", &admin, json!({"url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef"})).await;
    app.device(&admin, json!({"device_id": "erase-sos", "resident_id": rid, "kind": "sos_button"})).await;
    app.broker.publish("eldercare/v1/erase-sos/event", json!({"event": "sos_pressed"}).to_string()).await;
    let alert = wait_for("the SOS", || async {
        app.get(&format!("/api/v1/alerts?resident_id={rid}"), &admin).await["alerts"].as_array()?.first().cloned()
    })
    .await;
    let alert_id = alert["id"].as_str().unwrap();
    app.post(&format!("/api/v1/alerts/{alert_id}/comments"), &admin, json!({"text": "Qiuyue Zhangsun is fine"})).await;
    sqlx::query(
        "insert into readings (ts, device_id, resident_id, metric, value)
         select now() - make_interval(mins => n), 'erase-sos', $1::uuid, 'heart_rate', 60 + n
         from generate_series(1, 5) n",
    )
    .bind(&rid)
    .execute(&app.pool)
    .await
    .unwrap();

    let export = app.get(&format!("/api/v1/residents/{rid}/export"), &admin).await;
    assert_eq!(export["resident"]["name"], name);
    assert_eq!(export["devices"][0]["device_id"], "erase-sos");
    assert_eq!(export["readings"].as_array().unwrap().len(), 5);
    assert_eq!(export["readings_truncated"], false);
    assert!(export["events"].as_array().unwrap().iter().any(|e| e["kind"] == "sos_pressed"), "{export}");
    assert_eq!(export["alerts"][0]["id"], alert_id);
    let timeline = export["alerts"][0]["timeline"].as_array().unwrap();
    assert!(timeline.iter().any(|e| e["details"]["text"] == "Qiuyue Zhangsun is fine"), "{timeline:?}");
    assert_eq!(export["messages"][0]["body"], "How is Qiuyue Zhangsun today?");
    assert_eq!(export["family"][0]["user_id"], fam_id.as_str());
    assert_eq!(export["consents"][0]["guardian_name"], "Guardian Zhangsun");
    assert_eq!(export["access_log"], json!([]), "this export is logged once answered");
    assert!(!mentions(&app, "Zhangsun").await.is_empty());

    let (status, _) = app.call("POST", &format!("/api/v1/residents/{rid}/erase"), Some(&family), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let erased = app.post(&format!("/api/v1/residents/{rid}/erase"), &admin, Value::Null).await;
    assert_eq!(erased["resident_id"], rid.as_str());
    assert_eq!(erased["erased"]["messages"], 1);
    assert_eq!(erased["erased"]["alert_comments"], 1);
    assert!(erased["erased"]["audit_entries"].as_u64().unwrap() >= 3, "{erased}");

    // Nowhere in the database, in any table.
    assert_eq!(mentions(&app, "Zhangsun").await, vec![]);
    assert_eq!(mentions(&app, "Qiuyue").await, vec![]);
    assert_eq!(app.get("/api/v1/audit/verify", &admin).await["valid"], true);
    // What the law keeps stays, de-identified.
    let resident = app.get(&format!("/api/v1/residents/{rid}"), &admin).await;
    assert_eq!(resident["name"], erased["name"]);
    assert_eq!(resident["notes"], Value::Null);
    assert_eq!(app.count(&format!("select count(*) from readings where resident_id = '{rid}'")).await, 5);
    assert_eq!(app.count(&format!("select count(*) from alerts where resident_id = '{rid}'")).await, 1);
    assert_eq!(app.count(&format!("select count(*) from consents where resident_id = '{rid}'")).await, 1);
    // The trail keeps its entries, marked, and records the erasure itself.
    let trail = app.get(&format!("/api/v1/audit?entity=resident&entity_id={rid}"), &admin).await;
    let entries = trail["entries"].as_array().unwrap();
    assert_eq!(entries[0]["action"], "resident.erased");
    assert_eq!(entries[0]["erased"], false);
    let created = entries.iter().find(|e| e["action"] == "resident.created").unwrap();
    assert_eq!((created["erased"].clone(), created["details"].clone()), (json!(true), Value::Null));

    let (status, body) = app.call("POST", &format!("/api/v1/residents/{rid}/erase"), Some(&admin), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{body}");
    let again = app.get(&format!("/api/v1/residents/{rid}/export"), &admin).await;
    assert_eq!(again["resident"]["name"], erased["name"]);
    assert_eq!(again["messages"][0]["body"], "[erased]");
    let kinds: Vec<&str> =
        again["access_log"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["export", "erase"], "the first export, before the erasure, then the erasure");
}

#[tokio::test]
async fn the_migration_rechains_existing_entries_and_keeps_their_values() {
    let url = empty_database().await;
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let migrator = &eldercare::store::MIGRATOR;
    migrator.run_to(20261130000050, &mut conn).await.unwrap();
    // Entries as the previous version wrote them (whole records hashed).
    let institution: uuid::Uuid = sqlx::query_scalar(
        "insert into institutions (id, name, timezone, kind) values (gen_random_uuid(), 'Old Home', 'UTC', 'care_home')
         returning id",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    for (n, (chain, details)) in [
        (Some(institution), json!({"name": "Old Name", "room": "3"})),
        (None, json!({"email": "old@test.example"})),
        (Some(institution), json!({"note": "ünïcode, \"quotes\" and 1.50"})),
    ]
    .into_iter()
    .enumerate()
    {
        sqlx::query(
            "insert into audit_log (institution_id, at, action, entity, entity_id, details, record, hash)
             values ($1, now() - make_interval(mins => $2), 'resident.created', 'resident', 'x', $3, 'old', '\\x00')",
        )
        .bind(chain)
        .bind(10 - n as i32)
        .bind(details)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    migrator.run(&mut conn).await.unwrap();

    let home = eldercare::audit::verify(&mut conn, Some(institution)).await.unwrap();
    assert_eq!((home.valid, home.entries), (true, 2), "{home:?}");
    let platform = eldercare::audit::verify(&mut conn, None).await.unwrap();
    assert_eq!((platform.valid, platform.entries), (true, 1), "{platform:?}");
    let records: Vec<String> = sqlx::query_scalar("select record from audit_log").fetch_all(&mut conn).await.unwrap();
    assert!(records.iter().all(|r| !r.contains("Old Name") && !r.contains("old@")), "{records:?}");

    // The chain goes on from the re-chained entries.
    let mut tx = conn.begin().await.unwrap();
    let actor = eldercare::audit::Actor { user_id: uuid::Uuid::nil(), institution_id: Some(institution) };
    sqlx::query("insert into users (id, email, password_hash, role, name, institution_id) values ($1, 'a@b.c', 'x', 'admin', 'A', $2)")
        .bind(actor.user_id)
        .bind(institution)
        .execute(&mut *tx)
        .await
        .unwrap();
    eldercare::audit::record(&mut tx, actor, "resident.updated", "resident", "x", json!({"room": "4"})).await.unwrap();
    tx.commit().await.unwrap();
    let home = eldercare::audit::verify(&mut conn, Some(institution)).await.unwrap();
    assert_eq!((home.valid, home.entries), (true, 3), "{home:?}");
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let listed =
        eldercare::audit::list(&pool, Some(institution), eldercare::audit::Filter::default(), None, 10).await.unwrap();
    assert_eq!(listed[1].details, Some(json!({"note": "ünïcode, \"quotes\" and 1.50"})));
    assert_eq!(listed[2].details, Some(json!({"name": "Old Name", "room": "3"})));
}

#[tokio::test]
async fn retention_deletes_old_rows_in_batches_and_keeps_recent_ones() {
    let broker = crate::support::broker::Broker::start().await;
    let app = TestApp::spawn_with(broker, fresh_database().await, |s| {
        s.scheduler.tick_ms = 100;
        s.retention.batch_size = 2;
        s.retention.every_secs = 1;
    })
    .await;
    let admin = app.admin_token().await;
    let rid = app.resident(&admin, "Kept").await;
    let hook = id_of(
        &app.post("/api/v1/webhooks", &admin, json!({"url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef"}))
            .await,
    );
    let user: String = sqlx::query_scalar("select id::text from users where role = 'admin' limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let seed = [
        // (what, old rows, young rows)
        "insert into quarantine (received_at, topic, reason, detail, payload)
         select now() - make_interval(days => $1), 't', 'malformed', 'd', '' from generate_series(1, $2)",
        "insert into quarantine_overflow (hour, device_id, topic_prefix, reason, count)
         select date_trunc('hour', now()) - make_interval(days => $1, hours => n), 'w', '', 'malformed', 1
         from generate_series(1, $2) n",
        "insert into webhook_deliveries (id, webhook_id, event, payload, created_at)
         select gen_random_uuid(), $3::uuid, 'alert.opened', '{}', now() - make_interval(days => $1)
         from generate_series(1, $2)",
        "insert into sessions (token_hash, user_id, created_at, expires_at, last_used_at)
         select decode(md5(random()::text), 'hex'), $4::uuid, now() - make_interval(days => $1 + 1),
                now() - make_interval(days => $1), now() - make_interval(days => $1)
         from generate_series(1, $2)",
        "insert into access_log (at, institution_id, user_id, role, kind, resident_id)
         select now() - make_interval(days => $1), r.institution_id, $4::uuid, 'admin', 'readings', r.id
         from residents r, generate_series(1, $2) where r.id = $5::uuid",
        "insert into ingest_seq (device_id, seq, ts, received_at)
         select 'dev-' || $1, n, now(), now() - make_interval(hours => $1) from generate_series(1, $2) n",
    ];
    // Old enough to go, then young enough to stay, for each table.
    let ages = [(8, 6), (8, 6), (31, 29), (8, 1), (731, 1), (25, 23)];
    for (sql, (old, young)) in seed.iter().zip(ages) {
        for (age, rows) in [(old, 5), (young, 1)] {
            sqlx::query(sqlx::AssertSqlSafe(*sql))
                .bind(age)
                .bind(rows)
                .bind(&hook)
                .bind(&user)
                .bind(&rid)
                .execute(&app.pool)
                .await
                .unwrap();
        }
    }
    let checks = [
        ("quarantine", "received_at < now() - interval '7 days'"),
        ("quarantine_overflow", "hour < now() - interval '7 days'"),
        ("webhook_deliveries", "created_at < now() - interval '30 days'"),
        ("sessions", "expires_at < now() - interval '7 days'"),
        ("access_log", "at < now() - interval '730 days'"),
        ("ingest_seq", "received_at < now() - interval '24 hours'"),
    ];
    for (table, old) in checks {
        // Five old rows in batches of two: three passes, one tick apart.
        app.wait_count(&format!("select 5 - count(*) from {table} where {old}"), 5).await;
        assert!(app.count(&format!("select count(*) from {table} where not ({old})")).await >= 1, "{table}");
    }
    assert_eq!(app.count("select count(*) from quarantine").await, 1);
    assert_eq!(
        app.count("select count(*) from webhook_deliveries where created_at < now() - interval '1 day'").await,
        1
    );
    assert_eq!(app.count("select count(*) from access_log").await, 1);
    assert_eq!(app.count("select count(*) from ingest_seq").await, 1);
    // The session that ended a day ago stays (and the admin's live one).
    assert_eq!(app.count("select count(*) from sessions where expires_at < now()").await, 1);
}

#[tokio::test]
async fn an_erasure_blanks_the_entries_about_the_resident_never_others_that_share_a_word_with_the_name() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let nurse = json!({"email": "nurse@test.example", "password": "long enough pw", "role": "staff", "name": "Nurse"});
    let nurse_id = id_of(&app.post("/api/v1/users", &admin, nurse).await);
    // The words the trail itself writes into failed logins and access changes.
    let wrong = app.resident(&admin, "wrong_password").await;
    let disabled = app.resident(&admin, "disabled").await;
    assert_eq!(login(&app, "nurse@test.example", "not the password", None).await, StatusCode::UNAUTHORIZED);
    let (status, body) =
        app.call("PATCH", &format!("/api/v1/users/{nurse_id}"), Some(&admin), Some(json!({"disabled": true}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for rid in [&wrong, &disabled] {
        let erased = app.post(&format!("/api/v1/residents/{rid}/erase"), &admin, Value::Null).await;
        assert_eq!(erased["erased"]["audit_entries"], 1, "its creation only: {erased}");
    }

    let trail = app.get(&format!("/api/v1/audit?entity=user&entity_id={nurse_id}"), &admin).await;
    let entry = |action: &str| {
        trail["entries"].as_array().unwrap().iter().find(|e| e["action"] == action).cloned().unwrap_or_default()
    };
    let failed = entry("login.failed");
    assert_eq!(
        (failed["erased"].clone(), failed["details"]["reason"].clone()),
        (json!(false), json!("wrong_password"))
    );
    let changed = entry("user.updated");
    assert_eq!((changed["erased"].clone(), changed["details"]["disabled"].clone()), (json!(false), json!(true)));
    for rid in [&wrong, &disabled] {
        let own = app.get(&format!("/api/v1/audit?entity=resident&entity_id={rid}"), &admin).await;
        let created = own["entries"].as_array().unwrap().iter().find(|e| e["action"] == "resident.created").unwrap();
        assert_eq!((created["erased"].clone(), created["details"].clone()), (json!(true), Value::Null));
    }
    assert_eq!(app.get("/api/v1/audit/verify", &admin).await["valid"], true);
}

/// Every `table.column` of the public schema's text, varchar, json(b) and
/// text[] columns where some row holds `text` (in any case).
async fn columns_mentioning(app: &TestApp, text: &str) -> Vec<String> {
    let columns: Vec<(String, String)> = sqlx::query_as(
        "select c.table_name::text, c.column_name::text from information_schema.columns c
         join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
         where c.table_schema = 'public' and t.table_type = 'BASE TABLE'
           and (c.data_type in ('text', 'character varying', 'jsonb', 'json')
                or (c.data_type = 'ARRAY' and c.udt_name in ('_text', '_varchar')))
         order by 1, 2",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(columns.len() > 50, "the sweep sees the schema: {columns:?}");
    let mut found = Vec::new();
    for (table, column) in columns {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "select count(*) from \"{table}\" where \"{column}\"::text ilike '%' || $1 || '%'"
        )))
        .bind(text)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if n > 0 {
            found.push(format!("{table}.{column}"));
        }
    }
    found
}

#[tokio::test]
async fn after_an_erasure_no_text_column_of_any_table_holds_the_name_or_the_address() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let admin_id = app.get("/api/v1/me", &admin).await["id"].as_str().unwrap().to_owned();
    let (given, surname, address) = ("Yunhe", "Ouyangsun", "88 Willow Creek Road");
    let name = format!("{given} {surname}");
    let about = |what: &str| format!("{what} of {name}, {address}");
    let rid = app.resident(&admin, &name).await;
    let patch = json!({"notes": about("notes"), "address": address, "room": format!("{surname} suite"),
                       "location": {"lat": 29.8683, "lon": 121.544}});
    let (status, body) = app.call("PATCH", &format!("/api/v1/residents/{rid}"), Some(&admin), Some(patch)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The responder sheet, with a key safe code.
    let sheet = json!({"access": {"instructions": about("door"), "key_safe_code": "K9-0417"},
        "emergency_contacts": [{"name": format!("Son {surname}"), "relation": "son", "phone": "+86 138 0000 0009"}],
        "allergies": [about("allergy")], "directives": {"dnacpr": false, "note": about("directive")}});
    let (status, body) =
        app.call("PUT", &format!("/api/v1/residents/{rid}/responder-info"), Some(&admin), Some(sheet)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The family, whose phone is told of the care team's messages.
    let fam =
        json!({"email": "daughter@test.example", "password": "long enough pw", "role": "family", "name": "Daughter"});
    let fam_id = id_of(&app.post("/api/v1/users", &admin, fam).await);
    app.post(
        &format!("/api/v1/residents/{rid}/family"),
        &admin,
        json!({"user_id": fam_id, "relationship": "daughter"}),
    )
    .await;
    let family = app.login("daughter@test.example", "long enough pw").await;
    let (keys, auth) = ece::generate_keypair_and_auth_secret().unwrap();
    let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, b);
    let subscription = json!({"endpoint": "http://127.0.0.1:9/push/daughter", "expirationTime": null,
        "keys": {"p256dh": b64(&keys.pub_as_raw().unwrap()), "auth": b64(&auth)}});
    app.post("/api/v1/me/push-subscriptions", &family, subscription).await;
    app.post(&format!("/api/v1/residents/{rid}/messages"), &admin, json!({"text": about("message")})).await;
    app.post(&format!("/api/v1/residents/{rid}/messages"), &family, json!({"text": about("reply")})).await;
    let pushed = format!("select count(*) from notification_deliveries where payload::text like '%{surname}%'");
    wait_for("the push about the message", || async { (app.count(&pushed).await > 0).then_some(()) }).await;

    // A visit with tasks: its note, task notes, the carer's note and the family's rating.
    let service = json!({"code": "HC-BATH", "name": "Bathing assistance", "category": "personal_care",
        "duration_minutes": 60, "unit": "hour", "unit_price": 80.0, "currency": "CNY", "funding": ["self_pay"],
        "evv_required": false, "tasks": [{"code": "bath", "name": "Assisted shower"}]});
    app.post("/api/v1/services", &admin, service).await;
    let carer =
        json!({"email": "carer@test.example", "password": "long enough pw", "role": "caregiver", "name": "Carer"});
    let carer_id = id_of(&app.post("/api/v1/users", &admin, carer).await);
    crate::support::certify(&app, &admin, &carer_id).await;
    let carer = app.login("carer@test.example", "long enough pw").await;
    let start = (chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let visit = json!({"resident_id": rid, "service_code": "HC-BATH", "scheduled_start": start, "funding": "self_pay",
                       "note": about("visit note")});
    let vid = id_of(&app.post("/api/v1/visits", &admin, visit).await);
    app.post(&format!("/api/v1/visits/{vid}/assign"), &admin, json!({"caregiver_id": carer_id})).await;
    let door = json!({"location": {"lat": 29.8683, "lon": 121.544, "accuracy_m": 15}, "method": "gps"});
    app.post(&format!("/api/v1/visits/{vid}/check-in"), &carer, door.clone()).await;
    let mut out = door;
    out["tasks"] = json!([{"code": "bath", "done": true, "note": about("task note")}]);
    out["note"] = json!(about("carer's note"));
    app.post(&format!("/api/v1/visits/{vid}/check-out"), &carer, out).await;
    app.post(&format!("/api/v1/visits/{vid}/rating"), &family, json!({"stars": 4, "comment": about("rating")})).await;

    // Meals: the plan's allergies and delivery notes, copied onto its orders.
    let kitchen = json!({"name": "Kitchen", "cutoff": "23:59", "timezone": "Asia/Shanghai",
                         "prices": {"breakfast": 6, "lunch": 12.5, "dinner": 12}});
    let kitchen = id_of(&app.post("/api/v1/kitchens", &admin, kitchen).await);
    let days: serde_json::Map<String, Value> =
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].iter().map(|d| ((*d).to_owned(), json!(["lunch"]))).collect();
    let plan = json!({"kitchen_id": kitchen, "delivery": "home", "funding": "subsidy", "days": days,
                      "allergies": [format!("{surname} peanut")], "delivery_notes": about("delivery")});
    let (status, body) = app.call("PUT", &format!("/api/v1/residents/{rid}/meal-plan"), Some(&admin), Some(plan)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A stay in hospital last week, with a note.
    let week_ago = |days: i64| (chrono::Utc::now() - chrono::Duration::days(days)).to_rfc3339();
    let stay = json!({"status": "in_hospital", "from": week_ago(8), "until": week_ago(7), "note": about("stay")});
    let (status, body) = app.call("PUT", &format!("/api/v1/residents/{rid}/status"), Some(&admin), Some(stay)).await;
    assert!(status.is_success(), "{body}");

    let before = columns_mentioning(&app, surname).await;
    for column in [
        "residents.name",
        "residents.notes",
        "residents.room",
        "responder_info.sheet",
        "messages.body",
        "notification_deliveries.payload",
        "visits.note",
        "visits.visit_note",
        "visits.tasks",
        "visits.rating_comment",
        "meal_plans.allergies",
        "meal_plans.delivery_notes",
        "resident_status.note",
        "audit_personal.details",
    ] {
        assert!(before.contains(&column.to_owned()), "{column} was filled: {before:?}");
    }
    assert!(columns_mentioning(&app, address).await.contains(&"residents.address".to_owned()));

    let erased = app.post(&format!("/api/v1/residents/{rid}/erase"), &admin, Value::Null).await;
    let counts = &erased["erased"];
    for (kind, n) in [("messages", 2), ("responder_sheets", 1), ("visits", 1), ("meal_plans", 1), ("status_notes", 1)] {
        assert_eq!(counts[kind], n, "{kind}: {erased}");
    }
    assert!(counts["notification_deliveries"].as_u64().unwrap() >= 1, "{erased}");
    assert!(counts["audit_entries"].as_u64().unwrap() >= 8, "{erased}");

    for text in [surname, given, address, "Willow Creek"] {
        assert_eq!(columns_mentioning(&app, text).await, Vec::<String>::new(), "{text} is still stored");
    }
    assert_eq!(app.count(&format!("select count(*) from residents where id = '{rid}' and lat is null")).await, 1);
    assert_eq!(app.count("select count(*) from responder_info").await, 0, "the key safe code went with the sheet");
    assert_eq!(app.get("/api/v1/audit/verify", &admin).await["valid"], true);
    // The access log keeps that the erasure happened, and who made it.
    let log = app.get(&format!("/api/v1/access-log?resident_id={rid}"), &admin).await;
    let erasures: Vec<&Value> = log["entries"].as_array().unwrap().iter().filter(|e| e["kind"] == "erase").collect();
    assert_eq!(erasures.len(), 1, "{log}");
    assert_eq!(erasures[0]["user_id"], admin_id.as_str());
    // What was left of the visit reads as erased.
    let visit = app.get(&format!("/api/v1/visits/{vid}"), &admin).await;
    assert_eq!(visit["tasks"][0]["note"], "[erased]", "{visit}");
}

#[tokio::test]
async fn the_migration_records_which_residents_older_entries_concern_by_id_never_by_words() {
    let url = empty_database().await;
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let migrator = &eldercare::store::MIGRATOR;
    migrator.run_to(20261201000170, &mut conn).await.unwrap();
    let institution: uuid::Uuid = sqlx::query_scalar(
        "insert into institutions (id, name, timezone, kind) values (gen_random_uuid(), 'Old Home', 'UTC', 'care_home')
         returning id",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let resident: uuid::Uuid = sqlx::query_scalar(
        "insert into residents (id, institution_id, name, timezone) values (gen_random_uuid(), $1, 'disabled', 'UTC')
         returning id",
    )
    .bind(institution)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    sqlx::query(
        "insert into devices (device_id, institution_id, resident_id, kind) values ('old-sos', $1, $2, 'sos_button')",
    )
    .bind(institution)
    .bind(resident)
    .execute(&mut conn)
    .await
    .unwrap();
    // Entries as the previous version wrote them: about the resident, about
    // their device, naming them in the values, and about a user whose values
    // share a word with the resident's name.
    let rid = resident.to_string();
    let entries = [
        ("resident", rid.as_str(), json!({"name": "disabled"}), true),
        ("device", "old-sos", json!({}), true),
        ("meal_order", "not-an-id", json!({"changes": [{"resident_id": rid}]}), true),
        ("user", "someone", json!({"disabled": true, "resident_id": null}), false),
    ];
    let mut ids = Vec::new();
    for (entity, entity_id, details, _) in &entries {
        let id: i64 = sqlx::query_scalar(
            "with entry as (insert into audit_log (institution_id, at, action, entity, entity_id, record, hash)
                            values ($1, now(), 'old', $2, $3, 'old', '\\x00') returning id)
             insert into audit_personal (entry_id, salt, details) select id, '\\x00', $4 from entry returning entry_id",
        )
        .bind(institution)
        .bind(entity)
        .bind(entity_id)
        .bind(details.to_string())
        .fetch_one(&mut conn)
        .await
        .unwrap();
        ids.push(id);
    }
    migrator.run(&mut conn).await.unwrap();

    for ((entity, _, _, concerns), id) in entries.iter().zip(&ids) {
        let n: i64 =
            sqlx::query_scalar("select count(*) from audit_residents where entry_id = $1 and resident_id = $2")
                .bind(id)
                .bind(resident)
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!(n, i64::from(*concerns), "the {entity} entry");
    }
}
