//! One message thread per resident between the family and the care team,
//! with unread counts. Each message is pushed to the other side, so a user
//! posts at most `messages.per_user` in a sliding `messages.window_minutes`
//! (429 with `Retry-After` beyond).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::error::ErrorBody;
use super::{ApiContext, Error, Json, PageQuery, Path, Query, Result};
use crate::domain::field;
use crate::domain::scope::Monitoring;
use crate::store::messages::{self, Message, UnreadThread};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(list, post_message)).routes(routes!(mark_read)).routes(routes!(unread))
}

/// The 429 of a post beyond the user's rate.
const POSTING_TOO_FAST: &str = "this user posted `messages.per_user` (30) messages in the last \
    `messages.window_minutes` (10): `Retry-After` gives the seconds until the oldest of them leaves the window";

const MAX_MESSAGE_CHARS: usize = 4000;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct MessagesQuery {
    /// The id of the oldest message already shown: the page is the messages before it.
    #[param(nullable = false)]
    before: Option<Uuid>,
    /// The `next_cursor` of the previous page: the same as `before`.
    #[param(schema_with = field::uuid_cursor)]
    cursor: Option<String>,
    #[param(minimum = 1, maximum = 1000, default = 200, nullable = false)]
    limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
struct MessagePage {
    /// Newest first.
    messages: Vec<Message>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    #[schema(required = true)]
    next_cursor: Option<String>,
    /// The same, as version 1 named it (pass as `before`).
    next_before: Option<Uuid>,
    /// How far the caller has read this thread.
    last_read_at: Option<DateTime<Utc>>,
}

#[utoipa::path(get, path = "/residents/{id}/messages",
    summary = "The resident's message thread between family and care team, newest first; `before` = the oldest message id already shown",
    description = "Who may call it: any.", params(("id" = Uuid, Path), MessagesQuery),
    responses((status = 200, description = "success", body = MessagePage)))]
async fn list(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<MessagesQuery>,
) -> Result<Json<MessagePage>> {
    let reached = auth.reach::<Monitoring>(&ctx, id).await?;
    let limit = super::page_limit(q.limit)?;
    let before = match q.before.or(super::parse_cursor(q.cursor.as_deref())?) {
        None => None,
        Some(before) => Some(
            messages::cursor(&ctx.pool, &reached, before)
                .await?
                .ok_or_else(|| Error::validation("before", "no such message in this thread"))?,
        ),
    };
    let mut messages = messages::page(&ctx.pool, &reached, auth.scope.user, before, limit + 1).await?;
    let more = messages.len() as i64 > limit;
    messages.truncate(limit as usize);
    let next_before = if more { messages.last().map(|m| m.id) } else { None };
    let last_read_at = messages::last_read_at(&ctx.pool, auth.scope.user, &reached).await?;
    let next_cursor = next_before.map(|id| id.to_string());
    Ok(Json(MessagePage { messages, next_cursor, next_before, last_read_at }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewMessage {
    #[schema(schema_with = field::text::<MAX_MESSAGE_CHARS>)]
    text: String,
}

#[utoipa::path(post, path = "/residents/{id}/messages", summary = "Post to the resident's thread (1 to 4000 characters)",
    description = "Who may call it: any.", params(("id" = Uuid, Path)), request_body = NewMessage,
    responses((status = 201, description = "success", body = Message),
        (status = 429, description = POSTING_TOO_FAST, body = ErrorBody)))]
async fn post_message(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<NewMessage>,
) -> Result<(StatusCode, Json<Message>)> {
    let reached = auth.reach::<Monitoring>(&ctx, id).await?;
    let id = reached.id();
    let text = super::text("text", &req.text, MAX_MESSAGE_CHARS)?;
    let mut tx = ctx.pool.begin().await?;
    let limits = &ctx.settings.messages;
    if let Some(retry_after) =
        messages::wait_before_posting(&mut tx, auth.scope.user, limits.per_user, limits.window_minutes).await?
    {
        tracing::info!(by = %auth.scope.user, retry_after = retry_after.as_secs(), "message refused: rate limit");
        return Err(Error::TooManyRequests { retry_after });
    }
    let message_id = messages::post(&mut tx, &reached, auth.scope.user, text).await?;
    // The text stays in the thread, which is never edited: the trail says
    // who wrote to whose thread without copying what was said.
    let details = serde_json::json!({"resident_id": id, "chars": super::chars(text)});
    crate::audit::record(&mut tx, auth.actor(), "message.posted", "message", message_id, details).await?;
    crate::store::notify::queue_message(&mut tx, message_id).await?;
    tx.commit().await?;
    let message = messages::fetch(&ctx.pool, message_id, auth.scope.user).await?.ok_or(Error::NotFound)?;
    tracing::info!(by = %auth.scope.user, resident_id = %id, message_id = %message_id, "message posted");
    Ok((StatusCode::CREATED, Json(message)))
}

#[derive(Debug, Serialize, ToSchema)]
struct ReadState {
    resident_id: Uuid,
    last_read_at: Option<DateTime<Utc>>,
    unread: i64,
}

/// Not audited: a read mark is the reader's own view, not a change to
/// anyone's care.
#[utoipa::path(post, path = "/residents/{id}/messages/read",
    summary = "Mark the resident's thread read up to its newest message, for the caller",
    description = "Who may call it: any.", params(("id" = Uuid, Path)),
    responses((status = 200, description = "success", body = ReadState)))]
async fn mark_read(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<ReadState>> {
    let reached = auth.reach::<Monitoring>(&ctx, id).await?;
    let id = reached.id();
    messages::mark_read(&ctx.pool, auth.scope.user, &reached).await?;
    let (last_read_at, unread) = messages::read_state(&ctx.pool, auth.scope.user, &reached).await?;
    Ok(Json(ReadState { resident_id: id, last_read_at, unread }))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = UnreadCounts)]
struct Unread {
    /// Over every thread, not only this page's.
    total: i64,
    residents: Vec<UnreadThread>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// By resident name; the cursor is the last resident's id.
#[utoipa::path(get, path = "/messages/unread",
    summary = "Unread messages (by others, after my last read) per resident I may see",
    description = "Who may call it: any.", params(PageQuery),
    responses((status = 200, description = "success", body = Unread)))]
async fn unread(State(ctx): State<ApiContext>, auth: AuthUser, Query(q): Query<PageQuery>) -> Result<Json<Unread>> {
    let limit = super::page_limit(q.limit)?;
    let after = super::cursor_in_reach(q.cursor.as_deref(), async |id| {
        Ok(crate::store::residents::visible(&ctx.pool, &auth.scope, id).await?.is_some())
    })
    .await?;
    let mut residents = messages::unread(&ctx.pool, &auth.scope, after, limit + 1).await?;
    let next_cursor = super::next_page(&mut residents, limit, |r| r.resident_id.to_string());
    let total = messages::unread_total(&ctx.pool, &auth.scope).await?;
    Ok(Json(Unread { total, residents, next_cursor }))
}
