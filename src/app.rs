//! The whole backend in one process: HTTP API, MQTT ingestion and the
//! background tasks, started and stopped together.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alerts::engine::{Engine, EngineInput};
use crate::api::{self, ApiContext};
use crate::broker::Accounts;
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::notify::stream::AlertHub;
use crate::notify::webhooks;
use crate::scheduler::{self, SchedulerSettings};
use crate::store::settings::SettingsCache;
use crate::watchdog::Watchdog;
use crate::{bootstrap, ingest, store};

pub struct Application {
    listener: TcpListener,
    ctx: ApiContext,
    tracker: TaskTracker,
}

impl Application {
    /// Connects, migrates, bootstraps and binds; `serve` runs it. Tests build
    /// it with `http.addr` on port 0.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // Webhooks may go to https receivers; one crypto provider for the
        // process (a second install attempt, e.g. in tests, is harmless).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let pool = store::pool(&settings.database)?;
        let mode = store::migrate(&pool).await?;
        tracing::info!(?mode, "database migrated");
        bootstrap::run(&pool, &settings.bootstrap).await?;
        let listener = TcpListener::bind(settings.http.addr).await?;
        let metrics = Arc::new(Metrics::default());
        let (devices_changed, devices_rx) = tokio::sync::watch::channel(0);
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let alarm = store::alarm_pools(&settings.database)?;
        // Before ingest: its own account on the broker is made sure of here.
        let accounts = Accounts::start(&settings, pool.clone(), shutdown.clone(), &tracker).await?;
        // Each lane hands committed data to the engine on its own channel,
        // bounded: a full one slows that lane's ingestion, never drops input.
        let (events_tx, events_rx) = tokio::sync::mpsc::channel(settings.ingest.queue_capacity);
        let (telemetry_tx, telemetry_rx) = tokio::sync::mpsc::channel(settings.ingest.queue_capacity);
        let rule_settings = SettingsCache::default();
        tracker.spawn(rule_settings.clone().run(pool.clone(), shutdown.clone()));
        let engine = Engine::new(alarm.rules.clone(), rule_settings.clone(), metrics.clone(), shutdown.clone());
        tracker.spawn(engine.run(EngineInput { events: events_rx, telemetry: telemetry_rx }));
        let rules = ingest::RuleSenders { events: events_tx, telemetry: telemetry_tx };
        ingest::spawn(&settings, alarm.ingest.clone(), metrics.clone(), devices_rx, rules, shutdown.clone(), &tracker)
            .await?;
        let watchdog =
            Watchdog { pool: alarm.rules.clone(), metrics: metrics.clone(), settings: settings.watchdog.clone() };
        tracker.spawn(watchdog.run(shutdown.clone()));
        let alert_hub = AlertHub::default();
        tracker.spawn(alert_hub.clone().run(pool.clone(), shutdown.clone()));
        tracker.spawn(webhooks::run(pool.clone(), shutdown.clone()));
        let schedule = SchedulerSettings {
            tick: Duration::from_millis(settings.scheduler.tick_ms),
            escalation: settings
                .alerts
                .escalation_seconds
                .iter()
                .map(|s| chrono::Duration::seconds(*s as i64))
                .collect(),
            institution_silent_after: chrono::Duration::minutes(settings.watchdog.silent_minutes as i64),
            instance: format!("pid-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
        };
        tracker.spawn(scheduler::run(alarm.rules, rule_settings.clone(), metrics.clone(), schedule, shutdown.clone()));
        let ctx = ApiContext {
            pool,
            settings: Arc::new(settings),
            metrics,
            devices_changed: Arc::new(devices_changed),
            shutdown,
            alert_hub,
            rule_settings,
            login_limiter: Arc::default(),
            hashing: Arc::new(api::limits::HashingGate::for_this_machine()),
            accounts,
        };
        Ok(Application { listener, ctx, tracker })
    }

    pub fn addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn pool(&self) -> &PgPool {
        &self.ctx.pool
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.ctx.metrics.clone()
    }

    /// The token that stops the application; `run_until_stopped` returns once
    /// everything received has been committed and acknowledged.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.ctx.shutdown.clone()
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let shutdown = self.ctx.shutdown.clone();
        let router = api::router(self.ctx);
        let server = axum::serve(self.listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown.clone().cancelled_owned());
        let result = server.await;
        shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        tracing::info!("stopped");
        Ok(result?)
    }
}
