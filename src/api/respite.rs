//! Respite: a care home's short-stay beds, and a stay booked on one for an
//! elder with a respite entitlement. The stay is her status `respite` for
//! its days (home rules pause as for `away`; her devices still alarm), and
//! its days count against the entitlement's days a year.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::status::{Change, record};
use super::{ApiContext, Error, Json, Path, Query, Result};
use crate::domain::Role;
use crate::domain::scope::Identity;
use crate::domain::status::{self as status_rules, ResidentStatus};
use crate::store::respite::{self as store, BedDay, NewStay, Stay};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(set_beds, beds)).routes(routes!(book, list))
}

/// The longest span of dates set or read at once.
const MAX_DAYS: i64 = 366;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BedsRequest {
    from: NaiveDate,
    /// Included; at most a year after `from`.
    until: NaiveDate,
    #[schema(minimum = 0, maximum = 1000)]
    beds: i32,
}

fn span(from: NaiveDate, until: NaiveDate) -> Result<()> {
    if until < from || (until - from).num_days() >= MAX_DAYS {
        return Err(Error::validation("until", "from from to at most a year after it"));
    }
    Ok(())
}

#[derive(Debug, Serialize, ToSchema)]
struct BedDays {
    days: Vec<BedDay>,
}

#[utoipa::path(put, path = "/institutions/{id}/short-stay-beds",
    summary = "Set the care home's short-stay (respite) beds for each date of a span",
    description = "Who may call it: admin (of the care home).", params(("id" = Uuid, Path)), request_body = BedsRequest,
    responses((status = 200, description = "success", body = BedDays)))]
async fn set_beds(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<BedsRequest>,
) -> Result<Json<BedDays>> {
    let own = auth.require_admin()?;
    if own != id {
        return Err(Error::NotFound);
    }
    span(req.from, req.until)?;
    if !(0..=1000).contains(&req.beds) {
        return Err(Error::validation("beds", "0 to 1000"));
    }
    let mut tx = ctx.pool.begin().await?;
    if !store::set_beds(&mut tx, &auth.scope, req.from, req.until, req.beds).await? {
        return Err(Error::validation("id", "short-stay beds are a care home's"));
    }
    let details = serde_json::json!({"from": req.from, "until": req.until, "beds": req.beds});
    crate::audit::record(&mut tx, auth.actor(), "short_stay_beds.set", "institution", id, details).await?;
    let days = store::availability(&mut tx, id, req.from, req.until).await?.unwrap_or_default();
    tx.commit().await?;
    Ok(Json(BedDays { days }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct BedsQuery {
    #[param(nullable = false)]
    from: Option<NaiveDate>,
    #[param(nullable = false)]
    until: Option<NaiveDate>,
}

#[utoipa::path(get, path = "/institutions/{id}/short-stay-beds",
    summary = "A care home's short-stay beds, booked and free, per date (default the next 30 days)",
    description = "Who may call it: any logged-in user (a directory's figures; no elder is named).",
    params(("id" = Uuid, Path), BedsQuery), responses((status = 200, description = "success", body = BedDays)))]
async fn beds(
    State(ctx): State<ApiContext>,
    _auth: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<BedsQuery>,
) -> Result<Json<BedDays>> {
    let from = q.from.unwrap_or_else(|| Utc::now().date_naive());
    let until = q.until.unwrap_or(from + Duration::days(29));
    span(from, until)?;
    let mut conn = ctx.pool.acquire().await?;
    let days = store::availability(&mut conn, id, from, until).await?.ok_or(Error::NotFound)?;
    Ok(Json(BedDays { days }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StayRequest {
    /// The care home (an institution of kind `care_home`).
    institution_id: Uuid,
    /// The first night's date.
    from: NaiveDate,
    /// The last day of the stay (included).
    until: NaiveDate,
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(max_length = 2000, nullable = false)]
    note: Option<String>,
}

/// Local midnight starting `date` in `zone`.
fn midnight(zone: &str, date: NaiveDate) -> DateTime<Utc> {
    let tz: chrono_tz::Tz = zone.parse().unwrap_or(chrono_tz::UTC);
    let naive = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&naive).earliest().map_or(naive.and_utc(), |t| t.with_timezone(&Utc))
}

#[utoipa::path(post, path = "/residents/{id}/respite-stays",
    summary = "Book a respite stay at a care home with a free short-stay bed every date of it, against the elder's respite entitlement (422 no_respite_entitlement, respite_days_exhausted, no_free_bed); her status is respite for the stay",
    description = "Who may call it: admin and staff of an institution enrolled for the elder, civil_affairs (in its division).",
    params(("id" = Uuid, Path)), request_body = StayRequest, responses((status = 201, description = "success", body = Stay)))]
async fn book(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<StayRequest>,
) -> Result<(StatusCode, Json<Stay>)> {
    if !matches!(auth.scope.role, Role::Admin | Role::Staff | Role::CivilAffairs) {
        return Err(Error::NotFound);
    }
    let resident = auth.reach::<Identity>(&ctx, id).await?;
    span(req.from, req.until)?;
    if req.note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(Error::validation("note", "at most 2000 characters"));
    }
    let now = Utc::now();
    let mut tx = ctx.pool.begin().await?;
    crate::store::status::lock_resident(&mut tx, &resident).await?;
    if store::availability(&mut tx, req.institution_id, req.from, req.from).await?.is_none() {
        return Err(Error::validation("institution_id", "no such care home"));
    }
    let (entitlement, per_year) = store::entitlement_for(&mut tx, &resident, req.from, req.until)
        .await?
        .ok_or_else(|| Error::refused("no_respite_entitlement", "no respite entitlement covers the whole stay"))?;
    // Each calendar year's days within its quota.
    for year in req.from.year()..=req.until.year() {
        let first = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or(req.from).max(req.from);
        let last = NaiveDate::from_ymd_opt(year, 12, 31).unwrap_or(req.until).min(req.until);
        let asked = (last - first).num_days() + 1;
        let used = store::days_used(&mut tx, &resident, year).await?;
        if used + asked > i64::from(per_year) {
            return Err(Error::refused(
                "respite_days_exhausted",
                format!("{year}: {used} of {per_year} respite days used, {asked} asked"),
            ));
        }
    }
    if let Some(day) = store::first_full_day(&mut tx, req.institution_id, req.from, req.until).await? {
        return Err(Error::refused("no_free_bed", format!("no short-stay bed is free on {day}")));
    }
    let zone = crate::store::meals::resident_timezone(&mut tx, resident.id()).await?;
    let (from, until) = (midnight(&zone, req.from), midnight(&zone, req.until + Duration::days(1)));
    let history = crate::store::status::periods(&mut tx, &resident).await?;
    status_rules::check(&history, ResidentStatus::Respite, from, Some(until), now).map_err(
        |refused| match refused {
            status_rules::Refused::Invalid(field, message) => Error::validation(field, message),
            status_rules::Refused::Illegal(message) => Error::Conflict(message),
        },
    )?;
    let new =
        NewStay { care_home: req.institution_id, entitlement, from: req.from, until: req.until, by: auth.scope.user };
    let stay = store::book(&mut tx, &resident, &new).await?;
    let note = req.note.clone().unwrap_or_else(|| format!("respite stay at {}", stay.institution_name));
    let change = Change { status: ResidentStatus::Respite, from, until: Some(until), note: Some(&note) };
    let (effects, disconnect) = record(&ctx, &mut tx, &auth.scope, &resident, &change, now).await?;
    let details = serde_json::json!({"stay_id": stay.id, "institution_id": req.institution_id, "from": req.from,
        "until": req.until, "entitlement_id": entitlement, "effects": effects});
    crate::audit::record(&mut tx, auth.actor(), "resident.respite_booked", "resident", resident.id(), details).await?;
    tx.commit().await?;
    disconnect.send().await;
    Ok((StatusCode::CREATED, Json(stay)))
}

#[derive(Debug, Serialize, ToSchema)]
struct StayList {
    stays: Vec<Stay>,
    /// This year's respite days: entitled (the entitlement in force today) and used.
    year: i32,
    #[schema(required = true)]
    days_entitled: Option<i32>,
    days_used: i64,
}

#[utoipa::path(get, path = "/residents/{id}/respite-stays",
    summary = "The elder's respite stays, and this year's respite days entitled and used",
    description = "Who may call it: family (linked), the institutions enrolled, civil_affairs (in its division).",
    params(("id" = Uuid, Path)), responses((status = 200, description = "success", body = StayList)))]
async fn list(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<StayList>> {
    if matches!(auth.scope.role, Role::GridWorker | Role::Assessor | Role::Insurer) {
        return Err(Error::NotFound);
    }
    let resident = auth.reach::<Identity>(&ctx, id).await?;
    let mut conn = ctx.pool.acquire().await?;
    let today = crate::store::meals::resident_today(&mut conn, &resident).await?;
    let days_entitled = store::entitlement_for(&mut conn, &resident, today, today).await?.map(|(_, days)| days);
    let days_used = store::days_used(&mut conn, &resident, today.year()).await?;
    drop(conn);
    Ok(Json(StayList {
        stays: store::stays(&ctx.pool, &resident).await?,
        year: today.year(),
        days_entitled,
        days_used,
    }))
}
