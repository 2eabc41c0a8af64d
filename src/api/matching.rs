//! Orders from home matched to a provider: the family (or the elder's
//! institution) asks for a service without naming who delivers it, and the
//! platform offers it to the providers serving her division in turn; the one
//! that accepts has it as a visit waiting to be scheduled, as any request.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Path, Query, Result};
use crate::domain::Role;
use crate::domain::billing::Fen;
use crate::domain::care::{self, Origin, VisitStatus};
use crate::domain::scope::Identity;
use crate::store::care as catalogue;
use crate::store::matching::{self as store, NewRequest, Offered, Request, Step};
use crate::store::visits::{self, NewVisit};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(fetch))
        .routes(routes!(accept))
        .routes(routes!(decline))
        .routes(routes!(cancel))
        .routes(routes!(offered))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MatchedServiceRequest)]
struct RequestBody {
    resident_id: Uuid,
    /// A service code providers offer (`HC-BATH`).
    #[schema(min_length = 1, max_length = 64)]
    service_code: String,
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(nullable = false)]
    preferred_start: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(max_length = 2000, nullable = false)]
    note: Option<String>,
}

/// A provider named in a request.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ServiceRequestProvider)]
struct Provider {
    institution_id: Uuid,
    institution_name: String,
    /// Until when the offer stands (an offer only).
    #[serde(skip_serializing_if = "Option::is_none")]
    accept_by: Option<DateTime<Utc>>,
}

/// What the family will pay: one visit at the provider's price, less what
/// her entitlements pay, priced by the function that will bill it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ServiceRequestPrice)]
struct Price {
    amount: Fen,
    elder_amount: Fen,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MatchedRequest)]
pub(super) struct View {
    id: Uuid,
    resident_id: Uuid,
    resident_name: String,
    service_code: String,
    /// offered, accepted, unmatched, scheduled, done or cancelled (the
    /// last three from the visit it became).
    pub(super) status: String,
    #[schema(required = true)]
    preferred_start: Option<DateTime<Utc>>,
    #[schema(required = true)]
    note: Option<String>,
    #[schema(required = true)]
    offer: Option<Provider>,
    #[schema(required = true)]
    provider: Option<Provider>,
    #[schema(required = true)]
    visit_id: Option<Uuid>,
    /// For whoever reaches the elder (her entitlements are hers): null for
    /// a provider it is only offered to.
    #[schema(required = true)]
    price: Option<Price>,
    timeline: Vec<Step>,
    created_at: DateTime<Utc>,
}

/// The status the family reads: the visit's once accepted.
fn status_of(request: &Request) -> String {
    match (request.status.as_str(), request.visit_status.as_deref()) {
        ("accepted", Some("completed")) => "done".into(),
        ("accepted", Some("cancelled")) => "cancelled".into(),
        ("accepted", Some("scheduled" | "assigned" | "checked_in" | "missed")) => "scheduled".into(),
        (status, _) => status.into(),
    }
}

/// A request the store found in the caller's reach (`store::matching`
/// filters by the scope), as the caller may see it: whoever reaches the
/// elder sees it whole; a provider it is only offered to, without the price.
pub(super) async fn view(ctx: &ApiContext, auth: &AuthUser, request: Request) -> Result<View> {
    let reached = auth.reach::<Identity>(ctx, request.resident_id).await.ok();
    let mut conn = ctx.pool.acquire().await?;
    let timeline = store::timeline(&mut conn, request.id).await?;
    let priced_by = request.offer_institution_id.or(request.provider_institution_id);
    let price = match (&reached, priced_by) {
        (Some(resident), Some(provider)) => {
            let today = crate::store::meals::resident_today(&mut conn, resident).await?;
            crate::store::billing::quote(&mut conn, resident, provider, &request.service_code, today)
                .await?
                .map(|(amount, elder_amount)| Price { amount, elder_amount })
        }
        _ => None,
    };
    let offer = request.offer_institution_id.map(|id| Provider {
        institution_id: id,
        institution_name: request.offer_institution_name.clone().unwrap_or_default(),
        accept_by: request.accept_by,
    });
    let provider = request.provider_institution_id.map(|id| Provider {
        institution_id: id,
        institution_name: request.provider_institution_name.clone().unwrap_or_default(),
        accept_by: None,
    });
    Ok(View {
        id: request.id,
        resident_id: request.resident_id,
        resident_name: request.resident_name.clone(),
        service_code: request.service_code.clone(),
        status: status_of(&request),
        preferred_start: request.preferred_start,
        note: request.note.clone(),
        offer,
        provider,
        visit_id: request.visit_id,
        price,
        timeline,
        created_at: request.created_at,
    })
}

#[utoipa::path(post, path = "/service-requests",
    summary = "Ask for a service without naming its provider: it is offered to the providers serving her division that offer it, enrolled ones first, then the least loaded, each until accept_by; none left is unmatched",
    description = "Who may call it: family (linked), admin and staff of an institution enrolled for her, desk.",
    request_body = RequestBody, responses((status = 201, description = "success", body = View)))]
async fn create(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<RequestBody>,
) -> Result<(StatusCode, Json<View>)> {
    if !matches!(auth.scope.role, Role::Family | Role::Admin | Role::Staff | Role::Desk) {
        return Err(Error::Forbidden("the family, the elder's institution or the hotline desk asks for a service"));
    }
    let resident = auth.reach::<Identity>(&ctx, req.resident_id).await?;
    let code = req.service_code.trim();
    if code.is_empty() || code.chars().count() > 64 {
        return Err(Error::validation("service_code", "a service code"));
    }
    if req.note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(Error::validation("note", "at most 2000 characters"));
    }
    if req.preferred_start.is_some_and(|at| at < Utc::now() - chrono::Duration::hours(1)) {
        return Err(Error::validation("preferred_start", "preferred_start has passed"));
    }
    let offer_seconds = offer_seconds(&ctx);
    let mut tx = ctx.pool.begin().await?;
    let new = NewRequest {
        service_code: code,
        offer_seconds,
        preferred_start: req.preferred_start,
        note: req.note.as_deref(),
    };
    let id = ask(&mut tx, &auth, &resident, &new).await?;
    tx.commit().await?;
    let mut conn = ctx.pool.acquire().await?;
    let request = store::fetch(&mut conn, &auth.scope, id, false).await?.ok_or(Error::NotFound)?;
    drop(conn);
    Ok((StatusCode::CREATED, Json(view(&ctx, &auth, request).await?)))
}

/// Records a request and offers it to the first provider, on the audit
/// trail: what the family's order, the desk's, and a welfare check two
/// unanswered calls set off all do.
pub(super) async fn ask(
    tx: &mut sqlx::PgConnection,
    auth: &AuthUser,
    resident: &crate::domain::scope::Reached<Identity>,
    new: &NewRequest<'_>,
) -> Result<Uuid> {
    let id = store::create(tx, resident, new, &auth.scope).await?;
    let offered = store::offer_next(tx, id).await?;
    let details =
        serde_json::json!({"service_request_id": id, "service_code": new.service_code, "offered_to": offered});
    crate::audit::record(tx, auth.actor(), "service_request.created", "resident", resident.id(), details).await?;
    Ok(id)
}

/// How long each provider has to accept an offer (the setting).
pub(super) fn offer_seconds(ctx: &ApiContext) -> i32 {
    i32::try_from(ctx.settings.matching.accept_seconds).unwrap_or(i32::MAX).max(1)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// One elder's requests (anyone reaching her); without it, a provider's
    /// offers and requests, the bureau's division's.
    #[param(nullable = false)]
    resident_id: Option<Uuid>,
    /// offered, accepted, unmatched or cancelled.
    #[param(nullable = false, pattern = "^(offered|accepted|unmatched|cancelled)$")]
    status: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MatchedRequestList)]
struct RequestList {
    requests: Vec<View>,
}

#[utoipa::path(get, path = "/service-requests",
    summary = "Requests: one elder's (resident_id), else a provider's offers and accepted requests, the bureau's division's (status=unmatched: its queue)",
    description = "Who may call it: with resident_id, whoever reaches her; without, admin, staff, civil_affairs.",
    params(ListQuery), responses((status = 200, description = "success", body = RequestList)))]
async fn list(State(ctx): State<ApiContext>, auth: AuthUser, Query(q): Query<ListQuery>) -> Result<Json<RequestList>> {
    if q.status.as_deref().is_some_and(|s| !matches!(s, "offered" | "accepted" | "unmatched" | "cancelled")) {
        return Err(Error::validation("status", "offered, accepted, unmatched or cancelled"));
    }
    let found = match q.resident_id {
        Some(resident) => {
            let resident = auth.reach::<Identity>(&ctx, resident).await?;
            let mut all = store::of_resident(&ctx.pool, &resident).await?;
            all.retain(|r| q.status.as_ref().is_none_or(|s| &r.status == s));
            all
        }
        None => store::list(&ctx.pool, &auth.scope, &store::Filter { status: q.status.clone() }, 200).await?,
    };
    let mut requests = Vec::with_capacity(found.len());
    for request in found {
        requests.push(view(&ctx, &auth, request).await?);
    }
    Ok(Json(RequestList { requests }))
}

#[utoipa::path(get, path = "/service-requests/{id}", summary = "One request with its timeline and the price the family will pay",
    description = "Who may call it: whoever reaches the elder; the provider it is offered to or that has it.",
    params(("id" = Uuid, Path)), responses((status = 200, description = "success", body = View)))]
async fn fetch(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<View>> {
    let mut conn = ctx.pool.acquire().await?;
    let request = store::fetch(&mut conn, &auth.scope, id, false).await?.ok_or(Error::NotFound)?;
    drop(conn);
    Ok(Json(view(&ctx, &auth, request).await?))
}

/// The request, locked, if it is offered to the caller's institution now.
async fn offered_to_caller(tx: &mut sqlx::PgConnection, auth: &AuthUser, id: Uuid) -> Result<(Request, Uuid)> {
    let request = store::fetch(tx, &auth.scope, id, true).await?.ok_or(Error::NotFound)?;
    let own = auth.require_staff()?;
    if request.status != "offered" || request.offer_institution_id != Some(own) {
        return Err(Error::Conflict(format!("the request is {} and no longer offered to you", request.status)));
    }
    if request.accept_by.is_some_and(|by| by <= Utc::now()) {
        return Err(Error::Conflict("the offer lapsed: it has passed to the next provider".into()));
    }
    Ok((request, own))
}

#[utoipa::path(post, path = "/service-requests/{id}/accept",
    summary = "Accept an offer: the request becomes a visit of the provider, requested and waiting to be scheduled (as any request)",
    description = "Who may call it: admin, staff (of the institution it is offered to).",
    params(("id" = Uuid, Path)), responses((status = 200, description = "success", body = View)))]
async fn accept(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<View>> {
    let mut tx = ctx.pool.begin().await?;
    let (request, own) = offered_to_caller(&mut tx, &auth, id).await?;
    let service = catalogue::service(&mut tx, &auth.scope, &request.service_code).await?.ok_or_else(|| {
        Error::Conflict(format!("{} is no longer in your catalogue: decline the offer", request.service_code))
    })?;
    let funding = care::requested_funding(None, &service.funding);
    let visit = visits::insert(
        &mut tx,
        NewVisit {
            institution_id: own,
            resident_id: request.resident_id,
            service_id: service.id,
            funding,
            origin: Origin::Request,
            status: VisitStatus::Requested,
            scheduled_start: None,
            preferred_start: request.preferred_start,
            caregiver_id: None,
            alert_id: None,
            note: request.note.clone(),
            requested_by: Some(auth.scope.user),
            clinical_record_id: None,
        },
    )
    .await?;
    store::accept(&mut tx, &request, &auth.scope, visit).await?;
    let details = serde_json::json!({"service_request_id": id, "visit_id": visit});
    crate::audit::record(&mut tx, auth.actor(), "service_request.accepted", "visit", visit, details).await?;
    tx.commit().await?;
    let mut conn = ctx.pool.acquire().await?;
    let request = store::fetch(&mut conn, &auth.scope, id, false).await?.ok_or(Error::NotFound)?;
    drop(conn);
    Ok(Json(view(&ctx, &auth, request).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DeclineOffer)]
struct DeclineBody {
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
}

#[utoipa::path(post, path = "/service-requests/{id}/decline",
    summary = "Decline an offer with a reason: it passes to the next provider (unmatched when none is left)",
    description = "Who may call it: admin, staff (of the institution it is offered to).",
    params(("id" = Uuid, Path)), request_body = DeclineBody,
    responses((status = 204, description = "declined")))]
async fn decline(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<DeclineBody>,
) -> Result<StatusCode> {
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(Error::validation("reason", "a reason, at most 500 characters"));
    }
    let mut tx = ctx.pool.begin().await?;
    let (request, _) = offered_to_caller(&mut tx, &auth, id).await?;
    let next = store::decline(&mut tx, &request, &auth.scope, reason).await?;
    let details = serde_json::json!({"service_request_id": id, "reason": reason, "offered_to": next});
    crate::audit::record(&mut tx, auth.actor(), "service_request.declined", "resident", request.resident_id, details)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CancelServiceRequest)]
struct CancelBody {
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(max_length = 500, nullable = false)]
    reason: Option<String>,
}

#[utoipa::path(post, path = "/service-requests/{id}/cancel",
    summary = "Withdraw a request no provider has accepted yet (offered or unmatched); once accepted, cancel its visit instead (409)",
    description = "Who may call it: the family linked, the elder's enrolled institution.",
    params(("id" = Uuid, Path)), request_body = CancelBody, responses((status = 200, description = "success", body = View)))]
async fn cancel(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<CancelBody>,
) -> Result<Json<View>> {
    let reason = req.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > 500) {
        return Err(Error::validation("reason", "at most 500 characters"));
    }
    let mut tx = ctx.pool.begin().await?;
    let request = store::fetch(&mut tx, &auth.scope, id, true).await?.ok_or(Error::NotFound)?;
    // The elder's side withdraws it: whoever reaches her, as family or her institution.
    let resident = auth.reach::<Identity>(&ctx, request.resident_id).await?;
    if !matches!(auth.scope.role, Role::Family | Role::Admin | Role::Staff) {
        return Err(Error::Forbidden("the family or the elder's institution withdraws a request"));
    }
    if !matches!(request.status.as_str(), "offered" | "unmatched") {
        return Err(Error::Conflict(format!("the request is {}: cancel its visit instead", status_of(&request))));
    }
    store::cancel(&mut tx, &request, &auth.scope, reason).await?;
    let details = serde_json::json!({"service_request_id": id, "reason": reason});
    crate::audit::record(&mut tx, auth.actor(), "service_request.cancelled", "resident", resident.id(), details)
        .await?;
    tx.commit().await?;
    let mut conn = ctx.pool.acquire().await?;
    let request = store::fetch(&mut conn, &auth.scope, id, false).await?.ok_or(Error::NotFound)?;
    drop(conn);
    Ok(Json(view(&ctx, &auth, request).await?))
}

/// A service her family may ask for, and what they would pay for it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ServiceOffer)]
struct ServiceOffer {
    #[serde(flatten)]
    service: Offered,
    /// One visit at the price of the provider first in line, less what her
    /// entitlements pay today: the price the request shows if that
    /// provider accepts.
    #[schema(required = true)]
    price: Option<Price>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OfferedServiceList)]
struct OfferedList {
    services: Vec<ServiceOffer>,
}

#[utoipa::path(get, path = "/residents/{id}/services",
    summary = "The services her family may ask for (POST /service-requests): those the providers serving her division offer, one per code, with the provider first in line and the price the family would pay it after her entitlements",
    description = "Who may call it: whoever reaches the elder.",
    params(("id" = Uuid, Path)), responses((status = 200, description = "success", body = OfferedList)))]
async fn offered(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<OfferedList>> {
    let resident = auth.reach::<Identity>(&ctx, id).await?;
    let mut conn = ctx.pool.acquire().await?;
    let today = crate::store::meals::resident_today(&mut conn, &resident).await?;
    let mut services = Vec::new();
    for service in store::offered(&mut conn, &resident).await? {
        let price = crate::store::billing::quote(&mut conn, &resident, service.institution_id, &service.code, today)
            .await?
            .map(|(amount, elder_amount)| Price { amount, elder_amount });
        services.push(ServiceOffer { service, price });
    }
    Ok(Json(OfferedList { services }))
}
