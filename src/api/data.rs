//! What the devices measured and reported, per resident.

use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Path, Query, Result};
use crate::domain::scope::Monitoring;
use crate::domain::{AccessKind, EventKind, Metric};
use crate::store::data::{self, Bucket, BucketPoint, Point, StoredEvent};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(readings)).routes(routes!(events)).routes(routes!(presence))
}

/// Without `from`, queries look back this far from `to`.
const DEFAULT_WINDOW: Duration = Duration::hours(24);
/// The most points one answer holds; beyond `limit` an answer is truncated
/// (oldest first kept) and says so in `truncated`.
const MAX_LIMIT: i64 = 50_000;
/// The longest span of raw readings or events one query may scan: a month
/// of a resident's data, not a decade of it in one request.
pub(super) const MAX_RAW_SPAN: Duration = Duration::days(31);
/// Buckets summarise, so they may span longer: a year's trend and more.
const MAX_BUCKETED_SPAN: Duration = Duration::days(400);

fn window(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    max_span: Duration,
    what: &str,
) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let to = to.unwrap_or_else(Utc::now);
    let from = from.unwrap_or(to - DEFAULT_WINDOW);
    if from > to {
        return Err(Error::validation("from", "from must not be after to"));
    }
    if to - from > max_span {
        return Err(Error::validation(
            "from",
            format!("{what} span at most {} days from `from` to `to`", max_span.num_days()),
        ));
    }
    Ok((from, to))
}

/// Keeps the first `limit` of `rows` fetched with one extra, and says
/// whether there were more.
fn truncate<T>(mut rows: Vec<T>, limit: i64) -> (Vec<T>, bool) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let truncated = rows.len() > limit;
    rows.truncate(limit);
    (rows, truncated)
}

fn limit(limit: Option<i64>, default: i64) -> Result<i64> {
    match limit.unwrap_or(default) {
        l @ 1..=MAX_LIMIT => Ok(l),
        _ => Err(Error::validation("limit", format!("limit must be between 1 and {MAX_LIMIT}"))),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ReadingsQuery {
    #[param(value_type = Metric, inline)]
    metric: String,
    #[param(nullable = false)]
    from: Option<DateTime<Utc>>,
    #[param(nullable = false)]
    to: Option<DateTime<Utc>>,
    #[param(schema_with = bucket)]
    bucket: Option<String>,
    #[param(minimum = 1, maximum = 50_000, nullable = false)]
    limit: Option<i64>,
}

fn bucket() -> utoipa::openapi::Object {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["1m", "5m", "15m", "1h", "1d"])).build()
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Points {
    Raw(Vec<Point>),
    Bucketed(Vec<BucketPoint>),
}

/// Raw points (`ts`, `value`) or buckets (`ts`, `avg`, `min`, `max`, `count`).
fn points() -> utoipa::openapi::Array {
    let number = || ObjectBuilder::new().schema_type(Type::Number);
    let point = ObjectBuilder::new()
        .property(
            "ts",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::DateTime))),
        )
        .property("value", number())
        .property("avg", number())
        .property("min", number())
        .property("max", number())
        .property("count", ObjectBuilder::new().schema_type(Type::Integer));
    ArrayBuilder::new().items(point).build()
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Readings)]
struct ReadingsResponse {
    metric: &'static str,
    unit: &'static str,
    #[schema(required = false)]
    from: DateTime<Utc>,
    #[schema(required = false)]
    to: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    bucket: Option<String>,
    #[schema(schema_with = points)]
    points: Points,
    /// more points matched than `limit`: these are the oldest
    truncated: bool,
}

/// Readings of one metric in `[from, to]`, oldest first, or bucketed.
#[utoipa::path(get, path = "/residents/{id}/readings",
    summary = "Readings of one metric, raw or bucketed (1m, 5m, 15m, 1h, 1d). `from`..`to` spans at most 31 days raw or 400 days bucketed (422 beyond); at most `limit` points (default 10,000, at most 50,000): beyond it the answer is truncated to the oldest and says `truncated: true`",
    description = "Who may call it: any.", params(("id" = Uuid, Path), ReadingsQuery),
    responses((status = 200, description = "success", body = ReadingsResponse)))]
async fn readings(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<ReadingsQuery>,
) -> Result<Json<ReadingsResponse>> {
    let resident = auth.reach::<Monitoring>(&ctx, id).await?;
    let id = resident.id();
    let metric = Metric::parse(&q.metric)
        .ok_or_else(|| Error::validation("metric", format!("unknown metric {:?}", q.metric)))?;
    let limit = limit(q.limit, 10_000)?;
    let bucket = q
        .bucket
        .as_deref()
        .map(|b| {
            Bucket::parse(b).ok_or_else(|| Error::validation("bucket", "bucket must be one of 1m, 5m, 15m, 1h, 1d"))
        })
        .transpose()?;
    let (max_span, what) =
        if bucket.is_some() { (MAX_BUCKETED_SPAN, "bucketed readings") } else { (MAX_RAW_SPAN, "raw readings") };
    let (from, to) = window(q.from, q.to, max_span, what)?;
    let (points, truncated) = match bucket {
        None => {
            let (rows, truncated) =
                truncate(data::readings(&ctx.pool, &resident, metric, from, to, limit + 1).await?, limit);
            (Points::Raw(rows), truncated)
        }
        Some(bucket) => {
            let rows = data::buckets(&ctx.pool, ctx.reads, &resident, metric, from, to, bucket, limit + 1).await?;
            let (rows, truncated) = truncate(rows, limit);
            (Points::Bucketed(rows), truncated)
        }
    };
    auth.log_read(&ctx, AccessKind::Readings, id).await?;
    Ok(Json(ReadingsResponse {
        metric: metric.as_str(),
        unit: metric.unit(),
        from,
        to,
        bucket: q.bucket,
        points,
        truncated,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    #[param(nullable = false)]
    from: Option<DateTime<Utc>>,
    #[param(nullable = false)]
    to: Option<DateTime<Utc>>,
    /// One kind, or several separated by commas.
    #[param(nullable = false)]
    kind: Option<String>,
    #[param(minimum = 1, maximum = 50_000, nullable = false)]
    limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Events)]
struct EventsResponse {
    #[schema(required = false)]
    from: DateTime<Utc>,
    #[schema(required = false)]
    to: DateTime<Utc>,
    events: Vec<StoredEvent>,
    /// more events matched than `limit`: these are the oldest
    truncated: bool,
}

/// Events in `[from, to]`, oldest first.
#[utoipa::path(get, path = "/residents/{id}/events",
    summary = "Events of a resident. `from`..`to` spans at most 31 days (422 beyond); at most `limit` events (default 5,000, at most 50,000): beyond it the answer is truncated to the oldest and says `truncated: true`",
    description = "Who may call it: any.", params(("id" = Uuid, Path), EventsQuery),
    responses((status = 200, description = "success", body = EventsResponse)))]
async fn events(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<EventsQuery>,
) -> Result<Json<EventsResponse>> {
    let resident = auth.reach::<Monitoring>(&ctx, id).await?;
    let id = resident.id();
    let (from, to) = window(q.from, q.to, MAX_RAW_SPAN, "events")?;
    let limit = limit(q.limit, 5_000)?;
    let kinds: Option<Vec<EventKind>> =
        q.kind.map(|k| k.split(',').map(str::trim).filter(|s| !s.is_empty()).map(EventKind::from).collect());
    let (events, truncated) =
        truncate(data::events(&ctx.pool, &resident, from, to, kinds.as_deref(), limit + 1).await?, limit);
    auth.log_read(&ctx, AccessKind::Events, id).await?;
    Ok(Json(EventsResponse { from, to, events, truncated }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PresenceQuery {
    #[param(nullable = false)]
    from: Option<DateTime<Utc>>,
    #[param(nullable = false)]
    to: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PresencePeriods)]
struct PresenceResponse {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// Oldest first; the last has `until: null` while it goes on.
    periods: Vec<crate::domain::activity::PresencePeriod>,
}

/// Whether the elder was in, out or unsure, as the scheduler judged it.
#[utoipa::path(get, path = "/residents/{id}/presence",
    summary = "Whether the resident was at home (`in`), out, or `unsure` (the door closed and nobody seen leaving), as periods overlapping `from`..`to` (default the last 24 h; at most 31 days), as the rules judged them from the entrance door, the hall and interior motion, carers' check-ins and a wearable's room",
    description = "Who may call it: any.", params(("id" = Uuid, Path), PresenceQuery),
    responses((status = 200, description = "success", body = PresenceResponse)))]
async fn presence(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<PresenceQuery>,
) -> Result<Json<PresenceResponse>> {
    let resident = auth.reach::<Monitoring>(&ctx, id).await?;
    let (from, to) = window(q.from, q.to, MAX_RAW_SPAN, "presence")?;
    let periods = crate::store::presence::between(&ctx.pool, &resident, from, to).await?;
    auth.log_read(&ctx, AccessKind::Summary, resident.id()).await?;
    Ok(Json(PresenceResponse { from, to, periods }))
}
