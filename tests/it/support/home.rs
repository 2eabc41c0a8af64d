//! A resident with a set of registered devices, and the alert helpers the
//! rule tests share.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{TestApp, wait_for};

/// (device_id, kind, room, placement, source, external_id)
pub type DeviceRow =
    (&'static str, &'static str, &'static str, Option<&'static str>, &'static str, Option<&'static str>);

pub struct Home {
    pub token: String,
    pub rid: String,
}

impl Home {
    /// Creates the resident (as the admin) and registers `devices` for them.
    pub async fn new(app: &TestApp, name: &str, devices: &[DeviceRow]) -> Home {
        let token = app.admin_token().await;
        let rid = app.resident(&token, name).await;
        for (id, kind, room, placement, source, ext) in devices {
            let body = json!({"device_id": id, "resident_id": rid, "kind": kind, "room": room,
                "placement": placement, "source": source, "external_id": ext});
            app.device(&token, body).await;
        }
        Home { token, rid }
    }

    pub async fn alerts(&self, app: &TestApp, query: &str) -> Vec<Value> {
        let body = app.get(&format!("/api/v1/alerts?resident_id={}&{query}", self.rid), &self.token).await;
        body["alerts"].as_array().cloned().unwrap_or_default()
    }

    /// Waits for an alert of `kind` matching `pred`.
    pub async fn wait_alert(&self, app: &TestApp, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
        wait_for(&format!("a {kind} alert"), || async {
            self.alerts(app, &format!("kind={kind}")).await.into_iter().find(|a| pred(a))
        })
        .await
    }

    /// PATCHes the resident's rule settings; answers the effective settings.
    pub async fn settings(&self, app: &TestApp, patch: Value) -> Value {
        let path = format!("/api/v1/residents/{}/rule-settings", self.rid);
        let (status, body) = app.call("PATCH", &path, Some(&self.token), Some(patch)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}
