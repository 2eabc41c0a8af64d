//! Webhook subscriptions of an institution (admins only).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::error::ErrorBody;
use super::{ApiContext, Error, Json, PageQuery, Path, Query, Result};
use crate::notify::targets;
use crate::store::webhooks::{self, Webhook};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(create, list)).routes(routes!(fetch, remove))
}

/// The 422 of a new webhook: its target must be public.
const NOT_PUBLIC: &str = "validation failed, or the url is not https:// or its host is or resolves to a loopback, \
    private, link-local or otherwise non-public address";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    /// https:// to a public address
    #[schema(format = "uri")]
    url: String,
    #[schema(min_length = 16, max_length = 256)]
    secret: String,
    /// X-Eldercare-Signature format: v2 `t=<unix seconds>,v1=<HMAC of "<t>.<body>">`; v1 `sha256=<HMAC of the body>` for receivers not yet upgraded
    #[serde(default)]
    #[schema(schema_with = signature)]
    signature: Signature,
}

fn signature() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["v1", "v2"]))
        .default(Some("v2".into()))
        .description(Some(
            "X-Eldercare-Signature format: v2 `t=<unix seconds>,v1=<HMAC of \"<t>.<body>\">`; v1 `sha256=<HMAC of the \
             body>` for receivers not yet upgraded",
        ))
        .build()
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Signature {
    V1,
    #[default]
    V2,
}

impl Signature {
    fn as_str(self) -> &'static str {
        match self {
            Signature::V1 => "v1",
            Signature::V2 => "v2",
        }
    }
}

/// The target rule (https to a public address) as well as the shape: a name
/// that does not resolve yet is accepted, and judged at each delivery.
async fn validate(req: &NewWebhook, allow_private: bool) -> Result<()> {
    let url = url::Url::parse(&req.url).map_err(|_| Error::validation("url", "url must be an absolute https URL"))?;
    if url.host_str().is_none() {
        return Err(Error::validation("url", "url must be an absolute https URL"));
    }
    targets::vet(&url, allow_private).await.map_err(|refusal| Error::validation("url", refusal.message()))?;
    if !(16..=256).contains(&super::chars(&req.secret)) {
        return Err(Error::validation("secret", "secret must be 16 to 256 characters"));
    }
    Ok(())
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookCreated)]
struct Created {
    id: Uuid,
    url: String,
}

#[utoipa::path(post, path = "/webhooks", summary = "Subscribe a URL to alert changes (signed with the secret)",
    description = "Who may call it: admin.", request_body = NewWebhook,
    responses((status = 201, description = "success", body = Created), (status = 422, description = NOT_PUBLIC, body = ErrorBody)))]
async fn create(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<NewWebhook>,
) -> Result<(StatusCode, Json<Created>)> {
    auth.require_admin()?;
    validate(&req, ctx.settings.webhooks.allow_private).await?;
    let mut tx = ctx.pool.begin().await?;
    let sealing = webhooks::sealing_key(&ctx.settings.webhooks);
    let id =
        webhooks::create(&mut tx, &auth.scope, &req.url, &req.secret, sealing.as_ref(), req.signature.as_str()).await?;
    // Never the secret.
    crate::audit::record(
        &mut tx,
        auth.actor(),
        "webhook.created",
        "webhook",
        id,
        serde_json::json!({"url": req.url, "signature": req.signature.as_str()}),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(Created { id, url: req.url })))
}

#[derive(Debug, Serialize, ToSchema)]
struct WebhookList {
    webhooks: Vec<Webhook>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// Oldest first; the cursor is the last webhook's id.
#[utoipa::path(get, path = "/webhooks", summary = "The institution's webhooks and their delivery state",
    description = "Who may call it: admin.", params(PageQuery),
    responses((status = 200, description = "success", body = WebhookList)))]
async fn list(State(ctx): State<ApiContext>, auth: AuthUser, Query(q): Query<PageQuery>) -> Result<Json<WebhookList>> {
    auth.require_admin()?;
    let limit = super::page_limit(q.limit)?;
    let after = super::cursor_in_reach(q.cursor.as_deref(), async |id| {
        Ok(webhooks::fetch(&ctx.pool, &auth.scope, id).await?.is_some())
    })
    .await?;
    let mut webhooks = webhooks::list(&ctx.pool, &auth.scope, after, limit + 1).await?;
    let next_cursor = super::next_page(&mut webhooks, limit, |w| w.id.to_string());
    Ok(Json(WebhookList { webhooks, next_cursor }))
}

#[utoipa::path(get, path = "/webhooks/{id}", summary = "One webhook", description = "Who may call it: admin.",
    params(("id" = Uuid, Path)), responses((status = 200, description = "success", body = Webhook)))]
async fn fetch(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<Webhook>> {
    auth.require_admin()?;
    Ok(Json(webhooks::fetch(&ctx.pool, &auth.scope, id).await?.ok_or(Error::NotFound)?))
}

#[utoipa::path(delete, path = "/webhooks/{id}", summary = "Remove a webhook", description = "Who may call it: admin.",
    params(("id" = Uuid, Path)), responses((status = 204, description = "success")))]
async fn remove(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<StatusCode> {
    auth.require_admin()?;
    let mut tx = ctx.pool.begin().await?;
    if !webhooks::delete(&mut tx, &auth.scope, id).await? {
        return Err(Error::NotFound);
    }
    crate::audit::record(&mut tx, auth.actor(), "webhook.deleted", "webhook", id, serde_json::json!({})).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
