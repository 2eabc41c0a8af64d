//! `GET /api/v1/cockpit`: the supervision figures. An admin reads their
//! institution's; a supervisor every institution of their region, one row
//! each and the total, with no person's name and no health detail in any of
//! it. A wall screen reads them with a display token.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Query, Result};
use crate::domain::Role;
use crate::domain::cockpit::{self, Bound, Counts, DayFigures, Figures, InstitutionFigures, Period};
use crate::domain::field;
use crate::store::cockpit::{self as store, Place};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(figures))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct CockpitQuery {
    /// RFC 3339, or a day (`2026-11-01`) in each institution's timezone.
    #[param(nullable = false)]
    from: Option<String>,
    /// RFC 3339 (excluded), or a day (included whole).
    #[param(nullable = false)]
    to: Option<String>,
    #[param(schema_with = field::series)]
    series: Option<String>,
    #[param(schema_with = field::format)]
    format: Option<String>,
}

/// An admin's answer: the figures at the top level.
#[derive(Debug, Serialize, ToSchema)]
struct OneInstitution {
    #[serde(flatten)]
    figures: Figures,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    series: Option<Vec<DayFigures>>,
}

/// A supervisor's answer: the region's total and each institution.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CockpitRegion)]
struct Region {
    total: Figures,
    institutions: Vec<InstitutionFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    series: Option<Vec<DayFigures>>,
}

/// The JSON answer: an admin's or a supervisor's.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = Cockpit)]
#[allow(dead_code)] // only its schema is used: the handler answers either body
enum CockpitBody {
    One(OneInstitution),
    Region(Region),
}

fn bound(text: Option<&str>, field: &str) -> Result<Option<Bound>> {
    text.map(|t| {
        Bound::parse(t)
            .ok_or_else(|| Error::validation(field, format!("{field} must be an RFC 3339 time or a day (YYYY-MM-DD)")))
    })
    .transpose()
}

#[utoipa::path(get, path = "/cockpit",
    summary = "Supervision figures over a period (default the last 30 days; `from`/`to` as RFC 3339 times, or days in each institution's timezone with `to` included): alerts answered within 60 s and 180 s (critical and high alerts a person had to answer; unanswered ones count against both), MTTA, MTTR, escalations, false alarms, open now; visits; meals; devices; residents. An admin gets their institution's figures at the top level; a supervisor `{total, institutions}` for every institution of their region, with no person's name or health detail. `series=day` adds daily figures; `format=csv` answers text/csv, a row per day (admin) or per institution (supervisor). Display tokens may read it.",
    description = "Who may call it: admin, supervisor.", params(CockpitQuery),
    responses((status = 200, description = "success",
        content((CockpitBody = "application/json"), (String = "text/csv")))))]
async fn figures(State(ctx): State<ApiContext>, auth: AuthUser, Query(q): Query<CockpitQuery>) -> Result<Response> {
    let region = match auth.scope.role {
        Role::Supervisor => true,
        _ if auth.scope.may_administer() => false,
        _ => return Err(Error::Forbidden("the cockpit is for an institution's administrators and supervisors")),
    };
    let daily = match q.series.as_deref() {
        None => false,
        Some("day") => true,
        Some(_) => return Err(Error::validation("series", "series must be day")),
    };
    let csv = super::wants_csv(q.format.as_deref())?;
    let now = Utc::now();
    let period = Period::new(bound(q.from.as_deref(), "from")?, bound(q.to.as_deref(), "to")?, now)
        .map_err(|e| Error::validation(e.0, e.1))?;
    // An admin's report is by day, a region's by institution.
    let by_day = daily || (csv && !region);
    let places = store::places(ctx.read.pool(), &auth.scope).await?;
    let mut counts = store::counts(ctx.read.pool(), &places, &period, by_day, now).await?;
    let mut total = Counts::default();
    let mut rows = Vec::with_capacity(places.len());
    for place in &places {
        let own = counts.remove(&place.id).unwrap_or_default();
        total.add(&own);
        rows.push(InstitutionFigures { id: place.id, name: place.name.clone(), figures: own.figures(&period) });
    }
    let series = by_day.then(|| total.series(&days(&places, &period)));
    if csv {
        let (body, name) = if region {
            (cockpit::csv_by_institution(&rows), "cockpit-region.csv")
        } else {
            (series.as_deref().map(cockpit::csv_by_day).unwrap_or_default(), "cockpit.csv")
        };
        let disposition = format!("attachment; filename=\"{name}\"");
        return Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
            body,
        )
            .into_response());
    }
    if region {
        Ok(Json(Region { total: total.figures(&period), institutions: rows, series }).into_response())
    } else {
        Ok(Json(OneInstitution { figures: total.figures(&period), series }).into_response())
    }
}

/// The local days the period touches in any of the institutions.
fn days(places: &[Place], period: &Period) -> Vec<NaiveDate> {
    let mut first: Option<NaiveDate> = None;
    let mut last: Option<NaiveDate> = None;
    for place in places {
        let tz: chrono_tz::Tz = place.timezone.parse().unwrap_or(chrono_tz::UTC);
        let start = match period.from {
            Bound::Day(day) => day,
            Bound::At(at) => at.with_timezone(&tz).date_naive(),
        };
        let end = match period.until {
            Bound::Day(day) => day.pred_opt().unwrap_or(day),
            Bound::At(at) => (at - chrono::Duration::microseconds(1)).with_timezone(&tz).date_naive(),
        };
        first = Some(first.map_or(start, |f| f.min(start)));
        last = Some(last.map_or(end, |l| l.max(end)));
    }
    match (first, last) {
        (Some(first), Some(last)) => cockpit::days(first, last),
        _ => Vec::new(),
    }
}
