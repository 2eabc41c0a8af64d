//! Load mode: many devices publishing telemetry at a target rate, to drive
//! the ingest benchmark. Each device connects as itself with its own
//! credential (one connection per device); against a broker that does not
//! check identities, fewer connections may carry all the devices. Reports the
//! rate the broker actually acknowledged.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use rumqttc::ClientError;
use tracing::{info, warn};

use crate::message::Qos;
use crate::mqtt::{Broker, Connection, Tuning};
use crate::payload;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("publishing to the MQTT client failed: {0}")]
    Client(#[from] ClientError),
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub broker: Broker,
    pub devices: u32,
    /// Target messages per second over all connections.
    pub rate: f64,
    /// Stop after this long...
    pub duration: Option<Duration>,
    /// ...or after this many messages, whichever comes first.
    pub count: Option<u64>,
    pub connections: usize,
    pub qos: Qos,
    /// Unacknowledged QoS 1 publishes allowed per connection.
    pub inflight: u16,
    /// Client ids of connections that are not one device's own.
    pub client_prefix: String,
    /// Each device's password (device id -> password), from provisioning:
    /// a device with one connects as itself.
    pub credentials: BTreeMap<String, String>,
}

/// `load-00001`, `load-00002`, ...
pub fn device_id(n: u32) -> String {
    format!("load-{n:05}")
}

#[derive(Debug, Clone)]
pub struct LoadSummary {
    pub target_rate: f64,
    pub sent: u64,
    pub acked: u64,
    pub qos: Qos,
    /// First publish to last PUBACK (QoS 1) or to the last publish (QoS 0).
    pub window: Duration,
    pub connection_errors: u64,
    pub stopped_early: bool,
}

impl LoadSummary {
    /// Messages per second over the measured window.
    pub fn achieved_rate(&self) -> f64 {
        let done = if self.qos == Qos::AtLeastOnce { self.acked } else { self.sent };
        let secs = self.window.as_secs_f64();
        if secs > 0.0 { done as f64 / secs } else { 0.0 }
    }
}

impl fmt::Display for LoadSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let measured =
            if self.qos == Qos::AtLeastOnce { "first publish to last PUBACK" } else { "first to last publish" };
        writeln!(
            f,
            "load: {} sent, {} acknowledged (QoS {}), {} connection errors{}",
            self.sent,
            self.acked,
            self.qos.level(),
            self.connection_errors,
            if self.stopped_early { ", stopped early" } else { "" },
        )?;
        writeln!(
            f,
            "achieved {:.0} msg/s over {:.2}s ({measured}); target {:.0} msg/s",
            self.achieved_rate(),
            self.window.as_secs_f64(),
            self.target_rate,
        )
    }
}

/// Shared between the publishing tasks and the progress reporter.
#[derive(Default)]
struct Shared {
    sent: AtomicU64,
    first_publish_ns: AtomicU64,
    last_publish_ns: AtomicU64,
    stop: AtomicBool,
}

pub async fn run(opts: &LoadOptions, shutdown: impl Future<Output = ()>) -> Result<LoadSummary, LoadError> {
    if opts.devices == 0 || opts.connections == 0 || !(opts.rate > 0.0 && opts.rate.is_finite()) {
        return Err(LoadError::Invalid("devices, connections and rate must be positive".into()));
    }
    if opts.duration.is_none() && opts.count.is_none() {
        return Err(LoadError::Invalid("give a duration or a count".into()));
    }
    let connections = opts.connections.min(opts.devices as usize);
    if !opts.credentials.is_empty() && connections != opts.devices as usize {
        return Err(LoadError::Invalid(
            "each device connects with its own credential: --connections must be the number of devices".into(),
        ));
    }
    let base = Instant::now();
    let shared = Arc::new(Shared { first_publish_ns: AtomicU64::new(u64::MAX), ..Shared::default() });
    // The client queue holds a few windows of publishes: with thousands of
    // connections, memory stays bounded.
    let channel = (usize::from(opts.inflight) * 4).clamp(64, 16_384);
    let tuning = Tuning { inflight: opts.inflight, channel, persistent: false };
    let start_ms = Utc::now().timestamp_millis().max(0) as u64;

    let mut workers = Vec::with_capacity(connections);
    for c in 0..connections {
        let topics: Vec<String> = (1..=opts.devices)
            .filter(|n| (*n as usize - 1) % connections == c)
            .map(|n| payload::native_topic(&device_id(n), "telemetry"))
            .collect();
        let quota =
            opts.count.map(|total| total / connections as u64 + u64::from((c as u64) < total % connections as u64));
        let own = device_id(c as u32 + 1);
        let connection = match opts.credentials.get(&own) {
            Some(password) => Connection::open(&opts.broker.account(&own, Some(password)), &own, None, tuning, base),
            None => Connection::open(&opts.broker, &format!("{}-{c}", opts.client_prefix), None, tuning, base),
        };
        let job = Job {
            topics,
            quota,
            rate: opts.rate / connections as f64,
            deadline: opts.duration.map(|d| base + d),
            qos: opts.qos,
            base,
            start_ms,
            shared: shared.clone(),
        };
        workers.push(tokio::spawn(job.run(connection)));
    }

    let reporter = tokio::spawn(report_progress(shared.clone(), base));
    tokio::pin!(shutdown);
    let all = async {
        let mut done = Vec::with_capacity(workers.len());
        for w in workers {
            done.push(w.await);
        }
        done
    };
    tokio::pin!(all);
    let mut stopped_early = false;
    let results = tokio::select! {
        r = &mut all => r,
        () = &mut shutdown => {
            stopped_early = true;
            shared.stop.store(true, Ordering::Relaxed);
            all.await
        }
    };
    reporter.abort();

    let mut conns = Vec::new();
    for r in results {
        match r {
            Ok(Ok(c)) => conns.push(c),
            Ok(Err(e)) => return Err(e.into()),
            Err(e) => warn!(cause = %e, "a load task ended abnormally"),
        }
    }
    let (mut acked, mut errors, mut last_ack_ns) = (0, 0, 0);
    for c in &conns {
        if opts.qos == Qos::AtLeastOnce && !c.drain(Duration::from_secs(30)).await {
            warn!("not every publish was acknowledged within 30 s");
        }
        acked += c.acked();
        errors += c.counters.errors.load(Ordering::Relaxed);
        last_ack_ns = last_ack_ns.max(c.counters.last_ack_ns.load(Ordering::Relaxed));
    }
    for c in conns {
        c.close().await;
    }
    let first = shared.first_publish_ns.load(Ordering::Relaxed);
    let last = if opts.qos == Qos::AtLeastOnce { last_ack_ns } else { shared.last_publish_ns.load(Ordering::Relaxed) };
    let window = if first == u64::MAX || last <= first { Duration::ZERO } else { Duration::from_nanos(last - first) };
    Ok(LoadSummary {
        target_rate: opts.rate,
        sent: shared.sent.load(Ordering::Relaxed),
        acked,
        qos: opts.qos,
        window,
        connection_errors: errors,
        stopped_early,
    })
}

/// One connection's share of the load.
struct Job {
    topics: Vec<String>,
    quota: Option<u64>,
    /// Messages per second for this connection.
    rate: f64,
    deadline: Option<Instant>,
    qos: Qos,
    base: Instant,
    start_ms: u64,
    shared: Arc<Shared>,
}

/// Publishes checked for the stop flag and deadline between batches.
const BATCH: u64 = 256;

impl Job {
    async fn run(self, mut connection: Connection) -> Result<Connection, ClientError> {
        let started = Instant::now();
        let devices = self.topics.len() as u64;
        let mut n: u64 = 0;
        let mut payload = Vec::with_capacity(160);
        loop {
            if self.shared.stop.load(Ordering::Relaxed)
                || self.quota.is_some_and(|q| n >= q)
                || self.deadline.is_some_and(|d| Instant::now() >= d)
            {
                break;
            }
            let due = (started.elapsed().as_secs_f64() * self.rate) as u64;
            let due = self.quota.map_or(due, |q| due.min(q)).min(n + BATCH);
            if n >= due {
                // Until the next message is due, but not in a tight loop:
                // thousands of connections share the machine.
                let next = started + Duration::from_secs_f64((n + 1) as f64 / self.rate);
                tokio::time::sleep_until(next.max(Instant::now() + Duration::from_millis(5)).into()).await;
                continue;
            }
            let ts = self.start_ms + self.base.elapsed().as_millis() as u64;
            let batch_start = n;
            while n < due {
                let device = (n % devices) as usize;
                // Per-device sequence: above any earlier run's, one step per round.
                let seq = self.start_ms * 1000 + n / devices;
                payload.clear();
                let hr = 60 + (n % 40);
                let spo2 = 95 + (n % 5);
                let _ = write!(
                    payload,
                    r#"{{"ts":{ts},"seq":{seq},"readings":[{{"metric":"heart_rate","value":{hr}}},{{"metric":"spo2","value":{spo2}}}]}}"#
                );
                if n == 0 {
                    let ns = self.base.elapsed().as_nanos() as u64;
                    self.shared.first_publish_ns.fetch_min(ns, Ordering::Relaxed);
                }
                connection.publish(self.topics[device].clone(), self.qos, false, payload.clone()).await?;
                n += 1;
            }
            self.shared.sent.fetch_add(n - batch_start, Ordering::Relaxed);
            let ns = self.base.elapsed().as_nanos() as u64;
            self.shared.last_publish_ns.fetch_max(ns, Ordering::Relaxed);
        }
        Ok(connection)
    }
}

async fn report_progress(shared: Arc<Shared>, base: Instant) {
    let mut last = 0;
    let mut ticker = tokio::time::interval(Duration::from_secs(5));
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let sent = shared.sent.load(Ordering::Relaxed);
        info!(
            "load: {sent} sent in {:.0}s, {:.0} msg/s over the last 5 s",
            base.elapsed().as_secs_f64(),
            (sent - last) as f64 / 5.0
        );
        last = sent;
    }
}
