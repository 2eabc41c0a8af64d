//! Delivers the webhook outbox: signed POSTs, retried with backoff until a
//! 2xx (a redirect is not followed and counts as a failure), at least once
//! across restarts. Deliveries are claimed with a lease
//! (a push of `next_attempt_at`), so several `serve` processes can deliver
//! side by side without sending one twice at the same time.

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use hmac::{KeyInit, Mac};
use sha2::Sha256;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::domain::keys::SealingKey;

use super::outbox::{self, Lane, Lanes};
use super::targets;
use crate::config::WebhookSettings;
use crate::store;
use crate::store::outbox::Webhook as Due;

/// The receiver gets this long to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// A claimed delivery is not picked again for this long (longer than TIMEOUT).
const LEASE_SECS: i32 = 30;
/// Deliveries claimed at once, and at most in flight per webhook.
const BATCH: usize = 32;
/// Requests in flight overall, across all webhooks.
const MAX_IN_FLIGHT: usize = 128;
/// Backoff after the n-th failure: 5 s, 10 s, 20 s ... capped at 10 min.
fn backoff(attempts: i32) -> chrono::Duration {
    let secs = 5i64.saturating_mul(1i64 << attempts.clamp(0, 20).saturating_sub(1)).min(600);
    chrono::Duration::seconds(secs)
}

fn hmac_hex(secret: &str, parts: &[&[u8]]) -> String {
    let mut mac =
        <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// Version 1's `X-Eldercare-Signature`: `sha256=<hex HMAC-SHA256 of body>`,
/// for webhooks registered with `"signature": "v1"`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hmac_hex(secret, &[body]))
}

/// Version 2's `X-Eldercare-Signature`: `t=<unix seconds>,v1=<hex
/// HMAC-SHA256 of "<t>.<body>">`. The signed time lets a receiver refuse a
/// captured delivery replayed later.
pub fn signature_v2(secret: &str, t: i64, body: &[u8]) -> String {
    let t = t.to_string();
    format!("t={t},v1={}", hmac_hex(secret, &[t.as_bytes(), b".", body]))
}

pub async fn run(pool: PgPool, settings: WebhookSettings, shutdown: CancellationToken) {
    let outbox = Outbox {
        pool,
        allow_private: settings.allow_private,
        sealing: crate::store::webhooks::sealing_key(&settings),
        lanes: Lanes::new(MAX_IN_FLIGHT, 0),
    };
    outbox::run("webhook", outbox, Duration::from_millis(250), shutdown).await;
}

/// Vets the target again (its DNS may have changed since registration) and
/// sends to the vetted addresses only: the client is pinned to them, so the
/// name is not resolved a second time between the check and the connection.
async fn send(
    d: &Due,
    allow_private: bool,
    sealing: Option<&SealingKey>,
    body: Vec<u8>,
) -> Result<reqwest::StatusCode, String> {
    let secret = crate::store::webhooks::reveal(d.webhook_id, &d.secret, d.secret_sealed, sealing).map_err(|err| {
        tracing::error!(webhook = %d.webhook_id, cause = %err, "webhook secret (is webhooks.secret_key the one it was stored with?)");
        "secret unreadable".to_owned()
    })?;
    let url = url::Url::parse(&d.url).map_err(|_| "refused: bad url".to_owned())?;
    let vetted = targets::vet(&url, allow_private)
        .await
        .map_err(|refusal| refusal.message().to_owned())?
        .ok_or_else(|| "name did not resolve".to_owned())?;
    // No proxy: it would make the connection somewhere other than the
    // vetted address. No redirects: a Location is not vetted, and a receiver
    // that moved must be registered again; a 3xx is a failure, retried.
    let mut builder =
        reqwest::Client::builder().timeout(TIMEOUT).no_proxy().redirect(reqwest::redirect::Policy::none());
    if !vetted.host.is_empty() {
        builder = builder.resolve_to_addrs(&vetted.host, &vetted.addrs);
    }
    let client = builder.build().map_err(|err| {
        tracing::error!(cause = %err, "cannot build the webhook HTTP client");
        "client setup failed".to_owned()
    })?;
    // Signed at each attempt: a retry carries a fresh time.
    let signed = match d.signature.as_str() {
        "v1" => signature(&secret, &body),
        _ => signature_v2(&secret, Utc::now().timestamp(), &body),
    };
    client
        .post(url)
        .header("content-type", "application/json")
        .header("x-eldercare-signature", signed)
        .header("x-eldercare-delivery", d.id.to_string())
        .body(body)
        .send()
        .await
        .map(|r| r.status())
        .map_err(|err| {
            tracing::info!(delivery = %d.id, cause = %err, "webhook request failed");
            generic_error(&err).to_owned()
        })
}

/// What the admin sees in `last_error`: the kind of failure only. The raw
/// error names internal addresses and library details (it goes to the log).
fn generic_error(err: &reqwest::Error) -> &'static str {
    if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}

/// Claims due deliveries and sends each webhook's in a task of its own, so
/// one slow endpoint (up to TIMEOUT per request) never holds up the others.
struct Outbox {
    pool: PgPool,
    allow_private: bool,
    /// Opens the secrets stored sealed.
    sealing: Option<SealingKey>,
    /// Requests in flight, overall and one batch per webhook.
    lanes: Lanes<Uuid>,
}

impl outbox::Outbox for Outbox {
    type Key = Uuid;
    type Row = Due;

    const BATCH: usize = BATCH;

    fn lanes(&self) -> &Lanes<Uuid> {
        &self.lanes
    }

    async fn lease(&self, free: usize) -> Result<Vec<Due>, sqlx::Error> {
        store::outbox::lease_webhooks(&self.pool, LEASE_SECS as f64, free as i64, &self.lanes.busy(false)).await
    }

    fn lane(d: &Due) -> Lane<Uuid> {
        Lane::chatter(d.webhook_id)
    }

    fn send(&self, deliveries: Vec<Due>) -> impl Future<Output = ()> + Send + 'static {
        let (pool, allow_private, sealing) = (self.pool.clone(), self.allow_private, self.sealing.clone());
        async move {
            let (pool, sealing) = (&pool, sealing.as_ref());
            let sends = deliveries.iter().map(|d| async move {
                let result = send(d, allow_private, sealing, d.payload.to_string().into_bytes()).await;
                if let Err(err) = record(pool, d, result).await {
                    tracing::warn!(delivery = %d.id, cause = %err, "recording a webhook attempt");
                }
            });
            futures::future::join_all(sends).await;
        }
    }
}

async fn record(pool: &PgPool, d: &Due, result: Result<reqwest::StatusCode, String>) -> Result<(), sqlx::Error> {
    let (id, attempts) = (d.id, d.attempts);
    match result {
        Ok(status) if status.is_success() => {
            store::outbox::webhook_delivered(pool, id, i32::from(status.as_u16())).await?;
        }
        other => {
            let (status, error) = match other {
                Ok(status) => (Some(i32::from(status.as_u16())), format!("HTTP {}", status.as_u16())),
                Err(err) => (None, err),
            };
            tracing::info!(delivery = %id, attempts = attempts + 1, error = %error, "webhook delivery failed; will retry");
            let failure = store::outbox::Failure { status, error, next_attempt_at: Utc::now() + backoff(attempts + 1) };
            store::outbox::webhook_failed(pool, id, failure).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn signature_v2_signs_the_time_and_the_body() {
        // HMAC-SHA256("Jefe", "1700000000.what do ya want for nothing?"),
        // computed independently (Python's hmac module).
        assert_eq!(
            signature_v2("Jefe", 1_700_000_000, b"what do ya want for nothing?"),
            "t=1700000000,v1=1cdd0650c8be1cb0974b1788d458b1e781206cfef59b85faafc582d2e182c57e"
        );
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(1).num_seconds(), 5);
        assert_eq!(backoff(2).num_seconds(), 10);
        assert_eq!(backoff(3).num_seconds(), 20);
        assert_eq!(backoff(30).num_seconds(), 600);
    }
}
