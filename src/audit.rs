//! The audit trail: append-only and hash-chained per institution, plus one
//! chain of the platform's own (the operator's work that concerns no single
//! institution: supervisors, the operator's own account). Written in the same
//! transaction as the change it records.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::store;
pub use crate::store::audit::{Entry, Filter, list};

/// Who made a change, and whose chain records it.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    pub user_id: Uuid,
    /// The institution whose chain records the change; `None` for the
    /// platform's chain.
    pub institution_id: Option<Uuid>,
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
    store::audit::lock_chain(tx, institution_id, actor_id).await?;
    let prev = store::audit::last_hash(tx, institution_id).await?;
    let named = named_residents(entity, entity_id, details);
    let at = Utc::now().trunc_subsecs(6);
    let record = record_value(institution_id, at, actor_id, action, entity, Some(entity_id), &digest).to_string();
    let hash = chain_hash(prev.as_deref(), &record);
    store::audit::insert(
        tx,
        &store::audit::NewEntry {
            institution_id,
            at,
            actor_id,
            action,
            entity,
            entity_id,
            record: &record,
            prev_hash: prev.as_deref(),
            hash: &hash,
            salt: &salt,
            details: &details_text,
            named: &named,
        },
    )
    .await
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

#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = AuditVerification)]
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
    let rows = store::audit::chain(conn, institution_id).await?;
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
