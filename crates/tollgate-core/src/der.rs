//! A minimal, bounds-checked DER reader for public keys: SubjectPublicKeyInfo, PKCS#1
//! `RSAPublicKey` and the SPKI inside an X.509 certificate. Every read is checked; malformed input
//! is an error, never a panic. Certificate signatures are not checked here: a certificate is only a
//! container for a key whose trust comes from where it was fetched.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DerError(pub &'static str);

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_CONTEXT_0: u8 = 0xa0;

pub(crate) const OID_RSA_ENCRYPTION: &[u8] =
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
pub(crate) const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
pub(crate) const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
pub(crate) const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
pub(crate) const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// A cursor over DER bytes.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.data.first().copied()
    }

    /// Reads one TLV and returns (tag, contents).
    fn read_any(&mut self) -> Result<(u8, &'a [u8]), DerError> {
        let (&tag, rest) = self.data.split_first().ok_or(DerError("truncated DER"))?;
        let (&first_len, rest) = rest.split_first().ok_or(DerError("truncated DER length"))?;
        let (len, rest) = if first_len < 0x80 {
            (usize::from(first_len), rest)
        } else {
            let count = usize::from(first_len & 0x7f);
            if count == 0 || count > 3 {
                return Err(DerError("unsupported DER length encoding"));
            }
            if rest.len() < count {
                return Err(DerError("truncated DER length"));
            }
            let (len_bytes, rest) = rest.split_at(count);
            let len = len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            (len, rest)
        };
        if rest.len() < len {
            return Err(DerError("DER length exceeds input"));
        }
        let (contents, rest) = rest.split_at(len);
        self.data = rest;
        Ok((tag, contents))
    }

    fn read(&mut self, expected: u8) -> Result<&'a [u8], DerError> {
        let (tag, contents) = self.read_any()?;
        if tag != expected {
            return Err(DerError("unexpected DER tag"));
        }
        Ok(contents)
    }

    fn read_sequence(&mut self) -> Result<Reader<'a>, DerError> {
        self.read(TAG_SEQUENCE).map(Reader::new)
    }

    /// Reads a non-negative INTEGER and returns its big-endian magnitude without leading zeros.
    fn read_unsigned(&mut self) -> Result<&'a [u8], DerError> {
        let bytes = self.read(TAG_INTEGER)?;
        match bytes.first() {
            None => Err(DerError("empty INTEGER")),
            Some(b) if b & 0x80 != 0 => Err(DerError("negative INTEGER")),
            Some(_) => Ok(strip_leading_zeros(bytes)),
        }
    }
}

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

/// Parses PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
pub(crate) fn parse_pkcs1_rsa(der: &[u8]) -> Result<PublicKeyDer<'_>, DerError> {
    let mut outer = Reader::new(der);
    let mut seq = outer.read_sequence()?;
    let n = seq.read_unsigned()?;
    let e = seq.read_unsigned()?;
    if !seq.is_empty() || !outer.is_empty() {
        return Err(DerError("trailing data after RSAPublicKey"));
    }
    Ok(PublicKeyDer::Rsa { n, e })
}

/// Parses a `SubjectPublicKeyInfo`.
pub(crate) fn parse_spki(der: &[u8]) -> Result<PublicKeyDer<'_>, DerError> {
    let mut outer = Reader::new(der);
    let spki = outer.read_sequence()?;
    if !outer.is_empty() {
        return Err(DerError("trailing data after SubjectPublicKeyInfo"));
    }
    parse_spki_contents(spki)
}

fn parse_spki_contents(mut spki: Reader<'_>) -> Result<PublicKeyDer<'_>, DerError> {
    let mut algorithm = spki.read_sequence()?;
    let oid = algorithm.read(TAG_OID)?;
    let bits = spki.read(TAG_BIT_STRING)?;
    let key = match bits.split_first() {
        Some((0, key)) => key,
        _ => return Err(DerError("public key BIT STRING has unused bits")),
    };
    if oid == OID_RSA_ENCRYPTION {
        parse_pkcs1_rsa(key)
    } else if oid == OID_EC_PUBLIC_KEY {
        let curve = algorithm.read(TAG_OID)?;
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

/// Finds the SubjectPublicKeyInfo inside an X.509 certificate.
pub(crate) fn parse_certificate_spki(der: &[u8]) -> Result<PublicKeyDer<'_>, DerError> {
    let mut outer = Reader::new(der);
    let mut cert = outer.read_sequence()?;
    let mut tbs = cert.read_sequence()?;
    if tbs.peek_tag() == Some(TAG_CONTEXT_0) {
        tbs.read(TAG_CONTEXT_0)?; // version
    }
    tbs.read(TAG_INTEGER)?; // serialNumber
    tbs.read_sequence()?; // signature AlgorithmIdentifier
    tbs.read_sequence()?; // issuer
    tbs.read_sequence()?; // validity
    tbs.read_sequence()?; // subject
    let spki = tbs.read_sequence()?;
    parse_spki_contents(spki)
}

/// Encodes a PKCS#1 `RSAPublicKey` from big-endian magnitudes.
#[cfg_attr(not(feature = "aws-lc-rs"), allow(dead_code))]
pub(crate) fn encode_pkcs1_rsa(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn length(len: usize, out: &mut Vec<u8>) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend_from_slice(&bytes);
        }
    }
    fn integer(magnitude: &[u8], out: &mut Vec<u8>) {
        let magnitude = strip_leading_zeros(magnitude);
        let pad = magnitude.first().is_none_or(|b| b & 0x80 != 0);
        out.push(TAG_INTEGER);
        length(magnitude.len() + usize::from(pad), out);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(magnitude);
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    integer(n, &mut body);
    integer(e, &mut body);
    let mut out = Vec::with_capacity(body.len() + 4);
    out.push(TAG_SEQUENCE);
    length(body.len(), &mut out);
    out.extend_from_slice(&body);
    out
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
    fn pkcs1_encoding_round_trips() {
        for (n, e) in [
            (vec![0xc5u8; 256], vec![1u8, 0, 1]),
            (vec![0x45; 300], vec![3]),
            (vec![0x7f], vec![0x80]),
        ] {
            let der = encode_pkcs1_rsa(&n, &e);
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
