//! A strict JSON reader (RFC 8259) for the scans of token headers, claims, DPoP proofs and JWKs
//! ([`crate::scan`]): strings, numbers, literals and containers read one at a time from a byte
//! slice, without allocating unless a string holds escapes.
//!
//! Hand-written, not `serde_json`'s `Deserializer`, for speed: the claims of every uncached token
//! are scanned on the request path, and driving `serde_json` through serde's visitors cost about
//! 4.4k instructions for a typical 190-byte payload (a `from_utf8` call and an escape search set
//! up per string, a visitor per value), more than a third of Tollgate's own cost per miss. This
//! reader validates UTF-8 once per document and slices every string out of it.
//!
//! It must accept exactly what `serde_json` (default features) accepts, or the views of a token
//! could disagree: the JSON view of the claims is built later with `serde_json` from the same
//! payload. So it has `serde_json`'s two levels of strictness:
//! - **strict** reads ([`Reader::string`], [`Reader::number`], [`Reader::validate`]) accept what a
//!   `serde_json::Value` can hold: UTF-8 strings with paired surrogate escapes, numbers finite as
//!   `f64`, at most [`MAX_DEPTH`] nested containers (counted from the outermost, as `serde_json`
//!   counts them);
//! - **syntax-only** skips ([`Reader::skip`]) accept what `serde_json`'s `IgnoredAny` does: the
//!   JSON grammar, with any bytes at or above 0x80 in strings, any `\u` escape, any number, any
//!   depth (without recursion).
//!
//! The differential tests below hold both to `serde_json` on generated and mutated documents,
//! and the `claims_payload` fuzz target holds the scans to it on coverage-guided inputs.

use std::borrow::Cow;
use std::fmt;

/// Most containers a strict read nests, the outermost included: `serde_json`'s recursion limit
/// (it starts at 128 and fails when an opening bracket takes it to zero).
pub(crate) const MAX_DEPTH: u8 = 127;

/// Why a document was refused, and where: `what` at byte offset `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JsonError {
    pub(crate) what: &'static str,
    pub(crate) at: usize,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

impl std::error::Error for JsonError {}

/// `true`, `false` or `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Literal {
    True,
    False,
    Null,
}

/// What a strict string read found wrong with UTF-8 or an escape, as opposed to its syntax.
const INVALID_UTF8: &str = "invalid UTF-8 in a string";
const LONE_SURROGATE: &str = "a lone surrogate in a \\u escape";

/// A cursor over one JSON document.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    /// The whole document as text when it is valid UTF-8 (nearly always): strings are then
    /// sliced out of it instead of each being validated again.
    text: Option<&'a str>,
    at: usize,
    /// Containers of strict reads open now (syntax-only skips do not count, as in `serde_json`).
    depth: u8,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader {
            bytes,
            text: std::str::from_utf8(bytes).ok(),
            at: 0,
            depth: 0,
        }
    }

    fn error(&self, what: &'static str) -> JsonError {
        JsonError { what, at: self.at }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// Skips whitespace (the four bytes RFC 8259 allows) and returns the next byte.
    #[inline]
    pub(crate) fn peek_token(&mut self) -> Option<u8> {
        while let Some(b) = self.peek() {
            if !matches!(b, b' ' | b'\n' | b'\t' | b'\r') {
                return Some(b);
            }
            self.at += 1;
        }
        None
    }

    /// Only whitespace may follow the document's value.
    pub(crate) fn end(&mut self) -> Result<(), JsonError> {
        match self.peek_token() {
            None => Ok(()),
            Some(_) => Err(self.error("trailing characters")),
        }
    }

    /// Opens a container of a strict read (past its bracket).
    fn open(&mut self) -> Result<(), JsonError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error("nesting deeper than serde_json's limit"));
        }
        self.depth += 1;
        self.at += 1;
        Ok(())
    }

    fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.at += 1;
    }

    /// Reads the `{` of an object (a strict read: it counts toward the nesting limit).
    pub(crate) fn begin_object(&mut self) -> Result<(), JsonError> {
        match self.peek_token() {
            Some(b'{') => self.open(),
            _ => Err(self.error("expected an object")),
        }
    }

    /// The next member name of an object opened with [`Reader::begin_object`], read strictly,
    /// with the `:` after it; `None` at the object's end (its `}` read). `first` starts `true`.
    #[inline]
    pub(crate) fn next_member(
        &mut self,
        first: &mut bool,
    ) -> Result<Option<Cow<'a, str>>, JsonError> {
        match self.peek_token() {
            Some(b'}') => {
                self.close();
                return Ok(None);
            }
            Some(b',') if !*first => {
                self.at += 1;
                if self.peek_token() != Some(b'"') {
                    return Err(self.error("expected a member name after `,`"));
                }
            }
            Some(b'"') if *first => {}
            _ if *first => return Err(self.error("expected a member name or `}`")),
            _ => return Err(self.error("expected `,` or `}`")),
        }
        *first = false;
        let name = self.string()?;
        match self.peek_token() {
            Some(b':') => {
                self.at += 1;
                Ok(Some(name))
            }
            _ => Err(self.error("expected `:`")),
        }
    }

    /// Reads the `[` of an array (a strict read).
    pub(crate) fn begin_array(&mut self) -> Result<(), JsonError> {
        match self.peek_token() {
            Some(b'[') => self.open(),
            _ => Err(self.error("expected an array")),
        }
    }

    /// Whether another item follows in an array opened with [`Reader::begin_array`] (then the
    /// reader is at it); `false` at the array's end (its `]` read). `first` starts `true`.
    pub(crate) fn next_item(&mut self, first: &mut bool) -> Result<bool, JsonError> {
        match self.peek_token() {
            Some(b']') => {
                self.close();
                Ok(false)
            }
            Some(b',') if !*first => {
                self.at += 1;
                Ok(true)
            }
            _ if *first => {
                *first = false;
                Ok(true)
            }
            _ => Err(self.error("expected `,` or `]`")),
        }
    }

    /// A string, read strictly, its escapes decoded: borrowed from the document when it has
    /// none. The reader must be at its opening quote.
    #[inline]
    pub(crate) fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        if self.peek() != Some(b'"') {
            return Err(self.error("expected a string"));
        }
        let from = self.at + 1;
        // Nearly every string of a token: no escape, and the document is valid UTF-8.
        let end = plain_run(self.bytes, from);
        if self.bytes.get(end) == Some(&b'"')
            && let Some(text) = self.text.and_then(|text| text.get(from..end))
        {
            self.at = end + 1;
            return Ok(Cow::Borrowed(text));
        }
        self.at = from;
        self.escaped_string()
    }

    /// The rest of a string that holds an escape, a control character or bytes to validate on
    /// their own, from just after its opening quote.
    #[cold]
    fn escaped_string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        let mut owned: Option<String> = None;
        let mut from = self.at;
        loop {
            self.at = plain_run(self.bytes, self.at);
            match self.peek() {
                Some(b'"') => {
                    let last = self.text_of(from, self.at)?;
                    self.at += 1;
                    return Ok(match owned {
                        None => Cow::Borrowed(last),
                        Some(mut owned) => {
                            owned.push_str(last);
                            Cow::Owned(owned)
                        }
                    });
                }
                Some(b'\\') => {
                    let run = self.text_of(from, self.at)?;
                    let buffer = owned.get_or_insert_with(String::new);
                    buffer.push_str(run);
                    self.at += 1;
                    let decoded = self.escape()?;
                    buffer.push(decoded);
                    from = self.at;
                }
                Some(_) => return Err(self.error("a control character in a string")),
                None => return Err(self.error("an unterminated string")),
            }
        }
    }

    /// `bytes[from..to]`, a run of a string between escapes, as text: sliced from the validated
    /// document, or validated on its own when the document is not UTF-8 as a whole.
    fn text_of(&self, from: usize, to: usize) -> Result<&'a str, JsonError> {
        let run = match self.text {
            // Both ends sit next to a quote or a backslash, so on character boundaries.
            Some(text) => text.get(from..to),
            None => self
                .bytes
                .get(from..to)
                .and_then(|run| std::str::from_utf8(run).ok()),
        };
        run.ok_or(JsonError {
            what: INVALID_UTF8,
            at: from,
        })
    }

    /// The character of the escape after a backslash, decoded strictly: a `\u` escape of a
    /// surrogate must be the first of a pair.
    fn escape(&mut self) -> Result<char, JsonError> {
        let Some(c) = self.peek() else {
            return Err(self.error("an unterminated string"));
        };
        self.at += 1;
        let simple = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(),
            _ => return Err(self.error("an invalid escape")),
        };
        Ok(simple)
    }

    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let first = self.hex4()?;
        if (0xDC00..=0xDFFF).contains(&first) {
            return Err(self.error(LONE_SURROGATE));
        }
        if !(0xD800..=0xDBFF).contains(&first) {
            return char::from_u32(u32::from(first)).ok_or(self.error(LONE_SURROGATE));
        }
        // A leading surrogate: `serde_json` wants `\u` and a trailing one right after it.
        if self.peek() != Some(b'\\') {
            return Err(self.error(LONE_SURROGATE));
        }
        self.at += 1;
        if self.peek() != Some(b'u') {
            return Err(self.error(LONE_SURROGATE));
        }
        self.at += 1;
        let second = self.hex4()?;
        if !(0xDC00..=0xDFFF).contains(&second) {
            return Err(self.error(LONE_SURROGATE));
        }
        let code = 0x1_0000 + ((u32::from(first) - 0xD800) << 10) + (u32::from(second) - 0xDC00);
        char::from_u32(code).ok_or(self.error(LONE_SURROGATE))
    }

    /// Four hex digits (of a `\u` escape).
    fn hex4(&mut self) -> Result<u16, JsonError> {
        let Some(digits) = self.bytes.get(self.at..self.at + 4) else {
            self.at = self.bytes.len();
            return Err(self.error("an unterminated string"));
        };
        let mut value = 0u16;
        for &d in digits {
            let nibble = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(self.error("an invalid \\u escape")),
            };
            value = value << 4 | u16::from(nibble);
        }
        self.at += 4;
        Ok(value)
    }

    /// A string, syntax only: control characters refused, escapes well-formed, anything else
    /// (bytes that are not UTF-8, lone surrogates) let through, as `serde_json` ignores them.
    fn skip_string(&mut self) -> Result<(), JsonError> {
        self.at += 1;
        loop {
            self.at = plain_run(self.bytes, self.at);
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.at += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.at += 1;
                        }
                        Some(b'u') => {
                            self.at += 1;
                            self.hex4()?;
                        }
                        Some(_) => return Err(self.error("an invalid escape")),
                        None => return Err(self.error("an unterminated string")),
                    }
                }
                Some(_) => return Err(self.error("a control character in a string")),
                None => return Err(self.error("an unterminated string")),
            }
        }
    }

    /// A number, read strictly: its value, which must be finite as `f64`.
    pub(crate) fn number(&mut self) -> Result<f64, JsonError> {
        let start = self.at;
        let shape = self.number_shape()?;
        if let NumberShape::Integer {
            negative,
            significand: Some(significand),
        } = shape
        {
            // What `serde_json` makes of it (a u64 or i64, then `as f64` in a visitor): the
            // same magnitude rounded the same way, negated.
            let magnitude = significand as f64;
            return Ok(if negative { -magnitude } else { magnitude });
        }
        // A fraction, an exponent or more than 19 digits: rare in tokens, and where `serde_json`
        // decides what overflows (it rounds its own way near f64::MAX), so it decides here.
        let text = self.bytes.get(start..self.at).unwrap_or_default();
        serde_json::from_slice::<f64>(text).map_err(|_| JsonError {
            what: "a number beyond f64",
            at: start,
        })
    }

    /// Reads the number grammar (`-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`), and
    /// what a strict read needs to value it quickly.
    pub(crate) fn number_shape(&mut self) -> Result<NumberShape, JsonError> {
        let (negative, digits) = self.integer_part()?;
        if !self.fraction_and_exponent()? {
            return Ok(NumberShape::Other);
        }
        // Nineteen digits always fit a u64; past them `serde_json` decides.
        let significand = (digits.len() <= 19).then(|| {
            digits
                .iter()
                .fold(0u64, |value, d| value * 10 + u64::from(d - b'0'))
        });
        Ok(NumberShape::Integer {
            negative,
            significand,
        })
    }

    /// A number, syntax only (its digits are not valued).
    fn skip_number(&mut self) -> Result<(), JsonError> {
        self.integer_part()?;
        self.fraction_and_exponent().map(drop)
    }

    /// `-? (0 | [1-9][0-9]*)`: whether it is negative, and its digits.
    fn integer_part(&mut self) -> Result<(bool, &'a [u8]), JsonError> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.at += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.error("a number with a leading zero"));
                }
                Ok((negative, b"0"))
            }
            Some(b'1'..=b'9') => Ok((negative, self.digit_run())),
            _ => Err(self.error("an invalid number")),
        }
    }

    /// `(. [0-9]+)? ([eE] [+-]? [0-9]+)?`: true when there was neither (an integer).
    fn fraction_and_exponent(&mut self) -> Result<bool, JsonError> {
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.at += 1;
            self.digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            integer = false;
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.digits()?;
        }
        Ok(integer)
    }

    /// One or more digits (of a fraction or an exponent).
    fn digits(&mut self) -> Result<(), JsonError> {
        if self.digit_run().is_empty() {
            return Err(self.error("an invalid number"));
        }
        Ok(())
    }

    /// The digits from here on (perhaps none), read.
    #[inline]
    fn digit_run(&mut self) -> &'a [u8] {
        let rest = self.bytes.get(self.at..).unwrap_or_default();
        let len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        self.at += len;
        rest.get(..len).unwrap_or_default()
    }

    /// `true`, `false` or `null`; the reader must be at its first letter.
    pub(crate) fn literal(&mut self) -> Result<Literal, JsonError> {
        let rest = self.bytes.get(self.at..).unwrap_or_default();
        let (literal, len) = if rest.starts_with(b"true") {
            (Literal::True, 4)
        } else if rest.starts_with(b"false") {
            (Literal::False, 5)
        } else if rest.starts_with(b"null") {
            (Literal::Null, 4)
        } else {
            return Err(self.error("expected a value"));
        };
        self.at += len;
        Ok(literal)
    }

    /// Any value, read strictly and dropped: what a `serde_json::Value` can hold (member names
    /// may repeat, as a `Value` lets the last one win).
    pub(crate) fn validate(&mut self) -> Result<(), JsonError> {
        match self.peek_token() {
            Some(b'"') => self.string().map(drop),
            Some(b'-' | b'0'..=b'9') => self.number().map(drop),
            Some(b'{') => {
                self.open()?;
                let mut first = true;
                while self.next_member(&mut first)?.is_some() {
                    self.validate()?;
                }
                Ok(())
            }
            Some(b'[') => {
                self.open()?;
                let mut first = true;
                while self.next_item(&mut first)? {
                    self.validate()?;
                }
                Ok(())
            }
            Some(_) => self.literal().map(drop),
            None => Err(self.error("expected a value")),
        }
    }

    /// Any value, syntax only (what `serde_json` accepts for `IgnoredAny`), without recursion:
    /// `containers` records the open ones, one bit each (1 for an object), spilling past 64.
    pub(crate) fn skip(&mut self) -> Result<(), JsonError> {
        let mut containers = Containers::default();
        loop {
            // A value.
            match self.peek_token() {
                Some(b'"') => self.skip_string()?,
                Some(b'-' | b'0'..=b'9') => self.skip_number()?,
                Some(open @ (b'{' | b'[')) => {
                    self.at += 1;
                    containers.push(open == b'{');
                    let close = if open == b'{' { b'}' } else { b']' };
                    if self.peek_token() == Some(close) {
                        self.at += 1;
                        containers.pop();
                    } else {
                        if open == b'{' {
                            self.skip_member_name()?;
                        }
                        continue;
                    }
                }
                Some(_) => self.literal().map(drop)?,
                None => return Err(self.error("expected a value")),
            }
            // After a value: the end of its containers, or the next item or member.
            loop {
                let Some(in_object) = containers.top() else {
                    return Ok(());
                };
                match self.peek_token() {
                    Some(b',') => {
                        self.at += 1;
                        if in_object {
                            self.skip_member_name()?;
                        }
                        break;
                    }
                    Some(b'}') if in_object => {
                        self.at += 1;
                        containers.pop();
                    }
                    Some(b']') if !in_object => {
                        self.at += 1;
                        containers.pop();
                    }
                    _ if in_object => return Err(self.error("expected `,` or `}`")),
                    _ => return Err(self.error("expected `,` or `]`")),
                }
            }
        }
    }

    /// A member name and its `:`, syntax only (inside a skipped value).
    fn skip_member_name(&mut self) -> Result<(), JsonError> {
        if self.peek_token() != Some(b'"') {
            return Err(self.error("expected a member name"));
        }
        self.skip_string()?;
        match self.peek_token() {
            Some(b':') => {
                self.at += 1;
                Ok(())
            }
            _ => Err(self.error("expected `:`")),
        }
    }
}

/// The open containers of [`Reader::skip`]: a bit stack (1 = object), 64 bits inline.
#[derive(Default)]
struct Containers {
    inline: u64,
    len: usize,
    spilled: Vec<u64>,
}

impl Containers {
    fn push(&mut self, object: bool) {
        if self.len > 0 && self.len.is_multiple_of(64) {
            self.spilled.push(self.inline);
            self.inline = 0;
        }
        self.inline = self.inline << 1 | u64::from(object);
        self.len += 1;
    }

    fn top(&self) -> Option<bool> {
        (self.len > 0).then_some(self.inline & 1 == 1)
    }

    fn pop(&mut self) {
        if self.len == 0 {
            return;
        }
        self.len -= 1;
        self.inline >>= 1;
        if self.len > 0 && self.len.is_multiple_of(64) {
            self.inline = self.spilled.pop().unwrap_or_default();
        }
    }
}

/// What [`Reader::number_shape`] saw.
pub(crate) enum NumberShape {
    /// No fraction or exponent; the digits' value when there are at most 19 of them.
    Integer {
        negative: bool,
        significand: Option<u64>,
    },
    Other,
}

/// The index of the first byte at or after `from` that ends a run of plain string bytes: a
/// quote, a backslash or a control character (or `bytes.len()`). Eight bytes at a time: the
/// strings of tokens are short, but a per-byte loop was a visible share of a payload's scan.
#[inline]
fn plain_run(bytes: &[u8], from: usize) -> usize {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    let mut at = from;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let word = u64::from_le_bytes(chunk);
        // A byte below 0x20, equal to '"' or equal to '\\' sets its high bit in `hits` (bytes
        // at or above 0x80 never do: `& !word` clears them).
        let control = word.wrapping_sub(ONES * 0x20);
        let quote = (word ^ (ONES * u64::from(b'"'))).wrapping_sub(ONES);
        let backslash = (word ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES);
        let hits = (control | quote | backslash) & !word & HIGH;
        if hits != 0 {
            return at + (hits.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while let Some(&b) = bytes.get(at) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            break;
        }
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde::de::IgnoredAny;
    use serde_json::Value;

    use super::*;

    /// A whole document read strictly, as `serde_json::from_slice::<Value>` reads one.
    fn strict(doc: &[u8]) -> bool {
        let mut reader = Reader::new(doc);
        reader.validate().is_ok() && reader.end().is_ok()
    }

    /// A whole document skipped, as `serde_json::from_slice::<IgnoredAny>` reads one.
    fn syntax(doc: &[u8]) -> bool {
        let mut reader = Reader::new(doc);
        reader.skip().is_ok() && reader.end().is_ok()
    }

    fn agrees(doc: &[u8]) {
        assert_eq!(
            strict(doc),
            serde_json::from_slice::<Value>(doc).is_ok(),
            "strict read of {:?}",
            String::from_utf8_lossy(doc)
        );
        assert_eq!(
            syntax(doc),
            serde_json::from_slice::<IgnoredAny>(doc).is_ok(),
            "syntax-only skip of {:?}",
            String::from_utf8_lossy(doc)
        );
        // A string document: the same text.
        if doc.first() == Some(&b'"') {
            let mut reader = Reader::new(doc);
            let ours = reader.string().ok().filter(|_| reader.end().is_ok());
            let theirs = serde_json::from_slice::<String>(doc).ok();
            assert_eq!(ours.as_deref(), theirs.as_deref(), "string {doc:?}");
        }
        // A number document: the same value, to the bit.
        if matches!(doc.first(), Some(b'-' | b'0'..=b'9')) {
            let mut reader = Reader::new(doc);
            let ours = reader.number().ok().filter(|_| reader.end().is_ok());
            let theirs = serde_json::from_slice::<f64>(doc).ok();
            assert_eq!(
                ours.map(f64::to_bits),
                theirs.map(f64::to_bits),
                "number {doc:?}"
            );
        }
    }

    #[test]
    fn edge_cases_agree_with_serde_json() {
        let cases: &[&[u8]] = &[
            b"",
            b" ",
            b"{}",
            b" { } ",
            b"{,}",
            b"{\"a\":1,}",
            b"{\"a\" 1}",
            b"{\"a\":}",
            b"{1:2}",
            b"{\"a\":1 \"b\":2}",
            b"{\"a\":1,\"a\":2}",
            b"[]",
            b"[,]",
            b"[1,]",
            b"[,1]",
            b"[1 2]",
            b"[1,,2]",
            b"[[[]]]",
            b"[[[]]",
            b"]",
            b"\"\"",
            b"\"abc",
            b"\"a\\\"b\"",
            b"\"\\/\\b\\f\\n\\r\\t\\\\\"",
            b"\"\\x\"",
            b"\"\\u00e9\"",
            b"\"\\u00E9\"",
            b"\"\\u00g9\"",
            b"\"\\u00\"",
            b"\"\\u0000\"",
            b"\"\\ud83d\\ude00\"",
            b"\"\\ud83d\"",
            b"\"\\ud83d\\u0041\"",
            b"\"\\ud83d\\n\"",
            b"\"\\ud83dx\"",
            b"\"\\ude00\"",
            b"\"\\ud83d\\ud83d\\ude00\"",
            b"\"caf\xc3\xa9\"",
            b"\"\xc3\"",
            b"\"\xff\"",
            b"\"\xed\xa0\x80\"",
            b"\"a\x01b\"",
            b"\"a\x7fb\"",
            b"\"a\tb\"",
            b"0",
            b"-0",
            b"00",
            b"-",
            b"-a",
            b"01",
            b"1.",
            b"1.5",
            b".5",
            b"+1",
            b"1e",
            b"1e+",
            b"1e5",
            b"1E-5",
            b"1e400",
            b"-1e400",
            b"1e-400",
            b"1.7976931348623157e308",
            b"1.7976931348623158e308",
            b"1.7976931348623159e308",
            b"18446744073709551615",
            b"18446744073709551616",
            b"9999999999999999999",
            b"-9223372036854775808",
            b"-9223372036854775809",
            b"-9999999999999999999",
            b"123456789012345678901234567890",
            b"true",
            b"tru",
            b"truex",
            b"false",
            b"null",
            b"nul",
            b"NaN",
            b"Infinity",
            b"{\"a\":[1,\"x\",{\"b\":null}]}",
            b"{\"\xff\":1}",
            b"{\"a\":\"\xff\"}",
            b"{\"a\":1}\xff",
            b"{\"a\":1} x",
            b"{\"a\":1}\n",
            b"\x0c{}",
            b"{\"a\"\x0b:1}",
        ];
        for case in cases {
            agrees(case);
        }
    }

    #[test]
    fn nesting_stops_where_serde_json_stops() {
        for depth in [1, 2, 63, 64, 65, 126, 127, 128, 129, 200, 5000] {
            for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
                let doc = format!("{}1{}", open.repeat(depth), close.repeat(depth));
                agrees(doc.as_bytes());
                let unclosed = format!("{}1{}", open.repeat(depth), close.repeat(depth - 1));
                agrees(unclosed.as_bytes());
            }
        }
        let mixed = "[{\"a\":".repeat(100) + "1" + &"}]".repeat(100);
        agrees(mixed.as_bytes());
    }

    #[test]
    fn plain_runs_end_at_the_first_special_byte() {
        for len in 0..40 {
            for at in 0..len {
                for special in [b'"', b'\\', 0x00, 0x1f] {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = special;
                    assert_eq!(plain_run(&bytes, 0), at, "{special:#x} at {at} of {len}");
                }
                let mut high = vec![0xffu8; len];
                high[at] = b'"';
                assert_eq!(plain_run(&high, 0), at);
            }
            assert_eq!(plain_run(&vec![b' '; len], 0), len);
            assert_eq!(plain_run(&vec![0x80; len], 0), len);
        }
    }

    /// Pieces that make up JSON documents and near misses.
    fn piece() -> impl Strategy<Value = &'static [u8]> {
        prop::sample::select(vec![
            &b"{"[..],
            b"}",
            b"[",
            b"]",
            b",",
            b":",
            b"\"",
            b"\"a\"",
            b"\"\\",
            b"\\u",
            b"\\ud800",
            b"\\udc00",
            b"\\u0041",
            b"\\n",
            b"\\q",
            b"0",
            b"1",
            b"9",
            b"-",
            b".",
            b"e",
            b"E",
            b"+",
            b"1e400",
            b"12345678901234567890",
            b" ",
            b"\n",
            b"\x0b",
            b"true",
            b"fals",
            b"null",
            b"\xc3\xa9",
            b"\xc3",
            b"\xff",
            b"\x01",
            b"a",
        ])
    }

    /// A JSON value, serialized.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[a-z\u{e9}\u{1f600}]{0,4}", inner), 0..6)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn piece_soup_agrees_with_serde_json(pieces in prop::collection::vec(piece(), 0..24)) {
            agrees(&pieces.concat());
        }

        #[test]
        fn mutated_json_agrees_with_serde_json(
            value in json_value(),
            pretty in any::<bool>(),
            at in any::<prop::sample::Index>(),
            insert in piece(),
            delete in 0usize..3,
        ) {
            let doc = if pretty {
                serde_json::to_vec_pretty(&value)
            } else {
                serde_json::to_vec(&value)
            }
            .unwrap();
            agrees(&doc);
            let at = at.index(doc.len() + 1);
            let mut mutated = doc[..at].to_vec();
            mutated.extend_from_slice(insert);
            mutated.extend_from_slice(doc.get(at + delete..).unwrap_or_default());
            agrees(&mutated);
        }
    }
}
