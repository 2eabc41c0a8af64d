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

use crate::domain::notify::{self, Channel, Preferences};
use crate::domain::scope::{Alerts, Reached, Served};
use crate::domain::{AlertKind, Role, Severity};
use crate::store::alerts as store_alerts;
use crate::store::notify as store;
use crate::store::notify_plan::{self as plan, Delivery, Person};

/// Jobs planned in one transaction.
const BATCH: i64 = 50;
/// A push carries at most this much of a message's text (one record holds
/// the whole encrypted push).
const MESSAGE_PREVIEW_CHARS: usize = 500;

pub async fn run(pool: PgPool, shutdown: CancellationToken) {
    let mut outage = crate::store::Outage::default();
    loop {
        let planned = match crate::store::within(crate::store::ANSWER_WITHIN, plan_due(&pool)).await {
            Ok(n) => {
                outage.ok("planning notifications");
                n
            }
            Err(err) => {
                outage.failed("planning notifications", &err);
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

/// Plans a batch of jobs: their deliveries are written and the jobs deleted
/// in one transaction, so a crash plans a job again rather than lose it.
/// Alerts before messages: a backlog of messages never delays the planning
/// of an alarm.
async fn plan_due(pool: &PgPool) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let jobs = plan::due_jobs(&mut tx, BATCH).await?;
    for job in &jobs {
        let deliveries = match (job.alert_id, job.message_id, &job.notice) {
            (Some(alert), _, _) => plan_alert(&mut tx, alert, &job.change, job.level).await?,
            (None, Some(message), _) => plan_message(&mut tx, message).await?,
            (None, None, Some(notice)) => plan_notice(&mut tx, notice).await?,
            (None, None, None) => Vec::new(),
        };
        plan::insert_deliveries(&mut tx, &deliveries).await?;
        plan::delete_job(&mut tx, job.id).await?;
    }
    tx.commit().await?;
    Ok(jobs.len())
}

/// The institution's time now, for rota and quiet hours.
async fn local_now(tx: &mut PgConnection, institution: Uuid) -> Result<NaiveDateTime, sqlx::Error> {
    let zone = plan::timezone(tx, &Served::for_the_platform(institution)).await?;
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
    let shifts = store::on_call_rota(tx, &Served::for_the_platform(institution)).await?;
    if !shifts.is_empty() {
        return Ok(notify::on_call(&shifts, level, local));
    }
    if level != 1 {
        return Ok(Vec::new());
    }
    plan::care_team(tx, &Served::for_the_platform(institution)).await
}

/// Who is on call at `level` in each of the institutions, each by its own
/// clock.
async fn on_call_of(tx: &mut PgConnection, institutions: &[Served], level: i32) -> Result<Vec<Uuid>, sqlx::Error> {
    let mut ids = Vec::new();
    for institution in institutions {
        let local = local_now(tx, institution.id()).await?;
        ids.extend(on_call(tx, institution.id(), level, local).await?);
    }
    Ok(ids)
}

async fn family_of(tx: &mut PgConnection, resident: Option<Uuid>) -> Result<Vec<Uuid>, sqlx::Error> {
    let Some(resident) = resident else { return Ok(Vec::new()) };
    plan::family(tx, &Reached::<Alerts>::for_the_platform(resident)).await
}

/// The people (not disabled) with their preferences.
async fn people(tx: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<(Person, Preferences)>, sqlx::Error> {
    let found = plan::people(tx, ids).await?;
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
    let Some(alert) = store_alerts::fetch(tx, alert_id).await? else { return Ok(Vec::new()) };
    let local = local_now(tx, alert.institution_id).await?;
    // A resident's alert goes to the institutions enrolled for her
    // monitoring, whoever's device raised it; an institution's own (a
    // corridor's smoke detector) to that institution.
    let raised_by = Served::for_the_platform(alert.institution_id);
    let routed = match alert.resident_id {
        Some(resident) => plan::routed_to(tx, &Reached::for_the_platform(resident), &raised_by).await?,
        None => vec![raised_by],
    };
    // A presence check asks the family whether she went out; staff hear
    // of it only as the inactivity that follows if nobody answers.
    let check = alert.kind == AlertKind::PresenceCheck;
    let mut ids = match change {
        "alert.opened" if check => family_of(tx, alert.resident_id).await?,
        "alert.escalated" if check => Vec::new(),
        "alert.opened" => {
            let mut ids = on_call_of(tx, &routed, 1).await?;
            ids.extend(family_of(tx, alert.resident_id).await?);
            // Her abnormal vital signs also reach the medical partners she
            // consented to tell (a family doctor team), whoever is on call.
            if alert.kind == AlertKind::VitalAbnormal
                && let Some(resident) = alert.resident_id
            {
                let partners = plan::told_partners(tx, &Reached::for_the_platform(resident)).await?;
                ids.extend(on_call_of(tx, &partners, 1).await?);
            }
            ids
        }
        "alert.escalated" => on_call_of(tx, &routed, level + 1).await?,
        "alert.resolved" if alert.severity == Severity::Critical => family_of(tx, alert.resident_id).await?,
        _ => Vec::new(),
    };
    ids.sort();
    ids.dedup();
    if ids.is_empty() && !check {
        return Ok(Vec::new());
    }
    let room: Option<String> = match alert.resident_id {
        Some(resident) => plan::room(tx, &Reached::<Alerts>::for_the_platform(resident)).await?.flatten(),
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
        // above already are; preferences decide the rest for everyone. A
        // presence check is a question for them, not an alarm: below the
        // severity they chose, it still asks (unless they left its kind out,
        // or in their quiet hours).
        let wanted = if check {
            prefs.wants_question(alert.kind, local.time())
        } else {
            prefs.wants_alert(alert.kind, alert.severity, local.time())
        };
        if !wanted {
            continue;
        }
        reach(tx, alert.institution_id, &person, &prefs, Some(alert.id), &payload, &text, urgent, &mut out).await?;
    }
    // And her own phone, by the SMS gateway of an institution caring for
    // her: "did you go out?" is answered by moving about at home.
    if check
        && change == "alert.opened"
        && let Some(resident) = alert.resident_id
        && let Some(phone) = plan::resident_phone(tx, &Reached::for_the_platform(resident)).await?
    {
        for institution in &routed {
            if let Some(gateway) = plan::gateway(tx, institution, Channel::Sms).await? {
                let text = presence_check_text(&alert);
                out.push(Delivery {
                    user_id: None,
                    resident_id: Some(resident),
                    alert_id: Some(alert.id),
                    channel: Channel::Sms,
                    subscription_id: None,
                    gateway_id: Some(gateway),
                    phone: Some(phone.clone()),
                    payload: json!({"to": phone, "text": text}),
                    urgent: false,
                });
                break;
            }
        }
    }
    Ok(out)
}

/// The SMS to the elder's own phone when nobody could tell whether she
/// went out.
fn presence_check_text(alert: &store_alerts::Alert) -> String {
    let door = alert.details.get("local_door_closed").and_then(Value::as_str).and_then(|t| t.get(11..16));
    let when = door.map(|hm| format!(" at {hm}")).unwrap_or_default();
    format!(
        "eldercare: your front door closed{when} and nothing has moved at home since. If you are at home, \
         just move about and this is answered; if you need help, press your SOS button."
    )
}

fn alert_text(change: &str, alert: &store_alerts::Alert, room: Option<&str>) -> String {
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
        let subscriptions = plan::push_subscriptions(tx, person.id).await?;
        for subscription in subscriptions {
            out.push(Delivery {
                user_id: Some(person.id),
                resident_id: None,
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
        if let Some(gateway) = plan::gateway(tx, &Served::for_the_platform(institution), *channel).await? {
            out.push(Delivery {
                user_id: Some(person.id),
                resident_id: None,
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

/// A family member's message goes to the care team on call (level 1); the
/// care team's to the resident's family. Push only.
async fn plan_message(tx: &mut PgConnection, message_id: Uuid) -> Result<Vec<Delivery>, sqlx::Error> {
    let Some(m) = plan::message(tx, message_id).await? else { return Ok(Vec::new()) };
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

/// A notice (an application's step, a re-assessment due) goes to the
/// elder's family, or to the people it names (`to`: a complaint overdue,
/// to the bureau and the institution's admins), push only, outside their
/// quiet hours like a message.
async fn plan_notice(tx: &mut PgConnection, notice: &serde_json::Value) -> Result<Vec<Delivery>, sqlx::Error> {
    let id = |key: &str| notice.get(key).and_then(|v| v.as_str()).and_then(|v| Uuid::parse_str(v).ok());
    let Some(institution) = id("institution_id") else { return Ok(Vec::new()) };
    let ids = match (notice.get("to").and_then(|v| v.as_array()), id("resident_id")) {
        (Some(to), _) => to.iter().filter_map(|v| v.as_str()).filter_map(|v| Uuid::parse_str(v).ok()).collect(),
        (None, Some(resident)) => family_of(tx, Some(resident)).await?,
        (None, None) => return Ok(Vec::new()),
    };
    let local = local_now(tx, institution).await?;
    let mut out = Vec::new();
    for (person, prefs) in people(tx, &ids).await? {
        if !prefs.wants_message(local.time()) {
            continue;
        }
        let push_only = Preferences { channels: vec![Channel::Push], ..prefs };
        reach(tx, institution, &person, &push_only, None, notice, "", false, &mut out).await?;
    }
    Ok(out)
}
