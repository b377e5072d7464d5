//! One Streamable HTTP client: a keep-alive HTTP/1.1 connection (TCP_NODELAY) and the MCP
//! session it currently speaks for.
//!
//! Each client task owns one connection and reconnects when the server closes it. Requests carry
//! `Accept: application/json, text/event-stream`, the session's `Mcp-Session-Id` and, after
//! `initialize`, `MCP-Protocol-Version`; answers are read whole, as JSON or as an SSE stream.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::sse;
use crate::jsonrpc::{self, Envelope, LATEST_REVISION, MODERN_REVISION};
use crate::loopback::HttpTarget;

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";
/// Largest response body read.
const MAX_RESPONSE: usize = 256 << 20;

/// An HTTP answer: status, content type, session header and the whole body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub sse: bool,
    pub session: Option<HeaderValue>,
    pub body: Bytes,
}

/// One connection to a Streamable HTTP endpoint.
pub struct HttpClient {
    target: Arc<HttpTarget>,
    host: HeaderValue,
    authorization: Option<HeaderValue>,
    /// Boxed: rarely set, and it would make every client larger.
    idempotency_key: Option<Box<HeaderValue>>,
    sender: Option<SendRequest<Full<Bytes>>>,
    session: Option<HeaderValue>,
    next_id: u64,
    timeout: Duration,
    /// 2026-07-28: no session; every POST mirrors its method (and tool name) in headers.
    modern: bool,
}

impl HttpClient {
    /// Opens the connection.
    pub async fn connect(target: Arc<HttpTarget>, timeout: Duration) -> Result<HttpClient, String> {
        let host = HeaderValue::from_str(&target.host).map_err(|e| e.to_string())?;
        let authorization = match &target.authorization {
            Some(a) => Some(HeaderValue::from_str(a).map_err(|e| e.to_string())?),
            None => None,
        };
        let idempotency_key = match &target.idempotency_key {
            Some(k) => Some(Box::new(
                HeaderValue::from_str(k).map_err(|e| e.to_string())?,
            )),
            None => None,
        };
        let mut c = HttpClient {
            target,
            host,
            authorization,
            idempotency_key,
            sender: None,
            session: None,
            next_id: 1,
            timeout,
            modern: false,
        };
        c.reconnect().await?;
        Ok(c)
    }

    /// Opens the connection for a 2026-07-28 client (no session).
    pub async fn connect_modern(
        target: Arc<HttpTarget>,
        timeout: Duration,
    ) -> Result<HttpClient, String> {
        let mut c = HttpClient::connect(target, timeout).await?;
        c.modern = true;
        Ok(c)
    }

    async fn reconnect(&mut self) -> Result<(), String> {
        self.sender = None;
        let stream = TcpStream::connect(self.target.addr)
            .await
            .map_err(|e| format!("connect {}: {e}", self.target.addr))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        // The connection task ends when the sender is dropped or the server closes.
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.sender = Some(sender);
        Ok(())
    }

    /// Closes the connection (sessions live on in the server).
    pub fn disconnect(&mut self) {
        self.sender = None;
    }

    /// The session later requests speak for.
    pub fn use_session(&mut self, session: HeaderValue) {
        self.session = Some(session);
    }

    pub fn session(&self) -> Option<&HeaderValue> {
        self.session.as_ref()
    }

    fn request(
        &self,
        method: Method,
        body: Bytes,
        session: Option<&HeaderValue>,
        versioned: bool,
        mirrored: Option<(&str, Option<&str>)>,
    ) -> Result<Request<Full<Bytes>>, String> {
        let mut req = Request::builder()
            .method(method)
            .uri(self.target.path.as_str())
            .header(HOST, self.host.clone())
            .header(ACCEPT, "application/json, text/event-stream")
            .header(CONTENT_TYPE, "application/json");
        if let Some(s) = session {
            req = req.header(SESSION_HEADER, s.clone());
        }
        if let Some(a) = &self.authorization {
            req = req.header(hyper::header::AUTHORIZATION, a.clone());
        }
        if let Some(k) = &self.idempotency_key {
            req = req.header("idempotency-key", (**k).clone());
        }
        if let Some((mcp_method, name)) = mirrored {
            req = req
                .header(VERSION_HEADER, MODERN_REVISION)
                .header("mcp-method", mcp_method);
            if let Some(n) = name {
                req = req.header("mcp-name", n);
            }
        } else if versioned {
            req = req.header(VERSION_HEADER, LATEST_REVISION);
        }
        req.body(Full::new(body)).map_err(|e| e.to_string())
    }

    /// Sends one request and reads the whole answer, reconnecting once if the connection is gone.
    pub async fn send(
        &mut self,
        method: Method,
        body: Bytes,
        session: Option<&HeaderValue>,
        versioned: bool,
        mirrored: Option<(&str, Option<&str>)>,
    ) -> Result<Answer, String> {
        match tokio::time::timeout(
            self.timeout,
            self.send_inner(method, body, session, versioned, mirrored),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => {
                // The connection may hold a half-read answer: start afresh next time.
                self.sender = None;
                Err(format!("no answer within {:?}", self.timeout))
            }
        }
    }

    async fn send_inner(
        &mut self,
        method: Method,
        body: Bytes,
        session: Option<&HeaderValue>,
        versioned: bool,
        mirrored: Option<(&str, Option<&str>)>,
    ) -> Result<Answer, String> {
        let ready = match self.sender.as_mut() {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        if !ready {
            self.reconnect().await?;
        }
        let req = self.request(method, body, session, versioned, mirrored)?;
        let Some(sender) = self.sender.as_mut() else {
            return Err("not connected".into());
        };
        let resp = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                self.sender = None;
                return Err(format!("HTTP: {e}"));
            }
        };
        let (parts, body) = resp.into_parts();
        let body = match Limited::new(body, MAX_RESPONSE).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                self.sender = None;
                return Err(format!("reading the answer: {e}"));
            }
        };
        let sse = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
        Ok(Answer {
            status: parts.status,
            sse,
            session: parts.headers.get(SESSION_HEADER).cloned(),
            body,
        })
    }

    /// Creates a session: `initialize`, then `notifications/initialized`. Returns its id.
    pub async fn initialize(&mut self) -> Result<HeaderValue, String> {
        let body = jsonrpc::request(0, "initialize", Some(&jsonrpc::initialize_params()));
        let a = self
            .send(Method::POST, Bytes::from(body), None, false, None)
            .await?;
        if a.status != StatusCode::OK {
            return Err(format!("initialize: HTTP {}", a.status));
        }
        let msg = message(&a, 0)?;
        let env = Envelope::parse(&msg).map_err(|e| format!("initialize: {e}"))?;
        if env.result.is_none() {
            return Err(format!(
                "initialize failed: {}",
                String::from_utf8_lossy(&msg[..msg.len().min(200)])
            ));
        }
        let session = a
            .session
            .ok_or_else(|| "initialize: no Mcp-Session-Id in the answer".to_owned())?;
        let note = jsonrpc::notification("notifications/initialized");
        let a = self
            .send(Method::POST, Bytes::from(note), Some(&session), true, None)
            .await?;
        if a.status != StatusCode::ACCEPTED && a.status != StatusCode::OK {
            return Err(format!("notifications/initialized: HTTP {}", a.status));
        }
        Ok(session)
    }

    /// Ends a session (DELETE), best effort.
    pub async fn delete(&mut self, session: &HeaderValue) {
        let _ = self
            .send(Method::DELETE, Bytes::new(), Some(session), true, None)
            .await;
    }

    /// One request in the current session; returns the id used and the response message.
    pub async fn exchange(
        &mut self,
        method: &str,
        params: Option<&str>,
        name: Option<&str>,
    ) -> Result<(u64, Bytes), String> {
        let id = self.next_id;
        self.next_id += 1;
        let body = Bytes::from(jsonrpc::request(id, method, params));
        let session = self.session.clone();
        let a = self
            .send(
                Method::POST,
                body,
                session.as_ref(),
                true,
                self.modern.then_some((method, name)),
            )
            .await?;
        if a.status != StatusCode::OK {
            return Err(format!(
                "HTTP {}: {}",
                a.status,
                String::from_utf8_lossy(&a.body[..a.body.len().min(200)])
            ));
        }
        Ok((id, message(&a, id)?))
    }
}

/// The response message in an answer: the body itself, or the matching event of an SSE stream.
fn message(a: &Answer, id: u64) -> Result<Bytes, String> {
    if a.sse {
        sse::response(&a.body, id)
            .ok_or_else(|| format!("SSE stream ended without the response to {id}"))
    } else {
        Ok(a.body.clone())
    }
}
