//! A trivial OTLP/HTTP receiver for the `http-trace` case: it accepts every POST, reads the
//! body, answers 200, and counts what it got — a real socket and a real answer, so the gateway's
//! exporter does the work it would against a collector (encode, send, read the answer), while
//! the sink itself costs next to nothing (it runs in the bench process, not the gateway's).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A running sink; its threads live as long as the bench.
pub struct Sink {
    pub url: String,
    /// Export requests and body bytes received.
    pub requests: Arc<AtomicU64>,
    pub bytes: Arc<AtomicU64>,
}

pub fn start() -> anyhow::Result<Sink> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    let requests = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let (r, b) = (requests.clone(), bytes.clone());
    std::thread::Builder::new()
        .name("otlp-sink".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let (r, b) = (r.clone(), b.clone());
                let _ = std::thread::Builder::new()
                    .name("otlp-sink-conn".into())
                    .spawn(move || serve(stream, &r, &b));
            }
        })?;
    Ok(Sink {
        url,
        requests,
        bytes,
    })
}

/// Serves keep-alive HTTP/1.1 requests with a `Content-Length` body until the peer closes.
fn serve(stream: TcpStream, requests: &AtomicU64, bytes: &AtomicU64) {
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut len = 0usize;
        let mut line = String::new();
        // The request line and headers, up to the empty line.
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        requests.fetch_add(1, Ordering::Relaxed);
        bytes.fetch_add(len as u64, Ordering::Relaxed);
        let answer =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if out.write_all(answer).is_err() {
            return;
        }
    }
}
