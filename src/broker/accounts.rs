//! The account store (`mqtt_accounts`) and its mirror on the broker.
//!
//! A change is made inside the caller's transaction and confirmed by the
//! broker before that transaction commits, so an API call answers only once
//! the broker enforces it. Should the process die between the broker's
//! answer and the commit, the next reconciliation puts the broker back in
//! line with the database.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use super::credentials::{self, CredentialKey};
use super::emqx::EmqxApi;
use super::mosquitto::Mosquitto;
use super::reserved::{self, Reserved};
use super::{Account, AccountKind, BrokerAccounts, BrokerError, Reconciled};
use crate::alerts::{self, Subject};
use crate::config::{ConfigError, ManagedAccounts, Settings};
use crate::domain::{AlertKind, Severity};
use crate::metrics::Metrics;
use crate::rules::Decision;
use crate::store::mqtt_accounts::{self as store, AccountRow, NewAccount};

/// How long `serve` waits at start for the broker to be reconciled before it
/// starts ingesting anyway (the ingest sessions retry until their account
/// exists).
const FIRST_RECONCILE: Duration = Duration::from_secs(10);

/// A credential as shown once, to whoever registered the device.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = MqttCredential)]
pub struct Credential {
    pub username: String,
    /// shown this once; not stored
    pub password: String,
}

/// Device credentials: issued, rotated and revoked in the database, and
/// mirrored into the broker when it keeps accounts of its own.
pub struct Accounts {
    pool: PgPool,
    key: CredentialKey,
    /// `None` when the broker reads `mqtt_accounts` itself (EMQX).
    broker: Option<Arc<dyn BrokerAccounts>>,
    /// EMQX's REST API, when the broker reads the table: the only way to
    /// disconnect a client whose credential has changed.
    emqx: Option<Arc<EmqxApi>>,
    /// The backend's own account, from `MQTT_URL`.
    ingest: Account,
    /// Counts the alerts a reconciliation opens.
    metrics: Arc<Metrics>,
}

/// Live clients to disconnect once the transaction that rotated or revoked
/// their credentials has committed. Not before: a broker that reads the
/// table (EMQX) would let the client straight back in with the credential
/// the transaction has not yet replaced. Mosquitto drops them itself, so
/// there this is empty.
#[must_use = "send it once the transaction has committed, or the client stays connected"]
pub struct Disconnect {
    emqx: Option<Arc<EmqxApi>>,
    client_ids: Vec<String>,
}

impl Disconnect {
    /// Nobody to disconnect.
    pub fn none() -> Disconnect {
        Disconnect { emqx: None, client_ids: Vec::new() }
    }

    /// Both changes' clients, for a transaction that revokes several.
    pub fn and(mut self, other: Disconnect) -> Disconnect {
        self.emqx = self.emqx.or(other.emqx);
        self.client_ids.extend(other.client_ids);
        self
    }

    /// Disconnects the clients. The change is committed whatever happens
    /// here, so a failure is logged, not returned: the client is refused the
    /// next time it connects.
    pub async fn send(self) {
        let Some(emqx) = self.emqx else { return };
        for client_id in &self.client_ids {
            if let Err(err) = emqx.disconnect(client_id).await {
                tracing::error!(client_id, cause = %err, "could not disconnect a client whose credential changed; it stays connected until it drops");
            }
        }
    }
}

impl Accounts {
    /// Starts credential management as the settings ask, or `None` when
    /// credentials are not managed.
    /// The names this process uses on the broker are recorded as reserved
    /// first, managed or not: registration refuses them either way.
    pub async fn start(
        settings: &Settings,
        pool: PgPool,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Option<Arc<Accounts>>, BrokerError> {
        let endpoint = settings.mqtt.endpoint()?;
        let admin = settings.mqtt.admin_endpoint()?;
        let names = reserved::process_names(
            &endpoint.client_id,
            endpoint.username.as_deref(),
            admin.as_ref().and_then(|a| a.username.as_deref()),
        );
        store::record_reserved(&pool, &endpoint.client_id, &names).await?;
        let Some(managed) = settings.mqtt.managed_accounts() else { return Ok(None) };
        let missing = |what: &str| BrokerError::Config(ConfigError::Invalid(format!("{what} is required")));
        let key = settings.mqtt.credential_key.clone().ok_or_else(|| missing("ELDERCARE__MQTT__CREDENTIAL_KEY"))?;
        let (Some(user), Some(password)) = (endpoint.username, endpoint.password) else {
            return Err(missing("the ingest account in MQTT_URL"));
        };
        // Mosquitto checks a shared subscription's whole filter, `$share/...`
        // included. Any group: processes configured alike must agree on the
        // one account they share, whichever of them wrote it last.
        let shared = settings.mqtt.telemetry_topics.iter().map(|t| format!("$share/+/{t}"));
        let topics =
            settings.mqtt.event_topics.iter().chain(&settings.mqtt.telemetry_topics).cloned().chain(shared).collect();
        let ingest = Account::ingest(&user, password, topics);
        let broker: Option<Arc<dyn BrokerAccounts>> = match managed {
            ManagedAccounts::Database => None,
            ManagedAccounts::Mosquitto => {
                let admin = admin.ok_or_else(|| missing("MQTT_ADMIN_URL"))?;
                let ca = settings.mqtt.ca_file.as_deref();
                let client_id = format!("{}-admin", endpoint.client_id);
                Some(Mosquitto::start(&admin, &client_id, ca, shutdown.clone(), tracker)?)
            }
        };
        let emqx = match managed {
            ManagedAccounts::Database => EmqxApi::from_settings(&settings.mqtt)?.map(Arc::new),
            ManagedAccounts::Mosquitto => None,
        };
        if managed == ManagedAccounts::Database && emqx.is_none() {
            tracing::warn!(
                "ELDERCARE__MQTT__EMQX_API_URL is not set: a rotated or revoked device keeps its live connection until it drops"
            );
        }
        let accounts = Arc::new(Accounts { pool, key: CredentialKey::new(key), broker, emqx, ingest, metrics });
        let (first_tx, first_rx) = tokio::sync::oneshot::channel();
        tracker.spawn(accounts.clone().run(first_tx, shutdown));
        match tokio::time::timeout(FIRST_RECONCILE, first_rx).await {
            Ok(Ok(report)) => tracing::info!(?report, "broker accounts reconciled with the database"),
            _ => tracing::warn!("the broker's accounts are not reconciled yet; ingest starts and retries"),
        }
        Ok(Some(accounts))
    }

    /// Reconciles at each new management session (the broker may have come
    /// back empty), retrying until it succeeds.
    async fn run(self: Arc<Self>, first: tokio::sync::oneshot::Sender<Reconciled>, shutdown: CancellationToken) {
        let mut first = Some(first);
        let mut sessions = self.broker.as_ref().map(|b| b.sessions());
        loop {
            if let Some(sessions) = &mut sessions {
                tokio::select! {
                    changed = sessions.wait_for(|n| *n > 0) => if changed.is_err() { return },
                    _ = shutdown.cancelled() => return,
                }
                sessions.mark_unchanged();
            }
            loop {
                match self.reconcile(first.is_some()).await {
                    Ok(report) => {
                        if let Some(tx) = first.take() {
                            let _ = tx.send(report);
                        } else if report != Reconciled::default() {
                            tracing::info!(?report, "broker accounts reconciled with the database");
                        }
                        break;
                    }
                    Err(err) => {
                        tracing::warn!(cause = %err, "reconciling the broker's accounts; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                            _ = shutdown.cancelled() => return,
                        }
                    }
                }
            }
            let Some(sessions) = &mut sessions else { return };
            tokio::select! {
                changed = sessions.changed() => if changed.is_err() { return },
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// Writes the ingest account to the table and makes the broker hold
    /// exactly the table's accounts. `first`: also (re)set the ingest
    /// account's password to `MQTT_URL`'s.
    pub async fn reconcile(&self, first: bool) -> Result<Reconciled, BrokerError> {
        let mut conn = self.pool.acquire().await?;
        store::lock(&mut conn).await?;
        let mut revoked = Disconnect { emqx: self.emqx.clone(), client_ids: Vec::new() };
        let result = self.reconcile_locked(&mut conn, first, &mut revoked).await;
        // Unlocked whatever happened: the connection goes back to the pool.
        let unlocked = store::unlock(&mut conn).await;
        // Outside the lock (the broker's API may be slow), and whatever
        // failed after the revocations committed: they are not made again.
        revoked.send().await;
        unlocked?;
        result
    }

    async fn reconcile_locked(
        &self,
        conn: &mut PgConnection,
        first: bool,
        disconnect: &mut Disconnect,
    ) -> Result<Reconciled, BrokerError> {
        let salt = credentials::random_hex(16);
        let hash = credentials::salted_hash(&self.ingest.password, &salt);
        // A device may never hold the ingest account's name: only an ingest
        // row is replaced.
        store::upsert_ingest(conn, &self.ingest.username, &hash, &salt, &self.ingest.subscribe).await?;
        let revoked = self.revoke_reserved(conn, disconnect).await?;
        let Some(broker) = &self.broker else { return Ok(Reconciled { revoked, ..Reconciled::default() }) };
        let rows = store::devices_and_gateways(conn).await?;
        let mut desired: Vec<Account> = rows.into_iter().filter_map(|r| account_of(r, &self.key)).collect();
        desired.push(self.ingest.clone());
        let report = broker.reconcile(&desired, first).await?;
        Ok(Reconciled { revoked, ..report })
    }

    /// Revokes every device or gateway account whose name is reserved for
    /// the backend (registered by an older release, or before another
    /// process first recorded its names): it could take over one of the
    /// backend's broker sessions. Each is removed from the table and the
    /// broker, audited, and raised to its institution as an alert, which
    /// `/readyz` shows until someone resolves it. Answers how many; their
    /// clients are added to `disconnect`.
    async fn revoke_reserved(
        &self,
        conn: &mut PgConnection,
        disconnect: &mut Disconnect,
    ) -> Result<usize, BrokerError> {
        let backend: HashSet<String> = store::reserved_names(conn).await?.into_iter().collect();
        // The rule decides; the query only spares reading every account.
        let names: Vec<&String> = backend.iter().collect();
        let candidates = store::reserved_candidates(conn, reserved::PREFIX, &names).await?;
        let mut revoked = 0;
        for (username, kind, client_id, institution) in candidates {
            let Some(why) = reserved::reserved(&username, &backend)
                .or_else(|| client_id.as_deref().and_then(|c| reserved::reserved(c, &backend)))
            else {
                continue;
            };
            let Some(kind) = AccountKind::parse(&kind) else { continue };
            self.revoke_one(conn, kind, &username, institution, why).await?;
            if let Some(broker) = &self.broker {
                broker.remove(kind, &username).await?;
            }
            // A client id the backend itself uses is left to the backend's
            // own session, which takes it back: disconnecting it could take
            // the backend's session (and its queue) down instead.
            let client_id = client_id.unwrap_or_else(|| username.clone());
            if !backend.contains(&client_id.to_lowercase()) {
                disconnect.client_ids.push(client_id);
            }
            revoked += 1;
        }
        Ok(revoked)
    }

    async fn revoke_one(
        &self,
        conn: &mut PgConnection,
        kind: AccountKind,
        username: &str,
        institution: Option<Uuid>,
        why: Reserved,
    ) -> Result<(), BrokerError> {
        tracing::error!(
            username,
            kind = kind.as_str(),
            reason = why.reason(),
            "an MQTT account held a name reserved for the backend's broker sessions; its credential is revoked"
        );
        let note = "its MQTT credential was revoked because its id is reserved for the backend's own broker \
                    sessions (it could disconnect the alarm path): register the device again under another id";
        let details = json!({"username": username, "account_kind": kind.as_str(), "reason": why.as_str(),
                             "message": why.reason(), "note": note});
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        store::delete(&mut tx, username, kind.as_str()).await?;
        crate::audit::append(
            &mut tx,
            institution,
            None,
            "mqtt_account.revoked_reserved",
            kind.as_str(),
            username,
            &details,
        )
        .await?;
        let applied = match institution {
            Some(institution) => {
                let decision = Decision::Raise {
                    kind: AlertKind::IdentityRevoked,
                    cause: username.to_owned(),
                    severity: Severity::High,
                    at: chrono::Utc::now(),
                    details,
                };
                alerts::apply_in(&mut tx, &Subject::institution(institution), &decision, false).await?
            }
            None => None,
        };
        tx.commit().await?;
        if let Some(applied) = applied {
            applied.count(&self.metrics);
        }
        Ok(())
    }

    /// Issues the first credential of a device just inserted in `tx`.
    pub async fn issue_device(&self, tx: &mut PgConnection, device_id: &str) -> Result<Credential, BrokerError> {
        let nonce = credentials::random_hex(16);
        let account = Account::device(device_id, self.key.password(device_id, &nonce));
        self.insert(tx, &account, &nonce, Owner::Device(device_id)).await?;
        Ok(credential(&account))
    }

    /// Issues the first credential of a gateway just inserted in `tx`.
    pub async fn issue_gateway(
        &self,
        tx: &mut PgConnection,
        gateway_id: &str,
        base_topic: &str,
    ) -> Result<Credential, BrokerError> {
        let nonce = credentials::random_hex(16);
        let account = Account::gateway(gateway_id, base_topic, self.key.password(gateway_id, &nonce));
        self.insert(tx, &account, &nonce, Owner::Gateway(gateway_id)).await?;
        Ok(credential(&account))
    }

    async fn insert(
        &self,
        tx: &mut PgConnection,
        account: &Account,
        nonce: &str,
        owner: Owner<'_>,
    ) -> Result<(), BrokerError> {
        store::lock_shared(tx).await?;
        let salt = credentials::random_hex(16);
        let (device_id, gateway_id) = match owner {
            Owner::Device(id) => (Some(id), None),
            Owner::Gateway(id) => (None, Some(id)),
        };
        let password_hash = credentials::salted_hash(&account.password, &salt);
        let row = NewAccount {
            username: &account.username,
            kind: account.kind.as_str(),
            device_id,
            gateway_id,
            client_id: account.client_id.as_deref(),
            nonce,
            password_hash: &password_hash,
            salt: &salt,
            publish_topics: &account.publish,
            subscribe_topics: &account.subscribe,
        };
        store::insert(tx, &row).await?;
        if let Some(broker) = &self.broker {
            broker.create(account).await?;
        }
        Ok(())
    }

    /// A new password for `username` (the old one stops working), or `None`
    /// when it has no account; with the client to disconnect once `tx` has
    /// committed.
    pub async fn rotate(
        &self,
        tx: &mut PgConnection,
        username: &str,
    ) -> Result<Option<(Credential, Disconnect)>, BrokerError> {
        store::lock_shared(tx).await?;
        let Some(mut row) = store::lock_account(tx, username).await? else { return Ok(None) };
        let nonce = credentials::random_hex(16);
        row.nonce = Some(nonce.clone());
        let Some(account) = account_of(row, &self.key) else { return Ok(None) };
        let salt = credentials::random_hex(16);
        let password_hash = credentials::salted_hash(&account.password, &salt);
        store::set_password(tx, username, &nonce, &password_hash, &salt).await?;
        if let Some(broker) = &self.broker {
            broker.set_password(&account).await?;
        }
        let disconnect = self.disconnect(account.client_id.clone());
        Ok(Some((credential(&account), disconnect)))
    }

    /// Revokes `username`'s account; its row goes with its device or gateway
    /// in the same transaction. Answers the client to disconnect once `tx`
    /// has committed.
    pub async fn revoke(
        &self,
        tx: &mut PgConnection,
        kind: AccountKind,
        username: &str,
    ) -> Result<Disconnect, BrokerError> {
        store::lock_shared(tx).await?;
        let client_id = store::delete(tx, username, kind.as_str()).await?;
        if let Some(broker) = &self.broker {
            broker.remove(kind, username).await?;
        }
        Ok(self.disconnect(client_id.flatten()))
    }

    fn disconnect(&self, client_id: Option<String>) -> Disconnect {
        match (&self.emqx, client_id) {
            (Some(emqx), Some(client_id)) => Disconnect { emqx: Some(emqx.clone()), client_ids: vec![client_id] },
            _ => Disconnect::none(),
        }
    }
}

/// Why `name` may not be a device's or a gateway's: reserved for the
/// backend by the prefix or by a process's recorded names.
pub async fn reservation(conn: &mut PgConnection, name: &str) -> Result<Option<Reserved>, sqlx::Error> {
    let backend: HashSet<String> = store::reserved_as(conn, name).await?.into_iter().collect();
    Ok(reserved::reserved(name, &backend))
}

enum Owner<'a> {
    Device(&'a str),
    Gateway(&'a str),
}

fn credential(account: &Account) -> Credential {
    Credential { username: account.username.clone(), password: account.password.expose_secret().to_owned() }
}

/// The account with its current password; `None` for a row that cannot
/// be one (the ingest row, which has no nonce).
fn account_of(row: AccountRow, key: &CredentialKey) -> Option<Account> {
    let nonce = row.nonce?;
    let password: SecretString = key.password(&row.username, &nonce);
    Some(Account {
        kind: AccountKind::parse(&row.kind)?,
        client_id: row.client_id,
        password,
        publish: row.publish_topics,
        subscribe: row.subscribe_topics,
        username: row.username,
    })
}
