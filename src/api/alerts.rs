//! Alerts for people: list, act on, follow live.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use futures::Stream;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::AuthUser;
use super::limits::StreamsFull;
use super::{ApiContext, Error, Json, Path, Query, Result};
use crate::alerts::{self, ActionError, Alert, HumanAction, TimelineEntry};
use crate::domain::{AlertKind, Resolution, Role, Severity, Status};
use crate::store::{sessions, users};

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/alerts", get(list))
        .route("/alerts/{id}", get(fetch))
        .route("/alerts/{id}/timeline", get(timeline))
        .route("/alerts/{id}/acknowledge", post(acknowledge))
        .route("/alerts/{id}/resolve", post(resolve))
        .route("/alerts/{id}/assign", post(assign))
        .route("/alerts/{id}/comments", post(comment))
}

/// The live stream, kept apart from the request timeout.
pub fn stream_router() -> Router<ApiContext> {
    Router::new().route("/alerts/stream", get(stream))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    resident_id: Option<Uuid>,
    kind: Option<String>,
    severity: Option<String>,
    since: Option<DateTime<Utc>>,
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize)]
struct AlertList {
    alerts: Vec<Alert>,
    next_cursor: Option<String>,
}

async fn list(State(ctx): State<ApiContext>, auth: AuthUser, Query(q): Query<ListQuery>) -> Result<Json<AlertList>> {
    let status = q
        .status
        .as_deref()
        .map(|s| {
            Status::parse(s).ok_or_else(|| Error::validation("status", "status must be open, acknowledged or resolved"))
        })
        .transpose()?;
    let kind = q
        .kind
        .as_deref()
        .map(|k| AlertKind::parse(k).ok_or_else(|| Error::validation("kind", format!("unknown alert kind {k:?}"))))
        .transpose()?;
    let severity = q
        .severity
        .as_deref()
        .map(|s| {
            Severity::parse(s)
                .ok_or_else(|| Error::validation("severity", "severity must be critical, high, medium or low"))
        })
        .transpose()?;
    let limit = super::page_limit(q.limit)?;
    let filter = alerts::Filter { status, resident_id: q.resident_id, kind, severity, since: q.since };
    let after = super::cursor_in_reach(q.cursor.as_deref(), async |id| {
        let mut conn = ctx.pool.acquire().await?;
        Ok(alerts::fetch_visible(&mut conn, &auth.scope, id).await?.is_some())
    })
    .await?;
    let mut alerts = alerts::list(&ctx.pool, &auth.scope, &filter, after, limit + 1).await?;
    let next_cursor = super::next_page(&mut alerts, limit, |a| a.id.to_string());
    Ok(Json(AlertList { alerts, next_cursor }))
}

/// The alert, if the caller may see it.
async fn visible(ctx: &ApiContext, auth: &AuthUser, id: Uuid) -> Result<Alert> {
    let mut conn = ctx.pool.acquire().await?;
    alerts::fetch_visible(&mut conn, &auth.scope, id).await?.ok_or(Error::NotFound)
}

/// An alert as its detail shows it: to care staff, with the responder's
/// sheet of its resident (`null` for an alert about no resident).
#[derive(Debug, Serialize)]
struct AlertDetail {
    #[serde(flatten)]
    alert: Alert,
    #[serde(skip_serializing_if = "Option::is_none")]
    responder: Option<Option<crate::domain::responder::Responder>>,
}

async fn fetch(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<AlertDetail>> {
    let alert = visible(&ctx, &auth, id).await?;
    let responder = match (auth.scope.may_care(), alert.resident_id) {
        (false, _) => None,
        (true, None) => Some(None),
        (true, Some(resident)) => {
            let sheet = crate::store::responder::responder(&ctx.pool, resident).await?;
            auth.log_read(&ctx, crate::domain::AccessKind::ResponderSheet, resident).await?;
            Some(sheet)
        }
    };
    Ok(Json(AlertDetail { alert, responder }))
}

#[derive(Debug, Serialize)]
struct Timeline {
    alert_id: Uuid,
    entries: Vec<TimelineEntry>,
}

async fn timeline(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<Timeline>> {
    visible(&ctx, &auth, id).await?;
    Ok(Json(Timeline { alert_id: id, entries: alerts::timeline(&ctx.pool, id).await? }))
}

async fn act(ctx: &ApiContext, auth: &AuthUser, id: Uuid, action: HumanAction) -> Result<Json<Alert>> {
    // Visibility first (404), then the role (403), then the transition (409).
    visible(ctx, auth, id).await?;
    auth.require_staff()?;
    match alerts::act(&ctx.pool, &auth.scope, id, action).await {
        Ok(alert) => Ok(Json(alert)),
        Err(ActionError::NotFound) => Err(Error::NotFound),
        Err(ActionError::Illegal(e)) => Err(Error::Conflict(e.to_string())),
        Err(ActionError::Database(e)) => Err(e.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckRequest {
    note: Option<String>,
}

/// The body is optional: an empty POST acknowledges.
async fn acknowledge(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    body: axum::body::Bytes,
) -> Result<Json<Alert>> {
    let req: AckRequest = super::optional_body(&body)?;
    act(&ctx, &auth, id, HumanAction::Acknowledge { note: req.note }).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveRequest {
    resolution: Resolution,
    note: Option<String>,
}

async fn resolve(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<ResolveRequest>,
) -> Result<Json<Alert>> {
    act(&ctx, &auth, id, HumanAction::Resolve { resolution: req.resolution, note: req.note }).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignRequest {
    user_id: Uuid,
}

async fn assign(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<AssignRequest>,
) -> Result<Json<Alert>> {
    // Visibility and role before the assignee: an alert out of reach is a
    // 404 whatever the body says.
    visible(&ctx, &auth, id).await?;
    auth.require_staff()?;
    let staff = users::role(&ctx.pool, &auth.scope, req.user_id).await?;
    if !matches!(staff, Some(Role::Admin | Role::Staff)) {
        return Err(Error::validation("user_id", "alerts are assigned to care staff of this institution"));
    }
    act(&ctx, &auth, id, HumanAction::Assign { user_id: req.user_id }).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentRequest {
    text: String,
}

async fn comment(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<CommentRequest>,
) -> Result<Json<Alert>> {
    let text = req.text.trim();
    if text.is_empty() || super::chars(&req.text) > 4000 {
        return Err(Error::validation("text", "a comment is 1 to 4000 characters"));
    }
    act(&ctx, &auth, id, HumanAction::Comment { text: text.to_owned() }).await
}

/// Server-Sent Events: `event: alert`, `data:` the alert JSON (with `change`:
/// `alert.opened`, `alert.acknowledged`, ...) for each change the caller may
/// see. `event: resync` tells a client that fell behind to reload the list.
/// The stream ends when its session does (logout, revocation, a disabled
/// account, a reset password, expiry).
async fn stream(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
) -> Result<Sse<impl Stream<Item = std::result::Result<Event, Infallible>>>> {
    let slot = ctx.streams.open(auth.scope.user).map_err(|full| match full {
        StreamsFull::User => Error::TooManyRequests { retry_after: Duration::from_secs(5) },
        StreamsFull::Total => Error::Overloaded("the server has as many live streams open as it takes; try again"),
    })?;
    let mut rx = ctx.alert_hub.subscribe();
    let mut ended = ctx.alert_hub.sessions_ended();
    let mut reach_changed = ctx.alert_hub.reach_changed();
    let shutdown = ctx.shutdown.clone();
    let stream = async_stream(move |tx| async move {
        // Held while the stream lives: its place is given back when it ends.
        let _slot = slot;
        let _ = tx.send(Event::default().event("ready").data("{}")).await;
        let mut recheck = tokio::time::interval(SESSION_RECHECK);
        // Whom this stream's user reaches, as judged so far: a family
        // member's check is a query, and alert changes come by the hundred.
        // Forgotten when their links change, and at each session check.
        let mut reaches: HashMap<(Uuid, Option<Uuid>), bool> = HashMap::new();
        loop {
            let change = tokio::select! {
                c = rx.recv() => c,
                user = reach_changed.recv() => {
                    if !matches!(user, Ok(user) if user != auth.scope.user) {
                        reaches.clear();
                    }
                    continue;
                }
                user = ended.recv() => {
                    // Someone's session ended: if it may be this one, see.
                    let ours = !matches!(user, Ok(user) if user != auth.scope.user);
                    if ours && !session_alive(&ctx, &auth).await {
                        return;
                    }
                    continue;
                }
                _ = recheck.tick() => {
                    if !session_alive(&ctx, &auth).await {
                        return;
                    }
                    reaches.clear();
                    continue;
                }
                _ = shutdown.cancelled() => return,
                // The client went away: give its place back now, not at
                // the next alert.
                () = tx.closed() => return,
            };
            let event = match change {
                Ok(change) => {
                    let key = (change.alert.institution_id, change.alert.resident_id);
                    let visible = match reaches.get(&key) {
                        Some(visible) => *visible,
                        None => match alerts::is_visible(&ctx.pool, &auth.scope, &change.alert).await {
                            Ok(visible) => *reaches.entry(key).or_insert(visible),
                            // Not remembered: the next change asks again.
                            Err(_) => false,
                        },
                    };
                    if !visible {
                        continue;
                    }
                    // The contract: `data:` is the alert JSON; `change` adds
                    // what happened to it (alert.opened, alert.acknowledged...).
                    let mut body = serde_json::to_value(&change.alert).unwrap_or_default();
                    body["change"] = serde_json::json!(change.change);
                    Event::default().event("alert").id(change.alert.id.to_string()).data(body.to_string())
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    Event::default().event("resync").data(serde_json::json!({"missed": n}).to_string())
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            if tx.send(event).await.is_err() {
                return;
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// How often a live stream checks its session even when no end is
/// announced: idle and absolute ends are not announced, and neither is an
/// end while the listener was reconnecting.
const SESSION_RECHECK: Duration = Duration::from_secs(30);

/// Whether the stream's session still lets it run; a database error keeps
/// the stream (the next check decides), as a lost connection does not log
/// anyone out.
async fn session_alive(ctx: &ApiContext, auth: &AuthUser) -> bool {
    sessions::alive(&ctx.pool, &ctx.settings.auth, auth.session).await.unwrap_or(true)
}

/// A stream fed by a task, so the per-client loop can be plain async code.
fn async_stream<F, Fut>(f: F) -> impl Stream<Item = std::result::Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(f(tx));
    futures::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(rx), Ok)
}
