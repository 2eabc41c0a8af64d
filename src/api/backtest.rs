//! The rule backtest of a resident: what the rules would have raised over
//! their stored history with the settings given. Reads only.

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Path, Result};
use crate::backtest::{self, BacktestError, Report, Request};

/// A long window holds a resident's months of readings in memory while it
/// replays them: a few at a time per process, the rest answered 503.
static RUNNING: Semaphore = Semaphore::const_new(2);

pub fn router() -> Router<ApiContext> {
    Router::new().route("/residents/{id}/backtest", post(run))
}

impl From<BacktestError> for Error {
    fn from(e: BacktestError) -> Self {
        match e {
            BacktestError::Invalid(e) => e.into(),
            BacktestError::NotFound => Error::NotFound,
            BacktestError::Database(e) => e.into(),
            BacktestError::Replay(message) => Error::Internal(anyhow::anyhow!(message)),
        }
    }
}

async fn run(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(request): Json<Request>,
) -> Result<Json<Report>> {
    let id = auth.resident_for_staff(&ctx, id).await?;
    let Ok(_slot) = RUNNING.try_acquire() else {
        return Err(Error::Overloaded("other backtests are running; try again shortly"));
    };
    let tick = chrono::Duration::milliseconds(ctx.settings.scheduler.tick_ms.max(1) as i64);
    Ok(Json(backtest::run(&ctx.pool, &ctx.rule_settings, id, &request, tick).await?))
}
