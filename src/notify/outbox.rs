//! What the webhook and the notification outboxes share: the claim loop
//! (go again at once while there is work, poll gently when idle), a cap on
//! sends in flight, and one batch in flight per target, so a slow target
//! holds at most one batch of permits and is not claimed again until it
//! ends. Each outbox claims its due rows with a lease in SQL and says how
//! a batch for one target is sent.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// An outbox: claims what is due and spawns its sends on `sending`,
/// answering how many it claimed.
pub trait Claim {
    fn claim(&self, sending: &mut JoinSet<()>) -> impl Future<Output = Result<usize, sqlx::Error>> + Send;
}

/// Claims until `shutdown`. Dropping `sending` at shutdown aborts the sends
/// in flight: their leases run out and they are sent again (at least once).
pub async fn run(what: &'static str, outbox: impl Claim, idle: Duration, shutdown: CancellationToken) {
    let mut sending = JoinSet::new();
    loop {
        while sending.try_join_next().is_some() {}
        let claimed = match outbox.claim(&mut sending).await {
            Ok(n) => n,
            Err(err) => {
                tracing::warn!(cause = %err, "{what} outbox");
                0
            }
        };
        let pause = if claimed > 0 { Duration::ZERO } else { idle };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Sends in flight, overall and per target.
pub struct Lanes<K> {
    permits: Arc<Semaphore>,
    busy: Arc<Mutex<HashSet<K>>>,
}

impl<K: Eq + Hash + Clone + Send + 'static> Lanes<K> {
    pub fn new(max_in_flight: usize) -> Self {
        Lanes { permits: Arc::new(Semaphore::new(max_in_flight)), busy: Arc::default() }
    }

    /// How many rows to claim now: what is free, at most `batch`.
    pub fn free(&self, batch: usize) -> usize {
        self.permits.available_permits().min(batch)
    }

    /// The targets with a batch in flight, to leave out of the claim.
    pub fn busy(&self) -> Vec<K> {
        self.busy.lock().map(|b| b.iter().cloned().collect()).unwrap_or_default()
    }

    /// Groups the claimed rows by target and sends each group on a task of
    /// its own with `send`, the target marked busy until it ends.
    pub fn dispatch<D, F, Fut>(&self, sending: &mut JoinSet<()>, claimed: Vec<D>, target: impl Fn(&D) -> K, send: F)
    where
        D: Send + 'static,
        F: Fn(Vec<D>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut groups: HashMap<K, Vec<D>> = HashMap::new();
        for d in claimed {
            groups.entry(target(&d)).or_default().push(d);
        }
        for (key, batch) in groups {
            // Only the claim loop takes permits, and it claimed no more than
            // were free; were one missing, the rows wait out their lease.
            let Ok(permit) = self.permits.clone().try_acquire_many_owned(batch.len() as u32) else {
                continue;
            };
            if let Ok(mut b) = self.busy.lock() {
                b.insert(key.clone());
            }
            let busy = self.busy.clone();
            let sent = send(batch);
            sending.spawn(async move {
                sent.await;
                if let Ok(mut b) = busy.lock() {
                    b.remove(&key);
                }
                drop(permit);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_busy_target_gets_no_second_batch_and_permits_come_back() {
        let lanes: Lanes<&'static str> = Lanes::new(3);
        let mut sending = JoinSet::new();
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let wait = Arc::new(tokio::sync::Mutex::new(Some(wait)));
        lanes.dispatch(
            &mut sending,
            vec![("a", 1), ("a", 2), ("b", 3)],
            |d| d.0,
            |batch| {
                let wait = wait.clone();
                async move {
                    if batch[0].0 == "a"
                        && let Some(w) = wait.lock().await.take()
                    {
                        let _ = w.await;
                    }
                }
            },
        );
        // b's batch ends on its own; a's waits.
        sending.join_next().await;
        assert_eq!(lanes.busy(), vec!["a"]);
        assert_eq!(lanes.free(10), 1, "a still holds two permits");
        release.send(()).unwrap();
        sending.join_next().await;
        assert!(lanes.busy().is_empty());
        assert_eq!(lanes.free(10), 3);
        assert_eq!(lanes.free(2), 2, "never more than a batch");
    }
}
