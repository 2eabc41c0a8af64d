//! Webhook targets, redirects, signatures and isolation between endpoints.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::home::Home;
use crate::support::{Broker, TestApp, fresh_database};

const SECRET: &str = "a-shared-secret-of-some-length";

#[tokio::test]
async fn webhook_targets_must_be_https_to_a_public_address() {
    let app = TestApp::spawn_with(Broker::start().await, fresh_database().await, |s| {
        s.webhooks.allow_private = false;
    })
    .await;
    let h = Home::new(&app, "Grandma", &[]).await;
    for url in [
        "http://8.8.8.8/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.0.0.7/hook",
        "https://169.254.169.254/latest",
        "https://100.64.0.1/hook",
        "https://[::1]/hook",
        "https://[::ffff:192.168.0.1]/hook",
        "https://[64:ff9b::7f00:1]/hook",
        "https://0.0.0.0/hook",
    ] {
        let (status, body) =
            app.call("POST", "/api/v1/webhooks", Some(&h.token), Some(json!({"url": url, "secret": SECRET}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
    }
    // A public address, and a name that does not resolve yet (judged at delivery).
    for url in ["https://8.8.8.8/hook", "https://not-yet.invalid/hook"] {
        let (status, body) =
            app.call("POST", "/api/v1/webhooks", Some(&h.token), Some(json!({"url": url, "secret": SECRET}))).await;
        assert_eq!(status, StatusCode::CREATED, "{url}: {body}");
    }
    assert_eq!(app.count("select count(*) from webhooks").await, 2);
}
