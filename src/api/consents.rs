//! Consents to medical partners (医养结合): the elder (or who speaks for
//! her) lets a hospital or a family doctor team read her record
//! (`fhir_read`), be told of her abnormal vital signs (`alerts`), or send
//! clinical records in (`clinical_write`). Recorded by the admin of an
//! institution serving her or by the civil-affairs bureau; withdrawn at
//! once. Without a consent in force a clinician's every request about her
//! answers 404. And the family doctor named on her, whose team she
//! consented to.

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
use crate::domain::scope::{Identity, Reach};
use crate::store::partner_consents::{self as store, Consent, NewConsent};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(withdraw))
        .routes(routes!(family_doctor))
        .routes(routes!(partners))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MedicalPartners)]
struct Partners {
    partners: Vec<store::Partner>,
}

#[utoipa::path(get, path = "/partners",
    summary = "The medical partners (hospitals and family doctor teams) an elder may consent to, by name",
    description = "Who may call it: admin, staff, civil_affairs.",
    responses((status = 200, description = "success", body = Partners)))]
async fn partners(State(ctx): State<ApiContext>, auth: AuthUser) -> Result<Json<Partners>> {
    if !(auth.scope.may_care() || auth.scope.role == Role::CivilAffairs) {
        return Err(Error::Forbidden("the partners are listed for care staff and civil affairs"));
    }
    Ok(Json(Partners { partners: store::partners(&ctx.pool).await? }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ConsentGiver)]
struct Recorded {
    /// Who gave it: the elder, or her guardian by name.
    by: String,
    /// written, verbal or electronic.
    #[schema(pattern = "^(written|verbal|electronic)$")]
    method: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewConsent)]
struct ConsentBody {
    /// A hospital or family_doctor_team institution.
    grantee_institution_id: Uuid,
    /// Any of fhir_read, alerts, clinical_write, each once.
    #[schema(min_items = 1, max_items = 3)]
    scope: Vec<String>,
    /// When it starts (now if not given).
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(nullable = false)]
    from: Option<DateTime<Utc>>,
    /// When it ends (never if not given); after `from`.
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(nullable = false)]
    until: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "crate::domain::wire::required_object")]
    recorded: Recorded,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ConsentList)]
struct Consents {
    consents: Vec<Consent>,
    /// The family doctor named on her, if any.
    #[schema(required = true)]
    family_doctor: Option<store::FamilyDoctor>,
}

/// Only the admin of an institution serving her, or the bureau, records or
/// withdraws her consent.
fn may_record(auth: &AuthUser) -> Result<()> {
    match auth.scope.role {
        Role::Admin | Role::CivilAffairs => Ok(()),
        _ => Err(Error::Forbidden("a consent is recorded and withdrawn by the provider's admin or civil affairs")),
    }
}

#[utoipa::path(post, path = "/residents/{id}/consents",
    summary = "Record the elder's consent to a medical partner (a hospital or family doctor team): fhir_read (her FHIR view), alerts (her abnormal vital signs notified to its on-call people), clinical_write (discharge records sent in), from a date, until one or for good, who gave it and how",
    description = "Who may call it: admin of an institution serving her, civil_affairs in reach.",
    params(("id" = Uuid, Path)), request_body = ConsentBody,
    responses((status = 201, description = "success", body = Consent)))]
async fn create(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<ConsentBody>,
) -> Result<(StatusCode, Json<Consent>)> {
    let reached = auth.reach::<Identity>(&ctx, id).await?;
    may_record(&auth)?;
    let mut scope: Vec<String> = Vec::with_capacity(req.scope.len());
    for grant in req.scope {
        if !store::GRANTS.contains(&grant.as_str()) {
            return Err(Error::validation("scope", "each of fhir_read, alerts, clinical_write"));
        }
        if scope.contains(&grant) {
            return Err(Error::validation("scope", format!("{grant} given twice")));
        }
        scope.push(grant);
    }
    if scope.is_empty() {
        return Err(Error::validation("scope", "name what the consent grants"));
    }
    let from = req.from.unwrap_or_else(Utc::now);
    if req.until.is_some_and(|until| until <= from) {
        return Err(Error::validation("until", "until comes after from"));
    }
    let by = req.recorded.by.trim();
    super::text("recorded.by", by, 200)?;
    if !store::METHODS.contains(&req.recorded.method.as_str()) {
        return Err(Error::validation("recorded.method", "written, verbal or electronic"));
    }
    if store::partner(&ctx.pool, req.grantee_institution_id).await?.is_none() {
        return Err(Error::validation(
            "grantee_institution_id",
            "no such medical partner (a hospital or family_doctor_team institution)",
        ));
    }
    let consent = NewConsent {
        grantee: req.grantee_institution_id,
        scope: &scope,
        from,
        until: req.until,
        recorded_by: by,
        method: &req.recorded.method,
        created_by: auth.scope.user,
    };
    let mut tx = ctx.pool.begin().await?;
    let consent = store::insert(&mut tx, &reached, &consent).await?;
    let details = serde_json::json!({"resident_id": reached.id(), "grantee_institution_id": consent.grantee_institution_id,
                                     "scope": consent.scope, "from": consent.from, "until": consent.until,
                                     "recorded_by": consent.recorded_by, "recorded_method": consent.recorded_method});
    crate::audit::record(&mut tx, auth.actor(), "consent.granted", "consent", consent.id, details).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(consent)))
}

#[utoipa::path(get, path = "/residents/{id}/consents",
    summary = "The elder's consents to medical partners, newest first, each with whether it is in force, and her family doctor; a clinician sees its own institution's consents only",
    description = "Who may call it: admin, staff of an institution serving her; civil_affairs in reach; clinician (with a fhir_read consent in force).",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "success", body = Consents)))]
async fn list(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<Consents>> {
    let reached = auth.reach::<Identity>(&ctx, id).await?;
    let grantee = match (auth.scope.role, auth.scope.reach()) {
        (Role::Clinician, Reach::Consented(partner)) => Some(partner),
        (Role::CivilAffairs, _) => None,
        _ if auth.scope.may_care() => None,
        _ => return Err(Error::Forbidden("consents are read by the elder's providers, civil affairs and the partner")),
    };
    Ok(Json(Consents {
        consents: store::of_resident(&ctx.pool, &reached, grantee).await?,
        family_doctor: store::family_doctor(&ctx.pool, &reached).await?,
    }))
}

#[utoipa::path(delete, path = "/consents/{id}",
    summary = "Withdraw a consent, at once: from this request on, the partner's clinicians reach nothing of the elder through it (404), and are told of nothing",
    description = "Who may call it: admin of an institution serving her, civil_affairs in reach.",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "success", body = Consent)))]
async fn withdraw(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<Consent>> {
    let resident = store::resident_of(&ctx.pool, id).await?.ok_or(Error::NotFound)?;
    let reached = auth.reach::<Identity>(&ctx, resident).await?;
    may_record(&auth)?;
    let mut tx = ctx.pool.begin().await?;
    if !store::withdraw(&mut tx, &reached, id, auth.scope.user).await? {
        return Err(Error::Conflict("this consent was withdrawn already".into()));
    }
    let consent = store::fetch(&mut tx, &reached, id).await?.ok_or(Error::NotFound)?;
    let details =
        serde_json::json!({"resident_id": reached.id(), "grantee_institution_id": consent.grantee_institution_id});
    crate::audit::record(&mut tx, auth.actor(), "consent.withdrawn", "consent", id, details).await?;
    tx.commit().await?;
    Ok(Json(consent))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = FamilyDoctor)]
struct FamilyDoctorBody {
    /// A family_doctor_team the elder has a consent in force for.
    institution_id: Uuid,
    /// The doctor's name.
    name: String,
    /// The doctor's phone, in international form.
    #[schema(pattern = r"^\+[0-9]{6,15}$")]
    phone: String,
}

#[utoipa::path(put, path = "/residents/{id}/family-doctor",
    summary = "Name the elder's family doctor (家庭医生): a doctor of a family doctor team she has a consent in force for, shown on her responder sheet",
    description = "Who may call it: admin, staff of an institution serving her.",
    params(("id" = Uuid, Path)), request_body = FamilyDoctorBody,
    responses((status = 200, description = "success", body = FamilyDoctorBody)))]
async fn family_doctor(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<FamilyDoctorBody>,
) -> Result<Json<FamilyDoctorBody>> {
    let reached = auth.reach_for_staff::<Identity>(&ctx, id).await?;
    let name = req.name.trim();
    super::text("name", name, 200)?;
    let phone = super::notifications::parse_phone(Some(&req.phone))?
        .ok_or_else(|| Error::validation("phone", "a phone number"))?;
    match store::partner(&ctx.pool, req.institution_id).await? {
        Some(kind) if kind == "family_doctor_team" => {}
        _ => return Err(Error::validation("institution_id", "no such family doctor team")),
    }
    if !store::consented_to(&ctx.pool, &reached, req.institution_id).await? {
        return Err(Error::validation("institution_id", "she has no consent in force for this team: record one first"));
    }
    let mut tx = ctx.pool.begin().await?;
    store::set_family_doctor(&mut tx, &reached, req.institution_id, name, &phone).await?;
    let details = serde_json::json!({"resident_id": reached.id(), "institution_id": req.institution_id, "name": name});
    crate::audit::record(&mut tx, auth.actor(), "resident.family_doctor_named", "resident", reached.id(), details)
        .await?;
    tx.commit().await?;
    Ok(Json(FamilyDoctorBody { institution_id: req.institution_id, name: name.to_owned(), phone }))
}
