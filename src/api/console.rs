//! The alert console: static files embedded in the binary, served at
//! `/console`. No CDN, nothing fetched at build or run time.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;

use super::ApiContext;

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/console/") }))
        .route("/console", get(|| async { Redirect::permanent("/console/") }))
        .route("/console/", get(|| async { asset("text/html; charset=utf-8", include_str!("../console/index.html")) }))
        .route(
            "/console/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", include_str!("../console/app.js")) }),
        )
        .route(
            "/console/style.css",
            get(|| async { asset("text/css; charset=utf-8", include_str!("../console/style.css")) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body)
}
