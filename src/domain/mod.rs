//! The vocabulary every module speaks: what alerts, events, devices,
//! metrics and roles are called, as types, and the [`Scope`] through which
//! every read and write of an institution's data goes. Names from outside (a
//! device's payload, an API request, a database row) are parsed into these
//! at the edge and passed on as types.

pub mod alert;
pub mod care;
pub mod device;
pub mod event;
pub mod institution;
pub mod metric;
pub mod quarantine;
pub mod role;
pub mod scope;

pub use alert::{AlertKind, Change, Resolution, Severity, Status, Step};
pub use device::{DeviceKind, Source};
pub use event::EventKind;
pub use institution::InstitutionKind;
pub use metric::Metric;
pub use quarantine::Reason;
pub use role::Role;
pub use scope::Scope;
