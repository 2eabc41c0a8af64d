//! What devices say happened: the contract's event catalog, shared with the
//! simulator, and whatever else a vendor's device calls an event.

pub use eldercare_domain::{EventKind, Unknown};
