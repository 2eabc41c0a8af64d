//! PostgreSQL: the pool, the migrations, the TimescaleDB upgrade of the
//! time-series tables when the extension is available, and one module per
//! area owning its queries. Whatever reads or writes an institution's data
//! takes the caller's [`Scope`](crate::domain::Scope).

pub mod access_log;
pub mod activity;
pub mod alerts;
pub mod applications;
pub mod assessments;
pub mod audit;
pub mod billing;
pub mod bootstrap;
pub mod care;
pub mod certificates;
pub mod claims;
pub mod clinical;
pub mod cockpit;
pub mod complaints;
pub mod data;
pub mod desk;
pub mod device_status;
pub mod devices;
pub mod district_cockpit;
pub mod divisions;
pub mod enrolments;
pub mod fhir;
pub mod follow_ups;
pub mod gateways;
pub mod inbox;
pub mod ingest;
pub mod inspections;
pub mod institutions;
pub mod listen;
pub mod login_attempts;
pub mod matching;
pub mod meals;
pub mod messages;
pub mod mqtt_accounts;
pub mod notify;
pub mod notify_plan;
pub mod open_data;
pub mod outbox;
pub mod partner_consents;
pub mod presence;
pub mod quarantine;
pub mod records;
pub mod replica;
pub mod residents;
pub mod respite;
pub mod responder;
pub mod retention;
pub mod rollups;
pub mod routines;
pub mod scheduler;
pub mod scores;
pub mod sessions;
pub mod settings;
pub mod status;
pub mod timescale;
pub mod trace;
pub mod users;
pub mod visits;
pub mod webhooks;

use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::DatabaseSettings;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Opens the background tasks' pool lazily: the process starts (and
/// answers `/healthz`) even while the database is down, and connects as soon
/// as it is back.
pub fn pool(settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    pool_of(settings, settings.max_connections, "eldercare")
}

/// The HTTP API's own pool, whose statements are cancelled after
/// `api_statement_timeout_ms` (SQLSTATE 57014, answered 503): one expensive
/// read cannot hold a connection, or the database, for long.
pub fn api_pool(settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = settings.url.expose_secret().parse()?;
    let timeout = settings.api_statement_timeout_ms.max(1).to_string();
    Ok(options_for(settings.api_connections)
        .connect_lazy_with(options.application_name("eldercare-api").options([("statement_timeout", timeout)])))
}

/// A read-only transaction for the queries that count a district: room
/// (`work_mem`) to hash tens of thousands of rows into their groups, where
/// the server's default would sort them on disk. Its statements still end
/// at the API pool's timeout.
pub async fn analytic(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::raw_sql(
        "set transaction read only; set local work_mem = '64MB'; set local max_parallel_workers_per_gather = 0",
    )
    .execute(&mut *tx)
    .await?;
    Ok(tx)
}

/// Whether the database cancelled a statement that ran past its timeout.
pub fn statement_timed_out(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().as_deref() == Some("57014"))
}

/// The alarm path's own pools: ingest and the rules (engine, scheduler,
/// watchdog) never wait for a connection behind API requests.
pub struct AlarmPools {
    pub ingest: PgPool,
    pub rules: PgPool,
}

pub fn alarm_pools(settings: &DatabaseSettings) -> Result<AlarmPools, sqlx::Error> {
    Ok(AlarmPools {
        ingest: pool_of(settings, settings.ingest_connections, "eldercare-ingest")?,
        rules: pool_of(settings, settings.rules_connections, "eldercare-rules")?,
    })
}

fn pool_of(settings: &DatabaseSettings, size: u32, name: &str) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = settings.url.expose_secret().parse()?;
    Ok(options_for(size).connect_lazy_with(options.application_name(name)))
}

/// A pool that never waits on a primary that stopped answering without
/// closing its connections (a frozen host, a partition): a connection is
/// acquired within 5 s or not at all, and one given back is tested within
/// [`PING_WITHIN`] and closed hard if it does not answer (sqlx's own test
/// on release has no bound, and a connection stuck in it holds its place
/// in the pool for as long as the primary stays frozen).
pub(crate) fn options_for(size: u32) -> PgPoolOptions {
    PgPoolOptions::new().max_connections(size).acquire_timeout(Duration::from_secs(5)).after_release(|conn, _| {
        Box::pin(async move {
            match tokio::time::timeout(PING_WITHIN, sqlx::Connection::ping(conn)).await {
                Ok(Ok(())) => Ok(true),
                Ok(Err(err)) => Err(err),
                Err(_) => Err(did_not_answer()),
            }
        })
    })
}

/// How long a connection given back to a pool may take to answer a ping.
pub const PING_WITHIN: Duration = Duration::from_secs(3);

/// How long one unit of the alarm path's database work (a batch commit, a
/// rule's transaction, a scheduler step) may wait for the database before it
/// is abandoned as if the connection were lost, and retried: a primary that
/// froze answers nothing and resets nothing, and only this notices it.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// The error of a database that did not answer in time: a lost connection
/// to [`connection_lost`].
pub fn did_not_answer() -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, "the database did not answer in time"))
}

/// `work`, abandoned (as a lost connection) if the database has not
/// answered within `limit`. A transaction abandoned so never committed,
/// unless its commit reached the database: the work must be safe to redo
/// (ingest is, by its dedup keys; rules are, by their alert keys).
pub async fn within<T>(
    limit: Duration,
    work: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    tokio::time::timeout(limit, work).await.unwrap_or_else(|_| Err(did_not_answer()))
}

/// Whether the database answers a statement (readiness).
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    within(PING_WITHIN, sqlx::query_scalar::<_, i32>("select 1").fetch_one(pool)).await.map(drop)
}

/// A loop's database outage, logged once when it begins and once when it
/// ends, not at every failed poll (a failover would write thousands).
#[derive(Debug, Default)]
pub struct Outage {
    since: Option<std::time::Instant>,
}

impl Outage {
    /// A failed attempt of `what`.
    pub fn failed(&mut self, what: &str, err: &sqlx::Error) {
        if self.since.is_none() {
            self.since = Some(std::time::Instant::now());
            tracing::warn!(cause = %err, "{what} failed; retrying quietly until the database answers");
        }
    }

    /// A successful attempt of `what`.
    pub fn ok(&mut self, what: &str) {
        if let Some(since) = self.since.take() {
            tracing::info!(after_s = since.elapsed().as_secs_f64(), "{what} works again");
        }
    }
}

/// Whether the database answers as a primary (writes are possible), within
/// [`PING_WITHIN`].
pub async fn writable(pool: &PgPool) -> Result<bool, sqlx::Error> {
    within(PING_WITHIN, sqlx::query_scalar::<_, bool>("select not pg_is_in_recovery()").fetch_one(pool)).await
}

/// Applies pending migrations, then upgrades the time-series tables to
/// hypertables when TimescaleDB is installed. Safe to run again.
/// Whether an error is the database being out of reach or unavailable
/// (connection lost, shut down, out of resources), not a refusal of what was
/// asked: the caller waits and retries instead of giving up on the work.
pub fn connection_lost(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        // Connection exception, operator intervention (shutdown, cannot
        // connect now), insufficient resources, system error.
        sqlx::Error::Database(db) => db.code().is_some_and(|c| matches!(c.get(..2), Some("08" | "57" | "53" | "58"))),
        _ => false,
    }
}

/// Applies the migrations, then takes the TimescaleDB path when the
/// extension can be loaded; answers which path and why.
pub async fn migrate(pool: &PgPool) -> Result<timescale::Setup, sqlx::Error> {
    MIGRATOR.run(pool).await?;
    timescale::setup(pool).await
}

#[cfg(test)]
mod tests {
    /// The store is the bottom layer: it speaks the domain's types and
    /// reads its settings, and nothing above it. A path upward would let a
    /// module cycle back in (the store calling what calls the store).
    #[test]
    fn the_store_imports_only_the_domain_and_the_settings() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
        let allowed = ["crate::domain", "crate::config", "crate::store"];
        // Spelled in two pieces so that this test's own text passes.
        let needle = concat!("crate", "::");
        let mut upward = Vec::new();
        let entries = std::fs::read_dir(&dir).expect("src/store is readable");
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a source file is readable");
            for (n, line) in text.lines().enumerate() {
                for (at, _) in line.match_indices(needle) {
                    if !allowed.iter().any(|a| line[at..].starts_with(a)) {
                        upward.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                    }
                }
            }
        }
        assert!(upward.is_empty(), "the store reaches upward:\n{}", upward.join("\n"));
    }
}
