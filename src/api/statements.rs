//! Monthly statements per funder: what was delivered and verified, who pays
//! what for it. One document per month, JSON or CSV.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Query, Result};
use crate::domain::care::{self, Delivered, Excluded, Funding, Unit};
use crate::domain::field;
use crate::store::care as catalogue;
use crate::store::{residents, visits};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(statement))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct StatementQuery {
    #[param(schema_with = field::month)]
    month: Option<String>,
    #[param(nullable = false)]
    funding: Option<Funding>,
    #[param(schema_with = field::format)]
    format: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Statement {
    month: String,
    funding: Funding,
    residents: Vec<ResidentLine>,
    total: Total,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = StatementLine)]
struct ResidentLine {
    resident_id: Uuid,
    name: String,
    visits: i64,
    minutes: i64,
    /// What the resident's plan authorises a month for this funder; null
    /// when it authorises no hours (no cap then applies).
    #[serde(serialize_with = "care::whole_if_whole")]
    #[schema(required = true)]
    hours_authorised: Option<f64>,
    amount: f64,
    excluded: Vec<ExcludedVisit>,
}

#[derive(Debug, Serialize, ToSchema)]
struct ExcludedVisit {
    visit_id: Uuid,
    reason: Excluded,
}

#[derive(Debug, Serialize, Default, ToSchema)]
#[schema(as = StatementTotal)]
struct Total {
    visits: i64,
    minutes: i64,
    amount: f64,
}

pub(crate) fn parse_month(month: &str) -> Option<NaiveDate> {
    if month.len() != 7 {
        return None;
    }
    NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()
}

#[utoipa::path(get, path = "/statements",
    summary = "A funder's statement for a month (YYYY-MM, residents' local time): verified visits only, those beyond the authorised hours excluded; &format=csv for text/csv, one row per resident",
    description = "Who may call it: admin.", params(StatementQuery),
    responses((status = 200, description = "success",
        content((Statement = "application/json"), (String = "text/csv")))))]
async fn statement(State(ctx): State<ApiContext>, auth: AuthUser, Query(q): Query<StatementQuery>) -> Result<Response> {
    auth.require_admin()?;
    let first = super::month_param("month", q.month.as_deref())?;
    let month_text = first.format("%Y-%m").to_string();
    let funding = q.funding.ok_or_else(|| Error::validation("funding", "funding is required"))?;
    let csv = super::wants_csv(q.format.as_deref())?;
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    }
    .ok_or_else(|| Error::validation("month", "month is out of range"))?;
    let billable = visits::billable(ctx.read.pool(), &auth.scope, funding, first, next).await?;
    let plans: BTreeMap<Uuid, Option<f64>> = catalogue::plans_of(ctx.read.pool(), &auth.scope)
        .await?
        .into_iter()
        .map(|(id, items)| (id, catalogue::authorised_hours(&items, funding)))
        .filter(|(_, hours)| hours.is_some())
        .collect();
    // Residents with visits of this funder in their own month, or whose
    // plan authorises it.
    let mut by_resident: BTreeMap<Uuid, Vec<Delivered>> = plans.keys().map(|id| (*id, Vec::new())).collect();
    let prices: BTreeMap<Uuid, (Unit, f64)> = catalogue::prices(ctx.read.pool(), &auth.scope)
        .await?
        .into_iter()
        .map(|(id, unit, price)| (id, (unit, price)))
        .collect();
    for v in billable {
        let Some(&(unit, unit_price)) = prices.get(&v.service_id) else { continue };
        by_resident.entry(v.resident_id).or_default().push(Delivered {
            visit_id: v.id,
            start: v.start,
            minutes: care::minutes_between(v.start, v.end),
            verified: v.verified,
            unit,
            unit_price,
        });
    }
    let ids: Vec<Uuid> = by_resident.keys().copied().collect();
    let names: BTreeMap<Uuid, String> =
        residents::names(ctx.read.pool(), &auth.scope, &ids).await?.into_iter().collect();
    let mut residents = Vec::new();
    let mut total = Total::default();
    for (id, delivered) in by_resident {
        let hours = plans.get(&id).copied().flatten();
        let cap = hours.map(|h| (h * 60.0).round() as i64);
        let line = care::statement_line(delivered, cap);
        total.visits += line.visits;
        total.minutes += line.minutes;
        total.amount = ((total.amount + line.amount) * 100.0).round() / 100.0;
        residents.push(ResidentLine {
            resident_id: id,
            name: names.get(&id).cloned().unwrap_or_default(),
            visits: line.visits,
            minutes: line.minutes,
            hours_authorised: hours,
            amount: line.amount,
            excluded: line.excluded.into_iter().map(|(visit_id, reason)| ExcludedVisit { visit_id, reason }).collect(),
        });
    }
    residents.sort_by(|a, b| a.name.cmp(&b.name).then(a.resident_id.cmp(&b.resident_id)));
    let statement = Statement { month: month_text, funding, residents, total };
    if csv {
        return Ok(super::csv_answer(to_csv(&statement)));
    }
    Ok(Json(statement).into_response())
}

/// One row per resident: `resident_id,name,visits,minutes,hours_authorised,amount`.
fn to_csv(statement: &Statement) -> String {
    let mut out = String::from("resident_id,name,visits,minutes,hours_authorised,amount\n");
    for r in &statement.residents {
        let hours = r.hours_authorised.map(|h| h.to_string()).unwrap_or_default();
        out.push_str(&format!(
            "{},{},{},{},{},{:.2}\n",
            r.resident_id,
            csv_field(&r.name),
            r.visits,
            r.minutes,
            hours,
            r.amount
        ));
    }
    out
}

/// Quotes a field when it holds a comma, a quote or a line break (RFC
/// 4180), and defuses a leading formula character for spreadsheets.
pub(crate) fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_owned() };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_names_are_quoted_and_defused() {
        assert_eq!(csv_field("Wang Fang"), "Wang Fang");
        assert_eq!(csv_field("Li, Wei"), "\"Li, Wei\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(parse_month("2026-11"), NaiveDate::from_ymd_opt(2026, 11, 1));
        assert_eq!(parse_month("2026-13"), None);
        assert_eq!(parse_month("2026-11-01"), None);
    }
}
