//! Hourly and daily readings buckets come from the hourly rollup (a table
//! the scheduler keeps on plain PostgreSQL, a continuous aggregate on
//! TimescaleDB) and the raw readings it has not reached yet, and answer what
//! the raw readings say. Expected figures are computed here from the
//! readings the test inserted, never by SQL.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::support::{Broker, TestApp, fresh_database, wait_for};

#[derive(Clone, Copy)]
struct Reading {
    resident: Uuid,
    metric: &'static str,
    ts: DateTime<Utc>,
    value: f64,
}

/// One statement, as an ingest batch is.
async fn insert(app: &TestApp, readings: &[Reading]) {
    let residents: Vec<Uuid> = readings.iter().map(|r| r.resident).collect();
    let metrics: Vec<&str> = readings.iter().map(|r| r.metric).collect();
    let ts: Vec<DateTime<Utc>> = readings.iter().map(|r| r.ts).collect();
    let values: Vec<f64> = readings.iter().map(|r| r.value).collect();
    sqlx::query(
        "insert into readings (ts, device_id, resident_id, metric, value)
         select t, 'watch-' || r::text, r, m, v from unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::float8[])
              as x (r, m, t, v)",
    )
    .bind(&residents)
    .bind(&metrics)
    .bind(&ts)
    .bind(&values)
    .execute(&app.pool)
    .await
    .unwrap();
}

/// Whether this database took the plain path (the rollup is a table).
async fn plain(app: &TestApp) -> bool {
    let kind: String =
        sqlx::query_scalar("select relkind::text from pg_class where oid = to_regclass('readings_hourly')")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    kind == "r"
}

/// A rollup run: the scheduler's on plain PostgreSQL, a refresh of the
/// continuous aggregate (as its policy does) on TimescaleDB.
async fn roll_up(app: &TestApp) {
    if plain(app).await {
        let rolled = eldercare::store::rollups::catch_up(&app.pool, Utc::now()).await.unwrap();
        assert!(rolled.caught_up);
    } else {
        sqlx::query(
            "call refresh_continuous_aggregate('readings_hourly', now() - interval '31 days',
                                               date_bin('1 hour', now(), timestamptz '2000-01-01 00:00:00+00'))",
        )
        .execute(&app.pool)
        .await
        .unwrap();
    }
}

fn hour() -> Duration {
    Duration::hours(1)
}

/// The bucket a reading falls in: hours and days from midnight UTC, as the
/// API buckets (whatever the resident's timezone).
fn bucket_of(ts: DateTime<Utc>, width: Duration) -> DateTime<Utc> {
    ts.duration_trunc(width).unwrap()
}

#[derive(Debug)]
struct Expected {
    count: i64,
    sum: f64,
    min: f64,
    max: f64,
}

/// The buckets of `resident`'s `metric` readings in `[from, to]`.
fn expected(
    readings: &[Reading],
    resident: Uuid,
    metric: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    width: Duration,
) -> BTreeMap<DateTime<Utc>, Expected> {
    let mut out: BTreeMap<DateTime<Utc>, Expected> = BTreeMap::new();
    for r in readings.iter().filter(|r| r.resident == resident && r.metric == metric && r.ts >= from && r.ts <= to) {
        let e = out.entry(bucket_of(r.ts, width)).or_insert(Expected {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        });
        e.count += 1;
        e.sum += r.value;
        e.min = e.min.min(r.value);
        e.max = e.max.max(r.value);
    }
    out
}

async fn buckets(
    app: &TestApp,
    token: &str,
    resident: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket: &str,
) -> Vec<Value> {
    let q = format!(
        "/api/v1/residents/{resident}/readings?metric=heart_rate&from={}&to={}&bucket={bucket}",
        from.to_rfc3339_opts(chrono::SecondsFormat::Micros, true).replace('+', "%2B"),
        to.to_rfc3339_opts(chrono::SecondsFormat::Micros, true).replace('+', "%2B"),
    );
    let body = app.get(&q, token).await;
    assert_eq!(body["truncated"], false, "{body}");
    body["points"].as_array().unwrap().clone()
}

/// The answer is the expected buckets: counts, minima and maxima equal,
/// averages up to rounding.
fn assert_answer(points: &[Value], expected: &BTreeMap<DateTime<Utc>, Expected>, what: &str) {
    let got: Vec<DateTime<Utc>> = points.iter().map(|p| p["ts"].as_str().unwrap().parse().unwrap()).collect();
    let want: Vec<DateTime<Utc>> = expected.keys().copied().collect();
    assert_eq!(got, want, "{what}: bucket times");
    for (p, (ts, e)) in points.iter().zip(expected) {
        assert_eq!(p["count"].as_i64(), Some(e.count), "{what} {ts}: count");
        assert_eq!(p["min"].as_f64(), Some(e.min), "{what} {ts}: min");
        assert_eq!(p["max"].as_f64(), Some(e.max), "{what} {ts}: max");
        let avg = p["avg"].as_f64().unwrap();
        let want = e.sum / e.count as f64;
        assert!((avg - want).abs() <= 1e-9 * want.abs().max(1.0), "{what} {ts}: avg {avg} != {want}");
    }
}

#[tokio::test]
async fn hourly_and_daily_buckets_from_the_rollup_answer_what_the_raw_readings_say() {
    // The scheduler's own rollup runs once at start, then not for a day:
    // the test says when the rollup runs.
    let app = TestApp::spawn_with(Broker::start().await, fresh_database().await, |s| {
        s.reads.rollup_every_secs = 86_400;
    })
    .await;
    let plain = plain(&app).await;
    if plain {
        wait_for("the scheduler's first rollup", || async {
            let n = app.count("select count(*) from rollup_state").await;
            (n == 1).then_some(())
        })
        .await;
        // As if the rollup had never run over what follows: the first run
        // sums up everything from the oldest reading on.
        sqlx::query("delete from rollup_state").execute(&app.pool).await.unwrap();
    }
    let token = app.admin_token().await;
    // Residents live in Asia/Shanghai (UTC+8); buckets are UTC hours and days.
    let chen: Uuid = app.resident(&token, "Chen Jie").await.parse().unwrap();
    let wang: Uuid = app.resident(&token, "Wang Fang").await.parse().unwrap();

    let now = Utc::now();
    let today = now.duration_trunc(Duration::days(1)).unwrap();
    let current_hour = now.duration_trunc(hour()).unwrap();
    // Six days of heart rates every 20 minutes with uneven values, plus
    // another metric and another resident in the same hours, which must not
    // mix in.
    let mut readings = Vec::new();
    let mut t = today - Duration::days(6) + Duration::minutes(7);
    let mut i = 0u32;
    while t < current_hour {
        let value = 55.0 + f64::from((i * 37) % 61) + f64::from(i % 4) * 0.125;
        readings.push(Reading { resident: chen, metric: "heart_rate", ts: t, value });
        readings.push(Reading { resident: chen, metric: "spo2", ts: t, value: 90.0 + f64::from(i % 9) });
        readings.push(Reading { resident: wang, metric: "heart_rate", ts: t, value: value + 30.0 });
        t += Duration::minutes(20);
        i += 1;
    }
    // The day boundary: either side of midnight UTC (08:00 in Shanghai), and
    // either side of Shanghai's midnight (16:00 UTC), two days ago.
    let two_days_ago = today - Duration::days(2);
    for (ts, value) in [
        (two_days_ago - Duration::minutes(1), 140.0),
        (two_days_ago + Duration::seconds(30), 41.5),
        (two_days_ago + Duration::hours(16) - Duration::seconds(1), 133.0),
        (two_days_ago + Duration::hours(16), 44.0),
    ] {
        readings.push(Reading { resident: chen, metric: "heart_rate", ts, value });
    }
    insert(&app, &readings).await;

    roll_up(&app).await;
    if plain {
        let rows = app.count("select count(*) from readings_hourly").await;
        assert!(rows >= 3 * 24 * 6 - 6, "six days of three series rolled up: {rows} rows");
    }

    // A week to now (the window's edges cut hours in two), and whole days.
    let ranges = [
        (today - Duration::days(7) + Duration::minutes(13), now),
        (today - Duration::days(6), today),
        (two_days_ago - Duration::hours(3) + Duration::seconds(1), two_days_ago + Duration::hours(20)),
    ];
    for (who, resident) in [("chen", chen), ("wang", wang)] {
        for (from, to) in ranges {
            for (bucket, width) in [("1h", hour()), ("1d", Duration::days(1))] {
                let points = buckets(&app, &token, resident, from, to, bucket).await;
                let want = expected(&readings, resident, "heart_rate", from, to, width);
                assert_answer(&points, &want, &format!("{who} {bucket} {from}..{to}"));
            }
        }
    }
    // The day boundary is midnight UTC, not the resident's.
    let days =
        buckets(&app, &token, chen, two_days_ago - Duration::days(1), two_days_ago + Duration::days(1), "1d").await;
    let day_before = days
        .iter()
        .find(|p| p["ts"] == (two_days_ago - Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap();
    let day = days.iter().find(|p| p["ts"] == two_days_ago.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap();
    assert_eq!(day_before["max"], 140.0, "23:59 UTC is the day before");
    assert_eq!(day["min"], 41.5, "00:00:30 UTC is the new day");
    assert_eq!(day["max"], 133.0, "Shanghai's midnight does not cut the UTC day");

    // Late readings into hours already rolled up, and readings of the
    // current hour, which no rollup has reached.
    let late_hour = today - Duration::days(3) + Duration::hours(5);
    let late = [
        Reading { resident: chen, metric: "heart_rate", ts: late_hour + Duration::minutes(1), value: 171.0 },
        Reading { resident: chen, metric: "heart_rate", ts: late_hour + Duration::minutes(59), value: 38.0 },
        Reading { resident: chen, metric: "heart_rate", ts: today - Duration::hours(30), value: 99.5 },
    ];
    let fresh = [
        Reading { resident: chen, metric: "heart_rate", ts: current_hour, value: 66.0 },
        Reading { resident: chen, metric: "heart_rate", ts: current_hour + (now - current_hour) / 2, value: 150.25 },
    ];
    let before = expected(&readings, chen, "heart_rate", ranges[0].0, ranges[0].1, hour());
    insert(&app, &late).await;
    insert(&app, &fresh).await;
    readings.extend(late);
    readings.extend(fresh);
    let to = Utc::now();
    let from = ranges[0].0;
    if plain {
        // Before the next run: the late hours are read raw while they are
        // marked, the current hour is read raw as no run has reached it.
        let points = buckets(&app, &token, chen, from, to, "1h").await;
        let want = expected(&readings, chen, "heart_rate", from, to, hour());
        assert_answer(&points, &want, "late and current readings before a run");
        assert!(want[&late_hour].count > before[&late_hour].count);
        let current = points.last().unwrap();
        assert_eq!(current["ts"], current_hour.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        assert_eq!(current["count"], 2);
        assert_eq!(current["max"], 150.25);
        // Reads do come from the rollup table: a changed row shows.
        let probe = today - Duration::days(4) + Duration::hours(10);
        sqlx::query(
            "update readings_hourly set max = 999 where resident_id = $1 and metric = 'heart_rate' and bucket = $2",
        )
        .bind(chen)
        .bind(probe)
        .execute(&app.pool)
        .await
        .unwrap();
        let points = buckets(&app, &token, chen, probe, probe + hour(), "1h").await;
        assert_eq!(points[0]["max"], 999.0, "{points:?}");
        // Marked again (as a late reading would), the next run sums it up anew.
        sqlx::query("insert into rollup_dirty (hour) values ($1)").bind(probe).execute(&app.pool).await.unwrap();
    }
    roll_up(&app).await;
    for (bucket, width) in [("1h", hour()), ("1d", Duration::days(1))] {
        let points = buckets(&app, &token, chen, from, to, bucket).await;
        let want = expected(&readings, chen, "heart_rate", from, to, width);
        assert_answer(&points, &want, &format!("after late readings, {bucket}"));
        let late_point = points
            .iter()
            .find(|p| p["ts"] == bucket_of(late_hour, width).to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap();
        assert_eq!(late_point["max"], 171.0, "{bucket}: the late reading counts");
    }
    // Finer buckets stay raw and agree too.
    let points = buckets(&app, &token, chen, current_hour - Duration::hours(2), to, "15m").await;
    let want = expected(&readings, chen, "heart_rate", current_hour - Duration::hours(2), to, Duration::minutes(15));
    assert_answer(&points, &want, "15m");
}

#[tokio::test]
async fn the_scheduler_rolls_up_hours_that_received_late_readings() {
    let app = TestApp::spawn_with(Broker::start().await, fresh_database().await, |s| {
        s.scheduler.tick_ms = 100;
        s.reads.rollup_every_secs = 1;
    })
    .await;
    if !plain(&app).await {
        eprintln!("SKIPPED: TimescaleDB's policy refreshes the continuous aggregate, not the scheduler");
        return;
    }
    let token = app.admin_token().await;
    let resident: Uuid = app.resident(&token, "Li Wei").await.parse().unwrap();
    let hour_ago = Utc::now().duration_trunc(hour()).unwrap() - Duration::days(2);
    insert(
        &app,
        &[
            Reading { resident, metric: "heart_rate", ts: hour_ago + Duration::minutes(10), value: 70.0 },
            Reading { resident, metric: "heart_rate", ts: hour_ago + Duration::minutes(20), value: 80.0 },
        ],
    )
    .await;
    let (count, sum): (i64, f64) = wait_for("the leader's rollup of the late hour", || async {
        sqlx::query_as("select count, sum from readings_hourly where resident_id = $1 and bucket = $2")
            .bind(resident)
            .bind(hour_ago)
            .fetch_optional(&app.pool)
            .await
            .unwrap()
    })
    .await;
    assert_eq!((count, sum), (2, 150.0));
    let marks =
        app.count("select count(*) from rollup_dirty where hour < date_bin('1 hour', now(), '2000-01-01')").await;
    assert_eq!(marks, 0, "the marks were consumed");
}
