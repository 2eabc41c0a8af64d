//! The people who log in: what the other areas ask of them. (Accounts,
//! sessions and the second factor are the auth API's and `store::sessions`'.)

use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{Role, Scope};

/// The role of a user of the scope's institution, if there is such a user.
pub async fn role(pool: &PgPool, scope: &Scope, user_id: Uuid) -> Result<Option<Role>, sqlx::Error> {
    sqlx::query_scalar("select role from users where id = $1 and institution_id = $2")
        .bind(user_id)
        .bind(scope.institution)
        .fetch_optional(pool)
        .await
}
