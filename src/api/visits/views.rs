//! What each reader sees of a visit: care staff and its carer the whole
//! visit with what goes with it of the responder's sheet, a carer their
//! assignment, a family what was done and by whom (first name).

use std::collections::HashMap;

use uuid::Uuid;

use super::{CarerService, CarerVisit, FamilyVisit, Rating, VisitBody};
use crate::api::auth::AuthUser;
use crate::api::{ApiContext, Error, Json, Result};
use crate::domain::care::{self, sheet_at_the_door};
use crate::domain::responder::{Access, Responder};
use crate::store::residents::ForCarer;
use crate::store::visits::{self, Visit};

fn rating(v: &Visit) -> Option<Rating> {
    v.rating_stars.map(|stars| Rating { stars, comment: v.rating_comment.clone(), at: v.rated_at })
}

impl From<&Visit> for VisitBody {
    fn from(v: &Visit) -> Self {
        VisitBody {
            id: v.id,
            resident_id: v.resident_id,
            resident_name: v.resident_name.clone(),
            service_code: v.service_code.clone(),
            service_name: v.service_name.clone(),
            funding: v.funding,
            origin: v.origin,
            status: v.status,
            scheduled_start: v.scheduled_start,
            preferred_start: v.preferred_start,
            caregiver_id: v.caregiver_id,
            caregiver_name: v.caregiver_name.clone(),
            alert_id: v.alert_id,
            note: v.note.clone(),
            cancel_reason: v.cancel_reason,
            tasks: v.tasks.0.clone(),
            visit_note: v.visit_note.clone(),
            evv: v.evv(),
            amendments: v.amendments.0.clone(),
            rating: rating(v),
            created_at: v.created_at,
            updated_at: v.updated_at,
            responder: None,
            access: None,
        }
    }
}

impl From<&Visit> for FamilyVisit {
    fn from(v: &Visit) -> Self {
        FamilyVisit {
            id: v.id,
            resident_id: v.resident_id,
            service_code: v.service_code.clone(),
            service_name: v.service_name.clone(),
            origin: v.origin,
            status: v.status,
            scheduled_start: v.scheduled_start,
            preferred_start: v.preferred_start,
            start: v.start(),
            end: v.end(),
            minutes: v.minutes(),
            caregiver: v.caregiver_name.as_deref().map(|n| care::first_name(n).to_owned()),
            tasks: v.tasks.0.clone(),
            visit_note: v.visit_note.clone(),
            cancel_reason: v.cancel_reason,
            rating: rating(v),
        }
    }
}

impl From<&Visit> for CarerVisit {
    fn from(v: &Visit) -> Self {
        CarerVisit {
            id: v.id,
            status: v.status,
            scheduled_start: v.scheduled_start,
            note: v.note.clone(),
            resident: ForCarer {
                id: v.resident_id,
                name: v.resident_name.clone(),
                address: v.address.clone(),
                location: v.home().map(sqlx::types::Json),
                notes: v.resident_notes.clone(),
            },
            service: CarerService {
                code: v.service_code.clone(),
                name: v.service_name.clone(),
                duration_minutes: v.duration_minutes,
                tasks: v.service_tasks.0.clone(),
            },
            check_in: v.check_in.as_ref().map(|c| c.0.clone()),
            check_out: v.check_out.as_ref().map(|c| c.0.clone()),
            exceptions: v.exceptions(),
            responder: None,
            access: None,
        }
    }
}

/// What of the responder's sheet goes with the visit to this caller.
pub(super) fn at_the_door(
    auth: &AuthUser,
    v: &Visit,
    sheets: &HashMap<Uuid, Responder>,
) -> (Option<Responder>, Option<Access>) {
    let Some(sheet) = sheets.get(&v.resident_id) else { return (None, None) };
    sheet_at_the_door(v.origin, v.caregiver_id == Some(auth.scope.user), auth.scope.may_care(), sheet)
}

/// The visit as care staff and its carer read it, with what goes with it
/// of the responder's sheet.
pub(super) async fn visit_body(ctx: &ApiContext, auth: &AuthUser, visit: Visit) -> Result<VisitBody> {
    let sheets = visits::sheets(&ctx.pool, std::slice::from_ref(&visit)).await?;
    let mut body = VisitBody::from(&visit);
    (body.responder, body.access) = at_the_door(auth, &visit, &sheets);
    Ok(body)
}

/// Reads the visit back after a change, as the caller sees it.
pub(super) async fn answer(ctx: &ApiContext, auth: &AuthUser, id: Uuid) -> Result<Json<VisitBody>> {
    let mut conn = ctx.pool.acquire().await?;
    let visit = visits::fetch(&mut conn, &auth.scope, id, false).await?.ok_or(Error::NotFound)?;
    drop(conn);
    Ok(Json(visit_body(ctx, auth, visit).await?))
}

/// Ends a staff member's change to a visit: saves it, audits it as `action`
/// with `details`, commits, and reads the visit back as the caller sees it.
pub(super) async fn save_and_answer(
    ctx: &ApiContext,
    auth: &AuthUser,
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    visit: &Visit,
    action: &str,
    details: serde_json::Value,
) -> Result<Json<VisitBody>> {
    visits::save(&mut tx, visit).await?;
    crate::audit::record(&mut tx, auth.actor(), action, "visit", visit.id, details).await?;
    tx.commit().await?;
    answer(ctx, auth, visit.id).await
}
