//! The month's follow-up calls drawn, once the month is over everywhere:
//! by the scheduler on the first ticks after, or by the first reader of
//! the month, whichever comes first. The draw and each provider's share go
//! on the platform's audit chain.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Utc};
use secrecy::SecretString;
use serde_json::json;
use sqlx::PgPool;

use crate::domain::supervision;
use crate::store::follow_ups as store;

/// Whether `month` (its first day) is over in every timezone: the last to
/// end it is twelve hours behind UTC.
pub fn has_ended(month: NaiveDate, now: DateTime<Utc>) -> bool {
    let next = month.checked_add_months(Months::new(1)).unwrap_or(month);
    now >= next.and_time(chrono::NaiveTime::MIN).and_utc() + Duration::hours(12)
}

/// The month before `now`'s (UTC).
pub fn last_month(now: DateTime<Utc>) -> NaiveDate {
    let this = now.date_naive().with_day(1).unwrap_or(now.date_naive());
    this.checked_sub_months(Months::new(1)).unwrap_or(this)
}

/// Draws `month`'s sample unless it was drawn, or has no verified visit to
/// draw from: `true` when this call drew it.
pub async fn draw(pool: &PgPool, key: &SecretString, month: NaiveDate) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    if store::drawn(&mut tx, month).await? {
        return Ok(false);
    }
    let candidates = store::candidates(&mut tx, month).await?;
    // Nothing verified yet: drawn once there is (visits verified late, their
    // exceptions resolved after the month ended, are sampled then).
    if candidates.is_empty() {
        return Ok(false);
    }
    let sample = supervision::sample(key, month, &candidates);
    if !store::record_draw(&mut tx, month, candidates.len(), &sample).await? {
        return Ok(false);
    }
    let mut per_provider: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for c in &candidates {
        per_provider.entry(c.institution.to_string()).or_default().0 += 1;
    }
    for (c, _) in &sample {
        per_provider.entry(c.institution.to_string()).or_default().1 += 1;
    }
    let providers: BTreeMap<String, serde_json::Value> = per_provider
        .into_iter()
        .map(|(id, (visits, sampled))| (id, json!({"visits": visits, "sampled": sampled})))
        .collect();
    let details = json!({"month": month.format("%Y-%m").to_string(), "visits": candidates.len(),
                         "sampled": sample.len(), "providers": providers});
    let month_text = month.format("%Y-%m").to_string();
    crate::audit::append(&mut tx, None, None, "follow_ups.drawn", "follow_up_draw", &month_text, &details).await?;
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_is_drawn_once_it_has_ended_in_every_timezone() {
        let november = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert!(!has_ended(november, at("2026-12-01T11:59:59Z")));
        assert!(has_ended(november, at("2026-12-01T12:00:00Z")));
        assert_eq!(last_month(at("2026-12-01T12:00:00Z")), november);
        assert_eq!(last_month(at("2027-01-15T00:00:00Z")), NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
    }
}
