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
    let mut outage = super::Outage::default();
    let name = format!("the {what} listener");
    loop {
        let result = tokio::select! {
            r = listen(pool, channels, listener, &mut outage, &name) => r,
            _ = shutdown.cancelled() => return,
        };
        listener.lost();
        if let Err(err) = result {
            outage.failed(&name, &err);
        }
        tokio::select! {
            _ = tokio::time::sleep(RECONNECT_AFTER) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

async fn listen(
    pool: &PgPool,
    channels: &[&str],
    listener: &mut impl Listener,
    outage: &mut super::Outage,
    name: &str,
) -> Result<(), sqlx::Error> {
    let mut connection = PgListener::connect_with(pool).await?;
    connection.ignore_pool_close_event(true);
    connection.listen_all(channels.iter().copied()).await?;
    outage.ok(name);
    listener.listening();
    loop {
        // A connection to a primary that froze (no reset: a hung host, a
        // partition) would wait here for ever: after a quiet spell, it
        // must answer a statement in time, or it is given up.
        // `try_recv`, not `recv`: `recv` reconnects by itself, and what was
        // announced in between would be missed unseen.
        let notification = match tokio::time::timeout(QUIET_CHECK, connection.try_recv()).await {
            Ok(Ok(Some(notification))) => notification,
            Ok(Ok(None)) => return Err(sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into())),
            Ok(Err(err)) => return Err(err),
            Err(_) => {
                let answered = tokio::time::timeout(ANSWER_WITHIN, sqlx::query("select 1").execute(&mut connection));
                match answered.await {
                    Ok(result) => {
                        result?;
                        continue;
                    }
                    Err(_) => return Err(sqlx::Error::Io(std::io::ErrorKind::TimedOut.into())),
                }
            }
        };
        listener.heard(pool, notification).await?;
    }
}

/// How long a listener hears nothing before checking its connection.
const QUIET_CHECK: Duration = Duration::from_secs(5);
/// How long the check may take before the connection is given up.
const ANSWER_WITHIN: Duration = Duration::from_secs(3);
