//! MQTT ingestion: subscribe, decode, batch, commit, then acknowledge.
//!
//! ```text
//! broker -> connection (polls, nothing else) -> dispatcher (decode, route)
//!             ^                                   |-> event lane (events, status)
//!             |                                   '-> telemetry lane (readings)
//!             '--- acker (in receipt order, after commit) <-'
//! ```

pub mod acks;
pub mod decode;
pub mod quarantine;
pub mod registry;
pub mod writer;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use chrono::Utc;
use rumqttc::{AsyncClient, Event, EventLoop, Packet, Publish, QoS, SubscribeFilter};
use sqlx::PgPool;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alerts::engine::Stored;
use crate::config::{ConfigError, Settings};
use crate::domain::Reason;
use crate::domain::zigbee::ZigbeeState;
use crate::metrics::Metrics;
use acks::AckMsg;
use registry::DeviceRegistry;
use writer::{Item, LaneSettings};

/// Broker packets up to this size are accepted; anything between the
/// contract's 64 KiB and this is quarantined as oversized rather than killing
/// the connection.
const MAX_PACKET: usize = 2 * 1024 * 1024;
/// How often the device registry is reloaded even without a local change, so
/// that devices registered through another `serve` process are seen.
const REGISTRY_REFRESH: Duration = Duration::from_secs(30);
/// A message from an unknown device triggers a reload at most this often.
const MISS_RELOAD_INTERVAL: Duration = Duration::from_secs(2);
/// Payloads are copied into blocks of this size: one allocation per block,
/// not per message, and a queued payload pins at most one block, the
/// contract's 64 KiB, whatever the size of the packet it came in.
const PAYLOAD_BLOCK: usize = decode::MAX_PAYLOAD;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("loading the device registry: {0}")]
    Registry(#[from] sqlx::Error),
    #[error(transparent)]
    Broker(#[from] crate::broker::BrokerError),
}

/// One MQTT session with its own dispatcher, writer lane and acker. Events
/// and telemetry each get one, so an alert-bearing message never queues
/// behind a telemetry backlog: not in our lanes, not in the broker's queue
/// for our session, not in the TCP stream.
struct Pipeline {
    name: &'static str,
    topics: Vec<String>,
    batch_size: usize,
    flush_ms: u64,
    /// Topics this pipeline stores; others it receives (a wildcard catches
    /// them so bad topics are still quarantined) are left to the other one.
    owns: fn(&str) -> bool,
}

/// Whether the event session's subscriptions (`eldercare/v1/+/event`,
/// `eldercare/v1/+/status`, `zigbee2mqtt/#`) deliver this topic: exactly
/// those shapes, so nothing falls between the two sessions.
fn is_event_topic(topic: &str) -> bool {
    if topic.starts_with("zigbee2mqtt/") {
        return true;
    }
    let parts: Vec<&str> = topic.split('/').collect();
    matches!(parts.as_slice(), ["eldercare", "v1", id, "event" | "status"] if !id.is_empty())
}

/// Where each lane hands what it committed to the rule engine: one channel
/// per lane, so the engine judges events before readings.
pub struct RuleSenders {
    pub events: mpsc::Sender<Vec<Stored>>,
    pub telemetry: mpsc::Sender<Vec<Stored>>,
}

/// Starts the ingest worker's tasks on `tracker`. They run until `shutdown`,
/// then commit and acknowledge what was received, and disconnect.
pub async fn spawn(
    settings: &Settings,
    pool: PgPool,
    metrics: Arc<Metrics>,
    devices_changed: watch::Receiver<u64>,
    rules: RuleSenders,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> Result<(), IngestError> {
    let endpoint = settings.mqtt.endpoint()?;
    let ing = &settings.ingest;
    let pipelines = [
        Pipeline {
            name: "events",
            topics: settings.mqtt.event_topics.clone(),
            batch_size: ing.event_batch_size,
            flush_ms: ing.event_flush_ms,
            owns: is_event_topic,
        },
        Pipeline {
            name: "telemetry",
            // Shared between processes when a share group is set: the broker
            // delivers each publish to one member, under its real topic.
            topics: settings.mqtt.telemetry_topics.iter().map(|t| ing.telemetry_filter(t)).collect(),
            batch_size: ing.batch_size,
            flush_ms: ing.flush_ms,
            owns: |topic| !is_event_topic(topic),
        },
    ];
    let zigbee = crate::store::ingest::zigbee_states(&pool).await?;
    for (n, p) in pipelines.into_iter().enumerate() {
        let mut options = crate::broker::mqtt_options(
            &endpoint,
            &format!("{}-{}", endpoint.client_id, p.name),
            settings.mqtt.ca_file.as_deref(),
        )?;
        options
            .set_keep_alive(Duration::from_secs(settings.mqtt.keep_alive_secs))
            // A persistent session: what arrives while we are away is queued
            // by the broker and redelivered, as is anything not acknowledged.
            .set_clean_session(false)
            .set_manual_acks(true)
            .set_max_packet_size(MAX_PACKET, MAX_PACKET)
            .set_request_channel_capacity(ing.queue_capacity * 2);
        let (client, eventloop) = AsyncClient::new(options, ing.queue_capacity * 2);
        let registry = DeviceRegistry::load(&pool).await?;
        tracing::info!(pipeline = p.name, devices = registry.len(), "device registry loaded");

        let (publish_tx, publish_rx) = mpsc::channel(ing.queue_capacity);
        let (ack_tx, ack_rx) = mpsc::unbounded_channel();
        let (lane_tx, lane_rx) = mpsc::channel(ing.queue_capacity);
        let acks_done = CancellationToken::new();
        let lane = writer::Lane {
            name: p.name,
            slot: n,
            settings: LaneSettings {
                batch_size: p.batch_size,
                flush: Duration::from_millis(p.flush_ms),
                seq_memory_hours: ing.seq_memory_hours,
                quarantine_per_device_per_hour: ing.quarantine_per_device_per_hour,
            },
            pool: pool.clone(),
            metrics: metrics.clone(),
            acks: ack_tx.clone(),
            rules: if n == 0 { rules.events.clone() } else { rules.telemetry.clone() },
            shutdown: shutdown.clone(),
        };
        tracker.spawn(lane.run(lane_rx));
        let dispatcher = Dispatcher {
            pool: pool.clone(),
            metrics: metrics.clone(),
            registry,
            registry_loaded: Instant::now(),
            registry_stale: false,
            slot: n,
            shutdown: shutdown.clone(),
            // Zigbee2MQTT topics are the event pipeline's alone.
            zigbee: if n == 0 { zigbee.clone() } else { HashMap::new() },
            owns: p.owns,
            next_index: 0,
            payloads: Payloads::default(),
            acks: ack_tx,
            lane: lane_tx,
        };
        tracker.spawn(dispatcher.run(publish_rx, devices_changed.clone()));
        let done = acks_done.clone();
        let ack_client = client.clone();
        tracker.spawn(async move {
            acks::run(ack_client, ack_rx).await;
            done.cancel();
        });
        let topics: Vec<SubscribeFilter> =
            p.topics.iter().map(|t| SubscribeFilter::new(t.clone(), QoS::AtLeastOnce)).collect();
        let session = Session { name: p.name, connected: n };
        tracker.spawn(connection(
            client,
            eventloop,
            topics,
            publish_tx,
            metrics.clone(),
            session,
            shutdown.clone(),
            acks_done,
        ));
    }
    Ok(())
}

/// Which session a connection task serves.
struct Session {
    name: &'static str,
    /// Its slot in `Metrics::mqtt_connected`.
    connected: usize,
}

/// Polls the event loop and does nothing else: publishes go to the
/// dispatcher through a bounded channel (a full channel pauses reading, which
/// is the backpressure to the broker).
#[allow(clippy::too_many_arguments)]
async fn connection(
    client: AsyncClient,
    mut eventloop: EventLoop,
    topics: Vec<SubscribeFilter>,
    publish_tx: mpsc::Sender<Publish>,
    metrics: Arc<Metrics>,
    session: Session,
    shutdown: CancellationToken,
    acks_done: CancellationToken,
) {
    let connected = &metrics.mqtt_connected[session.connected];
    let name = session.name;
    let mut forward = Some(publish_tx);
    let mut backoff = Duration::from_millis(100);
    loop {
        let event = tokio::select! {
            event = eventloop.poll() => event,
            _ = shutdown.cancelled(), if forward.is_some() => {
                // Stop taking messages; what was forwarded is committed and
                // acknowledged by the pipeline, the rest stays with the broker.
                forward = None;
                continue;
            }
            _ = acks_done.cancelled() => break,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(connack))) => {
                backoff = Duration::from_millis(100);
                tracing::info!(session = name, session_present = connack.session_present, "connected to the broker");
                // Ready once subscribed: at once with a kept session, else at
                // the SUBACK.
                connected.store(connack.session_present, Ordering::Relaxed);
                // A broker that kept our session kept our subscriptions too;
                // subscribing again would replay every retained message.
                if !connack.session_present {
                    let client = client.clone();
                    let topics = topics.clone();
                    tokio::spawn(async move {
                        if let Err(err) = client.subscribe_many(topics).await {
                            tracing::error!(cause = %err, "subscribing");
                        }
                    });
                }
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => connected.store(true, Ordering::Relaxed),
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                if let Some(tx) = &forward {
                    tokio::select! {
                        sent = tx.send(publish) => if sent.is_err() { forward = None },
                        _ = shutdown.cancelled() => forward = None,
                    }
                }
            }
            Ok(_) => {}
            Err(err) => {
                connected.store(false, Ordering::Relaxed);
                tracing::warn!(session = name, cause = %err, retry_in = ?backoff, "broker connection lost");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = acks_done.cancelled() => break,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    // Every acknowledgement is queued before the disconnect: drive the loop
    // until the disconnect itself goes out.
    if client.disconnect().await.is_ok() {
        let deadline = tokio::time::sleep(Duration::from_secs(5));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                event = eventloop.poll() => match event {
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => break,
                    Ok(_) => {}
                },
                _ = &mut deadline => break,
            }
        }
    }
    connected.store(false, Ordering::Relaxed);
    tracing::info!(session = name, "disconnected from the broker");
}

/// Copies of received payloads, for the quarantine should the decoder or the
/// database refuse them.
#[derive(Default)]
struct Payloads {
    /// The block payloads are being copied into.
    block: BytesMut,
}

impl Payloads {
    /// A copy of the first `MAX_PAYLOAD` bytes of a payload. Never the
    /// packet's own bytes: they are a view into the client's read buffer, and
    /// a queued view would pin the whole buffer (up to the 2 MiB packet
    /// limit) until its batch is committed.
    fn keep(&mut self, payload: &[u8]) -> Bytes {
        let kept = &payload[..payload.len().min(decode::MAX_PAYLOAD)];
        if self.block.capacity() - self.block.len() < kept.len() {
            // The old block lives on while queued payloads point into it.
            self.block = BytesMut::with_capacity(PAYLOAD_BLOCK);
        }
        self.block.extend_from_slice(kept);
        self.block.split().freeze()
    }
}

/// Decodes each message and hands it to its pipeline's lane.
struct Dispatcher {
    pool: PgPool,
    metrics: Arc<Metrics>,
    registry: DeviceRegistry,
    registry_loaded: Instant,
    /// A reload failed: devices registered since the last one may be missing.
    registry_stale: bool,
    /// Its lane's slot in `Metrics::lane_waiting_since_ms`.
    slot: usize,
    shutdown: CancellationToken,
    zigbee: HashMap<String, ZigbeeState>,
    owns: fn(&str) -> bool,
    next_index: u64,
    payloads: Payloads,
    acks: mpsc::UnboundedSender<AckMsg>,
    lane: mpsc::Sender<Item>,
}

impl Dispatcher {
    async fn run(mut self, mut rx: mpsc::Receiver<Publish>, mut devices_changed: watch::Receiver<u64>) {
        let mut refresh = tokio::time::interval(REGISTRY_REFRESH);
        refresh.tick().await;
        loop {
            tokio::select! {
                biased;
                // A local registration is seen before any later message.
                Ok(()) = devices_changed.changed() => { self.reload().await; }
                publish = rx.recv() => match publish {
                    Some(p) => {
                        if devices_changed.has_changed().unwrap_or(false) {
                            devices_changed.mark_unchanged();
                            self.reload().await;
                        }
                        if !self.dispatch(p).await {
                            return;
                        }
                    }
                    None => return,
                },
                _ = refresh.tick() => { self.reload().await; }
            }
        }
    }

    /// Returns whether the registry is now current.
    async fn reload(&mut self) -> bool {
        match DeviceRegistry::load(&self.pool).await {
            Ok(registry) => {
                self.registry = registry;
                self.registry_loaded = Instant::now();
                self.registry_stale = false;
                true
            }
            Err(err) => {
                tracing::warn!(cause = %err, "reloading the device registry; keeping the old one");
                self.registry_stale = true;
                false
            }
        }
    }

    /// Reloads until the registry is current. A sender unknown to a stale
    /// registry may be a device registered since: judged unknown, its
    /// message (an alarm, perhaps) would be quarantined instead of stored.
    /// Waiting costs nothing, since the database a reload needs is the one
    /// the message's batch needs too; meanwhile the lane counts the message
    /// as waiting since its receipt, so the watchdog sees the stall. At
    /// shutdown, given up after a while.
    async fn reload_until_current(&mut self, received: chrono::DateTime<Utc>) {
        let mut backoff = Duration::from_millis(100);
        let since = received.timestamp_millis().max(1) as u64;
        while !self.reload().await {
            let _ = self.metrics.lane_waiting_since_ms[self.slot].compare_exchange(
                0,
                since,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            if self.shutdown.is_cancelled() && backoff >= Duration::from_secs(5) {
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// Returns false when the lanes are gone.
    async fn dispatch(&mut self, publish: Publish) -> bool {
        let index = self.next_index;
        self.next_index += 1;
        let ack = (publish.qos != QoS::AtMostOnce).then(|| {
            let mut handle = publish.clone();
            handle.payload = Bytes::new();
            handle
        });
        let _ = self.acks.send(AckMsg::Received(index, ack));
        let topic = publish.topic.clone();
        if !(self.owns)(&topic) {
            // The other pipeline stores it.
            let _ = self.acks.send(AckMsg::Committed(vec![index]));
            return true;
        }
        self.metrics.messages_received.fetch_add(1, Ordering::Relaxed);

        let now = Utc::now();
        let mut decoded = decode::decode(&topic, &publish.payload, now, &self.registry, &mut self.zigbee);
        let unknown = decoded.rejections.iter().any(|r| r.reason == Reason::UnknownDevice);
        if unknown && self.registry_stale {
            self.reload_until_current(now).await;
            decoded = decode::decode(&topic, &publish.payload, now, &self.registry, &mut self.zigbee);
        } else if unknown && self.registry_loaded.elapsed() >= MISS_RELOAD_INTERVAL {
            self.reload().await;
            decoded = decode::decode(&topic, &publish.payload, now, &self.registry, &mut self.zigbee);
        }
        let device = decoded.device_id.as_deref().and_then(|id| self.registry.get(id)).cloned();
        let zigbee_state = match (&device, topic.starts_with("zigbee2mqtt/")) {
            (Some(d), true) => self.zigbee.get(&d.info.device_id).cloned(),
            _ => None,
        };
        let item = Item {
            index,
            payload: self.payloads.keep(&publish.payload),
            topic,
            received_at: now,
            received: Instant::now(),
            decoded,
            device,
            zigbee_state,
        };
        if self.lane.send(item).await.is_err() {
            self.metrics.batch_failures.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_payloads_are_copies_of_at_most_the_contract_limit() {
        let mut payloads = Payloads::default();
        let packet = Bytes::from(vec![7u8; 2 * 1024 * 1024]);
        let kept = payloads.keep(&packet);
        assert_eq!(kept.len(), decode::MAX_PAYLOAD);
        assert!(kept.iter().all(|b| *b == 7));
        let inside = packet.as_ptr_range();
        assert!(!inside.contains(&kept.as_ptr()), "a copy, not a view into the packet");
        let small: Vec<Bytes> = (0..100u8).map(|i| payloads.keep(&[i; 300])).collect();
        assert!(small.iter().enumerate().all(|(i, p)| p.len() == 300 && p[0] == i as u8), "each its own bytes");
        assert_eq!(payloads.keep(b""), Bytes::new());
    }

    #[test]
    fn every_topic_belongs_to_exactly_one_session() {
        for t in [
            "eldercare/v1/w-1/event",
            "eldercare/v1/w-1/status",
            "zigbee2mqtt/flat/kitchen",
            "zigbee2mqtt/x/availability",
        ] {
            assert!(is_event_topic(t), "{t}");
        }
        for t in [
            "eldercare/v1/w-1/telemetry",
            "eldercare/v1/w-1/fhir",
            "eldercare/v1/a/b/event",
            "eldercare/v1//event",
            "eldercare/v1/w-1/event/extra",
            "eldercare/v1/w-1",
        ] {
            assert!(!is_event_topic(t), "{t} is the telemetry session's (stored or quarantined there)");
        }
    }
}
