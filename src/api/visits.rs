//! Visits: made by hand, from a plan, dispatched from an alert or asked for
//! by a family; assigned, checked in and out at the door with the EVV
//! record; amended, resolved, rated. Who reads what of a visit: care staff
//! all of it, the assigned caregiver their own visits, a family their
//! resident's visits with the carer's first name only.

mod checks;
mod requests;
mod views;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::place::PhoneLocation;
use super::{ApiContext, Error, Json, Path, Query, Result};
use crate::domain::care::{
    self, Action, AmendField, CancelReason, DoorRecord, Exception, Funding, Method, Origin, VisitStatus,
};
use crate::domain::field;
use crate::domain::responder::{Access, Responder};
use crate::domain::scope::Care;
use crate::domain::{Role, Step};
use crate::store::care::{self as catalogue, Task};
use crate::store::residents;
use crate::store::visits::{self, Amendment, Evv, NewVisit, Resolved, TaskDone, cursor_of};
use checks::{
    apply_bounds, check_carer, check_note, cursor, door_record, far_limit, illegal, service_by_code, visit_at_door,
    visit_for_staff,
};
use views::{answer, at_the_door, save_and_answer, visit_body};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(fetch))
        .routes(routes!(assign))
        .routes(routes!(schedule))
        .routes(routes!(cancel))
        .routes(routes!(check_in))
        .routes(routes!(check_out))
        .routes(routes!(amend))
        .routes(routes!(resolve))
        .routes(routes!(rate))
        .routes(routes!(requests::dispatch))
        .routes(routes!(requests::request))
        .routes(routes!(resident_visits))
        .routes(routes!(my_visits))
}

/// A visit as care staff and its caregiver read it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Visit)]
pub struct VisitBody {
    id: Uuid,
    resident_id: Uuid,
    resident_name: String,
    service_code: String,
    service_name: String,
    funding: Funding,
    origin: Origin,
    status: VisitStatus,
    scheduled_start: Option<DateTime<Utc>>,
    preferred_start: Option<DateTime<Utc>>,
    caregiver_id: Option<Uuid>,
    caregiver_name: Option<String>,
    alert_id: Option<Uuid>,
    note: Option<String>,
    cancel_reason: Option<CancelReason>,
    tasks: Vec<TaskDone>,
    visit_note: Option<String>,
    evv: Evv,
    amendments: Vec<Amendment>,
    rating: Option<Rating>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// one visit (GET, or the answer to a change) dispatched from an alert, for its carer and care staff
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    responder: Option<Responder>,
    /// one visit not dispatched from an alert, for its assigned carer
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    access: Option<Access>,
}

#[derive(Debug, Serialize, ToSchema)]
struct Rating {
    stars: i32,
    #[schema(required = true)]
    comment: Option<String>,
    #[schema(required = true)]
    at: Option<DateTime<Utc>>,
}

/// A visit as a family reads it: what was done, when, by whom (first name).
#[derive(Debug, Serialize, ToSchema)]
struct FamilyVisit {
    id: Uuid,
    resident_id: Uuid,
    service_code: String,
    service_name: String,
    origin: Origin,
    status: VisitStatus,
    scheduled_start: Option<DateTime<Utc>>,
    preferred_start: Option<DateTime<Utc>>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    minutes: Option<i64>,
    /// the carer's first name
    caregiver: Option<String>,
    tasks: Vec<TaskDone>,
    visit_note: Option<String>,
    cancel_reason: Option<CancelReason>,
    rating: Option<Rating>,
}

/// One of a caregiver's assignments: the resident's name, address, location
/// and care notes, the service and its tasks, nothing else of the resident.
#[derive(Debug, Serialize, ToSchema)]
struct CarerVisit {
    id: Uuid,
    status: VisitStatus,
    scheduled_start: Option<DateTime<Utc>>,
    note: Option<String>,
    resident: crate::store::residents::ForCarer,
    service: CarerService,
    check_in: Option<DoorRecord>,
    check_out: Option<DoorRecord>,
    /// The record's exceptions, so the carer sees at once what a payer will
    /// question (a check-in far from home).
    exceptions: Vec<Exception>,
    /// a visit dispatched from an alert
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    responder: Option<Responder>,
    /// any other visit
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    access: Option<Access>,
}

#[derive(Debug, Serialize, ToSchema)]
struct CarerService {
    code: String,
    name: String,
    duration_minutes: i32,
    tasks: Vec<Task>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewVisit)]
struct NewVisitRequest {
    resident_id: Uuid,
    service_code: String,
    scheduled_start: DateTime<Utc>,
    funding: Funding,
    note: Option<String>,
}

#[utoipa::path(post, path = "/visits", summary = "Schedule a visit by hand (origin manual)",
    description = "Who may call it: admin, staff.", request_body = NewVisitRequest,
    responses((status = 201, description = "success", body = VisitBody)))]
async fn create(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<NewVisitRequest>,
) -> Result<(StatusCode, Json<VisitBody>)> {
    let institution = auth.require_staff()?;
    check_note("note", &req.note)?;
    let resident = residents::reach::<Care>(&ctx.pool, &auth.scope, req.resident_id)
        .await?
        .ok_or_else(|| Error::validation("resident_id", "no such resident in this institution"))?
        .id();
    let mut tx = ctx.pool.begin().await?;
    let service = service_by_code(&mut tx, &auth.scope, &req.service_code, "service_code").await?;
    if !service.funding.contains(&req.funding) {
        return Err(Error::validation("funding", format!("{} is not paid by {}", service.code, req.funding)));
    }
    let id = visits::insert(
        &mut tx,
        NewVisit {
            institution_id: institution,
            resident_id: resident,
            service_id: service.id,
            funding: req.funding,
            origin: Origin::Manual,
            status: VisitStatus::Scheduled,
            scheduled_start: Some(req.scheduled_start),
            preferred_start: None,
            caregiver_id: None,
            alert_id: None,
            note: req.note.clone(),
            requested_by: Some(auth.scope.user),
            clinical_record_id: None,
        },
    )
    .await?;
    let details = json!({"resident_id": resident, "service_code": service.code, "scheduled_start": req.scheduled_start,
                         "funding": req.funding, "origin": Origin::Manual});
    crate::audit::record(&mut tx, auth.actor(), "visit.created", "visit", id, details).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, answer(&ctx, &auth, id).await?))
}

/// A family member reads the family's view; staff and the assigned
/// caregiver the whole visit.
#[utoipa::path(get, path = "/visits/{id}",
    summary = "One visit with its EVV record; a family member gets the family's view (FamilyVisit)",
    description = "Who may call it: admin, staff, the assigned caregiver, linked family.", params(("id" = Uuid, Path)),
    responses((status = 200, description = "success", body = VisitBody)))]
async fn fetch(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Response> {
    let mut conn = ctx.pool.acquire().await?;
    let visit = visits::fetch(&mut conn, &auth.scope, id, false).await?.ok_or(Error::NotFound)?;
    drop(conn);
    if auth.scope.role == Role::Family {
        return Ok(Json(FamilyVisit::from(&visit)).into_response());
    }
    Ok(Json(visit_body(&ctx, &auth, visit).await?).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    #[param(nullable = false)]
    from: Option<String>,
    #[param(nullable = false)]
    to: Option<String>,
    #[param(nullable = false, inline)]
    status: Option<VisitStatus>,
    #[param(nullable = false)]
    resident_id: Option<Uuid>,
    #[param(nullable = false)]
    caregiver_id: Option<Uuid>,
    #[param(minimum = 1, maximum = 1000, default = 200, nullable = false)]
    limit: Option<i64>,
    #[param(schema_with = field::visit_cursor)]
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct VisitList {
    visits: Vec<VisitBody>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct FamilyVisitList {
    visits: Vec<FamilyVisit>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// Care staff list the institution's visits; a caregiver their own.
#[utoipa::path(get, path = "/visits",
    summary = "Visits by scheduled start (a caregiver: their own); from/to are RFC 3339 times or local dates YYYY-MM-DD (both included)",
    description = "Who may call it: admin, staff, caregiver.", params(ListQuery),
    responses((status = 200, description = "success", body = VisitList)))]
async fn list(State(ctx): State<ApiContext>, auth: AuthUser, Query(q): Query<ListQuery>) -> Result<Json<VisitList>> {
    if auth.scope.role != Role::Caregiver {
        auth.require_staff()?;
    }
    let limit = super::page_limit(q.limit)?;
    let mut filter = visits::Filter {
        status: q.status,
        resident_id: q.resident_id,
        caregiver_id: q.caregiver_id,
        ..Default::default()
    };
    apply_bounds(&mut filter, q.from.as_deref(), q.to.as_deref())?;
    let mut rows = visits::list(&ctx.pool, &auth.scope, &filter, cursor(q.cursor.as_deref())?, limit).await?;
    let next_cursor = super::next_page(&mut rows, limit, cursor_of);
    Ok(Json(VisitList { visits: rows.iter().map(VisitBody::from).collect(), next_cursor }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct MyVisitsQuery {
    #[param(nullable = false)]
    date: Option<NaiveDate>,
    #[param(minimum = 1, maximum = 1000, default = 200, nullable = false)]
    limit: Option<i64>,
    #[param(schema_with = field::visit_cursor)]
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct MyVisits {
    date: NaiveDate,
    visits: Vec<CarerVisit>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// The caller's assignments on a local date (default: today in the
/// institution's timezone), cancelled ones left out.
#[utoipa::path(get, path = "/me/visits",
    summary = "My assignments on a local date (default today): the resident's name, address, location and care notes, the service and its tasks",
    description = "Who may call it: caregiver, staff, admin.", params(MyVisitsQuery),
    responses((status = 200, description = "success", body = MyVisits)))]
async fn my_visits(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Query(q): Query<MyVisitsQuery>,
) -> Result<Json<MyVisits>> {
    if !care::delivers_visits(auth.scope.role) || auth.scope.institution.is_none() {
        return Err(Error::Forbidden("only those who deliver visits have assignments"));
    }
    let limit = super::page_limit(q.limit)?;
    let date = match q.date {
        Some(date) => date,
        None => {
            let timezone = residents::default_timezone(&ctx.pool, &auth.scope).await?;
            care::local_date(&timezone, Utc::now())
        }
    };
    let filter = visits::Filter {
        caregiver_id: Some(auth.scope.user),
        from_date: Some(date),
        to_date: Some(date),
        ..Default::default()
    };
    let mut rows = visits::list(&ctx.pool, &auth.scope, &filter, cursor(q.cursor.as_deref())?, limit).await?;
    let next_cursor = super::next_page(&mut rows, limit, cursor_of);
    let sheets = visits::sheets(&ctx.pool, &rows).await?;
    let visits = rows
        .iter()
        .filter(|v| v.status != VisitStatus::Cancelled)
        .map(|v| {
            let mut carer = CarerVisit::from(v);
            (carer.responder, carer.access) = at_the_door(&auth, v, &sheets);
            carer
        })
        .collect();
    Ok(Json(MyVisits { date, visits, next_cursor }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ResidentVisitsQuery {
    #[param(nullable = false)]
    from: Option<String>,
    #[param(nullable = false)]
    to: Option<String>,
    #[param(minimum = 1, maximum = 1000, default = 200, nullable = false)]
    limit: Option<i64>,
    #[param(schema_with = field::visit_cursor)]
    cursor: Option<String>,
}

/// A resident's visits as their family reads them (care staff too).
#[utoipa::path(get, path = "/residents/{id}/visits",
    summary = "The resident's visits as the family reads them: what was done, when, by whom (first name only)",
    description = "Who may call it: admin, staff, linked family.", params(("id" = Uuid, Path), ResidentVisitsQuery),
    responses((status = 200, description = "success", body = FamilyVisitList)))]
async fn resident_visits(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<ResidentVisitsQuery>,
) -> Result<Json<FamilyVisitList>> {
    let reached = auth.reach::<Care>(&ctx, id).await?;
    let id = reached.id();
    let limit = super::page_limit(q.limit)?;
    let mut filter = visits::Filter { resident_id: Some(id), ..Default::default() };
    apply_bounds(&mut filter, q.from.as_deref(), q.to.as_deref())?;
    let mut rows = visits::list(&ctx.pool, &auth.scope, &filter, cursor(q.cursor.as_deref())?, limit).await?;
    let next_cursor = super::next_page(&mut rows, limit, cursor_of);
    Ok(Json(FamilyVisitList { visits: rows.iter().map(FamilyVisit::from).collect(), next_cursor }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AssignVisit)]
struct AssignRequest {
    caregiver_id: Uuid,
}

#[utoipa::path(post, path = "/visits/{id}/assign",
    summary = "Assign a caregiver (409 for a visit requested, under way, done or cancelled)",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path)), request_body = AssignRequest,
    responses((status = 200, description = "success", body = VisitBody)))]
async fn assign(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<AssignRequest>,
) -> Result<Json<VisitBody>> {
    let mut tx = ctx.pool.begin().await?;
    let mut visit = visit_for_staff(&mut tx, &auth, id).await?;
    let day = visit.scheduled_start.unwrap_or_else(Utc::now).date_naive();
    check_carer(&ctx, &auth, req.caregiver_id, day).await?;
    visit.status = visit.status.after(Action::Assign).map_err(illegal)?;
    let previous = visit.caregiver_id.replace(req.caregiver_id);
    let details = json!({"caregiver_id": req.caregiver_id, "previous": previous});
    save_and_answer(&ctx, &auth, tx, &visit, "visit.assigned", details).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ScheduleVisit)]
struct ScheduleRequest {
    scheduled_start: DateTime<Utc>,
}

#[utoipa::path(post, path = "/visits/{id}/schedule",
    summary = "Schedule a requested visit (or move a scheduled one)",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path)), request_body = ScheduleRequest,
    responses((status = 200, description = "success", body = VisitBody)))]
async fn schedule(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<ScheduleRequest>,
) -> Result<Json<VisitBody>> {
    let mut tx = ctx.pool.begin().await?;
    let mut visit = visit_for_staff(&mut tx, &auth, id).await?;
    visit.status = visit.status.after(Action::Schedule).map_err(illegal)?;
    let previous = visit.scheduled_start.replace(req.scheduled_start);
    let details = json!({"scheduled_start": req.scheduled_start, "previous": previous});
    save_and_answer(&ctx, &auth, tx, &visit, "visit.scheduled", details).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CancelVisit)]
struct CancelRequest {
    reason: CancelReason,
    note: Option<String>,
}

#[utoipa::path(post, path = "/visits/{id}/cancel",
    summary = "Cancel (or decline a request) with a reason",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path)), request_body = CancelRequest,
    responses((status = 200, description = "success", body = VisitBody)))]
async fn cancel(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<CancelRequest>,
) -> Result<Json<VisitBody>> {
    check_note("note", &req.note)?;
    let mut tx = ctx.pool.begin().await?;
    let mut visit = visit_for_staff(&mut tx, &auth, id).await?;
    visit.status = visit.status.after(Action::Cancel).map_err(illegal)?;
    visit.cancel_reason = Some(req.reason);
    save_and_answer(&ctx, &auth, tx, &visit, "visit.cancelled", json!({"reason": req.reason, "note": req.note})).await
}

/// A check-out at the door; a check-in is the same without the tasks and
/// the note.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DoorCheckOut)]
struct DoorRequest {
    #[serde(deserialize_with = "crate::domain::wire::required_object")]
    #[schema(inline)]
    location: PhoneLocation,
    method: Method,
    /// qr and nfc: a tag registered for the resident's home
    #[schema(nullable = false)]
    tag: Option<String>,
    /// an offline phone's own time: at most 24 h old, never ahead; the record gets offline_entry
    #[schema(nullable = false)]
    ts: Option<DateTime<Utc>>,
    /// Check-out only.
    #[serde(default, deserialize_with = "crate::domain::wire::objects")]
    #[schema(nullable = false)]
    tasks: Option<Vec<TaskDone>>,
    #[schema(nullable = false)]
    note: Option<String>,
}

// The body of a check-in, for the document only: a check-in is read as a
// `DoorRequest`, which refuses the tasks and the note with a 422.
/// A check-in at the door: where, how, and an offline phone's own time.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // only its schema is used: a check-in is read as a `DoorRequest`
struct DoorCheckIn {
    #[schema(inline)]
    location: PhoneLocation,
    method: Method,
    /// qr and nfc: a tag registered for the resident's home
    #[schema(nullable = false)]
    tag: Option<String>,
    /// an offline phone's own time: at most 24 h old, never ahead; the record gets offline_entry
    #[schema(nullable = false)]
    ts: Option<DateTime<Utc>>,
}

#[utoipa::path(post, path = "/visits/{id}/check-in",
    summary = "Check in at the door; a repeat answers the first one; 409 for a cancelled or completed visit; 422 for an unregistered tag or a ts ahead or over 24 h old",
    description = "Who may call it: the assigned caregiver, admin, staff.", params(("id" = Uuid, Path)), request_body = DoorCheckIn,
    responses((status = 200, description = "success", body = VisitBody)))]
async fn check_in(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<DoorRequest>,
) -> Result<Json<VisitBody>> {
    if req.tasks.is_some() || req.note.is_some() {
        return Err(Error::validation("tasks", "tasks and the note are given at check-out"));
    }
    // A body out of bounds is refused even when it repeats a check-in.
    req.location.check("location")?;
    let now = Utc::now();
    let mut tx = ctx.pool.begin().await?;
    let mut visit = visit_at_door(&mut tx, &auth, id).await?;
    if visit.status == VisitStatus::CheckedIn {
        // The phone sent it again: the first one stands.
        drop(tx);
        return answer(&ctx, &auth, id).await;
    }
    visit.status = visit.status.after(Action::CheckIn).map_err(illegal)?;
    let record = door_record(&mut tx, &visit, &req, now).await?;
    if visit.caregiver_id.is_none() {
        visit.caregiver_id = Some(auth.scope.user);
    }
    visit.check_in = Some(sqlx::types::Json(record.clone()));
    visit.judge(far_limit(&ctx, &visit).await?);
    visits::save(&mut tx, &visit).await?;
    let applied = crate::care::checked_in(&mut tx, &visit, auth.scope.user).await?;
    let details = json!({"check_in": record, "exceptions": visit.exceptions});
    crate::audit::record(&mut tx, auth.actor(), "visit.checked_in", "visit", id, details).await?;
    tx.commit().await?;
    applied.iter().for_each(|a| a.count(&ctx.metrics));
    answer(&ctx, &auth, id).await
}

#[utoipa::path(post, path = "/visits/{id}/check-out",
    summary = "Check out with the tasks done and a note; 409 before the check-in",
    description = "Who may call it: the assigned caregiver, admin, staff.", params(("id" = Uuid, Path)), request_body = DoorRequest,
    responses((status = 200, description = "success", body = VisitBody)))]
async fn check_out(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<DoorRequest>,
) -> Result<Json<VisitBody>> {
    check_note("note", &req.note)?;
    // A body out of bounds is refused even when it repeats a check-out.
    req.location.check("location")?;
    let now = Utc::now();
    let mut tx = ctx.pool.begin().await?;
    let mut visit = visit_at_door(&mut tx, &auth, id).await?;
    if visit.status == VisitStatus::Completed {
        drop(tx);
        return answer(&ctx, &auth, id).await;
    }
    visit.status = visit.status.after(Action::CheckOut).map_err(illegal)?;
    let record = door_record(&mut tx, &visit, &req, now).await?;
    if visit.check_in.as_ref().is_some_and(|c| record.at() < c.at()) {
        return Err(Error::validation("ts", "a check-out cannot be before the check-in"));
    }
    let tasks = req.tasks.clone().unwrap_or_default();
    for (i, task) in tasks.iter().enumerate() {
        if !visit.service_tasks.0.iter().any(|t| t.code == task.code) {
            return Err(Error::validation(&format!("tasks[{i}].code"), "not a task of this service"));
        }
        check_note(&format!("tasks[{i}].note"), &task.note)?;
    }
    visit.check_out = Some(sqlx::types::Json(record.clone()));
    visit.tasks = sqlx::types::Json(tasks);
    visit.visit_note = req.note.clone();
    visit.judge(far_limit(&ctx, &visit).await?);
    visits::save(&mut tx, &visit).await?;
    crate::care::tell_alert(&mut tx, &visit, auth.scope.user, Step::VisitCheckedOut).await?;
    let details = json!({"check_out": record, "tasks": visit.tasks, "exceptions": visit.exceptions});
    crate::audit::record(&mut tx, auth.actor(), "visit.checked_out", "visit", id, details).await?;
    tx.commit().await?;
    answer(&ctx, &auth, id).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Amend)]
struct AmendRequest {
    field: AmendField,
    value: DateTime<Utc>,
    reason: String,
}

/// Corrects a record's start or end. The EVV times stay as recorded; the
/// correction is listed, audited, used by statements, and is the exception
/// `manual_entry`. Correcting the end of a visit nobody checked out of
/// completes it.
#[utoipa::path(post, path = "/visits/{id}/amend",
    summary = "Correct the start or end: the EVV times stay as recorded, the correction is listed and audited, statements use it, and it is the exception manual_entry; correcting the end of a visit nobody checked out of completes it",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path)), request_body = AmendRequest,
    responses((status = 200, description = "success", body = VisitBody)))]
async fn amend(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<AmendRequest>,
) -> Result<Json<VisitBody>> {
    super::text("reason", &req.reason, 2000)?;
    if req.value > Utc::now() {
        return Err(Error::validation("value", "a record is corrected with a time that has passed"));
    }
    let mut tx = ctx.pool.begin().await?;
    let mut visit = visit_for_staff(&mut tx, &auth, id).await?;
    if !matches!(visit.status, VisitStatus::CheckedIn | VisitStatus::Completed) {
        return Err(Error::Conflict(format!("the visit is {}: there is no record to correct yet", visit.status)));
    }
    let (field, original) = match req.field {
        AmendField::Start => {
            visit.start_corrected = Some(req.value);
            ("start", visit.check_in.as_ref().map(|c| c.at()))
        }
        AmendField::End => {
            visit.end_corrected = Some(req.value);
            if visit.status == VisitStatus::CheckedIn {
                visit.status = visit.status.after(Action::CheckOut).map_err(illegal)?;
            }
            ("end", visit.check_out.as_ref().map(|c| c.at()))
        }
    };
    if let (Some(start), Some(end)) = (visit.start(), visit.end())
        && end < start
    {
        return Err(Error::validation("value", "the corrected end would be before the start"));
    }
    let amendment = Amendment {
        field: field.to_owned(),
        original,
        value: req.value,
        reason: req.reason.trim().to_owned(),
        by: auth.scope.user,
        at: Utc::now(),
    };
    visit.amendments.0.push(amendment.clone());
    visit.judge(far_limit(&ctx, &visit).await?);
    save_and_answer(&ctx, &auth, tx, &visit, "visit.amended", json!(amendment)).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ResolveException)]
struct ResolveRequest {
    reason: String,
}

#[utoipa::path(post, path = "/visits/{id}/exceptions/{code}/resolve",
    summary = "Resolve one EVV exception with a reason (listed in evv.resolved); disputed (a follow-up call heard the visit did not happen) is resolved by the civil-affairs bureau of the elder's division, and the visit goes back into claims",
    description = "Who may call it: admin, staff; civil_affairs for disputed.", params(("id" = Uuid, Path), ("code" = Exception, Path)), request_body = ResolveRequest,
    responses((status = 200, description = "success", body = VisitBody)))]
async fn resolve(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path((id, code)): Path<(Uuid, String)>,
    Json(req): Json<ResolveRequest>,
) -> Result<Json<VisitBody>> {
    super::text("reason", &req.reason, 2000)?;
    let code = Exception::parse(&code).ok_or_else(|| {
        Error::validation("code", format!("not an EVV exception: one of {}", Exception::names().join(", ")))
    })?;
    if code == Exception::Disputed {
        return resolve_dispute(&ctx, &auth, id, req.reason.trim()).await;
    }
    let mut tx = ctx.pool.begin().await?;
    let mut visit = visit_for_staff(&mut tx, &auth, id).await?;
    if !visit.exceptions().contains(&code) {
        return Err(Error::Conflict(format!("the visit has no {code} exception")));
    }
    if visit.resolved.0.iter().any(|r| r.code == code) {
        return Err(Error::Conflict(format!("{code} is already resolved")));
    }
    let resolved = Resolved { code, reason: req.reason.trim().to_owned(), by: auth.scope.user, at: Utc::now() };
    visit.resolved.0.push(resolved.clone());
    save_and_answer(&ctx, &auth, tx, &visit, "visit.exception_resolved", json!(resolved)).await
}

/// A dispute (a follow-up call heard the visit did not happen) is the
/// civil-affairs bureau's to resolve, never the provider's: the visit goes
/// back into claims once it is. Recorded on the provider's audit chain.
async fn resolve_dispute(ctx: &ApiContext, auth: &AuthUser, id: Uuid, reason: &str) -> Result<Json<VisitBody>> {
    if auth.scope.role != Role::CivilAffairs {
        let mut conn = ctx.pool.acquire().await?;
        visits::fetch(&mut conn, &auth.scope, id, false).await?.ok_or(Error::NotFound)?;
        return Err(Error::Forbidden("a disputed visit is resolved by the civil-affairs bureau"));
    }
    let mut tx = ctx.pool.begin().await?;
    let resident = visits::resident_of(&mut tx, id).await?.ok_or(Error::NotFound)?;
    let reached = auth.reach::<crate::domain::scope::Identity>(ctx, resident).await?;
    let mut visit = visits::fetch_reached(&mut tx, &reached, id).await?.ok_or(Error::NotFound)?;
    if !visit.exceptions().contains(&Exception::Disputed) {
        return Err(Error::Conflict("the visit has no disputed exception".into()));
    }
    if visit.resolved.0.iter().any(|r| r.code == Exception::Disputed) {
        return Err(Error::Conflict("disputed is already resolved".into()));
    }
    let resolved =
        Resolved { code: Exception::Disputed, reason: reason.to_owned(), by: auth.scope.user, at: Utc::now() };
    visit.resolved.0.push(resolved.clone());
    visits::save(&mut tx, &visit).await?;
    let actor = crate::audit::Actor { user_id: auth.scope.user, institution_id: Some(visit.institution_id) };
    crate::audit::record(&mut tx, actor, "visit.dispute_resolved", "visit", visit.id, json!(resolved)).await?;
    tx.commit().await?;
    Ok(Json(VisitBody::from(&visit)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewRating)]
struct RatingRequest {
    #[schema(minimum = 1, maximum = 5)]
    stars: i32,
    comment: Option<String>,
}

/// A family member rates a completed visit of their resident, once.
#[utoipa::path(post, path = "/visits/{id}/rating",
    summary = "Rate a completed visit, once",
    description = "Who may call it: linked family.", params(("id" = Uuid, Path)), request_body = RatingRequest,
    responses((status = 201, description = "success", body = FamilyVisit)))]
async fn rate(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<RatingRequest>,
) -> Result<Response> {
    let mut tx = ctx.pool.begin().await?;
    let mut visit = visits::fetch(&mut tx, &auth.scope, id, true).await?.ok_or(Error::NotFound)?;
    if auth.scope.role != Role::Family {
        return Err(Error::Forbidden("a visit is rated by the resident's family"));
    }
    if !(1..=5).contains(&req.stars) {
        return Err(Error::validation("stars", "stars must be from 1 to 5"));
    }
    check_note("comment", &req.comment)?;
    if visit.status != VisitStatus::Completed {
        return Err(Error::Conflict(format!("the visit is {}: only a completed visit is rated", visit.status)));
    }
    if visit.rating_stars.is_some() {
        return Err(Error::Conflict("this visit has been rated already".into()));
    }
    visit.rating_stars = Some(req.stars);
    visit.rating_comment = req.comment.clone();
    visit.rated_at = Some(Utc::now());
    visits::save(&mut tx, &visit).await?;
    visits::set_rated_by(&mut tx, id, auth.scope.user).await?;
    let details = json!({"stars": req.stars, "comment": req.comment});
    crate::audit::record(&mut tx, auth.actor(), "visit.rated", "visit", id, details).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(FamilyVisit::from(&visit))).into_response())
}
