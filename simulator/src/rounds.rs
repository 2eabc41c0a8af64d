//! Caregivers doing their rounds through the backend's API, as their phones
//! would: each visit due is assigned to the simulated carer, checked in at
//! the door with GPS jitter (the odd one far from home, the odd one left
//! late, so the backend raises `visit_late`), and checked out once its
//! service's time has passed. One pass at a time; the caller repeats it.
//!
//! What a carer does about a visit is decided by [`decide`], pure and
//! seeded by the visit's id, so every pass makes the same choice about the
//! same visit (a visit left late stays late).

use std::hash::{DefaultHasher, Hash, Hasher};

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::provision::{Api, ProvisionError};

/// How often the odd thing happens.
#[derive(Debug, Clone, Copy)]
pub struct RoundsOptions {
    /// Share of visits checked in late (40 minutes after their start).
    pub late_share: f64,
    /// Share of check-ins a kilometre from home.
    pub far_share: f64,
    pub seed: u64,
}

impl Default for RoundsOptions {
    fn default() -> Self {
        RoundsOptions { late_share: 0.1, far_share: 0.05, seed: 42 }
    }
}

/// A late carer arrives this long after the start.
const LATE_BY: Duration = Duration::minutes(40);

/// Where the phone says it is, and how sure it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fix {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    CheckIn(Fix),
    CheckOut(Fix),
    Wait,
}

/// What the carer's phone knows of one visit.
#[derive(Debug, Clone)]
pub struct Due {
    pub id: String,
    pub status: String,
    pub scheduled_start: Option<DateTime<Utc>>,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub duration_minutes: i64,
    pub home: Option<(f64, f64)>,
}

fn rng_for(seed: u64, visit: &str) -> StdRng {
    let mut hasher = DefaultHasher::new();
    visit.hash(&mut hasher);
    StdRng::seed_from_u64(seed ^ hasher.finish())
}

/// A GPS fix around home: within 25 m, or a kilometre off when `far`.
fn fix(rng: &mut StdRng, home: (f64, f64), far: bool) -> Fix {
    let radius = if far { 1_100.0 } else { rng.random_range(0.0..25.0) };
    let angle: f64 = rng.random_range(0.0..std::f64::consts::TAU);
    let metres_per_degree = 111_320.0;
    let lat = home.0 + radius * angle.cos() / metres_per_degree;
    let lon = home.1 + radius * angle.sin() / (metres_per_degree * home.0.to_radians().cos().max(0.01));
    Fix { lat, lon, accuracy_m: rng.random_range(5.0..30.0_f64).round() }
}

/// What the carer does about a visit at `now`.
pub fn decide(visit: &Due, now: DateTime<Utc>, options: &RoundsOptions) -> Step {
    let mut rng = rng_for(options.seed, &visit.id);
    let late = rng.random_bool(options.late_share.clamp(0.0, 1.0));
    let far = rng.random_bool(options.far_share.clamp(0.0, 1.0));
    let Some(home) = visit.home else { return Step::Wait };
    match visit.status.as_str() {
        "scheduled" | "assigned" | "missed" => {
            let Some(start) = visit.scheduled_start else { return Step::Wait };
            let arrives = if late { start + LATE_BY } else { start };
            if now >= arrives { Step::CheckIn(fix(&mut rng, home, far)) } else { Step::Wait }
        }
        "checked_in" => match visit.checked_in_at {
            Some(at) if now >= at + Duration::minutes(visit.duration_minutes) => {
                Step::CheckOut(fix(&mut rng, home, false))
            }
            _ => Step::Wait,
        },
        _ => Step::Wait,
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub assigned: u32,
    pub checked_in: u32,
    pub checked_out: u32,
    pub waiting: u32,
}

impl std::fmt::Display for Pass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} assigned, {} checked in, {} checked out, {} waiting",
            self.assigned, self.checked_in, self.checked_out, self.waiting
        )
    }
}

pub(crate) fn failed(what: &str, status: StatusCode, body: &Value) -> ProvisionError {
    ProvisionError::Status { what: what.into(), status, body: body.to_string() }
}

/// Makes sure the simulated carer has an account (an existing one is kept)
/// and answers its user id.
pub async fn ensure_carer(admin: &Api, email: &str, password: &str) -> Result<String, ProvisionError> {
    let id = ensure_user(admin, email, password, "caregiver", "Sim Carer").await?;
    // Nobody goes through a door without a valid health certificate.
    let until = (Utc::now() + Duration::days(365)).date_naive();
    let certificates = json!([{"kind": "health", "valid_until": until},
                              {"kind": "care_worker_level", "level": 3, "valid_until": until}]);
    let path = format!("/api/v1/users/{id}/certificates");
    let (status, answer) = admin.request(Method::PUT, &path, Some(certificates)).await?;
    if !status.is_success() {
        return Err(failed(&format!("PUT {path}"), status, &answer));
    }
    Ok(id)
}

/// A user of the admin's institution, made if missing: its id.
pub async fn ensure_user(
    admin: &Api,
    email: &str,
    password: &str,
    role: &str,
    name: &str,
) -> Result<String, ProvisionError> {
    let body = json!({"email": email, "password": password, "role": role, "name": name});
    let (status, created) = admin.request(Method::POST, "/api/v1/users", Some(body)).await?;
    if status.is_success() {
        return created["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ProvisionError::Response { what: "POST /api/v1/users".into(), detail: "no id".into() });
    }
    if status != StatusCode::CONFLICT {
        return Err(failed("POST /api/v1/users", status, &created));
    }
    let (status, users) = admin.request(Method::GET, "/api/v1/users", None).await?;
    if !status.is_success() {
        return Err(failed("GET /api/v1/users", status, &users));
    }
    users["users"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|u| u["email"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(email)))
        .and_then(|u| u["id"].as_str().map(str::to_owned))
        .ok_or_else(|| ProvisionError::Response { what: "GET /api/v1/users".into(), detail: format!("no {email}") })
}

/// One pass of the round at `now`: the admin assigns the visits of the last
/// 12 hours nobody was sent to; the carer acts on their day's visits.
pub async fn pass(
    admin: &Api,
    carer: &Api,
    carer_id: &str,
    now: DateTime<Utc>,
    options: &RoundsOptions,
) -> Result<Pass, ProvisionError> {
    let mut done = Pass::default();
    let from = (now - Duration::hours(12)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let path = format!("/api/v1/visits?status=scheduled&limit=1000&from={}", from.replace('+', "%2B"));
    let (status, unassigned) = admin.request(Method::GET, &path, None).await?;
    if !status.is_success() {
        return Err(failed("GET /api/v1/visits", status, &unassigned));
    }
    for v in unassigned["visits"].as_array().into_iter().flatten() {
        let due = v["scheduled_start"].as_str().and_then(|s| s.parse::<DateTime<Utc>>().ok()).is_some_and(|s| s <= now);
        let Some(id) = v["id"].as_str().filter(|_| due) else { continue };
        let (status, body) = admin
            .request(Method::POST, &format!("/api/v1/visits/{id}/assign"), Some(json!({"caregiver_id": carer_id})))
            .await?;
        if status.is_success() {
            done.assigned += 1;
        } else if status != StatusCode::CONFLICT {
            return Err(failed("POST /api/v1/visits/{id}/assign", status, &body));
        }
    }
    let (status, day) = carer.request(Method::GET, "/api/v1/me/visits?limit=1000", None).await?;
    if !status.is_success() {
        return Err(failed("GET /api/v1/me/visits", status, &day));
    }
    for v in day["visits"].as_array().into_iter().flatten() {
        let time = |v: &Value| v.as_str().and_then(|s| s.parse::<DateTime<Utc>>().ok());
        let location = &v["resident"]["location"];
        let due = Due {
            id: v["id"].as_str().unwrap_or_default().to_owned(),
            status: v["status"].as_str().unwrap_or_default().to_owned(),
            scheduled_start: time(&v["scheduled_start"]),
            checked_in_at: time(&v["check_in"]["received_at"]),
            duration_minutes: v["service"]["duration_minutes"].as_i64().unwrap_or(30),
            home: location["lat"].as_f64().zip(location["lon"].as_f64()),
        };
        let tasks: Vec<&str> =
            v["service"]["tasks"].as_array().into_iter().flatten().filter_map(|t| t["code"].as_str()).collect();
        match act(carer, &due.id, decide(&due, now, options), &tasks).await? {
            Outcome::CheckedIn => done.checked_in += 1,
            Outcome::CheckedOut => done.checked_out += 1,
            Outcome::Waiting => done.waiting += 1,
        }
    }
    Ok(done)
}

/// What came of a carer's step at a door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    CheckedIn,
    CheckedOut,
    Waiting,
}

/// The carer's phone at the door of `visit`: a check-in or check-out by
/// GPS at the step's fix, every task of the service done at check-out.
pub(crate) async fn act(carer: &Api, visit: &str, step: Step, tasks: &[&str]) -> Result<Outcome, ProvisionError> {
    let (action, at) = match step {
        Step::Wait => return Ok(Outcome::Waiting),
        Step::CheckIn(at) => ("check-in", at),
        Step::CheckOut(at) => ("check-out", at),
    };
    let mut body = json!({"location": {"lat": at.lat, "lon": at.lon, "accuracy_m": at.accuracy_m}, "method": "gps"});
    if action == "check-out" {
        let tasks: Vec<Value> = tasks.iter().map(|code| json!({"code": code, "done": true})).collect();
        body["tasks"] = json!(tasks);
    }
    let path = format!("/api/v1/visits/{visit}/{action}");
    let (status, answer) = carer.request(Method::POST, &path, Some(body)).await?;
    match (status.is_success(), action) {
        (true, "check-in") => Ok(Outcome::CheckedIn),
        (true, _) => Ok(Outcome::CheckedOut),
        // Cancelled meanwhile: nothing to do at that door.
        (false, _) if status == StatusCode::CONFLICT => Ok(Outcome::Waiting),
        (false, _) => Err(failed(&path, status, &answer)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(status: &str) -> Due {
        Due {
            id: "v-1".into(),
            status: status.into(),
            scheduled_start: Some("2026-11-30T09:00:00Z".parse().unwrap()),
            checked_in_at: None,
            duration_minutes: 60,
            home: Some((29.8683, 121.5440)),
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn metres(fix: Fix, home: (f64, f64)) -> f64 {
        let dlat = (fix.lat - home.0) * 111_320.0;
        let dlon = (fix.lon - home.1) * 111_320.0 * home.0.to_radians().cos();
        (dlat * dlat + dlon * dlon).sqrt()
    }

    #[test]
    fn carers_arrive_on_time_near_the_door_and_leave_after_the_service_s_time() {
        let on_time = RoundsOptions { late_share: 0.0, far_share: 0.0, seed: 7 };
        assert_eq!(decide(&due("assigned"), at("2026-11-30T08:59:00Z"), &on_time), Step::Wait);
        let Step::CheckIn(fix) = decide(&due("assigned"), at("2026-11-30T09:00:00Z"), &on_time) else {
            panic!("checks in at the start")
        };
        assert!(metres(fix, (29.8683, 121.5440)) < 25.5, "{fix:?}");
        assert_eq!(
            decide(&due("assigned"), at("2026-11-30T09:00:00Z"), &on_time),
            Step::CheckIn(fix),
            "seeded by the visit"
        );
        let inside = Due { checked_in_at: Some(at("2026-11-30T09:00:00Z")), ..due("checked_in") };
        assert_eq!(decide(&inside, at("2026-11-30T09:59:00Z"), &on_time), Step::Wait);
        assert!(matches!(decide(&inside, at("2026-11-30T10:00:00Z"), &on_time), Step::CheckOut(_)));
        assert_eq!(decide(&due("completed"), at("2026-11-30T12:00:00Z"), &on_time), Step::Wait);
        assert_eq!(decide(&Due { home: None, ..due("assigned") }, at("2026-11-30T12:00:00Z"), &on_time), Step::Wait);
    }

    #[test]
    fn the_odd_carer_is_late_or_far_from_home() {
        let odd = RoundsOptions { late_share: 1.0, far_share: 1.0, seed: 7 };
        assert_eq!(decide(&due("assigned"), at("2026-11-30T09:39:00Z"), &odd), Step::Wait, "40 minutes late");
        let Step::CheckIn(fix) = decide(&due("missed"), at("2026-11-30T09:40:00Z"), &odd) else {
            panic!("checks in late")
        };
        let away = metres(fix, (29.8683, 121.5440));
        assert!((1_050.0..1_150.0).contains(&away), "{away}");
    }
}
