//! The district's ladder: the operator creates divisions down from a
//! district to its grids, each under one that exists, and draws their
//! boundaries; everyone logged in reads it.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::TestApp;

fn division(code: &str, name: &str, level: &str) -> Option<Value> {
    Some(json!({"code": code, "name": name, "level": level}))
}

#[tokio::test]
async fn the_operator_builds_the_ladder_down_to_the_grid() {
    let app = TestApp::spawn().await;
    let operator = app.operator_token().await;
    let op = Some(operator.as_str());

    // Down the ladder, each under the one above.
    for (code, name, level) in [
        ("330205", "Haishu", "district"),
        ("330205001", "Ximen Street", "street"),
        ("330205001001", "Wangchun Community", "community"),
        ("330205001001001", "Grid 1", "grid"),
        ("330205001001002", "Grid 2", "grid"),
    ] {
        let (status, body) = app.call("POST", "/api/v1/divisions", op, division(code, name, level)).await;
        assert_eq!(status, StatusCode::CREATED, "{code}: {body}");
        assert_eq!(body["code"], code);
        assert_eq!(body["level"], level);
        assert_eq!(body["parent"].as_str(), (code.len() > 6).then(|| &code[..code.len() - 3]));
    }

    // A division under one that does not exist, a code of the wrong length
    // for its level, and the same code twice are refused.
    let (status, body) =
        app.call("POST", "/api/v1/divisions", op, division("330206001", "Nowhere Street", "street")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "code");
    let (status, body) = app.call("POST", "/api/v1/divisions", op, division("330205002", "Short", "community")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "code");
    let (status, _) = app.call("POST", "/api/v1/divisions", op, division("330205001", "Again", "street")).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Anyone logged in reads the children of a division, a page at a time.
    let admin = app.admin_token().await;
    let districts = app.get("/api/v1/divisions", &admin).await;
    let codes: Vec<&str> =
        districts["divisions"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["330205"]);
    let first = app.get("/api/v1/divisions?parent=330205001001&limit=1", &admin).await;
    assert_eq!(first["divisions"][0]["code"], "330205001001001");
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let second = app.get(&format!("/api/v1/divisions?parent=330205001001&limit=1&cursor={cursor}"), &admin).await;
    assert_eq!(second["divisions"][0]["code"], "330205001001002");
    assert_eq!(second["next_cursor"], Value::Null);
    let (status, _) = app.call("GET", "/api/v1/divisions?parent=33", Some(&admin), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Only the operator creates divisions and draws their boundaries.
    let (status, _) = app.call("POST", "/api/v1/divisions", Some(&admin), division("330205002", "S", "street")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let ring = json!([[121.50, 29.86], [121.56, 29.86], [121.56, 29.90], [121.50, 29.90], [121.50, 29.86]]);
    let polygon = json!({"type": "Polygon", "coordinates": [ring]});
    let path = "/api/v1/divisions/330205001/boundary";
    let (status, _) = app.call("PUT", path, Some(&admin), Some(polygon.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app.call("PUT", path, op, Some(polygon.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["boundary"], polygon);
    let streets = app.get("/api/v1/divisions?parent=330205", &admin).await;
    assert_eq!(streets["divisions"][0]["boundary"], polygon);
    // An open ring, and a division that does not exist.
    let open = json!({"type": "Polygon", "coordinates": [[[121.50, 29.86], [121.56, 29.86], [121.56, 29.90], [121.50, 29.90]]]});
    let (status, body) = app.call("PUT", path, op, Some(open)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "boundary");
    let (status, _) = app.call("PUT", "/api/v1/divisions/330299/boundary", op, Some(polygon)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Each change is in the platform's audit trail.
    let trail = app.get("/api/v1/audit", &operator).await;
    let actions: Vec<&str> =
        trail["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "division.created").count(), 5, "{actions:?}");
    assert!(actions.contains(&"division.boundary_set"), "{actions:?}");
}
