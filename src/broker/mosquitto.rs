//! Mosquitto 2's dynamic-security plugin, driven over
//! `$CONTROL/dynamic-security/v1` with the admin account of `MQTT_ADMIN_URL`.
//!
//! What the plugin is like in 2.0, and what follows:
//! - ACL topics take no `%u`/`%c` substitution: each account has a role of
//!   its own (`eldercare-device-{id}`).
//! - It rewrites its whole JSON file after every control message: the
//!   commands of one change go in one message.
//! - Changing a password or removing a client drops its connection: the
//!   reconciler never resets the password of an account that exists.
//! - Each command's answer carries the command's `correlationData`: requests
//!   are matched to answers by it, and an API call answers only after them.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use rumqttc::{AsyncClient, Event, EventLoop, Packet, QoS};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Account, AccountKind, BROKER_TIMEOUT, BrokerAccounts, BrokerError, Reconciled, role_name};
use crate::config::MqttEndpoint;

const CONTROL_TOPIC: &str = "$CONTROL/dynamic-security/v1";
const RESPONSE_TOPIC: &str = "$CONTROL/dynamic-security/v1/response";
/// Marks the broker's clients that eldercare manages (and so may remove).
const MARKER: &str = "managed by eldercare";
/// Roles in this namespace are eldercare's.
const ROLE_PREFIX: &str = "eldercare-";
/// Commands per control message when reconciling a large fleet: one file
/// rewrite per message, and a message well under the broker's packet limit.
const BATCH: usize = 200;

/// One command's answer.
#[derive(Debug, Clone)]
struct Reply {
    command: String,
    error: Option<String>,
    data: Value,
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Vec<Reply>>>>>;

/// The admin connection to one Mosquitto.
pub struct Mosquitto {
    client: AsyncClient,
    pending: Pending,
    /// Distinguishes this process's requests from other admins' on the
    /// shared response topic.
    tag: String,
    next: AtomicU64,
    /// 0 until the first session is ready; bumped at each new session.
    sessions: watch::Receiver<u64>,
}

impl Mosquitto {
    /// Connects as `client_id` (the process's `<client_id>-admin`, a name
    /// reserved for it) in the background, and reconnects, until `shutdown`.
    pub fn start(
        endpoint: &MqttEndpoint,
        client_id: &str,
        ca_file: Option<&std::path::Path>,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Arc<Mosquitto>, BrokerError> {
        let tag = super::credentials::random_hex(6);
        let mut options = super::mqtt_options(endpoint, client_id, ca_file)?;
        options.set_keep_alive(Duration::from_secs(30)).set_clean_session(true).set_max_packet_size(4 << 20, 4 << 20);
        let (client, eventloop) = AsyncClient::new(options, 64);
        let pending: Pending = Arc::default();
        let (sessions_tx, sessions) = watch::channel(0);
        tracker.spawn(poll(client.clone(), eventloop, pending.clone(), sessions_tx, shutdown));
        Ok(Arc::new(Mosquitto { client, pending, tag, next: AtomicU64::new(0), sessions }))
    }

    /// Sends `commands` in one control message and returns their answers, in
    /// order. A command's own refusal is in its [`Reply`], not an error.
    async fn execute(&self, mut commands: Vec<Value>) -> Result<Vec<Reply>, BrokerError> {
        if commands.is_empty() {
            return Ok(vec![]);
        }
        let mut sessions = self.sessions.clone();
        tokio::time::timeout(BROKER_TIMEOUT, sessions.wait_for(|n| *n > 0))
            .await
            .map_err(|_| BrokerError::Unavailable("no connection to the broker's admin account".into()))?
            .map_err(|_| BrokerError::Unavailable("the admin connection is closed".into()))?;
        let batch = format!("{}-{}", self.tag, self.next.fetch_add(1, Ordering::Relaxed));
        for (i, command) in commands.iter_mut().enumerate() {
            command["correlationData"] = json!(format!("{batch}.{i}"));
        }
        let expected = commands.len();
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(batch.clone(), tx);
        let body = json!({ "commands": commands }).to_string();
        let outcome = async {
            self.client
                .publish(CONTROL_TOPIC, QoS::AtLeastOnce, false, body)
                .await
                .map_err(|e| BrokerError::Unavailable(e.to_string()))?;
            tokio::time::timeout(BROKER_TIMEOUT, rx)
                .await
                .map_err(|_| BrokerError::Unavailable("no answer from the broker".into()))?
                .map_err(|_| BrokerError::Unavailable("the admin connection dropped".into()))
        }
        .await;
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&batch);
        let replies = outcome?;
        if replies.len() != expected {
            return Err(BrokerError::Protocol(format!("{} answers to {expected} commands", replies.len())));
        }
        Ok(replies)
    }

    /// Runs `commands`, failing on the first refusal that is not tolerated.
    async fn run(&self, commands: Vec<(Value, Tolerate)>) -> Result<Vec<Reply>, BrokerError> {
        let (commands, tolerate): (Vec<Value>, Vec<Tolerate>) = commands.into_iter().unzip();
        let replies = self.execute(commands).await?;
        for (reply, tolerate) in replies.iter().zip(tolerate) {
            if let Some(error) = &reply.error
                && !tolerate.accepts(error)
            {
                return Err(BrokerError::Refused { command: reply.command.clone(), error: error.clone() });
            }
        }
        Ok(replies)
    }

    async fn create_account(&self, account: &Account) -> Result<(), BrokerError> {
        let role = account.role();
        let mut commands = vec![
            // A role left behind by an earlier account of the same name may
            // carry other topics: start from a clean one.
            (json!({"command": "deleteRole", "rolename": role}), Tolerate::NotFound),
            (create_role(account), Tolerate::Nothing),
            (create_client(account), Tolerate::Exists),
        ];
        if account.kind == AccountKind::Ingest {
            // Ingest's role is shared by every process: never deleted.
            commands.remove(0);
            commands[0].1 = Tolerate::Exists;
        }
        let replies = self.run(commands).await?;
        if replies.last().is_some_and(|r| r.error.is_some()) {
            // The name is taken: by an account of ours left behind (re-create
            // it) or by someone else's (refuse).
            let found = self.run(vec![(get_client(&account.username), Tolerate::Nothing)]).await?;
            let existing = found.first().map(|r| &r.data["client"]).cloned().unwrap_or_default();
            if existing["textdescription"] != MARKER {
                return Err(BrokerError::Foreign(account.username.clone()));
            }
            self.run(vec![
                (json!({"command": "deleteClient", "username": account.username}), Tolerate::NotFound),
                (create_client(account), Tolerate::Nothing),
            ])
            .await?;
        }
        Ok(())
    }

    async fn set_account_password(&self, account: &Account) -> Result<(), BrokerError> {
        let command = json!({"command": "setClientPassword", "username": account.username,
            "password": account.password.expose_secret()});
        let replies = self.run(vec![(command, Tolerate::NotFound)]).await?;
        if replies.first().is_some_and(|r| r.error.is_some()) {
            // The broker lost it (a wiped volume not yet reconciled).
            self.create_account(account).await?;
        }
        Ok(())
    }

    async fn remove_account(&self, kind: AccountKind, username: &str) -> Result<(), BrokerError> {
        self.run(vec![
            (json!({"command": "deleteClient", "username": username}), Tolerate::NotFound),
            (json!({"command": "deleteRole", "rolename": role_name(kind, username)}), Tolerate::NotFound),
        ])
        .await?;
        Ok(())
    }

    async fn reconcile_accounts(&self, desired: &[Account], ingest_password: bool) -> Result<Reconciled, BrokerError> {
        let listed = self
            .run(vec![
                (json!({"command": "listClients", "verbose": true, "count": -1, "offset": 0}), Tolerate::Nothing),
                (json!({"command": "listRoles", "verbose": true, "count": -1, "offset": 0}), Tolerate::Nothing),
            ])
            .await?;
        let clients: HashMap<String, Value> = listed[0].data["clients"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| Some((c["username"].as_str()?.to_owned(), c.clone())))
            .collect();
        let roles: HashMap<String, Vec<Acl>> = listed[1].data["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| Some((r["rolename"].as_str()?.to_owned(), acls_of(&r["acls"]))))
            .collect();

        let mut report = Reconciled::default();
        // Devices and gateways must not subscribe or publish beyond their
        // roles, whatever the broker was configured with.
        let mut commands = vec![(
            json!({"command": "setDefaultACLAccess", "acls": [
                {"acltype": "publishClientSend", "allow": false},
                {"acltype": "subscribe", "allow": false}]}),
            Tolerate::Nothing,
        )];
        let mut wanted_roles = HashSet::new();
        for account in desired {
            let role = account.role();
            wanted_roles.insert(role.clone());
            let mut role_replaced = false;
            match roles.get(&role) {
                None => commands.push((create_role(account), Tolerate::Nothing)),
                Some(acls) if !same_acls(acls, &wanted_acls(account)) => {
                    commands.push((json!({"command": "deleteRole", "rolename": role}), Tolerate::NotFound));
                    commands.push((create_role(account), Tolerate::Nothing));
                    role_replaced = true;
                }
                Some(_) => {}
            }
            let Some(client) = clients.get(&account.username) else {
                commands.push((create_client(account), Tolerate::Nothing));
                report.created += 1;
                continue;
            };
            if account.kind != AccountKind::Ingest && client["textdescription"] != MARKER {
                tracing::warn!(username = %account.username, "the broker has an account of this name that eldercare does not manage; left alone");
                continue;
            }
            let mut repaired = false;
            let client_id = client["clientid"].as_str();
            if client_id != account.client_id.as_deref() {
                commands.push((
                    json!({"command": "setClientId", "username": account.username, "clientid": account.client_id}),
                    Tolerate::Nothing,
                ));
                repaired = true;
            }
            let has_role = client["roles"].as_array().into_iter().flatten().any(|r| r["rolename"] == role.as_str());
            if role_replaced || !has_role {
                commands.push((
                    json!({"command": "addClientRole", "username": account.username, "rolename": role}),
                    Tolerate::Nothing,
                ));
                repaired = true;
            }
            if account.kind == AccountKind::Ingest && ingest_password {
                commands.push((
                    json!({"command": "setClientPassword", "username": account.username,
                        "password": account.password.expose_secret()}),
                    Tolerate::Nothing,
                ));
            }
            report.repaired += usize::from(repaired);
        }
        let wanted_users: HashSet<&str> = desired.iter().map(|a| a.username.as_str()).collect();
        for (username, client) in &clients {
            if client["textdescription"] == MARKER && !wanted_users.contains(username.as_str()) {
                commands.push((json!({"command": "deleteClient", "username": username}), Tolerate::NotFound));
                report.removed += 1;
            }
        }
        for role in roles.keys() {
            if role.starts_with(ROLE_PREFIX) && !wanted_roles.contains(role) {
                commands.push((json!({"command": "deleteRole", "rolename": role}), Tolerate::NotFound));
            }
        }
        // Roles before the clients that name them: the order above is kept
        // across messages.
        let mut rest = commands;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(BATCH));
            self.run(rest).await?;
            rest = tail;
        }
        Ok(report)
    }
}

impl BrokerAccounts for Mosquitto {
    fn create<'a>(&'a self, account: &'a Account) -> BoxFuture<'a, Result<(), BrokerError>> {
        self.create_account(account).boxed()
    }

    fn set_password<'a>(&'a self, account: &'a Account) -> BoxFuture<'a, Result<(), BrokerError>> {
        self.set_account_password(account).boxed()
    }

    fn remove<'a>(&'a self, kind: AccountKind, username: &'a str) -> BoxFuture<'a, Result<(), BrokerError>> {
        self.remove_account(kind, username).boxed()
    }

    fn reconcile<'a>(
        &'a self,
        desired: &'a [Account],
        ingest_password: bool,
    ) -> BoxFuture<'a, Result<Reconciled, BrokerError>> {
        self.reconcile_accounts(desired, ingest_password).boxed()
    }

    fn sessions(&self) -> watch::Receiver<u64> {
        self.sessions.clone()
    }
}

/// Which refusal of a command is an expected outcome rather than a failure.
#[derive(Debug, Clone, Copy)]
enum Tolerate {
    Nothing,
    NotFound,
    Exists,
}

impl Tolerate {
    fn accepts(self, error: &str) -> bool {
        match self {
            Tolerate::Nothing => false,
            Tolerate::NotFound => error.ends_with("not found"),
            Tolerate::Exists => error.ends_with("already exists"),
        }
    }
}

fn create_role(account: &Account) -> Value {
    let acls: Vec<Value> = wanted_acls(account)
        .into_iter()
        .map(|(acltype, topic)| json!({"acltype": acltype, "topic": topic, "priority": 0, "allow": true}))
        .collect();
    json!({"command": "createRole", "rolename": account.role(), "acls": acls})
}

fn create_client(account: &Account) -> Value {
    let mut command = json!({
        "command": "createClient",
        "username": account.username,
        "password": account.password.expose_secret(),
        "textname": format!("eldercare {} {}", account.kind.as_str(), account.username),
        "textdescription": MARKER,
        "roles": [{"rolename": account.role()}],
    });
    if let Some(id) = &account.client_id {
        command["clientid"] = json!(id);
    }
    command
}

fn get_client(username: &str) -> Value {
    json!({"command": "getClient", "username": username})
}

/// (acltype, topic), all allowing.
type Acl = (String, String);

fn wanted_acls(account: &Account) -> Vec<Acl> {
    let publish = account.publish.iter().map(|t| ("publishClientSend".to_owned(), t.clone()));
    let subscribe = account.subscribe.iter().map(|t| ("subscribePattern".to_owned(), t.clone()));
    publish.chain(subscribe).collect()
}

fn acls_of(value: &Value) -> Vec<Acl> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["allow"] == true)
        .filter_map(|a| Some((a["acltype"].as_str()?.to_owned(), a["topic"].as_str()?.to_owned())))
        .collect()
}

fn same_acls(have: &[Acl], want: &[Acl]) -> bool {
    let have: HashSet<&Acl> = have.iter().collect();
    let want: HashSet<&Acl> = want.iter().collect();
    have == want
}

/// Polls the admin connection: subscribes to the answers at each new
/// session and hands each answer to the request waiting for it.
async fn poll(
    client: AsyncClient,
    mut eventloop: EventLoop,
    pending: Pending,
    sessions: watch::Sender<u64>,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let event = tokio::select! {
            event = eventloop.poll() => event,
            _ = shutdown.cancelled() => break,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff = Duration::from_millis(100);
                // A clean session: subscribe every time.
                if let Err(err) = client.try_subscribe(RESPONSE_TOPIC, QoS::AtLeastOnce) {
                    tracing::error!(cause = %err, "subscribing to the dynamic-security answers");
                }
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                tracing::info!("broker admin connection ready");
                sessions.send_modify(|n| *n += 1);
            }
            Ok(Event::Incoming(Packet::Publish(p))) if p.topic == RESPONSE_TOPIC => route(&p.payload, &pending),
            Ok(_) => {}
            Err(err) => {
                // Requests in flight will get no answer on this session.
                pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
                tracing::warn!(cause = %err, retry_in = ?backoff, "broker admin connection lost");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.cancelled() => break,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    let _ = client.try_disconnect();
}

/// Hands one answer message to the request it belongs to; answers to other
/// admins' requests are ignored.
fn route(payload: &[u8], pending: &Pending) {
    let Ok(message) = serde_json::from_slice::<Value>(payload) else {
        tracing::warn!("unreadable dynamic-security answer");
        return;
    };
    let mut replies: Vec<(usize, Reply)> = Vec::new();
    let mut batch = None;
    for r in message["responses"].as_array().into_iter().flatten() {
        let Some((b, i)) = r["correlationData"].as_str().and_then(|c| c.rsplit_once('.')) else { continue };
        let Ok(i) = i.parse::<usize>() else { continue };
        batch.get_or_insert_with(|| b.to_owned());
        replies.push((
            i,
            Reply {
                command: r["command"].as_str().unwrap_or_default().to_owned(),
                error: r["error"].as_str().map(str::to_owned),
                data: r["data"].clone(),
            },
        ));
    }
    let Some(batch) = batch else { return };
    let Some(tx) = pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&batch) else { return };
    replies.sort_by_key(|(i, _)| *i);
    let _ = tx.send(replies.into_iter().map(|(_, r)| r).collect());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_go_to_the_request_that_asked() {
        let pending: Pending = Arc::default();
        let (tx, mut rx) = oneshot::channel();
        pending.lock().unwrap().insert("abc-1".into(), tx);
        route(br#"{"responses":[{"command":"x","correlationData":"other-1.0"}]}"#, &pending);
        assert!(rx.try_recv().is_err(), "another admin's answer is not ours");
        route(
            br#"{"responses":[{"command":"b","error":"Client already exists","correlationData":"abc-1.1"},
                              {"command":"a","data":{"n":1},"correlationData":"abc-1.0"}]}"#,
            &pending,
        );
        let replies = rx.try_recv().unwrap();
        assert_eq!(replies.iter().map(|r| r.command.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(replies[1].error.as_deref(), Some("Client already exists"));
        assert_eq!(replies[0].data["n"], 1);
    }

    #[test]
    fn roles_grant_exactly_the_accounts_topics() {
        let device = Account::device("w-1", "pw".to_owned().into());
        assert_eq!(device.role(), "eldercare-device-w-1");
        assert_eq!(wanted_acls(&device), vec![("publishClientSend".to_owned(), "eldercare/v1/w-1/#".to_owned())]);
        let gateway = Account::gateway("gw", "zigbee2mqtt/home-17", "pw".to_owned().into());
        let acls = wanted_acls(&gateway);
        assert!(acls.contains(&("subscribePattern".to_owned(), "zigbee2mqtt/home-17/#".to_owned())));
        assert!(acls.contains(&("publishClientSend".to_owned(), "zigbee2mqtt/home-17/#".to_owned())));
        let command = create_client(&device);
        assert_eq!((command["clientid"].as_str(), command["textdescription"].as_str()), (Some("w-1"), Some(MARKER)));
        assert!(same_acls(&acls_of(&create_role(&gateway)["acls"]), &acls));
        assert!(!same_acls(&acls_of(&create_role(&device)["acls"]), &acls));
    }
}
