//! The audit trail, for admins (their institution's chain) and the operator
//! (the platform's): who changed what, and whether the trail is intact.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Query, Result};
use crate::audit::{self, Entry, Verification};

pub fn router() -> Router<ApiContext> {
    Router::new().route("/audit", get(list)).route("/audit/verify", get(verify))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    entity: Option<String>,
    entity_id: Option<String>,
    actor_id: Option<Uuid>,
    action: Option<String>,
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize)]
struct AuditList {
    entries: Vec<Entry>,
    next_cursor: Option<String>,
}

/// Newest first, a page at a time: the cursor is the last entry's id.
async fn list(State(ctx): State<ApiContext>, auth: AuthUser, Query(q): Query<AuditQuery>) -> Result<Json<AuditList>> {
    let chain = chain(&auth)?;
    let limit = super::page_limit(q.limit)?;
    let before = super::parse_cursor::<i64>(q.cursor.as_deref())?;
    let filter = audit::Filter { entity: q.entity, entity_id: q.entity_id, actor_id: q.actor_id, action: q.action };
    let mut entries = audit::list(&ctx.pool, chain, filter, before, limit + 1).await?;
    let next_cursor = super::next_page(&mut entries, limit, |e| e.id.to_string());
    Ok(Json(AuditList { entries, next_cursor }))
}

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
