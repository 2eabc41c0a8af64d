//! Device identity on the broker (device contract v2), end to end against a
//! real Mosquitto with dynamic security: what a device's credential lets it
//! do, and nothing more.
//!
//! Under MQTT 3.1.1 the broker acknowledges a refused publish as if it had
//! taken it, so a test that a publish was refused publishes a permitted one
//! after it, on the same ingest session, and waits for that one.

use reqwest::StatusCode;
use rumqttc::{AsyncClient, ConnectReturnCode, Event, MqttOptions, Packet, QoS, SubscribeReasonCode};
use serde_json::{Value, json};

use crate::support::broker::{Connect, INGEST_USER};
use crate::support::{TestApp, wait_for};

/// Registers a native device of a new resident; answers its password.
async fn register(app: &TestApp, token: &str, device_id: &str, kind: &str) -> String {
    let rid = app.resident(token, &format!("Resident of {device_id}")).await;
    let body = app.device(token, json!({"device_id": device_id, "resident_id": rid, "kind": kind})).await;
    assert_eq!(body["mqtt"]["username"], device_id, "{body}");
    body["mqtt"]["password"].as_str().expect("a password, shown once").to_owned()
}

fn event(name: &str) -> Vec<u8> {
    json!({"event": name}).to_string().into_bytes()
}

async fn events_of(app: &TestApp, device: &str) -> i64 {
    app.count(&format!("select count(*) from events where device_id = '{device}'")).await
}

/// Subscribes as the account and answers whether the broker granted it.
async fn may_subscribe(app: &TestApp, client_id: &str, (user, password): (&str, &str), filter: &str) -> bool {
    let mut options = MqttOptions::new(client_id, "127.0.0.1", app.broker.port);
    options.set_credentials(user, password);
    let (client, mut eventloop) = AsyncClient::new(options, 10);
    client.subscribe(filter, QoS::AtLeastOnce).await.expect("queue subscribe");
    let granted = loop {
        let event = tokio::time::timeout(crate::support::PATIENCE, eventloop.poll()).await.expect("SUBACK in time");
        if let Event::Incoming(Packet::SubAck(ack)) = event.expect("connection") {
            break ack.return_codes.iter().all(|c| !matches!(c, SubscribeReasonCode::Failure));
        }
    };
    let _ = client.try_disconnect();
    granted
}

#[tokio::test]
async fn a_device_writes_only_its_own_topics_and_reads_nothing() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let pw_a = register(&app, &token, "id-a", "sos_button").await;
    register(&app, &token, "id-b", "sos_button").await;

    // id-a forges id-b's SOS, then sends its own: only its own arrives.
    let forged = ("eldercare/v1/id-b/event".to_owned(), event("sos_pressed"));
    let own = ("eldercare/v1/id-a/event".to_owned(), event("motion"));
    app.broker.publish_as("id-a", ("id-a", &pw_a), &[forged, own], QoS::AtLeastOnce, false).await;
    wait_for("id-a's own event", || async { (events_of(&app, "id-a").await == 1).then_some(()) }).await;
    assert_eq!(events_of(&app, "id-b").await, 0, "a device published as another");
    assert_eq!(app.count("select count(*) from quarantine").await, 0, "the forged message reached the backend");

    // Nor outside the contract's topics, nor a Last Will on another's status.
    let mut options = MqttOptions::new("id-a", "127.0.0.1", app.broker.port);
    options.set_credentials("id-a", pw_a.clone()).set_last_will(rumqttc::LastWill::new(
        "eldercare/v1/id-b/status",
        r#"{"online":false}"#,
        QoS::AtLeastOnce,
        false,
    ));
    let (client, mut eventloop) = AsyncClient::new(options, 10);
    loop {
        let event = tokio::time::timeout(crate::support::PATIENCE, eventloop.poll()).await.expect("CONNACK in time");
        if let Event::Incoming(Packet::ConnAck(_)) = event.expect("id-a connects") {
            break;
        }
    }
    drop(client);
    drop(eventloop); // gone without DISCONNECT: the broker publishes the will, if allowed
    let own = ("eldercare/v1/id-a/event".to_owned(), event("motion"));
    let elsewhere = ("zigbee2mqtt/anything".to_owned(), br#"{"smoke":true}"#.to_vec());
    app.broker.publish_as("id-a", ("id-a", &pw_a), &[elsewhere, own], QoS::AtLeastOnce, false).await;
    wait_for("id-a's second event", || async { (events_of(&app, "id-a").await == 2).then_some(()) }).await;
    let status: Option<bool> = sqlx::query_scalar("select online from device_state where device_id = 'id-b'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, None, "id-a's Last Will marked id-b offline");
    assert_eq!(app.count("select count(*) from quarantine").await, 0);

    // Reads nothing: not everything, not even its own topics.
    for filter in ["#", "eldercare/v1/id-a/#", "eldercare/v1/id-b/event", "$SYS/#"] {
        assert!(!may_subscribe(&app, "id-a", ("id-a", &pw_a), filter).await, "id-a may subscribe to {filter}");
    }
}

#[tokio::test]
async fn a_device_connects_only_as_itself() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let pw_a = register(&app, &token, "id-a", "wearable").await;
    register(&app, &token, "id-b", "wearable").await;
    let broker = &app.broker;
    assert_eq!(broker.try_connect("id-a", Some(("id-a", &pw_a))).await, Connect::Accepted);
    // The backend's sessions (whose queues it would ack away) and another
    // device's are out of reach.
    for client_id in ["eldercare-ingest-events", "eldercare-ingest-telemetry", "id-b", "anything-else"] {
        assert_eq!(
            broker.try_connect(client_id, Some(("id-a", &pw_a))).await,
            Connect::Refused(ConnectReturnCode::NotAuthorized),
            "id-a connected as {client_id}"
        );
    }
    // A device cannot be named after the backend's account either.
    let (status, body) = app
        .call("POST", "/api/v1/devices", Some(&token), Some(json!({"device_id": INGEST_USER, "kind": "wearable"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = app
        .call("POST", "/api/v1/devices", Some(&token), Some(json!({"device_id": "admin", "kind": "wearable"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "the broker's admin account is not a device name: {body}");
    assert_eq!(app.count("select count(*) from devices where device_id = 'admin'").await, 0);
}

#[tokio::test]
async fn anonymous_wrong_rotated_away_and_revoked_credentials_are_refused() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let old = register(&app, &token, "id-a", "wearable").await;
    let broker = &app.broker;
    let refused = |c: Connect| matches!(c, Connect::Refused(_));
    assert!(refused(broker.try_connect("id-a", None).await), "anonymous");
    assert!(refused(broker.try_connect("id-a", Some(("id-a", "not-the-password"))).await), "wrong password");
    assert!(refused(broker.try_connect("id-a", Some(("id-a", ""))).await), "empty password");

    let (status, rotated) = app.call("POST", "/api/v1/devices/id-a/credentials", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = rotated["password"].as_str().unwrap().to_owned();
    assert_eq!(rotated["username"], "id-a");
    assert_ne!(new, old);
    assert!(refused(broker.try_connect("id-a", Some(("id-a", &old))).await), "rotated-away password");
    assert_eq!(broker.try_connect("id-a", Some(("id-a", &new))).await, Connect::Accepted);
    let audit = app.get("/api/v1/audit?entity=device", &token).await;
    assert!(audit["entries"].as_array().unwrap().iter().any(|e| e["action"] == "device.credential_rotated"));

    let (status, _) = app.call("DELETE", "/api/v1/devices/id-a", Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(refused(broker.try_connect("id-a", Some(("id-a", &new))).await), "revoked credential");
    let (status, _) = app.call("POST", "/api/v1/devices/id-a/credentials", Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.count("select count(*) from mqtt_accounts where username = 'id-a'").await, 0);
}

#[tokio::test]
async fn a_gateway_publishes_under_its_base_topic_only() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let rid = app.resident(&token, "Zhang").await;
    let gw =
        app.post("/api/v1/gateways", &token, json!({"gateway_id": "gw-17", "base_topic": "zigbee2mqtt/home-17"})).await;
    assert_eq!((gw["gateway_id"].as_str(), gw["mqtt"]["username"].as_str()), (Some("gw-17"), Some("gw-17")));
    let pw = gw["mqtt"]["password"].as_str().unwrap().to_owned();
    let motion = json!({"device_id": "z-motion", "resident_id": rid, "kind": "motion_sensor", "room": "living_room",
        "source": "zigbee2mqtt", "external_id": "living_room_motion", "gateway_id": "gw-17"});
    let body = app.device(&token, motion).await;
    assert_eq!(body["mqtt"], Value::Null, "a Zigbee device speaks through its gateway");
    assert_eq!(body["gateway_id"], "gw-17");
    let sos = app.device(&token, json!({"device_id": "id-sos", "resident_id": rid, "kind": "sos_button"})).await;
    assert!(sos["mqtt"]["password"].is_string());

    // Outside its base topic: another home's bridge, a native device, the
    // bare prefix. Then its own device, which arrives.
    let occupied = br#"{"occupancy": true}"#.to_vec();
    let messages = [
        ("zigbee2mqtt/home-18/living_room_motion".to_owned(), occupied.clone()),
        ("eldercare/v1/id-sos/event".to_owned(), event("sos_pressed")),
        ("zigbee2mqtt/living_room_motion".to_owned(), occupied.clone()),
        ("zigbee2mqtt/home-17/bridge/state".to_owned(), br#"{"state":"online"}"#.to_vec()),
        ("zigbee2mqtt/home-17/living_room_motion".to_owned(), occupied),
    ];
    app.broker.publish_as("gw-17", ("gw-17", &pw), &messages, QoS::AtLeastOnce, false).await;
    wait_for("the gateway's motion event", || async { (events_of(&app, "z-motion").await == 1).then_some(()) }).await;
    let room: String = sqlx::query_scalar("select data->>'room' from events where device_id = 'z-motion'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(room, "living_room");
    assert_eq!(events_of(&app, "id-sos").await, 0, "the gateway forged a native device's SOS");
    assert_eq!(app.count("select count(*) from quarantine").await, 0, "only the bridge's own state, ignored");

    // Zigbee2MQTT listens on {base}/+/set and {base}/bridge/#; nothing else.
    let creds = ("gw-17", pw.as_str());
    assert!(may_subscribe(&app, "gw-17", creds, "zigbee2mqtt/home-17/+/set").await);
    assert!(may_subscribe(&app, "gw-17", creds, "zigbee2mqtt/home-17/bridge/#").await);
    assert!(!may_subscribe(&app, "gw-17", creds, "zigbee2mqtt/#").await);
    assert!(!may_subscribe(&app, "gw-17", creds, "eldercare/v1/#").await);
    assert_eq!(
        app.broker.try_connect("eldercare-ingest-events", Some(creds)).await,
        Connect::Refused(ConnectReturnCode::NotAuthorized)
    );
}

#[tokio::test]
async fn gateway_base_topics_never_overlap_or_capture_a_device() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let gateway = |id: &str, base: &str| json!({"gateway_id": id, "base_topic": base});
    app.post("/api/v1/gateways", &token, gateway("gw-1", "zigbee2mqtt/home-1")).await;
    // A version-1 device (no gateway) owns zigbee2mqtt/{its friendly name}.
    app.device(
        &token,
        json!({"device_id": "v1-door", "kind": "door_sensor", "source": "zigbee2mqtt", "external_id": "flat-9/door"}),
    )
    .await;
    for (body, want) in [
        (gateway("gw-2", "zigbee2mqtt/home-1"), StatusCode::CONFLICT),
        (gateway("gw-2", "zigbee2mqtt/home-1/upstairs"), StatusCode::CONFLICT),
        (gateway("gw-2", "zigbee2mqtt/flat-9"), StatusCode::CONFLICT),
        (gateway("gw-2", "zigbee2mqtt/flat-9/door"), StatusCode::CONFLICT),
        (gateway("v1-door", "zigbee2mqtt/elsewhere"), StatusCode::CONFLICT),
        (gateway("gw-1", "zigbee2mqtt/elsewhere"), StatusCode::CONFLICT),
        (gateway("gw-2", "zigbee2mqtt"), StatusCode::UNPROCESSABLE_ENTITY),
        (gateway("gw-2", "home/zigbee"), StatusCode::UNPROCESSABLE_ENTITY),
        (gateway("gw-2", "zigbee2mqtt/+"), StatusCode::UNPROCESSABLE_ENTITY),
        (gateway("gw 2", "zigbee2mqtt/x"), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (status, resp) = app.call("POST", "/api/v1/gateways", Some(&token), Some(body.clone())).await;
        assert_eq!(status, want, "{body} -> {resp}");
        assert!(resp["error"]["code"].is_string(), "{resp}");
    }
    assert_eq!(app.count("select count(*) from gateways").await, 1);
    // Nor may a gateway-less device take a name under a gateway's topic.
    let (status, resp) = app
        .call(
            "POST",
            "/api/v1/devices",
            Some(&token),
            Some(json!({"device_id": "v1-x", "kind": "motion_sensor", "source": "zigbee2mqtt", "external_id": "home-1/x"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{resp}");
    // A device behind the gateway may: the same friendly name is another topic.
    app.device(
        &token,
        json!({"device_id": "z-door", "kind": "door_sensor", "source": "zigbee2mqtt", "external_id": "flat-9/door",
            "gateway_id": "gw-1"}),
    )
    .await;

    // Listed by page, and not removable while devices use it.
    app.post("/api/v1/gateways", &token, gateway("gw-3", "zigbee2mqtt/home-3")).await;
    let page = app.get("/api/v1/gateways?limit=1", &token).await;
    assert_eq!(page["gateways"][0]["gateway_id"], "gw-1");
    assert_eq!(page["gateways"][0]["devices"], 1);
    let next = page["next_cursor"].as_str().unwrap().to_owned();
    let page = app.get(&format!("/api/v1/gateways?limit=1&cursor={next}"), &token).await;
    assert_eq!(page["gateways"][0]["gateway_id"], "gw-3");
    assert_eq!(page["next_cursor"], Value::Null);
    let (status, _) = app.call("DELETE", "/api/v1/gateways/gw-1", Some(&token), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app.call("DELETE", "/api/v1/gateways/gw-3", Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.count("select count(*) from mqtt_accounts where username = 'gw-3'").await, 0);
}

#[tokio::test]
async fn the_reconciler_rebuilds_a_wiped_broker_and_revokes_what_the_database_lost() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let pw_a = register(&app, &token, "id-a", "wearable").await;
    let pw_b = register(&app, &token, "id-b", "wearable").await;
    let gw =
        app.post("/api/v1/gateways", &token, json!({"gateway_id": "gw-1", "base_topic": "zigbee2mqtt/home-1"})).await;
    let pw_gw = gw["mqtt"]["password"].as_str().unwrap().to_owned();

    // The broker loses its volume while the backend runs: it comes back with
    // its admin account only, and the backend puts every account back.
    let (mut broker, db) = app.stop().await;
    broker.wipe();
    broker.restart().await;
    assert!(matches!(broker.try_connect("id-a", Some(("id-a", &pw_a))).await, Connect::Refused(_)), "wiped");
    let app = TestApp::spawn_with(broker, db, |_| {}).await;
    for (user, pw) in [("id-a", &pw_a), ("id-b", &pw_b), ("gw-1", &pw_gw)] {
        assert_eq!(app.broker.try_connect(user, Some((user, pw))).await, Connect::Accepted, "{user} is back in");
    }
    first_motion_gets_through(&app, &pw_a).await;

    // A device removed while the backend was down is revoked at its start.
    let (broker, db) = app.stop().await;
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    sqlx::query("delete from devices where device_id = 'id-b'").execute(&pool).await.unwrap();
    let app = TestApp::spawn_with(broker, db, |_| {}).await;
    assert!(matches!(app.broker.try_connect("id-b", Some(("id-b", &pw_b))).await, Connect::Refused(_)));
    assert_eq!(app.broker.try_connect("id-a", Some(("id-a", &pw_a))).await, Connect::Accepted);
}

/// Device id-a, with its credential, publishes a motion that gets stored.
async fn first_motion_gets_through(app: &TestApp, password: &str) {
    let topic = "eldercare/v1/id-a/event".to_owned();
    app.broker.publish_as("id-a", ("id-a", password), &[(topic, event("motion"))], QoS::AtLeastOnce, false).await;
    wait_for("id-a's event", || async { (events_of(app, "id-a").await == 1).then_some(()) }).await;
}

#[tokio::test]
async fn the_broker_is_wiped_while_the_backend_runs() {
    let mut app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let pw_a = register(&app, &token, "id-a", "wearable").await;
    app.broker.wipe();
    app.broker.restart().await;
    // The admin connection comes back, reconciles, and ingest reconnects.
    wait_for("id-a back in", || async {
        (app.broker.try_connect("id-a", Some(("id-a", &pw_a))).await == Connect::Accepted).then_some(())
    })
    .await;
    app.wait_ready().await;
    first_motion_gets_through(&app, &pw_a).await;
}

#[tokio::test]
async fn emqx_reads_the_account_table_and_without_management_there_is_no_credential() {
    // A managed start creates the ingest account on this broker; the
    // backends below do not manage the broker.
    let app = TestApp::spawn().await;
    let (broker, db) = app.stop().await;

    let app = TestApp::spawn_with(broker, db, |s| {
        s.mqtt.admin_url = None;
        s.mqtt.accounts = eldercare::config::AccountsBackend::Database;
    })
    .await;
    let token = app.admin_token().await;
    let password = register(&app, &token, "id-e", "wearable").await;
    // What EMQX's authentication and authorisation queries (README) read.
    let (hash, salt, client_id, publish, subscribe): (String, String, Option<String>, Vec<String>, Vec<String>) =
        sqlx::query_as(
            "select password_hash, salt, client_id, publish_topics, subscribe_topics from mqtt_accounts
             where username = 'id-e'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
    use sha2::Digest;
    assert_eq!(hash, hex::encode(sha2::Sha256::digest(format!("{password}{salt}"))));
    assert_eq!(client_id.as_deref(), Some("id-e"));
    assert_eq!((publish, subscribe), (vec!["eldercare/v1/id-e/#".to_owned()], vec![]));
    assert_eq!(app.count("select count(*) from mqtt_accounts where kind = 'ingest'").await, 1);
    let (broker, db) = app.stop().await;

    let app = TestApp::spawn_with(broker, db, |s| s.mqtt.admin_url = None).await;
    let token = app.admin_token().await;
    let rid = app.resident(&token, "Unmanaged").await;
    let body = app.device(&token, json!({"device_id": "id-u", "resident_id": rid, "kind": "wearable"})).await;
    assert_eq!(body["mqtt"], Value::Null);
    let (status, resp) = app.call("POST", "/api/v1/devices/id-u/credentials", Some(&token), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{resp}");
}

#[tokio::test]
async fn registration_answers_once_the_broker_enforces_it() {
    // The device can connect the moment the API has answered: no waiting.
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    for i in 0..5 {
        let id = format!("fast-{i}");
        let pw = register(&app, &token, &id, "wearable").await;
        assert_eq!(app.broker.try_connect(&id, Some((&id, &pw))).await, Connect::Accepted);
    }
}

#[tokio::test]
async fn the_backend_speaks_mqtts_with_its_own_ca() {
    let broker = crate::support::Broker::start_tls().await;
    let tls_port = broker.tls_port.unwrap();
    let ca = broker.ca_file();
    let db = crate::support::fresh_database().await;
    // Ingest and the admin connection both over TLS, verified against the CA.
    let over_tls = |url: String| {
        url.replace("mqtt://", "mqtts://")
            .replace(&format!("@127.0.0.1:{}", broker.port), &format!("@127.0.0.1:{tls_port}"))
    };
    let ingest = over_tls(broker.ingest_url("eldercare-ingest"));
    let admin = over_tls(broker.admin_url());

    // Without the CA the broker's certificate is not trusted: nothing connects.
    let mut untrusted = crate::support::settings(&db, &broker, "eldercare-ingest");
    untrusted.mqtt.url = ingest.clone().into();
    untrusted.mqtt.ca_file = Some(std::env::temp_dir().join("no-such-ca.pem"));
    assert!(eldercare::app::Application::build(untrusted).await.is_err(), "a CA file that cannot be read");

    let app = TestApp::spawn_with(broker, db, |s| {
        s.mqtt.url = ingest.into();
        s.mqtt.admin_url = Some(admin.into());
        s.mqtt.ca_file = Some(ca);
    })
    .await;
    let token = app.admin_token().await;
    let password = register(&app, &token, "id-tls", "sos_button").await;
    app.broker
        .publish_as(
            "id-tls",
            ("id-tls", &password),
            &[("eldercare/v1/id-tls/event".into(), event("sos_pressed"))],
            QoS::AtLeastOnce,
            false,
        )
        .await;
    wait_for("the SOS, received over TLS", || async { (events_of(&app, "id-tls").await == 1).then_some(()) }).await;
}

/// Polls `/readyz` until stopped; answers every time it was not ready or
/// showed a problem.
fn watch_readiness(app: &TestApp) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<Vec<String>>) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let (http, url) = (app.http.clone(), app.url("/readyz"));
    let watcher = tokio::spawn(async move {
        let mut red = Vec::new();
        let mut every = tokio::time::interval(std::time::Duration::from_millis(20));
        loop {
            tokio::select! {
                _ = &mut stopped => return red,
                _ = every.tick() => {}
            }
            match http.get(&url).send().await {
                Ok(r) => {
                    let status = r.status();
                    let body: Value = r.json().await.unwrap_or(Value::Null);
                    let problems = body["problems"].as_array().is_some_and(|p| !p.is_empty());
                    if status != StatusCode::OK || problems {
                        red.push(format!("{status} {body}"));
                    }
                }
                Err(err) => red.push(err.to_string()),
            }
        }
    });
    (stop, watcher)
}

/// A staff member registers the backend's own names (this process's, those
/// of another process sharing the database, the broker admin's, anything
/// under the reserved prefix) as devices and gateways: each is refused. The
/// backend's sessions stay up throughout, and an SOS still raises its alert.
#[tokio::test]
async fn the_backends_own_names_are_refused_as_devices_and_gateways_and_an_sos_still_gets_through() {
    // Another process with its own client id has run on this database.
    let db = crate::support::fresh_database().await;
    let other = crate::support::Broker::start().await;
    let other_url = other.ingest_url("worker-2");
    let other = TestApp::spawn_with(other, db, |s| s.mqtt.url = other_url.into()).await;
    let (_, db) = other.stop().await;

    let app = TestApp::spawn_with(crate::support::Broker::start().await, db, |_| {}).await;
    let (stop, watcher) = watch_readiness(&app);
    let token = app.admin_token().await;
    let rid = app.resident(&token, "Grandma").await;
    let reserved = [
        "eldercare-ingest",
        "eldercare-ingest-events",
        "eldercare-ingest-telemetry",
        "eldercare-ingest-admin",
        "worker-2",
        "worker-2-events",
        "Worker-2-Telemetry",
        "worker-2-admin",
        "Eldercare-anything",
        "admin",
    ];
    for name in reserved {
        let device = json!({"device_id": name, "resident_id": rid, "kind": "sos_button"});
        let (status, body) = app.call("POST", "/api/v1/devices", Some(&token), Some(device)).await;
        assert_eq!(status, StatusCode::CONFLICT, "device {name}: {body}");
        assert_eq!(body["error"]["code"], "conflict", "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("reserved for the backend"), "{body}");
        let gateway = json!({"gateway_id": name, "base_topic": format!("zigbee2mqtt/{}", name.to_lowercase())});
        let (status, body) = app.call("POST", "/api/v1/gateways", Some(&token), Some(gateway)).await;
        assert_eq!(status, StatusCode::CONFLICT, "gateway {name}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("reserved for the backend"), "{body}");
    }
    assert_eq!(app.count("select count(*) from devices").await, 0);
    assert_eq!(app.count("select count(*) from gateways").await, 0);
    assert_eq!(app.count("select count(*) from mqtt_accounts where kind <> 'ingest'").await, 0);

    let password = register(&app, &token, "sos-1", "sos_button").await;
    let rid_of_sos: String = sqlx::query_scalar("select resident_id::text from devices where device_id = 'sos-1'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let press = ("eldercare/v1/sos-1/event".to_owned(), event("sos_pressed"));
    app.broker.publish_as("sos-1", ("sos-1", &password), &[press], QoS::AtLeastOnce, false).await;
    wait_for("the SOS alert", || async {
        let body = app.get(&format!("/api/v1/alerts?resident_id={rid_of_sos}&kind=sos"), &token).await;
        body["alerts"].as_array()?.iter().find(|a| a["status"] == "open").cloned()
    })
    .await;
    let _ = stop.send(());
    let red = watcher.await.unwrap();
    assert!(red.is_empty(), "/readyz went red or showed a problem: {red:?}");
}

/// A device and a gateway registered under reserved names by an older
/// release (inserted as it would have) are revoked when the backend starts:
/// the broker refuses the device, its institution has an alert, the audit
/// trail says why, and `/readyz` shows the problem until the alerts are
/// resolved.
#[tokio::test]
async fn an_account_under_a_reserved_name_is_revoked_at_start_with_an_alert_and_a_readyz_problem() {
    use eldercare::broker::credentials::{CredentialKey, salted_hash};
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let rid = app.resident(&token, "Grandpa").await;
    let pw_ok = register(&app, &token, "id-ok", "wearable").await;
    let (broker, db) = app.stop().await;

    // What an older release let a staff member register, on the broker too.
    let evil = "eldercare-ingest-events";
    let key = CredentialKey::new(crate::support::broker::CREDENTIAL_KEY.to_owned().into());
    let password = key.password(evil, "n1");
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let institution: uuid::Uuid = sqlx::query_scalar("select institution_id from residents where id = $1::uuid")
        .bind(&rid)
        .fetch_one(&pool)
        .await
        .unwrap();
    sqlx::query(
        "insert into devices (device_id, institution_id, resident_id, kind) values ($1, $2, $3::uuid, 'sos_button')",
    )
    .bind(evil)
    .bind(institution)
    .bind(&rid)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into gateways (gateway_id, institution_id, base_topic) values ('Eldercare-gw', $1, 'zigbee2mqtt/old')",
    )
    .bind(institution)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into mqtt_accounts (username, kind, device_id, gateway_id, client_id, nonce, password_hash, salt,
                                    publish_topics, subscribe_topics)
         values ($1, 'device', $1, null, $1, 'n1', $2, 's', array['eldercare/v1/' || $1 || '/#'], '{}'),
                ('Eldercare-gw', 'gateway', null, 'Eldercare-gw', 'Eldercare-gw', 'n2', 'x', 's',
                 array['zigbee2mqtt/old/#'], array['zigbee2mqtt/old/#'])",
    )
    .bind(evil)
    .bind(salted_hash(&password, "s"))
    .execute(&pool)
    .await
    .unwrap();
    use secrecy::ExposeSecret;
    let password = password.expose_secret().to_owned();
    let created = broker
        .control(json!([{"command": "createClient", "username": evil, "password": password, "clientid": evil,
            "textdescription": "managed by eldercare"}]))
        .await;
    assert!(created[0]["error"].is_null(), "{created:?}");
    assert_eq!(broker.try_connect(evil, Some((evil, &password))).await, Connect::Accepted, "the old account works");

    let app = TestApp::spawn_with(broker, db, |_| {}).await;
    assert!(
        matches!(app.broker.try_connect(evil, Some((evil, &password))).await, Connect::Refused(_)),
        "the colliding account still connects"
    );
    assert_eq!(app.broker.try_connect("id-ok", Some(("id-ok", &pw_ok))).await, Connect::Accepted);
    assert_eq!(app.count("select count(*) from mqtt_accounts where kind <> 'ingest'").await, 1, "id-ok's only");
    assert_eq!(app.count("select count(*) from devices").await, 2, "the device stays registered, without account");

    let alerts = wait_for("the identity_revoked alerts", || async {
        let body = app.get("/api/v1/alerts?kind=identity_revoked", &token).await;
        let alerts = body["alerts"].as_array()?.clone();
        (alerts.len() == 2).then_some(alerts)
    })
    .await;
    let mut causes: Vec<&str> = alerts.iter().map(|a| a["cause"].as_str().unwrap()).collect();
    causes.sort();
    assert_eq!(causes, ["Eldercare-gw", evil]);
    assert!(alerts.iter().all(|a| a["severity"] == "high" && a["status"] == "open"), "{alerts:?}");
    let audit = app.get("/api/v1/audit?action=mqtt_account.revoked_reserved", &token).await;
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{audit}");
    assert!(entries.iter().any(|e| e["entity_id"] == evil && e["details"]["reason"] == "reserved_prefix"), "{audit}");

    // Operators see it on /readyz, which stays ready, until it is dealt with.
    wait_for("the readyz problem", || async {
        let (status, ready) = app.call("GET", "/readyz", None, None).await;
        let shown =
            ready["problems"].as_array()?.iter().any(|p| p.as_str().is_some_and(|p| p.starts_with("identity_revoked")));
        (status == StatusCode::OK && shown).then_some(())
    })
    .await;
    for alert in &alerts {
        let path = format!("/api/v1/alerts/{}/resolve", alert["id"].as_str().unwrap());
        app.post(&path, &token, json!({"resolution": "handled"})).await;
    }
    wait_for("the readyz problem to end", || async {
        let (_, ready) = app.call("GET", "/readyz", None, None).await;
        ready["problems"].as_array()?.is_empty().then_some(())
    })
    .await;
}

/// The `query = "..."` strings of `config/scale/emqx.conf`, in order:
/// authentication's, then authorisation's.
fn emqx_queries() -> Vec<String> {
    let conf = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/scale/emqx.conf")).unwrap();
    conf.lines()
        .filter_map(|l| l.trim().strip_prefix("query = \"")?.strip_suffix('"').map(str::to_owned))
        .map(|q| q.replace("${username}", "$1").replace("${clientid}", "$2"))
        .collect()
}

/// The grant `docker-compose.scale.yml` gives EMQX's reader role.
fn compose_grant() -> String {
    let compose = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docker-compose.scale.yml")).unwrap();
    let start = compose.find("grant select on").expect("the grants service");
    let end = start + compose[start..].find('"').unwrap();
    compose[start..end].to_owned()
}

/// EMQX's own queries, run as a role with exactly the compose file's grant:
/// a device account under a reserved name (the prefix, or a name another
/// process recorded) can neither authenticate nor is granted a topic, while
/// a normal device and the backend's ingest account still are.
#[tokio::test]
async fn emqx_queries_refuse_reserved_names_and_accept_a_normal_device() {
    // A managed start creates the ingest account on this Mosquitto, which
    // stands in for EMQX's listener; the tables are what is under test.
    let (broker, db) = TestApp::spawn().await.stop().await;
    let app = TestApp::spawn_with(broker, db, |s| {
        s.mqtt.admin_url = None;
        s.mqtt.accounts = eldercare::config::AccountsBackend::Database;
    })
    .await;
    let token = app.admin_token().await;
    let password = register(&app, &token, "id-e", "wearable").await;
    // Rows an older release wrote, and a name another process recorded.
    sqlx::query("insert into mqtt_reserved_names (name, process) values ('worker-2-events', 'worker-2')")
        .execute(&app.pool)
        .await
        .unwrap();
    let institution: uuid::Uuid = sqlx::query_scalar("select institution_id from devices where device_id = 'id-e'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    for name in ["Eldercare-ingest-Events", "worker-2-events"] {
        sqlx::query("insert into devices (device_id, institution_id, kind) values ($1, $2, 'sos_button')")
            .bind(name)
            .bind(institution)
            .execute(&app.pool)
            .await
            .unwrap();
        sqlx::query(
            "insert into mqtt_accounts (username, kind, device_id, client_id, nonce, password_hash, salt, publish_topics)
             select $1, 'device', $1, $1, 'n', password_hash, salt, array['eldercare/v1/' || $1 || '/#']
             from mqtt_accounts where username = 'id-e'",
        )
        .bind(name)
        .execute(&app.pool)
        .await
        .unwrap();
    }

    let queries = emqx_queries();
    assert_eq!(queries.len(), 2, "authentication and authorisation: {queries:?}");
    let role = format!("emqx_reader_{}", uuid::Uuid::new_v4().simple());
    let grant = compose_grant().replace("emqx_reader", &role);
    let mut conn = app.pool.acquire().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("create role {role}"))).execute(&mut *conn).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(grant)).execute(&mut *conn).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("set role {role}"))).execute(&mut *conn).await.unwrap();
    let authn = |user: &'static str, client: &'static str| {
        sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(queries[0].clone())).bind(user).bind(client)
    };
    let authz = |user: &'static str| {
        sqlx::query_as::<_, (String, String, String)>(sqlx::AssertSqlSafe(queries[1].clone())).bind(user)
    };

    let (hash, salt) = authn("id-e", "id-e").fetch_optional(&mut *conn).await.unwrap().expect("id-e authenticates");
    use sha2::Digest;
    assert_eq!(hash, hex::encode(sha2::Sha256::digest(format!("{password}{salt}"))));
    let grants = authz("id-e").fetch_all(&mut *conn).await.unwrap();
    assert_eq!(grants, [("allow".to_owned(), "publish".to_owned(), "eldercare/v1/id-e/#".to_owned())]);
    assert!(authn("id-e", "eldercare-ingest-events").fetch_optional(&mut *conn).await.unwrap().is_none());
    for name in ["Eldercare-ingest-Events", "worker-2-events"] {
        assert!(authn(name, name).fetch_optional(&mut *conn).await.unwrap().is_none(), "{name} authenticates");
        assert!(authz(name).fetch_all(&mut *conn).await.unwrap().is_empty(), "{name} is granted topics");
    }
    // The backend itself, under any of its session ids, still gets in.
    for client in ["eldercare-ingest-events", "eldercare-ingest-telemetry"] {
        assert!(authn("eldercare-ingest", client).fetch_optional(&mut *conn).await.unwrap().is_some(), "{client}");
    }
    let ingest = authz("eldercare-ingest").fetch_all(&mut *conn).await.unwrap();
    assert!(ingest.iter().any(|(_, action, topic)| action == "subscribe" && topic == "eldercare/v1/#"), "{ingest:?}");

    sqlx::query("reset role").execute(&mut *conn).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("drop owned by {role}"))).execute(&mut *conn).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("drop role {role}"))).execute(&mut *conn).await.unwrap();
}

/// One request the stand-in for EMQX's API received: method, path,
/// `Authorization`, and the account's password hash in the database at that
/// moment (`None`: no account).
type ApiCall = (String, String, String, Option<String>);

/// A small HTTP server standing in for EMQX's REST API (no EMQX runs here):
/// it records each request, with what the database holds for the account
/// when it arrives, and answers 204.
async fn fake_emqx_api(pool: sqlx::PgPool) -> (String, std::sync::Arc<std::sync::Mutex<Vec<ApiCall>>>) {
    use axum::extract::{Path as UrlPath, State};
    use axum::http::{HeaderMap, Method};
    type Calls = std::sync::Arc<std::sync::Mutex<Vec<ApiCall>>>;
    let calls: Calls = Default::default();
    async fn record(
        State((pool, calls)): State<(sqlx::PgPool, Calls)>,
        method: Method,
        UrlPath(client_id): UrlPath<String>,
        headers: HeaderMap,
    ) -> axum::http::StatusCode {
        let hash: Option<String> = sqlx::query_scalar("select password_hash from mqtt_accounts where client_id = $1")
            .bind(&client_id)
            .fetch_optional(&pool)
            .await
            .unwrap();
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        calls.lock().unwrap().push((method.to_string(), format!("/api/v5/clients/{client_id}"), auth, hash));
        axum::http::StatusCode::NO_CONTENT
    }
    let router = axum::Router::new()
        .route("/api/v5/clients/{client_id}", axum::routing::any(record))
        .with_state((pool, calls.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}"), calls)
}

/// On EMQX (the broker reads the table), rotating or revoking a credential
/// disconnects the live client through EMQX's API, after the change has
/// committed (else the client would reconnect with the old password); the
/// reconciler's revocation of a reserved name does too, except for a name
/// the backend's own sessions use, which only the backend may hold.
#[tokio::test]
async fn on_emqx_a_rotated_or_revoked_credential_disconnects_the_client_through_its_api() {
    let (broker, db) = TestApp::spawn().await.stop().await;
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let (api, calls) = fake_emqx_api(pool.clone()).await;
    let emqx = |s: &mut eldercare::config::Settings| {
        s.mqtt.admin_url = None;
        s.mqtt.accounts = eldercare::config::AccountsBackend::Database;
        s.mqtt.emqx_api_url = Some(api.clone());
        s.mqtt.emqx_api_key = Some("eldercare".into());
        s.mqtt.emqx_api_secret = Some("api-secret".to_owned().into());
    };
    let app = TestApp::spawn_with(broker, db, emqx).await;
    let basic = format!("Basic {}", base64_encode(b"eldercare:api-secret"));
    let token = app.admin_token().await;
    register(&app, &token, "id-k", "wearable").await;
    let gw =
        app.post("/api/v1/gateways", &token, json!({"gateway_id": "gw-k", "base_topic": "zigbee2mqtt/home-k"})).await;
    assert!(gw["mqtt"]["password"].is_string());
    assert!(calls.lock().unwrap().is_empty(), "a new credential disconnects nobody");

    let rotated = app.post("/api/v1/devices/id-k/credentials", &token, json!({})).await;
    let hash: String = sqlx::query_scalar("select password_hash from mqtt_accounts where username = 'id-k'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(rotated["password"].is_string());
    app.post("/api/v1/gateways/gw-k/credentials", &token, json!({})).await;
    let (status, _) = app.call("DELETE", "/api/v1/devices/id-k", Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let seen = calls.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(
        seen[0],
        ("DELETE".to_owned(), "/api/v5/clients/id-k".to_owned(), basic.clone(), Some(hash)),
        "the rotation, disconnected once committed: the database already held the new password"
    );
    assert_eq!(seen[1].1, "/api/v5/clients/gw-k");
    assert_eq!(
        seen[2],
        ("DELETE".to_owned(), "/api/v5/clients/id-k".to_owned(), basic.clone(), None),
        "the revocation, disconnected once committed: the account was already gone"
    );

    // Accounts under reserved names, as an older release wrote them: both
    // are revoked at start; only the one no backend session uses is
    // disconnected.
    let (broker, db) = app.stop().await;
    calls.lock().unwrap().clear();
    let institution: uuid::Uuid = sqlx::query_scalar("select institution_id from gateways where gateway_id = 'gw-k'")
        .fetch_one(&pool)
        .await
        .unwrap();
    for name in ["eldercare-ingest-events", "eldercare-stray"] {
        sqlx::query("insert into devices (device_id, institution_id, kind) values ($1, $2, 'sos_button')")
            .bind(name)
            .bind(institution)
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query(
            "insert into mqtt_accounts (username, kind, device_id, client_id, nonce, password_hash, salt)
             values ($1, 'device', $1, $1, 'n', 'h', 's')",
        )
        .bind(name)
        .execute(&pool)
        .await
        .unwrap();
    }
    let app = TestApp::spawn_with(broker, db, emqx).await;
    assert_eq!(app.count("select count(*) from mqtt_accounts where username like 'eldercare-%'").await, 1, "ingest's");
    let seen = calls.lock().unwrap().clone();
    assert_eq!(seen, [("DELETE".to_owned(), "/api/v5/clients/eldercare-stray".to_owned(), basic, None)]);
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
