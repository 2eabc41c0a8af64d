//! `eldercare-sim`: plays realistic days of many residents over MQTT, speaking
//! only the device contract (the "Device contract (MQTT)" section of the
//! repository's README), like real devices and gateways do.
//!
//! The core is pure: [`generate`] turns a [`SimConfig`] and a simulated time
//! range into the exact, seeded sequence of [`Message`]s the devices would
//! publish, and [`devices`] lists what must be registered for them. Everything
//! that touches the network (MQTT publishing, the backend's HTTP API, the load
//! generator) sits in its own module at the edge.

pub mod casas;
pub mod clock;
pub mod confounders;
pub mod dispatch;
pub mod generate;
pub mod incidents;
pub mod latency;
pub mod load;
pub mod message;
pub mod model;
pub mod mqtt;
pub mod orders;
pub mod payload;
mod plan;
pub mod provision;
pub mod publish;
mod render;
pub mod report;
pub mod rounds;
mod routine;
pub mod scenario;
mod seeds;

pub use generate::{Generated, announce, generate, generate_with_incidents};
pub use incidents::{Incident, IncidentKind, IncidentRecord};
pub use message::{Message, MessageKind, Qos};
pub use model::{DeviceKind, DeviceRole, DeviceSpec, ResidentProfile, Room, SimConfig, Source, devices};
