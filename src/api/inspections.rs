//! Inspections: the civil-affairs bureau schedules an inspection of a
//! provider in its division against a checklist (its own items, or the
//! default of `domain::supervision`), records each item and the findings,
//! each with a day to put it right by. The provider answers each finding;
//! the bureau verifies the answer or reopens the finding. Findings count in
//! the provider's score. Every step is on the provider's audit chain.

use std::collections::HashSet;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Path, Query, Result};
use crate::audit::Actor;
use crate::domain::Role;
use crate::domain::supervision::{DEFAULT_CHECKLIST, SEVERITIES};
use crate::store::inspections::{self as store, ChecklistItem, Finding, Inspection, ItemResult, NewFinding};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(schedule, list))
        .routes(routes!(fetch))
        .routes(routes!(record))
        .routes(routes!(answer))
        .routes(routes!(verify))
}

fn bureau(auth: &AuthUser) -> Result<()> {
    if auth.scope.role != Role::CivilAffairs {
        return Err(Error::Forbidden("inspections are the civil-affairs bureau's"));
    }
    Ok(())
}

/// On the inspected provider's chain, where it reads them.
fn actor(auth: &AuthUser, institution: Uuid) -> Actor {
    Actor { user_id: auth.scope.user, institution_id: Some(institution) }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewInspection)]
struct ScheduleBody {
    institution_id: Uuid,
    scheduled_for: NaiveDate,
    /// The items to inspect; the default checklist when left out (or empty).
    #[serde(default, deserialize_with = "crate::domain::wire::required_objects")]
    #[schema(max_items = 50)]
    checklist: Vec<ChecklistItem>,
}

#[utoipa::path(post, path = "/inspections",
    summary = "Schedule an inspection of a provider in the bureau's division, against a checklist (the default one when none is given)",
    description = "Who may call it: civil_affairs.", request_body = ScheduleBody,
    responses((status = 201, description = "success", body = Inspection)))]
async fn schedule(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<ScheduleBody>,
) -> Result<(StatusCode, Json<Inspection>)> {
    bureau(&auth)?;
    let checklist = match req.checklist {
        items if !items.is_empty() => checked(items)?,
        _ => DEFAULT_CHECKLIST
            .iter()
            .map(|(code, text)| ChecklistItem { code: (*code).to_owned(), text: (*text).to_owned() })
            .collect(),
    };
    let mut tx = ctx.pool.begin().await?;
    if !store::in_division(&mut tx, &auth.scope, req.institution_id).await? {
        return Err(Error::validation("institution_id", "no provider of the bureau's division"));
    }
    let id = store::insert(&mut tx, req.institution_id, req.scheduled_for, &checklist, auth.scope.user).await?;
    let details = json!({"inspection_id": id, "scheduled_for": req.scheduled_for, "items": checklist.len()});
    let actor = actor(&auth, req.institution_id);
    crate::audit::record(&mut tx, actor, "inspection.scheduled", "inspection", id, details).await?;
    tx.commit().await?;
    let mut conn = ctx.pool.acquire().await?;
    Ok((StatusCode::CREATED, Json(store::fetch(&mut conn, &auth.scope, id, false).await?.ok_or(Error::NotFound)?)))
}

fn checked(items: Vec<ChecklistItem>) -> Result<Vec<ChecklistItem>> {
    if items.is_empty() || items.len() > 50 {
        return Err(Error::validation("checklist", "1 to 50 items"));
    }
    let mut codes = HashSet::new();
    for (n, item) in items.iter().enumerate() {
        let code_ok = (1..=40).contains(&item.code.len())
            && item.code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !code_ok || !codes.insert(item.code.clone()) {
            return Err(Error::validation(
                &format!("checklist[{n}].code"),
                "a code of 1 to 40 of a-z, 0-9 and _, once",
            ));
        }
        super::text(&format!("checklist[{n}].text"), &item.text, 200)?;
    }
    Ok(items)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    #[param(nullable = false)]
    institution_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = InspectionList)]
struct Inspections {
    inspections: Vec<Inspection>,
}

#[utoipa::path(get, path = "/inspections",
    summary = "Inspections, latest first (without their findings: GET one for them)",
    description = "Who may call it: civil_affairs (its division's providers), admin, staff (their own institution's).",
    params(ListQuery), responses((status = 200, description = "success", body = Inspections)))]
async fn list(State(ctx): State<ApiContext>, auth: AuthUser, Query(q): Query<ListQuery>) -> Result<Json<Inspections>> {
    if !matches!(auth.scope.role, Role::CivilAffairs | Role::Admin | Role::Staff) {
        return Err(Error::Forbidden("inspections are the bureau's and the inspected provider's"));
    }
    Ok(Json(Inspections { inspections: store::list(&ctx.pool, &auth.scope, q.institution_id).await? }))
}

#[utoipa::path(get, path = "/inspections/{id}", summary = "One inspection, with its findings",
    description = "Who may call it: civil_affairs (its division's providers), admin, staff (their own institution's).",
    params(("id" = Uuid, Path)), responses((status = 200, description = "success", body = Inspection)))]
async fn fetch(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<Inspection>> {
    let mut conn = ctx.pool.acquire().await?;
    Ok(Json(store::fetch(&mut conn, &auth.scope, id, false).await?.ok_or(Error::NotFound)?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewFinding)]
struct FindingBody {
    /// The checklist item's code.
    item: String,
    #[schema(pattern = "^(minor|major|critical)$")]
    severity: String,
    #[schema(min_length = 1, max_length = 2000)]
    text: String,
    /// Today or later.
    rectify_by: NaiveDate,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = InspectionResults)]
struct RecordBody {
    /// Every checklist item, once.
    #[serde(deserialize_with = "crate::domain::wire::required_objects")]
    items: Vec<ItemResult>,
    #[serde(deserialize_with = "crate::domain::wire::required_objects")]
    findings: Vec<FindingBody>,
}

#[utoipa::path(post, path = "/inspections/{id}/results",
    summary = "Record what the inspection found: every checklist item passed or not, and the findings, each with a day to put it right by; once",
    description = "Who may call it: civil_affairs.", params(("id" = Uuid, Path)), request_body = RecordBody,
    responses((status = 200, description = "success", body = Inspection)))]
async fn record(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<RecordBody>,
) -> Result<Json<Inspection>> {
    bureau(&auth)?;
    let mut tx = ctx.pool.begin().await?;
    let inspection = store::fetch(&mut tx, &auth.scope, id, true).await?.ok_or(Error::NotFound)?;
    if inspection.status == "recorded" {
        return Err(Error::Conflict("the inspection is recorded already".into()));
    }
    let codes: HashSet<&str> = inspection.checklist.0.iter().map(|c| c.code.as_str()).collect();
    let mut seen = HashSet::new();
    for (n, item) in req.items.iter().enumerate() {
        if !codes.contains(item.code.as_str()) || !seen.insert(item.code.as_str()) {
            return Err(Error::validation(&format!("items[{n}].code"), "an item of the checklist, once"));
        }
        if let Some(note) = &item.note {
            super::text(&format!("items[{n}].note"), note, 2000)?;
        }
    }
    if seen.len() != codes.len() {
        return Err(Error::validation("items", "every item of the checklist"));
    }
    let today = Utc::now().date_naive();
    let mut findings = Vec::with_capacity(req.findings.len());
    for (n, f) in req.findings.iter().enumerate() {
        if !codes.contains(f.item.as_str()) {
            return Err(Error::validation(&format!("findings[{n}].item"), "an item of the checklist"));
        }
        if !SEVERITIES.contains(&f.severity.as_str()) {
            return Err(Error::validation(&format!("findings[{n}].severity"), SEVERITIES.join(", ")));
        }
        let text = super::text(&format!("findings[{n}].text"), &f.text, 2000)?;
        if f.rectify_by < today {
            return Err(Error::validation(&format!("findings[{n}].rectify_by"), "today or later"));
        }
        findings.push(NewFinding { item: &f.item, severity: &f.severity, text, rectify_by: f.rectify_by });
    }
    store::record(&mut tx, &inspection, &req.items, &findings, auth.scope.user).await?;
    let failed = req.items.iter().filter(|i| !i.passed).count();
    let details = json!({"inspection_id": id, "items": req.items.len(), "failed": failed, "findings": findings.len()});
    let actor = actor(&auth, inspection.institution_id);
    crate::audit::record(&mut tx, actor, "inspection.recorded", "inspection", id, details).await?;
    tx.commit().await?;
    let mut conn = ctx.pool.acquire().await?;
    Ok(Json(store::fetch(&mut conn, &auth.scope, id, false).await?.ok_or(Error::NotFound)?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = FindingAnswer)]
struct AnswerBody {
    #[schema(min_length = 1, max_length = 2000)]
    text: String,
}

#[utoipa::path(post, path = "/inspection-findings/{id}/answer",
    summary = "The provider's answer to a finding: what it put right (open or reopened findings; the bureau then verifies it)",
    description = "Who may call it: admin, staff (of the inspected institution).", params(("id" = Uuid, Path)),
    request_body = AnswerBody, responses((status = 200, description = "success", body = Finding)))]
async fn answer(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<AnswerBody>,
) -> Result<Json<Finding>> {
    let text = super::text("text", &req.text, 2000)?;
    let mut tx = ctx.pool.begin().await?;
    let finding = store::finding(&mut tx, &auth.scope, id).await?.ok_or(Error::NotFound)?;
    if auth.require_staff().ok() != Some(finding.institution_id) {
        return Err(Error::Forbidden("the inspected provider answers its findings"));
    }
    if !matches!(finding.status.as_str(), "open" | "overdue") {
        return Err(Error::Conflict(format!("the finding is {}", finding.status)));
    }
    store::answer(&mut tx, id, text, auth.scope.user).await?;
    let details = json!({"finding_id": id, "inspection_id": finding.inspection_id, "was": finding.status});
    crate::audit::record(&mut tx, auth.actor(), "inspection.finding_answered", "inspection_finding", id, details)
        .await?;
    tx.commit().await?;
    let mut conn = ctx.pool.acquire().await?;
    Ok(Json(store::finding(&mut conn, &auth.scope, id).await?.ok_or(Error::NotFound)?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = FindingVerification)]
struct VerifyBody {
    /// true: put right (verified); false: reopened, to be answered again.
    accepted: bool,
}

#[utoipa::path(post, path = "/inspection-findings/{id}/verify",
    summary = "The bureau verifies a provider's answer to a finding, or reopens the finding",
    description = "Who may call it: civil_affairs.", params(("id" = Uuid, Path)), request_body = VerifyBody,
    responses((status = 200, description = "success", body = Finding)))]
async fn verify(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<VerifyBody>,
) -> Result<Json<Finding>> {
    bureau(&auth)?;
    let mut tx = ctx.pool.begin().await?;
    let finding = store::finding(&mut tx, &auth.scope, id).await?.ok_or(Error::NotFound)?;
    if finding.status != "answered" {
        return Err(Error::Conflict(format!("the finding is {}: only an answered one is verified", finding.status)));
    }
    store::verify(&mut tx, id, req.accepted, auth.scope.user).await?;
    let action = if req.accepted { "inspection.finding_verified" } else { "inspection.finding_reopened" };
    let details = json!({"finding_id": id, "inspection_id": finding.inspection_id});
    crate::audit::record(&mut tx, actor(&auth, finding.institution_id), action, "inspection_finding", id, details)
        .await?;
    tx.commit().await?;
    let mut conn = ctx.pool.acquire().await?;
    Ok(Json(store::finding(&mut conn, &auth.scope, id).await?.ok_or(Error::NotFound)?))
}
