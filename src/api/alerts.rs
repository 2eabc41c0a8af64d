//! Alerts for people: list, act on, follow live.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use futures::Stream;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::error::ErrorBody;
use super::limits::StreamsFull;
use super::{ApiContext, Error, Json, Path, Query, Result};
use crate::alerts::{self, ActionError, Alert, HumanAction, TimelineEntry};
use crate::domain::field;
use crate::domain::{AlertKind, Resolution, Role, Severity, Status};
use crate::store::{sessions, users};

pub fn router() -> OpenApiRouter<ApiContext> {
    let mut router = OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(fetch))
        .routes(routes!(timeline))
        .routes(routes!(acknowledge))
        .routes(routes!(resolve))
        .routes(routes!(assign))
        .routes(routes!(comment));
    field::optional_body(router.get_openapi_mut(), "/alerts/{id}/acknowledge");
    router
}

/// The live stream, kept apart from the request timeout.
pub fn stream_router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(stream))
}

/// The 429 of the live stream.
const STREAMS_PER_USER: &str =
    "this user has as many live streams open as one may (`http.streams_per_user`); `Retry-After`";
/// The 503 of the live stream.
const STREAMS_FULL: &str =
    "the server has as many live streams open as it takes (`busy`, with `Retry-After`); try again";

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    #[param(value_type = Status, inline, required = false)]
    status: Option<String>,
    #[param(nullable = false)]
    resident_id: Option<Uuid>,
    #[param(value_type = AlertKind, inline, required = false)]
    kind: Option<String>,
    #[param(value_type = Severity, inline, required = false)]
    severity: Option<String>,
    #[param(nullable = false)]
    since: Option<DateTime<Utc>>,
    #[param(minimum = 1, maximum = 1000, default = 200, nullable = false)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(schema_with = field::uuid_cursor)]
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct AlertList {
    alerts: Vec<Alert>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/alerts", summary = "Alerts the caller may see: active first, critical first",
    description = "Who may call it: any.", params(ListQuery),
    responses((status = 200, description = "success", body = AlertList)))]
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
#[derive(Debug, Serialize, ToSchema)]
struct AlertDetail {
    #[serde(flatten)]
    alert: Alert,
    /// GET /alerts/{id} for care staff only
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = responder)]
    responder: Option<Option<crate::domain::responder::Responder>>,
}

/// The responder's sheet, or `null` for an alert about no resident.
fn responder() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    let sheet = utoipa::openapi::schema::OneOfBuilder::new()
        .item(utoipa::openapi::Ref::from_schema_name("Responder"))
        .item(utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::Null))
        .description(Some("GET /alerts/{id} for care staff only"));
    utoipa::openapi::RefOr::T(utoipa::openapi::Schema::OneOf(sheet.build()))
}

#[utoipa::path(get, path = "/alerts/{id}",
    summary = "One alert; for care staff with `responder`, the responder's sheet of its resident (null for an alert about no resident); that read is in the access log (kind responder_sheet)",
    description = "Who may call it: any.", params(("id" = Uuid, Path)),
    responses((status = 200, description = "success", body = AlertDetail)))]
async fn fetch(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<AlertDetail>> {
    let alert = visible(&ctx, &auth, id).await?;
    let responder = match (auth.scope.may_care(), alert.resident_id) {
        (false, _) => None,
        (true, None) => Some(None),
        // The sheet is of the care area: a monitoring-only institution sees
        // the alert, not her conditions and the key safe.
        (true, Some(resident)) => match auth.reach::<crate::domain::scope::Care>(&ctx, resident).await {
            Ok(reached) => {
                let sheet = crate::store::responder::responder(&ctx.pool, &reached).await?;
                auth.log_read(&ctx, crate::domain::AccessKind::ResponderSheet, resident).await?;
                Some(sheet)
            }
            Err(Error::NotFound) => Some(None),
            Err(e) => return Err(e),
        },
    };
    Ok(Json(AlertDetail { alert, responder }))
}

#[derive(Debug, Serialize, ToSchema)]
struct Timeline {
    alert_id: Uuid,
    entries: Vec<TimelineEntry>,
}

#[utoipa::path(get, path = "/alerts/{id}/timeline", summary = "Every change to the alert, with who and when",
    description = "Who may call it: any.", params(("id" = Uuid, Path)),
    responses((status = 200, description = "success", body = Timeline)))]
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

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Acknowledge)]
struct AckRequest {
    note: Option<String>,
}

/// The body is optional: an empty POST acknowledges.
#[utoipa::path(post, path = "/alerts/{id}/acknowledge", summary = "Acknowledge (body optional: {note})",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path)), request_body = AckRequest,
    responses((status = 200, description = "success", body = Alert)))]
async fn acknowledge(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    body: axum::body::Bytes,
) -> Result<Json<Alert>> {
    let req: AckRequest = super::optional_body(&body)?;
    act(&ctx, &auth, id, HumanAction::Acknowledge { note: req.note }).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Resolve)]
struct ResolveRequest {
    #[schema(inline)]
    resolution: Resolution,
    note: Option<String>,
}

#[utoipa::path(post, path = "/alerts/{id}/resolve", summary = "Resolve with a resolution",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path)), request_body = ResolveRequest,
    responses((status = 200, description = "success", body = Alert)))]
async fn resolve(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<ResolveRequest>,
) -> Result<Json<Alert>> {
    act(&ctx, &auth, id, HumanAction::Resolve { resolution: req.resolution, note: req.note }).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Assign)]
struct AssignRequest {
    user_id: Uuid,
}

#[utoipa::path(post, path = "/alerts/{id}/assign", summary = "Assign to a carer", description = "Who may call it: admin, staff.",
    params(("id" = Uuid, Path)), request_body = AssignRequest,
    responses((status = 200, description = "success", body = Alert)))]
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Comment)]
struct CommentRequest {
    #[schema(schema_with = field::text::<4000>)]
    text: String,
}

#[utoipa::path(post, path = "/alerts/{id}/comments", summary = "Comment on the alert", description = "Who may call it: admin, staff.",
    params(("id" = Uuid, Path)), request_body = CommentRequest,
    responses((status = 200, description = "success", body = Alert)))]
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
#[utoipa::path(get, path = "/alerts/stream",
    summary = "Server-Sent Events: `event: alert`, `data:` the alert JSON plus `change` (alert.opened, alert.acknowledged, ...), for each change the caller may see; `event: ready` on connect, `event: resync` (reload the list) after falling behind, after the server's feed reconnected to the database, or when it could not check an alert's visibility",
    description = "Who may call it: any.",
    responses((status = 200, description = "success"), (status = 429, description = STREAMS_PER_USER, body = ErrorBody),
        (status = 503, description = STREAMS_FULL, body = ErrorBody)))]
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
    let mut resyncs = ctx.alert_hub.resyncs();
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
                // The feed may have missed changes: reload.
                r = resyncs.recv() => {
                    if matches!(r, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                        return;
                    }
                    let event = Event::default().event("resync").data(r#"{"reason":"reconnected"}"#);
                    if tx.send(event).await.is_err() {
                        return;
                    }
                    continue;
                }
                user = reach_changed.recv() => {
                    // The nil id: an enrolment changed, whoever it concerns.
                    if !matches!(user, Ok(user) if user != auth.scope.user && !user.is_nil()) {
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
                        None => match visible_retrying(&ctx, &auth, &change.alert).await {
                            Some(visible) => *reaches.entry(key).or_insert(visible),
                            // Whether this client may see it is unknown: never
                            // drop it silently, tell the client to reload (its
                            // reload is judged afresh).
                            None => {
                                let event = Event::default().event("resync").data(r#"{"reason":"unchecked"}"#);
                                if tx.send(event).await.is_err() {
                                    return;
                                }
                                continue;
                            }
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

/// Whether the stream's user may see `alert`, asking up to three times a
/// quarter of a second apart; `None` if the database never answered.
async fn visible_retrying(ctx: &ApiContext, auth: &AuthUser, alert: &alerts::Alert) -> Option<bool> {
    for attempt in 0..3 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        match alerts::is_visible(&ctx.pool, &auth.scope, alert).await {
            Ok(visible) => return Some(visible),
            Err(err) => {
                tracing::warn!(cause = %err, alert = %alert.id, "live stream: checking who sees an alert failed")
            }
        }
    }
    None
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
