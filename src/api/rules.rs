//! Per-resident rule settings (meal windows, vital thresholds, behaviour
//! rules, away mode) and the institution's defaults. Stored as JSON merge
//! patches; answered as the effective settings.

use axum::extract::State;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{AnyJson, ApiContext, Error, Json, Path, Result};
use crate::domain::scope::Monitoring;
use crate::domain::settings::{RuleSettings, SettingsError, merge_patch};
use crate::domain::settings_schema;
use crate::store::settings::{self, Changed};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(get_institution, patch_institution))
        .routes(routes!(get_resident, patch_resident))
        .routes(routes!(put_meal_windows))
        .routes(routes!(put_thresholds))
}

impl From<SettingsError> for Error {
    fn from(e: SettingsError) -> Self {
        Error::Validation { field: e.field, message: e.message }
    }
}

fn answer(settings: &RuleSettings) -> Result<Json<Value>> {
    Ok(Json(serde_json::to_value(settings).map_err(anyhow::Error::from)?))
}

fn effective(institution: &Value, resident: &Value) -> Result<Json<Value>> {
    answer(&RuleSettings::from_layers(Some(institution), Some(resident))?)
}

#[utoipa::path(get, path = "/residents/{id}/rule-settings", summary = "A resident's effective rule settings",
    description = "Who may call it: any.", params(("id" = Uuid, Path)),
    responses((status = 200, description = "success", body = settings_schema::RuleSettings)))]
async fn get_resident(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<Json<Value>> {
    let reached = auth.reach::<Monitoring>(&ctx, id).await?;
    let id = reached.id();
    answer(&*ctx.rule_settings.resident(&ctx.pool, id).await?.ok_or(Error::NotFound)?)
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
    let reached = auth.reach_for_staff::<Monitoring>(ctx, id).await?;
    let id = reached.id();
    let mut tx = ctx.pool.begin().await?;
    let (institution, stored) = settings::lock_resident_layers(&mut tx, id).await?;
    let updated = change(&stored);
    let was_away = RuleSettings::from_layers(Some(&institution), Some(&stored)).map(|s| s.away).unwrap_or(false);
    let answer = effective(&institution, &updated)?;
    let back_home = was_away && answer.0["away"] == Value::Bool(false);
    settings::save_resident_layer(&mut tx, id, &updated, back_home).await?;
    settings::announce(&mut tx, Changed::Resident(id)).await?;
    crate::audit::record(&mut tx, auth.actor(), action, "resident", id, request).await?;
    tx.commit().await?;
    ctx.rule_settings.forget(Changed::Resident(id));
    Ok(answer)
}

#[utoipa::path(patch, path = "/residents/{id}/rule-settings",
    summary = "Change only the keys given; answers the effective settings", description = "Who may call it: admin, staff.",
    params(("id" = Uuid, Path)), request_body = settings_schema::RuleSettingsPatch,
    responses((status = 200, description = "success", body = settings_schema::RuleSettings)))]
async fn patch_resident(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    AnyJson(patch): AnyJson<Value>,
) -> Result<Json<Value>> {
    RuleSettings::validate_patch(&patch)?;
    change_resident(&ctx, &auth, id, "rule_settings.changed", patch.clone(), |stored| merge_patch(stored, &patch)).await
}

/// Replaces the resident's meal windows.
#[utoipa::path(put, path = "/residents/{id}/meal-windows", summary = "Replace the resident's meal windows",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path)), request_body = settings_schema::MealWindows,
    responses((status = 200, description = "success", body = settings_schema::RuleSettings)))]
async fn put_meal_windows(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    AnyJson(windows): AnyJson<Value>,
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
#[utoipa::path(put, path = "/residents/{id}/thresholds", summary = "Replace the resident's vital-sign threshold overrides",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path)), request_body = settings_schema::Thresholds,
    responses((status = 200, description = "success", body = settings_schema::RuleSettings)))]
async fn put_thresholds(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    AnyJson(thresholds): AnyJson<Value>,
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

#[utoipa::path(get, path = "/rule-settings", summary = "The institution's default rule settings",
    description = "Who may call it: admin, staff.", responses((status = 200, description = "success", body = settings_schema::RuleSettings)))]
async fn get_institution(State(ctx): State<ApiContext>, auth: AuthUser) -> Result<Json<Value>> {
    let institution = auth.require_staff()?;
    answer(&*ctx.rule_settings.institution(&ctx.pool, institution).await?)
}

/// Changes the institution's defaults (admins).
#[utoipa::path(patch, path = "/rule-settings", summary = "Change the institution's defaults (JSON merge patch)",
    description = "Who may call it: admin.", request_body = settings_schema::RuleSettingsPatch,
    responses((status = 200, description = "success", body = settings_schema::RuleSettings)))]
async fn patch_institution(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    AnyJson(patch): AnyJson<Value>,
) -> Result<Json<Value>> {
    let institution = auth.require_admin()?;
    RuleSettings::validate_patch(&patch)?;
    let mut tx = ctx.pool.begin().await?;
    let stored = settings::lock_institution_layer(&mut tx, institution).await?;
    let updated = merge_patch(&stored, &patch);
    let answer = effective(&updated, &Value::Null)?;
    settings::save_institution_layer(&mut tx, institution, &updated).await?;
    settings::announce(&mut tx, Changed::Institution(institution)).await?;
    crate::audit::record(&mut tx, auth.actor(), "rule_settings.changed", "institution", institution, patch).await?;
    tx.commit().await?;
    ctx.rule_settings.forget(Changed::Institution(institution));
    Ok(answer)
}
