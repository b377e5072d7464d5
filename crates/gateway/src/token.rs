//! Unguessable identifiers: session ids, task ids, generated request ids.
//!
//! Each is random bits from the thread-local CSPRNG (seeded from the OS), written as lowercase hex
//! after a short prefix, so ids stay visible ASCII (what `MCP-Session-Id` allows) and can be told
//! apart in logs.

use std::sync::Arc;

/// `prefix` followed by `BYTES` random bytes in hex.
pub fn random<const BYTES: usize>(prefix: &str) -> Arc<str> {
    let bytes: [u8; BYTES] = rand::random();
    let mut s = String::with_capacity(prefix.len() + 2 * BYTES);
    s.push_str(prefix);
    for b in bytes {
        s.push(hex(b >> 4));
        s.push(hex(b & 0xf));
    }
    s.into()
}

fn hex(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble & 0xf)])
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
    }
}
