//! Session lifecycle on the Streamable HTTP endpoint: DELETE, the standalone GET stream,
//! list-change notifications on it, and paginated lists.

mod support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

#[tokio::test]
async fn deleted_session_cannot_be_reused() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let s = gw.initialize().await;
    let other = gw.initialize().await;
    assert_eq!(s.request("ping", None).await.status, 200);
    let d = s.delete().await;
    assert_eq!(d.status(), 200);
    // Every use of the deleted session is a 404 …
    s.request("ping", None).await.assert_error(404, -32600);
    s.call_tool("fx__echo", r#"{"message":"x"}"#)
        .await
        .assert_error(404, -32600);
    Reply::read(s.get_stream().await)
        .await
        .assert_error(404, -32600);
    Reply::read(s.delete().await)
        .await
        .assert_error(404, -32600);
    // … while other sessions are unaffected.
    let r = other.call_tool("fx__echo", r#"{"message":"y"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "y");
    let st = gw.status().await;
    assert_eq!(st["sessions"], 1, "{st}");
}

#[tokio::test]
async fn delete_without_session_header_is_400() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let _s = gw.initialize().await;
    let r = Reply::read(gw.client.delete(gw.mcp()).send().await.unwrap()).await;
    r.assert_error(400, -32600);
    assert_eq!(gw.status().await["sessions"], 1);
}

#[tokio::test]
async fn get_without_event_stream_accept_is_406() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let s = gw.initialize().await;
    // (reqwest sends `Accept: */*` when none is set, so "no Accept" cannot be tested here.)
    for accept in ["application/json", "text/html", "application/*", ""] {
        let r = Reply::read(
            gw.client
                .get(gw.mcp())
                .header("mcp-session-id", &s.id)
                .header("mcp-protocol-version", PROTOCOL)
                .header("accept", accept)
                .send()
                .await
                .unwrap(),
        )
        .await;
        r.assert_error(406, -32600);
    }
    // The refusals did not claim the stream: a proper GET still gets it.
    let ok = s.get_stream().await;
    assert_eq!(ok.status(), 200);
    assert!(
        ok.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
}

#[tokio::test]
async fn get_without_session_is_400_and_unknown_session_404() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let r = Reply::read(
        gw.client
            .get(gw.mcp())
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(400, -32600);
    let r = Reply::read(
        gw.client
            .get(gw.mcp())
            .header("accept", "text/event-stream")
            .header("mcp-session-id", "no-such-session")
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(404, -32600);
}

#[tokio::test]
async fn second_concurrent_get_is_409() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let s = gw.initialize().await;
    let first = s.get_stream().await;
    assert_eq!(first.status(), 200);
    let second = Reply::read(s.get_stream().await).await;
    second.assert_error(409, -32600);
    // Another session has its own stream.
    let t = gw.initialize().await;
    let other = t.get_stream().await;
    assert_eq!(other.status(), 200);
    // Once the first stream is closed, the session can open a new one.
    drop(first);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let again = s.get_stream().await;
        if again.status() == 200 {
            break;
        }
        assert_eq!(again.status(), 409);
        assert!(
            Instant::now() < deadline,
            "the closed GET stream was never released"
        );
        drop(again);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn list_changed_reaches_the_get_stream_and_the_new_tool_is_listed() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let s = gw.initialize().await;
    let r = s.request("tools/list", None).await;
    let names = tool_names(&r.result());
    assert!(names.contains("fx__notify_list_changed"));
    assert!(!names.contains("fx__dynamic_tool"), "{names:?}");
    let r = s.call_tool("fx__dynamic_tool", "{}").await;
    r.assert_error(200, -32602);

    let resp = s.get_stream().await;
    assert_eq!(resp.status(), 200);
    let mut stream = SseStream::new(resp);
    let r = s.call_tool("fx__notify_list_changed", "{}").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_ne!(r.result()["isError"], true, "{}", r.text);
    let (raw, _) = stream
        .wait_for(PATIENCE, |m| {
            m["method"] == "notifications/tools/list_changed"
        })
        .await;
    let n: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(n["jsonrpc"], "2.0");
    assert!(n.get("id").is_none(), "a notification has no id: {raw}");

    // By the time clients hear of the change, the catalog has it.
    let r = s.request("tools/list", None).await;
    let names = tool_names(&r.result());
    assert!(names.contains("fx__dynamic_tool"), "{names:?}");
    let r = s.call_tool("fx__dynamic_tool", "{}").await;
    assert_eq!(
        r.result()["content"][0]["text"],
        "dynamic_tool called",
        "{}",
        r.text
    );
}

#[tokio::test]
async fn list_changed_reaches_every_session() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let a = gw.initialize().await;
    let b = gw.initialize().await;
    let mut sa = SseStream::new(a.get_stream().await);
    let mut sb = SseStream::new(b.get_stream().await);
    let r = a.call_tool("fx__notify_list_changed", "{}").await;
    assert_eq!(r.status, 200, "{}", r.text);
    for stream in [&mut sa, &mut sb] {
        stream
            .wait_for(PATIENCE, |m| {
                m["method"] == "notifications/tools/list_changed"
            })
            .await;
    }
}

#[tokio::test]
async fn tools_list_is_paginated_and_complete() {
    let c = Config::new();
    let gw = c
        .upstream(Upstream::fixture("fx").env("FIXTURE_EXTRA_TOOLS", "1500"))
        .start()
        .await;
    let s = gw.initialize().await;
    let expected = tokio::task::spawn_blocking(|| fixture_tool_names(1500))
        .await
        .unwrap();
    assert!(expected.len() > 1500, "{}", expected.len());

    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let params = cursor
            .as_ref()
            .map(|c| format!(r#"{{"cursor":{}}}"#, serde_json::to_string(c).unwrap()));
        let r = s.request("tools/list", params.as_deref()).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let result = r.result();
        let page = result["tools"].as_array().unwrap();
        assert!(!page.is_empty(), "empty page {pages}");
        names.extend(page.iter().map(|t| t["name"].as_str().unwrap().to_owned()));
        pages += 1;
        match result.get("nextCursor") {
            Some(Value::String(c)) => cursor = Some(c.clone()),
            None => break,
            Some(other) => panic!("nextCursor must be a string, got {other}"),
        }
        assert!(pages < 10, "too many pages");
    }
    assert!(pages >= 2, "{} tools came in one page", names.len());
    let unique: HashSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "a tool was listed twice");
    let want: HashSet<String> = expected.iter().map(|n| format!("fx__{n}")).collect();
    let got: HashSet<String> = names.iter().cloned().collect();
    assert_eq!(
        got.len(),
        want.len(),
        "missing: {:?}; unexpected: {:?}",
        want.difference(&got).take(5).collect::<Vec<_>>(),
        got.difference(&want).take(5).collect::<Vec<_>>()
    );
    assert_eq!(got, want);
    // The last extra tool is callable.
    let r = s.call_tool("fx__extra_1499", "{}").await;
    assert_eq!(r.result()["content"][0]["text"], "extra_1499 called");

    // Cursors the gateway never issued are invalid params.
    for bad in [
        r#""bogus""#,
        r#""""#,
        r#""sb1.zz""#,
        r#""sb1.fffffff""#,
        "42",
        r#"{"offset":1}"#,
    ] {
        let r = s
            .request("tools/list", Some(&format!(r#"{{"cursor":{bad}}}"#)))
            .await;
        r.assert_error(200, -32602);
    }
    // A null cursor is the first page.
    let first = s.request("tools/list", None).await.result();
    let r = s.request("tools/list", Some(r#"{"cursor":null}"#)).await;
    assert_eq!(r.result(), first);
}

fn tool_names(result: &Value) -> HashSet<String> {
    result["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools in {result}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The fixture's own `tools/list`, asked directly over stdio (the oracle for completeness).
fn fixture_tool_names(extra: usize) -> Vec<String> {
    let mut child = Command::new(fixture_bin())
        .env("FIXTURE_EXTRA_TOOLS", extra.to_string())
        .env_remove("FIXTURE_PAGE_SIZE")
        .env_remove("FIXTURE_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"{PROTOCOL}","capabilities":{{}},"clientInfo":{{"name":"t","version":"0"}}}}}}"#
    )
    .unwrap();
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .unwrap();
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":2,"method":"tools/list"}}"#).unwrap();
    let mut names = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if v["id"] == 2 {
            assert!(
                v["result"].get("nextCursor").is_none(),
                "the fixture paginated"
            );
            names = tool_names(&v["result"]).into_iter().collect();
            let order: Vec<String> = v["result"]["tools"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(order.len(), names.len());
            names = order;
            break;
        }
    }
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    names
}
