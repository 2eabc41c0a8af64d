//! The resident's status (active, in hospital, away, discharged,
//! deceased), kept as periods, and what follows from a change: visits in
//! the period cancelled and generated again on return, meal orders
//! suspended, behaviour alerts resolved, and for a death the devices'
//! broker accounts revoked and the care and meal plans ended.

use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Path, Result};
use crate::broker::{AccountKind, Disconnect};
use crate::domain::care::CancelReason;
use crate::domain::scope::Identity;
use crate::domain::status::{self, Period, Refused, ResidentStatus};
use crate::store::residents::Resident;
use crate::store::{care as catalogue, meals, status as periods};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(change, fetch))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ResidentStatusNow)]
struct StatusBody {
    status: ResidentStatus,
    /// When the current status began (`null`: active since always).
    #[schema(required = true)]
    from: Option<DateTime<Utc>>,
    #[schema(required = true)]
    until: Option<DateTime<Utc>>,
    #[schema(required = true)]
    note: Option<String>,
    /// Every period recorded, by start.
    history: Vec<Period>,
    /// After a hospital discharge a medical partner sent: review her
    /// vital-sign thresholds until this day (the console flags it); null if
    /// never, a past day once the review is over.
    #[schema(required = true)]
    vitals_review_until: Option<NaiveDate>,
}

fn body(history: Vec<Period>, vitals_review_until: Option<NaiveDate>, now: DateTime<Utc>) -> StatusBody {
    let current = status::status_at(&history, now);
    let (from, until, note) = match history.iter().rev().find(|p| p.from <= now) {
        Some(p) if p.status == current => (Some(p.from), p.until, p.note.clone()),
        // Back from a stay that ended by itself.
        Some(p) => (p.until, None, None),
        None => (None, None, None),
    };
    StatusBody { status: current, from, until, note, history, vitals_review_until }
}

#[utoipa::path(get, path = "/residents/{id}/status",
    summary = "The resident's status now (an in_hospital or away period that ended is active again), every period recorded (a hospital stay a medical partner sent names its FHIR Encounter), and until when her vital-sign thresholds are to be reviewed after a discharge",
    description = "Who may call it: admin, staff; civil_affairs and grid_worker in reach (status is identity: alive, away, in hospital).",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "success", body = StatusBody)))]
async fn fetch(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<StatusBody>> {
    let reached = match auth.scope.role {
        crate::domain::Role::CivilAffairs | crate::domain::Role::GridWorker => auth.reach::<Identity>(&ctx, id).await?,
        _ => auth.reach_for_staff::<Identity>(&ctx, id).await?,
    };
    let mut conn = ctx.pool.acquire().await?;
    let review = crate::store::clinical::vitals_review_until(&mut conn, &reached).await?;
    Ok(Json(body(periods::periods(&mut conn, &reached).await?, review, Utc::now())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ResidentStatusChange)]
struct StatusRequest {
    status: ResidentStatus,
    /// default now; at most 30 days back; for deceased, not ahead
    from: Option<DateTime<Utc>>,
    /// in_hospital and away only; after from
    until: Option<DateTime<Utc>>,
    #[schema(max_length = 2000)]
    note: Option<String>,
}

/// Why a visit in the period no longer happens.
fn cancel_reason(status: ResidentStatus) -> CancelReason {
    match status {
        ResidentStatus::InHospital => CancelReason::ClientHospitalised,
        ResidentStatus::Away | ResidentStatus::Respite => CancelReason::ClientNotHome,
        ResidentStatus::Active | ResidentStatus::Discharged | ResidentStatus::Deceased => CancelReason::PlanChanged,
    }
}

#[utoipa::path(put, path = "/residents/{id}/status",
    summary = "Record where the resident is from `from` (default now, at most 30 days back): active, in_hospital or away (until optional, after from), discharged, deceased (final: any later change is 409). While not active no behaviour alert is raised (open ones are resolved), plan visits are not generated and scheduled ones in the period are cancelled (client_hospitalised, client_not_home, plan_changed), meal orders are cancelled suspended, no visit is late; back to active, the plan's visits and meals come back. Deceased also revokes the devices' broker accounts and ends the care and meal plans",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path)), request_body = StatusRequest,
    responses((status = 200, description = "success", body = StatusBody)))]
async fn change(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<StatusRequest>,
) -> Result<Json<StatusBody>> {
    let reached = auth.reach_for_staff::<Identity>(&ctx, id).await?;
    let id = reached.id();
    auth.require_staff()?;
    if req.status == ResidentStatus::Respite {
        return Err(Error::validation(
            "status",
            "a respite stay is booked (POST /residents/{id}/respite-stays), against its entitlement",
        ));
    }
    let now = Utc::now();
    let from = req.from.unwrap_or(now);
    if req.note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(Error::validation("note", "note must be at most 2000 characters"));
    }
    let mut tx = ctx.pool.begin().await?;
    // One change at a time per resident.
    periods::lock_resident(&mut tx, &reached).await?;
    let history = periods::periods(&mut tx, &reached).await?;
    status::check(&history, req.status, from, req.until, now).map_err(|refused| match refused {
        Refused::Invalid(field, message) => Error::validation(field, message),
        Refused::Illegal(message) => Error::Conflict(message),
    })?;
    let change = Change { status: req.status, from, until: req.until, note: req.note.as_deref() };
    let (effects, disconnect) = record(&ctx, &mut tx, &auth.scope, &reached, &change, now).await?;
    let details = json!({"status": req.status, "from": from, "until": req.until, "note": req.note, "effects": effects});
    crate::audit::record(&mut tx, auth.actor(), "resident.status_changed", "resident", id, details).await?;
    let history = periods::periods(&mut tx, &reached).await?;
    let review = crate::store::clinical::vitals_review_until(&mut tx, &reached).await?;
    tx.commit().await?;
    disconnect.send().await;
    if req.status == ResidentStatus::Deceased {
        ctx.device_registry_changed();
    }
    Ok(Json(body(history, review, now)))
}

/// A status period to record.
pub(super) struct Change<'a> {
    pub status: ResidentStatus,
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    pub note: Option<&'a str>,
}

/// Records a status period (checked already) and what follows from it:
/// visits in the period cancelled, plans' visits and meals in step, alerts
/// of an absence resolved, a death's devices revoked. The effects, and the
/// broker disconnections to send once committed.
pub(super) async fn record(
    ctx: &ApiContext,
    tx: &mut sqlx::PgConnection,
    scope: &crate::domain::Scope,
    reached: &crate::domain::scope::Reached<Identity>,
    change: &Change<'_>,
    now: DateTime<Utc>,
) -> Result<(serde_json::Value, Disconnect)> {
    periods::insert(&mut *tx, reached, change.status, change.from, change.until, change.note, scope.user).await?;

    let mut effects = json!({});
    let mut disconnect = Disconnect::none();
    if change.status != ResidentStatus::Active {
        let until = if change.status.may_end() { change.until } else { None };
        effects["visits_cancelled"] =
            json!(periods::cancel_visits(&mut *tx, reached, change.from, until, cancel_reason(change.status)).await?);
    }
    if change.status == ResidentStatus::Deceased {
        let mut revoked = Vec::new();
        if let Some(accounts) = &ctx.accounts {
            for device in periods::device_accounts(&mut *tx, reached).await? {
                disconnect = disconnect.and(accounts.revoke(&mut *tx, AccountKind::Device, &device).await?);
                revoked.push(device);
            }
        }
        effects["devices_revoked"] = json!(revoked);
        catalogue::put_plan(&mut *tx, scope, reached, &[], scope.user).await?;
        effects["meal_plan_ended"] = json!(meals::delete_plan(&mut *tx, reached).await?);
    }
    // Plan visits and meal orders follow the new periods: nothing while
    // away, everything again from the return.
    let (generated, _) = crate::care::sync_plan(&mut *tx, reached, now).await?;
    effects["visits_generated"] = json!(generated);
    effects["meal_orders"] = json!(meals::sync_orders(&mut *tx, reached, now).await?);
    if change.status != ResidentStatus::Active && change.from <= now {
        let kinds = if change.status == ResidentStatus::Deceased { None } else { Some(status::ABSENCE_CLEARS) };
        let details = json!({"resident_status": change.status, "note": "the resident is not at home"});
        let resolved =
            crate::alerts::resolve_about_resident(&mut *tx, reached, kinds, Some(scope.user), &details).await?;
        effects["alerts_resolved"] = json!(resolved.len());
    }
    Ok((effects, disconnect))
}

/// Gives each resident their status now.
pub async fn fill(ctx: &ApiContext, residents: &mut [Resident]) -> Result<()> {
    let ids: Vec<Uuid> = residents.iter().map(|r| r.id).collect();
    let all = periods::periods_of(&ctx.pool, &ids).await?;
    let now = Utc::now();
    let mut grades: std::collections::HashMap<Uuid, crate::store::residents::Grade> =
        crate::store::assessments::grades(&ctx.pool, &ids)
            .await?
            .into_iter()
            .map(|(id, grade, label, scale)| (id, crate::store::residents::Grade { grade, label, scale }))
            .collect();
    for r in residents {
        r.status = status::status_at(all.get(&r.id).map_or(&[][..], |p| p.as_slice()), now);
        r.grade = grades.remove(&r.id);
    }
    Ok(())
}
