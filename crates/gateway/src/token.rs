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
    // Written into a buffer (on the stack for every id we mint) and copied into the Arc once: a
    // request id is minted per request without a client-given one.
    let len = prefix.len() + 2 * BYTES;
    let mut stack = [0u8; 64];
    let mut heap;
    let buf: &mut [u8] = if len <= stack.len() {
        &mut stack[..len]
    } else {
        heap = vec![0u8; len];
        &mut heap
    };
    buf[..prefix.len()].copy_from_slice(prefix.as_bytes());
    for (pair, b) in buf[prefix.len()..].chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xf)];
    }
    // A `&str` prefix and ASCII hex: always UTF-8, so this borrows and never replaces anything.
    Arc::from(&*String::from_utf8_lossy(buf))
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
