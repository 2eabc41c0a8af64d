//! The OpenAPI 3.1 document, served at `/api/openapi.json`. Built from one
//! table of operations; a test checks that every route the router answers is
//! in it.

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

use super::ApiContext;

pub fn router() -> Router<ApiContext> {
    Router::new().route("/api/openapi.json", get(|| async { axum::Json(document()) }))
}

/// One operation: method, path, summary, who may call it, request schema,
/// success status and response schema.
pub struct Operation {
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
) -> Operation {
    Operation { method, path, summary, roles, request, status, response, query: &[] }
}

pub const OPERATIONS: &[Operation] = &[
    op("get", "/healthz", "Liveness: 200 while the process runs", "public", None, 200, None),
    op("get", "/readyz", "Readiness: 200 while database and broker are connected", "public", None, 200, None),
    op("get", "/metrics", "Prometheus metrics", "public", None, 200, None),
    op("get", "/api/openapi.json", "This document", "public", None, 200, None),
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
    op(
        "post",
        "/api/v1/users",
        "Create a user in the caller's institution",
        "admin",
        Some("NewUser"),
        201,
        Some("Created"),
    ),
    op("get", "/api/v1/users", "Users of the institution", "admin", None, 200, Some("UserList")),
    op("post", "/api/v1/residents", "Create a resident", "admin, staff", Some("NewResident"), 201, Some("Resident")),
    op("get", "/api/v1/residents", "Residents the caller may see", "any", None, 200, Some("ResidentList")),
    op("get", "/api/v1/residents/{id}", "One resident", "any", None, 200, Some("Resident")),
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
    op(
        "get",
        "/api/v1/residents/{id}/family",
        "Family users linked to a resident",
        "admin, staff",
        None,
        200,
        Some("FamilyList"),
    ),
    Operation {
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
            "Readings of one metric, raw or bucketed (1m, 5m, 15m, 1h, 1d)",
            "any",
            None,
            200,
            Some("Readings"),
        )
    },
    Operation {
        query: &[("from", "date-time"), ("to", "date-time"), ("kind", "string"), ("limit", "integer")],
        ..op("get", "/api/v1/residents/{id}/events", "Events of a resident", "any", None, 200, Some("Events"))
    },
    op("post", "/api/v1/devices", "Register a device", "admin, staff", Some("NewDevice"), 201, Some("Device")),
    Operation {
        query: &[("resident_id", "uuid"), ("kind", "string"), ("online", "boolean")],
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
    op("delete", "/api/v1/devices/{device_id}", "Unregister a device (its data stays)", "admin", None, 204, None),
    Operation {
        query: &[
            ("reason", "string"),
            ("device_id", "string"),
            ("from", "date-time"),
            ("to", "date-time"),
            ("limit", "integer"),
        ],
        ..op(
            "get",
            "/api/v1/quarantine",
            "Rejected device messages, newest first",
            "admin",
            None,
            200,
            Some("QuarantineList"),
        )
    },
];

fn schemas() -> Value {
    let s = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    let string = json!({"type": "string"});
    let nstring = json!({"type": ["string", "null"]});
    let time = json!({"type": "string", "format": "date-time"});
    let ntime = json!({"type": ["string", "null"], "format": "date-time"});
    let id = json!({"type": "string", "format": "uuid"});
    let nid = json!({"type": ["string", "null"], "format": "uuid"});
    let role = json!({"type": "string", "enum": ["admin", "staff", "family"]});
    let list = |key: &str, item: &str| {
        s(json!({key: {"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}}}), &[key])
    };
    json!({
        "Error": s(json!({"error": s(json!({"code": string, "message": string, "field": string}), &["code", "message"])}), &["error"]),
        "LoginRequest": s(json!({"email": string, "password": string}), &["email", "password"]),
        "LoginResponse": s(json!({"token": string, "expires_at": time, "user": {"$ref": "#/components/schemas/User"}}), &["token", "user"]),
        "User": s(json!({"id": id, "email": string, "name": string, "role": role, "institution_id": id, "created_at": time}), &["id", "email", "name", "role"]),
        "UserList": list("users", "User"),
        "NewUser": s(json!({"email": string, "password": {"type": "string", "minLength": super::auth::MIN_PASSWORD_LEN}, "role": role, "name": string}), &["email", "password", "role", "name"]),
        "Created": s(json!({"id": id}), &["id"]),
        "NewResident": s(json!({"name": string, "timezone": {"type": "string", "description": "IANA zone, e.g. Asia/Shanghai"}, "room": nstring, "notes": nstring}), &["name"]),
        "ResidentPatch": s(json!({"name": string, "timezone": string, "room": nstring, "notes": nstring}), &[]),
        "Resident": s(json!({"id": id, "name": string, "timezone": string, "room": nstring, "notes": nstring, "created_at": time, "updated_at": time}), &["id", "name", "timezone"]),
        "ResidentList": list("residents", "Resident"),
        "FamilyLink": s(json!({"user_id": id, "relationship": string}), &["user_id", "relationship"]),
        "FamilyMember": s(json!({"user_id": id, "name": string, "email": string, "relationship": string, "created_at": time}), &["user_id", "relationship"]),
        "FamilyList": list("family", "FamilyMember"),
        "NewDevice": s(json!({"device_id": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}, "resident_id": nid,
            "kind": {"type": "string", "enum": super::devices::KINDS}, "room": nstring, "placement": nstring,
            "source": {"type": "string", "enum": ["native", "zigbee2mqtt"]}, "external_id": nstring,
            "power_on_threshold_w": {"type": "number"}}), &["device_id", "kind"]),
        "DevicePatch": s(json!({"resident_id": nid, "kind": string, "room": nstring, "placement": nstring, "power_on_threshold_w": {"type": "number"}}), &[]),
        "Device": s(json!({"device_id": string, "resident_id": nid, "kind": string, "room": nstring, "placement": nstring,
            "source": string, "external_id": nstring, "power_on_threshold_w": {"type": "number"},
            "last_seen_at": ntime, "online": {"type": ["boolean", "null"]}, "battery": {"type": ["number", "null"]},
            "rssi": {"type": ["integer", "null"]}, "firmware": nstring, "created_at": time, "updated_at": time}), &["device_id", "kind", "source"]),
        "DeviceList": list("devices", "Device"),
        "Readings": s(json!({"metric": string, "unit": string, "from": time, "to": time, "bucket": string,
            "points": {"type": "array", "items": {"type": "object", "properties": {"ts": time, "value": {"type": "number"},
                "avg": {"type": "number"}, "min": {"type": "number"}, "max": {"type": "number"}, "count": {"type": "integer"}}}}}), &["metric", "unit", "points"]),
        "Events": s(json!({"from": time, "to": time, "events": {"type": "array", "items": s(json!({"ts": time, "kind": string, "device_id": string, "data": {"type": "object"}}), &["ts", "kind", "device_id", "data"])}}), &["events"]),
        "QuarantineList": s(json!({"total": {"type": "integer"}, "messages": {"type": "array", "items": s(json!({"id": string, "received_at": time, "topic": string,
            "reason": string, "detail": string, "device_id": nstring, "payload": string, "payload_encoding": {"type": "string", "enum": ["utf8", "base64"]}, "payload_bytes": {"type": "integer"}}),
            &["received_at", "topic", "reason", "payload"])}}), &["total", "messages"]),
    })
}

pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for op in OPERATIONS {
        let mut parameters: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        for (name, format) in op.query {
            let schema = match *format {
                "integer" => json!({"type": "integer"}),
                "boolean" => json!({"type": "boolean"}),
                "string" => json!({"type": "string"}),
                f => json!({"type": "string", "format": f}),
            };
            parameters.push(json!({"name": name, "in": "query", "required": *name == "metric", "schema": schema}));
        }
        let content =
            |schema: &str| json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}});
        let mut responses = serde_json::Map::new();
        let mut ok = json!({"description": "success"});
        if let Some(schema) = op.response {
            ok["content"] = content(schema);
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
    json!({
        "openapi": "3.1.0",
        "info": {"title": "eldercare", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Elderly-care monitoring: residents, devices, readings, events, alerts."},
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    })
}
