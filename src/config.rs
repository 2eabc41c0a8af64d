//! Layered settings: `config/default.toml`, then the file named by
//! `ELDERCARE_CONFIG`, then environment variables.

use std::net::SocketAddr;
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading settings: {0}")]
    Load(#[from] config::ConfigError),
    #[error("bad {name}: {reason}")]
    MqttUrl { name: &'static str, reason: String },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub mqtt: MqttSettings,
    pub http: HttpSettings,
    pub ingest: IngestSettings,
    pub auth: AuthSettings,
    pub bootstrap: BootstrapSettings,
    pub log: LogSettings,
    pub alerts: AlertSettings,
    pub scheduler: SchedulerConfig,
    pub watchdog: WatchdogSettings,
    pub webhooks: WebhookSettings,
    #[serde(default)]
    pub push: PushSettings,
    #[serde(default)]
    pub messages: MessageSettings,
    pub retention: RetentionSettings,
    #[serde(default)]
    pub metrics: MetricsSettings,
    #[serde(default)]
    pub reads: ReadsSettings,
    #[serde(default)]
    pub fhir: FhirSettings,
    #[serde(default)]
    pub backtest: BacktestSettings,
    #[serde(default)]
    pub matching: MatchingSettings,
    #[serde(default)]
    pub desk: DeskSettings,
    #[serde(default)]
    pub complaints: ComplaintSettings,
}

/// Complaints against institutions.
#[derive(Debug, Clone, Deserialize)]
pub struct ComplaintSettings {
    /// How long an institution has to respond before the complaint is
    /// overdue, on the bureau's queue (ELDERCARE__COMPLAINTS__RESPOND_SECONDS).
    #[serde(default = "default_respond_seconds")]
    pub respond_seconds: u64,
}

impl Default for ComplaintSettings {
    fn default() -> Self {
        ComplaintSettings { respond_seconds: default_respond_seconds() }
    }
}

fn default_respond_seconds() -> u64 {
    3 * 24 * 3600
}

/// The hotline desk.
#[derive(Debug, Clone, Deserialize)]
pub struct DeskSettings {
    /// An elder living alone with no call, visit, activity or family
    /// contact for this many days is on the check-call list
    /// (ELDERCARE__DESK__CHECK_CALL_DAYS).
    #[serde(default = "default_check_call_days")]
    pub check_call_days: u32,
}

impl Default for DeskSettings {
    fn default() -> Self {
        DeskSettings { check_call_days: default_check_call_days() }
    }
}

fn default_check_call_days() -> u32 {
    7
}

/// Orders matched to a provider.
#[derive(Debug, Clone, Deserialize)]
pub struct MatchingSettings {
    /// How long a provider has to accept an offer before it passes to the
    /// next (ELDERCARE__MATCHING__ACCEPT_SECONDS).
    #[serde(default = "default_accept_seconds")]
    pub accept_seconds: u64,
}

impl Default for MatchingSettings {
    fn default() -> Self {
        MatchingSettings { accept_seconds: default_accept_seconds() }
    }
}

fn default_accept_seconds() -> u64 {
    1800
}

/// The FHIR view's heavy reads (Observation search, `$everything`).
#[derive(Debug, Clone, Deserialize)]
pub struct FhirSettings {
    /// Heavy FHIR reads in progress at once per process; beyond, 503 at
    /// once. Each holds one API connection at a time, so the rest of the
    /// API pool stays free for acknowledgements.
    #[serde(default = "default_fhir_max_concurrent")]
    pub max_concurrent: usize,
}

impl Default for FhirSettings {
    fn default() -> Self {
        FhirSettings { max_concurrent: default_fhir_max_concurrent() }
    }
}

fn default_fhir_max_concurrent() -> usize {
    4
}

/// Rule backtests over HTTP.
#[derive(Debug, Clone, Deserialize)]
pub struct BacktestSettings {
    /// Backtests running at once per process (each holds a resident's
    /// history in memory and a blocking thread); beyond, 503 at once.
    #[serde(default = "default_backtest_max_concurrent")]
    pub max_concurrent: usize,
}

impl Default for BacktestSettings {
    fn default() -> Self {
        BacktestSettings { max_concurrent: default_backtest_max_concurrent() }
    }
}

fn default_backtest_max_concurrent() -> usize {
    2
}

/// Where long-range reads come from.
#[derive(Debug, Clone, Deserialize)]
pub struct ReadsSettings {
    /// Hourly and daily buckets read the hourly rollup (plain PostgreSQL)
    /// or the continuous aggregate (TimescaleDB). `false` reads raw
    /// readings only: a diagnostic, to compare answers or timings
    /// (ELDERCARE__READS__ROLLUPS=false). The rollup is kept either way.
    #[serde(default = "default_true")]
    pub rollups: bool,
    /// How often the scheduler's leader rolls up the hours that changed
    /// (plain PostgreSQL).
    #[serde(default = "default_rollup_every_secs")]
    pub rollup_every_secs: u64,
}

impl Default for ReadsSettings {
    fn default() -> Self {
        ReadsSettings { rollups: true, rollup_every_secs: default_rollup_every_secs() }
    }
}

fn default_true() -> bool {
    true
}

fn default_rollup_every_secs() -> u64 {
    60
}

#[derive(Debug, Clone, Deserialize)]
pub struct PushSettings {
    /// The VAPID private key (base64url P-256 scalar); without it the key
    /// pair made at first start and kept in the database is used.
    #[serde(default)]
    pub vapid_private_key: Option<SecretString>,
    /// The VAPID `sub` claim: how a push service's operator reaches ours
    /// (`mailto:` or `https:`).
    #[serde(default = "default_push_subject")]
    pub subject: String,
    /// A user keeps at most this many subscriptions; a new one beyond it
    /// replaces their oldest. Every subscription is pushed every
    /// notification, so this bounds what one account adds to the outbox.
    #[serde(default = "default_max_subscriptions")]
    pub max_subscriptions_per_user: u32,
}

impl Default for PushSettings {
    fn default() -> Self {
        PushSettings {
            vapid_private_key: None,
            subject: default_push_subject(),
            max_subscriptions_per_user: default_max_subscriptions(),
        }
    }
}

fn default_max_subscriptions() -> u32 {
    10
}

/// How many messages one user may post: each is pushed to everyone on the
/// other side of the thread, so an unbounded author could bury alarms in
/// chatter.
#[derive(Debug, Clone, Deserialize)]
pub struct MessageSettings {
    /// Messages one user may post in any `window_minutes`; beyond, 429.
    #[serde(default = "default_messages_per_user")]
    pub per_user: u32,
    #[serde(default = "default_messages_window_minutes")]
    pub window_minutes: u32,
}

impl Default for MessageSettings {
    fn default() -> Self {
        MessageSettings { per_user: default_messages_per_user(), window_minutes: default_messages_window_minutes() }
    }
}

fn default_messages_per_user() -> u32 {
    30
}

fn default_messages_window_minutes() -> u32 {
    10
}

fn default_push_subject() -> String {
    "mailto:operator@eldercare.invalid".to_owned()
}

/// Who may read `/metrics`. By default anyone who reaches the API address.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MetricsSettings {
    /// When set, `/metrics` asks for `Authorization: Bearer <token>`.
    pub token: Option<SecretString>,
    /// When set, `/metrics` is served on this address only (e.g. a port
    /// reachable from the monitoring network alone), not on the API's.
    pub addr: Option<SocketAddr>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct WebhookSettings {
    /// Lifts the `https`-to-a-public-address rule, at registration and at
    /// delivery: for development and tests, where the receiver runs on the
    /// same machine. Never in production: it lets an admin make the backend
    /// POST into its own network.
    #[serde(default)]
    pub allow_private: bool,
    /// When set (32+ characters), webhook secrets, key safe codes and
    /// gateway secrets are stored encrypted with keys derived from it;
    /// without it webhook secrets are stored as given, and key safe codes
    /// and gateway secrets are refused. Changing it makes the stored secrets
    /// unreadable.
    pub secret_key: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AlertSettings {
    /// A critical alert still unacknowledged this many seconds after opening
    /// escalates one level per step.
    pub escalation_seconds: Vec<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WatchdogSettings {
    /// How often each process looks at its own health.
    pub check_ms: u64,
    /// A lane whose oldest uncommitted message has waited this long is stalled.
    pub stall_seconds: u64,
    /// No scheduler tick for this long means time-driven rules are not judged.
    pub scheduler_stall_seconds: u64,
    /// An institution that sent data in the last day and none for this long
    /// has gone silent (its gateway, its network or its power is down).
    pub silent_minutes: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SchedulerConfig {
    /// How often the leader evaluates the time-driven rules.
    pub tick_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// May carry a password, so it never prints.
    pub url: SecretString,
    /// The background tasks' pool (live-stream listener, webhook deliveries,
    /// settings cache, broker accounts).
    pub max_connections: u32,
    /// The HTTP API's own pool: a burst of requests waits here, never in
    /// front of ingest, the rules or the deliveries.
    pub api_connections: u32,
    /// An API query running longer than this is cancelled (503).
    pub api_statement_timeout_ms: u64,
    /// The ingest lanes' own pool.
    pub ingest_connections: u32,
    /// The rule engine's, scheduler's and watchdog's own pool.
    pub rules_connections: u32,
    /// `DATABASE_READ_URL`: a streaming replica for heavy reads (the
    /// cockpit, statements, FHIR searches, backtests, exports); never the
    /// alarm path, never a read after a write. Optional.
    #[serde(default)]
    pub read_url: Option<SecretString>,
    /// Past this replica lag, reads go to the primary until it catches up.
    #[serde(default = "default_read_max_lag_seconds")]
    pub read_max_lag_seconds: f64,
}

fn default_read_max_lag_seconds() -> f64 {
    30.0
}

#[derive(Debug, Clone, Deserialize)]
pub struct MqttSettings {
    /// The ingest account, `mqtt[s]://user:password@host:port?client_id=...`:
    /// may carry a password, so it never prints.
    pub url: SecretString,
    /// Subscribed by the event session (events, status, Zigbee2MQTT).
    pub event_topics: Vec<String>,
    /// Subscribed by the telemetry session; its wildcard also catches
    /// malformed topics, so they are quarantined.
    pub telemetry_topics: Vec<String>,
    pub keep_alive_secs: u64,
    /// `MQTT_ADMIN_URL`: the broker's admin account, through which eldercare
    /// manages device credentials on Mosquitto (dynamic security).
    pub admin_url: Option<SecretString>,
    /// Who enforces device credentials on the broker.
    pub accounts: AccountsBackend,
    /// Device passwords are derived from this key and a per-issue nonce kept
    /// in the database, so the broker's accounts can be rebuilt from the
    /// database alone (a wiped broker volume) while the database itself holds
    /// no password. Required whenever credentials are managed.
    pub credential_key: Option<SecretString>,
    /// CA certificate (PEM) for `mqtts://` when the broker's certificate is
    /// not signed by a public CA.
    pub ca_file: Option<std::path::PathBuf>,
    /// EMQX's REST API (`http://emqx:18083`), with `accounts = "database"`:
    /// EMQX checks a credential only when a client connects, so a rotated or
    /// revoked device is disconnected through it
    /// (`DELETE /api/v5/clients/{clientid}`); without it, a device keeps its
    /// live connection until it drops.
    #[serde(default)]
    pub emqx_api_url: Option<String>,
    /// The API key and secret EMQX issued for it (basic auth).
    #[serde(default)]
    pub emqx_api_key: Option<String>,
    #[serde(default)]
    pub emqx_api_secret: Option<SecretString>,
}

/// Where the broker checks device credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountsBackend {
    /// Mosquitto's dynamic-security plugin when `MQTT_ADMIN_URL` is set;
    /// otherwise credentials are not managed (`"mqtt": null`).
    Auto,
    /// The broker (EMQX) authenticates and authorises against the
    /// `mqtt_accounts` table itself: eldercare only writes the table.
    Database,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    pub addr: SocketAddr,
    /// A client that has not sent a request's whole head this long after
    /// connecting (or after its previous request) is dropped.
    pub header_read_timeout_secs: u64,
    /// Peers whose `X-Forwarded-For` names the client (CIDR ranges).
    #[serde(default)]
    pub trusted_proxies: crate::net::TrustedProxies,
    /// Requests handled at once; beyond, 503 at once. Health checks, metrics
    /// and live streams are outside this count.
    pub max_concurrent_requests: usize,
    /// Live alert streams open at once per user (429 beyond)...
    pub streams_per_user: usize,
    /// ...and in all (503 beyond).
    pub streams_total: usize,
    /// Open data (`/open/v1`, no login): requests per client address a
    /// minute (429 beyond).
    #[serde(default = "default_open_data_per_minute")]
    pub open_data_per_minute: u32,
}

fn default_open_data_per_minute() -> u32 {
    60
}

#[derive(Debug, Clone, Deserialize)]
pub struct IngestSettings {
    pub batch_size: usize,
    pub flush_ms: u64,
    pub event_batch_size: usize,
    pub event_flush_ms: u64,
    pub queue_capacity: usize,
    pub seq_memory_hours: u64,
    /// Beyond this many quarantined messages per device (or, unregistered,
    /// per topic prefix) in an hour, rejects are only counted.
    pub quarantine_per_device_per_hour: u32,
    /// With several `serve` processes, the MQTT shared-subscription group
    /// their telemetry lanes join (`$share/<group>/...`), so that they split
    /// the telemetry instead of each receiving all of it. Events stay
    /// unshared: every process receives each one.
    #[serde(default)]
    pub share_group: Option<String>,
}

impl IngestSettings {
    /// The telemetry lane's subscription for `topic`: through the share
    /// group when there is one.
    pub fn telemetry_filter(&self, topic: &str) -> String {
        match self.share_group() {
            Some(group) => format!("$share/{group}/{topic}"),
            None => topic.to_owned(),
        }
    }

    /// The share group, if set and not blank.
    pub fn share_group(&self) -> Option<&str> {
        self.share_group.as_deref().map(str::trim).filter(|g| !g.is_empty())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        // MQTT forbids wildcards and the level separator in a share name.
        if self.share_group().is_some_and(|g| g.contains(['/', '+', '#'])) {
            return Err(ConfigError::Invalid("ELDERCARE__INGEST__SHARE_GROUP must not contain '/', '+' or '#'".into()));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// Every role but family: a session unused this long ends...
    pub staff_idle_minutes: u32,
    /// ...and one this old ends whatever its use.
    pub staff_absolute_hours: u32,
    /// Family members use the app now and then, on their own phones.
    pub family_idle_days: u32,
    pub family_absolute_days: u32,
    /// A wall screen's display token: no idle end, this lifetime.
    pub display_token_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BootstrapSettings {
    pub institution_name: String,
    pub institution_timezone: String,
    /// With the password, creates the first institution and its admin when
    /// no institution exists: the one-step quick start.
    pub admin_email: Option<String>,
    pub admin_password: Option<SecretString>,
    /// With the password, creates the platform operator when none exists.
    pub operator_email: Option<String>,
    pub operator_password: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: String,
}

/// Where an MQTT connection goes, parsed from
/// `mqtt[s]://[user:password@]host[:port][?client_id=...]`.
#[derive(Debug, Clone)]
pub struct MqttEndpoint {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// `mqtts://`: TLS, verified against the CA file or the system's roots.
    pub tls: bool,
}

impl MqttEndpoint {
    /// Parses one broker URL; `name` says which setting it came from in errors
    /// (never the URL itself: it may hold a password).
    pub fn parse(name: &'static str, text: &str) -> Result<Self, ConfigError> {
        let bad = |reason: &str| ConfigError::MqttUrl { name, reason: reason.to_owned() };
        let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        let tls = match url.scheme() {
            "mqtt" | "tcp" => false,
            "mqtts" | "ssl" => true,
            _ => return Err(bad("scheme must be mqtt:// or mqtts://")),
        };
        let host = url.host_str().ok_or_else(|| bad("no host"))?.to_owned();
        let client_id = url
            .query_pairs()
            .find(|(k, _)| k == "client_id")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| "eldercare-ingest".to_owned());
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        Ok(MqttEndpoint {
            host,
            port: url.port().unwrap_or(if tls { 8883 } else { 1883 }),
            client_id,
            username: (!url.username().is_empty()).then(|| decode(url.username())),
            password: url.password().map(|p| SecretString::from(decode(p))),
            tls,
        })
    }
}

impl MqttSettings {
    /// The ingest connection (`MQTT_URL`).
    pub fn endpoint(&self) -> Result<MqttEndpoint, ConfigError> {
        MqttEndpoint::parse("MQTT_URL", self.url.expose_secret())
    }

    /// The broker's admin connection (`MQTT_ADMIN_URL`), when given.
    pub fn admin_endpoint(&self) -> Result<Option<MqttEndpoint>, ConfigError> {
        self.admin_url.as_ref().map(|url| MqttEndpoint::parse("MQTT_ADMIN_URL", url.expose_secret())).transpose()
    }

    /// Whether eldercare issues device credentials, and through what.
    pub fn managed_accounts(&self) -> Option<ManagedAccounts> {
        match (self.accounts, &self.admin_url) {
            (AccountsBackend::Database, _) => Some(ManagedAccounts::Database),
            (AccountsBackend::Auto, Some(_)) => Some(ManagedAccounts::Mosquitto),
            (AccountsBackend::Auto, None) => None,
        }
    }

    /// Everything that must hold together before the process starts.
    fn validate(&self) -> Result<(), ConfigError> {
        let ingest = self.endpoint()?;
        self.admin_endpoint()?;
        if let Some(url) = &self.emqx_api_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) || url::Url::parse(url).is_err() {
                return Err(ConfigError::Invalid("ELDERCARE__MQTT__EMQX_API_URL must be an http(s):// URL".into()));
            }
            if self.emqx_api_key.is_none() || self.emqx_api_secret.is_none() {
                return Err(ConfigError::Invalid(
                    "ELDERCARE__MQTT__EMQX_API_KEY and ELDERCARE__MQTT__EMQX_API_SECRET must be set with EMQX_API_URL"
                        .into(),
                ));
            }
        }
        if self.managed_accounts().is_some() {
            let key_len = self.credential_key.as_ref().map_or(0, |k| k.expose_secret().len());
            if key_len < 32 {
                return Err(ConfigError::Invalid(
                    "ELDERCARE__MQTT__CREDENTIAL_KEY must be set (at least 32 characters) when device credentials are managed"
                        .into(),
                ));
            }
            if ingest.username.is_none() || ingest.password.is_none() {
                return Err(ConfigError::Invalid(
                    "MQTT_URL must carry the ingest account (mqtt://user:password@host...) when device credentials are managed"
                        .into(),
                ));
            }
        }
        Ok(())
    }
}

/// How device credentials reach the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagedAccounts {
    /// Through Mosquitto's dynamic-security plugin, as `MQTT_ADMIN_URL`.
    Mosquitto,
    /// The broker reads the `mqtt_accounts` table (EMQX).
    Database,
}

impl Settings {
    /// Reads the layers from the process environment, with `config/` found in
    /// the working directory or next to the crate.
    pub fn load() -> Result<Self, ConfigError> {
        let base = ["config/default.toml", concat!(env!("CARGO_MANIFEST_DIR"), "/config/default.toml")]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("config/default.toml");
        let mut builder = config::Config::builder().add_source(config::File::with_name(base).required(true));
        if let Ok(extra) = std::env::var("ELDERCARE_CONFIG") {
            builder = builder.add_source(config::File::with_name(&extra).required(true));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("ELDERCARE").prefix_separator("__").separator("__").try_parsing(true),
        );
        for (var, key) in [
            ("DATABASE_URL", "database.url"),
            ("DATABASE_READ_URL", "database.read_url"),
            ("MQTT_URL", "mqtt.url"),
            ("MQTT_ADMIN_URL", "mqtt.admin_url"),
            ("HTTP_ADDR", "http.addr"),
            ("ELDERCARE_ADMIN_EMAIL", "bootstrap.admin_email"),
            ("ELDERCARE_ADMIN_PASSWORD", "bootstrap.admin_password"),
            ("ELDERCARE_OPERATOR_EMAIL", "bootstrap.operator_email"),
            ("ELDERCARE_OPERATOR_PASSWORD", "bootstrap.operator_password"),
        ] {
            if let Ok(value) = std::env::var(var) {
                builder = builder.set_override(key, value)?;
            }
        }
        let settings: Settings = builder.build()?.try_deserialize()?;
        settings.mqtt.validate()?;
        settings.ingest.validate()?;
        if settings.webhooks.secret_key.as_ref().is_some_and(|k| k.expose_secret().len() < 32) {
            return Err(ConfigError::Invalid("ELDERCARE__WEBHOOKS__SECRET_KEY must be at least 32 characters".into()));
        }
        Ok(settings)
    }
}

/// How long what is kept only for a while is kept, and how the sweep
/// (`retention::Sweeper`) deletes it.
#[derive(Debug, Clone, Deserialize)]
pub struct RetentionSettings {
    /// Quarantined messages (and overflow counts) are kept this long.
    #[serde(default = "retention_defaults::quarantine_days")]
    pub quarantine_days: u32,
    /// Webhook deliveries, delivered or not, are kept this long; one nobody
    /// accepted in that time is given up.
    #[serde(default = "retention_defaults::deliveries_days")]
    pub deliveries_days: u32,
    /// Sessions are deleted this long after their absolute end.
    #[serde(default = "retention_defaults::sessions_days")]
    pub sessions_days: u32,
    /// Reads of health data stay in the access log this long.
    #[serde(default = "retention_defaults::access_log_days")]
    pub access_log_days: u32,
    /// What a notification said (names, SMS and message text, the number)
    /// is nulled this long after it was delivered or given up. The row
    /// stays: who was told, when and how is still answerable.
    #[serde(default = "retention_defaults::notification_payload_days")]
    pub notification_payload_days: u32,
    /// Rows deleted per table and statement: no long transaction and no
    /// long scheduler tick, even on the first run over a large backlog.
    #[serde(default = "retention_defaults::batch_size")]
    pub batch_size: u32,
    /// How often a sweep starts, once the previous one found nothing more.
    #[serde(default = "retention_defaults::every_secs")]
    pub every_secs: u64,
}

mod retention_defaults {
    pub fn quarantine_days() -> u32 {
        7
    }
    pub fn deliveries_days() -> u32 {
        30
    }
    pub fn sessions_days() -> u32 {
        7
    }
    pub fn access_log_days() -> u32 {
        730
    }
    pub fn notification_payload_days() -> u32 {
        7
    }
    pub fn batch_size() -> u32 {
        5000
    }
    pub fn every_secs() -> u64 {
        3600
    }
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            quarantine_days: retention_defaults::quarantine_days(),
            deliveries_days: retention_defaults::deliveries_days(),
            sessions_days: retention_defaults::sessions_days(),
            access_log_days: retention_defaults::access_log_days(),
            notification_payload_days: retention_defaults::notification_payload_days(),
            batch_size: retention_defaults::batch_size(),
            every_secs: retention_defaults::every_secs(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mqtt(url: &str) -> MqttSettings {
        MqttSettings {
            url: url.to_owned().into(),
            event_topics: vec![],
            telemetry_topics: vec![],
            keep_alive_secs: 30,
            admin_url: None,
            accounts: AccountsBackend::Auto,
            credential_key: None,
            ca_file: None,
            emqx_api_url: None,
            emqx_api_key: None,
            emqx_api_secret: None,
        }
    }

    #[test]
    fn mqtt_url_carries_host_port_and_client_id() {
        let e = mqtt("mqtt://10.0.0.5:1884?client_id=worker-2").endpoint().unwrap();
        assert_eq!((e.host.as_str(), e.port, e.client_id.as_str(), e.tls), ("10.0.0.5", 1884, "worker-2", false));
        let e = mqtt("mqtt://u:p%40ss@broker").endpoint().unwrap();
        assert_eq!((e.port, e.username.as_deref()), (1883, Some("u")));
        assert_eq!(e.password.as_ref().map(|p| p.expose_secret()), Some("p@ss"));
        let e = mqtt("mqtts://broker.example").endpoint().unwrap();
        assert_eq!((e.port, e.tls), (8883, true));
        assert!(mqtt("http://broker").endpoint().is_err());
        assert!(mqtt("not a url").endpoint().is_err());
    }

    #[test]
    fn a_bad_url_is_reported_without_its_password() {
        let err = mqtt("http://ingest:hunter2@broker").endpoint().unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn managed_credentials_need_a_key_and_an_ingest_account() {
        let mut m = mqtt("mqtt://broker");
        assert_eq!(m.managed_accounts(), None);
        m.validate().unwrap();
        m.admin_url = Some("mqtt://admin:secret@broker".to_owned().into());
        assert_eq!(m.managed_accounts(), Some(ManagedAccounts::Mosquitto));
        assert!(m.validate().is_err(), "no key");
        m.credential_key = Some("k".repeat(32).into());
        assert!(m.validate().is_err(), "no ingest account");
        m.url = "mqtt://ingest:pw@broker".to_owned().into();
        m.validate().unwrap();
        m.accounts = AccountsBackend::Database;
        assert_eq!(m.managed_accounts(), Some(ManagedAccounts::Database));
        m.emqx_api_url = Some("http://emqx:18083".into());
        assert!(m.validate().is_err(), "an API URL without its key and secret");
        m.emqx_api_key = Some("key".into());
        m.emqx_api_secret = Some("secret".to_owned().into());
        m.validate().unwrap();
        m.emqx_api_url = Some("emqx:18083".into());
        assert!(m.validate().is_err(), "not an http URL");
    }

    #[test]
    fn a_share_group_shares_the_telemetry_subscriptions() {
        let mut ingest = IngestSettings {
            batch_size: 1,
            flush_ms: 1,
            event_batch_size: 1,
            event_flush_ms: 1,
            queue_capacity: 1,
            seq_memory_hours: 1,
            quarantine_per_device_per_hour: 1,
            share_group: None,
        };
        assert_eq!(ingest.telemetry_filter("eldercare/v1/#"), "eldercare/v1/#");
        ingest.share_group = Some("  ".into());
        assert_eq!(ingest.telemetry_filter("eldercare/v1/#"), "eldercare/v1/#", "blank is unset");
        ingest.validate().unwrap();
        ingest.share_group = Some("ingest".into());
        assert_eq!(ingest.telemetry_filter("eldercare/v1/#"), "$share/ingest/eldercare/v1/#");
        ingest.validate().unwrap();
        for bad in ["a/b", "a+", "#"] {
            ingest.share_group = Some(bad.into());
            assert!(ingest.validate().is_err(), "{bad}");
        }
    }
}
