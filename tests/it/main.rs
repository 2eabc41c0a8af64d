//! Integration tests: one binary, real PostgreSQL and Mosquitto.

mod api_auth;
mod api_data;
mod api_residents_devices;
mod durability;
mod health;
mod ingest;
mod store;
mod support;
