//! Applications for public support without a trip to an office: the family,
//! the elder's institution (or the hotline desk) applies; the bureau
//! assigns an assessment body; the bureau, or the fund's insurer for
//! long-term care insurance, decides with a reason; an approval gives the
//! entitlement the payer's scheme gives the elder's grade. Every step is on
//! the timeline the family follows, and they are told of each.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::error::ResultExt;
use super::{ApiContext, Error, Json, Path, Query, Result};
use crate::domain::Role;
use crate::domain::billing::{ApplicationKind, ApplicationStatus, GradeTerms, Payer, StepKind};
use crate::domain::scope::Identity;
use crate::store::applications::{self as store, Application, Entitlement, Scheme};
use crate::store::assessments;

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(apply, list))
        .routes(routes!(fetch))
        .routes(routes!(assign))
        .routes(routes!(decide))
        .routes(routes!(put_scheme))
        .routes(routes!(list_schemes))
        .routes(routes!(entitlements))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ApplicationRequest {
    resident_id: Uuid,
    kind: ApplicationKind,
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(max_length = 2000, nullable = false)]
    note: Option<String>,
}

fn note_ok(note: Option<&str>) -> Result<()> {
    if note.is_some_and(|n| n.chars().count() > 2000) {
        return Err(Error::validation("note", "at most 2000 characters"));
    }
    Ok(())
}

#[utoipa::path(post, path = "/applications",
    summary = "Apply for ltc_insurance, home_care_subsidy, meal_subsidy or respite for an elder: status submitted, on a timeline the family follows",
    description = "Who may call it: family (linked to the elder), admin and staff of an institution enrolled for the elder.",
    request_body = ApplicationRequest, responses((status = 201, description = "success", body = Application)))]
async fn apply(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<ApplicationRequest>,
) -> Result<(StatusCode, Json<Application>)> {
    if !matches!(auth.scope.role, Role::Family | Role::Admin | Role::Staff) {
        return Err(Error::Forbidden("the family or the elder's institution applies"));
    }
    let resident = auth.reach::<Identity>(&ctx, req.resident_id).await?;
    note_ok(req.note.as_deref())?;
    let mut tx = ctx.pool.begin().await?;
    // One open application per elder and kind: the schema's unique index says so.
    let id = store::create(&mut tx, &resident, req.kind, req.note.as_deref(), &auth.scope)
        .await
        .on_constraint("applications_open_once", || {
            Error::Conflict(format!("an application for {} is already open for this elder", req.kind))
        })?;
    let details = serde_json::json!({"application_id": id, "kind": req.kind});
    crate::audit::record(&mut tx, auth.actor(), "application.submitted", "resident", resident.id(), details).await?;
    let application = store::lock(&mut tx, id).await?.ok_or(Error::NotFound)?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(application)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// One elder's (anyone reaching her); without it, the caller's queue
    /// (civil_affairs, insurer, assessor).
    #[param(nullable = false)]
    resident_id: Option<Uuid>,
    #[param(nullable = false)]
    status: Option<ApplicationStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
struct ApplicationList {
    applications: Vec<Application>,
}

#[utoipa::path(get, path = "/applications",
    summary = "An elder's applications with their timelines (resident_id), or the caller's queue: civil_affairs its division's, insurer its fund's LTC applications, assessor those assigned to its body",
    description = "Who may call it: with resident_id, whoever reaches the elder's identity; without, civil_affairs, insurer, assessor.",
    params(ListQuery), responses((status = 200, description = "success", body = ApplicationList)))]
async fn list(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<ApplicationList>> {
    let mut applications = match q.resident_id {
        Some(resident) => {
            let resident = auth.reach::<Identity>(&ctx, resident).await?;
            store::of_resident(&ctx.pool, &resident).await?
        }
        None if matches!(auth.scope.role, Role::CivilAffairs | Role::Insurer | Role::Assessor) => {
            store::queue(&ctx.pool, &auth.scope, q.status, 500).await?
        }
        None => return Err(Error::validation("resident_id", "name the elder")),
    };
    applications.retain(|a| q.status.is_none_or(|s| a.status == s) && shown_to(&auth, a));
    Ok(Json(ApplicationList { applications }))
}

/// An insurer sees long-term care insurance applications only; an assessor
/// those assigned to its body.
fn shown_to(auth: &AuthUser, application: &Application) -> bool {
    match auth.scope.role {
        Role::Insurer => application.kind == ApplicationKind::LtcInsurance,
        Role::Assessor => application.assessor_institution_id == auth.scope.institution,
        _ => true,
    }
}

/// The application, locked, if the caller sees it.
async fn visible(ctx: &ApiContext, auth: &AuthUser, tx: &mut sqlx::PgConnection, id: Uuid) -> Result<Application> {
    let application = store::lock(tx, id).await?.ok_or(Error::NotFound)?;
    auth.reach::<Identity>(ctx, application.resident_id).await?;
    if !shown_to(auth, &application) {
        return Err(Error::NotFound);
    }
    Ok(application)
}

#[utoipa::path(get, path = "/applications/{id}", summary = "One application with its timeline",
    description = "Who may call it: whoever reaches the elder's identity (an insurer LTC applications only).",
    params(("id" = Uuid, Path)), responses((status = 200, description = "success", body = Application)))]
async fn fetch(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<Application>> {
    let mut tx = ctx.pool.begin().await?;
    let application = visible(&ctx, &auth, &mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(application))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AssignRequest {
    assessor_institution_id: Uuid,
}

#[utoipa::path(post, path = "/applications/{id}/assign",
    summary = "Assign an assessment body to a submitted application (status assessing); its assessors then reach the elder's identity and record the assessment",
    description = "Who may call it: civil_affairs (in its division).",
    params(("id" = Uuid, Path)), request_body = AssignRequest,
    responses((status = 200, description = "success", body = Application)))]
async fn assign(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<AssignRequest>,
) -> Result<Json<Application>> {
    if auth.scope.role != Role::CivilAffairs {
        return Err(Error::NotFound);
    }
    let mut tx = ctx.pool.begin().await?;
    let application = visible(&ctx, &auth, &mut tx, id).await?;
    if !matches!(application.status, ApplicationStatus::Submitted | ApplicationStatus::Assessing) {
        return Err(Error::Conflict(format!("the application is {} already", application.status)));
    }
    if !store::is_assessment_body(&mut tx, req.assessor_institution_id).await? {
        return Err(Error::validation("assessor_institution_id", "no such assessment body"));
    }
    store::assign(&mut tx, id, req.assessor_institution_id).await?;
    let details = serde_json::json!({"assessor_institution_id": req.assessor_institution_id});
    store::step(&mut tx, id, StepKind::Assigned, Some(&auth.scope), None, details.clone()).await?;
    crate::audit::record(&mut tx, auth.actor(), "application.assigned", "resident", application.resident_id, details)
        .await?;
    let application = store::lock(&mut tx, id).await?.ok_or(Error::NotFound)?;
    tx.commit().await?;
    Ok(Json(application))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum Decision {
    Approved,
    Rejected,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DecisionRequest {
    decision: Decision,
    #[schema(min_length = 1, max_length = 2000)]
    reason: String,
    /// Where several schemes apply to the application's kind.
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(nullable = false)]
    scheme: Option<String>,
}

#[utoipa::path(post, path = "/applications/{id}/decide",
    summary = "Approve or reject an application with a reason. Approval needs a valid assessment and gives the entitlement the scheme gives the elder's grade (422 no_valid_assessment, grade_not_entitled, no_scheme)",
    description = "Who may call it: insurer (ltc_insurance, its fund's), civil_affairs (the other kinds, in its division).",
    params(("id" = Uuid, Path)), request_body = DecisionRequest,
    responses((status = 200, description = "success", body = Application)))]
async fn decide(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<DecisionRequest>,
) -> Result<Json<Application>> {
    if !matches!(auth.scope.role, Role::CivilAffairs | Role::Insurer) {
        return Err(Error::NotFound);
    }
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > 2000 {
        return Err(Error::validation("reason", "a reason, at most 2000 characters"));
    }
    let mut tx = ctx.pool.begin().await?;
    let application = visible(&ctx, &auth, &mut tx, id).await?;
    let deciding = if application.kind.decided_by_insurer() { Role::Insurer } else { Role::CivilAffairs };
    if auth.scope.role != deciding {
        return Err(Error::Forbidden("long-term care insurance is decided by the fund, other support by the bureau"));
    }
    if matches!(application.status, ApplicationStatus::Approved | ApplicationStatus::Rejected) {
        return Err(Error::Conflict(format!("the application is {} already", application.status)));
    }
    let resident = auth.reach::<Identity>(&ctx, application.resident_id).await?;
    // Her own date: an entitlement starts on the day of the decision where she lives.
    let today = crate::store::meals::resident_today(&mut tx, &resident).await?;
    let (status, step, scheme, entitlement) = match req.decision {
        Decision::Rejected => (ApplicationStatus::Rejected, StepKind::Rejected, None, None),
        Decision::Approved => {
            let assessment = assessments::latest_valid(&mut tx, &resident, today).await?.ok_or_else(|| {
                Error::refused("no_valid_assessment", "approval needs a valid assessment of the elder")
            })?;
            let schemes = store::schemes_for(&mut tx, application.kind).await?;
            let scheme = match (&req.scheme, schemes.len()) {
                (Some(code), _) => schemes
                    .into_iter()
                    .find(|s| &s.code == code)
                    .ok_or_else(|| Error::validation("scheme", "no such scheme for this kind of application"))?,
                (None, 1) => schemes.into_iter().next().ok_or(Error::NotFound)?,
                (None, 0) => return Err(Error::refused("no_scheme", "no scheme applies to this kind of application")),
                (None, _) => return Err(Error::validation("scheme", "several schemes apply: name one")),
            };
            if (scheme.payer == Payer::LtcInsurance) != (deciding == Role::Insurer) {
                return Err(Error::validation("scheme", "the scheme is another payer's"));
            }
            let terms = scheme.grades.0.get(&assessment.grade.to_string()).ok_or_else(|| {
                Error::refused(
                    "grade_not_entitled",
                    format!("the scheme entitles no one of grade {}", assessment.grade),
                )
            })?;
            let until = super::assessments::add_months(today, terms.valid_months).min(assessment.valid_until);
            let new = store::NewEntitlement {
                resident: resident.id(),
                application: Some(id),
                assessment: assessment.id,
                scheme: &scheme,
                grade: assessment.grade,
                terms,
                from: today,
                until,
                by: Some(auth.scope.user),
            };
            let entitlement = store::insert_entitlement(&mut tx, &new).await?;
            (ApplicationStatus::Approved, StepKind::Approved, Some(scheme.code.clone()), Some(entitlement))
        }
    };
    store::decide(&mut tx, id, status, reason, scheme.as_deref(), entitlement).await?;
    let details = serde_json::json!({"decision": status, "scheme": scheme, "entitlement_id": entitlement});
    store::step(&mut tx, id, step, Some(&auth.scope), Some(reason), details.clone()).await?;
    crate::audit::record(&mut tx, auth.actor(), "application.decided", "resident", resident.id(), details).await?;
    let application = store::lock(&mut tx, id).await?.ok_or(Error::NotFound)?;
    tx.commit().await?;
    Ok(Json(application))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SchemeRequest {
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    payer: Payer,
    application_kind: ApplicationKind,
    /// Grade ("1".."4") to its terms; a grade absent is not entitled.
    #[schema(value_type = BTreeMap<String, GradeTerms>)]
    grades: BTreeMap<String, serde_json::Value>,
}

#[utoipa::path(put, path = "/schemes/{code}",
    summary = "Create or replace a payer's scheme: per grade, monthly minutes or amount, copay_ratio, services covered, per-meal subsidy, respite days a year and validity",
    description = "Who may call it: insurer (payer ltc_insurance), civil_affairs (payer civil_affairs).",
    params(("code" = String, Path)), request_body = SchemeRequest,
    responses((status = 200, description = "success", body = Scheme)))]
async fn put_scheme(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(code): Path<String>,
    Json(req): Json<SchemeRequest>,
) -> Result<Json<Scheme>> {
    let payer = match auth.scope.role {
        Role::Insurer => Payer::LtcInsurance,
        Role::CivilAffairs => Payer::CivilAffairs,
        _ => return Err(Error::Forbidden("a payer's schemes are the fund's or the bureau's")),
    };
    if req.payer != payer {
        return Err(Error::validation("payer", "a scheme of the caller's own payer"));
    }
    let valid_code = !code.is_empty()
        && code.len() <= 40
        && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !valid_code {
        return Err(Error::validation("code", "lowercase letters, digits, - and _, at most 40"));
    }
    super::text("name", &req.name, 200)?;
    if (req.application_kind == ApplicationKind::LtcInsurance) != (payer == Payer::LtcInsurance) {
        return Err(Error::validation(
            "application_kind",
            "long-term care insurance is the fund's, other support the bureau's",
        ));
    }
    let mut grades = BTreeMap::new();
    for (grade, terms) in req.grades {
        if !matches!(grade.as_str(), "1" | "2" | "3" | "4") {
            return Err(Error::validation(&format!("grades.{grade}"), "grades are \"1\" to \"4\""));
        }
        // Each grade's terms an object, never an array in its place.
        if !terms.is_object() {
            return Err(Error::validation(&format!("grades.{grade}"), "the grade's terms are an object"));
        }
        let terms: GradeTerms = serde_path_to_error::deserialize(terms)
            .map_err(|e| Error::validation(&format!("grades.{grade}.{}", e.path()), e.inner().to_string()))?;
        if let Some((field, message)) = terms.invalid() {
            return Err(Error::validation(&format!("grades.{grade}.{field}"), message));
        }
        grades.insert(grade, terms);
    }
    let mut tx = ctx.pool.begin().await?;
    if let Some(existing) = store::scheme(&mut tx, &code).await?
        && existing.payer != payer
    {
        return Err(Error::NotFound);
    }
    let scheme = Scheme {
        code,
        name: req.name.trim().to_owned(),
        payer,
        application_kind: req.application_kind,
        grades: sqlx::types::Json(grades),
        updated_at: Utc::now(),
    };
    let saved = store::put_scheme(&mut tx, &scheme, auth.scope.user).await?;
    let details = serde_json::json!({"code": saved.code, "payer": payer, "application_kind": saved.application_kind});
    crate::audit::record(&mut tx, auth.actor(), "scheme.put", "scheme", &saved.code, details).await?;
    tx.commit().await?;
    Ok(Json(saved))
}

#[derive(Debug, Serialize, ToSchema)]
struct SchemeList {
    schemes: Vec<Scheme>,
}

#[utoipa::path(get, path = "/schemes", summary = "The payers' schemes",
    description = "Who may call it: any logged-in user (the terms are public).",
    responses((status = 200, description = "success", body = SchemeList)))]
async fn list_schemes(State(ctx): State<ApiContext>, _auth: AuthUser) -> Result<Json<SchemeList>> {
    Ok(Json(SchemeList { schemes: store::schemes(&ctx.pool).await? }))
}

#[derive(Debug, Serialize, ToSchema)]
struct EntitlementList {
    /// The month `used_this_month` counts (YYYY-MM).
    month: String,
    entitlements: Vec<Entitlement>,
}

#[utoipa::path(get, path = "/residents/{id}/entitlements",
    summary = "The elder's entitlements (dates inclusive), newest first, each with what this month has used of its quota",
    description = "Who may call it: family (linked), the institutions enrolled, civil_affairs (in its division), insurer (the fund's own).",
    params(("id" = Uuid, Path)), responses((status = 200, description = "success", body = EntitlementList)))]
async fn entitlements(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<EntitlementList>> {
    if matches!(auth.scope.role, Role::Assessor | Role::GridWorker) {
        return Err(Error::NotFound);
    }
    let resident = auth.reach::<Identity>(&ctx, id).await?;
    let mut conn = ctx.pool.acquire().await?;
    let today = crate::store::meals::resident_today(&mut conn, &resident).await?;
    let month = crate::store::billing::month_of(today);
    let mut found = store::entitlements(&mut conn, &resident, month).await?;
    if auth.scope.role == Role::Insurer {
        found.retain(|e| e.payer == Payer::LtcInsurance);
    }
    Ok(Json(EntitlementList { month: month.format("%Y-%m").to_string(), entitlements: found }))
}

/// Today and the month's first day, for a month not yet begun.
pub(super) fn not_future(field: &str, month: NaiveDate) -> Result<NaiveDate> {
    if month > Utc::now().date_naive() + Duration::days(1) {
        return Err(Error::validation(field, "a month that has begun"));
    }
    Ok(month)
}
