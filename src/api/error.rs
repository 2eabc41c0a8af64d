//! The one error type of the HTTP API. Every failure leaves as
//! `{"error": {"code": "...", "message": "..."}}` with the contract's status;
//! internal errors are logged and never shown to the client.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid bearer token")]
    Unauthorized,
    #[error("wrong email or password")]
    BadCredentials,
    #[error("this account asks for a code from its authenticator app: send it as \"code\"")]
    TotpRequired,
    /// Too many failed attempts: answered with `Retry-After`, the seconds
    /// until the window has slid far enough for another.
    #[error("too many attempts; try again later")]
    TooManyRequests { retry_after: std::time::Duration },
    /// Every password-hashing slot and queue place is taken.
    #[error("the server is busy checking passwords; try again shortly")]
    Busy,
    /// The server is at one of its capacity limits (requests in progress,
    /// live streams): answered 503 with `Retry-After`.
    #[error("{0}")]
    Overloaded(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    /// The id number names an elder already registered: enrol them instead.
    #[error("an elder with this id number is registered already: enrol them instead")]
    AlreadyRegistered(uuid::Uuid),
    #[error("{message}")]
    Validation { field: String, message: String },
    /// A well-formed request the state of things refuses, with a code of
    /// its own (`nothing_to_claim`, `no_valid_assessment`): 422.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("the broker did not confirm the change; nothing was changed, try again")]
    BrokerUnavailable(crate::broker::BrokerError),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn refused(code: &'static str, message: impl Into<String>) -> Self {
        Error::Refused { code, message: message.into() }
    }

    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        Error::Validation { field: field.to_owned(), message: message.into() }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Error::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Error::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Error::BadCredentials => (StatusCode::UNAUTHORIZED, "bad_credentials"),
            Error::TotpRequired => (StatusCode::UNAUTHORIZED, "totp_required"),
            Error::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            Error::Busy | Error::Overloaded(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Error::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Error::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Error::AlreadyRegistered(_) => (StatusCode::CONFLICT, "already_registered"),
            Error::Validation { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            Error::Refused { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            Error::BrokerUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "broker_unavailable"),
            Error::Database(_) | Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let mut body = json!({"error": {"code": code, "message": self.to_string()}});
        match &self {
            Error::Validation { field, .. } => body["error"]["field"] = json!(field),
            Error::AlreadyRegistered(resident) => body["error"]["resident_id"] = json!(resident),
            Error::Database(sqlx::Error::PoolTimedOut) => {
                tracing::warn!("database unavailable");
                body["error"]["code"] = json!("unavailable");
                body["error"]["message"] = json!("the database is unavailable; try again");
                return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
            }
            // PostgreSQL text cannot hold NUL: the input was not storable.
            Error::Database(sqlx::Error::Database(db)) if db.code().as_deref() == Some("22021") => {
                body["error"]["code"] = json!("validation_failed");
                body["error"]["message"] = json!("text must not contain NUL characters");
                return (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
            }
            Error::Database(err) if crate::store::statement_timed_out(err) => {
                tracing::warn!("an API query ran past the statement timeout");
                body["error"]["code"] = json!("timeout");
                body["error"]["message"] = json!("the query took too long; narrow it or try again");
                return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
            }
            Error::Database(err) => tracing::error!(cause = %err, "database error"),
            Error::Internal(err) => tracing::error!(cause = ?err, "internal error"),
            Error::TooManyRequests { retry_after } => {
                let seconds = retry_after.as_secs().max(1).to_string();
                return (status, [(axum::http::header::RETRY_AFTER, seconds)], Json(body)).into_response();
            }
            Error::Busy | Error::Overloaded(_) => {
                return (status, [(axum::http::header::RETRY_AFTER, "1")], Json(body)).into_response();
            }
            Error::BrokerUnavailable(err) => tracing::warn!(cause = %err, "broker change not confirmed"),
            _ => {}
        }
        (status, Json(body)).into_response()
    }
}

impl From<JsonRejection> for Error {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            // Well-formed JSON of the wrong shape: a field is missing, unknown
            // or of the wrong type.
            JsonRejection::JsonDataError(e) => Error::Validation { field: String::new(), message: e.body_text() },
            other => Error::BadRequest(other.body_text()),
        }
    }
}

impl From<QueryRejection> for Error {
    fn from(rejection: QueryRejection) -> Self {
        Error::BadRequest(rejection.body_text())
    }
}

impl From<PathRejection> for Error {
    /// A path id that cannot be parsed cannot name anything that exists.
    fn from(_: PathRejection) -> Self {
        Error::NotFound
    }
}

/// Maps a unique or foreign-key violation to a client error; anything else
/// stays an internal error.
pub trait ResultExt<T> {
    fn on_constraint(self, name: &str, map: impl FnOnce() -> Error) -> Result<T>;
}

impl<T, E: Into<Error>> ResultExt<T> for std::result::Result<T, E> {
    fn on_constraint(self, name: &str, map: impl FnOnce() -> Error) -> Result<T> {
        self.map_err(|e| match e.into() {
            Error::Database(sqlx::Error::Database(db)) if db.constraint() == Some(name) => map(),
            e => e,
        })
    }
}

impl From<crate::broker::BrokerError> for Error {
    fn from(err: crate::broker::BrokerError) -> Self {
        use crate::broker::BrokerError as B;
        match err {
            B::Foreign(name) => {
                Error::Conflict(format!("the broker already has an account named {name:?}: choose another id"))
            }
            B::Database(e) => Error::Database(e),
            other => Error::BrokerUnavailable(other),
        }
    }
}

/// The 503 of an operation that hashes a password.
pub const HASHING_BUSY: &str = "the database is unavailable, a query ran past the statement timeout (`timeout`), the \
    server is at its limit of requests in progress or every password-hashing slot is busy (`busy`, with \
    `Retry-After`); try again";

/// The body of every error answer.
#[derive(utoipa::ToSchema)]
#[schema(as = Error)]
#[allow(dead_code)] // only its schema is used: errors are written by `Error`
pub struct ErrorBody {
    #[schema(inline)]
    error: ErrorDetail,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct ErrorDetail {
    code: String,
    message: String,
    #[schema(required = false)]
    field: String,
    /// `already_registered`: the elder registered under the id number.
    #[schema(required = false)]
    resident_id: uuid::Uuid,
}
