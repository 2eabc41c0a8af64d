//! The pages: the alert console at `/console`, the payers' claims review
//! at `/claims`, the data cockpit at `/cockpit`, the caregiver's phone page
//! at `/carer` and the family app at `/family`, static files
//! embedded in the binary, sharing one page head, one language module, one
//! API client and the server's own vocabulary. No CDN, nothing fetched at
//! build or run time. The pages need no token; their data does.

use std::sync::LazyLock;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;

use super::ApiContext;
use crate::domain::AlertKind;

pub fn router() -> Router<ApiContext> {
    let mut router = Router::new()
        .route("/", get(|| async { Redirect::temporary("/console/") }))
        .route("/console", get(|| async { Redirect::permanent("/console/") }))
        .route("/console/vocabulary.js", get(|| async { asset(JAVASCRIPT, VOCABULARY.as_str()) }))
        .route("/cockpit", get(|| async { Redirect::permanent("/cockpit/") }))
        .route("/carer", get(|| async { Redirect::permanent("/carer/") }))
        .route("/claims", get(|| async { Redirect::permanent("/claims/") }))
        .route("/family", get(|| async { Redirect::permanent("/family/") }))
        // The telephony system opens `/desk?caller=+86...`: the number stays.
        .route(
            "/desk",
            get(|uri: axum::http::Uri| async move {
                Redirect::permanent(&format!("/desk/{}", uri.query().map(|q| format!("?{q}")).unwrap_or_default()))
            }),
        );
    for (index, (path, _, _)) in PAGES.iter().enumerate() {
        router = router.route(path, get(move || async move { asset(HTML, BUILT[index].as_str()) }));
    }
    for &(path, content_type, body) in FILES {
        router = router.route(path, get(move || async move { asset(content_type, body) }));
    }
    router
}

/// The pages' own files, served as they are: where, and as what.
const FILES: &[(&str, &str, &str)] = &[
    ("/console/app.js", JAVASCRIPT, include_str!("../console/app.js")),
    ("/console/app/base.js", JAVASCRIPT, include_str!("../console/app/base.js")),
    ("/console/app/session.js", JAVASCRIPT, include_str!("../console/app/session.js")),
    ("/console/app/alerts.js", JAVASCRIPT, include_str!("../console/app/alerts.js")),
    ("/console/app/push.js", JAVASCRIPT, include_str!("../console/app/push.js")),
    ("/console/app/sound.js", JAVASCRIPT, include_str!("../console/app/sound.js")),
    ("/console/app/panel.js", JAVASCRIPT, include_str!("../console/app/panel.js")),
    ("/console/app/resident.js", JAVASCRIPT, include_str!("../console/app/resident.js")),
    ("/console/app/consents.js", JAVASCRIPT, include_str!("../console/app/consents.js")),
    ("/console/app/backtest.js", JAVASCRIPT, include_str!("../console/app/backtest.js")),
    ("/console/app/views.js", JAVASCRIPT, include_str!("../console/app/views.js")),
    ("/console/app/registry.js", JAVASCRIPT, include_str!("../console/app/registry.js")),
    ("/console/app/register.js", JAVASCRIPT, include_str!("../console/app/register.js")),
    ("/console/app/divisions.js", JAVASCRIPT, include_str!("../console/app/divisions.js")),
    ("/console/app/trace.js", JAVASCRIPT, include_str!("../console/app/trace.js")),
    // The service worker: at /console/, so its scope is the console's.
    ("/console/sw.js", JAVASCRIPT, include_str!("../console/sw.js")),
    ("/console/style.css", CSS, include_str!("../console/style.css")),
    ("/console/board.js", JAVASCRIPT, include_str!("../console/board.js")),
    ("/console/board.css", CSS, include_str!("../console/board.css")),
    ("/console/common.js", JAVASCRIPT, include_str!("../console/common.js")),
    ("/console/i18n.js", JAVASCRIPT, include_str!("../console/i18n.js")),
    ("/cockpit/cockpit.js", JAVASCRIPT, include_str!("../console/cockpit.js")),
    ("/cockpit/district.js", JAVASCRIPT, include_str!("../console/cockpit/district.js")),
    ("/cockpit/svg.js", JAVASCRIPT, include_str!("../console/cockpit/svg.js")),
    ("/cockpit/scores.js", JAVASCRIPT, include_str!("../console/cockpit/scores.js")),
    ("/cockpit/inspections.js", JAVASCRIPT, include_str!("../console/cockpit/inspections.js")),
    ("/cockpit/cockpit.css", CSS, include_str!("../console/cockpit.css")),
    ("/carer/carer.js", JAVASCRIPT, include_str!("../console/carer.js")),
    ("/carer/carer.css", CSS, include_str!("../console/carer.css")),
    ("/claims/claims.js", JAVASCRIPT, include_str!("../console/claims.js")),
    ("/claims/claims.css", CSS, include_str!("../console/claims.css")),
    ("/desk/desk.js", JAVASCRIPT, include_str!("../console/desk.js")),
    ("/desk/follow_ups.js", JAVASCRIPT, include_str!("../console/desk/follow_ups.js")),
    ("/desk/desk.css", CSS, include_str!("../console/desk.css")),
    ("/family/family.js", JAVASCRIPT, include_str!("../console/family.js")),
    ("/family/base.js", JAVASCRIPT, include_str!("../console/family/base.js")),
    ("/family/zh.js", JAVASCRIPT, include_str!("../console/family/zh.js")),
    ("/family/today.js", JAVASCRIPT, include_str!("../console/family/today.js")),
    ("/family/alerts.js", JAVASCRIPT, include_str!("../console/family/alerts.js")),
    ("/family/messages.js", JAVASCRIPT, include_str!("../console/family/messages.js")),
    ("/family/visits.js", JAVASCRIPT, include_str!("../console/family/visits.js")),
    ("/family/meals.js", JAVASCRIPT, include_str!("../console/family/meals.js")),
    ("/family/orders.js", JAVASCRIPT, include_str!("../console/family/orders.js")),
    ("/family/money.js", JAVASCRIPT, include_str!("../console/family/money.js")),
    ("/family/settings.js", JAVASCRIPT, include_str!("../console/family/settings.js")),
    ("/family/family.css", CSS, include_str!("../console/family.css")),
    // Installable: the manifest and its icon; the service worker at
    // /family/, so its scope is the family app's.
    ("/family/manifest.webmanifest", MANIFEST, include_str!("../console/family/manifest.webmanifest")),
    ("/family/icon.svg", SVG, include_str!("../console/family/icon.svg")),
    ("/family/sw.js", JAVASCRIPT, include_str!("../console/family/sw.js")),
];

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

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const MANIFEST: &str = "application/manifest+json";
const SVG: &str = "image/svg+xml";

/// What sets a page's head apart; everything else in it is the same on
/// every page, written once in [`page`].
struct Head {
    title: &'static str,
    /// Whether `i18n.js` translates the page, its title included.
    translated: bool,
    /// The carer's phone page: light, filling the screen round a notch.
    phone: bool,
    styles: &'static [&'static str],
    script: &'static str,
    /// The page's script is an ES module importing its parts.
    module: bool,
    /// An installable app: its web app manifest and its icon.
    app: Option<App>,
}

/// What makes a page an installable app.
struct App {
    manifest: &'static str,
    icon: &'static str,
}

/// A whole page: the shared head, then the page's own body. Every page
/// loads the vocabulary before the shared code that reads it.
fn page(head: &Head, body: &str) -> String {
    let &Head { title, translated, phone, styles, script, module, ref app } = head;
    let mut html = String::from("<!doctype html>\n<html lang=\"en\">\n<head>\n  <meta charset=\"utf-8\">\n");
    let (viewport, scheme) = if phone { (", viewport-fit=cover", "light") } else { ("", "dark") };
    html += &format!("  <meta name=\"viewport\" content=\"width=device-width, initial-scale=1{viewport}\">\n");
    html += &format!("  <meta name=\"color-scheme\" content=\"{scheme}\">\n");
    if phone {
        html += "  <meta name=\"theme-color\" content=\"#0b5cad\">\n";
    }
    if let Some(App { manifest, icon }) = app {
        html += &format!("  <link rel=\"manifest\" href=\"{manifest}\">\n");
        html += &format!("  <link rel=\"icon\" type=\"image/svg+xml\" href=\"{icon}\">\n");
    }
    let i18n_title = if translated { format!(" data-i18n-title=\"{title}\"") } else { String::new() };
    html += &format!("  <title{i18n_title}>{title}</title>\n");
    for style in styles {
        html += &format!("  <link rel=\"stylesheet\" href=\"{style}\">\n");
    }
    html += "  <script src=\"/console/vocabulary.js\" defer></script>\n";
    if translated {
        html += "  <script src=\"/console/i18n.js\" defer></script>\n";
    }
    html += "  <script src=\"/console/common.js\" defer></script>\n";
    // A module is deferred already, and runs after the classic scripts above.
    let kind = if module { " type=\"module\"" } else { " defer" };
    html += &format!("  <script{kind} src=\"{script}\"></script>\n</head>\n");
    html + body
}

/// The pages: where each is served, its head, and its own body.
const PAGES: [(&str, Head, &str); 7] = [
    (
        "/console/",
        Head {
            title: "Alert console · eldercare",
            translated: true,
            phone: false,
            styles: &["/console/style.css"],
            script: "/console/app.js",
            module: true,
            app: None,
        },
        include_str!("../console/index.html"),
    ),
    // The coordinator's board of the day's visits, on the console's session.
    (
        "/console/board",
        Head {
            title: "Today's visits · eldercare",
            translated: false,
            phone: false,
            styles: &["/console/style.css", "/console/board.css"],
            script: "/console/board.js",
            module: false,
            app: None,
        },
        include_str!("../console/board.html"),
    ),
    (
        "/cockpit/",
        Head {
            title: "Data cockpit · eldercare",
            translated: true,
            phone: false,
            styles: &["/cockpit/cockpit.css"],
            script: "/cockpit/cockpit.js",
            module: true,
            app: None,
        },
        include_str!("../console/cockpit.html"),
    ),
    // The caregiver's phone: the day's visits and the door.
    (
        "/carer/",
        Head {
            title: "My visits · eldercare",
            translated: true,
            phone: true,
            styles: &["/carer/carer.css"],
            script: "/carer/carer.js",
            module: false,
            app: None,
        },
        include_str!("../console/carer.html"),
    ),
    // The payers' review of providers' claims, line by line.
    (
        "/claims/",
        Head {
            title: "Claims review · eldercare",
            translated: false,
            phone: false,
            styles: &["/console/style.css", "/claims/claims.css"],
            script: "/claims/claims.js",
            module: false,
            app: None,
        },
        include_str!("../console/claims.html"),
    ),
    // The family's phone: their elder's day, alerts and what is being
    // done, messages, visits, meals, orders and bills.
    (
        "/family/",
        Head {
            title: "Family · eldercare",
            translated: true,
            phone: true,
            styles: &["/family/family.css"],
            script: "/family/family.js",
            module: true,
            app: Some(App { manifest: "/family/manifest.webmanifest", icon: "/family/icon.svg" }),
        },
        include_str!("../console/family.html"),
    ),
    // The hotline desk: who is calling, what is open for her, the check calls.
    (
        "/desk/",
        Head {
            title: "Hotline desk · eldercare",
            translated: true,
            phone: false,
            styles: &["/console/style.css", "/desk/desk.css"],
            script: "/desk/desk.js",
            module: true,
            app: None,
        },
        include_str!("../console/desk.html"),
    ),
];

/// The pages whole, written once.
static BUILT: LazyLock<Vec<String>> = LazyLock::new(|| PAGES.iter().map(|(_, head, body)| page(head, body)).collect());

/// `/console/vocabulary.js`: the alert kinds and their labels, made from
/// the enum so the pages and the service worker never hold a copy that
/// falls behind. A script, not JSON, so the service worker can
/// `importScripts` it and the pages load it before their own code.
static VOCABULARY: LazyLock<String> = LazyLock::new(|| {
    let labels: serde_json::Map<String, serde_json::Value> =
        AlertKind::ALL.into_iter().map(|kind| (kind.as_str().to_owned(), kind_label(kind).into())).collect();
    format!(
        "// Made by the server from its alert kinds.\n'use strict';\n\nself.eldercareVocabulary = {{ KIND_LABELS: {} }};\n",
        serde_json::Value::Object(labels)
    )
});

/// Alert kinds as people read them (English; the pages translate). Every
/// kind has one: a new kind does not compile without its label.
fn kind_label(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Fall => "Fall",
        AlertKind::Sos => "SOS button pressed",
        AlertKind::Smoke => "Smoke",
        AlertKind::Gas => "Gas",
        AlertKind::WaterLeak => "Water leak",
        AlertKind::VitalAbnormal => "Abnormal vital sign",
        AlertKind::MissedMeal => "Missed meal",
        AlertKind::Inactivity => "No activity",
        AlertKind::NoMorningActivity => "No activity this morning",
        AlertKind::NightWandering => "Night wandering",
        AlertKind::BedExitNoReturn => "Out of bed, not back",
        AlertKind::NotReturned => "Out, not back home",
        AlertKind::PresenceCheck => "Did she go out?",
        AlertKind::DeviceOffline => "Device offline",
        AlertKind::LowBattery => "Low battery",
        AlertKind::IngestStalled => "Monitoring stalled: device data not stored",
        AlertKind::IngestFailing => "Monitoring failing to store device data",
        AlertKind::SchedulerStalled => "Timed checks stopped",
        AlertKind::InstitutionSilent => "No data from any device",
        AlertKind::IdentityRevoked => "Device credential revoked: name reserved for the backend",
        AlertKind::VisitLate => "Care visit late",
        AlertKind::VisitMissed => "Care visit missed",
        AlertKind::MealNoAnswer => "Meal delivered: no answer at the door",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    /// A served script or style by its address, as the browser gets it.
    fn served(path: &str) -> Option<&'static str> {
        if path == "/console/vocabulary.js" {
            return Some(super::VOCABULARY.as_str());
        }
        super::FILES.iter().find(|(p, _, _)| *p == path).map(|&(_, _, body)| body)
    }

    /// The quoted `.js` names on a script's import lines (`import ... from
    /// './x.js'`, `import './x.js'`, `importScripts('/a.js', ...)`),
    /// resolved against the script's own address.
    fn imports(from: &str, script: &str) -> Vec<String> {
        let dir = &from[..=from.rfind('/').expect("an absolute address")];
        script
            .lines()
            .map(str::trim_start)
            .filter(|line| {
                line.starts_with("import ") || line.starts_with("importScripts(") || line.starts_with("} from ")
            })
            .flat_map(|line| line.split(['\'', '"']).skip(1).step_by(2).filter(|s| s.ends_with(".js")))
            .map(|name| match name.strip_prefix("./") {
                Some(rest) => format!("{dir}{rest}"),
                None => name.to_owned(),
            })
            .collect()
    }

    /// The family app on a phone's first load: every script and style its
    /// head names, the modules they import and the service worker it
    /// registers, together under 150 kB as served (uncompressed).
    #[test]
    fn the_family_app_loads_under_150_kb_of_script_and_style() {
        let (_, head, body) = super::PAGES.iter().find(|(path, _, _)| *path == "/family/").expect("the family page");
        let html = super::page(head, body);
        let mut queue: Vec<String> = html
            .split(['"'])
            .filter(|s| s.starts_with('/') && (s.ends_with(".js") || s.ends_with(".css")))
            .map(str::to_owned)
            .collect();
        assert!(queue.iter().any(|p| p == "/family/family.js") && queue.iter().any(|p| p == "/family/family.css"));
        queue.push("/family/sw.js".to_owned());
        let mut seen = BTreeSet::new();
        let mut total = 0;
        while let Some(path) = queue.pop() {
            if !seen.insert(path.clone()) {
                continue;
            }
            let text = served(&path).unwrap_or_else(|| panic!("{path} is loaded by /family/ but not served"));
            total += text.len();
            queue.extend(imports(&path, text));
        }
        assert!(seen.contains("/family/alerts.js") && seen.contains("/console/i18n.js"), "{seen:?}");
        eprintln!("/family/ loads {total} bytes of script and style: {seen:?}");
        assert!(total < 150_000, "/family/ loads {total} bytes of script and style: {seen:?}");
    }

    /// A page file added under `src/console` and not embedded here would
    /// answer 404 in the browser and break the page's module graph.
    #[test]
    fn every_file_of_the_pages_is_served() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/console");
        let mut stack = vec![root.clone()];
        let mut missing = Vec::new();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("the pages' directory") {
                let path = entry.expect("an entry").path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let name = path.strip_prefix(&root).expect("under the pages").to_string_lossy().replace('\\', "/");
                let page = name.ends_with(".html");
                let url = format!("/console/{name}");
                let served = super::FILES.iter().any(|(p, _, _)| *p == url || p.ends_with(&format!("/{name}")))
                    || (page && super::PAGES.iter().any(|(_, _, body)| !body.is_empty()));
                if !served {
                    missing.push(name);
                }
            }
        }
        assert!(missing.is_empty(), "files of the pages not served (add them to FILES): {missing:?}");
    }
}
