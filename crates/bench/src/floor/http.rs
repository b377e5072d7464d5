//! The HTTP floor: hyper's HTTP/1.1 server in front of a pool of hyper HTTP/1.1 client
//! connections to one upstream, and nothing in between.
//!
//! Every request, whatever its path, goes to the upstream's path with the same method, every
//! header but `Host` (set to the upstream's authority) and its body, collected; the answer's
//! status, headers and body (collected) come back as they are. Anything that goes wrong is a 502
//! with a one-line text body.
//!
//! Upstream connections are kept alive in a pool and handed out newest first, and each is driven
//! by the future of the request holding it, with no connection task in between, as in the
//! gateway's own pool (`crates/upstream/src/http/pool.rs`) but much smaller: a pooled connection
//! that fails before its request was written is dropped and the request goes to a fresh one;
//! nothing else is retried.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self as client, Connection, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::http::{request, response};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

use crate::loopback::HttpTarget;

/// Largest request or answer body forwarded.
const MAX_BODY: usize = 64 << 20;
/// Idle upstream connections kept; beyond this many, a returned one is closed. (One is in use
/// per request in flight, so this is far above any benchmark's concurrency.)
const MAX_IDLE: usize = 1024;

type Driver = Connection<TokioIo<TcpStream>, Full<Bytes>>;

/// Forwards every request on `listener` to `upstream` until `lifetime` has passed.
pub async fn serve(
    listener: TcpListener,
    upstream: HttpTarget,
    lifetime: Duration,
) -> anyhow::Result<()> {
    let up = Arc::new(Upstream::new(&upstream)?);
    crate::http1::serve(
        listener,
        lifetime,
        "switchboard-floor",
        up,
        |up, req| async move { up.answer(req).await },
    )
    .await;
    Ok(())
}

/// The one upstream and its idle connections.
pub struct Upstream {
    addr: SocketAddr,
    /// The upstream's authority, for `Host`.
    host: HeaderValue,
    /// The upstream's path, every request's target.
    target: Uri,
    /// Newest last; handed out newest first.
    idle: Mutex<Vec<Conn>>,
}

impl Upstream {
    pub fn new(t: &HttpTarget) -> anyhow::Result<Upstream> {
        Ok(Upstream {
            addr: t.addr,
            host: HeaderValue::from_str(&t.host)?,
            target: Uri::try_from(t.path.as_str())?,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The upstream's answer to `req`, or a 502 saying why there is none.
    pub async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        match self.forward(req).await {
            Ok(r) => r,
            Err(why) => bad_gateway(&why),
        }
    }

    async fn forward(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, String> {
        let (head, body) = req.into_parts();
        let body = Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map_err(|e| format!("reading the request body: {}", chain(&*e)))?
            .to_bytes();
        let (parts, body) = self.send(self.outbound(head, body)).await?;
        Ok(Response::from_parts(parts, Full::new(body)))
    }

    /// The request to send upstream: the same method, headers and body, to the upstream's path
    /// with its `Host`.
    fn outbound(&self, head: request::Parts, body: Bytes) -> Request<Full<Bytes>> {
        let mut headers = head.headers;
        headers.insert(HOST, self.host.clone());
        let mut out = Request::new(Full::new(body));
        *out.method_mut() = head.method;
        *out.uri_mut() = self.target.clone();
        *out.headers_mut() = headers;
        out
    }

    /// Sends `req` on a pooled connection (or a fresh one) and reads the whole answer.
    pub async fn send(
        &self,
        mut req: Request<Full<Bytes>>,
    ) -> Result<(response::Parts, Bytes), String> {
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
                    // On an error the connection is dropped here, which closes it.
                    let body = conn.read(incoming).await?;
                    self.release(conn);
                    return Ok((parts, body));
                }
                // A pooled connection the upstream had closed, and the request never written
                // to it: once more on a fresh one.
                Err(Failed::Unsent(back, _)) if !fresh => req = *back,
                Err(Failed::Unsent(_, why) | Failed::Sent(why)) => return Err(why),
            }
        }
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Conn>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The newest idle connection that is still open, if any.
    fn checkout(&self) -> Option<Conn> {
        loop {
            let mut conn = self.idle().pop()?;
            // Reads whatever arrived while it sat idle, so an upstream's close shows up here.
            conn.drive(&mut Context::from_waker(Waker::noop()));
            if conn.is_open() {
                return Some(conn);
            }
        }
    }

    /// Puts a connection whose answer has been read back in the pool, if it is still open.
    fn release(&self, mut conn: Conn) {
        // Lets hyper finish the exchange (and notice a close); whoever takes the connection
        // next polls it with their own waker.
        conn.drive(&mut Context::from_waker(Waker::noop()));
        if !conn.is_open() {
            return;
        }
        let surplus = {
            let mut idle = self.idle();
            if idle.len() < MAX_IDLE {
                idle.push(conn);
                None
            } else {
                Some(conn)
            }
        };
        drop(surplus);
    }

    async fn connect(&self) -> Result<Conn, String> {
        let stream = super::connect(self.addr).await?;
        let (sender, driver) = client::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("connect to {}: {}", self.addr, chain(&e)))?;
        Ok(Conn {
            sender,
            driver: Some(Box::pin(driver)),
            failure: None,
        })
    }
}

/// One keep-alive upstream connection: the handle requests go through and hyper's state machine
/// for it, polled by whoever holds the connection.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    /// `None` once the connection has finished.
    driver: Option<Pin<Box<Driver>>>,
    /// Why it finished, when it failed.
    failure: Option<String>,
}

enum Failed {
    /// hyper gave the request back: it was never written.
    Unsent(Box<Request<Full<Bytes>>>, String),
    /// It may have reached the upstream.
    Sent(String),
}

impl Conn {
    /// Moves the connection along: writes what is queued, reads what has arrived.
    fn drive(&mut self, cx: &mut Context<'_>) {
        if let Some(driver) = self.driver.as_mut()
            && let Poll::Ready(done) = driver.as_mut().poll(cx)
        {
            self.driver = None;
            self.failure = done.err().map(|e| chain(&e));
        }
    }

    fn is_open(&self) -> bool {
        self.driver.is_some() && !self.sender.is_closed()
    }

    fn why(&self, e: &hyper::Error) -> String {
        self.failure.clone().unwrap_or_else(|| chain(e))
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

    /// The whole body of an answer, driving the connection meanwhile.
    async fn read(&mut self, incoming: Incoming) -> Result<Bytes, String> {
        let mut collect = std::pin::pin!(Limited::new(incoming, MAX_BODY).collect());
        let collected = poll_fn(|cx| {
            self.drive(cx);
            collect.as_mut().poll(cx)
        })
        .await;
        collected
            .map(|c| c.to_bytes())
            .map_err(|e| format!("reading the answer: {}", chain(&*e)))
    }
}

/// A 502 whose body is one line saying why.
fn bad_gateway(why: &str) -> Response<Full<Bytes>> {
    let line: String = why
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut r = Response::new(Full::new(Bytes::from(format!(
        "switchboard-floor: {line}\n"
    ))));
    *r.status_mut() = StatusCode::BAD_GATEWAY;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// An error and its sources, `: `-separated.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use hyper::Method;
    use hyper::service::service_fn;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn upstream(addr: SocketAddr) -> Upstream {
        Upstream::new(&HttpTarget::parse(&format!("http://{addr}/mcp")).unwrap()).unwrap()
    }

    fn ping() -> Request<Full<Bytes>> {
        let mut r = Request::new(Full::new(Bytes::from_static(b"ping")));
        *r.method_mut() = Method::POST;
        *r.uri_mut() = Uri::from_static("/mcp");
        r
    }

    #[test]
    fn forwards_everything_but_host_to_the_upstream_path() {
        let up = upstream("127.0.0.1:9".parse().unwrap());
        let (head, ()) = Request::builder()
            .method(Method::DELETE)
            .uri("/elsewhere?x=1")
            .header(HOST, "floor:1")
            .header("mcp-session-id", "s1")
            .header("x-many", "a")
            .header("x-many", "b")
            .body(())
            .unwrap()
            .into_parts();
        let out = up.outbound(head, Bytes::from_static(b"body"));
        assert_eq!(out.method(), Method::DELETE);
        assert_eq!(out.uri(), "/mcp");
        let h = out.headers();
        assert_eq!(h.get_all(HOST).iter().collect::<Vec<_>>(), ["127.0.0.1:9"]);
        assert_eq!(h["mcp-session-id"], "s1");
        assert_eq!(h.get_all("x-many").iter().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[tokio::test]
    async fn a_pooled_connection_the_upstream_closed_is_replaced() {
        // Each connection answers one request and is then closed by the upstream.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                while !got.ends_with(b"ping") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(k) => got.extend_from_slice(&buf[..k]),
                    }
                }
                let reply = "HTTP/1.1 200 OK\r\nx-from: up\r\ncontent-length: 2\r\n\r\n{}";
                let _ = sock.write_all(reply.as_bytes()).await;
            }
        });
        let up = upstream(addr);
        for n in 1..=3 {
            let (head, body) = up.send(ping()).await.unwrap();
            assert_eq!(head.status, 200);
            assert_eq!(head.headers["x-from"], "up");
            assert_eq!(body, "{}");
            assert_eq!(accepted.load(Ordering::SeqCst), n);
            // Let the close arrive while the connection sits idle.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn a_kept_alive_connection_is_reused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let svc = service_fn(|_req| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        let up = upstream(addr);
        for _ in 0..5 {
            let (head, body) = up.send(ping()).await.unwrap();
            assert_eq!(head.status, 200);
            assert_eq!(body, "{}");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "one connection, reused");
    }

    #[tokio::test]
    async fn nothing_listening_is_a_one_line_502() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let why = upstream(addr).send(ping()).await.unwrap_err();
        assert!(why.starts_with(&format!("connect to {addr}: ")), "{why}");
        let r = bad_gateway("a\nb");
        assert_eq!(r.status(), 502);
        let body = r.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "switchboard-floor: a b\n");
    }
}
