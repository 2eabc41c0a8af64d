//! Divisions: the operator creates the district's ladder (district, street,
//! community, grid) from the official codes and draws their boundaries;
//! everyone logged in may read it, to place institutions and elders.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Path, Query, Result};
use crate::domain::division::{self, Code, Level};
use crate::domain::field;
use crate::store::divisions::{self as store, Division, Refused};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(create, list)).routes(routes!(set_boundary))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewDivision {
    /// District 6 digits, street 9, community 12, grid 15; the division it
    /// sits in (its first digits) must exist.
    #[schema(schema_with = field::division_code)]
    code: String,
    #[schema(schema_with = field::text::<200>)]
    name: String,
    level: Level,
}

#[utoipa::path(post, path = "/divisions", summary = "Create a division under an existing one (a district under none)",
    description = "Who may call it: operator.", request_body = NewDivision,
    responses((status = 201, description = "success", body = Division)))]
async fn create(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<NewDivision>,
) -> Result<(StatusCode, Json<Division>)> {
    auth.require_operator()?;
    let code = division::check(&req.code, req.level).map_err(|why| Error::validation("code", why))?;
    let name = super::text("name", &req.name, 200)?;
    let mut tx = ctx.pool.begin().await?;
    let created = store::create(&mut tx, &code, name).await.map_err(|refused| match refused {
        Refused::NoParent => Error::validation("code", "the division this one sits in does not exist"),
        Refused::Exists => Error::Conflict("a division with this code exists".into()),
        Refused::Db(e) => e.into(),
    })?;
    let details = serde_json::json!({"name": name, "level": req.level});
    crate::audit::record(&mut tx, auth.actor(), "division.created", "division", code.as_str(), details).await?;
    tx.commit().await?;
    tracing::info!(by = %auth.scope.user, code = %code, "division created");
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// The division whose direct children to list; without it, the districts.
    #[param(schema_with = field::division_code)]
    parent: Option<String>,
    #[param(minimum = 1, maximum = 1000, default = 200, nullable = false)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(schema_with = field::division_code)]
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct DivisionList {
    divisions: Vec<Division>,
    next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/divisions", summary = "The direct children of a division, or the districts",
    description = "Who may call it: any.", params(ListQuery),
    responses((status = 200, description = "success", body = DivisionList)))]
async fn list(
    State(ctx): State<ApiContext>,
    _auth: AuthUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<DivisionList>> {
    let limit = super::page_limit(q.limit)?;
    let parent = q
        .parent
        .as_deref()
        .map(|p| Code::parse(p).ok_or_else(|| Error::validation("parent", "parent must be a division code")))
        .transpose()?;
    if let Some(cursor) = q.cursor.as_deref()
        && Code::parse(cursor).is_none()
    {
        return Err(Error::validation("cursor", "not a cursor this list gave"));
    }
    let mut divisions = store::children(&ctx.pool, parent.as_ref(), q.cursor.as_deref(), limit + 1).await?;
    let next_cursor = super::next_page(&mut divisions, limit, |d| d.code.clone());
    Ok(Json(DivisionList { divisions, next_cursor }))
}

#[utoipa::path(put, path = "/divisions/{code}/boundary", summary = "Set a division's boundary (for the cockpit's map)",
    description = "Who may call it: operator.",
    params(("code" = String, Path, pattern = r"^[0-9]{6}([0-9]{3}){0,3}$")),
    request_body(content = Object, description = "a GeoJSON Polygon or MultiPolygon"),
    responses((status = 200, description = "success", body = Division)))]
async fn set_boundary(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(code): Path<String>,
    Json(boundary): Json<Value>,
) -> Result<Json<Division>> {
    auth.require_operator()?;
    let code = Code::parse(&code).ok_or(Error::NotFound)?;
    division::check_boundary(&boundary).map_err(|why| Error::validation("boundary", why))?;
    let mut tx = ctx.pool.begin().await?;
    let division = store::set_boundary(&mut tx, &code, &boundary).await?.ok_or(Error::NotFound)?;
    let details = serde_json::json!({"type": boundary["type"]});
    crate::audit::record(&mut tx, auth.actor(), "division.boundary_set", "division", code.as_str(), details).await?;
    tx.commit().await?;
    Ok(Json(division))
}
