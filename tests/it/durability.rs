//! At-least-once, end to end: a stream of QoS 1 messages while the backend is
//! killed (SIGKILL, no clean shutdown) and restarted, while PostgreSQL is
//! restarted, and through a graceful SIGTERM stop. Every message must be
//! stored exactly once.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use reqwest::StatusCode;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::json;
use sqlx::PgPool;

use crate::support::cluster::PgCluster;
use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, Broker, wait_for};

const MESSAGES: usize = 4000;

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) http: String,
}

/// A failing test must not leave its backend running.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn start_server(db: &str, broker: &Broker, http_port: u16) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_eldercare"))
        .arg("serve")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATABASE_URL", db)
        .envs(broker.env("eldercare-durability"))
        .env("HTTP_ADDR", format!("127.0.0.1:{http_port}"))
        .env("ELDERCARE_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("ELDERCARE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(if std::env::var_os("TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() })
        .spawn()
        .expect("start eldercare serve");
    Server { child, http: format!("http://127.0.0.1:{http_port}") }
}

async fn ready(http: &reqwest::Client, server: &Server) -> StatusCode {
    match http.get(format!("{}/readyz", server.http)).send().await {
        Ok(r) => r.status(),
        Err(_) => StatusCode::BAD_GATEWAY,
    }
}

pub(crate) async fn wait_status(http: &reqwest::Client, server: &Server, want: StatusCode) {
    wait_for(&format!("readyz {want}"), || async { (ready(http, server).await == want).then_some(()) }).await;
}

async fn stored(pool: &PgPool) -> Option<i64> {
    sqlx::query_scalar("select count(*) from readings where device_id = 'dur-1'").fetch_one(pool).await.ok()
}

#[tokio::test]
async fn no_message_is_lost_or_doubled_through_kills_and_database_restarts() {
    let cluster = PgCluster::start().await;
    let broker = Broker::start().await;
    let http = crate::support::http_client();
    let http_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let db = cluster.url();
    let mut server = start_server(&db, &broker, http_port);
    wait_status(&http, &server, StatusCode::OK).await;

    let login: serde_json::Value = http
        .post(format!("{}/api/v1/auth/login", server.http))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap().to_owned();
    let r = http
        .post(format!("{}/api/v1/devices", server.http))
        .bearer_auth(&token)
        .json(&json!({"device_id": "dur-1", "kind": "wearable"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let registered: serde_json::Value = r.json().await.unwrap();
    let password = registered["mqtt"]["password"].as_str().unwrap().to_owned();

    // The device, as itself: a steady QoS 1 stream, each message a distinct
    // reading.
    let published = Arc::new(AtomicUsize::new(0));
    let mut options = MqttOptions::new("dur-1", "127.0.0.1", broker.port);
    options.set_inflight(200).set_clean_session(false).set_credentials("dur-1", password);
    let (client, mut eventloop) = AsyncClient::new(options, 1000);
    let acked = Arc::new(AtomicUsize::new(0));
    let acked_in_loop = acked.clone();
    let poller = tokio::spawn(async move {
        while acked_in_loop.load(Ordering::Relaxed) < MESSAGES {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    acked_in_loop.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    let base = Utc::now() - chrono::Duration::hours(2);
    let count = published.clone();
    let publisher = tokio::spawn(async move {
        for i in 0..MESSAGES {
            let ts =
                (base + chrono::Duration::milliseconds(i as i64 * 1000)).to_rfc3339_opts(SecondsFormat::Millis, true);
            let body = json!({"ts": ts, "seq": i, "metric": "heart_rate", "value": 60 + (i % 40)}).to_string();
            client.publish("eldercare/v1/dur-1/telemetry", QoS::AtLeastOnce, false, body).await.unwrap();
            count.fetch_add(1, Ordering::Relaxed);
            if i % 20 == 19 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });

    let pool = PgPool::connect(&db).await.unwrap();
    // 1. Kill the backend outright mid-stream, start it again.
    wait_for("a quarter stored", || async { stored(&pool).await.filter(|n| *n >= (MESSAGES / 4) as i64) }).await;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    server = start_server(&db, &broker, http_port);
    wait_status(&http, &server, StatusCode::OK).await;

    // 2. Restart PostgreSQL under it: readiness drops and comes back, the
    //    process stays up.
    wait_for("half stored", || async { stored(&pool).await.filter(|n| *n >= (MESSAGES / 2) as i64) }).await;
    // A console's live stream, open across the restart: what committed
    // while the backend's listener was away was never heard, so it is told
    // to reload. (The session of the first login outlives the restarts.)
    let stream = http.get(format!("{}/api/v1/alerts/stream", server.http)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let carried = Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let carried = carried.clone();
        tokio::spawn(async move {
            let mut bytes = stream.bytes_stream();
            while let Some(Ok(chunk)) = futures::StreamExt::next(&mut bytes).await {
                carried.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk));
            }
        })
    };
    wait_for("the stream ready", || async { carried.lock().unwrap().contains("event: ready").then_some(()) }).await;
    cluster.stop_server();
    wait_status(&http, &server, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(server.child.try_wait().unwrap().is_none(), "the backend survives a database outage");
    cluster.start_server().await;
    wait_status(&http, &server, StatusCode::OK).await;
    wait_for("the stream told to resync", || async { carried.lock().unwrap().contains("event: resync").then_some(()) })
        .await;
    reader.abort();

    // 3. A graceful stop (SIGTERM) commits and acknowledges what it took, and
    //    exits 0.
    let pool = PgPool::connect(&db).await.unwrap();
    wait_for("three quarters stored", || async { stored(&pool).await.filter(|n| *n >= (MESSAGES * 3 / 4) as i64) })
        .await;
    let term = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    assert!(term.success());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "SIGTERM exits 0, got {status:?}");
    server = start_server(&db, &broker, http_port);
    wait_status(&http, &server, StatusCode::OK).await;

    publisher.await.unwrap();
    tokio::time::timeout(crate::support::PATIENCE, poller)
        .await
        .expect("every publish acknowledged by the broker")
        .unwrap();
    wait_for("every message stored", || async { stored(&pool).await.filter(|n| *n >= MESSAGES as i64) }).await;
    let (rows, distinct): (i64, i64) =
        sqlx::query_as("select count(*), count(distinct seq) from readings where device_id = 'dur-1'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(rows, MESSAGES as i64, "each message stored exactly once");
    assert_eq!(distinct, MESSAGES as i64);
    assert_eq!(published.load(Ordering::Relaxed), MESSAGES);
    let _ = server.child.kill();
    let _ = server.child.wait();
}
