//! The streaming side at run time: every newly committed event, vital
//! reading and device status goes through the pure rules, and each decision
//! becomes an alert change in its own small transaction (never inside a
//! telemetry batch).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

use super::settings::RuleSettings;
use super::vitals::VitalMonitor;
use super::{AlertKind, Decision, streaming};
use crate::alerts::{self, Subject};
use crate::ingest::catalog::Metric;
use crate::ingest::registry::Registered;
use crate::metrics::Metrics;

/// Data that arrived this much after it happened is "late": its alerts say so.
const LATE_AFTER: chrono::Duration = chrono::Duration::minutes(2);
/// A batch taking longer than this to evaluate is logged: alerts wait behind it.
const SLOW: Duration = Duration::from_millis(250);
/// Cached resident settings are re-read after this long.
const SETTINGS_TTL: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub enum Stored {
    Event { origin: Arc<Registered>, kind: String, ts: DateTime<Utc>, data: Value, received_at: DateTime<Utc> },
    Reading { origin: Arc<Registered>, metric: Metric, ts: DateTime<Utc>, value: f64, received_at: DateTime<Utc> },
    Status { origin: Arc<Registered>, online: Option<bool>, battery: Option<f64>, at: DateTime<Utc> },
}

/// Loads the effective settings of a resident: built-in defaults, the
/// institution's patch, the resident's patch.
pub async fn load_settings(pool: &PgPool, resident_id: Uuid) -> Result<Option<RuleSettings>, sqlx::Error> {
    let row: Option<(Value, Value)> = sqlx::query_as(
        "select i.rule_settings, r.rule_settings from residents r join institutions i on i.id = r.institution_id
         where r.id = $1",
    )
    .bind(resident_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(inst, res)| {
        RuleSettings::from_layers(Some(&inst), Some(&res)).unwrap_or_else(|err| {
            tracing::error!(resident_id = %resident_id, cause = %err, "stored rule settings are invalid; using defaults");
            RuleSettings::default()
        })
    }))
}

#[derive(Debug, Default)]
struct Health {
    online: Option<bool>,
    low_battery: Option<bool>,
    /// Receipt time of the latest status applied: the lanes commit out of
    /// receipt order, and an older message must not undo a newer Last Will.
    at: Option<DateTime<Utc>>,
}

pub struct Engine {
    pool: PgPool,
    metrics: Arc<Metrics>,
    settings: HashMap<Uuid, (Arc<RuleSettings>, Instant)>,
    vitals: HashMap<(Uuid, Metric), VitalMonitor>,
    /// Last device health seen, so that only changes become decisions, not
    /// every heartbeat.
    health: HashMap<String, Health>,
}

impl Engine {
    pub fn new(pool: PgPool, metrics: Arc<Metrics>) -> Self {
        Engine { pool, metrics, settings: HashMap::new(), vitals: HashMap::new(), health: HashMap::new() }
    }

    /// Runs until the ingest lanes are gone. `settings_changed` names
    /// residents whose settings were changed through the API.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Vec<Stored>>, mut settings_changed: broadcast::Receiver<Uuid>) {
        let mut listening = true;
        loop {
            tokio::select! {
                biased;
                changed = settings_changed.recv(), if listening => match changed {
                    Ok(rid) => { self.settings.remove(&rid); }
                    Err(broadcast::error::RecvError::Lagged(_)) => self.settings.clear(),
                    Err(broadcast::error::RecvError::Closed) => listening = false,
                },
                batch = rx.recv() => {
                    let Some(batch) = batch else { return };
                    let started = Instant::now();
                    let n = batch.len();
                    for stored in batch {
                        if let Err(err) = self.handle(stored).await {
                            tracing::error!(cause = %err, "rule evaluation failed");
                        }
                    }
                    if started.elapsed() > SLOW {
                        tracing::warn!(items = n, took_ms = started.elapsed().as_millis() as u64, "slow rule evaluation");
                    }
                }
            }
        }
    }

    async fn settings_for(&mut self, resident_id: Option<Uuid>) -> Result<Arc<RuleSettings>, sqlx::Error> {
        let Some(rid) = resident_id else { return Ok(Arc::new(RuleSettings::default())) };
        if let Some((s, at)) = self.settings.get(&rid)
            && at.elapsed() < SETTINGS_TTL
        {
            return Ok(s.clone());
        }
        let s = Arc::new(load_settings(&self.pool, rid).await?.unwrap_or_default());
        self.settings.insert(rid, (s.clone(), Instant::now()));
        Ok(s)
    }

    async fn handle(&mut self, stored: Stored) -> Result<(), sqlx::Error> {
        match stored {
            Stored::Event { origin, kind, ts, data, received_at } => {
                let settings = self.settings_for(origin.resident_id).await?;
                let late = received_at - ts > LATE_AFTER;
                for decision in streaming::on_event(&kind, ts, &data, &origin.info.kind, &settings, late) {
                    if let Decision::Clear { kind: AlertKind::Fall, .. } = &decision
                        && !self.fall_cancel_applies(&origin, ts, &settings).await?
                    {
                        continue;
                    }
                    self.apply(&origin, &decision, late).await?;
                }
            }
            Stored::Reading { origin, metric, ts, value, received_at } => {
                let Some(rid) = origin.resident_id else { return Ok(()) };
                let settings = self.settings_for(Some(rid)).await?;
                let Some(threshold) = settings.thresholds.get(metric).copied() else { return Ok(()) };
                let late = received_at - ts > LATE_AFTER;
                let monitor = self.vitals.entry((rid, metric)).or_default();
                if let Some(decision) = monitor.observe(metric, ts, value, &threshold, &settings.vitals, late) {
                    self.apply(&origin, &decision, late).await?;
                }
            }
            Stored::Status { origin, online, battery, at } => {
                let settings = self.settings_for(origin.resident_id).await?;
                let known = self.health.entry(origin.info.device_id.clone()).or_default();
                if known.at.is_some_and(|seen| at < seen) {
                    return Ok(());
                }
                known.at = Some(at);
                // The same hysteresis as the rule: low below the threshold,
                // back to normal only 5 points above it.
                let percent = settings.low_battery.percent;
                let low =
                    battery.map(|b| if known.low_battery == Some(true) { b < percent + 5.0 } else { b < percent });
                // A device first seen healthy (online, battery fine) needs
                // nothing cleared: an alert from before a restart is cleared
                // by the scheduler's device check. Without this, a restart
                // would run one transaction per device on its first message.
                let online_changed =
                    online.is_some() && online != known.online && !(known.online.is_none() && online == Some(true));
                let low_changed =
                    low.is_some() && low != known.low_battery && !(known.low_battery.is_none() && low == Some(false));
                known.online = online.or(known.online);
                known.low_battery = low.or(known.low_battery);
                if !online_changed && !low_changed {
                    return Ok(());
                }
                let online = online.filter(|_| online_changed);
                let battery = battery.filter(|_| low_changed);
                for decision in
                    streaming::on_status(&origin.info.device_id, &origin.info.kind, online, battery, at, &settings)
                {
                    self.apply(&origin, &decision, false).await?;
                }
            }
        }
        Ok(())
    }

    /// A cancel resolves the open fall only within the cancel window of it.
    async fn fall_cancel_applies(
        &self,
        origin: &Registered,
        cancel_at: DateTime<Utc>,
        settings: &RuleSettings,
    ) -> Result<bool, sqlx::Error> {
        let fall_at: Option<DateTime<Utc>> = sqlx::query_scalar(
            "select condition_at from alerts where resident_id is not distinct from $1 and kind = 'fall'
             and status <> 'resolved'",
        )
        .bind(origin.resident_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(fall_at.is_some_and(|f| streaming::fall_cancel_applies(f, cancel_at, settings)))
    }

    async fn apply(&self, origin: &Registered, decision: &Decision, late: bool) -> Result<(), sqlx::Error> {
        let subject = Subject {
            institution_id: origin.institution_id,
            resident_id: origin.resident_id,
            device_id: Some(origin.info.device_id.clone()),
        };
        if let Some(applied) = alerts::apply(&self.pool, &subject, decision, late).await?
            && applied.event == "alert.opened"
        {
            self.metrics.alert_opened(&applied.alert.kind);
        }
        Ok(())
    }
}
