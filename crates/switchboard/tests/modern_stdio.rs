//! `switchboard stdio` in both eras: the first request fixes the era of the process. A modern
//! process serves each request alone (no initialize), cancels on `notifications/cancelled`,
//! interleaves listen notifications on stdout and ends listens gracefully at end of input; a
//! handshake process refuses modern requests; an undecided one says how to begin.

mod support;

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use support::modern::meta;
use support::{Config, Upstream};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    log: std::path::PathBuf,
    _config: Config,
}

impl Proc {
    async fn start() -> Proc {
        let c = Config::new();
        let log = c.path("fx.log");
        let c = c.upstream(Upstream::fixture("fx").log(&log));
        let path = c.write();
        let mut child = Command::new(support::gateway_bin())
            .args(["stdio", "--config"])
            .arg(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn switchboard stdio");
        let stdin = child.stdin.take();
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Proc {
            child,
            stdin,
            lines,
            log,
            _config: c,
        }
    }

    async fn send(&mut self, v: Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        let mut line = v.to_string();
        line.push('\n');
        stdin.write_all(line.as_bytes()).await.expect("write");
    }

    /// The next message on stdout (within 10 s).
    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(10), self.lines.next_line())
            .await
            .expect("a message within 10 s")
            .expect("read")
            .expect("stdout still open");
        serde_json::from_str(&line).expect("one JSON message per line")
    }

    /// Messages until the one with `id`, returning it.
    async fn response(&mut self, id: Value) -> Value {
        loop {
            let m = self.next().await;
            if m["id"] == id && (m.get("result").is_some() || m.get("error").is_some()) {
                return m;
            }
        }
    }

    fn wire(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn req(id: Value, method: &str, params: Value) -> Value {
    let mut params = params;
    params["_meta"] = meta(json!({}));
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

#[tokio::test]
async fn a_modern_process() {
    let mut p = Proc::start().await;
    p.send(req(json!(1), "tools/list", json!({}))).await;
    let r = p.response(json!(1)).await;
    assert_eq!(r["result"]["resultType"], "complete", "{r}");
    assert!(
        r["result"]["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );

    // The era is fixed: initialize is not a modern method, and bare requests lack `_meta`.
    p.send(json!({"jsonrpc":"2.0","id":2,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}})).await;
    let r = p.response(json!(2)).await;
    assert_eq!(r["error"]["code"], -32022, "{r}");
    assert_eq!(r["error"]["data"]["requested"], "2025-11-25", "{r}");
    p.send(json!({"jsonrpc":"2.0","id":3,"method":"tools/list","params":{}}))
        .await;
    assert_eq!(p.response(json!(3)).await["error"]["code"], -32602);

    // A listen interleaves its notifications with other answers.
    p.send(req(
        json!("L"),
        "subscriptions/listen",
        json!({"notifications": {"toolsListChanged": true}}),
    ))
    .await;
    let ack = p.next().await;
    assert_eq!(
        ack["method"], "notifications/subscriptions/acknowledged",
        "{ack}"
    );
    assert_eq!(
        ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        "L"
    );
    p.send(req(
        json!(4),
        "tools/call",
        json!({"name": "fx__test_trigger_tool_change", "arguments": {}}),
    ))
    .await;
    let mut changed = false;
    for _ in 0..4 {
        let m = p.next().await;
        if m["method"] == "notifications/tools/list_changed" {
            assert_eq!(
                m["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
                "L"
            );
            changed = true;
            break;
        }
    }
    assert!(changed, "no tools/list_changed on the listen");

    // notifications/cancelled ends a request: no answer, and the upstream is told.
    p.send(req(
        json!(5),
        "tools/call",
        json!({"name": "fx__slow", "arguments": {"ms": 20000}}),
    ))
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    p.send(json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5}}))
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !p.wire().contains("notifications/cancelled") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never cancelled: {}",
            p.wire()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // input_required over stdio too.
    let caps = json!({"io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}});
    let call = |id: u64, extra: Value| {
        let mut params =
            json!({"name": "fx__test_input_required_result_elicitation", "arguments": {}});
        if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        params["_meta"] = meta(caps.clone());
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
    };
    p.send(call(6, json!({}))).await;
    let r = p.response(json!(6)).await;
    assert_eq!(r["result"]["resultType"], "input_required", "{r}");
    let state = r["result"]["requestState"].clone();
    let answers = json!({"user_name": {"action": "accept", "content": {"name": "Io"}}});
    p.send(call(
        7,
        json!({"inputResponses": answers, "requestState": state}),
    ))
    .await;
    let r = p.response(json!(7)).await;
    assert!(r.to_string().contains("Hello, Io!"), "{r}");

    // End of input: the listen ends with its graceful result, then the process exits.
    drop(p.stdin.take());
    let done = p.response(json!("L")).await;
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    assert_eq!(
        done["result"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        "L"
    );
    let status = tokio::time::timeout(Duration::from_secs(10), p.child.wait())
        .await
        .expect("exits after end of input")
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn a_handshake_process_refuses_modern_requests() {
    let mut p = Proc::start().await;
    // Undecided: a bare request is told both ways to begin.
    p.send(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}))
        .await;
    let r = p.response(json!(1)).await;
    assert_eq!(r["error"]["code"], -32600, "{r}");
    // stdio errors carry the catalogue's category and a fresh request id like HTTP's.
    assert_eq!(r["error"]["data"]["category"], "invalid_request", "{r}");
    assert_eq!(r["error"]["data"]["retryable"], false, "{r}");
    assert!(
        r["error"]["data"]["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("sb-")),
        "{r}"
    );
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("initialize") && msg.contains("2026-07-28"),
        "{r}"
    );

    p.send(serde_json::from_str(&support::initialize_body(2)).unwrap())
        .await;
    assert!(p.response(json!(2)).await["result"]["protocolVersion"].is_string());
    p.send(req(json!(3), "tools/list", json!({}))).await;
    let r = p.response(json!(3)).await;
    assert_eq!(r["error"]["code"], -32600, "{r}");
    // The session itself is fine.
    p.send(json!({"jsonrpc":"2.0","id":4,"method":"tools/list"}))
        .await;
    let r = p.response(json!(4)).await;
    assert!(r["result"]["tools"].is_array(), "{r}");
    assert!(r["result"].get("resultType").is_none(), "{r}");
}
