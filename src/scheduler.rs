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
use crate::metrics::Metrics;
use crate::rules::behaviour::{self, ALARM_EVENTS, ActivityEvent, ROUTINE_EVENTS, ResidentFacts};
use crate::rules::settings::RuleSettings;
use crate::rules::streaming::{self, DeviceHealth};
use crate::rules::{AlertKind, Decision};

/// The advisory lock that makes a process the leader.
const LEADER_LOCK: i64 = 0x656c_6465_7202;
/// How far back activity is kept for the behaviour rules.
const LOOKBACK: chrono::Duration = chrono::Duration::hours(36);
const ACTIVITY_SENSOR_KINDS: &[&str] = &["motion_sensor", "door_sensor", "bed_sensor"];

#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    pub tick: Duration,
    pub escalation: Vec<chrono::Duration>,
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
    /// Events received after this have not been read yet.
    watermark: DateTime<Utc>,
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
    kind: String,
    institution_id: Uuid,
    resident_id: Option<Uuid>,
    last_seen_at: Option<DateTime<Utc>>,
    online: Option<bool>,
    battery: Option<f64>,
    created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct ActivityRow {
    resident_id: Uuid,
    ts: DateTime<Utc>,
    kind: String,
    room: Option<String>,
    door: Option<String>,
    appliance: Option<String>,
    device_kind: String,
    received_at: DateTime<Utc>,
}

impl Leader {
    fn new(pool: PgPool, metrics: Arc<Metrics>, settings: SchedulerSettings) -> Self {
        Leader {
            pool,
            metrics,
            settings,
            activity: HashMap::new(),
            watermark: Utc::now() - LOOKBACK - chrono::Duration::hours(1),
            raised: HashSet::new(),
        }
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
        self.metrics.scheduler_ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    async fn apply(&self, subject: &Subject, decision: &Decision) -> Result<(), sqlx::Error> {
        if let Some(applied) = alerts::apply(&self.pool, subject, decision, false).await?
            && applied.event == "alert.opened"
        {
            self.metrics.alert_opened(&applied.alert.kind);
        }
        Ok(())
    }

    /// Devices silent past their kind's heartbeat timeout go offline.
    async fn device_health(&mut self, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        let rows: Vec<DeviceRow> =
            sqlx::query_as(
                "select d.device_id, d.kind, d.institution_id, d.resident_id, s.last_seen_at, s.online, s.battery, d.created_at
                 from devices d left join device_state s on s.device_id = d.device_id",
            )
            .fetch_all(&self.pool)
            .await?;
        let active: HashSet<String> =
            sqlx::query_scalar("select cause from alerts where kind = 'device_offline' and status <> 'resolved'")
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .collect();
        let mut subjects = HashMap::new();
        let devices: Vec<DeviceHealth> = rows
            .into_iter()
            .map(|d| {
                let subject = Subject {
                    institution_id: d.institution_id,
                    resident_id: d.resident_id,
                    device_id: Some(d.device_id.clone()),
                };
                subjects.insert(d.device_id.clone(), subject);
                // A device never heard from is judged from its registration.
                DeviceHealth {
                    device_id: d.device_id,
                    kind: d.kind,
                    last_seen_at: Some(d.last_seen_at.unwrap_or(d.created_at)),
                    online: d.online,
                    battery: d.battery,
                }
            })
            .collect();
        // Low-battery alerts whose device now reports a charged battery (the
        // engine clears these live; this catches what a restart missed).
        let low: Vec<String> =
            sqlx::query_scalar("select cause from alerts where kind = 'low_battery' and status <> 'resolved'")
                .fetch_all(&self.pool)
                .await?;
        let recharged = RuleSettings::default().low_battery.percent + 5.0;
        for d in devices.iter().filter(|d| low.contains(&d.device_id) && d.battery.is_some_and(|b| b >= recharged)) {
            let decision = Decision::Clear {
                kind: AlertKind::LowBattery,
                cause: d.device_id.clone(),
                at: now,
                resolution: crate::rules::AUTO_CLEARED,
                details: serde_json::json!({"battery": d.battery}),
            };
            if let Some(subject) = subjects.get(&d.device_id) {
                self.apply(subject, &decision).await?;
            }
        }
        for decision in streaming::silent_devices(&devices, now) {
            let cause = decision.cause().to_owned();
            // Only changes: raise what is not open, clear what is.
            if decision.is_raise() == active.contains(&cause) {
                continue;
            }
            if let Some(subject) = subjects.get(&cause) {
                self.apply(subject, &decision).await?;
            }
        }
        Ok(())
    }

    async fn load_activity(&mut self, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        let kinds: Vec<&str> = ROUTINE_EVENTS.iter().chain(ALARM_EVENTS).copied().collect();
        let rows: Vec<ActivityRow> = sqlx::query_as(
            "select e.resident_id, e.ts, e.kind, coalesce(e.data->>'room', d.room) as room, e.data->>'door' as door,
                    e.data->>'appliance' as appliance, coalesce(d.kind, '') as device_kind, e.received_at
             from events e left join devices d on d.device_id = e.device_id
             where e.received_at > $1 and e.ts > $2 and e.resident_id is not null and e.kind = any($3)
             order by e.received_at",
        )
        .bind(self.watermark - chrono::Duration::seconds(5))
        .bind(now - LOOKBACK)
        .bind(&kinds)
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            self.watermark = self.watermark.max(row.received_at);
            let events = self.activity.entry(row.resident_id).or_default();
            let event = ActivityEvent {
                ts: row.ts,
                kind: row.kind,
                room: row.room,
                door: row.door,
                appliance: row.appliance,
                device_kind: row.device_kind,
            };
            // The overlap of the watermark re-reads a few rows: skip them.
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
            let rows: Vec<(Uuid, String, String)> = sqlx::query_as(
                "select resident_id, kind, cause from alerts where resident_id is not null and opened_at > $1",
            )
            .bind(now - LOOKBACK - chrono::Duration::hours(12))
            .fetch_all(&self.pool)
            .await?;
            self.raised = rows.into_iter().filter_map(|(r, k, c)| AlertKind::parse(&k).map(|k| (r, k, c))).collect();
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
        .bind(ACTIVITY_SENSOR_KINDS.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .collect();
        let active: HashSet<(Uuid, String, String)> = sqlx::query_as(
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
            let subject = Subject { institution_id: r.institution_id, resident_id: Some(r.id), device_id: None };
            for decision in behaviour::evaluate(&facts, now) {
                let key = (r.id, decision.kind(), decision.cause().to_owned());
                let wanted = match &decision {
                    Decision::Raise { .. } => !self.raised.contains(&key),
                    Decision::Clear { .. } => active.contains(&(r.id, key.1.as_str().to_owned(), key.2.clone())),
                };
                if wanted {
                    self.apply(&subject, &decision).await?;
                    if decision.is_raise() {
                        self.raised.insert(key);
                    }
                }
            }
        }
        Ok(())
    }
}
