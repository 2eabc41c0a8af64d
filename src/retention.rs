//! Retention: what is kept only for a while is deleted once it is old, by
//! the scheduler's leader, a bounded batch per table at a time. Plain
//! deletes, so the same on plain PostgreSQL and on TimescaleDB (whose own
//! retention policy covers the readings and events hypertables).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::config::RetentionSettings;
use crate::store::retention::{self, ACCESS_LOG, DELIVERIES, QUARANTINE, QUARANTINE_OVERFLOW, SEQ_MEMORY, SESSIONS};

/// What one pass deleted (or purged), per table; `more` when some table gave a full
/// batch and may hold more.
#[derive(Debug, Default, Serialize)]
pub struct Swept {
    pub deleted: Vec<(&'static str, u64)>,
    pub more: bool,
}

impl Swept {
    pub fn total(&self) -> u64 {
        self.deleted.iter().map(|(_, n)| n).sum()
    }
}

/// One batch per table.
pub async fn sweep_once(
    pool: &PgPool,
    settings: &RetentionSettings,
    seq_memory_hours: u64,
) -> Result<Swept, sqlx::Error> {
    let days = |d: u32| i32::try_from(d).unwrap_or(i32::MAX);
    let jobs = [
        (QUARANTINE, days(settings.quarantine_days)),
        (QUARANTINE_OVERFLOW, days(settings.quarantine_days)),
        (DELIVERIES, days(settings.deliveries_days)),
        (SESSIONS, days(settings.sessions_days)),
        (ACCESS_LOG, days(settings.access_log_days)),
        (SEQ_MEMORY, i32::try_from(seq_memory_hours).unwrap_or(i32::MAX)),
    ];
    let batch = i64::from(settings.batch_size.max(1));
    let mut swept = Swept::default();
    for (job, age) in jobs {
        let n = retention::delete_old(pool, &job, age, batch).await?;
        swept.more |= n >= batch as u64;
        swept.deleted.push((job.table, n));
    }
    let n = retention::purge_notification_payloads(pool, days(settings.notification_payload_days), batch).await?;
    swept.more |= n >= batch as u64;
    swept.deleted.push(("notification_deliveries.payload", n));
    Ok(swept)
}

/// The leader's retention: a pass when one is due, again at the next tick
/// while a table still had a full batch, then after `every_secs`.
pub struct Sweeper {
    settings: RetentionSettings,
    seq_memory_hours: u64,
    next: Option<DateTime<Utc>>,
}

impl Sweeper {
    pub fn new(settings: RetentionSettings, seq_memory_hours: u64) -> Self {
        Sweeper { settings, seq_memory_hours, next: None }
    }

    /// Whether a pass is due at `now`.
    fn due(&self, now: DateTime<Utc>) -> bool {
        self.next.is_none_or(|next| now >= next)
    }

    /// Plans the next pass after one that ended at `now`.
    fn done(&mut self, now: DateTime<Utc>, more: bool) {
        let every = chrono::Duration::seconds(i64::try_from(self.settings.every_secs).unwrap_or(i64::MAX / 1000));
        self.next = if more { None } else { Some(now + every) };
    }

    pub async fn tick(&mut self, pool: &PgPool, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        if !self.due(now) {
            return Ok(());
        }
        let swept = sweep_once(pool, &self.settings, self.seq_memory_hours).await?;
        if swept.total() > 0 {
            tracing::info!(deleted = ?swept.deleted, more = swept.more, "retention");
        }
        self.done(now, swept.more);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_runs_at_once_then_again_while_a_table_has_more_then_after_its_period() {
        let settings = RetentionSettings { every_secs: 3600, ..RetentionSettings::default() };
        let mut sweeper = Sweeper::new(settings, 24);
        let t0: DateTime<Utc> = "2026-11-30T08:00:00Z".parse().unwrap();
        assert!(sweeper.due(t0), "the first tick of a leader sweeps");
        sweeper.done(t0, true);
        assert!(sweeper.due(t0 + chrono::Duration::seconds(5)), "a full batch: the next tick goes on");
        sweeper.done(t0, false);
        assert!(!sweeper.due(t0 + chrono::Duration::minutes(59)));
        assert!(sweeper.due(t0 + chrono::Duration::minutes(60)));
    }

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let d = RetentionSettings::default();
        assert_eq!(
            (
                d.quarantine_days,
                d.deliveries_days,
                d.sessions_days,
                d.access_log_days,
                d.notification_payload_days,
                d.batch_size
            ),
            (7, 30, 7, 730, 7, 5000)
        );
    }
}
