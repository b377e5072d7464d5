//! A local OTLP trace receiver for the tracing tests: a stand-in collector (no real one runs
//! offline), decoding every export with the official generated types (`opentelemetry-proto`),
//! so what switchboard encodes by hand is checked against the real schema. Speaks OTLP
//! HTTP/protobuf (HTTP/1.1 POST `/v1/traces`) or gRPC (`TraceService/Export` over h2c, the
//! answer's `grpc-status` in a trailer).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

/// One exported span with its resource's `service.name`.
#[derive(Debug, Clone)]
pub struct Got {
    pub service: String,
    pub span: Span,
}

impl Got {
    pub fn attr(&self, key: &str) -> Option<String> {
        let kv = self.span.attributes.iter().find(|kv| kv.key == key)?;
        match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            Value::IntValue(i) => Some(i.to_string()),
            Value::BoolValue(b) => Some(b.to_string()),
            other => Some(format!("{other:?}")),
        }
    }

    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    pub fn parent_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    Grpc,
}

/// The receiver; it runs until dropped with the test's runtime.
pub struct Receiver {
    pub addr: SocketAddr,
    spans: Arc<Mutex<Vec<Got>>>,
    /// Paths and content types of the requests received.
    pub requests: Arc<Mutex<Vec<(String, String)>>>,
}

impl Receiver {
    pub async fn start(protocol: Protocol) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let spans = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (s2, r2) = (spans.clone(), requests.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (spans, requests) = (s2.clone(), r2.clone());
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (spans, requests) = (spans.clone(), requests.clone());
                    async move { Ok::<_, Infallible>(handle(req, protocol, spans, requests).await) }
                });
                let io = TokioIo::new(stream);
                tokio::spawn(async move {
                    let _ = match protocol {
                        Protocol::Http => {
                            hyper::server::conn::http1::Builder::new()
                                .serve_connection(io, service)
                                .await
                        }
                        Protocol::Grpc => {
                            hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                                .serve_connection(io, service)
                                .await
                        }
                    };
                });
            }
        });
        Receiver {
            addr,
            spans,
            requests,
        }
    }

    /// The base URL (`OTEL_EXPORTER_OTLP_ENDPOINT` form).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn spans(&self) -> Vec<Got> {
        self.spans.lock().unwrap().clone()
    }

    /// Waits until `pred` holds for the spans received (the exporter sends once a second).
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.spans();
            if pred(&got) {
                return got;
            }
            assert!(
                Instant::now() < until,
                "timed out waiting for {what}; got {got:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn handle(
    req: Request<Incoming>,
    protocol: Protocol,
    spans: Arc<Mutex<Vec<Got>>>,
    requests: Arc<Mutex<Vec<(String, String)>>>,
) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let ctype = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    requests.lock().unwrap().push((path, ctype));
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let message = match protocol {
        Protocol::Http => body.clone(),
        // gRPC: a 5-byte prefix (compressed flag, big-endian length), then the message.
        Protocol::Grpc => {
            assert_eq!(body[0], 0, "uncompressed");
            let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
            assert_eq!(body.len(), 5 + len, "one whole message");
            body.slice(5..)
        }
    };
    let export = ExportTraceServiceRequest::decode(message).expect("a valid OTLP export");
    for rs in export.resource_spans {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for span in ss.spans {
                spans.lock().unwrap().push(Got {
                    service: service.clone(),
                    span,
                });
            }
        }
    }
    match protocol {
        Protocol::Http => Response::builder()
            .header("content-type", "application/x-protobuf")
            .body(Full::new(Bytes::new()).boxed())
            .unwrap(),
        Protocol::Grpc => {
            let mut trailers = hyper::HeaderMap::new();
            trailers.insert("grpc-status", "0".parse().unwrap());
            let frames: Vec<Result<Frame<Bytes>, Infallible>> = vec![
                Ok(Frame::data(Bytes::from_static(&[0, 0, 0, 0, 0]))),
                Ok(Frame::trailers(trailers)),
            ];
            Response::builder()
                .header("content-type", "application/grpc")
                .body(StreamBody::new(futures::stream::iter(frames)).boxed())
                .unwrap()
        }
    }
}
