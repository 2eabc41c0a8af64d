//! The people who log in: institution staff and admins, and family members.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{Role, Scope};

#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub institution_id: Uuid,
    pub created_at: DateTime<Utc>,
}

const SELECT: &str = "select id, email, name, role, institution_id, created_at from users";

/// Creates a user of `institution`; answers their id. Fails on
/// `users_email_key` when the email is taken.
pub async fn insert(
    conn: &mut PgConnection,
    institution: Uuid,
    email: &str,
    name: &str,
    role: Role,
    password_hash: &str,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    sqlx::query(
        "insert into users (id, institution_id, email, name, role, password_hash)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(institution)
    .bind(email)
    .bind(name)
    .bind(role)
    .bind(password_hash)
    .execute(conn)
    .await?;
    Ok(id)
}

pub async fn fetch(pool: &PgPool, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where id = $1"))).bind(id).fetch_optional(pool).await
}

/// The users of the scope's institution, by name.
pub async fn list(pool: &PgPool, scope: &Scope) -> Result<Vec<User>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where institution_id = $1 order by name, email")))
        .bind(scope.institution)
        .fetch_all(pool)
        .await
}

/// The role of a user of the scope's institution, if there is such a user.
pub async fn role(pool: &PgPool, scope: &Scope, user_id: Uuid) -> Result<Option<Role>, sqlx::Error> {
    sqlx::query_scalar("select role from users where id = $1 and institution_id = $2")
        .bind(user_id)
        .bind(scope.institution)
        .fetch_optional(pool)
        .await
}
