//! How request bodies are read where serde's defaults are too lenient for a
//! public contract: an explicit `null` told from an absent field, and
//! nested objects refused when sent as arrays (a derived struct also takes
//! `[a, b]` in field order, which no client means and the document forbids).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// Tells an absent field (`None`, with `#[serde(default)]`) from an
/// explicit `null` (`Some(None)`).
pub fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// An optional nested object: `null` or absent is `None`, an array is the
/// wrong type.
pub fn object<'de, T: DeserializeOwned, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<Map<String, Value>>::deserialize(d)?.map(into).transpose()
}

/// An optional list of objects: each item must be an object.
pub fn objects<'de, T: DeserializeOwned, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<T>>, D::Error> {
    Option::<Vec<Map<String, Value>>>::deserialize(d)?.map(|items| items.into_iter().map(into).collect()).transpose()
}

fn into<T: DeserializeOwned, E: serde::de::Error>(map: Map<String, Value>) -> Result<T, E> {
    T::deserialize(Value::Object(map)).map_err(E::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        assert!(read(json!({"one": {"c": 1}})).is_err(), "unknown fields inside stay refused");
        assert_eq!(read(json!({"one": null})).unwrap().one, None);
    }

    #[test]
    fn null_is_told_from_absent() {
        assert_eq!(read(json!({})).unwrap().note, None);
        assert_eq!(read(json!({"note": null})).unwrap().note, Some(None));
        assert_eq!(read(json!({"note": "x"})).unwrap().note, Some(Some("x".into())));
    }
}
