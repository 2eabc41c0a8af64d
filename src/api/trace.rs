//! The trace, end to end (全程留痕): from any alert, visit, bill line or
//! claim line, the chain it belongs to, with each step's who, when and
//! audit entries, so a supervisor's question ("this claim line: did anyone
//! actually go?") is answered from one record without reading four lists.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Path, Result};
use crate::domain::Role;
use crate::domain::care::first_name;
use crate::domain::scope::Identity;
use crate::domain::trace::TraceKind;
use crate::store::trace::{self, Step};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(fetch))
}

#[derive(Debug, Serialize, ToSchema)]
struct Anchor {
    kind: TraceKind,
    id: Uuid,
}

#[derive(Debug, Serialize, ToSchema)]
struct Trace {
    /// The record asked about; one of the steps.
    anchor: Anchor,
    resident_id: Uuid,
    /// In the order the work went: the alert, then each visit sent for it
    /// with its EVV record, each of its bill lines with their claim lines
    /// and decisions. A chain may be partial: an alert nobody was sent to,
    /// a visit no alert asked for, a line not yet claimed or decided.
    steps: Vec<Step>,
}

#[utoipa::path(get, path = "/trace/{kind}/{id}",
    summary = "The chain a record belongs to: alert → dispatched visit → EVV record → bill line → claim line → payer's decision, each step with who, when and its audit entries (id, action, at, actor, hash)",
    description = "Who may call it: admin and staff of an institution that reaches the elder (the alert as their enrolment reaches alerts, their own visits, bill lines and claims); linked family (alert, visits, EVV records and every provider's bill lines; no claim or decision, no audit entries, people by first name); insurer and civil_affairs (the money side only: the bill lines claimed from them, as GET /claims shows, their claim lines and decisions; never an alert, a visit or an EVV record). A record the caller does not see is a 404, as one that does not exist. \
        Each step's `summary`: alert {kind, severity, status, resolution, device_id, acknowledged_at, acknowledged_by, resolved_at, resolved_by}; \
        visit {service_code, service_name, origin, status, funding, scheduled_start, caregiver_id, alert_id} (`by`: who made or dispatched it); \
        evv {check_in_at, check_out_at, start, end, minutes, method, distance_m, exceptions, resolved, amended, verified} (`by`: the caregiver); \
        bill_line {kind, ref, date, month, service, minutes, amount, payer, payer_amount, elder_amount, over_quota}; \
        claim_line {claim_id, payer, month, claim_status, attempt, status, payer_amount} (`by`: who submitted the claim); \
        decision {decision, reason} (`by`: the payer's user who decided).",
    params(("kind" = TraceKind, Path), ("id" = Uuid, Path)),
    responses((status = 200, description = "success", body = Trace)))]
async fn fetch(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path((kind, id)): Path<(String, Uuid)>,
) -> Result<Json<Trace>> {
    let kind = TraceKind::parse(&kind)
        .ok_or_else(|| Error::validation("kind", format!("kind is one of {}", TraceKind::names().join(", "))))?;
    let links = trace::links(&ctx.pool, kind, id).await?.ok_or(Error::NotFound)?;
    let mut steps = match auth.scope.role {
        Role::Admin | Role::Staff | Role::Family => {
            let resident = auth.reach::<Identity>(&ctx, links.resident).await?;
            trace::chain(&ctx.pool, &auth.scope, &resident, &links).await?
        }
        Role::Insurer | Role::CivilAffairs => trace::money_chain(&ctx.pool, &auth.scope, &links).await?,
        _ => return Err(Error::NotFound),
    };
    if !steps.iter().any(|s| s.kind == kind.step() && s.id == id) {
        return Err(Error::NotFound);
    }
    if auth.scope.role == Role::Family {
        for step in &mut steps {
            for_family(step);
        }
    }
    Ok(Json(Trace { anchor: Anchor { kind, id }, resident_id: links.resident, steps }))
}

/// The family reads who came by first name, as in their list of visits,
/// and not the provider's own trail.
fn for_family(step: &mut Step) {
    if let Some(by) = step.by.as_mut() {
        by.name = first_name(&by.name).to_owned();
    }
    step.audit.clear();
}
