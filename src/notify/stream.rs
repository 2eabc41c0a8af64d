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
}

impl Default for AlertHub {
    fn default() -> Self {
        // A slow client that falls this far behind is told to resync.
        let (tx, _) = broadcast::channel(4096);
        // A stream that falls behind re-checks its session anyway.
        let (ended, _) = broadcast::channel(1024);
        let (reach, _) = broadcast::channel(1024);
        AlertHub { tx, ended, reach }
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

    /// Listens for changes until `shutdown`, reconnecting after errors.
    pub async fn run(mut self, pool: PgPool, shutdown: CancellationToken) {
        let channels = [NOTIFY_CHANNEL, sessions::ENDED_CHANNEL, REACH_CHANNEL];
        listen::follow(&pool, "alert", &channels, &mut self, &shutdown).await;
    }
}

impl listen::Listener for AlertHub {
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
        let mut conn = pool.acquire().await?;
        if let Some(alert) = alerts::fetch(&mut conn, note.id).await? {
            // No receivers is fine: nobody is watching.
            let _ = self.tx.send(Arc::new(AlertChange { change: note.event, alert }));
        }
        Ok(())
    }
}
