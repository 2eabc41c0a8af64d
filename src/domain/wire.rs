//! How request bodies are read where serde's defaults are too lenient for a
//! public contract: an explicit `null` told from an absent field, and
//! nested objects refused when sent as arrays (a derived struct also takes
//! `[a, b]` in field order, which no client means and the document forbids).
//!
//! A nested object is read through `ObjectOnly`, which hands the struct
//! only what a JSON object gives (a map), so the error path stays that of
//! the field (`location.lat`) and an array is "expected an object".

use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// Tells an absent field (`None`, with `#[serde(default)]`) from an
/// explicit `null` (`Some(None)`).
pub fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A required nested object: an object, never an array or `null`.
pub fn required_object<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    T::deserialize(ObjectOnly(d))
}

/// A required list of objects (with `#[serde(default)]`, absent is empty):
/// each item must be an object; `null` is the wrong type.
pub fn required_objects<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    d.deserialize_seq(Objects(PhantomData))
}

/// An optional nested object: `null` or absent is `None`, an array is the
/// wrong type.
pub fn object<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    d.deserialize_option(Nullable(PhantomData, One))
}

/// An optional list of objects: `null` or absent is `None`, each item must
/// be an object.
pub fn objects<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<T>>, D::Error> {
    d.deserialize_option(Nullable(PhantomData, Many))
}

/// An optional nested object that may be absent (`None`, with
/// `#[serde(default)]`) but never `null` nor an array.
pub fn non_null_object<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    required_object(d).map(Some)
}

/// A nested object whose `null` means "remove": absent is `None`, `null` is
/// `Some(None)` (with `#[serde(default)]`), an array is the wrong type.
pub fn nullable_object<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    object(d).map(Some)
}

/// A deserializer that answers every request with the map it holds, or
/// the error "expected an object".
struct ObjectOnly<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for ObjectOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(MapOnly(visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_struct(name, fields, MapOnly(visitor))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// Passes a map on to the struct's own visitor; anything else (an array
/// above all) is the wrong type.
struct MapOnly<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for MapOnly<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(map)
    }
}

/// What a [`Nullable`] reads when the value is not `null`.
trait Shape<'de, T> {
    fn read<D: Deserializer<'de>>(d: D) -> Result<T, D::Error>;
}

/// One object.
struct One;

impl<'de, T: Deserialize<'de>> Shape<'de, T> for One {
    fn read<D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        required_object(d)
    }
}

/// A list of objects.
struct Many;

impl<'de, T: Deserialize<'de>> Shape<'de, Vec<T>> for Many {
    fn read<D: Deserializer<'de>>(d: D) -> Result<Vec<T>, D::Error> {
        required_objects(d)
    }
}

/// `null` is `None`; anything else is read as the shape `S` says.
struct Nullable<T, S>(PhantomData<T>, S);

impl<'de, T, S: Shape<'de, T>> Visitor<'de> for Nullable<T, S> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("null or an object")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        S::read(d).map(Some)
    }
}

/// Each item of a list read as an object.
struct Objects<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for Objects<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        // Bounded by what the sender sent, not by the hint it gave.
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(AnObject(PhantomData))? {
            items.push(item);
        }
        Ok(items)
    }
}

struct AnObject<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for AnObject<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        required_object(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        a: Option<u8>,
        b: Option<u8>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[serde(default, deserialize_with = "object")]
        one: Option<Inner>,
        #[serde(default, deserialize_with = "objects")]
        many: Option<Vec<Inner>>,
        #[serde(default, deserialize_with = "crate::domain::wire::double_option")]
        note: Option<Option<String>>,
    }

    fn read(v: Value) -> Result<Outer, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn nested_objects_are_objects_and_never_arrays() {
        let ok = read(json!({"one": {"a": 1}, "many": [{"b": 2}]})).unwrap();
        assert_eq!(ok.one, Some(Inner { a: Some(1), b: None }));
        assert_eq!(ok.many, Some(vec![Inner { a: None, b: Some(2) }]));
        assert!(read(json!({"one": [null, null]})).is_err());
        assert!(read(json!({"many": [[1, 2]]})).is_err());
        assert!(read(json!({"many": {"a": 1}})).is_err(), "a list is a list");
        assert!(read(json!({"one": {"c": 1}})).is_err(), "unknown fields inside stay refused");
        assert_eq!(read(json!({"one": null})).unwrap().one, None);
        assert_eq!(read(json!({"many": null})).unwrap().many, None);
        assert_eq!(read(json!({})).unwrap(), Outer { one: None, many: None, note: None });
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Required {
        #[serde(deserialize_with = "required_object")]
        one: Inner,
        #[serde(default, deserialize_with = "required_objects")]
        many: Vec<Inner>,
        #[serde(default, deserialize_with = "non_null_object")]
        maybe: Option<Inner>,
        #[serde(default, deserialize_with = "nullable_object")]
        removable: Option<Option<Inner>>,
    }

    fn required(v: Value) -> Result<Required, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn required_objects_are_objects_and_null_is_refused_where_it_means_nothing() {
        let inner = |a| Inner { a: Some(a), b: None };
        let ok =
            required(json!({"one": {"a": 1}, "many": [{"a": 2}], "maybe": {"a": 3}, "removable": {"a": 4}})).unwrap();
        assert_eq!(
            ok,
            Required { one: inner(1), many: vec![inner(2)], maybe: Some(inner(3)), removable: Some(Some(inner(4))) }
        );
        let least = required(json!({"one": {}})).unwrap();
        assert_eq!((least.many, least.maybe, least.removable), (vec![], None, None));
        assert_eq!(required(json!({"one": {}, "removable": null})).unwrap().removable, Some(None));
        for refused in [
            json!({"one": [1, 2]}),
            json!({"one": null}),
            json!({}),
            json!({"one": {}, "many": [[1, 2]]}),
            json!({"one": {}, "many": null}),
            json!({"one": {}, "maybe": [1, 2]}),
            json!({"one": {}, "maybe": null}),
            json!({"one": {}, "removable": [1, 2]}),
            json!({"one": "a"}),
        ] {
            assert!(required(refused.clone()).is_err(), "{refused}");
        }
    }

    #[test]
    fn an_error_inside_a_nested_object_names_its_path() {
        let text = r#"{"one": {}, "many": [{"a": 1}, {"a": "x"}]}"#;
        let err =
            serde_path_to_error::deserialize::<_, Required>(&mut serde_json::Deserializer::from_str(text)).unwrap_err();
        assert_eq!(err.path().to_string(), "many[1].a");
        let text = r#"{"one": [1, 2]}"#;
        let err =
            serde_path_to_error::deserialize::<_, Required>(&mut serde_json::Deserializer::from_str(text)).unwrap_err();
        assert_eq!(err.path().to_string(), "one");
        assert!(err.inner().to_string().contains("expected an object"), "{err}");
    }

    #[test]
    fn null_is_told_from_absent() {
        assert_eq!(read(json!({})).unwrap().note, None);
        assert_eq!(read(json!({"note": null})).unwrap().note, Some(None));
        assert_eq!(read(json!({"note": "x"})).unwrap().note, Some(Some("x".into())));
    }
}
