//! Heavy reads on a streaming replica (`DATABASE_READ_URL`), and on the
//! primary while the replica lags: a real replica of a private PostgreSQL.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::{Connection, PgPool};

use crate::support::cluster::PgCluster;
use crate::support::{Broker, TestApp, wait_for};

/// A line of `/metrics` for `name`, its value.
async fn gauge(app: &TestApp, name: &str) -> Option<f64> {
    let text = app.http.get(app.url("/metrics")).send().await.ok()?.text().await.ok()?;
    text.lines().find_map(|l| l.strip_prefix(&format!("{name} ")).and_then(|v| v.trim().parse().ok()))
}

/// The cockpit's count of residents.
fn residents(cockpit: &serde_json::Value) -> Option<i64> {
    cockpit["residents"]["total"].as_i64()
}

/// How many connections the API's read pool holds on `pool`'s server.
async fn read_connections(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from pg_stat_activity where application_name = 'eldercare-read'")
        .fetch_one(pool)
        .await
        .expect("pg_stat_activity")
}

#[tokio::test]
async fn heavy_reads_go_to_the_replica_while_it_keeps_up_and_to_the_primary_when_it_lags() {
    let primary = PgCluster::start().await;
    let mut conn = sqlx::PgConnection::connect(&primary.url()).await.expect("connect");
    sqlx::query("create database eldercare").execute(&mut conn).await.expect("create database");
    conn.close().await.expect("close");
    let replica = PgCluster::replica_of(&primary).await;
    let url = |port: u16| format!("postgres://postgres@127.0.0.1:{port}/eldercare");
    let on_replica = PgPool::connect(&url(replica.port)).await.expect("replica pool");
    let (db, read) = (url(primary.port), url(replica.port));
    let app = TestApp::spawn_with(Broker::start().await, db, |s| {
        s.database.read_url = Some(read.into());
        s.database.read_max_lag_seconds = 1.0;
    })
    .await;
    let admin = app.admin_token().await;
    wait_for("heavy reads on the replica", || async {
        (gauge(&app, "eldercare_reads_on_replica").await == Some(1.0)).then_some(())
    })
    .await;

    // The cockpit reads there: the read pool's connections are the replica's.
    let (status, body) = app.call("GET", "/api/v1/cockpit", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(read_connections(&on_replica).await > 0, "the cockpit read on the replica");
    let before = residents(&body).unwrap_or_else(|| panic!("residents in {body}"));
    assert!(gauge(&app, "eldercare_replica_lag_seconds").await.is_some_and(|lag| lag <= 1.0));

    // The replica stops replaying (as a replica that falls behind); writes go
    // on: past a second of lag, heavy reads go to the primary and see them.
    sqlx::query("select pg_wal_replay_pause()").execute(&on_replica).await.expect("pause replay");
    let rid = app.resident(&admin, "Grandma Tang").await;
    app.device(&admin, json!({"device_id": "w-tang", "resident_id": rid, "kind": "wearable"})).await;
    wait_for("reads back on the primary", || async {
        (gauge(&app, "eldercare_reads_on_replica").await == Some(0.0)).then_some(())
    })
    .await;
    assert!(gauge(&app, "eldercare_replica_lag_seconds").await.is_some_and(|lag| lag > 1.0));
    let (status, cockpit) = app.call("GET", "/api/v1/cockpit", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{cockpit}");
    assert_eq!(residents(&cockpit), Some(before + 1), "the primary's figures: {cockpit}");

    // Replaying again, it catches up and serves again.
    sqlx::query("select pg_wal_replay_resume()").execute(&on_replica).await.expect("resume replay");
    wait_for("heavy reads on the replica again", || async {
        (gauge(&app, "eldercare_reads_on_replica").await == Some(1.0)).then_some(())
    })
    .await;
}
