//! The WebSocket transport (`/mcp/ws`, `/mcp/v/<id>/ws`) end to end: the real gateway, a real
//! WebSocket client (tokio-tungstenite; and Node's own `WebSocket` in one test), the fixture
//! upstream behind it. One MCP session per connection: requests, answers, progress, the
//! session's notifications and server-to-client requests all share the socket.

mod support;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use support::{Config, Gateway, PATIENCE, PROTOCOL, Upstream, create_key, fx_config};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as Frame};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a WebSocket at `path` offering the `mcp` subprotocol, with extra upgrade headers.
async fn connect(
    gw: &Gateway,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(Socket, Response<Option<Vec<u8>>>), WsError> {
    let mut req = format!("ws://{}{path}", gw.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static("mcp"));
    for (k, v) in headers {
        req.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    tokio_tungstenite::connect_async(req).await
}

/// A refused upgrade: its HTTP status and body.
async fn refused(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    match connect(gw, path, headers).await {
        Err(WsError::Http(r)) => (
            r.status().as_u16(),
            String::from_utf8_lossy(r.body().as_deref().unwrap_or_default()).into_owned(),
        ),
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
        Ok(_) => panic!("expected a refusal, got a WebSocket"),
    }
}

/// An MCP client over one socket.
struct Client {
    ws: Socket,
    /// Messages that came while waiting for something else.
    seen: Vec<Value>,
}

impl Client {
    async fn open(gw: &Gateway, path: &str) -> Client {
        Client::open_with(gw, path, &[]).await
    }

    async fn open_with(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> Client {
        let (ws, resp) = connect(gw, path, headers).await.expect("WebSocket upgrade");
        assert_eq!(resp.status(), 101);
        assert_eq!(
            resp.headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap()),
            Some("mcp")
        );
        Client {
            ws,
            seen: Vec::new(),
        }
    }

    async fn send(&mut self, v: Value) {
        self.ws.send(Frame::text(v.to_string())).await.unwrap();
    }

    /// The next JSON-RPC message (pings are answered by the client library and skipped).
    async fn next(&mut self) -> Value {
        loop {
            let f = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a message in time")
                .expect("the socket is open")
                .expect("a frame");
            match f {
                Frame::Text(t) => return serde_json::from_str(&t).expect("JSON"),
                Frame::Ping(_) | Frame::Pong(_) => {}
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// Sends a request and returns its response; whatever else arrives first is kept in `seen`.
    async fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        self.response(id).await
    }

    async fn response(&mut self, id: u64) -> Value {
        loop {
            let m = self.next().await;
            if m["id"] == id && m.get("method").is_none() {
                return m;
            }
            self.seen.push(m);
        }
    }

    async fn initialize(&mut self, params: Value) -> Value {
        let r = self.request(1, "initialize", params).await;
        self.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        r
    }

    /// The close frame the server ends the socket with (skipping anything before it).
    async fn closed(&mut self) -> (CloseCode, String) {
        loop {
            match tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("the close in time")
            {
                Some(Ok(Frame::Close(Some(f)))) => return (f.code, f.reason.to_string()),
                Some(Ok(Frame::Close(None))) => panic!("a close without a code"),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("the socket broke instead of closing: {e}"),
                None => panic!("the socket ended without a close frame"),
            }
        }
    }
}

fn init_params() -> Value {
    json!({
        "protocolVersion": PROTOCOL,
        "capabilities": {"elicitation": {}},
        "clientInfo": {"name": "ws-test", "version": "0"}
    })
}

fn text_of(r: &Value) -> &str {
    r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {r}"))
}

#[tokio::test]
async fn initialize_list_and_call_reach_the_upstream() {
    let (c, log) = fx_config();
    let gw = c.start().await;
    let mut ws = Client::open(&gw, "/mcp/ws").await;
    let init = ws.initialize(init_params()).await;
    assert_eq!(init["result"]["protocolVersion"], PROTOCOL, "{init}");
    assert!(init["result"]["serverInfo"]["name"].is_string(), "{init}");

    let list = ws.request(2, "tools/list", json!({})).await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"fx__echo"), "{names:?}");

    let r = ws
        .request(
            3,
            "tools/call",
            json!({"name": "fx__echo", "arguments": {"message": "over a socket"}}),
        )
        .await;
    assert_eq!(text_of(&r), "over a socket");
    assert_eq!(support::tool_calls_on_wire(&log, "echo"), 1);

    // Garbage is answered, and the session goes on.
    ws.ws.send(Frame::text("this is not json")).await.unwrap();
    let e = ws.next().await;
    assert_eq!(e["error"]["code"], -32700, "{e}");
    assert!(e["error"]["data"]["request_id"].is_string(), "{e}");
    let again = ws.request(4, "ping", json!({})).await;
    assert_eq!(again["result"], json!({}), "{again}");

    // One session per socket, of the handshake era.
    let twice = ws.request(5, "initialize", init_params()).await;
    assert_eq!(twice["error"]["code"], -32600, "{twice}");
    let modern = ws
        .request(
            6,
            "tools/list",
            json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}}}),
        )
        .await;
    assert_eq!(modern["error"]["code"], -32600, "{modern}");
}

#[tokio::test]
async fn requests_before_initialize_are_refused() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let mut ws = Client::open(&gw, "/mcp/ws").await;
    let r = ws.request(1, "tools/list", json!({})).await;
    assert_eq!(r["error"]["code"], -32600, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("initialize"),
        "{r}"
    );
    let init = ws.initialize(init_params()).await;
    assert_eq!(init["result"]["protocolVersion"], PROTOCOL, "{init}");
}

#[tokio::test]
async fn progress_notifications_and_server_requests_share_the_socket() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let mut ws = Client::open(&gw, "/mcp/ws").await;
    ws.initialize(init_params()).await;

    // Progress of a call comes before its answer, under the client's own token.
    let r = ws
        .request(
            2,
            "tools/call",
            json!({"name": "fx__test_tool_with_progress", "arguments": {}, "_meta": {"progressToken": "p-1"}}),
        )
        .await;
    assert!(r.get("result").is_some(), "{r}");
    let progress: Vec<&Value> = ws
        .seen
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 3, "{:?}", ws.seen);
    assert!(
        progress
            .iter()
            .all(|p| p["params"]["progressToken"] == "p-1")
    );

    // A notification of the session itself (not of any request): the catalog changed.
    ws.seen.clear();
    ws.request(
        3,
        "tools/call",
        json!({"name": "fx__notify_list_changed", "arguments": {}}),
    )
    .await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !ws
        .seen
        .iter()
        .any(|m| m["method"] == "notifications/tools/list_changed")
    {
        assert!(tokio::time::Instant::now() < deadline, "{:?}", ws.seen);
        let m = ws.next().await;
        ws.seen.push(m);
    }

    // A server-to-client request: asked on the socket, answered on the socket.
    ws.send(json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
        "params": {"name": "fx__test_elicitation", "arguments": {"message": "who are you?"}}}))
        .await;
    let ask = loop {
        let m = ws.next().await;
        if m["method"] == "elicitation/create" {
            break m;
        }
        assert!(m["id"] != 4, "answered without asking: {m}");
    };
    assert_eq!(ask["params"]["message"], "who are you?", "{ask}");
    ws.send(json!({"jsonrpc": "2.0", "id": ask["id"], "result": {
        "action": "accept", "content": {"username": "ada", "email": "ada@example.com"}}}))
        .await;
    let r = ws.response(4).await;
    let text = text_of(&r);
    assert!(
        text.contains("action=accept") && text.contains("ada"),
        "{text}"
    );
}

#[tokio::test]
async fn credentials_come_from_the_upgrade_or_the_first_message() {
    let (key, entry) = create_key("ws", "mcp.tools.read,mcp.invoke");
    let (c, log) = fx_config();
    let gw = c
        .extra(&format!("auth:\n  api_keys:\n    {entry}\n"))
        .start()
        .await;

    // A refused header is a 401 before any upgrade.
    let (status, body) = refused(&gw, "/mcp/ws", &[("authorization", "Bearer sb_nope")]).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("request_id"), "{body}");

    // The header.
    let bearer = format!("Bearer {key}");
    let mut ws = Client::open_with(&gw, "/mcp/ws", &[("authorization", &bearer)]).await;
    ws.initialize(init_params()).await;
    let r = ws
        .request(
            2,
            "tools/call",
            json!({"name": "fx__echo", "arguments": {"message": "by header"}}),
        )
        .await;
    assert_eq!(text_of(&r), "by header");

    // No header: the first message's _meta.
    let mut ws = Client::open(&gw, "/mcp/ws").await;
    let mut params = init_params();
    params["_meta"] = json!({"io.github.switchboard-mcp/authorization": bearer});
    let init = ws.initialize(params).await;
    assert_eq!(init["result"]["protocolVersion"], PROTOCOL, "{init}");
    let r = ws
        .request(
            2,
            "tools/call",
            json!({"name": "fx__echo", "arguments": {"message": "by _meta"}}),
        )
        .await;
    assert_eq!(text_of(&r), "by _meta");

    // No credential anywhere: the first message is refused and the socket closed.
    let mut ws = Client::open(&gw, "/mcp/ws").await;
    let r = ws.request(1, "initialize", init_params()).await;
    assert_eq!(r["error"]["code"], -31040, "{r}");
    assert!(r["error"]["data"]["request_id"].is_string(), "{r}");
    let (code, reason) = ws.closed().await;
    assert_eq!(code, CloseCode::Policy, "{reason}");

    // A refused credential in _meta is the same.
    let mut ws = Client::open(&gw, "/mcp/ws").await;
    let mut params = init_params();
    params["_meta"] = json!({"io.github.switchboard-mcp/authorization": "Bearer sb_nope"});
    let r = ws.request(1, "initialize", params).await;
    assert_eq!(r["error"]["code"], -31040, "{r}");
    assert_eq!(ws.closed().await.0, CloseCode::Policy);

    assert_eq!(support::tool_calls_on_wire(&log, "echo"), 2);
}

#[tokio::test]
async fn a_product_socket_serves_the_product() {
    let gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .extra("products:\n  reads:\n    status: published\n    tools: [\"fx__echo\"]\n  wip:\n    status: draft\n    tools: [\"*\"]\n")
        .start()
        .await;
    let mut ws = Client::open(&gw, "/mcp/v/reads/ws").await;
    ws.initialize(init_params()).await;
    let list = ws.request(2, "tools/list", json!({})).await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fx__echo"]);
    let r = ws
        .request(
            3,
            "tools/call",
            json!({"name": "fx__test_simple_text", "arguments": {}}),
        )
        .await;
    assert!(r.get("error").is_some(), "outside the product: {r}");

    for path in ["/mcp/v/nope/ws", "/mcp/v/wip/ws"] {
        let (status, _) = refused(&gw, path, &[]).await;
        assert_eq!(status, 404, "{path}");
    }
}

#[tokio::test]
async fn a_handshake_that_is_not_mcp_over_websocket_is_refused() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    // No `mcp` subprotocol offered.
    let mut req = format!("ws://{}/mcp/ws", gw.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-ws"),
    );
    match tokio_tungstenite::connect_async(req).await {
        Err(WsError::Http(r)) => {
            assert_eq!(r.status(), 400);
            let body =
                String::from_utf8_lossy(r.body().as_deref().unwrap_or_default()).into_owned();
            assert!(body.contains("Sec-WebSocket-Protocol: mcp"), "{body}");
        }
        other => panic!("expected 400, got {other:?}"),
    }
    let req = format!("ws://{}/mcp/ws", gw.addr)
        .into_client_request()
        .unwrap();
    match tokio_tungstenite::connect_async(req).await {
        Err(WsError::Http(r)) => assert_eq!(r.status(), 400),
        other => panic!("expected 400, got {other:?}"),
    }
    // Not an upgrade at all.
    let r = gw.client.get(gw.url("/mcp/ws")).send().await.unwrap();
    assert_eq!(r.status(), 426);
    assert_eq!(r.headers()["upgrade"], "websocket");
    // The wrong version.
    let r = gw
        .client
        .get(gw.url("/mcp/ws"))
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "8")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-protocol", "mcp")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 426);
    assert_eq!(r.headers()["sec-websocket-version"], "13");
    // A foreign Origin is refused like on /mcp (DNS rebinding).
    let (status, _) = refused(&gw, "/mcp/ws", &[("origin", "https://evil.example")]).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_message_over_the_body_limit_closes_with_1009() {
    let (c, _) = fx_config();
    let gw = c.extra("http: { max_body_bytes: 2000 }").start().await;
    let mut ws = Client::open(&gw, "/mcp/ws").await;
    ws.initialize(init_params()).await;
    let big = "x".repeat(3000);
    ws.send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "fx__echo", "arguments": {"message": big}}}))
        .await;
    let (code, reason) = ws.closed().await;
    assert_eq!(code, CloseCode::Size, "{reason}");
    assert!(reason.contains("2000"), "{reason}");
}

/// The frames a server sent (unmasked, as servers send them): (opcode, payload).
fn frames(mut b: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while b.len() >= 2 {
        let opcode = b[0] & 0x0f;
        let (len, start) = match b[1] & 0x7f {
            126 => (usize::from(u16::from_be_bytes([b[2], b[3]])), 4),
            127 => panic!("no frame this large is expected"),
            n => (usize::from(n), 2),
        };
        out.push((opcode, b[start..start + len].to_vec()));
        b = &b[start + len..];
    }
    out
}

#[tokio::test]
async fn a_peer_that_does_not_pong_is_closed_and_one_that_does_is_kept() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (c, _) = fx_config();
    let gw = c
        .extra("http:\n  websocket: { ping_interval: 200ms, pong_timeout: 1s }\n")
        .start()
        .await;
    // A peer that opens the socket and then never answers a ping: raw TCP, since every
    // WebSocket client library pongs as soon as it reads.
    let mut idle = TcpStream::connect(gw.addr).await.unwrap();
    idle.write_all(
        format!(
            "GET /mcp/ws HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Protocol: mcp\r\n\r\n",
            gw.addr
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let opened = std::time::Instant::now();
    let mut alive = Client::open(&gw, "/mcp/ws").await;
    alive.initialize(init_params()).await;

    // `alive` keeps reading (so its client library answers every ping) while `idle` is closed.
    let mut wire = Vec::new();
    let read_all = idle.read_to_end(&mut wire);
    tokio::pin!(read_all);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        tokio::select! {
            r = &mut read_all => { r.unwrap(); break; }
            f = alive.ws.next() => {
                let f = f.expect("alive stays open").unwrap();
                assert!(matches!(f, Frame::Ping(_)), "only pings while quiet: {f:?}");
            }
            () = tokio::time::sleep_until(deadline) => panic!("the idle peer was never closed"),
        }
    }
    let closed_after = opened.elapsed();
    let text = String::from_utf8_lossy(&wire);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    let head_end = wire.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let sent = frames(&wire[head_end..]);
    let (last, rest) = sent.split_last().expect("frames");
    assert!(
        !rest.is_empty() && rest.iter().all(|(op, _)| *op == 0x9),
        "pings first: {sent:?}"
    );
    assert_eq!(last.0, 0x8, "then a close: {sent:?}");
    assert_eq!(u16::from_be_bytes([last.1[0], last.1[1]]), 1008);
    let reason = String::from_utf8_lossy(&last.1[2..]);
    assert!(reason.contains("no pong within 1000 ms"), "{reason}");
    assert!(
        closed_after >= Duration::from_millis(1200),
        "{closed_after:?}"
    );

    // Several ping intervals later, the peer that pongs is still served.
    let r = alive
        .request(
            2,
            "tools/call",
            json!({"name": "fx__echo", "arguments": {"message": "still here"}}),
        )
        .await;
    assert_eq!(text_of(&r), "still here");
}

#[tokio::test]
async fn shutdown_lets_calls_in_flight_answer_then_closes_with_1001() {
    let (c, _) = fx_config();
    let mut gw = c.start().await;
    let mut ws = Client::open(&gw, "/mcp/ws").await;
    ws.initialize(init_params()).await;
    ws.send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "fx__slow", "arguments": {"ms": 1000}}}))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    gw.signal("TERM");
    let r = ws.response(2).await;
    assert!(r.get("result").is_some(), "the call in flight answers: {r}");
    let (code, reason) = ws.closed().await;
    assert_eq!(code, CloseCode::Away, "{reason}");
    let status = tokio::task::spawn_blocking(move || gw.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// A client that is not ours: Node's built-in `WebSocket` (undici, the browser API), which
/// cannot set an `Authorization` header and so sends its key in the first message's `_meta`.
#[tokio::test]
async fn node_websocket_client_authenticates_in_the_first_message() {
    let Ok(peers) = std::env::var("SWITCHBOARD_PEERS") else {
        panic!("SWITCHBOARD_PEERS (run through scripts/test)");
    };
    let (key, entry) = create_key("node", "mcp.tools.read,mcp.invoke");
    let (c, log) = fx_config();
    let gw = c
        .extra(&format!("auth:\n  api_keys:\n    {entry}\n"))
        .start()
        .await;
    let script = std::path::Path::new(&peers).join("websocket-client.mjs");
    let url = format!("ws://{}/mcp/ws", gw.addr);
    let mut cmd = std::process::Command::new("node");
    cmd.arg(&script).arg(&url).arg(&key);
    let (status, out, err) = support::run_to_completion(cmd, PATIENCE);
    assert!(status.success(), "node: {status:?}\n{out}\n{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines[0]["protocol"], "mcp", "{out}");
    assert_eq!(lines[1]["result"]["protocolVersion"], PROTOCOL, "{out}");
    assert_eq!(
        lines[2]["result"]["content"][0]["text"], "from node",
        "{out}"
    );
    assert_eq!(support::tool_calls_on_wire(&log, "echo"), 1);
}

#[tokio::test]
async fn sessions_per_principal_bound_sockets_too() {
    let (key, entry) = create_key("one", "mcp.tools.read,mcp.invoke");
    let (c, _) = fx_config();
    let gw = c
        .extra(&format!(
            "auth:\n  api_keys:\n    {entry}\nsessions: {{ max_per_principal: 1 }}\n"
        ))
        .start()
        .await;
    let bearer = format!("Bearer {key}");
    let mut first = Client::open_with(&gw, "/mcp/ws", &[("authorization", &bearer)]).await;
    let ok = first.initialize(init_params()).await;
    assert!(ok.get("result").is_some(), "{ok}");

    let mut second = Client::open_with(&gw, "/mcp/ws", &[("authorization", &bearer)]).await;
    let r = second.request(1, "initialize", init_params()).await;
    let message = r["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"));
    assert!(message.contains("max_per_principal"), "{message}");
    assert_eq!(second.closed().await.0, CloseCode::Again);

    // Closing the first socket ends its session and frees the place.
    first.ws.close(None).await.unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut again = Client::open_with(&gw, "/mcp/ws", &[("authorization", &bearer)]).await;
        let r = again.request(1, "initialize", init_params()).await;
        if r.get("result").is_some() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{r}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
