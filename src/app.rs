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
use crate::notify::webpush::Vapid;
use crate::notify::{deliver, people, webhooks};
use crate::scheduler::{self, SchedulerSettings};
use crate::store::settings::SettingsCache;
use crate::watchdog::Watchdog;
use crate::{bootstrap, ingest, store};

pub struct Application {
    listener: TcpListener,
    /// `/metrics` on an address of its own (`metrics.addr`), when set.
    metrics_listener: Option<TcpListener>,
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
        let setup = store::migrate(&pool).await?;
        tracing::info!(mode = ?setup.mode, why = ?setup.why, "database migrated");
        let reads = store::data::ReadPath::choose(setup.mode, settings.reads.rollups);
        if reads == store::data::ReadPath::Raw {
            tracing::warn!("reads.rollups is false: hourly and daily buckets are read from raw readings");
        }
        bootstrap::run(&pool, &settings.bootstrap).await?;
        bootstrap::seal_plaintext(&pool, &settings.webhooks).await?;
        let listener = TcpListener::bind(settings.http.addr).await?;
        let metrics_listener = match settings.metrics.addr {
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        let api_pool = store::api_pool(&settings.database)?;
        let metrics = Arc::new(Metrics::default());
        let (devices_changed, devices_rx) = tokio::sync::watch::channel(0);
        let devices_changed = Arc::new(devices_changed);
        let shutdown = CancellationToken::new();
        // A start that fails part-way stops what it had started: a broker
        // session left running would hold (and fight over) the client id of
        // the next start.
        let started = shutdown.clone().drop_guard();
        let tracker = TaskTracker::new();
        let alarm = store::alarm_pools(&settings.database)?;
        // Before ingest: its own account on the broker is made sure of here.
        let accounts = Accounts::start(&settings, pool.clone(), metrics.clone(), shutdown.clone(), &tracker).await?;
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
        tracker.spawn(ingest::registry::follow(pool.clone(), devices_changed.clone(), shutdown.clone()));
        let watchdog =
            Watchdog { pool: alarm.rules.clone(), metrics: metrics.clone(), settings: settings.watchdog.clone() };
        tracker.spawn(watchdog.run(shutdown.clone()));
        let alert_hub = AlertHub::default();
        tracker.spawn(alert_hub.clone().run(pool.clone(), shutdown.clone()));
        tracker.spawn(webhooks::run(pool.clone(), settings.webhooks.clone(), shutdown.clone()));
        let vapid = Arc::new(vapid_key(&pool, &settings.push).await?);
        tracker.spawn(people::run(pool.clone(), shutdown.clone()));
        tracker.spawn(deliver::run(
            pool.clone(),
            vapid.clone(),
            metrics.clone(),
            settings.webhooks.allow_private,
            store::notify::channel_sealing_key(&settings.webhooks),
            shutdown.clone(),
        ));
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
            retention: settings.retention.clone(),
            seq_memory_hours: settings.ingest.seq_memory_hours,
            rollup_every: (setup.mode == store::timescale::Mode::Plain)
                .then(|| chrono::Duration::seconds(settings.reads.rollup_every_secs.max(1) as i64)),
            sample_key: settings.webhooks.secret_key.clone(),
        };
        tracker.spawn(scheduler::run(alarm.rules, rule_settings.clone(), metrics.clone(), schedule, shutdown.clone()));
        let streams =
            Arc::new(api::limits::StreamSlots::new(settings.http.streams_per_user, settings.http.streams_total));
        let requests = Arc::new(tokio::sync::Semaphore::new(settings.http.max_concurrent_requests.max(1)));
        let login_limiter = Arc::new(api::limits::LoginLimiter::new(api_pool.clone()));
        let fhir_reads = Arc::new(tokio::sync::Semaphore::new(settings.fhir.max_concurrent.max(1)));
        let backtests = Arc::new(tokio::sync::Semaphore::new(settings.backtest.max_concurrent.max(1)));
        started.disarm();
        let read = store::replica::ReadPools::new(api_pool.clone(), &settings.database)?;
        tracker.spawn(read.clone().watch(shutdown.clone()));
        let open_data = Arc::new(api::limits::AddressLimiter::new(settings.http.open_data_per_minute));
        let ctx = ApiContext {
            open_data,
            read,
            pool: api_pool,
            settings: Arc::new(settings),
            metrics,
            devices_changed,
            shutdown,
            alert_hub,
            rule_settings,
            login_limiter,
            hashing: Arc::new(api::limits::HashingGate::for_this_machine()),
            accounts,
            vapid,
            streams,
            requests,
            reads,
            fhir_reads,
            backtests,
        };
        Ok(Application { listener, metrics_listener, ctx, tracker })
    }

    pub fn addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where `/metrics` is served when it has an address of its own.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok())
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
        let header_read_timeout = Duration::from_secs(self.ctx.settings.http.header_read_timeout_secs);
        if let Some(listener) = self.metrics_listener {
            let router = api::health::metrics_router(self.ctx.clone());
            self.tracker.spawn(serve(listener, router, header_read_timeout, shutdown.clone()));
        }
        let router = api::router(self.ctx);
        serve(self.listener, router, header_read_timeout, shutdown.clone()).await;
        shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The VAPID key pair: from the settings, or the one kept in the database
/// (made now if this is the first start).
async fn vapid_key(pool: &PgPool, settings: &crate::config::PushSettings) -> anyhow::Result<Vapid> {
    use secrecy::ExposeSecret;
    if let Some(private) = &settings.vapid_private_key {
        return Vapid::from_private(private.expose_secret(), &settings.subject)
            .map_err(|err| anyhow::anyhow!("push.vapid_private_key: {err}"));
    }
    let (_, candidate) = Vapid::generate(&settings.subject);
    let kept = store::notify::vapid_key(pool, &candidate).await?;
    Vapid::from_private(&kept, &settings.subject).map_err(|err| anyhow::anyhow!("the stored VAPID key: {err}"))
}

/// Serves HTTP/1.1 until `shutdown`, then lets the requests in flight
/// finish. A client must send a request's whole head within
/// `header_read_timeout`, or its connection is dropped: a flood of half-sent
/// requests cannot hold the server's connections and memory.
async fn serve(
    listener: TcpListener,
    router: axum::Router,
    header_read_timeout: Duration,
    shutdown: CancellationToken,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, addr) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, most likely: back off rather
                    // than spin, and keep serving those already connected.
                    tracing::warn!(error = %err, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // The client's address, for the per-address login limit.
        let service = router.clone().map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(axum::extract::ConnectInfo(addr));
            req
        });
        let connection =
            http.serve_connection(TokioIo::new(stream), hyper_util::service::TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, %addr, "connection ended");
            }
        });
    }
    graceful.shutdown().await;
}
