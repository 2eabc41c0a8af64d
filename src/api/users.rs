//! Accounts of the institution: admins create staff, caregivers, other
//! admins and family members.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::{AuthUser, hash_password};
use super::error::ResultExt;
use super::error::{ErrorBody, HASHING_BUSY};
use super::{ApiContext, Error, Json, PageQuery, Path, Query, Result};
use crate::domain::InstitutionKind;
use crate::domain::account::MIN_PASSWORD_LEN;
use crate::domain::field;
use crate::domain::{Role, Scope};
use crate::store::users::User;
use crate::store::{institutions, sessions, users};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(update_user))
        .routes(routes!(revoke_sessions))
        .routes(routes!(reset_password))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    #[schema(schema_with = field::email)]
    pub email: String,
    #[schema(schema_with = field::password)]
    pub password: String,
    #[schema(schema_with = field::new_user_role)]
    pub role: Role,
    #[schema(schema_with = field::text::<200>)]
    pub name: String,
    /// The kitchen of a `kitchen` user (and of no one else). Not in the
    /// document: a kitchen user is made with the kitchen's page.
    #[serde(default)]
    #[schema(ignore)]
    pub kitchen_id: Option<Uuid>,
    /// The division of a `civil_affairs` user (any level) or a
    /// `grid_worker` (a grid), made by the operator; the civil-affairs
    /// bureau makes grid workers of the grids in its division.
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(schema_with = field::division_code, required = false)]
    pub division: Option<String>,
    /// The fund office (an `ltc_fund` institution) of an `insurer`, made
    /// by the operator; its division is the insurer's reach.
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(required = false, nullable = false)]
    pub institution_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Created {
    pub(super) id: Uuid,
}

/// One `@` between two non-empty parts without spaces, at most 254
/// characters (RFC 5321's path limit).
pub fn valid_email(email: &str) -> bool {
    crate::domain::account::valid_email(email)
}

pub fn validate_new_user(user: &NewUser) -> Result<()> {
    if !valid_email(&user.email) {
        return Err(Error::validation("email", "email must be an address like name@example.org"));
    }
    if user.password.chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::validation("password", format!("password must be at least {MIN_PASSWORD_LEN} characters")));
    }
    super::text("name", &user.name, 200)?;
    Ok(())
}

/// Creates a user: of an institution, or of the platform (`None`; a
/// supervisor with its region). The schema refuses a role placed where it
/// does not belong.
pub async fn insert_user(
    conn: &mut sqlx::PgConnection,
    institution_id: Option<Uuid>,
    region: Option<&str>,
    user: NewUser,
) -> Result<Uuid> {
    validate_new_user(&user)?;
    let hash = hash_password(user.password).await?;
    let row = users::NewUser {
        institution_id,
        region,
        division: user.division.as_deref(),
        email: user.email.trim(),
        name: user.name.trim(),
        role: user.role,
        password_hash: &hash,
        kitchen_id: user.kitchen_id,
    };
    let id = users::insert(conn, &row)
        .await
        .on_constraint("users_email_key", || Error::Conflict("a user with this email already exists".into()))
        .on_constraint("users_kitchen_check", || {
            Error::validation("kitchen_id", "a kitchen user, and only one, has a kitchen_id")
        })
        .on_constraint("users_division_fkey", || Error::validation("division", "no such division"))
        .on_constraint("users_placement_check", || {
            Error::validation("division", "a grid worker's division is a grid (15 digits)")
        })?;
    Ok(id)
}

#[utoipa::path(post, path = "/users",
    summary = "Create a user: an admin in their institution; the operator a civil_affairs or grid_worker user of a division, a desk user of the platform, an insurer of a fund office or a clinician of a hospital or family doctor team (institution_id); civil_affairs a grid_worker of a grid in its division",
    description = "Who may call it: admin, operator, civil_affairs.", request_body = NewUser,
    responses((status = 201, description = "success", body = Created), (status = 503, description = HASHING_BUSY, body = ErrorBody)))]
async fn create_user(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<NewUser>,
) -> Result<(StatusCode, Json<Created>)> {
    if auth.scope.role == Role::Operator && matches!(req.role, Role::Insurer | Role::Clinician) {
        return create_member(ctx, auth, req).await;
    }
    if matches!(auth.scope.role, Role::Operator | Role::CivilAffairs) {
        return create_division_user(ctx, auth, req).await;
    }
    let institution = auth.require_admin()?;
    if req.division.is_some() {
        return Err(Error::validation("division", "an institution's users have no division"));
    }
    if req.institution_id.is_some_and(|named| named != institution) {
        return Err(Error::validation("institution_id", "an admin makes users of their own institution"));
    }
    if req.role.is_platform() {
        return Err(Error::validation("role", "an institution's users are admin, staff, caregiver or family"));
    }
    // An assessment body's people are assessors, a fund office's insurers
    // (made by the operator); a care provider's neither.
    let (kind, _) = institutions::kind(&ctx.pool, &auth.scope, institution).await?.ok_or(Error::NotFound)?;
    let allowed = match kind {
        InstitutionKind::Assessment => matches!(req.role, Role::Admin | Role::Assessor),
        InstitutionKind::LtcFund => req.role == Role::Admin,
        InstitutionKind::Hospital | InstitutionKind::FamilyDoctorTeam => {
            matches!(req.role, Role::Admin | Role::Clinician)
        }
        _ => !matches!(req.role, Role::Assessor | Role::Insurer | Role::Clinician),
    };
    if !allowed {
        return Err(Error::validation(
            "role",
            "an assessment body has admins and assessors, a fund office admins (its insurers are the operator's to make), a hospital or family doctor team admins and clinicians, a care provider none of these",
        ));
    }
    match (req.role, req.kitchen_id) {
        (Role::Kitchen, Some(kitchen)) => {
            if !crate::store::meals::kitchen_exists(&ctx.pool, &auth.scope, kitchen).await? {
                return Err(Error::validation("kitchen_id", "no such kitchen in this institution"));
            }
        }
        (Role::Kitchen, None) => return Err(Error::validation("kitchen_id", "a kitchen user needs kitchen_id")),
        (_, Some(_)) => return Err(Error::validation("kitchen_id", "only a kitchen user has a kitchen_id")),
        (_, None) => {}
    }
    let details = serde_json::json!({"email": req.email.trim(), "role": req.role, "name": req.name.trim(),
                                     "kitchen_id": req.kitchen_id});
    // Hashing the new password takes its turn with logins' (see limits).
    let _hashing = ctx.hashing.enter().await.ok_or(Error::Busy)?;
    let mut tx = ctx.pool.begin().await?;
    let id = insert_user(&mut tx, Some(institution), None, req).await?;
    crate::audit::record(&mut tx, auth.actor(), "user.created", "user", id, details).await?;
    tx.commit().await?;
    tracing::info!(by = %auth.scope.user, user_id = %id, "user created");
    Ok((StatusCode::CREATED, Json(Created { id })))
}

/// An insurer, made by the operator at its fund office (an `ltc_fund`
/// institution placed in a division: its reach), or a medical partner's
/// clinician, made by the operator in a hospital or a family doctor team
/// (the partner's admin makes them too, with `/institutions/{id}/users`).
async fn create_member(ctx: ApiContext, auth: AuthUser, req: NewUser) -> Result<(StatusCode, Json<Created>)> {
    let clinician = req.role == Role::Clinician;
    let institution = req.institution_id.ok_or_else(|| {
        Error::validation(
            "institution_id",
            if clinician { "name the hospital or team" } else { "name the fund office" },
        )
    })?;
    if req.division.is_some() || req.kitchen_id.is_some() {
        let why = if clinician {
            "a clinician's reach is the consents given to their institution"
        } else {
            "an insurer's reach is its fund office's division"
        };
        return Err(Error::validation("division", why));
    }
    match (clinician, institutions::kind(&ctx.pool, &auth.scope, institution).await?) {
        (false, Some((InstitutionKind::LtcFund, Some(_))))
        | (true, Some((InstitutionKind::Hospital | InstitutionKind::FamilyDoctorTeam, _))) => {}
        (false, Some((InstitutionKind::LtcFund, None))) => {
            return Err(Error::validation("institution_id", "place the fund office in a division first"));
        }
        (false, _) => return Err(Error::validation("institution_id", "no such fund office (an ltc_fund institution)")),
        (true, _) => {
            return Err(Error::validation(
                "institution_id",
                "no such medical partner (a hospital or family_doctor_team institution)",
            ));
        }
    }
    let details = serde_json::json!({"email": req.email.trim(), "role": req.role, "name": req.name.trim(),
                                     "institution_id": institution});
    let _hashing = ctx.hashing.enter().await.ok_or(Error::Busy)?;
    let mut tx = ctx.pool.begin().await?;
    let id = insert_user(&mut tx, Some(institution), None, req).await?;
    crate::audit::record(&mut tx, auth.actor(), "user.created", "user", id, details).await?;
    tx.commit().await?;
    tracing::info!(by = %auth.scope.user, user_id = %id, "insurer or clinician created");
    Ok((StatusCode::CREATED, Json(Created { id })))
}

/// A user bound to a division: the operator makes civil-affairs and grid
/// workers' accounts, the civil-affairs bureau grid workers' in its own.
async fn create_division_user(ctx: ApiContext, auth: AuthUser, req: NewUser) -> Result<(StatusCode, Json<Created>)> {
    let allowed: &[Role] = if auth.scope.role == Role::Operator {
        &[Role::CivilAffairs, Role::GridWorker, Role::Desk]
    } else {
        &[Role::GridWorker]
    };
    if !allowed.contains(&req.role) {
        let why = if auth.scope.role == Role::Operator {
            "the operator makes civil_affairs, grid_worker and desk users here (admins with /institutions/{id}/users)"
        } else {
            "civil affairs makes grid_worker users"
        };
        return Err(Error::validation("role", why));
    }
    if req.role == Role::Desk {
        return create_desk_user(ctx, auth, req).await;
    }
    let code = req.division.as_deref().ok_or_else(|| Error::validation("division", "name the division"))?;
    let code = crate::domain::division::Code::parse(code)
        .ok_or_else(|| Error::validation("division", "division must be a division code"))?;
    if req.role == Role::GridWorker && code.level() != Some(crate::domain::division::Level::Grid) {
        return Err(Error::validation("division", "a grid worker's division is a grid (15 digits)"));
    }
    if auth.scope.role == Role::CivilAffairs
        && !users::division_within(&ctx.pool, auth.scope.user, code.as_str()).await?
    {
        return Err(Error::validation("division", "no such grid in this division"));
    }
    if req.kitchen_id.is_some() {
        return Err(Error::validation("kitchen_id", "only a kitchen user has a kitchen_id"));
    }
    if req.institution_id.is_some() {
        return Err(Error::validation("institution_id", "a division's user has no institution"));
    }
    let details = serde_json::json!({"email": req.email.trim(), "role": req.role, "name": req.name.trim(),
                                     "division": code.as_str()});
    let _hashing = ctx.hashing.enter().await.ok_or(Error::Busy)?;
    let mut tx = ctx.pool.begin().await?;
    let id = insert_user(&mut tx, None, None, req).await?;
    crate::audit::record(&mut tx, auth.actor(), "user.created", "user", id, details).await?;
    tx.commit().await?;
    tracing::info!(by = %auth.scope.user, user_id = %id, "division user created");
    Ok((StatusCode::CREATED, Json(Created { id })))
}

/// The hotline desk's account: the platform's, of no division and no
/// institution (it answers for every elder).
async fn create_desk_user(ctx: ApiContext, auth: AuthUser, req: NewUser) -> Result<(StatusCode, Json<Created>)> {
    if req.division.is_some() {
        return Err(Error::validation("division", "the hotline desk answers for the whole platform: no division"));
    }
    if req.institution_id.is_some() || req.kitchen_id.is_some() {
        return Err(Error::validation("institution_id", "the hotline desk belongs to no institution"));
    }
    let details = serde_json::json!({"email": req.email.trim(), "role": req.role, "name": req.name.trim()});
    let _hashing = ctx.hashing.enter().await.ok_or(Error::Busy)?;
    let mut tx = ctx.pool.begin().await?;
    let id = insert_user(&mut tx, None, None, req).await?;
    crate::audit::record(&mut tx, auth.actor(), "user.created", "user", id, details).await?;
    tx.commit().await?;
    tracing::info!(by = %auth.scope.user, user_id = %id, "desk user created");
    Ok((StatusCode::CREATED, Json(Created { id })))
}

#[derive(Debug, Serialize, ToSchema)]
struct UserList {
    users: Vec<User>,
    next_cursor: Option<String>,
}

/// By name; the cursor is the last user's id.
#[utoipa::path(get, path = "/users", summary = "Users of the institution", description = "Who may call it: admin.",
    params(PageQuery), responses((status = 200, description = "success", body = UserList)))]
async fn list_users(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<UserList>> {
    auth.require_admin()?;
    let limit = super::page_limit(q.limit)?;
    let after: Option<Uuid> = super::cursor_in_reach(q.cursor.as_deref(), async |id| {
        Ok(crate::store::users::role(&ctx.pool, &auth.scope, id).await?.is_some())
    })
    .await?;
    let mut users: Vec<User> = users::page(&ctx.pool, &auth.scope, after, limit + 1).await?;
    let next_cursor = super::next_page(&mut users, limit, |u| u.id.to_string());
    Ok(Json(UserList { users, next_cursor }))
}

/// A user of the admin's own institution, locked until the transaction
/// ends; anyone else's answers 404.
async fn member(tx: &mut sqlx::PgConnection, scope: &Scope, id: Uuid) -> Result<Role> {
    users::lock_member(tx, scope, id).await?.ok_or(Error::NotFound)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UserPatch {
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(schema_with = field::user_role)]
    role: Option<Role>,
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(nullable = false)]
    disabled: Option<bool>,
    /// E.164, or null to remove it; absent leaves it as it is.
    #[serde(default, deserialize_with = "crate::domain::wire::double_option")]
    phone: Option<Option<String>>,
    /// The operator moves a supervisor, civil-affairs or grid-worker account
    /// to another division (a grid for a grid worker); nobody else sets it.
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(schema_with = field::division_code, required = false)]
    division: Option<String>,
}

/// Changes a user's role or disables (re-enables) them. Either change ends
/// their sessions at once, live streams included: a disabled user is out,
/// and a new role starts with the new role's session lifetimes.
#[utoipa::path(patch, path = "/users/{id}",
    summary = "Change a user's role or disable them (either ends their sessions at once, live streams included); the operator moves a division's account to another division",
    description = "Who may call it: admin (their institution's users); operator (supervisor, civil_affairs and grid_worker accounts: division, disabled).",
    params(("id" = Uuid, Path)), request_body = UserPatch,
    responses((status = 200, description = "success", body = User)))]
async fn update_user(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(patch): Json<UserPatch>,
) -> Result<Json<User>> {
    if auth.scope.role == Role::Operator {
        return place_division_user(&ctx, &auth, id, patch).await;
    }
    auth.require_admin()?;
    if patch.division.is_some() {
        return Err(Error::validation("division", "the operator places division accounts"));
    }
    if patch.role.is_some_and(|r| r.is_platform()) {
        return Err(Error::validation("role", "an institution's users are admin, staff, caregiver or family"));
    }
    if id == auth.scope.user && (patch.disabled == Some(true) || patch.role.is_some_and(|r| r != Role::Admin)) {
        // Another admin can; nobody locks the institution out by a slip.
        return Err(Error::validation("id", "an admin cannot disable or demote themselves"));
    }
    let mut tx = ctx.pool.begin().await?;
    let before = member(&mut tx, &auth.scope, id).await?;
    let role_changes = patch.role.is_some_and(|r| r != before);
    users::update(&mut tx, id, patch.role, patch.disabled).await?;
    if let Some(phone) = &patch.phone {
        let phone = super::notifications::parse_phone(phone.as_deref())?;
        crate::store::notify::set_phone(&mut tx, id, phone.as_deref()).await?;
    }
    let ended = if role_changes || patch.disabled == Some(true) { sessions::end_all(&mut tx, id).await? } else { 0 };
    let details = serde_json::json!({"role": patch.role, "disabled": patch.disabled, "sessions_ended": ended,
        "phone_changed": patch.phone.is_some()});
    crate::audit::record(&mut tx, auth.actor(), "user.updated", "user", id, details).await?;
    tx.commit().await?;
    tracing::info!(by = %auth.scope.user, user_id = %id, role = ?patch.role, disabled = ?patch.disabled, "user changed");
    Ok(Json(super::auth::fetch_user(&ctx.pool, id).await?))
}

/// The operator's change of a division's account: its division, or
/// disabling it. Its reach follows the new division from its next request.
async fn place_division_user(ctx: &ApiContext, auth: &AuthUser, id: Uuid, patch: UserPatch) -> Result<Json<User>> {
    if patch.role.is_some() || patch.phone.is_some() {
        return Err(Error::validation("role", "the operator changes a division account's division or disables it"));
    }
    if let Some(code) = &patch.division
        && crate::domain::division::Code::parse(code).is_none()
    {
        return Err(Error::validation("division", "division must be a division code"));
    }
    let mut tx = ctx.pool.begin().await?;
    let role = users::lock_division_user(&mut tx, id).await?.ok_or(Error::NotFound)?;
    if role == Role::Desk && patch.division.is_some() {
        return Err(Error::validation("division", "the hotline desk answers for the whole platform: no division"));
    }
    if role == Role::GridWorker && patch.division.as_ref().is_some_and(|d| d.len() != 15) {
        return Err(Error::validation("division", "a grid worker's division is a grid (15 digits)"));
    }
    if let Some(division) = &patch.division {
        users::set_division(&mut tx, id, division).await.map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                Error::validation("division", "no such division")
            }
            _ => e.into(),
        })?;
    }
    users::update(&mut tx, id, None, patch.disabled).await?;
    let ended = if patch.disabled == Some(true) { sessions::end_all(&mut tx, id).await? } else { 0 };
    let details = serde_json::json!({"division": patch.division, "disabled": patch.disabled, "sessions_ended": ended});
    crate::audit::record(&mut tx, auth.actor(), "user.placed", "user", id, details).await?;
    tx.commit().await?;
    Ok(Json(super::auth::fetch_user(&ctx.pool, id).await?))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SessionsEnded)]
struct Ended {
    sessions_ended: u64,
}

/// Ends every session of a user of the admin's institution (a lost phone, a
/// shared password): they log in again.
#[utoipa::path(post, path = "/users/{id}/revoke-sessions",
    summary = "End every session of a user, display tokens included", description = "Who may call it: admin.",
    params(("id" = Uuid, Path)), responses((status = 200, description = "success", body = Ended)))]
async fn revoke_sessions(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<Ended>> {
    auth.require_admin()?;
    let mut tx = ctx.pool.begin().await?;
    member(&mut tx, &auth.scope, id).await?;
    let sessions_ended = sessions::end_all(&mut tx, id).await?;
    let details = serde_json::json!({"sessions_ended": sessions_ended});
    crate::audit::record(&mut tx, auth.actor(), "user.sessions_revoked", "user", id, details).await?;
    tx.commit().await?;
    Ok(Json(Ended { sessions_ended }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordReset {
    #[schema(schema_with = field::password)]
    password: String,
}

/// Sets a new password for a user of the admin's institution (who forgot
/// theirs, or whose password leaked); every session of theirs ends.
#[utoipa::path(post, path = "/users/{id}/password", summary = "Set a user's password; every session of theirs ends",
    description = "Who may call it: admin.", params(("id" = Uuid, Path)), request_body = PasswordReset,
    responses((status = 204, description = "success"), (status = 503, description = HASHING_BUSY, body = ErrorBody)))]
async fn reset_password(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<PasswordReset>,
) -> Result<StatusCode> {
    auth.require_admin()?;
    if req.password.chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::validation("password", format!("password must be at least {MIN_PASSWORD_LEN} characters")));
    }
    // Hashing the new password takes its turn with logins' (see limits).
    let _hashing = ctx.hashing.enter().await.ok_or(Error::Busy)?;
    let hash = hash_password(req.password).await?;
    let mut tx = ctx.pool.begin().await?;
    member(&mut tx, &auth.scope, id).await?;
    users::set_password(&mut tx, id, &hash).await?;
    let ended = sessions::end_all(&mut tx, id).await?;
    // Never the password.
    let details = serde_json::json!({"sessions_ended": ended});
    crate::audit::record(&mut tx, auth.actor(), "user.password_reset", "user", id, details).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
