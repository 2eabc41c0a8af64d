//! Care services at work: care plans kept in step with their visits,
//! visits late or missed raised as alerts (the scheduler's job), the
//! alert a visit was dispatched for told what happens at the door, and
//! the check at home after a hospital discharge.

pub mod discharge;
pub mod follow_ups;

use chrono::{DateTime, NaiveTime, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::alerts::{self, Applied, Subject};
use crate::domain::care::{self, Origin, PlanItem};
use crate::domain::scope::{AreaOf, Care, Reached};
use crate::domain::status;
use crate::domain::{AlertKind, Resolution, Severity, Step};
use crate::metrics::Metrics;
use crate::rules::Decision;
use crate::store::settings::SettingsCache;
use crate::store::visits::{self, Visit};
use crate::store::{care as catalogue, residents};

/// Brings a resident's plan visits in step with their plan, inside the
/// caller's transaction; answers (generated, cancelled). Items naming a
/// service the catalogue no longer has generate nothing.
pub async fn sync_plan<A: AreaOf>(
    tx: &mut PgConnection,
    resident: &Reached<A>,
    now: DateTime<Utc>,
) -> Result<(u64, u64), sqlx::Error> {
    let Some(home) = residents::home(tx, resident).await? else { return Ok((0, 0)) };
    let Ok(tz) = home.timezone.parse::<chrono_tz::Tz>() else { return Ok((0, 0)) };
    let plan = catalogue::plan(tx, resident).await?;
    let mut items: Vec<(PlanItem, NaiveTime, Uuid)> = Vec::new();
    for (i, item) in plan.items.into_iter().enumerate() {
        let Ok(start) = item.check(i) else { continue };
        if let Some(service) = catalogue::service_at(tx, &home, &item.service_code).await? {
            items.push((item, start, service.id));
        }
    }
    // Nothing is generated while the resident is not there.
    let periods = crate::store::status::periods(tx, &resident.identity()).await?;
    visits::sync_plan(tx, &home, resident, &tz, &items, |at| status::present_at(&periods, at), now).await
}

/// Moves every plan's 14-day horizon on: the leader runs it now and then,
/// so tomorrow's fourteenth day is generated as today ends.
pub async fn extend_plans(pool: &PgPool, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let mut generated = 0;
    for resident in catalogue::planned_residents(pool).await? {
        let mut tx = pool.begin().await?;
        generated += sync_plan(&mut tx, &Reached::<Care>::for_the_platform(resident), now).await?.0;
        tx.commit().await?;
    }
    Ok(generated)
}

fn subject(institution_id: Uuid, resident_id: Uuid) -> Subject {
    Subject { institution_id, resident_id: Some(resident_id), device_id: None, room: None }
}

/// Raises `visit_late` and `visit_missed` (marking the visit missed) for
/// visits nobody has checked in to, each once per visit, with the grace of
/// the resident's settings. Severity medium, high for a visit dispatched
/// from an alert.
pub async fn judge_lateness(
    pool: &PgPool,
    metrics: &Metrics,
    rule_settings: &SettingsCache,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let due = visits::due(pool, now).await?;
    if due.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = due.iter().map(|d| d.resident_id).collect();
    let settings = rule_settings.residents(pool, &ids).await?;
    let periods = crate::store::status::periods_of(pool, &ids).await?;
    for d in due {
        // Nobody is late for someone who is not there.
        if !status::present_at(periods.get(&d.resident_id).map_or(&[], |p| p.as_slice()), d.scheduled_start) {
            continue;
        }
        let grace = settings.get(&d.resident_id).map(|s| s.visits.grace()).unwrap_or(chrono::Duration::minutes(30));
        let judged = care::lateness(d.status, d.scheduled_start, grace, d.late_alerted, now);
        if !judged.late && !judged.missed {
            continue;
        }
        let severity = if d.origin == Origin::Alert { Severity::High } else { Severity::Medium };
        let details = json!({"visit_id": d.id, "service_code": d.service_code, "scheduled_start": d.scheduled_start});
        let mut tx = pool.begin().await?;
        let mut applied = Vec::new();
        if judged.late {
            visits::mark_late(&mut tx, d.id).await?;
            let decision = Decision::Raise {
                kind: AlertKind::VisitLate,
                cause: d.id.to_string(),
                severity,
                at: d.scheduled_start + care::LATE_AFTER,
                details: details.clone(),
            };
            applied
                .extend(alerts::apply_in(&mut tx, &subject(d.institution_id, d.resident_id), &decision, false).await?);
        }
        if judged.missed && visits::mark_missed(&mut tx, d.id).await? {
            let decision = Decision::Raise {
                kind: AlertKind::VisitMissed,
                cause: d.id.to_string(),
                severity,
                at: d.scheduled_start + grace,
                details,
            };
            applied
                .extend(alerts::apply_in(&mut tx, &subject(d.institution_id, d.resident_id), &decision, false).await?);
        }
        tx.commit().await?;
        applied.iter().for_each(|a| a.count(metrics));
    }
    Ok(())
}

/// Someone is at the door: the visit's lateness alerts clear, and the alert
/// it was dispatched for (if any) shows it. Inside the caller's transaction.
pub async fn checked_in(tx: &mut PgConnection, visit: &Visit, actor: Uuid) -> Result<Vec<Applied>, sqlx::Error> {
    let mut applied = Vec::new();
    for kind in [AlertKind::VisitLate, AlertKind::VisitMissed] {
        let decision = Decision::Clear {
            kind,
            cause: visit.id.to_string(),
            at: visit.start().unwrap_or_else(Utc::now),
            resolution: Resolution::AutoCleared,
            details: json!({"visit_id": visit.id, "checked_in": true}),
        };
        applied
            .extend(alerts::apply_in(tx, &subject(visit.institution_id, visit.resident_id), &decision, false).await?);
    }
    tell_alert(tx, visit, actor, Step::VisitCheckedIn).await?;
    Ok(applied)
}

/// Adds the visit's step to the timeline of the alert it was dispatched
/// for, if any.
pub async fn tell_alert(tx: &mut PgConnection, visit: &Visit, actor: Uuid, step: Step) -> Result<(), sqlx::Error> {
    let Some(alert_id) = visit.alert_id else { return Ok(()) };
    let details = json!({"visit_id": visit.id, "service_code": visit.service_code, "caregiver_id": visit.caregiver_id,
                         "caregiver_name": visit.caregiver_name, "status": visit.status});
    alerts::note(tx, alert_id, Some(actor), step, details).await.map(drop)
}
