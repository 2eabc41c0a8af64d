//! Hearing what any process announces on a PostgreSQL channel: one loop for
//! every listener, which listens again after a lost connection.

use std::future::Future;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgNotification};
use tokio_util::sync::CancellationToken;

/// How long to wait before listening again after a lost connection.
const RECONNECT_AFTER: Duration = Duration::from_millis(500);

/// What a listener does with what it hears.
pub trait Listener: Send {
    /// Listening (again): whatever was announced while nobody listened was
    /// missed.
    fn listening(&mut self) {}

    /// One announcement. An error drops the connection and listens again.
    fn heard(
        &mut self,
        pool: &PgPool,
        notification: PgNotification,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// The connection was lost: nothing is heard until [`Self::listening`].
    fn lost(&mut self) {}
}

/// Hears `channels` until `shutdown`, listening again after a lost
/// connection; `what` names the listener in the log.
pub async fn follow(
    pool: &PgPool,
    what: &str,
    channels: &[&str],
    listener: &mut impl Listener,
    shutdown: &CancellationToken,
) {
    loop {
        let result = tokio::select! {
            r = listen(pool, channels, listener) => r,
            _ = shutdown.cancelled() => return,
        };
        listener.lost();
        if let Err(err) = result {
            tracing::warn!(cause = %err, "{what} listener lost its connection; reconnecting");
        }
        tokio::select! {
            _ = tokio::time::sleep(RECONNECT_AFTER) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

async fn listen(pool: &PgPool, channels: &[&str], listener: &mut impl Listener) -> Result<(), sqlx::Error> {
    let mut connection = PgListener::connect_with(pool).await?;
    connection.ignore_pool_close_event(true);
    connection.listen_all(channels.iter().copied()).await?;
    listener.listening();
    loop {
        let notification = connection.recv().await?;
        listener.heard(pool, notification).await?;
    }
}
