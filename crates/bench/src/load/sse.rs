//! Reading a complete `text/event-stream` body: the events' `data`, in order.
//!
//! A Streamable HTTP server may answer a POST with an SSE stream that carries notifications and
//! requests before the response and then ends; the load generator reads the whole body and picks
//! the response out of it.

use bytes::Bytes;

use crate::jsonrpc::Envelope;

/// The data of each event in `body` (multi-line data joined with `\n`; events without data, such
/// as priming events and comments, are skipped).
pub fn events(body: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut data: Option<Vec<u8>> = None;
    for raw in body.split(|&b| b == b'\n') {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.is_empty() {
            if let Some(d) = data.take() {
                out.push(d);
            }
            continue;
        }
        if line.starts_with(b":") {
            continue;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        if field == b"data" {
            let d = data.get_or_insert_with(Vec::new);
            if !d.is_empty() {
                d.push(b'\n');
            }
            d.extend_from_slice(value);
        }
    }
    if let Some(d) = data.take() {
        out.push(d);
    }
    out
}

/// The response to request `id` among the stream's messages.
pub fn response(body: &[u8], id: u64) -> Option<Bytes> {
    events(body).into_iter().find_map(|d| {
        let is_it = Envelope::parse(&d).is_ok_and(|m| {
            m.method.is_none()
                && m.id_u64() == Some(id)
                && (m.result.is_some() || m.error.is_some())
        });
        is_it.then(|| Bytes::from(d))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_response_out_of_the_stream() {
        let body = b"id: 1\ndata:\n\n: keepalive\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\nid: 3\r\ndata: {\"jsonrpc\":\"2.0\",\r\ndata: \"id\":7,\"result\":{}}\r\n\r\n";
        let r = response(body, 7).unwrap();
        assert_eq!(&r[..], b"{\"jsonrpc\":\"2.0\",\n\"id\":7,\"result\":{}}");
        assert!(response(body, 8).is_none());
    }
}
