//! The pages: the alert console at `/console`, the data cockpit at
//! `/cockpit` and the caregiver's phone page at `/carer`, static files
//! embedded in the binary, sharing one language module and one API client. No CDN, nothing fetched at build or run time. The pages need no
//! token; their data does.

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
        // The service worker: at /console/, so its scope is the console's.
        .route(
            "/console/sw.js",
            get(|| async { asset("text/javascript; charset=utf-8", include_str!("../console/sw.js")) }),
        )
        .route(
            "/console/style.css",
            get(|| async { asset("text/css; charset=utf-8", include_str!("../console/style.css")) }),
        )
        // The coordinator's board of the day's visits, on the console's session.
        .route(
            "/console/board",
            get(|| async { asset("text/html; charset=utf-8", include_str!("../console/board.html")) }),
        )
        .route(
            "/console/board.js",
            get(|| async { asset("text/javascript; charset=utf-8", include_str!("../console/board.js")) }),
        )
        .route(
            "/console/board.css",
            get(|| async { asset("text/css; charset=utf-8", include_str!("../console/board.css")) }),
        )
        .route(
            "/console/common.js",
            get(|| async { asset("text/javascript; charset=utf-8", include_str!("../console/common.js")) }),
        )
        .route(
            "/console/i18n.js",
            get(|| async { asset("text/javascript; charset=utf-8", include_str!("../console/i18n.js")) }),
        )
        .route("/cockpit", get(|| async { Redirect::permanent("/cockpit/") }))
        .route(
            "/cockpit/",
            get(|| async { asset("text/html; charset=utf-8", include_str!("../console/cockpit.html")) }),
        )
        .route(
            "/cockpit/cockpit.js",
            get(|| async { asset("text/javascript; charset=utf-8", include_str!("../console/cockpit.js")) }),
        )
        .route(
            "/cockpit/cockpit.css",
            get(|| async { asset("text/css; charset=utf-8", include_str!("../console/cockpit.css")) }),
        )
        // The caregiver's phone: the day's visits and the door.
        .route("/carer", get(|| async { Redirect::permanent("/carer/") }))
        .route("/carer/", get(|| async { asset("text/html; charset=utf-8", include_str!("../console/carer.html")) }))
        .route(
            "/carer/carer.js",
            get(|| async { asset("text/javascript; charset=utf-8", include_str!("../console/carer.js")) }),
        )
        .route(
            "/carer/carer.css",
            get(|| async { asset("text/css; charset=utf-8", include_str!("../console/carer.css")) }),
        )
}

/// The page runs only its own files: no inline script or style, nothing
/// from elsewhere, and no framing, so an injected string cannot run as code
/// and another site cannot overlay the console to trick a click on an alarm.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            // Served as the type it is declared, never sniffed into script.
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // Resident ids in the console's URLs stay on this site.
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
}
