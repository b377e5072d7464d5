//! A lean HTTP/1.1 client for plain `http://` upstreams: a pool of keep-alive connections.
//!
//! This is the gateway's hottest outbound path (one POST per proxied call), and a general-purpose
//! client costs more here than everything else the gateway does per call: re-checking the URL,
//! copying header maps, tower layers, and a hop to a spawned connection task and back. Here
//! everything fixed about a request (origin-form target, `Host`, the configured headers) is built
//! once per upstream, and a request borrows a whole connection for as long as its answer is read:
//! the request's own future drives hyper's connection state machine, so no task sits between the
//! caller and the socket and nothing is spawned.
//!
//! A connection goes back to the pool when its answer has been read to the end, and is handed out
//! again newest first (the one least likely to have been closed by the server meanwhile). An
//! answer dropped half-read takes its connection with it, which closes it: HTTP/1.1 cannot reuse a
//! connection with an unread answer on it. A request fails over to a fresh connection once, and
//! only when hyper hands it back unsent; one that may have reached the server is never repeated.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body as _, Incoming};
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper::header::{HOST, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::egress::EgressPolicy;
use crate::error::UpstreamError;
use switchboard_protocol::lock;

/// An idle connection older than this is closed rather than reused: servers close idle
/// keep-alive connections on their own schedules, and a request sent into one that the server is
/// closing fails without a way to know whether it was processed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle connections kept per upstream. Connections in use are not limited (one per request in
/// flight, like any HTTP/1.1 client); beyond this many idle ones, a returned connection is closed.
/// Generous on purpose: a bound near the number of calls in flight closes and reopens
/// connections all the time (at 256 calls in flight a bound of 64 had a quarter of all calls
/// open a new connection); the idle timeout is what gives the sockets back after a burst.
const MAX_IDLE: usize = 1024;

type Driver = Connection<TokioIo<TcpStream>, Full<Bytes>>;

/// Where the upstream lives and what every request to it carries.
pub(crate) struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    /// The host as configured (an IP address, or a name resolved for each new connection),
    /// for connecting and for error messages.
    host: Box<str>,
    port: u16,
    /// The origin-form request target (`/mcp?x=y`).
    target: Uri,
    /// `Host` and the configured headers, added to every request that does not set them itself.
    base: HeaderMap,
    builder: http1::Builder,
    idle: Mutex<Vec<Idle>>,
    /// Checks every address the host resolves to, at every new connection.
    egress: EgressPolicy,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

impl Pool {
    /// `host` and `port` to connect to; `authority` for the `Host` header; `target` in origin form.
    pub(crate) fn new(
        host: &str,
        port: u16,
        authority: &str,
        target: &str,
        headers: HeaderMap,
        egress: EgressPolicy,
    ) -> Result<Pool, UpstreamError> {
        let target = Uri::try_from(target)
            .map_err(|e| UpstreamError::Unavailable(format!("bad request target {target}: {e}")))?;
        let mut base = headers;
        let host_value = HeaderValue::from_str(authority)
            .map_err(|e| UpstreamError::Unavailable(format!("bad host {authority}: {e}")))?;
        base.entry(HOST).or_insert(host_value);
        Ok(Pool {
            shared: Arc::new(Shared {
                host: host.into(),
                port,
                target,
                base,
                builder: http1::Builder::new(),
                idle: Mutex::new(Vec::new()),
                egress,
            }),
        })
    }

    /// Sends one request and returns its answer once the head has arrived; the body is read
    /// through [`Body`], which keeps the connection until the end.
    pub(crate) async fn send(
        &self,
        method: Method,
        mut headers: HeaderMap,
        body: Bytes,
    ) -> Result<(Response<()>, Body), String> {
        for (name, value) in &self.shared.base {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = method;
        *req.uri_mut() = self.shared.target.clone();
        *req.headers_mut() = headers;

        let mut pooled = self.checkout();
        loop {
            let fresh = pooled.is_none();
            let mut conn = match pooled.take() {
                Some(c) => c,
                None => self.connect().await?,
            };
            match conn.request(req).await {
                Ok(resp) => {
                    let (parts, incoming) = resp.into_parts();
                    let body = Body {
                        conn: Some(conn),
                        incoming,
                        pool: self.shared.clone(),
                    };
                    return Ok((Response::from_parts(parts, ()), body));
                }
                Err(Failed::Unsent(back, _)) if !fresh => {
                    // A pooled connection the server had closed. Whatever closed it (a restart,
                    // an idle timeout) has closed the older idle ones too.
                    let dead = std::mem::take(&mut *lock(&self.shared.idle));
                    drop(dead);
                    req = *back;
                }
                Err(Failed::Unsent(_, e) | Failed::Sent(e)) => return Err(e),
            }
        }
    }

    /// The newest idle connection that is still usable, if any.
    fn checkout(&self) -> Option<Conn> {
        loop {
            let mut entry = lock(&self.shared.idle).pop()?;
            if entry.since.elapsed() >= IDLE_TIMEOUT {
                continue;
            }
            // Reads whatever arrived while it sat idle: a server's close shows up here, and the
            // request goes to a live connection instead of failing over.
            entry.conn.drive(&mut Context::from_waker(Waker::noop()));
            if entry.conn.is_open() {
                return Some(entry.conn);
            }
        }
    }

    async fn connect(&self) -> Result<Conn, String> {
        let where_to = || format!("connect to {}:{}", self.shared.host, self.shared.port);
        // Resolved (and every address checked) for each new connection, so a name re-pointed
        // at a refused address after start is caught here.
        let connect = async {
            let addrs: Vec<SocketAddr> = self
                .shared
                .egress
                .resolve(&self.shared.host, self.shared.port)
                .await
                .map_err(std::io::Error::other)?;
            TcpStream::connect(&addrs[..]).await
        };
        // The upstream's `connect_timeout` (the same as its TLS client's).
        let limit = self.shared.egress.connect_timeout();
        let stream = tokio::time::timeout(limit, connect)
            .await
            .map_err(|_| format!("{}: timed out after {limit:?}", where_to()))?
            .map_err(|e| format!("{}: {e}", where_to()))?;
        // Requests are small and written whole: waiting to coalesce them only adds latency.
        let _ = stream.set_nodelay(true);
        let (sender, driver) = self
            .shared
            .builder
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("{}: {}", where_to(), super::error_chain(&e)))?;
        Ok(Conn {
            sender,
            driver: Some(Box::pin(driver)),
            failure: None,
        })
    }
}

/// One keep-alive connection: the handle requests are sent through and hyper's state machine
/// for it, which whoever holds the connection polls.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    /// `None` once the connection has finished (closed by either side, or failed).
    driver: Option<Pin<Box<Driver>>>,
    /// Why it failed, when it did: a clearer reason than what the request itself is told.
    failure: Option<String>,
}

enum Failed {
    /// hyper gave the request back: it was never written to the connection. (Boxed: this is
    /// the rare case, and the common one should stay small.)
    Unsent(Box<Request<Full<Bytes>>>, String),
    /// It may have reached the server.
    Sent(String),
}

impl Conn {
    /// Moves the connection along: writes what is queued, reads what has arrived. A finished
    /// connection's driver is dropped, which fails whatever is still queued on it (hyper hands
    /// those requests back as unsent).
    fn drive(&mut self, cx: &mut Context<'_>) {
        if let Some(driver) = self.driver.as_mut()
            && let Poll::Ready(done) = driver.as_mut().poll(cx)
        {
            self.driver = None;
            self.failure = done.err().map(|e| super::error_chain(&e));
        }
    }

    /// The request's own error, or the connection's when it has one.
    fn why(&self, e: &hyper::Error) -> String {
        self.failure
            .clone()
            .unwrap_or_else(|| super::error_chain(e))
    }

    fn is_open(&self) -> bool {
        self.driver.is_some() && !self.sender.is_closed()
    }

    async fn request(&mut self, req: Request<Full<Bytes>>) -> Result<Response<Incoming>, Failed> {
        let ready = poll_fn(|cx| {
            self.drive(cx);
            self.sender.poll_ready(cx)
        })
        .await;
        if let Err(e) = ready {
            return Err(Failed::Unsent(Box::new(req), self.why(&e)));
        }
        let mut answer = std::pin::pin!(self.sender.try_send_request(req));
        let answer = poll_fn(|cx| {
            self.drive(cx);
            answer.as_mut().poll(cx)
        })
        .await;
        answer.map_err(|mut e| {
            let why = self.why(e.error());
            match e.take_message() {
                Some(req) => Failed::Unsent(Box::new(req), why),
                None => Failed::Sent(why),
            }
        })
    }
}

/// The body of an answer. Holds its connection until the end, then returns it to the pool.
/// Dropped before the end, it closes the connection.
pub(crate) struct Body {
    conn: Option<Conn>,
    incoming: Incoming,
    pool: Arc<Shared>,
}

impl Body {
    /// The next piece of the body; `None` at its end.
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>, String> {
        loop {
            if self.incoming.is_end_stream() {
                self.release();
                return Ok(None);
            }
            let frame = poll_fn(|cx| {
                if let Some(conn) = self.conn.as_mut() {
                    conn.drive(cx);
                }
                Pin::new(&mut self.incoming).poll_frame(cx)
            })
            .await;
            match frame {
                None => {
                    self.release();
                    return Ok(None);
                }
                Some(Err(e)) => {
                    self.conn = None;
                    return Err(super::error_chain(&e));
                }
                Some(Ok(frame)) => {
                    // Trailers carry nothing an MCP answer needs.
                    if let Ok(data) = frame.into_data() {
                        if self.incoming.is_end_stream() {
                            self.release();
                        }
                        return Ok(Some(data));
                    }
                }
            }
        }
    }

    /// Puts the connection back for the next request, unless it has closed (or is closing, as
    /// after `Connection: close`) or enough are idle already.
    fn release(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        // One poll without a waker to care about lets hyper finish the exchange (and notice a
        // close); whoever takes the connection next polls it with their own.
        conn.drive(&mut Context::from_waker(Waker::noop()));
        if !conn.is_open() {
            return;
        }
        let now = Instant::now();
        let mut idle = lock(&self.pool.idle);
        // Newest last, so the expired ones are a prefix. Nobody else would look at them: the
        // newest are handed out first. (Closed after the lock is released.)
        let stale = idle
            .iter()
            .take_while(|e| now.duration_since(e.since) >= IDLE_TIMEOUT)
            .count();
        let expired: Vec<Idle> = idle.drain(..stale).collect();
        let surplus = if idle.len() < MAX_IDLE {
            idle.push(Idle { conn, since: now });
            None
        } else {
            Some(conn)
        };
        drop(idle);
        drop((expired, surplus));
    }
}

impl Drop for Body {
    /// An answer with nothing left to read (a `202` nobody reads, say) returns its connection;
    /// one dropped half-read closes it.
    fn drop(&mut self) {
        if self.incoming.is_end_stream() {
            self.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A tiny HTTP/1.1 server on a real socket: it answers `{}` to the first `answer` requests on
    /// each connection, then reads one more request (if any) and closes without answering.
    /// Returns the pool's port, the number of requests it has read and the number of
    /// connections it has accepted.
    async fn server(answer: usize) -> (u16, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        let connections = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                let seen = counter.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    for n in 0.. {
                        // Read one request: a head, then a body of its content-length.
                        let head_end = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break i + 4;
                            }
                            let mut chunk = [0u8; 4096];
                            match sock.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(k) => buf.extend_from_slice(&chunk[..k]),
                            }
                        };
                        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        while buf.len() < head_end + len {
                            let mut chunk = [0u8; 4096];
                            match sock.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(k) => buf.extend_from_slice(&chunk[..k]),
                            }
                        }
                        buf.drain(..head_end + len);
                        seen.fetch_add(1, Ordering::SeqCst);
                        if n >= answer {
                            return;
                        }
                        let reply = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                        if sock.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (port, seen, accepted)
    }

    fn pool(port: u16) -> Pool {
        let authority = format!("127.0.0.1:{port}");
        Pool::new(
            "127.0.0.1",
            port,
            &authority,
            "/mcp",
            HeaderMap::new(),
            EgressPolicy::strict().allow_loopback(true),
        )
        .unwrap()
    }

    async fn post(pool: &Pool) -> Result<Bytes, String> {
        let (head, mut body) = pool
            .send(Method::POST, HeaderMap::new(), Bytes::from_static(b"{}"))
            .await?;
        assert_eq!(head.status(), 200);
        let mut all = Vec::new();
        while let Some(c) = body.chunk().await? {
            all.extend_from_slice(&c);
        }
        Ok(Bytes::from(all))
    }

    #[tokio::test]
    async fn a_read_answer_returns_its_connection_for_the_next_request() {
        let (port, seen, accepted) = server(usize::MAX).await;
        let pool = pool(port);
        for _ in 0..5 {
            assert_eq!(post(&pool).await.unwrap(), "{}");
        }
        assert_eq!(seen.load(Ordering::SeqCst), 5);
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "one connection, reused");
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_not_used_again() {
        // Each connection answers once; the next request on it is read and dropped unanswered.
        let (port, seen, _) = server(1).await;
        let pool = pool(port);
        assert_eq!(post(&pool).await.unwrap(), "{}");
        // The server has not closed yet: a request sent now reaches it, and is not repeated
        // when the connection then closes unanswered.
        let err = post(&pool).await.unwrap_err();
        assert!(err.contains("closed"), "{err}");
        assert_eq!(seen.load(Ordering::SeqCst), 2, "sent once, never again");
        // The failed connection is gone; the next request gets a fresh one.
        assert_eq!(post(&pool).await.unwrap(), "{}");
        assert_eq!(seen.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn an_idle_connection_closed_by_the_server_is_replaced_before_sending() {
        // Each connection answers once, and is closed by the server when it is dropped.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(2).any(|w| w == b"{}") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(k) => got.extend_from_slice(&buf[..k]),
                    }
                }
                let reply = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
                let _ = sock.write_all(reply.as_bytes()).await;
                // `sock` drops here: the server closes the keep-alive connection.
            }
        });
        let pool = pool(port);
        assert_eq!(post(&pool).await.unwrap(), "{}");
        // Let the close arrive while the connection sits idle.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(post(&pool).await.unwrap(), "{}");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn connecting_nowhere_names_the_address() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = post(&pool(port)).await.unwrap_err();
        assert!(
            err.starts_with(&format!("connect to 127.0.0.1:{port}: ")),
            "{err}"
        );
    }
}
