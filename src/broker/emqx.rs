//! EMQX's REST API, for the one thing the account table cannot do: EMQX
//! reads `mqtt_accounts` when a client connects, not after, so a device
//! whose credential was rotated or revoked keeps its live connection until
//! it is disconnected here (`DELETE /api/v5/clients/{clientid}`).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::{BROKER_TIMEOUT, BrokerError};
use crate::config::{ConfigError, MqttSettings};

/// Tries of one disconnection: a broker node restarting answers a moment
/// later.
const TRIES: u32 = 3;

/// The API of one EMQX cluster (any node answers for the whole cluster).
pub struct EmqxApi {
    http: reqwest::Client,
    base: url::Url,
    key: String,
    secret: SecretString,
}

impl EmqxApi {
    /// The API as the settings give it, or `None` when no URL is set.
    pub fn from_settings(settings: &MqttSettings) -> Result<Option<EmqxApi>, BrokerError> {
        let Some(url) = &settings.emqx_api_url else { return Ok(None) };
        let invalid = |what: &str| BrokerError::Config(ConfigError::Invalid(what.to_owned()));
        let base = url::Url::parse(url).map_err(|_| invalid("ELDERCARE__MQTT__EMQX_API_URL is not a URL"))?;
        let (Some(key), Some(secret)) = (&settings.emqx_api_key, &settings.emqx_api_secret) else {
            return Err(invalid("ELDERCARE__MQTT__EMQX_API_KEY and ELDERCARE__MQTT__EMQX_API_SECRET are required"));
        };
        let http = reqwest::Client::builder()
            .timeout(BROKER_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| BrokerError::Unavailable(format!("the EMQX API client: {e}")))?;
        Ok(Some(EmqxApi { http, base, key: key.clone(), secret: secret.clone() }))
    }

    /// Disconnects `client_id` wherever in the cluster it is connected; a
    /// client that is not connected is no error.
    pub async fn disconnect(&self, client_id: &str) -> Result<(), BrokerError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|_| BrokerError::Config(ConfigError::Invalid("EMQX_API_URL cannot take a path".into())))?
            .pop_if_empty()
            .extend(["api", "v5", "clients", client_id]);
        let mut wait = Duration::from_millis(200);
        let mut tries = 0;
        loop {
            tries += 1;
            match self.try_disconnect(url.clone()).await {
                Ok(()) => return Ok(()),
                Err(err) if tries >= TRIES => return Err(err),
                Err(err) => {
                    tracing::warn!(client_id, cause = %err, retry_in = ?wait, "disconnecting a client through EMQX's API");
                    tokio::time::sleep(wait).await;
                    wait *= 4;
                }
            }
        }
    }

    async fn try_disconnect(&self, url: url::Url) -> Result<(), BrokerError> {
        let response = self
            .http
            .delete(url)
            .basic_auth(&self.key, Some(self.secret.expose_secret()))
            .send()
            .await
            .map_err(|e| BrokerError::Unavailable(format!("EMQX's API: {e}")))?;
        match response.status().as_u16() {
            // 204: disconnected; 404: not connected, nothing to do.
            204 | 200 | 404 => Ok(()),
            status => {
                Err(BrokerError::Refused { command: "DELETE /api/v5/clients".into(), error: format!("HTTP {status}") })
            }
        }
    }
}
