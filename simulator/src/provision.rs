//! Registers the simulated institution through the backend's public API, as
//! an admin would: residents, their devices, each household's Zigbee2MQTT
//! bridge, and meal windows. Safe to repeat: residents already known (state
//! file, or same name and room) are reused, devices and bridges that exist
//! (409) are kept and given a new MQTT password, meal windows are replaced.
//! The MQTT credentials the backend answers are kept in the state file: the
//! simulator connects as each device with its own.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::model::{DeviceSpec, ResidentProfile, SimConfig, gateway_base_topic, gateway_id};

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("{what}: request failed: {source}")]
    Http { what: String, source: reqwest::Error },
    #[error("{what}: HTTP {status}: {body}")]
    Status { what: String, status: StatusCode, body: String },
    #[error("{what}: unexpected response: {detail}")]
    Response { what: String, detail: String },
    #[error("state file {path}: {detail}")]
    State { path: String, detail: String },
    #[error(
        "admin email and password are required (--admin-email/--admin-password or ELDERCARE_ADMIN_EMAIL/ELDERCARE_ADMIN_PASSWORD)"
    )]
    MissingCredentials,
}

/// An authenticated session with the backend.
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// A response body, kept as JSON when it is JSON.
struct Reply {
    status: StatusCode,
    body: Value,
    text: String,
}

impl Api {
    pub async fn login(base_url: &str, email: &str, password: &str) -> Result<Api, ProvisionError> {
        // Built with TLS support in the workspace: the client needs a crypto
        // provider (installing it twice is harmless).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|source| ProvisionError::Http { what: "http client".into(), source })?;
        let mut api = Api { http, base: base_url.trim_end_matches('/').to_owned(), token: String::new() };
        let what = "POST /api/v1/auth/login";
        let reply =
            api.call(Method::POST, "/api/v1/auth/login", Some(json!({"email": email, "password": password}))).await?;
        let reply = expect_ok(what, reply)?;
        api.token = reply
            .body
            .get("token")
            .and_then(Value::as_str)
            .ok_or_else(|| ProvisionError::Response { what: what.into(), detail: "no \"token\"".into() })?
            .to_owned();
        Ok(api)
    }

    /// Any API call, as the logged-in user: the status and the JSON body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value), ProvisionError> {
        let reply = self.call(method, path, body).await?;
        Ok((reply.status, reply.body))
    }

    /// A GET whose body is read as a stream (the alert stream).
    pub async fn open_stream(&self, path: &str) -> Result<reqwest::Response, ProvisionError> {
        let what = format!("GET {path}");
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .timeout(std::time::Duration::from_secs(24 * 3600))
            .send()
            .await
            .map_err(|source| ProvisionError::Http { what: what.clone(), source })?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(ProvisionError::Status { what, status: resp.status(), body: String::new() })
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Reply, ProvisionError> {
        let what = format!("{method} {path}");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if !self.token.is_empty() {
            req = req.bearer_auth(&self.token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.map_err(|source| ProvisionError::Http { what: what.clone(), source })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|source| ProvisionError::Http { what, source })?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply { status, body, text })
    }
}

fn expect_ok(what: &str, reply: Reply) -> Result<Reply, ProvisionError> {
    if reply.status.is_success() {
        Ok(reply)
    } else {
        let mut body = reply.text;
        body.truncate(500);
        Err(ProvisionError::Status { what: what.into(), status: reply.status, body })
    }
}

/// Ids are strings in the contract; accept numbers too.
fn id_of(v: &Value) -> Option<String> {
    match v.get("id")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The list in a collection response: a bare array or `{"residents"|"items"|"data": [...]}`.
fn list(body: &Value, key: &str) -> Vec<Value> {
    let arr = match body {
        Value::Array(a) => Some(a),
        Value::Object(o) => [key, "items", "data"].iter().find_map(|k| o.get(*k).and_then(Value::as_array)),
        _ => None,
    };
    arr.cloned().unwrap_or_default()
}

/// What provisioning created, kept between runs: simulated key -> backend
/// id, and each MQTT account's password (username -> password).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub base_url: String,
    pub residents: BTreeMap<String, String>,
    /// Empty when the backend does not manage credentials (`"mqtt": null`).
    #[serde(default)]
    pub mqtt: BTreeMap<String, String>,
}

impl State {
    pub fn load(path: &Path) -> Result<State, ProvisionError> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| ProvisionError::State { path: path.display().to_string(), detail: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(ProvisionError::State { path: path.display().to_string(), detail: e.to_string() }),
        }
    }

    /// Written owner-only: it holds device passwords.
    pub fn save(&self, path: &Path) -> Result<(), ProvisionError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let err =
            |e: &dyn fmt::Display| ProvisionError::State { path: path.display().to_string(), detail: e.to_string() };
        let text = serde_json::to_string_pretty(self).map_err(|e| err(&e))?;
        let tmp = path.with_extension("tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| err(&e))?;
        file.write_all(text.as_bytes()).map_err(|e| err(&e))?;
        std::fs::rename(&tmp, path).map_err(|e| err(&e))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvisionSummary {
    pub residents_created: u32,
    pub residents_reused: u32,
    pub devices_created: u32,
    pub devices_existing: u32,
    pub devices_failed: u32,
    pub meal_windows_set: u32,
    /// MQTT passwords issued (at registration or by rotation).
    pub credentials_issued: u32,
}

impl fmt::Display for ProvisionSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "residents: {} created, {} reused; devices: {} created, {} already registered, {} failed; meal windows set for {}; {} MQTT credentials issued",
            self.residents_created,
            self.residents_reused,
            self.devices_created,
            self.devices_existing,
            self.devices_failed,
            self.meal_windows_set,
            self.credentials_issued,
        )
    }
}

/// Registers every resident of `config` with devices and meal windows.
pub async fn provision(
    api: &Api,
    config: &SimConfig,
    state_path: &Path,
) -> Result<(State, ProvisionSummary), ProvisionError> {
    let mut state = State::load(state_path)?;
    if !state.base_url.is_empty() && state.base_url != api.base {
        warn!(previous = %state.base_url, now = %api.base, "state file was written for another backend; ignoring its ids");
        state.residents.clear();
        state.mqtt.clear();
    }
    state.base_url = api.base.clone();
    let what = "GET /api/v1/residents";
    let existing = list(&expect_ok(what, api.call(Method::GET, "/api/v1/residents", None).await?)?.body, "residents");
    let mut summary = ProvisionSummary::default();
    for profile in &config.residents {
        let id = match find_resident(&existing, state.residents.get(&profile.key), profile) {
            Some(id) => {
                summary.residents_reused += 1;
                id
            }
            None => {
                summary.residents_created += 1;
                create_resident(api, profile).await?
            }
        };
        state.residents.insert(profile.key.clone(), id.clone());
        state.save(state_path)?;
        if let Some(home) = &profile.home {
            let body = json!({"address": home.address, "location": {"lat": home.lat, "lon": home.lon}});
            let path = format!("/api/v1/residents/{id}");
            expect_ok(&format!("PATCH {path}"), api.call(Method::PATCH, &path, Some(body)).await?)?;
        }
        set_meal_windows(api, &id, profile).await?;
        summary.meal_windows_set += 1;
        let body = json!({"gateway_id": gateway_id(&profile.key), "base_topic": gateway_base_topic(&profile.key)});
        let account = Account::Gateway(gateway_id(&profile.key));
        register(api, &account, "/api/v1/gateways", body, &mut state, &mut summary).await?;
        for spec in profile.devices() {
            register_device(api, &spec, Some(&id), &mut state, &mut summary).await?;
        }
        state.save(state_path)?;
        info!(resident = %profile.key, id = %id, name = %profile.name, "provisioned");
    }
    Ok((state, summary))
}

/// Registers the load-mode devices, keeping their credentials in the state
/// file: shared (no resident), or each `worn` by a resident of its own,
/// created with it, so its vital signs go through the rules as a resident's
/// do (a device registered before keeps whoever wears it).
pub async fn provision_load_devices(
    api: &Api,
    ids: impl Iterator<Item = String>,
    worn: bool,
    state_path: &Path,
) -> Result<ProvisionSummary, ProvisionError> {
    let mut state = State::load(state_path)?;
    state.base_url = api.base.clone();
    let mut summary = ProvisionSummary::default();
    for device_id in ids {
        let new = worn
            && api.call(Method::GET, &format!("/api/v1/devices/{device_id}"), None).await?.status
                == StatusCode::NOT_FOUND;
        let resident_id = if new {
            let what = "POST /api/v1/residents";
            let body = json!({"name": format!("Wearer of {device_id}"), "timezone": "UTC"});
            let reply = expect_ok(what, api.call(Method::POST, "/api/v1/residents", Some(body)).await?)?;
            summary.residents_created += 1;
            Some(
                id_of(&reply.body)
                    .ok_or_else(|| ProvisionError::Response { what: what.into(), detail: "no \"id\"".into() })?,
            )
        } else {
            None
        };
        let body = json!({
            "device_id": device_id, "resident_id": resident_id, "kind": "wearable",
            "room": null, "placement": null, "source": "native", "external_id": null,
        });
        register(api, &Account::Device(device_id), "/api/v1/devices", body, &mut state, &mut summary).await?;
    }
    state.save(state_path)?;
    Ok(summary)
}

fn find_resident(existing: &[Value], known: Option<&String>, profile: &ResidentProfile) -> Option<String> {
    if let Some(id) = known
        && existing.iter().any(|r| id_of(r).as_ref() == Some(id))
    {
        return Some(id.clone());
    }
    existing
        .iter()
        .find(|r| {
            // Same name, and the same room when the listing shows rooms.
            r.get("name").and_then(Value::as_str) == Some(profile.name.as_str())
                && r.get("room").and_then(Value::as_str).is_none_or(|room| room == profile.room)
        })
        .and_then(id_of)
}

async fn create_resident(api: &Api, profile: &ResidentProfile) -> Result<String, ProvisionError> {
    let what = "POST /api/v1/residents";
    let body = json!({"name": profile.name, "timezone": profile.timezone.name(), "room": profile.room});
    let reply = expect_ok(what, api.call(Method::POST, "/api/v1/residents", Some(body)).await?)?;
    id_of(&reply.body).ok_or_else(|| ProvisionError::Response { what: what.into(), detail: "no \"id\"".into() })
}

async fn set_meal_windows(api: &Api, id: &str, profile: &ResidentProfile) -> Result<(), ProvisionError> {
    let path = format!("/api/v1/residents/{id}/meal-windows");
    let windows: Vec<Value> = profile
        .meal_windows
        .iter()
        .map(|w| {
            json!({"meal": w.meal.as_str(), "start": w.start.format("%H:%M").to_string(), "end": w.end.format("%H:%M").to_string()})
        })
        .collect();
    expect_ok(&format!("PUT {path}"), api.call(Method::PUT, &path, Some(Value::Array(windows))).await?)?;
    Ok(())
}

async fn register_device(
    api: &Api,
    spec: &DeviceSpec,
    resident_id: Option<&str>,
    state: &mut State,
    summary: &mut ProvisionSummary,
) -> Result<(), ProvisionError> {
    let body = json!({
        "device_id": spec.device_id,
        "resident_id": resident_id,
        "kind": spec.kind.as_str(),
        "room": spec.room.map(|r| r.as_str()),
        "placement": spec.placement,
        "source": spec.source.as_str(),
        "external_id": spec.external_id,
        "gateway_id": spec.gateway,
    });
    // A Zigbee device has no account of its own: its bridge's is used.
    let account = match spec.gateway {
        Some(_) => Account::None(spec.device_id.clone()),
        None => Account::Device(spec.device_id.clone()),
    };
    register(api, &account, "/api/v1/devices", body, state, summary).await
}

/// What a registration's MQTT account is, for rotating it when it exists.
enum Account {
    Device(String),
    Gateway(String),
    /// Registered without an account (a Zigbee device behind its bridge).
    None(String),
}

impl Account {
    fn id(&self) -> &str {
        match self {
            Account::Device(id) | Account::Gateway(id) | Account::None(id) => id,
        }
    }

    fn credentials_path(&self) -> Option<String> {
        match self {
            Account::Device(id) => Some(format!("/api/v1/devices/{id}/credentials")),
            Account::Gateway(id) => Some(format!("/api/v1/gateways/{id}/credentials")),
            Account::None(_) => None,
        }
    }
}

/// Registers one device or gateway, keeping the credential it answers; one
/// that exists (409) is given a new password (the old one, if the state file
/// lost it, is unknowable).
async fn register(
    api: &Api,
    account: &Account,
    path: &str,
    body: Value,
    state: &mut State,
    summary: &mut ProvisionSummary,
) -> Result<(), ProvisionError> {
    let reply = api.call(Method::POST, path, Some(body)).await?;
    let credential = match reply.status {
        s if s.is_success() => {
            summary.devices_created += 1;
            reply.body.get("mqtt").cloned()
        }
        StatusCode::CONFLICT => {
            summary.devices_existing += 1;
            match account.credentials_path() {
                Some(rotate) => {
                    let rotated = api.call(Method::POST, &rotate, None).await?;
                    // 409: the backend does not manage credentials.
                    rotated.status.is_success().then_some(rotated.body)
                }
                None => None,
            }
        }
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            return Err(ProvisionError::Status {
                what: format!("POST {path}"),
                status: reply.status,
                body: reply.text,
            });
        }
        status => {
            summary.devices_failed += 1;
            warn!(id = %account.id(), %status, body = %reply.text, "not registered");
            None
        }
    };
    if let Some(password) = credential.as_ref().and_then(|c| c.get("password")).and_then(Value::as_str) {
        state.mqtt.insert(account.id().to_owned(), password.to_owned());
        summary.credentials_issued += 1;
    }
    Ok(())
}
