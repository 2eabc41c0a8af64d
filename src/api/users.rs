//! Accounts of the institution: admins create staff, caregivers, other
//! admins and family members.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::{AuthUser, MIN_PASSWORD_LEN, USER_COLUMNS, UserBody, hash_password};
use super::error::ResultExt;
use super::{ApiContext, Error, Json, Result};
use crate::domain::Role;

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

/// Creates a user: of an institution, or of the platform (`None`; a
/// supervisor with its region). The schema refuses a role placed where it
/// does not belong. Shared by the API and the bootstrap.
pub async fn insert_user(
    conn: &mut sqlx::PgConnection,
    institution_id: Option<Uuid>,
    region: Option<&str>,
    user: NewUser,
) -> Result<Uuid> {
    validate_new_user(&user)?;
    let id = Uuid::new_v4();
    let hash = hash_password(user.password).await?;
    sqlx::query(
        "insert into users (id, institution_id, region, email, name, role, password_hash)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(institution_id)
    .bind(region)
    .bind(user.email.trim())
    .bind(user.name.trim())
    .bind(user.role)
    .bind(hash)
    .execute(conn)
    .await
    .on_constraint("users_email_key", || Error::Conflict("a user with this email already exists".into()))?;
    Ok(id)
}

async fn create_user(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<NewUser>,
) -> Result<(StatusCode, Json<Created>)> {
    let institution = auth.require_admin()?;
    if req.role.is_platform() {
        return Err(Error::validation("role", "an institution's users are admin, staff, caregiver or family"));
    }
    let details = serde_json::json!({"email": req.email.trim(), "role": req.role, "name": req.name.trim()});
    let mut tx = ctx.pool.begin().await?;
    let id = insert_user(&mut tx, Some(institution), None, req).await?;
    crate::audit::record(&mut tx, auth.actor(), "user.created", "user", id, details).await?;
    tx.commit().await?;
    tracing::info!(by = %auth.scope.user, user_id = %id, "user created");
    Ok((StatusCode::CREATED, Json(Created { id })))
}

#[derive(Debug, Serialize)]
struct UserList {
    users: Vec<UserBody>,
}

async fn list_users(State(ctx): State<ApiContext>, auth: AuthUser) -> Result<Json<UserList>> {
    let institution = auth.require_admin()?;
    let users = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {USER_COLUMNS} from users u left join institutions i on i.id = u.institution_id
         where u.institution_id = $1 order by u.name, u.email"
    )))
    .bind(institution)
    .fetch_all(&ctx.pool)
    .await?;
    Ok(Json(UserList { users }))
}
