//! Against a real broker: a private Mosquitto on a free port per test, with
//! anonymous access off (scripts/services.sh installs it).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use eldercare_sim::clock::{Speed, truncate_to_second};
use eldercare_sim::load::{self, LoadOptions};
use eldercare_sim::mqtt::Broker;
use eldercare_sim::publish::{self, RunOptions};
use eldercare_sim::scenario::Scenario;
use eldercare_sim::{Qos, announce, generate};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

/// The one account of the test broker, which refuses anonymous clients as
/// every broker the project ships does.
const USER: &str = "sim-test";
const PASSWORD: &str = "sim-test-password";

struct Mosquitto {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Mosquitto {
    /// The broker's URL with the test account.
    fn url(&self) -> String {
        format!("mqtt://{USER}:{PASSWORD}@127.0.0.1:{}", self.port)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn mosquitto() -> Mosquitto {
    let bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("mosquitto is not installed: run scripts/services.sh");
    let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let dir = std::env::temp_dir().join(format!("eldercare-sim-mqtt-{port}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("broker dir");
    let passwd = dir.join("passwd");
    let made = Command::new("mosquitto_passwd")
        .arg("-b")
        .arg("-c")
        .arg(&passwd)
        .args([USER, PASSWORD])
        .status()
        .expect("mosquitto_passwd (package mosquitto)");
    assert!(made.success(), "mosquitto_passwd failed");
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\nuser root\n", passwd.display()),
    )
    .expect("broker config");
    let child =
        Command::new(bin).arg("-c").arg(&conf).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("mosquitto");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Mosquitto { child, port, dir }
}

/// Subscribes to everything and collects (topic, payload) until `stop` says so.
async fn subscriber(port: u16) -> (tokio::sync::mpsc::Receiver<(String, Vec<u8>)>, tokio::task::JoinHandle<()>) {
    let mut options = MqttOptions::new(format!("test-sub-{port}"), "127.0.0.1", port);
    options.set_max_packet_size(1 << 20, 1 << 20).set_credentials(USER, PASSWORD);
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    let (tx, rx) = tokio::sync::mpsc::channel(1 << 16);
    client.subscribe("#", QoS::AtLeastOnce).await.unwrap();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let _client = client;
        let mut ready = Some(ready_tx);
        loop {
            let event = match eventloop.poll().await {
                Ok(event) => event,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            match event {
                Event::Incoming(Packet::SubAck(_)) => {
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                }
                Event::Incoming(Packet::Publish(p)) => {
                    // A closed receiver means the test is over; the task is aborted next.
                    let _ = tx.send((p.topic.clone(), p.payload.to_vec())).await;
                }
                _ => {}
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(5), ready_rx).await.unwrap().unwrap();
    (rx, task)
}

const SCENARIO: &str = r#"
seed = 3
duration = "2h"
[[resident]]
key = "t1"
[[resident]]
key = "t2"
health = "fhir"
[[incident]]
resident = "t1"
kind = "fall"
at = "+10m"
[[incident]]
resident = "t2"
kind = "device_offline"
at = "+20m"
duration = "30m"
"#;

#[tokio::test]
async fn an_accelerated_run_delivers_every_generated_message() {
    let broker = mosquitto();
    let (mut rx, sub) = subscriber(broker.port).await;
    let scenario = Scenario::parse(SCENARIO).unwrap();
    let start = truncate_to_second(Utc::now() - scenario.duration);
    let config = scenario.config(start, 3).unwrap();
    let expected = generate(&config, start, start + scenario.duration);
    let opts = RunOptions {
        broker: broker.url().parse::<Broker>().unwrap(),
        speed: Speed::Max,
        start,
        duration: Some(scenario.duration),
        credentials: Default::default(),
    };
    let summary = publish::run(&config, &opts, std::future::pending()).await.unwrap();
    let announced = config.residents.len() as u64 * 14;
    assert_eq!(summary.tally.messages, expected.len() as u64 + announced);
    assert_eq!(summary.acked, summary.sent_qos1, "unacknowledged publishes");
    assert_eq!(summary.tally.incidents.values().sum::<u64>(), 2);

    let mut received = Vec::new();
    while received.len() < summary.tally.messages as usize {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(m)) => received.push(m),
            _ => break,
        }
    }
    assert_eq!(received.len() as u64, summary.tally.messages, "messages lost on the way");
    let mut sent: Vec<(String, Vec<u8>)> =
        announce(&config, start).into_iter().chain(expected).map(|m| (m.topic, m.payload)).collect();
    sent.sort();
    received.sort();
    assert!(sent == received, "the broker delivered other bytes than generated");
    sub.abort();
}

#[tokio::test]
async fn in_real_time_the_broker_publishes_the_last_will() {
    let broker = mosquitto();
    let (mut rx, sub) = subscriber(broker.port).await;
    let scenario = Scenario::parse(
        "[[resident]]\nkey = \"w1\"\n[[incident]]\nresident = \"w1\"\nkind = \"device_offline\"\nat = \"+1s\"\nduration = \"1h\"\n",
    )
    .unwrap();
    let start = truncate_to_second(Utc::now());
    let config = scenario.config(start, 1).unwrap();
    let opts = RunOptions {
        broker: broker.url().parse::<Broker>().unwrap(),
        speed: Speed::Factor(1.0),
        start,
        duration: Some(chrono::Duration::seconds(3)),
        credentials: Default::default(),
    };
    let summary = publish::run(&config, &opts, std::future::pending()).await.unwrap();
    assert_eq!(summary.tally.by_kind.get("last_will"), Some(&1));
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut will = None;
    while Instant::now() < deadline && will.is_none() {
        if let Ok(Some((topic, payload))) = tokio::time::timeout(Duration::from_secs(1), rx.recv()).await
            && topic == "eldercare/v1/w1-watch/status"
            && payload == br#"{"online":false}"#
        {
            will = Some(payload);
        }
    }
    assert!(will.is_some(), "the broker never published the Last Will");
    sub.abort();
}

#[tokio::test]
async fn load_mode_counts_every_acknowledgement() {
    let broker = mosquitto();
    let opts = LoadOptions {
        broker: broker.url().parse::<Broker>().unwrap(),
        devices: 100,
        rate: 50_000.0,
        duration: None,
        count: Some(20_000),
        connections: 4,
        qos: Qos::AtLeastOnce,
        inflight: 1000,
        client_prefix: "test-load".into(),
        credentials: Default::default(),
    };
    let summary = load::run(&opts, std::future::pending()).await.unwrap();
    assert_eq!((summary.sent, summary.acked), (20_000, 20_000));
    assert!(summary.achieved_rate() > 1000.0, "{summary}");
}
