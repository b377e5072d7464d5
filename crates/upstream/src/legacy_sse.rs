//! Upstreams that speak the 2024-11-05 HTTP+SSE transport.
//!
//! The client opens one GET stream; its first `endpoint` event names the URL to POST messages to,
//! and every server message (responses included) arrives as a `message` event on that stream. That
//! makes it a single ordered pipe, like stdio: a writer task POSTs queued messages in order and a
//! reader task delivers the stream's events. When the stream ends the connection is closed.

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use switchboard_protocol::Message;
use switchboard_protocol::sse::{Event, Parser};
use tokio::sync::mpsc;

use crate::error::UpstreamError;
use crate::http::{HttpSpec, error_chain, reqwest_client};
use crate::transport::{Link, Outbound, SendError, Transport};
use switchboard_protocol::lock;

/// A legacy SSE upstream: the queue its writer task POSTs in order, and the tasks to end.
pub(crate) struct SseTransport {
    outgoing: mpsc::Sender<Bytes>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Transport for SseTransport {
    async fn send_request(&self, _id: u64, body: Bytes, _: Outbound<'_>) -> Result<(), SendError> {
        self.send(body).await
    }

    async fn send(&self, body: Bytes) -> Result<(), SendError> {
        self.outgoing
            .send(body)
            .await
            .map_err(|_| SendError::Closed)
    }

    fn shared_pipe(&self) -> bool {
        true
    }

    async fn close(&self) {
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
    }
}

pub(crate) async fn start(spec: &HttpSpec, link: Link) -> Result<SseTransport, UpstreamError> {
    let client = reqwest_client(&spec.headers, &spec.egress)?;
    let base = reqwest::Url::parse(&spec.url).map_err(|e| {
        UpstreamError::Unavailable(format!(
            "bad url {}: {e}",
            crate::egress::display_url_str(&spec.url)
        ))
    })?;
    spec.egress
        .check_url(&base)
        .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
    let shown = crate::egress::display_url(&base);
    let token = spec.token.clone();
    let mut get = client.get(base.clone()).header(ACCEPT, "text/event-stream");
    if let Some(t) = &token {
        get = get.header(
            AUTHORIZATION,
            t.authorization()
                .await
                .map_err(UpstreamError::Unavailable)?,
        );
    }
    let resp = get.send().await.map_err(|e| {
        UpstreamError::Unavailable(format!("GET {shown}: {}", error_chain(&e.without_url())))
    })?;
    if !resp.status().is_success() {
        return Err(UpstreamError::Unavailable(format!(
            "GET {shown}: HTTP {}",
            resp.status()
        )));
    }
    let max = link.max_message_bytes;
    let mut body = resp.bytes_stream();
    let mut parser = Parser::new(max);
    let mut events: Vec<Event> = Vec::new();
    // The first thing on the stream must be the endpoint to POST to.
    let endpoint = tokio::time::timeout(link.timeout, async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| UpstreamError::Unavailable(error_chain(&e)))?;
            parser
                .feed(&chunk, &mut events)
                .map_err(|e| UpstreamError::Protocol(e.to_string()))?;
            if let Some(pos) = events.iter().position(|e| e.event == "endpoint") {
                let ev = events.remove(pos);
                return base
                    .join(ev.data.trim())
                    .map_err(|e| UpstreamError::Protocol(format!("bad endpoint event: {e}")));
            }
        }
        Err(UpstreamError::Unavailable(
            "stream ended before the endpoint event".into(),
        ))
    })
    .await
    .map_err(|_| UpstreamError::Unavailable("no endpoint event within the timeout".into()))??;
    if endpoint.origin() != base.origin() {
        return Err(UpstreamError::Protocol(format!(
            "endpoint {} is on another origin than {shown}; refused",
            crate::egress::display_url(&endpoint)
        )));
    }

    let (tx, mut rx) = mpsc::channel::<Bytes>(256);
    let name = link.name.clone();
    let writer_link = link.clone();
    let shown_endpoint = crate::egress::display_url(&endpoint);
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            let mut post = client
                .post(endpoint.clone())
                .header(CONTENT_TYPE, "application/json")
                .body(msg)
                .timeout(Duration::from_secs(30));
            if let Some(t) = &token {
                match t.authorization().await {
                    Ok(v) => post = post.header(AUTHORIZATION, v),
                    Err(reason) => {
                        tracing::warn!(upstream = %name, "{reason}");
                        if let Some(sink) = writer_link.sink() {
                            sink.transport_closed(reason);
                        }
                        return;
                    }
                }
            }
            let r = post.send().await;
            let failed = match r {
                Ok(resp) if resp.status().is_success() => None,
                Ok(resp) => Some(format!("POST {shown_endpoint}: HTTP {}", resp.status())),
                Err(e) => Some(format!(
                    "POST {shown_endpoint}: {}",
                    error_chain(&e.without_url())
                )),
            };
            if let Some(reason) = failed {
                tracing::warn!(upstream = %name, "{reason}");
                if let Some(sink) = writer_link.sink() {
                    sink.transport_closed(reason);
                }
                return;
            }
        }
    });
    let reader = tokio::spawn(async move {
        let deliver = |events: &mut Vec<Event>| -> bool {
            let Some(sink) = link.sink() else {
                return false;
            };
            for ev in events.drain(..) {
                if ev.event != "message" || ev.data.trim().is_empty() {
                    continue;
                }
                match Message::parse(Bytes::from(ev.data)) {
                    Ok(m) => sink.deliver(m, None),
                    Err(e) => {
                        tracing::warn!(upstream = %link.name, "skipped an SSE event that is not JSON-RPC: {e}")
                    }
                }
            }
            true
        };
        if !deliver(&mut events) {
            return;
        }
        let reason = loop {
            match body.next().await {
                Some(Ok(chunk)) => {
                    if let Err(e) = parser.feed(&chunk, &mut events) {
                        break e.to_string();
                    }
                    if !deliver(&mut events) {
                        return;
                    }
                }
                Some(Err(e)) => break format!("stream failed: {}", error_chain(&e)),
                None => break "stream ended".to_owned(),
            }
        };
        if let Some(sink) = link.sink() {
            sink.transport_closed(reason);
        }
    });
    Ok(SseTransport {
        outgoing: tx,
        tasks: Mutex::new(vec![writer, reader]),
    })
}
