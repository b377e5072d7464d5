//! Unguessable identifiers: session ids, task ids, generated request ids.
//!
//! Each is random bits from the thread-local CSPRNG (seeded from the OS), written as lowercase hex
//! after a short prefix, so ids stay visible ASCII (what `MCP-Session-Id` allows) and can be told
//! apart in logs.

use std::sync::Arc;

/// `prefix` followed by `BYTES` random bytes in hex.
pub fn random<const BYTES: usize>(prefix: &str) -> Arc<str> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let bytes: [u8; BYTES] = rand::random();
    // Written on the stack and copied into the Arc once (a request id is minted per request
    // without a client-given one; going through a `String` allocated twice).
    let mut buf = [0u8; 64];
    let hex_len = 2 * BYTES;
    let len = prefix.len() + hex_len;
    if len > buf.len() {
        let mut s = String::with_capacity(len);
        s.push_str(prefix);
        for b in bytes {
            s.push(char::from(DIGITS[usize::from(b >> 4)]));
            s.push(char::from(DIGITS[usize::from(b & 0xf)]));
        }
        return s.into();
    }
    buf[..prefix.len()].copy_from_slice(prefix.as_bytes());
    for (i, b) in bytes.iter().enumerate() {
        buf[prefix.len() + 2 * i] = DIGITS[usize::from(b >> 4)];
        buf[prefix.len() + 2 * i + 1] = DIGITS[usize::from(b & 0xf)];
    }
    // The prefix is a `&str` and the rest ASCII hex, so the whole is UTF-8.
    std::str::from_utf8(&buf[..len]).map_or_else(|_| Arc::from(prefix), Arc::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_hex_and_distinct() {
        let a = random::<16>("x-");
        assert_eq!(a.len(), 34);
        assert!(
            a.starts_with("x-")
                && a[2..]
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(a, random::<16>("x-"));
        // Longer than the stack buffer: the same form.
        let long = random::<40>("a-long-prefix-");
        assert_eq!(long.len(), 14 + 80);
        assert!(long[14..].bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
