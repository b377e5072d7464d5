//! The audit webhook sink end to end: the real gateway POSTs its audit records to a receiver in
//! this test, which fails on demand. The receiver is a fault injector written here (no SIEM can
//! be installed offline, and none fails on cue); it speaks plain HTTP/1.1 and keeps every body
//! it accepted.

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Config, Gateway, PATIENCE, Upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "siem-token-Qw7Lm2Zp9";

/// A webhook receiver: answers 503 while `down`, or for the next `fail_next` POSTs (after
/// `fail_delay`), else 200 and keeps the body's lines.
#[derive(Clone, Default)]
struct Receiver {
    down: Arc<AtomicBool>,
    fail_next: Arc<AtomicUsize>,
    posts: Arc<AtomicUsize>,
    lines: Arc<Mutex<Vec<String>>>,
    authorization: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/ingest", listener.local_addr().unwrap());
        let r = Receiver::default();
        let me = r.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(me.clone().serve(sock));
            }
        });
        (r, url)
    }

    async fn serve(self, mut sock: tokio::net::TcpStream) {
        let mut buf = Vec::new();
        loop {
            let head_end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                let mut chunk = [0u8; 8192];
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let header = |name: &str| {
                head.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| v.trim().to_owned())
                })
            };
            let len: usize = header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < head_end + len {
                let mut chunk = [0u8; 8192];
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string();
            buf.drain(..head_end + len);
            self.posts.fetch_add(1, Ordering::SeqCst);
            let refuse = self.down.load(Ordering::SeqCst)
                || self
                    .fail_next
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
            let status = if refuse {
                // A slow failure: the gateway's callers must not feel it.
                tokio::time::sleep(Duration::from_millis(100)).await;
                "503 Service Unavailable"
            } else {
                self.authorization
                    .lock()
                    .unwrap()
                    .push(header("authorization").unwrap_or_default());
                self.lines
                    .lock()
                    .unwrap()
                    .extend(body.lines().map(str::to_owned));
                "200 OK"
            };
            let resp = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
            if sock.write_all(resp.as_bytes()).await.is_err() {
                return;
            }
        }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits until it holds `n` lines.
    async fn wait_lines(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let lines = self.lines();
            if lines.len() >= n {
                return lines;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver got {} of {n} records",
                lines.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn webhook_config(url: &str, settings: &str) -> (Config, PathBuf, PathBuf) {
    let c = Config::new();
    let log = c.path("audit.jsonl");
    let dead = c.path("dead-letter.jsonl");
    let c = c.upstream(Upstream::fixture("fx")).extra(&format!(
        "audit:\n  file: {{ path: {} }}\n  webhook: {{ url: {}, token: {TOKEN}, dead_letter: {}, {settings} }}\n",
        support::q(&log.display().to_string()),
        support::q(url),
        support::q(&dead.display().to_string()),
    ));
    (c, log, dead)
}

fn file_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The `seq` of each line.
fn seqs(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

/// `n` concurrent `tools/call`s (8 at a time); each one's latency, sorted.
async fn calls(gw: &Gateway, n: usize) -> Vec<Duration> {
    let s = gw.initialize().await;
    let s = &s;
    let mut all = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(8) {
        let batch = chunk.iter().map(|i| async move {
            let t = Instant::now();
            let r = s
                .call_tool("fx__echo", &format!(r#"{{"message":"m{i}"}}"#))
                .await;
            assert_eq!(
                r.result()["content"][0]["text"],
                format!("m{i}"),
                "{}",
                r.text
            );
            t.elapsed()
        });
        all.extend(futures::future::join_all(batch).await);
    }
    all.sort();
    all
}

fn p99(sorted: &[Duration]) -> Duration {
    sorted[(sorted.len() * 99 / 100).min(sorted.len() - 1)]
}

async fn metric(gw: &Gateway, series: &str) -> Option<f64> {
    let text = gw
        .client
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn every_record_arrives_once_in_order_through_failures_and_calls_do_not_wait() {
    let (receiver, url) = Receiver::start().await;
    let (config, log, _) =
        webhook_config(&url, "batch: 10, flush: 20ms, retries: 100, timeout: 5s");
    let gw = config.start().await;

    let healthy = calls(&gw, 80).await;
    receiver.wait_lines(80).await;
    // Now the receiver fails its next 6 deliveries, slowly.
    receiver.fail_next.store(6, Ordering::SeqCst);
    let failing = calls(&gw, 80).await;
    let lines = receiver.wait_lines(160).await;

    assert_eq!(
        receiver.fail_next.load(Ordering::SeqCst),
        0,
        "the failures happened"
    );
    assert_eq!(
        seqs(&lines),
        (1..=160).collect::<Vec<u64>>(),
        "each once, in order"
    );
    assert_eq!(
        lines,
        file_lines(&log),
        "the webhook got the file's exact lines"
    );
    assert!(
        receiver
            .authorization
            .lock()
            .unwrap()
            .iter()
            .all(|a| a == &format!("Bearer {TOKEN}"))
    );
    // Delivery is off the request path: failing, slow deliveries do not slow calls down.
    let (before, during) = (p99(&healthy), p99(&failing));
    assert!(
        during < before * 4 + Duration::from_millis(50),
        "p99 moved from {before:?} to {during:?} while the receiver failed"
    );
    let series = "switchboard_audit_webhook_records_total{result=";
    assert_eq!(
        metric(&gw, &format!("{series}\"sent\"}}")).await,
        Some(160.0)
    );
    assert!(metric(&gw, &format!("{series}\"retried\"}}")).await >= Some(6.0));
    assert_eq!(
        metric(&gw, &format!("{series}\"dropped\"}}")).await,
        Some(0.0)
    );
    assert!(
        !gw.stderr().contains(TOKEN),
        "the token is in the gateway's log"
    );
    assert!(!std::fs::read_to_string(&log).unwrap().contains(TOKEN));
}

#[tokio::test]
async fn a_receiver_that_is_away_gets_everything_from_the_dead_letter_file() {
    let (receiver, url) = Receiver::start().await;
    receiver.down.store(true, Ordering::SeqCst);
    let (config, log, dead) = webhook_config(&url, "batch: 5, flush: 20ms, retries: 2");
    let mut gw = config.start().await;

    // Down for the whole first part: every record ends up in the dead-letter file.
    calls(&gw, 20).await;
    let deadline = Instant::now() + PATIENCE;
    while file_lines(&dead).len() < 20 {
        assert!(
            Instant::now() < deadline,
            "dead-letter file has {} of 20 records",
            file_lines(&dead).len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(file_lines(&dead), file_lines(&log));
    assert!(receiver.lines().is_empty());
    assert!(
        metric(
            &gw,
            "switchboard_audit_webhook_records_total{result=\"dead_lettered\"}"
        )
        .await
            >= Some(20.0)
    );

    // Back: the file is sent, in order, and emptied.
    receiver.down.store(false, Ordering::SeqCst);
    let lines = receiver.wait_lines(20).await;
    assert_eq!(seqs(&lines), (1..=20).collect::<Vec<u64>>());
    let deadline = Instant::now() + PATIENCE;
    while !file_lines(&dead).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the dead-letter file was not emptied"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Away again, and the gateway stops before it comes back: what was not sent waits in the
    // file, and the next gateway sends it first.
    receiver.down.store(true, Ordering::SeqCst);
    calls(&gw, 5).await;
    gw.terminate();
    assert_eq!(seqs(&file_lines(&dead)), (21..=25).collect::<Vec<u64>>());
    // A POST the stopping gateway wrote may still be unread in the receiver's socket: let the
    // receiver refuse it before it comes back (a receiver that took it would see those records
    // again from the next gateway, and could drop the repeats by `seq`).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.lines().len(),
        20,
        "nothing was delivered while it was away"
    );
    receiver.down.store(false, Ordering::SeqCst);
    let config = std::mem::take(&mut gw.config);
    let gw = config.start().await;
    calls(&gw, 3).await;
    let lines = receiver.wait_lines(28).await;
    assert_eq!(
        seqs(&lines),
        (1..=28).collect::<Vec<u64>>(),
        "each once, in order"
    );
    assert_eq!(lines, file_lines(&log));
}
