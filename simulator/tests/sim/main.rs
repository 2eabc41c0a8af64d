//! The simulator's tests, in one binary: the pure generator, then the edges
//! (a real Mosquitto, a stand-in for the backend's HTTP API).

mod generator;
mod mqtt;
mod provision;
