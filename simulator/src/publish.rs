//! Plays generated messages over MQTT at the pace of simulated time.
//!
//! Each device connects as itself, as the broker requires: a native device
//! with its own credential (username and client id = its device id) and its
//! own Last Will `{"online":false}` (retained, QoS 1) on its `status`; a
//! household's Zigbee devices through the household's Zigbee2MQTT bridge
//! (`{key}-zigbee`), which publishes their states and availability. Each
//! connection keeps a persistent session.
//!
//! In real time (`--speed 1`), a device outage is played for real: the
//! device's connection is dropped without DISCONNECT, the broker publishes
//! its will, and the device reconnects. Accelerated runs publish the will's
//! payload themselves, since the broker cannot know simulated time.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use rumqttc::{ClientError, LastWill, QoS};
use tracing::{info, warn};

use crate::clock::Speed;
use crate::generate::{announce, generate_with_incidents};
use crate::message::{Message, MessageKind};
use crate::model::{SimConfig, gateway_id};
use crate::mqtt::{Broker, Connection, Tuning};
use crate::payload;
use crate::report::{self, RunSummary, Tally};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("publishing to the MQTT client failed: {0}")]
    Client(#[from] ClientError),
    #[error("no connection for device {0:?}")]
    UnknownDevice(String),
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub broker: Broker,
    pub speed: Speed,
    /// Simulated time of the first instant played.
    pub start: DateTime<Utc>,
    /// Simulated time to play; `None` runs until stopped.
    pub duration: Option<Duration>,
    /// Each account's password (username -> password), from provisioning;
    /// an account without one connects with the broker URL's credentials
    /// (a backend that does not manage credentials).
    pub credentials: BTreeMap<String, String>,
}

/// Simulated time generated and queued at once: bounded memory on long runs.
const CHUNK: Duration = Duration::hours(1);
const PROGRESS_EVERY: StdDuration = StdDuration::from_secs(5);

/// One device's (or bridge's) connection.
struct Account {
    client_id: String,
    connection: Connection,
    /// Whether the broker holds a Last Will for it (native devices).
    will: bool,
}

/// Plays `config` from `opts.start` until the duration is over or `shutdown` resolves.
pub async fn run(
    config: &SimConfig,
    opts: &RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<RunSummary, PublishError> {
    let base = Instant::now();
    let tuning = Tuning { inflight: 200, channel: 4096, persistent: true };
    let mut accounts: HashMap<String, Account> = HashMap::new();
    for spec in config.residents.iter().flat_map(|r| r.devices()) {
        let client_id = spec.account().to_owned();
        if accounts.contains_key(&client_id) {
            continue;
        }
        let will = spec.gateway.is_none().then(|| {
            LastWill::new(
                payload::native_topic(&spec.device_id, "status"),
                payload::last_will(),
                QoS::AtLeastOnce,
                true,
            )
        });
        let broker = opts.broker.account(&client_id, opts.credentials.get(&client_id));
        let has_will = will.is_some();
        let connection = Connection::open(&broker, &client_id, will, tuning, base);
        accounts.insert(client_id.clone(), Account { client_id, connection, will: has_will });
    }

    let end = opts.duration.map(|d| opts.start + d);
    let mut tally = Tally::default();
    let mut player = Player {
        accounts: &mut accounts,
        tally: &mut tally,
        opts,
        base,
        last_progress: Instant::now(),
        last_count: 0,
        sim_now: opts.start,
        end,
    };

    tokio::pin!(shutdown);
    let mut stopped = false;
    for m in announce(config, opts.start) {
        player.send(m).await?;
    }
    let mut chunk_start = opts.start;
    'chunks: while end.is_none_or(|e| chunk_start < e) {
        let chunk_end = end.map_or(chunk_start + CHUNK, |e| e.min(chunk_start + CHUNK));
        let generated = generate_with_incidents(config, chunk_start, chunk_end);
        let mut incidents = generated.incidents.into_iter().peekable();
        for m in generated.messages {
            if !player.wait_for(m.at, &mut shutdown).await {
                stopped = true;
                break 'chunks;
            }
            while let Some(r) = incidents.next_if(|r| r.at <= m.at) {
                info!(resident = %r.resident, kind = %r.label(), at = %r.at, detail = %r.detail, "incident");
                player.tally.incident(&r);
            }
            player.send(m).await?;
        }
        for r in incidents {
            player.tally.incident(&r);
        }
        // Quiet stretches take their time too: the run lasts its duration.
        if !player.wait_for(chunk_end, &mut shutdown).await {
            stopped = true;
            break;
        }
        chunk_start = chunk_end;
    }

    let sim_reached = if stopped { player.sim_now } else { end.unwrap_or(player.sim_now) };
    let (mut sent, mut acked, mut errors) = (0, 0, 0);
    for h in accounts.values() {
        if !h.connection.drain(StdDuration::from_secs(10)).await {
            warn!(client = %h.client_id, "not every publish was acknowledged before closing");
        }
        sent += h.connection.sent();
        acked += h.connection.acked();
        errors += h.connection.counters.errors.load(std::sync::atomic::Ordering::Relaxed);
    }
    for (_, h) in accounts.drain() {
        h.connection.close().await;
    }
    Ok(RunSummary {
        tally,
        elapsed: base.elapsed(),
        sim_from: opts.start,
        sim_reached,
        sent_qos1: sent,
        acked,
        connection_errors: errors,
        stopped_early: stopped,
    })
}

struct Player<'a> {
    accounts: &'a mut HashMap<String, Account>,
    tally: &'a mut Tally,
    opts: &'a RunOptions,
    base: Instant,
    last_progress: Instant,
    last_count: u64,
    sim_now: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
}

impl Player<'_> {
    /// Sleeps until `at` is due, reporting progress; false if stopped meanwhile.
    async fn wait_for<F: Future<Output = ()> + Unpin>(&mut self, at: DateTime<Utc>, shutdown: &mut F) -> bool {
        let due = self.base + self.opts.speed.real(at - self.opts.start);
        loop {
            self.maybe_progress();
            let now = Instant::now();
            if now >= due {
                self.sim_now = at;
                return true;
            }
            let wake = due.min(now + StdDuration::from_secs(1));
            tokio::select! {
                () = &mut *shutdown => return false,
                () = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }

    fn maybe_progress(&mut self) {
        let since = self.last_progress.elapsed();
        if since < PROGRESS_EVERY {
            return;
        }
        let acked: u64 = self.accounts.values().map(|h| h.connection.acked()).sum();
        let rate = (self.tally.messages - self.last_count) as f64 / since.as_secs_f64();
        // The simulated clock, even while no message is due.
        let clock = match self.opts.speed {
            Speed::Max => self.sim_now,
            Speed::Factor(f) => {
                let ahead = Duration::milliseconds((self.base.elapsed().as_secs_f64() * f * 1000.0) as i64);
                let now = self.opts.start + ahead;
                self.end.map_or(now, |e| now.min(e)).max(self.sim_now)
            }
        };
        info!("{}", report::progress(self.tally, clock, self.opts.start, self.end, acked, rate));
        self.last_progress = Instant::now();
        self.last_count = self.tally.messages;
    }

    async fn send(&mut self, m: Message) -> Result<(), PublishError> {
        self.maybe_progress();
        let account = if m.topic.starts_with("zigbee2mqtt/") { gateway_id(&m.resident) } else { m.device_id.clone() };
        let h = self.accounts.get_mut(&account).ok_or(PublishError::UnknownDevice(account))?;
        self.tally.message(&m);
        if m.kind == MessageKind::LastWill && h.will && self.opts.speed.is_real_time() {
            info!(client = %h.client_id, device = %m.device_id, "dropping the connection: the broker publishes the Last Will");
            h.connection.crash_and_reconnect(&h.client_id).await;
            return Ok(());
        }
        h.connection.publish(m.topic, m.qos, m.retain, m.payload).await?;
        Ok(())
    }
}
