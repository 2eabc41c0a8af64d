//! Rejected device messages, for operators to see and count.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Query, Result};
use crate::domain::Reason;
use crate::store::quarantine::{self, Overflow};

pub fn router() -> Router<ApiContext> {
    Router::new().route("/quarantine", get(list))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuarantineQuery {
    reason: Option<String>,
    device_id: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize)]
struct Message {
    id: String,
    received_at: DateTime<Utc>,
    topic: String,
    reason: Reason,
    detail: String,
    device_id: Option<String>,
    payload: String,
    /// `utf8` when `payload` is the text itself, `base64` otherwise.
    payload_encoding: &'static str,
    payload_bytes: usize,
}

#[derive(Debug, Serialize)]
struct QuarantineList {
    total: i64,
    messages: Vec<Message>,
    overflow: Vec<Overflow>,
    next_cursor: Option<String>,
}

/// Newest first. An admin sees what their institution's devices sent; the
/// operator sees what no institution owns (devices nobody registered, topics
/// naming no device); `overflow` counts, per sender and hour, the rejects beyond the quarantine
/// cap that were not kept.
async fn list(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Query(q): Query<QuarantineQuery>,
) -> Result<Json<QuarantineList>> {
    if auth.scope.administered().is_none() {
        return Err(Error::Forbidden("only an administrator or the operator reads the quarantine"));
    }
    let limit = super::page_limit(q.limit)?;
    let reason = match q.reason.as_deref().map(Reason::parse) {
        None => None,
        Some(Some(reason)) => Some(reason),
        // Nothing was refused for a reason that does not exist.
        Some(None) => {
            return Ok(Json(QuarantineList { total: 0, messages: vec![], overflow: vec![], next_cursor: None }));
        }
    };
    let filter = quarantine::Filter { reason, device_id: q.device_id, from: q.from, to: q.to };
    let total = quarantine::count(&ctx.pool, &auth.scope, &filter).await?;
    let before = super::cursor_in_reach(q.cursor.as_deref(), async |id| {
        Ok(quarantine::visible(&ctx.pool, &auth.scope, id).await?)
    })
    .await?;
    let mut rows = quarantine::list(&ctx.pool, &auth.scope, &filter, before, limit + 1).await?;
    let next_cursor = super::next_page(&mut rows, limit, |r| r.id.to_string());
    let overflow = quarantine::overflow(&ctx.pool, &auth.scope, &filter, limit).await?;
    let messages = rows
        .into_iter()
        .map(|r| {
            let payload_bytes = r.payload.len();
            let (payload, payload_encoding) = match String::from_utf8(r.payload) {
                Ok(text) => (text, "utf8"),
                Err(e) => (base64::engine::general_purpose::STANDARD.encode(e.into_bytes()), "base64"),
            };
            Message {
                id: r.id.to_string(),
                received_at: r.received_at,
                topic: r.topic,
                reason: r.reason,
                detail: r.detail,
                device_id: r.device_id,
                payload,
                payload_encoding,
                payload_bytes,
            }
        })
        .collect();
    Ok(Json(QuarantineList { total, messages, overflow, next_cursor }))
}
