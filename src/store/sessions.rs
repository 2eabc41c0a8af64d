//! Sessions: bearer tokens (only their SHA-256 is stored), how long each
//! lives, and ending them.
//!
//! A session is alive while its account is enabled, its own end
//! (`expires_at`) has not come and, for a person's login, it was used within
//! the role's idle time and began within the role's absolute lifetime. The
//! lifetimes are read from the settings at each check, so shortening them
//! applies to sessions already open.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::config::AuthSettings;
use crate::domain::{Role, Scope};

/// The channel the database announces ended sessions on (the payload is
/// their user's id).
pub const ENDED_CHANNEL: &str = "eldercare_sessions";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[schema(as = SessionKind)]
pub enum Kind {
    /// A person's login.
    Login,
    /// A wall screen's read-only token.
    Display,
}

/// A live session, as a request presents it.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: Uuid,
    pub kind: Kind,
    pub scope: Scope,
}

/// How long a role's logins live: idle, then absolute.
pub fn lifetimes(settings: &AuthSettings, role: Role) -> (Duration, Duration) {
    match role {
        Role::Family => {
            (Duration::days(settings.family_idle_days.into()), Duration::days(settings.family_absolute_days.into()))
        }
        Role::Operator
        | Role::Supervisor
        | Role::Admin
        | Role::Staff
        | Role::Caregiver
        | Role::Kitchen
        | Role::CivilAffairs
        | Role::GridWorker
        | Role::Assessor
        | Role::Insurer
        | Role::Desk
        | Role::Clinician => (
            Duration::minutes(settings.staff_idle_minutes.into()),
            Duration::hours(settings.staff_absolute_hours.into()),
        ),
    }
}

/// The conditions of a live session over `sessions s join users u`; `$2`
/// to `$5` are the idle and absolute lifetimes in seconds, staff then family.
const ALIVE: &str = "u.id = s.user_id and u.disabled_at is null and s.expires_at > now()
    and (s.kind = 'display' or (
        s.last_used_at > now() - make_interval(secs => case when u.role = 'family' then $4 else $2 end)
        and s.created_at > now() - make_interval(secs => case when u.role = 'family' then $5 else $3 end)))";

fn seconds(settings: &AuthSettings) -> [f64; 4] {
    let (staff_idle, staff_absolute) = lifetimes(settings, Role::Staff);
    let (family_idle, family_absolute) = lifetimes(settings, Role::Family);
    [staff_idle, staff_absolute, family_idle, family_absolute].map(|d| d.num_seconds() as f64)
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    kind: Kind,
    user_id: Uuid,
    institution_id: Option<Uuid>,
    role: Role,
    kitchen_id: Option<Uuid>,
}

/// The live session of a token, marked as used now (which keeps it from
/// going idle).
pub async fn authenticate(
    pool: &PgPool,
    settings: &AuthSettings,
    token_hash: &[u8],
) -> Result<Option<Session>, sqlx::Error> {
    let [staff_idle, staff_absolute, family_idle, family_absolute] = seconds(settings);
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update sessions s set last_used_at = now() from users u where s.token_hash = $1 and {ALIVE}
         returning s.id, s.kind, u.id as user_id, u.institution_id, u.role, u.kitchen_id"
    )))
    .bind(token_hash)
    .bind(staff_idle)
    .bind(staff_absolute)
    .bind(family_idle)
    .bind(family_absolute)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| Session {
        id: r.id,
        kind: r.kind,
        scope: Scope { institution: r.institution_id, user: r.user_id, role: r.role, kitchen: r.kitchen_id },
    }))
}

/// Whether a session is still alive, without counting as a use: a live
/// stream asks this, and watching is not using.
pub async fn alive(pool: &PgPool, settings: &AuthSettings, id: Uuid) -> Result<bool, sqlx::Error> {
    let [staff_idle, staff_absolute, family_idle, family_absolute] = seconds(settings);
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select exists (select 1 from sessions s, users u where s.id = $1 and {ALIVE})"
    )))
    .bind(id)
    .bind(staff_idle)
    .bind(staff_absolute)
    .bind(family_idle)
    .bind(family_absolute)
    .fetch_one(pool)
    .await
}

/// Opens a session ending at `expires_at` at the latest.
pub async fn create(
    conn: &mut PgConnection,
    token_hash: &[u8],
    user: Uuid,
    kind: Kind,
    label: Option<&str>,
    expires_at: DateTime<Utc>,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "insert into sessions (token_hash, user_id, kind, label, expires_at) values ($1, $2, $3, $4, $5) returning id",
    )
    .bind(token_hash)
    .bind(user)
    .bind(kind)
    .bind(label)
    .bind(expires_at)
    .fetch_one(conn)
    .await
}

#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct SessionInfo {
    pub id: Uuid,
    pub kind: Kind,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    /// The latest it can end; idleness may end it sooner.
    pub expires_at: DateTime<Utc>,
}

/// A user's live sessions, newest first, after the session `after` (the
/// previous page's last).
pub async fn list(
    pool: &PgPool,
    settings: &AuthSettings,
    user: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<SessionInfo>, sqlx::Error> {
    let [staff_idle, staff_absolute, family_idle, family_absolute] = seconds(settings);
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select s.id, s.kind, s.label, s.created_at, s.last_used_at, s.expires_at
         from sessions s, users u where s.user_id = $1 and {ALIVE}
           and ($6::uuid is null or (s.created_at, s.id) < (select c.created_at, c.id from sessions c where c.id = $6))
         order by s.created_at desc, s.id desc limit $7"
    )))
    .bind(user)
    .bind(staff_idle)
    .bind(staff_absolute)
    .bind(family_idle)
    .bind(family_absolute)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Ends one session of a user; false when they have no such session.
/// Whether the session is the user's own.
pub async fn owned(pool: &PgPool, user: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists (select 1 from sessions where id = $1 and user_id = $2)")
        .bind(id)
        .bind(user)
        .fetch_one(pool)
        .await
}

pub async fn end(conn: &mut PgConnection, user: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    let ended = sqlx::query("delete from sessions where id = $1 and user_id = $2")
        .bind(id)
        .bind(user)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(ended > 0)
}

/// Ends every session of a user, display tokens included; answers how many.
pub async fn end_all(conn: &mut PgConnection, user: Uuid) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("delete from sessions where user_id = $1").bind(user).execute(conn).await?.rows_affected())
}
