//! The audit trail's tables: the hash chain, the personal values kept
//! apart from it, and which residents each entry concerns. The hashing is the
//! audit module's; this one only reads and writes rows.

use crate::domain::scope::{Identity, Reached};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Selects one chain's rows: `$1` is the institution, null for the
/// platform's. Two forms, because `is not distinct from` cannot use the
/// chain's index.
fn chain_condition(institution_id: Option<Uuid>) -> &'static str {
    match institution_id {
        Some(_) => "institution_id = $1",
        None => "institution_id is null and $1::uuid is null",
    }
}

/// Takes what appending to a chain needs, in the one order every writer
/// takes it. The entry references its actor and institution, which takes a
/// share lock on their rows: taken before the chain's lock, so every
/// transaction takes those rows, then the chain (one that changed the user
/// or the institution first holds the row; one that did not waits for it
/// before queueing on the chain) and none waits in a circle.
pub async fn lock_chain(
    tx: &mut PgConnection,
    institution_id: Option<Uuid>,
    actor_id: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    if let Some(actor_id) = actor_id {
        sqlx::query("select 1 from users where id = $1 for key share").bind(actor_id).execute(&mut *tx).await?;
    }
    if let Some(institution_id) = institution_id {
        sqlx::query("select 1 from institutions where id = $1 for key share")
            .bind(institution_id)
            .execute(&mut *tx)
            .await?;
    }
    // One writer per institution's chain at a time, until this commits.
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('audit:' || coalesce($1::text, 'platform'), 0))")
        .bind(institution_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The hash of the chain's last entry; `None` for an empty chain.
pub async fn last_hash(tx: &mut PgConnection, institution_id: Option<Uuid>) -> Result<Option<Vec<u8>>, sqlx::Error> {
    let condition = chain_condition(institution_id);
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select hash from audit_log where {condition} order by id desc limit 1"
    )))
    .bind(institution_id)
    .fetch_optional(&mut *tx)
    .await
}

/// An entry ready to be stored: hashed, its personal values apart.
pub struct NewEntry<'a> {
    pub institution_id: Option<Uuid>,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: &'a str,
    pub record: &'a str,
    pub prev_hash: Option<&'a [u8]>,
    pub hash: &'a [u8],
    pub salt: &'a [u8],
    pub details: &'a str,
    /// The residents the entry's values name.
    pub named: &'a [Uuid],
}

/// Stores an entry. The residents it concerns are recorded with it, so an
/// erasure finds the entry by reference: those its values name, and the
/// owner of the visit, alert, message, meal order or device it is about.
pub async fn insert(tx: &mut PgConnection, entry: &NewEntry<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "with entry as (
             insert into audit_log (institution_id, at, actor_id, action, entity, entity_id, record, prev_hash, hash)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning id),
         personal as (insert into audit_personal (entry_id, salt, details) select id, $10, $11 from entry)
         insert into audit_residents (resident_id, entry_id)
         select r.id, entry.id from entry, residents r where r.id in (
             select unnest($12::uuid[])
             union select resident_id from visits where $5 = 'visit' and id = $13
             union select resident_id from alerts where $5 = 'alert' and id = $13
             union select resident_id from messages where $5 = 'message' and id = $13
             union select resident_id from meal_orders where $5 = 'meal_order' and id = $13
             union select resident_id from devices where $5 = 'device' and device_id = $6)",
    )
    .bind(entry.institution_id)
    .bind(entry.at)
    .bind(entry.actor_id)
    .bind(entry.action)
    .bind(entry.entity)
    .bind(entry.entity_id)
    .bind(entry.record)
    .bind(entry.prev_hash)
    .bind(entry.hash)
    .bind(entry.salt)
    .bind(entry.details)
    .bind(entry.named)
    .bind(Uuid::parse_str(entry.entity_id).ok())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Blanks the personal values of exactly the entries recorded as concerning
/// the resident (as the audit module appends it), in any chain. Entries that merely contain
/// the same words stay whole. The chain itself is untouched and still
/// verifies. Returns how many entries were blanked.
pub async fn erase_resident(tx: &mut PgConnection, resident_id: &Reached<Identity>) -> Result<u64, sqlx::Error> {
    let resident_id = resident_id.id();
    let n = sqlx::query(
        "update audit_personal p set salt = null, details = null, erased_at = now()
         from audit_residents r
         where r.resident_id = $1 and p.entry_id = r.entry_id and p.erased_at is null",
    )
    .bind(resident_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(n)
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = AuditEntry)]
pub struct Entry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_name: Option<String>,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<String>,
    /// The entry's personal values; `null` once an erasure blanked them.
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
    /// The personal values were erased (the entry itself stays, and the
    /// chain still verifies).
    pub erased: bool,
}

/// Which entries a listing shows; `None` shows all.
#[derive(Debug, Default)]
pub struct Filter {
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub actor_id: Option<Uuid>,
    pub action: Option<String>,
}

/// The newest `limit` entries of one chain (an institution's, or the
/// platform's for `None`) that pass `filter`, older than entry `before`
/// when given. Ids grow with the chain, so they page it newest first.
pub async fn list(
    pool: &PgPool,
    institution_id: Option<Uuid>,
    filter: Filter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Entry>, sqlx::Error> {
    let condition = chain_condition(institution_id).replace("institution_id", "a.institution_id");
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select a.id, a.at, a.actor_id, u.name as actor_name, a.action, a.entity, a.entity_id,
                p.details::jsonb as details, p.erased_at is not null as erased
         from audit_log a left join users u on u.id = a.actor_id left join audit_personal p on p.entry_id = a.id
         where {condition} and ($2::text is null or a.entity = $2) and ($3::text is null or a.entity_id = $3)
           and ($4::uuid is null or a.actor_id = $4) and ($5::text is null or a.action = $5)
           and ($7::bigint is null or a.id < $7)
         order by a.id desc limit $6"
    )))
    .bind(institution_id)
    .bind(filter.entity)
    .bind(filter.entity_id)
    .bind(filter.actor_id)
    .bind(filter.action)
    .bind(limit)
    .bind(before)
    .fetch_all(pool)
    .await
}

#[derive(sqlx::FromRow)]
/// One entry as stored, for verifying the chain.
pub struct ChainRow {
    pub id: i64,
    pub institution_id: Option<Uuid>,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<String>,
    pub salt: Option<Vec<u8>>,
    pub details: Option<String>,
    pub erased: Option<bool>,
    pub record: String,
    pub prev_hash: Option<Vec<u8>>,
    pub hash: Vec<u8>,
}

/// One chain (an institution's, or the platform's for `None`) from the
/// start, with the personal values of each entry.
pub async fn chain(conn: &mut PgConnection, institution_id: Option<Uuid>) -> Result<Vec<ChainRow>, sqlx::Error> {
    let condition = chain_condition(institution_id).replace("institution_id", "a.institution_id");
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select a.id, a.institution_id, a.at, a.actor_id, a.action, a.entity, a.entity_id,
                p.salt, p.details, p.erased_at is not null as erased, a.record, a.prev_hash, a.hash
         from audit_log a left join audit_personal p on p.entry_id = a.id where {condition} order by a.id"
    )))
    .bind(institution_id)
    .fetch_all(conn)
    .await
}
