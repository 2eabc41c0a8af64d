//! Layered settings: `config/default.toml`, then the file named by
//! `ELDERCARE_CONFIG`, then environment variables.

use std::net::SocketAddr;
use std::path::Path;

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading settings: {0}")]
    Load(#[from] config::ConfigError),
    #[error("bad MQTT_URL {url:?}: {reason}")]
    MqttUrl { url: String, reason: String },
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
    /// The API's pool.
    pub max_connections: u32,
    /// The ingest lanes' own pool.
    pub ingest_connections: u32,
    /// The rule engine's, scheduler's and watchdog's own pool.
    pub rules_connections: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MqttSettings {
    pub url: String,
    /// Subscribed by the event session (events, status, Zigbee2MQTT).
    pub event_topics: Vec<String>,
    /// Subscribed by the telemetry session; its wildcard also catches
    /// malformed topics, so they are quarantined.
    pub telemetry_topics: Vec<String>,
    pub keep_alive_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    pub addr: SocketAddr,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IngestSettings {
    pub batch_size: usize,
    pub flush_ms: u64,
    pub event_batch_size: usize,
    pub event_flush_ms: u64,
    pub queue_capacity: usize,
    pub seq_memory_hours: u64,
    /// Quarantined messages older than this are deleted.
    pub quarantine_retention_days: u32,
    /// Beyond this many quarantined messages per device (or, unregistered,
    /// per topic prefix) in an hour, rejects are only counted.
    pub quarantine_per_device_per_hour: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub token_ttl_hours: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BootstrapSettings {
    pub institution_name: String,
    pub institution_timezone: String,
    pub admin_email: Option<String>,
    pub admin_password: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: String,
}

/// Where an MQTT connection goes, parsed from `mqtt://host:port?client_id=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttEndpoint {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl MqttSettings {
    pub fn endpoint(&self) -> Result<MqttEndpoint, ConfigError> {
        let bad = |reason: &str| ConfigError::MqttUrl { url: self.url.clone(), reason: reason.to_owned() };
        let url = url::Url::parse(&self.url).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "mqtt" | "tcp") {
            return Err(bad("scheme must be mqtt://"));
        }
        let host = url.host_str().ok_or_else(|| bad("no host"))?.to_owned();
        let client_id = url
            .query_pairs()
            .find(|(k, _)| k == "client_id")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| "eldercare-ingest".to_owned());
        Ok(MqttEndpoint {
            host,
            port: url.port().unwrap_or(1883),
            client_id,
            username: (!url.username().is_empty()).then(|| url.username().to_owned()),
            password: url.password().map(str::to_owned),
        })
    }
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
            ("MQTT_URL", "mqtt.url"),
            ("HTTP_ADDR", "http.addr"),
            ("ELDERCARE_ADMIN_EMAIL", "bootstrap.admin_email"),
            ("ELDERCARE_ADMIN_PASSWORD", "bootstrap.admin_password"),
        ] {
            if let Ok(value) = std::env::var(var) {
                builder = builder.set_override(key, value)?;
            }
        }
        let settings: Settings = builder.build()?.try_deserialize()?;
        settings.mqtt.endpoint()?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mqtt(url: &str) -> MqttSettings {
        MqttSettings { url: url.into(), event_topics: vec![], telemetry_topics: vec![], keep_alive_secs: 30 }
    }

    #[test]
    fn mqtt_url_carries_host_port_and_client_id() {
        let e = mqtt("mqtt://10.0.0.5:1884?client_id=worker-2").endpoint().unwrap();
        assert_eq!((e.host.as_str(), e.port, e.client_id.as_str()), ("10.0.0.5", 1884, "worker-2"));
        let e = mqtt("mqtt://u:p@broker").endpoint().unwrap();
        assert_eq!((e.port, e.username.as_deref(), e.password.as_deref()), (1883, Some("u"), Some("p")));
        assert!(mqtt("http://broker").endpoint().is_err());
        assert!(mqtt("not a url").endpoint().is_err());
    }
}
