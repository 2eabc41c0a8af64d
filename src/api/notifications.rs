//! Reaching people: the VAPID key, a user's push subscriptions, phone and
//! notification preferences; an institution's on-call rota and its SMS and
//! voice gateways.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, PageQuery, Path, Query, Result};
use crate::domain::notify::{self, Channel, Preferences, Shift, Span};
use crate::domain::{AlertKind, Severity};
use crate::notify::{targets, webpush};
use crate::store::notify::{self as store, Gateway, OnCallUser, Subscription};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(vapid_public_key))
        .routes(routes!(subscribe, subscriptions))
        .routes(routes!(subscription, unsubscribe))
        .routes(routes!(set_preferences, preferences))
        .routes(routes!(set_rota, rota))
        .routes(routes!(on_call_now))
        .routes(routes!(create_channel, channels))
        .routes(routes!(delete_channel))
}

#[derive(Debug, Serialize, ToSchema)]
struct VapidKey {
    /// uncompressed P-256 point, base64url
    key: String,
}

#[utoipa::path(get, path = "/push/vapid-public-key",
    summary = "The VAPID public key (RFC 8292) to subscribe to Web Push with (`applicationServerKey`)",
    description = "Who may call it: any.", responses((status = 200, description = "success", body = VapidKey)))]
async fn vapid_public_key(State(ctx): State<ApiContext>, _auth: AuthUser) -> Json<VapidKey> {
    Json(VapidKey { key: ctx.vapid.public_key().to_owned() })
}

/// The browser's `PushSubscription.toJSON()`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewPushSubscription)]
struct NewSubscription {
    #[schema(schema_with = super::openapi::meal_fields::push_endpoint)]
    endpoint: String,
    #[serde(deserialize_with = "crate::domain::wire::required_object")]
    keys: SubscriptionKeys,
    /// Sent by browsers (usually null); push services say when it ends.
    #[serde(default, rename = "expirationTime")]
    #[schema(value_type = Option<i64>)]
    _expiration_time: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PushSubscriptionKeys)]
struct SubscriptionKeys {
    p256dh: String,
    auth: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CreatedId)]
struct Created {
    id: Uuid,
}

/// A target like a webhook's (https to a public address unless lifted).
async fn vet_url(field: &str, text: &str, allow_private: bool) -> Result<()> {
    let url = url::Url::parse(text).map_err(|_| Error::validation(field, "must be an absolute https URL"))?;
    if url.host_str().is_none() || text.len() > 2000 {
        return Err(Error::validation(field, "must be an absolute https URL"));
    }
    targets::vet(&url, allow_private).await.map_err(|refusal| Error::validation(field, refusal.message()))?;
    Ok(())
}

#[utoipa::path(post, path = "/me/push-subscriptions",
    summary = "Subscribe this browser to Web Push: its `PushSubscription` JSON; the same endpoint again replaces its keys; a user keeps at most `push.max_subscriptions_per_user` (10): a new one beyond replaces their oldest",
    description = "Who may call it: any.", request_body = NewSubscription,
    responses((status = 201, description = "success", body = Created)))]
async fn subscribe(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<NewSubscription>,
) -> Result<(StatusCode, Json<Created>)> {
    vet_url("endpoint", &req.endpoint, ctx.settings.webhooks.allow_private).await?;
    webpush::Receiver::parse(&req.keys.p256dh, &req.keys.auth).map_err(|err| {
        let field = if err == webpush::KeyError::Auth { "keys.auth" } else { "keys.p256dh" };
        Error::validation(field, err.to_string())
    })?;
    let keep = ctx.settings.push.max_subscriptions_per_user;
    let id = store::subscribe(&ctx.pool, &auth.scope, &req.endpoint, &req.keys.p256dh, &req.keys.auth, keep).await?;
    tracing::info!(user = %auth.scope.user, subscription = %id, "push subscription");
    Ok((StatusCode::CREATED, Json(Created { id })))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PushSubscriptionList)]
struct SubscriptionList {
    subscriptions: Vec<Subscription>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/me/push-subscriptions", summary = "My push subscriptions",
    description = "Who may call it: any.", params(PageQuery),
    responses((status = 200, description = "success", body = SubscriptionList)))]
async fn subscriptions(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<SubscriptionList>> {
    let limit = super::page_limit(q.limit)?;
    let cursor = super::parse_cursor(q.cursor.as_deref())?;
    let mut subscriptions = store::subscriptions(&ctx.pool, &auth.scope, cursor, limit + 1).await?;
    let next_cursor = super::next_page(&mut subscriptions, limit, |s| s.id.to_string());
    Ok(Json(SubscriptionList { subscriptions, next_cursor }))
}

#[utoipa::path(get, path = "/me/push-subscriptions/{id}", summary = "One of my push subscriptions",
    description = "Who may call it: any.", params(("id" = Uuid, Path)),
    responses((status = 200, description = "success", body = Subscription)))]
async fn subscription(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Subscription>> {
    store::subscription(&ctx.pool, &auth.scope, id).await?.map(Json).ok_or(Error::NotFound)
}

#[utoipa::path(delete, path = "/me/push-subscriptions/{id}", summary = "Unsubscribe",
    description = "Who may call it: any.", params(("id" = Uuid, Path)),
    responses((status = 204, description = "success")))]
async fn unsubscribe(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<StatusCode> {
    if !store::unsubscribe(&ctx.pool, &auth.scope, id).await? {
        return Err(Error::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// My notification preferences, and whether they are my role's defaults.
// The fields are spelled out: the request's object is closed, so an
// `allOf` of it would refuse `defaults`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = NotificationPreferences)]
struct PreferencesView {
    min_severity: Severity,
    #[schema(required = true)]
    kinds: Option<Vec<AlertKind>>,
    #[schema(required = true)]
    quiet_hours: Option<Span>,
    channels: Vec<Channel>,
    /// True while the user has not set their own: these are their role's.
    defaults: bool,
}

impl PreferencesView {
    fn of(preferences: Preferences, defaults: bool) -> PreferencesView {
        let Preferences { min_severity, kinds, quiet_hours, channels } = preferences;
        PreferencesView { min_severity, kinds, quiet_hours, channels, defaults }
    }
}

#[utoipa::path(get, path = "/me/notification-preferences",
    summary = "My notification preferences (`defaults`: my role's, none set yet)", description = "Who may call it: any.",
    responses((status = 200, description = "success", body = PreferencesView)))]
async fn preferences(State(ctx): State<ApiContext>, auth: AuthUser) -> Result<Json<PreferencesView>> {
    let mut conn = ctx.pool.acquire().await?;
    let own = store::preferences(&mut conn, auth.scope.user).await?;
    let defaults = own.is_none();
    let preferences = own.unwrap_or_else(|| Preferences::default_for(auth.scope.role));
    Ok(Json(PreferencesView::of(preferences, defaults)))
}

#[utoipa::path(put, path = "/me/notification-preferences",
    summary = "Set my notification preferences; quiet hours (my institution's time) never hold back a critical alert",
    description = "Who may call it: any.", request_body = Preferences,
    responses((status = 200, description = "success", body = PreferencesView)))]
async fn set_preferences(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(prefs): Json<Preferences>,
) -> Result<Json<PreferencesView>> {
    if prefs.channels.is_empty() {
        return Err(Error::validation("channels", "at least one channel: push, sms or voice"));
    }
    if prefs.kinds.as_ref().is_some_and(|k| k.is_empty()) {
        return Err(Error::validation("kinds", "null for every kind, or at least one"));
    }
    let mut tx = ctx.pool.begin().await?;
    store::set_preferences(&mut tx, auth.scope.user, &prefs).await?;
    tx.commit().await?;
    Ok(Json(PreferencesView::of(prefs, false)))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OnCallRota)]
struct Rota {
    #[serde(deserialize_with = "crate::domain::wire::required_objects")]
    shifts: Vec<Shift>,
}

#[utoipa::path(put, path = "/on-call",
    summary = "Replace the institution's on-call rota (the institution's time): a new alert notifies level 1, each escalation step the next level",
    description = "Who may call it: admin.", request_body = Rota,
    responses((status = 200, description = "success", body = Rota)))]
async fn set_rota(State(ctx): State<ApiContext>, auth: AuthUser, Json(rota): Json<Rota>) -> Result<Json<Rota>> {
    let institution = auth.require_admin()?;
    if rota.shifts.len() > 1000 {
        return Err(Error::validation("shifts", "at most 1000 shifts"));
    }
    if let Some(bad) = rota.shifts.iter().position(|s| !(1..=9).contains(&s.level)) {
        return Err(Error::validation(&format!("shifts[{bad}].level"), "level is 1 to 9"));
    }
    if let Some(bad) = rota.shifts.iter().position(|s| s.days.is_empty()) {
        return Err(Error::validation(&format!("shifts[{bad}].days"), "at least one day"));
    }
    let mut tx = ctx.pool.begin().await?;
    if let Some(stranger) = store::set_rota(&mut tx, &auth.scope, &rota.shifts).await? {
        return Err(Error::validation(
            "shifts",
            format!("user {stranger} is not active care staff of this institution"),
        ));
    }
    let details = serde_json::json!({"shifts": rota.shifts.len()});
    crate::audit::record(&mut tx, auth.actor(), "on_call.updated", "institution", institution, details).await?;
    tx.commit().await?;
    Ok(Json(rota))
}

#[utoipa::path(get, path = "/on-call", summary = "The institution's on-call rota",
    description = "Who may call it: admin, staff.", responses((status = 200, description = "success", body = Rota)))]
async fn rota(State(ctx): State<ApiContext>, auth: AuthUser) -> Result<Json<Rota>> {
    auth.require_staff()?;
    let mut conn = ctx.pool.acquire().await?;
    Ok(Json(Rota { shifts: store::rota(&mut conn, &auth.scope).await? }))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OnCallLevel)]
struct Level {
    level: i32,
    users: Vec<OnCallUser>,
}

#[derive(Debug, Serialize, ToSchema)]
struct OnCallNow {
    timezone: String,
    /// The institution's local time the answer is for.
    #[schema(value_type = String)]
    local_time: NaiveDateTime,
    /// Levels with someone on call, lowest first.
    levels: Vec<Level>,
}

#[utoipa::path(get, path = "/on-call/now", summary = "Who is on call now, per level",
    description = "Who may call it: admin, staff.", responses((status = 200, description = "success", body = OnCallNow)))]
async fn on_call_now(State(ctx): State<ApiContext>, auth: AuthUser) -> Result<Json<OnCallNow>> {
    auth.require_staff()?;
    let mut conn = ctx.pool.acquire().await?;
    let timezone = store::institution_timezone(&mut conn, &auth.scope).await?;
    let tz = timezone.parse::<chrono_tz::Tz>().unwrap_or(chrono_tz::UTC);
    let local_time = Utc::now().with_timezone(&tz).naive_local();
    let shifts = store::rota(&mut conn, &auth.scope).await?;
    let mut numbers: Vec<i32> = shifts.iter().map(|s| s.level).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let mut levels = Vec::new();
    for level in numbers {
        let ids = notify::on_call(&shifts, level, local_time);
        if ids.is_empty() {
            continue;
        }
        let users = store::on_call_users(&mut conn, &ids).await?;
        levels.push(Level { level, users });
    }
    Ok(Json(OnCallNow { timezone, local_time, levels }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewChannel {
    #[schema(schema_with = notify::schema::gateway_kind)]
    kind: Channel,
    #[schema(schema_with = super::openapi::meal_fields::uri)]
    url: String,
    #[schema(min_length = 16, max_length = 256)]
    secret: String,
}

#[utoipa::path(post, path = "/channels",
    summary = "Add an SMS or voice gateway: a signed POST (webhook signature v2) of {\"to\", \"text\"} for users with a phone who chose it. The secret is stored sealed; 409 when no sealing key is configured (ELDERCARE__WEBHOOKS__SECRET_KEY)",
    description = "Who may call it: admin.", request_body = NewChannel,
    responses((status = 201, description = "success", body = Created)))]
async fn create_channel(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(req): Json<NewChannel>,
) -> Result<(StatusCode, Json<Created>)> {
    auth.require_admin()?;
    if req.kind == Channel::Push {
        return Err(Error::validation("kind", "kind is sms or voice"));
    }
    vet_url("url", &req.url, ctx.settings.webhooks.allow_private).await?;
    if !(16..=256).contains(&super::chars(&req.secret)) {
        return Err(Error::validation("secret", "secret must be 16 to 256 characters"));
    }
    let Some(sealing) = store::channel_sealing_key(&ctx.settings.webhooks) else {
        return Err(Error::Conflict(crate::domain::keys::NoSealingKey("channel secrets").to_string()));
    };
    let mut tx = ctx.pool.begin().await?;
    let id = store::create_gateway(&mut tx, &auth.scope, req.kind, &req.url, &req.secret, &sealing).await?;
    let details = serde_json::json!({"kind": req.kind, "url": req.url});
    crate::audit::record(&mut tx, auth.actor(), "channel.created", "channel", id, details).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

#[derive(Debug, Serialize, ToSchema)]
struct ChannelList {
    channels: Vec<Gateway>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/channels", summary = "The institution's SMS and voice gateways",
    description = "Who may call it: admin.", params(PageQuery),
    responses((status = 200, description = "success", body = ChannelList)))]
async fn channels(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<ChannelList>> {
    auth.require_admin()?;
    let limit = super::page_limit(q.limit)?;
    let cursor = super::parse_cursor(q.cursor.as_deref())?;
    let mut channels = store::gateways(&ctx.pool, &auth.scope, cursor, limit + 1).await?;
    let next_cursor = super::next_page(&mut channels, limit, |g| g.id.to_string());
    Ok(Json(ChannelList { channels, next_cursor }))
}

#[utoipa::path(delete, path = "/channels/{id}", summary = "Remove a gateway",
    description = "Who may call it: admin.", params(("id" = Uuid, Path)),
    responses((status = 204, description = "success")))]
async fn delete_channel(State(ctx): State<ApiContext>, auth: AuthUser, Path(id): Path<Uuid>) -> Result<StatusCode> {
    auth.require_admin()?;
    let mut tx = ctx.pool.begin().await?;
    if !store::delete_gateway(&mut tx, &auth.scope, id).await? {
        return Err(Error::NotFound);
    }
    crate::audit::record(&mut tx, auth.actor(), "channel.deleted", "channel", id, serde_json::json!({})).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhonePatch {
    /// E.164, e.g. +8613800000000; null removes it
    #[schema(pattern = r"^\+[1-9][0-9]{6,14}$")]
    pub phone: Option<String>,
}

/// Checks an E.164 number; answers it without spaces.
pub fn parse_phone(phone: Option<&str>) -> Result<Option<String>> {
    let Some(phone) = phone else { return Ok(None) };
    let compact: String = phone.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    let digits = compact.strip_prefix('+').unwrap_or("");
    if !(6..=15).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::validation("phone", "phone must be in international form, e.g. +8613800000000"));
    }
    Ok(Some(compact))
}

/// `PATCH /me`: the caller's own phone number.
#[utoipa::path(patch, path = "/me", summary = "Set my phone number (E.164) for SMS and voice notifications",
    description = "Who may call it: any.", request_body = PhonePatch,
    responses((status = 200, description = "success", body = crate::store::users::User)))]
pub async fn update_me(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Json(patch): Json<PhonePatch>,
) -> Result<Json<crate::store::users::User>> {
    let phone = parse_phone(patch.phone.as_deref())?;
    let mut tx = ctx.pool.begin().await?;
    // The audit chain's lock first, then the user's row: two changes at once
    // queue on the chain instead of each holding what the other waits for.
    let details = serde_json::json!({"phone_set": phone.is_some()});
    crate::audit::record(&mut tx, auth.actor(), "user.phone_changed", "user", auth.scope.user, details).await?;
    store::set_phone(&mut tx, auth.scope.user, phone.as_deref()).await?;
    tx.commit().await?;
    Ok(Json(super::auth::fetch_user(&ctx.pool, auth.scope.user).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_international() {
        assert_eq!(parse_phone(Some("+86 138-0000-0000")).unwrap().as_deref(), Some("+8613800000000"));
        assert_eq!(parse_phone(None).unwrap(), None);
        assert!(parse_phone(Some("13800000000")).is_err());
        assert!(parse_phone(Some("+12ab567")).is_err());
        assert!(parse_phone(Some("+1234567890123456")).is_err());
    }
}
