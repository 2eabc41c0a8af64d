//! eldercare: elderly-care monitoring. Devices publish over MQTT; `ingest`
//! stores what they say; the API serves care staff, families and admins.

// The OpenAPI document is one large json! literal.
#![recursion_limit = "512"]

pub mod alerts;
pub mod api;
pub mod app;
pub mod audit;
pub mod backtest;
pub mod bootstrap;
pub mod broker;
pub mod care;
pub mod config;
pub mod domain;
pub mod fhir;
pub mod import;
pub mod ingest;
#[cfg(test)]
mod layering;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod retention;
pub mod rules;
pub mod scheduler;
pub mod store;
pub mod summary;
pub mod telemetry;
pub mod totp;
pub mod watchdog;
