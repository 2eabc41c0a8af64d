//! The HTTP API (axum): one shared context, one router per resource module.

pub mod alerts;
pub mod applications;
pub mod assessments;
pub mod audit;
pub mod auth;
pub mod backtest;
pub mod billing;
pub mod certificates;
pub mod cockpit;
pub mod complaints;
pub mod consents;
pub mod console;
pub mod data;
pub mod desk;
pub mod devices;
pub mod display;
pub mod district_cockpit;
pub mod divisions;
pub mod enrolments;
pub mod error;
pub mod family;
pub mod fhir;
pub mod follow_ups;
pub mod gateways;
pub mod health;
pub mod inspections;
pub mod institutions;
pub mod limits;
pub mod matching;
pub mod meals;
pub mod messages;
pub mod notifications;
pub mod open_data;
pub mod openapi;
mod place;
pub mod quarantine;
pub mod records;
pub mod residents;
pub mod respite;
pub mod responder;
pub mod rules;
pub mod scores;
pub mod services;
pub mod statements;
pub mod status;
pub mod trace;
pub mod users;
pub mod visits;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::notify::stream::AlertHub;

pub use error::{Error, Result};

#[derive(Clone)]
pub struct ApiContext {
    pub pool: PgPool,
    /// Where heavy reads go: a replica while it keeps up, else `pool`.
    pub read: crate::store::replica::ReadPools,
    pub settings: Arc<Settings>,
    pub metrics: Arc<Metrics>,
    /// Bumped whenever a device is created, changed or removed, so the ingest
    /// worker reloads its in-memory registry.
    pub devices_changed: Arc<tokio::sync::watch::Sender<u64>>,
    /// Cancelled at shutdown, so long-lived streams end and let the server stop.
    pub shutdown: CancellationToken,
    /// Alert changes, for the live streams.
    pub alert_hub: AlertHub,
    /// The rule settings as this process reads them.
    pub rule_settings: crate::store::settings::SettingsCache,
    pub login_limiter: Arc<limits::LoginLimiter>,
    /// Caps concurrent password hashing (logins, password changes).
    pub hashing: Arc<limits::HashingGate>,
    /// Device credentials on the broker; `None` when they are not managed
    /// (no `MQTT_ADMIN_URL`), and the API answers `"mqtt": null`.
    pub accounts: Option<Arc<crate::broker::Accounts>>,
    /// This backend's Web Push identity.
    pub vapid: Arc<crate::notify::webpush::Vapid>,
    /// Live alert streams open, per user and in all.
    pub streams: Arc<limits::StreamSlots>,
    /// Requests in progress (`http.max_concurrent_requests`).
    pub requests: Arc<tokio::sync::Semaphore>,
    /// Where hourly and daily readings buckets are read from.
    pub reads: crate::store::data::ReadPath,
    /// Heavy FHIR reads in progress (`fhir.max_concurrent`).
    pub fhir_reads: Arc<tokio::sync::Semaphore>,
    /// Backtests running (`backtest.max_concurrent`); a place is given back
    /// when the replay stops, not when its request goes.
    pub backtests: Arc<tokio::sync::Semaphore>,
    /// Open data's requests per client address (`http.open_data_per_minute`).
    pub open_data: Arc<limits::AddressLimiter>,
}

impl ApiContext {
    /// After a committed change to the devices: this process reloads its
    /// registry at once, the others when the announcement reaches them.
    pub fn device_registry_changed(&self) {
        self.devices_changed.send_modify(|v| *v += 1);
        let pool = self.pool.clone();
        tokio::spawn(async move {
            if let Err(err) = crate::ingest::registry::announce(&pool).await {
                tracing::warn!(cause = %err, "announcing a device change; other processes reload within 30 s");
            }
        });
    }
}

/// Any JSON body (the rule settings take arrays and free-form objects),
/// with the API's JSON errors.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(Error))]
pub struct AnyJson<T>(pub T);

/// A request's JSON body: an object (never a bare array, string or null,
/// which serde would otherwise read as a struct's fields in order), of the
/// request's shape, or 422.
pub struct Json<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Error;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self> {
        let AnyJson(value) = AnyJson::<serde_json::Value>::from_request(req, state).await?;
        json_object(value).map(Json)
    }
}

/// A request body already parsed as JSON, read as `T` if it is an object.
pub fn json_object<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T> {
    if !value.is_object() {
        return Err(Error::validation("body", "the body must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        // The path of the field at fault (`location`, `items[0].schedule`);
        // empty for the body itself.
        let field = e.path().iter().next().map(|_| e.path().to_string()).unwrap_or_default();
        Error::Validation { field, message: e.into_inner().to_string() }
    })
}

/// An optional JSON body: empty is `T::default()`, anything else as [`Json`].
pub fn optional_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let value = serde_json::from_slice(body).map_err(|e| Error::BadRequest(format!("the body is not JSON: {e}")))?;
    json_object(value)
}

/// For an optional field that may be absent but not `null`: absent is
/// `None` (with `#[serde(default)]`), `null` is refused as the wrong type.
pub fn non_null<'de, T: serde::Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A text's length as the OpenAPI document counts it (`maxLength`):
/// characters, not bytes.
pub fn chars(text: &str) -> usize {
    text.chars().count()
}

/// Text as `field::text::<MAX>` documents it: not blank, and at most `max`
/// characters as sent; answers it trimmed, or a 422 naming the field.
/// A document's `format`: JSON (the default) or CSV.
pub(crate) fn wants_csv(format: Option<&str>) -> Result<bool> {
    match format {
        None | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(_) => Err(Error::validation("format", "format is json or csv")),
    }
}

/// A CSV document as the answer.
pub(crate) fn csv_answer(body: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    ([(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response()
}

/// A required `YYYY-MM` parameter, as the first day of its month.
pub(crate) fn month_param(field: &str, text: Option<&str>) -> Result<chrono::NaiveDate> {
    let text = text.ok_or_else(|| Error::validation(field, "month is required, as YYYY-MM"))?;
    statements::parse_month(text).ok_or_else(|| Error::validation(field, "month must be YYYY-MM"))
}

pub fn text<'a>(field: &str, value: &'a str, max: usize) -> Result<&'a str> {
    let trimmed = value.trim();
    if trimmed.is_empty() || chars(value) > max {
        return Err(Error::validation(field, format!("{field} must be 1 to {max} characters")));
    }
    Ok(trimmed)
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Query-string extractor with JSON errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Error))]
pub struct Query<T>(pub T);

/// Path extractor: an unparsable id is a 404.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Error))]
pub struct Path<T>(pub T);

/// Beyond `http.max_concurrent_requests` in progress, a request is answered
/// 503 at once rather than queued: the health checks, `/metrics` and the
/// live streams are outside this limit, so a flood never hides the
/// process's state from its orchestrator.
async fn limit_concurrency(
    axum::extract::State(requests): axum::extract::State<Arc<tokio::sync::Semaphore>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match requests.try_acquire_owned() {
        Ok(_permit) => next.run(req).await,
        Err(_) => {
            Error::Overloaded("the server is at its limit of requests in progress; try again shortly").into_response()
        }
    }
}

/// The routes of `/api/v1`, each with its documentation.
fn v1_routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .merge(auth::router())
        .merge(users::router())
        .merge(institutions::router())
        .merge(display::router())
        .merge(divisions::router())
        .merge(enrolments::router())
        .merge(residents::router())
        .merge(devices::router())
        .merge(gateways::router())
        .merge(data::router())
        .merge(quarantine::router())
        .merge(rules::router())
        .merge(backtest::router())
        .merge(alerts::router())
        .merge(webhooks::router())
        .merge(family::router())
        .merge(messages::router())
        .merge(audit::router())
        .merge(services::router())
        .merge(visits::router())
        .merge(responder::router())
        .merge(status::router())
        .merge(statements::router())
        .merge(meals::router())
        .merge(notifications::router())
        .merge(records::router())
        .merge(cockpit::router())
        .merge(district_cockpit::router())
        .merge(applications::router())
        .merge(assessments::router())
        .merge(billing::router())
        .merge(respite::router())
        .merge(matching::router())
        .merge(desk::router())
        .merge(complaints::router())
        .merge(follow_ups::router())
        .merge(inspections::router())
        .merge(scores::router())
        .merge(certificates::router())
        .merge(consents::router())
        .merge(trace::router())
}

/// The routes under the limit of requests in progress.
fn limited_routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .nest("/api/v1", v1_routes())
        .nest("/fhir/r4", fhir::router().into())
        .nest("/open/v1", open_data::router())
        .merge(openapi::router())
        .merge(console::router().into())
}

/// The live streams: outside the request timeout.
fn stream_routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().nest("/api/v1", alerts::stream_router())
}

/// The generated document of every route the server answers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = limited_routes().into_openapi();
    doc.merge(health::router().into_openapi());
    doc.merge(stream_routes().into_openapi());
    doc
}

pub fn router(ctx: ApiContext) -> Router {
    let limited = Router::from(limited_routes())
        .layer(axum::middleware::from_fn_with_state(ctx.requests.clone(), limit_concurrency));
    Router::new()
        .merge(limited)
        .merge(Router::from(health::router()))
        .fallback(|| async { Error::NotFound })
        .method_not_allowed_fallback(|| async {
            let body = serde_json::json!({"error": {"code": "method_not_allowed", "message": "method not allowed on this path"}});
            (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body))
        })
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        // Streams live as long as the client: outside the request timeout.
        .merge(Router::from(stream_routes()))
        .layer(RequestBodyLimitLayer::new(1024 * 1024))
        .layer(TraceLayer::new_for_http())
        .with_state(ctx)
}

/// A list's page size: the contract's default of 200, at most 1000.
pub fn page_limit(limit: Option<i64>) -> Result<i64> {
    let limit = limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(Error::validation("limit", "limit must be between 1 and 1000"));
    }
    Ok(limit)
}

/// A list's query: the page size and where the previous page ended.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    #[param(minimum = 1, maximum = 1000, default = 200, nullable = false)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(schema_with = crate::domain::field::uuid_cursor)]
    pub cursor: Option<String>,
}

/// The `cursor` of a list whose rows are named by `T` (an id): anything else
/// was not given by this list.
pub fn parse_cursor<T: std::str::FromStr>(cursor: Option<&str>) -> Result<Option<T>> {
    cursor.map(|c| c.parse::<T>().map_err(|_| Error::validation("cursor", "not a cursor this list gave"))).transpose()
}

/// The `cursor` of a list whose rows are named by `T`, which must name a row
/// the caller reaches (`reached` says): anyone else's row is refused as a
/// forged cursor is, never used as a position, since the page it starts
/// would tell where that row sorts (its name, a letter at a time).
pub async fn cursor_in_reach<T: std::str::FromStr + Copy>(
    cursor: Option<&str>,
    reached: impl AsyncFnOnce(T) -> Result<bool>,
) -> Result<Option<T>> {
    let Some(row) = parse_cursor::<T>(cursor)? else { return Ok(None) };
    if reached(row).await? { Ok(Some(row)) } else { Err(Error::validation("cursor", "not a cursor this list gave")) }
}

/// Cuts a page read with `limit + 1` rows back to `limit`, and answers the
/// cursor of the next page (the last row kept) when there is one.
pub fn next_page<T>(rows: &mut Vec<T>, limit: i64, cursor: impl Fn(&T) -> String) -> Option<String> {
    if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(cursor)
    } else {
        None
    }
}
