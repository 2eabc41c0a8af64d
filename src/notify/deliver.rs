//! Sends the planned notifications: Web Push messages (encrypted to the
//! browser, signed with our VAPID key) and signed POSTs to SMS and voice
//! gateways. Durable like the webhook outbox: claimed with a lease, retried
//! with backoff until accepted, given up after MAX_ATTEMPTS. Claimed by
//! urgency, then age; each endpoint has an urgent lane and a chatter lane,
//! each with at most one short batch in flight, so a slow push service or
//! gateway never holds up the others, and an alarm never waits behind
//! messages to the same endpoint. A push endpoint that answers 404 or 410
//! is gone: its subscription is removed. Each notification accepted is written on
//! the alert's timeline (`notified`, who and how).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::outbox::{self, Lane, Lanes};
use super::targets;
use super::webhooks::signature_v2;
use super::webpush::{self, Vapid};
use crate::domain::keys::SealingKey;
use crate::domain::notify::Channel;
use crate::metrics::Metrics;
use crate::store;
use crate::store::outbox::{Notification as Due, Offered};

/// The push service or gateway gets this long to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// A claimed delivery is not picked again for this long (longer than TIMEOUT).
const LEASE_SECS: f64 = 30.0;
/// Deliveries claimed at once.
const BATCH: usize = 256;
/// Due deliveries looked at per claim, to pick a batch from.
const OFFERED: i64 = 1024;
/// Requests in flight overall.
const MAX_IN_FLIGHT: usize = 256;
/// Of those, kept for urgent lanes: messages to many slow endpoints cannot
/// take every permit while an alarm waits.
const URGENT_RESERVE: usize = 64;
/// Deliveries one lane takes at once. A lane sends one after another, so an
/// endpoint that answers in 200 ms holds its lane (and 8 permits) for under
/// 2 s, and is claimed again only after.
const PER_LANE: usize = 8;
/// 5 s doubling to 10 min: about a day of tries before giving up.
const MAX_ATTEMPTS: i32 = 12;
/// How long a push service keeps an alarm for a device that is offline.
const PUSH_TTL_SECS: u32 = 24 * 3600;

fn backoff(attempts: i32) -> chrono::Duration {
    let secs = 5i64.saturating_mul(1i64 << attempts.clamp(0, 20).saturating_sub(1)).min(600);
    chrono::Duration::seconds(secs)
}

/// The lane a leased delivery goes in: as [`offered_lane`] found it.
fn lane(d: &Due) -> Lane<String> {
    let target = match (&d.endpoint, &d.gateway_url) {
        (Some(endpoint), _) => endpoint.clone(),
        (None, Some(url)) => url.clone(),
        (None, None) => d.id.to_string(),
    };
    Lane { target, urgent: d.urgent }
}

fn offered_lane(o: &Offered) -> Lane<String> {
    Lane { target: o.target.clone(), urgent: o.urgent }
}

pub async fn run(
    pool: PgPool,
    vapid: Arc<Vapid>,
    metrics: Arc<Metrics>,
    allow_private: bool,
    sealing: Option<SealingKey>,
    shutdown: CancellationToken,
) {
    let lanes = Lanes::new(MAX_IN_FLIGHT, URGENT_RESERVE);
    let outbox = Outbox { pool, vapid, allow_private, lanes, clients: Arc::default(), metrics, sealing };
    outbox::run("notification", outbox, Duration::from_millis(100), shutdown).await;
}

struct Outbox {
    pool: PgPool,
    vapid: Arc<Vapid>,
    allow_private: bool,
    /// Sends in flight, overall and one batch per lane (an endpoint's
    /// urgent or chatter queue).
    lanes: Lanes<String>,
    clients: Arc<Clients>,
    metrics: Arc<Metrics>,
    /// Opens gateways' sealed secrets.
    sealing: Option<SealingKey>,
}

impl outbox::Outbox for Outbox {
    type Key = String;
    type Row = Due;

    const BATCH: usize = BATCH;

    fn lanes(&self) -> &Lanes<String> {
        &self.lanes
    }

    async fn lease(&self, _free: usize) -> Result<Vec<Due>, sqlx::Error> {
        // Locked while this transaction picks among them, so another process
        // offers itself other rows meanwhile.
        let mut tx = self.pool.begin().await?;
        let offered = store::outbox::offer_notifications(
            &mut tx,
            OFFERED,
            self.lanes.free_chatter(BATCH) > 0,
            &self.lanes.busy(true),
            &self.lanes.busy(false),
        )
        .await?;
        let (erased, offered): (Vec<Offered>, Vec<Offered>) = offered.into_iter().partition(|o| o.erased);
        if !erased.is_empty() {
            // What was to be said is gone (the resident was erased): there
            // is nothing left to send.
            let ids: Vec<Uuid> = erased.iter().map(|o| o.id).collect();
            store::outbox::drop_erased_notifications(&mut tx, &ids).await?;
        }
        let picked: Vec<Uuid> =
            self.lanes.pick(&offered, offered_lane, PER_LANE, BATCH).into_iter().map(|i| offered[i].id).collect();
        if picked.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let mut due = store::outbox::lease_notifications(&mut tx, LEASE_SECS, &picked).await?;
        tx.commit().await?;
        // Each lane sends in claim order: urgent, then oldest first.
        let order: HashMap<Uuid, usize> = picked.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        due.sort_by_key(|d| order.get(&d.id).copied().unwrap_or(usize::MAX));
        Ok(due)
    }

    fn lane(d: &Due) -> Lane<String> {
        lane(d)
    }

    fn send(&self, deliveries: Vec<Due>) -> impl Future<Output = ()> + Send + 'static {
        let (pool, vapid, clients, allow_private) =
            (self.pool.clone(), self.vapid.clone(), self.clients.clone(), self.allow_private);
        let metrics = self.metrics.clone();
        let sealing = self.sealing.clone();
        // One endpoint's deliveries one after another, in claim order.
        async move {
            for d in &deliveries {
                let result = match d.channel {
                    Channel::Push => send_push(d, &vapid, &clients, allow_private).await,
                    Channel::Sms | Channel::Voice => send_gateway(d, &clients, allow_private, sealing.as_ref()).await,
                };
                if let Err(err) = record(&pool, &metrics, d, result).await {
                    tracing::warn!(delivery = %d.id, cause = %err, "recording a notification attempt");
                }
            }
        }
    }
}

/// HTTP clients: one for targets given as addresses (or when the check is
/// lifted), one per vetted name and addresses (pinned to them, so the name
/// is not resolved again between the check and the connection).
#[derive(Default)]
struct Clients {
    plain: std::sync::OnceLock<reqwest::Client>,
    pinned: Mutex<HashMap<(String, Vec<SocketAddr>), reqwest::Client>>,
}

impl Clients {
    fn get(&self, vetted: &targets::Vetted) -> Result<reqwest::Client, String> {
        let build = |vetted: Option<&targets::Vetted>| {
            // No proxy (it would connect elsewhere than vetted), no redirects
            // (a Location is not vetted).
            let mut builder =
                reqwest::Client::builder().timeout(TIMEOUT).no_proxy().redirect(reqwest::redirect::Policy::none());
            if let Some(v) = vetted {
                builder = builder.resolve_to_addrs(&v.host, &v.addrs);
            }
            builder.build().map_err(|err| {
                tracing::error!(cause = %err, "cannot build the notification HTTP client");
                "client setup failed".to_owned()
            })
        };
        if vetted.host.is_empty() {
            if let Some(client) = self.plain.get() {
                return Ok(client.clone());
            }
            let client = build(None)?;
            return Ok(self.plain.get_or_init(|| client).clone());
        }
        let key = (vetted.host.clone(), vetted.addrs.clone());
        if let Some(client) = self.pinned.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(client);
        }
        let client = build(Some(vetted))?;
        if let Ok(mut m) = self.pinned.lock() {
            // Push services are a handful of hosts; DNS changes make new keys.
            if m.len() >= 256 {
                m.clear();
            }
            m.insert(key, client.clone());
        }
        Ok(client)
    }
}

/// Vets the URL again at each delivery, and answers the client for it.
async fn client_for(url: &url::Url, clients: &Clients, allow_private: bool) -> Result<reqwest::Client, String> {
    let vetted = targets::vet(url, allow_private)
        .await
        .map_err(|refusal| refusal.message().to_owned())?
        .ok_or_else(|| "name did not resolve".to_owned())?;
    clients.get(&vetted)
}

async fn send_push(
    d: &Due,
    vapid: &Vapid,
    clients: &Clients,
    allow_private: bool,
) -> Result<reqwest::StatusCode, String> {
    let (Some(endpoint), Some(p256dh), Some(auth)) = (&d.endpoint, &d.p256dh, &d.auth) else {
        return Err("subscription gone".to_owned());
    };
    let url = url::Url::parse(endpoint).map_err(|_| "refused: bad url".to_owned())?;
    let receiver = webpush::Receiver::parse(p256dh, auth).map_err(|err| err.to_string())?;
    let body = webpush::encrypt(&receiver, d.payload.to_string().as_bytes()).ok_or("payload too large")?;
    let client = client_for(&url, clients, allow_private).await?;
    let authorization = vapid.authorization(&url, Utc::now().timestamp(), 12 * 3600);
    client
        .post(url)
        .header("authorization", authorization)
        .header("content-encoding", "aes128gcm")
        .header("content-type", "application/octet-stream")
        .header("ttl", PUSH_TTL_SECS.to_string())
        .header("urgency", if d.urgent { "high" } else { "normal" })
        .body(body)
        .send()
        .await
        .map(|r| r.status())
        .map_err(|err| failure(d, &err))
}

async fn send_gateway(
    d: &Due,
    clients: &Clients,
    allow_private: bool,
    sealing: Option<&SealingKey>,
) -> Result<reqwest::StatusCode, String> {
    let (Some(id), Some(gateway), Some(stored)) = (d.gateway_id, &d.gateway_url, &d.gateway_secret) else {
        return Err("gateway gone".to_owned());
    };
    // Sealed as a webhook's secret is, bound to the channel.
    let secret = crate::store::webhooks::reveal(id, stored, d.gateway_secret_sealed == Some(true), sealing)
        .map_err(|err| {
            tracing::error!(channel = %id, cause = %err, "the gateway's secret (is webhooks.secret_key the one it was stored with?)");
            "refused: the gateway's secret does not open".to_owned()
        })?;
    let secret = &secret;
    let url = url::Url::parse(gateway).map_err(|_| "refused: bad url".to_owned())?;
    let client = client_for(&url, clients, allow_private).await?;
    let body = d.payload.to_string().into_bytes();
    client
        .post(url)
        .header("content-type", "application/json")
        .header("x-eldercare-signature", signature_v2(secret, Utc::now().timestamp(), &body))
        .header("x-eldercare-delivery", d.id.to_string())
        .body(body)
        .send()
        .await
        .map(|r| r.status())
        .map_err(|err| failure(d, &err))
}

/// The kind of failure only; the details go to the log.
fn failure(d: &Due, err: &reqwest::Error) -> String {
    tracing::info!(delivery = %d.id, cause = %err, "notification request failed");
    if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
    .to_owned()
}

async fn record(
    pool: &PgPool,
    metrics: &Metrics,
    d: &Due,
    result: Result<reqwest::StatusCode, String>,
) -> Result<(), sqlx::Error> {
    match result {
        Ok(status) if status.is_success() => {
            metrics.notification(d.channel.as_str(), "sent");
            let mut details = json!({"user_id": d.user_id, "user_name": d.user_name, "channel": d.channel});
            if let Some(resident) = d.resident_id {
                details["resident_id"] = json!(resident);
            }
            store::outbox::notification_sent(pool, d, i32::from(status.as_u16()), details).await?;
        }
        Ok(status)
            if d.channel == Channel::Push
                && matches!(status, reqwest::StatusCode::NOT_FOUND | reqwest::StatusCode::GONE) =>
        {
            // The browser unsubscribed or the subscription expired (RFC 8030
            // section 7.3): remove it, and with it what was queued for it.
            metrics.notification(d.channel.as_str(), "gone");
            tracing::info!(subscription = ?d.subscription_id, status = status.as_u16(), "push subscription gone");
            store::outbox::remove_push_subscription(pool, d.subscription_id).await?;
        }
        other => {
            let (status, error) = match other {
                Ok(status) => (Some(i32::from(status.as_u16())), format!("HTTP {}", status.as_u16())),
                Err(err) => (None, err),
            };
            metrics.notification(d.channel.as_str(), "failed");
            let attempts = d.attempts + 1;
            tracing::info!(delivery = %d.id, attempts, error = %error, "notification failed");
            let failure = store::outbox::Failure { status, error, next_attempt_at: Utc::now() + backoff(attempts) };
            store::outbox::notification_failed(pool, d.id, attempts, failure, MAX_ATTEMPTS).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_reaches_ten_minutes() {
        assert_eq!(backoff(1).num_seconds(), 5);
        assert_eq!(backoff(4).num_seconds(), 40);
        assert_eq!(backoff(MAX_ATTEMPTS).num_seconds(), 600);
    }
}
