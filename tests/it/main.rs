//! Integration tests: one binary, real PostgreSQL and Mosquitto.

mod access;
mod alerts;
mod api_auth;
mod api_data;
mod api_residents_devices;
mod behaviour;
mod console;
mod durability;
mod family;
mod health;
mod identity;
mod ingest;
mod simulator;
mod store;
mod support;
