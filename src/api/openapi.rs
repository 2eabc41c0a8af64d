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

use super::ApiContext;
use crate::domain::care::{CancelReason, Exception, Funding, Method, Origin, VisitStatus};
use crate::domain::meal::Meal;
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

pub mod field;
pub mod meal_fields;

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
    op(
        "post",
        "/api/v1/auth/login",
        "Log in; returns a bearer token",
        "public",
        Some("LoginRequest"),
        200,
        Some("LoginResponse"),
    ),
    op("post", "/api/v1/auth/logout", "Revoke the token of this request", "any", None, 204, None),
    op("get", "/api/v1/me", "The calling user", "any", None, 200, Some("User")),
    LegacyOperation {
        query: &[("limit", "integer"), ("cursor", "string")],
        ..op(
            "get",
            "/api/v1/me/sessions",
            "My live sessions and display tokens; `current` marks this one",
            "any",
            None,
            200,
            Some("SessionList"),
        )
    },
    op("delete", "/api/v1/me/sessions/{id}", "End one of my sessions or display tokens", "any", None, 204, None),
    op(
        "post",
        "/api/v1/me/totp",
        "Turn on the second factor: without a code, a new secret for an authenticator app; then with its first code, on (every login then sends \"code\")",
        "operator, admin",
        Some("TotpRequest"),
        200,
        Some("TotpState"),
    ),
    op(
        "post",
        "/api/v1/institutions",
        "Create an institution (care home, home-care provider, community centre or canteen)",
        "operator",
        Some("NewInstitution"),
        201,
        Some("Institution"),
    ),
    LegacyOperation {
        query: &[("limit", "integer"), ("cursor", "string")],
        ..op(
            "get",
            "/api/v1/institutions",
            "Institutions: all (operator), the region's (supervisor), one's own (anyone else)",
            "any",
            None,
            200,
            Some("InstitutionList"),
        )
    },
    op(
        "patch",
        "/api/v1/institutions/{id}",
        "Rename an institution or place it in a region",
        "operator",
        Some("InstitutionPatch"),
        200,
        Some("Institution"),
    ),
    op(
        "post",
        "/api/v1/institutions/{id}/users",
        "Create an admin of the institution (role must be admin)",
        "operator",
        Some("NewAdmin"),
        201,
        Some("Created"),
    ),
    op(
        "post",
        "/api/v1/supervisors",
        "Create a supervisor of a region: aggregated figures of its institutions, no personal data",
        "operator",
        Some("NewSupervisor"),
        201,
        Some("Created"),
    ),
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
        query: &[
            ("metric", "string"),
            ("from", "date-time"),
            ("to", "date-time"),
            ("bucket", "string"),
            ("limit", "integer"),
        ],
        ..op(
            "get",
            "/api/v1/residents/{id}/readings",
            "Readings of one metric, raw or bucketed (1m, 5m, 15m, 1h, 1d). `from`..`to` spans at most 31 days raw or 400 days bucketed (422 beyond); at most `limit` points (default 10,000, at most 50,000): beyond it the answer is truncated to the oldest and says `truncated: true`",
            "any",
            None,
            200,
            Some("Readings"),
        )
    },
    LegacyOperation {
        query: &[("from", "date-time"), ("to", "date-time"), ("kind", "string"), ("limit", "integer")],
        ..op(
            "get",
            "/api/v1/residents/{id}/events",
            "Events of a resident. `from`..`to` spans at most 31 days (422 beyond); at most `limit` events (default 5,000, at most 50,000): beyond it the answer is truncated to the oldest and says `truncated: true`",
            "any",
            None,
            200,
            Some("Events"),
        )
    },
    LegacyOperation {
        query: &[("limit", "integer"), ("cursor", "string")],
        ..op(
            "get",
            "/api/v1/me/residents",
            "The family app's home screen: my linked residents (family) or the institution's (staff), with open alerts and unread messages",
            "any",
            None,
            200,
            Some("MyResidents"),
        )
    },
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
        "post",
        "/api/v1/devices",
        "Register a device; answers its MQTT credential, shown this once. 409 for an id already taken or reserved for the backend's broker sessions (its client ids with -events, -telemetry, -admin, its ingest and admin usernames, anything beginning with eldercare-)",
        "admin, staff",
        Some("NewDevice"),
        201,
        Some("RegisteredDevice"),
    ),
    LegacyOperation {
        query: &[
            ("resident_id", "uuid"),
            ("kind", "string"),
            ("online", "boolean"),
            ("limit", "integer"),
            ("cursor", "string"),
        ],
        ..op(
            "get",
            "/api/v1/devices",
            "Devices of the institution (or of one resident)",
            "admin, staff; family with resident_id",
            None,
            200,
            Some("DeviceList"),
        )
    },
    op("get", "/api/v1/devices/{device_id}", "One device with its last state", "any", None, 200, Some("Device")),
    op(
        "patch",
        "/api/v1/devices/{device_id}",
        "Change a device's registration",
        "admin, staff",
        Some("DevicePatch"),
        200,
        Some("Device"),
    ),
    op(
        "delete",
        "/api/v1/devices/{device_id}",
        "Unregister a device and revoke its MQTT credential (its data stays)",
        "admin",
        None,
        204,
        None,
    ),
    op(
        "post",
        "/api/v1/devices/{device_id}/credentials",
        "Issue the device a new MQTT password; the old one stops working",
        "admin, staff",
        None,
        200,
        Some("MqttCredential"),
    ),
    op(
        "post",
        "/api/v1/gateways",
        "Register a Zigbee2MQTT gateway under its base topic; answers its MQTT credential, shown this once. 409 for an id already taken or reserved for the backend's broker sessions, or a base topic that overlaps",
        "admin, staff",
        Some("NewGateway"),
        201,
        Some("RegisteredGateway"),
    ),
    LegacyOperation {
        query: &[("limit", "integer"), ("cursor", "string")],
        ..op(
            "get",
            "/api/v1/gateways",
            "Gateways of the institution, by id",
            "admin, staff",
            None,
            200,
            Some("GatewayList"),
        )
    },
    op("get", "/api/v1/gateways/{gateway_id}", "One gateway", "admin, staff", None, 200, Some("Gateway")),
    op(
        "post",
        "/api/v1/gateways/{gateway_id}/credentials",
        "Issue the gateway a new MQTT password; the old one stops working",
        "admin, staff",
        None,
        200,
        Some("MqttCredential"),
    ),
    op(
        "delete",
        "/api/v1/gateways/{gateway_id}",
        "Unregister a gateway without devices and revoke its MQTT credential",
        "admin",
        None,
        204,
        None,
    ),
    LegacyOperation {
        query: &[
            ("reason", "string"),
            ("device_id", "string"),
            ("from", "date-time"),
            ("to", "date-time"),
            ("limit", "integer"),
            ("cursor", "string"),
        ],
        ..op(
            "get",
            "/api/v1/quarantine",
            "Rejected device messages, newest first: of the institution's devices (admin), or of no institution's: unknown devices, topics naming no device (operator)",
            "admin, operator",
            None,
            200,
            Some("QuarantineList"),
        )
    },
    op(
        "get",
        "/api/v1/rule-settings",
        "The institution's default rule settings",
        "admin, staff",
        None,
        200,
        Some("RuleSettings"),
    ),
    op(
        "patch",
        "/api/v1/rule-settings",
        "Change the institution's defaults (JSON merge patch)",
        "admin",
        Some("RuleSettingsPatch"),
        200,
        Some("RuleSettings"),
    ),
    op(
        "get",
        "/api/v1/residents/{id}/rule-settings",
        "A resident's effective rule settings",
        "any",
        None,
        200,
        Some("RuleSettings"),
    ),
    op(
        "patch",
        "/api/v1/residents/{id}/rule-settings",
        "Change only the keys given; answers the effective settings",
        "admin, staff",
        Some("RuleSettingsPatch"),
        200,
        Some("RuleSettings"),
    ),
    op(
        "put",
        "/api/v1/residents/{id}/meal-windows",
        "Replace the resident's meal windows",
        "admin, staff",
        Some("MealWindows"),
        200,
        Some("RuleSettings"),
    ),
    op(
        "put",
        "/api/v1/residents/{id}/thresholds",
        "Replace the resident's vital-sign threshold overrides",
        "admin, staff",
        Some("Thresholds"),
        200,
        Some("RuleSettings"),
    ),
    op(
        "post",
        "/api/v1/residents/{id}/backtest",
        "Rule backtest: what the rules would have raised over the resident's stored history in [from, to) (at most 366 days) with these settings, each part merged over the resident's effective settings; writes nothing",
        "admin, staff",
        Some("BacktestRequest"),
        200,
        Some("BacktestReport"),
    ),
    LegacyOperation {
        query: &[
            ("status", "string"),
            ("resident_id", "uuid"),
            ("kind", "string"),
            ("severity", "string"),
            ("since", "date-time"),
            ("limit", "integer"),
            ("cursor", "string"),
        ],
        ..op(
            "get",
            "/api/v1/alerts",
            "Alerts the caller may see: active first, critical first",
            "any",
            None,
            200,
            Some("AlertList"),
        )
    },
    op(
        "get",
        "/api/v1/alerts/stream",
        "Server-Sent Events: `event: alert`, `data:` the alert JSON plus `change` (alert.opened, alert.acknowledged, ...), for each change the caller may see; `event: ready` on connect, `event: resync` after falling behind",
        "any",
        None,
        200,
        None,
    ),
    op(
        "get",
        "/api/v1/alerts/{id}",
        "One alert; for care staff with `responder`, the responder's sheet of its resident (null for an alert about no resident); that read is in the access log (kind responder_sheet)",
        "any",
        None,
        200,
        Some("Alert"),
    ),
    op(
        "get",
        "/api/v1/alerts/{id}/timeline",
        "Every change to the alert, with who and when",
        "any",
        None,
        200,
        Some("Timeline"),
    ),
    op(
        "post",
        "/api/v1/alerts/{id}/acknowledge",
        "Acknowledge (body optional: {note})",
        "admin, staff",
        None,
        200,
        Some("Alert"),
    ),
    op(
        "post",
        "/api/v1/alerts/{id}/resolve",
        "Resolve with a resolution",
        "admin, staff",
        Some("Resolve"),
        200,
        Some("Alert"),
    ),
    op("post", "/api/v1/alerts/{id}/assign", "Assign to a carer", "admin, staff", Some("Assign"), 200, Some("Alert")),
    op(
        "post",
        "/api/v1/alerts/{id}/comments",
        "Comment on the alert",
        "admin, staff",
        Some("Comment"),
        200,
        Some("Alert"),
    ),
    op(
        "post",
        "/api/v1/webhooks",
        "Subscribe a URL to alert changes (signed with the secret)",
        "admin",
        Some("NewWebhook"),
        201,
        Some("Created"),
    ),
    LegacyOperation {
        query: &[("limit", "integer"), ("cursor", "string")],
        ..op(
            "get",
            "/api/v1/webhooks",
            "The institution's webhooks and their delivery state",
            "admin",
            None,
            200,
            Some("WebhookList"),
        )
    },
    op("get", "/api/v1/webhooks/{id}", "One webhook", "admin", None, 200, Some("Webhook")),
    op("delete", "/api/v1/webhooks/{id}", "Remove a webhook", "admin", None, 204, None),
    // Notifications and on-call.
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
    op(
        "post",
        "/api/v1/me/password",
        "Change my password; revokes every session of mine",
        "any",
        Some("PasswordChange"),
        204,
        None,
    ),
    // Care services (contract: care.md): visits and EVV.
    op(
        "post",
        "/api/v1/visits",
        "Schedule a visit by hand (origin manual)",
        "admin, staff",
        Some("NewVisit"),
        201,
        Some("Visit"),
    ),
    LegacyOperation {
        query: &[
            ("from", "string"),
            ("to", "string"),
            ("status", "string"),
            ("resident_id", "uuid"),
            ("caregiver_id", "uuid"),
            ("limit", "integer"),
            ("cursor", "string"),
        ],
        ..op(
            "get",
            "/api/v1/visits",
            "Visits by scheduled start (a caregiver: their own); from/to are RFC 3339 times or local dates YYYY-MM-DD (both included)",
            "admin, staff, caregiver",
            None,
            200,
            Some("VisitList"),
        )
    },
    op(
        "get",
        "/api/v1/visits/{id}",
        "One visit with its EVV record; a family member gets the family's view (FamilyVisit)",
        "admin, staff, the assigned caregiver, linked family",
        None,
        200,
        Some("Visit"),
    ),
    op(
        "post",
        "/api/v1/visits/{id}/assign",
        "Assign a caregiver (409 for a visit requested, under way, done or cancelled)",
        "admin, staff",
        Some("AssignVisit"),
        200,
        Some("Visit"),
    ),
    op(
        "post",
        "/api/v1/visits/{id}/schedule",
        "Schedule a requested visit (or move a scheduled one)",
        "admin, staff",
        Some("ScheduleVisit"),
        200,
        Some("Visit"),
    ),
    op(
        "post",
        "/api/v1/visits/{id}/cancel",
        "Cancel (or decline a request) with a reason",
        "admin, staff",
        Some("CancelVisit"),
        200,
        Some("Visit"),
    ),
    op(
        "post",
        "/api/v1/visits/{id}/check-in",
        "Check in at the door; a repeat answers the first one; 409 for a cancelled or completed visit; 422 for an unregistered tag or a ts ahead or over 24 h old",
        "the assigned caregiver, admin, staff",
        Some("DoorCheckIn"),
        200,
        Some("Visit"),
    ),
    op(
        "post",
        "/api/v1/visits/{id}/check-out",
        "Check out with the tasks done and a note; 409 before the check-in",
        "the assigned caregiver, admin, staff",
        Some("DoorCheckOut"),
        200,
        Some("Visit"),
    ),
    op(
        "post",
        "/api/v1/visits/{id}/amend",
        "Correct the start or end: the EVV times stay as recorded, the correction is listed and audited, statements use it, and it is the exception manual_entry; correcting the end of a visit nobody checked out of completes it",
        "admin, staff",
        Some("Amend"),
        200,
        Some("Visit"),
    ),
    op(
        "post",
        "/api/v1/visits/{id}/exceptions/{code}/resolve",
        "Resolve one EVV exception with a reason (listed in evv.resolved)",
        "admin, staff",
        Some("ResolveException"),
        200,
        Some("Visit"),
    ),
    op(
        "post",
        "/api/v1/visits/{id}/rating",
        "Rate a completed visit, once",
        "linked family",
        Some("NewRating"),
        201,
        Some("FamilyVisit"),
    ),
    op(
        "post",
        "/api/v1/alerts/{id}/dispatch",
        "Send someone to the door: a visit due now, linked to the alert (its timeline shows visit.dispatched, visit.checked_in, visit.checked_out), funding institution by default",
        "admin, staff",
        Some("Dispatch"),
        201,
        Some("Visit"),
    ),
    op(
        "post",
        "/api/v1/residents/{id}/service-requests",
        "Ask for a service: a visit requested, waiting for a coordinator to schedule or decline it",
        "admin, staff, linked family",
        Some("NewServiceRequest"),
        201,
        Some("Visit"),
    ),
    LegacyOperation {
        query: &[("from", "string"), ("to", "string"), ("limit", "integer"), ("cursor", "string")],
        ..op(
            "get",
            "/api/v1/residents/{id}/visits",
            "The resident's visits as the family reads them: what was done, when, by whom (first name only)",
            "admin, staff, linked family",
            None,
            200,
            Some("FamilyVisitList"),
        )
    },
    LegacyOperation {
        query: &[("date", "date"), ("limit", "integer"), ("cursor", "string")],
        ..op(
            "get",
            "/api/v1/me/visits",
            "My assignments on a local date (default today): the resident's name, address, location and care notes, the service and its tasks",
            "caregiver, staff, admin",
            None,
            200,
            Some("MyVisits"),
        )
    },
    // At the door (issue 15; not in the contract): the responder's sheet and the key safe.
    op(
        "put",
        "/api/v1/residents/{id}/responder-info",
        "Replace the responder's sheet: how to get in, emergency contacts, conditions, allergies, medications, advance directives. The key safe code is write-only: absent keeps it, null removes it; it is stored sealed and never read back here; a new code is 409 when no sealing key is configured (ELDERCARE__WEBHOOKS__SECRET_KEY)",
        "admin, staff",
        Some("ResponderInfo"),
        200,
        Some("ResponderSheet"),
    ),
    op(
        "get",
        "/api/v1/residents/{id}/responder-info",
        "The responder's sheet; `access.key_safe` says whether there is a key safe, never its code. The read is in the access log (kind responder_sheet)",
        "admin, staff",
        None,
        200,
        Some("ResponderSheet"),
    ),
    op(
        "post",
        "/api/v1/visits/{id}/key-safe",
        "The key safe code, for the carer assigned to the visit while it is assigned, checked in or missed and scheduled within 12 h of now; 404 for anyone else and when there is no key safe. Each reveal goes to the access log (kind key_safe) and to the timeline of the alert the visit was dispatched for (visit.key_safe_opened)",
        "the visit's assigned carer",
        None,
        200,
        Some("KeySafeCode"),
    ),
];

// Patterns name white space as Rust's `trim` does, in a class both the
// document's readers (ECMA) and Python-based fuzzers read alike.

/// Some character that is not white space: the server trims and refuses blank text.
const NOT_BLANK: &str =
    concat!(r"[^", r"\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000", "]");
/// No white space at either end (regions match as exact strings).
const NO_SURROUNDING_SPACE: &str = concat!(
    r"^[^\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
    r"([\s\S]*[^\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?$"
);
/// One `@` between two parts without spaces (see `users::valid_email`).
const EMAIL: &str = r"^[^@ \t\n\r\f\u000b]+@[^@ \t\n\r\f\u000b]+$";

fn schemas() -> Value {
    let s = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    let string = json!({"type": "string"});
    let nstring = json!({"type": ["string", "null"]});
    let time = json!({"type": "string", "format": "date-time"});
    let ntime = json!({"type": ["string", "null"], "format": "date-time"});
    let id = json!({"type": "string", "format": "uuid"});
    let nid = json!({"type": ["string", "null"], "format": "uuid"});
    let role = json!({"type": "string", "enum": ["operator", "supervisor", "admin", "staff", "caregiver", "family", "kitchen"]});
    let kind = json!({"type": "string", "enum": ["care_home", "home_care", "community_center", "canteen"]});
    let consent_by = json!({"type": "string", "enum": ["resident", "guardian"]});
    // An object's properties with more beside them.
    let with = |base: &Value, extra: Value| {
        let mut props = base.clone();
        if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        props
    };
    let responder_sheet = json!({"access": {"$ref": "#/components/schemas/ResponderAccess"},
        "emergency_contacts": {"type": "array", "items": {"$ref": "#/components/schemas/EmergencyContact"}},
        "conditions": {"type": "array", "items": string}, "allergies": {"type": "array", "items": string},
        "medications": {"type": "array", "items": {"$ref": "#/components/schemas/Medication"}},
        "directives": {"oneOf": [{"$ref": "#/components/schemas/Directives"}, {"type": "null"}]}});
    let funding = json!({"type": "string", "enum": Funding::names()});
    let status = json!({"type": "string", "enum": VisitStatus::names()});
    let method = json!({"type": "string", "enum": Method::names()});
    let exception = json!({"type": "string", "enum": Exception::names()});
    let mut cancel_reasons: Vec<Value> = CancelReason::names().into_iter().map(Value::from).collect();
    cancel_reasons.push(Value::Null);
    // At the door: where, how, and an offline phone's own time.
    let door = json!({"location": s(json!({"lat": {"type": "number", "minimum": -90, "maximum": 90}, "lon": {"type": "number", "minimum": -180, "maximum": 180}, "accuracy_m": {"type": "number", "minimum": 0, "default": 0}}), &["lat", "lon"]),
        "method": method, "tag": {"type": "string", "description": "qr and nfc: a tag registered for the resident's home"},
        "ts": {"type": "string", "format": "date-time", "description": "an offline phone's own time: at most 24 h old, never ahead; the record gets offline_entry"}});
    let task_done = s(json!({"code": string, "done": {"type": "boolean"}, "note": string}), &["code", "done"]);
    let rating = json!({"type": ["object", "null"], "properties": {"stars": {"type": "integer"}, "comment": nstring, "at": time}});
    let watts = json!({"type": "number", "minimum": 0, "maximum": 10000});
    let region = json!({"type": "string", "minLength": 1, "maxLength": 200, "pattern": NO_SURROUNDING_SPACE});
    let region_or_null =
        json!({"type": ["string", "null"], "minLength": 1, "maxLength": 200, "pattern": NO_SURROUNDING_SPACE});
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
    let password = json!({"type": "string", "minLength": super::auth::MIN_PASSWORD_LEN});
    let mqtt_id = json!({"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"});
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
        "LoginRequest": s(json!({"email": {"type": "string", "maxLength": 254, "description": "case-insensitive; over 254 bytes answers 422 at once"}, "password": string,
            "code": {"type": ["string", "null"], "description": "the authenticator app's six digits, for accounts with a second factor (401 totp_required without it)"}}), &["email", "password"]),
        "TotpRequest": s(json!({"code": {"type": ["string", "null"]}}), &[]),
        "TotpState": s(json!({"enabled": {"type": "boolean"}, "secret": {"type": "string", "description": "base32, shown once"}, "otpauth_uri": string}), &["enabled"]),
        "NewDisplayToken": s(json!({"label": text(200)}), &["label"]),
        "DisplayToken": s(json!({"id": id, "token": {"type": "string", "description": "shown this once"}, "label": string, "expires_at": time}), &["id", "token", "label", "expires_at"]),
        "LoginResponse": s(json!({"token": string, "expires_at": time, "user": {"$ref": "#/components/schemas/User"}}), &["token", "user"]),
        "User": s(json!({"id": id, "email": string, "name": string, "role": role, "institution_id": nid, "institution_name": nstring,
            "region": nstring, "disabled": {"type": "boolean"}, "phone": nstring, "created_at": time,
            "session_kind": {"type": "string", "enum": ["login", "display"], "description": "GET /me only: the kind of session the request came with"}}), &["id", "email", "name", "role"]),
        "UserPatch": s(json!({"role": {"type": "string", "enum": ["admin", "staff", "caregiver", "family", "kitchen"]}, "disabled": {"type": "boolean"}, "phone": {"type": ["string", "null"], "description": "E.164; null removes it"}}), &[]),
        "PasswordReset": s(json!({"password": password}), &["password"]),
        "SessionsEnded": s(json!({"sessions_ended": {"type": "integer"}}), &["sessions_ended"]),
        "Session": s(json!({"id": id, "kind": {"type": "string", "enum": ["login", "display"]}, "label": nstring,
            "created_at": time, "last_used_at": time, "expires_at": {"type": "string", "format": "date-time", "description": "the latest it ends; idleness may end a login sooner"},
            "current": {"type": "boolean"}}), &["id", "kind", "created_at", "last_used_at", "expires_at", "current"]),
        "SessionList": list("sessions", "Session"),
        "NewInstitution": s(json!({"name": text(200), "kind": kind, "region": region_or_null, "timezone": timezone}), &["name", "kind", "timezone"]),
        "InstitutionPatch": s(json!({"name": text(200), "region": region_or_null}), &[]),
        "Institution": s(json!({"id": id, "name": string, "kind": kind, "region": nstring, "timezone": string, "created_at": time}), &["id", "name", "kind", "region", "timezone"]),
        "InstitutionList": s(json!({"institutions": {"type": "array", "items": {"$ref": "#/components/schemas/Institution"}}, "next_cursor": nstring}), &["institutions", "next_cursor"]),
        "NewSupervisor": s(json!({"email": email, "password": password, "name": text(200), "region": region}), &["email", "password", "name", "region"]),
        "UserList": list("users", "User"),
        "NewUser": s(json!({"email": email, "password": password, "name": text(200),
            "role": {"type": "string", "enum": ["admin", "staff", "caregiver", "family"]}}), &["email", "password", "role", "name"]),
        "NewAdmin": s(json!({"email": email, "password": password, "name": text(200), "role": {"const": "admin"}}), &["email", "password", "role", "name"]),
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
        "NewDevice": s(json!({"device_id": mqtt_id, "resident_id": nid,
            "kind": {"type": "string", "enum": crate::domain::DeviceKind::ALL}, "room": nstring, "placement": nstring,
            "source": {"type": "string", "enum": ["native", "zigbee2mqtt"]}, "external_id": nstring,
            "gateway_id": {"type": ["string", "null"], "description": "the Zigbee2MQTT gateway the device speaks through: its topic is {base_topic}/{external_id}"},
            "power_on_threshold_w": watts}), &["device_id", "kind"]),
        "DevicePatch": s(json!({"resident_id": nid, "kind": {"type": "string", "enum": crate::domain::DeviceKind::ALL}, "room": nstring, "placement": nstring, "power_on_threshold_w": watts}), &[]),
        "Device": s(json!({"device_id": string, "resident_id": nid, "kind": string, "room": nstring, "placement": nstring,
            "source": string, "external_id": nstring, "gateway_id": nstring, "power_on_threshold_w": {"type": "number"},
            "last_seen_at": ntime, "online": {"type": ["boolean", "null"], "description": "false when it said so or has been silent past its kind's heartbeat timeout; null when never heard from"}, "battery": {"type": ["number", "null"]},
            "rssi": {"type": ["integer", "null"]}, "firmware": nstring, "created_at": time, "updated_at": time}), &["device_id", "kind", "source"]),
        "DeviceList": list("devices", "Device"),
        "MqttCredential": s(json!({"username": string, "password": {"type": "string", "description": "shown this once; not stored"}}), &["username", "password"]),
        "RegisteredDevice": {"allOf": [{"$ref": "#/components/schemas/Device"},
            s(json!({"mqtt": {"oneOf": [{"$ref": "#/components/schemas/MqttCredential"}, {"type": "null"}],
                "description": "null when credentials are not managed, or for a Zigbee2MQTT device (it speaks through its gateway)"}}), &["mqtt"])]},
        "NewGateway": s(json!({"gateway_id": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
            "base_topic": {"type": "string", "pattern": "^zigbee2mqtt(/[A-Za-z0-9_.-]+)+$", "description": "e.g. zigbee2mqtt/home-17"}}), &["gateway_id", "base_topic"]),
        "Gateway": s(json!({"gateway_id": string, "base_topic": string, "devices": {"type": "integer"}, "created_at": time, "updated_at": time}),
            &["gateway_id", "base_topic", "devices"]),
        "RegisteredGateway": {"allOf": [{"$ref": "#/components/schemas/Gateway"},
            s(json!({"mqtt": {"oneOf": [{"$ref": "#/components/schemas/MqttCredential"}, {"type": "null"}]}}), &["mqtt"])]},
        "GatewayList": s(json!({"gateways": {"type": "array", "items": {"$ref": "#/components/schemas/Gateway"}}, "next_cursor": nstring}), &["gateways", "next_cursor"]),
        "Readings": s(json!({"metric": string, "unit": string, "from": time, "to": time, "bucket": string,
            "points": {"type": "array", "items": {"type": "object", "properties": {"ts": time, "value": {"type": "number"},
                "avg": {"type": "number"}, "min": {"type": "number"}, "max": {"type": "number"}, "count": {"type": "integer"}}}},
            "truncated": {"type": "boolean", "description": "more points matched than `limit`: these are the oldest"}}), &["metric", "unit", "points", "truncated"]),
        "Events": s(json!({"from": time, "to": time, "events": {"type": "array", "items": s(json!({"ts": time, "kind": string, "device_id": string, "data": {"type": "object"}}), &["ts", "kind", "device_id", "data"])},
            "truncated": {"type": "boolean", "description": "more events matched than `limit`: these are the oldest"}}), &["events", "truncated"]),
        "MyResidents": list("residents", "MyResident"),
        "MyResident": s(json!({"id": id, "name": string, "timezone": string, "room": nstring,
            "relationship": {"type": ["string", "null"], "description": "the family user's relationship; null for staff"},
            "open_alerts": {"type": "integer", "description": "not resolved yet (open or acknowledged)"},
            "alerts_today": {"type": "integer", "description": "opened since local midnight"},
            "unread_messages": {"type": "integer"}, "last_message_at": ntime, "last_activity_at": ntime}),
            &["id", "name", "timezone", "open_alerts", "alerts_today", "unread_messages"]),
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
        "QuarantineList": s(json!({"total": {"type": "integer"}, "messages": {"type": "array", "items": s(json!({"id": string, "received_at": time, "topic": string,
            "reason": string, "detail": string, "device_id": nstring, "payload": string, "payload_encoding": {"type": "string", "enum": ["utf8", "base64"]}, "payload_bytes": {"type": "integer"}}),
            &["received_at", "topic", "reason", "payload"])},
            "overflow": {"type": "array", "description": "Rejects beyond a sender's hourly quarantine cap: counted, not kept", "items": s(json!({"hour": time,
                "device_id": nstring, "topic_prefix": nstring, "reason": string, "count": {"type": "integer"}}), &["hour", "reason", "count"])},
            "next_cursor": nstring}),
            &["total", "messages", "overflow", "next_cursor"]),
        "RuleSettings": {"type": "object", "description": "Effective settings: away, waking_hours, inactivity, no_morning_activity, night, night_wandering, bed_exit_no_return, fall_cancel_seconds, low_battery, meal_windows, thresholds, vitals, visits (grace_minutes before a visit nobody checked in to is missed, default 30; far_from_home_m, default 200). As a request: a JSON merge patch of those keys. Times are HH:MM or HH:MM:SS in the resident's timezone."},
        "RuleSettingsPatch": rule_settings_patch(),
        "MealWindows": meal_windows(),
        "Thresholds": thresholds(),
        "BacktestRequest": s(json!({"from": time, "to": time,
            "settings": {"$ref": "#/components/schemas/RuleSettingsPatch"},
            "meal_windows": {"$ref": "#/components/schemas/MealWindows"},
            "thresholds": {"$ref": "#/components/schemas/Thresholds"}}), &["from", "to"]),
        "BacktestReport": s(json!({
            "alerts": {"type": "array", "items": s(json!({
                "kind": {"type": "string", "enum": crate::domain::AlertKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>()},
                "cause": string, "severity": {"type": "string", "enum": ["critical", "high", "medium", "low"]},
                "opened_at": time, "cleared_at": ntime, "details": {}}),
                &["kind", "cause", "severity", "opened_at", "cleared_at", "details"])},
            "by_kind": {"type": "object", "additionalProperties": {"type": "integer"}},
            "days": {"type": "number", "description": "the window's length in days"},
            "per_week": {"type": "object", "additionalProperties": {"type": "number"}, "description": "by_kind ÷ (days / 7)"}}),
            &["alerts", "by_kind", "days", "per_week"]),
        "Alert": s(json!({"id": id, "resident_id": nid, "resident_name": nstring, "device_id": nstring,
            "kind": {"type": "string", "enum": crate::domain::AlertKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>()},
            "cause": string, "severity": {"type": "string", "enum": ["critical", "high", "medium", "low"]},
            "status": {"type": "string", "enum": ["open", "acknowledged", "resolved"]},
            "resolution": {"type": ["string", "null"], "enum": ["handled", "false_alarm", "cancelled_by_resident", "auto_cleared", null]},
            "opened_at": time, "condition_at": time, "late": {"type": "boolean"}, "acknowledged_at": ntime, "acknowledged_by": nid,
            "resolved_at": ntime, "resolved_by": nid, "assigned_to": nid, "escalation_level": {"type": "integer"}, "escalated_at": ntime,
            "occurrences": {"type": "integer"}, "last_seen_at": time, "details": {"type": "object"}, "updated_at": time,
            "time_to_acknowledge_seconds": {"type": ["number", "null"]}, "time_to_resolve_seconds": {"type": ["number", "null"]},
            "responder": {"oneOf": [{"$ref": "#/components/schemas/Responder"}, {"type": "null"}], "description": "GET /alerts/{id} for care staff only"}}),
            &["id", "kind", "severity", "status", "opened_at", "details"]),
        "AlertList": list("alerts", "Alert"),
        "Timeline": s(json!({"alert_id": id, "entries": {"type": "array", "items": s(json!({"at": time, "action": string, "actor_id": nid, "actor_name": nstring, "details": {"type": "object"}}), &["at", "action"])}}), &["alert_id", "entries"]),
        "Resolve": s(json!({"resolution": {"type": "string", "enum": ["handled", "false_alarm", "cancelled_by_resident", "auto_cleared"]}, "note": nstring}), &["resolution"]),
        "Assign": s(json!({"user_id": id}), &["user_id"]),
        "Comment": s(json!({"text": text(4000)}), &["text"]),
        "NewWebhook": s(json!({"url": {"type": "string", "format": "uri", "description": "https:// to a public address"}, "secret": {"type": "string", "minLength": 16, "maxLength": 256}, "signature": {"type": "string", "enum": ["v1", "v2"], "default": "v2", "description": "X-Eldercare-Signature format: v2 `t=<unix seconds>,v1=<HMAC of \"<t>.<body>\">`; v1 `sha256=<HMAC of the body>` for receivers not yet upgraded"}}), &["url", "secret"]),
        "Webhook": s(json!({"id": id, "url": string, "signature": {"type": "string", "enum": ["v1", "v2"]}, "created_at": time, "pending_deliveries": {"type": "integer"}, "failed_attempts": {"type": "integer"}, "last_error": nstring}), &["id", "url"]),
        "WebhookList": list("webhooks", "Webhook"),
        "PasswordChange": s(json!({"current_password": string, "new_password": password}), &["current_password", "new_password"]),
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
        // Care services.
        "Location": s(json!({"lat": {"type": "number", "minimum": -90, "maximum": 90}, "lon": {"type": "number", "minimum": -180, "maximum": 180}}), &["lat", "lon"]),
        "NewVisit": s(json!({"resident_id": id, "service_code": string, "scheduled_start": time, "funding": funding, "note": nstring}),
            &["resident_id", "service_code", "scheduled_start", "funding"]),
        "DoorRecord": s(json!({"lat": {"type": "number"}, "lon": {"type": "number"}, "accuracy_m": {"type": "number"},
            "method": method, "distance_m": {"type": ["number", "null"], "description": "from the resident's location; null when the home has none"},
            "tag": string, "received_at": time, "device_ts": {"type": "string", "format": "date-time", "description": "an offline phone's own time, which the record uses"}}),
            &["lat", "lon", "accuracy_m", "method", "received_at"]),
        "Evv": s(json!({"service_code": string, "resident_id": id, "caregiver_id": nid, "date": {"type": ["string", "null"], "format": "date"},
            "start": ntime, "end": ntime,
            "check_in": {"oneOf": [{"$ref": "#/components/schemas/DoorRecord"}, {"type": "null"}]},
            "check_out": {"oneOf": [{"$ref": "#/components/schemas/DoorRecord"}, {"type": "null"}]},
            "minutes": {"type": ["integer", "null"]}, "verified": {"type": "boolean"},
            "exceptions": {"type": "array", "items": exception},
            "resolved": {"type": "array", "items": s(json!({"code": exception, "reason": string, "by": id, "at": time}), &["code", "reason"])}}),
            &["service_code", "resident_id", "verified", "exceptions", "resolved"]),
        "Visit": s(json!({"id": id, "resident_id": id, "resident_name": string, "service_code": string, "service_name": string,
            "funding": funding, "origin": {"type": "string", "enum": Origin::names()}, "status": status,
            "scheduled_start": ntime, "preferred_start": ntime, "caregiver_id": nid, "caregiver_name": nstring, "alert_id": nid,
            "note": nstring, "cancel_reason": {"type": ["string", "null"], "enum": cancel_reasons},
            "tasks": {"type": "array", "items": task_done}, "visit_note": nstring, "evv": {"$ref": "#/components/schemas/Evv"},
            "amendments": {"type": "array", "items": s(json!({"field": {"type": "string", "enum": ["start", "end"]}, "original": ntime, "value": time, "reason": string, "by": id, "at": time}), &["field", "value", "reason", "by", "at"])},
            "rating": rating, "created_at": time, "updated_at": time,
            "responder": {"$ref": "#/components/schemas/Responder", "description": "one visit (GET, or the answer to a change) dispatched from an alert, for its carer and care staff"},
            "access": {"$ref": "#/components/schemas/ResponderAccess", "description": "one visit not dispatched from an alert, for its assigned carer"}}),
            &["id", "resident_id", "service_code", "funding", "origin", "status", "evv", "amendments"]),
        "VisitList": s(json!({"visits": {"type": "array", "items": {"$ref": "#/components/schemas/Visit"}}, "next_cursor": nstring}), &["visits", "next_cursor"]),
        "FamilyVisit": s(json!({"id": id, "resident_id": id, "service_code": string, "service_name": string,
            "origin": string, "status": status, "scheduled_start": ntime, "preferred_start": ntime, "start": ntime, "end": ntime,
            "minutes": {"type": ["integer", "null"]}, "caregiver": {"type": ["string", "null"], "description": "the carer's first name"},
            "tasks": {"type": "array", "items": task_done}, "visit_note": nstring, "cancel_reason": nstring, "rating": rating}),
            &["id", "resident_id", "service_code", "status"]),
        "FamilyVisitList": s(json!({"visits": {"type": "array", "items": {"$ref": "#/components/schemas/FamilyVisit"}}, "next_cursor": nstring}), &["visits", "next_cursor"]),
        "MyVisits": s(json!({"date": {"type": "string", "format": "date"}, "next_cursor": nstring,
            "visits": {"type": "array", "items": s(json!({"id": id, "status": status, "scheduled_start": ntime, "note": nstring,
                "resident": s(json!({"id": id, "name": string, "address": nstring, "location": {"oneOf": [{"$ref": "#/components/schemas/Location"}, {"type": "null"}]}, "notes": nstring}), &["id", "name"]),
                "service": s(json!({"code": string, "name": string, "duration_minutes": {"type": "integer"}, "tasks": {"type": "array", "items": {"$ref": "#/components/schemas/Task"}}}), &["code", "name"]),
                "check_in": {"type": ["object", "null"]}, "check_out": {"type": ["object", "null"]},
                "exceptions": {"type": "array", "items": exception},
                "responder": {"$ref": "#/components/schemas/Responder", "description": "a visit dispatched from an alert"},
                "access": {"$ref": "#/components/schemas/ResponderAccess", "description": "any other visit"}}), &["id", "status", "resident", "service", "exceptions"])}}),
            &["date", "visits", "next_cursor"]),
        "AssignVisit": s(json!({"caregiver_id": id}), &["caregiver_id"]),
        "ScheduleVisit": s(json!({"scheduled_start": time}), &["scheduled_start"]),
        "CancelVisit": s(json!({"reason": {"type": "string", "enum": CancelReason::names()}, "note": nstring}), &["reason"]),
        "DoorCheckIn": s(door.clone(), &["location", "method"]),
        "DoorCheckOut": s(with(&door, json!({"tasks": {"type": "array", "items": task_done}, "note": string})), &["location", "method"]),
        "Amend": s(json!({"field": {"type": "string", "enum": ["start", "end"]}, "value": time, "reason": string}), &["field", "value", "reason"]),
        "ResolveException": s(json!({"reason": string}), &["reason"]),
        "NewRating": s(json!({"stars": {"type": "integer", "minimum": 1, "maximum": 5}, "comment": nstring}), &["stars"]),
        "ResponderInfo": s(json!({
            "access": {"type": ["object", "null"], "properties": {"instructions": {"type": ["string", "null"], "maxLength": 1000},
                "key_safe_code": {"type": ["string", "null"], "minLength": 1, "maxLength": 32, "pattern": NO_SURROUNDING_SPACE,
                    "description": "write-only: absent keeps the stored code, null removes it"}}},
            "emergency_contacts": {"type": ["array", "null"], "maxItems": 20, "items": {"$ref": "#/components/schemas/EmergencyContact"}},
            "conditions": {"type": ["array", "null"], "maxItems": 20, "items": text(200)},
            "allergies": {"type": ["array", "null"], "maxItems": 20, "items": text(200)},
            "medications": {"type": ["array", "null"], "maxItems": 20, "items": {"$ref": "#/components/schemas/Medication"}},
            "directives": {"oneOf": [{"$ref": "#/components/schemas/Directives"}, {"type": "null"}]}}), &[]),
        "EmergencyContact": s(json!({"name": text(200), "relation": text(200),
            "phone": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[0-9+().\\- ]*[0-9][0-9+().\\- ]*$"},
            "priority": {"type": ["integer", "null"], "minimum": 1, "maximum": 20, "description": "1 is called first"}}), &["name", "relation", "phone"]),
        "Medication": s(json!({"name": text(200), "dose": {"type": ["string", "null"], "maxLength": 200}, "schedule": {"type": ["string", "null"], "maxLength": 200}}), &["name"]),
        "Directives": s(json!({"dnacpr": {"type": "boolean", "description": "do not attempt cardiopulmonary resuscitation"}, "note": {"type": ["string", "null"], "maxLength": 200}}), &["dnacpr"]),
        "ResponderAccess": s(json!({"instructions": nstring, "key_safe": {"type": "boolean"}}), &["instructions", "key_safe"]),
        "ResponderSheet": s(responder_sheet.clone(), &["access", "emergency_contacts", "conditions", "allergies", "medications", "directives"]),
        "Responder": s(with(&responder_sheet, json!({"address": nstring, "location": {"oneOf": [{"$ref": "#/components/schemas/Location"}, {"type": "null"}]}})),
            &["address", "location", "access", "emergency_contacts", "conditions", "allergies", "medications", "directives"]),
        "KeySafeCode": s(json!({"code": string}), &["code"]),
        "Dispatch": s(json!({"service_code": {"type": "string", "default": "WELFARE-CHECK"}, "caregiver_id": nid, "funding": funding, "note": nstring}), &[]),
        "NewServiceRequest": s(json!({"service_code": string, "preferred_start": ntime, "note": nstring}), &["service_code"]),
    })
}

/// A time of day in the resident's timezone, `HH:MM` or `HH:MM:SS`.
fn time_of_day() -> Value {
    json!({"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"})
}

fn nullable(mut schema: Value) -> Value {
    if let Some(t) = schema.get("type").and_then(Value::as_str).map(str::to_owned) {
        schema["type"] = json!([t, "null"]);
    }
    schema
}

/// A meal's window: every field required, none null.
fn meal_windows() -> Value {
    use crate::rules::settings::MAX_MEAL_NAME;
    let meal = json!({"type": "string", "minLength": 1, "maxLength": MAX_MEAL_NAME, "pattern": NOT_BLANK});
    json!({"type": "array", "items": {"type": "object", "required": ["meal", "start", "end"],
        "properties": {"meal": meal, "start": time_of_day(), "end": time_of_day()}}})
}

/// Vital-sign bounds by metric, each within the metric's plausible range
/// (a bound in the wrong unit would never trigger).
fn thresholds() -> Value {
    let mut metrics = serde_json::Map::new();
    for metric in crate::domain::Metric::ALL.into_iter().filter(|m| crate::rules::vitals::is_vital(*m)) {
        let (low, high) = metric.plausible();
        let bound = json!({"type": ["number", "null"], "minimum": low, "maximum": high});
        metrics.insert(
            metric.as_str().to_owned(),
            json!({"type": ["object", "null"], "properties": {"min": bound, "max": bound}}),
        );
    }
    json!({"type": "object", "properties": metrics})
}

/// A JSON merge patch of rule settings: only the keys given change, `null`
/// keeps what is there. Amounts within their bounds; the combination is
/// judged as a whole too (a window's start and end, thresholds' min below
/// max), which answers 422.
fn rule_settings_patch() -> Value {
    use crate::rules::settings::{
        MAX_FALL_CANCEL_SECONDS, MAX_FAR_FROM_HOME_M, MAX_HOURS, MAX_LOW_BATTERY_PERCENT, MAX_MIN_READINGS, MAX_MINUTES,
    };
    let positive = |max: f64| json!({"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": max});
    let non_negative = |max: f64| json!({"type": ["number", "null"], "minimum": 0, "maximum": max});
    let part = |props: Value| json!({"type": ["object", "null"], "properties": props});
    let time = nullable(time_of_day());
    let window = part(json!({"start": time, "end": time}));
    json!({"type": "object", "properties": {
        "away": {"type": ["boolean", "null"]},
        "waking_hours": window,
        "night": window,
        "inactivity": part(json!({"hours": positive(MAX_HOURS)})),
        "no_morning_activity": part(json!({"by": time})),
        "night_wandering": part(json!({"return_minutes": positive(MAX_MINUTES)})),
        "bed_exit_no_return": part(json!({"minutes": positive(MAX_MINUTES)})),
        "fall_cancel_seconds": positive(MAX_FALL_CANCEL_SECONDS),
        "low_battery": part(json!({"percent": positive(MAX_LOW_BATTERY_PERCENT)})),
        "meal_windows": nullable(meal_windows()),
        "thresholds": nullable(thresholds()),
        "vitals": part(json!({"duration_minutes": non_negative(MAX_MINUTES), "clear_minutes": non_negative(MAX_MINUTES),
            "min_readings": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_MIN_READINGS}})),
        "visits": part(json!({"grace_minutes": positive(MAX_MINUTES), "far_from_home_m": positive(MAX_FAR_FROM_HOME_M)})),
    }})
}

/// A query parameter's schema: the bounds and values the server accepts.
fn query_schema(path: &str, name: &str, format: &str) -> Value {
    let alert_kinds: Vec<&str> = crate::domain::AlertKind::ALL.iter().map(|k| k.as_str()).collect();
    match (name, format) {
        // Series have bounds of their own; every other list pages 1..1000.
        ("limit", _) if path.ends_with("/readings") || path.ends_with("/events") => {
            json!({"type": "integer", "minimum": 1, "maximum": 50_000})
        }
        ("limit", _) => json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 200}),
        ("cursor", _) => match path {
            "/api/v1/devices" | "/api/v1/gateways" => {
                json!({"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$", "description": "the next_cursor of the previous page"})
            }
            "/api/v1/quarantine" => {
                json!({"type": "string", "pattern": "^[0-9]{1,18}$", "description": "the next_cursor of the previous page"})
            }
            _ => json!({"type": "string", "format": "uuid", "description": "the next_cursor of the previous page"}),
        },
        ("metric", _) => {
            json!({"type": "string", "enum": crate::domain::Metric::ALL.iter().map(|m| m.as_str()).collect::<Vec<_>>()})
        }
        ("bucket", _) => json!({"type": "string", "enum": ["1m", "5m", "15m", "1h", "1d"]}),
        ("status", _) if path == "/api/v1/alerts" => {
            json!({"type": "string", "enum": ["open", "acknowledged", "resolved"]})
        }
        ("severity", _) => json!({"type": "string", "enum": ["critical", "high", "medium", "low"]}),
        ("meal", _) => json!({"type": "string", "enum": Meal::names()}),
        ("status", _) if path == "/api/v1/visits" => json!({"type": "string", "enum": VisitStatus::names()}),
        ("format", _) => json!({"type": "string", "enum": ["json", "csv"]}),
        ("month", _) => json!({"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$"}),
        ("kind", _) if path == "/api/v1/alerts" => json!({"type": "string", "enum": alert_kinds}),
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
        let checks_password = matches!(op.path, "/api/v1/auth/login" | "/api/v1/me/password");
        if checks_password {
            let why = "5 failed attempts per account (30 per client address) in a sliding 15 minutes: a delay, \
                       never a lock; `Retry-After` gives the seconds until the window has slid";
            responses.insert("429".into(), json!({"description": why, "content": content("Error")}));
        }
        if op.method == "post" && op.path == "/api/v1/webhooks" {
            let why = "validation failed, or the url is not https:// or its host is or resolves to a loopback, \
                       private, link-local or otherwise non-public address";
            responses.insert("422".into(), json!({"description": why, "content": content("Error")}));
        }
        let hashes_password = checks_password
            || (op.method == "post"
                && matches!(
                    op.path,
                    "/api/v1/users"
                        | "/api/v1/users/{id}/password"
                        | "/api/v1/institutions/{id}/users"
                        | "/api/v1/supervisors"
                ));
        let unavailable = if hashes_password {
            "the database is unavailable, a query ran past the statement timeout (`timeout`), the server is at its \
             limit of requests in progress or every password-hashing slot is busy (`busy`, with `Retry-After`); try again"
        } else if op.path == "/api/v1/alerts/stream" {
            "the server has as many live streams open as it takes (`busy`, with `Retry-After`); try again"
        } else {
            "the database is unavailable, a query ran past the statement timeout (`timeout`), or the server is at \
             its limit of requests in progress (`busy`, with `Retry-After`); try again"
        };
        if op.path == "/api/v1/alerts/stream" {
            let why = "this user has as many live streams open as one may (`http.streams_per_user`); `Retry-After`";
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
            // The second factor's first call has no body.
            let required = op.path != "/api/v1/me/totp";
            operation["requestBody"] = json!({"required": required, "content": content(schema)});
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
            ("/api/v1", include_str!("institutions.rs")),
            ("/api/v1", include_str!("residents.rs")),
            ("/api/v1", include_str!("devices.rs")),
            ("/api/v1", include_str!("gateways.rs")),
            ("/api/v1", include_str!("data.rs")),
            ("/api/v1", include_str!("family.rs")),
            ("/api/v1", include_str!("quarantine.rs")),
            ("/api/v1", include_str!("rules.rs")),
            ("/api/v1", include_str!("backtest.rs")),
            ("/api/v1", include_str!("alerts.rs")),
            ("/api/v1", include_str!("webhooks.rs")),
            ("/api/v1", include_str!("visits.rs")),
            ("/api/v1", include_str!("responder.rs")),
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
