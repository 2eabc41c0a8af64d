//! Residents: the people cared for.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::access::VISIBLE_RESIDENTS;
use super::auth::AuthUser;
use super::error::ResultExt;
use super::{ApiContext, Error, Json, Path, Result};

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/residents", post(create).get(list))
        .route("/residents/{id}", get(fetch).patch(update))
        .route("/residents/{id}/family", post(link_family).get(list_family))
}

#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Resident {
    pub id: Uuid,
    pub name: String,
    pub timezone: String,
    pub room: Option<String>,
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "r.id, r.name, r.timezone, r.room, r.notes, r.created_at, r.updated_at";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewResident {
    name: String,
    timezone: Option<String>,
    room: Option<String>,
    notes: Option<String>,
}

/// Fields absent from a PATCH are left alone; `null` clears an optional one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResidentPatch {
    name: Option<String>,
    timezone: Option<String>,
    #[serde(default, deserialize_with = "super::devices::double_option")]
    room: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::devices::double_option")]
    notes: Option<Option<String>>,
}

pub fn validate_timezone(tz: &str) -> Result<()> {
    tz.parse::<chrono_tz::Tz>()
        .map(|_| ())
        .map_err(|_| Error::validation("timezone", format!("{tz:?} is not an IANA time zone name")))
}

fn validate_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.len() > 200 {
        return Err(Error::validation("name", "name must be 1 to 200 characters"));
    }
    Ok(())
}

async fn create(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<NewResident>,
) -> Result<(StatusCode, Json<Resident>)> {
    auth.require_staff()?;
    validate_name(&req.name)?;
    let timezone = match req.timezone {
        Some(tz) => tz,
        None => {
            sqlx::query_scalar("select timezone from institutions where id = $1")
                .bind(auth.institution_id)
                .fetch_one(&ctx.pool)
                .await?
        }
    };
    validate_timezone(&timezone)?;
    let mut tx = ctx.pool.begin().await?;
    let resident: Resident = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into residents as r (id, institution_id, name, timezone, room, notes)
         values ($1, $2, $3, $4, $5, $6) returning {COLUMNS}"
    )))
    .bind(Uuid::new_v4())
    .bind(auth.institution_id)
    .bind(req.name.trim())
    .bind(timezone)
    .bind(req.room)
    .bind(req.notes)
    .fetch_one(&mut *tx)
    .await?;
    let details = serde_json::json!({"name": resident.name, "timezone": resident.timezone, "room": resident.room});
    crate::audit::record(&mut tx, auth.actor(), "resident.created", "resident", resident.id, details).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(resident)))
}

#[derive(Debug, Serialize)]
struct ResidentList {
    residents: Vec<Resident>,
}

async fn list(State(ctx): State<ApiContext>, auth: AuthUser) -> Result<Json<ResidentList>> {
    let residents = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from residents r where {VISIBLE_RESIDENTS} order by r.name, r.id"
    )))
    .bind(auth.id)
    .bind(auth.institution_id)
    .bind(auth.role)
    .fetch_all(&ctx.pool)
    .await?;
    Ok(Json(ResidentList { residents }))
}

pub async fn load(ctx: &ApiContext, id: Uuid) -> Result<Resident> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("select {COLUMNS} from residents r where r.id = $1")))
        .bind(id)
        .fetch_optional(&ctx.pool)
        .await?
        .ok_or(Error::NotFound)
}

async fn fetch(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<Resident>> {
    let id = auth.resident(&ctx, id).await?;
    Ok(Json(load(&ctx, id).await?))
}

async fn update(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(patch): Json<ResidentPatch>,
) -> Result<Json<Resident>> {
    let id = auth.resident_for_staff(&ctx, id).await?;
    if let Some(name) = &patch.name {
        validate_name(name)?;
    }
    if let Some(tz) = &patch.timezone {
        validate_timezone(tz)?;
    }
    let changes =
        serde_json::json!({"name": patch.name, "timezone": patch.timezone, "room": patch.room, "notes": patch.notes});
    let mut tx = ctx.pool.begin().await?;
    let resident = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update residents r set
            name = coalesce($2, r.name),
            timezone = coalesce($3, r.timezone),
            room = case when $4 then $5 else r.room end,
            notes = case when $6 then $7 else r.notes end,
            updated_at = now()
         where r.id = $1 returning {COLUMNS}"
    )))
    .bind(id)
    .bind(patch.name.map(|n| n.trim().to_owned()))
    .bind(patch.timezone)
    .bind(patch.room.is_some())
    .bind(patch.room.flatten())
    .bind(patch.notes.is_some())
    .bind(patch.notes.flatten())
    .fetch_one(&mut *tx)
    .await?;
    crate::audit::record(&mut tx, auth.actor(), "resident.updated", "resident", id, changes).await?;
    tx.commit().await?;
    Ok(Json(resident))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FamilyLink {
    user_id: Uuid,
    relationship: String,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct FamilyMember {
    user_id: Uuid,
    name: String,
    email: String,
    relationship: String,
    created_at: DateTime<Utc>,
}

async fn link_family(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<FamilyLink>,
) -> Result<(StatusCode, Json<FamilyMember>)> {
    let id = auth.resident_for_staff(&ctx, id).await?;
    if req.relationship.trim().is_empty() || req.relationship.len() > 100 {
        return Err(Error::validation("relationship", "relationship must be 1 to 100 characters"));
    }
    let role: Option<String> = sqlx::query_scalar("select role from users where id = $1 and institution_id = $2")
        .bind(req.user_id)
        .bind(auth.institution_id)
        .fetch_optional(&ctx.pool)
        .await?;
    match role.as_deref() {
        None => return Err(Error::validation("user_id", "no such user in this institution")),
        Some("family") => {}
        Some(_) => return Err(Error::validation("user_id", "only family users are linked to residents")),
    }
    let mut tx = ctx.pool.begin().await?;
    sqlx::query("insert into family_links (resident_id, user_id, relationship) values ($1, $2, $3)")
        .bind(id)
        .bind(req.user_id)
        .bind(req.relationship.trim())
        .execute(&mut *tx)
        .await
        .on_constraint("family_links_pkey", || Error::Conflict("this user is already linked to the resident".into()))?;
    let details = serde_json::json!({"user_id": req.user_id, "relationship": req.relationship.trim()});
    crate::audit::record(&mut tx, auth.actor(), "family.linked", "resident", id, details).await?;
    tx.commit().await?;
    let member = family(&ctx, id).await?.into_iter().find(|m| m.user_id == req.user_id).ok_or(Error::NotFound)?;
    Ok((StatusCode::CREATED, Json(member)))
}

async fn family(ctx: &ApiContext, resident_id: Uuid) -> Result<Vec<FamilyMember>> {
    Ok(sqlx::query_as(
        "select u.id as user_id, u.name, u.email, fl.relationship, fl.created_at
         from family_links fl join users u on u.id = fl.user_id
         where fl.resident_id = $1 order by u.name",
    )
    .bind(resident_id)
    .fetch_all(&ctx.pool)
    .await?)
}

#[derive(Debug, Serialize)]
struct FamilyList {
    family: Vec<FamilyMember>,
}

async fn list_family(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<FamilyList>> {
    let id = auth.resident_for_staff(&ctx, id).await?;
    Ok(Json(FamilyList { family: family(&ctx, id).await? }))
}
