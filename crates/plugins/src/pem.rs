//! PEM (RFC 7468): one labelled base64 block per key. Only what keys need: encode one block,
//! find every block with a given label.

use switchboard_protocol::base64;

/// `-----BEGIN {label}-----`, the DER in 64-column base64 lines, `-----END {label}-----`.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(line).unwrap_or_default());
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

/// The DER of every `label` block in `text`, in order. Blocks with another label are skipped;
/// a `label` block whose body is not base64 is an error.
pub(crate) fn decode_all(text: &str, label: &str) -> Result<Vec<Vec<u8>>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let body_start = start + begin.len();
        let Some(stop) = rest[body_start..].find(&end) else {
            return Err(format!("a `{begin}` block has no `{end}`"));
        };
        let body: String = rest[body_start..body_start + stop]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let der =
            base64::decode(&body).ok_or_else(|| format!("a {label} block is not valid base64"))?;
        out.push(der);
        rest = &rest[body_start + stop + end.len()..];
    }
    Ok(out)
}
