//! Visits asked for rather than planned: someone sent to the door for an
//! alert, and a service a family (or the resident's staff) requests.

use super::*;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Dispatch)]
pub(super) struct DispatchRequest {
    #[schema(default = "WELFARE-CHECK", nullable = false)]
    service_code: Option<String>,
    caregiver_id: Option<Uuid>,
    #[schema(nullable = false)]
    funding: Option<Funding>,
    note: Option<String>,
}

/// Sends someone to the door for an alert: a visit due at once, linked to
/// the alert, its cost the provider's own unless said otherwise.
#[utoipa::path(post, path = "/alerts/{id}/dispatch",
    summary = "Send someone to the door: a visit due now, linked to the alert (its timeline shows visit.dispatched, visit.checked_in, visit.checked_out), funding institution by default",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path)), request_body = DispatchRequest,
    responses((status = 201, description = "success", body = VisitBody)))]
pub(super) async fn dispatch(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(alert_id): Path<Uuid>,
    Json(req): Json<DispatchRequest>,
) -> Result<(StatusCode, Json<VisitBody>)> {
    let mut tx = ctx.pool.begin().await?;
    let alert = crate::alerts::fetch_visible(&mut tx, &auth.scope, alert_id).await?.ok_or(Error::NotFound)?;
    let institution = auth.require_staff()?;
    check_note("note", &req.note)?;
    let Some(resident_id) = alert.resident_id else {
        return Err(Error::Conflict("this alert is about no resident: there is no door to go to".into()));
    };
    if alert.status == crate::domain::Status::Resolved {
        return Err(Error::Conflict("the alert is resolved".into()));
    }
    let code = req.service_code.as_deref().unwrap_or(care::WELFARE_CHECK);
    let service = service_by_code(&mut tx, &auth.scope, code, "service_code").await?;
    let funding = req.funding.unwrap_or(Funding::Institution);
    if funding != Funding::Institution && !service.funding.contains(&funding) {
        return Err(Error::validation("funding", format!("{} is not paid by {funding}", service.code)));
    }
    if let Some(carer) = req.caregiver_id {
        check_carer(&ctx, &auth, carer, Utc::now().date_naive()).await?;
    }
    let status = if req.caregiver_id.is_some() { VisitStatus::Assigned } else { VisitStatus::Scheduled };
    let id = visits::insert(
        &mut tx,
        NewVisit {
            institution_id: institution,
            resident_id,
            service_id: service.id,
            funding,
            origin: Origin::Alert,
            status,
            scheduled_start: Some(Utc::now()),
            preferred_start: None,
            caregiver_id: req.caregiver_id,
            alert_id: Some(alert_id),
            note: req.note.clone(),
            requested_by: Some(auth.scope.user),
            clinical_record_id: None,
        },
    )
    .await?;
    let visit = visits::fetch_any(&mut tx, id).await?.ok_or(Error::NotFound)?;
    crate::care::tell_alert(&mut tx, &visit, auth.scope.user, Step::VisitDispatched).await?;
    let details = json!({"alert_id": alert_id, "resident_id": resident_id, "service_code": service.code,
                         "caregiver_id": req.caregiver_id, "funding": funding, "origin": Origin::Alert});
    crate::audit::record(&mut tx, auth.actor(), "visit.dispatched", "visit", id, details).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, answer(&ctx, &auth, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewServiceRequest)]
pub(super) struct ServiceRequest {
    service_code: String,
    preferred_start: Option<DateTime<Utc>>,
    note: Option<String>,
}

/// A family (or staff on the phone with the elder) asks for a service: a
/// visit `requested`, waiting for a coordinator. It is paid as the
/// resident's plan pays that service, else by the resident when the
/// service takes self-pay, else by its first funder.
#[utoipa::path(post, path = "/residents/{id}/service-requests",
    summary = "Ask for a service: a visit requested, waiting for a coordinator to schedule or decline it",
    description = "Who may call it: admin, staff, linked family.", params(("id" = Uuid, Path)), request_body = ServiceRequest,
    responses((status = 201, description = "success", body = VisitBody)))]
pub(super) async fn request(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<ServiceRequest>,
) -> Result<(StatusCode, Response)> {
    let reached = auth.reach::<Care>(&ctx, id).await?;
    let id = reached.id();
    let Some(institution) = auth.scope.institution else { return Err(Error::NotFound) };
    check_note("note", &req.note)?;
    if req.preferred_start.is_some_and(|at| at < Utc::now() - chrono::Duration::hours(1)) {
        return Err(Error::validation("preferred_start", "preferred_start has passed"));
    }
    let mut tx = ctx.pool.begin().await?;
    let service = service_by_code(&mut tx, &auth.scope, &req.service_code, "service_code").await?;
    let plan = catalogue::plan(&mut tx, &reached).await?;
    let planned = plan.items.iter().find(|i| i.service_code == service.code).map(|i| i.funding);
    let funding = care::requested_funding(planned, &service.funding);
    let visit_id = visits::insert(
        &mut tx,
        NewVisit {
            institution_id: institution,
            resident_id: id,
            service_id: service.id,
            funding,
            origin: Origin::Request,
            status: VisitStatus::Requested,
            scheduled_start: None,
            preferred_start: req.preferred_start,
            caregiver_id: None,
            alert_id: None,
            note: req.note.clone(),
            requested_by: Some(auth.scope.user),
            clinical_record_id: None,
        },
    )
    .await?;
    let details = json!({"resident_id": id, "service_code": service.code, "preferred_start": req.preferred_start,
                         "funding": funding, "origin": Origin::Request});
    crate::audit::record(&mut tx, auth.actor(), "visit.requested", "visit", visit_id, details).await?;
    tx.commit().await?;
    let mut conn = ctx.pool.acquire().await?;
    let visit = visits::fetch(&mut conn, &auth.scope, visit_id, false).await?.ok_or(Error::NotFound)?;
    let body = if auth.scope.role == Role::Family {
        Json(FamilyVisit::from(&visit)).into_response()
    } else {
        Json(VisitBody::from(&visit)).into_response()
    };
    Ok((StatusCode::CREATED, body))
}
