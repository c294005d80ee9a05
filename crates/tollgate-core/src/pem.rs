//! PEM armour (RFC 7468) for public keys and certificates.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// One decoded PEM block.
pub(crate) struct PemBlock {
    pub(crate) label: String,
    pub(crate) der: Vec<u8>,
}

/// Decodes the first PEM block of `input`. Errors are static strings that never echo the input,
/// so a private key pasted by mistake never reaches a log.
pub(crate) fn parse_first(input: &[u8]) -> Result<PemBlock, &'static str> {
    let text = std::str::from_utf8(input).map_err(|_| "PEM is not UTF-8")?;
    let begin = text.find("-----BEGIN ").ok_or("no PEM BEGIN line")?;
    let after_begin = &text[begin + "-----BEGIN ".len()..];
    let label_end = after_begin
        .find("-----")
        .ok_or("malformed PEM BEGIN line")?;
    let label = &after_begin[..label_end];
    let body_and_rest = &after_begin[label_end + "-----".len()..];
    let end_marker = format!("-----END {label}-----");
    let body_end = body_and_rest
        .find(&end_marker)
        .ok_or("no matching PEM END line")?;
    let body: String = body_and_rest[..body_end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if body.contains(':') {
        return Err("encrypted or header-carrying PEM is not supported");
    }
    let der = STANDARD
        .decode(body.as_bytes())
        .map_err(|_| "PEM body is not valid base64")?;
    Ok(PemBlock {
        label: label.to_owned(),
        der,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_block_with_surrounding_text() {
        let pem = b"junk\n-----BEGIN PUBLIC KEY-----\nAAEC\nAw==\n-----END PUBLIC KEY-----\n";
        let block = parse_first(pem).map_err(|e| e.to_string());
        let block = block.as_ref().map(|b| (b.label.as_str(), b.der.as_slice()));
        assert_eq!(block, Ok(("PUBLIC KEY", &[0u8, 1, 2, 3][..])));
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
}
