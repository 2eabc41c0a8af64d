//! An institution's webhook subscriptions, and how their deliveries fare.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::Scope;
use crate::domain::keys::SealingKey;

/// What webhook secrets are sealed for: the key serves nothing else.
pub const SEALING_PURPOSE: &[u8] = b"webhook secrets";

/// The key that seals webhook secrets, when `webhooks.secret_key` is set.
pub fn sealing_key(settings: &crate::config::WebhookSettings) -> Option<SealingKey> {
    settings.secret_key.as_ref().map(|k| SealingKey::derive(k, SEALING_PURPOSE))
}

/// A stored secret as the signer needs it: opened when sealed.
pub fn reveal(
    webhook: Uuid,
    stored: &str,
    sealed: bool,
    sealing: Option<&SealingKey>,
) -> Result<String, crate::domain::keys::Unsealable> {
    match (sealed, sealing) {
        (false, _) => Ok(stored.to_owned()),
        (true, Some(key)) => key.open(stored, webhook.as_bytes()),
        (true, None) => Err(crate::domain::keys::Unsealable),
    }
}

/// The secret is never read back.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    /// `v1` or `v2`, the `X-Eldercare-Signature` format.
    #[schema(schema_with = signature_schema)]
    pub signature: String,
    pub created_at: DateTime<Utc>,
    pub pending_deliveries: i64,
    pub failed_attempts: i64,
    pub last_error: Option<String>,
}

/// The signature formats a webhook is stored with.
fn signature_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["v1", "v2"]))
        .build()
}

const SELECT: &str = "select w.id, w.url, w.signature, w.created_at,
        count(d.id) filter (where d.delivered_at is null) as pending_deliveries,
        coalesce(sum(d.attempts) filter (where d.delivered_at is null), 0) as failed_attempts,
        (array_agg(d.last_error order by d.created_at desc) filter (where d.last_error is not null))[1] as last_error
    from webhooks w left join webhook_deliveries d on d.webhook_id = w.id";

/// Subscribes the scope's institution; answers the new webhook's id.
///
/// With a sealing key the secret is stored sealed, bound to the webhook's
/// id; without one, as given.
pub async fn create(
    tx: &mut PgConnection,
    scope: &Scope,
    url: &str,
    secret: &str,
    sealing: Option<&SealingKey>,
    signature: &str,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    let stored = match sealing {
        Some(key) => key.seal(secret, id.as_bytes()),
        None => secret.to_owned(),
    };
    sqlx::query(
        "insert into webhooks (id, institution_id, url, secret, secret_sealed, created_by, signature)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(scope.institution)
    .bind(url)
    .bind(stored)
    .bind(sealing.is_some())
    .bind(scope.user)
    .bind(signature)
    .execute(tx)
    .await?;
    Ok(id)
}

/// The scope's institution's webhooks, oldest first.
/// The institution's webhooks, oldest first, after the webhook `after` (the
/// previous page's last).
pub async fn list(pool: &PgPool, scope: &Scope, after: Option<Uuid>, limit: i64) -> Result<Vec<Webhook>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where w.institution_id = $1
           and ($2::uuid is null or (w.created_at, w.id) > (select c.created_at, c.id from webhooks c where c.id = $2))
         group by w.id order by w.created_at, w.id limit $3"
    )))
    .bind(scope.institution)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

pub async fn fetch(pool: &PgPool, scope: &Scope, id: Uuid) -> Result<Option<Webhook>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where w.id = $1 and w.institution_id = $2 group by w.id")))
        .bind(id)
        .bind(scope.institution)
        .fetch_optional(pool)
        .await
}

/// Unsubscribes; false when the scope's institution has no such webhook.
pub async fn delete(tx: &mut PgConnection, scope: &Scope, id: Uuid) -> Result<bool, sqlx::Error> {
    let gone = sqlx::query("delete from webhooks where id = $1 and institution_id = $2")
        .bind(id)
        .bind(scope.institution)
        .execute(tx)
        .await?
        .rows_affected();
    Ok(gone > 0)
}
