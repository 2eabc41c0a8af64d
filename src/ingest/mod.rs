//! MQTT ingestion: subscribe, decode, batch, commit, then acknowledge.
//!
//! ```text
//! broker -> connection (polls, nothing else) -> dispatcher (decode, route)
//!             ^                                   |-> event lane (events, status)
//!             |                                   '-> telemetry lane (readings)
//!             '--- acker (in receipt order, after commit) <-'
//! ```

pub mod acks;
pub mod catalog;
pub mod decode;
pub mod registry;
pub mod writer;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, Publish, QoS, SubscribeFilter};
use sqlx::PgPool;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{ConfigError, Settings};
use crate::metrics::Metrics;
use crate::rules::engine::Stored;
use acks::AckMsg;
use decode::{Reason, ZigbeeState};
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

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("loading the device registry: {0}")]
    Registry(#[from] sqlx::Error),
}

/// Starts the ingest worker's tasks on `tracker`. They run until `shutdown`,
/// then commit and acknowledge what was received, and disconnect.
pub async fn spawn(
    settings: &Settings,
    pool: PgPool,
    metrics: Arc<Metrics>,
    devices_changed: watch::Receiver<u64>,
    rules: mpsc::Sender<Vec<Stored>>,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> Result<(), IngestError> {
    let endpoint = settings.mqtt.endpoint()?;
    let mut options = MqttOptions::new(endpoint.client_id, endpoint.host, endpoint.port);
    options
        .set_keep_alive(Duration::from_secs(settings.mqtt.keep_alive_secs))
        // A persistent session: what arrives while we are away is queued by
        // the broker and redelivered, as is anything we had not acknowledged.
        .set_clean_session(false)
        .set_manual_acks(true)
        .set_max_packet_size(MAX_PACKET, MAX_PACKET)
        .set_request_channel_capacity(settings.ingest.queue_capacity * 2);
    if let (Some(user), Some(pass)) = (endpoint.username, endpoint.password) {
        options.set_credentials(user, pass);
    }
    let (client, eventloop) = AsyncClient::new(options, settings.ingest.queue_capacity * 2);

    let registry = DeviceRegistry::load(&pool).await?;
    let zigbee = registry::load_zigbee_states(&pool).await?;
    tracing::info!(devices = registry.len(), "device registry loaded");

    let (publish_tx, publish_rx) = mpsc::channel(settings.ingest.queue_capacity);
    let (ack_tx, ack_rx) = mpsc::unbounded_channel();
    let (events_tx, events_rx) = mpsc::channel(settings.ingest.queue_capacity);
    let (telemetry_tx, telemetry_rx) = mpsc::channel(settings.ingest.queue_capacity);
    let acks_done = CancellationToken::new();

    let lane = |name, batch_size, flush_ms| writer::Lane {
        name,
        settings: LaneSettings {
            batch_size,
            flush: Duration::from_millis(flush_ms),
            seq_memory_hours: settings.ingest.seq_memory_hours,
        },
        pool: pool.clone(),
        metrics: metrics.clone(),
        acks: ack_tx.clone(),
        rules: rules.clone(),
        shutdown: shutdown.clone(),
    };
    let ing = &settings.ingest;
    tracker.spawn(lane("events", ing.event_batch_size, ing.event_flush_ms).run(events_rx));
    tracker.spawn(lane("telemetry", ing.batch_size, ing.flush_ms).run(telemetry_rx));
    let dispatcher = Dispatcher {
        pool,
        metrics: metrics.clone(),
        registry,
        registry_loaded: Instant::now(),
        zigbee,
        next_index: 0,
        acks: ack_tx,
        events: events_tx,
        telemetry: telemetry_tx,
    };
    tracker.spawn(dispatcher.run(publish_rx, devices_changed));
    let done = acks_done.clone();
    let ack_client = client.clone();
    tracker.spawn(async move {
        acks::run(ack_client, ack_rx).await;
        done.cancel();
    });
    let topics: Vec<SubscribeFilter> =
        settings.mqtt.topics.iter().map(|t| SubscribeFilter::new(t.clone(), QoS::AtLeastOnce)).collect();
    tracker.spawn(connection(client, eventloop, topics, publish_tx, metrics, shutdown, acks_done));
    Ok(())
}

/// Polls the event loop and does nothing else: publishes go to the
/// dispatcher through a bounded channel (a full channel pauses reading, which
/// is the backpressure to the broker).
async fn connection(
    client: AsyncClient,
    mut eventloop: EventLoop,
    topics: Vec<SubscribeFilter>,
    publish_tx: mpsc::Sender<Publish>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    acks_done: CancellationToken,
) {
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
                tracing::info!(session_present = connack.session_present, "connected to the broker");
                // Ready once subscribed: at once with a kept session, else at
                // the SUBACK.
                metrics.mqtt_connected.store(connack.session_present, Ordering::Relaxed);
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
            Ok(Event::Incoming(Packet::SubAck(_))) => metrics.mqtt_connected.store(true, Ordering::Relaxed),
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                metrics.messages_received.fetch_add(1, Ordering::Relaxed);
                if let Some(tx) = &forward {
                    tokio::select! {
                        sent = tx.send(publish) => if sent.is_err() { forward = None },
                        _ = shutdown.cancelled() => forward = None,
                    }
                }
            }
            Ok(_) => {}
            Err(err) => {
                metrics.mqtt_connected.store(false, Ordering::Relaxed);
                tracing::warn!(cause = %err, retry_in = ?backoff, "broker connection lost");
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
    metrics.mqtt_connected.store(false, Ordering::Relaxed);
    tracing::info!("disconnected from the broker");
}

/// Decodes each message and hands it to the lane that must write it.
struct Dispatcher {
    pool: PgPool,
    metrics: Arc<Metrics>,
    registry: DeviceRegistry,
    registry_loaded: Instant,
    zigbee: HashMap<String, ZigbeeState>,
    next_index: u64,
    acks: mpsc::UnboundedSender<AckMsg>,
    events: mpsc::Sender<Item>,
    telemetry: mpsc::Sender<Item>,
}

impl Dispatcher {
    async fn run(mut self, mut rx: mpsc::Receiver<Publish>, mut devices_changed: watch::Receiver<u64>) {
        let mut refresh = tokio::time::interval(REGISTRY_REFRESH);
        refresh.tick().await;
        loop {
            tokio::select! {
                biased;
                // A local registration is seen before any later message.
                Ok(()) = devices_changed.changed() => self.reload().await,
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
                _ = refresh.tick() => self.reload().await,
            }
        }
    }

    async fn reload(&mut self) {
        match DeviceRegistry::load(&self.pool).await {
            Ok(registry) => {
                self.registry = registry;
                self.registry_loaded = Instant::now();
            }
            Err(err) => tracing::warn!(cause = %err, "reloading the device registry; keeping the old one"),
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
        let now = Utc::now();
        let mut decoded = decode::decode(&topic, &publish.payload, now, &self.registry, &mut self.zigbee);
        let unknown = decoded.rejections.iter().any(|r| r.reason == Reason::UnknownDevice);
        if unknown && self.registry_loaded.elapsed() >= MISS_RELOAD_INTERVAL {
            self.reload().await;
            decoded = decode::decode(&topic, &publish.payload, now, &self.registry, &mut self.zigbee);
        }
        let device = decoded.device_id.as_deref().and_then(|id| self.registry.get(id)).cloned();
        let zigbee_state = match (&device, topic.starts_with("zigbee2mqtt/")) {
            (Some(d), true) => self.zigbee.get(&d.info.device_id).cloned(),
            _ => None,
        };
        let urgent = !decoded.events.is_empty() || decoded.status.is_some();
        let item = Item {
            index,
            payload: if decoded.rejections.is_empty() { Bytes::new() } else { publish.payload },
            topic,
            received_at: now,
            received: Instant::now(),
            decoded,
            device,
            zigbee_state,
        };
        let lane = if urgent { &self.events } else { &self.telemetry };
        if lane.send(item).await.is_err() {
            self.metrics.batch_failures.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }
}
