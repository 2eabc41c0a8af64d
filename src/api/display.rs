//! Display tokens for wall screens: a nurses' station or a supervisor's
//! office shows the console (or the cockpit) without anyone's login left
//! open on it. A display token reads the views of the user who made it and
//! changes nothing; it lives 30 days (a setting), with no idle end, and is
//! ended like any session of its maker (`DELETE /api/v1/me/sessions/{id}`,
//! or an admin revoking the maker's sessions).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::{AuthUser, hash_token, new_token};
use super::{ApiContext, Error, Json, Result};
use crate::domain::Role;
use crate::domain::field;
use crate::store::sessions::{self, Kind};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(create))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewDisplayToken {
    /// Which screen: "Nurses' station, 2nd floor".
    #[schema(schema_with = field::text::<200>)]
    label: String,
}

#[derive(Debug, Serialize, ToSchema)]
struct DisplayToken {
    /// The session's id, to end it by.
    id: Uuid,
    /// Shown this once; only its hash is kept.
    token: String,
    label: String,
    expires_at: DateTime<Utc>,
}

#[utoipa::path(post, path = "/display-tokens",
    summary = "A wall screen's token: read-only, console and cockpit views only, 30 days, ended as a session of its maker",
    description = "Who may call it: admin, supervisor.", request_body = NewDisplayToken,
    responses((status = 201, description = "success", body = DisplayToken)))]
async fn create(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<NewDisplayToken>,
) -> Result<(StatusCode, Json<DisplayToken>)> {
    if !(auth.scope.may_administer() || auth.scope.role == Role::Supervisor) {
        return Err(Error::Forbidden("only an administrator or a supervisor makes display tokens"));
    }
    let label = super::text("label", &req.label, 200)?;
    let token = new_token();
    let expires_at = Utc::now() + Duration::days(ctx.settings.auth.display_token_days.into());
    let mut tx = ctx.pool.begin().await?;
    let id =
        sessions::create(&mut tx, &hash_token(&token), auth.scope.user, Kind::Display, Some(label), expires_at).await?;
    let details = serde_json::json!({"label": label, "expires_at": expires_at});
    crate::audit::record(&mut tx, auth.actor(), "display_token.created", "session", id, details).await?;
    tx.commit().await?;
    tracing::info!(by = %auth.scope.user, session_id = %id, "display token created");
    Ok((StatusCode::CREATED, Json(DisplayToken { id, token, label: label.to_owned(), expires_at })))
}
