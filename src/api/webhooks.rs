//! Webhook subscriptions of an institution (admins only).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Path, Result};

pub fn router() -> Router<ApiContext> {
    Router::new().route("/webhooks", post(create).get(list)).route("/webhooks/{id}", get(fetch).delete(remove))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    url: String,
    secret: String,
}

/// The secret is never returned after creation.
#[derive(Debug, Serialize, sqlx::FromRow)]
struct Webhook {
    id: Uuid,
    url: String,
    created_at: DateTime<Utc>,
    pending_deliveries: i64,
    failed_attempts: i64,
    last_error: Option<String>,
}

const SELECT: &str = "select w.id, w.url, w.created_at,
        count(d.id) filter (where d.delivered_at is null) as pending_deliveries,
        coalesce(sum(d.attempts) filter (where d.delivered_at is null), 0) as failed_attempts,
        (array_agg(d.last_error order by d.created_at desc) filter (where d.last_error is not null))[1] as last_error
    from webhooks w left join webhook_deliveries d on d.webhook_id = w.id";

fn validate(req: &NewWebhook) -> Result<()> {
    let url = url::Url::parse(&req.url).map_err(|_| Error::validation("url", "url must be an absolute http(s) URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::validation("url", "url must be an absolute http(s) URL"));
    }
    if req.secret.len() < 16 || req.secret.len() > 256 {
        return Err(Error::validation("secret", "secret must be 16 to 256 characters"));
    }
    Ok(())
}

#[derive(Debug, Serialize)]
struct Created {
    id: Uuid,
    url: String,
}

async fn create(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<NewWebhook>,
) -> Result<(StatusCode, Json<Created>)> {
    auth.require_admin()?;
    validate(&req)?;
    let id = Uuid::new_v4();
    let mut tx = ctx.pool.begin().await?;
    sqlx::query("insert into webhooks (id, institution_id, url, secret, created_by) values ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(auth.scope.institution)
        .bind(&req.url)
        .bind(&req.secret)
        .bind(auth.scope.user)
        .execute(&mut *tx)
        .await?;
    // Never the secret.
    crate::audit::record(&mut tx, auth.actor(), "webhook.created", "webhook", id, serde_json::json!({"url": req.url}))
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(Created { id, url: req.url })))
}

#[derive(Debug, Serialize)]
struct WebhookList {
    webhooks: Vec<Webhook>,
}

async fn list(State(ctx): State<ApiContext>, auth: AuthUser) -> Result<Json<WebhookList>> {
    auth.require_admin()?;
    let webhooks = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where w.institution_id = $1 group by w.id order by w.created_at"
    )))
    .bind(auth.scope.institution)
    .fetch_all(&ctx.pool)
    .await?;
    Ok(Json(WebhookList { webhooks }))
}

async fn fetch(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<Webhook>> {
    auth.require_admin()?;
    let webhook = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where w.id = $1 and w.institution_id = $2 group by w.id"
    )))
    .bind(id)
    .bind(auth.scope.institution)
    .fetch_optional(&ctx.pool)
    .await?
    .ok_or(Error::NotFound)?;
    Ok(Json(webhook))
}

async fn remove(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<StatusCode> {
    auth.require_admin()?;
    let mut tx = ctx.pool.begin().await?;
    let gone = sqlx::query("delete from webhooks where id = $1 and institution_id = $2")
        .bind(id)
        .bind(auth.scope.institution)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if gone == 0 {
        return Err(Error::NotFound);
    }
    crate::audit::record(&mut tx, auth.actor(), "webhook.deleted", "webhook", id, serde_json::json!({})).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
