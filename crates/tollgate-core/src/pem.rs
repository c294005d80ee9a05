//! PEM armour (RFC 7468) for public keys and certificates, decoded by `rustls-pki-types` (the
//! parser rustls itself uses).
//!
//! Only the first block counts, and its label decides what it is. Two labels need care because
//! that parser skips sections it has no kind for: `RSA PUBLIC KEY` (OpenSSL's PKCS#1 public key,
//! which RFC 7468 does not register) is relabelled `PUBLIC KEY`, whose armour and base64 rules
//! are the same, and decoded as such; any label naming a private key is refused before its body
//! is decoded, so private key material is never copied, let alone logged.

use std::borrow::Cow;

use rustls_pki_types::pem::{self, PemObject as _, SectionKind};

/// What the first PEM block holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PemKind {
    /// `PUBLIC KEY`: a SubjectPublicKeyInfo.
    PublicKey,
    /// `RSA PUBLIC KEY`: a PKCS#1 `RSAPublicKey`.
    RsaPublicKey,
    /// `CERTIFICATE`: an X.509 certificate.
    Certificate,
}

/// One decoded PEM block.
pub(crate) struct PemBlock {
    pub(crate) kind: PemKind,
    pub(crate) der: Vec<u8>,
}

const BEGIN: &[u8] = b"-----BEGIN ";
const RSA_PUBLIC_KEY: &[u8] = b"RSA PUBLIC KEY";

/// `input` without the leading whitespace of its lines: PEM pasted indented into a config file
/// loads as before, while `rustls-pki-types` wants each boundary at the start of its line.
fn unindent(input: &[u8]) -> Cow<'_, [u8]> {
    let indented = input
        .split(|&b| b == b'\n' || b == b'\r')
        .any(|line| line.first().is_some_and(|b| b.is_ascii_whitespace()));
    if !indented {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut at_line_start = true;
    for &b in input {
        if at_line_start && (b == b' ' || b == b'\t') {
            continue;
        }
        at_line_start = b == b'\n' || b == b'\r';
        out.push(b);
    }
    Cow::Owned(out)
}

/// The label of the first line starting with `-----BEGIN `, as `rustls-pki-types` reads it.
fn first_label(input: &[u8]) -> Option<&[u8]> {
    let line = input
        .split(|&b| b == b'\n' || b == b'\r')
        .find(|line| line.starts_with(BEGIN))?;
    let rest = line[BEGIN.len()..].trim_ascii_end();
    Some(rest.strip_suffix(b"-----").unwrap_or(rest))
}

/// `input` with the first `from` after `start` replaced by `to`.
fn replace_once(input: &[u8], start: usize, from: &[u8], to: &[u8]) -> Option<Vec<u8>> {
    let at = start
        + input
            .get(start..)?
            .windows(from.len())
            .position(|w| w == from)?;
    let mut out = Vec::with_capacity(input.len());
    out.extend_from_slice(&input[..at]);
    out.extend_from_slice(to);
    out.extend_from_slice(&input[at + from.len()..]);
    Some(out)
}

/// Relabels the first `RSA PUBLIC KEY` block `PUBLIC KEY` (see the module docs).
fn relabel_rsa_public_key(input: &[u8]) -> Option<Vec<u8>> {
    let begin = replace_once(
        input,
        0,
        b"-----BEGIN RSA PUBLIC KEY-----",
        b"-----BEGIN PUBLIC KEY-----",
    )?;
    let body = begin.windows(BEGIN.len()).position(|w| w == BEGIN)?;
    replace_once(
        &begin,
        body,
        b"-----END RSA PUBLIC KEY-----",
        b"-----END PUBLIC KEY-----",
    )
}

/// A static description of a PEM error: `rustls-pki-types` errors quote input lines.
fn describe(err: &pem::Error) -> &'static str {
    match err {
        pem::Error::MissingSectionEnd { .. } => "no matching PEM END line",
        pem::Error::IllegalSectionStart { .. } => "malformed PEM BEGIN line",
        pem::Error::Base64Decode(_) => "PEM body is not valid base64",
        pem::Error::NoItemsFound => "no PEM block",
        pem::Error::SectionTooLarge => "PEM block too large",
        _ => "malformed PEM",
    }
}

/// Decodes the first PEM block of `input`. Errors are static strings that never echo the input,
/// so a private key pasted by mistake never reaches a log.
pub(crate) fn parse_first(input: &[u8]) -> Result<PemBlock, &'static str> {
    let input = unindent(input);
    let input = &input[..];
    let label = first_label(input).ok_or("no PEM BEGIN line")?;
    if label.windows(b"PRIVATE".len()).any(|w| w == b"PRIVATE") {
        return Err("this is a private key; configure the public key instead");
    }
    if label == RSA_PUBLIC_KEY {
        let relabeled = relabel_rsa_public_key(input).ok_or("no matching PEM END line")?;
        let (_, der) =
            <(SectionKind, Vec<u8>)>::from_pem_slice(&relabeled).map_err(|e| describe(&e))?;
        return Ok(PemBlock {
            kind: PemKind::RsaPublicKey,
            der,
        });
    }
    let kind = match SectionKind::try_from(label) {
        Ok(SectionKind::PublicKey) => PemKind::PublicKey,
        Ok(SectionKind::Certificate) => PemKind::Certificate,
        _ => return Err("unsupported PEM label"),
    };
    // The first block has a known kind, so it is the first section the parser returns.
    let (_, der) = <(SectionKind, Vec<u8>)>::from_pem_slice(input).map_err(|e| describe(&e))?;
    Ok(PemBlock { kind, der })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(input: &[u8]) -> Result<(PemKind, Vec<u8>), &'static str> {
        parse_first(input).map(|b| (b.kind, b.der))
    }

    #[test]
    fn decodes_block_with_surrounding_text() {
        let pem = b"junk\n-----BEGIN PUBLIC KEY-----\nAAEC\nAw==\n-----END PUBLIC KEY-----\n";
        assert_eq!(parsed(pem), Ok((PemKind::PublicKey, vec![0u8, 1, 2, 3])));
    }

    #[test]
    fn rejects_mismatched_and_garbage() {
        assert!(
            parse_first(b"-----BEGIN PUBLIC KEY-----\nAAEC\n-----END CERTIFICATE-----").is_err()
        );
        assert!(
            parse_first(b"-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----").is_err()
        );
        assert!(parse_first(b"no pem here").is_err());
        assert!(parse_first(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn indented_pem_loads() {
        let pem = b"  -----BEGIN PUBLIC KEY-----\n    AAEC\n\tAw==\n  -----END PUBLIC KEY-----\n";
        assert_eq!(parsed(pem), Ok((PemKind::PublicKey, vec![0u8, 1, 2, 3])));
    }

    #[test]
    fn labels_decide_the_kind() {
        let rsa = b"-----BEGIN RSA PUBLIC KEY-----\r\nAAEC\r\n-----END RSA PUBLIC KEY-----\r\n";
        assert_eq!(parsed(rsa), Ok((PemKind::RsaPublicKey, vec![0u8, 1, 2])));
        let cert = b"-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----";
        assert_eq!(parsed(cert), Ok((PemKind::Certificate, vec![0u8, 1, 2])));
        assert_eq!(
            parsed(b"-----BEGIN RSA PUBLIC KEY-----\nAAEC\n-----END PUBLIC KEY-----\n"),
            Err("no matching PEM END line")
        );
        for label in [
            "PRIVATE KEY",
            "ENCRYPTED PRIVATE KEY",
            "OPENSSH PRIVATE KEY",
        ] {
            let pem = format!("-----BEGIN {label}-----\nAAEC\n-----END {label}-----\n");
            let err = parsed(pem.as_bytes()).err().unwrap_or_default();
            assert!(err.contains("private key"), "{label}: {err}");
        }
        // Only the first block counts: an unknown label is not skipped to reach a later one.
        let two = b"-----BEGIN X509 CRL-----\nAAEC\n-----END X509 CRL-----\n\
            -----BEGIN PUBLIC KEY-----\nAAEC\n-----END PUBLIC KEY-----\n";
        assert_eq!(parsed(two), Err("unsupported PEM label"));
        let weird = b"-----BEGIN FOO-----\nAAEC\n-----END FOO-----\n";
        assert_eq!(parsed(weird), Err("unsupported PEM label"));
    }
}
