//! Counted sign-in attempts (`login_attempts`), shared by every process.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// Serialises reservations on `keys` until the transaction ends, so two
/// processes counting the same account cannot both take its last try. Keys
/// are locked in a fixed order: two reservations never wait on each other.
pub async fn lock(tx: &mut PgConnection, keys: &[&str]) -> Result<(), sqlx::Error> {
    let mut sorted: Vec<&str> = keys.to_vec();
    sorted.sort_unstable();
    for key in sorted {
        sqlx::query("select pg_advisory_xact_lock(hashtextextended('login_attempts:' || $1, 0))")
            .bind(key)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// The database's clock: every process measures the window on one clock.
pub async fn now(tx: &mut PgConnection) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar("select clock_timestamp()").fetch_one(tx).await
}

/// The newest `limit` attempts under `key` since `since`, newest first.
pub async fn recent(
    tx: &mut PgConnection,
    key: &str,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar("select at from login_attempts where key = $1 and at > $2 order by at desc limit $3")
        .bind(key)
        .bind(since)
        .bind(limit)
        .fetch_all(tx)
        .await
}

/// Counts one attempt under each key at `at`; answers the rows' ids.
pub async fn insert(tx: &mut PgConnection, keys: &[&str], at: DateTime<Utc>) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("insert into login_attempts (key, at) select k, $2 from unnest($1::text[]) k returning id")
        .bind(keys)
        .bind(at)
        .fetch_all(tx)
        .await
}

/// Takes attempts back.
pub async fn delete(conn: &mut PgConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
    sqlx::query("delete from login_attempts where id = any($1)").bind(ids).execute(conn).await.map(drop)
}

/// Drops attempts that count for nothing any more (older than `before`).
pub async fn purge(conn: &mut PgConnection, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("delete from login_attempts where at < $1").bind(before).execute(conn).await?.rows_affected())
}
