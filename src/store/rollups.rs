//! The hourly rollup of readings on plain PostgreSQL (TimescaleDB keeps a
//! continuous aggregate of the same name and columns instead, see
//! `store::timescale`): per resident, metric and UTC hour, the count, sum,
//! minimum and maximum of the readings, so that hourly and daily buckets over
//! months read a few thousand rows instead of every reading.
//!
//! The scheduler's leader runs [`roll_up`]: it sums up the hours from
//! `rollup_state.rolled_until` to the current hour, and sums up again every
//! older hour that received readings since the last run (late data: the
//! ingest accepts readings up to 30 days old). Such hours are listed in
//! `rollup_dirty` by a trigger on `readings`, in the inserting transaction.
//! A run is one repeatable-read transaction: the readings it sums up and the
//! dirty marks it consumes are those of one snapshot, so a reading committed
//! during the run leaves its mark for the next one. Two runs at once (a
//! change of leader) cannot both commit: the second fails with a
//! serialization error and is tried again.
//!
//! Reads take the rolled-up hours from `readings_hourly`, and the hours
//! still marked in `rollup_dirty` and everything from `rolled_until` on from
//! raw readings (`store::data::buckets`), so a bucket's figures are always
//! those of the raw readings.

use chrono::{DateTime, Duration, DurationRound, Utc};
use sqlx::PgPool;

/// Its row in `rollup_state`.
const NAME: &str = "readings_hourly";
/// The most history one transaction sums up: the first run over a long
/// history is a series of bounded transactions, not one long one.
const STEP: Duration = Duration::days(31);
/// A run that meets a concurrent one is tried again this many times.
const ATTEMPTS: u32 = 3;

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rolled {
    /// Every hour before this is rolled up.
    pub until: DateTime<Utc>,
    /// Hours already rolled up that were summed up again (late readings).
    pub hours_redone: usize,
    /// Whether `until` reached the current hour (otherwise run again).
    pub caught_up: bool,
}

fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::hours(1)).unwrap_or(t)
}

/// Rolls up what changed since the last run, up to the hour of `now`.
pub async fn roll_up(pool: &PgPool, now: DateTime<Utc>) -> Result<Rolled, sqlx::Error> {
    let mut attempt = 1;
    loop {
        match roll_up_once(pool, now).await {
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("40001") && attempt < ATTEMPTS => {
                attempt += 1;
            }
            done => return done,
        }
    }
}

/// Rolls up until caught up with `now`, a bounded step at a time.
pub async fn catch_up(pool: &PgPool, now: DateTime<Utc>) -> Result<Rolled, sqlx::Error> {
    loop {
        let rolled = roll_up(pool, now).await?;
        if rolled.caught_up {
            return Ok(rolled);
        }
    }
}

async fn roll_up_once(pool: &PgPool, now: DateTime<Utc>) -> Result<Rolled, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("set transaction isolation level repeatable read").execute(&mut *tx).await?;
    let current_hour = hour_of(now);
    let rolled_until: Option<DateTime<Utc>> =
        sqlx::query_scalar("select rolled_until from rollup_state where name = $1")
            .bind(NAME)
            .fetch_optional(&mut *tx)
            .await?;
    let start = match rolled_until {
        Some(until) => until,
        // The first run starts from the oldest reading.
        None => sqlx::query_scalar::<_, Option<DateTime<Utc>>>(
            "select date_bin('1 hour', min(ts), timestamptz '2000-01-01 00:00:00+00') from readings
             where resident_id is not null",
        )
        .fetch_one(&mut *tx)
        .await?
        .unwrap_or(current_hour)
        .min(current_hour),
    };
    let until = (start + STEP).min(current_hour).max(start);
    // The marks this snapshot sees; their readings are in it too. Marks of
    // hours not rolled up yet need nothing: those hours are summed up when
    // the rollup reaches them.
    let redo: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "with marks as (delete from rollup_dirty returning hour)
         select distinct hour from marks where hour < $1 order by 1",
    )
    .bind(start)
    .fetch_all(&mut *tx)
    .await?;
    if !redo.is_empty() {
        // Runs of consecutive hours are read as one range each: a day of
        // late data (a gateway's backlog) is one index range, not 24.
        let (lo, hi): (Vec<_>, Vec<_>) = ranges(&redo).into_iter().unzip();
        sqlx::query(
            "insert into readings_hourly (resident_id, metric, bucket, count, sum, min, max)
             select r.resident_id, r.metric, date_bin('1 hour', r.ts, timestamptz '2000-01-01 00:00:00+00'),
                    count(*), sum(r.value), min(r.value), max(r.value)
             from unnest($1::timestamptz[], $2::timestamptz[]) as h (lo, hi)
             join readings r on r.ts >= h.lo and r.ts < h.hi
             where r.resident_id is not null
             group by 1, 2, 3
             on conflict (resident_id, metric, bucket) do update
             set count = excluded.count, sum = excluded.sum, min = excluded.min, max = excluded.max",
        )
        .bind(&lo)
        .bind(&hi)
        .execute(&mut *tx)
        .await?;
    }
    if until > start {
        sqlx::query(
            "insert into readings_hourly (resident_id, metric, bucket, count, sum, min, max)
             select resident_id, metric, date_bin('1 hour', ts, timestamptz '2000-01-01 00:00:00+00'),
                    count(*), sum(value), min(value), max(value)
             from readings
             where resident_id is not null and ts >= $1 and ts < $2
             group by 1, 2, 3
             on conflict (resident_id, metric, bucket) do update
             set count = excluded.count, sum = excluded.sum, min = excluded.min, max = excluded.max",
        )
        .bind(start)
        .bind(until)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "insert into rollup_state (name, rolled_until, rolled_at) values ($1, $2, now())
         on conflict (name) do update set rolled_until = excluded.rolled_until, rolled_at = excluded.rolled_at",
    )
    .bind(NAME)
    .bind(until)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Rolled { until, hours_redone: redo.len(), caught_up: until >= current_hour })
}

/// Sorted, distinct hours as `[start, end)` ranges of consecutive hours.
fn ranges(hours: &[DateTime<Utc>]) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for &h in hours {
        match out.last_mut() {
            Some((_, end)) if *end == h => *end = h + Duration::hours(1),
            _ => out.push((h, h + Duration::hours(1))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_hours_make_one_range() {
        let t = |h: i64| DateTime::<Utc>::UNIX_EPOCH + Duration::hours(h);
        assert_eq!(ranges(&[]), vec![]);
        assert_eq!(ranges(&[t(5)]), vec![(t(5), t(6))]);
        assert_eq!(ranges(&[t(1), t(2), t(3), t(7), t(9), t(10)]), vec![(t(1), t(4)), (t(7), t(8)), (t(9), t(11))]);
    }
}
