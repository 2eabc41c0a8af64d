//! Follow-up calls (回访): the hotline desk calls a sample of each
//! provider's verified visits of a month, drawn without the provider being
//! able to know or sway which (`domain::supervision`), and records whether
//! the visit happened and how it went. "It did not happen" opens a dispute
//! on the visit: out of claims until the civil-affairs bureau resolves it.

use axum::extract::State;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Path, Query, Result};
use crate::care::follow_ups as draws;
use crate::domain::Role;
use crate::store::follow_ups::{self as store, FollowUp, Heard};
use crate::store::visits;

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(record))
}

fn callers(auth: &AuthUser) -> Result<()> {
    match auth.scope.role {
        Role::Desk | Role::CivilAffairs => Ok(()),
        _ => Err(Error::Forbidden("follow-up calls are the hotline desk's and the civil-affairs bureau's")),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// YYYY-MM: the month whose visits were sampled.
    #[param(nullable = false, pattern = "^[0-9]{4}-[0-9]{2}$")]
    month: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = FollowUpList)]
struct FollowUps {
    month: String,
    /// Whether the month's sample is drawn: once the month is over everywhere
    /// and it has a verified visit.
    drawn: bool,
    follow_ups: Vec<FollowUp>,
}

#[utoipa::path(get, path = "/follow-ups",
    summary = "A month's follow-up calls: at least 5 % and at least 2 of each provider's verified visits, drawn once the month is over with a keyed hash (each call's draw is shown, for audit), those still to make first",
    description = "Who may call it: desk (every call), civil_affairs (the elders of its division).", params(ListQuery),
    responses((status = 200, description = "success", body = FollowUps)))]
async fn list(State(ctx): State<ApiContext>, auth: AuthUser, Query(q): Query<ListQuery>) -> Result<Json<FollowUps>> {
    callers(&auth)?;
    let month = super::month_param("month", q.month.as_deref())?;
    let now = Utc::now();
    let mut drawn = store::drawn(&mut *ctx.pool.acquire().await?, month).await?;
    if !drawn && draws::has_ended(month, now) {
        let key = ctx.settings.webhooks.secret_key.as_ref().ok_or_else(|| {
            Error::Conflict("follow-up samples are drawn with webhooks.secret_key, which is not set".into())
        })?;
        // Drawn here, or by the scheduler in the meantime.
        drawn =
            draws::draw(&ctx.pool, key, month).await? || store::drawn(&mut *ctx.pool.acquire().await?, month).await?;
    }
    let follow_ups = store::list(&ctx.pool, &auth.scope, month).await?;
    Ok(Json(FollowUps { month: month.format("%Y-%m").to_string(), drawn, follow_ups }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = FollowUpCall)]
struct CallBody {
    /// Whether the elder (or her family) answered.
    reached: bool,
    /// Whether the visit happened; false opens a dispute on it.
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(nullable = false)]
    visit_happened: Option<bool>,
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(nullable = false, minimum = 1, maximum = 5)]
    satisfaction: Option<i32>,
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(nullable = false, max_length = 2000)]
    note: Option<String>,
}

#[utoipa::path(post, path = "/follow-ups/{id}",
    summary = "Record a follow-up call: not reached (it may be tried again), or what the elder said; visit_happened false opens an EVV dispute on the visit (evv.exceptions gains disputed), out of claims until civil_affairs resolves it",
    description = "Who may call it: desk, civil_affairs (of the elder's division).", params(("id" = Uuid, Path)),
    request_body = CallBody, responses((status = 200, description = "success", body = FollowUp)))]
async fn record(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<CallBody>,
) -> Result<Json<FollowUp>> {
    callers(&auth)?;
    if !req.reached && (req.visit_happened.is_some() || req.satisfaction.is_some()) {
        return Err(Error::validation("reached", "what the elder said is recorded only when she was reached"));
    }
    if req.satisfaction.is_some_and(|s| !(1..=5).contains(&s)) {
        return Err(Error::validation("satisfaction", "from 1 to 5"));
    }
    let note = match req.note.as_deref() {
        Some(n) => Some(super::text("note", n, 2000)?),
        None => None,
    };
    let mut tx = ctx.pool.begin().await?;
    let call = store::fetch(&mut tx, &auth.scope, id, true).await?.ok_or(Error::NotFound)?;
    if call.reached == Some(true) {
        return Err(Error::Conflict("this call was answered and recorded already".into()));
    }
    let heard =
        Heard { reached: req.reached, visit_happened: req.visit_happened, satisfaction: req.satisfaction, note };
    store::record(&mut tx, id, auth.scope.user, &heard).await?;
    let details = json!({"follow_up_id": id, "visit_id": call.visit_id, "reached": req.reached,
                         "visit_happened": req.visit_happened, "satisfaction": req.satisfaction});
    crate::audit::record(&mut tx, auth.actor(), "follow_up.recorded", "follow_up", id, details).await?;
    if req.visit_happened == Some(false) {
        let mut visit = visits::fetch_any(&mut tx, call.visit_id).await?.ok_or(Error::NotFound)?;
        if visit.dispute() {
            visits::save(&mut tx, &visit).await?;
            // On the provider's own chain: it sees the dispute on the visit.
            let actor = crate::audit::Actor { user_id: auth.scope.user, institution_id: Some(visit.institution_id) };
            let details = json!({"follow_up_id": id, "reason": "a follow-up call heard the visit did not happen"});
            crate::audit::record(&mut tx, actor, "visit.disputed", "visit", visit.id, details).await?;
        }
    }
    tx.commit().await?;
    let mut conn = ctx.pool.acquire().await?;
    Ok(Json(store::fetch(&mut conn, &auth.scope, id, false).await?.ok_or(Error::NotFound)?))
}
