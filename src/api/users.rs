//! Accounts of the institution: admins create staff, other admins and family
//! members.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::{AuthUser, MIN_PASSWORD_LEN, hash_password};
use super::error::ResultExt;
use super::{ApiContext, Error, Json, Result};
use crate::domain::Role;
use crate::store::users::{self, User};

pub fn router() -> Router<ApiContext> {
    Router::new().route("/users", post(create_user).get(list_users))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    pub password: String,
    pub role: Role,
    pub name: String,
}

#[derive(Debug, Serialize)]
struct Created {
    id: Uuid,
}

pub fn validate_new_user(user: &NewUser) -> Result<()> {
    let email = user.email.trim();
    if email.len() > 254 || !email.contains('@') || email.starts_with('@') || email.ends_with('@') {
        return Err(Error::validation("email", "email must be an address like name@example.org"));
    }
    if user.password.chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::validation("password", format!("password must be at least {MIN_PASSWORD_LEN} characters")));
    }
    if user.name.trim().is_empty() || user.name.len() > 200 {
        return Err(Error::validation("name", "name must be 1 to 200 characters"));
    }
    Ok(())
}

/// Creates a user in the given institution. Shared by the API and the
/// first-admin bootstrap.
pub async fn insert_user(conn: &mut sqlx::PgConnection, institution_id: Uuid, user: NewUser) -> Result<Uuid> {
    validate_new_user(&user)?;
    let hash = hash_password(user.password).await?;
    users::insert(conn, institution_id, user.email.trim(), user.name.trim(), user.role, &hash)
        .await
        .on_constraint("users_email_key", || Error::Conflict("a user with this email already exists".into()))
}

async fn create_user(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<NewUser>,
) -> Result<(StatusCode, Json<Created>)> {
    auth.require_admin()?;
    let details = serde_json::json!({"email": req.email.trim(), "role": req.role, "name": req.name.trim()});
    let mut tx = ctx.pool.begin().await?;
    let id = insert_user(&mut tx, auth.scope.institution, req).await?;
    crate::audit::record(&mut tx, auth.actor(), "user.created", "user", id, details).await?;
    tx.commit().await?;
    tracing::info!(by = %auth.scope.user, user_id = %id, "user created");
    Ok((StatusCode::CREATED, Json(Created { id })))
}

#[derive(Debug, Serialize)]
struct UserList {
    users: Vec<User>,
}

async fn list_users(State(ctx): State<ApiContext>, auth: AuthUser) -> Result<Json<UserList>> {
    auth.require_admin()?;
    Ok(Json(UserList { users: users::list(&ctx.pool, &auth.scope).await? }))
}
