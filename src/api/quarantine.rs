//! Rejected device messages, for operators to see and count.

use axum::extract::State;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Query, Result};
use crate::domain::Reason;
use crate::domain::field;
use crate::store::quarantine::{self, Overflow};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct QuarantineQuery {
    #[param(nullable = false)]
    reason: Option<String>,
    #[param(nullable = false)]
    device_id: Option<String>,
    #[param(nullable = false)]
    from: Option<DateTime<Utc>>,
    #[param(nullable = false)]
    to: Option<DateTime<Utc>>,
    #[param(minimum = 1, maximum = 1000, default = 200, nullable = false)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(schema_with = field::number_cursor)]
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = QuarantinedMessage)]
struct Message {
    id: String,
    received_at: DateTime<Utc>,
    topic: String,
    reason: Reason,
    detail: String,
    device_id: Option<String>,
    payload: String,
    /// `utf8` when `payload` is the text itself, `base64` otherwise.
    #[schema(schema_with = payload_encoding)]
    payload_encoding: &'static str,
    payload_bytes: usize,
}

fn payload_encoding() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["utf8", "base64"]))
        .build()
}

#[derive(Debug, Serialize, ToSchema)]
struct QuarantineList {
    total: i64,
    messages: Vec<Message>,
    /// Rejects beyond a sender's hourly quarantine cap: counted, not kept
    overflow: Vec<Overflow>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// Newest first. An admin sees what their institution's devices sent; the
/// operator sees what no institution owns (devices nobody registered, topics
/// naming no device); `overflow` counts, per sender and hour, the rejects beyond the quarantine
/// cap that were not kept.
#[utoipa::path(get, path = "/quarantine",
    summary = "Rejected device messages, newest first: of the institution's devices (admin), or of no institution's: unknown devices, topics naming no device (operator)",
    description = "Who may call it: admin, operator.", params(QuarantineQuery),
    responses((status = 200, description = "success", body = QuarantineList)))]
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
