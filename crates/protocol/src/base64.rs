//! RFC 4648 base64 in the two spellings switchboard meets on the wire.
//!
//! - **Standard, padded** (§4): the `=?base64?…?=` header sentinel and the `base64:` state keys
//!   in the config file.
//! - **URL-safe, unpadded** (§5): the gateway's sealed `requestState` tokens, which travel inside
//!   JSON strings and may be copied into URLs and logs.
//!
//! Decoding is strict in both: only the alphabet's symbols, padding exactly where the spelling
//! requires it, and zero leftover bits in the last symbol. So every byte string has exactly one
//! accepted encoding, and a value that looks equal to another once decoded also is equal as text.
//!
//! The `base64` crate does the work; this module fixes the two configurations, so no caller can
//! pick a lenient one by accident.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// RFC 4648 §4: `=` padding written, and required exactly, on decode.
const STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(false),
);

/// RFC 4648 §5 without padding: none written, and any `=` refused, on decode.
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Standard alphabet with `=` padding: `Hello` → `SGVsbG8=`.
pub fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The bytes of a standard, padded encoding; `None` unless the text is exactly that encoding.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

/// URL-safe alphabet (`-`, `_`) without padding: `Hello` → `SGVsbG8`.
pub fn encode_url(bytes: &[u8]) -> String {
    URL_SAFE.encode(bytes)
}

/// The bytes of a URL-safe, unpadded encoding; `None` unless the text is exactly that encoding.
pub fn decode_url(text: &str) -> Option<Vec<u8>> {
    URL_SAFE.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4648 §10.
    const VECTORS: [(&str, &str); 7] = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];

    #[test]
    fn rfc_4648_vectors() {
        for (plain, encoded) in VECTORS {
            assert_eq!(encode(plain.as_bytes()), encoded);
            assert_eq!(decode(encoded).as_deref(), Some(plain.as_bytes()));
            let unpadded = encoded.trim_end_matches('=');
            assert_eq!(encode_url(plain.as_bytes()), unpadded);
            assert_eq!(decode_url(unpadded).as_deref(), Some(plain.as_bytes()));
        }
    }

    #[test]
    fn the_alphabets_differ_in_two_symbols() {
        let bytes = [0xfb, 0xff, 0xbf];
        assert_eq!(encode(&bytes), "+/+/");
        assert_eq!(encode_url(&bytes), "-_-_");
        assert_eq!(decode("-_-_"), None);
        assert_eq!(decode_url("+/+/"), None);
    }

    #[test]
    fn standard_decoding_is_strict() {
        assert_eq!(decode("SGVsbG8="), Some(b"Hello".to_vec()));
        for bad in [
            "SGVsbG8",     // missing padding
            "SGVsbG8==",   // too much
            "SGVs!!!bG8=", // not the alphabet
            "SGVsbG9=",    // stray bits in the last symbol
            "SG=sbG8=",    // padding inside
            "Zg===",       // three pads
            "Zg=",         // one pad where two belong
            "Zm8==",       // two pads where one belongs
            "A===",        // one symbol, padded
            "SGVsbG8=\n",  // whitespace is not skipped
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn url_decoding_is_strict() {
        assert_eq!(decode_url("SGVsbG8"), Some(b"Hello".to_vec()));
        for bad in ["SGVsbG8=", "A", "AAAAA", "SGVsbG9", "SG Vs", "SGVs+G8"] {
            assert_eq!(decode_url(bad), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn standard_round_trips(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            proptest::prop_assert_eq!(decode(&encode(&bytes)), Some(bytes));
        }

        #[test]
        fn url_round_trips(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let text = encode_url(&bytes);
            proptest::prop_assert!(!text.contains(['=', '+', '/']));
            proptest::prop_assert_eq!(decode_url(&text), Some(bytes));
        }

        #[test]
        fn one_encoding_per_value(text in "[A-Za-z0-9_=+/-]{0,12}") {
            if let Some(bytes) = decode(&text) {
                proptest::prop_assert_eq!(encode(&bytes), text.clone());
            }
            if let Some(bytes) = decode_url(&text) {
                proptest::prop_assert_eq!(encode_url(&bytes), text);
            }
        }
    }
}
