//! Device identity on the broker: each device and gateway has an MQTT
//! account of its own that may write only its own topics, and the broker
//! enforces it.
//!
//! The database is the source of truth (`mqtt_accounts`, one row per
//! account); a [`BrokerAccounts`] backend mirrors it into a broker that keeps
//! accounts of its own (Mosquitto's dynamic security). A broker that reads the
//! table itself (EMQX's PostgreSQL authentication and authorisation) needs no
//! backend at all.

pub mod accounts;
pub mod credentials;
pub mod emqx;
pub mod mosquitto;
pub mod reserved;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use rumqttc::{MqttOptions, TlsConfiguration, Transport};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;

use crate::config::{ConfigError, MqttEndpoint};

pub use accounts::{Accounts, Credential, Disconnect};

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("the broker is unavailable: {0}")]
    Unavailable(String),
    #[error("the broker already has an account named {0:?} that eldercare does not manage")]
    Foreign(String),
    #[error("the broker refused {command}: {error}")]
    Refused { command: String, error: String },
    #[error("unexpected answer from the broker: {0}")]
    Protocol(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("reading the CA file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("the account store: {0}")]
    Database(#[from] sqlx::Error),
}

/// What an account is for; its role on the broker is named after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    Device,
    Gateway,
    Ingest,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Device => "device",
            AccountKind::Gateway => "gateway",
            AccountKind::Ingest => "ingest",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "device" => Some(AccountKind::Device),
            "gateway" => Some(AccountKind::Gateway),
            "ingest" => Some(AccountKind::Ingest),
            _ => None,
        }
    }
}

/// One MQTT account as the broker must hold it.
#[derive(Debug, Clone)]
pub struct Account {
    pub username: String,
    pub kind: AccountKind,
    /// The only client id it may connect with; `None` for the ingest account,
    /// which opens one session per lane (and per process).
    pub client_id: Option<String>,
    pub password: SecretString,
    /// Topic filters it may publish to (its Last Will included).
    pub publish: Vec<String>,
    /// Topic filters it may subscribe to.
    pub subscribe: Vec<String>,
}

impl Account {
    /// A device writes under `eldercare/v1/{device_id}/` and reads nothing.
    pub fn device(device_id: &str, password: SecretString) -> Account {
        Account {
            username: device_id.to_owned(),
            kind: AccountKind::Device,
            client_id: Some(device_id.to_owned()),
            password,
            publish: vec![format!("eldercare/v1/{device_id}/#")],
            subscribe: vec![],
        }
    }

    /// A Zigbee2MQTT bridge writes and reads under its base topic only (it
    /// listens on `{base}/+/set` and `{base}/bridge/#`).
    pub fn gateway(gateway_id: &str, base_topic: &str, password: SecretString) -> Account {
        let under = format!("{base_topic}/#");
        Account {
            username: gateway_id.to_owned(),
            kind: AccountKind::Gateway,
            client_id: Some(gateway_id.to_owned()),
            password,
            publish: vec![under.clone()],
            subscribe: vec![under],
        }
    }

    /// The backend's ingest account reads the contract's topics and writes
    /// nothing.
    pub fn ingest(username: &str, password: SecretString, topics: Vec<String>) -> Account {
        Account {
            username: username.to_owned(),
            kind: AccountKind::Ingest,
            client_id: None,
            password,
            publish: vec![],
            subscribe: topics,
        }
    }

    /// Its role on a broker that grants by role.
    pub fn role(&self) -> String {
        role_name(self.kind, &self.username)
    }
}

/// Roles are per account: Mosquitto 2.0's ACLs take no `%u`/`%c`
/// substitution, so "its own topics" must be spelled out for each.
pub fn role_name(kind: AccountKind, username: &str) -> String {
    match kind {
        AccountKind::Ingest => "eldercare-ingest".to_owned(),
        kind => format!("eldercare-{}-{username}", kind.as_str()),
    }
}

/// What a reconciliation changed on the broker.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Accounts created (or re-created) from the database.
    pub created: usize,
    /// Accounts whose client id or role was corrected.
    pub repaired: usize,
    /// Accounts the broker held that the database no longer has.
    pub removed: usize,
    /// Device and gateway accounts revoked for holding a name reserved for
    /// the backend.
    pub revoked: usize,
}

/// A broker that keeps MQTT accounts of its own. Every change answers only
/// once the broker has confirmed it.
pub trait BrokerAccounts: Send + Sync {
    /// Creates the account (its role and client).
    fn create<'a>(&'a self, account: &'a Account) -> BoxFuture<'a, Result<(), BrokerError>>;
    /// Gives the account a new password; its connected client is dropped.
    fn set_password<'a>(&'a self, account: &'a Account) -> BoxFuture<'a, Result<(), BrokerError>>;
    /// Removes the account; its connected client is dropped.
    fn remove<'a>(&'a self, kind: AccountKind, username: &'a str) -> BoxFuture<'a, Result<(), BrokerError>>;
    /// Makes the broker's eldercare accounts exactly `desired`: missing ones
    /// are created, wrong ones repaired, extra ones removed. Accounts the
    /// broker holds for others are left alone. Passwords of accounts that
    /// exist are not reset (that would drop every device's connection),
    /// except the ingest account's when `ingest_password` is set.
    fn reconcile<'a>(
        &'a self,
        desired: &'a [Account],
        ingest_password: bool,
    ) -> BoxFuture<'a, Result<Reconciled, BrokerError>>;
    /// Bumped each time the management connection is (re)established: the
    /// broker may have restarted empty, so it is time to reconcile.
    fn sessions(&self) -> watch::Receiver<u64>;
}

/// MQTT options for `endpoint` with its credentials and, for `mqtts://`, TLS
/// verified against `ca_file` (or the system's roots without one).
pub fn mqtt_options(
    endpoint: &MqttEndpoint,
    client_id: &str,
    ca_file: Option<&std::path::Path>,
) -> Result<MqttOptions, BrokerError> {
    let mut options = MqttOptions::new(client_id, endpoint.host.clone(), endpoint.port);
    if let Some(user) = &endpoint.username {
        let password = endpoint.password.as_ref().map(|p| p.expose_secret().to_owned()).unwrap_or_default();
        options.set_credentials(user.clone(), password);
    }
    if endpoint.tls {
        options.set_transport(Transport::Tls(TlsConfiguration::Rustls(Arc::new(tls_config(ca_file)?))));
    }
    Ok(options)
}

fn tls_config(ca_file: Option<&std::path::Path>) -> Result<rustls::ClientConfig, BrokerError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let bad = |reason: String| BrokerError::CaFile { path: path.display().to_string(), reason };
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
                roots.add(cert.map_err(|e| bad(e.to_string()))?).map_err(|e| bad(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(bad("no certificate in it".into()));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                // One unreadable system certificate must not stop the others.
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BrokerError::Protocol(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// How long a broker has to answer a management request.
pub const BROKER_TIMEOUT: Duration = Duration::from_secs(10);
