//! The typed view of the claims ([`VerifiedToken::claims`](crate::VerifiedToken::claims)): a
//! serde `Deserializer` over [`json::Reader`](crate::json::Reader) for the shapes claims types
//! have (structs and maps with string keys, strings, integers, booleans, `null`, options,
//! sequences, ignored members), which hands everything else to `serde_json`.
//!
//! Why not `serde_json::from_slice` alone: it is the whole typed view of every uncached token,
//! about 2.3k instructions for a typical payload read into a one-field struct, most of them in
//! per-string UTF-8 checks and escape searches this reader does once per document.
//!
//! The invariant: a value comes from this path only if `serde_json` would produce the very same
//! one. Each request it serves makes the visitor calls `serde_json`'s own `Deserializer` makes, in
//! the same order with the same arguments (a string without escapes as `visit_borrowed_str`, one
//! with escapes as `visit_str`; a non-negative integer of up to 19 digits as `visit_u64`, a
//! negative one as `visit_i64`, `-0` as `visit_f64`). Any other request (a float, a long
//! integer, an enum, bytes, a map key read as a number...), any error (the user's types' own
//! included) and any value the visitor leaves half-read sets [`Fast::gave_up`]; then the result
//! is thrown away and `serde_json` reads the payload from the start, so its errors and its
//! answers to rare shapes are exactly `serde_json`'s. The tests below and the `claims_payload`
//! fuzz target compare the two on the same inputs.

use std::borrow::Cow;
use std::cell::Cell;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use crate::json::{JsonError, Literal, NumberShape, Reader};

/// `Deserializer` methods that read a number the one way `serde_json` reads every number type.
macro_rules! numbers {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            match self.reader.peek_token() {
                Some(b'-' | b'0'..=b'9') => self.number(visitor),
                _ => self.give_up(),
            }
        }
    )*};
}

/// `Deserializer` methods this path never serves: `serde_json` reads the document instead.
macro_rules! given_up {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'a>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
            self.give_up()
        }
    )*};
}

/// `T` from the JSON document `bytes`, as `serde_json::from_slice` reads it.
pub(crate) fn from_slice<'a, T: de::Deserialize<'a>>(bytes: &'a [u8]) -> serde_json::Result<T> {
    let gave_up = Cell::new(false);
    let mut reader = Reader::new(bytes);
    let fast = T::deserialize(Fast {
        reader: &mut reader,
        gave_up: &gave_up,
    });
    match fast {
        Ok(value) if !gave_up.get() && reader.end().is_ok() => Ok(value),
        _ => serde_json::from_slice(bytes),
    }
}

/// The deserializer of one value; `gave_up` is shared by all of a document's.
struct Fast<'r, 'a> {
    reader: &'r mut Reader<'a>,
    gave_up: &'r Cell<bool>,
}

/// Marks the document for `serde_json` and stops this reading.
fn give_up<T>(gave_up: &Cell<bool>) -> Result<T, serde_json::Error> {
    gave_up.set(true);
    Err(de::Error::custom("read by serde_json instead"))
}

fn json_error(err: JsonError) -> serde_json::Error {
    de::Error::custom(err)
}

impl<'r, 'a> Fast<'r, 'a> {
    fn give_up<T>(&self) -> Result<T, serde_json::Error> {
        give_up(self.gave_up)
    }

    fn string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, serde_json::Error> {
        match self.reader.string().map_err(json_error)? {
            Cow::Borrowed(text) => visitor.visit_borrowed_str(text),
            Cow::Owned(text) => visitor.visit_str(&text),
        }
    }

    /// An integer the way `serde_json` visits it (its `parse_integer` and `parse_number`);
    /// anything else is given up.
    fn number<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, serde_json::Error> {
        match self.reader.number_shape().map_err(json_error)? {
            NumberShape::Integer {
                negative: false,
                significand: Some(significand),
            } => visitor.visit_u64(significand),
            NumberShape::Integer {
                negative: true,
                significand: Some(significand),
            } => {
                let negated = (significand as i64).wrapping_neg();
                // `serde_json` turns `-0` and what i64 cannot hold into f64.
                if negated >= 0 {
                    visitor.visit_f64(-(significand as f64))
                } else {
                    visitor.visit_i64(negated)
                }
            }
            _ => self.give_up(),
        }
    }

    fn literal<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, serde_json::Error> {
        match self.reader.literal().map_err(json_error)? {
            Literal::True => visitor.visit_bool(true),
            Literal::False => visitor.visit_bool(false),
            Literal::Null => visitor.visit_unit(),
        }
    }

    fn seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, serde_json::Error> {
        self.reader.begin_array().map_err(json_error)?;
        self.contents(|open| visitor.visit_seq(open))
    }

    fn map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, serde_json::Error> {
        self.reader.begin_object().map_err(json_error)?;
        self.contents(|open| visitor.visit_map(open))
    }

    /// Visits the items or members of the array or object just opened; `serde_json` refuses one
    /// its visitor did not read to the end, so that is given up.
    fn contents<T>(
        self,
        visit: impl FnOnce(&mut Open<'_, 'a>) -> Result<T, serde_json::Error>,
    ) -> Result<T, serde_json::Error> {
        let mut open = Open {
            reader: &mut *self.reader,
            gave_up: self.gave_up,
            first: true,
            done: false,
        };
        let value = visit(&mut open)?;
        if !open.done {
            return self.give_up();
        }
        Ok(value)
    }
}

impl<'a> de::Deserializer<'a> for Fast<'_, 'a> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.reader.peek_token() {
            Some(b'"') => self.string(visitor),
            Some(b'-' | b'0'..=b'9') => self.number(visitor),
            Some(b't' | b'f' | b'n') => self.literal(visitor),
            Some(b'[') => self.seq(visitor),
            Some(b'{') => self.map(visitor),
            _ => self.give_up(),
        }
    }

    fn deserialize_bool<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.reader.peek_token() {
            Some(b't' | b'f') => self.literal(visitor),
            _ => self.give_up(),
        }
    }

    // Every number type but the 128-bit ones is read alike by `serde_json`
    // (`deserialize_number`): the number as parsed, whatever type was asked for.
    numbers! { deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_u8
    deserialize_u16 deserialize_u32 deserialize_u64 deserialize_f32 deserialize_f64 }

    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.reader.peek_token() {
            Some(b'"') => self.string(visitor),
            _ => self.give_up(),
        }
    }

    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.reader.peek_token() {
            Some(b'n') => match self.reader.literal().map_err(json_error)? {
                Literal::Null => visitor.visit_none(),
                _ => self.give_up(),
            },
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.reader.peek_token() {
            Some(b'n') => self.literal(visitor),
            _ => self.give_up(),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        // `serde_json::value::RawValue` asks for itself by this name.
        if name == "$serde_json::private::RawValue" {
            return self.give_up();
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.reader.peek_token() {
            Some(b'[') => self.seq(visitor),
            _ => self.give_up(),
        }
    }

    fn deserialize_tuple<V: Visitor<'a>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.reader.peek_token() {
            Some(b'{') => self.map(visitor),
            _ => self.give_up(),
        }
    }

    /// A struct from an object (`serde_json` also reads one from an array: given up).
    fn deserialize_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.reader.skip().map_err(json_error)?;
        visitor.visit_unit()
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.give_up()
    }

    given_up! { deserialize_i128 deserialize_u128 deserialize_char deserialize_bytes
    deserialize_byte_buf }
}

/// The items or members of an array or object being read.
struct Open<'r, 'a> {
    reader: &'r mut Reader<'a>,
    gave_up: &'r Cell<bool>,
    first: bool,
    /// The closing bracket was read.
    done: bool,
}

impl<'a> SeqAccess<'a> for &mut Open<'_, 'a> {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        if self.done {
            return Ok(None);
        }
        if !self.reader.next_item(&mut self.first).map_err(json_error)? {
            self.done = true;
            return Ok(None);
        }
        seed.deserialize(Fast {
            reader: &mut *self.reader,
            gave_up: self.gave_up,
        })
        .map(Some)
    }
}

impl<'a> MapAccess<'a> for &mut Open<'_, 'a> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        if self.done {
            return Ok(None);
        }
        match self
            .reader
            .next_member(&mut self.first)
            .map_err(json_error)?
        {
            Some(name) => seed
                .deserialize(Key {
                    name,
                    gave_up: self.gave_up,
                })
                .map(Some),
            None => {
                self.done = true;
                Ok(None)
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        seed.deserialize(Fast {
            reader: &mut *self.reader,
            gave_up: self.gave_up,
        })
    }
}

/// A member name, read as a string the way `serde_json`'s map keys are (a key read as a number,
/// a boolean, bytes or an enum is given up).
struct Key<'r, 'a> {
    name: Cow<'a, str>,
    gave_up: &'r Cell<bool>,
}

impl Key<'_, '_> {
    fn give_up<T>(&self) -> Result<T, serde_json::Error> {
        give_up(self.gave_up)
    }
}

impl<'a> de::Deserializer<'a> for Key<'_, 'a> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.name {
            Cow::Borrowed(name) => visitor.visit_borrowed_str(name),
            Cow::Owned(name) => visitor.visit_str(&name),
        }
    }

    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_any(visitor)
    }

    given_up! { deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
    deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
    deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_bytes
    deserialize_byte_buf deserialize_option deserialize_unit deserialize_seq deserialize_map }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _: &'static str,
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.give_up()
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _: &'static str,
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.give_up()
    }

    fn deserialize_tuple<V: Visitor<'a>>(self, _: usize, _: V) -> Result<V::Value, Self::Error> {
        self.give_up()
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _: &'static str,
        _: usize,
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.give_up()
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.give_up()
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.give_up()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use proptest::prelude::*;
    use serde::Deserialize;
    use serde::de::DeserializeOwned;
    use serde_json::Value;

    use super::*;
    use crate::StandardClaims;

    /// The same answer as `serde_json`: the same value, or an error (with the same message).
    fn same<T: DeserializeOwned + PartialEq + std::fmt::Debug>(doc: &[u8]) {
        let ours = from_slice::<T>(doc).map_err(|e| e.to_string());
        let theirs = serde_json::from_slice::<T>(doc).map_err(|e| e.to_string());
        assert_eq!(
            ours,
            theirs,
            "{} from {:?}",
            std::any::type_name::<T>(),
            String::from_utf8_lossy(doc)
        );
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Me {
        sub: String,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Role {
        Admin,
        Reader,
        Scoped { scope: String },
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct App {
        sub: String,
        #[serde(default)]
        roles: Vec<Role>,
        exp: Option<u32>,
        #[serde(default)]
        email_verified: bool,
        #[serde(default)]
        big: Option<u128>,
        #[serde(default)]
        ratio: Option<f64>,
        #[serde(flatten)]
        rest: BTreeMap<String, Value>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        a: i8,
        b: (u8, String),
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(untagged)]
    enum Audience {
        One(String),
        Many(Vec<String>),
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct WithAud {
        aud: Audience,
    }

    fn all_types(doc: &[u8]) {
        same::<Value>(doc);
        same::<Me>(doc);
        same::<App>(doc);
        same::<Strict>(doc);
        same::<WithAud>(doc);
        same::<StandardClaims>(doc);
        same::<HashMap<String, Value>>(doc);
        same::<HashMap<u32, String>>(doc);
        same::<Vec<Value>>(doc);
        same::<(String, i64)>(doc);
        same::<Option<String>>(doc);
        same::<String>(doc);
        same::<i32>(doc);
        same::<f64>(doc);
        same::<bool>(doc);
        same::<()>(doc);
    }

    #[test]
    fn typed_claims_are_what_serde_json_reads() {
        let docs: &[&[u8]] = &[
            br#"{"sub":"user-1"}"#,
            br#"{"sub":"us\u00e9r"}"#,
            br#"{"sub":"a","sub":"b"}"#,
            br#"{"sub":5}"#,
            br#"{"sub":"a","roles":["admin",{"scoped":{"scope":"x"}}],"exp":5,"email_verified":true}"#,
            br#"{"sub":"a","exp":-1}"#,
            br#"{"sub":"a","exp":4294967296}"#,
            br#"{"sub":"a","exp":null,"big":340282366920938463463374607431768211455}"#,
            br#"{"sub":"a","ratio":0.5,"x":[1,2,{"y":-0}],"z":-9223372036854775808}"#,
            br#"{"sub":"a","roles":["nobody"]}"#,
            br#"{"a":-128,"b":[255,"x"]}"#,
            br#"{"a":-129,"b":[255,"x"]}"#,
            br#"{"a":1,"b":[1,"x",3]}"#,
            br#"{"a":1,"b":[1]}"#,
            br#"{"a":1,"b":[1,"x"],"c":1}"#,
            br#"{"aud":"x"}"#,
            br#"{"aud":["x","y"]}"#,
            br#"{"aud":5}"#,
            br#"{"1":"x","2":"y"}"#,
            br#"{"iss":"i","aud":["a"],"exp":1700000000,"nbf":1.5,"jti":"j","extra":{"k":[true,false,null]}}"#,
            br#"["x",5]"#,
            br#"["x",-5,1]"#,
            br#""text""#,
            br#""te\"xt""#,
            b"-0",
            b"12",
            b"1e3",
            b"true",
            b"null",
            br#"{"sub":"a"} trailing"#,
            br#"{"sub":"a""#,
            br#"{"sub":"\ud800"}"#,
            b"{\"sub\":\"\xff\"}",
            b"",
        ];
        for doc in docs {
            all_types(doc);
        }
    }

    /// Whether `T` is read from `doc` without handing it to `serde_json`.
    fn read_fast<'a, T: de::Deserialize<'a>>(doc: &'a [u8]) -> bool {
        let gave_up = Cell::new(false);
        let mut reader = Reader::new(doc);
        let value = T::deserialize(Fast {
            reader: &mut reader,
            gave_up: &gave_up,
        });
        value.is_ok() && !gave_up.get() && reader.end().is_ok()
    }

    #[test]
    fn the_usual_claims_shapes_never_reach_serde_json() {
        let token = br#"{"aud":"tollgate-bench","client_id":"c","exp":4102444800,"iat":1700000000,"iss":"https://issuer.example","jti":"j-0","scope":"read write","sub":"user-0","roles":["a","b"],"email_verified":true,"nonce":null,"cnf":{"jkt":"abc"},"n":-5}"#;
        assert!(read_fast::<Me>(token));
        assert!(read_fast::<StandardClaims>(token));
        assert!(read_fast::<Value>(token));
        assert!(read_fast::<HashMap<String, Value>>(token));
        // What is handed over: floats, 128-bit integers, enums, errors.
        assert!(!read_fast::<Value>(br#"{"x":0.5}"#));
        assert!(!read_fast::<App>(br#"{"sub":"a","big":1}"#));
        assert!(!read_fast::<Vec<Role>>(br#"["admin"]"#));
        assert!(!read_fast::<Me>(br#"{"sub":5}"#));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn generated_documents_read_as_serde_json_reads_them(
            members in prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "sub", "aud", "exp", "roles", "a", "b", "1", "email_verified", "big",
                        "ratio", "x", "s\u{e9}",
                    ]),
                    prop_oneof![
                        Just(Value::Null),
                        any::<bool>().prop_map(Value::from),
                        any::<i64>().prop_map(Value::from),
                        any::<u64>().prop_map(Value::from),
                        (-1e6f64..1e6).prop_map(Value::from),
                        "[a-z\"\\\\\u{e9}]{0,6}".prop_map(Value::from),
                        prop::collection::vec("[a-z]{0,3}".prop_map(Value::from), 0..3)
                            .prop_map(Value::from),
                    ],
                ),
                0..6,
            ),
        ) {
            let mut doc = String::from("{");
            for (i, (name, value)) in members.iter().enumerate() {
                if i > 0 {
                    doc.push(',');
                }
                doc.push_str(&serde_json::to_string(name).unwrap());
                doc.push(':');
                doc.push_str(&value.to_string());
            }
            doc.push('}');
            all_types(doc.as_bytes());
        }
    }
}
