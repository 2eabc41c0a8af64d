//! Liveness, readiness and Prometheus metrics.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use secrecy::ExposeSecret;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiContext, Error};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz)).routes(routes!(metrics))
}

#[utoipa::path(get, path = "/healthz", summary = "Liveness: 200 while the process runs",
    description = "Who may call it: public.", responses((status = 200, description = "success")))]
async fn healthz() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

/// Ready only while both the database answers and the broker session is up.
#[utoipa::path(get, path = "/readyz",
    summary = "Readiness: 200 while the primary database answers and the broker session is up; `database_error` says why the database is not ready (no primary answers, only a standby answers); `problems` lists what the watchdog finds wrong (a stalled ingest lane, no scheduler leader, an account revoked for a reserved name)",
    description = "Who may call it: public.", responses((status = 200, description = "success")))]
async fn readyz(State(ctx): State<ApiContext>) -> impl IntoResponse {
    // Why the database is not ready, for the operator watching a failover.
    let why = match tokio::time::timeout(Duration::from_secs(2), crate::store::writable(&ctx.pool)).await {
        Ok(Ok(true)) => None,
        Ok(Ok(false)) => Some("connected to a standby (read-only): no primary answers".to_owned()),
        Ok(Err(err)) if crate::store::connection_lost(&err) => Some(format!("no primary answers: {err}")),
        Ok(Err(err)) => Some(format!("the database refused the check: {err}")),
        Err(_) => Some("no primary answers: the database did not answer within 2 s".to_owned()),
    };
    let database = why.is_none();
    ctx.metrics.database_connected.store(database, Ordering::Relaxed);
    let broker = ctx.metrics.broker_connected();
    let status = if database && broker { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    // What the watchdog finds wrong (a stalled lane, no scheduler leader):
    // shown here for operators; the alert console gets an alert for each.
    let body = json!({
        "status": if status == StatusCode::OK { "ready" } else { "not_ready" },
        "database": database,
        "database_error": why,
        "broker": broker,
        "problems": ctx.metrics.problems(),
    });
    (status, axum::Json(body))
}

/// `/metrics` alone, for the address of its own (`metrics.addr`).
pub fn metrics_router(ctx: ApiContext) -> axum::Router {
    Router::new()
        .route("/metrics", get(metrics))
        .fallback(|| async { Error::NotFound })
        .layer(axum::Extension(MetricsListener))
        .with_state(ctx)
}

/// Marks requests that came to the metrics address.
#[derive(Clone, Copy)]
struct MetricsListener;

#[utoipa::path(get, path = "/metrics", summary = "Prometheus metrics", description = "Who may call it: public.",
    responses((status = 200, description = "success")))]
async fn metrics(
    State(ctx): State<ApiContext>,
    on_own_address: Option<axum::Extension<MetricsListener>>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, Error> {
    let settings = &ctx.settings.metrics;
    // With an address of its own, the API address does not serve it.
    if settings.addr.is_some() && on_own_address.is_none() {
        return Err(Error::NotFound);
    }
    if let Some(token) = &settings.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let expected = token.expose_secret().as_bytes();
        // Compared in constant time: the token guards nothing else, but a
        // timing oracle would still give it away byte by byte.
        let same =
            given.len() == expected.len() && given.bytes().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        if !same {
            return Err(Error::Unauthorized);
        }
    }
    let mut body = ctx.metrics.render();
    // The read replica, when there is one.
    body.push_str(&crate::metrics::render_replica(ctx.read.state()));
    // What waits to go out, and the scheduler's heartbeat: read at each
    // scrape, left out of one the database is too slow for.
    match tokio::time::timeout(Duration::from_secs(2), crate::store::outbox::backlog(&ctx.pool)).await {
        Ok(Ok(backlog)) => body.push_str(&crate::metrics::render_backlog(&backlog)),
        Ok(Err(err)) => tracing::warn!(cause = %err, "outbox backlog for /metrics"),
        Err(_) => tracing::warn!("outbox backlog for /metrics took over 2 s"),
    }
    // The answering figures of the last 30 days, per institution, for an
    // existing Grafana; a slow or absent database leaves them out of this
    // scrape rather than holding up the process's own metrics.
    if let Some(recent) = ctx.metrics.recent_answering() {
        body.push_str(&recent);
    } else {
        let since = chrono::Utc::now() - chrono::Duration::days(ANSWERING_WINDOW_DAYS);
        match tokio::time::timeout(Duration::from_secs(2), crate::store::cockpit::answering(&ctx.pool, since)).await {
            Ok(Ok(rows)) => {
                let text = crate::metrics::render_answering(&rows);
                ctx.metrics.set_answering(text.clone());
                body.push_str(&text);
            }
            Ok(Err(err)) => tracing::warn!(cause = %err, "answering figures for /metrics"),
            Err(_) => tracing::warn!("answering figures for /metrics took over 2 s"),
        }
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body))
}

/// The period of the answering gauges in `/metrics`.
const ANSWERING_WINDOW_DAYS: i64 = 30;
