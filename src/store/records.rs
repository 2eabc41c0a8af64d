//! A resident's records as a whole: everything about them as one document
//! (the right of access), and the erasure of what names them (the right to
//! erasure), which keeps what the law requires (de-identified measurements,
//! alerts and their timelines, consent and care records) and a verifiable
//! audit chain.

use crate::domain::scope::{Monitoring, Reached};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::Scope;

/// At most this many readings, as many events (and as many access-log
/// entries) in one export: the newest. Beyond it the export says
/// `readings_truncated` / `events_truncated`, and the readings and events
/// endpoints page through the rest.
pub const EXPORT_SERIES_LIMIT: i64 = 100_000;

/// What an erasure writes where a name or a text was.
pub const ERASED: &str = "[erased]";

/// Everything about one resident of the scope's institution, as one JSON
/// document (with who read their health data, from the access log); `None`
/// when the resident is not the institution's.
pub async fn export(
    pool: &PgPool,
    scope: &Scope,
    resident: &Reached<Monitoring>,
) -> Result<Option<Value>, sqlx::Error> {
    let resident = resident.id();
    let Some(institution) = scope.institution else {
        return Ok(None);
    };
    sqlx::query_scalar(
        "select jsonb_build_object(
           'exported_at', now(),
           'resident', to_jsonb(r),
           'devices', (select coalesce(jsonb_agg(to_jsonb(d) order by d.device_id), '[]') from devices d
                       where d.resident_id = r.id),
           'readings', (select coalesce(jsonb_agg(jsonb_build_object('ts', x.ts, 'device_id', x.device_id,
                                 'metric', x.metric, 'value', x.value) order by x.ts), '[]')
                        from (select * from readings where resident_id = r.id order by ts desc limit $3) x),
           'readings_truncated', (select count(*) > $3 from
                                  (select 1 from readings where resident_id = r.id limit $3 + 1) c),
           'events', (select coalesce(jsonb_agg(jsonb_build_object('ts', x.ts, 'device_id', x.device_id,
                               'kind', x.kind, 'data', x.data) order by x.ts), '[]')
                      from (select * from events where resident_id = r.id order by ts desc limit $3) x),
           'events_truncated', (select count(*) > $3 from
                                (select 1 from events where resident_id = r.id limit $3 + 1) c),
           'alerts', (select coalesce(jsonb_agg(to_jsonb(a) || jsonb_build_object('timeline',
                               (select coalesce(jsonb_agg(to_jsonb(e) - 'alert_id' order by e.id), '[]')
                                from alert_events e where e.alert_id = a.id)) order by a.opened_at), '[]')
                      from alerts a where a.resident_id = r.id),
           'messages', (select coalesce(jsonb_agg(to_jsonb(m) order by m.created_at, m.id), '[]')
                        from messages m where m.resident_id = r.id),
           'family', (select coalesce(jsonb_agg(jsonb_build_object('user_id', f.user_id, 'name', u.name,
                              'email', u.email, 'relationship', f.relationship, 'created_at', f.created_at)
                              order by f.created_at), '[]')
                      from family_links f join users u on u.id = f.user_id where f.resident_id = r.id),
           'consents', (select coalesce(jsonb_agg(to_jsonb(c) order by c.id), '[]')
                        from consents c where c.resident_id = r.id),
           'access_log', (select coalesce(jsonb_agg(jsonb_build_object('at', x.at, 'user_id', x.user_id,
                                  'role', x.role, 'kind', x.kind) order by x.id), '[]')
                          from (select * from access_log where resident_id = r.id order by id desc limit $3) x))
         from residents r where r.id = $1 and r.institution_id = $2",
    )
    .bind(resident)
    .bind(institution)
    .bind(EXPORT_SERIES_LIMIT)
    .fetch_optional(pool)
    .await
}

/// What an erasure changed: how many rows of each kind lost what named or
/// described the resident.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Erased {
    /// Family messages whose text went.
    pub messages: u64,
    pub alert_comments: u64,
    pub consents: u64,
    pub webhook_deliveries: u64,
    /// Notification deliveries about the resident whose payload (name, room,
    /// message text) went; those still waiting are not sent.
    pub notification_deliveries: u64,
    /// The responder sheet, with the key safe code (0 or 1).
    pub responder_sheets: u64,
    /// What medical partners sent (diagnoses, allergies, medication, hospital
    /// stays): deleted, as the sheet is; her status periods stay, without it.
    pub clinical_records: u64,
    /// Visits whose notes, task notes, rating comment and reasons went.
    pub visits: u64,
    /// The meal plan, with its allergies and delivery notes (0 or 1); the
    /// orders not yet cooked are cancelled by the kitchen's cut-off rules.
    pub meal_plans: u64,
    /// Meal orders whose allergies and delivery position went.
    pub meal_orders: u64,
    /// Notes of the resident's status periods (in hospital, away).
    pub status_notes: u64,
    pub audit_entries: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    #[error("no such resident")]
    NotFound,
    #[error("this resident was already erased")]
    AlreadyErased,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Replaces the string value of `field` in each object of a jsonb array
/// column with [`ERASED`] (`$2`); other values stay as they were.
fn erase_in_items(column: &str, field: &str) -> String {
    format!(
        "(select coalesce(jsonb_agg(case when jsonb_typeof(x.item -> '{field}') = 'string'
                                          then jsonb_set(x.item, '{{{field}}}', to_jsonb($2::text))
                                          else x.item end order by x.n), '[]')
          from jsonb_array_elements({column}) with ordinality as x(item, n))"
    )
}

/// Erases what names or describes the resident, in the caller's
/// transaction: their name becomes a pseudonym; their notes, address,
/// location and room go; so do the responder sheet with the key safe code,
/// the texts written about their visits (notes, task notes, rating comments,
/// the reasons of corrections), their meal plan (allergies, delivery notes)
/// and the allergies and delivery positions of their meal orders, the notes
/// of their status periods, the payloads of notifications about them, family
/// messages' texts, alert comments and notes, guardians' names and the
/// resident's name in pending webhook payloads; and the personal values of
/// the audit entries recorded as concerning them are blanked (the chain still
/// verifies). Measurements, alerts, visits, orders, consents and the audit
/// entries themselves stay, de-identified.
pub async fn erase(
    tx: &mut sqlx::PgConnection,
    scope: &Scope,
    resident: &Reached<Monitoring>,
) -> Result<Erased, EraseError> {
    let (reached, resident) = (resident, resident.id());
    let institution = scope.institution.ok_or(EraseError::NotFound)?;
    let row: Option<bool> = sqlx::query_scalar(
        "select erased_at is not null from residents where id = $1 and institution_id = $2 for update",
    )
    .bind(resident)
    .bind(institution)
    .fetch_optional(&mut *tx)
    .await?;
    if row.ok_or(EraseError::NotFound)? {
        return Err(EraseError::AlreadyErased);
    }
    sqlx::query(
        "update residents set name = $2, notes = null, address = null, lat = null, lon = null, room = null,
             erased_at = now(), updated_at = now()
         where id = $1",
    )
    .bind(resident)
    .bind(pseudonym(resident))
    .execute(&mut *tx)
    .await?;
    let run = |sql: String| sqlx::query(sqlx::AssertSqlSafe(sql)).bind(resident).bind(ERASED);
    let messages =
        run("update messages set body = $2 where resident_id = $1".into()).execute(&mut *tx).await?.rows_affected();
    let alert_comments = run("update alert_events e set details = (
             select jsonb_object_agg(k, case when k in ('text', 'note') and v <> 'null'::jsonb
                                             then to_jsonb($2::text) else v end)
             from jsonb_each(e.details) as kv(k, v))
         from alerts a
         where a.id = e.alert_id and a.resident_id = $1 and e.details ?| array['text', 'note']"
        .into())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let consents =
        run("update consents set guardian_name = $2 where resident_id = $1 and guardian_name is not null".into())
            .execute(&mut *tx)
            .await?
            .rows_affected();
    let webhook_deliveries = sqlx::query(
        "update webhook_deliveries set payload = jsonb_set(payload, '{alert,resident_name}', to_jsonb($2::text))
         where payload -> 'alert' ->> 'resident_id' = $1::text and payload -> 'alert' ? 'resident_name'",
    )
    .bind(resident)
    .bind(pseudonym(resident))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // A notification still waiting would now tell nobody anything: it is
    // not sent, and says why.
    let notification_deliveries = sqlx::query(
        "update notification_deliveries d
         set payload = jsonb_build_object('type', d.payload -> 'type', 'erased', true),
             failed_at = case when d.delivered_at is null then coalesce(d.failed_at, now()) else d.failed_at end,
             last_error = case when d.delivered_at is null and d.failed_at is null
                               then 'the resident was erased' else d.last_error end
         where (d.alert_id in (select id from alerts where resident_id = $1)
                or d.payload ->> 'resident_id' = $1::text)",
    )
    .bind(resident)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let responder_sheets = sqlx::query("delete from responder_info where resident_id = $1")
        .bind(resident)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let clinical_records = sqlx::query("delete from clinical_records where resident_id = $1")
        .bind(resident)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let visits = run(format!(
        "update visits set note = case when note is null then null else $2 end,
             visit_note = case when visit_note is null then null else $2 end,
             rating_comment = case when rating_comment is null then null else $2 end,
             tasks = {tasks}, resolved = {resolved}, amendments = {amendments}, updated_at = now()
         where resident_id = $1 and (note is not null or visit_note is not null or rating_comment is not null
                or jsonb_path_exists(tasks, '$[*].note ? (@.type() == \"string\")')
                or resolved <> '[]' or amendments <> '[]')",
        tasks = erase_in_items("tasks", "note"),
        resolved = erase_in_items("resolved", "reason"),
        amendments = erase_in_items("amendments", "reason"),
    ))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // The plan ends (with its allergies and delivery notes), and its orders
    // not yet past the kitchen's cut-off are cancelled as for any ended
    // plan; those already cooked are delivered.
    let meal_plans = u64::from(crate::store::meals::delete_plan(&mut *tx, reached).await?);
    crate::store::meals::sync_orders(&mut *tx, reached, chrono::Utc::now()).await?;
    let meal_orders = sqlx::query(
        "update meal_orders set allergies = '{}', outcome_lat = null, outcome_lon = null
         where resident_id = $1 and (allergies <> '{}' or outcome_lat is not null)",
    )
    .bind(resident)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let status_notes = run("update resident_status set note = $2 where resident_id = $1 and note is not null".into())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let audit_entries = crate::store::audit::erase_resident(tx, &reached.identity()).await?;
    Ok(Erased {
        messages,
        alert_comments,
        consents,
        webhook_deliveries,
        notification_deliveries,
        responder_sheets,
        clinical_records,
        visits,
        meal_plans,
        meal_orders,
        status_notes,
        audit_entries,
    })
}

/// The name an erased resident is shown by: stable, and naming no one.
pub fn pseudonym(resident: Uuid) -> String {
    let id = resident.simple().to_string();
    format!("Erased resident {}", &id[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pseudonym_is_stable_and_carries_no_name() {
        let id: Uuid = "6f1c2a9e-0000-4000-8000-000000000000".parse().unwrap();
        assert_eq!(pseudonym(id), "Erased resident 6f1c2a9e");
        assert_eq!(pseudonym(id), pseudonym(id));
    }
}
