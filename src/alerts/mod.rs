//! Alerts: what needs a human. Rule decisions and people's actions change
//! them; every change is on the alert's timeline, in the webhook outbox and on
//! the live stream, written in one transaction.

pub mod engine;
pub mod lifecycle;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::device::Registered;
use crate::domain::scope::{AreaOf, Monitoring, Reached, Served};
use crate::domain::{AlertKind, Change, Resolution, Scope, Severity, Status, Step};
use crate::metrics::Metrics;
use crate::rules::{Decision, devices};
use crate::store::alerts::{self as store, Raised};
use lifecycle::{Action, IllegalTransition};

/// The alerts API's reads, under the names its handlers use (`api::alerts`,
/// `api::fhir`, `api::visits`); everything else reads `store::alerts`.
pub use crate::store::alerts::{Alert, Filter, TimelineEntry, fetch_visible, list, timeline};

/// Whether `scope` reaches an alert already in hand.
pub async fn is_visible(pool: &PgPool, scope: &Scope, alert: &Alert) -> Result<bool, sqlx::Error> {
    let area = crate::domain::scope::Area::Alerts;
    crate::store::residents::reaches(pool, scope, alert.institution_id, alert.resident_id, area).await
}

/// Whom a rule decision is about: a resident, or a device that belongs to
/// no resident (a corridor smoke detector), or the institution itself (the
/// platform's own health). One active alert per institution, subject, kind
/// and cause.
#[derive(Debug, Clone)]
pub struct Subject {
    pub institution_id: Uuid,
    pub resident_id: Option<Uuid>,
    /// The device whose data raised it; for a shared device, also the subject.
    pub device_id: Option<String>,
    /// Where a shared device is, so its alert says where to go.
    pub room: Option<String>,
}

impl Subject {
    /// The institution itself, for alerts about the platform.
    pub fn institution(institution_id: Uuid) -> Subject {
        Subject { institution_id, resident_id: None, device_id: None, room: None }
    }

    /// The subject of data from this device: its resident, or the device
    /// itself when it belongs to none.
    pub fn of(origin: &Registered) -> Subject {
        Subject {
            institution_id: origin.institution_id,
            resident_id: origin.resident_id,
            device_id: Some(origin.info.device_id.clone()),
            room: origin.info.room.clone(),
        }
    }

    /// The value of the `alerts.subject` column for this subject: the same
    /// expression as the column's definition in the migrations.
    pub fn key(&self) -> String {
        match (&self.resident_id, &self.device_id) {
            (Some(resident), _) => format!("resident:{resident}"),
            (None, Some(device)) => format!("device:{device}"),
            (None, None) => "institution".to_owned(),
        }
    }
}

/// Records a timeline entry, queues the webhook deliveries and the live
/// notification for a change, inside the caller's transaction.
async fn record(
    tx: &mut PgConnection,
    alert_id: Uuid,
    actor: Option<Uuid>,
    step: Step,
    details: Value,
) -> Result<Alert, sqlx::Error> {
    let event = step.change();
    store::insert_event(tx, alert_id, actor, step, &details).await?;
    let alert = store::fetch(tx, alert_id).await?.ok_or(sqlx::Error::RowNotFound)?;
    let payload = json!({"event": event, "alert": &alert});
    store::queue_webhooks(tx, &Served::for_the_platform(alert.institution_id), event.as_str(), &payload).await?;
    // People are told after the commit, off this path; the job commits
    // with the change, so it is never lost.
    match step {
        Step::Opened | Step::Resolved => crate::store::notify::queue_alert(tx, alert_id, event.as_str(), 0).await?,
        Step::Escalated => {
            crate::store::notify::queue_alert(tx, alert_id, event.as_str(), alert.escalation_level).await?
        }
        _ => {}
    }
    let note = json!({"id": alert_id, "event": event}).to_string();
    store::notify_change(tx, &note).await?;
    Ok(alert)
}

/// Adds an entry to an alert's timeline (a carer dispatched, at the door,
/// gone), with its webhook deliveries and live notification, inside the
/// caller's transaction.
pub async fn note(
    tx: &mut PgConnection,
    alert_id: Uuid,
    actor: Option<Uuid>,
    step: Step,
    details: Value,
) -> Result<Alert, sqlx::Error> {
    store::touch(tx, alert_id).await?;
    record(tx, alert_id, actor, step, details).await
}

/// What applying a decision did.
#[derive(Debug, Clone)]
pub struct Applied {
    pub change: Change,
    pub alert: Alert,
}

impl Applied {
    /// Counts an opened alert in the metrics, once its change is committed.
    pub fn count(&self, metrics: &Metrics) {
        if self.change == Change::Opened {
            metrics.alert_opened(self.alert.kind);
        }
    }
}

/// Applies one rule decision in its own small transaction, and counts it.
pub async fn apply(
    pool: &PgPool,
    metrics: &Metrics,
    subject: &Subject,
    decision: &Decision,
    late: bool,
) -> Result<Option<Applied>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let applied = apply_in(&mut tx, subject, decision, late).await?;
    tx.commit().await?;
    if let Some(applied) = &applied {
        applied.count(metrics);
    }
    Ok(applied)
}

/// Applies one rule decision inside the caller's transaction, so that the
/// alert change commits together with whatever else the caller records (the
/// evaluated event leaving the rule inbox); the caller counts it once
/// committed.
pub async fn apply_in(
    tx: &mut PgConnection,
    subject: &Subject,
    decision: &Decision,
    late: bool,
) -> Result<Option<Applied>, sqlx::Error> {
    // A device going offline or coming back is kept in its status history,
    // with the alert, whether or not the alert changes (one left open, or
    // resolved by a person, still stands for the device's state).
    if let (Some((online, reason)), Some(device_id)) = (devices::status_change(decision), &subject.device_id) {
        let resident = subject.resident_id.map(Reached::<Monitoring>::for_the_platform);
        crate::store::device_status::record_change(tx, device_id, resident.as_ref(), decision.at(), online, reason)
            .await?;
    }
    match decision {
        Decision::Raise { kind, cause, severity, at, details } => {
            raise(tx, subject, *kind, cause, *severity, *at, details, late).await
        }
        Decision::Clear { kind, cause, at, resolution, details } => {
            clear(tx, subject, *kind, cause, *at, *resolution, details).await
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn raise(
    tx: &mut PgConnection,
    subject: &Subject,
    kind: AlertKind,
    cause: &str,
    severity: Severity,
    at: DateTime<Utc>,
    details: &Value,
    late: bool,
) -> Result<Option<Applied>, sqlx::Error> {
    let key = subject.key();
    let episodic = lifecycle::raised_once_per_episode(kind);
    if (episodic || lifecycle::raised_once_per_occurrence(kind))
        && store::already_raised(tx, &Served::for_the_platform(subject.institution_id), &key, kind, cause, episodic, at)
            .await?
    {
        return Ok(None);
    }
    let mut details = details.clone();
    if let Some(obj) = details.as_object_mut() {
        if late {
            obj.insert("late".into(), json!(true));
            obj.insert(
                "late_note".into(),
                json!("raised from data that arrived late; the condition happened at condition_at"),
            );
        }
        if subject.resident_id.is_none()
            && let Some(room) = &subject.room
        {
            obj.insert("room".into(), json!(room));
        }
    }
    let raised = Raised {
        institution_id: subject.institution_id,
        resident_id: subject.resident_id,
        device_id: subject.device_id.as_deref(),
        subject: &key,
        kind,
        cause,
        severity,
        condition_at: at,
        late,
        details: &details,
    };
    let (id, inserted, old_severity) = store::raise(tx, &raised).await?;
    let (step, note) = if inserted {
        (Step::Opened, json!({"severity": severity, "condition_at": at}))
    } else if severity > old_severity {
        (Step::SeverityRaised, json!({"from": old_severity, "to": severity}))
    } else {
        (Step::Repeated, json!({"condition_at": at}))
    };
    let alert = record(tx, id, None, step, note).await?;
    Ok(Some(Applied { change: step.change(), alert }))
}

async fn clear(
    tx: &mut PgConnection,
    subject: &Subject,
    kind: AlertKind,
    cause: &str,
    at: DateTime<Utc>,
    resolution: Resolution,
    details: &Value,
) -> Result<Option<Applied>, sqlx::Error> {
    let id = store::resolve_active(
        tx,
        &Served::for_the_platform(subject.institution_id),
        &subject.key(),
        kind,
        cause,
        resolution,
    )
    .await?;
    let Some(id) = id else { return Ok(None) };
    let note = json!({"resolution": resolution, "condition_ended_at": at, "details": details});
    let alert = record(tx, id, None, Step::Resolved, note).await?;
    Ok(Some(Applied { change: Change::Resolved, alert }))
}

/// Resolves the resident's active alerts of `kinds` (all of them: `None`),
/// `auto_cleared` with `details` in each timeline: the resident's status
/// changed, and the condition no longer applies.
pub async fn resolve_about_resident<A: AreaOf>(
    tx: &mut PgConnection,
    resident: &Reached<A>,
    kinds: Option<&[AlertKind]>,
    actor: Option<Uuid>,
    details: &Value,
) -> Result<Vec<Applied>, sqlx::Error> {
    let ids = store::resolve_of_resident(tx, resident, kinds).await?;
    let mut applied = Vec::with_capacity(ids.len());
    for id in ids {
        let note = json!({"resolution": Resolution::AutoCleared, "details": details});
        let alert = record(tx, id, actor, Step::Resolved, note).await?;
        applied.push(Applied { change: Change::Resolved, alert });
    }
    Ok(applied)
}

/// The open alert of a subject, kind and cause, if any.
pub async fn active(
    conn: &mut PgConnection,
    subject: &Subject,
    kind: AlertKind,
    cause: &str,
) -> Result<Option<Alert>, sqlx::Error> {
    store::active(conn, &Served::for_the_platform(subject.institution_id), &subject.key(), kind, cause).await
}

/// A person's action on an alert.
#[derive(Debug, Clone)]
pub enum HumanAction {
    Acknowledge { note: Option<String> },
    Resolve { resolution: Resolution, note: Option<String> },
    Assign { user_id: Uuid },
    Comment { text: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Applies the action of the person `scope` acts for, on an alert in their
/// reach (judged inside the transaction, on the locked row).
pub async fn act(pool: &PgPool, scope: &Scope, alert_id: Uuid, action: HumanAction) -> Result<Alert, ActionError> {
    let actor = scope.user;
    let mut tx = pool.begin().await?;
    store::lock(&mut tx, alert_id).await?;
    let current = fetch_visible(&mut tx, scope, alert_id).await?.ok_or(ActionError::NotFound)?;
    let status = current.status;
    let (step, details) = match &action {
        HumanAction::Acknowledge { note } => {
            lifecycle::transition(status, Action::Acknowledge)?;
            store::acknowledge(&mut tx, alert_id, actor).await?;
            (Step::Acknowledged, json!({"note": note}))
        }
        HumanAction::Resolve { resolution, note } => {
            lifecycle::transition(status, Action::Resolve)?;
            store::resolve(&mut tx, alert_id, actor, *resolution).await?;
            (Step::Resolved, json!({"resolution": resolution, "note": note}))
        }
        HumanAction::Assign { user_id } => {
            lifecycle::transition(status, Action::Assign)?;
            store::assign(&mut tx, alert_id, *user_id).await?;
            (Step::Assigned, json!({"user_id": user_id}))
        }
        HumanAction::Comment { text } => {
            lifecycle::transition(status, Action::Comment)?;
            store::touch(&mut tx, alert_id).await?;
            (Step::Commented, json!({"text": text}))
        }
    };
    let alert = record(&mut tx, alert_id, Some(actor), step, details.clone()).await?;
    let who = crate::audit::Actor { user_id: actor, institution_id: Some(alert.institution_id) };
    crate::audit::record(&mut tx, who, step.change().as_str(), "alert", alert_id, details).await?;
    tx.commit().await?;
    Ok(alert)
}

/// Raises the escalation level of critical alerts left unacknowledged past a
/// step of the ladder. Returns the alerts escalated.
pub async fn escalate_due(pool: &PgPool, ladder: &[Duration], now: DateTime<Utc>) -> Result<Vec<Alert>, sqlx::Error> {
    let Some(first) = ladder.first() else { return Ok(vec![]) };
    let mut tx = pool.begin().await?;
    let due = store::escalation_candidates(&mut tx, ladder.len() as i32, now - *first).await?;
    let mut escalated = Vec::new();
    for (id, opened_at, level) in due {
        let new = lifecycle::escalation_level(Status::Open, opened_at, level.max(0) as u32, ladder, now) as i32;
        if new <= level {
            continue;
        }
        store::escalate(&mut tx, id, new).await?;
        let after = ladder.get(new as usize - 1).map(|d| d.num_seconds());
        let details = json!({"level": new, "unacknowledged_for_seconds": after});
        escalated.push(record(&mut tx, id, None, Step::Escalated, details).await?);
    }
    tx.commit().await?;
    Ok(escalated)
}
