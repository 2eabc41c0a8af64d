//! A hospital stay a medical partner sent, at work. While it lasts she is
//! `in_hospital`: visits in it are cancelled, the plan's visits and meals
//! wait for her return, and alerts about what she does at home are
//! resolved. Once it has ended (at intake, for a stay sent after the
//! discharge; by the scheduler, for one whose end was ahead), its end is
//! followed up once: a check at home within `visits.post_discharge_check_hours`
//! (a rule setting) at her home-care provider, and her vital-sign
//! thresholds flagged for review for two weeks.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::care::{CancelReason, Funding, Origin, VisitStatus};
use crate::domain::clinical;
use crate::domain::scope::{Identity, Reached};
use crate::domain::settings::RuleSettings;
use crate::domain::status::{self, ResidentStatus};
use crate::store::settings::SettingsCache;
use crate::store::status::Stay;
use crate::store::visits::{self, NewVisit};
use crate::store::{clinical as records, meals, residents, status as periods};

/// At most this many ended stays followed up in one scheduler pass.
const FOLLOW_UP_BATCH: i64 = 100;

/// Records a stay's `in_hospital` period (the caller holds the resident's
/// lock) and what follows from her being away for it; answers the
/// period's id.
pub async fn record_stay(
    tx: &mut PgConnection,
    resident: &Reached<Identity>,
    stay: &Stay<'_>,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    let period = periods::insert_stay(tx, resident, stay).await?;
    periods::cancel_visits(tx, resident, stay.from, stay.until, CancelReason::ClientHospitalised).await?;
    super::sync_plan(tx, resident, now).await?;
    meals::sync_orders(tx, resident, now).await?;
    // In hospital now: nothing she does (or does not do) at home is news.
    // Resolved by the platform on the partner's word, not by its clinician
    // (who is no one of the care team).
    if stay.from <= now && stay.until.is_none_or(|until| until > now) {
        let details = json!({"resident_status": ResidentStatus::InHospital, "encounter_id": stay.encounter,
                             "note": "in hospital, as a medical partner sent"});
        crate::alerts::resolve_about_resident(tx, resident, Some(status::ABSENCE_CLEARS), None, &details).await?;
    }
    Ok(period)
}

/// Follows up the end of a stay (its status period), once, if it has
/// ended by `now` and nobody did (the caller holds the resident's lock):
/// her thresholds flagged for review, and the check at home planned
/// unless its window has passed or she is not home then. The same stay
/// sent twice (same elder, same sender, same start) is followed up once.
/// Answers the visit planned.
pub async fn follow_up(
    tx: &mut PgConnection,
    resident: &Reached<Identity>,
    period_id: i64,
    within: Duration,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    let Some(stay) = records::discharge_to_follow(tx, resident, period_id, now).await? else { return Ok(None) };
    records::discharge_handled(tx, period_id).await?;
    if records::followed_up_before(tx, period_id).await? {
        return Ok(None);
    }
    let history = periods::periods(tx, resident).await?;
    if matches!(status::status_at(&history, now), ResidentStatus::Deceased | ResidentStatus::Discharged) {
        return Ok(None);
    }
    let Some(home) = residents::home(tx, resident).await? else { return Ok(None) };
    let tz: chrono_tz::Tz = home.timezone.parse().unwrap_or(chrono_tz::UTC);
    records::review_vitals_until(tx, resident, clinical::vitals_review_until(stay.discharged_at, &tz)).await?;
    let Some(at) = clinical::check_at(stay.discharged_at, now, within, &tz) else {
        tracing::info!(resident = %resident.id(), period_id, "discharge sent too late for its check at home");
        return Ok(None);
    };
    // Back in hospital, or away, when the check would be: nobody to see.
    if !status::present_at(&history, at) {
        return Ok(None);
    }
    let Some((provider, service)) = records::check_service(tx, resident).await? else { return Ok(None) };
    let day = crate::domain::care::local_date(&home.timezone, stay.discharged_at);
    let visit = visits::insert(
        tx,
        NewVisit {
            institution_id: provider,
            resident_id: resident.id(),
            service_id: service,
            funding: Funding::Institution,
            origin: Origin::Discharge,
            status: VisitStatus::Scheduled,
            scheduled_start: Some(at),
            preferred_start: None,
            caregiver_id: None,
            alert_id: None,
            note: Some(format!("Home from {} on {day}: see how she is after the stay", stay.source_name)),
            requested_by: None,
            clinical_record_id: Some(stay.record_id),
        },
    )
    .await?;
    Ok(Some(visit))
}

/// The scheduler's pass: follows up the stays whose end has passed, each
/// in a transaction of its own under the resident's lock; answers how
/// many checks were planned.
pub async fn follow_up_due(
    pool: &PgPool,
    rule_settings: &SettingsCache,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let due = records::discharges_due(pool, now, FOLLOW_UP_BATCH).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = due.iter().map(|d| d.resident_id).collect();
    let settings = rule_settings.residents(pool, &ids).await?;
    let mut planned = 0;
    for stay in due {
        let within = settings
            .get(&stay.resident_id)
            .map_or_else(|| RuleSettings::default().visits.post_discharge_check(), |s| s.visits.post_discharge_check());
        let resident = Reached::<Identity>::for_the_platform(stay.resident_id);
        let mut tx = pool.begin().await?;
        periods::lock_resident(&mut tx, &resident).await?;
        if follow_up(&mut tx, &resident, stay.period_id, within, now).await?.is_some() {
            planned += 1;
        }
        tx.commit().await?;
    }
    Ok(planned)
}
