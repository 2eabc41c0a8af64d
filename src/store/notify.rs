//! Reaching people: push subscriptions, notification preferences, the
//! on-call rota, SMS/voice gateways and the VAPID key.

use chrono::{DateTime, NaiveTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::care::Day;
use crate::domain::notify::{Channel, Preferences, Shift, Span};
use crate::domain::scope::Served;
use crate::domain::{AlertKind, Scope, Severity};

/// The VAPID private key kept in the database, made by the first process
/// that needed it (`candidate`), whichever process that was.
pub async fn vapid_key(pool: &PgPool, candidate: &str) -> Result<String, sqlx::Error> {
    sqlx::query("insert into vapid_keys (id, private_key) values (true, $1) on conflict (id) do nothing")
        .bind(candidate)
        .execute(pool)
        .await?;
    sqlx::query_scalar("select private_key from vapid_keys").fetch_one(pool).await
}

/// Keys are the browser's: shown back so a client can match its own.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = PushSubscription)]
pub struct Subscription {
    pub id: Uuid,
    pub endpoint: String,
    pub created_at: DateTime<Utc>,
}

/// Subscribes the scope's user; the same endpoint again replaces its keys.
/// The user keeps `keep` subscriptions at most: beyond, their oldest go
/// (every subscription is pushed every notification, so one account cannot
/// multiply the outbox). The user's lock (to the commit) makes two
/// subscribes at once count one after another.
pub async fn subscribe(
    pool: &PgPool,
    scope: &Scope,
    endpoint: &str,
    p256dh: &str,
    auth: &str,
    keep: u32,
) -> Result<Uuid, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('push_subscriptions:' || $1::text, 0))")
        .bind(scope.user)
        .execute(&mut *tx)
        .await?;
    let id: Uuid = sqlx::query_scalar(
        "insert into push_subscriptions (id, user_id, endpoint, p256dh, auth) values ($1, $2, $3, $4, $5)
         on conflict (user_id, endpoint) do update set p256dh = excluded.p256dh, auth = excluded.auth
         returning id",
    )
    .bind(Uuid::new_v4())
    .bind(scope.user)
    .bind(endpoint)
    .bind(p256dh)
    .bind(auth)
    .fetch_one(&mut *tx)
    .await?;
    let dropped = sqlx::query(
        "delete from push_subscriptions where id in (
           select id from push_subscriptions where user_id = $1 and id <> $2
           order by created_at desc, id desc offset $3)",
    )
    .bind(scope.user)
    .bind(id)
    .bind(i64::from(keep.max(1)) - 1)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    if dropped > 0 {
        tracing::info!(user = %scope.user, dropped, "oldest push subscriptions replaced");
    }
    Ok(id)
}

/// The user's subscriptions after `cursor` (by id), `limit` of them.
pub async fn subscriptions(
    pool: &PgPool,
    scope: &Scope,
    cursor: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Subscription>, sqlx::Error> {
    sqlx::query_as(
        "select id, endpoint, created_at from push_subscriptions
         where user_id = $1 and ($2::uuid is null or id > $2) order by id limit $3",
    )
    .bind(scope.user)
    .bind(cursor)
    .bind(limit)
    .fetch_all(pool)
    .await
}

pub async fn subscription(pool: &PgPool, scope: &Scope, id: Uuid) -> Result<Option<Subscription>, sqlx::Error> {
    sqlx::query_as("select id, endpoint, created_at from push_subscriptions where id = $1 and user_id = $2")
        .bind(id)
        .bind(scope.user)
        .fetch_optional(pool)
        .await
}

pub async fn unsubscribe(pool: &PgPool, scope: &Scope, id: Uuid) -> Result<bool, sqlx::Error> {
    let gone = sqlx::query("delete from push_subscriptions where id = $1 and user_id = $2")
        .bind(id)
        .bind(scope.user)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(gone > 0)
}

#[derive(sqlx::FromRow)]
struct PreferenceRow {
    min_severity: Severity,
    kinds: Option<Vec<AlertKind>>,
    quiet_start: Option<NaiveTime>,
    quiet_end: Option<NaiveTime>,
    channels: Vec<Channel>,
}

impl From<PreferenceRow> for Preferences {
    fn from(r: PreferenceRow) -> Self {
        let quiet_hours = r.quiet_start.zip(r.quiet_end).map(|(start, end)| Span { start, end });
        Preferences { min_severity: r.min_severity, kinds: r.kinds, quiet_hours, channels: r.channels }
    }
}

/// The user's own preferences; `None` when they have the role's defaults.
pub async fn preferences(conn: &mut PgConnection, user: Uuid) -> Result<Option<Preferences>, sqlx::Error> {
    let row: Option<PreferenceRow> = sqlx::query_as(
        "select min_severity, kinds, quiet_start, quiet_end, channels from notification_preferences where user_id = $1",
    )
    .bind(user)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Preferences::from))
}

pub async fn set_preferences(tx: &mut PgConnection, user: Uuid, prefs: &Preferences) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into notification_preferences (user_id, min_severity, kinds, quiet_start, quiet_end, channels)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (user_id) do update set min_severity = excluded.min_severity, kinds = excluded.kinds,
             quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end, channels = excluded.channels,
             updated_at = now()",
    )
    .bind(user)
    .bind(prefs.min_severity)
    .bind(&prefs.kinds)
    .bind(prefs.quiet_hours.map(|q| q.start))
    .bind(prefs.quiet_hours.map(|q| q.end))
    .bind(&prefs.channels)
    .execute(tx)
    .await
    .map(drop)
}

#[derive(sqlx::FromRow)]
struct ShiftRow {
    user_id: Uuid,
    level: i32,
    days: Vec<String>,
    start_time: NaiveTime,
    end_time: NaiveTime,
}

/// The rota of the caller's institution.
pub async fn rota(conn: &mut PgConnection, scope: &Scope) -> Result<Vec<Shift>, sqlx::Error> {
    rota_of(conn, scope.institution).await
}

/// The rota of the institution an alert is about, for the alarm path.
pub async fn on_call_rota(conn: &mut PgConnection, institution: &Served) -> Result<Vec<Shift>, sqlx::Error> {
    rota_of(conn, Some(institution.id())).await
}

async fn rota_of(conn: &mut PgConnection, institution: Option<Uuid>) -> Result<Vec<Shift>, sqlx::Error> {
    let rows: Vec<ShiftRow> = sqlx::query_as(
        "select user_id, level, days, start_time, end_time from on_call_shifts where institution_id = $1 order by id",
    )
    .bind(institution)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Shift {
            user_id: r.user_id,
            level: r.level,
            days: r.days.iter().filter_map(|d| Day::parse(d)).collect(),
            start: r.start_time,
            end: r.end_time,
        })
        .collect())
}

/// The institution's time zone, as named in its settings.
pub async fn institution_timezone(conn: &mut PgConnection, scope: &Scope) -> Result<String, sqlx::Error> {
    let institution = scope.institution;
    sqlx::query_scalar("select timezone from institutions where id = $1").bind(institution).fetch_one(conn).await
}

/// Someone on call, as the rota's answer names them.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct OnCallUser {
    pub id: Uuid,
    pub name: String,
}

/// The users of `ids`, by name.
pub async fn on_call_users(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<OnCallUser>, sqlx::Error> {
    sqlx::query_as("select id, name from users where id = any($1) order by name").bind(ids).fetch_all(conn).await
}

/// Replaces the institution's rota. The users must be its own care staff:
/// answers the first that is not.
pub async fn set_rota(tx: &mut PgConnection, scope: &Scope, shifts: &[Shift]) -> Result<Option<Uuid>, sqlx::Error> {
    let institution = scope.institution;
    let users: Vec<Uuid> = shifts.iter().map(|s| s.user_id).collect();
    let staff: Vec<Uuid> = sqlx::query_scalar(
        "select id from users where id = any($1) and institution_id = $2
             and role in ('admin', 'staff', 'caregiver') and disabled_at is null",
    )
    .bind(&users)
    .bind(institution)
    .fetch_all(&mut *tx)
    .await?;
    if let Some(stranger) = users.iter().find(|u| !staff.contains(u)) {
        return Ok(Some(*stranger));
    }
    sqlx::query("delete from on_call_shifts where institution_id = $1").bind(institution).execute(&mut *tx).await?;
    for s in shifts {
        let days: Vec<&str> = s.days.iter().map(Day::as_str).collect();
        sqlx::query(
            "insert into on_call_shifts (institution_id, user_id, level, days, start_time, end_time)
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(institution)
        .bind(s.user_id)
        .bind(s.level)
        .bind(&days)
        .bind(s.start)
        .bind(s.end)
        .execute(&mut *tx)
        .await?;
    }
    Ok(None)
}

/// The secret is never read back.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = GatewayChannel)]
pub struct Gateway {
    pub id: Uuid,
    #[schema(schema_with = crate::domain::notify::schema::gateway_kind)]
    pub kind: Channel,
    pub url: String,
    pub created_at: DateTime<Utc>,
}

/// What SMS and voice gateways' secrets are sealed for: the key serves
/// nothing else.
pub const CHANNEL_SEALING_PURPOSE: &[u8] = b"channel secrets";

/// The key that seals gateways' secrets, when `webhooks.secret_key` is set.
pub fn channel_sealing_key(settings: &crate::config::WebhookSettings) -> Option<crate::domain::keys::SealingKey> {
    settings.secret_key.as_ref().map(|k| crate::domain::keys::SealingKey::derive(k, CHANNEL_SEALING_PURPOSE))
}

/// The secret is stored sealed, bound to the channel's id: it signs what
/// the gateway sends to people's phones.
pub async fn create_gateway(
    tx: &mut PgConnection,
    scope: &Scope,
    kind: Channel,
    url: &str,
    secret: &str,
    sealing: &crate::domain::keys::SealingKey,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    sqlx::query(
        "insert into notification_channels (id, institution_id, kind, url, secret, secret_sealed, created_by)
         values ($1, $2, $3, $4, $5, true, $6)",
    )
    .bind(id)
    .bind(scope.institution)
    .bind(kind)
    .bind(url)
    .bind(sealing.seal(secret, id.as_bytes()))
    .bind(scope.user)
    .execute(tx)
    .await?;
    Ok(id)
}

pub async fn gateways(
    pool: &PgPool,
    scope: &Scope,
    cursor: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Gateway>, sqlx::Error> {
    sqlx::query_as(
        "select id, kind, url, created_at from notification_channels
         where institution_id = $1 and ($2::uuid is null or id > $2) order by id limit $3",
    )
    .bind(scope.institution)
    .bind(cursor)
    .bind(limit)
    .fetch_all(pool)
    .await
}

pub async fn delete_gateway(tx: &mut PgConnection, scope: &Scope, id: Uuid) -> Result<bool, sqlx::Error> {
    let gone = sqlx::query("delete from notification_channels where id = $1 and institution_id = $2")
        .bind(id)
        .bind(scope.institution)
        .execute(tx)
        .await?
        .rows_affected();
    Ok(gone > 0)
}

/// Sets (or clears) a user's phone number.
pub async fn set_phone(tx: &mut PgConnection, user: Uuid, phone: Option<&str>) -> Result<(), sqlx::Error> {
    sqlx::query("update users set phone = $2, updated_at = now() where id = $1")
        .bind(user)
        .bind(phone)
        .execute(tx)
        .await
        .map(drop)
}

/// Queues the telling of an alert change, in the change's transaction.
pub async fn queue_alert(tx: &mut PgConnection, alert: Uuid, change: &str, level: i32) -> Result<(), sqlx::Error> {
    sqlx::query("insert into notification_jobs (alert_id, change, level) values ($1, $2, $3)")
        .bind(alert)
        .bind(change)
        .bind(level)
        .execute(tx)
        .await
        .map(drop)
}

/// Queues the telling of a new message, in its transaction.
pub async fn queue_message(tx: &mut PgConnection, message: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("insert into notification_jobs (message_id, change) values ($1, 'message')")
        .bind(message)
        .execute(tx)
        .await
        .map(drop)
}
