//! Schemas of fields whose bounds a Rust type does not carry, for
//! `#[schema(schema_with = field::...)]` next to the field in the API
//! document, and the patterns they share with the hand-written schemas.

use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{Object, RefOr, Schema, SchemaFormat};

// Patterns name white space as Rust's `trim` does, in a class both the
// document's readers (ECMA) and Python-based fuzzers read alike.

/// Some character that is not white space: the server trims and refuses blank text.
pub const NOT_BLANK: &str =
    concat!(r"[^", r"\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000", "]");

/// No white space at either end (regions match as exact strings).
pub const NO_SURROUNDING_SPACE: &str = concat!(
    r"^[^\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
    r"([\s\S]*[^\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?$"
);
/// One `@` between two parts without spaces (see `users::valid_email`).
pub const EMAIL: &str = r"^[^@ \t\n\r\f\u000b]+@[^@ \t\n\r\f\u000b]+$";

/// A device or gateway id (see `devices::is_mqtt_id`).
const MQTT_ID: &str = "^[A-Za-z0-9_.-]{1,64}$";

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// A schema written as JSON, every object in it with properties closed as
/// the server refuses unknown keys.
pub fn closed_json(mut value: Value) -> RefOr<Schema> {
    fn close(value: &mut Value) {
        let Some(object) = value.as_object_mut() else { return };
        if object.contains_key("properties") && !object.contains_key("additionalProperties") {
            object.insert("additionalProperties".into(), Value::Bool(false));
        }
        object.get_mut("properties").and_then(Value::as_object_mut).into_iter().flatten().for_each(|(_, p)| close(p));
        object.get_mut("items").into_iter().for_each(close);
    }
    close(&mut value);
    serde_json::from_value(value).unwrap_or_else(|_| RefOr::T(Schema::default()))
}

/// Marks the body of the POST at `path` optional: an empty body is the
/// body's defaults (`api::optional_body`), while `null` is refused.
pub fn optional_body(doc: &mut utoipa::openapi::OpenApi, path: &str) {
    let post = doc.paths.paths.get_mut(path).and_then(|item| item.post.as_mut());
    if let Some(RefOr::T(body)) = post.and_then(|op| op.request_body.as_mut()) {
        body.required = Some(utoipa::openapi::Required::False);
    }
}

/// An IANA time zone name, as `residents::validate_timezone` takes it.
pub struct Timezone;

impl utoipa::PartialSchema for Timezone {
    fn schema() -> RefOr<Schema> {
        let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
        string().description(Some("an IANA time zone name")).enum_values(Some(names)).into()
    }
}

impl utoipa::ToSchema for Timezone {}

/// A region: exact text, without surrounding white space.
pub fn region() -> Object {
    string().min_length(Some(1)).max_length(Some(200)).pattern(Some(NO_SURROUNDING_SPACE)).build()
}

/// A region, or `null` for none.
pub fn region_or_null() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .min_length(Some(1))
        .max_length(Some(200))
        .pattern(Some(NO_SURROUNDING_SPACE))
        .build()
}

/// The one role the operator creates in an institution.
pub fn admin_role() -> Object {
    string().enum_values(Some(["admin"])).build()
}

/// A plug's power (W) above which its appliance counts as on.
pub fn watts() -> Object {
    ObjectBuilder::new().schema_type(Type::Number).minimum(Some(0)).maximum(Some(10_000)).build()
}

/// A device or gateway id: an MQTT username and topic level.
pub fn mqtt_id() -> Object {
    string().pattern(Some(MQTT_ID)).build()
}

/// A page's cursor that is a device's or gateway's id.
pub fn mqtt_id_cursor() -> Object {
    string().pattern(Some(MQTT_ID)).description(Some("the next_cursor of the previous page")).build()
}

/// A page's cursor that is a row's number.
pub fn number_cursor() -> Object {
    string().pattern(Some("^[0-9]{1,18}$")).description(Some("the next_cursor of the previous page")).build()
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
    string().min_length(Some(super::account::MIN_PASSWORD_LEN)).build()
}

/// The roles an institution's users are created with.
pub fn new_user_role() -> Object {
    string().enum_values(Some(["admin", "staff", "caregiver", "family", "assessor", "insurer"])).build()
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

/// A division's code: district 6 digits, street 9, community 12, grid 15.
pub fn division_code() -> Object {
    string().pattern(Some(r"^[0-9]{6}([0-9]{3}){0,3}$")).build()
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
        .pattern(Some(NO_SURROUNDING_SPACE))
        .description(Some("write-only: absent keeps the stored code, null removes it"))
        .build()
}

/// A visits page's cursor: a time and an id.
pub fn visit_cursor() -> Object {
    string().description(Some("the next_cursor of the previous page")).build()
}
