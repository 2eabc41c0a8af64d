//! The platform: the operator creates institutions, places them in regions
//! and gives each its first admin; supervisors are created per region.
//!
//! The operator's work on one institution is recorded in that institution's
//! audit chain (its admins see who created their accounts); work that
//! concerns no single institution (supervisors) in the platform's chain.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::error::{ErrorBody, HASHING_BUSY};
use super::residents::validate_timezone;
use super::users::{Created, NewUser, insert_user};
use super::{ApiContext, Error, Json, PageQuery, Path, Query, Result};
use crate::audit::Actor;
use crate::domain::field;
use crate::domain::{InstitutionKind, Role};
use crate::store::institutions::{self, Institution, InstitutionChange, NewInstitution};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update))
        .routes(routes!(create_admin))
        .routes(routes!(create_supervisor))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewInstitution)]
struct NewInstitutionRequest {
    #[schema(schema_with = field::text::<200>)]
    name: String,
    kind: InstitutionKind,
    #[schema(schema_with = field::region_or_null)]
    region: Option<String>,
    #[schema(value_type = field::Timezone)]
    timezone: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct InstitutionPatch {
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(schema_with = field::text::<200>)]
    name: Option<String>,
    #[serde(default, deserialize_with = "crate::domain::wire::double_option")]
    #[schema(schema_with = field::region_or_null)]
    region: Option<Option<String>>,
    /// Where it is (a division code); null takes it out.
    #[serde(default, deserialize_with = "crate::domain::wire::double_option")]
    #[schema(value_type = Option<String>, pattern = r"^[0-9]{6}([0-9]{3}){0,3}$", required = false)]
    division: Option<Option<String>>,
    /// The divisions it serves, replacing the list.
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(value_type = Vec<String>, max_items = 500, required = false, nullable = false)]
    service_area: Option<Vec<String>>,
}

/// Regions match as exact strings, so one with stray spaces would never
/// match its supervisor.
fn validate_region(region: &str) -> Result<()> {
    if region.is_empty() || super::chars(region) > 200 || region.trim() != region {
        return Err(Error::validation("region", "region must be 1 to 200 characters, without surrounding spaces"));
    }
    Ok(())
}

/// The operator's actions on one institution go to its chain.
fn on(auth: &AuthUser, institution: Uuid) -> Actor {
    Actor { user_id: auth.scope.user, institution_id: Some(institution) }
}

#[utoipa::path(post, path = "/institutions",
    summary = "Create an institution (care home, home-care provider, community centre or canteen)",
    description = "Who may call it: operator.", request_body = NewInstitutionRequest,
    responses((status = 201, description = "success", body = Institution)))]
async fn create(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<NewInstitutionRequest>,
) -> Result<(StatusCode, Json<Institution>)> {
    auth.require_operator()?;
    super::text("name", &req.name, 200)?;
    if let Some(region) = &req.region {
        validate_region(region)?;
    }
    validate_timezone(&req.timezone)?;
    let mut tx = ctx.pool.begin().await?;
    let new = NewInstitution {
        name: req.name.trim(),
        kind: req.kind,
        region: req.region.as_deref(),
        timezone: &req.timezone,
    };
    let institution = institutions::create(&mut tx, new).await?;
    let details = serde_json::json!({
        "name": institution.name, "kind": institution.kind, "region": institution.region, "timezone": institution.timezone,
    });
    crate::audit::record(
        &mut tx,
        on(&auth, institution.id),
        "institution.created",
        "institution",
        institution.id,
        details,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(by = %auth.scope.user, institution_id = %institution.id, "institution created");
    Ok((StatusCode::CREATED, Json(institution)))
}

#[derive(Debug, Serialize, ToSchema)]
struct InstitutionList {
    institutions: Vec<Institution>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// The operator sees every institution, a supervisor its region's, anyone
/// else their own.
#[utoipa::path(get, path = "/institutions",
    summary = "Institutions: all (operator), the region's (supervisor), one's own (anyone else)",
    description = "Who may call it: any.", params(PageQuery),
    responses((status = 200, description = "success", body = InstitutionList)))]
async fn list(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<InstitutionList>> {
    let limit = super::page_limit(q.limit)?;
    let after = super::cursor_in_reach(q.cursor.as_deref(), async |id| {
        Ok(institutions::visible(&ctx.pool, &auth.scope, id).await?)
    })
    .await?;
    let mut institutions = institutions::list(&ctx.pool, &auth.scope, after, limit + 1).await?;
    let next_cursor = super::next_page(&mut institutions, limit, |i| i.id.to_string());
    Ok(Json(InstitutionList { institutions, next_cursor }))
}

#[utoipa::path(patch, path = "/institutions/{id}", summary = "Rename an institution, place it in a region or a division, or set the divisions it serves",
    description = "Who may call it: operator.", params(("id" = Uuid, Path)), request_body = InstitutionPatch,
    responses((status = 200, description = "success", body = Institution)))]
async fn update(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(patch): Json<InstitutionPatch>,
) -> Result<Json<Institution>> {
    auth.require_operator()?;
    if let Some(name) = &patch.name {
        super::text("name", name, 200)?;
    }
    if let Some(Some(region)) = &patch.region {
        validate_region(region)?;
    }
    let codes = patch.division.iter().flatten().map(|c| ("division", c));
    let codes = codes.chain(patch.service_area.iter().flatten().map(|c| ("service_area", c)));
    for (field, code) in codes.clone() {
        if crate::domain::division::Code::parse(code).is_none() {
            return Err(Error::validation(field, "not a division code"));
        }
    }
    let details = serde_json::json!({"name": patch.name, "region": patch.region, "division": patch.division,
        "service_area": patch.service_area});
    let mut tx = ctx.pool.begin().await?;
    let wanted: Vec<String> = codes.map(|(_, c)| c.clone()).collect();
    if !crate::store::divisions::all_exist(&mut tx, &wanted).await? {
        return Err(Error::validation("division", "no such division"));
    }
    let change = InstitutionChange {
        name: patch.name.map(|n| n.trim().to_owned()),
        region: patch.region,
        division: patch.division,
        service_area: patch.service_area,
    };
    let institution = institutions::update(&mut tx, id, change).await?.ok_or(Error::NotFound)?;
    crate::audit::record(&mut tx, on(&auth, id), "institution.updated", "institution", id, details).await?;
    tx.commit().await?;
    Ok(Json(institution))
}

/// The body of an institution's new admin: a new user whose role is admin.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // only its schema is used: the body is read as a `NewUser`
struct NewAdmin {
    #[schema(schema_with = field::email)]
    email: String,
    #[schema(schema_with = field::password)]
    password: String,
    #[schema(schema_with = field::text::<200>)]
    name: String,
    #[schema(schema_with = field::admin_role)]
    role: String,
}

/// An institution's first admin (or another, when its admins are gone): the
/// operator creates admins only; the admins create everyone else.
#[utoipa::path(post, path = "/institutions/{id}/users", summary = "Create an admin of the institution (role must be admin)",
    description = "Who may call it: operator.", params(("id" = Uuid, Path)), request_body = NewAdmin,
    responses((status = 201, description = "success", body = Created), (status = 503, description = HASHING_BUSY, body = ErrorBody)))]
async fn create_admin(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(institution): Path<Uuid>,
    Json(req): Json<NewUser>,
) -> Result<(StatusCode, Json<Created>)> {
    auth.require_operator()?;
    if req.role != Role::Admin {
        return Err(Error::validation("role", "the operator creates an institution's admins; they create the rest"));
    }
    let details = serde_json::json!({"email": req.email.trim(), "role": req.role, "name": req.name.trim()});
    // Hashing the new password takes its turn with logins' (see limits).
    let _hashing = ctx.hashing.enter().await.ok_or(Error::Busy)?;
    let mut tx = ctx.pool.begin().await?;
    if !institutions::lock(&mut tx, institution).await? {
        return Err(Error::NotFound);
    }
    let id = insert_user(&mut tx, Some(institution), None, req).await?;
    crate::audit::record(&mut tx, on(&auth, institution), "user.created", "user", id, details).await?;
    tx.commit().await?;
    tracing::info!(by = %auth.scope.user, user_id = %id, institution_id = %institution, "admin created");
    Ok((StatusCode::CREATED, Json(Created { id })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewSupervisor {
    #[schema(schema_with = field::email)]
    email: String,
    #[schema(schema_with = field::password)]
    password: String,
    #[schema(schema_with = field::text::<200>)]
    name: String,
    /// The region it oversees, by name (as before divisions); give this or
    /// `division`.
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(schema_with = field::region, required = false)]
    region: Option<String>,
    /// The division it oversees: the institutions placed in it or under it.
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(schema_with = field::division_code, required = false)]
    division: Option<String>,
}

#[utoipa::path(post, path = "/supervisors",
    summary = "Create a supervisor of a region: aggregated figures of its institutions, no personal data",
    description = "Who may call it: operator.", request_body = NewSupervisor,
    responses((status = 201, description = "success", body = Created), (status = 503, description = HASHING_BUSY, body = ErrorBody)))]
async fn create_supervisor(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<NewSupervisor>,
) -> Result<(StatusCode, Json<Created>)> {
    auth.require_operator()?;
    if let Some(region) = &req.region {
        validate_region(region)?;
    }
    if let Some(code) = &req.division
        && crate::domain::division::Code::parse(code).is_none()
    {
        return Err(Error::validation("division", "division must be a division code"));
    }
    if req.region.is_none() && req.division.is_none() {
        return Err(Error::validation("division", "a supervisor oversees a division (or a region)"));
    }
    let details = serde_json::json!({"email": req.email.trim(), "name": req.name.trim(), "region": req.region,
        "division": req.division});
    let user = NewUser {
        email: req.email,
        password: req.password,
        role: Role::Supervisor,
        name: req.name,
        kitchen_id: None,
        division: req.division,
        institution_id: None,
    };
    // Hashing the new password takes its turn with logins' (see limits).
    let _hashing = ctx.hashing.enter().await.ok_or(Error::Busy)?;
    let mut tx = ctx.pool.begin().await?;
    let id = insert_user(&mut tx, None, req.region.as_deref(), user).await?;
    crate::audit::record(&mut tx, auth.actor(), "supervisor.created", "user", id, details).await?;
    tx.commit().await?;
    tracing::info!(by = %auth.scope.user, user_id = %id, "supervisor created");
    Ok((StatusCode::CREATED, Json(Created { id })))
}
