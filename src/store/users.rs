//! The people who log in: creating, listing and changing them (for the
//! admins' API and the bootstrap), and what the other areas ask of them.
//! (Logins, sessions and the second factor are the auth API's and
//! `store::sessions`'.)

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
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

/// A user as created: of an institution, or of the platform
/// (`institution_id` `None`; a supervisor with its `region`).
pub struct NewUser<'a> {
    pub institution_id: Option<Uuid>,
    pub region: Option<&'a str>,
    /// The division of a civil-affairs or grid-worker account.
    pub division: Option<&'a str>,
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub password_hash: &'a str,
    pub kitchen_id: Option<Uuid>,
}

/// Creates a user; answers its id. The schema refuses a role placed where
/// it does not belong (constraint `users_kitchen_check` for a kitchen id),
/// and an email already taken (`users_email_key`): the caller maps those.
pub async fn insert(conn: &mut PgConnection, user: &NewUser<'_>) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    sqlx::query(
        "insert into users (id, institution_id, region, email, name, role, password_hash, kitchen_id, division)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(user.institution_id)
    .bind(user.region)
    .bind(user.email)
    .bind(user.name)
    .bind(user.role)
    .bind(user.password_hash)
    .bind(user.kitchen_id)
    .bind(user.division)
    .execute(conn)
    .await?;
    Ok(id)
}

/// Whether the platform has an operator.
pub async fn operator_exists(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists (select 1 from users where role = 'operator')").fetch_one(conn).await
}

/// A page of the institution's users, by name (then email, then id), after
/// the user `after`; as the caller's row type over [`USER_COLUMNS`].
pub async fn page<T>(pool: &PgPool, scope: &Scope, after: Option<Uuid>, limit: i64) -> Result<Vec<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let institution = scope.institution;
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {USER_COLUMNS} from users u left join institutions i on i.id = u.institution_id
         where u.institution_id = $1
           and ($2::uuid is null or (u.name, u.email, u.id) > (select c.name, c.email, c.id from users c where c.id = $2))
         order by u.name, u.email, u.id limit $3"
    )))
    .bind(institution)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The role of a user of the institution, locked to the end of the
/// caller's transaction; `None` when the institution has no such user.
pub async fn lock_member(tx: &mut PgConnection, scope: &Scope, id: Uuid) -> Result<Option<Role>, sqlx::Error> {
    let institution = scope.institution;
    sqlx::query_scalar("select role from users where id = $1 and institution_id = $2 for update")
        .bind(id)
        .bind(institution)
        .fetch_optional(tx)
        .await
}

/// Locks an account bound to a division (supervisor, civil affairs, grid
/// worker) for the operator's change; its role, or `None` for any other.
pub async fn lock_division_user(tx: &mut PgConnection, id: Uuid) -> Result<Option<Role>, sqlx::Error> {
    sqlx::query_scalar(
        "select role from users where id = $1 and role in ('supervisor', 'civil_affairs', 'grid_worker', 'desk') for update",
    )
    .bind(id)
    .fetch_optional(tx)
    .await
}

/// Places a division's account in `division` (a supervisor's region, a
/// name from before divisions, gives way to it).
pub async fn set_division(tx: &mut PgConnection, id: Uuid, division: &str) -> Result<(), sqlx::Error> {
    sqlx::query("update users set division = $2, region = null, updated_at = now() where id = $1")
        .bind(id)
        .bind(division)
        .execute(tx)
        .await
        .map(drop)
}

/// Changes a user's role (`None`: kept) and disables (`Some(true)`) or
/// re-enables (`Some(false)`) them; a user disabled again keeps the time
/// they were first disabled.
pub async fn update(
    tx: &mut PgConnection,
    id: Uuid,
    role: Option<Role>,
    disabled: Option<bool>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update users set role = coalesce($2, role),
            disabled_at = case when $3 then coalesce(disabled_at, now()) when not $3 then null else disabled_at end,
            updated_at = now()
         where id = $1",
    )
    .bind(id)
    .bind(role)
    .bind(disabled)
    .execute(tx)
    .await
    .map(drop)
}

// A user as the API answers them (a plain comment: the document describes
// the schema by its fields).
#[derive(Debug, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = User)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// `null` for the platform's accounts (operator, supervisor).
    pub institution_id: Option<Uuid>,
    /// Shown by the console, so staff know whose platform they are on.
    pub institution_name: Option<String>,
    /// A supervisor's region.
    pub region: Option<String>,
    /// The division of a civil-affairs, grid-worker or supervisor account.
    pub division: Option<String>,
    /// A kitchen user's kitchen.
    pub kitchen_id: Option<Uuid>,
    /// A disabled account cannot log in and has no sessions.
    pub disabled: bool,
    /// For SMS and voice notifications (E.164).
    pub phone: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The columns of a [`User`], over `users u left join institutions i`.
pub const USER_COLUMNS: &str =
    "u.id, u.email, u.name, u.role, u.institution_id, i.name as institution_name, u.region, u.division, u.kitchen_id,
     u.disabled_at is not null as disabled, u.phone, u.created_at";

/// One user, by id.
pub async fn fetch(pool: &PgPool, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {USER_COLUMNS} from users u left join institutions i on i.id = u.institution_id where u.id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// What login reads of an account. No `Debug`: it holds the password hash
/// and the second factor's secret.
#[derive(sqlx::FromRow)]
pub struct Account {
    pub id: Uuid,
    /// Whose audit trail records its logins; `None` for the platform's.
    pub institution_id: Option<Uuid>,
    pub password_hash: String,
    pub role: Role,
    pub disabled: bool,
    /// Set once the second factor is turned on.
    pub totp_secret: Option<Vec<u8>>,
}

/// The account of an email, compared without case.
pub async fn account(pool: &PgPool, email: &str) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query_as(
        "select id, institution_id, password_hash, role, disabled_at is not null as disabled,
                case when totp_enabled_at is not null then totp_secret end as totp_secret
         from users where lower(email) = lower($1)",
    )
    .bind(email)
    .fetch_optional(pool)
    .await
}

/// A user's password hash.
pub async fn password_hash(pool: &PgPool, id: Uuid) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("select password_hash from users where id = $1").bind(id).fetch_one(pool).await
}

/// Replaces a user's password hash.
pub async fn set_password(conn: &mut PgConnection, id: Uuid, hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("update users set password_hash = $2, updated_at = now() where id = $1")
        .bind(id)
        .bind(hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// Uses up the second factor's time step `step`: false when it, or a later
/// one, was used before (a code is good once).
pub async fn use_totp_step(pool: &PgPool, id: Uuid, step: i64) -> Result<bool, sqlx::Error> {
    let used = sqlx::query(
        "update users set totp_last_step = $2 where id = $1 and (totp_last_step is null or totp_last_step < $2)",
    )
    .bind(id)
    .bind(step)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(used == 1)
}

/// A user's second factor, locked until the transaction ends.
pub struct Totp {
    pub email: String,
    /// The secret handed out, confirmed or not.
    pub secret: Option<Vec<u8>>,
    pub enabled: bool,
}

pub async fn lock_totp(conn: &mut PgConnection, id: Uuid) -> Result<Totp, sqlx::Error> {
    let (email, secret, enabled): (String, Option<Vec<u8>>, bool) =
        sqlx::query_as("select email, totp_secret, totp_enabled_at is not null from users where id = $1 for update")
            .bind(id)
            .fetch_one(conn)
            .await?;
    Ok(Totp { email, secret, enabled })
}

/// Hands out a new, not yet confirmed, second-factor secret.
pub async fn set_totp_secret(conn: &mut PgConnection, id: Uuid, secret: &[u8]) -> Result<(), sqlx::Error> {
    sqlx::query("update users set totp_secret = $2, totp_last_step = null where id = $1")
        .bind(id)
        .bind(secret)
        .execute(conn)
        .await?;
    Ok(())
}

/// Turns the second factor on, its first code's step used up.
pub async fn enable_totp(conn: &mut PgConnection, id: Uuid, step: i64) -> Result<(), sqlx::Error> {
    sqlx::query("update users set totp_enabled_at = now(), totp_last_step = $2 where id = $1")
        .bind(id)
        .bind(step)
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether `division` lies within the division of `user`'s account.
pub async fn division_within(pool: &PgPool, user: Uuid, division: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists (select 1 from users where id = $1 and starts_with($2, division))")
        .bind(user)
        .bind(division)
        .fetch_one(pool)
        .await
}
