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

/// The record hashed for an entry: its columns, with the personal values
/// (`details`) replaced by their salted digest. Keys are sorted, so the text
/// is one of a kind; the migration that re-chained older entries writes the
/// same object (in PostgreSQL's own spelling, hence verification compares
/// the parsed object, and hashes the stored text).
fn record_value(
    institution_id: Option<Uuid>,
    at: DateTime<Utc>,
    actor_id: Option<Uuid>,
    action: &str,
    entity: &str,
    entity_id: Option<&str>,
    details_digest: &str,
) -> Value {
    json!({
        "v": 2,
        "institution_id": institution_id,
        "at": at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "actor_id": actor_id,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "details": details_digest,
    })
}

/// The salted digest of an entry's personal values, as lowercase hex.
fn details_digest(salt: &[u8], details: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(details.as_bytes());
    hex::encode(h.finalize())
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
    append(tx, actor.institution_id, Some(actor.user_id), action, entity, &entity_id.to_string(), &details).await
}

/// Appends one entry to the chain of `institution_id` (the platform's for
/// `None`). Everything costly is done before the chain's lock is taken.
pub async fn append(
    tx: &mut PgConnection,
    institution_id: Option<Uuid>,
    actor_id: Option<Uuid>,
    action: &str,
    entity: &str,
    entity_id: &str,
    details: &Value,
) -> Result<(), sqlx::Error> {
    let salt = Uuid::new_v4().into_bytes();
    let details_text = details.to_string();
    let digest = details_digest(&salt, &details_text);
    // The entry references its actor and institution, which takes a share
    // lock on their rows: taken before the chain's lock, so every
    // transaction takes those rows, then the chain (one that changed the
    // user or the institution first holds the row; one that did not waits
    // for it before queueing on the chain) and none waits in a circle.
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
    let condition = chain_condition(institution_id);
    let prev: Option<Vec<u8>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select hash from audit_log where {condition} order by id desc limit 1"
    )))
    .bind(institution_id)
    .fetch_optional(&mut *tx)
    .await?;
    let named = named_residents(entity, entity_id, details);
    let entity_uuid = Uuid::parse_str(entity_id).ok();
    let at = Utc::now().trunc_subsecs(6);
    let record = record_value(institution_id, at, actor_id, action, entity, Some(entity_id), &digest).to_string();
    let hash = chain_hash(prev.as_deref(), &record);
    // The residents the entry concerns are recorded with it, so an erasure
    // finds the entry by reference: those its values name, and the owner of
    // the visit, alert, message, meal order or device it is about.
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
    .bind(institution_id)
    .bind(at)
    .bind(actor_id)
    .bind(action)
    .bind(entity)
    .bind(entity_id)
    .bind(&record)
    .bind(prev)
    .bind(hash)
    .bind(&salt[..])
    .bind(&details_text)
    .bind(&named)
    .bind(entity_uuid)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The residents an entry names itself: the resident it is about, and every
/// id under a `resident_id` key of its values, at any depth (a change's
/// `{"from", "to"}` names both).
fn named_residents(entity: &str, entity_id: &str, details: &Value) -> Vec<Uuid> {
    fn ids_in(value: &Value, out: &mut Vec<Uuid>) {
        match value {
            Value::String(s) => out.extend(Uuid::parse_str(s).ok()),
            Value::Array(items) => items.iter().for_each(|v| ids_in(v, out)),
            Value::Object(map) => map.values().for_each(|v| ids_in(v, out)),
            _ => {}
        }
    }
    fn walk(value: &Value, out: &mut Vec<Uuid>) {
        match value {
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            Value::Object(map) => {
                for (key, v) in map {
                    if key == "resident_id" {
                        ids_in(v, out);
                    } else {
                        walk(v, out);
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if entity == "resident" {
        out.extend(Uuid::parse_str(entity_id).ok());
    }
    walk(details, &mut out);
    out.sort_unstable();
    out.dedup();
    out
}

/// Blanks the personal values of exactly the entries recorded as concerning
/// the resident (see [`append`]), in any chain. Entries that merely contain
/// the same words stay whole. The chain itself is untouched and still
/// verifies. Returns how many entries were blanked.
pub async fn erase_resident(tx: &mut PgConnection, resident_id: Uuid) -> Result<u64, sqlx::Error> {
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

#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Entry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_name: Option<String>,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<String>,
    /// The entry's personal values; `null` once an erasure blanked them.
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
struct ChainRow {
    id: i64,
    institution_id: Option<Uuid>,
    at: DateTime<Utc>,
    actor_id: Option<Uuid>,
    action: String,
    entity: String,
    entity_id: Option<String>,
    salt: Option<Vec<u8>>,
    details: Option<String>,
    erased: Option<bool>,
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
    let condition = chain_condition(institution_id).replace("institution_id", "a.institution_id");
    let rows: Vec<ChainRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select a.id, a.institution_id, a.at, a.actor_id, a.action, a.entity, a.entity_id,
                p.salt, p.details, p.erased_at is not null as erased, a.record, a.prev_hash, a.hash
         from audit_log a left join audit_personal p on p.entry_id = a.id where {condition} order by a.id"
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
        let Ok(recorded) = serde_json::from_str::<Value>(&row.record) else {
            return Ok(broken("its record is not what was written"));
        };
        let digest = recorded["details"].as_str().unwrap_or_default();
        let expected = record_value(
            row.institution_id,
            row.at,
            row.actor_id,
            &row.action,
            &row.entity,
            row.entity_id.as_deref(),
            digest,
        );
        if expected != recorded {
            return Ok(broken("its columns differ from what was recorded"));
        }
        match (row.erased, &row.salt, &row.details) {
            (Some(false), Some(salt), Some(details)) if details_digest(salt, details) == digest => {}
            // Blanked by an erasure: the digest alone stays in the chain.
            (Some(true), _, _) => {}
            (None, _, _) => return Ok(broken("its personal values are missing, and no erasure removed them")),
            _ => return Ok(broken("its personal values differ from what was recorded")),
        }
        prev = Some(row.hash.clone());
    }
    Ok(Verification { valid: true, entries: rows.len(), broken_at: None, reason: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        "2026-11-28T08:00:00.123456Z".parse().unwrap()
    }

    #[test]
    fn the_record_holds_a_digest_of_the_personal_values_never_the_values() {
        let id = Uuid::nil();
        let details = json!({"name": "Wang Fang", "room": "7"}).to_string();
        let digest = details_digest(b"0123456789abcdef", &details);
        let r = record_value(Some(id), at(), Some(id), "resident.created", "resident", Some("x"), &digest).to_string();
        assert!(r.contains("\"at\":\"2026-11-28T08:00:00.123456Z\""), "{r}");
        assert!(!r.contains("Wang"), "{r}");
        assert!(r.contains(&digest));
        assert_eq!(digest.len(), 64);
        assert!(r.find("\"action\"").unwrap() < r.find("\"v\"").unwrap(), "keys are sorted: {r}");
    }

    #[test]
    fn the_digest_depends_on_the_salt_and_on_every_byte_of_the_values() {
        let d = details_digest(b"salt-1", "{\"name\":\"Li\"}");
        assert_eq!(d, details_digest(b"salt-1", "{\"name\":\"Li\"}"));
        assert_ne!(d, details_digest(b"salt-2", "{\"name\":\"Li\"}"), "the same values under another salt");
        assert_ne!(d, details_digest(b"salt-1", "{\"name\":\"Lu\"}"));
        // Known answer: sha256("ab" || "c") is sha256("abc").
        assert_eq!(details_digest(b"ab", "c"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn the_chain_depends_on_every_byte_and_on_the_previous_hash() {
        let id = Uuid::nil();
        let r = record_value(Some(id), at(), Some(id), "resident.created", "resident", Some("x"), "00").to_string();
        let h1 = chain_hash(None, &r);
        assert_eq!(h1, chain_hash(None, &r));
        assert_ne!(h1, chain_hash(Some(&[0]), &r));
        assert_ne!(h1, chain_hash(None, &r.replace("created", "deleted")));
    }

    #[test]
    fn an_entry_names_its_resident_and_every_resident_id_in_its_values_never_by_words() {
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        assert_eq!(named_residents("resident", &a.to_string(), &json!({"name": "wrong_password"})), vec![a]);
        let details = json!({"resident_id": {"from": b, "to": c}, "orders": [{"resident_id": a}], "room": "7"});
        assert_eq!(named_residents("device", "dev-1", &details), vec![a, b, c]);
        assert_eq!(named_residents("visit", &a.to_string(), &json!({"caregiver_id": b})), Vec::<Uuid>::new());
        assert_eq!(named_residents("user", &a.to_string(), &json!({"reason": "wrong_password"})), Vec::<Uuid>::new());
        assert_eq!(named_residents("resident", "not-an-id", &json!({"resident_id": null})), Vec::<Uuid>::new());
        assert_eq!(named_residents("resident", &a.to_string(), &json!({"resident_id": a})), vec![a]);
    }

    #[test]
    fn a_record_written_by_postgresql_reads_as_the_same_object() {
        // jsonb's text form (key order by length, spaces) as the migration
        // that re-chained older entries wrote it.
        let id = Uuid::nil();
        let pg = format!(
            "{{\"v\": 2, \"at\": \"2026-11-28T08:00:00.123456Z\", \"action\": \"a\", \"entity\": \"e\", \"details\": \"00\", \"actor_id\": null, \"entity_id\": null, \"institution_id\": \"{id}\"}}"
        );
        let parsed: Value = serde_json::from_str(&pg).unwrap();
        assert_eq!(parsed, record_value(Some(id), at(), None, "a", "e", None, "00"));
    }
}
