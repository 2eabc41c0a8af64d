//! Devices: registration (what the ingest worker accepts) and their health.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::error::ResultExt;
use super::{ApiContext, Error, Json, Path, Query, Result};
use crate::broker::{AccountKind, Credential, Disconnect};
use crate::domain::device::DEFAULT_POWER_ON_THRESHOLD_W;
use crate::domain::field;
use crate::domain::scope::Monitoring;
use crate::domain::{DeviceKind, Source};
use crate::store::devices::{self, Device, DeviceChange, NewDevice};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(create, list)).routes(routes!(fetch, update, remove)).routes(routes!(rotate))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewDevice)]
struct NewDeviceRequest {
    #[schema(schema_with = field::mqtt_id)]
    device_id: String,
    resident_id: Option<Uuid>,
    #[schema(value_type = DeviceKind, inline)]
    kind: String,
    room: Option<String>,
    placement: Option<String>,
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(value_type = Source, inline)]
    source: Option<String>,
    external_id: Option<String>,
    /// the Zigbee2MQTT gateway the device speaks through: its topic is {base_topic}/{external_id}
    gateway_id: Option<String>,
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(schema_with = field::watts)]
    power_on_threshold_w: Option<f64>,
}

/// A registration's answer: the device, and its MQTT credential, shown this
/// once (`null` when credentials are not managed, or for a Zigbee2MQTT
/// device, which speaks through its gateway's).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RegisteredDevice)]
pub struct Registered {
    #[serde(flatten)]
    device: Device,
    /// null when credentials are not managed, or for a Zigbee2MQTT device (it speaks through its gateway)
    #[schema(required = true)]
    mqtt: Option<Credential>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DevicePatch {
    #[serde(default, deserialize_with = "crate::domain::wire::double_option")]
    resident_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(value_type = DeviceKind, inline)]
    kind: Option<String>,
    #[serde(default, deserialize_with = "crate::domain::wire::double_option")]
    room: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::domain::wire::double_option")]
    placement: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(schema_with = field::watts)]
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
        auth.reach::<Monitoring>(ctx, rid).await.map_err(|_| Error::validation("resident_id", "no such resident"))?;
    }
    Ok(())
}

#[utoipa::path(post, path = "/devices",
    summary = "Register a device; answers its MQTT credential, shown this once. 409 for an id already taken or reserved for the backend's broker sessions (its client ids with -events, -telemetry, -admin, its ingest and admin usernames, anything beginning with eldercare-)",
    description = "Who may call it: admin, staff.", request_body = NewDeviceRequest,
    responses((status = 201, description = "success", body = Registered)))]
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
#[utoipa::path(post, path = "/devices/{device_id}/credentials",
    summary = "Issue the device a new MQTT password; the old one stops working",
    description = "Who may call it: admin, staff.", params(("device_id" = String, Path, pattern = r"^[A-Za-z0-9_.-]{1,64}$")),
    responses((status = 200, description = "success", body = Credential)))]
async fn rotate(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(device_id): Path<String>,
) -> Result<Json<Credential>> {
    let device = load(&ctx, &auth, &device_id).await?;
    auth.require_staff()?;
    let credential = rotate_credential(&ctx, &auth, "device", &device_id, || {
        if device.source == Source::Native {
            Ok(())
        } else {
            Err(Error::Conflict("a Zigbee2MQTT device connects through its gateway's credential".into()))
        }
    })
    .await?;
    Ok(Json(credential))
}

/// Issues a device's or gateway's (`what`) MQTT account a new password; the
/// old one stops working at once (its connection, if any, is dropped).
/// `rotatable` refuses what has no password of its own, once the
/// credentials are known to be managed.
pub async fn rotate_credential(
    ctx: &ApiContext,
    auth: &AuthUser,
    what: &str,
    id: &str,
    rotatable: impl FnOnce() -> Result<()>,
) -> Result<Credential> {
    let Some(accounts) = &ctx.accounts else {
        return Err(Error::Conflict(format!("{what} credentials are not managed by this backend (no MQTT_ADMIN_URL)")));
    };
    rotatable()?;
    let mut tx = ctx.pool.begin().await?;
    let Some((credential, disconnect)) = accounts.rotate(&mut tx, id).await? else {
        return Err(Error::Conflict(format!(
            "this {what} has no MQTT account (registered before credentials were managed)"
        )));
    };
    let action = format!("{what}.credential_rotated");
    crate::audit::record(&mut tx, auth.actor(), &action, what, id, serde_json::json!({})).await?;
    tx.commit().await?;
    disconnect.send().await;
    Ok(credential)
}

/// The page of a list named by devices' or gateways' ids: its size, and
/// where the previous page ended.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MqttIdPage {
    #[param(minimum = 1, maximum = 1000, default = 200, nullable = false)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(schema_with = field::mqtt_id_cursor)]
    pub cursor: Option<String>,
}

/// A list's cursor that is a device's or gateway's id: anything else was
/// not given by the list.
pub fn mqtt_id_cursor(cursor: Option<&str>) -> Result<()> {
    if cursor.is_some_and(|c| !is_mqtt_id(c)) {
        return Err(Error::validation("cursor", "not a cursor this list gave"));
    }
    Ok(())
}

/// The device, if the caller reaches it.
async fn load(ctx: &ApiContext, auth: &AuthUser, device_id: &str) -> Result<Device> {
    devices::fetch(&ctx.pool, &auth.scope, device_id, Utc::now()).await?.ok_or(Error::NotFound)
}

#[utoipa::path(get, path = "/devices/{device_id}", summary = "One device with its last state",
    description = "Who may call it: any.", params(("device_id" = String, Path, pattern = r"^[A-Za-z0-9_.-]{1,64}$")),
    responses((status = 200, description = "success", body = Device)))]
async fn fetch(State(ctx): State<ApiContext>, auth: AuthUser, Path(device_id): Path<String>) -> Result<Json<Device>> {
    Ok(Json(load(&ctx, &auth, &device_id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    #[param(nullable = false)]
    resident_id: Option<Uuid>,
    #[param(nullable = false)]
    kind: Option<String>,
    #[param(nullable = false)]
    online: Option<bool>,
    #[param(minimum = 1, maximum = 1000, default = 200, nullable = false)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(schema_with = field::mqtt_id_cursor)]
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct DeviceList {
    devices: Vec<Device>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/devices", summary = "Devices of the institution (or of one resident)",
    description = "Who may call it: admin, staff; family with resident_id.", params(ListQuery),
    responses((status = 200, description = "success", body = DeviceList)))]
async fn list(State(ctx): State<ApiContext>, auth: AuthUser, Query(q): Query<ListQuery>) -> Result<Json<DeviceList>> {
    if let Some(rid) = q.resident_id {
        auth.reach::<Monitoring>(&ctx, rid).await?.id();
    } else {
        auth.require_staff()?;
    }
    let limit = super::page_limit(q.limit)?;
    mqtt_id_cursor(q.cursor.as_deref())?;
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

#[utoipa::path(patch, path = "/devices/{device_id}", summary = "Change a device's registration",
    description = "Who may call it: admin, staff.", params(("device_id" = String, Path, pattern = r"^[A-Za-z0-9_.-]{1,64}$")),
    request_body = DevicePatch, responses((status = 200, description = "success", body = Device)))]
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
#[utoipa::path(delete, path = "/devices/{device_id}",
    summary = "Unregister a device and revoke its MQTT credential (its data stays)",
    description = "Who may call it: admin.", params(("device_id" = String, Path, pattern = r"^[A-Za-z0-9_.-]{1,64}$")),
    responses((status = 204, description = "success")))]
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
