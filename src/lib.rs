//! eldercare: elderly-care monitoring. Devices publish over MQTT; `ingest`
//! stores what they say; the API serves care staff, families and admins.

pub mod api;
pub mod app;
pub mod bootstrap;
pub mod config;
pub mod ingest;
pub mod metrics;
pub mod store;
pub mod telemetry;
