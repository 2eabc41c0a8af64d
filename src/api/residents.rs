//! Residents: the people cared for.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa::openapi::{RefOr, Schema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::error::ResultExt;
use super::{ApiContext, Error, Json, PageQuery, Path, Query, Result};
use crate::domain::Role;
use crate::domain::care::Location;
use crate::domain::division::{Code, Level};
use crate::domain::field::{self, NOT_BLANK};
use crate::domain::registry::{EconomicStatus, Gender, Household, IdNumber, Service};
use crate::domain::scope::{Identity, Monitoring};
use crate::store::residents::{
    self, ConsentBy, FamilyMember, FamilyPage, NewConsent, NewResident, Resident, ResidentChange,
};
use crate::store::users;

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(fetch, update))
        .routes(routes!(link_family, list_family))
        .routes(routes!(unlink_family))
        .routes(routes!(record_monitoring_consent))
        .routes(routes!(record_link_consent))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewResident)]
struct NewResidentRequest {
    #[schema(schema_with = field::text::<200>)]
    name: String,
    /// Default: the institution's.
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(value_type = field::Timezone, required = false)]
    timezone: Option<String>,
    room: Option<String>,
    notes: Option<String>,
    /// The 18-character resident identity number (GB 11643); answered
    /// masked, and 409 `already_registered` when an elder has it already.
    #[schema(pattern = "^[1-9][0-9]{16}[0-9Xx]$")]
    id_number: Option<String>,
    /// Default: what the id number says.
    gender: Option<Gender>,
    /// Default: what the id number says (which it must agree with).
    birth_date: Option<NaiveDate>,
    #[schema(pattern = "^\\+?[0-9][0-9 -]{5,19}$")]
    phone: Option<String>,
    /// The community (12 digits) or grid (15) the elder lives in.
    #[schema(pattern = "^[0-9]{12}([0-9]{3})?$")]
    division: Option<String>,
    household: Option<Household>,
    economic_status: Option<EconomicStatus>,
    /// What this institution is enrolled for; default all.
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(min_items = 1, required = false, nullable = false)]
    services: Option<Vec<Service>>,
}

/// Fields absent from a PATCH are left alone; `null` clears an optional one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ResidentPatch {
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(schema_with = field::text::<200>, required = false)]
    name: Option<String>,
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(value_type = field::Timezone, required = false)]
    timezone: Option<String>,
    #[serde(default, deserialize_with = "crate::domain::wire::double_option")]
    #[schema(required = false)]
    room: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::domain::wire::double_option")]
    #[schema(required = false)]
    notes: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::domain::wire::double_option")]
    #[schema(max_length = 500, required = false)]
    address: Option<Option<String>>,
    /// WGS 84; visits are checked against it.
    #[serde(default, deserialize_with = "crate::domain::wire::nullable_object")]
    #[schema(value_type = Option<Location>, required = false)]
    location: Option<Option<Location>>,
}

pub fn validate_timezone(tz: &str) -> Result<()> {
    tz.parse::<chrono_tz::Tz>()
        .map(|_| ())
        .map_err(|_| Error::validation("timezone", format!("{tz:?} is not an IANA time zone name")))
}

#[utoipa::path(post, path = "/residents", summary = "Create a resident", description = "Who may call it: admin, staff.",
    request_body = NewResidentRequest, responses((status = 201, description = "success", body = Resident)))]
async fn create(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<NewResidentRequest>,
) -> Result<(StatusCode, Json<Resident>)> {
    auth.require_staff()?;
    super::text("name", &req.name, 200)?;
    let timezone = match req.timezone.clone() {
        Some(tz) => tz,
        None => residents::default_timezone(&ctx.pool, &auth.scope).await?,
    };
    validate_timezone(&timezone)?;
    let id = Uuid::new_v4();
    let registry = registry(&ctx, id, &req)?;
    let services = match &req.services {
        Some(services) if services.is_empty() => return Err(Error::validation("services", "at least one service")),
        Some(services) => services.clone(),
        None => Service::ALL.to_vec(),
    };
    let mut tx = ctx.pool.begin().await?;
    let new = NewResident {
        name: req.name.trim(),
        timezone: &timezone,
        room: req.room,
        notes: req.notes,
        registry,
        services,
    };
    let resident = match residents::create(&mut tx, &auth.scope, id, new).await {
        Ok(resident) => resident,
        Err(residents::Refused::AlreadyRegistered(existing)) => {
            drop(tx);
            return Err(already_registered(&ctx, &auth, existing).await);
        }
        Err(residents::Refused::NoDivision) => return Err(Error::validation("division", "no such division")),
        Err(residents::Refused::Db(e)) => return Err(e.into()),
    };
    let details = serde_json::json!({"name": resident.name, "timezone": resident.timezone, "room": resident.room,
        "id_number": resident.id_number, "division": resident.division});
    crate::audit::record(&mut tx, auth.actor(), "resident.created", "resident", resident.id, details).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(resident)))
}

/// The answer to registering an id number on the registry already: the
/// elder's id, and the institution's claim to enrol them (which an admin's
/// enrolment needs), on the audit trail. A registration that lost a race
/// for the number has no id to give: the caller registers again.
async fn already_registered(ctx: &ApiContext, auth: &AuthUser, existing: Uuid) -> Error {
    if existing.is_nil() {
        return Error::Conflict("this id number was registered a moment ago: register it again".into());
    }
    let claimed = async {
        crate::store::enrolments::claim(&ctx.pool, &auth.scope, existing).await?;
        let mut tx = ctx.pool.begin().await?;
        let details = serde_json::json!({"institution_id": auth.scope.institution});
        crate::audit::record(&mut tx, auth.actor(), "resident.already_registered", "resident", existing, details)
            .await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    };
    match claimed.await {
        Ok(()) => Error::AlreadyRegistered(existing),
        Err(e) => e,
    }
}

/// The registry's fields of a new resident, checked: the id number by its
/// check digit (and sealed, which needs the sealing key), the birth date
/// and gender against it.
fn registry(ctx: &ApiContext, id: Uuid, req: &NewResidentRequest) -> Result<residents::Registry> {
    let number =
        req.id_number.as_deref().map(IdNumber::parse).transpose().map_err(|why| Error::validation("id_number", why))?;
    let mut gender = req.gender;
    let mut birth_date = req.birth_date;
    let id_number = match &number {
        Some(number) => {
            if birth_date.is_some_and(|d| d != number.birth_date()) {
                return Err(Error::validation("birth_date", "the id number holds another date of birth"));
            }
            if gender.is_some_and(|g| g != number.gender()) {
                return Err(Error::validation("gender", "the id number holds the other gender"));
            }
            birth_date = Some(number.birth_date());
            gender = Some(number.gender());
            let secret =
                ctx.settings.webhooks.secret_key.as_ref().ok_or_else(|| {
                    Error::Conflict(crate::domain::keys::NoSealingKey("resident id numbers").to_string())
                })?;
            Some(number.seal(secret, id))
        }
        None => None,
    };
    if birth_date.is_some_and(|d| d > Utc::now().date_naive() || d.year() < 1880) {
        return Err(Error::validation("birth_date", "birth_date must be a past date"));
    }
    let phone = req.phone.as_deref().map(registry_phone).transpose()?;
    let division = match req.division.as_deref() {
        Some(code) => match Code::parse(code) {
            Some(code) if matches!(code.level(), Some(Level::Community | Level::Grid)) => {
                Some(code.as_str().to_owned())
            }
            _ => return Err(Error::validation("division", "division must be a community or grid code")),
        },
        None => None,
    };
    Ok(residents::Registry {
        id_number,
        gender,
        birth_date,
        phone,
        division,
        household: req.household,
        economic_status: req.economic_status,
    })
}

/// A phone number as the registry keeps it: digits (after an optional
/// `+`), spaces and dashes dropped.
fn registry_phone(phone: &str) -> Result<String> {
    let compact: String = phone.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    let digits = compact.strip_prefix('+').unwrap_or(&compact);
    if !(6..=20).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::validation("phone", "phone must be 6 to 20 digits, with an optional leading +"));
    }
    Ok(compact)
}

#[derive(Debug, Serialize, ToSchema)]
struct ResidentList {
    residents: Vec<Resident>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Search the registry: a whole id number, a masked one
    /// (`330205********1234`), a phone number (or part of one) or part of
    /// a name.
    #[param(min_length = 1, max_length = 200, nullable = false)]
    q: Option<String>,
    #[param(minimum = 1, maximum = 1000, default = 200, nullable = false)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(schema_with = crate::domain::field::uuid_cursor)]
    cursor: Option<String>,
}

/// What a registry search asks for.
fn search(ctx: &ApiContext, q: &str) -> Result<residents::Search> {
    let q = q.trim();
    if q.is_empty() || super::chars(q) > 200 {
        return Err(Error::validation("q", "q must be 1 to 200 characters"));
    }
    let upper = q.to_ascii_uppercase();
    let masked = upper.len() == 18
        && upper.bytes().take(6).all(|b| b.is_ascii_digit())
        && upper[6..14].bytes().all(|b| b == b'*')
        && upper[14..].bytes().enumerate().all(|(i, b)| b.is_ascii_digit() || (i == 3 && b == b'X'));
    if masked {
        return Ok(residents::Search::Masked(upper));
    }
    if let Ok(number) = IdNumber::parse(q) {
        let secret = ctx
            .settings
            .webhooks
            .secret_key
            .as_ref()
            .ok_or_else(|| Error::Conflict(crate::domain::keys::NoSealingKey("resident id numbers").to_string()))?;
        return Ok(residents::Search::IdNumber(number.lookup(secret)));
    }
    let digits: String = q.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    if digits.len() >= 4 && digits.trim_start_matches('+').chars().all(|c| c.is_ascii_digit()) {
        return Ok(residents::Search::Phone(digits));
    }
    Ok(residents::Search::Name(q.to_owned()))
}

/// By name; the cursor is the last resident's id.
#[utoipa::path(get, path = "/residents", summary = "Residents the caller may see, or those a registry search finds among them",
    description = "Who may call it: any.", params(ListQuery),
    responses((status = 200, description = "success", body = ResidentList)))]
async fn list(State(ctx): State<ApiContext>, auth: AuthUser, Query(q): Query<ListQuery>) -> Result<Json<ResidentList>> {
    let limit = super::page_limit(q.limit)?;
    let search = q.q.as_deref().map(|text| search(&ctx, text)).transpose()?;
    let after = super::cursor_in_reach(q.cursor.as_deref(), async |id| {
        Ok(residents::visible(&ctx.pool, &auth.scope, id).await?.is_some())
    })
    .await?;
    let mut residents = residents::list(&ctx.pool, &auth.scope, search.as_ref(), after, limit + 1).await?;
    let next_cursor = super::next_page(&mut residents, limit, |r| r.id.to_string());
    super::status::fill(&ctx, &mut residents).await?;
    Ok(Json(ResidentList { residents, next_cursor }))
}

/// A caregiver reads only what their visits need of the residents they
/// have a visit with; everyone else the resident in their reach.
#[utoipa::path(get, path = "/residents/{id}",
    summary = "One resident; a caregiver with a visit to them reads only id, name, address, location and notes",
    description = "Who may call it: any.", params(("id" = Uuid, Path)),
    responses((status = 200, description = "success", body = Resident)))]
async fn fetch(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Response> {
    if auth.scope.role == Role::Caregiver {
        let resident = residents::for_carer(&ctx.pool, &auth.scope, id).await?.ok_or(Error::NotFound)?;
        return Ok(Json(resident).into_response());
    }
    let mut resident = residents::fetch(&ctx.pool, &auth.scope, id).await?.ok_or(Error::NotFound)?;
    super::status::fill(&ctx, std::slice::from_mut(&mut resident)).await?;
    Ok(Json(resident).into_response())
}

#[utoipa::path(patch, path = "/residents/{id}", summary = "Change a resident", description = "Who may call it: admin, staff.",
    params(("id" = Uuid, Path)), request_body = ResidentPatch,
    responses((status = 200, description = "success", body = Resident)))]
async fn update(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(patch): Json<ResidentPatch>,
) -> Result<Json<Resident>> {
    let reached = auth.reach_for_staff::<Identity>(&ctx, id).await?;
    let id = reached.id();
    if let Some(name) = &patch.name {
        super::text("name", name, 200)?;
    }
    if let Some(tz) = &patch.timezone {
        validate_timezone(tz)?;
    }
    if let Some(Some(address)) = &patch.address
        && address.chars().count() > 500
    {
        return Err(Error::validation("address", "address must be at most 500 characters"));
    }
    let location = match &patch.location {
        Some(Some(body)) => Some(Some(super::place::check("location", body)?)),
        Some(None) => Some(None),
        None => None,
    };
    let mut changes =
        serde_json::json!({"name": patch.name, "timezone": patch.timezone, "room": patch.room, "notes": patch.notes});
    if let Some(address) = &patch.address {
        changes["address"] = serde_json::json!(address);
    }
    if let Some(location) = &patch.location {
        changes["location"] = serde_json::json!(location);
    }
    let change = ResidentChange {
        name: patch.name.map(|n| n.trim().to_owned()),
        timezone: patch.timezone,
        room: patch.room,
        notes: patch.notes,
        address: patch.address,
        location,
    };
    let moved = change.timezone.is_some();
    let mut tx = ctx.pool.begin().await?;
    let mut resident = residents::update(&mut tx, id, change).await?;
    if moved {
        // The plan's visits are at local times: a new zone moves them.
        crate::care::sync_plan(&mut tx, &reached, chrono::Utc::now()).await?;
    }
    crate::audit::record(&mut tx, auth.actor(), "resident.updated", "resident", id, changes).await?;
    tx.commit().await?;
    super::status::fill(&ctx, std::slice::from_mut(&mut resident)).await?;
    Ok(Json(resident))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct FamilyLink {
    user_id: Uuid,
    #[schema(schema_with = field::text::<100>)]
    relationship: String,
    /// The resident's (or guardian's) consent to this member's access, when
    /// it is recorded with the link.
    #[serde(default, deserialize_with = "crate::domain::wire::non_null_object")]
    #[schema(value_type = ConsentGiven, required = false)]
    consent: Option<ConsentGiven>,
}

/// Who consented, and when (default: now).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentGiven {
    given_by: ConsentBy,
    guardian_name: Option<String>,
    decided_at: Option<DateTime<Utc>>,
}

/// A decision on consent: given, or withdrawn. Its fields are spelled out
/// rather than flattened: serde does not refuse unknown fields through a
/// flattened part.
#[derive(Debug, Deserialize)]
#[serde(from = "ConsentDecisionFields")]
struct ConsentDecision {
    given: bool,
    by: ConsentGiven,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentDecisionFields {
    given: bool,
    given_by: ConsentBy,
    guardian_name: Option<String>,
    decided_at: Option<DateTime<Utc>>,
}

impl From<ConsentDecisionFields> for ConsentDecision {
    fn from(f: ConsentDecisionFields) -> Self {
        let by = ConsentGiven { given_by: f.given_by, guardian_name: f.guardian_name, decided_at: f.decided_at };
        ConsentDecision { given: f.given, by }
    }
}

/// Who decided, as the server checks it: the resident, or a named guardian;
/// with `given` for a decision (`extra`).
fn consent_schema(extra: Option<(&str, serde_json::Value)>) -> RefOr<Schema> {
    let when = json!({"type": ["string", "null"], "format": "date-time",
                      "description": "when the decision was made (not in the future); default now"});
    let alternative = |by: &str, name: serde_json::Value| {
        let mut required = vec!["given_by"];
        let mut properties =
            json!({"given_by": {"type": "string", "enum": [by]}, "guardian_name": name, "decided_at": when});
        if by == "guardian" {
            required.push("guardian_name");
        }
        if let Some((field, schema)) = &extra {
            properties[*field] = schema.clone();
            required.push(field);
        }
        json!({"type": "object", "properties": properties, "required": required})
    };
    let by_resident = alternative("resident", json!({"type": "null"}));
    let by_guardian = alternative("guardian", json!({"type": "string", "maxLength": 200, "pattern": NOT_BLANK}));
    let closed = [by_resident, by_guardian].map(field::closed_json);
    closed.into_iter().fold(utoipa::openapi::schema::OneOfBuilder::new(), |b, s| b.item(s)).into()
}

impl utoipa::PartialSchema for ConsentGiven {
    fn schema() -> RefOr<Schema> {
        consent_schema(None)
    }
}

impl ToSchema for ConsentGiven {}

impl utoipa::PartialSchema for ConsentDecision {
    fn schema() -> RefOr<Schema> {
        consent_schema(Some(("given", json!({"type": "boolean"}))))
    }
}

impl ToSchema for ConsentDecision {}

impl ConsentGiven {
    fn validate(&self) -> Result<()> {
        let named = self.guardian_name.as_deref().is_some_and(|n| !n.trim().is_empty() && super::chars(n) <= 200);
        match (self.given_by, named) {
            (ConsentBy::Guardian, false) => {
                return Err(Error::validation("guardian_name", "a guardian's decision names the guardian"));
            }
            (ConsentBy::Resident, _) if self.guardian_name.is_some() => {
                return Err(Error::validation("guardian_name", "only a guardian's decision names a guardian"));
            }
            _ => {}
        }
        if self.decided_at.is_some_and(|at| at > Utc::now() + chrono::Duration::minutes(5)) {
            return Err(Error::validation("decided_at", "a decision is recorded once it was made"));
        }
        Ok(())
    }

    fn record(&self, given: bool, family_user: Option<Uuid>, auth: &AuthUser) -> NewConsent<'_> {
        NewConsent {
            family_user,
            given,
            given_by: self.given_by,
            guardian_name: self.guardian_name.as_deref().map(str::trim),
            decided_at: self.decided_at.unwrap_or_else(Utc::now),
            recorded_by: auth.scope.user,
        }
    }

    fn details(&self, given: bool) -> serde_json::Value {
        serde_json::json!({"given": given, "given_by": self.given_by, "guardian_name": self.guardian_name,
                           "decided_at": self.decided_at})
    }
}

#[utoipa::path(post, path = "/residents/{id}/family", summary = "Link a family user to a resident",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path)), request_body = FamilyLink,
    responses((status = 201, description = "success", body = FamilyMember)))]
async fn link_family(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<FamilyLink>,
) -> Result<(StatusCode, Json<FamilyMember>)> {
    let reached = auth.reach_for_staff::<Monitoring>(&ctx, id).await?;
    let id = reached.id();
    super::text("relationship", &req.relationship, 100)?;
    match users::role(&ctx.pool, &auth.scope, req.user_id).await? {
        None => return Err(Error::validation("user_id", "no such user in this institution")),
        Some(Role::Family) => {}
        Some(
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
            | Role::Clinician,
        ) => {
            return Err(Error::validation("user_id", "only family users are linked to residents"));
        }
    }
    if let Some(consent) = &req.consent {
        consent.validate()?;
    }
    let mut tx = ctx.pool.begin().await?;
    residents::link_family(&mut tx, &reached, req.user_id, req.relationship.trim())
        .await
        .on_constraint("family_links_pkey", || Error::Conflict("this user is already linked to the resident".into()))?;
    if let Some(consent) = &req.consent {
        residents::record_consent(&mut tx, &reached, consent.record(true, Some(req.user_id), &auth)).await?;
    }
    let consent = req.consent.as_ref().map(|c| c.details(true));
    let details =
        serde_json::json!({"user_id": req.user_id, "relationship": req.relationship.trim(), "consent": consent});
    crate::audit::record(&mut tx, auth.actor(), "family.linked", "resident", id, details).await?;
    tx.commit().await?;
    let only = FamilyPage { after: None, user: Some(req.user_id), limit: 1 };
    let member = residents::family(&ctx.pool, &reached, only).await?.into_iter().next().ok_or(Error::NotFound)?;
    Ok((StatusCode::CREATED, Json(member)))
}

#[derive(Debug, Serialize, ToSchema)]
struct FamilyList {
    family: Vec<FamilyMember>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// By name; the cursor is the last member's user id.
#[utoipa::path(get, path = "/residents/{id}/family", summary = "Family users linked to a resident",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, description = "success", body = FamilyList)))]
async fn list_family(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> Result<Json<FamilyList>> {
    let reached = auth.reach_for_staff::<Monitoring>(&ctx, id).await?;
    let limit = super::page_limit(q.limit)?;
    let after = super::cursor_in_reach(q.cursor.as_deref(), async |user| {
        let page = FamilyPage { after: None, user: Some(user), limit: 1 };
        Ok(!residents::family(&ctx.pool, &reached, page).await?.is_empty())
    })
    .await?;
    let page = FamilyPage { after, user: None, limit: limit + 1 };
    let mut family = residents::family(&ctx.pool, &reached, page).await?;
    let next_cursor = super::next_page(&mut family, limit, |m| m.user_id.to_string());
    Ok(Json(FamilyList { family, next_cursor }))
}

/// Ends a family link: that user's next read of the resident answers 404,
/// and their live stream stops carrying the resident's alerts.
#[utoipa::path(delete, path = "/residents/{id}/family/{user_id}",
    summary = "End a family link: the user's next read of the resident answers 404",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 204, description = "success")))]
async fn unlink_family(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path((id, user_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode> {
    let reached = auth.reach_for_staff::<Monitoring>(&ctx, id).await?;
    let id = reached.id();
    let mut tx = ctx.pool.begin().await?;
    if !residents::unlink_family(&mut tx, &reached, user_id).await? {
        return Err(Error::NotFound);
    }
    let details = serde_json::json!({"user_id": user_id});
    crate::audit::record(&mut tx, auth.actor(), "family.unlinked", "resident", id, details).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Records whether the resident (or their guardian) consents to being
/// monitored; answers the resident with the decision.
#[utoipa::path(put, path = "/residents/{id}/consent",
    summary = "Record the resident's (or guardian's) decision on being monitored; answers the resident",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path)), request_body = ConsentDecision,
    responses((status = 200, description = "success", body = Resident)))]
async fn record_monitoring_consent(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<ConsentDecision>,
) -> Result<Json<Resident>> {
    let reached = auth.reach_for_staff::<Monitoring>(&ctx, id).await?;
    let id = reached.id();
    req.by.validate()?;
    let mut tx = ctx.pool.begin().await?;
    residents::record_consent(&mut tx, &reached, req.by.record(req.given, None, &auth)).await?;
    crate::audit::record(&mut tx, auth.actor(), "consent.monitoring", "resident", id, req.by.details(req.given))
        .await?;
    tx.commit().await?;
    Ok(Json(residents::fetch(&ctx.pool, &auth.scope, id).await?.ok_or(Error::NotFound)?))
}

/// Records the resident's decision on one family member's access. Withdrawn,
/// the link ends at once: the member's next read of the resident answers
/// 404, as after an unlink.
#[utoipa::path(put, path = "/residents/{id}/family/{user_id}/consent",
    summary = "Record the resident's decision on a family member's access; withdrawn, the link ends at once",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    request_body = ConsentDecision, responses((status = 204, description = "success")))]
async fn record_link_consent(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path((id, user_id)): Path<(Uuid, Uuid)>,
    Json(req): Json<ConsentDecision>,
) -> Result<StatusCode> {
    let reached = auth.reach_for_staff::<Monitoring>(&ctx, id).await?;
    let id = reached.id();
    req.by.validate()?;
    let mut tx = ctx.pool.begin().await?;
    if !residents::is_linked(&mut tx, &reached, user_id).await? {
        return Err(Error::NotFound);
    }
    residents::record_consent(&mut tx, &reached, req.by.record(req.given, Some(user_id), &auth)).await?;
    if !req.given {
        residents::unlink_family(&mut tx, &reached, user_id).await?;
    }
    let mut details = req.by.details(req.given);
    details["user_id"] = serde_json::json!(user_id);
    crate::audit::record(&mut tx, auth.actor(), "consent.family_link", "resident", id, details).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
