//! Meal services over HTTP: kitchens, meal plans, the day's orders, the
//! kitchen's production list and delivery rounds, the courier's outcomes,
//! family cancellations and the monthly meal statement.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Months, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{KnownFormat, Ref, RefOr, Schema, SchemaFormat};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::openapi::meal_fields;
use super::place::PhoneLocation;
use super::statements::csv_field;
use super::{ApiContext, Error, Json, PageQuery, Path, Query, Result, next_page, page_limit};
use crate::alerts::{self, Subject};
use crate::domain::care::WELFARE_CHECK;
use crate::domain::field;
use crate::domain::meal::{self, DEFAULT_CUTOFF, Meal, MealFunding, MealPlan, OrderCancel, OrderStatus, Outcome};
use crate::domain::scope::KitchenReach;
use crate::domain::scope::Meals;
use crate::domain::{AlertKind, Role, Severity};
use crate::rules::Decision;
use crate::store::meals as store;

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(create_kitchen, list_kitchens))
        .routes(routes!(fetch_kitchen))
        .routes(routes!(production))
        .routes(routes!(round))
        .routes(routes!(put_plan, get_plan, delete_plan))
        .routes(routes!(cancel))
        .routes(routes!(list_orders))
        .routes(routes!(delivery))
        .routes(routes!(statement))
}

fn reach(auth: &AuthUser) -> Result<KitchenReach> {
    auth.scope.kitchens().ok_or(Error::Forbidden("only care staff and kitchen users may do this"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewKitchen {
    #[schema(schema_with = field::text::<200>)]
    name: String,
    #[serde(default, deserialize_with = "crate::domain::wire::non_null_object")]
    #[schema(nullable = false)]
    location: Option<PhoneLocation>,
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(schema_with = meal_fields::timezone)]
    timezone: Option<String>,
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(schema_with = meal_fields::cutoff)]
    cutoff: Option<String>,
    #[serde(default)]
    #[schema(schema_with = meal_fields::prices)]
    prices: BTreeMap<Meal, f64>,
}

#[utoipa::path(post, path = "/kitchens",
    summary = "Add a kitchen (cut-off HH:MM local, default 09:00; prices per meal)",
    description = "Who may call it: admin.", request_body = NewKitchen,
    responses((status = 201, description = "success", body = store::Kitchen)))]
async fn create_kitchen(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<NewKitchen>,
) -> Result<(StatusCode, Json<store::Kitchen>)> {
    auth.require_admin()?;
    let name = super::text("name", &req.name, 200)?.to_owned();
    let location = req.location.as_ref().map(|l| l.check("location")).transpose()?;
    if let Some(tz) = &req.timezone
        && tz.parse::<chrono_tz::Tz>().is_err()
    {
        return Err(Error::validation("timezone", "timezone must be an IANA name like Asia/Shanghai"));
    }
    let cutoff = match &req.cutoff {
        None => DEFAULT_CUTOFF,
        Some(text) => NaiveTime::parse_from_str(text, "%H:%M")
            .map_err(|_| Error::validation("cutoff", "cutoff must be a local time HH:MM"))?,
    };
    if req.prices.values().any(|p| !p.is_finite() || *p < 0.0 || *p > 1_000_000.0) {
        return Err(Error::validation("prices", "prices are amounts from 0 to 1,000,000"));
    }
    let new = store::NewKitchen { name, location, timezone: req.timezone, cutoff, prices: req.prices };
    let mut tx = ctx.pool.begin().await?;
    let kitchen = store::create_kitchen(&mut tx, &auth.scope, &new).await?;
    crate::audit::record(
        &mut tx,
        auth.actor(),
        "kitchen.created",
        "kitchen",
        kitchen.id,
        json!({"name": kitchen.name}),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(kitchen)))
}

#[derive(Debug, Serialize, ToSchema)]
struct KitchenList {
    kitchens: Vec<store::Kitchen>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/kitchens", summary = "The kitchens in reach (a kitchen user: their own)",
    description = "Who may call it: admin, staff, kitchen.", params(PageQuery),
    responses((status = 200, description = "success", body = KitchenList)))]
async fn list_kitchens(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<KitchenList>> {
    let reach = reach(&auth)?;
    let limit = page_limit(q.limit)?;
    let after = match &q.cursor {
        None => None,
        Some(c) => {
            let id: Uuid = c.parse().map_err(|_| Error::validation("cursor", "not a cursor of this list"))?;
            let kitchen = store::kitchen(&ctx.pool, reach, id).await?;
            Some(
                kitchen
                    .map(|k| (k.name, k.id))
                    .ok_or_else(|| Error::validation("cursor", "not a cursor of this list"))?,
            )
        }
    };
    let mut kitchens = store::list_kitchens(&ctx.pool, reach, limit, after).await?;
    let next_cursor = next_page(&mut kitchens, limit, |k| k.id.to_string());
    Ok(Json(KitchenList { kitchens, next_cursor }))
}

async fn kitchen_in_reach(ctx: &ApiContext, auth: &AuthUser, id: Uuid) -> Result<store::Kitchen> {
    let reach = auth.scope.kitchens().ok_or(Error::NotFound)?;
    store::kitchen(&ctx.pool, reach, id).await?.ok_or(Error::NotFound)
}

#[utoipa::path(get, path = "/kitchens/{id}", summary = "One kitchen",
    description = "Who may call it: admin, staff, kitchen.", params(("id" = Uuid, Path)),
    responses((status = 200, description = "success", body = store::Kitchen)))]
async fn fetch_kitchen(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<store::Kitchen>> {
    Ok(Json(kitchen_in_reach(&ctx, &auth, id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DayQuery {
    #[param(nullable = false)]
    date: Option<NaiveDate>,
    #[param(nullable = false)]
    meal: Option<Meal>,
}

/// The kitchen's own today, when no date is given.
fn day_or_today(kitchen: &store::Kitchen, date: Option<NaiveDate>) -> NaiveDate {
    date.unwrap_or_else(|| Utc::now().with_timezone(&kitchen.tz()).date_naive())
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Production)]
struct ProductionList {
    kitchen_id: Uuid,
    date: NaiveDate,
    meals: BTreeMap<Meal, meal::Production>,
}

#[utoipa::path(get, path = "/kitchens/{id}/production",
    summary = "The production list of a day (default the kitchen's today): per meal, portions by diet and texture, every allergy named",
    description = "Who may call it: admin, staff, kitchen.", params(("id" = Uuid, Path), DayQuery),
    responses((status = 200, description = "success", body = ProductionList)))]
async fn production(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<DayQuery>,
) -> Result<Json<ProductionList>> {
    let kitchen = kitchen_in_reach(&ctx, &auth, id).await?;
    let date = day_or_today(&kitchen, q.date);
    let mut cooked = store::cooked(&ctx.pool, kitchen.id, date).await?;
    if let Some(m) = q.meal {
        cooked.retain(|c| c.meal == m);
    }
    Ok(Json(ProductionList { kitchen_id: kitchen.id, date, meals: meal::production(&cooked) }))
}

#[derive(Debug, Serialize, ToSchema)]
struct Round {
    kitchen_id: Uuid,
    date: NaiveDate,
    meal: Meal,
    stops: Vec<store::RoundStop>,
}

#[utoipa::path(get, path = "/kitchens/{id}/routes",
    summary = "The home deliveries of a meal in route order: grouped by area (~1 km cells), nearest the kitchen first, then by distance; stops without a location last",
    description = "Who may call it: admin, staff, kitchen.", params(("id" = Uuid, Path), DayQuery),
    responses((status = 200, description = "success", body = Round)))]
async fn round(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<DayQuery>,
) -> Result<Json<Round>> {
    let kitchen = kitchen_in_reach(&ctx, &auth, id).await?;
    let date = day_or_today(&kitchen, q.date);
    let meal = q.meal.ok_or_else(|| Error::validation("meal", "meal is required: breakfast, lunch or dinner"))?;
    let stops = store::round(&ctx.pool, &kitchen, date, meal).await?;
    Ok(Json(Round { kitchen_id: kitchen.id, date, meal, stops }))
}

/// A resident's meal plan as read: `plan` is null while they have none.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ResidentMealPlan)]
struct PlanBody {
    resident_id: Uuid,
    /// null while the resident has no meal plan
    #[schema(required = true)]
    plan: Option<MealPlan>,
    /// Her orders from her today on (made up to the day after next), so
    /// her family sees which meals stand and which it may still cancel.
    orders: Vec<OrderAhead>,
}

/// One of the resident's orders ahead.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MealOrderAhead)]
struct OrderAhead {
    date: NaiveDate,
    meal: Meal,
    status: OrderStatus,
    #[schema(required = true)]
    cancel_reason: Option<OrderCancel>,
    /// The kitchen's cut-off for the day: a planned meal may be cancelled
    /// until then (`POST /residents/{id}/meal-orders/{date}/cancel`).
    cancel_by: DateTime<Utc>,
}

impl From<store::Ahead> for OrderAhead {
    fn from(order: store::Ahead) -> Self {
        let cancel_by = order.cancel_by();
        OrderAhead {
            date: order.date,
            meal: order.meal,
            status: order.status,
            cancel_reason: order.cancel_reason,
            cancel_by,
        }
    }
}

#[derive(Debug, Serialize)]
struct SavedPlan {
    resident_id: Uuid,
    #[serde(flatten)]
    plan: MealPlan,
    orders: store::Synced,
}

/// The saved plan's fields beside the resident and the orders synced: one
/// object, not an `allOf` whose closed plan would refuse the other two.
impl utoipa::PartialSchema for SavedPlan {
    fn schema() -> RefOr<Schema> {
        let RefOr::T(Schema::Object(mut plan)) = <MealPlan as utoipa::PartialSchema>::schema() else {
            unreachable!("a meal plan is an object")
        };
        plan.additional_properties = None;
        let uuid =
            ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)));
        plan.properties.insert("resident_id".into(), uuid.into());
        plan.properties.insert("orders".into(), RefOr::Ref(Ref::from_schema_name(store::Synced::name())));
        plan.required.extend(["resident_id".to_owned(), "orders".to_owned()]);
        RefOr::T(Schema::Object(plan))
    }
}

impl ToSchema for SavedPlan {
    fn name() -> std::borrow::Cow<'static, str> {
        "SavedMealPlan".into()
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <MealPlan as ToSchema>::schemas(schemas);
        schemas.push((store::Synced::name().into(), <store::Synced as utoipa::PartialSchema>::schema()));
    }
}

#[utoipa::path(put, path = "/residents/{id}/meal-plan",
    summary = "Replace the meal plan: orders for today and the next two days follow it before each day's cut-off (after it, added meals are ordered late and nothing is removed)",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path)), request_body = MealPlan,
    responses((status = 200, description = "success", body = SavedPlan)))]
async fn put_plan(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(plan): Json<MealPlan>,
) -> Result<Json<SavedPlan>> {
    let reached = auth.reach_for_staff::<Meals>(&ctx, id).await?;
    let resident = reached.id();
    auth.require_staff()?;
    let plan = plan.normalise().map_err(|e| Error::validation(e.field, e.message))?;
    // A kitchen of any institution enrolled for her meals (a canteen).
    if !store::kitchen_serves(&ctx.pool, &reached, plan.kitchen_id).await? {
        return Err(Error::validation("kitchen_id", "no kitchen of an institution enrolled for her meals"));
    }
    let mut tx = ctx.pool.begin().await?;
    store::save_plan(&mut tx, &auth.scope, &reached, &plan).await?;
    let orders = store::sync_orders(&mut tx, &reached, Utc::now()).await?;
    crate::audit::record(
        &mut tx,
        auth.actor(),
        "meal_plan.saved",
        "resident",
        resident,
        json!({"plan": &plan, "orders": orders}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(SavedPlan { resident_id: resident, plan, orders }))
}

#[utoipa::path(get, path = "/residents/{id}/meal-plan",
    summary = "The resident's meal plan (`plan` null while there is none) and her orders from today on, each with the cut-off it may be cancelled until",
    description = "Who may call it: admin, staff, linked family.", params(("id" = Uuid, Path)),
    responses((status = 200, description = "success", body = PlanBody)))]
async fn get_plan(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<PlanBody>> {
    let reached = auth.reach::<Meals>(&ctx, id).await?;
    let resident = reached.id();
    let mut conn = ctx.pool.acquire().await?;
    let plan = store::plan(&mut conn, &reached).await?;
    let today = residents_today(&mut conn, resident, Utc::now()).await?;
    let orders = store::orders_ahead(&mut conn, &reached, today).await?.into_iter().map(OrderAhead::from).collect();
    Ok(Json(PlanBody { resident_id: resident, plan, orders }))
}

#[utoipa::path(delete, path = "/residents/{id}/meal-plan",
    summary = "End the meal plan (idempotent): orders not yet past their cut-off are cancelled",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path)),
    responses((status = 204, description = "success")))]
async fn delete_plan(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<StatusCode> {
    let reached = auth.reach_for_staff::<Meals>(&ctx, id).await?;
    let resident = reached.id();
    let mut tx = ctx.pool.begin().await?;
    // Idempotent: ending a plan that has already ended changes nothing.
    let ended = store::delete_plan(&mut tx, &reached).await?;
    let orders = store::sync_orders(&mut tx, &reached, Utc::now()).await?;
    crate::audit::record(
        &mut tx,
        auth.actor(),
        "meal_plan.ended",
        "resident",
        resident,
        json!({"ended": ended, "orders": orders}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct OrdersQuery {
    #[param(nullable = false)]
    date: Option<NaiveDate>,
    #[param(nullable = false)]
    kitchen_id: Option<Uuid>,
    #[param(nullable = false)]
    meal: Option<Meal>,
    #[param(nullable = false)]
    resident_id: Option<Uuid>,
    #[param(nullable = false)]
    status: Option<OrderStatus>,
    #[param(minimum = 1, maximum = 1000, default = 200, nullable = false)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(schema_with = field::uuid_cursor)]
    cursor: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MealOrderList)]
struct OrderList {
    orders: Vec<store::Order>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/meal-orders", summary = "Meal orders in reach, by date, meal and name",
    description = "Who may call it: admin, staff, kitchen.", params(OrdersQuery),
    responses((status = 200, description = "success", body = OrderList)))]
async fn list_orders(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Query(q): Query<OrdersQuery>,
) -> Result<Json<OrderList>> {
    let reach = reach(&auth)?;
    let limit = page_limit(q.limit)?;
    let filter = store::OrderFilter {
        date: q.date,
        kitchen_id: q.kitchen_id,
        meal: q.meal,
        resident_id: q.resident_id,
        status: q.status,
    };
    // The cursor must be an order in reach: another's would tell where it sorts.
    if let Some(cursor) = q.cursor
        && !store::order_in_reach(&ctx.pool, reach, cursor).await?
    {
        return Err(Error::validation("cursor", "not a cursor this list gave"));
    }
    let mut orders = store::list_orders(&ctx.pool, reach, &filter, limit, q.cursor).await?;
    let next_cursor = next_page(&mut orders, limit, |o| o.id.to_string());
    Ok(Json(OrderList { orders, next_cursor }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MealDelivery)]
struct DeliveryBody {
    outcome: Outcome,
    #[serde(default, deserialize_with = "crate::domain::wire::non_null_object")]
    #[schema(nullable = false)]
    location: Option<PhoneLocation>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MealDelivered)]
struct Delivered {
    order_id: Uuid,
    status: OrderStatus,
    outcome: Outcome,
    at: DateTime<Utc>,
    /// The `meal_no_answer` alert raised, with the welfare check waiting to
    /// be dispatched (`POST /api/v1/alerts/{id}/dispatch`).
    #[schema(required = true)]
    alert_id: Option<Uuid>,
}

/// The courier's outcome. Once a meal was delivered or refused, that stands
/// (409); after no answer, a second attempt may still hand it over.
#[utoipa::path(post, path = "/meal-orders/{id}/delivery",
    summary = "The courier's outcome: handed_over is evidence of a meal; no_answer raises meal_no_answer (high) at once, a welfare check waiting to be dispatched",
    description = "Who may call it: admin, staff, kitchen.", params(("id" = Uuid, Path)), request_body = DeliveryBody,
    responses((status = 200, description = "success", body = Delivered)))]
async fn delivery(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<DeliveryBody>,
) -> Result<Json<Delivered>> {
    let reach = auth.scope.kitchens().ok_or(Error::NotFound)?;
    let location = body.location.as_ref().map(|l| l.check("location")).transpose()?;
    let now = Utc::now();
    let mut tx = ctx.pool.begin().await?;
    let order = store::lock_order(&mut tx, reach, id).await?.ok_or(Error::NotFound)?;
    match order.status {
        OrderStatus::Planned | OrderStatus::NoAnswer => {}
        OrderStatus::Cancelled => return Err(Error::Conflict("this order was cancelled".into())),
        OrderStatus::Delivered | OrderStatus::Refused => {
            return Err(Error::Conflict(format!("this order's outcome is already {}", order.status)));
        }
    }
    let today = residents_today(&mut tx, order.resident_id, now).await?;
    if order.date > today {
        return Err(Error::Conflict("this order is for a day still to come".into()));
    }
    store::record_outcome(&mut tx, order.id, body.outcome, auth.scope.user, now, location).await?;
    let subject = Subject {
        institution_id: order.institution_id,
        resident_id: Some(order.resident_id),
        device_id: None,
        room: None,
    };
    let mut applied = Vec::new();
    if body.outcome.is_meal_evidence() {
        store::record_meal_served(&mut tx, &order, now).await?;
    }
    let mut alert_id = order.alert_id;
    if body.outcome == Outcome::NoAnswer {
        let decision = Decision::Raise {
            kind: AlertKind::MealNoAnswer,
            cause: order.id.to_string(),
            severity: Severity::High,
            at: now,
            details: json!({
                "order_id": order.id, "meal": order.meal, "date": order.date, "kitchen_id": order.kitchen_id,
                "location": location,
                "dispatch": {"service_code": WELFARE_CHECK},
            }),
        };
        if let Some(a) = alerts::apply_in(&mut tx, &subject, &decision, false).await? {
            store::link_alert(&mut tx, order.id, a.alert.id).await?;
            alert_id = Some(a.alert.id);
            applied.push(a);
        }
    } else if order.status == OrderStatus::NoAnswer {
        // The second attempt found someone: the door was answered after all.
        let decision = Decision::Clear {
            kind: AlertKind::MealNoAnswer,
            cause: order.id.to_string(),
            at: now,
            resolution: crate::domain::Resolution::AutoCleared,
            details: json!({"order_id": order.id, "outcome": body.outcome}),
        };
        applied.extend(alerts::apply_in(&mut tx, &subject, &decision, false).await?);
    }
    crate::audit::record(
        &mut tx,
        auth.actor(),
        "meal_order.delivery",
        "meal_order",
        order.id,
        json!({"outcome": body.outcome, "resident_id": order.resident_id}),
    )
    .await?;
    tx.commit().await?;
    applied.iter().for_each(|a| a.count(&ctx.metrics));
    Ok(Json(Delivered { order_id: order.id, status: body.outcome.status(), outcome: body.outcome, at: now, alert_id }))
}

/// The resident's local date now.
async fn residents_today(conn: &mut sqlx::PgConnection, resident: Uuid, now: DateTime<Utc>) -> Result<NaiveDate> {
    let timezone = crate::store::meals::resident_timezone(conn, resident).await?;
    Ok(crate::domain::care::local_date(&timezone, now))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CancelMeal)]
struct CancelBody {
    meal: Meal,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CancelledMeal)]
struct Cancelled {
    order_id: Uuid,
    date: NaiveDate,
    meal: Meal,
    status: OrderStatus,
}

/// A family member (or the resident's care staff) cancels a meal: before
/// the kitchen's cut-off on its day, not after, and never for a past day.
#[utoipa::path(post, path = "/residents/{id}/meal-orders/{date}/cancel",
    summary = "Cancel a meal of a day before the kitchen's cut-off (409 after it, or for a past day)",
    description = "Who may call it: linked family, admin, staff.",
    params(("id" = Uuid, Path), ("date" = NaiveDate, Path)), request_body = CancelBody,
    responses((status = 200, description = "success", body = Cancelled)))]
async fn cancel(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path((id, date)): Path<(Uuid, String)>,
    Json(body): Json<CancelBody>,
) -> Result<Json<Cancelled>> {
    let reached = auth.reach::<Meals>(&ctx, id).await?;
    let resident = reached.id();
    let reason = match auth.scope.role {
        Role::Family => OrderCancel::Family,
        _ if auth.scope.may_care() => OrderCancel::Staff,
        _ => return Err(Error::Forbidden("only family and care staff may cancel a meal")),
    };
    let date: NaiveDate = date.parse().map_err(|_| Error::validation("date", "date must be YYYY-MM-DD"))?;
    let now = Utc::now();
    let mut tx = ctx.pool.begin().await?;
    // A past day is settled whether or not a meal was ordered for it: 409,
    // never a 404 that reads as "try another way".
    if date < residents_today(&mut tx, resident, now).await? {
        return Err(Error::Conflict(format!("{date} is a past day; its meals can no longer be cancelled")));
    }
    let order = store::lock_order_of(&mut tx, &reached, date, body.meal).await?.ok_or(Error::NotFound)?;
    if order.status == OrderStatus::Cancelled {
        return Err(Error::Conflict("this meal is already cancelled".into()));
    }
    if order.status != OrderStatus::Planned {
        return Err(Error::Conflict(format!("this meal is already {}", order.status)));
    }
    let kitchen = store::kitchen_of_order(&mut tx, &reached, order.id).await?.ok_or(Error::NotFound)?;
    if kitchen.cutoff_passed(date, now) {
        return Err(Error::Conflict(format!(
            "the kitchen's cut-off ({} on the day, {}) has passed; the meal is being cooked",
            kitchen.cutoff.format("%H:%M"),
            kitchen.timezone
        )));
    }
    store::cancel_order(&mut tx, order.id, reason).await?;
    crate::audit::record(
        &mut tx,
        auth.actor(),
        "meal_order.cancelled",
        "meal_order",
        order.id,
        json!({"resident_id": resident, "date": date, "meal": body.meal, "reason": reason}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(Cancelled { order_id: order.id, date, meal: body.meal, status: OrderStatus::Cancelled }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct StatementQuery {
    #[param(schema_with = field::month)]
    month: Option<String>,
    #[param(nullable = false)]
    funding: Option<MealFunding>,
    #[param(schema_with = field::format)]
    format: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MealStatement)]
struct Statement {
    month: String,
    funding: MealFunding,
    residents: Vec<store::StatementLine>,
    total: Total,
}

#[derive(Debug, Default, Serialize, ToSchema)]
#[schema(as = MealStatementTotal)]
struct Total {
    meals: i64,
    amount: f64,
}

/// Meals delivered in a month (residents' own dates) for one funder, by the
/// prices the orders were made at; JSON or `&format=csv`.
#[utoipa::path(get, path = "/meal-statements",
    summary = "Meals delivered (handed over or left at the door) in a month (residents' local dates) for one funder, by the prices the orders were made at; &format=csv for text/csv",
    description = "Who may call it: admin.", params(StatementQuery),
    responses((status = 200, description = "success",
        content((Statement = "application/json"), (String = "text/csv")))))]
async fn statement(State(ctx): State<ApiContext>, auth: AuthUser, Query(q): Query<StatementQuery>) -> Result<Response> {
    auth.require_admin()?;
    let first = super::month_param("month", q.month.as_deref())?;
    let month = first.format("%Y-%m").to_string();
    let next =
        first.checked_add_months(Months::new(1)).ok_or_else(|| Error::validation("month", "month is out of range"))?;
    let funding = q.funding.ok_or_else(|| Error::validation("funding", "funding is required: subsidy or self_pay"))?;
    let csv = super::wants_csv(q.format.as_deref())?;
    let residents = store::statement(&ctx.pool, &auth.scope, first, next, funding).await?;
    let total = residents.iter().fold(Total::default(), |t, r| Total {
        meals: t.meals + r.meals,
        amount: ((t.amount + r.amount) * 100.0).round() / 100.0,
    });
    let statement = Statement { month, funding, residents, total };
    if csv {
        let mut out = String::from("resident_id,name,meals,amount\n");
        for r in &statement.residents {
            out.push_str(&format!("{},{},{},{:.2}\n", r.resident_id, csv_field(&r.name), r.meals, r.amount));
        }
        return Ok(super::csv_answer(out));
    }
    Ok(Json(statement).into_response())
}
