//! The metric catalog of the device contract, shared with the simulator.

pub use eldercare_domain::Metric;
