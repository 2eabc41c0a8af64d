//! First start: the lock that serialises bootstrap across processes
//! starting together, the first institution, and the secrets older versions
//! stored in clear (found and replaced by their sealed value; SQL cannot
//! seal, so the caller seals each).

use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::InstitutionKind;

/// Serialises bootstrap across `serve` processes starting together.
const BOOTSTRAP_LOCK: i64 = 0x656c_6465_7201;

/// Takes the bootstrap lock, to the end of the caller's transaction.
pub async fn lock(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_advisory_xact_lock($1)").bind(BOOTSTRAP_LOCK).execute(tx).await.map(drop)
}

/// Whether any institution exists.
pub async fn any_institution(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists (select 1 from institutions)").fetch_one(conn).await
}

/// Creates an institution; answers its id.
pub async fn insert_institution(
    conn: &mut PgConnection,
    name: &str,
    kind: InstitutionKind,
    timezone: &str,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    sqlx::query("insert into institutions (id, name, kind, timezone) values ($1, $2, $3, $4)")
        .bind(id)
        .bind(name)
        .bind(kind)
        .bind(timezone)
        .execute(conn)
        .await?;
    Ok(id)
}

/// A kind of secret kept sealed at rest, which older versions stored in
/// clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    KeySafeCodes,
    ChannelSecrets,
    WebhookSecrets,
}

impl Secret {
    pub const ALL: [Secret; 3] = [Secret::KeySafeCodes, Secret::ChannelSecrets, Secret::WebhookSecrets];

    /// What they are, for the logs.
    pub fn what(self) -> &'static str {
        match self {
            Secret::KeySafeCodes => "key safe codes",
            Secret::ChannelSecrets => "channel secrets",
            Secret::WebhookSecrets => "webhook secrets",
        }
    }

    /// Where they are: table, id column, secret column, and the column
    /// that says the secret is sealed.
    fn place(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Secret::KeySafeCodes => ("responder_info", "resident_id", "key_safe_code", "key_safe_sealed"),
            Secret::ChannelSecrets => ("notification_channels", "id", "secret", "secret_sealed"),
            Secret::WebhookSecrets => ("webhooks", "id", "secret", "secret_sealed"),
        }
    }
}

/// (row id, secret) of the secrets of this kind still in clear, locked to
/// the end of the caller's transaction: processes starting together seal
/// each once.
pub async fn in_clear(tx: &mut PgConnection, secret: Secret) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    let (table, id, value, sealed) = secret.place();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {id}, {value} from {table} where {value} is not null and not {sealed} for update"
    )))
    .fetch_all(tx)
    .await
}

/// Replaces the row's secret with its sealed value.
pub async fn store_sealed(
    tx: &mut PgConnection,
    secret: Secret,
    row: Uuid,
    sealed_value: &str,
) -> Result<(), sqlx::Error> {
    let (table, id, value, sealed) = secret.place();
    sqlx::query(sqlx::AssertSqlSafe(format!("update {table} set {value} = $2, {sealed} = true where {id} = $1")))
        .bind(row)
        .bind(sealed_value)
        .execute(tx)
        .await
        .map(drop)
}
