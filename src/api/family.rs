//! What the family app shows: the residents linked to me, and a resident's
//! day at a glance.
//!
//! Everything goes through the caller's scope: families reach only their
//! linked residents, staff their institution's; the rest is a 404.

use axum::extract::State;
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, PageQuery, Path, Query, Result};
use crate::domain::AccessKind;
use crate::domain::scope::Monitoring;
use crate::store::messages::{self, Overview};
use crate::summary::{self, Summary, SummaryError};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(my_residents)).routes(routes!(summary)).routes(routes!(routine))
}

#[derive(Debug, Serialize, ToSchema)]
struct MyResidents {
    residents: Vec<Overview>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// The app's home screen, by name; the cursor is the last resident's id.
#[utoipa::path(get, path = "/me/residents",
    summary = "The family app's home screen: my linked residents (family) or the institution's (staff), with open alerts and unread messages",
    description = "Who may call it: any.", params(PageQuery),
    responses((status = 200, description = "success", body = MyResidents)))]
async fn my_residents(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<MyResidents>> {
    let limit = super::page_limit(q.limit)?;
    let after = super::cursor_in_reach(q.cursor.as_deref(), async |id| {
        Ok(crate::store::residents::visible(&ctx.pool, &auth.scope, id).await?.is_some())
    })
    .await?;
    let mut residents = messages::overview(&ctx.pool, &auth.scope, after, limit + 1).await?;
    let next_cursor = super::next_page(&mut residents, limit, |r| r.id.to_string());
    Ok(Json(MyResidents { residents, next_cursor }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct SummaryQuery {
    /// A local date of the resident; today there by default.
    #[param(nullable = false)]
    date: Option<NaiveDate>,
}

#[utoipa::path(get, path = "/residents/{id}/summary",
    summary = "A resident's day (local date, today by default): meals, activity and the night, latest vitals against the normal range, alerts with their outcome, device health",
    description = "Who may call it: any.", params(("id" = Uuid, Path), SummaryQuery),
    responses((status = 200, description = "success", body = Summary)))]
async fn summary(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<SummaryQuery>,
) -> Result<Json<Summary>> {
    let reached = auth.reach::<Monitoring>(&ctx, id).await?;
    let id = reached.id();
    match summary::build(&ctx.pool, &ctx.rule_settings, &auth.scope, &reached, q.date, Utc::now()).await {
        Ok(summary) => {
            auth.log_read(&ctx, AccessKind::Summary, id).await?;
            Ok(Json(summary))
        }
        Err(SummaryError::NotFound) => Err(Error::NotFound),
        Err(err @ SummaryError::DateOutOfRange) => Err(Error::validation("date", err.to_string())),
        Err(err @ SummaryError::InvalidTimezone(..)) => Err(Error::Internal(err.into())),
        Err(SummaryError::Database(err)) => Err(err.into()),
    }
}

#[utoipa::path(get, path = "/residents/{id}/routine",
    summary = "The routine learned from the resident's own last 28 days (not today): usual rising and bedtime, meal times, outings, and the usual longest quiet spell at home in each part of the day; `learned` is false below 7 days",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path)),
    responses((status = 200, description = "success", body = crate::rules::routine::Routine)))]
async fn routine(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<crate::rules::routine::Routine>> {
    use crate::rules::routine::{self, HISTORY_DAYS};
    let reached = auth.reach_for_staff::<Monitoring>(&ctx, id).await?;
    let resident = crate::store::residents::fetch(&ctx.pool, &auth.scope, id).await?.ok_or(Error::NotFound)?;
    let tz: chrono_tz::Tz = resident.timezone.parse().map_err(|_| Error::NotFound)?;
    let settings = ctx.rule_settings.resident(&ctx.pool, id).await?.ok_or(Error::NotFound)?;
    let now = Utc::now();
    let today = now.with_timezone(&tz).date_naive();
    let from = now - chrono::Duration::days(HISTORY_DAYS + 2);
    let kinds = crate::rules::behaviour::activity_kinds();
    let events =
        crate::store::activity::of_resident(&ctx.pool, &reached, &kinds, from, now, routine::MAX_EVENTS).await?;
    let visits = crate::store::activity::attended(&ctx.pool, &reached, from, now).await?;
    auth.log_read(&ctx, AccessKind::Summary, id).await?;
    Ok(Json(routine::learn(&events, &visits, tz, &settings, today)))
}
