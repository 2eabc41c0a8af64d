//! Integration tests: one binary, real PostgreSQL and Mosquitto.

mod access;
mod alarm_path;
mod alerts;
mod api_auth;
mod api_data;
mod api_residents_devices;
mod behaviour;
mod care;
mod console;
mod durability;
mod family;
mod fhir;
mod health;
mod identity;
mod ingest;
mod lifecycle;
mod meals;
mod platform;
mod poison;
mod simulator;
mod store;
mod support;
mod webhooks;
