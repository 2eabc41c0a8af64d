//! What a responder needs at the door: the sheet care staff keep for each
//! resident, and the key safe code handed to the carer at the door, once
//! per ask, logged.

use axum::extract::State;
use chrono::Utc;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Path, Result};
use crate::domain::responder::{self, SheetRequest, SheetView};
use crate::domain::scope::Care;
use crate::domain::{AccessKind, Step};
use crate::store::{responder as sheets, visits};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(replace, fetch)).routes(routes!(key_safe))
}

/// The sheet (contacts, conditions, medication, directives): the read is in
/// the access log.
#[utoipa::path(get, path = "/residents/{id}/responder-info",
    summary = "The responder's sheet; `access.key_safe` says whether there is a key safe, never its code; `from_partners` the conditions, allergies and medication medical partners sent in (FHIR), each with its source, beside what staff wrote. The read is in the access log (kind responder_sheet)",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path)),
    responses((status = 200, description = "success", body = SheetView)))]
async fn fetch(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<SheetView>> {
    let reached = auth.reach_for_staff::<Care>(&ctx, id).await?;
    let id = reached.id();
    let mut conn = ctx.pool.acquire().await?;
    let view = sheets::view(&mut conn, &reached).await?;
    drop(conn);
    auth.log_read(&ctx, AccessKind::ResponderSheet, id).await?;
    Ok(Json(view))
}

/// Replaces the sheet; the audit trail keeps it, with whether the key safe
/// code was set, kept or removed, never the code. A new code without a
/// sealing key configured is a 409 naming the setting.
#[utoipa::path(put, path = "/residents/{id}/responder-info",
    summary = "Replace the responder's sheet: how to get in, emergency contacts, conditions, allergies, medications, advance directives. The key safe code is write-only: absent keeps it, null removes it; it is stored sealed and never read back here; a new code is 409 when no sealing key is configured (ELDERCARE__WEBHOOKS__SECRET_KEY)",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path)), request_body = SheetRequest,
    responses((status = 200, description = "success", body = SheetView)))]
async fn replace(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<SheetRequest>,
) -> Result<Json<SheetView>> {
    let reached = auth.reach_for_staff::<Care>(&ctx, id).await?;
    let id = reached.id();
    let checked = req.check().map_err(|(field, message)| Error::validation(&field, message))?;
    let sealing = sheets::sealing_key(&ctx.settings.webhooks);
    let mut tx = ctx.pool.begin().await?;
    match sheets::save(&mut tx, &reached, &checked.sheet, &checked.key_safe, sealing.as_ref(), auth.scope.user).await {
        Ok(()) => {}
        Err(sheets::SaveError::NoSealingKey(refused)) => return Err(Error::Conflict(refused.to_string())),
        Err(sheets::SaveError::Database(err)) => return Err(err.into()),
    }
    let view = sheets::view(&mut tx, &reached).await?;
    // What staff wrote: the partners' records beside it did not change.
    let mut sheet = json!(view);
    if let Some(fields) = sheet.as_object_mut() {
        fields.remove("from_partners");
    }
    let details = json!({"sheet": sheet, "key_safe_code": checked.key_safe.as_str()});
    crate::audit::record(&mut tx, auth.actor(), "resident.responder_info_replaced", "resident", id, details).await?;
    tx.commit().await?;
    Ok(Json(view))
}

#[derive(Debug, Serialize, ToSchema)]
struct KeySafeCode {
    code: String,
}

/// The key safe code, for the carer assigned to the visit while it is due
/// (see [`responder::may_open_key_safe`]); for anyone else, as for a
/// resident without a key safe, the visit's key safe does not exist. Each
/// reveal is in the access log and, for a visit dispatched from an alert,
/// in the alert's timeline.
#[utoipa::path(post, path = "/visits/{id}/key-safe",
    summary = "The key safe code, for the carer assigned to the visit while it is assigned, checked in or missed and scheduled within 12 h of now; 404 for anyone else and when there is no key safe. Each reveal goes to the access log (kind key_safe) and to the timeline of the alert the visit was dispatched for (visit.key_safe_opened)",
    description = "Who may call it: the visit's assigned carer.", params(("id" = Uuid, Path)),
    responses((status = 200, description = "success", body = KeySafeCode)))]
async fn key_safe(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<KeySafeCode>> {
    let now = Utc::now();
    let mut tx = ctx.pool.begin().await?;
    let visit = visits::fetch(&mut tx, &auth.scope, id, false).await?.ok_or(Error::NotFound)?;
    if !responder::may_open_key_safe(visit.status, visit.caregiver_id, auth.scope.user, visit.scheduled_start, now) {
        return Err(Error::NotFound);
    }
    let sealing = sheets::sealing_key(&ctx.settings.webhooks);
    let code = match sheets::key_safe_code(&mut tx, visit.resident_id, sealing.as_ref()).await? {
        None => return Err(Error::NotFound),
        Some(Ok(code)) => code,
        Some(Err(err)) => {
            return Err(Error::Internal(anyhow::Error::new(err).context(format!(
                "key safe code of resident {} (is webhooks.secret_key the one it was stored with?)",
                visit.resident_id
            ))));
        }
    };
    // Logged before it is handed out: a reveal the log missed never happens.
    auth.log_read(&ctx, AccessKind::KeySafe, visit.resident_id).await?;
    if let Some(alert_id) = visit.alert_id {
        let details =
            json!({"visit_id": visit.id, "caregiver_id": auth.scope.user, "caregiver_name": visit.caregiver_name});
        crate::alerts::note(&mut tx, alert_id, Some(auth.scope.user), Step::VisitKeySafeOpened, details).await?;
    }
    tx.commit().await?;
    Ok(Json(KeySafeCode { code }))
}
