//! The compact JWS: splitting a token into its segments and checking its protected (JOSE) header.
//! Both run before any key is looked up and depend on nothing but the token and the policy.

use std::sync::Arc;

use crate::algorithm::Algorithm;
use crate::b64;
use crate::error::{Error, Malformed};
use crate::jwk::MAX_KID_LEN;
use crate::scan::{self, Loose, MemberSink};
use crate::validation::Validation;

/// The protected header of a verified token (only the members Tollgate acts on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHeader {
    /// The signature algorithm.
    pub alg: Algorithm,
    /// The key id, if any.
    pub kid: Option<String>,
    /// The media type (`typ`), if any.
    pub typ: Option<String>,
}

/// Pieces of a compact JWS, borrowed from the token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parts<'t> {
    pub(crate) header: &'t str,
    pub(crate) payload: &'t str,
    pub(crate) signature: &'t str,
    pub(crate) signing_input: &'t str,
}

/// Checks the size cap and splits a compact JWS into exactly three segments (a fourth
/// `.` is refused); the header must not be empty.
pub(crate) fn split(token: &str, max: usize) -> Result<Parts<'_>, Error> {
    if token.len() > max {
        return Err(Error::TokenTooLarge {
            size: token.len(),
            max,
        });
    }
    let mut dots = memchr::memchr_iter(b'.', token.as_bytes());
    let (Some(first), Some(second), None) = (dots.next(), dots.next(), dots.next()) else {
        return Err(Malformed::Segments.into());
    };
    // A `.` is ASCII, so every index next to one is a char boundary: none of these fails.
    let (Some(header), Some(payload), Some(signature), Some(signing_input)) = (
        token.get(..first),
        token.get(first + 1..second),
        token.get(second + 1..),
        token.get(..second),
    ) else {
        return Err(Malformed::Segments.into());
    };
    if header.is_empty() {
        return Err(Malformed::EmptySegment.into());
    }
    Ok(Parts {
        header,
        payload,
        signature,
        signing_input,
    })
}

/// The decoded length of the signature segment, checked against what the algorithm produces
/// (a fixed length for everything but RSA): a signature of the wrong size is refused before any
/// key is looked up.
pub(crate) fn signature_len(parts: &Parts<'_>, alg: Algorithm) -> Result<usize, Error> {
    if parts.signature.is_empty() {
        return Err(Malformed::EmptySegment.into());
    }
    let len = b64::decoded_len(parts.signature.len()).ok_or(Malformed::Base64)?;
    if alg.fixed_signature_len().is_some_and(|fixed| fixed != len) {
        return Err(Malformed::SignatureLength.into());
    }
    Ok(len)
}

#[derive(Default)]
struct HeaderSink<'a> {
    alg: Option<Loose<'a>>,
    kid: Option<Loose<'a>>,
    typ: Option<Loose<'a>>,
    cty: Option<Loose<'a>>,
    b64: Option<Loose<'a>>,
    crit: bool,
}

impl<'a> MemberSink<'a> for HeaderSink<'a> {
    fn wants(&self, name: &str) -> bool {
        matches!(name, "alg" | "kid" | "typ" | "cty" | "b64")
    }

    fn member(&mut self, name: &str, value: Option<Loose<'a>>) -> Result<(), String> {
        match name {
            "alg" => self.alg = value,
            "kid" => self.kid = value,
            "typ" => self.typ = value,
            "cty" => self.cty = value,
            "b64" => self.b64 = value,
            "crit" => self.crit = true,
            // jku, x5u, jwk, x5c, x5t: never used to find a key; skipped unparsed.
            _ => {}
        }
        Ok(())
    }
}

fn optional_string(value: Option<Loose<'_>>) -> Result<Option<String>, Error> {
    match value {
        None => Ok(None),
        Some(Loose::Str(s)) => Ok(Some(s.into_owned())),
        Some(_) => Err(Malformed::Header.into()),
    }
}

/// Decodes the header segment and checks it against the policy: `alg` allowed (never `none`),
/// no `crit`, no unencoded payload, no nested JWT, a `kid` of bounded length, an accepted `typ`.
pub(crate) fn parse_header(
    parts: &Parts<'_>,
    validation: &Validation,
) -> Result<TokenHeader, Error> {
    let json = b64::decode(parts.header).ok_or(Malformed::Base64)?;
    let mut sink = HeaderSink::default();
    scan::scan_segment(&json, &mut sink, Malformed::Header, scan::Unwanted::Skip)?;
    let alg = match sink.alg {
        Some(Loose::Str(alg)) => alg,
        _ => return Err(Malformed::Header.into()),
    };
    if alg.eq_ignore_ascii_case("none") {
        return Err(Error::AlgNone {
            alg: alg.into_owned(),
        });
    }
    let alg = match Algorithm::from_name(&alg) {
        Some(known) if validation.allows(known) => known,
        _ => {
            return Err(Error::AlgorithmNotAllowed {
                alg: alg.into_owned(),
                allowed: validation.algorithms.clone(),
            });
        }
    };
    if sink.crit {
        return Err(Error::CriticalHeader);
    }
    match sink.b64 {
        None | Some(Loose::Bool(true)) => {}
        Some(_) => return Err(Error::UnsupportedHeader("unencoded payload (b64)")),
    }
    let cty = optional_string(sink.cty)?;
    if cty.as_deref().is_some_and(|c| {
        // `JWT` or `application/JWT` (RFC 7515 4.1.10: the prefix may be omitted).
        let bare = match c.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &c[12..],
            _ => c,
        };
        bare.eq_ignore_ascii_case("JWT")
    }) {
        return Err(Error::UnsupportedHeader("nested JWT (cty: JWT)"));
    }
    let kid = optional_string(sink.kid)?;
    if kid.as_ref().is_some_and(|k| k.len() > MAX_KID_LEN) {
        return Err(Malformed::KidTooLong.into());
    }
    let typ = optional_string(sink.typ)?;
    if !validation.type_accepted(typ.as_deref()) {
        return Err(Error::WrongType {
            expected: validation.types.clone(),
            actual: typ,
        });
    }
    Ok(TokenHeader { alg, kid, typ })
}

/// A token split and its header checked: everything the key lookup needs.
#[derive(Debug, Clone)]
pub(crate) struct Opened<'t> {
    pub(crate) parts: Parts<'t>,
    pub(crate) header: Arc<TokenHeader>,
    /// Whether the header came from the verifier's memo (then it need not be remembered again).
    pub(crate) header_known: bool,
    /// The decoded signature length, already checked against the algorithm.
    pub(crate) signature_len: usize,
}
