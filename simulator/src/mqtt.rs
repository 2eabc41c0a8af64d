//! MQTT connections as the simulator uses them: one rumqttc client per
//! connection, its event loop polled in a task of its own that only counts
//! acknowledgements, with backoff on errors.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rumqttc::{
    AsyncClient, ClientError, ConnectionError, Event, EventLoop, LastWill, MqttOptions, Outgoing, Packet, QoS,
};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::message::Qos;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid MQTT URL {0:?}: expected mqtt://[user[:password]@]host[:port]")]
pub struct BrokerUrlError(String);

/// Where the broker is. A `client_id` in the URL's query is ignored: the
/// simulator names its own connections (and must never reuse the backend's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    pub host: String,
    pub port: u16,
    pub credentials: Option<(String, String)>,
}

impl FromStr for Broker {
    type Err = BrokerUrlError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let err = || BrokerUrlError(url.to_owned());
        let rest = url.strip_prefix("mqtt://").or_else(|| url.strip_prefix("tcp://")).ok_or_else(err)?;
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((user_info, hp)) => {
                let (user, pass) = user_info.split_once(':').unwrap_or((user_info, ""));
                (Some((user.to_owned(), pass.to_owned())), hp)
            }
            None => (None, authority),
        };
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| err())?),
            None => (host_port, 1883),
        };
        if host.is_empty() {
            return Err(err());
        }
        Ok(Broker { host: host.to_owned(), port, credentials })
    }
}

impl Broker {
    /// The same broker, connecting as `account` with `password` when given
    /// (a device's own credential), else with the URL's credentials.
    pub fn account(&self, account: &str, password: Option<&String>) -> Broker {
        match password {
            Some(p) => Broker { credentials: Some((account.to_owned(), p.clone())), ..self.clone() },
            None => self.clone(),
        }
    }
}

/// Client-side limits of one connection.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// QoS 1 publishes awaiting PUBACK before the client waits.
    pub inflight: u16,
    /// Requests queued between the publisher and the event loop.
    pub channel: usize,
    /// A persistent session keeps unacknowledged publishes across reconnects.
    pub persistent: bool,
}

/// What one connection has achieved, shared with its poller.
#[derive(Debug, Default)]
pub struct Counters {
    pub acked: AtomicU64,
    pub errors: AtomicU64,
    /// Nanoseconds after the run's base instant of the latest PUBACK.
    pub last_ack_ns: AtomicU64,
}

pub fn qos(q: Qos) -> QoS {
    match q {
        Qos::AtMostOnce => QoS::AtMostOnce,
        Qos::AtLeastOnce => QoS::AtLeastOnce,
    }
}

pub struct Connection {
    client: AsyncClient,
    poller: JoinHandle<()>,
    options: MqttOptions,
    tuning: Tuning,
    base: Instant,
    pub counters: Arc<Counters>,
    /// QoS 1 publishes handed to the client so far.
    sent_qos1: u64,
}

impl Connection {
    /// Starts connecting in the background; publishes queue until connected.
    pub fn open(broker: &Broker, client_id: &str, will: Option<LastWill>, tuning: Tuning, base: Instant) -> Self {
        let mut options = MqttOptions::new(client_id, broker.host.clone(), broker.port);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(!tuning.persistent)
            .set_inflight(tuning.inflight)
            .set_max_packet_size(1 << 20, 1 << 20);
        if let Some((user, pass)) = &broker.credentials {
            options.set_credentials(user.clone(), pass.clone());
        }
        if let Some(will) = will {
            options.set_last_will(will);
        }
        let counters = Arc::new(Counters::default());
        let (client, eventloop) = AsyncClient::new(options.clone(), tuning.channel);
        let poller = tokio::spawn(poll(eventloop, counters.clone(), base, client_id.to_owned()));
        Connection { client, poller, options, tuning, base, counters, sent_qos1: 0 }
    }

    /// Queues a publish; waits only when the request channel is full.
    pub async fn publish(
        &mut self,
        topic: String,
        qos: Qos,
        retain: bool,
        payload: Vec<u8>,
    ) -> Result<(), ClientError> {
        self.client.publish(topic, self::qos(qos), retain, payload).await?;
        if qos == Qos::AtLeastOnce {
            self.sent_qos1 += 1;
        }
        Ok(())
    }

    pub fn sent(&self) -> u64 {
        self.sent_qos1
    }

    pub fn acked(&self) -> u64 {
        self.counters.acked.load(Ordering::Relaxed)
    }

    /// Waits until every QoS 1 publish so far is acknowledged, or `timeout`.
    pub async fn drain(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.acked() < self.sent_qos1 {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// Drops the TCP connection without DISCONNECT, as a hub losing power
    /// would, so the broker publishes the Last Will; then connects again.
    pub async fn crash_and_reconnect(&mut self, client_id: &str) {
        self.drain(Duration::from_secs(5)).await;
        self.poller.abort();
        let _ = (&mut self.poller).await;
        let (client, eventloop) = AsyncClient::new(self.options.clone(), self.tuning.channel);
        self.client = client;
        self.poller = tokio::spawn(poll(eventloop, self.counters.clone(), self.base, client_id.to_owned()));
    }

    /// Disconnects cleanly (no Last Will) and waits briefly for the poller to end.
    pub async fn close(self) {
        if self.client.disconnect().await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), self.poller).await;
        } else {
            self.poller.abort();
        }
    }
}

/// The event loop is the connection: poll it and only count what comes back.
async fn poll(mut eventloop: EventLoop, counters: Arc<Counters>, base: Instant, client_id: String) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::PubAck(_))) => {
                counters.acked.fetch_add(1, Ordering::Relaxed);
                let ns = base.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64;
                counters.last_ack_ns.fetch_max(ns, Ordering::Relaxed);
            }
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                backoff = Duration::from_millis(200);
                debug!(client = %client_id, session_present = ack.session_present, "mqtt connected");
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(ConnectionError::RequestsDone) => break,
            Ok(_) => {}
            Err(err) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                warn!(client = %client_id, cause = %err, "mqtt connection error, retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_parse() {
        let b: Broker = "mqtt://127.0.0.1:1883?client_id=eldercare-ingest".parse().unwrap();
        assert_eq!((b.host.as_str(), b.port, b.credentials), ("127.0.0.1", 1883, None));
        let b: Broker = "tcp://sim:secret@broker".parse().unwrap();
        assert_eq!(b.port, 1883);
        assert_eq!(b.credentials, Some(("sim".into(), "secret".into())));
        for bad in ["127.0.0.1:1883", "mqtt://", "mqtt://host:notaport", "http://host"] {
            assert!(bad.parse::<Broker>().is_err(), "{bad}");
        }
    }
}
