//! Schemas of fields whose bounds a Rust type does not carry, for
//! `#[schema(schema_with = field::...)]` next to the field.

use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{Object, RefOr, Schema, SchemaFormat};

use super::{EMAIL, NO_SURROUNDING_SPACE, NOT_BLANK};

/// A device or gateway id (see `devices::is_mqtt_id`).
const MQTT_ID: &str = "^[A-Za-z0-9_.-]{1,64}$";

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
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

/// A division's code: district 6 digits, street 9, community 12, grid 15.
pub fn division_code() -> Object {
    string().pattern(Some(r"^[0-9]{6}([0-9]{3}){0,3}$")).build()
}
