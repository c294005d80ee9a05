//! One-pass scans of the JSON objects of a token (header, claims), a DPoP proof and a JWK, on
//! the strict reader of [`crate::json`]: the members a sink wants are read as [`Loose`] values,
//! duplicate member names refused (RFC 7515 4 / RFC 7519 4 permit refusing; it closes
//! parser-differential attacks), everything else read as strictly as `serde_json::Value` reads
//! it, or for syntax only ([`Unwanted`]), without allocating.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use crate::error::{Error, Malformed};
use crate::json::{JsonError, Literal, Reader};
use crate::keyed_hash::word;

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

/// Tracks member names to refuse duplicates without allocating for a typical token.
///
/// A name of at most 16 bytes is held whole by its [`NameKey`] (its length and its first and
/// last eight bytes), so it is compared as three integers instead of by `memcmp`, and the first
/// [`INLINE_NAMES`] keys live in an array on the stack: no heap allocation per scan. Longer names
/// are compared in full. Past a few of either, a hashed set takes over, so a hostile object with
/// thousands of members costs linear time.
struct SeenNames<'a> {
    short: [NameKey; INLINE_NAMES],
    short_len: usize,
    short_rest: Option<HashSet<NameKey>>,
    long: Vec<Cow<'a, str>>,
    long_rest: Option<HashSet<Cow<'a, str>>>,
}

/// Short names kept inline, and long names compared linearly, before a hashed set takes over.
const INLINE_NAMES: usize = 16;

/// A name of at most 16 bytes: its length and its first and last eight bytes (zero-padded),
/// which together are all of its bytes. Equal keys, equal names.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
struct NameKey(u64, u64, u64);

impl NameKey {
    /// `None` for a name too long for a key to hold whole.
    fn of(name: &str) -> Option<Self> {
        let bytes = name.as_bytes();
        let len = bytes.len();
        if len > 16 {
            return None;
        }
        let first = word(&bytes[..len.min(8)]);
        // At most eight bytes are left after the first eight.
        let last = word(&bytes[len.min(8)..]);
        Some(NameKey(len as u64, first, last))
    }
}

impl Default for SeenNames<'_> {
    fn default() -> Self {
        SeenNames {
            short: [NameKey::default(); INLINE_NAMES],
            short_len: 0,
            short_rest: None,
            long: Vec::new(),
            long_rest: None,
        }
    }
}

impl<'a> SeenNames<'a> {
    /// Returns false if the name was seen before.
    fn insert(&mut self, name: Cow<'a, str>) -> bool {
        if let Some(key) = NameKey::of(&name) {
            let seen = &self.short[..self.short_len];
            if seen.contains(&key) {
                return false;
            }
            if let Some(slot) = self.short.get_mut(self.short_len) {
                *slot = key;
                self.short_len += 1;
                return true;
            }
            return self.short_rest.get_or_insert_with(HashSet::new).insert(key);
        }
        if self.long.contains(&name) {
            return false;
        }
        if self.long.len() < INLINE_NAMES {
            self.long.push(name);
            return true;
        }
        self.long_rest.get_or_insert_with(HashSet::new).insert(name)
    }
}

/// Receives the members of a scanned object.
pub(crate) trait MemberSink<'de> {
    /// Whether the value of this member is needed (otherwise it is only read as the scan's
    /// [`Unwanted`] says).
    fn wants(&self, name: &str) -> bool;
    /// Whether a wanted member's object value should be kept one level deep
    /// ([`Loose::Object`]) instead of classified as `Other("an object")`.
    fn wants_members(&self, _name: &str) -> bool {
        false
    }
    /// A member; `value` is `None` when [`MemberSink::wants`] said no.
    fn member(&mut self, name: &str, value: Option<Loose<'de>>) -> Result<(), String>;
}

/// Why a scan refused an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanError {
    /// Not JSON, or (in a strict read) JSON no `serde_json::Value` can hold.
    Json(JsonError),
    /// A member name repeated in the scanned object (or in a member a sink keeps one level
    /// deep, see [`MemberSink::wants_members`]).
    Duplicate,
    /// The sink refused a member.
    Sink(String),
}

impl ScanError {
    /// Whether the scan refused a repeated member name.
    pub(crate) fn is_duplicate(&self) -> bool {
        matches!(self, ScanError::Duplicate)
    }
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScanError::Json(err) => err.fmt(f),
            ScanError::Duplicate => f.write_str("duplicate member name"),
            ScanError::Sink(why) => f.write_str(why),
        }
    }
}

impl From<JsonError> for ScanError {
    fn from(err: JsonError) -> Self {
        ScanError::Json(err)
    }
}

/// Reads any value strictly as [`Loose`]; `members` keeps an object's members (one level).
fn loose<'a>(reader: &mut Reader<'a>, members: bool) -> Result<Loose<'a>, ScanError> {
    Ok(match reader.peek_token() {
        Some(b'"') => Loose::Str(reader.string()?),
        Some(b'-' | b'0'..=b'9') => Loose::Number(reader.number()?),
        Some(b'[') => {
            reader.begin_array()?;
            let mut strings = Vec::new();
            let mut all_strings = true;
            let mut first = true;
            while reader.next_item(&mut first)? {
                match loose(reader, false)? {
                    Loose::Str(s) if all_strings => strings.push(s),
                    _ => all_strings = false,
                }
            }
            if all_strings {
                Loose::Strings(strings)
            } else {
                Loose::Other("an array with non-string items")
            }
        }
        Some(b'{') if members => {
            reader.begin_object()?;
            let mut members = Vec::new();
            let mut seen = SeenNames::default();
            let mut first = true;
            while let Some(name) = reader.next_member(&mut first)? {
                let value = loose(reader, false)?;
                if !seen.insert(name.clone()) {
                    return Err(ScanError::Duplicate);
                }
                members.push((name, value));
            }
            Loose::Object(members)
        }
        Some(b'{') => {
            reader.validate()?;
            Loose::Other("an object")
        }
        _ => match reader.literal()? {
            Literal::True => Loose::Bool(true),
            Literal::False => Loose::Bool(false),
            Literal::Null => Loose::Other("null"),
        },
    })
}

/// How a scan reads the members its sink does not want.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unwanted {
    /// Read as strictly as `serde_json::Value` reads them: a verified payload, whose JSON view
    /// is built from it later.
    Validate,
    /// Checked for syntax only (what `serde_json` accepts for `IgnoredAny`): headers, and the
    /// unverified payload a `MultiIssuer` routes by (its verifier reads it strictly afterwards).
    Skip,
}

/// Scans a JSON object into `sink`. Fails on non-objects, invalid JSON, trailing data,
/// duplicate names and sink errors. Member names and wanted values are always read strictly.
pub(crate) fn scan_object<'de, S: MemberSink<'de>>(
    json: &'de [u8],
    sink: &mut S,
    unwanted: Unwanted,
) -> Result<(), ScanError> {
    let mut reader = Reader::new(json);
    reader.begin_object()?;
    let mut seen = SeenNames::default();
    let mut first = true;
    while let Some(name) = reader.next_member(&mut first)? {
        let value = if sink.wants(&name) {
            Some(loose(&mut reader, sink.wants_members(&name))?)
        } else {
            match unwanted {
                Unwanted::Validate => reader.validate()?,
                Unwanted::Skip => reader.skip()?,
            }
            None
        };
        sink.member(&name, value).map_err(ScanError::Sink)?;
        if !seen.insert(name) {
            return Err(ScanError::Duplicate);
        }
    }
    reader.end()?;
    Ok(())
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
        if err.is_duplicate() {
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
            "abcdefghijklmnop",
            "abcdefghijklmnoq",
            "bbcdefghijklmnop",
            "abcdefghijklmnopq",
            "abcdefghijklmnopr",
            "https://example.com/roles",
        ];
        let mut seen = SeenNames::default();
        for name in names {
            assert!(seen.insert(Cow::Borrowed(name)), "{name:?} is new");
        }
        for name in names {
            assert!(!seen.insert(Cow::Owned(name.to_owned())), "{name:?} again");
        }
        // Past the inline keys and the linear list, the hashed sets answer the same.
        for i in 0..40 {
            assert!(seen.insert(Cow::Owned(format!("c-{i}"))), "c-{i}");
            let long = format!("https://example.com/claims/{i}");
            assert!(seen.insert(Cow::Owned(long.clone())), "{long}");
        }
        assert!(seen.short_rest.is_some() && seen.long_rest.is_some());
        for name in names {
            assert!(
                !seen.insert(Cow::Borrowed(name)),
                "{name:?} after the switch"
            );
        }
        for i in [0, 3, 39] {
            assert!(!seen.insert(Cow::Owned(format!("c-{i}"))));
            assert!(!seen.insert(Cow::Owned(format!("https://example.com/claims/{i}"))));
        }
        assert!(seen.insert(Cow::Borrowed("c-40")));
        assert!(seen.insert(Cow::Borrowed("https://example.com/claims/40")));
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
            assert!(err.is_duplicate(), "{err}");
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
