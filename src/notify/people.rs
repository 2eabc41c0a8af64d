//! Who is told of what: turns the queued jobs (an alert opened, escalated or
//! resolved; a new message) into deliveries, one per person and channel,
//! after the change committed and off the alert path. A new alert goes to
//! on-call level 1, each escalation step to the next level, a resident's
//! family hears of their critical alerts and of their resolution, and a
//! message goes to the other side of the thread.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::alerts;
use crate::domain::notify::{self, Channel, Preferences};
use crate::domain::{Role, Severity};
use crate::store::notify as store;

/// Jobs planned in one transaction.
const BATCH: i64 = 50;
/// A push carries at most this much of a message's text (one record holds
/// the whole encrypted push).
const MESSAGE_PREVIEW_CHARS: usize = 500;

pub async fn run(pool: PgPool, shutdown: CancellationToken) {
    loop {
        let planned = match plan_due(&pool).await {
            Ok(n) => n,
            Err(err) => {
                tracing::warn!(cause = %err, "planning notifications");
                0
            }
        };
        let pause = if planned > 0 { Duration::ZERO } else { Duration::from_millis(100) };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

#[derive(sqlx::FromRow)]
struct Job {
    id: i64,
    alert_id: Option<Uuid>,
    message_id: Option<Uuid>,
    change: String,
    level: i32,
}

/// Plans a batch of jobs: their deliveries are written and the jobs deleted
/// in one transaction, so a crash plans a job again rather than lose it.
/// Alerts before messages: a backlog of messages never delays the planning
/// of an alarm.
async fn plan_due(pool: &PgPool) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let jobs: Vec<Job> = sqlx::query_as(
        "select id, alert_id, message_id, change, level from notification_jobs
         order by (alert_id is null), id limit $1 for update skip locked",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    for job in &jobs {
        let deliveries = match (job.alert_id, job.message_id) {
            (Some(alert), _) => plan_alert(&mut tx, alert, &job.change, job.level).await?,
            (None, Some(message)) => plan_message(&mut tx, message).await?,
            (None, None) => Vec::new(),
        };
        insert(&mut tx, &deliveries).await?;
        sqlx::query("delete from notification_jobs where id = $1").bind(job.id).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(jobs.len())
}

/// One notification to one person on one channel.
struct Delivery {
    user_id: Uuid,
    alert_id: Option<Uuid>,
    channel: Channel,
    subscription_id: Option<Uuid>,
    gateway_id: Option<Uuid>,
    phone: Option<String>,
    payload: Value,
    urgent: bool,
}

async fn insert(tx: &mut PgConnection, deliveries: &[Delivery]) -> Result<(), sqlx::Error> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let mut query = sqlx::QueryBuilder::new(
        "insert into notification_deliveries
             (id, user_id, alert_id, channel, subscription_id, gateway_id, phone, payload, urgent) ",
    );
    query.push_values(deliveries, |mut row, d| {
        row.push_bind(Uuid::new_v4())
            .push_bind(d.user_id)
            .push_bind(d.alert_id)
            .push_bind(d.channel)
            .push_bind(d.subscription_id)
            .push_bind(d.gateway_id)
            .push_bind(&d.phone)
            .push_bind(&d.payload)
            .push_bind(d.urgent);
    });
    query.build().execute(tx).await.map(drop)
}

#[derive(sqlx::FromRow)]
struct Person {
    id: Uuid,
    role: Role,
    phone: Option<String>,
}

/// The institution's time now, for rota and quiet hours.
async fn local_now(tx: &mut PgConnection, institution: Uuid) -> Result<NaiveDateTime, sqlx::Error> {
    let zone: Option<String> = sqlx::query_scalar("select timezone from institutions where id = $1")
        .bind(institution)
        .fetch_optional(tx)
        .await?;
    let tz = zone.and_then(|z| z.parse::<chrono_tz::Tz>().ok()).unwrap_or(chrono_tz::UTC);
    Ok(Utc::now().with_timezone(&tz).naive_local())
}

/// Who is on call at `level`. An institution without a rota has all its
/// admins and staff at level 1, so an alarm reaches someone before the rota
/// is set up.
async fn on_call(
    tx: &mut PgConnection,
    institution: Uuid,
    level: i32,
    local: NaiveDateTime,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let shifts = store::rota(tx, institution).await?;
    if !shifts.is_empty() {
        return Ok(notify::on_call(&shifts, level, local));
    }
    if level != 1 {
        return Ok(Vec::new());
    }
    sqlx::query_scalar(
        "select id from users where institution_id = $1 and role in ('admin', 'staff') and disabled_at is null",
    )
    .bind(institution)
    .fetch_all(tx)
    .await
}

async fn family_of(tx: &mut PgConnection, resident: Option<Uuid>) -> Result<Vec<Uuid>, sqlx::Error> {
    let Some(resident) = resident else { return Ok(Vec::new()) };
    sqlx::query_scalar("select user_id from family_links where resident_id = $1").bind(resident).fetch_all(tx).await
}

/// The people (not disabled) with their preferences.
async fn people(tx: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<(Person, Preferences)>, sqlx::Error> {
    let found: Vec<Person> =
        sqlx::query_as("select id, role, phone from users where id = any($1) and disabled_at is null")
            .bind(ids)
            .fetch_all(&mut *tx)
            .await?;
    let mut out = Vec::with_capacity(found.len());
    for person in found {
        let prefs = store::preferences(tx, person.id).await?.unwrap_or_else(|| Preferences::default_for(person.role));
        out.push((person, prefs));
    }
    Ok(out)
}

async fn plan_alert(
    tx: &mut PgConnection,
    alert_id: Uuid,
    change: &str,
    level: i32,
) -> Result<Vec<Delivery>, sqlx::Error> {
    let Some(alert) = alerts::fetch(tx, alert_id).await? else { return Ok(Vec::new()) };
    let local = local_now(tx, alert.institution_id).await?;
    let mut ids = match change {
        "alert.opened" => {
            let mut ids = on_call(tx, alert.institution_id, 1, local).await?;
            ids.extend(family_of(tx, alert.resident_id).await?);
            ids
        }
        "alert.escalated" => on_call(tx, alert.institution_id, level + 1, local).await?,
        "alert.resolved" if alert.severity == Severity::Critical => family_of(tx, alert.resident_id).await?,
        _ => Vec::new(),
    };
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let room: Option<String> = match alert.resident_id {
        Some(resident) => {
            let room: Option<Option<String>> = sqlx::query_scalar("select room from residents where id = $1")
                .bind(resident)
                .fetch_optional(&mut *tx)
                .await?;
            room.flatten()
        }
        None => alert.details.get("room").and_then(Value::as_str).map(str::to_owned),
    };
    let payload = json!({
        "type": "alert",
        "change": change,
        "alert": {
            "id": alert.id, "kind": alert.kind, "severity": alert.severity,
            "resident_name": alert.resident_name, "room": room, "opened_at": alert.opened_at,
        },
    });
    let text = alert_text(change, &alert, room.as_deref());
    let urgent = alert.severity >= Severity::High;
    let mut out = Vec::new();
    for (person, prefs) in people(tx, &ids).await? {
        // Family hear only of their own resident's alerts, which the ids
        // above already are; preferences decide the rest for everyone.
        if !prefs.wants_alert(alert.kind, alert.severity, local.time()) {
            continue;
        }
        reach(tx, alert.institution_id, &person, &prefs, Some(alert.id), &payload, &text, urgent, &mut out).await?;
    }
    Ok(out)
}

fn alert_text(change: &str, alert: &alerts::Alert, room: Option<&str>) -> String {
    let who = alert.resident_name.as_deref().unwrap_or("shared device");
    let place = room.map(|r| format!(", room {r}")).unwrap_or_default();
    let what = match change {
        "alert.resolved" => "resolved",
        "alert.escalated" => "NOT YET ANSWERED",
        _ => "new",
    };
    format!(
        "eldercare: {} alert {} ({}) - {who}{place}, opened {}",
        alert.severity,
        alert.kind,
        what,
        hhmm(alert.opened_at)
    )
}

fn hhmm(t: DateTime<Utc>) -> String {
    t.format("%H:%M UTC").to_string()
}

/// Every push subscription of the person, and each gateway channel they
/// chose for which they have a phone and the institution a gateway.
#[allow(clippy::too_many_arguments)]
async fn reach(
    tx: &mut PgConnection,
    institution: Uuid,
    person: &Person,
    prefs: &Preferences,
    alert_id: Option<Uuid>,
    payload: &Value,
    text: &str,
    urgent: bool,
    out: &mut Vec<Delivery>,
) -> Result<(), sqlx::Error> {
    if prefs.channels.contains(&Channel::Push) {
        let subscriptions: Vec<Uuid> = sqlx::query_scalar("select id from push_subscriptions where user_id = $1")
            .bind(person.id)
            .fetch_all(&mut *tx)
            .await?;
        for subscription in subscriptions {
            out.push(Delivery {
                user_id: person.id,
                alert_id,
                channel: Channel::Push,
                subscription_id: Some(subscription),
                gateway_id: None,
                phone: None,
                payload: payload.clone(),
                urgent,
            });
        }
    }
    let Some(phone) = &person.phone else { return Ok(()) };
    for channel in prefs.channels.iter().filter(|c| **c != Channel::Push) {
        let gateway: Option<Uuid> = sqlx::query_scalar(
            "select id from notification_channels where institution_id = $1 and kind = $2 order by created_at limit 1",
        )
        .bind(institution)
        .bind(channel)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(gateway) = gateway {
            out.push(Delivery {
                user_id: person.id,
                alert_id,
                channel: *channel,
                subscription_id: None,
                gateway_id: Some(gateway),
                phone: Some(phone.clone()),
                payload: json!({"to": phone, "text": text}),
                urgent,
            });
        }
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    institution_id: Uuid,
    resident_id: Uuid,
    author_id: Option<Uuid>,
    author_name: Option<String>,
    author_role: Option<Role>,
    body: String,
}

/// A family member's message goes to the care team on call (level 1); the
/// care team's to the resident's family. Push only.
async fn plan_message(tx: &mut PgConnection, message_id: Uuid) -> Result<Vec<Delivery>, sqlx::Error> {
    let message: Option<MessageRow> = sqlx::query_as(
        "select m.institution_id, m.resident_id, m.author_id, u.name as author_name, u.role as author_role, m.body
         from messages m left join users u on u.id = m.author_id where m.id = $1",
    )
    .bind(message_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(m) = message else { return Ok(Vec::new()) };
    let local = local_now(tx, m.institution_id).await?;
    let mut ids = if m.author_role == Some(Role::Family) {
        on_call(tx, m.institution_id, 1, local).await?
    } else {
        family_of(tx, Some(m.resident_id)).await?
    };
    ids.retain(|id| Some(*id) != m.author_id);
    let text: String = if m.body.chars().count() > MESSAGE_PREVIEW_CHARS {
        m.body.chars().take(MESSAGE_PREVIEW_CHARS).chain(std::iter::once('…')).collect()
    } else {
        m.body
    };
    let payload = json!({"type": "message", "resident_id": m.resident_id, "from": m.author_name, "text": text});
    let mut out = Vec::new();
    for (person, prefs) in people(tx, &ids).await? {
        if !prefs.wants_message(local.time()) {
            continue;
        }
        let push_only = Preferences { channels: vec![Channel::Push], ..prefs };
        reach(tx, m.institution_id, &person, &push_only, None, &payload, "", false, &mut out).await?;
    }
    Ok(out)
}
