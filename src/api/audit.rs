//! The audit trail, for admins (their institution's chain) and the operator
//! (the platform's): who changed what, and whether the trail is intact.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Query, Result};
use crate::audit::{self, Entry, Verification};
use crate::domain::field;

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(verify))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    #[param(nullable = false)]
    entity: Option<String>,
    #[param(nullable = false)]
    entity_id: Option<String>,
    #[param(nullable = false)]
    actor_id: Option<Uuid>,
    #[param(nullable = false)]
    action: Option<String>,
    #[param(minimum = 1, maximum = 1000, default = 200, nullable = false)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(schema_with = field::serial_cursor)]
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct AuditList {
    entries: Vec<Entry>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// Newest first, a page at a time: the cursor is the last entry's id.
#[utoipa::path(get, path = "/audit",
    summary = "The audit trail of the institution (admin) or of the platform (operator), newest first",
    description = "Who may call it: admin, operator.", params(AuditQuery),
    responses((status = 200, description = "success", body = AuditList)))]
async fn list(State(ctx): State<ApiContext>, auth: AuthUser, Query(q): Query<AuditQuery>) -> Result<Json<AuditList>> {
    let chain = chain(&auth)?;
    let limit = super::page_limit(q.limit)?;
    let before = super::parse_cursor::<i64>(q.cursor.as_deref())?;
    let filter = audit::Filter { entity: q.entity, entity_id: q.entity_id, actor_id: q.actor_id, action: q.action };
    let mut entries = audit::list(&ctx.pool, chain, filter, before, limit + 1).await?;
    let next_cursor = super::next_page(&mut entries, limit, |e| e.id.to_string());
    Ok(Json(AuditList { entries, next_cursor }))
}

#[utoipa::path(get, path = "/audit/verify",
    summary = "Check the hash chain of the audit trail (the institution's, or the platform's for the operator)",
    description = "Who may call it: admin, operator.",
    responses((status = 200, description = "success", body = Verification)))]
async fn verify(State(ctx): State<ApiContext>, auth: AuthUser) -> Result<Json<Verification>> {
    let chain = chain(&auth)?;
    let mut conn = ctx.pool.acquire().await?;
    Ok(Json(audit::verify(&mut conn, chain).await?))
}

/// The chain the caller reads: their institution's, or `None` for the
/// platform's.
fn chain(auth: &AuthUser) -> Result<Option<Uuid>> {
    auth.scope.administered().ok_or(Error::Forbidden("only an administrator or the operator reads the audit trail"))
}
