//! Divisions: the district's administrative ladder, created by the operator
//! from the official codes. Any logged-in user may read it (it names
//! places, not people).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::domain::division::{Code, Level};

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Division {
    pub code: String,
    pub name: String,
    pub level: Level,
    /// The division it sits in; `null` for a district.
    pub parent: Option<String>,
    /// A GeoJSON `Polygon` or `MultiPolygon`, once the operator has set one.
    #[schema(value_type = Option<Object>)]
    pub boundary: Option<Value>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "code, name, level, parent, boundary, created_at";

/// Why a division was not created.
#[derive(Debug)]
pub enum Refused {
    /// The division it would sit in does not exist.
    NoParent,
    /// A division of this code exists.
    Exists,
    Db(sqlx::Error),
}

pub async fn create(tx: &mut PgConnection, code: &Code, name: &str) -> Result<Division, Refused> {
    let level = code.level().expect("a parsed code has a level");
    let parent = code.parent();
    if let Some(parent) = &parent {
        let found: Option<String> = sqlx::query_scalar("select code from divisions where code = $1 for key share")
            .bind(parent.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(Refused::Db)?;
        if found.is_none() {
            return Err(Refused::NoParent);
        }
    }
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into divisions (code, name, level, parent) values ($1, $2, $3, $4)
         on conflict (code) do nothing returning {COLUMNS}"
    )))
    .bind(code.as_str())
    .bind(name)
    .bind(level)
    .bind(parent.as_ref().map(Code::as_str))
    .fetch_optional(&mut *tx)
    .await
    .map_err(Refused::Db)?
    .ok_or(Refused::Exists)
}

/// The direct children of `parent` (the districts for `None`), by code,
/// after `after`.
pub async fn children(
    pool: &PgPool,
    parent: Option<&Code>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Division>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from divisions
         where parent is not distinct from $1 and ($2::text is null or code > $2)
         order by code limit $3"
    )))
    .bind(parent.map(Code::as_str))
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// One division, if there is one of this code.
pub async fn get(pool: &PgPool, code: &Code) -> Result<Option<Division>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("select {COLUMNS} from divisions where code = $1")))
        .bind(code.as_str())
        .fetch_optional(pool)
        .await
}

pub async fn exists(pool: &PgPool, code: &Code) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists (select 1 from divisions where code = $1)")
        .bind(code.as_str())
        .fetch_one(pool)
        .await
}

/// Sets a division's boundary; `None` when there is no such division.
pub async fn set_boundary(
    tx: &mut PgConnection,
    code: &Code,
    boundary: &Value,
) -> Result<Option<Division>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update divisions set boundary = $2 where code = $1 returning {COLUMNS}"
    )))
    .bind(code.as_str())
    .bind(boundary)
    .fetch_optional(tx)
    .await
}

/// Whether every one of `codes` names a division.
pub async fn all_exist(conn: &mut PgConnection, codes: &[String]) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select count(*) = (select count(distinct c) from unnest($1::text[]) c) from divisions where code = any($1)",
    )
    .bind(codes)
    .fetch_one(conn)
    .await
}
