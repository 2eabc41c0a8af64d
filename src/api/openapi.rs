//! The OpenAPI 3.1 document, served at `/api/openapi.json`, generated from
//! the code: each handler's `#[utoipa::path]` names its path, parameters,
//! body, answers and who may call it, and the types derive their schemas
//! next to their serde derives (`deny_unknown_fields` closes an object). The
//! server answers with the same `OpenApiRouter`s the document is read from,
//! so a route cannot go undocumented. This module adds what every operation
//! shares: the error answers, the bearer token, the links.

use std::sync::OnceLock;

use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub mod meal_fields;

use super::ApiContext;
use crate::domain::care::{CancelReason, Funding, VisitStatus};
use crate::domain::meal::{Meal, MealFunding, OrderStatus};
use crate::domain::status::ResidentStatus;

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(serve))
}

#[utoipa::path(get, path = "/api/openapi.json", summary = "This document", description = "Who may call it: public.",
    responses((status = 200, description = "success")))]
async fn serve() -> axum::Json<Value> {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    axum::Json(DOCUMENT.get_or_init(document).clone())
}

/// The roles note of an operation anyone may call: it takes no token.
const PUBLIC: &str = "Who may call it: public.";

/// The 503 of an operation that hashes a password.
pub const HASHING_BUSY: &str = "the database is unavailable, a query ran past the statement timeout (`timeout`), the \
    server is at its limit of requests in progress or every password-hashing slot is busy (`busy`, with \
    `Retry-After`); try again";

/// The body of every error answer.
#[derive(utoipa::ToSchema)]
#[schema(as = Error)]
#[allow(dead_code)] // only its schema is used: errors are written by `super::Error`
pub struct ErrorBody {
    #[schema(inline)]
    error: ErrorDetail,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct ErrorDetail {
    code: String,
    message: String,
    #[schema(required = false)]
    field: String,
}

/// One operation of the document, as the access tests walk them.
pub struct Operation {
    pub method: String,
    pub path: String,
}

/// Every operation of the served document.
pub fn operations() -> Vec<Operation> {
    let doc = document();
    let Some(paths) = doc["paths"].as_object() else { return Vec::new() };
    paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flatten()
                .map(|(method, _)| Operation { method: method.clone(), path: path.clone() })
        })
        .collect()
}

/// The document: the generated operations, and the hand-written ones of
/// the routers not yet annotated; then what every operation shares.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(super::openapi()).unwrap_or_else(|_| json!({}));
    let legacy = legacy_document();
    if let (Some(paths), Some(old)) = (doc["paths"].as_object_mut(), legacy["paths"].as_object()) {
        for (path, item) in old {
            let entry = paths.entry(path.clone()).or_insert_with(|| json!({}));
            for (method, op) in item.as_object().into_iter().flatten() {
                entry.as_object_mut().into_iter().for_each(|e| {
                    e.entry(method.clone()).or_insert_with(|| op.clone());
                });
            }
        }
    }
    let mut schemas = doc["components"]["schemas"].as_object().cloned().unwrap_or_default();
    for (name, schema) in legacy["components"]["schemas"].as_object().into_iter().flatten() {
        schemas.entry(name.clone()).or_insert_with(|| schema.clone());
    }
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    let targets: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| item.as_object().into_iter().flatten().map(|(m, _)| (m.clone(), path.clone())))
        .collect();
    let mut out = serde_json::Map::new();
    for (path, item) in &paths {
        let mut methods = serde_json::Map::new();
        for (method, op) in item.as_object().into_iter().flatten() {
            methods.insert(method.clone(), shared(path, method, op.clone(), &targets));
        }
        out.insert(path.clone(), Value::Object(methods));
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "eldercare", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Elderly-care monitoring: residents, devices, readings, events, alerts."},
        "paths": out,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    })
}

/// What every operation answers besides its own: the API's errors, each
/// with the JSON error body; the token every non-public one needs; the
/// links from a creating answer.
fn shared(path: &str, method: &str, mut op: Value, targets: &[(String, String)]) -> Value {
    let error = json!({"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}});
    let unavailable = "the database is unavailable, a query ran past the statement timeout (`timeout`), or the \
                       server is at its limit of requests in progress (`busy`, with `Retry-After`); try again";
    if let Some(responses) = op["responses"].as_object_mut() {
        for (code, why) in [
            ("400", "bad input"),
            ("401", "no or invalid token"),
            ("403", "not allowed"),
            ("404", "not found or not visible"),
            ("409", "conflict"),
            ("422", "validation failed"),
            ("503", unavailable),
        ] {
            responses.entry(code).or_insert_with(|| json!({"description": why, "content": error}));
        }
    }
    // Links name operations by reference; generated ids are only function names.
    if let Some(op) = op.as_object_mut() {
        op.remove("operationId");
    }
    if op.get("parameters").is_none() {
        op["parameters"] = json!([]);
    }
    if op["description"] != PUBLIC && op.get("security").is_none() {
        op["security"] = json!([{"bearer": []}]);
    }
    if let Some(links) = links(method, path, targets) {
        for (code, answer) in op["responses"].as_object_mut().into_iter().flatten() {
            if code.starts_with('2') {
                answer["links"] = links.clone();
            }
        }
    }
    op
}

/// One operation: method, path, summary, who may call it, request schema,
/// success status and response schema.
struct LegacyOperation {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub roles: &'static str,
    pub request: Option<&'static str>,
    pub status: u16,
    pub response: Option<&'static str>,
    pub query: &'static [(&'static str, &'static str)],
}

const fn op(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    roles: &'static str,
    request: Option<&'static str>,
    status: u16,
    response: Option<&'static str>,
) -> LegacyOperation {
    LegacyOperation { method, path, summary, roles, request, status, response, query: &[] }
}

const OPERATIONS: &[LegacyOperation] = &[
    op("post", "/api/v1/residents", "Create a resident", "admin, staff", Some("NewResident"), 201, Some("Resident")),
    LegacyOperation {
        query: &[("limit", "integer"), ("cursor", "string")],
        ..op("get", "/api/v1/residents", "Residents the caller may see", "any", None, 200, Some("ResidentList"))
    },
    op(
        "get",
        "/api/v1/residents/{id}",
        "One resident; a caregiver with a visit to them reads only id, name, address, location and notes",
        "any",
        None,
        200,
        Some("Resident"),
    ),
    op(
        "patch",
        "/api/v1/residents/{id}",
        "Change a resident",
        "admin, staff",
        Some("ResidentPatch"),
        200,
        Some("Resident"),
    ),
    op(
        "post",
        "/api/v1/residents/{id}/family",
        "Link a family user to a resident",
        "admin, staff",
        Some("FamilyLink"),
        201,
        Some("FamilyMember"),
    ),
    LegacyOperation {
        query: &[("limit", "integer"), ("cursor", "string")],
        ..op(
            "get",
            "/api/v1/residents/{id}/family",
            "Family users linked to a resident",
            "admin, staff",
            None,
            200,
            Some("FamilyList"),
        )
    },
    op(
        "put",
        "/api/v1/residents/{id}/consent",
        "Record the resident's (or guardian's) decision on being monitored; answers the resident",
        "admin, staff",
        Some("ConsentDecision"),
        200,
        Some("Resident"),
    ),
    op(
        "put",
        "/api/v1/residents/{id}/family/{user_id}/consent",
        "Record the resident's decision on a family member's access; withdrawn, the link ends at once",
        "admin, staff",
        Some("ConsentDecision"),
        204,
        None,
    ),
    op(
        "delete",
        "/api/v1/residents/{id}/family/{user_id}",
        "End a family link: the user's next read of the resident answers 404",
        "admin, staff",
        None,
        204,
        None,
    ),
    LegacyOperation {
        query: &[("date", "date")],
        ..op(
            "get",
            "/api/v1/residents/{id}/summary",
            "A resident's day (local date, today by default): meals, activity and the night, latest vitals against the normal range, alerts with their outcome, device health",
            "any",
            None,
            200,
            Some("DailySummary"),
        )
    },
    op(
        "get",
        "/api/v1/me/notification-preferences",
        "My notification preferences (`defaults`: my role's, none set yet)",
        "any",
        None,
        200,
        Some("NotificationPreferences"),
    ),
    op(
        "put",
        "/api/v1/me/notification-preferences",
        "Set my notification preferences; quiet hours (my institution's time) never hold back a critical alert",
        "any",
        Some("NotificationPreferencesInput"),
        200,
        Some("NotificationPreferences"),
    ),
    op(
        "patch",
        "/api/v1/me",
        "Set my phone number (E.164) for SMS and voice notifications",
        "any",
        Some("PhonePatch"),
        200,
        Some("User"),
    ),
];

use crate::domain::field::{EMAIL, NOT_BLANK};

fn schemas() -> Value {
    let s = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    let string = json!({"type": "string"});
    let nstring = json!({"type": ["string", "null"]});
    let time = json!({"type": "string", "format": "date-time"});
    let ntime = json!({"type": ["string", "null"], "format": "date-time"});
    let id = json!({"type": "string", "format": "uuid"});
    let nid = json!({"type": ["string", "null"], "format": "uuid"});
    let role = json!({"type": "string", "enum": ["operator", "supervisor", "admin", "staff", "caregiver", "family", "kitchen"]});
    let consent_by = json!({"type": "string", "enum": ["resident", "guardian"]});
    let mut cancel_reasons: Vec<Value> = CancelReason::names().into_iter().map(Value::from).collect();
    cancel_reasons.push(Value::Null);
    // Who decided: the resident, or a named guardian.
    let consent_given = |mut extra: Value| {
        let when = json!({"type": ["string", "null"], "format": "date-time", "description": "when the decision was made (not in the future); default now"});
        let guardian_name = json!({"type": "string", "maxLength": 200, "pattern": NOT_BLANK});
        let by_resident = s(
            json!({"given_by": {"const": "resident"}, "guardian_name": {"type": "null"}, "decided_at": when}),
            &["given_by"],
        );
        let by_guardian = s(
            json!({"given_by": {"const": "guardian"}, "guardian_name": guardian_name, "decided_at": when}),
            &["given_by", "guardian_name"],
        );
        let required: Vec<String> = extra.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
        let mut props =
            json!({"given_by": consent_by, "guardian_name": {"type": ["string", "null"]}, "decided_at": when});
        if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object_mut()) {
            p.append(e);
        }
        let mut all = required;
        all.push("given_by".into());
        json!({"type": "object", "properties": props, "required": all, "additionalProperties": false,
               "oneOf": [by_resident, by_guardian]})
    };
    let consent = json!({"type": ["object", "null"], "description": "the latest recorded decision; null until one is",
        "properties": {"given": {"type": "boolean"}, "given_by": consent_by, "guardian_name": nstring, "decided_at": time,
            "recorded_by": nid, "recorded_at": time}});
    // Request fields, as the server checks them.
    let text = |max: usize| json!({"type": "string", "minLength": 1, "maxLength": max, "pattern": NOT_BLANK});
    let email = json!({"type": "string", "maxLength": 254, "pattern": EMAIL});
    let password = json!({"type": "string", "minLength": crate::domain::account::MIN_PASSWORD_LEN});
    let timezone = json!({"$ref": "#/components/schemas/Timezone"});
    // A page of a list: `next_cursor` is null on the last page.
    let list = |key: &str, item: &str| {
        s(
            json!({key: {"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}}, "next_cursor": nstring}),
            &[key, "next_cursor"],
        )
    };
    json!({
        "Error": s(json!({"error": s(json!({"code": string, "message": string, "field": string}), &["code", "message"])}), &["error"]),
        "Timezone": {"type": "string", "description": "an IANA time zone name", "enum": chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect::<Vec<_>>()},
        "NewDisplayToken": s(json!({"label": text(200)}), &["label"]),
        "DisplayToken": s(json!({"id": id, "token": {"type": "string", "description": "shown this once"}, "label": string, "expires_at": time}), &["id", "token", "label", "expires_at"]),
        "User": s(json!({"id": id, "email": string, "name": string, "role": role, "institution_id": nid, "institution_name": nstring,
            "region": nstring, "disabled": {"type": "boolean"}, "phone": nstring, "created_at": time,
            "session_kind": {"type": "string", "enum": ["login", "display"], "description": "GET /me only: the kind of session the request came with"}}), &["id", "email", "name", "role"]),
        "UserPatch": s(json!({"role": {"type": "string", "enum": ["admin", "staff", "caregiver", "family", "kitchen"]}, "disabled": {"type": "boolean"}, "phone": {"type": ["string", "null"], "description": "E.164; null removes it"}}), &[]),
        "PasswordReset": s(json!({"password": password}), &["password"]),
        "SessionsEnded": s(json!({"sessions_ended": {"type": "integer"}}), &["sessions_ended"]),
        "UserList": list("users", "User"),
        "NewUser": s(json!({"email": email, "password": password, "name": text(200),
            "role": {"type": "string", "enum": ["admin", "staff", "caregiver", "family"]}}), &["email", "password", "role", "name"]),
        "Created": s(json!({"id": id}), &["id"]),
        "NewResident": s(json!({"name": text(200), "timezone": timezone, "room": nstring, "notes": nstring}), &["name"]),
        "ResidentPatch": s(json!({"name": text(200), "timezone": timezone, "room": nstring, "notes": nstring, "address": nstring,
            "location": {"oneOf": [{"$ref": "#/components/schemas/Location"}, {"type": "null"}], "description": "WGS 84; visits are checked against it"}}), &[]),
        "Resident": s(json!({"id": id, "name": string, "timezone": string, "room": nstring, "notes": nstring, "address": nstring,
            "location": {"oneOf": [{"$ref": "#/components/schemas/Location"}, {"type": "null"}]}, "monitoring_consent": consent, "created_at": time, "updated_at": time,
            "status": {"type": "string", "enum": ResidentStatus::names(), "description": "where the resident is now (see /residents/{id}/status)"}}),
            &["id", "name", "timezone"]),
        "ResidentList": list("residents", "Resident"),
        "FamilyLink": s(json!({"user_id": id, "relationship": text(100), "consent": consent_given(json!({}))}), &["user_id", "relationship"]),
        "FamilyMember": s(json!({"user_id": id, "name": string, "email": string, "relationship": string, "consent": consent, "created_at": time}), &["user_id", "relationship"]),
        "ConsentDecision": consent_given(json!({"given": {"type": "boolean"}})),
        "FamilyList": list("family", "FamilyMember"),
        "DailySummary": s(json!({"resident": s(json!({"id": id, "name": string, "timezone": string, "room": nstring}), &["id", "name", "timezone"]),
            "date": {"type": "string", "format": "date"}, "day_start": time, "day_end": time, "generated_at": time, "away": {"type": "boolean"},
            "meals": {"type": "array", "items": {"$ref": "#/components/schemas/SummaryMeal"}},
            "activity": {"$ref": "#/components/schemas/SummaryActivity"},
            "vitals": {"type": "array", "items": {"$ref": "#/components/schemas/SummaryVital"}},
            "alerts": {"$ref": "#/components/schemas/SummaryAlerts"},
            "devices": {"$ref": "#/components/schemas/SummaryDevices"}}),
            &["resident", "date", "day_start", "day_end", "away", "meals", "activity", "vitals", "alerts", "devices"]),
        "SummaryMeal": s(json!({"meal": string, "start": string, "end": string, "window_start": time, "window_end": time,
            "status": {"type": "string", "enum": ["taken", "missed", "in_progress", "upcoming", "not_recorded"]},
            "evidence": {"type": ["object", "null"], "properties": {"at": time, "kind": string, "room": nstring}},
            "missed_alert_id": nid}), &["meal", "start", "end", "window_start", "window_end", "status"]),
        "SummaryActivity": s(json!({"first_activity_at": ntime, "last_activity_at": ntime, "motion_events": {"type": "integer"},
            "rooms": {"type": "array", "items": s(json!({"room": string, "motion_events": {"type": "integer"}, "first_at": time, "last_at": time}), &["room", "motion_events"])},
            "bed": s(json!({"in_bed": {"type": ["boolean", "null"]}, "last_exit_at": ntime, "last_enter_at": ntime}), &[]),
            "night": s(json!({"start": time, "end": time, "complete": {"type": "boolean"}, "in_bed_minutes": {"type": ["integer", "null"]},
                "bed_exits": {"type": "integer"}}), &["start", "end", "complete"]),
            "medication": s(json!({"doses_taken": {"type": "integer"}, "last_taken_at": ntime}), &["doses_taken"])}),
            &["motion_events", "rooms", "bed", "night", "medication"]),
        "SummaryVital": s(json!({"metric": string, "unit": string, "value": {"type": "number"}, "ts": time,
            "normal_range": {"type": ["object", "null"], "properties": {"min": {"type": "number"}, "max": {"type": "number"}}},
            "in_range": {"type": ["boolean", "null"]},
            "day": {"type": ["object", "null"], "properties": {"min": {"type": "number"}, "max": {"type": "number"}, "count": {"type": "integer"}}}}),
            &["metric", "unit", "value", "ts"]),
        "SummaryAlerts": s(json!({"open": {"type": "integer"}, "acknowledged": {"type": "integer"}, "resolved": {"type": "integer"},
            "items": {"type": "array", "items": s(json!({"id": id, "kind": string, "severity": string, "status": string, "resolution": nstring,
                "opened_at": time, "condition_at": time, "acknowledged_at": ntime, "resolved_at": ntime, "handled_by": nstring,
                "details": {"type": "object"}}), &["id", "kind", "severity", "status", "opened_at"])}}),
            &["open", "acknowledged", "resolved", "items"]),
        "SummaryDevices": s(json!({"total": {"type": "integer"}, "online": {"type": "integer"}, "offline": {"type": "integer"},
            "never_seen": {"type": "integer"}, "low_battery": {"type": "integer"},
            "items": {"type": "array", "items": s(json!({"device_id": string, "kind": string, "room": nstring, "placement": nstring,
                "online": {"type": ["boolean", "null"]}, "battery": {"type": ["number", "null"]}, "last_seen_at": ntime,
                "low_battery": {"type": "boolean"}}), &["device_id", "kind", "online", "low_battery"])}}),
            &["total", "online", "offline", "never_seen", "low_battery", "items"]),
        "NotificationPreferencesInput": s(json!({
            "min_severity": {"type": "string", "enum": ["low", "medium", "high", "critical"]},
            "kinds": {"type": ["array", "null"], "items": {"type": "string", "enum": crate::domain::AlertKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>()}, "minItems": 1, "description": "null or absent: every kind"},
            "quiet_hours": {"type": ["object", "null"], "properties": {"start": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"},
                "end": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"}}, "required": ["start", "end"]},
            "channels": {"type": "array", "items": {"type": "string", "enum": ["push", "sms", "voice"]}, "default": ["push"]}}),
            &["min_severity"]),
        "NotificationPreferences": s(json!({
            "min_severity": {"type": "string", "enum": ["low", "medium", "high", "critical"]},
            "kinds": {"type": ["array", "null"], "items": string},
            "quiet_hours": {"type": ["object", "null"], "properties": {"start": string, "end": string}},
            "channels": {"type": "array", "items": string}, "defaults": {"type": "boolean"}}),
            &["min_severity", "kinds", "quiet_hours", "channels", "defaults"]),
        "PhonePatch": s(json!({"phone": {"type": ["string", "null"], "pattern": "^\\+[1-9][0-9]{6,14}$", "description": "E.164, e.g. +8613800000000; null removes it"}}), &[]),
        "Location": s(json!({"lat": {"type": "number", "minimum": -90, "maximum": 90}, "lon": {"type": "number", "minimum": -180, "maximum": 180}}), &["lat", "lon"]),
    })
}

/// A query parameter's schema: the bounds and values the server accepts.
fn query_schema(path: &str, name: &str, format: &str) -> Value {
    match (name, format) {
        ("limit", _) => json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 200}),
        ("cursor", _) => match path {
            "/api/v1/access-log" | "/api/v1/audit" => {
                json!({"type": "string", "pattern": "^[0-9]{1,18}$", "description": "the next_cursor of the previous page"})
            }
            _ => json!({"type": "string", "format": "uuid", "description": "the next_cursor of the previous page"}),
        },
        ("meal", _) => json!({"type": "string", "enum": Meal::names()}),
        ("funding", _) if path == "/api/v1/meal-statements" => json!({"type": "string", "enum": MealFunding::names()}),
        ("funding", _) => json!({"type": "string", "enum": Funding::names()}),
        ("status", _) if path == "/api/v1/meal-orders" => json!({"type": "string", "enum": OrderStatus::names()}),
        ("status", _) if path == "/api/v1/visits" => json!({"type": "string", "enum": VisitStatus::names()}),
        ("format", _) => json!({"type": "string", "enum": ["json", "csv"]}),
        ("series", _) => json!({"type": "string", "enum": ["day"]}),
        ("month", _) => json!({"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$"}),
        (_, "integer") => json!({"type": "integer"}),
        (_, "boolean") => json!({"type": "boolean"}),
        (_, "string") => json!({"type": "string"}),
        (_, f) => json!({"type": "string", "format": f}),
    }
}

/// Closes an object schema and the objects in its properties and items
/// (`additionalProperties: false`), as the server's `deny_unknown_fields`;
/// free-form parts (an object without `properties`, or with its own
/// `additionalProperties`) stay as they are. The alternatives of a `oneOf`
/// beside properties only narrow the closed object around them and stay as
/// they are; a `oneOf` that is the whole schema (an object or `null`) is
/// closed in each alternative. Answers the schemas it names by `$ref`, which
/// are request objects too.
fn close(schema: &mut Value) -> Vec<String> {
    let mut named = Vec::new();
    let Some(object) = schema.as_object_mut() else { return named };
    if let Some(Value::String(target)) = object.get("$ref") {
        named.extend(target.strip_prefix("#/components/schemas/").map(str::to_owned));
    }
    let has_properties = object.contains_key("properties");
    if has_properties && !object.contains_key("additionalProperties") {
        object.insert("additionalProperties".into(), Value::Bool(false));
    }
    if let Some(Value::Object(props)) = object.get_mut("properties") {
        props.values_mut().for_each(|p| named.extend(close(p)));
    }
    if let Some(items) = object.get_mut("items") {
        named.extend(close(items));
    }
    if !has_properties && let Some(Value::Array(alternatives)) = object.get_mut("oneOf") {
        alternatives.iter_mut().for_each(|a| named.extend(close(a)));
    }
    named
}

/// Links from a creating answer to the operations that use what it created,
/// so a client (or a stateful fuzzer) can follow them.
fn links(method: &str, path: &str, targets: &[(String, String)]) -> Option<Value> {
    let uses = |prefix: &str, param: &str, field: &str| -> Value {
        let mut links = serde_json::Map::new();
        for (target_method, target_path) in targets {
            let Some(rest) = target_path.strip_prefix(prefix) else { continue };
            if !(rest.is_empty() || rest.starts_with('/')) || target_path == path && target_method == method {
                continue;
            }
            // A link for each operation named by this id alone.
            let params: Vec<&str> =
                target_path.split('/').filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}')).collect();
            if params != [param] {
                continue;
            }
            let name = format!("{}{}", target_method, target_path.replace(['{', '}'], "").replace('/', "_"));
            links.insert(
                name,
                json!({"operationRef": format!("#/paths/{}/{}", target_path.replace('~', "~0").replace('/', "~1"), target_method),
                       "parameters": {param: format!("$response.body#/{field}")}}),
            );
        }
        Value::Object(links)
    };
    let links = match (method, path) {
        ("post", "/api/v1/residents") => uses("/api/v1/residents/{id}", "id", "id"),
        ("post", "/api/v1/devices") => uses("/api/v1/devices/{device_id}", "device_id", "device_id"),
        ("post", "/api/v1/gateways") => uses("/api/v1/gateways/{gateway_id}", "gateway_id", "gateway_id"),
        ("post", "/api/v1/webhooks") => uses("/api/v1/webhooks/{id}", "id", "id"),
        ("post", "/api/v1/institutions") => uses("/api/v1/institutions/{id}", "id", "id"),
        ("post", "/api/v1/divisions") => uses("/api/v1/divisions/{code}", "code", "code"),
        ("post", "/api/v1/users") => uses("/api/v1/users/{id}", "id", "id"),
        // Alerts are raised by devices, not created by a call: a listed
        // alert's id leads to its actions.
        ("get", "/api/v1/alerts") => uses("/api/v1/alerts/{id}", "id", "alerts/0/id"),
        ("get", "/api/v1/residents") => uses("/api/v1/residents/{id}", "id", "residents/0/id"),
        // A family link is named by its resident and its member.
        ("post", "/api/v1/residents/{id}/family") => {
            let member = json!({"id": "$request.path.id", "user_id": "$response.body#/user_id"});
            let to = |method: &str, path: &str| json!({"operationRef": format!("#/paths/{}/{method}", path.replace('/', "~1")), "parameters": member});
            json!({
                "delete_family_link": to("delete", "/api/v1/residents/{id}/family/{user_id}"),
                "put_family_link_consent": to("put", "/api/v1/residents/{id}/family/{user_id}/consent"),
            })
        }
        _ => return None,
    };
    links.as_object().is_some_and(|l| !l.is_empty()).then_some(links)
}

fn legacy_document() -> Value {
    let mut paths = serde_json::Map::new();
    for op in OPERATIONS {
        let mut parameters: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| {
                // Ids are UUIDs, but devices and gateways are named by their MQTT id.
                let schema = match name {
                    "device_id" | "gateway_id" => json!({"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}),
                    _ => json!({"type": "string", "format": "uuid"}),
                };
                json!({"name": name, "in": "path", "required": true, "schema": schema})
            })
            .collect();
        for (name, format) in op.query {
            let schema = query_schema(op.path, name, format);
            parameters.push(json!({"name": name, "in": "query", "required": *name == "metric", "schema": schema}));
        }
        let content =
            |schema: &str| json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}});
        let mut responses = serde_json::Map::new();
        let mut ok = json!({"description": "success"});
        if let Some(schema) = op.response {
            ok["content"] = content(schema);
            // Monthly reports also answer `&format=csv`.
            if op.query.iter().any(|(name, _)| *name == "format") {
                ok["content"]["text/csv"] = json!({"schema": {"type": "string"}});
            }
        }
        responses.insert(op.status.to_string(), ok);
        for (code, why) in [
            ("400", "bad input"),
            ("401", "no or invalid token"),
            ("403", "not allowed"),
            ("404", "not found or not visible"),
            ("409", "conflict"),
            ("422", "validation failed"),
        ] {
            responses.insert(code.into(), json!({"description": why, "content": content("Error")}));
        }
        let hashes_password = op.method == "post" && matches!(op.path, "/api/v1/users" | "/api/v1/users/{id}/password");
        let unavailable = if hashes_password {
            "the database is unavailable, a query ran past the statement timeout (`timeout`), the server is at its \
             limit of requests in progress or every password-hashing slot is busy (`busy`, with `Retry-After`); try again"
        } else {
            "the database is unavailable, a query ran past the statement timeout (`timeout`), or the server is at \
             its limit of requests in progress (`busy`, with `Retry-After`); try again"
        };
        if op.method == "post" && op.path == "/api/v1/residents/{id}/messages" {
            let why = "this user posted `messages.per_user` (30) messages in the last `messages.window_minutes` (10): \
                       `Retry-After` gives the seconds until the oldest of them leaves the window";
            responses.insert("429".into(), json!({"description": why, "content": content("Error")}));
        }
        responses.insert("503".into(), json!({"description": unavailable, "content": content("Error")}));
        let mut operation = json!({
            "summary": op.summary,
            "description": format!("Who may call it: {}.", op.roles),
            "parameters": parameters,
            "responses": responses,
        });
        if op.roles != "public" {
            operation["security"] = json!([{"bearer": []}]);
        }
        if let Some(schema) = op.request {
            operation["requestBody"] = json!({"required": true, "content": content(schema)});
        }
        paths
            .entry(op.path)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(|o| o.insert(op.method.to_owned(), operation));
    }
    let mut schemas = schemas();
    // Every request object is closed: the server refuses unknown fields.
    // So is every object they name: a nested `Location` is as closed as
    // the body around it.
    let mut requests: Vec<String> = OPERATIONS.iter().filter_map(|op| op.request).map(str::to_owned).collect();
    let mut closed = std::collections::BTreeSet::new();
    while let Some(name) = requests.pop() {
        if closed.insert(name.clone())
            && let Some(schema) = schemas.get_mut(&name)
        {
            requests.extend(close(schema));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "eldercare", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Elderly-care monitoring: residents, devices, readings, events, alerts."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.route("...", method(...))` in the API's sources, as (method,
    /// full path): the routes of the routers not yet annotated.
    fn routes_in_source() -> Vec<(String, String)> {
        let sources = [
            ("/api/v1", include_str!("auth.rs")),
            ("/api/v1", include_str!("residents.rs")),
            ("/api/v1", include_str!("family.rs")),
            ("/api/v1", include_str!("notifications.rs")),
        ];
        let mut out = Vec::new();
        for (prefix, src) in sources {
            for chunk in src.split(".route(\"").skip(1) {
                let Some((path, rest)) = chunk.split_once('"') else { continue };
                let call = rest.split(")\n").next().unwrap_or(rest);
                for method in ["get", "post", "put", "patch", "delete"] {
                    if call.contains(&format!(" {method}("))
                        || call.contains(&format!(".{method}("))
                        || call.contains(&format!("({method}("))
                    {
                        out.push((method.to_owned(), format!("{prefix}{path}")));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn every_route_is_documented_and_every_documented_route_exists() {
        // The annotated routers serve what they document by construction;
        // the others are held to the hand-written table.
        let routes = routes_in_source();
        let documented: Vec<(String, String)> = operations().into_iter().map(|op| (op.method, op.path)).collect();
        for route in &routes {
            assert!(documented.contains(route), "{route:?} is served but missing from the OpenAPI document");
        }
        for op in OPERATIONS {
            let op = (op.method.to_owned(), op.path.to_owned());
            assert!(routes.contains(&op), "{op:?} is documented but not served");
        }
    }

    /// Writes the served document to `$OPENAPI_OUT`, for
    /// `scripts/openapi-diff.py` to compare two versions of the API:
    /// `OPENAPI_OUT=/tmp/a.json cargo test --lib write_document -- --ignored`.
    #[test]
    #[ignore = "a tool, not a check"]
    fn write_document() {
        let out = std::env::var("OPENAPI_OUT").expect("OPENAPI_OUT names the file to write");
        std::fs::write(out, serde_json::to_string_pretty(&document()).unwrap()).unwrap();
    }

    #[test]
    fn the_document_is_well_formed() {
        let doc = document();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let text = doc.to_string();
        for reference in text.split("#/components/schemas/").skip(1) {
            let name: String = reference.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(schemas.contains_key(&name), "dangling $ref {name}");
        }
    }
}
