//! Time-driven work, done by one leader among the `serve` processes (a
//! PostgreSQL advisory lock held on a dedicated connection): behaviour rules
//! over what did not happen, silent devices, and the escalation ladder.
//!
//! Its state is derived from the database at every takeover, so a restart or
//! a change of leader loses nothing: a meal window that ended while no
//! process ran is still judged when one comes back.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::alerts::{self, Subject};
use crate::domain::{AlertKind, DeviceKind, EventKind, Resolution};
use crate::metrics::Metrics;
use crate::rules::Decision;
use crate::rules::behaviour::{self, ALARM_EVENTS, ActivityEvent, ROUTINE_EVENTS, ResidentFacts};
use crate::rules::settings::RuleSettings;
use crate::rules::streaming::{self, DeviceHealth};
use crate::store::settings as stored_settings;
use crate::watchdog;

/// The advisory lock that makes a process the leader.
const LEADER_LOCK: i64 = 0x656c_6465_7202;
/// How far back activity is kept for the behaviour rules.
const LOOKBACK: chrono::Duration = chrono::Duration::hours(36);
const ACTIVITY_SENSOR_KINDS: &[DeviceKind] = &[DeviceKind::MotionSensor, DeviceKind::DoorSensor, DeviceKind::BedSensor];

#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    pub tick: Duration,
    pub escalation: Vec<chrono::Duration>,
    /// An institution whose devices have been silent this long has gone silent.
    pub institution_silent_after: chrono::Duration,
    /// Names this process in the heartbeat the other processes watch.
    pub instance: String,
}

pub async fn run(pool: PgPool, metrics: Arc<Metrics>, settings: SchedulerSettings, shutdown: CancellationToken) {
    loop {
        match try_lead(&pool).await {
            Ok(Some(conn)) => {
                tracing::info!("scheduler: this process is the leader");
                let mut leader = Leader::new(pool.clone(), metrics.clone(), settings.clone());
                leader.lead(conn, &shutdown).await;
                if shutdown.is_cancelled() {
                    return;
                }
                tracing::warn!("scheduler: leadership lost");
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(cause = %err, "scheduler: cannot reach the database"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

async fn try_lead(pool: &PgPool) -> Result<Option<PgConnection>, sqlx::Error> {
    // Detached from the pool: the lock lives exactly as long as this
    // connection, and is never handed to someone else with it.
    let mut conn = pool.acquire().await?.detach();
    let got: bool =
        sqlx::query_scalar("select pg_try_advisory_lock($1)").bind(LEADER_LOCK).fetch_one(&mut conn).await?;
    Ok(got.then_some(conn))
}

struct Leader {
    pool: PgPool,
    metrics: Arc<Metrics>,
    settings: SchedulerSettings,
    /// Activity per resident, oldest first, within LOOKBACK.
    activity: HashMap<Uuid, Vec<ActivityEvent>>,
    /// The transaction horizon of the last read: every event written by a
    /// transaction below it has been read; `None` before the first read.
    horizon: Option<i64>,
    /// Episodes already raised, so a condition that still holds is not
    /// re-submitted every tick.
    raised: HashSet<(Uuid, AlertKind, String)>,
}

#[derive(sqlx::FromRow)]
struct ResidentRow {
    id: Uuid,
    institution_id: Uuid,
    timezone: String,
    /// From when behaviour is judged: creation, or the end of the last away spell.
    created_at: DateTime<Utc>,
    institution_settings: Value,
    resident_settings: Value,
}

#[derive(sqlx::FromRow)]
struct DeviceRow {
    device_id: String,
    kind: DeviceKind,
    room: Option<String>,
    institution_id: Uuid,
    resident_id: Option<Uuid>,
    last_seen_at: Option<DateTime<Utc>>,
    online: Option<bool>,
    online_at: Option<DateTime<Utc>>,
    battery: Option<f64>,
    created_at: DateTime<Utc>,
    institution_settings: Value,
    resident_settings: Option<Value>,
}

#[derive(sqlx::FromRow)]
struct ActivityRow {
    resident_id: Uuid,
    ts: DateTime<Utc>,
    kind: EventKind,
    room: Option<String>,
    door: Option<String>,
    appliance: Option<String>,
}

impl Leader {
    fn new(pool: PgPool, metrics: Arc<Metrics>, settings: SchedulerSettings) -> Self {
        Leader { pool, metrics, settings, activity: HashMap::new(), horizon: None, raised: HashSet::new() }
    }

    async fn lead(&mut self, mut lock: PgConnection, shutdown: &CancellationToken) {
        let mut tick = tokio::time::interval(self.settings.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => {
                    let _ = sqlx::query("select pg_advisory_unlock($1)").bind(LEADER_LOCK).execute(&mut lock).await;
                    return;
                }
            }
            // The lock is only ours while its connection lives.
            if sqlx::query("select 1").execute(&mut lock).await.is_err() {
                return;
            }
            if let Err(err) = self.tick(Utc::now()).await {
                tracing::warn!(cause = %err, "scheduler tick failed");
            }
        }
    }

    async fn tick(&mut self, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        alerts::escalate_due(&self.pool, &self.settings.escalation, now).await?;
        self.device_health(now).await?;
        self.behaviour(now).await?;
        self.institution_silence(now).await?;
        // Stamped after the work, so a leader stuck inside a tick shows as stalled.
        sqlx::query(
            "insert into scheduler_heartbeat (id, leader, ticked_at) values (true, $1, now())
             on conflict (id) do update set leader = excluded.leader, ticked_at = excluded.ticked_at",
        )
        .bind(&self.settings.instance)
        .execute(&self.pool)
        .await?;
        self.metrics.scheduler_ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Institutions whose devices were sending and have gone quiet: a care
    /// home's gateway, network or power is down, and with it every alarm.
    async fn institution_silence(&self, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        let rows: Vec<(Uuid, Option<DateTime<Utc>>, bool)> = sqlx::query_as(
            "select i.id, max(s.last_seen_at),
                    exists (select 1 from alerts a where a.institution_id = i.id and a.subject = 'institution'
                            and a.kind = 'institution_silent' and a.status <> 'resolved')
             from institutions i
             left join devices d on d.institution_id = i.id
             left join device_state s on s.device_id = d.device_id
             group by i.id",
        )
        .fetch_all(&self.pool)
        .await?;
        for (institution, last, open) in rows {
            let Some(decision) = watchdog::institution_silence(last, self.settings.institution_silent_after, now)
            else {
                continue;
            };
            if decision.is_raise() != open {
                alerts::apply(&self.pool, &self.metrics, &Subject::institution(institution), &decision, false).await?;
            }
        }
        Ok(())
    }

    /// Devices silent past their kind's heartbeat timeout, or that said they
    /// went offline, are offline; low batteries recharged are cleared. Judged
    /// from the stored device state, so nothing the engine missed (a crash
    /// between storing a Last Will and judging it) stays unjudged.
    async fn device_health(&mut self, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        let rows: Vec<DeviceRow> = sqlx::query_as(
            "select d.device_id, d.kind, d.room, d.institution_id, d.resident_id, s.last_seen_at, s.online,
                    s.online_at, s.battery, d.created_at, i.rule_settings as institution_settings,
                    r.rule_settings as resident_settings
             from devices d
             join institutions i on i.id = d.institution_id
             left join residents r on r.id = d.resident_id
             left join device_state s on s.device_id = d.device_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let active: HashSet<(Uuid, String, AlertKind, String)> = sqlx::query_as(
            "select institution_id, subject, kind, cause from alerts
             where kind in ('device_offline', 'low_battery') and status <> 'resolved'",
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .collect();
        let is_active = |subject: &Subject, kind: AlertKind, cause: &str| {
            active.contains(&(subject.institution_id, subject.key(), kind, cause.to_owned()))
        };
        for d in rows {
            let subject = Subject {
                institution_id: d.institution_id,
                resident_id: d.resident_id,
                device_id: Some(d.device_id.clone()),
                room: d.room.clone(),
            };
            // Low-battery alerts whose device now reports a charged battery,
            // by the resident's own threshold (the engine clears these live;
            // this catches what a restart missed).
            if is_active(&subject, AlertKind::LowBattery, &d.device_id) {
                let whose = d.resident_id.unwrap_or(d.institution_id);
                let settings = stored_settings::layered(&d.institution_settings, d.resident_settings.as_ref(), whose);
                if d.battery.is_some_and(|b| b >= settings.low_battery.percent + 5.0) {
                    let decision = Decision::Clear {
                        kind: AlertKind::LowBattery,
                        cause: d.device_id.clone(),
                        at: now,
                        resolution: Resolution::AutoCleared,
                        details: serde_json::json!({"battery": d.battery}),
                    };
                    alerts::apply(&self.pool, &self.metrics, &subject, &decision, false).await?;
                }
            }
            // A device never heard from is judged from its registration.
            let health = DeviceHealth {
                device_id: d.device_id,
                kind: d.kind,
                last_seen_at: Some(d.last_seen_at.unwrap_or(d.created_at)),
                online: d.online,
                online_at: d.online_at,
                battery: d.battery,
            };
            for decision in streaming::silent_devices(std::slice::from_ref(&health), now) {
                // Only changes: raise what is not open, clear what is.
                if decision.is_raise() != is_active(&subject, AlertKind::DeviceOffline, decision.cause()) {
                    alerts::apply(&self.pool, &self.metrics, &subject, &decision, false).await?;
                }
            }
        }
        Ok(())
    }

    async fn load_activity(&mut self, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        let kinds: Vec<EventKind> = ROUTINE_EVENTS.iter().chain(ALARM_EVENTS).cloned().collect();
        // One snapshot for the horizon and the rows: every transaction below
        // the snapshot's horizon has ended, so rows between the last horizon
        // and this one are all visible now, however late they committed.
        let mut tx = self.pool.begin().await?;
        sqlx::query("set transaction isolation level repeatable read").execute(&mut *tx).await?;
        let horizon: i64 = sqlx::query_scalar("select pg_snapshot_xmin(pg_current_snapshot())::text::int8")
            .fetch_one(&mut *tx)
            .await?;
        let rows: Vec<ActivityRow> = sqlx::query_as(
            "select e.resident_id, e.ts, e.kind, coalesce(e.data->>'room', d.room) as room, e.data->>'door' as door,
                    e.data->>'appliance' as appliance
             from events e left join devices d on d.device_id = e.device_id
             where e.ts > $1 and e.resident_id is not null and e.kind = any($2)
               and ($3::int8 is null or (e.txid >= $3::int8::text::xid8 and e.txid < $4::int8::text::xid8))",
        )
        .bind(now - LOOKBACK)
        .bind(&kinds)
        .bind(self.horizon)
        .bind(horizon)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        self.horizon = Some(horizon);
        for row in rows {
            let events = self.activity.entry(row.resident_id).or_default();
            let event =
                ActivityEvent { ts: row.ts, kind: row.kind, room: row.room, door: row.door, appliance: row.appliance };
            // The first read takes everything visible, so the next one may
            // see a few rows again: skip them.
            if events.iter().any(|e| e.ts == event.ts && e.kind == event.kind && e.room == event.room) {
                continue;
            }
            let at = events.partition_point(|e| e.ts <= event.ts);
            events.insert(at, event);
        }
        for events in self.activity.values_mut() {
            let keep_from = events.partition_point(|e| e.ts < now - LOOKBACK);
            events.drain(..keep_from);
        }
        Ok(())
    }

    async fn behaviour(&mut self, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        self.load_activity(now).await?;
        if self.raised.is_empty() {
            let rows: Vec<(Uuid, AlertKind, String)> = sqlx::query_as(
                "select resident_id, kind, cause from alerts where resident_id is not null and opened_at > $1",
            )
            .bind(now - LOOKBACK - chrono::Duration::hours(12))
            .fetch_all(&self.pool)
            .await?;
            self.raised = rows.into_iter().collect();
        }
        let residents: Vec<ResidentRow> = sqlx::query_as(
            "select r.id, r.institution_id, r.timezone, greatest(r.created_at, r.away_ended_at) as created_at,
                    i.rule_settings as institution_settings, r.rule_settings as resident_settings
             from residents r join institutions i on i.id = r.institution_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let sensors_online: HashMap<Uuid, bool> = sqlx::query_as(
            "select d.resident_id, bool_or(coalesce(s.online, false)) from devices d
             left join device_state s on s.device_id = d.device_id
             where d.resident_id is not null and d.kind = any($1) group by d.resident_id",
        )
        .bind(ACTIVITY_SENSOR_KINDS)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .collect();
        let active: HashSet<(Uuid, AlertKind, String)> = sqlx::query_as(
            "select resident_id, kind, cause from alerts where resident_id is not null and status <> 'resolved'",
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .collect();
        for r in residents {
            let Ok(tz) = r.timezone.parse::<chrono_tz::Tz>() else { continue };
            let settings = RuleSettings::from_layers(Some(&r.institution_settings), Some(&r.resident_settings))
                .unwrap_or_default();
            let facts = ResidentFacts {
                tz,
                settings,
                events: self.activity.get(&r.id).cloned().unwrap_or_default(),
                activity_sensors_online: sensors_online.get(&r.id).copied().unwrap_or(false),
                since: r.created_at,
            };
            let subject =
                Subject { institution_id: r.institution_id, resident_id: Some(r.id), device_id: None, room: None };
            for decision in behaviour::evaluate(&facts, now) {
                let key = (r.id, decision.kind(), decision.cause().to_owned());
                let wanted = match &decision {
                    Decision::Raise { .. } => !self.raised.contains(&key),
                    Decision::Clear { .. } => active.contains(&key),
                };
                if wanted {
                    alerts::apply(&self.pool, &self.metrics, &subject, &decision, false).await?;
                    if decision.is_raise() {
                        self.raised.insert(key);
                    }
                }
            }
        }
        Ok(())
    }
}
