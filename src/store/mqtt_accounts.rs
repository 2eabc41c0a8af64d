//! The broker's accounts as the database holds them (`mqtt_accounts`), the
//! names reserved for the backend's own broker sessions
//! (`mqtt_reserved_names`), and the lock that orders credential changes
//! against a reconciliation of the broker. Passwords are never stored: an
//! account keeps the nonce its password is derived from, and a salted hash.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Held shared by every credential change and exclusively by a
/// reconciliation, so a reconciliation never sees an account the broker has
/// but the database has not committed yet (and removes it).
const ACCOUNTS_LOCK: i64 = 0x656c_6465_7210;

/// Takes the accounts lock exclusively, for the connection's session.
pub async fn lock(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_advisory_lock($1)").bind(ACCOUNTS_LOCK).execute(conn).await.map(drop)
}

/// Lets the accounts lock go.
pub async fn unlock(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_advisory_unlock($1)").bind(ACCOUNTS_LOCK).execute(conn).await.map(drop)
}

/// Takes the accounts lock shared, to the end of the caller's transaction.
pub async fn lock_shared(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_advisory_xact_lock_shared($1)").bind(ACCOUNTS_LOCK).execute(tx).await.map(drop)
}

/// Writes the ingest account. A device may never hold the ingest account's
/// name: only an ingest row is replaced.
pub async fn upsert_ingest(
    conn: &mut PgConnection,
    username: &str,
    password_hash: &str,
    salt: &str,
    subscribe_topics: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into mqtt_accounts (username, kind, password_hash, salt, subscribe_topics)
         values ($1, 'ingest', $2, $3, $4)
         on conflict (username) do update
            set password_hash = excluded.password_hash, salt = excluded.salt,
                subscribe_topics = excluded.subscribe_topics, issued_at = now()
            where mqtt_accounts.kind = 'ingest'",
    )
    .bind(username)
    .bind(password_hash)
    .bind(salt)
    .bind(subscribe_topics)
    .execute(conn)
    .await
    .map(drop)
}

/// An account row, with what its password is derived from.
#[derive(sqlx::FromRow)]
pub struct AccountRow {
    pub username: String,
    pub kind: String,
    pub client_id: Option<String>,
    pub nonce: Option<String>,
    pub publish_topics: Vec<String>,
    pub subscribe_topics: Vec<String>,
}

/// Every account but the ingest one, by username.
pub async fn devices_and_gateways(conn: &mut PgConnection) -> Result<Vec<AccountRow>, sqlx::Error> {
    sqlx::query_as(
        "select a.username, a.kind, a.client_id, a.nonce, a.publish_topics, a.subscribe_topics
         from mqtt_accounts a where a.kind <> 'ingest' order by a.username",
    )
    .fetch_all(conn)
    .await
}

/// The names the backend's processes use on the broker.
pub async fn reserved_names(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("select name from mqtt_reserved_names").fetch_all(conn).await
}

/// The recorded reserved names equal to `name`, in lower case.
pub async fn reserved_as(conn: &mut PgConnection, name: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("select name from mqtt_reserved_names where name = lower($1)").bind(name).fetch_all(conn).await
}

/// Records the names one process uses on the broker as reserved, so that
/// every process sharing the database (and EMQX's queries) refuses them.
pub async fn record_reserved(pool: &PgPool, process: &str, names: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into mqtt_reserved_names (name, process)
         select n, $2 from unnest($1::text[]) n
         on conflict (name) do update set process = excluded.process, recorded_at = now()",
    )
    .bind(names)
    .bind(process)
    .execute(pool)
    .await
    .map(drop)
}

/// (username, kind, client id, institution) of the device and gateway
/// accounts whose username or client id begins with `prefix` or is one of
/// `names` (lower case): those that may hold a reserved name. The caller's
/// rule decides; this only spares reading every account.
pub async fn reserved_candidates(
    conn: &mut PgConnection,
    prefix: &str,
    names: &[&String],
) -> Result<Vec<(String, String, Option<String>, Option<Uuid>)>, sqlx::Error> {
    sqlx::query_as(
        "select a.username, a.kind, a.client_id, coalesce(d.institution_id, g.institution_id)
         from mqtt_accounts a
         left join devices d on d.device_id = a.device_id
         left join gateways g on g.gateway_id = a.gateway_id
         where a.kind <> 'ingest'
           and (lower(a.username) like $1 || '%' or lower(a.client_id) like $1 || '%'
                or lower(a.username) = any($2) or lower(a.client_id) = any($2))
         order by a.username",
    )
    .bind(prefix)
    .bind(names)
    .fetch_all(conn)
    .await
}

/// Deletes the account; answers its client id (`Some(None)`: it had none),
/// or `None` when there was no such account.
pub async fn delete(tx: &mut PgConnection, username: &str, kind: &str) -> Result<Option<Option<String>>, sqlx::Error> {
    sqlx::query_scalar("delete from mqtt_accounts where username = $1 and kind = $2 returning client_id")
        .bind(username)
        .bind(kind)
        .fetch_optional(tx)
        .await
}

/// A device's or a gateway's account, as written.
pub struct NewAccount<'a> {
    pub username: &'a str,
    pub kind: &'a str,
    pub device_id: Option<&'a str>,
    pub gateway_id: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub nonce: &'a str,
    pub password_hash: &'a str,
    pub salt: &'a str,
    pub publish_topics: &'a [String],
    pub subscribe_topics: &'a [String],
}

pub async fn insert(tx: &mut PgConnection, account: &NewAccount<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into mqtt_accounts (username, kind, device_id, gateway_id, client_id, nonce, password_hash, salt,
                                    publish_topics, subscribe_topics)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(account.username)
    .bind(account.kind)
    .bind(account.device_id)
    .bind(account.gateway_id)
    .bind(account.client_id)
    .bind(account.nonce)
    .bind(account.password_hash)
    .bind(account.salt)
    .bind(account.publish_topics)
    .bind(account.subscribe_topics)
    .execute(tx)
    .await
    .map(drop)
}

/// The device's or gateway's account of `username`, locked to the end of
/// the caller's transaction.
pub async fn lock_account(tx: &mut PgConnection, username: &str) -> Result<Option<AccountRow>, sqlx::Error> {
    sqlx::query_as(
        "select username, kind, client_id, nonce, publish_topics, subscribe_topics
         from mqtt_accounts where username = $1 and kind <> 'ingest' for update",
    )
    .bind(username)
    .fetch_optional(tx)
    .await
}

/// Stores a new password: the nonce it is derived from, and its hash.
pub async fn set_password(
    tx: &mut PgConnection,
    username: &str,
    nonce: &str,
    password_hash: &str,
    salt: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update mqtt_accounts set nonce = $2, password_hash = $3, salt = $4, issued_at = now() where username = $1",
    )
    .bind(username)
    .bind(nonce)
    .bind(password_hash)
    .bind(salt)
    .execute(tx)
    .await
    .map(drop)
}
