//! Where rule settings are kept: the institution's and each resident's
//! overrides, as JSON merge patches, read as effective [`RuleSettings`].

use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::rules::settings::RuleSettings;

/// The effective settings of a resident: built-in defaults, the
/// institution's patch, the resident's patch. `None` when there is no such
/// resident.
pub async fn resident(pool: &PgPool, resident_id: Uuid) -> Result<Option<RuleSettings>, sqlx::Error> {
    let row: Option<(Value, Value)> = sqlx::query_as(
        "select i.rule_settings, r.rule_settings from residents r join institutions i on i.id = r.institution_id
         where r.id = $1",
    )
    .bind(resident_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(inst, res)| layered(&inst, Some(&res), resident_id)))
}

/// The settings a shared device (no resident) is judged by: the
/// institution's.
pub async fn institution(pool: &PgPool, institution_id: Uuid) -> Result<RuleSettings, sqlx::Error> {
    let inst: Option<Value> = sqlx::query_scalar("select rule_settings from institutions where id = $1")
        .bind(institution_id)
        .fetch_optional(pool)
        .await?;
    Ok(inst.map(|inst| layered(&inst, None, institution_id)).unwrap_or_default())
}

/// Stored layers that no longer parse fall back to the defaults, loudly: an
/// alarm is better judged by defaults than not at all.
pub fn layered(institution: &Value, resident: Option<&Value>, whose: Uuid) -> RuleSettings {
    RuleSettings::from_layers(Some(institution), resident).unwrap_or_else(|err| {
        tracing::error!(id = %whose, cause = %err, "stored rule settings are invalid; using defaults");
        RuleSettings::default()
    })
}
