//! The coordinator's side of a scenario: when the alert of a scripted
//! incident opens (a fall), a welfare check is dispatched to it through the
//! backend's API with the simulated carer, who checks in at the door with
//! GPS jitter a few minutes later and leaves once the service's time has
//! passed. One pass at a time, like the rounds; what the carer does is
//! [`rounds::decide`] with the arrival moved to the scripted delay.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use eldercare_domain::AlertKind;
use reqwest::Method;
use serde_json::{Value, json};

use crate::provision::{Api, ProvisionError};
use crate::rounds::{self, Due, Outcome, RoundsOptions};

/// A welfare check a scenario dispatches.
#[derive(Debug, Clone, PartialEq)]
pub struct Scripted {
    /// The scenario's resident key.
    pub resident: String,
    /// The kind of the alert it answers (`fall`).
    pub alert_kind: AlertKind,
    /// The carer is at the door this long after the dispatch.
    pub arrive_after: Duration,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DispatchPass {
    pub dispatched: u32,
    pub checked_in: u32,
    pub checked_out: u32,
}

impl DispatchPass {
    pub fn is_empty(&self) -> bool {
        *self == DispatchPass::default()
    }
}

impl std::fmt::Display for DispatchPass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} dispatched, {} checked in, {} checked out", self.dispatched, self.checked_in, self.checked_out)
    }
}

async fn get(api: &Api, path: &str) -> Result<Value, ProvisionError> {
    let (status, body) = api.request(Method::GET, path, None).await?;
    if !status.is_success() {
        return Err(rounds::failed(&format!("GET {path}"), status, &body));
    }
    Ok(body)
}

fn list<'a>(body: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    body[key].as_array().into_iter().flatten()
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(|s| s.parse().ok())
}

/// One pass at `now`: every open alert of a scripted kind about a scripted
/// resident gets its welfare check (once), and the carer acts on the checks
/// already dispatched. `residents` maps the scenario's keys to the
/// backend's ids, as provisioning kept them.
pub async fn pass(
    admin: &Api,
    carer: &Api,
    carer_id: &str,
    residents: &BTreeMap<String, String>,
    scripted: &[Scripted],
    now: DateTime<Utc>,
    seed: u64,
) -> Result<DispatchPass, ProvisionError> {
    let mut done = DispatchPass::default();
    let on_time = RoundsOptions { late_share: 0.0, far_share: 0.0, seed };
    let mut durations: Option<Value> = None;
    for s in scripted {
        let Some(rid) = residents.get(&s.resident) else { continue };
        let alerts = get(admin, &format!("/api/v1/alerts?resident_id={rid}&kind={}&limit=100", s.alert_kind)).await?;
        let visits = get(admin, &format!("/api/v1/visits?resident_id={rid}&limit=1000")).await?;
        let resident = get(admin, &format!("/api/v1/residents/{rid}")).await?;
        let home = resident["location"]["lat"].as_f64().zip(resident["location"]["lon"].as_f64());
        for alert in list(&alerts, "alerts") {
            let Some(alert_id) = alert["id"].as_str() else { continue };
            let sent = list(&visits, "visits").find(|v| v["alert_id"] == alert_id).cloned();
            let visit = match sent {
                Some(visit) => visit,
                None if alert["status"] != "resolved" => {
                    let path = format!("/api/v1/alerts/{alert_id}/dispatch");
                    let body = json!({"service_code": "WELFARE-CHECK", "caregiver_id": carer_id});
                    let (status, visit) = admin.request(Method::POST, &path, Some(body)).await?;
                    if !status.is_success() {
                        return Err(rounds::failed(&format!("POST {path}"), status, &visit));
                    }
                    done.dispatched += 1;
                    visit
                }
                None => continue,
            };
            if visit["caregiver_id"] != carer_id {
                // Someone else went: the coordinator sent a real person.
                continue;
            }
            if durations.is_none() {
                durations = Some(get(admin, "/api/v1/services").await?);
            }
            let service = visit["service_code"].as_str().unwrap_or_default();
            let minutes = durations
                .as_ref()
                .and_then(|d| list(d, "services").find(|x| x["code"] == service))
                .and_then(|x| x["duration_minutes"].as_i64())
                .unwrap_or(30);
            let due = Due {
                id: visit["id"].as_str().unwrap_or_default().to_owned(),
                status: visit["status"].as_str().unwrap_or_default().to_owned(),
                // The carer is on the way: at the door `arrive_after` later.
                scheduled_start: time(&visit["scheduled_start"]).map(|at| at + s.arrive_after),
                checked_in_at: time(&visit["evv"]["start"]),
                duration_minutes: minutes,
                home,
            };
            match rounds::act(carer, &due.id, rounds::decide(&due, now, &on_time), &[]).await? {
                Outcome::CheckedIn => done.checked_in += 1,
                Outcome::CheckedOut => done.checked_out += 1,
                Outcome::Waiting => {}
            }
        }
    }
    Ok(done)
}
