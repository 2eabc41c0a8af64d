//! Enrolments: an institution serving an elder already on the registry (a
//! second provider, a canteen), for the services it is enrolled for, on the
//! consent recorded; and the end of it, which removes its access at once.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Path, Result};
use crate::domain::Role;
use crate::domain::registry::{ConsentBy, ConsentMethod, Service};
use crate::domain::scope::Identity;
use crate::store::enrolments::{self as store, Enrolment, NewEnrolment, Refused};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(create, list)).routes(routes!(end))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EnrolmentRequest {
    /// The civil-affairs bureau names the institution; an admin enrols
    /// their own (which it may name).
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(required = false, nullable = false)]
    institution_id: Option<Uuid>,
    #[schema(min_items = 1)]
    services: Vec<Service>,
    #[serde(deserialize_with = "crate::domain::wire::required_object")]
    consent: ConsentRecord,
}

/// Who consented to the enrolment, how, and when.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EnrolmentConsent)]
struct ConsentRecord {
    by: ConsentBy,
    method: ConsentMethod,
    /// Not in the future.
    at: DateTime<Utc>,
}

#[utoipa::path(post, path = "/residents/{id}/enrolments",
    summary = "Enrol a registered elder with an institution for services (the id `already_registered` answered); its reach follows the services at once",
    description = "Who may call it: admin (of the enrolling institution), civil_affairs (the elder and the institution in its division).",
    params(("id" = Uuid, Path)), request_body = EnrolmentRequest,
    responses((status = 201, description = "success", body = Enrolment)))]
async fn create(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<EnrolmentRequest>,
) -> Result<(StatusCode, Json<Enrolment>)> {
    if auth.scope.role != Role::CivilAffairs {
        auth.require_admin()?;
    }
    // The body before the elder: it says nothing of her.
    if req.services.is_empty() {
        return Err(Error::validation("services", "at least one service"));
    }
    if req.consent.at > Utc::now() + chrono::Duration::minutes(5) {
        return Err(Error::validation("consent.at", "consent is recorded once it was given"));
    }
    let mut tx = ctx.pool.begin().await?;
    let institution = match auth.scope.role {
        Role::CivilAffairs => {
            // The bureau reaches the elder through its division.
            auth.reach::<Identity>(&ctx, id).await?;
            let institution =
                req.institution_id.ok_or_else(|| Error::validation("institution_id", "name the institution"))?;
            if !store::institution_in_division(&ctx.pool, &auth.scope, institution).await? {
                return Err(Error::validation("institution_id", "no such institution in this division"));
            }
            institution
        }
        _ => {
            let own = auth.require_admin()?;
            if req.institution_id.is_some_and(|named| named != own) {
                return Err(Error::Forbidden("an admin enrols their own institution only"));
            }
            // Enrolled on the claim its own registration of the elder's id
            // number earned (answered `already_registered`); an id known
            // some other way reaches nobody. An institution serving the
            // elder already is answered that it is (409, below).
            if !store::take_claim(&mut tx, &auth.scope, id).await? {
                auth.reach::<Identity>(&ctx, id).await?;
            }
            own
        }
    };
    let mut services = req.services.clone();
    services.sort();
    services.dedup();
    let new = NewEnrolment {
        resident: id,
        institution,
        services,
        consent_by: req.consent.by,
        consent_method: req.consent.method,
        consent_at: req.consent.at,
        by: auth.scope.user,
    };
    let enrolment = store::create(&mut tx, &new).await.map_err(|refused| match refused {
        Refused::AlreadyEnrolled(_) => {
            Error::Conflict("this institution is enrolled for the elder already: end that enrolment first".into())
        }
        Refused::Db(e) => e.into(),
    })?;
    let details = serde_json::json!({"enrolment_id": enrolment.id, "institution_id": institution,
        "services": enrolment.services, "consent_by": req.consent.by, "consent_method": req.consent.method});
    crate::audit::record(&mut tx, auth.actor(), "resident.enrolled", "resident", id, details).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(enrolment)))
}

#[derive(Debug, Serialize, ToSchema)]
struct EnrolmentList {
    enrolments: Vec<Enrolment>,
}

#[utoipa::path(get, path = "/residents/{id}/enrolments", summary = "The elder's enrolments, current and past, newest first",
    description = "Who may call it: any institution enrolled, civil_affairs in reach.", params(("id" = Uuid, Path)),
    responses((status = 200, description = "success", body = EnrolmentList)))]
async fn list(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<EnrolmentList>> {
    if auth.scope.role == Role::Family {
        return Err(Error::NotFound);
    }
    let resident = auth.reach::<Identity>(&ctx, id).await?;
    Ok(Json(EnrolmentList { enrolments: store::of_resident(&ctx.pool, &resident).await? }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EnrolmentPatch {
    /// Up to now ends it at once; before its start is a 422.
    until: DateTime<Utc>,
}

#[utoipa::path(patch, path = "/enrolments/{id}",
    summary = "End an enrolment (`until` up to now ends it at once): the institution keeps its own records of what it did, and nothing else",
    description = "Who may call it: admin (of the enrolled institution), civil_affairs in reach.",
    params(("id" = Uuid, Path)), request_body = EnrolmentPatch,
    responses((status = 200, description = "success", body = Enrolment)))]
async fn end(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<EnrolmentPatch>,
) -> Result<Json<Enrolment>> {
    let mut tx = ctx.pool.begin().await?;
    let enrolment = store::for_change(&mut tx, &auth.scope, id).await?.ok_or(Error::NotFound)?;
    if req.until < enrolment.from {
        return Err(Error::validation("until", "until is before the enrolment began"));
    }
    // An end up to now ends it now (`None`): what was reached meanwhile was.
    let until = (req.until > Utc::now()).then_some(req.until);
    let ended = store::set_until(&mut tx, id, until).await?;
    let details = serde_json::json!({"enrolment_id": id, "institution_id": ended.institution_id, "until": ended.until});
    crate::audit::record(&mut tx, auth.actor(), "enrolment.ended", "resident", ended.resident_id, details).await?;
    tx.commit().await?;
    Ok(Json(ended))
}
