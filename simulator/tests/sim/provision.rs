//! Provisioning against a stand-in for the backend's HTTP API (the contract's
//! endpoints, in memory): what is created, and that a second run reuses it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use eldercare_sim::provision::{self, Api, State};
use eldercare_sim::{SimConfig, devices};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Default)]
struct Backend {
    residents: Vec<Value>,
    devices: HashMap<String, Value>,
    meal_windows: HashMap<String, Value>,
    requests: Vec<String>,
}

fn handle(b: &mut Backend, method: &str, path: &str, auth: Option<&str>, body: Value) -> (u16, Value) {
    b.requests.push(format!("{method} {path}"));
    if path == "/api/v1/auth/login" {
        return if body["password"] == "secret" { (200, json!({"token": "t0k"})) } else { (401, json!({})) };
    }
    if auth != Some("Bearer t0k") {
        return (401, json!({"error": {"code": "unauthorized", "message": "no"}}));
    }
    match (method, path) {
        ("GET", "/api/v1/residents") => (200, json!({"residents": b.residents})),
        ("POST", "/api/v1/residents") => {
            let id = format!("res-{}", b.residents.len() + 1);
            let mut r = body;
            r["id"] = json!(id);
            b.residents.push(r.clone());
            (201, r)
        }
        ("POST", "/api/v1/devices") => {
            let id = body["device_id"].as_str().unwrap_or_default().to_owned();
            if b.devices.contains_key(&id) {
                return (409, json!({"error": {"code": "conflict", "message": "exists"}}));
            }
            b.devices.insert(id, body);
            (201, json!({}))
        }
        ("PUT", p) if p.ends_with("/meal-windows") => {
            b.meal_windows.insert(p.to_owned(), body);
            (200, json!([]))
        }
        _ => (404, json!({})),
    }
}

async fn serve(backend: Arc<Mutex<Backend>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let backend = backend.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let (method, path) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
                    let (mut length, mut auth) = (0usize, None);
                    loop {
                        let mut h = String::new();
                        reader.read_line(&mut h).await.unwrap();
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        let (name, value) = h.split_once(':').unwrap();
                        match name.to_ascii_lowercase().as_str() {
                            "content-length" => length = value.trim().parse().unwrap(),
                            "authorization" => auth = Some(value.trim().to_owned()),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).await.unwrap();
                    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let (status, reply) = handle(&mut backend.lock().unwrap(), &method, &path, auth.as_deref(), body);
                    let reply = reply.to_string();
                    // One write: a separate head and body would meet delayed ACKs.
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{reply}",
                        reply.len()
                    );
                    reader.get_mut().write_all(response.as_bytes()).await.unwrap();
                }
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn provisioning_registers_everything_once() {
    let backend = Arc::new(Mutex::new(Backend::default()));
    let url = serve(backend.clone()).await;
    let dir = std::env::temp_dir().join(format!("sim-provision-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state_path = dir.join("state.json");
    let config = SimConfig::generated(3, 1, "Europe/Paris".parse().unwrap());

    assert!(Api::login(&url, "admin@x", "wrong").await.is_err());
    let api = Api::login(&url, "admin@x", "secret").await.unwrap();
    let (state, summary) = provision::provision(&api, &config, &state_path).await.unwrap();
    assert_eq!((summary.residents_created, summary.devices_created, summary.meal_windows_set), (3, 42, 3));
    assert_eq!(state.residents.len(), 3);
    assert_eq!(State::load(&state_path).unwrap(), state);
    {
        let b = backend.lock().unwrap();
        assert_eq!(b.residents[0]["timezone"], "Europe/Paris");
        let kitchen = &b.devices["r001-motion-kitchen"];
        assert_eq!(kitchen["source"], "zigbee2mqtt");
        assert_eq!(kitchen["external_id"], "r001/kitchen/motion");
        assert_eq!(kitchen["room"], "kitchen");
        assert_eq!(b.devices["r001-door-fridge"]["placement"], "fridge");
        assert_eq!(b.devices["r001-watch"]["resident_id"], json!(state.residents["r001"]));
        let windows = &b.meal_windows[&format!("/api/v1/residents/{}/meal-windows", state.residents["r002"])];
        assert_eq!(windows.as_array().unwrap().len(), 3);
        assert!(windows[0]["start"].as_str().unwrap().len() == 5);
        assert_eq!(b.devices.len(), devices(&config).len());
    }

    // Again: same residents, devices already there, nothing duplicated.
    let (again, summary) = provision::provision(&api, &config, &state_path).await.unwrap();
    assert_eq!(again, state);
    assert_eq!((summary.residents_reused, summary.residents_created), (3, 0));
    assert_eq!((summary.devices_created, summary.devices_existing), (0, 42));
    assert_eq!(backend.lock().unwrap().residents.len(), 3);

    // Without the state file, residents are found by name and room.
    std::fs::remove_file(&state_path).unwrap();
    let (found, summary) = provision::provision(&api, &config, &state_path).await.unwrap();
    assert_eq!((found.residents, summary.residents_created), (state.residents, 0));
    let _ = std::fs::remove_dir_all(&dir);
}
