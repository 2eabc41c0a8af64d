//! Plays generated messages over MQTT at the pace of simulated time.
//!
//! One MQTT connection per household, as a home hub would hold: client id
//! `{prefix}-{key}`, persistent session, and a Last Will `{"online":false}`
//! (retained, QoS 1) on the watch's `status`. One connection can carry only
//! one will, and the watch is the device whose silence matters most; the
//! other native devices are declared offline by the hub explicitly, and
//! Zigbee devices through Zigbee2MQTT's availability topic.
//!
//! In real time (`--speed 1`), a watch outage is played for real: the
//! household's connection is dropped without DISCONNECT, the broker publishes
//! the will, and the hub reconnects. Accelerated runs publish the will's
//! payload themselves, since the broker cannot know simulated time.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use rumqttc::{ClientError, LastWill, QoS};
use tracing::{info, warn};

use crate::clock::Speed;
use crate::generate::{announce, generate_with_incidents};
use crate::message::{Message, MessageKind};
use crate::model::{DeviceRole, DeviceSpec, SimConfig};
use crate::mqtt::{Broker, Connection, Tuning};
use crate::payload;
use crate::report::{self, RunSummary, Tally};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("publishing to the MQTT client failed: {0}")]
    Client(#[from] ClientError),
    #[error("no connection for resident {0:?}")]
    UnknownResident(String),
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub broker: Broker,
    pub speed: Speed,
    /// Simulated time of the first instant played.
    pub start: DateTime<Utc>,
    /// Simulated time to play; `None` runs until stopped.
    pub duration: Option<Duration>,
    /// Client ids are `{client_prefix}-{resident key}`.
    pub client_prefix: String,
}

/// Simulated time generated and queued at once: bounded memory on long runs.
const CHUNK: Duration = Duration::hours(1);
const PROGRESS_EVERY: StdDuration = StdDuration::from_secs(5);

struct Household {
    client_id: String,
    connection: Connection,
    will_device: String,
}

fn will_device(key: &str) -> String {
    DeviceSpec::new(key, DeviceRole::Watch).device_id
}

/// Plays `config` from `opts.start` until the duration is over or `shutdown` resolves.
pub async fn run(
    config: &SimConfig,
    opts: &RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<RunSummary, PublishError> {
    let base = Instant::now();
    let tuning = Tuning { inflight: 200, channel: 4096, persistent: true };
    let mut households: HashMap<String, Household> = HashMap::new();
    for r in &config.residents {
        let client_id = format!("{}-{}", opts.client_prefix, r.key);
        let will_device = will_device(&r.key);
        let will =
            LastWill::new(payload::native_topic(&will_device, "status"), payload::last_will(), QoS::AtLeastOnce, true);
        let connection = Connection::open(&opts.broker, &client_id, Some(will), tuning, base);
        households.insert(r.key.clone(), Household { client_id, connection, will_device });
    }

    let end = opts.duration.map(|d| opts.start + d);
    let mut tally = Tally::default();
    let mut player = Player {
        households: &mut households,
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
    for h in households.values() {
        if !h.connection.drain(StdDuration::from_secs(10)).await {
            warn!(client = %h.client_id, "not every publish was acknowledged before closing");
        }
        sent += h.connection.sent();
        acked += h.connection.acked();
        errors += h.connection.counters.errors.load(std::sync::atomic::Ordering::Relaxed);
    }
    for (_, h) in households.drain() {
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
    households: &'a mut HashMap<String, Household>,
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
        let acked: u64 = self.households.values().map(|h| h.connection.acked()).sum();
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
        let h =
            self.households.get_mut(&m.resident).ok_or_else(|| PublishError::UnknownResident(m.resident.clone()))?;
        self.tally.message(&m);
        if m.kind == MessageKind::LastWill && m.device_id == h.will_device && self.opts.speed.is_real_time() {
            info!(client = %h.client_id, device = %m.device_id, "dropping the connection: the broker publishes the Last Will");
            h.connection.crash_and_reconnect(&h.client_id).await;
            return Ok(());
        }
        h.connection.publish(m.topic, m.qos, m.retain, m.payload).await?;
        Ok(())
    }
}
