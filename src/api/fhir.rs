//! The FHIR R4 view over HTTP, under `/fhir/r4`: the same tokens and the
//! same visibility as the API, FHIR's shapes (`application/fhir+json`,
//! `OperationOutcome` errors); and the one write, a medical partner's
//! `transaction` Bundle of discharge records. The mapping and the checks
//! live in `crate::fhir`.

use std::collections::HashSet;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use tokio::sync::OwnedSemaphorePermit;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error};
use crate::domain::clinical::ClinicalKind;
use crate::domain::scope::{AreaOf, Care, Meals, Reached};
use crate::fhir::ids::{Measured, ObservationId};
use crate::fhir::intake::Refusal;
use crate::fhir::map::{self, Base};
use crate::fhir::model::*;
use crate::fhir::store::{self, ReadingFilter};
use crate::store::clinical as records;

mod partners;

pub const CONTENT_TYPE: &str = "application/fhir+json";
/// Observations a search page holds unless `_count` says otherwise.
const DEFAULT_COUNT: i64 = 50;
/// Observations a page of `$everything` holds unless `_count` says otherwise.
const EVERYTHING_DEFAULT_COUNT: i64 = MAX_COUNT;
const MAX_COUNT: i64 = 1000;
/// The longest period an Observation search or `$everything` covers: the
/// API's bound on raw readings (the view has no bucketed form). A longer
/// one is refused, never cut short silently.
const MAX_SPAN: Duration = super::data::MAX_RAW_SPAN;
/// The newest messages of the thread `$everything` looks through.
const MAX_MESSAGES: i64 = 1000;
/// The records of each kind partners sent that `$everything` holds (the
/// first received).
const MAX_RECORDS: i64 = 1000;

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/metadata", get(metadata))
        .route("/CodeSystem/alert-kind", get(alert_kinds))
        .route("/Patient", get(search_patients))
        .route("/Observation", get(search_observations))
        .route("/Patient/{id}/$everything", get(everything))
        .route("/Consent", get(search_consents))
        .route("/Consent/{id}", get(read_consent))
        .route("/{kind}", get(partners::search))
        .route("/{kind}/{id}", get(read))
        .route("/", post(partners::transaction))
        .fallback(|| async { Outcome::new(StatusCode::NOT_FOUND, "not-supported", "no such FHIR endpoint") })
        .method_not_allowed_fallback(|| async {
            Outcome::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "not-supported",
                "not here: records come in only as a transaction Bundle POSTed to the base",
            )
        })
}

/// A FHIR answer: the resource as `application/fhir+json`.
struct Fhir<T>(StatusCode, T);

impl<T: Serialize> IntoResponse for Fhir<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.1) {
            Ok(body) => {
                (self.0, [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))], body).into_response()
            }
            Err(err) => {
                tracing::error!(cause = %err, "FHIR resource did not serialise");
                Outcome::new(StatusCode::INTERNAL_SERVER_ERROR, "exception", "internal error").into_response()
            }
        }
    }
}

fn ok(resource: Resource) -> Fhir<Resource> {
    Fhir(StatusCode::OK, resource)
}

/// Every error of the view, answered as an `OperationOutcome`.
#[derive(Debug)]
pub struct Outcome {
    status: StatusCode,
    issue: Vec<Issue>,
}

impl Outcome {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        let issue = Issue { severity: "error", code, diagnostics: message.into(), expression: vec![] };
        Outcome { status, issue: vec![issue] }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Outcome::new(StatusCode::BAD_REQUEST, "invalid", message)
    }

    fn not_found() -> Self {
        Outcome::new(StatusCode::NOT_FOUND, "not-found", "no such resource")
    }

    /// A Bundle refused whole: 422, an issue for each reason, naming what
    /// it is about.
    fn refused(refusals: Vec<Refusal>) -> Self {
        let issue = refusals
            .into_iter()
            .map(|r| Issue { severity: "error", code: r.code, diagnostics: r.message, expression: vec![r.expression] })
            .collect();
        Outcome { status: StatusCode::UNPROCESSABLE_ENTITY, issue }
    }
}

impl IntoResponse for Outcome {
    fn into_response(self) -> Response {
        let outcome = OperationOutcome { issue: self.issue };
        let mut response = Fhir(self.status, Resource::OperationOutcome(outcome)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<Error> for Outcome {
    fn from(err: Error) -> Self {
        let message = err.to_string();
        match err {
            Error::Unauthorized => Outcome::new(StatusCode::UNAUTHORIZED, "login", message),
            Error::Forbidden(_) => Outcome::new(StatusCode::FORBIDDEN, "forbidden", message),
            Error::NotFound => Outcome::not_found(),
            Error::BadRequest(_) | Error::Validation { .. } => Outcome::invalid(message),
            Error::Database(sqlx::Error::PoolTimedOut) | Error::Busy => {
                Outcome::new(StatusCode::SERVICE_UNAVAILABLE, "transient", "the server is busy; try again")
            }
            other => {
                tracing::error!(cause = ?other, "FHIR view failed");
                Outcome::new(StatusCode::INTERNAL_SERVER_ERROR, "exception", "internal error")
            }
        }
    }
}

impl From<sqlx::Error> for Outcome {
    fn from(err: sqlx::Error) -> Self {
        Error::Database(err).into()
    }
}

type Result<T> = std::result::Result<T, Outcome>;

/// The signed-in caller, or a 401 `OperationOutcome`.
fn caller(user: std::result::Result<AuthUser, Error>) -> Result<AuthUser> {
    user.map_err(Outcome::from)
}

/// The proof of reach behind a FHIR read, asked with the same question as
/// `store::patient` (the resident in the Monitoring area).
async fn reach<A: AreaOf>(ctx: &ApiContext, user: &AuthUser, resident: Uuid) -> Result<Reached<A>> {
    crate::store::residents::reach(&ctx.pool, &user.scope, resident).await?.ok_or_else(Outcome::not_found)
}

/// Where this server's resources are, as the client reached it.
fn base(headers: &HeaderMap) -> Base {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    Base(format!("{proto}://{host}/fhir/r4"))
}

/// Records that `user` read health data of `resident` through the FHIR
/// view (`what`: the resource or search), in the access log of health-data
/// reads (not the audit chain: reads never wait on its lock).
async fn access_log(ctx: &ApiContext, user: &AuthUser, resident: Uuid, what: &str) -> Result<()> {
    tracing::debug!(resident = %resident, fhir = what, "fhir read");
    user.log_read(ctx, crate::domain::AccessKind::Fhir, resident).await.map_err(Outcome::from)
}

/// A place among the heavy reads in progress (`fhir.max_concurrent`): an
/// Observation search or `$everything` scans up to a month of readings, and
/// the API pool's connections are shared with acknowledgements. Beyond the
/// limit the answer is 503 at once (with Retry-After) rather than a queue
/// that holds requests and sockets.
fn heavy_read(ctx: &ApiContext) -> Result<OwnedSemaphorePermit> {
    ctx.fhir_reads.clone().try_acquire_owned().map_err(|_| {
        Outcome::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "transient",
            "other FHIR searches are in progress; try again shortly",
        )
    })
}

/// The period a search or `$everything` covers: up to now unless its end is
/// given, [`MAX_SPAN`] long unless its start is given. Longer is refused.
fn period(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let to = to.unwrap_or_else(Utc::now);
    let from = from.unwrap_or(to - MAX_SPAN);
    if to - from > MAX_SPAN {
        return Err(Outcome::new(
            StatusCode::BAD_REQUEST,
            "too-costly",
            format!("a period of at most {} days, please: ask for the rest page by period", MAX_SPAN.num_days()),
        ));
    }
    Ok((from, to))
}

/// An instant as a search parameter, to the microsecond (a next link pins
/// the period it pages through, and must not lose its edges).
fn exact(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn count_param(value: &str) -> Result<i64> {
    value
        .parse()
        .ok()
        .filter(|c| (1..=MAX_COUNT).contains(c))
        .ok_or_else(|| Outcome::invalid(format!("_count must be between 1 and {MAX_COUNT}")))
}

fn offset_param(value: &str) -> Result<i64> {
    value
        .parse()
        .ok()
        .filter(|o: &i64| *o >= 0)
        .ok_or_else(|| Outcome::invalid("_offset must be a whole number, 0 or more"))
}

/// The next page's link, when there is one: `url` (everything up to the
/// query string) with `pinned` parameters, then `_count` and `_offset`.
fn next_link(url: String, pinned: &[(&str, String)], count: i64, after: i64, total: i64) -> Option<String> {
    (after < total).then(|| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in pinned {
            query.append_pair(name, value);
        }
        query.append_pair("_count", &count.to_string());
        query.append_pair("_offset", &after.to_string());
        format!("{url}?{}", query.finish())
    })
}

/// The query string's parameters, in order, repeats kept.
fn params(query: Option<String>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect()
}

/// Refuses parameters the search does not know (FHIR's strict handling:
/// ignoring one would answer more than was asked for).
fn only(params: &[(String, String)], known: &[&str]) -> Result<()> {
    match params.iter().find(|(name, _)| !known.contains(&name.as_str()) && name != "_format") {
        Some((name, _)) => Err(Outcome::invalid(format!("unsupported search parameter {name:?}"))),
        None => Ok(()),
    }
}

async fn metadata(headers: HeaderMap) -> Fhir<Resource> {
    let date = map::instant(Utc::now());
    ok(Resource::CapabilityStatement(crate::fhir::capability_statement(&base(&headers), &date)))
}

async fn alert_kinds(user: std::result::Result<AuthUser, Error>, headers: HeaderMap) -> Result<Fhir<Resource>> {
    caller(user)?;
    Ok(ok(Resource::CodeSystem(map::alert_kinds(&base(&headers)))))
}

fn searchset(base: &Base, resources: Vec<Resource>, total: i64, next: Option<String>) -> Resource {
    let entry = resources
        .into_iter()
        .map(|resource| BundleEntry {
            full_url: base.full_url(&resource),
            resource: Some(resource),
            search: Some(BundleSearch { mode: "match" }),
            response: None,
        })
        .collect();
    Resource::Bundle(Bundle {
        kind: "searchset",
        timestamp: None,
        total: Some(total),
        link: next.into_iter().map(|url| BundleLink { relation: "next", url }).collect(),
        entry,
    })
}

fn patient_of(row: &store::PatientRow) -> Patient {
    map::patient(map::PatientFacts {
        id: row.id,
        name: &row.name,
        address: row.address.as_deref(),
        institution: (row.institution_id, &row.institution_name),
    })
}

async fn patient_resource(ctx: &ApiContext, user: &AuthUser, id: Uuid) -> Result<Option<Patient>> {
    Ok(store::patient(&ctx.pool, &user.scope, id).await?.as_ref().map(patient_of))
}

async fn search_patients(
    State(ctx): State<ApiContext>,
    user: std::result::Result<AuthUser, Error>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Fhir<Resource>> {
    let user = caller(user)?;
    let params = params(query);
    only(&params, &["_id"])?;
    let ids: Vec<&str> = params.iter().filter(|(n, _)| n == "_id").flat_map(|(_, v)| v.split(',')).collect();
    if ids.is_empty() {
        return Err(Outcome::invalid("search Patient by _id"));
    }
    let mut found = Vec::new();
    for id in ids {
        let Ok(id) = Uuid::parse_str(id) else { continue };
        if let Some(patient) = patient_resource(&ctx, &user, id).await? {
            access_log(&ctx, &user, id, "Patient?_id").await?;
            found.push(Resource::Patient(patient));
        }
    }
    let total = found.len() as i64;
    Ok(ok(searchset(&base(&headers), found, total, None)))
}

/// The bounds a date parameter sets: from, to (inclusive), either.
type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// A `date` search value: `[prefix]YYYY-MM-DD` or a dateTime with zone.
/// Answers the bound it sets: (from, to), either side.
fn date_bound(value: &str) -> Result<Bounds> {
    let (prefix, rest) = match value.get(..2) {
        Some(p @ ("ge" | "le" | "gt" | "lt" | "eq")) => (p, &value[2..]),
        _ => ("eq", value),
    };
    let bad = || Outcome::invalid(format!("date {value:?} is not [ge|le|gt|lt|eq]YYYY-MM-DD or an instant with zone"));
    // The range the value stands for: a whole day, or one instant.
    let (first, last) = if let Ok(day) = NaiveDate::parse_from_str(rest, "%Y-%m-%d") {
        let start = day.and_hms_opt(0, 0, 0).ok_or_else(bad)?.and_utc();
        (start, start + Duration::days(1) - Duration::microseconds(1))
    } else {
        let at = DateTime::parse_from_rfc3339(rest).map_err(|_| bad())?.with_timezone(&Utc);
        (at, at)
    };
    let micro = Duration::microseconds(1);
    Ok(match prefix {
        "ge" => (Some(first), None),
        "gt" => (Some(last + micro), None),
        "le" => (None, Some(last)),
        "lt" => (None, Some(first - micro)),
        _ => (Some(first), Some(last)),
    })
}

/// A `patient` search value: `Patient/{id}` or the bare id.
fn patient_param(value: &str) -> Result<Uuid> {
    let id = value.strip_prefix("Patient/").unwrap_or(value);
    Uuid::parse_str(id).map_err(|_| Outcome::invalid(format!("patient {value:?} is not Patient/{{id}}")))
}

/// A `code` search value (`system|code`, `|code` or `code`, comma for
/// "or"): what it finds; empty when it names nothing the view carries.
fn code_param(value: &str) -> Result<Vec<Measured>> {
    let mut out = Vec::new();
    for token in value.split(',') {
        let (system, code) = match token.split_once('|') {
            Some((system, code)) => (Some(system), code),
            None => (None, token),
        };
        if code.is_empty() {
            return Err(Outcome::invalid(format!("code {token:?} names no code")));
        }
        if system.is_some_and(|s| !s.is_empty() && s != map::LOINC) {
            continue;
        }
        if let Some(measured) = map::measured_by_code(code).filter(|m| !out.contains(m)) {
            out.push(measured);
        }
    }
    Ok(out)
}

async fn search_observations(
    State(ctx): State<ApiContext>,
    user: std::result::Result<AuthUser, Error>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Fhir<Resource>> {
    let user = caller(user)?;
    let params = params(query);
    only(&params, &["patient", "subject", "code", "date", "_count", "_offset"])?;
    let mut resident = None;
    let mut measured: Option<Vec<Measured>> = None;
    let (mut from, mut to): Bounds = (None, None);
    let mut count = DEFAULT_COUNT;
    let mut offset = 0;
    for (name, value) in &params {
        match name.as_str() {
            "patient" | "subject" => resident = Some(patient_param(value)?),
            "code" => {
                let found = code_param(value)?;
                measured = Some(match measured {
                    // Two `code` parameters: both must hold.
                    Some(before) => before.into_iter().filter(|m| found.contains(m)).collect(),
                    None => found,
                });
            }
            "date" => {
                let (low, high) = date_bound(value)?;
                from = low.max(from);
                to = match (to, high) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            "_count" => count = count_param(value)?,
            _ => offset = offset_param(value)?,
        }
    }
    let resident = resident.ok_or_else(|| Outcome::invalid("an Observation search needs patient"))?;
    let (from, to) = period(from, to)?;
    let _place = heavy_read(&ctx)?;
    if store::patient(&ctx.pool, &user.scope, resident).await?.is_none() {
        return Err(Outcome::not_found());
    }
    let base = base(&headers);
    let metrics: Vec<_> = match &measured {
        Some(list) => list.iter().flat_map(|m| store::metrics_of(Some(*m))).collect(),
        None => store::metrics_of(None),
    };
    if metrics.is_empty() {
        return Ok(ok(searchset(&base, vec![], 0, None)));
    }
    let filter = ReadingFilter { resident, metrics, from: Some(from), to: Some(to) };
    let total = store::count_observations(ctx.read.pool(), &filter).await?;
    let readings = store::observation_readings(ctx.read.pool(), &filter, offset, count).await?;
    access_log(&ctx, &user, resident, "Observation?patient").await?;
    let resources: Vec<Resource> =
        map::observations(resident, &readings).into_iter().map(Resource::Observation).collect();
    // The next pages cover the period this one did, even where it was
    // "until now".
    let mut pinned: Vec<(&str, String)> = params
        .iter()
        .filter(|(n, _)| !matches!(n.as_str(), "date" | "_count" | "_offset"))
        .map(|(n, v)| (n.as_str(), v.clone()))
        .collect();
    pinned.extend([("date", format!("ge{}", exact(from))), ("date", format!("le{}", exact(to)))]);
    let next = next_link(format!("{}/Observation", base.0), &pinned, count, offset.saturating_add(count), total);
    Ok(ok(searchset(&base, resources, total, next)))
}

/// The resident's record over a period, as one searchset paged by its
/// Observations: the first page holds everything else (the Patient, the
/// devices that measured them in the period, alerts, visits, plans and
/// messages) and the first `_count` Observations; the next pages the next
/// Observations. `total` counts every page's entries.
async fn everything(
    State(ctx): State<ApiContext>,
    user: std::result::Result<AuthUser, Error>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Fhir<Resource>> {
    let user = caller(user)?;
    let params = params(query);
    only(&params, &["start", "end", "_count", "_offset"])?;
    let (mut start, mut end) = (None, None);
    let (mut count, mut offset) = (EVERYTHING_DEFAULT_COUNT, 0);
    for (name, value) in &params {
        match name.as_str() {
            "start" => start = date_bound(value)?.0,
            "end" => end = date_bound(value)?.1,
            "_count" => count = count_param(value)?,
            _ => offset = offset_param(value)?,
        }
    }
    let (start, end) = period(start, end)?;
    if start > end {
        return Err(Outcome::invalid("start is after end (or, without end, in the future)"));
    }
    let resident = Uuid::parse_str(&id).map_err(|_| Outcome::not_found())?;
    let _place = heavy_read(&ctx)?;
    let row = store::patient(&ctx.pool, &user.scope, resident).await?.ok_or_else(Outcome::not_found)?;
    let reached = reach(&ctx, &user, resident).await?;
    access_log(&ctx, &user, resident, "Patient/$everything").await?;
    let base = base(&headers);
    let reader = map::Reader::of(user.scope.role);

    let filter = ReadingFilter { resident, metrics: store::metrics_of(None), from: Some(start), to: Some(end) };
    let observed = store::count_observations(ctx.read.pool(), &filter).await?;
    let readings = store::observation_readings(ctx.read.pool(), &filter, offset, count).await?;

    // The devices that measured the resident in the period, whoever wears
    // them now (readings keep whose they were when taken), and those they
    // wear now. A device someone else wears now is shown without them: no
    // patient, no room.
    let measuring = store::measuring_devices(ctx.read.pool(), &filter).await?;
    let mut devices = Vec::new();
    for d in store::devices(&ctx.pool, &reached, &measuring).await? {
        let theirs = d.resident_id == Some(resident);
        devices.push(map::device(map::DeviceFacts {
            device_id: &d.device_id,
            kind: &d.kind,
            resident: theirs.then_some(resident),
            room: d.room.as_deref().filter(|_| theirs),
        }));
    }
    let named: HashSet<String> = devices.iter().map(|d| format!("Device/{}", d.id)).collect();
    // A device removed since it measured is named by no entry: its
    // observations keep their values and lose the reference.
    let observations: Vec<Resource> = map::observations(resident, &readings)
        .into_iter()
        .map(|mut o| {
            o.device = o.device.filter(|d| named.contains(&d.reference));
            Resource::Observation(o)
        })
        .collect();

    let mut head = vec![Resource::Patient(patient_of(&row))];
    head.extend(devices.into_iter().map(Resource::Device));
    let mut tail = Vec::new();
    let filter = crate::alerts::Filter { resident_id: Some(resident), ..Default::default() };
    let alerts: Vec<_> = crate::alerts::list(&ctx.pool, &user.scope, &filter, None, 1000)
        .await?
        .into_iter()
        .filter(|a| a.opened_at <= end && a.resolved_at.is_none_or(|r| r >= start))
        .collect();
    let owners: Vec<Uuid> = alerts.iter().filter_map(|a| a.assigned_to).collect();
    let names = store::names(&ctx.pool, &owners).await?;
    for alert in &alerts {
        let owner = alert.assigned_to.and_then(|o| names.get(&o)).map(String::as_str);
        if let (Some(flag), Some(task)) = (map::flag(&base, alert), map::task(alert, owner)) {
            tail.push(Resource::Flag(flag));
            tail.push(Resource::Task(task));
        }
    }

    let filter = crate::store::visits::Filter {
        resident_id: Some(resident),
        from: Some(start),
        to: Some(end),
        ..Default::default()
    };
    for visit in crate::store::visits::list(&ctx.pool, &user.scope, &filter, None, 1000).await? {
        tail.push(Resource::Encounter(map::encounter(&visit, reader)));
    }

    // The care plan and the meal plan are of their own areas: each only
    // to an institution enrolled for it.
    if let Ok(care) = reach::<Care>(&ctx, &user, resident).await {
        let plan = {
            let mut conn = ctx.pool.acquire().await?;
            crate::store::care::plan(&mut conn, &care).await?
        };
        if !plan.items.is_empty() {
            let names = store::service_names(&ctx.pool, &care).await?;
            tail.push(Resource::CarePlan(map::care_plan(resident, &plan.items)));
            for (i, item) in plan.items.iter().enumerate() {
                tail.push(Resource::ServiceRequest(map::service_request(resident, i, item, &names)));
            }
        }
    }
    if let Ok(meals) = reach::<Meals>(&ctx, &user, resident).await
        && let Some(order) = nutrition_order(&ctx, &meals).await?
    {
        tail.push(Resource::NutritionOrder(order));
    }
    let mut messages = crate::store::messages::page(&ctx.pool, &reached, user.scope.user, None, MAX_MESSAGES)
        .await?
        .into_iter()
        .filter(|m| start <= m.created_at && m.created_at <= end)
        .collect::<Vec<_>>();
    messages.reverse();
    tail.extend(messages.iter().map(|m| Resource::Communication(map::communication(m))));
    // What medical partners sent: her record whatever the period, as it came.
    for kind in ClinicalKind::ALL {
        let search = records::Search { kind, classes: &[] };
        for record in records::page(&ctx.pool, &reached, &search, 0, MAX_RECORDS).await? {
            tail.push(Resource::Clinical(map::clinical(&base, &record)));
        }
    }

    // Every page reads the rest too (a few bounded lists), so its `total`
    // is exact; only the first page carries them.
    let total = (head.len() + tail.len()) as i64 + observed;
    let pinned = [("start", exact(start)), ("end", exact(end))];
    let url = format!("{}/Patient/{resident}/$everything", base.0);
    let next = next_link(url, &pinned, count, offset.saturating_add(count), observed);
    let resources = if offset == 0 { head.into_iter().chain(observations).chain(tail).collect() } else { observations };
    Ok(ok(searchset(&base, resources, total, next)))
}

/// The resident's meal plan, holding one connection at a time.
async fn nutrition_order(ctx: &ApiContext, reached: &Reached<Meals>) -> Result<Option<NutritionOrder>> {
    let resident = reached.id();
    let plan = {
        let mut conn = ctx.pool.acquire().await?;
        crate::store::meals::plan(&mut conn, reached).await?
    };
    let Some(plan) = plan else { return Ok(None) };
    let changed = store::meal_plan_changed(&ctx.pool, reached).await?.unwrap_or_else(Utc::now);
    Ok(Some(map::nutrition_order(resident, &plan, changed, Utc::now().date_naive())))
}

/// Read by id, for every type the view produces.
async fn read(
    State(ctx): State<ApiContext>,
    user: std::result::Result<AuthUser, Error>,
    headers: HeaderMap,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Fhir<Resource>> {
    let user = caller(user)?;
    if !crate::fhir::READABLE.contains(&kind.as_str()) {
        return Err(Outcome::new(StatusCode::NOT_FOUND, "not-supported", format!("no resource type {kind:?} here")));
    }
    let base = base(&headers);
    let uuid = Uuid::parse_str(&id).ok();
    let (resident, resource) = match (kind.as_str(), uuid) {
        ("Patient", Some(id)) => {
            (id, patient_resource(&ctx, &user, id).await?.map(Resource::Patient).ok_or_else(Outcome::not_found)?)
        }
        ("Device", _) => {
            let d = store::device(&ctx.pool, &user.scope, &id).await?.ok_or_else(Outcome::not_found)?;
            // A device of no resident holds nothing personal, and is read by
            // those who reach the institution's own devices.
            let resident = d.resident_id;
            let device = map::device(map::DeviceFacts {
                device_id: &d.device_id,
                kind: &d.kind,
                resident: d.resident_id,
                room: d.room.as_deref(),
            });
            match resident {
                Some(r) => (r, Resource::Device(device)),
                None => return Ok(ok(Resource::Device(device))),
            }
        }
        ("Observation", _) => {
            let parsed = ObservationId::parse(&id).ok_or_else(Outcome::not_found)?;
            let (resident, readings) =
                store::observation(&ctx.pool, &user.scope, &parsed).await?.ok_or_else(Outcome::not_found)?;
            let observation = map::observations(resident, &readings)
                .into_iter()
                .find(|o| o.id == id)
                .ok_or_else(Outcome::not_found)?;
            (resident, Resource::Observation(observation))
        }
        ("Flag" | "Task", Some(id)) => {
            let mut conn = ctx.pool.acquire().await?;
            let alert =
                crate::alerts::fetch_visible(&mut conn, &user.scope, id).await?.ok_or_else(Outcome::not_found)?;
            let resident = alert.resident_id.ok_or_else(Outcome::not_found)?;
            let resource = if kind == "Flag" {
                map::flag(&base, &alert).map(Resource::Flag)
            } else {
                let names = store::names(&ctx.pool, &alert.assigned_to.into_iter().collect::<Vec<_>>()).await?;
                let owner = alert.assigned_to.and_then(|o| names.get(&o)).map(String::as_str);
                map::task(&alert, owner).map(Resource::Task)
            };
            (resident, resource.ok_or_else(Outcome::not_found)?)
        }
        ("Encounter", Some(id)) => {
            let visit = {
                let mut conn = ctx.pool.acquire().await?;
                crate::store::visits::fetch(&mut conn, &user.scope, id, false).await?
            };
            match visit {
                Some(visit) => {
                    (visit.resident_id, Resource::Encounter(map::encounter(&visit, map::Reader::of(user.scope.role))))
                }
                // Not a visit: a hospital stay a partner sent, perhaps.
                None => {
                    let record = records::fetch(&ctx.pool, &user.scope, ClinicalKind::Encounter, id)
                        .await?
                        .ok_or_else(Outcome::not_found)?;
                    (record.resident_id, Resource::Clinical(map::clinical(&base, &record)))
                }
            }
        }
        ("Condition" | "AllergyIntolerance" | "MedicationStatement", Some(id)) => {
            let kind = ClinicalKind::parse(&kind).ok_or_else(Outcome::not_found)?;
            let record = records::fetch(&ctx.pool, &user.scope, kind, id).await?.ok_or_else(Outcome::not_found)?;
            (record.resident_id, Resource::Clinical(map::clinical(&base, &record)))
        }
        ("CarePlan", Some(id)) => {
            store::patient(&ctx.pool, &user.scope, id).await?.ok_or_else(Outcome::not_found)?;
            let reached = reach::<Care>(&ctx, &user, id).await?;
            let mut conn = ctx.pool.acquire().await?;
            let plan = crate::store::care::plan(&mut conn, &reached).await?;
            if plan.items.is_empty() {
                return Err(Outcome::not_found());
            }
            (id, Resource::CarePlan(map::care_plan(id, &plan.items)))
        }
        ("ServiceRequest", _) => {
            let (resident, index) = map::parse_service_request_id(&id).ok_or_else(Outcome::not_found)?;
            store::patient(&ctx.pool, &user.scope, resident).await?.ok_or_else(Outcome::not_found)?;
            let reached = reach::<Care>(&ctx, &user, resident).await?;
            let mut conn = ctx.pool.acquire().await?;
            let plan = crate::store::care::plan(&mut conn, &reached).await?;
            let item = plan.items.get(index).ok_or_else(Outcome::not_found)?;
            let names = store::service_names(&ctx.pool, &reached).await?;
            (resident, Resource::ServiceRequest(map::service_request(resident, index, item, &names)))
        }
        ("NutritionOrder", Some(id)) => {
            store::patient(&ctx.pool, &user.scope, id).await?.ok_or_else(Outcome::not_found)?;
            let reached = reach::<Meals>(&ctx, &user, id).await?;
            let order = nutrition_order(&ctx, &reached).await?.ok_or_else(Outcome::not_found)?;
            (id, Resource::NutritionOrder(order))
        }
        ("Communication", Some(id)) => {
            let message =
                crate::store::messages::fetch(&ctx.pool, id, user.scope.user).await?.ok_or_else(Outcome::not_found)?;
            store::patient(&ctx.pool, &user.scope, message.resident_id).await?.ok_or_else(Outcome::not_found)?;
            (message.resident_id, Resource::Communication(map::communication(&message)))
        }
        _ => return Err(Outcome::not_found()),
    };
    access_log(&ctx, &user, resident, &format!("{kind}/{id}")).await?;
    Ok(ok(resource))
}

/// The consents of an elder a caller of the FHIR view reads: a partner's
/// clinician its own institution's only, her providers' staff all.
fn consents_seen(user: &AuthUser, consents: Vec<crate::store::partner_consents::Consent>) -> Vec<Resource> {
    let own = match user.scope.reach() {
        crate::domain::scope::Reach::Consented(partner) => Some(partner),
        _ => None,
    };
    consents
        .iter()
        .filter(|c| own.is_none_or(|partner| c.grantee_institution_id == partner))
        .map(|c| Resource::Consent(crate::fhir::consent::consent(c)))
        .collect()
}

/// `GET /fhir/r4/Consent?patient=`: the elder's consents to medical
/// partners, as `Consent`s.
async fn search_consents(
    State(ctx): State<ApiContext>,
    user: std::result::Result<AuthUser, Error>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Fhir<Resource>> {
    let user = caller(user)?;
    let params = params(query);
    only(&params, &["patient"])?;
    let patient = match params.iter().find(|(n, _)| n == "patient") {
        Some((_, value)) => patient_param(value)?,
        None => return Err(Outcome::invalid("search Consent by patient")),
    };
    let reached = reach::<crate::domain::scope::Identity>(&ctx, &user, patient).await?;
    let consents = crate::store::partner_consents::of_resident(&ctx.pool, &reached, None).await?;
    let found = consents_seen(&user, consents);
    access_log(&ctx, &user, patient, "Consent?patient").await?;
    let total = found.len() as i64;
    Ok(ok(searchset(&base(&headers), found, total, None)))
}

/// `GET /fhir/r4/Consent/{id}`.
async fn read_consent(
    State(ctx): State<ApiContext>,
    user: std::result::Result<AuthUser, Error>,
    Path(id): Path<String>,
) -> Result<Fhir<Resource>> {
    let user = caller(user)?;
    let id = Uuid::parse_str(&id).map_err(|_| Outcome::not_found())?;
    let resident = crate::store::partner_consents::resident_of(&ctx.pool, id).await?.ok_or_else(Outcome::not_found)?;
    let reached = reach::<crate::domain::scope::Identity>(&ctx, &user, resident).await?;
    let mut conn = ctx.pool.acquire().await?;
    let consent =
        crate::store::partner_consents::fetch(&mut conn, &reached, id).await?.ok_or_else(Outcome::not_found)?;
    let resource = consents_seen(&user, vec![consent]).pop().ok_or_else(Outcome::not_found)?;
    access_log(&ctx, &user, resident, "Consent").await?;
    Ok(ok(resource))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_prefixes_bound_the_search() {
        let day = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc();
        let (from, to) = date_bound("ge2026-11-30").unwrap();
        assert_eq!((from, to), (Some(day("2026-11-30")), None));
        let (from, to) = date_bound("le2026-11-30").unwrap();
        assert_eq!((from, to), (None, Some(day("2026-12-01") - Duration::microseconds(1))));
        let (from, to) = date_bound("2026-11-30T10:00:00+01:00").unwrap();
        let at = DateTime::parse_from_rfc3339("2026-11-30T09:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!((from, to), (Some(at), Some(at)));
        for bad in ["", "ge", "yesterday", "ge2026-13-01", "2026-11-30T10:00:00", "ne2026-11-30"] {
            assert!(date_bound(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn codes_parse_with_or_without_system() {
        assert_eq!(code_param("http://loinc.org|85354-9").unwrap(), vec![Measured::BloodPressure]);
        assert_eq!(code_param("2708-6,59408-5").unwrap(), vec![Measured::One(crate::domain::Metric::Spo2)]);
        assert_eq!(code_param("http://snomed.info/sct|8867-4").unwrap(), vec![]);
        assert!(code_param("http://loinc.org|").is_err());
    }
}
