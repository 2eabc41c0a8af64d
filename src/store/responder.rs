//! The responder's sheet of each resident, and its key safe code, sealed.
//! Callers have found the resident in their scope before they come here.

use crate::domain::scope::{Care, Reached};
use std::collections::HashMap;

use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::config::WebhookSettings;
use crate::domain::care::Location;
use crate::domain::keys::{NoSealingKey, SealingKey, Unsealable};
use crate::domain::responder::{KeySafe, Responder, Sheet, SheetView};

/// What key safe codes are sealed for: the key serves nothing else.
pub const SEALING_PURPOSE: &[u8] = b"key safe codes";

/// The key that seals key safe codes: derived from the same setting as the
/// webhook secrets' (`webhooks.secret_key`), for a purpose of its own.
/// Without the setting, no code is stored (see [`save`]).
pub fn sealing_key(settings: &WebhookSettings) -> Option<SealingKey> {
    settings.secret_key.as_ref().map(|k| SealingKey::derive(k, SEALING_PURPOSE))
}

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// A code opens a home's door: it is stored sealed or not at all.
    #[error(transparent)]
    NoSealingKey(#[from] NoSealingKey),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Replaces the resident's sheet and changes the key safe code as told; a
/// new code is stored sealed, bound to the resident, and refused without a
/// sealing key.
pub async fn save(
    tx: &mut PgConnection,
    resident: &Reached<Care>,
    sheet: &Sheet,
    key_safe: &KeySafe,
    sealing: Option<&SealingKey>,
    by: Uuid,
) -> Result<(), SaveError> {
    let resident = resident.id();
    let (stored, sealed) = match key_safe {
        KeySafe::Set(code) => {
            let key = sealing.ok_or(NoSealingKey("key safe codes"))?;
            (Some(key.seal(code, resident.as_bytes())), true)
        }
        KeySafe::Keep | KeySafe::Remove => (None, false),
    };
    sqlx::query(
        "insert into responder_info (resident_id, sheet, key_safe_code, key_safe_sealed, updated_by, updated_at)
         values ($1, $2, $3, $4, $5, now())
         on conflict (resident_id) do update set sheet = excluded.sheet,
             key_safe_code = case when $6 then responder_info.key_safe_code else excluded.key_safe_code end,
             key_safe_sealed = case when $6 then responder_info.key_safe_sealed else excluded.key_safe_sealed end,
             updated_by = excluded.updated_by, updated_at = now()",
    )
    .bind(resident)
    .bind(Json(sheet))
    .bind(stored)
    .bind(sealed)
    .bind(by)
    .bind(*key_safe == KeySafe::Keep)
    .execute(tx)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Row {
    resident_id: Uuid,
    address: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    sheet: Option<Json<Sheet>>,
    key_safe: bool,
}

impl Row {
    fn view(self) -> SheetView {
        self.sheet.map(|s| s.0).unwrap_or_default().view(self.key_safe)
    }

    fn responder(self) -> Responder {
        let location = self.lat.zip(self.lon).map(|(lat, lon)| Location { lat, lon });
        Responder { address: self.address.clone(), location, sheet: self.view() }
    }
}

const SELECT: &str = "select r.id as resident_id, r.address, r.lat, r.lon, i.sheet,
        coalesce(i.key_safe_code is not null, false) as key_safe
    from residents r left join responder_info i on i.resident_id = r.id";

/// The residents' sheets with their address and location (an empty sheet
/// for a resident nobody wrote one for), and what medical partners sent.
pub async fn responders(pool: &PgPool, residents: &[Uuid]) -> Result<HashMap<Uuid, Responder>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where r.id = any($1)")))
        .bind(residents)
        .fetch_all(pool)
        .await?;
    let mut partners = super::clinical::on_sheets(pool, residents).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let id = r.resident_id;
            let mut responder = r.responder();
            responder.sheet.from_partners = partners.remove(&id).unwrap_or_default();
            (id, responder)
        })
        .collect())
}

pub async fn responder(pool: &PgPool, resident: &Reached<Care>) -> Result<Option<Responder>, sqlx::Error> {
    let resident = resident.id();
    Ok(responders(pool, &[resident]).await?.remove(&resident))
}

/// The resident's sheet as the API shows it, with what medical partners
/// sent beside it.
pub async fn view(conn: &mut PgConnection, resident: &Reached<Care>) -> Result<SheetView, sqlx::Error> {
    let resident = resident.id();
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where r.id = $1")))
        .bind(resident)
        .fetch_optional(&mut *conn)
        .await?;
    let mut view = row.map(Row::view).unwrap_or_else(|| Sheet::default().view(false));
    view.from_partners = super::clinical::on_sheets(conn, &[resident]).await?.remove(&resident).unwrap_or_default();
    Ok(view)
}

/// The key safe code in clear, if the resident has one. A code sealed
/// under another key (or altered) does not open; one stored in clear by an
/// older version, before the start that seals it, is given as stored.
pub async fn key_safe_code(
    conn: &mut PgConnection,
    resident: Uuid,
    sealing: Option<&SealingKey>,
) -> Result<Option<Result<String, Unsealable>>, sqlx::Error> {
    let row: Option<(Option<String>, bool)> =
        sqlx::query_as("select key_safe_code, key_safe_sealed from responder_info where resident_id = $1")
            .bind(resident)
            .fetch_optional(conn)
            .await?;
    let Some((Some(stored), sealed)) = row else { return Ok(None) };
    Ok(Some(match (sealed, sealing) {
        (false, _) => Ok(stored),
        (true, Some(key)) => key.open(&stored, resident.as_bytes()),
        (true, None) => Err(Unsealable),
    }))
}
