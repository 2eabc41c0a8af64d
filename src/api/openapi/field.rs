//! Schemas of fields whose bounds a Rust type does not carry, for
//! `#[schema(schema_with = field::...)]` next to the field.

use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Object, SchemaFormat};

use super::{EMAIL, NOT_BLANK};

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// Text the server trims and refuses blank, of at most `MAX` characters.
pub fn text<const MAX: usize>() -> Object {
    string().min_length(Some(1)).max_length(Some(MAX)).pattern(Some(NOT_BLANK)).build()
}

/// An email address as `users::valid_email` takes it.
pub fn email() -> Object {
    string().max_length(Some(254)).pattern(Some(EMAIL)).build()
}

/// A new password: at least `MIN_PASSWORD_LEN` characters.
pub fn password() -> Object {
    string().min_length(Some(crate::api::auth::MIN_PASSWORD_LEN)).build()
}

/// The roles an institution's users are created with.
pub fn new_user_role() -> Object {
    string().enum_values(Some(["admin", "staff", "caregiver", "family"])).build()
}

/// The roles an institution's user may be given.
pub fn user_role() -> Object {
    string().enum_values(Some(["admin", "staff", "caregiver", "family", "kitchen"])).build()
}

/// A page's cursor that is a row's id.
pub fn uuid_cursor() -> Object {
    string()
        .format(Some(SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid)))
        .description(Some("the next_cursor of the previous page"))
        .build()
}

/// A page's cursor that is a row's serial number.
pub fn serial_cursor() -> Object {
    string().pattern(Some("^[0-9]{1,18}$")).description(Some("the next_cursor of the previous page")).build()
}

/// An array whose items the document does not describe.
pub fn any_array() -> Object {
    ObjectBuilder::new().schema_type(Type::Array).build()
}

/// A month, `YYYY-MM`.
pub fn month() -> Object {
    string().pattern(Some("^[0-9]{4}-(0[1-9]|1[0-2])$")).build()
}

/// The answer's format: JSON, or CSV (`text/csv`).
pub fn format() -> Object {
    string().enum_values(Some(["json", "csv"])).build()
}

/// A period's figures by day (`day`), or none.
pub fn series() -> Object {
    string().enum_values(Some(["day"])).build()
}

/// Texts the server trims and refuses blank, each of at most `MAX`
/// characters, at most `ITEMS` of them, or `null`.
pub fn texts_or_null<const ITEMS: usize, const MAX: usize>() -> utoipa::openapi::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([Type::Array, Type::Null]))
        .items(text::<MAX>())
        .max_items(Some(ITEMS))
        .build()
}

/// A place (`Location`), or `null` when there is none.
pub fn location_or_null() -> utoipa::openapi::Schema {
    utoipa::openapi::Schema::OneOf(
        utoipa::openapi::schema::OneOfBuilder::new()
            .item(utoipa::openapi::Ref::from_schema_name("Location"))
            .item(Object::with_type(Type::Null))
            .build(),
    )
}

/// A key safe code: write-only, without white space at either end.
pub fn key_safe_code() -> Object {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null]))
        .min_length(Some(1))
        .max_length(Some(crate::domain::responder::MAX_CODE))
        .pattern(Some(super::NO_SURROUNDING_SPACE))
        .description(Some("write-only: absent keeps the stored code, null removes it"))
        .build()
}

/// A visits page's cursor: a time and an id.
pub fn visit_cursor() -> Object {
    string().description(Some("the next_cursor of the previous page")).build()
}
