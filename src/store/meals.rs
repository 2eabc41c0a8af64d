//! Meal services: kitchens, meal plans, the daily orders made from them,
//! deliveries and the monthly meal statement. Who reaches what is the
//! scope's [`KitchenReach`]: an institution's care staff reach its kitchens
//! and orders, a kitchen user their one kitchen, nobody else any.

use crate::domain::scope::{AreaOf, Identity, KitchenReach, Meals as MealsArea, Monitoring, Reached};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::{PgConnection, PgPool, QueryBuilder};
use uuid::Uuid;

use crate::domain::Scope;
use crate::domain::care::Location;
use crate::domain::meal::{
    self, Cooked, Days, Delivery, Diet, Existing, Meal, MealFunding, MealPlan, ORDER_DAYS, OrderCancel, OrderStatus,
    Outcome, Suspension, Texture,
};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Kitchen {
    pub id: Uuid,
    pub name: String,
    #[sqlx(skip)]
    #[schema(schema_with = crate::domain::meal::schema::location_or_null, required = true)]
    pub location: Option<Location>,
    #[serde(skip)]
    pub lat: Option<f64>,
    #[serde(skip)]
    pub lon: Option<f64>,
    pub timezone: String,
    #[serde(serialize_with = "hh_mm")]
    #[schema(value_type = String)]
    pub cutoff: NaiveTime,
    #[schema(schema_with = crate::domain::meal::schema::prices)]
    pub prices: sqlx::types::Json<std::collections::BTreeMap<Meal, f64>>,
    pub created_at: DateTime<Utc>,
}

fn hh_mm<S: serde::Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.format("%H:%M").to_string())
}

impl Kitchen {
    fn located(mut self) -> Kitchen {
        self.location = self.lat.zip(self.lon).map(|(lat, lon)| Location { lat, lon });
        self
    }

    pub fn tz(&self) -> Tz {
        self.timezone.parse().unwrap_or(Tz::UTC)
    }

    /// Whether the cut-off for the orders of a date has passed at `now`.
    pub fn cutoff_passed(&self, date: NaiveDate, now: DateTime<Utc>) -> bool {
        now >= meal::cutoff_at(&self.tz(), date, self.cutoff)
    }
}

const KITCHEN_COLUMNS: &str = "k.id, k.name, k.lat, k.lon, k.timezone, k.cutoff, k.prices, k.created_at";

pub struct NewKitchen {
    pub name: String,
    pub location: Option<Location>,
    pub timezone: Option<String>,
    pub cutoff: NaiveTime,
    pub prices: std::collections::BTreeMap<Meal, f64>,
}

/// Creates a kitchen of `institution`, in the institution's timezone unless
/// told another.
pub async fn create_kitchen(conn: &mut PgConnection, scope: &Scope, new: &NewKitchen) -> Result<Kitchen, sqlx::Error> {
    let institution = scope.institution;
    let kitchen: Kitchen = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into kitchens as k (id, institution_id, name, lat, lon, timezone, cutoff, prices)
         select $1, i.id, $3, $4, $5, coalesce($6, i.timezone), $7, $8 from institutions i where i.id = $2
         returning {KITCHEN_COLUMNS}"
    )))
    .bind(Uuid::new_v4())
    .bind(institution)
    .bind(&new.name)
    .bind(new.location.map(|l| l.lat))
    .bind(new.location.map(|l| l.lon))
    .bind(&new.timezone)
    .bind(new.cutoff)
    .bind(sqlx::types::Json(&new.prices))
    .fetch_one(conn)
    .await?;
    Ok(kitchen.located())
}

/// The kitchens in reach, by name.
pub async fn list_kitchens(
    pool: &PgPool,
    reach: KitchenReach,
    limit: i64,
    after: Option<(String, Uuid)>,
) -> Result<Vec<Kitchen>, sqlx::Error> {
    let mut query = QueryBuilder::new(format!("select {KITCHEN_COLUMNS} from kitchens k where true"));
    reach.push_filter(&mut query, "k.institution_id", "k.id");
    if let Some((name, id)) = after {
        query.push(" and (k.name, k.id) > (").push_bind(name).push(", ").push_bind(id).push(")");
    }
    query.push(" order by k.name, k.id limit ").push_bind(limit + 1);
    let rows: Vec<Kitchen> = query.build_query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().map(Kitchen::located).collect())
}

/// A kitchen in reach.
pub async fn kitchen(pool: &PgPool, reach: KitchenReach, id: Uuid) -> Result<Option<Kitchen>, sqlx::Error> {
    let mut query = QueryBuilder::new(format!("select {KITCHEN_COLUMNS} from kitchens k where k.id = "));
    query.push_bind(id);
    reach.push_filter(&mut query, "k.institution_id", "k.id");
    let kitchen: Option<Kitchen> = query.build_query_as().fetch_optional(pool).await?;
    Ok(kitchen.map(Kitchen::located))
}

/// The kitchen cooking one of the resident's orders (for its cut-off).
pub async fn kitchen_of_order(
    conn: &mut PgConnection,
    resident: &Reached<MealsArea>,
    order: Uuid,
) -> Result<Option<Kitchen>, sqlx::Error> {
    let kitchen: Option<Kitchen> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {KITCHEN_COLUMNS} from kitchens k join meal_orders o on o.kitchen_id = k.id
         where o.id = $1 and o.resident_id = $2"
    )))
    .bind(order)
    .bind(resident.id())
    .fetch_optional(conn)
    .await?;
    Ok(kitchen.map(Kitchen::located))
}

/// Whether the kitchen may feed the resident: it is a kitchen of an
/// institution enrolled, in force, to serve the resident's meals.
pub async fn kitchen_serves<'c, A: AreaOf>(
    conn: impl sqlx::PgExecutor<'c>,
    resident: &Reached<A>,
    kitchen: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (select 1 from kitchens k join enrolments e on e.institution_id = k.institution_id
            where k.id = $1 and e.resident_id = $2 and e.services && $3
              and e.starts_at <= now() and (e.ends_at is null or e.ends_at > now()))",
    )
    .bind(kitchen)
    .bind(resident.id())
    .bind(crate::domain::scope::Area::Meals.services())
    .fetch_one(conn)
    .await
}

/// Whether a kitchen of the scope's institution exists (for a new kitchen user).
pub async fn kitchen_exists(pool: &PgPool, scope: &Scope, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists (select 1 from kitchens where id = $1 and institution_id = $2)")
        .bind(id)
        .bind(scope.institution)
        .fetch_one(pool)
        .await
}

#[derive(sqlx::FromRow)]
struct PlanRow {
    kitchen_id: Uuid,
    delivery: Delivery,
    days: sqlx::types::Json<Days>,
    diet: Vec<String>,
    texture: Texture,
    allergies: Vec<String>,
    funding: MealFunding,
    suspended_from: Option<NaiveDate>,
    suspended_until: Option<NaiveDate>,
    delivery_notes: Option<String>,
}

impl PlanRow {
    fn plan(self) -> MealPlan {
        MealPlan {
            kitchen_id: self.kitchen_id,
            delivery: self.delivery,
            days: self.days.0,
            diet: self.diet.iter().filter_map(|d| Diet::parse(d)).collect(),
            texture: self.texture,
            allergies: self.allergies,
            funding: self.funding,
            suspended: self.suspended_from.zip(self.suspended_until).map(|(from, until)| Suspension { from, until }),
            delivery_notes: self.delivery_notes,
        }
    }
}

const PLAN_COLUMNS: &str = "kitchen_id, delivery, days, diet, texture, allergies, funding, suspended_from,
    suspended_until, delivery_notes";

/// A resident's meal plan. Proof of any area: the family summary and FHIR
/// read it under their Monitoring gate, the meals API under Meals.
pub async fn plan<A: AreaOf>(conn: &mut PgConnection, resident: &Reached<A>) -> Result<Option<MealPlan>, sqlx::Error> {
    let resident = resident.id();
    let row: Option<PlanRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("select {PLAN_COLUMNS} from meal_plans where resident_id = $1")))
            .bind(resident)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(PlanRow::plan))
}

/// Replaces a resident's meal plan (the caller has checked the kitchen is
/// the resident's institution's), locking it against a concurrent change.
pub async fn save_plan(
    conn: &mut PgConnection,
    scope: &Scope,
    resident: &Reached<MealsArea>,
    plan: &MealPlan,
) -> Result<(), sqlx::Error> {
    let institution = scope.institution;
    let resident = resident.id();
    let diet: Vec<&str> = plan.diet.iter().map(Diet::as_str).collect();
    sqlx::query(
        "insert into meal_plans (resident_id, institution_id, kitchen_id, delivery, days, diet, texture, allergies,
                                 funding, suspended_from, suspended_until, delivery_notes)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         on conflict (resident_id) do update set kitchen_id = excluded.kitchen_id, delivery = excluded.delivery,
             days = excluded.days, diet = excluded.diet, texture = excluded.texture, allergies = excluded.allergies,
             funding = excluded.funding, suspended_from = excluded.suspended_from,
             suspended_until = excluded.suspended_until, delivery_notes = excluded.delivery_notes, updated_at = now()",
    )
    .bind(resident)
    .bind(institution)
    .bind(plan.kitchen_id)
    .bind(plan.delivery)
    .bind(sqlx::types::Json(&plan.days))
    .bind(diet)
    .bind(plan.texture)
    .bind(&plan.allergies)
    .bind(plan.funding)
    .bind(plan.suspended.map(|s| s.from))
    .bind(plan.suspended.map(|s| s.until))
    .bind(&plan.delivery_notes)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends a resident's meal plan; whether there was one. Proof of any area:
/// a status change (Identity) and an erasure end it too.
pub async fn delete_plan<A: AreaOf>(conn: &mut PgConnection, resident: &Reached<A>) -> Result<bool, sqlx::Error> {
    let resident = resident.id();
    let done = sqlx::query("delete from meal_plans where resident_id = $1").bind(resident).execute(conn).await?;
    Ok(done.rows_affected() > 0)
}

/// What syncing a resident's orders did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = SyncedOrders)]
pub struct Synced {
    pub created: usize,
    pub updated: usize,
    pub restored: usize,
    pub cancelled: usize,
}

/// Brings a resident's orders for today and the next two days (their local
/// dates) in step with their plan, by the kitchen's cut-off (see
/// [`meal::reconcile`]). Run when a plan is saved or ended, and by the
/// scheduler each day for the day after next. The resident's row is locked,
/// so two syncs never race. Proof of any area: a status change and an
/// erasure resync them too.
pub async fn sync_orders<A: AreaOf>(
    conn: &mut PgConnection,
    resident: &Reached<A>,
    now: DateTime<Utc>,
) -> Result<Synced, sqlx::Error> {
    let (reached, resident) = (resident, resident.id());
    let Some((institution, timezone)): Option<(Uuid, String)> =
        sqlx::query_as("select institution_id, timezone from residents where id = $1 for update")
            .bind(resident)
            .fetch_optional(&mut *conn)
            .await?
    else {
        return Ok(Synced::default());
    };
    let tz: Tz = timezone.parse().unwrap_or(Tz::UTC);
    let today = now.with_timezone(&tz).date_naive();
    let dates: Vec<NaiveDate> = (0..ORDER_DAYS).map(|d| today + Duration::days(d)).collect();
    // A plan naming a kitchen whose institution no longer serves her meals
    // (its enrolment ended) orders nothing more.
    let plan = match plan(conn, reached).await? {
        Some(plan) if kitchen_serves(&mut *conn, reached, plan.kitchen_id).await? => Some(plan),
        _ => None,
    };
    let existing: Vec<(Uuid, NaiveDate, Meal, OrderStatus, Option<OrderCancel>, Uuid)> = sqlx::query_as(
        "select id, date, meal, status, cancel_reason, kitchen_id from meal_orders
         where resident_id = $1 and date >= $2 and date <= $3",
    )
    .bind(resident)
    .bind(dates[0])
    .bind(dates[dates.len() - 1])
    .fetch_all(&mut *conn)
    .await?;
    // The cut-off of a day is its order's kitchen's, or the plan's kitchen's.
    let mut kitchens: std::collections::HashMap<Uuid, Kitchen> = std::collections::HashMap::new();
    let wanted_kitchen = plan.as_ref().map(|p| p.kitchen_id);
    for id in existing.iter().map(|e| e.5).chain(wanted_kitchen) {
        if let std::collections::hash_map::Entry::Vacant(slot) = kitchens.entry(id) {
            let k: Option<Kitchen> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "select {KITCHEN_COLUMNS} from kitchens k where k.id = $1"
            )))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(k) = k {
                slot.insert(k.located());
            }
        }
    }
    let day_kitchen = |date: NaiveDate| {
        existing.iter().find(|e| e.1 == date).map(|e| e.5).or(wanted_kitchen).and_then(|id| kitchens.get(&id))
    };
    let orders: Vec<Existing> = existing
        .iter()
        .map(|(id, date, meal, status, reason, _)| Existing {
            id: *id,
            date: *date,
            meal: *meal,
            status: *status,
            cancel_reason: *reason,
        })
        .collect();
    let periods = crate::store::status::periods(conn, &reached.identity()).await?;
    let decided = meal::reconcile(
        plan.as_ref(),
        &dates,
        &orders,
        |date| day_kitchen(date).is_some_and(|k| k.cutoff_passed(date, now)),
        |date| !crate::domain::status::present_on(&periods, tz, date),
    );
    let mut synced = Synced::default();
    if let Some(plan) = &plan {
        let kitchen = kitchens.get(&plan.kitchen_id);
        let kitchen_institution: Option<Uuid> = sqlx::query_scalar("select institution_id from kitchens where id = $1")
            .bind(plan.kitchen_id)
            .fetch_optional(&mut *conn)
            .await?;
        let diet: Vec<&str> = plan.diet.iter().map(Diet::as_str).collect();
        for (date, meal, late) in &decided.create {
            let price = kitchen.and_then(|k| k.prices.0.get(meal).copied()).unwrap_or(0.0);
            sqlx::query(
                "insert into meal_orders (id, institution_id, kitchen_id, resident_id, date, meal, diet, texture,
                                          allergies, delivery, funding, price, late)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                 on conflict (resident_id, date, meal) do nothing",
            )
            .bind(Uuid::new_v4())
            // The order is the delivering institution's: its kitchen's.
            .bind(kitchen_institution.unwrap_or(institution))
            .bind(plan.kitchen_id)
            .bind(resident)
            .bind(date)
            .bind(meal)
            .bind(&diet)
            .bind(plan.texture)
            .bind(&plan.allergies)
            .bind(plan.delivery)
            .bind(plan.funding)
            .bind(price)
            .bind(late)
            .execute(&mut *conn)
            .await?;
            synced.created += 1;
        }
        let updates: Vec<Uuid> = decided.update.clone();
        let restores: Vec<(Uuid, bool)> = decided.restore.clone();
        for (id, late) in
            updates.iter().map(|id| (*id, None)).chain(restores.iter().map(|(id, late)| (*id, Some(*late))))
        {
            let price: f64 = sqlx::query_scalar("select meal from meal_orders where id = $1")
                .bind(id)
                .fetch_one(&mut *conn)
                .await
                .map(|m: Meal| kitchen.and_then(|k| k.prices.0.get(&m).copied()).unwrap_or(0.0))?;
            sqlx::query(
                "update meal_orders set kitchen_id = $2, diet = $3, texture = $4, allergies = $5, delivery = $6,
                        funding = $7, price = $8, status = 'planned', cancel_reason = null,
                        late = coalesce($9, late), updated_at = now()
                 where id = $1",
            )
            .bind(id)
            .bind(plan.kitchen_id)
            .bind(&diet)
            .bind(plan.texture)
            .bind(&plan.allergies)
            .bind(plan.delivery)
            .bind(plan.funding)
            .bind(price)
            .bind(late)
            .execute(&mut *conn)
            .await?;
        }
        synced.updated = updates.len();
        synced.restored = restores.len();
    }
    for (id, reason) in &decided.cancel {
        sqlx::query(
            "update meal_orders set status = 'cancelled', cancel_reason = $2, updated_at = now()
             where id = $1 and status = 'planned'",
        )
        .bind(id)
        .bind(reason)
        .execute(&mut *conn)
        .await?;
    }
    synced.cancelled = decided.cancel.len();
    sqlx::query("update meal_plans set synced_through = $2 where resident_id = $1")
        .bind(resident)
        .bind(dates[dates.len() - 1])
        .execute(&mut *conn)
        .await?;
    Ok(synced)
}

/// The daily run: every plan whose orders do not yet reach the day after
/// next (resident's local date), synced in its own transaction. Returns how
/// many plans were synced.
pub async fn sync_due(pool: &PgPool, now: DateTime<Utc>) -> Result<usize, sqlx::Error> {
    let due: Vec<Uuid> = sqlx::query_scalar(
        "select p.resident_id from meal_plans p join residents r on r.id = p.resident_id
         where p.synced_through is null or p.synced_through < ($1 at time zone r.timezone)::date + $2::int
         limit 1000",
    )
    .bind(now)
    .bind((ORDER_DAYS - 1) as i32)
    .fetch_all(pool)
    .await?;
    for resident in &due {
        let mut tx = pool.begin().await?;
        sync_orders(&mut tx, &Reached::<MealsArea>::for_the_platform(*resident), now).await?;
        tx.commit().await?;
    }
    Ok(due.len())
}

/// One order as the API lists it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = MealOrder)]
pub struct Order {
    pub id: Uuid,
    pub resident_id: Uuid,
    pub resident_name: String,
    pub kitchen_id: Uuid,
    pub date: NaiveDate,
    pub meal: Meal,
    pub diet: Vec<String>,
    pub texture: Texture,
    pub allergies: Vec<String>,
    pub delivery: Delivery,
    pub status: OrderStatus,
    pub late: bool,
    #[schema(required = true)]
    pub cancel_reason: Option<OrderCancel>,
    #[schema(required = true)]
    pub outcome: Option<Outcome>,
    #[schema(required = true)]
    pub outcome_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub alert_id: Option<Uuid>,
}

const ORDER_COLUMNS: &str = "o.id, o.resident_id, r.name as resident_name, o.kitchen_id, o.date, o.meal, o.diet,
    o.texture, o.allergies, o.delivery, o.status, o.late, o.cancel_reason, o.outcome, o.outcome_at, o.alert_id";

#[derive(Debug, Default)]
pub struct OrderFilter {
    pub date: Option<NaiveDate>,
    pub kitchen_id: Option<Uuid>,
    pub meal: Option<Meal>,
    pub resident_id: Option<Uuid>,
    pub status: Option<OrderStatus>,
}

/// Whether the order is in reach.
pub async fn order_in_reach(pool: &PgPool, reach: KitchenReach, id: Uuid) -> Result<bool, sqlx::Error> {
    let mut query = QueryBuilder::new("select exists (select 1 from meal_orders o where o.id = ");
    query.push_bind(id);
    reach.push_filter(&mut query, "o.institution_id", "o.kitchen_id");
    query.push(")");
    query.build_query_scalar().fetch_one(pool).await
}

/// Orders in reach, by date, meal, resident name; paged after `(date, meal
/// rank, name, id)` of the last row.
pub async fn list_orders(
    pool: &PgPool,
    reach: KitchenReach,
    filter: &OrderFilter,
    limit: i64,
    after: Option<Uuid>,
) -> Result<Vec<Order>, sqlx::Error> {
    let mut query = QueryBuilder::new(format!(
        "select {ORDER_COLUMNS} from meal_orders o join residents r on r.id = o.resident_id where true"
    ));
    reach.push_filter(&mut query, "o.institution_id", "o.kitchen_id");
    if let Some(date) = filter.date {
        query.push(" and o.date = ").push_bind(date);
    }
    if let Some(kitchen) = filter.kitchen_id {
        query.push(" and o.kitchen_id = ").push_bind(kitchen);
    }
    if let Some(meal) = filter.meal {
        query.push(" and o.meal = ").push_bind(meal);
    }
    if let Some(resident) = filter.resident_id {
        query.push(" and o.resident_id = ").push_bind(resident);
    }
    if let Some(status) = filter.status {
        query.push(" and o.status = ").push_bind(status);
    }
    const KEY: &str = "(o.date, array_position(array['breakfast','lunch','dinner'], o.meal), r.name, o.id)";
    if let Some(after) = after {
        query.push(format!(
            " and {KEY} > (select o2.date, array_position(array['breakfast','lunch','dinner'], o2.meal), r2.name, o2.id
                   from meal_orders o2 join residents r2 on r2.id = o2.resident_id where o2.id = "
        ));
        query.push_bind(after).push(")");
    }
    query.push(format!(" order by {KEY} limit ")).push_bind(limit + 1);
    query.build_query_as().fetch_all(pool).await
}

/// The day's orders of one resident (for the family's daily summary).
pub async fn orders_of_resident_on(
    pool: &PgPool,
    resident: &Reached<Monitoring>,
    date: NaiveDate,
) -> Result<Vec<Order>, sqlx::Error> {
    let resident = resident.id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {ORDER_COLUMNS} from meal_orders o join residents r on r.id = o.resident_id
         where o.resident_id = $1 and o.date = $2
         order by array_position(array['breakfast','lunch','dinner'], o.meal)"
    )))
    .bind(resident)
    .bind(date)
    .fetch_all(pool)
    .await
}

/// One of a resident's orders from a day on, with its kitchen's cut-off
/// (its timezone and time of day): what her family may still cancel.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Ahead {
    pub date: NaiveDate,
    pub meal: Meal,
    pub status: OrderStatus,
    pub cancel_reason: Option<OrderCancel>,
    pub timezone: String,
    pub cutoff: NaiveTime,
}

impl Ahead {
    /// The instant the cut-off for this order passes.
    pub fn cancel_by(&self) -> DateTime<Utc> {
        meal::cutoff_at(&self.timezone.parse().unwrap_or(Tz::UTC), self.date, self.cutoff)
    }
}

/// A resident's orders from `from` (her local date) on, by day and meal.
pub async fn orders_ahead(
    conn: &mut PgConnection,
    resident: &Reached<MealsArea>,
    from: NaiveDate,
) -> Result<Vec<Ahead>, sqlx::Error> {
    sqlx::query_as(
        "select o.date, o.meal, o.status, o.cancel_reason, k.timezone, k.cutoff
         from meal_orders o join kitchens k on k.id = o.kitchen_id
         where o.resident_id = $1 and o.date >= $2
         order by o.date, array_position(array['breakfast','lunch','dinner'], o.meal)",
    )
    .bind(resident.id())
    .bind(from)
    .fetch_all(conn)
    .await
}

/// What the kitchen cooks on a day: every order not cancelled.
pub async fn cooked(pool: &PgPool, kitchen: Uuid, date: NaiveDate) -> Result<Vec<Cooked>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        resident_id: Uuid,
        meal: Meal,
        diet: Vec<String>,
        texture: Texture,
        allergies: Vec<String>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "select resident_id, meal, diet, texture, allergies from meal_orders
         where kitchen_id = $1 and date = $2 and status <> 'cancelled' order by resident_id",
    )
    .bind(kitchen)
    .bind(date)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Cooked {
            resident_id: r.resident_id,
            meal: r.meal,
            diet: r.diet.iter().filter_map(|d| Diet::parse(d)).collect(),
            texture: r.texture,
            allergies: r.allergies,
        })
        .collect())
}

/// A home delivery of a round: the order, where to bring it, and what the
/// courier needs to know — nothing else of the resident.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RoundStop {
    pub order_id: Uuid,
    pub resident_id: Uuid,
    pub name: String,
    #[schema(required = true)]
    pub address: Option<String>,
    #[sqlx(skip)]
    #[schema(schema_with = crate::domain::meal::schema::location_or_null, required = true)]
    pub location: Option<Location>,
    #[serde(skip)]
    pub lat: Option<f64>,
    #[serde(skip)]
    pub lon: Option<f64>,
    #[schema(required = true)]
    pub delivery_notes: Option<String>,
    pub diet: Vec<String>,
    pub texture: Texture,
    pub allergies: Vec<String>,
    pub status: OrderStatus,
}

/// The home deliveries of a kitchen's meal on a day, not cancelled, in
/// route order.
pub async fn round(
    pool: &PgPool,
    kitchen: &Kitchen,
    date: NaiveDate,
    meal: Meal,
) -> Result<Vec<RoundStop>, sqlx::Error> {
    let rows: Vec<RoundStop> = sqlx::query_as(
        "select o.id as order_id, o.resident_id, r.name, r.address, r.lat, r.lon, p.delivery_notes, o.diet,
                o.texture, o.allergies, o.status
         from meal_orders o join residents r on r.id = o.resident_id
         left join meal_plans p on p.resident_id = o.resident_id
         where o.kitchen_id = $1 and o.date = $2 and o.meal = $3 and o.delivery = 'home' and o.status <> 'cancelled'
         order by o.id",
    )
    .bind(kitchen.id)
    .bind(date)
    .bind(meal)
    .fetch_all(pool)
    .await?;
    let mut rows: Vec<RoundStop> = rows
        .into_iter()
        .map(|mut s| {
            s.location = s.lat.zip(s.lon).map(|(lat, lon)| Location { lat, lon });
            s
        })
        .collect();
    let stops: Vec<meal::Stop> =
        rows.iter().map(|s| meal::Stop { location: s.location, address: s.address.clone() }).collect();
    let order = meal::route(kitchen.location.as_ref(), &stops);
    let mut slots: Vec<Option<RoundStop>> = rows.drain(..).map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

/// An order as a delivery or a cancellation needs it, locked.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Locked {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub kitchen_id: Uuid,
    pub resident_id: Uuid,
    pub date: NaiveDate,
    pub meal: Meal,
    pub status: OrderStatus,
    pub outcome: Option<Outcome>,
    pub alert_id: Option<Uuid>,
}

const LOCKED_COLUMNS: &str =
    "o.id, o.institution_id, o.kitchen_id, o.resident_id, o.date, o.meal, o.status, o.outcome, o.alert_id";

/// An order in reach, locked until the transaction ends.
pub async fn lock_order(conn: &mut PgConnection, reach: KitchenReach, id: Uuid) -> Result<Option<Locked>, sqlx::Error> {
    let mut query = QueryBuilder::new(format!("select {LOCKED_COLUMNS} from meal_orders o where o.id = "));
    query.push_bind(id);
    reach.push_filter(&mut query, "o.institution_id", "o.kitchen_id");
    query.push(" for update");
    query.build_query_as().fetch_optional(conn).await
}

/// A resident's order of a date and meal, locked.
pub async fn lock_order_of(
    conn: &mut PgConnection,
    resident: &Reached<MealsArea>,
    date: NaiveDate,
    meal: Meal,
) -> Result<Option<Locked>, sqlx::Error> {
    let resident = resident.id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {LOCKED_COLUMNS} from meal_orders o where o.resident_id = $1 and o.date = $2 and o.meal = $3 for update"
    )))
    .bind(resident)
    .bind(date)
    .bind(meal)
    .fetch_optional(conn)
    .await
}

/// Records the courier's outcome on an order.
pub async fn record_outcome(
    conn: &mut PgConnection,
    id: Uuid,
    outcome: Outcome,
    by: Uuid,
    at: DateTime<Utc>,
    location: Option<Location>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update meal_orders set status = $2, outcome = $3, outcome_at = $4, outcome_by = $5, outcome_lat = $6,
                outcome_lon = $7, updated_at = now()
         where id = $1",
    )
    .bind(id)
    .bind(outcome.status())
    .bind(outcome)
    .bind(at)
    .bind(by)
    .bind(location.map(|l| l.lat))
    .bind(location.map(|l| l.lon))
    .execute(&mut *conn)
    .await?;
    // A meal delivered is billable: priced now, once.
    if outcome.status() == OrderStatus::Delivered {
        super::billing::price_meal(conn, id).await?;
    }
    Ok(())
}

pub async fn link_alert(conn: &mut PgConnection, id: Uuid, alert: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("update meal_orders set alert_id = $2 where id = $1").bind(id).bind(alert).execute(conn).await?;
    Ok(())
}

/// The device id under which the meal service's own events are stored: a
/// meal handed over is an event of the resident, like a smart tray's.
pub fn service_device(kitchen: Uuid) -> String {
    format!("meal-service:{kitchen}")
}

/// Stores a meal handed over as the resident's `meal_served` event, the
/// evidence the missed-meal rule and the daily summary read (through the
/// one meal-evidence function they share).
pub async fn record_meal_served(conn: &mut PgConnection, order: &Locked, at: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into events (ts, device_id, resident_id, kind, data)
         values ($1, $2, $3, 'meal_served', $4) on conflict do nothing",
    )
    .bind(at)
    .bind(service_device(order.kitchen_id))
    .bind(order.resident_id)
    .bind(serde_json::json!({"source": "meal_delivery", "order_id": order.id, "meal": order.meal}))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn cancel_order(conn: &mut PgConnection, id: Uuid, reason: OrderCancel) -> Result<(), sqlx::Error> {
    sqlx::query("update meal_orders set status = 'cancelled', cancel_reason = $2, updated_at = now() where id = $1")
        .bind(id)
        .bind(reason)
        .execute(conn)
        .await?;
    Ok(())
}

/// One resident's line of the monthly meal statement.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = MealStatementLine)]
pub struct StatementLine {
    pub resident_id: Uuid,
    pub name: String,
    pub meals: i64,
    pub amount: f64,
}

/// Meals delivered (handed over or left at the door) in a month of the
/// residents' own dates, per resident, with their amount by the prices the
/// orders were made at.
pub async fn statement(
    pool: &PgPool,
    scope: &Scope,
    from: NaiveDate,
    until: NaiveDate,
    funding: MealFunding,
) -> Result<Vec<StatementLine>, sqlx::Error> {
    let institution = scope.institution;
    sqlx::query_as(
        "select o.resident_id, r.name, count(*) as meals, round(sum(o.price)::numeric, 2)::float8 as amount
         from meal_orders o join residents r on r.id = o.resident_id
         where o.institution_id = $1 and o.date >= $2 and o.date < $3 and o.funding = $4 and o.status = 'delivered'
         group by o.resident_id, r.name order by r.name, o.resident_id",
    )
    .bind(institution)
    .bind(from)
    .bind(until)
    .bind(funding)
    .fetch_all(pool)
    .await
}

/// The resident's time zone, as named in their record.
pub async fn resident_timezone(conn: &mut PgConnection, resident: Uuid) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("select timezone from residents where id = $1").bind(resident).fetch_one(conn).await
}

/// Today where she lives: the day her entitlements, quotes and respite year
/// are counted in (an entitlement starts on the day of its decision there).
pub async fn resident_today(
    conn: &mut PgConnection,
    resident: &Reached<Identity>,
) -> Result<chrono::NaiveDate, sqlx::Error> {
    let zone = resident_timezone(conn, resident.id()).await?;
    Ok(crate::domain::care::local_date(&zone, chrono::Utc::now()))
}
