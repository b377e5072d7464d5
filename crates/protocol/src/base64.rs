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

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Marks a byte that is not a symbol of the alphabet in a reverse table.
const NOT_A_SYMBOL: u8 = 0xff;

const STANDARD_VALUES: [u8; 256] = reverse(STANDARD);
const URL_SAFE_VALUES: [u8; 256] = reverse(URL_SAFE);

/// Byte → its 6-bit value, or [`NOT_A_SYMBOL`].
const fn reverse(symbols: &[u8; 64]) -> [u8; 256] {
    let mut values = [NOT_A_SYMBOL; 256];
    let mut i = 0;
    while i < 64 {
        values[symbols[i] as usize] = i as u8;
        i += 1;
    }
    values
}

/// Standard alphabet with `=` padding: `Hello` → `SGVsbG8=`.
pub fn encode(bytes: &[u8]) -> String {
    encode_with(bytes, STANDARD, true)
}

/// The bytes of a standard, padded encoding; `None` unless the text is exactly that encoding.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    decode_with(text, &STANDARD_VALUES, true)
}

/// URL-safe alphabet (`-`, `_`) without padding: `Hello` → `SGVsbG8`.
pub fn encode_url(bytes: &[u8]) -> String {
    encode_with(bytes, URL_SAFE, false)
}

/// The bytes of a URL-safe, unpadded encoding; `None` unless the text is exactly that encoding.
pub fn decode_url(text: &str) -> Option<Vec<u8>> {
    decode_with(text, &URL_SAFE_VALUES, false)
}

fn encode_with(bytes: &[u8], symbols: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        // A chunk of k bytes carries k + 1 symbols; the rest of the quantum is padding.
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(symbols[((n >> (18 - 6 * i)) & 63) as usize]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

fn decode_with(text: &str, values: &[u8; 256], pad: bool) -> Option<Vec<u8>> {
    let b = text.as_bytes();
    let body = if pad {
        if !b.len().is_multiple_of(4) {
            return None;
        }
        let padding = b.iter().rev().take_while(|&&c| c == b'=').count();
        if padding > 2 {
            return None;
        }
        &b[..b.len() - padding]
    } else {
        b
    };
    // One symbol alone cannot hold a whole byte.
    if body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 2);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for &c in body {
        let v = values[usize::from(c)];
        if v == NOT_A_SYMBOL {
            return None;
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be zero (canonical encoding).
    (acc == 0).then_some(out)
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
