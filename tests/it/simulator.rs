//! The simulator against the real backend: provisioning through the public
//! API, its messages through the backend's own decoder, and a scripted
//! scenario producing exactly the alerts it scripts.

use std::collections::HashMap;

use chrono::{Duration, Utc};
use eldercare::domain::DeviceKind;
use eldercare::domain::device::{DEFAULT_POWER_ON_THRESHOLD_W, DeviceInfo};
use eldercare::domain::zigbee::ZigbeeState;
use eldercare::ingest::decode::{self, Registry};
use eldercare_sim::dispatch::{self, DispatchPass};
use eldercare_sim::provision::{self, Api};
use eldercare_sim::publish::{self, RunOptions};
use eldercare_sim::rounds;
use eldercare_sim::scenario::Scenario;
use eldercare_sim::{SimConfig, devices, generate};
use serde_json::Value;

use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, wait_for};

fn state_file() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("sim-state-{}.json", uuid::Uuid::new_v4().simple()))
}

#[tokio::test]
async fn provisioning_registers_everything_once_through_the_api() {
    let app = TestApp::spawn().await;
    let config = SimConfig::generated(3, 1, "Europe/Paris".parse().unwrap());
    assert!(Api::login(&app.base, ADMIN_EMAIL, "wrong password").await.is_err());
    let api = Api::login(&app.base, ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap();
    let state = state_file();
    let (first, summary) = provision::provision(&api, &config, &state).await.unwrap();
    let per_resident = devices(&config).len() / 3;
    let zigbee_per_resident = devices(&config).iter().filter(|d| d.gateway.is_some()).count() / 3;
    assert_eq!(
        (summary.residents_created, summary.devices_created, summary.meal_windows_set),
        (3, 3 * per_resident as u32 + 3, 3),
        "every device, and each household's Zigbee2MQTT bridge"
    );
    assert_eq!(
        first.mqtt.len(),
        3 * per_resident - 3 * zigbee_per_resident + 3,
        "a credential per native device and bridge"
    );

    let token = app.admin_token().await;
    let residents = app.get("/api/v1/residents", &token).await;
    assert_eq!(residents["residents"].as_array().unwrap().len(), 3);
    assert_eq!(residents["residents"][0]["timezone"], "Europe/Paris");
    let all = app.get("/api/v1/devices", &token).await;
    assert_eq!(all["devices"].as_array().unwrap().len(), devices(&config).len());
    let kitchen = app.get("/api/v1/devices/r001-motion-kitchen", &token).await;
    assert_eq!(kitchen["source"], "zigbee2mqtt");
    assert_eq!(kitchen["external_id"], "kitchen/motion");
    assert_eq!(kitchen["gateway_id"], "r001-zigbee");
    let rid = first.residents["r001"].clone();
    let settings = app.get(&format!("/api/v1/residents/{rid}/rule-settings"), &token).await;
    assert_eq!(settings["meal_windows"].as_array().unwrap().len(), 3);

    // Again, even without the state file: the same residents, nothing doubled.
    std::fs::remove_file(&state).unwrap();
    let (again, summary) = provision::provision(&api, &config, &state).await.unwrap();
    assert_eq!(again.residents, first.residents);
    // Credentials are rotated on re-provisioning: the old ones are gone.
    assert_eq!(again.mqtt.len(), first.mqtt.len());
    assert!(again.mqtt.iter().all(|(user, pw)| first.mqtt[user] != *pw));
    assert_eq!((summary.residents_created, summary.devices_created), (0, 0));
    assert_eq!(app.get("/api/v1/residents", &token).await["residents"].as_array().unwrap().len(), 3);
    let _ = std::fs::remove_file(&state);
}

struct Devices(HashMap<String, DeviceInfo>, HashMap<String, DeviceInfo>);

impl Registry for Devices {
    fn native(&self, id: &str) -> Option<&DeviceInfo> {
        self.0.get(id)
    }
    fn zigbee(&self, name: &str) -> Option<&DeviceInfo> {
        self.1.get(name)
    }
}

#[test]
fn a_simulated_day_decodes_cleanly_with_the_backends_decoder() {
    let config = SimConfig::generated(6, 11, "Asia/Shanghai".parse().unwrap());
    let mut native = HashMap::new();
    let mut zigbee = HashMap::new();
    for d in devices(&config) {
        let info = DeviceInfo {
            device_id: d.device_id.clone(),
            kind: DeviceKind::parse(&d.kind.to_string()).expect("a device kind of the contract"),
            room: d.room.map(|r| r.as_str().to_owned()),
            placement: d.placement.map(str::to_owned),
            power_on_threshold_w: DEFAULT_POWER_ON_THRESHOLD_W,
        };
        match &d.external_id {
            // Behind the household's bridge: zigbee2mqtt/{key}/{name}.
            Some(_) => zigbee.insert(d.topic_base()["zigbee2mqtt/".len()..].to_owned(), info),
            None => native.insert(d.device_id.clone(), info),
        };
    }
    let registry = Devices(native, zigbee);
    let mut states: HashMap<String, ZigbeeState> = HashMap::new();
    let to = Utc::now();
    let messages = generate(&config, to - Duration::days(1), to);
    assert!(messages.len() > 5_000, "a day of six residents: {}", messages.len());
    let (mut readings, mut events) = (0, 0);
    for m in &messages {
        // Decoded as it is received: at its own simulated time.
        let d = decode::decode(&m.topic, &m.payload, m.at, &registry, &mut states);
        assert!(d.rejections.is_empty(), "{} {}: {:?}", m.topic, String::from_utf8_lossy(&m.payload), d.rejections);
        readings += d.readings.len();
        events += d.events.len();
    }
    assert!(readings > 1_000 && events > 100, "{readings} readings, {events} events");
}

#[tokio::test]
async fn the_demo_scenario_raises_the_alerts_it_scripts() {
    let app = TestApp::spawn().await;
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/simulator/scenarios/demo.toml")).unwrap();
    let scenario = Scenario::parse(&text).unwrap();
    // The first 16 minutes of the demo, played as fast as the broker takes
    // them, ending now (so no timestamp lies in the future).
    let played = Duration::minutes(16);
    let start = Utc::now() - played;
    let config = scenario.config(start, scenario.seed.unwrap_or(7)).unwrap();
    let api = Api::login(&app.base, ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap();
    let state = state_file();
    let (ids, _) = provision::provision(&api, &config, &state).await.unwrap();
    let _ = std::fs::remove_file(&state);
    let opts = RunOptions {
        broker: format!("mqtt://127.0.0.1:{}", app.broker.port).parse().unwrap(),
        speed: eldercare_sim::clock::Speed::Max,
        start,
        duration: Some(played),
        credentials: ids.mqtt.clone(),
    };
    let summary = publish::run(&config, &opts, std::future::pending()).await.unwrap();
    assert_eq!(summary.acked, summary.sent_qos1, "every message acknowledged by the broker");

    let token = app.admin_token().await;
    let (r1, r2, r3) = (&ids.residents["r1"], &ids.residents["r2"], &ids.residents["r3"]);
    let expected: [(&str, &str, &str); 8] = [
        (r1, "fall", "open"),
        (r2, "sos", "open"),
        (r3, "fall", "resolved"),
        (r1, "vital_abnormal", "open"),
        (r2, "smoke", "open"),
        (r3, "water_leak", "open"),
        (r3, "device_offline", "open"),
        (r2, "low_battery", "open"),
    ];
    let alerts: Vec<Value> = wait_for("the scripted alerts", || async {
        let all = app.get("/api/v1/alerts?limit=1000", &token).await["alerts"].as_array()?.clone();
        let found = expected.iter().all(|(rid, kind, status)| {
            all.iter().any(|a| a["resident_id"] == **rid && a["kind"] == *kind && a["status"] == *status)
        });
        found.then_some(all)
    })
    .await;
    let r3_fall = alerts.iter().find(|a| a["resident_id"] == **r3 && a["kind"] == "fall").unwrap();
    assert_eq!(r3_fall["resolution"], "cancelled_by_resident");
    let r1_fall = alerts.iter().find(|a| a["resident_id"] == **r1 && a["kind"] == "fall").unwrap();
    let fall_at = chrono::DateTime::parse_from_rfc3339(r1_fall["condition_at"].as_str().unwrap()).unwrap();
    let off = fall_at.with_timezone(&Utc) - (start + Duration::seconds(30));
    assert!(off.abs() < Duration::milliseconds(1), "the fall at its scripted time (+30 s), off by {off}");
    assert_eq!(app.count("select count(*) from quarantine").await, 0, "everything the simulator sends is valid");

    // The coordinator's side: the fall gets its welfare check, and the
    // carer is at the door (near it, GPS jitter) a few minutes later.
    let scripted = scenario.dispatches();
    assert_eq!(scripted.len(), 1, "the demo dispatches to its fall: {scripted:?}");
    assert_eq!((scripted[0].resident.as_str(), scripted[0].alert_kind.as_str()), ("r1", "fall"));
    let home = app.get(&format!("/api/v1/residents/{r1}"), &token).await;
    assert!(home["location"]["lat"].is_number(), "provisioned with the home's position: {home}");
    let password = "simulated carer password";
    let carer_id = rounds::ensure_carer(&api, "carer@sim.test", password).await.unwrap();
    let carer = Api::login(&app.base, "carer@sim.test", password).await.unwrap();
    let now = Utc::now();
    let arrive = scripted[0].arrive_after;
    let pass = |at| dispatch::pass(&api, &carer, &carer_id, &ids.residents, &scripted, at, 7);
    assert_eq!(pass(now).await.unwrap(), DispatchPass { dispatched: 1, checked_in: 0, checked_out: 0 });
    assert_eq!(pass(now).await.unwrap(), DispatchPass::default(), "once, and the carer is on the way");
    // The dispatch is stamped by the backend's clock, a moment after `now`.
    let later = Utc::now() + arrive;
    assert_eq!(pass(later).await.unwrap(), DispatchPass { dispatched: 0, checked_in: 1, checked_out: 0 });
    let fall_id = r1_fall["id"].as_str().unwrap();
    let timeline = app.get(&format!("/api/v1/alerts/{fall_id}/timeline"), &token).await;
    let actions: Vec<&str> =
        timeline["entries"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for step in ["visit.dispatched", "visit.checked_in"] {
        assert!(actions.contains(&step), "the fall's timeline shows {step}: {actions:?}");
    }
    let visits = app.get(&format!("/api/v1/visits?resident_id={r1}"), &token).await;
    let visit = visits["visits"].as_array().unwrap().iter().find(|v| v["alert_id"] == fall_id).unwrap();
    assert_eq!((visit["service_code"].as_str(), visit["status"].as_str()), (Some("WELFARE-CHECK"), Some("checked_in")));
    assert_eq!(visit["caregiver_id"], carer_id.as_str());
    let distance = visit["evv"]["check_in"]["distance_m"].as_f64().unwrap();
    assert!(distance < 26.0, "at the door: {distance} m");
}

/// The district's demo: the simulator sets up a district (twice: the second
/// finds what the first made), a family orders, the desk takes calls, and
/// once the offers have waited the providers' coordinators answer them: an
/// accepted order is scheduled, and the family sees it so.
#[tokio::test]
async fn the_district_demo_orders_takes_calls_and_gets_orders_matched() {
    use crate::support::{OPERATOR_EMAIL, OPERATOR_PASSWORD};
    use eldercare_sim::orders;

    let app = TestApp::spawn().await;
    let operator = Api::login(&app.base, OPERATOR_EMAIL, OPERATOR_PASSWORD).await.expect("operator");
    let admin = Api::login(&app.base, ADMIN_EMAIL, ADMIN_PASSWORD).await.expect("admin");
    orders::setup(&app.base, admin, &operator, 7).await.expect("the district set up");
    let admin = Api::login(&app.base, ADMIN_EMAIL, ADMIN_PASSWORD).await.expect("admin");
    let mut district = orders::setup(&app.base, admin, &operator, 7).await.expect("set up again, finding it made");
    let elders = app.count("select count(*) from residents where division = '330299001001001'").await;
    assert_eq!(elders, 3, "registered once");
    // The bureau's cockpit draws the district's four streets, Harbour's elders on it.
    let bureau = app.login(orders::BUREAU_EMAIL, orders::BUREAU_PASSWORD).await;
    let map = app.get("/api/v1/cockpit/district", &bureau).await;
    let streets = map["children"].as_array().expect("the streets");
    assert_eq!(streets.len(), 4, "{map}");
    assert!(streets.iter().all(|s| s["boundary"]["type"] == "Polygon"), "{map}");
    assert_eq!(streets[0]["elders"], 3);
    let harbour = app.get("/api/v1/cockpit/district?division=330299001", &bureau).await;
    assert!(harbour["children"].as_array().unwrap().iter().all(|c| c["boundary"]["type"] == "Polygon"), "{harbour}");

    let now = Utc::now();
    let mut ordered = 0;
    for _ in 0..4 {
        let done = orders::pass(&mut district, now).await.expect("a pass");
        assert_eq!((done.calls, done.accepted + done.declined), (1, 0), "offers answered only once they waited");
        ordered += done.ordered;
    }
    assert!(ordered > 0, "orders were made");
    let calls = app.count("select count(*) from calls where by_role = 'desk'").await;
    assert_eq!(calls, 4, "a call a pass");
    let answered = orders::pass(&mut district, now + Duration::minutes(5)).await.expect("the answering pass");
    assert!(answered.accepted + answered.declined > 0, "{answered}");
    let family = app.login(orders::FAMILY_EMAIL, orders::FAMILY_PASSWORD).await;
    let mine = app.get("/api/v1/me/residents", &family).await;
    let rid = mine["residents"][0]["id"].as_str().expect("the family's elder").to_owned();
    let requests = app.get(&format!("/api/v1/service-requests?resident_id={rid}"), &family).await;
    let requests = requests["requests"].as_array().expect("requests").clone();
    assert!(!requests.is_empty());
    for request in &requests {
        let accepted = request["timeline"].as_array().unwrap().iter().any(|s| s["step"] == "accepted");
        if accepted {
            assert_eq!(request["status"], "scheduled", "accepted and scheduled: {request}");
        }
    }
}
