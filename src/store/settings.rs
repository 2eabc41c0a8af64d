//! Where rule settings are kept: the institution's and each resident's
//! overrides, as JSON merge patches, read as effective [`RuleSettings`].
//!
//! Every part of a process (the rule engine, the scheduler, the API) reads
//! them through one [`SettingsCache`]. A change is announced on a
//! PostgreSQL channel by the transaction that makes it, so every process
//! drops what it kept; while a process is not listening (starting, or its
//! listening connection lost) it keeps nothing and reads the database each
//! time, so it never judges by settings changed in the meantime.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::postgres::PgNotification;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::domain::settings::RuleSettings;
use crate::store::listen;

/// The PostgreSQL channel that carries settings changes to every process.
pub const NOTIFY_CHANNEL: &str = "eldercare_rule_settings_changes";

/// Whose settings changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Changed {
    Resident(Uuid),
    /// Every resident of the institution inherits the change.
    Institution(Uuid),
}

/// The effective settings this process read, shared by all its parts.
#[derive(Clone, Default)]
pub struct SettingsCache {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Settings are kept only while changes are heard.
    listening: bool,
    /// Moves on at every change heard, so that settings read from the
    /// database before the change are not kept after it.
    generation: u64,
    residents: HashMap<Uuid, Arc<RuleSettings>>,
    institutions: HashMap<Uuid, Arc<RuleSettings>>,
}

impl State {
    fn forget(&mut self, changed: Changed) {
        self.generation += 1;
        match changed {
            Changed::Resident(id) => {
                self.residents.remove(&id);
            }
            Changed::Institution(id) => {
                self.institutions.remove(&id);
                // Which residents are the institution's is not kept here.
                self.residents.clear();
            }
        }
    }

    fn forget_all(&mut self, listening: bool) {
        self.generation += 1;
        self.listening = listening;
        self.residents.clear();
        self.institutions.clear();
    }
}

impl SettingsCache {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned map of settings is still a valid map of settings.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The effective settings of a resident; `None` when there is no such
    /// resident.
    pub async fn resident(&self, pool: &PgPool, id: Uuid) -> Result<Option<Arc<RuleSettings>>, sqlx::Error> {
        Ok(self.residents(pool, &[id]).await?.remove(&id))
    }

    /// The effective settings of each of these residents that exists.
    pub async fn residents(
        &self,
        pool: &PgPool,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Arc<RuleSettings>>, sqlx::Error> {
        let (mut found, missing, generation) = {
            let state = self.lock();
            let mut found = HashMap::new();
            let mut missing = Vec::new();
            for id in ids {
                match state.residents.get(id) {
                    Some(settings) => {
                        found.insert(*id, settings.clone());
                    }
                    None => missing.push(*id),
                }
            }
            (found, missing, state.generation)
        };
        if missing.is_empty() {
            return Ok(found);
        }
        let rows: Vec<(Uuid, Value, Value)> = sqlx::query_as(
            "select r.id, i.rule_settings, r.rule_settings from residents r
             join institutions i on i.id = r.institution_id where r.id = any($1)",
        )
        .bind(&missing)
        .fetch_all(pool)
        .await?;
        let mut state = self.lock();
        let keep = state.listening && state.generation == generation;
        for (id, institution, resident) in rows {
            let settings = Arc::new(layered(&institution, Some(&resident), id));
            if keep {
                state.residents.insert(id, settings.clone());
            }
            found.insert(id, settings);
        }
        Ok(found)
    }

    /// The settings a shared device (no resident) is judged by: the
    /// institution's.
    pub async fn institution(&self, pool: &PgPool, id: Uuid) -> Result<Arc<RuleSettings>, sqlx::Error> {
        let generation = {
            let state = self.lock();
            if let Some(settings) = state.institutions.get(&id) {
                return Ok(settings.clone());
            }
            state.generation
        };
        let stored: Option<Value> = sqlx::query_scalar("select rule_settings from institutions where id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
        let settings = Arc::new(stored.map(|stored| layered(&stored, None, id)).unwrap_or_default());
        let mut state = self.lock();
        if state.listening && state.generation == generation {
            state.institutions.insert(id, settings.clone());
        }
        Ok(settings)
    }

    /// Drops what this process kept of settings it has just changed, so
    /// that its own next read sees the change at once.
    pub fn forget(&self, changed: Changed) {
        self.lock().forget(changed);
    }

    /// Hears the changes every process announces until `shutdown`,
    /// listening again after a lost connection.
    pub async fn run(mut self, pool: PgPool, shutdown: CancellationToken) {
        listen::follow(&pool, "rule settings", &[NOTIFY_CHANNEL], &mut self, &shutdown).await;
    }
}

impl listen::Listener for SettingsCache {
    fn listening(&mut self) {
        // Whatever changed while nobody listened is read afresh.
        self.lock().forget_all(true);
    }

    async fn heard(&mut self, _pool: &PgPool, notification: PgNotification) -> Result<(), sqlx::Error> {
        match serde_json::from_str::<Changed>(notification.payload()) {
            Ok(changed) => self.forget(changed),
            Err(err) => {
                tracing::warn!(cause = %err, payload = notification.payload(), "unreadable settings change");
                self.lock().forget_all(true);
            }
        }
        Ok(())
    }

    fn lost(&mut self) {
        self.lock().forget_all(false);
    }
}

/// Tells every process, once `tx` commits, that settings changed.
pub async fn announce(tx: &mut PgConnection, changed: Changed) -> Result<(), sqlx::Error> {
    let payload = serde_json::to_string(&changed).unwrap_or_default();
    sqlx::query("select pg_notify($1, $2)").bind(NOTIFY_CHANNEL).bind(payload).execute(tx).await.map(drop)
}

/// A resident's stored layers, the institution's and their own, locked
/// until `tx` ends.
pub async fn lock_resident_layers(tx: &mut PgConnection, id: Uuid) -> Result<(Value, Value), sqlx::Error> {
    sqlx::query_as(
        "select i.rule_settings, r.rule_settings from residents r join institutions i on i.id = r.institution_id
         where r.id = $1 for update of r",
    )
    .bind(id)
    .fetch_one(tx)
    .await
}

/// Stores a resident's layer; `back_home` ends an away spell now.
pub async fn save_resident_layer(
    tx: &mut PgConnection,
    id: Uuid,
    layer: &Value,
    back_home: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update residents set rule_settings = $2, updated_at = now(),
                away_ended_at = case when $3 then now() else away_ended_at end
         where id = $1",
    )
    .bind(id)
    .bind(layer)
    .bind(back_home)
    .execute(tx)
    .await
    .map(drop)
}

/// An institution's stored layer, locked until `tx` ends.
pub async fn lock_institution_layer(tx: &mut PgConnection, id: Uuid) -> Result<Value, sqlx::Error> {
    sqlx::query_scalar("select rule_settings from institutions where id = $1 for update").bind(id).fetch_one(tx).await
}

pub async fn save_institution_layer(tx: &mut PgConnection, id: Uuid, layer: &Value) -> Result<(), sqlx::Error> {
    sqlx::query("update institutions set rule_settings = $2 where id = $1")
        .bind(id)
        .bind(layer)
        .execute(tx)
        .await
        .map(drop)
}

/// Stored layers that no longer parse fall back to the defaults, loudly: an
/// alarm is better judged by defaults than not at all.
pub fn layered(institution: &Value, resident: Option<&Value>, whose: Uuid) -> RuleSettings {
    RuleSettings::from_layers(Some(institution), resident).unwrap_or_else(|err| {
        tracing::error!(id = %whose, cause = %err, "stored rule settings are invalid; using defaults");
        RuleSettings::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_announced_as_json_naming_whose() {
        let id = Uuid::nil();
        let text = serde_json::to_string(&Changed::Resident(id)).unwrap();
        assert_eq!(text, format!(r#"{{"resident":"{id}"}}"#));
        assert_eq!(serde_json::from_str::<Changed>(&text).unwrap(), Changed::Resident(id));
    }

    #[test]
    fn a_change_moves_the_generation_and_drops_what_it_touches() {
        let mut state = State { listening: true, ..State::default() };
        let (a, b, home) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        state.residents.insert(a, Arc::default());
        state.residents.insert(b, Arc::default());
        state.institutions.insert(home, Arc::default());
        state.forget(Changed::Resident(a));
        assert_eq!(state.generation, 1);
        assert!(!state.residents.contains_key(&a) && state.residents.contains_key(&b));
        state.forget(Changed::Institution(home));
        assert_eq!(state.generation, 2);
        assert!(state.residents.is_empty() && state.institutions.is_empty());
    }
}
