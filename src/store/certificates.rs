//! Carers' certificates: the care worker level and the health certificate,
//! each valid until a date, read and replaced by their institution's admin.

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::Scope;

/// One certificate of a user.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Certificate {
    /// care_worker_level or health.
    pub kind: String,
    /// The national vocational level, 1 to 5 (care_worker_level only).
    #[schema(required = true)]
    pub level: Option<i16>,
    pub valid_until: NaiveDate,
}

/// A certificate about to lapse (or lapsed), with whose it is.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Expiring {
    pub user_id: Uuid,
    pub name: String,
    pub role: String,
    pub kind: String,
    #[schema(required = true)]
    pub level: Option<i16>,
    pub valid_until: NaiveDate,
}

/// The certificates of a user of the scope's institution; `None` for anyone
/// else's user.
pub async fn of_user(pool: &PgPool, scope: &Scope, user: Uuid) -> Result<Option<Vec<Certificate>>, sqlx::Error> {
    let Some(institution) = scope.institution else { return Ok(None) };
    let member: bool = sqlx::query_scalar("select exists (select 1 from users where id = $1 and institution_id = $2)")
        .bind(user)
        .bind(institution)
        .fetch_one(pool)
        .await?;
    if !member {
        return Ok(None);
    }
    let certificates =
        sqlx::query_as("select kind, level, valid_until from carer_certificates where user_id = $1 order by kind")
            .bind(user)
            .fetch_all(pool)
            .await?;
    Ok(Some(certificates))
}

/// Replaces a user's certificates with `certificates` (the user is the
/// caller's institution's: checked by the caller under the same scope).
pub async fn replace(
    tx: &mut PgConnection,
    scope: &Scope,
    user: Uuid,
    certificates: &[Certificate],
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from carer_certificates where user_id = $1").bind(user).execute(&mut *tx).await?;
    for c in certificates {
        sqlx::query(
            "insert into carer_certificates (user_id, kind, level, valid_until, recorded_by) values ($1, $2, $3, $4, $5)",
        )
        .bind(user)
        .bind(&c.kind)
        .bind(c.level)
        .bind(c.valid_until)
        .bind(scope.user)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Whether the user has a health certificate valid on `day`.
pub async fn fit_on(pool: &PgPool, user: Uuid, day: NaiveDate) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (select 1 from carer_certificates where user_id = $1 and kind = 'health' and valid_until >= $2)",
    )
    .bind(user)
    .bind(day)
    .fetch_one(pool)
    .await
}

/// The certificates of the scope's institution's people lapsing by
/// `until` (lapsed ones included), soonest first.
pub async fn expiring(pool: &PgPool, scope: &Scope, until: NaiveDate) -> Result<Vec<Expiring>, sqlx::Error> {
    sqlx::query_as(
        "select u.id as user_id, u.name, u.role, c.kind, c.level, c.valid_until
         from carer_certificates c join users u on u.id = c.user_id
         where u.institution_id = $1 and u.disabled_at is null and c.valid_until <= $2
         order by c.valid_until, u.name, c.kind",
    )
    .bind(scope.institution)
    .bind(until)
    .fetch_all(pool)
    .await
}
