//! Institutions: the tenants of the platform, created and placed in a region
//! by the operator.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, QueryBuilder};
use uuid::Uuid;

use crate::domain::{InstitutionKind, Scope};

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Institution {
    pub id: Uuid,
    pub name: String,
    pub kind: InstitutionKind,
    /// `None` until the operator places the institution in a region.
    #[schema(required = true)]
    pub region: Option<String>,
    pub timezone: String,
    /// Where it is: a division code; `null` until the operator places it.
    #[schema(required = true)]
    pub division: Option<String>,
    /// The divisions it serves.
    pub service_area: Vec<String>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "i.id, i.name, i.kind, i.region, i.timezone, i.division, i.service_area, i.created_at";

pub struct NewInstitution<'a> {
    pub name: &'a str,
    pub kind: InstitutionKind,
    pub region: Option<&'a str>,
    pub timezone: &'a str,
}

pub async fn create(tx: &mut PgConnection, new: NewInstitution<'_>) -> Result<Institution, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into institutions as i (id, name, kind, region, timezone) values ($1, $2, $3, $4, $5)
         returning {COLUMNS}"
    )))
    .bind(Uuid::new_v4())
    .bind(new.name)
    .bind(new.kind)
    .bind(new.region)
    .bind(new.timezone)
    .fetch_one(tx)
    .await
}

/// The institutions `scope` sees, by name, after the one named `after`
/// (the previous page's last).
pub async fn list(
    pool: &PgPool,
    scope: &Scope,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Institution>, sqlx::Error> {
    let mut query = QueryBuilder::new(format!("select {COLUMNS} from institutions i where true"));
    scope.push_institutions_filter(&mut query);
    if let Some(after) = after {
        query.push(" and (i.name, i.id) > (select c.name, c.id from institutions c where c.id = ").push_bind(after);
        query.push(")");
    }
    query.push(" order by i.name, i.id limit ").push_bind(limit);
    query.build_query_as().fetch_all(pool).await
}

/// Whether `scope` sees the institution.
pub async fn visible(pool: &PgPool, scope: &Scope, id: Uuid) -> Result<bool, sqlx::Error> {
    let mut query = QueryBuilder::new("select exists (select 1 from institutions i where i.id = ");
    query.push_bind(id);
    scope.push_institutions_filter(&mut query);
    query.push(")");
    query.build_query_scalar().fetch_one(pool).await
}

/// The kind and division of an institution `scope` sees.
pub async fn kind(
    pool: &PgPool,
    scope: &Scope,
    id: Uuid,
) -> Result<Option<(InstitutionKind, Option<String>)>, sqlx::Error> {
    let mut query = QueryBuilder::new("select i.kind, i.division from institutions i where i.id = ");
    query.push_bind(id);
    scope.push_institutions_filter(&mut query);
    query.build_query_as().fetch_optional(pool).await
}

/// A change to an institution: `None` leaves a field alone; `Some(None)`
/// takes the institution out of its region.
pub struct InstitutionChange {
    pub name: Option<String>,
    pub region: Option<Option<String>>,
    pub division: Option<Option<String>>,
    pub service_area: Option<Vec<String>>,
}

/// Changes an institution; `None` when there is no such institution.
pub async fn update(
    tx: &mut PgConnection,
    id: Uuid,
    change: InstitutionChange,
) -> Result<Option<Institution>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update institutions i set
            name = coalesce($2, i.name),
            region = case when $3 then $4 else i.region end,
            division = case when $5 then $6 else i.division end,
            service_area = coalesce($7, i.service_area)
         where i.id = $1 returning {COLUMNS}"
    )))
    .bind(id)
    .bind(change.name)
    .bind(change.region.is_some())
    .bind(change.region.flatten())
    .bind(change.division.is_some())
    .bind(change.division.flatten())
    .bind(change.service_area)
    .fetch_optional(tx)
    .await
}

/// Whether the institution exists, locked until the transaction ends so
/// that nothing is added to one being changed.
pub async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let found: Option<Uuid> =
        sqlx::query_scalar("select id from institutions where id = $1 for share").bind(id).fetch_optional(tx).await?;
    Ok(found.is_some())
}

/// Every institution's id.
pub async fn ids(pool: &PgPool) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select id from institutions").fetch_all(pool).await
}
