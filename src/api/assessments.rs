//! Capability assessments: the assessor's record of an elder's capability,
//! graded on the Barthel index or GB/T 42195-2022, with the monitored
//! care-risk events (falls, night wandering) offered as evidence. A new
//! assessment re-grades the entitlements still running.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Path, Result};
use crate::domain::Role;
use crate::domain::assessment::{self, Factors, Scale};
use crate::domain::billing::StepKind;
use crate::domain::scope::{Identity, Reached};
use crate::store::applications as apps;
use crate::store::assessments::{self as store, Assessment, Evidence, NewAssessment};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(create, list)).routes(routes!(evidence))
}

/// How long an assessment stands unless the bureau shortens it.
const VALID_YEARS: i32 = 2;
/// The window of care-risk events the standard counts.
const RISK_WINDOW_DAYS: i64 = 30;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AssessmentFactors)]
struct FactorsBody {
    /// In a coma: grade 4 outright (GB/T).
    #[serde(default)]
    coma: bool,
    /// Diagnosed dementia (ICD-10 F00–F03): one grade up (GB/T).
    #[serde(default)]
    dementia: bool,
    /// Another mental or behavioural disorder diagnosed by a psychiatrist
    /// (F04–F99): one grade up (GB/T).
    #[serde(default)]
    psychiatric: bool,
}

/// A care-risk event the assessor confirms: one offered by the evidence
/// form (its `alert_id`), or one learned otherwise (a choking the family
/// reports), with its kind and time.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RiskEvent {
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "super::non_null")]
    #[schema(nullable = false)]
    alert_id: Option<Uuid>,
    #[schema(pattern = "^(fall|wandering|choking|self_harm)$")]
    kind: String,
    at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AssessmentRequest {
    scale: Scale,
    /// The scale's items and their values (`GET .../assessments/evidence`
    /// lists them).
    #[schema(value_type = Object)]
    items: serde_json::Map<String, serde_json::Value>,
    /// Not in the future; at most 90 days back.
    assessed_at: DateTime<Utc>,
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(max_length = 4000, nullable = false)]
    notes: Option<String>,
    #[serde(default, deserialize_with = "crate::domain::wire::non_null_object")]
    #[schema(nullable = false)]
    factors: Option<FactorsBody>,
    /// The care-risk events of the 30 days before `assessed_at` the
    /// assessor confirmed; two or more raise the GB/T grade by one.
    #[serde(default, deserialize_with = "crate::domain::wire::required_objects")]
    risk_events: Vec<RiskEvent>,
    /// The bureau may shorten the validity (default two years).
    #[serde(default, deserialize_with = "super::non_null")]
    #[schema(nullable = false)]
    valid_until: Option<NaiveDate>,
}

#[derive(Debug, Serialize, ToSchema)]
struct Recorded {
    #[serde(flatten)]
    assessment: Assessment,
    grade_label_zh: &'static str,
    /// The entitlements the new grade ended or gave.
    entitlements_changed: usize,
}

#[utoipa::path(post, path = "/residents/{id}/assessments",
    summary = "Record a capability assessment (barthel or gbt42195_2022): total, grade and validity (two years; the bureau may shorten it); it re-grades the entitlements still running",
    description = "Who may call it: assessor (of the body an application of the elder is assigned to), civil_affairs (in its division).",
    params(("id" = Uuid, Path)), request_body = AssessmentRequest,
    responses((status = 201, description = "success", body = Recorded)))]
async fn create(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<AssessmentRequest>,
) -> Result<(StatusCode, Json<Recorded>)> {
    // Out of reach is a stranger's 404; in reach but no assessor, a 403.
    let resident = auth.reach::<Identity>(&ctx, id).await?;
    if !matches!(auth.scope.role, Role::Assessor | Role::CivilAffairs) {
        return Err(Error::Forbidden("an assessor assigned to her, or the civil-affairs bureau, assesses"));
    }
    let now = Utc::now();
    if req.assessed_at > now + Duration::minutes(5) || req.assessed_at < now - Duration::days(90) {
        return Err(Error::validation("assessed_at", "not in the future, at most 90 days back"));
    }
    if req.notes.as_ref().is_some_and(|n| n.chars().count() > 4000) {
        return Err(Error::validation("notes", "at most 4000 characters"));
    }
    let assessed_on = req.assessed_at.date_naive();
    let longest = assessed_on.with_year(assessed_on.year() + VALID_YEARS).unwrap_or(assessed_on + Duration::days(730));
    let valid_until = match req.valid_until {
        None => longest,
        Some(_) if auth.scope.role != Role::CivilAffairs => {
            return Err(Error::validation(
                "valid_until",
                "only the civil-affairs bureau shortens an assessment's validity",
            ));
        }
        Some(until) if until < assessed_on || until > longest => {
            return Err(Error::validation("valid_until", "from the assessment's day to two years after it"));
        }
        Some(until) => until,
    };
    let mut tx = ctx.pool.begin().await?;
    let offered = store::evidence(&mut tx, &resident, req.assessed_at).await?;
    for (i, event) in req.risk_events.iter().enumerate() {
        if !matches!(event.kind.as_str(), "fall" | "wandering" | "choking" | "self_harm") {
            return Err(Error::validation(&format!("risk_events[{i}].kind"), "fall, wandering, choking or self_harm"));
        }
        if event.at > req.assessed_at || event.at <= req.assessed_at - Duration::days(RISK_WINDOW_DAYS) {
            return Err(Error::validation(&format!("risk_events[{i}].at"), "within the 30 days before the assessment"));
        }
        if let Some(alert) = event.alert_id
            && !offered.iter().any(|e: &Evidence| e.alert_id == alert)
        {
            return Err(Error::validation(
                &format!("risk_events[{i}].alert_id"),
                "not an event the evidence form offers",
            ));
        }
        let repeated = req.risk_events[..i].iter().any(|e| e.alert_id.is_some() && e.alert_id == event.alert_id);
        if repeated {
            return Err(Error::validation(&format!("risk_events[{i}].alert_id"), "confirmed twice"));
        }
    }
    let factors_body = req.factors.unwrap_or_default();
    let factors = Factors {
        coma: factors_body.coma,
        dementia: factors_body.dementia,
        psychiatric: factors_body.psychiatric,
        risk_events: req.risk_events.len() as u32,
    };
    let scored =
        assessment::score(req.scale, &req.items, &factors).map_err(|e| Error::validation(&e.field, e.message))?;
    // The application it answers: the body's own, while assessing.
    let queue = apps::of_resident(&ctx.pool, &resident).await?;
    let answering: Vec<Uuid> = queue
        .iter()
        .filter(|a| a.status == crate::domain::billing::ApplicationStatus::Assessing)
        .filter(|a| auth.scope.role == Role::CivilAffairs || a.assessor_institution_id == auth.scope.institution)
        .map(|a| a.id)
        .collect();
    let items = serde_json::Value::Object(req.items.clone());
    let new = NewAssessment {
        resident: resident.id(),
        scale: req.scale,
        items: &items,
        factors: serde_json::json!({"coma": factors.coma, "dementia": factors.dementia, "psychiatric": factors.psychiatric}),
        risk_events: serde_json::to_value(&req.risk_events).unwrap_or_default(),
        scored: &scored,
        assessed_at: req.assessed_at,
        valid_until,
        notes: req.notes.as_deref(),
        assessor: auth.scope.user,
        institution: auth.scope.institution,
        application: answering.first().copied(),
    };
    let recorded = store::insert(&mut tx, &new).await?;
    for application in &answering {
        let note = format!("grade {} ({})", scored.grade, scored.grade_label);
        let details = serde_json::json!({"assessment_id": recorded.id, "grade": scored.grade});
        apps::step(&mut tx, *application, StepKind::Assessed, Some(&auth.scope), Some(&note), details).await?;
    }
    let changed = regrade(&mut tx, &resident, &recorded, auth.scope.user).await?;
    let details = serde_json::json!({"assessment_id": recorded.id, "scale": req.scale, "total": scored.total,
        "grade": scored.grade, "raised_by": scored.raised_by, "valid_until": valid_until,
        "entitlements_changed": changed});
    crate::audit::record(&mut tx, auth.actor(), "resident.assessed", "resident", resident.id(), details).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(Recorded { assessment: recorded, grade_label_zh: scored.grade_label_zh, entitlements_changed: changed }),
    ))
}

/// A new assessment ends the entitlements still running the day before it,
/// and gives again what each one's scheme gives the new grade (nothing, if
/// the grade is not entitled). The count of entitlements ended or given.
async fn regrade(
    tx: &mut sqlx::PgConnection,
    resident: &Reached<Identity>,
    assessment: &Assessment,
    by: Uuid,
) -> Result<usize> {
    let from = assessment.assessed_at.date_naive();
    let mut changed = 0;
    for (entitlement, scheme_code, application, _ends_on) in apps::running_on(tx, resident, from).await? {
        let Some(scheme) = apps::scheme(tx, &scheme_code).await? else { continue };
        apps::end_entitlement(tx, entitlement, from - Duration::days(1), "reassessed").await?;
        changed += 1;
        if let Some(terms) = scheme.grades.0.get(&assessment.grade.to_string()) {
            let until = add_months(from, terms.valid_months).min(assessment.valid_until);
            let new = apps::NewEntitlement {
                resident: resident.id(),
                application,
                assessment: assessment.id,
                scheme: &scheme,
                grade: assessment.grade,
                terms,
                from,
                until,
                by: Some(by),
            };
            apps::insert_entitlement(tx, &new).await?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// The day before the same day `months` later: an entitlement of twelve
/// months from 1 March runs to the last day of February.
pub fn add_months(from: NaiveDate, months: i32) -> NaiveDate {
    let total = from.year() * 12 + from.month0() as i32 + months;
    let (year, month) = (total.div_euclid(12), total.rem_euclid(12) as u32 + 1);
    let last_day = (28..=31).rev().find_map(|d| NaiveDate::from_ymd_opt(year, month, d)).map_or(28, |d| d.day());
    NaiveDate::from_ymd_opt(year, month, from.day().min(last_day)).map_or(from, |d| d - Duration::days(1))
}

#[derive(Debug, Serialize, ToSchema)]
struct AssessmentList {
    assessments: Vec<Assessment>,
}

#[utoipa::path(get, path = "/residents/{id}/assessments", summary = "The elder's capability assessments, newest first",
    description = "Who may call it: whoever reaches the elder's identity but a grid worker (family, the institutions enrolled, civil_affairs, the assessor assigned, the fund's insurer).",
    params(("id" = Uuid, Path)), responses((status = 200, description = "success", body = AssessmentList)))]
async fn list(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<AssessmentList>> {
    // A grid worker reaches identity, status and alerts, no health data.
    if auth.scope.role == Role::GridWorker {
        return Err(Error::NotFound);
    }
    let resident = auth.reach::<Identity>(&ctx, id).await?;
    Ok(Json(AssessmentList { assessments: store::of_resident(&ctx.pool, &resident).await? }))
}

#[derive(Debug, Serialize, ToSchema)]
struct EvidenceForm {
    /// The window: the 30 days up to now.
    since: DateTime<Utc>,
    /// The monitored events that count as care risks (fall alerts, night
    /// wandering), for the assessor to confirm or discard.
    events: Vec<Evidence>,
    /// Each scale's items and the values they take.
    #[schema(value_type = Object)]
    scales: serde_json::Value,
}

#[utoipa::path(get, path = "/residents/{id}/assessments/evidence",
    summary = "The assessment form: the monitored care-risk events of the last 30 days (fall alerts, night wandering) for the assessor to confirm, and each scale's items",
    description = "Who may call it: assessor (assigned), civil_affairs (in its division).",
    params(("id" = Uuid, Path)), responses((status = 200, description = "success", body = EvidenceForm)))]
async fn evidence(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<EvidenceForm>> {
    let resident = auth.reach::<Identity>(&ctx, id).await?;
    if !matches!(auth.scope.role, Role::Assessor | Role::CivilAffairs) {
        return Err(Error::Forbidden("the assessment form is the assessor's and the bureau's"));
    }
    let now = Utc::now();
    let mut conn = ctx.pool.acquire().await?;
    let events = store::evidence(&mut conn, &resident, now).await?;
    let scale = |s: Scale| -> serde_json::Value {
        assessment::items(s).iter().map(|(name, values)| (name.to_string(), serde_json::json!(values))).collect()
    };
    let scales = serde_json::json!({"barthel": scale(Scale::Barthel), "gbt42195_2022": scale(Scale::Gbt42195)});
    Ok(Json(EvidenceForm { since: now - Duration::days(RISK_WINDOW_DAYS), events, scales }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entitlement_of_n_months_ends_the_day_before_the_same_day_n_months_on() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(add_months(d(2026, 3, 1), 12), d(2027, 2, 28));
        assert_eq!(add_months(d(2026, 12, 15), 1), d(2027, 1, 14));
        assert_eq!(add_months(d(2026, 1, 31), 1), d(2026, 2, 27));
        assert_eq!(add_months(d(2026, 11, 7), 24), d(2028, 11, 6));
    }
}
