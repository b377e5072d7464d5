//! Streams and limits that only show over time: a POST stream the client drops (not a
//! cancellation: the call finishes and its events wait for a `Last-Event-ID` resumption),
//! keep-alive comments on idle streams, streams outliving the header read timeout, the session
//! limit, and a stdio upstream that writes a
//! message over `max_message_bytes` (killed, named in the error, restarted).

mod support;

use std::time::Duration;

use support::{Config, Upstream};

/// Reads an SSE response until `pred` holds on the text so far (or the deadline passes).
async fn read_until(
    resp: &mut reqwest::Response,
    limit: Duration,
    pred: impl Fn(&str) -> bool,
) -> String {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + limit;
    while !pred(&text) {
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(c))) => text.push_str(&String::from_utf8_lossy(&c)),
            _ => break,
        }
    }
    text
}

/// The `id:` of the last SSE event in `text` that carried data.
fn last_event_id(text: &str) -> Option<String> {
    let mut last = None;
    for block in text.split("\n\n") {
        let id = block.lines().find_map(|l| l.strip_prefix("id: "));
        let has_data = block
            .lines()
            .any(|l| l.starts_with("data: ") && l.len() > 6);
        if let (Some(id), true) = (id, has_data) {
            last = Some(id.to_owned());
        }
    }
    last
}

#[tokio::test]
async fn a_dropped_post_stream_is_resumed_not_cancelled() {
    let (c, log) = support::fx_config();
    let gw = c.start().await;
    let s = gw.initialize().await;
    let body = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"fx__test_tool_with_progress","arguments":{},"_meta":{"progressToken":"p-1"}}}"#;
    let mut resp = s.post().body(body).send().await.expect("POST");
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    // The first progress event, then the client goes away mid-call.
    let first = read_until(&mut resp, Duration::from_secs(10), |t| {
        t.contains("notifications/progress")
    })
    .await;
    assert!(
        first.starts_with("id: "),
        "a 2025-11-25 stream opens with a priming event: {first:?}"
    );
    let resume_from = last_event_id(&first).expect("the progress event has an id");
    assert!(
        !first.contains(r#""id":7"#),
        "the response came before the drop; the test proves nothing: {first}"
    );
    drop(resp);

    // Resume with Last-Event-ID: the rest of that stream, ending with the call's own response.
    let mut again = gw
        .client
        .get(gw.mcp())
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &s.id)
        .header("mcp-protocol-version", support::PROTOCOL)
        .header("last-event-id", &resume_from)
        .send()
        .await
        .expect("GET resume");
    assert_eq!(again.status(), 200);
    let rest = read_until(&mut again, Duration::from_secs(10), |t| {
        t.contains(r#""id":7"#)
    })
    .await;
    assert!(
        rest.contains(r#""id":7"#) && rest.contains("result"),
        "the call completed and its response was replayed: {rest}"
    );
    assert!(
        rest.contains(r#""progress":100"#),
        "later progress is replayed: {rest}"
    );
    assert!(
        !rest.contains(r#""progress":0,"#),
        "events before Last-Event-ID are not replayed: {rest}"
    );
    let wire = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !wire.contains("notifications/cancelled"),
        "dropping the stream cancelled the call upstream: {wire}"
    );
}

#[tokio::test]
async fn idle_streams_get_keepalive_comments() {
    let c = Config::new()
        .extra("sessions: { keepalive: 1s }")
        .upstream(Upstream::fixture("fx"));
    let gw = c.start().await;
    let s = gw.initialize().await;
    let text = keepalives(&s, 1).await;
    assert!(
        text.contains(": keepalive"),
        "no keep-alive comment within 5 s on an idle stream: {text:?}"
    );
}

/// Opens the session's GET stream and reads it until `n` keep-alive comments came (or 5 s).
async fn keepalives(s: &support::Session<'_>, n: usize) -> String {
    let mut stream = s.get_stream().await;
    assert_eq!(stream.status(), 200);
    read_until(&mut stream, Duration::from_secs(5), |t| {
        t.matches(": keepalive").count() >= n
    })
    .await
}

#[tokio::test]
async fn streams_outlive_the_header_read_timeout() {
    // The header read timeout bounds waiting for a request, not answering one: a stream that
    // stays open far longer than it keeps getting its keep-alive comments.
    let c = Config::new()
        .extra("http: { header_read_timeout: 300ms }\nsessions: { keepalive: 100ms }")
        .upstream(Upstream::fixture("fx"));
    let gw = c.start().await;
    let s = gw.initialize().await;
    let text = keepalives(&s, 10).await;
    assert!(
        text.matches(": keepalive").count() >= 10,
        "the stream ended before 1 s of keep-alives (timeout 300 ms): {text:?}"
    );
    // A POST whose answer is slower than the header timeout is answered too.
    let r = s.call_tool("fx__slow", r#"{"ms":800}"#).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.response().is_some_and(|m| m.get("result").is_some()),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn sessions_beyond_the_limit_are_refused_with_503() {
    let c = Config::new()
        .extra("sessions: { max_sessions: 2 }")
        .upstream(Upstream::fixture("fx"));
    let gw = c.start().await;
    let _a = gw.initialize().await;
    let _b = gw.initialize().await;
    let Err(refused) = gw.try_initialize(&[]).await else {
        panic!("a third session is over the limit but was accepted");
    };
    let err = refused.assert_error(503, -32600);
    assert!(
        err["message"]
            .as_str()
            .unwrap_or_default()
            .contains("too many sessions"),
        "{err}"
    );
}

#[tokio::test]
async fn an_oversized_stdio_message_kills_the_upstream_and_names_it() {
    let c = Config::new().upstream(Upstream::fixture("fx").setting("max_message_bytes: 65536"));
    let gw = c.start().await;
    let s = gw.initialize().await;
    let started = std::time::Instant::now();
    let r = s.call_tool("fx__big", r#"{"bytes":200000}"#).await;
    let err = r.error();
    assert_eq!(err["data"]["upstream"], "fx", "{err}");
    assert_eq!(err["code"], -31004, "the upstream closed mid-call: {err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the error took {:?}",
        started.elapsed()
    );
    // The supervisor restarts it, and small answers work again.
    let status = gw
        .wait_status("fx ready again after a restart", |st| {
            st["upstreams"][0]["state"] == "ready"
                && st["upstreams"][0]["restarts"].as_u64() >= Some(1)
        })
        .await;
    assert_eq!(status["upstreams"][0]["name"], "fx");
    let ok = s.call_tool("fx__echo", r#"{"message":"small"}"#).await;
    assert_eq!(ok.result()["content"][0]["text"], "small");
}

#[test]
fn stdio_answers_bad_bytes_and_oversized_lines_and_goes_on() {
    use std::io::{Read, Write};
    let c = Config::new()
        .extra("http: { max_body_bytes: 1024 }")
        .upstream(Upstream::fixture("fx"));
    let path = c.write();
    let mut child = std::process::Command::new(support::gateway_bin())
        .args(["stdio", "--config"])
        .arg(&path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn switchboard stdio");
    let mut input = Vec::new();
    input.extend_from_slice(b"\xff\xfe not utf-8\n");
    input.extend_from_slice(&vec![b'x'; 5000]);
    input.push(b'\n');
    input.extend_from_slice(support::initialize_body(1).as_bytes());
    input.push(b'\n');
    input.extend_from_slice(br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"fx__echo","arguments":{"message":"still here"}}}"#);
    input.push(b'\n');
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&input).expect("write");
    drop(stdin);
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    let _ = child.wait();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON message per line"))
        .collect();
    assert_eq!(lines[0]["error"]["code"], -32700, "{out}");
    assert!(lines[0]["error"]["data"]["request_id"].is_string(), "{out}");
    assert_eq!(lines[1]["error"]["code"], -32600, "{out}");
    assert!(
        lines[1]["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("larger than 1024"),
        "{out}"
    );
    let echo = lines
        .iter()
        .find(|m| m["id"] == 2)
        .unwrap_or_else(|| panic!("no answer to the call: {out}"));
    assert_eq!(echo["result"]["content"][0]["text"], "still here");
}
