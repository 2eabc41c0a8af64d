//! Alerts: what needs a human. Rule decisions and people's actions change
//! them; every change is on the alert's timeline, in the webhook outbox and on
//! the live stream, written in one transaction.

pub mod engine;
pub mod lifecycle;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool, QueryBuilder};
use uuid::Uuid;

use crate::domain::device::Registered;
use crate::domain::scope::Placed;
use crate::domain::{AlertKind, Change, Resolution, Scope, Severity, Status, Step};
use crate::metrics::Metrics;
use crate::rules::Decision;
use lifecycle::{Action, IllegalTransition};

/// The PostgreSQL channel that carries alert changes to every process's
/// live stream.
pub const NOTIFY_CHANNEL: &str = "eldercare_alert_changes";

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Alert {
    pub id: Uuid,
    #[serde(skip)]
    pub institution_id: Uuid,
    pub resident_id: Option<Uuid>,
    pub resident_name: Option<String>,
    pub device_id: Option<String>,
    pub kind: AlertKind,
    pub cause: String,
    pub severity: Severity,
    pub status: Status,
    pub resolution: Option<Resolution>,
    pub opened_at: DateTime<Utc>,
    pub condition_at: DateTime<Utc>,
    pub late: bool,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<Uuid>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<Uuid>,
    pub assigned_to: Option<Uuid>,
    pub escalation_level: i32,
    pub escalated_at: Option<DateTime<Utc>>,
    pub occurrences: i32,
    pub last_seen_at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub details: Value,
    pub updated_at: DateTime<Utc>,
    /// SLA: seconds from opening to acknowledgement (or to resolution when it
    /// was resolved without one).
    #[sqlx(skip)]
    pub time_to_acknowledge_seconds: Option<f64>,
    #[sqlx(skip)]
    pub time_to_resolve_seconds: Option<f64>,
}

impl Alert {
    fn with_sla(mut self) -> Self {
        let secs = |t: Option<DateTime<Utc>>| t.map(|t| (t - self.opened_at).num_milliseconds() as f64 / 1000.0);
        self.time_to_acknowledge_seconds = secs(self.acknowledged_at.or(self.resolved_at));
        self.time_to_resolve_seconds = secs(self.resolved_at);
        self
    }
}

const SELECT: &str = "select a.id, a.institution_id, a.resident_id, r.name as resident_name, a.device_id, a.kind,
        a.cause, a.severity, a.status, a.resolution, a.opened_at, a.condition_at, a.late, a.acknowledged_at,
        a.acknowledged_by, a.resolved_at, a.resolved_by, a.assigned_to, a.escalation_level, a.escalated_at,
        a.occurrences, a.last_seen_at, a.details, a.updated_at
    from alerts a left join residents r on r.id = a.resident_id";

/// An SQL expression ranking a severity column from 1 (low) to 4
/// (critical), so that queries order and compare severities as
/// [`Severity`] does.
pub fn severity_rank(column: &str) -> String {
    let names: Vec<String> = Severity::ALL.iter().map(|s| format!("'{}'", s.as_str())).collect();
    format!("array_position(array[{}], {column})", names.join(","))
}

/// The alert, whoever may see it: for the alert path and the live stream,
/// which check a scope themselves.
pub async fn fetch(conn: &mut PgConnection, id: Uuid) -> Result<Option<Alert>, sqlx::Error> {
    let alert: Option<Alert> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where a.id = $1"))).bind(id).fetch_optional(conn).await?;
    Ok(alert.map(Alert::with_sla))
}

/// The alert, if `scope` reaches it.
pub async fn fetch_visible(conn: &mut PgConnection, scope: &Scope, id: Uuid) -> Result<Option<Alert>, sqlx::Error> {
    let mut query = QueryBuilder::new(format!("{SELECT} where a.id = "));
    query.push_bind(id);
    scope.push_filter(&mut query, Placed::ALERTS);
    let alert: Option<Alert> = query.build_query_as().fetch_optional(conn).await?;
    Ok(alert.map(Alert::with_sla))
}

/// Whether `scope` reaches an alert already in hand.
pub async fn is_visible(pool: &PgPool, scope: &Scope, alert: &Alert) -> Result<bool, sqlx::Error> {
    scope.reaches(pool, alert.institution_id, alert.resident_id).await
}

/// Which alerts a listing shows; `None` shows all.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub status: Option<Status>,
    pub resident_id: Option<Uuid>,
    pub kind: Option<AlertKind>,
    pub severity: Option<Severity>,
    /// Opened at or after.
    pub since: Option<DateTime<Utc>>,
}

/// The alerts `scope` reaches that pass `filter`: unresolved first, then
/// the most severe, then the newest; after the alert `after` (the previous
/// page's last) in that order.
pub async fn list(
    pool: &PgPool,
    scope: &Scope,
    filter: &Filter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Alert>, sqlx::Error> {
    let mut query = QueryBuilder::new(format!("{SELECT} where true"));
    scope.push_filter(&mut query, Placed::ALERTS);
    if let Some(status) = filter.status {
        query.push(" and a.status = ").push_bind(status);
    }
    if let Some(resident) = filter.resident_id {
        query.push(" and a.resident_id = ").push_bind(resident);
    }
    if let Some(kind) = filter.kind {
        query.push(" and a.kind = ").push_bind(kind);
    }
    if let Some(severity) = filter.severity {
        query.push(" and a.severity = ").push_bind(severity);
    }
    if let Some(since) = filter.since {
        query.push(" and a.opened_at >= ").push_bind(since);
    }
    // One key, descending in each part, so the next page starts below the
    // previous one's last alert with a single row comparison.
    let key = |t: &str| {
        let rank = severity_rank(&format!("{t}.severity"));
        [format!("{t}.status <> 'resolved'"), rank, format!("{t}.opened_at"), format!("{t}.id")]
    };
    if let Some(after) = after {
        let (mine, theirs) = (key("a").join(", "), key("c").join(", "));
        query.push(format!(" and ({mine}) < (select {theirs} from alerts c where c.id = "));
        query.push_bind(after).push(")");
    }
    query.push(format!(" order by {} desc limit ", key("a").join(" desc, ")));
    query.push_bind(limit);
    let alerts: Vec<Alert> = query.build_query_as().fetch_all(pool).await?;
    Ok(alerts.into_iter().map(Alert::with_sla).collect())
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
    sqlx::query("insert into alert_events (alert_id, actor_id, action, details) values ($1, $2, $3, $4)")
        .bind(alert_id)
        .bind(actor)
        .bind(step)
        .bind(&details)
        .execute(&mut *tx)
        .await?;
    let alert = fetch(tx, alert_id).await?.ok_or(sqlx::Error::RowNotFound)?;
    let payload = json!({"event": event, "alert": &alert});
    sqlx::query(
        "insert into webhook_deliveries (id, webhook_id, event, payload)
         select gen_random_uuid(), id, $2, $3 from webhooks where institution_id = $1",
    )
    .bind(alert.institution_id)
    .bind(event.as_str())
    .bind(&payload)
    .execute(&mut *tx)
    .await?;
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
    sqlx::query("select pg_notify($1, $2)").bind(NOTIFY_CHANNEL).bind(note).execute(&mut *tx).await?;
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
    sqlx::query("update alerts set updated_at = now() where id = $1").bind(alert_id).execute(&mut *tx).await?;
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
    if episodic || lifecycle::raised_once_per_occurrence(kind) {
        let seen: bool = sqlx::query_scalar(
            "select exists (select 1 from alerts where institution_id = $1 and subject = $2 and kind = $3
                            and cause = $4 and ($5 or condition_at = $6))",
        )
        .bind(subject.institution_id)
        .bind(&key)
        .bind(kind)
        .bind(cause)
        .bind(episodic)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        if seen {
            return Ok(None);
        }
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
    let (id, inserted, old_severity): (Uuid, bool, Severity) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "with prev as (
             select severity from alerts
             where institution_id = $2 and subject = $11 and kind = $5 and cause = $6 and status <> 'resolved'
         )
         insert into alerts as a (id, institution_id, resident_id, device_id, kind, cause, severity, condition_at, late, details)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         on conflict (institution_id, subject, kind, cause) where status <> 'resolved' do update set
             occurrences = a.occurrences + 1,
             last_seen_at = now(),
             severity = case when {} > {} then excluded.severity else a.severity end,
             details = excluded.details,
             updated_at = now()
         returning a.id, (xmax = 0) as inserted, coalesce((select severity from prev), a.severity)",
        severity_rank("excluded.severity"),
        severity_rank("a.severity"),
    )))
    .bind(Uuid::new_v4())
    .bind(subject.institution_id)
    .bind(subject.resident_id)
    .bind(&subject.device_id)
    .bind(kind)
    .bind(cause)
    .bind(severity)
    .bind(at)
    .bind(late)
    .bind(&details)
    .bind(&key)
    .fetch_one(&mut *tx)
    .await?;
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
    let id: Option<Uuid> = sqlx::query_scalar(
        "update alerts set status = 'resolved', resolution = $5, resolved_at = now(), updated_at = now()
         where institution_id = $1 and subject = $2 and kind = $3 and cause = $4 and status <> 'resolved'
         returning id",
    )
    .bind(subject.institution_id)
    .bind(subject.key())
    .bind(kind)
    .bind(cause)
    .bind(resolution)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else { return Ok(None) };
    let note = json!({"resolution": resolution, "condition_ended_at": at, "details": details});
    let alert = record(tx, id, None, Step::Resolved, note).await?;
    Ok(Some(Applied { change: Change::Resolved, alert }))
}

/// Resolves the resident's active alerts of `kinds` (all of them: `None`),
/// `auto_cleared` with `details` in each timeline: the resident's status
/// changed, and the condition no longer applies.
pub async fn resolve_about_resident(
    tx: &mut PgConnection,
    resident: Uuid,
    kinds: Option<&[AlertKind]>,
    actor: Option<Uuid>,
    details: &Value,
) -> Result<Vec<Applied>, sqlx::Error> {
    let kinds: Option<Vec<&str>> = kinds.map(|k| k.iter().map(|k| k.as_str()).collect());
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "update alerts set status = 'resolved', resolution = 'auto_cleared', resolved_at = now(), updated_at = now()
         where resident_id = $1 and status <> 'resolved' and ($2::text[] is null or kind = any($2))
         returning id",
    )
    .bind(resident)
    .bind(kinds)
    .fetch_all(&mut *tx)
    .await?;
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
    let alert: Option<Alert> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where a.institution_id = $1 and a.subject = $2 and a.kind = $3 and a.cause = $4
         and a.status <> 'resolved'"
    )))
    .bind(subject.institution_id)
    .bind(subject.key())
    .bind(kind)
    .bind(cause)
    .fetch_optional(conn)
    .await?;
    Ok(alert.map(Alert::with_sla))
}

/// What identifies an active alert: institution, subject key, kind and cause.
pub type ActiveKey = (Uuid, String, AlertKind, String);

/// The active (not resolved) alerts of these kinds, of every institution.
pub async fn active_keys(pool: &PgPool, kinds: &[AlertKind]) -> Result<HashSet<ActiveKey>, sqlx::Error> {
    let rows: Vec<ActiveKey> = sqlx::query_as(
        "select institution_id, subject, kind, cause from alerts where kind = any($1) and status <> 'resolved'",
    )
    .bind(kinds)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}

/// (resident, kind, cause) of the alerts about residents opened after
/// `since`, resolved or not.
pub async fn opened_about_residents(
    pool: &PgPool,
    since: DateTime<Utc>,
) -> Result<Vec<(Uuid, AlertKind, String)>, sqlx::Error> {
    sqlx::query_as("select resident_id, kind, cause from alerts where resident_id is not null and opened_at > $1")
        .bind(since)
        .fetch_all(pool)
        .await
}

/// (resident, kind, cause) of the active alerts about residents.
pub async fn active_about_residents(pool: &PgPool) -> Result<HashSet<(Uuid, AlertKind, String)>, sqlx::Error> {
    let rows: Vec<(Uuid, AlertKind, String)> = sqlx::query_as(
        "select resident_id, kind, cause from alerts where resident_id is not null and status <> 'resolved'",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}

/// An alert as a resident's day shows it.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct DayAlert {
    pub id: Uuid,
    pub kind: AlertKind,
    pub severity: Severity,
    pub status: Status,
    pub resolution: Option<Resolution>,
    pub opened_at: DateTime<Utc>,
    /// When the condition itself happened (before `opened_at` for late data).
    pub condition_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Who resolved it, or acknowledged it while it is open.
    pub handled_by: Option<String>,
    pub details: Value,
}

/// A resident's alerts active at some time in `[from, to)`, at most
/// `limit`: unresolved first, then the most severe, then the newest.
pub async fn of_resident_during(
    pool: &PgPool,
    resident_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<DayAlert>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select a.id, a.kind, a.severity, a.status, a.resolution, a.opened_at, a.condition_at,
                a.acknowledged_at, a.resolved_at, coalesce(ru.name, au.name) as handled_by, a.details
         from alerts a
         left join users au on au.id = a.acknowledged_by
         left join users ru on ru.id = a.resolved_by
         where a.resident_id = $1 and a.opened_at < $3 and (a.resolved_at is null or a.resolved_at >= $2)
         order by (a.status = 'resolved'), {} desc, a.opened_at desc
         limit $4",
        severity_rank("a.severity")
    )))
    .bind(resident_id)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The ids of a resident's alerts of `kind` with one of `causes`, by cause;
/// for a cause raised more than once, the latest.
pub async fn by_cause(
    pool: &PgPool,
    resident_id: Uuid,
    kind: AlertKind,
    causes: &[String],
) -> Result<HashMap<String, Uuid>, sqlx::Error> {
    let rows: Vec<(String, Uuid)> = sqlx::query_as(
        "select cause, id from alerts where resident_id = $1 and kind = $2 and cause = any($3) order by opened_at",
    )
    .bind(resident_id)
    .bind(kind)
    .bind(causes)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
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
    sqlx::query("select 1 from alerts where id = $1 for update").bind(alert_id).execute(&mut *tx).await?;
    let current = fetch_visible(&mut tx, scope, alert_id).await?.ok_or(ActionError::NotFound)?;
    let status = current.status;
    let (step, details) = match &action {
        HumanAction::Acknowledge { note } => {
            lifecycle::transition(status, Action::Acknowledge)?;
            sqlx::query(
                "update alerts set status = 'acknowledged', acknowledged_at = now(), acknowledged_by = $2,
                        updated_at = now() where id = $1",
            )
            .bind(alert_id)
            .bind(actor)
            .execute(&mut *tx)
            .await?;
            (Step::Acknowledged, json!({"note": note}))
        }
        HumanAction::Resolve { resolution, note } => {
            lifecycle::transition(status, Action::Resolve)?;
            sqlx::query(
                "update alerts set status = 'resolved', resolution = $3, resolved_at = now(), resolved_by = $2,
                        updated_at = now() where id = $1",
            )
            .bind(alert_id)
            .bind(actor)
            .bind(resolution)
            .execute(&mut *tx)
            .await?;
            (Step::Resolved, json!({"resolution": resolution, "note": note}))
        }
        HumanAction::Assign { user_id } => {
            lifecycle::transition(status, Action::Assign)?;
            sqlx::query("update alerts set assigned_to = $2, updated_at = now() where id = $1")
                .bind(alert_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            (Step::Assigned, json!({"user_id": user_id}))
        }
        HumanAction::Comment { text } => {
            lifecycle::transition(status, Action::Comment)?;
            sqlx::query("update alerts set updated_at = now() where id = $1").bind(alert_id).execute(&mut *tx).await?;
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
    let due: Vec<(Uuid, DateTime<Utc>, i32)> = sqlx::query_as(
        "select id, opened_at, escalation_level from alerts
         where status = 'open' and severity = 'critical' and escalation_level < $1 and opened_at <= $2
         for update skip locked",
    )
    .bind(ladder.len() as i32)
    .bind(now - *first)
    .fetch_all(&mut *tx)
    .await?;
    let mut escalated = Vec::new();
    for (id, opened_at, level) in due {
        let new = lifecycle::escalation_level(Status::Open, opened_at, level.max(0) as u32, ladder, now) as i32;
        if new <= level {
            continue;
        }
        sqlx::query("update alerts set escalation_level = $2, escalated_at = now(), updated_at = now() where id = $1")
            .bind(id)
            .bind(new)
            .execute(&mut *tx)
            .await?;
        let after = ladder.get(new as usize - 1).map(|d| d.num_seconds());
        let details = json!({"level": new, "unacknowledged_for_seconds": after});
        escalated.push(record(&mut tx, id, None, Step::Escalated, details).await?);
    }
    tx.commit().await?;
    Ok(escalated)
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub action: Step,
    pub actor_id: Option<Uuid>,
    pub actor_name: Option<String>,
    #[schema(value_type = Object)]
    pub details: Value,
}

pub async fn timeline(pool: &PgPool, alert_id: Uuid) -> Result<Vec<TimelineEntry>, sqlx::Error> {
    sqlx::query_as(
        "select e.at, e.action, e.actor_id, u.name as actor_name, e.details
         from alert_events e left join users u on u.id = e.actor_id
         where e.alert_id = $1 order by e.id",
    )
    .bind(alert_id)
    .fetch_all(pool)
    .await
}
