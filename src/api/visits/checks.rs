//! What a request must pass before a handler reads or changes a visit:
//! the caller's reach, notes and bounds, the carer sent, the door record.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::DoorRequest;
use crate::api::auth::AuthUser;
use crate::api::{ApiContext, Error, Result};
use crate::domain::care::{self, Bound, DoorRecord, delivers_visits, tag_kind};
use crate::domain::{Role, Scope};
use crate::store::care::{self as catalogue, Service};
use crate::store::users;
use crate::store::visits::{self, Visit};

pub(super) fn illegal(err: care::IllegalTransition) -> Error {
    Error::Conflict(err.to_string())
}

pub(super) fn check_note(field: &str, note: &Option<String>) -> Result<()> {
    if note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(Error::validation(field, format!("{field} must be at most 2000 characters")));
    }
    Ok(())
}

/// The service of the caller's institution with this code, or a 422.
pub(super) async fn service_by_code(
    tx: &mut sqlx::PgConnection,
    scope: &Scope,
    code: &str,
    field: &str,
) -> Result<Service> {
    catalogue::service(tx, scope, code)
        .await?
        .ok_or_else(|| Error::validation(field, format!("no service {code:?} in the catalogue")))
}

/// The visit in the caller's reach, locked for a change, and the caller's
/// institution when they are care staff (403 otherwise).
pub(super) async fn visit_for_staff(tx: &mut sqlx::PgConnection, auth: &AuthUser, id: Uuid) -> Result<Visit> {
    let visit = visits::fetch(tx, &auth.scope, id, true).await?.ok_or(Error::NotFound)?;
    auth.require_staff()?;
    Ok(visit)
}

fn bound(field: &str, value: Option<&str>) -> Result<Option<Bound>> {
    let Some(value) = value else { return Ok(None) };
    Bound::parse(value)
        .map(Some)
        .ok_or_else(|| Error::validation(field, format!("{field} must be an RFC 3339 time or a date YYYY-MM-DD")))
}

pub(super) fn apply_bounds(filter: &mut visits::Filter, from: Option<&str>, to: Option<&str>) -> Result<()> {
    if let Some(from) = bound("from", from)? {
        filter.from(from);
    }
    if let Some(to) = bound("to", to)? {
        filter.to(to);
    }
    Ok(())
}

pub(super) fn cursor(cursor: Option<&str>) -> Result<Option<(DateTime<Utc>, Uuid)>> {
    let Some(cursor) = cursor else { return Ok(None) };
    visits::parse_cursor(cursor).map(Some).ok_or_else(|| Error::validation("cursor", "not a cursor this list gave"))
}

/// Whoever goes must be one of the institution's carers (or care staff),
/// with a health certificate valid on `day` (the visit's).
pub(super) async fn check_carer(ctx: &ApiContext, auth: &AuthUser, user: Uuid, day: chrono::NaiveDate) -> Result<()> {
    match users::role(&ctx.pool, &auth.scope, user).await? {
        Some(role) if delivers_visits(role) => {}
        _ => return Err(Error::validation("caregiver_id", "no caregiver or care staff of this institution")),
    }
    if !crate::store::certificates::fit_on(&ctx.pool, user, day).await? {
        return Err(Error::validation(
            "caregiver_id",
            format!("no health certificate valid on {day}: record one with PUT /users/{{id}}/certificates"),
        ));
    }
    Ok(())
}

/// The door record of a check-in or check-out, checked: a place on earth,
/// a tag of the home for `qr`/`nfc`, an offline time within 24 hours.
pub(super) async fn door_record(
    tx: &mut sqlx::PgConnection,
    visit: &Visit,
    req: &DoorRequest,
    now: DateTime<Utc>,
) -> Result<DoorRecord> {
    let at = req.location.check("location")?;
    let accuracy = req.location.accuracy_m;
    let tag_kind = tag_kind(req.method);
    if let Some(kind) = tag_kind {
        let tag = req.tag.as_deref().ok_or_else(|| Error::validation("tag", "a qr or nfc check-in carries its tag"))?;
        if !catalogue::has_tag(tx, visit.resident_id, tag, kind).await? {
            return Err(Error::validation("tag", "this tag is not registered for the resident's home"));
        }
    }
    if let Some(ts) = req.ts {
        care::check_device_ts(ts, now).map_err(|m| Error::validation("ts", m))?;
    }
    Ok(DoorRecord {
        lat: at.lat,
        lon: at.lon,
        accuracy_m: accuracy,
        method: req.method,
        distance_m: visit.home().map(|home| (home.distance_m(&at) * 10.0).round() / 10.0),
        tag: tag_kind.and(req.tag.clone()),
        received_at: now,
        device_ts: req.ts,
    })
}

/// The visit for its caregiver or care staff: a caregiver reaches only
/// their own assignments (anyone else's is a 404); a family member is
/// refused.
pub(super) async fn visit_at_door(tx: &mut sqlx::PgConnection, auth: &AuthUser, id: Uuid) -> Result<Visit> {
    let visit = visits::fetch(tx, &auth.scope, id, true).await?.ok_or(Error::NotFound)?;
    if auth.scope.role != Role::Caregiver {
        auth.require_staff()?;
    }
    Ok(visit)
}

pub(super) async fn far_limit(ctx: &ApiContext, visit: &Visit) -> Result<f64> {
    Ok(ctx
        .rule_settings
        .resident(&ctx.pool, visit.resident_id)
        .await?
        .map(|s| s.visits.far_from_home_m)
        .unwrap_or(200.0))
}
