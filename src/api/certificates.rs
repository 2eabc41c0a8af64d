//! Carers' certificates: the national care worker level (1 to 5) and a
//! health certificate, each valid until a date. Nobody without a health
//! certificate valid on the day is sent through an elder's door (the visit
//! assignments check it); the admin sees what lapses within 30 days.

use axum::extract::State;
use chrono::{Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{AnyJson, ApiContext, Error, Json, Path, Query, Result};
use crate::store::certificates::{self as store, Certificate, Expiring};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(fetch, replace)).routes(routes!(expiring))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewCertificate)]
struct CertificateBody {
    /// care_worker_level or health.
    #[schema(pattern = "^(care_worker_level|health)$")]
    kind: String,
    /// 1 to 5, for care_worker_level only.
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(minimum = 1, maximum = 5, nullable = false)]
    level: Option<i16>,
    valid_until: NaiveDate,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = UserCertificates)]
struct Certificates {
    user_id: Uuid,
    certificates: Vec<Certificate>,
}

/// The body: an array of certificates, each an object (never the array of
/// its values, which serde would read as its fields in order).
fn items(body: serde_json::Value) -> Result<Vec<CertificateBody>> {
    let serde_json::Value::Array(items) = body else {
        return Err(Error::validation("body", "the body is an array of certificates"));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            super::json_object(item).map_err(|e| match e {
                Error::Validation { field, message } if field.is_empty() || field == "body" => {
                    Error::Validation { field: format!("[{i}]"), message }
                }
                Error::Validation { field, message } => Error::Validation { field: format!("[{i}].{field}"), message },
                other => other,
            })
        })
        .collect()
}

fn checked(body: Vec<CertificateBody>) -> Result<Vec<Certificate>> {
    let mut out: Vec<Certificate> = Vec::with_capacity(body.len());
    for c in body {
        match (c.kind.as_str(), c.level) {
            ("care_worker_level", Some(1..=5)) | ("health", None) => {}
            ("care_worker_level", _) => return Err(Error::validation("level", "a care worker level is 1 to 5")),
            ("health", Some(_)) => return Err(Error::validation("level", "a health certificate has no level")),
            _ => return Err(Error::validation("kind", "care_worker_level or health")),
        }
        if out.iter().any(|o| o.kind == c.kind) {
            return Err(Error::validation("kind", format!("{} given twice", c.kind)));
        }
        out.push(Certificate { kind: c.kind, level: c.level, valid_until: c.valid_until });
    }
    Ok(out)
}

#[utoipa::path(put, path = "/users/{id}/certificates",
    summary = "Replace a carer's certificates: care_worker_level (1-5) and health, each with valid_until; without a valid health certificate nobody is assigned a visit",
    description = "Who may call it: admin (their institution's users).", params(("id" = Uuid, Path)),
    request_body = Vec<CertificateBody>, responses((status = 200, description = "success", body = Certificates)))]
async fn replace(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    AnyJson(body): AnyJson<serde_json::Value>,
) -> Result<Json<Certificates>> {
    auth.require_admin()?;
    let certificates = checked(items(body)?)?;
    store::of_user(&ctx.pool, &auth.scope, id).await?.ok_or(Error::NotFound)?;
    let mut tx = ctx.pool.begin().await?;
    store::replace(&mut tx, &auth.scope, id, &certificates).await?;
    crate::audit::record(&mut tx, auth.actor(), "user.certificates", "user", id, serde_json::json!(certificates))
        .await?;
    tx.commit().await?;
    Ok(Json(Certificates { user_id: id, certificates }))
}

#[utoipa::path(get, path = "/users/{id}/certificates", summary = "A carer's certificates",
    description = "Who may call it: admin (their institution's users).", params(("id" = Uuid, Path)),
    responses((status = 200, description = "success", body = Certificates)))]
async fn fetch(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<Certificates>> {
    auth.require_admin()?;
    let certificates = store::of_user(&ctx.pool, &auth.scope, id).await?.ok_or(Error::NotFound)?;
    Ok(Json(Certificates { user_id: id, certificates }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ExpiringQuery {
    /// Lapsing within this many days (default 30), lapsed ones included.
    #[param(minimum = 0, maximum = 366, nullable = false)]
    within_days: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ExpiringCertificates)]
struct ExpiringList {
    within_days: i64,
    certificates: Vec<Expiring>,
}

#[utoipa::path(get, path = "/certificates/expiring",
    summary = "The institution's certificates lapsing within within_days (30), lapsed ones included, soonest first",
    description = "Who may call it: admin.", params(ExpiringQuery),
    responses((status = 200, description = "success", body = ExpiringList)))]
async fn expiring(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Query(q): Query<ExpiringQuery>,
) -> Result<Json<ExpiringList>> {
    auth.require_admin()?;
    let within_days = q.within_days.unwrap_or(30);
    if !(0..=366).contains(&within_days) {
        return Err(Error::validation("within_days", "0 to 366 days"));
    }
    let until = Utc::now().date_naive() + Duration::days(within_days);
    let certificates = store::expiring(&ctx.pool, &auth.scope, until).await?;
    Ok(Json(ExpiringList { within_days, certificates }))
}
