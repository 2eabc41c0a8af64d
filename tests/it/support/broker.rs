//! A private Mosquitto per test: isolation (no test sees another's messages)
//! and a broker a test may stop and restart.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};

use super::wait_for;

pub struct Broker {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

impl Broker {
    pub async fn start() -> Broker {
        let dir = std::env::temp_dir().join(format!("eldercare-mqtt-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("broker dir");
        let mut broker = Broker { port: free_port(), dir, child: None };
        broker.restart().await;
        broker
    }

    /// Starts (again) on the same port with the same persistence directory.
    pub async fn restart(&mut self) {
        let conf = self.dir.join("mosquitto.conf");
        let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/mosquitto-dev.conf"))
            .expect("config/mosquitto-dev.conf");
        let text = template
            .replace("@PORT@", &self.port.to_string())
            .replace("@DATA@", &format!("{}/", self.dir.display()))
            .lines()
            .filter(|l| !l.starts_with("log_dest") && !l.starts_with("pid_file") && !l.starts_with("user"))
            .collect::<Vec<_>>()
            .join("\n");
        // Root would otherwise drop to the mosquitto user, which cannot write
        // our temporary directory.
        std::fs::write(&conf, format!("{text}\nuser root\n")).expect("write conf");
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
    }

    /// Stops the broker; with `persistence true` it saves its state on SIGTERM.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: plain kill(2) on our own child.
            unsafe { libc_kill(child.id() as i32, 15) };
            let _ = child.wait();
        }
    }

    /// A device-side client publishing at QoS 1 and waiting for every PUBACK.
    pub async fn publish_all(&self, messages: &[(String, Vec<u8>)]) {
        self.publish_with(messages, QoS::AtLeastOnce, false).await;
    }

    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.publish_all(&[(topic.to_owned(), payload.into())]).await;
    }

    pub async fn publish_with(&self, messages: &[(String, Vec<u8>)], qos: QoS, retain: bool) {
        let id = format!("test-device-{}", uuid::Uuid::new_v4().simple());
        let mut options = MqttOptions::new(id, "127.0.0.1", self.port);
        options.set_max_packet_size(4 << 20, 4 << 20).set_inflight(1000);
        let (client, mut eventloop) = AsyncClient::new(options, messages.len() + 10);
        for (topic, payload) in messages {
            client.publish(topic.clone(), qos, retain, payload.clone()).await.expect("queue publish");
        }
        let expected = if qos == QoS::AtMostOnce { 0 } else { messages.len() };
        let mut acked = 0;
        let mut sent = 0;
        let deadline = tokio::time::Instant::now() + super::PATIENCE;
        while acked < expected || sent < messages.len() {
            let event = tokio::time::timeout_at(deadline, eventloop.poll()).await.expect("publishing timed out");
            match event.expect("publisher connection") {
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
