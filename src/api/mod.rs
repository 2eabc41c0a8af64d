//! The HTTP API (axum): one shared context, one router per resource module.

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod console;
pub mod data;
pub mod devices;
pub mod display;
pub mod error;
pub mod family;
pub mod fhir;
pub mod gateways;
pub mod health;
pub mod institutions;
pub mod limits;
pub mod meals;
pub mod messages;
pub mod openapi;
pub mod quarantine;
pub mod residents;
pub mod rules;
pub mod services;
pub mod statements;
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

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::notify::stream::AlertHub;

pub use error::{Error, Result};

#[derive(Clone)]
pub struct ApiContext {
    pub pool: PgPool,
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
}

impl ApiContext {
    pub fn device_registry_changed(&self) {
        self.devices_changed.send_modify(|v| *v += 1);
    }
}

/// JSON body extractor whose rejections are the API's JSON errors.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(Error))]
pub struct Json<T>(pub T);

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

pub fn router(ctx: ApiContext) -> Router {
    let api = Router::new()
        .merge(auth::router())
        .merge(users::router())
        .merge(institutions::router())
        .merge(display::router())
        .merge(residents::router())
        .merge(devices::router())
        .merge(gateways::router())
        .merge(data::router())
        .merge(quarantine::router())
        .merge(rules::router())
        .merge(alerts::router())
        .merge(webhooks::router())
        .merge(family::router())
        .merge(messages::router())
        .merge(audit::router())
        .merge(services::router())
        .merge(visits::router())
        .merge(statements::router())
        .merge(meals::router());
    Router::new()
        .nest("/api/v1", api)
        .nest("/fhir/r4", fhir::router())
        .merge(health::router())
        .merge(openapi::router())
        .merge(console::router())
        .fallback(|| async { Error::NotFound })
        .method_not_allowed_fallback(|| async {
            let body = serde_json::json!({"error": {"code": "method_not_allowed", "message": "method not allowed on this path"}});
            (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body))
        })
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        // Streams live as long as the client: outside the request timeout.
        .merge(Router::new().nest("/api/v1", alerts::stream_router()))
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
