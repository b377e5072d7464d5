//! The 2026-07-28 request headers that mirror the body: `Mcp-Method`, `Mcp-Name` and
//! `Mcp-Param-*`.
//!
//! A header value must be visible ASCII, so a body value that is not (non-ASCII text, control
//! characters, leading or trailing whitespace) travels as `=?base64?<RFC 4648 base64 of UTF-8>?=`.
//! A value is that encoding only when it has both the exact prefix and suffix; anything else is
//! literal. Decoding is strict about the alphabet and the padding: a server that accepted sloppy
//! encodings would let a header and a body disagree while looking equal.

use crate::base64;

const PREFIX: &str = "=?base64?";
const SUFFIX: &str = "?=";

/// Optional whitespace around a field value (RFC 9110 OWS) is not part of it.
pub fn trim_ows(v: &str) -> &str {
    v.trim_matches(|c| c == ' ' || c == '\t')
}

/// Why a header value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("invalid base64 in header value")]
    Base64,
    #[error("header value is not UTF-8 once decoded")]
    Utf8,
}

/// The body value a header value stands for.
pub fn decode(value: &str) -> Result<String, HeaderError> {
    let v = trim_ows(value);
    match v.strip_prefix(PREFIX).and_then(|r| r.strip_suffix(SUFFIX)) {
        // An empty payload is never produced by `encode` (the empty value is literal).
        Some("") => Err(HeaderError::Base64),
        Some(b64) => String::from_utf8(base64::decode(b64).ok_or(HeaderError::Base64)?)
            .map_err(|_| HeaderError::Utf8),
        None => Ok(v.to_owned()),
    }
}

/// The header value for a body value: literal when it can be, base64 when it must be.
pub fn encode(value: &str) -> String {
    let needs = value.bytes().any(|b| !(0x20..0x7f).contains(&b))
        || value.starts_with([' ', '\t'])
        || value.ends_with([' ', '\t'])
        || (value.starts_with(PREFIX) && value.ends_with(SUFFIX));
    if needs {
        format!("{PREFIX}{}{SUFFIX}", base64::encode(value.as_bytes()))
    } else {
        value.to_owned()
    }
}

/// Whether a header value stands for exactly `body` (values are case-sensitive).
pub fn matches(header: &str, body: &str) -> bool {
    decode(header).is_ok_and(|h| h == body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_sentinel_strictly() {
        assert_eq!(decode("=?base64?SGVsbG8=?=").unwrap(), "Hello");
        assert_eq!(decode("  tools/call\t").unwrap(), "tools/call");
        assert_eq!(
            decode("=?base64?SGVsbG8?="),
            Err(HeaderError::Base64),
            "missing padding"
        );
        assert_eq!(
            decode("=?base64?SGVs!!!bG8=?="),
            Err(HeaderError::Base64),
            "bad alphabet"
        );
        assert_eq!(
            decode("=?base64?SGVsbG9=?="),
            Err(HeaderError::Base64),
            "stray bits"
        );
        assert_eq!(
            decode("=?base64??="),
            Err(HeaderError::Base64),
            "empty payload"
        );
        assert_eq!(
            decode("=?base64?SGVsbG8=").unwrap(),
            "=?base64?SGVsbG8=",
            "no suffix: literal"
        );
        assert_eq!(
            decode("base64?SGVsbG8=?=").unwrap(),
            "base64?SGVsbG8=?=",
            "no prefix: literal"
        );
    }

    #[test]
    fn encodes_only_what_must_be() {
        assert_eq!(encode("get_weather"), "get_weather");
        assert_eq!(encode("café"), "=?base64?Y2Fmw6k=?=");
        assert!(encode(" padded").starts_with(PREFIX));
        assert!(
            encode("=?base64?x?=").starts_with(PREFIX),
            "a literal that looks encoded is encoded"
        );
        for v in [
            "",
            "a",
            "ab",
            "abc",
            "naïve ✓",
            "\t",
            "line\nbreak",
            "=?base64?SGVsbG8=?=",
        ] {
            assert!(matches(&encode(v), v), "{v:?}");
        }
        assert!(!matches("TOOLS/LIST", "tools/list"));
    }

    proptest::proptest! {
        #[test]
        fn header_values_round_trip(s in "\\PC{0,40}") {
            proptest::prop_assert!(matches(&encode(&s), &s));
        }
    }
}
