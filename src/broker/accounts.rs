//! The account store (`mqtt_accounts`) and its mirror on the broker.
//!
//! A change is made inside the caller's transaction and confirmed by the
//! broker before that transaction commits, so an API call answers only once
//! the broker enforces it. Should the process die between the broker's
//! answer and the commit, the next reconciliation puts the broker back in
//! line with the database.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::credentials::{self, CredentialKey};
use super::mosquitto::Mosquitto;
use super::{Account, AccountKind, BrokerAccounts, BrokerError, Reconciled};
use crate::config::{ConfigError, ManagedAccounts, Settings};

/// Held shared by every credential change and exclusively by a
/// reconciliation, so a reconciliation never sees an account the broker has
/// but the database has not committed yet (and removes it).
const ACCOUNTS_LOCK: i64 = 0x656c_6465_7210;
/// How long `serve` waits at start for the broker to be reconciled before it
/// starts ingesting anyway (the ingest sessions retry until their account
/// exists).
const FIRST_RECONCILE: Duration = Duration::from_secs(10);

/// A credential as shown once, to whoever registered the device.
#[derive(Debug, Serialize)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

/// Device credentials: issued, rotated and revoked in the database, and
/// mirrored into the broker when it keeps accounts of its own.
pub struct Accounts {
    pool: PgPool,
    key: CredentialKey,
    /// `None` when the broker reads `mqtt_accounts` itself (EMQX).
    broker: Option<Arc<dyn BrokerAccounts>>,
    /// The backend's own account, from `MQTT_URL`.
    ingest: Account,
}

impl Accounts {
    /// Starts credential management as the settings ask, or `None` when
    /// credentials are not managed.
    pub async fn start(
        settings: &Settings,
        pool: PgPool,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Option<Arc<Accounts>>, BrokerError> {
        let Some(managed) = settings.mqtt.managed_accounts() else { return Ok(None) };
        let missing = |what: &str| BrokerError::Config(ConfigError::Invalid(format!("{what} is required")));
        let key = settings.mqtt.credential_key.clone().ok_or_else(|| missing("ELDERCARE__MQTT__CREDENTIAL_KEY"))?;
        let endpoint = settings.mqtt.endpoint()?;
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
                let admin = settings.mqtt.admin_endpoint()?.ok_or_else(|| missing("MQTT_ADMIN_URL"))?;
                let ca = settings.mqtt.ca_file.as_deref();
                Some(Mosquitto::start(&admin, ca, shutdown.clone(), tracker)?)
            }
        };
        let accounts = Arc::new(Accounts { pool, key: CredentialKey::new(key), broker, ingest });
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
        sqlx::query("select pg_advisory_lock($1)").bind(ACCOUNTS_LOCK).execute(&mut *conn).await?;
        let result = self.reconcile_locked(&mut conn, first).await;
        // Unlocked whatever happened: the connection goes back to the pool.
        sqlx::query("select pg_advisory_unlock($1)").bind(ACCOUNTS_LOCK).execute(&mut *conn).await?;
        result
    }

    async fn reconcile_locked(&self, conn: &mut PgConnection, first: bool) -> Result<Reconciled, BrokerError> {
        let salt = credentials::random_hex(16);
        let hash = credentials::salted_hash(&self.ingest.password, &salt);
        // A device may never hold the ingest account's name: only an ingest
        // row is replaced.
        sqlx::query(
            "insert into mqtt_accounts (username, kind, password_hash, salt, subscribe_topics)
             values ($1, 'ingest', $2, $3, $4)
             on conflict (username) do update
                set password_hash = excluded.password_hash, salt = excluded.salt,
                    subscribe_topics = excluded.subscribe_topics, issued_at = now()
                where mqtt_accounts.kind = 'ingest'",
        )
        .bind(&self.ingest.username)
        .bind(&hash)
        .bind(&salt)
        .bind(&self.ingest.subscribe)
        .execute(&mut *conn)
        .await?;
        let Some(broker) = &self.broker else { return Ok(Reconciled::default()) };
        let rows: Vec<AccountRow> = sqlx::query_as(
            "select a.username, a.kind, a.client_id, a.nonce, a.publish_topics, a.subscribe_topics
             from mqtt_accounts a where a.kind <> 'ingest' order by a.username",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut desired: Vec<Account> = rows.into_iter().filter_map(|r| r.account(&self.key)).collect();
        desired.push(self.ingest.clone());
        broker.reconcile(&desired, first).await
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
        lock_shared(tx).await?;
        let salt = credentials::random_hex(16);
        let (device_id, gateway_id) = match owner {
            Owner::Device(id) => (Some(id), None),
            Owner::Gateway(id) => (None, Some(id)),
        };
        sqlx::query(
            "insert into mqtt_accounts (username, kind, device_id, gateway_id, client_id, nonce, password_hash, salt,
                                        publish_topics, subscribe_topics)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&account.username)
        .bind(account.kind.as_str())
        .bind(device_id)
        .bind(gateway_id)
        .bind(&account.client_id)
        .bind(nonce)
        .bind(credentials::salted_hash(&account.password, &salt))
        .bind(&salt)
        .bind(&account.publish)
        .bind(&account.subscribe)
        .execute(&mut *tx)
        .await?;
        if let Some(broker) = &self.broker {
            broker.create(account).await?;
        }
        Ok(())
    }

    /// A new password for `username` (the old one stops working), or `None`
    /// when it has no account.
    pub async fn rotate(&self, tx: &mut PgConnection, username: &str) -> Result<Option<Credential>, BrokerError> {
        lock_shared(tx).await?;
        let row: Option<AccountRow> = sqlx::query_as(
            "select username, kind, client_id, nonce, publish_topics, subscribe_topics
             from mqtt_accounts where username = $1 and kind <> 'ingest' for update",
        )
        .bind(username)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(mut row) = row else { return Ok(None) };
        let nonce = credentials::random_hex(16);
        row.nonce = Some(nonce.clone());
        let Some(account) = row.account(&self.key) else { return Ok(None) };
        let salt = credentials::random_hex(16);
        sqlx::query(
            "update mqtt_accounts set nonce = $2, password_hash = $3, salt = $4, issued_at = now() where username = $1",
        )
        .bind(username)
        .bind(&nonce)
        .bind(credentials::salted_hash(&account.password, &salt))
        .bind(&salt)
        .execute(&mut *tx)
        .await?;
        if let Some(broker) = &self.broker {
            broker.set_password(&account).await?;
        }
        Ok(Some(credential(&account)))
    }

    /// Revokes `username`'s account; its row goes with its device or gateway
    /// in the same transaction.
    pub async fn revoke(&self, tx: &mut PgConnection, kind: AccountKind, username: &str) -> Result<(), BrokerError> {
        lock_shared(tx).await?;
        sqlx::query("delete from mqtt_accounts where username = $1 and kind = $2")
            .bind(username)
            .bind(kind.as_str())
            .execute(&mut *tx)
            .await?;
        if let Some(broker) = &self.broker {
            broker.remove(kind, username).await?;
        }
        Ok(())
    }

    /// The ingest account's name, which no device or gateway may take.
    pub fn ingest_username(&self) -> &str {
        &self.ingest.username
    }
}

enum Owner<'a> {
    Device(&'a str),
    Gateway(&'a str),
}

fn credential(account: &Account) -> Credential {
    Credential { username: account.username.clone(), password: account.password.expose_secret().to_owned() }
}

async fn lock_shared(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_advisory_xact_lock_shared($1)").bind(ACCOUNTS_LOCK).execute(&mut *tx).await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    username: String,
    kind: String,
    client_id: Option<String>,
    nonce: Option<String>,
    publish_topics: Vec<String>,
    subscribe_topics: Vec<String>,
}

impl AccountRow {
    /// The account with its current password; `None` for a row that cannot
    /// be one (the ingest row, which has no nonce).
    fn account(self, key: &CredentialKey) -> Option<Account> {
        let nonce = self.nonce?;
        let password: SecretString = key.password(&self.username, &nonce);
        Some(Account {
            kind: AccountKind::parse(&self.kind)?,
            client_id: self.client_id,
            password,
            publish: self.publish_topics,
            subscribe: self.subscribe_topics,
            username: self.username,
        })
    }
}
