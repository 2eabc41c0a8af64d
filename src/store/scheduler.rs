//! The scheduler's leadership and heartbeat: one leader at a time holds a
//! session advisory lock, and stamps each tick so that a stalled leader
//! shows.

use sqlx::{PgConnection, PgPool};

/// Takes the session lock `key` on `conn` if it is free; answers whether it
/// was taken.
pub async fn try_lock(conn: &mut PgConnection, key: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select pg_try_advisory_lock($1)").bind(key).fetch_one(conn).await
}

pub async fn unlock(conn: &mut PgConnection, key: i64) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_advisory_unlock($1)").bind(key).execute(conn).await.map(drop)
}

/// Whether the connection (and with it a session lock) still lives.
pub async fn alive(conn: &mut PgConnection) -> bool {
    sqlx::query("select 1").execute(conn).await.is_ok()
}

/// Stamps a tick of the leader `instance`.
pub async fn heartbeat(pool: &PgPool, instance: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into scheduler_heartbeat (id, leader, ticked_at) values (true, $1, now())
         on conflict (id) do update set leader = excluded.leader, ticked_at = excluded.ticked_at",
    )
    .bind(instance)
    .execute(pool)
    .await
    .map(drop)
}

/// Seconds since the leader's last tick by the database's clock (`None`
/// when no leader ever ticked), and how many revoked identities are open
/// alerts: what the watchdog looks at.
pub async fn watched(pool: &PgPool) -> Result<(Option<f64>, i64), sqlx::Error> {
    sqlx::query_as(
        "select (select extract(epoch from now() - ticked_at)::float8 from scheduler_heartbeat limit 1),
                (select count(*) from alerts where kind = 'identity_revoked' and status <> 'resolved')",
    )
    .fetch_one(pool)
    .await
}
