//! The per-session store of SSE events, and the streams that read it.
//!
//! Every message a session's client should receive on a stream — a POST's related messages and
//! response, or the standalone GET stream's notifications — is appended here under its stream's
//! number before any connection writes it. A connection is only a reader: when it drops, nothing is
//! lost, and a client that comes back with `Last-Event-ID` replays what it missed from the same
//! store (a closed POST stream is not a cancellation). The store is a bounded ring: a reader that
//! falls so far behind that its next event was evicted loses its stream rather than holding memory
//! for everyone.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use switchboard_protocol::sse;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The standalone (GET) stream's number.
pub const STANDALONE: u64 = 0;

/// How long a client should wait before reconnecting after the gateway closes a stream.
pub const RETRY_MS: u64 = 1000;

struct Stored {
    stream: u64,
    seq: u64,
    data: Bytes,
}

struct Inner {
    events: VecDeque<Stored>,
    next_seq: u64,
    next_stream: u64,
    finished: HashSet<u64>,
    /// Highest evicted sequence number per stream: a reader behind it has lost events.
    evicted: HashMap<u64, u64>,
    standalone_attached: bool,
}

/// One session's events.
pub struct EventStore {
    inner: Mutex<Inner>,
    notify: Notify,
    capacity: usize,
    /// Whether the session's revision has event ids, priming and `retry` (2025-11-25+).
    pub resumable: bool,
    pub(crate) closed: CancellationToken,
}

impl EventStore {
    pub fn new(capacity: usize, resumable: bool) -> Arc<EventStore> {
        Arc::new(EventStore {
            inner: Mutex::new(Inner {
                events: VecDeque::new(),
                next_seq: 1,
                next_stream: 1,
                finished: HashSet::new(),
                evicted: HashMap::new(),
                standalone_attached: false,
            }),
            notify: Notify::new(),
            capacity: capacity.max(1),
            resumable,
            closed: CancellationToken::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new stream number (for a POST that turned into SSE).
    pub fn open_stream(&self) -> u64 {
        let mut i = self.lock();
        let n = i.next_stream;
        i.next_stream += 1;
        n
    }

    /// Appends a message to a stream and wakes its readers.
    pub fn push(&self, stream: u64, data: Bytes) {
        {
            let mut i = self.lock();
            let seq = i.next_seq;
            i.next_seq += 1;
            i.events.push_back(Stored { stream, seq, data });
            while i.events.len() > self.capacity {
                if let Some(old) = i.events.pop_front() {
                    let e = i.evicted.entry(old.stream).or_insert(0);
                    *e = (*e).max(old.seq);
                }
            }
        }
        self.notify.notify_waiters();
    }

    /// Marks a stream complete: readers end once they have delivered everything on it.
    pub fn finish(&self, stream: u64) {
        self.lock().finished.insert(stream);
        self.notify.notify_waiters();
    }

    /// The newest sequence number handed out so far.
    pub fn head(&self) -> u64 {
        self.lock().next_seq - 1
    }

    /// Claims the standalone stream; false when another connection holds it.
    pub fn attach_standalone(&self) -> bool {
        let mut i = self.lock();
        if i.standalone_attached {
            return false;
        }
        i.standalone_attached = true;
        true
    }

    fn detach_standalone(&self) {
        self.lock().standalone_attached = false;
    }

    /// Whether `stream` exists in this session.
    pub fn knows(&self, stream: u64) -> bool {
        stream == STANDALONE || stream < self.lock().next_stream
    }

    /// Events of `stream` after `after`, or `Err(())` when some were evicted unread.
    fn take(&self, stream: u64, after: u64) -> Result<(Vec<(u64, Bytes)>, bool), ()> {
        let i = self.lock();
        if i.evicted.get(&stream).is_some_and(|&e| e > after) {
            return Err(());
        }
        // Sequence numbers only grow along the ring: skip what this reader has seen in O(log n).
        let start = i.events.partition_point(|e| e.seq <= after);
        let out: Vec<(u64, Bytes)> = i
            .events
            .range(start..)
            .filter(|e| e.stream == stream)
            .map(|e| (e.seq, e.data.clone()))
            .collect();
        Ok((out, i.finished.contains(&stream)))
    }
}

/// Formats an event id: the stream number and the session-wide sequence number.
pub fn event_id(stream: u64, seq: u64) -> String {
    format!("{stream}-{seq}")
}

/// Parses an event id from `Last-Event-ID`.
pub fn parse_event_id(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.trim().split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// How a reader ends when the gateway shuts down.
#[derive(Clone)]
pub struct Reader {
    pub store: Arc<EventStore>,
    pub stream: u64,
    pub after: u64,
    /// Send a priming event (an id with empty data) first.
    pub prime: bool,
    pub keepalive: Duration,
    /// Fires when the gateway shuts down: the stream ends with `retry:`. For POST streams it fires
    /// only after the drain period, so in-flight calls can still answer.
    pub shutdown: CancellationToken,
}

struct ReaderState {
    r: Reader,
    pending: VecDeque<Bytes>,
    done: bool,
    /// When this stream last carried anything: keep-alives are due `keepalive` after it, however
    /// often other streams of the session wake this reader.
    last_sent: tokio::time::Instant,
}

impl Drop for ReaderState {
    fn drop(&mut self) {
        if self.r.stream == STANDALONE {
            self.r.store.detach_standalone();
        }
    }
}

/// The SSE byte stream of one reader.
pub fn sse_body(r: Reader) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    let mut first = Vec::new();
    if r.prime && r.store.resumable {
        sse::encode_event(&mut first, Some(&event_id(r.stream, r.after)), None, b"");
    }
    let mut pending = VecDeque::new();
    if !first.is_empty() {
        pending.push_back(Bytes::from(first));
    }
    futures::stream::unfold(
        ReaderState {
            r,
            pending,
            done: false,
            last_sent: tokio::time::Instant::now(),
        },
        |mut st| async move {
            loop {
                if let Some(b) = st.pending.pop_front() {
                    return Some((Ok(b), st));
                }
                if st.done {
                    return None;
                }
                let store = st.r.store.clone();
                let notified = store.notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                match st.r.store.take(st.r.stream, st.r.after) {
                    Err(()) => {
                        tracing::debug!(
                            stream = st.r.stream,
                            "reader fell behind the event buffer; stream closed"
                        );
                        return None;
                    }
                    Ok((events, finished)) => {
                        if !events.is_empty() {
                            let mut buf =
                                Vec::with_capacity(events.iter().map(|e| e.1.len() + 40).sum());
                            for (seq, data) in events {
                                let id = st.r.store.resumable.then(|| event_id(st.r.stream, seq));
                                sse::encode_event(&mut buf, id.as_deref(), Some("message"), &data);
                                st.r.after = seq;
                            }
                            st.last_sent = tokio::time::Instant::now();
                            return Some((Ok(Bytes::from(buf)), st));
                        }
                        if finished {
                            return None;
                        }
                    }
                }
                tokio::select! {
                    _ = &mut notified => {}
                    _ = tokio::time::sleep_until(st.last_sent + st.r.keepalive) => {
                        let mut buf = Vec::new();
                        sse::encode_comment(&mut buf, "keepalive");
                        st.last_sent = tokio::time::Instant::now();
                        return Some((Ok(Bytes::from(buf)), st));
                    }
                    _ = st.r.shutdown.cancelled() => {
                        st.done = true;
                        if st.r.store.resumable {
                            let mut buf = Vec::new();
                            sse::encode_retry(&mut buf, RETRY_MS);
                            st.pending.push_back(Bytes::from(buf));
                        }
                    }
                    _ = st.r.store.closed.cancelled() => {
                        st.done = true;
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn reader(store: &Arc<EventStore>, stream: u64, after: u64) -> Reader {
        Reader {
            store: store.clone(),
            stream,
            after,
            prime: true,
            keepalive: Duration::from_secs(30),
            shutdown: CancellationToken::new(),
        }
    }

    #[tokio::test]
    async fn replays_one_stream_after_an_id() {
        let store = EventStore::new(16, true);
        let s = store.open_stream();
        store.push(s, Bytes::from_static(b"{\"a\":1}"));
        store.push(STANDALONE, Bytes::from_static(b"{\"other\":1}"));
        store.push(s, Bytes::from_static(b"{\"a\":2}"));
        store.finish(s);
        let all: Vec<u8> = sse_body(reader(&store, s, 0))
            .map(|b| b.unwrap().to_vec())
            .concat()
            .await;
        let text = String::from_utf8(all).unwrap();
        assert!(text.starts_with("id: 1-0\ndata: \n\n"), "{text}");
        assert!(text.contains("id: 1-1\nevent: message\ndata: {\"a\":1}"));
        assert!(text.contains("id: 1-3\nevent: message\ndata: {\"a\":2}"));
        assert!(!text.contains("other"));
        let resumed: Vec<u8> = sse_body(reader(&store, s, 1))
            .map(|b| b.unwrap().to_vec())
            .concat()
            .await;
        let text = String::from_utf8(resumed).unwrap();
        assert!(!text.contains("{\"a\":1}") && text.contains("{\"a\":2}"));
    }

    #[tokio::test]
    async fn a_reader_that_fell_behind_loses_its_stream() {
        let store = EventStore::new(2, true);
        let s = store.open_stream();
        for i in 0..5 {
            store.push(s, Bytes::from(format!("{{\"n\":{i}}}")));
        }
        let mut r = reader(&store, s, 0);
        r.prime = false;
        let got: Vec<_> = sse_body(r).collect().await;
        assert!(got.is_empty());
    }

    #[test]
    fn event_ids_round_trip() {
        assert_eq!(parse_event_id(&event_id(3, 99)), Some((3, 99)));
        assert_eq!(parse_event_id("x"), None);
    }
}
