//! The vocabulary every module speaks: what alerts, events, devices,
//! metrics and roles are called, as types, and the [`Scope`] through which
//! every read and write of an institution's data goes. Names from outside (a
//! device's payload, an API request, a database row) are parsed into these
//! at the edge and passed on as types. The device contract's names (metrics,
//! device, event and alert kinds) come from the `eldercare-domain` crate,
//! which the simulator shares; every closed vocabulary, there and here, is
//! declared with its `names!`.

pub mod access;
pub mod account;
pub mod activity;
pub mod alert;
pub mod assessment;
pub mod billing;
pub mod care;
pub mod clinical;
pub mod cockpit;
pub mod device;
pub mod disclosure;
pub mod district_cockpit;
pub mod division;
pub mod event;
pub mod field;
pub mod institution;
pub mod keys;
pub mod meal;
pub mod metric;
pub mod notify;
pub mod presence;
pub mod quarantine;
pub mod registry;
pub mod responder;
pub mod role;
pub mod scope;
pub mod settings;
pub mod settings_schema;
pub mod status;
pub mod supervision;
pub mod trace;
pub mod wire;
pub mod zigbee;

pub use access::AccessKind;
pub use alert::{AlertKind, Change, Resolution, Severity, Status, Step};
pub use device::{DeviceKind, Source};
pub use event::EventKind;
pub use institution::InstitutionKind;
pub use metric::Metric;
pub use quarantine::Reason;
pub use role::Role;
pub use scope::Scope;
