//! A Streamable HTTP upstream that forgets its session: the connection re-initialises on its own
//! and replays what the caller's `Replay` says, before the failed request is sent again.
//!
//! The upstream is a few lines of HTTP/1.1 over a real socket, so the test sees every request in
//! the order it reached the server, with the session it named.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard_protocol::Revision;
use switchboard_upstream::http::HttpSpec;
use switchboard_upstream::{ConnectOptions, Connection, Era, Replay, RequestCtx, Target};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What the fake upstream saw: (method, session header) per POST.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

struct Upstream {
    seen: Seen,
    /// While set, the first session is unknown.
    forgot: AtomicBool,
    sessions: AtomicU32,
}

async fn serve(stream: TcpStream, up: Arc<Upstream>) {
    let mut r = BufReader::new(stream);
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            head.push(line);
        }
        let header = |name: &str| {
            head.iter().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        let len: usize = header("content-length").map_or(0, |l| l.parse().unwrap());
        let mut body = vec![0; len];
        r.read_exact(&mut body).await.unwrap();
        let session = header("mcp-session-id");
        let (status, extra, reply) = if head[0].starts_with("GET") {
            ("405 Method Not Allowed", String::new(), String::new())
        } else {
            let msg: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let method = msg["method"].as_str().unwrap_or("(response)").to_owned();
            up.seen
                .lock()
                .unwrap()
                .push((method.clone(), session.clone()));
            let id = msg.get("id").map(|i| i.to_string());
            if session.as_deref() == Some("s1") && up.forgot.load(Ordering::SeqCst) {
                ("404 Not Found", String::new(), String::new())
            } else if method == "initialize" {
                let n = up.sessions.fetch_add(1, Ordering::SeqCst) + 1;
                let result = r#"{"protocolVersion":"2025-06-18","capabilities":{"logging":{},"resources":{"subscribe":true}},"serverInfo":{"name":"forgetful","version":"1"}}"#;
                (
                    "200 OK",
                    format!("mcp-session-id: s{n}\r\n"),
                    format!(
                        r#"{{"jsonrpc":"2.0","id":{},"result":{result}}}"#,
                        id.unwrap()
                    ),
                )
            } else if let Some(id) = id {
                (
                    "200 OK",
                    String::new(),
                    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#),
                )
            } else {
                ("202 Accepted", String::new(), String::new())
            }
        };
        let out = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n{reply}",
            reply.len()
        );
        if r.get_mut().write_all(out.as_bytes()).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn an_expired_session_is_recreated_and_the_callers_replay_sent_again() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let up = Arc::new(Upstream {
        seen: Seen::default(),
        forgot: AtomicBool::new(false),
        sessions: AtomicU32::new(0),
    });
    let server = up.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve(s, server.clone()));
        }
    });
    let asked = Arc::new(AtomicU32::new(0));
    let asked2 = asked.clone();
    let replay = Replay::new(move || {
        asked2.fetch_add(1, Ordering::SeqCst);
        vec![
            ("logging/setLevel".into(), r#"{"level":"debug"}"#.into()),
            (
                "resources/subscribe".into(),
                r#"{"uri":"file:///a"}"#.into(),
            ),
        ]
    });
    let opts = ConnectOptions {
        name: "forgetful".into(),
        target: Target::Http(HttpSpec {
            url,
            headers: Vec::new(),
            egress: switchboard_upstream::egress::EgressPolicy::strict().allow_loopback(true),
            token: None,
        }),
        timeout: Duration::from_secs(5),
        max_message_bytes: 1 << 20,
        capabilities: "{}".into(),
        client_info: r#"{"name":"test","version":"0"}"#.into(),
        revision: Revision::LATEST,
        reaper: None,
        standalone_stream: false,
        era: Era::Legacy,
        probe_timeout: Duration::from_secs(1),
        replay: Some(replay),
    };
    let (tx, _rx) = tokio::sync::mpsc::channel(16);
    let conn = Connection::connect(opts, tx).await.unwrap();
    up.forgot.store(true, Ordering::SeqCst);
    up.seen.lock().unwrap().clear();

    let resp = conn
        .request("tools/list", None, RequestCtx::default())
        .await
        .unwrap();
    assert!(resp.result().is_some(), "{resp:?}");

    let seen = up.seen.lock().unwrap().clone();
    let s = |n: &str| Some(n.to_owned());
    assert_eq!(
        seen,
        [
            ("tools/list".into(), s("s1")),
            ("initialize".into(), None),
            ("notifications/initialized".into(), s("s2")),
            ("logging/setLevel".into(), s("s2")),
            ("resources/subscribe".into(), s("s2")),
            ("tools/list".into(), s("s2")),
        ]
    );
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    conn.close().await;
}
