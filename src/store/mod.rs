//! PostgreSQL: the pool, the migrations, and the TimescaleDB upgrade of the
//! time-series tables when the extension is available.

pub mod timescale;

use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::DatabaseSettings;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Opens a pool lazily: the process starts (and answers `/healthz`) even while
/// the database is down, and connects as soon as it is back.
pub fn pool(settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = settings.url.expose_secret().parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options.application_name("eldercare")))
}

/// Applies pending migrations, then upgrades the time-series tables to
/// hypertables when TimescaleDB is installed. Safe to run again.
pub async fn migrate(pool: &PgPool) -> Result<timescale::Mode, sqlx::Error> {
    MIGRATOR.run(pool).await?;
    timescale::setup(pool).await
}
