//! Zigbee2MQTT gateways, and the topic space they and their devices share
//! across every institution.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::Scope;

/// Serialises changes to the Zigbee2MQTT topic space (gateways' base topics,
/// gateway-less friendly names), so two registrations cannot both pass the
/// overlap checks.
const ZIGBEE_TOPICS_LOCK: i64 = 0x656c_6465_7211;

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Gateway {
    pub gateway_id: String,
    pub base_topic: String,
    /// Devices registered through it.
    pub devices: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SELECT: &str = "select g.gateway_id, g.base_topic, g.created_at, g.updated_at,
        (select count(*) from devices d where d.gateway_id = g.gateway_id) as devices
    from gateways g";

/// Holds the topic space until `tx` ends.
pub async fn lock_topics(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_advisory_xact_lock($1)").bind(ZIGBEE_TOPICS_LOCK).execute(tx).await.map(drop)
}

/// Whether the scope's institution has this gateway.
pub async fn owns(tx: &mut PgConnection, scope: &Scope, gateway_id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists (select 1 from gateways where gateway_id = $1 and institution_id = $2)")
        .bind(gateway_id)
        .bind(scope.institution)
        .fetch_one(tx)
        .await
}

/// Whether some gateway's base topic is `topic` or lies above it.
pub async fn covers(tx: &mut PgConnection, topic: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (select 1 from gateways where $1 = base_topic or starts_with($1, base_topic || '/'))",
    )
    .bind(topic)
    .fetch_one(tx)
    .await
}

/// Whether some gateway's base topic is `base_topic`, lies above or below it.
pub async fn overlaps(tx: &mut PgConnection, base_topic: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (select 1 from gateways
         where base_topic = $1 or starts_with(base_topic, $1 || '/') or starts_with($1, base_topic || '/'))",
    )
    .bind(base_topic)
    .fetch_one(tx)
    .await
}

/// A device registered without a gateway (version 1's
/// `zigbee2mqtt/{external_id}`) whose topic `base_topic` would cover, with
/// its institution.
pub async fn captured(tx: &mut PgConnection, base_topic: &str) -> Result<Option<(String, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "select device_id, institution_id from devices
         where source = 'zigbee2mqtt' and gateway_id is null
           and ('zigbee2mqtt/' || external_id = $1 or starts_with('zigbee2mqtt/' || external_id, $1 || '/'))
         limit 1",
    )
    .bind(base_topic)
    .fetch_optional(tx)
    .await
}

/// Registers a gateway of the scope's institution. Fails on
/// `gateways_pkey` or `gateways_base_topic_key` when taken.
pub async fn insert(
    tx: &mut PgConnection,
    scope: &Scope,
    gateway_id: &str,
    base_topic: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into gateways (gateway_id, institution_id, base_topic) values ($1, $2, $3)")
        .bind(gateway_id)
        .bind(scope.institution)
        .bind(base_topic)
        .execute(tx)
        .await
        .map(drop)
}

/// The gateway, if the scope's institution has it.
pub async fn fetch(pool: &PgPool, scope: &Scope, gateway_id: &str) -> Result<Option<Gateway>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where g.gateway_id = $1 and g.institution_id = $2")))
        .bind(gateway_id)
        .bind(scope.institution)
        .fetch_optional(pool)
        .await
}

/// Up to `limit` of the scope's institution's gateways after `after`, by id.
pub async fn list(pool: &PgPool, scope: &Scope, after: Option<&str>, limit: i64) -> Result<Vec<Gateway>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where g.institution_id = $1 and ($2::text is null or g.gateway_id > $2)
         order by g.gateway_id limit $3"
    )))
    .bind(scope.institution)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Unregisters a gateway the caller has already found in reach. Fails on
/// `devices_gateway_id_fkey` while devices speak through it.
pub async fn delete(tx: &mut PgConnection, gateway_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("delete from gateways where gateway_id = $1").bind(gateway_id).execute(tx).await.map(drop)
}
