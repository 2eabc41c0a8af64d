//! Login, logout, one's own sessions, and the bearer-token extractor every
//! other call goes through.

use argon2::password_hash::PasswordVerifier;
use argon2::{Argon2, PasswordHash};
use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::error::{ErrorBody, HASHING_BUSY};
use super::{ApiContext, Error, Json, PageQuery, Path, Query, Result, limits};
use crate::domain::field;
use crate::domain::scope::{AreaOf, Reached};
use crate::domain::{Role, Scope};
use crate::store::residents;
use crate::store::sessions::{self, Kind};
use crate::store::users::{self, Account};

use crate::domain::account::MIN_PASSWORD_LEN;
use crate::store::users::User;

pub fn router() -> OpenApiRouter<ApiContext> {
    let mut router = OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me, super::notifications::update_me))
        .routes(routes!(change_password))
        .routes(routes!(list_sessions))
        .routes(routes!(end_session))
        .routes(routes!(totp));
    // The second factor's first call has no body.
    field::optional_body(router.get_openapi_mut(), "/me/totp");
    router
}

/// The 429 of an operation that checks a password.
const PASSWORD_ATTEMPTS: &str = "5 failed attempts per account (30 per client address) in a sliding 15 minutes: a \
    delay, never a lock; `Retry-After` gives the seconds until the window has slid";

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// Everything the caller reads or changes goes through this.
    pub scope: Scope,
    /// Which session this request came with: logout ends just it, and a
    /// live stream closes when it ends.
    pub session: Uuid,
    /// A person's login, or a wall screen's read-only display token.
    pub kind: Kind,
}

impl AuthUser {
    /// Who to record in the audit trail, in the chain of their institution
    /// (the platform's for the platform's accounts).
    pub fn actor(&self) -> crate::audit::Actor {
        crate::audit::Actor { user_id: self.scope.user, institution_id: self.scope.institution }
    }

    /// The caller's institution, if they are its care staff.
    pub fn require_staff(&self) -> Result<Uuid> {
        match self.scope.institution {
            Some(institution) if self.scope.may_care() => Ok(institution),
            _ => Err(Error::Forbidden("only care staff may do this")),
        }
    }

    /// The caller's institution, if they administer it.
    pub fn require_admin(&self) -> Result<Uuid> {
        match self.scope.institution {
            Some(institution) if self.scope.may_administer() => Ok(institution),
            _ => Err(Error::Forbidden("only an administrator may do this")),
        }
    }

    pub fn require_operator(&self) -> Result<()> {
        if self.scope.role == Role::Operator {
            Ok(())
        } else {
            Err(Error::Forbidden("only the platform operator may do this"))
        }
    }

    /// Proof that the caller reaches area `A` of the resident; out of reach
    /// (no enrolment granting it, no family link) is a 404, as for a
    /// stranger.
    pub async fn reach<A: AreaOf>(&self, ctx: &ApiContext, resident_id: Uuid) -> Result<Reached<A>> {
        residents::reach::<A>(&ctx.pool, &self.scope, resident_id).await?.ok_or(Error::NotFound)
    }

    /// Records in the access log that the caller read `kind` of the
    /// resident's health data. One insert, after the read: never the audit
    /// chain, whose lock a read must not wait on.
    pub async fn log_read(&self, ctx: &ApiContext, kind: crate::domain::AccessKind, resident: Uuid) -> Result<()> {
        Ok(crate::store::access_log::record(&ctx.pool, &self.scope, self.kind, kind, resident).await?)
    }

    /// The resident, if the caller may change their care. Out of reach is a
    /// 404; in reach but not care staff, a 403.
    pub async fn reach_for_staff<A: AreaOf>(&self, ctx: &ApiContext, resident_id: Uuid) -> Result<Reached<A>> {
        let reached = self.reach::<A>(ctx, resident_id).await?;
        self.require_staff()?;
        Ok(reached)
    }
}

impl FromRequestParts<ApiContext> for AuthUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, ctx: &ApiContext) -> Result<Self> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(Error::Unauthorized)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(Error::Unauthorized)?;
        let session = sessions::authenticate(&ctx.pool, &ctx.settings.auth, &hash_token(token))
            .await?
            .ok_or(Error::Unauthorized)?;
        if session.kind == Kind::Display {
            let path = parts.extensions.get::<MatchedPath>().map(MatchedPath::as_str);
            if parts.method != Method::GET || !path.is_some_and(|p| DISPLAY_VIEWS.contains(&p)) {
                return Err(Error::Forbidden("a display token only shows the console and cockpit views"));
            }
        }
        Ok(AuthUser { scope: session.scope, session: session.id, kind: session.kind })
    }
}

/// What a wall screen's display token may read: the console's views (and
/// the cockpit's, never a change and never the accounts.
const DISPLAY_VIEWS: &[&str] = &[
    "/api/v1/me",
    "/api/v1/institutions",
    "/api/v1/residents",
    "/api/v1/residents/{id}",
    "/api/v1/residents/{id}/events",
    "/api/v1/residents/{id}/readings",
    "/api/v1/residents/{id}/rule-settings",
    "/api/v1/devices",
    "/api/v1/alerts",
    "/api/v1/alerts/stream",
    "/api/v1/alerts/{id}",
    "/api/v1/alerts/{id}/timeline",
    "/api/v1/cockpit",
    "/api/v1/cockpit/district",
];

/// The client's address, when the server was started with it: the peer, or
/// behind a trusted proxy the client it forwards for (`http.trusted_proxies`).
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl FromRequestParts<ApiContext> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, ctx: &ApiContext) -> std::result::Result<Self, Self::Rejection> {
        let Some(info) = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>() else {
            return Ok(ClientAddr(None));
        };
        let forwarded = parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
        Ok(ClientAddr(Some(ctx.settings.http.trusted_proxies.client(info.0.ip(), forwarded))))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    /// case-insensitive; over 254 bytes answers 422 at once
    #[schema(max_length = 254)]
    email: String,
    password: String,
    /// the authenticator app's six digits, for accounts with a second factor (401 totp_required without it)
    code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct LoginResponse {
    token: String,
    expires_at: DateTime<Utc>,
    user: User,
}

#[utoipa::path(post, path = "/auth/login", summary = "Log in; returns a bearer token",
    description = "Who may call it: public.", request_body = LoginRequest,
    responses((status = 200, description = "success", body = LoginResponse),
        (status = 429, description = PASSWORD_ATTEMPTS, body = ErrorBody),
        (status = 503, description = HASHING_BUSY, body = ErrorBody)))]
async fn login(
    axum::extract::State(ctx): axum::extract::State<ApiContext>,
    ClientAddr(addr): ClientAddr,
    Json(req): Json<LoginRequest>,
) -> Result<Json<LoginResponse>> {
    // No address is ever longer (RFC 5321): refused before it costs a
    // lookup, a limiter key or a hash.
    if req.email.len() > MAX_EMAIL_LEN {
        return Err(Error::validation("email", format!("an email has at most {MAX_EMAIL_LEN} bytes")));
    }
    let reservation = match ctx.login_limiter.reserve(&limits::login_key(&req.email), addr).await {
        Ok(reservation) => reservation,
        Err(limits::Refused::Wait(retry_after)) => {
            let account = find_account(&ctx, &req.email).await?;
            login_attempt(&ctx, account.as_ref(), addr, Err(Refusal::RateLimited)).await?;
            return Err(Error::TooManyRequests { retry_after });
        }
        Err(refused) => return Err(refused.into()),
    };
    let permit = match ctx.hashing.enter().await {
        Some(permit) => permit,
        None => {
            // Never tried: the attempt is not counted against the account.
            ctx.login_limiter.refund(reservation).await?;
            return Err(Error::Busy);
        }
    };
    let account = find_account(&ctx, &req.email).await?;
    // Verify against a fixed hash when the user does not exist, so the answer
    // takes as long and says nothing about which emails are registered; a
    // disabled account answers as a wrong password does, after the same work.
    let hash = account.as_ref().map_or_else(|| DUMMY_HASH.to_owned(), |a| a.password_hash.clone());
    let ok = verify_password(req.password, hash).await?;
    drop(permit);
    // A failure keeps its reservation: it counts until the window slides.
    let a = match account {
        Some(a) if ok && !a.disabled => a,
        Some(a) => {
            let refusal = if ok { Refusal::Disabled } else { Refusal::WrongPassword };
            login_attempt(&ctx, Some(&a), addr, Err(refusal)).await?;
            return Err(Error::BadCredentials);
        }
        None => {
            login_attempt(&ctx, None, addr, Err(Refusal::WrongPassword)).await?;
            return Err(Error::BadCredentials);
        }
    };
    if let Some(secret) = &a.totp_secret {
        // The password was right: only now say that a code is wanted.
        let Some(code) = req.code.as_deref() else {
            ctx.login_limiter.refund(reservation).await?;
            login_attempt(&ctx, Some(&a), addr, Err(Refusal::SecondFactorMissing)).await?;
            return Err(Error::TotpRequired);
        };
        if !accept_code(&ctx.pool, a.id, secret, code).await? {
            login_attempt(&ctx, Some(&a), addr, Err(Refusal::SecondFactorFailed)).await?;
            return Err(Error::BadCredentials);
        }
    }
    ctx.login_limiter.refund(reservation).await?;
    let (user_id, role) = (a.id, a.role);
    let token = new_token();
    let (_, absolute) = sessions::lifetimes(&ctx.settings.auth, role);
    let expires_at = Utc::now() + absolute;
    let mut conn = ctx.pool.acquire().await?;
    sessions::create(&mut conn, &hash_token(&token), user_id, Kind::Login, None, expires_at).await?;
    drop(conn);
    login_attempt(&ctx, Some(&a), addr, Ok(())).await?;
    let user = fetch_user(&ctx.pool, user_id).await?;
    tracing::info!(user_id = %user_id, "login");
    Ok(Json(LoginResponse { token, expires_at, user }))
}

async fn find_account(ctx: &ApiContext, email: &str) -> Result<Option<Account>> {
    Ok(users::account(&ctx.pool, email.trim()).await?)
}

/// Why a login to an existing account was refused, as the audit trail
/// names it.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    WrongPassword,
    Disabled,
    RateLimited,
    /// The password was right; the account wants its second factor's code.
    SecondFactorMissing,
    SecondFactorFailed,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Refusal::WrongPassword => "wrong_password",
            Refusal::Disabled => "disabled",
            Refusal::RateLimited => "rate_limited",
            Refusal::SecondFactorMissing => "second_factor_required",
            Refusal::SecondFactorFailed => "second_factor_failed",
        }
    }
}

/// Records a login attempt: in the audit trail of the account's institution
/// (the platform's for platform accounts), or, for an email no account
/// has, as a count in `/metrics` only. Called after the password was
/// hashed, in a transaction of its own, so the chain's lock is held for an
/// insert and never across hashing.
async fn login_attempt(
    ctx: &ApiContext,
    account: Option<&Account>,
    addr: Option<std::net::IpAddr>,
    outcome: std::result::Result<(), Refusal>,
) -> Result<()> {
    let Some(account) = account else {
        ctx.metrics.login_unknown_account.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Ok(());
    };
    let (action, details) = match outcome {
        Ok(()) => ("login.succeeded", serde_json::json!({"address": addr})),
        Err(refusal) => ("login.failed", serde_json::json!({"reason": refusal.as_str(), "address": addr})),
    };
    let mut tx = ctx.pool.begin().await?;
    let id = account.id.to_string();
    crate::audit::append(&mut tx, account.institution_id, Some(account.id), action, "user", &id, &details).await?;
    tx.commit().await?;
    Ok(())
}

#[utoipa::path(post, path = "/auth/logout", summary = "Revoke the token of this request",
    description = "Who may call it: any.", responses((status = 204, description = "success")))]
async fn logout(axum::extract::State(ctx): axum::extract::State<ApiContext>, user: AuthUser) -> Result<StatusCode> {
    let mut conn = ctx.pool.acquire().await?;
    sessions::end(&mut conn, user.scope.user, user.session).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Session)]
struct SessionView {
    id: Uuid,
    kind: Kind,
    label: Option<String>,
    created_at: DateTime<Utc>,
    last_used_at: DateTime<Utc>,
    /// the latest it ends; idleness may end a login sooner
    expires_at: DateTime<Utc>,
    /// The session this request came with.
    current: bool,
}

#[derive(Debug, Serialize, ToSchema)]
struct SessionList {
    sessions: Vec<SessionView>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// The caller's live sessions, newest first: logins and the display tokens
/// they made. The cursor is the last session's id.
#[utoipa::path(get, path = "/me/sessions", summary = "My live sessions and display tokens; `current` marks this one",
    description = "Who may call it: any.", params(PageQuery),
    responses((status = 200, description = "success", body = SessionList)))]
async fn list_sessions(
    axum::extract::State(ctx): axum::extract::State<ApiContext>,
    user: AuthUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<SessionList>> {
    let limit = super::page_limit(q.limit)?;
    let after = super::cursor_in_reach(q.cursor.as_deref(), async |id| {
        Ok(sessions::owned(&ctx.pool, user.scope.user, id).await?)
    })
    .await?;
    let mut sessions: Vec<SessionView> =
        sessions::list(&ctx.pool, &ctx.settings.auth, user.scope.user, after, limit + 1)
            .await?
            .into_iter()
            .map(|s| SessionView {
                current: s.id == user.session,
                id: s.id,
                kind: s.kind,
                label: s.label,
                created_at: s.created_at,
                last_used_at: s.last_used_at,
                expires_at: s.expires_at,
            })
            .collect();
    let next_cursor = super::next_page(&mut sessions, limit, |s| s.id.to_string());
    Ok(Json(SessionList { sessions, next_cursor }))
}

/// Ends one of the caller's sessions (a phone left behind, a wall screen
/// taken down); its live streams close.
#[utoipa::path(delete, path = "/me/sessions/{id}", summary = "End one of my sessions or display tokens",
    description = "Who may call it: any.", params(("id" = Uuid, Path)),
    responses((status = 204, description = "success")))]
async fn end_session(
    axum::extract::State(ctx): axum::extract::State<ApiContext>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    let mut tx = ctx.pool.begin().await?;
    if !sessions::end(&mut tx, user.scope.user, id).await? {
        return Err(Error::NotFound);
    }
    crate::audit::record(&mut tx, user.actor(), "session.ended", "session", id, serde_json::json!({})).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
struct Me {
    #[serde(flatten)]
    user: User,
    /// `display` for a wall screen's token: the console shows itself
    /// read-only.
    session_kind: Kind,
}

#[utoipa::path(get, path = "/me", summary = "The calling user", description = "Who may call it: any.",
    responses((status = 200, description = "success", body = Me)))]
async fn me(axum::extract::State(ctx): axum::extract::State<ApiContext>, user: AuthUser) -> Result<Json<Me>> {
    Ok(Json(Me { user: fetch_user(&ctx.pool, user.scope.user).await?, session_kind: user.kind }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    #[schema(schema_with = field::password)]
    new_password: String,
}

/// Changes the caller's password and revokes every session of theirs,
/// this one included: whoever else held a token is logged out.
#[utoipa::path(post, path = "/me/password", summary = "Change my password; revokes every session of mine",
    description = "Who may call it: any.", request_body = PasswordChange,
    responses((status = 204, description = "success"),
        (status = 429, description = PASSWORD_ATTEMPTS, body = ErrorBody),
        (status = 503, description = HASHING_BUSY, body = ErrorBody)))]
async fn change_password(
    axum::extract::State(ctx): axum::extract::State<ApiContext>,
    ClientAddr(addr): ClientAddr,
    user: AuthUser,
    Json(req): Json<PasswordChange>,
) -> Result<StatusCode> {
    if req.new_password.chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::validation(
            "new_password",
            format!("password must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    // A stolen token must not become a way to guess the password: the
    // current password is limited as a login is.
    let reservation = ctx.login_limiter.reserve(&limits::password_change_key(user.scope.user), addr).await?;
    let Some(permit) = ctx.hashing.enter().await else {
        ctx.login_limiter.refund(reservation).await?;
        return Err(Error::Busy);
    };
    let hash = users::password_hash(&ctx.pool, user.scope.user).await?;
    if !verify_password(req.current_password, hash).await? {
        return Err(Error::validation("current_password", "the current password is wrong"));
    }
    ctx.login_limiter.refund(reservation).await?;
    let new_hash = hash_password(req.new_password).await?;
    drop(permit);
    let mut tx = ctx.pool.begin().await?;
    users::set_password(&mut tx, user.scope.user, &new_hash).await?;
    let revoked = sessions::end_all(&mut tx, user.scope.user).await?;
    let details = serde_json::json!({"sessions_revoked": revoked});
    crate::audit::record(&mut tx, user.actor(), "user.password_changed", "user", user.scope.user, details).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether `code` is good for the secret now and was not used before; a
/// good code is used up.
async fn accept_code(pool: &sqlx::PgPool, user: Uuid, secret: &[u8], code: &str) -> Result<bool> {
    let now = Utc::now().timestamp().max(0) as u64;
    let Some(step) = crate::totp::verify(secret, code, now) else { return Ok(false) };
    Ok(users::use_totp_step(pool, user, step as i64).await?)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TotpRequest {
    /// The first code from the app, confirming the set-up.
    code: Option<String>,
}

/// The second factor's set-up. Without a code: a new secret to put in an
/// authenticator app (shown this once). With the app's first code: the
/// factor is on, and every login asks for a code.
#[derive(Debug, Serialize, ToSchema)]
struct TotpState {
    enabled: bool,
    /// base32, shown once
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    otpauth_uri: Option<String>,
}

/// Turns the second factor on for an operator or an admin, in two steps so
/// that a secret never typed into an app locks nobody out.
#[utoipa::path(post, path = "/me/totp",
    summary = "Turn on the second factor: without a code, a new secret for an authenticator app; then with its first code, on (every login then sends \"code\")",
    description = "Who may call it: operator, admin.", request_body = TotpRequest,
    responses((status = 200, description = "success", body = TotpState)))]
async fn totp(
    axum::extract::State(ctx): axum::extract::State<ApiContext>,
    user: AuthUser,
    body: axum::body::Bytes,
) -> Result<Json<TotpState>> {
    if !matches!(user.scope.role, Role::Operator | Role::Admin) {
        return Err(Error::Forbidden("the second factor is for operators and admins"));
    }
    let req: TotpRequest = super::optional_body(&body)?;
    let mut tx = ctx.pool.begin().await?;
    let users::Totp { email, secret, enabled } = users::lock_totp(&mut tx, user.scope.user).await?;
    if enabled {
        return Err(Error::Conflict("the second factor is already on".into()));
    }
    let Some(code) = req.code else {
        let secret = crate::totp::new_secret();
        users::set_totp_secret(&mut tx, user.scope.user, &secret).await?;
        tx.commit().await?;
        let uri = crate::totp::otpauth_uri(&secret, &email);
        return Ok(Json(TotpState {
            enabled: false,
            secret: Some(crate::totp::base32(&secret)),
            otpauth_uri: Some(uri),
        }));
    };
    let secret = secret.ok_or_else(|| Error::Conflict("ask for a secret first (a POST without a code)".into()))?;
    let now = Utc::now().timestamp().max(0) as u64;
    let step = crate::totp::verify(&secret, &code, now)
        .ok_or_else(|| Error::validation("code", "the code does not match: check the app's clock and try again"))?;
    users::enable_totp(&mut tx, user.scope.user, step as i64).await?;
    // Never the secret.
    crate::audit::record(&mut tx, user.actor(), "user.totp_enabled", "user", user.scope.user, serde_json::json!({}))
        .await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.scope.user, "second factor turned on");
    Ok(Json(TotpState { enabled: true, secret: None, otpauth_uri: None }))
}

pub async fn fetch_user(pool: &sqlx::PgPool, id: Uuid) -> Result<User> {
    users::fetch(pool, id).await?.ok_or(Error::NotFound)
}

/// A hash of a password nobody has, for constant-time answers on unknown emails.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo";

/// The longest email address there can be (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// argon2id, off the async runtime: hashing is deliberately slow.
pub async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        crate::domain::account::hash_password(&password).map_err(|e| anyhow::anyhow!("hashing password: {e}"))
    })
    .await
    .map_err(|e| anyhow::anyhow!(e))?
    .map_err(Error::Internal)
}

async fn verify_password(password: String, hash: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await
    .map_err(|e| anyhow::anyhow!(e))?
    .map_err(Error::Internal)
}

pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}
