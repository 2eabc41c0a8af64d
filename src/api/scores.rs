//! Provider scores: a monthly score from 0 to 100 per care provider, for
//! the bureau to rank the providers it oversees. Each answer carries the raw
//! figures, each component's value and weight, and the formula, so anyone
//! holding the answer recomputes the score (`domain::supervision::score`).

use axum::extract::State;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Query, Result};
use crate::domain::Role;
use crate::domain::supervision::{self, Component, FORMULA, RawFigures};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(scores))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ScoresQuery {
    /// YYYY-MM; this month when left out.
    #[param(nullable = false, pattern = "^[0-9]{4}-[0-9]{2}$")]
    month: Option<String>,
    /// Only the providers located in this division (and under it).
    #[param(nullable = false, pattern = "^[0-9]{6,15}$")]
    division: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct ProviderScore {
    institution_id: Uuid,
    name: String,
    #[schema(required = true)]
    division: Option<String>,
    /// 0–100; null when the month has no figures at all.
    #[schema(required = true)]
    score: Option<i64>,
    components: Vec<Component>,
    figures: RawFigures,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProviderScores)]
struct Scores {
    month: String,
    /// How each score is computed from its figures.
    formula: &'static str,
    /// Best first.
    providers: Vec<ProviderScore>,
}

#[utoipa::path(get, path = "/providers/scores",
    summary = "A month's score 0-100 per care provider overseen, best first, from alerts acknowledged within 60 s, visits on time, EVV exceptions, upheld complaints per 100 elders, follow-up satisfaction and visit-happened rate and inspection findings; each with its raw figures, components and the formula",
    description = "Who may call it: civil_affairs (the providers of its division), supervisor (of its region).",
    params(ScoresQuery), responses((status = 200, description = "success", body = Scores)))]
async fn scores(State(ctx): State<ApiContext>, auth: AuthUser, Query(q): Query<ScoresQuery>) -> Result<Json<Scores>> {
    if !matches!(auth.scope.role, Role::CivilAffairs | Role::Supervisor) {
        return Err(Error::Forbidden("provider scores are the bureau's and supervisors'"));
    }
    let month = match q.month.as_deref() {
        Some(_) => super::month_param("month", q.month.as_deref())?,
        None => crate::store::billing::month_of(Utc::now().date_naive()),
    };
    if q.division.as_ref().is_some_and(|d| !(6..=15).contains(&d.len()) || !d.bytes().all(|b| b.is_ascii_digit())) {
        return Err(Error::validation("division", "a division code"));
    }
    let found = crate::store::scores::month(ctx.read.pool(), &auth.scope, q.division.as_deref(), month).await?;
    let mut providers: Vec<ProviderScore> = found
        .into_iter()
        .map(|p| {
            let scored = supervision::score(&p.raw);
            ProviderScore {
                institution_id: p.id,
                name: p.name,
                division: p.division,
                score: scored.score,
                components: scored.components,
                figures: p.raw,
            }
        })
        .collect();
    providers.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.name.cmp(&b.name)));
    Ok(Json(Scores { month: month.format("%Y-%m").to_string(), formula: FORMULA, providers }))
}
