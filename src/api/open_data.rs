//! Open data: the district's elders counted for anyone, without logging in,
//! down to community level. A count below 5 is withheld (`null`,
//! `suppressed: true`), and so is any count that would let it be worked out
//! from the rest (`domain::disclosure`). Never a name, an id or a date of
//! birth. Rate-limited per client address.

use std::collections::HashMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::ClientAddr;
use super::{ApiContext, Error, Json, Query, Result};
use crate::domain::disclosure::{self, Cell};
use crate::store::open_data as store;

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(aggregates))
}

/// Each measure and the groups it counts, in the order they are published.
pub(super) const MEASURES: [(&str, &[&str]); 5] = [
    ("elders_by_age_band", &["under_60", "60-69", "70-79", "80-89", "90+", "unknown"]),
    ("elders_by_grade", &["0", "1", "2", "3", "4", "none"]),
    ("living_alone", &["alone", "not_alone", "unknown"]),
    ("economic_status", &["none", "low_income", "dibao", "tekun", "unknown"]),
    ("enrolled_by_service", &["monitoring", "home_care", "meals", "day_care", "residential"]),
];

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AggregateQuery {
    /// A district or street code: its streets' or communities' counts.
    /// Without it, the districts'.
    #[param(nullable = false, pattern = "^([0-9]{6}|[0-9]{9})$")]
    division: Option<String>,
    /// elders_by_age_band, elders_by_grade, living_alone, economic_status
    /// or enrolled_by_service.
    #[param(pattern = "^(elders_by_age_band|elders_by_grade|living_alone|economic_status|enrolled_by_service)$")]
    measure: Option<String>,
    /// json (default) or csv.
    #[param(nullable = false, pattern = "^(json|csv)$")]
    format: Option<String>,
}

/// One count: a child division's group.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OpenAggregateRow)]
struct Row {
    division: String,
    group: String,
    /// Null when withheld.
    #[schema(required = true)]
    count: Option<i64>,
    suppressed: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OpenAggregates)]
struct Aggregates {
    /// The division asked about (null: the districts).
    #[schema(required = true)]
    division: Option<String>,
    measure: String,
    rows: Vec<Row>,
}

#[utoipa::path(get, path = "/aggregates", tag = "open data",
    summary = "Public counts of elders per child division (a district's streets, a street's communities) by group; counts below 5 and the counts that would reveal them are null with suppressed: true; no login, rate-limited per address",
    description = "Who may call it: anyone (no login); http.open_data_per_minute requests a minute per client address, 429 beyond.",
    params(AggregateQuery), security(()),
    responses((status = 200, description = "success (JSON, or CSV with format=csv)",
               content((Aggregates = "application/json"), (String = "text/csv"))),
              (status = 429, description = "too many requests from this address", body = super::error::ErrorBody)))]
async fn aggregates(
    State(ctx): State<ApiContext>,
    ClientAddr(addr): ClientAddr,
    Query(q): Query<AggregateQuery>,
) -> Result<Response> {
    ctx.open_data
        .take(addr, std::time::Instant::now())
        .map_err(|retry_after| Error::TooManyRequests { retry_after })?;
    let csv = super::wants_csv(q.format.as_deref())?;
    let measure = q.measure.as_deref().ok_or_else(|| Error::validation("measure", "name the measure"))?;
    let (measure, groups) =
        MEASURES.iter().find(|(m, _)| *m == measure).copied().ok_or_else(|| {
            Error::validation("measure", MEASURES.iter().map(|(m, _)| *m).collect::<Vec<_>>().join(", "))
        })?;
    if let Some(division) = &q.division {
        match store::level(&ctx.pool, division).await?.as_deref() {
            Some("district" | "street") => {}
            Some(_) => {
                return Err(Error::validation(
                    "division",
                    "published down to community level: name a district or a street",
                ));
            }
            None => return Err(Error::NotFound),
        }
    }
    let children = store::children(&ctx.pool, q.division.as_deref()).await?;
    let counted: HashMap<(String, String), i64> = store::counts(&ctx.pool, q.division.as_deref(), measure)
        .await?
        .into_iter()
        .map(|c| ((c.division, c.grp), c.count))
        .collect();
    let mut cells: Vec<Cell> = Vec::with_capacity(children.len() * groups.len());
    for (row, child) in children.iter().enumerate() {
        for (column, group) in groups.iter().enumerate() {
            let count = counted.get(&(child.clone(), (*group).to_owned())).copied().unwrap_or(0);
            cells.push(Cell { row, column, count, suppressed: false });
        }
    }
    disclosure::suppress(&mut cells);
    let rows: Vec<Row> = cells
        .iter()
        .map(|c| Row {
            division: children[c.row].clone(),
            group: groups[c.column].to_owned(),
            count: (!c.suppressed).then_some(c.count),
            suppressed: c.suppressed,
        })
        .collect();
    if csv {
        let mut body = String::from("division,measure,group,count,suppressed\n");
        for r in &rows {
            let count = r.count.map(|c| c.to_string()).unwrap_or_default();
            body += &format!("{},{measure},{},{count},{}\n", r.division, r.group, r.suppressed);
        }
        return Ok(super::csv_answer(body));
    }
    Ok(Json(Aggregates { division: q.division, measure: measure.to_owned(), rows }).into_response())
}
