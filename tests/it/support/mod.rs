//! Test harness: a real PostgreSQL database and a real Mosquitto broker per
//! test, and the real application built on port 0.

pub mod broker;
pub mod cluster;
pub mod home;

use std::future::Future;
use std::sync::Once;
use std::time::{Duration, Instant};

use eldercare::app::Application;
use eldercare::config::Settings;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

pub use broker::Broker;

pub const ADMIN_EMAIL: &str = "admin@test.example";
pub const ADMIN_PASSWORD: &str = "correct horse battery";
pub const OPERATOR_EMAIL: &str = "operator@test.example";
pub const OPERATOR_PASSWORD: &str = "platform operator pw";

/// The sealing key of the tests' settings: key safe codes and gateway
/// secrets are stored only sealed.
pub const SECRET_KEY: &str = "test-key-sealing-secrets-at-rest-0123456";

/// How long a test waits for a condition before failing.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Reads `.run/env` (written by scripts/services.sh) when the variables are
/// not already set, so `cargo test` works after the services script.
pub fn env_var(name: &str) -> String {
    static LOAD: Once = Once::new();
    LOAD.call_once(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/.run/env");
        if let Ok(text) = std::fs::read_to_string(path) {
            for line in text.lines() {
                if let Some((k, v)) = line.trim_start_matches("export ").split_once('=')
                    && std::env::var_os(k).is_none()
                {
                    // SAFETY: set once, before any test thread reads the environment.
                    unsafe { std::env::set_var(k, v) };
                }
            }
        }
        if std::env::var_os("TEST_LOG").is_some() {
            eldercare::telemetry::init(false, "info,sqlx=warn", std::io::stdout);
        }
    });
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/services.sh first"))
}

/// An HTTP client for tests that talk to a backend in another process:
/// reqwest is built without a default crypto provider, and no application
/// in this process may have installed one yet.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A fresh database on the test server with every migration applied: a
/// copy of a template migrated once per set of migrations, so a test starts
/// in milliseconds rather than after running 40-odd migrations of its own.
pub async fn fresh_database() -> String {
    new_database(Some(migrated_template().await)).await
}

/// A fresh, empty database on the test server: for the tests of the
/// migrations themselves.
pub async fn empty_database() -> String {
    new_database(None).await
}

async fn new_database(template: Option<&str>) -> String {
    let base = env_var("DATABASE_URL");
    let mut conn = PgConnection::connect(&base).await.expect("connect to the test PostgreSQL");
    let name = format!("eldercare_test_{}", uuid::Uuid::new_v4().simple());
    let from = template.map(|t| format!(" template {t}")).unwrap_or_default();
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}{from}")))
        .execute(&mut conn)
        .await
        .expect("create db");
    let (prefix, _) = base.rsplit_once('/').expect("DATABASE_URL has a database name");
    format!("{prefix}/{name}")
}

/// The template database for this set of migrations, made by the first test
/// that needs it. Named after the migrations' checksums, so a changed or added
/// migration gets a template of its own; an advisory lock keeps two test
/// processes from making it at once, and a template is marked as one only
/// once it is whole.
async fn migrated_template() -> &'static str {
    static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            for m in eldercare::store::MIGRATOR.iter() {
                (m.version, &*m.checksum).hash(&mut hasher);
            }
            let name = format!("eldercare_template_{:016x}", hasher.finish());
            let base = env_var("DATABASE_URL");
            let mut conn = PgConnection::connect(&base).await.expect("connect to the test PostgreSQL");
            let lock = "select pg_advisory_lock(hashtextextended('eldercare test template', 0))";
            sqlx::query(lock).execute(&mut conn).await.expect("template lock");
            let whole: bool =
                sqlx::query_scalar("select exists (select from pg_database where datname = $1 and datistemplate)")
                    .bind(&name)
                    .fetch_one(&mut conn)
                    .await
                    .expect("look for the template");
            if !whole {
                for sql in [format!("drop database if exists {name}"), format!("create database {name}")] {
                    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.expect("make the template");
                }
                let (prefix, _) = base.rsplit_once('/').expect("DATABASE_URL has a database name");
                let pool = PgPool::connect(&format!("{prefix}/{name}")).await.expect("connect to the template");
                eldercare::store::migrate(&pool).await.expect("migrate the template");
                pool.close().await;
                let mark = format!("alter database {name} is_template true");
                sqlx::query(sqlx::AssertSqlSafe(mark)).execute(&mut conn).await.expect("mark the template");
            }
            let unlock = "select pg_advisory_unlock(hashtextextended('eldercare test template', 0))";
            sqlx::query(unlock).execute(&mut conn).await.expect("template unlock");
            name
        })
        .await
}

/// Waits until `check` returns `Some`, polling; panics after [`PATIENCE`].
pub async fn wait_for<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    wait_within(PATIENCE, what, check).await
}

/// [`wait_for`] with the patience of a longer run.
pub async fn wait_within<T, F, Fut>(patience: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    wait_showing(patience, what, || {
        let next = check();
        async move { next.await.ok_or_else(String::new) }
    })
    .await
}

/// Waits until `check` returns `Ok`, polling; after `patience` panics with
/// what the last `Err` said it saw, so a failure on another machine tells
/// how far the wait got.
pub async fn wait_showing<T, F, Fut>(patience: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        let seen = match check().await {
            Ok(v) => return v,
            Err(seen) => seen,
        };
        if start.elapsed() >= patience {
            if seen.is_empty() {
                panic!("timed out after {patience:?} waiting for {what}");
            }
            panic!("timed out after {patience:?} waiting for {what}; last seen: {seen}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub pool: PgPool,
    pub database_url: String,
    pub broker: Broker,
    pub metrics: std::sync::Arc<eldercare::metrics::Metrics>,
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// Last, so that it times the whole life of the application and its
    /// broker.
    _timer: TestTimer,
}

/// Appends how long a test's application lived, and the test's name, to
/// the file `$TEST_DURATIONS` names (scripts/test.sh sets it and lists the
/// slowest at the end): where the suite's time goes.
struct TestTimer(Instant);

impl Drop for TestTimer {
    fn drop(&mut self) {
        let Some(path) = std::env::var_os("TEST_DURATIONS") else { return };
        let thread = std::thread::current();
        let line = format!("{:.1}\t{}\n", self.0.elapsed().as_secs_f64(), thread.name().unwrap_or("?"));
        // Each line is written in one call, so parallel tests do not interleave.
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path);
        if let Ok(mut file) = file {
            let _ = std::io::Write::write_all(&mut file, line.as_bytes());
        }
    }
}

pub fn settings(database_url: &str, broker: &Broker, client_id: &str) -> Settings {
    env_var("DATABASE_URL");
    let mut settings = Settings::load().expect("settings");
    settings.database.url = database_url.to_owned().into();
    settings.database.max_connections = 10;
    settings.database.api_connections = 10;
    // As shipped: the backend manages device accounts on the broker.
    settings.mqtt.url = broker.ingest_url(client_id).into();
    settings.mqtt.admin_url = Some(broker.admin_url().into());
    settings.mqtt.credential_key = Some(broker::CREDENTIAL_KEY.to_owned().into());
    settings.http.addr = "127.0.0.1:0".parse().expect("addr");
    settings.bootstrap.admin_email = Some(ADMIN_EMAIL.into());
    settings.bootstrap.admin_password = Some(ADMIN_PASSWORD.to_owned().into());
    settings.bootstrap.operator_email = Some(OPERATOR_EMAIL.into());
    settings.bootstrap.operator_password = Some(OPERATOR_PASSWORD.to_owned().into());
    // The tests' webhook receivers listen on 127.0.0.1 over plain http.
    settings.webhooks.allow_private = true;
    settings.webhooks.secret_key = Some(SECRET_KEY.to_owned().into());
    settings
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        let broker = Broker::start().await;
        let database_url = fresh_database().await;
        Self::spawn_with(broker, database_url, |_| {}).await
    }

    pub async fn spawn_with(broker: Broker, database_url: String, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let timer = TestTimer(Instant::now());
        let mut settings = settings(&database_url, &broker, "eldercare-ingest");
        tweak(&mut settings);
        let app = Application::build(settings).await.expect("build the application");
        let addr = app.addr().expect("addr");
        let pool = app.pool().clone();
        let metrics = app.metrics();
        let shutdown = app.shutdown_token();
        let handle = tokio::spawn(app.run_until_stopped());
        let test = TestApp {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            pool,
            database_url,
            broker,
            metrics,
            shutdown,
            handle,
            _timer: timer,
        };
        test.wait_ready().await;
        test
    }

    pub async fn wait_ready(&self) {
        wait_for("readiness", || async {
            let r = self.http.get(format!("{}/readyz", self.base)).send().await.ok()?;
            (r.status() == StatusCode::OK).then_some(())
        })
        .await;
    }

    /// Graceful stop, as on SIGTERM: returns once everything received is
    /// committed and acknowledged.
    pub async fn stop(self) -> (Broker, String) {
        self.shutdown.cancel();
        self.handle.await.expect("join").expect("clean stop");
        (self.broker, self.database_url)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self
            .http
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("login request");
        assert_eq!(r.status(), StatusCode::OK, "login as {email}");
        let body: Value = r.json().await.expect("login body");
        body["token"].as_str().expect("token").to_owned()
    }

    pub async fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    pub async fn operator_token(&self) -> String {
        self.login(OPERATOR_EMAIL, OPERATOR_PASSWORD).await
    }

    /// Sends a JSON request with a token; returns status and JSON body
    /// (`Value::Null` when empty).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("request");
        let status = r.status();
        let text = r.text().await.expect("body");
        let value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> Value {
        let (status, body) = self.call("GET", path, Some(token), None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Value {
        let (status, resp) = self.call("POST", path, Some(token), Some(body)).await;
        assert!(status.is_success(), "POST {path}: {status} {resp}");
        resp
    }

    /// Creates a resident and returns its id.
    pub async fn resident(&self, token: &str, name: &str) -> String {
        let body = self
            .post("/api/v1/residents", token, json!({"name": name, "timezone": "Asia/Shanghai", "room": "12"}))
            .await;
        body["id"].as_str().expect("id").to_owned()
    }

    /// Registers a device; answers the registration (with its `mqtt`
    /// credential).
    pub async fn device(&self, token: &str, body: Value) -> Value {
        self.post("/api/v1/devices", token, body).await
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&self.pool).await.expect("count query")
    }

    /// Waits until the SQL count reaches `expected` (and checks it does not
    /// overshoot).
    pub async fn wait_count(&self, sql: &str, expected: i64) {
        let got = wait_for(sql, || async {
            let n = self.count(sql).await;
            (n >= expected).then_some(n)
        })
        .await;
        assert_eq!(got, expected, "{sql}");
    }

    /// Waits until this app's scheduler has ticked `n` more times.
    pub async fn scheduler_ticks(&self, n: u64) {
        use std::sync::atomic::Ordering;
        let target = self.metrics.scheduler_ticks.load(Ordering::Relaxed) + n;
        wait_for("scheduler ticks", || async {
            (self.metrics.scheduler_ticks.load(Ordering::Relaxed) >= target).then_some(())
        })
        .await;
    }
}

/// Records a health certificate valid for a year (and care worker level 3)
/// for a carer or care staff of `admin`'s institution: nobody without one
/// is assigned a visit.
pub async fn certify(app: &TestApp, admin: &str, user: &str) {
    let until = (chrono::Utc::now() + chrono::Duration::days(365)).date_naive();
    let body = serde_json::json!([{"kind": "health", "valid_until": until}, {"kind": "care_worker_level", "level": 3, "valid_until": until}]);
    let (status, answer) =
        app.call("PUT", &format!("/api/v1/users/{user}/certificates"), Some(admin), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "certificates of {user}: {answer}");
}
