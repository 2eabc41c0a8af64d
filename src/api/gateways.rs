//! Zigbee2MQTT gateways: bridges that publish their devices under a base
//! topic of their own, with an MQTT credential that may write and read under
//! that topic only.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::AuthUser;
use super::devices::{MqttIdPage, check_username_free, is_mqtt_id, mqtt_id_cursor, rotate_credential};
use super::error::ResultExt;
use super::{ApiContext, Error, Json, Path, Query, Result};
use crate::broker::{AccountKind, Credential, Disconnect};
use crate::domain::field;
use crate::store::gateways::{self, Gateway};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(create, list)).routes(routes!(fetch, remove)).routes(routes!(rotate))
}

/// Every gateway lives under the contract's prefix, so the ingest
/// subscription `zigbee2mqtt/#` covers it.
const PREFIX: &str = "zigbee2mqtt/";
const MAX_BASE_TOPIC: usize = 200;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewGateway {
    #[schema(schema_with = field::mqtt_id)]
    gateway_id: String,
    /// e.g. zigbee2mqtt/home-17
    #[schema(pattern = "^zigbee2mqtt(/[A-Za-z0-9_.-]+)+$")]
    base_topic: String,
}

/// A registration's answer: the gateway and its credential, shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RegisteredGateway)]
struct Registered {
    #[serde(flatten)]
    gateway: Gateway,
    #[schema(required = true)]
    mqtt: Option<Credential>,
}

fn validate_base_topic(topic: &str) -> Result<()> {
    let levels = topic.strip_prefix(PREFIX).map(|rest| rest.split('/').collect::<Vec<_>>());
    let ok = topic.len() <= MAX_BASE_TOPIC
        && levels.is_some_and(|levels| {
            levels.first() != Some(&"bridge")
                && levels.iter().all(|l| {
                    !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
                })
        });
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            "base_topic",
            "base_topic must lie under zigbee2mqtt/ (e.g. zigbee2mqtt/home-17), in levels of [A-Za-z0-9_.-], \
             not zigbee2mqtt/bridge, at most 200 characters",
        ))
    }
}

/// A Zigbee2MQTT device's friendly name must reach it and only it: behind a
/// gateway, the gateway must be the caller's; without one (version 1's
/// `zigbee2mqtt/{name}`), no gateway's base topic may cover the name.
pub async fn check_zigbee_name(
    tx: &mut PgConnection,
    auth: &AuthUser,
    gateway_id: Option<&str>,
    name: &str,
) -> Result<()> {
    gateways::lock_topics(tx).await?;
    match gateway_id {
        Some(id) => {
            if !gateways::owns(tx, &auth.scope, id).await? {
                return Err(Error::validation("gateway_id", "no such gateway"));
            }
        }
        None => {
            if gateways::covers(tx, &format!("{PREFIX}{name}")).await? {
                return Err(Error::Conflict(format!(
                    "zigbee2mqtt/{name} lies under a gateway's base topic: register the device with that gateway_id"
                )));
            }
        }
    }
    Ok(())
}

#[utoipa::path(post, path = "/gateways",
    summary = "Register a Zigbee2MQTT gateway under its base topic; answers its MQTT credential, shown this once. 409 for an id already taken or reserved for the backend's broker sessions, or a base topic that overlaps",
    description = "Who may call it: admin, staff.", request_body = NewGateway,
    responses((status = 201, description = "success", body = Registered)))]
async fn create(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<NewGateway>,
) -> Result<(StatusCode, Json<Registered>)> {
    auth.require_staff()?;
    if !is_mqtt_id(&req.gateway_id) {
        return Err(Error::validation("gateway_id", "gateway_id must match [A-Za-z0-9_.-]{1,64}"));
    }
    validate_base_topic(&req.base_topic)?;
    let mut tx = ctx.pool.begin().await?;
    gateways::lock_topics(&mut tx).await?;
    check_username_free(&mut tx, &req.gateway_id).await?;
    if gateways::overlaps(&mut tx, &req.base_topic).await? {
        return Err(Error::Conflict("base_topic overlaps another gateway's".into()));
    }
    // A version-1 device (no gateway) is `zigbee2mqtt/{external_id}`: a
    // gateway whose topic covers it could speak for it.
    let captured = gateways::captured(&mut tx, &req.base_topic).await?;
    // Another institution's device is not named.
    let captured = captured
        .map(|(id, inst)| if Some(inst) == auth.scope.institution { id } else { "another institution's".into() });
    if let Some(device) = captured {
        return Err(Error::Conflict(format!(
            "base_topic would capture the friendly name of a device registered without a gateway ({device})"
        )));
    }
    gateways::insert(&mut tx, &auth.scope, &req.gateway_id, &req.base_topic)
        .await
        .on_constraint("gateways_pkey", || {
            Error::Conflict("a gateway with this gateway_id is already registered".into())
        })
        .on_constraint("gateways_base_topic_key", || Error::Conflict("base_topic overlaps another gateway's".into()))?;
    let details = serde_json::json!({"base_topic": req.base_topic});
    crate::audit::record(&mut tx, auth.actor(), "gateway.registered", "gateway", &req.gateway_id, details).await?;
    let mqtt = match &ctx.accounts {
        Some(accounts) => Some(
            accounts
                .issue_gateway(&mut tx, &req.gateway_id, &req.base_topic)
                .await
                .on_constraint("mqtt_accounts_pkey", || Error::Conflict("this MQTT username is taken".into()))?,
        ),
        None => None,
    };
    tx.commit().await?;
    ctx.device_registry_changed();
    let gateway = load(&ctx, &auth, &req.gateway_id).await?;
    Ok((StatusCode::CREATED, Json(Registered { gateway, mqtt })))
}

/// The gateway, if it is the caller's institution's (staff only).
async fn load(ctx: &ApiContext, auth: &AuthUser, gateway_id: &str) -> Result<Gateway> {
    auth.require_staff()?;
    gateways::fetch(&ctx.pool, &auth.scope, gateway_id).await?.ok_or(Error::NotFound)
}

#[utoipa::path(get, path = "/gateways/{gateway_id}", summary = "One gateway", description = "Who may call it: admin, staff.",
    params(("gateway_id" = String, Path, pattern = r"^[A-Za-z0-9_.-]{1,64}$")),
    responses((status = 200, description = "success", body = Gateway)))]
async fn fetch(State(ctx): State<ApiContext>, auth: AuthUser, Path(gateway_id): Path<String>) -> Result<Json<Gateway>> {
    Ok(Json(load(&ctx, &auth, &gateway_id).await?))
}

#[derive(Debug, Serialize, ToSchema)]
struct GatewayList {
    gateways: Vec<Gateway>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/gateways", summary = "Gateways of the institution, by id",
    description = "Who may call it: admin, staff.", params(MqttIdPage),
    responses((status = 200, description = "success", body = GatewayList)))]
async fn list(State(ctx): State<ApiContext>, auth: AuthUser, Query(q): Query<MqttIdPage>) -> Result<Json<GatewayList>> {
    auth.require_staff()?;
    let limit = super::page_limit(q.limit)?;
    mqtt_id_cursor(q.cursor.as_deref())?;
    let mut gateways = gateways::list(&ctx.pool, &auth.scope, q.cursor.as_deref(), limit + 1).await?;
    let next_cursor = super::next_page(&mut gateways, limit, |g| g.gateway_id.clone());
    Ok(Json(GatewayList { gateways, next_cursor }))
}

/// Issues the gateway a new MQTT password; the old one stops working at once.
#[utoipa::path(post, path = "/gateways/{gateway_id}/credentials",
    summary = "Issue the gateway a new MQTT password; the old one stops working",
    description = "Who may call it: admin, staff.", params(("gateway_id" = String, Path, pattern = r"^[A-Za-z0-9_.-]{1,64}$")),
    responses((status = 200, description = "success", body = Credential)))]
async fn rotate(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(gateway_id): Path<String>,
) -> Result<Json<Credential>> {
    load(&ctx, &auth, &gateway_id).await?;
    Ok(Json(rotate_credential(&ctx, &auth, "gateway", &gateway_id, || Ok(())).await?))
}

/// Unregisters a gateway with no devices left, and revokes its credential.
#[utoipa::path(delete, path = "/gateways/{gateway_id}",
    summary = "Unregister a gateway without devices and revoke its MQTT credential",
    description = "Who may call it: admin.", params(("gateway_id" = String, Path, pattern = r"^[A-Za-z0-9_.-]{1,64}$")),
    responses((status = 204, description = "success")))]
async fn remove(State(ctx): State<ApiContext>, auth: AuthUser, Path(gateway_id): Path<String>) -> Result<StatusCode> {
    load(&ctx, &auth, &gateway_id).await?;
    auth.require_admin()?;
    let mut tx = ctx.pool.begin().await?;
    gateways::delete(&mut tx, &gateway_id).await.on_constraint("devices_gateway_id_fkey", || {
        Error::Conflict("devices are still registered through this gateway: remove them first".into())
    })?;
    let disconnect = match &ctx.accounts {
        Some(accounts) => accounts.revoke(&mut tx, AccountKind::Gateway, &gateway_id).await?,
        None => Disconnect::none(),
    };
    crate::audit::record(&mut tx, auth.actor(), "gateway.unregistered", "gateway", &gateway_id, serde_json::json!({}))
        .await?;
    tx.commit().await?;
    disconnect.send().await;
    ctx.device_registry_changed();
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::validate_base_topic;

    #[test]
    fn base_topics_lie_under_the_zigbee2mqtt_prefix() {
        for ok in ["zigbee2mqtt/home-17", "zigbee2mqtt/site.a/flat_3"] {
            assert!(validate_base_topic(ok).is_ok(), "{ok}");
        }
        for bad in [
            "zigbee2mqtt",
            "zigbee2mqtt/",
            "zigbee2mqtt/home//17",
            "zigbee2mqtt/home/",
            "zigbee2mqtt/+",
            "zigbee2mqtt/#",
            "zigbee2mqtt/bridge",
            "zigbee2mqtt/bridge/x",
            "home/zigbee",
            "eldercare/v1/x",
            "$SYS/x",
        ] {
            assert!(validate_base_topic(bad).is_err(), "{bad}");
        }
        assert!(validate_base_topic(&format!("zigbee2mqtt/{}", "a".repeat(200))).is_err());
    }
}
