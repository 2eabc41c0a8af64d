//! A resident's records: who read their health data (the access log), and
//! everything about them as one document (export) or erased (erase).

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Path, Query, Result};
use crate::domain::AccessKind;
use crate::store::access_log::{self, Access};
use crate::store::records::{self, EraseError, Erased};

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/access-log", get(access_log))
        .route("/residents/{id}/export", get(export))
        .route("/residents/{id}/erase", post(erase))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessLogQuery {
    resident_id: Option<Uuid>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize)]
struct AccessLogPage {
    entries: Vec<Access>,
    next_cursor: Option<String>,
}

/// Reads of the institution's residents' health data, newest first.
async fn access_log(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Query(q): Query<AccessLogQuery>,
) -> Result<Json<AccessLogPage>> {
    let institution = auth.require_admin()?;
    let limit = super::page_limit(q.limit)?;
    let before = q
        .cursor
        .map(|c| c.parse::<i64>().map_err(|_| Error::validation("cursor", "not a cursor this list gave")))
        .transpose()?;
    let filter = access_log::Filter { resident: q.resident_id, from: q.from, to: q.to, before };
    let mut entries = access_log::list(&ctx.pool, institution, filter, limit + 1).await?;
    let next_cursor = super::next_page(&mut entries, limit, |e| e.id.to_string());
    Ok(Json(AccessLogPage { entries, next_cursor }))
}

/// Everything about one resident as one JSON document (readings and events
/// capped at [`records::EXPORT_SERIES_LIMIT`] each, the newest). The read is
/// in the access log.
async fn export(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<Value>> {
    let id = auth.resident_for_staff(&ctx, id).await?;
    let document = records::export(&ctx.pool, &auth.scope, id).await?.ok_or(Error::NotFound)?;
    auth.log_read(&ctx, AccessKind::Export, id).await?;
    Ok(Json(document))
}

#[derive(Debug, Serialize)]
struct EraseResponse {
    resident_id: Uuid,
    name: String,
    erased: Erased,
}

/// Erases what names the resident (admin), and says so in the audit trail
/// and the access log. A second erasure answers 409.
async fn erase(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<EraseResponse>> {
    let id = auth.resident(&ctx, id).await?;
    auth.require_admin()?;
    let mut tx = ctx.pool.begin().await?;
    let erased = match records::erase(&mut tx, &auth.scope, id).await {
        Ok(erased) => erased,
        Err(EraseError::NotFound) => return Err(Error::NotFound),
        Err(EraseError::AlreadyErased) => return Err(Error::Conflict("this resident was already erased".into())),
        Err(EraseError::Database(err)) => return Err(err.into()),
    };
    let details = json!({"erased": &erased});
    crate::audit::record(&mut tx, auth.actor(), "resident.erased", "resident", id, details).await?;
    access_log::record(&mut *tx, &auth.scope, auth.kind, AccessKind::Erase, id).await?;
    tx.commit().await?;
    Ok(Json(EraseResponse { resident_id: id, name: records::pseudonym(id), erased }))
}
