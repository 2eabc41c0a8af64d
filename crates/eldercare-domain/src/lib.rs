//! The device contract's vocabulary, shared by the backend and the
//! simulator so that both speak the same names: the metric catalog with its
//! units and bounds, device kinds and sources, the event catalog, and the
//! alert kinds the backend raises.
//!
//! Every closed vocabulary is declared with [`names!`], the one way an enum
//! of names is written here and in the backend's `domain`.

mod alert;
mod device;
mod event;
mod metric;

pub use alert::AlertKind;
pub use device::{DeviceKind, Source, heartbeat_timeout};
pub use event::{EventKind, Unknown};
pub use metric::Metric;

/// A closed vocabulary of names that serde (and, with the `sqlx` feature,
/// sqlx as `text`) speaks, with `ALL`, `as_str`, `parse`, `names` and
/// `Display`.
///
/// Attributes before the name (docs, extra derives) go on the enum, and
/// attributes before a variant (docs, `#[default]`) go on the variant:
///
/// ```
/// eldercare_domain::names!(
///     /// How loud.
///     #[derive(PartialOrd, Ord, Default)]
///     Volume {
///         #[default]
///         Quiet = "quiet",
///         Loud = "loud",
///     }
/// );
/// assert_eq!(Volume::parse("loud"), Some(Volume::Loud));
/// assert_eq!(Volume::default().to_string(), "quiet");
/// ```
///
/// The crate using it needs `serde` (and `sqlx` or `utoipa`, when this
/// crate's feature of that name is on) among its own dependencies: the
/// derives name them. With `utoipa`, each vocabulary is a schema of its
/// names (`ToSchema`).
#[macro_export]
macro_rules! names {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $crate::__names_enum!($(#[$meta])* $name { $($(#[$vmeta])* $variant = $text),+ });

        impl $name {
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];

            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<$name> {
                $name::ALL.into_iter().find(|v| v.as_str() == text)
            }

            /// The names, for error messages and the OpenAPI document.
            pub fn names() -> Vec<&'static str> {
                $name::ALL.iter().map(|v| v.as_str()).collect()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        $crate::__names_schema!($name);
    };
}

/// With the `utoipa` feature, a vocabulary's OpenAPI schema: a string of
/// one of its names (the schema derive cannot read the names `names!` gives
/// each variant, so it is written from them).
#[cfg(feature = "utoipa")]
#[doc(hidden)]
#[macro_export]
macro_rules! __names_schema {
    ($name:ident) => {
        impl ::utoipa::PartialSchema for $name {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                ::utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(::utoipa::openapi::schema::Type::String)
                    .enum_values(Some($name::names()))
                    .into()
            }
        }

        impl ::utoipa::ToSchema for $name {}
    };
}

#[cfg(not(feature = "utoipa"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __names_schema {
    ($name:ident) => {};
}

// Chosen when this crate is built, so a `cfg` on the feature is read here
// and not in the crate expanding `names!`.
#[cfg(feature = "sqlx")]
#[doc(hidden)]
#[macro_export]
macro_rules! __names_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize, ::sqlx::Type)]
        #[sqlx(type_name = "text")]
        pub enum $name { $($(#[$vmeta])* #[serde(rename = $text)] #[sqlx(rename = $text)] $variant),+ }
    };
}

#[cfg(not(feature = "sqlx"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __names_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        pub enum $name { $($(#[$vmeta])* #[serde(rename = $text)] $variant),+ }
    };
}
