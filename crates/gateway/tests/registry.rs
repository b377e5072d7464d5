//! The live upstream registry: upstreams added, replaced and removed at run time while a client
//! keeps calling another one (the first test of the hot reload to come). Real fixture processes
//! over real pipes, driven through the gateway's own API (no transport: there is no admin API
//! yet to reach this from outside).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use switchboard_gateway::principal::Principal;
use switchboard_gateway::request::Request;
use switchboard_gateway::sessions::Session;
use switchboard_gateway::view::Endpoint;
use switchboard_gateway::{Answer, Gateway, Related};
use switchboard_protocol::Message;
use tokio::sync::mpsc;

/// The fixture MCP server (built by `cargo build --workspace --bins`, which `scripts/test` runs
/// before the tests).
fn fixture() -> PathBuf {
    let p = std::env::var_os("SWITCHBOARD_FIXTURE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/switchboard-fixture")
        });
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        p.display()
    );
    p
}

/// A config of fixture upstreams, each `(name, prefix)`.
fn config(upstreams: &[(&str, &str)]) -> switchboard_config::Config {
    let bin = serde_json::to_string(&fixture().display().to_string()).unwrap();
    let mut yaml = String::from("upstreams:\n");
    for (name, prefix) in upstreams {
        yaml += &format!(
            "  {name}:\n    stdio: {{ command: {bin}, args: [\"--name\", \"{name}\"] }}\n    prefix: \"{prefix}\"\n"
        );
    }
    switchboard_config::parse(&yaml, "test.yaml", &|_| None).expect("valid config")
}

fn one(name: &str, prefix: &str) -> switchboard_config::UpstreamConfig {
    config(&[(name, prefix)]).upstreams.remove(0)
}

struct Client {
    gw: Gateway,
    session: Arc<Session>,
    related: Related,
}

impl Client {
    fn open(gw: &Gateway) -> Client {
        let (tx, _rx) = mpsc::channel::<Bytes>(1024);
        let params = r#"{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}"#;
        let (session, _) = gw
            .initialize(&Principal::anonymous(), Some(params), Endpoint::WHOLE)
            .expect("session");
        Client {
            gw: gw.clone(),
            session,
            related: Related::Shared(tx),
        }
    }

    async fn request(&self, method: &str, params: &str) -> Value {
        let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#);
        let msg = Message::parse(Bytes::from(body)).expect("message");
        let rid: Arc<str> = Arc::from("test");
        let req = Request::new(&self.session, &rid, &self.related);
        match self.gw.request(&req, &msg).await {
            Answer::Response(b) | Answer::Status(_, b) | Answer::Replayed(b) => {
                serde_json::from_slice(&b).unwrap()
            }
            Answer::Cancelled => panic!("cancelled"),
        }
    }

    async fn echo(&self, tool: &str, text: &str) -> Value {
        let params = format!(r#"{{"name":"{tool}","arguments":{{"message":"{text}"}}}}"#);
        self.request("tools/call", &params).await
    }

    async fn tool_names(&self) -> Vec<String> {
        self.request("tools/list", "{}").await["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect()
    }

    /// Waits until `pred` holds for the listed tool names.
    async fn wait_tools(&self, what: &str, pred: impl Fn(&[String]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let names = self.tool_names().await;
            if pred(&names) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: never happened; tools are {names:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstreams_come_and_go_while_calls_run_on_the_others() {
    let gw = Gateway::new(config(&[("a", "a"), ("b", "b")]), None);
    gw.start();
    gw.wait_ready(Duration::from_secs(20)).await;
    let client = Client::open(&gw);
    let mut outbox = client.session.take_outbox().expect("outbox");
    assert!(client.tool_names().await.contains(&"b__echo".to_owned()));

    // A steady stream of calls to `a` runs through every change below.
    let calls = {
        let c = Client {
            gw: gw.clone(),
            session: client.session.clone(),
            related: client.related.clone(),
        };
        tokio::spawn(async move {
            let mut n = 0u32;
            let stop = tokio::time::Instant::now() + Duration::from_millis(1500);
            while tokio::time::Instant::now() < stop {
                let r = c.echo("a__echo", &format!("call {n}")).await;
                assert_eq!(
                    r["result"]["content"][0]["text"],
                    format!("call {n}"),
                    "a call to an unchanged upstream failed: {r}"
                );
                n += 1;
            }
            n
        })
    };

    // Added: its tools appear and answer.
    gw.upsert_upstream(one("c", "c")).await;
    client
        .wait_tools("c's tools to appear", |t| t.contains(&"c__echo".to_owned()))
        .await;
    let r = client.echo("c__echo", "hello c").await;
    assert_eq!(r["result"]["content"][0]["text"], "hello c", "{r}");

    // Replaced (a new prefix): the old names go, the new ones answer.
    gw.upsert_upstream(one("b", "bee")).await;
    client
        .wait_tools("b's tools under the new prefix", |t| {
            t.contains(&"bee__echo".to_owned()) && !t.contains(&"b__echo".to_owned())
        })
        .await;
    let r = client.echo("bee__echo", "hello bee").await;
    assert_eq!(r["result"]["content"][0]["text"], "hello bee", "{r}");
    let r = client.echo("b__echo", "gone").await;
    assert_eq!(
        r["error"]["code"], -32602,
        "a replaced name is unknown: {r}"
    );

    // Removed: its tools are unknown, and nothing of it is left in the registry.
    assert!(gw.remove_upstream("c").await);
    assert!(!gw.remove_upstream("c").await, "removing twice");
    let r = client.echo("c__echo", "gone").await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    assert!(gw.upstreams().get("c").is_none());
    let names: Vec<String> = gw
        .upstreams()
        .members()
        .iter()
        .map(|u| u.name().to_owned())
        .collect();
    assert_eq!(names, ["a", "b"], "config order is kept");

    let made = calls.await.expect("the calls to a never failed");
    assert!(made > 10, "only {made} calls ran meanwhile");
    // The session is the same one throughout, and heard about every change of its lists.
    assert!(
        gw.session(&client.session.id, &Principal::anonymous(), Endpoint::WHOLE)
            .is_some()
    );
    let mut changes = 0;
    while let Ok(m) = outbox.try_recv() {
        changes +=
            usize::from(String::from_utf8_lossy(&m).contains("notifications/tools/list_changed"));
    }
    assert!(
        changes >= 3,
        "{changes} tools/list_changed for add, replace and remove"
    );
    gw.shutdown().await;
}
