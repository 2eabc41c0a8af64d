//! Rejected device messages, for operators to see and count.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Query, Result};

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
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    id: i64,
    received_at: DateTime<Utc>,
    topic: String,
    reason: String,
    detail: String,
    device_id: Option<String>,
    payload: Vec<u8>,
}

#[derive(Debug, Serialize)]
struct Message {
    id: String,
    received_at: DateTime<Utc>,
    topic: String,
    reason: String,
    detail: String,
    device_id: Option<String>,
    payload: String,
    /// `utf8` when `payload` is the text itself, `base64` otherwise.
    payload_encoding: &'static str,
    payload_bytes: usize,
}

/// Rejects of one sender in one hour beyond its quarantine cap: counted,
/// not kept.
#[derive(Debug, Serialize, sqlx::FromRow)]
struct Overflow {
    hour: DateTime<Utc>,
    /// `None` for senders nobody registered, counted per topic prefix.
    device_id: Option<String>,
    topic_prefix: Option<String>,
    reason: String,
    count: i64,
}

#[derive(Debug, Serialize)]
struct QuarantineList {
    total: i64,
    messages: Vec<Message>,
    overflow: Vec<Overflow>,
}

const FILTER: &str = "(institution_id = $1 or institution_id is null)
    and ($2::text is null or reason = $2) and ($3::text is null or device_id = $3)
    and ($4::timestamptz is null or received_at >= $4) and ($5::timestamptz is null or received_at <= $5)";

/// Newest first. An admin sees what their institution's devices sent, and
/// messages from devices nobody registered (which belong to no institution);
/// `overflow` counts, per sender and hour, the rejects beyond the quarantine
/// cap that were not kept.
async fn list(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Query(q): Query<QuarantineQuery>,
) -> Result<Json<QuarantineList>> {
    auth.require_admin()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Error::validation("limit", "limit must be between 1 and 1000"));
    }
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from quarantine where {FILTER}")))
        .bind(auth.institution_id)
        .bind(&q.reason)
        .bind(&q.device_id)
        .bind(q.from)
        .bind(q.to)
        .fetch_one(&ctx.pool)
        .await?;
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select id, received_at, topic, reason, detail, device_id, payload from quarantine
         where {FILTER} order by received_at desc, id desc limit $6"
    )))
    .bind(auth.institution_id)
    .bind(&q.reason)
    .bind(&q.device_id)
    .bind(q.from)
    .bind(q.to)
    .bind(limit)
    .fetch_all(&ctx.pool)
    .await?;
    let overflow: Vec<Overflow> = sqlx::query_as(
        "select hour, device_id, nullif(topic_prefix, '') as topic_prefix, reason, count from quarantine_overflow
         where (institution_id = $1 or institution_id is null)
           and ($2::text is null or reason = $2) and ($3::text is null or device_id = $3)
           and ($4::timestamptz is null or hour >= date_trunc('hour', $4))
           and ($5::timestamptz is null or hour <= $5)
         order by hour desc, count desc limit $6",
    )
    .bind(auth.institution_id)
    .bind(&q.reason)
    .bind(&q.device_id)
    .bind(q.from)
    .bind(q.to)
    .bind(limit)
    .fetch_all(&ctx.pool)
    .await?;
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
    Ok(Json(QuarantineList { total, messages, overflow }))
}
