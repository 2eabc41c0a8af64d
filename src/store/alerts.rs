//! Alerts: their rows, their timelines and the statements the alert path
//! runs inside its transactions. Which change is legal, and what a change
//! records around it (timeline, webhooks, people, live stream), is the
//! `alerts` module's: it calls these one statement at a time, so that the
//! caller's transaction holds them together.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool, QueryBuilder};
use uuid::Uuid;

use crate::domain::scope::{AreaOf, Monitoring, Placed, Reached, Served};
use crate::domain::{AlertKind, Resolution, Scope, Severity, Status, Step};

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

/// Adds an entry to an alert's timeline.
pub async fn insert_event(
    tx: &mut PgConnection,
    alert_id: Uuid,
    actor: Option<Uuid>,
    step: Step,
    details: &Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into alert_events (alert_id, actor_id, action, details) values ($1, $2, $3, $4)")
        .bind(alert_id)
        .bind(actor)
        .bind(step)
        .bind(details)
        .execute(tx)
        .await
        .map(drop)
}

/// Queues one delivery of `payload` to every webhook of the institution,
/// in the caller's transaction: it commits with the change it tells of.
pub async fn queue_webhooks(
    tx: &mut PgConnection,
    institution_id: &Served,
    event: &str,
    payload: &Value,
) -> Result<(), sqlx::Error> {
    let institution_id = institution_id.id();
    sqlx::query(
        "insert into webhook_deliveries (id, webhook_id, event, payload)
         select gen_random_uuid(), id, $2, $3 from webhooks where institution_id = $1",
    )
    .bind(institution_id)
    .bind(event)
    .bind(payload)
    .execute(tx)
    .await
    .map(drop)
}

/// Tells every process's live stream of a change, on [`NOTIFY_CHANNEL`];
/// PostgreSQL delivers it only when the caller's transaction commits.
pub async fn notify_change(tx: &mut PgConnection, note: &str) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_notify($1, $2)").bind(NOTIFY_CHANNEL).bind(note).execute(tx).await.map(drop)
}

/// Marks the alert changed now (a timeline entry without another change).
pub async fn touch(tx: &mut PgConnection, alert_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("update alerts set updated_at = now() where id = $1").bind(alert_id).execute(tx).await.map(drop)
}

/// Whether an alert of this subject (the `alerts.subject` key), kind and
/// cause was ever raised (`episodic`), or else one for the condition at `at`.
pub async fn already_raised(
    tx: &mut PgConnection,
    institution_id: &Served,
    subject: &str,
    kind: AlertKind,
    cause: &str,
    episodic: bool,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let institution_id = institution_id.id();
    sqlx::query_scalar(
        "select exists (select 1 from alerts where institution_id = $1 and subject = $2 and kind = $3
                        and cause = $4 and ($5 or condition_at = $6))",
    )
    .bind(institution_id)
    .bind(subject)
    .bind(kind)
    .bind(cause)
    .bind(episodic)
    .bind(at)
    .fetch_one(tx)
    .await
}

/// An alert a rule raises.
#[derive(Debug, Clone)]
pub struct Raised<'a> {
    pub institution_id: Uuid,
    pub resident_id: Option<Uuid>,
    pub device_id: Option<&'a str>,
    /// The `alerts.subject` key: one active alert per institution, subject,
    /// kind and cause.
    pub subject: &'a str,
    pub kind: AlertKind,
    pub cause: &'a str,
    pub severity: Severity,
    pub condition_at: DateTime<Utc>,
    pub late: bool,
    pub details: &'a Value,
}

/// Opens the alert, or, when one of its subject, kind and cause is active,
/// counts another occurrence of it (raising its severity, never lowering
/// it). Answers the alert's id, whether it was opened, and its severity
/// before.
pub async fn raise(tx: &mut PgConnection, alert: &Raised<'_>) -> Result<(Uuid, bool, Severity), sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
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
    .bind(alert.institution_id)
    .bind(alert.resident_id)
    .bind(alert.device_id)
    .bind(alert.kind)
    .bind(alert.cause)
    .bind(alert.severity)
    .bind(alert.condition_at)
    .bind(alert.late)
    .bind(alert.details)
    .bind(alert.subject)
    .fetch_one(tx)
    .await
}

/// Resolves the active alert of this subject key, kind and cause, if any;
/// answers its id.
pub async fn resolve_active(
    tx: &mut PgConnection,
    institution_id: &Served,
    subject: &str,
    kind: AlertKind,
    cause: &str,
    resolution: Resolution,
) -> Result<Option<Uuid>, sqlx::Error> {
    let institution_id = institution_id.id();
    sqlx::query_scalar(
        "update alerts set status = 'resolved', resolution = $5, resolved_at = now(), updated_at = now()
         where institution_id = $1 and subject = $2 and kind = $3 and cause = $4 and status <> 'resolved'
         returning id",
    )
    .bind(institution_id)
    .bind(subject)
    .bind(kind)
    .bind(cause)
    .bind(resolution)
    .fetch_optional(tx)
    .await
}

/// Resolves the resident's active alerts of `kinds` (all of them: `None`)
/// as `auto_cleared`; answers their ids. Proof of any area: a status change
/// (Identity) clears them.
pub async fn resolve_of_resident<A: AreaOf>(
    tx: &mut PgConnection,
    resident: &Reached<A>,
    kinds: Option<&[AlertKind]>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let resident = resident.id();
    let kinds: Option<Vec<&str>> = kinds.map(|k| k.iter().map(|k| k.as_str()).collect());
    sqlx::query_scalar(
        "update alerts set status = 'resolved', resolution = 'auto_cleared', resolved_at = now(), updated_at = now()
         where resident_id = $1 and status <> 'resolved' and ($2::text[] is null or kind = any($2))
         returning id",
    )
    .bind(resident)
    .bind(kinds)
    .fetch_all(tx)
    .await
}

/// The open alert of a subject key, kind and cause, if any.
pub async fn active(
    conn: &mut PgConnection,
    institution_id: &Served,
    subject: &str,
    kind: AlertKind,
    cause: &str,
) -> Result<Option<Alert>, sqlx::Error> {
    let institution_id = institution_id.id();
    let alert: Option<Alert> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where a.institution_id = $1 and a.subject = $2 and a.kind = $3 and a.cause = $4
         and a.status <> 'resolved'"
    )))
    .bind(institution_id)
    .bind(subject)
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
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
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
    #[schema(value_type = Object)]
    pub details: Value,
}

/// A resident's alerts active at some time in `[from, to)`, at most
/// `limit`: unresolved first, then the most severe, then the newest.
pub async fn of_resident_during(
    pool: &PgPool,
    resident_id: &Reached<Monitoring>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<DayAlert>, sqlx::Error> {
    let resident_id = resident_id.id();
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
    resident_id: &Reached<Monitoring>,
    kind: AlertKind,
    causes: &[String],
) -> Result<HashMap<String, Uuid>, sqlx::Error> {
    let resident_id = resident_id.id();
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

/// Locks the alert's row to the end of the caller's transaction: people's
/// actions on one alert are judged one after another.
pub async fn lock(tx: &mut PgConnection, alert_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("select 1 from alerts where id = $1 for update").bind(alert_id).execute(tx).await.map(drop)
}

/// Records that `actor` acknowledged the alert.
pub async fn acknowledge(tx: &mut PgConnection, alert_id: Uuid, actor: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update alerts set status = 'acknowledged', acknowledged_at = now(), acknowledged_by = $2,
                updated_at = now() where id = $1",
    )
    .bind(alert_id)
    .bind(actor)
    .execute(tx)
    .await
    .map(drop)
}

/// Records that `actor` resolved the alert, and how.
pub async fn resolve(
    tx: &mut PgConnection,
    alert_id: Uuid,
    actor: Uuid,
    resolution: Resolution,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update alerts set status = 'resolved', resolution = $3, resolved_at = now(), resolved_by = $2,
                updated_at = now() where id = $1",
    )
    .bind(alert_id)
    .bind(actor)
    .bind(resolution)
    .execute(tx)
    .await
    .map(drop)
}

/// Assigns the alert to a user.
pub async fn assign(tx: &mut PgConnection, alert_id: Uuid, user_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("update alerts set assigned_to = $2, updated_at = now() where id = $1")
        .bind(alert_id)
        .bind(user_id)
        .execute(tx)
        .await
        .map(drop)
}

/// (id, opened at, escalation level) of the open critical alerts below
/// `levels` opened at or before `opened_before`, locked to the end of the
/// caller's transaction; those another process holds are skipped.
pub async fn escalation_candidates(
    tx: &mut PgConnection,
    levels: i32,
    opened_before: DateTime<Utc>,
) -> Result<Vec<(Uuid, DateTime<Utc>, i32)>, sqlx::Error> {
    sqlx::query_as(
        "select id, opened_at, escalation_level from alerts
         where status = 'open' and severity = 'critical' and escalation_level < $1 and opened_at <= $2
         for update skip locked",
    )
    .bind(levels)
    .bind(opened_before)
    .fetch_all(tx)
    .await
}

/// Raises the alert to escalation level `level`, now.
pub async fn escalate(tx: &mut PgConnection, alert_id: Uuid, level: i32) -> Result<(), sqlx::Error> {
    sqlx::query("update alerts set escalation_level = $2, escalated_at = now(), updated_at = now() where id = $1")
        .bind(alert_id)
        .bind(level)
        .execute(tx)
        .await
        .map(drop)
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

/// The alert's timeline, oldest first.
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
