//! Schemas of the meal services' request fields whose bounds a Rust type
//! does not carry, for `#[schema(schema_with = meal_fields::...)]` next to
//! the field. Those of the domain's and the store's types are in
//! `domain::meal::schema`, below the API.

use utoipa::openapi::Object;
use utoipa::openapi::schema::{ObjectBuilder, Type};

pub use crate::domain::meal::schema::prices;

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// A kitchen's daily cut-off, `HH:MM` in its own time.
pub fn cutoff() -> Object {
    string().pattern(Some("^([01][0-9]|2[0-3]):[0-5][0-9]$")).default(Some("09:00".into())).build()
}

/// An IANA time zone name.
pub fn timezone() -> Object {
    string()
        .description(Some("an IANA time zone name"))
        .enum_values(Some(chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())))
        .build()
}

/// An absolute URL (a push endpoint, a gateway).
pub fn uri() -> Object {
    string().format(Some(utoipa::openapi::SchemaFormat::Custom("uri".into()))).build()
}

/// A push service's endpoint for a browser.
pub fn push_endpoint() -> Object {
    string()
        .format(Some(utoipa::openapi::SchemaFormat::Custom("uri".into())))
        .description(Some("https:// to a public address"))
        .build()
}
