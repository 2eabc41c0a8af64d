//! Devices: registration (what the ingest worker accepts) and their health.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::AuthUser;
use super::error::ResultExt;
use super::{ApiContext, Error, Json, Path, Query, Result};
use crate::broker::{AccountKind, Credential, Disconnect};
use crate::domain::device::DEFAULT_POWER_ON_THRESHOLD_W;
use crate::domain::{DeviceKind, Source};
use crate::store::devices::{self, Device, DeviceChange, NewDevice};

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/devices", post(create).get(list))
        .route("/devices/{device_id}", get(fetch).patch(update).delete(remove))
        .route("/devices/{device_id}/credentials", post(rotate))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDeviceRequest {
    device_id: String,
    resident_id: Option<Uuid>,
    kind: String,
    room: Option<String>,
    placement: Option<String>,
    #[serde(default, deserialize_with = "super::non_null")]
    source: Option<String>,
    external_id: Option<String>,
    gateway_id: Option<String>,
    #[serde(default, deserialize_with = "super::non_null")]
    power_on_threshold_w: Option<f64>,
}

/// A registration's answer: the device, and its MQTT credential, shown this
/// once (`null` when credentials are not managed, or for a Zigbee2MQTT
/// device, which speaks through its gateway's).
#[derive(Debug, Serialize)]
pub struct Registered {
    #[serde(flatten)]
    device: Device,
    mqtt: Option<Credential>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DevicePatch {
    #[serde(default, deserialize_with = "crate::domain::wire::double_option")]
    resident_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "super::non_null")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "crate::domain::wire::double_option")]
    room: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::domain::wire::double_option")]
    placement: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::non_null")]
    power_on_threshold_w: Option<f64>,
}

/// Device and gateway ids are MQTT usernames and topic levels.
pub fn is_mqtt_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn validate_device_id(id: &str) -> Result<()> {
    if is_mqtt_id(id) {
        Ok(())
    } else {
        Err(Error::validation("device_id", "device_id must match [A-Za-z0-9_.-]{1,64}"))
    }
}

/// Devices and gateways share one namespace of MQTT usernames and client
/// ids, and none may take a name the backend uses on the broker (that of
/// any process sharing this database): it could take over the backend's
/// sessions and the alarms queued for them.
pub async fn check_username_free(tx: &mut sqlx::PgConnection, id: &str) -> Result<()> {
    if let Some(why) = crate::broker::accounts::reservation(tx, id).await? {
        return Err(Error::Conflict(format!("{id:?} cannot be a device or gateway id: {}", why.reason())));
    }
    if devices::name_taken(tx, id).await? {
        return Err(Error::Conflict(format!("{id:?} is already the name of a device or gateway")));
    }
    Ok(())
}

fn parse_kind(kind: &str) -> Result<DeviceKind> {
    DeviceKind::parse(kind).ok_or_else(|| {
        let kinds: Vec<&str> = DeviceKind::ALL.iter().map(DeviceKind::as_str).collect();
        Error::validation("kind", format!("kind must be one of {}", kinds.join(", ")))
    })
}

fn validate_threshold(w: f64) -> Result<()> {
    if w.is_finite() && (0.0..=10_000.0).contains(&w) {
        Ok(())
    } else {
        Err(Error::validation("power_on_threshold_w", "power_on_threshold_w must be between 0 and 10000"))
    }
}

/// A device may only be attached to a resident of the caller's institution.
async fn check_resident(ctx: &ApiContext, auth: &AuthUser, resident_id: Option<Uuid>) -> Result<()> {
    if let Some(rid) = resident_id {
        auth.resident(ctx, rid).await.map_err(|_| Error::validation("resident_id", "no such resident"))?;
    }
    Ok(())
}

async fn create(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<NewDeviceRequest>,
) -> Result<(StatusCode, Json<Registered>)> {
    auth.require_staff()?;
    validate_device_id(&req.device_id)?;
    let kind = parse_kind(&req.kind)?;
    let source = match req.source.as_deref() {
        None => Source::Native,
        Some(name) => {
            Source::parse(name).ok_or_else(|| Error::validation("source", "source must be native or zigbee2mqtt"))?
        }
    };
    match (source, req.external_id.as_deref()) {
        (Source::Native, _) => {}
        (Source::Zigbee2Mqtt, Some(name))
            if !name.is_empty() && !name.ends_with("/availability") && name.len() <= 255 => {}
        (Source::Zigbee2Mqtt, _) => {
            return Err(Error::validation(
                "external_id",
                "a zigbee2mqtt device needs its friendly name as external_id",
            ));
        }
    }
    if req.gateway_id.is_some() && source != Source::Zigbee2Mqtt {
        return Err(Error::validation("gateway_id", "only a zigbee2mqtt device speaks through a gateway"));
    }
    let threshold = req.power_on_threshold_w.unwrap_or(DEFAULT_POWER_ON_THRESHOLD_W);
    validate_threshold(threshold)?;
    check_resident(&ctx, &auth, req.resident_id).await?;
    let mut tx = ctx.pool.begin().await?;
    check_username_free(&mut tx, &req.device_id).await?;
    if source == Source::Zigbee2Mqtt
        && let Some(name) = &req.external_id
    {
        super::gateways::check_zigbee_name(&mut tx, &auth, req.gateway_id.as_deref(), name).await?;
    }
    let new = NewDevice {
        device_id: &req.device_id,
        resident_id: req.resident_id,
        kind,
        room: req.room,
        placement: req.placement,
        source,
        external_id: req.external_id,
        gateway_id: req.gateway_id.as_deref(),
        power_on_threshold_w: threshold,
    };
    devices::insert(&mut tx, &auth.scope, new)
        .await
        .on_constraint("devices_pkey", || Error::Conflict("a device with this device_id is already registered".into()))
        .on_constraint("devices_external_key", || {
            Error::Conflict("a device with this external_id is already registered".into())
        })?;
    let details = serde_json::json!({"kind": kind, "resident_id": req.resident_id, "source": source,
        "gateway_id": req.gateway_id});
    crate::audit::record(&mut tx, auth.actor(), "device.registered", "device", &req.device_id, details).await?;
    // A Zigbee2MQTT device has no account: its bridge connects for it.
    let mqtt = match (&ctx.accounts, source) {
        (Some(accounts), Source::Native) => Some(
            accounts
                .issue_device(&mut tx, &req.device_id)
                .await
                .map_err(Error::from)
                .on_constraint("mqtt_accounts_pkey", || Error::Conflict("this MQTT username is taken".into()))?,
        ),
        _ => None,
    };
    tx.commit().await?;
    ctx.device_registry_changed();
    let device = load(&ctx, &auth, &req.device_id).await?;
    Ok((StatusCode::CREATED, Json(Registered { device, mqtt })))
}

/// Issues the device a new MQTT password; the old one stops working at once
/// (its connection, if any, is dropped).
async fn rotate(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(device_id): Path<String>,
) -> Result<Json<Credential>> {
    let device = load(&ctx, &auth, &device_id).await?;
    auth.require_staff()?;
    let Some(accounts) = &ctx.accounts else {
        return Err(Error::Conflict("device credentials are not managed by this backend (no MQTT_ADMIN_URL)".into()));
    };
    if device.source != Source::Native {
        return Err(Error::Conflict("a Zigbee2MQTT device connects through its gateway's credential".into()));
    }
    let mut tx = ctx.pool.begin().await?;
    let Some((credential, disconnect)) = accounts.rotate(&mut tx, &device_id).await? else {
        return Err(Error::Conflict(
            "this device has no MQTT account (registered before credentials were managed)".into(),
        ));
    };
    crate::audit::record(
        &mut tx,
        auth.actor(),
        "device.credential_rotated",
        "device",
        &device_id,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    disconnect.send().await;
    Ok(Json(credential))
}

/// The device, if the caller reaches it.
async fn load(ctx: &ApiContext, auth: &AuthUser, device_id: &str) -> Result<Device> {
    devices::fetch(&ctx.pool, &auth.scope, device_id, Utc::now()).await?.ok_or(Error::NotFound)
}

async fn fetch(State(ctx): State<ApiContext>, auth: AuthUser, Path(device_id): Path<String>) -> Result<Json<Device>> {
    Ok(Json(load(&ctx, &auth, &device_id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    resident_id: Option<Uuid>,
    kind: Option<String>,
    online: Option<bool>,
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize)]
struct DeviceList {
    devices: Vec<Device>,
    next_cursor: Option<String>,
}

async fn list(State(ctx): State<ApiContext>, auth: AuthUser, Query(q): Query<ListQuery>) -> Result<Json<DeviceList>> {
    if let Some(rid) = q.resident_id {
        auth.resident(&ctx, rid).await?;
    } else {
        auth.require_staff()?;
    }
    let limit = super::page_limit(q.limit)?;
    if q.cursor.as_deref().is_some_and(|c| !is_mqtt_id(c)) {
        return Err(Error::validation("cursor", "not a cursor this list gave"));
    }
    let kind = match q.kind.as_deref().map(DeviceKind::parse) {
        None => None,
        Some(Some(kind)) => Some(kind),
        // No device is of a kind that does not exist.
        Some(None) => return Ok(Json(DeviceList { devices: Vec::new(), next_cursor: None })),
    };
    let filter = devices::Filter { resident_id: q.resident_id, kind, online: q.online };
    let mut devices = devices::list(&ctx.pool, &auth.scope, &filter, q.cursor, limit + 1, Utc::now()).await?;
    let next_cursor = super::next_page(&mut devices, limit, |d| d.device_id.clone());
    Ok(Json(DeviceList { devices, next_cursor }))
}

async fn update(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(device_id): Path<String>,
    Json(patch): Json<DevicePatch>,
) -> Result<Json<Device>> {
    // Visibility first (404), then the role (403).
    load(&ctx, &auth, &device_id).await?;
    auth.require_staff()?;
    let kind = patch.kind.as_deref().map(parse_kind).transpose()?;
    if let Some(w) = patch.power_on_threshold_w {
        validate_threshold(w)?;
    }
    if let Some(rid) = patch.resident_id {
        check_resident(&ctx, &auth, rid).await?;
    }
    let changes = serde_json::json!({"resident_id": patch.resident_id, "kind": kind, "room": patch.room,
        "placement": patch.placement, "power_on_threshold_w": patch.power_on_threshold_w});
    let change = DeviceChange {
        resident_id: patch.resident_id,
        kind,
        room: patch.room,
        placement: patch.placement,
        power_on_threshold_w: patch.power_on_threshold_w,
    };
    let mut tx = ctx.pool.begin().await?;
    devices::update(&mut tx, &device_id, change).await?;
    crate::audit::record(&mut tx, auth.actor(), "device.updated", "device", &device_id, changes).await?;
    tx.commit().await?;
    ctx.device_registry_changed();
    Ok(Json(load(&ctx, &auth, &device_id).await?))
}

/// Unregisters a device and revokes its MQTT credential (the broker drops its
/// connection); its stored data stays.
async fn remove(State(ctx): State<ApiContext>, auth: AuthUser, Path(device_id): Path<String>) -> Result<StatusCode> {
    load(&ctx, &auth, &device_id).await?;
    auth.require_admin()?;
    let mut tx = ctx.pool.begin().await?;
    let disconnect = match &ctx.accounts {
        Some(accounts) => accounts.revoke(&mut tx, AccountKind::Device, &device_id).await?,
        None => Disconnect::none(),
    };
    devices::delete(&mut tx, &device_id).await?;
    crate::audit::record(&mut tx, auth.actor(), "device.unregistered", "device", &device_id, serde_json::json!({}))
        .await?;
    tx.commit().await?;
    disconnect.send().await;
    ctx.device_registry_changed();
    Ok(StatusCode::NO_CONTENT)
}
