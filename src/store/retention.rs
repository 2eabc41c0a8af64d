//! Retention's statements: old rows deleted, and old notifications'
//! personal values nulled, a bounded batch at a time.

use sqlx::PgPool;

/// One table's retention: delete at most `$2` rows whose `at` column is
/// older than `$1` days (hours for the seq memory), oldest first, by `key`.
pub struct Job {
    pub table: &'static str,
    key: &'static str,
    at: &'static str,
    unit: &'static str,
}

impl Job {
    const fn days(table: &'static str, key: &'static str, at: &'static str) -> Job {
        Job { table, key, at, unit: "days" }
    }

    fn sql(&self) -> String {
        let Job { table, key, at, unit } = self;
        format!(
            "delete from {table} where ({key}) in (
               select {key} from {table} where {at} < now() - make_interval({unit} => $1)
               order by {at} limit $2)"
        )
    }
}

pub const QUARANTINE: Job = Job::days("quarantine", "id", "received_at");
pub const QUARANTINE_OVERFLOW: Job = Job::days("quarantine_overflow", "ctid", "hour");
pub const DELIVERIES: Job = Job::days("webhook_deliveries", "id", "created_at");
/// Sessions go a while after they expired, not after they began.
pub const SESSIONS: Job = Job::days("sessions", "token_hash", "expires_at");
pub const ACCESS_LOG: Job = Job::days("access_log", "id", "at");
/// A (device, seq) older than the seq memory is no longer consulted (the
/// writer takes a new stamp over it), so it can go.
pub const SEQ_MEMORY: Job = Job { table: "ingest_seq", key: "device_id, seq", at: "received_at", unit: "hours" };

/// Nulls what old notifications said, `$2` rows at most, oldest first.
/// Only deliveries that are over (delivered or given up): one still being
/// retried keeps what it has to send. The purge index serves the order.
const NOTIFICATION_PAYLOADS: &str = "update notification_deliveries set payload = null, phone = null
     where id in (
       select id from notification_deliveries
       where payload is not null and (delivered_at is not null or failed_at is not null)
         and coalesce(delivered_at, failed_at) < now() - make_interval(days => $1)
       order by coalesce(delivered_at, failed_at) limit $2)";

/// Deletes at most `batch` of `job`'s rows older than `age` (in its unit);
/// answers how many.
pub async fn delete_old(pool: &PgPool, job: &Job, age: i32, batch: i64) -> Result<u64, sqlx::Error> {
    // The statement is built from the constants above, never from input.
    Ok(sqlx::query(sqlx::AssertSqlSafe(job.sql())).bind(age).bind(batch).execute(pool).await?.rows_affected())
}

/// Nulls what at most `batch` notifications over `days` old said; answers
/// how many.
pub async fn purge_notification_payloads(pool: &PgPool, days: i32, batch: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(NOTIFICATION_PAYLOADS).bind(days).bind(batch).execute(pool).await?.rows_affected())
}
