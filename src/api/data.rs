//! What the devices measured and reported, per resident.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Path, Query, Result};
use crate::domain::{EventKind, Metric};
use crate::store::data::{self, BucketPoint, Point, StoredEvent};

pub fn router() -> Router<ApiContext> {
    Router::new().route("/residents/{id}/readings", get(readings)).route("/residents/{id}/events", get(events))
}

/// Without `from`, queries look back this far from `to`.
const DEFAULT_WINDOW: Duration = Duration::hours(24);
const MAX_LIMIT: i64 = 50_000;

/// The contract's bucket widths, as PostgreSQL intervals.
fn bucket_interval(bucket: &str) -> Option<&'static str> {
    Some(match bucket {
        "1m" => "1 minute",
        "5m" => "5 minutes",
        "15m" => "15 minutes",
        "1h" => "1 hour",
        "1d" => "1 day",
        _ => return None,
    })
}

fn window(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let to = to.unwrap_or_else(Utc::now);
    let from = from.unwrap_or(to - DEFAULT_WINDOW);
    if from > to {
        return Err(Error::validation("from", "from must not be after to"));
    }
    Ok((from, to))
}

fn limit(limit: Option<i64>, default: i64) -> Result<i64> {
    match limit.unwrap_or(default) {
        l @ 1..=MAX_LIMIT => Ok(l),
        _ => Err(Error::validation("limit", format!("limit must be between 1 and {MAX_LIMIT}"))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadingsQuery {
    metric: String,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    bucket: Option<String>,
    limit: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Points {
    Raw(Vec<Point>),
    Bucketed(Vec<BucketPoint>),
}

#[derive(Debug, Serialize)]
struct ReadingsResponse {
    metric: &'static str,
    unit: &'static str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bucket: Option<String>,
    points: Points,
}

/// Readings of one metric in `[from, to]`, oldest first, or bucketed.
async fn readings(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<ReadingsQuery>,
) -> Result<Json<ReadingsResponse>> {
    let id = auth.resident(&ctx, id).await?;
    let metric = Metric::parse(&q.metric)
        .ok_or_else(|| Error::validation("metric", format!("unknown metric {:?}", q.metric)))?;
    let (from, to) = window(q.from, q.to)?;
    let limit = limit(q.limit, 10_000)?;
    let points = match q.bucket.as_deref() {
        None => Points::Raw(data::readings(&ctx.pool, id, metric, from, to, limit).await?),
        Some(bucket) => {
            let interval = bucket_interval(bucket)
                .ok_or_else(|| Error::validation("bucket", "bucket must be one of 1m, 5m, 15m, 1h, 1d"))?;
            Points::Bucketed(data::buckets(&ctx.pool, id, metric, from, to, interval, limit).await?)
        }
    };
    Ok(Json(ReadingsResponse { metric: metric.as_str(), unit: metric.unit(), from, to, bucket: q.bucket, points }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    /// One kind, or several separated by commas.
    kind: Option<String>,
    limit: Option<i64>,
}

#[derive(Debug, Serialize)]
struct EventsResponse {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    events: Vec<StoredEvent>,
}

/// Events in `[from, to]`, oldest first.
async fn events(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<EventsQuery>,
) -> Result<Json<EventsResponse>> {
    let id = auth.resident(&ctx, id).await?;
    let (from, to) = window(q.from, q.to)?;
    let limit = limit(q.limit, 5_000)?;
    let kinds: Option<Vec<EventKind>> =
        q.kind.map(|k| k.split(',').map(str::trim).filter(|s| !s.is_empty()).map(EventKind::from).collect());
    let events = data::events(&ctx.pool, id, from, to, kinds.as_deref(), limit).await?;
    Ok(Json(EventsResponse { from, to, events }))
}
