//! Bills the family can read, and the claims providers make of the payers:
//! every line priced once when it became billable, its shares in whole
//! fen, lines summing exactly to totals.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::applications::not_future;
use super::auth::AuthUser;
use super::statements::csv_field;
use super::{ApiContext, Error, Json, Path, Query, Result};
use crate::domain::Role;
use crate::domain::billing::{ClaimLineStatus, ClaimStatus, Fen, LineDecision, Payer};
use crate::domain::field;
use crate::domain::scope::Identity;
use crate::store::billing::{self as bills, BillLine, Totals};
use crate::store::claims::{self, Claim};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(bill))
        .routes(routes!(month_end))
        .routes(routes!(create_claim, list_claims))
        .routes(routes!(fetch_claim))
        .routes(routes!(decide_line))
        .routes(routes!(close_claim))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct BillQuery {
    #[param(schema_with = field::month)]
    month: Option<String>,
    #[param(schema_with = field::format)]
    format: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct Bill {
    resident_id: Uuid,
    month: String,
    lines: Vec<BillLine>,
    totals: Totals,
}

fn totals(lines: &[BillLine]) -> Totals {
    Totals::of(lines.iter().map(|l| (&l.amount, &l.payer_amount, &l.elder_amount)))
}

const BILL_CSV_HEADER: &str =
    "resident_id,kind,ref,date,service,minutes,amount,payer,payer_amount,elder_amount,over_quota,provider\n";

fn bill_csv_rows(out: &mut String, resident: Uuid, lines: &[BillLine]) {
    for l in lines {
        out.push_str(&format!(
            "{resident},{},{},{},{},{},{},{},{},{},{},{}\n",
            l.kind,
            l.reference,
            l.date,
            csv_field(&l.service),
            l.minutes.map(|m| m.to_string()).unwrap_or_default(),
            l.amount,
            l.payer.map(|p| p.as_str()).unwrap_or(""),
            l.payer_amount,
            l.elder_amount,
            l.over_quota,
            csv_field(&l.institution_name)
        ));
    }
}

#[utoipa::path(get, path = "/residents/{id}/bills",
    summary = "The elder's bill of a month: each verified visit and delivered meal as priced when it became billable (payer share, elder share, over_quota), lines summing exactly to the totals; &format=csv for text/csv",
    description = "Who may call it: family (linked: every provider's lines), admin and staff of an institution enrolled (its own lines).",
    params(("id" = Uuid, Path), BillQuery),
    responses((status = 200, description = "success", content((Bill = "application/json"), (String = "text/csv")))))]
async fn bill(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<BillQuery>,
) -> Result<Response> {
    let own: Option<Vec<Uuid>> = match (auth.scope.role, auth.scope.institution) {
        (Role::Family, _) => None,
        (Role::Admin | Role::Staff, Some(institution)) => Some(vec![institution]),
        _ => return Err(Error::NotFound),
    };
    let resident = auth.reach::<Identity>(&ctx, id).await?;
    let csv = super::wants_csv(q.format.as_deref())?;
    let first = super::month_param("month", q.month.as_deref())?;
    let lines = bills::bill(&ctx.pool, &resident, first, own.as_deref()).await?;
    if csv {
        let mut out = String::from(BILL_CSV_HEADER);
        bill_csv_rows(&mut out, resident.id(), &lines);
        return Ok(super::csv_answer(out));
    }
    let totals = totals(&lines);
    Ok(Json(Bill { resident_id: resident.id(), month: first.format("%Y-%m").to_string(), lines, totals })
        .into_response())
}

#[derive(Debug, Serialize, ToSchema)]
struct MonthEnd {
    month: String,
    bills: Vec<Bill>,
    totals: Totals,
}

#[utoipa::path(get, path = "/bills",
    summary = "The institution's month-end: every elder's bill of its lines for the month, in one document; &format=csv for text/csv",
    description = "Who may call it: admin.", params(BillQuery),
    responses((status = 200, description = "success", content((MonthEnd = "application/json"), (String = "text/csv")))))]
async fn month_end(State(ctx): State<ApiContext>, auth: AuthUser, Query(q): Query<BillQuery>) -> Result<Response> {
    auth.require_admin()?;
    let csv = super::wants_csv(q.format.as_deref())?;
    let first = super::month_param("month", q.month.as_deref())?;
    let all = bills::bills_of_institution(ctx.read.pool(), &auth.scope, first).await?;
    if csv {
        let mut out = String::from(BILL_CSV_HEADER);
        for (resident, lines) in &all {
            bill_csv_rows(&mut out, *resident, lines);
        }
        return Ok(super::csv_answer(out));
    }
    let month_text = first.format("%Y-%m").to_string();
    let bills: Vec<Bill> = all
        .into_iter()
        .map(|(resident_id, lines)| Bill { resident_id, month: month_text.clone(), totals: totals(&lines), lines })
        .collect();
    let totals = Totals::of(bills.iter().map(|b| (&b.totals.amount, &b.totals.payer_amount, &b.totals.elder_amount)));
    Ok(Json(MonthEnd { month: month_text, bills, totals }).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ClaimRequest {
    payer: Payer,
    #[schema(schema_with = field::month)]
    month: String,
}

#[utoipa::path(post, path = "/claims",
    summary = "Claim from a payer every verified visit and delivered meal of the month it owes and nobody claimed, and the lines of that month or earlier rejected once in a claim since closed (422 nothing_to_claim)",
    description = "Who may call it: admin (of the provider).", request_body = ClaimRequest,
    responses((status = 201, description = "success", body = Claim)))]
async fn create_claim(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<ClaimRequest>,
) -> Result<(StatusCode, Json<Claim>)> {
    auth.require_admin()?;
    let first = not_future("month", super::month_param("month", Some(&req.month))?)?;
    let mut tx = ctx.pool.begin().await?;
    let id = claims::create(&mut tx, &auth.scope, req.payer, first)
        .await?
        .ok_or_else(|| Error::refused("nothing_to_claim", "nothing of this month is left to claim from this payer"))?;
    let claim = claims::fetch(&mut tx, &auth.scope, id, false).await?.ok_or(Error::NotFound)?;
    let details = serde_json::json!({"claim_id": id, "payer": req.payer, "month": req.month,
        "lines": claim.lines.len(), "total_claimed": claim.total_claimed.to_string()});
    crate::audit::record(&mut tx, auth.actor(), "claim.submitted", "claim", id, details).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(claim)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ClaimQuery {
    #[param(nullable = false)]
    status: Option<ClaimStatus>,
    #[param(schema_with = field::month)]
    month: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct ClaimList {
    /// Without their lines (`GET /claims/{id}` has them).
    claims: Vec<Claim>,
}

#[utoipa::path(get, path = "/claims", summary = "Claims, newest first, without their lines",
    description = "Who may call it: admin and staff (the provider's own), insurer (LTC claims of providers in its fund's division), civil_affairs (subsidy claims of providers in its division).",
    params(ClaimQuery), responses((status = 200, description = "success", body = ClaimList)))]
async fn list_claims(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Query(q): Query<ClaimQuery>,
) -> Result<Json<ClaimList>> {
    let month = match q.month.as_deref() {
        Some(text) => Some(super::month_param("month", Some(text))?),
        None => None,
    };
    Ok(Json(ClaimList { claims: claims::list(&ctx.pool, &auth.scope, q.status, month, 500).await? }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ExportQuery {
    #[param(schema_with = field::format)]
    format: Option<String>,
}

/// The columns of a claim's export, as a fund's system imports them.
const CLAIM_CSV_HEADER: &str = "claim_id,line_id,provider_id,provider_name,payer,month,resident_id,resident_name,\
id_number_masked,kind,ref,service_date,service,minutes,amount,payer_amount,elder_amount,attempt,status,reason\n";

#[utoipa::path(get, path = "/claims/{id}",
    summary = "One claim with its lines; &format=csv exports it in the columns a fund's system imports (see the README)",
    description = "Who may call it: as GET /claims.", params(("id" = Uuid, Path), ExportQuery),
    responses((status = 200, description = "success", content((Claim = "application/json"), (String = "text/csv")))))]
async fn fetch_claim(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<ExportQuery>,
) -> Result<Response> {
    let csv = super::wants_csv(q.format.as_deref())?;
    let mut conn = ctx.pool.acquire().await?;
    let claim = claims::fetch(&mut conn, &auth.scope, id, false).await?.ok_or(Error::NotFound)?;
    if !csv {
        return Ok(Json(claim).into_response());
    }
    let mut out = String::from(CLAIM_CSV_HEADER);
    for r in claims::export(&mut conn, id).await? {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            claim.id,
            r.line_id,
            r.provider_id,
            csv_field(&r.provider_name),
            claim.payer,
            claim.month,
            r.resident_id,
            csv_field(&r.resident_name),
            r.id_number_masked.unwrap_or_default(),
            r.kind,
            r.reference,
            r.date,
            csv_field(&r.service),
            r.minutes.map(|m| m.to_string()).unwrap_or_default(),
            Fen(r.amount_fen),
            Fen(r.payer_fen),
            Fen(r.elder_fen),
            r.attempt,
            r.status,
            csv_field(r.reason.as_deref().unwrap_or("")),
        ));
    }
    Ok(super::csv_answer(out))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LineDecisionRequest {
    decision: LineDecision,
    /// Required to reject (a reason code and words: `not_entitled: ...`).
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(max_length = 500, nullable = false)]
    reason: Option<String>,
}

/// The claim, locked, if the caller decides it and it is still open.
async fn deciding(tx: &mut sqlx::PgConnection, auth: &AuthUser, id: Uuid) -> Result<Claim> {
    let claim = claims::fetch(tx, &auth.scope, id, true).await?.ok_or(Error::NotFound)?;
    if !claims::decides(&auth.scope, claim.payer) {
        return Err(Error::Forbidden("the payer decides its claims"));
    }
    if claim.status == ClaimStatus::Closed {
        return Err(Error::Conflict("the claim is closed".into()));
    }
    Ok(claim)
}

#[utoipa::path(post, path = "/claims/{id}/lines/{line_id}/decision",
    summary = "Accept or reject one line of an open claim (a reason is required to reject); a rejected line can be claimed once more",
    description = "Who may call it: insurer (LTC claims), civil_affairs (subsidy claims).",
    params(("id" = Uuid, Path), ("line_id" = Uuid, Path)), request_body = LineDecisionRequest,
    responses((status = 200, description = "success", body = Claim)))]
async fn decide_line(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path((id, line)): Path<(Uuid, Uuid)>,
    Json(req): Json<LineDecisionRequest>,
) -> Result<Json<Claim>> {
    let reason = req.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    if req.decision == LineDecision::Reject && reason.is_none() {
        return Err(Error::validation("reason", "a rejection needs a reason"));
    }
    if reason.is_some_and(|r| r.chars().count() > 500) {
        return Err(Error::validation("reason", "at most 500 characters"));
    }
    let mut tx = ctx.pool.begin().await?;
    deciding(&mut tx, &auth, id).await?;
    if !claims::decide_line(&mut tx, id, line, req.decision, reason, auth.scope.user).await? {
        return Err(Error::NotFound);
    }
    let details = serde_json::json!({"claim_id": id, "line_id": line, "decision": req.decision, "reason": reason});
    crate::audit::record(&mut tx, auth.actor(), "claim.line_decided", "claim", id, details).await?;
    let claim = claims::fetch(&mut tx, &auth.scope, id, false).await?.ok_or(Error::NotFound)?;
    tx.commit().await?;
    Ok(Json(claim))
}

#[derive(Debug, Serialize, ToSchema)]
struct Closed {
    total_accepted: Fen,
}

#[utoipa::path(post, path = "/claims/{id}/close",
    summary = "Close a claim whose every line is decided (422 lines_pending otherwise): the accepted total",
    description = "Who may call it: insurer (LTC claims), civil_affairs (subsidy claims).",
    params(("id" = Uuid, Path)), responses((status = 200, description = "success", body = Closed)))]
async fn close_claim(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<Closed>> {
    let mut tx = ctx.pool.begin().await?;
    let claim = deciding(&mut tx, &auth, id).await?;
    let pending = claim.lines.iter().filter(|l| l.status == ClaimLineStatus::Pending).count();
    if pending > 0 {
        return Err(Error::refused("lines_pending", format!("{pending} lines are not decided yet")));
    }
    let total_accepted = claims::close(&mut tx, id, auth.scope.user).await?;
    let details = serde_json::json!({"claim_id": id, "total_accepted": total_accepted.to_string()});
    crate::audit::record(&mut tx, auth.actor(), "claim.closed", "claim", id, details).await?;
    tx.commit().await?;
    Ok(Json(Closed { total_accepted }))
}
