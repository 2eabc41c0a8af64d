//! The hotline desk (81890-style): the people answering the phone for the
//! whole platform. A number finds the elder or her family; a call is
//! logged with what came of it; an elder calling for help is an SOS raised
//! at once; elders living alone whom nobody has been in touch with are
//! called, and two calls unanswered send someone to the door.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Query, Result};
use crate::alerts::Subject;
use crate::domain::care::WELFARE_CHECK;
use crate::domain::scope::{Identity, Reached};
use crate::domain::{AlertKind, Role, Severity};
use crate::rules::Decision;
use crate::store::desk::{self as store, Call, CheckCall, NewCall, OpenAlert, Serving};
use crate::store::matching::NewRequest;
use crate::store::matching::Offered;
use crate::store::residents::Resident;

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(lookup)).routes(routes!(log_call)).routes(routes!(check_calls))
}

/// How many of an elder's last calls the desk sees.
const LAST_CALLS: i64 = 5;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct LookupQuery {
    /// The caller's number in international form (`+8613800000000`);
    /// required.
    #[param(pattern = r"^\+[0-9]{6,15}$", nullable = false)]
    phone: Option<String>,
}

/// A family member whose number it is.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DeskFamilyMember)]
struct FamilyMember {
    user_id: Uuid,
    name: String,
}

/// Where the elder is, as her sensors judged it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DeskPresence)]
struct Presence {
    /// in, out or unsure.
    presence: String,
    since: DateTime<Utc>,
}

/// An elder the number found, with what the desk needs on the phone.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DeskMatch)]
struct Match {
    /// `elder`: her own phone; `family`: a family member's.
    matched: String,
    #[schema(required = true)]
    family_member: Option<FamilyMember>,
    resident: Resident,
    #[schema(required = true)]
    presence: Option<Presence>,
    open_alerts: Vec<OpenAlert>,
    /// Her service requests not yet done or withdrawn.
    open_requests: Vec<super::matching::View>,
    last_calls: Vec<Call>,
    /// What can be ordered for her: the services of the providers serving
    /// her division, each with the provider a request goes to first.
    services: Vec<Offered>,
    /// The institutions enrolled with her now (a complaint names one).
    providers: Vec<Serving>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DeskLookup)]
struct Lookup {
    phone: String,
    matches: Vec<Match>,
    /// The last calls from or to this number that named no elder.
    calls: Vec<Call>,
}

#[utoipa::path(get, path = "/desk/lookup",
    summary = "Who is calling: the elders with this phone, and the elders of family members with it, each with identity, status, presence, open alerts, open requests and the last calls",
    description = "Who may call it: desk.", params(LookupQuery),
    responses((status = 200, description = "success", body = Lookup)))]
async fn lookup(State(ctx): State<ApiContext>, auth: AuthUser, Query(q): Query<LookupQuery>) -> Result<Json<Lookup>> {
    if auth.scope.role != Role::Desk {
        return Err(Error::Forbidden("only the hotline desk looks callers up"));
    }
    let phone = phone(q.phone.as_deref().unwrap_or_default())?;
    let found = store::lookup(&ctx.pool, &auth.scope, &phone).await?;
    let mut matches = Vec::with_capacity(found.len());
    for hit in found {
        let Some(mut resident) = crate::store::residents::fetch(&ctx.pool, &auth.scope, hit.resident_id).await? else {
            continue;
        };
        super::status::fill(&ctx, std::slice::from_mut(&mut resident)).await?;
        let reached = auth.reach::<Identity>(&ctx, hit.resident_id).await?;
        matches.push(card(&ctx, &auth, &reached, resident, hit).await?);
    }
    let calls = store::calls_from(&ctx.pool, &phone, LAST_CALLS).await?;
    Ok(Json(Lookup { phone, matches, calls }))
}

async fn card(
    ctx: &ApiContext,
    auth: &AuthUser,
    reached: &Reached<Identity>,
    resident: Resident,
    hit: store::Found,
) -> Result<Match> {
    let presence = store::presence(&ctx.pool, reached).await?.map(|(presence, since)| Presence { presence, since });
    let open_alerts = store::open_alerts(&ctx.pool, &auth.scope, reached).await?;
    let mut open_requests = Vec::new();
    for request in crate::store::matching::of_resident(&ctx.pool, reached).await? {
        let view = super::matching::view(ctx, auth, request).await?;
        if !matches!(view.status.as_str(), "done" | "cancelled") {
            open_requests.push(view);
        }
    }
    let last_calls = store::calls_of(&ctx.pool, reached, LAST_CALLS).await?;
    let services = crate::store::matching::offered(&mut *ctx.pool.acquire().await?, reached).await?;
    let providers = store::serving(&ctx.pool, reached).await?;
    let family_member =
        hit.family_user_id.map(|user_id| FamilyMember { user_id, name: hit.family_name.unwrap_or_default() });
    Ok(Match {
        matched: if family_member.is_some() { "family" } else { "elder" }.into(),
        family_member,
        resident,
        presence,
        open_alerts,
        open_requests,
        last_calls,
        services,
        providers,
    })
}

/// A number in international form, or a 422 saying so.
fn phone(raw: &str) -> Result<String> {
    super::notifications::parse_phone(Some(raw))?.ok_or_else(|| Error::validation("phone", "a phone number"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewCall)]
struct CallBody {
    /// The other end's number, in international form.
    #[schema(pattern = r"^\+[0-9]{6,15}$")]
    phone: String,
    /// in (she called) or out (the desk called).
    #[schema(pattern = "^(in|out)$")]
    direction: String,
    /// The elder the call was about.
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(nullable = false)]
    resident_id: Option<Uuid>,
    /// service_request, alert (she calls for help: an SOS is raised at
    /// once), information, complaint, wellbeing, no_answer (two in a row
    /// send a welfare check).
    #[schema(pattern = "^(service_request|alert|information|complaint|wellbeing|no_answer)$")]
    disposition: String,
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(max_length = 2000, nullable = false)]
    note: Option<String>,
}

const DISPOSITIONS: [&str; 6] = ["service_request", "alert", "information", "complaint", "wellbeing", "no_answer"];

#[utoipa::path(post, path = "/calls",
    summary = "Log a call with its disposition: alert raises an SOS for the elder at once (her monitoring provider's, critical); the second no_answer in a row with no contact between sends a welfare check, matched like any request",
    description = "Who may call it: desk; grid_worker (elders of the grid).", request_body = CallBody,
    responses((status = 201, description = "success", body = Call)))]
async fn log_call(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<CallBody>,
) -> Result<(StatusCode, Json<Call>)> {
    if !matches!(auth.scope.role, Role::Desk | Role::GridWorker) {
        return Err(Error::Forbidden("the hotline desk and grid workers log calls"));
    }
    let phone = phone(&req.phone)?;
    if !matches!(req.direction.as_str(), "in" | "out") {
        return Err(Error::validation("direction", "in or out"));
    }
    if !DISPOSITIONS.contains(&req.disposition.as_str()) {
        return Err(Error::validation("disposition", DISPOSITIONS.join(", ")));
    }
    let note = req.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > 2000) {
        return Err(Error::validation("note", "at most 2000 characters"));
    }
    let resident = match req.resident_id {
        Some(id) => Some(auth.reach::<Identity>(&ctx, id).await?),
        None if auth.scope.role == Role::GridWorker => {
            return Err(Error::validation("resident_id", "a grid worker's call is about an elder of the grid"));
        }
        None => None,
    };
    let disposition = req.disposition.as_str();
    if matches!(disposition, "alert" | "no_answer") && resident.is_none() {
        return Err(Error::validation("resident_id", format!("{disposition}: name the elder")));
    }
    if disposition == "no_answer" && req.direction != "out" {
        return Err(Error::validation("direction", "no_answer is a call the desk made (out)"));
    }
    let mut tx = ctx.pool.begin().await?;
    let new = NewCall { phone: &phone, direction: &req.direction, disposition, note };
    let id = store::insert(&mut tx, &auth.scope, resident.as_ref(), &new).await?;
    let mut opened = None;
    let mut welfare_check = None;
    if let Some(resident) = &resident {
        match disposition {
            "alert" => {
                let institution = store::alarm_institution(&mut tx, resident).await?;
                let subject = Subject {
                    institution_id: institution,
                    resident_id: Some(resident.id()),
                    device_id: None,
                    room: None,
                };
                // The same alert as her SOS button's: a press while one is
                // open counts as a repeat of it.
                let decision = Decision::Raise {
                    kind: AlertKind::Sos,
                    cause: String::new(),
                    severity: Severity::Critical,
                    at: Utc::now(),
                    details: json!({"source": "hotline", "call_id": id, "phone": phone, "note": note}),
                };
                opened = crate::alerts::apply_in(&mut tx, &subject, &decision, false).await?;
                store::link(&mut tx, id, opened.as_ref().map(|a| a.alert.id), None).await?;
            }
            "no_answer" if store::unanswered_in_a_row(&mut tx, resident).await? >= 2 => {
                let new = NewRequest {
                    service_code: WELFARE_CHECK,
                    offer_seconds: super::matching::offer_seconds(&ctx),
                    preferred_start: Some(Utc::now()),
                    note: Some("Two check calls unanswered: please call at the door."),
                };
                let request = super::matching::ask(&mut tx, &auth, resident, &new).await?;
                store::link(&mut tx, id, None, Some(request)).await?;
                welfare_check = Some(request);
            }
            _ => {}
        }
    }
    let details = json!({"call_id": id, "direction": req.direction, "disposition": disposition,
                         "alert_id": opened.as_ref().map(|a| a.alert.id), "service_request_id": welfare_check});
    match &resident {
        Some(resident) => {
            crate::audit::record(&mut tx, auth.actor(), "call.logged", "resident", resident.id(), details)
        }
        None => crate::audit::record(&mut tx, auth.actor(), "call.logged", "call", id, details),
    }
    .await?;
    tx.commit().await?;
    if let Some(applied) = &opened {
        applied.count(&ctx.metrics);
    }
    tracing::info!(by = %auth.scope.user, call_id = %id, disposition, "call logged");
    let call = match &resident {
        Some(resident) => store::calls_of(&ctx.pool, resident, 1).await?.into_iter().find(|c| c.id == id),
        None => store::calls_from(&ctx.pool, &phone, 1).await?.into_iter().find(|c| c.id == id),
    };
    Ok((StatusCode::CREATED, Json(call.ok_or(Error::NotFound)?)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct CheckCallQuery {
    /// At most this many (default 100, at most 500).
    #[param(minimum = 1, maximum = 500, nullable = false)]
    limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CheckCallList)]
struct CheckCalls {
    /// Days without contact that put an elder on the list (the setting).
    days: u32,
    elders: Vec<CheckCall>,
}

#[utoipa::path(get, path = "/desk/check-calls",
    summary = "Elders living alone, at home, with no call answered, visit, sensor activity or family message in check_call_days: never contacted first, then the longest silence",
    description = "Who may call it: desk; grid_worker (elders of the grid).", params(CheckCallQuery),
    responses((status = 200, description = "success", body = CheckCalls)))]
async fn check_calls(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Query(q): Query<CheckCallQuery>,
) -> Result<Json<CheckCalls>> {
    if !matches!(auth.scope.role, Role::Desk | Role::GridWorker) {
        return Err(Error::Forbidden("the hotline desk and grid workers make check calls"));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(Error::validation("limit", "limit must be between 1 and 500"));
    }
    let days = ctx.settings.desk.check_call_days;
    let elders = store::check_calls(&ctx.pool, &auth.scope, days, limit).await?;
    Ok(Json(CheckCalls { days, elders }))
}
