//! The rule backtest of a resident: what the rules would have raised over
//! their stored history with the settings given. Reads only.

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Json, Path, Result};
use crate::backtest::{self, BacktestError, Report, Request, Slot};
use crate::domain::AccessKind;
use crate::domain::scope::Monitoring;

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(run))
}

impl From<BacktestError> for Error {
    fn from(e: BacktestError) -> Self {
        match e {
            BacktestError::Invalid(e) => e.into(),
            BacktestError::NotFound => Error::NotFound,
            BacktestError::Database(e) => e.into(),
            BacktestError::Replay(message) => Error::Internal(anyhow::anyhow!(message)),
            // Only when the process is stopping: a request that went away
            // is answered to no one.
            BacktestError::Stopped => Error::Overloaded("the server is stopping; try again shortly"),
        }
    }
}

/// A long window holds a resident's months of history in memory while it
/// replays them: `backtest.max_concurrent` at a time per process, the rest
/// answered 503. The replay stops when this request goes (its client
/// disconnects or the request times out), and the place is given back only
/// once it has.
#[utoipa::path(post, path = "/residents/{id}/backtest",
    summary = "Rule backtest: what the rules would have raised over the resident's stored history in [from, to) (at most 366 days) with these settings, each part merged over the resident's effective settings; writes nothing",
    description = "Who may call it: admin, staff.", params(("id" = Uuid, Path)), request_body = Request,
    responses((status = 200, description = "success", body = Report)))]
async fn run(
    State(ctx): State<ApiContext>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(request): Json<Request>,
) -> Result<Json<Report>> {
    let reached = auth.reach_for_staff::<Monitoring>(&ctx, id).await?;
    let id = reached.id();
    let Ok(permit) = ctx.backtests.clone().try_acquire_owned() else {
        return Err(Error::Overloaded("other backtests are running; try again shortly"));
    };
    let stop = ctx.shutdown.child_token();
    // Dropped with this handler, finished or not: the replay sees it at its
    // next step.
    let _stop_when_dropped = stop.clone().drop_guard();
    let tick = chrono::Duration::milliseconds(ctx.settings.scheduler.tick_ms.max(1) as i64);
    let slot = Slot::of(permit, ctx.metrics.clone());
    let report = backtest::run(ctx.read.pool(), &ctx.rule_settings, &reached, &request, tick, stop, slot).await?;
    // What the replay found is drawn from the resident's whole history in
    // the window: a read of it, logged as it is answered (as the readings
    // are), so a refused or abandoned run discloses nothing and logs nothing.
    auth.log_read(&ctx, AccessKind::Backtest, id).await?;
    Ok(Json(report))
}
