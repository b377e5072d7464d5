//! OTLP export, off the request path: finished spans arrive on a bounded channel (a full one
//! drops and counts, never blocks), and a thread of its own batches them and sends each batch
//! as one `ExportTraceServiceRequest`, over HTTP/protobuf (a POST to `…/v1/traces`) or gRPC
//! (the unary `TraceService/Export` over HTTP/2, length-prefixed framing). A batch that cannot
//! be delivered is counted and dropped: tracing is best effort and never holds memory for a
//! collector that is down.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use prost::Message as _;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use switchboard_config::{OtlpProtocol, TelemetryConfig};
use tokio::sync::{mpsc, oneshot};

use crate::proto;

/// Spans waiting for export at most; more are dropped and counted.
pub const QUEUE: usize = 2048;
/// Spans per export request at most.
pub const BATCH: usize = 512;
/// How long a span waits for its batch to fill before it is sent anyway.
pub const INTERVAL: Duration = Duration::from_secs(1);

const GRPC_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// What the exporter counted, for logs and `/status`.
#[derive(Debug, Default)]
pub struct Stats {
    pub exported: AtomicU64,
    /// Spans dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Spans in batches the collector did not accept (or that could not reach it).
    pub failed: AtomicU64,
}

pub(crate) enum Command {
    Span(Box<proto::Span>),
    /// Send what is queued now, and say when done.
    Flush(oneshot::Sender<()>),
}

/// Starts the exporter thread; it ends when every sender is dropped.
pub(crate) fn start(
    cfg: &TelemetryConfig,
    stats: Arc<Stats>,
) -> std::io::Result<mpsc::Sender<Command>> {
    let (tx, rx) = mpsc::channel(QUEUE);
    // reqwest (built with `rustls-no-provider`) needs one even for plain http; a second install
    // is refused harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sender = Sender::new(cfg)?;
    let resource = proto::Resource {
        attributes: vec![
            proto::KeyValue::str("service.name", cfg.service_name.as_str()),
            proto::KeyValue::str("service.version", env!("CARGO_PKG_VERSION")),
            proto::KeyValue::str("telemetry.sdk.name", "switchboard"),
            proto::KeyValue::str("telemetry.sdk.language", "rust"),
        ],
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("switchboard-trace".into())
        .spawn(move || runtime.block_on(run(rx, sender, resource, stats)))?;
    Ok(tx)
}

async fn run(
    mut rx: mpsc::Receiver<Command>,
    sender: Sender,
    resource: proto::Resource,
    stats: Arc<Stats>,
) {
    let mut batch: Vec<proto::Span> = Vec::with_capacity(BATCH);
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reported_drops = 0;
    let mut failing = false;
    loop {
        let flushed = tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(Command::Span(s)) => {
                    batch.push(*s);
                    if batch.len() < BATCH {
                        continue;
                    }
                    None
                }
                Some(Command::Flush(done)) => Some(done),
                None => break,
            },
            _ = tick.tick() => {
                if batch.is_empty() {
                    continue;
                }
                None
            }
        };
        export(&sender, &resource, &mut batch, &stats, &mut failing).await;
        let dropped = stats.dropped.load(Ordering::Relaxed);
        if dropped > reported_drops {
            tracing::warn!(
                dropped = dropped - reported_drops,
                "trace export queue full: spans dropped"
            );
            reported_drops = dropped;
        }
        if let Some(done) = flushed {
            let _ = done.send(());
        }
    }
    export(&sender, &resource, &mut batch, &stats, &mut failing).await;
}

async fn export(
    sender: &Sender,
    resource: &proto::Resource,
    batch: &mut Vec<proto::Span>,
    stats: &Stats,
    failing: &mut bool,
) {
    if batch.is_empty() {
        return;
    }
    let n = batch.len() as u64;
    let request = proto::ExportTraceServiceRequest {
        resource_spans: vec![proto::ResourceSpans {
            resource: Some(resource.clone()),
            scope_spans: vec![proto::ScopeSpans {
                scope: Some(proto::InstrumentationScope {
                    name: "switchboard".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                }),
                spans: std::mem::take(batch),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    match sender.send(request.encode_to_vec()).await {
        Ok(()) => {
            stats.exported.fetch_add(n, Ordering::Relaxed);
            if *failing {
                tracing::info!("trace export to {} works again", sender.url);
                *failing = false;
            }
        }
        Err(e) => {
            stats.failed.fetch_add(n, Ordering::Relaxed);
            // Said once per outage, not per batch.
            if !*failing {
                tracing::warn!(
                    "trace export to {} failed ({e}); {n} spans dropped",
                    sender.url
                );
                *failing = true;
            }
        }
    }
}

/// One protocol's way of sending a batch.
struct Sender {
    client: reqwest::Client,
    url: String,
    protocol: OtlpProtocol,
    headers: HeaderMap,
}

impl Sender {
    fn new(cfg: &TelemetryConfig) -> std::io::Result<Sender> {
        let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
        let mut headers = HeaderMap::new();
        for (k, v) in &cfg.otlp.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| invalid(format!("bad OTLP header name {k:?}")))?;
            let mut value = HeaderValue::from_str(v)
                .map_err(|_| invalid(format!("bad value for OTLP header {k:?}")))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let protocol = cfg.otlp.protocol;
        let url = match protocol {
            OtlpProtocol::HttpProtobuf => cfg.otlp.endpoint.clone(),
            OtlpProtocol::Grpc => format!("{}{GRPC_PATH}", cfg.otlp.endpoint.trim_end_matches('/')),
        };
        let builder = reqwest::Client::builder()
            .timeout(cfg.otlp.timeout)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none());
        let builder = match protocol {
            OtlpProtocol::HttpProtobuf => builder,
            OtlpProtocol::Grpc => builder.http2_prior_knowledge(),
        };
        let client = builder
            .build()
            .map_err(|e| invalid(format!("cannot build the OTLP client: {e}")))?;
        Ok(Sender {
            client,
            url,
            protocol,
            headers,
        })
    }

    async fn send(&self, body: Vec<u8>) -> Result<(), String> {
        match self.protocol {
            OtlpProtocol::HttpProtobuf => self.send_http(body).await,
            OtlpProtocol::Grpc => self.send_grpc(body).await,
        }
    }

    async fn send_http(&self, body: Vec<u8>) -> Result<(), String> {
        let resp = self
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/x-protobuf")
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        if status.is_success() {
            // A partial success is still a success for the batch; nothing to retry.
            Ok(())
        } else {
            Err(format!("HTTP {status}"))
        }
    }

    async fn send_grpc(&self, body: Vec<u8>) -> Result<(), String> {
        let len = u32::try_from(body.len()).map_err(|_| "batch too large".to_owned())?;
        let mut framed = Vec::with_capacity(5 + body.len());
        framed.push(0);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&body);
        let resp = self
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/grpc")
            .header("te", "trailers")
            .body(Bytes::from(framed))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        // A trailers-only answer carries `grpc-status` in the headers; otherwise it follows the
        // body as a trailer.
        let head = grpc_status(resp.headers());
        let http: reqwest::Response = resp;
        let collected = http_body_util::BodyExt::collect(reqwest::Body::from(http))
            .await
            .map_err(|e| e.to_string());
        let code = match head {
            Some(code) => Some(code),
            None => collected?.trailers().and_then(grpc_status),
        };
        match code {
            Some((0, _)) => Ok(()),
            Some((code, message)) => Err(format!("gRPC status {code}: {message}")),
            None => Err("no grpc-status in the answer".to_owned()),
        }
    }
}

fn grpc_status(headers: &HeaderMap) -> Option<(u32, String)> {
    let code = headers.get("grpc-status")?.to_str().ok()?.parse().ok()?;
    let message = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Some((code, message))
}
