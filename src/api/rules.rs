//! Per-resident rule settings (meal windows, vital thresholds, behaviour
//! rules, away mode) and the institution's defaults. Stored as JSON merge
//! patches; answered as the effective settings.

use axum::Router;
use axum::extract::State;
use axum::routing::{get, put};
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Path, Result};
use crate::rules::settings::{RuleSettings, SettingsError, merge_patch};

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/rule-settings", get(get_institution).patch(patch_institution))
        .route("/residents/{id}/rule-settings", get(get_resident).patch(patch_resident))
        .route("/residents/{id}/meal-windows", put(put_meal_windows))
        .route("/residents/{id}/thresholds", put(put_thresholds))
}

impl From<SettingsError> for Error {
    fn from(e: SettingsError) -> Self {
        Error::Validation { field: e.field, message: e.message }
    }
}

async fn layers(ctx: &ApiContext, resident_id: Uuid) -> Result<(Value, Value)> {
    Ok(sqlx::query_as(
        "select i.rule_settings, r.rule_settings from residents r join institutions i on i.id = r.institution_id
         where r.id = $1",
    )
    .bind(resident_id)
    .fetch_one(&ctx.pool)
    .await?)
}

fn effective(institution: &Value, resident: &Value) -> Result<Json<Value>> {
    let settings = RuleSettings::from_layers(Some(institution), Some(resident))?;
    Ok(Json(serde_json::to_value(settings).map_err(anyhow::Error::from)?))
}

async fn get_resident(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<Value>> {
    let id = auth.resident(&ctx, id).await?;
    let (institution, resident) = layers(&ctx, id).await?;
    effective(&institution, &resident)
}

/// Applies `change` to the resident's stored patch, checks the result in
/// the context of the institution's settings, stores it and answers the
/// effective settings.
async fn change_resident(
    ctx: &ApiContext,
    auth: &AuthUser,
    id: Uuid,
    action: &str,
    request: Value,
    change: impl FnOnce(&Value) -> Value,
) -> Result<Json<Value>> {
    let id = auth.resident_for_staff(ctx, id).await?;
    let mut tx = ctx.pool.begin().await?;
    let (institution, stored): (Value, Value) = sqlx::query_as(
        "select i.rule_settings, r.rule_settings from residents r join institutions i on i.id = r.institution_id
         where r.id = $1 for update of r",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    let updated = change(&stored);
    let was_away = RuleSettings::from_layers(Some(&institution), Some(&stored)).map(|s| s.away).unwrap_or(false);
    let answer = effective(&institution, &updated)?;
    let back_home = was_away && answer.0["away"] == Value::Bool(false);
    sqlx::query(
        "update residents set rule_settings = $2, updated_at = now(),
                away_ended_at = case when $3 then now() else away_ended_at end
         where id = $1",
    )
    .bind(id)
    .bind(&updated)
    .bind(back_home)
    .execute(&mut *tx)
    .await?;
    crate::audit::record(&mut tx, auth.actor(), action, "resident", id, request).await?;
    tx.commit().await?;
    let _ = ctx.settings_changed.send(id);
    Ok(answer)
}

async fn patch_resident(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(patch): Json<Value>,
) -> Result<Json<Value>> {
    RuleSettings::validate_patch(&patch)?;
    change_resident(&ctx, &auth, id, "rule_settings.changed", patch.clone(), |stored| merge_patch(stored, &patch)).await
}

/// Replaces the resident's meal windows.
async fn put_meal_windows(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(windows): Json<Value>,
) -> Result<Json<Value>> {
    if !windows.is_array() {
        return Err(Error::validation("meal_windows", "must be an array of {meal, start, end}"));
    }
    let patch = json!({"meal_windows": windows});
    RuleSettings::validate_patch(&patch)?;
    change_resident(&ctx, &auth, id, "meal_windows.replaced", patch.clone(), |stored| merge_patch(stored, &patch)).await
}

/// Replaces the resident's threshold overrides; metrics not named follow the
/// institution's defaults.
async fn put_thresholds(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(thresholds): Json<Value>,
) -> Result<Json<Value>> {
    if !thresholds.is_object() {
        return Err(Error::validation("thresholds", "must be an object of metric: {min, max}"));
    }
    let patch = json!({"thresholds": thresholds});
    RuleSettings::validate_patch(&patch)?;
    change_resident(&ctx, &auth, id, "thresholds.replaced", patch.clone(), |stored| {
        let mut updated = stored.clone();
        if let Some(obj) = updated.as_object_mut() {
            obj.insert("thresholds".into(), thresholds);
            updated
        } else {
            patch
        }
    })
    .await
}

async fn get_institution(State(ctx): State<ApiContext>, auth: AuthUser) -> Result<Json<Value>> {
    let institution = auth.require_staff()?;
    let institution: Value = sqlx::query_scalar("select rule_settings from institutions where id = $1")
        .bind(institution)
        .fetch_one(&ctx.pool)
        .await?;
    effective(&institution, &Value::Null)
}

/// Changes the institution's defaults (admins).
async fn patch_institution(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(patch): Json<Value>,
) -> Result<Json<Value>> {
    let institution = auth.require_admin()?;
    RuleSettings::validate_patch(&patch)?;
    let mut tx = ctx.pool.begin().await?;
    let stored: Value = sqlx::query_scalar("select rule_settings from institutions where id = $1 for update")
        .bind(institution)
        .fetch_one(&mut *tx)
        .await?;
    let updated = merge_patch(&stored, &patch);
    let answer = effective(&updated, &Value::Null)?;
    sqlx::query("update institutions set rule_settings = $2 where id = $1")
        .bind(institution)
        .bind(&updated)
        .execute(&mut *tx)
        .await?;
    crate::audit::record(&mut tx, auth.actor(), "rule_settings.changed", "institution", institution, patch).await?;
    tx.commit().await?;
    Ok(answer)
}
