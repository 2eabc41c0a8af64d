//! Alert latency probe: an SOS button publishes, and the time until the
//! alert change arrives on the backend's live stream is measured, while
//! load mode keeps telemetry flowing in the background. Only the public
//! contract is used: MQTT in, the HTTP API and its SSE stream out.

use std::fmt;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use futures::StreamExt;
use reqwest::Method;
use rumqttc::{AsyncClient, MqttOptions, QoS};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::load::{self, LoadOptions, LoadSummary};
use crate::mqtt::Broker;
use crate::provision::{Api, ProvisionError};

pub const PROBE_DEVICE: &str = "latency-probe-sos";
const PROBE_RESIDENT: &str = "Latency probe";
/// A sample whose alert has not arrived by then counts as lost.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum LatencyError {
    #[error(transparent)]
    Api(#[from] ProvisionError),
    #[error("{0}")]
    Protocol(String),
    #[error(transparent)]
    Load(#[from] load::LoadError),
}

#[derive(Debug, Clone)]
pub struct LatencyOptions {
    pub broker: Broker,
    pub samples: usize,
    pub interval: Duration,
    /// Background telemetry; `None` measures an idle backend.
    pub background: Option<LoadOptions>,
}

#[derive(Debug, Clone)]
pub struct LatencySummary {
    /// Publish to alert-on-stream, sorted.
    pub samples: Vec<Duration>,
    pub lost: usize,
    pub background: Option<LoadSummary>,
}

impl LatencySummary {
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        if self.samples.is_empty() {
            return None;
        }
        let rank = ((p / 100.0) * self.samples.len() as f64).ceil() as usize;
        self.samples.get(rank.clamp(1, self.samples.len()) - 1).copied()
    }
}

impl fmt::Display for LatencySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.1} ms", d.as_secs_f64() * 1000.0));
        writeln!(
            f,
            "alert latency, MQTT publish -> SSE: {} samples, {} lost; p50 {}, p90 {}, p99 {}, max {}",
            self.samples.len(),
            self.lost,
            ms(self.percentile(50.0)),
            ms(self.percentile(90.0)),
            ms(self.percentile(99.0)),
            ms(self.samples.last().copied()),
        )?;
        if let Some(bg) = &self.background {
            write!(f, "background telemetry during the probe: {bg}")?;
        }
        Ok(())
    }
}

/// The probe resident and its SOS button, created once; answers the
/// resident and the button's MQTT password (`None` when the backend does not
/// manage credentials).
async fn ensure_probe(api: &Api) -> Result<(String, Option<String>), LatencyError> {
    let (_, list) = api.request(Method::GET, "/api/v1/residents", None).await?;
    let existing = list["residents"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["name"] == PROBE_RESIDENT))
        .and_then(|r| r["id"].as_str().map(str::to_owned));
    let rid = match existing {
        Some(id) => id,
        None => {
            let (status, body) = api
                .request(Method::POST, "/api/v1/residents", Some(json!({"name": PROBE_RESIDENT, "timezone": "UTC"})))
                .await?;
            body["id"].as_str().map(str::to_owned).ok_or_else(|| {
                LatencyError::Protocol(format!("creating the probe resident answered {status}: {body}"))
            })?
        }
    };
    let device = json!({"device_id": PROBE_DEVICE, "resident_id": rid, "kind": "sos_button", "room": "lab"});
    let (status, body) = api.request(Method::POST, "/api/v1/devices", Some(device)).await?;
    let credential = match status.as_u16() {
        s if (200..300).contains(&s) => body["mqtt"].clone(),
        409 => {
            // Registered by an earlier run: a new password (its old one is
            // not kept anywhere).
            let path = format!("/api/v1/devices/{PROBE_DEVICE}/credentials");
            let (status, body) = api.request(Method::POST, &path, None).await?;
            if status.is_success() { body } else { Value::Null }
        }
        _ => return Err(LatencyError::Protocol(format!("registering the probe answered {status}: {body}"))),
    };
    Ok((rid, credential["password"].as_str().map(str::to_owned)))
}

/// Resolves the probe's open SOS, so each run starts from a fresh alert.
async fn resolve_open(api: &Api, rid: &str) -> Result<(), LatencyError> {
    let (_, list) = api.request(Method::GET, &format!("/api/v1/alerts?resident_id={rid}&kind=sos"), None).await?;
    for alert in list["alerts"].as_array().into_iter().flatten().filter(|a| a["status"] != "resolved") {
        if let Some(id) = alert["id"].as_str() {
            let body = json!({"resolution": "false_alarm", "note": "latency probe"});
            api.request(Method::POST, &format!("/api/v1/alerts/{id}/resolve"), Some(body)).await?;
        }
    }
    Ok(())
}

/// Reads the SSE stream and reports (occurrences, arrival) for the probe's
/// SOS alert changes.
async fn watch(resp: reqwest::Response, tx: mpsc::UnboundedSender<(i64, Instant)>, ready: oneshot::Sender<()>) {
    let mut ready = Some(ready);
    let mut buf = String::new();
    let mut stream = resp.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        let arrived = Instant::now();
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            if frame.contains("event: ready")
                && let Some(r) = ready.take()
            {
                let _ = r.send(());
            }
            let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data:")) else { continue };
            let Ok(alert) = serde_json::from_str::<Value>(data.trim()) else { continue };
            let relevant = matches!(alert["change"].as_str(), Some("alert.opened" | "alert.repeated"));
            if relevant && alert["device_id"] == PROBE_DEVICE && alert["kind"] == "sos" {
                let _ = tx.send((alert["occurrences"].as_i64().unwrap_or(0), arrived));
            }
        }
    }
}

pub async fn run(api: &Api, opts: &LatencyOptions) -> Result<LatencySummary, LatencyError> {
    let (rid, password) = ensure_probe(api).await?;
    resolve_open(api, &rid).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = oneshot::channel();
    let resp = api.open_stream("/api/v1/alerts/stream").await?;
    let watcher = tokio::spawn(watch(resp, tx, ready_tx));
    ready_rx.await.map_err(|_| LatencyError::Protocol("the alert stream closed before it was ready".into()))?;

    // The probe connects as the SOS button it is.
    let broker = opts.broker.account(PROBE_DEVICE, password.as_ref());
    let mut options = MqttOptions::new(PROBE_DEVICE, &broker.host, broker.port);
    options.set_keep_alive(Duration::from_secs(30));
    if let Some((user, pass)) = &broker.credentials {
        options.set_credentials(user.clone(), pass.clone());
    }
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    let poller = tokio::spawn(async move {
        loop {
            if eventloop.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });

    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let background = opts.background.clone().map(|load_opts| {
        tokio::spawn(async move {
            load::run(&load_opts, async {
                let _ = stop_rx.await;
            })
            .await
        })
    });
    if background.is_some() {
        // Let the background load reach its rate before measuring.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    let mut samples = Vec::with_capacity(opts.samples);
    let mut lost = 0;
    for k in 1..=opts.samples as i64 {
        let ts = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
        let payload = json!({"ts": ts, "event": "sos_pressed", "data": {"probe": k}}).to_string();
        let sent = Instant::now();
        client
            .publish(format!("eldercare/v1/{PROBE_DEVICE}/event"), QoS::AtLeastOnce, false, payload)
            .await
            .map_err(|e| LatencyError::Protocol(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + SAMPLE_TIMEOUT;
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((occurrences, arrived))) if occurrences >= k => {
                    let took = arrived.duration_since(sent);
                    if took > Duration::from_millis(500) {
                        tracing::warn!(sample = k, took_ms = took.as_millis() as u64, "slow alert");
                    }
                    samples.push(took);
                    break;
                }
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => {
                    lost += 1;
                    break;
                }
            }
        }
        tokio::time::sleep(opts.interval).await;
    }
    let _ = stop_tx.send(());
    let background = match background {
        Some(handle) => Some(handle.await.map_err(|e| LatencyError::Protocol(e.to_string()))??),
        None => None,
    };
    poller.abort();
    watcher.abort();
    resolve_open(api, &rid).await?;
    samples.sort();
    Ok(LatencySummary { samples, lost, background })
}
