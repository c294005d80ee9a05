//! Public keys in DER: SubjectPublicKeyInfo (RFC 5280 section 4.1.2.7), PKCS#1 `RSAPublicKey`
//! (RFC 8017 appendix A.1.1) and the SPKI inside an X.509 certificate, read with the RustCrypto
//! `spki`/`pkcs1`/`der` crates (strict DER: minimal lengths and integers, no trailing data).
//!
//! Certificate signatures are not checked here, and no other certificate field is interpreted: a
//! certificate is only a container for a key whose trust comes from where it was fetched, so the
//! fields before the SPKI are skipped by tag rather than parsed by a full X.509 decoder (which
//! would refuse certificates over fields this crate never uses).

use spki::SubjectPublicKeyInfoRef;
use spki::der::asn1::{AnyRef, ObjectIdentifier};
use spki::der::{Decode, Reader, SliceReader, Tag, TagNumber, Tagged as _};

/// Why DER was refused: a static text, so key bytes never reach an error or a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DerError(pub &'static str);

const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// The big-endian magnitude without its leading zero bytes.
pub(crate) fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// A public key found in DER, before policy checks.
#[derive(Debug)]
pub(crate) enum PublicKeyDer<'a> {
    Rsa { n: &'a [u8], e: &'a [u8] },
    EcP256 { point: &'a [u8] },
    EcP384 { point: &'a [u8] },
    Ed25519 { x: &'a [u8] },
}

/// Logs the `der` crate's diagnosis (tags, lengths and offsets only) and returns `context`.
fn refused(context: &'static str) -> impl FnOnce(spki::der::Error) -> DerError {
    move |err| {
        tracing::debug!(error = %err, context, "DER refused");
        DerError(context)
    }
}

/// Parses PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
pub(crate) fn parse_pkcs1_rsa(der: &[u8]) -> Result<PublicKeyDer<'_>, DerError> {
    let key = pkcs1::RsaPublicKey::from_der(der).map_err(refused("malformed RSAPublicKey"))?;
    Ok(PublicKeyDer::Rsa {
        n: key.modulus.as_bytes(),
        e: key.public_exponent.as_bytes(),
    })
}

/// Parses a `SubjectPublicKeyInfo`.
pub(crate) fn parse_spki(der: &[u8]) -> Result<PublicKeyDer<'_>, DerError> {
    let spki = SubjectPublicKeyInfoRef::from_der(der)
        .map_err(refused("malformed SubjectPublicKeyInfo"))?;
    spki_key(&spki)
}

fn spki_key<'a>(spki: &SubjectPublicKeyInfoRef<'a>) -> Result<PublicKeyDer<'a>, DerError> {
    let key = spki
        .subject_public_key
        .as_bytes()
        .ok_or(DerError("public key BIT STRING has unused bits"))?;
    let oid = spki.algorithm.oid;
    if oid == OID_RSA_ENCRYPTION {
        parse_pkcs1_rsa(key)
    } else if oid == OID_EC_PUBLIC_KEY {
        let curve = spki.algorithm.parameters_oid().map_err(|err| {
            tracing::debug!(error = %err, "EC key without a named curve");
            DerError("EC key without a named curve")
        })?;
        if curve == OID_P256 {
            Ok(PublicKeyDer::EcP256 { point: key })
        } else if curve == OID_P384 {
            Ok(PublicKeyDer::EcP384 { point: key })
        } else {
            Err(DerError(
                "unsupported EC curve (P-256 and P-384 are supported)",
            ))
        }
    } else if oid == OID_ED25519 {
        Ok(PublicKeyDer::Ed25519 { x: key })
    } else {
        Err(DerError("unsupported public key algorithm"))
    }
}

/// Reads one TLV of the given tag, whatever its contents.
fn skip<'a, R: Reader<'a>>(reader: &mut R, tag: Tag) -> spki::der::Result<()> {
    let any = AnyRef::decode(reader)?;
    any.tag().assert_eq(tag)?;
    Ok(())
}

/// Reads every remaining TLV (optional trailing fields we do not use).
fn skip_rest<'a, R: Reader<'a>>(reader: &mut R) -> spki::der::Result<()> {
    while !reader.is_finished() {
        AnyRef::decode(reader)?;
    }
    Ok(())
}

/// Finds the SubjectPublicKeyInfo inside an X.509 certificate:
/// `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
/// signature, issuer, validity, subject, subjectPublicKeyInfo, ... }, ... }`.
pub(crate) fn parse_certificate_spki(der: &[u8]) -> Result<PublicKeyDer<'_>, DerError> {
    const CONTEXT: &str = "malformed X.509 certificate";
    let version = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber::N0,
    };
    let mut reader = SliceReader::new(der).map_err(refused(CONTEXT))?;
    let spki = reader
        .sequence(|cert| {
            let spki = cert.sequence(|tbs| {
                if tbs.peek_tag()? == version {
                    skip(tbs, version)?;
                }
                skip(tbs, Tag::Integer)?; // serialNumber
                skip(tbs, Tag::Sequence)?; // signature AlgorithmIdentifier
                skip(tbs, Tag::Sequence)?; // issuer
                skip(tbs, Tag::Sequence)?; // validity
                skip(tbs, Tag::Sequence)?; // subject
                let spki = SubjectPublicKeyInfoRef::decode(tbs)?;
                skip_rest(tbs)?; // unique ids, extensions
                Ok(spki)
            })?;
            skip_rest(cert)?; // signatureAlgorithm, signatureValue
            Ok(spki)
        })
        .and_then(|spki| reader.finish(spki))
        .map_err(refused(CONTEXT))?;
    spki_key(&spki)
}

/// Encodes a PKCS#1 `RSAPublicKey` from big-endian magnitudes; `None` for an empty one.
#[cfg(any(test, feature = "aws-lc-rs"))]
pub(crate) fn encode_pkcs1_rsa(n: &[u8], e: &[u8]) -> Option<Vec<u8>> {
    use spki::der::Encode as _;
    use spki::der::asn1::UintRef;
    let key = pkcs1::RsaPublicKey {
        modulus: UintRef::new(n).ok()?,
        public_exponent: UintRef::new(e).ok()?,
    };
    key.to_der().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_never_panics() {
        let mut state = 0x1234_5678_u32;
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    (state & 0xff) as u8
                })
                .collect();
            let mut with_seq = vec![0x30, 0x82, 0x01, 0x00];
            with_seq.extend_from_slice(&bytes);
            for input in [&bytes[..], &with_seq[..]] {
                let _ = parse_spki(input);
                let _ = parse_pkcs1_rsa(input);
                let _ = parse_certificate_spki(input);
            }
        }
    }

    #[test]
    fn rejects_truncated_and_wrong_tags() {
        assert!(parse_pkcs1_rsa(&[0x30, 0x05, 0x02, 0x01]).is_err());
        assert!(parse_pkcs1_rsa(&[0x31, 0x00]).is_err());
        assert!(parse_spki(&[0x30, 0x80]).is_err(), "indefinite length");
        assert!(
            parse_pkcs1_rsa(&[0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x03]).is_err(),
            "negative n"
        );
    }

    #[test]
    fn rejects_non_canonical_der() {
        // Long-form length for a short value (BER, not DER).
        assert!(parse_pkcs1_rsa(&[0x30, 0x81, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x03]).is_err());
        // A superfluous leading zero in an INTEGER.
        assert!(parse_pkcs1_rsa(&[0x30, 0x07, 0x02, 0x02, 0x00, 0x05, 0x02, 0x01, 0x03]).is_err());
        // Trailing bytes after the key.
        assert!(parse_pkcs1_rsa(&[0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x03, 0x00]).is_err());
    }

    #[test]
    fn pkcs1_encoding_round_trips() {
        for (n, e) in [
            (vec![0xc5u8; 256], vec![1u8, 0, 1]),
            (vec![0x45; 300], vec![3]),
            (vec![0x7f], vec![0x80]),
        ] {
            let der = encode_pkcs1_rsa(&n, &e).unwrap_or_default();
            match parse_pkcs1_rsa(&der) {
                Ok(PublicKeyDer::Rsa { n: pn, e: pe }) => assert_eq!((pn, pe), (&n[..], &e[..])),
                other => unreachable!("{other:?}"),
            }
        }
    }

    #[test]
    fn parses_pkcs1() {
        let der = [0x30, 0x07, 0x02, 0x02, 0x00, 0xc5, 0x02, 0x01, 0x03];
        match parse_pkcs1_rsa(&der) {
            Ok(PublicKeyDer::Rsa { n, e }) => {
                assert_eq!(n, &[0xc5]);
                assert_eq!(e, &[0x03]);
            }
            other => unreachable!("unexpected {other:?}"),
        }
    }
}
