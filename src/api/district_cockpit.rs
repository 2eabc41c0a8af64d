//! `GET /api/v1/cockpit/district`: a division seen through the divisions it
//! is made of, for the civil-affairs bureau and supervisors bound to it:
//! its elders (age, grade, living alone, economic status, enrolments), the
//! services asked for and delivered, the kitchens and caregivers placed
//! there, the money accepted and the complaints, each child division with
//! its boundary for the page's map. Counts only, never a person.

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::AuthUser;
use super::open_data::MEASURES;
use super::{ApiContext, Error, Json, Query, Result};
use crate::domain::Role;
use crate::domain::billing::Fen;
use crate::domain::district_cockpit::{
    self as district, Area, ClaimsAccepted, Cockpit, Complaints, RequestCounts, Requests, Scores, ServiceRequests,
};
use crate::domain::division::Code;
use crate::domain::field;
use crate::store::district_cockpit as store;
use crate::store::{divisions, open_data, users};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(figures))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DistrictQuery {
    /// The division to look into: the caller's own by default; one outside
    /// it answers 404.
    #[param(schema_with = field::division_code)]
    division: Option<String>,
}

/// Every child a division can have: a child's code is its parent's and
/// three digits.
const MAX_CHILDREN: i64 = 1000;

/// The elders' counts of one measure: child division → group → count.
type Counted = HashMap<String, BTreeMap<String, i64>>;

/// The elders of each child division counted by each of open data's
/// measures, from two queries: one grouping them by all four of their own
/// measures at once, one by the services they are enrolled for.
async fn counted(ctx: &ApiContext, division: &Code) -> Result<HashMap<&'static str, Counted>> {
    let pool = ctx.read.pool();
    let (groups, enrolled) = tokio::try_join!(
        async {
            let mut tx = crate::store::analytic(pool).await?;
            let groups = open_data::groups(&mut tx, Some(division.as_str())).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(groups)
        },
        async {
            let mut tx = crate::store::analytic(pool).await?;
            let enrolled = open_data::enrolled(&mut tx, Some(division.as_str())).await?;
            tx.commit().await?;
            Ok(enrolled)
        },
    )?;
    let mut out: HashMap<&'static str, Counted> = MEASURES.iter().map(|(m, _)| (*m, Counted::new())).collect();
    for g in &groups {
        for (measure, counted) in &mut out {
            if let Some(grp) = g.of(measure) {
                *counted.entry(g.division.clone()).or_default().entry(grp.to_owned()).or_default() += g.count;
            }
        }
    }
    let by_service = out.entry("enrolled_by_service").or_default();
    for c in enrolled {
        by_service.entry(c.division).or_default().insert(c.grp, c.count);
    }
    Ok(out)
}

#[utoipa::path(get, path = "/cockpit/district",
    summary = "A division's figures per child division (a district's streets, a street's communities): elders by age band, grade, living alone and economic status; enrolled per service; service requests of the last 30 days made, fulfilled and unmet, per service code, with the median hours to fulfil; kitchens and caregivers per 1,000 elders; claim lines accepted per payer and month (12 months); complaints open, overdue and upheld; last month's provider scores (providers placed there, scored, mean, lowest); each child's name, code and GeoJSON boundary (or null). `hot_issues` sums the requests per service code, the most unmet first. Counts only: no name, id or date of birth.",
    description = "Who may call it: civil_affairs, supervisor (bound to a division; `division` defaults to theirs, one outside it is 404).",
    params(DistrictQuery),
    responses((status = 200, description = "success", body = Cockpit)))]
async fn figures(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Query(q): Query<DistrictQuery>,
) -> Result<Json<Cockpit>> {
    if !matches!(auth.scope.role, Role::CivilAffairs | Role::Supervisor) {
        return Err(Error::Forbidden("the district cockpit is for the civil-affairs bureau and supervisors"));
    }
    // The reach is read from the account, never from the request.
    let own = users::fetch(&ctx.pool, auth.scope.user)
        .await?
        .and_then(|u| u.division)
        .and_then(|d| Code::parse(&d))
        .ok_or(Error::Forbidden("this account is bound to no division: the operator places it in one"))?;
    let asked = match q.division.as_deref() {
        None => own.clone(),
        Some(text) => {
            Code::parse(text).ok_or_else(|| Error::validation("division", "division must be a division code"))?
        }
    };
    if !own.contains(&asked) {
        return Err(Error::NotFound);
    }
    let division = divisions::get(ctx.read.pool(), &asked).await?.ok_or(Error::NotFound)?;
    let pool = ctx.read.pool();
    let window = district::WINDOW_DAYS;
    let last_month = crate::care::follow_ups::last_month(chrono::Utc::now());
    let (children, mut elders, requests, provision, claims, complaints, scored) = tokio::try_join!(
        async { Ok::<_, Error>(divisions::children(pool, Some(&asked), None, MAX_CHILDREN).await?) },
        counted(&ctx, &asked),
        async { Ok(store::requests(pool, &asked, window).await?) },
        async { Ok(store::provision(pool, &asked).await?) },
        async { Ok(store::claims_accepted(pool, &asked, district::CLAIM_MONTHS).await?) },
        async { Ok(store::complaints(pool, &asked, window).await?) },
        async { Ok(crate::store::scores::month(pool, &auth.scope, Some(asked.as_str()), last_month).await?) },
    )?;
    let scored: Vec<(String, Option<i64>)> = scored
        .into_iter()
        .map(|p| (p.division.unwrap_or_default(), crate::domain::supervision::score(&p.raw).score))
        .collect();

    let mut measure = |name: &str| elders.remove(name).unwrap_or_default();
    let (ages, grades, alone, economic, enrolled) = (
        measure("elders_by_age_band"),
        measure("elders_by_grade"),
        measure("living_alone"),
        measure("economic_status"),
        measure("enrolled_by_service"),
    );
    let groups = |measure: &str| MEASURES.iter().find(|(m, _)| *m == measure).map_or(&[][..], |(_, g)| *g);
    let empty = BTreeMap::new();
    let mut requests_of: HashMap<String, Requests> = HashMap::new();
    for row in requests {
        let counts = RequestCounts { made: row.made, fulfilled: row.fulfilled, unmet: row.unmet };
        let entry = requests_of.entry(row.division).or_default();
        match row.service_code {
            Some(service_code) => entry.by_service.push(ServiceRequests { service_code, counts }),
            None => {
                entry.counts = counts;
                entry.median_hours_to_fulfil = row.median_hours.map(district::hours);
            }
        }
    }
    let provision: HashMap<String, (i64, i64)> =
        provision.into_iter().map(|p| (p.division, (p.kitchens, p.caregivers))).collect();
    let mut claims_of: HashMap<String, Vec<ClaimsAccepted>> = HashMap::new();
    for c in claims {
        claims_of.entry(c.division).or_default().push(ClaimsAccepted {
            payer: c.payer,
            month: c.month,
            lines: c.lines,
            amount: Fen(c.payer_fen),
        });
    }
    let complaints: HashMap<String, Complaints> = complaints
        .into_iter()
        .map(|c| (c.division, Complaints { open: c.open, overdue: c.overdue, upheld: c.upheld }))
        .collect();

    let areas: Vec<Area> = children
        .into_iter()
        .map(|child| {
            let code = child.code;
            let by_age_band = district::fill(groups("elders_by_age_band"), ages.get(&code).unwrap_or(&empty));
            let elders = by_age_band.values().sum();
            let mut requests = requests_of.remove(&code).unwrap_or_default();
            requests
                .by_service
                .sort_by(|a, b| b.counts.made.cmp(&a.counts.made).then_with(|| a.service_code.cmp(&b.service_code)));
            let (kitchens, caregivers) = provision.get(&code).copied().unwrap_or_default();
            Area {
                name: child.name,
                level: child.level,
                boundary: child.boundary,
                elders,
                by_grade: district::fill(groups("elders_by_grade"), grades.get(&code).unwrap_or(&empty)),
                living_alone: alone.get(&code).and_then(|g| g.get("alone")).copied().unwrap_or(0),
                by_economic_status: district::fill(groups("economic_status"), economic.get(&code).unwrap_or(&empty)),
                enrolled_by_service: district::fill(
                    groups("enrolled_by_service"),
                    enrolled.get(&code).unwrap_or(&empty),
                ),
                by_age_band,
                requests,
                kitchens,
                kitchens_per_1000_elders: district::per_thousand(kitchens, elders),
                caregivers,
                caregivers_per_1000_elders: district::per_thousand(caregivers, elders),
                claims_accepted: claims_of.remove(&code).unwrap_or_default(),
                complaints: complaints.get(&code).cloned().unwrap_or_default(),
                scores: Scores::of(
                    &scored.iter().filter(|(d, _)| d.starts_with(code.as_str())).map(|(_, s)| *s).collect::<Vec<_>>(),
                ),
                code,
            }
        })
        .collect();
    let hot_issues = district::hot_issues(&areas);
    Ok(Json(Cockpit {
        division: district::Division { code: division.code, name: division.name, level: division.level },
        window_days: window,
        children: areas,
        hot_issues,
    }))
}
