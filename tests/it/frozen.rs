//! A primary that stops answering without closing anything (a frozen host,
//! a partition): eldercare must abandon its connections to it and go on
//! with new ones, not wait for ever. A proxy in front of a private
//! PostgreSQL freezes every connection open at one instant (it keeps them
//! open and forwards nothing more, for good) and forwards new ones: as a
//! failover to a new primary looks from eldercare's side.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::{Connection, PgPool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::cluster::PgCluster;
use crate::support::{Broker, TestApp, wait_for};

/// Forwards to a PostgreSQL port; [`Proxy::freeze`] freezes every
/// connection open then.
struct Proxy {
    addr: SocketAddr,
    epoch: Arc<AtomicU64>,
}

impl Proxy {
    async fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let epoch = Arc::new(AtomicU64::new(0));
        let current = epoch.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let born = current.load(Ordering::SeqCst);
                let epoch = current.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(("127.0.0.1", target)).await else { return };
                    let (from_client, to_client) = inbound.into_split();
                    let (from_server, to_server) = outbound.into_split();
                    tokio::join!(
                        pump(from_client, to_server, born, epoch.clone()),
                        pump(from_server, to_client, born, epoch)
                    );
                });
            }
        });
        Proxy { addr, epoch }
    }

    fn freeze(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }
}

/// Copies bytes until the connection's epoch has passed; then holds both
/// sockets open and forwards nothing, for good.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    born: u64,
    epoch: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            n = from.read(&mut buf) => n,
            // Frozen while waiting: nothing more goes either way.
            _ = passed(born, &epoch) => Ok(0),
        };
        if epoch.load(Ordering::SeqCst) != born {
            let _hold = (from, to);
            std::future::pending::<()>().await;
            return;
        }
        match n {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn passed(born: u64, epoch: &AtomicU64) {
    let mut every = tokio::time::interval(std::time::Duration::from_millis(50));
    while epoch.load(Ordering::SeqCst) == born {
        every.tick().await;
    }
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(pool).await.expect("count")
}

#[tokio::test]
async fn a_primary_that_stops_answering_is_abandoned_and_nothing_acknowledged_is_lost() {
    let cluster = PgCluster::start().await;
    let mut conn = sqlx::PgConnection::connect(&cluster.url()).await.expect("connect");
    sqlx::query("create database eldercare").execute(&mut conn).await.expect("create database");
    conn.close().await.expect("close");
    let direct = PgPool::connect(&format!("postgres://postgres@127.0.0.1:{}/eldercare", cluster.port))
        .await
        .expect("direct pool");
    let proxy = Proxy::start(cluster.port).await;
    let through_proxy = format!("postgres://postgres@{}/eldercare", proxy.addr);
    let app = TestApp::spawn_with(Broker::start().await, through_proxy, |s| s.scheduler.tick_ms = 200).await;
    let admin = app.admin_token().await;
    let rid = app.resident(&admin, "Grandma Xu").await;
    app.device(&admin, json!({"device_id": "watch-xu", "resident_id": rid, "kind": "wearable"})).await;
    app.device(&admin, json!({"device_id": "sos-xu", "resident_id": rid, "kind": "sos_button"})).await;
    let reading = |i: i64| {
        let ts = (Utc::now() - chrono::Duration::seconds(1000 - i)).to_rfc3339_opts(SecondsFormat::Millis, true);
        (
            "eldercare/v1/watch-xu/telemetry".to_owned(),
            json!({"ts": ts, "metric": "steps", "value": i}).to_string().into_bytes(),
        )
    };
    let before: Vec<_> = (0..50).map(reading).collect();
    app.broker.publish_all(&before).await;
    wait_for("the first readings", || async {
        (count(&direct, "select count(*) from readings where device_id = 'watch-xu'").await == 50).then_some(())
    })
    .await;

    // Every connection eldercare holds now hangs for good; new ones work.
    let frozen_at = Utc::now();
    proxy.freeze();
    // The new primary has none of the old sessions (nor the scheduler
    // leader's lock): end them at the server; their client sides stay
    // frozen at the proxy.
    sqlx::query(
        "select pg_terminate_backend(pid) from pg_stat_activity
         where datname = 'eldercare' and pid <> pg_backend_pid() and backend_type = 'client backend'",
    )
    .execute(&direct)
    .await
    .expect("end the old sessions");
    let after: Vec<_> = (50..100).map(reading).collect();
    app.broker.publish_all(&after).await;
    let ts = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    app.broker.publish("eldercare/v1/sos-xu/event", json!({"ts": ts, "event": "sos_pressed"}).to_string()).await;

    // The lanes, the rules and the scheduler give up on the frozen
    // connections and go on with new ones: everything stored once, the SOS
    // alerted once, the scheduler leading again.
    wait_for("the readings sent after the freeze", || async {
        (count(&direct, "select count(*) from readings where device_id = 'watch-xu'").await == 100).then_some(())
    })
    .await;
    let distinct = count(&direct, "select count(distinct ts) from readings where device_id = 'watch-xu'").await;
    assert_eq!(distinct, 100, "each reading once");
    wait_for("the SOS alert", || async {
        (count(&direct, "select count(*) from alerts where kind = 'sos'").await == 1).then_some(())
    })
    .await;
    wait_for("the scheduler leading again", || async {
        let ticked: Option<chrono::DateTime<Utc>> = sqlx::query_scalar("select ticked_at from scheduler_heartbeat")
            .fetch_optional(&direct)
            .await
            .expect("heartbeat");
        ticked.filter(|t| *t > frozen_at + chrono::Duration::seconds(1)).map(|_| ())
    })
    .await;
    wait_for("ready again", || async {
        let r = app.http.get(app.url("/readyz")).send().await.ok()?;
        (r.status() == StatusCode::OK).then_some(())
    })
    .await;
    assert_eq!(count(&direct, "select count(*) from alerts where kind = 'sos'").await, 1, "alerted once");
}
