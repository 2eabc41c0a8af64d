//! What an institution offers and authorises: the service catalogue, care
//! plans, the tags fixed in residents' homes.

use crate::domain::scope::{AreaOf, Care, Reached};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::residents::Home;
use crate::domain::Scope;
use crate::domain::care::{Category, Funding, PlanItem, TagKind, Unit};

#[derive(Debug, Clone, Serialize, Default, serde::Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = CareService)]
pub struct Service {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub category: Category,
    pub duration_minutes: i32,
    pub unit: Unit,
    pub unit_price: f64,
    pub currency: String,
    pub funding: Vec<Funding>,
    pub evv_required: bool,
    pub tasks: Vec<Task>,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct ServiceRow {
    id: Uuid,
    code: String,
    name: String,
    category: Category,
    duration_minutes: i32,
    unit: Unit,
    unit_price: f64,
    currency: String,
    funding: Vec<String>,
    evv_required: bool,
    tasks: sqlx::types::Json<Vec<Task>>,
    created_at: DateTime<Utc>,
}

impl From<ServiceRow> for Service {
    fn from(r: ServiceRow) -> Self {
        Service {
            id: r.id,
            code: r.code,
            name: r.name,
            category: r.category,
            duration_minutes: r.duration_minutes,
            unit: r.unit,
            unit_price: r.unit_price,
            currency: r.currency,
            funding: r.funding.iter().filter_map(|f| Funding::parse(f)).collect(),
            evv_required: r.evv_required,
            tasks: r.tasks.0,
            created_at: r.created_at,
        }
    }
}

const SERVICE_COLUMNS: &str =
    "id, code, name, category, duration_minutes, unit, unit_price, currency, funding, evv_required, tasks, created_at";

/// A service to add to the scope's catalogue.
pub struct NewService {
    pub code: String,
    pub name: String,
    pub category: Category,
    pub duration_minutes: i32,
    pub unit: Unit,
    pub unit_price: f64,
    pub currency: String,
    pub funding: Vec<Funding>,
    pub evv_required: bool,
    pub tasks: Vec<Task>,
}

/// Adds a service to the institution's catalogue. Fails on
/// `services_code_key` when the code is taken.
pub async fn create_service(tx: &mut PgConnection, scope: &Scope, new: NewService) -> Result<Service, sqlx::Error> {
    let institution = scope.institution;
    let funding: Vec<&str> = new.funding.iter().map(|f| f.as_str()).collect();
    let row: ServiceRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into services (id, institution_id, code, name, category, duration_minutes, unit, unit_price, currency,
                               funding, evv_required, tasks)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) returning {SERVICE_COLUMNS}"
    )))
    .bind(Uuid::new_v4())
    .bind(institution)
    .bind(&new.code)
    .bind(&new.name)
    .bind(new.category)
    .bind(new.duration_minutes)
    .bind(new.unit)
    .bind(new.unit_price)
    .bind(&new.currency)
    .bind(&funding)
    .bind(new.evv_required)
    .bind(sqlx::types::Json(&new.tasks))
    .fetch_one(tx)
    .await?;
    Ok(row.into())
}

/// The scope's institution's catalogue, by code.
pub async fn services(pool: &PgPool, scope: &Scope) -> Result<Vec<Service>, sqlx::Error> {
    let rows: Vec<ServiceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {SERVICE_COLUMNS} from services where institution_id = $1 order by code"
    )))
    .bind(scope.institution)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Service::from).collect())
}

/// How each service of an institution is priced, by id.
pub async fn prices(pool: &PgPool, scope: &Scope) -> Result<Vec<(Uuid, Unit, f64)>, sqlx::Error> {
    let institution = scope.institution;
    sqlx::query_as("select id, unit, unit_price from services where institution_id = $1")
        .bind(institution)
        .fetch_all(pool)
        .await
}

/// One service of the caller's institution, by code.
pub async fn service(conn: &mut PgConnection, scope: &Scope, code: &str) -> Result<Option<Service>, sqlx::Error> {
    service_of(conn, scope.institution, code).await
}

/// One service of a reached resident's home institution, by code.
pub async fn service_at(conn: &mut PgConnection, home: &Home, code: &str) -> Result<Option<Service>, sqlx::Error> {
    service_of(conn, Some(home.institution()), code).await
}

async fn service_of(
    conn: &mut PgConnection,
    institution: Option<Uuid>,
    code: &str,
) -> Result<Option<Service>, sqlx::Error> {
    let row: Option<ServiceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {SERVICE_COLUMNS} from services where institution_id = $1 and code = $2"
    )))
    .bind(institution)
    .bind(code)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Service::from))
}

/// A resident's care plan as last put.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CarePlan {
    pub resident_id: Uuid,
    pub items: Vec<PlanItem>,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<Uuid>,
}

/// The resident's plan; an empty one when none was put. Any area's proof
/// will do: FHIR reads it under its Monitoring gate (`store::fhir::patient`).
pub async fn plan<A: AreaOf>(conn: &mut PgConnection, resident_id: &Reached<A>) -> Result<CarePlan, sqlx::Error> {
    let resident_id = resident_id.id();
    #[derive(sqlx::FromRow)]
    struct Row {
        items: sqlx::types::Json<Vec<PlanItem>>,
        updated_at: DateTime<Utc>,
        updated_by: Option<Uuid>,
    }
    let row: Option<Row> =
        sqlx::query_as("select items, updated_at, updated_by from care_plans where resident_id = $1")
            .bind(resident_id)
            .fetch_optional(conn)
            .await?;
    Ok(match row {
        Some(r) => CarePlan { resident_id, items: r.items.0, updated_at: Some(r.updated_at), updated_by: r.updated_by },
        None => CarePlan { resident_id, items: vec![], updated_at: None, updated_by: None },
    })
}

/// Replaces the resident's plan. Proof of any area: a resident's death
/// (a status change, Identity) ends it too.
pub async fn put_plan<A: AreaOf>(
    tx: &mut PgConnection,
    scope: &Scope,
    resident_id: &Reached<A>,
    items: &[PlanItem],
    by: Uuid,
) -> Result<CarePlan, sqlx::Error> {
    let (reached, resident_id) = (resident_id, resident_id.id());
    sqlx::query(
        "insert into care_plans (resident_id, institution_id, items, updated_by) values ($1, $2, $3, $4)
         on conflict (resident_id) do update set items = excluded.items, updated_by = excluded.updated_by,
             updated_at = now()",
    )
    .bind(resident_id)
    .bind(scope.institution)
    .bind(sqlx::types::Json(items))
    .bind(by)
    .execute(&mut *tx)
    .await?;
    plan(tx, reached).await
}

/// The residents with a plan of at least one item, of every institution.
pub async fn planned_residents(pool: &PgPool) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select resident_id from care_plans where jsonb_array_length(items) > 0").fetch_all(pool).await
}

/// The hours a resident's plan authorises a month, per funder.
pub fn authorised_hours(items: &[PlanItem], funding: Funding) -> Option<f64> {
    let hours: Vec<f64> = items.iter().filter(|i| i.funding == funding).filter_map(|i| i.hours_per_month).collect();
    (!hours.is_empty()).then(|| hours.iter().sum())
}

/// Registers a tag in a resident's home. Fails on `resident_tags_pkey` when
/// it is registered already.
pub async fn add_tag(
    tx: &mut PgConnection,
    resident_id: &Reached<Care>,
    tag: &str,
    kind: TagKind,
) -> Result<(), sqlx::Error> {
    let resident_id = resident_id.id();
    sqlx::query("insert into resident_tags (resident_id, tag, kind) values ($1, $2, $3)")
        .bind(resident_id)
        .bind(tag)
        .bind(kind)
        .execute(tx)
        .await
        .map(drop)
}

/// Whether a tag of this kind is registered in the resident's home.
pub async fn has_tag(
    conn: &mut PgConnection,
    resident_id: Uuid,
    tag: &str,
    kind: TagKind,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists (select 1 from resident_tags where resident_id = $1 and tag = $2 and kind = $3)")
        .bind(resident_id)
        .bind(tag)
        .bind(kind)
        .fetch_one(conn)
        .await
}

/// Plans as statements read them: each resident's items, for the
/// institution's residents with a plan.
pub async fn plans_of(pool: &PgPool, scope: &Scope) -> Result<Vec<(Uuid, Vec<PlanItem>)>, sqlx::Error> {
    let institution = scope.institution;
    let rows: Vec<(Uuid, Value)> =
        sqlx::query_as("select resident_id, items from care_plans where institution_id = $1")
            .bind(institution)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().filter_map(|(id, items)| Some((id, serde_json::from_value(items).ok()?))).collect())
}
