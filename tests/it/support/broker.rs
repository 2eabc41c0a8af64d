//! A private Mosquitto per test: isolation (no test sees another's messages)
//! and a broker a test may stop, wipe and restart. It runs as shipped:
//! dynamic security, no anonymous access.
//!
//! Accounts on it: `admin` (the dynamic-security admin, for the backend's
//! `MQTT_ADMIN_URL`), the backend's ingest account (created by the backend
//! itself at start, as in production), and `test-harness`, a publish-anything
//! account the harness's own helpers publish with, so tests about data need
//! not register credentials. Tests about identity connect as the devices.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rumqttc::{AsyncClient, ConnectReturnCode, ConnectionError, Event, MqttOptions, Outgoing, Packet, QoS};
use serde_json::{Value, json};

use super::wait_for;

pub const INGEST_USER: &str = "eldercare-ingest";
pub const HARNESS_USER: &str = "test-harness";
/// Derives the test backend's device passwords (32+ characters).
pub const CREDENTIAL_KEY: &str = "test-credential-key-0123456789abcdef";

pub struct Broker {
    pub port: u16,
    /// A second listener with TLS (a test CA's certificate), when asked for.
    pub tls_port: Option<u16>,
    dir: PathBuf,
    child: Option<Child>,
    admin_password: String,
    ingest_password: String,
    harness_password: String,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn random() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Where this machine's Mosquitto keeps its dynamic-security plugin.
pub fn dynsec_plugin() -> &'static str {
    ["/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so", "/usr/lib/mosquitto_dynamic_security.so"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("mosquitto_dynamic_security.so")
}

/// How a connection attempt ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Connect {
    Accepted,
    Refused(ConnectReturnCode),
}

impl Broker {
    pub async fn start() -> Broker {
        Broker::start_with(false).await
    }

    /// A broker that also listens with TLS on `tls_port`, its certificate
    /// signed by a CA of the test's own ([`Broker::ca_file`]).
    pub async fn start_tls() -> Broker {
        Broker::start_with(true).await
    }

    async fn start_with(tls: bool) -> Broker {
        let dir = std::env::temp_dir().join(format!("eldercare-mqtt-{}", random()));
        std::fs::create_dir_all(&dir).expect("broker dir");
        if tls {
            make_certificates(&dir);
        }
        let mut broker = Broker {
            port: free_port(),
            tls_port: tls.then(free_port),
            dir,
            child: None,
            admin_password: random(),
            ingest_password: random(),
            harness_password: random(),
        };
        broker.restart().await;
        broker
    }

    /// Starts (again) on the same port with the same persistence directory;
    /// a wiped directory comes back with the admin account only (and the
    /// harness's), as a freshly initialised broker volume does.
    pub async fn restart(&mut self) {
        let conf = self.dir.join("mosquitto.conf");
        let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/mosquitto-dev.conf"))
            .expect("config/mosquitto-dev.conf");
        let text = template
            .replace("@PORT@", &self.port.to_string())
            .replace("@DATA@", &format!("{}/", self.dir.display()))
            .replace("@DYNSEC_PLUGIN@", dynsec_plugin())
            .lines()
            .filter(|l| !l.starts_with("log_dest") && !l.starts_with("pid_file") && !l.starts_with("user"))
            .collect::<Vec<_>>()
            .join("\n");
        let tls = match self.tls_port {
            Some(port) => format!(
                "listener {port} 127.0.0.1\ncafile {dir}/ca.crt\ncertfile {dir}/server.crt\nkeyfile {dir}/server.key\n",
                dir = self.dir.display()
            ),
            None => String::new(),
        };
        // Root would otherwise drop to the mosquitto user, which cannot write
        // our temporary directory.
        std::fs::write(&conf, format!("{text}\n{tls}user root\n")).expect("write conf");
        let dynsec = self.dir.join("dynamic-security.json");
        let fresh = !dynsec.exists();
        if fresh {
            let status = Command::new("mosquitto_ctrl")
                .args(["dynsec", "init"])
                .arg(&dynsec)
                .args(["admin", &self.admin_password])
                .stdout(Stdio::null())
                .status()
                .expect("mosquitto_ctrl (package mosquitto-clients)");
            assert!(status.success(), "mosquitto_ctrl dynsec init");
        }
        let bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("mosquitto");
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto (run scripts/services.sh to install it)");
        self.child = Some(child);
        let port = self.port;
        wait_for("the broker to listen", || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok().map(|_| ())
        })
        .await;
        if fresh {
            let replies = self
                .control(json!([
                    {"command": "createRole", "rolename": "test-harness-anything", "acls": [
                        {"acltype": "publishClientSend", "topic": "#", "allow": true},
                        {"acltype": "subscribePattern", "topic": "#", "allow": true}]},
                    {"command": "createClient", "username": HARNESS_USER, "password": self.harness_password,
                        "roles": [{"rolename": "test-harness-anything"}]},
                ]))
                .await;
            assert!(replies.iter().all(|r| r.get("error").is_none()), "harness account: {replies:?}");
        }
    }

    /// The test CA's certificate (PEM), for `ELDERCARE__MQTT__CA_FILE`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// Stops the broker; with `persistence true` it saves its state on SIGTERM.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: plain kill(2) on our own child.
            unsafe { libc_kill(child.id() as i32, 15) };
            let _ = child.wait();
        }
    }

    /// Stops the broker and loses everything it kept: accounts, sessions,
    /// retained messages (a lost volume). `restart` brings it back empty.
    pub fn wipe(&mut self) {
        self.stop();
        for entry in std::fs::read_dir(&self.dir).expect("broker dir").flatten() {
            let keep = entry.path().extension().is_some_and(|e| e == "crt" || e == "key");
            if !keep {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// `mqtt://...` of the backend's ingest account.
    pub fn ingest_url(&self, client_id: &str) -> String {
        format!("mqtt://{INGEST_USER}:{}@127.0.0.1:{}?client_id={client_id}", self.ingest_password, self.port)
    }

    /// `MQTT_ADMIN_URL` of this broker.
    pub fn admin_url(&self) -> String {
        format!("mqtt://admin:{}@127.0.0.1:{}", self.admin_password, self.port)
    }

    /// The environment a `serve` process needs for this broker.
    pub fn env(&self, client_id: &str) -> [(&'static str, String); 3] {
        [
            ("MQTT_URL", self.ingest_url(client_id)),
            ("MQTT_ADMIN_URL", self.admin_url()),
            ("ELDERCARE__MQTT__CREDENTIAL_KEY", CREDENTIAL_KEY.to_owned()),
        ]
    }

    /// Dynamic-security commands as the admin, in one control message;
    /// answers their replies.
    pub async fn control(&self, commands: Value) -> Vec<Value> {
        let mut options = MqttOptions::new(format!("test-admin-{}", random()), "127.0.0.1", self.port);
        options.set_credentials("admin", self.admin_password.clone()).set_max_packet_size(4 << 20, 4 << 20);
        let (client, mut eventloop) = AsyncClient::new(options, 10);
        client.subscribe("$CONTROL/dynamic-security/v1/response", QoS::AtLeastOnce).await.expect("subscribe");
        let tag = random();
        let mut commands = commands;
        for c in commands.as_array_mut().expect("a list of commands") {
            c["correlationData"] = json!(tag);
        }
        let body = json!({"commands": commands}).to_string();
        let deadline = tokio::time::Instant::now() + super::PATIENCE;
        loop {
            let event = tokio::time::timeout_at(deadline, eventloop.poll()).await.expect("dynsec answer in time");
            match event.expect("admin connection") {
                Event::Incoming(Packet::SubAck(_)) => {
                    client
                        .publish("$CONTROL/dynamic-security/v1", QoS::AtLeastOnce, false, body.clone())
                        .await
                        .expect("queue control message");
                }
                Event::Incoming(Packet::Publish(p)) => {
                    let reply: Value = serde_json::from_slice(&p.payload).expect("dynsec JSON");
                    let responses = reply["responses"].as_array().cloned().unwrap_or_default();
                    if responses.first().is_some_and(|r| r["correlationData"] == tag.as_str()) {
                        let _ = client.disconnect().await;
                        return responses;
                    }
                }
                _ => {}
            }
        }
    }

    /// Tries to connect with these credentials (clean session) and says how
    /// the broker answered.
    pub async fn try_connect(&self, client_id: &str, credentials: Option<(&str, &str)>) -> Connect {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", self.port);
        if let Some((user, password)) = credentials {
            options.set_credentials(user, password);
        }
        let (client, mut eventloop) = AsyncClient::new(options, 10);
        let outcome = loop {
            let event = tokio::time::timeout(super::PATIENCE, eventloop.poll()).await.expect("connect in time");
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => break Connect::Accepted,
                Ok(_) => {}
                Err(ConnectionError::ConnectionRefused(code)) => break Connect::Refused(code),
                Err(err) => panic!("connecting as {client_id}: {err}"),
            }
        };
        let _ = client.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_secs(2), eventloop.poll()).await;
        outcome
    }

    /// The harness's publisher, at QoS 1, waiting for every PUBACK.
    pub async fn publish_all(&self, messages: &[(String, Vec<u8>)]) {
        self.publish_with(messages, QoS::AtLeastOnce, false).await;
    }

    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.publish_all(&[(topic.to_owned(), payload.into())]).await;
    }

    pub async fn publish_with(&self, messages: &[(String, Vec<u8>)], qos: QoS, retain: bool) {
        let id = format!("{HARNESS_USER}-{}", random());
        self.publish_as(&id, (HARNESS_USER, &self.harness_password), messages, qos, retain).await;
    }

    /// Publishes as any account (a device with its credential) and waits for
    /// every PUBACK. Under MQTT 3.1.1 a publish the broker refuses is
    /// acknowledged all the same: the PUBACK says nothing about delivery.
    pub async fn publish_as(
        &self,
        client_id: &str,
        (user, password): (&str, &str),
        messages: &[(String, Vec<u8>)],
        qos: QoS,
        retain: bool,
    ) {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", self.port);
        options.set_max_packet_size(4 << 20, 4 << 20).set_inflight(1000).set_credentials(user, password);
        let (client, mut eventloop) = AsyncClient::new(options, messages.len() + 10);
        for (topic, payload) in messages {
            client.publish(topic.clone(), qos, retain, payload.clone()).await.expect("queue publish");
        }
        let expected = if qos == QoS::AtMostOnce { 0 } else { messages.len() };
        let mut acked = 0;
        let mut sent = 0;
        let deadline = tokio::time::Instant::now() + super::PATIENCE;
        while acked < expected || sent < messages.len() {
            let Ok(event) = tokio::time::timeout_at(deadline, eventloop.poll()).await else {
                panic!(
                    "{client_id}: publishing timed out with {sent} of {} sent and {acked} acknowledged",
                    messages.len()
                )
            };
            match event.unwrap_or_else(|e| panic!("{client_id}: publisher connection: {e}")) {
                Event::Incoming(Packet::PubAck(_)) => acked += 1,
                Event::Outgoing(Outgoing::Publish(_)) => sent += 1,
                _ => {}
            }
        }
        client.disconnect().await.expect("disconnect");
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while !matches!(eventloop.poll().await, Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_)) {}
        })
        .await;
    }
}

/// A CA and a server certificate for 127.0.0.1 signed by it, with the
/// openssl command line.
fn make_certificates(dir: &std::path::Path) {
    let ext = dir.join("server.ext");
    std::fs::write(&ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n").expect("write server.ext");
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let steps: [Vec<&str>; 3] = [
        [
            &["req", "-x509"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=eldercare test CA"],
        ]
        .concat(),
        [&["req"][..], &ec, &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]].concat(),
        vec![
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    ];
    for args in steps {
        let status = Command::new("openssl")
            .args(&args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl");
        assert!(status.success(), "openssl {args:?}");
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
