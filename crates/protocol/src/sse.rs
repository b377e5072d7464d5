//! Server-Sent Events framing, both ways.
//!
//! Streamable HTTP carries JSON-RPC messages as SSE events, in responses to POSTs and on the GET
//! stream. The gateway writes events to clients (with ids and `retry` only where the client's
//! revision has them) and reads events from upstreams, whose streams may be cut mid-event, split
//! across arbitrary chunk boundaries, and use any of the three line endings the SSE grammar allows.

/// Appends one event. `id` and `event` are omitted when `None`; `data` may span lines.
pub fn encode_event(out: &mut Vec<u8>, id: Option<&str>, event: Option<&str>, data: &[u8]) {
    if let Some(id) = id {
        out.extend_from_slice(b"id: ");
        out.extend_from_slice(id.as_bytes());
        out.push(b'\n');
    }
    if let Some(ev) = event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(ev.as_bytes());
        out.push(b'\n');
    }
    // JSON-RPC text has no raw newlines, but a `data` field must never carry one: split on them.
    for line in data.split(|&b| b == b'\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// Appends a `retry:` field in its own event block.
pub fn encode_retry(out: &mut Vec<u8>, millis: u64) {
    out.extend_from_slice(format!("retry: {millis}\n\n").as_bytes());
}

/// Appends a comment line, used as a keep-alive.
pub fn encode_comment(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b": ");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// One parsed event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    pub id: Option<String>,
    /// `message` when the stream named none.
    pub event: String,
    pub data: String,
    pub retry: Option<u64>,
}

/// An incremental SSE parser: feed it chunks, take complete events.
#[derive(Debug, Default)]
pub struct Parser {
    line: Vec<u8>,
    /// A `\r` ended the last chunk: a `\n` starting the next one belongs to the same line end.
    after_cr: bool,
    started: bool,
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
    retry: Option<u64>,
    /// The last event id seen, which persists across events (the SSE "last event ID buffer").
    pub last_event_id: Option<String>,
    max_event_bytes: usize,
    overflow: bool,
}

/// The stream broke the parser's size limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SSE event larger than {0} bytes")]
pub struct TooLarge(pub usize);

impl Parser {
    /// A parser that refuses events larger than `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> Parser {
        Parser {
            max_event_bytes,
            ..Parser::default()
        }
    }

    /// Feeds a chunk; completed events are pushed to `out`, and `retry` values are reported on
    /// the event they arrived with (or on a data-less event, which is then still pushed).
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<Event>) -> Result<(), TooLarge> {
        if !self.started {
            // A UTF-8 byte order mark may open the stream.
            if let Some(rest) = chunk.strip_prefix(b"\xEF\xBB\xBF") {
                chunk = rest;
            }
            if !chunk.is_empty() {
                self.started = true;
            }
        }
        for &b in chunk {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    self.line_done(&line, out);
                    self.line = line;
                    self.line.clear();
                }
                _ => {
                    if self.line.len() >= self.max_event_bytes.max(1) {
                        self.overflow = true;
                        return Err(TooLarge(self.max_event_bytes));
                    }
                    self.line.push(b);
                }
            }
        }
        let pending = self.data.as_ref().map_or(0, String::len) + self.line.len();
        if self.max_event_bytes > 0 && pending > self.max_event_bytes {
            self.overflow = true;
            return Err(TooLarge(self.max_event_bytes));
        }
        Ok(())
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<Event>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"data" => {
                // Lines of one event join with "\n"; the first one starts the data buffer.
                match &mut self.data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(&value);
                    }
                    None => self.data = Some(value.into_owned()),
                }
            }
            b"event" => self.event = Some(value.into_owned()),
            // An id containing NUL is ignored, as the SSE spec requires.
            b"id" if !value.contains('\0') => self.id = Some(value.into_owned()),
            b"retry" => {
                if let Ok(n) = value.parse::<u64>() {
                    self.retry = Some(n);
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<Event>) {
        if let Some(id) = self.id.take() {
            self.last_event_id = Some(id);
        }
        let data = self.data.take();
        let retry = self.retry.take();
        let event = self.event.take();
        if data.is_none() && retry.is_none() {
            return;
        }
        out.push(Event {
            id: self.last_event_id.clone(),
            event: event.unwrap_or_else(|| "message".to_owned()),
            data: data.unwrap_or_default(),
            retry,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<Event> {
        let mut p = Parser::new(1 << 20);
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn round_trips_an_event() {
        let mut buf = Vec::new();
        encode_event(
            &mut buf,
            Some("s1-7"),
            Some("message"),
            br#"{"jsonrpc":"2.0"}"#,
        );
        assert_eq!(
            buf,
            b"id: s1-7\nevent: message\ndata: {\"jsonrpc\":\"2.0\"}\n\n"
        );
        let ev = parse_all(&[&buf]);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].id.as_deref(), Some("s1-7"));
        assert_eq!(ev[0].data, r#"{"jsonrpc":"2.0"}"#);
    }

    #[test]
    fn handles_any_split_and_line_ending() {
        let text = b"\xEF\xBB\xBF: hi\r\nretry: 1500\r\n\r\nid: 1\rdata: a\r\ndata: b\n\nevent: x\ndata: c\n\n";
        let whole = parse_all(&[text]);
        for cut in 0..text.len() {
            let (a, b) = text.split_at(cut);
            assert_eq!(parse_all(&[a, b]), whole, "cut at {cut}");
        }
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0].retry, Some(1500));
        assert_eq!(whole[1].data, "a\nb");
        assert_eq!(whole[1].id.as_deref(), Some("1"));
        assert_eq!(whole[2].event, "x");
        assert_eq!(whole[2].id.as_deref(), Some("1"), "last event id persists");
    }

    #[test]
    fn priming_event_has_empty_data() {
        let ev = parse_all(&[b"id: p0\ndata:\n\n"]);
        assert_eq!(ev[0].data, "");
        assert_eq!(ev[0].id.as_deref(), Some("p0"));
    }

    #[test]
    fn refuses_oversized_events() {
        let mut p = Parser::new(8);
        let mut out = Vec::new();
        assert!(p.feed(b"data: 0123456789\n\n", &mut out).is_err());
    }
}
