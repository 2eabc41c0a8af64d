//! Heavy reads from a streaming replica (`DATABASE_READ_URL`): the cockpit,
//! statements, FHIR searches, backtests and exports. The replica's lag is
//! watched every few seconds; past `database.read_max_lag_seconds`, or while
//! the replica does not answer, these reads go to the primary. Never the
//! alarm path, and never a read that must see a write just made.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use tokio_util::sync::CancellationToken;

use crate::config::DatabaseSettings;

/// How often the replica's lag is read.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Where heavy reads go.
#[derive(Clone)]
pub struct ReadPools {
    primary: PgPool,
    replica: Option<Arc<Replica>>,
}

struct Replica {
    pool: PgPool,
    max_lag: f64,
    /// The last lag read, in milliseconds; -1 when the replica did not answer.
    lag_ms: AtomicI64,
    /// Whether reads go there now.
    serving: AtomicBool,
}

impl ReadPools {
    /// The primary alone, or with the replica of `settings.read_url` (its
    /// pool the API's size and statement timeout).
    pub fn new(primary: PgPool, settings: &DatabaseSettings) -> Result<ReadPools, sqlx::Error> {
        let replica = match &settings.read_url {
            None => None,
            Some(url) => {
                let options: PgConnectOptions = url.expose_secret().parse()?;
                let timeout = settings.api_statement_timeout_ms.max(1).to_string();
                let pool = super::options_for(settings.api_connections).connect_lazy_with(
                    options.application_name("eldercare-read").options([("statement_timeout", timeout)]),
                );
                Some(Arc::new(Replica {
                    pool,
                    max_lag: settings.read_max_lag_seconds,
                    lag_ms: AtomicI64::new(-1),
                    serving: AtomicBool::new(false),
                }))
            }
        };
        Ok(ReadPools { primary, replica })
    }

    /// The pool for a heavy read now: the replica while it answers and
    /// keeps up, else the primary.
    pub fn pool(&self) -> &PgPool {
        match &self.replica {
            Some(r) if r.serving.load(Ordering::Relaxed) => &r.pool,
            _ => &self.primary,
        }
    }

    /// For `/metrics`: the replica's lag in seconds (`None` when it did not
    /// answer) and whether reads go there; `None` without a replica.
    pub fn state(&self) -> Option<(Option<f64>, bool)> {
        self.replica.as_ref().map(|r| {
            let lag = r.lag_ms.load(Ordering::Relaxed);
            ((lag >= 0).then(|| lag as f64 / 1000.0), r.serving.load(Ordering::Relaxed))
        })
    }

    /// Watches the replica's lag until `shutdown` (at once, then every
    /// [`WATCH_EVERY`]); without a replica, returns.
    pub async fn watch(self, shutdown: CancellationToken) {
        let Some(replica) = self.replica else { return };
        let mut every = tokio::time::interval(WATCH_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            let lag = super::within(super::PING_WITHIN, lag(&replica.pool)).await;
            let serving = matches!(lag, Ok(seconds) if seconds <= replica.max_lag);
            replica.lag_ms.store(lag.as_ref().map_or(-1, |s| (s * 1000.0).round() as i64), Ordering::Relaxed);
            if replica.serving.swap(serving, Ordering::Relaxed) != serving {
                match &lag {
                    Ok(seconds) if serving => tracing::info!(lag_s = seconds, "heavy reads go to the replica"),
                    Ok(seconds) => tracing::warn!(lag_s = seconds, "the replica lags; heavy reads go to the primary"),
                    Err(err) => {
                        tracing::warn!(cause = %err, "the replica does not answer; heavy reads go to the primary")
                    }
                }
            }
        }
    }
}

/// How far behind the primary the replica is, in seconds: none while it has
/// replayed all it received, else the age of the last transaction it
/// replayed (a server that is no replica, 0).
async fn lag(pool: &PgPool) -> Result<f64, sqlx::Error> {
    sqlx::query_scalar(
        "select case when not pg_is_in_recovery() or pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0
                     else coalesce(extract(epoch from now() - pg_last_xact_replay_timestamp())::float8, 0) end",
    )
    .fetch_one(pool)
    .await
}
