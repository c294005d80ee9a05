//! One-pass JSON scans of the header and the claims: typed where it matters, duplicate member
//! names refused (RFC 7515 4 / RFC 7519 4 permit refusing; it closes parser-differential attacks),
//! everything else read as strictly as `serde_json::Value` reads it ([`Valid`]) without
//! allocating, so a scanned payload is one every JSON view of the claims can hold.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::{Error, Malformed};
use crate::keyed_hash::word;

/// A string that borrows from the input when it has no escapes.
pub(crate) struct Str<'a>(pub(crate) Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// Any JSON value, read and dropped, accepting exactly what `serde_json::Value` accepts: every
/// value goes through the same deserializer's `deserialize_any` (strings with their escapes
/// decoded, so a lone surrogate fails; numbers converted, so `1e400` fails; the same recursion
/// limit), only nothing is kept. `IgnoredAny` would be cheaper but lets all three through, and
/// the JSON view built later from the payload would then fail on a token already accepted.
pub(crate) struct Valid;

impl<'de> de::Deserialize<'de> for Valid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Valid;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_none<E: de::Error>(self) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Valid, A::Error> {
                while map.next_entry::<Valid, Valid>()?.is_some() {}
                Ok(Valid)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Valid, A::Error> {
                while seq.next_element::<Valid>()?.is_some() {}
                Ok(Valid)
            }
        }
        d.deserialize_any(V)
    }
}

/// Any JSON value, classified; never fails on a type, so a wrong type becomes a precise error
/// instead of a generic parse failure.
pub(crate) enum Loose<'a> {
    Number(f64),
    Str(Cow<'a, str>),
    Strings(Vec<Cow<'a, str>>),
    Bool(bool),
    /// An object's members, in order, their values read as [`Loose`] (nested objects as
    /// `Other`): only for members a sink reads with [`MemberSink::wants_members`].
    Object(Vec<(Cow<'a, str>, Loose<'a>)>),
    /// `null`, an object, or an array holding something other than strings.
    Other(&'static str),
}

impl<'de> de::Deserialize<'de> for Loose<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LooseVisitor { members: false })
    }
}

/// A [`Loose`] value whose object, if it is one, is kept one level deep as
/// [`Loose::Object`] (duplicate member names refused): what a sink asks for with
/// [`MemberSink::wants_members`] (`cnf`, a DPoP proof's `jwk`).
pub(crate) struct Members<'a>(pub(crate) Loose<'a>);

impl<'de> de::Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LooseVisitor { members: true })
            .map(Members)
    }
}

/// Reads any value as [`Loose`]; `members` keeps an object's members (one level).
struct LooseVisitor {
    members: bool,
}

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Loose::Number(v as f64))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Loose::Number(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Loose::Number(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Loose::Bool(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Other("null"))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Other("null"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if !self.members {
            while map.next_entry::<Valid, Valid>()?.is_some() {}
            return Ok(Loose::Other("an object"));
        }
        let mut members = Vec::new();
        let mut seen = SeenNames::default();
        while let Some(Str(name)) = map.next_key::<Str<'de>>()? {
            let value = map.next_value::<Loose<'de>>()?;
            if !seen.insert(name.clone()) {
                return Err(de::Error::custom(DUPLICATE));
            }
            members.push((name, value));
        }
        Ok(Loose::Object(members))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut strings = Vec::new();
        let mut all_strings = true;
        while let Some(item) = seq.next_element::<Loose<'de>>()? {
            match item {
                Loose::Str(s) if all_strings => strings.push(s),
                _ => all_strings = false,
            }
        }
        Ok(if all_strings {
            Loose::Strings(strings)
        } else {
            Loose::Other("an array with non-string items")
        })
    }
}

impl Loose<'_> {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Loose::Number(_) => "a number",
            Loose::Str(_) => "a string",
            Loose::Strings(_) => "an array",
            Loose::Bool(_) => "a boolean",
            Loose::Object(_) => "an object",
            Loose::Other(kind) => kind,
        }
    }
}

/// Tracks member names to refuse duplicates; linear for the usual handful, hashed beyond.
///
/// The linear list keeps each name's length and first eight bytes beside it, so most
/// comparisons are two integer compares instead of a call to `memcmp` (a token's registered
/// names are all three bytes long); equal keys still compare the whole names.
#[derive(Default)]
struct SeenNames<'a> {
    small: Vec<(NameKey, Cow<'a, str>)>,
    large: Option<HashSet<Cow<'a, str>>>,
}

/// A name's length and its first eight bytes (zero-padded): different keys, different names.
#[derive(Clone, Copy, PartialEq, Eq)]
struct NameKey(usize, u64);

impl NameKey {
    fn of(name: &str) -> Self {
        let bytes = name.as_bytes();
        NameKey(bytes.len(), word(&bytes[..bytes.len().min(8)]))
    }
}

impl<'a> SeenNames<'a> {
    /// Returns false if the name was seen before.
    fn insert(&mut self, name: Cow<'a, str>) -> bool {
        if let Some(set) = &mut self.large {
            return set.insert(name);
        }
        let key = NameKey::of(&name);
        // Names of up to eight bytes are wholly in the key; longer ones are compared in full.
        let whole = name.len() <= 8;
        if self
            .small
            .iter()
            .any(|(k, seen)| *k == key && (whole || *seen == name))
        {
            return false;
        }
        self.small.push((key, name));
        if self.small.len() > 24 {
            self.large = Some(self.small.drain(..).map(|(_, name)| name).collect());
        }
        true
    }
}

/// Receives the members of a scanned object.
pub(crate) trait MemberSink<'de> {
    /// Whether the value of this member is needed (otherwise it is only validated, see
    /// [`Valid`]).
    fn wants(&self, name: &str) -> bool;
    /// Whether a wanted member's object value should be kept one level deep
    /// ([`Loose::Object`]) instead of classified as `Other("an object")`.
    fn wants_members(&self, _name: &str) -> bool {
        false
    }
    /// A member; `value` is `None` when [`MemberSink::wants`] said no.
    fn member(&mut self, name: &str, value: Option<Loose<'de>>) -> Result<(), String>;
}

/// Error message of a duplicate member name.
pub(crate) const DUPLICATE: &str = "duplicate member name";

/// How a scan reads the members its sink does not want.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unwanted {
    /// Read as strictly as `serde_json::Value` reads them ([`Valid`]): a verified payload, whose
    /// JSON view is built from it later.
    Validate,
    /// Checked for syntax only (`IgnoredAny`): headers, and the unverified payload a
    /// `MultiIssuer` routes by (its verifier reads it strictly afterwards).
    Skip,
}

struct ObjectScan<'s, S>(&'s mut S, Unwanted);

impl<'de, S: MemberSink<'de>> Visitor<'de> for ObjectScan<'_, S> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Room for a typical token's members without growing.
        let mut seen = SeenNames {
            small: Vec::with_capacity(16),
            large: None,
        };
        while let Some(Str(name)) = map.next_key::<Str<'de>>()? {
            let value = if self.0.wants(&name) {
                Some(if self.0.wants_members(&name) {
                    map.next_value::<Members<'de>>()?.0
                } else {
                    map.next_value::<Loose<'de>>()?
                })
            } else {
                match self.1 {
                    Unwanted::Validate => map.next_value::<Valid>().map(|_| ())?,
                    Unwanted::Skip => map.next_value::<IgnoredAny>().map(|_| ())?,
                }
                None
            };
            self.0.member(&name, value).map_err(de::Error::custom)?;
            if !seen.insert(name) {
                return Err(de::Error::custom(DUPLICATE));
            }
        }
        Ok(())
    }
}

/// Scans a JSON object into `sink`. Fails on non-objects, invalid JSON, trailing data,
/// duplicate names (message starting with [`DUPLICATE`]) and sink errors.
pub(crate) fn scan_object<'de, S: MemberSink<'de>>(
    json: &'de [u8],
    sink: &mut S,
    unwanted: Unwanted,
) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_slice(json);
    (&mut de)
        .deserialize_map(ObjectScan(sink, unwanted))
        .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())
}

/// Whether a scan error was a duplicate member.
fn is_duplicate(err: &str) -> bool {
    err.starts_with(DUPLICATE)
}

/// Scans a decoded header or payload into `sink`, with the verifier's error vocabulary: a
/// duplicate member name is [`Malformed::DuplicateMember`] (whichever segment it is in),
/// anything else wrong is `invalid`.
pub(crate) fn scan_segment<'de, S: MemberSink<'de>>(
    json: &'de [u8],
    sink: &mut S,
    invalid: Malformed,
    unwanted: Unwanted,
) -> Result<(), Error> {
    scan_object(json, sink, unwanted).map_err(|err| {
        if is_duplicate(&err) {
            Malformed::DuplicateMember.into()
        } else {
            invalid.into()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_names_refuse_exactly_the_repeats() {
        let names = [
            "",
            "a",
            "a\0",
            "\0",
            "iss",
            "aud",
            "abcdefgh",
            "abcdefghi",
            "abcdefghj",
            "abcdefgh\0",
        ];
        let mut seen = SeenNames::default();
        for name in names {
            assert!(seen.insert(Cow::Borrowed(name)), "{name:?} is new");
        }
        for name in names {
            assert!(!seen.insert(Cow::Owned(name.to_owned())), "{name:?} again");
        }
        // Past the linear list's size, the hashed set answers the same.
        for i in 0..40 {
            assert!(seen.insert(Cow::Owned(format!("claim-{i}"))), "claim-{i}");
        }
        assert!(seen.large.is_some());
        for name in names {
            assert!(
                !seen.insert(Cow::Borrowed(name)),
                "{name:?} after the switch"
            );
        }
        assert!(!seen.insert(Cow::Borrowed("claim-3")));
        assert!(seen.insert(Cow::Borrowed("claim-40")));
    }

    #[test]
    fn a_scan_refuses_a_repeated_long_or_short_name() {
        struct Nothing;
        impl<'de> MemberSink<'de> for Nothing {
            fn wants(&self, _: &str) -> bool {
                false
            }
            fn member(&mut self, _: &str, _: Option<Loose<'de>>) -> Result<(), String> {
                Ok(())
            }
        }
        for json in [
            &br#"{"a":1,"b":2,"a":3}"#[..],
            br#"{"abcdefghij":1,"abcdefghik":2,"abcdefghij":3}"#,
            br#"{"x":1,"\u0078":2}"#,
        ] {
            let err = scan_object(json, &mut Nothing, Unwanted::Validate).unwrap_err();
            assert!(is_duplicate(&err), "{err}");
        }
        assert!(
            scan_object(
                br#"{"abcdefghij":1,"abcdefghik":2,"a":3,"a\u0000":4}"#,
                &mut Nothing,
                Unwanted::Validate
            )
            .is_ok()
        );
    }
}
