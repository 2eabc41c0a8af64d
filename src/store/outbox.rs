//! The two outboxes' tables: notification deliveries (push and gateways)
//! and webhook deliveries. A due row is claimed with a lease: it is not
//! offered again until the lease runs out, so a send that never finishes is
//! tried again (at least once).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::notify::Channel;

/// A due notification delivery offered to the claim, before it is leased.
#[derive(sqlx::FromRow)]
pub struct Offered {
    pub id: Uuid,
    pub urgent: bool,
    /// The push endpoint or gateway URL (the delivery's own id when both
    /// are gone).
    pub target: String,
    pub erased: bool,
}

/// A leased notification delivery, with what sending it needs.
#[derive(sqlx::FromRow)]
pub struct Notification {
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    pub user_name: Option<String>,
    pub resident_id: Option<Uuid>,
    pub alert_id: Option<Uuid>,
    pub channel: Channel,
    pub subscription_id: Option<Uuid>,
    pub endpoint: Option<String>,
    pub p256dh: Option<String>,
    pub auth: Option<String>,
    pub gateway_id: Option<Uuid>,
    pub gateway_url: Option<String>,
    pub gateway_secret: Option<String>,
    pub gateway_secret_sealed: Option<bool>,
    pub payload: Value,
    pub urgent: bool,
    pub attempts: i32,
}

/// Up to `limit` due notification deliveries, urgent first, then oldest,
/// locked until `tx` ends, so another process offers itself other rows
/// meanwhile. Chatter only when `chatter`; none whose endpoint's lane of
/// that urgency is busy (`busy_urgent`, `busy_chatter`).
pub async fn offer_notifications(
    tx: &mut PgConnection,
    limit: i64,
    chatter: bool,
    busy_urgent: &[String],
    busy_chatter: &[String],
) -> Result<Vec<Offered>, sqlx::Error> {
    sqlx::query_as(
        "select n.id, n.urgent, coalesce(s.endpoint, g.url, n.id::text) as target, n.payload is null as erased
         from notification_deliveries n
         left join push_subscriptions s on s.id = n.subscription_id
         left join notification_channels g on g.id = n.gateway_id
         where n.delivered_at is null and n.failed_at is null and n.next_attempt_at <= now()
           and (n.urgent or $2)
           and coalesce(s.endpoint, g.url, '') <> all(case when n.urgent then $3 else $4 end)
         order by n.urgent desc, n.next_attempt_at limit $1 for update of n skip locked",
    )
    .bind(limit)
    .bind(chatter)
    .bind(busy_urgent)
    .bind(busy_chatter)
    .fetch_all(&mut *tx)
    .await
}

/// Gives up deliveries whose payload an erasure removed: there is nothing
/// left to send.
pub async fn drop_erased_notifications(tx: &mut PgConnection, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update notification_deliveries set failed_at = now(), last_error = 'erased before it was sent'
         where id = any($1)",
    )
    .bind(ids)
    .execute(&mut *tx)
    .await
    .map(drop)
}

/// Leases the picked deliveries for `lease_secs`.
pub async fn lease_notifications(
    tx: &mut PgConnection,
    lease_secs: f64,
    ids: &[Uuid],
) -> Result<Vec<Notification>, sqlx::Error> {
    sqlx::query_as(
        "update notification_deliveries d set next_attempt_at = now() + make_interval(secs => $1)
         from notification_deliveries c
         left join push_subscriptions s on s.id = c.subscription_id
         left join notification_channels g on g.id = c.gateway_id
         left join users u on u.id = c.user_id
         left join residents r on r.id = c.resident_id
         where d.id = c.id and c.id = any($2)
         returning d.id, d.user_id, coalesce(u.name, r.name) as user_name, d.resident_id, d.alert_id, d.channel, d.subscription_id,
             s.endpoint, s.p256dh, s.auth, g.id as gateway_id, g.url as gateway_url,
             g.secret as gateway_secret, g.secret_sealed as gateway_secret_sealed,
             d.payload, d.urgent, d.attempts",
    )
    .bind(lease_secs)
    .bind(ids)
    .fetch_all(&mut *tx)
    .await
}

/// A notification accepted with `status`, written on its alert's timeline
/// (`notified`, with `details`) when it is about an alert.
pub async fn notification_sent(
    pool: &PgPool,
    d: &Notification,
    status: i32,
    details: Value,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "update notification_deliveries set delivered_at = now(), attempts = attempts + 1, last_status = $2,
                last_error = null where id = $1",
    )
    .bind(d.id)
    .bind(status)
    .execute(&mut *tx)
    .await?;
    if let Some(alert) = d.alert_id {
        sqlx::query("insert into alert_events (alert_id, actor_id, action, details) values ($1, null, 'notified', $2)")
            .bind(alert)
            .bind(details)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// Removes a push subscription, and with it what was queued for it.
pub async fn remove_push_subscription(pool: &PgPool, id: Option<Uuid>) -> Result<(), sqlx::Error> {
    sqlx::query("delete from push_subscriptions where id = $1").bind(id).execute(pool).await.map(drop)
}

/// What one failed attempt leaves on a delivery.
pub struct Failure {
    pub status: Option<i32>,
    pub error: String,
    pub next_attempt_at: DateTime<Utc>,
}

/// A notification attempt failed, the `attempts`th; given up once
/// `max_attempts` are made.
pub async fn notification_failed(
    pool: &PgPool,
    id: Uuid,
    attempts: i32,
    failure: Failure,
    max_attempts: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update notification_deliveries set attempts = $2, last_status = $3, last_error = $4,
                next_attempt_at = $5, failed_at = case when $2 >= $6 then now() end where id = $1",
    )
    .bind(id)
    .bind(attempts)
    .bind(failure.status)
    .bind(failure.error)
    .bind(failure.next_attempt_at)
    .bind(max_attempts)
    .execute(pool)
    .await
    .map(drop)
}

/// A leased webhook delivery, with its webhook.
#[derive(sqlx::FromRow)]
pub struct Webhook {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub url: String,
    pub secret: String,
    pub secret_sealed: bool,
    pub signature: String,
    pub payload: Value,
    pub attempts: i32,
}

/// Leases up to `limit` due webhook deliveries, oldest first, for
/// `lease_secs`, none of a webhook in `busy`.
pub async fn lease_webhooks(
    pool: &PgPool,
    lease_secs: f64,
    limit: i64,
    busy: &[Uuid],
) -> Result<Vec<Webhook>, sqlx::Error> {
    sqlx::query_as(
        "update webhook_deliveries d set next_attempt_at = now() + make_interval(secs => $1)
         from webhooks w
         where w.id = d.webhook_id and d.id in (
             select id from webhook_deliveries
             where delivered_at is null and next_attempt_at <= now() and webhook_id <> all($3)
             order by next_attempt_at limit $2 for update skip locked)
         returning d.id, d.webhook_id, w.url, w.secret, w.secret_sealed, w.signature, d.payload, d.attempts",
    )
    .bind(lease_secs)
    .bind(limit)
    .bind(busy)
    .fetch_all(pool)
    .await
}

pub async fn webhook_delivered(pool: &PgPool, id: Uuid, status: i32) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update webhook_deliveries set delivered_at = now(), attempts = attempts + 1, last_status = $2,
                last_error = null where id = $1",
    )
    .bind(id)
    .bind(status)
    .execute(pool)
    .await
    .map(drop)
}

/// A webhook attempt failed; webhooks are tried until they answer.
pub async fn webhook_failed(pool: &PgPool, id: Uuid, failure: Failure) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update webhook_deliveries set attempts = attempts + 1, last_status = $2, last_error = $3,
                next_attempt_at = $4 where id = $1",
    )
    .bind(id)
    .bind(failure.status)
    .bind(failure.error)
    .bind(failure.next_attempt_at)
    .execute(pool)
    .await
    .map(drop)
}

/// What waits to go out, for `/metrics`: notifications and webhook
/// deliveries not yet delivered nor given up, the age of the oldest urgent
/// notification among them, and how long ago the scheduler leader ticked.
#[derive(Debug, Clone, Copy, Default, sqlx::FromRow)]
pub struct Backlog {
    pub notifications_pending: i64,
    pub oldest_urgent_notification_seconds: Option<f64>,
    pub webhooks_pending: i64,
    pub oldest_webhook_seconds: Option<f64>,
    pub scheduler_heartbeat_age_seconds: Option<f64>,
}

pub async fn backlog(pool: &PgPool) -> Result<Backlog, sqlx::Error> {
    sqlx::query_as(
        "select
           (select count(*) from notification_deliveries where delivered_at is null and failed_at is null)
             as notifications_pending,
           (select extract(epoch from now() - min(created_at))::float8 from notification_deliveries
             where delivered_at is null and failed_at is null and urgent) as oldest_urgent_notification_seconds,
           (select count(*) from webhook_deliveries where delivered_at is null) as webhooks_pending,
           (select extract(epoch from now() - min(created_at))::float8 from webhook_deliveries
             where delivered_at is null) as oldest_webhook_seconds,
           (select extract(epoch from now() - ticked_at)::float8 from scheduler_heartbeat)
             as scheduler_heartbeat_age_seconds",
    )
    .fetch_one(pool)
    .await
}
