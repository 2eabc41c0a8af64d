//! What the webhook and the notification outboxes share: the claim loop
//! (go again at once while there is work, poll gently when idle), a cap on
//! sends in flight, and one batch in flight per lane (a target's urgent or
//! chatter queue), so a slow target holds at most one short batch of
//! permits per lane and is not claimed again until it ends. Permits are
//! kept for urgent lanes, so chatter to many slow targets cannot take them
//! all. Each outbox claims its due rows with a lease in SQL and says how a
//! batch for one lane is sent.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// An outbox: how it leases its due rows, which lane each goes in, and how
/// a lane's batch is sent. The claim around them is [`run`]'s, the same for
/// every outbox.
pub trait Outbox: Sync {
    type Key: Clone + Eq + Hash + Send + 'static;
    type Row: Send + 'static;

    /// The most rows claimed at once.
    const BATCH: usize;

    fn lanes(&self) -> &Lanes<Self::Key>;

    /// Leases up to `free` due rows, none in a busy lane.
    fn lease(&self, free: usize) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send;

    fn lane(row: &Self::Row) -> Lane<Self::Key>;

    /// Sends one lane's batch, one row after another or together.
    fn send(&self, batch: Vec<Self::Row>) -> impl Future<Output = ()> + Send + 'static;
}

/// Claims what is due, as many as there are free permits, and spawns each
/// lane's sends on `sending`; answers how many it claimed.
async fn claim<O: Outbox>(outbox: &O, sending: &mut JoinSet<()>) -> Result<usize, sqlx::Error> {
    let free = outbox.lanes().free(O::BATCH);
    if free == 0 {
        return Ok(0);
    }
    let due = outbox.lease(free).await?;
    let n = due.len();
    outbox.lanes().dispatch(sending, due, O::lane, |batch| outbox.send(batch));
    Ok(n)
}

/// Claims until `shutdown`. Dropping `sending` at shutdown aborts the sends
/// in flight: their leases run out and they are sent again (at least once).
pub async fn run(what: &'static str, outbox: impl Outbox, idle: Duration, shutdown: CancellationToken) {
    let mut sending = JoinSet::new();
    let mut outage = crate::store::Outage::default();
    let name = format!("the {what} outbox");
    loop {
        while sending.try_join_next().is_some() {}
        let claimed = match claim(&outbox, &mut sending).await {
            Ok(n) => {
                outage.ok(&name);
                n
            }
            Err(err) => {
                outage.failed(&name, &err);
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

/// One target's queue of one urgency. A target (a push endpoint, a
/// gateway) has an urgent lane and a chatter lane, each with at most one
/// batch in flight: an alarm never waits behind messages to the same phone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lane<K> {
    pub target: K,
    pub urgent: bool,
}

impl<K> Lane<K> {
    /// The one lane of an outbox that knows no urgency.
    pub fn chatter(target: K) -> Self {
        Lane { target, urgent: false }
    }
}

/// Sends in flight, overall and per lane, with permits kept for urgent
/// lanes: chatter to many slow targets cannot take them all.
pub struct Lanes<K> {
    permits: Arc<Semaphore>,
    /// What chatter may hold: every permit but the ones kept for urgent
    /// lanes. A chatter batch takes from both.
    chatter: Arc<Semaphore>,
    busy: Arc<Mutex<HashSet<Lane<K>>>>,
}

impl<K: Eq + Hash + Clone + Send + 'static> Lanes<K> {
    /// `urgent_reserve` of the `max_in_flight` permits are for urgent lanes
    /// only.
    pub fn new(max_in_flight: usize, urgent_reserve: usize) -> Self {
        Lanes {
            permits: Arc::new(Semaphore::new(max_in_flight)),
            chatter: Arc::new(Semaphore::new(max_in_flight.saturating_sub(urgent_reserve))),
            busy: Arc::default(),
        }
    }

    /// How many rows to claim now: what is free, at most `batch`.
    pub fn free(&self, batch: usize) -> usize {
        self.permits.available_permits().min(batch)
    }

    /// How many of them may be chatter.
    pub fn free_chatter(&self, batch: usize) -> usize {
        self.chatter.available_permits().min(self.free(batch))
    }

    /// The targets whose lane of this urgency has a batch in flight, to
    /// leave out of the claim.
    pub fn busy(&self, urgent: bool) -> Vec<K> {
        self.busy
            .lock()
            .map(|b| b.iter().filter(|l| l.urgent == urgent).map(|l| l.target.clone()).collect())
            .unwrap_or_default()
    }

    /// Which of the `offered` rows (in claim order) to take now: see [`pick`].
    pub fn pick<T>(&self, offered: &[T], lane: impl Fn(&T) -> Lane<K>, per_lane: usize, batch: usize) -> Vec<usize> {
        let busy = self.busy.lock().map(|b| b.clone()).unwrap_or_default();
        pick(offered, lane, &busy, per_lane, self.free(batch), self.free_chatter(batch))
    }

    /// Groups the claimed rows by lane and sends each group on a task of
    /// its own with `send`, the lane marked busy until it ends.
    pub fn dispatch<D, F, Fut>(&self, sending: &mut JoinSet<()>, claimed: Vec<D>, lane: impl Fn(&D) -> Lane<K>, send: F)
    where
        D: Send + 'static,
        F: Fn(Vec<D>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut groups: HashMap<Lane<K>, Vec<D>> = HashMap::new();
        for d in claimed {
            groups.entry(lane(&d)).or_default().push(d);
        }
        // Urgent lanes first: they take their permits before any chatter.
        let (urgent, chatter): (Vec<_>, Vec<_>) = groups.into_iter().partition(|(l, _)| l.urgent);
        for (key, batch) in urgent.into_iter().chain(chatter) {
            let n = batch.len() as u32;
            // Only the claim loop takes permits, and it claimed no more than
            // were free; were one missing, the rows wait out their lease.
            let chatter = if key.urgent {
                None
            } else {
                let Ok(permit) = self.chatter.clone().try_acquire_many_owned(n) else { continue };
                Some(permit)
            };
            let Ok(permit) = self.permits.clone().try_acquire_many_owned(n) else { continue };
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
                drop((permit, chatter));
            });
        }
    }
}

/// Which of the `offered` rows, in the order they were offered (urgent
/// first, then oldest), to take now: none of a lane that is `busy`, at most
/// `per_lane` of any lane (a slow target's batch stays short, and it holds
/// few permits), at most `free` in all and `free_chatter` of the chatter.
/// Answers their indices, in offered order.
pub fn pick<K: Eq + Hash, T>(
    offered: &[T],
    lane: impl Fn(&T) -> Lane<K>,
    busy: &HashSet<Lane<K>>,
    per_lane: usize,
    free: usize,
    free_chatter: usize,
) -> Vec<usize> {
    let mut taken: HashMap<Lane<K>, usize> = HashMap::new();
    let (mut left, mut chatter_left) = (free, free_chatter);
    let mut out = Vec::new();
    for (i, row) in offered.iter().enumerate() {
        if left == 0 {
            break;
        }
        let l = lane(row);
        let urgent = l.urgent;
        if busy.contains(&l) || (!urgent && chatter_left == 0) {
            continue;
        }
        let n = taken.entry(l).or_default();
        if *n >= per_lane {
            continue;
        }
        *n += 1;
        left -= 1;
        if !urgent {
            chatter_left -= 1;
        }
        out.push(i);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    type Row = (&'static str, bool);

    fn lane(r: &Row) -> Lane<&'static str> {
        Lane { target: r.0, urgent: r.1 }
    }

    #[tokio::test]
    async fn a_busy_lane_gets_no_second_batch_and_permits_come_back() {
        let lanes: Lanes<&'static str> = Lanes::new(3, 0);
        let mut sending = JoinSet::new();
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let wait = Arc::new(tokio::sync::Mutex::new(Some(wait)));
        lanes.dispatch(&mut sending, vec![("a", false), ("a", false), ("b", false)], lane, |batch| {
            let wait = wait.clone();
            async move {
                if batch[0].0 == "a"
                    && let Some(w) = wait.lock().await.take()
                {
                    let _ = w.await;
                }
            }
        });
        // b's batch ends on its own; a's waits.
        sending.join_next().await;
        assert_eq!(lanes.busy(false), vec!["a"]);
        assert!(lanes.busy(true).is_empty(), "a's urgent lane is free");
        assert_eq!(lanes.free(10), 1, "a still holds two permits");
        release.send(()).unwrap();
        sending.join_next().await;
        assert!(lanes.busy(false).is_empty());
        assert_eq!(lanes.free(10), 3);
        assert_eq!(lanes.free(2), 2, "never more than a batch");
    }

    #[test]
    fn urgent_rows_go_first_and_a_lane_takes_at_most_its_share() {
        // A thousand messages to one endpoint, then an SOS to it and to
        // another one, offered in claim order (urgent first, then oldest).
        let mut offered: Vec<Row> = vec![("slow", true), ("other", true)];
        offered.extend(std::iter::repeat_n(("slow", false), 1000));
        offered.push(("other", false));
        let picked = pick(&offered, lane, &HashSet::new(), 8, 256, 256);
        let rows: Vec<Row> = picked.iter().map(|&i| offered[i]).collect();
        assert_eq!(rows[..2], [("slow", true), ("other", true)], "the alarms first");
        assert_eq!(rows.iter().filter(|r| **r == ("slow", false)).count(), 8, "the chatter lane's share");
        assert_eq!(rows.last(), Some(&("other", false)), "another endpoint's message is not held up");
        assert_eq!(rows.len(), 11);
    }

    #[test]
    fn a_busy_chatter_lane_leaves_the_urgent_lane_of_its_endpoint_free() {
        let offered: Vec<Row> = vec![("slow", true), ("slow", false), ("slow", false)];
        let busy = HashSet::from([Lane { target: "slow", urgent: false }]);
        assert_eq!(pick(&offered, lane, &busy, 8, 256, 256), vec![0]);
        let busy = HashSet::from([Lane { target: "slow", urgent: true }]);
        assert_eq!(pick(&offered, lane, &busy, 8, 256, 256), vec![1, 2]);
    }

    #[test]
    fn chatter_stops_at_its_permits_and_urgent_rows_take_the_reserve() {
        let offered: Vec<Row> = vec![("a", false), ("b", false), ("c", false), ("d", true), ("e", true)];
        assert_eq!(pick(&offered, lane, &HashSet::new(), 8, 4, 1), vec![0, 3, 4]);
        assert_eq!(pick(&offered, lane, &HashSet::new(), 8, 2, 0), vec![3, 4]);
        assert_eq!(pick(&offered, lane, &HashSet::new(), 8, 0, 0), Vec::<usize>::new());
    }

    #[tokio::test]
    async fn chatter_cannot_take_the_permits_kept_for_urgent_lanes() {
        let lanes: Lanes<&'static str> = Lanes::new(4, 2);
        assert_eq!((lanes.free(10), lanes.free_chatter(10)), (4, 2));
        let mut sending = JoinSet::new();
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let wait = Arc::new(tokio::sync::Mutex::new(Some(wait)));
        let hold = move |_batch: Vec<Row>| {
            let wait = wait.clone();
            async move {
                if let Some(w) = wait.lock().await.take() {
                    let _ = w.await;
                }
            }
        };
        lanes.dispatch(&mut sending, vec![("a", false), ("a", false)], lane, hold.clone());
        assert_eq!((lanes.free(10), lanes.free_chatter(10)), (2, 0), "chatter is at its share");
        let offered: Vec<Row> = vec![("b", false), ("b", true)];
        assert_eq!(lanes.pick(&offered, lane, 8, 10), vec![1], "only the alarm goes");
        lanes.dispatch(&mut sending, vec![("b", false)], lane, hold);
        assert_eq!(lanes.free(10), 2, "a chatter batch beyond its share is not sent");
        release.send(()).unwrap();
        while sending.join_next().await.is_some() {}
        assert_eq!((lanes.free(10), lanes.free_chatter(10)), (4, 2));
    }
}
