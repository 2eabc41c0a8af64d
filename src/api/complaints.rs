//! Complaints against an institution: filed by a family, the hotline desk
//! or staff, answered by the institution within `respond_by`, closed with
//! an outcome by whoever filed it, the elder's family or the civil-affairs
//! bureau. Unanswered in time, a complaint is overdue and on the bureau's
//! queue. Every step is on the audit trail.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Path, Query, Result};
use crate::domain::Role;
use crate::domain::scope::Identity;
use crate::store::complaints::{self as store, Complaint, NewComplaint};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(file, list))
        .routes(routes!(fetch))
        .routes(routes!(respond))
        .routes(routes!(close))
}

const CATEGORIES: [&str; 6] = ["service_quality", "no_show", "staff_conduct", "billing", "meals", "other"];
const OUTCOMES: [&str; 3] = ["upheld", "not_upheld", "resolved"];
const STATUSES: [&str; 4] = ["open", "responded", "overdue", "closed"];

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewComplaint)]
struct ComplaintBody {
    /// The elder it is about (a family's complaint names her).
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(nullable = false)]
    resident_id: Option<Uuid>,
    /// The institution complained about.
    institution_id: Uuid,
    #[schema(pattern = "^(service_quality|no_show|staff_conduct|billing|meals|other)$")]
    category: String,
    #[schema(min_length = 1, max_length = 4000)]
    text: String,
}

fn text(field: &'static str, text: &str) -> Result<String> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 4000 {
        return Err(Error::validation(field, "between 1 and 4000 characters"));
    }
    Ok(text.to_owned())
}

#[utoipa::path(post, path = "/complaints",
    summary = "File a complaint against an institution, with respond_by (ELDERCARE__COMPLAINTS__RESPOND_SECONDS); past it unanswered it is overdue, on the bureau's queue",
    description = "Who may call it: family (about their linked elder), desk, admin, staff.", request_body = ComplaintBody,
    responses((status = 201, description = "success", body = Complaint)))]
async fn file(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<ComplaintBody>,
) -> Result<(StatusCode, Json<Complaint>)> {
    if !matches!(auth.scope.role, Role::Family | Role::Desk | Role::Admin | Role::Staff) {
        return Err(Error::Forbidden("families, the hotline desk and institutions' staff file complaints"));
    }
    let about = match req.resident_id {
        Some(id) => Some(auth.reach::<Identity>(&ctx, id).await?),
        None if auth.scope.role == Role::Family => {
            return Err(Error::validation("resident_id", "a family's complaint names the elder"));
        }
        None => None,
    };
    if !CATEGORIES.contains(&req.category.as_str()) {
        return Err(Error::validation("category", CATEGORIES.join(", ")));
    }
    let body = text("text", &req.text)?;
    let respond_seconds = i64::try_from(ctx.settings.complaints.respond_seconds).unwrap_or(i64::MAX);
    let new = NewComplaint { category: &req.category, text: &body, respond_seconds };
    let mut tx = ctx.pool.begin().await?;
    let id = store::insert(&mut tx, &auth.scope, about.as_ref(), req.institution_id, &new)
        .await?
        .ok_or_else(|| Error::validation("institution_id", "no such care provider"))?;
    let details = json!({"complaint_id": id, "institution_id": req.institution_id, "category": req.category,
                         "resident_id": req.resident_id});
    crate::audit::record(&mut tx, auth.actor(), "complaint.filed", "complaint", id, details).await?;
    tx.commit().await?;
    let mut conn = ctx.pool.acquire().await?;
    let complaint = store::fetch(&mut conn, &auth.scope, id, false).await?.ok_or(Error::NotFound)?;
    Ok((StatusCode::CREATED, Json(complaint)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// open, responded, overdue or closed.
    #[param(nullable = false, pattern = "^(open|responded|overdue|closed)$")]
    status: Option<String>,
}

#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = ComplaintList)]
struct Complaints {
    complaints: Vec<Complaint>,
}

#[utoipa::path(get, path = "/complaints",
    summary = "Complaints: one's own filed, a family's about its elder, an institution's against it, the bureau's of its division (status=overdue: its queue), the desk's",
    description = "Who may call it: any (each sees its own).", params(ListQuery),
    responses((status = 200, description = "success", body = Complaints)))]
async fn list(State(ctx): State<ApiContext>, auth: AuthUser, Query(q): Query<ListQuery>) -> Result<Json<Complaints>> {
    if q.status.as_deref().is_some_and(|s| !STATUSES.contains(&s)) {
        return Err(Error::validation("status", STATUSES.join(", ")));
    }
    let complaints = store::list(&ctx.pool, &auth.scope, q.status.as_deref(), 500).await?;
    Ok(Json(Complaints { complaints }))
}

#[utoipa::path(get, path = "/complaints/{id}", summary = "One complaint",
    description = "Who may call it: whoever filed it, the elder's family, the institution, the bureau of its division, the desk (its own).",
    params(("id" = Uuid, Path)), responses((status = 200, description = "success", body = Complaint)))]
async fn fetch(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<Complaint>> {
    let mut conn = ctx.pool.acquire().await?;
    Ok(Json(store::fetch(&mut conn, &auth.scope, id, false).await?.ok_or(Error::NotFound)?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ComplaintResponse)]
struct ResponseBody {
    #[schema(min_length = 1, max_length = 4000)]
    text: String,
}

#[utoipa::path(post, path = "/complaints/{id}/response",
    summary = "The institution's response (open or overdue: responded; a second response replaces the first until closed)",
    description = "Who may call it: admin, staff (of the institution complained about).", params(("id" = Uuid, Path)),
    request_body = ResponseBody, responses((status = 200, description = "success", body = Complaint)))]
async fn respond(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<ResponseBody>,
) -> Result<Json<Complaint>> {
    let body = text("text", &req.text)?;
    let mut tx = ctx.pool.begin().await?;
    let complaint = store::fetch(&mut tx, &auth.scope, id, true).await?.ok_or(Error::NotFound)?;
    if auth.require_staff().ok() != Some(complaint.institution_id) {
        return Err(Error::Forbidden("the institution complained about responds"));
    }
    if complaint.status == "closed" {
        return Err(Error::Conflict("the complaint is closed".into()));
    }
    store::respond(&mut tx, id, &auth.scope, &body).await?;
    let details = json!({"complaint_id": id, "was": complaint.status});
    crate::audit::record(&mut tx, auth.actor(), "complaint.responded", "complaint", id, details).await?;
    tx.commit().await?;
    let mut conn = ctx.pool.acquire().await?;
    Ok(Json(store::fetch(&mut conn, &auth.scope, id, false).await?.ok_or(Error::NotFound)?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ComplaintClose)]
struct CloseBody {
    /// upheld, not_upheld or resolved.
    #[schema(pattern = "^(upheld|not_upheld|resolved)$")]
    outcome: String,
}

#[utoipa::path(post, path = "/complaints/{id}/close",
    summary = "Close a complaint with its outcome (upheld complaints count against the institution's score)",
    description = "Who may call it: whoever filed it, the elder's family, civil_affairs of its division.",
    params(("id" = Uuid, Path)), request_body = CloseBody,
    responses((status = 200, description = "success", body = Complaint)))]
async fn close(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<CloseBody>,
) -> Result<Json<Complaint>> {
    if !OUTCOMES.contains(&req.outcome.as_str()) {
        return Err(Error::validation("outcome", OUTCOMES.join(", ")));
    }
    let mut tx = ctx.pool.begin().await?;
    let complaint = store::fetch(&mut tx, &auth.scope, id, true).await?.ok_or(Error::NotFound)?;
    if !store::may_close(&mut tx, &auth.scope, id).await? {
        return Err(Error::Forbidden("whoever filed it, the elder's family or the bureau closes a complaint"));
    }
    if complaint.status == "closed" {
        return Err(Error::Conflict("the complaint is closed already".into()));
    }
    store::close(&mut tx, id, &auth.scope, &req.outcome).await?;
    let details = json!({"complaint_id": id, "outcome": req.outcome, "was": complaint.status});
    crate::audit::record(&mut tx, auth.actor(), "complaint.closed", "complaint", id, details).await?;
    tx.commit().await?;
    let mut conn = ctx.pool.acquire().await?;
    Ok(Json(store::fetch(&mut conn, &auth.scope, id, false).await?.ok_or(Error::NotFound)?))
}
