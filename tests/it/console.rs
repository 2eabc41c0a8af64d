//! The alert console in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`), driven through chromedriver's W3C WebDriver API: an
//! alert published over MQTT appears without a reload and is handled in the
//! page, and the API shows what the page did.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::support::{
    ADMIN_EMAIL, ADMIN_PASSWORD, OPERATOR_EMAIL, OPERATOR_PASSWORD, PATIENCE, TestApp, wait_for, wait_showing,
};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The key under which WebDriver returns an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver error answer: its code (`no such element`, ...) and message.
#[derive(Debug)]
pub(crate) struct WebDriverError {
    pub(crate) code: String,
    message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// One chromedriver process with one browser session. Dropping it ends the
/// session and the process and removes the browser profile, also when a test
/// panics half-way.
pub(crate) struct Browser {
    http: reqwest::Client,
    port: u16,
    /// `None` once deleted, so drop does not delete it again.
    session: Option<String>,
    driver: Child,
    /// Holds the fresh browser profile; removed on drop.
    dir: PathBuf,
}

/// The phone the carer's page is tested on: an iPhone SE's screen.
pub(crate) const PHONE_WIDTH: u32 = 375;
pub(crate) const PHONE_HEIGHT: u32 = 667;
const PHONE_USER_AGENT: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 \
     (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";

impl Browser {
    pub(crate) async fn start() -> Browser {
        Browser::launch(None).await
    }

    /// A browser emulating a phone (chromedriver's `mobileEmulation`): its
    /// screen, pixel ratio, touch and user agent.
    pub(crate) async fn phone() -> Browser {
        Browser::launch(Some(json!({
            "deviceMetrics": {"width": PHONE_WIDTH, "height": PHONE_HEIGHT, "pixelRatio": 2.0, "touch": true, "mobile": true},
            "userAgent": PHONE_USER_AGENT,
        })))
        .await
    }

    async fn launch(mobile_emulation: Option<Value>) -> Browser {
        for (path, package) in [(CHROMEDRIVER, "chromium-driver"), (CHROMIUM, "chromium")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: the console test needs Debian's chromium and chromium-driver \
                 (apt-get install -y chromium chromium-driver; {package} provides it)"
            );
        }
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("eldercare-console-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create the browser's temp dir");
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut browser = Browser {
            http: reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("http client"),
            port,
            session: None,
            driver,
            dir,
        };
        wait_for("chromedriver to be ready", || async {
            let r = browser.http.get(format!("{}/status", browser.base())).send().await.ok()?;
            let body: Value = r.json().await.ok()?;
            (body["value"]["ready"] == true).then_some(())
        })
        .await;
        let profile = browser.dir.join("profile");
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1600,1000",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let mut options = json!({"binary": CHROMIUM, "args": args});
        if let Some(emulation) = mobile_emulation {
            options["mobileEmulation"] = emulation;
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
        }}});
        let created = browser
            .send(Method::POST, format!("{}/session", browser.base()), Some(capabilities))
            .await
            .unwrap_or_else(|e| panic!("start a Chromium session: {e}"));
        let session = created["sessionId"].as_str().expect("a session id").to_owned();
        browser.session = Some(session);
        browser
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) async fn send(&self, method: Method, url: String, body: Option<Value>) -> Result<Value, WebDriverError> {
        let mut request = self.http.request(method.clone(), &url);
        if method == Method::POST {
            // WebDriver wants a JSON body on every POST, `{}` when there is nothing to say.
            request = request.json(&body.unwrap_or_else(|| json!({})));
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("WebDriver {url}: {e}"));
        let ok = response.status().is_success();
        let body: Value = response.json().await.unwrap_or_else(|e| panic!("WebDriver {url}: body: {e}"));
        let value = body["value"].clone();
        if ok {
            Ok(value)
        } else {
            Err(WebDriverError {
                code: value["error"].as_str().unwrap_or("unknown error").to_owned(),
                message: value["message"].as_str().unwrap_or_default().to_owned(),
            })
        }
    }

    /// A command on this browser session.
    pub(crate) async fn cmd(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, WebDriverError> {
        let session = self.session.as_deref().expect("a live session");
        self.send(method, format!("{}/session/{session}{path}", self.base()), body).await
    }

    /// A Chrome DevTools Protocol command, through chromedriver.
    pub(crate) async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.cmd(Method::POST, "/goog/cdp/execute", Some(json!({"cmd": cmd, "params": params})))
            .await
            .unwrap_or_else(|e| panic!("{cmd}: {e}"))
    }

    /// Lets pages of `origin` read the position, without asking.
    pub(crate) async fn grant_geolocation(&self, origin: &str) {
        self.cdp("Browser.grantPermissions", json!({"origin": origin, "permissions": ["geolocation"]})).await;
    }

    /// Where the browser says it is from now on.
    pub(crate) async fn set_geolocation(&self, lat: f64, lon: f64, accuracy_m: f64) {
        let params = json!({"latitude": lat, "longitude": lon, "accuracy": accuracy_m});
        self.cdp("Emulation.setGeolocationOverride", params).await;
    }

    /// Runs a script in the page and answers what it returns.
    pub(crate) async fn script(&self, script: &str) -> Value {
        self.cmd(Method::POST, "/execute/sync", Some(json!({"script": script, "args": []})))
            .await
            .unwrap_or_else(|e| panic!("run {script:?}: {e}"))
    }

    pub(crate) async fn goto(&self, url: &str) {
        if let Err(e) = self.cmd(Method::POST, "/url", Some(json!({"url": url}))).await {
            panic!("navigate to {url}: {e}");
        }
    }

    pub(crate) async fn find(&self, css: &str) -> Result<String, WebDriverError> {
        let found = self.cmd(Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await?;
        Ok(found[ELEMENT_KEY].as_str().unwrap_or_else(|| panic!("an element reference: {found}")).to_owned())
    }

    pub(crate) async fn find_all(&self, css: &str) -> Vec<String> {
        let found = self
            .cmd(Method::POST, "/elements", Some(json!({"using": "css selector", "value": css})))
            .await
            .expect("find elements");
        found
            .as_array()
            .expect("a list of elements")
            .iter()
            .map(|e| e[ELEMENT_KEY].as_str().expect("an element reference").to_owned())
            .collect()
    }

    /// Waits for an element that matches and is displayed.
    pub(crate) async fn wait_visible(&self, css: &str) -> String {
        wait_for(&format!("{css} to be displayed"), || async {
            let element = self.find(css).await.ok()?;
            let shown = self.cmd(Method::GET, &format!("/element/{element}/displayed"), None).await.ok()?;
            (shown == true).then_some(element)
        })
        .await
    }

    pub(crate) async fn wait_gone(&self, css: &str) {
        wait_for(&format!("{css} to go away"), || async {
            match self.find(css).await {
                Err(e) if e.code == "no such element" => Some(()),
                _ => None,
            }
        })
        .await
    }

    /// Clicks the element, waiting until it exists and takes clicks.
    pub(crate) async fn click(&self, css: &str) {
        wait_for(&format!("a click on {css}"), || async {
            let element = self.find(css).await.ok()?;
            self.cmd(Method::POST, &format!("/element/{element}/click"), None).await.ok()
        })
        .await;
    }

    pub(crate) async fn type_into(&self, css: &str, text: &str) {
        let element = self.wait_visible(css).await;
        self.cmd(Method::POST, &format!("/element/{element}/value"), Some(json!({"text": text})))
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    pub(crate) async fn clear(&self, css: &str) {
        let element = self.wait_visible(css).await;
        if let Err(e) = self.cmd(Method::POST, &format!("/element/{element}/clear"), None).await {
            panic!("clear {css}: {e}");
        }
    }

    /// `None` when the element went stale, as when the page re-rendered it.
    pub(crate) async fn text(&self, element: &str) -> Option<String> {
        let text = self.cmd(Method::GET, &format!("/element/{element}/text"), None).await.ok()?;
        text.as_str().map(str::to_owned)
    }

    pub(crate) async fn attribute(&self, element: &str, name: &str) -> Option<String> {
        let value = self.cmd(Method::GET, &format!("/element/{element}/attribute/{name}"), None).await.ok()?;
        value.as_str().map(str::to_owned)
    }

    /// Waits until the text of the element matching `css` satisfies `pred`; returns it.
    pub(crate) async fn wait_text(&self, css: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
        wait_showing(PATIENCE, &format!("{css} to show {what}"), || async {
            let element = self.find(css).await.map_err(|e| format!("no element: {e:?}"))?;
            match self.text(&element).await {
                Some(text) if pred(&text) => Ok(text),
                Some(text) => Err(format!("{text:?}")),
                None => Err("an element gone stale or without text".into()),
            }
        })
        .await
    }

    pub(crate) async fn wait_attribute(&self, css: &str, name: &str, what: &str, pred: impl Fn(&str) -> bool) {
        wait_for(&format!("{css} to have {name} {what}"), || async {
            let element = self.find(css).await.ok()?;
            self.attribute(&element, name).await.filter(|v| pred(v)).map(|_| ())
        })
        .await
    }

    pub(crate) async fn screenshot(&self, path: &Path) {
        let png = self.cmd(Method::GET, "/screenshot", None).await.expect("screenshot");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("base64 PNG"))
            .expect("decode the screenshot");
        std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    pub(crate) async fn quit(mut self) {
        if let Some(session) = self.session.take() {
            self.send(Method::DELETE, format!("{}/session/{session}", self.base()), None)
                .await
                .expect("end the browser session");
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // No async here: end the session with a plain HTTP request, so the
        // browser closes even when the test panicked.
        if let Some(session) = self.session.take()
            && let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port))
        {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                self.port
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

async fn event(app: &TestApp, device: &str, body: Value) {
    app.broker.publish(&format!("eldercare/v1/{device}/event"), body.to_string()).await;
}

/// The one alert of `kind` the API knows, once it exists.
async fn alert_of_kind(app: &TestApp, token: &str, kind: &str) -> Value {
    wait_for(&format!("a {kind} alert"), || async {
        let body = app.get(&format!("/api/v1/alerts?kind={kind}"), token).await;
        body["alerts"].as_array()?.first().cloned()
    })
    .await
}

/// A day of heart rate and SpO2 for the resident panel's chart, written
/// straight to the table: history, not something the rules should judge.
async fn vitals_history(app: &TestApp, resident: &str) {
    sqlx::query(
        "insert into readings (ts, device_id, resident_id, metric, value)
         select now() - make_interval(mins => m), 'watch-1', $1, metric,
                case metric when 'heart_rate' then 74 + 12 * sin(m / 120.0) else 96 + 2 * cos(m / 200.0) end
         from generate_series(2, 1430, 5) m, unnest(array['heart_rate', 'spo2']) metric",
    )
    .bind(Uuid::parse_str(resident).expect("resident id"))
    .execute(&app.pool)
    .await
    .expect("insert readings");
}

#[tokio::test]
async fn care_staff_see_a_new_alert_live_and_handle_it_in_the_console() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let admin_id = app.get("/api/v1/me", &token).await["id"].as_str().expect("my id").to_owned();
    let rid = app.resident(&token, "Grandma Li").await;
    for (device, kind, room) in [
        ("watch-1", "wearable", "bedroom"),
        ("leak-1", "hazard_sensor", "bathroom"),
        ("sos-1", "sos_button", "bedroom"),
    ] {
        app.device(&token, json!({"device_id": device, "resident_id": rid, "kind": kind, "room": room})).await;
    }
    vitals_history(&app, &rid).await;

    let browser = Browser::start().await;
    browser.goto(&app.url("/console/")).await;
    browser.type_into("[data-testid=login-email]", ADMIN_EMAIL).await;
    browser.type_into("[data-testid=login-password]", "not the password").await;
    browser.click("[data-testid=login-submit]").await;
    browser.wait_text("[data-testid=login-error]", "the refusal", |t| t.contains("Wrong email or password")).await;
    browser.clear("[data-testid=login-password]").await;
    browser.type_into("[data-testid=login-password]", ADMIN_PASSWORD).await;
    browser.click("[data-testid=login-submit]").await;
    let connection = "[data-testid=connection]";
    browser.wait_attribute(connection, "data-state", "connected", |s| s == "connected").await;
    // On a platform of many institutions, the console says whose it is.
    browser
        .wait_text("[data-testid=institution-name]", "the institution's name", |t| t.contains("Default institution"))
        .await;
    browser.click("[data-testid=sound-toggle]").await;
    browser.wait_attribute("[data-testid=sound-toggle]", "aria-pressed", "true", |s| s == "true").await;

    // A high alert, then a critical one: both arrive live, critical on top.
    event(&app, "leak-1", json!({"event": "water_leak", "data": {"room": "bathroom"}})).await;
    let leak = alert_of_kind(&app, &token, "water_leak").await;
    let leak_row = format!("[data-testid=alert-row][data-alert-id='{}']", leak["id"].as_str().expect("id"));
    browser.wait_visible(&leak_row).await;
    event(&app, "watch-1", json!({"event": "fall_detected", "data": {"room": "bathroom"}})).await;
    let fall = alert_of_kind(&app, &token, "fall").await;
    let id = fall["id"].as_str().expect("alert id").to_owned();
    let row = format!("[data-testid=alert-row][data-alert-id='{id}']");
    let text = browser.wait_text(&row, "the fall", |t| t.contains("Fall")).await;
    for expected in ["CRITICAL", "Grandma Li", "Room 12", "Bathroom"] {
        assert!(text.contains(expected), "the fall row shows {expected:?}: {text:?}");
    }
    browser.wait_text(&format!("{row} [data-testid=alert-status]"), "Open", |t| t == "Open").await;
    let rows = browser.find_all("[data-testid=alert-row]").await;
    assert_eq!(browser.attribute(&rows[0], "data-alert-id").await.as_deref(), Some(id.as_str()), "critical first");

    // The clock of time since opened runs by itself.
    let clock = format!("{row} [data-testid=alert-clock]");
    let first = browser.wait_text(&clock, "a time", |t| t.contains(':')).await;
    browser.wait_text(&clock, "a later time", |t| t.contains(':') && t != first).await;

    browser.click(&format!("{row} [data-testid=ack]")).await;
    let acknowledged = wait_for("the API to show the alert acknowledged", || async {
        let alert = app.get(&format!("/api/v1/alerts/{id}"), &token).await;
        (alert["status"] == "acknowledged").then_some(alert)
    })
    .await;
    assert_eq!(acknowledged["acknowledged_by"], admin_id.as_str(), "acknowledged by the admin who clicked");
    browser.wait_text(&format!("{row} [data-testid=alert-status]"), "Acknowledged", |t| t == "Acknowledged").await;

    browser.click(&format!("{row} [data-testid=details]")).await;
    browser.wait_visible("[data-testid=timeline-entry][data-action=acknowledged]").await;
    browser.screenshot(&std::env::temp_dir().join("console.png")).await;

    browser.click("[data-testid=resolution-false_alarm]").await;
    browser.type_into("[data-testid=resolve-note]", "Sensor knocked off the shelf").await;
    browser.click("[data-testid=resolve-submit]").await;
    let resolved = wait_for("the API to show the alert resolved", || async {
        let alert = app.get(&format!("/api/v1/alerts/{id}"), &token).await;
        (alert["status"] == "resolved").then_some(alert)
    })
    .await;
    assert_eq!(resolved["resolution"], "false_alarm");
    assert_eq!(resolved["resolved_by"], admin_id.as_str());
    browser.wait_gone(&row).await;
    browser.wait_text("[data-testid=panel-status]", "resolved", |t| t.contains("False alarm")).await;

    // The resident panel: today's events, the vitals chart, the devices.
    browser.click(&format!("{leak_row} [data-testid=open-resident]")).await;
    browser.wait_visible("[data-testid=chart-heart_rate] svg polyline").await;
    browser.wait_visible("[data-testid=chart-spo2] svg polyline").await;
    browser.wait_visible("[data-testid=devices] tr[data-device-id=watch-1]").await;
    browser.wait_text("[data-testid=today-summary]", "the fall", |t| t.contains("Fall detected")).await;
    browser
        .wait_text("[data-testid=recent-alerts]", "both alerts", |t| t.contains("Fall") && t.contains("Water leak"))
        .await;
    browser.screenshot(&std::env::temp_dir().join("console-resident.png")).await;

    // The server goes away and the stream with it; meanwhile the water leak
    // is resolved behind the console's back. Once the server is back the
    // console reconnects by itself, reloads the list, and follows new alerts.
    let addr: SocketAddr = app.base.trim_start_matches("http://").parse().expect("the app's address");
    let (broker, database_url) = app.stop().await;
    browser.wait_attribute(connection, "data-state", "disconnected", |s| s == "disconnected").await;
    browser.click(&format!("{leak_row} [data-testid=ack]")).await;
    browser.wait_text("[data-testid=error]", "the failure", |t| t.contains("Could not acknowledge")).await;
    let mut db = PgConnection::connect(&database_url).await.expect("connect to the test database");
    sqlx::query(
        "update alerts set status = 'resolved', resolution = 'handled', resolved_at = now(), updated_at = now()
         where kind = 'water_leak'",
    )
    .execute(&mut db)
    .await
    .expect("resolve the leak");
    let app = TestApp::spawn_with(broker, database_url, |s| s.http.addr = addr).await;
    browser.wait_attribute(connection, "data-state", "connected", |s| s == "connected").await;
    browser.wait_gone(&leak_row).await;
    event(&app, "sos-1", json!({"event": "sos_pressed", "data": {}})).await;
    let sos = alert_of_kind(&app, &token, "sos").await;
    let sos_row = format!("[data-testid=alert-row][data-alert-id='{}']", sos["id"].as_str().expect("id"));
    browser.wait_visible(&sos_row).await;
    browser.wait_attribute(&sos_row, "class", "flash (a new critical alert)", |c| c.contains("flash")).await;

    // Logging out revokes the page's token on the server and forgets it.
    let script = json!({"script": "return sessionStorage.getItem('eldercare.console.token')", "args": []});
    let page_token = browser.cmd(Method::POST, "/execute/sync", Some(script.clone())).await.expect("read the token");
    let page_token = page_token.as_str().expect("the page keeps a token").to_owned();
    assert_eq!(app.call("GET", "/api/v1/me", Some(&page_token), None).await.0, StatusCode::OK);
    browser.click("[data-testid=logout]").await;
    browser.wait_visible("[data-testid=login-email]").await;
    let (status, _) = app.call("GET", "/api/v1/me", Some(&page_token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the token is revoked");
    let left = browser.cmd(Method::POST, "/execute/sync", Some(script)).await.expect("read the token");
    assert_eq!(left, Value::Null, "the page forgot the token");
    browser.quit().await;
}

#[tokio::test]
async fn the_console_and_its_assets_send_security_headers() {
    let app = TestApp::spawn().await;
    let page = app.http.get(app.url("/console/")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("<script>") && !page.contains("<style") && !page.contains(" style="), "inline code");
    for path in ["/console/", "/console/app.js", "/console/style.css"] {
        let r = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let header = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let csp = header("content-security-policy");
        for directive in ["script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'"] {
            assert!(csp.split(';').any(|d| d.trim() == directive), "{path}: {directive} missing in {csp:?}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{path}: {csp}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
    }
}

#[tokio::test]
async fn every_page_reads_the_alert_kinds_from_the_server_under_one_head() {
    let app = TestApp::spawn().await;
    let r = app.http.get(app.url("/console/vocabulary.js")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let header = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(header("content-type"), "text/javascript; charset=utf-8");
    assert!(header("content-security-policy").contains("script-src 'self'"));
    assert_eq!(header("x-content-type-options"), "nosniff");
    let script = r.text().await.unwrap();
    for kind in eldercare::domain::AlertKind::ALL {
        assert!(script.contains(&format!("\"{kind}\":")), "{kind} has no label in {script}");
    }
    for path in ["/console/", "/console/board", "/cockpit/", "/carer/", "/claims/", "/family/"] {
        let page = app.http.get(app.url(path)).send().await.unwrap().text().await.unwrap();
        let at = |needle: &str| page.find(needle).unwrap_or_else(|| panic!("{path}: no {needle}"));
        assert!(at("/console/vocabulary.js") < at("/console/common.js"), "{path}: the vocabulary comes first");
        assert!(page.starts_with("<!doctype html>") && at("</head>") < at("<body>"), "{path}");
        assert!(!page.contains("<script>") && !page.contains("<style") && !page.contains(" style="), "{path}");
    }
}

/// Logs the browser into the console as the admin.
async fn log_in(browser: &Browser) {
    browser.type_into("[data-testid=login-email]", ADMIN_EMAIL).await;
    browser.type_into("[data-testid=login-password]", ADMIN_PASSWORD).await;
    browser.click("[data-testid=login-submit]").await;
    let connection = "[data-testid=connection]";
    browser.wait_attribute(connection, "data-state", "connected", |s| s == "connected").await;
}

#[tokio::test]
async fn staff_try_other_settings_on_a_residents_history_in_the_resident_panel() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let rid = app.resident(&token, "Grandpa Zhou").await;
    for (device, kind, room) in [("m-1", "motion_sensor", "living_room"), ("sos-1", "sos_button", "bedroom")] {
        app.device(&token, json!({"device_id": device, "resident_id": rid, "kind": kind, "room": room})).await;
    }
    // Four days of history: movement on most hours from 08:00 to 20:00 in
    // Shanghai, with a quiet hour or three between.
    sqlx::query(
        "insert into events (ts, device_id, resident_id, kind, data)
         select d + make_interval(hours => h), 'm-1', $1, 'motion', '{}'
         from generate_series(date_trunc('day', now()) - interval '5 days', date_trunc('day', now()) - interval '2 days',
                              interval '1 day') d,
              unnest(array[0, 1, 2, 4, 5, 9, 10, 11, 12]) h",
    )
    .bind(Uuid::parse_str(&rid).expect("resident id"))
    .execute(&app.pool)
    .await
    .expect("insert events");
    event(&app, "sos-1", json!({"event": "sos_pressed", "data": {}})).await;
    let sos = alert_of_kind(&app, &token, "sos").await;

    let browser = Browser::start().await;
    browser.goto(&app.url("/console/")).await;
    log_in(&browser).await;
    let row = format!("[data-testid=alert-row][data-alert-id='{}']", sos["id"].as_str().expect("id"));
    browser.click(&format!("{row} [data-testid=open-resident]")).await;
    browser.wait_visible("[data-testid=backtest-form]").await;
    browser.clear("[data-testid=backtest-inactivity]").await;
    browser.type_into("[data-testid=backtest-inactivity]", "1.5").await;
    browser.click("[data-testid=backtest-submit]").await;
    let cell = "[data-testid=backtest-table] tr[data-kind=inactivity] [data-testid=backtest-count]";
    let shown = browser.wait_text(cell, "a count", |t| t.parse::<u64>().is_ok()).await;
    browser.screenshot(&std::env::temp_dir().join("console-backtest.png")).await;

    // The page shows what the API answers for the same period and settings,
    // next to what was actually raised.
    let table = browser.find("[data-testid=backtest-result] > div").await.expect("the result");
    let from = browser.attribute(&table, "data-from").await.expect("data-from");
    let to = browser.attribute(&table, "data-to").await.expect("data-to");
    let body = json!({"from": from, "to": to, "settings": {"inactivity": {"hours": 1.5}}});
    let report = app.post(&format!("/api/v1/residents/{rid}/backtest"), &token, body).await;
    let expected = report["by_kind"]["inactivity"].as_u64().expect("inactivity counted");
    assert!(expected >= 8, "two quiet spells a day at least: {report}");
    assert_eq!(shown, expected.to_string());
    let sos_raised = "[data-testid=backtest-table] tr[data-kind=sos] [data-testid=actual-count]";
    browser.wait_text(sos_raised, "the SOS actually raised", |t| t == "1").await;
    browser.quit().await;
}

/// The service worker shares the alert kinds' names with the pages
/// (`importScripts` of common.js): it must install and activate in a real
/// browser, or no push would ever show.
#[tokio::test]
async fn the_service_worker_installs_with_the_shared_names() {
    let app = TestApp::spawn().await;
    let browser = Browser::start().await;
    browser.goto(&app.url("/console/")).await;
    let script = "const done = arguments[arguments.length - 1];
        navigator.serviceWorker.register('/console/sw.js')
          .then(() => navigator.serviceWorker.ready)
          .then((r) => done(r.active ? r.active.state : 'none'))
          .catch((e) => done('failed: ' + e));";
    let state = browser
        .cmd(Method::POST, "/execute/async", Some(json!({"script": script, "args": []})))
        .await
        .expect("register the service worker");
    assert!(matches!(state.as_str(), Some("activated" | "activating")), "{state}");
    browser.quit().await;
}

/// A display link (`#display=<token>`) opened in a tab that is signed in
/// asks before it replaces the session: a link alone must not swap a
/// nurse's session for an account of the sender's choosing.
#[tokio::test]
async fn a_display_link_never_replaces_a_signed_in_session_without_asking() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let display = app.post("/api/v1/display-tokens", &admin, json!({"label": "Hall screen"})).await;
    let display_token = display["token"].as_str().expect("a display token").to_owned();
    let session = "return sessionStorage.getItem('eldercare.console.token')";

    let browser = Browser::start().await;
    browser.goto(&app.url("/console/")).await;
    log_in(&browser).await;
    let signed_in = browser.script(session).await;
    assert!(signed_in.as_str().is_some_and(|t| t != display_token), "{signed_in}");

    // Declined: the session stays, and the token leaves the address bar.
    browser.goto(&app.url(&format!("/console/?from=link#display={display_token}"))).await;
    browser.wait_visible("[data-testid=display-offer]").await;
    browser.click("[data-testid=display-keep]").await;
    browser.wait_gone("[data-testid=display-offer]").await;
    browser.wait_attribute("[data-testid=connection]", "data-state", "connected", |s| s == "connected").await;
    assert_eq!(browser.script(session).await, signed_in, "the signed-in session is kept");
    let address = browser.script("return location.href").await;
    assert!(!address.as_str().unwrap_or_default().contains(&display_token), "{address}");

    // Accepted: the tab becomes the wall screen.
    browser.goto(&app.url(&format!("/console/?from=link-again#display={display_token}"))).await;
    browser.wait_visible("[data-testid=display-offer]").await;
    browser.click("[data-testid=display-accept]").await;
    browser.wait_attribute("[data-testid=connection]", "data-state", "connected", |s| s == "connected").await;
    assert_eq!(browser.script(session).await, json!(display_token));

    // In a tab with no session, the link is the session: nothing to ask.
    browser.script("sessionStorage.clear(); return null").await;
    browser.goto(&app.url(&format!("/console/?from=fresh#display={display_token}"))).await;
    browser.wait_attribute("[data-testid=connection]", "data-state", "connected", |s| s == "connected").await;
    assert!(browser.find_all("[data-testid=display-offer]").await.is_empty());
    assert_eq!(browser.script(session).await, json!(display_token));
    browser.quit().await;
}

/// An id number with the check digit GB 11643 gives it.
fn id_number(body17: &str) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let sum: u32 = body17.bytes().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    format!("{body17}{}", CHECK[(sum % 11) as usize] as char)
}

/// Logs the browser into the console as someone, and waits for `ready`.
async fn log_in_as(browser: &Browser, email: &str, password: &str, ready: &str) {
    browser.type_into("[data-testid=login-email]", email).await;
    browser.type_into("[data-testid=login-password]", password).await;
    browser.click("[data-testid=login-submit]").await;
    browser.wait_visible(ready).await;
}

/// The civil-affairs bureau finds an elder of its street in the registry by
/// her masked id number or her name and sees who she is and which
/// institution she is enrolled with, never her health; the institution's
/// admin sees the same in the resident panel and ends the enrolment there;
/// the operator browses and extends the ladder of divisions.
#[tokio::test]
async fn the_registry_in_the_console_for_the_bureau_the_admin_and_the_operator() {
    let app = TestApp::spawn().await;
    let operator = app.operator_token().await;
    for (code, name, level) in [
        ("330205", "Jiangbei District", "district"),
        ("330205001", "Zhuangqiao Street", "street"),
        ("330205001001", "Riverside Community", "community"),
    ] {
        let body = json!({"code": code, "name": name, "level": level});
        let (status, answer) = app.call("POST", "/api/v1/divisions", Some(&operator), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    let admin = app.admin_token().await;
    let number = id_number("33020519450312002");
    let masked = format!("330205********{}", &number[14..]);
    let registration = json!({"name": "Wang Fang", "id_number": number, "division": "330205001001",
        "household": "alone", "economic_status": "dibao", "phone": "138 0000 0000"});
    let (status, wang) = app.call("POST", "/api/v1/residents", Some(&admin), Some(registration)).await;
    assert_eq!(status, StatusCode::CREATED, "{wang}");
    assert_eq!(wang["id_number"], masked.as_str());
    let rid = wang["id"].as_str().expect("a resident").to_owned();
    let bureau = json!({"email": "bureau@street.example", "password": "long enough pw", "name": "Street bureau",
        "role": "civil_affairs", "division": "330205001"});
    let (status, answer) = app.call("POST", "/api/v1/users", Some(&operator), Some(bureau)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let bureau = app.login("bureau@street.example", "long enough pw").await;

    // The bureau logs in to the registry: no alert list, no live stream.
    let browser = Browser::start().await;
    browser.goto(&app.url("/console/")).await;
    log_in_as(&browser, "bureau@street.example", "long enough pw", "[data-testid=registry-q]").await;
    for hidden in ["[data-testid=alert-list]", "[data-testid=connection]", "[data-testid=views]"] {
        let element = browser.find(hidden).await.expect(hidden);
        let shown = browser.cmd(Method::GET, &format!("/element/{element}/displayed"), None).await.expect("displayed");
        assert_eq!(shown, false, "{hidden} is not shown to the bureau");
    }
    let row = format!("[data-testid=registry-row][data-resident-id='{rid}']");
    // Found by the masked id number, as printed on a form.
    browser.type_into("[data-testid=registry-q]", &masked).await;
    browser.click("[data-testid=registry-submit]").await;
    browser.wait_text("[data-testid=registry-status]", "one found", |t| t.contains("1 shown")).await;
    let text = browser.wait_text(&row, "Wang Fang", |t| t.contains("Wang Fang")).await;
    for expected in [masked.as_str(), "330205001001", "Lives alone"] {
        assert!(text.contains(expected), "the row shows {expected:?}: {text:?}");
    }
    // Nobody by another name; found again by part of hers.
    browser.clear("[data-testid=registry-q]").await;
    browser.type_into("[data-testid=registry-q]", "Li Wei").await;
    browser.click("[data-testid=registry-submit]").await;
    browser.wait_text("[data-testid=registry-status]", "nobody", |t| t.contains("Nobody found")).await;
    browser.wait_gone(&row).await;
    browser.clear("[data-testid=registry-q]").await;
    browser.type_into("[data-testid=registry-q]", "wang").await;
    browser.click("[data-testid=registry-submit]").await;
    browser.click(&format!("{row} [data-testid=registry-open]")).await;
    browser.wait_text("[data-testid=resident-id-number]", "the masked number", |t| t == masked).await;
    browser.wait_text("[data-testid=resident-gender]", "her gender", |t| t == "Female").await;
    browser.wait_text("[data-testid=resident-economic-status]", "dibao", |t| t.contains("dibao")).await;
    let enrolment = browser
        .wait_text("[data-testid=enrolment]", "her enrolment", |t| {
            t.contains("Default institution") && t.contains("Active")
        })
        .await;
    assert!(enrolment.contains("Monitoring") && enrolment.contains("Meals"), "{enrolment}");
    // Identity only: no health section, and her whole number nowhere.
    for health in ["resident-vitals", "resident-today", "resident-devices", "resident-alerts"] {
        assert!(browser.find_all(&format!("[data-testid={health}]")).await.is_empty(), "{health} shown to the bureau");
    }
    let page = browser.script("return document.documentElement.outerHTML").await;
    assert!(!page.as_str().unwrap_or_default().contains(&number), "the whole id number is never on the page");
    browser.screenshot(&std::env::temp_dir().join("console-registry.png")).await;
    browser.click("[data-testid=logout]").await;

    // She was out this morning for twenty minutes, as the scheduler
    // recorded it.
    sqlx::query(
        "insert into presence_periods (resident_id, presence, started_at, ended_at) values
           ($1::uuid, 'in', now() - interval '2 hours', now() - interval '30 minutes'),
           ($1::uuid, 'out', now() - interval '30 minutes', now() - interval '10 minutes'),
           ($1::uuid, 'in', now() - interval '10 minutes', null)",
    )
    .bind(&rid)
    .execute(&app.pool)
    .await
    .expect("presence periods");

    // The admin of the institution sees the registry fields and the
    // enrolment in the resident panel, and ends the enrolment from there.
    log_in_as(&browser, ADMIN_EMAIL, ADMIN_PASSWORD, "[data-testid=view-registry]").await;
    browser.wait_attribute("[data-testid=connection]", "data-state", "connected", |s| s == "connected").await;
    browser.click("[data-testid=view-registry]").await;
    browser.wait_visible(&row).await;
    browser.click(&format!("{row} [data-testid=registry-open]")).await;
    browser.wait_visible("[data-testid=resident-devices]").await;
    browser.wait_text("[data-testid=resident-id-number]", "the masked number", |t| t == masked).await;
    browser.wait_text("[data-testid=resident-phone]", "her phone", |t| t == "13800000000").await;
    browser.wait_text("[data-testid=resident-age]", "her age", |t| t.contains("years")).await;
    // Her routine is still being learned: no day of history yet.
    browser.wait_text("[data-testid=routine-learning]", "her routine", |t| t.contains("0 of 7 days")).await;
    browser
        .wait_text("[data-testid=resident-presence-today]", "her morning out", |t| t.starts_with("Today: out "))
        .await;
    browser
        .wait_text("[data-testid=enrolment][data-active=true]", "the enrolment", |t| t.contains("Default institution"))
        .await;
    browser.click("[data-testid=enrolment-end]").await;
    browser
        .wait_text("[data-testid=enrolment-end-question]", "a question first", |t| t.contains("End the enrolment"))
        .await;
    let enrolments = app.get(&format!("/api/v1/residents/{rid}/enrolments"), &bureau).await;
    assert_eq!(enrolments["enrolments"][0]["active"], true, "nothing ends before the answer");
    browser.click("[data-testid=enrolment-end-confirm]").await;
    browser
        .wait_text("[data-testid=enrolment][data-active=false]", "the enrolment ended", |t| t.contains("Ended"))
        .await;
    let enrolments = app.get(&format!("/api/v1/residents/{rid}/enrolments"), &bureau).await;
    assert_eq!(enrolments["enrolments"][0]["active"], false, "{enrolments}");
    browser.click("[data-testid=logout]").await;

    // The operator walks down the ladder, adds a community under the street
    // and places the institution in it.
    log_in_as(&browser, OPERATOR_EMAIL, OPERATOR_PASSWORD, "[data-testid=view-divisions]").await;
    browser.click("[data-testid=view-divisions]").await;
    browser.wait_visible("[data-testid=division-row][data-code='330205']").await;
    browser.click("[data-testid=division-row][data-code='330205'] [data-testid=division-open]").await;
    browser.click("[data-testid=division-row][data-code='330205001'] [data-testid=division-open]").await;
    browser.wait_text("[data-testid=division-current]", "the street", |t| t.contains("Zhuangqiao Street")).await;
    browser.wait_visible("[data-testid=division-row][data-code='330205001001']").await;
    browser.clear("[data-testid=division-code]").await;
    browser.type_into("[data-testid=division-code]", "330205001002").await;
    browser.type_into("[data-testid=division-name]", "East Gate Community").await;
    browser.click("[data-testid=division-create]").await;
    browser
        .wait_text("[data-testid=division-row][data-code='330205001002']", "the new community", |t| {
            t.contains("East Gate Community") && t.contains("Community")
        })
        .await;
    let children = app.get("/api/v1/divisions?parent=330205001", &operator).await;
    let made =
        children["divisions"].as_array().expect("divisions").iter().find(|d| d["code"] == "330205001002").cloned();
    assert_eq!(made.map(|d| d["level"].clone()), Some(json!("community")), "{children}");
    browser
        .wait_text("[data-testid=institution-select]", "the institution", |t| t.contains("Default institution"))
        .await;
    browser.clear("[data-testid=institution-division]").await;
    browser.type_into("[data-testid=institution-division]", "330205001002").await;
    browser.click("[data-testid=institution-division-save]").await;
    browser.wait_text("[data-testid=institution-current]", "its division", |t| t.contains("330205001002")).await;
    let institutions = app.get("/api/v1/institutions", &operator).await;
    let default = institutions["institutions"]
        .as_array()
        .expect("institutions")
        .iter()
        .find(|i| i["name"] == "Default institution")
        .cloned();
    assert_eq!(default.map(|i| i["division"].clone()), Some(json!("330205001002")), "{institutions}");
    browser.quit().await;
}

/// A second provider's admin registers an elder another institution has
/// registered already: the console says she is on the registry, and enrols
/// her for the services ticked, on the consent recorded; a new elder is
/// registered outright.
#[tokio::test]
async fn an_admin_registers_an_elder_or_enrols_her_when_she_is_on_the_registry_already() {
    let app = TestApp::spawn().await;
    let operator = app.operator_token().await;
    let first = app.admin_token().await;
    let number = id_number("33020519470815003");
    let (status, wang) = app
        .call("POST", "/api/v1/residents", Some(&first), Some(json!({"name": "Wang Fang", "id_number": number})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{wang}");
    let rid = wang["id"].as_str().unwrap().to_owned();
    let canteen = app
        .post(
            "/api/v1/institutions",
            &operator,
            json!({"name": "Canteen", "kind": "canteen", "timezone": "Asia/Shanghai"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = json!({"email": "canteen@test.example", "password": "long enough pw", "role": "admin", "name": "C"});
    app.post(&format!("/api/v1/institutions/{canteen}/users"), &operator, admin).await;
    let canteen_token = app.login("canteen@test.example", "long enough pw").await;

    let browser = Browser::start().await;
    browser.goto(&app.url("/console/")).await;
    log_in_as(&browser, "canteen@test.example", "long enough pw", "[data-testid=view-registry]").await;
    browser.click("[data-testid=view-registry]").await;
    browser.click("[data-testid=register] summary").await;
    browser.type_into("[data-testid=register-name]", "Wang Fang").await;
    browser.type_into("[data-testid=register-id-number]", &number).await;
    browser.click("[data-testid=register-submit]").await;
    browser.wait_text("[data-testid=register-exists]", "she is registered", |t| t.contains("on the registry")).await;
    assert_eq!(app.count("select count(*) from residents").await, 1, "no second record of her");
    // A canteen: meals only, on her family's written consent.
    for service in ["monitoring", "home_care", "day_care", "residential"] {
        browser.click(&format!("[data-testid=enrol-services] input[value={service}]")).await;
    }
    browser
        .script("const s = document.getElementById('enrol-consent-by'); s.value = 'family'; s.dispatchEvent(new Event('change')); return s.value")
        .await;
    browser.click("[data-testid=enrol-submit]").await;
    browser.wait_text("[data-testid=resident-id-number]", "her panel", |t| t.contains("********")).await;
    let enrolments = app.get(&format!("/api/v1/residents/{rid}/enrolments"), &canteen_token).await;
    let mine: Vec<&Value> = enrolments["enrolments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["institution_id"] == canteen.as_str())
        .collect();
    assert_eq!(mine.len(), 1, "{enrolments}");
    assert_eq!(mine[0]["services"], json!(["meals"]));
    // Meals only: her readings stay out of reach.
    let (status, _) = app
        .call("GET", &format!("/api/v1/residents/{rid}/readings?metric=heart_rate"), Some(&canteen_token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Someone new is registered outright, and opened.
    browser.click("[data-testid=register] summary").await;
    browser.type_into("[data-testid=register-name]", "Zhou Lan").await;
    browser.click("[data-testid=register-submit]").await;
    browser.wait_text("#panel-title", "her panel", |t| t.contains("Zhou Lan")).await;
    let found = app.get("/api/v1/residents?q=Zhou", &canteen_token).await;
    assert_eq!(found["residents"].as_array().map(Vec::len), Some(1), "{found}");
}
