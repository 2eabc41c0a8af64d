//! The service catalogue, residents' care plans, and the tags fixed in
//! their homes.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::error::ResultExt;
use super::{ApiContext, Error, Json, Path, Result};
use crate::domain::billing::{self, Fen, Payer, Quota, QuotaFit};
use crate::domain::care::{Category, Funding, PlanItem, TagKind, Unit};
use crate::domain::scope::Care;
use crate::store::care::{self as catalogue, CarePlan, NewService, Service, Task};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(create, list)).routes(routes!(fetch_plan, put_plan)).routes(routes!(add_tag))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewService)]
struct NewServiceRequest {
    code: String,
    name: String,
    category: Category,
    #[schema(minimum = 1)]
    duration_minutes: i32,
    unit: Unit,
    #[schema(minimum = 0)]
    unit_price: f64,
    #[schema(default = "CNY", nullable = false)]
    currency: Option<String>,
    funding: Vec<Funding>,
    #[serde(default = "yes")]
    #[schema(default = true)]
    evv_required: bool,
    #[serde(default, deserialize_with = "crate::domain::wire::required_objects")]
    tasks: Vec<Task>,
}

fn yes() -> bool {
    true
}

fn valid_code(code: &str) -> bool {
    (1..=64).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

#[utoipa::path(post, path = "/services", summary = "Add a service to the catalogue", description = "Who may call it: admin.",
    request_body = NewServiceRequest, responses((status = 201, description = "success", body = Service)))]
async fn create(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<NewServiceRequest>,
) -> Result<(StatusCode, Json<Service>)> {
    auth.require_admin()?;
    if !valid_code(&req.code) {
        return Err(Error::validation("code", "code must be 1 to 64 letters, digits, '-', '_' or '.'"));
    }
    super::text("name", &req.name, 200)?;
    if !(1..=24 * 60).contains(&req.duration_minutes) {
        return Err(Error::validation("duration_minutes", "duration_minutes must be from 1 to 1440"));
    }
    if !req.unit_price.is_finite() || req.unit_price < 0.0 {
        return Err(Error::validation("unit_price", "unit_price must be a number of at least 0"));
    }
    let currency = req.currency.unwrap_or_else(|| "CNY".to_owned());
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Error::validation("currency", "currency must be an ISO 4217 code such as CNY"));
    }
    if req.funding.is_empty() {
        return Err(Error::validation("funding", "name at least one funder"));
    }
    for (i, task) in req.tasks.iter().enumerate() {
        if !valid_code(&task.code) || task.name.trim().is_empty() {
            return Err(Error::validation(&format!("tasks[{i}]"), "a task has a code and a name"));
        }
        if req.tasks[..i].iter().any(|t| t.code == task.code) {
            return Err(Error::validation(&format!("tasks[{i}].code"), "names another task's code"));
        }
    }
    let mut funding = req.funding;
    funding.dedup();
    let new = NewService {
        code: req.code,
        name: req.name.trim().to_owned(),
        category: req.category,
        duration_minutes: req.duration_minutes,
        unit: req.unit,
        unit_price: req.unit_price,
        currency,
        funding,
        evv_required: req.evv_required,
        tasks: req.tasks,
    };
    let mut tx = ctx.pool.begin().await?;
    let service =
        catalogue::create_service(&mut tx, &auth.scope, new).await.on_constraint("services_code_key", || {
            Error::Conflict("the catalogue already has a service with this code".into())
        })?;
    let details = json!({"code": service.code, "name": service.name, "category": service.category,
                         "unit": service.unit, "unit_price": service.unit_price, "funding": service.funding});
    crate::audit::record(&mut tx, auth.actor(), "service.created", "service", service.id, details).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(service)))
}

#[derive(Debug, Serialize, ToSchema)]
struct ServiceList {
    services: Vec<Service>,
}

/// The catalogue, for anyone of the institution: families ask for services
/// from it, caregivers read what a service involves.
#[utoipa::path(get, path = "/services",
    summary = "The institution's service catalogue (every institution has WELFARE-CHECK)",
    description = "Who may call it: admin, staff, caregiver, family.",
    responses((status = 200, description = "success", body = ServiceList)))]
async fn list(State(ctx): State<ApiContext>, auth: AuthUser) -> Result<Json<ServiceList>> {
    if auth.scope.institution.is_none() {
        return Err(Error::Forbidden("the catalogue belongs to an institution"));
    }
    Ok(Json(ServiceList { services: catalogue::services(&ctx.pool, &auth.scope).await? }))
}

#[utoipa::path(get, path = "/residents/{id}/care-plan",
    summary = "The resident's care plan (empty items when none was put), each line against this month's quota of the payer its funding names (within, partly_over, over, not_covered)",
    description = "Who may call it: admin, staff, linked family.", params(("id" = Uuid, Path)),
    responses((status = 200, description = "success", body = PlanWithQuota)))]
async fn fetch_plan(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<PlanWithQuota>> {
    let reached = auth.reach::<Care>(&ctx, id).await?;
    let mut conn = ctx.pool.acquire().await?;
    let plan = catalogue::plan(&mut conn, &reached).await?;
    // This month's quota of each payer, and each line against it.
    let zone = crate::store::meals::resident_timezone(&mut conn, reached.id()).await?;
    let today = chrono::Utc::now().with_timezone(&zone.parse::<chrono_tz::Tz>().unwrap_or(chrono_tz::UTC)).date_naive();
    let month = crate::store::billing::month_of(today);
    let entitlements = crate::store::applications::entitlements(&mut conn, &reached.identity(), month).await?;
    let quotas: Vec<(Payer, Quota)> = entitlements
        .iter()
        .filter(|e| e.from <= today && e.until >= today)
        .map(|e| (e.payer, e.terms().quota))
        .collect();
    let mut planned = Vec::with_capacity(plan.items.len());
    for item in &plan.items {
        let service = match auth.scope.institution {
            Some(_) => catalogue::service(&mut conn, &auth.scope, &item.service_code).await?,
            None => None,
        };
        let (duration, price, unit) = service.as_ref().map_or((0, Fen::ZERO, Unit::Visit), |s| {
            (i64::from(s.duration_minutes), Fen::from_yuan_f64(s.unit_price), s.unit)
        });
        let minutes = billing::minutes_in_month(&item.schedule.days, duration, item.hours_per_month, month);
        let visits = if duration > 0 { minutes / duration } else { 0 };
        let amount = match unit {
            Unit::Visit => Fen(price.0 * visits),
            Unit::Hour => billing::visit_amount(Unit::Hour, price, minutes),
        };
        let payer = match item.funding {
            Funding::LtcInsurance => Some(Payer::LtcInsurance),
            Funding::Subsidy => Some(Payer::CivilAffairs),
            Funding::SelfPay | Funding::Institution => None,
        };
        planned.push(billing::Planned { payer, minutes, amount });
    }
    let quota = billing::plan_against_quota(&planned, &quotas)
        .into_iter()
        .zip(plan.items.iter().zip(&planned))
        .map(|(fit, (item, line))| LineQuota {
            service_code: item.service_code.clone(),
            payer: line.payer,
            planned_minutes: line.minutes,
            within_minutes: fit.within_minutes,
            fit: fit.fit,
        })
        .collect();
    Ok(Json(PlanWithQuota { plan, month: month.format("%Y-%m").to_string(), quota }))
}

/// The plan, and each line of it against this month's quota.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CarePlanWithQuota)]
struct PlanWithQuota {
    #[serde(flatten)]
    plan: CarePlan,
    /// The month `quota` weighs (the resident's own, YYYY-MM).
    month: String,
    /// Each line, in order, against the month's quota of the payer its
    /// funding names (`ltc_insurance`: the LTC fund, `subsidy`: the bureau).
    quota: Vec<LineQuota>,
}

/// One line of the plan against the month's quota.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CarePlanLineQuota)]
struct LineQuota {
    service_code: String,
    #[schema(required = true)]
    payer: Option<Payer>,
    /// A month of the line: its days in the month times the service's
    /// duration, up to the hours it authorises.
    planned_minutes: i64,
    within_minutes: i64,
    fit: QuotaFit,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CarePlanRequest)]
struct PlanRequest {
    #[serde(deserialize_with = "crate::domain::wire::required_objects")]
    items: Vec<PlanItem>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SavedCarePlan)]
struct PlanSaved {
    #[serde(flatten)]
    plan: CarePlan,
    /// Visits generated for the coming 14 days, and future ones cancelled
    /// because the plan no longer asks for them.
    visits_generated: u64,
    visits_cancelled: u64,
}

#[utoipa::path(put, path = "/residents/{id}/care-plan",
    summary = "Replace the care plan: visits are generated for the coming 14 days (local time of the resident) and future ones no longer matching are cancelled plan_changed",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path)), request_body = PlanRequest,
    responses((status = 200, description = "success", body = PlanSaved)))]
async fn put_plan(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<PlanRequest>,
) -> Result<Json<PlanSaved>> {
    let reached = auth.reach_for_staff::<Care>(&ctx, id).await?;
    let id = reached.id();
    auth.require_staff()?;
    if req.items.len() > 50 {
        return Err(Error::validation("items", "a plan has at most 50 items"));
    }
    let mut tx = ctx.pool.begin().await?;
    for (i, item) in req.items.iter().enumerate() {
        item.check(i).map_err(|e| Error::validation(&e.field, e.message))?;
        let Some(service) = catalogue::service(&mut tx, &auth.scope, &item.service_code).await? else {
            return Err(Error::validation(&format!("items[{i}].service_code"), "no such service in the catalogue"));
        };
        if !service.funding.contains(&item.funding) {
            return Err(Error::validation(
                &format!("items[{i}].funding"),
                format!("{} is not paid by {}", service.code, item.funding),
            ));
        }
    }
    let plan = catalogue::put_plan(&mut tx, &auth.scope, &reached, &req.items, auth.scope.user).await?;
    let (generated, cancelled) = crate::care::sync_plan(&mut tx, &reached, Utc::now()).await?;
    let details = json!({"items": req.items, "visits_generated": generated, "visits_cancelled": cancelled});
    crate::audit::record(&mut tx, auth.actor(), "care_plan.replaced", "resident", id, details).await?;
    tx.commit().await?;
    Ok(Json(PlanSaved { plan, visits_generated: generated, visits_cancelled: cancelled }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTag {
    tag: String,
    kind: TagKind,
}

#[derive(Debug, Serialize, ToSchema)]
struct Tag {
    resident_id: Uuid,
    tag: String,
    kind: TagKind,
}

#[utoipa::path(post, path = "/residents/{id}/tags",
    summary = "Register a QR code or NFC tag fixed in the resident's home, for check-ins by tag",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path)), request_body = NewTag,
    responses((status = 201, description = "success", body = Tag)))]
async fn add_tag(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<NewTag>,
) -> Result<(StatusCode, Json<Tag>)> {
    let reached = auth.reach_for_staff::<Care>(&ctx, id).await?;
    let id = reached.id();
    let tag = super::text("tag", &req.tag, 200)?;
    let mut tx = ctx.pool.begin().await?;
    catalogue::add_tag(&mut tx, &reached, tag, req.kind).await.on_constraint("resident_tags_pkey", || {
        Error::Conflict("this tag is already registered for the home".into())
    })?;
    crate::audit::record(
        &mut tx,
        auth.actor(),
        "tag.registered",
        "resident",
        id,
        json!({"tag": tag, "kind": req.kind}),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(Tag { resident_id: id, tag: tag.to_owned(), kind: req.kind })))
}
