//! The live feed of alert changes. Every change is NOTIFYed by the
//! transaction that made it; each process listens and fans the changes out to
//! its SSE clients, so a change made by any `serve` process reaches every
//! console. Ended sessions are announced the same way, so a stream opened
//! with one closes at once, whichever process ended it.

use std::sync::Arc;

use serde::Deserialize;
use sqlx::PgPool;
use sqlx::postgres::PgNotification;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::domain::Change;
use crate::domain::notify::REACH_CHANNEL;
use crate::store::alerts::{self, Alert, NOTIFY_CHANNEL};
use crate::store::{listen, sessions};

#[derive(Debug, Clone)]
pub struct AlertChange {
    pub change: Change,
    pub alert: Alert,
}

#[derive(Clone)]
pub struct AlertHub {
    tx: broadcast::Sender<Arc<AlertChange>>,
    /// Users some session of whom just ended.
    ended: broadcast::Sender<Uuid>,
    /// Users whose reach just changed.
    reach: broadcast::Sender<Uuid>,
    /// The feed may have missed changes (its listener reconnected, or an
    /// announced alert could not be read): every client reloads.
    resync: broadcast::Sender<()>,
    /// The listener lost its connection since it last listened.
    lost: bool,
}

impl Default for AlertHub {
    fn default() -> Self {
        // A slow client that falls this far behind is told to resync.
        let (tx, _) = broadcast::channel(4096);
        // A stream that falls behind re-checks its session anyway.
        let (ended, _) = broadcast::channel(1024);
        let (reach, _) = broadcast::channel(1024);
        let (resync, _) = broadcast::channel(16);
        AlertHub { tx, ended, reach, resync, lost: false }
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

    /// The users some session of whom ended, as it happens.
    pub fn sessions_ended(&self) -> broadcast::Receiver<Uuid> {
        self.ended.subscribe()
    }

    /// The users whose reach changed, as it happens.
    pub fn reach_changed(&self) -> broadcast::Receiver<Uuid> {
        self.reach.subscribe()
    }

    /// Each time the feed may have missed changes.
    pub fn resyncs(&self) -> broadcast::Receiver<()> {
        self.resync.subscribe()
    }

    /// Listens for changes until `shutdown`, reconnecting after errors.
    pub async fn run(mut self, pool: PgPool, shutdown: CancellationToken) {
        let channels = [NOTIFY_CHANNEL, sessions::ENDED_CHANNEL, REACH_CHANNEL];
        listen::follow(&pool, "alert", &channels, &mut self, &shutdown).await;
    }
}

impl listen::Listener for AlertHub {
    /// Listening again after a lost connection: whatever committed while
    /// nobody listened was never heard, so every client reloads (after the
    /// LISTEN, so that nothing committed after their reload is missed).
    fn listening(&mut self) {
        if std::mem::take(&mut self.lost) {
            tracing::info!("alert listener back; telling live streams to resync");
            let _ = self.resync.send(());
        }
    }

    fn lost(&mut self) {
        self.lost = true;
    }

    async fn heard(&mut self, pool: &PgPool, notification: PgNotification) -> Result<(), sqlx::Error> {
        let about_user = match notification.channel() {
            sessions::ENDED_CHANNEL => Some(&self.ended),
            REACH_CHANNEL => Some(&self.reach),
            _ => None,
        };
        if let Some(channel) = about_user {
            if let Ok(user) = notification.payload().parse() {
                let _ = channel.send(user);
            }
            return Ok(());
        }
        let Ok(note) = serde_json::from_str::<Note>(notification.payload()) else { return Ok(()) };
        // An alert that cannot be read now is never dropped: the error
        // drops the connection, and listening again tells every client to
        // reload.
        let mut conn = pool.acquire().await?;
        if let Some(alert) = alerts::fetch(&mut conn, note.id).await? {
            // No receivers is fine: nobody is watching.
            let _ = self.tx.send(Arc::new(AlertChange { change: note.event, alert }));
        }
        Ok(())
    }
}
