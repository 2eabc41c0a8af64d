//! The district's side of the demo: elders living alone in a simulated
//! district, two home-care providers serving it, a family member ordering
//! services from the app, and the hotline desk taking calls. Each pass, the
//! family may order, the desk takes a call (now and then ordering for the
//! caller), and the providers' coordinators answer the offers that have
//! waited a minute: most are accepted and scheduled, some declined, which
//! passes them to the other provider, or to the bureau's queue.
//!
//! Local-demo accounts only (never for anything real):
//! `family@sim.eldercare.local` / `simulated family password`,
//! `desk@sim.eldercare.local` / `simulated desk password`,
//! `bureau@sim.eldercare.local` / `simulated bureau password` (the district
//! cockpit's map),
//! `admin@riverside.sim.eldercare.local` / `simulated provider password`.

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::provision::{Api, ProvisionError};
use crate::rounds::{ensure_user, failed};

pub const FAMILY_EMAIL: &str = "family@sim.eldercare.local";
pub const FAMILY_PASSWORD: &str = "simulated family password";
pub const DESK_EMAIL: &str = "desk@sim.eldercare.local";
pub const DESK_PASSWORD: &str = "simulated desk password";
const RIVERSIDE_EMAIL: &str = "admin@riverside.sim.eldercare.local";
const RIVERSIDE_PASSWORD: &str = "simulated provider password";
const RIVERSIDE: &str = "Riverside Home Care (simulated)";

/// The simulated district: four streets, Harbour Street's two communities,
/// and Lotus Community's grid, where the elders live.
const DIVISIONS: [(&str, &str, &str); 8] = [
    ("330299", "Simulated District", "district"),
    ("330299001", "Harbour Street", "street"),
    ("330299002", "Lake Street", "street"),
    ("330299003", "Hill Street", "street"),
    ("330299004", "Market Street", "street"),
    ("330299001001", "Lotus Community", "community"),
    ("330299001002", "Willow Community", "community"),
    ("330299001001001", "Lotus Grid 1", "grid"),
];
const GRID: &str = "330299001001001";

/// The civil-affairs bureau of the simulated district, who reads its map in
/// the cockpit.
pub const BUREAU_EMAIL: &str = "bureau@sim.eldercare.local";
pub const BUREAU_PASSWORD: &str = "simulated bureau password";

/// The divisions' boundaries for the cockpit's map: the district a rough
/// square south-west of Ningbo's centre (about 121.5 E, 29.87 N), its
/// streets four quadrilaterals meeting at a point a little off the middle,
/// Harbour Street halved into its communities, Lotus's grid the whole
/// community. Made up, but shaped as a district's map is.
fn boundaries() -> Vec<(&'static str, Value)> {
    let (west, middle, east) = (121.46, 121.50, 121.54);
    let (south, equator, north) = (29.84, 29.875, 29.91);
    let centre = [121.503, 29.872];
    let polygon = |points: &[[f64; 2]]| {
        let mut ring: Vec<[f64; 2]> = points.to_vec();
        ring.push(points[0]);
        json!({"type": "Polygon", "coordinates": [ring]})
    };
    let halfway = |a: [f64; 2], b: [f64; 2]| [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0];
    let (west_mid, top_mid) = ([west, equator], [middle, north]);
    let (lotus_south, lotus_north) = (halfway(west_mid, centre), halfway([west, north], top_mid));
    let lotus = polygon(&[west_mid, lotus_south, lotus_north, [west, north]]);
    vec![
        ("330299001", polygon(&[west_mid, centre, top_mid, [west, north]])),
        ("330299002", polygon(&[centre, [east, equator], [east, north], top_mid])),
        ("330299003", polygon(&[[west, south], [middle, south], centre, west_mid])),
        ("330299004", polygon(&[[middle, south], [east, south], [east, equator], centre])),
        ("330299001001", lotus.clone()),
        ("330299001002", polygon(&[lotus_south, centre, top_mid, lotus_north])),
        ("330299001001001", lotus),
    ]
}

/// The district's elders living alone: name, the 17 digits of an id number
/// (its check digit computed), and phone. The first is the demo family's.
const ELDERS: [(&str, &str, &str); 3] = [
    ("Zhou Lan", "33029919380402004", "+8613800001001"),
    ("Wu Ping", "33029919360101002", "+8613800001002"),
    ("Chen Hua", "33029919350707005", "+8613800001003"),
];

/// What families and the desk order: code, name, minutes, price per hour.
const SERVICES: [(&str, &str, i64, f64); 3] = [
    ("HC-BATH", "Bathing assistance", 60, 80.0),
    ("HC-CLEAN", "Housekeeping", 60, 45.0),
    ("HC-COMPANY", "Companionship visit", 60, 30.0),
];

/// An id number with the check digit GB 11643 gives it.
pub fn id_number(body17: &str) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let sum: u32 = body17.bytes().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    format!("{body17}{}", CHECK[(sum % 11) as usize] as char)
}

/// The sessions and ids a pass works with.
pub struct District {
    family: Api,
    desk: Api,
    /// The two providers' coordinators: the demo care home's admin and
    /// Riverside's.
    providers: [Api; 2],
    /// The elders' ids and phones, the family's first.
    elders: Vec<(String, String)>,
    rng: StdRng,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OrdersPass {
    pub ordered: u32,
    pub calls: u32,
    pub accepted: u32,
    pub declined: u32,
}

impl std::fmt::Display for OrdersPass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ordered, {} calls, {} accepted, {} declined",
            self.ordered, self.calls, self.accepted, self.declined
        )
    }
}

async fn expect(api: &Api, method: Method, path: &str, body: Option<Value>) -> Result<Value, ProvisionError> {
    let (status, answer) = api.request(method.clone(), path, body).await?;
    if !status.is_success() {
        return Err(failed(&format!("{method} {path}"), status, &answer));
    }
    Ok(answer)
}

/// Like [`expect`], with 409 (made already, by an earlier run) fine too.
async fn made(api: &Api, path: &str, body: Value) -> Result<(StatusCode, Value), ProvisionError> {
    let (status, answer) = api.request(Method::POST, path, Some(body)).await?;
    if !status.is_success() && status != StatusCode::CONFLICT {
        return Err(failed(&format!("POST {path}"), status, &answer));
    }
    Ok((status, answer))
}

/// A provider's catalogue holds [`SERVICES`] at `markup` times the price.
async fn catalogue(admin: &Api, markup: f64) -> Result<(), ProvisionError> {
    for (code, name, minutes, price) in SERVICES {
        let body = json!({"code": code, "name": name, "category": "personal_care", "duration_minutes": minutes,
            "unit": "hour", "unit_price": (price * markup).round(), "currency": "CNY", "funding": ["self_pay"],
            "evv_required": true, "tasks": []});
        made(admin, "/api/v1/services", body).await?;
    }
    Ok(())
}

/// Sets up the district (idempotent: a rerun finds what it made) and logs
/// the family, the desk and Riverside's coordinator in.
pub async fn setup(url: &str, admin: Api, operator: &Api, seed: u64) -> Result<District, ProvisionError> {
    for (code, name, level) in DIVISIONS {
        made(operator, "/api/v1/divisions", json!({"code": code, "name": name, "level": level})).await?;
    }
    for (code, boundary) in boundaries() {
        expect(operator, Method::PUT, &format!("/api/v1/divisions/{code}/boundary"), Some(boundary)).await?;
    }
    let bureau = json!({"email": BUREAU_EMAIL, "password": BUREAU_PASSWORD, "name": "Civil affairs bureau",
        "role": "civil_affairs", "division": "330299"});
    made(operator, "/api/v1/users", bureau).await?;
    let me = expect(&admin, Method::GET, "/api/v1/me", None).await?;
    let home = me["institution_id"].as_str().unwrap_or_default().to_owned();
    let place = json!({"division": "330299001", "service_area": ["330299001"]});
    expect(operator, Method::PATCH, &format!("/api/v1/institutions/{home}"), Some(place.clone())).await?;
    catalogue(&admin, 1.0).await?;

    let institutions = expect(operator, Method::GET, "/api/v1/institutions?limit=200", None).await?;
    let known = institutions["institutions"].as_array().into_iter().flatten().find(|i| i["name"] == RIVERSIDE);
    let riverside_id = match known.and_then(|i| i["id"].as_str()) {
        Some(id) => id.to_owned(),
        None => {
            let body = json!({"name": RIVERSIDE, "kind": "home_care", "timezone": "Asia/Shanghai"});
            let created = expect(operator, Method::POST, "/api/v1/institutions", Some(body)).await?;
            created["id"].as_str().unwrap_or_default().to_owned()
        }
    };
    expect(operator, Method::PATCH, &format!("/api/v1/institutions/{riverside_id}"), Some(place)).await?;
    let admin_body = json!({"email": RIVERSIDE_EMAIL, "password": RIVERSIDE_PASSWORD, "name": "Riverside coordinator",
        "role": "admin"});
    made(operator, &format!("/api/v1/institutions/{riverside_id}/users"), admin_body).await?;
    let riverside = Api::login(url, RIVERSIDE_EMAIL, RIVERSIDE_PASSWORD).await?;
    catalogue(&riverside, 1.1).await?;

    let mut elders = Vec::new();
    for (name, id17, phone) in ELDERS {
        let body = json!({"name": name, "timezone": "Asia/Shanghai", "id_number": id_number(id17), "division": GRID,
            "household": "alone", "phone": phone, "services": ["monitoring"]});
        let (status, answer) = made(&admin, "/api/v1/residents", body).await?;
        let id = if status == StatusCode::CONFLICT { &answer["error"]["resident_id"] } else { &answer["id"] };
        elders.push((id.as_str().unwrap_or_default().to_owned(), phone.to_owned()));
    }

    let family_id = ensure_user(&admin, FAMILY_EMAIL, FAMILY_PASSWORD, "family", "Zhou Mei").await?;
    let link = json!({"user_id": family_id, "relationship": "daughter"});
    made(&admin, &format!("/api/v1/residents/{}/family", elders[0].0), link).await?;
    let family = Api::login(url, FAMILY_EMAIL, FAMILY_PASSWORD).await?;
    expect(&family, Method::PATCH, "/api/v1/me", Some(json!({"phone": "+8613900001001"}))).await?;
    let desk_body = json!({"email": DESK_EMAIL, "password": DESK_PASSWORD, "name": "Hotline desk", "role": "desk"});
    made(operator, "/api/v1/users", desk_body).await?;
    let desk = Api::login(url, DESK_EMAIL, DESK_PASSWORD).await?;
    Ok(District { family, desk, providers: [admin, riverside], elders, rng: StdRng::seed_from_u64(seed) })
}

/// Tomorrow at `hour` o'clock in Shanghai, as UTC.
fn tomorrow_at(now: DateTime<Utc>, hour: i64) -> DateTime<Utc> {
    let local = (now + Duration::hours(8)).date_naive() + Duration::days(1);
    local.and_hms_opt(0, 0, 0).map_or(now, |t| t.and_utc()) + Duration::hours(hour - 8)
}

/// One pass at `now`.
pub async fn pass(d: &mut District, now: DateTime<Utc>) -> Result<OrdersPass, ProvisionError> {
    let mut done = OrdersPass::default();
    let family_elder = d.elders[0].0.clone();
    // The family orders now and then, with at most two orders open.
    let mine =
        expect(&d.family, Method::GET, &format!("/api/v1/service-requests?resident_id={family_elder}"), None).await?;
    let open = mine["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| matches!(r["status"].as_str(), Some("offered" | "accepted")))
        .count();
    if open < 2 && d.rng.random_bool(0.5) {
        let (code, _, _, _) = SERVICES[d.rng.random_range(0..SERVICES.len())];
        let body = json!({"resident_id": family_elder, "service_code": code,
            "preferred_start": tomorrow_at(now, d.rng.random_range(9..17)), "note": "ordered from the family app"});
        expect(&d.family, Method::POST, "/api/v1/service-requests", Some(body)).await?;
        done.ordered += 1;
    }
    // The desk takes a call from one of the elders.
    let (elder, phone) = d.elders[d.rng.random_range(0..d.elders.len())].clone();
    expect(&d.desk, Method::GET, &format!("/api/v1/desk/lookup?phone={}", phone.replace('+', "%2B")), None).await?;
    let ordering = d.rng.random_bool(0.3);
    if ordering {
        let body = json!({"resident_id": elder, "service_code": "HC-CLEAN", "note": "asked for on the hotline"});
        expect(&d.desk, Method::POST, "/api/v1/service-requests", Some(body)).await?;
        done.ordered += 1;
    }
    let disposition = if ordering { "service_request" } else { "wellbeing" };
    let call = json!({"phone": phone, "direction": "in", "resident_id": elder, "disposition": disposition});
    expect(&d.desk, Method::POST, "/api/v1/calls", Some(call)).await?;
    done.calls += 1;
    // The coordinators answer the offers that have waited a minute.
    for provider in &d.providers {
        let offers = expect(provider, Method::GET, "/api/v1/service-requests?status=offered", None).await?;
        for offer in offers["requests"].as_array().into_iter().flatten() {
            let waited = offer["timeline"]
                .as_array()
                .and_then(|t| t.last())
                .and_then(|s| s["at"].as_str())
                .and_then(|at| at.parse::<DateTime<Utc>>().ok())
                .is_some_and(|at| now - at > Duration::seconds(60));
            let Some(id) = offer["id"].as_str().filter(|_| waited) else { continue };
            if d.rng.random_bool(0.8) {
                let accepted =
                    expect(provider, Method::POST, &format!("/api/v1/service-requests/{id}/accept"), None).await?;
                let start =
                    offer["preferred_start"].as_str().map_or_else(|| tomorrow_at(now, 10).to_rfc3339(), str::to_owned);
                if let Some(visit) = accepted["visit_id"].as_str() {
                    let path = format!("/api/v1/visits/{visit}/schedule");
                    expect(provider, Method::POST, &path, Some(json!({"scheduled_start": start}))).await?;
                }
                done.accepted += 1;
            } else {
                let body = json!({"reason": "no carer free that day"});
                expect(provider, Method::POST, &format!("/api/v1/service-requests/{id}/decline"), Some(body)).await?;
                done.declined += 1;
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_numbers_carry_their_check_digit() {
        // GB 11643's worked example.
        assert_eq!(id_number("11010519491231002"), "11010519491231002X");
        for (_, id17, _) in ELDERS {
            assert_eq!(id_number(id17).len(), 18);
        }
    }

    #[test]
    fn tomorrow_is_the_next_day_in_shanghai() {
        let now: DateTime<Utc> = "2026-12-07T20:00:00Z".parse().unwrap();
        // 04:00 on the 8th in Shanghai: tomorrow there is the 9th.
        assert_eq!(tomorrow_at(now, 10), "2026-12-09T02:00:00Z".parse::<DateTime<Utc>>().unwrap());
    }
}
