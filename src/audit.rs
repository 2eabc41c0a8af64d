//! The audit trail: append-only and hash-chained per institution, plus one
//! chain of the platform's own (the operator's work that concerns no single
//! institution: supervisors, the operator's own account). Written in the same
//! transaction as the change it records.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Who made a change, and whose chain records it.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    pub user_id: Uuid,
    /// The institution whose chain records the change; `None` for the
    /// platform's chain.
    pub institution_id: Option<Uuid>,
}

/// Selects one chain's rows: `$1` is the institution, null for the
/// platform's. Two forms, because `is not distinct from` cannot use the
/// chain's index.
fn chain_condition(institution_id: Option<Uuid>) -> &'static str {
    match institution_id {
        Some(_) => "institution_id = $1",
        None => "institution_id is null and $1::uuid is null",
    }
}

/// The exact text hashed for an entry: a JSON object with sorted keys.
fn record_text(
    institution_id: Option<Uuid>,
    at: DateTime<Utc>,
    actor_id: Option<Uuid>,
    action: &str,
    entity: &str,
    entity_id: Option<&str>,
    details: &Value,
) -> String {
    json!({
        "institution_id": institution_id,
        "at": at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "actor_id": actor_id,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "details": details,
    })
    .to_string()
}

fn chain_hash(prev: Option<&[u8]>, record: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(prev.unwrap_or_default());
    h.update(record.as_bytes());
    h.finalize().to_vec()
}

/// Appends one entry, inside the caller's transaction.
pub async fn record(
    tx: &mut PgConnection,
    actor: Actor,
    action: &str,
    entity: &str,
    entity_id: impl ToString,
    details: Value,
) -> Result<(), sqlx::Error> {
    // One writer per institution's chain at a time, until this commits.
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('audit:' || coalesce($1::text, 'platform'), 0))")
        .bind(actor.institution_id)
        .execute(&mut *tx)
        .await?;
    let condition = chain_condition(actor.institution_id);
    let prev: Option<Vec<u8>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select hash from audit_log where {condition} order by id desc limit 1"
    )))
    .bind(actor.institution_id)
    .fetch_optional(&mut *tx)
    .await?;
    let at = Utc::now().trunc_subsecs(6);
    let entity_id = entity_id.to_string();
    let record = record_text(actor.institution_id, at, Some(actor.user_id), action, entity, Some(&entity_id), &details);
    let hash = chain_hash(prev.as_deref(), &record);
    sqlx::query(
        "insert into audit_log (institution_id, at, actor_id, action, entity, entity_id, details, record, prev_hash, hash)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(actor.institution_id)
    .bind(at)
    .bind(actor.user_id)
    .bind(action)
    .bind(entity)
    .bind(&entity_id)
    .bind(&details)
    .bind(&record)
    .bind(prev)
    .bind(hash)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Entry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_name: Option<String>,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<String>,
    pub details: Value,
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
/// platform's for `None`) that pass `filter`.
pub async fn list(
    pool: &PgPool,
    institution_id: Option<Uuid>,
    filter: Filter,
    limit: i64,
) -> Result<Vec<Entry>, sqlx::Error> {
    let condition = chain_condition(institution_id).replace("institution_id", "a.institution_id");
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select a.id, a.at, a.actor_id, u.name as actor_name, a.action, a.entity, a.entity_id, a.details
         from audit_log a left join users u on u.id = a.actor_id
         where {condition} and ($2::text is null or a.entity = $2) and ($3::text is null or a.entity_id = $3)
           and ($4::uuid is null or a.actor_id = $4) and ($5::text is null or a.action = $5)
         order by a.id desc limit $6"
    )))
    .bind(institution_id)
    .bind(filter.entity)
    .bind(filter.entity_id)
    .bind(filter.actor_id)
    .bind(filter.action)
    .bind(limit)
    .fetch_all(pool)
    .await
}

#[derive(sqlx::FromRow)]
struct ChainRow {
    id: i64,
    institution_id: Option<Uuid>,
    at: DateTime<Utc>,
    actor_id: Option<Uuid>,
    action: String,
    entity: String,
    entity_id: Option<String>,
    details: Value,
    record: String,
    prev_hash: Option<Vec<u8>>,
    hash: Vec<u8>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Verification {
    pub valid: bool,
    pub entries: usize,
    /// The first entry where the chain does not hold, and why.
    pub broken_at: Option<i64>,
    pub reason: Option<String>,
}

/// Walks one chain (an institution's, or the platform's for `None`) from
/// the start.
pub async fn verify(conn: &mut PgConnection, institution_id: Option<Uuid>) -> Result<Verification, sqlx::Error> {
    let condition = chain_condition(institution_id);
    let rows: Vec<ChainRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select id, institution_id, at, actor_id, action, entity, entity_id, details, record, prev_hash, hash
         from audit_log where {condition} order by id"
    )))
    .bind(institution_id)
    .fetch_all(conn)
    .await?;
    let mut prev: Option<Vec<u8>> = None;
    for (n, row) in rows.iter().enumerate() {
        let broken = |reason: &str| Verification {
            valid: false,
            entries: n,
            broken_at: Some(row.id),
            reason: Some(reason.to_owned()),
        };
        if row.prev_hash != prev {
            return Ok(broken("does not follow the entry before it (an entry was removed or reordered)"));
        }
        if chain_hash(prev.as_deref(), &row.record) != row.hash {
            return Ok(broken("its hash does not match its content"));
        }
        let expected = record_text(
            row.institution_id,
            row.at,
            row.actor_id,
            &row.action,
            &row.entity,
            row.entity_id.as_deref(),
            &row.details,
        );
        if expected != row.record {
            return Ok(broken("its columns differ from what was recorded"));
        }
        prev = Some(row.hash.clone());
    }
    Ok(Verification { valid: true, entries: rows.len(), broken_at: None, reason: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_depends_on_every_byte_and_on_the_previous_hash() {
        let at: DateTime<Utc> = "2026-11-28T08:00:00.123456Z".parse().unwrap();
        let id = Uuid::nil();
        let r =
            record_text(Some(id), at, Some(id), "resident.created", "resident", Some("x"), &json!({"b": 1, "a": "z"}));
        assert!(r.contains("\"at\":\"2026-11-28T08:00:00.123456Z\""));
        assert!(r.find("\"a\"").unwrap() < r.find("\"b\"").unwrap(), "keys are sorted: {r}");
        let h1 = chain_hash(None, &r);
        assert_eq!(h1, chain_hash(None, &r));
        assert_ne!(h1, chain_hash(Some(&[0]), &r));
        assert_ne!(h1, chain_hash(None, &r.replace("created", "deleted")));
    }
}
