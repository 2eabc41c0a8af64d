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

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::alerts::{self, Subject};
use crate::domain::activity::{ActivityEvent, PresencePeriod};
use crate::domain::presence;
use crate::domain::scope::{Alerts, Monitoring, Reached};
use crate::domain::settings::RuleSettings;
use crate::domain::{AlertKind, Resolution, status};
use crate::metrics::Metrics;
use crate::rules::Decision;
use crate::rules::behaviour::{self, ResidentFacts, activity_kinds};
use crate::rules::devices::{self, Battery, DeviceHealth};
use crate::rules::routine::{self, Routine};
use crate::store::activity::{self, Horizon};
use crate::store::alerts as store_alerts;
use crate::store::scheduler as leadership;
use crate::store::settings::SettingsCache;
use crate::store::{devices as stored_devices, residents, routines};
use crate::watchdog;

/// How long before an assessment lapses its family is reminded to re-assess.
const REASSESS_AHEAD_DAYS: i32 = 30;

/// The advisory lock that makes a process the leader (per database).
pub const LEADER_LOCK: i64 = 0x656c_6465_7202;
/// How far back activity is kept for the behaviour rules.
pub const LOOKBACK: chrono::Duration = chrono::Duration::hours(36);

#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    pub tick: Duration,
    pub escalation: Vec<chrono::Duration>,
    /// An institution whose devices have been silent this long has gone silent.
    pub institution_silent_after: chrono::Duration,
    /// Names this process in the heartbeat the other processes watch.
    pub instance: String,
    pub retention: crate::config::RetentionSettings,
    /// How long the ingest seq memory lasts, and so when its rows can go.
    pub seq_memory_hours: u64,
    /// How often the hourly rollup of readings is brought up to date; `None`
    /// where TimescaleDB's continuous aggregate does it.
    pub rollup_every: Option<chrono::Duration>,
    /// The key follow-up samples are drawn with; none drawn without it.
    pub sample_key: Option<secrecy::SecretString>,
}

pub async fn run(
    pool: PgPool,
    rule_settings: SettingsCache,
    metrics: Arc<Metrics>,
    settings: SchedulerSettings,
    shutdown: CancellationToken,
) {
    loop {
        match try_lead(&pool).await {
            Ok(Some(conn)) => {
                tracing::info!("scheduler: this process is the leader");
                let mut leader = Leader::new(pool.clone(), rule_settings.clone(), metrics.clone(), settings.clone());
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

/// How long one scheduler tick may wait on the database before it is
/// abandoned (a tick of a district's residents takes well under a second).
const TICK_WITHIN: Duration = Duration::from_secs(60);

/// How often a running tick looks whether the leader's lock still answers.
const WATCH_DURING_TICK: Duration = Duration::from_secs(2);

async fn try_lead(pool: &PgPool) -> Result<Option<PgConnection>, sqlx::Error> {
    // Detached from the pool: the lock lives exactly as long as this
    // connection, and is never handed to someone else with it.
    let mut conn = pool.acquire().await?.detach();
    let got = crate::store::within(crate::store::ANSWER_WITHIN, leadership::try_lock(&mut conn, LEADER_LOCK)).await?;
    Ok(got.then_some(conn))
}

struct Leader {
    pool: PgPool,
    rule_settings: SettingsCache,
    metrics: Arc<Metrics>,
    settings: SchedulerSettings,
    behaviour: Behaviour,
    /// When care plans last had their 14 days of visits moved on, and that
    /// work if it still runs: on a task of its own, so thousands of plans
    /// never hold up the alarms' time-driven rules.
    plans_extended_at: Option<DateTime<Utc>>,
    plans_job: Option<tokio::task::JoinHandle<()>>,
    /// Deletes what is kept only for a while.
    retention: crate::retention::Sweeper,
    /// When the readings rollup last started, and that run if it still goes
    /// (a task of its own, like the care plans: summing up an hour of a
    /// district's readings must not hold up the alarms' rules).
    rolled_up_at: Option<DateTime<Utc>>,
    rollup_job: Option<tokio::task::JoinHandle<()>>,
    /// When last month's follow-up draw was last tried: every quarter of an
    /// hour, not every tick (a month with no verified visit yet is looked at
    /// again, not on every pass of the alarms' rules).
    draw_tried_at: Option<DateTime<Utc>>,
}

/// How often the follow-up draw is tried until the month is drawn.
const DRAW_EVERY: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

impl Leader {
    fn new(pool: PgPool, rule_settings: SettingsCache, metrics: Arc<Metrics>, settings: SchedulerSettings) -> Self {
        let retention = crate::retention::Sweeper::new(settings.retention.clone(), settings.seq_memory_hours);
        Leader {
            retention,
            pool,
            rule_settings,
            metrics,
            settings,
            behaviour: Behaviour::new(),
            plans_extended_at: None,
            plans_job: None,
            rolled_up_at: None,
            rollup_job: None,
            draw_tried_at: None,
        }
    }

    async fn lead(&mut self, mut lock: PgConnection, shutdown: &CancellationToken) {
        let mut tick = tokio::time::interval(self.settings.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => {
                    let _ = leadership::unlock(&mut lock, LEADER_LOCK).await;
                    return;
                }
            }
            // The lock is only ours while its connection lives, and while
            // its database answers: a primary that froze holds the lock on
            // a connection nobody will hear from again.
            let alive = tokio::time::timeout(crate::store::ANSWER_WITHIN, leadership::alive(&mut lock)).await;
            if !alive.unwrap_or(false) {
                return;
            }
            // While the tick runs, the lock's connection is asked again now
            // and then: a primary that froze mid-tick leaves the tick's query
            // hanging, and is given up within ANSWER_WITHIN of the next look,
            // not after the whole TICK_WITHIN.
            let work = crate::store::within(TICK_WITHIN, self.tick(Utc::now()));
            tokio::pin!(work);
            let mut watch = tokio::time::interval(WATCH_DURING_TICK);
            watch.tick().await;
            let done = loop {
                tokio::select! {
                    done = &mut work => break Some(done),
                    _ = watch.tick() => {
                        let alive = tokio::time::timeout(crate::store::ANSWER_WITHIN, leadership::alive(&mut lock)).await;
                        if !alive.unwrap_or(false) {
                            break None;
                        }
                    }
                }
            };
            match done {
                None => {
                    tracing::warn!("the database stopped answering mid-tick: leadership given up");
                    return;
                }
                Some(Err(err)) => tracing::warn!(cause = %err, "scheduler tick failed"),
                Some(Ok(())) => {}
            }
        }
    }

    async fn tick(&mut self, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        alerts::escalate_due(&self.pool, &self.settings.escalation, now).await?;
        let devices = stored_devices::health(&self.pool).await?;
        self.device_health(&devices, now).await?;
        self.behaviour.tick(&self.pool, &self.rule_settings, &self.metrics, &devices, now).await?;
        self.institution_silence(now).await?;
        self.care_visits(now).await?;
        // Meal orders for the day after next, as each resident's date turns.
        crate::store::meals::sync_due(&self.pool, now).await?;
        self.roll_up(now);
        // Stamped after the work, so a leader stuck inside a tick shows as stalled.
        leadership::heartbeat(&self.pool, &self.settings.instance).await?;
        self.metrics.scheduler_ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // After the heartbeat, and never failing the tick: housekeeping must
        // not make the alarm path look stalled.
        if let Err(err) = self.retention.tick(&self.pool, now).await {
            tracing::warn!(cause = %err, "retention failed; trying again at the next tick");
        }
        // Offers nobody accepted in time pass to the next provider.
        if let Err(err) = crate::store::matching::lapse_due(&self.pool, 100).await {
            tracing::warn!(cause = %err, "passing on lapsed offers failed; trying again at the next tick");
        }
        // Complaints unanswered in time go to the bureau's queue.
        if let Err(err) = crate::store::complaints::overdue_due(&self.pool, 100).await {
            tracing::warn!(cause = %err, "marking overdue complaints failed; trying again at the next tick");
        }
        // The check at home after a hospital stay whose end has now passed.
        if let Err(err) = crate::care::discharge::follow_up_due(&self.pool, &self.rule_settings, now).await {
            tracing::warn!(cause = %err, "planning post-discharge checks failed; trying again at the next tick");
        }
        // Last month's follow-up calls, once it is over everywhere.
        let month = crate::care::follow_ups::last_month(now);
        if let Some(key) = self.settings.sample_key.as_ref()
            && crate::care::follow_ups::has_ended(month, now)
            && self.draw_tried_at.is_none_or(|at| now - at >= DRAW_EVERY)
        {
            self.draw_tried_at = Some(now);
            if let Err(err) = crate::care::follow_ups::draw(&self.pool, key, month).await {
                tracing::warn!(cause = %err, "drawing follow-up calls failed; trying again in 15 minutes");
            }
        }
        // The family is told a month ahead that a grade is about to lapse.
        if let Err(err) = crate::store::assessments::remind_due(&self.pool, REASSESS_AHEAD_DAYS, 100).await {
            tracing::warn!(cause = %err, "re-assessment reminders failed; trying again at the next tick");
        }
        Ok(())
    }

    /// Care visits late or missed, and plans' visits generated as days pass
    /// (hourly: the horizon moves a day a day, at each zone's midnight).
    async fn care_visits(&mut self, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        crate::care::judge_lateness(&self.pool, &self.metrics, &self.rule_settings, now).await?;
        let running = self.plans_job.as_ref().is_some_and(|job| !job.is_finished());
        if !running && self.plans_extended_at.is_none_or(|at| now - at >= chrono::Duration::hours(1)) {
            let pool = self.pool.clone();
            self.plans_extended_at = Some(now);
            self.plans_job = Some(tokio::spawn(async move {
                if let Err(err) = crate::care::extend_plans(&pool, now).await {
                    tracing::warn!(cause = %err, "extending care plans failed");
                }
            }));
        }
        Ok(())
    }

    /// The hourly rollup of readings (plain PostgreSQL), when due: the
    /// hours that changed since the last run, and the ones that ended.
    fn roll_up(&mut self, now: DateTime<Utc>) {
        let Some(every) = self.settings.rollup_every else { return };
        let running = self.rollup_job.as_ref().is_some_and(|job| !job.is_finished());
        if running || self.rolled_up_at.is_some_and(|at| now - at < every) {
            return;
        }
        let pool = self.pool.clone();
        self.rolled_up_at = Some(now);
        self.rollup_job = Some(tokio::spawn(async move {
            match crate::store::rollups::catch_up(&pool, now).await {
                Ok(rolled) => tracing::debug!(?rolled, "readings rolled up"),
                Err(err) => tracing::warn!(cause = %err, "rolling up readings failed; trying again at the next run"),
            }
        }));
    }

    /// Institutions whose devices were sending and have gone quiet: a care
    /// home's gateway, network or power is down, and with it every alarm.
    async fn institution_silence(&self, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        let open = store_alerts::active_keys(&self.pool, &[AlertKind::InstitutionSilent]).await?;
        for (institution, last) in stored_devices::last_data_by_institution(&self.pool).await? {
            let Some(decision) = watchdog::institution_silence(last, self.settings.institution_silent_after, now)
            else {
                continue;
            };
            let subject = Subject::institution(institution);
            let key = (institution, subject.key(), AlertKind::InstitutionSilent, String::new());
            if decision.is_raise() != open.contains(&key) {
                alerts::apply(&self.pool, &self.metrics, &subject, &decision, false).await?;
            }
        }
        Ok(())
    }

    /// Devices silent past their kind's heartbeat timeout, or that said they
    /// went offline, are offline; low batteries recharged are cleared. Judged
    /// from the stored device state, so nothing the engine missed (a crash
    /// between storing a Last Will and judging it) stays unjudged.
    async fn device_health(&self, rows: &[stored_devices::HealthRow], now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        let active = store_alerts::active_keys(&self.pool, &[AlertKind::DeviceOffline, AlertKind::LowBattery]).await?;
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
                let settings = match d.resident_id {
                    Some(rid) => self.rule_settings.resident(&self.pool, rid).await?.unwrap_or_default(),
                    None => self.rule_settings.institution(&self.pool, d.institution_id).await?,
                };
                if d.battery.is_some_and(|b| devices::battery(b, settings.low_battery.percent) == Battery::Fine) {
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
                device_id: d.device_id.clone(),
                kind: d.kind,
                last_seen_at: Some(presence::silent_since(d.last_seen_at, d.created_at)),
                online: d.reported_online,
                online_at: d.online_at,
                battery: d.battery,
            };
            for decision in devices::silent_devices(std::slice::from_ref(&health), now) {
                // Only changes: raise what is not open, clear what is.
                if decision.is_raise() != is_active(&subject, AlertKind::DeviceOffline, decision.cause()) {
                    alerts::apply(&self.pool, &self.metrics, &subject, &decision, false).await?;
                }
            }
        }
        Ok(())
    }
}

/// The behaviour rules as the leader runs them: each resident's recent
/// activity kept in memory and topped up from what committed since the last
/// tick, and the episodes already raised.
#[derive(Default)]
pub struct Behaviour {
    /// Activity per resident, oldest first, within LOOKBACK.
    activity: HashMap<Uuid, Vec<ActivityEvent>>,
    /// How far activity has been read; `None` before the first read.
    horizon: Option<Horizon>,
    /// Episodes already raised, so a condition that still holds is not
    /// re-submitted every tick.
    raised: HashSet<(Uuid, AlertKind, String)>,
    /// Each resident's learned routine and the local day it was learned
    /// for; `None` until read from the database.
    routines: Option<HashMap<Uuid, (NaiveDate, Routine)>>,
    /// Each resident's stored open presence period; `None` until read.
    presence: Option<HashMap<Uuid, PresencePeriod>>,
}

/// How many residents' routines one tick learns at most: a district's
/// residents pass local midnight over a few minutes, not in one tick.
const ROUTINES_PER_TICK: usize = 50;

impl Behaviour {
    pub fn new() -> Behaviour {
        Behaviour::default()
    }

    async fn load_activity(&mut self, pool: &PgPool, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        let (rows, horizon) = activity::committed_since(pool, &activity_kinds(), now - LOOKBACK, self.horizon).await?;
        self.horizon = Some(horizon);
        for (resident, event) in rows {
            let events = self.activity.entry(resident).or_default();
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

    /// Learns the routine of each watched resident whose stored one is not
    /// for their local today, up to [`ROUTINES_PER_TICK`] of them, from the
    /// 28 local days before it, and stores it.
    async fn learn_routines(
        &mut self,
        pool: &PgPool,
        watched: &[residents::Watched],
        settings: &HashMap<Uuid, Arc<RuleSettings>>,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        if self.routines.is_none() {
            self.routines = Some(routines::all(pool).await?);
        }
        let known = self.routines.get_or_insert_with(HashMap::new);
        let mut learned = 0;
        for r in watched {
            if learned == ROUTINES_PER_TICK {
                break;
            }
            let (Ok(tz), Some(settings)) = (r.timezone.parse::<chrono_tz::Tz>(), settings.get(&r.id)) else { continue };
            let today = now.with_timezone(&tz).date_naive();
            if known.get(&r.id).is_some_and(|(date, _)| *date == today) {
                continue;
            }
            let resident = Reached::<Monitoring>::for_the_platform(r.id);
            let from = now - chrono::Duration::days(routine::HISTORY_DAYS + 2);
            let events =
                activity::of_resident(pool, &resident, &activity_kinds(), from, now, routine::MAX_EVENTS).await?;
            let visits = activity::attended(pool, &resident, from, now).await?;
            let learnt = routine::learn(&events, &visits, tz, settings, today);
            routines::save(pool, &resident, today, &learnt).await?;
            known.insert(r.id, (today, learnt));
            learned += 1;
        }
        Ok(())
    }

    /// Stores a resident's presence periods as judged now, when they
    /// changed: from the stored open period's start on (the periods judged
    /// from the look-back begin with its oldest event, which is no change).
    async fn record_presence(
        &mut self,
        pool: &PgPool,
        resident: Uuid,
        judged: Vec<PresencePeriod>,
    ) -> Result<(), sqlx::Error> {
        if self.presence.is_none() {
            self.presence = Some(crate::store::presence::open(pool).await?);
        }
        let stored = self.presence.get_or_insert_with(HashMap::new);
        let Some(changed) = crate::rules::presence::to_record(stored.get(&resident).copied(), judged) else {
            return Ok(());
        };
        let reached = Reached::<Monitoring>::for_the_platform(resident);
        crate::store::presence::record(pool, &reached, &changed).await?;
        stored.insert(resident, *changed.last().expect("the current period"));
        Ok(())
    }

    /// Judges every resident's behaviour rules at `now`: the leader calls
    /// it each tick with the wall clock; a test may step `now` through
    /// stored history.
    pub async fn tick(
        &mut self,
        pool: &PgPool,
        rule_settings: &SettingsCache,
        metrics: &Metrics,
        devices: &[stored_devices::HealthRow],
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        self.load_activity(pool, now).await?;
        if self.raised.is_empty() {
            let since = now - LOOKBACK - chrono::Duration::hours(12);
            self.raised = store_alerts::opened_about_residents(pool, since).await?.into_iter().collect();
        }
        let watched = residents::watched(pool).await?;
        let ids: Vec<Uuid> = watched.iter().map(|r| r.id).collect();
        let settings = rule_settings.residents(pool, &ids).await?;
        self.learn_routines(pool, &watched, &settings, now).await?;
        let mut sensors_online: HashSet<Uuid> = HashSet::new();
        for d in devices {
            if let Some(rid) = d.resident_id
                && behaviour::sees_activity(d.kind, d.last_seen_at, d.reported_online, now)
            {
                sensors_online.insert(rid);
            }
        }
        let active = store_alerts::active_about_residents(pool).await?;
        let periods = crate::store::status::periods_of(pool, &ids).await?;
        let mut visits = activity::attended_since(pool, now - LOOKBACK).await?;
        for r in watched {
            let Ok(tz) = r.timezone.parse::<chrono_tz::Tz>() else { continue };
            let Some(settings) = settings.get(&r.id) else { continue };
            let periods = periods.get(&r.id).map_or(&[][..], |p| p.as_slice());
            // Someone not at home does nothing the rules could judge; what
            // was open about them when they left (a status that started
            // later than it was recorded) is resolved.
            if !status::present_at(periods, now) {
                if status::ABSENCE_CLEARS.iter().any(|k| active.iter().any(|(id, kind, _)| *id == r.id && kind == k)) {
                    let mut tx = pool.begin().await?;
                    let details = serde_json::json!({"resident_status": status::status_at(periods, now)});
                    let applied = alerts::resolve_about_resident(
                        &mut tx,
                        &Reached::<Alerts>::for_the_platform(r.id),
                        Some(status::ABSENCE_CLEARS),
                        None,
                        &details,
                    )
                    .await?;
                    tx.commit().await?;
                    applied.iter().for_each(|a| a.count(metrics));
                }
                continue;
            }
            let since = status::back_since(periods, now).map_or(r.since, |back| back.max(r.since));
            let facts = ResidentFacts {
                tz,
                settings: (**settings).clone(),
                events: self.activity.get(&r.id).cloned().unwrap_or_default(),
                activity_sensors_online: sensors_online.contains(&r.id),
                since,
                routine: self.routines.as_ref().and_then(|known| known.get(&r.id)).map(|(_, routine)| routine.clone()),
                visits: visits.remove(&r.id).unwrap_or_default(),
            };
            let subject =
                Subject { institution_id: r.institution_id, resident_id: Some(r.id), device_id: None, room: None };
            let (decisions, presence) = behaviour::judge(&facts, now);
            self.record_presence(pool, r.id, presence).await?;
            for decision in decisions {
                let key = (r.id, decision.kind(), decision.cause().to_owned());
                let wanted = match &decision {
                    Decision::Raise { .. } => !self.raised.contains(&key),
                    Decision::Clear { .. } => active.contains(&key),
                };
                if wanted {
                    alerts::apply(pool, metrics, &subject, &decision, false).await?;
                    if decision.is_raise() {
                        self.raised.insert(key);
                    }
                }
            }
        }
        Ok(())
    }
}
