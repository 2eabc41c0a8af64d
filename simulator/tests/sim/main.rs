//! The simulator's tests, in one binary: the pure generator, then the edges
//! (a real Mosquitto). Provisioning is tested against the real backend, in
//! the root crate's integration tests.

mod generator;
mod mqtt;
