//! The live feed of alert changes. Every change is NOTIFYed by the
//! transaction that made it; each process listens and fans the changes out to
//! its SSE clients, so a change made by any `serve` process reaches every
//! console.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::alerts::{self, Alert, NOTIFY_CHANNEL};
use crate::domain::Change;

#[derive(Debug, Clone)]
pub struct AlertChange {
    pub change: Change,
    pub alert: Alert,
}

#[derive(Clone)]
pub struct AlertHub {
    tx: broadcast::Sender<Arc<AlertChange>>,
}

impl Default for AlertHub {
    fn default() -> Self {
        // A slow client that falls this far behind is told to resync.
        let (tx, _) = broadcast::channel(4096);
        AlertHub { tx }
    }
}

#[derive(Deserialize)]
struct Note {
    id: Uuid,
    event: Change,
}

impl AlertHub {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<AlertChange>> {
        self.tx.subscribe()
    }

    /// Listens for changes until `shutdown`, reconnecting after errors.
    pub async fn run(self, pool: PgPool, shutdown: CancellationToken) {
        loop {
            let result = tokio::select! {
                r = self.listen(&pool) => r,
                _ = shutdown.cancelled() => return,
            };
            if let Err(err) = result {
                tracing::warn!(cause = %err, "alert listener lost its connection; reconnecting");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    async fn listen(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.ignore_pool_close_event(true);
        listener.listen(NOTIFY_CHANNEL).await?;
        loop {
            let notification = listener.recv().await?;
            let Ok(note) = serde_json::from_str::<Note>(notification.payload()) else { continue };
            let mut conn = pool.acquire().await?;
            if let Some(alert) = alerts::fetch(&mut conn, note.id).await? {
                // No receivers is fine: nobody is watching.
                let _ = self.tx.send(Arc::new(AlertChange { change: note.event, alert }));
            }
        }
    }
}
