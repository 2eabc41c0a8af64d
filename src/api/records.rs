//! A resident's records: who read their health data (the access log), and
//! everything about them as one document (export) or erased (erase).

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Path, Query, Result};
use crate::domain::AccessKind;
use crate::domain::field;
use crate::domain::scope::Monitoring;
use crate::store::access_log::{self, Access};
use crate::store::records::{self, EraseError, Erased};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(access_log)).routes(routes!(export)).routes(routes!(erase))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AccessLogQuery {
    #[param(nullable = false)]
    resident_id: Option<Uuid>,
    #[param(nullable = false)]
    from: Option<DateTime<Utc>>,
    #[param(nullable = false)]
    to: Option<DateTime<Utc>>,
    #[param(minimum = 1, maximum = 1000, default = 200, nullable = false)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(schema_with = field::serial_cursor)]
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AccessLog)]
struct AccessLogPage {
    entries: Vec<Access>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// Reads of the institution's residents' health data, newest first.
#[utoipa::path(get, path = "/access-log",
    summary = "Who read the institution's residents' health data (readings, events, summary, export), newest first; kept retention.access_log_days (730)",
    description = "Who may call it: admin.", params(AccessLogQuery),
    responses((status = 200, description = "success", body = AccessLogPage)))]
async fn access_log(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Query(q): Query<AccessLogQuery>,
) -> Result<Json<AccessLogPage>> {
    auth.require_admin()?;
    let limit = super::page_limit(q.limit)?;
    let before = q
        .cursor
        .map(|c| c.parse::<i64>().map_err(|_| Error::validation("cursor", "not a cursor this list gave")))
        .transpose()?;
    let filter = access_log::Filter { resident: q.resident_id, from: q.from, to: q.to, before };
    let mut entries = access_log::list(&ctx.pool, &auth.scope, filter, limit + 1).await?;
    let next_cursor = super::next_page(&mut entries, limit, |e| e.id.to_string());
    Ok(Json(AccessLogPage { entries, next_cursor }))
}

/// Everything about one resident as one JSON document (readings and events
/// capped at [`records::EXPORT_SERIES_LIMIT`] each, the newest). The read is
/// in the access log.
#[utoipa::path(get, path = "/residents/{id}/export",
    summary = "Everything about one resident as one JSON document: resident, devices, readings, events, alerts with timelines, messages, family links, consents, and who read their health data (access log). Readings, events and access log: the newest 100,000 each (`readings_truncated`, `events_truncated` say when there were more). The read is in the access log",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path)),
    responses((status = 200, description = "success", body = ResidentExport)))]
async fn export(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<Value>> {
    let reached = auth.reach_for_staff::<Monitoring>(&ctx, id).await?;
    let id = reached.id();
    let document = records::export(ctx.read.pool(), &auth.scope, &reached).await?.ok_or(Error::NotFound)?;
    auth.log_read(&ctx, AccessKind::Export, id).await?;
    Ok(Json(document))
}

/// The export's document, as [`records::export`] builds it.
#[derive(ToSchema)]
#[allow(dead_code)] // only its schema is used: the export is built as JSON
struct ResidentExport {
    #[schema(required = false)]
    exported_at: DateTime<Utc>,
    #[schema(value_type = Object)]
    resident: Value,
    #[schema(schema_with = field::any_array)]
    devices: Value,
    #[schema(schema_with = field::any_array)]
    readings: Value,
    #[schema(required = false)]
    readings_truncated: bool,
    #[schema(schema_with = field::any_array)]
    events: Value,
    #[schema(required = false)]
    events_truncated: bool,
    /// each with its `timeline`
    #[schema(schema_with = field::any_array)]
    alerts: Value,
    #[schema(schema_with = field::any_array)]
    messages: Value,
    #[schema(schema_with = field::any_array)]
    family: Value,
    #[schema(schema_with = field::any_array)]
    consents: Value,
    /// who read their health data, the newest 100,000
    #[schema(schema_with = field::any_array, required = false)]
    access_log: Value,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Erasure)]
struct EraseResponse {
    resident_id: Uuid,
    /// the pseudonym the resident is now shown by
    name: String,
    erased: Erased,
}

/// Erases what names the resident (admin), and says so in the audit trail
/// and the access log. A second erasure answers 409.
#[utoipa::path(post, path = "/residents/{id}/erase",
    summary = "Erase what names or describes the resident: the name becomes a pseudonym; notes, address, location and room go; so do the responder sheet with the key safe code, visit notes, task notes, rating comments and correction reasons, the meal plan (allergies, delivery notes) and meal orders' allergies and delivery positions, status notes, the payloads of notifications about them (those waiting are not sent), message texts, alert comments and notes, guardians' names; the personal values of the audit entries recorded as concerning them (by reference, never by words) are blanked. Measurements, alerts, visits, consents and the audit chain stay (de-identified; /audit/verify stays valid). The erasure is audited and in the access log (kind erase). 409 when the resident was already erased",
    description = "Who may call it: admin.", params(("id" = Uuid, Path)),
    responses((status = 200, description = "success", body = EraseResponse)))]
async fn erase(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<EraseResponse>> {
    let reached = auth.reach::<Monitoring>(&ctx, id).await?;
    let id = reached.id();
    auth.require_admin()?;
    let mut tx = ctx.pool.begin().await?;
    let erased = match records::erase(&mut tx, &auth.scope, &reached).await {
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
