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

/// The document: the generated operations, and what every operation
/// shares.
pub fn document() -> Value {
    let doc = serde_json::to_value(super::openapi()).unwrap_or_else(|_| json!({}));
    let schemas = doc["components"]["schemas"].as_object().cloned().unwrap_or_default();
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

#[cfg(test)]
mod tests {
    use super::*;

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
