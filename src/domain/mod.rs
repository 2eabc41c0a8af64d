//! The vocabulary every module speaks: what alerts, events, devices,
//! metrics and roles are called, as types, and the [`Scope`] through which
//! every read and write of an institution's data goes. Names from outside (a
//! device's payload, an API request, a database row) are parsed into these
//! at the edge and passed on as types.

/// A closed vocabulary of snake_case names that serde and sqlx both speak,
/// with `ALL`, `as_str`, `parse`, `names` and `Display`.
macro_rules! names {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
        #[sqlx(type_name = "text")]
        pub enum $name { $(#[serde(rename = $text)] #[sqlx(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &[$name] = &[$($name::$variant),+];

            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == text)
            }

            /// The names, for error messages and the OpenAPI document.
            pub fn names() -> Vec<&'static str> {
                $name::ALL.iter().map(|v| v.as_str()).collect()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod access;
pub mod alert;
pub mod care;
pub mod device;
pub mod event;
pub mod institution;
pub mod meal;
pub mod metric;
pub mod notify;
pub mod quarantine;
pub mod responder;
pub mod role;
pub mod scope;
pub mod status;
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
