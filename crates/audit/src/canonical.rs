//! The canonical JSON form every hash in the audit log is taken over.
//!
//! Two parties must get the same bytes from the same value, whatever order its members were
//! written in: an argument object's hash must not change because a client reordered its keys,
//! and `switchboard audit verify` (or any other verifier) must rebuild a record's exact hashed
//! text from the line it reads. The form follows RFC 8785 (JCS): no insignificant whitespace,
//! object members sorted by their keys' UTF-16 code units, strings with only `"`, `\` and
//! control characters escaped (`\b \f \n \r \t`, else `\u00xx` in lower-case hex), numbers as
//! ECMAScript prints them. One deviation, stated in `docs/audit.md`: an integer beyond 2^53 is
//! written exactly as given rather than rounded to a double.

use std::cmp::Ordering;
use std::fmt::Write as _;

use ring::digest;
use serde_json::{Number, Value};

/// Appends the canonical form of `value` to `out`.
pub fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| utf16_order(a.0, b.0));
            out.push('{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                write_value(out, v);
            }
            out.push('}');
        }
    }
}

/// The canonical form of `value`.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

/// RFC 8785's member order: by UTF-16 code units (differs from UTF-8 byte order only between
/// characters above U+FFFF and those in U+E000..=U+FFFF).
pub fn utf16_order(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Appends `s` as a JSON string with RFC 8785's minimal escaping.
pub fn write_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x0c => "\\f",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Numbers as ECMAScript's `Number.prototype.toString` prints them: integers as written;
/// other values in the shortest form that reads back to the same double, in plain notation
/// for decimal exponents from -6 to 20 and `d.ddde±x` outside it.
fn write_number(out: &mut String, n: &Number) {
    if n.is_i64() || n.is_u64() {
        let _ = write!(out, "{n}");
        return;
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f == 0.0 {
        out.push('0');
        return;
    }
    let magnitude = f.abs();
    if (1e-6..1e21).contains(&magnitude) {
        // Rust's `Display` is the shortest round-trip form in plain notation, and drops `.0`.
        let _ = write!(out, "{f}");
    } else {
        let sci = format!("{f:e}");
        match sci.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => {
                let _ = write!(out, "{mantissa}e+{exp}");
            }
            _ => out.push_str(&sci),
        }
    }
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

/// Appends lower-case hex.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
}

/// Reads hex (either case) into exactly `N` bytes.
pub fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.as_bytes();
    if text.len() != N * 2 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, pair) in text.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn member_order_and_whitespace_do_not_change_the_form() {
        let a: Value =
            serde_json::from_str(r#"{ "b": 1, "a": [true, null, "x"], "c": {"z": 0, "y": 1} }"#)
                .unwrap();
        let b: Value =
            serde_json::from_str(r#"{"c":{"y":1,"z":0},"a":[true,null,"x"],"b":1}"#).unwrap();
        assert_eq!(
            to_string(&a),
            r#"{"a":[true,null,"x"],"b":1,"c":{"y":1,"z":0}}"#
        );
        assert_eq!(to_string(&a), to_string(&b));
        assert_eq!(
            sha256(to_string(&a).as_bytes()),
            sha256(to_string(&b).as_bytes())
        );
    }

    #[test]
    fn array_order_matters() {
        assert_ne!(to_string(&json!([1, 2])), to_string(&json!([2, 1])));
    }

    #[test]
    fn strings_escape_only_what_rfc_8785_escapes() {
        let v = json!("q\"b\\s/\u{1}\n\u{7f}é😀\u{2028}");
        assert_eq!(to_string(&v), "\"q\\\"b\\\\s/\\u0001\\n\u{7f}é😀\u{2028}\"");
    }

    #[test]
    fn keys_sort_by_utf16_code_units() {
        // U+FB01 (one UTF-16 unit 0xFB01) sorts after U+1F600 (surrogates 0xD83D…) in
        // UTF-16 order, but before it in UTF-8 byte order.
        let v = json!({"\u{fb01}": 1, "😀": 2, "a": 3});
        assert_eq!(to_string(&v), "{\"a\":3,\"😀\":2,\"\u{fb01}\":1}");
    }

    #[test]
    fn numbers_print_as_ecmascript_does() {
        let cases = [
            ("1.0", "1"),
            ("-0.0", "0"),
            ("0.1", "0.1"),
            ("1e21", "1e+21"),
            ("1.5e300", "1.5e+300"),
            ("1e-7", "1e-7"),
            ("0.000001", "0.000001"),
            ("1.5e20", "150000000000000000000"),
            ("-42", "-42"),
            ("18446744073709551615", "18446744073709551615"),
        ];
        for (input, want) in cases {
            let v: Value = serde_json::from_str(input).unwrap();
            assert_eq!(to_string(&v), want, "{input}");
        }
    }

    #[test]
    fn hex_round_trips() {
        let bytes = sha256(b"abc");
        let text = hex(&bytes);
        assert_eq!(
            text,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(unhex::<32>(&text), Some(bytes));
        assert_eq!(unhex::<32>(&text.to_uppercase()), Some(bytes));
        assert_eq!(unhex::<32>("zz"), None);
    }
}
